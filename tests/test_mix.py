"""The streamed mix (runtime/mix.py): loudness measured in a first pass equals the whole array's,
the chunk size never changes a sample, the stems add up to the mix, and the AAC stream does not
depend on how the mix was cut."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from moviola.compiler.plan import SAMPLE_RATE
from moviola.runtime import mix as mixing
from moviola.runtime.aac import AacWriter
from moviola.runtime.audio_io import WavReader, read_wav, write_wav
from moviola.runtime.timeline import AudioPlacement, CutTiming, LineTiming, Timeline
from moviola.runtime.backends.protocol import artifact_of

FPS = 24.0


def _tone(seconds: float, rate: int, frequency: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.fixture
def film(tmp_path) -> tuple[Timeline, dict, dict, dict]:
    """A 12-second film: three lines (one on screen, one V.O., one O.S.) at espeak's rate, a music
    cue with fades that ducks under them, and two effects."""
    speech, music, sfx = {}, {}, {}
    lines = []
    for number, (start, voice_over, off_screen) in enumerate(
            [(0.5, False, False), (3.2, True, False), (7.9, False, True)], 1):
        job = f"speech:c/{number}"
        speech[job] = tmp_path / f"line{number}.wav"
        write_wav(speech[job], _tone(1.6, 22050, 220.0 * number), 22050)
        lines.append(LineTiming(job, start, 1.6, "A", f"line {number}", voice_over, off_screen))
    music["music:c/1"] = tmp_path / "music.wav"
    write_wav(music["music:c/1"], np.stack([_tone(14.0, SAMPLE_RATE, 110.0, 0.2),
                                            _tone(14.0, SAMPLE_RATE, 165.0, 0.2)], axis=1), SAMPLE_RATE)
    placements = (AudioPlacement("music:c/1", 0.0, 11.0, 1.5, 2.0, 0.8),)
    for number, start in enumerate((2.0, 10.5), 1):
        sfx[f"sfx:c/{number}"] = tmp_path / f"sfx{number}.wav"
        write_wav(sfx[f"sfx:c/{number}"], _tone(0.8, SAMPLE_RATE, 2000.0, 0.5), SAMPLE_RATE)
    effects = tuple(AudioPlacement(f"sfx:c/{n}", s, None, volume=1.0) for n, s in enumerate((2.0, 10.5), 1))
    frames = int(12 * FPS)
    cut = CutTiming("c", "1", 0, frames, "cut", "cut", tuple(lines))
    return Timeline(FPS, (cut,), placements, effects, frames, {"c": cut}), speech, music, sfx


def _render(film, chunk_seconds: float) -> tuple[np.ndarray, dict[str, np.ndarray], mixing.MixLevels]:
    mix = mixing.FilmMix(*film, chunk_seconds=chunk_seconds)
    levels = mix.measure()
    chunks = list(mix.chunks(levels))
    stems = {name: np.concatenate([c.stems[name] for c in chunks]) for name in mixing.STEMS}
    return np.concatenate([c.mix for c in chunks]), stems, levels


def test_chunk_size_changes_no_sample(film):
    whole, whole_stems, whole_levels = _render(film, 1000.0)
    assert len(whole) == 12 * SAMPLE_RATE
    for chunk_seconds in (0.37, 1.0, 5.0):
        mix, stems, levels = _render(film, chunk_seconds)
        assert levels == whole_levels
        assert np.array_equal(mix, whole)
        for name in mixing.STEMS:
            assert np.array_equal(stems[name], whole_stems[name]), name


def test_streamed_loudness_equals_the_whole_arrays(film):
    whole = _render(film, 1000.0)[0]
    reference = mixing.integrated_loudness(whole)
    for size in (4093, 48000, 480001):
        meter = mixing.LoudnessMeter()
        for start in range(0, len(whole), size):
            meter.add(whole[start:start + size])
        assert meter.loudness() == pytest.approx(reference, abs=1e-9)
    # the mix lands on its target (the limiter did not act on this quiet film)
    assert reference == pytest.approx(mixing.TARGET_LUFS, abs=0.05)


@pytest.mark.parametrize("frequency", [100.0, 1000.0, 5000.0])
def test_loudness_of_a_tone_follows_the_k_weighting(frequency):
    """A steady stereo tone: the mean square times the filter's power gain at that frequency, and
    the silence around it is gated out."""
    tone = _tone(6.0, SAMPLE_RATE, frequency, 0.25)
    stereo = np.stack([tone, tone], axis=1)
    f = frequency
    shelf = 1 + (10 ** (4 / 20) - 1) / (1 + (1681.97 / f) ** 2)
    highpass = 1 / np.sqrt(1 + (38.13 / f) ** 4)
    expected = -0.691 + 10 * np.log10(2 * 0.25 ** 2 / 2 * (shelf * highpass) ** 2)
    assert mixing.integrated_loudness(stereo) == pytest.approx(expected, abs=0.05)
    padded = np.concatenate([np.zeros((SAMPLE_RATE * 5, 2), np.float32), stereo,
                             np.zeros((SAMPLE_RATE * 5, 2), np.float32)])
    # only the few 400 ms blocks that straddle the tone's ends pass the gates partly silent
    assert mixing.integrated_loudness(padded) == pytest.approx(expected, abs=0.3)
    assert mixing.integrated_loudness(np.zeros((SAMPLE_RATE, 2), np.float32)) == float("-inf")


def test_stems_sum_to_the_mix_and_hold_what_the_film_has(film):
    """The stems carry the mix's gain but not its limiter: where the mix stays under the limiter's
    knee (-6 dBFS) they add up to it exactly, up to float rounding."""
    mix, stems, _ = _render(film, 2.0)
    total = stems["dialogue"] + stems["music"] + stems["effects"]
    under = np.abs(mix) < 0.5
    assert under.mean() > 0.99
    assert np.max(np.abs(total[under] - mix[under])) < 1e-6

    def rms(stem: str, start: float, end: float) -> float:
        part = stems[stem][int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
        return float(np.sqrt(np.mean(part.astype(np.float64) ** 2)))

    assert rms("dialogue", 0.6, 2.0) > 0.01 and rms("dialogue", 5.0, 7.5) == 0.0
    assert rms("effects", 2.1, 2.7) > 0.01 and rms("effects", 4.0, 10.0) == 0.0
    assert rms("music", 4.9, 7.5) > 0.01 and rms("music", 11.1, 12.0) == 0.0
    # the music ducks under the lines: quieter while someone speaks than between lines
    assert rms("music", 0.8, 1.8) < 0.5 * rms("music", 5.0, 7.5)


def test_an_input_reaches_the_mix(film, tmp_path):
    """Louder music, all else equal: the mix's music stem changes, the dialogue keeps its level."""
    timeline, speech, music, sfx = film
    _, before, _ = _render(film, 3.0)
    write_wav(music["music:c/1"], np.zeros((SAMPLE_RATE * 14, 2), np.float32), SAMPLE_RATE)
    _, after, _ = _render((timeline, speech, music, sfx), 3.0)
    assert np.abs(after["music"]).max() == 0.0 and np.abs(before["music"]).max() > 0.01


