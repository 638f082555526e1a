"""Draws a paginated screenplay (``pagination.Document``) as a PDF, with ReportLab.

Fonts, character by character: text the PDF's built-in Courier can encode (Latin-1 and the rest
of Windows-1252) is set in Courier 12 pt, which every viewer has, so nothing is embedded. Other
alphabets (Latin Extended, Greek, Cyrillic…) are set in IBM Plex Mono, a free (SIL OFL)
monospaced face with Courier's metrics, 600/1000 em a character, shipped on PyPI as
``fontpkg-ibm-plex-mono``; it is embedded, subset to the characters used. Chinese, Japanese and
Korean take two cells each: with the ``cjk`` extra installed (``justmytype-intl-cjk``, Noto Sans
JP, SC and KR, SIL OFL) they are set in Noto Sans and embedded; without it, in the PDF standard's
Asian CID fonts (HeiseiMin-W3, STSong-Light, HYSMyeongJo-Medium), which a viewer supplies from
its Asian font pack. The text stays searchable and extractable either way. A character none of these faces holds (Arabic, Hebrew, emoji) is
written in a standard CID font, which keeps it in the text for the viewer to draw if it can:
never dropped. Right-to-left text is not reordered or shaped.
"""

from __future__ import annotations

import io
import unicodedata
from functools import lru_cache
from pathlib import Path

from .files import write_file
from .pagination import CELL_WIDTH, LEFT_MARGIN, LINE_HEIGHT, TOP_MARGIN, Document, Placed, cells

FONT_SIZE = 12.0
_COURIER = {(False, False): "Courier", (True, False): "Courier-Bold",
            (False, True): "Courier-Oblique", (True, True): "Courier-BoldOblique"}
_MONO_FILES = {(False, False): "Regular", (True, False): "Bold", (False, True): "Italic",
               (True, True): "BoldItalic"}
_NOTE_GREY = 0.45


class PdfError(Exception):
    """The PDF could not be written (the reason is in the message)."""


@lru_cache(maxsize=None)
def _mono(bold: bool, italic: bool) -> str:
    """The embedded face for characters Courier lacks, registered with ReportLab once."""
    import fontpkg_ibm_plex_mono
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    style = _MONO_FILES[bold, italic]
    name = f"IBMPlexMono-{style}"
    path = Path(fontpkg_ibm_plex_mono.ROOT) / "files" / f"{name}.ttf"
    pdfmetrics.registerFont(TTFont(name, str(path)))
    return name


@lru_cache(maxsize=None)
def _mono_has(char: str) -> bool:
    from reportlab.pdfbase import pdfmetrics

    return ord(char) in pdfmetrics.getFont(_mono(False, False)).face.charToGlyph


@lru_cache(maxsize=None)
def _cid(name: str) -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont(name))
    return name


def _courier_has(char: str) -> bool:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _script(char: str) -> str:
    """Which family sets ``char``: courier, mono (embedded), or an Asian CID font."""
    if _courier_has(char):
        return "courier"
    if _mono_has(char):
        return "mono"
    code = ord(char)
    if 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F or 0xAC00 <= code <= 0xD7AF:
        return "korean"
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF:
        return "japanese"
    if unicodedata.east_asian_width(char) in "WF":
        return "han"
    return "unknown"


# language → (Noto Sans folder in the cjk extra, the standard CID font used without it)
_ASIAN = {"japanese": ("notosansjp", "HeiseiMin-W3"), "chinese": ("notosanssc", "STSong-Light"),
          "korean": ("notosanskr", "HYSMyeongJo-Medium")}


@lru_cache(maxsize=None)
def _asian(language: str) -> str:
    folder, standard = _ASIAN[language]
    try:
        import justmytype_intl_cjk
    except ImportError:
        return _cid(standard)
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for directory in justmytype_intl_cjk.get_font_pack().get_font_directories():
        found = sorted((Path(directory) / "ofl" / folder).glob("*.ttf"))
        if found:
            name = f"Moviola-{folder}"
            pdfmetrics.registerFont(TTFont(name, str(found[0])))
            return name
    return _cid(standard)


