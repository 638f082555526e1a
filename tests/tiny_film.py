"""A script planned for the tiny models, and its jobs as the tasks the executor hands a backend:
what the audio backends' tests (speech, performances, music, effects) and the clip backends'
tests run the backends on."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

from moviola.compiler.api import compile_text
from moviola.compiler.plan import plan
from moviola.compiler.profiles import ModelConfig, Profile, builtin_profiles
from moviola.runtime import timeline
from moviola.runtime.backends.protocol import Task
from moviola.runtime.cache import Cache
from moviola.runtime.executor import Executor

_COUNTER = itertools.count(1)


def wash_house(title: str, dialogue: str) -> str:
    """A script of one scene with the speech tests' cast: ODETTE and LUCIEN, whose voices are
    the project's voices/odette.wav and voices/lucien.wav, and MARCEL, who has none."""
    return (f"Title: {title}\nSeed: 7\nLanguage: en\n\n"
            "[[character ODETTE: a washerwoman of sixty; voice: voices/odette.wav]]\n"
            "[[character LUCIEN: the miller's son; voice: voices/lucien.wav]]\n"
            "[[character MARCEL: her brother, a ferryman]]\n\n"
            f"INT. WASH-HOUSE - DAY\n\n{dialogue}")


class TinyFilm:
    """``script``, saved as the project's film.fountain, planned under the draft profile with
    ``configs`` (by kind: speech=…, music=…) in place of its models, on the CPU."""

    def __init__(self, project: Path, script: str, **configs: ModelConfig):
        compilation = compile_text(script, str(project / "film.fountain"), project)
        assert compilation.ok, compilation.errors
        draft = builtin_profiles()["draft"]
        profile = Profile("tiny", device="cpu", models={**draft.models, **configs})
        self.project = project
        self.plan = plan(compilation.film, profile)

    def speech_job(self, text: str, character: str | None = None):
        """The speech job of the line starting with ``text`` (said by ``character``)."""
        return next(job for job in self.plan.jobs if job.kind == "speech"
                    and (character is None or job.params.character == character)
                    and job.params.text.startswith(text))

    def task_of(self, job, *, seed: int | None = None, timing: dict | None = None,
                **params) -> Task:
        """``job`` (with another seed, other params) as a task of its own: a fresh numbered
        folder under the project's out/ and key. A path given in ``params`` (a string with a
        "/") is one more file the job reads."""
        if seed is not None:
            job = dataclasses.replace(job, seed=seed)
        if params:
            files = job.files + tuple(v for v in params.values() if isinstance(v, str) and "/" in v)
            job = dataclasses.replace(job, params=dataclasses.replace(job.params, **params),
                                      files=files)
        number = next(_COUNTER)
        folder = self.project / "out" / f"{number:03d}-{job.kind}"
        folder.mkdir(parents=True)
        return Task.of(job, f"key{number}", folder, self.project, (), timing or {})


class ClipFilm(TinyFilm):
    """A :class:`TinyFilm` with ``clip`` as its clip model and an executor that times its
    clips, every line lasting ``line_seconds`` (None: the lines are not timed). The video tests
    make their tasks in :meth:`folder`, one numbered folder each under the project's out/."""

    def __init__(self, project: Path, script: str, clip: ModelConfig,
                 line_seconds: float | None = None):
        super().__init__(project, script, clip=clip)
        self.executor = Executor(self.plan, project, Cache(project / ".moviola"))
        lines = {} if line_seconds is None else {
            job.ref: line_seconds for job in self.plan.jobs if job.kind == "speech"}
        self.executor.timeline = timeline.resolve(self.plan, lines)
        self.count = 0

    def folder(self, kind: str) -> Path:
        """A fresh folder: the next number not yet taken (several films may share a project)."""
        while True:
            self.count += 1
            folder = self.project / "out" / f"{self.count:03d}-{kind}"
            if not folder.exists():
                folder.mkdir(parents=True)
                return folder
