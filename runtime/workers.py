"""Where jobs run: in this process (backends stay loaded for the whole build: what GPU profiles
need), or in a pool of worker processes (the draft profile's CPU work on every core). Workers
write into the entry's temporary folder; only the main process commits entries to the cache."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from .backends import registry

_worker_plan = None
_worker_backends: registry.Backends | None = None


def _start_worker(plan, project) -> None:
    global _worker_plan, _worker_backends
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _worker_plan = plan
    _worker_backends = registry.Backends(plan.config, project)


def _run_in_worker(tasks):
    for task in tasks:
        task.plan = _worker_plan
    return run_batch(_worker_backends.get(tasks[0].job.backend, tasks[0].job.profile_kind), tasks)


def run_batch(backend, tasks: list) -> list:
    """A backend's outputs for ``tasks``: one call when it batches, else one by one."""
    if hasattr(backend, "run_batch"):
        return list(backend.run_batch(tasks))
    return [backend.run(task) for task in tasks]


class _ProcessPool:
    def __init__(self, plan, workers: int, project=None):
        # fork: workers start in milliseconds and share the loaded modules
        context = multiprocessing.get_context("fork")
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                            initargs=(plan, project))
        self.backends = None                         # draft only: nothing to validate here

    def submit(self, tasks: list) -> Future:
        plans = [task.plan for task in tasks]
        for task in tasks:
            task.plan = None                         # the workers hold the plan already
        try:
            return self.executor.submit(_run_in_worker, tasks)
        finally:
            for task, plan in zip(tasks, plans):
                task.plan = plan

    @staticmethod
    def wait_one(running: dict) -> Future:
        done, _ = wait(list(running), return_when=FIRST_COMPLETED)
        return next(iter(done))

    def close(self) -> None:
        self.executor.shutdown(wait=True)

    def abort(self) -> None:
        if self.backends is not None:
            self.backends.close()
        for process in list(getattr(self.executor, "_processes", {}).values()):
            process.terminate()
        self.executor.shutdown(wait=False, cancel_futures=True)


class _InlinePool:
    def __init__(self, plan, project=None):
        self.backends = registry.Backends(plan.config, project)

    def submit(self, tasks: list) -> Future:
        future: Future = Future()
        try:
            job = tasks[0].job
            future.set_result(run_batch(self.backends.get(job.backend, job.profile_kind), tasks))
        except BaseException as error:  # noqa: BLE001 - delivered through the future
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
            future.set_exception(error)
        return future

    @staticmethod
    def wait_one(running: dict) -> Future:
        return next(iter(running))

    def close(self) -> None:
        self.backends.close()

    def abort(self) -> None:
        self.backends.close()
