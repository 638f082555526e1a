"""The diffusers visual backends on tiny random-weight models (CPU, no downloads).

tests/tiny_models.py builds the models and saves them inside a temporary project; the tests
load them through the backends with a real ModelManager and ``locate``, and run tasks built from
a real plan, as the executor does. What is checked: sizes and frame counts, determinism under a
seed, batched output equal to unbatched, one load per model, LoRA and reference conditioning,
and clear errors for missing or broken model folders.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # tiny models: idle threads must not spin

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_models  # noqa: E402  (tests/ is on sys.path under pytest's rootdir conftest)
from PIL import Image  # noqa: E402

from moviola.compiler.api import compile_text  # noqa: E402
from moviola.compiler.plan import plan  # noqa: E402
from moviola.compiler.profiles import ModelConfig, Options, Profile, builtin_profiles  # noqa: E402
from moviola.runtime import models, timeline  # noqa: E402
from moviola.runtime.backends.diffusers_base import DiffusersBackend  # noqa: E402
from moviola.runtime.backends.diffusers_footage import VideoToVideo  # noqa: E402
from moviola.runtime.backends.diffusers_image import TextToImage  # noqa: E402
from moviola.runtime.backends.diffusers_video import (ImageToVideo, TextToVideo,  # noqa: E402
                                                      retime)
from moviola.runtime.cache import Cache, Entry  # noqa: E402
from moviola.runtime.backends.protocol import Input, Task  # noqa: E402
from moviola.runtime.executor import Executor  # noqa: E402

W, H, FPS = 96, 64, 8
pytestmark = [pytest.mark.models, pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")]

SCRIPT = f"""Resolution: {W}x{H}
FPS: {FPS}
Seed: 7

[[location RIVER: a slow green river under poplars]]
[[location WASH-HOUSE: an old stone wash-house on a river bank; refs: refs/lavoir/]]

EXT. RIVER - DAY

[[shot: wide, slow push in, 1s]]
Fog drifts over the water.

[[shot: close-up, static, 1s]]
A heron waits.

DISSOLVE TO:

EXT. WASH-HOUSE - DAWN

[[shot: medium, static, 1s]]
The stone basins are empty.

[[shot: wide, static, 1.5s; from: clips/river.mp4]]
The river runs.
"""
SHOT_1, SHOT_2 = "ext-river-day~1/1", "ext-river-day~1/2"
REFS_SHOT, SOURCE_SHOT = "ext-wash-house-dawn~1/1", "ext-wash-house-dawn~1/2"


pytestmark = [*pytestmark, pytest.mark.usefixtures("torch_one_thread")]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("film")
    tiny_models.build_text_to_image(root / "models" / "sd")
    tiny_models.build_image_to_image(root / "models" / "sd", root / "models" / "sd-img2img")
    tiny_models.build_image_to_video(root / "models" / "svd")
    tiny_models.build_text_to_video(root / "models" / "t2v")
    try:
        import peft  # noqa: F401  (diffusers loads LoRA weights through peft)
    except ImportError:
        pass
    else:
        tiny_models.build_lora(root / "models" / "sd", root / "loras" / "style")
    tiny_models.build_ip_adapter(root / "models" / "sd", root / "adapters" / "ip")
    (root / "refs" / "lavoir").mkdir(parents=True)
    gradient = np.zeros((48, 64, 3), np.uint8)
    gradient[..., 0] = np.linspace(0, 255, 64, dtype=np.uint8)[None, :]
    gradient[..., 2] = 200
    Image.fromarray(gradient).save(root / "refs" / "lavoir" / "basin.png")
    (root / "clips").mkdir()
    _write_video(root / "clips" / "river.mp4", frames=12, width=48, height=32)
    (root / "film.fountain").write_text(SCRIPT, "utf-8")
    return root


def _write_video(path: Path, frames: int, width: int, height: int) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            picture = np.full((height, width, 3), 40, np.uint8)
            picture[:, : 4 * (index + 1)] = (230, 200, 40)           # a bar that grows
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


class Film:
    """A compiled, planned film and the executor's view of its timing."""

    def __init__(self, project: Path, keyframe: ModelConfig, clip: ModelConfig):
        compilation = compile_text(SCRIPT, str(project / "film.fountain"), project)
        assert compilation.ok, compilation.errors
        draft = builtin_profiles()["draft"]
        profile = Profile("tiny", device="cpu",
                          models={**draft.models, "keyframe": keyframe, "clip": clip})
        self.project = project
        self.plan = plan(compilation.film, profile)
        self.executor = Executor(self.plan, project, Cache(project / ".moviola"))
        self.executor.timeline = timeline.resolve(self.plan, {})
        self.count = 0

    def task(self, job_id: str, inputs: dict | None = None, seed: int | None = None) -> Task:
        job = self.plan.job(job_id)
        if seed is not None:
            job = dataclasses.replace(job, seed=seed)
        timing = self.executor.timing_for(job) if job.kind == "clip" else {}
        self.count += 1
        folder = self.project / "out" / f"{self.count:03d}-{job.kind}"
        folder.mkdir(parents=True)
        given = [Input.of(self.plan.job(ref), entry) for ref, entry in (inputs or {}).items()]
        return Task.of(job, f"key{self.count}", folder, self.project, given, timing)


