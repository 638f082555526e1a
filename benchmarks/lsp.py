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
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from parse import load_text  # noqa: E402

TARGET_MS = 20.0


class Connection:
    """Content-Length framed JSON-RPC over the server's stdin/stdout."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
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
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 30)
        return self.diagnostics[(uri, version)]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered) * 1000, p95 * 1000


def position(line: int, character: int) -> dict:
    return {"line": line, "character": character}


async def measure(text: str, edits: int) -> dict:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "moviola", "lsp", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    rpc = Connection(process)
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

    rng = random.Random(8000)
    version = 1
    in_place, inserted = [], []
    cpu_before = server_cpu(process.pid)
    for number in range(edits):
        line = rng.randrange(len(lines))
        version += 1
        if number % 2 == 0:     # change one line in place: append a word
            change = {"range": {"start": position(line, len(lines[line])), "end": position(line, len(lines[line]))},
                      "text": " again"}
            lines[line] += " again"
            samples = in_place
        else:                   # insert a line: everything below it moves
            change = {"range": {"start": position(line, 0), "end": position(line, 0)},
                      "text": "She waits.\n"}
            lines.insert(line, "She waits.")
            samples = inserted
        sent = time.perf_counter()
        await rpc.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                    "contentChanges": [change]})
        samples.append(await rpc.diagnostics_for(uri, version) - sent)

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
    return {"open": opened, "in_place": in_place, "inserted": inserted, "completion": completion,
            "by_context": by_context, "hover": hovers, "cpu_per_edit": cpu_per_edit}


def server_cpu(pid: int) -> float | None:
    """The server process's CPU seconds so far (Linux; None elsewhere). Wall-clock latency
    stretches when other work shares the machine; the CPU an edit costs the server does not."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("scripts", nargs="*", type=Path)
    args = parser.parse_args()
    text, names = load_text(args.scripts or sorted((ROOT / "samples").glob("*.fountain")))
    print(f"input: {text.count(chr(10)) + 1} lines ({names})")
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
    if hasattr(os, "getloadavg"):
        print(f"  machine load (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ok = all(percentiles(s)[1] <= TARGET_MS for s in (edits, found["completion"]))
    print(f"target p95 ≤ {TARGET_MS:.0f} ms for edit → diagnostics and completion: "
          f"{'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
