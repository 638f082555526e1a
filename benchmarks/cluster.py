"""The Ray executor against the local one, and how a plan scales to a class's GPUs.

Prints, from one run:
- the draft build of a sample on the local executor (2 worker processes) and on a local Ray
  cluster of 2 CPUs, started in this process: jobs per second of each, and Ray's scheduling
  overhead per job (the difference of wall times over the jobs, both on two workers);
- the same build on that Ray cluster with a shared store (a folder of this machine standing for
  the class's NFS mount): wall time and the bytes of cache entries sent through Ray, against a
  build that ships them, in the same Ray session;
- a simulation of N GPUs (N = 1, 2, 4, 8, 16) building the sample under the final profile:
  per-job seconds from compiler/estimate.py's unit costs (the draft build's recorded job times
  for the CPU jobs), the plan's dependencies, the Ray executor's policy (one actor per model,
  spare GPUs as replicas of the busiest models); makespan and model loads. With
  ``--simulate-only`` (no Ray needed) the CPU jobs take compiler/estimate.py's draft figures too.

    python3 benchmarks/cluster.py [SCRIPT] [--simulate-only]
"""

from __future__ import annotations

import argparse
import heapq
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from moviola.compiler import estimate  # noqa: E402
from moviola.compiler.api import compile_file  # noqa: E402
from moviola.compiler.plan import plan_in_project  # noqa: E402
from moviola.runtime.backends import registry  # noqa: E402
from moviola.runtime.backends.protocol import KIND_RULES  # noqa: E402
from moviola.runtime.build import Build, ClusterOptions  # noqa: E402
from moviola.runtime.cluster import model_replicas  # noqa: E402

LOAD_SECONDS = 30.0        # loading one model's weights onto a GPU (an assumption, not measured)
CPUS_PER_MACHINE = 4       # the CPU jobs (edit: mix, subtitles, mux) run beside the GPU work


def timed_build(source: Path, root: Path, cluster: ClusterOptions | None):
    project = root / ("ray" if cluster else "local")
    shutil.copytree(source.parent, project, ignore=shutil.ignore_patterns(".moviola", "out"))
    script = project / source.name
    plan = plan_in_project(compile_file(script).film, project, "draft")
    began = time.perf_counter()
    report = Build(plan, project).run(project / "out" / "film.mp4", workers=2, cluster=cluster)
    return report, time.perf_counter() - began


def timed_ray_build(source: Path, root: Path, store: Path | None):
    """A draft build on the running Ray, with the shared ``store`` or shipping bytes: (wall
    seconds, bytes of cache entries that went through Ray)."""
    project = root / ("ray-store" if store else "ray-bytes")
    shutil.copytree(source.parent, project, ignore=shutil.ignore_patterns(".moviola", "out"))
    script = project / source.name
    plan = plan_in_project(compile_file(script).film, project, "draft")
    driver = Build(plan, project)
    began = time.perf_counter()
    driver.run(project / "out" / "film.mp4", workers=2,
               cluster=ClusterOptions(store=str(store) if store else None))
    return time.perf_counter() - began, driver.executor.pool.artifact_bytes


def simulate(plan, seconds: dict, gpus: int) -> tuple[float, int]:
    """(makespan, model loads) of ``plan`` on ``gpus`` GPUs: each model's jobs go to its
    replicas (runtime/cluster.model_replicas), models sharing a GPU when there are fewer GPUs
    than models; CPU jobs on the machines' CPUs. Jobs start when their inputs are done (and,
    for timed kinds, when every speech job is), lowest phase first."""
    work: dict = defaultdict(float)
    for job in plan.jobs:
        if registry.is_model_backend(job.backend):
            work[(job.backend, job.profile_kind, job.model)] += seconds[job.ref]
    replicas = model_replicas(work, gpus)
    # each replica is a lane on a GPU (one job at a time per GPU): with fewer GPUs than
    # models, models share GPUs round-robin; else every replica has its own
    lanes, next_gpu = {}, 0
    for model in sorted(work):
        lanes[model] = [(next_gpu + i) % gpus for i in range(replicas[model])]
        next_gpu += replicas[model]
    gpu_free = [0.0] * gpus
    loads = sum(len(v) for v in lanes.values())
    loaded_at: dict = {}
    cpu_free = [0.0] * (CPUS_PER_MACHINE * max(gpus, 1))
    done: dict = {}
    speech = [j.ref for j in plan.jobs if j.kind == "speech"]
    pending = sorted(plan.jobs, key=lambda j: KIND_RULES[j.kind].phase)
    while pending:
        progressed = False
        for job in list(pending):
            if any(i not in done for i in job.inputs):
                continue
            if KIND_RULES[job.kind].timed and any(s not in done for s in speech):
                continue
            ready = max([done[i] for i in job.inputs] +
                        ([max(done[s] for s in speech)] if KIND_RULES[job.kind].timed and speech
                         else []) + [0.0])
            if registry.is_model_backend(job.backend):
                model = (job.backend, job.profile_kind, job.model)
                lane = min(lanes[model], key=lambda g: gpu_free[g])
                start = max(ready, gpu_free[lane])
                if (model, lane) not in loaded_at:
                    loaded_at[(model, lane)] = start
                    start += LOAD_SECONDS
                gpu_free[lane] = done[job.ref] = start + seconds[job.ref]
            else:
                heapq.heapify(cpu_free)
                start = max(ready, heapq.heappop(cpu_free))
                done[job.ref] = start + seconds[job.ref]
                heapq.heappush(cpu_free, done[job.ref])
            pending.remove(job)
            progressed = True
        if not progressed:
            raise RuntimeError("a job's inputs never finish")
    return max(done.values()), loads


