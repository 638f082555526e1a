"""The storyboard contact sheet: every shot's keyframe, numbered, with its size and timing, on one
PNG.

Fast on a feature's 2,000 shots: every keyframe job writes the keyframe's thumbnail beside it
(``save_keyframe``), so the sheet decodes 256×144 pictures, not 2,000 full frames. An entry
rendered before keyframes had thumbnails is shrunk here the same way (same pixels): decoded once,
reduced at once by an integer box reduction (no full-size copy), on a few threads (Pillow
releases the GIL while it inflates a PNG). The sheet is drawn and written one row of shots at a
time, so its memory is the same whatever the film's length."""

from __future__ import annotations

import struct
import zlib
from collections import deque
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
    """A PNG of every shot's keyframe with its number, size and timing. Drawn and written one row
    of shots at a time, with a few thumbnails decoded ahead: a feature's sheet (2,000 shots,
    60,000 pixels tall, 300 MB as one picture) is never whole in memory."""
    from PIL import Image, ImageDraw, ImageFont

    thumb_w, thumb_h = THUMB
    pad, caption, header = 12, 34, 56
    row_height = thumb_h + caption + pad
    rows = max((len(shots) + columns - 1) // columns, 1)
    width = pad + columns * (thumb_w + pad)
    big = ImageFont.load_default(size=26)
    small = ImageFont.load_default(size=13)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle, ThreadPoolExecutor(threads) as pool:
        png = _PngWriter(handle, width, header + rows * row_height)
        band = Image.new("RGB", (width, header), BACKGROUND)
        ImageDraw.Draw(band).text((pad, 14), title or "Storyboard", fill=(240, 240, 240), font=big)
        png.write(band)
        band = draw = None
        for index, (shot, image) in enumerate(zip(shots, _ahead(pool, thumbnail, shots, threads * columns))):
            column = index % columns
            if column == 0:
                if band is not None:
                    png.write(band)
                band = Image.new("RGB", (width, row_height), BACKGROUND)
                draw = ImageDraw.Draw(band)
            x = pad + column * (thumb_w + pad)
            band.paste(image, (x + (thumb_w - image.width) // 2, (thumb_h - image.height) // 2))
            draw.text((x, thumb_h + 3), f"{shot.label}  {shot.size}", fill=(235, 235, 235), font=small)
            draw.text((x, thumb_h + 18), f"{_short_clock(shot.start)} - "
                      f"{_short_clock(shot.start + shot.seconds)}  ({shot.seconds:.1f}s)",
                      fill=(170, 170, 180), font=small)
        png.write(band if band is not None else Image.new("RGB", (width, row_height), BACKGROUND))
        png.close()
    temporary.replace(path)


BACKGROUND = (24, 24, 28)


def _ahead(pool, function, items, ahead: int):
    """``function`` of each item, in order, computed on ``pool`` at most ``ahead`` items ahead
    of the consumer (``pool.map`` would hold every result until it is taken)."""
    queue: deque = deque()
    for item in items:
        queue.append(pool.submit(function, item))
        if len(queue) > ahead:
            yield queue.popleft().result()
    while queue:
        yield queue.popleft().result()


class _PngWriter:
    """An RGB PNG written band by band (Pillow writes a picture only whole): each row with the
    Up filter (the difference from the row above, which suits photographs), deflated at level 1
    as Pillow's ``compress_level=1``."""

    SIGNATURE = b"\x89PNG\r\n\x1a\n"

    def __init__(self, handle, width: int, height: int):
        import numpy as np

        self.handle, self.width, self.height, self.written = handle, width, height, 0
        self.previous = np.zeros(width * 3, np.uint8)           # the row above the first
        self.deflate = zlib.compressobj(1)
        handle.write(self.SIGNATURE)
        self._chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))

    def write(self, band) -> None:
        import numpy as np

        assert band.mode == "RGB" and band.width == self.width
        rows = np.asarray(band, dtype=np.uint8).reshape(band.height, self.width * 3)
        filtered = np.empty((band.height, self.width * 3 + 1), np.uint8)
        filtered[:, 0] = 2                                       # filter type: Up
        filtered[0, 1:] = rows[0] - self.previous                # uint8 arithmetic wraps mod 256
        filtered[1:, 1:] = rows[1:] - rows[:-1]
        self.previous = rows[-1].copy()
        self.written += band.height
        data = self.deflate.compress(filtered.tobytes())
        if data:
            self._chunk(b"IDAT", data)

    def close(self) -> None:
        if self.written != self.height:
            raise ValueError(f"contact sheet: {self.written} rows written of {self.height}")
        self._chunk(b"IDAT", self.deflate.flush())
        self._chunk(b"IEND", b"")

    def _chunk(self, kind: bytes, data: bytes) -> None:
        self.handle.write(struct.pack(">I", len(data)) + kind + data
                          + struct.pack(">I", zlib.crc32(kind + data)))


def _short_clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"
