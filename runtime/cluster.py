"""Where jobs run on a Ray cluster: the same scheduler (runtime/executor.py) over another pool.

The driver keeps what it owns locally: the plan, the keys, the cache (cached jobs never reach
the cluster) and the commits. A task leaves as a :class:`Parcel`: the task with the bytes of
its inputs' artifacts and of the project files it declared, so a machine that shares no disk
with the driver renders it. The remote side unpacks it into a temporary folder, renders, and
sends back the bytes of the files it wrote; the driver writes them into the entry's temporary
folder and commits the entry as a local build does.

CPU jobs (draft, edit) fan out as Ray tasks. Model jobs go to long-lived actors, routed by
(backend, profile kind, model), so each actor loads its model's weights once: one actor per model
with an equal share of the cluster's GPUs when it has fewer GPUs than the plan has models, else
one GPU per actor and the spare GPUs given as replicas to the models with the most estimated
work (:func:`model_replicas`). Ray retries a task whose worker died, and restarts a
dead actor and retries its calls; the jobs are deterministic, so the film is the same. Ctrl-C
cancels what is outstanding and kills the actors; what finished is already committed.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .backends import registry
from .backends.protocol import Input, Inputs, Task
from .executor import BuildError
from .workers import run_batch

RETRIES = 3          # a job whose worker or actor died is run again this many times


class ClusterError(BuildError):
    """Ray is missing, or the cluster cannot be reached."""


@dataclass(frozen=True)
class ClusterOptions:
    """How to reach the cluster: ``address`` None or "" starts a local Ray in this process;
    "auto", "HOST:PORT" or "ray://HOST:PORT" joins a running cluster."""
    address: str | None = None


def import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterError("the Ray executor needs Ray: install the extra, "
                           "`pip install 'moviola[ray]'` (or build without --ray)") from None
    return ray


# -- parcels: a task and the bytes it reads --------------------------------------------------------

def _read_folder(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _write_folder(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@dataclass(frozen=True)
class Parcel:
    """A task as it travels: the task, its inputs' files and its declared project files."""
    task: Task
    inputs: dict                 # JobRef → {file: bytes} (the input's cache entry)
    sources: dict                # relative path → {file: bytes} ("" for a plain file)

    @classmethod
    def of(cls, task: Task) -> "Parcel":
        inputs = {ref: {name: data for name, data in _read_folder(item.folder).items()
                        if name != "meta.json"} for ref, item in task.inputs.items()}
        sources = {}
        for relative, path in task.sources.items():
            sources[relative] = _read_folder(path) if path.is_dir() else {"": path.read_bytes()}
        return cls(task, inputs, sources)

    def unpack(self, root: Path) -> Task:
        """The task, its files written under ``root``; it writes its outputs in root/out."""
        inputs = []
        for index, (ref, item) in enumerate(self.task.inputs.items()):
            folder = root / "inputs" / str(index)
            folder.mkdir(parents=True)
            _write_folder(folder, self.inputs[ref])
            inputs.append(Input(item.ref, item.params, item.meta, folder))
        sources = {}
        for relative, files in self.sources.items():
            path = root / "project" / relative
            if "" in files:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(files[""])
            else:
                path.mkdir(parents=True, exist_ok=True)
                _write_folder(path, files)
            sources[relative] = path
        out = root / "out"
        out.mkdir(parents=True)
        return dataclasses.replace(self.task, inputs=Inputs(inputs), folder=out, sources=sources)


def render_parcels(backends: registry.Backends, parcels: list[Parcel]) -> list[tuple[dict, dict]]:
    """Render one backend's parcels in a scratch folder: (meta, {file: bytes}) for each."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with tempfile.TemporaryDirectory(prefix="moviola-job-") as scratch:
        tasks = [parcel.unpack(Path(scratch) / str(i)) for i, parcel in enumerate(parcels)]
        metas = run_batch(backends, tasks)
        return [(meta, _read_folder(task.folder)) for task, meta in zip(tasks, metas)]


# -- the remote side ---------------------------------------------------------------------------------

def _render_task(profile, project, parcels):
    """A Ray task: build the backend, render, free it (CPU jobs hold nothing worth keeping)."""
    backends = registry.Backends(profile, project)
    try:
        return render_parcels(backends, parcels)
    finally:
        backends.close()


class _Renderer:
    """A Ray actor that keeps one model's backend loaded for every batch sent to it."""

    def __init__(self, profile, project):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self.backends = registry.Backends(profile, project)

    def render(self, parcels):
        return render_parcels(self.backends, parcels)

    def stats(self) -> dict:
        return self.backends.models.stats() if self.backends.models is not None else {}


# -- the driver's side ------------------------------------------------------------------------------

