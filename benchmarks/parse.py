"""Parser throughput: Moviola against the fastest Python Fountain parsers on PyPI, in one run.

The language server reparses on every keystroke, so the target is Moviola ≥ 3× faster than the
fastest of jouvence and screenplain on a full-length screenplay (≥ 8,000 lines).

    python3 -m pip install -e '.[bench]'      # jouvence, screenplain
    python3 benchmarks/parse.py [SCRIPT.fountain ...]

Without arguments it reads the fountain.io sample scripts from the shared conformance corpus
(../shared/fountain-corpus, beside the checkout) if present, else this project's samples,
concatenated to at least 8,000 lines.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "fountain-corpus" / "screenplain" / "examples"
MIN_LINES = 8000


def load_text(paths: list[Path]) -> tuple[str, str]:
    if not paths:
        corpus = sorted(CORPUS.glob("*.fountain")) if CORPUS.exists() else []
        paths = corpus or sorted((ROOT / "samples").glob("*.fountain"))
    parts = [p.read_text("utf-8-sig") for p in paths]
    text = "\n\n".join(parts)
    while text.count("\n") < MIN_LINES:
        text += "\n\n" + "\n\n".join(parts)
    return text, ", ".join(p.name for p in paths)


def timed(parse, text: str, repeats: int = 15) -> float:
    parse(text)                                   # warm up: grammar loading is not throughput
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        parse(text)
        samples.append(time.perf_counter() - began)
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


def main() -> None:
    text, names = load_text([Path(a) for a in sys.argv[1:]])
    lines = text.count("\n") + 1
    print(f"input: {lines} lines ({names})")
    results = {name: timed(parse, text) for name, parse in parsers().items()}
    for name, seconds in results.items():
        print(f"  {name:12s} {seconds * 1000:8.1f} ms   {lines / seconds / 1000:8.0f} klines/s")
    rivals = {n: s for n, s in results.items() if n != "moviola"}
    if rivals:
        fastest = min(rivals, key=rivals.get)
        ratio = rivals[fastest] / results["moviola"]
        print(f"moviola is {ratio:.1f}× faster than the fastest rival ({fastest}); target ≥ 3×")


if __name__ == "__main__":
    main()
