"""The cut: one shot of the finished film, what découpage makes and prompts and the planner read."""

from __future__ import annotations

from dataclasses import dataclass

from . import ir, timing
from .ir import CameraMove, ShotSize
from .source import Span


@dataclass(frozen=True, slots=True, order=True)
class ShotRef:
    """Which shot of the IR a cut comes from: the scene's ``index`` (1-based, ``Scene.index``)
    and the shot's place in that scene's ``shots`` (0-based). It names the shot however its
    text moves or repeats, so the language server finds a shot's cuts by it, not by position."""

    scene: int
    position: int


@dataclass(frozen=True, slots=True)
class Cut:
    """One shot of the finished film, with everything the planner needs to render it."""

    id: str                          # stable identity: the scene's heading and occurrence + ordinal
    label: str                       # "3.2": scene 3, shot 2, for people
    scene_index: int
    size: ShotSize
    move: CameraMove
    duration: float | None           # explicit, from the script
    min_seconds: float               # what the action or card needs on screen
    source: ir.ProjectPath | None    # from: image or video
    seed: int
    description: str                 # the action text
    card: str | None                 # centered text: a title card
    characters: tuple[str, ...]      # on screen, framing order
    speaker: str | None
    lines: tuple[ir.Line, ...]
    cues: tuple[ir.MusicCue, ...]
    sfx: tuple[ir.SoundEffect, ...]
    transition_in: str               # cut, dissolve, fade_in
    transition_out: str              # cut, fade_out, cut_to_black
    explicit: bool
    prompt: str
    span: Span
    # the written camera language (None: not written; the angle then reads as eye level)
    angle: ir.Angle | None = None
    lens: ir.Lens | None = None
    focus: ir.Focus | None = None
    lighting: ir.Lighting | None = None
    # the IR shot whose beats (or directive) the cut covers; None for the title card and a
    # scene's establishing shot, which come from the title page and the heading
    shot: ShotRef | None = None
    continues: bool = False          # starts from the previous cut's last frame (a matching cut)

    @property
    def estimated_seconds(self) -> float:
        speech = sum(timing.line_seconds(line) for line in self.lines if not line.dual)
        base = max(self.min_seconds, speech + (0.5 if self.lines else 0.0))
        return max(self.duration, speech) if self.duration is not None else base
