"""Storyboard keyframes for the draft profile: a drawn frame whose composition follows the shot.

No model weights, CPU only, Pillow and numpy. The same spec gives the same pixels. The picture is
drawn larger than the film frame (``MARGIN``) so that the clip renderer (``runtime/video.py``)
can move a crop window over it; everything the audience must read (caption, shot label) is placed inside the
centre film-frame area, or kept apart as an overlay (``render_layers``) that stays put while the
camera moves.

Coordinates: drawing code works in fractions of the *film frame* (0..1 across the centre area,
negative or >1 reaches into the margin), converted by ``_Frame`` into canvas pixels, so the same
code draws a crisp full-size layer or a small, later upscaled, soft one (depth of field).
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import random
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from moviola.runtime.backends.protocol import PICTURE_MARGIN as MARGIN  # the artifact contract

SHOT_SIZES = ("extreme wide", "wide", "full", "medium wide", "medium", "medium close-up",
              "close-up", "extreme close-up", "insert", "over the shoulder", "pov", "aerial",
              "two shot")

Colour = tuple[int, int, int]

# --------------------------------------------------------------------------------------------
# Colours


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def _shade(c: Colour, f: float) -> Colour:
    return tuple(max(0, min(255, int(round(x * f)))) for x in c)  # type: ignore[return-value]


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()


def character_colour(name: str) -> Colour:
    """The stable figure colour of a character: derived from the name, never from the shot.

    Mid saturation and value so a figure reads against both day and night palettes."""
    d = _digest("character", " ".join(name.upper().split()))
    hue = int.from_bytes(d[:2], "big") / 65536.0
    sat = 0.42 + d[2] / 255.0 * 0.2
    val = 0.62 + d[3] / 255.0 * 0.2
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return (int(r * 255), int(g * 255), int(b * 255))


@dataclass(frozen=True)
class Palette:
    sky_top: Colour
    sky_low: Colour
    far: Colour      # distant land
    near: Colour     # foreground ground
    wall: Colour
    floor: Colour
    water: Colour
    foliage: Colour
    stone: Colour
    light: Colour    # sun, moon or lamp colour
    cloud: Colour
    night: bool = False
    low_sun: bool = False


_PALETTES: dict[str, Palette] = {
    "day": Palette((84, 138, 204), (198, 222, 238), (126, 158, 118), (98, 132, 82),
                   (214, 201, 178), (146, 114, 86), (88, 138, 170), (70, 116, 68),
                   (170, 162, 150), (255, 247, 220), (246, 248, 250)),
    "morning": Palette((112, 160, 212), (240, 226, 198), (138, 164, 124), (104, 136, 88),
                       (224, 210, 184), (154, 122, 92), (116, 158, 182), (78, 122, 72),
                       (178, 168, 152), (255, 238, 200), (250, 244, 236), low_sun=True),
    "dawn": Palette((60, 76, 128), (236, 178, 170), (104, 108, 132), (78, 86, 102),
                    (178, 168, 186), (114, 104, 114), (112, 118, 158), (66, 80, 92),
                    (142, 136, 150), (255, 216, 196), (238, 196, 204), low_sun=True),
    "dusk": Palette((56, 48, 98), (246, 150, 86), (112, 86, 84), (74, 60, 58),
                    (198, 144, 108), (112, 78, 60), (150, 102, 98), (70, 56, 52),
                    (152, 114, 98), (255, 190, 112), (236, 160, 140), low_sun=True),
    "evening": Palette((30, 34, 78), (196, 112, 96), (62, 58, 78), (40, 38, 52),
                       (120, 96, 96), (70, 56, 58), (70, 66, 100), (40, 44, 50),
                       (96, 88, 100), (255, 196, 120), (150, 110, 130), night=True),
    "night": Palette((8, 12, 32), (30, 42, 82), (22, 28, 46), (14, 18, 32),
                     (44, 46, 68), (28, 28, 42), (18, 28, 58), (14, 26, 32),
                     (46, 48, 64), (255, 198, 116), (40, 48, 78), night=True),
}
_PALETTES["afternoon"] = Palette((78, 130, 198), (214, 224, 228), (134, 156, 112), (106, 132, 80),
                                 (220, 200, 170), (150, 114, 82), (92, 136, 164), (76, 116, 64),
                                 (176, 164, 146), (255, 240, 206), (248, 246, 240))


def _time_key(time: str | None) -> str:
    t = (time or "").upper()
    for words, key in ((("NIGHT", "MIDNIGHT"), "night"), (("DAWN", "SUNRISE"), "dawn"),
                       (("DUSK", "SUNSET"), "dusk"), (("EVENING",), "evening"),
                       (("MORNING",), "morning"), (("AFTERNOON",), "afternoon")):
        if any(w in t for w in words):
            return key
    return "day"  # DAY, NOON, CONTINUOUS, LATER, unknown: daylight reads best


def _jittered(p: Palette, rng: random.Random) -> Palette:
    """Seeded small colour variation so shots of one scene differ slightly, never in kind."""
    def j(c: Colour) -> Colour:
        return tuple(max(0, min(255, x + rng.randint(-6, 6))) for x in c)  # type: ignore[return-value]
    return Palette(*(j(getattr(p, f)) for f in ("sky_top", "sky_low", "far", "near", "wall",
                                                  "floor", "water", "foliage", "stone")),
                   light=p.light, cloud=p.cloud, night=p.night, low_sun=p.low_sun)


# --------------------------------------------------------------------------------------------
# Fonts and text


_FONT_FILES = {
    "sans": ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf", "Helvetica.ttc"),
    "bold": ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "Arial Bold.ttf", "Arial.ttf"),
    "serif": ("DejaVuSerif.ttf", "LiberationSerif-Regular.ttf", "Times New Roman.ttf",
              "Georgia.ttf", "DejaVuSans.ttf"),
}


@lru_cache(maxsize=64)
def _font(kind: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A TrueType font by family, else Pillow's bundled default at that size (Pillow ≥ 10.1)."""
    size = max(8, int(size))
    for name in _FONT_FILES[kind]:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # very old Pillow: fixed-size bitmap font
        return ImageFont.load_default()


def _text_w(font, text: str) -> float:
    return font.getlength(text)


def _wrap(text: str, font, max_w: float, max_lines: int) -> list[str]:
    """Greedy word wrap by pixel width; the last kept line ends with an ellipsis if cut."""
    words = text.split()
    lines: list[str] = []
    cur = ""
    for word in words:
        trial = f"{cur} {word}" if cur else word
        if _text_w(font, trial) <= max_w or not cur:
            cur = trial
        else:
            lines.append(cur)
            cur = word
    if cur:
        lines.append(cur)
    # a single word wider than the line: cut by characters
    lines = [_fit(line, font, max_w) if _text_w(font, line) > max_w else line for line in lines]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _fit(lines[-1] + " …", font, max_w, force_ellipsis=True)
    return lines


def _fit(line: str, font, max_w: float, force_ellipsis: bool = False) -> str:
    if not force_ellipsis and _text_w(font, line) <= max_w:
        return line
    base = line.removesuffix(" …").rstrip()
    while base and _text_w(font, base + "…") > max_w:
        base = base[:-1]
    return base.rstrip(" ,;:.-") + "…"


def _shadow_text(draw: ImageDraw.ImageDraw, xy, text: str, font, fill=(255, 255, 255, 255),
                 anchor: str = "la", shadow=(0, 0, 0, 200)) -> None:
    """Text with a 1-px drop shadow so it reads on any background."""
    off = max(1, round(getattr(font, "size", 12) / 16))
    draw.text((xy[0] + off, xy[1] + off), text, font=font, fill=shadow, anchor=anchor)
    draw.text(xy, text, font=font, fill=fill, anchor=anchor)


# --------------------------------------------------------------------------------------------
# Geometry helpers


