"""Conformance against other Fountain parsers' test suites (../shared/fountain-corpus/).

Each source's expected output is converted to a list of structural items (element kind plus, where
the source gives them, scene number, section depth, dual flag or line) and compared with what
Moviola's parser produces for the same file. Text is not compared: the tools disagree on trimming,
emphasis and escapes, and the corpus README asks for structure.

Where a source disagrees with fountain.io (or the sources disagree with each other) Moviola follows
the spec; each such case is a ``Difference`` below, with its reason, and docs/fountain-conformance.md
explains the choice. A difference names the element of the other tool's output that Moviola reads
differently and what Moviola produces there; the rest of the file must still match exactly, and a
difference that no longer applies fails the test (so the list cannot go stale).
"""

from __future__ import annotations

import html.parser
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from moviola.compiler.fountain import parse

CORPUS = Path(__file__).parents[2] / "shared" / "fountain-corpus"
if not CORPUS.is_dir():
    pytest.skip(f"no Fountain corpus at {CORPUS}", allow_module_level=True)

try:
    import yaml     # jouvence's cases are YAML; the other sources need nothing beyond stdlib
except ImportError:  # pragma: no cover
    yaml = None


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


# -- structural items --------------------------------------------------------------------------


@dataclass
class Item:
    kind: str
    text: str = ""
    detail: object = None     # scene number, section depth or dual flag, where a source has it
    line: int | None = None   # 1-based first line, where a source has it

    def key(self, detail: bool, line: bool) -> tuple:
        return (self.kind,) + ((self.detail,) if detail else ()) + ((self.line,) if line else ())


def ours(text: str, *, dual: bool = False, numbers: bool = False, depth: bool = False) -> list[Item]:
    """Moviola's elements as items; notes are left out (the other tools drop them or inline them
    in the text), and each source's tests count them apart."""
    items = []
    for e in parse(text).elements:
        if e.kind == "note":
            continue
        detail = None
        if e.kind == "character" and dual:
            detail = e.dual
        elif e.kind == "scene_heading" and numbers:
            detail = e.scene_number
        elif e.kind == "section" and depth:
            detail = e.depth
        items.append(Item(e.kind, e.text, detail, e.span.line))
    return items


def merge_runs(items: list[Item], kinds=("action",)) -> list[Item]:
    """Drop empty actions and merge consecutive items of ``kinds``: for tools that keep blank
    lines inside one action element instead of splitting paragraphs."""
    out: list[Item] = []
    for item in items:
        if item.kind == "action" and not item.text.strip():
            continue
        if out and item.kind in kinds and out[-1].kind == item.kind:
            out[-1] = Item(item.kind, out[-1].text + "\n\n" + item.text, out[-1].detail, out[-1].line)
            continue
        out.append(item)
    return out


@dataclass(frozen=True)
class Difference:
    """Where ``case`` has an element of ``kind`` whose text starts with ``text``, Moviola produces
    the items ``ours`` (kinds, or tuples when details/lines are compared) instead."""

    case: str
    kind: str
    text: str
    ours: tuple
    reason: str


def apply(differences: list[Difference], case: str, theirs: list[Item], detail: bool,
          line: bool) -> list[tuple]:
    """Their items as comparison keys, with the documented differences for ``case`` applied."""
    keys = [item.key(detail, line) for item in theirs]
    items: list[Item | None] = list(theirs)      # kept parallel to keys; None once replaced
    for diff in (d for d in differences if d.case == case):
        for index, item in enumerate(items):
            if item is not None and item.kind == diff.kind and item.text.strip().startswith(diff.text):
                assert not line or all(isinstance(o, tuple) for o in diff.ours)
                replacement = [o if isinstance(o, tuple) else (o, None)[:1 + detail] for o in diff.ours]
                keys[index:index + 1] = replacement
                items[index:index + 1] = [None] * len(replacement)
                break
        else:
            pytest.fail(f"stale difference for {case}: no {diff.kind} starting {diff.text!r}")
    return keys


# -- jouvence: YAML in/out cases ---------------------------------------------------------------

JOUVENCE_KINDS = {".": "scene_heading", "!": "action", "@": "character", "=": "dialogue",
                  "_": "parenthetical", ">": "transition", "~": "lyrics", "#": "section",
                  "+": "synopsis"}


