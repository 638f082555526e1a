"""Draft score: a small synthesized ensemble that follows a theme's description.

The description picks the tempo ("92 bpm"), the mood (mode, chord progression, density) and the
instruments (timbres made with wavetables, envelopes and Karplus-Strong). Notes are rendered
once per (instrument, pitch, length) and mixed in by offset, and the reverb uses block-wise
recursions at a quarter rate, so five minutes render in 1–2 s on two cores with no per-sample
Python loops.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .audio_util import add_at, fade, pan_gains, rng_for, stable_hash, taper, words

__all__ = ["render_score", "describe_score"]

# --- reading the description -------------------------------------------------------------------

_MOOD_WORDS = {
    "minor": """melancholic melancholy sad mournful dark somber sombre grief grieving tragic lonely
        bleak wistful elegiac brooding sorrowful nostalgic minor bittersweet haunting""",
    "major": """hopeful warm bright joyful happy uplifting triumphant playful sunny tender romantic
        cheerful optimistic major heroic festive""",
    "tense": """tense suspense suspenseful ominous menacing dread eerie creepy thriller uneasy anxious
        threatening sinister foreboding unsettling""",
    "calm": """calm peaceful serene gentle quiet tranquil dreamy meditative still soft contemplative
        pastoral slow""",
}
_MOODS = {mood: frozenset(text.split()) for mood, text in _MOOD_WORDS.items()}

_INSTRUMENT_WORDS = {
    "piano": "piano pianos keys keyboard rhodes",
    "strings": "strings string violin violins viola violas orchestra orchestral quartet",
    "cello": "cello cellos bass contrabass",
    "pluck": "harp harps guitar guitars lute mandolin pizzicato plucked koto",
    "flute": "flute flutes woodwind woodwinds clarinet oboe recorder whistle",
    "drums": "drums drum percussion percussive timpani heartbeat beat",
    "organ": "organ harmonium accordion",
    "pad": "pad pads synth synths synthesizer ambient drone drones electronic",
}
_INSTRUMENTS = {name: frozenset(text.split()) for name, text in _INSTRUMENT_WORDS.items()}

_DEFAULT_ENSEMBLE = {
    "minor": ("piano", "strings"),
    "major": ("piano", "strings", "pluck"),
    "tense": ("pad", "cello"),
    "calm": ("pad", "piano"),
}

# Chords are (root offset in semitones, quality); four per cycle.
_PROGRESSIONS = {
    "minor": ((0, "min"), (8, "maj"), (3, "maj"), (10, "maj")),      # i–VI–III–VII
    "major": ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),       # I–V–vi–IV
    "tense": ((0, "dim"), (1, "maj"), (0, "dim"), (-1, "dim")),      # i°–♭II–i°–vii°
    "calm": ((0, "maj7"), (5, "add9"), (9, "min7"), (5, "maj7")),    # Imaj7–IVadd9–vi7–IVmaj7
}
_CHORDS = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6),
    "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10), "add9": (0, 4, 7, 14),
}
_SCALES = {
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "major": (0, 2, 4, 5, 7, 9, 11),
    "tense": (0, 1, 3, 5, 6, 8, 10),
    "calm": (0, 2, 4, 7, 9),
}
_BEATS_PER_CHORD = {"minor": 4, "major": 4, "tense": 8, "calm": 8}
_KEY = re.compile(r"\bin ([a-g])(#|b| sharp| flat)? ?(major|minor)\b")
_BPM = re.compile(r"(\d+(?:\.\d+)?)\s*bpm\b")
_PITCH_CLASS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


@dataclass(frozen=True)
class ScorePlan:
    """What a description asks for, as read by `describe_score`."""

    tempo: float
    mood: str
    root: int               # MIDI note of the tonic, E3..D#4
    instruments: tuple[str, ...]


def describe_score(description: str, tempo: float | None, seed: int) -> ScorePlan:
    """Read tempo, mood, key and instruments from a theme description."""
    text = description.lower()
    said = words(text)
    if tempo is None:
        found = _BPM.search(text)
        tempo = float(found.group(1)) if found else 80.0
    tempo = float(min(max(tempo, 30.0), 240.0))

    counts = {mood: sum(w in vocab for w in said) for mood, vocab in _MOODS.items()}
    best = max(counts.values())
    # Ties go to the first mood named in the text; no mood word at all reads as "major".
    mood = "major"
    if best:
        for w in said:
            hit = [m for m, vocab in _MOODS.items() if w in vocab and counts[m] == best]
            if hit:
                mood = hit[0]
                break

    key = _KEY.search(text)
    if key:
        pc = _PITCH_CLASS[key.group(1)] + {"#": 1, " sharp": 1, "b": -1, " flat": -1}.get(key.group(2) or "", 0)
    else:
        pc = int(rng_for(seed, "score-key").choice([0, 2, 4, 5, 7, 9]))
    root = 52 + (pc - 52) % 12

    named = []
    for w in said:
        for name, vocab in _INSTRUMENTS.items():
            if w in vocab and name not in named:
                named.append(name)
    if not [n for n in named if n != "drums"]:
        named = list(_DEFAULT_ENSEMBLE[mood]) + named
    return ScorePlan(tempo, mood, root, tuple(named))


# --- notes: what to play ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Note:
    instrument: str
    beat: float
    beats: float
    midi: int
    velocity: float


def _chord_at(plan: ScorePlan, beat: float) -> tuple[int, tuple[int, ...]]:
    span = _BEATS_PER_CHORD[plan.mood]
    offset, quality = _PROGRESSIONS[plan.mood][int(beat // span) % 4]
    return plan.root + offset, _CHORDS[quality]


def _into(pitch: int, low: int) -> int:
    """The same pitch class in the octave starting at `low`."""
    return low + (pitch - low) % 12


def _accompaniment(plan: ScorePlan, n_beats: int, melody: str | None) -> list[_Note]:
    notes: list[_Note] = []
    span = _BEATS_PER_CHORD[plan.mood]
    ins = plan.instruments
    sustained = [i for i in ("strings", "organ", "pad") if i in ins]
    for start in range(0, n_beats, span):
        root, ivs = _chord_at(plan, start)
        # Close voicing in one octave gives smooth voice leading for free; a 4-note chord drops
        # its root there (the bass has it) so a maj7 does not become a semitone cluster.
        upper = ivs[1:] if len(ivs) > 3 else ivs
        pad_notes = sorted(_into(root + iv, 55) for iv in upper)
        for name in sustained:
            for p in pad_notes:
                notes.append(_Note(name, start, span, p, 0.8))
        bass = _into(root, 36)
        if "cello" in ins:
            half = span / 2 if plan.mood in ("minor", "major") else span
            for k in range(int(span / half)):
                notes.append(_Note("cello", start + k * half, half, bass, 0.85 - 0.1 * k))
        elif sustained:
            notes.append(_Note(sustained[0], start, span, bass + 12, 0.7))
        if plan.mood == "tense":  # a low drone on the tonic under everything
            notes.append(_Note("pad" if "pad" in ins else sustained[0] if sustained else "cello",
                               start, span, _into(plan.root, 33), 0.9))

        if "piano" in ins:
            low = _into(root, 45)
            third, fifth = low + ivs[1], low + ivs[2]
            figure = [low, fifth, third + 12, fifth]
            step = 2 if plan.mood in ("calm", "tense") else 1
            for k, b in enumerate(range(0, span, step)):
                vel = (0.75 if b % 4 == 0 else 0.55) * (0.7 if melody == "piano" else 1.0)
                notes.append(_Note("piano", start + b, step, figure[k % 4], vel))
        if "pluck" in ins and melody != "pluck":
            base = _into(root, 57)
            tones = [base + iv for iv in ivs] + [base + 12]
            cycle = tones + tones[-2:0:-1]
            step = 0.5 if plan.mood in ("minor", "major") else 1.0
            for k in range(int(span / step)):
                vel = 0.7 if k % 2 == 0 else 0.5
                notes.append(_Note("pluck", start + k * step, step * 2, cycle[k % len(cycle)], vel))
    if "drums" in ins:
        notes.extend(_drums(plan, n_beats))
    return notes


def _drums(plan: ScorePlan, n_beats: int) -> list[_Note]:
    out = []
    for b in range(n_beats):
        bar_pos = b % 4
        if plan.mood == "tense":
            if bar_pos == 0:
                out.append(_Note("kick", b, 1, 0, 0.9))
            continue
        if bar_pos in (0, 2) or plan.mood == "major" and bar_pos == 3:
            out.append(_Note("kick", b, 1, 0, 0.9 if bar_pos == 0 else 0.75))
        if bar_pos in (1, 3) and plan.mood != "calm":
            out.append(_Note("snare", b, 1, 0, 0.7))
        out.append(_Note("hat", b, 0.5, 0, 0.5))
        if plan.mood in ("major", "minor") and plan.tempo < 140:
            out.append(_Note("hat", b + 0.5, 0.5, 0, 0.3))
    return out


_RHYTHMS = {
    "busy": ((1, 1, 2), (2, 1, 1), (1.5, 0.5, 2), (1, 1, 1, 1), (3, 1), (0.5, 0.5, 1, 2), (2, 2)),
    "sparse": ((4,), (2, 2), (3, 1), (4,)),
}


def _melody(plan: ScorePlan, n_beats: int, instrument: str, seed: int) -> list[_Note]:
    """A seeded two-bar motif, repeated as A A' B A'' over the changing chords, then a rest."""
    rng = rng_for(seed, "score-melody", plan.mood)
    scale = _SCALES[plan.mood]
    sparse = plan.mood in ("tense", "calm")
    rhythms = _RHYTHMS["sparse" if sparse else "busy"]
    base = _into(plan.root, 48 if instrument == "cello" else 57 if plan.mood == "tense" else 64)

    def motif() -> list[tuple[float, float, int]]:
        notes, degree = [], int(rng.integers(0, 3)) * 2
        for bar in range(2):
            pick = rhythms[int(rng.integers(len(rhythms)))]
            beat = bar * 4.0
            for dur in pick:
                notes.append((beat, float(dur), degree))
                degree = int(np.clip(degree + rng.choice([-2, -1, -1, 1, 1, 2, 0]), -2, 9))
                beat += dur
        return notes

    def pitch(degree: int) -> int:
        octave, step = divmod(degree, len(scale))
        return base + 12 * octave + scale[step]

    a, b = motif(), motif()
    form = [a, a, b, a, None]  # None: two bars of rest so the melody breathes
    out: list[_Note] = []
    start, k = 8.0, 0  # two bars of accompaniment first
    while start < n_beats:
        phrase = form[k % len(form)]
        if phrase is not None:
            varied = k % len(form) in (1, 3)
            for i, (beat, dur, degree) in enumerate(phrase):
                if varied and i == len(phrase) - 1:
                    degree += int(rng.choice([-2, -1, 1, 2]))
                p = pitch(degree)
                at = start + beat
                if beat % 2 == 0:  # strong beats land on a chord tone
                    root, ivs = _chord_at(plan, at)
                    tones = [_into(root + iv, p - 6) for iv in ivs]
                    p = min(tones, key=lambda t: (abs(t - p), t))
                vel = 0.85 if beat % 4 == 0 else 0.72
                out.append(_Note(instrument, at, dur, p, vel))
        start += 8.0
        k += 1
    return out


