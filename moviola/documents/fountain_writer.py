"""Screenplay elements → Fountain text that parses back to the same elements.

The writer takes anything shaped like the parser's elements (``kind``, ``text`` with Fountain
emphasis markup, ``scene_number``, ``dual``, ``depth``, ``inline``): the FDX importer's paragraphs
as well as a parsed :class:`~moviola.compiler.fountain.Script`'s own elements. It forces an element
(``!``, ``@``, ``.``, ``>``) wherever its plain form would read as something else, and keeps the
few things Fountain cannot say listed in docs/cli.md (FDX limits).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from moviola.compiler import inline

# Scene heading prefixes (fountain.io: INT, EXT, EST, INT./EXT, INT/EXT, I/E), then "." or a space.
_HEADING_PREFIX = re.compile(r"(?:int\.?/ext|i/e|e/i|int|ext|est)[.\s]", re.IGNORECASE)
_TITLE_KEY_LIKE = re.compile(r"[^\s:][^:]*:")
# A line starting with one of these means something else in Fountain when it is not forced.
_MARKERS = "!@~=#>.["


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One element as the writer needs it: what an importer builds (no source span)."""

    kind: str
    text: str = ""                  # Fountain markup (emphasis), or a note's body
    scene_number: str | None = None
    dual: bool = False
    depth: int = 0
    inline: bool = False


def markup(runs: Iterable[inline.Run]) -> str:
    """Fountain text for styled runs: ``**bold**``, ``*italic*``, ``_underline_``, nested where
    styles overlap. Spaces at the edge of a styled stretch stay outside its markers (a marker
    beside a space does not pair); literal ``*`` ``_`` ``\\`` are escaped only where they would
    otherwise read as markup. The result is checked by parsing it back."""
    runs = [run for run in runs if run.text]
    wanted = _styles_of(runs, keep_spaces=True)
    loose = _styles_of(runs)
    fallback = None
    for escape in (False, True):
        text = _nested(runs, escape)
        parsed = inline.runs(text)
        if _styles_of(parsed, keep_spaces=True) == wanted:
            return text
        if fallback is None and _styles_of(parsed) == loose:
            fallback = text
    return fallback if fallback is not None else text


def _styles_of(runs, keep_spaces: bool = False) -> list[tuple[str, bool, bool, bool]]:
    """Per character (runs split differently still compare equal); spaces carry no style unless
    ``keep_spaces``."""
    out: list[tuple[str, bool, bool, bool]] = []
    for run in runs:
        for char in run.text:
            if char.isspace() and not keep_spaces:
                continue
            out.append((char, run.bold, run.italic, run.underline))
    return out


def _nested(runs: list[inline.Run], escape: bool) -> str:
    chars = [(char, (run.underline, run.bold, run.italic)) for run in runs for char in run.text]
    out: list[str] = []
    line: list = []
    for item in chars + [("\n", None)]:
        if item[0] == "\n":
            out.append(_line_markup(line, escape))
            line = []
        else:
            line.append(item)
    return "\n".join(out)


_MARKER = ("_", "**", "*")    # underline, bold, italic


def _line_markup(chars: list, escape: bool) -> str:
    """One line: each style's stretches, trimmed of edge spaces, wrapped in its marker."""
    count = len(chars)
    opens: dict[int, list[int]] = {}
    closes: dict[int, list[int]] = {}
    for style in range(3):
        index = 0
        while index < count:
            if not chars[index][1][style]:
                index += 1
                continue
            end = index
            while end < count and chars[end][1][style]:
                end += 1
            first, last = index, end
            while first < last and chars[first][0].isspace():
                first += 1
            while last > first and chars[last - 1][0].isspace():
                last -= 1
            if first < last:
                opens.setdefault(first, []).append(style)
                closes.setdefault(last, []).append(style)
            index = end
    out: list[str] = []
    stack: list[int] = []
    for position in range(count + 1):
        ending = closes.get(position, [])
        if ending:
            # close the innermost first; bold and italic closing together make one `***`
            for style in sorted(ending, key=stack.index, reverse=True):
                stack.remove(style)
            out.append(_markers(ending, closing=True))
        starting = opens.get(position, [])
        if starting:
            # the stretch that ends last opens first (outermost)
            starting.sort(key=lambda style: -_end_of(closes, position, style))
            stack.extend(starting)
            out.append(_markers(starting, closing=False))
        if position < count:
            char = chars[position][0]
            out.append(f"\\{char}" if escape and char in "\\*_" else char)
    return "".join(out)


def _end_of(closes: dict[int, list[int]], start: int, style: int) -> int:
    return min(position for position, styles in closes.items() if position > start and style in styles)


def _markers(styles: list[int], closing: bool) -> str:
    stars = "*" * (2 * (1 in styles) + (2 in styles))
    underline = "_" if 0 in styles else ""
    # underline is outermost when it opens with the stars: `_**x**_`
    return f"{stars}{underline}" if closing else f"{underline}{stars}"