def jouvence_item(out: str) -> Item:
    if out == "<pagebreak>":
        return Item("page_break")
    if out.startswith("!><"):
        return Item("centered", out[3:])
    return Item(JOUVENCE_KINDS[out[0]], out[1:])


JOUVENCE_CASES = []
for _path in sorted((CORPUS / "jouvence" / "tests").glob("test_*.yaml")) if yaml else []:
    for _number, _doc in enumerate(yaml.safe_load_all(read(_path))):
        if _doc:
            JOUVENCE_CASES.append(pytest.param(_doc, id=f"{_path.stem[5:]}-{_number}"))

JOUVENCE_DIFFERENCES = [
    Difference("lyrics-1", "action", "~This is lyrics", ("lyrics", "action"),
               "a line starting with ~ is a lyric; jouvence wants the whole paragraph to be lyrics"),
    Difference("transitions-2", "action", "NOT A TRANSITION TO:", ("transition", "action"),
               "trailing spaces after TO: do not matter to Moviola"),
]


@pytest.mark.skipif(yaml is None, reason="PyYAML is not installed")
def test_jouvence_cases_are_all_read():
    assert len(JOUVENCE_CASES) == 46      # the corpus README counts 46 in:/out: cases


@pytest.mark.parametrize("case", JOUVENCE_CASES)
def test_jouvence(case, request):
    name = request.node.callspec.id
    theirs = merge_runs([jouvence_item(out) for out in case["out"]])
    expected = apply(JOUVENCE_DIFFERENCES, name, theirs, False, False)
    script = parse(case["in"])
    assert [i.key(False, False) for i in merge_runs(ours(case["in"]))] == expected
    if "title" in case:
        title = {f.key.lower(): f.value for f in script.title_page}
        assert title == {k.lower(): str(v) for k, v in case["title"].items()}


# -- fountain-tools: X.fountain with its X.txt element dump ------------------------------------

TOOLS = CORPUS / "fountain-tools" / "tests"
TOOLS_KINDS = {"HEADING": "scene_heading", "ACTION": "action", "CHARACTER": "character",
               "DIALOGUE": "dialogue", "PARENTHETICAL": "parenthetical", "TRANSITION": "transition",
               "LYRIC": "lyrics", "PAGEBREAK": "page_break", "SECTION": "section",
               "SYNOPSIS": "synopsis", "NOTE": "note", "BONEYARD": "boneyard",
               "TITLEENTRY": "title"}
TOOLS_ENTRY = re.compile(r'^(?:\[\[\d+\]\]|/\*\d+\*/)?([A-Z]+):"', re.MULTILINE)


def tools_items(dump: str) -> list[Item]:
    """Parse a fountain-tools dump: one `TYPE:"text"` entry per element, text may span lines,
    followed by details: `(3)` scene number or depth, `(Dual)`, `(centered)`, `"(ext)"`."""
    items = []
    starts = list(TOOLS_ENTRY.finditer(dump))
    for match, following in zip(starts, starts[1:] + [None]):
        body = dump[match.end():following.start() if following else len(dump)].rstrip("\n")
        kind = TOOLS_KINDS[match.group(1)]
        text, _, details = body.rpartition('"')
        detail = None
        if kind == "action" and details.strip() == "(centered)":
            kind = "centered"
        elif kind == "character":
            detail = details.endswith("(Dual)")
        elif kind in ("scene_heading", "section"):
            number = re.search(r"\((.+?)\)", details)
            detail = number.group(1) if number else None
            if kind == "section":
                detail = int(detail)
        items.append(Item(kind, text, detail))
    # fountain-tools flags only the `^` cue; Moviola flags both halves of dual dialogue.
    for index, item in enumerate(items):
        if item.kind == "character" and item.detail:
            before = index - 1
            while before >= 0 and items[before].kind in ("dialogue", "parenthetical", "lyrics"):
                before -= 1
            if before >= 0 and items[before].kind == "character":
                items[before].detail = True
    return items


