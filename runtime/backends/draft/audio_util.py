"""Small numpy helpers shared by the draft audio backends (speech, score, sfx).

Everything here is deterministic: randomness only comes from generators made by `rng_for`.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

_WORD = re.compile(r"[a-z]+")


def words(text: str) -> list[str]:
    """Lower-case alphabetic words of `text`, in order."""
    return _WORD.findall(text.lower())


def stable_hash(*parts: object) -> int:
    """A 64-bit hash that is the same in every process (unlike `hash()`, which is salted)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def rng_for(seed: int, *keys: object) -> np.random.Generator:
    """A generator for `seed` and a purpose, so that layers never share the same noise."""
    return np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, stable_hash(*keys)])


def bandlimit(x: np.ndarray, sr: int, lo: float | None = None, hi: float | None = None,
              order: int = 2) -> np.ndarray:
    """Butterworth-shaped band limit applied in the frequency domain (zero phase, one FFT).

    Circular, so meant for noise beds and short sounds padded with silence at the end.
    """
    n = len(x)
    if n == 0 or (lo is None and hi is None):
        return x.astype(np.float32)
    size = _fft_size(n)  # lengths with large prime factors make the FFT crawl; pad instead
    spec = np.fft.rfft(x, size)
    gain = _band_gain(np.fft.rfftfreq(size, 1.0 / sr), lo, hi, order)
    return np.fft.irfft(spec * gain, size)[:n].astype(np.float32)


def _fft_size(n: int) -> int:
    """The smallest 2^a·3^b·5^c ≥ n: fast for pocketfft, at most ~10% padding above ~1000."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            size = p35
            while size < n:
                size *= 2
            best = min(best, size)
            p35 *= 3
        p5 *= 5
    return best


def smooth_random(n: int, sr: int, rate_hz: float, rng: np.random.Generator,
                  lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """A slowly varying random curve in [lo, hi]: random points `rate_hz` apart, cosine-joined."""
    if n <= 0:
        return np.zeros(0, np.float32)
    step = max(1.0, sr / max(rate_hz, 1e-3))
    points = rng.uniform(lo, hi, int(n / step) + 2)
    # Shape the curve at ~32 values per segment, then stretch it linearly to full rate: the same
    # curve to the ear, at a fraction of the cost of evaluating cosines per sample.
    fine = np.arange((len(points) - 1) * 32 + 1) / 32.0
    i = np.minimum(fine.astype(np.int64), len(points) - 2)
    w = 0.5 - 0.5 * np.cos(np.pi * (fine - i))
    curve = points[i] * (1 - w) + points[i + 1] * w
    return np.interp(np.arange(n) / step, fine, curve).astype(np.float32)


def colored_noise(n: int, sr: int, rng: np.random.Generator, lo: float | None = None,
                  hi: float | None = None, order: int = 2) -> np.ndarray:
    """Gaussian noise with a Butterworth-shaped band, drawn directly in the frequency domain.

    Same statistics as `bandlimit(white noise)` at half the FFTs; unit RMS.
    """
    if n <= 0:
        return np.zeros(0, np.float32)
    size = _fft_size(n)
    f = np.fft.rfftfreq(size, 1.0 / sr).astype(np.float32)
    gain = _band_gain(f, lo, hi, order)
    # float32 throughout: half the memory traffic, and numpy ≥ 2 runs the FFT in single precision
    spec = np.empty(len(f), np.complex64)
    spec.real = rng.standard_normal(len(f), dtype=np.float32) * gain
    spec.imag = rng.standard_normal(len(f), dtype=np.float32) * gain
    x = np.fft.irfft(spec, size)[:n].astype(np.float32, copy=False)
    x /= np.float32(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)
    return x


def _band_gain(f: np.ndarray, lo: float | None, hi: float | None, order: int) -> np.ndarray:
    gain = np.ones_like(f)
    if hi is not None:
        gain /= np.sqrt(1.0 + (f / np.float32(hi)) ** (2 * order))
    if lo is not None:
        r = (f / np.float32(lo)) ** (2 * order)
        gain *= np.sqrt(r / (1.0 + r))
    return gain


def fade(x: np.ndarray, sr: int, fade_in: float = 0.0, fade_out: float = 0.0,
         equal_power: bool = True) -> np.ndarray:
    """Fade both ends in place (first axis is time) and return `x`.

    Equal-power curves (sin/cos) sound even when a fade overlaps another sound; linear otherwise.
    """
    n = x.shape[0]
    for seconds, head in ((fade_in, True), (fade_out, False)):
        k = min(n, int(round(max(seconds, 0.0) * sr)))
        if k <= 0:
            continue
        t = (np.arange(k, dtype=np.float64) + 0.5) / k
        curve = np.sin(0.5 * np.pi * t) if equal_power else t
        curve = curve.astype(np.float32)
        if x.ndim > 1:
            curve = curve[:, None]
        if head:
            x[:k] *= curve
        else:
            x[n - k:] *= curve[::-1]
    return x


def normalize_peak(x: np.ndarray, dbfs: float) -> np.ndarray:
    """Scale so the peak sits at `dbfs`; silence stays silence."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak < 1e-9:
        return x.astype(np.float32)
    return (x * (10.0 ** (dbfs / 20.0) / peak)).astype(np.float32)


def pan_gains(pan: float) -> tuple[float, float]:
    """Equal-power (left, right) gains for pan in [-1, 1]."""
    angle = (min(max(pan, -1.0), 1.0) + 1.0) * 0.25 * np.pi
    return float(np.cos(angle)), float(np.sin(angle))


def add_at(buf: np.ndarray, start: int, sound: np.ndarray, gain: float = 1.0) -> None:
    """Mix `sound` into `buf` from sample `start`, cutting whatever falls outside."""
    n = len(buf)
    if start >= n or start + len(sound) <= 0:
        return
    a = max(start, 0)
    b = min(start + len(sound), n)
    buf[a:b] += sound[a - start:b - start] * gain


def decay_env(n: int, sr: int, seconds: float, attack: float = 0.002) -> np.ndarray:
    """A short linear attack then an exponential decay (time constant `seconds`)."""
    t = np.arange(n, dtype=np.float32) / sr
    env = np.exp(-t / max(seconds, 1e-4))
    k = int(attack * sr)
    if k > 0:
        env[:k] *= np.linspace(0.0, 1.0, k, endpoint=False, dtype=np.float32)
    return env.astype(np.float32)


def convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Linear convolution by FFT, cut to len(x): for impulse trains through a short sound."""
    n = len(x)
    if n == 0 or len(kernel) == 0:
        return np.zeros(n, np.float32)
    size = _fft_size(n + len(kernel) - 1)
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(kernel, size), size)[:n]
    return y.astype(np.float32)


def taper(x: np.ndarray, sr: int, seconds: float = 0.01) -> np.ndarray:
    """Ramp the last `seconds` to zero in place, so a sound cut short does not click."""
    k = min(len(x) // 2, int(seconds * sr))
    if k > 0:
        x[-k:] *= np.linspace(1.0, 0.0, k, dtype=np.float32)
    return x
