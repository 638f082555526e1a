"""The LoRA trainer (runtime/training) on tiny random-weight models, CPU: it learns (the loss on
the pictures goes down), one seed gives one set of weights, a training killed with SIGKILL
resumes from its checkpoint to the very same weights, captions reach the text encoder, and the
LoRA it writes changes a film's keyframes through the ordinary `lora:` setting of a profile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

import tiny_image_models  # noqa: E402
import tiny_models  # noqa: E402
from projects import TINY_KEYFRAMES_TOML  # noqa: E402
from test_build import decode  # noqa: E402

from moviola.cli import main  # noqa: E402
from moviola.runtime import training  # noqa: E402
from moviola.runtime.training import TrainSettings, train_lora  # noqa: E402

pytestmark = [pytest.mark.models, pytest.mark.usefixtures("torch_one_thread"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore:No LoRA keys:UserWarning")]

TRIGGER = "room place"
FAST = dict(rank=4, resolution=32, device="cpu", learning_rate=3e-2)

SCRIPT = """\
Title: Trained
Resolution: 96x64
FPS: 12
Seed: 3

[[location ROOM: a small room with striped walls; refs: refs/room/]]

INT. ROOM - DAY

[[shot: wide, 1s]]
The striped room, empty.
"""

TOML = TINY_KEYFRAMES_TOML + """\

[profiles.tiny-lora]
base = "tiny"
[profiles.tiny-lora.keyframe]
lora = "loras/room.safetensors"

