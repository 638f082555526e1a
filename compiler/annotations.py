"""Annotations: the Moviola language inside Fountain notes.

:func:`read_note` decides whether a note is an annotation and, if so, parses it with
``grammar/annotations.lark``. Results carry offsets into the note text; the lowering pass maps
them to source spans. Parses are cached by text, so re-checking an edited script only parses
notes that changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

DECLARATION_KINDS = ("location", "character", "theme")
DIRECTIVES = ("shot", "music", "sfx", "voice")

# The cheap test that tells annotations from plain notes (docs/language.md, "Plain notes").
_DECLARATION_START = re.compile(r"\s*(location|character|theme)\s+\S")
# A lower-case word and a colon: how a directive (and, inside one, a property) starts.
KEYWORD_COLON = re.compile(r"\s*([a-z][a-z0-9_-]*)\s*:")


@dataclass(frozen=True, slots=True)
class Term:
    """A piece of annotation text with its offsets in the note body."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Property:
    key: Term
    values: tuple[Term, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Annotation:
    kind: str                       # "declaration" or "directive"
    keyword: Term                   # location/character/theme, or shot/music/sfx/voice/…
    name: Term | None               # declarations only
    terms: tuple[tuple[Term, ...], ...]   # free clauses, in order
    properties: tuple[Property, ...]


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    message: str
    start: int
    end: int


def classify(body: str) -> str:
    """"declaration", "directive" or "plain" for the text of a note."""
    if _DECLARATION_START.match(body):
        return "declaration"
    if KEYWORD_COLON.match(body):
        return "directive"
    return "plain"


@lru_cache(maxsize=4096)
def read_note(body: str) -> Annotation | SyntaxProblem | None:
    """The annotation in a note body, a syntax problem, or None for a plain note."""
    if classify(body) == "plain":
        return None
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

    try:
        tree = _parser().parse(body)
    except UnexpectedToken as error:
        token = error.token
        if token.type == "$END":
            return SyntaxProblem("the annotation ends too early", len(body.rstrip()), len(body.rstrip()))
        expected = _describe_expected(error.expected)
        return SyntaxProblem(f"unexpected {token.value!r}{expected}", token.start_pos,
                             token.end_pos or token.start_pos + 1)
    except UnexpectedCharacters as error:
        return SyntaxProblem(f"unexpected character {body[error.pos_in_stream]!r}",
                             error.pos_in_stream, error.pos_in_stream + 1)
    except UnexpectedInput as error:  # pragma: no cover - other lark errors carry a position too
        position = getattr(error, "pos_in_stream", 0) or 0
        return SyntaxProblem("malformed annotation", position, position + 1)
    return _build(tree.children[0])


_EXPECTED_NAMES = {"COLON": "':'", "NAME": "a name", "TERM": "a term", "KEY": "a property",
                   "_SEMI": "';'", "COMMA": "','", "$END": "the end of the note"}


def _describe_expected(expected) -> str:
    names = sorted({_EXPECTED_NAMES.get(name, name.lower()) for name in expected})
    return f"; expected {' or '.join(names)}" if names else ""


def _term(token) -> Term:
    return Term(str(token), token.start_pos, token.end_pos)


def _build(node) -> Annotation:
    children = node.children
    keyword = _term(children[0])
    name = None
    rest = children[1:]
    if node.data == "declaration":
        name = _term(children[1])
        rest = children[2:]
    terms: list[tuple[Term, ...]] = []
    properties: list[Property] = []
    for body in rest:
        for clause in body.children:
            if clause.data == "property":
                key = _term(clause.children[0])
                values = tuple(_term(t) for t in clause.children[1].children) if len(clause.children) > 1 else ()
                end = values[-1].end if values else key.end
                properties.append(Property(key, values, key.start, end))
            else:
                terms.append(tuple(_term(t) for t in clause.children))
    return Annotation(str(node.data), keyword, name, tuple(terms), tuple(properties))


@lru_cache(maxsize=1)
def _parser():
    from lark import Lark

    grammar = resources.files("moviola.grammar").joinpath("annotations.lark").read_text("utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, strict=True)


def note_span(source, note, start: int, end: int):
    """The source span of ``note.text[start:end]`` (offsets into a note element's body, as
    annotations carry them)."""
    from .source import Span

    line, col = note.body_start
    first = source.position_at(line, col, note.text[:start])
    last = source.position_at(line, col, note.text[:end])
    return Span(first[0], first[1], last[0], last[1])
