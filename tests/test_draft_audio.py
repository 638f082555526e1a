"""The draft profile's audio backends: espeak-ng speech, synthesized score, synthesized sfx."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from moviola.runtime.backends.draft import speech
from moviola.runtime.backends.draft.score import describe_score, render_score
from moviola.runtime.backends.draft.sfx import render_sfx, sfx_kinds
from moviola.runtime.backends.draft.speech import VoiceSpec, synthesize, voice_for

LINE = "It was here. Every Monday, we came down to the river with the sheets."


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def centroid(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), 1.0 / sr)
    return float((spectrum * freqs).sum() / spectrum.sum())


# --- speech ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def marie() -> VoiceSpec:
    return voice_for("MARIE", "a washerwoman in her sixties", 0)


def test_speech_is_audible_float32_at_espeak_rate(marie):
    audio, sr = synthesize(LINE, marie)
    assert sr == 22050
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert rms(audio) > 0.02
    assert np.max(np.abs(audio)) <= 1.0
    # Trimmed: no more than ~50 ms of near-silence at either end.
    quiet = np.abs(audio) < 0.02 * np.max(np.abs(audio))
    assert np.argmin(quiet) <= int(0.06 * sr)
    assert np.argmin(quiet[::-1]) <= int(0.06 * sr)


def test_speech_length_grows_with_text(marie):
    short, sr = synthesize("Yes.", marie)
    medium, _ = synthesize("Yes, I remember the river.", marie)
    long, _ = synthesize("Yes, I remember the river, and the sheets, and my mother singing.", marie)
    assert len(short) < len(medium) < len(long)


def test_speech_is_deterministic_whatever_was_said_before(marie):
    first, _ = synthesize(LINE, marie, ("softly",))
    synthesize("Something else entirely, to disturb any state.", VoiceSpec(variant="f2", pitch=80))
    again, _ = synthesize(LINE, marie, ("softly",))
    assert first.tobytes() == again.tobytes()


# Speaks LINE with every espeak variant (the breathy f2, f3, f5 among them) and a whisper, and
# prints one digest per rendering.
_SPEAK_EVERY_VARIANT = f"""
import hashlib
from moviola.runtime.backends.draft.speech import FEMALE_VARIANTS, MALE_VARIANTS, VoiceSpec, synthesize
for variant in FEMALE_VARIANTS + MALE_VARIANTS:
    for delivery in ((), ("whispering",)):
        audio, _ = synthesize({LINE!r}, VoiceSpec(variant=variant), delivery)
        print(variant, delivery, hashlib.sha256(audio.tobytes()).hexdigest())
