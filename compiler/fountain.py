"""Fountain text → a stream of screenplay elements, each with its source span.

Three steps:

1. :func:`_hide` takes boneyard ``/* */`` and notes ``[[ ]]`` out of the text. Notes come back as
   ``note`` elements; a line that held nothing but notes or boneyard is *transparent*: dropped, so
   a ``[[shot: ...]]`` line between a cue and its dialogue does not break the dialogue.
2. :func:`_lex` classifies each remaining line with the context Fountain needs (a cue needs a
   blank line before it and text after it, a heading needs blank lines around it, …).
3. ``grammar/fountain.lark`` (LALR, transformer inlined) groups the classified lines into
   elements: action paragraphs, dialogue blocks, the title page.

Any text parses: problems become diagnostics, never exceptions.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from . import inline
from .diagnostics import Diagnostic
from .source import Source, Span

ELEMENT_KINDS = (
    "scene_heading", "action", "character", "dialogue", "parenthetical", "transition",
    "centered", "lyrics", "page_break", "section", "synopsis", "note",
)


@dataclass(frozen=True, slots=True)
class TitleField:
    key: str            # as written ("Draft date")
    value: str          # continuation lines joined with "\n"
    span: Span          # the whole field
    value_span: Span    # just the value (for diagnostics)


@dataclass(frozen=True, slots=True)
class Element:
    """One screenplay element. ``text`` is as written, minus notes and boneyard, with emphasis
    markup kept (``plain`` drops it). Fields beyond kind/text/span are set only where they apply."""

    kind: str
    text: str
    span: Span
    scene_number: str | None = None      # scene_heading: "1A" from "#1A#"
    name: str | None = None              # character: the cue name, extensions removed
    extensions: tuple[str, ...] = ()     # character: ("V.O.", "CONT'D")
    dual: bool = False                   # character: second (^) or first half of dual dialogue
    depth: int = 0                       # section: number of '#'
    forced: bool = False                 # written with a forcing prefix (! @ . > ~)
    inline: bool = False                 # note: shares its line with other text

    @property
    def plain(self) -> str:
        return inline.plain(self.text)

    @property
    def body_start(self) -> tuple[int, int]:
        """For a note, where the text after ``[[`` starts."""
        return self.span.line, self.span.col + 2

    def to_json(self) -> dict:
        out: dict = {"type": self.kind, "text": self.plain, "line": self.span.line,
                     "span": self.span.to_json()}
        if self.kind != "note" and inline.has_markup(self.text):
            styled = inline.runs(self.text)
            if any(r.bold or r.italic or r.underline for r in styled):
                out["runs"] = [r.to_json() for r in styled]
        if self.kind == "note":
            out["text"] = self.text
        if self.scene_number is not None:
            out["scene_number"] = self.scene_number
        if self.kind == "character":
            out["name"] = self.name
            out["extensions"] = list(self.extensions)
            if self.dual:
                out["dual"] = True
        if self.kind == "section":
            out["depth"] = self.depth
        if self.forced:
            out["forced"] = True
        if self.inline:
            out["inline"] = True
        return out


@dataclass(frozen=True, slots=True)
class Script:
    """The parsed screenplay: the syntax layer that the IR is lowered from."""

    source: Source
    title_page: tuple[TitleField, ...]
    elements: tuple[Element, ...]
    diagnostics: tuple[Diagnostic, ...]

    def to_json(self) -> dict:
        title: dict[str, str] = {}
        for field in self.title_page:
            key = field.key.strip().lower().replace(" ", "_")
            title[key] = f"{title[key]}\n{field.value}" if key in title else field.value
        return {"title_page": title, "elements": [e.to_json() for e in self.elements]}


# ---------------------------------------------------------------------------------------------
# 1. notes and boneyard

# A truly blank line ends a note; a line of two spaces does not (fountain.io: notes).
_BLANK_IN_NOTE = re.compile(r"\n[ \t]?(?=\n|$)")


class _Hidden:
    __slots__ = ("lines", "transparent", "notes", "diagnostics")

    def __init__(self, lines, transparent, notes, diagnostics):
        self.lines = lines
        self.transparent = transparent
        self.notes = notes
        self.diagnostics = diagnostics


def _hide(source: Source) -> _Hidden:
    text = source.text
    if "[[" not in text and "/*" not in text:
        return _Hidden(list(source.lines), (), [], [])

    line_starts = [0]
    for line in source.lines[:-1]:
        line_starts.append(line_starts[-1] + len(line) + 1)

    def position(offset: int) -> tuple[int, int]:
        index = bisect.bisect_right(line_starts, offset) - 1
        return index + 1, offset - line_starts[index] + 1

    kept: list[str] = []
    notes: list[tuple[int, int, int, int, str]] = []   # (line, col, end_line, end_col, body)
    touched: set[int] = set()
    diagnostics: list[Diagnostic] = []
    pos = 0
    length = len(text)
    while pos < length:
        note_at = text.find("[[", pos)
        bone_at = text.find("/*", pos)
        if note_at < 0 and bone_at < 0:
            break
        if bone_at >= 0 and (note_at < 0 or bone_at < note_at):
            close = text.find("*/", bone_at + 2)
            end = length if close < 0 else close + 2
            if close < 0:
                line, col = position(bone_at)
                diagnostics.append(Diagnostic.make(
                    "E102", "unterminated boneyard: `/*` has no closing `*/`",
                    Span.on_line(line, col, col + 2), label="boneyard opens here",
                    help="add `*/` where the hidden text should end; everything after `/*` is left out"))
            start_line = position(bone_at)[0]
            hidden = text[bone_at:end]
            touched.update(range(start_line, start_line + hidden.count("\n") + 1))
            kept.append(text[pos:bone_at])
            kept.append("\n" * hidden.count("\n"))
            pos = end
            continue
        close = text.find("]]", note_at + 2)
        body = text[note_at + 2:close] if close >= 0 else ""
        if close < 0 or _BLANK_IN_NOTE.search(body):
            line, col = position(note_at)
            diagnostics.append(Diagnostic.make(
                "E101", "unterminated note: `[[` has no closing `]]`",
                Span.on_line(line, col, col + 2), label="note opens here",
                help="close the note with `]]`; a blank line inside a note ends it "
                     "(put two spaces on a line to keep it empty)"))
            kept.append(text[pos:note_at + 2])
            pos = note_at + 2
            continue
        line, col = position(note_at)
        end_line, end_col = position(close + 2)
        notes.append((line, col, end_line, end_col, body))
        touched.update(range(line, end_line + 1))
        kept.append(text[pos:note_at])
        kept.append("\n" * body.count("\n"))
        pos = close + 2
    kept.append(text[pos:])
    lines = "".join(kept).split("\n")
    original = source.lines
    transparent = {n for n in touched
                   if not lines[n - 1].strip() and original[n - 1].strip()}
    return _Hidden(lines, transparent, notes, diagnostics)


# ---------------------------------------------------------------------------------------------
# 2. line lexer

_HEADING = re.compile(r"(?:int\.?/ext|i/e|e/i|int|ext|est)(?:\.|\s|$)", re.IGNORECASE)
_SCENE_NUMBER = re.compile(r"\s+#([^#\s]+)#\s*$|^#([^#\s]+)#$")
_TITLE_KEY = re.compile(r"([^\s:][^:]*):(.*)$")
_PAGE_BREAK = re.compile(r"={3,}$")
_EXTENSION = re.compile(r"\(([^()]*)\)")


class _Line:
    """What the lexer hands the grammar: a token type, the line's text and its number."""

    __slots__ = ("type", "text", "number", "extra", "width")

    def __init__(self, type: str, text: str, number: int, extra=None):
        self.type = type
        self.text = text
        self.number = number
        self.extra = extra
        self.width = 0      # length of the physical line, set when spans are needed


def _is_blank(text: str) -> bool:
    # Two or more spaces on an otherwise empty line are a deliberate "blank" inside a block.
    return len(text) < 2 and not text.strip()


def _parse_cue(text: str, forced: bool):
    """(name, extensions, dual) if ``text`` reads as a character cue, else None."""
    dual = text.endswith("^")
    if dual:
        text = text[:-1].rstrip()
    paren = text.find("(")
    name = (text if paren < 0 else text[:paren]).strip()
    if not name or "^" in name:
        return None
    extensions: tuple[str, ...] = ()
    if paren >= 0:
        rest = text[paren:]
        extensions = tuple(e.strip() for e in _EXTENSION.findall(rest))
        if _EXTENSION.sub("", rest).strip():
            return None
    if not forced:
        # Entirely upper case with at least one cased letter: "23" and CJK text are not cues.
        if name.upper() != name or not any(c.isupper() for c in name):
            return None
    return name, extensions, dual


def _title_page_end(lines: list[str]) -> int:
    """Number of lines the title page takes (0 if the script has none)."""
    if not lines:
        return 0
    first = _TITLE_KEY.match(lines[0])
    if not first:
        return 0
    key, value = first.group(1), first.group(2).strip()
    if not value and key.upper() == key:
        # "FADE IN:" opens many scripts and is not a title page; an indented value below
        # the key makes it one again.
        if len(lines) < 2 or not lines[1][:1].isspace() or not lines[1].strip():
            return 0
    for index, line in enumerate(lines):
        if not line.strip():
            return index
    return len(lines)


def _lex(hidden: _Hidden, physical: tuple[str, ...]) -> tuple[list[_Line], int]:
    lines = hidden.lines
    transparent = hidden.transparent
    if transparent:
        logical = [(n, s) for n, s in enumerate(lines, 1) if n not in transparent]
    else:
        logical = list(enumerate(lines, 1))

    out: list[_Line] = []
    append = out.append
    title_lines = _title_page_end([s for _, s in logical])
    for n, s in logical[:title_lines]:
        match = _TITLE_KEY.match(s)
        if match and not s[:1].isspace():
            value_col = len(match.group(1)) + 2 + (len(match.group(2)) - len(match.group(2).lstrip()))
            append(_Line("TITLE_KEY", s, n, (match.group(1).strip(), match.group(2).strip(), value_col)))
        else:
            append(_Line("TITLE_VALUE", s.strip(), n))
    if title_lines:
        append(_Line("_BLANK", "", logical[title_lines - 1][0]))

    NONE, ACTION, DIALOGUE = 0, 1, 2
    state = NONE
    prev_blank = True
    count = len(logical)
    for index in range(title_lines, count):
        n, s = logical[index]
        stripped = s.strip()
        if not stripped:
            if len(s) >= 2 and state:
                append(_Line("DIALOGUE" if state == DIALOGUE else "ACTION", "", n))
                continue
            if not prev_blank:
                append(_Line("_BLANK", "", n))
            prev_blank = True
            state = NONE
            continue

        if state == DIALOGUE:
            if stripped[0] == "(" and stripped[-1] == ")":
                append(_Line("PARENTHETICAL", stripped, n))
            else:
                append(_Line("DIALOGUE", stripped, n))
            continue

        was_blank = prev_blank
        prev_blank = False
        first = stripped[0]
        if index + 1 < count:
            next_line = logical[index + 1][1]
            next_blank = not next_line.strip()
        else:
            next_line = None
            next_blank = True

        if first == "!":
            append(_Line("ACTION", _action_text(s.lstrip()[1:]), n, True))
            state = ACTION
            continue
        if first == "@":
            cue = _parse_cue(stripped[1:].strip(), forced=True)
            if cue and next_line is not None and next_line.strip():
                append(_Line("CHARACTER", stripped, n, (cue, True)))
                state = DIALOGUE
                continue
        elif first == "~":
            append(_Line("LYRIC", stripped[1:].strip(), n))
            state = NONE
            continue
        elif first == "=":
            if _PAGE_BREAK.match(stripped):
                append(_Line("PAGE_BREAK", "", n))
            else:
                append(_Line("SYNOPSIS", stripped[1:].strip(), n))
            state = NONE
            prev_blank = True   # structure, not story: what follows reads as after a blank
            continue
        elif first == "#":
            depth = len(stripped) - len(stripped.lstrip("#"))
            append(_Line("SECTION", stripped[depth:].strip(), n, depth))
            state = NONE
            prev_blank = True
            continue
        elif first == ">":
            if stripped.endswith("<") and len(stripped) > 1:
                append(_Line("CENTERED", stripped[1:-1].strip(), n))
            else:
                append(_Line("TRANSITION", stripped[1:].strip(), n, True))
            state = NONE
            continue
        elif first == "." and was_blank:
            # A single period then a letter forces a heading: "...", ".38 pistol" stay action.
            if len(stripped) > 1 and stripped[1].isalpha():
                append(_Line("SCENE_HEADING", stripped[1:], n, True))
                state = NONE
                continue

        if was_blank and state != ACTION:
            if next_blank and _HEADING.match(stripped):
                append(_Line("SCENE_HEADING", stripped, n, False))
                state = NONE
                continue
            if next_blank and stripped.endswith("TO:") and stripped.upper() == stripped:
                append(_Line("TRANSITION", stripped, n, False))
                state = NONE
                continue
            if not next_blank and next_line is not None and not _is_blank(next_line):
                cue = _parse_cue(stripped, forced=False)
                if cue:
                    append(_Line("CHARACTER", stripped, n, (cue, False)))
                    state = DIALOGUE
                    continue
        append(_Line("ACTION", _action_text(s), n, False))
        state = ACTION
    for line in out:
        line.width = len(physical[line.number - 1])
    return out, title_lines


def _action_text(line: str) -> str:
    # Indentation is kept (tabs as four spaces); trailing spaces are not meaningful.
    return line.replace("\t", "    ").rstrip()


# ---------------------------------------------------------------------------------------------
# 3. grammar


class _Builder:
    """Turns the grammar's rules straight into elements (passed to lark as its transformer, so
    no parse tree is built)."""

    @staticmethod
    def _span(first: _Line, last: _Line) -> Span:
        return Span(first.number, 1, last.number, last.width + 1)

    def start(self, children):
        title: tuple = ()
        elements: list[Element] = []
        for child in children:
            if isinstance(child, tuple):
                title = child
            elif isinstance(child, list):
                elements.extend(child)
            else:
                elements.append(child)
        return title, elements

    def title_page(self, fields):
        return tuple(fields)

    def title_field(self, tokens):
        head = tokens[0].line_data
        key, first_value, value_col = head.extra
        rest = [t.line_data for t in tokens[1:]]
        values = [first_value] if first_value else []
        values.extend(line.text for line in rest)
        last = rest[-1] if rest else head
        if first_value or not rest:
            value_start = (head.number, value_col)
        else:
            value_start = (rest[0].number, 1)
        value_span = Span(value_start[0], value_start[1], last.number, last.width + 1)
        return TitleField(key, "\n".join(values), self._span(head, last), value_span)

    def scene_heading(self, tokens):
        line = tokens[0].line_data
        text = line.text
        number = None
        match = _SCENE_NUMBER.search(text)
        if match:
            number = match.group(1) or match.group(2)
            text = text[:match.start()].rstrip()
        return Element("scene_heading", text, self._span(line, line),
                       scene_number=number, forced=line.extra)

    def action(self, tokens):
        lines = [t.line_data for t in tokens]
        return Element("action", "\n".join(l.text for l in lines),
                       self._span(lines[0], lines[-1]),
                       forced=bool(lines[0].extra))

    def dialogue(self, tokens):
        cue = tokens[0].line_data
        (name, extensions, dual), forced = cue.extra
        out = [Element("character", name if not extensions else cue.text.lstrip("@").rstrip("^ ").strip(),
                       self._span(cue, cue), name=name, extensions=extensions,
                       dual=dual, forced=forced)]
        run: list[_Line] = []

        def flush():
            if run:
                out.append(Element("dialogue", "\n".join(l.text for l in run),
                                   self._span(run[0], run[-1])))
                run.clear()

        for token in tokens[1:]:
            line = token.line_data
            if token.type == "PARENTHETICAL":
                flush()
                out.append(Element("parenthetical", line.text, self._span(line, line)))
            else:
                run.append(line)
        flush()
        return out

    def lyrics(self, tokens):
        lines = [t.line_data for t in tokens]
        return Element("lyrics", "\n".join(l.text for l in lines),
                       self._span(lines[0], lines[-1]), forced=True)

    def _single(kind):
        def build(self, tokens):
            line = tokens[0].line_data
            extra = {}
            if kind == "section":
                extra["depth"] = line.extra
            elif kind == "transition":
                extra["forced"] = line.extra
            return Element(kind, line.text, self._span(line, line), **extra)
        return build

    transition = _single("transition")
    centered = _single("centered")
    page_break = _single("page_break")
    section = _single("section")
    synopsis = _single("synopsis")
    del _single


@lru_cache(maxsize=1)
def _grammar_text() -> str:
    return resources.files("moviola.grammar").joinpath("fountain.lark").read_text("utf-8")


@lru_cache(maxsize=1)
def _parser():
    # lark loads lazily: the CLI's --help and the LSP's start-up should not wait for it.
    from lark import Lark, Token
    from lark.lexer import Lexer

    class LineToken(Token):
        __slots__ = ("line_data",)

    class LineLexer(Lexer):
        """Hands lark the pre-classified lines (lark's custom-lexer interface)."""

        def __init__(self, lexer_conf):
            pass

        def lex(self, lines, parser_state=None):
            for line in lines:
                token = LineToken(line.type, line.text)
                token.line_data = line
                yield token

    return Lark(_grammar_text(), parser="lalr", lexer=LineLexer, start="start",
                transformer=_Builder())


def parse(text: str, path: str = "<script>") -> Script:
    """Parse Fountain text. Never raises for any input: problems become diagnostics."""
    source = Source.from_text(text, path)
    return parse_source(source)


def parse_source(source: Source) -> Script:
    hidden = _hide(source)
    lines, _ = _lex(hidden, source.lines)
    title_page, elements = _parser().parse(lines)
    if hidden.notes:
        elements = _merge_notes(source, elements, hidden, title_page)
    _mark_dual(elements)
    return Script(source, title_page, tuple(elements), tuple(hidden.diagnostics))


def _merge_notes(source: Source, elements: list[Element], hidden: _Hidden, title_page) -> list[Element]:
    title_end = title_page[-1].span.end_line if title_page else 0
    notes = []
    for line, col, end_line, end_col, body in hidden.notes:
        if line <= title_end:
            continue
        alone = line in hidden.transparent and end_line in hidden.transparent
        notes.append(Element("note", body, Span(line, col, end_line, end_col), inline=not alone))
    merged = elements + notes
    merged.sort(key=lambda e: (e.span.line, e.kind == "note", e.span.col))
    return merged


def _mark_dual(elements: list[Element]) -> None:
    """The cue before a ``^`` cue is the first half of the dual dialogue."""
    previous_cue = None
    for index, element in enumerate(elements):
        if element.kind != "character":
            continue
        if element.dual and previous_cue is not None and not elements[previous_cue].dual:
            elements[previous_cue] = _replace(elements[previous_cue], dual=True)
        previous_cue = index


def _replace(element: Element, **changes) -> Element:
    from dataclasses import replace

    return replace(element, **changes)
