"""Unit costs for compiler/estimate.py, measured from a build's per-job times.

Builds the script (draft profile, one worker, so each job's time is its own) or reads an existing
build report, plans the script again to know each job's units of work (seconds of clip, of speech,
keyframes...), and fits ``seconds = per_job + per_unit × units`` for each (backend, kind). Prints
the fitted figures beside the ones compiler/estimate.py holds, and the estimate of the whole
build against its measured time (the ratio should stay near 1).

    python3 benchmarks/estimate.py [SCRIPT] [--report REPORT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_report(script: Path, temp: Path) -> dict:
    project = temp / "project"
    shutil.copytree(script.parent, project, ignore=shutil.ignore_patterns(".moviola", "out"))
    report = temp / "report.json"
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    subprocess.run([sys.executable, "-m", "moviola", "build", str(project / script.name), "-o",
                    str(temp / "film.mp4"), "--report", str(report), "--quiet", "-j", "1"],
                   check=True, env=env)
    return json.loads(report.read_text("utf-8"))


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(per_job, per_unit) by least squares, neither negative."""
    count = len(points)
    mean_u = sum(u for u, _ in points) / count
    mean_t = sum(t for _, t in points) / count
    spread = sum((u - mean_u) ** 2 for u, _ in points)
    if spread < 1e-9:
        return (0.0, mean_t / mean_u) if mean_u else (mean_t, 0.0)
    slope = sum((u - mean_u) * (t - mean_t) for u, t in points) / spread
    intercept = mean_t - slope * mean_u
    if intercept < 0:
        return 0.0, sum(t for _, t in points) / max(sum(u for u, _ in points), 1e-9)
    if slope < 0:
        return mean_t, 0.0
    return intercept, slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("script", nargs="?", default=str(ROOT / "samples" / "the-wash-house.fountain"))
    parser.add_argument("--report", help="a build report (moviola build --report) to read instead of building")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from moviola.compiler import estimate
    from moviola.compiler.api import compile_file
    from moviola.compiler.plan import plan as make_plan

    script = Path(args.script)
    with tempfile.TemporaryDirectory() as temp:
        report = json.loads(Path(args.report).read_text("utf-8")) if args.report \
            else build_report(script, Path(temp))
    render_plan = make_plan(compile_file(script).film, report["profile"])
    times = {job["id"]: job["seconds"] for job in report["job_list"] if job["status"] == "executed"}
    groups: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for job in render_plan.jobs:
        if job.id in times:
            groups[(job.backend, job.profile_kind)].append((estimate.job_units(job, render_plan), times[job.id]))
    print(f"{'backend':22s} {'kind':14s} {'jobs':>5s} {'measured s':>10s}  fitted per job + per unit"
          f"   (compiler/estimate.py)")
    for (backend, kind), points in sorted(groups.items()):
        per_job, per_unit = fit(points)
        held = estimate.unit_cost(backend, kind)
        print(f"{backend:22s} {kind:14s} {len(points):5d} {sum(t for _, t in points):10.2f}  "
              f"{per_job:7.3f} + {per_unit:7.4f}/{estimate.UNITS[kind]:18s} "
              f"({held.per_job:.3f} + {held.per_unit:.4f})")
    executed = [job for job in render_plan.jobs if job.id in times]
    guess = estimate.render_seconds(executed, render_plan)
    spent = sum(times.values())
    print(f"estimate of the executed jobs: {guess:.1f} s; measured (sum of job times): {spent:.1f} s; "
          f"ratio {guess / spent:.2f}; build wall time {report['wall_seconds']:.1f} s")


if __name__ == "__main__":
    main()
