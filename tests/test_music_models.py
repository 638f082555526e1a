"""ACE-Step music with sung lyrics, on a tiny faithful pipeline (tests/tiny_music_models.py).

The cue's ``~`` lines reach the model: changing them changes the music, an instrumental cue is
untouched by another cue's lyrics, the prompt counts, the same inputs give identical audio, a
long cue is built of crossfaded segments to its exact length, at 48 kHz stereo. A model that
cannot sing a cue's lyrics is an error naming the cue and the model."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_audio_models  # noqa: E402
import tiny_music_models  # noqa: E402
from tiny_film import TinyFilm  # noqa: E402

from moviola.compiler.profiles import ModelConfig, Options  # noqa: E402
from moviola.runtime.audio_io import read_wav  # noqa: E402
from moviola.runtime.backends import registry  # noqa: E402
from moviola.runtime.backends.audio_base import sub_seed  # noqa: E402
from moviola.runtime.backends.music_models import (AceStep, LyricsNotTaken, MusicGen,  # noqa: E402
                                                   StableAudio3)
from moviola.runtime.backends.protocol import Task  # noqa: E402

pytestmark = [pytest.mark.models, pytest.mark.usefixtures("torch_one_thread"),
              pytest.mark.filterwarnings("ignore:.*weight_norm.* is deprecated:FutureWarning")]

SCRIPT = """Title: Tiny
Seed: 7

[[theme RIVER: sparse piano and cello, 70 bpm]]
[[theme STORM: drums and brass]]

EXT. RIVER - DAY

[[music: RIVER]]
Marie walks along the river.

~{first}
~and the water runs away

INT. KITCHEN - NIGHT

