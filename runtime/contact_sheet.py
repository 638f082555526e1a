"""The storyboard contact sheet: every shot's keyframe, numbered, with its size and timing, on one
PNG.

Fast on a feature's 2,000 shots: every keyframe job writes the keyframe's thumbnail beside it
(``save_keyframe``), so the sheet decodes 256×144 pictures, not 2,000 full frames. An entry
rendered before keyframes had thumbnails is shrunk here the same way (same pixels): decoded once,
reduced at once by an integer box reduction (no full-size copy), on a few threads (Pillow
releases the GIL while it inflates a PNG). The sheet is written with light compression."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

THUMB = (256, 144)
COLUMNS = 6


@dataclass(frozen=True, slots=True)
class SheetShot:
    image: Path                 # the keyframe
    thumbnail: Path | None      # its thumbnail (``save_keyframe``), None in older entries
    label: str                  # "3.2"
    size: str                   # "wide"
    start: float                # seconds from the film's start
    seconds: float


def fit(image, box: tuple[int, int] = THUMB):
    """``image`` fitted into ``box``: reduced by the largest integer factor that keeps it at least
    the box's size, then resampled to fit."""
    factor = max(min(image.width // box[0], image.height // box[1]), 1)
    small = image.reduce(factor) if factor > 1 else image.copy()
    small = small.convert("RGB")
    small.thumbnail(box)
    return small


def save_keyframe(task, image) -> None:
    """Write a keyframe job's ``keyframe`` artifact and its ``thumbnail`` (what the sheet draws):
    every keyframe backend saves its frame through this."""
    image.save(task.output("keyframe"), format="PNG", compress_level=1)
    fit(image).save(task.output("thumbnail"), format="PNG", compress_level=1)


def thumbnail(shot: SheetShot):
    """The shot's picture for the sheet: its thumbnail, or its keyframe fitted (the same pixels;
    fitting a thumbnail changes nothing)."""
    from PIL import Image

    with Image.open(shot.thumbnail or shot.image) as image:
        image.load()
        return fit(image)


def contact_sheet(path: Path, title: str, shots: list[SheetShot], columns: int = COLUMNS,
                  threads: int = 4) -> None:
    """A PNG of every shot's keyframe with its number, size and timing."""
    from PIL import Image, ImageDraw, ImageFont

    thumb_w, thumb_h = THUMB
    pad, caption = 12, 34
    rows = max((len(shots) + columns - 1) // columns, 1)
    header = 56
    sheet = Image.new("RGB", (pad + columns * (thumb_w + pad), header + rows * (thumb_h + caption + pad)),
                      (24, 24, 28))
    draw = ImageDraw.Draw(sheet)
    big = ImageFont.load_default(size=26)
    small = ImageFont.load_default(size=13)
    draw.text((pad, 14), title or "Storyboard", fill=(240, 240, 240), font=big)
    with ThreadPoolExecutor(threads) as pool:
        for index, (shot, image) in enumerate(zip(shots, pool.map(thumbnail, shots))):
            row, column = divmod(index, columns)
            x = pad + column * (thumb_w + pad)
            y = header + row * (thumb_h + caption + pad)
            sheet.paste(image, (x + (thumb_w - image.width) // 2, y + (thumb_h - image.height) // 2))
            draw.text((x, y + thumb_h + 3), f"{shot.label}  {shot.size}", fill=(235, 235, 235), font=small)
            draw.text((x, y + thumb_h + 18), f"{_short_clock(shot.start)} - "
                      f"{_short_clock(shot.start + shot.seconds)}  ({shot.seconds:.1f}s)",
                      fill=(170, 170, 180), font=small)
    temporary = path.with_name(f".{path.name}.tmp")
    sheet.save(temporary, format="PNG", compress_level=1)
    temporary.replace(path)


def _short_clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"
