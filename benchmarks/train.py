"""Trainer benchmark: LoRA training steps per second and peak memory, against the compute floor.

For each model family, in one run:

1. trainer: ``runtime.training.train_lora`` on a generated dataset (6 pictures, 3 aspect
   ratios), checkpoints off, then with a checkpoint every 10 steps (its cost);
2. floor: the denoiser with the same LoRA adapters, the family's loss, backward and AdamW on
   one fixed batch (a blank picture's latents, one caption's text states), nothing around it.

Printed: steps/s of each, trainer ÷ floor (target ≥ 0.9: the trainer adds little to the
compute), the checkpoint overhead, and the peak memory (CUDA: ``max_memory_allocated``; CPU:
the process's peak RSS so far).

    python3 benchmarks/train.py --tiny        # CPU: the tiny SD, SDXL, FLUX.1, FLUX.2 klein and Z-Image test models
    python3 benchmarks/train.py               # CUDA: Stable Diffusion 1.5 shapes, random weights,
                                              # 512 px, bf16 frozen weights, gradient checkpointing

Random weights cost the same FLOPs and bytes as real ones. The figures go into
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))          # the tiny model builders
sys.path.insert(0, str(ROOT / "benchmarks"))     # gpu.py's SD 1.5-shaped pipeline


def write_dataset(folder: Path, side: int) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index in range(6):
        width, height = [(side, side), (side * 3 // 2, side), (side, side * 3 // 2)][index % 3]
        pixels = np.full((height, width, 3), 30 * index, np.uint8)
        pixels[::8] = 230
        Image.fromarray(pixels).save(folder / f"p{index}.png")


def peak_memory(device: str) -> int:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def run_trainer(project: Path, model: str, settings, label: str) -> tuple[float, int]:
    from moviola.runtime.training import TrainStep, train_lora

    steps: list = []
    reset_peak(settings.device)
    train_lora(model, project, "refs", project / f"{label}.safetensors", trigger="bench place",
               description="a test pattern", settings=settings,
               checkpoint_dir=project / ".moviola" / "train" / label,
               on_event=lambda e: steps.append(e) if isinstance(e, TrainStep) else None)
    warm = steps[len(steps) // 5]                # leave out the first steps (warm-up)
    seconds = steps[-1].seconds_per_step * steps[-1].step - warm.seconds_per_step * warm.step
    return (steps[-1].step - warm.step) / seconds, peak_memory(settings.device)


def run_floor(model_folder: Path, settings, side: int) -> tuple[float, int]:
    """The denoiser alone on one fixed batch of the trainer's shapes."""
    import torch
    from diffusers import DiffusionPipeline
    from peft import LoraConfig

    from moviola.runtime.training.families import family_for

    device = settings.device
    dtype = torch.float32 if device == "cpu" else torch.bfloat16

    pipe = DiffusionPipeline.from_pretrained(str(model_folder), use_safetensors=True,
                                             local_files_only=True, dtype=dtype)
    family = family_for(pipe)
    with torch.no_grad():
        pixels = torch.zeros(1, 3, side, side, dtype=dtype)
        latents = family.encode_image(pixels).float()
        conditioning = {k: v.float() for k, v in family.encode_text(
            pipe, "bench place, a test pattern", "cpu", (side, side), (0, 0), (side, side)).items()}
    del pipe
    denoiser = family.denoiser
    denoiser.requires_grad_(False)
    denoiser.add_adapter(LoraConfig(r=settings.rank, lora_alpha=settings.rank,
                                    target_modules=family.target_modules))
    for parameter in denoiser.parameters():
        if parameter.requires_grad:
            parameter.data = parameter.data.float()
    denoiser.to(device)
    if device.startswith("cuda"):
        denoiser.enable_gradient_checkpointing()
    trained = [p for p in denoiser.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=settings.learning_rate)
    latents = latents.to(device)
    conditioning = {k: v.to(device) for k, v in conditioning.items()}
    generator = torch.Generator().manual_seed(0)
    autocast = torch.autocast("cuda", dtype=dtype) if device.startswith("cuda") else \
        torch.autocast("cpu", enabled=False)
    reset_peak(device)

    def step():
        with autocast:
            loss = family.loss(latents, conditioning, generator)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    warm = max(1, settings.steps // 5)
    for _ in range(warm):
        step()
    sync(device)
    began = time.perf_counter()
    for _ in range(settings.steps - warm):
        step()
    sync(device)
    return (settings.steps - warm) / (time.perf_counter() - began), peak_memory(device)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="the tiny test models on CPU")
    parser.add_argument("--steps", type=int, default=None, help="steps per measurement")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import dataclasses

    import torch

    import gpu
    import tiny_image_models
    import tiny_models
    from moviola.runtime.training import TrainSettings

    cuda = torch.cuda.is_available() and not args.tiny
    device = "cuda" if cuda else "cpu"
    if not cuda:
        torch.set_num_threads(1)
    steps = args.steps or (60 if cuda else 40)
    side = 512 if cuda else 32
    if cuda:
        families = {"sd15": lambda folder: gpu.build_pipeline(folder, tiny=False)}
    else:
        families = {"sd": tiny_models.build_text_to_image, "sdxl": tiny_models.build_sdxl,
                    "flux": tiny_models.build_flux, "flux2-klein": tiny_image_models.build_flux2_klein,
                    "z-image": tiny_image_models.build_z_image}
    print(f"device {torch.cuda.get_device_name() if cuda else 'cpu (1 thread)'}, {steps} steps, "
          f"{side} px, rank 16")
    for name, build in families.items():
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            folder = build(scratch / "models" / name)
            project = folder.parents[1]
            write_dataset(project / "refs", side)
            model = folder.relative_to(project).as_posix()
            settings = TrainSettings(rank=16, steps=steps, learning_rate=1e-4, resolution=side,
                                     checkpoint_every=steps + 1, device=device)
            rate, peak = run_trainer(project, model, settings, "plain")
            saving, _ = run_trainer(project, model, dataclasses.replace(settings, checkpoint_every=10),
                                    "checkpointed")
            floor, floor_peak = run_floor(folder, settings, side)
        print(f"{name:11} trainer {rate:7.2f} steps/s  floor {floor:7.2f} steps/s  "
              f"trainer/floor {rate / floor:5.2f}  checkpoint every 10 steps: {saving / rate:5.2f}× "
              f"the speed  peak {peak / 2**20:8.0f} MiB (floor {floor_peak / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