# --- timbres: how a note sounds --------------------------------------------------------------

_TABLE = 4096


def _mtof(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12.0)


def _table(amps: np.ndarray) -> np.ndarray:
    """One cycle of a waveform with harmonic amplitudes `amps` (harmonic 1 first)."""
    phase = np.arange(_TABLE) / _TABLE
    k = np.arange(1, len(amps) + 1)[:, None]
    return (amps[:, None] * np.sin(2 * np.pi * k * phase)).sum(axis=0).astype(np.float32)


def _harmonics(kind: str, f: float, sr: int) -> np.ndarray:
    count = max(1, min(40, int(0.45 * sr / f)))  # band-limited: nothing above ~Nyquist
    k = np.arange(1, count + 1, dtype=np.float64)
    hz = k * f
    if kind == "saw":  # strings: saw through a gentle low-pass
        amps = 1.0 / k / np.sqrt(1.0 + (hz / 2400.0) ** 4)
    elif kind == "soft":  # pad: darker saw
        amps = 1.0 / k / np.sqrt(1.0 + (hz / 900.0) ** 4)
    elif kind == "organ":
        amps = np.zeros_like(k)
        for h, a in ((1, 1.0), (2, 0.55), (3, 0.35), (4, 0.25), (6, 0.12), (8, 0.08)):
            if h <= count:
                amps[h - 1] = a
    elif kind == "flute":
        amps = np.zeros_like(k)
        for h, a in ((1, 1.0), (2, 0.22), (3, 0.08), (4, 0.03)):
            if h <= count:
                amps[h - 1] = a
    elif kind == "bright":  # piano attack
        amps = k ** -1.1 * np.exp(-hz / 5000.0)
    elif kind == "mellow":  # piano body
        amps = k ** -2.0 * np.exp(-hz / 1500.0)
    else:
        raise ValueError(kind)
    return amps / np.abs(amps).sum()


