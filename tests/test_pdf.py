"""`moviola pdf`: the screenplay in industry format, checked on the samples and the corpus's full
scripts by reading the PDF back (pypdf): page counts against screenplain's PDF of the same
files, the text in reading order, positions on the page, speeches split with (MORE)/(CONT'D),
dual dialogue side by side, notes hidden."""

from __future__ import annotations

import re
from pathlib import Path

import pypdf
import pytest

from moviola.cli import main
from moviola.compiler import fountain
from moviola.compiler.api import compile_file
from moviola.documents.pagination import CELL_WIDTH, PAPERS, STYLES, TEXT_COLUMNS, cells, paginate, wrap
from moviola.compiler.inline import Run
from moviola.documents.pdf import write_pdf

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
CORPUS = ROOT.parent / "shared" / "fountain-corpus"
if not CORPUS.exists():
    CORPUS = ROOT.parents[1] / "shared" / "fountain-corpus"
EXAMPLES = CORPUS / "screenplain" / "examples"
FULL_SCRIPTS = sorted(EXAMPLES.glob("*.fountain")) + sorted((CORPUS / "afterwriting-labs" / "samples").glob("*.fountain"))
needs_corpus = pytest.mark.skipif(not EXAMPLES.exists(), reason="the Fountain corpus is not beside the project")


def _pdf(tmp_path, path_or_text, name="film", **options) -> tuple[Path, object]:
    if isinstance(path_or_text, Path):
        script = compile_file(path_or_text).script
    else:
        script = fountain.parse(path_or_text)
    document = paginate(script, **options)
    out = write_pdf(document, tmp_path / f"{name}.pdf")
    return out, document


def _words(text: str) -> list[str]:
    return text.split()


def _visible_words(script: fountain.Script) -> list[str]:
    """The words a reader sees, element by element, in source order."""
    words: list[str] = []
    for element in script.elements:
        if element.kind in ("note", "section", "synopsis", "page_break"):
            continue
        words.extend(_words(element.plain))
    return words


def _extracted_words(reader: pypdf.PdfReader, title_page: bool) -> list[str]:
    words: list[str] = []
    continued = False
    for number, page in enumerate(reader.pages[1 if title_page else 0:], 1):
        lines = page.extract_text().split("\n")
        if number > 1 and lines[0].strip() == f"{number}.":
            lines = lines[1:]                    # the page number
        if continued:                            # the cue repeated after (MORE)
            assert lines[0].endswith(" (CONT'D)")
            lines = lines[1:]
        continued = bool(lines) and lines[-1].strip() == "(MORE)"
        for line in lines[:-1] if continued else lines:
            words.extend(_words(line))
    return words


def _positions(page: pypdf.PageObject) -> list[tuple[float, float, str]]:
    """(x, baseline y, text) of every piece of text drawn on ``page``."""
    found = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            found.append((round(tm[4], 2), round(tm[5], 2), text))

    page.extract_text(visitor_text=visit)
    return found


def _screenplain_pages(source: Path, tmp_path: Path) -> int:
    """Pages of screenplain's PDF of ``source``, less its title page: the reference."""
    from screenplain.export import pdf as screenplain_pdf
    from screenplain.parsers import fountain as screenplain_fountain

    with open(source, encoding="utf-8-sig") as stream:
        screenplay = screenplain_fountain.parse(stream)
    out = tmp_path / "screenplain.pdf"
    screenplain_pdf.to_pdf(screenplay, str(out))
    title = bool(screenplain_pdf.get_title_page_story(screenplay, screenplain_pdf.create_default_settings()))
    return len(pypdf.PdfReader(out).pages) - title


# --- page counts -----------------------------------------------------------------------------

@needs_corpus
@pytest.mark.parametrize("source", FULL_SCRIPTS, ids=lambda p: f"{p.parent.parent.name}-{p.stem}")
def test_page_count_of_full_scripts_is_within_five_percent_of_screenplain(source, tmp_path):
    # Reference: screenplain's PDF (Courier 12 pt, 55 lines a page) of the same file. Under 20
    # pages one page is more than 5 %, and page breaks fall differently (screenplain keeps no
    # speech together), so short scripts may differ by one page.
    out, document = _pdf(tmp_path, source)
    reference = _screenplain_pages(source, tmp_path)
    assert len(pypdf.PdfReader(out).pages) == document.page_count + 1   # + the title page
    tolerance = max(0.05 * reference, 1 if reference < 20 else 0)
    assert abs(document.page_count - reference) <= tolerance, (document.page_count, reference)


