"""Edit benchmark: the streamed mix's memory and speed against the film's length, and the contact
sheet of a feature's worth of shots.

Builds the ~5-minute sample once (draft), then, each in a child process so its peak memory is
measured alone:
- the mix (both passes, the mix and its three stems as WAV, the AAC) of the sample's timeline
  repeated to 5, 20 and 80 minutes: peak RSS (flat: the same whatever the length) and seconds of
  film per wall second;
- the contact sheet of 2,155 shots (a feature's count) drawn from the thumbnails the sample's
  keyframe jobs wrote, and drawn as from a cache made before keyframes had thumbnails (each
  keyframe decoded and shrunk: the same pixels, checked), against the floor of decoding those
  keyframes once on one thread. Wall and CPU seconds (CPU: the load-independent figure).

    python3 benchmarks/edit.py [--minutes 5,20,80|none] [--shots 2155]
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
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "the-wash-house.fountain"


def sample_sources(project: Path, report: dict):
    """The sample's resolved timeline and its rendered speech, music and effects (cache paths)."""
    from moviola.compiler.api import compile_file
    from moviola.compiler.plan import plan
    from moviola.runtime import timeline as timeline_module
    from moviola.runtime.cache import Cache

    cache = Cache(project / ".moviola" / "cache")
    entries = {job["id"]: cache.get(job["key"]) for job in report["job_list"]}
    render_plan = plan(compile_file(project / SAMPLE.name).film)
    seconds = {i: e.meta["seconds"] for i, e in entries.items() if i.startswith("speech:")}
    line = timeline_module.resolve(render_plan, seconds)
    files = {kind: {i: e.file(f"{kind}.wav") for i, e in entries.items() if i.startswith(f"{kind}:")}
             for kind in ("speech", "music", "sfx")}
    keyframes = [(e.file("keyframe.png"), e.file("thumbnail.png"))
                 for i, e in entries.items() if i.startswith("keyframe:")]
    return line, files, keyframes


def repeated(line, times: int):
    """The timeline played ``times`` times end to end (the same sources, shifted)."""
    from moviola.runtime.timeline import Timeline

    seconds = line.total_frames / line.fps
    cuts, music, sfx = [], [], []
    for n in range(times):
        shift = n * seconds
        for cut in line.cuts:
            cuts.append(replace(cut, id=f"{cut.id}#{n}", start_frame=cut.start_frame + n * line.total_frames,
                                lines=tuple(replace(l, start=l.start + shift) for l in cut.lines)))
        music += [replace(m, start=m.start + shift) for m in line.music]
        sfx += [replace(s, start=s.start + shift) for s in line.sfx]
    return Timeline(line.fps, tuple(cuts), tuple(music), tuple(sfx), line.total_frames * times,
                    {cut.id: cut for cut in cuts})


def child_mix(project: Path, report: dict, minutes: float, out: Path) -> dict:
    from moviola.runtime import mix as mixing

    line, files, _ = sample_sources(project, report)
    times = max(round(minutes * 60 / (line.total_frames / line.fps)), 1)
    film = mixing.FilmMix(repeated(line, times), files["speech"], files["music"], files["sfx"])
    began = time.perf_counter()
    facts = mixing.write_files(film, lambda name: out / name)
    return {"film_seconds": film.seconds, "wall": time.perf_counter() - began, **facts}


