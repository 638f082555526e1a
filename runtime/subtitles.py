"""Subtitles from the resolved timeline: one cue per spoken line, as SRT and WebVTT text (the mux
also carries them as a mov_text track)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    text: str


def subtitle_cues(lines) -> list[Cue]:
    """One cue per spoken line, shown while it is spoken (at least 1 s), never overlapping the
    next cue. Lines spoken together (dual dialogue) share one cue, one line each."""
    cues: list[Cue] = []
    for line in sorted(lines, key=lambda l: l.start):
        text = " ".join(line.text.split())
        if not text:
            continue
        end = line.start + max(line.seconds, 1.0)
        if cues and abs(cues[-1].start - line.start) < 0.01:
            previous = cues[-1]
            cues[-1] = Cue(previous.start, max(previous.end, end), f"{previous.text}\n{text}")
        else:
            cues.append(Cue(line.start, end, text))
    fixed = []
    for index, cue in enumerate(cues):
        end = cue.end
        if index + 1 < len(cues):
            end = min(end, cues[index + 1].start - 0.04) if cues[index + 1].start > cue.start else end
        fixed.append(Cue(cue.start, max(end, cue.start + 0.2), cue.text))
    return fixed


def _clock(seconds: float, separator: str) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(cues: list[Cue]) -> str:
    blocks = [f"{n}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{c.text}\n"
              for n, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def vtt(cues: list[Cue]) -> str:
    blocks = [f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{c.text}\n" for c in cues]
    return "WEBVTT\n\n" + "\n".join(blocks)
