"""The editor's timelines (runtime/nle.py) from a real build: OpenTimelineIO reads them back, and
clips, durations, dissolves, markers, captions, stems and media paths match what was built, also
after the output folder is moved; the FCP XML, FCPXML and EDL adapters' files parse back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest

from projects import GOLDEN, annotated_project

from moviola.cli import main
from moviola.compiler.api import compile_file
from moviola.compiler.plan import plan as make_plan
from moviola.runtime import nle
from moviola.runtime.audio_io import read_wav
from moviola.runtime.timeline import DISSOLVE



@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("nle")
    project = annotated_project(work / "film")
    output = work / "out" / "cut.mp4"
    code = main(["build", str(project / "film.fountain"), "-o", str(output), "--quiet",
                 "--report", str(work / "report.json"), "--timeline", "xml,fcpxml,edl"])
    assert code == 0
    film = compile_file(project / "film.fountain").film
    return output, json.loads((work / "report.json").read_text()), film


def _video(timeline):
    return next(t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video)


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def test_otio_matches_the_build(built):
    output, report, film = built
    timeline = otio.adapters.read_from_file(str(output.with_suffix(".otio")))
    video = _video(timeline)
    clips = list(video.find_clips())
    cuts = make_plan(film).cuts
    assert [c.name for c in clips] == [f"shot {cut.label}" for cut in cuts]
    assert len(clips) == report["by_kind"]["clip"]["planned"]
    # each clip lasts what its rendered segment holds, and together they are the film
    for clip in clips:
        media = nle.media_path(output.with_suffix(".otio"), clip.media_reference.target_url)
        assert clip.source_range.duration.value == _frames(media), clip.name
    assert video.duration().value == round(report["film_seconds"] * film.settings.fps)
    # one dissolve where the script dissolves, starting at the cut, as long as the rendered one
    dissolves = [item for item in video if isinstance(item, otio.schema.Transition)]
    expected = [cut for cut in cuts[1:] if cut.transition_in == "dissolve"]
    assert len(dissolves) == len(expected) == 1
    assert dissolves[0].in_offset.value == 0
    assert dissolves[0].out_offset.value == round(DISSOLVE * film.settings.fps)
    # scene headings as markers on the scenes' first shots
    headings = [m.name for c in clips for m in c.markers if m.metadata["moviola"]["kind"] == "scene"]
    assert headings == [scene.heading for scene in film.scenes if scene.heading]


def test_dialogue_is_a_caption_track_and_the_stems_are_audio_tracks(built):
    output, report, film = built
    timeline = otio.adapters.read_from_file(str(output.with_suffix(".otio")))
    captions = next(t for t in timeline.tracks if t.kind == nle.CAPTION_KIND)
    srt = output.with_suffix(".srt").read_text()
    texts = [clip.name for clip in captions.find_clips()]
    spoken = [" ".join(line.text.split()) for shot in film.shots for line in shot.lines]
    assert [part for text in texts for part in text.split("\n")] == spoken
    assert all(text in srt for text in texts)
    audio = {t.name: t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio}
    assert list(audio) == ["Dialogue", "Music", "Effects", "Mix"]
    assert not audio["Mix"].enabled and audio["Dialogue"].enabled
    for track in audio.values():
        (clip,) = track.find_clips()
        assert clip.source_range.duration.value == _video(timeline).duration().value
        assert nle.media_path(output.with_suffix(".otio"), clip.media_reference.target_url).exists()


def test_stems_sum_to_the_mix_and_hold_the_films_sound(built):
    output, _, _ = built
    media = output.parent / f"{output.stem}.media"
    mix, rate = read_wav(media / "mix.wav")
    stems = {name: read_wav(media / f"{name}.wav")[0] for name in ("dialogue", "music", "effects")}
    assert all(stem.shape == mix.shape for stem in stems.values())
    total = stems["dialogue"] + stems["music"] + stems["effects"]
    # the stems are the mix before its limiter, each rounded to 16 bits
    under = np.abs(mix) < 0.5
    assert under.mean() > 0.99
    assert np.max(np.abs(total[under] - mix[under])) <= 2.5 / 32767
    for name, stem in stems.items():
        assert np.sqrt(np.mean(stem.astype(np.float64) ** 2)) > 1e-3, name
    # the effect (a ratchet) sounds in the effects stem only around its cue, not everywhere
    effects = np.abs(stems["effects"]).max(axis=1)
    assert 0.01 < (effects > 1e-3).mean() < 0.9


def test_media_resolve_after_the_folder_moves(built, tmp_path):
    output, _, _ = built
    moved = tmp_path / "elsewhere"
    shutil.copytree(output.parent, moved)
    timeline_file = moved / output.with_suffix(".otio").name
    timeline = otio.adapters.read_from_file(str(timeline_file))
    urls = [clip.media_reference.target_url for clip in timeline.find_clips()
            if isinstance(clip.media_reference, otio.schema.ExternalReference)]
    assert urls and all(not url.startswith(("/", "file:")) for url in urls)
    assert all(nle.media_path(timeline_file, url).exists() for url in urls)
    xml = otio.adapters.read_from_file(str(moved / f"{output.stem}.xml"))
    assert all(nle.media_path(timeline_file, clip.media_reference.target_url).exists()
               for clip in xml.find_clips())


def test_adapters_outputs_parse_back(built):
    output, report, film = built
    clips = report["by_kind"]["clip"]["planned"]
    frames = round(report["film_seconds"] * film.settings.fps)
    headings = {scene.heading.upper() for scene in film.scenes if scene.heading}

    xml = otio.adapters.read_from_file(str(output.with_suffix(".xml")))
    assert len(list(_video(xml).find_clips())) == clips
    assert _video(xml).duration().value == frames
    assert len([t for t in xml.tracks if t.kind == otio.schema.TrackKind.Audio]) == 4
    names = {m.name.upper() for c in xml.find_clips() for m in c.markers}
    assert headings <= names                        # scene headings
    assert any("NOT NOW" in name for name in names)  # dialogue, as markers

    fcpxml = otio.adapters.read_from_file(str(output.with_suffix(".fcpxml")))
    assert len(list(_video(fcpxml).find_clips())) == clips

    edl = otio.adapters.read_from_file(str(output.with_suffix(".edl")), rate=film.settings.fps)
    video = _video(edl)
    assert len(list(video.find_clips())) == clips
    assert video.duration().value == frames
    assert len([i for i in video if isinstance(i, otio.schema.Transition)]) == 1
    assert headings <= {m.name.upper() for c in video.find_clips() for m in c.markers}


def test_unknown_timeline_format_is_refused_before_rendering(tmp_path, capsys):
    script = tmp_path / "film.fountain"
    shutil.copy(GOLDEN / "annotated.fountain", script)
    assert main(["build", str(script), "--timeline", "aaf", "--quiet"]) == 2
    assert "unknown timeline format aaf" in capsys.readouterr().out
    assert not (tmp_path / ".moviola").exists()
    assert nle.timeline_formats("edl, XML,edl") == ("otio", "edl", "xml")
