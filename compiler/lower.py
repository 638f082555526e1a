"""Lowering: the Fountain element stream (plus annotations) → the IR, with name resolution.

Scene headings bind to declared locations, cues to characters, ``music:`` to themes, and paths
to files inside the project folder. Everything that cannot be resolved becomes a diagnostic;
lowering itself never fails.

:class:`Lowering` runs the passes; each concern has its own module: the title page
(title_page.py), annotation properties and paths (properties.py), directives (directives.py),
and the walk over the body that builds scenes, shots and beats (scenes.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import annotations as ann
from . import fountain, ir, paths, references
from .decoupage import continuation_problems
from .diagnostics import Diagnostic, Edit, Related, closest
from .directives import DirectiveLowering
from .fountain import Element, Script
from .profiles import BUILTIN_NAMES
from .properties import PropertyChecks, one
from .scenes import BodyLowering, SceneDraft
from .source import Span
from .title_page import lower_settings

__all__ = ["PROFILES", "Lowering", "Uses", "duplicate_declaration"]

_BIND_SPLIT = re.compile(r"\s+/\s+|,\s+|\s+[-–—]\s+")
_TEMPO = re.compile(r"(\d+(?:\.\d+)?)\s*bpm", re.IGNORECASE)
PROFILES = BUILTIN_NAMES      # what a title page may choose when the caller names no others


@dataclass(frozen=True, slots=True)
class Uses:
    """What the script uses of its declarations: the record ``check`` reads (names case-folded)."""

    cued: frozenset[str] = frozenset()              # names that speak (a cue)
    mentioned: frozenset[str] = frozenset()         # declared characters an action names
    bound_locations: frozenset[str] = frozenset()   # locations a heading binds to
    started_themes: frozenset[str] = frozenset()    # themes a music: directive starts


class Lowering(PropertyChecks, DirectiveLowering):
    """One script lowered: ``run()`` gives the film, its diagnostics and its :class:`Uses`.

    ``profiles`` are the profile names a title page may choose (the caller resolves them: the
    built-in ones plus those of the project's moviola.toml). The language server's incremental
    session (compiler/session.py) runs the passes one by one on parts of a script; for it,
    lowering records the project paths it resolves (``read_paths``) and which W505 warning
    names which cue (``undeclared``)."""

    def __init__(self, script: Script, project: Path | None, profiles: tuple[str, ...] = PROFILES):
        self.script = script
        self.source = script.source
        self.project = project
        self.profiles = tuple(profiles)
        self.diagnostics: list[Diagnostic] = []
        self.locations: dict[str, ir.Location] = {}
        self.characters: dict[str, ir.Character] = {}
        self.themes: dict[str, ir.Theme] = {}
        self.setting_spans: dict[str, Span] = {}
        # what the checker needs to know about use
        self.cued: set[str] = set()
        self.bound_locations: set[str] = set()
        self.started_themes: set[str] = set()
        self.references: list[ir.Reference] = []
        self.read_paths: list[str] = []
        self.undeclared: dict[int, str] = {}     # diagnostic index -> the folded cue name of a W505
        self.reported_cues: set[str] = set()     # W505 once per name

    def error(self, code: str, message: str, span: Span, **extra) -> None:
        self.diagnostics.append(Diagnostic.make(code, message, span, **extra))

    def undeclared_name(self, code: str, message: str, span: Span, kind: str, written: str,
                        declared, declaration: str) -> None:
        """A name no ``[[kind ...]]`` declares: the closest of the ``declared`` names as help and
        fix, else how to write the ``declaration``."""
        suggestion = closest(written, [item.name for item in declared])
        self.error(code, message, span, label=f"no `[[{kind} ...]]` has this name",
                   help=f"did you mean {suggestion}?" if suggestion else f"declare it: {declaration}",
                   fix=Edit(span, suggestion) if suggestion else None)

    # -- positions inside notes ---------------------------------------------------------------

    def note_span(self, note: Element, start: int, end: int) -> Span:
        return ann.note_span(self.source, note, start, end)

    def term_span(self, note: Element, term: ann.Term) -> Span:
        return ann.note_span(self.source, note, term.start, term.end)

    def refer(self, kind: str, text: str, span: Span, role: str) -> None:
        self.references.append(ir.Reference(kind, " ".join(text.split()).casefold(), text, span, role))

    # -- the passes ---------------------------------------------------------------------------

    def run(self) -> tuple[ir.Film, list[Diagnostic], Uses]:
        settings = self.settings()
        annotations = self.read_annotations()
        self.declarations(annotations)
        scenes, sections, opening = self.body(annotations)
        film = ir.Film(
            path=self.source.path,
            settings=settings,
            locations=tuple(self.locations.values()),
            characters=tuple(self.characters.values()),
            themes=tuple(self.themes.values()),
            scenes=tuple(scenes),
            sections=tuple(sections),
            opening=opening,
            title_span=self.setting_spans.get("title", Span(1, 1, 1, 1)),
            setting_spans=self.setting_spans,
            references=tuple(self.references),
        )
        return film, self.diagnostics, self.uses(film.characters, scenes)

    def uses(self, characters, scenes) -> Uses:
        """The :class:`Uses` of what was lowered: ``characters`` are the declared ones (the
        whole script's, when lowering one part of it), ``scenes`` those lowered here."""
        actions = [beat.text for scene in scenes for shot in scene.shots for beat in shot.beats
                   if isinstance(beat, ir.Action)]
        mentioned = frozenset(c.name.casefold() for c in characters
                              if references.mentioned(c.name, actions))
        return Uses(frozenset(self.cued), mentioned, frozenset(self.bound_locations),
                    frozenset(self.started_themes))

    def settings(self) -> ir.Settings:
        settings, spans = lower_settings(self.script.title_page, self.profiles, self.error)
        self.setting_spans.update(spans)
        return settings

    def read_annotations(self) -> dict[int, ann.Annotation]:
        """Parse every note once; index the annotations by element position."""
        found: dict[int, ann.Annotation] = {}
        for index, element in enumerate(self.script.elements):
            if element.kind != "note":
                continue
            result = ann.read_note(element.text)
            if result is None:
                continue
            if isinstance(result, ann.SyntaxProblem):
                self.error("E103", f"malformed annotation: {result.message}",
                           self.note_span(element, result.start, max(result.end, result.start + 1)),
                           help="clauses are separated by `;`, terms by `,`; see docs/language.md")
                continue
            if result.kind == "directive" and result.keyword.text not in ann.DIRECTIVES:
                word = result.keyword.text
                span = self.term_span(element, result.keyword)
                if word in ann.DECLARATION_KINDS:
                    self.error("E206", f"`{word}` declaration needs a name", span,
                               help=f"write it like `[[{word} NAME: description]]`")
                    continue
                suggestion = closest(word, ann.DIRECTIVES)
                self.error("E201", f"unknown directive `{word}`", span,
                           label="not a Moviola directive",
                           help=(f"did you mean `{suggestion}`? " if suggestion else "")
                           + "To keep this as a plain note, start it with a capital letter.",
                           fix=Edit(span, suggestion) if suggestion else None)
                continue
            found[index] = result
        return found

    # -- declarations -------------------------------------------------------------------------

    def declarations(self, annotations: dict[int, ann.Annotation]) -> None:
        elements = self.script.elements
        tables = {"location": self.locations, "character": self.characters, "theme": self.themes}
        for index, note in annotations.items():
            if note.kind != "declaration":
                continue
            element = elements[index]
            kind, name, name_span = self.declared_name(element, note)
            table = tables[kind]
            self.refer(kind, note.name.text, name_span, "declaration")
            previous = table.get(name.casefold())
            if previous is not None:
                self.diagnostics.append(duplicate_declaration(kind, name, name_span, previous.name_span))
                continue
            table[name.casefold()] = self.declaration(element, note, name, name_span)

    def declared_name(self, element: Element, note: ann.Annotation) -> tuple[str, str, Span]:
        """(kind, name with single spaces, span of the name) of a declaration note."""
        return note.keyword.text, " ".join(note.name.text.split()), self.term_span(element, note.name)

    def declaration(self, element: Element, note: ann.Annotation, name: str, name_span: Span):
        """The declared location, character or theme (its properties checked)."""
        kind = note.keyword.text
        description = "; ".join(", ".join(t.text for t in clause) for clause in note.terms)
        props = self.properties(element, kind, note)
        if kind == "location":
            return ir.Location(name, description, props.get("refs", ()), one(props.get("lora")),
                               element.span, name_span, self.training_of(kind, name, props),
                               props.get("seed"))
        if kind == "character":
            return ir.Character(name, description, one(props.get("voice")), props.get("refs", ()),
                                one(props.get("lora")), element.span, name_span,
                                self.training_of(kind, name, props), props.get("seed"))
        tempo = props.get("tempo")
        if tempo is None:
            match = _TEMPO.search(description)
            tempo = float(match.group(1)) if match else None
        return ir.Theme(name, description, tempo, one(props.get("from")), element.span, name_span)

    def training_of(self, kind: str, name: str, props: dict) -> ir.Training | None:
        """The declaration's ``train:`` with its dataset, or None (no ``train:``, or a bad one:
        already a diagnostic). Training needs pictures: ``train:`` without ``refs:`` is E209."""
        train = props.get("train")
        if train is None:
            return None
        if "refs" not in props:
            self.error("E209", f"`train:` needs pictures: {name} has no `refs:`", train["span"],
                       label="nothing to train on",
                       help=f"add the asset's pictures, e.g. `refs: refs/{name.lower()}/`")
            return None
        dataset = paths.dataset_files(self.project, [ref.path for ref in props["refs"]])
        return ir.Training(train["method"], train.get("rank"), train.get("steps"),
                           train.get("learning_rate"), train.get("resolution"), train.get("seed"),
                           dataset, train["span"])

    # -- the body: scenes, shots, beats (compiler/scenes.py walks it) -------------------------

    def body(self, annotations: dict[int, ann.Annotation]):
        """(scenes, sections, opening transition) of the script's elements."""
        return BodyLowering(self, annotations).run(self.script.elements)

    def freeze_scene(self, number: int, draft: SceneDraft) -> ir.Scene:
        heading = draft.heading
        scene = ir.Scene(
            index=number,
            heading=heading.plain if heading else "",
            scene_number=heading.scene_number if heading else None,
            setting=draft.setting,
            place=draft.place,
            time=draft.time,
            location=draft.location,
            shots=tuple(shot.freeze() for shot in draft.shots),
            transition=draft.transition,
            span=draft.span,
            end_line=max(draft.end_line, draft.span.end_line),
        )
        for span, message, label in continuation_problems(scene):
            self.error("E210", message, span, label=label,
                       help="a shot continues the filmed shot before it in the same scene; "
                            "remove `continues` here")
        return scene

    def scene(self, element: Element) -> SceneDraft:
        heading = element.heading
        draft = SceneDraft(element, element.span, heading.setting, heading.place, heading.time)
        draft.location = self.bind_location(heading)
        return draft

    def bind_location(self, heading: fountain.Heading) -> str | None:
        place = heading.place
        if not place:
            return None
        span = heading.place_span
        candidates = [place] + [part for part in _BIND_SPLIT.split(place)[:1] if part != place]
        for candidate in candidates:
            location = self.locations.get(candidate.strip().casefold())
            if location:
                self.bound_locations.add(location.name.casefold())
                written = candidate.strip()
                self.refer("location", written,
                           Span.on_line(span.line, span.col, span.col + len(written)), "heading")
                return location.name
        self.refer("location", place, span, "heading")
        if self.locations:
            self.undeclared_name("W504", f"scene heading binds to no declared location: {place}",
                                 span, "location", candidates[-1], self.locations.values(),
                                 f"[[location {place}: what it looks like]]")
        return None

    def line(self, cue: Element, dialogue: Element, delivery: tuple[str, ...],
             performance: ir.ProjectPath | None) -> ir.Line:
        name = cue.name or cue.plain
        key = name.casefold()
        declared = self.characters.get(key)
        self.cued.add(key)
        if declared is None and self.characters:
            self.undeclared_cue(cue, name)
        extensions: tuple[str, ...] = ()
        voice_over = off_screen = False
        if cue.extensions:
            extensions = tuple(" ".join(e.upper().split()) for e in cue.extensions)
            squeezed = {e.replace(" ", "").replace(".", "") for e in extensions}
            voice_over = "VO" in squeezed
            off_screen = bool(squeezed & {"OS", "OC"})
        return ir.Line(
            character=declared.name if declared else name,
            text=dialogue.plain,
            delivery=delivery,
            extensions=extensions,
            voice_over=voice_over,
            off_screen=off_screen,
            dual=cue.dual,
            performance=performance,
            span=dialogue.span,
            cue_span=cue.span,
        )

    def undeclared_cue(self, cue: Element, name: str) -> None:
        if name.casefold() in self.reported_cues:
            return
        self.reported_cues.add(name.casefold())
        span = cue.name_span
        self.undeclared[len(self.diagnostics)] = name.casefold()
        self.undeclared_name("W505", f"character {name} is not declared", span, "character", name,
                             self.characters.values(), f"[[character {name}: who they are; voice: ...]]")


def duplicate_declaration(kind: str, name: str, span: Span, first: Span) -> Diagnostic:
    return Diagnostic.make("E204", f"{kind} {name} is declared twice", span,
                           label="second declaration", related=(Related(first, "first declared here"),),
                           help="merge the two declarations into one")