"""


def test_speech_is_identical_in_fresh_processes():
    # espeak seeds its breath noise from the clock (whole seconds) when it initializes: each
    # process starts in a later second than the one before, with its own hash seed.
    outputs, started = [], None
    for hash_seed in ("0", "1", "4242"):
        while started is not None and int(time.time()) == started:
            time.sleep(0.05)
        started = int(time.time())
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        done = subprocess.run([sys.executable, "-c", _SPEAK_EVERY_VARIANT], env=env,
                              capture_output=True, text=True, check=True)
        outputs.append(done.stdout.splitlines())
    assert len(outputs[0]) == 2 * (len(speech.FEMALE_VARIANTS) + len(speech.MALE_VARIANTS))
    for other in outputs[1:]:
        differing = [a.rsplit(" ", 1)[0] for a, b in zip(outputs[0], other) if a != b]
        assert differing == [], f"these voices spoke differently in another process: {differing}"


def test_voice_for_is_stable_and_reads_the_description():
    assert voice_for("MARIE", "an old woman", 0) == voice_for("MARIE", "an old woman", 0)
    assert voice_for("MARIE", "a washerwoman, her hands red", 0).variant.startswith("f")
    assert voice_for("PAUL", "her son, a fisherman", 1).variant.startswith("m")
    assert voice_for("OLD JO", "a grandmother", 2).variant.startswith("f")
    assert voice_for("JACQUES", "the ferryman; he never smiles", 3).variant.startswith("m")


def test_every_character_of_a_film_gets_its_own_voice():
    cast = [voice_for(f"CHARACTER {i}", "a passenger", i) for i in range(60)]
    assert len(set(cast)) == len(cast)
    # Even two characters whose names hash alike are told apart by their order.
    assert voice_for("ANNE", "a woman", 0) != voice_for("ANNE", "a woman", 1)


def test_different_characters_sound_different(marie):
    paul = voice_for("PAUL", "her son, a fisherman", 1)
    a, _ = synthesize(LINE, marie)
    b, _ = synthesize(LINE, paul)
    assert marie != paul
    assert len(a) != len(b) or not np.array_equal(a, b)


def test_whisper_is_quieter_than_a_shout(marie):
    whisper, _ = synthesize(LINE, marie, ("whispering",))
    plain, _ = synthesize(LINE, marie)
    shout, _ = synthesize(LINE, marie, ("shouting",))
    assert rms(whisper) < rms(plain) < rms(shout)
    assert rms(shout) > 2 * rms(whisper)


def test_delivery_changes_the_pace(marie):
    slow, _ = synthesize(LINE, marie, ("slowly",))
    fast, _ = synthesize(LINE, marie, ("quickly",))
    plain, _ = synthesize(LINE, marie, ("gibberish", "unknownword"))  # unknown words are ignored
    assert len(fast) < len(plain) < len(slow)
    assert np.array_equal(plain, synthesize(LINE, marie)[0])


def test_languages_and_the_english_fallback(marie, caplog):
    english, _ = synthesize("Bonjour, mes amis.", marie, language="en")
    french, _ = synthesize("Bonjour, mes amis.", marie, language="fr")
    british, _ = synthesize("Bonjour, mes amis.", marie, language="en-GB")
    unknown, _ = synthesize("Bonjour, mes amis.", marie, language="xx-YY")
    assert rms(french) > 0.02 and rms(british) > 0.02
    assert not np.array_equal(english[: len(french)], french[: len(english)]) or len(english) != len(french)
    assert np.array_equal(unknown, english)
    assert "xx-YY" in caplog.text


def test_empty_or_punctuation_only_text_is_a_short_silence(marie):
    for text in ("", "...", " -- !? "):
        audio, sr = synthesize(text, marie)
        assert len(audio) == int(0.3 * sr)
        assert not audio.any()


def test_missing_library_is_a_named_runtime_error(monkeypatch, tmp_path):
    import espeakng_loader

    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: str(tmp_path / "libespeak-ng.so"))
    with pytest.raises(RuntimeError, match="libespeak-ng.so is missing"):
        speech._locate()
    # A file that is there but is not a library: the helper process says so.
    bogus = tmp_path / "libespeak-ng.so"
    bogus.write_bytes(b"not a shared object")
    monkeypatch.setattr(speech, "_locate", lambda: (str(bogus), espeakng_loader.get_data_path()))
    with pytest.raises(RuntimeError, match="cannot load the espeak-ng library"):
        speech._Engine()


# --- score -------------------------------------------------------------------------------------

SR = 16000  # the tests' rate: the code is rate-agnostic and this keeps them quick


def test_score_shape_level_and_determinism():
    a = render_score("melancholic piano and cello", None, 6.1237, seed=3, sample_rate=SR)
    b = render_score("melancholic piano and cello", None, 6.1237, seed=3, sample_rate=SR)
    c = render_score("melancholic piano and cello", None, 6.1237, seed=4, sample_rate=SR)
    assert a.shape == (round(6.1237 * SR), 2) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0.45 < np.max(np.abs(a)) < 1.0  # about -6 dBFS
    assert not np.array_equal(a[:, 0], a[:, 1])  # some stereo spread
    assert render_score("calm", 80, 0.0, seed=1).shape == (0, 2)


@pytest.mark.parametrize("description", [
    "hopeful warm strings and harp, light drums",
    "tense suspense, low drones",
    "calm peaceful pad and flute",
    "joyful organ, 120 bpm",
    "",
])
def test_every_mood_and_instrument_renders(description):
    out = render_score(description, None, 4.0, seed=1, sample_rate=SR)
    assert out.shape == (4 * SR, 2)
    assert np.isfinite(out).all() and rms(out) > 0.01


def test_score_fades():
    out = render_score("hopeful strings and piano", None, 8.0, seed=2, sample_rate=SR,
                       fade_in=1.5, fade_out=1.5)
    edge = int(0.05 * SR)
    middle = rms(out[3 * SR:5 * SR])
    assert rms(out[:edge]) < 0.05 * middle
    assert rms(out[-edge:]) < 0.05 * middle


def _chroma(x: np.ndarray, sr: int) -> np.ndarray:
    mono = x.mean(axis=1)
    power = np.abs(np.fft.rfft(mono)) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1.0 / sr)
    keep = (freqs > 90) & (freqs < 1100)
    pcs = np.round(12 * np.log2(freqs[keep] / 440.0) + 69).astype(int) % 12
    return np.bincount(pcs, weights=power[keep], minlength=12)


def test_minor_and_major_descriptions_change_the_harmony():
    minor = render_score("melancholic piano in A minor", None, 12.0, seed=5, sample_rate=SR)
    major = render_score("joyful piano in A major", None, 12.0, seed=5, sample_rate=SR)
    assert describe_score("melancholic piano in A minor", None, 5).mood == "minor"
    assert describe_score("joyful piano in A major", None, 5).mood == "major"
    a = 9  # pitch class of A
    cm, cM = _chroma(minor, SR), _chroma(major, SR)
    assert cm[(a + 3) % 12] > 2 * cm[(a + 4) % 12]  # C over C#: a minor third
    assert cM[(a + 4) % 12] > 2 * cM[(a + 3) % 12]  # C# over C: a major third


def _onset_autocorrelation(x: np.ndarray, sr: int, lags_s: tuple[float, ...]) -> list[float]:
    hop = int(0.005 * sr)
    mono = x.mean(axis=1)
    frames = mono[: len(mono) // hop * hop].reshape(-1, hop)
    energy = np.sqrt((frames ** 2).mean(axis=1))
    flux = np.maximum(np.diff(energy), 0.0)
    flux -= flux.mean()
    return [float(np.dot(flux[:-round(l / 0.005)], flux[round(l / 0.005):])) for l in lags_s]


def test_tempo_sets_the_onset_spacing():
    assert describe_score("a slow waltz, 72 bpm", None, 0).tempo == 72.0
    assert describe_score("a slow waltz, 72 bpm", 100.0, 0).tempo == 100.0
    assert describe_score("anything", None, 0).tempo == 80.0
    lags = (0.5, 2 / 3)  # one beat at 120 bpm, one beat at 90 bpm
    at_120 = _onset_autocorrelation(render_score("piano and drums", 120, 12.0, 1, SR), SR, lags)
    at_90 = _onset_autocorrelation(render_score("piano and drums", 90, 12.0, 1, SR), SR, lags)
    assert at_120[0] > at_120[1]
    assert at_90[1] > at_90[0]


def test_score_rejects_bad_inputs():
    with pytest.raises(ValueError):
        render_score("calm", None, -1.0, seed=0)
    with pytest.raises(ValueError):
        render_score("calm", 0.0, 1.0, seed=0)


# --- sfx ---------------------------------------------------------------------------------------

def test_sfx_length_determinism_and_level():
    default = render_sfx("a knock at the door", None, seed=1, sample_rate=SR)
    assert default.shape == (2 * SR,) and default.dtype == np.float32
    again = render_sfx("a knock at the door", None, seed=1, sample_rate=SR)
    other = render_sfx("a knock at the door", None, seed=2, sample_rate=SR)
    assert np.array_equal(default, again)
    assert not np.array_equal(default, other)
    assert render_sfx("rain", 1.5, seed=1, sample_rate=SR).shape == (int(1.5 * SR),)
    assert render_sfx("rain", 0, seed=1).shape == (0,)


@pytest.mark.parametrize("description", [
    "the river lapping at the stones", "rain on the roof", "wind in the trees", "a knock at the door",
    "footsteps on the quay", "a clatter of dishes", "a click", "the ratchet of the winch",
    "the church bell", "wind chimes", "birds", "the fire crackles", "the ferry's engine",
    "an unremarkable afternoon",
])
def test_sfx_is_audible_and_in_range(description):
    out = render_sfx(description, 2.0, seed=7, sample_rate=SR)
    assert np.isfinite(out).all()
    assert np.max(np.abs(out)) <= 0.51
    assert rms(out) > 0.002
    # Short fades: the very first and last samples are (near) silent, so cuts do not click.
    assert abs(out[0]) < 1e-3 and abs(out[-1]) < 1e-3


def test_sfx_keywords_choose_the_sound():
    assert sfx_kinds("an unremarkable afternoon") == ("room",)
    assert sfx_kinds("footsteps in the rain") == ("footsteps", "rain")
    sr = 48000
    birds = centroid(render_sfx("birds singing", 2.0, 1, sr), sr)
    engine = centroid(render_sfx("the ferry's engine", 2.0, 1, sr), sr)
    water = centroid(render_sfx("the river", 2.0, 1, sr), sr)
    bell = centroid(render_sfx("a bell", 2.0, 1, sr), sr)
    assert birds > 2 * engine and water > 2 * engine and birds > 2 * bell
    room = render_sfx("an unremarkable afternoon", 2.0, 1, sr)
    assert np.max(np.abs(room)) < 0.1  # the fallback is a quiet bed, not an event


def test_modules_do_not_import_torch_or_scipy():
    for name in ("score", "sfx", "speech", "audio_util"):
        source = __import__(f"moviola.runtime.backends.draft.{name}", fromlist=["_"]).__file__
        text = open(source, encoding="utf-8").read()
        assert "import torch" not in text and "import scipy" not in text
