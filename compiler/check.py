"""Whole-film checks that need the complete IR: declarations that nothing uses.

(Checks that belong to one construct, such as a bad duration or a missing file, are reported
where that construct is lowered.)"""

from __future__ import annotations

from . import ir
from .diagnostics import Diagnostic
from .lower import Uses


def check(film: ir.Film, uses: Uses) -> list[Diagnostic]:
    """W501-W503 for the declarations of ``film`` that ``uses`` (what lowering recorded) never
    uses."""
    return unused(film.characters, film.locations, film.themes, uses)


def unused(characters, locations, themes, uses: Uses) -> list[Diagnostic]:
    """W501-W503 for declarations nothing uses (the incremental session passes the
    declarations and the uses it put together from the parts it re-checked)."""
    out: list[Diagnostic] = []
    for character in characters:
        key = character.name.casefold()
        if key in uses.cued or key in uses.mentioned:
            continue
        out.append(Diagnostic.make(
            "W501", f"character {character.name} is declared but never speaks or appears",
            character.name_span, label="declared here",
            help=f"give {character.name} a cue or mention them in an action, or remove the declaration"))
    for location in locations:
        if location.name.casefold() in uses.bound_locations:
            continue
        out.append(Diagnostic.make(
            "W502", f"location {location.name} is declared but no scene takes place there",
            location.name_span, label="declared here",
            help=f"a heading such as `INT. {location.name} - DAY` binds to it"))
    for theme in themes:
        if theme.name.casefold() in uses.started_themes:
            continue
        out.append(Diagnostic.make(
            "W503", f"theme {theme.name} is declared but never played",
            theme.name_span, label="declared here",
            help=f"start it with [[music: {theme.name}]]"))
    return out
