"""Image datasets of locations and characters, checked before any GPU time (`moviola dataset`).

A dataset is the images a declaration's ``refs:`` names (files, or folders of them), each with an
optional caption in a sidecar ``photo.txt`` beside ``photo.jpg`` (the DreamBooth convention).
:func:`check_film` reads every image once and returns, per dataset, the project's diagnostics
(codes E701–W708 in ``compiler/diagnostics.py``) and a summary of each image; it writes nothing.

Near-duplicates are found with a 64-bit difference hash (dHash: the sign of the horizontal
gradient of a 9×8 grey thumbnail), which survives resizing and recompression; two images whose
hashes differ in at most :data:`DUPLICATE_BITS` bits are reported as one photo twice.

:func:`open_image` is the one way to read a dataset image: it applies the EXIF orientation, so
a photo a phone stored sideways is trained on upright.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from moviola.compiler import ir, paths
from moviola.compiler.diagnostics import Diagnostic
from moviola.compiler.vocabulary import IMAGE_EXTENSIONS

__all__ = ["DatasetReport", "ImageFacts", "check_film", "check_dataset", "datasets", "open_image",
           "MIN_IMAGES", "RESOLUTION", "DUPLICATE_BITS"]

MIN_IMAGES = 5          # fewer distinct photos than this do not teach a model a place or a face
RESOLUTION = 512        # the training resolution: an image's short side should reach it
DUPLICATE_BITS = 6      # dHash distance (of 64 bits) up to which two images are one photo
_EXIF_ORIENTATION = 0x0112
_CAPTION = ".txt"
_IMAGE_SUFFIXES = IMAGE_EXTENSIONS + tuple(e.upper() for e in IMAGE_EXTENSIONS)
_NOT_READ = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """One file of a dataset, as a trainer would see it."""

    path: str                           # relative to the project
    size: tuple[int, int] | None        # (width, height) upright; None when unreadable
    orientation: int = 1                # EXIF orientation (1: stored upright)
    caption: str | None = None          # the sidecar caption's text, None without one
    duplicate_of: str | None = None     # the earlier image this one nearly repeats
    problems: tuple[str, ...] = ()      # the codes of its diagnostics, errors first


@dataclass(frozen=True, slots=True)
class DatasetReport:
    kind: str                           # "location" or "character"
    name: str
    sources: tuple[str, ...]            # the refs: paths, as resolved
    images: tuple[ImageFacts, ...]
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @property
    def usable(self) -> int:
        """Readable images that are not near-duplicates of another."""
        return sum(1 for image in self.images if image.size is not None and image.duplicate_of is None)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)


def datasets(film: ir.Film) -> list[tuple[str, ir.Location | ir.Character]]:
    """The declarations that name images, in script order: (kind, declaration)."""
    found = [("location", d) for d in film.locations if d.refs]
    found += [("character", d) for d in film.characters if d.refs]
    return sorted(found, key=lambda item: (item[1].span.line, item[1].span.col))


def check_film(film: ir.Film, project: Path, name: str | None = None, *,
               resolution: int = RESOLUTION, min_images: int = MIN_IMAGES,
               progress: Callable[[str], None] | None = None) -> list[DatasetReport]:
    """Check every dataset of the film, or only the declaration called ``name``.

    A ``name`` that is declared without ``refs:`` gives a report with one E701 (no images);
    a name that is not declared raises KeyError (the caller lists the declared ones).
    """
    if name is None:
        chosen = datasets(film)
    else:
        declaration = film.location(name) or film.character(name)
        if declaration is None:
            raise KeyError(name)
        chosen = [("location" if isinstance(declaration, ir.Location) else "character", declaration)]
    return [check_dataset(kind, declaration, project, resolution=resolution,
                          min_images=min_images, progress=progress)
            for kind, declaration in chosen]


def check_dataset(kind: str, declaration: ir.Location | ir.Character, project: Path, *,
                  resolution: int = RESOLUTION, min_images: int = MIN_IMAGES,
                  progress: Callable[[str], None] | None = None) -> DatasetReport:
    """Read each image of one declaration's ``refs:`` and report what would spoil training."""
    return check_refs(kind, declaration.name, declaration.refs, declaration.name_span, project,
                      resolution=resolution, min_images=min_images, progress=progress)


