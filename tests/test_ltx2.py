"""LTX-2 clips through the real backend path: a tiny faithful LTX-2 folder on disk
(tests/tiny_ltx2.py), located and loaded offline by ``diffusers.audio_video``, rendering clips
from keyframes of a compiled, planned film."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers.pipelines.ltx2")

import tiny_ltx2  # noqa: E402
from tiny_film import ClipFilm  # noqa: E402
from PIL import Image  # noqa: E402

from moviola.compiler.api import compile_text  # noqa: E402
from moviola.compiler.plan import plan  # noqa: E402
from moviola.runtime import models  # noqa: E402
from moviola.compiler.profiles import ModelConfig, Options, Profile, builtin_profiles  # noqa: E402
from moviola.runtime.audio_io import write_wav  # noqa: E402
from moviola.runtime.backends.diffusers_ltx2 import (AudioVideo, LipSyncUnavailable,  # noqa: E402
                                                     log_mel)
from moviola.runtime.backends.protocol import Input, Task  # noqa: E402
from moviola.runtime.backends.registry import backend_class  # noqa: E402
from moviola.runtime.cache import Cache, Entry  # noqa: E402
from moviola.runtime.executor import Executor  # noqa: E402

W, H, FPS = 96, 64, 12
SCRIPT = f"""Resolution: {W}x{H}
FPS: {FPS}
Seed: 7

EXT. RIVER - DAY

[[shot: close-up, static, 0.5s]]
MARIE looks up.

MARIE
Here it comes.

[[shot: wide, static, 1.5s]]
The river runs.

[[shot: wide, static, 1s; from: clips/walk.mp4]]
She walks by the river.
"""
SHOT, LONG_SHOT, FOOTAGE = "ext-river-day~1/1", "ext-river-day~1/2", "ext-river-day~1/3"

pytestmark = [pytest.mark.models, pytest.mark.usefixtures("torch_one_thread"), pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ltx2")
    model = tiny_ltx2.build_ltx2(root / "models" / "ltx2")
    # distilled LoRAs as the checkpoint ships its own: a file in the model's folder
    tiny_ltx2.write_distilled_lora(model, model / "distilled-lora.safetensors")
    tiny_ltx2.write_distilled_lora(model, model / "other-lora.safetensors", seed=2)
    (root / "clips").mkdir()
    write_footage(root / "clips" / "walk.mp4", late=(230, 200, 40))
    write_footage(root / "clips" / "walk-other.mp4", late=(30, 60, 230))
    (root / "film.fountain").write_text(SCRIPT, "utf-8")
    return root


def write_footage(path: Path, late, seconds: float = 2.0) -> None:
    """A grey frame, then a bar of colour ``late`` sweeping across: two footages written with
    other colours share their first frame and differ after it. Lossless, at the film's rate."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv444p"
        for index in range(int(seconds * FPS)):
            picture = np.full((H, W, 3), 90, np.uint8)
            picture[:, : 4 * index] = late if index else 90
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def clip_config(**over) -> ModelConfig:
    # a tiny model has 2 blocks: spatio-temporal guidance's default block (28) does not exist
    values = dict(kind="clip", backend="diffusers.audio_video", model="models/ltx2",
                  dtype="float32", steps=2, guidance=1.0, resolution=(96, 64),
                  options=Options({"stg_scale": 0.0, "audio_stg_scale": 0.0,
                                   "modality_scale": 1.0, "audio_modality_scale": 1.0,
                                   "audio_guidance_scale": 1.0, "max_sequence_length": 16}))
    values.update(over)
    return ModelConfig(**values)


def distilled_config(lora: str = "distilled-lora.safetensors", **over) -> ModelConfig:
    """A guided clip model whose close-ups lip-sync through a distilled LoRA, as ``final``'s."""
    options = {**clip_config().options, "lip_sync": True, "lip_sync_lora": lora}
    return clip_config(guidance=3.0, options=Options(options), **over)