def _osc(table: np.ndarray, f: float, n: int, sr: int, vibrato: float = 0.0,
         vib_rate: float = 5.5, phase0: float = 0.0) -> np.ndarray:
    """Read a wavetable at frequency f; vibrato (fractional depth) fades in over 0.4 s."""
    if vibrato:
        t = np.arange(n) / sr
        ramp = np.minimum(t / 0.4, 1.0)
        inst = f * (1.0 + vibrato * ramp * np.sin(2 * np.pi * vib_rate * t))
        phase = phase0 + np.cumsum(inst) / sr
    else:
        phase = phase0 + np.arange(n) * (f / sr)
    idx = ((phase % 1.0) * _TABLE).astype(np.int32)
    return table[idx]


def _asr(n: int, held: int, sr: int, attack: float, release: float) -> np.ndarray:
    """Attack (raised cosine), hold, then an exponential release after `held` samples."""
    env = np.ones(n, np.float32)
    a = min(int(attack * sr), held, n)
    if a > 0:
        env[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    if held < n:
        tail = np.arange(n - held) / sr
        level = env[held - 1] if held > 0 else 0.0
        env[held:] = level * np.exp(-tail / (release / 4.0))
    return env


_RELEASE = {"piano": 0.25, "strings": 0.5, "cello": 0.6, "pad": 1.2, "organ": 0.12,
            "flute": 0.15, "pluck": 0.0}


def _karplus_strong(f: float, n: int, sr: int, seed: int) -> np.ndarray:
    """A plucked string, computed one period per numpy step and resampled to tune exactly."""
    period = max(2, int(round(sr / f)))
    rate = (period + 0.5) * f  # the two-point average adds half a sample of delay
    m = int(n * rate / sr) + period + 2
    rng = np.random.default_rng(seed)
    burst = rng.uniform(-1.0, 1.0, period)
    burst = 0.5 * (burst + np.roll(burst, 1))  # a softer pluck
    out = np.empty(m, np.float64)
    out[:period] = burst
    # Loss per period so that the string rings for roughly 1.5 s at 220 Hz, shorter when higher.
    tau = 1.6 * min(1.5, (220.0 / f) ** 0.5)
    rho = math.exp(-period / (rate * tau))
    prev_tail = 0.0
    for s in range(period, m, period):
        e = min(s + period, m)
        prev = out[s - period:e - period]
        shifted = np.empty_like(prev)
        shifted[0] = prev_tail
        shifted[1:] = prev[:-1]
        out[s:e] = rho * 0.5 * (prev + shifted)
        prev_tail = out[s - 1]
    t = np.arange(n) * (rate / sr)
    return np.interp(t, np.arange(m), out).astype(np.float32)


def _drum(kind: str, sr: int) -> np.ndarray:
    rng = np.random.default_rng(stable_hash("drum", kind) & 0xFFFFFFFF)
    if kind == "kick":
        n = int(0.45 * sr)
        t = np.arange(n) / sr
        freq = 45.0 + 80.0 * np.exp(-t / 0.04)  # the pitch drop is what makes it a kick
        body = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.18)
        click = rng.standard_normal(n) * np.exp(-t / 0.004) * 0.3
        return (body + click).astype(np.float32)
    if kind == "snare":
        n = int(0.3 * sr)
        t = np.arange(n) / sr
        noise = rng.standard_normal(n)
        noise = noise - 0.6 * np.concatenate(([0.0], noise[:-1]))  # tilt towards the highs
        tone = np.sin(2 * np.pi * 185.0 * t) * np.exp(-t / 0.05)
        return (0.5 * noise * np.exp(-t / 0.07) + 0.6 * tone).astype(np.float32)
    n = int(0.12 * sr)  # hat
    t = np.arange(n) / sr
    noise = np.diff(rng.standard_normal(n + 1))  # first difference: only the top end
    return (0.5 * noise * np.exp(-t / 0.025)).astype(np.float32)