class _Frame:
    """Film-frame fractions → pixels of a canvas that may be the keyframe scaled by ``k``."""

    def __init__(self, W: int, H: int, fw: float, fh: float, k: float = 1.0):
        self.W, self.H, self.fw, self.fh, self.k = W, H, fw, fh, k
        self.ox = (W - fw) / 2
        self.oy = (H - fh) / 2
        self.cw = max(1, round(W * k))  # canvas size
        self.ch = max(1, round(H * k))
        # film-frame fractions at the canvas edges (the margin reaches beyond 0..1)
        self.left = -self.ox / fw
        self.right = 1 + self.ox / fw
        self.top = -self.oy / fh
        self.bottom = 1 + self.oy / fh

    def x(self, f: float) -> float:
        return (self.ox + f * self.fw) * self.k

    def y(self, f: float) -> float:
        return (self.oy + f * self.fh) * self.k

    def s(self, f: float) -> float:
        """A length given in film-frame heights."""
        return f * self.fh * self.k

    def scaled(self, k: float) -> "_Frame":
        return _Frame(self.W, self.H, self.fw, self.fh, k)


@lru_cache(maxsize=4)
def _radial(power: float = 2.0) -> Image.Image:
    """A soft round falloff (L, 128²): scaled up it makes glows, vignettes and blur masks."""
    n = 128
    yy, xx = np.mgrid[0:n, 0:n]
    r = np.hypot(xx - (n - 1) / 2, yy - (n - 1) / 2) / (n / 2)
    a = np.clip(1.0 - r, 0.0, 1.0) ** power
    return Image.fromarray((a * 255).astype(np.uint8), "L")


def _glow(img: Image.Image, cx: float, cy: float, rx: float, ry: float, colour: Colour,
          strength: float = 1.0, power: float = 2.0) -> None:
    rx, ry = max(2, int(rx)), max(2, int(ry))
    mask = _radial(power).resize((2 * rx, 2 * ry), Image.BILINEAR)
    if strength < 1.0:
        lut = [int(v * strength) for v in range(256)]
        mask = mask.point(lut)
    img.paste(colour, (int(cx) - rx, int(cy) - ry), mask)


def _vgradient(w: int, h: int, stops: list[tuple[float, Colour]]) -> Image.Image:
    """A vertical gradient through colour stops (positions in 0..1 of the canvas height).

    Built as one column and stretched with NEAREST, which costs a copy, not a filter."""
    pos = np.array([p for p, _ in stops], dtype=np.float64)
    cols = np.array([c for _, c in stops], dtype=np.float64)
    ys = (np.arange(h) + 0.5) / h
    col = np.stack([np.interp(ys, pos, cols[:, i]) for i in range(3)], axis=1)
    column = Image.fromarray(col.round().astype(np.uint8)[:, None, :], "RGB")
    return column.resize((w, h), Image.NEAREST)


# --------------------------------------------------------------------------------------------
# Scene description


_WATER = re.compile(r"\b(water|river|sea|lake|ocean|harbou?r|port|ferry|boat|shore|beach|pond|"
                    r"canal|bay|quay|dock|stream|lavoir|waves?|pier|jetty|current)\b")
_TREES = re.compile(r"\b(trees?|forest|garden|woods?|park|orchard|poplars?|willows?|oaks?|"
                    r"pines?|birch(es)?|hedges?|grove|jungle|meadow|vineyard)\b")
_BLOCKS = re.compile(r"\b(stone|stones|walls?|house|houses|building|buildings|street|city|town|"
                     r"village|church|brick|castle|station|mill|tower|concrete|ramp|"
                     r"wheelhouse|barn|farm|shop|cafe|bar|hotel|apartment|office|school)\b")
_FOG = re.compile(r"\b(fog|foggy|mist|misty|haze|hazy|steam)\b")
_RAIN = re.compile(r"\b(rain|raining|rainy|drizzle|storm|downpour)\b")
_SNOW = re.compile(r"\b(snow|snowing|snowy|blizzard)\b")


@dataclass
class _Scene:
    spec: dict
    size: str
    interior: bool
    palette: Palette
    water: bool
    trees: bool
    blocks: bool
    fog: bool
    rain: bool
    snow: bool
    layout: random.Random   # the place's layout: stable across every shot of one location
    rng: random.Random      # this shot's seed: small variation only
    lamp_x: float = 0.78
    angle: str = ""         # the written camera language ("" when not written)
    focus: str = ""
    lens: str = ""
    lighting: str = ""

    @property
    def horizon(self) -> float:
        """The horizon (EXT) or eye line (INT), in film-frame heights: the size's eye level,
        lower when the camera looks up, higher when it looks down."""
        return _HORIZON[self.size] + _ANGLE_SHIFT.get(self.angle, (0.0, 0.0))[0]

    @property
    def floor(self) -> float:
        return _FLOOR[self.size] + _ANGLE_SHIFT.get(self.angle, (0.0, 0.0))[1]

    @property
    def overhead(self) -> bool:
        """Drawn from above: the aerial size, or the overhead angle at any size."""
        return self.size == "aerial" or self.angle == "overhead"

    def figure_colour(self, name: str) -> Colour:
        """A character's colour under the shot's light: black against a silhouette's bright
        ground, darker when backlit."""
        colour = character_colour(name)
        return _shade(colour, _FIGURE_LIGHT.get(self.lighting, 1.0))


def _term(value: object) -> str:
    """Plain text for a str, a str-valued enum (the IR's ShotSize, …) or None."""
    return " ".join(str(getattr(value, "value", value) or "").split())


def _size(spec: dict) -> str:
    size = _term(spec.get("size")).lower()
    return size if size in SHOT_SIZES else "medium"


def _scene(spec: dict) -> _Scene:
    size = _size(spec)
    setting = (_term(spec.get("setting")) or "EXT").upper()
    interior = setting.startswith("INT") and "EXT" not in setting
    words = f"{spec.get('place') or ''} {spec.get('location') or ''}".lower()
    text = f"{words} {spec.get('caption') or ''}".lower()
    seed = spec.get("seed") or 0
    # Layout comes from the place, not the seed, so shot/reverse-shot of one scene share a set.
    layout = random.Random(_digest("layout", setting, (spec.get("place") or "").upper()))
    rng = random.Random(_digest("shot", seed, spec.get("label")))
    palette = _jittered(_PALETTES[_time_key(_term(spec.get("time")))], rng)
    sc = _Scene(spec, size, interior, palette, bool(_WATER.search(words)),
                bool(_TREES.search(words)), bool(_BLOCKS.search(words)),
                bool(_FOG.search(text)), bool(_RAIN.search(text)), bool(_SNOW.search(text)),
                layout, rng)
    sc.lamp_x = layout.choice((0.2, 0.26, 0.74, 0.8))
    sc.angle, sc.focus, sc.lens, sc.lighting = (_term(spec.get(k)).lower()
                                                for k in ("angle", "focus", "lens", "lighting"))
    return sc


# Horizon (EXT) or floor line (INT) per shot size, in film-frame heights: eye level for figures.
_HORIZON = {"extreme wide": 0.56, "wide": 0.46, "full": 0.40, "medium wide": 0.42, "medium": 0.45,
            "medium close-up": 0.46, "close-up": 0.5, "extreme close-up": 0.5, "insert": 0.30,
            "over the shoulder": 0.44, "pov": 0.48, "two shot": 0.44, "aerial": 0.5}
_FLOOR = {"extreme wide": 0.7, "wide": 0.72, "full": 0.78, "medium wide": 0.86, "medium": 0.96,
          "medium close-up": 1.05, "close-up": 1.15, "extreme close-up": 1.2, "insert": 0.30,
          "over the shoulder": 0.98, "pov": 0.8, "two shot": 0.92, "aerial": 0.5}
# The camera angle's shift of (horizon, floor line), in film-frame heights: looking up puts the
# horizon low in the frame (sky above the figures), looking down puts it high (ground behind them).
_ANGLE_SHIFT = {"low angle": (0.24, 0.1), "worm's-eye": (0.5, 0.24),
                "high angle": (-0.3, -0.12)}
# How much the frame's bottom (looking up) or top (looking down) is magnified: verticals converge
# away from the camera, figures widen towards their feet seen from below, their heads from above.
_KEYSTONE = {"low angle": ("up", 0.09), "worm's-eye": ("up", 0.16), "high angle": ("down", 0.09)}
_FIGURE_GROWTH = {"low angle": 1.18, "worm's-eye": 1.35, "high angle": 0.86}  # looming, or small
_DUTCH_DEGREES = 12.0
_FIGURE_LIGHT = {"silhouette": 0.06, "backlit": 0.55}
# Focus written in the script (or implied by the lens) overrides the size's depth of field.
_FOCUS_SCALE = {"shallow focus": 0.2, "rack focus": 0.2, "deep focus": 1.0}
_LENS_SCALE = {"telephoto": 0.25, "macro": 1 / 6, "wide-angle": 1.0, "fisheye": 1.0}
# Overhead figures: seen from above, their size follows the shot size.
_OVERHEAD_SCALE = {"extreme wide": 0.5, "wide": 1.0, "full": 1.6, "medium wide": 2.0, "medium": 2.6,
                   "medium close-up": 3.4, "close-up": 4.5, "two shot": 2.6, "over the shoulder": 2.6}