def child_sheet(project: Path, report: dict, shots: int, out: Path) -> dict:
    import numpy as np
    from PIL import Image

    from moviola.runtime.contact_sheet import SheetShot, contact_sheet

    _, _, keyframes = sample_sources(project, report)
    chosen = [keyframes[i % len(keyframes)] for i in range(shots)]

    def timed(work) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        return time.perf_counter() - wall, time.process_time() - cpu

    def decode_each(paths) -> None:            # the floor: every file decoded once, one thread
        for path in paths:
            with Image.open(path) as image:
                image.load()

    def sheet(name: str, thumbnails: bool) -> None:
        contact_sheet(out / name, "benchmark", [
            SheetShot(keyframe, thumbnail if thumbnails else None, f"{i // 6 + 1}.{i % 6 + 1}",
                      "medium", i * 4.0, 4.0) for i, (keyframe, thumbnail) in enumerate(chosen)])

    floor = timed(lambda: decode_each(k for k, _ in chosen))
    thumbnail_floor = timed(lambda: decode_each(t for _, t in chosen))
    old = timed(lambda: sheet("old.png", thumbnails=False))
    new = timed(lambda: sheet("new.png", thumbnails=True))
    with Image.open(out / "old.png") as a, Image.open(out / "new.png") as b:
        same = bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return {"floor": floor, "thumbnail_floor": thumbnail_floor, "old": old, "new": new,
            "same_pixels": same}


def run_child(*args: str) -> tuple[dict, float]:
    """(the child's result, its peak RSS in MB)."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                            text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"benchmark child failed:\n{result.stdout}\n{result.stderr}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return data, data.pop("peak_rss_kb") / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="5,20,80")
    parser.add_argument("--shots", type=int, default=2155)
    parser.add_argument("--child", nargs=4, metavar=("WHAT", "PROJECT", "VALUE", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, project, value, out = args.child
        report = json.loads((Path(project) / "report.json").read_text())
        if what == "mix":
            data = child_mix(Path(project), report, float(value), Path(out))
        else:
            data = child_sheet(Path(project), report, int(value), Path(out))
        data["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps(data))
        return

    from moviola.cli import main as moviola

    with tempfile.TemporaryDirectory() as temp:
        project = Path(temp) / "project"
        shutil.copytree(SAMPLE.parent, project, ignore=shutil.ignore_patterns(".moviola", "out"))
        if moviola(["build", str(project / SAMPLE.name), "-o", str(Path(temp) / "film.mp4"),
                    "--report", str(project / "report.json"), "--quiet"]) != 0:
            sys.exit("the sample did not build")
        rows = []
        for minutes in (float(m) for m in args.minutes.split(",") if args.minutes != "none"):
            out = Path(temp) / f"mix-{minutes:g}"
            out.mkdir()
            data, peak = run_child("mix", str(project), str(minutes), str(out))
            rows.append((minutes, data, peak))
            shutil.rmtree(out)
        if rows:
            print("streamed mix (mix + 3 stems as WAV, AAC), each length in its own process:")
            base_peak = rows[0][2]
        for minutes, data, peak in rows:
            print(f"  {data['film_seconds'] / 60:6.1f} min of film: {data['wall']:6.1f} s wall "
                  f"→ {data['film_seconds'] / data['wall']:5.1f}× real time; peak RSS {peak:5.0f} MB "
                  f"({peak / base_peak:.2f}× the shortest); {data['loudness']} LUFS, peak {data['peak']}")
        out = Path(temp) / "sheet"
        out.mkdir()
        data, peak = run_child("sheet", str(project), str(args.shots), str(out))
        old_wall, old_cpu = data["old"]
        new_wall, new_cpu = data["new"]
        floor_wall, floor_cpu = data["floor"]
        print(f"contact sheet of {args.shots} shots (peak RSS {peak:.0f} MB):")
        print(f"  from the thumbnails: {new_wall:.1f} s wall, {new_cpu:.1f} CPU s")
        print(f"  from the keyframes (a cache without thumbnails): {old_wall:.1f} s wall, "
              f"{old_cpu:.1f} CPU s; same pixels: {data['same_pixels']}")
        print(f"  floor, each keyframe decoded once on one thread: {floor_wall:.1f} s wall, "
              f"{floor_cpu:.1f} CPU s; each thumbnail: {data['thumbnail_floor'][0]:.1f} s wall, "
              f"{data['thumbnail_floor'][1]:.1f} CPU s")
        print(f"  thumbnails: {old_cpu / new_cpu:.1f}× less CPU than the keyframes, "
              f"{new_cpu / floor_cpu:.2f}× the keyframe floor's CPU")

if __name__ == "__main__":
    main()