TOOLS_CASES = [
    ("Action-Merged", "Action"), ("Action-Unmerged", "Action"), ("Boneyards", "Boneyards"),
    ("Character", "Character"), ("Dialogue-Merged", "Dialogue"), ("Dialogue-Unmerged", "Dialogue"),
    ("LineBreaks", "LineBreaks"), ("Lyrics", "Lyrics"), ("Notes", "Notes"),
    ("PageBreak", "PageBreak"), ("Parenthetical", "Parenthetical"), ("SceneHeading", "SceneHeading"),
    ("Scratch", "Scratch"), ("Sections", "Sections"), ("TitlePage", "TitlePage"),
    ("Transition", "Transition"), ("UTF8", "UTF8"),
]

TOOLS_DIFFERENCES = [
    Difference("Character", "action", "3CPO", (("character", False), "dialogue"),
               "fountain.io: a cue needs one letter (R2D2 works, 23 does not); 3CPO has three"),
    Difference("Boneyards", "action", "As he rattles", ("action", "transition"),
               "the boneyard hides whole paragraphs, so the CUT TO: above it keeps its blank line"
               " (fountain.io's own boneyard example)"),
    Difference("Notes", "dialogue", "*Did you know", ("dialogue", "action"),
               "a blank line ends a dialogue block; fountain-tools runs the speech on"),
    Difference("Parenthetical", "dialogue", "(bouncy)", ("parenthetical", "dialogue"),
               "a (…) line in a dialogue block is a parenthetical, also after another one"),
    Difference("Sections", "title", "CUT TO", ("transition",),
               "an upper-case key without a value at the top is a transition, not a title page"),
    Difference("Sections", "scene_heading", "INT. PALACE HALLWAY", ("action",),
               "fountain.io: a scene heading needs a blank line after it"),
    Difference("Sections", "action", "You can nest Sections", (),
               "(the line under the heading joins it in one action paragraph)"),
]


@pytest.mark.parametrize("dump, source", TOOLS_CASES, ids=[c[0] for c in TOOLS_CASES])
def test_fountain_tools(dump, source):
    text = read(TOOLS / f"{source}.fountain")
    theirs = tools_items(read(TOOLS / f"{dump}.txt"))
    theirs_title = [i for i in theirs if i.kind == "title"]
    notes = [i for i in theirs if i.kind == "note"]
    theirs = merge_runs([i for i in theirs if i.kind not in ("note", "boneyard")],
                        kinds=("action", "dialogue"))
    expected = [k for k in apply(TOOLS_DIFFERENCES, dump, theirs, True, False) if k[0] != "title"]
    mine = merge_runs(ours(text, dual=True, numbers=True, depth=True), kinds=("action", "dialogue"))
    assert [i.key(True, False) for i in mine] == expected
    script = parse(text)
    if dump != "Sections":
        assert len(script.title_page) == len(theirs_title)
    if dump != "Notes":     # fountain-tools reads a note broken by a blank line as a note
        assert sum(e.kind == "note" for e in script.elements) == len(notes)


def test_fountain_tools_notes_broken_by_blank_line():
    # fountain-tools lists 4 notes; the 4th has a blank line inside, so Moviola reports E101.
    script = parse(read(TOOLS / "Notes.fountain"))
    assert sum(e.kind == "note" for e in script.elements) == 3
    assert [d.code for d in script.diagnostics] == ["E101"]


FORMATTED_TAGS = re.compile(r"</?([biu])>")


def tools_runs(line: str) -> list[tuple[str, frozenset]]:
    """`<b><i>x</i></b>` → [("x", {"b", "i"})]."""
    out, open_tags, pos = [], [], 0
    for match in FORMATTED_TAGS.finditer(line):
        if match.start() > pos:
            out.append((line[pos:match.start()], frozenset(open_tags)))
        tag = match.group(1)
        if match.group(0).startswith("</"):
            open_tags.remove(tag)
        else:
            open_tags.append(tag)
        pos = match.end()
    if pos < len(line):
        out.append((line[pos:], frozenset(open_tags)))
    return out


FORMATTED_DIFFERENCES = {
    5: "emphasis nests: *Leupold Mark 4* is italic inside the underline (fountain.io's example);"
       " fountain-tools leaves the asterisks literal",
}


