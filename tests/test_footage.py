"""Shots made from the writer's own footage (``[[shot: …; from: maquette.mp4]]``): routed to the
profile's ``footage`` backend; the draft plays the footage itself, at the film's rate."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from moviola.cli import main
from moviola.compiler.api import compile_text
from moviola.compiler.plan import plan
from moviola.compiler.profiles import parse_profiles

WIDTH, HEIGHT, FPS = 320, 180, 24
SOURCE_FRAMES = 48                 # 2 s of footage

SCRIPT = """EXT. MAQUETTE - DAY

[[shot: wide, static, 3s; from: footage/maquette.mp4]]
The paper village, lit from the side.

[[shot: close-up, 2s; from: footage/still.png]]
A paper door.

[[shot: medium, 2s]]
The light moves.
"""


def bar_position(rgb: np.ndarray) -> float:
    """The x of the bright vertical bar, in the frame's width fraction."""
    columns = rgb[HEIGHT // 4:HEIGHT // 2].mean(axis=(0, 2))
    bright = np.flatnonzero(columns > (columns.max() + columns.min()) / 2)
    return float(bright.mean() + 0.5) / rgb.shape[1]


def write_footage(path: Path, frames: int = SOURCE_FRAMES, fps: int = FPS) -> None:
    """A dark frame with a white bar sweeping left to right, one step per frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for index in range(frames):
            picture = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
            x = 20 + index * 5
            picture[:, x:x + 8] = 235
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture
def project(tmp_path) -> Path:
    write_footage(tmp_path / "footage" / "maquette.mp4")
    from PIL import Image

    Image.new("RGB", (WIDTH, HEIGHT), (200, 180, 150)).save(tmp_path / "footage" / "still.png")
    (tmp_path / "film.fountain").write_text(f"Resolution: {WIDTH}x{HEIGHT}\nFPS: {FPS}\n\n" + SCRIPT)
    return tmp_path


def clip_jobs(film_plan):
    return [job for job in film_plan.jobs if job.kind == "clip"]


def test_video_shots_render_under_the_footage_backend():
    film = compile_text(SCRIPT, "film.fountain").film
    video, image, plain = clip_jobs(plan(film, "draft"))
    assert (video.profile_kind, video.backend) == ("footage", "draft.footage")
    assert (image.profile_kind, image.backend) == ("clip", "draft.motion")
    assert (plain.profile_kind, plain.backend) == ("clip", "draft.motion")
    preview = clip_jobs(plan(film, "preview"))
    assert [job.backend for job in preview] == ["diffusers.video_to_video",
                                                "diffusers.image_to_video",
                                                "diffusers.image_to_video"]
    # a clip backend under footage animates the keyframe instead
    profiles = parse_profiles('[profiles.still.footage]\nbackend = "draft.motion"\n')
    assert clip_jobs(plan(film, profiles["still"]))[0].backend == "draft.motion"


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_draft_plays_the_footage_at_the_film_rate_then_holds(project, tmp_path):
    output, report = tmp_path / "film.mp4", tmp_path / "report.json"
    assert main(["build", str(project / "film.fountain"), "-o", str(output),
                 "--report", str(report), "--quiet"]) == 0
    frames = decoded_frames(output)
    assert frames[0].shape == (HEIGHT, WIDTH, 3)
    shot = frames[:3 * FPS]
    positions = [bar_position(frame) for frame in shot]
    expected = [(20 + min(i, SOURCE_FRAMES - 1) * 5 + 4) / WIDTH for i in range(len(shot))]
    # the footage plays frame for frame (the bar sweeps), then its last frame holds
    assert np.allclose(positions, expected, atol=3 / WIDTH)
    assert positions[-1] == positions[SOURCE_FRAMES]
    data = json.loads(report.read_text())
    footage = [job for job in data["job_list"] if job["kind"] == "clip"]
    assert len(footage) == 3


def test_editing_the_footage_renders_that_shot_again(project, tmp_path):
    script = project / "film.fountain"
    args = ["build", str(script), "-o", str(tmp_path / "film.mp4"), "--quiet",
            "--report", str(tmp_path / "report.json")]
    assert main(args) == 0
    write_footage(project / "footage" / "maquette.mp4", frames=30)
    assert main(args) == 0
    data = json.loads((tmp_path / "report.json").read_text())
    executed = sorted(job["kind"] for job in data["job_list"] if job["status"] == "executed"
                      and job["kind"] in ("keyframe", "clip"))
    assert executed == ["clip", "keyframe"]        # that shot's keyframe (a still of it) and clip


def test_unreadable_footage_names_the_shot(project, tmp_path, capsys):
    (project / "footage" / "maquette.mp4").write_bytes(b"not a video")
    code = main(["build", str(project / "film.fountain"), "-o", str(tmp_path / "film.mp4"),
                 "--quiet"])
    assert code != 0
    captured = capsys.readouterr()
    said = captured.out + captured.err
    assert "(line 6) failed" in said
    assert "footage/maquette.mp4 is not a readable video (Invalid data" in said
    assert str(project) not in said
