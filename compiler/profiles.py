"""Render profiles: which backend and which model renders each kind of job.

Four profiles are built in: ``draft`` (the default; any CPU, no model weights), ``laptop``
(a CPU in minutes: draft pictures, a small neural voice), ``preview`` (fast models on one
24–48 GB GPU) and ``final`` (the best models this project knows, on one 80 GB GPU). A project's
``moviola.toml``, beside its script, overrides them key by key and defines new ones::

    [profiles.preview]             # merges into the built-in profile of the same name
    device = "cuda"
    memory_budget_gb = 40
    [profiles.preview.keyframe]
    model = "models/my-sd"         # a folder inside the project, or a Hugging Face id
    steps = 6
    [profiles.mine]                # a new profile: starts from draft unless `base` says otherwise
    base = "preview"

Only the configuration lives here (pure Python, ``tomllib``): where a model is found, and its
revision, is the runtime's business (``runtime/models.py``). The full reference is
docs/profiles.md.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .diagnostics import closest

CONFIG_NAME = "moviola.toml"
DEFAULT_PROFILE = "draft"
# Two kinds are made from the writer's own material. footage: a shot whose `from:` is a video
# (a filmed maquette), restyled; a clip backend there animates its keyframe instead.
# performance: a line the writer recorded ([[voice: …; from: take.wav]]), turned into the
# character's voice (speech-to-speech); a speech backend there speaks the text instead.
KINDS = ("keyframe", "clip", "footage", "speech", "performance", "music", "sfx")
DTYPES = ("auto", "float32", "float16", "bfloat16")
_DTYPE_ALIASES = {"fp32": "float32", "f32": "float32", "float": "float32", "full": "float32",
                  "fp16": "float16", "f16": "float16", "half": "float16", "float16": "float16",
                  "bf16": "bfloat16", "bfloat": "bfloat16", "bfloat16": "bfloat16",
                  "float32": "float32", "auto": "auto"}

# Every backend name a profile may use, and the kinds of job it can render.
BACKENDS: dict[str, tuple[str, ...]] = {
    "draft.storyboard": ("keyframe",),
    "draft.motion": ("clip", "footage"),
    "draft.footage": ("footage",),
    "draft.espeak": ("speech", "performance"),
    "draft.performance": ("performance",),
    "draft.score": ("music",),
    "draft.sfx": ("sfx",),
    "diffusers.text_to_image": ("keyframe",),
    "diffusers.image_to_video": ("clip", "footage"),
    "diffusers.text_to_video": ("clip", "footage"),
    "diffusers.video_to_video": ("clip", "footage"),
    "diffusers.audio_video": ("clip", "footage"),
    "transformers.tts": ("speech", "performance"),
    "transformers.tts_clone": ("speech", "performance"),
    "transformers.pocket_tts": ("speech", "performance"),
    "transformers.vibevoice": ("speech", "performance"),
    "transformers.voice_conversion": ("performance",),
    "coqui.xtts": ("speech", "performance"),
    "coqui.freevc": ("performance",),
    "transformers.musicgen": ("music", "sfx"),
    "diffusers.stable_audio": ("music", "sfx"),
    "diffusers.ace_step": ("music",),
    "diffusers.stable_audio_3": ("music", "sfx"),
}

# the clip backends that take a shot's dialogue (options.lip_sync): the plan gives their close
# and medium shots the speech said in frame
LIP_SYNC_BACKENDS = ("diffusers.audio_video",)
# with options.lip_sync_lora (LTX-2's distilled LoRA) a lip-synced clip walks the distilled
# schedule, unguided: the steps of diffusers.pipelines.ltx2.utils.DISTILLED_SIGMA_VALUES
# (tests/test_ltx2.py holds them equal), what the estimates count
LIP_SYNC_DISTILLED_STEPS = 8

# how far a generation departs from the picture or video it starts from (0 < s < 1)
STRENGTHS = ("strength", "ref_strength", "continue_strength")
# the share of the schedule a footage restyle runs again when its options.strength is unset
DEFAULT_RESTYLE_STRENGTH = 0.6

PROFILE_KEYS = ("base", "device", "memory_budget_gb", "offload")
EXECUTORS = ("local", "ray")              # [build] executor: where jobs render
BUILD_KEYS = ("executor", "ray_address", "ray_store")
MODEL_KEYS = ("backend", "model", "dtype", "steps", "guidance", "resolution", "batch_size",
              "frames", "lora", "options")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_RESOLUTION = re.compile(r"\s*(\d+)\s*[x×]\s*(\d+)\s*")


def is_draft(backend: str) -> bool:
    """Draft backends are algorithms shipped with Moviola: they take no model."""
    return backend.startswith("draft.")


# Owner names no Hugging Face account can have: huggingface.co/models, /datasets and /spaces
# are the Hub's own pages. `models/x` is therefore always a project folder.
_NOT_HUB_OWNERS = ("models", "datasets", "spaces")


def is_project_path(model: str, project: Path | None = None) -> bool:
    """Whether a configured model (``model``, ``lora`` or a model an option names) can only be
    a path inside the project, never a Hugging Face id: not exactly ``owner/name`` (one folder,
    ``./x``, ``a/b/c``), a ``.safetensors`` file, an owner the Hub cannot have (``models/``), or
    a first folder that exists in ``project``. An ``owner/name`` that matches none of these may be
    either, and the project's folder of that name wins when it exists (``runtime.models.locate``)."""
    text = model.strip().replace("\\", "/")
    if text.startswith("./") or text.lower().endswith(".safetensors"):
        return True
    parts = text.partition("@")[0].split("/")
    if len(parts) != 2 or not all(parts) or parts[0].lower() in _NOT_HUB_OWNERS:
        return True
    return project is not None and (Path(project) / parts[0]).is_dir()


