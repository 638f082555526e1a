"""The draft picture: storyboard keyframes and overlays (CPU, no weights). The camera moves are
covered in test_video.py."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from moviola.runtime.backends.draft import storyboard
from moviola.runtime.backends.draft.storyboard import (MARGIN, SHOT_SIZES, character_colour,
                                                       render_keyframe, render_layers,
                                                       render_overlay)

W, H = 480, 270  # small frames keep the suite fast; geometry is resolution-independent


def spec(**over) -> dict:
    base = dict(size="wide", setting="EXT", time="DAY", place="WASH-HOUSE",
                location="an old stone wash-house on a river bank, poplars and willows",
                characters=["MARIE", "JEANNE"], speaker="MARIE",
                caption="Fog drifts over the water. The stone basins are empty.",
                label="3.2", card=None, seed=7, source_image=None)
    base.update(over)
    return base


def colour_area(img: Image.Image, colour) -> int:
    a = np.asarray(img)
    return int(np.all(a == np.array(colour, dtype=np.uint8), axis=2).sum())


def luminance(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114


# ---------------------------------------------------------------------------------------------
# keyframes


@pytest.mark.parametrize("size", [(1280, 720), (1600, 900), (641, 361)])
def test_keyframe_size_and_mode(size):
    w, h = size
    img = render_keyframe(spec(), w, h)
    assert img.mode == "RGB"
    kw, kh = img.size
    assert abs(kw - w * MARGIN) <= 1 and abs(kh - h * MARGIN) <= 1
    assert kw % 2 == 0 and kh % 2 == 0


@pytest.mark.parametrize("size", list(SHOT_SIZES) + [None, "nonsense"])
@pytest.mark.parametrize("setting,time", [("EXT", "NIGHT"), ("INT", "DAY"), (None, None)])
def test_every_shot_size_renders(size, setting, time):
    img = render_keyframe(spec(size=size, setting=setting, time=time), 320, 180)
    assert img.size == (400, 226)
    # a readable frame, not a flat fill
    assert luminance(img).std() > 5


def test_empty_values_render():
    img = render_keyframe(spec(place=None, location="", characters=[], speaker=None, caption="",
                               label=None, seed=None), 320, 180)
    assert img.size == (400, 226)


def test_deterministic():
    s = spec(size="medium", time="DUSK")
    assert render_keyframe(s, W, H).tobytes() == render_keyframe(dict(s), W, H).tobytes()


def test_night_darker_than_day():
    day = luminance(render_keyframe(spec(time="DAY"), W, H)).mean()
    night = luminance(render_keyframe(spec(time="NIGHT"), W, H)).mean()
    dusk = np.asarray(render_keyframe(spec(time="DUSK"), W, H), dtype=float).mean(axis=(0, 1))
    assert night < day * 0.5
    assert dusk[0] > dusk[2]  # dusk is warm: more red than blue


def test_interior_night_has_lamp_glow():
    img = np.asarray(render_keyframe(spec(setting="INT", time="NIGHT", size="wide"), W, H))
    warm = (img[..., 0].astype(int) - img[..., 2]) > 40
    assert warm.sum() > 200


def test_close_up_figure_larger_than_wide():
    colour = character_colour("MARIE")
    wide = colour_area(render_keyframe(spec(size="wide"), W, H), colour)
    close = colour_area(render_keyframe(spec(size="close-up"), W, H), colour)
    extreme = colour_area(render_keyframe(spec(size="extreme wide"), W, H), colour)
    assert 0 < extreme < wide < close
    assert close > 10 * wide


def test_insert_has_no_figures():
    s = spec(size="insert", caption="A cup of coffee on the table.")
    img = render_keyframe(s, W, H)
    assert colour_area(img, character_colour("MARIE")) == 0
    assert colour_area(img, character_colour("JEANNE")) == 0


def test_character_colour_stable_and_distinct():
    assert character_colour("MARIE") == character_colour("marie")
    assert character_colour("MARIE") != character_colour("JEANNE")


def test_card_is_black_with_centred_text():
    img = render_keyframe(spec(card="THE WASH-HOUSE\nby A. Student"), W, H)
    lum = luminance(img)
    assert (lum < 20).mean() > 0.9
    kh, kw = lum.shape
    light = lum > 150
    assert light[kh // 3: 2 * kh // 3, kw // 4: 3 * kw // 4].sum() > 100
    assert light[: kh // 4].sum() == 0 and light[3 * kh // 4:].sum() == 0
    assert render_overlay(spec(card="X"), W, H) is None


def test_source_image_dominates(tmp_path):
    path = tmp_path / "ref.png"
    Image.new("RGB", (300, 500), (200, 40, 30)).save(path)  # another aspect: cover-fit crops
    img = render_keyframe(spec(source_image=str(path)), W, H)
    mean = np.asarray(img, dtype=float).mean(axis=(0, 1))
    assert mean[0] > 120 and mean[0] > 2 * mean[1] and mean[0] > 2 * mean[2]
    # slightly desaturated, not the raw colour
    centre = np.asarray(img)[img.height // 2, img.width // 2]
    assert tuple(centre) != (200, 40, 30)


def test_missing_source_image_falls_back(tmp_path):
    img = render_keyframe(spec(source_image=str(tmp_path / "absent.jpg")), W, H)
    assert img.size == render_keyframe(spec(), W, H).size


def test_caption_is_cut_to_three_lines():
    font = storyboard._font("sans", 20)
    text = "word " * 200
    lines = storyboard._wrap(text, font, 200, 3)
    assert len(lines) == 3 and lines[-1].endswith("…")
    assert all(font.getlength(line) <= 200 for line in lines)


def test_layers_and_overlay():
    pic, ov = render_layers(spec(), W, H)
    assert pic.size == render_keyframe(spec(), W, H).size
    assert ov.mode == "RGBA" and ov.size == (W, H)
    alpha = np.asarray(ov)[..., 3]
    assert alpha[-H // 10:].mean() > 100  # the caption bar at the bottom
    assert alpha[H // 3: 2 * H // 3].max() == 0  # the middle of the picture stays clear
    bare = render_overlay(spec(caption="", label=None, place=None, setting=None, time=None), W, H)
    assert np.asarray(bare)[H // 3:, :, 3].max() == 0  # no caption: no bar


# ---------------------------------------------------------------------------------------------
# camera language: angle, focus, lighting (what `[[shot: low angle, …]]` does to the draft)


def field(**over) -> dict:
    """An open field by day: blue sky over green ground, so the horizon can be measured."""
    return spec(**{"place": "FIELD", "location": "", "caption": "", "characters": [],
                   "speaker": None, **over})


def horizon_rows(img: Image.Image) -> np.ndarray:
    """Per column, the row below the lowest sky pixel (blue over green: the sun and clouds are
    above it, so the lowest one is the horizon)."""
    a = np.asarray(img, dtype=np.int16)
    sky = a[..., 2] - a[..., 1] > 8
    rows = np.arange(a.shape[0])[:, None]
    return np.where(sky, rows, -1).max(axis=0) + 1


def figure_rows(img: Image.Image, name: str) -> tuple[int, int]:
    """The first and last rows holding the character's colour (the torso and the head)."""
    a = np.asarray(img, dtype=np.int16)
    near = np.abs(a - np.array(character_colour(name))).sum(axis=2) <= 6
    rows = np.flatnonzero(near.sum(axis=1) >= 3)
    return int(rows[0]), int(rows[-1])


