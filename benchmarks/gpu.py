"""GPU benchmark (run it when a GPU is at hand): keyframes of 8 shots, three ways, in one run.

1. naive: a per-shot script as in notebooks: load the pipeline, render one image, drop it;
2. runtime: Moviola's text-to-image backend: the model loaded once (ModelManager), shots batched;
3. floor: the compute alone: text encoding, the denoiser's forwards and the VAE decode of the
   same batches, with no pipeline around them.

Real-size architectures (Stable Diffusion 1.5 shapes: UNet 860 M, CLIP ViT-L text encoder, VAE)
with random weights, saved as safetensors and loaded from disk like a real model: FLOPs and
bytes do not depend on weight values. Targets: runtime ≥ 5× the naive script, ≤ 1.2× the floor.

    python3 benchmarks/gpu.py                 # on a CUDA machine (fp16)
    python3 benchmarks/gpu.py --tiny          # smoke test of the script on CPU (tiny shapes)

The figures go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))          # the byte-level CLIP tokenizer writer

SHOTS = 8
SCRIPT = "Title: Bench\nResolution: {w}x{h}\n\n" + "".join(
    f"INT. ROOM {n} - DAY\n\n[[shot: wide, 2s]]\nA table, a lamp, shot {n}.\n\n" for n in range(SHOTS))


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


def film_tasks(project: Path, config, width: int, height: int):
    from moviola.compiler.api import compile_text
    from moviola.compiler.plan import plan
    from moviola.compiler.profiles import Profile, builtin_profiles
    from moviola.runtime.executor import Task

    compiled = compile_text(SCRIPT.format(w=width, h=height), str(project / "bench.fountain"), project)
    draft = builtin_profiles()["draft"]
    profile = Profile("bench", models={**draft.models, "keyframe": config})
    render_plan = plan(compiled.film, profile)
    tasks = []
    for number, job in enumerate(j for j in render_plan.jobs if j.kind == "keyframe"):
        folder = project / "out" / f"{number:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        tasks.append(Task(job, f"k{number}", {}, {}, project, render_plan, folder))
    return tasks


def sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def run_naive(model: Path, prompts, seeds, steps, size, device, dtype) -> float:
    import torch
    from diffusers import StableDiffusionPipeline

    began = time.perf_counter()
    for prompt, seed in zip(prompts, seeds):
        pipe = StableDiffusionPipeline.from_pretrained(model, torch_dtype=dtype, use_safetensors=True).to(device)
        generator = torch.Generator(device).manual_seed(seed)
        pipe(prompt, num_inference_steps=steps, height=size[1], width=size[0], generator=generator,
             output_type="np")
        del pipe
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    sync()
    return time.perf_counter() - began


def run_runtime(project: Path, config, width, height, device) -> tuple[float, dict]:
    from moviola.runtime.backends.diffusers_image import TextToImage
    from moviola.runtime.models import ModelManager

    tasks = film_tasks(project, config, width, height)
    began = time.perf_counter()
    with ModelManager(device) as manager:
        backend = TextToImage(config, manager, project)
        backend.validate()
        for start in range(0, len(tasks), config.batch_size):
            backend.run_batch(tasks[start:start + config.batch_size])
        sync()
        stats = manager.stats()
    return time.perf_counter() - began, stats


def run_floor(model: Path, prompts, steps, size, device, dtype, batch: int) -> float:
    import torch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(model, torch_dtype=dtype, use_safetensors=True).to(device)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on CPU: checks the script runs")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    import torch

    from moviola.compiler.profiles import ModelConfig

    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    dtype = torch.float16 if device == "cuda" else torch.float32
    if device == "cpu":
        torch.set_num_threads(1)
    steps = args.steps or (2 if args.tiny else 20)
    width, height = (64, 64) if args.tiny else (512, 512)
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        model = build_pipeline(folder, args.tiny)
        project = folder / "project"
        config = ModelConfig("keyframe", "diffusers.text_to_image", "models/sd",
                             dtype="float16" if device == "cuda" else "float32", steps=steps,
                             guidance=7.5, resolution=(width, height), batch_size=args.batch)
        tasks = film_tasks(project, config, width, height)
        prompts = [t.job.params["prompt"] for t in tasks]
        seeds = [t.job.seed for t in tasks]
        print(f"{len(prompts)} shots, {width}x{height}, {steps} steps, {device} {dtype}, batch {args.batch}")
        naive = run_naive(model, prompts, seeds, steps, (width, height), device, dtype)
        runtime, stats = run_runtime(project, config, width, height, device)
        floor = run_floor(model, prompts, steps, (width, height), device, dtype, args.batch)
        print(f"naive per-shot script : {naive:8.2f} s")
        print(f"moviola runtime       : {runtime:8.2f} s   ({naive / runtime:.1f}× faster than naive; target ≥ 5×)")
        print(f"compute floor         : {floor:8.2f} s   (runtime = {runtime / floor:.2f}× the floor; target ≤ 1.2×)")
        for key, value in stats.items():
            print(f"  model {key}: {value}")


if __name__ == "__main__":
    main()
