"""Fountain text → a stream of screenplay elements, each with its source span.

Three steps:

1. :func:`_hide` takes boneyard ``/* */`` and notes ``[[ ]]`` out of the text. Notes come back as
   ``note`` elements; a line that held nothing but notes or boneyard is *transparent*: dropped, so
   a ``[[shot: ...]]`` line between a cue and its dialogue does not break the dialogue. (A boneyard
   that hides a blank line leaves blank lines instead: the paragraphs around it stay apart.)
2. :func:`_lex` classifies each remaining line with the context Fountain needs (a cue needs a
   blank line before it and text after it, a heading needs blank lines around it, …).
3. ``grammar/fountain.lark`` groups the classified lines into elements: action paragraphs,
   dialogue blocks, the title page. Lark compiles the grammar into LALR tables once; a small
   driver (:func:`_drive`) runs them, calling :class:`_Builder` on each reduction, which is
   several times faster than lark's general-purpose parser loop on line tokens.

Any text parses: problems become diagnostics, never exceptions. docs/fountain-conformance.md
lists each rule and where Moviola differs from other parsers.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, fields
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

# A line that is empty or holds one space or tab. Two spaces make a deliberate "blank" line that
# keeps a note (or a dialogue block) together (fountain.io: notes, dialogue).
_BLANK_LINE = re.compile(r"\n[ \t]?\n")


class _Hidden:
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
    return _Hidden(lines, transparent, notes, diagnostics)


# ---------------------------------------------------------------------------------------------
# 2. line lexer

# fountain.io: INT, EXT, EST, INT./EXT, INT/EXT, I/E (any case), then a dot or a space. E/I is
# accepted too (a variant some writers use).
_HEADING = re.compile(r"(?:int\.?/ext|i/e|e/i|int|ext|est)[.\s]", re.IGNORECASE)
# fountain.io: scene numbers are letters and digits with dashes and periods (1, 1A, I-1-A, 1.).
_SCENE_NUMBER = re.compile(r"\s*#([\w.-]+)#$")
_TITLE_KEY = re.compile(r"([^\s:][^:]*):(.*)$")
_PAGE_BREAK = re.compile(r"={3,}$")
_EXTENSION = re.compile(r"\(([^()]*)\)")


class _Line:
    """What the lexer hands the grammar: a token type, the line's text, its number and width
    (the length of the physical line, for spans), and per-type data in ``extra``."""

    __slots__ = ("type", "text", "number", "width", "extra")

    # lark's own parser (the fallback in _parse_lines) borrows these from the last token
    start_pos = line = column = end_line = end_column = end_pos = None

    def __init__(self, type: str, text: str, number: int, width: int, extra=None):
        self.type = type
        self.text = text
        self.number = number
        self.width = width
        self.extra = extra

    def __repr__(self) -> str:
        return f"_Line({self.type}, {self.text!r}, {self.number})"


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
        # Entirely upper case with at least one cased letter ("23" and CJK text are not cues).
        # Not a heading or a transition that lacks its blank line: those read as action.
        if not name.isupper() or name.endswith(":") or _HEADING.match(name):
            return None
    return name, extensions, dual


def _is_title_key(line: str) -> bool:
    return bool(line) and not line[0].isspace() and line[0] not in "!@.>~=#" \
        and _TITLE_KEY.match(line) is not None


def _title_page_length(texts: list[str], stripped: list[str], start: int) -> int:
    """Number of lines, from ``start``, that make the title page (0 if there is none)."""
    first = texts[start] if start < len(texts) else ""
    if not _is_title_key(first) or _HEADING.match(first):
        return 0
    key, value = _TITLE_KEY.match(first).groups()
    if not value.strip():
        # A key without a value needs its value indented below it (or, for a key in mixed case,
        # another key): "FADE IN:" or an action line that ends in a colon is no title page.
        following = texts[start + 1] if start + 1 < len(texts) else ""
        indented = following[:1].isspace() and following.strip()
        if not indented and (key.isupper() or not _is_title_key(following)):
            return 0
    end = start + 1
    while end < len(texts):
        line = texts[end]
        if not stripped[end]:
            break
        if not line[0].isspace() and not _is_title_key(line):
            break       # neither a key nor an indented value: the title page is over
        end += 1
    return end - start


def _lex(hidden: _Hidden, physical: tuple[str, ...]) -> list[_Line]:
    texts = hidden.lines
    transparent = hidden.transparent
    if transparent:
        numbers = [n for n in range(1, len(texts) + 1) if n not in transparent]
        texts = [texts[n - 1] for n in numbers]
    else:
        numbers = range(1, len(texts) + 1)
    stripped = [s.strip() for s in texts]
    count = len(texts)
    out: list[_Line] = []
    append = out.append

    start = 0
    while start < count and not stripped[start]:
        start += 1
    title_lines = _title_page_length(texts, stripped, start)
    if title_lines:
        for index in range(start, start + title_lines):
            s = texts[index]
            n = numbers[index]
            if s[0].isspace():
                append(_Line("TITLE_VALUE", stripped[index], n, len(physical[n - 1])))
            else:
                key, value = _TITLE_KEY.match(s).groups()
                value_col = len(key) + 2 + len(value) - len(value.lstrip())
                append(_Line("TITLE_KEY", s, n, len(physical[n - 1]),
                             (key.strip(), value.strip(), value_col)))
        start += title_lines
    else:
        start = 0

    NONE, ACTION, DIALOGUE, LYRICS, CENTERED = 0, 1, 2, 3, 4
    state = NONE
    prev_blank = True
    for index in range(start, count):
        t = stripped[index]
        if not t:
            s = texts[index]
            if len(s) >= 2 and (state == ACTION or state == DIALOGUE):
                # Two spaces: a deliberate blank line that keeps the paragraph or speech going.
                n = numbers[index]
                append(_Line("ACTION_CONT" if state == ACTION else "DIALOGUE", "", n,
                             len(physical[n - 1])))
                continue
            prev_blank = True
            state = NONE
            continue

        n = numbers[index]
        width = len(physical[n - 1])
        first = t[0]
        if state == DIALOGUE:
            if first == "(" and t[-1] == ")":
                append(_Line("PARENTHETICAL", t, n, width))
            elif first == "~":
                append(_Line("SUNG", t[1:].strip(), n, width))
            else:
                append(_Line("DIALOGUE", t, n, width))
            continue

        was_blank = prev_blank
        prev_blank = False
        if first in "!@~=#>.":
            if first == "!":
                s = texts[index]
                bang = s.index("!")
                append(_Line("ACTION_CONT" if state == ACTION else "ACTION",
                             _action_text(s[:bang] + s[bang + 1:]), n, width, True))
                state = ACTION
                continue
            if first == "@":
                cue = _parse_cue(t[1:].strip(), forced=True)
                if cue and index + 1 < count and stripped[index + 1]:
                    append(_Line("CHARACTER", t, n, width, (cue, True)))
                    state = DIALOGUE
                    continue
            elif first == "~":
                append(_Line("LYRIC_CONT" if state == LYRICS else "LYRIC", t[1:].strip(), n, width))
                state = LYRICS
                continue
            elif first == "=":
                if _PAGE_BREAK.match(t):
                    append(_Line("PAGE_BREAK", "", n, width))
                else:
                    append(_Line("SYNOPSIS", t[1:].strip(), n, width))
                state = NONE
                prev_blank = True   # structure, not story: what follows reads as after a blank
                continue
            elif first == "#":
                depth = len(t) - len(t.lstrip("#"))
                append(_Line("SECTION", t[depth:].strip(), n, width, depth))
                state = NONE
                prev_blank = True
                continue
            elif first == ">":
                if len(t) > 1 and t[-1] == "<":
                    # Centered text is action: consecutive lines make one paragraph.
                    append(_Line("CENTERED_CONT" if state == CENTERED else "CENTERED",
                                 t[1:-1].strip(), n, width))
                    state = CENTERED
                else:
                    append(_Line("TRANSITION", t[1:].strip(), n, width, True))
                    state = NONE
                continue
            elif was_blank and len(t) > 1 and t[1].isalpha():
                # A single period then a letter forces a heading: "...", ".38" stay action.
                append(_Line("SCENE_HEADING", t[1:], n, width, True))
                state = NONE
                continue

        elif was_blank and state != ACTION:
            # A section or synopsis line below reads as a blank line, as it does above.
            next_blank = index + 1 >= count or not stripped[index + 1] \
                or stripped[index + 1][0] in "=#"
            if next_blank:
                if first in "IiEe" and _HEADING.match(t):
                    append(_Line("SCENE_HEADING", t, n, width, False))
                    state = NONE
                    continue
                if t.endswith("TO:") and t.isupper():
                    append(_Line("TRANSITION", t, n, width, False))
                    state = NONE
                    continue
            else:
                paren = t.find("(")
                if (t if paren < 0 else t[:paren]).isupper():
                    cue = _parse_cue(t, forced=False)
                    if cue:
                        append(_Line("CHARACTER", t, n, width, (cue, False)))
                        state = DIALOGUE
                        continue
        append(_Line("ACTION_CONT" if state == ACTION else "ACTION",
                     _action_text(texts[index]), n, width, False))
        state = ACTION
    return out


def _action_text(line: str) -> str:
    # Indentation is kept (tabs as four spaces); trailing spaces are not meaningful.
    if "\t" in line:
        line = line.replace("\t", "    ")
    return line.rstrip()


# ---------------------------------------------------------------------------------------------
# 3. grammar


# The builder makes one Element and one Span per element, 5,000 of each for a feature-length
# script. A frozen dataclass's __init__ sets each field through object.__setattr__, which is half
# of the builder's time; these constructors fill the slots directly (same objects, same equality).
_new = object.__new__
_ELEMENT_FIELDS = ("kind", "text", "span", "scene_number", "name", "extensions", "dual", "depth",
                   "forced", "inline")
assert tuple(f.name for f in fields(Element)) == _ELEMENT_FIELDS, "update _element"
(_e_kind, _e_text, _e_span, _e_number, _e_name, _e_extensions, _e_dual, _e_depth, _e_forced,
 _e_inline) = (Element.__dict__[name].__set__ for name in _ELEMENT_FIELDS)


def _element(kind, text, span, scene_number=None, name=None, extensions=(), dual=False, depth=0,
             forced=False, inline=False) -> Element:
    element = _new(Element)
    _e_kind(element, kind)
    _e_text(element, text)
    _e_span(element, span)
    _e_number(element, scene_number)
    _e_name(element, name)
    _e_extensions(element, extensions)
    _e_dual(element, dual)
    _e_depth(element, depth)
    _e_forced(element, forced)
    _e_inline(element, inline)
    return element


if tuple(f.name for f in fields(Span)) == ("line", "col", "end_line", "end_col"):
    _s_line, _s_col, _s_end_line, _s_end_col = (Span.__dict__[name].__set__
                                                for name in ("line", "col", "end_line", "end_col"))

    def _span(first: _Line, last: _Line) -> Span:
        span = _new(Span)
        _s_line(span, first.number)
        _s_col(span, 1)
        _s_end_line(span, last.number)
        _s_end_col(span, last.width + 1)
        return span
else:   # Span changed shape: build it the ordinary way
    def _span(first: _Line, last: _Line) -> Span:
        return Span(first.number, 1, last.number, last.width + 1)


class _Builder:
    """Turns the grammar's rules straight into elements (no parse tree is built). Each method
    gets the rule's children with inlined rules (``_element``, ``_speech``) spliced in."""

    def start(self, children):
        title: tuple = ()
        elements: list[Element] = []
        previous = None     # the dialogue block just before, for dual dialogue
        for child in children:
            if child.__class__ is tuple:
                title = child
                continue
            if child.__class__ is list:
                cue = child[0]
                if cue.dual and previous is not None and not previous[0].dual:
                    # The block before a `^` cue is the first half of the dual dialogue.
                    first = len(elements) - len(previous)
                    elements[first] = _replace(previous[0], dual=True)
                elements.extend(child)
                previous = child
                continue
            elements.append(child)
            previous = None
        return title, elements

    def title_page(self, entries):
        return tuple(entries)

    def title_field(self, lines):
        head = lines[0]
        key, first_value, value_col = head.extra
        rest = lines[1:]
        values = [first_value] if first_value else []
        values.extend(line.text for line in rest)
        last = lines[-1]
        if first_value or not rest:
            value_start = (head.number, value_col)
        else:
            value_start = (rest[0].number, 1)
        value_span = Span(value_start[0], value_start[1], last.number, last.width + 1)
        return TitleField(key, "\n".join(values), _span(head, last), value_span)

    def scene_heading(self, lines):
        line = lines[0]
        text = line.text
        number = None
        if text[-1] == "#":
            match = _SCENE_NUMBER.search(text)
            if match:
                number = match.group(1)
                text = text[:match.start()]
        return _element("scene_heading", text, _span(line, line),
                        scene_number=number, forced=line.extra)

    def action(self, lines):
        first = lines[0]
        if len(lines) == 1:
            return _element("action", first.text, _span(first, first), forced=first.extra)
        return _element("action", "\n".join([l.text for l in lines]), _span(first, lines[-1]),
                        forced=first.extra)

    def dialogue(self, lines):
        cue = lines[0]
        (name, extensions, dual), forced = cue.extra
        text = name if not extensions else cue.text.lstrip("@").rstrip("^ ").strip()
        out = [_element("character", text, _span(cue, cue), name=name, extensions=extensions,
                        dual=dual, forced=forced)]
        start = 1
        end = len(lines)
        while start < end:
            line = lines[start]
            kind = line.type
            if kind == "PARENTHETICAL":
                out.append(_element("parenthetical", line.text, _span(line, line)))
                start += 1
                continue
            stop = start + 1
            while stop < end and lines[stop].type == kind:
                stop += 1
            last = lines[stop - 1]
            text = line.text if stop == start + 1 else "\n".join([l.text for l in lines[start:stop]])
            if kind == "DIALOGUE":
                out.append(_element("dialogue", text, _span(line, last)))
            else:   # SUNG: lyrics inside the dialogue block
                out.append(_element("lyrics", text, _span(line, last), forced=True))
            start = stop
        return out

    def lyrics(self, lines):
        return _element("lyrics", "\n".join([l.text for l in lines]), _span(lines[0], lines[-1]),
                        forced=True)

    def centered(self, lines):
        return _element("centered", "\n".join([l.text for l in lines]), _span(lines[0], lines[-1]))

    def transition(self, lines):
        line = lines[0]
        return _element("transition", line.text, _span(line, line), forced=line.extra)

    def section(self, lines):
        line = lines[0]
        return _element("section", line.text, _span(line, line), depth=line.extra)

    def _single(kind):
        def build(self, lines):
            line = lines[0]
            return _element(kind, line.text, _span(line, line))
        return build

    page_break = _single("page_break")
    synopsis = _single("synopsis")
    del _single


