"""FDX (Final Draft) export and import, and the Fountain writer behind import.

The round trips compare element streams: every element's kind, plain text, emphasis runs, scene
number, cue name and extensions, dual flag, section depth and note placement, in order (source
lines move, and forcing marks are only written where needed). The corpus is the conformance
corpus shared beside the project; the samples and golden scripts carry Moviola's annotations.
"""

from __future__ import annotations

import dataclasses

import re
from pathlib import Path

import pytest

from moviola import cli
from moviola.compiler import inline
from moviola.compiler.api import compile_text
from moviola.compiler.fountain import parse
from moviola.compiler.plan import plan
from moviola.documents import fdx, fountain_writer

ROOT = Path(__file__).parents[1]
CORPUS = next((folder / "shared" / "fountain-corpus" for folder in Path(__file__).parents
               if (folder / "shared" / "fountain-corpus").is_dir()), None)
needs_corpus = pytest.mark.skipif(CORPUS is None, reason="no Fountain corpus beside the project")

OWN_SCRIPTS = sorted(ROOT.glob("samples/*.fountain")) + sorted(ROOT.glob("tests/golden/*.fountain"))
CORPUS_SCRIPTS = sorted(CORPUS.rglob("*.fountain")) if CORPUS else []
CORPUS_FDX = sorted(CORPUS.rglob("*.fdx")) if CORPUS else []


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def stream(script) -> list[dict]:
    out = []
    for element in script.elements:
        item = element.to_json()
        for key in ("line", "span", "forced"):
            item.pop(key, None)
        out.append(item)
    return out


def title_page(script) -> list[tuple]:
    return [(field.key, fountain_writer._styles_of(inline.runs(field.value), keep_spaces=True))
            for field in script.title_page]


def fdx_round_trip(text: str):
    original = parse(text)
    return original, parse(fdx.import_fdx(fdx.export(original)))


def name(path: Path) -> str:
    return str(path.relative_to(CORPUS)) if CORPUS and CORPUS in path.parents else path.name


@pytest.mark.parametrize("path", OWN_SCRIPTS + CORPUS_SCRIPTS, ids=name)
def test_fdx_round_trip_keeps_the_element_stream(path):
    original, back = fdx_round_trip(read(path))
    assert stream(back) == stream(original)
    assert title_page(back) == title_page(original)
    # nothing new goes wrong (boneyard, and with it an unclosed one, is left out by the parser)
    assert {d.code for d in back.diagnostics} <= {d.code for d in original.diagnostics}


@pytest.mark.parametrize("path", OWN_SCRIPTS + CORPUS_SCRIPTS, ids=name)
def test_fountain_writer_round_trip(path):
    original = parse(read(path))
    again = parse(fountain_writer.from_script(original))
    assert stream(again) == stream(original)


def test_corpus_has_the_files_the_tests_expect():
    if CORPUS is None:
        pytest.skip("no corpus")
    assert len(CORPUS_FDX) == 21
    assert len(CORPUS_SCRIPTS) > 60


# Where a twin's FDX was written by a tool that leaves something out, what it leaves out. Each
# entry must be needed: the comparison without it fails.
PRODUCER_LIMITS = {
    "screenplain/examples/Big-Fish.fdx": ({"page_break"}, False, "screenplain writes no page breaks"),
    "screenplain/examples/The-Last-Birthday-Card.fdx":
        ({"section", "synopsis"}, False, "screenplain writes no sections or synopses"),
    **{f"fountain-tools/tests/TestFDX-FD-Write-{port}.fdx":
       (set(), True, "the fountain-tools writers leave out scene numbers")
       for port in ("py", "js", "csharp", "cpp")},
}


def twin_of(path: Path) -> Path:
    twin = path.with_suffix(".fountain")
    if not twin.exists():
        twin = path.parent / (re.sub(r"-Write-\w+$", "", path.stem) + ".fountain")
    return twin


def structure(script, drop=frozenset(), numbers=True) -> list[tuple]:
    # Twins are compared on what both tools say (the corpus README: structure, not exact text);
    # a note's placement inline or on its own line is each tool's choice.
    return [(e.kind, e.plain if e.kind != "note" else e.text, e.scene_number if numbers else None,
             e.dual, e.name, e.extensions, e.depth)
            for e in script.elements if e.kind not in drop]


