"""Diagnostics as data: a stable code, a severity, a message, a primary span with a label,
related spans, a help line and an optional suggested edit.

Renderers (human, concise, JSON) live in the CLI; the language server converts the same objects.
The :data:`CODES` registry is the user documentation (``moviola check --explain CODE`` and
``docs/diagnostics.md`` are generated from it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .source import Span


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: str
    name: str
    severity: Severity
    summary: str
    explanation: str


def _code(code: str, name: str, severity: Severity, summary: str, explanation: str) -> CodeInfo:
    return CodeInfo(code, name, severity, summary, explanation.strip())


E, W = Severity.ERROR, Severity.WARNING

CODES: dict[str, CodeInfo] = {
    info.code: info
    for info in [
        _code("E101", "unterminated-note", E, "a note `[[` has no closing `]]`",
              """
A note opens with `[[` and closes with `]]`. It may run over several lines, but a
completely empty line ends it (put two spaces on a line to keep a blank line inside a note).

    [[shot: wide, slow push in
    6s]]            <- fine: one note over two lines
"""),
        _code("E102", "unterminated-boneyard", E, "a boneyard `/*` has no closing `*/`",
              """
Text between `/*` and `*/` is boneyard: kept in the file, left out of the film. An opening
`/*` without a closing `*/` would hide the rest of the script, so Moviola reports it.
"""),
        _code("E103", "malformed-annotation", E, "an annotation does not follow the annotation syntax",
              """
Annotations are notes that start with a declaration keyword (`location`, `character`, `theme`)
or a directive (`shot:`, `music:`, `sfx:`, `voice:`). Their body is a list of clauses separated
by `;`, each either free text or a `key: value` property.

    [[character MARIE: a woman in her seventies; voice: voices/marie.wav]]
"""),
        _code("E201", "unknown-directive", E, "a note starts like a directive but names none Moviola knows",
              """
A note whose text begins with a lower-case word and a colon (`[[shot: ...]]`) is read as a
directive. Known directives: `shot`, `music`, `sfx`, `voice`. To keep a plain note, start it with
a capital letter (`[[Todo: ...]]`) or no colon.
"""),
        _code("E202", "unknown-property", E, "a `key: value` property the annotation does not take",
              """
Each declaration and directive takes a fixed set of properties; see docs/language.md.

    [[location WASH-HOUSE: stone basins; refs: refs/lavoir/]]   (refs, lora, model)
"""),
        _code("E203", "undeclared-theme", E, "`music:` names a theme that is not declared",
              """
`[[music: RIVER]]` starts the music cue of the theme RIVER, declared with
`[[theme RIVER: sparse piano and cello, 70 bpm]]`.
"""),
        _code("E204", "duplicate-declaration", E, "a name is declared twice",
              """
Each location, character and theme is declared once; the second declaration would silently
override the first.
"""),
        _code("E205", "unknown-term", E, "a word in a directive is not a known shot size, move or option",
              """
`shot:` takes a size (wide, medium, close-up…), a camera move (static, push in, pull out, pan
left…), a duration (`6s`) and properties. `music:` takes a theme name or `stop`, and fades
(`fade in 3s`, `fade out 4s`). See docs/language.md for every term.
"""),
        _code("E206", "missing-value", E, "a directive lacks a value it needs",
              """
`music:` needs a theme name or `stop`; `sfx:` needs a description of the sound.
"""),
        _code("E207", "bad-value", E, "a property value has the wrong form",
              """
`seed:` takes a whole number, `volume:` a percentage (`80%`, 0% to 200%), `tempo:` beats per
minute (`70 bpm`, 20 to 300).
"""),
        _code("E208", "unknown-training-option", E, "`train:` names a method or option Moviola does not know",
              """
`train:` takes the method (`lora`), then options, each a name and a number:

    [[location WASH-HOUSE: stone basins; refs: refs/lavoir/; train: lora, rank 16, 800 steps]]

Options: `rank N`, `N steps`, `learning rate X` (or `lr X`), `resolution N`, `seed N`;
what is not given takes the trainer's defaults (docs/training.md).
"""),
        _code("E209", "train-without-refs", E, "`train:` on a declaration that has no `refs:`",
              """