@lru_cache(maxsize=1)
def _grammar_text() -> str:
    return resources.files("moviola.grammar").joinpath("fountain.lark").read_text("utf-8")


class _Splice(list):
    """The children of an inlined rule (``_element``, lark's ``__x_star`` helpers), to be
    spliced into the rule that uses it."""

    __slots__ = ()


# How _drive reduces a rule: pass an inlined one-symbol rule's value through, append to a
# left-recursive list (lark's `x*`/`x+` helpers), splice other inlined rules, or call the builder
# (with one child, or with several).
_PASS, _APPEND, _INLINE, _BUILD_ONE, _BUILD = range(5)


class _Tables:
    """The LALR tables lark compiled from grammar/fountain.lark, keyed for :func:`_drive`:
    ``actions[state][symbol]`` is a state number (shift, or goto after a reduction) or a
    reduction ``(size, rule name, mode, builder method)``."""

    __slots__ = ("actions", "start", "end")

    def __init__(self, parse_table, shift, builder):
        reductions: dict = {}

        def reduction(rule):
            if rule not in reductions:
                name = str(rule.origin.name)
                size = len(rule.expansion)
                fn = None
                if not name.startswith("_"):
                    mode, fn = (_BUILD_ONE if size == 1 else _BUILD), getattr(builder, name)
                elif size == 1:
                    mode = _PASS
                elif size == 2 and rule.expansion[0] == rule.origin:
                    mode = _APPEND
                else:
                    mode = _INLINE
                reductions[rule] = (size, name, mode, fn)
            return reductions[rule]

        self.actions = {
            state: {str(symbol): (arg if action is shift else reduction(arg))
                    for symbol, (action, arg) in row.items()}
            for state, row in parse_table.states.items()
        }
        self.start = parse_table.start_states["start"]
        self.end = parse_table.end_states["start"]


