"""`moviola report`: breakdown, shot list and cast list checked against the samples' text, their
CSV and JSON read back, and the storyboard sheet of a real (tiny) build."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pypdf
import pytest

from moviola.cli import main
from moviola.compiler import timing
from moviola.compiler.api import compile_file
from moviola.compiler.decoupage import decoupage
from moviola.documents import report
from moviola.documents.pagination import paginate

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
NAMES = ["the-wash-house", "the-night-ferry"]


def _compiled(name: str):
    return compile_file(SAMPLES / f"{name}.fountain")


def _scenes_of_script(script):
    """The script's elements grouped by scene heading, read straight from the element stream."""
    scenes: list[tuple[str, list]] = []
    for element in script.elements:
        if element.kind == "scene_heading":
            scenes.append((element.plain, []))
        elif scenes:
            scenes[-1][1].append(element)
    return scenes


@pytest.mark.parametrize("name", NAMES)
def test_scene_cast_is_who_speaks_or_is_named_in_the_action(name):
    compiled = _compiled(name)
    film = compiled.film
    rows = report.breakdown(compiled, paginate(compiled.script)).rows
    by_heading = {row["heading"]: row for row in rows}
    names = {c.name.upper() for c in film.characters} | {
        e.name.upper() for e in compiled.script.elements if e.kind == "character"}
    mention = re.compile(r"(?<!\w)(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
                         + r")(?!\w)", re.IGNORECASE)
    checked = 0
    for heading, elements in _scenes_of_script(compiled.script):
        expected = {e.name.upper() for e in elements if e.kind == "character"}
        for element in elements:
            if element.kind == "action":
                expected |= {m.group(1).upper() for m in mention.finditer(element.plain)}
        assert {n.upper() for n in by_heading[heading]["cast"]} == expected, heading
        checked += 1
    assert checked == len([r for r in rows if r["heading"] != "(before the first scene)"])


def test_props_are_upper_case_words_of_the_action_without_names_or_heading_words():
    compiled = _compiled("the-wash-house")
    rows = report.breakdown(compiled, paginate(compiled.script)).rows
    scene_two = next(r for r in rows if r["heading"] == "EXT. WASH-HOUSE - MORNING")
    assert "RECORD" in scene_two["props"]            # "Julie's thumb presses RECORD."
    names = {c.name for c in compiled.film.characters}
    for row in rows:
        heading_words = set(row["heading"].split())
        for prop in row["props"]:
            assert prop not in names and not set(prop.split()) & heading_words, (row["scene"], prop)
            assert prop == prop.upper()


def test_sfx_and_music_come_from_the_scenes_directives():
    compiled = _compiled("the-wash-house")
    rows = report.breakdown(compiled, paginate(compiled.script)).rows
    for (heading, elements), row in zip(_scenes_of_script(compiled.script), rows):
        notes = [e.text for e in elements if e.kind == "note"]
        sfx_notes = [n for n in notes if n.startswith("sfx:")]
        music_notes = [n for n in notes if n.startswith("music:")]
        assert len(row["sfx"]) == len(sfx_notes), heading
        for sound, note in zip(row["sfx"], sfx_notes):
            assert sound in " ".join(note.split())
        assert row["music"] == [n.split(":", 1)[1].split(",")[0].split(";")[0].strip()
                                for n in music_notes], heading
    assert rows[0]["music"] == ["RIVER"] and rows[0]["location"] == "RIVER PATH" and rows[0]["time"] == "DAWN"


@pytest.mark.parametrize("name", NAMES)
def test_pages_in_eighths_add_up_to_the_printed_script(name):
    compiled = _compiled(name)
    document = paginate(compiled.script)
    rows = report.breakdown(compiled, document).rows
    headed = [r for r in rows if r["page"] is not None]
    assert all(r["eighths"] >= 1 for r in headed)
    total = sum(r["eighths"] for r in headed)
    assert abs(total - 8 * document.page_count) <= 8, (total, document.page_count)
    for row in headed:                          # each scene starts on the page that prints its heading
        page = document.pages[row["page"] - 1]
        assert any(l.kind == "scene_heading" and l.text == row["heading"] for l in page.lines)
    assert sum(r["seconds"] for r in rows) == pytest.approx(timing.film_seconds(compiled.film), abs=0.5)


def test_eighths_are_written_as_production_writes_them():
    assert [report.eighths(n) for n in (1, 8, 11, 16)] == ["1/8", "1", "1 3/8", "2"]


def test_shot_list_reads_the_decoupage():
    compiled = _compiled("the-wash-house")
    rows = report.shot_list(compiled).rows
    cuts = decoupage(compiled.film)
    assert [r["shot"] for r in rows] == [c.label for c in cuts]
    first = next(r for r in rows if r["line"] == 35)      # [[shot: extreme wide, static, 6s]]
    assert (first["size"], first["move"], first["duration"]) == ("extreme wide", "static", 6.0)
    assert "Mist lies on a slow green river" in first["prompt"] and "35mm film" in first["prompt"]
    sourced = next(r for r in rows if r["line"] == 87)    # ...; from: refs/lavoir/basin.png
    assert sourced["source"] == "refs/lavoir/basin.png" and sourced["move"] == "slow push in"
    angles = [r for r in rows if r["angle"]]
    assert all(r["angle"] in ("over the shoulder", "pov", "aerial") and not r["size"] for r in angles)
    pov = next(r for r in rows if r["line"] == 68)        # [[shot: pov, slow push in, 7s]]
    assert pov["angle"] == "pov"