@needs_corpus
@pytest.mark.parametrize("path", CORPUS_FDX, ids=name)
def test_import_of_corpus_fdx_matches_its_fountain_twin(path):
    text = fdx.import_fdx(path.read_bytes(), str(path))
    imported = parse(text)
    assert imported.elements and not imported.diagnostics
    twin = twin_of(path)
    assert twin.exists(), f"every FDX in the corpus has a Fountain twin; none for {path}"
    expected = parse(read(twin).lstrip("\ufeff"))
    drop, no_numbers, reason = PRODUCER_LIMITS.get(name(path), (set(), False, ""))
    assert structure(imported, drop, not no_numbers) == structure(expected, drop, not no_numbers)
    if reason:      # the limit is real: without it the streams differ
        assert structure(imported) != structure(expected), f"stale limit: {reason}"
    # and the imported script survives our own round trip
    original, back = fdx_round_trip(text)
    assert stream(back) == stream(original)


@needs_corpus
def test_final_draft_title_page_and_scene_numbers_are_read():
    text = fdx.import_fdx((CORPUS / "fountain-tools/tests/TestFDX-FD.fdx").read_bytes())
    script = parse(text)
    fields = {field.key: field.value for field in script.title_page}
    assert fields["Title"] == "_FDX Test Script_"           # underlined in Final Draft
    assert fields["Credit"] == "Written by"
    assert fields["Author"] == "Ian"
    assert "Copyright (c) 2026" in fields["Contact"]
    headings = [e for e in script.elements if e.kind == "scene_heading"]
    assert [(h.text, h.scene_number) for h in headings] == [
        ("INT. RADIO STUDIO", "1"), ("EXT. OUTSIDE THE FOOD STORE", "2")]


@pytest.mark.parametrize("sample", sorted(ROOT.glob("samples/*.fountain")), ids=lambda p: p.name)
def test_samples_round_trip_with_their_annotations(sample):
    """Annotations travel as script notes and come back: the imported script plans the same
    film, job for job and key for key."""
    text = read(sample)
    exported = fdx.export(parse(text))
    notes = [e.text for e in parse(text).elements if e.kind == "note"]
    import xml.etree.ElementTree as ET

    script_notes = ["\n".join(t.text or "" for t in note.iter("Text"))
                    for note in ET.fromstring(exported).iter("ScriptNote")]
    assert sorted(script_notes) == sorted(notes)
    back = fdx.import_fdx(exported)
    before = compile_text(text, str(sample), sample.parent)
    after = compile_text(back, str(sample), sample.parent)
    assert [d.code for d in after.diagnostics] == [d.code for d in before.diagnostics]
    # The timeline export records each shot's script line (FDX keeps no line positions), so its
    # key may move; every other job, and what the timeline says of each shot, stays.
    planned_after, planned_before = plan(after.film), plan(before.film)
    assert [(j.id, j.key) for j in planned_after.jobs if j.kind != "otio"] == \
        [(j.id, j.key) for j in planned_before.jobs if j.kind != "otio"]
    [otio_after] = [j for j in planned_after.jobs if j.kind == "otio"]
    [otio_before] = [j for j in planned_before.jobs if j.kind == "otio"]
    without_lines = lambda job: [dataclasses.replace(shot, line=0) for shot in job.params.shots]
    assert without_lines(otio_after) == without_lines(otio_before)


def test_every_element_kind_and_emphasis_survive():
    text = """Title: **Every** _Thing_
Author: A. Writer
Contact:
    1 Rue du Lavoir
    Paris

[[location YARD: a yard]]

# ACT ONE

## The yard

= A synopsis of the act.

INT. YARD - DAY #1A#

= Scene summary.

[[shot: wide, 4s]]
Action with *italic*, **bold**, ***both***, _under **and bold**_ and a \\*star\\*.
    Indented second line.

>THE END?<

BOB (V.O.) [[character note]]
(quietly)
Hello *there*.
~Sung line

ALICE
Left side.

BOB ^
Right side.

~A lyric on its own

CUT TO:

>SMASH CUT.

===

.FORCED HEADING

[[a note between a heading and its synopsis]]

= A synopsis after the note.

!LOUD ACTION

@McCLANE
Yippee.
"""
    original, back = fdx_round_trip(text)
    assert stream(back) == stream(original)
    assert title_page(back) == title_page(original)
    kinds = {e.kind for e in original.elements}
    assert kinds == {"scene_heading", "action", "character", "dialogue", "parenthetical",
                     "transition", "centered", "lyrics", "page_break", "section", "synopsis", "note"}
    document = fdx.export(original).decode()
    assert 'Number="1A"' in document and "<DualDialogue>" in document
    assert '<Text Style="Bold+Italic">both</Text>' in document
    assert 'StartsNewPage="Yes"' in document and "<Summary>" in document


