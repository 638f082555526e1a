"""End-to-end builds with the draft profile: decode the mp4 and check what a viewer gets."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from projects import annotated_project

from moviola.cli import main
from moviola.compiler.api import compile_file

ROOT = Path(__file__).parents[1]
SAMPLES = ROOT / "samples"


def build(script: Path, output: Path, report: Path) -> dict:
    code = main(["build", str(script), "-o", str(output), "--report", str(report), "--quiet"])
    assert code == 0
    return json.loads(report.read_text())


def decode(path: Path) -> dict:
    """Streams, frame count, audio samples and subtitle cues of an mp4."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        subtitle = container.streams.subtitles[0]
        facts = {
            "codecs": sorted((s.type, s.codec_context.name) for s in container.streams),
            "width": video.codec_context.width, "height": video.codec_context.height,
            "rate": float(video.average_rate), "pix_fmt": video.codec_context.pix_fmt,
        }
        frames = 0
        digest = hashlib.sha256()
        samples = []
        cues = []
        for packet in container.demux(video, audio, subtitle):
            if packet.stream.type == "subtitle":
                if packet.size > 2:
                    data = bytes(packet)
                    length = int.from_bytes(data[:2], "big")
                    start = float(packet.pts * packet.time_base)
                    cues.append((start, start + float(packet.duration * packet.time_base),
                                 data[2:2 + length].decode()))
                continue
            for frame in packet.decode():
                if packet.stream.type == "video":
                    frames += 1
                    digest.update(frame.to_ndarray().tobytes())
                else:
                    samples.append(frame.to_ndarray())
        facts["frames"] = frames
        facts["video_sha"] = digest.hexdigest()
        audio_data = np.concatenate(samples, axis=1) if samples else np.zeros((2, 0))
        facts["audio"] = audio_data
        facts["sample_rate"] = audio.codec_context.sample_rate
        facts["cues"] = cues
    return facts


@pytest.fixture(scope="module")
def sample_builds(tmp_path_factory):
    """Both samples, built once, in a copy of the samples folder (the cache goes beside them)."""
    work = tmp_path_factory.mktemp("samples")
    project = work / "samples"
    shutil.copytree(SAMPLES, project, ignore=shutil.ignore_patterns(".moviola", "out"))
    results = {}
    for name in ("the-wash-house", "the-night-ferry"):
        output = work / "out" / f"{name}.mp4"
        report = build(project / f"{name}.fountain", output, work / f"{name}.json")
        results[name] = (project / f"{name}.fountain", output, report)
    return results


@pytest.mark.parametrize("name", ["the-wash-house", "the-night-ferry"])
def test_sample_film_streams_duration_and_format(sample_builds, name):
    script, output, report = sample_builds[name]
    film = compile_file(script).film
    facts = decode(output)
    assert facts["codecs"] == [("audio", "aac"), ("subtitle", "mov_text"), ("video", "h264")]
    assert (facts["width"], facts["height"]) == film.settings.resolution
    assert facts["rate"] == pytest.approx(film.settings.fps, rel=1e-3)
    assert facts["pix_fmt"] == "yuv420p"
    # the picture is exactly the planned timeline, the sound as long (±1 frame)
    frames = round(report["film_seconds"] * film.settings.fps)
    assert abs(facts["frames"] - frames) <= 1
    audio_seconds = facts["audio"].shape[1] / facts["sample_rate"]
    assert audio_seconds == pytest.approx(report["film_seconds"], abs=1 / film.settings.fps + 0.05)
    assert 150 <= report["film_seconds"] <= 400


def _rms(audio: np.ndarray, rate: int, start: float, end: float) -> float:
    chunk = audio[:, int(start * rate):int(end * rate)]
    return float(np.sqrt(np.mean(chunk.astype(np.float64) ** 2))) if chunk.size else 0.0


