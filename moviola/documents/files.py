"""Writing a document file: whole or not at all, and never over a file the user did not offer."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputExists(FileExistsError):
    """The output file exists and overwriting it was not asked for."""


def write_file(path: str | Path, data: bytes, overwrite: bool = False, parents: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (a temporary file beside it, then one rename), so an
    interrupted write or a full disk leaves the old file or none, never half of one. Without
    ``overwrite`` an existing file is refused, including one that appears while writing. Without
    ``parents`` a missing folder is an error (FileNotFoundError) rather than made."""
    target = Path(path)
    if target.is_dir():
        raise OutputExists(f"{target} is a folder")
    if not overwrite and target.exists():
        raise OutputExists(f"{target} exists (pass --force to overwrite it)")
    if parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                             dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        if overwrite:
            os.replace(temporary, target)
        else:
            try:
                os.link(temporary, target)      # fails if the file appeared meanwhile
            except FileExistsError:
                raise OutputExists(f"{target} exists (pass --force to overwrite it)") from None
            except OSError:                     # a file system without hard links
                if target.exists():
                    raise OutputExists(f"{target} exists (pass --force to overwrite it)") from None
                os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target