def keyframe_config(**over) -> ModelConfig:
    values = dict(kind="keyframe", backend="diffusers.text_to_image", model="models/sd",
                  dtype="float32", steps=2, guidance=5.0, resolution=(64, 48), batch_size=1)
    values.update(over)
    return ModelConfig(**values)


def clip_config(**over) -> ModelConfig:
    values = dict(kind="clip", backend="diffusers.image_to_video", model="models/svd",
                  dtype="float32", steps=2, guidance=2.0, resolution=(32, 32), frames=3)
    values.update(over)
    return ModelConfig(**values)


@pytest.fixture
def film(project):
    yield Film(project, keyframe_config(), clip_config())
    shutil.rmtree(project / "out", ignore_errors=True)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def keyframe_entries(film: Film, backend, shots) -> dict:
    tasks = [film.task(f"keyframe:{shot}") for shot in shots]
    metas = backend.run_batch(tasks)
    return {t.job.ref: Entry(t.key, t.folder, meta) for t, meta in zip(tasks, metas)}


def clip_task(film: Film, shot: str, entries: dict, seed: int | None = None) -> Task:
    job = film.plan.job(f"clip:{shot}")
    return film.task(job.id, {i: entries[i] for i in job.inputs if i in entries}, seed)


# -- keyframes ------------------------------------------------------------------------------------

def test_keyframe_is_the_film_size(film, manager):
    backend = TextToImage(keyframe_config(), manager, film.project)
    backend.validate()
    tasks = [film.task(f"keyframe:{SHOT_1}"), film.task(f"keyframe:{SHOT_2}")]
    metas = backend.run_batch(tasks)
    for task, meta in zip(tasks, metas):
        with Image.open(task.output("keyframe")) as image:
            assert image.mode == "RGB" and image.size == (W, H)
        assert (meta["width"], meta["height"], meta["conditioning"]) == (W, H, "text")
    assert backend.revision.startswith("sha256:")
    # the draft camera moves run over a generated keyframe too (picture.png has room around it)
    from moviola.runtime.backends.draft.jobs import MotionBackend

    with Image.open(tasks[0].output("picture")) as picture:
        assert picture.size == (120, 80)
    entries = {t.job.ref: Entry(t.key, t.folder, m) for t, m in zip(tasks, metas)}
    clip = clip_task(film, SHOT_1, entries)
    assert MotionBackend().run(clip)["frames"] == len(decode(clip.output("clip"))) == FPS


def test_a_generated_keyframe_comes_with_its_contact_sheet_thumbnail(film, manager):
    from moviola.runtime.contact_sheet import fit

    backend = TextToImage(keyframe_config(), manager, film.project)
    task = film.task(f"keyframe:{SHOT_1}")
    backend.run_batch([task])
    with Image.open(task.output("keyframe")) as keyframe:
        expected = np.asarray(fit(keyframe), dtype=np.int16)
    assert np.array_equal(pixels(task.output("thumbnail")), expected)


def test_keyframe_deterministic_under_a_seed(film, manager):
    backend = TextToImage(keyframe_config(), manager, film.project)
    first, again, other = (film.task(f"keyframe:{SHOT_1}"), film.task(f"keyframe:{SHOT_1}"),
                           film.task(f"keyframe:{SHOT_1}", seed=12345))
    backend.run_batch([first])
    backend.run_batch([again])
    backend.run_batch([other])
    assert np.array_equal(pixels(first.output("keyframe")), pixels(again.output("keyframe")))
    assert np.abs(pixels(first.output("keyframe")) - pixels(other.output("keyframe"))).mean() > 1


