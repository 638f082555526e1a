"""Finding, loading and keeping models: offline, safetensors only, resident under a budget.

- :func:`locate` turns a configured model (a folder inside the project, or a Hugging Face id)
  into a folder on this machine, looking only on disk: the project, then the Hugging Face cache
  (``HF_HUB_CACHE``, ``HF_HOME/hub`` or ``~/.cache/huggingface/hub``). Nothing here touches the
  network. A folder whose weights exist only as pickles is refused (:class:`ModelBroken`).
- :func:`identity` is the model's revision for cache keys.
- :func:`load_safely` calls a ``from_pretrained``-style loader with safetensors only, local files
  only and never remote code, and turns its failures into one-line errors.
- :class:`ModelManager` keeps loaded models resident for a whole build, evicts the least
  recently used when their weights would take more than the budget less the activations'
  headroom, retries a model call once after an out-of-memory (the other models evicted), and
  records load and compute times and peak memory.

torch is imported inside functions only, so importing this module costs nothing.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from moviola.compiler import paths
from moviola.compiler.profiles import is_project_path

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
CONFIG_FILES = ("model_index.json", "config.json")
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?")
_SAMPLE_BYTES = 1 << 16


class ModelNotFound(Exception):
    """No folder for a model on this machine; the message says where we looked and how to fetch it."""

    def __init__(self, model: str, places: list[Path], reason: str | None = None,
                 repo_id: str | None = None):
        self.model = model
        self.places = places
        self.reason = reason
        self.repo_id = repo_id
        super().__init__(self._render())

    @property
    def fetch(self) -> str | None:
        """The command that downloads the model on a connected machine, if it is a hub id."""
        from moviola.compiler.catalog import download_command

        return None if self.repo_id is None else download_command(self.repo_id)

    def _render(self) -> str:
        lines = [f"model {self.model!r} not found" + (f": {self.reason}" if self.reason else "")]
        if self.places:
            lines.append("looked in:")
            lines += [f"  {place}" for place in self.places]
        if self.fetch:
            lines += [
                "to fetch it, on a machine with internet access run:",
                f"  {self.fetch}    (or: huggingface-cli download {self.repo_id.partition('@')[0]})",
                "then copy ~/.cache/huggingface/hub to this machine (same place), or set HF_HOME "
                "(or HF_HUB_CACHE) to where you copied it; gated models need `hf auth login` first",
            ]
        elif self.reason is None:
            lines.append("put the model's folder (config.json or model_index.json and "
                         ".safetensors weights) at that path inside the project")
        return "\n".join(lines)


class ModelBroken(Exception):
    """A model folder that exists but cannot be used; the message says why.

    ``problem`` classifies it for callers: ``"config"`` (no or unreadable config JSON),
    ``"pickles"`` (weights only as pickles), ``"no-weights"``, ``"incomplete"`` (a dangling link
    of an interrupted download), ``"file"`` (not a valid .safetensors file), ``"load"`` (the
    loader failed) or None."""

    def __init__(self, path: Path, why: str, problem: str | None = None):
        self.path = path
        self.why = why
        self.problem = problem
        super().__init__(f"model at {path} cannot be used: {why}")


class DeviceUnavailable(Exception):
    """A profile asks for a device this machine does not have."""


class OutOfMemory(Exception):
    """A model call ran out of device memory twice, the second time with the device to its
    model alone; the message names what was asked (shots, size, frames) and what to lower."""


def is_out_of_memory(error: BaseException) -> bool:
    """An allocation failure: torch.OutOfMemoryError (CUDA, a RuntimeError subclass), MPS's
    and CPU's allocator RuntimeErrors (torch has no class of their own for them), MemoryError."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and (
        "MPS backend out of memory" in text or "DefaultCPUAllocator: can't allocate memory" in text
        or "CUDA out of memory" in text)


# --------------------------------------------------------------------------- locating

