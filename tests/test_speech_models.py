"""The cloning speech backends on tiny faithful models: ``transformers.pocket_tts`` and
``transformers.vibevoice`` (a tiny Pocket TTS and VibeVoice, tests/tiny_speech_models.py) and
``transformers.tts_clone`` (the tiny CSM of tests/tiny_audio_models.py), loaded through the
backends from a temporary project with a real ModelManager, on tasks from a planned script.

What a listener would notice: the character's `voice:` recording decides the voice (another
recording, another voice; the same recording and seed, the same audio), two characters of a
scene speak in their own voices, a line renders the same alone or in a batch, it lasts a
sensible time at 24 kHz, a take's timing is kept, and a character without a recording is
reported before any model loads.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # tiny models: idle threads must not spin

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import tiny_audio_models  # noqa: E402
import tiny_speech_models  # noqa: E402
from tiny_film import TinyFilm, wash_house  # noqa: E402

from moviola.compiler.profiles import ModelConfig, Options  # noqa: E402
from moviola.runtime import models, speech_dsp  # noqa: E402
from moviola.runtime.audio_io import load_audio, read_wav  # noqa: E402
from moviola.runtime.backends.protocol import Task  # noqa: E402
from moviola.runtime.backends.registry import backend_class  # noqa: E402
from moviola.runtime.backends.speech_models import (PocketTts, TtsClone, VibeVoice,  # noqa: E402
                                                   frame_budget)

pytestmark = [pytest.mark.models, pytest.mark.usefixtures("torch_one_thread"),
              # diffusers' DPM-Solver (VibeVoice's scheduler) builds its sigmas the numpy-1 way
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]

SCRIPT = wash_house("Voices", """ODETTE
It was here, by the stones.

LUCIEN
It was here, by the stones.

ODETTE
[[voice: from: takes/not-today.wav]]
Not today.

MARCEL
Nobody listens.
""")
FIRST, SECOND, TAKE, NOBODY = "ODETTE", "LUCIEN", "Not today.", "Nobody"
LINE = "It was here, by the stones."
RATE = 24000


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("voices")
    tiny_speech_models.build_pocket_tts(root / "models" / "pocket-tts",
                                        root / "models" / "pocket-tts-codec")
    tiny_audio_models.build_csm(root / "models" / "csm")
    tiny_speech_models.build_vibevoice(root / "models" / "vibevoice")
    (root / "voices").mkdir()
    (root / "takes").mkdir()
    # two voices far apart: a high bright one, a low dull one
    tiny_speech_models.write_voice(root / "voices" / "odette.wav", 1.6, 240, 280, harmonics=8)
    tiny_speech_models.write_voice(root / "voices" / "lucien.wav", 1.4, 95, 120, harmonics=2,
                                   rate=22050)
    tiny_speech_models.write_voice(root / "takes" / "not-today.wav", 0.9, 150, 120, pad=0.4)
    (root / "film.fountain").write_text(SCRIPT, "utf-8")
    return root


def pocket_config(**options) -> ModelConfig:
    return ModelConfig("speech", "transformers.pocket_tts", "models/pocket-tts", dtype="float32",
                       batch_size=4, options=Options(
                           {"audio_tokenizer": "models/pocket-tts-codec", **options}))


class Film(TinyFilm):
    """The script planned with Pocket TTS for speech and performances."""

    def __init__(self, project: Path, config: ModelConfig | None = None):
        config = config or pocket_config()
        super().__init__(project, SCRIPT, speech=config,
                         performance=dataclasses.replace(config, kind="performance"))

    def job(self, character: str, text: str):
        return self.speech_job(text, character)

    def task(self, character: str, text: str = LINE, seed: int | None = None,
             **params) -> Task:
        return self.task_of(self.job(character, text), seed=seed, **params)


@pytest.fixture
def film(project):
    yield Film(project)
    shutil.rmtree(project / "out", ignore_errors=True)


@pytest.fixture
def pocket(project, manager):
    backend = PocketTts(pocket_config(), manager, project)
    backend.validate()
    return backend


def speech(task: Task) -> np.ndarray:
    samples, rate = read_wav(task.output("speech"))
    assert rate == RATE
    return samples[:, 0] if samples.ndim > 1 else samples


def spectrum(samples: np.ndarray) -> np.ndarray:
    """The average log-magnitude spectrum (dB) over 40 ms frames: what a voice sounds like,
    whatever its words' timing."""
    frame = int(0.04 * RATE)
    frames = [samples[start:start + frame] for start in range(0, len(samples) - frame, frame // 2)]
    magnitudes = np.abs(np.fft.rfft(np.stack(frames) * np.hanning(frame), axis=-1)).mean(axis=0)
    return 20 * np.log10(magnitudes + 1e-6)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(spectrum(a) - spectrum(b))))


