"""Signal processing for recorded speech: trimming, pitch estimation, time stretching and pitch
shifting (numpy only).

A writer's recorded performance of a line (``[[voice: …; from: takes/line.wav]]``) goes through
here: the draft profile moves it into the character's register (:func:`shift_pitch` by the ratio
of :func:`estimate_pitch` of the character's voice to the recording's), and the neural
speech-to-speech backends stretch their output back to the take's length
(:func:`time_stretch`), because the take's timing is what the writer performed.

Time stretching is WSOLA (waveform-similarity overlap-add): 30 ms Hann windows, each taken
from near its nominal place in the input where it best continues the previous one, so pitch is
kept and no phase vocoder smearing appears. Pitch shifting stretches by the ratio, then reads
the result back at the ratio's speed (band-limited first when going up).
"""

from __future__ import annotations

import numpy as np

WINDOW_SECONDS = 0.030           # WSOLA grain: two to five pitch periods of speech
PITCH_FLOOR, PITCH_CEILING = 60.0, 500.0   # Hz: any speaking voice
MAX_SHIFT = 2.0                  # at most an octave either way


def trim_silence(samples: np.ndarray, rate: int, keep: float = 0.05) -> np.ndarray:
    """``samples`` (mono) without the silence (or room noise) before and after the speech,
    keeping ``keep`` seconds at each end. Audio that is all silence is returned unchanged."""
    if samples.size == 0:
        return samples
    hop = max(1, int(0.010 * rate))
    envelope = _frame_rms(samples, hop, hop)
    if envelope.size == 0 or float(envelope.max()) <= 0.0:
        return samples
    floor = float(np.percentile(envelope, 10))
    threshold = max(float(envelope.max()) * 0.03, floor * 3.0)
    active = np.flatnonzero(envelope > threshold)
    if active.size == 0:
        return samples
    pad = int(keep * rate)
    start = max(int(active[0]) * hop - pad, 0)
    end = min((int(active[-1]) + 1) * hop + pad, len(samples))
    return samples[start:end]