class _Submitted:
    """A batch on the cluster, as the scheduler sees a future: ``result()`` writes the returned
    files into each task's entry folder and gives the metas."""

    def __init__(self, ref, tasks: list[Task], actor: tuple | None = None):
        self.ref = ref
        self.tasks = tasks
        self.actor = actor          # (model, replica) for a model's batch, None for a CPU task

    def result(self) -> list[dict]:
        ray = import_ray()
        try:
            rendered = ray.get(self.ref)
        except ray.exceptions.RayTaskError as error:
            raise error.cause if isinstance(error.cause, Exception) else error
        metas = []
        for task, (meta, files) in zip(self.tasks, rendered):
            _write_folder(task.folder, files)
            metas.append(meta)
        return metas


class RayPool:
    """The executor's pool on a Ray cluster (the interface of runtime/workers.py's pools)."""

    def __init__(self, profile, project, options: ClusterOptions):
        ray = self.ray = import_ray()
        self.profile = profile
        self.project = str(project) if project is not None else None
        self.started_here = not ray.is_initialized()
        if self.started_here:
            try:
                ray.init(address=options.address or None, include_dashboard=False,
                         log_to_driver=False, logging_level="warning")
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise ClusterError(f"cannot reach the Ray cluster at {options.address}: {error}") from None
        resources = ray.cluster_resources()
        self.slots = max(int(resources.get("CPU", 1)), 1)
        self.gpus = float(resources.get("GPU", 0))
        self.backends = registry.Backends(profile, project)     # validation only, in the driver
        self.submissions = 0
        self.model_slots = 1
        self.replicas: dict[tuple, int] = {}
        self._actors: dict[tuple, object] = {}
        self._outstanding: dict = {}
        self._remote_task = ray.remote(max_retries=RETRIES, retry_exceptions=False)(_render_task)
        self._actor_class = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES)(_Renderer)

    def plan_models(self, work: dict[tuple, float]) -> None:
        """The plan's models, (backend, profile kind, model) → estimated seconds of work: they
        share out the cluster's GPUs."""
        self.model_slots = max(len(work), 1)
        self.replicas = model_replicas(work, self.gpus)

    def _actor(self, job):
        """The replica of the job's model with the fewest batches outstanding."""
        model = (job.backend, job.profile_kind, job.model)
        replicas = self.replicas.get(model, 1)
        for index in range(replicas):
            if (model, index) not in self._actors:
                gpus = min(1.0, self.gpus / self.model_slots) if self.gpus else 0
                # no CPU reserved: a plan's actors live the whole build, and holding a CPU each
                # they would starve the CPU tasks (or each other) on a small cluster
                self._actors[(model, index)] = self._actor_class.options(
                    num_cpus=0, num_gpus=gpus).remote(self.profile, self.project)
        busy = defaultdict(int)
        for submitted in self._outstanding.values():
            if submitted.actor is not None:
                busy[submitted.actor] += 1
        return min(range(replicas), key=lambda i: busy[(model, i)]), model

    @property
    def actors(self) -> dict:
        """The model actors this build started, by ((backend, profile kind, model), replica)."""
        return dict(self._actors)

    def submit(self, tasks: list[Task]) -> _Submitted:
        parcels = [Parcel.of(task) for task in tasks]
        job = tasks[0].job
        actor = None
        if registry.is_model_backend(job.backend):
            index, model = self._actor(job)
            actor = (model, index)
            ref = self._actors[actor].render.remote(parcels)
        else:
            ref = self._remote_task.remote(self.profile, self.project, parcels)
        self.submissions += 1
        submitted = _Submitted(ref, tasks, actor)
        self._outstanding[ref] = submitted
        return submitted

    def wait_one(self, running: dict) -> _Submitted:
        by_ref = {item.ref: item for item in running}
        done, _ = self.ray.wait(list(by_ref), num_returns=1)
        self._outstanding.pop(done[0], None)
        return by_ref[done[0]]

    def model_stats(self) -> dict:
        stats: dict = {}
        for actor in self._actors.values():
            stats.update(self.ray.get(actor.stats.remote()))
        return stats

    def close(self) -> None:
        for actor in self._actors.values():        # kept in the dict: what the build used
            self.ray.kill(actor)
        self.backends.close()
        if self.started_here:
            self.ray.shutdown()

    def abort(self) -> None:
        """Stop now: outstanding jobs are cancelled and the actors killed (nothing they were
        rendering was committed)."""
        for ref in list(self._outstanding):
            try:
                self.ray.cancel(ref, force=not self._is_actor_call(ref))
            except Exception:  # noqa: BLE001 - already finished or gone
                continue
        self._outstanding.clear()
        self.close()

    def _is_actor_call(self, ref) -> bool:
        return self._outstanding[ref].actor is not None


def model_replicas(work: dict[tuple, float], gpus: float) -> dict[tuple, int]:
    """How many actors each model gets: one each, then each spare whole GPU to the model whose
    work per actor is the largest (a film's clips outweigh its music many times)."""
    replicas = {model: 1 for model in work}
    for _ in range(int(gpus) - len(work) if work else 0):
        busiest = max(replicas, key=lambda m: (work[m] / replicas[m], m))
        replicas[busiest] += 1
    return replicas