def lip_sync_config(**over) -> ModelConfig:
    """A clip model that lip-syncs (unguided, as lip-sync requires); ``max_frames`` and other
    options over the tiny model's."""
    options = {**clip_config().options, "lip_sync": True, **over.pop("options", {})}
    return clip_config(options=Options(options), **over)


class Film(ClipFilm):
    def __init__(self, project: Path, clip: ModelConfig, script: str = SCRIPT):
        super().__init__(project, script, clip, line_seconds=0.3)

    def keyframe(self, picture: np.ndarray, shot: str = SHOT) -> Entry:
        """The shot's keyframe job, rendered as ``picture``."""
        job = self.plan.job(f"keyframe:{shot}")
        folder = self.folder("keyframe")
        task = Task.of(job, f"key{self.count}", folder, self.project, [], {})
        Image.fromarray(picture).save(task.output("keyframe"))
        return Entry(task.key, folder, {"width": W, "height": H})

    def speech(self, samples: np.ndarray, rate: int = 24000, shot: str = SHOT) -> Entry:
        """The shot's first line, rendered as ``samples``."""
        job = self.plan.job(f"speech:{shot}/1")
        folder = self.folder("speech")
        task = Task.of(job, f"speech{self.count}", folder, self.project, [], {})
        write_wav(task.output("speech"), samples, rate)
        return Entry(task.key, folder, {"seconds": len(samples) / rate})

    def footage(self, source: str = "clips/walk.mp4") -> Task:
        """The footage shot's job with ``source`` as its `from:` video."""
        job = self.plan.job(f"clip:{FOOTAGE}")
        job = dataclasses.replace(job, params=dataclasses.replace(job.params, source=source),
                                  files=(source,))
        return Task.of(job, f"key{self.count}", self.folder("clip"), self.project, [],
                       self.executor.timing_for(job))

    def clip(self, keyframe: Entry, seed: int | None = None, shot: str = SHOT,
             speech: Entry | None = None) -> Task:
        job = self.plan.job(f"clip:{shot}")
        if seed is not None:
            job = dataclasses.replace(job, seed=seed)
        given = [Input.of(self.plan.job(f"keyframe:{shot}"), keyframe)]
        if speech is not None:
            # offered whatever the plan says: the task keeps only what the clip declared
            given.append(Input.of(self.plan.job(f"speech:{shot}/1"), speech))
        return Task.of(job, f"key{self.count}", self.folder("clip"), self.project, given,
                       self.executor.timing_for(job))


@pytest.fixture
def film(project):
    yield Film(project, clip_config())
    shutil.rmtree(project / "out", ignore_errors=True)


def still(red: int, blue: int) -> np.ndarray:
    picture = np.zeros((H, W, 3), np.uint8)
    picture[..., 0] = np.linspace(0, red, W, dtype=np.uint8)[None, :]
    picture[..., 2] = blue
    return picture


def frames_of(task: Task) -> np.ndarray:
    import av

    with av.open(str(task.output("clip"))) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
                        ).astype(np.int16)


def test_registered_as_a_clip_backend():
    from moviola.compiler.profiles import BACKENDS

    assert backend_class("diffusers.audio_video") is AudioVideo
    assert "clip" in BACKENDS["diffusers.audio_video"]


def test_clip_at_native_rate_on_the_vae_grid(film, manager):
    backend = AudioVideo(clip_config(), manager, film.project)
    backend.validate()
    task = film.clip(film.keyframe(still(255, 40)))
    meta = backend.run_batch([task])[0]
    frames = frames_of(task)
    # generated on LTX-2's 8k+1 grid at 24 fps, kept for the shot's duration at that rate,
    # then retimed to the film's fps
    at_native_rate = task.timing["frames"] / FPS * 24
    called = backend.plan_task(task, backend.pipeline()).shared
    assert called["frame_rate"] == 24 and (called["num_frames"] - 1) % 8 == 0
    assert called["num_frames"] >= at_native_rate
    assert at_native_rate <= meta["generated"] < at_native_rate + 1
    assert len(frames) == meta["frames"] == task.timing["frames"]
    assert frames.shape[1:] == (H, W, 3)
    # the image-to-video sibling shares the folder pipeline's weights and keeps its dtype
    pipe = backend.pipeline()
    sibling = backend.variant(pipe, "image")
    assert type(pipe).__name__ == "LTX2Pipeline"
    assert type(sibling).__name__ == "LTX2ImageToVideoPipeline"
    assert sibling.transformer is pipe.transformer
    assert pipe.transformer.dtype == backend.dtype