class Options(dict):
    """Backend-specific settings: a read-only, hashable dict (JSON values)."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(json.dumps(self, sort_keys=True, default=str))

    def _read_only(self, *args, **kwargs):
        raise TypeError("model options are read-only")

    __setitem__ = __delitem__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]
    __ior__ = _read_only  # type: ignore[assignment]

    def __reduce__(self):
        # pickled whole (a profile travels to Ray workers), never rebuilt item by item
        return (Options, (dict(self),))


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """How one kind of job renders: the backend, the model it loads and the generation settings."""

    kind: str                                   # one of KINDS
    backend: str                                # a name in BACKENDS
    model: str | None                           # HF id ("org/name", "org/name@rev") or a project folder
    dtype: str = "auto"                         # auto | float32 | float16 | bfloat16
    steps: int | None = None                    # denoising steps (None: the backend's default)
    guidance: float | None = None               # classifier-free guidance scale
    resolution: tuple[int, int] | None = None   # generation size (resized/cropped to the film's)
    batch_size: int = 1                         # jobs per call; never part of a cache key
    frames: int | None = None                   # video models: frames per generation
    lora: str | None = None                     # a LoRA (HF id or project path) fused on load
    options: Options = field(default_factory=Options)  # anything else backend-specific

    def __post_init__(self) -> None:
        # plain dicts and lists from callers become the hashable forms
        if not isinstance(self.options, Options):
            object.__setattr__(self, "options", Options(self.options or {}))
        if self.resolution is not None and not isinstance(self.resolution, tuple):
            object.__setattr__(self, "resolution", tuple(self.resolution))

    def identity(self) -> dict:
        """Everything about this configuration that changes what it renders, for cache keys.

        ``batch_size`` is left out: it changes how jobs are grouped, not what they produce. The
        model's revision (HF snapshot, or a digest of a local folder) is added by the runtime
        (``runtime.models.identity``), which alone knows where the model is."""
        return {
            "backend": self.backend,
            "model": self.model,
            "dtype": self.dtype,
            "steps": self.steps,
            "guidance": self.guidance,
            "resolution": list(self.resolution) if self.resolution else None,
            "frames": self.frames,
            "lora": self.lora,
            "options": dict(self.options),
        }


@dataclass(frozen=True)
class Profile:
    """A named set of model configurations, one per kind in KINDS (every profile has them all)."""

    name: str
    device: str = "auto"                        # auto | cpu | cuda | cuda:N | mps
    memory_budget_gb: float | None = None       # resident models' budget (None: the device's memory)
    offload: bool = False                       # diffusers pipelines: model CPU offload on CUDA
    models: dict[str, ModelConfig] = field(default_factory=dict)
    base: str | None = field(default=None, compare=False)     # the profile this one started from
    origin: str = field(default="built-in", compare=False)    # "built-in" or "moviola.toml:LINE"

    @property
    def memory_budget_bytes(self) -> int | None:
        return None if self.memory_budget_gb is None else int(self.memory_budget_gb * 1024**3)

    @property
    def is_draft(self) -> bool:
        """True when no kind needs a model (the profile runs anywhere)."""
        return all(is_draft(config.backend) for config in self.models.values())


class ProfileError(Exception):
    """A problem in moviola.toml: ``str()`` is ``moviola.toml:LINE: message`` when the line is known."""

    def __init__(self, message: str, path: Path | None = None, line: int | None = None,
                 column: int | None = None):
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        super().__init__(self._render())

    def _render(self) -> str:
        if self.path is None:
            where = CONFIG_NAME
        else:
            where = str(self.path)
            try:
                relative = os.path.relpath(self.path)
                if not relative.startswith(".."):
                    where = relative
            except ValueError:
                pass
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.message}"


# --------------------------------------------------------------------------- built-in profiles

def _draft() -> Profile:
    return Profile("draft", device="cpu", models={
        "keyframe": ModelConfig("keyframe", "draft.storyboard", None),
        "clip": ModelConfig("clip", "draft.motion", None),
        "footage": ModelConfig("footage", "draft.footage", None),
        "speech": ModelConfig("speech", "draft.espeak", None),
        "performance": ModelConfig("performance", "draft.performance", None),
        "music": ModelConfig("music", "draft.score", None),
        "sfx": ModelConfig("sfx", "draft.sfx", None),
    })


# The model profiles name current models that load natively (safetensors in the repository's
# main branch, no remote code); docs/profiles.md gives each one's licence, gating, download and
# memory, compiler/estimate.py MODELS its time and memory figures.

# A recorded take becomes the character's voice. The main branches of these repositories hold
# pickles only; the pinned pull-request revisions hold the same weights as .safetensors
# (SFconvertbot), read on the Hub's tree pages.
_VOICE_CONVERSION = ModelConfig(
    "performance", "transformers.voice_conversion", "microsoft/speecht5_vc@refs/pr/7",
    dtype="float32", options={"vocoder": "microsoft/speecht5_hifigan@refs/pr/1",
                              "speaker_encoder": "microsoft/wavlm-base-sv@refs/pr/2"})


def _preview() -> Profile:
    """Fast models for one 24–48 GB card: each fits alone (the manager evicts between kinds)."""
    return Profile("preview", models={
        "keyframe": ModelConfig("keyframe", "diffusers.text_to_image",
                                "black-forest-labs/FLUX.2-klein-4B",
                                steps=4, guidance=1.0, resolution=(1024, 576), batch_size=4),
        # LTX-Video for clips and footage: one resident model for both, the fastest open video
        # model (its folder declares text-to-video: clips run through LTXImageToVideoPipeline);
        # 97 frames a segment at its native 25 fps. Wan 2.2 TI2V-5B is sharper and ~4× slower
        # (docs/profiles.md), and cannot restyle a video in diffusers 0.42.
        "clip": ModelConfig("clip", "diffusers.image_to_video", "Lightricks/LTX-Video",
                            steps=25, guidance=3.0, resolution=(704, 480), frames=97),
        # filmed footage restyled by LTX-Video (LTXConditionPipeline: the whole video as one
        # condition, denoised from its latents by `strength`)
        "footage": ModelConfig("footage", "diffusers.video_to_video", "Lightricks/LTX-Video",
                               steps=25, guidance=3.0, resolution=(704, 480), frames=97,
                               options={"strength": 0.6}),
        # VibeVoice clones each character's `voice:` (a turn of its multi-speaker chat); a
        # character without one still speaks, in an uncloned voice; not gated (CSM-1B is)
        "speech": ModelConfig("speech", "transformers.vibevoice", "vibevoice/VibeVoice-1.5B-hf",
                              dtype="bfloat16", steps=10, guidance=1.3),
        "performance": _VOICE_CONVERSION,
        "music": ModelConfig("music", "diffusers.ace_step", "ACE-Step/acestep-v15-xl-turbo-diffusers",
                             steps=8, batch_size=2),
        "sfx": ModelConfig("sfx", "diffusers.stable_audio", "stabilityai/stable-audio-open-1.0",
                           steps=100, guidance=7.0, batch_size=4),
    })


def _final() -> Profile:
    """The best models this project knows that fit one 80 GB card, one at a time."""
    return Profile("final", models={
        # Z-Image Turbo: 8 transformer passes, no guidance; refs and `from:` through img2img
        "keyframe": ModelConfig("keyframe", "diffusers.text_to_image", "Tongyi-MAI/Z-Image-Turbo",
                                steps=9, guidance=0.0, resolution=(1280, 720), batch_size=2),
        # LTX-2 at its native 24 fps, 121 frames (5 s) a segment; the sound it generates is
        # discarded (the film's mix owns the sound). Close and medium shots lip-sync to their
        # dialogue through the checkpoint's distilled LoRA (8 steps, unguided: the lip-sync
        # pass takes no guidance); the others run the dev checkpoint guided. Lightricks/LTX-2
        # is LTX-2.0: its cross-attention modulation reads each stream's own timestep
        # (use_cross_timestep false; the pipelines' default is LTX-2.3's and 2.5's)
        "clip": ModelConfig("clip", "diffusers.audio_video", "Lightricks/LTX-2",
                            dtype="bfloat16", steps=30, guidance=3.0, resolution=(768, 512),
                            frames=121, options={
                                "spatio_temporal_guidance_blocks": [29],
                                "use_cross_timestep": False, "lip_sync": True,
                                "lip_sync_lora": "ltx-2-19b-distilled-lora-384.safetensors"}),
        # footage restyled by the clips' own LTX-2 (one video model on the card): the source's
        # latents denoised from the last 60 % of the schedule, in 121-frame chunks
        "footage": ModelConfig("footage", "diffusers.audio_video", "Lightricks/LTX-2",
                               dtype="bfloat16", steps=30, guidance=3.0, resolution=(768, 512),
                               frames=121, options={"spatio_temporal_guidance_blocks": [29],
                                                    "use_cross_timestep": False,
                                                    "strength": 0.6}),
        # the same voice family as preview, larger: a preview's voices resemble the final's
        "speech": ModelConfig("speech", "transformers.vibevoice", "vibevoice/VibeVoice-7B-hf",
                              dtype="bfloat16", steps=10, guidance=1.3),
        "performance": _VOICE_CONVERSION,
        "music": ModelConfig("music", "diffusers.ace_step", "ACE-Step/acestep-v15-xl-turbo-diffusers",
                             steps=8, batch_size=2),
        "sfx": ModelConfig("sfx", "diffusers.stable_audio", "stabilityai/stable-audio-open-1.0",
                           steps=200, guidance=7.0, batch_size=2),
    })


def _laptop() -> Profile:
    """A CPU in minutes: draft pictures and sound, with a small neural voice."""
    draft = _draft().models
    return Profile("laptop", device="cpu", models={
        **draft,
        "speech": ModelConfig("speech", "transformers.tts", "facebook/mms-tts-eng",
                              dtype="float32", batch_size=8),
    })


_BUILTIN = {"draft": _draft, "laptop": _laptop, "preview": _preview, "final": _final}
BUILTIN_NAMES = tuple(_BUILTIN)          # the names a title page may choose without moviola.toml


def builtin_profiles() -> dict[str, Profile]:
    """The profiles Moviola ships, without any project configuration."""
    return {name: make() for name, make in _BUILTIN.items()}


# --------------------------------------------------------------------------- loading

def config_path(project: Path | None) -> Path | None:
    """The moviola.toml of a project folder (or of the folder holding a script), if any."""
    if project is None:
        return None
    folder = project.parent if project.is_file() else project
    path = folder / CONFIG_NAME
    return path if path.is_file() else None


def load_profiles(project: Path | None) -> dict[str, Profile]:
    """The built-in profiles merged with the project's moviola.toml, if it has one.

    ``project`` is the project folder (the folder holding the script) or the script itself.
    Raises :class:`ProfileError` for a file that cannot be read or parsed, or that names an
    unknown key, kind, backend, dtype or base profile."""
    path = config_path(project)
    if path is None:
        return builtin_profiles()
    return _reader(_config_text(path), path).profiles()


def _config_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError(f"cannot read the file: {error}", path) from None


def resolve_profile(project: Path | None, name: str | None) -> Profile:
    """The one place a profile name becomes a :class:`Profile`: the built-ins merged with the
    project's moviola.toml. ``name`` is what the user asked for (``--profile``, the title
    page's ``Profile:``), None meaning the default. Raises :class:`ProfileError` for a broken
    moviola.toml or an unknown name: a build never falls back to another profile silently."""
    profiles = load_profiles(project)
    return pick_profile(profiles, name or DEFAULT_PROFILE, config_path(project))


def pick_profile(profiles: dict[str, Profile], name: str, path: Path | None = None) -> Profile:
    """``profiles[name]``, or a :class:`ProfileError` that lists the names and suggests one."""
    if name in profiles:
        return profiles[name]
    suggestion = closest(name, profiles)
    hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    where = "" if path is not None else f" (no {CONFIG_NAME} defines it)"
    raise ProfileError(f"unknown profile {name!r}{where}; profiles: {', '.join(profiles)}{hint}",
                       path)


@dataclass(frozen=True)
class BuildSettings:
    """The project's ``[build]`` table: where its jobs render (``moviola build --ray`` wins)."""
    executor: str = "local"                 # one of EXECUTORS
    ray_address: str | None = None          # auto, HOST:PORT, ray://HOST:PORT; None: a local Ray
    ray_store: str | None = None            # a folder every machine mounts: the Ray build's cache