def test_fountain_tools_emphasis():
    from moviola.compiler.inline import runs

    source = read(TOOLS / "Formatted.fountain").split("\n")
    expected = read(TOOLS / "Formatted.txt").split("\n")
    assert len(source) == len(expected)
    compared = 0
    for number, (line, dump) in enumerate(zip(source, expected)):
        mine = [(r.text, frozenset(t for t, on in (("b", r.bold), ("i", r.italic), ("u", r.underline)) if on))
                for r in runs(line)]
        if number in FORMATTED_DIFFERENCES:
            assert mine != tools_runs(dump)
            continue
        assert mine == tools_runs(dump), line
        compared += 1
    assert compared == len(source) - len(FORMATTED_DIFFERENCES)


# -- nyousefi/Fountain: assertions transcribed from the Objective-C unit tests ------------------

NYOUSEFI = CORPUS / "nyousefi-Fountain"
NYOUSEFI_TYPES = {"scene_heading": "Scene Heading", "action": "Action", "centered": "Action",
                  "character": "Character", "dialogue": "Dialogue", "parenthetical": "Parenthetical",
                  "transition": "Transition", "page_break": "Page Break", "section": "Section Heading",
                  "synopsis": "Synopsis", "note": "Comment", "lyrics": "Lyrics"}


def nyousefi_elements(text: str) -> list[tuple[str, object]]:
    """Moviola's elements as FastFountainParser lists them: notes on their own line are
    Comment elements, centered text is Action with isCentered."""
    out = []
    for e in parse(text).elements:
        if e.kind == "note" and e.inline:
            continue
        out.append((NYOUSEFI_TYPES[e.kind], e))
    return out


# Where the ObjC list has an element Moviola does not (boneyard, a cue Moviola reads as action),
# its indices after that point are one higher: (fixture, first index, shift).
NYOUSEFI_SHIFTS = [
    ("Boneyard.fountain", 1, 1),       # "/* This is an inline Boneyard. */" is element 1 there
    ("Boneyard.fountain", 2, 1),       # and the multi-line boneyard element 2
    ("Dialogue.fountain", 24, 1),      # "23 (O.S.)" is a cue and its dialogue there
    ("Brick And Steel.txt", 51, 1),    # each line of centered text is an element there;
    ("Brick And Steel.txt", 53, 1),    # Moviola makes one per paragraph (two of two lines)
]

# (fixture, test) → reason; Moviola's reading is asserted in test_fountain_elements.py.
NYOUSEFI_DIFFERENCES = {
    ("Boneyard.fountain", "testSingleLineBoneyard"): "boneyard is left out, not an element",
    ("Boneyard.fountain", "testMultiLineBoneyard"): "boneyard is left out, not an element",
    ("Dialogue.fountain", "testCueCannotBeALLNumerical"):
        "fountain.io: a cue needs a letter; the ObjC test asserts Character for \"23 (O.S.)\""
        " despite its name",
    ("SceneHeaders.fountain", "testAbbreviatedIntExt#7"):
        "I./E. is not among fountain.io's heading prefixes (INT./EXT, INT/EXT, I/E)",
    ("Transitions.fountain", "testFadeToBlack"): "fountain.io: a transition ends in TO:; FADE TO"
        " BLACK. is action (the lowering reads FADE OUT./FADE TO BLACK. as transitions)",
    ("Transitions.fountain", "testNotTransitionWithTrailingSpaces"):
        "trailing spaces after TO: do not matter to Moviola",
}


def nyousefi_cases():
    data = json.loads(read(NYOUSEFI / "expected-from-objc-tests.json"))
    cases = []
    for test_class, spec in data["tests"].items():
        fixture = spec["fixture"]
        if fixture is None:
            continue
        for case in spec["cases"]:
            for number, check in enumerate(case["asserts"]):
                if "raw" in check:
                    continue
                indices = check["index"] if isinstance(check["index"], list) else [check["index"]]
                for index in indices:
                    name = case["test"]
                    if (fixture, f"{name}#{index}") in NYOUSEFI_DIFFERENCES:
                        name = f"{name}#{index}"
                    cases.append(pytest.param(fixture, name, index, check,
                                              id=f"{fixture.split('.')[0]}-{name}-{index}-{number}"))
    return cases