@pytest.mark.parametrize("name", ["the-wash-house", "the-night-ferry"])
def test_page_count_of_the_samples_is_within_one_page_of_screenplain(name, tmp_path):
    # Reference: screenplain's PDF of the sample with its notes taken out (screenplain keeps the
    # room of a note-only line, which a printed Moviola script does not). The samples run 4-6
    # pages, where one page is more than 5 %, so the bound is a page.
    source = SAMPLES / f"{name}.fountain"
    text = re.sub(r"\[\[.*?\]\]", "", source.read_text("utf-8"), flags=re.S)
    stripped = tmp_path / f"{name}.fountain"
    stripped.write_text(re.sub(r"\n[ \t]+\n", "\n\n", text), "utf-8")
    _, document = _pdf(tmp_path, source)
    assert abs(document.page_count - _screenplain_pages(stripped, tmp_path)) <= 1


def test_a_page_runs_about_a_minute(tmp_path):
    film = compile_file(SAMPLES / "the-wash-house.fountain")
    from moviola.compiler import timing

    minutes = timing.film_seconds(film.film) / 60
    pages = paginate(film.script).page_count
    assert 0.6 <= pages / minutes <= 1.5, (pages, minutes)


# --- text and positions --------------------------------------------------------------------------

@pytest.mark.parametrize("source", [SAMPLES / "the-night-ferry.fountain",
                                    EXAMPLES / "The-Last-Birthday-Card.fountain",
                                    EXAMPLES / "Big-Fish.fountain"], ids=lambda p: p.stem)
def test_text_read_back_in_reading_order_equals_the_elements(source, tmp_path):
    if not source.exists():
        pytest.skip("the Fountain corpus is not beside the project")
    out, document = _pdf(tmp_path, source)
    script = compile_file(source).script
    assert _extracted_words(pypdf.PdfReader(out), document.title_page is not None) == _visible_words(script)


def test_title_page_holds_the_title_page_keys_but_not_moviola_settings(tmp_path):
    out, _ = _pdf(tmp_path, SAMPLES / "the-wash-house.fountain")
    title = pypdf.PdfReader(out).pages[0].extract_text()
    for expected in ("The Wash-House", "Written by", "The Moviola project (sample script)",
                     "24 November 2026"):
        assert expected in title
    assert "1280x720" not in title and "1956" not in title      # Resolution, Seed


@pytest.mark.parametrize("paper", ["letter", "a4"])
def test_margins_and_indents_by_text_position(paper, tmp_path):
    text = ("Title: Margins\n\nINT. KITCHEN - NIGHT\n\nA kettle boils.\n\nMARIE\n(quietly)\n"
            "Not yet.\n\nCUT TO:\n\n===\n\nEXT. GARDEN - DAY\n\nRain.\n")
    out, document = _pdf(tmp_path, text, paper=paper)
    size = PAPERS[paper]
    reader = pypdf.PdfReader(out)
    assert [float(v) for v in reader.pages[1].mediabox[2:]] == pytest.approx([size.width, size.height])
    first = {text.strip(): (x, y) for x, y, text in _positions(reader.pages[1])}
    inch = 72.0
    assert first["INT. KITCHEN - NIGHT"][0] == pytest.approx(1.5 * inch)
    assert first["A kettle boils."][0] == pytest.approx(1.5 * inch)
    assert first["MARIE"][0] == pytest.approx(3.7 * inch)
    assert first["(quietly)"][0] == pytest.approx(3.1 * inch)
    assert first["Not yet."][0] == pytest.approx(2.5 * inch)
    transition_x = first["CUT TO:"][0]
    assert transition_x + len("CUT TO:") * CELL_WIDTH == pytest.approx(1.5 * inch + 6 * inch)
    heading_y = first["INT. KITCHEN - NIGHT"][1]
    assert size.height - heading_y == pytest.approx(1 * inch + 9, abs=1)      # 1 in top margin
    assert first["A kettle boils."][1] == pytest.approx(heading_y - 24)       # one blank line
    second = {text.strip(): (x, y) for x, y, text in _positions(reader.pages[2])}
    number_x, number_y = second["2."]
    assert number_x + 2 * CELL_WIDTH == pytest.approx(7.5 * inch)             # flush right
    assert size.height - number_y == pytest.approx(0.5 * inch + 9, abs=1)     # half an inch down
    assert "1." not in first                                                  # page 1 unnumbered


