"""Lowering: the Fountain element stream (plus annotations) → the IR, with name resolution.

Scene headings bind to declared locations, cues to characters, ``music:`` to themes, and paths
to files inside the project folder. Everything that cannot be resolved becomes a diagnostic;
lowering itself never fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from . import annotations as ann
from . import ir, paths, vocabulary
from .diagnostics import Diagnostic, Edit, Related, closest
from . import fountain, references
from .fountain import Element, Script
from .source import Span

_BIND_SPLIT = re.compile(r"\s+/\s+|,\s+|\s+[-–—]\s+")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%|(\d*\.\d+|[01])")
_RESOLUTION = re.compile(r"(\d+)\s*[x×X]\s*(\d+)")
_RESOLUTION_NAMES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080),
                     "2k": (2048, 1080), "4k": (3840, 2160), "2160p": (3840, 2160)}
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_TEMPO = re.compile(r"(\d+(?:\.\d+)?)\s*bpm", re.IGNORECASE)
PROFILES = ("draft", "preview", "final")     # the built-in profiles (compiler/profiles.py defines them)
_ACTION_TRANSITION = re.compile(r"(FADE (IN|OUT|TO BLACK)|CUT TO BLACK)[.:]?")

# Which properties each annotation takes, and what kind of file each path property names.
PROPERTIES: dict[str, tuple[str, ...]] = {
    "location": ("refs", "lora"),
    "character": ("voice", "refs", "lora"),
    "theme": ("tempo", "from"),
    "shot": ("from", "seed"),
    "music": ("volume",),
    "sfx": ("from", "volume"),
    "voice": ("from",),
}
PATH_KINDS: dict[tuple[str, str], str] = {
    ("location", "refs"): "refs", ("character", "refs"): "refs",
    ("location", "lora"): "lora", ("character", "lora"): "lora",
    ("character", "voice"): "audio", ("theme", "from"): "audio", ("sfx", "from"): "audio",
    ("voice", "from"): "audio", ("shot", "from"): "visual",
}
KIND_EXTENSIONS = {     # what each path kind accepts (completion lists them too)
    "audio": vocabulary.AUDIO_EXTENSIONS,
    "visual": vocabulary.IMAGE_EXTENSIONS + vocabulary.VIDEO_EXTENSIONS,
    "refs": vocabulary.IMAGE_EXTENSIONS,
    "lora": (".safetensors",),
}
_KIND_WORDS = {"audio": "a sound recording (wav, flac, mp3, ogg)",
               "visual": "an image (png, jpg, webp) or a video (mp4, mov, webm, mkv)",
               "refs": "an image (png, jpg, webp) or a folder of images",
               "lora": "a .safetensors file or a folder holding one"}


@dataclass
class _ShotDraft:
    explicit: bool
    span: Span
    size: ir.ShotSize | None = None
    move: ir.CameraMove | None = None
    duration: float | None = None
    source: ir.ProjectPath | None = None
    seed: int | None = None
    beats: list = field(default_factory=list)

    def freeze(self) -> ir.Shot:
        return ir.Shot(self.explicit, self.size, self.move, self.duration, self.source, self.seed,
                       tuple(self.beats), self.span)


@dataclass
class _SceneDraft:
    heading: Element | None
    span: Span
    setting: str | None = None
    place: str = ""
    time: str | None = None
    location: str | None = None
    shots: list = field(default_factory=list)
    transition: ir.Transition | None = None
    end_line: int = 0


@dataclass(frozen=True, slots=True)
class Uses:
    """What the script uses of its declarations: the record ``check`` reads (names case-folded)."""

    cued: frozenset[str] = frozenset()              # names that speak (a cue)
    mentioned: frozenset[str] = frozenset()         # declared characters an action names
    bound_locations: frozenset[str] = frozenset()   # locations a heading binds to
    started_themes: frozenset[str] = frozenset()    # themes a music: directive starts


class Lowering:
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
        self.cued: dict[str, list[Span]] = {}
        self.bound_locations: set[str] = set()
        self.started_themes: set[str] = set()
        self.references: list[ir.Reference] = []
        self.read_paths: list[str] = []
        self.undeclared: dict[int, str] = {}     # diagnostic index -> the folded cue name of a W505
        self.reported_cues: set[str] = set()     # W505 once per name

    def error(self, code: str, message: str, span: Span, **extra) -> None:
        self.diagnostics.append(Diagnostic.make(code, message, span, **extra))

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
        values: dict = {}
        for f in self.script.title_page:
            key = f.key.strip().lower()
            value = " ".join(f.value.split())
            span = f.value_span
            self.setting_spans[key] = f.span
            if key == "title":
                values["title"] = " ".join(part.strip() for part in f.value.split("\n"))
            elif key == "credit":
                values["credit"] = value
            elif key in ("author", "authors"):
                values["author"] = value
            elif key == "resolution":
                size = _RESOLUTION_NAMES.get(value.lower())
                match = _RESOLUTION.fullmatch(value)
                if match:
                    size = int(match.group(1)), int(match.group(2))
                if (size is None or not all(64 <= v <= 7680 for v in size)
                        or any(v % 2 for v in size)):
                    self.error("E302", f"bad resolution {value!r}", span,
                               label="expected WIDTHxHEIGHT, both even, 64 to 7680",
                               help="write it like `Resolution: 1280x720`")
                else:
                    values["resolution"] = size
            elif key == "fps":
                number = value.lower().removesuffix("fps").strip()
                try:
                    fps = float(number)
                except ValueError:
                    fps = 0.0
                if not 1 <= fps <= 120:
                    self.error("E303", f"bad frame rate {value!r}", span,
                               label="expected a number of frames per second, 1 to 120",
                               help="write it like `FPS: 24`")
                else:
                    values["fps"] = fps
            elif key == "style":
                values["style"] = value
            elif key == "seed":
                if value.isdigit() and int(value) < 2**63:
                    values["seed"] = int(value)
                else:
                    self.error("E304", f"bad seed {value!r}", span,
                               label="expected a whole number, like 7")
            elif key == "language":
                if _LANGUAGE.fullmatch(value):
                    values["language"] = value
                else:
                    self.error("E304", f"bad language {value!r}", span,
                               label="expected a language tag such as en or fr-FR")
            elif key == "profile":
                known = self.profiles
                if value.lower() in known:
                    values["profile"] = value.lower()
                else:
                    suggestion = closest(value, known)
                    self.error("E304", f"unknown profile {value!r}", span,
                               label=f"expected one of: {', '.join(known)}",
                               help=f"did you mean {suggestion}?" if suggestion else "",
                               fix=Edit(span, suggestion) if suggestion else None)
        return ir.Settings(**values)

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
            return ir.Location(name, description, props.get("refs", ()), _one(props.get("lora")),
                               element.span, name_span)
        if kind == "character":
            return ir.Character(name, description, _one(props.get("voice")), props.get("refs", ()),
                                _one(props.get("lora")), element.span, name_span)
        tempo = props.get("tempo")
        if tempo is None:
            match = _TEMPO.search(description)
            tempo = float(match.group(1)) if match else None
        return ir.Theme(name, description, tempo, _one(props.get("from")), element.span, name_span)

    def properties(self, element: Element, kind: str, note: ann.Annotation) -> dict:
        """Validated properties: paths resolved, numbers parsed. Bad ones become diagnostics."""
        allowed = PROPERTIES[kind]
        out: dict = {}
        for prop in note.properties:
            key = prop.key.text
            key_span = self.term_span(element, prop.key)
            if key not in allowed:
                suggestion = closest(key, allowed)
                self.error("E202", f"`{kind}` does not take the property `{key}`", key_span,
                           label=f"{kind} takes: {', '.join(allowed)}",
                           help=f"did you mean `{suggestion}`?" if suggestion else "",
                           fix=Edit(key_span, suggestion) if suggestion else None)
                continue
            if not prop.values:
                self.error("E206", f"property `{key}` has no value", key_span)
                continue
            path_kind = PATH_KINDS.get((kind, key))
            if path_kind:
                resolved = tuple(filter(None, (self.project_path(element, v, path_kind) for v in prop.values)))
                if resolved:
                    out[key] = resolved
                continue
            value = prop.values[0]
            value_span = self.term_span(element, value)
            if key == "seed":
                if value.text.isdigit():
                    out[key] = int(value.text)
                else:
                    self.error("E207", f"bad seed {value.text!r}", value_span,
                               label="expected a whole number")
            elif key == "volume":
                volume = _parse_volume(value.text)
                if volume is None:
                    self.error("E207", f"bad volume {value.text!r}", value_span,
                               label="expected a percentage like 80% (0% to 200%)")
                else:
                    out[key] = volume
            elif key == "tempo":
                match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(bpm)?", value.text, re.IGNORECASE)
                if not match or not 20 <= float(match.group(1)) <= 300:
                    self.error("E207", f"bad tempo {value.text!r}", value_span,
                               label="expected beats per minute, like 70 bpm (20 to 300)")
                else:
                    out[key] = float(match.group(1))
        return out

    def project_path(self, element: Element, term: ann.Term, kind: str) -> ir.ProjectPath | None:
        span = self.term_span(element, term)
        self.read_paths.append(term.text)
        result = paths.resolve(self.project, term.text)
        if result.problem == "escapes":
            self.error("E402", f"path {term.text!r} leaves the project folder", span,
                       label="not read",
                       help="put the file inside the folder that holds the script and use a "
                            "relative path")
            return None
        if result.problem == "missing":
            self.error("E401", f"file not found: {term.text}", span,
                       label="no such file in the project folder",
                       help=self.missing_help(term.text))
            return None
        extensions = KIND_EXTENSIONS[kind]
        if result.is_dir:
            if kind not in ("refs", "lora"):
                self.error("E403", f"{term.text!r} is a folder", span,
                           label=f"expected {_KIND_WORDS[kind]}")
                return None
        elif not result.path.lower().endswith(extensions):
            self.error("E403", f"{term.text!r} is not {_KIND_WORDS[kind]}", span,
                       label="wrong kind of file")
            return None
        return ir.ProjectPath(term.text, result.path, span)

    def missing_help(self, written: str) -> str:
        if self.project is None:
            return ""
        folder = Path(written.strip().rstrip("/")).parent
        try:
            siblings = [p.name for p in (self.project / folder).iterdir()]
        except OSError:
            return "paths are relative to the folder that holds the script"
        suggestion = closest(Path(written).name, siblings)
        if suggestion:
            return f"did you mean {(folder / suggestion).as_posix()}?"
        return "paths are relative to the folder that holds the script"

    # -- the body: scenes, shots, beats -------------------------------------------------------

    def body(self, annotations: dict[int, ann.Annotation]):
        """(scenes, sections, opening transition) of the script's elements."""
        return _Body(self, annotations).run(self.script.elements)

    def freeze_scene(self, number: int, draft: _SceneDraft) -> ir.Scene:
        heading = draft.heading
        return ir.Scene(
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

    def scene(self, element: Element) -> _SceneDraft:
        heading = element.heading
        draft = _SceneDraft(element, element.span, heading.setting, heading.place, heading.time)
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
            suggestion = closest(candidates[-1], [l.name for l in self.locations.values()])
            self.error("W504", f"scene heading binds to no declared location: {place}", span,
                       label="no `[[location ...]]` has this name",
                       help=f"did you mean {suggestion}?" if suggestion else
                       f"declare it: [[location {place}: what it looks like]]",
                       fix=Edit(span, suggestion) if suggestion else None)
        return None

    def line(self, cue: Element, dialogue: Element, delivery: tuple[str, ...],
             performance: ir.ProjectPath | None) -> ir.Line:
        name = cue.name or cue.plain
        declared = self.characters.get(name.casefold())
        self.cued.setdefault(name.casefold(), []).append(cue.span)
        if declared is None and self.characters:
            self.undeclared_cue(cue, name)
        extensions = tuple(" ".join(e.upper().split()) for e in cue.extensions)
        squeezed = {e.replace(" ", "").replace(".", "") for e in extensions}
        return ir.Line(
            character=declared.name if declared else name,
            text=dialogue.plain,
            delivery=delivery,
            extensions=extensions,
            voice_over="VO" in squeezed,
            off_screen=bool(squeezed & {"OS", "OC"}),
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
        suggestion = closest(name, [c.name for c in self.characters.values()])
        self.error("W505", f"character {name} is not declared", span,
                   label="no `[[character ...]]` has this name",
                   help=f"did you mean {suggestion}?" if suggestion else
                   f"declare it: [[character {name}: who they are; voice: ...]]",
                   fix=Edit(span, suggestion) if suggestion else None)

    # -- directives ---------------------------------------------------------------------------

    def shot_directive(self, element: Element, note: ann.Annotation) -> _ShotDraft:
        draft = _ShotDraft(True, element.span)
        for clause in note.terms:
            for term in _split_lines(clause):
                self.shot_term(element, draft, term)
        props = self.properties(element, "shot", note)
        draft.source = _one(props.get("from"))
        draft.seed = props.get("seed")
        return draft

    def shot_term(self, element: Element, draft: _ShotDraft, term: ann.Term) -> None:
        span = self.term_span(element, term)
        word = vocabulary.normalize_term(term.text)
        if vocabulary.looks_like_duration(word):
            seconds = vocabulary.parse_duration(word)
            if seconds is None:
                self.error("E301", f"bad duration {term.text!r}", span,
                           label="expected seconds, like 6s or 2.5s, or 1:30 (up to 10 minutes)")
            elif self._set_once(draft, "duration", seconds, span, term.text):
                pass
            return
        size = vocabulary.SHOT_SIZES.get(word)
        if size is not None:
            self._set_once(draft, "size", size, span, term.text)
            return
        move = vocabulary.parse_move(word)
        if move is not None:
            self._set_once(draft, "move", ir.CameraMove(*move), span, term.text)
            return
        suggestion = closest(word, vocabulary.all_shot_terms())
        self.error("E205", f"unknown shot term {term.text!r}", span,
                   label="not a shot size, camera move or duration",
                   help=f"did you mean `{suggestion}`?" if suggestion else
                   "sizes: wide, medium, close-up…; moves: static, push in, pan left…; see docs/language.md",
                   fix=Edit(span, suggestion) if suggestion else None)

    def _set_once(self, draft: _ShotDraft, attribute: str, value, span: Span, text: str) -> bool:
        if getattr(draft, attribute) is not None:
            self.error("E205", f"the shot already has a {attribute}", span,
                       label=f"second {attribute}: {text}")
            return False
        setattr(draft, attribute, value)
        return True

    def music(self, element: Element, note: ann.Annotation) -> ir.MusicCue | None:
        theme: str | None = None
        chosen = False
        fade_in = fade_out = 0.0
        for clause in note.terms:
            for term in _split_lines(clause):
                word = vocabulary.normalize_term(term.text)
                span = self.term_span(element, term)
                fade = re.fullmatch(r"fade (in|out)(?: (?:over )?(.+))?", word)
                if fade:
                    seconds = 2.0
                    if fade.group(2):
                        parsed = vocabulary.parse_duration(fade.group(2))
                        if parsed is None:
                            self.error("E301", f"bad fade duration {fade.group(2)!r}", span,
                                       label="expected seconds, like 3s")
                            continue
                        seconds = parsed
                    if fade.group(1) == "in":
                        fade_in = seconds
                    else:
                        fade_out = seconds
                    continue
                if chosen:
                    self.error("E205", f"unknown music term {term.text!r}", span,
                               label="music takes a theme (or stop) and fades: fade in 3s, fade out 4s")
                    continue
                chosen = True
                if word in ("stop", "out", "end", "off"):
                    continue
                self.refer("theme", term.text, span, "music")
                declared = self.themes.get(" ".join(term.text.split()).casefold())
                if declared is None:
                    suggestion = closest(term.text, [t.name for t in self.themes.values()])
                    self.error("E203", f"undeclared theme {term.text!r}", span,
                               label="no `[[theme ...]]` has this name",
                               help=f"did you mean {suggestion}?" if suggestion else
                               f"declare it: [[theme {term.text}: instruments, mood, tempo]]",
                               fix=Edit(span, suggestion) if suggestion else None)
                    return None
                theme = declared.name
                self.started_themes.add(theme.casefold())
        if not chosen:
            self.error("E206", "`music:` needs a theme name or `stop`", element.span,
                       help="write it like [[music: RIVER, fade in 3s]]")
            return None
        props = self.properties(element, "music", note)
        return ir.MusicCue(theme, fade_in, fade_out, props.get("volume", 1.0), element.span)

    def sfx(self, element: Element, note: ann.Annotation) -> ir.SoundEffect | None:
        words: list[str] = []
        duration = None
        for clause in note.terms:
            for term in clause:
                if vocabulary.looks_like_duration(term.text):
                    duration = vocabulary.parse_duration(term.text)
                    if duration is None:
                        self.error("E301", f"bad duration {term.text!r}", self.term_span(element, term),
                                   label="expected seconds, like 4s")
                    continue
                words.append(term.text)
        props = self.properties(element, "sfx", note)
        source = _one(props.get("from"))
        if not words and source is None:
            self.error("E206", "`sfx:` needs a description of the sound or `from:` a recording",
                       element.span, help="write it like [[sfx: water lapping against stone, 4s]]")
            return None
        return ir.SoundEffect(", ".join(words), duration, source, props.get("volume", 1.0), element.span)

    def voice(self, element: Element, note: ann.Annotation) -> tuple[list[str], ir.ProjectPath | None]:
        hints = [vocabulary.normalize_term(t.text) for clause in note.terms for t in clause]
        props = self.properties(element, "voice", note)
        return hints, _one(props.get("from"))


class _Body:
    """Lowers the script's body element by element, one handler per element kind
    (``on_<kind>``). It holds the scene and shot being filled, the open dialogue block (its cue
    and the parentheticals waiting for its speech), and what waits for something later: music
    and effects before the first shot, a ``voice:`` note before its speech."""

    def __init__(self, lowering: Lowering, annotations: dict[int, ann.Annotation]):
        self.lowering = lowering
        self.annotations = annotations
        self.scenes: list[_SceneDraft] = []
        self.sections: list[ir.Section] = []
        self.opening: ir.Transition | None = None
        self.scene: _SceneDraft | None = None
        self.shot: _ShotDraft | None = None
        self.pending_audio: list = []           # music/sfx before anything is on screen
        self.cue: Element | None = None         # the open dialogue block's cue
        self.delivery: list[str] = []           # parentheticals waiting for their dialogue
        self.pending_voice: tuple[list[str], ir.ProjectPath | None] | None = None
        self.last_line: tuple[_ShotDraft, int, Element] | None = None   # the speech just read

    def run(self, elements) -> tuple[list[ir.Scene], list[ir.Section], ir.Transition | None]:
        for index, element in enumerate(elements):
            kind = element.kind
            if self.scene is not None and kind != "scene_heading":
                self.scene.end_line = element.span.end_line
            if kind == "lyrics" and self.cue is not None:
                kind = "sung"                   # ~lines inside a dialogue block: sung by the cue
            if kind not in ("dialogue", "parenthetical", "note", "sung"):
                self.cue = None
                self.delivery = []
            handler = getattr(self, f"on_{kind}", None)
            if handler is not None:
                handler(index, element)
        if self.pending_audio:
            # audio after the last picture: held over the end of the film
            first = self.pending_audio[0]
            if self.scene is None:
                self.scene = _SceneDraft(None, first.span)
                self.scenes.append(self.scene)
            self.scene.shots.append(_ShotDraft(False, first.span, beats=list(self.pending_audio)))
        scenes = [self.lowering.freeze_scene(number, draft) for number, draft in enumerate(self.scenes, 1)]
        return scenes, self.sections, self.opening

    # -- where beats go -----------------------------------------------------------------------

    def open_scene(self, span: Span) -> _SceneDraft:
        """The current scene; what comes before the first heading makes a scene of its own."""
        if self.scene is None:
            self.scene = _SceneDraft(None, span)
            self.scenes.append(self.scene)
        return self.scene

    def start_shot(self, shot: _ShotDraft) -> None:
        self.open_scene(shot.span).shots.append(shot)
        self.shot = shot
        if self.pending_audio:
            shot.beats.extend(self.pending_audio)
            self.pending_audio.clear()

    def current_shot(self, span: Span) -> _ShotDraft:
        """The shot being filled; before a scene's first directive, one that découpage breaks down."""
        if self.scene is None or self.shot is None:
            self.start_shot(_ShotDraft(False, span))
        return self.shot

    def add(self, beat) -> None:
        self.current_shot(beat.span).beats.append(beat)

    def transition(self, transition: ir.Transition) -> None:
        if self.scene is None:
            self.opening = transition
        else:
            self.scene.transition = transition

    # -- the handlers -------------------------------------------------------------------------

    def on_scene_heading(self, index: int, element: Element) -> None:
        self.pending_voice = None
        self.scene = self.lowering.scene(element)
        self.scenes.append(self.scene)
        self.shot = None

    def on_note(self, index: int, element: Element) -> None:
        note = self.annotations.get(index)
        if note is None or note.kind != "directive":
            return
        word = note.keyword.text
        if word == "shot":
            self.start_shot(self.lowering.shot_directive(element, note))
        elif word in ("music", "sfx"):
            lowering = self.lowering
            beat = lowering.music(element, note) if word == "music" else lowering.sfx(element, note)
            if beat is None:
                return
            if self.shot is None:
                # before the scene's first shot: it belongs to the shot that comes next
                self.pending_audio.append(beat)
            else:
                self.shot.beats.append(beat)
        elif word == "voice":
            hints, performance = self.lowering.voice(element, note)
            last = self.last_line
            # Inside (or inline on) the speech just read: it applies to that speech.
            if last is not None and last[2].span.contains(element.span.line, element.span.col):
                draft, position, _ = last
                line = draft.beats[position]
                draft.beats[position] = _replace(line, delivery=line.delivery + tuple(hints),
                                                 performance=performance or line.performance)
            else:
                self.pending_voice = (hints, performance)

    def on_action(self, index: int, element: Element) -> None:
        text = element.plain
        if _ACTION_TRANSITION.fullmatch(text.strip()):
            # "FADE IN:" and "FADE OUT." do not end in TO:, so Fountain reads them as action;
            # every writer means a transition.
            self.transition(ir.Transition(vocabulary.transition_kind(text), text.strip(), element.span))
        else:
            self.add(ir.Action(text, element.span))

    def on_character(self, index: int, element: Element) -> None:
        self.cue = element
        self.delivery = []
        if element.name:
            self.lowering.refer("character", element.name, element.name_span, "cue")

    def on_parenthetical(self, index: int, element: Element) -> None:
        self.delivery.append(element.plain.strip("() ").lower())

    def on_dialogue(self, index: int, element: Element, sung: bool = False) -> None:
        if self.cue is None:
            return
        if sung:
            self.delivery.append("singing")
        performance = None
        if self.pending_voice is not None:
            self.delivery.extend(self.pending_voice[0])
            performance = self.pending_voice[1]
            self.pending_voice = None
        draft = self.current_shot(element.span)
        draft.beats.append(self.lowering.line(self.cue, element, tuple(self.delivery), performance))
        self.last_line = (draft, len(draft.beats) - 1, element)
        self.delivery = []

    def on_sung(self, index: int, element: Element) -> None:
        self.on_dialogue(index, element, sung=True)

    def on_lyrics(self, index: int, element: Element) -> None:
        self.add(ir.Lyric(element.plain, element.span))

    def on_centered(self, index: int, element: Element) -> None:
        self.add(ir.Card(element.plain, element.span))

    def on_transition(self, index: int, element: Element) -> None:
        text = element.plain
        self.transition(ir.Transition(vocabulary.transition_kind(text), text, element.span))

    def on_section(self, index: int, element: Element) -> None:
        self.sections.append(ir.Section(element.plain, element.depth, "", element.span))

    def on_synopsis(self, index: int, element: Element) -> None:
        sections = self.sections
        if not sections or sections[-1].span.line >= element.span.line:
            return
        last = sections[-1]
        if self.scene is None or self.scene.span.line < last.span.line:
            sections[-1] = _replace(last, synopsis=(last.synopsis + " " + element.plain).strip())


def duplicate_declaration(kind: str, name: str, span: Span, first: Span) -> Diagnostic:
    return Diagnostic.make("E204", f"{kind} {name} is declared twice", span,
                           label="second declaration", related=(Related(first, "first declared here"),),
                           help="merge the two declarations into one")


def _split_lines(clause: tuple[ann.Term, ...]) -> list[ann.Term]:
    """Terms of a clause, where a line break inside a note also separates terms
    (``[[shot: wide`` / ``4s]]``)."""
    out: list[ann.Term] = []
    for term in clause:
        if "\n" not in term.text:
            out.append(term)
            continue
        offset = term.start
        for piece in term.text.split("\n"):
            stripped = piece.strip()
            if stripped:
                begin = offset + piece.index(stripped)
                out.append(ann.Term(stripped, begin, begin + len(stripped)))
            offset += len(piece) + 1
    return out


def _one(values):
    if not values:
        return None
    return values[0]


def _parse_volume(text: str) -> float | None:
    match = _PERCENT.fullmatch(text.strip())
    if not match:
        return None
    volume = float(match.group(1)) / 100 if match.group(1) else float(match.group(2))
    return volume if 0 <= volume <= 2 else None


def _replace(node, **changes):
    from dataclasses import replace

    return replace(node, **changes)
