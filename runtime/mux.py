"""The finished mp4: H.264 video joined from the cut segments without re-encoding, the mix's AAC
packets copied, and the subtitles as a mov_text track."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from .subtitles import Cue
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
