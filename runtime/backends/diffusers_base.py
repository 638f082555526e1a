"""What every visual backend on diffusers pipelines shares: finding, loading, batching, calling.

The backends are in :mod:`.diffusers_image` (keyframes), :mod:`.diffusers_video` (clips from a
keyframe or from text) and :mod:`.diffusers_footage` (a filmed video restyled). Every backend
follows the same path (docs/backends.md has the details):

- ``validate()`` finds the model (and its LoRA, IP-Adapter) on disk before any GPU work, and
  raises ``ModelNotFound`` / ``ModelBroken`` with a message a person can act on;
- the pipeline is loaded once through the shared ``ModelManager`` (``DiffusionPipeline``, the
  class the model folder declares, safetensors only, offline), so every visual backend of a
  build that names the same model shares one resident copy; variants of it (image-to-image,
  video-to-video) share its component objects and keep their dtypes (:func:`share_pipeline`);
- a video pipeline's VAE decodes in tiles and slices (``options.vae_tiling``: false turns it
  off, a table sets the tile sizes), so a long clip's decode does not outgrow the card;
- ``run_batch(tasks)`` groups compatible jobs (same generation size, frame count, LoRA and
  conditioning) and renders each group in calls of up to ``config.batch_size`` samples, with
  one ``torch.Generator`` per sample seeded from its job: batched output equals unbatched;
- call arguments are chosen by introspecting the pipeline's ``__call__``, so any diffusers
  pipeline of the right family works (SD/SDXL/FLUX for keyframes; Stable Video Diffusion,
  LTX-Video, Wan for clips);
- pictures are generated at ``config.resolution`` (rounded to what the pipeline needs) and
  cover-resized to the film's size; a clip's frames are retimed to the shot's frame count.

torch and diffusers are imported inside the classes only.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import weakref
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from moviola.runtime import models as store
from moviola.runtime.backends.protocol import BaseBackend, check_options

DEFAULT_MAX_FRAMES = 49
# Pipelines that restyle a video, for model families whose main pipeline does not take one.
VIDEO_SIBLINGS = {
    "TextToVideoSDPipeline": "VideoToVideoSDPipeline",
    "WanPipeline": "WanVideoToVideoPipeline",
    "WanImageToVideoPipeline": "WanVideoToVideoPipeline",
    "LTXPipeline": "LTXConditionPipeline",
    "LTXImageToVideoPipeline": "LTXConditionPipeline",
}
# Pipelines that animate a still, for model families whose folder declares text-to-video.
CLIP_SIBLINGS = {
    "LTXPipeline": "LTXImageToVideoPipeline",
    "WanPipeline": "WanImageToVideoPipeline",
}
# What each resident pipeline carries beside its weights: its from_pipe variants, the LoRA
# adapters and IP-Adapter loaded into it. Keyed weakly: when the manager evicts a pipeline, its
# state goes with it.
_STATE: "weakref.WeakKeyDictionary[Any, _PipeState]" = weakref.WeakKeyDictionary()


@dataclass
class _PipeState:
    variants: dict = field(default_factory=dict)       # "image" / "video" → pipeline or None
    adapters: dict = field(default_factory=dict)       # adapter name → LoRA file
    lora_active: bool = False
    ip_adapter: str | None = None


@dataclass
class Work:
    """One task's share of a batch: the samples it adds, and what to do with their outputs."""

    group: tuple                     # tasks with equal groups run in the same calls
    variant: str                     # "base", "text", "image" (img2img), "video" (video2video)
    shared: dict                     # call arguments common to the group
    samples: list[dict]              # per-sample call arguments, each with its "seed"
    finish: Callable[[list], dict]   # the samples' outputs (uint8 arrays) → the job's meta
    loras: tuple = ()                # ((adapter name, file, scale), ...)
    ip_scale: float | None = None    # IP-Adapter scale for this group (None: no IP-Adapter)


