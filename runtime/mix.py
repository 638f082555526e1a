"""The film's sound: dialogue, music ducked under it, and effects, mixed to stereo 48 kHz,
loudness-normalized and never clipping, streamed a chunk at a time so that memory stays flat
whatever the film's length.

(V.O.) narration stays dry and close; (O.S.) lines are muffled, quieter and a little roomy, as
heard from the next room. Loudness follows ITU-R BS.1770 (K-weighting, 400 ms blocks, gates) closely
enough for a draft mix.

The mix runs in two passes over the timeline: the first measures the integrated loudness and the
peak of the sum, the second renders each chunk again, scales it by the gain the first pass fixed
and hands it on (to the WAV and AAC writers). Every sample is computed from the source files'
windows that overlap its chunk, so the result does not depend on the chunk size.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from moviola.compiler.plan import SAMPLE_RATE

from .aac import AacWriter
from .audio_io import WavReader, WavWriter, resample, resampled_length
from .timeline import AudioPlacement, LineTiming, Timeline

TARGET_LUFS = -16.0
PEAK_CEILING = 10 ** (-1.0 / 20)        # -1 dBFS
DUCK_DB = -12.0
CHUNK_SECONDS = 10.0
STEMS = ("dialogue", "music", "effects")

_ECHO = 2400                            # (O.S.) room reflection delay, samples
_DUCK_BLOCK = SAMPLE_RATE // 100        # the ducking envelope needs no more than 10 ms resolution


@dataclass(frozen=True, slots=True)
class MixChunk:
    """One chunk of the finished mix, (samples, 2) float32 each: the limited mix and the three
    stems at the same gain (not limited: their sum is the mix wherever the limiter did not act)."""
    start: int
    mix: np.ndarray
    stems: dict[str, np.ndarray]


@dataclass(frozen=True, slots=True)
class MixLevels:
    """What the first pass measured: the unscaled sum's integrated loudness and peak."""
    loudness: float
    peak: float

    @property
    def gain(self) -> np.float32:
        if not np.isfinite(self.loudness):
            return np.float32(1.0)
        return np.float32(10 ** ((TARGET_LUFS - self.loudness) / 20))


