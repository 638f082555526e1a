"""Final Draft's FDX: export a parsed script, import an FDX file as Fountain text.

Export maps each Fountain element to an FDX paragraph (``Type`` as Final Draft names it) and
emphasis to ``Style`` runs; what Final Draft has no element for is written the way Final Draft
and its peers store it: a page break as ``StartsNewPage``, a synopsis right under a heading as
the scene's ``Summary``, sections as ``Outline N`` paragraphs, lyrics as ``Lyrics``, dual
dialogue inside ``DualDialogue``. Notes, Moviola's annotations among them, become ``ScriptNote``
attached to the paragraph beside them, with a ``Placement`` attribute so they come back where they
were. The title page is written as ``TitlePage`` paragraphs, each field's key in a ``Key``
attribute.

Import reads the paragraphs back (from Final Draft's own files too, which have no ``Key`` or
``Placement``) and writes Fountain with :mod:`.fountain_writer`. The XML is parsed with
defusedxml: a file that declares entities or fetches external ones is refused, never expanded.
docs/cli.md lists what FDX cannot carry.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from moviola.compiler import inline

from .fountain_writer import Paragraph, markup, write

# Fountain kind → FDX paragraph type (Final Draft's own names where it has the element).
_TYPES = {
    "scene_heading": "Scene Heading", "action": "Action", "character": "Character",
    "dialogue": "Dialogue", "parenthetical": "Parenthetical", "transition": "Transition",
    "centered": "Action", "lyrics": "Lyrics", "synopsis": "Outline Body",
}
# FDX paragraph type → Fountain kind on import; an unknown type reads as action.
_KINDS = {
    "scene heading": "scene_heading", "action": "action", "general": "action",
    "character": "character", "dialogue": "dialogue", "parenthetical": "parenthetical",
    "transition": "transition", "lyrics": "lyrics", "outline body": "synopsis",
    "shot": "action", "cast list": "action",
    "new act": "section", "end of act": "section", "act break": "section",
}
_OUTLINE = re.compile(r"outline (\d+)$", re.IGNORECASE)
_CENTERED_TITLE_KEYS = ("title", "credit", "author", "authors", "source")


class FdxError(Exception):
    """The file is not an FDX screenplay this importer can read (the message says why)."""


# ---------------------------------------------------------------------------------------------
# export


def export(script) -> bytes:
    """The FDX document (UTF-8 bytes) for a parsed :class:`~moviola.compiler.fountain.Script`."""
    root = ET.Element("FinalDraft", DocumentType="Script", Template="No", Version="5")
    content = ET.SubElement(root, "Content")
    heading: ET.Element | None = None   # the last heading, while a synopsis can be its summary
    previous: ET.Element | None = None  # the paragraph a following note attaches to
    before: list = []                   # notes waiting for the next paragraph
    page_break = False
    dual: ET.Element | None = None      # the open <DualDialogue>, while its second half is due
    dual_cues = 0
    note_id = 0

    def paragraph(kind_type: str | None, parent: ET.Element | None = None) -> ET.Element:
        nonlocal page_break, previous
        node = ET.SubElement(content if parent is None else parent, "Paragraph")
        if kind_type is not None:
            node.set("Type", kind_type)
        if page_break:
            node.set("StartsNewPage", "Yes")
            page_break = False
        for note in before:
            _note(node, note, "before", next_id())
        before.clear()
        previous = node
        return node

    def next_id() -> str:
        nonlocal note_id
        note_id += 1
        return str(note_id)

    for element in script.elements:
        kind = element.kind
        if kind == "note":
            heading = None      # a synopsis after the note is no longer right under the heading
            if previous is not None and not before and not page_break:
                _note(previous, element, "inline" if element.inline else "after", next_id())
            else:
                before.append(element)
            continue
        if kind == "page_break":
            if page_break:      # two breaks in a row: the first holds an empty page
                paragraph("Action")
            page_break = True
            previous = heading = None
            continue
        if kind == "synopsis" and heading is not None and previous is heading:
            properties = heading.find("SceneProperties")
            if properties is None:
                properties = ET.Element("SceneProperties")
                heading.insert(0, properties)
            summary = properties.find("Summary")
            if summary is None:
                summary = ET.SubElement(properties, "Summary")
            _text_runs(ET.SubElement(summary, "Paragraph"), element.text)
            continue
        block_kinds = ("character", "dialogue", "parenthetical", "lyrics")
        if dual is not None and (kind not in block_kinds or (
                kind == "character" and (dual_cues == 2 or not element.dual))):
            dual = None
        if kind == "character" and element.dual and dual is None:
            # Final Draft wraps the pair in a paragraph of its own
            dual = ET.SubElement(paragraph(None), "DualDialogue")
            dual_cues = 0
        if kind == "character" and dual is not None:
            dual_cues += 1
        if kind == "section":
            node = paragraph(f"Outline {max(element.depth, 1)}", dual)
        else:
            node = paragraph(_TYPES[kind], dual)
        if kind == "centered":
            node.set("Alignment", "Center")
        if kind == "scene_heading" and element.scene_number:
            node.set("Number", element.scene_number)
        text = element.text
        if kind == "character":
            _plain_text(node, text)
        else:
            _text_runs(node, text)
        heading = node if kind == "scene_heading" else None

    if before or page_break:
        paragraph("Action")     # an empty paragraph holds the last page break and notes
    if script.title_page:
        _title_page(root, script.title_page)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def _note(node: ET.Element, note, placement: str, note_id: str) -> None:
    script_note = ET.Element("ScriptNote", ID=note_id, Placement=placement)
    for line in note.text.split("\n"):
        _plain_text(ET.SubElement(script_note, "Paragraph"), line)
    # Final Draft puts a paragraph's notes before its text
    position = sum(1 for child in node if child.tag in ("SceneProperties", "ScriptNote"))
    node.insert(position, script_note)


def _plain_text(node: ET.Element, text: str) -> None:
    ET.SubElement(node, "Text").text = text


def _text_runs(node: ET.Element, text: str) -> None:
    runs = inline.runs(text) if inline.has_markup(text) else [inline.Run(text)]
    if not runs:
        runs = [inline.Run("")]
    for run in runs:
        styles = [name for name, on in (("Bold", run.bold), ("Italic", run.italic),
                                        ("Underline", run.underline)) if on]
        item = ET.SubElement(node, "Text")
        if styles:
            item.set("Style", "+".join(styles))
        item.text = run.text


def _title_page(root: ET.Element, fields) -> None:
    content = ET.SubElement(ET.SubElement(root, "TitlePage"), "Content")
    for field in fields:
        centered = field.key.strip().lower() in _CENTERED_TITLE_KEYS
        node = ET.SubElement(content, "Paragraph", Alignment="Center" if centered else "Left",
                             Key=field.key)
        _text_runs(node, field.value)


# ---------------------------------------------------------------------------------------------
# import


def import_fdx(data: bytes, path: str = "<fdx>") -> str:
    """Fountain text for the FDX document ``data``. Raises :class:`FdxError` for a file that is
    not well-formed XML, declares entities, or is not a Final Draft script."""
    title_page, paragraphs = read_fdx(data, path)
    return write(title_page, paragraphs)


def read_fdx(data: bytes, path: str = "<fdx>") -> tuple[list[tuple[str, str]], list[Paragraph]]:
    """The title page fields and the paragraphs of an FDX document, as Fountain elements."""
    import defusedxml
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(data, forbid_dtd=True)
    except ET.ParseError as error:
        line, column = error.position
        raise FdxError(f"{path}:{line}:{column + 1}: not well-formed XML "
                       f"({str(error).split(':')[0]})") from None
    except defusedxml.DefusedXmlException as error:
        raise FdxError(f"{path}: refused: the file declares a DTD or entities ({type(error).__name__}); "
                       "FDX files never need them") from None
    if root.tag != "FinalDraft":
        raise FdxError(f"{path}: not a Final Draft file (the root element is <{root.tag}>, "
                       "not <FinalDraft>)")
    content = root.find("Content")
    if content is None:
        raise FdxError(f"{path}: the Final Draft file has no <Content> (no script text)")
    return _read_title_page(root.find("TitlePage")), list(_read_content(content))


def unkept(paragraphs: list[Paragraph], script) -> list[str]:
    """The paragraphs that Fountain reads as something else (a cue with no speech after it
    is action...), as messages, for the importer to say so rather than change them quietly."""
    import difflib

    wanted: list[Paragraph] = []
    for paragraph in paragraphs:
        # consecutive speech paragraphs are one Fountain dialogue element
        if paragraph.kind == "dialogue" and wanted and wanted[-1].kind == "dialogue":
            continue
        wanted.append(paragraph)
    got = [element.kind for element in script.elements]
    matcher = difflib.SequenceMatcher(None, [p.kind for p in wanted], got, autojunk=False)
    out = []
    for tag, first, last, other_first, other_last in matcher.get_opcodes():
        if tag == "equal":
            continue
        found = ", ".join(got[other_first:other_last])
        for paragraph in wanted[first:last]:
            text = inline.plain(paragraph.text).split("\n")[0][:60]
            out.append(f"{_TYPES.get(paragraph.kind, paragraph.kind)} {text!r} does not stay "
                       f"{paragraph.kind} in Fountain" + (f" (reads as {found})" if found else ""))
    return out


def _read_content(content: ET.Element) -> Iterator[Paragraph]:
    for node in content.findall("Paragraph"):
        yield from _read_paragraph(node)


def _read_paragraph(node: ET.Element, dual: bool = False) -> Iterator[Paragraph]:
    if node.get("StartsNewPage", "").lower() == "yes":
        yield Paragraph("page_break")
    notes = [(n.get("Placement", "after"), _note_text(n)) for n in node.findall("ScriptNote")]
    for placement, text in notes:
        if placement == "before":
            yield Paragraph("note", text)
    pair = node.find("DualDialogue")
    if pair is not None:
        for inner in pair.findall("Paragraph"):
            yield from _read_paragraph(inner, dual=True)
    type_name = (node.get("Type") or "").strip()
    kind = _KINDS.get(type_name.lower())
    depth = 0
    outline = _OUTLINE.match(type_name)
    if outline:
        kind, depth = "section", int(outline.group(1))
    elif kind == "section":
        depth = 1
    elif kind is None:
        kind = "action" if type_name else None
    text = _runs_markup(node) if kind not in ("character", None) else _plain(node)
    if kind == "dialogue" and not text.strip():
        yield Paragraph("dialogue", "")     # an empty speech paragraph: a blank line in the speech
    elif kind is not None and text.strip():
        if kind == "action" and (node.get("Alignment") or "").lower() == "center":
            kind = "centered"
        if kind in ("scene_heading", "transition", "character", "parenthetical", "centered",
                    "section", "synopsis"):
            text = text.replace("\n", " ").strip() if kind != "centered" else text
        if kind == "parenthetical" and not (text.startswith("(") and text.endswith(")")):
            text = f"({text})"
        if kind == "scene_heading":
            yield Paragraph(kind, text, scene_number=node.get("Number") or None)
        else:
            yield Paragraph(kind, text, dual=dual and kind == "character", depth=depth)
        properties = node.find("SceneProperties")
        summary = properties.find("Summary") if properties is not None else None
        if summary is not None:
            for inner in summary.findall("Paragraph"):
                synopsis = _runs_markup(inner).replace("\n", " ").strip()
                if synopsis:
                    yield Paragraph("synopsis", synopsis)
    for placement, text in notes:
        if placement != "before":
            yield Paragraph("note", text, inline=placement == "inline")


def _note_text(note: ET.Element) -> str:
    # A blank line would end the note in Fountain: a line of two spaces keeps it together.
    lines = [line for p in note.findall("Paragraph") for line in _plain(p).split("\n")]
    lines[1:-1] = [line if line.strip() or len(line) >= 2 else "  " for line in lines[1:-1]]
    return "\n".join(lines).replace("[[", "[ [").replace("]]", "] ]")


def _plain(node: ET.Element) -> str:
    return "".join(t.text or "" for t in node.findall("Text"))


def _runs_markup(node: ET.Element) -> str:
    runs = []
    for item in node.findall("Text"):
        styles = {s.strip().lower() for s in (item.get("Style") or "").split("+")}
        runs.append(inline.Run(item.text or "", "bold" in styles, "italic" in styles,
                               "underline" in styles))
    text = markup(runs)
    # Fountain lines carry no trailing spaces, and a paragraph does not end in blank lines
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


def _read_title_page(title_page: ET.Element | None) -> list[tuple[str, str]]:
    if title_page is None:
        return []
    content = title_page.find("Content")
    if content is None:
        return []
    fields: list[tuple[str, str]] = []
    unkeyed_centered = 0
    for node in content.findall("Paragraph"):
        value = _runs_markup(node).strip()
        if not value:
            continue
        key = node.get("Key")
        if key is None:
            # Final Draft's own title page is free text: centered lines are the title, the credit
            # and the author; the rest is contact information.
            if (node.get("Alignment") or "").lower() == "center":
                unkeyed_centered += 1
                if unkeyed_centered == 1:
                    key = "Title"
                elif re.match(r"(written|screenplay|story|teleplay)?\s*by\b", inline.plain(value), re.I):
                    key = "Credit"
                else:
                    key = "Author"
            else:
                key = "Contact"
        if fields and fields[-1][0] == key and node.get("Key") is None:
            fields[-1] = (key, f"{fields[-1][1]}\n{value}")
        else:
            fields.append((key, value))
    return [(key, "\n".join(line.strip() for line in value.split("\n"))) for key, value in fields]