def load_build_settings(project: Path | None) -> BuildSettings:
    """The ``[build]`` table of the project's moviola.toml (defaults without one). Raises
    :class:`ProfileError` as :func:`load_profiles` does, and for an unknown key or executor."""
    path = config_path(project)
    if path is None:
        return BuildSettings()
    return _reader(_config_text(path), path).build()


def parse_profiles(text: str, path: Path | None = None) -> dict[str, Profile]:
    """The built-in profiles merged with the text of a moviola.toml (``path`` names it in errors)."""
    return _reader(text, path).profiles()


def _reader(text: str, path: Path | None) -> "_Reader":
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message, line, column = _decode_error(error, text)
        raise ProfileError(f"not valid TOML: {message}", path, line, column) from None
    return _Reader(data, _KeyLines(text), path)


def _decode_error(error: tomllib.TOMLDecodeError, text: str) -> tuple[str, int | None, int | None]:
    line = getattr(error, "lineno", None)            # Python 3.14 adds lineno/colno
    column = getattr(error, "colno", None)
    message = getattr(error, "msg", None) or str(error)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)", message)
    if found:
        line, column = line or int(found.group(1)), column or int(found.group(2))
        message = message[:found.start()] + message[found.end():]
    elif re.search(r"\(at end of document\)", message):
        message = message.replace(" (at end of document)", " at the end of the file")
        line = line or max(1, len(text.splitlines()))
    return message.strip() or "syntax error", line, column