def test_batched_keyframes_equal_unbatched_and_load_once(film, manager, monkeypatch,
                                                        batch_rounding):
    batched = TextToImage(keyframe_config(batch_size=2), manager, film.project)
    single = TextToImage(keyframe_config(batch_size=1), manager, film.project)
    calls = []
    original = DiffusersBackend._call

    def counting(self, pipe, shared, samples):
        calls.append(len(samples))
        return original(self, pipe, shared, samples)

    monkeypatch.setattr(DiffusersBackend, "_call", counting)
    together = [film.task(f"keyframe:{SHOT_1}"), film.task(f"keyframe:{SHOT_2}")]
    batched.run_batch(together)
    assert calls == [2]                                  # one pipeline call for both jobs
    apart = [film.task(f"keyframe:{SHOT_1}"), film.task(f"keyframe:{SHOT_2}")]
    for task in apart:
        single.run_batch([task])
    assert calls == [2, 1, 1]
    for a, b in zip(together, apart):
        difference = np.abs(pixels(a.output("keyframe")) - pixels(b.output("keyframe")))
        assert difference.max() <= 2 + batch_rounding, difference.max()
    # several batches, two backend instances on the same model: loaded once
    stats = manager.stats()
    assert len(stats) == 1 and next(iter(stats.values()))["loads"] == 1


def test_location_refs_condition_the_keyframe(film, manager):
    backend = TextToImage(keyframe_config(), manager, film.project)
    with_refs = film.task(f"keyframe:{REFS_SHOT}")
    job = with_refs.job
    no_refs = film.task(job.id)
    no_refs.job = dataclasses.replace(job, params=dataclasses.replace(job.params, refs=()))
    metas = backend.run_batch([with_refs, no_refs])
    assert [m["conditioning"] for m in metas] == ["refs", "text"]
    referenced = pixels(with_refs.output("keyframe"))
    assert np.abs(referenced - pixels(no_refs.output("keyframe"))).mean() > 1
    # the reference (red rising left to right, blue 200) shows through at strength 0.75
    assert referenced[..., 0][:, -8:].mean() > referenced[..., 0][:, :8].mean()


def without_refs(task: Task) -> Task:
    task.job = dataclasses.replace(task.job, params=dataclasses.replace(task.job.params, refs=()))
    return task


def test_from_source_video_conditions_the_keyframe(film, manager):
    backend = TextToImage(keyframe_config(), manager, film.project)
    task = without_refs(film.task(f"keyframe:{SOURCE_SHOT}"))
    assert backend.run_batch([task])[0]["conditioning"] == "source"
    with Image.open(task.output("keyframe")) as image:
        assert image.size == (W, H)
    # the shot's location has refs too: an image-to-image model has room for one picture only
    with pytest.raises(ValueError, match=rf"keyframe:{SOURCE_SHOT}.*models/sd.*refs"):
        backend.run_batch([film.task(f"keyframe:{SOURCE_SHOT}")])


def test_image_to_image_model_makes_keyframes(film, manager):
    """A model saved as an image-to-image pipeline still renders text-only shots (through its
    text-to-image sibling) and `from:` shots (itself), with the same weights."""
    backend = TextToImage(keyframe_config(model="models/sd-img2img"), manager, film.project)
    text = film.task(f"keyframe:{SHOT_1}")
    source = without_refs(film.task(f"keyframe:{SOURCE_SHOT}"))
    assert [m["conditioning"] for m in backend.run_batch([text, source])] == ["text", "source"]
    plain = film.task(f"keyframe:{SHOT_1}")
    TextToImage(keyframe_config(), manager, film.project).run_batch([plain])
    assert np.abs(pixels(text.output("keyframe")) - pixels(plain.output("keyframe"))).max() <= 2


def test_lora_changes_the_output(film, manager, project):
    pytest.importorskip("peft")
    plain = TextToImage(keyframe_config(), manager, film.project)
    styled = TextToImage(keyframe_config(lora="loras/style"), manager, film.project)
    styled.validate()
    assert "+" in styled.revision                      # the LoRA's identity is in the keys
    before, with_lora, after = (film.task(f"keyframe:{SHOT_1}") for _ in range(3))
    plain.run_batch([before])
    styled.run_batch([with_lora])
    plain.run_batch([after])                           # the shared pipeline, LoRA switched off
    base = pixels(before.output("keyframe"))
    assert np.abs(base - pixels(with_lora.output("keyframe"))).mean() > 1
    assert np.array_equal(base, pixels(after.output("keyframe")))
    assert next(iter(manager.stats().values()))["loads"] == 1