# Background drawing scale: small canvases, upscaled, give close shots a shallow depth of field.
_BG_SCALE = {"medium": 0.5, "medium close-up": 1 / 3, "close-up": 0.25,
             "extreme close-up": 1 / 6, "over the shoulder": 1 / 3, "insert": 0.25,
             "two shot": 0.5}


# --------------------------------------------------------------------------------------------
# Backgrounds


def _exterior(sc: _Scene, fr: _Frame) -> Image.Image:
    p = sc.palette
    hy = sc.horizon
    hz = (fr.y(hy)) / fr.ch  # horizon in canvas fractions
    img = _vgradient(fr.cw, fr.ch, [(0.0, p.sky_top), (max(0.01, hz), p.sky_low),
                                    (min(0.999, hz + 0.001), p.far), (1.0, p.near)])
    d = ImageDraw.Draw(img)
    L, rng = sc.layout, sc.rng

    # sky: sun low on the horizon at dawn/dusk, stars and a moon at night, clouds by day
    if p.night:
        for _ in range(90):
            x, y = rng.uniform(fr.left, fr.right), rng.uniform(fr.top, hy - 0.05)
            r = max(1, fr.s(0.0018) * rng.uniform(0.6, 1.4))
            d.ellipse((fr.x(x) - r, fr.y(y) - r, fr.x(x) + r, fr.y(y) + r),
                      fill=_mix(p.sky_low, (255, 255, 240), rng.uniform(0.4, 0.9)))
        mx, my, mr = fr.x(L.uniform(0.15, 0.85)), fr.y(max(fr.top + 0.12, hy - 0.32)), fr.s(0.035)
        _glow(img, mx, my, mr * 5, mr * 5, (120, 140, 190), 0.35)
        d.ellipse((mx - mr, my - mr, mx + mr, my + mr), fill=(232, 232, 214))
    else:
        sx = fr.x(L.uniform(0.2, 0.8))
        sy = fr.y(hy - (0.04 if p.low_sun else 0.36))
        big = fr.s(0.5 if p.low_sun else 0.32)
        _glow(img, sx, sy, big * 1.6, big, p.light, 0.8)
        sr = fr.s(0.03)
        d.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=_mix(p.light, (255, 255, 255), 0.5))
        for _ in range(rng.randint(3, 5)):
            cx, cy = fr.x(rng.uniform(fr.left, fr.right)), fr.y(rng.uniform(fr.top + 0.05, hy - 0.12))
            w = fr.s(rng.uniform(0.12, 0.26))
            colour = _mix(p.sky_low, p.cloud, 0.55)
            for i in range(5):
                ox = (i - 2) * w * 0.28
                r = w * (0.26 if i in (1, 2, 3) else 0.18) * rng.uniform(0.8, 1.2)
                d.ellipse((cx + ox - r * 1.4, cy - r, cx + ox + r * 1.4, cy + r * 0.6), fill=colour)

    # far hills: a smooth seeded skyline with atmospheric perspective
    far_c = _mix(p.far, p.sky_low, 0.45)
    pts = []
    ph, amp = L.uniform(0, 6.3), L.uniform(0.02, 0.07)
    n = 24
    for i in range(n + 1):
        fx = fr.left + (fr.right - fr.left) * i / n
        fy = hy - amp * (0.6 + 0.4 * math.sin(fx * 5.1 + ph)) * (0.6 + 0.4 * math.sin(fx * 11.3 + ph * 2))
        pts.append((fr.x(fx), fr.y(fy)))
    pts += [(fr.x(fr.right), fr.y(hy + 0.01)), (fr.x(fr.left), fr.y(hy + 0.01))]
    d.polygon(pts, fill=far_c)

    if sc.blocks:
        _buildings(d, sc, fr, hy)
    if sc.water:
        _water(img, d, sc, fr, hy)
    if sc.trees:
        _trees(d, sc, fr, hy)
    # ground strokes: a little texture so the foreground reads as a surface
    gy0 = hy + (0.2 if sc.water else 0.04)
    stroke = _shade(p.near, 0.85)
    for _ in range(40):
        x, y = rng.uniform(fr.left, fr.right), rng.uniform(gy0, fr.bottom)
        w = fr.s(0.02 + 0.06 * (y - hy))
        d.line((fr.x(x), fr.y(y), fr.x(x) + w, fr.y(y)), fill=stroke, width=max(1, int(fr.s(0.004))))
    if p.night:
        _lamp_post(img, d, sc, fr, hy)
    return img


def _buildings(d: ImageDraw.ImageDraw, sc: _Scene, fr: _Frame, hy: float) -> None:
    p, L = sc.palette, sc.layout
    base = _mix(p.stone, p.sky_low, 0.3)
    x = fr.left + L.uniform(0.0, 0.1)
    while x < fr.right:
        w = L.uniform(0.07, 0.18)
        if L.random() < 0.3:  # gaps keep the skyline irregular
            x += w
            continue
        h = L.uniform(0.05, 0.15)
        colour = _shade(base, L.uniform(0.85, 1.05))
        x0, x1, y0, y1 = fr.x(x), fr.x(x + w), fr.y(hy - h), fr.y(hy + 0.005)
        d.rectangle((x0, y0, x1, y1), fill=colour)
        roof = fr.s(L.uniform(0.02, 0.05))
        d.polygon([(x0 - fr.s(0.006), y0), ((x0 + x1) / 2, y0 - roof), (x1 + fr.s(0.006), y0)],
                  fill=_shade(colour, 0.75))
        win = (255, 206, 120) if p.night else _shade(colour, 0.6)
        for i in range(int(w / 0.04)):
            if p.night and L.random() < 0.5:
                continue
            wx = fr.x(x + 0.015 + i * 0.04)
            wy = fr.y(hy - h * 0.6)
            d.rectangle((wx, wy, wx + fr.s(0.012), wy + fr.s(0.018)), fill=win)
        x += w + L.uniform(0.0, 0.05)


def _water(img: Image.Image, d: ImageDraw.ImageDraw, sc: _Scene, fr: _Frame, hy: float) -> None:
    p, rng = sc.palette, sc.rng
    top, bottom = hy + 0.005, hy + 0.2
    band = _vgradient(fr.cw, max(1, int(fr.y(bottom) - fr.y(top))),
                      [(0.0, _mix(p.water, p.sky_low, 0.35)), (1.0, _shade(p.water, 0.85))])
    img.paste(band, (0, int(fr.y(top))))
    # ripples, denser near the light's reflection column
    lx = sc.lamp_x if p.night else 0.5
    glint = _mix(p.water, p.light, 0.55 if p.night else 0.45)
    ripple = _mix(p.water, p.sky_low, 0.6)
    for _ in range(70):
        y = rng.uniform(top + 0.01, bottom - 0.01)
        w = 0.02 + 0.08 * (y - top) / 0.2
        if rng.random() < 0.4:
            x, c = lx + rng.gauss(0, 0.04), glint
        else:
            x, c = rng.uniform(fr.left, fr.right), ripple
        d.line((fr.x(x - w / 2), fr.y(y), fr.x(x + w / 2), fr.y(y)), fill=c,
               width=max(1, int(fr.s(0.003))))
    # the near bank
    d.rectangle((0, fr.y(bottom), fr.cw, fr.y(bottom + 0.012)), fill=_shade(p.near, 0.7))


