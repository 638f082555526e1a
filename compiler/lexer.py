"""The line lexer: each line of Fountain text (notes and boneyard already taken out, see
:mod:`notes`) classified with the context Fountain needs: a cue needs a blank line before it and
text after it, a heading needs blank lines around it, a paragraph's first line differs from the
lines that continue it. The tokens are whole lines; :mod:`fountain` groups them into elements.
"""

from __future__ import annotations

import re

from .notes import Hidden

# fountain.io: INT, EXT, EST, INT./EXT, INT/EXT, I/E (any case), then a dot or a space. E/I is
# accepted too (a variant some writers use).
HEADING = re.compile(r"(?:int\.?/ext|i/e|e/i|int|ext|est)[.\s]", re.IGNORECASE)
# fountain.io: scene numbers are letters and digits with dashes and periods (1, 1A, I-1-A, 1.).
SCENE_NUMBER = re.compile(r"\s*#([\w.-]+)#$")
_TITLE_KEY = re.compile(r"([^\s:][^:]*):(.*)$")
_PAGE_BREAK = re.compile(r"={3,}$")
_EXTENSION = re.compile(r"\(([^()]*)\)")


class Line:
    """One classified line: a token type (TITLE_KEY, SCENE_HEADING, ACTION, ACTION_CONT,
    CHARACTER, DIALOGUE…), the line's text, its number and width (the length of the physical
    line, for spans), and per-type data in ``extra``."""

    __slots__ = ("type", "text", "number", "width", "extra")

    def __init__(self, type: str, text: str, number: int, width: int, extra=None):
        self.type = type
        self.text = text
        self.number = number
        self.width = width
        self.extra = extra

    def __repr__(self) -> str:
        return f"Line({self.type}, {self.text!r}, {self.number})"


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
        if not name.isupper() or name.endswith(":") or HEADING.match(name):
            return None
    return name, extensions, dual


def _is_title_key(line: str) -> bool:
    return bool(line) and not line[0].isspace() and line[0] not in "!@.>~=#" \
        and _TITLE_KEY.match(line) is not None


def _title_page_length(texts: list[str], stripped: list[str], start: int) -> int:
    """Number of lines, from ``start``, that make the title page (0 if there is none)."""
    first = texts[start] if start < len(texts) else ""
    if not _is_title_key(first) or HEADING.match(first):
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


