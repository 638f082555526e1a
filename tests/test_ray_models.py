"""The Ray executor with model backends: the tiny-model film (tests/test_model_profile_build.py)
built on a local Ray, its models in long-lived actors, is the film the local executor builds,
even when an actor is killed after its first job (Ray restarts it and retries its calls), with
the entries' bytes shipped or committed by the actors into a shared store."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from test_build import decode  # noqa: E402
from test_model_profile_build import build as build_locally  # noqa: E402
from test_model_profile_build import project  # noqa: E402,F401 - the tiny-model project fixture

from moviola.compiler.api import compile_file  # noqa: E402
from moviola.compiler.plan import plan_in_project  # noqa: E402
from moviola.runtime.backends import registry  # noqa: E402
from moviola.runtime.build import Build, ClusterOptions  # noqa: E402
from moviola.runtime.events import JobFinished  # noqa: E402

pytestmark = [pytest.mark.usefixtures("torch_one_thread"),
              pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")]


@pytest.fixture(scope="module")
def cluster():
    # one torch thread in the actors too, as in this process (tiny pipelines on 2 cores)
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             logging_level="warning",
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}})
    yield ClusterOptions()
    ray.shutdown()


@pytest.mark.parametrize("shared", [False, True], ids=["bytes", "store"])
def test_the_tiny_model_film_on_ray_with_an_actor_killed_is_the_local_film(shared, project, cluster,
                                                                            tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    options = ClusterOptions(store=str(store)) if shared else cluster
    build_locally(project, "local")
    local = project / "out" / "local.mp4"
    shutil.rmtree(project / ".moviola")                     # the Ray build renders everything

    killed = []

    def kill_an_actor_once(event) -> None:
        if killed or not isinstance(event, JobFinished) or event.cached:
            return
        if not registry.is_model_backend(event.job.backend):
            return
        pool = driver.executor.pool
        model = (event.job.backend, event.job.profile_kind, event.job.model)
        actor = next(a for (m, _), a in pool.actors.items() if m == model)
        ray.kill(actor, no_restart=False)                   # Ray restarts it: the model reloads
        killed.append(model)

    plan = plan_in_project(compile_file(project / "film.fountain").film, project, "tiny")
    driver = Build(plan, project, kill_an_actor_once)
    report = driver.run(project / "out" / "ray.mp4", workers=2, cluster=options)
    assert killed
    assert report.executor == "ray" and report.executed == report.planned
    pool = driver.executor.pool
    models = {(j.backend, j.profile_kind, j.model) for j in plan.jobs
              if registry.is_model_backend(j.backend)}
    assert {model for model, _ in pool.actors} == models    # one actor per model, routed by model
    assert (pool.artifact_bytes == 0) == shared             # a store: the actors commit there

    a, b = decode(local), decode(project / "out" / "ray.mp4")
    assert a["video_sha"] == b["video_sha"] and a["frames"] == b["frames"] > 0
    assert np.array_equal(a["audio"], b["audio"])
    assert a["cues"] == b["cues"] and len(a["cues"]) == 2
    assert local.with_suffix(".srt").read_bytes() == (project / "out" / "ray.srt").read_bytes()