def _trees(d: ImageDraw.ImageDraw, sc: _Scene, fr: _Frame, hy: float) -> None:
    p, L = sc.palette, sc.layout
    trunk = _shade(_mix(p.foliage, (90, 70, 50), 0.5), 0.8)
    # far row along the horizon, then a few nearer trees framing the edges
    for _ in range(9):
        x = L.uniform(fr.left, fr.right)
        h = L.uniform(0.08, 0.16)
        c = _mix(p.foliage, p.sky_low, 0.35)
        r = h * L.uniform(0.25, 0.4)
        d.ellipse((fr.x(x) - fr.s(r), fr.y(hy - h), fr.x(x) + fr.s(r), fr.y(hy - h * 0.2)), fill=c)
    for side in (-1, 1):
        if L.random() < 0.25:
            continue
        x = (0.06 if side < 0 else 0.94) + L.uniform(-0.08, 0.08)
        h = L.uniform(0.45, 0.7)
        base = hy + L.uniform(0.02, 0.1)
        w = fr.s(0.018)
        d.rectangle((fr.x(x) - w, fr.y(base - h * 0.55), fr.x(x) + w, fr.y(base)), fill=trunk)
        for j in range(4):
            cx = fr.x(x + L.uniform(-0.06, 0.06))
            cy = fr.y(base - h * L.uniform(0.55, 0.95))
            r = fr.s(h * L.uniform(0.16, 0.24))
            d.ellipse((cx - r, cy - r * 1.15, cx + r, cy + r),
                      fill=_shade(p.foliage, 0.85 + 0.1 * j))


def _lamp_post(img: Image.Image, d: ImageDraw.ImageDraw, sc: _Scene, fr: _Frame, hy: float) -> None:
    p = sc.palette
    x = sc.lamp_x
    top, base = hy - 0.28, hy + 0.12
    _glow(img, fr.x(x), fr.y(top), fr.s(0.5), fr.s(0.42), p.light, 0.55)
    d.rectangle((fr.x(x) - fr.s(0.004), fr.y(top), fr.x(x) + fr.s(0.004), fr.y(base)),
                fill=(16, 16, 22))
    r = fr.s(0.016)
    d.ellipse((fr.x(x) - r, fr.y(top) - r, fr.x(x) + r, fr.y(top) + r), fill=(255, 234, 180))


def _interior(sc: _Scene, fr: _Frame) -> Image.Image:
    p, L = sc.palette, sc.layout
    fy = sc.floor
    fz = fr.y(fy) / fr.ch
    wall_hi = _mix(p.wall, (255, 255, 255), 0.08) if not p.night else _shade(p.wall, 1.1)
    img = _vgradient(fr.cw, fr.ch, [(0.0, _shade(p.wall, 0.8)), (0.35, wall_hi),
                                    (min(0.999, max(0.01, fz)), _shade(p.wall, 0.9)),
                                    (min(1.0, max(0.011, fz + 0.001)), p.floor),
                                    (1.0, _shade(p.floor, 0.75))])
    d = ImageDraw.Draw(img)
    shade = _shade(p.wall, 0.82)
    if sc.blocks:  # stone courses on the wall
        rows = 14
        for r in range(rows):
            y0 = fr.top + (fy - fr.top) * r / rows
            y1 = fr.top + (fy - fr.top) * (r + 1) / rows
            d.line((0, fr.y(y1), fr.cw, fr.y(y1)), fill=shade, width=max(1, int(fr.s(0.003))))
            off = 0.05 if r % 2 else 0.0
            x = fr.left + off
            while x < fr.right:
                d.line((fr.x(x), fr.y(y0), fr.x(x), fr.y(y1)), fill=shade, width=max(1, int(fr.s(0.003))))
                x += 0.1
    else:  # a dado rail gives the wall scale
        yr = fr.top + (fy - fr.top) * 0.62
        d.line((0, fr.y(yr), fr.cw, fr.y(yr)), fill=shade, width=max(1, int(fr.s(0.006))))
    # skirting board
    d.rectangle((0, fr.y(fy) - fr.s(0.012), fr.cw, fr.y(fy)), fill=_shade(p.wall, 0.6))

    # Furniture is sized by perspective: a person standing at the back wall would have their
    # eyes on the horizon, so their height there is (floor line − horizon) / 0.93.
    hp = max(0.1, (fy - sc.horizon) / 0.93)
    aspect = fr.fh / fr.fw  # widths below are in frame heights, x positions in frame widths
    n_win = 1 + (L.random() < 0.5)
    for i in range(n_win):
        wx = L.uniform(0.1, 0.3) if i == 0 else L.uniform(0.6, 0.8)
        top, sill = fy - hp * L.uniform(1.2, 1.35), fy - hp * L.uniform(0.45, 0.55)
        _window(img, d, sc, fr, wx, top, hp * L.uniform(0.55, 0.75) * aspect, sill - top)
    # a table, the kitchen/room's anchor
    tx, tw = L.uniform(0.4, 0.6), hp * L.uniform(0.7, 1.0) * aspect
    ty = fy - 0.42 * hp
    wood = _shade(_mix(p.floor, (120, 80, 50), 0.4), 0.9)
    leg = fr.s(0.02 * hp)
    for lx in (tx - tw / 2 + tw * 0.08, tx + tw / 2 - tw * 0.08):
        d.rectangle((fr.x(lx) - leg, fr.y(ty), fr.x(lx) + leg, fr.y(fy + 0.02)), fill=_shade(wood, 0.7))
    d.rectangle((fr.x(tx - tw / 2), fr.y(ty) - fr.s(0.03 * hp), fr.x(tx + tw / 2), fr.y(ty)), fill=wood)

    if p.night:  # a hanging lamp: the warm pool of light every night interior needs
        lx = sc.lamp_x
        ly = max(fr.top + 0.08, fy - 1.5 * hp)
        d.line((fr.x(lx), 0, fr.x(lx), fr.y(ly)), fill=(20, 20, 24), width=max(1, int(fr.s(0.003))))
        _glow(img, fr.x(lx), fr.y(ly + 0.15), fr.s(0.7), fr.s(0.6), p.light, 0.6)
        r = fr.s(0.05)
        d.chord((fr.x(lx) - r, fr.y(ly) - r * 0.4, fr.x(lx) + r, fr.y(ly) + r * 0.9), 180, 360,
                fill=(60, 52, 40))
        d.ellipse((fr.x(lx) - r * 0.35, fr.y(ly) + r * 0.1, fr.x(lx) + r * 0.35, fr.y(ly) + r * 0.5),
                  fill=(255, 236, 190))
    else:  # daylight falling from the window onto the floor
        if fy < 1.0:
            lx = L.uniform(0.2, 0.5)
            poly = [(fr.x(lx), fr.y(fy + 0.01)), (fr.x(lx + 0.18), fr.y(fy + 0.01)),
                    (fr.x(lx + 0.32), fr.y(fr.bottom)), (fr.x(lx + 0.08), fr.y(fr.bottom))]
            x0, y0 = int(min(q[0] for q in poly)), int(min(q[1] for q in poly))
            x1, y1 = int(max(q[0] for q in poly)) + 1, int(max(q[1] for q in poly)) + 1
            mask = Image.new("L", (x1 - x0, y1 - y0), 0)  # bbox-sized: pastes cost by area
            ImageDraw.Draw(mask).polygon([(a - x0, b - y0) for a, b in poly], fill=46)
            img.paste(p.light, (x0, y0), mask)
    return img


def _window(img, d, sc: _Scene, fr: _Frame, wx, wy, ww, wh) -> None:
    p = sc.palette
    x0, y0, x1, y1 = fr.x(wx), fr.y(wy), fr.x(wx + ww), fr.y(wy + wh)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    hz = 0.6
    view = _vgradient(int(x1 - x0), int(y1 - y0), [(0, p.sky_top), (hz, p.sky_low),
                                                   (hz + 0.01, p.far), (1, p.near)])
    vd = ImageDraw.Draw(view)
    vw, vh = view.size
    if sc.water:
        vd.rectangle((0, vh * (hz + 0.05), vw, vh * (hz + 0.25)), fill=_mix(p.water, p.sky_low, 0.3))
    if sc.trees:
        for i in range(3):
            cx = vw * (0.2 + 0.3 * i)
            vd.ellipse((cx - vw * 0.12, vh * (hz - 0.3), cx + vw * 0.12, vh * (hz + 0.02)),
                       fill=_mix(p.foliage, p.sky_low, 0.2))
    if p.night:
        vd.ellipse((vw * 0.65, vh * 0.15, vw * 0.65 + vh * 0.1, vh * 0.25), fill=(225, 225, 205))
    img.paste(view, (int(x0), int(y0)))
    frame_c = _shade(p.wall, 0.55)
    t = max(1, int(fr.s(0.01)))
    d.rectangle((x0, y0, x1, y1), outline=frame_c, width=t)
    d.line(((x0 + x1) / 2, y0, (x0 + x1) / 2, y1), fill=frame_c, width=t)
    d.line((x0, (y0 + y1) / 2, x1, (y0 + y1) / 2), fill=frame_c, width=t)
    d.rectangle((x0 - fr.s(0.01), y1, x1 + fr.s(0.01), y1 + fr.s(0.015)), fill=_shade(p.wall, 0.7))


