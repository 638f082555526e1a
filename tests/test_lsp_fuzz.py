"""Bad input never kills the server: random edits (notes and boneyards left open, emoji, stray
brackets) keep it answering, and its diagnostics stay those of `moviola check`."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types as t

from moviola.compiler.api import compile_text
from test_lsp import SCRIPT, Client, at, utf16

PIECES = ["[[", "]]", "/*", "*/", "😀", "é", "\n", "\n\n", "INT. ", " - ", "MARIE", "shot: ", ":",
          ";", ",", "(V.O.)", "^", "@", "#", "=", "~", ">", "<", "\t", "  ", "[[shot: wide",
          "[[character X: y]]", "\r\n", "\ufeff", "\u2028"]

edit = st.tuples(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 12),
                 st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=4))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    session = Client(root)
    yield session
    session.stop()


_names = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(edit, min_size=1, max_size=12), st.integers(0, 10_000), st.integers(0, 200))
def test_random_edits_keep_the_server_answering(client, edits, line_seed, column_seed):
    uri = f"untitled:fuzz-{next(_names)}.fountain"
    client.versions[uri] = 1
    client.notify(client.client.text_document_did_open, t.DidOpenTextDocumentParams(
        text_document=t.TextDocumentItem(uri=uri, language_id="fountain", version=1, text=SCRIPT)))
    lines = SCRIPT.split("\n")
    for line_pick, column_pick, removed, pieces in edits:
        line = line_pick % len(lines)
        column = column_pick % (len(lines[line]) + 1)
        inserted = "".join(pieces)
        text = "\n".join(lines)
        start = sum(len(l) + 1 for l in lines[:line]) + column
        end = min(start + removed, len(text))
        end_line = text.count("\n", 0, end)
        end_column = end - (text.rfind("\n", 0, end) + 1)
        client.change(uri, (line, utf16(lines[line][:column]), end_line,
                            utf16(lines[end_line][:end_column]), inserted))
        # the client's model of the document, with LSP's line breaks
        text = text[:start] + inserted + text[end:]
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found = client.wait_diagnostics(uri)
    assert [d.code for d in found] == [d.code for d in compile_text("\n".join(lines), uri).diagnostics]
    line = line_seed % len(lines)
    position = at(uri, line, utf16(lines[line][:column_seed % (len(lines[line]) + 1)]))
    client.request("text_document_hover", t.HoverParams(**position))
    assert client.request("text_document_completion", t.CompletionParams(**position)) is not None
    client.request("text_document_document_symbol", t.DocumentSymbolParams(text_document=position["text_document"]))
    client.close_document(uri)
