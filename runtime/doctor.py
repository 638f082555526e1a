"""``moviola doctor``: what this machine can render, and which models each profile is missing.

Three tables: the compute device (torch, CUDA, the GPU and its memory, or "CPU only"), the
optional libraries the backends import, and for every profile (built in and from the project's
moviola.toml) each configured model: found (its folder and revision), missing (where it was looked
for, and the command that fetches it on a connected machine) or broken (why). The exit status is 0
when the default profile (draft) can run here, else 1.

Nothing is downloaded and no model is loaded; torch is imported only inside :func:`report`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from dataclasses import dataclass, replace
from pathlib import Path

from moviola.compiler import catalog
from moviola.compiler.profiles import DEFAULT_PROFILE, ModelConfig, Profile, ProfileError, \
    is_draft, is_project_path, load_profiles

from . import models
from .backends import registry

# (what the user installs, the module imported to check it)
LIBRARIES = (
    ("torch", "torch"),
    ("diffusers", "diffusers"),
    ("transformers", "transformers"),
    ("safetensors", "safetensors"),
    ("accelerate", "accelerate"),
    ("coqui-tts", "TTS"),
    ("espeakng-loader", "espeakng_loader"),
    ("av", "av"),
    ("numpy", "numpy"),
    ("pillow", "PIL"),
)
_DRAFT_NEEDS = ("numpy", "PIL", "av")
# Backends that accept pickled .pth checkpoints (runtime/backends/coqui.py: coqui-tts loads them
# with torch.load(weights_only=True)); every other backend needs .safetensors.
PICKLE_BACKENDS = ("coqui.xtts", "coqui.freevc")


def needs(backend: str) -> tuple[str, ...]:
    """The modules a backend imports (names as in LIBRARIES)."""
    if backend == "draft.espeak":
        return _DRAFT_NEEDS + ("espeakng_loader",)
    if is_draft(backend):
        return _DRAFT_NEEDS
    family = backend.partition(".")[0]
    return {"diffusers": ("torch", "safetensors", "diffusers", "transformers", "accelerate"),
            "transformers": ("torch", "safetensors", "transformers"),
            "coqui": ("torch", "TTS")}.get(family, ("torch",))


@dataclass(frozen=True)
class Library:
    name: str
    module: str
    version: str | None          # None when it cannot be imported
    problem: str | None          # "not installed" or the import error's first line

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_library(name: str, module: str) -> Library:
    try:
        imported = importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name == module or (error.name or "").startswith(module + "."):
            return Library(name, module, None, "not installed")
        return Library(name, module, None, _first_line(error))
    except Exception as error:  # noqa: BLE001 — a library that fails to import, whatever the reason
        return Library(name, module, None, f"{type(error).__name__}: {_first_line(error)}")
    version = getattr(imported, "__version__", None)
    if not isinstance(version, str):
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "installed"
    return Library(name, module, version, None)


@dataclass(frozen=True)
class ModelStatus:
    state: str                   # "built in", "found", "missing", "broken", "unavailable"
    detail: str
    fetch: str | None = None     # the download command, for a missing hub model
    revision: str | None = None  # the model's identity (shortened), when found
    unusable: tuple[str, ...] = ()   # of a configuration naming several models: those not usable

    @property
    def ok(self) -> bool:
        return self.state in ("built in", "found")


def model_status(config: ModelConfig, project: Path, libraries: dict[str, Library],
                 located: dict[tuple, ModelStatus] | None = None) -> ModelStatus:
    """Whether one configured model can run here (libraries imported, weights present).

    Every model the configuration names is looked for, not only the first: the model, those
    its backend adds from the options (a vocoder, a speaker encoder, a model per language), its
    LoRA and IP-Adapter; each lands in ``located`` (what the report lists as found, missing or
    broken), so one run names everything a profile lacks."""
    missing_libs = [libraries[m].name for m in needs(config.backend)
                    if m in libraries and not libraries[m].ok]
    if config.model is None:
        if missing_libs:
            return ModelStatus("unavailable", f"needs {', '.join(missing_libs)}")
        return ModelStatus("built in", "no weights needed")
    located = {} if located is None else located
    pickles = config.backend in PICKLE_BACKENDS
    statuses: dict[str, ModelStatus] = {}
    for name, adapter in named_models(config, project):
        key = (name, adapter, pickles)
        if key not in located:
            located[key] = _locate(name, project, adapter=adapter, pickles=pickles)
        statuses[name] = located[key]
    unusable = {name: status for name, status in statuses.items() if not status.ok}
    if unusable:
        worst = next(iter(unusable.values()))
        return replace(worst, unusable=tuple(unusable)) if list(unusable) != [config.model] \
            else worst
    if missing_libs:
        return ModelStatus("unavailable", f"needs {', '.join(missing_libs)}")
    # everything named is on disk: the backend's own check (model types, parts that must fit)
    problem = _backend_check(config, project)
    if problem is not None:
        name, status = problem
        located.setdefault((name, False, pickles), status)
        return status
    main = statuses[config.model]
    extras = [f"{name} {status.revision}" for name, status in statuses.items()
              if name != config.model]
    detail = main.detail + (f"; with {', '.join(extras)}" if extras else "")
    return ModelStatus("found", detail, revision=main.revision)


def named_models(config: ModelConfig, project: Path) -> list[tuple[str, bool]]:
    """(name, is an adapter) of every model ``config`` names: the model and the others its
    backend loads (``model_names()``, where the backend has one), the LoRA and the IP-Adapter."""
    names = [(config.model, False)]
    try:
        backend = registry.backend_class(config.backend)(config, None, project)
    except Exception:  # noqa: BLE001 - an unknown or unimportable backend: its check says why
        backend = None
    if callable(getattr(backend, "model_names", None)):
        names += [(name, False) for name in backend.model_names()]
    if config.lora:
        names.append((config.lora, True))
    ip_adapter = config.options.get("ip_adapter")
    if isinstance(ip_adapter, dict):
        ip_adapter = ip_adapter.get("path")
    if isinstance(ip_adapter, str):
        names.append((ip_adapter, True))
    return list(dict.fromkeys(names))


def _backend_check(config: ModelConfig, project: Path) -> tuple[str, ModelStatus] | None:
    """The backend's own ``validate()`` (it finds, never loads): it knows what else the model
    needs, a vocoder, a speaker encoder, an IP-Adapter, a model per language."""
    try:
        backend_class = registry.backend_class(config.backend)
    except (KeyError, ImportError) as error:
        return config.model, ModelStatus("unavailable", f"backend {config.backend} cannot be "
                                         f"loaded here ({_first_line(error)})")
    try:
        backend_class(config, None, project).validate()
    except Exception as error:  # noqa: BLE001 - reported as the model's status
        name = getattr(error, "model", None) or config.model
        return name, _status_of(error, name, project)
    return None


def _locate(name: str, project: Path, adapter: bool = False, pickles: bool = False) -> ModelStatus:
    try:
        try:
            path = models.locate(name, project, adapter=adapter)
            note = ""
        except models.ModelBroken as error:
            if not (pickles and error.problem == "pickles" and Path(error.path).is_dir()):
                raise
            path = Path(error.path)
            note = "; .pth weights, which coqui-tts loads weights-only"
        if models.is_repo_id(name) and _inside(path, project):
            # the project's folder wins over the hub id of the same name (locate looks there first)
            note += f"; the project's folder, not the Hugging Face model {name}"
        revision = _short(models.identity(path))
        return ModelStatus("found", f"{path} ({revision}){note}", revision=revision)
    except Exception as error:  # noqa: BLE001 - mapped to a status, unknown errors re-raised
        return _status_of(error, name, project)


def _inside(path: Path, project: Path) -> bool:
    root = Path(project).resolve()
    return root in Path(path).resolve().parents


def _status_of(error: Exception, name: str, project: Path | None = None) -> ModelStatus:
    if isinstance(error, models.ModelNotFound):
        if error.reason:
            return ModelStatus("missing", error.reason)
        if is_project_path(error.model or name, project) and error.places:
            # a project path, never a hub id: no download can make it appear
            if str(error.places[0]).endswith(".safetensors"):
                return ModelStatus("missing", f"no file {error.places[0]} in the project")
            return ModelStatus("missing", f"no folder {error.places[0]} in the project: put the "
                               f"model there (config.json or model_index.json, and .safetensors "
                               f"weights)")
        looked = ", ".join(str(place) for place in error.places)
        # a built-in profile's model: fetch the pipeline's files only (compiler/catalog.py)
        fetch = catalog.download_command(error.repo_id) if error.fetch else None
        return ModelStatus("missing", f"looked in {looked}", fetch)
    if isinstance(error, models.ModelBroken):
        return ModelStatus("broken", f"{error.path}: {error.why}")
    if isinstance(error, (OSError, ImportError, ValueError)):
        return ModelStatus("broken", f"{name}: {_first_line(error)}")
    raise error


def _short(revision: str) -> str:
    prefix, _, digest = revision.rpartition(":")
    return f"{prefix + ':' if prefix else ''}{digest[:12]}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _device(console, libraries: dict[str, Library]) -> tuple[bool, bool]:
    """Print the device table; returns (torch importable, CUDA available)."""
    from rich.table import Table

    table = Table(title="Device", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    torch_lib = libraries["torch"]
    cuda = False
    if not torch_lib.ok:
        table.add_row("torch", f"{torch_lib.problem}: GPU profiles unavailable")
        table.add_row("device", "CPU only (draft profile)")
    else:
        import torch

        table.add_row("torch", torch.__version__)
        cuda = torch.cuda.is_available()
        table.add_row("CUDA", f"available (CUDA {torch.version.cuda})" if cuda else "not available")
        if cuda:
            for index in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(index)
                bf16 = ", bfloat16" if torch.cuda.is_bf16_supported() else ""
                table.add_row(f"GPU {index}", f"{props.name}, {props.total_memory / 1024**3:.1f} GiB"
                                              f"{bf16}")
        else:
            mps = getattr(torch.backends, "mps", None)
            if mps is not None and mps.is_available():
                table.add_row("device", "Apple MPS")
            else:
                table.add_row("device", "CPU only")
    table.add_row("CPU cores", str(os.cpu_count() or "?"))
    table.add_row("HF cache", str(models.hub_cache()))
    console.print(table)
    return torch_lib.ok, cuda


def _device_problem(profile: Profile, torch_ok: bool, cuda: bool) -> str | None:
    if profile.device.startswith("cuda") and not cuda:
        return f"device {profile.device!r} is not available here"
    if not profile.is_draft and not torch_ok:
        return "torch is not installed"
    return None


def report(project: Path, console) -> int:
    """Print what this machine can render for ``project``; 0 if the default profile can run."""
    from rich.table import Table

    project = Path(project)
    if project.is_file():
        project = project.parent
    libraries = {module: check_library(name, module) for name, module in LIBRARIES}
    torch_ok, cuda = _device(console, libraries)

    table = Table(title="Libraries", title_justify="left")
    table.add_column("package")
    table.add_column("status", overflow="fold")
    for library in libraries.values():
        status = f"[green]{library.version}[/]" if library.ok else f"[yellow]{library.problem}[/]"
        table.add_row(library.name, status)
    console.print(table)

    try:
        profiles = load_profiles(project)
    except ProfileError as error:
        console.print(f"[red]{error}[/]")
        return 1

    colours = {"built in": "green", "found": "green", "missing": "yellow", "broken": "red",
               "unavailable": "yellow"}
    located: dict[tuple, ModelStatus] = {}
    runnable: dict[str, bool] = {}
    summaries = []
    console.print(f"Models for the project in {project}")
    for name, profile in profiles.items():
        origin = "built in" if profile.origin == "built-in" else \
            f"{profile.origin}, based on {profile.base}"
        table = Table(title=f"profile {name} ({origin}; device {profile.device})",
                      title_justify="left")
        for column in ("kind", "backend", "model", "status"):
            table.add_column(column, overflow="fold")
        problems = 0
        for kind, config in profile.models.items():
            status = model_status(config, project, libraries, located)
            problems += not status.ok
            colour = colours.get(status.state, "white")
            label = status.state
            if status.state == "found":
                label += f" {status.revision}"
            elif status.unusable:
                label += f": {', '.join(status.unusable)}"
            elif status.state == "unavailable":
                label = status.detail
            table.add_row(kind, config.backend, config.model or "-", f"[{colour}]{label}[/]")
        console.print(table)
        device_problem = _device_problem(profile, torch_ok, cuda)
        runnable[name] = problems == 0 and device_problem is None
        if runnable[name]:
            summaries.append(f"  [green]{name}[/]: ready")
        else:
            why = [f"{problems} of {len(profile.models)} models not usable"] if problems else []
            why += [device_problem] if device_problem else []
            summaries.append(f"  [yellow]{name}[/]: {'; '.join(why)}")

    notes = {"found": [], "missing": [], "broken": []}
    fetches: list[str] = []
    for (model, _, _), status in located.items():
        line = f"  {model}: {status.detail}"
        if status.state in notes and line not in notes[status.state]:
            notes[status.state].append(line)
        if status.fetch and status.fetch not in fetches:
            fetches.append(status.fetch)
    for state, title in (("found", "Found"), ("missing", "Missing"), ("broken", "Broken")):
        if notes[state]:
            console.print(f"\n{title}:")
            for line in notes[state]:
                console.print(line, markup=False)
    if fetches:
        console.print("\nTo fetch the missing models, on a machine with internet access run:")
        for command in fetches:
            console.print(f"  {command}", markup=False)
        console.print("then copy ~/.cache/huggingface/hub to this machine (the same place), or set "
                      "HF_HOME to where you copied it. Gated models need `hf auth login` first.",
                      markup=False)
    console.print("\nProfiles:")
    for line in summaries:
        console.print(line)
    ok = runnable.get(DEFAULT_PROFILE, False)
    if ok:
        console.print(f"[green]the default profile ({DEFAULT_PROFILE}) can run on this machine[/]")
    else:
        console.print(f"[red]the default profile ({DEFAULT_PROFILE}) cannot run on this machine[/]")
    return 0 if ok else 1