def test_keyframe_reaches_the_clip_and_seed_is_deterministic(film, manager):
    backend = AudioVideo(clip_config(), manager, film.project)
    warm, again = film.keyframe(still(255, 40)), film.keyframe(still(255, 40))
    cold = film.keyframe(still(30, 230))
    first, repeat, other = film.clip(warm), film.clip(again), film.clip(cold)
    for task in (first, repeat, other):
        backend.run_batch([task])
    assert np.array_equal(frames_of(first), frames_of(repeat))
    # the first frame follows its keyframe (LTX-2 keeps the image latent as frame 0)
    assert np.abs(frames_of(first)[0] - frames_of(other)[0]).mean() > 5
    reseeded = film.clip(warm, seed=999)
    backend.run_batch([reseeded])
    assert np.abs(frames_of(first)[1:] - frames_of(reseeded)[1:]).mean() > 0.5


@pytest.mark.parametrize("cap", ["frames", "max_frames"])
def test_a_shot_longer_than_the_model_is_continued_not_stretched(film, manager, cap):
    # one generation capped at 17 frames (0.7 s at 24 fps) for a 1.5 s shot: `frames` (as
    # the built-in profiles set it) is one generation's length, not the shot's
    config = clip_config(frames=17) if cap == "frames" else \
        clip_config(options=Options({**clip_config().options, "max_frames": 17}))
    backend = AudioVideo(config, manager, film.project)
    task = film.clip(film.keyframe(still(255, 40), LONG_SHOT), shot=LONG_SHOT)
    meta = backend.run_batch([task])[0]
    at_native_rate = task.timing["frames"] / FPS * 24
    assert at_native_rate > 17 and at_native_rate <= meta["generated"] < at_native_rate + 1
    frames = frames_of(task)
    assert len(frames) == task.timing["frames"]
    # every film frame is its own generated frame: none is held (no slow motion)
    steps = [np.abs(a - b).mean() for a, b in zip(frames, frames[1:])]
    assert min(steps) > 0.5
    # later segments see only the previous segment's frames (same prompt, same seeds): another
    # keyframe changes them only if those frames reach the model
    other = film.clip(film.keyframe(still(30, 230), LONG_SHOT), shot=LONG_SHOT)
    backend.run_batch([other])
    total, count = meta["generated"], len(frames)
    later = [i for i in range(count) if round(i * (total - 1) / (count - 1)) >= 17]
    middle = later[len(later) // 2]
    assert np.abs(frames[middle] - frames_of(other)[middle]).mean() > 0.5


def tone(hertz: float, seconds: float = 0.3, rate: int = 24000) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hertz * np.arange(int(seconds * rate)) / rate)
            ).astype(np.float32)


def test_lip_sync_is_refused_with_guidance_naming_the_model(film, manager):
    # LTX2DFRPipeline, the pipeline that holds the speech fixed, takes no guidance
    for over in ({"guidance": 3.0}, {"options": Options({"lip_sync": True})}):
        config = lip_sync_config(**over) if "guidance" in over else clip_config(**over)
        backend = AudioVideo(config, manager, film.project)
        with pytest.raises(LipSyncUnavailable, match="models/ltx2.*lip-sync.*guidance"):
            backend.validate()