def _font(family: str, bold: bool, italic: bool, japanese_line: bool) -> str:
    if family == "courier":
        return _COURIER[bold, italic]
    if family == "mono":
        return _mono(bold, italic)
    if family == "han":
        return _asian("japanese" if japanese_line else "chinese")
    if family == "unknown":
        # No face here holds it (Arabic, Hebrew, emoji…): a standard CID font, which encodes any
        # character by its code, keeps it in the text (searchable, copied out whole) and lets the
        # viewer draw it from a font of its own where it has one.
        return _cid(_ASIAN["chinese"][1])
    return _asian(family)


@lru_cache(maxsize=4096)
def _face_for(char: str, bold: bool, italic: bool, japanese_line: bool) -> str:
    """The font that sets ``char``: by script, then checked to hold it (an embedded Noto face
    lacks emoji, say), else the last resort."""
    from reportlab.pdfbase import pdfmetrics

    family = _script(char)
    font = _font(family, bold, italic, japanese_line)
    face = getattr(pdfmetrics.getFont(font), "face", None)
    if family in ("han", "japanese", "korean") and hasattr(face, "charToGlyph") \
            and ord(char) not in face.charToGlyph:
        font = _font("unknown", bold, italic, japanese_line)
    return font


def _segments(line: Placed, japanese_line: bool):
    """(text, font, underline) pieces of a line, each in one face. A space stays in the face
    of the text around it."""
    for run in line.runs:
        current = ""
        font = None
        for char in run.text:
            face = font if char == " " and font is not None else \
                _face_for(char, run.bold, run.italic, japanese_line)
            if font is not None and face != font:
                yield current, font, run.underline
                current = ""
            current += char
            font = face
        if current:
            yield current, font, run.underline


def write_pdf(document: Document, path: str | Path, *, title: str = "", author: str = "") -> Path:
    """Draw ``document`` into the PDF at ``path`` (written beside it, then moved into place)."""
    from reportlab.pdfgen.canvas import Canvas

    paper = document.paper
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(paper.width, paper.height), pageCompression=1,
                    invariant=1)
    canvas.setTitle(title)
    canvas.setAuthor(author)
    canvas.setCreator("Moviola")
    pages = ([document.title_page] if document.title_page is not None else []) + list(document.pages)
    for page in pages:
        for line in page.lines:
            _draw(canvas, line, paper.height)
        canvas.showPage()
    canvas.save()
    try:
        return write_file(path, buffer.getvalue(), overwrite=True, parents=False)
    except OSError as error:
        raise PdfError(f"cannot write {path}: {error.strerror or error}") from None


def _draw(canvas, line: Placed, page_height: float) -> None:
    baseline = page_height - TOP_MARGIN - (line.row + 1) * LINE_HEIGHT + 3.0
    grey = line.kind == "note"
    if grey:
        canvas.setFillGray(_NOTE_GREY)
    draw_runs(canvas, LEFT_MARGIN + line.column * CELL_WIDTH, baseline, line.runs)
    if grey:
        canvas.setFillGray(0)


def draw_runs(canvas, x: float, baseline: float, runs, size: float = FONT_SIZE) -> float:
    """Draw styled ``runs`` on one line from ``x``, a monospaced cell (0.6 em) a character and
    two for a wide one, each character in a face that holds it. Returns the x after them."""
    line = Placed(0, 0, tuple(runs), "")
    japanese = any(_script(c) == "japanese" for c in line.text)
    cell = size * CELL_WIDTH / FONT_SIZE
    for text, font, underline in _segments(line, japanese):
        width = cells(text) * cell
        drawn = canvas.stringWidth(text, font, size)
        label = canvas.beginText(x, baseline)
        label.setFont(font, size)
        if drawn and abs(drawn - width) > 0.01:      # keep the grid: squeeze or widen to the cells
            label.setHorizScale(100.0 * width / drawn)
        label.textOut(text)
        canvas.drawText(label)
        if underline:
            canvas.setLineWidth(0.6)
            canvas.line(x, baseline - 1.5, x + width, baseline - 1.5)
        x += width
    return x
