"""A training set: the images of an asset's ``refs:``, their captions and their buckets.

- Images are the files with a picture suffix in the folders (and files) the declaration names,
  inside the project (``compiler.paths.list_files`` refuses links out of it).
- A caption is the sidecar text file of the same stem (``photo.jpg`` → ``photo.txt``, the
  DreamBooth convention), else the declaration's description. Either way it starts with the
  asset's *trigger phrase* (``compiler.prompts.trigger_phrase``: its name, lower case, and a
  class word: ``wash-house place``, ``ana person``), unless the sidecar already contains it: the phrase is what binds the
  trained weights to the asset in prompts.
- Aspect-ratio buckets: sizes of about ``resolution²`` pixels, multiples of the model's size
  step, from 1:2 to 2:1; each image goes to the bucket closest to its aspect ratio and is
  cover-resized (scaled and centre-cropped) to it, so nothing is squashed and a batch holds
  one size.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from moviola.compiler import paths

from moviola.compiler.vocabulary import IMAGE_EXTENSIONS



class DatasetError(Exception):
    """No images, an unreadable image, a path outside the project: what to fix, in one line."""


@dataclass(frozen=True)
class Example:
    path: str            # POSIX, relative to the project
    caption: str         # what the text encoder sees, trigger phrase included
    size: tuple[int, int]   # the image's own size (after EXIF rotation)


def load_examples(project: Path, refs: list[str], trigger: str, description: str = "") -> list[Example]:
    """The examples of ``refs`` (project-relative files or folders), sorted by path."""
    project = Path(project)
    files: list[str] = []
    for ref in refs:
        resolution = paths.resolve(project, ref)
        if resolution.problem == "escapes":
            raise DatasetError(f"{ref}: the path leads outside the project folder")
        if resolution.problem == "missing" or resolution.path is None:
            raise DatasetError(f"{ref}: no such file or folder in the project")
        if resolution.is_dir:
            files += paths.list_files(project, resolution.path, IMAGE_EXTENSIONS)
        elif Path(resolution.path).suffix.lower() in IMAGE_EXTENSIONS:
            files.append(resolution.path)
        else:
            raise DatasetError(f"{ref}: not an image ({', '.join(IMAGE_EXTENSIONS)})")
    if not files:
        raise DatasetError(f"no images in {', '.join(refs) or 'the dataset'}: a LoRA needs "
                           f"pictures of the asset (a few to a few dozen)")
    examples = []
    for file in sorted(set(files)):
        sidecar = project / Path(file).with_suffix(".txt")
        text = sidecar.read_text("utf-8").strip() if sidecar.is_file() else ""
        caption = text or description.strip()
        if trigger.lower() not in caption.lower():
            caption = f"{trigger}, {caption}" if caption else trigger
        with open_image(project / file) as image:
            size = image.size
        examples.append(Example(file, caption, size))
    return examples


def open_image(path: Path):
    """The image upright (EXIF orientation applied), in RGB; DatasetError if unreadable."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise DatasetError(f"{path.name}: not a readable image ({error})") from None


def fingerprint(project: Path, examples: list[Example]) -> str:
    """sha256 over every example's path, bytes and caption: what the trained weights learn from."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(example.path.encode() + b"\0" + example.caption.encode() + b"\0")
        digest.update(hashlib.sha256((Path(project) / example.path).read_bytes()).digest())
    return digest.hexdigest()


def buckets(resolution: int, multiple: int) -> list[tuple[int, int]]:
    """(width, height) sizes of about ``resolution²`` pixels, multiples of ``multiple``, aspect
    ratios from 1:2 to 2:1."""
    area = resolution * resolution
    found = set()
    for step in range(-4, 5):
        aspect = 2.0 ** (step / 4)
        width = max(multiple, round(math.sqrt(area * aspect) / multiple) * multiple)
        height = max(multiple, round(math.sqrt(area / aspect) / multiple) * multiple)
        found.add((width, height))
    return sorted(found)


def bucket_for(size: tuple[int, int], choices: list[tuple[int, int]]) -> tuple[int, int]:
    """The bucket whose aspect ratio is closest to ``size``'s (in log ratio)."""
    aspect = math.log(size[0] / size[1])
    return min(choices, key=lambda c: (abs(math.log(c[0] / c[1]) - aspect), c))