def main() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", nargs="?", type=Path,
                        default=ROOT / "samples" / "the-wash-house.fountain")
    parser.add_argument("--simulate-only", action="store_true",
                        help="only the simulation of N GPUs (no draft builds, no Ray)")
    args = parser.parse_args()
    source = args.script
    recorded = {} if args.simulate_only else compare_executors(source)
    simulate_final(source, recorded)


def compare_executors(source: Path) -> dict[str, float]:
    """Build ``source`` under draft on the local executor and on a local Ray; print both.
    Returns the seconds of each job Ray rendered, by job id."""
    import ray

    with tempfile.TemporaryDirectory() as temp:
        local, local_wall = timed_build(source, Path(temp), None)
        began = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
        start_seconds = time.perf_counter() - began
        try:
            remote, remote_wall = timed_build(source, Path(temp), ClusterOptions())
            (Path(temp) / "store").mkdir()
            store_wall, store_bytes = timed_ray_build(source, Path(temp), Path(temp) / "store")
            bytes_wall, shipped_bytes = timed_ray_build(source, Path(temp), None)
        finally:
            ray.shutdown()
    jobs = sum(local.executed.values())
    print(f"{source.name}, draft, {jobs} jobs, 2 workers each:")
    print(f"  local executor: {local_wall:.1f} s, {jobs / local_wall:.1f} jobs/s")
    print(f"  local Ray:      {remote_wall:.1f} s, {jobs / remote_wall:.1f} jobs/s "
          f"(Ray started in {start_seconds:.1f} s, not counted); "
          f"overhead {1000 * (remote_wall - local_wall) / jobs:.0f} ms per job, "
          f"{remote_wall / local_wall:.2f}× the local wall time")
    print(f"  Ray, shared store: {store_wall:.1f} s, {jobs / store_wall:.1f} jobs/s, "
          f"{store_bytes / 1e6:.1f} MB of entries through Ray; shipping them (again, same "
          f"Ray): {bytes_wall:.1f} s, {shipped_bytes / 1e6:.1f} MB; "
          f"{store_wall / bytes_wall:.2f}× its wall time")
    return {row["id"]: row["seconds"] for row in remote.jobs if row["status"] == "executed"}


def simulate_final(source: Path, recorded: dict[str, float]) -> None:
    """The makespan of ``source`` under final on 1–16 GPUs (CPU jobs: ``recorded`` seconds
    where given, else their estimate)."""
    project = source.parent
    plan = plan_in_project(compile_file(source).film, project, "final")
    seconds = {}
    for job in plan.jobs:
        if registry.is_model_backend(job.backend):
            seconds[job.ref] = estimate.job_seconds(job, plan)
        else:
            seconds[job.ref] = recorded.get(job.id, estimate.job_seconds(job, plan))
    models = {(j.backend, j.profile_kind, j.model) for j in plan.jobs
              if registry.is_model_backend(j.backend)}
    serial = sum(seconds.values()) + LOAD_SECONDS * len(models)
    by_model = defaultdict(float)
    for job in plan.jobs:
        if registry.is_model_backend(job.backend):
            by_model[(job.profile_kind, job.model)] += seconds[job.ref]
    print(f"\n{source.name}, final profile (estimated per-job GPU seconds, {len(models)} models, "
          f"{LOAD_SECONDS:.0f} s per model load): {serial / 3600:.2f} h of work one job at a time")
    for (kind, model), work in sorted(by_model.items(), key=lambda kv: -kv[1]):
        print(f"    {kind:11s} {model:45s} {work / 60:7.1f} min")
    print("  GPUs  makespan   speed-up  model loads")
    one = None
    for gpus in (1, 2, 4, 8, 16):
        makespan, loads = simulate(plan, seconds, gpus)
        one = one or makespan
        print(f"  {gpus:4d}  {makespan / 60:7.1f} min  {one / makespan:5.2f}×  {loads:5d}")


if __name__ == "__main__":
    main()
