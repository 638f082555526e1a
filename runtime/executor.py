"""Runs a render plan: skips what the cache has, renders the rest, and installs the film.

Order: speech first (its lengths fix the timeline), then pictures and music, then the mix,
subtitles and mux. Jobs are grouped by backend so each backend (and, on GPU profiles, each
model) is loaded once and given its jobs as a batch. Every finished job is committed to the
cache at once, so a killed build resumes where it stopped.

The runtime reports progress as events (plain dicts) to a callback; only the CLI draws them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from moviola.compiler.plan import Job, RenderPlan, content_key

from . import nle
from . import timeline as timeline_module
from .backends import registry
from .workers import _InlinePool, _ProcessPool
from .cache import Cache, CacheError, Entry

Event = dict
PHASES = (("speech",), ("keyframe", "sfx"), ("music",), ("clip",), ("mix", "subtitles"),
          ("mux", "otio", "contact_sheet"))
_PRIORITY = {"speech": 0, "keyframe": 1, "sfx": 1, "music": 2, "mix": 3, "subtitles": 3,
             "clip": 4, "contact_sheet": 5, "otio": 5, "mux": 6}
_BEFORE_TIMELINE = ("speech", "keyframe", "sfx")
_EDIT_KINDS = ("mix", "subtitles", "mux", "otio", "contact_sheet")


def _slot(job: Job) -> tuple[str, str]:
    """Which backend instance renders a job: its backend under its profile entry."""
    return job.backend, job.profile_kind


class BuildError(Exception):
    """A job failed; the message names the shot or line and its source line."""


@dataclass
class Task:
    """What a backend gets to render one job."""

    job: Job
    key: str                          # the resolved content key
    inputs: dict[str, Entry]          # finished input jobs by id
    timing: dict                      # what the timeline fixed for this job
    project: Path
    plan: RenderPlan
    folder: Path = None               # where to write the entry's files
    timeline: timeline_module.Timeline | None = None   # for the edit jobs

    def file(self, name: str) -> Path:
        return self.folder / name


@dataclass
class BuildReport:
    script: str
    output: str | None
    profile: str
    planned: dict = field(default_factory=lambda: defaultdict(int))
    cached: dict = field(default_factory=lambda: defaultdict(int))
    executed: dict = field(default_factory=lambda: defaultdict(int))
    seconds_by_kind: dict = field(default_factory=lambda: defaultdict(float))
    jobs: list = field(default_factory=list)
    wall_seconds: float = 0.0
    film_seconds: float = 0.0
    outputs: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)    # per model: loads, load/compute seconds, peak memory

    def to_json(self) -> dict:
        kinds = sorted(set(self.planned))
        return {
            "script": self.script, "output": self.output, "profile": self.profile,
            "wall_seconds": round(self.wall_seconds, 3), "film_seconds": round(self.film_seconds, 3),
            "jobs": {"planned": sum(self.planned.values()), "cached": sum(self.cached.values()),
                     "executed": sum(self.executed.values())},
            "by_kind": {kind: {"planned": self.planned[kind], "cached": self.cached[kind],
                               "executed": self.executed[kind],
                               "seconds": round(self.seconds_by_kind[kind], 3)} for kind in kinds},
            "outputs": self.outputs,
            "models": self.models,
            "job_list": self.jobs,
        }


class Executor:
    def __init__(self, plan: RenderPlan, project: Path, cache: Cache,
                 on_event: Callable[[Event], None] | None = None):
        self.plan = plan
        self.project = Path(project)
        self.cache = cache
        self.on_event = on_event or (lambda event: None)
        self.entries: dict[str, Entry] = {}        # job id → finished entry
        self.keys: dict[str, str] = {}             # job id → resolved key
        self._digests: dict[str, str] = {}
        self.model_revisions: dict[str, str] = {}  # backend → the located model's revision
        self.timeline: timeline_module.Timeline | None = None

    # -- keys -------------------------------------------------------------------------------------

    def digest(self, relative: str) -> str:
        """sha256 of a project file (or of a folder's files, sorted), cached for the build."""
        if relative not in self._digests:
            path = self.project / relative
            hasher = hashlib.sha256()
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in files:
                hasher.update(file.relative_to(self.project).as_posix().encode())
                with open(file, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        hasher.update(block)
            self._digests[relative] = hasher.hexdigest()
        return self._digests[relative]

    def resolve_key(self, job: Job, timing: dict) -> str:
        return content_key({
            "job": job.key,
            **({"model_revision": self.model_revisions[(job.backend, job.profile_kind)]}
               if (job.backend, job.profile_kind) in self.model_revisions else {}),
            "files": {path: self.digest(path) for path in job.files},
            "inputs": [self.keys[i] for i in job.inputs],
            "timing": timing,
        })

    def timing_for(self, job: Job) -> dict:
        """What the resolved timeline fixes for this job (empty before speech is known)."""
        line = self.timeline
        if job.kind == "clip":
            cut = line.cut(job.id.split(":", 1)[1])
            fps = line.fps
            fade = int(round(timeline_module.FADE * fps))
            return {"frames": cut.frames,
                    "fade_in": min(fade, cut.frames // 2) if cut.transition_in == "fade_in" else 0,
                    "fade_out": min(fade, cut.frames // 2) if cut.transition_out in ("fade_out",) else 0,
                    "dissolve": timeline_module.dissolve_frames(cut, fps)}
        if job.kind == "music":
            placement = next((m for m in line.music if m.job == job.id), None)
            return {"seconds": round(placement.seconds, 3) if placement else 0.0}
        if job.kind in ("mix", "mux"):
            return {"timeline": _timeline_json(line)}
        if job.kind == "subtitles":
            return {"lines": _timeline_json(line)["lines"]}
        if job.kind in ("otio", "contact_sheet"):
            # the picture's cuts only: a line re-timed inside its shot leaves them alone
            return {"cuts": _timeline_json(line)["cuts"]}
        return {}

    def dry_run(self) -> dict[str, str]:
        """Each job's state without rendering anything: "cached", "render", or "after speech"
        (its key depends on speech lengths that are not rendered yet)."""
        self._model_revisions_for_dry_run()
        states: dict[str, str] = {}
        for phase in PHASES:
            if phase == ("keyframe", "sfx"):
                if any(states[j.id] != "cached" for j in self.plan.jobs if j.kind == "speech"):
                    for job in self.plan.jobs:
                        states.setdefault(job.id, "after speech")
                    return states
                self._resolve_timeline()
            for job in self.plan.jobs:
                if job.kind not in phase:
                    continue
                if any(states.get(i) != "cached" for i in job.inputs):
                    states[job.id] = "render"
                    continue
                key = self.resolve_key(job, self.timing_for(job) if self.timeline else {})
                self.keys[job.id] = key
                entry = self.cache.get(key)
                states[job.id] = "cached" if entry else "render"
                if entry:
                    self.entries[job.id] = entry
        return states

    # -- running ----------------------------------------------------------------------------------

    def run(self, workers: int = 1) -> BuildReport:
        """Render every job the cache lacks. ``workers`` > 1 renders in that many processes
        (the draft profile's CPU work); 1 renders here, in order, with backends and models kept
        loaded for the whole build (what GPU profiles need)."""
        start = time.perf_counter()
        report = BuildReport(self.plan.film.path, None, self.plan.profile)
        for job in self.plan.jobs:
            report.planned[job.kind] += 1
        model_backends = sorted({(j.backend, j.profile_kind) for j in self.plan.jobs
                                 if registry.is_model_backend(j.backend)})
        if model_backends:
            workers = 1            # models stay resident in one process
        pool = (_ProcessPool(self.plan, workers, self.project) if workers > 1
                else _InlinePool(self.plan, self.project))
        try:
            self._validate(pool, model_backends)
            self.on_event({"type": "start", "total": len(self.plan.jobs)})
            self._schedule(pool, report, max(workers, 1))
        except BaseException:
            pool.abort()
            raise
        else:
            models = getattr(pool.backends, "models", None) if pool.backends else None
            report.models = models.stats() if models is not None else {}
            pool.close()
        report.wall_seconds = time.perf_counter() - start
        report.film_seconds = self.timeline.seconds if self.timeline else 0.0
        self.on_event({"type": "finish", "report": report})
        return report

    def _validate(self, pool, names: list[str]) -> None:
        """Find every model the plan needs before any GPU work, and let each backend check the
        jobs it will get (a take to convert needs the character's voice); report every problem."""
        problems = []
        for name, kind in names:
            try:
                backend = pool.backends.get(name, kind)
                backend.validate()
                self.model_revisions[(name, kind)] = getattr(backend, "revision", "") or ""
                check_jobs = getattr(backend, "check_jobs", None)
                if check_jobs is not None:
                    jobs = [job for job in self.plan.jobs if _slot(job) == (name, kind)]
                    problems += [f"{name}: {problem}" for problem in check_jobs(jobs)]
            except ImportError as error:
                problems.append(f"{name}: {error}")
            except Exception as error:  # noqa: BLE001 - ModelNotFound, ModelBroken, config errors
                problems.append(f"{name}: {error}")
        if problems:
            raise BuildError(f"cannot build with the {self.plan.profile} profile:\n  "
                             + "\n  ".join(problems)
                             + "\nrun `moviola doctor` for the full picture")

    def _model_revisions_for_dry_run(self) -> None:
        """Model revisions join the keys: find the models (no loading) so a plan can tell what a
        GPU build already rendered. A model that cannot be found leaves its jobs "render"."""
        names = {(j.backend, j.profile_kind) for j in self.plan.jobs
                 if registry.is_model_backend(j.backend)}
        if not names:
            return
        backends = registry.Backends(self.plan.config, self.project)
        for name, kind in sorted(names):
            try:
                backend = backends.get(name, kind)
                backend.validate()
                self.model_revisions[(name, kind)] = getattr(backend, "revision", "") or ""
            except Exception:  # noqa: BLE001 - reported by `moviola build` and `moviola doctor`
                continue

    def _resolve_timeline(self) -> None:
        seconds = {job_id: entry.meta["seconds"] for job_id, entry in self.entries.items()
                   if job_id.startswith("speech:")}
        self.timeline = timeline_module.resolve(self.plan, seconds)

    def _batch_size(self, backend: str, kind: str) -> int:
        config = self.plan.config
        if config is None or not registry.is_model_backend(backend):
            return 1
        model = config.models.get(kind)
        if model is not None and model.backend == backend:
            return max(model.batch_size, 1)
        return max(next((c.batch_size for c in config.models.values() if c.backend == backend), 1), 1)

    def _schedule(self, pool, report: BuildReport, slots: int) -> None:
        """Dispatch jobs as their inputs finish. Speech comes first (its lengths fix the
        timeline); long jobs that need nothing else (the mix) start early, beside the clips;
        ready jobs of one backend go together, in batches of the model's batch size."""
        pending = sorted(self.plan.jobs, key=lambda j: (_PRIORITY[j.kind], j.backend))
        speech = [j.id for j in self.plan.jobs if j.kind == "speech"]
        running: dict = {}
        while pending or running:
            if self.timeline is None and all(i in self.entries for i in speech):
                self._resolve_timeline()
            ready: list = []
            progressed = True
            while progressed:
                progressed = False
                for job in list(pending):
                    needs_timeline = job.kind not in _BEFORE_TIMELINE
                    if (needs_timeline and self.timeline is None) or any(
                            i not in self.entries for i in job.inputs):
                        continue
                    if ready and _slot(job) != _slot(ready[0][0].job):
                        continue
                    pending.remove(job)
                    timing = self.timing_for(job) if needs_timeline else {}
                    key = self.resolve_key(job, timing)
                    self.keys[job.id] = key
                    entry = self.cache.get(key)
                    if entry is not None:
                        self._record(job, key, entry, report, None)
                        progressed = True
                        if self.timeline is None and all(i in self.entries for i in speech):
                            self._resolve_timeline()
                        continue
                    writer = self.cache.writer(key)
                    task = Task(job, key, {i: self.entries[i] for i in job.inputs}, timing,
                                self.project, self.plan, writer.path)
                    if job.kind in _EDIT_KINDS:
                        task.timeline = self.timeline
                    ready.append((task, writer))
                    if len(ready) >= self._batch_size(*_slot(job)) or len(running) + 1 < slots:
                        break
                if ready and (len(ready) >= self._batch_size(*_slot(ready[0][0].job))
                              or len(running) < slots):
                    for task, _ in ready:
                        self.on_event({"type": "job", "status": "running", "job": task.job})
                    running[pool.submit([t for t, _ in ready])] = (ready, time.perf_counter())
                    ready = []
                    progressed = len(running) < slots
            if ready:
                for task, _ in ready:
                    self.on_event({"type": "job", "status": "running", "job": task.job})
                running[pool.submit([t for t, _ in ready])] = (ready, time.perf_counter())
            if not running:
                if pending:
                    raise BuildError(f"cannot schedule {pending[0].label}: an input never finished")
                continue
            future = pool.wait_one(running)
            batch, began = running.pop(future)
            self._finish(batch, future, began, report)

    def _finish(self, batch: list, future, began: float, report: BuildReport) -> None:
        elapsed = (time.perf_counter() - began) / len(batch)
        try:
            metas = future.result()
        except (KeyboardInterrupt, SystemExit):
            for _, writer in batch:
                writer.abort()
            raise
        except Exception as error:  # noqa: BLE001 - a backend failure becomes a named BuildError
            for _, writer in batch:
                writer.abort()
            job = batch[0][0].job
            if isinstance(error, OSError) and error.errno == 28:        # ENOSPC
                raise BuildError(f"disk full while rendering {job.label}: free some space "
                                 f"(`moviola cache --prune`) and build again; finished work is kept") from error
            raise BuildError(_blame(job, error)) from error
        for (task, writer), meta in zip(batch, metas):
            try:
                entry = writer.commit({"job": task.job.id, "kind": task.job.kind, **(meta or {})})
            except CacheError as error:
                raise BuildError(str(error)) from error
            self._record(task.job, task.key, entry, report, elapsed)

    def _record(self, job: Job, key: str, entry: Entry, report: BuildReport, elapsed) -> None:
        self.entries[job.id] = entry
        if elapsed is None:
            report.cached[job.kind] += 1
            report.jobs.append({"id": job.id, "kind": job.kind, "key": key, "status": "cached"})
            self.on_event({"type": "job", "status": "cached", "job": job})
            return
        report.executed[job.kind] += 1
        report.seconds_by_kind[job.kind] += elapsed
        report.jobs.append({"id": job.id, "kind": job.kind, "key": key, "status": "executed",
                            "seconds": round(elapsed, 4)})
        self.on_event({"type": "job", "status": "done", "job": job, "seconds": elapsed})

    # -- outputs ----------------------------------------------------------------------------------

    def install(self, output: Path, report: BuildReport, timelines: tuple[str, ...] = ("otio",)) -> dict:
        """Put the film and its companions at ``output`` (atomically, file by file), with the
        editor's timeline in each of ``timelines`` (runtime/nle.py's formats)."""
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        stem = output.with_suffix("")
        mux = self.entries["mux:film"]
        subtitles = self.entries["subtitles:film"]
        installed = {"film": str(output)}
        _install(mux.file("film.mp4"), output)
        for suffix in ("srt", "vtt"):
            target = stem.with_suffix(f".{suffix}")
            _install(subtitles.file(f"film.{suffix}"), target)
            installed[suffix] = str(target)
        sheet = stem.parent / f"{stem.name}.storyboard.png"
        _install(self.entries["contact_sheet:film"].file("sheet.png"), sheet)
        installed["contact_sheet"] = str(sheet)
        media = stem.parent / f"{stem.name}.media"
        media.mkdir(exist_ok=True)
        labels = {cut.id: cut.label for cut in self.plan.cuts}
        for job in self.plan.jobs:
            if job.kind == "clip":
                _install(self.entries[job.id].file("clip.mp4"),
                         media / nle.shot_media(labels[job.id.split(":", 1)[1]]))
        from .mix import STEMS              # numpy: loaded only by a build that installs

        for name in ("mix",) + STEMS:
            _install(self.entries["mix:film"].file(f"{name}.wav"), media / f"{name}.wav")
        installed.update(nle.install(self.entries["otio:film"].file("film.otio"), stem, media.name,
                                     timelines))
        installed["media"] = str(media)
        report.outputs = installed
        report.output = str(output)
        self._record_refs(output)
        return installed

    def _record_refs(self, output: Path) -> None:
        """Remember which cache entries the last build of this script used (for pruning)."""
        refs = self.cache.root / "refs"
        refs.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(str(Path(self.plan.film.path).resolve()).encode()).hexdigest()[:16]
        payload = {"script": self.plan.film.path, "output": str(output),
                   "keys": sorted(set(self.keys.values()))}
        temporary = refs / f".{name}.tmp"
        temporary.write_text(json.dumps(payload), "utf-8")
        os.replace(temporary, refs / f"{name}.json")


def referenced_keys(cache: Cache) -> set[str]:
    keys: set[str] = set()
    refs = cache.root / "refs"
    if refs.exists():
        for file in refs.glob("*.json"):
            try:
                keys.update(json.loads(file.read_text("utf-8")).get("keys", []))
            except (OSError, ValueError):
                continue
    return keys


def _install(source: Path, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.tmp")
    try:
        if temporary.exists():
            temporary.unlink()
        os.link(source, temporary)          # no copy when the cache shares the disk
    except OSError:
        shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def _blame(job: Job, error: Exception) -> str:
    where = f" (line {job.span.line})" if job.span is not None else ""
    return f"{job.label}{where} failed: {type(error).__name__}: {error}"


def _timeline_json(line: timeline_module.Timeline) -> dict:
    return {
        "fps": line.fps, "frames": line.total_frames,
        "cuts": [[c.id, c.start_frame, c.frames, c.transition_in, c.transition_out] for c in line.cuts],
        "lines": [[l.job, round(l.start, 4), round(l.seconds, 4), l.voice_over, l.off_screen]
                  for l in line.lines],
        "music": [[m.job, round(m.start, 4), m.seconds and round(m.seconds, 4), m.fade_in,
                   m.fade_out, m.volume] for m in line.music],
        "sfx": [[s.job, round(s.start, 4), s.volume] for s in line.sfx],
    }