class _Reader:
    """Validates the parsed TOML and merges it into the built-in profiles."""

    def __init__(self, data: dict, lines: _KeyLines, path: Path | None):
        self.data = data
        self.lines = lines
        self.path = path
        self.builtin = builtin_profiles()

    def error(self, message: str, keys: tuple[str, ...]) -> ProfileError:
        return ProfileError(message, self.path, self.lines.find(keys))

    def unknown(self, what: str, name: str, candidates, keys: tuple[str, ...]) -> ProfileError:
        suggestion = closest(name, candidates)
        hint = f"; did you mean {suggestion!r}?" if suggestion else \
            f"; expected one of: {', '.join(candidates)}"
        return self.error(f"unknown {what} {name!r}{hint}", keys)

    def build(self) -> BuildSettings:
        table = self.data.get("build", {})
        if not isinstance(table, dict):
            raise self.error("'build' must be a table: [build]", ("build",))
        for key in table:
            if key not in BUILD_KEYS:
                raise self.unknown("key", key, BUILD_KEYS, ("build", key))
        executor = table.get("executor", "local")
        if executor not in EXECUTORS:
            raise self.unknown("executor", str(executor), EXECUTORS, ("build", "executor"))
        address = table.get("ray_address")
        if address is not None and not isinstance(address, str):
            raise self.error("'ray_address' must be an address in quotes, like \"auto\" or "
                             "\"head:6379\"", ("build", "ray_address"))
        store = table.get("ray_store")
        if store is not None and not isinstance(store, str):
            raise self.error("'ray_store' must be a folder's path in quotes, like "
                             "\"/srv/moviola-store\"", ("build", "ray_store"))
        return BuildSettings(executor, address or None, store or None)

    def profiles(self) -> dict[str, Profile]:
        for key in self.data:
            if key not in ("profiles", "build"):
                raise self.unknown("section", key, ("profiles", "build"), (key,))
        self.build()                       # a broken [build] table fails every command alike
        tables = self.data.get("profiles", {})
        if not isinstance(tables, dict):
            raise self.error("'profiles' must be a table: [profiles.NAME]", ("profiles",))
        for name, table in tables.items():
            keys = ("profiles", name)
            if not _PROFILE_NAME.fullmatch(name):
                raise self.error(f"bad profile name {name!r}: use lowercase letters, digits, "
                                 f"'-' and '_'", keys)
            if not isinstance(table, dict):
                raise self.error(f"profile {name!r} must be a table: [profiles.{name}]", keys)
        result = dict(self.builtin)
        resolving: list[str] = []

        def resolve(name: str) -> Profile:
            if name in resolved:
                return resolved[name]
            if name in resolving:
                cycle = " → ".join(resolving[resolving.index(name):] + [name])
                raise self.error(f"profiles base each other in a circle: {cycle}",
                                 ("profiles", resolving[-1], "base"))
            resolving.append(name)
            table = tables[name]
            base_name = table.get("base")
            if base_name is None:
                base = self.builtin.get(name) or self.builtin[DEFAULT_PROFILE]
            else:
                if not isinstance(base_name, str):
                    raise self.error("'base' must be a profile name in quotes",
                                     ("profiles", name, "base"))
                known = sorted(set(tables) | set(self.builtin))
                if base_name not in known:
                    raise self.unknown("base profile", base_name, known, ("profiles", name, "base"))
                if base_name == name:
                    base = self.builtin.get(name)
                    if base is None:
                        raise self.error(f"profile {name!r} cannot be its own base",
                                         ("profiles", name, "base"))
                elif base_name in tables:
                    base = resolve(base_name)
                else:
                    base = self.builtin[base_name]
            profile = self.merge(name, base, table)
            resolving.pop()
            resolved[name] = profile
            return profile

        resolved: dict[str, Profile] = {}
        for name in tables:
            result[name] = resolve(name)
        return result

    def merge(self, name: str, base: Profile, table: dict) -> Profile:
        where = ("profiles", name)
        changes: dict[str, Any] = {}
        models = dict(base.models)
        for key, value in table.items():
            keys = where + (key,)
            if key in KINDS:
                if not isinstance(value, dict):
                    raise self.error(f"'{key}' must be a table: [profiles.{name}.{key}]", keys)
                models[key] = self.model(keys, key, models[key], value)
            elif key == "base":
                pass                                       # handled by the caller
            elif key == "device":
                if not isinstance(value, str) or not _DEVICE.fullmatch(value):
                    raise self.error(f"bad device {value!r}: expected auto, cpu, cuda, cuda:N "
                                     f"or mps", keys)
                changes["device"] = value
            elif key == "memory_budget_gb":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                    raise self.error(f"bad memory_budget_gb {value!r}: expected a number of "
                                     f"gigabytes above 0, like 40", keys)
                changes["memory_budget_gb"] = float(value)
            elif key == "offload":
                if not isinstance(value, bool):
                    raise self.error(f"bad offload {value!r}: expected true or false", keys)
                changes["offload"] = value
            else:
                raise self.unknown("key", key, PROFILE_KEYS + KINDS, keys)
        line = self.lines.find(where)
        origin = f"{CONFIG_NAME}:{line}" if line else CONFIG_NAME
        return replace(base, name=name, models=models, base=base.name, origin=origin, **changes)

    def model(self, where: tuple[str, ...], kind: str, inherited: ModelConfig,
              table: dict) -> ModelConfig:
        for key in table:
            if key not in MODEL_KEYS:
                raise self.unknown("key", key, MODEL_KEYS, where + (key,))
        values: dict[str, Any] = {}
        backend = table.get("backend", inherited.backend)
        if "backend" in table:
            if not isinstance(backend, str):
                raise self.error("'backend' must be a name in quotes", where + ("backend",))
            if backend not in BACKENDS:
                raise self.unknown("backend", backend, list(BACKENDS), where + ("backend",))
            if kind not in BACKENDS[backend]:
                fitting = ", ".join(b for b, kinds in BACKENDS.items() if kind in kinds)
                raise self.error(f"backend {backend!r} renders {' and '.join(BACKENDS[backend])}, "
                                 f"not {kind}; for {kind} use one of: {fitting}",
                                 where + ("backend",))
        if backend != inherited.backend:
            # Settings tuned for one backend rarely suit another: start from a clean slate.
            inherited = ModelConfig(kind, backend, None)
        for key, value in table.items():
            keys = where + (key,)
            if key == "backend":
                continue
            if key in ("model", "lora"):
                values[key] = self.model_name(value, keys, key)
            elif key == "dtype":
                if not isinstance(value, str) or value not in DTYPES:
                    alias = _DTYPE_ALIASES.get(str(value).lower().replace("torch.", ""))
                    if alias:
                        raise self.error(f"unknown dtype {value!r}; did you mean {alias!r}?", keys)
                    raise self.unknown("dtype", str(value), DTYPES, keys)
                values[key] = value
            elif key in ("steps", "batch_size", "frames"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise self.error(f"bad {key} {value!r}: expected a whole number above 0", keys)
                values[key] = value
            elif key == "guidance":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise self.error(f"bad guidance {value!r}: expected a number ≥ 0, like 3.5",
                                     keys)
                values[key] = float(value)
            elif key == "resolution":
                values[key] = self.resolution(value, keys)
            elif key == "options":
                if not isinstance(value, dict):
                    raise self.error("'options' must be a table: options = { key = value }", keys)
                values[key] = Options({**inherited.options, **_plain(value)})
        config = replace(inherited, **values)
        if config.options.get("lip_sync") and (kind != "clip" or backend not in LIP_SYNC_BACKENDS):
            raise self.error(f"options.lip_sync: {kind} backend {backend!r} cannot lip-sync; "
                             f"a clip model that takes the dialogue does "
                             f"({', '.join(LIP_SYNC_BACKENDS)})", where + ("options",))
        for name in STRENGTHS:
            value = config.options.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 < value < 1):
                raise self.error(f"bad options.{name} {value!r}: expected a number between 0 "
                                 f"and 1, like 0.6 (at 1 the picture or footage it starts from "
                                 f"would not reach the output; at 0 nothing is generated)",
                                 where + ("options", name))
        if config.options.get("lip_sync_lora") and not config.options.get("lip_sync"):
            raise self.error("options.lip_sync_lora is the LoRA lip-synced clips run with, but "
                             "nothing lip-syncs: add lip_sync = true, or remove it",
                             where + ("options",))
        if is_draft(backend) and config.model is not None:
            raise self.error(f"backend {backend!r} is built in and takes no model",
                             where + ("model",))
        if not is_draft(backend) and config.model is None:
            raise self.error(f"backend {backend!r} needs a model: add model = \"org/name\" or a "
                             f"folder inside the project", where)
        return config

    def model_name(self, value, keys: tuple[str, ...], key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"'{key}' must be a Hugging Face id (\"org/name\") or a folder "
                             f"inside the project, in quotes", keys)
        text = value.strip().replace("\\", "/")
        if text.startswith(("/", "~")) or (len(text) > 1 and text[1] == ":"):
            raise self.error(f"{key} {value!r} is outside the project: name a folder inside it "
                             f"(a symbolic link is not followed out), or use a Hugging Face id "
                             f"and point HF_HOME at the disk that holds the cache", keys)
        normal = posixpath.normpath(text)
        if normal == ".." or normal.startswith("../"):
            raise self.error(f"{key} {value!r} climbs out of the project with '..': name a "
                             f"folder inside it, or use a Hugging Face id", keys)
        return value.strip()

    def resolution(self, value, keys: tuple[str, ...]) -> tuple[int, int]:
        size = None
        if isinstance(value, str):
            found = _RESOLUTION.fullmatch(value)
            size = (int(found.group(1)), int(found.group(2))) if found else None
        elif isinstance(value, list) and len(value) == 2 and \
                all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            size = (value[0], value[1])
        if size is None or min(size) < 8:
            raise self.error(f"bad resolution {value!r}: expected \"WIDTHxHEIGHT\" (like "
                             f"\"1024x576\") or [WIDTH, HEIGHT]", keys)
        return size


