"""The film as an editor's timeline, through OpenTimelineIO: the cut as a video track (dissolves as
transitions, scene headings as markers), dialogue as a caption track, and the sound as its stems
(dialogue, music, effects) beside the finished mix, so an editor can recut and remix.

Written as `.otio` by OpenTimelineIO itself, and through its adapters as FCP 7 XML (Premiere,
Resolve, Final Cut Pro 7), FCPXML (Final Cut Pro) and a CMX 3600 EDL. Media are referenced by URLs
relative to the timeline file (``NAME.media/shot-1.mp4``), so the timeline resolves wherever its
folder is moved. The cache keeps a timeline whose URLs are relative to the media folder; ``install``
prefixes the media folder's name and writes each requested format.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

CAPTION_KIND = "Caption"          # OTIO names no caption kind; adapters skip tracks they don't know

# format name -> (OTIO adapter, file suffix); docs/cli.md says what each holds
FORMATS = {
    "otio": ("otio_json", ".otio"),
    "xml": ("fcp_xml", ".xml"),           # FCP 7 XML: Premiere, Resolve, Final Cut Pro 7
    "fcpxml": ("fcpx_xml", ".fcpxml"),    # Final Cut Pro
    "edl": ("cmx_3600", ".edl"),          # CMX 3600
}


def timeline_formats(requested: str | None) -> tuple[str, ...]:
    """The formats a build writes: always the .otio, plus those named (comma-separated)."""
    names = [name.strip().lower() for name in (requested or "").split(",") if name.strip()]
    unknown = [name for name in names if name not in FORMATS]
    if unknown:
        raise ValueError(f"unknown timeline format {', '.join(unknown)}; choose from "
                         f"{', '.join(FORMATS)}")
    return tuple(dict.fromkeys(["otio", *names]))


@dataclass(frozen=True, slots=True)
class ShotClip:
    name: str                   # "shot 3.2"
    media: str                  # file name inside the media folder
    frames: int
    transition_in: str          # cut, dissolve, fade_in
    dissolve_frames: int = 0
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Marker:
    frame: int                  # from the film's start
    name: str
    kind: str                   # "scene" or "dialogue"


@dataclass(frozen=True, slots=True)
class Caption:
    start_frame: int
    frames: int
    text: str


def shot_media(label: str) -> str:
    """The file name of a shot's clip in the media folder."""
    return f"shot-{label}.mp4"


def build_timeline(title: str, fps: float, shots: list[ShotClip], markers: list[Marker],
                   captions: list[Caption], audio: dict[str, str], total_frames: int):
    """The OTIO timeline. ``audio`` maps a track name ("Dialogue", "Music", "Effects", "Mix") to
    the file of that stem in the media folder; each plays the whole film from its start. The mix
    is a disabled track: the stems play, and add up to it."""
    import opentimelineio as otio

    def span(start: int, frames: int):
        return otio.opentime.TimeRange(otio.opentime.RationalTime(start, fps),
                                       otio.opentime.RationalTime(frames, fps))

    def clip(name: str, media: str, frames: int, metadata: dict | None = None):
        reference = otio.schema.ExternalReference(target_url=quote(media),
                                                  available_range=span(0, frames))
        return otio.schema.Clip(name=name, media_reference=reference, source_range=span(0, frames),
                                metadata={"moviola": metadata or {}})

    timeline = otio.schema.Timeline(name=title or "Moviola film", metadata={"moviola": {"fps": fps}})
    timeline.global_start_time = otio.opentime.RationalTime(0, fps)
    video = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    starts = []
    frame = 0
    for shot in shots:
        if shot.transition_in == "dissolve" and len(video) and shot.dissolve_frames:
            # the incoming shot's first frames hold the dissolve, rendered: the transition says
            # where and how long, starting at the cut (a side's media has no handles past its end)
            video.append(otio.schema.Transition(
                name="dissolve", transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=otio.opentime.RationalTime(0, fps),
                out_offset=otio.opentime.RationalTime(shot.dissolve_frames, fps)))
        video.append(clip(shot.name, shot.media, shot.frames, shot.metadata))
        starts.append(frame)
        frame += shot.frames
    colours = {"scene": otio.schema.MarkerColor.RED, "dialogue": otio.schema.MarkerColor.YELLOW}
    clips = list(video.find_clips())
    for marker in markers:
        # on the clip it falls in, in that clip's own time: EDL and XML writers read clip markers
        index = bisect_right(starts, marker.frame) - 1
        if index < 0:
            continue
        clips[index].markers.append(otio.schema.Marker(
            name=marker.name, color=colours[marker.kind], metadata={"moviola": {"kind": marker.kind}},
            marked_range=span(marker.frame - starts[index], 0)))
    timeline.tracks.append(video)

    captions_track = otio.schema.Track(name="Captions", kind=CAPTION_KIND)
    cursor = 0
    for caption in captions:
        start = max(caption.start_frame, cursor)
        if start > cursor:
            captions_track.append(otio.schema.Gap(source_range=span(0, start - cursor)))
        frames = max(min(caption.frames, total_frames - start), 1)
        captions_track.append(otio.schema.Clip(name=caption.text, source_range=span(0, frames),
                                               metadata={"moviola": {"caption": caption.text}}))
        cursor = start + frames
    timeline.tracks.append(captions_track)

    for name, media in audio.items():
        track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Audio)
        track.append(clip(name.lower(), media, total_frames))
        track.enabled = name != "Mix"
        timeline.tracks.append(track)
    return timeline