def hub_cache() -> Path:
    """The Hugging Face hub cache folder, as huggingface_hub computes it (read at every call)."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def is_repo_id(model: str) -> bool:
    """``org/name`` (optionally ``@revision``): could name a Hugging Face repository."""
    return bool(_REPO_ID.fullmatch(model)) and not model.startswith(("./", "../"))


def locate(model: str, project: Path | None, *, adapter: bool = False) -> Path:
    """The folder (or, for a LoRA, the .safetensors file) holding ``model`` on this machine.

    A folder inside the project wins; otherwise an ``org/name[@revision]`` id is looked up in
    the Hugging Face cache, offline. Paths are resolved like every path a project names
    (``compiler/paths.py``): absolute paths, ``..`` and symbolic links leading out of the project
    are refused. ``adapter=True`` (LoRA, IP-Adapter) accepts a folder without a config JSON.
    Raises :class:`ModelNotFound` or :class:`ModelBroken`."""
    places: list[Path] = []
    text = model.strip()
    if project is not None:
        resolution = paths.resolve(project, text)
        if resolution.problem == "escapes":
            raise ModelNotFound(model, [], reason="the path leads outside the project folder "
                                "(absolute, '..' or a symbolic link out); name a folder inside "
                                "it, or use a Hugging Face id and set HF_HOME")
        if resolution.path is not None:
            local = project.resolve() / resolution.path
            places.append(local)
            if resolution.problem is None:
                check(local, adapter=adapter)
                return local
    # `models/x` and the like name the project's folders only: never offer to download them
    if is_repo_id(text) and not is_project_path(text, project):
        snapshot, looked = _hub_snapshot(text)
        places.append(looked)
        from moviola.compiler.catalog import safetensors_pin

        pin = safetensors_pin(text)            # main has pickles only: the revision to name
        hint = (f"{text.partition('@')[0]} publishes its weights on main as pickles only; its "
                f"safetensors are at a revision: name model = \"{pin}\"") if pin else None
        if snapshot is not None:
            try:
                check(snapshot, adapter=adapter)
            except ModelBroken as error:
                if hint is None or error.problem != "pickles":
                    raise
                raise ModelBroken(error.path, f"{error.why}. {hint}", error.problem) from None
            return snapshot
        raise ModelNotFound(model, places, reason=hint, repo_id=pin or text)
    raise ModelNotFound(model, places)


def _hub_snapshot(repo_id: str) -> tuple[Path | None, Path]:
    """The snapshot folder of a hub id in the cache (None if absent), and the folder looked in."""
    repo, _, revision = repo_id.partition("@")
    folder = hub_cache() / ("models--" + repo.replace("/", "--"))
    snapshots = folder / "snapshots"
    if not snapshots.is_dir():
        return None, folder
    ref = folder / "refs" / (revision or "main")
    if ref.is_file():
        name = ref.read_text(encoding="utf-8").strip()
        return (snapshots / name if (snapshots / name).is_dir() else None), folder
    if revision:
        candidate = snapshots / revision
        return (candidate if candidate.is_dir() else None), folder
    found = sorted((p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return (found[-1] if found else None), folder


def check(path: Path, adapter: bool = False) -> None:
    """Raise :class:`ModelBroken` unless ``path`` looks loadable: readable configs and, in every
    folder holding weights, .safetensors weights (pickles alone are refused: they can run code).
    ``adapter=True`` accepts a folder without config.json / model_index.json."""
    if path.is_file():
        if path.suffix != ".safetensors":
            pickle = path.suffix in PICKLE_SUFFIXES
            raise ModelBroken(path, "only .safetensors weight files are loaded"
                              + (" (this is a pickle)" if pickle else ""),
                              "pickles" if pickle else "file")
        _safetensors_header(path)
        return
    files = [p for p in sorted(path.rglob("*")) if not p.is_dir()]
    missing = [p for p in files if p.is_symlink() and not p.exists()]
    if missing:
        raise ModelBroken(path, f"incomplete download: {missing[0].relative_to(path)} points at a "
                          f"missing file; download the model again", "incomplete")
    if not adapter and not any((path / name).is_file() for name in CONFIG_FILES):
        raise ModelBroken(path, "no config.json or model_index.json: not a model folder", "config")
    for config in files:
        if config.name in CONFIG_FILES:
            try:
                json.loads(config.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as error:
                raise ModelBroken(path, f"{config.relative_to(path)} is not readable JSON "
                                  f"({_first_line(error)})", "config") from None
    safetensors = [p for p in files if p.suffix == ".safetensors"]
    pickles = [p for p in files if p.suffix in PICKLE_SUFFIXES]
    with_safetensors = {p.parent for p in safetensors}
    pickled_only = sorted({p.parent for p in pickles} - with_safetensors)
    if pickled_only:
        folder = pickled_only[0]
        name = folder.relative_to(path).as_posix()
        where = "the model" if name == "." else f"{name}/"
        raise ModelBroken(path, f"{where} has weights only as pickles "
                          f"({', '.join(p.name for p in pickles if p.parent == folder)}); "
                          f"Moviola loads .safetensors only: download the safetensors "
                          f"revision or convert the weights", "pickles")
    if not safetensors:
        raise ModelBroken(path, "no weights (.safetensors files) in the folder", "no-weights")


def _safetensors_header(path: Path) -> bytes:
    """The JSON header of a .safetensors file (names, dtypes, shapes, offsets, metadata)."""
    try:
        with open(path, "rb") as stream:
            length = int.from_bytes(stream.read(8), "little")
            if not 2 <= length <= 100 * 1024 * 1024:
                raise ValueError("bad header length")
            header = stream.read(length)
            json.loads(header)
            return header
    except (OSError, ValueError) as error:
        raise ModelBroken(path, f"{path.name} is not a valid .safetensors file "
                          f"({_first_line(error)})", "file") from None


def identity(path: Path) -> str:
    """The model's revision for cache keys.

    For a Hugging Face snapshot, its name (the commit). For a project folder, ``sha256:…`` over
    every file's relative name and size, the bytes of its JSON files and, for each .safetensors
    file, its header and three 64 KiB samples of its data (start, middle, end): cheap, and it
    changes when weights are replaced, even with the same shapes."""
    resolved = path.resolve()
    if resolved.parent.name == "snapshots" and resolved.parent.parent.name.startswith("models--"):
        return resolved.name
    digest = hashlib.sha256()
    files = [resolved] if resolved.is_file() else \
        [p for p in sorted(resolved.rglob("*")) if p.is_file()]
    for file in files:
        name = file.name if file == resolved else file.relative_to(resolved).as_posix()
        size = file.stat().st_size
        digest.update(f"{name}\0{size}\0".encode())
        if file.suffix == ".json":
            digest.update(file.read_bytes())
        elif file.suffix == ".safetensors":
            header = _safetensors_header(file)
            digest.update(header)
            with open(file, "rb") as stream:
                start = 8 + len(header)
                for offset in {start, max(start, (start + size) // 2),
                               max(start, size - _SAMPLE_BYTES)}:
                    stream.seek(offset)
                    digest.update(stream.read(_SAMPLE_BYTES))
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


# --------------------------------------------------------------------------- device and dtype

def _torch():
    try:
        import torch
    except ImportError as error:
        raise DeviceUnavailable(f"torch is not installed ({_first_line(error)}): GPU profiles "
                                f"are unavailable; install with: pip install -c constraints.txt "
                                f"-e '.[gpu]'") from None
    return torch


def pick_device(preference: str = "auto") -> str:
    """``cuda`` (or ``mps``) when available for ``auto``, else ``cpu``; a named device is checked."""
    if preference == "cpu":
        return "cpu"
    try:
        torch = _torch()
    except DeviceUnavailable:
        if preference == "auto":
            return "cpu"
        raise
    if preference == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if preference.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceUnavailable(f"device {preference!r} asked for, but CUDA is not available "
                                    f"(torch {torch.__version__}); use device = \"auto\" or "
                                    f"\"cpu\"")
        index = int(preference.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise DeviceUnavailable(f"device {preference!r} asked for, but this machine has "
                                    f"{torch.cuda.device_count()} CUDA device(s)")
        return preference
    if preference == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceUnavailable("device 'mps' asked for, but MPS is not available")
        return "mps"
    raise DeviceUnavailable(f"unknown device {preference!r}")


def pick_dtype(preference: str, device: str):
    """A torch dtype: ``auto`` is bfloat16 on CUDA when supported (else float16), float16 on
    MPS, float32 on CPU; a named dtype is used as given."""
    torch = _torch()
    named = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if preference in named:
        return named[preference]
    if preference != "auto":
        raise ValueError(f"unknown dtype {preference!r}")
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


# --------------------------------------------------------------------------- loading

@contextmanager
def offline() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 (and TRANSFORMERS_OFFLINE=1) for the duration, restored afterwards."""
    saved = {name: os.environ.get(name) for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({name: "1" for name in saved})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_safely(loader: Callable[..., Any], path: Path, **kwargs) -> Any:
    """``loader(path, use_safetensors=True, local_files_only=True, **kwargs)``, offline.

    Any failure becomes :class:`ModelBroken` naming the path and the loader's message (out of
    memory is not the model's fault and passes through). Remote code is never run."""
    if kwargs.get("trust_remote_code"):
        raise ValueError("Moviola never runs a model repository's code (trust_remote_code)")
    kwargs.pop("trust_remote_code", None)
    _quiet_loading()
    try:
        with offline():
            return loader(str(path), use_safetensors=True, local_files_only=True, **kwargs)
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 — every loader failure is reported the same way
        if is_out_of_memory(error):
            raise
        raise ModelBroken(path, f"loading failed: {type(error).__name__}: "
                          f"{_first_line(error)}", "load") from error


def _quiet_loading() -> None:
    """The libraries' own progress bars would scribble over the build's progress display."""
    for name in ("transformers", "diffusers"):
        try:
            module = __import__(f"{name}.utils.logging", fromlist=["disable_progress_bar"])
            module.disable_progress_bar()
        except (ImportError, AttributeError):
            continue


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --------------------------------------------------------------------------- residency

def modules_of(obj: Any) -> list:
    """The torch modules an object holds: itself, a diffusers pipeline's ``components``, the
    values of a tuple/list/dict, or the module attributes of a plain object (one level)."""
    try:
        import torch
    except ImportError:
        return []
    found: list = []
    seen: set[int] = set()

    def visit(value, depth: int) -> None:
        if id(value) in seen or depth > 2:
            return
        seen.add(id(value))
        if isinstance(value, torch.nn.Module):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item, depth + 1)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item, depth + 1)
        elif isinstance(getattr(value, "components", None), dict):
            visit(value.components, depth)
        elif hasattr(value, "__dict__") and not isinstance(value, type):
            for item in vars(value).values():
                if isinstance(item, (torch.nn.Module, dict, list, tuple)):
                    visit(item, depth + 1)

    visit(obj, 0)
    return found