def test_every_line_stays_inside_the_margins(tmp_path):
    source = EXAMPLES / "Big-Fish.fountain"
    if not source.exists():
        pytest.skip("the Fountain corpus is not beside the project")
    _, document = _pdf(tmp_path, source)
    rows = document.paper.rows
    for page in document.pages:
        for line in page.lines:
            if line.kind in ("page_number", "scene_number"):
                continue
            assert 0 <= line.column and line.column + cells(line.text) <= TEXT_COLUMNS, line
            assert 0 <= line.row < rows, line


def test_a4_sets_more_lines_on_a_page_than_letter():
    script = compile_file(SAMPLES / "the-wash-house.fountain").script
    assert PAPERS["a4"].rows > PAPERS["letter"].rows == 55
    assert paginate(script, "a4").page_count <= paginate(script, "letter").page_count


# --- page breaks ---------------------------------------------------------------------------------

def _long_speech_script(lines_before: int, speech_words: int) -> str:
    action = "\n\n".join(f"Action line {n}." for n in range(lines_before))
    speech = " ".join(f"word{n}." if n % 6 == 5 else f"word{n}" for n in range(speech_words))
    return f"INT. HALL - DAY\n\n{action}\n\nBOB (V.O.)\n{speech}\n\nAfter the speech.\n"


def test_a_speech_split_across_pages_gets_more_and_contd(tmp_path):
    text = _long_speech_script(24, 120)       # the speech starts near the page foot
    out, document = _pdf(tmp_path, text)
    assert document.page_count == 2
    first, second = document.pages
    last = max(first.lines, key=lambda l: l.row)
    assert last.text == "(MORE)" and last.column == STYLES["character"].indent
    top = min((l for l in second.lines if l.kind != "page_number"), key=lambda l: l.row)
    assert top.text == "BOB (V.O.) (CONT'D)" and top.kind == "character"
    reader = pypdf.PdfReader(out)
    page_one, page_two = (p.extract_text() for p in reader.pages)
    assert page_one.rstrip().endswith("(MORE)")
    assert page_two.split("\n")[1].strip() == "BOB (V.O.) (CONT'D)"
    # nothing of the speech is lost or repeated
    words = [w for w in _extracted_words(reader, False) if w.startswith("word")]
    assert words == [w for w in text.split() if w.startswith("word")]


def test_a_split_speech_never_breaks_after_a_parenthetical():
    for before in range(20, 30):
        text = ("INT. HALL - DAY\n\n" + "\n\n".join(f"Line {n}." for n in range(before))
                + "\n\nBOB\nOne two three four five six seven eight nine ten eleven twelve thirteen.\n"
                  "(beat)\nFourteen fifteen sixteen seventeen.\n(smiles)\nEighteen nineteen twenty.\n")
        document = paginate(fountain.parse(text))
        for page in document.pages:
            rows = sorted(page.lines, key=lambda l: l.row)
            for above, below in zip(rows, rows[1:]):
                if below.kind == "more":
                    assert above.kind == "dialogue", (before, above)


def test_headings_are_never_the_last_line_of_a_page(tmp_path):
    for source in [p for p in FULL_SCRIPTS if p.exists()] + [SAMPLES / "the-wash-house.fountain"]:
        document = paginate(compile_file(source).script)
        for page in document.pages:
            bottom = max(page.lines, key=lambda l: l.row)
            assert bottom.kind != "scene_heading", (source.name, page.number)


def test_page_breaks_start_a_new_page():
    document = paginate(fountain.parse("INT. A - DAY\n\nOne.\n\n===\n\nTwo.\n"))
    assert [p.text_lines()[0].text for p in document.pages] == ["INT. A - DAY", "Two."]


def test_dual_dialogue_is_set_side_by_side(tmp_path):
    text = "INT. HALL - DAY\n\nMARIE\nOne, two, and turn.\n\nJULIE ^\nOne, two, and turn, and turn again.\n\nThey stop.\n"
    out, _ = _pdf(tmp_path, text)
    spots = {t.strip(): (x, y) for x, y, t in _positions(pypdf.PdfReader(out).pages[0])}
    assert spots["MARIE"][1] == spots["JULIE"][1]                 # the cues on one line
    assert spots["JULIE"][0] > spots["MARIE"][0] + 20 * CELL_WIDTH
    assert spots["One, two, and turn."][1] == spots["One, two, and turn, and turn"][1]
    assert spots["One, two, and turn."][0] < spots["One, two, and turn, and turn"][0]
    assert spots["They stop."][1] < spots["again."][1]             # the story goes on below both


