"""Property tests: any text parses, without exceptions, into elements whose spans lie inside the
source and come in source order. The inputs mix random text with the fragments that mean
something to Fountain, so the context rules (cues, headings, notes, boneyard) get exercised."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moviola.compiler import fountain
from moviola.compiler.fountain import ELEMENT_KINDS, parse
from moviola.compiler.source import Source

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
def test_driver_agrees_with_lark(text):
    # The fast LALR driver and lark's own parser loop run the same tables: same result.
    source = Source.from_text(text)
    lines = fountain._lex(fountain._hide(source), source.lines)
    assert fountain._parse_lines(lines) == fountain._parse_lines(lines, use_lark=True)