def _flatten(children) -> list:
    out = None
    for child in children:
        if child.__class__ is _Splice:
            if out is None:
                out = child     # reuse the left-recursive list: each value is used once
            else:
                out.extend(child)
        elif out is None:
            out = _Splice((child,))
        else:
            out.append(child)
    return _Splice() if out is None else out


_END = _Line("$END", "", 0, 0)


def _drive(tokens: list[_Line], tables: _Tables):
    """Run the LALR tables over the line tokens; returns what ``_Builder.start`` returns.

    The lexer only emits sequences the grammar accepts, so a missing action is a bug (and the
    fuzz tests look for one)."""
    actions = tables.actions
    end = tables.end
    states = [tables.start]
    values: list = []
    tokens.append(_END)
    try:
        for token in tokens:
            kind = token.type
            while True:
                act = actions[states[-1]][kind]
                if act.__class__ is int:
                    states.append(act)
                    values.append(token)
                    break
                size, name, mode, fn = act
                if mode == _PASS:
                    states.pop()
                elif mode == _APPEND:
                    child = values.pop()
                    head = values[-1]
                    if head.__class__ is not _Splice:
                        head = values[-1] = _Splice((head,))
                    if child.__class__ is _Splice:
                        head.extend(child)
                    else:
                        head.append(child)
                    del states[-2:]
                elif mode == _BUILD_ONE:
                    child = values[-1]
                    values[-1] = fn(child if child.__class__ is _Splice else [child])
                    states.pop()
                else:
                    if size:
                        children = values[-size:]
                        del values[-size:]
                        del states[-size:]
                    else:
                        children = ()
                    values.append(_flatten(children) if mode == _INLINE else fn(_flatten(children)))
                states.append(actions[states[-1]][name])
                if states[-1] == end:
                    return values[-1]
    finally:
        tokens.pop()
    raise AssertionError("the LALR tables never reached their end state")