@pytest.mark.parametrize("size", ["wide", "full", "extreme wide"])
def test_a_low_angle_puts_the_horizon_lower_and_a_high_angle_higher(size):
    eye = np.median(horizon_rows(render_layers(field(size=size), W, H)[0]))
    low = np.median(horizon_rows(render_layers(field(size=size, angle="low angle"), W, H)[0]))
    high = np.median(horizon_rows(render_layers(field(size=size, angle="high angle"), W, H)[0]))
    worm = np.median(horizon_rows(render_layers(field(size=size, angle="worm's-eye"), W, H)[0]))
    assert low - eye > 0.15 * H        # looks up: more sky, the ground low in the frame
    assert eye - high > 0.2 * H        # looks down: the ground fills the frame
    assert worm > low


def test_eye_level_written_draws_what_no_angle_draws():
    assert (render_layers(field(), W, H)[0].tobytes()
            == render_layers(field(angle="eye level"), W, H)[0].tobytes())


def test_a_low_angle_figure_looms_and_a_high_angle_one_shrinks():
    one = dict(characters=["MARIE"], speaker="MARIE")
    top, bottom = figure_rows(render_layers(field(**one), W, H)[0], "MARIE")
    low_top, low_bottom = figure_rows(render_layers(field(angle="low angle", **one), W, H)[0], "MARIE")
    high_top, high_bottom = figure_rows(render_layers(field(angle="high angle", **one), W, H)[0], "MARIE")
    assert low_top < top - 5 and low_bottom - low_top > (bottom - top) * 1.1   # taller, head higher
    assert high_bottom - high_top < (bottom - top) * 0.95
    # the horizon falls behind the looming figure: its head is in the sky
    low_pic = render_layers(field(angle="low angle", **one), W, H)[0]
    assert low_top < np.median(horizon_rows(low_pic)) - 0.2 * H