def test_ip_adapter_takes_the_location_refs(film, manager):
    config = keyframe_config(options=Options({"ip_adapter": {"path": "adapters/ip", "scale": 1.0}}))
    backend = TextToImage(config, manager, film.project)
    backend.validate()
    referenced, plain, source = (film.task(f"keyframe:{REFS_SHOT}"), film.task(f"keyframe:{SHOT_1}"),
                                 film.task(f"keyframe:{SOURCE_SHOT}"))
    metas = backend.run_batch([referenced, plain, source])
    assert [m["conditioning"] for m in metas] == ["ip_adapter", "text", "source+ip_adapter"]
    # without the adapter's picture (scale 0) the text-only keyframe is the plain model's
    unconditioned = film.task(f"keyframe:{SHOT_1}")
    TextToImage(keyframe_config(), manager, film.project).run_batch([unconditioned])
    assert np.abs(pixels(plain.output("keyframe"))
                  - pixels(unconditioned.output("keyframe"))).max() <= 2
    # and with it, the reference changes the picture
    no_refs = film.task(f"keyframe:{REFS_SHOT}")
    no_refs.job = dataclasses.replace(no_refs.job, params=dataclasses.replace(no_refs.job.params, refs=()))
    backend.run_batch([no_refs])
    assert np.abs(pixels(referenced.output("keyframe"))
                  - pixels(no_refs.output("keyframe"))).mean() > 1


# -- clips ----------------------------------------------------------------------------------------

