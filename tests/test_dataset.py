"""`moviola dataset`: each defect of a generated dataset gives exactly its diagnostic."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from moviola.cli import main
from moviola.compiler.api import compile_file
from moviola.compiler.diagnostics import CODES
from moviola.runtime.dataset import check_film, dhash, open_image

SCRIPT = """\
Title: Datasets

[[location LAVOIR: an old stone wash-house on a river bank; refs: refs/lavoir/]]
[[character ODETTE: a washerwoman of thirty-five, blue apron; refs: refs/odette/]]

EXT. LAVOIR - DAY

ODETTE beats a sheet on the stone.

ODETTE
Marie! The basket.
"""


def photo(path: Path, seed: int, size=(640, 512), caption: str | None = "a stone basin",
          **save) -> Path:
    """A distinct smooth picture (random 8×8 colours, upsampled) with its sidecar caption."""
    cells = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(cells).resize(size, Image.Resampling.BICUBIC)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **save)
    if caption is not None:
        path.with_suffix(".txt").write_text(caption, "utf-8")
    return path


def dataset(folder: Path, count: int, start: int = 0) -> None:
    extensions = (".jpg", ".png", ".webp")
    for i in range(count):
        photo(folder / f"photo{i}{extensions[i % 3]}", start + i, caption=f"the wash-house, view {i}")


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "film"
    root.mkdir()
    (root / "film.fountain").write_text(SCRIPT, "utf-8")
    dataset(root / "refs" / "lavoir", 6)
    dataset(root / "refs" / "odette", 5, start=100)
    return root


def checked(project: Path, name: str | None = None):
    result = compile_file(project / "film.fountain")
    assert result.ok, result.diagnostics
    return {r.name: r for r in check_film(result.film, project, name)}


def codes(report) -> list[str]:
    return [d.code for d in report.diagnostics]


def test_clean_datasets_give_no_diagnostics(project):
    reports = checked(project)
    assert list(reports) == ["LAVOIR", "ODETTE"]
    assert codes(reports["LAVOIR"]) == [] and codes(reports["ODETTE"]) == []
    lavoir = reports["LAVOIR"]
    assert lavoir.kind == "location" and lavoir.sources == ("refs/lavoir",)
    assert lavoir.usable == 6
    assert [i.path for i in lavoir.images] == [f"refs/lavoir/photo{i}{e}" for i, e in
                                               enumerate((".jpg", ".png", ".webp") * 2)]
    assert all(i.size == (640, 512) and i.caption.startswith("the wash-house") for i in lavoir.images)


def _truncated(folder: Path) -> str:
    photo(folder / "whole.jpg", 7, caption=None)
    data = (folder / "whole.jpg").read_bytes()
    (folder / "whole.jpg").unlink()
    (folder / "cut.jpg").write_bytes(data[: len(data) * 6 // 10])
    (folder / "cut.txt").write_text("a basin", "utf-8")
    return "refs/lavoir/cut.jpg"


def _not_an_image(folder: Path) -> str:
    (folder / "page.jpg").write_text("<html><body>Sorry, this image was removed</body></html>")
    (folder / "page.txt").write_text("a basin", "utf-8")
    return "refs/lavoir/page.jpg"


def _near_duplicate(folder: Path) -> str:
    with Image.open(folder / "photo1.png") as original:
        smaller = original.convert("RGB").resize((800, 640), Image.Resampling.BILINEAR)
    smaller.save(folder / "photo1b.jpg", quality=60)
    (folder / "photo1b.txt").write_text("the same view", "utf-8")
    return "refs/lavoir/photo1b.jpg"


def _tiny(folder: Path) -> str:
    photo(folder / "thumb.png", 8, size=(96, 64))
    return "refs/lavoir/thumb.png"


def _rotated(folder: Path) -> str:
    exif = Image.Exif()
    exif[0x0112] = 6                    # stored sideways: turn 90° clockwise to view
    photo(folder / "phone.jpg", 9, size=(640, 520), exif=exif)
    return "refs/lavoir/phone.jpg"


def _uncaptioned(folder: Path) -> str:
    photo(folder / "bare.png", 10, caption=None)
    return "refs/lavoir/bare.png"


def _ignored(folder: Path) -> str:
    (folder / "IMG_0001.heic").write_bytes(b"\0\0\0\x18ftypheic")
    return "refs/lavoir/IMG_0001.heic"


@pytest.mark.parametrize("defect, code", [
    (_truncated, "E703"), (_not_an_image, "E702"), (_near_duplicate, "W704"), (_tiny, "W705"),
    (_rotated, "W706"), (_uncaptioned, "W707"), (_ignored, "W708"),
])
def test_each_defect_gives_exactly_its_diagnostic(project, defect, code):
    culprit = defect(project / "refs" / "lavoir")
    reports = checked(project)
    lavoir = reports["LAVOIR"]
    assert codes(lavoir) == [code]
    diagnostic = lavoir.diagnostics[0]
    assert diagnostic.message.startswith(culprit)
    assert diagnostic.severity is CODES[code].severity
    # the caret goes under the refs: path of the declaration
    assert (diagnostic.span.line, diagnostic.span.col) == (3, 67)
    assert codes(reports["ODETTE"]) == []           # the other dataset is untouched
    if code != "W708":
        assert culprit in {i.path for i in lavoir.images if code in i.problems}


def test_near_duplicate_names_its_twin_and_does_not_count(project):
    _near_duplicate(project / "refs" / "lavoir")
    lavoir = checked(project)["LAVOIR"]
    assert lavoir.diagnostics[0].message.endswith("is a near-duplicate of refs/lavoir/photo1.png")
    assert len(lavoir.images) == 7 and lavoir.usable == 6
    with Image.open(project / "refs/lavoir/photo1.png") as a, Image.open(project / "refs/lavoir/photo2.webp") as b:
        assert bin(dhash(a) ^ dhash(b)).count("1") > 12        # distinct photos are far apart


def test_rotated_photo_is_measured_and_loaded_upright(project):
    culprit = _rotated(project / "refs" / "lavoir")
    image = next(i for i in checked(project)["LAVOIR"].images if i.path == culprit)
    assert image.orientation == 6 and image.size == (520, 640)
    assert open_image(project / culprit).size == (520, 640)


def test_model_backends_read_reference_photos_upright(project):
    from moviola.runtime.backends.diffusers_base import open_rgb

    culprit = _rotated(project / "refs" / "lavoir")
    assert open_rgb(project / culprit).size == (520, 640)


def test_too_few_images_is_an_error_that_counts_only_usable_ones(project):
    folder = project / "refs" / "odette"
    for leftover in sorted(folder.iterdir())[6:]:      # photo3, photo4 and their captions
        leftover.unlink()
    odette = checked(project, "ODETTE")["ODETTE"]
    assert codes(odette) == ["E701"]
    assert "3 usable images" in odette.diagnostics[0].message
    assert odette.diagnostics[0].span.line == 4
    # a damaged file does not make up the number
    _not_an_image(folder)
    odette = checked(project, "ODETTE")["ODETTE"]
    assert codes(odette) == ["E702", "E701"]
    assert "3 usable images (4 files, 1 unreadable or repeated)" in odette.diagnostics[1].message


def test_a_declaration_without_refs_has_no_dataset(project):
    script = project / "film.fountain"
    script.write_text(SCRIPT.replace("; refs: refs/odette/", ""), "utf-8")
    assert list(checked(project)) == ["LAVOIR"]
    odette = checked(project, "ODETTE")["ODETTE"]
    assert codes(odette) == ["E701"] and "declares no refs:" in odette.diagnostics[0].message


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_a_link_out_of_the_project_is_refused_and_not_read(project, tmp_path):
    outside = photo(tmp_path / "elsewhere" / "secret.png", 11)
    (project / "refs" / "lavoir" / "link.png").symlink_to(outside)
    lavoir = checked(project)["LAVOIR"]
    assert codes(lavoir) == ["E402"]
    assert lavoir.diagnostics[0].message == "refs/lavoir/link.png points outside the project folder"
    assert next(i for i in lavoir.images if i.path == "refs/lavoir/link.png").size is None
    (project / "refs" / "lavoir" / "link.png").unlink()
    (project / "refs" / "lavoir" / "gone.png").symlink_to(project / "nowhere.png")
    lavoir = checked(project)["LAVOIR"]
    assert [(d.code, d.message) for d in lavoir.diagnostics] == [("E401", "file not found: refs/lavoir/gone.png")]


# --- the command -------------------------------------------------------------------------------

def run(capsys, *argv) -> tuple[int, str]:
    code = main(["dataset", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_cli_clean_datasets_exit_0_with_a_table_each(project, capsys):
    code, out = run(capsys, project / "film.fountain")
    assert code == 0
    assert "location LAVOIR: refs/lavoir" in out and "character ODETTE: refs/odette" in out
    assert "refs/lavoir/photo5.webp" in out and "640×512" in out
    assert "6 usable of 6 images; no problems" in out


def test_cli_broken_dataset_exits_1_with_the_check_renderer(project, capsys):
    _truncated(project / "refs" / "lavoir")
    script = project / "film.fountain"
    code, out = run(capsys, script, "LAVOIR")
    assert code == 1
    assert f"{script}:3:67: error[E703]: refs/lavoir/cut.jpg is damaged" in out
    assert "^^^^^^^^^^^^" in out and "help:" in out
    assert "ODETTE" not in out.split("\n", 1)[1]         # only the named dataset
    code, out = run(capsys, script, "--format", "json")
    data = json.loads(out)
    assert [(d["name"], d["usable"]) for d in data] == [("LAVOIR", 6), ("ODETTE", 5)]
    assert [x["code"] for x in data[0]["diagnostics"]] == ["E703"] and code == 1


def test_report_golden(project, capsys, monkeypatch, golden):
    """Every dataset code, as `moviola dataset` prints it (tests/golden/dataset.diag)."""
    folder = project / "refs" / "lavoir"
    for defect in (_truncated, _not_an_image, _near_duplicate, _tiny, _rotated, _uncaptioned, _ignored):
        defect(folder)
    for leftover in sorted((project / "refs" / "odette").iterdir())[6:]:
        leftover.unlink()
    monkeypatch.chdir(project)
    code, out = run(capsys, "film.fountain")
    assert code == 1
    golden(Path(__file__).parent / "golden" / "dataset.diag", out)


def test_cli_warnings_only_exit_0(project, capsys):
    _uncaptioned(project / "refs" / "lavoir")
    code, out = run(capsys, project / "film.fountain", "--format", "concise")
    assert code == 0 and out.count("warning[W707]") == 1


def test_cli_thresholds_are_options(project, capsys):
    assert run(capsys, project / "film.fountain", "--min-images", "7")[0] == 1
    code, out = run(capsys, project / "film.fountain", "--resolution", "600", "--format", "concise")
    assert code == 0 and out.count("W705") == 11


def test_cli_unknown_name_is_a_usage_error(project, capsys):
    code, out = run(capsys, project / "film.fountain", "ODETE")
    assert code == 2 and "did you mean ODETTE?" in out
    code, out = run(capsys, project / "film.fountain", "--min-images", "0")
    assert code == 2 and "positive whole number" in out


def test_cli_refuses_a_folder_outside_the_project(project, tmp_path, capsys):
    dataset(tmp_path / "outside", 5)
    script = project / "film.fountain"
    script.write_text(SCRIPT.replace("refs: refs/lavoir/", "refs: ../outside/"), "utf-8")
    code, out = run(capsys, script)
    assert code == 1
    assert "error[E402]: path '../outside/' leaves the project folder" in out
    assert "usable" not in out                           # nothing was read


def test_new_codes_are_explained(capsys):
    for code in ("E701", "E702", "E703", "W704", "W705", "W706", "W707", "W708"):
        assert main(["check", "--explain", code]) == 0
        assert code in capsys.readouterr().out
    docs = (Path(__file__).parents[1] / "docs" / "diagnostics.md").read_text("utf-8")
    assert "## E703 `damaged-image` (error)" in docs
