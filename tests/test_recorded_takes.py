"""Lines the writer recorded (``[[voice: …; from: take.wav]]``): the signal processing, the
routing of those lines to the profile's ``performance`` backend, and the draft backend that
moves the take into the character's register."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from moviola.cli import main
from moviola.compiler.api import compile_text
from moviola.compiler.plan import plan
from moviola.compiler.profiles import builtin_profiles, parse_profiles
from moviola.runtime import speech_dsp
from moviola.runtime.audio_io import read_wav, write_wav
from moviola.runtime.backends.draft import speech
from moviola.runtime.backends.draft.jobs import PerformanceBackend
from moviola.runtime.backends.protocol import Task

RATE = 24000


def voiced(f0: float, seconds: float, rate: int = RATE, vibrato: float = 0.03) -> np.ndarray:
    """A voice-like harmonic tone: glottal-ish harmonics, a slow vibrato and a syllable rhythm."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + vibrato * np.sin(2 * np.pi * 5 * t))) / rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = 0.6 + 0.4 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.25 * tone * syllables).astype(np.float32)


def padded(x: np.ndarray, before: float, after: float, rate: int = RATE, noise: float = 0.002):
    rng = np.random.default_rng(0)
    out = np.concatenate([np.zeros(int(before * rate)), x, np.zeros(int(after * rate))])
    return (out + noise * rng.standard_normal(len(out))).astype(np.float32)


# --------------------------------------------------------------------------- signal processing

@pytest.mark.parametrize("f0", [95.0, 140.0, 210.0, 320.0])
def test_pitch_estimate_is_within_one_percent(f0):
    assert speech_dsp.estimate_pitch(voiced(f0, 1.0), RATE) == pytest.approx(f0, rel=0.01)


def test_pitch_estimate_of_noise_or_silence_is_none():
    rng = np.random.default_rng(1)
    assert speech_dsp.estimate_pitch(rng.standard_normal(RATE).astype(np.float32), RATE) is None
    assert speech_dsp.estimate_pitch(np.zeros(RATE, np.float32), RATE) is None
    assert speech_dsp.estimate_pitch(np.zeros(10, np.float32), RATE) is None


def test_pitch_estimate_of_an_espeak_voice_follows_its_pitch_setting():
    low, sr = speech.synthesize("Come here, it's only water.", speech.VoiceSpec(variant="m3", pitch=20))
    high, _ = speech.synthesize("Come here, it's only water.", speech.VoiceSpec(variant="m3", pitch=80))
    assert speech_dsp.estimate_pitch(high, sr) > 1.2 * speech_dsp.estimate_pitch(low, sr)


