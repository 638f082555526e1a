"""Reading and writing 16-bit PCM WAV with the standard library (no extra dependency)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    data = np.clip(samples, -1.0, 1.0)
    pcm = np.rint(data * 32767).astype("<i2")
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(int(rate))
        handle.writeframes(pcm.tobytes())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Samples as float32 in [-1, 1] (mono: 1-D; otherwise (n, channels)) and the rate.
    8-, 16-, 24- and 32-bit integer PCM are read."""
    with wave.open(str(path), "rb") as handle:
        channels = handle.getnchannels()
        width = handle.getsampwidth()
        rate = handle.getframerate()
        raw = handle.readframes(handle.getnframes())
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
    return data, rate


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