def test_the_voice_sample_decides_the_voice(film, pocket):
    odette = film.task(FIRST, seed=11)
    again = film.task(FIRST, seed=11)
    other_voice = film.task(FIRST, seed=11, voice_sample="voices/lucien.wav")
    pocket.run_batch([odette, other_voice])
    pocket.run_batch([again])
    # the same recording, line and seed: the same audio, to the byte
    assert odette.output("speech").read_bytes() == again.output("speech").read_bytes()
    # another recording, all else equal: another voice (a tiny random model's voices differ
    # less than real ones: ~0.6 dB here, against exactly 0 for the same recording)
    assert distance(speech(odette), speech(other_voice)) > 0.25


def test_each_character_of_a_scene_speaks_in_its_own_voice(film, pocket):
    odette, lucien = film.task(FIRST, seed=5), film.task(SECOND, seed=5)
    pocket.run_batch([odette, lucien])
    assert distance(speech(odette), speech(lucien)) > 0.25
    # it is the recording, not the name, that makes LUCIEN's voice: given ODETTE's recording
    # he speaks exactly as she does
    borrowed = film.task(SECOND, seed=5, voice_sample="voices/odette.wav")
    pocket.run_batch([borrowed])
    assert borrowed.output("speech").read_bytes() == odette.output("speech").read_bytes()


def test_a_line_renders_the_same_alone_or_in_a_batch(film, pocket, manager):
    batch = [film.task(FIRST), film.task(SECOND), film.task(FIRST, TAKE)]
    pocket.run_batch(batch)
    alone = film.task(SECOND)
    pocket.run_batch([alone])
    assert alone.output("speech").read_bytes() == batch[1].output("speech").read_bytes()
    reseeded = film.task(SECOND, seed=batch[1].job.seed + 1)
    pocket.run_batch([reseeded])
    assert reseeded.output("speech").read_bytes() != alone.output("speech").read_bytes()
    assert [entry["loads"] for entry in manager.stats().values()] == [1]


def test_speech_lasts_a_sensible_time_at_24k(film, pocket):
    task = film.task(FIRST)
    [meta] = pocket.run_batch([task])
    samples = speech(task)
    assert meta["sample_rate"] == RATE and meta["seconds"] == pytest.approx(len(samples) / RATE)
    # at least a frame, at most the line's budget (12.5 frames a second of 1920 samples)
    most = frame_budget(LINE, 12.5, 20.0) * 1920
    assert 1920 <= len(samples) <= most
    assert np.abs(samples).max() > 0.05             # levelled speech, not silence


def test_a_performance_keeps_the_takes_timing(film, pocket, project):
    task = film.task(FIRST, TAKE)
    assert task.job.params.performance == "takes/not-today.wav"
    [meta] = pocket.run_batch([task])
    take = speech_dsp.trim_silence(
        load_audio(project / "takes" / "not-today.wav", RATE, channels=1)[:, 0], RATE)
    assert len(speech(task)) == len(take) and meta["seconds"] == pytest.approx(len(take) / RATE)
    free = PocketTts(pocket_config(keep_timing=False), pocket.models, project)
    untimed = film.task(FIRST, TAKE)
    free.run_batch([untimed])
    assert len(speech(untimed)) % 1920 == 0                   # the model's own frames


def test_a_character_without_a_recording_is_named_before_loading(film, pocket, manager):
    problems = pocket.check_jobs([film.job("MARCEL", NOBODY), film.job(FIRST, LINE)])
    assert len(problems) == 1
    assert "MARCEL has no `voice:` recording" in problems[0] and "models/pocket-tts" in problems[0]
    assert "(line " in problems[0]
    assert manager.stats() == {}


def test_the_codec_is_found_and_checked_at_validate(project, manager):
    missing = PocketTts(pocket_config(audio_tokenizer="models/nowhere"), manager, project)
    with pytest.raises(models.ModelNotFound):
        missing.validate()
    # the model itself given as its codec
    wrong = PocketTts(pocket_config(audio_tokenizer="models/pocket-tts"), manager, project)
    with pytest.raises(models.ModelBroken, match="audio tokenizer"):
        wrong.validate()
    # without the option, the codec the processor_config.json names (none here)
    unnamed = PocketTts(dataclasses.replace(pocket_config(), options=Options()), manager, project)
    with pytest.raises(models.ModelBroken, match="names no audio tokenizer"):
        unnamed.validate()
    # another kind of model given as the Pocket TTS model
    csm = PocketTts(dataclasses.replace(pocket_config(), model="models/csm"), manager, project)
    with pytest.raises(models.ModelBroken, match="'csm'"):
        csm.validate()
    settings = json.loads((project / "models" / "pocket-tts" / "config.json").read_text())
    assert settings["model_type"] == "pocket_tts"
    assert manager.stats() == {}                    # nothing loaded to find all this out


def test_registry_and_profiles_know_the_backend():
    from moviola.compiler.profiles import BACKENDS

    assert backend_class("transformers.pocket_tts") is PocketTts
    assert backend_class("transformers.vibevoice") is VibeVoice
    assert BACKENDS["transformers.pocket_tts"] == BACKENDS["transformers.vibevoice"] == (
        "speech", "performance")


# -- transformers.tts_clone (CSM): the same promises ------------------------------------------