@pytest.mark.parametrize("name", NAMES)
def test_cast_list_counts_each_characters_lines_and_scenes(name):
    compiled = _compiled(name)
    rows = {r["character"]: r for r in report.cast_list(compiled).rows}
    elements = compiled.script.elements
    speeches: dict[str, int] = {}
    speaker = None
    for element in elements:
        if element.kind == "character":
            speaker = element.name.upper()
        elif element.kind == "dialogue" and speaker:
            speeches[speaker] = speeches.get(speaker, 0) + 1
        elif element.kind not in ("parenthetical", "note"):
            speaker = None
    assert {n.upper(): r["lines"] for n, r in rows.items() if r["lines"]} == speeches
    breakdown = report.breakdown(compiled, paginate(compiled.script)).rows
    for name_, row in rows.items():
        assert row["scenes"] == [b["scene"] for b in breakdown if name_ in b["cast"]]


@pytest.mark.parametrize("kind", ["breakdown", "shots", "cast"])
def test_csv_and_json_read_back(kind, tmp_path, capsys):
    script = str(SAMPLES / "the-wash-house.fountain")
    assert main(["report", script, f"--{kind}", "-o", str(tmp_path / "r.json")]) == 0
    data = json.loads((tmp_path / "r.json").read_text("utf-8"))
    capsys.readouterr()
    assert main(["report", script, f"--{kind}", "--format", "csv"]) == 0
    read = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert data["report"] == kind and len(read) == len(data["rows"]) > 0
    for from_csv, from_json in zip(read, data["rows"]):
        assert list(from_csv) == list(from_json)
        for key, value in from_json.items():
            expected = "; ".join(map(str, value)) if isinstance(value, list) else value
            if isinstance(value, float):
                expected = f"{value:g}"
            assert from_csv[key] == ("" if expected is None else str(expected)), (key, value)


def test_report_table_in_the_terminal(capsys):
    assert main(["report", str(SAMPLES / "the-night-ferry.fountain"), "--cast"]) == 0
    out = capsys.readouterr().out
    cast = report.cast_list(_compiled("the-night-ferry")).rows
    assert all(row["character"] in out for row in cast)


def test_report_usage_errors(tmp_path, capsys):
    script = str(SAMPLES / "the-night-ferry.fountain")
    assert main(["report", script]) == 2                               # which report?
    assert main(["report", script, "--cast", "-o", str(tmp_path / "cast.txt")]) == 2
    assert "csv or .json" in capsys.readouterr().err
    assert main(["report", script, "--cast", "--format", "table", "-o", str(tmp_path / "c")]) == 2


STORY = """Title: Board Test

EXT. GARDEN - DAY

[[shot: wide, 2s]]
Rain on the roses.

MARIE
It never stops.

INT. KITCHEN - NIGHT

[[shot: close-up, 2s]]
A kettle boils.
"""


def test_storyboard_needs_a_build_then_shows_its_keyframes(tmp_path, capsys):
    script = tmp_path / "film.fountain"
    script.write_text(STORY, "utf-8")
    board = tmp_path / "board.pdf"
    assert main(["report", str(script), "--storyboard", "-o", str(board)]) == 1
    assert "has not been built" in capsys.readouterr().err and not board.exists()

    assert main(["build", str(script), "-o", str(tmp_path / "out" / "film.mp4"), "--quiet", "-j", "1"]) == 0
    assert main(["report", str(script), "--storyboard", "-o", str(board)]) == 0
    pages = pypdf.PdfReader(board).pages
    texts = [page.extract_text() for page in pages]
    assert len(pages) == 3                            # the title card, then a sheet per scene
    assert "1. EXT. GARDEN - DAY" in texts[1] and "Rain on the roses." in texts[1]
    assert "2. INT. KITCHEN - NIGHT" in texts[2] and "close-up" in texts[2]
    for page in pages:
        assert len(page.images) >= 1

    script.write_text(STORY.replace("A kettle boils.", "A kettle sings."), "utf-8")
    assert main(["report", str(script), "--storyboard", "-o", str(board)]) == 1   # changed since
    assert "has not been built" in capsys.readouterr().err


def test_breakdown_numbers_scenes_as_the_printed_script_does():
    from moviola.compiler.api import compile_text

    compiled = compile_text("Opening words.\n\nINT. A - DAY #7A#\n\nOne.\n\nEXT. B - NIGHT\n\nTwo.\n")
    document = paginate(compiled.script, scene_numbers=True)
    rows = report.breakdown(compiled, document).rows
    printed = [l.text for p in document.pages for l in p.lines if l.kind == "scene_number" and l.column < 0]
    headed = [r for r in rows if r["number"]]
    assert [r["number"] for r in headed] == printed == ["7A", "2"]
    assert [r["scene"] for r in rows] == [s.index for s in compiled.film.scenes]
