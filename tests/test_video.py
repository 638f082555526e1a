"""The draft picture in motion: runtime/video.py's camera window, YUV conversion, overlay,
transitions and the H.264 segments render_clip writes (decoded back with PyAV)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from moviola.runtime.video import AMOUNT, encode_frames, frame_rate, render_clip, to_yuv, window

W, H = 320, 180            # the frame
KW, KH = 400, 226          # the keyframe, drawn 1.25x larger (even sizes, as the storyboard does)
FPS = 24

MOVES = ["static", "push in", "pull out", "pan left", "pan right", "tilt up", "tilt down",
         "track left", "track right", "crane up", "crane down", "zoom in", "zoom out",
         "handheld", "orbit", "whip pan left", "whip pan right", "drone"]
SPEEDS = ["slow", "normal", "fast"]

# Saturated blocks on a grey background, placed where every move's window keeps them in view.
RED = (110, 70, 150, 110)       # (left, top, right, bottom) in keyframe pixels, right/bottom exclusive
BLUE = (240, 120, 280, 160)
GREEN = (180, 150, 210, 170)


def pattern(invert: bool = False) -> Image.Image:
    """A grey gradient (left dark, right light, a little vertical ramp) with three coloured blocks;
    ``invert`` gives a clearly different picture for the dissolve."""
    x = np.linspace(40, 200, KW, dtype=np.float32)[None, :]
    y = np.linspace(0, 30, KH, dtype=np.float32)[:, None]
    grey = np.clip(x + y, 0, 255).astype(np.uint8)
    img = Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
    draw = ImageDraw.Draw(img)
    for box, colour in ((RED, (230, 25, 25)), (BLUE, (25, 40, 230)), (GREEN, (30, 210, 40))):
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=colour)
    if invert:
        img = Image.fromarray(255 - np.asarray(img))
    return img


@pytest.fixture(scope="module")
def keyframe() -> Image.Image:
    return pattern()


def render(tmp_path, name, keyframe, **kw):
    args = dict(move="static", speed="normal", frames=6, fps=FPS, width=W, height=H)
    args.update(kw)
    path = tmp_path / f"{name}.mp4"
    return path, render_clip(path, keyframe, **args).seen


def decode(path, fmt="rgb24") -> list[np.ndarray]:
    """rgb24: (H, W, 3); None: the frame's own layout, (H*3/2, W) for yuv420p."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format=fmt) if fmt else frame.to_ndarray()
                for frame in container.decode(video=0)]


def block_mask(rgb: np.ndarray, channel: int) -> np.ndarray:
    """Pixels where ``channel`` dominates the other two (the grey background never does)."""
    a = rgb.astype(np.int32)
    others = [c for c in range(3) if c != channel]
    return a[..., channel] - np.maximum(a[..., others[0]], a[..., others[1]]) > 90


def centroid(rgb: np.ndarray, channel: int = 0) -> tuple[float, float]:
    ys, xs = np.nonzero(block_mask(rgb, channel))
    assert len(xs) > 50, "block not found in frame"
    return float(xs.mean()), float(ys.mean())


def block_width(rgb: np.ndarray, channel: int = 0) -> int:
    """The widest row of the block, in frame pixels."""
    return int(block_mask(rgb, channel).sum(axis=1).max())


def luma(rgb: np.ndarray) -> np.ndarray:
    a = rgb.astype(np.float32)
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int32) - b.astype(np.int32)).mean())


def shift_1d(a: np.ndarray, b: np.ndarray, max_lag: int) -> int:
    """k such that b[i] ≈ a[i - k] (the profile moved by +k), by normalized cross-correlation."""
    n = len(a)
    best, best_k = -2.0, 0
    for k in range(-max_lag, max_lag + 1):
        x, y = (a[: n - k], b[k:]) if k >= 0 else (a[-k:], b[: n + k])
        x, y = x - x.mean(), y - y.mean()
        c = float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-9))
        if c > best:
            best, best_k = c, k
    return best_k


def expected_box(move, speed, t) -> tuple[int, int, int, int]:
    """The integer crop box (x0, y0, w, h) render_clip takes at time t, rebuilt from ``window``."""
    cx, cy, scale = window(move, speed, t, (KW, KH), (W, H))
    w = int(round(W * scale / 2)) * 2
    h = int(round(H * scale / 2)) * 2
    x0 = min(max(int(round((cx - w / 2) / 2)) * 2, 0), KW - w)
    y0 = min(max(int(round((cy - h / 2) / 2)) * 2, 0), KH - h)
    return x0, y0, w, h


