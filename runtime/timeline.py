"""The resolved timeline: when each cut, line, music cue and effect starts, once speech is rendered.

Speech lengths fix shot timing: a cut lasts its explicit duration, but never less than its
speech; otherwise as long as its speech, its action's reading time or its card needs. A pure
function of the plan and the rendered speech lengths, so the same inputs give the same frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from moviola.compiler.plan import JobRef, RenderPlan, music_ref, sfx_ref, speech_ref

LEAD_IN = 0.35        # seconds before the first line of a cut
GAP = 0.3             # between lines
TAIL = 0.5            # after the last line
DISSOLVE = 0.75       # seconds of a dissolve
FADE = 0.75           # fade to/from black
MUSIC_CROSSFADE = 1.0


@dataclass(frozen=True, slots=True)
class LineTiming:
    job: JobRef
    start: float          # seconds from the film's start
    seconds: float
    character: str
    text: str
    voice_over: bool
    off_screen: bool


@dataclass(frozen=True, slots=True)
class CutTiming:
    id: str
    label: str
    start_frame: int
    frames: int
    transition_in: str
    transition_out: str
    lines: tuple[LineTiming, ...]


@dataclass(frozen=True, slots=True)
class AudioPlacement:
    job: JobRef
    start: float
    seconds: float | None     # None: the rendered length
    fade_in: float = 0.0
    fade_out: float = 0.0
    volume: float = 1.0


@dataclass(frozen=True, slots=True)
class Timeline:
    fps: float
    cuts: tuple[CutTiming, ...]
    music: tuple[AudioPlacement, ...]
    sfx: tuple[AudioPlacement, ...]
    total_frames: int
    by_cut: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def seconds(self) -> float:
        return self.total_frames / self.fps

    @property
    def lines(self) -> tuple[LineTiming, ...]:
        return tuple(line for cut in self.cuts for line in cut.lines)

    def cut(self, cut_id: str) -> CutTiming:
        return self.by_cut[cut_id]


def dissolve_frames(cut: CutTiming, fps: float) -> int:
    """How many frames a cut's dissolve in lasts (none without one; at most half the cut)."""
    if cut.transition_in != "dissolve":
        return 0
    return min(int(round(DISSOLVE * fps)), cut.frames // 2)


def resolve(plan: RenderPlan, speech_seconds: dict[JobRef, float]) -> Timeline:
    fps = plan.film.settings.fps
    cuts: list[CutTiming] = []
    music: list[AudioPlacement] = []
    sfx: list[AudioPlacement] = []
    frame = 0
    playing: list = []                # [job, start, fade_in, volume] of the cue now playing
    cue_number = 0

    def end_music(at: float, fade_out: float) -> None:
        if playing:
            job, start, fade_in, volume = playing.pop()
            music.append(AudioPlacement(job, start, max(at - start, 0.1), fade_in, fade_out, volume))

    for cut in plan.cuts:
        start = frame / fps
        lines: list[LineTiming] = []
        cursor = LEAD_IN
        previous_start = LEAD_IN
        for number, line in enumerate(cut.lines, 1):
            job = speech_ref(cut.id, number)
            seconds = speech_seconds[job]
            line_start = previous_start if line.dual and lines else cursor
            lines.append(LineTiming(job, start + line_start, seconds, line.character, line.text,
                                    line.voice_over, line.off_screen))
            cursor = max(cursor, line_start + seconds + GAP)
            previous_start = line_start
        speech_end = cursor - GAP + TAIL if lines else 0.0
        if cut.duration is not None:
            seconds = max(cut.duration, speech_end)
        else:
            seconds = max(speech_end, cut.min_seconds)
        frames = max(int(round(seconds * fps)), 1)
        cuts.append(CutTiming(cut.id, cut.label, frame, frames, cut.transition_in,
                              cut.transition_out, tuple(lines)))

        for cue in cut.cues:
            cue_number += 1
            end_music(start, cue.fade_out if cue.theme is None else MUSIC_CROSSFADE)
            if cue.theme is not None:
                playing.append([music_ref(cut.id, cue_number), start, cue.fade_in, cue.volume])
        for number, effect in enumerate(cut.sfx, 1):
            sfx.append(AudioPlacement(sfx_ref(cut.id, number), start + 0.1, effect.duration,
                                      volume=effect.volume))
        frame += frames

    end_music(frame / fps, 2.0)
    return Timeline(fps, tuple(cuts), tuple(music), tuple(sfx), frame,
                    {cut.id: cut for cut in cuts})
