"""The script's body lowered element by element into scenes, shots and beats.

:class:`BodyLowering` holds the state of that walk; the constructs it meets (a heading, a
directive, a speech) are lowered by the :class:`~lower.Lowering` it is given (not imported
here: lowering imports this module)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from . import annotations as ann
from . import ir, vocabulary
from .fountain import Element
from .source import Span

_ACTION_TRANSITION = re.compile(r"(FADE (IN|OUT|TO BLACK)|CUT TO BLACK)[.:]?")


@dataclass
class ShotDraft:
    explicit: bool
    span: Span
    size: ir.ShotSize | None = None
    move: ir.CameraMove | None = None
    duration: float | None = None
    source: ir.ProjectPath | None = None
    seed: int | None = None
    beats: list = field(default_factory=list)
    angle: ir.Angle | None = None
    lens: ir.Lens | None = None
    focus: ir.Focus | None = None
    lighting: ir.Lighting | None = None
    continues: Span | None = None

    def freeze(self) -> ir.Shot:
        return ir.Shot(self.explicit, self.size, self.move, self.duration, self.source, self.seed,
                       tuple(self.beats), self.span, self.angle, self.lens, self.focus,
                       self.lighting, self.continues)


@dataclass
class SceneDraft:
    heading: Element | None
    span: Span
    setting: str | None = None
    place: str = ""
    time: str | None = None
    location: str | None = None
    shots: list = field(default_factory=list)
    transition: ir.Transition | None = None
    end_line: int = 0


class BodyLowering:
    """Lowers the script's body element by element, one handler per element kind
    (``on_<kind>``). It holds the scene and shot being filled, the open dialogue block (its cue
    and the parentheticals waiting for its speech), and what waits for something later: music
    and effects before the first shot, a ``voice:`` note before its speech."""

    def __init__(self, lowering, annotations: dict[int, ann.Annotation]):
        self.lowering = lowering
        self.annotations = annotations
        self.scenes: list[SceneDraft] = []
        self.sections: list[ir.Section] = []
        self.opening: ir.Transition | None = None
        self.scene: SceneDraft | None = None
        self.shot: ShotDraft | None = None
        self.pending_audio: list = []           # music/sfx before anything is on screen
        self.cue: Element | None = None         # the open dialogue block's cue
        self.delivery: list[str] = []           # parentheticals waiting for their dialogue
        self.pending_voice: tuple[list[str], ir.ProjectPath | None] | None = None
        self.last_line: tuple[ShotDraft, int, Element] | None = None   # the speech just read

    def run(self, elements) -> tuple[list[ir.Scene], list[ir.Section], ir.Transition | None]:
        handlers = {name[3:]: getattr(self, name) for name in dir(type(self)) if name.startswith("on_")}
        for index, element in enumerate(elements):
            kind = element.kind
            if self.scene is not None and kind != "scene_heading":
                self.scene.end_line = element.span.end_line
            if kind == "lyrics" and self.cue is not None:
                kind = "sung"                   # ~lines inside a dialogue block: sung by the cue
            if kind not in ("dialogue", "parenthetical", "note", "sung"):
                self.cue = None
                self.delivery = []
            handler = handlers.get(kind)
            if handler is not None:
                handler(index, element)
        if self.pending_audio:
            # audio after the last picture: held over the end of the film
            first = self.pending_audio[0]
            if self.scene is None:
                self.scene = SceneDraft(None, first.span)
                self.scenes.append(self.scene)
            self.scene.shots.append(ShotDraft(False, first.span, beats=list(self.pending_audio)))
        scenes = [self.lowering.freeze_scene(number, draft) for number, draft in enumerate(self.scenes, 1)]
        return scenes, self.sections, self.opening

    # -- where beats go -----------------------------------------------------------------------

    def open_scene(self, span: Span) -> SceneDraft:
        """The current scene; what comes before the first heading makes a scene of its own."""
        if self.scene is None:
            self.scene = SceneDraft(None, span)
            self.scenes.append(self.scene)
        return self.scene

    def start_shot(self, shot: ShotDraft) -> None:
        self.open_scene(shot.span).shots.append(shot)
        self.shot = shot
        if self.pending_audio:
            shot.beats.extend(self.pending_audio)
            self.pending_audio.clear()

    def current_shot(self, span: Span) -> ShotDraft:
        """The shot being filled; before a scene's first directive, one that découpage breaks down."""
        if self.scene is None or self.shot is None:
            self.start_shot(ShotDraft(False, span))
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
                draft.beats[position] = replace(line, delivery=line.delivery + tuple(hints),
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
            sections[-1] = replace(last, synopsis=(last.synopsis + " " + element.plain).strip())