@lru_cache(maxsize=1)
def _parser():
    """(lark parser, driver tables or None). Lark loads lazily: the CLI's --help and the LSP's
    start-up should not wait for it."""
    from lark import Lark
    from lark.lexer import Lexer

    class LineLexer(Lexer):
        """Hands lark the pre-classified lines (lark's custom-lexer interface)."""

        def __init__(self, lexer_conf):
            pass

        def lex(self, lines, parser_state=None):
            return iter(lines)

    builder = _Builder()
    lark = Lark(_grammar_text(), parser="lalr", lexer=LineLexer, start="start",
                transformer=builder, strict=True)
    try:
        from lark.parsers.lalr_analysis import Shift

        tables = _Tables(lark.parser.parser.parser.parse_table, Shift, builder)
    except (ImportError, AttributeError, KeyError):     # lark's internals moved: use its loop
        tables = None
    return lark, tables


def _parse_lines(lines: list[_Line], use_lark: bool = False):
    lark, tables = _parser()
    if tables is None or use_lark:
        return lark.parse(lines)
    return _drive(lines, tables)


def parse(text: str, path: str = "<script>") -> Script:
    """Parse Fountain text. Never raises for any input: problems become diagnostics."""
    source = Source.from_text(text, path)
    return parse_source(source)


