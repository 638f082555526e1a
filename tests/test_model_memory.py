"""Memory that holds on one card: shared pipelines keep their dtypes, video VAEs decode in tiles,
the budget keeps headroom for activations, and an out-of-memory is retried once after the other
models are evicted, then named with the shot and what to lower.

Tiny random-weight models (tests/tiny_models.py) loaded through the backends' own path; the
out-of-memory is raised by a wrapper around the pipeline's ``__call__`` (torch's own
``OutOfMemoryError`` class), the way CUDA raises it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_models  # noqa: E402

from moviola.compiler.api import compile_text  # noqa: E402
from moviola.compiler.plan import plan  # noqa: E402
from moviola.compiler.profiles import ModelConfig, Profile, builtin_profiles  # noqa: E402
from moviola.runtime import models  # noqa: E402
from moviola.runtime.backends.diffusers_base import DiffusersBackend, share_pipeline  # noqa: E402
from moviola.runtime.cache import Cache  # noqa: E402
from moviola.runtime.executor import BuildError, Executor  # noqa: E402
from moviola.runtime.models import ModelManager, OutOfMemory  # noqa: E402

pytestmark = [pytest.mark.models, pytest.mark.usefixtures("torch_one_thread")]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("memory")
    tiny_models.build_text_to_image(root / "models" / "sd")
    tiny_models.build_text_to_video(root / "models" / "t2v")
    tiny_models.build_wan22_ti2v(root / "models" / "wan")
    return root


def backend_for(project: Path, manager, model: str, kind: str = "clip", **over):
    config = ModelConfig(kind=kind, backend="diffusers.text_to_video", model=model, **over)
    backend = DiffusersBackend(config, manager, project)
    backend.validate()
    return backend


def tensors_of(pipe) -> dict:
    """Every parameter and buffer of every module component: (dtype, device, storage)."""
    out = {}
    for name, component in pipe.components.items():
        if isinstance(component, torch.nn.Module):
            for tensor_name, tensor in list(component.named_parameters()) + list(component.named_buffers()):
                out[f"{name}.{tensor_name}"] = (tensor.dtype, tensor.device, tensor.data_ptr())
    return out


# -- variants keep the resident pipeline as it is ---------------------------------------------------

@pytest.mark.parametrize("model, which, sibling", [
    ("models/wan", "video", "WanVideoToVideoPipeline"),
    ("models/t2v", "video", "VideoToVideoSDPipeline"),
    ("models/sd", "image", "StableDiffusionImg2ImgPipeline"),
])
def test_a_variant_shares_the_modules_and_changes_no_dtype(project, manager, model, which, sibling):
    backend = backend_for(project, manager, model, dtype="bfloat16")
    pipe = backend.pipeline()
    before = tensors_of(pipe)
    assert {dtype for dtype, _, _ in before.values()} >= {torch.bfloat16}
    variant = backend.variant(pipe, which)
    assert type(variant).__name__ == sibling
    assert tensors_of(pipe) == before            # same dtype, device and storage, every tensor
    shared = [name for name, part in variant.components.items() if isinstance(part, torch.nn.Module)]
    assert shared and all(variant.components[name] is pipe.components[name] for name in shared)
    assert manager.used_bytes == models.size_of(pipe)


def test_wan_keeps_its_float32_parts_through_a_variant(project, manager):
    """Wan keeps its norms and time embedding in float32 under a bfloat16 load: a variant made
    with from_pipe(dtype=bfloat16) would cast them; the shared one leaves them."""
    backend = backend_for(project, manager, "models/wan", dtype="bfloat16")
    pipe = backend.pipeline()
    kept = {name for name, (dtype, _, _) in tensors_of(pipe).items() if dtype == torch.float32}
    assert any(name.startswith("transformer.") for name in kept)
    variant = backend.variant(pipe, "video")
    assert {name for name, (dtype, _, _) in tensors_of(variant).items()
            if dtype == torch.float32} == kept


def test_a_shared_pipeline_carries_the_settings_it_takes(project, manager):
    """Wan 2.2 TI2V's image-to-video is WanImageToVideoPipeline over the same components, with
    ``expand_timesteps`` (the first frame's tokens kept clean) carried over from the folder's
    WanPipeline."""
    from diffusers import WanImageToVideoPipeline

    pipe = backend_for(project, manager, "models/wan", dtype="bfloat16").pipeline()
    before = tensors_of(pipe)
    image_to_video = share_pipeline(WanImageToVideoPipeline, pipe)
    assert image_to_video.config.expand_timesteps is True
    assert image_to_video.transformer is pipe.transformer and tensors_of(pipe) == before

    class NeedsMore(WanImageToVideoPipeline):
        def __init__(self, tokenizer, text_encoder, vae, scheduler, transformer, controlnet):
            super().__init__(tokenizer, text_encoder, vae, scheduler, transformer=transformer)

    with pytest.raises(ValueError, match="NeedsMore needs controlnet"):
        share_pipeline(NeedsMore, pipe)


# -- video VAEs decode in tiles -------------------------------------------------------------------

def count_tiled_decodes(vae, monkeypatch) -> list:
    calls = []
    original = vae.tiled_decode

    @functools.wraps(original)
    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(vae, "tiled_decode", counted)
    return calls


def render(pipe, size: int = 64):
    return pipe("a river at dawn", num_frames=5, height=size, width=size, num_inference_steps=2,
                guidance_scale=1.0, output_type="np",
                generator=torch.Generator().manual_seed(3)).frames[0]


def test_a_video_vae_decodes_in_tiles_and_the_clip_still_decodes(project, manager, monkeypatch):
    tiles = {"tile_sample_min_height": 32, "tile_sample_min_width": 32,
             "tile_sample_stride_height": 16, "tile_sample_stride_width": 16}
    backend = backend_for(project, manager, "models/wan", dtype="float32",
                          options={"vae_tiling": tiles})
    pipe = backend.pipeline()
    assert pipe.vae.use_tiling and pipe.vae.use_slicing
    calls = count_tiled_decodes(pipe.vae, monkeypatch)
    frames = render(pipe)
    assert calls                                   # 64 × 64 in 32-pixel tiles
    assert frames.shape == (5, 64, 64, 3) and np.isfinite(frames).all()
    assert frames.std() > 0.01                     # a picture, not a constant


def test_vae_tiling_is_on_by_default_for_video_and_can_be_turned_off(project, monkeypatch):
    with ModelManager("cpu") as manager:
        pipe = backend_for(project, manager, "models/wan", dtype="float32").pipeline()
        assert pipe.vae.use_tiling and pipe.vae.use_slicing
    with ModelManager("cpu") as manager:
        pipe = backend_for(project, manager, "models/wan", dtype="float32",
                           options={"vae_tiling": False}).pipeline()
        assert not pipe.vae.use_tiling and not pipe.vae.use_slicing
        calls = count_tiled_decodes(pipe.vae, monkeypatch)
        assert render(pipe, 32).shape == (5, 32, 32, 3) and not calls
    with ModelManager("cpu") as manager:                # pictures: left as the model has it
        pipe = backend_for(project, manager, "models/sd", kind="keyframe",
                           dtype="float32").pipeline()
        assert not pipe.vae.use_tiling


# -- the budget keeps headroom for activations -------------------------------------------------------

def linear() -> "torch.nn.Module":
    return torch.nn.Linear(10, 10)          # (100 + 10) float32 = 440 bytes


def test_the_default_budget_leaves_headroom_for_activations():
    manager = ModelManager("cpu")
    assert manager.usable_bytes and manager.budget_bytes == int(manager.usable_bytes * 0.8)
    assert manager.headroom_bytes == manager.usable_bytes - manager.budget_bytes
    roomy = ModelManager("cpu", headroom=0.5)
    assert roomy.budget_bytes == int(roomy.usable_bytes * 0.5)


def test_measured_activations_shrink_what_weights_may_take(monkeypatch):
    manager = ModelManager("cpu", budget_bytes=1000)
    manager.usable_bytes = 1200                    # a device of 1200 usable bytes
    manager.get("a", linear)
    manager.get("b", linear)
    assert manager.resident == ["a", "b"] and manager.headroom_bytes == 200
    # a call was seen needing 600 bytes above the weights (as compute() measures on CUDA)
    monkeypatch.setattr(manager, "_measured_activations", 600)
    assert manager.weights_budget_bytes == 600 and manager.headroom_bytes == 600
    manager.get("c", linear)                       # two models no longer fit beside 600 bytes
    assert manager.resident == ["c"]


# -- out of memory: evict the others, retry once, then say what to lower -----------------------------

def out_of_memory() -> Exception:
    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def failing(times: int):
    calls = []

    def run():
        calls.append(1)
        if len(calls) <= times:
            raise out_of_memory()
        return "frames"

    return run, calls


def test_out_of_memory_is_retried_once_with_the_other_models_evicted():
    manager = ModelManager("cpu")
    manager.get("other", linear)
    manager.get("video", linear)
    run, calls = failing(1)
    assert manager.call("video", run, lambda: "shot 1.1") == "frames"
    assert len(calls) == 2 and manager.resident == ["video"]
    assert manager.stats()["video"]["out_of_memory_retries"] == 1
    assert manager.stats()["other"]["evictions"] == 1


def test_a_second_out_of_memory_names_the_shot_and_what_to_lower():
    manager = ModelManager("cpu")
    manager.get("video", linear)
    run, calls = failing(2)
    with pytest.raises(OutOfMemory) as caught:
        manager.call("video", run, lambda: "shot 2.1 wide: clip with models/wan at 1280×704, "
                                           "121 frames")
    message = str(caught.value)
    assert len(calls) == 2
    assert "shot 2.1 wide" in message and "1280×704" in message and "121 frames" in message
    for setting in ("`resolution`", "`frames`", "`batch_size`", "`offload = true`"):
        assert setting in message
    assert "CUDA out of memory" in message


def test_other_errors_are_not_retried():
    manager = ModelManager("cpu")
    manager.get("other", linear)
    calls = []

    def run():
        calls.append(1)
        raise ValueError("height must be a multiple of 16")

    with pytest.raises(ValueError):
        manager.call("video", run, lambda: "")
    assert calls == [1] and manager.resident == ["other"]


def test_mps_and_cpu_allocation_failures_count_as_out_of_memory():
    assert models.is_out_of_memory(out_of_memory())
    assert models.is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 17 GB)"))
    assert models.is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:117] "
                                                "DefaultCPUAllocator: can't allocate memory"))
    assert models.is_out_of_memory(MemoryError())
    assert not models.is_out_of_memory(RuntimeError("shape mismatch"))


SCRIPT = """Resolution: 96x64
FPS: 8
Seed: 5

EXT. RIVER - DAY

[[shot: wide, 1s]]
Fog drifts over the water.

[[shot: close-up, 1s]]
A heron lifts off.
"""


@pytest.fixture
def build(project, monkeypatch):
    """A build whose keyframes come from the tiny SD model, its pipeline call failing with
    out-of-memory the first ``failures`` times."""
    from diffusers import StableDiffusionPipeline

    def start(failures: int):
        calls = []
        original = StableDiffusionPipeline.__call__

        @functools.wraps(original)
        def call(self, *args, **kwargs):
            calls.append(1)
            if len(calls) <= failures:
                raise out_of_memory()
            return original(self, *args, **kwargs)

        monkeypatch.setattr(StableDiffusionPipeline, "__call__", call)
        compiled = compile_text(SCRIPT, str(project / "river.fountain"), project)
        draft = builtin_profiles()["draft"]
        keyframe = ModelConfig("keyframe", "diffusers.text_to_image", "models/sd",
                               dtype="float32", steps=2, resolution=(64, 48), batch_size=2)
        profile = Profile("tiny", device="cpu", models={**draft.models, "keyframe": keyframe})
        render_plan = plan(compiled.film, profile)
        cache = Cache(project / f".moviola-{failures}")
        executor = Executor(render_plan, project, cache)
        return executor, cache, render_plan, calls

    return start


def test_a_build_survives_one_out_of_memory(build):
    executor, cache, render_plan, calls = build(1)
    report = executor.run()
    assert len(calls) == 2                         # both keyframes in one call, retried once
    keyframes = [j for j in render_plan.jobs if j.kind == "keyframe"]
    assert report.executed["keyframe"] == len(keyframes) == 2
    assert all(cache.get(executor.keys[j.ref]) is not None for j in keyframes)
    assert next(iter(report.models.values()))["out_of_memory_retries"] == 1


def test_a_build_that_runs_out_of_memory_twice_names_the_shots_and_keeps_nothing(build):
    executor, cache, render_plan, calls = build(2)
    with pytest.raises(BuildError) as caught:
        executor.run()
    message = str(caught.value)
    labels = [j.label for j in render_plan.jobs if j.kind == "keyframe"]
    assert all(label in message for label in labels)
    assert "64×48" in message and "batch_size 2" in message and "`offload = true`" in message
    keyframes = [j for j in render_plan.jobs if j.kind == "keyframe"]
    assert all(cache.get(executor.keys[j.ref]) is None for j in keyframes)
    assert not any(cache.scratch.iterdir())        # no half-written entry left behind
