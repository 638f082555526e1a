"""Language-server latency on a full-length screenplay, through the real stdio server.

Measures, on the samples concatenated to at least 8,000 lines (as benchmarks/parse.py builds its
input):

- edit → diagnostics: from sending a one-line ``textDocument/didChange`` to receiving the
  ``publishDiagnostics`` for that version (p50/p95 over 50 edits: half change a line in place,
  half insert a line, which moves everything below it);
- completion: ``textDocument/completion`` round trips in a shot directive, a music directive, a
  cue and a scene heading;
- hover right after an edit (it compiles the whole script once per version) and the first
  diagnostics after opening.

Target: p95 ≤ 20 ms for edit → diagnostics and for completion.

    python3 benchmarks/lsp.py [--edits 50] [SCRIPT.fountain ...]

The client is a minimal JSON-RPC reader written here (json.loads on the raw frames), so the
figures are the server's, not a client library's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from parse import load_text  # noqa: E402

TARGET_MS = 20.0
SEED = 8000


class Connection:
    """Content-Length framed JSON-RPC over the server's stdin/stdout."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path):
        self.process = process
        self.log = log                           # the server's stderr, for when it dies
        self.gone: Exception | None = None
        self.next_id = 0
        self.waiting: dict[int, asyncio.Future] = {}
        self.diagnostics: dict[tuple[str, int], float] = {}   # (uri, version) → arrival time
        self.arrived = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = 0
            while True:
                line = await stream.readline()
                if not line:
                    self._server_gone()
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            message = json.loads(await stream.readexactly(length))
            now = time.perf_counter()
            if "id" in message and "method" not in message:
                future = self.waiting.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message.get("result"))
            elif message.get("method") == "textDocument/publishDiagnostics":
                params = message["params"]
                self.diagnostics[(params["uri"], params.get("version"))] = now
                self.arrived.set()
            elif "id" in message:                      # a request from the server: say yes
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})

    def _server_gone(self) -> None:
        """The server closed its stdout: every wait ends with its last words, not a hang."""
        tail = self.log.read_text("utf-8", "replace").strip().splitlines()[-15:]
        self.gone = RuntimeError("the language server (python -m moviola lsp) exited:\n"
                                 + "\n".join(tail or ["(nothing on stderr)"]))
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(self.gone)
        self.arrived.set()

    def _send(self, message: dict) -> None:
        body = json.dumps(message).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def request(self, method: str, params) -> object:
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        self._send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        await self.process.stdin.drain()
        return await future

    async def notify(self, method: str, params) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})
        await self.process.stdin.drain()

    async def diagnostics_for(self, uri: str, version: int) -> float:
        while (uri, version) not in self.diagnostics:
            if self.gone is not None:
                raise self.gone
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 30)
        return self.diagnostics[(uri, version)]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered) * 1000, p95 * 1000


def position(line: int, character: int) -> dict:
    return {"line": line, "character": character}


def edit_stream(lines: list[str], count: int, rng: random.Random):
    """``count`` one-line edits at random lines, alternately appending a word to a line and
    inserting a line (which moves everything below it): yields (kind, LSP content change) and
    applies each to ``lines`` first."""
    for number in range(count):
        line = rng.randrange(len(lines))
        if number % 2 == 0:
            end = position(line, len(lines[line]))
            lines[line] += " again"
            yield "in place", {"range": {"start": end, "end": end}, "text": " again"}
        else:
            lines.insert(line, "She waits.")
            yield "inserted", {"range": {"start": position(line, 0), "end": position(line, 0)},
                               "text": "She waits.\n"}