class _Voices:
    """Renders and caches one waveform per (instrument, pitch, length in samples)."""

    def __init__(self, sr: int):
        self.sr = sr
        self.cache: dict[tuple[str, int, int], np.ndarray] = {}
        self.tables: dict[tuple[str, int], np.ndarray] = {}

    def table(self, kind: str, midi: int) -> np.ndarray:
        key = (kind, midi)
        if key not in self.tables:
            self.tables[key] = _table(_harmonics(kind, _mtof(midi), self.sr))
        return self.tables[key]

    def note(self, instrument: str, midi: int, held: int) -> np.ndarray:
        key = (instrument, midi, held)
        sound = self.cache.get(key)
        if sound is None:
            sound = self.cache[key] = taper(self._render(instrument, midi, held), self.sr)
        return sound

    def _render(self, ins: str, midi: int, held: int) -> np.ndarray:
        sr = self.sr
        if ins in ("kick", "snare", "hat"):
            return _drum(ins, sr)
        f = _mtof(midi)
        rel = _RELEASE[ins]
        n = held + int(rel * sr)
        if ins == "piano":
            t = np.arange(n, dtype=np.float32) / sr
            tau = float(np.clip(1.4 * (261.6 / f) ** 0.6, 0.35, 3.0))
            bright = np.exp(-t / 0.22)  # the hammer's brightness fades first
            a = _osc(self.table("bright", midi), f * 1.0008, n, sr)
            b = _osc(self.table("mellow", midi), f, n, sr, phase0=0.25)
            env = np.exp(-t / tau) * _asr(n, held, sr, 0.003, rel)
            return ((bright * a + (1.0 - bright) * b + 0.35 * b) * env).astype(np.float32)
        if ins in ("strings", "cello"):
            table = self.table("saw", midi)
            attack = 0.35 if ins == "strings" else 0.25
            # Two slightly detuned bows: a section, not one oscillator.
            x = _osc(table, f * 1.002, n, sr, vibrato=0.004, vib_rate=5.3)
            x = x + _osc(table, f * 0.998, n, sr, vibrato=0.0035, vib_rate=4.9, phase0=0.37)
            return (0.5 * x * _asr(n, held, sr, attack, rel)).astype(np.float32)
        if ins == "pad":
            table = self.table("soft", midi)
            x = _osc(table, f * 1.004, n, sr) + _osc(table, f * 0.996, n, sr, phase0=0.5)
            return (0.5 * x * _asr(n, held, sr, min(0.9, held / sr * 0.5), rel)).astype(np.float32)
        if ins == "organ":
            x = _osc(self.table("organ", midi), f, n, sr)
            return (x * _asr(n, held, sr, 0.02, rel)).astype(np.float32)
        if ins == "flute":
            x = _osc(self.table("flute", midi), f, n, sr, vibrato=0.003, vib_rate=5.0)
            rng = np.random.default_rng(stable_hash("breath", midi, n) & 0xFFFFFFFF)
            breath = np.diff(rng.standard_normal(n + 1)) * 0.04  # a little air on top
            return ((x + breath) * _asr(n, held, sr, 0.08, rel)).astype(np.float32)
        if ins == "pluck":
            ring = held + int(1.2 * sr)  # a plucked string rings past its nominal length
            x = _karplus_strong(f, ring, sr, stable_hash("pluck", midi) & 0xFFFFFFFF)
            return (x * _asr(ring, ring - int(0.3 * sr), sr, 0.001, 0.3)).astype(np.float32)
        raise ValueError(f"unknown instrument {ins!r}")