def test_csm_clones_the_recording_of_each_character(film, project, manager):
    config = ModelConfig("speech", "transformers.tts_clone", "models/csm", dtype="float32",
                         options=Options(max_seconds=2.0))
    csm = TtsClone(config, manager, project)
    csm.validate()
    odette, again = film.task(FIRST, seed=3), film.task(FIRST, seed=3)
    other_voice = film.task(FIRST, seed=3, voice_sample="voices/lucien.wav")
    lucien = film.task(SECOND, seed=3)
    metas = csm.run_batch([odette, other_voice, lucien])
    csm.run_batch([again])
    assert all(meta["sample_rate"] == RATE for meta in metas)
    assert odette.output("speech").read_bytes() == again.output("speech").read_bytes()
    assert distance(speech(odette), speech(other_voice)) > 0.25
    assert distance(speech(odette), speech(lucien)) > 0.25


# -- transformers.vibevoice -------------------------------------------------------------------

def vibevoice_config(**over) -> ModelConfig:
    values = dict(kind="speech", backend="transformers.vibevoice", model="models/vibevoice",
                  dtype="float32", steps=2, options=Options(max_seconds=1.0))
    values.update(over)
    return ModelConfig(**values)


def test_vibevoice_speaks_each_line_in_its_characters_voice(film, project, manager):
    vibevoice = VibeVoice(vibevoice_config(), manager, project)
    vibevoice.validate()
    odette, again = film.task(FIRST, seed=3), film.task(FIRST, seed=3)
    other_voice = film.task(FIRST, seed=3, voice_sample="voices/lucien.wav")
    lucien = film.task(SECOND, seed=3)
    metas = vibevoice.run_batch([odette, other_voice, lucien])
    vibevoice.run_batch([again])
    assert odette.output("speech").read_bytes() == again.output("speech").read_bytes()
    assert distance(speech(odette), speech(other_voice)) > 0.25
    assert distance(speech(odette), speech(lucien)) > 0.25
    # 24 kHz, within the line's budget of 7.5 frames a second (3200 samples a frame)
    most = frame_budget(LINE, 7.5, 1.0) * 3200
    for task, meta in zip((odette, other_voice, lucien), metas):
        assert meta["sample_rate"] == RATE and 3200 <= len(speech(task)) <= most
    assert [entry["loads"] for entry in manager.stats().values()] == [1]


def test_vibevoice_speaks_a_character_without_a_recording(film, project, manager):
    vibevoice = VibeVoice(vibevoice_config(), manager, project)
    assert vibevoice.check_jobs([film.job("MARCEL", NOBODY)]) == []
    marcel = film.task("MARCEL", NOBODY, seed=3)
    voiced = film.task("MARCEL", NOBODY, seed=3, voice_sample="voices/odette.wav")
    vibevoice.run_batch([marcel, voiced])
    assert distance(speech(marcel), speech(voiced)) > 0.25       # the recording is heard
    # the profile's steps reach the diffusion: another count, another sound
    fewer = VibeVoice(vibevoice_config(steps=1), manager, project)
    once = film.task("MARCEL", NOBODY, seed=3)
    fewer.run_batch([once])
    assert once.output("speech").read_bytes() != marcel.output("speech").read_bytes()


def test_the_cloning_backends_run_in_bfloat16(film, project, manager):
    """As on a GPU (dtype auto → bfloat16): the voice's samples and latents reach the models in
    their dtype."""
    backends = [VibeVoice(vibevoice_config(dtype="bfloat16"), manager, project),
                PocketTts(dataclasses.replace(pocket_config(), dtype="bfloat16"), manager, project)]
    for backend in backends:
        backend.validate()
        task = film.task(FIRST, seed=3)
        [meta] = backend.run_batch([task])
        assert meta["sample_rate"] == RATE and np.abs(speech(task)).max() > 0.05


def test_vibevoice_guides_its_diffusion_head_not_its_tokens(film, project, manager, monkeypatch):
    """Guidance reaches the diffusion head (another scale, another sound), and only it:
    transformers' generate would also guide the token logits, one more language-model pass a
    frame that VibeVoice's own sampler never runs."""
    from transformers import UnbatchedClassifierFreeGuidanceLogitsProcessor

    unconditional = []
    real = UnbatchedClassifierFreeGuidanceLogitsProcessor.get_unconditional_logits

    def spy(self, input_ids):
        unconditional.append(len(input_ids))
        return real(self, input_ids)

    monkeypatch.setattr(UnbatchedClassifierFreeGuidanceLogitsProcessor,
                        "get_unconditional_logits", spy)
    lines = {}
    for guidance in (1.3, 3.0):
        task = film.task(FIRST, seed=3)
        VibeVoice(vibevoice_config(guidance=guidance), manager, project).run_batch([task])
        lines[guidance] = speech(task)
    assert unconditional == []
    assert distance(lines[1.3], lines[3.0]) > 0.05


def test_an_option_the_voice_does_not_read_is_named(project, manager):
    from moviola.runtime.backends.protocol import UnknownOption

    backend = VibeVoice(vibevoice_config(options=Options(max_second=3.0)), manager, project)
    with pytest.raises(UnknownOption, match=r"options.max_second \(did you mean max_seconds\?\)"
                                            r" is not a setting of transformers.vibevoice"):
        backend.validate()
