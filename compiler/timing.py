"""Screen-time estimates, before anything is rendered.

Speech runs at about 150 words a minute; an action paragraph holds the screen for about as long
as it takes to read it aloud, within bounds. An explicit shot duration wins, but never cuts a
speech short. The planner refines these with real speech lengths once voices are rendered.
"""

from __future__ import annotations

from . import ir

SPEECH_WORDS_PER_SECOND = 2.5
ACTION_WORDS_PER_SECOND = 3.0
PAUSE_AFTER_LINE = 0.4
CARD_SECONDS = 3.0
MIN_ACTION, MAX_ACTION = 2.0, 10.0
MIN_SHOT = 1.5


def words(text: str) -> int:
    return len(text.split())


def line_seconds(line: ir.Line) -> float:
    return words(line.text) / SPEECH_WORDS_PER_SECOND + PAUSE_AFTER_LINE


def beat_seconds(beat: ir.Beat) -> float:
    if isinstance(beat, ir.Action):
        return min(max(words(beat.text) / ACTION_WORDS_PER_SECOND, MIN_ACTION), MAX_ACTION)
    if isinstance(beat, ir.Line):
        # Narration and overlapping dual dialogue do not hold the picture on their own.
        return line_seconds(beat)
    if isinstance(beat, ir.Lyric):
        return words(beat.text) / 2.0 + PAUSE_AFTER_LINE
    if isinstance(beat, ir.Card):
        return CARD_SECONDS
    return 0.0


def shot_seconds(shot: ir.Shot) -> float:
    speech = sum(line_seconds(b) for b in shot.beats if isinstance(b, ir.Line))
    if shot.duration is not None:
        return max(shot.duration, speech)
    return max(sum(beat_seconds(b) for b in shot.beats), MIN_SHOT if shot.beats else 0.0)


def scene_seconds(scene: ir.Scene) -> float:
    return sum(shot_seconds(shot) for shot in scene.shots)


def film_seconds(film: ir.Film) -> float:
    return sum(scene_seconds(scene) for scene in film.scenes)
