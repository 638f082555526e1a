"""Picture: a keyframe animated by a camera move, encoded as one H.264 segment per cut.

The draft profile renders a lot of frames on a small CPU, so the motion works on YUV 4:2:0
planes: the camera is a crop window over a keyframe drawn larger than the frame, moved with an
ease-in-out curve; an exact-size crop is a slice, a zoom goes through FFmpeg's scaler. Segments
share one encoder configuration, so the mux joins them without re-encoding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

AMOUNT = {"slow": 0.5, "normal": 1.0, "fast": 1.6}
X264_OPTIONS = {"preset": "ultrafast", "crf": "20", "x264-params": "scenecut=0:keyint=48:min-keyint=48"}


def frame_rate(fps: float) -> Fraction:
    """24 → 24/1, 23.976 → 24000/1001, 29.97 → 30000/1001."""
    ntsc = round(fps * 1.001)
    if abs(fps - ntsc / 1.001) < 0.01 and abs(fps - round(fps)) > 0.001:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def to_yuv(image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y at full size, U and V averaged over 2×2 blocks (BT.601 limited range, as PyAV reads it)."""
    width, height = image.size
    width -= width % 2
    height -= height % 2
    ycbcr = np.asarray(image.convert("RGB").crop((0, 0, width, height)), dtype=np.float32)
    r, g, b = ycbcr[..., 0], ycbcr[..., 1], ycbcr[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b

    def half(plane):
        return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))

    clip = lambda plane: np.clip(np.rint(plane), 0, 255).astype(np.uint8)  # noqa: E731
    return clip(y), clip(half(u)), clip(half(v))


def from_yuv(y: np.ndarray, u: np.ndarray, v: np.ndarray):
    """The RGB picture of YUV 4:2:0 planes (the inverse of :func:`to_yuv`): a clip's last frame
    as an image."""
    from PIL import Image

    chroma = lambda plane: np.repeat(np.repeat(plane.astype(np.float32) - 128, 2, 0), 2, 1)  # noqa: E731
    luma = 1.164 * (y.astype(np.float32) - 16)
    cb, cr = chroma(u)[:y.shape[0], :y.shape[1]], chroma(v)[:y.shape[0], :y.shape[1]]
    rgb = np.stack([luma + 1.596 * cr, luma - 0.813 * cr - 0.391 * cb, luma + 2.018 * cb], axis=-1)
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")