def write(title_page: Sequence[tuple[str, str]], elements: Sequence) -> str:
    """Fountain text for a title page (``(key, value)`` pairs, values joined with ``\\n``) and
    an element stream."""
    lines: list[str] = []
    for key, value in title_page:
        values = value.split("\n") if value else []
        if len(values) == 1:
            lines.append(f"{key}: {values[0]}")
        else:
            lines.append(f"{key}:")
            lines.extend(f"    {v}" for v in values)
    writer = _Writer(lines, at_start=not title_page)
    for index, element in enumerate(elements):
        writer.add(element, _next_kind(elements, index))
    text = "\n".join(lines).rstrip("\n")
    return text + "\n"


def _next_kind(elements: Sequence, index: int) -> str | None:
    for element in elements[index + 1:]:
        if element.kind != "note":
            return element.kind
    return None


class _Writer:
    def __init__(self, lines: list[str], at_start: bool):
        self.lines = lines
        self.at_start = at_start     # no title page and nothing written yet
        self.in_block = False        # inside a dialogue block (cue, parentheticals, speech)
        self.pending_dual = False    # the last cue opened a dual-dialogue pair
        self.last = -1               # index of the last element's last line, for inline notes
        self.previous = None         # the kind of the last element written (notes aside)

    def paragraph(self, block: list[str]) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")
        self.lines.extend(block)
        self.last = len(self.lines) - 1
        self.at_start = False

    def in_block_lines(self, block: list[str]) -> None:
        self.lines.extend(block)
        self.last = len(self.lines) - 1

    def add(self, element, next_kind: str | None) -> None:
        if element.kind != "note":
            self.previous, previous = element.kind, self.previous
        else:
            previous = self.previous
        self.write(element, next_kind, previous)

    def write(self, element, next_kind: str | None, previous: str | None) -> None:
        kind = element.kind
        text = element.text
        if kind == "note":
            body = f"[[{text}]]"
            if element.inline and self.last >= 0:
                self.lines[self.last] += f" {body}"
            elif self.in_block and next_kind in ("dialogue", "parenthetical", "lyrics"):
                self.lines.append(body)     # a line of only a note is transparent in a speech
            else:
                self.paragraph([body])
                self.last = -1 if not self.in_block else self.last
                self.in_block = False
            return
        if kind in ("dialogue", "parenthetical") and self.in_block:
            self.in_block_lines(_speech_lines(text) if kind == "dialogue" else [text])
            return
        if kind == "lyrics" and self.in_block and previous != "lyrics":
            # (consecutive sung lines are one element: a second one follows a blank line)
            self.in_block_lines([f"~{line}" for line in text.split("\n")])
            return
        self.in_block = False
        if kind == "character":
            self.paragraph([self.cue(element)])
            self.in_block = True
            return
        self.pending_dual = False
        if kind == "scene_heading":
            heading = text if _HEADING_PREFIX.match(text) and not text.startswith(".") else f".{text}"
            if element.scene_number:
                heading += f" #{element.scene_number}#"
            self.paragraph([heading])
        elif kind == "action":
            self.paragraph(self.action_lines(text))
        elif kind == "centered":
            self.paragraph([f">{line}<" for line in text.split("\n")])
        elif kind == "transition":
            plain = text.strip()
            self.paragraph([plain if plain.isupper() and plain.endswith("TO:") else f">{plain}"])
        elif kind == "lyrics":
            self.paragraph([f"~{line}" for line in text.split("\n")])
        elif kind == "section":
            self.paragraph([f"{'#' * max(element.depth, 1)} {text}"])
        elif kind == "synopsis":
            self.paragraph([f"= {text}"])
        elif kind == "page_break":
            self.paragraph(["==="])
        elif kind in ("dialogue", "parenthetical"):
            # a speech with no cue cannot be written as one: it reads as action
            self.paragraph(self.action_lines(text))
        else:
            raise ValueError(f"unknown element kind {kind!r}")

    def cue(self, element) -> str:
        text = element.text.strip()
        paren = text.find("(")
        name = (text if paren < 0 else text[:paren]).strip()
        plain = name.isupper() and not name.endswith(":") and not _HEADING_PREFIX.match(name) \
            and text[:1] not in _MARKERS and not (self.at_start and _TITLE_KEY_LIKE.match(text))
        line = text if plain else f"@{text}"
        if element.dual:
            if self.pending_dual:
                line += " ^"
                self.pending_dual = False
            else:
                self.pending_dual = True
        else:
            self.pending_dual = False
        return line

    def action_lines(self, text: str) -> list[str]:
        out = []
        for number, line in enumerate(text.split("\n")):
            stripped = line.strip()
            if not stripped:
                out.append("  ")        # two spaces: a blank line that keeps the paragraph
                continue
            if number == 0:
                force = (stripped[0] in _MARKERS or stripped.isupper()
                         or _HEADING_PREFIX.match(stripped) is not None
                         or (self.at_start and _TITLE_KEY_LIKE.match(line) is not None))
            else:
                force = stripped[0] in "!@~=#>"
            if force:
                indent = len(line) - len(line.lstrip())
                line = f"{line[:indent]}!{line[indent:]}"
            out.append(line)
        return out


def _speech_lines(text: str) -> list[str]:
    return [line if line.strip() else "  " for line in text.split("\n")]


def from_script(script) -> str:
    """A parsed script written back as Fountain (normalized: forcing only where needed)."""
    return write([(field.key, field.value) for field in script.title_page], script.elements)