@pytest.mark.parametrize("factor", [0.6, 0.8, 1.25, 1.7])
def test_time_stretch_changes_length_not_pitch(factor):
    x = voiced(150.0, 1.2)
    y = speech_dsp.time_stretch(x, RATE, factor)
    assert len(y) == round(len(x) * factor)
    assert speech_dsp.estimate_pitch(y, RATE) == pytest.approx(150.0, rel=0.02)
    # no dropouts or blow-ups: the level of the middle is the input's
    middle = y[len(y) // 4:3 * len(y) // 4]
    assert np.sqrt(np.mean(middle ** 2)) == pytest.approx(np.sqrt(np.mean(x ** 2)), rel=0.2)


@pytest.mark.parametrize("ratio", [0.6, 0.85, 1.3, 1.9])
def test_shift_pitch_keeps_length_and_moves_pitch(ratio):
    x = voiced(150.0, 1.2)
    y = speech_dsp.shift_pitch(x, RATE, ratio)
    assert len(y) == len(x)
    assert speech_dsp.estimate_pitch(y, RATE) == pytest.approx(150.0 * ratio, rel=0.02)


def test_shift_pitch_is_clamped_to_an_octave():
    x = voiced(150.0, 1.0)
    assert speech_dsp.estimate_pitch(speech_dsp.shift_pitch(x, RATE, 5.0), RATE) == \
        pytest.approx(300.0, rel=0.02)


def test_shifting_up_adds_no_aliasing():
    x = voiced(200.0, 1.0)
    y = speech_dsp.shift_pitch(x, RATE, 1.9)
    spectrum = np.abs(np.fft.rfft(y)) ** 2
    frequencies = np.fft.rfftfreq(len(y), 1 / RATE)
    # everything above the cut (0.45 · rate / ratio) was filtered before reading back
    assert spectrum[frequencies > 11000].sum() < 1e-4 * spectrum.sum()


def test_trim_silence_keeps_the_speech_and_a_little_air():
    x = voiced(150.0, 1.0)
    trimmed = speech_dsp.trim_silence(padded(x, 0.8, 1.1), RATE)
    assert len(trimmed) / RATE == pytest.approx(1.0 + 2 * 0.05, abs=0.03)
    assert speech_dsp.trim_silence(np.zeros(100, np.float32), RATE).size == 100


def test_match_level_reaches_the_target_and_never_clips():
    x = voiced(150.0, 1.0) * 0.05
    y = speech_dsp.match_level(x, RATE, -20.0)
    hop = RATE // 100
    frames = np.sqrt(np.mean(y[:len(y) // hop * hop].reshape(-1, hop) ** 2, axis=1))
    loud = frames[frames > frames.max() * 0.1]
    assert 20 * np.log10(np.sqrt(np.mean(loud ** 2))) == pytest.approx(-20.0, abs=0.1)
    assert np.max(np.abs(speech_dsp.match_level(x, RATE, 0.0))) <= 10 ** (-1 / 20) + 1e-6


# --------------------------------------------------------------------------- routing in the plan

SCRIPT = """Title: Takes
Resolution: 320x180

[[character ODETTE: a washerwoman of thirty-five; voice: voices/odette.wav]]
[[character ROSE: a loud washerwoman in her fifties]]

EXT. WASH-HOUSE - DAY

ODETTE
[[voice: laughing; from: takes/odette.wav]]
Come here. Come in. It's only water.

ROSE
[[voice: from: takes/rose.wav]]
Not in my basin!

ODETTE
Then in mine.
"""


def speech_jobs(film_plan):
    return [job for job in film_plan.jobs if job.kind == "speech"]


def test_recorded_lines_render_under_the_performance_backend():
    film = compile_text(SCRIPT, "takes.fountain").film
    odette, rose, plain = speech_jobs(plan(film, "draft"))
    assert (odette.profile_kind, odette.backend) == ("performance", "draft.performance")
    assert (rose.profile_kind, rose.backend) == ("performance", "draft.performance")
    assert (plain.profile_kind, plain.backend) == ("speech", "draft.espeak")
    assert odette.params.performance == "takes/odette.wav"
    assert set(odette.files) == {"voices/odette.wav", "takes/odette.wav"}
    assert odette.to_json()["profile_kind"] == "performance"
    assert "profile_kind" not in plain.to_json()
    # every profile has a performance backend; preview's converts with a model
    preview = speech_jobs(plan(film, "preview"))
    models = builtin_profiles()["preview"].models
    assert [j.backend for j in preview] == ["transformers.voice_conversion"] * 2 + \
        [models["speech"].backend]
    assert models["performance"].backend == "transformers.voice_conversion"


def test_a_speech_backend_under_performance_speaks_the_text_instead():
    profiles = parse_profiles('[profiles.textual.performance]\nbackend = "draft.espeak"\n')
    film = compile_text(SCRIPT, "takes.fountain").film
    default, textual = speech_jobs(plan(film, "draft"))[0], speech_jobs(plan(film, profiles["textual"]))[0]
    assert textual.backend == "draft.espeak" and textual.profile_kind == "performance"
    assert textual.key != default.key


# --------------------------------------------------------------------------- the draft backend

@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "voices").mkdir()
    (tmp_path / "takes").mkdir()
    write_wav(tmp_path / "voices" / "odette.wav", voiced(230.0, 1.5), RATE)
    write_wav(tmp_path / "takes" / "odette.wav", padded(voiced(120.0, 2.0), 0.5, 0.7), RATE)
    write_wav(tmp_path / "takes" / "rose.wav", padded(voiced(180.0, 1.2), 0.3, 0.3), RATE)
    (tmp_path / "takes.fountain").write_text(SCRIPT)
    return tmp_path


def render(project: Path, index: int) -> tuple[dict, np.ndarray, int]:
    film = compile_text(SCRIPT, str(project / "takes.fountain")).film
    film_plan = plan(film, "draft")
    job = speech_jobs(film_plan)[index]
    folder = project / f"out-{index}"
    folder.mkdir(exist_ok=True)
    task = Task.of(job, job.key, folder, project)
    meta = PerformanceBackend().run(task)
    samples, rate = read_wav(folder / "speech.wav")
    return meta, samples, rate


def test_take_moves_to_the_pitch_of_the_characters_recording(project):
    meta, samples, rate = render(project, 0)
    assert rate == meta["sample_rate"] == RATE
    # the take's timing is kept: its 2 s of speech plus a little air, the silences trimmed
    assert meta["seconds"] == pytest.approx(2.1, abs=0.04)
    assert len(samples) / rate == pytest.approx(meta["seconds"], abs=1e-3)
    assert meta["pitch_ratio"] == pytest.approx(230.0 / 120.0, rel=0.02)
    assert speech_dsp.estimate_pitch(samples, rate) == pytest.approx(230.0, rel=0.03)


def test_take_without_a_character_recording_moves_to_the_draft_voice(project):
    meta, samples, rate = render(project, 1)
    voice = speech.voice_for("ROSE", "a loud washerwoman in her fifties", 1)
    reference, sr = speech.synthesize(PerformanceBackend.REFERENCE, voice)
    target = speech_dsp.estimate_pitch(reference, sr)
    assert speech_dsp.estimate_pitch(samples, rate) == pytest.approx(target, rel=0.04)
    assert meta["seconds"] == pytest.approx(1.3, abs=0.04)


def test_draft_performance_is_deterministic(project):
    first = render(project, 0)[1]
    second = render(project, 0)[1]
    assert np.array_equal(first, second)


def test_unreadable_take_is_a_clear_error(project):
    (project / "takes" / "odette.wav").write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match=r"takes/odette.wav is not a readable recording"):
        render(project, 0)


# --------------------------------------------------------------------------- end to end

def test_draft_build_plays_the_take_in_the_characters_register(project, tmp_path):
    output, report = tmp_path / "takes.mp4", tmp_path / "report.json"
    code = main(["build", str(project / "takes.fountain"), "-o", str(output),
                 "--report", str(report), "--quiet"])
    assert code == 0
    data = json.loads(report.read_text())
    lines = {job["id"]: job for job in data["job_list"] if job["kind"] == "speech"}
    assert len(lines) == 3
    # the recorded line lasts as long as the take: its subtitle cue spans ≈ 2.1 s
    with av.open(str(output)) as container:
        stream = container.streams.subtitles[0]
        cues = [(float(packet.duration * stream.time_base), bytes(packet)[2:].decode())
                for packet in container.demux(stream) if packet.size > 2]
    assert [text for _, text in cues] == ["Come here. Come in. It's only water.",
                                          "Not in my basin!", "Then in mine."]
    assert cues[0][0] == pytest.approx(2.1, abs=0.1)
    assert cues[1][0] == pytest.approx(1.3, abs=0.1)
    # editing the take re-renders that line only (and what mixes it)
    write_wav(project / "takes" / "odette.wav", padded(voiced(125.0, 2.0), 0.5, 0.7), RATE)
    code = main(["build", str(project / "takes.fountain"), "-o", str(output),
                 "--report", str(report), "--quiet"])
    assert code == 0
    executed = [job["id"] for job in json.loads(report.read_text())["job_list"]
                if job["status"] == "executed" and job["kind"] == "speech"]
    odette = speech_jobs(plan(compile_text(SCRIPT, "takes.fountain").film, "draft"))[0]
    assert executed == [odette.id]


def test_conversion_problems_name_each_line_before_any_model_loads():
    from moviola.runtime.backends.speech_models import conversion_problems

    film = compile_text(SCRIPT, "takes.fountain").film
    odette, rose, plain = speech_jobs(plan(film, "preview"))
    assert conversion_problems([odette]) == []
    (problem,) = conversion_problems([rose])
    assert problem.startswith(f"{rose.label} (line {rose.span.line}): ROSE has no `voice:` recording")
    assert "[[character ROSE: …; voice: voices/NAME.wav]]" in problem
    assert "no recorded take" in conversion_problems([plain])[0]
