"""The incremental session (what the language server checks each edit with) gives exactly what
`moviola check` gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moviola.compiler.api import Session, Stale, compile_text

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

LINES = [
    "", "", "", "  ", " ",
    "Title: A Test", "Author: Someone", "Resolution: 1280x72", "Profile: drfat",
    "INT. KITCHEN - DAY", "EXT. GARDEN / SHED - NIGHT", "INT. HALL - DAY", "int. kitchen - day",
    ".FORCED HEADING", "EXT. NOWHERE",
    "MARIE", "MARIE (V.O.)", "JULIE ^", "ROSE", "@McCLANE", "BOB (CONT'D)",
    "It was here.", "(whispering)", "~A song line", "Marie walks in. JULIE follows.",
    "[[location KITCHEN: a kitchen; refs: refs/]]", "[[location GARDEN: a garden]]",
    "[[character MARIE: a woman; voice: voices/marie.wav]]", "[[character JULIE: a girl]]",
    "[[character MARIE: again]]", "[[theme RIVER: piano, 70 bpm]]", "[[theme RIVER: cello]]",
    "[[shot: wide, 4s]]", "[[shot: wdie, 7x]]", "[[shot: close-up; from: refs/table.png]]",
    "[[shot: medium; from: refs/missing.png]]", "[[music: RIVER, fade in 2s]]", "[[music: RIVR]]",
    "[[music: stop]]", "[[sfx: a door, 2s]]", "[[voice: whispering; from: takes/a.wav]]",
    "[[shoot: wide]]", "[[Plain note]]", "[[shot: wide", "4s]]", "[[unclosed",
    "/*", "*/", "/* boneyard */", "# ACT ONE", "## Sequence", "= synopsis", "===",
    "CUT TO:", "> FADE OUT.", ">THE END<", "FADE IN:", "Café 😀 au lait [[shot: 7x]]",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "refs").mkdir()
    (root / "refs" / "table.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "voices").mkdir()
    (root / "voices" / "marie.wav").write_bytes(b"RIFF")
    return root


def expected(text: str, project: Path):
    return compile_text(text, "film.fountain", project).diagnostics


@pytest.mark.parametrize("name", ["the-wash-house.fountain", "the-night-ferry.fountain"])
def test_samples_give_what_moviola_check_gives(name):
    text = (SAMPLES / name).read_text("utf-8")
    checker = Session(str(SAMPLES / name), SAMPLES.resolve())
    assert checker.check(text) == compile_text(text, str(SAMPLES / name), SAMPLES.resolve()).diagnostics
    assert checker.chunks > 5


def test_a_long_script_with_edits_rechecks_one_chunk(project):
    text = "\n\n".join((SAMPLES / name).read_text("utf-8") for name in
                       ("the-wash-house.fountain", "the-night-ferry.fountain") * 3)
    checker = Session("film.fountain", SAMPLES.resolve())
    assert checker.check(text) == compile_text(text, "film.fountain", SAMPLES.resolve()).diagnostics
    lines = text.split("\n")
    for number, edit in ((40, "[[shot: wdie]]"), (41, ""), (500, "ROSE"), (3, "[[character ROSE: x]]")):
        lines.insert(number, edit)
        edited = "\n".join(lines)
        assert checker.check(edited) == compile_text(edited, "film.fountain", SAMPLES.resolve()).diagnostics
    lines[700] += " more"
    assert checker.check("\n".join(lines)) is not None
    assert checker.rechecked == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(LINES), min_size=1, max_size=60),
       st.lists(st.tuples(st.integers(0, 80), st.integers(0, 2), st.sampled_from(LINES + ["x", "\n", ""])),
                max_size=6))
def test_random_scripts_and_edits_give_what_moviola_check_gives(project, lines, edits):
    checker = Session("film.fountain", project)
    assert checker.check("\n".join(lines)) == expected("\n".join(lines), project)
    for at, removed, inserted in edits:
        at = min(at, len(lines))
        lines[at:at + removed] = inserted.split("\n") if inserted else []
        text = "\n".join(lines)
        assert checker.check(text) == expected(text, project)


def test_files_that_appear_are_noticed_without_an_edit(tmp_path):
    text = "[[character MARIE: a woman; voice: voices/new.wav]]\n\nINT. HALL - DAY\n\nMARIE\nHi.\n"
    checker = Session("film.fountain", tmp_path)
    assert [d.code for d in checker.check(text)] == ["E401"]
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "new.wav").write_bytes(b"RIFF")
    assert checker.check(text) == () == expected(text, tmp_path)


def test_a_newer_version_stops_the_check():
    checker = Session()
    with pytest.raises(Stale):
        checker.check("INT. A - DAY\n\nHi.\n", stale=lambda: True)