# gain, pan, and a right-channel delay in ms (a little Haas width for sustained parts)
_MIX = {
    "piano": (0.55, -0.2, 0.0), "strings": (0.32, 0.3, 9.0), "cello": (0.5, -0.1, 4.0),
    "pad": (0.22, 0.0, 13.0), "organ": (0.25, 0.15, 7.0), "flute": (0.42, 0.1, 0.0),
    "pluck": (0.85, -0.4, 0.0), "kick": (0.42, 0.0, 0.0), "snare": (0.22, 0.05, 0.0),
    "hat": (0.12, 0.35, 0.0),
}
_MELODY_PREFERENCE = ("flute", "piano", "pluck", "organ", "strings", "cello")


# --- reverb -----------------------------------------------------------------------------------

_REVERB_DECIMATION = 4  # the tail is dark anyway: run it at a quarter of the rate, 4x cheaper


def _comb(x: np.ndarray, delay: int, g: float) -> np.ndarray:
    """y[n] = x[n] + g·y[n-delay], one delay-length block per numpy step."""
    y = x.copy()
    for s in range(delay, len(y), delay):
        e = min(s + delay, len(y))
        y[s:e] += g * y[s - delay:e - delay]
    return y


def _allpass(x: np.ndarray, delay: int, g: float) -> np.ndarray:
    """Schroeder all-pass y[n] = -g·x[n] + x[n-d] + g·y[n-d], block-wise like `_comb`."""
    y = -g * x
    y[delay:] += x[:-delay]
    for s in range(delay, len(y), delay):
        e = min(s + delay, len(y))
        y[s:e] += g * y[s - delay:e - delay]
    return y


