"""Diagnostics for an edited script, re-checking only the parts an edit touched.

``moviola check`` parses and lowers the whole script (about 50 ms for a feature-length one). On
every keystroke the language server needs the same diagnostics sooner, so a :class:`Session`
(``compiler.api`` hands it out) cuts the script into *chunks* at scene headings and keeps each
chunk's results, keyed by its text. A chunk starts at a line that follows an empty line and
looks like a scene heading (outside any boneyard): there the Fountain lexer starts afresh (no
paragraph, speech or note runs across an empty line, and a title page cannot start with a
heading), so a chunk parses the same alone as inside the whole script, and its spans differ only
by the chunk's first line. The results are kept with chunk-relative lines and shifted when put
together, so an edit that adds or removes lines re-checks only its own chunk.

What crosses chunks is put together here, in the order ``compile_text`` produces it: the
declarations (E204 between chunks; binding is per chunk, against every declaration), the first
W505 per undeclared name, and the unused-declaration warnings (W501-W503). Paths are checked
against the disk: a chunk whose lowering read a path is re-checked when what it read changed.

The result equals ``compile_text(text, path, project, profiles).diagnostics``;
tests/test_session.py checks that on the samples and on random edits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Callable, NamedTuple

from . import annotations as ann
from . import fountain, lexer, paths
from .check import unused
from .diagnostics import Diagnostic, Edit, Related, in_source_order
from .lower import PROFILES, Lowering, Uses, duplicate_declaration
from .source import Span, normalize_newlines


class Stale(Exception):
    """A newer version of the document arrived: the work for this one is dropped."""


class _Declared(NamedTuple):
    """What the unused-declaration check reads of a declaration (absolute name span)."""

    name: str
    name_span: Span


@dataclass(slots=True)
class _Front:
    """A chunk parsed, its notes read and its declarations lowered (independent of the rest)."""

    script: fountain.Script
    annotations: dict
    settings: list[Diagnostic]
    notes: list[Diagnostic]
    declarations: list          # (kind, name, name_span, declared object, its diagnostics)
    files: dict                 # path as written -> what the disk said (see _disk)


@dataclass(slots=True)
class _Body:
    """A chunk's scenes lowered against the script's declarations."""

    diagnostics: list[Diagnostic]
    undeclared: list            # per diagnostic: the cue name of a W505, else None
    cued: set
    bound: set
    started: set
    mentioned: set              # declared characters (folded) that an action mentions
    speakers: list              # cue names, as written, first use first
    places: list                # heading places, as written
    files: dict


class Session:
    """Incremental diagnostics for one document (one project folder, whose profile names the
    title page may choose: ``profiles``)."""

    def __init__(self, path: str = "<script>", project: Path | None = None,
                 profiles: tuple[str, ...] = PROFILES):
        self.path = path
        self.project = project
        self.profiles = tuple(profiles)
        self._fronts: dict[str, _Front] = {}
        self._bodies: dict[tuple, _Body] = {}
        self.declared: dict[str, dict] = {kind: {} for kind in ann.DECLARATION_KINDS}   # after the last check
        self.speakers: list[str] = []
        self.places: list[str] = []
        self.chunks = 0
        self.rechecked = 0

    # -- chunks -------------------------------------------------------------------------------

    @staticmethod
    def boundaries(text: str, lines: list[str]) -> list[int]:
        """0-based numbers of the lines that start a chunk (always 0 first)."""
        heading = lexer.HEADING.match
        starts = [0]
        for index in range(1, len(lines)):
            line = lines[index]
            if line and line[0] in "IiEe" and not lines[index - 1] and heading(line):
                starts.append(index)
        if len(starts) > 1 and "/*" in text:
            starts = _outside_boneyards(text, lines, starts)
        return starts

    # -- the check ----------------------------------------------------------------------------

    def check(self, text: str, stale: Callable[[], bool] = lambda: False) -> tuple[Diagnostic, ...]:
        """The diagnostics ``compile_text`` gives for ``text``; raises :class:`Stale` as soon as
        ``stale()`` says a newer version is waiting."""
        text = normalize_newlines(text)
        lines = text.split("\n")
        starts = self.boundaries(text, lines)
        disk: dict[str, tuple] = {}
        chunks = []
        fronts: dict[str, _Front] = {}
        rechecked = 0
        for number, start in enumerate(starts):
            end = starts[number + 1] if number + 1 < len(starts) else len(lines)
            chunk = "\n".join(lines[start:end])
            front = fronts.get(chunk) or self._fronts.get(chunk)
            if front is None or not self._same_disk(front.files, disk):
                if stale():
                    raise Stale
                front = self._front(chunk, disk)
                rechecked += 1
            fronts[chunk] = front
            chunks.append((start, chunk, front))

        # declarations, in script order: the first of a name wins (E204 for the others)
        tables: dict[str, dict] = {kind: {} for kind in ann.DECLARATION_KINDS}
        declared: dict[str, dict] = {kind: {} for kind in ann.DECLARATION_KINDS}
        declaration_diagnostics: list[Diagnostic] = []
        for start, _, front in chunks:
            for kind, name, name_span, value, found in front.declarations:
                span = _shift_span(name_span, start)
                key = name.casefold()
                previous = declared[kind].get(key)
                if previous is not None:
                    declaration_diagnostics.append(
                        duplicate_declaration(kind, name, span, previous.name_span))
                    continue
                tables[kind][key] = value
                declared[kind][key] = _Declared(value.name, span)
                declaration_diagnostics.extend(_shift(d, start) for d in found)
        signature = tuple(tuple(item.name for item in tables[kind].values()) for kind in ann.DECLARATION_KINDS)

        bodies: dict[tuple, _Body] = {}
        body_diagnostics: list[Diagnostic] = []
        reported: set[str] = set()
        cued: set[str] = set()
        bound: set[str] = set()
        started: set[str] = set()
        named: set[str] = set()
        speakers: dict[str, None] = {}
        places: dict[str, None] = {}
        for start, chunk, front in chunks:
            key = (chunk, signature)
            body = bodies.get(key) or self._bodies.get(key)
            if body is None or not self._same_disk(body.files, disk):
                if stale():
                    raise Stale
                body = self._body(front, tables, disk)
            bodies[key] = body
            for diagnostic, name in zip(body.diagnostics, body.undeclared):
                if name is not None:
                    if name in reported:
                        continue
                    reported.add(name)
                body_diagnostics.append(_shift(diagnostic, start) if start else diagnostic)
            cued |= body.cued
            bound |= body.bound
            started |= body.started
            named |= body.mentioned
            speakers.update(dict.fromkeys(body.speakers))
            places.update(dict.fromkeys(body.places))

        first = chunks[0][2]
        notes = [_shift(d, start) if start else d for start, _, front in chunks for d in front.notes]
        parsed = [_shift(d, start) if start else d
                  for start, _, front in chunks for d in front.script.diagnostics]
        found = parsed + first.settings + notes + declaration_diagnostics + body_diagnostics
        found += unused(declared["character"].values(), declared["location"].values(),
                        declared["theme"].values(), Uses(frozenset(cued), frozenset(named),
                                                         frozenset(bound), frozenset(started)))
        found = in_source_order(found)

        self._fronts = fronts
        self._bodies = bodies
        self.declared = tables
        self.speakers = list(speakers)
        self.places = list(places)
        self.chunks = len(chunks)
        self.rechecked = rechecked
        return tuple(found)

    def _front(self, chunk: str, disk: dict) -> _Front:
        script = fountain.parse(chunk, self.path)
        lowering = Lowering(script, self.project, self.profiles)
        lowering.settings()
        settings = list(lowering.diagnostics)
        annotations = lowering.read_annotations()
        notes = lowering.diagnostics[len(settings):]
        declarations = []
        elements = script.elements
        for index, note in annotations.items():
            if note.kind != "declaration":
                continue
            element = elements[index]
            kind, name, name_span = lowering.declared_name(element, note)
            count = len(lowering.diagnostics)
            value = lowering.declaration(element, note, name, name_span)
            declarations.append((kind, name, name_span, value, lowering.diagnostics[count:]))
        return _Front(script, annotations, settings, notes, declarations,
                      self._disk_of(lowering.read_paths, disk))

    def _body(self, front: _Front, tables: dict, disk: dict) -> _Body:
        lowering = Lowering(front.script, self.project, self.profiles)
        lowering.locations = tables["location"]
        lowering.characters = tables["character"]
        lowering.themes = tables["theme"]
        scenes, _, _ = lowering.body(front.annotations)
        diagnostics = lowering.diagnostics
        undeclared = [lowering.undeclared.get(i) for i in range(len(diagnostics))]
        uses = lowering.uses(tables["character"].values(), scenes)
        speakers = list(dict.fromkeys(e.name or e.plain for e in front.script.elements
                                      if e.kind == "character"))
        places = [scene.place for scene in scenes if scene.place]
        return _Body(diagnostics, undeclared, uses.cued, uses.bound_locations,
                     uses.started_themes, uses.mentioned, speakers, places,
                     self._disk_of(lowering.read_paths, disk))

    # -- the disk -----------------------------------------------------------------------------

    def _disk(self, written: str, disk: dict) -> tuple:
        """What resolving ``written`` found on disk: the resolution, and for a missing file the
        folder listing its "did you mean" help reads. Memoized for one check."""
        state = disk.get(written)
        if state is None:
            resolution = paths.resolve(self.project, written)
            listing = None
            if resolution.problem == "missing" and self.project is not None:
                folder = self.project / Path(written.strip().rstrip("/")).parent
                try:
                    listing = tuple(sorted(os.listdir(folder)))
                except OSError:
                    listing = ()
            state = disk[written] = (resolution, listing)
        return state

    def _disk_of(self, written: list[str], disk: dict) -> dict:
        return {w: self._disk(w, disk) for w in written}

    def _same_disk(self, files: dict, disk: dict) -> bool:
        return all(self._disk(w, disk) == state for w, state in files.items())


def _outside_boneyards(text: str, lines: list[str], starts: list[int]) -> list[int]:
    """The chunk starts that no boneyard runs across."""
    regions = fountain.boneyards(text)
    if not regions:
        return starts
    lengths = list(accumulate(map(len, lines), initial=0))    # each line's offset, less its newlines
    kept = [0]
    region = 0
    for start in starts[1:]:
        at = lengths[start] + start
        while region < len(regions) and regions[region][1] <= at:
            region += 1
        if region < len(regions) and regions[region][0] < at:
            continue        # inside a boneyard
        kept.append(start)
    return kept


def _shift_span(span: Span, lines: int) -> Span:
    return Span(span.line + lines, span.col, span.end_line + lines, span.end_col)


def _shift(diagnostic: Diagnostic, lines: int) -> Diagnostic:
    if not lines:
        return diagnostic
    related = diagnostic.related
    if related:
        related = tuple(Related(_shift_span(r.span, lines), r.message) for r in related)
    fix = diagnostic.fix
    if fix is not None:
        fix = Edit(_shift_span(fix.span, lines), fix.replacement)
    return Diagnostic(diagnostic.code, diagnostic.message, _shift_span(diagnostic.span, lines),
                      diagnostic.label, diagnostic.help, related, fix, diagnostic.severity)
