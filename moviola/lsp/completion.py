"""Completion: what may come next at the cursor, read from the current line (and, inside a note
that runs over several lines, the lines above) plus the names the last check found.

Contexts:

- a cue: an empty or upper-case line after an empty line → character names (and ``INT.``/``EXT.``);
- a scene heading: ``INT. `` → locations; after `` - `` → times of day;
- inside ``[[ ]]``: directive and declaration keywords; property keys; after ``shot:`` sizes and
  camera moves; after ``music:`` theme names; after ``refs:``/``voice:``/``from:``/``lora:`` the
  project's files under the typed folder (never outside the project folder).
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types

from moviola.compiler import annotations as ann
from moviola.compiler import ir, vocabulary
from moviola.compiler.lexer import SETTING_WORDS
from moviola.compiler.properties import (KIND_EXTENSIONS, PATH_KINDS, PROPERTIES, TRAIN_DEFAULTS,
                                         TRAIN_METHODS)

# A heading's setting, typed in full: a dot or a space after it (the words are the lexer's).
_SETTING = re.compile(rf"(?i)({SETTING_WORDS})(\.\s*|\s+)")
_DECLARATION = re.compile(r"\s*(location|character|theme)(\s+)([^:]*)(:?)")
_MAX_ENTRIES = 400

DELIVERY = ("whispering", "shouting", "laughing", "crying", "quietly", "slow", "fast", "angry",
            "tender", "breaking", "half singing", "singing", "out of breath")


@dataclass
class Names:
    """The names completion offers, from the last check of the document."""

    characters: list[str] = field(default_factory=list)     # declared
    locations: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)       # cue names (declared or not)
    places: list[str] = field(default_factory=list)         # heading places


def complete(lines, line: int, col: int, names: Names, project: Path | None,
             position) -> list[types.CompletionItem]:
    """Items at 0-based ``line``, code point ``col`` (0-based) of ``lines`` (a callable giving a
    0-based line's text). ``position(line, col)`` converts back to a client position."""
    text = lines(line)
    before = text[:col]

    def edit(start: int, label: str, kind, detail: str | None = None, sort: str = "1",
             insert: str | None = None, command=None, documentation: str | None = None):
        new = insert if insert is not None else label
        return types.CompletionItem(
            label=label, kind=kind, detail=detail, sort_text=f"{sort}{label.casefold()}",
            filter_text=new, documentation=documentation, command=command,
            text_edit=types.TextEdit(range=types.Range(start=position(line, start), end=position(line, col)),
                                     new_text=new))

    note = _open_note(lines, line, before)
    if note is not None:
        body, start = note
        return _in_note(body, start, col, names, project, edit)

    previous = lines(line - 1) if line > 0 else ""
    after_blank = line == 0 or not previous.strip()
    setting = _SETTING.match(before)
    if setting and after_blank:
        rest = before[setting.end():]
        dash = max(rest.rfind(" - "), rest.rfind(" – "), rest.rfind(" — "))
        if dash >= 0:
            start = setting.end() + dash + 3
            typed = before[start:].upper()
            return [edit(start, t, types.CompletionItemKind.Constant, "time of day", sort=f"{i:02d}")
                    for i, t in enumerate(vocabulary.TIMES_OF_DAY) if t.startswith(typed)]
        start = setting.end()
        typed = rest.casefold()
        items = []
        for name in names.locations:
            if name.casefold().startswith(typed):
                items.append(edit(start, name.upper(), types.CompletionItemKind.Module,
                                  "declared location", sort="0"))
        declared = {n.casefold() for n in names.locations}
        for place in names.places:
            if place.casefold() not in declared and place.casefold().startswith(typed):
                declared.add(place.casefold())
                items.append(edit(start, place, types.CompletionItemKind.Module, "place", sort="1"))
        return items

    if not after_blank:
        return []
    stripped = before.lstrip()
    indent = len(before) - len(stripped)
    forced = stripped.startswith("@")
    typed = stripped[1:] if forced else stripped
    if any(c.islower() for c in typed) and not _is_setting_prefix(typed):
        return []
    start = indent + (1 if forced else 0)
    items = []
    seen = set()
    for name in names.characters + names.speakers:
        if name.casefold() in seen or not name.upper().startswith(typed.upper()):
            continue
        seen.add(name.casefold())
        declared = name in names.characters
        items.append(edit(start, name.upper(), types.CompletionItemKind.Class,
                          "character" if declared else "speaks in this script", sort="0" if declared else "1"))
    if not forced and " " not in typed:
        for prefix in vocabulary.SETTINGS_PREFIXES:
            if prefix.startswith(typed.upper()):
                items.append(edit(start, prefix + " ", types.CompletionItemKind.Keyword,
                                  "scene heading", sort="2", command=_RETRIGGER))
    return items


_RETRIGGER = types.Command(title="suggest", command="editor.action.triggerSuggest")


def _is_setting_prefix(typed: str) -> bool:
    upper = typed.upper()
    return bool(upper) and " " not in upper and any(p.startswith(upper) for p in vocabulary.SETTINGS_PREFIXES)


def _open_note(lines, line: int, before: str) -> tuple[str, int] | None:
    """(the note's text up to the cursor, the column on this line where the note body starts
    or 0 if it started on an earlier line), when the cursor is inside an open ``[[``."""
    opening = before.rfind("[[")
    if opening >= 0:
        if "]]" in before[opening:]:
            return None
        return before[opening + 2:], opening + 2
    if "]]" in before:
        return None
    parts = [before]
    for back in range(line - 1, max(line - 30, -1), -1):
        text = lines(back)
        if not text.strip():
            return None         # an empty line ends a note
        opening, closing = text.rfind("[["), text.rfind("]]")
        if closing > opening:
            return None
        if opening >= 0:
            parts.insert(0, text[opening + 2:])
            return "\n".join(parts), 0
        parts.insert(0, text)
    return None


def _in_note(body: str, body_col: int, col: int, names: Names, project, edit) -> list:
    line_start = body.rfind("\n") + 1          # where this line's part of the body starts
    offset_on_line = body_col if line_start == 0 else 0

    def column(index_in_body: int) -> int:
        """Column on the cursor's line of an index into ``body`` (clamped to the line)."""
        return offset_on_line + max(index_in_body - line_start, 0)

    declaration = _DECLARATION.match(body)
    directive = None if declaration else ann.KEYWORD_COLON.match(body)
    if declaration is None and directive is None:
        word = body.lstrip()
        if " " in word or "\n" in word:
            return []
        start = column(len(body) - len(word))
        items = [edit(start, f"{d}: ", types.CompletionItemKind.Keyword, "directive", sort="0",
                      documentation=_DIRECTIVE_DOCS[d]) for d in ann.DIRECTIVES if d.startswith(word)]
        items += [edit(start, f"{k} ", types.CompletionItemKind.Keyword, "declaration", sort="1",
                       documentation=_DECLARATION_DOCS[k]) for k in ann.DECLARATION_KINDS if k.startswith(word)]
        return items

    if declaration is not None:
        kind = declaration.group(1)
        if not declaration.group(4):                     # still typing the name
            typed = declaration.group(3)
            start = column(declaration.start(3))
            pool = {"character": [n for n in names.speakers if n not in names.characters],
                    "location": [p for p in names.places if p.casefold() not in
                                 {n.casefold() for n in names.locations}],
                    "theme": []}[kind]
            return [edit(start, name, types.CompletionItemKind.Class, "not declared yet")
                    for name in pool if name.upper().startswith(typed.upper())]
        rest_at = declaration.end()
    else:
        kind = directive.group(1)
        rest_at = directive.end()
    if kind not in PROPERTIES:
        return []
    rest = body[rest_at:]
    clause_at = rest_at + rest.rfind(";") + 1 if ";" in rest else rest_at
    clause = body[clause_at:]
    first_clause = clause_at == rest_at
    key = ann.KEYWORD_COLON.match(clause)
    if key is not None:
        value_at = clause_at + key.end()
        value = body[value_at:]
        term_at = value_at + (value.rfind(",") + 1 if "," in value else 0)
        typed = body[term_at:]
        term_at += len(typed) - len(typed.lstrip())
        typed = typed.strip()
        if key.group(1) == "train" and "\n" not in body[term_at:]:
            return _training_terms(typed.lower(), term_at == value_at + len(value) - len(value.lstrip()),
                                   column(term_at), edit)
        path_kind = PATH_KINDS.get((kind, key.group(1)))
        if path_kind is None or "\n" in body[term_at:]:
            return []
        return _files(project, typed, path_kind, column(term_at), edit)
    term_at = clause_at + (clause.rfind(",") + 1 if "," in clause else 0)
    typed = body[term_at:]
    term_at += len(typed) - len(typed.lstrip())
    typed = typed.lstrip()
    if "\n" in typed:
        term_at = len(body) - len(typed.rsplit("\n", 1)[1])
        typed = typed.rsplit("\n", 1)[1].lstrip()
    start = column(term_at)
    folded = vocabulary.normalize_term(typed) if typed.strip() else ""
    items = []
    if first_clause:
        items += _terms(kind, folded, names, start, edit)
    if not first_clause or kind in ("sfx", "voice") or not items:
        if " " not in typed:
            items += [edit(start, f"{p}: ", types.CompletionItemKind.Property, f"{kind} property",
                           sort="2", command=_RETRIGGER) for p in PROPERTIES[kind] if p.startswith(folded)]
    return items


def _terms(kind: str, typed: str, names: Names, start: int, edit) -> list:
    items = []
    if kind == "shot":
        for size in ir.ShotSize:
            if size.value.startswith(typed):
                items.append(edit(start, size.value, types.CompletionItemKind.EnumMember, "shot size", sort="0"))
        for move in ir.Move:
            if move.value.startswith(typed):
                items.append(edit(start, move.value, types.CompletionItemKind.Event, "camera move", sort="1"))
        for speed in ("slow", "fast"):
            for move in ir.Move:
                label = f"{speed} {move.value}"
                if typed and label.startswith(typed) and move is not ir.Move.STATIC:
                    items.append(edit(start, label, types.CompletionItemKind.Event, "camera move", sort="1"))
        canonical = {s.value for s in ir.ShotSize} | {m.value for m in ir.Move}
        for alias, size in vocabulary.SHOT_SIZES.items():
            if typed and alias.startswith(typed) and alias not in canonical:
                items.append(edit(start, alias, types.CompletionItemKind.EnumMember, f"= {size.value}", sort="3"))
        for alias, move in vocabulary.MOVES.items():
            if typed and alias.startswith(typed) and alias not in canonical:
                items.append(edit(start, alias, types.CompletionItemKind.Event, f"= {move.value}", sort="3"))
        for facet, terms in vocabulary.camera_terms().items():
            spelled = {term.replace("-", " ") for term in terms}
            for term in terms:
                if term.startswith(typed):
                    items.append(edit(start, term, types.CompletionItemKind.Property, f"camera {facet}",
                                      sort="2"))
            for alias, value in vocabulary.CAMERA_TABLES[facet].items():
                if typed and alias.startswith(typed) and alias not in spelled:
                    items.append(edit(start, alias, types.CompletionItemKind.Property,
                                      f"= {value.value}", sort="3"))
        if vocabulary.CONTINUES[0].startswith(typed):
            items.append(edit(start, vocabulary.CONTINUES[0], types.CompletionItemKind.Keyword,
                              "matching cut: starts from the previous shot's last frame", sort="2"))
    elif kind == "music":
        for name in names.themes:
            if name.casefold().startswith(typed):
                items.append(edit(start, name, types.CompletionItemKind.EnumMember, "theme", sort="0"))
        for word in ("stop", "fade in 2s", "fade out 4s"):
            if word.startswith(typed):
                items.append(edit(start, word, types.CompletionItemKind.Keyword, "music", sort="1"))
    elif kind == "voice":
        for word in DELIVERY:
            if word.startswith(typed):
                items.append(edit(start, word, types.CompletionItemKind.Text, "delivery", sort="1"))
    return items


# `train:`'s options as templates with the trainer's defaults (docs/language.md)
_TRAINING_TEMPLATES = (f"rank {TRAIN_DEFAULTS['rank']}", f"{TRAIN_DEFAULTS['steps']} steps",
                       f"learning rate {TRAIN_DEFAULTS['learning_rate']:g}", "resolution 512",
                       f"seed {TRAIN_DEFAULTS['seed']}")


def _training_terms(typed: str, first: bool, start: int, edit) -> list:
    """After `train:` the method, then its options."""
    if first:
        return [edit(start, method, types.CompletionItemKind.EnumMember, "training method", sort="0")
                for method in TRAIN_METHODS if method.startswith(typed)]
    return [edit(start, template, types.CompletionItemKind.Property, "training option", sort="1")
            for template in _TRAINING_TEMPLATES
            if template.startswith(typed) or template.split()[-1].startswith(typed)]


def _files(project: Path | None, typed: str, kind: str, start: int, edit) -> list:
    """Entries of the project folder under the typed prefix: folders (to go on) and files of the
    kinds the property takes. Nothing outside the project folder is listed."""
    if project is None:
        return []
    typed = typed.replace("\\", "/")
    if typed.startswith(("/", "~")) or (len(typed) > 1 and typed[1] == ":"):
        return []
    folder_part, slash, partial = typed.rpartition("/")
    relative = posixpath.normpath(folder_part) if folder_part else "."
    if relative == ".." or relative.startswith("../"):
        return []
    root = project.resolve()
    folder = Path(os.path.realpath(root / relative))
    if folder != root and root not in folder.parents:
        return []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)[:_MAX_ENTRIES]
    except OSError:
        return []
    extensions = KIND_EXTENSIONS[kind]
    prefix = folder_part + slash
    items = []
    for entry in entries:
        name = entry.name
        if name.startswith(".") and not partial.startswith("."):
            continue
        if not name.casefold().startswith(partial.casefold()):
            continue
        real = Path(os.path.realpath(entry.path))
        if real != root and root not in real.parents:
            continue            # a link that leads out of the project
        if real.is_dir():
            items.append(edit(start, name + "/", types.CompletionItemKind.Folder, "folder", sort="0",
                              insert=prefix + name + "/", command=_RETRIGGER))
        elif name.lower().endswith(extensions):
            items.append(edit(start, name, types.CompletionItemKind.File, "file", sort="1",
                              insert=prefix + name))
    return items


_DIRECTIVE_DOCS = {
    "shot": "Open a new shot: `[[shot: wide, slow push in, 6s; from: path; seed: 12]]`",
    "music": "Start, switch or stop the score: `[[music: THEME, fade in 3s; volume: 80%]]`",
    "sfx": "A sound effect: `[[sfx: a door slams, 2s; from: path; volume: 50%]]`",
    "voice": "How one speech is delivered: `[[voice: whispering; from: take.wav]]`",
}
_DECLARATION_DOCS = {
    "location": "Declare a place: `[[location NAME: what it looks like; refs: path; train: lora; seed: 7]]`",
    "character": "Declare a person: `[[character NAME: who they are; voice: path; seed: 7]]`",
    "theme": "Declare a piece of score: `[[theme NAME: instruments, mood, 70 bpm]]`",
}