def _weather(img: Image.Image, sc: _Scene, fr: _Frame) -> None:
    """Fog, rain and snow on top of the set, under the figures' faces but over the distance."""
    p, rng = sc.palette, sc.rng
    if sc.fog and not sc.interior:
        hy = sc.horizon
        y0, y1 = int(fr.y(hy - 0.2)), int(fr.y(hy + 0.25))
        if y1 > y0:
            col = np.interp(np.arange(y1 - y0), [0, (y1 - y0) * 0.45, y1 - y0], [0, 150, 40])
            mask = Image.fromarray(col.astype(np.uint8)[:, None], "L").resize((fr.cw, y1 - y0), Image.NEAREST)
            img.paste(_mix(p.sky_low, (200, 205, 210), 0.4), (0, y0), mask)
    if sc.rain or sc.snow:
        d = ImageDraw.Draw(img)
        c = _mix(p.sky_low, (230, 235, 240), 0.5)
        for _ in range(160):
            x, y = rng.uniform(0, fr.cw), rng.uniform(0, fr.ch)
            if sc.snow:
                r = max(1, fr.s(0.003))
                d.ellipse((x - r, y - r, x + r, y + r), fill=(240, 240, 245))
            else:
                d.line((x, y, x - fr.s(0.01), y + fr.s(0.05)), fill=c, width=1)


def _aerial(sc: _Scene, fr: _Frame) -> Image.Image:
    """Top-down: fields or floor, a river, tree crowns and roofs seen from above."""
    p, L = sc.palette, sc.layout
    base = p.floor if sc.interior else p.near
    img = Image.new("RGB", (fr.cw, fr.ch), base)
    d = ImageDraw.Draw(img)
    if sc.interior:
        d.rectangle((fr.x(0.3), fr.y(0.3), fr.x(0.7), fr.y(0.62)), fill=_mix(p.floor, (120, 80, 50), 0.5))
        return img
    for _ in range(14):  # field patches
        x, y = L.uniform(fr.left, fr.right), L.uniform(fr.top, fr.bottom)
        w, h = L.uniform(0.15, 0.4), L.uniform(0.1, 0.3)
        d.rectangle((fr.x(x), fr.y(y), fr.x(x + w), fr.y(y + h)),
                    fill=_shade(_mix(p.near, p.far, L.random()), L.uniform(0.9, 1.1)))
    if sc.water:
        a, ph = L.uniform(0.05, 0.12), L.uniform(0, 6.3)
        top, bot = [], []
        for i in range(33):
            fx = fr.left + (fr.right - fr.left) * i / 32
            cy = 0.55 + a * math.sin(fx * 4 + ph)
            top.append((fr.x(fx), fr.y(cy - 0.1)))
            bot.append((fr.x(fx), fr.y(cy + 0.1)))
        d.polygon(top + bot[::-1], fill=_mix(p.water, (60, 96, 140), 0.35))  # reads as water, not road
    if sc.blocks:
        for _ in range(7):
            x, y = L.uniform(0.05, 0.9), L.uniform(0.05, 0.35)
            w, h = L.uniform(0.05, 0.1), L.uniform(0.04, 0.08)
            d.rectangle((fr.x(x), fr.y(y), fr.x(x + w), fr.y(y + h)), fill=_shade(p.stone, 0.8))
            d.line((fr.x(x), fr.y(y + h / 2), fr.x(x + w), fr.y(y + h / 2)), fill=_shade(p.stone, 0.55),
                   width=max(1, int(fr.s(0.004))))
    if sc.trees or not sc.blocks:
        for _ in range(16):
            x, y = L.uniform(fr.left, fr.right), L.uniform(fr.top, fr.bottom)
            if sc.water and abs(y - 0.55) < 0.15:
                continue
            r = fr.s(L.uniform(0.025, 0.05))
            cx, cy = fr.x(x), fr.y(y)
            d.ellipse((cx - r + r * 0.3, cy - r + r * 0.3, cx + r * 1.3, cy + r * 1.3), fill=_shade(p.near, 0.6))
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=p.foliage)
    return img


# --------------------------------------------------------------------------------------------
# Figures


def _figure(d: ImageDraw.ImageDraw, cx: float, top: float, h: float, colour: Colour,
            face: bool = False) -> None:
    """A standing silhouette ``h`` px tall from the head's top: head, shoulders, body, legs.

    Torso and head are the character's exact colour (what tests and viewers key on); limbs a
    shade darker for depth."""
    dark = _shade(colour, 0.74)
    hip, foot = top + 0.52 * h, top + h
    # legs and arms first so the torso overlaps their joints
    d.polygon([(cx - 0.088 * h, hip), (cx - 0.004 * h, hip), (cx - 0.022 * h, foot),
               (cx - 0.072 * h, foot)], fill=dark)
    d.polygon([(cx + 0.004 * h, hip), (cx + 0.088 * h, hip), (cx + 0.072 * h, foot),
               (cx + 0.022 * h, foot)], fill=dark)
    for s in (-1, 1):
        d.polygon([(cx + s * 0.11 * h, top + 0.19 * h), (cx + s * 0.138 * h, top + 0.21 * h),
                   (cx + s * 0.15 * h, top + 0.5 * h), (cx + s * 0.112 * h, top + 0.5 * h)],
                  fill=dark)
    # torso with sloped, rounded shoulders (one polygon: no seams, exact colour throughout)
    d.polygon([(cx - 0.03 * h, top + 0.1 * h), (cx + 0.03 * h, top + 0.1 * h),
               (cx + 0.035 * h, top + 0.15 * h), (cx + 0.1 * h, top + 0.168 * h),
               (cx + 0.125 * h, top + 0.185 * h), (cx + 0.135 * h, top + 0.215 * h),
               (cx + 0.118 * h, top + 0.3 * h), (cx + 0.092 * h, top + 0.55 * h),
               (cx - 0.092 * h, top + 0.55 * h), (cx - 0.118 * h, top + 0.3 * h),
               (cx - 0.135 * h, top + 0.215 * h), (cx - 0.125 * h, top + 0.185 * h),
               (cx - 0.1 * h, top + 0.168 * h), (cx - 0.035 * h, top + 0.15 * h)], fill=colour)
    head = (cx - 0.058 * h, top, cx + 0.058 * h, top + 0.135 * h)
    d.ellipse(head, fill=colour)
    d.chord(head, 195, 345, fill=_shade(colour, 0.55))  # hair
    if face:
        ey, er = top + 0.072 * h, max(1.0, 0.0075 * h)
        for s in (-1, 1):
            ex = cx + s * 0.022 * h
            d.ellipse((ex - er * 1.3, ey - er, ex + er * 1.3, ey + er), fill=_shade(colour, 0.35))
        d.line((cx - 0.014 * h, top + 0.108 * h, cx + 0.014 * h, top + 0.108 * h),
               fill=_shade(colour, 0.5), width=max(1, int(0.004 * h)))


def _back_figure(img: Image.Image, cx: float, top: float, h: float, colour: Colour) -> None:
    """A blurred dark head and shoulder seen from behind, for over-the-shoulder framing.

    Drawn small and upscaled: the blur of a foreground out of focus, for the price of a resize."""
    k = 0.25
    x0, y0 = int(cx - 0.3 * h), int(top - 0.02 * h)
    w, hh = int(0.6 * h), int(0.7 * h)
    sw, sh = max(2, int(w * k)), max(2, int(hh * k))
    m = Image.new("L", (sw, sh), 0)
    md = ImageDraw.Draw(m)
    def X(v): return (v - x0) * k
    def Y(v): return (v - y0) * k
    md.ellipse((X(cx - 0.07 * h), Y(top), X(cx + 0.07 * h), Y(top + 0.16 * h)), fill=255)
    md.polygon([(X(cx - 0.05 * h), Y(top + 0.12 * h)), (X(cx + 0.05 * h), Y(top + 0.12 * h)),
                (X(cx + 0.2 * h), Y(top + 0.2 * h)), (X(cx + 0.26 * h), Y(top + 0.7 * h)),
                (X(cx - 0.26 * h), Y(top + 0.7 * h)), (X(cx - 0.2 * h), Y(top + 0.2 * h))], fill=255)
    m = m.filter(ImageFilter.GaussianBlur(2.5)).resize((w, hh), Image.BILINEAR)
    img.paste(_shade(colour, 0.4), (x0, y0), m)