def test_the_speech_said_in_frame_reaches_the_clip(project, manager):
    film = Film(project, lip_sync_config())
    backend = AudioVideo(lip_sync_config(), manager, project)
    backend.validate()
    key = film.keyframe(still(255, 40))
    low, high = film.speech(tone(220.0)), film.speech(tone(3000.0))
    first, again = film.clip(key, speech=low), film.clip(key, speech=low)
    other = film.clip(key, speech=high)
    assert [i.kind for i in first.inputs.values()] == ["keyframe", "speech"]
    # the line starts after the shot's lead-in, and the clip knows where
    assert first.timing["speech"] == {f"speech:{SHOT}/1": 0.35}
    for task in (first, again, other):
        backend.run_batch([task])
    assert np.array_equal(frames_of(first), frames_of(again))
    # another voice moves the picture (the first frame is the keyframe's either way)
    assert np.abs(frames_of(first)[1:] - frames_of(other)[1:]).mean() > 0.5
    # and so does the same voice said later in the shot
    later = film.clip(key, speech=low)
    later.timing["speech"] = {f"speech:{SHOT}/1": 0.6}
    backend.run_batch([later])
    assert np.abs(frames_of(first)[1:] - frames_of(later)[1:]).mean() > 0.5
    # the lip-sync pass shares the folder pipeline's weights
    pipe = backend.pipeline()
    assert backend.variant(pipe, "lip_sync").transformer is pipe.transformer
    shutil.rmtree(project / "out", ignore_errors=True)


def test_each_segment_of_a_lip_synced_shot_hears_its_own_span(project, manager):
    # 17 native frames a generation for a 2 s shot: segments from native frames 0, 8, 16…,
    # each on a canvas LTX2DFRPipeline pads to 25 frames (1.04 s); a line at 1.5 s plays
    # after the first segment's canvas
    config = lip_sync_config(options={"max_frames": 17})
    film = Film(project, config, SCRIPT.replace("close-up, static, 0.5s", "close-up, static, 2s"))
    backend = AudioVideo(config, manager, project)
    key = film.keyframe(still(255, 40))
    tasks = []
    for voice in (tone(220.0, 0.2), tone(3000.0, 0.2)):
        task = film.clip(key, speech=film.speech(voice))
        task.timing["speech"] = {f"speech:{SHOT}/1": 1.5}
        meta = backend.run_batch([task])[0]
        tasks.append(task)
    at_native_rate = task.timing["frames"] / FPS * 24
    assert at_native_rate > 17 and at_native_rate <= meta["generated"] < at_native_rate + 1
    first, other = frames_of(tasks[0]), frames_of(tasks[1])
    total, count = meta["generated"], len(first)
    native = [round(i * (total - 1) / (count - 1)) for i in range(count)]
    early = [i for i in range(count) if native[i] < 17]
    late = [i for i in range(count) if native[i] >= 17]
    # the first segment does not hear the line: the voice changes only later ones
    assert np.array_equal(first[early], other[early])
    assert np.abs(first[late] - other[late]).mean() > 0.5
    shutil.rmtree(project / "out", ignore_errors=True)


def test_a_clip_without_speech_is_unchanged_by_lip_sync(project, manager):
    plain, synced = Film(project, clip_config()), Film(project, lip_sync_config())
    key = synced.keyframe(still(255, 40), LONG_SHOT)
    frames = []
    for film, config in ((plain, clip_config()), (synced, lip_sync_config())):
        task = film.clip(key, shot=LONG_SHOT)
        AudioVideo(config, manager, project).run_batch([task])
        frames.append(frames_of(task))
    assert np.array_equal(frames[0], frames[1])
    shutil.rmtree(project / "out", ignore_errors=True)


def test_only_lip_sync_makes_a_clip_depend_on_its_dialogue(project):
    edited = SCRIPT.replace("Here it comes.", "There it goes.")

    def clip_jobs(config, script=SCRIPT):
        film = Film(project, config, script)
        return film.plan.job(f"clip:{SHOT}"), film.plan.job(f"clip:{LONG_SHOT}"), film

    off, off_wide, film = clip_jobs(clip_config())
    assert not [ref for ref in off.inputs if ref.kind == "speech"]
    assert "speech" not in film.executor.timing_for(off)
    # editing the line re-renders its speech, not the clip (same length: same timing)
    assert clip_jobs(clip_config(), edited)[0].key == off.key
    on, on_wide, film = clip_jobs(lip_sync_config())
    assert [str(ref) for ref in on.inputs if ref.kind == "speech"] == [f"speech:{SHOT}/1"]
    assert film.executor.timing_for(on)["speech"] == {f"speech:{SHOT}/1": 0.35}
    assert clip_jobs(lip_sync_config(), edited)[0].key != on.key
    # a wide shot without lines hears nothing
    assert on_wide.inputs == off_wide.inputs
    # a voice-over is not said in frame
    voice_over = SCRIPT.replace("MARIE\nHere", "MARIE (V.O.)\nHere")
    assert voice_over != SCRIPT
    heard, _, _ = clip_jobs(lip_sync_config(), voice_over)
    assert not [ref for ref in heard.inputs if ref.kind == "speech"]