def _plain(value):
    """TOML values as JSON values (dates become ISO strings)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return value.isoformat()


# --------------------------------------------------------------------------- source lines

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_KEY = rf"(?:{_BARE}|{_QUOTED})(?:\s*\.\s*(?:{_BARE}|{_QUOTED}))*"
_HEADER_LINE = re.compile(rf"\s*\[\[?\s*({_KEY})\s*\]\]?")
_KEY_LINE = re.compile(rf"\s*({_KEY})\s*=")
_KEY_PART = re.compile(rf"{_BARE}|{_QUOTED}")


class _KeyLines:
    """Where each table and key starts in the TOML text (tomllib keeps no positions).

    A line scanner, good enough for error locations: headers and ``key =`` lines are recorded
    with their full dotted path; the insides of multi-line strings are skipped."""

    def __init__(self, text: str):
        self.lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        in_string = None
        for number, line in enumerate(text.splitlines(), 1):
            if in_string:
                if in_string in line:
                    in_string = None
                continue
            header = _HEADER_LINE.match(line)
            if header:
                table = _parts(header.group(1))
                self.lines.setdefault(table, number)
                continue
            key = _KEY_LINE.match(line)
            if key:
                self.lines.setdefault(table + _parts(key.group(1)), number)
                rest = line[key.end():]
                for quotes in ('"""', "'''"):
                    if rest.count(quotes) == 1:
                        in_string = quotes

    def find(self, keys: tuple[str, ...]) -> int | None:
        """The line of ``keys``; else the first line under it (a table defined only through
        its subtables, ``[a.b]`` for ``a``); else the line of the nearest enclosing table."""
        while keys:
            if keys in self.lines:
                return self.lines[keys]
            inside = [line for path, line in self.lines.items() if path[:len(keys)] == keys]
            if inside:
                return min(inside)
            keys = keys[:-1]
        return None


def _parts(dotted: str) -> tuple[str, ...]:
    parts = []
    for part in _KEY_PART.findall(dotted):
        if part.startswith('"'):
            part = json.loads(part)
        elif part.startswith("'"):
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)
