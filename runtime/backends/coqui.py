"""Speech on Coqui TTS (the maintained ``coqui-tts`` fork): XTTS-v2 voices cloned from a
character's recording, and FreeVC speech-to-speech from a recorded performance.

``coqui-tts`` is an optional extra: it needs torchaudio, which the CPU images of this project do
not carry. Nothing here imports it until ``validate()``, which says plainly when it cannot:
``coqui-tts is not importable here: <why>; install the `coqui` extra on a machine with
torchaudio``.

Coqui ships its checkpoints as PyTorch pickles (``model.pth``), not safetensors. These two
backends accept them, because coqui-tts loads them with ``torch.load(weights_only=True)``
(tensors and plain containers only, no code) on torch ≥ 2.4; every other Moviola backend
loads safetensors only. Everything else (offline lookup, residency, seeds) works as for the
transformers backends (:mod:`.speech_models`).

- ``coqui.xtts`` (``Xtts``): the line in the character's voice, cloned from its ``voice:``
  recording (conditioning latents computed once per recording and kept), in the film's
  language. A character without a recording gets one of XTTS's built-in speakers: the
  ``speakers`` option maps characters to names, otherwise the character's index picks one.
  Delivery hints set ``speed`` (whisper/slow lower, shout/fast higher) and the level.
  Options: ``temperature`` (0.65), ``top_k`` (50), ``top_p`` (0.8), ``repetition_penalty``
  (2.0), ``length_penalty`` (1.0).
- ``coqui.freevc`` (``FreeVC``): the writer's recorded performance of the line (``performance``)
  converted into the character's voice (``voice:``). A line without a performance, or a
  character without a recording, is an error naming the line. FreeVC reads WavLM-Large
  features: coqui keeps that checkpoint in its user data folder
  (``~/.local/share/tts/wavlm/WavLM-Large.pt``) and would download it on first use; builds are
  offline, so the backend checks it is there first and says how to fetch it.

Jobs run one at a time (both models sample from torch's global generator), each under
``torch.random.fork_rng`` seeded with the job's seed; the model stays resident.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from moviola.runtime import models as store
from moviola.runtime.audio_io import write_wav
from moviola.runtime.backends.protocol import BaseBackend, check_options
from moviola.runtime.backends.audio_base import Loaded
from moviola.runtime.backends.speech_models import (SILENCE_SECONDS, conversion_problems,
                                                    delivery_of)

__all__ = ["CoquiUnavailable", "XttsBackend", "FreeVcBackend"]

XTTS_LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar",
                  "zh-cn", "hu", "ko", "ja", "hi")


class CoquiUnavailable(ImportError):
    """coqui-tts (the ``TTS`` package) cannot be imported on this machine."""


def import_coqui(*modules: str) -> list:
    """Import ``TTS`` modules, turning any failure into :class:`CoquiUnavailable` with the first
    line of the reason (a missing package, torchaudio's shared library, a version clash)."""
    try:
        return [importlib.import_module(name) for name in ("TTS",) + modules]
    except (ImportError, OSError, RuntimeError) as error:
        text = str(error).strip()
        first = text.splitlines()[0] if text else type(error).__name__
        raise CoquiUnavailable(f"coqui-tts is not importable here: {first}; install the `coqui` "
                               f"extra on a machine with torchaudio") from None


class _CoquiBackend(BaseBackend):
    modules: tuple[str, ...] = ()
    required: tuple[str, ...] = ("config.json", "model.pth")

    def __init__(self, config, models, project: Path | None):
        self.config = config
        self.models = models
        self.project = Path(project) if project is not None else None
        self.options = dict(config.options or {})
        self.revision = ""                  # the weights' identity (cache keys), set by validate()
        self._path: Path | None = None

    def validate(self) -> None:
        """coqui-tts importable, then the model folder found (offline) and complete."""
        import_coqui(*self.modules)
        if not self.config.model:
            raise store.ModelNotFound("", [], reason=f"backend {self.config.backend} needs a model")
        self._path = locate_checkpoint(self.config.model, self.project, self.required)
        self._check_extra()
        self.revision = store.identity(self._path)
        check_options(self.config, self.options_read)

    def _check_extra(self) -> None:
        """Anything else the model needs on disk."""

    @property
    def path(self) -> Path:
        if self._path is None:
            self.validate()
        return self._path

    def key(self) -> str:
        return f"{self.config.backend}|{self.path}|{self.config.dtype}"

    def resident(self) -> Loaded:
        path = self.path
        return self.models.get(self.key(), lambda: self.load(path))

    def load(self, path: Path) -> Loaded:
        raise NotImplementedError

    def run_batch(self, tasks: list) -> list[dict]:
        if self._path is None:
            self.validate()
        return [self.render(task) for task in tasks]

    def render(self, task) -> dict:
        raise NotImplementedError

    def seeded(self, seed: int):
        """A context: torch's generators forked (restored after) and seeded with ``seed``."""
        import contextlib

        import torch

        device = self.models.device
        cuda = [device] if str(device).startswith("cuda") else []

        @contextlib.contextmanager
        def scope():
            with torch.random.fork_rng(devices=cuda), torch.inference_mode():
                torch.manual_seed(int(seed))
                yield

        return scope()

    def write(self, task, wave, rate: int) -> dict:
        wave = np.asarray(wave, dtype=np.float32).reshape(-1)
        delivery = delivery_of(task.job.params.delivery or ())
        wave = np.clip(wave * delivery.gain, -1.0, 1.0)
        if not len(wave):
            wave = np.zeros(int(SILENCE_SECONDS * rate), np.float32)
        write_wav(task.output("speech"), wave, rate)
        return {"seconds": round(len(wave) / rate, 4), "sample_rate": rate}

    def project_file(self, task, written: str | None, what: str) -> Path:
        if not written:
            raise ValueError(f"{task.job.label}: backend {self.config.backend} needs {what}")
        return task.source(written)

    def close(self) -> None:
        """Nothing to free: the model manager owns the models."""


def locate_checkpoint(model: str, project: Path | None, required: tuple[str, ...]) -> Path:
    """The folder of a coqui model: like :func:`moviola.runtime.models.locate`, but a folder
    whose weights are ``.pth`` pickles is accepted (coqui-tts loads them weights-only), once it
    is complete: ``required`` files present, JSON readable, no dangling links."""
    try:
        path = store.locate(model, project)
    except store.ModelBroken as error:
        path = Path(error.path)
        if not path.is_dir() or not any(p.suffix == ".pth" for p in path.iterdir()):
            raise
    dangling = [p for p in path.rglob("*") if p.is_symlink() and not p.exists()]
    if dangling:
        raise store.ModelBroken(path, f"incomplete download: {dangling[0].relative_to(path)} "
                                f"points at a missing file; download the model again")
    missing = [name for name in required if not (path / name).is_file()]
    if missing:
        raise store.ModelBroken(path, f"not a complete coqui model folder: {', '.join(missing)} "
                                f"missing")
    try:
        json.loads((path / "config.json").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise store.ModelBroken(path, f"config.json is not readable JSON ({reason})") from None
    return path


def _load_config(config_class, path: Path):
    config = config_class()
    config.load_json(str(path / "config.json"))
    return config


def xtts_language(tag: str | None) -> str:
    """The film's language tag as an XTTS language code (``fr-FR`` → ``fr``, ``zh`` → ``zh-cn``)."""
    tag = (tag or "en").strip().lower().replace("_", "-")
    if tag in XTTS_LANGUAGES:
        return tag
    primary = tag.split("-")[0]
    if primary == "zh":
        return "zh-cn"
    if primary in XTTS_LANGUAGES:
        return primary
    raise ValueError(f"XTTS-v2 does not speak language {tag!r}; it speaks "
                     f"{', '.join(XTTS_LANGUAGES)}")


class XttsBackend(_CoquiBackend):
    """``coqui.xtts``: XTTS-v2 (see the module's docstring)."""

    modules = ("TTS.tts.configs.xtts_config", "TTS.tts.models.xtts")
    required = ("config.json", "model.pth", "vocab.json")
    options_read = frozenset({"speakers", "temperature", "top_k", "top_p", "repetition_penalty",
                              "length_penalty"})

    def __init__(self, config, models, project):
        super().__init__(config, models, project)
        self._latents: dict[str, tuple] = {}        # voice recording → conditioning latents

    def load(self, path: Path) -> Loaded:
        _, config_module, model_module = import_coqui(*self.modules)
        config = _load_config(config_module.XttsConfig, path)

        def loader(folder, **_):
            model = model_module.Xtts.init_from_config(config)
            model.load_checkpoint(config, checkpoint_dir=folder, eval=True, use_deepspeed=False)
            return model

        return Loaded(store.load_safely(loader, path), config)

    def render(self, task) -> dict:
        loaded = self.resident()
        model, config = loaded.model, loaded.processor
        params = task.job.params
        language = xtts_language(params.language)
        latent, embedding = self._conditioning(model, task)
        delivery = delivery_of(params.delivery or ())
        settings = {name: self.options[name] for name in
                    ("temperature", "top_k", "top_p", "repetition_penalty", "length_penalty")
                    if name in self.options}
        with self.models.compute(self.key()), self.seeded(task.job.seed):
            out = model.inference(" ".join(params.text.split()), language, latent, embedding,
                                  speed=delivery.rate, enable_text_splitting=True, **settings)
        rate = int(getattr(config.audio, "output_sample_rate", 24000))
        return self.write(task, out["wav"], rate)

    def _conditioning(self, model, task):
        params = task.job.params
        if params.voice_sample:
            voice = params.voice_sample
            if voice not in self._latents:
                with self.seeded(0):
                    self._latents[voice] = model.get_conditioning_latents(
                        audio_path=[str(task.source(voice))])
            return self._latents[voice]
        speakers = getattr(getattr(model, "speaker_manager", None), "speakers", None) or {}
        if not speakers:
            raise ValueError(f"{task.job.label}: character {params.character} has no voice: "
                             f"recording, and this XTTS model has no built-in speakers")
        chosen = (self.options.get("speakers") or {}).get(params.character)
        if chosen is None:
            chosen = sorted(speakers)[int(params.character_index) % len(speakers)]
        elif chosen not in speakers:
            raise ValueError(f"speaker {chosen!r} (for {params.character}) is not one of this "
                             f"XTTS model's speakers")
        entry = speakers[chosen]
        return entry["gpt_cond_latent"], entry["speaker_embedding"]


def wavlm_checkpoint() -> Path:
    """Where coqui-tts keeps WavLM-Large: its ``get_user_data_dir("tts")`` (``$TTS_HOME``, else
    ``$XDG_DATA_HOME``, else the platform's user data folder: ``~/.local/share`` on Linux),
    then ``wavlm/WavLM-Large.pt``."""
    try:
        from trainer.io import get_user_data_dir
    except ImportError:
        try:
            from TTS.utils.generic_utils import get_user_data_dir
        except ImportError:
            get_user_data_dir = None
    if get_user_data_dir is not None:
        root = Path(get_user_data_dir("tts"))
    else:
        base = os.environ.get("TTS_HOME") or os.environ.get("XDG_DATA_HOME")
        if base:
            root = Path(base).expanduser() / "tts"
        elif sys.platform == "darwin":
            root = Path.home() / "Library" / "Application Support" / "tts"
        else:
            root = Path.home() / ".local" / "share" / "tts"
    return root / "wavlm" / "WavLM-Large.pt"


class FreeVcBackend(_CoquiBackend):
    """``coqui.freevc``: FreeVC speech-to-speech (see the module's docstring)."""

    modules = ("TTS.vc.configs.freevc_config", "TTS.vc.models.freevc")

    def check_jobs(self, jobs) -> list[str]:
        return conversion_problems(jobs)

    def _check_extra(self) -> None:
        wavlm = wavlm_checkpoint()
        if not wavlm.is_file():
            raise store.ModelNotFound("WavLM-Large (FreeVC's content encoder)", [wavlm],
                                      reason="coqui-tts would download it during the build, and "
                                             "builds are offline; fetch https://github.com/"
                                             "coqui-ai/TTS/releases/download/v0.13.0_models/"
                                             "WavLM-Large.pt to that path first")

    def load(self, path: Path) -> Loaded:
        _, config_module, model_module = import_coqui(*self.modules)
        config = _load_config(config_module.FreeVCConfig, path)

        def loader(folder, **_):
            model = model_module.FreeVC.init_from_config(config)
            model.load_checkpoint(config, str(Path(folder) / "model.pth"), eval=True)
            return model

        return Loaded(store.load_safely(loader, path), config)

    def render(self, task) -> dict:
        performance = self.project_file(task, task.job.params.performance,
                                        "a recorded performance of the "
                                        "line ([[voice: from: takes/line.wav]]), or a "
                                        "text-to-speech backend")
        voice = self.project_file(task, task.job.params.voice_sample, f"a `voice:` recording for "
                                  f"{task.job.params.character}")
        loaded = self.resident()
        model, config = loaded.model, loaded.processor
        with self.models.compute(self.key()), self.seeded(task.job.seed):
            wave = model.voice_conversion(src=str(performance), tgt=[str(voice)])
        rate = int(getattr(config.audio, "output_sample_rate", 24000))
        return self.write(task, wave, rate)