def _reverb(left: np.ndarray, right: np.ndarray, sr: int, wet: float) -> None:
    """A small Schroeder hall added in place: four combs shared, signs decorrelate the sides."""
    k = _REVERB_DECIMATION
    m = len(left) // k * k
    if m < 8 * k:
        return
    send = left[:m].reshape(-1, k).sum(axis=1) + right[:m].reshape(-1, k).sum(axis=1)
    send *= 0.5 / k
    send[2:] = (send[2:] + send[1:-1] + send[:-2]) / 3.0  # darken what goes in
    scale = sr / k / 44100.0
    wet_l = np.zeros_like(send)
    wet_r = np.zeros_like(send)
    for i, (d, g) in enumerate(((1557, 0.80), (1617, 0.79), (1491, 0.78), (1422, 0.77))):
        c = _comb(send, max(1, int(d * scale)), g)
        wet_l += c
        if i % 2:
            wet_r -= c
        else:
            wet_r += c
    for d in (556, 441):
        wet_l = _allpass(wet_l, max(1, int(d * scale)), 0.5)
        wet_r = _allpass(wet_r, max(1, int((d + 23) * scale)), 0.5)
    # Back to the full rate by linear interpolation, written straight into the strided views.
    for wet_x, dry in ((wet_l, left), (wet_r, right)):
        wet_x *= wet * 0.25
        nxt = np.empty_like(wet_x)
        nxt[:-1] = wet_x[1:]
        nxt[-1] = wet_x[-1]
        view = dry[:m].reshape(-1, k)
        for j in range(k):
            view[:, j] += wet_x * (1.0 - j / k) + nxt * (j / k)