[profiles.pickled]
base = "tiny"
[profiles.pickled.keyframe]
model = "models/pickled"
"""


def write_pictures(folder: Path) -> None:
    """Three pictures of one distinctive pattern (stripes and a blue grid), in three aspect
    ratios (three buckets); the first has a sidecar caption."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index, (width, height) in enumerate([(64, 64), (96, 64), (64, 96)]):
        pixels = np.full((height, width, 3), 40, np.uint8)
        pixels[::8] = 230
        pixels[:, ::16, 2] = 200
        Image.fromarray(pixels).save(folder / f"photo{index}.png")
    (folder / "photo0.txt").write_text("striped walls in morning light\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory, torch_one_thread):
    root = tmp_path_factory.mktemp("training")
    tiny_models.build_text_to_image(root / "models" / "sd")
    write_pictures(root / "refs" / "room")
    (root / "film.fountain").write_text(SCRIPT)
    (root / "moviola.toml").write_text(TOML)
    return root


def train(project: Path, output: str, dataset="refs/room", events=None, checkpoints=None, **settings):
    return train_lora("models/sd", project, dataset, project / output, trigger=TRIGGER,
                      description="a small room with striped walls",
                      settings=TrainSettings(**{**FAST, **settings}),
                      checkpoint_dir=checkpoints or project / ".moviola" / "train" / output,
                      on_event=events.append if isinstance(events, list) else events)


def weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def identical(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_captions_come_from_sidecars_else_the_description_led_by_the_trigger(project):
    examples = training.load_examples(project, ["refs/room"], TRIGGER, "a small room")
    assert [(e.path, e.caption) for e in examples] == [
        ("refs/room/photo0.png", "room place, striped walls in morning light"),
        ("refs/room/photo1.png", "room place, a small room"),
        ("refs/room/photo2.png", "room place, a small room")]
    assert [e.size for e in examples] == [(64, 64), (96, 64), (64, 96)]
    assert training.trigger_phrase("WASH-HOUSE", "location") == "wash-house place"
    assert training.trigger_phrase("Ana", "character") == "ana person"
    with pytest.raises(training.DatasetError, match="outside the project"):
        training.load_examples(project, ["../elsewhere"], TRIGGER)
    (project / "empty").mkdir(exist_ok=True)
    with pytest.raises(training.DatasetError, match="no images"):
        training.load_examples(project, ["empty"], TRIGGER)
    (project / "broken").mkdir(exist_ok=True)
    data = (project / "refs" / "room" / "photo1.png").read_bytes()
    (project / "broken" / "cut.png").write_bytes(data[:len(data) // 2])      # a truncated copy
    with pytest.raises(training.DatasetError, match="cut.png: not a readable image"):
        training.load_examples(project, ["broken"], TRIGGER)
    (project / "captioned").mkdir(exist_ok=True)
    (project / "captioned" / "a.png").write_bytes(data)
    (project / "captioned" / "a.txt").write_text("Room place at dusk")
    assert training.load_examples(project, ["captioned"], TRIGGER)[0].caption == "Room place at dusk"


def test_training_lowers_the_loss_and_writes_a_diffusers_lora(project):
    events: list = []
    result = train(project, "learn.safetensors", events=events, steps=40, checkpoint_every=10)
    assert result.loss_after < 0.97 * result.loss_before
    started, *steps, finished = [e for e in events if not isinstance(e, training.CheckpointSaved)]
    assert isinstance(started, training.TrainStarted) and started.start_step == 0
    assert started.buckets == {"28x40": 1, "32x32": 1, "40x28": 1}        # one per aspect ratio
    assert [e.step for e in steps] == list(range(1, 41)) and steps[-1].eta_seconds == 0
    assert all(np.isfinite(e.loss) and e.seconds_per_step > 0 for e in steps)
    assert [e.step for e in events if isinstance(e, training.CheckpointSaved)] == [10, 20, 30]
    assert isinstance(finished, training.TrainFinished) and finished.loss_after == result.loss_after
    lora = weights(project / "learn.safetensors")
    assert lora and all(name.startswith("unet.") for name in lora)
    assert any("attn2.to_k" in name for name in lora) and all("lora" in name for name in lora)
    # the checkpoint is gone once the LoRA is written
    assert not (project / ".moviola" / "train" / "learn.safetensors" / "checkpoint.safetensors").exists()


def test_one_seed_gives_one_set_of_weights(project):
    train(project, "a.safetensors", steps=6)
    train(project, "b.safetensors", steps=6)
    train(project, "c.safetensors", steps=6, seed=1)
    assert identical(weights(project / "a.safetensors"), weights(project / "b.safetensors"))
    assert not identical(weights(project / "a.safetensors"), weights(project / "c.safetensors"))


def test_a_different_caption_trains_different_weights(project):
    import shutil

    shutil.copytree(project / "refs" / "room", project / "refs" / "recaptioned")
    (project / "refs" / "recaptioned" / "photo1.txt").write_text("a dark corridor at night")
    train(project, "captioned.safetensors", steps=4)
    train(project, "recaptioned.safetensors", dataset="refs/recaptioned", steps=4)
    assert not identical(weights(project / "captioned.safetensors"),
                         weights(project / "recaptioned.safetensors"))


CHILD = """\
import json, sys
import torch
torch.set_num_threads(1)
from moviola.runtime.training import CheckpointSaved, TrainSettings, train_lora
def show(event):
    if isinstance(event, CheckpointSaved):
        print("checkpoint", event.step, flush=True)
project, output, settings, checkpoints = sys.argv[1:]
train_lora("models/sd", project, "refs/room", output, trigger=%r,
           description="a small room with striped walls",
           settings=TrainSettings(**json.loads(settings)), checkpoint_dir=checkpoints,
           on_event=show)
""" % TRIGGER


def test_a_killed_training_resumes_to_the_same_weights(project):
    settings = {**FAST, "steps": 30, "checkpoint_every": 3}
    checkpoints = project / ".moviola" / "train" / "killed"
    output = project / "resumed.safetensors"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(project), str(output), json.dumps(settings),
         str(checkpoints)], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    try:
        for line in child.stdout:
            if line.strip() == "checkpoint 6":
                child.send_signal(signal.SIGKILL)
                break
    finally:
        child.wait(timeout=120)
    assert child.returncode == -signal.SIGKILL
    assert not output.exists() and (checkpoints / "checkpoint.safetensors").is_file()

    resumed = train(project, "resumed.safetensors", checkpoints=checkpoints, **settings)
    assert 6 <= resumed.resumed_from < 30
    assert len(resumed.losses) == 30 - resumed.resumed_from
    whole = train(project, "whole.safetensors", checkpoints=project / ".moviola" / "train" / "whole",
                  **settings)
    assert whole.resumed_from == 0
    assert identical(weights(output), weights(project / "whole.safetensors"))


def test_a_checkpoint_resumes_only_the_training_it_belongs_to(project):
    checkpoints = project / ".moviola" / "train" / "other"

    def stop_after_checkpoint(event):
        if isinstance(event, training.CheckpointSaved):
            raise KeyboardInterrupt                      # Ctrl-C right after step 2's checkpoint

    def interrupted(**settings):
        with pytest.raises(KeyboardInterrupt):
            train(project, "other.safetensors", checkpoints=checkpoints,
                  events=stop_after_checkpoint, steps=4, checkpoint_every=2, **settings)
        assert (checkpoints / "checkpoint.safetensors").is_file()

    interrupted(rank=2)
    events: list = []
    train(project, "other.safetensors", checkpoints=checkpoints, events=events, steps=4,
          checkpoint_every=2)                             # rank 4: another training
    assert events[0].start_step == 0
    interrupted(rank=2)
    events = []
    train(project, "other.safetensors", checkpoints=checkpoints, events=events, steps=4,
          checkpoint_every=3, rank=2)                     # how often it saves does not matter
    assert events[0].start_step == 2


def test_sdxl_v_prediction_trains_and_its_lora_changes_the_picture(project):
    from diffusers import StableDiffusionXLPipeline

    tiny_models.build_sdxl(project / "models" / "xl", prediction_type="v_prediction")
    result = train_lora("models/xl", project, "refs/room", project / "xl.safetensors",
                        trigger=TRIGGER, settings=TrainSettings(**FAST, steps=30,
                                                                gradient_checkpointing=True))
    assert result.loss_after < 0.97 * result.loss_before
    pipe = StableDiffusionXLPipeline.from_pretrained(str(project / "models" / "xl"),
                                                     use_safetensors=True, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)

    def picture():
        return pipe(prompt=TRIGGER, num_inference_steps=2, height=32, width=32, output_type="np",
                    generator=torch.Generator().manual_seed(0)).images[0]

    before = picture()
    pipe.load_lora_weights(str(project / "xl.safetensors"))
    assert np.abs(picture() - before).max() > 1e-3


def test_flux_trains_with_flow_matching_and_its_lora_changes_the_picture(project):
    from diffusers import FluxPipeline

    tiny_models.build_flux(project / "models" / "flux")
    result = train_lora("models/flux", project, "refs/room", project / "flux.safetensors",
                        trigger=TRIGGER, settings=TrainSettings(**FAST, steps=30))
    assert result.loss_after < 0.97 * result.loss_before
    lora = weights(project / "flux.safetensors")
    assert all(name.startswith("transformer.") for name in lora)
    assert any("add_k_proj" in name for name in lora)             # the joint attention too
    assert any("attn.to_q.lora_A" in name for name in lora)        # under the names it loads by
    pipe = FluxPipeline.from_pretrained(str(project / "models" / "flux"), use_safetensors=True,
                                        local_files_only=True)
    pipe.set_progress_bar_config(disable=True)

    def picture():
        return pipe(prompt=TRIGGER, num_inference_steps=2, height=32, width=32, output_type="np",
                    max_sequence_length=16, generator=torch.Generator().manual_seed(0)).images[0]

    before = picture()
    pipe.load_lora_weights(str(project / "flux.safetensors"))
    assert np.abs(picture() - before).max() > 1e-3


@pytest.mark.parametrize("family, build, pipeline_class, targets", [
    ("flux2-klein", tiny_image_models.build_flux2_klein, "Flux2KleinPipeline",
     ("add_k_proj", "to_qkv_mlp_proj")),            # both stream kinds' attention
    ("z-image", tiny_image_models.build_z_image, "ZImagePipeline", ("to_k",)),
], ids=["flux2-klein", "z-image"])
def test_the_builtin_profiles_keyframe_families_train_and_their_lora_changes_the_picture(
        project, family, build, pipeline_class, targets):
    """preview's FLUX.2 klein and final's Z-Image: a train job under those profiles trains
    their own keyframe model, the loss falls, the LoRA loads as the keyframe backend loads it."""
    import diffusers

    folder = build(project / "models" / family)
    settings = TrainSettings(**FAST, steps=60, seed=3)
    result = train_lora(f"models/{family}", project, "refs/room",
                        project / f"{family}.safetensors", trigger=TRIGGER, settings=settings)
    assert result.loss_after < 0.97 * result.loss_before
    lora = weights(project / f"{family}.safetensors")
    assert lora and all(name.startswith("transformer.") for name in lora)
    # every adapted projection saved as the pipeline's loader reads it back (peft's names)
    assert all(name.endswith(("lora_A.weight", "lora_B.weight")) for name in lora)
    assert all(any(f"{target}.lora_A" in name for name in lora) for target in targets + ("to_q",))
    again = train_lora(f"models/{family}", project, "refs/room",
                       project / f"{family}-again.safetensors", trigger=TRIGGER, settings=settings)
    assert again.loss_after == result.loss_after
    assert identical(lora, weights(project / f"{family}-again.safetensors"))   # one seed
    pipe = getattr(diffusers, pipeline_class).from_pretrained(
        str(folder), use_safetensors=True, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)

    def picture():
        return pipe(prompt=TRIGGER, num_inference_steps=2, height=32, width=32, output_type="np",
                    generator=torch.Generator().manual_seed(0)).images[0]

    before = picture()
    pipe.load_lora_weights(str(project / f"{family}.safetensors"))
    assert np.abs(picture() - before).max() > 1e-3


def test_moviola_train_writes_a_lora_that_changes_the_films_keyframe(project, capsys):
    script = str(project / "film.fountain")
    code = main(["train", script, "ROOM", "-o", str(project / "loras" / "room.safetensors"),
                 "--profile", "tiny", "--steps", "20", "--rank", "4", "--learning-rate", "3e-2",
                 "--resolution", "32", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "training 'room place' on 3 pictures" in out and "wrote" in out

    def build(profile: str) -> dict:
        output = project / "out" / f"{profile}.mp4"
        assert main(["build", script, "--profile", profile, "-o", str(output), "--quiet"]) == 0
        return decode(output)

    plain, trained = build("tiny"), build("tiny-lora")
    assert (trained["width"], trained["height"], trained["frames"]) == \
        (plain["width"], plain["height"], plain["frames"])
    assert trained["video_sha"] != plain["video_sha"]


def test_moviola_train_explains_what_it_cannot_train(project, capsys):
    script = str(project / "film.fountain")
    assert main(["train", script, "KITCHEN", "-o", "x.safetensors", "--profile", "tiny"]) == 2
    assert "no location or character 'KITCHEN'" in capsys.readouterr().err
    assert main(["train", script, "ROOM", "-o", "x.safetensors", "--profile", "draft"]) == 2
    assert "no model to train" in capsys.readouterr().err
    assert main(["train", script, "ROOM", "-o", "x.safetensors", "--profile", "tiny",
                 "--steps", "0"]) == 2
    assert "steps must be" in capsys.readouterr().err
    pickled = project / "models" / "pickled"
    (pickled / "unet").mkdir(parents=True)
    (pickled / "model_index.json").write_text("{}")
    (pickled / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"not loaded")
    assert main(["train", script, "ROOM", "-o", "x.safetensors", "--profile", "pickled"]) == 1
    out = capsys.readouterr().out
    assert "cannot train ROOM" in out and "only as pickles" in out
    assert not (project / "x.safetensors").exists()
