"""What a build reports while it runs: one small frozen type per event, in the order they come.

The executor emits them to one callback; the CLI's progress display and the language server's
work-done progress both read them (``moviola/cli.py``, ``moviola/lsp/builds.py``). A callback
may raise to stop the build (the editor's cancel): the executor stops after the running job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Union

if TYPE_CHECKING:
    from moviola.compiler.plan import Job

    from .executor import BuildReport


@dataclass(frozen=True, slots=True)
class BuildStarted:
    total: int                   # jobs in the plan, cached ones included


@dataclass(frozen=True, slots=True)
class JobStarted:
    job: "Job"


@dataclass(frozen=True, slots=True)
class JobProgress:
    """A long job's own steps (a training's), when it runs in the build's process."""

    job: "Job"
    done: int
    total: int
    detail: str = ""             # e.g. "loss 0.1234"


@dataclass(frozen=True, slots=True)
class JobFinished:
    job: "Job"
    cached: bool                 # found in the cache: nothing rendered
    seconds: float = 0.0         # render time (a batch's time shared by its jobs)


@dataclass(frozen=True, slots=True)
class BuildFinished:
    report: "BuildReport"


Event = Union[BuildStarted, JobStarted, JobProgress, JobFinished, BuildFinished]
OnEvent = Callable[[Event], None]