@pytest.mark.parametrize("fixture, name, index, check", nyousefi_cases())
def test_nyousefi(fixture, name, index, check):
    path = NYOUSEFI / "FountainTests" / fixture
    elements = nyousefi_elements(read(path))
    position = index - sum(shift for f, first, shift in NYOUSEFI_SHIFTS if f == fixture and index >= first)
    kind, element = elements[position] if 0 <= position < len(elements) else (None, None)
    if "type" in check:
        agrees = kind == check["type"]
    elif "type_not" in check:
        agrees = kind != check["type_not"]
    elif "text" in check:
        agrees = element is not None and element.plain.strip() == check["text"].strip()
    elif "scene_number" in check:
        agrees = element is not None and element.scene_number == check["scene_number"]
    elif "section_depth" in check:
        agrees = element is not None and element.depth == check["section_depth"]
    elif "isCentered" in check:
        agrees = element is not None and (element.kind == "centered") == check["isCentered"]
    elif "isDualDialogue" in check:
        agrees = element is not None and element.dual == check["isDualDialogue"]
    else:
        pytest.fail(f"unknown check {check}")
    if (fixture, name) in NYOUSEFI_DIFFERENCES:
        assert not agrees, "documented difference no longer applies"
    else:
        assert agrees, (position, kind, element)


# -- screenplain: X.fountain with its X.html ---------------------------------------------------

SCREENPLAIN = CORPUS / "screenplain"


class _ScreenplainHTML(html.parser.HTMLParser):
    """Reads screenplain's HTML back into items, from its class names."""

    def __init__(self):
        super().__init__()
        self.items: list[Item] = []
        self.stack: list[tuple[str, set]] = []
        self.dual = False
        self.number: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get("class") or "").split())
        self.stack.append((tag, classes))
        items = self.items
        if tag == "div" and "dual" in classes:
            self.dual = True
        elif tag == "div" and "action" in classes:
            if "page-break" in classes:
                items.append(Item("page_break"))
            items.append(Item("centered" if "centered" in classes else "action"))
        elif tag == "div" and "transition" in classes:
            items.append(Item("transition"))
        elif tag == "p" and "character" in classes:
            items.append(Item("character", detail=self.dual))
        elif tag == "p" and "parenthetical" in classes:
            items.append(Item("parenthetical"))
        elif tag == "p" and self.inside("dialog", "dual") and not self.inside_class("action"):
            if items[-1].kind != "dialogue":
                items.append(Item("dialogue"))
        elif tag == "h6":
            if "page-break" in classes:
                items.append(Item("page_break"))
            items.append(Item("scene_heading"))
            self.number = []
        elif re.fullmatch(r"h[1-5]", tag):
            items.append(Item("section", detail=int(tag[1])))
        elif tag == "span" and any(c.endswith("-synopsis") for c in classes):
            items.append(Item("synopsis"))

    def inside(self, *names) -> bool:
        return any(tag == "div" and classes & set(names) for tag, classes in self.stack[:-1])

    def inside_class(self, name) -> bool:
        return any(name in classes for _, classes in self.stack[:-1])

    def handle_endtag(self, tag):
        while self.stack:
            top, classes = self.stack.pop()
            if top == "div" and "dual" in classes:
                self.dual = False
            if top == tag:
                break
        if tag == "h6":
            self.number = None

    def handle_data(self, data):
        if self.stack and self.stack[-1][0] == "span" and "scnuml" in self.stack[-1][1]:
            self.items[-1].detail = data.strip()


def screenplain_items(html_text: str) -> list[Item]:
    reader = _ScreenplainHTML()
    body = html_text.split("<body", 1)[-1]
    reader.feed(body)
    return reader.items


SCREENPLAIN_CASES = sorted(
    [p for p in (SCREENPLAIN / "tests" / "files").glob("*.fountain") if p.with_suffix(".html").exists()]
    + sorted((SCREENPLAIN / "examples").glob("*.fountain")))



@pytest.mark.parametrize("path", SCREENPLAIN_CASES, ids=lambda p: p.stem)
def test_screenplain_html(path):
    # No documented differences: screenplain and Moviola agree on every file, down to dual
    # flags, scene numbers and section depths.
    theirs = screenplain_items(read(path.with_suffix(".html")))
    mine = ours(read(path), dual=True, numbers=True, depth=True)
    assert [i.key(True, False) for i in mine] == [i.key(True, False) for i in theirs]


# -- Final Draft (FDX) outputs: screenplain's and afterwriting's --------------------------------

