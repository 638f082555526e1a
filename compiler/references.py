"""Where a character is named in the action: the one whole-word pattern that the unused-character
check (W501), découpage (who is on screen) and the language server (references, rename) read.

Names match as whole words (``MARIE'S`` names MARIE, ``MARIELLE`` does not).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from . import ir
from .fountain import Script


def mention_pattern(names: Iterable[str], ignore_case: bool = True) -> re.Pattern:
    """A pattern whose group 1 is any of ``names`` written as a whole word (pass the longest
    first: an alternation takes the first name that fits)."""
    alternatives = "|".join(re.escape(name) for name in names)
    return re.compile(rf"(?<!\w)({alternatives})(?!\w)", re.IGNORECASE if ignore_case else 0)


def mentioned(name: str, texts: list[str]) -> bool:
    """Whether one of ``texts`` mentions ``name`` (any case)."""
    pattern = mention_pattern((name,))
    return any(pattern.search(text) for text in texts)


def mentions(script: Script, film: ir.Film) -> list[ir.Reference]:
    """The character names written in upper case in action lines, outside notes: declared
    characters and every name that speaks (what a rename of a character changes)."""
    source = script.source
    cues = {r.text for r in film.references if r.role == "cue"}
    names = {c.name.upper() for c in film.characters} | {n.upper() for n in cues}
    names = sorted((n for n in names if n and any(ch.isalpha() for ch in n)), key=len, reverse=True)
    if not names:
        return []
    pattern = mention_pattern(names, ignore_case=False)
    notes_on: dict[int, list[tuple[int, int]]] = {}
    for element in script.elements:
        if element.kind == "note":
            span = element.span
            for line in range(span.line, span.end_line + 1):
                notes_on.setdefault(line, []).append(
                    (span.col if line == span.line else 1, span.end_col if line == span.end_line else 1 << 30))
    found: list[ir.Reference] = []
    for element in script.elements:
        if element.kind != "action":
            continue
        for number in range(element.span.line, element.span.end_line + 1):
            for match in pattern.finditer(source.line_text(number)):
                col = match.start() + 1
                if any(a <= col < b for a, b in notes_on.get(number, ())):
                    continue
                written = match.group(1)
                found.append(ir.Reference("character", written.casefold(), written,
                                          ir.Span.on_line(number, col, match.end() + 1), "mention"))
    return found
