"""The screenplay's pages: Fountain elements → pages of positioned lines, in industry format.

Pure layout, no PDF: a page is a grid of Courier 12 pt cells, 10 characters an inch and 6 lines
an inch, so every position is a (row, column) pair counted from the top-left corner of the text
area (1.5 in from the left edge, 1 in from the top). ``moviola.documents.pdf`` draws the grid;
the tests read it directly.

The indents are those of the common screenplay templates (Final Draft, Highland, afterwriting):
headings and action 60 columns wide, the cue at 3.7 in from the page edge, parentheticals at
3.1 in, dialogue at 2.5 in and 35 columns wide, transitions flush right. One page of it runs
about a minute of screen time.

Page rules: a scene heading is never the last thing on a page (it moves over with the first
lines of its scene); a speech that does not fit is split between lines with ``(MORE)`` under it
and the cue repeated with ``(CONT'D)`` on the next page; an action paragraph splits only with at
least two lines on each side; dual dialogue is set side by side and moves whole.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass, field

from moviola.compiler import inline, ir
from moviola.compiler.fountain import Element, Script
from moviola.compiler.inline import Run

POINTS_PER_INCH = 72.0
CELL_WIDTH = 7.2            # Courier 12 pt: 600/1000 em, 10 characters an inch
LINE_HEIGHT = 12.0          # 6 lines an inch
LEFT_MARGIN = 108.0         # 1.5 in: room for the binding
TOP_MARGIN = 72.0
BOTTOM_MARGIN = 60.0        # 55 lines on US letter, as screenwriting software sets it
TEXT_COLUMNS = 60           # 6 in of text: 1 in right margin on letter
PAGE_NUMBER_ROW = -3        # the page number sits half an inch from the top edge


@dataclass(frozen=True, slots=True)
class Paper:
    name: str
    width: float            # points
    height: float

    @property
    def rows(self) -> int:
        """Lines of text on a page."""
        return int((self.height - TOP_MARGIN - BOTTOM_MARGIN) // LINE_HEIGHT)


PAPERS = {"letter": Paper("letter", 612.0, 792.0), "a4": Paper("a4", 595.28, 841.89)}


@dataclass(frozen=True, slots=True)
class Placed:
    """One line of text on a page. ``column`` counts character cells from the left margin
    (negative in the margin: scene numbers); ``kind`` is the element kind it comes from, or
    ``more``, ``page_number``, ``scene_number``, ``title``."""

    row: int
    column: float
    runs: tuple[Run, ...]
    kind: str

    @property
    def text(self) -> str:
        return "".join(run.text for run in self.runs)


@dataclass(frozen=True, slots=True)
class Page:
    number: int             # 0 for the title page
    lines: tuple[Placed, ...]

    def text_lines(self) -> list[Placed]:
        """The lines in reading order (top to bottom, left to right), page number excluded."""
        return sorted((l for l in self.lines if l.kind != "page_number"),
                      key=lambda l: (l.row, l.column))


@dataclass(frozen=True, slots=True)
class SceneExtent:
    """Where a scene lies in the printed script: its length in eighths of a page, the unit of
    production schedules."""

    heading: str
    number: str             # as --scene-numbers prints it: the heading's #1A#, else its ordinal
    line: int               # the heading's source line (the IR scene's span line)
    page: int               # the page it starts on
    eighths: int


@dataclass(frozen=True, slots=True)
class Document:
    paper: Paper
    title_page: Page | None
    pages: tuple[Page, ...]
    scenes: tuple[SceneExtent, ...]

    @property
    def page_count(self) -> int:
        """Pages of the script proper (the title page is not counted, as in the trade)."""
        return len(self.pages)


@dataclass(frozen=True, slots=True)
class Style:
    indent: int
    width: int
    align: str = "left"     # left, right, center
    before: int = 1         # blank lines before
    italic: bool = False


STYLES = {
    "scene_heading": Style(0, TEXT_COLUMNS),
    "action": Style(0, TEXT_COLUMNS),
    "character": Style(22, 38),
    "parenthetical": Style(16, 25, before=0),
    "dialogue": Style(10, 35, before=0),
    "speech_note": Style(10, 35, before=0, italic=True),
    "lyrics": Style(10, 35, italic=True),
    "transition": Style(0, TEXT_COLUMNS, align="right"),
    "centered": Style(0, TEXT_COLUMNS, align="center"),
    "note": Style(0, TEXT_COLUMNS, italic=True),
}
# Dual dialogue: two narrower columns; the right one starts at DUAL_OFFSET.
DUAL_STYLES = {
    "character": Style(9, 20),
    "parenthetical": Style(4, 22, before=0),
    "dialogue": Style(0, 28, before=0),
    "speech_note": Style(0, 28, before=0, italic=True),
}
DUAL_OFFSET = 31
MORE = "(MORE)"
_SENTENCE_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f][\"')\u201d\u2019]*$")
_SENTENCE_REACH = 3         # rows a speech break may move up to end on a full sentence
CONTINUED = "CONT'D"

# Title-page keys that are Moviola's settings, not words for the reader.
_SETTING_KEYS = {f.name for f in dataclasses.fields(ir.Settings)} - {"title", "credit", "author"}
_TITLE_CENTER = ("title", "credit", "author", "authors", "source")
_TITLE_RIGHT = ("draft_date", "date", "revision")


# --- text measure and wrapping ----------------------------------------------------------------

def cells(text: str) -> int:
    """Character cells ``text`` takes in a monospaced face: East Asian wide characters take two,
    combining marks none."""
    return sum(_cell(ch) for ch in text)


def _cell(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


# A word, a run of spaces, or one wide character (CJK text breaks between any two characters).
_TOKEN = re.compile(r"[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\uff00-\uffef]|[^\s\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\uff00-\uffef]+|\s+")


def wrap(runs: list[Run] | tuple[Run, ...], width: int) -> list[tuple[Run, ...]]:
    """Styled text → lines of at most ``width`` cells, broken between words (or inside a word
    longer than a line); line breaks in the text are kept, leading indentation too."""
    text = "".join(run.text for run in runs)
    ranges: list[tuple[int, int]] = []
    offset = 0
    for source_line in text.split("\n"):
        ranges.extend((offset + a, offset + b) for a, b in _wrap_line(source_line, width))
        offset += len(source_line) + 1
    return [_slice(runs, start, end) for start, end in ranges]


def _wrap_line(line: str, width: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    start = end = 0          # the current output line: [start, end) of ``line``
    used = 0
    for match in _TOKEN.finditer(line):
        token = match.group()
        size = cells(token)
        if token.isspace():
            if end > start or not out:     # spaces inside a line, or leading indentation
                end, used = match.end(), used + size
            else:
                start = end = match.end()  # spaces at the start of a continuation line
            continue
        if used + size <= width:
            end, used = match.end(), used + size
            continue
        if end > start:
            out.append((start, _rstrip(line, start, end)))
        start = end = match.start()
        used = 0
        while size > width:                # a word longer than a line: break it
            cut = start
            taken = 0
            while cut < match.end() and taken + _cell(line[cut]) <= width:
                taken += _cell(line[cut])
                cut += 1
            out.append((start, cut))
            start = end = cut
            size = cells(line[cut:match.end()])
        end, used = match.end(), size
    if end > start or not out:
        out.append((start, _rstrip(line, start, end)))
    return out


def _rstrip(line: str, start: int, end: int) -> int:
    while end > start and line[end - 1].isspace():
        end -= 1
    return end


def _slice(runs, start: int, end: int) -> tuple[Run, ...]:
    out: list[Run] = []
    position = 0
    for run in runs:
        a, b = max(start, position), min(end, position + len(run.text))
        if a < b:
            out.append(dataclasses.replace(run, text=run.text[a - position:b - position]))
        position += len(run.text)
    return tuple(out)


def _runs(element: Element) -> list[Run]:
    return inline.runs(element.text) if inline.has_markup(element.text) else [Run(element.text)]


def _italic(runs) -> list[Run]:
    return [dataclasses.replace(run, italic=True) for run in runs]


# --- blocks: what moves between pages as a unit --------------------------------------------------

@dataclass
class _Row:
    pieces: list[tuple[float, tuple[Run, ...], str]]   # (column, runs, kind)
    kind: str                                          # the element kind that leads the row


@dataclass
class _Block:
    kind: str                # heading, action, dialogue, dual, other, page_break
    before: int
    rows: list[_Row] = field(default_factory=list)
    cue: tuple[Run, ...] = ()        # dialogue: the cue, to repeat with (CONT'D)
    scene_line: int | None = None    # heading: its source line
    heading: str = ""
    number: str = ""


def _set(element_kind: str, runs, style: Style, offset: int = 0) -> list[_Row]:
    rows = []
    for line in wrap(runs, style.width):
        size = cells("".join(r.text for r in line))
        if style.align == "right":
            column = offset + style.indent + style.width - size
        elif style.align == "center":
            column = offset + style.indent + (style.width - size) / 2
        else:
            column = offset + style.indent
        rows.append(_Row([(column, tuple(_italic(line) if style.italic else line), element_kind)],
                         element_kind))
    return rows


def _speech_rows(elements: list[Element], styles: dict[str, Style], offset: int = 0) -> list[_Row]:
    rows: list[_Row] = []
    for element in elements:
        if element.kind == "note":
            rows.extend(_set("note", [Run(f"[[{element.text}]]")], styles["speech_note"], offset))
        else:
            rows.extend(_set(element.kind, _runs(element), styles[element.kind], offset))
    return rows


def _speech_end(elements: list[Element], cue: int) -> int:
    """Where the speech under the cue at ``cue`` ends: its parentheticals and dialogue, and the
    notes written among them (a ``[[voice: ...]]`` line), not the notes after it."""
    end = last = cue + 1
    while end < len(elements) and elements[end].kind in ("parenthetical", "dialogue", "note"):
        end += 1
        if elements[end - 1].kind != "note":
            last = end
    return last


def _blocks(script: Script, notes: bool, scene_numbers: bool) -> list[_Block]:
    elements = [e for e in script.elements if e.kind not in ("section", "synopsis")
                and (notes or e.kind != "note")]
    blocks: list[_Block] = []
    scene = 0
    index = 0
    while index < len(elements):
        element = elements[index]
        kind = element.kind
        if kind == "character":
            end = _speech_end(elements, index)
            speech = elements[index:end]
            partner_end = end
            if element.dual and end < len(elements) and elements[end].kind == "character" \
                    and elements[end].dual:
                partner_end = _speech_end(elements, end)
            if partner_end > end:
                left = _speech_rows(speech, DUAL_STYLES)
                right = _speech_rows(elements[end:partner_end], DUAL_STYLES, DUAL_OFFSET)
                rows = [_Row([], "dual") for _ in range(max(len(left), len(right)))]
                for side in (left, right):
                    for number, row in enumerate(side):
                        rows[number].pieces.extend(row.pieces)
                blocks.append(_Block("dual", 1, rows))
                index = partner_end
            else:
                blocks.append(_Block("dialogue", 1, _speech_rows(speech, STYLES), cue=tuple(_runs(element))))
                index = end
            continue
        index += 1
        if kind == "page_break":
            blocks.append(_Block("page_break", 0))
        elif kind == "scene_heading":
            scene += 1
            rows = _set(kind, _runs(element), STYLES[kind])
            number = element.scene_number or str(scene)
            if scene_numbers:
                rows[0].pieces.append((-len(number) - 3, (Run(number),), "scene_number"))
                rows[0].pieces.append((TEXT_COLUMNS + 2, (Run(number),), "scene_number"))
            blocks.append(_Block("heading", 1, rows, scene_line=element.span.line,
                                 heading=element.plain, number=number))
        elif kind == "note":
            # notes written on consecutive lines stay together, as they were typed
            previous = elements[index - 2] if index >= 2 else None
            touching = previous is not None and previous.kind == "note" \
                and previous.span.end_line + 1 >= element.span.line
            blocks.append(_Block("other", 0 if touching else 1,
                                 _set(kind, [Run(f"[[{element.text}]]")], STYLES[kind])))
        elif kind in ("parenthetical", "dialogue"):   # a speech with no cue: print it as such
            blocks.append(_Block("other", STYLES[kind].before, _set(kind, _runs(element), STYLES[kind])))
        else:
            style = STYLES.get(kind, STYLES["action"])
            blocks.append(_Block("action" if kind == "action" else "other", style.before,
                                 _set(kind, _runs(element), style)))
    return blocks


# --- pages ---------------------------------------------------------------------------------------

class _Pager:
    def __init__(self, paper: Paper):
        self.rows = paper.rows
        self.pages: list[list[Placed]] = []
        self.lines: list[Placed] = []
        self.used = 0
        self.scene_starts: list[tuple[str, str, int, int, int]] = []   # heading, number, line, page, row

    def place(self, rows: list[_Row], gap: int) -> None:
        if not self.lines and not self.used:
            gap = 0
        self.used += gap
        for row in rows:
            for column, runs, kind in row.pieces:
                self.lines.append(Placed(self.used, column, runs, kind))
            self.used += 1

    def room(self) -> int:
        return self.rows - self.used

    def new_page(self) -> None:
        self.pages.append(self.lines)
        self.lines = []
        self.used = 0

    def position(self) -> tuple[int, int]:
        return len(self.pages), self.used


def paginate(script: Script, paper: Paper | str = "letter", *, notes: bool = False,
             scene_numbers: bool = False) -> Document:
    """Lay ``script`` out on pages. ``notes``: print notes and Moviola annotations (in
    ``[[ ]]``); ``scene_numbers``: number every heading in both margins (a heading's own
    ``#1A#`` wins)."""
    if isinstance(paper, str):
        paper = PAPERS[paper]
    blocks = _blocks(script, notes, scene_numbers)
    pager = _Pager(paper)
    for number, block in enumerate(blocks):
        if block.kind == "page_break":
            if pager.lines:
                pager.new_page()
            continue
        _lay(pager, block, blocks[number + 1] if number + 1 < len(blocks) else None)
    if pager.lines or not pager.pages:
        pager.new_page()

    pages = []
    for number, lines in enumerate(pager.pages, 1):
        if number > 1:
            label = f"{number}."
            lines = [Placed(PAGE_NUMBER_ROW, TEXT_COLUMNS - len(label), (Run(label),), "page_number"),
                     *lines]
        pages.append(Page(number, tuple(lines)))
    return Document(paper, _title_page(script, paper, notes), tuple(pages),
                    _extents(pager.scene_starts, len(pages), paper.rows))


def _lay(pager: _Pager, block: _Block, following: _Block | None) -> None:
    gap = block.before if pager.used else 0
    need = gap + len(block.rows)
    if block.kind == "heading" and following is not None and following.kind != "page_break":
        need += following.before + _opening_rows(following)   # never orphan a heading
    if need > pager.room() and pager.used:
        if block.kind == "action" and _split_action(pager, block, gap):
            return
        if block.kind == "dialogue" and _split_speech(pager, block, gap):
            return
        pager.new_page()
        gap = 0
    if block.kind == "heading":
        pager.scene_starts.append((block.heading, block.number, block.scene_line or 0,
                                   *pager.position()))
    rows = block.rows
    while len(rows) > pager.room():        # longer than a whole page: split where it must
        if block.kind == "dialogue":
            if _split_speech(pager, dataclasses.replace(block, rows=rows), gap):
                return
        take = max(pager.room(), 1)
        pager.place(rows[:take], gap)
        pager.new_page()
        rows, gap = rows[take:], 0
    pager.place(rows, gap)


def _opening_rows(block: _Block) -> int:
    """The fewest rows ``block`` can start a page foot with (under the split rules below)."""
    if block.kind == "action" and len(block.rows) >= 4:
        return 2
    if block.kind == "dialogue":
        for take in range(2, len(block.rows)):
            if block.rows[take - 1].kind != "parenthetical":
                return take + 1                     # and (MORE)
    return len(block.rows)


def _split_action(pager: _Pager, block: _Block, gap: int) -> bool:
    take = pager.room() - gap
    if take < 2 or len(block.rows) - take < 2:
        return False
    pager.place(block.rows[:take], gap)
    pager.new_page()
    _lay(pager, dataclasses.replace(block, before=0, rows=block.rows[take:]), None)
    return True


def _split_speech(pager: _Pager, block: _Block, gap: int) -> bool:
    """Put as much of a speech as fits, then (MORE); the rest goes on under the cue and
    (CONT'D). The break needs the cue and one line before it, one line after, and never
    falls right after a parenthetical."""
    take = pager.room() - gap - 1          # one row for (MORE)
    take = min(take, len(block.rows) - 1)
    while take >= 2 and block.rows[take - 1].kind == "parenthetical":
        take -= 1
    if take < 2:
        return False
    for earlier in range(take, max(take - _SENTENCE_REACH, 1), -1):   # rather at a sentence's end
        row = block.rows[earlier - 1]
        if row.kind == "dialogue" and _SENTENCE_END.search("".join(r.text for _, runs, _ in row.pieces
                                                                   for r in runs)):
            take = earlier
            break
    more = _Row([(STYLES["character"].indent, (Run(MORE),), "more")], "more")
    pager.place([*block.rows[:take], more], gap)
    pager.new_page()
    cue_text = "".join(r.text for r in block.cue)
    suffix = () if CONTINUED in cue_text.upper() else (Run(f" ({CONTINUED})"),)
    cue = _Row([(STYLES["character"].indent, (*block.cue, *suffix), "character")], "character")
    _lay(pager, dataclasses.replace(block, before=0, rows=[cue, *block.rows[take:]]), None)
    return True


def _extents(starts, page_count: int, rows: int) -> tuple[SceneExtent, ...]:
    out = []
    for index, (heading, number, line, page, row) in enumerate(starts):
        if index + 1 < len(starts):
            end_page, end_row = starts[index + 1][3:]
        else:
            end_page, end_row = page_count, 0
        length = (end_page - page) + (end_row - row) / rows
        out.append(SceneExtent(heading, number, line, page + 1, max(1, round(length * 8))))
    return tuple(out)


def _title_page(script: Script, paper: Paper, notes: bool) -> Page | None:
    fields: dict[str, list[tuple[Run, ...]]] = {}
    for entry in script.title_page:
        key = entry.key.strip().lower().replace(" ", "_")
        if key in _SETTING_KEYS and not notes:
            continue
        value = entry.value.strip()
        runs = inline.runs(value) if inline.has_markup(value) else [Run(value)]
        fields.setdefault(key, []).extend(wrap(runs, TEXT_COLUMNS))
    if not fields:
        return None
    lines: list[Placed] = []
    center = [key for key in _TITLE_CENTER if key in fields]
    block: list[tuple[tuple[Run, ...], str]] = []
    for key in center:
        if block:
            block.append(((), ""))
            if key == "credit" or key == "source":
                block.append(((), ""))
        if key == "title":
            block.extend((tuple(dataclasses.replace(r, bold=True) for r in row), "title")
                         for row in fields[key])
        else:
            block.extend((row, "title_page") for row in fields[key])
    row = 18
    middle = (paper.width / 2 - LEFT_MARGIN) / CELL_WIDTH     # centered on the page, as printed
    for runs, kind in block:
        if runs:
            lines.append(Placed(row, middle - cells("".join(r.text for r in runs)) / 2, runs, kind))
        row += 1
    rows = paper.rows
    left = [row for key, value in fields.items() if key not in _TITLE_CENTER
            and key not in _TITLE_RIGHT for row in value + [()]][:-1]
    right = [row for key in _TITLE_RIGHT if key in fields for row in fields[key] + [()]][:-1]
    for number, runs in enumerate(left):
        if runs:
            lines.append(Placed(rows - len(left) + number, 0, runs, "title_page"))
    for number, runs in enumerate(right):
        if runs:
            size = cells("".join(r.text for r in runs))
            lines.append(Placed(rows - len(right) + number, TEXT_COLUMNS - size, runs, "title_page"))
    return Page(0, tuple(lines))
