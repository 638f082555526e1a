"""Fountain emphasis: ``*italic*``, ``**bold**``, ``***bold italic***``, ``_underline_``, and
``\\`` escapes. Emphasis opens and closes on one line; an unmatched marker is literal text.

As in Markdown, spaces around a marker matter (fountain.io: emphasis): a marker opens only when
text follows it and closes only when text precedes it, so in "He dialed *69 and then *23" neither
asterisk closes and both stay literal."""

from __future__ import annotations

import re
from dataclasses import dataclass

_MARKUP = re.compile(r"\\(.)|(\*{1,3}|_)")


@dataclass(frozen=True, slots=True)
class Run:
    text: str
    bold: bool = False
    italic: bool = False
    underline: bool = False

    def to_json(self) -> dict:
        out: dict = {"text": self.text}
        for flag in ("bold", "italic", "underline"):
            if getattr(self, flag):
                out[flag] = True
        return out


def has_markup(text: str) -> bool:
    return "*" in text or "_" in text or "\\" in text


def runs(text: str) -> list[Run]:
    """Styled runs of ``text``; lines are parsed one by one and joined with '\\n'."""
    out: list[Run] = []
    for number, line in enumerate(text.split("\n")):
        if number:
            _append(out, Run("\n"))
        for run in _line_runs(line):
            _append(out, run)
    return out


def plain(text: str) -> str:
    """``text`` without emphasis markers and with escapes resolved."""
    if not has_markup(text):
        return text
    return "".join(run.text for run in runs(text))


def _append(out: list[Run], run: Run) -> None:
    if out and (out[-1].bold, out[-1].italic, out[-1].underline) == (run.bold, run.italic, run.underline):
        out[-1] = Run(out[-1].text + run.text, run.bold, run.italic, run.underline)
    elif run.text:
        out.append(run)


def _line_runs(line: str) -> list[Run]:
    # pieces: plain strings, or [marker] lists for markers that may pair up
    pieces: list = []
    pos = 0
    for match in _MARKUP.finditer(line):
        if match.start() > pos:
            pieces.append(line[pos:match.start()])
        if match.group(1) is not None:
            pieces.append(match.group(1))
        else:
            start, end = match.start(), match.end()
            can_open = end < len(line) and not line[end].isspace()
            can_close = start > 0 and not line[start - 1].isspace()
            pieces.append([match.group(2), can_open, can_close])
        pos = match.end()
    if pos < len(line):
        pieces.append(line[pos:])

    # Pair markers with a stack; markers left open between a pair become literal text.
    stack: list[int] = []
    paired: dict[int, int] = {}
    for index, piece in enumerate(pieces):
        if isinstance(piece, list):
            marker, can_open, can_close = piece
            if can_close:
                for depth in range(len(stack) - 1, -1, -1):
                    if pieces[stack[depth]][0] == marker:
                        paired[stack[depth]] = index
                        paired[index] = stack[depth]
                        del stack[depth:]
                        break
                else:
                    if can_open:
                        stack.append(index)
            elif can_open:
                stack.append(index)

    result: list[Run] = []
    bold = italic = underline = 0
    for index, piece in enumerate(pieces):
        if isinstance(piece, str):
            result.append(Run(piece, bold > 0, italic > 0, underline > 0))
            continue
        marker = piece[0]
        if index not in paired:
            result.append(Run(marker, bold > 0, italic > 0, underline > 0))
            continue
        step = 1 if paired[index] > index else -1
        if marker == "_":
            underline += step
        else:
            if len(marker) >= 2:
                bold += step
            if len(marker) != 2:
                italic += step
    return result