def lex(hidden: Hidden, physical: tuple[str, ...]) -> list[Line]:
    texts = hidden.lines
    transparent = hidden.transparent
    if transparent:
        numbers = [n for n in range(1, len(texts) + 1) if n not in transparent]
        texts = [texts[n - 1] for n in numbers]
    else:
        numbers = range(1, len(texts) + 1)
    stripped = [s.strip() for s in texts]
    count = len(texts)
    out: list[Line] = []
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
                append(Line("TITLE_VALUE", stripped[index], n, len(physical[n - 1])))
            else:
                key, value = _TITLE_KEY.match(s).groups()
                value_col = len(key) + 2 + len(value) - len(value.lstrip())
                append(Line("TITLE_KEY", s, n, len(physical[n - 1]),
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
                append(Line("ACTION_CONT" if state == ACTION else "DIALOGUE", "", n,
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
                append(Line("PARENTHETICAL", t, n, width))
            elif first == "~":
                append(Line("SUNG", t[1:].strip(), n, width))
            else:
                append(Line("DIALOGUE", t, n, width))
            continue

        was_blank = prev_blank
        prev_blank = False
        if first in "!@~=#>.":
            if first == "!":
                s = texts[index]
                bang = s.index("!")
                append(Line("ACTION_CONT" if state == ACTION else "ACTION",
                             _action_text(s[:bang] + s[bang + 1:]), n, width, True))
                state = ACTION
                continue
            if first == "@":
                cue = _parse_cue(t[1:].strip(), forced=True)
                if cue and index + 1 < count and stripped[index + 1]:
                    append(Line("CHARACTER", t, n, width, (cue, True)))
                    state = DIALOGUE
                    continue
            elif first == "~":
                append(Line("LYRIC_CONT" if state == LYRICS else "LYRIC", t[1:].strip(), n, width))
                state = LYRICS
                continue
            elif first == "=":
                if _PAGE_BREAK.match(t):
                    append(Line("PAGE_BREAK", "", n, width))
                else:
                    append(Line("SYNOPSIS", t[1:].strip(), n, width))
                state = NONE
                prev_blank = True   # structure, not story: what follows reads as after a blank
                continue
            elif first == "#":
                depth = len(t) - len(t.lstrip("#"))
                append(Line("SECTION", t[depth:].strip(), n, width, depth))
                state = NONE
                prev_blank = True
                continue
            elif first == ">":
                if len(t) > 1 and t[-1] == "<":
                    # Centered text is action: consecutive lines make one paragraph.
                    append(Line("CENTERED_CONT" if state == CENTERED else "CENTERED",
                                 t[1:-1].strip(), n, width))
                    state = CENTERED
                else:
                    append(Line("TRANSITION", t[1:].strip(), n, width, True))
                    state = NONE
                continue
            elif was_blank and len(t) > 1 and t[1].isalpha():
                # A single period then a letter forces a heading: "...", ".38" stay action.
                append(Line("SCENE_HEADING", t[1:], n, width, True))
                state = NONE
                continue

        elif was_blank and state != ACTION:
            # A section or synopsis line below reads as a blank line, as it does above.
            next_blank = index + 1 >= count or not stripped[index + 1] \
                or stripped[index + 1][0] in "=#"
            if next_blank:
                if first in "IiEe" and HEADING.match(t):
                    append(Line("SCENE_HEADING", t, n, width, False))
                    state = NONE
                    continue
                if t.endswith("TO:") and t.isupper():
                    append(Line("TRANSITION", t, n, width, False))
                    state = NONE
                    continue
            else:
                paren = t.find("(")
                if (t if paren < 0 else t[:paren]).isupper():
                    cue = _parse_cue(t, forced=False)
                    if cue:
                        append(Line("CHARACTER", t, n, width, (cue, False)))
                        state = DIALOGUE
                        continue
        append(Line("ACTION_CONT" if state == ACTION else "ACTION",
                     _action_text(texts[index]), n, width, False))
        state = ACTION
    return out


def _action_text(line: str) -> str:
    # Indentation is kept (tabs as four spaces); trailing spaces are not meaningful.
    if "\t" in line:
        line = line.replace("\t", "    ")
    return line.rstrip()


# The parts of a heading (fountain.io: "INT. PLACE - TIME"). The setting prefix may have spaces
# around its slash here ("INT. / EXT."): HEADING above already decided the line is a heading.
SETTING_WORDS = r"int\.?\s*/\s*ext|ext\.?\s*/\s*int|i\s*/\s*e|e\s*/\s*i|int|ext|est"
_SETTING = re.compile(rf"({SETTING_WORDS})\.?\s*", re.IGNORECASE)
_TIME_SPLIT = re.compile(r"\s+[-–—]\s+")
_SETTING_NAMES = {"INT/EXT": "INT/EXT", "EXT/INT": "INT/EXT", "I/E": "INT/EXT", "E/I": "INT/EXT"}


def split_heading(text: str, forced: bool) -> tuple[str | None, str, str | None]:
    """(setting, place, time) of a heading's plain text: ("INT", "KITCHEN", "DAY"). A forced
    heading (``.``) has no setting."""
    text = text.strip()
    setting = None
    rest = text
    prefix = _SETTING.match(text)
    if prefix and not forced:
        word = prefix.group(1).upper().replace(" ", "").replace(".", "")
        setting = _SETTING_NAMES.get(word, word)
        rest = text[prefix.end():]
    time = None
    parts = _TIME_SPLIT.split(rest)
    if len(parts) > 1:
        time = parts[-1].strip().upper()
        rest = rest[: rest.rfind(parts[-1])].rstrip(" -–—")
    return setting, rest.strip(), time