# ---------------------------------------------------------------------------------------------
# the window (pure geometry)


@pytest.mark.parametrize("key_size,frame_size", [((KW, KH), (W, H)), ((1600, 900), (1280, 720)),
                                                 ((2400, 1350), (1920, 1080)), ((1068, 600), (854, 480))])
def test_window_stays_inside_keyframe(key_size, frame_size):
    kw, kh = key_size
    fw, fh = frame_size
    for move in MOVES:
        for speed in SPEEDS:
            for t in np.linspace(0.0, 1.0, 25):
                cx, cy, s = window(move, speed, float(t), key_size, frame_size)
                assert s > 0, (move, speed, t)
                assert cx - s * fw / 2 >= -1e-6 and cx + s * fw / 2 <= kw + 1e-6, (move, speed, t)
                assert cy - s * fh / 2 >= -1e-6 and cy + s * fh / 2 <= kh + 1e-6, (move, speed, t)


def test_window_static_is_the_centre():
    for t in (0.0, 0.3, 1.0):
        assert window("static", "normal", t, (KW, KH), (W, H)) == (KW / 2, KH / 2, 1.0)


def test_window_directions():
    def at(move, t):
        return window(move, "normal", t, (KW, KH), (W, H))
    # the camera turns left: the window slides left over the keyframe
    assert at("pan left", 1)[0] < at("pan left", 0)[0] - 40
    assert at("pan right", 1)[0] > at("pan right", 0)[0] + 40
    assert at("track left", 1)[0] < at("track left", 0)[0]
    assert at("tilt up", 1)[1] < at("tilt up", 0)[1] - 20
    assert at("tilt down", 1)[1] > at("tilt down", 0)[1] + 20
    # push in tightens the window, pull out widens it; both monotonic
    for move, sign in (("push in", -1), ("zoom in", -1), ("pull out", 1), ("zoom out", 1)):
        scales = [at(move, t)[2] for t in np.linspace(0, 1, 13)]
        steps = np.diff(scales) * sign
        assert np.all(steps >= -1e-9) and scales[-1] * sign > scales[0] * sign, move


def test_window_eases_in_and_out():
    xs = [window("pan right", "normal", t, (KW, KH), (W, H))[0] for t in np.linspace(0, 1, 21)]
    steps = np.diff(xs)
    assert np.all(steps >= 0)
    assert steps[0] < steps[10] / 4 and steps[-1] < steps[10] / 4


@pytest.mark.parametrize("move,component", [("pan right", 0), ("pan left", 0), ("tilt up", 1),
                                            ("tilt down", 1), ("push in", 2), ("pull out", 2),
                                            ("orbit", 0)])
def test_speed_scales_travel(move, component):
    def travel(speed):
        a = window(move, speed, 0.0, (KW, KH), (W, H))[component]
        b = window(move, speed, 1.0, (KW, KH), (W, H))[component]
        return abs(b - a)
    assert 0 < travel("slow") < travel("normal") <= travel("fast"), move
    assert travel("slow") < travel("fast")
    assert set(AMOUNT) == {"slow", "normal", "fast"}


def test_unknown_speed_is_normal():
    assert window("pan left", "glacial", 0.4, (KW, KH), (W, H)) == \
        window("pan left", "normal", 0.4, (KW, KH), (W, H))


def test_handheld_deterministic_small_smooth():
    ts = np.linspace(0, 1, 48)
    a = [window("handheld", "normal", float(t), (KW, KH), (W, H)) for t in ts]
    b = [window("handheld", "normal", float(t), (KW, KH), (W, H)) for t in ts]
    assert a == b
    xs, ys = np.array([p[0] for p in a]), np.array([p[1] for p in a])
    assert np.ptp(xs) > 1 and np.ptp(ys) > 0.5          # it does wobble
    assert np.ptp(xs) < 0.1 * W and np.ptp(ys) < 0.1 * H  # but only a little
    # smooth: no jumps from one frame to the next (48 frames: a two-second shot)
    assert np.abs(np.diff(xs)).max() < 0.02 * W and np.abs(np.diff(ys)).max() < 0.02 * H


# ---------------------------------------------------------------------------------------------
# conversion