@pytest.mark.parametrize("name", ["the-wash-house", "the-night-ferry"])
def test_subtitles_match_dialogue_and_speech_is_audible(sample_builds, name):
    script, output, report = sample_builds[name]
    film = compile_file(script).film
    spoken = [" ".join(line.text.split()) for shot in film.shots for line in shot.lines]
    facts = decode(output)
    cues = facts["cues"]
    # dual dialogue shares a cue, one line each
    assert [part for _, _, text in cues for part in text.split("\n")] == spoken
    srt = output.with_suffix(".srt").read_text()
    vtt = output.with_suffix(".vtt").read_text()
    assert vtt.startswith("WEBVTT") and all(text in srt and text in vtt for text in spoken)
    audio, rate = facts["audio"], facts["sample_rate"]
    peak = float(np.max(np.abs(audio)))
    assert 0.05 < peak <= 0.9999                       # audible, never clipped
    for start, end, text in cues:
        assert _rms(audio, rate, start, min(end, start + 1.0)) > 0.01, f"silent line: {text}"
    # cues are in order and inside the film
    starts = [start for start, _, _ in cues]
    assert starts == sorted(starts) and cues[-1][1] <= report["film_seconds"] + 0.01


def test_companions_are_written(sample_builds):
    _, output, report = sample_builds["the-wash-house"]
    otio = json.loads(output.with_suffix(".otio").read_text())
    assert otio["OTIO_SCHEMA"] == "Timeline.1"
    video_track = otio["tracks"]["children"][0]
    clips = [c for c in video_track["children"] if c["OTIO_SCHEMA"] == "Clip.2"]
    assert len(clips) == report["by_kind"]["clip"]["planned"]
    media = output.parent / f"{output.stem}.media"
    for clip in clips:
        url = clip["media_references"]["DEFAULT_MEDIA"]["target_url"]
        assert (output.parent / url).exists(), url
    total = sum(c["source_range"]["duration"]["value"] for c in clips)
    assert total == round(report["film_seconds"] * 24)
    assert (media / "mix.wav").exists()
    from PIL import Image

    sheet = Image.open(output.parent / f"{output.stem}.storyboard.png")
    assert sheet.width > 1000 and sheet.height > 600


def test_sample_film_is_identical_when_built_again_in_a_fresh_process(sample_builds, tmp_path):
    """A clean build in another process, with another hash seed and started seconds later,
    gives the same film: espeak's breathy voices (f2, f3, f5) once breathed differently."""
    script, output, _ = sample_builds["the-wash-house"]
    project = tmp_path / "samples"
    shutil.copytree(SAMPLES, project, ignore=shutil.ignore_patterns(".moviola", "out"))
    again = tmp_path / "again.mp4"
    env = dict(os.environ, PYTHONHASHSEED="977")
    subprocess.run([sys.executable, "-m", "moviola", "build", str(project / script.name), "-o",
                    str(again), "--quiet"], env=env, check=True, capture_output=True)
    first, second = decode(output), decode(again)
    assert first["audio"].shape == second["audio"].shape
    assert np.array_equal(first["audio"], second["audio"])
    assert first["video_sha"] == second["video_sha"]
    assert first["cues"] == second["cues"]


# -- incremental builds, interruption, determinism: on a short script ----------------------


@pytest.fixture
def short_project(tmp_path):
    return annotated_project(tmp_path / "film")


def test_rebuild_after_no_change_executes_nothing(short_project, tmp_path):
    script = short_project / "film.fountain"
    first = build(script, tmp_path / "a.mp4", tmp_path / "1.json")
    assert first["jobs"]["executed"] == first["jobs"]["planned"]
    second = build(script, tmp_path / "a.mp4", tmp_path / "2.json")
    assert second["jobs"]["executed"] == 0
    assert second["jobs"]["cached"] == second["jobs"]["planned"]


def test_one_line_edit_reruns_only_what_depends_on_it(short_project, tmp_path):
    script = short_project / "film.fountain"
    build(script, tmp_path / "a.mp4", tmp_path / "1.json")
    text = script.read_text()
    script.write_text(text.replace("Not now, Tom.", "Not now, Tommy.", 1))
    report = build(script, tmp_path / "a.mp4", tmp_path / "2.json")
    executed = {kind: data["executed"] for kind, data in report["by_kind"].items()}
    assert executed["speech"] == 1
    assert executed["keyframe"] == 0 and executed["sfx"] == 0
    # the shot holding that line renders again only if the line's length moved its frames
    assert executed["clip"] <= 1
    assert executed["mix"] == 1 and executed["mux"] == 1
    ran = {job["id"] for job in report["job_list"] if job["status"] == "executed"}
    assert any(job.startswith("speech:") for job in ran)
    assert report["jobs"]["executed"] <= 9


