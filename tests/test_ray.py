"""The Ray executor: one local Ray cluster per module (2 CPUs and a fake GPU) builds the samples
with the same bytes as the local executor; a rebuild sends nothing to the cluster; a worker
killed mid-build has its jobs retried and the film is the same; with a shared store
(``--ray-store``) the workers commit there and no entry's bytes go through Ray."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from test_build import decode  # noqa: E402

from moviola.cli import main  # noqa: E402
from moviola.compiler.api import compile_file  # noqa: E402
from moviola.compiler.profiles import BuildSettings, ProfileError, load_build_settings  # noqa: E402
from moviola.compiler.plan import plan_in_project  # noqa: E402
from moviola.runtime.backends.protocol import missing_outputs  # noqa: E402
from moviola.runtime.build import Build, ClusterError, ClusterOptions  # noqa: E402
from moviola.runtime.cache import Cache, CacheError  # noqa: E402
from moviola.runtime.events import JobFinished  # noqa: E402

ROOT = Path(__file__).parents[1]
SAMPLES = ROOT / "samples"
NAMES = ("the-wash-house", "the-night-ferry")
EDITS = {"the-wash-house": ("Nothing moves but the water.", "Nothing moves but the river."),
         "the-night-ferry": ("Then she rings it. Twice.", "Then she rings it. Three times.")}


@pytest.fixture(scope="module")
def cluster():
    """A local Ray for the whole module: starting one costs seconds on two cores."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             logging_level="warning")
    yield ClusterOptions()
    ray.shutdown()


def project_copy(root: Path, name: str) -> Path:
    project = root / name
    shutil.copytree(SAMPLES, project, ignore=shutil.ignore_patterns(".moviola", "out"))
    return project


def build(project: Path, name: str, cluster: ClusterOptions | None, on_event=None) -> Build:
    script = project / f"{name}.fountain"
    plan = plan_in_project(compile_file(script).film, project, "draft")
    driver = Build(plan, project, on_event)
    driver.run(project / "out" / f"{name}.mp4", workers=2, cluster=cluster)
    return driver


def assert_same_film(local: Path, remote: Path) -> None:
    """Frames, audio and subtitles decoded from both mp4s, and the .srt files, are equal."""
    a, b = decode(local), decode(remote)
    assert a["frames"] > 0 and a["audio"].size > 0
    assert a["video_sha"] == b["video_sha"] and a["frames"] == b["frames"]
    assert np.array_equal(a["audio"], b["audio"])
    assert a["cues"] == b["cues"]
    assert local.with_suffix(".srt").read_bytes() == remote.with_suffix(".srt").read_bytes()