def _eyes(img: Image.Image, fr: _Frame, colour: Colour) -> None:
    """Extreme close-up: the face fills the frame; two eyes and a brow line carry it."""
    # the face as a lit-from-above gradient: a stretched column, far cheaper than a big glow
    img.paste(_vgradient(fr.cw, fr.ch, [(0.0, _shade(colour, 0.8)),
                                        (0.45, _mix(colour, (255, 255, 255), 0.12)),
                                        (1.0, _shade(colour, 0.85))]), (0, 0))
    d = ImageDraw.Draw(img)
    skin_dark = _shade(colour, 0.6)
    for s in (-1, 1):
        ex, ey = fr.x(0.5 + s * 0.24), fr.y(0.46)
        ew, eh = fr.s(0.2), fr.s(0.085)
        d.chord((ex - ew, ey - eh * 2.2, ex + ew, ey + eh * 1.6), 200, 340, fill=skin_dark)  # lid
        d.ellipse((ex - ew, ey - eh, ex + ew, ey + eh), fill=(236, 232, 222))
        ir = fr.s(0.075)
        d.ellipse((ex - ir, ey - ir, ex + ir, ey + ir), fill=_shade(_mix(colour, (60, 90, 120), 0.6), 0.8))
        pr = ir * 0.45
        d.ellipse((ex - pr, ey - pr, ex + pr, ey + pr), fill=(16, 14, 16))
        hr = ir * 0.18
        d.ellipse((ex + ir * 0.3 - hr, ey - ir * 0.35 - hr, ex + ir * 0.3 + hr, ey - ir * 0.35 + hr),
                  fill=(255, 255, 255))
        d.line((ex - ew * 1.05, ey - eh * 2.4, ex + ew * 1.05, ey - eh * 2.6 + s * fr.s(0.01)),
               fill=_shade(colour, 0.42), width=max(2, int(fr.s(0.03))))
    # the bridge of the nose: a soft shadow line between the eyes
    d.line((fr.x(0.515), fr.y(0.52), fr.x(0.53), fr.y(0.95)), fill=_shade(colour, 0.86),
           width=max(2, int(fr.s(0.025))))


def _insert_object(img: Image.Image, sc: _Scene, fr: _Frame) -> None:
    """Insert: one object on a surface, picked from the caption's nouns."""
    p = sc.palette
    d = ImageDraw.Draw(img)
    surf = _mix(p.floor if sc.interior else p.stone, (128, 100, 80), 0.3)
    d.rectangle((0, fr.y(0.42), fr.cw, fr.ch), fill=surf)
    d.rectangle((0, fr.y(0.42), fr.cw, fr.y(0.42) + fr.s(0.01)), fill=_shade(surf, 1.15))
    cap = (sc.spec.get("caption") or "").lower()
    cx, cy = fr.x(0.5), fr.y(0.66)
    shadow = _shade(surf, 0.7)
    d.ellipse((cx - fr.s(0.3), cy + fr.s(0.08), cx + fr.s(0.32), cy + fr.s(0.2)), fill=shadow)
    who = sc.spec.get("speaker") or (sc.spec.get("characters") or [None])[0]
    if re.search(r"\b(letter|paper|page|note|photo|photograph|book|card|map|ticket|envelope)s?\b", cap):
        pts = [(-0.28, -0.14), (0.26, -0.2), (0.3, 0.14), (-0.24, 0.2)]
        d.polygon([(cx + fr.s(a), cy + fr.s(b)) for a, b in pts], fill=(236, 230, 214))
        for i in range(6):
            t = -0.1 + i * 0.05
            d.line((cx + fr.s(-0.2), cy + fr.s(t + 0.01), cx + fr.s(0.18), cy + fr.s(t - 0.01)),
                   fill=(120, 116, 110), width=max(1, int(fr.s(0.005))))
    elif re.search(r"\b(cup|mug|glass|bottle|bowl|coffee|tea|wine)s?\b", cap):
        c = (214, 210, 200)
        d.rectangle((cx - fr.s(0.12), cy - fr.s(0.22), cx + fr.s(0.12), cy + fr.s(0.1)), fill=c)
        d.ellipse((cx - fr.s(0.12), cy + fr.s(0.05), cx + fr.s(0.12), cy + fr.s(0.15)), fill=c)
        d.ellipse((cx - fr.s(0.12), cy - fr.s(0.27), cx + fr.s(0.12), cy - fr.s(0.17)), fill=(90, 60, 40))
        d.arc((cx + fr.s(0.06), cy - fr.s(0.15), cx + fr.s(0.24), cy + fr.s(0.03)), 270, 90,
              fill=c, width=max(2, int(fr.s(0.03))))
    elif re.search(r"\b(bell|lantern|lamp)s?\b", cap):
        c = (150, 120, 70) if "bell" in cap else (60, 56, 50)
        d.polygon([(cx - fr.s(0.06), cy - fr.s(0.25)), (cx + fr.s(0.06), cy - fr.s(0.25)),
                   (cx + fr.s(0.16), cy + fr.s(0.08)), (cx - fr.s(0.16), cy + fr.s(0.08))], fill=c)
        d.ellipse((cx - fr.s(0.03), cy + fr.s(0.05), cx + fr.s(0.03), cy + fr.s(0.12)), fill=_shade(c, 0.6))
        if "bell" not in cap:
            _glow(img, cx, cy - fr.s(0.08), fr.s(0.35), fr.s(0.35), p.light, 0.8)
    elif re.search(r"\b(hands?|fingers?|palm|touch(es)?)\b", cap) and who:
        c = character_colour(who)
        d.ellipse((cx - fr.s(0.16), cy - fr.s(0.1), cx + fr.s(0.12), cy + fr.s(0.12)), fill=c)
        for i in range(4):
            fx = cx - fr.s(0.13) + i * fr.s(0.07)
            d.rounded_rectangle((fx, cy - fr.s(0.3), fx + fr.s(0.05), cy - fr.s(0.02)),
                                radius=fr.s(0.025), fill=c)
        d.rounded_rectangle((cx + fr.s(0.08), cy - fr.s(0.08), cx + fr.s(0.26), cy + fr.s(0.0)),
                            radius=fr.s(0.03), fill=_shade(c, 0.9))
        d.rectangle((cx - fr.s(0.14), cy + fr.s(0.08), cx + fr.s(0.1), fr.ch), fill=_shade(c, 0.8))
    elif re.search(r"\b(watch|clock|time)\b", cap):
        r = fr.s(0.2)
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(70, 62, 54))
        d.ellipse((cx - r * 0.85, cy - r * 0.85, cx + r * 0.85, cy + r * 0.85), fill=(236, 232, 220))
        d.line((cx, cy, cx, cy - r * 0.6), fill=(30, 30, 30), width=max(2, int(r * 0.05)))
        d.line((cx, cy, cx + r * 0.45, cy + r * 0.1), fill=(30, 30, 30), width=max(2, int(r * 0.05)))
    else:  # a generic object: a smooth stone-like shape with a highlight
        c = _mix(p.stone, (120, 110, 100), 0.3)
        d.ellipse((cx - fr.s(0.22), cy - fr.s(0.16), cx + fr.s(0.22), cy + fr.s(0.12)), fill=c)
        d.ellipse((cx - fr.s(0.12), cy - fr.s(0.12), cx + fr.s(0.02), cy - fr.s(0.06)),
                  fill=_mix(c, (255, 255, 255), 0.35))