def estimate_pitch(samples: np.ndarray, rate: int) -> float | None:
    """The median fundamental frequency (Hz) of the voiced parts of ``samples`` (mono), or None
    when fewer than five 10 ms frames are voiced. YIN's cumulative mean normalised difference
    on 40 ms frames, voiced where it dips under 0.2, with parabolic refinement."""
    frame = int(0.040 * rate)
    hop = int(0.010 * rate)
    if len(samples) < frame:
        return None
    x = samples.astype(np.float64)
    rms = _frame_rms(x, frame, hop)
    loud = rms > max(float(rms.max()) * 0.1, 1e-4)
    low, high = int(rate / PITCH_CEILING), min(int(rate / PITCH_FLOOR), frame // 2)
    half = frame // 2
    starts = np.arange(len(rms)) * hop
    pitches = []
    size = 1 << int(np.ceil(np.log2(frame * 2)))
    for start in starts[loud]:
        chunk = x[start:start + frame]
        if len(chunk) < frame:
            break
        spectrum = np.fft.rfft(chunk, size)
        correlation = np.fft.irfft(spectrum * np.conj(spectrum), size)[:half + 1]
        energy = np.concatenate(([0.0], np.cumsum(chunk ** 2)))
        lags = np.arange(half + 1)
        # d(τ) = Σ_{j<W} (x_j − x_{j+τ})², W = frame − τ, from energies and the correlation
        difference = energy[frame - lags] + (energy[frame] - energy[lags]) - 2 * correlation
        cumulative = np.cumsum(difference[1:])
        normalised = np.ones(half + 1)
        normalised[1:] = difference[1:] * np.arange(1, half + 1) / np.maximum(cumulative, 1e-12)
        window = normalised[low:high + 1]
        below = np.flatnonzero(window < 0.2)
        if below.size == 0:
            continue
        lag = low + int(below[0])
        while lag + 1 <= high and normalised[lag + 1] < normalised[lag]:
            lag += 1                              # walk down to the dip's bottom
        if 0 < lag < half:
            a, b, c = normalised[lag - 1], normalised[lag], normalised[lag + 1]
            bend = a - 2 * b + c
            refined = lag + (0.5 * (a - c) / bend if bend > 0 else 0.0)
        else:
            refined = float(lag)
        pitches.append(rate / refined)
    if len(pitches) < 5:
        return None
    return float(np.median(pitches))


def time_stretch(samples: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """``samples`` (mono) played ``factor`` times as long (2.0: twice as long, half as fast) at
    the same pitch, by WSOLA; the result has exactly ``round(len(samples) * factor)`` samples."""
    length = int(round(len(samples) * factor))
    if length == 0 or len(samples) == 0:
        return np.zeros(length, np.float32)
    if abs(factor - 1.0) < 1e-6:
        return samples.astype(np.float32, copy=True)
    size = max(8, int(WINDOW_SECONDS * rate)) // 2 * 2
    synthesis_hop = size // 2
    analysis_hop = synthesis_hop / factor
    tolerance = synthesis_hop // 2
    window = np.hanning(size + 2)[1:-1]
    frames = int(np.ceil(length / synthesis_hop)) + 1
    margin = tolerance + size
    source = np.pad(samples.astype(np.float64), (margin, margin + size + int(frames * analysis_hop)))
    out = np.zeros(frames * synthesis_hop + size)
    weight = np.zeros_like(out)
    position = margin
    for index in range(frames):
        nominal = margin + int(round(index * analysis_hop))
        if index:
            # the grain that would naturally follow the previous one
            follow = source[position + synthesis_hop:position + synthesis_hop + size]
            region = source[nominal - tolerance:nominal + tolerance + size]
            scores = np.correlate(region, follow, mode="valid")
            position = nominal - tolerance + int(np.argmax(scores))
        else:
            position = nominal
        at = index * synthesis_hop
        out[at:at + size] += source[position:position + size] * window
        weight[at:at + size] += window
    out /= np.maximum(weight, 1e-3)          # the very first samples have one thin window
    return out[:length].astype(np.float32)


def shift_pitch(samples: np.ndarray, rate: int, ratio: float) -> np.ndarray:
    """``samples`` (mono) with every frequency multiplied by ``ratio`` (clamped to an octave
    either way) and the same length. Formants move with the pitch: this changes the register,
    not the timbre."""
    ratio = float(np.clip(ratio, 1 / MAX_SHIFT, MAX_SHIFT))
    if abs(ratio - 1.0) < 1e-3 or len(samples) == 0:
        return samples.astype(np.float32, copy=True)
    stretched = time_stretch(samples, rate, ratio)
    if ratio > 1.0:
        stretched = _lowpass(stretched, rate, 0.45 * rate / ratio)
    positions = np.arange(len(samples)) * (len(stretched) / len(samples))
    return np.interp(positions, np.arange(len(stretched)), stretched).astype(np.float32)


def match_level(samples: np.ndarray, rate: int, rms_dbfs: float = -20.0) -> np.ndarray:
    """Scale speech so its loud parts (the 10 ms frames above a tenth of the loudest) average
    ``rms_dbfs``; peaks are kept under -1 dBFS."""
    hop = max(1, int(0.010 * rate))
    rms = _frame_rms(samples, hop, hop)
    if rms.size == 0 or float(rms.max()) <= 0.0:
        return samples.astype(np.float32, copy=True)
    speech = rms[rms > rms.max() * 0.1]
    level = float(np.sqrt(np.mean(speech ** 2)))
    gain = 10 ** (rms_dbfs / 20) / level
    peak = float(np.max(np.abs(samples))) * gain
    if peak > 10 ** (-1 / 20):
        gain *= 10 ** (-1 / 20) / peak
    return (samples * gain).astype(np.float32)


def _frame_rms(samples: np.ndarray, frame: int, hop: int) -> np.ndarray:
    if len(samples) < frame:
        return np.zeros(0)
    power = np.concatenate(([0.0], np.cumsum(samples.astype(np.float64) ** 2)))
    starts = np.arange(0, len(samples) - frame + 1, hop)
    return np.sqrt(np.maximum(power[starts + frame] - power[starts], 0.0) / frame)


def _lowpass(samples: np.ndarray, rate: int, cutoff: float) -> np.ndarray:
    """A linear-phase low-pass in the frequency domain, with a 10% cosine transition."""
    size = 1 << int(np.ceil(np.log2(max(len(samples), 2))))
    spectrum = np.fft.rfft(samples, size)
    frequencies = np.fft.rfftfreq(size, 1.0 / rate)
    edge = cutoff * 0.9
    gain = np.clip((cutoff - frequencies) / (cutoff - edge), 0.0, 1.0)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)
    return np.fft.irfft(spectrum * gain, size)[:len(samples)].astype(np.float32)
