"""Keyframes on today's open model families, proven on tiny faithful models (CPU, no downloads).

tests/tiny_image_models.py builds FLUX.2 klein (its own reference-image input) and Z-Image
(image-to-image only) at toy widths; the keyframe backend loads them from the project like a
real checkpoint. What a user would notice: the reference pictures of the place and of the
people, and the shot's `from:` still, show in the keyframe; a LoRA changes it; an input the
model cannot take stops the build naming the shot and the model; the same inputs give the same
picture, batched or not.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # tiny models: idle threads must not spin

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_image_models  # noqa: E402
from PIL import Image  # noqa: E402

from moviola.compiler.api import compile_text  # noqa: E402
from moviola.compiler.plan import plan  # noqa: E402
from moviola.compiler.profiles import ModelConfig, Options, Profile, builtin_profiles  # noqa: E402
from moviola.runtime.backends.diffusers_image import TextToImage  # noqa: E402
from moviola.compiler.plan import JobRef  # noqa: E402
from moviola.runtime.backends.protocol import Input, Task, artifact_of  # noqa: E402

W, H = 96, 64
SCRIPT = f"""Resolution: {W}x{H}
FPS: 8
Seed: 7

[[location RIVER: a slow green river under poplars]]
[[location WASH-HOUSE: an old stone wash-house on a river bank; refs: refs/lavoir/]]
[[character ANA: a woman in her seventies; refs: refs/ana/]]

EXT. RIVER - DAY

[[shot: wide, static, 1s]]
Fog drifts over the water.

[[shot: close-up, static, 1s]]
ANA
The water is high today.

EXT. WASH-HOUSE - DAWN

[[shot: medium, static, 1s]]
The stone basins are empty.

[[shot: wide, static, 1s]]
The light comes up over the basins.

