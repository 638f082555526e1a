"""How long a render takes: seconds per job, from unit costs per (backend, kind).

Each backend's cost is a fixed part per job plus a part per unit of work: a second of clip, a
keyframe, a second of speech, a second of music, a second of film (the mix and the mux). The draft
figures were measured on the development machine (2 cores) from a build report's per-job times
(``python3 benchmarks/estimate.py``); the GPU figures are estimates until a GPU machine measures them,
and say so (``UnitCost.measured``). docs/benchmarks.md records where each figure comes from.

``moviola diff`` and ``moviola plan`` call :func:`render_seconds`, so the cost a diff shows is
the cost the plan shows for the same jobs. Pure: reads nothing, imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from . import timing


@dataclass(frozen=True, slots=True)
class UnitCost:
    per_job: float      # seconds each job costs whatever its size (setup, encoding a file)
    per_unit: float     # seconds per unit of work (see UNITS)
    measured: bool      # False: an estimate, not measured yet


# What a job's unit of work is, by kind.
UNITS = {
    "speech": "second of speech", "performance": "second of speech",
    "keyframe": "keyframe", "clip": "second of clip", "footage": "second of clip",
    "music": "second of music", "sfx": "second of sound",
    "mix": "second of film", "mux": "second of film",
    "subtitles": "job", "otio": "job", "contact_sheet": "job",
    "train": "training step",
}

# Draft and edit backends: measured (benchmarks/estimate.py on the draft build of
# samples/the-wash-house.fountain, one worker, 2-core development machine).
_MEASURED = {
    ("draft.espeak", "speech"): UnitCost(0.002, 0.0021, True),
    ("draft.performance", "performance"): UnitCost(0.0, 0.026, True),
    ("draft.storyboard", "keyframe"): UnitCost(0.0, 0.0735, True),
    ("draft.motion", "clip"): UnitCost(0.144, 0.0336, True),
    ("draft.footage", "footage"): UnitCost(0.144, 0.0336, False),    # as draft.motion; no sample film
    ("draft.motion", "footage"): UnitCost(0.144, 0.0336, False),
    ("draft.espeak", "performance"): UnitCost(0.002, 0.0021, False),  # as speech; not measured
    ("draft.score", "music"): UnitCost(0.012, 0.0044, True),
    ("draft.sfx", "sfx"): UnitCost(0.002, 0.0014, True),
    ("edit.mix", "mix"): UnitCost(0.0, 0.0193, True),
    ("edit.subtitles", "subtitles"): UnitCost(0.001, 0.0, True),
    ("edit.mux", "mux"): UnitCost(0.0, 0.0007, True),
    ("edit.otio", "otio"): UnitCost(0.003, 0.0, True),
    ("edit.contact_sheet", "contact_sheet"): UnitCost(1.26, 0.0, True),
}

# Model backends on one data-centre GPU (H100/H200 class), fp16/bf16, model loaded: estimates
# from the models' published throughput, not measured here yet.
_ESTIMATED = {
    ("diffusers.text_to_image", "keyframe"): UnitCost(0.0, 3.0, False),
    ("diffusers.image_to_video", "clip"): UnitCost(5.0, 12.0, False),
    ("diffusers.text_to_video", "clip"): UnitCost(5.0, 12.0, False),
    ("diffusers.image_to_video", "footage"): UnitCost(5.0, 12.0, False),
    ("diffusers.text_to_video", "footage"): UnitCost(5.0, 12.0, False),
    ("diffusers.video_to_video", "footage"): UnitCost(5.0, 12.0, False),
    ("diffusers.video_to_video", "clip"): UnitCost(5.0, 12.0, False),
    ("transformers.tts", "speech"): UnitCost(0.1, 0.05, False),
    ("transformers.tts_clone", "speech"): UnitCost(0.2, 0.2, False),
    ("coqui.xtts", "speech"): UnitCost(0.3, 0.3, False),
    ("transformers.tts", "performance"): UnitCost(0.1, 0.05, False),
    ("transformers.tts_clone", "performance"): UnitCost(0.2, 0.2, False),
    ("coqui.xtts", "performance"): UnitCost(0.3, 0.3, False),
    ("transformers.voice_conversion", "performance"): UnitCost(0.2, 0.1, False),
    ("coqui.freevc", "performance"): UnitCost(0.2, 0.1, False),
    ("transformers.musicgen", "music"): UnitCost(1.0, 1.0, False),
    ("transformers.musicgen", "sfx"): UnitCost(1.0, 1.0, False),
    ("diffusers.stable_audio", "music"): UnitCost(2.0, 0.3, False),
    ("diffusers.stable_audio", "sfx"): UnitCost(2.0, 0.3, False),
    ("diffusers.ace_step", "music"): UnitCost(2.0, 0.05, False),          # 8-step turbo
    ("diffusers.stable_audio_3", "music"): UnitCost(1.0, 0.05, False),    # distilled, 8 steps
    ("diffusers.stable_audio_3", "sfx"): UnitCost(1.0, 0.05, False),
    # a LoRA step (batch 1, bf16, gradient checkpointing): ~0.15 s for SD 1.5 at 512 px, ~0.5 s
    # for SDXL or FLUX at 1024 px; the fixed part loads the model and encodes the pictures.
    # Measured on CPU with the tiny test SD (32 px, rank 4, 3 pictures, 1 thread): 0.92 s fixed +
    # 11.6 ms per step (a train job of 4 vs 104 steps), figures of a toy model, not of a GPU
    ("training.lora", "train"): UnitCost(30.0, 0.5, False),
}

COSTS: dict[tuple[str, str], UnitCost] = {**_MEASURED, **_ESTIMATED}
# A backend this table does not know: the slowest figure known for its kind, never zero.
_FALLBACK = UnitCost(5.0, 12.0, False)


def unit_cost(backend: str, kind: str) -> UnitCost:
    if (backend, kind) in COSTS:
        return COSTS[(backend, kind)]
    known = [cost for (name, k), cost in COSTS.items() if k == kind]
    return max(known, key=lambda c: (c.per_unit, c.per_job)) if known else _FALLBACK


def job_units(job, plan) -> float:
    """The units of work of ``job`` (see :data:`UNITS`) in ``plan``, from the compiler's screen
    time estimates (speech lengths refine them once rendered)."""
    kind = job.profile_kind
    if kind in ("speech", "performance"):
        return timing.line_seconds(_line_of(job, plan))
    if kind == "keyframe":
        return 1.0
    if kind in ("clip", "footage"):
        return _cut_of(job, plan).estimated_seconds
    if kind == "music":
        return _music_seconds(job, plan)
    if kind == "sfx":
        duration = job.params.duration
        return float(duration) if duration else _cut_of(job, plan).estimated_seconds
    if kind in ("mix", "mux"):
        return plan.estimated_seconds
    if kind == "train":
        return float(job.params.steps)
    return 0.0


def job_seconds(job, plan) -> float:
    """Estimated seconds to render ``job`` of ``plan`` under the plan's profile."""
    cost = unit_cost(job.backend, job.profile_kind)
    return cost.per_job + cost.per_unit * job_units(job, plan)


