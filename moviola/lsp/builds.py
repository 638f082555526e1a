"""Rendering from the editor, and what the cache already holds.

``moviola.runtime`` is imported here, lazily, inside the functions that build or look at the
cache: the server starts, checks, completes and hovers with the compiler alone. A project that
has no ``.moviola/cache`` folder has rendered nothing, so looking at it needs no runtime either.

A build of the whole film is what ``moviola build`` does (the mp4 lands in ``out/NAME.mp4`` beside
the script). Building a scene or a shot renders only that part: the plan is cut down to its cuts'
keyframe and clip jobs and the jobs they read (a dissolve reads the clip before it), plus every
speech job, since the lengths of all lines fix the timeline (a clip's frame count). The keys are
the full plan's, so the next full build finds those shots in the cache.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


def cache_folder(project: Path) -> Path:
    return project / ".moviola" / "cache"


def make_plan(film, project: Path | None):
    """The render plan the CLI would make (the title page's profile, with the project's
    moviola.toml when there is one)."""
    from moviola.compiler.plan import plan

    profile = None
    if project is not None:
        try:
            from moviola.compiler.profiles import load_profiles

            profile = load_profiles(project).get(film.settings.profile)
        except Exception:  # noqa: BLE001 - no profiles module, or a broken moviola.toml: built-ins
            profile = None
    return plan(film, profile) if profile is not None else plan(film)


@dataclass
class CacheView:
    """What the cache holds for a plan: ``dry_run`` states by job id, and the rendered keyframe
    picture of each cut that has one."""

    states: dict[str, str] = field(default_factory=dict)
    frames: dict[str, Path] = field(default_factory=dict)     # cut id → keyframe.png
    built_before: bool = False


def look(plan, project: Path | None) -> CacheView | None:
    """None when the project has no cache (nothing rendered yet: the runtime is not imported)."""
    if project is None or not cache_folder(project).is_dir():
        return None
    from moviola.runtime.cache import Cache
    from moviola.runtime.executor import Executor

    executor = Executor(plan, project, Cache(cache_folder(project)))
    known = _reuse_digests(executor, plan, project)
    view = CacheView(built_before=(cache_folder(project) / "refs").is_dir())
    try:
        view.states = executor.dry_run()
    except Exception:  # noqa: BLE001 - an unreadable reference file: nothing is known cached
        view.states = {job.id: "render" for job in plan.jobs}
    for job in plan.jobs:
        if job.kind != "keyframe":
            continue
        try:
            # a keyframe reads no other job and no timing: its key is known before speech is
            key = executor.keys.get(job.id) or executor.resolve_key(job, {})
        except Exception:  # noqa: BLE001 - a missing source file
            continue
        entry = executor.cache.get(key)
        view.states[job.id] = "cached" if entry is not None else "render"
        if entry is not None:
            view.frames[job.id.split(":", 1)[1]] = entry.file("keyframe.png")
    _keep_digests(executor, project, known)
    return view


# Hover and code lenses look at the cache once per edited version; the files a plan reads
# (reference pictures, recordings) are hashed again only when their size or mtime changed.
_digests: dict[tuple[Path, str], tuple[tuple, str]] = {}


def _stat(project: Path, relative: str) -> tuple | None:
    try:
        path = project / relative
        stat = path.stat()
        if path.is_dir():
            return ("dir", tuple(sorted((p.as_posix(), p.stat().st_mtime_ns, p.stat().st_size)
                                        for p in path.rglob("*") if p.is_file())))
        return (stat.st_mtime_ns, stat.st_size)
    except OSError:
        return None


def _reuse_digests(executor, plan, project: Path) -> dict:
    known = {}
    digests = getattr(executor, "_digests", None)
    if not isinstance(digests, dict):
        return known
    for relative in {f for job in plan.jobs for f in job.files}:
        stamp = known[relative] = _stat(project, relative)
        cached = _digests.get((project, relative))
        if stamp is not None and cached is not None and cached[0] == stamp:
            digests[relative] = cached[1]
    return known


def _keep_digests(executor, project: Path, known: dict) -> None:
    digests = getattr(executor, "_digests", None)
    if not isinstance(digests, dict):
        return
    for relative, digest in digests.items():
        if known.get(relative) is not None:
            _digests[(project, relative)] = (known[relative], digest)


def select(plan, cut_ids: set[str]):
    """The plan cut down to rendering ``cut_ids``: their keyframes and clips, what those read,
    and every speech job (the timeline needs all line lengths)."""
    wanted: set[str] = set()

    def need(job_id: str) -> None:
        if job_id in wanted:
            return
        wanted.add(job_id)
        for other in plan.by_id[job_id].inputs:
            need(other)

    for job in plan.jobs:
        if job.kind in ("keyframe", "clip") and job.id.split(":", 1)[1] in cut_ids:
            need(job.id)
        elif job.kind == "speech":
            wanted.add(job.id)
    jobs = tuple(job for job in plan.jobs if job.id in wanted)
    return dataclasses.replace(plan, jobs=jobs, by_id={job.id: job for job in jobs})


class Cancelled(Exception):
    """The editor cancelled the build: it stops after the job that is running."""


_building: set[Path] = set()
_building_lock = threading.Lock()


@dataclass
class Request:
    title: str                       # "the film", "scene 3", "shot 3.2"
    plan: object                     # the RenderPlan (already cut down for a scene or shot)
    project: Path
    output: Path | None              # the mp4 for a whole-film build, else None
    workers: int = 1
    cut_ids: tuple[str, ...] = ()


def run(request: Request, progress: Callable[[str, int], None], cancel: threading.Event) -> dict:
    """Render; ``progress(message, percent)`` after each job. Returns what happened (never raises
    for a failed or cancelled build: the result says so)."""
    from moviola.runtime.cache import Cache
    from moviola.runtime.executor import BuildError, Executor

    project = request.project.resolve()
    with _building_lock:
        if project in _building:
            return {"ok": False, "error": "a build of this project is already running"}
        _building.add(project)
    total = max(len(request.plan.jobs), 1)
    finished = 0
    last_report = 0.0

    def on_event(event: dict) -> None:
        nonlocal finished, last_report
        if event.get("type") == "job" and event.get("status") in ("done", "cached"):
            finished += 1
            now = time.monotonic()
            if event["status"] == "done" or now - last_report > 0.1 or finished == total:
                last_report = now
                verb = "rendered" if event["status"] == "done" else "cached"
                progress(f"{verb} {event['job'].label}", min(99, finished * 100 // total))
        if cancel.is_set():
            raise Cancelled()

    executor = Executor(request.plan, project, Cache(cache_folder(project)), on_event)
    began = time.perf_counter()
    result = {"ok": False, "scope": request.title, "output": None, "executed": 0, "cached": 0,
              "cancelled": False, "error": None, "frames": []}
    try:
        report = executor.run(workers=max(request.workers, 1))
        if request.output is not None:
            executor.install(request.output, report)
            result["output"] = str(request.output)
        data = report.to_json()["jobs"]
        result.update(ok=True, executed=data["executed"], cached=data["cached"])
    except Cancelled:
        result.update(cancelled=True, error="cancelled")
    except BuildError as error:
        result["error"] = str(error)
    except Exception as error:  # noqa: BLE001 - the editor gets the message, the server lives on
        result["error"] = f"{type(error).__name__}: {error}"
    finally:
        with _building_lock:
            _building.discard(project)
    if cancel.is_set():
        result.update(ok=False, cancelled=True, error="cancelled")
    result["seconds"] = round(time.perf_counter() - began, 3)
    for cut_id in request.cut_ids:
        entry = executor.entries.get(f"keyframe:{cut_id}")
        if entry is not None:
            result["frames"].append(str(entry.file("keyframe.png")))
    return result


def default_workers() -> int:
    return max(os.cpu_count() or 1, 1)