def crop_box(move: str, speed: str, t: float, key_size: tuple[int, int],
             frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The keyframe pixels (x0, y0, w, h) the frame at time t shows: :func:`window` on the
    even pixel grid the 4:2:0 planes need."""
    width, height = frame_size
    cx, cy, scale = window(move, speed, t, key_size, frame_size)
    w = int(round(width * scale / 2)) * 2
    h = int(round(height * scale / 2)) * 2
    x0 = int(round((cx - w / 2) / 2)) * 2
    y0 = int(round((cy - h / 2) / 2)) * 2
    return min(max(x0, 0), key_size[0] - w), min(max(y0, 0), key_size[1] - h), w, h


def continued_picture(frame, key_size: tuple[int, int], move: str, speed: str):
    """A keyframe picture whose camera move starts on ``frame`` (a matching cut): the frame laid
    in the window the move starts from, the room around it the frame itself, stretched and
    blurred (what the camera uncovers later in the shot)."""
    from PIL import ImageFilter

    x0, y0, w, h = crop_box(move, speed, 0.0, key_size, frame.size)
    picture = frame.resize(key_size).filter(ImageFilter.GaussianBlur(max(key_size) / 60))
    picture.paste(frame if frame.size == (w, h) else frame.resize((w, h)), (x0, y0))
    return picture


def _ease(t: float) -> float:
    return t * t * (3 - 2 * t)


def window(move: str, speed: str, t: float, key_size: tuple[int, int],
           frame_size: tuple[int, int]) -> tuple[float, float, float]:
    """Where the camera looks at time t ∈ [0, 1]: (centre x, centre y, scale), in keyframe pixels;
    scale 1 shows exactly frame_size keyframe pixels, above 1 shows more (wider)."""
    key_w, key_h = key_size
    frame_w, frame_h = frame_size
    widest = min(key_w / frame_w, key_h / frame_h)          # the whole keyframe (≈ MARGIN)
    amount = AMOUNT.get(speed, 1.0)
    e = _ease(t)
    cx, cy, scale = key_w / 2, key_h / 2, 1.0
    room_x = (key_w - frame_w) / 2
    room_y = (key_h - frame_h) / 2
    if move in ("push in", "zoom in"):
        scale = 1.0 - 0.18 * amount * e
        cy -= room_y * 0.2 * e
    elif move in ("pull out", "zoom out"):
        scale = 1.0 - 0.18 * amount * (1 - e) + (widest - 1.0) * e * min(amount, 1.0)
    elif move in ("pan left", "track left"):
        cx += room_x * amount * min(1.0, 1.0) * (1 - 2 * e) * 0.9
    elif move in ("pan right", "track right"):
        cx -= room_x * amount * (1 - 2 * e) * 0.9
    elif move in ("tilt up", "crane up"):
        cy += room_y * amount * (1 - 2 * e) * 0.9
        if move == "crane up":
            scale = 1.0 + (widest - 1.0) * 0.5 * e
    elif move in ("tilt down", "crane down"):
        cy -= room_y * amount * (1 - 2 * e) * 0.9
        if move == "crane down":
            scale = 1.0 + (widest - 1.0) * 0.5 * (1 - e)
    elif move == "handheld":
        phase = t * 6.0 * amount
        cx += room_x * 0.25 * (math.sin(phase * 2.1) * 0.6 + math.sin(phase * 3.7 + 1.3) * 0.4)
        cy += room_y * 0.25 * (math.sin(phase * 1.7 + 0.5) * 0.6 + math.sin(phase * 4.3 + 2.1) * 0.4)
        scale = 0.94
    elif move in ("whip pan left", "whip pan right"):
        # the whole pan in the middle fifth of the shot: a blur of a turn between two holds
        whip = _ease(min(max((t - 0.4) / 0.2, 0.0), 1.0))
        cx += (1 if move == "whip pan left" else -1) * room_x * (1 - 2 * whip) * 0.95
    elif move == "drone":
        # flying forward while rising: the view closes in and the ground slides down
        scale = 1.0 + (widest - 1.0) * 0.6 * (1 - e) - 0.12 * amount * e
        cy += room_y * 0.6 * amount * (1 - 2 * e)
    elif move == "orbit":
        cx += room_x * 0.8 * amount * (1 - 2 * e)
        scale = 1.0 - 0.08 * amount * math.sin(math.pi * t)
    # keep the window inside the keyframe
    scale = min(max(scale, 0.3), widest)
    half_w, half_h = frame_w * scale / 2, frame_h * scale / 2
    cx = min(max(cx, half_w), key_w - half_w)
    cy = min(max(cy, half_h), key_h - half_h)
    return cx, cy, scale


class ClipEncoder:
    """Writes one cut's frames to an H.264 mp4 segment."""

    def __init__(self, path: Path, width: int, height: int, fps: float):
        import av

        self.av = av
        self.container = av.open(str(path), "w", format="mp4")
        self.stream = self.container.add_stream("libx264", rate=frame_rate(fps))
        self.stream.width = width
        self.stream.height = height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = dict(X264_OPTIONS)
        self.stream.codec_context.thread_count = 2
        self.width, self.height = width, height
        self.count = 0

    def frame_from_planes(self, y, u, v):
        packed = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)])
        return self.av.VideoFrame.from_ndarray(packed.reshape(y.shape[0] * 3 // 2, y.shape[1]),
                                               format="yuv420p")

    def write(self, frame) -> None:
        frame.pts = self.count
        self.count += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the file is discarded anyway
            pass


class Overlay:
    """Frame-fixed text (caption bar, shot label) composited over the moving picture, in YUV,
    only on the rows it covers."""

    def __init__(self, image, width: int, height: int):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32)[:height, :width] / 255.0
        y, u, v = to_yuv(rgba.convert("RGB"))
        rows = np.flatnonzero(alpha.max(axis=1) > 0)
        self.bands = []
        for band in _runs(rows):
            top, bottom = band[0] - band[0] % 2, band[-1] + 1 + (band[-1] + 1) % 2
            a = alpha[top:bottom]
            a_half = a.reshape((bottom - top) // 2, 2, width // 2, 2).mean(axis=(1, 3))
            self.bands.append((top, bottom, a, a_half, y[top:bottom].astype(np.float32),
                               u[top // 2:bottom // 2].astype(np.float32),
                               v[top // 2:bottom // 2].astype(np.float32)))

    def apply(self, y, u, v) -> None:
        for top, bottom, a, a_half, oy, ou, ov in self.bands:
            y[top:bottom] = np.rint(y[top:bottom] * (1 - a) + oy * a)
            u[top // 2:bottom // 2] = np.rint(u[top // 2:bottom // 2] * (1 - a_half) + ou * a_half)
            v[top // 2:bottom // 2] = np.rint(v[top // 2:bottom // 2] * (1 - a_half) + ov * a_half)


def _runs(rows):
    runs = []
    for row in rows:
        if runs and row == runs[-1][-1] + 1:
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs


def render_clip(path: Path, keyframe, *, move: str, speed: str, frames: int, fps: float,
                width: int, height: int, fade_in: int = 0, fade_out: int = 0,
                dissolve_from: tuple | None = None, dissolve: int = 0, overlay=None):
    """Encode ``frames`` frames of the camera moving over ``keyframe`` (with ``overlay``, an RGBA
    image of the frame's size, fixed on top); returns its :class:`LastFrame`."""
    y_plane, u_plane, v_plane = to_yuv(keyframe)
    key_size = (y_plane.shape[1], y_plane.shape[0])
    fixed = Overlay(overlay, width, height) if overlay is not None else None
    encoder = ClipEncoder(path, width, height, fps)
    last = None
    repeat = None                   # (box, frame) of the last plain frame, reused while still
    try:
        for index in range(frames):
            t = index / max(frames - 1, 1)
            box = x0, y0, w, h = crop_box(move, speed, t, key_size, (width, height))
            blend = _transition_weight(index, frames, fade_in, fade_out, dissolve if dissolve_from else 0)
            is_last = index == frames - 1
            if repeat is not None and repeat[0] == box and blend is None and not is_last:
                encoder.write(repeat[1])
                continue
            crop = (y_plane[y0:y0 + h, x0:x0 + w],
                    u_plane[y0 // 2:(y0 + h) // 2, x0 // 2:(x0 + w) // 2],
                    v_plane[y0 // 2:(y0 + h) // 2, x0 // 2:(x0 + w) // 2])
            if (w, h) != (width, height):
                scaled = encoder.frame_from_planes(*crop).reformat(width, height, interpolation="BILINEAR")
                planes = tuple(p.copy() for p in _planes(scaled, width, height))
            else:
                planes = tuple(p.copy() for p in crop)
            camera = tuple(p.copy() for p in planes) if is_last else None
            if fixed is not None:
                fixed.apply(*planes)
            if blend is not None:
                planes = _apply(blend, planes, dissolve_from)
            if is_last:
                last = LastFrame(seen=planes, camera=camera)
            frame = encoder.frame_from_planes(*planes)
            repeat = (box, frame) if blend is None else None
            encoder.write(frame)
        encoder.close()
    except BaseException:
        encoder.abort()
        raise
    return last


def _planes(frame, width, height):
    array = frame.to_ndarray()            # (h*3/2, w) for yuv420p
    y = array[:height]
    chroma = array[height:].reshape(-1)
    quarter = (height // 2) * (width // 2)
    return y, chroma[:quarter].reshape(height // 2, width // 2), chroma[quarter:].reshape(height // 2, width // 2)


def _transition_weight(index, frames, fade_in, fade_out, dissolve):
    """(kind, weight) for this frame, or None when the frame is plain."""
    if dissolve and index < dissolve:
        return ("dissolve", (index + 1) / (dissolve + 1))
    if fade_in and index < fade_in:
        return ("fade", (index + 1) / (fade_in + 1))
    if fade_out and index >= frames - fade_out:
        return ("fade", (frames - index) / (fade_out + 1))
    return None


def _apply(blend, planes, previous):
    kind, weight = blend
    out = []
    for number, plane in enumerate(planes):
        if kind == "fade":
            floor = 16.0 if number == 0 else 128.0       # black in limited-range YUV
            mixed = floor + (plane.astype(np.float32) - floor) * weight
        else:
            mixed = previous[number].astype(np.float32) * (1 - weight) + plane.astype(np.float32) * weight
        out.append(np.clip(np.rint(mixed), 0, 255).astype(np.uint8))
    return tuple(out)


def encode_frames(path: Path, frames, *, count: int, fps: float, width: int, height: int,
                  fade_in: int = 0, fade_out: int = 0, dissolve_from: tuple | None = None,
                  dissolve: int = 0, overlay=None):
    """Encode a cut from pictures (generated, or filmed footage): ``frames`` yields RGB uint8
    arrays of shape (height, width, 3); exactly ``count`` are written (the last one repeats if
    there are fewer). Overlay, fades and dissolves as in :func:`render_clip`; returns its
    :class:`LastFrame`. Segments share the draft clips' encoder settings, so the mux joins them."""
    from PIL import Image

    fixed = Overlay(overlay, width, height) if overlay is not None else None
    encoder = ClipEncoder(path, width, height, fps)
    last = None
    previous = None
    try:
        iterator = iter(frames)
        for index in range(count):
            picture = next(iterator, None)
            if picture is None:
                picture = previous
            if picture is None:
                raise ValueError("the model returned no frames")
            previous = picture
            planes = camera = to_yuv(Image.fromarray(np.ascontiguousarray(picture[:height, :width])))
            if fixed is not None:
                planes = tuple(p.copy() for p in planes)
                fixed.apply(*planes)
            blend = _transition_weight(index, count, fade_in, fade_out, dissolve if dissolve_from else 0)
            if blend is not None:
                planes = _apply(blend, planes, dissolve_from)
            if index == count - 1:
                last = LastFrame(seen=planes, camera=camera)
            encoder.write(encoder.frame_from_planes(*planes))
        encoder.close()
    except BaseException:
        encoder.abort()
        raise
    return last


@dataclass(frozen=True)
class LastFrame:
    """A cut's last frame as YUV 4:2:0 planes (y, u, v): ``seen`` as the viewer sees it, with
    its caption, fade or dissolve (what a dissolve into the next cut starts from), ``camera``
    as the camera saw it (what a matching cut starts from)."""

    seen: tuple
    camera: tuple

    def save(self, task) -> None:
        """Write both as the clip's ``last_frame`` and ``camera_frame``."""
        for artifact, (y, u, v) in (("last_frame", self.seen), ("camera_frame", self.camera)):
            np.savez(task.output(artifact), y=y, u=u, v=v)


def camera_frame(clip):
    """A rendered clip's last frame as its camera saw it, in RGB (an entry rendered before
    clips kept that frame gives the frame as seen)."""
    artifact = "camera_frame" if clip.has("camera_frame") else "last_frame"
    with np.load(clip.artifact(artifact)) as planes:
        return from_yuv(planes["y"], planes["u"], planes["v"])


def previous_planes(task):
    """The previous cut's last frame (Y, U, V) when this cut dissolves from it: the clip the
    planner made an input of this one for the dissolve, whatever backend rendered it."""
    previous = task.inputs.one("clip")
    if not task.timing.get("dissolve") or previous is None:
        return None
    with np.load(previous.artifact("last_frame")) as planes:
        return planes["y"], planes["u"], planes["v"]


def cover(image, size: tuple[int, int]):
    """Scale ``image`` to cover ``size`` and crop the centre (no bars, no distortion)."""
    from PIL import Image, ImageOps

    image = image.convert("RGB")
    if image.size == tuple(size):
        return image
    return ImageOps.fit(image, tuple(size), Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def read_video(path: Path, count: int, fps: float) -> list:
    """``count`` frames of a video at ``fps``: at each time the source frame showing then;
    the last frame holds when the source is shorter than the shot."""
    import av

    frames: list = []
    shown = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            at = float(frame.time or 0.0)
            while len(frames) < count and shown is not None and len(frames) / fps < at - 1e-6:
                frames.append(shown)
            if len(frames) >= count:
                break
            shown = frame.to_image().convert("RGB")
    if shown is None:
        raise ValueError(f"{path.name} has no video frames")
    while len(frames) < count:
        frames.append(shown)
    return frames
