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
from PIL import Image  # noqa: E402

from moviola.compiler.api import compile_text  # noqa: E402
from moviola.compiler.plan import plan  # noqa: E402
from moviola.compiler.profiles import ModelConfig, Options, Profile, builtin_profiles  # noqa: E402
from moviola.runtime import timeline  # noqa: E402
from moviola.runtime.backends.diffusers_ltx2 import AudioVideo, LipSyncUnavailable  # noqa: E402
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
"""
SHOT, LONG_SHOT = "ext-river-day~1/1", "ext-river-day~1/2"

pytestmark = [pytest.mark.usefixtures("torch_one_thread"), pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ltx2")
    tiny_ltx2.build_ltx2(root / "models" / "ltx2")
    (root / "film.fountain").write_text(SCRIPT, "utf-8")
    return root


def clip_config(**over) -> ModelConfig:
    # a tiny model has 2 blocks: spatio-temporal guidance's default block (28) does not exist
    values = dict(kind="clip", backend="diffusers.audio_video", model="models/ltx2",
                  dtype="float32", steps=2, guidance=1.0, resolution=(96, 64),
                  options=Options({"stg_scale": 0.0, "audio_stg_scale": 0.0,
                                   "modality_scale": 1.0, "audio_modality_scale": 1.0,
                                   "audio_guidance_scale": 1.0, "max_sequence_length": 16}))
    values.update(over)
    return ModelConfig(**values)


class Film:
    def __init__(self, project: Path, clip: ModelConfig):
        compilation = compile_text(SCRIPT, str(project / "film.fountain"), project)
        assert compilation.ok, compilation.errors
        draft = builtin_profiles()["draft"]
        self.project = project
        self.plan = plan(compilation.film, Profile("tiny", device="cpu",
                                                   models={**draft.models, "clip": clip}))
        self.executor = Executor(self.plan, project, Cache(project / ".moviola"))
        speech = {job.ref: 0.3 for job in self.plan.jobs if job.kind == "speech"}
        self.executor.timeline = timeline.resolve(self.plan, speech)
        self.count = 0

    def folder(self, kind: str) -> Path:
        self.count += 1
        folder = self.project / "out" / f"{self.count:03d}-{kind}"
        folder.mkdir(parents=True)
        return folder

    def keyframe(self, picture: np.ndarray, shot: str = SHOT) -> Entry:
        """The shot's keyframe job, rendered as ``picture``."""
        job = self.plan.job(f"keyframe:{shot}")
        folder = self.folder("keyframe")
        task = Task.of(job, f"key{self.count}", folder, self.project, [], {})
        Image.fromarray(picture).save(task.output("keyframe"))
        return Entry(task.key, folder, {"width": W, "height": H})

    def clip(self, keyframe: Entry, seed: int | None = None, shot: str = SHOT) -> Task:
        job = self.plan.job(f"clip:{shot}")
        if seed is not None:
            job = dataclasses.replace(job, seed=seed)
        given = [Input.of(self.plan.job(f"keyframe:{shot}"), keyframe)]
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
    assert str(pipe.transformer.dtype) == "torch.float32"


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


def test_a_shot_longer_than_the_model_is_continued_not_stretched(film, manager):
    # the model's length capped at 17 frames (0.7 s at 24 fps) for a 1.5 s shot
    config = clip_config(options=Options({**clip_config().options, "max_frames": 17}))
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


def test_lip_sync_is_refused_naming_the_model(film, manager):
    backend = AudioVideo(clip_config(options=Options({"lip_sync": True})), manager,
                         film.project)
    with pytest.raises(LipSyncUnavailable, match="models/ltx2.*lip-sync"):
        backend.validate()