def test_image_to_video_clip_frames_and_size(film, manager):
    keyframes = TextToImage(keyframe_config(), manager, film.project)
    entries = keyframe_entries(film, keyframes, [SHOT_1, SHOT_2, REFS_SHOT])
    backend = ImageToVideo(clip_config(), manager, film.project)
    backend.validate()
    tasks = [clip_task(film, SHOT_1, entries), clip_task(film, SHOT_2, entries)]
    metas = backend.run_batch(tasks)
    previous = Entry("k", tasks[1].folder, metas[1])
    for task, meta in zip(tasks, metas):
        frames = decode(task.output("clip"))
        assert len(frames) == task.timing["frames"] == meta["frames"] == FPS
        # 1 s at SVD's native 7 fps: 7 frames in 3-frame segments (2 new each), over 8
        assert meta["generated"] == 7 and meta["segments"] == 3
        assert all(f.shape == (H, W, 3) for f in frames)
        with np.load(task.output("last_frame")) as last:
            assert last["y"].shape == (H, W) and last["u"].shape == (H // 2, W // 2)
    # a dissolve reads the previous clip's last frame
    entries[tasks[1].job.id] = previous
    dissolving = clip_task(film, REFS_SHOT, entries)
    assert dissolving.timing["dissolve"] > 0
    meta = backend.run_batch([dissolving])[0]
    assert len(decode(dissolving.output("clip"))) == meta["frames"] == dissolving.timing["frames"]
    assert {key: value["loads"] for key, value in manager.stats().items()} == \
        {key: 1 for key in manager.stats()}


def test_negative_prompt_reaches_the_model_or_stops_the_build(film, manager):
    """A pipeline that takes a negative prompt with guidance on renders another keyframe; one
    without the input, or with guidance off (where it is ignored), stops naming the shot."""
    plain = TextToImage(keyframe_config(), manager, film.project)
    negative = TextToImage(keyframe_config(options=Options({"negative_prompt": "fog, water"})),
                           manager, film.project)
    without, with_negative = film.task(f"keyframe:{SHOT_1}"), film.task(f"keyframe:{SHOT_1}")
    plain.run_batch([without])
    negative.run_batch([with_negative])
    assert np.abs(pixels(without.output("keyframe"))
                  - pixels(with_negative.output("keyframe"))).mean() > 1
    unguided = TextToImage(keyframe_config(guidance=1.0, options=Options(
        {"negative_prompt": "fog"})), manager, film.project)
    with pytest.raises(ValueError, match=r"models/sd .*without classifier-free guidance "
                                         r"\(guidance 1.0\).*raise `guidance`"):
        unguided.run_batch([film.task(f"keyframe:{SHOT_1}")])
    keyframes = TextToImage(keyframe_config(), manager, film.project)
    entries = keyframe_entries(film, keyframes, [SHOT_1])
    svd = ImageToVideo(clip_config(options=Options({"negative_prompt": "blur"})), manager,
                       film.project)
    task = clip_task(film, SHOT_1, entries)
    with pytest.raises(ValueError, match=rf"{re.escape(task.job.label)}: the clip model models/svd "
                                         rf"\(StableVideoDiffusionPipeline\) takes no negative"):
        svd.run_batch([task])


def test_a_prompt_past_the_clip_window_keeps_the_style_and_names_the_words_left_out(
        film, manager, monkeypatch):
    """diffusers cuts a CLIP prompt at 77 tokens, and the compiler puts the film's style
    last: the backend keeps the style and leaves out the words before it (the place and light
    come there), and the job's meta names them, for which shot (the build report shows it)."""
    backend = TextToImage(keyframe_config(), manager, film.project)
    prompts = []
    real_call = backend._call
    monkeypatch.setattr(backend, "_call", lambda pipe, shared, samples: (
        prompts.extend(s["prompt"] for s in samples), real_call(pipe, shared, samples))[1])

    def keyframe_task(prompt: str, style: str) -> Task:
        job = film.plan.job(f"keyframe:{SHOT_1}")
        job = dataclasses.replace(job, params=dataclasses.replace(
            job.params, prompt=f"{prompt}, {style}" if style else prompt, style=style))
        film.count += 1
        folder = film.project / "out" / f"{film.count:03d}-prompt"
        folder.mkdir(parents=True)
        return Task.of(job, f"p{film.count}", folder, film.project, [], {})

    scene = ", ".join(["wide shot, fog drifts over the water"] * 6)
    muted, bright = "grainy film, muted colours", "glossy video, bright neon"
    task = keyframe_task(scene, muted)
    [meta] = backend.run_batch([task])
    [notice] = meta["notices"]
    assert re.match(rf"{re.escape(task.job.label)}: the keyframe model models/sd "
                    rf"\(StableDiffusionPipeline\) reads 77 tokens of a prompt \(CLIP\): "
                    rf'"[^"]+" is left out \(the film\'s style kept\)', notice)
    left_out = notice.split('"')[1]
    read = prompts[-1]
    assert read.endswith(f", {muted}") and scene.startswith(read.removesuffix(f", {muted}"))
    assert scene.endswith(left_out) and muted not in left_out
    tokens = len(backend.pipeline().tokenizer(read).input_ids)
    assert 70 <= tokens <= 77                      # whole words, up to the window
    # so the style reaches the picture even behind a long description (cut at the window's
    # end, the two styles would give the very same picture)
    other = keyframe_task(scene, bright)
    backend.run_batch([other])
    assert not np.array_equal(pixels(task.output("keyframe")), pixels(other.output("keyframe")))
    # a prompt that fits goes whole, with no notice
    [meta] = backend.run_batch([keyframe_task("fog", muted)])
    assert "notices" not in meta and prompts[-1] == f"fog, {muted}"


def test_a_prompt_is_fitted_only_where_every_text_encoder_is_clip_sized():
    """FLUX.1 and SD3 give the whole prompt to T5 (their CLIP only pools it): nothing is cut."""
    from types import SimpleNamespace

    from moviola.runtime.backends.diffusers_base import fit_to_window

    clip = SimpleNamespace(model_max_length=77)
    long = " ".join(["word"] * 200)
    t5 = SimpleNamespace(model_max_length=512)
    assert fit_to_window(SimpleNamespace(tokenizer=clip, tokenizer_2=t5), long, "") == (long, "", None)
    assert fit_to_window(SimpleNamespace(tokenizer=t5), long, "") == (long, "", None)


def test_image_to_video_deterministic_and_batch_invariant(film, manager):
    keyframes = TextToImage(keyframe_config(), manager, film.project)
    entries = keyframe_entries(film, keyframes, [SHOT_1, SHOT_2])
    batched = ImageToVideo(clip_config(batch_size=2), manager, film.project)
    together = [clip_task(film, SHOT_1, entries), clip_task(film, SHOT_2, entries)]
    batched.run_batch(together)
    apart = [clip_task(film, SHOT_1, entries), clip_task(film, SHOT_2, entries)]
    for task in apart:
        batched.run_batch([task])
    other = clip_task(film, SHOT_1, entries, seed=999)
    batched.run_batch([other])

    def planes(task):
        with np.load(task.output("last_frame")) as data:
            return np.concatenate([data[n].reshape(-1) for n in "yuv"]).astype(np.int16)

    for a, b in zip(together, apart):
        assert np.abs(planes(a) - planes(b)).max() <= 2
    assert np.abs(planes(together[0]) - planes(other)).mean() > 0.5


def test_text_to_video(film, manager):
    config = clip_config(backend="diffusers.text_to_video", model="models/t2v", frames=None,
                         options=Options({"max_frames": 4}))
    backend = TextToVideo(config, manager, film.project)
    backend.validate()
    task = clip_task(film, SHOT_1, {})
    meta = backend.run_batch([task])[0]
    frames = decode(task.output("clip"))
    # 1 s at ModelScope's native 8 fps in 4-frame segments, continued by video-to-video
    assert len(frames) == meta["frames"] == meta["generated"] == FPS and meta["segments"] == 3
    assert frames[0].shape == (H, W, 3)


def test_video_to_video_with_the_family_pipeline(film, manager):
    config = clip_config(backend="diffusers.video_to_video", model="models/t2v", frames=4)
    backend = VideoToVideo(config, manager, film.project)
    task = clip_task(film, SOURCE_SHOT, {})
    meta = backend.run_batch([task])[0]
    assert type(backend.variant(backend.pipeline(), "video")).__name__ == "VideoToVideoSDPipeline"
    frames = decode(task.output("clip"))
    assert len(frames) == meta["frames"] == task.timing["frames"] == 12
    # 1.5 s at ModelScope's native 8 fps, in 4-frame chunks continued across the seams
    assert meta["generated"] == 12 and meta["segments"] == 4


def test_video_to_video_frame_by_frame(film, manager):
    config = clip_config(backend="diffusers.video_to_video", model="models/sd", frames=None,
                         resolution=(32, 32), batch_size=6)
    backend = VideoToVideo(config, manager, film.project)
    first, again = clip_task(film, SOURCE_SHOT, {}), clip_task(film, SOURCE_SHOT, {})
    meta = backend.run_batch([first])[0]
    backend.run_batch([again])
    frames = decode(first.output("clip"))
    assert len(frames) == meta["frames"] == meta["generated"] == 12     # every frame restyled
    assert frames[0].shape == (H, W, 3)
    assert all(np.array_equal(a, b) for a, b in zip(frames, decode(again.output("clip"))))
    # the source's growing bar moves the picture: frames are not all the same
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1


# -- errors ---------------------------------------------------------------------------------------

def test_missing_model_named_at_validate(project, manager):
    backend = TextToImage(keyframe_config(model="models/nowhere"), manager, project)
    with pytest.raises(models.ModelNotFound) as caught:
        backend.validate()
    assert str(project.resolve() / "models" / "nowhere") in str(caught.value)
    assert manager.stats() == {}


@pytest.mark.parametrize("damage", ["config", "pickle"])
def test_broken_model_folder(project, manager, damage):
    broken = project / "models" / f"broken-{damage}"
    shutil.rmtree(broken, ignore_errors=True)
    if damage == "config":
        shutil.copytree(project / "models" / "sd", broken)
        (broken / "unet" / "config.json").write_text('{"_class_name": "UNet2DCond', "utf-8")
    else:
        broken.mkdir(parents=True)
        (broken / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel"}))
        (broken / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    backend = TextToImage(keyframe_config(model=f"models/broken-{damage}"), manager, project)
    with pytest.raises(models.ModelBroken) as caught:
        backend.validate()
    message = str(caught.value)
    assert "Traceback" not in message and str(broken) in message
    assert ("JSON" in message) if damage == "config" else ("pickle" in message)


def test_unloadable_model_is_broken_not_a_traceback(project, manager, film):
    odd = project / "models" / "odd"
    shutil.rmtree(odd, ignore_errors=True)
    shutil.copytree(project / "models" / "sd", odd)
    index = json.loads((odd / "model_index.json").read_text())
    index["unet"] = ["diffusers", "NoSuchModel"]
    (odd / "model_index.json").write_text(json.dumps(index))
    backend = TextToImage(keyframe_config(model="models/odd"), manager, project)
    backend.validate()                                 # the files look right ...
    with pytest.raises(models.ModelBroken) as caught:  # ... but the pipeline does not load
        backend.run_batch([film.task(f"keyframe:{SHOT_1}")])
    assert "\n" not in str(caught.value) and "odd" in str(caught.value)


def test_missing_or_pickled_lora(project, manager):
    with pytest.raises(models.ModelNotFound) as caught:
        TextToImage(keyframe_config(lora="loras/none"), manager, project).validate()
    assert "loras/none" in str(caught.value) or "none" in str(caught.value)
    pickled = project / "loras" / "pickled"
    pickled.mkdir(parents=True, exist_ok=True)
    (pickled / "pytorch_lora_weights.bin").write_bytes(b"\x80\x04")
    with pytest.raises(models.ModelBroken) as caught:
        TextToImage(keyframe_config(lora="loras/pickled"), manager, project).validate()
    assert "safetensors" in str(caught.value)


# -- pieces ---------------------------------------------------------------------------------------

def test_retime_spreads_frames_over_the_shot():
    assert retime([0, 1, 2], 8) == [0, 0, 1, 1, 1, 1, 2, 2]
    assert retime(list(range(10)), 4) == [0, 3, 6, 9]
    assert retime([5], 3) == [5, 5, 5]
    assert retime([1, 2], 1) == [1]


def test_generation_size(project, manager):
    backend = TextToImage(keyframe_config(resolution=(100, 60)), manager, project)
    pipe = backend.pipeline()
    assert backend.generation_size(pipe, (W, H)) == (96, 64)       # multiples of 16
    native = TextToImage(keyframe_config(resolution=None), manager, project)
    width, height = native.generation_size(pipe, (1280, 720))
    # the model's native area (64² for the tiny one) at the film's aspect ratio
    assert width % 16 == 0 and height % 16 == 0 and width > height
    assert abs(width * height - 64 * 64) <= 64 * 64 * 0.5


def test_module_imports_no_torch():
    code = ("import sys; import moviola.runtime.backends.diffusers_image, moviola.runtime.backends.diffusers_video, moviola.runtime.backends.diffusers_footage; "
            "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- options a pipeline does not take ------------------------------------------------------------

def test_an_option_nothing_takes_is_named_before_any_work(project, manager):
    from moviola.runtime.backends.protocol import UnknownOption

    config = ModelConfig(kind="keyframe", backend="diffusers.text_to_image", model="models/sd",
                         options=Options({"guidance_rescal": 0.7, "max_refs": 2}))
    backend = TextToImage(config, manager, project)
    with pytest.raises(UnknownOption, match=r"options.guidance_rescal \(did you mean "
                                             r"guidance_rescale\?\).*StableDiffusionPipeline"):
        backend.validate()
    assert manager.stats() == {}                       # nothing was loaded to find it


# the pipeline class each built-in visual model's folder declares (its model_index.json, as
# docs/profiles.md's facts column records it)
DECLARED = {"black-forest-labs/FLUX.2-klein-4B": "Flux2KleinPipeline",
            "Tongyi-MAI/Z-Image-Turbo": "ZImagePipeline",
            "Lightricks/LTX-Video": "LTXPipeline", "Lightricks/LTX-2": "LTX2Pipeline"}


@pytest.mark.parametrize("name", ["preview", "final"])
def test_every_option_of_the_builtin_profiles_reaches_a_pipeline(name, tmp_path):
    """What a built-in profile sets (spatio-temporal guidance blocks, cross timesteps, strength…)
    is read by its backend or taken by a pipeline it calls: nothing is dropped unseen."""
    from moviola.runtime.backends.registry import backend_class

    checked = []
    for kind, config in builtin_profiles()[name].models.items():
        if not config.backend.startswith("diffusers.") or config.model not in DECLARED:
            continue
        folder = tmp_path / kind
        folder.mkdir()
        (folder / "model_index.json").write_text(json.dumps({"_class_name": DECLARED[config.model]}))
        backend = backend_class(config.backend)(config, None, tmp_path)
        backend.path = folder
        backend.check_options()
        checked.append(kind)
    assert {"keyframe", "clip", "footage"} <= set(checked)