async def measure(text: str, edits: int) -> dict:
    log = Path(tempfile.mkstemp(prefix="moviola-lsp-", suffix=".log")[1])
    with open(log, "wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "moviola", "lsp", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=stderr)
    rpc = Connection(process, log)
    await rpc.request("initialize", {"processId": None, "rootUri": (ROOT / "samples").as_uri(),
                                     "capabilities": {}})
    await rpc.notify("initialized", {})
    # a buffer beside the samples (never written to disk): its paths resolve in samples/
    uri = (ROOT / "samples" / "benchmark-feature.fountain").as_uri()
    lines = text.split("\n")
    began = time.perf_counter()
    await rpc.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "fountain", "version": 1, "text": text}})
    opened = await rpc.diagnostics_for(uri, 1) - began

    rng = random.Random(SEED)
    version = 1
    in_place, inserted = [], []
    cpu_before = server_cpu(process.pid)
    edit_cpu, edit_waiting = [], []
    for kind, change in edit_stream(lines, edits, rng):
        version += 1
        samples = in_place if kind == "in place" else inserted
        before = server_schedule(process.pid)
        sent = time.perf_counter()
        await rpc.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                    "contentChanges": [change]})
        samples.append(await rpc.diagnostics_for(uri, version) - sent)
        after = server_schedule(process.pid)
        if before is not None and after is not None:
            edit_cpu.append(after[0] - before[0])
            edit_waiting.append(after[1] - before[1])

    cpu_after = server_cpu(process.pid)
    cpu_per_edit = (cpu_after - cpu_before) / edits if cpu_before is not None else None

    # completion in four contexts, on the text as it is now
    spots = []
    for number, line in enumerate(lines):
        if line.startswith("[[shot: "):
            spots.append(("shot terms", number, len("[[shot: ")))
        elif line.startswith("[[music: "):
            spots.append(("music themes", number, len("[[music: ")))
        elif line.startswith(("INT. ", "EXT. ")) and number and not lines[number - 1]:
            spots.append(("heading places", number, 5))
        elif (number and not lines[number - 1] and line.isupper() and 2 < len(line) < 20
              and ":" not in line and number + 1 < len(lines) and lines[number + 1]):
            spots.append(("cue names", number, 2))
    rng.shuffle(spots)
    by_context: dict[str, list[float]] = {}
    completion = []
    for context, line, character in spots[:200]:
        if len(by_context.get(context, [])) >= 15:
            continue
        sent = time.perf_counter()
        result = await rpc.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": position(line, character)})
        elapsed = time.perf_counter() - sent
        assert result and result["items"], (context, lines[line])
        completion.append(elapsed)
        by_context.setdefault(context, []).append(elapsed)

    # hover just after an edit: one full compile of the new version
    hovers = []
    for _ in range(5):
        line = rng.randrange(len(lines))
        version += 1
        await rpc.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                    "contentChanges": [{"range": {
                                                        "start": position(line, 0), "end": position(line, 0)},
                                                        "text": "A"}]})
        lines[line] = "A" + lines[line]
        await rpc.diagnostics_for(uri, version)
        heading = next(n for n, l in enumerate(lines) if l.startswith("INT. "))
        sent = time.perf_counter()
        await rpc.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                 "position": position(heading, 6)})
        hovers.append(time.perf_counter() - sent)

    await rpc.request("shutdown", None)
    await rpc.notify("exit", None)
    await process.wait()
    rpc.reader.cancel()
    log.unlink(missing_ok=True)
    return {"open": opened, "in_place": in_place, "inserted": inserted, "completion": completion,
            "by_context": by_context, "hover": hovers, "cpu_per_edit": cpu_per_edit,
            "edit_cpu": edit_cpu, "edit_waiting": edit_waiting}


