"""GPU benchmark (run it when a GPU is at hand): keyframes, then clips, three ways each, in one run.

1. naive: a per-shot script as in notebooks: load the pipeline, render one shot, drop it;
2. runtime: Moviola's backend: the model loaded once (ModelManager), shots batched;
3. floor: the compute alone: text encoding, the denoiser's forwards and the VAE decode of the
   same work, with no pipeline around them.

Keyframes: Stable Diffusion 1.5 shapes (UNet 860 M, CLIP ViT-L text encoder, VAE). Clips: Wan 2.2
TI2V-5B's configuration (tests/tiny_models.py `wan22_ti2v_pipeline(real=True)`: the 5 B
transformer, UMT5-XXL, the Wan 2.2 VAE) at its native 1280×704 and 121 frames, classifier-free
guidance, the VAE tiled as the runtime does it. Random weights, saved as safetensors and loaded
from disk like a real model: FLOPs and bytes do not depend on weight values. Targets: runtime
≥ 5× the naive script, ≤ 1.2× the floor. Peak GPU memory is printed per model.

    python3 benchmarks/gpu.py                          # on a CUDA machine (bf16 where supported)
    python3 benchmarks/gpu.py --only video --video-steps 4
    python3 benchmarks/gpu.py --tiny                   # smoke test of the script on CPU (tiny shapes)

benchmarks/device.sh runs it with the model tests on a CUDA machine without network. The figures
go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))          # the tiny-model builders (and the real Wan layout)

SHOTS = 8
# no title page: a title card would be a ninth, longer shot that only the runtime renders
SCRIPT = "Resolution: {w}x{h}\nFPS: {fps}\n\n" + "".join(
    "INT. ROOM {n} - DAY\n\n[[shot: wide, {seconds}s]]\nA table, a lamp, shot {n}.\n\n".replace("{n}", str(n))
    for n in range(SHOTS))
GIB = 1024 ** 3


def build_pipeline(folder: Path, tiny: bool) -> Path:
    import torch
    from diffusers import (AutoencoderKL, DDIMScheduler, StableDiffusionPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from tiny_models import write_clip_tokenizer

    torch.manual_seed(0)
    if tiny:
        unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=16,
                                    in_channels=4, out_channels=4, cross_attention_dim=32,
                                    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"))
        vae = AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
                            down_block_types=("DownEncoderBlock2D",) * 2,
                            up_block_types=("UpDecoderBlock2D",) * 2)
        text = CLIPTextConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4,
                              num_hidden_layers=2, vocab_size=1000, max_position_embeddings=77)
    else:
        # Stable Diffusion 1.5's shapes
        unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
        vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), latent_channels=4,
                            down_block_types=("DownEncoderBlock2D",) * 4,
                            up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2)
        text = CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                              num_hidden_layers=12, vocab_size=49408, max_position_embeddings=77)
    tokenizer_dir = write_clip_tokenizer(folder / "tokenizer-src")
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir, model_max_length=77)
    text.vocab_size = max(text.vocab_size, len(tokenizer))
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=CLIPTextModel(text),
                                   tokenizer=tokenizer, scheduler=DDIMScheduler(), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    target = folder / "project" / "models" / "sd"
    pipe.save_pretrained(target, safe_serialization=True)
    return target


def film_tasks(project: Path, kind: str, config, width: int, height: int, shots: int = SHOTS,
               seconds: float = 2, fps: int = 24):
    """The first ``shots`` jobs of ``kind`` of the benchmark film, as the executor hands them to
    a backend (clips with the timing the timeline fixes; no keyframe input: text to video)."""
    from moviola.compiler.api import compile_text
    from moviola.compiler.plan import plan
    from moviola.compiler.profiles import Profile, builtin_profiles
    from moviola.runtime import timeline
    from moviola.runtime.cache import Cache
    from moviola.runtime.executor import Executor, Task

    text = SCRIPT.format(w=width, h=height, fps=fps, seconds=seconds)
    compiled = compile_text(text, str(project / "bench.fountain"), project)
    if not compiled.ok:
        raise SystemExit(f"the benchmark film does not compile: {compiled.errors}")
    draft = builtin_profiles()["draft"]
    profile = Profile("bench", models={**draft.models, kind: config})
    render_plan = plan(compiled.film, profile)
    executor = Executor(render_plan, project, Cache(project / ".moviola"))
    executor.timeline = timeline.resolve(render_plan, {})
    tasks = []
    for number, job in enumerate(j for j in render_plan.jobs if j.kind == kind):
        if number == shots:
            break
        folder = project / "out" / f"{kind}-{number:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        timing = executor.timing_for(job) if kind == "clip" else {}
        tasks.append(Task.of(job, f"{kind}{number}", folder, project, (), timing))
    return tasks


def peak_gib(device: str) -> float:
    import torch

    return torch.cuda.max_memory_allocated() / GIB if device == "cuda" else 0.0


def reset_peak(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def run_naive(model: Path, prompts, seeds, steps, size, device, dtype) -> float:
    import torch
    from diffusers import StableDiffusionPipeline

    began = time.perf_counter()
    for prompt, seed in zip(prompts, seeds):
        pipe = StableDiffusionPipeline.from_pretrained(model, dtype=dtype, use_safetensors=True).to(device)
        pipe.set_progress_bar_config(disable=True)
        generator = torch.Generator(device).manual_seed(seed)
        pipe(prompt, num_inference_steps=steps, height=size[1], width=size[0], generator=generator,
             output_type="np")
        del pipe
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    sync()
    return time.perf_counter() - began


def run_runtime(project: Path, backend_class, tasks, config, device) -> tuple[float, dict]:
    from moviola.runtime.models import ModelManager

    began = time.perf_counter()
    with ModelManager(device) as manager:
        backend = backend_class(config, manager, project)
        backend.validate()
        for start in range(0, len(tasks), config.batch_size):
            backend.run_batch(tasks[start:start + config.batch_size])
        sync()
        stats = manager.stats()
    return time.perf_counter() - began, stats


def run_floor(model: Path, prompts, steps, size, device, dtype, batch: int) -> float:
    import torch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(model, dtype=dtype, use_safetensors=True).to(device)
    unet, vae, text_encoder, tokenizer = pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer
    latent = (size[1] // 8, size[0] // 8)
    sync()
    began = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(prompts), batch):
            chunk = prompts[start:start + batch]
            ids = tokenizer(chunk + [""] * len(chunk), padding="max_length", max_length=77,
                            truncation=True, return_tensors="pt").input_ids.to(device)
            context = text_encoder(ids)[0]
            sample = torch.randn(len(chunk) * 2, 4, *latent, device=device, dtype=dtype)
            for step in range(steps):
                timestep = torch.tensor(999 - step * (1000 // max(steps, 1)), device=device)
                unet(sample, timestep, encoder_hidden_states=context)
            vae.decode(sample[: len(chunk)] / vae.config.scaling_factor)
    sync()
    return time.perf_counter() - began


def keyframes(args, device, dtype, folder: Path) -> dict:
    from moviola.compiler.profiles import ModelConfig
    from moviola.runtime.backends.diffusers_image import TextToImage

    steps = args.steps or (2 if args.tiny else 20)
    width, height = (64, 64) if args.tiny else (512, 512)
    import torch

    with torch.device(device):         # random init of a billion parameters: seconds on a GPU
        model = build_pipeline(folder, args.tiny)
    project = folder / "project"
    config = ModelConfig("keyframe", "diffusers.text_to_image", "models/sd", dtype=dtype_name(dtype),
                         steps=steps, guidance=7.5, resolution=(width, height), batch_size=args.batch)
    tasks = film_tasks(project, "keyframe", config, width, height)
    prompts = [t.job.params.prompt for t in tasks]
    seeds = [t.job.seed for t in tasks]
    print(f"keyframes: {len(prompts)} shots, {width}x{height}, {steps} steps, {device} {dtype}, "
          f"batch {args.batch}", flush=True)
    return three_ways(
        "keyframes", device,
        lambda: run_naive(model, prompts, seeds, steps, (width, height), device, dtype),
        lambda: run_runtime(project, TextToImage, tasks, config, device),
        lambda: run_floor(model, prompts, steps, (width, height), device, dtype, args.batch))


def build_video(folder: Path, tiny: bool, device: str, dtype) -> Path:
    """Wan 2.2 TI2V-5B's layout with random weights, made on the device (seconds, not the
    minutes a CPU takes to fill 10 B parameters) and saved as safetensors."""
    import torch

    from tiny_models import wan22_ti2v_pipeline

    began = time.perf_counter()
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            pipe = wan22_ti2v_pipeline(real=not tiny)
    finally:
        torch.set_default_dtype(default)
    target = folder / "project" / "models" / "wan"
    pipe.save_pretrained(target, safe_serialization=True)
    parameters = sum(p.numel() for m in (pipe.transformer, pipe.text_encoder, pipe.vae)
                     for p in m.parameters())
    del pipe
    reset_peak(device)
    print(f"  built and saved Wan 2.2 TI2V layout ({parameters / 1e9:.2f} B parameters) in "
          f"{time.perf_counter() - began:.1f} s", flush=True)
    return target


def video_naive(model: Path, prompts, seeds, call: dict, device, dtype) -> float:
    import torch
    from diffusers import WanPipeline

    from moviola.runtime.backends.diffusers_base import tile_vae

    began = time.perf_counter()
    for prompt, seed in zip(prompts, seeds):
        pipe = WanPipeline.from_pretrained(model, dtype=dtype, use_safetensors=True).to(device)
        pipe.set_progress_bar_config(disable=True)
        tile_vae(pipe)                  # as a careful script would: a 720p decode needs it too
        pipe(prompt, generator=torch.Generator("cpu").manual_seed(seed), output_type="np", **call)
        del pipe
        if device == "cuda":
            torch.cuda.empty_cache()
    sync()
    return time.perf_counter() - began


def video_floor(model: Path, prompts, call: dict, device, dtype) -> float:
    """Per shot: the prompt and the empty negative prompt encoded, two transformer forwards a
    step (classifier-free guidance) with Wan 2.2's per-token timesteps, one tiled VAE decode."""
    import torch
    from diffusers import WanPipeline

    from moviola.runtime.backends.diffusers_base import tile_vae

    pipe = WanPipeline.from_pretrained(model, dtype=dtype, use_safetensors=True).to(device)
    tile_vae(pipe)
    vae, transformer = pipe.vae, pipe.transformer
    spatial, temporal = pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal
    frames = (call["num_frames"] - 1) // temporal + 1
    shape = (1, vae.config.z_dim, frames, call["height"] // spatial, call["width"] // spatial)
    patch = transformer.config.patch_size
    tokens = frames * (shape[3] // patch[1]) * (shape[4] // patch[2])
    mean = torch.tensor(vae.config.latents_mean, device=device, dtype=vae.dtype).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std, device=device, dtype=vae.dtype).view(1, -1, 1, 1, 1)
    sync()
    began = time.perf_counter()
    with torch.inference_mode():
        for prompt in prompts:
            positive, negative = pipe.encode_prompt(prompt, "", max_sequence_length=512,
                                                    device=device)
            latents = torch.randn(shape, device=device, dtype=dtype)
            for step in range(call["num_inference_steps"]):
                timestep = torch.full((1, tokens), 999.0 - step, device=device)
                for context in (positive, negative):
                    transformer(hidden_states=latents, timestep=timestep,
                                encoder_hidden_states=context, return_dict=False)
            vae.decode(latents.to(vae.dtype) * std + mean, return_dict=False)
    sync()
    return time.perf_counter() - began


def video(args, device, dtype, folder: Path) -> dict:
    from moviola.compiler.profiles import ModelConfig
    from moviola.runtime.backends.diffusers_video import TextToVideo

    steps = args.video_steps or (2 if args.tiny else 8)
    width, height = (64, 64) if args.tiny else args.video_size
    frames = 5 if args.tiny else args.video_frames
    fps = 24
    model = build_video(folder, args.tiny, device, dtype)
    project = folder / "project"
    config = ModelConfig("clip", "diffusers.text_to_video", "models/wan", dtype=dtype_name(dtype),
                         steps=steps, guidance=5.0, resolution=(width, height), frames=frames,
                         batch_size=1)
    tasks = film_tasks(project, "clip", config, width, height, shots=args.video_shots,
                       seconds=round(frames / fps, 2), fps=fps)
    prompts = [""] * len(tasks)                 # text to video without a keyframe: its prompt
    seeds = [t.job.seed for t in tasks]
    call = {"num_inference_steps": steps, "guidance_scale": 5.0, "width": width,
            "height": height, "num_frames": frames}
    print(f"clips: {len(tasks)} shots, {width}x{height}, {frames} frames, {steps} steps, "
          f"{device} {dtype}", flush=True)
    return three_ways(
        "clips", device, lambda: video_naive(model, prompts, seeds, call, device, dtype),
        lambda: run_runtime(project, TextToVideo, tasks, config, device),
        lambda: video_floor(model, prompts, call, device, dtype))


def three_ways(what: str, device: str, naive, runtime, floor) -> dict:
    """Run the naive script, the runtime and the floor in turn, each from an emptied device;
    print their times, ratios and peak memory, and the runtime's figures per model."""
    seconds, peaks = {}, {}
    stats = {}
    for name, run in (("naive", naive), ("runtime", runtime), ("floor", floor)):
        reset_peak(device)
        result = run()
        if name == "runtime":
            result, stats = result
        seconds[name], peaks[name] = result, peak_gib(device)
    naive_s, runtime_s, floor_s = seconds["naive"], seconds["runtime"], seconds["floor"]
    print(f"{what}: naive per-shot script : {naive_s:8.2f} s   peak {peaks['naive']:.2f} GiB")
    print(f"{what}: moviola runtime       : {runtime_s:8.2f} s   peak {peaks['runtime']:.2f} GiB   "
          f"({naive_s / runtime_s:.1f}× faster than naive; target ≥ 5×)")
    print(f"{what}: compute floor         : {floor_s:8.2f} s   peak {peaks['floor']:.2f} GiB   "
          f"(runtime = {runtime_s / floor_s:.2f}× the floor; target ≤ 1.2×)")
    for key, value in stats.items():
        print(f"{what}: model {key}: peak memory {value['peak_memory_bytes'] / GIB:.2f} GiB, "
              f"weights {value['size_bytes'] / GIB:.2f} GiB, load {value['load_seconds']:.1f} s, "
              f"compute {value['compute_seconds']:.1f} s", flush=True)
    return {"seconds": seconds, "peak_gib": peaks, "models": stats}


def dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on CPU: checks the script runs")
    parser.add_argument("--only", choices=("keyframes", "video"), help="one of the two benchmarks")
    parser.add_argument("--steps", type=int, default=None, help="keyframe steps (20)")
    parser.add_argument("--batch", type=int, default=8, help="keyframes per call")
    parser.add_argument("--video-steps", type=int, default=None, help="clip steps (8; Wan's own is 50)")
    parser.add_argument("--video-shots", type=int, default=2)
    parser.add_argument("--video-frames", type=int, default=121, help="Wan 2.2 TI2V: 4k+1 (121)")
    parser.add_argument("--video-size", type=lambda t: tuple(int(v) for v in t.split("x")),
                        default=(1280, 704), help="WxH (1280x704)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    import torch
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for logging in (diffusers_logging, transformers_logging):
        logging.set_verbosity_error()
        logging.disable_progress_bar()
    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    if device == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    else:
        dtype = torch.float32
        torch.set_num_threads(1)
    figures = {}
    for name, run in (("keyframes", keyframes), ("video", video)):
        if args.only in (None, name):
            with tempfile.TemporaryDirectory() as temp:
                figures[name] = run(args, device, dtype, Path(temp))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str), "utf-8")


if __name__ == "__main__":
    main()