def size_of(obj: Any, largest_only: bool = False) -> int:
    """Bytes of the parameters and buffers of the torch modules in ``obj`` (shared tensors
    counted once); with ``largest_only``, of its largest module (what offload keeps on device)."""
    sizes = []
    seen: set[int] = set()
    for module in modules_of(obj):
        total = 0
        for tensor in list(module.parameters()) + list(module.buffers()):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
        sizes.append(total)
    if not sizes:
        return 0
    return max(sizes) if largest_only else sum(sizes)


def _usable_memory(device: str) -> int | None:
    """90 % of the GPU's memory, or 80 % of the machine's RAM on CPU (None if unknown)."""
    try:
        if device.startswith("cuda"):
            import torch

            index = int(device.partition(":")[2] or 0)
            return int(torch.cuda.get_device_properties(index).total_memory * 0.9)
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 0.8)
    except (ImportError, ValueError, OSError, AttributeError, RuntimeError):
        return None


# Share of the device's usable memory kept free of weights, by default, for what a call
# computes (latents, attention, the VAE's decode): a 720p clip of 121 frames takes gigabytes
# of activations beside a 5 B video model.
HEADROOM = 0.2


class ModelManager:
    """Models resident for a build: each loads once, and the least recently used are evicted
    when loading another would take the weights over their budget.

    The budget counts weights; what the device has beyond it is the headroom for activations.
    ``budget_bytes`` (the profile's ``memory_budget_gb``) sets it; by default it is the usable
    memory (90 % of the GPU's, 80 % of RAM) less ``headroom`` × that memory. Once a call has
    been measured (on CUDA) to need more above the weights than the device leaves free, the
    weights' budget shrinks to leave that much. A model call made through :meth:`call` that
    runs out of memory is retried once with the other models evicted and the device's cache
    emptied; a second failure raises :class:`OutOfMemory`.

    Callers fetch a model with :meth:`get` each time they use it (holding no reference of their
    own between batches), so an evicted model's memory is actually freed."""

    def __init__(self, device: str = "auto", budget_bytes: int | None = None,
                 offload: bool = False, headroom: float = HEADROOM):
        self.device = pick_device(device)
        self.usable_bytes = _usable_memory(self.device)
        if budget_bytes is None and self.usable_bytes is not None:
            budget_bytes = int(self.usable_bytes * (1 - headroom))
        self.budget_bytes = budget_bytes
        self.offload = offload
        self._measured_activations = 0          # the most a call needed above the weights
        self._resident: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._stats: dict[str, dict] = {}
        self._lock = threading.RLock()

    # -- queries
    def __contains__(self, key: str) -> bool:
        return key in self._resident

    @property
    def resident(self) -> list[str]:
        """Keys of the resident models, least recently used first."""
        return list(self._resident)

    @property
    def used_bytes(self) -> int:
        return sum(size for _, size in self._resident.values())

    @property
    def weights_budget_bytes(self) -> int | None:
        """What the resident weights may take: the budget, less any activations measured
        beyond what the device has free of it (None: no limit)."""
        limits = [self.budget_bytes]
        if self.usable_bytes is not None and self._measured_activations:
            limits.append(max(self.usable_bytes - self._measured_activations, 0))
        limits = [limit for limit in limits if limit is not None]
        return min(limits) if limits else None

    @property
    def headroom_bytes(self) -> int:
        """The usable device memory left free of weights for activations (0 when unknown)."""
        weights = self.weights_budget_bytes
        if self.usable_bytes is None or weights is None:
            return 0
        return max(self.usable_bytes - weights, 0)

    def stats(self) -> dict[str, dict]:
        """Per key: loads, load_seconds, compute_seconds, peak_memory_bytes (plus size_bytes,
        evictions and out_of_memory_retries)."""
        with self._lock:
            return {key: dict(value) for key, value in self._stats.items()}

    def _entry(self, key: str) -> dict:
        return self._stats.setdefault(key, {"loads": 0, "load_seconds": 0.0,
                                            "compute_seconds": 0.0, "peak_memory_bytes": 0,
                                            "size_bytes": 0, "evictions": 0,
                                            "out_of_memory_retries": 0})

    # -- residency
    def get(self, key: str, load: Callable[[], Any]) -> Any:
        """The model under ``key``, loading it with ``load()`` the first time (and again only
        after an eviction). The loaded object is moved to the device (or, with offload on CUDA,
        a diffusers pipeline gets ``enable_model_cpu_offload``)."""
        with self._lock:
            if key in self._resident:
                self._resident.move_to_end(key)
                return self._resident[key][0]
            started = time.perf_counter()
            try:
                obj = load()
            except Exception as error:
                if not is_out_of_memory(error) or not self._resident:
                    raise
                self._evict_all()          # one retry with the device to itself
                obj = load()
            offloaded = (self.offload and self.device.startswith("cuda")
                         and hasattr(obj, "enable_model_cpu_offload"))
            size = size_of(obj, largest_only=offloaded)
            self._make_room(size)
            obj = self._place(obj, offloaded)
            entry = self._entry(key)
            entry["loads"] += 1
            entry["load_seconds"] += time.perf_counter() - started
            entry["size_bytes"] = size
            self._resident[key] = (obj, size)
            return obj

    def _make_room(self, size: int) -> None:
        limit = self.weights_budget_bytes
        if limit is None:
            return
        while self._resident and self.used_bytes + size > limit:
            self._evict(next(iter(self._resident)))

    def _place(self, obj: Any, offloaded: bool) -> Any:
        if offloaded:
            index = int(self.device.partition(":")[2] or 0)
            obj.enable_model_cpu_offload(gpu_id=index)
            return obj
        if self.device == "cpu":
            return obj
        if callable(getattr(obj, "to", None)):
            moved = obj.to(self.device)
            return obj if moved is None else moved
        for module in modules_of(obj):      # a tuple, dict or wrapper holding modules
            module.to(self.device)
        return obj

    def _evict(self, key: str) -> None:
        self._resident.pop(key, None)
        self._entry(key)["evictions"] += 1
        self._free()

    def _evict_all(self) -> None:
        for key in list(self._resident):
            self._evict(key)

    def evict(self, key: str) -> None:
        """Drop one model now (it loads again on the next :meth:`get`)."""
        with self._lock:
            if key in self._resident:
                self._evict(key)

    def _free(self) -> None:
        gc.collect()
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def _evict_others(self, key: str) -> None:
        for other in [k for k in self._resident if k != key]:
            self._evict(other)

    # -- compute
    def call(self, key: str, run: Callable[[], Any], describe: Callable[[], str]) -> Any:
        """``run()`` timed under :meth:`compute` for ``key``'s model. On out of memory: evict the
        other resident models, empty the device's cache and run once more; a second out of
        memory raises :class:`OutOfMemory` with ``describe()`` (the shots and the sizes asked
        for) and what to lower."""
        done, result = self._attempt(key, run)
        if done:
            return result
        with self._lock:
            self._evict_others(key)
            self._free()
            self._entry(key)["out_of_memory_retries"] += 1
        done, result = self._attempt(key, run)
        if done:
            return result
        self._free()
        raise OutOfMemory(self._out_of_memory_message(describe(), result))

    def _attempt(self, key: str, run: Callable[[], Any]) -> tuple[bool, Any]:
        """(True, what ``run()`` returned), or (False, the out-of-memory error's line). The
        error is not kept: its traceback holds the failed call's tensors, freed on return."""
        try:
            with self.compute(key):
                return True, run()
        except Exception as error:  # noqa: BLE001 - only allocation failures are caught
            if not is_out_of_memory(error):
                raise
            return False, f"{type(error).__name__}: {_first_line(error)}"

    def _out_of_memory_message(self, what: str, failure: str) -> str:
        hint = ("lower `resolution`, `frames` or `batch_size` for this kind in moviola.toml"
                + ("" if self.offload else ", or set `offload = true` in the profile (slower, "
                   "much smaller)"))
        return (f"out of memory on {self.device}: {what}, even with the other models "
                f"evicted and the cache emptied ({failure}); {hint}")

    @contextmanager
    def compute(self, key: str) -> Iterator[None]:
        """Time a computation with ``key``'s model and record the peak memory it reached:
        ``torch.cuda.max_memory_allocated`` on CUDA, else the process's peak RSS."""
        cuda = self.device.startswith("cuda")
        if cuda:
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
        with self._lock:
            if key in self._resident:
                self._resident.move_to_end(key)
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            peak = torch.cuda.max_memory_allocated(self.device) if cuda else _peak_rss()
            with self._lock:
                entry = self._entry(key)
                entry["compute_seconds"] += elapsed
                entry["peak_memory_bytes"] = max(entry["peak_memory_bytes"], peak)
                if cuda:            # RSS counts far more than tensors: measured on CUDA only
                    self._measured_activations = max(self._measured_activations,
                                                     peak - self.used_bytes)

    def close(self) -> None:
        """Drop every model and give the device's cached memory back."""
        with self._lock:
            self._resident.clear()
            self._free()

    def __enter__(self) -> ModelManager:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _peak_rss() -> int:
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except (ImportError, OSError):
        return 0