class DiffusersBackend(BaseBackend):
    """What every diffusers visual backend shares: finding, loading, batching, calling."""

    name = "diffusers"

    def __init__(self, config, models, project: Path):
        self.config = config
        self.models = models
        self.project = Path(project)
        self.options = dict(config.options or {})
        self.path: Path | None = None
        self.device: str | None = None
        self.dtype = None
        self.key: str | None = None
        self.revision = ""                   # the weights' identity, set by validate()
        self._identity = ""
        self._lora_files: dict[str, tuple[Path, str]] = {}
        self._ip_adapter: dict | None = None
        self._notices: dict[str, list[str]] = {}   # per task key, until run_batch returns

    # -- finding the model ----------------------------------------------------------------------

    def validate(self) -> None:
        """Locate the model, its LoRA and IP-Adapter now: ModelNotFound / ModelBroken before
        any GPU work."""
        if not self.config.model:
            raise store.ModelNotFound(str(self.config.model), [], reason=(
                f"{self.config.backend} needs a model: set `model` for {self.config.kind} "
                f"in moviola.toml"))
        self.path = Path(store.locate(self.config.model, self.project))
        self._identity = store.identity(self.path)
        revision = [self._identity]
        for lora, _scale in _lora_specs(self.config.lora):
            folder, weight = self._lora_file(lora)
            revision.append(store.identity(folder / weight))
        if self.options.get("ip_adapter"):
            self._ip_adapter = self._find_ip_adapter(self.options["ip_adapter"])
            spec = self._ip_adapter
            revision.append(store.identity(spec["folder"] / spec["subfolder"] / spec["weight_name"]))
        # what the executor adds to cache keys: replacing the weights re-renders
        self.revision = "+".join(revision)
        self.check_options()

    # the options this backend reads itself; every other one must be a call parameter
    options_read = frozenset({"negative_prompt", "strength", "ref_strength", "ip_adapter",
                             "size_multiple", "max_frames", "video_pipeline", "vae_tiling",
                             "clip_pipeline", "native_fps", "continue_strength", "max_refs"})

    def pipeline_names(self, declared: str) -> list[str]:
        """The pipeline classes this backend may call for a folder that declares ``declared``:
        that one, the family's video-to-video, image-to-video, image-to-image and text-to-image
        siblings, and those the options name."""
        from diffusers.pipelines.auto_pipeline import (AUTO_IMAGE2IMAGE_PIPELINES_MAPPING,
                                                       AUTO_TEXT2IMAGE_PIPELINES_MAPPING)

        names = [declared, VIDEO_SIBLINGS.get(declared), CLIP_SIBLINGS.get(declared),
                 self.options.get("video_pipeline"), self.options.get("clip_pipeline")]
        for family, text_to_image in AUTO_TEXT2IMAGE_PIPELINES_MAPPING.items():
            image_to_image = AUTO_IMAGE2IMAGE_PIPELINES_MAPPING.get(family)
            if declared in (text_to_image.__name__, getattr(image_to_image, "__name__", None)):
                names += [text_to_image.__name__, getattr(image_to_image, "__name__", None)]
        return [name for name in dict.fromkeys(names) if name]

    def check_options(self) -> None:
        """Every option is one this backend reads or a parameter of a pipeline it calls: an
        option nothing takes (a typo, another model's setting) is an error naming it, never
        dropped. A folder without a readable model_index.json is left to the loader."""
        declared = _declared_pipeline(self.path)
        if declared is None:
            return
        import diffusers

        names = self.pipeline_names(declared)
        accepted = set(self.options_read)
        for name in names:
            cls = getattr(diffusers, name, None)
            if cls is not None:
                accepted |= set(inspect.signature(cls.__call__).parameters) - {"self"}
        check_options(self.config, accepted, calls=", ".join(names))

    def _lora_file(self, spec: str) -> tuple[Path, str]:
        """(folder, weight file name) of a LoRA: a project path (a .safetensors file, or a
        folder holding one) or a Hugging Face id in the local cache."""
        if spec not in self._lora_files:
            self._lora_files[spec] = self._weights(spec, "LoRA", "pytorch_lora_weights.safetensors")
        return self._lora_files[spec]

    def _weights(self, spec: str, what: str, preferred: str | None = None,
                 subfolder: str = "") -> tuple[Path, str]:
        try:
            path = Path(store.locate(spec, self.project))
        except store.ModelBroken as error:
            if not Path(error.path).is_dir():        # adapter folders have no config.json: fine
                raise
            path = Path(error.path)
        except store.ModelNotFound as error:
            raise store.ModelNotFound(spec, error.places, error.reason or (
                f"no {what} there (a .safetensors file, or a folder holding one)"),
                error.repo_id) from None
        if path.is_file():
            return path.parent, path.name
        found = sorted(p.name for p in (path / subfolder).glob("*.safetensors"))
        if preferred in found:
            return path, preferred
        if not found:
            others = sorted(p.name for p in (path / subfolder).glob("*") if p.is_file())
            raise store.ModelBroken(path / subfolder, f"no .safetensors {what} weights in the folder"
                                    + (f" (found: {', '.join(others[:5])}); only safetensors "
                                       f"weights are loaded" if others else ""))
        if len(found) > 1:
            raise store.ModelBroken(path / subfolder, f"several {what} weight files "
                                    f"({', '.join(found)}): name the file")
        return path, found[0]

    def _find_ip_adapter(self, spec) -> dict:
        spec = {"path": spec} if isinstance(spec, str) else dict(spec)
        if "path" not in spec:
            raise store.ModelNotFound("IP-Adapter", [], reason="options.ip_adapter needs a "
                                      "`path` (a project folder or .safetensors file, or a "
                                      "Hugging Face id)")
        subfolder = spec.get("subfolder", "")
        folder, weight = self._weights(spec["path"], "IP-Adapter", spec.get("weight_name"),
                                       subfolder)
        if not (folder / subfolder / weight).is_file():
            subfolder = ""                           # the path named the weight file itself
        return {"folder": folder, "subfolder": subfolder, "weight_name": weight,
                "image_encoder_folder": spec.get("image_encoder_folder", "image_encoder"),
                "scale": float(spec.get("scale", 0.6))}

    # -- loading --------------------------------------------------------------------------------

    def pipeline(self):
        """The resident pipeline (loaded on first use, then shared through the manager)."""
        if self.path is None:
            self.validate()
        if self.key is None:
            import torch

            self.device = self.models.device
            dtype = store.pick_dtype(self.config.dtype, self.device)
            self.dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
            self.key = (f"diffusers:{self._identity}:"
                        f"{str(self.dtype).replace('torch.', '')}:{self.device}")
        return self.models.get(self.key, self._load)

    def _load(self):
        from diffusers import DiffusionPipeline

        # the manager moves it to the device (or sets up CPU offload)
        with _no_progress_bars():                # the CLI draws the build's progress
            pipe = store.load_safely(DiffusionPipeline.from_pretrained, self.path,
                                     dtype=component_dtypes(self.path, self.dtype))
        pipe.set_progress_bar_config(disable=True)
        if "num_frames" in call_parameters(pipe):
            tile_vae(pipe, self.options.get("vae_tiling", True))
        return pipe

    def variant(self, pipe, which: str):
        """``pipe`` itself, or its image-to-image / video-to-video sibling sharing its weights
        (None when the model family has none)."""
        if which == "base":
            return pipe
        state = _STATE.setdefault(pipe, _PipeState())
        if which not in state.variants:
            state.variants[which] = _make_variant(pipe, which, self.options)
        return state.variants[which]

    # -- running --------------------------------------------------------------------------------

    def run_batch(self, tasks: list) -> list[dict]:
        """Render ``tasks``: compatible ones share pipeline calls of up to ``batch_size``
        samples; each sample has its own generator, so the output does not depend on batching."""
        pipe = self.pipeline()
        self._notices.clear()                    # a batch that failed left its own
        works = [self.plan_task(task, pipe) for task in tasks]
        results: list[dict | None] = [None] * len(tasks)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for index, work in enumerate(works):
            groups[(work.variant, work.loras, work.ip_scale) + work.group].append(index)
        size = max(int(self.config.batch_size or 1), 1)
        for indices in groups.values():
            first = works[indices[0]]
            self._activate_loras(pipe, first.loras)
            self._activate_ip_adapter(pipe, first.ip_scale)
            target = self.variant(pipe, first.variant)
            flat = [(i, s) for i in indices for s in works[i].samples]
            outputs: dict[int, list] = defaultdict(list)
            for start in range(0, len(flat), size):
                chunk = flat[start:start + size]
                pictures = self._call(target, first.shared,
                                      [{**s, "label": tasks[i].job.label} for i, s in chunk])
                for (index, _), picture in zip(chunk, pictures):
                    outputs[index].append(picture)
                    if len(outputs[index]) == len(works[index].samples):
                        results[index] = works[index].finish(outputs.pop(index))
        # in the entry's meta, so a build that takes the entry from the cache says it again
        notices = [self._notices.pop(task.key, []) for task in tasks]
        return [{**meta, "notices": found} if found else meta
                for meta, found in zip(results, notices)]

    def shot_prompt(self, task, pipe) -> str:
        """The shot's prompt (a clip's: its keyframe's) as ``pipe`` will read it: whole, or
        fitted to a CLIP text window with the film's style kept; the words left out become a
        notice of the task's entry."""
        params = task.job.params if task.job.kind == "keyframe" else \
            getattr(task.inputs.one("keyframe"), "params", None)
        prompt = (params.prompt if params is not None else "") or ""
        style = (params.style or "").strip() if params is not None else ""
        fitted, left_out, window = fit_to_window(pipe, prompt, style)
        if left_out:
            kept = " (the film's style kept)" if style and fitted.endswith(style) else ""
            self._notices.setdefault(task.key, []).append(self._about(
                pipe, [{"label": task.job.label}], f"reads {window} tokens of a prompt "
                f"(CLIP): \"{left_out}\" is left out{kept}; shorten the descriptions"))
        return fitted

    def plan_task(self, task, pipe) -> Work:
        raise NotImplementedError

    def close(self) -> None:
        """The manager owns the pipelines; nothing to free here."""

    def _call(self, pipe, shared: dict, samples: list[dict]) -> list[np.ndarray]:
        import torch

        accepted = call_parameters(pipe)
        negative = any(sample.get("negative_prompt") for sample in samples)
        if negative and "negative_prompt" not in accepted:
            raise ValueError(self._about(pipe, samples, "takes no negative prompt: remove "
                                         "options.negative_prompt for this kind"))
        kwargs = {k: v for k, v in self.options.items()
                  if k in accepted and k not in self.options_read}
        kwargs.update(shared)
        for name in samples[0]:
            if name in ("seed", "label"):        # ours: the sample's generator, its shot
                continue
            values = [s[name] for s in samples]
            if all(v is None for v in values):
                continue
            # one sample: plain values (Wan's image-to-video takes one image, never a list)
            kwargs[name] = values[0] if name in _SINGLE or len(values) == 1 else values
        generators = [torch.Generator("cpu").manual_seed(int(s["seed"])) for s in samples]
        # one sample: a plain generator (draws the same noise as a list of one, and some
        # pipelines read a list as "one per frame")
        kwargs["generator"] = generators if len(generators) > 1 else generators[0]
        if "output_type" in accepted:
            kwargs["output_type"] = "np"
        kwargs = {k: v for k, v in kwargs.items() if k in accepted and v is not None}
        result = self.models.call(self.key, lambda: pipe(**kwargs),
                                  lambda: self._call_size(kwargs, samples))
        if negative and _guidance_was_off(pipe):
            raise ValueError(self._about(pipe, samples, (
                f"ran without classifier-free guidance (guidance "
                f"{kwargs.get('guidance_scale', 'default')}), which ignores the negative prompt: "
                f"raise `guidance`, or remove options.negative_prompt")))
        return _split_outputs(result, len(samples))

    def _about(self, pipe, samples: list[dict], what: str) -> str:
        return (f"{_shots(samples)}the {self.config.kind} model {self.config.model} "
                f"({type(pipe).__name__}) {what}")

    def _call_size(self, kwargs: dict, samples: list[dict]) -> str:
        """What a call asked of the device, for an out-of-memory message: the shots, the
        generation size, frames and samples per call."""
        size = [f"{kwargs['width']}×{kwargs['height']}" if "width" in kwargs and "height" in kwargs
                else None,
                f"{kwargs['num_frames']} frames" if "num_frames" in kwargs else None,
                f"{len(samples)} sample(s) per call (batch_size {self.config.batch_size})"]
        return (f"{_shots(samples)}{self.config.kind} with {self.config.model} at "
                + ", ".join(p for p in size if p))

    # -- shared settings ------------------------------------------------------------------------

    def steps_and_guidance(self, pipe) -> dict:
        accepted = call_parameters(pipe)
        out = {}
        if self.config.steps is not None:
            out["num_inference_steps"] = int(self.config.steps)
        guidance = self.config.guidance
        if guidance is not None:
            if "guidance_scale" in accepted:
                out["guidance_scale"] = float(guidance)
            elif "max_guidance_scale" in accepted:          # Stable Video Diffusion
                out["max_guidance_scale"] = float(guidance)
                out["min_guidance_scale"] = min(1.0, float(guidance))
        return out

    def generation_size(self, pipe, film: tuple[int, int],
                        multiple: int | None = None) -> tuple[int, int]:
        """config.resolution rounded to the pipeline's multiple (``options.size_multiple``, else
        ``multiple``, else the VAE's); without one, the model's native area at the film's aspect
        ratio."""
        multiple = int(self.options.get("size_multiple") or multiple
                       or max(16, _spatial_factor(pipe)))
        if self.config.resolution:
            width, height = self.config.resolution
        else:
            area = _native_area(pipe)
            aspect = film[0] / film[1]
            width, height = math.sqrt(area * aspect), math.sqrt(area / aspect)
        return (max(multiple, int(round(width / multiple)) * multiple),
                max(multiple, int(round(height / multiple)) * multiple))

    def frame_count(self, pipe, shot_frames: int) -> int:
        """How many frames to generate: config.frames, else the shot's, capped at the model's
        usual length; then fitted to the VAE's temporal grid (LTX 8k+1, Wan 4k+1)."""
        if self.config.frames:
            count = int(self.config.frames)
        else:
            count = min(int(shot_frames), _max_frames(pipe, self.options))
        temporal = (getattr(pipe, "vae_temporal_compression_ratio", None)
                    or getattr(pipe, "vae_scale_factor_temporal", None))
        if isinstance(temporal, int) and temporal > 1:
            count = max(1, (count - 1) // temporal * temporal + 1)
        return max(count, 1)

    def task_loras(self, task) -> tuple:
        """The profile's `lora:` files, then the LoRAs of the task's trained assets (its train
        inputs' artifacts, at full scale)."""
        files = [(self._lora_file(spec), scale) for spec, scale in _lora_specs(self.config.lora)]
        files += [((trained.folder, trained.artifact("lora").name), 1.0)
                  for trained in task.inputs.of_kind("train")]
        return tuple(lora_entry(folder / weight, scale) for (folder, weight), scale in files)

    def _activate_loras(self, pipe, loras: tuple) -> None:
        state = _STATE.setdefault(pipe, _PipeState())
        if not loras:
            if state.lora_active:
                pipe.disable_lora()
                state.lora_active = False
            return
        if not hasattr(pipe, "load_lora_weights"):
            raise store.ModelBroken(self.path, f"{type(pipe).__name__} does not load LoRA weights")
        for name, file, _scale in loras:
            if name not in state.adapters:
                path = Path(file)
                store.load_safely(_lora_loader(pipe, name), path.parent, weight_name=path.name)
                state.adapters[name] = file
        pipe.enable_lora()
        pipe.set_adapters([n for n, _, _ in loras], adapter_weights=[s for _, _, s in loras])
        state.lora_active = True

    def _activate_ip_adapter(self, pipe, scale: float | None) -> None:
        state = _STATE.setdefault(pipe, _PipeState())
        if scale is None:
            if state.ip_adapter is not None:     # another backend loaded one into this pipeline
                pipe.unload_ip_adapter()
                state.ip_adapter = None
                state.variants.clear()
            return
        spec = self._ip_adapter
        if state.ip_adapter != str(spec["folder"] / spec["subfolder"] / spec["weight_name"]):
            if not hasattr(pipe, "load_ip_adapter"):
                raise store.ModelBroken(self.path, f"{type(pipe).__name__} does not take an "
                                        f"IP-Adapter")
            try:
                pipe.load_ip_adapter(str(spec["folder"]), subfolder=spec["subfolder"],
                                     weight_name=spec["weight_name"],
                                     image_encoder_folder=spec["image_encoder_folder"],
                                     local_files_only=True)
            except Exception as error:  # noqa: BLE001 - named, not a traceback
                raise store.ModelBroken(spec["folder"], f"the IP-Adapter does not load: "
                                        f"{type(error).__name__}: {error}") from None
            state.ip_adapter = str(spec["folder"] / spec["subfolder"] / spec["weight_name"])
            state.variants.clear()       # made before: they lack the new image encoder
        pipe.set_ip_adapter_scale(scale)

    def negative_prompt(self) -> str | None:
        return self.options.get("negative_prompt")


_SINGLE = {"video"}                 # one value for the whole call, not one per sample


@contextmanager
def _no_progress_bars():
    """diffusers' and transformers' loading bars off for the duration, then as they were."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    restore = [module for module in (diffusers_logging, transformers_logging)
               if module.is_progress_bar_enabled()]
    for module in restore:
        module.disable_progress_bar()
    try:
        yield
    finally:
        for module in restore:
            module.enable_progress_bar()


# Components a family's docs load in float32 beside a half-precision denoiser: Wan's VAE and
# CLIP image encoder (diffusers' Wan examples; the VAE's decode loses detail in bf16).
FLOAT32_PARTS = {"Wan": ("vae", "image_encoder")}


def component_dtypes(folder: Path, dtype):
    """``dtype`` for the pipeline in ``folder``, or per component (diffusers' ``dtype`` dict)
    where its family keeps some parts in float32."""
    import torch

    if dtype == torch.float32:
        return dtype
    try:
        declared = json.loads((Path(folder) / "model_index.json").read_text("utf-8"))
    except (OSError, ValueError):
        return dtype
    family = next((name for name in FLOAT32_PARTS
                   if str(declared.get("_class_name", "")).startswith(name)), None)
    if family is None:
        return dtype
    return {"default": dtype, **{part: torch.float32 for part in FLOAT32_PARTS[family]
                                 if part in declared}}


# CLIP text encoders read 77 tokens; T5, Qwen, Gemma encoders read hundreds
CLIP_WINDOW = 77


def clip_window(pipe) -> int | None:
    """The tokens a prompt may have when every text encoder of ``pipe`` is CLIP-sized (SD,
    SDXL, ModelScope); None when one reads more (FLUX.1's and SD3's T5 read the whole
    prompt, their CLIP only pools it) or the pipeline has no tokenizer."""
    tokenizers = [t for name in ("tokenizer", "tokenizer_2", "tokenizer_3")
                  if (t := getattr(pipe, name, None)) is not None]
    limits = [getattr(t, "model_max_length", None) for t in tokenizers]
    if not limits or not all(isinstance(n, int) and n <= CLIP_WINDOW for n in limits):
        return None
    return limits[0]


def fit_to_window(pipe, prompt: str, style: str = "") -> tuple[str, str, int | None]:
    """(``prompt`` as ``pipe`` will read it, the words left out, the window). diffusers cuts
    a CLIP prompt at the window's end, where the compiler puts the film's style: so the style
    (when ``prompt`` ends with it) is kept, and the words before it give way, last first, as
    the compiler's own priorities have it (place and light before the style). Whole words."""
    window = clip_window(pipe)
    if not prompt or window is None:
        return prompt, "", window
    tokenizer = pipe.tokenizer

    def fits(text: str) -> bool:
        return len(tokenizer(text, truncation=False).input_ids) <= window

    if fits(prompt):
        return prompt, "", window
    words = prompt.split()
    tail = ", " + style.strip() if style.strip() and prompt.endswith(style.strip()) else ""
    if tail and (prompt.strip() == style.strip() or not fits(tail[2:])):
        tail = ""                               # the style alone is too long: cut at the end
    head = words[:len(words) - len(tail[2:].split())] if tail else words

    def joined(count: int) -> str:
        text = " ".join(head[:count]).rstrip(",;: ")
        return f"{text}{tail}" if text else tail[2:]

    low, high = 0, len(head)                    # the most words of the head that fit
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(joined(middle)) else (low, middle - 1)
    return joined(low), " ".join(head[low:]).strip(",;: "), window


def _shots(samples: list[dict]) -> str:
    """The samples' labels as "shot-a, shot-b: " ("" without any)."""
    labels = [sample["label"] for sample in samples if sample.get("label")]
    return f"{', '.join(dict.fromkeys(labels))}: " if labels else ""


def _declared_pipeline(folder: Path | None) -> str | None:
    """The pipeline class a diffusers folder declares (model_index.json's ``_class_name``)."""
    try:
        return str(json.loads((Path(folder) / "model_index.json").read_text("utf-8"))["_class_name"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _guidance_was_off(pipe) -> bool:
    """The pipeline's own word, after a call, that it skipped classifier-free guidance (its
    public ``do_classifier_free_guidance``: guidance ≤ 1, a distilled model…)."""
    try:
        return getattr(pipe, "do_classifier_free_guidance", True) is False
    except Exception:  # noqa: BLE001 - a property some pipelines only define mid-call
        return False


def call_parameters(pipe) -> set[str]:
    return set(inspect.signature(pipe.__call__).parameters)


def takes_init_image(pipe) -> bool:
    return {"image", "strength"} <= call_parameters(pipe)


def _make_variant(pipe, which: str, options: dict):
    import diffusers

    if which == "image":
        if takes_init_image(pipe):
            return pipe
        try:
            variant = diffusers.AutoPipelineForImage2Image.from_pipe(pipe)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        variant.set_progress_bar_config(disable=True)
        return variant
    if which == "text":
        try:
            variant = diffusers.AutoPipelineForText2Image.from_pipe(pipe)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ValueError(f"{type(pipe).__name__} needs an initial image and has no "
                             f"text-to-image variant") from None
        variant.set_progress_bar_config(disable=True)
        return variant
    if which in ("video", "clip"):
        taken, option, siblings = {"video": ("video", "video_pipeline", VIDEO_SIBLINGS),
                                   "clip": ("image", "clip_pipeline", CLIP_SIBLINGS)}[which]
        if taken in call_parameters(pipe):
            return pipe
        name = options.get(option) or siblings.get(type(pipe).__name__)
        cls = getattr(diffusers, name, None) if name else None
        if cls is None:
            return None
        try:
            variant = share_pipeline(cls, pipe)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        variant.set_progress_bar_config(disable=True)
        return variant
    raise ValueError(which)


def share_pipeline(cls, pipe, **replaced):
    """A ``cls`` pipeline built on ``pipe``'s own component objects (weights shared, nothing
    copied), with its settings (``pipe.config``) where ``cls`` takes them; ``replaced`` gives
    other components (a scheduler configured otherwise).

    Not ``cls.from_pipe(pipe)``: DiffusionPipeline.from_pipe ends with ``.to(dtype=...)``, its
    ``dtype`` argument defaulting to float32, which casts the shared modules in place: the
    resident pipeline doubles in size unseen by the budget, and even ``dtype=pipe.dtype``
    casts the parts a model keeps in float32 (Wan's norms, T5's ``wo``). Raises ValueError when
    ``pipe`` lacks a component ``cls`` needs."""
    parameters = {name: p for name, p in inspect.signature(cls.__init__).parameters.items()
                  if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    components = {**pipe.components, **replaced}
    kwargs = {name: components[name] for name in parameters if name in components}
    kwargs.update({name: pipe.config[name] for name in parameters
                   if name not in kwargs and name in pipe.config})
    missing = [name for name, p in parameters.items()
               if p.default is p.empty and kwargs.get(name) is None]
    if missing:
        raise ValueError(f"{cls.__name__} needs {', '.join(missing)}, which "
                         f"{type(pipe).__name__} does not have")
    return cls(**kwargs)


def tile_vae(pipe, setting=True) -> list[str]:
    """Decode (and encode) in spatial tiles and one sample at a time, through the VAE's public
    ``enable_tiling`` / ``enable_slicing`` where its class has them: a 720p clip of 121 frames
    decoded whole takes tens of gigabytes beside the model. ``setting``: True, False (both off,
    exact but larger), or a table of ``enable_tiling`` arguments (tile sizes). Returns what was
    turned on."""
    vae = getattr(pipe, "vae", None)
    if vae is None:
        return []
    turned_on = []
    for name, enabled in (("tiling", setting), ("slicing", bool(setting))):
        method = getattr(vae, f"enable_{name}" if enabled else f"disable_{name}", None)
        if method is None:
            continue
        try:
            method(**setting) if name == "tiling" and isinstance(setting, dict) else method()
        except NotImplementedError:      # the mixin's method on a VAE that does not tile
            continue
        if enabled:
            turned_on.append(name)
    return turned_on


def lora_entry(file: Path, scale: float) -> tuple[str, str, float]:
    """A LoRA as a work item carries it: (adapter name, file, scale); the name follows the
    file, so each file is loaded into a pipeline once."""
    name = "moviola_" + hashlib.sha256(str(Path(file).resolve()).encode()).hexdigest()[:12]
    return name, str(file), float(scale)


def _lora_loader(pipe, name: str):
    def load(path, **kwargs):
        kwargs.pop("use_safetensors", None)
        return pipe.load_lora_weights(str(path), adapter_name=name, use_safetensors=True, **kwargs)

    return load


def _lora_specs(value) -> list[tuple[str, float]]:
    """A LoRA setting as [(path or id, scale)]: "path", ["a", "b"], {"path": 0.8},
    [["path", 0.8]] or [{"path": "p", "scale": 0.8}]."""
    if not value:
        return []
    if isinstance(value, str):
        return [(value, 1.0)]
    if isinstance(value, dict):
        if "path" in value:
            return [(value["path"], float(value.get("scale", 1.0)))]
        return [(k, float(v)) for k, v in value.items()]
    out = []
    for item in value:
        out.extend(_lora_specs(item) if not isinstance(item, (list, tuple))
                   else [(item[0], float(item[1]) if len(item) > 1 else 1.0)])
    return out


def _spatial_factor(pipe) -> int:
    for name in ("vae_scale_factor", "vae_spatial_compression_ratio", "vae_scale_factor_spatial"):
        value = getattr(pipe, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 8


def _native_area(pipe) -> int:
    """The pixel area the model was trained at: the call's default size, else its denoiser's
    sample size × the VAE factor, else 512²."""
    defaults = inspect.signature(pipe.__call__).parameters
    height = defaults.get("height")
    width = defaults.get("width")
    if height is not None and width is not None and isinstance(height.default, int) \
            and isinstance(width.default, int):
        return height.default * width.default
    side = getattr(pipe, "default_sample_size", None)
    if not isinstance(side, int):
        denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
        side = getattr(getattr(denoiser, "config", None), "sample_size", None)
        if isinstance(side, (list, tuple)):
            side = int(side[0])
    if isinstance(side, int):
        pixels = side * _spatial_factor(pipe)
        return pixels * pixels
    return 512 * 512


def _max_frames(pipe, options: dict) -> int:
    if options.get("max_frames"):
        return int(options["max_frames"])
    parameter = inspect.signature(pipe.__call__).parameters.get("num_frames")
    if parameter is not None and isinstance(parameter.default, int):
        return parameter.default
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    frames = getattr(getattr(denoiser, "config", None), "num_frames", None)
    return int(frames) if isinstance(frames, int) else DEFAULT_MAX_FRAMES


def _split_outputs(result, count: int) -> list[np.ndarray]:
    """The pipeline's output as one uint8 array per sample: (H, W, 3) or (F, H, W, 3)."""
    data = getattr(result, "images", None)
    if data is None:
        data = getattr(result, "frames", None)
    if data is None and isinstance(result, tuple):
        data = result[0]
    return [_to_uint8(data[i]) for i in range(count)]


def _to_uint8(item) -> np.ndarray:
    from PIL import Image

    if isinstance(item, Image.Image):
        return np.asarray(item.convert("RGB"))
    if isinstance(item, (list, tuple)):
        return np.stack([_to_uint8(x) for x in item])
    if hasattr(item, "detach"):                     # a torch tensor
        item = item.detach().float().cpu().numpy()
    array = np.asarray(item)
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    if array.shape[-1] not in (1, 3, 4) and array.shape[-3] in (1, 3, 4):   # channels first
        array = np.moveaxis(array, -3, -1)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return array[..., :3]


def open_rgb(path):
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")   # a phone's sideways photo, upright