A trained asset learns from its pictures, the declaration's `refs:` (folders or files inside
the project; a `photo.txt` beside `photo.jpg` is its caption).

    [[character ANA: a woman in her seventies; refs: refs/ana/; train: lora]]
"""),
        _code("E210", "cannot-continue", E, "a shot written `continues` has no filmed shot to continue",
              """
`continues` makes a matching cut: the shot's picture starts from the last frame of the shot
before it in the same scene. The first shot of a scene has none, a title card is typeset
rather than filmed (it can neither continue nor be continued), and a shot `from:` a picture
or a video already has its first frame.

    [[shot: wide]]
    Ana lifts the sheet.
    [[shot: close-up, continues]]     <- starts where the wide shot ends
"""),
        _code("E301", "bad-duration", E, "a duration is not a positive number of seconds",
              """
Durations are written in seconds (`6s`, `2.5s`, `6 sec`) or as minutes and seconds (`1:30`).
They must be greater than zero and at most 10 minutes.
"""),
        _code("E302", "bad-resolution", E, "the title page Resolution is not WIDTHxHEIGHT",
              """
`Resolution: 1280x720`. Both sides must be even (H.264 with 4:2:0 chroma needs it), between
64 and 7680.
"""),
        _code("E303", "bad-fps", E, "the title page FPS is not a frame rate",
              """
`FPS: 24` (also 23.976, 25, 30, …): a number between 1 and 120.
"""),
        _code("E304", "bad-setting", E, "a title-page setting has a value Moviola cannot use",
              """
`Seed:` is a whole number, `Profile:` one of draft, laptop, preview, final (or a profile
of the project's moviola.toml), and `Language:` a
language tag such as `en` or `fr-FR`.
"""),
        _code("E401", "missing-file", E, "a referenced file or folder does not exist",
              """
Paths in `refs:`, `voice:`, `from:` and `lora:` are relative to the folder that holds the
script (the project folder).
"""),
        _code("E402", "path-escapes-project", E, "a path points outside the project folder",
              """
A script only reads files inside its project folder (the folder that holds it), so a film can be
shared and built anywhere. Absolute paths, `..` that leaves the folder, and symbolic links
pointing outside are refused, and never read.
"""),
        _code("E403", "wrong-file-kind", E, "a file is not of the kind the property takes",
              """
`from:` takes an image (png, jpg, webp) or a video (mp4, mov, webm, mkv); `voice:` a
recording (wav, flac, mp3, ogg); `lora:` a `.safetensors` file or a folder holding one.
"""),
        _code("W501", "unused-character", W, "a declared character never speaks or appears",
              """
The character is declared but no cue names it and no action mentions it.
"""),
        _code("W502", "unused-location", W, "a declared location has no scene",
              """
No scene heading binds to the location. Headings bind by their place text:
`EXT. WASH-HOUSE - DAWN` binds to the location `WASH-HOUSE`.
"""),
        _code("W503", "unused-theme", W, "a declared theme is never started with `music:`",
              """
Declare music themes that the film plays; `[[music: NAME]]` starts one.
"""),
        _code("W504", "undeclared-location", W, "a scene heading binds to no declared location",
              """
Reported only when the script declares locations: the scene will be drawn from its heading alone.
"""),
        _code("W505", "undeclared-character", W, "a cue names a character that is not declared",
              """
Reported only when the script declares characters: the character gets a default voice and no
description.
"""),
        _code("W506", "not-utf8", W, "the script is not valid UTF-8",
              """
Fountain files are UTF-8. Bytes that are not were replaced with U+FFFD so the rest of the
script could still be read; re-save the file as UTF-8.
"""),
        # Datasets: `moviola dataset` reads the images a declaration's `refs:` names.
        _code("E701", "dataset-too-small", E, "a location or character has too few usable images to train on",
              """
A model learns a place or a person from several distinct photos: other angles, distances and
light. Unreadable images and near-duplicates do not count. `moviola dataset` needs 5 by
default (`--min-images N`).

    [[location WASH-HOUSE: stone basins; refs: refs/lavoir/]]   (a folder of photos)
"""),
        _code("E702", "unreadable-image", E, "a dataset file is not an image",
              """
The file's bytes are not png, jpeg or webp, whatever its extension says (a renamed document,
an HTML page saved as .jpg, a .heic renamed to .jpg). Export it again or remove it.
"""),
        _code("E703", "damaged-image", E, "a dataset image is truncated or corrupt",
              """