def _compose_figures(img: Image.Image, sc: _Scene, fr: _Frame, name_floor: float) -> None:
    """Place characters by shot size; the speaker larger, nearer, on a third or in the centre."""
    spec, size = sc.spec, sc.size
    chars = [c for c in (spec.get("characters") or []) if c]
    speaker = spec.get("speaker")
    if speaker and speaker not in chars:
        chars = chars + [speaker]
    d = ImageDraw.Draw(img)
    labels: list[tuple[float, float, str]] = []  # (x, y, name)

    def side_of(name: str) -> int:
        # screen direction: the first character framed on the left, the second on the right,
        # so shot/reverse-shot cuts keep the 180° rule.
        return -1 if chars.index(name) % 2 == 0 else 1

    growth = _FIGURE_GROWTH.get(sc.angle, 1.0)

    def put(name: str, x: float, top: float, h: float, face: bool = False, row: int = 0) -> None:
        if growth != 1.0:  # grown or shrunk about the feet (or the frame's bottom edge)
            pivot = min(top + h, 1.0)
            top = pivot - (pivot - top) * growth
            h *= growth
        px, ptop, ph = fr.x(x), fr.y(top), fr.s(h)
        _figure(d, px, ptop, ph, sc.figure_colour(name), face=face)
        labels.append((px, min(ptop + ph + fr.s(0.012 + 0.03 * row), name_floor), name))

    if size == "insert" or not chars:
        return
    lead = speaker or chars[0]
    others = [c for c in chars if c != lead]

    if sc.overhead:
        scale = 1.0 if size == "aerial" else _OVERHEAD_SCALE.get(size, 1.0)
        for i, name in enumerate(chars[:8]):
            x = 0.5 + (i - (min(len(chars), 8) - 1) / 2) * 0.07 * scale
            y = 0.68 + (0.03 if i % 2 else 0.0) if size == "aerial" else 0.5 + (0.03 if i % 2 else 0.0)
            cx, cy, r = fr.x(x), fr.y(y), fr.s(0.018 * scale)
            c = sc.figure_colour(name)
            d.ellipse((cx - r * 1.8, cy - r * 0.9, cx + r * 1.8, cy + r * 0.9), fill=_shade(c, 0.74))
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=c)
            labels.append((cx, cy + r * 1.6, name))
    elif size == "extreme close-up":
        _eyes(img, fr, sc.figure_colour(lead))
        labels.append((fr.x(0.5), name_floor, lead))
    elif size == "over the shoulder":
        s = side_of(lead)
        put(lead, 0.5 + s * 0.16, 0.12, 2.4, face=True)
        back = others[0] if others else None
        colour = sc.figure_colour(back) if back else (40, 40, 44)
        _back_figure(img, fr.x(0.5 - s * 0.3), fr.y(0.28), fr.s(1.9), colour)
        labels = labels[:1]
    elif size in ("close-up", "medium close-up"):
        h, top = (3.6, 0.07) if size == "close-up" else (2.4, 0.1)
        put(lead, 0.5 + side_of(lead) * (0.1 if size == "close-up" else 0.15), top, h, face=True)
    elif size in ("medium", "two shot") and (speaker or size == "two shot"):
        pair = [lead] + others[:1]
        if size == "two shot" and len(pair) == 2:
            order = sorted(pair, key=chars.index)  # framing order left → right
            for name, x in zip(order, (0.34, 0.66)):
                near = name == lead and speaker is not None
                put(name, x, 0.12 if near else 0.15, 1.7 if near else 1.55, face=True)
        else:
            s = side_of(lead)
            if len(pair) == 2:  # the listener further back, at the other third
                put(pair[1], 0.5 - s * 0.22, 0.2, 1.2, face=True)
            put(lead, 0.5 + s * 0.17, 0.12, 1.75, face=True)
    else:
        h, feet = {"extreme wide": (0.11, 0.74), "wide": (0.42, 0.88), "full": (0.78, 0.92),
                   "medium wide": (1.25, 1.37), "medium": (1.75, 1.87), "pov": (0.9, 1.02),
                   "two shot": (1.55, 1.7)}.get(size, (0.42, 0.88))
        if sc.water and not sc.interior and feet < sc.horizon + 0.24:
            feet = sc.horizon + 0.24  # on the near bank, not in the river
        group = [c for c in chars if not (size == "pov" and c == speaker)][:7]
        n = len(group)
        spread = {"extreme wide": 0.06, "wide": 0.14, "full": 0.2, "pov": 0.22}.get(size, 0.26)
        span = min(0.7, spread * (n - 1))
        xs = [0.5 + (i - (n - 1) / 2) * (span / max(1, n - 1)) for i in range(n)]
        if n == 1 and size in ("full", "medium wide", "medium", "wide"):
            xs = [0.5 + side_of(group[0]) * 0.12]  # a lone figure sits on a third
        # draw far figures first; the speaker is nearer (bigger, lower) and on top
        rows = {name: (i % 2 if size == "extreme wide" else 0) for i, name in enumerate(group)}
        for name, x in sorted(zip(group, xs), key=lambda t: t[0] == speaker):
            near = name == speaker and n > 1
            hh = h * (1.12 if near else 1.0)
            ff = feet + (0.03 if near else 0.0)
            put(name, x, ff - hh, hh, face=fr.s(hh) * 0.116 > 40, row=rows[name])

    font = _font("bold", max(11, round(fr.fh * 0.024)))
    for x, y, name in labels:
        _shadow_text(d, (x, y), name.upper(), font, fill=(250, 250, 250), anchor="ma",
                     shadow=(0, 0, 0))


