"""A whole film built with model backends, through the user's path: a moviola.toml profile
pointing at tiny random-weight models saved in the project, then `moviola build --profile`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

import tiny_audio_models  # noqa: E402
import tiny_models  # noqa: E402
from test_build import decode  # noqa: E402

from moviola.cli import main  # noqa: E402

SCRIPT = """\
Title: Tiny
Resolution: 96x64
FPS: 12
Seed: 3

[[location ROOM: a small room with a window]]
[[character ANA: a woman]]
[[theme HUM: a soft drone, 60 bpm]]

INT. ROOM - DAY

[[music: HUM, fade in 1s]]
[[shot: wide, 1.5s]]
A window.

[[shot: close-up, 1s]]
[[sfx: a door clicks, 1s]]
ANA
Hello there.
"""

TOML = """\
[profiles.tiny]
device = "cpu"
[profiles.tiny.keyframe]
backend = "diffusers.text_to_image"
model = "models/sd"
dtype = "float32"
steps = 2
resolution = "64x48"
batch_size = 2
[profiles.tiny.clip]
backend = "diffusers.image_to_video"
model = "models/svd"
dtype = "float32"
steps = 2
resolution = "32x32"
frames = 3
[profiles.tiny.speech]
backend = "transformers.tts"
model = "models/vits"
[profiles.tiny.music]
backend = "transformers.musicgen"
model = "models/musicgen"
[profiles.tiny.sfx]
backend = "transformers.musicgen"
model = "models/musicgen"
"""


pytestmark = [pytest.mark.usefixtures("torch_one_thread"),
              pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")]


@pytest.fixture(scope="module")
def project(tmp_path_factory, torch_one_thread):
    root = tmp_path_factory.mktemp("tiny-film")
    tiny_models.build_text_to_image(root / "models" / "sd")
    tiny_models.build_image_to_video(root / "models" / "svd")
    tiny_audio_models.build_vits(root / "models" / "vits")
    tiny_audio_models.build_musicgen(root / "models" / "musicgen")
    (root / "moviola.toml").write_text(TOML)
    (root / "film.fountain").write_text(SCRIPT)
    return root


def build(project: Path, name: str) -> dict:
    report = project / f"{name}.json"
    code = main(["build", str(project / "film.fountain"), "--profile", "tiny", "-o",
                 str(project / "out" / f"{name}.mp4"), "--report", str(report), "--quiet"])
    assert code == 0
    return json.loads(report.read_text())


def test_tiny_models_make_a_film_loaded_once_and_cached(project):
    report = build(project, "first")
    assert report["profile"] == "tiny"
    executed = {kind: data["executed"] for kind, data in report["by_kind"].items()}
    assert executed["keyframe"] == 3 and executed["speech"] == 1 and executed["music"] == 1
    # each model loaded once for the whole build, however many jobs it rendered
    assert report["models"] and all(stats["loads"] == 1 for stats in report["models"].values())
    facts = decode(project / "out" / "first.mp4")
    assert (facts["width"], facts["height"]) == (96, 64) and facts["rate"] == 12
    assert abs(facts["frames"] - round(report["film_seconds"] * 12)) <= 1
    assert facts["audio"].shape[1] / facts["sample_rate"] == pytest.approx(report["film_seconds"], abs=0.15)
    assert [text for _, _, text in facts["cues"]] == ["Hello there."]

    again = build(project, "second")
    assert again["jobs"]["executed"] == 0
    second = decode(project / "out" / "second.mp4")
    assert second["video_sha"] == facts["video_sha"]
    assert np.array_equal(second["audio"], facts["audio"])


def test_missing_model_stops_before_any_rendering(project, capsys, tmp_path):
    (project / "moviola.toml").write_text(TOML.replace('model = "models/svd"', 'model = "models/nowhere"'))
    try:
        code = main(["build", str(project / "film.fountain"), "--profile", "tiny", "-o",
                     str(tmp_path / "x.mp4"), "--quiet"])
    finally:
        (project / "moviola.toml").write_text(TOML)
    out = capsys.readouterr().out
    assert code == 1
    assert "models/nowhere" in out and "not found" in out
    assert not (tmp_path / "x.mp4").exists()


def test_plan_knows_what_a_model_build_rendered(project, capsys):
    build(project, "for-plan")
    capsys.readouterr()
    assert main(["plan", str(project / "film.fountain"), "--profile", "tiny", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {job["state"] for job in data["jobs"]} == {"cached"}
