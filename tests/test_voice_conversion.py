"""The ``transformers.voice_conversion`` backend (SpeechT5) on tiny random-weight models.

tests/tiny_audio_models.py builds a SpeechT5 voice conversion model, its HiFi-GAN vocoder and a
WavLM x-vector model inside a temporary project, next to recorded takes and voices (harmonic
tone sweeps with silence around them). The tests run the backend with a real ModelManager on
tasks built from a compiled and planned script, as the executor does. What is checked: the
file, its rate and its length (the trimmed take's, or within the ratio bounds), determinism
under a seed, batched output equal to one at a time, one load per model and one x-vector per
recording, the checks before any GPU work (a line without a voice to convert to), and clear
errors for models of the wrong kind or sizes that do not fit.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # tiny models: idle threads must not spin

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import tiny_audio_models  # noqa: E402  (tests/ is on sys.path under pytest's rootdir conftest)
from tiny_film import TinyFilm, wash_house  # noqa: E402
from tiny_speech_models import write_voice  # noqa: E402

from moviola.compiler.profiles import ModelConfig, Options  # noqa: E402
from moviola.runtime import models, speech_dsp  # noqa: E402
from moviola.runtime.audio_io import load_audio, read_wav  # noqa: E402
from moviola.runtime.backends import voice_conversion as vc  # noqa: E402
from moviola.runtime.backends.protocol import Task  # noqa: E402

pytestmark = [pytest.mark.models, pytest.mark.usefixtures("torch_one_thread")]

SCRIPT = wash_house("Takes", """ODETTE
[[voice: laughing; from: takes/come-here.wav]]
Come here. Come in. It's only water.

MARCEL
[[voice: quietly; from: takes/not-today.wav]]
Not today.

ODETTE
[[voice: whispering; from: takes/here.wav]]
It was here.

LUCIEN
[[voice: calling; from: takes/hello.wav]]
Hello?

