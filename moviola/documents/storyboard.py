"""A storyboard sheet per scene, as PDF, from the keyframes a build rendered.

The keyframes are read from the build's cache: the executor's dry run resolves each keyframe
job's content key exactly as the build did, so a sheet always shows the pictures of the script
as it is now, and a film that has not been built (or has changed since) is a clear error, not a
sheet of stale or missing frames.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from moviola.compiler.decoupage import Cut
from moviola.compiler.inline import Run
from moviola.compiler.plan import JobRef, RenderPlan
from moviola.runtime.backends.protocol import artifact_of

from .files import write_file
from .pagination import wrap
from .pdf import PdfError, draw_runs

_COLUMNS, _ROWS = 3, 3
_MARGIN = 36.0


class NotBuilt(Exception):
    """The film's keyframes are not (all) in the cache: it has not been built as it is now."""


@dataclass(frozen=True, slots=True)
class Frame:
    cut: Cut
    image: Path


def keyframes(plan: RenderPlan, states: dict[str, str], entry) -> list[Frame]:
    """Each cut's rendered keyframe, from a dry run's ``states`` and ``entry`` (a job ref → its
    finished cache entry)."""
    jobs = {job.ref: job for job in plan.jobs if job.kind == "keyframe"}
    missing = [ref for ref in jobs if states.get(str(ref)) != "cached"]
    if missing or not jobs:
        raise NotBuilt(f"{len(missing)} of {len(jobs)} keyframes are not rendered")
    frames = []
    for cut in plan.cuts:
        ref = JobRef("keyframe", cut.id)
        if ref in jobs:
            frames.append(Frame(cut, entry(ref).file(artifact_of("keyframe", "keyframe").file)))
    return frames


def write_storyboard(plan: RenderPlan, frames: list[Frame], path: str | Path, paper=None) -> Path:
    """One landscape sheet (or more) per scene: the heading, then each shot's keyframe with its
    number, framing, timing and the first words of what happens."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas

    from .pagination import PAPERS

    paper = paper or PAPERS["letter"]
    width, height = paper.height, paper.width            # landscape
    scenes = {scene.index: scene for scene in plan.film.scenes}
    by_scene: dict[int, list[Frame]] = {}
    for frame in frames:
        by_scene.setdefault(frame.cut.scene_index, []).append(frame)
    cell_w = (width - 2 * _MARGIN) / _COLUMNS
    cell_h = (height - 2 * _MARGIN - 30) / _ROWS
    buffer = io.BytesIO()
    try:
        canvas = Canvas(buffer, pagesize=(width, height), pageCompression=1, invariant=1)
        canvas.setTitle(f"{plan.film.settings.title or Path(plan.film.path).stem}: storyboard")
        canvas.setCreator("Moviola")
        for index, scene_frames in by_scene.items():
            scene = scenes.get(index)
            heading = (scene.heading if scene and scene.heading else
                       "Title" if index == 0 else "(before the first scene)")
            per_sheet = _COLUMNS * _ROWS
            for start in range(0, len(scene_frames), per_sheet):
                label = f"{index}. {heading}" if index else heading
                draw_runs(canvas, _MARGIN, height - _MARGIN - 12, [Run(label, bold=True)])
                for number, frame in enumerate(scene_frames[start:start + per_sheet]):
                    row, column = divmod(number, _COLUMNS)
                    x = _MARGIN + column * cell_w
                    top = height - _MARGIN - 30 - row * cell_h
                    _draw_frame(canvas, ImageReader, frame, x, top, cell_w - 12, cell_h - 8)
                canvas.showPage()
        canvas.save()
    except OSError as error:                 # a keyframe the cache lost since the dry run
        raise PdfError(f"cannot read a keyframe of the build: {error.strerror or error}") from None
    try:
        return write_file(path, buffer.getvalue(), overwrite=True, parents=False)
    except OSError as error:
        raise PdfError(f"cannot write {path}: {error.strerror or error}") from None


def _draw_frame(canvas, image_reader, frame: Frame, x: float, top: float, w: float, h: float) -> None:
    cut = frame.cut
    picture = image_reader(str(frame.image))
    pw, ph = picture.getSize()
    box_h = h - 40
    scale = min(w / pw, box_h / ph)
    canvas.drawImage(picture, x, top - ph * scale, pw * scale, ph * scale)
    canvas.setLineWidth(0.5)
    canvas.rect(x, top - ph * scale, pw * scale, ph * scale)
    caption_y = top - ph * scale - 11
    move = "" if str(cut.move) == "static" else f", {cut.move}"
    draw_runs(canvas, x, caption_y, [Run(f"{cut.label}  {cut.size.value}{move}  "
                                         f"{cut.estimated_seconds:.1f}s", bold=True)], 9)
    text = " ".join((cut.card or cut.description or
                     (f"{cut.lines[0].character}: {cut.lines[0].text}" if cut.lines else "")).split())
    for number, row in enumerate(wrap([Run(text)], int(w / 4.8))[:2]):
        draw_runs(canvas, x, caption_y - 10 * (number + 1), row, 8)
