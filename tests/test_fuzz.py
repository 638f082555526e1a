"""Property tests: any text parses, without exceptions, into elements whose spans lie inside the
source and come in source order. The inputs mix random text with the fragments that mean
something to Fountain, so the context rules (cues, headings, notes, boneyard) get exercised."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moviola.compiler import lexer, notes
from moviola.compiler.fountain import parse
from moviola.compiler.source import Source

ELEMENT_KINDS = (
    "scene_heading", "action", "character", "dialogue", "parenthetical", "transition",
    "centered", "lyrics", "page_break", "section", "synopsis", "note",
)

FRAGMENTS = [
    "[[", "]]", "/*", "*/", "INT. ", "EXT. ", "EST ", "I/E ", "int. house", ".", "..", "!", "@", "^",
    ">", "<", "~", "#", "##", "=", "===", "(", ")", "(V.O.)", "CUT TO:", "TO:", "FADE IN:",
    "Title:", "Author: Me", "    ", "\t", "  ", " ", "*", "**", "_", "\\", "MARIE", "BOB ^",
    "#1A#", "\n", "\n\n", "\r", "\r\n", "\ufeff", "\u7d04\u7ff0", "\u0418\u0412\u0410\u041d",
    "\u00c9LODIE", "[[shot: wide]]", "/* hidden */", "Marie sleeps.",
]

ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))

pieces = st.one_of(st.sampled_from(FRAGMENTS), st.text(ALPHABET, max_size=6))
scripts = st.lists(pieces, max_size=40).map("".join)
line_scripts = st.lists(st.lists(st.sampled_from(FRAGMENTS + ["A", "b", "3"]), max_size=4).map("".join),
                        max_size=25).map("\n".join)

SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_spans(text: str) -> None:
    script = parse(text)
    lines = Source.from_text(text).lines

    def inside(span):
        assert 1 <= span.line <= span.end_line <= len(lines), span
        assert 1 <= span.col <= len(lines[span.line - 1]) + 1, span
        assert 1 <= span.end_col <= len(lines[span.end_line - 1]) + 1, span
        assert (span.line, span.col) <= (span.end_line, span.end_col), span

    for element in script.elements:
        assert element.kind in ELEMENT_KINDS
        inside(element.span)
    for field in script.title_page:
        inside(field.span)
        inside(field.value_span)
    for diagnostic in script.diagnostics:
        inside(diagnostic.span)
    starts = [e.span.line for e in script.elements]
    assert starts == sorted(starts), "elements out of source order"
    if script.title_page and script.elements:
        body = [e for e in script.elements if e.kind != "note"]
        if body:
            assert body[0].span.line > script.title_page[-1].span.end_line
    # A dialogue block starts with its cue.
    previous = None
    for element in script.elements:
        if element.kind in ("dialogue", "parenthetical"):
            assert previous in ("character", "dialogue", "parenthetical", "lyrics", "note")
        previous = element.kind


@SETTINGS
@given(scripts)
def test_random_text_parses_with_spans_inside_the_source(text):
    check_spans(text)


@SETTINGS
@given(line_scripts)
def test_line_shaped_text_parses_with_spans_inside_the_source(text):
    check_spans(text)


@SETTINGS
@given(line_scripts)
def test_line_endings_do_not_change_the_elements(text):
    text = text.replace("\r", "").lstrip("\ufeff")     # only a leading BOM is dropped
    expected = parse(text).elements
    assert parse(text.replace("\n", "\r\n")).elements == expected
    assert parse("\ufeff" + text.replace("\n", "\r")).elements == expected


@settings(max_examples=300, deadline=None)
@given(st.one_of(scripts, line_scripts))
def test_grouping_keeps_every_lexed_line_once(text):
    # The grouping step neither drops nor repeats a line the lexer classified (an element may
    # also span transparent lines: a note line inside a paragraph).
    source = Source.from_text(text)
    lexed = sorted(line.number for line in lexer.lex(notes.hide(source), source.lines))
    script = parse(text)
    covered = [n for e in script.elements if e.kind != "note" for n in range(e.span.line, e.span.end_line + 1)]
    covered += [n for f in script.title_page for n in range(f.span.line, f.span.end_line + 1)]
    assert all(covered.count(n) == 1 for n in lexed)
