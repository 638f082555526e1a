"""Draft sound effects: keyword-driven synthesis from filtered noise, partials and envelopes.

Each keyword family is one small generator; a description that names several ("footsteps in
the rain") layers them. Anything unrecognized becomes a quiet room tone, so a cue is never
silent and never an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .audio_util import (bandlimit, colored_noise, convolve, decay_env, fade, normalize_peak, rng_for,
                         smooth_random, taper, words)

__all__ = ["render_sfx", "sfx_kinds"]

Generator = Callable[[int, int, np.random.Generator], np.ndarray]


# --- beds: continuous textures ------------------------------------------------------------------

def _rain(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    hiss = colored_noise(n, sr, rng, lo=500.0, hi=9000.0)
    hiss *= 0.7 + 0.3 * smooth_random(n, sr, 0.4, rng)
    drops = np.zeros(n)
    count = int(45 * n / sr)  # drops per second on nearby surfaces
    drops[rng.integers(0, n, count)] = rng.pareto(2.5, count) + 0.3
    out = 0.5 * hiss
    for freq in (2300.0, 3400.0, 5200.0):  # three drop "sizes", each sharing a short kernel
        t = np.arange(int(0.012 * sr)) / sr
        kernel = np.sin(2 * np.pi * freq * t) * np.exp(-t / 0.0025)
        part = drops * (rng.random(n) < 0.34)
        out += 0.5 * convolve(part, kernel)
    return out


def _stream(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    rush = colored_noise(n, sr, rng, lo=150.0, hi=2600.0)
    rush *= 0.55 + 0.45 * smooth_random(n, sr, 1.3, rng)
    out = 0.4 * rush
    # Gurgles: short rising sine blips, the sound of small bubbles popping in moving water.
    for _ in range(int(7 * n / sr)):
        d = int(rng.uniform(0.02, 0.07) * sr)
        at = int(rng.integers(0, max(1, n - d)))
        t = np.arange(d) / sr
        f0 = rng.uniform(350, 900)
        phase = 2 * np.pi * np.cumsum(f0 * (1 + 1.5 * t / t[-1])) / sr
        out[at:at + d] += rng.uniform(0.2, 0.6) * np.sin(phase) * np.sin(np.pi * t / t[-1]) ** 2
    return out


def _waves(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    body = colored_noise(n, sr, rng, hi=1100.0)
    spray = colored_noise(n, sr, rng, lo=1500.0, hi=6000.0)
    env = np.full(n, 0.12)
    at = rng.uniform(0.0, 0.8)
    while at * sr < n:  # each lap: a quick rise, a slower draw-back
        rise, fall = rng.uniform(0.25, 0.45), rng.uniform(0.9, 1.6)
        start = int(at * sr)
        t = np.arange(min(n - start, int((rise + 3 * fall) * sr))) / sr
        lap = np.where(t < rise, np.sin(0.5 * np.pi * np.minimum(t / rise, 1.0)),
                       np.exp(-(t - rise) / fall * 2.0))
        env[start:start + len(t)] += rng.uniform(0.6, 1.0) * lap
        at += rng.uniform(1.8, 3.6)
    return 0.4 * body * env + 0.12 * spray * env ** 2


def _wind(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    # Three bands whose levels drift independently read as one band that moves.
    for lo, hi in ((150.0, 500.0), (350.0, 900.0), (700.0, 1800.0)):
        band = colored_noise(n, sr, rng, lo=lo, hi=hi, order=3)
        out += band * smooth_random(n, sr, 0.5, rng, 0.05, 1.0) ** 2
    swell = smooth_random(n, sr, 0.3, rng, 0.25, 1.0)
    return out * swell ** 1.5


def _fire(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    rumble = colored_noise(n, sr, rng, lo=25.0, hi=180.0)
    rumble *= 0.6 + 0.4 * smooth_random(n, sr, 2.0, rng)
    hiss = colored_noise(n, sr, rng, lo=2500.0, hi=8000.0)
    out = 0.9 * rumble + 0.04 * hiss
    # Crackles come in little clusters, with a few loud pops among many small ones.
    t = 0.0
    while True:
        t += rng.exponential(0.18)
        at = int(t * sr)
        if at >= n:
            break
        for _ in range(int(rng.integers(1, 5))):
            d = int(rng.uniform(0.002, 0.008) * sr)
            s = at + int(rng.uniform(0, 0.03) * sr)
            if s + d >= n:
                continue
            burst = rng.standard_normal(d) * np.exp(-np.arange(d) / (0.25 * d))
            out[s:s + d] += min(rng.pareto(1.8) + 0.4, 2.5) * burst
    out = bandlimit(out, sr, hi=6000.0)  # embers pop, they do not hiss like static
    return out


def _engine(n: int, sr: int, rng: np.random.Generator, f0: float) -> np.ndarray:
    t = np.arange(n) / sr
    wobble = 1.0 + 0.015 * (smooth_random(n, sr, 1.5, rng) - 0.5)
    phase = 2 * np.pi * np.cumsum(f0 * wobble) / sr
    out = np.zeros(n)
    for k in range(1, 13):
        out += np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k ** 1.2
    out *= 1.0 + 0.3 * np.sin(0.5 * phase)  # uneven firing: a half-rate throb
    rumble = colored_noise(n, sr, rng, hi=300.0)
    out += 0.8 * rumble
    return out * (0.9 + 0.1 * np.sin(2 * np.pi * 0.4 * t))


def _room(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    tone = colored_noise(n, sr, rng, lo=30.0, hi=500.0, order=2)
    return tone * (0.85 + 0.15 * smooth_random(n, sr, 0.2, rng))


# --- events: transients in a rhythm ----------------------------------------------------------

def _times(n: int, sr: int, first: float, spacing: float, jitter: float,
           rng: np.random.Generator) -> list[int]:
    out, t = [], first
    while t * sr < n:
        out.append(int(t * sr))
        t += spacing * (1.0 + rng.uniform(-jitter, jitter))
    return out


def _place(out: np.ndarray, at: int, sound: np.ndarray, gain: float = 1.0) -> None:
    end = min(len(out), at + len(sound))
    if at < end:
        out[at:end] += gain * sound[:end - at]


def _thud(sr: int, rng: np.random.Generator, freq: float, decay: float, noise_hi: float) -> np.ndarray:
    d = int(decay * 6 * sr)
    t = np.arange(d) / sr
    tone = np.sin(2 * np.pi * freq * t * (1 + 0.3 * np.exp(-t / 0.01)))
    noise = colored_noise(d, sr, rng, hi=noise_hi)
    return (tone + 0.5 * noise) * decay_env(d, sr, decay, attack=0.0008)


def _footsteps(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    steps = [_thud(sr, rng, rng.uniform(80, 120), 0.03, 1800.0) for _ in range(4)]
    for i, at in enumerate(_times(n, sr, 0.15, 0.55, 0.08, rng)):
        heel = steps[int(rng.integers(len(steps)))]
        gain = 0.8 + 0.2 * (i % 2)  # one foot lands a little harder
        _place(out, at, heel, gain)
        _place(out, at + int(0.07 * sr), heel, 0.35 * gain)  # the toe follows
    return out


def _knock(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    for group in _times(n, sr, 0.15, 1.6, 0.1, rng):
        for k in range(3):
            at = group + int(k * 0.17 * sr * rng.uniform(0.9, 1.1))
            knock = _thud(sr, rng, rng.uniform(170, 230), 0.035, 2500.0)
            _place(out, at, knock, 1.0 if k < 2 else 1.15)
    return out


def _door(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    span = min(1.0, n / sr / 2.0)  # squeeze the gesture into short cues
    # The creak: a pulse train whose rate drifts, through a wooden-sounding band.
    c = int(0.6 * span * sr)
    if c > 16:
        rate = 35 + 30 * smooth_random(c, sr, 4.0, rng)
        cycles = np.cumsum(rate) / sr
        pulses = np.diff(np.floor(cycles), prepend=0.0)
        creak = bandlimit(pulses, sr, lo=350.0, hi=2200.0, order=3)
        creak *= np.sin(np.pi * np.arange(c) / c)
        _place(out, int(0.05 * sr), creak / (np.max(np.abs(creak)) + 1e-9), 0.5)
    _place(out, int(0.75 * span * sr), _thud(sr, rng, 65.0, 0.09, 900.0), 1.0)
    latch = _thud(sr, rng, 2400.0, 0.004, 7000.0)
    _place(out, int(0.8 * span * sr), latch, 0.6)
    return out


def _ping(sr: int, rng: np.random.Generator, freqs: list[float], decay: float) -> np.ndarray:
    d = int(decay * 5 * sr)
    t = np.arange(d) / sr
    return sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) * np.exp(-t / (decay * rng.uniform(0.5, 1.0)))
               for f in freqs) * decay_env(d, sr, 10.0, attack=0.0005)


def _clatter(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    t = 0.05
    while t * sr < n:
        count = int(rng.integers(8, 18))
        for k in range(count):  # a burst of hits thinning out, like things settling
            at = t + 0.8 * (k / count) ** 1.6 + rng.uniform(0, 0.03)
            freqs = list(rng.uniform(1500, 6500, 3))
            _place(out, int(at * sr), _ping(sr, rng, freqs, rng.uniform(0.02, 0.07)), rng.uniform(0.3, 1.0))
        t += rng.uniform(1.6, 2.6)
    return out


def _click(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    for at in _times(n, sr, 0.1, 0.7, 0.3, rng):
        click = _ping(sr, rng, [rng.uniform(2000, 3500)], 0.004)
        click[:int(0.002 * sr)] += rng.standard_normal(int(0.002 * sr)) * 0.6
        _place(out, at, click)
    return out


def _ratchet(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    tick = _ping(sr, rng, [2800.0, 4100.0], 0.005)
    t = 0.05
    while t * sr < n:
        burst = rng.uniform(0.3, 0.6)
        rate = rng.uniform(16, 26)
        for k in range(int(burst * rate)):
            _place(out, int((t + k / rate) * sr), tick, rng.uniform(0.6, 1.0))
        t += burst + rng.uniform(0.2, 0.4)
    return out


_BELL_PARTIALS = ((0.5, 0.6, 4.0), (1.0, 1.0, 2.5), (1.19, 0.5, 1.8), (1.5, 0.4, 1.5),
                  (2.0, 0.45, 1.2), (2.51, 0.25, 0.8), (2.66, 0.2, 0.7), (3.01, 0.15, 0.5),
                  (4.1, 0.08, 0.3))  # (ratio to the strike tone, level, decay s): a church bell


def _bell(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    f0 = rng.uniform(220, 420)
    for at in _times(n, sr, 0.03, 3.0, 0.05, rng):
        d = min(n - at, int(12 * sr))
        t = np.arange(d) / sr
        strike = sum(level * np.sin(2 * np.pi * f0 * ratio * t + rng.uniform(0, 6.3)) * np.exp(-t / decay)
                     for ratio, level, decay in _BELL_PARTIALS)
        _place(out, at, taper(strike * decay_env(d, sr, 100.0, attack=0.001), sr, 0.3))
    return out


def _chime(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    tones = rng.uniform(800, 2000, 5)
    t = 0.02
    while t * sr < n:
        f = tones[int(rng.integers(len(tones)))]
        d = min(n - int(t * sr), int(2.5 * sr))
        tt = np.arange(d) / sr
        # A free metal bar's partials (1 : 2.76 : 5.40 : 8.93) ring inharmonically.
        strike = sum(lv * np.sin(2 * np.pi * f * r * tt) * np.exp(-tt / dc)
                     for r, lv, dc in ((1.0, 1.0, 1.2), (2.76, 0.5, 0.6), (5.40, 0.25, 0.3), (8.93, 0.1, 0.15)))
        _place(out, int(t * sr), taper(strike * decay_env(d, sr, 100.0, attack=0.0008), sr, 0.2),
               rng.uniform(0.5, 1.0))
        t += rng.exponential(0.45) + 0.08
    return out


def _bird(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    t = rng.uniform(0.05, 0.3)
    while t * sr < n:
        f0, f1 = rng.uniform(2500, 4500), rng.uniform(3000, 6500)
        for k in range(int(rng.integers(2, 7))):  # a phrase of similar chirps
            d = int(rng.uniform(0.04, 0.11) * sr)
            tt = np.arange(d) / sr
            sweep = f0 + (f1 - f0) * tt / tt[-1] + 250 * np.sin(2 * np.pi * rng.uniform(30, 60) * tt)
            chirp = np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.sin(np.pi * tt / tt[-1]) ** 2
            _place(out, int(t * sr), chirp, rng.uniform(0.5, 1.0))
            t += d / sr + rng.uniform(0.03, 0.09)
        t += rng.uniform(0.5, 1.6)
    return out


# --- keywords --------------------------------------------------------------------------------

_KINDS: dict[str, tuple[str, Generator, bool]] = {
    # kind: (keywords, generator, is_bed)
    "rain": ("rain raining rainfall drizzle downpour rainstorm", _rain, True),
    "stream": ("water river stream brook creek fountain trickle trickling flowing canal", _stream, True),
    "waves": ("lapping lap waves wave sea ocean tide surf shore beach lake harbour harbor", _waves, True),
    "wind": ("wind windy breeze gust gusts gale howling blustery", _wind, True),
    "fire": ("fire crackle crackling crackles fireplace campfire flames hearth embers", _fire, True),
    "engine": ("engine engines car cars motor motors ferry boat truck bus traffic train idling ship "
               "tractor generator", None, True),
    "footsteps": ("footsteps footstep steps walking walks running", _footsteps, False),
    "knock": ("knock knocks knocking rap", _knock, False),
    "door": ("door doors slam slams creak creaks latch gate", _door, False),
    "clatter": ("clatter clattering clatters dishes crockery cutlery pots pans clink clinking", _clatter, False),
    "click": ("click clicks clicking switch typing typewriter", _click, False),
    "ratchet": ("ratchet ratcheting ratchets winch crank cranking", _ratchet, False),
    "bell": ("bell bells toll tolling church", _bell, False),
    "chime": ("chime chimes chiming ding", _chime, False),
    "bird": ("bird birds birdsong chirp chirps chirping tweet tweeting songbird gull gulls seagull "
             "seagulls", _bird, False),
}
_KEYWORDS = {kind: frozenset(spec[0].split()) for kind, spec in _KINDS.items()}
# Low, heavy things idle lower: the firing rate sets the hum's fundamental.
_ENGINE_HZ = {"ferry": 24.0, "ship": 22.0, "boat": 30.0, "truck": 32.0, "bus": 34.0, "tractor": 28.0,
              "train": 40.0, "generator": 50.0, "motor": 55.0}


def sfx_kinds(description: str) -> tuple[str, ...]:
    """The generator families a description triggers, in the order they are named ('room' if none)."""
    found: list[str] = []
    for w in words(description):
        for kind, vocab in _KEYWORDS.items():
            if w in vocab and kind not in found:
                found.append(kind)
    return tuple(found[:3]) or ("room",)


def render_sfx(description: str, seconds: float | None, seed: int, sample_rate: int = 48000) -> np.ndarray:
    """Synthesize a sound effect for `description`: mono float32, `seconds` long (2 s when None).

    Events and beds peak at about -6 dBFS, the fallback room tone at about -26 dBFS. The same
    arguments always give the same samples.
    """
    seconds = 2.0 if seconds is None else float(seconds)
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"seconds must be a finite number ≥ 0, got {seconds!r}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
    sr = int(sample_rate)
    n = int(round(seconds * sr))
    if n == 0:
        return np.zeros(0, np.float32)

    kinds = sfx_kinds(description)
    said = words(description)
    mix = np.zeros(n)
    for kind in kinds:
        rng = rng_for(seed, "sfx", kind)
        if kind == "room":
            layer = _room(n, sr, rng)
        elif kind == "engine":
            f0 = next((_ENGINE_HZ[w] for w in said if w in _ENGINE_HZ), 38.0)
            layer = _engine(n, sr, rng, f0)
        else:
            layer = _KINDS[kind][1](n, sr, rng)
        peak = float(np.max(np.abs(layer)))
        if peak > 0:
            mix += layer / peak
    out = normalize_peak(mix, -26.0 if kinds == ("room",) else -6.0)
    beds = any(kind == "room" or _KINDS[kind][2] for kind in kinds)
    edge = min(0.15 if beds else 0.01, seconds / 4)  # beds swell in; events only need de-clicking
    return fade(out, sr, edge, edge, equal_power=False)
