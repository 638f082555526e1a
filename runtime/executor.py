"""Runs a render plan: skips what the cache has, renders the rest, and installs the film.

Order: speech first (its lengths fix the timeline), then pictures and music, then the mix,
subtitles and mux. Jobs are grouped by backend so each backend (and, on GPU profiles, each
model) is loaded once and given its jobs as a batch. Every finished job is committed to the
cache at once, so a killed build resumes where it stopped.

The runtime reports progress as typed events (runtime/events.py) to one callback; the CLI and
the language server draw them. Builds are driven by runtime/build.py.
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
from typing import TYPE_CHECKING

from moviola.compiler.plan import Job, JobRef, RenderPlan, content_key, film_ref

from . import nle
from . import timeline as timeline_module
from . import why
from .backends import registry
from .backends.protocol import ARTIFACTS, KIND_RULES, Input, Task, missing_outputs
from .events import BuildFinished, BuildStarted, JobFinished, JobProgress, JobStarted, OnEvent
from .models import OutOfMemory
from .workers import _InlinePool, _ProcessPool
from .cache import Cache, CacheError, Entry

if TYPE_CHECKING:
    from .cluster import ClusterOptions


def _slot(job: Job) -> tuple[str, str]:
    """Which backend instance renders a job: its backend under its profile entry."""
    return job.backend, job.profile_kind


class BuildError(Exception):
    """A job failed; the message names the shot or line and its source line."""


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
    stale_temporaries: tuple[int, int] = (0, 0)   # (folders, bytes) killed builds left, removed
    executor: str = "local"                       # where the jobs rendered: local or ray
    notices: list = field(default_factory=list)   # what a job's output leaves out (a prompt cut…)

    def to_json(self) -> dict:
        kinds = sorted(set(self.planned))
        return {
            "script": self.script, "output": self.output, "profile": self.profile,
            "executor": self.executor,
            "wall_seconds": round(self.wall_seconds, 3), "film_seconds": round(self.film_seconds, 3),
            "jobs": {"planned": sum(self.planned.values()), "cached": sum(self.cached.values()),
                     "executed": sum(self.executed.values())},
            "by_kind": {kind: {"planned": self.planned[kind], "cached": self.cached[kind],
                               "executed": self.executed[kind],
                               "seconds": round(self.seconds_by_kind[kind], 3)} for kind in kinds},
            "outputs": self.outputs,
            "models": self.models,
            "stale_temporaries": {"removed": self.stale_temporaries[0],
                                  "bytes": self.stale_temporaries[1]},
            "notices": self.notices,
            "job_list": self.jobs,
        }


class FileDigests:
    """sha256 of project files (a folder: its files, sorted), each hashed once. With
    ``reuse_unchanged`` (the language server, which looks at the cache on every edit) a file
    is hashed again only when its size or mtime changed; a build hashes every file it reads."""

    def __init__(self, project: Path, reuse_unchanged: bool = False):
        self.project = Path(project)
        self.reuse_unchanged = reuse_unchanged
        self._known: dict[str, tuple[tuple | None, str]] = {}

    def _stamp(self, path: Path) -> tuple | None:
        if not self.reuse_unchanged:
            return None
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        return tuple((f.as_posix(), f.stat().st_mtime_ns, f.stat().st_size) for f in files)

    def __call__(self, relative: str) -> str:
        path = self.project / relative
        stamp = self._stamp(path)
        known = self._known.get(relative)
        if known is not None and (not self.reuse_unchanged or known[0] == stamp):
            return known[1]
        hasher = hashlib.sha256()
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            hasher.update(file.relative_to(self.project).as_posix().encode())
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    hasher.update(block)
        self._known[relative] = (stamp, hasher.hexdigest())
        return self._known[relative][1]


class Executor:
    def __init__(self, plan: RenderPlan, project: Path, cache: Cache,
                 on_event: OnEvent | None = None, digests: FileDigests | None = None):
        self.plan = plan
        self.project = Path(project)
        self.cache = cache
        self.on_event = on_event or (lambda event: None)
        self.entries: dict[JobRef, Entry] = {}     # finished jobs' entries
        self.keys: dict[JobRef, str] = {}          # resolved keys
        self.digest = digests or FileDigests(self.project)
        self.model_revisions: dict[tuple, str] = {}  # (backend, kind) → the model's revision
        self.made_of: dict[JobRef, dict] = {}        # what each resolved key was made of
        self.timeline: timeline_module.Timeline | None = None
        self.pool = None                             # where the running build's jobs go

    # -- keys -------------------------------------------------------------------------------------

    def resolve_key(self, job: Job, timing: dict) -> str:
        """The key a job's entry is stored under: its static key, its model's revision, the
        bytes of the files it reads, its inputs' resolved keys and its timing. What it was
        made of is kept (``made_of``) and written into the entry, for ``moviola plan --why``."""
        revision = self.model_revisions.get(_slot(job))
        files = {path: self.digest(path) for path in job.files}
        inputs = [self.keys[i] for i in job.inputs]
        self.made_of[job.ref] = why.made_of(job, revision, files, inputs, timing)
        return content_key({
            "job": job.key,
            **({"model_revision": revision} if revision is not None else {}),
            "files": files,
            "inputs": inputs,
            "timing": timing,
        })

    def timing_for(self, job: Job) -> dict:
        """What the resolved timeline fixes for this job (empty before speech is known)."""
        line = self.timeline
        if job.kind == "clip":
            cut = line.cut(job.ref.identity)
            fps = line.fps
            fade = int(round(timeline_module.FADE * fps))
            out = {"frames": cut.frames,
                   "fade_in": min(fade, cut.frames // 2) if cut.transition_in == "fade_in" else 0,
                   "fade_out": min(fade, cut.frames // 2) if cut.transition_out in ("fade_out",) else 0,
                   "dissolve": timeline_module.dissolve_frames(cut, fps)}
            heard = {ref for ref in job.inputs if ref.kind == "speech"}
            if heard:
                # a lip-synced clip: where in the shot each line it hears starts
                start = cut.start_frame / fps
                out["speech"] = {str(line.job): round(line.start - start, 3)
                                 for line in cut.lines if line.job in heard}
            return out
        if job.kind == "music":
            placement = next((m for m in line.music if m.job == job.ref), None)
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
        (its key depends on speech lengths that are not rendered yet). Jobs that need no
        timeline (keyframes, effects) are looked up whatever speech's state."""
        self._model_revisions_for_dry_run()
        states: dict[JobRef, str] = {}

        def look(job: Job, timing: dict) -> None:
            if any(states.get(i) != "cached" for i in job.inputs):
                states[job.ref] = "render"
                return
            key = self.resolve_key(job, timing)
            self.keys[job.ref] = key
            entry = self.cache.get(key)
            states[job.ref] = "cached" if entry else "render"
            if entry:
                self.entries[job.ref] = entry

        for job in self.plan.jobs:
            # a matching cut's keyframe reads the previous clip, which waits for the timeline
            if not KIND_RULES[job.kind].timed and all(i in states for i in job.inputs):
                look(job, {})
        if all(states[j.ref] == "cached" for j in self.plan.jobs if j.kind == "speech"):
            self._resolve_timeline()
            for job in self.plan.jobs:                  # the plan's order: inputs first
                if job.ref not in states:
                    look(job, self.timing_for(job))
        return {job.id: states.get(job.ref, "after speech") for job in self.plan.jobs}

    # -- running ----------------------------------------------------------------------------------

    def run(self, workers: int = 1, cluster: "ClusterOptions | None" = None) -> BuildReport:
        """Render every job the cache lacks. ``workers`` > 1 renders in that many processes
        (the draft profile's CPU work); 1 renders here, in order, with backends and models kept
        loaded for the whole build (what GPU profiles need). With ``cluster``, jobs render on
        a Ray cluster (runtime/cluster.py) as many at a time as it has CPUs."""
        start = time.perf_counter()
        report = BuildReport(self.plan.film.path, None, self.plan.profile)
        for job in self.plan.jobs:
            report.planned[job.kind] += 1
        model_backends = sorted({(j.backend, j.profile_kind) for j in self.plan.jobs
                                 if registry.is_model_backend(j.backend)})
        if cluster is not None:
            from .cluster import RayPool

            # with a shared store, the build's cache is that store (runtime/build.py) and the
            # workers commit into it
            pool = RayPool(self.plan.config, self.project, cluster,
                           self.cache if cluster.store is not None else None, self._entry_header)
            pool.plan_models(self._model_work())
            workers = pool.slots
            report.executor = "ray"
        elif model_backends:
            workers = 1            # models stay resident in one process
        if cluster is None:
            pool = (_ProcessPool(self.plan.config, workers, self.project) if workers > 1
                    else _InlinePool(self.plan.config, self.project))
        self.pool = pool
        try:
            if model_backends:
                self._validate(pool.backends, model_backends)
            self.on_event(BuildStarted(len(self.plan.jobs)))
            self._schedule(pool, report, max(workers, 1))
        except BaseException:
            pool.abort()
            raise
        else:
            report.models = pool.model_stats()
            pool.close()
        report.wall_seconds = time.perf_counter() - start
        report.film_seconds = self.timeline.seconds if self.timeline else 0.0
        self.on_event(BuildFinished(report))
        return report

    def task(self, job: Job, key: str, timing: dict, folder: Path) -> Task:
        """What the backend of ``job`` gets: the job, its resolved key, its declared inputs'
        artifacts and project files, its timing (the edit jobs: the timeline) — nothing else
        of the plan, so it can run anywhere."""
        inputs = [Input.of(self.plan.job(ref), self.entries[ref]) for ref in job.inputs]
        task = Task.of(job, key, folder, self.project, inputs, timing,
                       self.timeline if KIND_RULES[job.kind].edit else None)
        task.on_progress = lambda done, total, detail: self.on_event(
            JobProgress(job, done, total, detail))
        return task

    def _validate(self, backends: registry.Backends, names: list[tuple[str, str]]) -> None:
        """Find every model the plan needs before any GPU work, and let each backend check the
        jobs it will get (a take to convert needs the character's voice); report every problem."""
        problems = []
        for name, kind in names:
            try:
                backend = backends.get(name, kind)
                backend.validate()
                self.model_revisions[(name, kind)] = backend.revision
                jobs = [job for job in self.plan.jobs if _slot(job) == (name, kind)]
                problems += [f"{name}: {problem}" for problem in backend.check_jobs(jobs)]
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
                self.model_revisions[(name, kind)] = backend.revision
            except Exception:  # noqa: BLE001 - reported by `moviola build` and `moviola doctor`
                continue

    def _model_work(self) -> dict[tuple, float]:
        """Estimated seconds of work per model, (backend, profile kind, model) → seconds."""
        from moviola.compiler.estimate import job_seconds

        work: dict[tuple, float] = defaultdict(float)
        for job in self.plan.jobs:
            if registry.is_model_backend(job.backend):
                work[(job.backend, job.profile_kind, job.model)] += job_seconds(job, self.plan)
        return dict(work)

    def _resolve_timeline(self) -> None:
        seconds = {ref: entry.meta["seconds"] for ref, entry in self.entries.items()
                   if ref.kind == "speech"}
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
        pending = sorted(self.plan.jobs, key=lambda j: (KIND_RULES[j.kind].phase, j.backend))
        speech = [j.ref for j in self.plan.jobs if j.kind == "speech"]
        running: dict = {}
        while pending or running:
            if self.timeline is None and all(i in self.entries for i in speech):
                self._resolve_timeline()
            ready: list = []
            progressed = True
            while progressed:
                progressed = False
                for job in list(pending):
                    needs_timeline = KIND_RULES[job.kind].timed
                    if (needs_timeline and self.timeline is None) or any(
                            i not in self.entries for i in job.inputs):
                        continue
                    if ready and _slot(job) != _slot(ready[0][0].job):
                        continue
                    pending.remove(job)
                    timing = self.timing_for(job) if needs_timeline else {}
                    key = self.resolve_key(job, timing)
                    self.keys[job.ref] = key
                    entry = self.cache.get(key)
                    if entry is not None:
                        self._record(job, key, entry, report, None)
                        progressed = True
                        if self.timeline is None and all(i in self.entries for i in speech):
                            self._resolve_timeline()
                        continue
                    writer = pool.writer(self.cache, key)
                    ready.append((self.task(job, key, timing, writer.path), writer))
                    if len(ready) >= self._batch_size(*_slot(job)) or len(running) + 1 < slots:
                        break
                if ready and (len(ready) >= self._batch_size(*_slot(ready[0][0].job))
                              or len(running) < slots):
                    for task, _ in ready:
                        self.on_event(JobStarted(task.job))
                    running[pool.submit([t for t, _ in ready])] = (ready, time.perf_counter())
                    ready = []
                    progressed = len(running) < slots
            if ready:
                for task, _ in ready:
                    self.on_event(JobStarted(task.job))
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
            if isinstance(error, OutOfMemory):     # it names the shots it was rendering
                raise BuildError(f"{error}; finished work is kept") from error
            raise BuildError(_blame(job, error)) from error
        for (task, writer), meta in zip(batch, metas):
            missing = missing_outputs(task.job.kind, writer.path)
            if missing:
                for _, other in batch:
                    other.abort()
                raise BuildError(f"{task.job.label}: backend {task.job.backend} did not write "
                                 f"{', '.join(missing)}")
            try:
                entry = writer.commit({**self._entry_header(task.job), **(meta or {})})
            except CacheError as error:
                raise BuildError(str(error)) from error
            self._record(task.job, task.key, entry, report, elapsed)

    def _entry_header(self, job: Job) -> dict:
        """What a job's entry records besides its backend's meta (``moviola plan --why`` reads it)."""
        return {"job": job.id, "kind": job.kind, "made_of": self.made_of.get(job.ref)}

    def _record(self, job: Job, key: str, entry: Entry, report: BuildReport, elapsed) -> None:
        self.entries[job.ref] = entry
        # kept in the entry: a rebuild from the cache says it again until the script changes
        line = job.span.line if job.span is not None else None
        report.notices += [{"job": job.id, "line": line, "text": text}
                           for text in entry.meta.get("notices", ())]
        if elapsed is None:
            report.cached[job.kind] += 1
            report.jobs.append({"id": job.id, "kind": job.kind, "key": key, "status": "cached"})
            self.on_event(JobFinished(job, cached=True))
            return
        report.executed[job.kind] += 1
        report.seconds_by_kind[job.kind] += elapsed
        report.jobs.append({"id": job.id, "kind": job.kind, "key": key, "status": "executed",
                            "seconds": round(elapsed, 4)})
        self.on_event(JobFinished(job, cached=False, seconds=elapsed))

    # -- outputs ----------------------------------------------------------------------------------

    def install(self, output: Path, report: BuildReport, timelines: tuple[str, ...] = ("otio",)) -> dict:
        """Put the film and its companions at ``output`` (atomically, file by file), with the
        editor's timeline in each of ``timelines`` (runtime/nle.py's formats)."""
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        stem = output.with_suffix("")
        mux = self.entries[film_ref("mux")]
        subtitles = self.entries[film_ref("subtitles")]
        installed = {"film": str(output)}
        _install(mux.file("film.mp4"), output)
        for suffix in ("srt", "vtt"):
            target = stem.with_suffix(f".{suffix}")
            _install(subtitles.file(f"film.{suffix}"), target)
            installed[suffix] = str(target)
        sheet = stem.parent / f"{stem.name}.storyboard.png"
        _install(self.entries[film_ref("contact_sheet")].file("sheet.png"), sheet)
        installed["contact_sheet"] = str(sheet)
        media = stem.parent / f"{stem.name}.media"
        media.mkdir(exist_ok=True)
        labels = {cut.id: cut.label for cut in self.plan.cuts}
        for job in self.plan.jobs:
            if job.kind == "clip":
                _install(self.entries[job.ref].file("clip.mp4"),
                         media / nle.shot_media(labels[job.ref.identity]))
        mix = self.entries[film_ref("mix")]
        for artifact in ARTIFACTS["mix"].values():      # the mix and its stems, for an editor
            if artifact.file.endswith(".wav"):
                _install(mix.file(artifact.file), media / artifact.file)
        installed.update(nle.install(self.entries[film_ref("otio")].file("film.otio"), stem,
                                     media.name, timelines))
        installed["media"] = str(media)
        report.outputs = installed
        report.output = str(output)
        self._record_refs(output)
        return installed

    def _record_refs(self, output: Path) -> None:
        """Remember which cache entries the last build of this script used (for pruning)."""
        target = why.refs_file(self.cache.root, self.plan.film.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = {"script": self.plan.film.path, "output": str(output),
                   "keys": sorted(set(self.keys.values())),
                   "jobs": {str(ref): key for ref, key in self.keys.items()}}
        temporary = target.with_name(f".{target.stem}.tmp")
        temporary.write_text(json.dumps(payload), "utf-8")
        os.replace(temporary, target)


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
        "lines": [[str(l.job), round(l.start, 4), round(l.seconds, 4), l.voice_over, l.off_screen]
                  for l in line.lines],
        "music": [[str(m.job), round(m.start, 4), m.seconds and round(m.seconds, 4), m.fade_in,
                   m.fade_out, m.volume] for m in line.music],
        "sfx": [[str(s.job), round(s.start, 4), s.volume] for s in line.sfx],
    }
