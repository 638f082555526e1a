"""The finished film and what travels with it: the mp4 (H.264 video joined from the cut
segments without re-encoding, AAC audio, a mov_text subtitle track), SRT and WebVTT subtitles,
an OpenTimelineIO timeline for an editor's NLE, and a storyboard contact sheet."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .mix import SAMPLE_RATE
from .video import frame_rate

# mov_text needs an ASS header to open its encoder; the styling itself is left to players.
_ASS_HEADER = (
    "[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
    "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, "
    "Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    "Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n"
    "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
).encode()

_LANGUAGES = {"en": "eng", "fr": "fra", "de": "deu", "es": "spa", "it": "ita", "pt": "por",
              "nl": "nld", "ru": "rus", "ja": "jpn", "zh": "zho", "ko": "kor", "ar": "ara",
              "pl": "pol", "sv": "swe", "da": "dan", "no": "nor", "fi": "fin", "cs": "ces"}


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


def encode_aac(path: Path, audio: np.ndarray) -> None:
    """The mix as AAC in an m4a, ready for the mux to copy."""
    import av

    with av.open(str(path), "w", format="mp4") as output:
        stream = output.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        stream.bit_rate = 160_000
        stream.options = {"aac_coder": "fast"}       # twice as fast, no audible loss at 160k
        _encode_audio(av, output, stream, audio)


def mux(path: Path, segments: list[Path], audio: Path, cues: list[Cue], fps: float,
        title: str = "", language: str = "en") -> dict:
    """Write the mp4. Video packets are copied from the segments with their timestamps shifted,
    AAC packets from the encoded mix; subtitles become a mov_text track. Returns stream facts."""
    import av

    rate = frame_rate(fps)
    output = av.open(str(path), "w", format="mp4")
    if title:
        output.metadata["title"] = title
    video_out = None
    offset = 0
    video_packets = 0
    try:
        inputs = [av.open(str(segment)) for segment in segments]
        try:
            video_out = output.add_stream_from_template(inputs[0].streams.video[0])
            audio_in = av.open(str(audio))
            inputs.append(audio_in)
            audio_out = output.add_stream_from_template(audio_in.streams.audio[0])
            subtitle_out = output.add_stream("mov_text")
            subtitle_out.codec_context.subtitle_header = _ASS_HEADER
            subtitle_out.time_base = Fraction(1, 1000)
            code = _LANGUAGES.get(language.split("-")[0].lower(), "und")
            subtitle_out.metadata["language"] = code
            audio_out.metadata["language"] = code

            for container in inputs[:-1]:
                stream = container.streams.video[0]
                frames = stream.frames
                last_end = 0
                for packet in container.demux(stream):
                    if packet.dts is None:
                        continue
                    # segment timestamps are in its stream's time base; restate in frames
                    in_frames = Fraction(packet.pts * stream.time_base.numerator * rate.numerator,
                                         stream.time_base.denominator * rate.denominator)
                    dts_frames = Fraction(packet.dts * stream.time_base.numerator * rate.numerator,
                                          stream.time_base.denominator * rate.denominator)
                    packet.stream = video_out
                    tb = video_out.time_base
                    scale = Fraction(rate.denominator * tb.denominator, rate.numerator * tb.numerator)
                    packet.pts = int(round((in_frames + offset) * scale))
                    packet.dts = int(round((dts_frames + offset) * scale))
                    packet.duration = int(round(scale))
                    packet.time_base = tb
                    output.mux(packet)
                    video_packets += 1
                    last_end = max(last_end, int(in_frames) + 1)
                offset += frames or last_end

            for packet in audio_in.demux(audio_in.streams.audio[0]):
                if packet.dts is None:
                    continue
                packet.stream = audio_out
                output.mux(packet)
            for cue in cues:
                payload = cue.text.encode("utf-8")
                packet = av.Packet(len(payload).to_bytes(2, "big") + payload)
                packet.stream = subtitle_out
                packet.pts = packet.dts = int(round(cue.start * 1000))
                packet.duration = max(int(round((cue.end - cue.start) * 1000)), 1)
                packet.time_base = subtitle_out.time_base
                output.mux(packet)
        finally:
            for container in inputs:
                container.close()
    finally:
        output.close()
    return {"frames": offset, "video_packets": video_packets, "subtitles": len(cues),
            "seconds": float(offset / rate)}


def _encode_audio(av, output, stream, audio: np.ndarray) -> None:
    planar = np.ascontiguousarray(audio.T.astype(np.float32))
    size = 1024
    for start in range(0, planar.shape[1], size):
        chunk = np.ascontiguousarray(planar[:, start:start + size])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        for packet in stream.encode(frame):
            output.mux(packet)
    for packet in stream.encode(None):
        output.mux(packet)


# -- OpenTimelineIO -----------------------------------------------------------------------------


def _time(value: float, rate: float) -> dict:
    return {"OTIO_SCHEMA": "RationalTime.1", "rate": rate, "value": value}


def _range(start: float, duration: float, rate: float) -> dict:
    return {"OTIO_SCHEMA": "TimeRange.1", "start_time": _time(start, rate),
            "duration": _time(duration, rate)}


def otio(title: str, fps: float, clips: list[dict], audio: dict) -> str:
    """An OpenTimelineIO timeline (JSON, schema Timeline.1): a video track of the cut segments
    with dissolves as transitions, and an audio track holding the mix. ``clips`` items carry
    name, url, frames, transition_in and metadata; ``audio`` carries url and frames."""
    video_children = []
    for clip in clips:
        if clip["transition_in"] == "dissolve" and video_children:
            half = clip.get("dissolve_frames", 12) / 2
            video_children.append({
                "OTIO_SCHEMA": "Transition.1", "name": "dissolve", "metadata": {},
                "transition_type": "SMPTE_Dissolve",
                "in_offset": _time(half, fps), "out_offset": _time(half, fps)})
        video_children.append(_clip_json(clip["name"], clip["url"], clip["frames"], fps,
                                         clip.get("metadata", {})))
    audio_children = [_clip_json("mix", audio["url"], audio["frames"], fps, {})]
    timeline = {
        "OTIO_SCHEMA": "Timeline.1", "name": title or "Moviola film",
        "metadata": {"moviola": {"fps": fps}}, "global_start_time": _time(0, fps),
        "tracks": {"OTIO_SCHEMA": "Stack.1", "name": "tracks", "metadata": {}, "enabled": True,
                   "source_range": None, "effects": [], "markers": [],
                   "children": [_track("Video", "V1", video_children),
                                _track("Audio", "A1", audio_children)]},
    }
    return json.dumps(timeline, indent=2, ensure_ascii=False)


def _track(kind: str, name: str, children: list) -> dict:
    return {"OTIO_SCHEMA": "Track.1", "name": name, "kind": kind, "metadata": {}, "enabled": True,
            "source_range": None, "effects": [], "markers": [], "children": children}


def _clip_json(name: str, url: str, frames: int, fps: float, metadata: dict) -> dict:
    return {
        "OTIO_SCHEMA": "Clip.2", "name": name, "metadata": {"moviola": metadata}, "enabled": True,
        "source_range": _range(0, frames, fps), "effects": [], "markers": [],
        "active_media_reference_key": "DEFAULT_MEDIA",
        "media_references": {"DEFAULT_MEDIA": {
            "OTIO_SCHEMA": "ExternalReference.1", "name": name, "metadata": {},
            "target_url": url, "available_range": _range(0, frames, fps),
            "available_image_bounds": None}},
    }


# -- contact sheet ------------------------------------------------------------------------------


def contact_sheet(path: Path, title: str, shots: list[dict], columns: int = 6) -> None:
    """A PNG of every shot's keyframe with its number, size and timing. ``shots`` items carry
    image (a PIL image), label, size, start and seconds."""
    from PIL import Image, ImageDraw, ImageFont

    thumb_w, thumb_h = 256, 144
    pad, caption = 12, 34
    rows = max((len(shots) + columns - 1) // columns, 1)
    header = 56
    sheet = Image.new("RGB", (pad + columns * (thumb_w + pad), header + rows * (thumb_h + caption + pad)),
                      (24, 24, 28))
    draw = ImageDraw.Draw(sheet)
    big = ImageFont.load_default(size=26)
    small = ImageFont.load_default(size=13)
    draw.text((pad, 14), title or "Storyboard", fill=(240, 240, 240), font=big)
    for index, shot in enumerate(shots):
        row, column = divmod(index, columns)
        x = pad + column * (thumb_w + pad)
        y = header + row * (thumb_h + caption + pad)
        image = shot["image"].copy()
        image.thumbnail((thumb_w, thumb_h))
        sheet.paste(image, (x + (thumb_w - image.width) // 2, y + (thumb_h - image.height) // 2))
        start, seconds = shot["start"], shot["seconds"]
        draw.text((x, y + thumb_h + 3), f"{shot['label']}  {shot['size']}", fill=(235, 235, 235), font=small)
        draw.text((x, y + thumb_h + 18), f"{_short_clock(start)} - {_short_clock(start + seconds)}  "
                  f"({seconds:.1f}s)", fill=(170, 170, 180), font=small)
    sheet.save(path, format="PNG", optimize=False)


def _short_clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"
