"""Where jobs run on a Ray cluster: the same scheduler (runtime/executor.py) over another pool.

The driver keeps what it owns locally: the plan, the keys and the cache (cached jobs never reach
the cluster). A task leaves as a :class:`Parcel`. By default it carries the bytes of its inputs'
artifacts and of the project files it declared, so a machine that shares no disk with the driver
renders it; the remote side unpacks it into a temporary folder, renders, and sends back the
bytes of the files it wrote; the driver writes them into the entry's temporary folder and
commits the entry as a local build does.

With a shared store (``ClusterOptions.store``: a folder every machine mounts at the same path)
the build's cache *is* that folder, a :class:`~.cache.Cache` like the local one. A parcel then
carries no artifact: the worker reads its inputs' entries from the store by key, renders into
a temporary folder of the store and commits the entry there itself (the same atomic commit:
two workers finishing one key, or a worker killed mid-write, never leave a broken entry), and
sends back only the backend's metadata. The driver checks that the entry is there and complete
before any job that reads it is scheduled.

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
import json
import os
import socket
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .backends import registry
from .backends.protocol import Input, Inputs, Task, missing_outputs
from .cache import CACHE_FORMAT, Cache, CacheError, Entry, EntryWriter
from .executor import BuildError
from .workers import run_batch

RETRIES = 3          # a job whose worker or actor died is run again this many times
# A network file system may show another machine's new entry a little late (NFS caches
# directory lookups for seconds): an entry that should be in the store is waited for this long.
STORE_VISIBLE_SECONDS = 30.0
STORE_MARK = "moviola-store.json"     # written by the driver; a worker without it has no store


class ClusterError(BuildError):
    """Ray is missing, or the cluster cannot be reached."""


@dataclass(frozen=True)
class ClusterOptions:
    """How to reach the cluster: ``address`` None or "" starts a local Ray in this process;
    "auto", "HOST:PORT" or "ray://HOST:PORT" joins a running cluster. ``store``: an absolute
    path every machine mounts (docs/cluster.md), the build's cache; None ships the bytes."""
    address: str | None = None
    store: str | None = None


# -- the shared store --------------------------------------------------------------------------------

def open_store(path: str | Path) -> Cache:
    """The driver's side of a shared store: the folder must exist and be writable here. It is
    marked, so that a worker on which it is not mounted (an empty mount point) says so instead
    of committing into a local folder no other machine sees."""
    root = Path(path)
    where = f"the Ray store {path}"
    if not root.is_absolute():
        raise ClusterError(f"{where}: use an absolute path, the same on every machine")
    if not root.is_dir():
        raise ClusterError(f"{where} does not exist: mount the shared folder on this machine "
                           f"and on every machine of the cluster (docs/cluster.md)")
    try:
        handle, probe = tempfile.mkstemp(prefix=".probe-", dir=root)
        os.close(handle)
        os.unlink(probe)
        mark = root / STORE_MARK
        if not mark.is_file():
            temporary = root / f".{STORE_MARK}.{os.getpid()}.tmp"
            temporary.write_text(json.dumps({"format": CACHE_FORMAT}), "utf-8")
            os.replace(temporary, mark)
    except OSError as error:
        raise ClusterError(f"{where} is not writable here: {error.strerror or error}") from None
    return Cache(root)


def attach_store(path: str) -> Cache:
    """A worker's side of the shared store the driver opened."""
    if not (Path(path) / STORE_MARK).is_file():
        raise CacheError(f"the Ray store {path} is not mounted on {socket.gethostname()}: every "
                         f"machine of the cluster must mount it at that path (docs/cluster.md)")
    return Cache(Path(path))


def await_entry(store: Cache, key: str) -> Entry | None:
    """The committed entry of ``key``, waiting a little for a network file system to show it."""
    deadline = time.monotonic() + STORE_VISIBLE_SECONDS
    pause = 0.05
    while (entry := store.get(key)) is None and time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
    return entry


class StoredEntry:
    """A job's entry in the shared store as the driver sees it, in place of an
    :class:`~.cache.EntryWriter`: the worker writes and commits it; :meth:`commit` hands over
    what the worker committed (``_Submitted.result`` has checked that it is there)."""

    def __init__(self, store: Cache, key: str):
        self.store = store
        self.key = key
        self.path = store.folder(key)          # the committed entry: the executor checks its files

    def commit(self, meta: dict) -> Entry:
        entry = self.store.get(self.key)
        if entry is None:
            raise CacheError(f"{self.store.root}: the entry {self.key[:12]} a worker committed "
                             f"is gone (pruned while building?)")
        return entry

    def abort(self) -> None:
        """Nothing here: a worker removes its temporary folder when it fails, and a killed
        worker's is stale, removed by the next build (``Cache.remove_stale_temporaries``)."""


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
    """A task as it travels: the task, its inputs' files and its declared project files; with a
    store, no input files, but the store and the header its entry is committed with."""
    task: Task
    inputs: dict                 # JobRef → {file: bytes} (the input's cache entry); {} with a store
    sources: dict                # relative path → {file: bytes} ("" for a plain file)
    store: str | None = None     # the shared store's path: inputs are read and outputs committed there
    header: dict | None = None   # with a store: the entry's meta besides the backend's (executor)

    @classmethod
    def of(cls, task: Task, store: Cache | None = None, header: dict | None = None) -> "Parcel":
        inputs = {} if store is not None else {
            ref: {name: data for name, data in _read_folder(item.folder).items()
                  if name != "meta.json"} for ref, item in task.inputs.items()}
        sources = {}
        for relative, path in task.sources.items():
            sources[relative] = _read_folder(path) if path.is_dir() else {"": path.read_bytes()}
        return cls(task, inputs, sources, str(store.root) if store is not None else None, header)

    @property
    def artifact_bytes(self) -> int:
        """How many bytes of cache entries travel in this parcel."""
        return sum(len(data) for files in self.inputs.values() for data in files.values())

    def unpack(self, root: Path, store: Cache | None = None) -> tuple[Task, EntryWriter | None]:
        """The task, its files written under ``root``; it writes its outputs in root/out, or,
        with the ``store``, in a temporary folder of the store (the writer returned)."""
        inputs = []
        for index, (ref, item) in enumerate(self.task.inputs.items()):
            if store is not None:
                entry = store.entry_at(item.folder) or await_entry(store, item.folder.name)
                if entry is None:
                    raise CacheError(f"{self.task.job.label}: its input {ref} is not in the Ray "
                                     f"store {store.root} on {socket.gethostname()}: is the same "
                                     f"folder mounted at that path on every machine?")
                inputs.append(Input(item.ref, item.params, item.meta, entry.path))
                continue
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
        if store is not None:
            writer = store.writer(self.task.key)
            out = writer.path
        else:
            writer, out = None, root / "out"
            out.mkdir(parents=True)
        task = dataclasses.replace(self.task, inputs=Inputs(inputs), folder=out, sources=sources)
        return task, writer