def test_lip_sync_is_a_clip_option_of_ltx2_only():
    from moviola.compiler.profiles import ProfileError, parse_profiles

    with pytest.raises(ProfileError, match="lip_sync.*cannot lip-sync"):
        parse_profiles('[profiles.mine.clip]\nbackend = "draft.motion"\n'
                       'options = { lip_sync = true }\n')
    mine = parse_profiles('[profiles.mine.clip]\nbackend = "diffusers.audio_video"\n'
                          'model = "Lightricks/LTX-2"\noptions = { lip_sync = true }\n')
    assert mine["mine"].models["clip"].options["lip_sync"] is True


def test_log_mel_places_pitch_and_time_and_roundtrips_the_audio_vae(project):
    import torch
    from diffusers import AutoencoderKLLTX2Audio

    vae = AutoencoderKLLTX2Audio.from_pretrained(project / "models" / "ltx2", subfolder="audio_vae")
    rate, hop, bins = vae.config.sample_rate, vae.config.mel_hop_length, vae.config.mel_bins
    silence = np.zeros(rate // 2, np.float32)
    low = np.concatenate([silence, tone(500.0, 0.5, rate)])
    high = np.concatenate([silence, tone(4000.0, 0.5, rate)])
    mel_low, mel_high = log_mel(low, rate, hop, bins), log_mel(high, rate, hop, bins)
    # a frame every hop (centred), each with the config's mel bins
    assert mel_low.shape == (len(low) // hop + 1, bins)
    # silence sits at the floor; the tone starts where it was placed
    assert np.allclose(mel_low[:40], np.log(1e-5))
    assert (mel_low[60:] > np.log(1e-5) + 5).any(axis=1).all()
    # a higher pitch lights a higher mel bin
    assert mel_high[70:].argmax(axis=1).min() > mel_low[70:].argmax(axis=1).max()
    # the audio VAE takes it (stereo, as in_channels) and gives it back at the same size:
    # 4× fewer latent frames and mel bins, decoded to the causal 4(n − 1) + 1 frames
    spectrogram = torch.from_numpy(mel_low)[None, None].repeat(1, vae.config.in_channels, 1, 1)
    with torch.no_grad():
        latents = vae.encode(spectrogram).latent_dist.mode()
        decoded = vae.decode(latents).sample
    frames = len(mel_low)
    assert latents.shape == (1, vae.config.latent_channels, (frames - 1) // 4 + 1, bins // 4)
    assert decoded.shape == (1, vae.config.output_channels, 4 * (latents.shape[2] - 1) + 1, bins)


def test_editing_a_line_renders_its_close_up_again_only_when_it_lip_syncs(project, tmp_path):
    # the close-up outlasts its line: the line's length leaves its frame count alone
    script = SCRIPT.replace("close-up, static, 0.5s", "close-up, static, 3s")
    edited = script.replace("Here it comes.", "Here it goes.")
    draft = builtin_profiles()["draft"]

    def statuses(clip: ModelConfig, text: str) -> dict[str, str]:
        compilation = compile_text(text, str(project / "film.fountain"), project)
        profile = Profile("lips", device="cpu", models={**draft.models, "clip": clip})
        cache = Cache(tmp_path / ("lips" if clip.options.get("lip_sync") else "plain"))
        executor = Executor(plan(compilation.film, profile), project, cache)
        return {job["id"]: job["status"] for job in executor.run().jobs}

    for clip, again in ((clip_config(), "cached"), (lip_sync_config(), "executed")):
        first = statuses(clip, script)
        assert first[f"clip:{SHOT}"] == first[f"clip:{LONG_SHOT}"] == "executed"
        second = statuses(clip, edited)
        assert second[f"speech:{SHOT}/1"] == "executed"
        assert second[f"clip:{SHOT}"] == again
        assert second[f"clip:{LONG_SHOT}"] == "cached"


def test_a_distilled_lora_lip_syncs_the_close_ups_of_a_guided_profile(project, manager,
                                                                     monkeypatch):
    from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES

    from moviola.compiler.profiles import LIP_SYNC_DISTILLED_STEPS

    assert LIP_SYNC_DISTILLED_STEPS == len(DISTILLED_SIGMA_VALUES)     # what plans estimate
    guided = clip_config(guidance=3.0)
    results = {}
    for name, config in (("plain", guided), ("distilled", distilled_config()),
                         ("other", distilled_config("other-lora.safetensors"))):
        film = Film(project, config)
        backend = AudioVideo(config, manager, project)
        backend.validate()                 # guidance 3 is fine: the lip-sync pass has its LoRA
        calls = []
        real_call = backend._call

        def spy(pipe, shared, samples, real_call=real_call, calls=calls):
            calls.append((type(pipe).__name__, shared.get("sigmas")))
            return real_call(pipe, shared, samples)

        monkeypatch.setattr(backend, "_call", spy)
        key, wide_key = film.keyframe(still(255, 40)), film.keyframe(still(255, 40), LONG_SHOT)
        speech = film.speech(tone(220.0)) if name != "plain" else None
        close, wide = film.clip(key, speech=speech), film.clip(wide_key, shot=LONG_SHOT)
        backend.run_batch([close, wide])             # one batch: the LoRA is on for one only
        results[name] = (frames_of(close), frames_of(wide), calls)
    _, _, calls = results["distilled"]
    assert ("LTX2DFRPipeline", list(DISTILLED_SIGMA_VALUES)) in calls
    # the LoRA reaches the lip-synced close-up: another LoRA, another picture
    assert np.abs(results["distilled"][0][1:] - results["other"][0][1:]).mean() > 0.5
    # and only it: the wide shot renders guided on the dev weights, as without lip-sync
    assert np.array_equal(results["plain"][1], results["distilled"][1])
    assert np.array_equal(results["plain"][1], results["other"][1])
    shutil.rmtree(project / "out", ignore_errors=True)


def test_a_distilled_lora_not_on_disk_is_named_with_its_download(project, manager):
    backend = AudioVideo(distilled_config("ltx-2-19b-distilled-lora-384.safetensors"), manager,
                         project)
    with pytest.raises(models.ModelNotFound,
                       match="ltx-2-19b-distilled-lora-384.*hf download models/ltx2"):
        backend.validate()


def test_final_lip_syncs_through_the_distilled_lora():
    from moviola.compiler.api import compile_text
    from moviola.compiler.profiles import ProfileError, parse_profiles

    clip = builtin_profiles()["final"].models["clip"]
    assert clip.options["lip_sync"] is True and clip.guidance == 3.0
    assert clip.options["lip_sync_lora"] == "ltx-2-19b-distilled-lora-384.safetensors"
    film = compile_text(SCRIPT, "film.fountain").film
    close = plan(film, "final").job(f"clip:{SHOT}")
    assert [str(ref) for ref in close.inputs if ref.kind == "speech"] == [f"speech:{SHOT}/1"]
    with pytest.raises(ProfileError, match="lip_sync_lora.*nothing lip-syncs"):
        parse_profiles('[profiles.mine.clip]\nbackend = "diffusers.audio_video"\n'
                       'model = "Lightricks/LTX-2"\noptions = { lip_sync_lora = "a.safetensors" }\n')


# -- footage ---------------------------------------------------------------------------------------

def footage_config(**over) -> ModelConfig:
    options = {**clip_config().options, "strength": over.pop("strength", 0.6)}
    return clip_config(kind="footage", steps=over.pop("steps", 5), options=Options(options),
                       **over)


def spied(monkeypatch, backend) -> list[tuple[str, dict, list]]:
    """Each pipeline call ``backend`` makes, as (pipeline class, its arguments, its frames)."""
    calls = []
    real_call = backend._call

    def spy(pipe, shared, samples):
        outputs = real_call(pipe, shared, samples)
        calls.append((type(pipe).__name__, shared, outputs))
        return outputs

    monkeypatch.setattr(backend, "_call", spy)
    return calls


def test_registered_for_footage_and_final_restyles_with_the_clip_model():
    from moviola.compiler.profiles import BACKENDS

    assert "footage" in BACKENDS["diffusers.audio_video"]
    final = builtin_profiles()["final"].models
    # one video model in final: its footage loads the pipeline its clips already hold
    assert (final["footage"].backend, final["footage"].model) == \
        (final["clip"].backend, final["clip"].model)
    assert (final["footage"].dtype, final["footage"].resolution) == \
        (final["clip"].dtype, final["clip"].resolution)
    assert not final["footage"].options.get("lip_sync")


def test_restyled_footage_follows_every_frame(film, manager, monkeypatch):
    """Two footages that share their first frame and differ after it restyle differently
    where they differ; the same footage restyles the same."""
    backend = AudioVideo(footage_config(), manager, film.project)
    backend.validate()
    calls = spied(monkeypatch, backend)
    yellow, blue, again = (film.footage(source) for source in
                           ("clips/walk.mp4", "clips/walk-other.mp4", "clips/walk.mp4"))
    metas = backend.run_batch([yellow, blue, again])
    # 1 s at LTX-2's 24 fps, one generation on its 8k+1 grid, the source's latents denoised
    # from the last 60 % of the 5-step schedule (3 steps) through LTX2ConditionPipeline
    assert metas[0]["segments"] == 1 and metas[0]["generated"] == 24 and metas[0]["held"] == 0
    name, called, _ = calls[0]
    assert name == "LTX2ConditionPipeline" and called["num_frames"] == 25
    assert called["latents"].shape[2] == (25 - 1) // 8 + 1 and len(called["sigmas"]) == 3
    clips = [frames_of(task) for task in (yellow, blue, again)]
    assert len(clips[0]) == yellow.timing["frames"]
    assert np.array_equal(clips[0], clips[2])
    change = np.abs(clips[0] - clips[1]).mean(axis=(1, 2, 3))
    late = slice(len(change) * 2 // 3, None)
    # the late frames differ (the bars' colours), and more than the first, which the two
    # footages share (it still differs a little: every token attends to the others)
    assert change[late].mean() > 1.0 and change[late].mean() > change[0]


def test_strength_is_how_far_the_restyle_departs_from_the_footage(film, manager):
    """The last share of the same schedule, from the footage's own latents: at a low strength
    the footage shapes the restyle (two footages, two pictures far apart); at a high one the
    noise does (the same seed, two pictures closer together)."""
    apart = {}
    for strength in (0.2, 0.9):
        backend = AudioVideo(footage_config(strength=strength, steps=10), manager, film.project)
        yellow, blue = film.footage("clips/walk.mp4"), film.footage("clips/walk-other.mp4")
        backend.run_batch([yellow, blue])
        pipe = backend.pipeline()
        target = backend.variant(pipe, "restyle")
        assert target.scheduler.config.use_dynamic_shifting is False    # the tail, as given
        shared = {"width": W, "height": H, "num_frames": 25}
        schedule = backend.schedule(pipe, target, shared)
        assert backend.restyle_sigmas(yellow, pipe, target, shared) == \
            schedule[len(schedule) - int(10 * strength):]
        apart[strength] = np.abs(frames_of(yellow) - frames_of(blue))[1:].mean()
    # about 3× in float32; bfloat16's rounding, amplified by random weights, narrows it
    assert apart[0.2] > apart[0.9]


def test_long_footage_is_restyled_in_chunks_that_carry_over_the_seams(film, manager,
                                                                      monkeypatch):
    """17 frames a generation for 1 s of footage (24 frames at 24 fps): chunks at frames 0
    and 8, the second beginning with the first's last 9 restyled frames, held clean. Guided,
    as final's (classifier-free guidance doubles the batch beside the given latents)."""
    backend = AudioVideo(footage_config(frames=17, guidance=3.0), manager, film.project)
    calls = spied(monkeypatch, backend)
    task = film.footage()
    meta = backend.run_batch([task])[0]
    assert meta["segments"] == len(calls) == 2 and meta["generated"] == 24
    (_, first, first_out), (_, second, second_out) = calls
    assert "conditions" not in first
    (condition,) = second["conditions"]
    assert condition.index == 0 and condition.strength == 1.0
    held = np.stack([np.asarray(frame) for frame in condition.frames]).astype(int)
    assert np.array_equal(held, first_out[0][-9:].astype(int))
    # the second chunk's own footage: the source from native frame 8 on
    assert not torch_equal(first["latents"], second["latents"])
    frames = frames_of(task)
    assert len(frames) == task.timing["frames"]
    assert min(np.abs(a - b).mean() for a, b in zip(frames, frames[1:])) > 0.5    # none held


def torch_equal(a, b) -> bool:
    return a.shape == b.shape and bool((a == b).all())


def test_a_strength_that_leaves_no_step_is_named(film, manager):
    backend = AudioVideo(footage_config(strength=0.1, steps=5), manager, film.project)
    with pytest.raises(ValueError, match=f"shot.*{FOOTAGE}.*strength 0.1 of 5 steps.*steps to 10"):
        backend.run_batch([film.footage()])


def test_the_plain_footage_backend_names_the_one_that_restyles_ltx2(film, manager):
    from moviola.runtime.backends.diffusers_footage import VideoToVideo

    config = footage_config(backend="diffusers.video_to_video")
    with pytest.raises(models.ModelBroken, match="LTX2Pipeline.*diffusers.audio_video restyles"):
        VideoToVideo(config, manager, film.project).run_batch([film.footage()])


def test_every_sibling_shares_the_bfloat16_weights_untouched(project, manager):
    """The folder's bfloat16 modules stay bfloat16, on the same storage, through every
    pipeline a clip or a restyle runs (diffusers' from_pipe would cast them to float32 in
    place, doubling the resident model)."""
    import torch

    backend = AudioVideo(clip_config(dtype="bfloat16"), manager, project)
    pipe = backend.pipeline()

    def tensors():
        return {f"{name}.{key}": (tensor.dtype, tensor.data_ptr())
                for name, part in pipe.components.items() if isinstance(part, torch.nn.Module)
                for key, tensor in list(part.named_parameters()) + list(part.named_buffers())}

    before = tensors()
    assert torch.bfloat16 in {dtype for dtype, _ in before.values()}
    for which in ("image", "condition", "lip_sync", "restyle"):
        sibling = backend.variant(pipe, which)
        assert sibling.transformer is pipe.transformer and sibling.vae is pipe.vae
        assert tensors() == before, which
    assert manager.used_bytes == models.size_of(pipe)


def test_final_runs_ltx2_0_with_its_own_cross_timesteps(film, manager):
    """Lightricks/LTX-2 is LTX-2.0, whose cross-attention modulation reads each stream's own
    timestep; the pipelines default to LTX-2.3's. The option reaches the model."""
    final = builtin_profiles()["final"].models
    assert final["clip"].options["use_cross_timestep"] is False
    assert final["footage"].options["use_cross_timestep"] is False
    frames = []
    for cross in (True, False):
        options = Options({**clip_config().options, "use_cross_timestep": cross})
        task = film.clip(film.keyframe(still(255, 40)))
        AudioVideo(clip_config(options=options), manager, film.project).run_batch([task])
        frames.append(frames_of(task))
    assert np.abs(frames[0] - frames[1]).mean() > 0.1