The image starts like a picture but cannot be decoded to the end: an interrupted copy or
download. Copy it again from the camera or remove it.
"""),
        _code("W704", "near-duplicate-image", W, "two dataset images are the same photo",
              """
The two images look the same at thumbnail size (a difference hash of 64 bits, at most 6 apart),
for example one photo saved twice at another size or quality. Repeats teach the model that
one picture rather than the place or person; keep one of them.
"""),
        _code("W705", "image-too-small", W, "a dataset image is smaller than the training resolution",
              """
An image whose short side is below the training resolution (512 by default,
`moviola dataset --resolution N`) is scaled up to train, and the model learns its blur. Use
the original photo rather than a thumbnail or a screenshot.
"""),
        _code("W706", "exif-rotated-image", W, "a dataset image is stored rotated (EXIF orientation)",
              """
Phones often store a photo sideways with an EXIF tag saying how to turn it. Moviola applies the
tag when it reads the image; tools that ignore it would train on a sideways picture. Save the
photo upright to be sure.
"""),
        _code("W707", "missing-caption", W, "a dataset image has no caption",
              """
Each photo may have a caption in a text file of the same name beside it (`basin.jpg` and
`basin.txt`, the DreamBooth convention) saying what it shows. Without one, the declaration's
description is the caption.
"""),
        _code("W708", "ignored-dataset-file", W, "a file in a dataset folder is not an image Moviola reads",
              """
Dataset folders hold png, jpg, jpeg or webp images and their `.txt` captions. Other files (a
.heic photo, a video, a caption whose photo is gone) are left out of the dataset; convert them
or move them out of the folder.
"""),
    ]
}


@dataclass(frozen=True, slots=True)
class Related:
    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Edit:
    """A suggested replacement of the text under ``span``."""

    span: Span
    replacement: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    label: str = ""
    help: str = ""
    related: tuple[Related, ...] = ()
    fix: Edit | None = None
    severity: Severity = field(default=Severity.ERROR)

    @classmethod
    def make(cls, code: str, message: str, span: Span, **extra) -> "Diagnostic":
        return cls(code, message, span, severity=CODES[code].severity, **extra)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_json(self, path: str) -> dict:
        out = {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": path,
            "span": self.span.to_json(),
        }
        if self.label:
            out["label"] = self.label
        if self.help:
            out["help"] = self.help
        if self.related:
            out["related"] = [{"span": r.span.to_json(), "message": r.message} for r in self.related]
        if self.fix:
            out["fix"] = {"span": self.fix.span.to_json(), "replacement": self.fix.replacement}
        return out


def in_source_order(diagnostics) -> list[Diagnostic]:
    """Diagnostics sorted as every renderer shows them: by position, then code."""
    return sorted(diagnostics, key=lambda d: (d.span.line, d.span.col, d.code))


def closest(word: str, candidates, cutoff: float = 0.6) -> str | None:
    """The candidate most like ``word`` (case-insensitive), for "did you mean" help."""
    import difflib

    by_folded = {c.casefold(): c for c in candidates}
    match = difflib.get_close_matches(word.casefold(), list(by_folded), n=1, cutoff=cutoff)
    return by_folded[match[0]] if match else None


def markdown() -> str:
    """docs/diagnostics.md, generated from :data:`CODES` (a test keeps the file in sync)."""
    out = ["# Diagnostics", "",
           "Every problem `moviola check` reports has a stable code. Errors (E) stop a build;",
           "warnings (W) do not. `moviola check --explain CODE` prints one entry.",
           "This page is generated from `compiler/diagnostics.py`.", ""]
    for info in CODES.values():
        out += [f"## {info.code} `{info.name}` ({info.severity.value})", "", info.summary[0].upper()
                + info.summary[1:] + ".", "", info.explanation, ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(), end="")
