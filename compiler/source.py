"""Source text and positions.

Lines are 1-based and columns 1-based, counted in code points (the LSP layer converts to
UTF-16). Every syntax element and IR node carries a :class:`Span`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A half-open range of source text: from (line, col) up to, not including, (end_line, end_col)."""

    line: int
    col: int
    end_line: int
    end_col: int

    @classmethod
    def on_line(cls, line: int, col: int, end_col: int) -> "Span":
        return cls(line, col, line, end_col)

    def cover(self, other: "Span") -> "Span":
        """The smallest span holding both."""
        start = min((self.line, self.col), (other.line, other.col))
        end = max((self.end_line, self.end_col), (other.end_line, other.end_col))
        return Span(start[0], start[1], end[0], end[1])

    def contains(self, line: int, col: int) -> bool:
        return (self.line, self.col) <= (line, col) <= (self.end_line, self.end_col)

    def to_json(self) -> list[int]:
        return [self.line, self.col, self.end_line, self.end_col]


def normalize_newlines(text: str) -> str:
    """Drop a BOM and turn CRLF and CR-only endings into LF; positions refer to the result."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


@dataclass(frozen=True, slots=True)
class Source:
    """One screenplay file's text, already normalized, with its lines."""

    path: str
    text: str
    lines: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str, path: str = "<script>") -> "Source":
        text = normalize_newlines(text)
        return cls(path, text, tuple(text.split("\n")))

    def line_text(self, line: int) -> str:
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1]
        return ""

    def position_at(self, line: int, col: int, delta: str) -> tuple[int, int]:
        """The (line, col) reached after reading ``delta`` starting at (line, col)."""
        newlines = delta.count("\n")
        if not newlines:
            return line, col + len(delta)
        return line + newlines, len(delta) - delta.rfind("\n")


class ScriptNotReadable(Exception):
    """The script file itself cannot be read (missing, a folder, no permission)."""


def read_file_bytes(path, what: str = "a script") -> bytes:
    """The bytes of a file the user named (``what`` it should be, for the message), or
    ScriptNotReadable saying plainly why not (missing, a folder, no permission)."""
    from pathlib import Path

    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ScriptNotReadable(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ScriptNotReadable(f"{path} is a folder, not {what}") from None
    except OSError as error:
        raise ScriptNotReadable(f"cannot read {path}: {error.strerror}") from None


def read_script(path) -> str:
    """The text of a script file, for any bytes: invalid UTF-8 is replaced, never fatal."""
    return read_file_bytes(path).decode("utf-8", errors="replace")