MALFORMED = {
    "empty.fdx": b"",
    "truncated.fdx": b'<?xml version="1.0"?><FinalDraft><Content><Paragraph Type="Action">',
    "not-xml.fdx": b"INT. HOUSE - DAY\n\nThis is Fountain, not FDX.\n",
    "binary.fdx": bytes(range(256)),
    "wrong-root.fdx": b"<html><body>hello</body></html>",
    "no-content.fdx": b'<FinalDraft DocumentType="Script"><TitlePage/></FinalDraft>',
    "entities.fdx": b'<?xml version="1.0"?><!DOCTYPE FinalDraft [<!ENTITY a "aaaaaaaaaa">'
                    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                    b'<FinalDraft><Content><Paragraph Type="Action"><Text>&b;</Text></Paragraph>'
                    b'</Content></FinalDraft>',
    "external.fdx": b'<?xml version="1.0"?><!DOCTYPE FinalDraft [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                    b'<FinalDraft><Content><Paragraph><Text>&x;</Text></Paragraph></Content></FinalDraft>',
}


@pytest.mark.parametrize("file_name", sorted(MALFORMED))
def test_malformed_fdx_is_a_clear_error(file_name, tmp_path, capsys):
    source = tmp_path / file_name
    source.write_bytes(MALFORMED[file_name])
    output = tmp_path / "out.fountain"
    assert cli.main(["import", str(source), "-o", str(output)]) == cli.EXIT_ERRORS
    err = capsys.readouterr().err
    assert err.startswith("moviola: error: ") and file_name in err
    assert "Traceback" not in err
    assert not output.exists()
    with pytest.raises(fdx.FdxError):
        fdx.import_fdx(MALFORMED[file_name], file_name)


def test_import_and_export_refuse_to_overwrite_without_force(tmp_path, capsys):
    script = tmp_path / "film.fountain"
    script.write_text("INT. HOUSE - DAY\n\nBOB\nHi.\n", "utf-8")
    exported = tmp_path / "film.fdx"
    assert cli.main(["export", str(script), "--to", "fdx"]) == cli.EXIT_OK
    assert exported.exists()
    assert cli.main(["export", str(script), "--to", "fdx"]) == cli.EXIT_USAGE
    assert "--force" in capsys.readouterr().err

    target = tmp_path / "mine.fountain"
    target.write_text("my own script\n", "utf-8")
    assert cli.main(["import", str(exported), "-o", str(target)]) == cli.EXIT_USAGE
    assert "exists" in capsys.readouterr().err
    assert target.read_text("utf-8") == "my own script\n"
    assert cli.main(["import", str(exported), "-o", str(target), "--force"]) == cli.EXIT_OK
    assert stream(parse(target.read_text("utf-8"))) == stream(parse(script.read_text("utf-8")))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_import_of_a_missing_file_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["import", str(tmp_path / "nope.fdx")]) == cli.EXIT_USAGE
    assert "no such file" in capsys.readouterr().err


def test_markup_escapes_only_what_would_read_as_emphasis():
    Run = inline.Run
    assert fountain_writer.markup([Run("call *69 now")]) == "call *69 now"
    assert fountain_writer.markup([Run("a *b* c")]) == "a \\*b\\* c"
    assert fountain_writer.markup([Run("x "), Run("y z", underline=True), Run(" w")]) == "x _y z_ w"
    nested = [Run("a ", underline=True), Run("b", italic=True, underline=True), Run(" c", underline=True)]
    assert inline.runs(fountain_writer.markup(nested)) == nested


def test_import_says_what_fountain_reads_differently(tmp_path, capsys):
    source = tmp_path / "odd.fdx"
    source.write_bytes(b'<FinalDraft DocumentType="Script"><Content>'
                       b'<Paragraph Type="Scene Heading"><Text>INT. HALL - DAY</Text></Paragraph>'
                       b'<Paragraph Type="Character"><Text>BOB</Text></Paragraph>'
                       b'<Paragraph Type="Action"><Text>Bob says nothing.</Text></Paragraph>'
                       b'</Content></FinalDraft>')
    assert cli.main(["import", str(source), "-o", str(tmp_path / "odd.fountain")]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "warning: Character 'BOB' does not stay character in Fountain" in out


@needs_corpus
def test_corpus_imports_keep_every_paragraph():
    for path in CORPUS_FDX:
        title, paragraphs = fdx.read_fdx(path.read_bytes(), str(path))
        assert fdx.unkept(paragraphs, parse(fountain_writer.write(title, paragraphs))) == [], path
