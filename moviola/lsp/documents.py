"""Open documents and position conversion.

The compiler counts 1-based lines and 1-based columns in code points, on text whose line breaks
are normalized (``\\r\\n`` and ``\\r`` read as ``\\n``, a leading BOM dropped). LSP clients count
0-based lines and, by default, UTF-16 code units, and break lines at ``\\n``, ``\\r\\n`` and ``\\r``
only (not at the other characters Python's ``str.splitlines`` breaks at). A :class:`Document`
keeps the client's lines, applies incremental edits with LSP's rules, and converts between the
two (``lsp_*`` methods: compiler → client; ``server_*``: client → compiler).
"""

from __future__ import annotations

import re
from pathlib import Path

from lsprotocol import types

from moviola.compiler.source import Span

_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Lines as an LSP client sees them (without their line breaks)."""
    if "\r" not in text:
        return text.split("\n")
    return _BREAK.split(text)


class Units:
    """Counts a string's length in the client's position units (the negotiated encoding, which
    pygls' position codec names: utf-16 unless the client offers another)."""

    def __init__(self, encoding: str | None = "utf-16"):
        encoding = str(getattr(encoding, "value", encoding) or "utf-16").lower()
        self.encoding = encoding
        if encoding == "utf-32":
            self.count = len
        elif encoding == "utf-8":
            self.count = lambda text: len(text) if text.isascii() else len(text.encode("utf-8"))
        else:
            self.count = lambda text: (len(text) if text.isascii()
                                       else len(text.encode("utf-16-le")) // 2)

    def index(self, text: str, units: int) -> int:
        """The code point index in ``text`` at ``units`` client units (clamped to the text; a
        position inside a surrogate pair moves past the character)."""
        if units <= 0:
            return 0
        if text.isascii() or self.encoding == "utf-32":
            return min(units, len(text))
        count = self.count
        seen = 0
        for index, char in enumerate(text):
            if seen >= units:
                return index
            seen += count(char)
        return len(text)


class Document:
    def __init__(self, uri: str, text: str, version: int | None, units: Units,
                 language_id: str = "fountain"):
        self.uri = uri
        self.version = version
        self.language_id = language_id
        self.units = units
        self.lines = split_lines(text)
        self._text: str | None = None
        self.path, self.project = _location(uri)

    @classmethod
    def snapshot(cls, uri: str, text: str, units: Units) -> "Document":
        """A read-only view of one version's text, for converting positions off the event loop
        (``text`` as :attr:`text` gave it)."""
        view = cls.__new__(cls)
        view.uri, view.version, view.language_id, view.units = uri, None, "fountain", units
        view.lines, view._text = text.split("\n"), text
        view.path, view.project = uri, None
        return view

    # -- text ---------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The text as the compiler reads it (line breaks as ``\\n``)."""
        if self._text is None:
            self._text = "\n".join(self.lines)
        return self._text

    @property
    def bom(self) -> int:
        return 1 if self.lines and self.lines[0].startswith("\ufeff") else 0

    def line(self, number: int) -> str:
        """0-based line ``number`` as the compiler reads it ("" past the end)."""
        if 0 <= number < len(self.lines):
            line = self.lines[number]
            return line[1:] if number == 0 and self.bom else line
        return ""

    def apply(self, change) -> None:
        """Apply one ``TextDocumentContentChangeEvent`` (whole text, or a range)."""
        self._text = None
        if getattr(change, "range", None) is None:
            self.lines = split_lines(change.text)
            return
        start, end = change.range.start, change.range.end
        if (end.line, end.character) < (start.line, start.character):
            start, end = end, start
        last = len(self.lines) - 1
        if start.line > last:
            start_line, start_col = last, len(self.lines[last])
        else:
            start_line = start.line
            start_col = self.units.index(self.lines[start_line], start.character)
        if end.line > last:
            end_line, end_col = last, len(self.lines[last])
        else:
            end_line = end.line
            end_col = self.units.index(self.lines[end_line], end.character)
        before = self.lines[start_line][:start_col]
        after = self.lines[end_line][end_col:]
        self.lines[start_line:end_line + 1] = split_lines(before + change.text + after)

    # -- compiler → client --------------------------------------------------------------------

    def lsp_position(self, line: int, col: int) -> types.Position:
        """The client position of the compiler's (line, col), both 1-based."""
        index = line - 1
        if index >= len(self.lines):
            index = len(self.lines) - 1
            return types.Position(line=index, character=self.units.count(self.lines[index]))
        if index < 0:
            return types.Position(line=0, character=0)
        text = self.lines[index]
        shift = 1 if index == 0 and self.bom else 0
        return types.Position(line=index, character=self.units.count(text[:max(col - 1, 0) + shift]))

    def lsp_range(self, span: Span) -> types.Range:
        return types.Range(start=self.lsp_position(span.line, span.col),
                           end=self.lsp_position(span.end_line, span.end_col))

    def lsp_line_range(self, first: int, last: int) -> types.Range:
        """Whole lines ``first`` to ``last`` (1-based, inclusive)."""
        return types.Range(start=self.lsp_position(first, 1),
                           end=self.lsp_position(last, len(self.line(last - 1)) + 1))

    # -- client → compiler --------------------------------------------------------------------

    def server_position(self, position: types.Position) -> tuple[int, int]:
        """The compiler's (line, col), 1-based, at a client position (clamped to the text)."""
        index = min(max(position.line, 0), len(self.lines) - 1)
        text = self.lines[index]
        col = self.units.index(text, position.character)
        if index == 0 and self.bom:
            col = max(col - 1, 0)
        return index + 1, col + 1


def _location(uri: str) -> tuple[str, Path | None]:
    """(path for messages, project folder or None) of a document URI. Only a saved file has a
    project folder: the folder that holds it."""
    try:
        from pygls.uris import to_fs_path

        path = to_fs_path(uri)
    except Exception:  # noqa: BLE001 - any odd URI is an unsaved buffer
        path = None
    if not path or not uri.startswith("file:"):
        return uri, None
    folder = Path(path).parent
    return path, (folder.resolve() if folder.is_dir() else None)