def test_written_files_match_the_chunks(film, tmp_path):
    out = tmp_path / "entry"
    out.mkdir()
    facts = mixing.write_files(mixing.FilmMix(*film, chunk_seconds=0.7),
                              lambda artifact: out / artifact_of("mix", artifact).file)
    samples, rate = read_wav(out / "mix.wav")
    assert rate == SAMPLE_RATE and samples.shape == (12 * SAMPLE_RATE, 2)
    expected, stems, _ = _render(film, 1000.0)
    assert np.max(np.abs(samples - expected)) <= 1 / 32767
    for name in mixing.STEMS:
        assert np.max(np.abs(read_wav(out / f"{name}.wav")[0] - stems[name])) <= 1 / 32767
    assert facts["seconds"] == 12.0 and facts["loudness"] == pytest.approx(-16.0, abs=0.05)
    assert WavReader(out / "dialogue.wav").read(SAMPLE_RATE, 10).shape == (10, 2)
    with av.open(str(out / "mix.m4a")) as container:
        decoded = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    assert abs(decoded.shape[1] - len(samples)) <= 2048


def test_a_source_at_another_rate_is_refused(film, tmp_path):
    timeline, speech, music, sfx = film
    write_wav(music["music:c/1"], np.zeros(1000, np.float32), 44100)
    with pytest.raises(ValueError, match="44100 Hz"):
        mixing.FilmMix(timeline, speech, music, sfx)


def _packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def test_aac_stream_does_not_depend_on_the_chunking(tmp_path):
    audio = np.stack([_tone(3.0, SAMPLE_RATE, 440.0), _tone(3.0, SAMPLE_RATE, 660.0)], axis=1)
    packets = []
    for size in (len(audio), 1000, 4096):
        path = tmp_path / f"a{size}.m4a"
        with AacWriter(path) as writer:
            for start in range(0, len(audio), size):
                writer.write(audio[start:start + size])
        packets.append(_packets(path))
    assert packets[0] == packets[1] == packets[2] and len(packets[0]) >= len(audio) // 1024