FDX_KINDS = {"Scene Heading": "scene_heading", "Action": "action", "Character": "character",
             "Dialogue": "dialogue", "Parenthetical": "parenthetical", "Transition": "transition"}


def fdx_items(xml_text: str) -> tuple[list[Item], int, int]:
    """(items, notes, synopses) from an FDX file's <Content>."""
    import xml.etree.ElementTree as ET

    content = ET.fromstring(xml_text.encode("utf-8")).find("Content")
    items: list[Item] = []

    def paragraph(node, dual=False):
        kind = FDX_KINDS[node.get("Type")]
        if kind == "action" and node.get("Alignment") == "Center":
            kind = "centered"
        if kind == "dialogue" and items and items[-1].kind == "dialogue":
            return      # one paragraph per line of speech
        items.append(Item(kind, detail=dual if kind == "character" else None))

    for node in content.findall("Paragraph"):
        dual = node.find("DualDialogue")
        if dual is not None:
            for inner in dual.findall("Paragraph"):
                paragraph(inner, dual=True)
        else:
            paragraph(node)
    notes = len(content.findall(".//ScriptNote"))
    synopses = len(content.findall(".//Summary"))
    return items, notes, synopses


FDX_CASES = sorted(SCREENPLAIN.glob("*/*.fdx")) + sorted(SCREENPLAIN.glob("tests/files/*.fdx")) \
    + sorted((CORPUS / "afterwriting-labs" / "test" / "data" / "screenplays" / "fdx").glob("*.fdx"))