# --- the one entry point -----------------------------------------------------------------------

def render_score(description: str, tempo: float | None, seconds: float, seed: int,
                 sample_rate: int = 48000, fade_in: float = 0.0, fade_out: float = 0.0) -> np.ndarray:
    """Render `seconds` of score for a theme description: float32 stereo, shape (n, 2).

    Peak at about -6 dBFS; equal-power fades of `fade_in`/`fade_out` seconds (plus 5 ms at both
    ends against clicks). The same arguments always give the same samples.
    """
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"seconds must be a finite number ≥ 0, got {seconds!r}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
    if tempo is not None and not (math.isfinite(tempo) and tempo > 0):
        raise ValueError(f"tempo must be a positive number of beats per minute, got {tempo!r}")
    sr = int(sample_rate)
    n = int(round(seconds * sr))
    if n == 0:
        return np.zeros((0, 2), np.float32)

    plan = describe_score(description, tempo, seed)
    beat_s = 60.0 / plan.tempo
    n_beats = int(math.ceil(seconds / beat_s)) + 1
    melody = next((i for i in _MELODY_PREFERENCE if i in plan.instruments), None)
    if plan.mood == "tense" and melody in ("strings", "organ", "cello"):
        melody = None  # a tense bed does better without a tune on top
    notes = _accompaniment(plan, n_beats, melody)
    if melody is not None:
        notes += _melody(plan, n_beats, melody, seed)

    rng = rng_for(seed, "score-humanize")
    jitter = rng.uniform(-0.006, 0.006, len(notes))  # a few ms early or late, like players
    voices = _Voices(sr)
    # Notes go straight into the two channels: a full-length track per instrument would cost
    # more in fresh memory than the mixing itself.
    left = np.zeros(n, np.float32)
    right = np.zeros(n, np.float32)
    for note, dt in zip(notes, jitter):
        start = int(round((note.beat * beat_s + (dt if note.beat > 0 else 0.0)) * sr))
        if start >= n:
            continue
        held = max(1, int(round(note.beats * beat_s * sr)))
        sound = voices.note(note.instrument, note.midi, held)
        gain, pan, delay_ms = _MIX[note.instrument]
        gl, gr = pan_gains(pan)
        add_at(left, start, sound, note.velocity * gain * gl)
        add_at(right, start + int(delay_ms * 1e-3 * sr), sound, note.velocity * gain * gr)
    _reverb(left, right, sr, wet=0.35 if plan.mood in ("calm", "minor", "tense") else 0.25)

    peak = max(float(left.max()), -float(left.min()), float(right.max()), -float(right.min()))
    out = np.empty((n, 2), np.float32)
    out[:, 0] = left
    out[:, 1] = right
    del left, right
    if peak > 1e-9:
        out *= np.float32(10.0 ** (-6.0 / 20.0) / peak)  # peak at -6 dBFS
    fade(out, sr, 0.005, 0.005, equal_power=False)
    fade(out, sr, fade_in, fade_out, equal_power=True)
    return out