def check_refs(kind: str, name: str, refs: Sequence[ir.ProjectPath], name_span, project: Path, *,
               resolution: int = RESOLUTION, min_images: int = MIN_IMAGES,
               progress: Callable[[str], None] | None = None) -> DatasetReport:
    """:func:`check_dataset` of the ``refs`` of the asset ``name`` (a train job's dataset)."""
    found: list[Diagnostic] = []
    images: list[ImageFacts] = []
    hashes: list[tuple[int, str]] = []
    for ref in refs:
        for relative, problem in _files(project, ref):
            if progress is not None:
                progress(relative)
            if problem is not None:
                found.append(problem)
                if problem.code != "W708":        # not an image: not in the dataset either
                    images.append(ImageFacts(relative, None, problems=(problem.code,)))
                continue
            facts, diagnostics, digest = _check_image(project, relative, ref.span, resolution)
            if digest is not None:
                twin = next((other for value, other in hashes
                             if bin(value ^ digest).count("1") <= DUPLICATE_BITS), None)
                if twin is None:
                    hashes.append((digest, relative))
                else:
                    facts = replace(facts, duplicate_of=twin)
                    diagnostics.append(Diagnostic.make(
                        "W704", f"{relative} is a near-duplicate of {twin}", ref.span,
                        label="the same photo twice",
                        help="keep one of them: repeats teach the model that one picture, not the "
                             "place or person"))
            found += diagnostics
            images.append(replace(facts, problems=_codes(diagnostics)))
    report = DatasetReport(kind, name, tuple(r.path for r in refs), tuple(images))
    if report.usable < min_images:
        span = refs[0].span if refs else name_span
        left_out = len(images) - report.usable
        detail = f" ({len(images)} files, {left_out} unreadable or repeated)" if left_out else ""
        message = (f"{kind} {name} has no images: it declares no refs:"
                   if not refs else
                   f"{kind} {name} has {report.usable} usable image"
                   f"{'s' * (report.usable != 1)}{detail}; training needs at least {min_images}")
        found.append(Diagnostic.make(
            "E701", message, span, label="too few images",
            help=f"add distinct photos (other angles, distances, light) until there are "
                 f"{min_images} or more"))
    found.sort(key=lambda d: (d.span.line, d.span.col))   # stable: file order within one refs:
    return replace(report, diagnostics=tuple(found))


def open_image(path: Path) -> Image.Image:
    """A dataset image, fully decoded, upright (EXIF orientation applied), in RGB."""
    with Image.open(path) as image:
        image.load()
        return ImageOps.exif_transpose(image).convert("RGB")


def dhash(image: Image.Image) -> int:
    """64-bit difference hash: one bit per neighbouring pair of a 9×8 grey thumbnail."""
    grey = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)
    bits = grey[:, 1:] > grey[:, :-1]
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


# --- one file ---------------------------------------------------------------------------------

def _files(project: Path, ref: ir.ProjectPath) -> Iterable[tuple[str, Diagnostic | None]]:
    """The image files of one refs: entry (a file, or a folder's files, sorted), each with the
    diagnostic that keeps it from being read: outside the project (E402), not an image (W708)."""
    where = paths.resolve(project, ref.path)
    if where.problem is not None:
        yield ref.path, _unreachable(ref.path, where.problem, ref.span)
        return
    if not where.is_dir:
        yield ref.path, None
        return
    root = project.resolve()
    for entry in sorted((root / where.path).rglob("*")):
        if entry.name.startswith(".") or not (entry.is_file() or entry.is_symlink()):
            continue
        relative = entry.relative_to(root).as_posix()
        suffix = entry.suffix.lower()
        if suffix == _CAPTION and any(entry.with_suffix(ext).exists() for ext in _IMAGE_SUFFIXES):
            continue                                    # a caption, read with its image
        problem = paths.resolve(project, relative).problem
        if problem is not None:                         # a link out of the project, or dangling
            yield relative, _unreachable(relative, problem, ref.span)
        elif suffix in IMAGE_EXTENSIONS:
            yield relative, None
        else:
            yield relative, Diagnostic.make(
                "W708", f"{relative} is not an image Moviola reads; it is left out", ref.span,
                label="not in the dataset",
                help="convert it to png, jpg or webp (photos from phones are often .heic), "
                     "or move it out of the folder")