def test_build_is_deterministic(short_project, tmp_path):
    script = short_project / "film.fountain"
    first = build(script, tmp_path / "a.mp4", tmp_path / "1.json")
    shutil.rmtree(short_project / ".moviola")
    second = build(script, tmp_path / "b.mp4", tmp_path / "2.json")
    assert {j["id"]: j["key"] for j in first["job_list"]} == {j["id"]: j["key"] for j in second["job_list"]}
    a, b = decode(tmp_path / "a.mp4"), decode(tmp_path / "b.mp4")
    assert a["video_sha"] == b["video_sha"]
    assert np.array_equal(a["audio"], b["audio"])
    assert a["cues"] == b["cues"]


def test_killed_build_resumes_to_the_same_film(short_project, tmp_path):
    script = short_project / "film.fountain"
    reference = tmp_path / "reference"
    shutil.copytree(short_project, reference)
    build(reference / "film.fountain", tmp_path / "ref.mp4", tmp_path / "ref.json")

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "moviola", "build", str(script), "-o",
                                str(tmp_path / "killed.mp4")], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=env, start_new_session=True)
    objects = short_project / ".moviola" / "cache" / "objects"
    deadline = time.monotonic() + 60
    # wait until some, not all, jobs are in the cache, then kill it hard
    while time.monotonic() < deadline:
        if objects.exists() and sum(1 for _ in objects.glob("*/*")) >= 8:
            break
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "killed.mp4").exists()

    report = build(script, tmp_path / "resumed.mp4", tmp_path / "resumed.json")
    assert report["jobs"]["cached"] >= 8
    assert report["jobs"]["cached"] + report["jobs"]["executed"] == report["jobs"]["planned"]
    a, b = decode(tmp_path / "ref.mp4"), decode(tmp_path / "resumed.mp4")
    assert a["video_sha"] == b["video_sha"] and np.array_equal(a["audio"], b["audio"])
    assert a["cues"] == b["cues"]


def test_script_with_errors_does_not_build(tmp_path, capsys):
    script = tmp_path / "bad.fountain"
    script.write_text("INT. A - DAY\n\n[[shot: wide, 0s]]\nX.\n")
    assert main(["build", str(script), "-o", str(tmp_path / "x.mp4")]) == 1
    assert "error[E301]" in capsys.readouterr().out
    assert not (tmp_path / "x.mp4").exists()


def test_failing_job_names_the_shot_and_line(short_project, tmp_path, capsys):
    # a reference image that is not an image: the storyboard cannot read it
    (short_project / "assets" / "stone.png").write_bytes(b"not a png")
    code = main(["build", str(short_project / "film.fountain"), "-o", str(tmp_path / "x.mp4"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert "frame 2.2" in out and "(line 29)" in out and "assets/stone.png is not a readable image" in out
    assert "finished jobs are cached" in out           # the speech before it was kept


def test_cache_prune_keeps_what_the_last_build_used(short_project, tmp_path, capsys):
    script = short_project / "film.fountain"
    build(script, tmp_path / "a.mp4", tmp_path / "1.json")
    script.write_text(script.read_text().replace("Mist over the canal.", "Fog over the canal.", 1))
    report = build(script, tmp_path / "a.mp4", tmp_path / "2.json")
    assert main(["cache", str(script), "--prune"]) == 0
    out = capsys.readouterr().out
    assert "pruned" in out and "pruned 0 " not in out
    again = build(script, tmp_path / "a.mp4", tmp_path / "3.json")
    assert again["jobs"]["executed"] == 0 and report["jobs"]["executed"] > 0


def test_disk_full_is_reported_and_the_next_build_resumes(short_project, tmp_path, capsys, monkeypatch):
    import errno

    from moviola.runtime.backends.draft import jobs

    def full(self, task):
        raise OSError(errno.ENOSPC, "No space left on device")

    script = short_project / "film.fountain"
    with monkeypatch.context() as patch:
        patch.setattr(jobs.SfxBackend, "run", full)
        code = main(["build", str(script), "-o", str(tmp_path / "x.mp4"), "--quiet", "-j", "1"])
    out = capsys.readouterr().out
    assert code == 1 and "disk full while rendering sfx" in out
    report = build(script, tmp_path / "x.mp4", tmp_path / "r.json")
    assert report["jobs"]["cached"] > 0
    assert report["by_kind"]["sfx"]["executed"] == 1
