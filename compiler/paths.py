"""Paths a script names (refs:, voice:, from:, lora:) resolve inside its project folder, the
folder that holds the script. Nothing outside it is ever opened: a path that is absolute or
climbs out (with ``..`` or through a symbolic link) is refused before any file is read."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from .vocabulary import IMAGE_EXTENSIONS


@dataclass(frozen=True, slots=True)
class Resolution:
    path: str | None        # POSIX path relative to the project, if allowed
    problem: str | None     # "escapes", "missing" or None
    is_dir: bool = False


def resolve(project: Path | None, written: str) -> Resolution:
    text = written.strip().replace("\\", "/")
    if not text:
        return Resolution(None, "missing")
    if text.startswith(("/", "~")) or (len(text) > 1 and text[1] == ":"):
        return Resolution(None, "escapes")
    normal = posixpath.normpath(text)
    if normal == ".." or normal.startswith("../"):
        return Resolution(None, "escapes")
    if project is None:
        return Resolution(normal, None)      # no folder to look in (an unsaved editor buffer)
    root = project.resolve()
    target = root / normal
    try:
        real = Path(os.path.realpath(target))
    except (OSError, ValueError):
        return Resolution(None, "missing")
    if real != root and root not in real.parents:
        return Resolution(None, "escapes")
    if not real.exists():
        return Resolution(normal, "missing")
    return Resolution(normal, None, real.is_dir())


def list_files(project: Path, relative: str, extensions: tuple[str, ...]) -> list[str]:
    """Files with one of ``extensions`` in a project folder (not following links out)."""
    root = project.resolve()
    folder = root / relative
    found = []
    for entry in sorted(folder.rglob("*")):
        real = Path(os.path.realpath(entry))
        if entry.is_file() and entry.suffix.lower() in extensions and root in real.parents:
            found.append(entry.relative_to(root).as_posix())
    return found


# The pictures a LoRA trains on (runtime/training/dataset.py reads the same list).


def dataset_files(project: Path | None, refs: list[str]) -> tuple[str, ...]:
    """Every training picture in ``refs`` (resolved project-relative files or folders) and the
    caption sidecar beside each (``photo.jpg`` → ``photo.txt``) that exists: what a trained
    LoRA's content key covers. Empty without a project folder."""
    if project is None:
        return ()
    found: set[str] = set()
    for ref in refs:
        if (project / ref).is_dir():
            pictures = list_files(project, ref, IMAGE_EXTENSIONS)
        else:
            pictures = [ref] if ref.lower().endswith(IMAGE_EXTENSIONS) else []
        for picture in pictures:
            found.add(picture)
            sidecar = posixpath.splitext(picture)[0] + ".txt"
            if (project / sidecar).is_file():
                found.add(sidecar)
    return tuple(sorted(found))
