"""A whole film built with model backends, through the user's path: a moviola.toml profile
pointing at tiny random-weight models saved in the project, then `moviola build --profile`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

import tiny_audio_models  # noqa: E402
import tiny_models  # noqa: E402
from projects import TINY_KEYFRAMES_TOML  # noqa: E402
from test_build import decode  # noqa: E402
from test_footage import write_footage  # noqa: E402
from test_recorded_takes import voiced  # noqa: E402

from moviola.cli import main  # noqa: E402
from moviola.runtime.audio_io import write_wav  # noqa: E402

SCRIPT = """\
Title: Tiny
Resolution: 96x64
FPS: 12
Seed: 3

[[location ROOM: a small room with a window]]
[[character ANA: a woman; voice: voices/ana.wav]]
[[theme HUM: a soft drone, 60 bpm]]

INT. ROOM - DAY

[[music: HUM, fade in 1s]]
[[shot: wide, 1.5s]]
A window.

[[shot: close-up, 1s]]
[[sfx: a door clicks, 1s]]
ANA
Hello there.

[[shot: medium, 1s; from: footage/maquette.mp4]]
The paper room, filmed.

ANA
[[voice: from: takes/ana.wav]]
It was here.
"""

TOML = TINY_KEYFRAMES_TOML + """\
batch_size = 2
[profiles.tiny.clip]
backend = "diffusers.image_to_video"
model = "models/svd"
dtype = "float32"
steps = 2
resolution = "32x32"
frames = 3
[profiles.tiny.footage]
backend = "diffusers.video_to_video"
model = "models/sd"
dtype = "float32"
steps = 2
resolution = "64x48"
batch_size = 4
options = { strength = 0.5 }
[profiles.tiny.speech]
backend = "transformers.tts"
model = "models/vits"
[profiles.tiny.performance]
backend = "transformers.voice_conversion"
model = "models/vc"
options = { vocoder = "models/hifigan", speaker_encoder = "models/wavlm" }
[profiles.tiny.music]
backend = "transformers.musicgen"
model = "models/musicgen"
[profiles.tiny.sfx]
backend = "transformers.musicgen"
model = "models/musicgen"
"""


pytestmark = [pytest.mark.models, pytest.mark.usefixtures("torch_one_thread"),
              pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")]


@pytest.fixture(scope="module")
def project(tmp_path_factory, torch_one_thread):
    root = tmp_path_factory.mktemp("tiny-film")
    tiny_models.build_text_to_image(root / "models" / "sd")
    tiny_models.build_image_to_video(root / "models" / "svd")
    tiny_audio_models.build_vits(root / "models" / "vits")
    tiny_audio_models.build_musicgen(root / "models" / "musicgen")
    write_footage(root / "footage" / "maquette.mp4", frames=12)
    tiny_audio_models.build_speecht5_vc(root / "models" / "vc")
    tiny_audio_models.build_speecht5_hifigan(root / "models" / "hifigan")
    tiny_audio_models.build_wavlm_xvector(root / "models" / "wavlm")
    (root / "voices").mkdir()
    (root / "takes").mkdir()
    write_wav(root / "voices" / "ana.wav", voiced(220.0, 1.2, 16000), 16000)
    write_wav(root / "takes" / "ana.wav", voiced(120.0, 1.0, 16000), 16000)
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
    # two lines: one spoken by VITS, one converted from the writer's take by SpeechT5
    assert executed["keyframe"] == 4 and executed["speech"] == 2 and executed["music"] == 1
    assert executed["clip"] == 4
    # each model loaded once for the whole build, however many jobs it rendered: the SD
    # weights draw the keyframes and restyle the footage (its image-to-image sibling)
    assert report["models"] and all(stats["loads"] == 1 for stats in report["models"].values())
    assert sum(name.startswith("diffusers:") for name in report["models"]) == 2     # SD, SVD
    facts = decode(project / "out" / "first.mp4")
    assert (facts["width"], facts["height"]) == (96, 64) and facts["rate"] == 12
    assert abs(facts["frames"] - round(report["film_seconds"] * 12)) <= 1
    assert facts["audio"].shape[1] / facts["sample_rate"] == pytest.approx(report["film_seconds"], abs=0.15)
    assert [text for _, _, text in facts["cues"]] == ["Hello there.", "It was here."]
    start, end, _ = facts["cues"][1]
    assert end - start == pytest.approx(1.0, abs=0.1)           # the take's timing is kept
    assert any("models/vc" in name for name in report["models"])

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


def test_take_without_the_characters_voice_stops_before_any_rendering(project, capsys, tmp_path):
    script = tmp_path / "film.fountain"
    script.write_text(SCRIPT.replace("; voice: voices/ana.wav", ""))
    for folder in ("models", "takes", "footage"):       # links out of a project are refused
        shutil.copytree(project / folder, tmp_path / folder)
    (tmp_path / "moviola.toml").write_text(TOML)
    code = main(["build", str(script), "--profile", "tiny", "-o", str(tmp_path / "x.mp4"),
                 "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert "cannot build with the tiny profile" in out
    assert "(line 26): ANA has no `voice:` recording to turn the take into" in out
    assert "finished jobs are cached" not in out                # nothing ran
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / ".moviola").exists()


def test_a_prompt_the_model_cuts_is_a_warning_of_every_build_that_uses_it(project, capsys,
                                                                           tmp_path):
    """CLIP reads 77 tokens: the shot whose prompt runs past them is named, with the words the
    model will not see (the film's style is kept), in the build's output and its report, from
    the cache too."""
    shutil.copytree(project / "models" / "sd", tmp_path / "models" / "sd")
    (tmp_path / "moviola.toml").write_text(TINY_KEYFRAMES_TOML)
    script = tmp_path / "film.fountain"
    script.write_text("Title: Cut\nResolution: 96x64\nFPS: 12\nStyle: grainy sixteen millimetre\n\n"
                      "INT. ROOM - DAY\n\n[[shot: wide, 1s]]\nThe lamplight trembles across "
                      "the peeling wallpaper while rainwater gathers under the windowsill.\n\n"
                      "[[shot: close-up, 1s]]\nA cup.\n")

    def build(name: str) -> tuple[dict, str]:
        report = tmp_path / f"{name}.json"
        code = main(["build", str(script), "--profile", "tiny", "-o",
                     str(tmp_path / f"{name}.mp4"), "--report", str(report), "--quiet"])
        assert code == 0
        return json.loads(report.read_text()), capsys.readouterr().out

    report, out = build("first")
    [notice] = report["notices"]                   # the wide shot's, not the cup's
    assert notice["job"].startswith("keyframe:") and notice["line"] == 8
    assert "models/sd (StableDiffusionPipeline) reads 77 tokens" in notice["text"]
    left_out = notice["text"].split('"')[1]          # the words before the style, not it
    assert "windowsill" in left_out and "millimetre" not in left_out
    assert "(the film's style kept)" in notice["text"]
    assert f"warning: line 8, {notice['text']}" in " ".join(out.split())
    again, out = build("second")
    assert again["jobs"]["executed"] == 0 and again["notices"] == report["notices"]
    assert "warning:" in out
