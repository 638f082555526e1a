"""The transformers audio backends (and the coqui ones' guard) on tiny random-weight models.

tests/tiny_audio_models.py builds a VITS, a MusicGen and a CSM model inside a temporary project;
the tests load them through the backends with a real ModelManager and ``locate`` (project
folders), and run tasks built from a real plan, as the executor does. What is checked: the
files and their rates and lengths, determinism under a seed, batched output equal to unbatched,
one load per model, delivery hints, and clear errors for missing or broken model folders and
for coqui-tts that cannot be imported.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # tiny models: idle threads must not spin

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("diffusers")

import tiny_audio_models  # noqa: E402  (tests/ is on sys.path under pytest's rootdir conftest)
from tiny_film import TinyFilm  # noqa: E402

from moviola.compiler.profiles import ModelConfig, Options  # noqa: E402
from moviola.runtime import models  # noqa: E402
from moviola.runtime.audio_io import read_wav  # noqa: E402
from moviola.runtime.backends import coqui  # noqa: E402
from moviola.runtime.audio_io import resample  # noqa: E402
from moviola.runtime.backends.music_models import (MusicGen, StableAudio, fit_length,  # noqa: E402
                                                   segment_plan)
from moviola.runtime.backends.speech_models import Delivery, Tts, TtsClone, delivery_of  # noqa: E402
from moviola.runtime.backends.vits import vits_synthesize  # noqa: E402
from moviola.runtime.backends.protocol import Task  # noqa: E402

# diffusers' Oobleck VAE (Stable Audio) still uses torch's old weight_norm
pytestmark = [pytest.mark.models, pytest.mark.filterwarnings("ignore:.*weight_norm.* is deprecated:FutureWarning")]

SCRIPT = """Title: Tiny
Seed: 7
Language: en

[[character MARIE: a woman of eighty-two; voice: voices/marie.wav]]
[[character JULIE: her granddaughter, twenty]]
[[theme RIVER: sparse piano and cello, melancholic, 70 bpm]]
[[theme STORM: drums; tempo: 120 bpm]]

EXT. RIVER - DAY

[[music: RIVER]]
[[sfx: rain on a door, 1.5s]]
MARIE
(whispering)
It was here.

JULIE
Every Monday? Every single Monday, all through the winter, even when the river froze over?

MARIE
Yes.

INT. KITCHEN - NIGHT

