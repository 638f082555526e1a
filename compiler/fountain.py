"""Fountain text → a stream of screenplay elements, each with its source span.

Three steps, one module each:

1. :mod:`notes` takes boneyard ``/* */`` and notes ``[[ ]]`` out of the text;
2. :mod:`lexer` classifies each remaining line with the context Fountain needs;
3. :func:`_group` (here) groups the classified lines into elements: the title page, action
   paragraphs, dialogue blocks (cue, parentheticals, speech, sung lines), dual dialogue, lyrics,
   centered text, sections, synopses, transitions, page breaks. Notes join in source order.

Any text parses: problems become diagnostics, never exceptions. docs/fountain-conformance.md
lists each rule and where Moviola differs from other parsers; docs/architecture.md says why the
grouping is a plain loop rather than a grammar.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from . import inline
from .lexer import SCENE_NUMBER, Line, lex, split_heading
from .diagnostics import Diagnostic
from .notes import Hidden, boneyards, hide
from .source import Source, Span

__all__ = ["Element", "Heading", "Script", "TitleField", "boneyards", "parse", "parse_source"]


@dataclass(frozen=True, slots=True)
class Heading:
    """A scene heading split once, by the parser: ``INT. KITCHEN - DAY``."""

    setting: str | None     # INT, EXT, INT/EXT, EST (None for a forced heading)
    place: str              # KITCHEN
    time: str | None        # DAY
    place_span: Span        # where the place is written on the heading's line

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
    heading: Heading | None = None       # scene_heading: its setting, place and time
    name_span: Span | None = None        # character: where the cue's name is written

    @property
    def plain(self) -> str:
        text = self.text
        if inline.has_markup(text):
            return inline.plain(text)
        return text

    @property
    def body_start(self) -> tuple[int, int]:
        """For a note, where the text after ``[[`` starts."""
        return self.span.line, self.span.col + 2

    def to_json(self) -> dict:
        kind = self.kind
        text = self.text
        span = self.span
        out: dict = {"type": kind, "text": text, "line": span.line,
                     "span": [span.line, span.col, span.end_line, span.end_col]}
        if kind != "note" and inline.has_markup(text):    # a note's text stays as written
            styled = inline.runs(text)
            out["text"] = "".join([r.text for r in styled])
            if any(r.bold or r.italic or r.underline for r in styled):
                out["runs"] = [r.to_json() for r in styled]
        if self.scene_number is not None:
            out["scene_number"] = self.scene_number
        if kind == "character":
            out["name"] = self.name
            out["extensions"] = list(self.extensions)
            if self.dual:
                out["dual"] = True
        elif kind == "section":
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
        return {"title_page": self.title_json(), "elements": [e.to_json() for e in self.elements]}

    def title_json(self) -> dict[str, str]:
        """The title page as ``{key: value}``: keys lower case with ``_`` for spaces, a repeated
        key's values joined by line breaks."""
        title: dict[str, str] = {}
        for field in self.title_page:
            key = field.key.strip().lower().replace(" ", "_")
            title[key] = f"{title[key]}\n{field.value}" if key in title else field.value
        return title



# The grouping step makes one Element and one Span per element, 5,000 of each for a feature-length
# script. A frozen dataclass's __init__ sets each field through object.__setattr__, which is half
# of its time; these constructors fill the slots directly (same objects, same equality).
_new = object.__new__
_ELEMENT_FIELDS = ("kind", "text", "span", "scene_number", "name", "extensions", "dual", "depth",
                   "forced", "inline", "heading", "name_span")
assert tuple(f.name for f in fields(Element)) == _ELEMENT_FIELDS, "update _element"
(_e_kind, _e_text, _e_span, _e_number, _e_name, _e_extensions, _e_dual, _e_depth, _e_forced,
 _e_inline, _e_heading, _e_name_span) = (Element.__dict__[name].__set__ for name in _ELEMENT_FIELDS)


def _element(kind, text, span, scene_number=None, name=None, extensions=(), dual=False, depth=0,
             forced=False, inline=False, heading=None, name_span=None) -> Element:
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
    _e_heading(element, heading)
    _e_name_span(element, name_span)
    return element


assert tuple(f.name for f in fields(Span)) == ("line", "col", "end_line", "end_col"), "update _span"
_s_line, _s_col, _s_end_line, _s_end_col = (Span.__dict__[name].__set__
                                            for name in ("line", "col", "end_line", "end_col"))


def _span(first: Line, last: Line) -> Span:
    """From the start of ``first`` to the end of ``last`` (whole physical lines)."""
    span = _new(Span)
    _s_line(span, first.number)
    _s_col(span, 1)
    _s_end_line(span, last.number)
    _s_end_col(span, last.width + 1)
    return span


def _on_line(number: int, col: int, end_col: int) -> Span:
    """``Span.on_line``, built like :func:`_span`."""
    span = _new(Span)
    _s_line(span, number)
    _s_col(span, col)
    _s_end_line(span, number)
    _s_end_col(span, end_col)
    return span


# A paragraph's first line and the type of the lines that continue it.
_PARAGRAPHS = {"ACTION": "ACTION_CONT", "LYRIC": "LYRIC_CONT", "CENTERED": "CENTERED_CONT"}
_SPEECH = frozenset(("PARENTHETICAL", "DIALOGUE", "SUNG"))


def _group(tokens: list[Line], physical: tuple[str, ...]) -> tuple[tuple[TitleField, ...], list[Element]]:
    """The title page and the elements, from the lexer's lines.

    The lexer has made every context decision, so grouping is a matter of runs: a title key
    and its indented values; a paragraph's first line and its continuation lines; a cue and
    the speech lines after it. A run never needs to look back, except for dual dialogue: the
    block before a ``^`` cue becomes its first half."""
    count = len(tokens)
    index = 0
    title: list[TitleField] = []
    while index < count and tokens[index].type == "TITLE_KEY":
        end = index + 1
        while end < count and tokens[end].type == "TITLE_VALUE":
            end += 1
        title.append(_title_field(tokens[index:end]))
        index = end

    elements: list[Element] = []
    previous_cue = -1       # index in elements of the cue of the dialogue block just before
    while index < count:
        token = tokens[index]
        kind = token.type
        if kind == "CHARACTER":
            end = index + 1
            while end < count and tokens[end].type in _SPEECH:
                end += 1
            cue = _cue(token, physical)
            if cue.dual and previous_cue >= 0 and not elements[previous_cue].dual:
                elements[previous_cue] = replace(elements[previous_cue], dual=True)
            previous_cue = len(elements)
            elements.append(cue)
            _speech(tokens, index + 1, end, elements)
            index = end
            continue
        previous_cue = -1
        continuation = _PARAGRAPHS.get(kind)
        if continuation is not None:
            end = index + 1
            while end < count and tokens[end].type == continuation:
                end += 1
            elements.append(_paragraph(tokens, index, end))
            index = end
            continue
        elements.append(_single(token, physical))
        index += 1
    return tuple(title), elements


def _title_field(lines: list[Line]) -> TitleField:
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


def _cue(line: Line, physical: tuple[str, ...]) -> Element:
    (name, extensions, dual), forced = line.extra
    text = name if not extensions else line.text.lstrip("@").rstrip("^ ").strip()
    col = physical[line.number - 1].find(name) + 1 or 1
    return _element("character", text, _span(line, line), name=name, extensions=extensions,
                    dual=dual, forced=forced, name_span=_on_line(line.number, col, col + len(name)))


def _speech(tokens: list[Line], start: int, end: int, out: list[Element]) -> None:
    """A dialogue block's lines after its cue: each parenthetical alone; consecutive dialogue
    lines make one dialogue element, consecutive sung lines one lyrics element."""
    while start < end:
        line = tokens[start]
        kind = line.type
        if kind == "PARENTHETICAL":
            out.append(_element("parenthetical", line.text, _span(line, line)))
            start += 1
            continue
        stop = start + 1
        while stop < end and tokens[stop].type == kind:
            stop += 1
        last = tokens[stop - 1]
        text = line.text if stop == start + 1 else "\n".join([l.text for l in tokens[start:stop]])
        if kind == "DIALOGUE":
            out.append(_element("dialogue", text, _span(line, last)))
        else:   # SUNG: lyrics inside the dialogue block
            out.append(_element("lyrics", text, _span(line, last), forced=True))
        start = stop


def _paragraph(tokens: list[Line], start: int, end: int) -> Element:
    first = tokens[start]
    kind = {"ACTION": "action", "LYRIC": "lyrics", "CENTERED": "centered"}[first.type]
    last = tokens[end - 1]
    text = first.text if end == start + 1 else "\n".join([l.text for l in tokens[start:end]])
    if kind == "action":
        return _element("action", text, _span(first, last), forced=first.extra)
    return _element(kind, text, _span(first, last), forced=kind == "lyrics")


def _single(line: Line, physical: tuple[str, ...]) -> Element:
    kind = line.type
    span = _span(line, line)
    if kind == "SCENE_HEADING":
        return _scene_heading(line, physical)
    if kind == "TRANSITION":
        return _element("transition", line.text, span, forced=line.extra)
    if kind == "SECTION":
        return _element("section", line.text, span, depth=line.extra)
    if kind == "PAGE_BREAK":
        return _element("page_break", line.text, span)
    if kind == "SYNOPSIS":
        return _element("synopsis", line.text, span)
    # A speech or continuation line without its opener: the lexer never makes one, but any
    # input must parse, so it reads as action.
    return _element("action", line.text, span)


def _scene_heading(line: Line, physical: tuple[str, ...]) -> Element:
    text = line.text
    number = None
    if text[-1] == "#":
        match = SCENE_NUMBER.search(text)
        if match:
            number = match.group(1)
            text = text[:match.start()]
    forced = line.extra
    setting, place, time = split_heading(inline.plain(text), forced)
    col = physical[line.number - 1].find(place) + 1 or 1
    heading = Heading(setting, place, time, _on_line(line.number, col, col + len(place)))
    return _element("scene_heading", text, _span(line, line), scene_number=number, forced=forced,
                    heading=heading)


def parse(text: str, path: str = "<script>") -> Script:
    """Parse Fountain text. Never raises for any input: problems become diagnostics."""
    return parse_source(Source.from_text(text, path))


def parse_source(source: Source) -> Script:
    hidden = hide(source)
    title_page, elements = _group(lex(hidden, source.lines), source.lines)
    if hidden.notes:
        elements = _merge_notes(elements, hidden, title_page)
    return Script(source, title_page, tuple(elements), tuple(hidden.diagnostics))


def _merge_notes(elements: list[Element], hidden: Hidden, title_page) -> list[Element]:
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