def test_a_dutch_angle_tilts_the_horizon():
    def slope(img):
        rows = horizon_rows(img)
        columns = np.arange(rows.size)
        inside = (rows > 0) & (rows < img.height)
        return np.polyfit(columns[inside], rows[inside], 1)[0]

    level = slope(render_layers(field(), W, H)[0])
    dutch_pic = render_layers(field(angle="dutch angle"), W, H)[0]
    tilt = np.degrees(np.arctan(abs(slope(dutch_pic))))
    assert abs(level) < 0.03
    assert 9 < tilt < 15                      # the frame turned by the dutch angle (12°)
    assert dutch_pic.size == render_layers(field(), W, H)[0].size


def test_overhead_looks_down_with_no_horizon():
    picture = render_layers(field(size="medium", angle="overhead", characters=["MARIE"],
                                  speaker="MARIE"), W, H)[0]
    a = np.asarray(picture, dtype=np.int16)
    assert ((a[..., 2] - a[..., 1]) > 8).mean() < 0.02          # no sky at all
    assert colour_area(picture, character_colour("MARIE")) > 0  # seen from above, still there


def background_detail(img: Image.Image) -> float:
    """Mean difference between neighbouring pixels beside the figure, around the horizon (the
    set's buildings, trees and water)."""
    y = luminance(img)
    band = slice(img.height * 3 // 10, img.height * 7 // 10)
    corner = np.concatenate([y[band, : img.width // 4], y[band, -img.width // 4:]], axis=1)
    return float(np.abs(np.diff(corner, axis=1)).mean() + np.abs(np.diff(corner, axis=0)).mean())


def test_shallow_focus_blurs_the_background_and_deep_focus_sharpens_it():
    def detail(**over):
        return background_detail(render_layers(spec(characters=[], speaker=None, **over), W, H)[0])

    sharp, shallow = detail(size="medium"), detail(size="medium", focus="shallow focus")
    assert shallow < sharp * 0.8
    assert detail(size="close-up", focus="deep focus") > detail(size="close-up") * 1.2
    assert detail(size="medium", lens="telephoto") < sharp * 0.85   # a long lens: shallow field


def test_low_key_darkens_high_key_lightens_and_a_silhouette_is_black():
    plain = luminance(render_layers(spec(size="medium"), W, H)[0]).mean()
    low = luminance(render_layers(spec(size="medium", lighting="low-key"), W, H)[0]).mean()
    high = luminance(render_layers(spec(size="medium", lighting="high-key"), W, H)[0]).mean()
    assert low < plain * 0.6 and high > plain * 1.15
    silhouette = render_layers(spec(size="medium", lighting="silhouette"), W, H)[0]
    assert colour_area(silhouette, character_colour("MARIE")) == 0
    lit = render_layers(spec(size="medium"), W, H)[0]
    assert colour_area(lit, character_colour("MARIE")) > 1000


def test_the_label_names_the_angle():
    plain = render_overlay(spec(), W, H)
    low = render_overlay(spec(angle="low angle"), W, H)
    box = (0, 0, W // 2, H // 8)
    assert np.asarray(low.crop(box))[..., 3].astype(bool).sum() > \
        np.asarray(plain.crop(box))[..., 3].astype(bool).sum()