ODETTE
Yes.
""")
COME, NOT_TODAY, HERE, HELLO, YES = "Come here.", "Not today.", "It was here.", "Hello?", "Yes."
TAKES = {COME: "takes/come-here.wav", HERE: "takes/here.wav", HELLO: "takes/hello.wav"}
RATE = 16000


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("takes")
    tiny_audio_models.build_speecht5_vc(root / "models" / "speecht5-vc")
    tiny_audio_models.build_speecht5_hifigan(root / "models" / "hifigan")
    tiny_audio_models.build_wavlm_xvector(root / "models" / "wavlm-sv")
    tiny_audio_models.build_wavlm_xvector(root / "models" / "wavlm-sv-16", xvector_dim=16)
    plain = root / "models" / "wavlm-plain"            # the encoder without its x-vector head
    shutil.copytree(root / "models" / "wavlm-sv", plain)
    settings = json.loads((plain / "config.json").read_text("utf-8"))
    settings["architectures"] = ["WavLMModel"]
    (plain / "config.json").write_text(json.dumps(settings), "utf-8")
    (root / "voices").mkdir()
    (root / "takes").mkdir()
    write_voice(root / "voices" / "odette.wav", 1.2, 220, 260)
    write_voice(root / "voices" / "lucien.wav", 1.0, 110, 140, rate=22050)
    write_voice(root / "takes" / "come-here.wav", 1.5, 140, 190, pad=0.4)
    write_voice(root / "takes" / "not-today.wav", 0.8, 150, 120)
    write_voice(root / "takes" / "here.wav", 0.9, 180, 120, pad=0.2, rate=44100)
    write_voice(root / "takes" / "hello.wav", 0.6, 130, 200)
    (root / "film.fountain").write_text(SCRIPT, "utf-8")
    return root


def vc_config(**over) -> ModelConfig:
    options = {"vocoder": "models/hifigan", "speaker_encoder": "models/wavlm-sv",
               **over.pop("options", {})}
    values = dict(kind="performance", backend="transformers.voice_conversion",
                  model="models/speecht5-vc", dtype="float32", batch_size=4,
                  options=Options(options))
    values.update(over)
    return ModelConfig(**values)


class Film(TinyFilm):
    """The script compiled and planned with the voice conversion backend for performances."""

    def __init__(self, project: Path, config: ModelConfig | None = None):
        super().__init__(project, SCRIPT, performance=config or vc_config())

    def job(self, text: str):
        return self.speech_job(text)

    def task(self, text: str, seed: int | None = None, **params) -> Task:
        return self.task_of(self.job(text), seed=seed, **params)


@pytest.fixture
def film(project):
    yield Film(project)
    shutil.rmtree(project / "out", ignore_errors=True)


def audio(task: Task) -> tuple[np.ndarray, int]:
    return read_wav(task.output("speech"))


def trimmed_take(project: Path, text: str) -> np.ndarray:
    return speech_dsp.trim_silence(load_audio(project / TAKES[text], RATE, channels=1)[:, 0], RATE)


def loud_level(samples: np.ndarray) -> float:
    """The RMS of the 10 ms frames above a tenth of the loudest (as speech_dsp.match_level)."""
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    return float(np.sqrt(np.mean(rms[rms > rms.max() * 0.1] ** 2)))


# -- the plan -------------------------------------------------------------------------------------

def test_recorded_lines_are_performance_jobs(film):
    kinds = {job.params.text[:10]: job.profile_kind for job in film.plan.jobs
             if job.kind == "speech"}
    assert kinds == {COME[:10]: "performance", NOT_TODAY[:10]: "performance",
                     HERE[:10]: "performance", HELLO[:10]: "performance", YES: "speech"}
    assert {job.backend for job in film.plan.jobs if job.profile_kind == "performance"} == \
        {"transformers.voice_conversion"}


# -- rendering ------------------------------------------------------------------------------------

def test_take_converted_at_the_vocoder_rate_with_the_take_timing(film, manager):
    backend = vc.VoiceConversion(vc_config(), manager, film.project)
    backend.validate()
    tasks = [film.task(COME), film.task(HERE)]
    metas = backend.run_batch(tasks)
    for text, task, meta in zip((COME, HERE), tasks, metas):
        samples, rate = audio(task)
        take = trimmed_take(film.project, text)
        assert len(take) < len(load_audio(film.project / TAKES[text], RATE, channels=1))
        assert rate == meta["sample_rate"] == RATE
        assert len(samples) == len(take)                     # keep_timing: the take's length
        assert meta["seconds"] == round(len(samples) / rate, 4)
        assert meta["take_seconds"] == round(len(take) / RATE, 4)
        assert 0.5 * meta["take_seconds"] - 1e-3 <= meta["converted_seconds"] \
            <= 1.5 * meta["take_seconds"] + 1e-3
        assert np.abs(samples).max() > 0.05
    # levelled like the draft voices, then the delivery's gain: a whisper is quieter
    laughing, whispering = (loud_level(audio(task)[0]) for task in tasks)
    assert laughing == pytest.approx(10 ** (-20 / 20), rel=0.1)
    assert whispering == pytest.approx(laughing * 0.45, rel=0.1)


@pytest.mark.parametrize("low, high", [(0.5, 1.5), (1.0, 1.0), (1.2, 1.3)])
def test_without_keep_timing_the_length_stays_within_the_ratios(film, manager, low, high):
    config = vc_config(options={"keep_timing": False, "min_ratio": low, "max_ratio": high})
    backend = vc.VoiceConversion(config, manager, film.project)
    tasks = [film.task(COME), film.task(HELLO)]
    metas = backend.run_batch(tasks)
    step = 2 * 256 / RATE                   # a decoder step: reduction factor 2, hop 256
    for text, task, meta in zip((COME, HELLO), tasks, metas):
        samples, rate = audio(task)
        seconds, take = len(samples) / rate, len(trimmed_take(film.project, text)) / RATE
        assert rate == RATE and meta["seconds"] == meta["converted_seconds"] == round(seconds, 4)
        if low < high:
            assert low * take - 1e-9 <= seconds <= high * take + 1e-9
        else:                               # no whole step count between: the first past it
            assert take - 1e-9 <= seconds < take + step
        assert len(samples) % 512 == 0      # whole decoder steps


def test_length_bounds_hold_inside_generate_speech(project):
    """The ratios, given to transformers' own generation loop, bound its output both ways: with
    a stop threshold never reached it runs to the longest, and reached at once it stops at the
    shortest."""
    import torch
    from transformers import SpeechT5ForSpeechToSpeech

    model = SpeechT5ForSpeechToSpeech.from_pretrained(project / "models" / "speecht5-vc").eval()
    config = model.config
    for seconds in (0.37, 1.0, 2.345):
        samples = int(seconds * RATE)
        frames = vc.encoder_frames(samples, config.conv_kernel, config.conv_stride)
        low, high = vc.length_bounds(seconds, frames, 0.5, 1.5, frames_per_second=RATE / 256,
                                     reduction_factor=config.reduction_factor, max_steps=999)
        values = torch.from_numpy(np.random.default_rng(0).normal(0, 0.1, samples)
                                  .astype(np.float32))[None]
        speaker = torch.ones(1, config.speaker_embedding_dim)
        lengths = []
        for threshold in (1e9, -1.0):
            torch.manual_seed(0)
            with torch.inference_mode():
                mel = model.generate_speech(values, speaker, threshold=threshold,
                                            minlenratio=low, maxlenratio=high)
            lengths.append(mel.shape[0] * 256 / RATE)
        longest, shortest = lengths
        assert 0.5 * seconds <= shortest < 0.5 * seconds + 2 * 256 / RATE
        assert 1.5 * seconds - 2 * 256 / RATE < longest <= 1.5 * seconds


def test_deterministic_and_batch_invariant(film, manager):
    backend = vc.VoiceConversion(vc_config(), manager, film.project)
    batched = [film.task(COME), film.task(HERE), film.task(HELLO)]
    backend.run_batch(batched)
    for text, together in zip((COME, HERE, HELLO), batched):
        alone = film.task(text)
        backend.run_batch([alone])
        assert alone.output("speech").read_bytes() == together.output("speech").read_bytes()
    reseeded = film.task(COME, seed=batched[0].job.seed + 1)
    backend.run_batch([reseeded])
    a, b = audio(reseeded)[0], audio(batched[0])[0]
    assert a.shape == b.shape and np.abs(a - b).max() > 1e-2


def test_models_load_once_and_each_voice_is_encoded_once(film, manager):
    backend = vc.VoiceConversion(vc_config(batch_size=2), manager, film.project)
    backend.validate()
    encoder = backend.resident("models/wavlm-sv").model
    calls = []
    encoder.register_forward_hook(lambda module, args, output: calls.append(1))
    backend.run_batch([film.task(COME), film.task(HERE), film.task(HELLO)])   # two batches
    backend.run_batch([film.task(COME, seed=5)])                             # a later phase
    assert len(calls) == 2                              # ODETTE's voice and LUCIEN's, once each
    stats = manager.stats()
    assert len(stats) == 3 and all(entry["loads"] == 1 for entry in stats.values())
    assert {key.split("|")[1] for key in stats} == {
        str(film.project.resolve() / "models" / name)
        for name in ("speecht5-vc", "hifigan", "wavlm-sv")}
    assert all(entry["compute_seconds"] > 0 for key, entry in stats.items()
               if "hifigan" not in key)                 # the vocoder runs inside the model's


# -- checks before any GPU work -------------------------------------------------------------------

def test_a_character_without_a_voice_is_named_before_rendering(film, manager):
    backend = vc.VoiceConversion(vc_config(), manager, film.project)
    jobs = [job for job in film.plan.jobs if job.profile_kind == "performance"]
    assert len(jobs) == 4
    marcel = film.job(NOT_TODAY)
    assert marcel.span is not None
    assert marcel.span.line == SCRIPT.splitlines().index(NOT_TODAY) + 1      # its dialogue
    (problem,) = backend.check_jobs(jobs)
    assert problem.startswith(f"{marcel.label} (line {marcel.span.line}): MARCEL has no `voice:` "
                              f"recording to turn the take into")
    assert "[[character MARCEL: …; voice: voices/" in problem and "\n" not in problem
    assert marcel.label.startswith("line ") and marcel.label.endswith(" MARCEL")
    take_missing = dataclasses.replace(film.job(COME), params=dataclasses.replace(
        film.job(COME).params, performance=None))
    (problem,) = backend.check_jobs([take_missing])
    assert problem.startswith(f"{take_missing.label} (line ") and "no recorded take" in problem
    with pytest.raises(ValueError, match=r"MARCEL \(line \d+\): MARCEL has no `voice:` recording"):
        backend.run_batch([film.task(NOT_TODAY)])
    assert manager.stats() == {}                         # refused before any model loaded


def test_speaker_encoder_of_another_size_is_broken(project, manager):
    config = vc_config(options={"speaker_encoder": "models/wavlm-sv-16"})
    with pytest.raises(models.ModelBroken) as caught:
        vc.VoiceConversion(config, manager, project).validate()
    message = str(caught.value)
    assert "\n" not in message and "wavlm-sv-16" in message
    assert "x-vectors have 16 values" in message and "speaker embeddings of 32" in message
    assert manager.stats() == {}


@pytest.mark.parametrize("role, folder, expected", [
    ("vocoder", "models/speecht5-vc", ["'speecht5' model", "HiFi-GAN vocoder",
                                       "options.vocoder"]),
    ("speaker_encoder", "models/hifigan", ["'hifigan' model", "x-vector",
                                           "options.speaker_encoder"]),
    ("model", "models/wavlm-sv", ["'wavlm' model", "voice conversion model"]),
    ("speaker_encoder", "models/wavlm-plain", ["WavLMModel", "x-vector head", "WavLMForXVector"]),
])
def test_a_folder_of_the_wrong_kind_is_broken(project, manager, role, folder, expected):
    config = vc_config(model=folder) if role == "model" else vc_config(options={role: folder})
    with pytest.raises(models.ModelBroken) as caught:
        vc.VoiceConversion(config, manager, project).validate()
    message = str(caught.value)
    assert "\n" not in message and str(project.resolve() / folder) in message
    for part in expected:
        assert part in message
    assert manager.stats() == {}


def test_validate_locates_all_three_and_the_revision_covers_them(project, manager):
    names = {"model": "speecht5-vc", "vocoder": "hifigan", "speaker_encoder": "wavlm-sv"}
    copies = {role: project / "models" / f"rev-{name}" for role, name in names.items()}
    for role, copy in copies.items():
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(project / "models" / names[role], copy)
    config = vc_config(model="models/rev-speecht5-vc",
                       options={"vocoder": "models/rev-hifigan",
                                "speaker_encoder": "models/rev-wavlm-sv"})

    def revision() -> str:
        backend = vc.VoiceConversion(config, manager, project)
        backend.validate()
        assert sorted(backend._paths.values()) == sorted(c.resolve() for c in copies.values())
        assert backend.model_names() == ["models/rev-speecht5-vc", "models/rev-hifigan",
                                         "models/rev-wavlm-sv"]
        return backend.revision

    seen = [revision()]
    assert len(seen[0].split("+")) == 3
    for role in ("model", "vocoder", "speaker_encoder"):
        weights = copies[role] / "model.safetensors"
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0x55                                  # one weight changes, not its shape
        weights.write_bytes(bytes(data))
        seen.append(revision())
        assert seen[-1] != seen[-2]
    assert manager.stats() == {}
    missing = vc_config(options={"vocoder": "models/no-vocoder"})
    with pytest.raises(models.ModelNotFound, match="no-vocoder"):
        vc.VoiceConversion(missing, manager, project).validate()


def test_ratios_are_checked(project, manager):
    config = vc_config(options={"min_ratio": 1.5, "max_ratio": 0.5})
    with pytest.raises(ValueError, match="min_ratio"):
        vc.VoiceConversion(config, manager, project).validate()


# -- wiring ---------------------------------------------------------------------------------------

def test_registry_names_the_class():
    from moviola.runtime.backends import registry

    assert registry.BACKENDS["transformers.voice_conversion"] == \
        "moviola.runtime.backends.voice_conversion:VoiceConversion"


def test_module_imports_no_torch():
    code = ("import sys; import moviola.runtime.backends.voice_conversion; "
            "assert not {'torch', 'transformers'} & set(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
