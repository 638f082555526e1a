"""Draft build benchmark: scripts of different lengths built in one run, so their ratios compare
under the same load.

By default: a 1-minute plain script (benchmarks/one-minute.fountain), the 5-minute sample
(samples/the-wash-house.fountain) and a feature (Big Fish, from the Fountain corpus beside the
checkout, ``../shared/fountain-corpus``; ``MOVIOLA_CORPUS`` names another folder). Each script
is built from a copy of its folder, with a fresh cache. Prints, per script:
- a clean build: seconds of film per wall second (target ≥ 10×), and per CPU second of the build
  and its workers (load-independent: a shared machine stretches wall time, not CPU time; the
  speed on idle cores is film ÷ (CPU ÷ cores)); cost linear in length means CPU seconds per film
  second the same for every script;
- the peak RSS of the largest process (target ≤ 1.5 GB whatever the length: frames stream to the
  encoder and the mix streams chunk by chunk), and which jobs set each process's peak;
- unless ``--no-rebuilds``: a rebuild after a one-line dialogue edit (the fraction of jobs rerun,
  its wall time against the clean build's) and a rebuild with no change (jobs rerun: must be 0).

Each build runs in a child process so its peak memory is measured alone.

    python3 benchmarks/build.py [SCRIPT ...] [--no-rebuilds] [-j N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("MOVIOLA_CORPUS", ROOT.parent / "shared" / "fountain-corpus"))
DEFAULT_SCRIPTS = (ROOT / "benchmarks" / "one-minute.fountain",
                   ROOT / "samples" / "the-wash-house.fountain",
                   CORPUS / "screenplain" / "examples" / "Big-Fish.fountain")
PEAK_TARGET_MB = 1536


def child(args: list[str], memory_log: Path) -> None:
    """``moviola build ARGS`` in this process; then one JSON line: CPU seconds and peak RSS of
    this process and its workers. Each job that raises its process's peak RSS is logged to
    ``memory_log`` (one JSON line: pid, jobs, the peak after them), so the report can say which
    job holds the memory."""
    from moviola.cli import main
    from moviola.runtime import workers

    run_batch = workers.run_batch

    def measured(backends, tasks):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = run_batch(backends, tasks)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if after > before:
            with open(memory_log, "a", encoding="utf-8") as log:
                log.write(json.dumps({"pid": os.getpid(), "jobs": [t.job.id for t in tasks],
                                      "peak_kb": after}) + "\n")
        return result

    workers.run_batch = measured      # worker processes are forked: they run the wrapper too
    code = main(args)
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({
        "rc": code,
        "cpu_seconds": own.ru_utime + own.ru_stime + workers_usage.ru_utime + workers_usage.ru_stime,
        "main_peak_kb": own.ru_maxrss,
        "peak_kb": max(own.ru_maxrss, workers_usage.ru_maxrss),    # the largest process
    }))


def run_build(script: Path, output: Path, report: Path, jobs: int | None) -> dict:
    """One `moviola build` in a child process: its report, wall and CPU seconds, peak RSS (MB)
    of the largest process, the jobs that set each process's peak, the load around it."""
    memory_log = report.with_suffix(".memory.jsonl")
    memory_log.unlink(missing_ok=True)
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    result = subprocess.run([sys.executable, __file__, "--child", str(memory_log), "build", str(script),
                             "-o", str(output), "--report", str(report), "--quiet",
                             *(["-j", str(jobs)] if jobs else [])],
                            capture_output=True, text=True, env=env)
    wall = time.perf_counter() - began
    facts = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else {}
    if result.returncode != 0 or facts.get("rc") != 0:
        sys.exit(f"build of {script} failed:\n{result.stdout}\n{result.stderr}")
    setters = [json.loads(line) for line in memory_log.read_text().splitlines()] \
        if memory_log.exists() else []
    return {"report": json.loads(report.read_text()), "wall": wall, "cpu": facts["cpu_seconds"],
            "peak_mb": facts["peak_kb"] / 1024, "main_peak_mb": facts["main_peak_kb"] / 1024,
            "peak_setters": setters, "load": (load_before, os.getloadavg()[0])}


def peak_by_kind(setters: list[dict]) -> dict[str, float]:
    """Per job kind, the highest peak RSS (MB) a job of that kind raised its process to."""
    peaks: dict[str, float] = {}
    for record in setters:
        for job in record["jobs"]:
            kind = job.split(":", 1)[0]
            peaks[kind] = max(peaks.get(kind, 0.0), record["peak_kb"] / 1024)
    return peaks


def first_line(script: Path) -> str:
    """The text of the script's first spoken line (the one-line edit appends a word to it)."""
    from moviola.compiler.api import compile_file

    compiled = compile_file(script)
    return next(l for shot in compiled.film.shots for l in shot.lines).text


