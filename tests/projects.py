"""Project folders the build tests start from."""

from __future__ import annotations

import shutil
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def annotated_project(folder: Path) -> Path:
    """A new project folder holding tests/golden/annotated.fountain as film.fountain, with the
    assets it names."""
    folder = Path(folder)
    folder.mkdir()
    shutil.copy(GOLDEN / "annotated.fountain", folder / "film.fountain")
    shutil.copytree(GOLDEN / "assets", folder / "assets")
    return folder