def test_frame_rate_integer():
    assert frame_rate(24) == Fraction(24, 1)
    assert frame_rate(25) == Fraction(25, 1)
    assert frame_rate(30.0) == Fraction(30, 1)
    assert frame_rate(24000 / 1001) == Fraction(24000, 1001)


# NTSC rates must be the exact 1000/1001 fractions players expect, not the decimal written.
def test_frame_rate_ntsc():
    assert frame_rate(23.976) == Fraction(24000, 1001)
    assert frame_rate(29.97) == Fraction(30000, 1001)
    assert frame_rate(59.94) == Fraction(60000, 1001)


def test_to_yuv_levels_and_shapes():
    y, u, v = to_yuv(Image.new("RGB", (7, 5), (255, 255, 255)))   # odd sizes crop to even
    assert y.shape == (4, 6) and u.shape == (2, 3) and v.shape == (2, 3)
    assert y.dtype == u.dtype == v.dtype == np.uint8
    assert np.all(y == 235) and np.all(u == 128) and np.all(v == 128)
    y, u, v = to_yuv(Image.new("RGB", (4, 4), (0, 0, 0)))
    assert np.all(y == 16) and np.all(u == 128) and np.all(v == 128)
    y, u, v = to_yuv(Image.new("RGB", (4, 4), (255, 0, 0)))
    assert np.all(y == 82) and np.all(u == 90) and np.all(v == 240)   # BT.601 limited red