def bench(source: Path, temp: Path, jobs: int | None, rebuilds: bool, cores: int) -> dict:
    project = temp / source.stem
    shutil.copytree(source.parent, project, ignore=shutil.ignore_patterns(
        ".moviola", "out", "__pycache__", "*.py", "*.html", "*.fdx", "*.pdf"))
    script = project / source.name
    output = temp / f"{source.stem}.mp4"
    clean = run_build(script, output, temp / f"{source.stem}-clean.json", jobs)
    film = clean["report"]["film_seconds"]
    print(f"\n{source.name}: {film / 60:.1f} min of film, {clean['report']['jobs']['executed']} jobs "
          f"(load {clean['load'][0]:.1f} → {clean['load'][1]:.1f})")
    print(f"  clean build: {clean['wall']:.1f} s wall → {film / clean['wall']:.1f}× real time; "
          f"{clean['cpu']:.1f} CPU s → {clean['cpu'] / film:.3f} CPU s per film s, "
          f"{film / (clean['cpu'] / cores):.1f}× real time on {cores} idle cores (target ≥ 10×)")
    print(f"  peak RSS {clean['peak_mb']:.0f} MB (largest process; target ≤ {PEAK_TARGET_MB} MB), "
          f"main process {clean['main_peak_mb']:.0f} MB")
    peaks = peak_by_kind(clean["peak_setters"])
    print("  peak RSS a job of each kind raised its process to: "
          + ", ".join(f"{k} {v:.0f} MB" for k, v in sorted(peaks.items(), key=lambda kv: -kv[1])))
    for kind, data in sorted(clean["report"]["by_kind"].items(), key=lambda kv: -kv[1]["seconds"]):
        print(f"    {kind:14s} {data['executed']:5d} jobs {data['seconds']:8.2f} s")
    row = {"script": source.name, "film": film, "jobs": clean["report"]["jobs"]["executed"],
           "wall": clean["wall"], "cpu": clean["cpu"], "peak_mb": clean["peak_mb"],
           "load": clean["load"], "peaks": peaks}
    if not rebuilds:
        return row

    line = first_line(script)
    text = script.read_text("utf-8")
    script.write_text(text.replace(line, line + " Yes.", 1), "utf-8")
    edit = run_build(script, output, temp / f"{source.stem}-edit.json", jobs)
    done = edit["report"]["jobs"]
    print(f"  one-line edit: {done['executed']}/{done['planned']} jobs rerun "
          f"({done['executed'] / done['planned']:.1%}); {edit['wall']:.1f} s wall "
          f"= {edit['wall'] / clean['wall']:.2f}× the clean build, {edit['cpu']:.1f} CPU s; "
          f"peak RSS {edit['peak_mb']:.0f} MB")
    print("    rerun: " + ", ".join(f"{k} {v['executed']}" for k, v in sorted(edit["report"]["by_kind"].items())
                                    if v["executed"]))
    same = run_build(script, output, temp / f"{source.stem}-same.json", jobs)
    print(f"  no change: {same['report']['jobs']['executed']} jobs rerun; {same['wall']:.1f} s wall "
          f"= {same['wall'] / clean['wall']:.2f}× the clean build")
    row.update(edit_rerun=(done["executed"], done["planned"]), edit_wall=edit["wall"],
               same_rerun=same["report"]["jobs"]["executed"])
    return row


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[3:], Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scripts", nargs="*", type=Path)
    parser.add_argument("--no-rebuilds", action="store_true",
                        help="clean builds only (no one-line edit, no unchanged rebuild)")
    parser.add_argument("-j", "--jobs", type=int, help="worker processes (default: one per core)")
    args = parser.parse_args()
    scripts = [s.resolve() for s in args.scripts] or [s for s in DEFAULT_SCRIPTS if s.exists()]
    cores = args.jobs or os.cpu_count() or 1
    print(f"{len(scripts)} scripts, {cores} cores; load average at the start "
          + " / ".join(f"{l:.1f}" for l in os.getloadavg()))
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        for source in scripts:
            rows.append(bench(source, Path(temp), args.jobs, not args.no_rebuilds, cores))
    print("\n| script | film | jobs | wall | × real time | CPU s | CPU s per film s "
          f"| × real time on {cores} idle cores | peak RSS | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['script']} | {row['film'] / 60:.1f} min | {row['jobs']} | {row['wall']:.1f} s "
              f"| {row['film'] / row['wall']:.1f}× | {row['cpu']:.1f} | {row['cpu'] / row['film']:.3f} "
              f"| {row['film'] / (row['cpu'] / cores):.1f}× | {row['peak_mb']:.0f} MB "
              f"| {row['load'][0]:.1f}–{row['load'][1]:.1f} |")


if __name__ == "__main__":
    main()