def test_scene_numbers_only_when_asked():
    text = "INT. A - DAY #7A#\n\nOne.\n\nEXT. B - NIGHT\n\nTwo.\n"
    script = fountain.parse(text)
    plain = paginate(script)
    assert not [l for p in plain.pages for l in p.lines if l.kind == "scene_number"]
    numbered = paginate(script, scene_numbers=True)
    found = [(l.text, l.column < 0) for p in numbered.pages for l in p.lines if l.kind == "scene_number"]
    assert found == [("7A", True), ("7A", False), ("2", True), ("2", False)]


def test_notes_annotations_and_boneyard_are_hidden_unless_asked(tmp_path):
    text = ("INT. A - DAY\n\n[[shot: wide, 4s]]\nA door opens. [[Check the hinge]]\n\n"
            "/* a cut scene\nnobody sees */\n\nShe waits.\n")
    out, _ = _pdf(tmp_path, text, name="plain")
    shown = pypdf.PdfReader(out).pages[0].extract_text()
    assert "A door opens." in shown and "She waits." in shown
    for hidden in ("shot:", "Check the hinge", "cut scene", "[["):
        assert hidden not in shown
    out, _ = _pdf(tmp_path, text, name="notes", notes=True)
    shown = pypdf.PdfReader(out).pages[0].extract_text()
    assert "[[shot: wide, 4s]]" in shown and "[[Check the hinge]]" in shown
    assert "cut scene" not in shown                                # boneyard stays out


def test_emphasis_is_kept_as_styled_runs():
    document = paginate(fountain.parse("INT. A - DAY\n\nShe is **very** _late_.\n"))
    line = next(l for l in document.pages[0].lines if l.kind == "action")
    assert [(r.text, r.bold, r.underline) for r in line.runs] == [
        ("She is ", False, False), ("very", True, False), (" ", False, False),
        ("late", False, True), (".", False, False)]


# --- wrapping and other alphabets ----------------------------------------------------------------

def test_wrap_breaks_between_words_and_keeps_line_breaks():
    rows = wrap([Run("aaa bbb ccc\nddd")], 7)
    assert ["".join(r.text for r in row) for row in rows] == ["aaa bbb", "ccc", "ddd"]
    long = wrap([Run("x" * 25)], 10)
    assert ["".join(r.text for r in row) for row in long] == ["x" * 10, "x" * 10, "x" * 5]


def test_wide_characters_take_two_cells_and_break_anywhere():
    assert cells("日本語") == 6 and cells("abc") == 3
    rows = wrap([Run("これは日本語の文です")], 8)
    assert ["".join(r.text for r in row) for row in rows] == ["これは日", "本語の文", "です"]


@needs_corpus
@pytest.mark.parametrize("name", ["cyrillic", "jp", "sc"])
def test_text_outside_latin1_survives(name, tmp_path):
    source = CORPUS / "afterwriting-labs" / "test" / "data" / "screenplays" / f"{name}.fountain"
    out, document = _pdf(tmp_path, source)
    script = compile_file(source).script
    read = "".join(p.extract_text() for p in pypdf.PdfReader(out).pages)
    foreign = {c for c in "".join(_visible_words(script)) if ord(c) > 0xFF}
    assert foreign, "the file should hold text outside Latin-1"
    assert foreign <= set(read)


# --- the command ---------------------------------------------------------------------------------

def test_pdf_command_writes_the_file(tmp_path, capsys):
    out = tmp_path / "ferry.pdf"
    assert main(["pdf", str(SAMPLES / "the-night-ferry.fountain"), "-o", str(out), "--paper", "a4",
                 "--scene-numbers"]) == 0
    reader = pypdf.PdfReader(out)
    assert float(reader.pages[0].mediabox[2]) == pytest.approx(PAPERS["a4"].width)
    assert "pages" in capsys.readouterr().out
    assert reader.metadata.title == "The Night Ferry"


