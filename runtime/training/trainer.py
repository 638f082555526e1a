"""LoRA training of a keyframe model on an asset's pictures: seeded, resumable, observable.

``train_lora`` loads the base pipeline offline (safetensors only), encodes every picture once
(latents of its bucket-sized crop, the caption's text conditioning), frees the VAE and text
encoders, adds LoRA adapters to the denoiser's attention projections and trains them with
AdamW. Every random draw after that comes from one seeded CPU generator (noise, timesteps) or
from the step number (the order of the batches), so:

- two trainings with one seed give identical weights, on any device of the same kind;
- a checkpoint every ``checkpoint_every`` steps (LoRA, optimizer state, generator state, step;
  written atomically) lets a killed training resume and end with exactly the weights an
  uninterrupted run ends with.

The result is one ``.safetensors`` LoRA in diffusers' format, written by the pipeline's own
``save_lora_weights``: ``load_lora_weights`` (the ``lora:`` setting of a profile) and other
diffusers-format tools load it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from moviola.compiler.properties import TRAIN_DEFAULTS
from moviola.runtime import models as store
from moviola.runtime.training import checkpoint as checkpoints
from moviola.runtime.training.dataset import (Example, bucket_for, buckets, fingerprint,
                                              load_examples, open_image)
from moviola.runtime.training.families import family_for
from moviola.runtime.video import cover

LORA_FILE = "pytorch_lora_weights.safetensors"


@dataclass(frozen=True)
class TrainSettings:
    """The hyperparameters. ``resolution`` None: the model's native side (512 for SD 1.5,
    1024 for SDXL and FLUX); ``gradient_checkpointing`` None: on for CUDA; ``dtype`` auto:
    bfloat16 (else float16) for the frozen weights on CUDA, float32 on CPU; the LoRA weights
    always train in float32."""

    rank: int = TRAIN_DEFAULTS["rank"]
    steps: int = TRAIN_DEFAULTS["steps"]
    learning_rate: float = TRAIN_DEFAULTS["learning_rate"]
    resolution: int | None = None
    seed: int = TRAIN_DEFAULTS["seed"]
    checkpoint_every: int | None = None       # None: every tenth of the run, at most 100 steps
    batch_size: int = 1
    gradient_checkpointing: bool | None = None
    device: str = "auto"
    dtype: str = "auto"

    def check(self) -> None:
        for name in ("rank", "steps", "checkpoint_interval", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a whole number ≥ 1, not {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning rate must be > 0, not {self.learning_rate}")
        if self.resolution is not None and self.resolution < 8:
            raise ValueError(f"resolution must be at least 8 pixels, not {self.resolution}")

    @property
    def checkpoint_interval(self) -> int:
        """Steps between checkpoints: a short training killed late still loses little."""
        if self.checkpoint_every is not None:
            return int(self.checkpoint_every)
        return min(100, max(1, int(self.steps) // 10))

    def identity(self) -> dict:
        """What the trained weights depend on (how often checkpoints are written does not)."""
        data = asdict(self)
        data.pop("checkpoint_every")
        return data


# -- progress events (a display shows them; tests read them) ------------------------------------

@dataclass(frozen=True)
class TrainStarted:
    steps: int
    start_step: int               # > 0 when resumed from a checkpoint
    examples: int
    buckets: dict                 # "WxH" → pictures in it
    device: str
    dtype: str


@dataclass(frozen=True)
class TrainStep:
    step: int                     # steps done, 1 … steps
    steps: int
    loss: float
    seconds_per_step: float
    eta_seconds: float


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: Path


@dataclass(frozen=True)
class TrainFinished:
    output: Path
    steps: int
    resumed_from: int
    loss_before: float            # the dataset's loss on fixed noise, base model
    loss_after: float             # the same with the trained LoRA
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    output: Path
    trigger: str
    examples: list[Example]
    resumed_from: int
    loss_before: float
    loss_after: float
    losses: list[float] = field(repr=False)      # per step run in this call


class TrainingError(Exception):
    """A training that cannot start (unsupported model, bad settings): one line to act on."""


def train_lora(model: str, project: Path, dataset: list[str] | str, output: Path, *,
               trigger: str, description: str = "", settings: TrainSettings = TrainSettings(),
               checkpoint_dir: Path | None = None,
               on_event: Callable[[object], None] | None = None) -> TrainResult:
    """Train a LoRA of ``model`` (a project folder or a Hugging Face id in the local cache) on
    the pictures of ``dataset`` (project-relative folders or files) and write it to ``output``.

    Captions: each picture's sidecar ``.txt``, else ``description``; ``trigger`` is put in
    front of each caption that lacks it. Checkpoints go to ``checkpoint_dir`` (default
    ``.moviola/train/<trigger>/`` in the project); one of the same training there is resumed.
    """
    import torch

    settings.check()
    project = Path(project).resolve()
    emit = on_event or (lambda event: None)
    refs = [dataset] if isinstance(dataset, str) else list(dataset)
    examples = load_examples(project, refs, trigger, description)
    path = store.locate(model, project)
    device = store.pick_device(settings.device)
    dtype = store.pick_dtype(settings.dtype, device) if device != "cpu" else torch.float32
    key = _fingerprint(store.identity(path), fingerprint(project, examples), settings, device, dtype)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else \
        project / ".moviola" / "train" / _slug(trigger)
    checkpoint_path = checkpoint_dir / "checkpoint.safetensors"

    from diffusers import DiffusionPipeline


    pipe = store.load_safely(DiffusionPipeline.from_pretrained, path, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    try:
        family = family_for(pipe)
    except Exception as error:
        raise TrainingError(str(error)) from None
    resolution = settings.resolution or family.native_resolution
    choices = buckets(resolution, family.size_multiple)
    data = _encode(pipe, family, project, examples, choices, device)
    denoiser = family.denoiser
    del pipe                                         # the VAE and text encoders are done
    family.vae = None
    _release(device)

    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    denoiser.requires_grad_(False)
    # the adapters' initial values come from the seed, drawn on the CPU whatever the device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        denoiser.add_adapter(LoraConfig(r=settings.rank, lora_alpha=settings.rank,
                                        init_lora_weights=True,
                                        target_modules=family.target_modules))
    cast_training_params(denoiser, dtype=torch.float32)
    denoiser.to(device)
    if settings.gradient_checkpointing if settings.gradient_checkpointing is not None \
            else device.startswith("cuda"):
        denoiser.enable_gradient_checkpointing()
    named = [(name, p) for name, p in denoiser.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([p for _, p in named], lr=settings.learning_rate,
                                  weight_decay=1e-2)
    noise = torch.Generator("cpu").manual_seed(settings.seed)

    start = 0
    resumed = checkpoints.load(checkpoint_path, key)
    if resumed is not None and resumed.step < settings.steps:
        with torch.no_grad():
            for name, parameter in named:
                parameter.copy_(resumed.lora[name].to(parameter.device, parameter.dtype))
        optimizer.load_state_dict(resumed.optimizer)
        noise.set_state(resumed.noise_rng)
        start = resumed.step
    schedule = _Schedule(data, settings.batch_size, settings.seed)
    autocast = _autocast(device, dtype)
    emit(TrainStarted(settings.steps, start, len(examples),
                      {f"{w}x{h}": n for (w, h), n in schedule.counts().items()}, device,
                      str(dtype).replace("torch.", "")))

    denoiser.train()
    losses: list[float] = []
    began = time.perf_counter()
    for step in range(start, settings.steps):
        latents, conditioning = schedule.batch(step, device)
        with autocast:
            loss = family.loss(latents, conditioning, noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in named], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        done = step + 1
        per_step = (time.perf_counter() - began) / (done - start)
        emit(TrainStep(done, settings.steps, losses[-1], per_step, per_step * (settings.steps - done)))
        if done % settings.checkpoint_interval == 0 and done < settings.steps:
            checkpoints.save(checkpoint_path, checkpoints.Checkpoint(
                done, key, {name: p for name, p in named}, optimizer.state_dict(), noise.get_state()))
            emit(CheckpointSaved(done, checkpoint_path))
    denoiser.eval()

    loss_after = _dataset_loss(family, schedule, device, autocast, settings.seed)
    denoiser.disable_adapters()
    loss_before = _dataset_loss(family, schedule, device, autocast, settings.seed)
    denoiser.enable_adapters()
    _save_lora(family, denoiser, Path(output))
    checkpoint_path.unlink(missing_ok=True)          # the LoRA is the result now
    emit(TrainFinished(Path(output), settings.steps, start, loss_before, loss_after,
                       time.perf_counter() - began))
    return TrainResult(Path(output), trigger, examples, start, loss_before, loss_after, losses)


# -- preparing the data -------------------------------------------------------------------------

@dataclass
class _Item:
    bucket: tuple[int, int]
    latents: object               # (1, C, h, w) on the CPU, float32
    conditioning: dict            # name → (1, …) tensor on the CPU


def _encode(pipe, family, project: Path, examples: list[Example], choices, device) -> list[_Item]:
    """Each picture cover-resized to its bucket and encoded once; each caption encoded once."""
    import numpy as np
    import torch

    vae = family.vae.to(device)
    for name in ("text_encoder", "text_encoder_2", "text_encoder_3"):
        encoder = getattr(pipe, name, None)
        if encoder is not None:
            encoder.to(device)
    items = []
    with torch.no_grad():
        for example in examples:
            bucket = bucket_for(example.size, choices)
            image = cover(open_image(project / example.path), bucket)
            pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0)
            pixels = pixels.permute(2, 0, 1)[None].to(device)
            latents = family.encode_image(pixels).float().cpu()
            crop = _cover_crop(example.size, bucket)
            conditioning = family.encode_text(pipe, example.caption, device, example.size, crop, bucket)
            items.append(_Item(bucket, latents, {k: v.float().cpu() for k, v in conditioning.items()}))
    vae.to("cpu")
    return items


def _cover_crop(size: tuple[int, int], bucket: tuple[int, int]) -> tuple[int, int]:
    """(left, top) of the centre crop ``cover`` takes, in the scaled image's pixels."""
    scale = max(bucket[0] / size[0], bucket[1] / size[1])
    return (max(0, round((size[0] * scale - bucket[0]) / 2)),
            max(0, round((size[1] * scale - bucket[1]) / 2)))