def parse_source(source: Source) -> Script:
    hidden = _hide(source)
    title_page, elements = _parse_lines(_lex(hidden, source.lines))
    if hidden.notes:
        elements = _merge_notes(elements, hidden, title_page)
    return Script(source, title_page, tuple(elements), tuple(hidden.diagnostics))


def _merge_notes(elements: list[Element], hidden: _Hidden, title_page) -> list[Element]:
    """Notes join the elements in source order: a note comes after the elements that start on
    or before its line (both lists are already in order)."""
    # Notes inside the title page belong to its values (which drop them); notes above it stay.
    title_start = title_page[0].span.line if title_page else 0
    title_end = title_page[-1].span.end_line if title_page else 0
    transparent = hidden.transparent
    merged: list[Element] = []
    index, count = 0, len(elements)
    for line, col, end_line, end_col, body in hidden.notes:
        if title_start <= line <= title_end:
            continue
        while index < count and elements[index].span.line <= line:
            merged.append(elements[index])
            index += 1
        alone = line in transparent and end_line in transparent
        merged.append(_element("note", body, Span(line, col, end_line, end_col), inline=not alone))
    merged.extend(elements[index:])
    return merged


def _replace(element: Element, **changes) -> Element:
    from dataclasses import replace

    return replace(element, **changes)