class FilmMix:
    """The mix of one timeline from its rendered sources (WAV paths by job id). Nothing is read
    until a chunk needs it; a line is processed once per pass and dropped when it has ended."""

    def __init__(self, timeline: Timeline, speech: dict[str, Path], music: dict[str, Path],
                 sfx: dict[str, Path], chunk_seconds: float = CHUNK_SECONDS) -> None:
        self.timeline = timeline
        self.length = int(round(timeline.seconds * SAMPLE_RATE))
        self.chunk = max(int(round(chunk_seconds * SAMPLE_RATE)), 1)
        self._lines = [(line, WavReader(speech[line.job])) for line in timeline.lines]
        self._music = [(placement, _reader(music[placement.job], "music")) for placement in timeline.music]
        self._sfx = [(placement, _reader(sfx[placement.job], "effect")) for placement in timeline.sfx]
        # where each source starts and how long it lasts, in film samples (to find a chunk's own)
        self._line_spans = _spans([line.start for line, _ in self._lines],
                                  [_voice_length(line, reader) for line, reader in self._lines])
        self._music_spans = _spans([p.start for p, _ in self._music],
                                   [_cue_length(p, reader) for p, reader in self._music])
        self._sfx_spans = _spans([p.start for p, _ in self._sfx], [r.frames for _, r in self._sfx])
        self._duck = self._duck_envelope()
        self._voices: dict[int, np.ndarray] = {}

    @property
    def seconds(self) -> float:
        return self.length / SAMPLE_RATE

    def measure(self) -> MixLevels:
        """The first pass: loudness and peak of the sum before normalization."""
        meter = LoudnessMeter()
        peak = 0.0
        for start in range(0, self.length, self.chunk):
            dialogue, score, effects = self.stems(start, min(start + self.chunk, self.length))
            total = _sum(dialogue, score, effects)
            meter.add(total)
            if total.size:
                peak = max(peak, float(np.max(np.abs(total))))
        return MixLevels(meter.loudness(), peak)

    def chunks(self, levels: MixLevels) -> Iterator[MixChunk]:
        """The second pass: each chunk normalized to the target loudness with peaks limited to
        -1 dBFS. The limiter acts only when the scaled peak passes the ceiling, and then only on
        samples above -6 dBFS, so nothing clips."""
        gain = levels.gain
        limit = np.float32(levels.peak) * gain > PEAK_CEILING
        for start in range(0, self.length, self.chunk):
            dialogue, score, effects = self.stems(start, min(start + self.chunk, self.length))
            total = _sum(dialogue, score, effects)
            total *= gain
            if limit:
                _soft_knee(total)
            np.clip(total, -PEAK_CEILING, PEAK_CEILING, out=total)
            stems = {"dialogue": dialogue * gain, "music": score * gain, "effects": effects * gain}
            yield MixChunk(start, total, stems)

    def stems(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Samples [start, stop) of the dialogue, the (ducked) music and the effects, unscaled."""
        count = stop - start
        firsts, ends = self._line_spans
        for index in [i for i in self._voices if ends[i] <= start]:
            del self._voices[index]
        dialogue = np.zeros((count, 2), np.float32)
        for index in _meeting(self._line_spans, start, stop):
            line, reader = self._lines[index]
            voice = self._voices.get(index)
            if voice is None:
                voice = self._voices[index] = _stereo(_voice(line, reader))
            _add_window(dialogue, start, stop, self.length, voice, int(firsts[index]),
                        1.1 if line.voice_over else 1.0)

        score = np.zeros((count, 2), np.float32)
        firsts, ends = self._music_spans
        for index in _meeting(self._music_spans, start, stop):
            placement, reader = self._music[index]
            first, total = int(firsts[index]), int(ends[index] - firsts[index])
            lo, hi = _overlap(start, stop, self.length, first, total)
            window = _stereo(reader.read(lo - first, hi - lo))
            window = _fade_window(window, lo - first, total, placement.fade_in, placement.fade_out)
            score[lo - start:hi - start] += window * (placement.volume * 0.6)
        if self._duck is not None:
            score *= self._duck[np.arange(start, stop) // _DUCK_BLOCK][:, None]

        effects = np.zeros((count, 2), np.float32)
        firsts, _ = self._sfx_spans
        for index in _meeting(self._sfx_spans, start, stop):
            placement, reader = self._sfx[index]
            first = int(firsts[index])
            lo, hi = _overlap(start, stop, self.length, first, reader.frames)
            effects[lo - start:hi - start] += _stereo(reader.read(lo - first, hi - lo)) * (placement.volume * 0.7)
        return dialogue, score, effects

    def _duck_envelope(self) -> np.ndarray | None:
        """Music ducks under speech with a smoothed envelope (attack/release ~150 ms), one gain per
        10 ms block of the film (a feature's is a few MB)."""
        count = (self.length + _DUCK_BLOCK - 1) // _DUCK_BLOCK
        coarse = np.zeros(count, np.float32)
        for first, end in zip(*self._line_spans):
            last = min(int(end), self.length)
            if first < last:
                coarse[first // _DUCK_BLOCK:(last - 1) // _DUCK_BLOCK + 1] = 1.0
        if not self._music or not coarse.any():
            return None
        smooth = _moving_average(_moving_average(coarse, 15), 15)
        return (1.0 - (1.0 - 10 ** (DUCK_DB / 20)) * np.clip(smooth * 1.5, 0, 1)).astype(np.float32)


def _spans(starts: list[float], lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    firsts = np.array([int(round(start * SAMPLE_RATE)) for start in starts], np.int64)
    return firsts, firsts + np.array(lengths, np.int64)


def _meeting(spans: tuple[np.ndarray, np.ndarray], start: int, stop: int) -> list[int]:
    """The sources (in timeline order, which fixes the order of the sums) that sound in
    [start, stop)."""
    firsts, ends = spans
    return np.nonzero((firsts < stop) & (ends > start) & (ends > firsts))[0].tolist()


def _cue_length(placement: AudioPlacement, reader: WavReader) -> int:
    if placement.seconds is None:
        return reader.frames
    return min(reader.frames, int(round(placement.seconds * SAMPLE_RATE)))


def _reader(path: Path, what: str) -> WavReader:
    reader = WavReader(path)
    if reader.rate != SAMPLE_RATE:
        raise ValueError(f"the {what} {Path(path).name} is at {reader.rate} Hz; the mix reads "
                         f"{SAMPLE_RATE} Hz")
    return reader


def _voice_length(line: LineTiming, reader: WavReader) -> int:
    length = resampled_length(reader.frames, reader.rate, SAMPLE_RATE)
    return length + _ECHO if line.off_screen and length else length


def _voice(line: LineTiming, reader: WavReader) -> np.ndarray:
    voice = resample(reader.read(), reader.rate, SAMPLE_RATE)
    if line.off_screen and len(voice):
        voice = _lowpass(voice, 1800.0) * 0.55
        echo = np.zeros((len(voice) + _ECHO,) + voice.shape[1:], np.float32)
        echo[: len(voice)] += voice
        echo[_ECHO:] += voice * 0.25
        voice = echo
    return voice


def _overlap(start: int, stop: int, length: int, first: int, count: int) -> tuple[int, int]:
    """The film samples [lo, hi) where a clip placed at ``first`` meets the chunk."""
    return max(first, start), min(first + count, length, stop)


def _add_window(track: np.ndarray, start: int, stop: int, length: int, clip: np.ndarray,
                first: int, gain: float) -> None:
    lo, hi = _overlap(start, stop, length, first, len(clip))
    if lo < hi:
        track[lo - start:hi - start] += clip[lo - first:hi - first] * gain


def _sum(dialogue: np.ndarray, score: np.ndarray, effects: np.ndarray) -> np.ndarray:
    total = dialogue + score
    total += effects
    return total


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


def _fade_window(window: np.ndarray, offset: int, total: int, fade_in: float,
                 fade_out: float) -> np.ndarray:
    """Samples [offset, offset + len(window)) of a ``total``-long cue with equal-power fades at
    its ends (sin² ramps), computed for that window only."""
    out = window.astype(np.float32, copy=True)
    end = offset + len(out)
    for seconds, at_start in ((fade_in, True), (fade_out, False)):
        count = min(int(seconds * SAMPLE_RATE), total)
        if count <= 1:
            continue
        ramp = np.sin(np.linspace(0, np.pi / 2, count)) ** 2
        if at_start:
            lo, hi = offset, min(end, count)
            if lo < hi:
                out[lo - offset:hi - offset] *= ramp[lo:hi, None]
        else:
            lo, hi = max(offset, total - count), end
            if lo < hi:
                out[lo - offset:hi - offset] *= ramp[::-1][lo - (total - count):hi - (total - count), None]
    return out


def _soft_knee(samples: np.ndarray) -> None:
    """Compress, in place, the samples above -6 dBFS towards the -1 dBFS ceiling (tanh knee)."""
    knee = 0.5
    over = np.abs(samples) > knee
    values = samples[over]
    magnitude = np.abs(values)
    compressed = knee + (PEAK_CEILING - knee) * np.tanh((magnitude - knee) / (PEAK_CEILING - knee))
    samples[over] = np.sign(values) * compressed


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


# -- loudness -------------------------------------------------------------------------------------


class LoudnessMeter:
    """BS.1770-style integrated loudness (LUFS) of a stereo stream fed in chunks of any size.

    Measured on a 12 kHz copy (every 4th sample of the film) for speed, K-weighted by a
    linear-phase FIR (the high shelf and high pass of the standard, sampled in frequency) applied
    by overlap-save on a fixed block grid, then 400 ms blocks every 100 ms, the absolute gate at
    -70 LUFS and the relative gate 10 LU below. The block grid and the filter do not depend on how
    the stream is cut, so any chunking gives the whole array's figure (to float rounding)."""

    STEP = 4
    TAPS = 4095
    BLOCK = 16384                        # filtered samples per FFT

    def __init__(self, rate: int = SAMPLE_RATE) -> None:
        self.rate = rate / self.STEP
        self._hop = int(0.1 * self.rate)
        self._gate_block = int(0.4 * self.rate)
        self._filter = np.fft.rfft(_k_weighting_fir(self.rate, self.TAPS), self._fft_size)
        self._seen = 0                                   # film samples fed so far
        self._input = np.zeros((self.TAPS - 1, 2))       # the filter's history, then pending input
        self._delay = (self.TAPS - 1) // 2               # filtered outputs still owed to the delay
        self._squares = np.zeros(0)                      # filtered power not yet in a whole hop
        self._hops: list[float] = []
        self._total = 0.0                                # for a stream shorter than one block
        self._count = 0                                  # decimated samples fed
        self._kept = 0                                   # their filtered values summed so far

    @property
    def _fft_size(self) -> int:
        return self.BLOCK + self.TAPS - 1

    def add(self, samples: np.ndarray) -> None:
        samples = samples.reshape(len(samples), -1)
        decimated = samples[(-self._seen) % self.STEP::self.STEP].astype(np.float64)
        self._seen += len(samples)
        if decimated.shape[1] == 1:
            decimated = np.repeat(decimated, 2, axis=1)
        self._input = np.concatenate([self._input, decimated])
        self._count += len(decimated)
        self._filter_blocks(final=False)

    def loudness(self) -> float:
        """The integrated loudness of everything fed (call it once, at the end)."""
        if self._count == 0:
            return float("-inf")
        self._filter_blocks(final=True)
        if self._count < self._gate_block:
            power = self._total / self._count
            return -0.691 + 10 * np.log10(power) if power > 0 else float("-inf")
        hops = np.asarray(self._hops)
        window = self._gate_block // self._hop
        cumulative = np.concatenate([[0.0], np.cumsum(hops)])
        powers = (cumulative[window:] - cumulative[:-window]) / self._gate_block
        with np.errstate(divide="ignore"):
            loudness = -0.691 + 10 * np.log10(powers)
        gated = powers[loudness > -70]
        if gated.size == 0:
            return float("-inf")
        relative = -0.691 + 10 * np.log10(gated.mean()) - 10
        with np.errstate(divide="ignore"):
            kept = gated[-0.691 + 10 * np.log10(gated) > relative]
        return float(-0.691 + 10 * np.log10(kept.mean())) if kept.size else float("-inf")

    def _filter_blocks(self, final: bool) -> None:
        history = self.TAPS - 1
        while True:
            pending = len(self._input) - history
            if pending < self.BLOCK:
                if not (final and self._kept < self._count):
                    return
                # the end: zeros after the last sample, until every input has its output
                self._input = np.concatenate([self._input, np.zeros((self.BLOCK - pending, 2))])
            block = self._input[:self._fft_size]
            out = np.fft.irfft(np.fft.rfft(block, axis=0) * self._filter[:, None],
                               self._fft_size, axis=0)[history:]
            self._input = self._input[self.BLOCK:]
            self._take(out)

    def _take(self, filtered: np.ndarray) -> None:
        """Filtered samples in order: the first ``TAPS // 2`` are the FIR's delay, those past the
        stream's end its tail; the rest are summed into 100 ms hops."""
        skip = min(self._delay, len(filtered))
        self._delay -= skip
        filtered = filtered[skip:][:self._count - self._kept]
        self._kept += len(filtered)
        squares = (filtered ** 2).sum(axis=1)
        self._total += float(squares.sum())
        joined = np.concatenate([self._squares, squares])
        whole = len(joined) // self._hop * self._hop
        if whole:
            self._hops.extend(joined[:whole].reshape(-1, self._hop).sum(axis=1).tolist())
        self._squares = joined[whole:]


def _k_weighting_fir(rate: float, taps: int) -> np.ndarray:
    """The K-weighting pre-filter (high shelf of about +4 dB above 2 kHz, second-order high pass at
    38 Hz) as a linear-phase FIR of ``taps`` (odd) taps, delay ``taps // 2``."""
    size = taps + 1
    freqs = np.maximum(np.fft.rfftfreq(size, 1 / rate), 1e-3)
    shelf = 1 + (10 ** (4 / 20) - 1) / (1 + (1681.97 / freqs) ** 2)
    highpass = 1 / np.sqrt(1 + (38.13 / freqs) ** 4)
    impulse = np.roll(np.fft.irfft(shelf * highpass, size), taps // 2)[:taps]
    return impulse * np.hanning(taps + 2)[1:-1]


def integrated_loudness(samples: np.ndarray) -> float:
    """The integrated loudness (LUFS) of a whole array (the meter fed at once)."""
    meter = LoudnessMeter()
    meter.add(samples)
    return meter.loudness()


def write_mix(film: FilmMix, mix_sinks: list, stem_sinks: dict[str, list]) -> dict:
    """Both passes: measure, then hand each normalized chunk to every sink (anything with
    ``write(samples)``: a ``WavWriter``, an ``AacWriter``) of the mix and of each stem. Returns the
    facts of the finished mix: length, integrated loudness, peak."""
    levels = film.measure()
    meter = LoudnessMeter()
    peak = 0.0
    for chunk in film.chunks(levels):
        for sink in mix_sinks:
            sink.write(chunk.mix)
        for name, sinks in stem_sinks.items():
            for sink in sinks:
                sink.write(chunk.stems[name])
        meter.add(chunk.mix)
        if chunk.mix.size:
            peak = max(peak, float(np.max(np.abs(chunk.mix))))
    return {"seconds": round(film.seconds, 4), "loudness": round(meter.loudness(), 2),
            "peak": round(peak, 4), "gain_db": round(20 * math.log10(float(levels.gain)), 3)}


def write_files(film: FilmMix, path_of: Callable[[str], Path]) -> dict:
    """The mix entry's artifacts: ``mix`` (WAV), ``mix_aac`` (so the mux only copies packets) and
    one WAV per stem, at the paths ``path_of(artifact name)`` gives. Returns ``write_mix``'s facts."""
    with ExitStack() as stack:
        def wav(name: str) -> WavWriter:
            return stack.enter_context(WavWriter(path_of(name), SAMPLE_RATE, 2))

        aac = stack.enter_context(AacWriter(path_of("mix_aac")))
        return write_mix(film, [wav("mix"), aac], {stem: [wav(stem)] for stem in STEMS})