[[shot: wide, static, 1s; from: stills/a.png]]
The river runs.
"""
PLAIN, ANA_SHOT = "ext-river-day~1/1", "ext-river-day~1/2"
REFS_SHOT, REFS_SHOT_2, SOURCE_SHOT = ("ext-wash-house-dawn~1/1", "ext-wash-house-dawn~1/2",
                                       "ext-wash-house-dawn~1/3")

pytestmark = [pytest.mark.models, pytest.mark.usefixtures("torch_one_thread"), pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")]


def _picture(path: Path, colour: tuple[int, int, int], stripes: bool) -> None:
    picture = np.zeros((48, 64, 3), np.uint8)
    picture[...] = colour
    if stripes:
        picture[::8] = 255 - np.array(colour, np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(path)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("film")
    tiny_image_models.build_flux2_klein(root / "models" / "klein")
    tiny_image_models.build_z_image(root / "models" / "z-image")
    try:
        import peft  # noqa: F401  (diffusers loads LoRA weights through peft)
    except ImportError:
        pass
    else:
        for family in ("klein", "z-image"):
            tiny_image_models.build_transformer_lora(root / "models" / family,
                                                     root / "loras" / family)
    _picture(root / "refs" / "lavoir" / "basin.png", (30, 60, 220), stripes=False)
    _picture(root / "refs" / "lavoir-night" / "basin.png", (240, 200, 20), stripes=True)
    _picture(root / "refs" / "ana" / "ana.png", (200, 40, 40), stripes=True)
    _picture(root / "stills" / "a.png", (20, 200, 60), stripes=False)
    _picture(root / "stills" / "b.png", (250, 250, 250), stripes=True)
    (root / "film.fountain").write_text(SCRIPT, "utf-8")
    return root


class Film:
    def __init__(self, project: Path):
        compilation = compile_text(SCRIPT, str(project / "film.fountain"), project)
        assert compilation.ok, compilation.errors
        keyframe = config("models/klein")
        draft = builtin_profiles()["draft"]
        self.plan = plan(compilation.film, Profile("tiny", device="cpu",
                                                   models={**draft.models, "keyframe": keyframe}))
        self.project = project
        self.count = 0

    def task(self, shot: str, trained: tuple = (), **params) -> Task:
        """The keyframe task of ``shot``; ``trained``: finished train inputs it reads."""
        job = self.plan.job(f"keyframe:{shot}")
        if trained:
            job = dataclasses.replace(job, inputs=tuple(item.ref for item in trained))
        if params:       # another still or other refs: the job declares what it reads
            changed = dataclasses.replace(job.params, **params)
            files = ((changed.source,) if changed.source else ()) + tuple(changed.refs)
            job = dataclasses.replace(job, params=changed, files=files)
        self.count += 1
        folder = self.project / "out" / f"{self.count:03d}"
        folder.mkdir(parents=True)
        return Task.of(job, f"key{self.count}", folder, self.project, list(trained), {})


def config(model: str, **over) -> ModelConfig:
    values = dict(kind="keyframe", backend="diffusers.text_to_image", model=model,
                  dtype="float32", steps=2, guidance=1.0, resolution=(64, 48), batch_size=1,
                  # a short prompt window: the tiny text encoder's padding would drown the
                  # other conditions in attention (and cost time)
                  options=Options({"max_sequence_length": 24}))
    values.update(over)
    return ModelConfig(**values)


@pytest.fixture
def film(project):
    yield Film(project)
    shutil.rmtree(project / "out", ignore_errors=True)


def render(backend: TextToImage, *tasks: Task) -> list[dict]:
    return backend.run_batch(list(tasks))


def pixels(task: Task) -> np.ndarray:
    with Image.open(task.output("keyframe")) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def differ(a: Task, b: Task) -> float:
    """Mean absolute pixel difference. The same inputs give exactly 0 (the repeatability test);
    random weights make a reference move a tiny FLUX.2 picture far less than a trained model
    would, so "changed" is judged against that 0, not against what an eye would see."""
    return float(np.abs(pixels(a) - pixels(b)).mean())


CHANGED = 0.02


# -- the plan gives every shot of an asset its refs -----------------------------------------------

def test_a_characters_refs_reach_their_shots(film):
    assert film.plan.job(f"keyframe:{ANA_SHOT}").params.refs == ("refs/ana",)
    assert film.plan.job(f"keyframe:{PLAIN}").params.refs == ()
    assert film.plan.job(f"keyframe:{REFS_SHOT}").params.refs == ("refs/lavoir",)
    assert "refs/ana" in film.plan.job(f"keyframe:{ANA_SHOT}").files


# -- FLUX.2 klein: reference pictures through its own input ---------------------------------------

def test_klein_keyframe_is_the_film_size_and_repeatable(film, manager):
    backend = TextToImage(config("models/klein"), manager, film.project)
    first, again = film.task(PLAIN), film.task(PLAIN)
    assert [m["conditioning"] for m in render(backend, first)] == ["text"]
    render(backend, again)
    with Image.open(first.output("keyframe")) as image:
        assert image.size == (W, H)
    assert np.array_equal(pixels(first), pixels(again))


def test_klein_refs_reach_the_keyframe(film, manager):
    backend = TextToImage(config("models/klein"), manager, film.project)
    day, night, none = (film.task(REFS_SHOT), film.task(REFS_SHOT, refs=("refs/lavoir-night",)),
                        film.task(REFS_SHOT, refs=()))
    assert [m["conditioning"] for m in render(backend, day, night, none)] == \
        ["refs", "refs", "text"]
    assert differ(day, night) > CHANGED          # another reference picture, another keyframe
    assert differ(day, none) > CHANGED


def test_klein_character_refs_reach_the_keyframe(film, manager):
    backend = TextToImage(config("models/klein"), manager, film.project)
    with_ana, without = film.task(ANA_SHOT), film.task(ANA_SHOT, refs=())
    assert [m["conditioning"] for m in render(backend, with_ana, without)] == ["refs", "text"]
    assert differ(with_ana, without) > CHANGED


def test_klein_from_still_reaches_the_keyframe(film, manager):
    backend = TextToImage(config("models/klein"), manager, film.project)
    a, b = film.task(SOURCE_SHOT), film.task(SOURCE_SHOT, source="stills/b.png")
    assert [m["conditioning"] for m in render(backend, a, b)] == ["source+refs"] * 2
    assert differ(a, b) > CHANGED


def test_klein_batched_equals_unbatched(film, manager, batch_rounding):
    single = TextToImage(config("models/klein"), manager, film.project)
    batched = TextToImage(config("models/klein", batch_size=4), manager, film.project)
    shots = (REFS_SHOT, REFS_SHOT_2, PLAIN)
    alone = [film.task(shot) for shot in shots]
    for task in alone:
        render(single, task)
    together = [film.task(shot) for shot in shots]
    render(batched, *together)
    for a, b in zip(alone, together):
        assert np.abs(pixels(a) - pixels(b)).max() <= 1 + batch_rounding


# -- Z-Image: image-to-image only -----------------------------------------------------------------

def test_z_image_refs_and_still_through_image_to_image(film, manager):
    # 4 steps: at 2, strength 0.75 on its shifted schedule starts from pure noise
    backend = TextToImage(config("models/z-image", steps=4), manager, film.project)
    day, night, plain = (film.task(REFS_SHOT), film.task(REFS_SHOT, refs=("refs/lavoir-night",)),
                         film.task(PLAIN))
    a, b = (film.task(SOURCE_SHOT, refs=()), film.task(SOURCE_SHOT, refs=(), source="stills/b.png"))
    assert [m["conditioning"] for m in render(backend, day, night, plain, a, b)] == \
        ["refs", "refs", "text", "source", "source"]
    assert differ(day, night) > CHANGED
    assert differ(a, b) > CHANGED
    with Image.open(plain.output("keyframe")) as image:
        assert image.size == (W, H)


def test_z_image_still_reaches_the_keyframe_at_the_final_profiles_steps(film, manager):
    steps = builtin_profiles()["final"].models["keyframe"].steps
    backend = TextToImage(config("models/z-image", steps=steps), manager, film.project)
    a, b = (film.task(SOURCE_SHOT, refs=()), film.task(SOURCE_SHOT, refs=(), source="stills/b.png"))
    assert [m["conditioning"] for m in render(backend, a, b)] == ["source", "source"]
    assert differ(a, b) > CHANGED


def test_z_image_refuses_a_still_its_schedule_would_ignore(film, manager):
    # diffusers' rule, shown on the pipeline itself: 2 steps × (1 - 0.6) < 1 skipped step, so
    # the flow-matching schedule starts at sigma 1 and two different stills give one picture
    backend = TextToImage(config("models/z-image"), manager, film.project)
    img2img = backend.variant(backend.pipeline(), "image")
    import torch

    outputs = [img2img(prompt="a river", image=Image.open(film.project / "stills" / name),
                       strength=0.6, num_inference_steps=2, guidance_scale=0.0,
                       max_sequence_length=24, height=48, width=64, output_type="np",
                       generator=torch.Generator("cpu").manual_seed(7)).images[0]
               for name in ("a.png", "b.png")]
    assert np.array_equal(outputs[0], outputs[1])
    with pytest.raises(ValueError, match=rf"keyframe:{SOURCE_SHOT}.*models/z-image.*pure noise"
                                         rf".*raise `steps` to 3 or more.*strength to 0.5"):
        render(backend, film.task(SOURCE_SHOT, refs=()))
    refs = TextToImage(config("models/z-image", steps=3), manager, film.project)
    with pytest.raises(ValueError, match=rf"keyframe:{REFS_SHOT}.*`refs:`.*raise `steps` to 4"):
        render(refs, film.task(REFS_SHOT))          # ref_strength 0.75 needs one step more


def test_z_image_cannot_take_refs_beside_a_still(film, manager):
    backend = TextToImage(config("models/z-image"), manager, film.project)
    with pytest.raises(ValueError, match=rf"keyframe:{SOURCE_SHOT}.*models/z-image.*refs"):
        render(backend, film.task(SOURCE_SHOT))


# -- LoRA -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["klein", "z-image"])
def test_lora_changes_the_keyframe(film, manager, family):
    pytest.importorskip("peft")
    plain = TextToImage(config(f"models/{family}"), manager, film.project)
    styled = TextToImage(config(f"models/{family}", lora=f"loras/{family}"), manager, film.project)
    before, with_lora, after = (film.task(PLAIN) for _ in range(3))
    render(plain, before)
    render(styled, with_lora)
    render(plain, after)                   # the shared pipeline, LoRA switched off
    assert differ(before, with_lora) > CHANGED
    assert np.array_equal(pixels(before), pixels(after))


@pytest.mark.parametrize("family", ["klein", "z-image"])
def test_a_trained_lora_changes_the_keyframe(film, manager, family):
    """A train job's LoRA (its artifact, as the trainer writes it) reaches the shots it serves."""
    pytest.importorskip("peft")
    folder = film.project / "out" / "train"
    folder.mkdir(parents=True)
    shutil.copy(film.project / "loras" / family / "pytorch_lora_weights.safetensors",
                folder / artifact_of("train", "lora").file)
    trained = Input(JobRef("train", "location:RIVER"), {}, {}, folder)
    backend = TextToImage(config(f"models/{family}"), manager, film.project)
    plain, with_lora = film.task(PLAIN), film.task(PLAIN, trained=(trained,))
    render(backend, plain)
    render(backend, with_lora)
    assert differ(plain, with_lora) > CHANGED