class _Schedule:
    """Which pictures each step trains on: per epoch, each bucket's pictures shuffled and cut
    into batches, the batches shuffled; all from (seed, epoch), so step N's batch is known
    without replaying steps 0 … N−1."""

    def __init__(self, items: list[_Item], batch_size: int, seed: int):
        self.items = items
        self.seed = seed
        self.by_bucket: dict[tuple[int, int], list[int]] = {}
        for index, item in enumerate(items):
            self.by_bucket.setdefault(item.bucket, []).append(index)
        self.batch_size = batch_size
        self._epoch: tuple[int, list[list[int]]] | None = None

    def counts(self) -> dict:
        return {bucket: len(members) for bucket, members in sorted(self.by_bucket.items())}

    def epoch(self, epoch: int) -> list[list[int]]:
        import torch

        if self._epoch is None or self._epoch[0] != epoch:
            digest = hashlib.sha256(f"moviola-lora:{self.seed}:{epoch}".encode()).digest()
            generator = torch.Generator("cpu").manual_seed(int.from_bytes(digest[:8], "little") >> 1)
            batches = []
            for bucket in sorted(self.by_bucket):
                members = self.by_bucket[bucket]
                order = [members[i] for i in torch.randperm(len(members), generator=generator)]
                batches += [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
            self._epoch = (epoch, [batches[i] for i in torch.randperm(len(batches), generator=generator)])
        return self._epoch[1]

    def per_epoch(self) -> int:
        return sum(math.ceil(len(m) / self.batch_size) for m in self.by_bucket.values())

    def batch(self, step: int, device) -> tuple[object, dict]:
        epoch, index = divmod(step, self.per_epoch())
        return self.collate(self.epoch(epoch)[index], device)

    def collate(self, indices: list[int], device) -> tuple[object, dict]:
        import torch

        chosen = [self.items[i] for i in indices]
        latents = torch.cat([item.latents for item in chosen]).to(device)
        conditioning = {key: _stack([item.conditioning[key] for item in chosen]).to(device)
                        for key in chosen[0].conditioning}
        return latents, conditioning


def _stack(tensors: list):
    """(1, …) tensors as one batch; captions of different lengths (Z-Image keeps each at its
    own) padded with zeros to the longest, which their family cuts off again."""
    import torch

    longest = max(t.shape[1] for t in tensors) if tensors[0].dim() > 1 else None
    if longest is not None and any(t.shape[1] != longest for t in tensors):
        tensors = [torch.nn.functional.pad(t, (0, 0) * (t.dim() - 2) + (0, longest - t.shape[1]))
                   for t in tensors]
    return torch.cat(tensors)


def _dataset_loss(family, schedule: _Schedule, device, autocast, seed: int, draws: int = 4) -> float:
    """The mean loss over every picture with fixed noise and timesteps (a separate generator:
    measuring never changes the training)."""
    import torch

    generator = torch.Generator("cpu").manual_seed(seed + 1_000_003)
    total = 0.0
    with torch.no_grad(), autocast:
        for index in range(len(schedule.items)):
            latents, conditioning = schedule.collate([index], device)
            for _ in range(draws):
                total += float(family.loss(latents, conditioning, generator))
    return total / (len(schedule.items) * draws)


def _autocast(device: str, dtype):
    import contextlib

    import torch

    if device == "cpu" or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.split(":")[0], dtype=dtype)


def _save_lora(family, denoiser, output: Path) -> None:
    """The adapters in diffusers' LoRA format (``unet.…lora_A.weight`` / ``transformer.…``),
    written by the pipeline class's ``save_lora_weights``, renamed into place."""
    import tempfile

    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    layers = get_peft_model_state_dict(denoiser)
    if family.old_lora_names:
        layers = convert_state_dict_to_diffusers(layers)
    layers = {name: tensor.detach().float().cpu().contiguous() for name, tensor in layers.items()}
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}.") as folder:
        family.save(folder, layers, LORA_FILE)
        written = Path(folder) / LORA_FILE
        checkpoints.write_atomically(output, lambda temporary: written.replace(temporary))


def _fingerprint(model_identity: str, data: str, settings: TrainSettings, device: str, dtype) -> str:
    payload = {"model": model_identity, "data": data, "settings": settings.identity(),
               "device": device.split(":")[0], "dtype": str(dtype)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text.lower()).strip("-") or "lora"


def _release(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
