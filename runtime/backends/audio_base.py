"""What the audio model backends share (loading through the manager, seeds, devices), and their map.

The backends: speech in :mod:`.speech_models` (VITS's batched synthesis in :mod:`.vits`), music
and effects in :mod:`.music_models`.

| backend                    | model class                          | renders         |
|----------------------------|--------------------------------------|-----------------|
| ``transformers.tts``       | ``VitsModel`` (VITS, MMS-TTS)        | speech          |
| ``transformers.tts_clone`` | ``CsmForConditionalGeneration``      | speech (cloned) |
| ``transformers.pocket_tts``| ``PocketTTSForConditionalGeneration``| speech (cloned) |
| ``transformers.vibevoice`` | ``VibeVoiceForConditionalGeneration``| speech (cloned) |
| ``transformers.musicgen``  | ``MusicgenForConditionalGeneration`` | music, sfx      |
| ``diffusers.stable_audio`` | ``StableAudioPipeline``              | music, sfx      |
| ``diffusers.ace_step``     | ``AceStepPipeline`` (sung lyrics)    | music           |
| ``diffusers.stable_audio_3`` | ``StableAudio3Pipeline``           | music, sfx      |

docs/audio-backends.md is the user documentation.

Every backend is built with its :class:`~moviola.compiler.profiles.ModelConfig`, the build's
:class:`~moviola.runtime.models.ModelManager` and the project folder; ``validate()`` finds the
model folder (offline) before any GPU work, and ``run_batch(tasks)`` renders compatible jobs
together. Models are fetched from the manager at each batch (loaded once, kept resident).

Determinism: every job has its own seed, and batching never changes what a job renders.

- VITS draws its noise inside ``forward`` from torch's global generator, so a batch would mix
  the jobs' noise. :func:`vits_synthesize` runs the model's own modules (text encoder, duration
  predictor, flow, vocoder) with each job's noise drawn from its own ``torch.Generator`` at the
  job's own lengths; the vocoder (unmasked convolutions) runs per job on its unpadded
  spectrogram. Speaking rate and noise scales are per job, so delivery hints batch too.
- MusicGen samples with ``torch.multinomial`` on the global generator. :class:`MusicGen`
  generates greedily through a logits processor that does the sampling itself (classifier-free
  guidance, temperature, top-k, then Gumbel-max with each job's generator), so every row of a
  batch follows its own seed. A row may be generated longer than it needs (its batch's longest);
  the extra frames never change the frames before them (causal decoder), and each row keeps
  ``MARGIN_SECONDS`` of frames beyond its length, so the codec's look-ahead sees the same codes.
- CSM samples inside a nested generate (backbone, then the depth decoder) on the global
  generator, and Pocket TTS's flow sampler and VibeVoice's diffusion head draw their noise
  there too: jobs run one at a time,
  each under ``torch.random.fork_rng`` seeded with its seed.
- Stable Audio takes a list of generators (one per job); its length conditioning is one number
  per call, so only jobs of equal length share a batch.

Heavy imports (torch, transformers, diffusers) happen inside functions only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Hashable

import numpy as np

from moviola.runtime import models as store
from moviola.runtime.audio_io import load_audio
from moviola.runtime.backends.protocol import BaseBackend, check_options

MIN_RECORDING_SECONDS = 0.1      # a take or voice recording shorter than this holds no speech


@dataclass
class Loaded:
    """What a backend keeps resident: the model and its tokenizer or processor."""

    model: Any
    processor: Any


class TransformersBackend(BaseBackend):
    """Locating, loading (through the model manager) and batching, shared by the audio backends.

    Subclasses set ``model_types`` (accepted ``model_type`` values of config.json), implement
    ``load(path) -> Loaded`` and ``render(tasks, model_name) -> list[meta]``, and may group jobs
    (``group``) when they need different models."""

    model_types: tuple[str, ...] = ()
    what: str = "a model"                     # for messages: "a VITS model"

    def __init__(self, config, models, project: Path | None):
        self.config = config
        self.models = models
        self.project = Path(project) if project is not None else None
        self.options = dict(config.options or {})
        self.batch_size = max(1, int(config.batch_size or 1))
        self.revision = ""                  # the weights' identity (cache keys), set by validate()
        self._paths: dict[str, Path] | None = None

    # -- finding the model
    def model_names(self) -> list[str]:
        """Every model this backend may load (the configured one, plus any the options name)."""
        return [self.config.model] if self.config.model else []

    def validate(self) -> None:
        """Find every model folder now: :class:`ModelNotFound` or :class:`ModelBroken` before any
        GPU work."""
        names = self.model_names()
        if not names:
            raise store.ModelNotFound(str(self.config.model), [],
                                      reason=f"backend {self.config.backend} needs a model: set "
                                             f"model = \"org/name\" or a project folder")
        paths = {}
        for name in names:
            path = store.locate(name, self.project)
            self._check_type(path)
            paths[name] = path
        self._paths = paths
        self.revision = "+".join(store.identity(path) for path in paths.values())
        check_options(self.config, self.options_read)

    def _check_type(self, path: Path) -> None:
        if not self.model_types or not path.is_dir():
            return
        try:
            model_type = json.loads((path / "config.json").read_text("utf-8")).get("model_type")
        except (OSError, ValueError, AttributeError):
            raise store.ModelBroken(path, "config.json is missing or not readable JSON") from None
        if model_type not in self.model_types:
            raise store.ModelBroken(path, f"config.json describes a {model_type!r} model; backend "
                                    f"{self.config.backend} needs {self.what} (model_type "
                                    f"{' or '.join(map(repr, self.model_types))})")

    def path(self, name: str) -> Path:
        if self._paths is None:
            self.validate()
        return self._paths[name]

    # -- residency
    def key(self, name: str) -> str:
        return f"{self.config.backend}|{self.path(name)}|{self.config.dtype}"

    def generate(self, name: str, labels: list[str], run):
        """``run()`` on the resident model ``name`` for the jobs ``labels`` name, through the
        manager: an out of memory evicts the other models and retries once, then names the
        jobs (``run`` seeds its own generators, so the retry draws the same noise)."""
        return self.models.call(self.key(name), run, lambda: (
            f"{', '.join(dict.fromkeys(labels))}: {len(labels)} generation(s) per call "
            f"(batch_size {self.config.batch_size})"))

    def resident(self, name: str) -> Loaded:
        path = self.path(name)
        return self.models.get(self.key(name), lambda: self.load(path))

    def torch_dtype(self):
        return store.pick_dtype(self.config.dtype, self.models.device)

    def load(self, path: Path) -> Loaded:
        raise NotImplementedError

    def load_with_processor(self, model_class, path: Path) -> Loaded:
        """``model_class`` and the folder's ``AutoProcessor``, loaded safely, in eval mode."""
        from transformers import AutoProcessor

        model = store.load_safely(model_class.from_pretrained, path, dtype=self.torch_dtype())
        processor = store.load_safely(AutoProcessor.from_pretrained, path)
        return Loaded(model.eval(), processor)

    # -- running
    def group(self, task) -> Hashable:
        """Jobs with equal groups can share a batch; the group names the model to use."""
        return self.config.model

    def render(self, tasks: list, name: str) -> list[dict]:
        raise NotImplementedError

    def run_batch(self, tasks: list) -> list[dict]:
        """Render ``tasks`` (any number), in batches of at most ``batch_size`` compatible jobs;
        the metas come back in the order of ``tasks``."""
        if self._paths is None:
            self.validate()
        results: list[dict | None] = [None] * len(tasks)
        groups: dict[Hashable, list[int]] = {}
        for index, task in enumerate(tasks):
            groups.setdefault(self.group(task), []).append(index)
        for name, indexes in groups.items():
            for start in range(0, len(indexes), self.batch_size):
                chunk = indexes[start:start + self.batch_size]
                for index, meta in zip(chunk, self.render([tasks[i] for i in chunk], name)):
                    results[index] = meta
        return results

    def close(self) -> None:
        """Nothing to free: the model manager owns the models."""


