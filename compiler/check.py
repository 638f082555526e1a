"""Whole-film checks that need the complete IR: declarations that nothing uses.

(Checks that belong to one construct, such as a bad duration or a missing file, are reported
where that construct is lowered.)"""

from __future__ import annotations

import re

from . import ir
from .diagnostics import Diagnostic


def check(film: ir.Film, cued: set[str], bound_locations: set[str],
          started_themes: set[str]) -> list[Diagnostic]:
    actions = [beat.text for shot in film.shots for beat in shot.beats if isinstance(beat, ir.Action)]
    return unused(film.characters, film.locations, film.themes, cued, bound_locations,
                  started_themes, lambda name: _mentioned(name, actions))


def unused(characters, locations, themes, cued: set[str], bound_locations: set[str],
           started_themes: set[str], mentioned) -> list[Diagnostic]:
    """W501-W503 for declarations nothing uses. ``mentioned(name)`` tells whether an action
    mentions a character (the language server answers it from the parts it re-checked)."""
    out: list[Diagnostic] = []
    for character in characters:
        key = character.name.casefold()
        if key in cued or mentioned(character.name):
            continue
        out.append(Diagnostic.make(
            "W501", f"character {character.name} is declared but never speaks or appears",
            character.name_span, label="declared here",
            help=f"give {character.name} a cue or mention them in an action, or remove the declaration"))
    for location in locations:
        if location.name.casefold() in bound_locations:
            continue
        out.append(Diagnostic.make(
            "W502", f"location {location.name} is declared but no scene takes place there",
            location.name_span, label="declared here",
            help=f"a heading such as `INT. {location.name} - DAY` binds to it"))
    for theme in themes:
        if theme.name.casefold() in started_themes:
            continue
        out.append(Diagnostic.make(
            "W503", f"theme {theme.name} is declared but never played",
            theme.name_span, label="declared here",
            help=f"start it with [[music: {theme.name}]]"))
    return out


def mentioned(name: str, texts: list[str]) -> bool:
    """Whether one of ``texts`` mentions ``name`` as a whole word (any case)."""
    return _mentioned(name, texts)


def _mentioned(name: str, texts: list[str]) -> bool:
    pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)", re.IGNORECASE)
    return any(pattern.search(text) for text in texts)
