"""Positions convert between the compiler (code points, 1-based) and LSP clients (UTF-16), and
edits apply with LSP's line rules."""

from __future__ import annotations

from lsprotocol import types as t

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
