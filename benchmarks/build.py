"""Draft build benchmark: the ~5-minute sample on this machine.

Prints, from one run:
- a clean build: seconds of film per wall second (target ≥ 10×) and peak RSS (target ≤ 1.5 GB
  at 1280×720: frames stream to the encoder, never the whole film in memory);
- a rebuild after a one-line dialogue edit: the fraction of jobs rerun and its wall time as a
  ratio of the clean build's;
- a rebuild with no change: jobs rerun (must be 0).

Each build runs in a child process so its peak memory is measured alone.

    python3 benchmarks/build.py [SCRIPT]
"""

from __future__ import annotations

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


def run_build(script: Path, output: Path, report: Path) -> tuple[dict, float, float]:
    """(report, wall seconds, peak RSS in MB) of one `moviola build` in a child process."""
    # the build and its worker processes: the largest of them is the peak a user sees per process
    code = ("import resource, sys; from moviola.cli import main; rc = main(sys.argv[1:]); "
            "peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
            "print('PEAK_RSS_KB', peak); sys.exit(rc)")
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, "build", str(script), "-o", str(output),
                             "--report", str(report), "--quiet"], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"build failed:\n{result.stdout}\n{result.stderr}")
    peak_kb = int(result.stdout.rsplit("PEAK_RSS_KB", 1)[1].split()[0])
    return json.loads(report.read_text()), wall, peak_kb / 1024


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "samples" / "the-wash-house.fountain"
    with tempfile.TemporaryDirectory() as temp:
        project = Path(temp) / "project"
        shutil.copytree(source.parent, project, ignore=shutil.ignore_patterns(".moviola", "out"))
        script = project / source.name
        output = Path(temp) / "film.mp4"

        clean, clean_wall, clean_rss = run_build(script, output, Path(temp) / "clean.json")
        film = clean["film_seconds"]
        print(f"clean build: {film:.1f} s of film in {clean_wall:.1f} s wall "
              f"→ {film / clean_wall:.1f}× real time (target ≥ 10×); peak RSS {clean_rss:.0f} MB "
              f"(largest process; target ≤ 1536 MB); {clean['jobs']['executed']} jobs")
        for kind, data in sorted(clean["by_kind"].items(), key=lambda kv: -kv[1]["seconds"]):
            print(f"    {kind:14s} {data['executed']:4d} jobs {data['seconds']:7.2f} s")

        # one-line edit: the first spoken line gets one more word
        from moviola.compiler.api import compile_file

        compiled = compile_file(script)
        line = next(l for shot in compiled.film.shots for l in shot.lines)
        text = script.read_text("utf-8")
        script.write_text(text.replace(line.text, line.text + " Yes.", 1), "utf-8")
        edit, edit_wall, _ = run_build(script, output, Path(temp) / "edit.json")
        rerun = edit["jobs"]["executed"] / edit["jobs"]["planned"]
        print(f"one-line edit: {edit['jobs']['executed']}/{edit['jobs']['planned']} jobs rerun "
              f"({rerun:.1%}); {edit_wall:.1f} s wall = {edit_wall / clean_wall:.2f}× the clean build")
        print("    rerun: " + ", ".join(f"{k} {v['executed']}" for k, v in sorted(edit["by_kind"].items())
                                        if v["executed"]))

        same, same_wall, _ = run_build(script, output, Path(temp) / "same.json")
        print(f"no change: {same['jobs']['executed']} jobs rerun; {same_wall:.1f} s wall "
              f"= {same_wall / clean_wall:.2f}× the clean build")


if __name__ == "__main__":
    main()