[[music: STORM]]
[[sfx: rain on a door, 1.5s]]
Julie shuts the door.
"""
FIRST = "the river knows my name"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("music")
    tiny_music_models.build_ace_step(root / "models" / "ace-step")
    tiny_audio_models.build_musicgen(root / "models" / "musicgen")
    tiny_music_models.build_stable_audio_3(root / "models" / "stable-audio-3")
    return root


def ace_config(**over) -> ModelConfig:
    values = dict(kind="music", backend="diffusers.ace_step", model="models/ace-step",
                  dtype="float32", steps=4, batch_size=4)
    values.update(over)
    return ModelConfig(**values)


def music_tasks(project: Path, first: str = FIRST, seconds: float = 1.2,
                config: ModelConfig | None = None, seed=None, kind: str = "music",
                **params) -> dict[str, Task]:
    """The planned music jobs of SCRIPT (with the first sung line ``first``) as tasks, by
    theme (or its effects, by description)."""
    film = TinyFilm(project, SCRIPT.format(first=first), **{kind: config or ace_config()})
    tasks = {}
    for job in film.plan.jobs:
        if job.kind != kind:
            continue
        name = job.params.theme if kind == "music" else job.params.description
        tasks[name] = film.task_of(job, seed=seed(job.seed) if seed is not None else None,
                                   timing={"seconds": seconds}, **params)
    return tasks


def render(project, manager, tasks: list[Task], config: ModelConfig | None = None,
           backend_class=AceStep):
    backend = backend_class(config or ace_config(), manager, project)
    backend.validate()
    backend.run_batch(tasks)
    return [read_wav(task.output(task.job.kind)) for task in tasks]


def test_the_cue_carries_its_sung_lines(project):
    tasks = music_tasks(project)
    assert tasks["RIVER"].job.params.lyrics == f"{FIRST}\nand the water runs away"
    assert tasks["STORM"].job.params.lyrics is None           # instrumental
    assert "lyrics" not in tasks["STORM"].job.params.to_json()  # older plans' keys hold


def test_lyrics_reach_the_music(project, manager):
    sung = music_tasks(project)
    other = music_tasks(project, first="a stranger sings of fire")
    (river, rate), (storm, _) = render(project, manager, [sung["RIVER"], sung["STORM"]])
    (river_other, _), (storm_other, _) = render(project, manager,
                                                [other["RIVER"], other["STORM"]])
    assert rate == 48000 and river.shape == (int(1.2 * 48000), 2)          # 48 kHz stereo
    assert np.abs(river - river_other).max() > 1e-3       # other words, other music
    np.testing.assert_array_equal(storm, storm_other)     # the instrumental cue is untouched
    (alone, _), = render(project, manager, [music_tasks(project)["RIVER"]])
    np.testing.assert_array_equal(river, alone)            # a batch changes no job's audio


def test_same_inputs_same_audio_and_the_prompt_counts(project, manager):
    (first, _), = render(project, manager, [music_tasks(project)["RIVER"]])
    (again, _), = render(project, manager, [music_tasks(project)["RIVER"]])
    (other, _), = render(project, manager,
                         [music_tasks(project, description="a brass fanfare")["RIVER"]])
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-3


def test_long_cue_is_exact_and_its_segments_crossfade(project, manager):
    config = ace_config(options=Options(segment_seconds=1.0, crossfade_seconds=0.2))
    (long, rate), = render(project, manager,
                           [music_tasks(project, seconds=2.3, config=config)["RIVER"]], config)
    assert long.shape == (int(round(2.3 * rate)), 2)
    # segments of 1.0, 1.0 and 0.7 s joined over 0.2 s. The first is the cue's seed singing
    # the first line: the same as a 1 s cue of that line, up to the first join
    (alone, _), = render(project, manager,
                         [music_tasks(project, seconds=1.0, lyrics=FIRST)["RIVER"]], config)
    join, overlap = int(0.8 * rate), int(0.2 * rate)
    np.testing.assert_array_equal(long[:join], alone[:join])
    # the second: its own seed singing the second line, crossfaded in at equal power
    (second, _), = render(project, manager, [music_tasks(
        project, seconds=1.0, lyrics="and the water runs away",
        seed=lambda seed: sub_seed(seed, "segment 1"))["RIVER"]], config)
    t = ((np.arange(overlap) + 0.5) / overlap)[:, None]
    mixed = alone[join:join + overlap] * np.cos(t * np.pi / 2) + \
        second[:overlap] * np.sin(t * np.pi / 2)
    mixed = np.clip(mixed, -1.0, 32767 / 32768)                    # the 16-bit wav's range
    np.testing.assert_allclose(long[join:join + overlap], mixed, atol=2 / 32768)
    np.testing.assert_array_equal(long[join + overlap:2 * join], second[overlap:join])
    assert np.abs(second - alone).max() > 1e-3        # music of its own, not the first again


def test_a_model_that_cannot_sing_names_the_cue(project, manager):
    config = ModelConfig(kind="music", backend="transformers.musicgen", model="models/musicgen",
                         dtype="float32", batch_size=2)
    task = music_tasks(project, config=config)["RIVER"]
    backend = MusicGen(config, manager, project)
    backend.validate()
    with pytest.raises(LyricsNotTaken, match="music RIVER.*models/musicgen"):
        backend.run_batch([task])


def test_lyrics_the_model_would_cut_are_an_error(project, manager):
    task = music_tasks(project, lyrics="la " * 700)["RIVER"]       # the tiny tokenizer: 2100
    with pytest.raises(LyricsNotTaken, match="music RIVER.*2100 tokens.*segment_seconds"):
        render(project, manager, [task])


# -- diffusers.stable_audio_3 (effects) -----------------------------------------------------------

def sa3_config(**over) -> ModelConfig:
    values = dict(kind="sfx", backend="diffusers.stable_audio_3", model="models/stable-audio-3",
                  dtype="float32", steps=4, batch_size=4)
    values.update(over)
    return ModelConfig(**values)


def effect(project, **params) -> Task:
    task, = music_tasks(project, config=sa3_config(), kind="sfx", **params).values()
    return task                                  # the script's one effect


def test_effect_has_its_duration_at_48k_and_follows_its_prompt(project, manager):
    (rain, rate), = render(project, manager, [effect(project)], sa3_config(), StableAudio3)
    (again, _), = render(project, manager, [effect(project)], sa3_config(), StableAudio3)
    (door, _), = render(project, manager, [effect(project, description="a door slams")],
                        sa3_config(), StableAudio3)
    assert rate == 48000 and rain.shape == (int(1.5 * 48000), 2)
    np.testing.assert_array_equal(rain, again)             # stochastic sampler, seeded per job
    assert np.abs(rain - door).max() > 1e-3


def test_effects_render_the_same_in_a_batch(project, manager):
    other = effect(project, seed=lambda seed: seed + 1)
    (alone, _), = render(project, manager, [effect(project)], sa3_config(), StableAudio3)
    (batched, _), (second, _) = render(project, manager, [effect(project), other],
                                       sa3_config(), StableAudio3)
    np.testing.assert_array_equal(alone, batched)
    assert np.abs(second - alone).max() > 1e-3            # its own seed


def test_registry_names_the_backends():
    assert registry.backend_class("diffusers.ace_step") is AceStep
    assert registry.backend_class("diffusers.stable_audio_3") is StableAudio3