def test_pdf_command_reports_a_missing_script_or_folder(tmp_path, capsys):
    assert main(["pdf", str(tmp_path / "nope.fountain")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["pdf", str(SAMPLES / "the-night-ferry.fountain"), "-o",
                 str(tmp_path / "missing" / "x.pdf")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_outline_shows_the_page_count(capsys):
    assert main(["outline", str(SAMPLES / "the-wash-house.fountain")]) == 0
    pages = paginate(compile_file(SAMPLES / "the-wash-house.fountain").script).page_count
    assert f"{pages} pages" in capsys.readouterr().out


def test_a_directive_inside_a_speech_stays_inside_it():
    script = fountain.parse("INT. A - DAY\n\nMARIE\n[[voice: soft]]\nHello.\n\nBOB\nHi.\n")
    hidden = [(l.row, l.kind) for l in paginate(script).pages[0].text_lines()]
    assert hidden == [(0, "scene_heading"), (2, "character"), (3, "dialogue"), (5, "character"),
                      (6, "dialogue")]
    shown = [(l.row, l.column, l.kind, l.text) for l in paginate(script, notes=True).pages[0].text_lines()]
    assert shown[1:4] == [(2, 22, "character", "MARIE"), (3, 10, "note", "[[voice: soft]]"),
                          (4, 10, "dialogue", "Hello.")]


@needs_corpus
@pytest.mark.parametrize("embedded", [True, False], ids=["cjk-extra", "standard-cid-fonts"])
def test_chinese_japanese_and_korean_with_and_without_the_cjk_extra(embedded, tmp_path, monkeypatch):
    from moviola.documents import pdf

    if embedded:
        pytest.importorskip("justmytype_intl_cjk")
    else:
        monkeypatch.setitem(__import__("sys").modules, "justmytype_intl_cjk", None)   # not installed
    pdf._asian.cache_clear()
    pdf._face_for.cache_clear()
    try:
        source = CORPUS / "screenplain" / "tests" / "files" / "extended-characters.fountain"
        out, _ = _pdf(tmp_path, source)
    finally:
        pdf._asian.cache_clear()
        pdf._face_for.cache_clear()
    page = pypdf.PdfReader(out).pages[0]
    read = page.extract_text()
    for word in ("こんにちは", "привет", "你好", "안녕하세요"):
        assert word in read
    fonts = {str(f.get_object()["/BaseFont"]) for f in page["/Resources"]["/Font"].values()}
    assert any("IBMPlexMono" in f for f in fonts)                 # Cyrillic: embedded
    assert any("Noto" in f or "notosans" in f.lower() for f in fonts) == embedded
    assert any(f.endswith("HeiseiMin-W3") for f in fonts) != embedded


def test_a_speech_breaks_at_the_end_of_a_sentence_when_one_is_near():
    def first_page_rows(speech):
        text = ("INT. HALL - DAY\n\n" + "\n\n".join(f"Line {n}." for n in range(24))
                + f"\n\nBOB\n{speech}\n")
        rows = sorted(paginate(fountain.parse(text)).pages[0].lines, key=lambda l: l.row)
        more = next(i for i, l in enumerate(rows) if l.kind == "more")
        return rows[more - 1].text, rows[more].row

    words = ("Alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu{} Omicronic xi "
             "omicron pi rho sigma tau upsilon phi chi psi omega alpha beta gamma delta epsilon "
             "zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma")
    at_sentence, row = first_page_rows(words.format("."))
    anywhere, lower = first_page_rows(words.format(""))
    assert at_sentence.endswith("mu.") and not anywhere.endswith("mu")
    assert row < lower                      # the break moved up a line or two to end the sentence


def test_a_script_with_errors_still_prints_and_says_so(tmp_path, capsys):
    script = tmp_path / "bad.fountain"
    script.write_text("INT. A - DAY\n\n[[shot: wdie]]\nHello.\n", "utf-8")
    assert main(["pdf", str(script)]) == 0
    assert "1 error" in capsys.readouterr().out
    assert "Hello." in pypdf.PdfReader(tmp_path / "bad.pdf").pages[0].extract_text()


@pytest.mark.parametrize("paper", ["letter", "a4"])
def test_the_title_is_centered_on_the_page(paper, tmp_path):
    out, _ = _pdf(tmp_path, "Title: Centered\nAuthor: Somebody\n\nINT. A - DAY\n\nOne.\n", paper=paper)
    spots = {t.strip(): x for x, _, t in _positions(pypdf.PdfReader(out).pages[0])}
    middle = spots["Centered"] + len("Centered") * CELL_WIDTH / 2
    assert middle == pytest.approx(PAPERS[paper].width / 2)


@needs_corpus
def test_no_character_of_any_corpus_script_vanishes(tmp_path):
    # Every Fountain file of the corpus: Latin, Cyrillic, Chinese, Japanese, Korean, Arabic,
    # emoji; each visible character comes back out of the PDF (pypdf may space or reorder them).
    from collections import Counter

    files = sorted(CORPUS.rglob("*.fountain"))
    assert len(files) > 50
    for source in files:
        out, document = _pdf(tmp_path, source)
        script = compile_file(source).script
        expected = Counter("".join(_visible_words(script)))
        read = Counter("".join(_extracted_words(pypdf.PdfReader(out), document.title_page is not None)))
        assert read == expected, (source.name, expected - read, read - expected)
