"""The contract every backend keeps (runtime/backends/protocol.py), checked over every name
in the registry; and the soundness of keys: a task exposes only what its resolved key covers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from projects import annotated_project

from moviola.compiler.api import compile_file
from moviola.compiler.plan import CONTINUATION, JobRef, content_key, plan_in_project, PLAN_FORMAT
from moviola.compiler.profiles import BACKENDS as PROFILE_BACKENDS, ModelConfig
from moviola.runtime.backends import registry
from moviola.runtime.backends.protocol import ARTIFACTS, Backend, Task, UndeclaredAccess
from moviola.runtime.build import Build
from moviola.runtime.models import ModelManager

ALL = sorted(registry.BACKENDS)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The annotated script built under draft: (build, its project)."""
    project = annotated_project(tmp_path_factory.mktemp("contract") / "film")
    film = compile_file(project / "film.fountain").film
    build = Build(plan_in_project(film, project), project)
    build.run(workers=1)
    return build, project


def construct(name: str, tmp_path: Path):
    """A backend built as the registry builds it: (config, models, project)."""
    if not registry.is_model_backend(name):
        return registry.backend_class(name)(None, None, tmp_path)
    kind, cls = None, registry.backend_class(name)
    if name in registry.MODEL_OF:         # works on another kind's model (training: keyframe)
        kind = registry.MODEL_OF[name]
        name = next(backend for backend, kinds in PROFILE_BACKENDS.items() if kind in kinds)
    kind = PROFILE_BACKENDS[name][0] if kind is None else kind
    config = ModelConfig(kind, name, "models/not-there")
    return cls(config, ModelManager("cpu"), tmp_path)


def test_the_registry_and_the_profiles_know_the_same_renderers():
    # edit backends, those working on another kind's model and a matching cut's keyframe
    # (the previous clip's last frame, under every profile) are picked by the plan
    drawn = ({name for name in registry.BACKENDS if name.startswith("edit.")} | set(registry.MODEL_OF)
             | {CONTINUATION.name})
    assert set(registry.BACKENDS) - drawn == set(PROFILE_BACKENDS)


@pytest.mark.parametrize("name", ALL)
def test_every_backend_implements_the_protocol(name, tmp_path):
    backend = construct(name, tmp_path)
    assert isinstance(backend, Backend)
    assert isinstance(backend.revision, str)
    assert backend.check_jobs([]) == []
    backend.close()
    backend.close()                       # closing twice is harmless


@pytest.mark.parametrize("name", [n for n in ALL if registry.is_model_backend(n)])
def test_a_model_backend_without_its_model_fails_validation_clearly(name, tmp_path):
    backend = construct(name, tmp_path)
    with pytest.raises(Exception) as caught:
        backend.validate()
    # a missing model or a missing optional library, named, never a programming error
    assert not isinstance(caught.value, (AttributeError, TypeError, KeyError, NameError))
    message = str(caught.value)
    assert "not-there" in message or "coqui" in message.lower(), message
    assert backend.revision == ""


@pytest.mark.parametrize("name", [n for n in ALL if not registry.is_model_backend(n)])
def test_a_draft_or_edit_backend_writes_exactly_its_kinds_artifacts(name, built):
    build, _ = built
    jobs = [job for job in build.plan.jobs if job.backend == name]
    if not jobs:
        pytest.skip(f"the annotated script has no job for {name}")
    for job in jobs:
        entry = build.entry(job.ref)
        written = {p.name for p in entry.path.iterdir()} - {"meta.json"}
        declared = {a.file: a for a in ARTIFACTS[job.kind].values()}
        assert written <= set(declared), f"{job.id} wrote undeclared {written - set(declared)}"
        assert {f for f, a in declared.items() if a.required} <= written