def render_seconds(jobs: Iterable, plan) -> float:
    """Estimated seconds to render ``jobs`` (jobs of ``plan``), one after another."""
    return sum(job_seconds(job, plan) for job in jobs)


def measured(jobs: Iterable) -> bool:
    """Whether every figure behind an estimate of ``jobs`` was measured."""
    return all(unit_cost(job.backend, job.profile_kind).measured for job in jobs)


# A job's identity names its cut: "clip:<cut id>", "speech:<cut id>/<line number>",
# "music:<cut id>/<cue number>", "sfx:<cut id>/<effect number>"; the film's own jobs ("mix:film")
# have none.

def _identity(job) -> str:
    return job.ref.identity


def cut_of(job, plan):
    """The cut (shot) a job renders for, or None for the film's own jobs (mix, mux...)."""
    identity = _identity(job)
    cuts = _cuts_by_id(plan.cuts)
    if identity in cuts:
        return cuts[identity]
    return cuts.get(identity.rsplit("/", 1)[0])


_index: list = [None, {}]     # the last plan's cuts and their index by id


def _cuts_by_id(cuts: tuple) -> dict:
    if _index[0] is not cuts:
        _index[:] = [cuts, {cut.id: cut for cut in cuts}]
    return _index[1]


def _cut_of(job, plan):
    cut = cut_of(job, plan)
    if cut is None:
        raise KeyError(f"job {job.id} names no cut of the plan")
    return cut


def _line_of(job, plan):
    cut = _cut_of(job, plan)
    return cut.lines[int(_identity(job).rsplit("/", 1)[1]) - 1]


def _music_seconds(job, plan) -> float:
    """A cue plays from its cut to the next cue's cut, or to the end of the film."""
    start = _cut_of(job, plan)
    seconds = 0.0
    playing = False
    for cut in plan.cuts:
        if cut is start:
            playing = True
        elif playing and cut.cues:
            break
        if playing:
            seconds += cut.estimated_seconds
    return seconds