def _unreachable(relative: str, problem: str, span) -> Diagnostic:
    if problem == "escapes":
        return Diagnostic.make("E402", f"{relative} points outside the project folder", span,
                               label="not read",
                               help="copy the photo into the project instead of linking to it")
    return Diagnostic.make("E401", f"file not found: {relative}", span,
                           label="no such file in the project folder",
                           help="a link whose photo was moved or deleted; copy the photo in")


def _check_image(project: Path, relative: str, span, resolution: int
                 ) -> tuple[ImageFacts, list[Diagnostic], int | None]:
    path = project / relative
    found: list[Diagnostic] = []
    caption = _caption(path)
    try:
        with Image.open(path) as image:
            image.verify()              # structure and checksums, without decoding
    except UnidentifiedImageError:
        found.append(Diagnostic.make(
            "E702", f"{relative} is not an image", span, label="unreadable",
            help="the file's bytes are not png, jpeg or webp, whatever its extension says; "
                 "export it again or remove it"))
        return ImageFacts(relative, None, caption=caption), found, None
    except _NOT_READ as error:
        found.append(_damaged(relative, span, error))
        return ImageFacts(relative, None, caption=caption), found, None
    try:
        with Image.open(path) as image:
            image.load()                # the whole picture: a truncated file fails here
            orientation = int(image.getexif().get(_EXIF_ORIENTATION, 1) or 1)
            upright = ImageOps.exif_transpose(image)
            size = upright.size
            digest = dhash(upright)
    except _NOT_READ as error:
        found.append(_damaged(relative, span, error))
        return ImageFacts(relative, None, caption=caption), found, None
    if min(size) < resolution:
        found.append(Diagnostic.make(
            "W705", f"{relative} is {size[0]}×{size[1]}: its short side is below the training "
                    f"resolution {resolution}", span, label="too small",
            help="use the original photo rather than a thumbnail; upscaled pixels teach blur"))
    if orientation != 1:
        found.append(Diagnostic.make(
            "W706", f"{relative} is stored rotated (EXIF orientation {orientation})", span,
            label="turned upright when read",
            help="Moviola trains on it upright; other tools may not: save it upright to be sure"))
    if caption is None or not caption.strip():
        sidecar = Path(relative).with_suffix(_CAPTION).as_posix()
        found.append(Diagnostic.make(
            "W707", f"{relative} has no caption" + (" (its caption file is empty)" if caption is not None else ""),
            span, label="captioned from the declaration",
            help=f"write what the photo shows in {sidecar}; without it the declaration's "
                 f"description is its caption"))
    return ImageFacts(relative, size, orientation, caption), found, digest


def _damaged(relative: str, span, error: Exception) -> Diagnostic:
    text = str(error).split("\n")[0]
    reason = "truncated" if "truncated" in text.lower() else (text or type(error).__name__)
    return Diagnostic.make("E703", f"{relative} is damaged: {reason}", span,
                           label="cannot be decoded",
                           help="the file is truncated or corrupt (an interrupted copy or "
                                "download?); copy it again from the camera or remove it")


def _caption(image: Path) -> str | None:
    sidecar = image.with_suffix(_CAPTION)
    try:
        return sidecar.read_text("utf-8", errors="replace") if sidecar.is_file() else None
    except OSError:
        return None


def _codes(diagnostics: list[Diagnostic]) -> tuple[str, ...]:
    return tuple(d.code for d in sorted(diagnostics, key=lambda d: (not d.is_error, d.code)))