def in_process(text: str, edits: int, heap: str, reuse: bool = True) -> dict:
    """The diagnostics thread's work per edit, timed in this process in CPU seconds (which
    other work on the machine does not stretch): the edit applied to the document, the
    session's check, the conversion to LSP and the JSON the server writes. ``heap``: "server"
    handles the collector as the server does (moviola.lsp.server.Heap), "untouched" leaves it
    alone. Also counts the full collections that land inside an edit, and their CPU.
    ``reuse``: keep the last publish's LSP conversions, as the server does (False: convert
    every diagnostic on every edit, the baseline)."""
    from lsprotocol import types
    from lsprotocol.converters import get_converter

    from moviola.compiler.api import session
    from moviola.lsp import features, server
    from moviola.lsp.documents import Document, Units

    converter = get_converter()
    path = ROOT / "samples" / "benchmark-feature.fountain"
    document = Document(path.as_uri(), text, 1, Units())
    checker = session(document.path, document.project)
    docs = features.diagnostics_page()
    memo: dict | None = {} if reuse else None     # as the server keeps one per document
    full: list[float] = []
    began = [0.0]

    def full_collections(phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                began[0] = time.process_time()
            else:
                full.append(time.process_time() - began[0])

    def publish() -> None:
        found = server.editor_diagnostics(checker, document.uri, document.text, document.units, docs,
                                          memo=memo)
        params = types.PublishDiagnosticsParams(uri=document.uri, diagnostics=found,
                                                version=document.version)
        json.dumps({"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics",
                    "params": converter.unstructure(params)})

    if heap == "server":
        server.HEAP.reclaim()       # as serve() does at start-up
    publish()
    lines = list(document.lines)
    samples: dict[str, list[float]] = {"in place": [], "inserted": []}
    landed, settling = [], []
    gc.callbacks.append(full_collections)
    try:
        for kind, change in edit_stream(lines, edits, random.Random(SEED)):
            before = len(full)
            started = time.process_time()
            document.apply(converter.structure(change, types.TextDocumentContentChangePartial))
            document.version += 1
            publish()
            samples[kind].append(time.process_time() - started)
            landed.extend(full[before:])
            if heap == "server":        # after the diagnostics are out, as the server does
                started = time.process_time()
                server.HEAP.settle()
                settling.append(time.process_time() - started)
    finally:
        gc.callbacks.remove(full_collections)
        if heap == "server":
            gc.unfreeze()
    return {"in_place": samples["in place"], "inserted": samples["inserted"], "full": landed,
            "settling": settling}


def server_cpu(pid: int) -> float | None:
    """The server process's CPU seconds so far (Linux; None elsewhere). Wall-clock latency
    stretches when other work shares the machine; the CPU an edit costs the server does not."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_schedule(pid: int) -> tuple[float, float] | None:
    """Seconds the server's threads have run on a core, and waited for one, so far (Linux's
    schedstat, in nanoseconds: fine enough for one edit; None elsewhere)."""
    running = waiting = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for task in tasks:
        try:
            fields = Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()
        except OSError:
            continue        # a thread that ended meanwhile
        running += int(fields[0])
        waiting += int(fields[1])
    return running / 1e9, waiting / 1e9


def full_compile_seconds(text: str) -> float:
    """The baseline, in this process and minute: a whole compile of the same text (CPU time,
    best of three), what every edit would cost without the incremental session."""
    from moviola.compiler.api import compile_text

    best = float("inf")
    for _ in range(3):
        began = time.process_time()
        compile_text(text, str(ROOT / "samples" / "benchmark-feature.fountain"))
        best = min(best, time.process_time() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--in-process", choices=("server", "untouched"),
                        help="time the diagnostics work per edit in this process, in CPU time, "
                             "with the collector handled as the server does or left untouched")
    parser.add_argument("scripts", nargs="*", type=Path)
    args = parser.parse_args()
    text, names = load_text(args.scripts or sorted((ROOT / "samples").glob("*.fountain")))
    print(f"input: {text.count(chr(10)) + 1} lines ({names})")
    if args.in_process:
        # the baseline in the same minutes: every diagnostic converted on every edit
        rounds = [(reuse, in_process(text, args.edits, args.in_process, reuse))
                  for _ in range(3) for reuse in (False, True)]
        medians = {reuse: [statistics.median(r["in_place"] + r["inserted"]) for k, r in rounds
                           if k is reuse] for reuse in (False, True)}
        print(f"  conversions reused vs all converted, 3 alternating rounds: p50 CPU per edit "
              f"{' '.join(f'{m * 1000:.1f}' for m in medians[True])} ms vs "
              f"{' '.join(f'{m * 1000:.1f}' for m in medians[False])} ms: "
              f"{statistics.median(medians[False]) / statistics.median(medians[True]):.2f}× faster")
        found = rounds[-1][1]
        print(f"  in process, collector {args.in_process}: CPU per edit (last round)")
        for label, samples in (("edit → diagnostics (all)", found["in_place"] + found["inserted"]),
                               ("  line changed in place", found["in_place"]),
                               ("  line inserted (shifts)", found["inserted"])):
            p50, p95 = percentiles(samples)
            print(f"  {label:30s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   max {max(samples) * 1000:6.1f} ms"
                  f"   (n={len(samples)})")
        print(f"  full collections inside edits: {len(found['full'])}, "
              f"{' '.join(f'{t * 1000:.1f}' for t in found['full']) or '-'} ms")
        if found["settling"]:
            print(f"  settling the heap after each publish: mean "
                  f"{statistics.mean(found['settling']) * 1000:.2f} ms, max {max(found['settling']) * 1000:.2f} ms")
        if hasattr(os, "getloadavg"):
            print(f"  machine load (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        return
    found = asyncio.run(measure(text, args.edits))
    edits = found["in_place"] + found["inserted"]
    print(f"  open → first diagnostics      {found['open'] * 1000:7.1f} ms")
    rows = [("edit → diagnostics (all)", edits), ("  line changed in place", found["in_place"]),
            ("  line inserted (shifts)", found["inserted"]), ("completion (all)", found["completion"])]
    rows += [(f"  {context}", samples) for context, samples in sorted(found["by_context"].items())]
    rows.append(("hover after an edit", found["hover"]))
    for label, samples in rows:
        p50, p95 = percentiles(samples)
        print(f"  {label:30s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   (n={len(samples)})")
    if found["cpu_per_edit"] is not None:
        print(f"  server CPU per edit (mean)     {found['cpu_per_edit'] * 1000:6.1f} ms")
    if found["edit_cpu"]:
        p50, p95 = percentiles(found["edit_cpu"])
        print(f"  server on a core per edit      p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   "
              f"max {max(found['edit_cpu']) * 1000:6.1f} ms")
        p50, p95 = percentiles(found["edit_waiting"])
        print(f"  server waiting for a core      p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")
    full = full_compile_seconds(text)
    if found["cpu_per_edit"] is not None:
        print(f"  baseline: a full compile here  {full * 1000:6.1f} ms of CPU (best of 3); an "
              f"edit costs {found['cpu_per_edit'] / full:.2f}× that ({full / found['cpu_per_edit']:.1f}× "
              f"faster)")
    if hasattr(os, "getloadavg"):
        print(f"  machine load (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ok = all(percentiles(s)[1] <= TARGET_MS for s in (edits, found["completion"]))
    print(f"target p95 ≤ {TARGET_MS:.0f} ms for edit → diagnostics and completion: "
          f"{'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
