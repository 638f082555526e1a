"""Audio in and out: 16-bit PCM WAV with the standard library (whole, or streamed a window at a
time), any format FFmpeg reads, and the one resampler every backend and the mix use."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np


def _pcm(samples: np.ndarray) -> bytes:
    data = np.clip(samples, -1.0, 1.0)
    return np.rint(data * 32767).astype("<i2").tobytes()


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with WavWriter(path, rate, channels) as writer:
        writer.write(samples)


class WavWriter:
    """A 16-bit WAV written a chunk at a time (the header's length is fixed on close), so a
    film's sound never has to be in memory at once."""

    def __init__(self, path: Path, rate: int, channels: int) -> None:
        self.frames = 0
        self._handle = wave.open(str(path), "wb")
        self._handle.setnchannels(channels)
        self._handle.setsampwidth(2)
        self._handle.setframerate(int(rate))

    def write(self, samples: np.ndarray) -> None:
        self._handle.writeframes(_pcm(samples))
        self.frames += len(samples)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "WavWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class WavReader:
    """Random access to a PCM WAV: its rate, channels and length from the header, and any window of
    its samples (decoded like ``read_wav``) without reading the rest."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with wave.open(str(path), "rb") as handle:
            self.rate = handle.getframerate()
            self.channels = handle.getnchannels()
            self.frames = handle.getnframes()

    def read(self, start: int = 0, count: int | None = None) -> np.ndarray:
        start = max(start, 0)
        count = self.frames - start if count is None else min(count, self.frames - start)
        with wave.open(str(self.path), "rb") as handle:
            width = handle.getsampwidth()
            if count <= 0:
                return _decode(b"", width, self.channels)
            handle.setpos(start)
            return _decode(handle.readframes(count), width, self.channels)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Samples as float32 in [-1, 1] (mono: 1-D; otherwise (n, channels)) and the rate.
    8-, 16-, 24- and 32-bit integer PCM are read."""
    with wave.open(str(path), "rb") as handle:
        channels = handle.getnchannels()
        width = handle.getsampwidth()
        rate = handle.getframerate()
        raw = handle.readframes(handle.getnframes())
    return _decode(raw, width, channels), rate


def _decode(raw: bytes, width: int, channels: int) -> np.ndarray:
    if width == 1:
        data = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    elif width == 2:
        data = np.frombuffer(raw, "<i2").astype(np.float32) / 32768
    elif width == 3:
        bytes_ = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        ints = (bytes_[:, 0].astype(np.int32) | (bytes_[:, 1].astype(np.int32) << 8)
                | (bytes_[:, 2].astype(np.int32) << 16))
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        data = ints.astype(np.float32) / (1 << 23)
    else:
        data = np.frombuffer(raw, "<i4").astype(np.float32) / 2**31
    if channels > 1:
        data = data.reshape(-1, channels)
    return data


def load_audio(path: Path, rate: int, channels: int = 2) -> np.ndarray:
    """Any audio file FFmpeg reads (wav, flac, mp3, ogg, m4a…), as float32 (n, channels) at
    ``rate``."""
    import av

    layout = "stereo" if channels == 2 else "mono"
    chunks = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    if not chunks:
        return np.zeros((0, channels), np.float32)
    return np.concatenate(chunks, axis=1).T.astype(np.float32)


def video_still(path: Path, target: Path) -> None:
    """Save the middle frame of a video as PNG (the draft profile draws over it)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame for frame in container.decode(stream)]
    if not frames:
        raise ValueError(f"{path.name} has no video frames")
    frames[len(frames) // 2].to_image().save(target, format="PNG")


def resampled_length(count: int, rate: int, target: int) -> int:
    """How many samples ``resample`` returns for ``count`` at ``rate``."""
    return count if rate == target else -(-count * int(target) // int(rate))


def resample(samples: np.ndarray, rate: int, target: int, zero_crossings: int = 16) -> np.ndarray:
    """Band-limited resampling by a rational factor (polyphase windowed sinc, Kaiser β = 8.6,
    about 80 dB of stop-band), on the first axis. ``len(out) == ceil(len(x) * target / rate)``."""
    if rate == target or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    divisor = math.gcd(int(rate), int(target))
    up, down = int(target) // divisor, int(rate) // divisor
    factor = max(up, down)
    half = zero_crossings * factor                       # filter half-length, upsampled domain
    taps = np.arange(-half, half + 1)
    cutoff = 0.5 / factor * 0.97                         # cycles per upsampled sample
    prototype = 2 * cutoff * np.sinc(2 * cutoff * taps) * np.kaiser(len(taps), 8.6) * up
    data = samples.astype(np.float64).reshape(len(samples), -1)
    count = math.ceil(len(samples) * up / down)
    width = 2 * half // up + 2
    out = np.empty((count, data.shape[1]), np.float64)
    for start in range(0, count, 32768):
        position = np.arange(start, min(start + 32768, count)) * down     # upsampled index
        first = -((half - position) // up)                                 # ceil((p - half) / up)
        index = first[:, None] + np.arange(width)[None, :]
        offset = position[:, None] - index * up
        taps_used = prototype[np.clip(offset + half, 0, 2 * half)]
        weights = np.where(np.abs(offset) <= half, taps_used, 0.0)
        valid = (index >= 0) & (index < len(samples))
        weights = np.where(valid, weights, 0.0)
        gathered = data[np.clip(index, 0, len(samples) - 1)]             # (n, width, channels)
        out[start:start + len(position)] = np.einsum("nw,nwc->nc", weights, gathered)
    out = out.astype(np.float32)
    return out[:, 0] if samples.ndim == 1 else out
