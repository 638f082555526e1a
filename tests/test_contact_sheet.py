"""The storyboard contact sheet (runtime/contact_sheet.py): every shot's keyframe in its cell,
drawn from the thumbnail its keyframe job wrote, and the same pixels from a cache entry made
before keyframes had thumbnails."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from moviola.compiler.api import compile_file
from moviola.compiler.plan import film_ref, plan_in_project
from moviola.runtime.build import Build
from moviola.runtime.contact_sheet import COLUMNS, THUMB, SheetShot, contact_sheet, fit

STORY = """Title: Sheet Test

EXT. GARDEN - DAY

[[shot: wide, 2s]]
Rain on the roses.

INT. KITCHEN - NIGHT

[[shot: close-up, 2s]]
A kettle boils.

[[shot: insert, 2s]]
Steam on the window.
"""

# the sheet's layout (contact_sheet): a margin, a title band, then cells with a caption below
PAD, HEADER, CAPTION = 12, 56, 34


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The story built under draft: (build, the installed storyboard PNG)."""
    project = tmp_path_factory.mktemp("sheet")
    script = project / "film.fountain"
    script.write_text(STORY, "utf-8")
    build = Build(plan_in_project(compile_file(script).film, project), project)
    output = project / "out" / "film.mp4"
    build.run(output, workers=1)
    return build, output.with_name("film.storyboard.png")


def keyframes(build) -> list:
    return [build.entry(job.ref) for job in build.plan.jobs if job.kind == "keyframe"]


def test_each_keyframe_job_writes_its_keyframe_fitted_to_the_sheets_cell(built):
    build, _ = built
    entries = keyframes(build)
    assert len(entries) == len(build.plan.cuts) == 4          # the title card and three shots
    for entry in entries:
        with Image.open(entry.file("keyframe.png")) as keyframe:
            expected = np.asarray(fit(keyframe))
        thumbnail = pixels(entry.file("thumbnail.png"))
        assert thumbnail.shape[1] <= THUMB[0] and thumbnail.shape[0] <= THUMB[1]
        assert max(thumbnail.shape[1] / THUMB[0], thumbnail.shape[0] / THUMB[1]) > 0.98
        assert np.array_equal(thumbnail, expected)
    # three different shots, three different pictures
    first, second, third = (pixels(e.file("thumbnail.png")).astype(int) for e in entries[1:])
    assert np.abs(first - second).mean() > 1 and np.abs(second - third).mean() > 1


def cell(sheet: np.ndarray, index: int, thumbnail: np.ndarray) -> np.ndarray:
    """The part of ``sheet`` where shot ``index``'s picture (of ``thumbnail``'s size) is drawn."""
    height, width = thumbnail.shape[:2]
    row, column = divmod(index, COLUMNS)
    x = PAD + column * (THUMB[0] + PAD) + (THUMB[0] - width) // 2
    y = HEADER + row * (THUMB[1] + CAPTION + PAD) + (THUMB[1] - height) // 2
    return sheet[y:y + height, x:x + width]


def test_the_sheet_shows_each_shots_keyframe_in_its_cell(built):
    build, sheet_path = built
    sheet = pixels(sheet_path)
    for index, entry in enumerate(keyframes(build)):
        thumbnail = pixels(entry.file("thumbnail.png"))
        assert np.array_equal(cell(sheet, index, thumbnail), thumbnail), index


def test_a_long_sheet_row_by_row_and_an_entry_without_a_thumbnail(built, tmp_path):
    """Three rows of shots (the sheet is written a row at a time): every cell is its shot's
    picture; and a cache made before keyframes had thumbnails (the sheet shrinks the keyframes
    itself) gives the same pixels."""
    build, _ = built
    entries = keyframes(build)
    order = [entries[n % len(entries)] for n in range(2 * COLUMNS + 1)]
    with_thumbnails = [SheetShot(e.file("keyframe.png"), e.file("thumbnail.png"), f"1.{n}", "wide",
                                 2.0 * n, 2.0) for n, e in enumerate(order)]
    without = [SheetShot(s.image, None, s.label, s.size, s.start, s.seconds) for s in with_thumbnails]
    contact_sheet(tmp_path / "new.png", "Sheet Test", with_thumbnails)
    contact_sheet(tmp_path / "old.png", "Sheet Test", without)
    sheet = pixels(tmp_path / "new.png")
    assert sheet.shape[0] == HEADER + 3 * (THUMB[1] + CAPTION + PAD)
    for index, entry in enumerate(order):
        thumbnail = pixels(entry.file("thumbnail.png"))
        assert np.array_equal(cell(sheet, index, thumbnail), thumbnail), index
    assert np.array_equal(sheet, pixels(tmp_path / "old.png"))
    assert build.entry(film_ref("contact_sheet")).meta["shots"] == len(entries)
