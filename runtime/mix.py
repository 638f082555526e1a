"""The film's sound: dialogue, music ducked under it, and effects, mixed to stereo 48 kHz,
loudness-normalized and never clipping.

(V.O.) narration stays dry and close; (O.S.) lines are muffled, quieter and a little roomy, as
heard from the next room. Loudness follows ITU-R BS.1770 (K-weighting, 400 ms blocks, gates) closely
enough for a draft mix.
"""

from __future__ import annotations

import numpy as np

from .timeline import Timeline

SAMPLE_RATE = 48000
TARGET_LUFS = -16.0
PEAK_CEILING = 10 ** (-1.0 / 20)        # -1 dBFS
DUCK_DB = -12.0


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Linear-interpolation resampling (enough for speech in a draft mix)."""
    if rate == target or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    count = int(round(len(samples) * target / rate))
    positions = np.arange(count, dtype=np.float64) * (rate / target)
    if samples.ndim == 1:
        return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)
    return np.stack([np.interp(positions, np.arange(len(samples)), samples[:, c])
                     for c in range(samples.shape[1])], axis=1).astype(np.float32)


def _stereo(samples: np.ndarray) -> np.ndarray:
    if samples.ndim == 1:
        return np.repeat(samples[:, None], 2, axis=1)
    return samples


def _lowpass(samples: np.ndarray, cutoff: float) -> np.ndarray:
    """A gentle first-order low-pass, applied in the frequency domain (one line at a time)."""
    spectrum = np.fft.rfft(samples, axis=0)
    freqs = np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)
    response = 1 / np.sqrt(1 + (freqs / cutoff) ** 2)
    shape = (-1, 1) if samples.ndim == 2 else (-1,)
    return np.fft.irfft(spectrum * response.reshape(shape), n=len(samples), axis=0).astype(np.float32)


def _place(track: np.ndarray, clip: np.ndarray, start: float, gain: float = 1.0) -> None:
    first = int(round(start * SAMPLE_RATE))
    if first >= len(track) or len(clip) == 0:
        return
    last = min(first + len(clip), len(track))
    track[first:last] += clip[: last - first] * gain


def _fades(samples: np.ndarray, fade_in: float, fade_out: float) -> np.ndarray:
    out = samples.copy()
    for seconds, at_start in ((fade_in, True), (fade_out, False)):
        count = min(int(seconds * SAMPLE_RATE), len(out))
        if count <= 1:
            continue
        ramp = np.sin(np.linspace(0, np.pi / 2, count)) ** 2
        if at_start:
            out[:count] *= ramp[:, None] if out.ndim == 2 else ramp
        else:
            out[-count:] *= ramp[::-1, None] if out.ndim == 2 else ramp[::-1]
    return out


def mix(timeline: Timeline, speech: dict[str, tuple[np.ndarray, int]],
        music: dict[str, np.ndarray], sfx: dict[str, np.ndarray]) -> np.ndarray:
    """The whole film's audio, shape (samples, 2) float32, exactly the picture's length."""
    length = int(round(timeline.seconds * SAMPLE_RATE))
    dialogue = np.zeros((length, 2), np.float32)
    activity = np.zeros(length, np.float32)
    for line in timeline.lines:
        samples, rate = speech[line.job]
        voice = resample(samples, rate)
        if line.off_screen:
            voice = _lowpass(voice, 1800.0) * 0.55
            echo = np.zeros(len(voice) + 2400, np.float32)
            echo[: len(voice)] += voice
            echo[2400:] += voice * 0.25
            voice = echo
        gain = 1.1 if line.voice_over else 1.0
        _place(dialogue, _stereo(voice), line.start, gain)
        first = int(round(line.start * SAMPLE_RATE))
        activity[first: first + len(voice)] = 1.0

    score = np.zeros((length, 2), np.float32)
    for placement in timeline.music:
        samples = _stereo(music[placement.job])
        if placement.seconds is not None:
            samples = samples[: int(round(placement.seconds * SAMPLE_RATE))]
        samples = _fades(samples, placement.fade_in, placement.fade_out)
        _place(score, samples, placement.start, placement.volume * 0.6)

    effects = np.zeros((length, 2), np.float32)
    for placement in timeline.sfx:
        _place(effects, _stereo(sfx[placement.job]), placement.start, placement.volume * 0.7)

    # Duck the music under speech with a smoothed envelope (attack/release ~150 ms).
    if timeline.music and activity.any():
        # the envelope needs no more than 10 ms resolution
        block = SAMPLE_RATE // 100
        count = (length + block - 1) // block
        padded = np.zeros(count * block, np.float32)
        padded[:length] = activity
        coarse = padded.reshape(count, block).max(axis=1)
        smooth = _moving_average(_moving_average(coarse, 15), 15)
        duck = 1.0 - (1.0 - 10 ** (DUCK_DB / 20)) * np.clip(smooth * 1.5, 0, 1)
        score *= np.repeat(duck.astype(np.float32), block)[:length, None]

    # sum in place: a five-minute film is 115 MB per stereo track
    dialogue += score
    del score
    dialogue += effects
    del effects
    return normalize(dialogue)


def _moving_average(signal: np.ndarray, width: int) -> np.ndarray:
    """A centred box filter in O(n) (two passes make a smooth triangular window)."""
    if width < 2:
        return signal
    cumulative = np.concatenate([[0.0], np.cumsum(signal, dtype=np.float64)])
    half = width // 2
    index = np.arange(len(signal))
    lo = np.clip(index - half, 0, len(signal))
    hi = np.clip(index + half + 1, 0, len(signal))
    return ((cumulative[hi] - cumulative[lo]) / (hi - lo)).astype(np.float32)


def normalize(samples: np.ndarray, target: float = TARGET_LUFS) -> np.ndarray:
    """Scale to ``target`` integrated loudness, then limit peaks to -1 dBFS (no clipping)."""
    loudness = integrated_loudness(samples)
    if np.isfinite(loudness):
        samples *= np.float32(10 ** ((target - loudness) / 20))
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > PEAK_CEILING:
        # soft knee above -6 dBFS on the few samples that need it, so nothing clips
        knee = 0.5
        over = np.abs(samples) > knee
        values = samples[over]
        magnitude = np.abs(values)
        compressed = knee + (PEAK_CEILING - knee) * np.tanh((magnitude - knee) / (PEAK_CEILING - knee))
        samples[over] = np.sign(values) * compressed
    np.clip(samples, -PEAK_CEILING, PEAK_CEILING, out=samples)
    return samples.astype(np.float32, copy=False)


def integrated_loudness(samples: np.ndarray) -> float:
    """BS.1770-style integrated loudness (LUFS), measured on a 12 kHz copy for speed."""
    if samples.size == 0:
        return float("-inf")
    step = 4
    measured = samples[::step].astype(np.float64)
    rate = SAMPLE_RATE / step
    measured = _k_weight(measured, rate)
    block = int(0.4 * rate)
    hop = int(0.1 * rate)
    if len(measured) < block:
        power = np.mean(measured ** 2, axis=0).sum()
        return -0.691 + 10 * np.log10(power) if power > 0 else float("-inf")
    squares = (measured ** 2).sum(axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(squares)])
    starts = np.arange(0, len(measured) - block + 1, hop)
    powers = (cumulative[starts + block] - cumulative[starts]) / block
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(powers)
    gated = powers[loudness > -70]
    if gated.size == 0:
        return float("-inf")
    relative = -0.691 + 10 * np.log10(gated.mean()) - 10
    with np.errstate(divide="ignore"):
        kept = gated[-0.691 + 10 * np.log10(gated) > relative]
    return float(-0.691 + 10 * np.log10(kept.mean())) if kept.size else float("-inf")


def _k_weight(samples: np.ndarray, rate: float) -> np.ndarray:
    """The K-weighting pre-filter (high shelf + high pass) via FFT-domain response: exact enough
    for measurement and fully vectorized."""
    count = len(samples)
    spectrum = np.fft.rfft(samples, axis=0)
    freqs = np.fft.rfftfreq(count, 1 / rate)
    f = np.maximum(freqs, 1e-3)
    shelf = 1 + (10 ** (4 / 20) - 1) / (1 + (1681.97 / f) ** 2)       # ~+4 dB above 2 kHz
    highpass = 1 / np.sqrt(1 + (38.13 / f) ** 4)                        # 2nd-order at 38 Hz
    return np.fft.irfft(spectrum * (shelf * highpass)[:, None], n=count, axis=0)
