"""Positions convert between the compiler (code points, 1-based) and LSP clients (UTF-16), and
edits apply with LSP's line rules."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types as t
from test_session import LINES

from moviola.compiler.source import Span
from moviola.lsp.documents import Document, Units, split_lines


def test_lines_break_only_where_lsp_breaks_them():
    assert split_lines("a\r\nb\rc\nd") == ["a", "b", "c", "d"]
    assert split_lines("a\u2028b\x0cc") == ["a\u2028b\x0cc"]       # not line breaks in LSP


def test_utf16_positions_round_trip():
    text = "Café 😀 au lait\nINT. ÉTÉ - DAY\n"
    document = Document("untitled:film", text, 1, Units("utf-16"))
    # compiler column 8 (1-based) is "a" after the emoji: 7 code points, 8 UTF-16 units before it
    assert document.lsp_position(1, 8) == t.Position(line=0, character=8)
    assert document.server_position(t.Position(line=0, character=8)) == (1, 8)
    assert document.lsp_range(Span(2, 6, 2, 9)) == t.Range(start=t.Position(line=1, character=5),
                                                            end=t.Position(line=1, character=8))
    utf32 = Document("untitled:film", text, 1, Units("utf-32"))
    assert utf32.lsp_position(1, 8) == t.Position(line=0, character=7)


def test_incremental_changes_with_emoji_and_crlf():
    document = Document("untitled:film", "one 😀 two\r\nthree\r\n", 1, Units("utf-16"))
    change = t.TextDocumentContentChangePartial(
        range=t.Range(start=t.Position(line=0, character=7), end=t.Position(line=1, character=2)),
        text="X\nY")
    document.apply(change)
    assert document.lines == ["one 😀 X", "Yree", ""]
    assert document.text == "one 😀 X\nYree\n"
    document.apply(t.TextDocumentContentChangeWholeDocument(text="new"))
    assert document.lines == ["new"]


def test_a_bom_shifts_the_first_line_only():
    document = Document("untitled:film", "\ufeffTitle: X\nA", 1, Units())
    assert document.lsp_position(1, 1) == t.Position(line=0, character=1)
    assert document.server_position(t.Position(line=0, character=1)) == (1, 1)
    assert document.lsp_position(2, 1) == t.Position(line=1, character=0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(LINES), min_size=1, max_size=40),
       st.lists(st.tuples(st.integers(0, 50), st.integers(0, 2),
                          st.sampled_from(LINES + ["x", "\n", "", "😀 [[shot: 7x]]"])), max_size=6),
       st.sampled_from(["utf-16", "utf-8", "utf-32"]))
def test_reused_conversions_publish_what_converting_afresh_publishes(lines, edits, encoding):
    """The diagnostics thread keeps the last publish's conversions (server.editor_diagnostics'
    memo): after any edit, what it publishes is what converting every diagnostic gives."""
    from lsprotocol.converters import get_converter

    from moviola.compiler.api import Session
    from moviola.lsp.server import editor_diagnostics

    converter, units, uri = get_converter(), Units(encoding), "untitled:film.fountain"
    kept, fresh, memo = Session(), Session(), {}
    for at, removed, inserted in [(0, 0, None)] + edits:
        at = min(at, len(lines))
        if inserted is not None:
            lines[at:at + removed] = inserted.split("\n") if inserted else []
        text = "\n".join(lines)
        reused = editor_diagnostics(kept, uri, text, units, "docs", memo=memo)
        afresh = editor_diagnostics(fresh, uri, text, units, "docs")
        assert converter.unstructure(reused) == converter.unstructure(afresh)