def seeded_generator(device, seed: int):
    import torch

    return torch.Generator(device=device).manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)


def sub_seed(seed: int, purpose: str) -> int:
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def clean_text(text: str) -> str:
    return " ".join(text.split())


def device_of(model):
    import torch

    return next(model.parameters()).device if isinstance(model, torch.nn.Module) else model.device


def on_model(inputs, model):
    """A processor's output (a BatchFeature) on ``model``'s device, its floating tensors (a
    voice's samples) in the model's dtype: the models do not cast them themselves, and a
    bfloat16 codec refuses float32 samples."""
    return inputs.to(device_of(model), dtype=next(model.parameters()).dtype)



def read_recording(task, relative: str, rate: int) -> np.ndarray:
    """A recording the job declared (a take, a ``voice:`` sample), as mono float32 at ``rate``,
    or an error naming the line."""
    label = task.job.label
    try:
        samples = load_audio(task.source(relative), rate, channels=1)[:, 0]
    except (OSError, ValueError, IndexError) as error:   # av's errors are OSError / ValueError
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{label}: {relative} is not a readable recording ({reason})") from None
    if len(samples) < MIN_RECORDING_SECONDS * rate:
        raise ValueError(f"{label}: {relative} holds no speech (shorter than "
                         f"{MIN_RECORDING_SECONDS:g} s)")
    return samples


def exact_length(samples: np.ndarray, length: int) -> np.ndarray:
    """``samples`` cut or padded with silence to ``length``."""
    if len(samples) >= length:
        return samples[:length]
    return np.pad(samples, (0, length - len(samples)))