def test_to_yuv_round_trips_through_pyav(keyframe):
    y, u, v = to_yuv(keyframe)
    packed = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(KH * 3 // 2, KW)
    rgb = av.VideoFrame.from_ndarray(packed, format="yuv420p").to_ndarray(format="rgb24")
    # 4:2:0 blurs colour at the block edges; the grey and the block interiors come back
    inner = np.asarray(keyframe)[RED[1] + 2:RED[3] - 2, RED[0] + 2:RED[2] - 2]
    assert mean_diff(rgb[RED[1] + 2:RED[3] - 2, RED[0] + 2:RED[2] - 2], inner) < 4
    assert mean_diff(rgb[:60, :100], np.asarray(keyframe)[:60, :100]) < 3


# ---------------------------------------------------------------------------------------------
# the encoded segment


def test_segment_format_and_frame_count(tmp_path, keyframe):
    path, _ = render(tmp_path, "pan", keyframe, move="pan left", frames=7)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (W, H)
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate == FPS
        frames = list(container.decode(video=0))
    assert len(frames) == 7
    assert all(f.format.name == "yuv420p" and (f.width, f.height) == (W, H) for f in frames)
    assert [f.pts for f in frames] == sorted(f.pts for f in frames)
    assert float(frames[-1].time - frames[0].time) == pytest.approx(6 / FPS, abs=1e-3)


def test_single_frame(tmp_path, keyframe):
    path, last = render(tmp_path, "one", keyframe, move="push in", frames=1)
    assert len(decode(path)) == 1
    assert last is not None and last[0].shape == (H, W)


def test_ntsc_segment_rate(tmp_path, keyframe):
    path, _ = render(tmp_path, "ntsc", keyframe, frames=3, fps=23.976)
    with av.open(str(path)) as container:
        assert container.streams.video[0].average_rate == Fraction(24000, 1001)


@pytest.mark.parametrize("move", MOVES)
def test_every_move_renders(tmp_path, keyframe, move):
    path, last = render(tmp_path, "m", keyframe, move=move, speed="fast", frames=5)
    frames = decode(path)
    assert len(frames) == 5
    assert all(f.shape == (H, W, 3) for f in frames)
    assert last[0].shape == (H, W) and last[1].shape == (H // 2, W // 2) == last[2].shape
    # the red block is in view from the first frame to the last
    for f in (frames[0], frames[-1]):
        centroid(f, 0)


def test_static_frames_identical_and_centred(tmp_path, keyframe, monkeypatch):
    from moviola.runtime import video

    fed = []
    write = video.ClipEncoder.write
    monkeypatch.setattr(video.ClipEncoder, "write",
                        lambda self, frame: (fed.append(frame.to_ndarray().copy()), write(self, frame)))
    path, _ = render(tmp_path, "static", keyframe, move="static", frames=8)
    # the encoder is given the very same picture for every frame...
    assert len(fed) == 8 and all(np.array_equal(f, fed[0]) for f in fed)
    frames = decode(path)
    assert len(frames) == 8
    # ...and the decoded frames are the same picture; not bit-identical, because x264's P-frames
    # keep refining a static picture at crf 20 (a few levels on some pixels)
    for f in frames[1:]:
        d = np.abs(f.astype(np.int32) - frames[0])
        assert d.mean() < 0.5 and d.max() <= 12, (d.mean(), d.max())
    # the static frame is the keyframe's centre
    x0, y0 = (KW - W) // 2, (KH - H) // 2
    assert mean_diff(frames[0], np.asarray(keyframe)[y0:y0 + H, x0:x0 + W]) < 3


def test_first_frame_is_the_window_at_t0(tmp_path, keyframe):
    path, _ = render(tmp_path, "pan", keyframe, move="pan right", frames=6)
    first = decode(path)[0]
    x0, y0, w, h = expected_box("pan right", "normal", 0.0)
    assert (w, h) == (W, H)
    assert mean_diff(first, np.asarray(keyframe)[y0:y0 + h, x0:x0 + w]) < 3


def test_pans_move_content_in_opposite_directions(tmp_path, keyframe):
    shifts = {}
    for move in ("pan left", "pan right"):
        path, _ = render(tmp_path, move.replace(" ", "_"), keyframe, move=move, frames=8)
        frames = decode(path)
        (x_a, y_a), (x_b, y_b) = centroid(frames[0]), centroid(frames[-1])
        # the camera's travel over the keyframe, mirrored: what the picture should do
        expected = -(expected_box(move, "normal", 1.0)[0] - expected_box(move, "normal", 0.0)[0])
        assert x_b - x_a == pytest.approx(expected, abs=2), move
        assert abs(y_b - y_a) < 1.5, move                      # a pan does not tilt
        # the whole picture moves, not just the block: a row's profile correlates at that shift
        row = H // 2 - 40
        lag = shift_1d(luma(frames[0])[row], luma(frames[-1])[row], W // 3)
        assert abs(lag - expected) <= 2, (move, lag, expected)
        shifts[move] = x_b - x_a
    # panning left brings what was on the left into view: content slides right
    assert shifts["pan left"] > 30 and shifts["pan right"] < -30, shifts
    assert abs(shifts["pan left"] + shifts["pan right"]) <= 2


def test_tilts_move_content_vertically(tmp_path, keyframe):
    shifts = {}
    for move in ("tilt up", "tilt down"):
        path, _ = render(tmp_path, move.replace(" ", "_"), keyframe, move=move, frames=6)
        frames = decode(path)
        (x_a, y_a), (x_b, y_b) = centroid(frames[0]), centroid(frames[-1])
        expected = -(expected_box(move, "normal", 1.0)[1] - expected_box(move, "normal", 0.0)[1])
        assert y_b - y_a == pytest.approx(expected, abs=2), move
        assert abs(x_b - x_a) < 1.5, move
        shifts[move] = y_b - y_a
    # tilting up brings what was above into view: content slides down
    assert shifts["tilt up"] > 15 and shifts["tilt down"] < -15, shifts


@pytest.mark.parametrize("move,grows", [("push in", True), ("zoom in", True),
                                        ("pull out", False), ("zoom out", False)])
def test_zoom_changes_apparent_size(tmp_path, keyframe, move, grows):
    path, _ = render(tmp_path, move.replace(" ", "_"), keyframe, move=move, frames=8)
    frames = decode(path)
    widths = [block_width(f) for f in frames]
    # expected magnification between the first and last frame, from the crop widths
    w0, w1 = expected_box(move, "normal", 0.0)[2], expected_box(move, "normal", 1.0)[2]
    ratio = widths[-1] / widths[0]
    assert ratio == pytest.approx(w0 / w1, rel=0.08), (move, widths, w0, w1)
    if grows:
        assert ratio > 1.12
        assert all(b >= a - 1 for a, b in zip(widths, widths[1:])), widths
    else:
        assert ratio < 1 / 1.12
        assert all(b <= a + 1 for a, b in zip(widths, widths[1:])), widths


def test_fast_moves_further_than_slow_on_screen(tmp_path, keyframe):
    travel = {}
    for speed in ("slow", "fast"):
        path, _ = render(tmp_path, speed, keyframe, move="pan right", speed=speed, frames=6)
        frames = decode(path)
        travel[speed] = abs(centroid(frames[-1])[0] - centroid(frames[0])[0])
    assert 10 < travel["slow"] < travel["fast"] - 10, travel


def test_handheld_renders_deterministically(tmp_path, keyframe):
    a = decode(render(tmp_path, "h1", keyframe, move="handheld", frames=8)[0])
    b = decode(render(tmp_path, "h2", keyframe, move="handheld", frames=8)[0])
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    xs = [centroid(f)[0] for f in a]
    assert np.ptp(xs) > 1 and np.ptp(xs) < 0.1 * W       # a small wobble, not a pan


@pytest.mark.parametrize("move", ["pan right", "push in", "orbit"])
def test_render_deterministic(tmp_path, keyframe, move):
    pa, la = render(tmp_path, "a", keyframe, move=move, frames=6, fade_in=2)
    pb, lb = render(tmp_path, "b", keyframe, move=move, frames=6, fade_in=2)
    a, b = decode(pa, None), decode(pb, None)
    assert len(a) == len(b) == 6
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert all(np.array_equal(x, y) for x, y in zip(la, lb))


# ---------------------------------------------------------------------------------------------
# transitions


def test_fade_in(tmp_path, keyframe):
    path, _ = render(tmp_path, "fi", keyframe, move="static", frames=10, fade_in=5)
    plain = decode(render(tmp_path, "plain", keyframe, move="static", frames=2)[0])[0]
    frames = decode(path)
    levels = [float(luma(f).mean()) for f in frames]
    assert levels[0] < 30, levels                      # near black (the picture's mean is ≈ 125)
    assert levels[0] < levels[2] < levels[4] < levels[5], levels
    for f in frames[5:]:
        assert mean_diff(f, plain) < 3                 # after the fade: the plain picture


def test_fade_out(tmp_path, keyframe):
    path, last = render(tmp_path, "fo", keyframe, move="pan right", frames=10, fade_out=5)
    _, plain_last = render(tmp_path, "plain", keyframe, move="pan right", frames=10)
    frames = decode(path)
    levels = [float(luma(f).mean()) for f in frames]
    assert levels[-1] < 30, levels
    assert levels[4] > 100 and levels[5] > levels[7] > levels[-1], levels
    # the returned planes are the faded last frame (what a dissolve into the next cut starts from)
    # (weight 1/6 of the picture over limited-range black)
    expected_y = 16 + (plain_last[0].astype(np.float32) - 16) / 6
    assert np.abs(last[0] - expected_y).max() <= 1
    assert np.abs(last[1].astype(np.float32) - (128 + (plain_last[1] - 128.0) / 6)).max() <= 1


def test_dissolve(tmp_path, keyframe):
    other = pattern(invert=True)
    path_a, previous = render(tmp_path, "a", other, move="static", frames=4)
    old = decode(path_a)[-1]
    plain = decode(render(tmp_path, "plain", keyframe, move="static", frames=2)[0])[0]
    assert mean_diff(old, plain) > 40                  # the two pictures differ a lot

    path_b, _ = render(tmp_path, "b", keyframe, move="static", frames=10,
                       dissolve_from=previous, dissolve=6)
    frames = decode(path_b)
    assert len(frames) == 10
    # the first frame is mostly the previous cut's last picture...
    assert mean_diff(frames[0], old) < mean_diff(frames[0], plain) / 3
    assert mean_diff(frames[0], old) < 12
    # ...each frame of the dissolve is nearer the new picture...
    towards = [mean_diff(f, plain) for f in frames[:7]]
    assert all(b < a for a, b in zip(towards, towards[1:])), towards
    # ...and the frame after the dissolve is the new picture
    for f in frames[6:]:
        assert mean_diff(f, plain) < 3


def test_dissolve_without_previous_is_plain(tmp_path, keyframe):
    a = decode(render(tmp_path, "a", keyframe, frames=4, dissolve_from=None, dissolve=3)[0])
    b = decode(render(tmp_path, "b", keyframe, frames=4)[0])
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


# ---------------------------------------------------------------------------------------------
# overlay and the returned planes


def bar_overlay() -> Image.Image:
    """An opaque white caption bar on the bottom 20 rows, and a half-transparent black label
    starting on an odd row."""
    ov = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    draw = ImageDraw.Draw(ov)
    draw.rectangle((0, H - 20, W - 1, H - 1), fill=(255, 255, 255, 255))
    draw.rectangle((10, 11, 109, 30), fill=(0, 0, 0, 128))
    return ov


def test_overlay_stays_fixed_while_picture_moves(tmp_path, keyframe):
    path, _ = render(tmp_path, "ov", keyframe, move="pan right", frames=8, overlay=bar_overlay())
    plain_path, _ = render(tmp_path, "plain", keyframe, move="pan right", frames=8)
    frames, plain = decode(path), decode(plain_path)
    for f in frames:
        bar = luma(f[H - 18:H - 2])
        assert bar.min() > 235, bar.min()              # the bar is white in every frame
        assert luma(f[H - 40:H - 24]).max() < 235       # and does not spill above itself
    # the half-transparent label darkens the picture behind it by about half, every frame
    for f, p in zip(frames, plain):
        inside = luma(f[14:28, 14:106]).mean()
        behind = luma(p[14:28, 14:106]).mean()
        assert inside == pytest.approx(behind / 2, abs=8), (inside, behind)
        assert mean_diff(f[40:H - 40], p[40:H - 40]) < 3   # elsewhere untouched
    # while the picture behind it pans
    assert centroid(frames[-1])[0] < centroid(frames[0])[0] - 30


@pytest.mark.parametrize("move,extra", [("pan left", {}), ("push in", {}),
                                        ("static", {"fade_out": 3}), ("tilt down", {"overlay": True})])
def test_returned_planes_match_decoded_last_frame(tmp_path, keyframe, move, extra):
    if extra.get("overlay"):
        extra = dict(extra, overlay=bar_overlay())
    path, (y, u, v) = render(tmp_path, "last", keyframe, move=move, frames=7, **extra)
    assert y.shape == (H, W) and u.shape == v.shape == (H // 2, W // 2)
    assert y.dtype == u.dtype == v.dtype == np.uint8
    decoded = decode(path, None)[-1]
    assert decoded.shape == (H * 3 // 2, W)
    dy = np.abs(decoded[:H].astype(np.int32) - y)
    assert dy.mean() < 1.5 and np.percentile(dy, 99) < 8, (dy.mean(), dy.max())
    chroma = decoded[H:].reshape(-1)
    quarter = (H // 2) * (W // 2)
    du = np.abs(chroma[:quarter].reshape(H // 2, W // 2).astype(np.int32) - u)
    dv = np.abs(chroma[quarter:].reshape(H // 2, W // 2).astype(np.int32) - v)
    assert du.mean() < 1.5 and dv.mean() < 1.5


def test_a_whip_pan_turns_in_the_middle_and_a_drone_flies_in_and_up():
    def at(move, t):
        return window(move, "normal", t, (KW, KH), (W, H))
    xs = [at("whip pan right", t)[0] for t in np.linspace(0, 1, 21)]
    assert xs[0] == xs[6] and xs[14] == xs[20]             # held before and after the whip
    assert xs[20] - xs[0] > 40 and at("whip pan left", 1)[0] < at("whip pan left", 0)[0] - 40
    # a pan of the same length spreads its turn over the whole shot
    pan = [at("pan right", t)[0] for t in np.linspace(0, 1, 21)]
    assert max(np.diff(xs)) > 2 * max(np.diff(pan))
    start, end = at("drone", 0), at("drone", 1)
    assert end[2] < start[2] and end[1] < start[1]           # closer in, and looking from higher


@pytest.mark.parametrize("encode", ["camera move", "frames"])
def test_the_camera_frame_is_the_last_frame_without_caption_or_fade(tmp_path, keyframe, encode):
    """What a matching cut starts from: the picture, not the caption or the fade over it."""
    caption = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    caption.paste((255, 255, 255, 255), (0, H - 12, W, H))
    frames = [np.asarray(keyframe.resize((W, H)).convert("RGB"))] * 6

    def last_of(name, **kw):
        if encode == "frames":
            return encode_frames(tmp_path / f"{name}.mp4", iter(frames), count=6, fps=FPS,
                                 width=W, height=H, **kw)
        return render_clip(tmp_path / f"{name}.mp4", keyframe, move="pan right", speed="normal",
                           frames=6, fps=FPS, width=W, height=H, **kw)

    plain = last_of("plain")
    written = last_of("written", overlay=caption, fade_out=3)
    for seen, camera, bare in zip(written.seen, written.camera, plain.seen):
        assert np.array_equal(camera, bare)
        assert not np.array_equal(seen, bare)