@pytest.fixture(scope="module")
def local_films(tmp_path_factory):
    """Both samples built by the local executor (two processes), as the reference."""
    root = tmp_path_factory.mktemp("local")
    return {name: build(project_copy(root, name), name, None) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_a_sample_built_on_ray_is_the_film_the_local_executor_builds(name, cluster, local_films,
                                                                      tmp_path):
    project = project_copy(tmp_path, name)
    remote = build(project, name, cluster)
    pool = remote.executor.pool
    assert pool.submissions == len(remote.plan.jobs)       # nothing was cached: all rendered there
    assert not pool.actors                                 # draft: CPU tasks, no model actor
    assert pool.artifact_bytes > 0                         # without a store, entries' bytes travel
    local = local_films[name]
    assert_same_film(Path(local.project) / "out" / f"{name}.mp4", project / "out" / f"{name}.mp4")
    for job in remote.plan.jobs:                           # every entry, byte for byte
        ours, theirs = remote.entry(job.ref), local.entry(job.ref)
        assert ours.key == theirs.key, job.id
        for file in theirs.path.iterdir():
            if file.name != "meta.json":
                assert (ours.path / file.name).read_bytes() == file.read_bytes(), (job.id, file.name)

    # a rebuild with nothing changed finds every job in the driver's cache: none is submitted
    again = build(project, name, cluster)
    assert again.executor.pool.submissions == 0
    assert again.finished == len(again.plan.jobs)

    # a changed line renders again, on the cluster, and only what it reaches
    script = project / f"{name}.fountain"
    before, after = EDITS[name]
    script.write_text(script.read_text("utf-8").replace(before, after, 1), "utf-8")
    changed = build(project, name, cluster)
    assert 0 < changed.executor.pool.submissions < len(changed.plan.jobs)

    # the project's moviola.toml can choose Ray for `moviola build` (a local one, without address)
    with open(project / "moviola.toml", "a", encoding="utf-8") as config:
        config.write('\n[build]\nexecutor = "ray"\n')
    script.write_text(script.read_text("utf-8").replace(after, before, 1), "utf-8")
    report = tmp_path / "report.json"
    assert main(["build", str(script), "--quiet", "--report", str(report)]) == 0
    data = json.loads(report.read_text("utf-8"))
    assert data["executor"] == "ray"
    assert data["jobs"] == {"planned": len(changed.plan.jobs), "cached": len(changed.plan.jobs),
                            "executed": 0}                # the first film's entries are all kept


def assert_complete_store(store: Path) -> None:
    """Every entry under the store's objects is committed and holds its kind's outputs; what
    is left in its tmp folder is stale (a killed worker's), removed by the next build."""
    cache = Cache(store)
    folders = list(cache.entries())
    assert folders
    for folder in folders:
        entry = cache.get(folder.name)
        assert entry is not None, folder
        assert not missing_outputs(entry.meta["kind"], folder), folder
    left = sorted(cache.scratch.iterdir()) if cache.scratch.exists() else []
    assert left == cache.stale_temporaries()


def test_with_a_shared_store_workers_commit_there_and_no_artifact_travels(cluster, local_films,
                                                                          tmp_path, capsys):
    name = "the-night-ferry"
    store = tmp_path / "store"
    store.mkdir()
    project = project_copy(tmp_path, name)
    shared = ClusterOptions(store=str(store))
    remote = build(project, name, shared)
    pool = remote.executor.pool
    assert pool.submissions == len(remote.plan.jobs)
    assert pool.artifact_bytes == 0                        # parcels and results carry no entry
    local = local_films[name]
    assert_same_film(Path(local.project) / "out" / f"{name}.mp4", project / "out" / f"{name}.mp4")
    for job in remote.plan.jobs:                           # each entry is the store's, byte for byte
        ours, theirs = remote.entry(job.ref), local.entry(job.ref)
        assert store in ours.path.parents and ours.key == theirs.key, job.id
        for file in theirs.path.iterdir():
            assert (ours.path / file.name).is_file(), (job.id, file.name)
            if file.name != "meta.json":
                assert (ours.path / file.name).read_bytes() == file.read_bytes(), (job.id, file.name)
    assert not (project / ".moviola" / "cache" / "objects").exists()   # the store is the cache
    assert_complete_store(store)

    again = build(project, name, shared)                   # nothing changed: nothing submitted
    assert again.executor.pool.submissions == 0 and again.finished == len(again.plan.jobs)

    # a changed line renders again; pruning the store drops what only the old film used
    script = project / f"{name}.fountain"
    before, after = EDITS[name]
    script.write_text(script.read_text("utf-8").replace(before, after, 1), "utf-8")
    changed = build(project, name, shared)
    assert 0 < changed.executor.pool.submissions < len(changed.plan.jobs)
    both = {folder.name for folder in Cache(store).entries()}
    capsys.readouterr()
    assert main(["cache", str(script), "--ray-store", str(store), "--prune"]) == 0
    kept = {folder.name for folder in Cache(store).entries()}
    assert kept == {changed.entry(job.ref).key for job in changed.plan.jobs} < both
    assert f"pruned {len(both - kept)} entries" in capsys.readouterr().out
    assert build(project, name, shared).executor.pool.submissions == 0


def test_a_ray_store_that_is_missing_or_relative_is_a_clear_error(tmp_path):
    project = project_copy(tmp_path, "the-wash-house")
    plan = plan_in_project(compile_file(project / "the-wash-house.fountain").film, project, "draft")
    missing = tmp_path / "not-mounted"
    with pytest.raises(ClusterError, match=r"not-mounted does not exist: mount the shared folder"):
        Build(plan, project).run(workers=1, cluster=ClusterOptions(store=str(missing)))
    with pytest.raises(ClusterError, match="use an absolute path"):
        Build(plan, project).run(workers=1, cluster=ClusterOptions(store="store"))
    script = str(project / "the-wash-house.fountain")
    assert main(["build", script, "--quiet", "--ray-store", str(tmp_path)]) == 2   # no --ray
    assert not (project / "out").exists()


def test_a_worker_without_the_store_mounted_says_so_instead_of_writing_there(tmp_path):
    from moviola.runtime.cluster import attach_store, open_store

    mount_point = tmp_path / "srv"
    mount_point.mkdir()                       # an empty mount point: the share is not mounted
    with pytest.raises(CacheError, match="not mounted on"):
        attach_store(str(mount_point))
    assert not any(mount_point.iterdir())
    open_store(mount_point)                   # the driver marks the store it opened
    assert attach_store(str(mount_point)).root == mount_point


def _running_ray_tasks() -> list[int]:
    """The pids of Ray workers running one of our CPU tasks now (Ray titles them so)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if title.startswith(b"ray::_render_task"):
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds Ray workers in /proc")
@pytest.mark.parametrize("shared", [False, True], ids=["bytes", "store"])
def test_a_worker_killed_mid_build_has_its_job_retried_and_the_film_is_the_same(
        shared, cluster, local_films, tmp_path):
    name = "the-wash-house"
    killed: list[int] = []
    store = tmp_path / "store"
    store.mkdir()
    options = ClusterOptions(store=str(store)) if shared else cluster

    def kill_once(event) -> None:
        if killed or not isinstance(event, JobFinished) or event.cached:
            return
        for pid in _running_ray_tasks():
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    project = project_copy(tmp_path, name)
    remote = build(project, name, options, kill_once)
    assert killed, "no job was running on the cluster when the first one finished"
    assert remote.finished == len(remote.plan.jobs)
    local = local_films[name]
    assert_same_film(Path(local.project) / "out" / f"{name}.mp4", project / "out" / f"{name}.mp4")
    if shared:
        assert_complete_store(store)                       # the killed worker published nothing
        again = build(project, name, options)
        assert again.executor.pool.submissions == 0
        assert not any((store / "tmp").iterdir())          # its temporary is removed


def test_without_ray_the_ray_executor_is_a_clear_error_naming_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)          # import ray → ImportError
    project = project_copy(tmp_path, "the-wash-house")
    plan = plan_in_project(compile_file(project / "the-wash-house.fountain").film, project, "draft")
    with pytest.raises(ClusterError, match=r"moviola\[ray\]"):
        Build(plan, project).run(workers=1, cluster=ClusterOptions())


@pytest.mark.parametrize("table, settings", [
    ("", BuildSettings("local", None)),
    ('[build]\nexecutor = "ray"\n', BuildSettings("ray", None)),
    ('[build]\nexecutor = "ray"\nray_address = "head:6379"\n', BuildSettings("ray", "head:6379")),
    ('[build]\nexecutor = "local"\n', BuildSettings("local", None)),
    ('[build]\nexecutor = "ray"\nray_store = "/srv/moviola-store"\n',
     BuildSettings("ray", None, "/srv/moviola-store")),
])
def test_moviola_toml_chooses_the_executor(table, settings, tmp_path):
    (tmp_path / "moviola.toml").write_text(table, "utf-8")
    assert load_build_settings(tmp_path) == settings


@pytest.mark.parametrize("table, message", [
    ('[build]\nexecutor = "rayy"\n', "moviola.toml:2: unknown executor 'rayy'; did you mean 'ray'?"),
    ('[build]\nworkers = 3\n', "moviola.toml:2: unknown key 'workers'"),
    ('[build]\nray_address = 6379\n', "'ray_address' must be an address in quotes"),
    ('[build]\nray_store = true\n', "'ray_store' must be a folder's path in quotes"),
])
def test_a_bad_build_table_is_an_error_for_every_command(table, message, tmp_path, capsys):
    shutil.copy(SAMPLES / "the-night-ferry.fountain", tmp_path / "film.fountain")
    (tmp_path / "moviola.toml").write_text(table, "utf-8")
    with pytest.raises(ProfileError) as caught:
        load_build_settings(tmp_path)
    assert message in str(caught.value)
    assert main(["plan", str(tmp_path / "film.fountain")]) == 2     # the profiles' reader too
    assert message in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds Ray workers in /proc")
def test_ctrl_c_cancels_the_clusters_work_and_keeps_what_finished(cluster, tmp_path):
    name = "the-night-ferry"
    finished = []

    def interrupt(event) -> None:
        if isinstance(event, JobFinished) and not event.cached:
            finished.append(event.job.ref)
            if len(finished) == 5:
                raise KeyboardInterrupt

    project = project_copy(tmp_path, name)
    with pytest.raises(KeyboardInterrupt):
        build(project, name, cluster, interrupt)
    deadline = time.monotonic() + 30
    while _running_ray_tasks() and time.monotonic() < deadline:    # cancelled: nothing runs on
        time.sleep(0.2)
    assert not _running_ray_tasks()
    resumed = build(project, name, cluster)
    # the five finished jobs came from the cache: only the rest went to the cluster
    assert resumed.executor.pool.submissions == len(resumed.plan.jobs) - len(finished)
    assert resumed.finished == len(resumed.plan.jobs)


def test_spare_gpus_go_to_the_models_with_the_most_work():
    from moviola.runtime.cluster import model_replicas

    assert model_replicas({}, 1) == {}                                # draft: no model, no actor
    assert model_replicas({"clip": 3.0, "music": 1.0}, 0) == {"clip": 1, "music": 1}
    assert model_replicas({"clip": 3.0, "music": 1.0}, 1) == {"clip": 1, "music": 1}
    assert model_replicas({"clip": 3.0, "music": 1.0}, 4) == {"clip": 3, "music": 1}
    # each spare GPU to the largest work per actor: clip 9 → 4.5 → 3 → 2.25 → 1.8 < speech 2
    assert model_replicas({"clip": 9.0, "music": 1.0, "speech": 2.0}, 8) == {
        "clip": 5, "music": 1, "speech": 2}