def render_parcels(backends: registry.Backends, parcels: list[Parcel]) -> list[tuple[dict, dict]]:
    """Render one backend's parcels in a scratch folder: (meta, {file: bytes}) for each; with
    a store, each entry is committed there and (meta, {}) comes back."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    store = attach_store(parcels[0].store) if parcels[0].store is not None else None
    if store is not None:
        store.remove_stale_temporaries()      # what workers killed on this machine left
    writers: list[EntryWriter] = []
    try:
        with tempfile.TemporaryDirectory(prefix="moviola-job-") as scratch:
            tasks = []
            for index, parcel in enumerate(parcels):
                task, writer = parcel.unpack(Path(scratch) / str(index), store)
                tasks.append(task)
                writers += [writer] if writer is not None else []
            metas = run_batch(backends, tasks)
            if store is None:
                return [(meta, _read_folder(task.folder)) for task, meta in zip(tasks, metas)]
            for task, writer, meta, parcel in zip(tasks, writers, metas, parcels):
                missing = missing_outputs(task.job.kind, writer.path)
                if missing:         # never committed: the store holds only complete entries
                    raise BuildError(f"{task.job.label}: backend {task.job.backend} did not "
                                     f"write {', '.join(missing)}")
                writer.commit({**parcel.header, **(meta or {})})
            return [(meta, {}) for meta in metas]
    finally:
        for writer in writers:     # committed ones are gone from the store's tmp already
            writer.abort()


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
    files into each task's entry folder (with a store: checks each entry is committed there)
    and gives the metas."""

    def __init__(self, ref, tasks: list[Task], pool: "RayPool", actor: tuple | None = None):
        self.ref = ref
        self.tasks = tasks
        self.pool = pool
        self.actor = actor          # (model, replica) for a model's batch, None for a CPU task

    def result(self) -> list[dict]:
        ray = import_ray()
        try:
            rendered = ray.get(self.ref)
        except ray.exceptions.RayTaskError as error:
            raise error.cause if isinstance(error.cause, Exception) else error
        metas = []
        for task, (meta, files) in zip(self.tasks, rendered):
            self.pool.artifact_bytes += sum(len(data) for data in files.values())
            if self.pool.store is not None and await_entry(self.pool.store, task.key) is None:
                raise ClusterError(f"a worker rendered {task.job.label}, but its entry is not in "
                                   f"the Ray store {self.pool.store.root} here: is the same "
                                   f"folder mounted at that path on every machine?")
            _write_folder(task.folder, files)
            metas.append(meta)
        return metas


class RayPool:
    """The executor's pool on a Ray cluster (the interface of runtime/workers.py's pools).
    With a ``store`` (the shared store the build's cache is), workers commit the entries;
    ``header(job)`` gives what an entry's meta holds besides its backend's."""

    def __init__(self, profile, project, options: ClusterOptions, store: Cache | None = None,
                 header=None):
        ray = self.ray = import_ray()
        self.profile = profile
        self.project = str(project) if project is not None else None
        self.store = store
        self.header = header
        self.artifact_bytes = 0        # bytes of cache entries sent through Ray, both ways
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

    def writer(self, cache: Cache, key: str):
        """Where a job's entry is written: with a store, by the worker (the driver only checks)."""
        return StoredEntry(cache, key) if self.store is not None else cache.writer(key)

    @property
    def actors(self) -> dict:
        """The model actors this build started, by ((backend, profile kind, model), replica)."""
        return dict(self._actors)

    def submit(self, tasks: list[Task]) -> _Submitted:
        parcels = [Parcel.of(task, self.store, self.header(task.job) if self.store else None)
                   for task in tasks]
        self.artifact_bytes += sum(parcel.artifact_bytes for parcel in parcels)
        job = tasks[0].job
        actor = None
        if registry.is_model_backend(job.backend):
            index, model = self._actor(job)
            actor = (model, index)
            ref = self._actors[actor].render.remote(parcels)
        else:
            ref = self._remote_task.remote(self.profile, self.project, parcels)
        self.submissions += 1
        submitted = _Submitted(ref, tasks, self, actor)
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

