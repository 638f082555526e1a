"""Where jobs run: in this process (backends stay loaded for the whole build: what GPU profiles
need), or in a pool of worker processes (the draft profile's CPU work on every core). A task
is self-contained (its job, key, inputs' artifacts, timing), so a worker needs only the
profile to build backends. Workers write into the entry's temporary folder; only the main
process commits entries to the cache."""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from .backends import registry

_worker_backends: registry.Backends | None = None


def _start_worker(profile, project, started) -> None:
    global _worker_backends
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    started.put(os.getpid())              # so that an aborted build can stop its workers
    _worker_backends = registry.Backends(profile, project)


def _run_in_worker(tasks):
    return run_batch(_worker_backends, tasks)


def run_batch(backends: registry.Backends, tasks: list) -> list:
    """The outputs of ``tasks`` (one backend's), one meta dict each."""
    job = tasks[0].job
    return list(backends.get(job.backend, job.profile_kind).run_batch(tasks))


def commit_here(cache, key: str):
    """A pool's ``writer``: where a job's entry is written, a temporary folder of ``cache`` that
    this process commits (runtime/cluster.py's store is the exception: its workers commit)."""
    return cache.writer(key)


class _ProcessPool:
    def __init__(self, profile, workers: int, project=None):
        # fork: workers start in milliseconds and share the loaded modules
        context = multiprocessing.get_context("fork")
        self.started = context.SimpleQueue()
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                            initargs=(profile, project, self.started))
        self.backends = registry.Backends(profile, project)     # validation only, in this process

    def submit(self, tasks: list) -> Future:
        return self.executor.submit(_run_in_worker, tasks)

    writer = staticmethod(commit_here)

    @staticmethod
    def wait_one(running: dict) -> Future:
        done, _ = wait(list(running), return_when=FIRST_COMPLETED)
        return next(iter(done))

    def model_stats(self) -> dict:
        return {}                                    # draft only: no models

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.backends.close()

    def abort(self) -> None:
        """Stop now: queued jobs are cancelled, running ones killed (their entries were never
        committed, so nothing half-written is published)."""
        self.backends.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        while not self.started.empty():
            try:
                os.kill(self.started.get(), signal.SIGTERM)
            except ProcessLookupError:
                continue


class _InlinePool:
    writer = staticmethod(commit_here)

    def __init__(self, profile, project=None):
        self.backends = registry.Backends(profile, project)

    def submit(self, tasks: list) -> Future:
        future: Future = Future()
        try:
            future.set_result(run_batch(self.backends, tasks))
        except BaseException as error:  # noqa: BLE001 - delivered through the future
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
            future.set_exception(error)
        return future

    @staticmethod
    def wait_one(running: dict) -> Future:
        return next(iter(running))

    def model_stats(self) -> dict:
        return self.backends.models.stats() if self.backends.models is not None else {}

    def close(self) -> None:
        self.backends.close()

    def abort(self) -> None:
        self.backends.close()