def test_a_task_exposes_only_what_its_job_declared(built):
    build, project = built
    executor = build.executor
    for job in build.plan.jobs:
        timing = executor.timing_for(job) if job.kind not in ("speech", "keyframe", "sfx") else {}
        task = executor.task(job, executor.keys[job.ref], timing, project / "unused")
        assert not hasattr(task, "plan") and not hasattr(task, "project")
        assert list(task.inputs) == list(job.inputs)
        assert set(task.sources) == set(job.files)
        with pytest.raises(UndeclaredAccess):
            task.source("film.fountain")              # the script itself is nobody's input
        with pytest.raises(UndeclaredAccess):
            task.inputs[JobRef("mux", "film")]
        with pytest.raises(UndeclaredAccess):
            task.output("anything-else")
        for item in task.inputs.values():
            # an input's parameters are covered by its key, which is part of this job's
            assert item.params is build.plan.job(item.ref).params
        assert (task.timeline is not None) == (job.kind in ("mix", "subtitles", "mux", "otio",
                                                            "contact_sheet"))
    # on_progress leads out (to the build's display), never in: it carries nothing to render from
    assert dataclasses.fields(Task) and {f.name for f in dataclasses.fields(Task)} == {
        "job", "key", "inputs", "timing", "folder", "sources", "timeline", "on_progress"}


def test_a_jobs_key_is_made_of_exactly_what_it_exposes(built):
    """Recomputing each static key from the job's own fields gives the planner's key, so every
    parameter, the seed, the backend and model, the files and the inputs are in it."""
    build, _ = built
    plan = build.plan
    for job in plan.jobs:
        payload = {"format": PLAN_FORMAT, "kind": job.kind, "backend": job.backend,
                   "model": job.model, "params": job.params.to_json(), "seed": job.seed,
                   "files": sorted(job.files), "inputs": [plan.job(i).key for i in job.inputs]}
        if job.profile_kind != job.kind:
            payload["profile_kind"] = job.profile_kind
        assert content_key(payload) == job.key, job.id


def test_changing_anything_a_backend_reads_changes_the_resolved_key(built):
    build, project = built
    executor = build.executor
    job = next(j for j in build.plan.jobs if j.kind == "speech" and j.files)
    base = executor.resolve_key(job, {})
    changed = dataclasses.replace(job, key="0" * 64)                  # a parameter, the seed…
    assert executor.resolve_key(changed, {}) != base
    assert executor.resolve_key(job, {"seconds": 1.0}) != base       # the timeline
    executor.model_revisions[(job.backend, job.profile_kind)] = "sha256:other"
    try:
        assert executor.resolve_key(job, {}) != base                  # a model revision
    finally:
        del executor.model_revisions[(job.backend, job.profile_kind)]
    clip = next(j for j in build.plan.jobs if j.kind == "clip")
    keyframe = clip.inputs[0]
    timing = executor.timing_for(clip)
    before = executor.resolve_key(clip, timing)
    saved = executor.keys[keyframe]
    executor.keys[keyframe] = "f" * 64                                # an input's output
    try:
        assert executor.resolve_key(clip, timing) != before
    finally:
        executor.keys[keyframe] = saved
    # a file's bytes: a fresh digest of the edited recording
    from moviola.runtime.executor import Executor

    recording = project / job.files[0]
    original = recording.read_bytes()
    try:
        recording.write_bytes(original + b"\0")
        fresh = Executor(build.plan, project, build.cache)
        assert fresh.resolve_key(job, {}) != base
    finally:
        recording.write_bytes(original)


def render_elsewhere(task: Task) -> dict:
    """What another machine would do: build the backend from the job alone and render the task."""
    backend = registry.Backends(None, None).get(task.job.backend, task.job.profile_kind)
    try:
        return backend.run_batch([task])[0]
    finally:
        backend.close()


def test_a_task_renders_the_same_in_a_fresh_process_without_the_plan(built, tmp_path):
    """A task is self-contained: pickled to a spawned process (no plan, no project, no cache),
    a clip renders the very bytes the build cached."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    build, _ = built
    executor = build.executor
    job = next(j for j in build.plan.jobs if j.kind == "clip" and j.backend == "draft.motion"
               and len(j.inputs) == 2)                       # a dissolve: two inputs' artifacts
    task = executor.task(job, executor.keys[job.ref], executor.timing_for(job), tmp_path)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        meta = pool.submit(render_elsewhere, task).result(timeout=300)
    cached = build.entry(job.ref)
    assert meta["frames"] == cached.meta["frames"]
    for artifact in ARTIFACTS["clip"].values():
        assert (tmp_path / artifact.file).read_bytes() == (cached.path / artifact.file).read_bytes()
