"""Parser speed: Moviola against the fastest Python Fountain parsers on PyPI, in one run.

Two measurements on the same text:

- **in process** (what the language server pays per full reparse): ``fountain.parse`` against
  jouvence's and screenplain's parsers, CPU time, median of 15 runs after a warm-up;
- **whole process** (what a user or a script pays): ``moviola check FILE`` and
  ``moviola parse --json FILE`` (piped, so compact JSON) against a Python process that runs
  jouvence on the file and writes a comparable element stream (type and text of each element,
  as JSON); CPU time, the best of 5 runs each, interpreter start-up included on both sides.

Target: Moviola ≥ 3× faster than the fastest rival in both.

    python3 -m pip install -e '.[bench]'      # jouvence, screenplain
    python3 benchmarks/parse.py [--copies N] [SCRIPT.fountain ...]

Without scripts it reads the fountain.io sample scripts from the shared conformance corpus
(``../shared/fountain-corpus``, beside the checkout; ``MOVIOLA_CORPUS`` names another folder)
if present, else this project's samples. The in-process input is concatenated to at least 8,000
lines; the whole-process input is the scripts concatenated ``--copies`` times (default 15: about
85,000 lines for the three fountain.io scripts).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("MOVIOLA_CORPUS", ROOT.parent / "shared" / "fountain-corpus")) \
    / "screenplain" / "examples"
MIN_LINES = 8000

# A whole process that does what `moviola parse --json` does, with jouvence: read, parse, write.
JOUVENCE_PROCESS = """
import json, sys
from jouvence.parser import JouvenceParser
with open(sys.argv[1], encoding="utf-8") as file:
    document = JouvenceParser().parseString(file.read())
elements = [{"type": p.type, "text": p.text} for scene in document.scenes for p in scene.paragraphs]
json.dump({"title_page": document.title_values, "elements": elements}, sys.stdout,
          ensure_ascii=False, separators=(",", ":"))
"""


def script_paths(paths: list[Path]) -> list[Path]:
    if paths:
        return paths
    corpus = sorted(CORPUS.glob("*.fountain")) if CORPUS.exists() else []
    return corpus or sorted((ROOT / "samples").glob("*.fountain"))


def load_text(paths: list[Path], min_lines: int = MIN_LINES) -> tuple[str, str]:
    """The scripts concatenated (repeated) to at least ``min_lines`` lines, and their names."""
    paths = script_paths(paths)
    parts = [p.read_text("utf-8-sig") for p in paths]
    text = "\n\n".join(parts)
    while text.count("\n") < min_lines:
        text += "\n\n" + "\n\n".join(parts)
    return text, ", ".join(p.name for p in paths)


def timed(parse, text: str, repeats: int = 15) -> float:
    """CPU seconds of one parse, median of ``repeats`` after a warm-up (imports are not
    throughput; CPU time because other work on the machine stretches wall time)."""
    parse(text)
    samples = []
    for _ in range(repeats):
        began = time.process_time()
        parse(text)
        samples.append(time.process_time() - began)
    return statistics.median(samples)


def parsers():
    from moviola.compiler.fountain import parse as moviola_parse

    found = {"moviola": lambda text: moviola_parse(text)}
    try:
        from jouvence.parser import JouvenceParser

        found["jouvence"] = lambda text: JouvenceParser().parseString(text)
    except ImportError:
        print("jouvence not installed (pip install -e '.[bench]')")
    try:
        import io

        from screenplain.parsers import fountain as screenplain

        found["screenplain"] = lambda text: screenplain.parse(io.StringIO(text))
    except ImportError:
        print("screenplain not installed (pip install -e '.[bench]')")
    return found


def moviola_command() -> list[str]:
    beside = Path(sys.executable).with_name("moviola")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "moviola"]


def process_seconds(command: list[str], repeats: int = 5) -> float:
    """The CPU time (user + system) of the whole process, its output read through a pipe: the
    best of ``repeats``. CPU time, not wall time, because the machine may be busy with other
    work, which stretches wall time but not the work a process does."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    # both sides run from compiled bytecode, as after a user's first run: pip compiled the
    # rivals' at install, and the warm-up run writes Moviola's (an editable install's) unless
    # PYTHONDONTWRITEBYTECODE forbids it, which would charge Moviola a compile on every run
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    samples = []
    for _ in range(repeats + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        samples.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode not in (0, 1):      # check exits 1 when the script has errors
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr.decode()}")
    return min(samples[1:])     # the first run warms the file cache


def in_process(paths: list[Path]) -> None:
    text, names = load_text(paths)
    lines = text.count("\n") + 1
    print(f"in process: {lines} lines ({names})")
    results = {name: timed(parse, text) for name, parse in parsers().items()}
    for name, seconds in results.items():
        print(f"  {name:12s} {seconds * 1000:8.1f} ms   {lines / seconds / 1000:8.0f} klines/s")
    rivals = {n: s for n, s in results.items() if n != "moviola"}
    if rivals:
        fastest = min(rivals, key=rivals.get)
        print(f"  moviola is {rivals[fastest] / results['moviola']:.1f}× faster than the fastest "
              f"rival ({fastest}); target ≥ 3×")


def whole_process(paths: list[Path], copies: int) -> None:
    parts = [p.read_text("utf-8-sig") for p in script_paths(paths)]
    text = "\n\n".join(parts * copies)
    folder = Path(tempfile.mkdtemp(prefix="moviola-bench-"))
    try:
        script = folder / "film.fountain"
        script.write_text(text, "utf-8")
        print(f"whole process: {text.count(chr(10)) + 1} lines ({copies} copies)")
        moviola = moviola_command()
        results = {
            "python start-up": process_seconds([sys.executable, "-c", "pass"]),
            "moviola check": process_seconds(moviola + ["check", str(script)]),
            "moviola parse --json": process_seconds(moviola + ["parse", "--json", str(script)]),
        }
        try:
            import jouvence  # noqa: F401

            results["jouvence → json"] = process_seconds([sys.executable, "-c", JOUVENCE_PROCESS, str(script)])
        except ImportError:
            print("jouvence not installed (pip install -e '.[bench]')")
        for name, seconds in results.items():
            print(f"  {name:22s} {seconds * 1000:8.0f} ms")
        rival = results.get("jouvence → json")
        if rival:
            for name in ("moviola check", "moviola parse --json"):
                print(f"  {name} is {rival / results[name]:.1f}× faster than jouvence's whole "
                      "process; target ≥ 3×")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scripts", nargs="*", type=Path)
    parser.add_argument("--copies", type=int, default=15, help="copies for the whole-process input")
    args = parser.parse_args()
    in_process(args.scripts)
    whole_process(args.scripts, args.copies)


if __name__ == "__main__":
    main()
