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


# moviola.toml: a profile "tiny" whose keyframes the tiny text-to-image model at models/sd
# draws (tiny_models.build_text_to_image), on the CPU; a test's own tables follow it
TINY_KEYFRAMES_TOML = """\
[profiles.tiny]
device = "cpu"
[profiles.tiny.keyframe]
backend = "diffusers.text_to_image"
model = "models/sd"
dtype = "float32"
steps = 2
resolution = "64x48"
"""