@lru_cache(maxsize=8)
def _vignette_mask(w: int, h: int, strength: float) -> Image.Image:
    return _radial(0.6).resize((max(2, w // 8), max(2, h // 8)), Image.BILINEAR).point(
        [int((255 - v) * strength) for v in range(256)]).resize((w, h), Image.BILINEAR)


def _vignette(img: Image.Image, strength: float) -> None:
    """Darken the edges: a POV's tunnel, or a light cinematic falloff (mask cached per size)."""
    img.paste((0, 0, 0), (0, 0), _vignette_mask(img.width, img.height, strength))


# --------------------------------------------------------------------------------------------
# Overlays: caption bar, label, heading


def _caption_lines(spec: dict, fw: float, fh: float) -> tuple[list[str], object, float]:
    font = _font("sans", max(12, round(fh * 0.036)))
    text = " ".join((spec.get("caption") or "").split())
    lines = _wrap(text, font, fw * 0.86, 3) if text else []
    return lines, font, getattr(font, "size", 12) * 1.32


def _bar_height(spec: dict, fw: float, fh: float) -> float:
    lines, font, lh = _caption_lines(spec, fw, fh)
    return lh * len(lines) + fh * 0.04 if lines else 0.0


def render_overlay(spec: dict, width: int, height: int) -> Image.Image | None:
    """The frame-fixed overlay (RGBA, ``width``×``height``): caption bar, shot label, heading.

    Kept apart from the picture so a camera move does not carry the caption out of frame; None
    for title cards (their text is the picture)."""
    if spec.get("card"):
        return None
    ov = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    d = ImageDraw.Draw(ov)
    fw, fh = float(width), float(height)
    lines, font, lh = _caption_lines(spec, fw, fh)
    if lines:
        bar = lh * len(lines) + fh * 0.04
        d.rectangle((0, fh - bar, fw, fh), fill=(0, 0, 0, 150))
        y = fh - bar + fh * 0.02
        for line in lines:
            d.text((fw / 2, y), line, font=font, fill=(255, 255, 255, 255), anchor="ma")
            y += lh
    small = _font("bold", max(10, round(fh * 0.022)))
    pad = fh * 0.012
    angle = _term(spec.get("angle"))
    label = f"{_term(spec.get('label'))}  {_size(spec).upper()}".strip()
    if angle and angle != "eye level":
        label = f"{label} · {angle.upper()}"
    if label:
        w = _text_w(small, label)
        d.rectangle((fh * 0.02, fh * 0.02, fh * 0.02 + w + 2 * pad,
                     fh * 0.02 + getattr(small, "size", 11) + 2 * pad), fill=(0, 0, 0, 140))
        d.text((fh * 0.02 + pad, fh * 0.02 + pad), label, font=small, fill=(255, 255, 255, 235))
    setting, place, time = (_term(spec.get(k)) for k in ("setting", "place", "time"))
    heading = " ".join(x for x in (f"{setting}." if setting else "", place) if x)
    if time:
        heading = f"{heading} – {time}" if heading else time
    if heading:
        _shadow_text(d, (fw - fh * 0.02 - pad, fh * 0.02 + pad), heading.upper(), small,
                     fill=(255, 255, 255, 215), anchor="ra", shadow=(0, 0, 0, 160))
    return ov


def _paste_overlay(img: Image.Image, ov: Image.Image, x: int, y: int) -> None:
    box = ov.getbbox()
    if box:
        part = ov.crop(box)
        img.paste(part, (x + box[0], y + box[1]), part)


# --------------------------------------------------------------------------------------------
# Entry points


def keyframe_size(width: int, height: int) -> tuple[int, int]:
    """The keyframe's size for a film frame: ``MARGIN`` larger, rounded up to even numbers."""
    def even(v: float) -> int:
        n = int(round(v))
        return n + (n & 1)
    return even(width * MARGIN), even(height * MARGIN)


def _card(text: str, W: int, H: int, fw: float, fh: float) -> Image.Image:
    img = Image.new("RGB", (W, H), (0, 0, 0))
    d = ImageDraw.Draw(img)
    paragraphs = [" ".join(p.split()) for p in str(text).splitlines() if p.strip()] or [""]
    size = round(fh * 0.075)
    while True:
        font = _font("serif", size)
        lines = [ln for p in paragraphs for ln in _wrap(p, font, fw * 0.8, 99)]
        lh = size * 1.35
        if lh * len(lines) <= fh * 0.8 or size <= 12:
            break
        size = int(size * 0.85)
    y = H / 2 - lh * len(lines) / 2 + (lh - size) / 2
    for line in lines:
        d.text((W / 2, y), line, font=font, fill=(236, 232, 222), anchor="ma")
        y += lh
    return img


def _source_background(path: str, W: int, H: int) -> Image.Image | None:
    try:
        with Image.open(path) as src:
            src.draft("RGB", (W, H))  # JPEG: decode at a reduced scale when that is enough
            src = ImageOps.exif_transpose(src).convert("RGB")
            sw, sh = src.size
            scale = max(W / sw, H / sh)  # cover: fill the frame, crop the overflow evenly
            cw, ch = W / scale, H / scale
            box = ((sw - cw) / 2, (sh - ch) / 2, (sw + cw) / 2, (sh + ch) / 2)
            img = src.resize((W, H), Image.BILINEAR, box=box, reducing_gap=2.0)
    except (OSError, ValueError):
        return None  # a missing or broken reference falls back to the drawn set
    return ImageEnhance.Color(img).enhance(0.78)  # slightly desaturated: a reference, not a take


def render_layers(spec: dict, width: int, height: int) -> tuple[Image.Image, Image.Image | None]:
    """The keyframe picture without frame-fixed overlays, and the overlay (see ``render_overlay``)."""
    W, H = keyframe_size(width, height)
    fw, fh = float(width), float(height)  # the film frame, centred: what a static camera sees
    if spec.get("card"):
        return _card(spec["card"], W, H, fw, fh), None
    sc = _scene(spec)
    if spec.get("source_image"):
        img = _source_background(str(spec["source_image"]), W, H)
        if img is not None:
            return img, render_overlay(spec, width, height)
    fr = _Frame(*_canvas_size(sc, W, H), fw, fh)
    img = _through_the_camera(_drawn(sc, fr), sc, fr, (W, H))
    return img, render_overlay(spec, width, height)


def _canvas_size(sc: _Scene, W: int, H: int) -> tuple[int, int]:
    """The keyframe's size, or for a dutch angle the box that still covers it once tilted."""
    if sc.angle != "dutch angle":
        return W, H
    c, s = math.cos(math.radians(_DUTCH_DEGREES)), math.sin(math.radians(_DUTCH_DEGREES))
    return 2 * math.ceil((W * c + H * s) / 2), 2 * math.ceil((W * s + H * c) / 2)


def _depth_scale(sc: _Scene) -> float:
    """The background's drawing scale (below 1: drawn small and upscaled, out of focus): the
    size's depth of field, unless the script wrote a focus or a lens that says otherwise."""
    base = _BG_SCALE.get(sc.size, 1.0)
    written = _FOCUS_SCALE.get(sc.focus, _LENS_SCALE.get(sc.lens))
    if written is None:
        return base
    return 1.0 if written == 1.0 else min(base, written)


def _drawn(sc: _Scene, fr: _Frame) -> Image.Image:
    """The set and the figures, composed by shot size and angle, on ``fr``'s canvas."""
    spec = sc.spec
    W, H, fw, fh = fr.W, fr.H, fr.fw, fr.fh
    chars = [c for c in (spec.get("characters") or []) if c]
    if sc.size == "extreme close-up" and (spec.get("speaker") or chars):
        img = Image.new("RGB", (W, H))  # the face fills the frame: no set to draw behind it
        bar = _bar_height(spec, fw, fh)
        _compose_figures(img, sc, fr, fr.y(1.0) - bar - fh * 0.045)
        return img
    k = _depth_scale(sc)
    bf = fr.scaled(k)
    if sc.overhead:
        img = _aerial(sc, bf)
    elif sc.interior:
        img = _interior(sc, bf)
    else:
        img = _exterior(sc, bf)
    if sc.size == "insert":
        _insert_object(img, sc, bf)
    _weather(img, sc, bf)
    if k != 1.0:
        if k < _BG_SCALE.get(sc.size, 1.0) or sc.focus in _FOCUS_SCALE:
            # a written shallow field: soften the small canvas too, so edges melt, not step
            img = img.filter(ImageFilter.GaussianBlur(1.5))
        # a light falloff on the small canvas costs nothing; at full size it would cost a
        # full-frame paste, so wide shots rely on their darker sky top and near ground instead
        _vignette(img, 0.3)
        img = img.resize((W, H), Image.BILINEAR)
    if sc.lighting in ("silhouette", "backlit"):  # the light behind the figures
        strength = 1.0 if sc.lighting == "silhouette" else 0.7
        _glow(img, fr.x(0.5), fr.y(min(sc.horizon, 0.6)), fr.s(1.1), fr.s(0.7),
              _mix(sc.palette.light, (255, 255, 255), 0.4), strength, power=1.2)
    bar = _bar_height(spec, fw, fh)
    name_floor = fr.y(1.0) - bar - fh * 0.045
    _compose_figures(img, sc, fr, name_floor)
    if sc.size == "pov":
        _vignette(img, 0.85)
    return img


def _through_the_camera(img: Image.Image, sc: _Scene, fr: _Frame, size: tuple[int, int]) -> Image.Image:
    """What the written camera language does to the drawn picture: the lighting key's tones,
    soft focus, the perspective of an angle looking up or down, the tilt of a dutch angle."""
    if sc.lighting == "low-key":
        img = ImageEnhance.Brightness(ImageEnhance.Contrast(img).enhance(1.25)).enhance(0.5)
        _vignette(img, 0.7)
    elif sc.lighting == "high-key":
        img = Image.blend(ImageEnhance.Contrast(img).enhance(0.8), Image.new("RGB", img.size,
                                                                            (255, 255, 255)), 0.3)
    elif sc.lighting == "hard light":
        img = ImageEnhance.Contrast(img).enhance(1.3)
    elif sc.lighting == "soft light":
        img = ImageEnhance.Contrast(img).enhance(0.8)
    if sc.focus == "soft focus":
        img = img.filter(ImageFilter.GaussianBlur(max(1.0, fr.s(0.004))))
    if sc.angle in _KEYSTONE:
        direction, amount = _KEYSTONE[sc.angle]
        w, h = img.size
        inset = w * amount
        # the quad of the picture that fills the frame: narrower at the magnified edge
        quad = ((0, 0, inset, h, w - inset, h, w, 0) if direction == "up"
                else (inset, 0, 0, h, w, h, w - inset, 0))
        img = img.transform(img.size, Image.QUAD, quad, Image.BILINEAR)
    if sc.angle == "dutch angle":
        W, H = size
        img = img.rotate(_DUTCH_DEGREES, resample=Image.BICUBIC)
        left, top = (img.width - W) // 2, (img.height - H) // 2
        img = img.crop((left, top, left + W, top + H))
    return img


def render_keyframe(spec: dict, width: int, height: int) -> Image.Image:
    """A storyboard keyframe (RGB) for a ``width``×``height`` film frame, ``MARGIN`` larger.

    The caption bar and label are drawn inside the centre film-frame area."""
    img, ov = render_layers(spec, width, height)
    if ov is not None:
        W, H = img.size
        _paste_overlay(img, ov, (W - width) // 2, (H - height) // 2)
    return img
