"""Notes and boneyard, taken out of Fountain text before its lines are classified.

A note ``[[ ]]`` comes back as a note element (in source order); a boneyard ``/* */`` is
dropped. A line that held nothing but notes or boneyard is *transparent*: the lexer skips it,
so a ``[[shot: ...]]`` line between a cue and its dialogue does not break the dialogue. (A
boneyard that hides a blank line leaves blank lines instead: the paragraphs around it stay
apart.)
"""

from __future__ import annotations

import bisect
import re

from .diagnostics import Diagnostic
from .source import Source, Span


# A line that is empty or holds one space or tab. Two spaces make a deliberate "blank" line that
# keeps a note (or a dialogue block) together (fountain.io: notes, dialogue).
_BLANK_LINE = re.compile(r"\n[ \t]?\n")


class Hidden:
    __slots__ = ("lines", "transparent", "notes", "diagnostics")

    def __init__(self, lines, transparent, notes, diagnostics):
        self.lines = lines              # the text's lines with notes and boneyard blanked out
        self.transparent = transparent  # numbers of lines that held only notes/boneyard
        self.notes = notes              # (line, col, end_line, end_col, body)
        self.diagnostics = diagnostics


def _boneyard_end(text: str, start: int) -> int:
    """Offset just past the ``*/`` that closes the ``/*`` at ``start``, or -1. Boneyards nest,
    so a block that already holds a boneyard can be hidden whole."""
    depth = 1
    pos = start + 2
    while True:
        close = text.find("*/", pos)
        if close < 0:
            return -1
        opening = text.find("/*", pos, close)
        if opening >= 0:
            depth += 1
            pos = opening + 2
            continue
        depth -= 1
        pos = close + 2
        if not depth:
            return pos


def _regions(text: str):
    """Notes and boneyards in ``text``, in order, as ``(kind, start, end)`` offsets: ``"note"``
    (``end`` just past ``]]``), ``"boneyard"`` (``end`` just past ``*/``, or -1 when it is never
    closed: it runs to the end of the text) and ``"open-note"`` (a ``[[`` with no ``]]`` before a
    blank line: it stays in the text, literally; ``end`` is -1). Whichever opens first wins, so a
    ``/*`` inside a note and a ``[[`` inside a boneyard are plain text."""
    pos = 0
    note_at = text.find("[[")
    bone_at = text.find("/*")
    while note_at >= 0 or bone_at >= 0:
        if bone_at >= 0 and (note_at < 0 or bone_at < note_at):
            end = _boneyard_end(text, bone_at)
            yield "boneyard", bone_at, end
            if end < 0:
                return
            pos = end
        else:
            close = text.find("]]", note_at + 2)
            if close < 0 or _BLANK_LINE.search(text, note_at + 2, close):
                yield "open-note", note_at, -1
                note_at = text.find("[[", note_at + 2)
                continue        # the `[[` stays in the text, literally
            yield "note", note_at, close + 2
            pos = close + 2
        if note_at >= 0 and note_at < pos:
            note_at = text.find("[[", pos)
        if bone_at >= 0 and bone_at < pos:
            bone_at = text.find("/*", pos)


def boneyards(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of every boneyard in ``text`` (already newline-normalized); an
    unterminated one ends at the end of the text. For the language server (folding, and where
    an edit can be re-parsed on its own)."""
    return [(start, len(text) if end < 0 else end)
            for kind, start, end in _regions(text) if kind == "boneyard"]


def hide(source: Source) -> Hidden:
    text = source.text
    if "[[" not in text and "/*" not in text:
        return Hidden(list(source.lines), (), [], [])

    line_starts = [0]
    for line in source.lines[:-1]:
        line_starts.append(line_starts[-1] + len(line) + 1)

    def position(offset: int) -> tuple[int, int]:
        index = bisect.bisect_right(line_starts, offset) - 1
        return index + 1, offset - line_starts[index] + 1

    kept: list[str] = []
    notes: list[tuple[int, int, int, int, str]] = []
    touched: set[int] = set()       # lines that lose text and may become transparent
    diagnostics: list[Diagnostic] = []
    pos = 0
    length = len(text)
    for kind, start, end in _regions(text):
        if kind == "boneyard":
            if end < 0:
                line, col = position(start)
                diagnostics.append(Diagnostic.make(
                    "E102", "unterminated boneyard: `/*` has no closing `*/`",
                    Span.on_line(line, col, col + 2), label="boneyard opens here",
                    help="add `*/` where the hidden text should end; everything after `/*` is left out"))
                end = length
            hidden = text[start:end]
            newlines = hidden.count("\n")
            start_line = position(start)[0]
            if not (newlines and _BLANK_LINE.search(hidden)):
                touched.update(range(start_line, start_line + newlines + 1))
            # else it hides a paragraph break: the lines it empties stay blank lines, so the
            # "CUT TO:" just above it is still a transition (fountain.io's boneyard example).
            kept.append(text[pos:start])
            kept.append("\n" * newlines)
            pos = end
        elif kind == "open-note":
            line, col = position(start)
            diagnostics.append(Diagnostic.make(
                "E101", "unterminated note: `[[` has no closing `]]`",
                Span.on_line(line, col, col + 2), label="note opens here",
                help="close the note with `]]`; a blank line inside a note ends it "
                     "(put two spaces on a line to keep it empty)"))
        else:
            body = text[start + 2:end - 2]
            line, col = position(start)
            end_line, end_col = position(end)
            notes.append((line, col, end_line, end_col, body))
            touched.update(range(line, end_line + 1))
            kept.append(text[pos:start])
            kept.append("\n" * body.count("\n"))
            pos = end
    kept.append(text[pos:])
    lines = "".join(kept).split("\n")
    # Every touched line held a marker or lay inside a note or boneyard: if nothing else is
    # left on it, it goes.
    transparent = {n for n in touched if not lines[n - 1].strip()}
    return Hidden(lines, transparent, notes, diagnostics)