[[music: STORM]]
JULIE
(shouting)
Grandmother!
"""
WHISPER, LONG, SHORT, SHOUT = "It was here.", "Every Monday?", "Yes.", "Grandmother!"  # lines


pytestmark = [*pytestmark, pytest.mark.usefixtures("torch_one_thread")]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("film")
    tiny_audio_models.build_vits(root / "models" / "vits")
    tiny_audio_models.build_vits(root / "models" / "vits-fr", sampling_rate=22050, num_speakers=3)
    tiny_audio_models.build_musicgen(root / "models" / "musicgen")
    tiny_audio_models.build_musicgen(root / "models" / "musicgen-stereo", audio_channels=2)
    tiny_audio_models.build_csm(root / "models" / "csm")
    tiny_audio_models.build_stable_audio(root / "models" / "stable-audio")
    (root / "voices").mkdir()
    _write_voice(root / "voices" / "marie.wav")
    (root / "film.fountain").write_text(SCRIPT, "utf-8")
    return root


def _write_voice(path: Path, rate: int = 16000, seconds: float = 1.2) -> None:
    t = np.arange(int(rate * seconds)) / rate
    voice = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes((voice * 32767).astype("<i2").tobytes())


class Film(TinyFilm):
    """A compiled film planned under a profile with the given speech/music/sfx configs."""

    def __init__(self, project: Path, script: str = SCRIPT, **configs: ModelConfig):
        super().__init__(project, script, **configs)

    def task(self, job_id: str, seed: int | None = None, seconds: float = 3.0, **params) -> Task:
        """A task for a job id, or for the speech job of the line starting with ``job_id``."""
        job = self.plan.job(job_id) if ":" in job_id else self.speech_job(job_id)
        timing = {"seconds": seconds} if job.kind == "music" else {}
        return self.task_of(job, seed=seed, timing=timing, **params)

    def jobs(self, kind: str) -> list[str]:
        return [job.id for job in self.plan.jobs if job.kind == kind]


def tts_config(**over) -> ModelConfig:
    values = dict(kind="speech", backend="transformers.tts", model="models/vits",
                  dtype="float32", batch_size=8)
    values.update(over)
    return ModelConfig(**values)


def clone_config(**over) -> ModelConfig:
    values = dict(kind="speech", backend="transformers.tts_clone", model="models/csm",
                  dtype="float32", batch_size=4, options=Options(max_seconds=2.0))
    values.update(over)
    return ModelConfig(**values)


def music_config(kind: str = "music", **over) -> ModelConfig:
    values = dict(kind=kind, backend="transformers.musicgen", model="models/musicgen",
                  dtype="float32", guidance=3.0, batch_size=4)
    values.update(over)
    return ModelConfig(**values)


@pytest.fixture
def film(project):
    yield Film(project, speech=tts_config(), music=music_config(), sfx=music_config("sfx"))
    shutil.rmtree(project / "out", ignore_errors=True)


def audio(task: Task, name: str) -> tuple[np.ndarray, int]:
    return read_wav(task.output(name))


# -- transformers.tts (VITS / MMS) ----------------------------------------------------------------

def test_tts_writes_speech_at_the_model_rate(film, manager):
    backend = Tts(tts_config(), manager, film.project)
    backend.validate()
    tasks = [film.task(job) for job in film.jobs("speech")]
    metas = backend.run_batch(tasks)
    for task, meta in zip(tasks, metas):
        samples, rate = audio(task, "speech")
        assert rate == meta["sample_rate"] == 16000
        assert len(samples) > 0 and np.abs(samples).max() > 0
        assert meta["seconds"] == pytest.approx(len(samples) / rate, abs=1e-4)
    by_text = {task.job.params.text[:12]: meta["seconds"] for task, meta in zip(tasks, metas)}
    assert by_text[LONG[:12]] > 3 * by_text[SHORT]          # duration grows with the text


def test_tts_deterministic_and_batch_invariant(film, manager):
    backend = Tts(tts_config(), manager, film.project)
    jobs = film.jobs("speech")
    batched = [film.task(job) for job in jobs]
    backend.run_batch(batched)
    alone = [film.task(job) for job in jobs]
    for task in alone:
        backend.run_batch([task])
    for one, other in zip(batched, alone):
        a, b = audio(one, "speech")[0], audio(other, "speech")[0]
        assert a.shape == b.shape and np.abs(a - b).max() <= 2 / 32768
    again = film.task(LONG)
    backend.run_batch([again])
    assert again.output("speech").read_bytes() == alone[1].output("speech").read_bytes()
    reseeded = film.task(LONG, seed=12345)
    backend.run_batch([reseeded])
    assert reseeded.output("speech").read_bytes() != again.output("speech").read_bytes()


def test_tts_loads_the_model_once(film, manager):
    backend = Tts(tts_config(batch_size=2), manager, film.project)
    backend.run_batch([film.task(job) for job in film.jobs("speech")])    # two batches
    backend.run_batch([film.task(LONG)])                                   # a later phase
    stats = manager.stats()
    assert len(stats) == 1
    (entry,) = stats.values()
    assert entry["loads"] == 1 and entry["compute_seconds"] > 0


def test_tts_delivery_shapes_rate_and_level(film, manager):
    backend = Tts(tts_config(), manager, film.project)
    text = "every single monday all through the winter"
    plain, slow, fast, whisper = (film.task(LONG, seed=3, text=text, delivery=d)
                                  for d in ([], ["slowly"], ["quickly"], ["whispering"]))
    metas = backend.run_batch([plain, slow, fast, whisper])
    assert metas[1]["seconds"] > metas[0]["seconds"] > metas[2]["seconds"]
    level = [np.sqrt(np.mean(audio(t, "speech")[0] ** 2)) for t in (plain, whisper)]
    assert level[1] < 0.7 * level[0]


def test_vits_synthesize_is_the_model_forward(project):
    """Without noise, the per-row inference equals VitsModel.forward exactly (also with
    speakers), so the reimplementation follows transformers."""
    import torch
    from transformers import AutoTokenizer, VitsModel

    for name, speaker in (("vits", None), ("vits-fr", 2)):
        model = VitsModel.from_pretrained(project / "models" / name).eval()
        tokenizer = AutoTokenizer.from_pretrained(project / "models" / name)
        model.noise_scale = model.noise_scale_duration = 0.0
        encoded = tokenizer(["it was here every monday"], return_tensors="pt")
        with torch.no_grad():
            expected = model(**encoded, speaker_id=speaker, speaking_rate=1.3).waveform[0].numpy()
            (ours,) = vits_synthesize(
                model, encoded["input_ids"], encoded["attention_mask"],
                generators=[torch.Generator().manual_seed(1)], speaking_rates=[1.3],
                noise_scales=[0.0], noise_scale_durations=[0.0],
                speaker_ids=None if speaker is None else [speaker])
        np.testing.assert_array_equal(ours, expected)


def test_tts_language_picks_the_model(project, manager):
    french = SCRIPT.replace("Language: en", "Language: fr-FR")
    config = tts_config(options=Options(languages={"fr": "models/vits-fr"}))
    film = Film(project, french, speech=config)
    try:
        backend = Tts(config, manager, project)
        backend.validate()                              # finds both models
        task = film.task(LONG)
        (meta,) = backend.run_batch([task])
        assert meta["sample_rate"] == 22050 == audio(task, "speech")[1]
        english = Film(project, speech=config).task(LONG)
        assert backend.run_batch([english])[0]["sample_rate"] == 16000
    finally:
        shutil.rmtree(project / "out", ignore_errors=True)


# -- transformers.tts_clone (CSM) -----------------------------------------------------------------

def test_clone_speaks_in_the_recorded_voice(project, manager):
    film = Film(project, speech=clone_config())
    try:
        backend = TtsClone(clone_config(), manager, project)
        backend.validate()
        tasks = [film.task(WHISPER), film.task(LONG)]           # MARIE has a voice, JULIE not
        metas = backend.run_batch(tasks)
        for task, meta in zip(tasks, metas):
            samples, rate = audio(task, "speech")
            assert rate == meta["sample_rate"] == 24000 and len(samples) > 0
        alone = film.task(WHISPER)
        backend.run_batch([alone])
        assert alone.output("speech").read_bytes() == tasks[0].output("speech").read_bytes()
        # the same line and seed without the recording: the context turn changed the output
        unconditioned = film.task(WHISPER, voice_sample=None)
        backend.run_batch([unconditioned])
        with_voice = alone.output("speech").read_bytes()
        assert unconditioned.output("speech").read_bytes() != with_voice
        assert [entry["loads"] for entry in manager.stats().values()] == [1]
    finally:
        shutil.rmtree(project / "out", ignore_errors=True)


# -- transformers.musicgen ------------------------------------------------------------------------

def test_music_has_the_timeline_length_at_48k(film, manager):
    backend = MusicGen(music_config(), manager, film.project)
    backend.validate()
    river, storm = film.jobs("music")
    (effect,) = film.jobs("sfx")
    tasks = [film.task(river, seconds=3.0), film.task(storm, seconds=1.3), film.task(effect)]
    metas = backend.run_batch(tasks)
    assert [m["seconds"] for m in metas] == [3.0, 1.3, 1.5]
    for task, name, samples_expected in zip(tasks, ("music", "music", "sfx"),
                                            (144000, 62400, 72000)):
        samples, rate = audio(task, name)
        assert rate == 48000 and len(samples) == samples_expected
    assert [entry["loads"] for entry in manager.stats().values()] == [1]


def test_music_deterministic_and_batch_invariant(film, manager):
    backend = MusicGen(music_config(), manager, film.project)
    river, storm = film.jobs("music")
    batched = [film.task(river, seconds=2.0), film.task(storm, seconds=1.0)]
    backend.run_batch(batched)
    alone = [film.task(river, seconds=2.0), film.task(storm, seconds=1.0)]
    for task in alone:
        backend.run_batch([task])
    for one, other in zip(batched, alone):
        a, b = audio(one, "music")[0], audio(other, "music")[0]
        assert a.shape == b.shape and np.abs(a - b).max() <= 2 / 32768
    reseeded = film.task(river, seconds=2.0, seed=99)
    backend.run_batch([reseeded])
    difference = np.abs(audio(reseeded, "music")[0] - audio(alone[0], "music")[0]).max()
    assert difference > 1e-3


def test_stereo_model_gives_stereo_music(film, manager):
    backend = MusicGen(music_config(model="models/musicgen-stereo"), manager, film.project)
    river, storm = film.jobs("music")
    tasks = [film.task(river, seconds=1.0), film.task(storm, seconds=0.5)]
    backend.run_batch(tasks)
    alone = film.task(storm, seconds=0.5)
    backend.run_batch([alone])
    samples, rate = audio(tasks[1], "music")
    assert rate == 48000 and samples.shape == (24000, 2)
    assert np.abs(samples[:, 0] - samples[:, 1]).max() > 1e-3          # two channels
    assert np.abs(samples - audio(alone, "music")[0]).max() <= 2 / 32768


def test_long_music_is_built_from_crossfaded_segments(film, manager):
    config = music_config(options=Options(segment_seconds=2.0, crossfade_seconds=0.5))
    backend = MusicGen(config, manager, film.project)
    river = film.jobs("music")[0]
    task = film.task(river, seconds=5.25)
    (meta,) = backend.run_batch([task])
    samples, rate = audio(task, "music")
    assert meta["seconds"] == 5.25 and rate == 48000 and len(samples) == 252000
    assert segment_plan(5.25, 2.0, 0.5) == [2.0, 2.0, 2.0, 0.75]


def test_segment_plan():
    assert segment_plan(12.0, 30.0, 2.0) == [12.0]
    plan_ = segment_plan(70.0, 30.0, 2.0)
    assert plan_ == [30.0, 30.0, 14.0] and sum(plan_) - 2.0 * (len(plan_) - 1) == 70.0
    assert all(2.0 < length <= 30.0 for length in segment_plan(58.5, 30.0, 2.0))


def test_music_from_a_recorded_source_is_looped_to_length(film, manager, project):
    _write_voice(project / "voices" / "theme.wav", rate=44100, seconds=0.8)
    backend = MusicGen(music_config(), manager, film.project)
    task = film.task(film.jobs("music")[0], seconds=2.5, source="voices/theme.wav")
    (meta,) = backend.run_batch([task])
    samples, rate = audio(task, "music")
    assert meta["seconds"] == 2.5 and rate == 48000 and samples.shape == (120000, 2)
    assert manager.stats() == {}                           # no model needed


# -- diffusers.stable_audio -----------------------------------------------------------------------

def stable_audio_config(kind: str = "music", **over) -> ModelConfig:
    values = dict(kind=kind, backend="diffusers.stable_audio", model="models/stable-audio",
                  dtype="float32", steps=3, guidance=7.0, batch_size=4)
    values.update(over)
    return ModelConfig(**values)


def test_stable_audio_lengths_batches_and_seeds(film, manager):
    backend = StableAudio(stable_audio_config(), manager, film.project)
    backend.validate()
    river, storm = film.jobs("music")
    (effect,) = film.jobs("sfx")
    # 3 s is longer than the tiny model's window (about 2 s): two crossfaded segments
    tasks = [film.task(river, seconds=3.0), film.task(storm, seconds=1.5), film.task(effect)]
    metas = backend.run_batch(tasks)
    assert [m["seconds"] for m in metas] == [3.0, 1.5, 1.5]
    for task, name, length in zip(tasks, ("music", "music", "sfx"),
                                  (144000, 72000, 72000)):
        samples, rate = audio(task, name)
        assert rate == 48000 and samples.shape == (length, 2)
    alone = film.task(storm, seconds=1.5)
    backend.run_batch([alone])
    assert np.abs(audio(alone, "music")[0] - audio(tasks[1], "music")[0]).max() <= 2 / 32768
    reseeded = film.task(storm, seconds=1.5, seed=5)
    backend.run_batch([reseeded])
    assert np.abs(audio(reseeded, "music")[0] - audio(alone, "music")[0]).max() > 1e-3
    assert [entry["loads"] for entry in manager.stats().values()] == [1]


def test_stable_audio_needs_a_stable_audio_pipeline(project, manager):
    backend = StableAudio(stable_audio_config(model="models/musicgen"), manager, project)
    with pytest.raises(models.ModelBroken, match="model_index.json"):
        backend.validate()


# -- audio helpers --------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [32000, 24000, 44100, 16000])
def test_resample_keeps_a_tone(rate):
    seconds, tone = 0.5, 1000.0
    source = np.sin(2 * np.pi * tone * np.arange(int(rate * seconds)) / rate).astype(np.float32)
    out = resample(source, rate, 48000)
    assert len(out) == int(np.ceil(len(source) * 48000 / rate))
    expected = np.sin(2 * np.pi * tone * np.arange(len(out)) / 48000)
    middle = slice(len(out) // 8, -len(out) // 8)           # away from the edges
    assert np.abs(out[middle] - expected[middle]).max() < 2e-3
    stereo = resample(np.stack([source, -source], axis=1), rate, 48000)
    assert stereo.shape == (len(out), 2) and np.allclose(stereo[:, 0], out, atol=1e-6)


def test_fit_length_loops_and_cuts():
    ramp = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    assert len(fit_length(ramp, 2500, 1000)) == 2500
    assert np.array_equal(fit_length(ramp, 400, 1000), ramp[:400])
    assert fit_length(np.zeros((0, 2), np.float32), 10, 1000).shape == (10, 2)


def test_delivery_vocabulary():
    assert delivery_of(["whispering"]).gain < 1 and delivery_of(["whispering"]).noise < 1
    assert delivery_of(["Slowly"]).rate < 1 < delivery_of(["shouting"]).rate
    assert delivery_of([]) == Delivery()


# -- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend_class, config", [
    (Tts, tts_config(model="models/nowhere")),
    (TtsClone, clone_config(model="models/nowhere")),
    (MusicGen, music_config(model="models/nowhere")),
])
def test_missing_model_named_at_validate(project, manager, backend_class, config):
    with pytest.raises(models.ModelNotFound) as caught:
        backend_class(config, manager, project).validate()
    assert str(project.resolve() / "models" / "nowhere") in str(caught.value)
    assert manager.stats() == {}


@pytest.mark.parametrize("damage", ["config", "pickle", "kind"])
def test_broken_model_folder(project, manager, damage):
    broken = project / "models" / f"broken-{damage}"
    shutil.rmtree(broken, ignore_errors=True)
    if damage == "pickle":
        broken.mkdir(parents=True)
        (broken / "config.json").write_text(json.dumps({"model_type": "vits"}))
        (broken / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    else:
        shutil.copytree(project / "models" / ("vits" if damage == "config" else "csm"), broken)
        if damage == "config":
            (broken / "config.json").write_text('{"model_type": "vi', "utf-8")
    backend = Tts(tts_config(model=f"models/broken-{damage}"), manager, project)
    with pytest.raises(models.ModelBroken) as caught:
        backend.validate()
    message = str(caught.value)
    assert "Traceback" not in message and "\n" not in message and str(broken) in message
    assert {"config": "JSON", "pickle": "pickle", "kind": "'csm'"}[damage] in message
    assert manager.stats() == {}


def test_unloadable_model_is_broken_not_a_traceback(project, manager, film):
    odd = project / "models" / "odd"
    shutil.rmtree(odd, ignore_errors=True)
    shutil.copytree(project / "models" / "vits", odd)
    (odd / "model.safetensors").write_bytes((odd / "model.safetensors").read_bytes()[:2000])
    backend = Tts(tts_config(model="models/odd"), manager, project)
    with pytest.raises(models.ModelBroken) as caught:
        backend.validate()                     # the safetensors header is checked first ...
        backend.run_batch([film.task(SHORT)])  # ... or loading fails: either way, one line
    assert "\n" not in str(caught.value) and "odd" in str(caught.value)


# -- coqui (optional extra) -----------------------------------------------------------------------

@pytest.fixture
def no_coqui(monkeypatch, tmp_path):
    """A `TTS` package that fails to import the way coqui-tts does without torchaudio."""
    package = tmp_path / "fake" / "TTS"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "raise OSError('libtorchaudio.so: cannot open shared object file: No such file or "
        "directory\\n  (and a second line)')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    for name in [m for m in sys.modules if m == "TTS" or m.startswith("TTS.")]:
        monkeypatch.delitem(sys.modules, name)
    yield
    for name in [m for m in sys.modules if m == "TTS" or m.startswith("TTS.")]:
        del sys.modules[name]


@pytest.mark.parametrize("backend_class, backend_name", [
    (coqui.XttsBackend, "coqui.xtts"), (coqui.FreeVcBackend, "coqui.freevc")])
def test_coqui_reports_the_import_problem(project, manager, no_coqui, backend_class, backend_name):
    config = ModelConfig("speech", backend_name, "coqui/XTTS-v2")
    with pytest.raises(coqui.CoquiUnavailable) as caught:
        backend_class(config, manager, project).validate()
    assert str(caught.value) == (
        "coqui-tts is not importable here: libtorchaudio.so: cannot open shared object file: No "
        "such file or directory; install the `coqui` extra on a machine with torchaudio")
    assert isinstance(caught.value, ImportError)


def test_coqui_missing_package_message():
    try:
        import TTS  # noqa: F401
    except ImportError as error:
        reason = str(error).splitlines()[0]
    else:
        pytest.skip("coqui-tts is installed here")
    with pytest.raises(coqui.CoquiUnavailable, match=f"coqui-tts is not importable here: "
                                                     f"{reason}; install the `coqui` extra"):
        coqui.import_coqui("TTS.tts.models.xtts")


def test_coqui_checkpoint_folders(project):
    folder = project / "models" / "xtts"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.pth").write_bytes(b"\x80\x04")
    with pytest.raises(models.ModelBroken, match="vocab.json missing"):
        coqui.locate_checkpoint("models/xtts", project, ("config.json", "model.pth", "vocab.json"))
    (folder / "vocab.json").write_text("{}")
    assert coqui.locate_checkpoint("models/xtts", project,
                                   ("config.json", "model.pth", "vocab.json")) == folder.resolve()
    with pytest.raises(models.ModelNotFound):
        coqui.locate_checkpoint("models/none", project, ("config.json",))
    assert coqui.xtts_language("fr-FR") == "fr" and coqui.xtts_language("zh") == "zh-cn"
    with pytest.raises(ValueError, match="does not speak"):
        coqui.xtts_language("eo")


# -- wiring ---------------------------------------------------------------------------------------

def test_registry_names_these_classes():
    from moviola.runtime.backends import registry

    for name, cls in (("transformers.tts", Tts), ("transformers.tts_clone", TtsClone),
                      ("transformers.musicgen", MusicGen),
                      ("diffusers.stable_audio", StableAudio), ("coqui.xtts", coqui.XttsBackend),
                      ("coqui.freevc", coqui.FreeVcBackend)):
        module, _, attribute = registry.BACKENDS[name].partition(":")
        assert getattr(sys.modules.get(module) or __import__(module, fromlist=[attribute]),
                       attribute) is cls


def test_modules_import_no_torch():
    code = ("import sys; import moviola.runtime.backends.speech_models, moviola.runtime.backends.music_models, "
            "moviola.runtime.backends.coqui; "
            "assert not {'torch', 'transformers', 'diffusers'} & set(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_out_of_memory_line_is_retried_and_renders_the_same(film, manager, monkeypatch):
    """Speech goes through the manager's retry too: one allocation failure, then the same
    audio as a run that never failed (the retry draws the same noise)."""
    import torch

    from moviola.runtime.backends import speech_models

    backend = Tts(tts_config(), manager, film.project)
    job = film.jobs("speech")[0]
    clean = film.task(job)
    backend.run_batch([clean])
    expected, _ = audio(clean, "speech")
    real, calls = speech_models.vits_synthesize, []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*args, **kwargs)

    monkeypatch.setattr(speech_models, "vits_synthesize", fails_once)
    retried = film.task(job)
    backend.run_batch([retried])
    assert len(calls) == 2
    assert np.array_equal(audio(retried, "speech")[0], expected)
    assert sum(entry["out_of_memory_retries"] for entry in manager.stats().values()) == 1


def test_an_out_of_memory_cue_is_retried_and_sounds_the_same(film, manager, monkeypatch):
    """Music goes through the manager's retry too: after one allocation failure, the cue is
    the cue of a run that never failed."""
    import torch
    from transformers import MusicgenForConditionalGeneration

    backend = MusicGen(music_config(), manager, film.project)
    river, _ = film.jobs("music")
    clean = film.task(river, seconds=1.0)
    backend.run_batch([clean])
    real, calls = MusicgenForConditionalGeneration.generate, []

    def fails_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MusicgenForConditionalGeneration, "generate", fails_once)
    retried = film.task(river, seconds=1.0)
    backend.run_batch([retried])
    assert len(calls) == 2
    assert np.array_equal(audio(retried, "music")[0], audio(clean, "music")[0])