@pytest.mark.parametrize("path", sorted(set(FDX_CASES)), ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_fdx(path):
    theirs, notes, synopses = fdx_items(read(path))
    script = parse(read(path.with_suffix(".fountain")))
    # FDX has no sections or page breaks; notes and synopses hang on paragraphs.
    mine = [Item(e.kind, detail=e.dual if e.kind == "character" else None) for e in script.elements
            if e.kind not in ("note", "synopsis", "section", "page_break")]
    assert [i.key(True, False) for i in mine] == [i.key(True, False) for i in theirs]
    if path.parent.name == "fdx":
        # afterwriting writes notes and synopses into FDX (screenplain leaves them out)
        assert sum(e.kind == "note" for e in script.elements) == notes
        assert sum(e.kind == "synopsis" for e in script.elements) == synopses


# -- aw-parser: sample.fountain (CR-only) with its token stream --------------------------------

AW = CORPUS / "aw-parser" / "test" / "data"
AW_DIFFERENCES = [
    Difference("sample", "action", "[[Script note.", (),
               "a note over several lines (no blank line inside) is a note; aw-parser shows it as action"),
    Difference("sample", "dialogue", "*Happy birthday to you!*", (("lyrics", 149),),
               "a ~ line inside a dialogue block is a lyric (fountain.io, nyousefi, fountain-tools)"),
]


def aw_items(tokens: list[dict]) -> list[Item]:
    items: list[Item] = []
    previous = "separator"
    for token in tokens:
        kind = token["type"]
        if kind == "separator":
            previous = kind
            continue
        if kind in ("action", "dialogue") and previous == kind:
            continue        # one token per line: the paragraph is already there
        items.append(Item(kind, token["text"], None, token["line"] + 1 if "line" in token else None))
        previous = kind
    return items


def test_aw_parser_tokens_and_lines():
    data = json.loads(read(AW / "sample.tokens.json"))
    theirs = aw_items(data["tokens"])
    expected = apply(AW_DIFFERENCES, "sample", theirs, False, True)
    text = read(AW / "sample.fountain")
    assert "\r" in text and "\n" not in text          # CR-only line endings
    mine = ours(text)
    assert [i.key(False, True) for i in mine] == expected


def test_aw_parser_title_page():
    data = json.loads(read(AW / "sample.tokens.json"))
    script = parse(read(AW / "sample.fountain"))
    assert [(f.key.lower(), f.value) for f in script.title_page] == [
        (t["type"], t["text"]) for t in data["title_page"]]
    # aw-parser's 0-based line of each key is Moviola's 1-based line minus one
    assert [f.span.line - 1 for f in script.title_page] == [t["line"] for t in data["title_page"]]


# -- whole screenplays -------------------------------------------------------------------------

SCREENPLAYS = {
    # path: (scene headings, character cues, title page keys). The fountain.io scripts take
    # screenplain's HTML counts (<h6>, p.character); the other copies must read the same (the
    # betterfountain ones have trailing spaces stripped, nyousefi's has curly quotes). Scripts
    # without an expected output get ranges from counting their lines by hand.
    "screenplain/examples/Big-Fish.fountain": (190, 768, 6),
    "screenplain/examples/Brick-and-Steel.fountain": (8, 20, 6),
    "screenplain/examples/The-Last-Birthday-Card.fountain": (48, 134, 5),
    "nyousefi-Fountain/FountainTests/Big Fish.fountain": (190, 768, 6),
    "nyousefi-Fountain/FountainTests/Brick And Steel.txt": (8, 20, 6),
    "betterfountain/src/test/scripts/big_fish_crlf.fountain": (190, 768, 6),
    "betterfountain/src/test/scripts/brick_and_steel_crlf.fountain": (8, 20, 6),
    "afterwriting-labs/samples/brick_and_steel.fountain": (8, 20, 6),
    "afterwriting-labs/samples/my_living_memory.fountain": (9, range(110, 131), 4),
    "afterwriting-labs/samples/printing_trouble.fountain": (29, range(55, 92), 4),
    "afterwriting-labs/test/data/screenplays/test.fountain": (11, range(10, 21), 8),
    "afterwriting-labs/test/data/screenplays/client.fountain": (11, range(10, 21), 8),
    # Cyrillic: ИНТ. is no fountain.io prefix, so no headings; МАШA (upper case) is a cue.
    "afterwriting-labs/test/data/screenplays/cyrillic.fountain": (0, 1, 2),
    # Japanese and Chinese: no upper case, no ASCII colon after Title, no INT. + dot or space.
    "afterwriting-labs/test/data/screenplays/jp.fountain": (0, 0, 0),
    "afterwriting-labs/test/data/screenplays/sc.fountain": (0, 0, 0),
}


@pytest.mark.parametrize("path", sorted(SCREENPLAYS))
def test_screenplay_counts(path):
    script = parse(read(CORPUS / path))
    headings = sum(e.kind == "scene_heading" for e in script.elements)
    cues = sum(e.kind == "character" for e in script.elements)
    want_headings, want_cues, want_title = SCREENPLAYS[path]
    assert headings == want_headings
    assert cues in want_cues if isinstance(want_cues, range) else cues == want_cues
    assert len(script.title_page) == want_title
    # every dialogue block is a cue then speech: no speech without a cue before it
    previous = None
    for element in script.elements:
        if element.kind in ("dialogue", "parenthetical"):
            assert previous in ("character", "dialogue", "parenthetical", "lyrics", "note"), element
        previous = element.kind


def test_trailing_whitespace_does_not_change_the_structure():
    # betterfountain's copies of the fountain.io scripts have trailing whitespace stripped (and
    # one changed word, mojibake): the element kinds must not change.
    scripts = "betterfountain/src/test/scripts"
    for original, stripped in [("screenplain/examples/Big-Fish.fountain", f"{scripts}/big_fish_crlf.fountain"),
                               ("screenplain/examples/Brick-and-Steel.fountain",
                                f"{scripts}/brick_and_steel_crlf.fountain")]:
        a = [e.kind for e in parse(read(CORPUS / original)).elements]
        b = [e.kind for e in parse(read(CORPUS / stripped)).elements]
        assert a == b


def test_grouping_keeps_every_lexed_line_once_on_the_corpus():
    # The grouping step neither drops nor repeats a line the lexer classified (an element may
    # also span transparent lines: a note line inside a paragraph).
    from moviola.compiler import lexer, notes
    from moviola.compiler.source import Source

    paths = sorted(CORPUS.rglob("*.fountain"))
    assert len(paths) > 50
    for path in paths:
        text = read(path)
        source = Source.from_text(text)
        lexed = sorted(line.number for line in lexer.lex(notes.hide(source), source.lines))
        script = parse(text)
        covered = [n for e in script.elements if e.kind != "note" for n in range(e.span.line, e.span.end_line + 1)]
        covered += [n for f in script.title_page for n in range(f.span.line, f.span.end_line + 1)]
        assert all(covered.count(n) == 1 for n in lexed), path
