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

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from moviola.compiler.plan import JobRef, cache_folder




def make_plan(film, project: Path | None):
    """The render plan the CLI would make: the title page's profile, resolved once by the
    compiler (built-ins and the project's moviola.toml). A broken moviola.toml or an unknown
    profile raises :class:`~moviola.compiler.profiles.ProfileError`: the caller says so."""
    from moviola.compiler.plan import plan_in_project

    return plan_in_project(film, project)


@dataclass
class CacheView:
    """What the cache holds for a plan: ``dry_run`` states by job id, and the rendered keyframe
    picture of each cut that has one."""

    states: dict[str, str] = field(default_factory=dict)
    frames: dict[str, Path] = field(default_factory=dict)     # cut id → keyframe.png
    built_before: bool = False

    def rendered(self, cut_id: str) -> bool:
        """The cut's keyframe and clip are both in the cache."""
        return all(self.states.get(str(JobRef(kind, cut_id))) == "cached"
                   for kind in ("keyframe", "clip"))


def look(plan, project: Path | None) -> CacheView | None:
    """None when the project has no cache (nothing rendered yet: the runtime is not imported)."""
    if project is None or not cache_folder(project).is_dir():
        return None
    from moviola.runtime.build import Build

    build = Build(plan, project, digests=_digests_of(project))
    view = CacheView(built_before=(cache_folder(project) / "refs").is_dir())
    try:
        view.states = build.states()
    except OSError:                   # an unreadable reference file: nothing is known cached
        view.states = {job.id: "render" for job in plan.jobs}
    for job in plan.jobs:
        entry = build.entry(job.ref) if job.kind == "keyframe" else None
        if entry is not None:
            view.frames[job.ref.identity] = entry.file("keyframe.png")
    return view


# Hover and code lenses look at the cache once per edited version: the files a plan reads
# (reference pictures, recordings) are hashed again only when their size or mtime changed.
_digests: dict[Path, object] = {}


def _digests_of(project: Path):
    from moviola.runtime.executor import FileDigests

    return _digests.setdefault(project, FileDigests(project, reuse_unchanged=True))


def select(plan, cut_ids: set[str]):
    """The plan cut down to rendering ``cut_ids``: their keyframes and clips, what those read,
    and every speech job (the timeline needs all line lengths)."""
    wanted: set = set()

    def need(ref) -> None:
        if ref not in wanted:
            wanted.add(ref)
            for other in plan.job(ref).inputs:
                need(other)

    for job in plan.jobs:
        if job.kind in ("keyframe", "clip") and job.ref.identity in cut_ids:
            need(job.ref)
        elif job.kind == "speech":
            wanted.add(job.ref)
    return plan.select(wanted)


class Cancelled(Exception):
    """The editor cancelled the build: it stops after the job that is running."""


@dataclass
class Request:
    title: str                       # "the film", "scene 3", "shot 3.2"
    plan: object                     # the RenderPlan (already cut down for a scene or shot)
    project: Path
    output: Path | None              # the mp4 for a whole-film build, else None
    workers: int = 1
    cut_ids: tuple[str, ...] = ()


def run(request: Request, progress: Callable[[str, int], None], cancel: threading.Event) -> dict:
    """Render through the build driver; ``progress(message, percent)`` after each job. Returns
    what happened (never raises for a failed or cancelled build: the result says so)."""
    from moviola.runtime.build import Build, BuildError
    from moviola.runtime.events import JobFinished

    total = max(len(request.plan.jobs), 1)
    finished = 0
    last_report = 0.0

    def on_event(event) -> None:
        nonlocal finished, last_report
        if isinstance(event, JobFinished):
            finished += 1
            now = time.monotonic()
            if not event.cached or now - last_report > 0.1 or finished == total:
                last_report = now
                verb = "cached" if event.cached else "rendered"
                progress(f"{verb} {event.job.label}", min(99, finished * 100 // total))
        if cancel.is_set():
            raise Cancelled()

    build = Build(request.plan, request.project, on_event)
    began = time.perf_counter()
    result = {"ok": False, "scope": request.title, "output": None, "executed": 0, "cached": 0,
              "cancelled": False, "error": None, "frames": []}
    try:
        report = build.run(request.output, workers=request.workers)
        if request.output is not None:
            result["output"] = str(request.output)
        data = report.to_json()["jobs"]
        result.update(ok=True, executed=data["executed"], cached=data["cached"])
    except Cancelled:
        result.update(cancelled=True, error="cancelled")
    except BuildError as error:
        result["error"] = str(error)
    except Exception as error:  # noqa: BLE001 - the editor gets the message, the server lives on
        result["error"] = f"{type(error).__name__}: {error}"
    if cancel.is_set():
        result.update(ok=False, cancelled=True, error="cancelled")
    result["seconds"] = round(time.perf_counter() - began, 3)
    for job in request.plan.jobs:
        entry = build.entry(job.ref) if job.kind == "keyframe" and job.ref.identity in request.cut_ids else None
        if entry is not None:
            result["frames"].append(str(entry.file("keyframe.png")))
    return result


def default_workers() -> int:
    return max(os.cpu_count() or 1, 1)