def write_cached(path: Path, timeline) -> None:
    """The timeline as the cache keeps it (media URLs relative to the media folder)."""
    import opentimelineio as otio

    otio.adapters.write_to_file(timeline, str(path), adapter_name="otio_json")


def install(cached: Path, stem: Path, media_dir: str, formats: tuple[str, ...]) -> dict[str, str]:
    """Write ``stem`` + each format's suffix from the cached timeline, with every media URL made
    relative to the timeline's folder (``media_dir/...``). Each file is written beside its target
    and renamed into place. Returns {format: path}."""
    import opentimelineio as otio

    timeline = otio.adapters.read_from_file(str(cached), adapter_name="otio_json")
    for clip in timeline.find_clips():
        reference = clip.media_reference
        if isinstance(reference, otio.schema.ExternalReference):
            reference.target_url = f"{quote(media_dir)}/{reference.target_url}"
    written = {}
    for name in formats:
        adapter, suffix = FORMATS[name]
        target = stem.with_name(stem.name + suffix)
        temporary = target.with_name(f".{target.name}.tmp")
        try:
            otio.adapters.write_to_file(_for_format(timeline, name), str(temporary),
                                        adapter_name=adapter)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        written[name] = str(target)
    return written


def _for_format(timeline, name: str):
    """What each format can hold: OTIO everything; the XML formats the video and audio tracks,
    dialogue as markers; an EDL the picture only (one video track)."""
    import opentimelineio as otio

    if name == "otio":
        return timeline
    copy = timeline.deepcopy()
    captions = [track for track in copy.tracks if track.kind == CAPTION_KIND]
    for track in captions:
        for caption in track.find_clips():
            where = track.range_of_child(caption).start_time
            _mark_at(copy, where, caption.name)
        copy.tracks.remove(track)
    if name == "edl":
        for track in [t for t in copy.tracks if t.kind == otio.schema.TrackKind.Audio]:
            copy.tracks.remove(track)
    if name == "fcpxml":
        for track in [t for t in copy.tracks if not t.enabled]:
            copy.tracks.remove(track)
    return copy


def _mark_at(timeline, when, text: str) -> None:
    """A dialogue marker on the video clip playing at ``when``."""
    import opentimelineio as otio

    video = next(t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video)
    for clip in video.find_clips():
        place = video.range_of_child(clip)
        if place.start_time <= when < place.end_time_exclusive():
            clip.markers.append(otio.schema.Marker(
                name=text, color=otio.schema.MarkerColor.YELLOW,
                metadata={"moviola": {"kind": "dialogue"}},
                marked_range=otio.opentime.TimeRange(when - place.start_time,
                                                     otio.opentime.RationalTime(0, when.rate))))
            return


def media_path(timeline_file: Path, url: str) -> Path:
    """Where a timeline's (relative) media URL points on disk."""
    return timeline_file.parent / unquote(url)
