"""How long a render takes: seconds per job, from unit costs per (backend, kind) or per model.

Each backend's cost is a fixed part per job plus a part per unit of work: a second of clip, a
keyframe, a second of speech, a second of music, a second of film (the mix and the mux). The draft
figures were measured on the development machine (2 cores) from a build report's per-job times
(``python3 benchmarks/estimate.py``). A model backend's cost depends on its model far more than on
the backend: :data:`MODELS` holds, per model of the built-in profiles, its unit cost at stated
settings, its GPU memory and where each figure comes from. Those GPU figures are estimates from
published figures until a GPU run measures them (``UnitCost.measured`` False; ``moviola plan``
labels them "est."); docs/benchmarks.md records them and their sources.

``moviola diff`` and ``moviola plan`` call :func:`render_seconds`, so the cost a diff shows is
the cost the plan shows for the same jobs. Pure: reads nothing, imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from . import timing
from .profiles import DEFAULT_RESTYLE_STRENGTH, LIP_SYNC_DISTILLED_STEPS


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
    # Pocket TTS: 0.44 s a second of speech on one CPU thread (benchmarks/speech.py)
    ("transformers.pocket_tts", "speech"): UnitCost(0.1, 0.1, False),
    ("transformers.pocket_tts", "performance"): UnitCost(0.1, 0.1, False),
    # VibeVoice: a 1.5 B / 7 B language model step and a diffusion head per 1/7.5 s frame
    ("transformers.vibevoice", "speech"): UnitCost(0.3, 0.4, False),
    ("transformers.vibevoice", "performance"): UnitCost(0.3, 0.4, False),
    ("coqui.xtts", "performance"): UnitCost(0.3, 0.3, False),
    ("transformers.voice_conversion", "performance"): UnitCost(0.2, 0.1, False),
    ("coqui.freevc", "performance"): UnitCost(0.2, 0.1, False),
    ("transformers.musicgen", "music"): UnitCost(1.0, 1.0, False),
    ("transformers.musicgen", "sfx"): UnitCost(1.0, 1.0, False),
    ("diffusers.stable_audio", "music"): UnitCost(2.0, 0.3, False),
    ("diffusers.stable_audio", "sfx"): UnitCost(2.0, 0.3, False),
    ("diffusers.audio_video", "clip"): UnitCost(10.0, 12.0, False),      # as LTX-2 (MODELS)
    ("diffusers.audio_video", "footage"): UnitCost(10.0, 12.0, False),
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

# The footage backends that restyle a shot's video (from its latents, the last `strength` of
# the schedule: runtime/backends/diffusers_footage.py, diffusers_ltx2.py).
RESTYLING = ("diffusers.video_to_video", "diffusers.audio_video")

# Where the time figures of MODELS hold: the GPUs the built-in profiles are sized for.
REFERENCE_GPU = "one H100/H200-class GPU, bfloat16, model loaded"

# A backend this table does not know: the slowest figure known for its kind, never zero.
_FALLBACK = UnitCost(5.0, 12.0, False)


@dataclass(frozen=True, slots=True)
class ModelFigures:
    """What one model costs: time per unit of work and memory, at the settings they hold for."""

    kind: str                       # the kind whose unit of work (UNITS) the cost counts
    cost: UnitCost                  # seconds per job + per unit (see UNITS) at `steps`, `size`
    memory_gb: float                # peak memory at those settings (GPU; RAM for a CPU figure)
    source: str                     # where the figures come from, for docs and `moviola plan`
    steps: int | None = None        # denoising steps the cost holds for (None: not a diffusion model)
    size: tuple[int, int] | None = None   # generation size it holds for (pictures, video)
    device: str = "gpu"             # "gpu": REFERENCE_GPU; "cpu": one core of the dev machine
    # a lip-synced clip's share of the per-unit cost (its pass runs unguided: fewer transformer
    # calls a step than the figures count); None: a model that does not lip-sync
    lip_sync_share: float | None = None


def _gpu(kind: str, per_job: float, per_unit: float, memory_gb: float, source: str,
         steps: int | None = None, size: tuple[int, int] | None = None,
         lip_sync_share: float | None = None) -> ModelFigures:
    return ModelFigures(kind, UnitCost(per_job, per_unit, False), memory_gb, source, steps, size,
                        lip_sync_share=lip_sync_share)


# Per model of the built-in profiles. Estimates (measured=False) until benchmarks/gpu.py or a
# GPU build's report (benchmarks/estimate.py --report) measures them; docs/benchmarks.md keeps
# the derivations. Keys are Hugging Face ids without a revision.
MODELS: dict[tuple[str, str], ModelFigures] = {
    ("black-forest-labs/FLUX.2-klein-4B", "gpu"): _gpu(
        "keyframe", 0.0, 0.6, 16.0, "BFL model card: sub-second per picture, from 13 GB of VRAM; ~1 s per "
        "1024² picture at 4 steps on an RTX 4090 (stable-diffusion.cpp#1214)", 4, (1024, 576)),
    ("Qwen/Qwen-Image", "gpu"): _gpu(
        "keyframe", 0.0, 40.0, 62.0, "FLOPs: a 20B MMDiT, ~3,600 tokens at 1280×720, true CFG (two passes), "
        "at ~40 % of an H100's bf16 peak; weights 41 GB + text encoder 16 GB", 50, (1280, 720)),
    ("Wan-AI/Wan2.2-TI2V-5B-Diffusers", "gpu"): _gpu(
        "clip", 5.0, 17.0, 26.0, "FLOPs: ~27,000 tokens for 121 frames at 1280×704 (VAE and "
        "patches 32×32×4), ~5.5e14 a pass, 2 passes a step (CFG) at ~40 % of an H100's bf16 "
        "peak: ~2.8 s a step; the Wan 2.2 README's 5 s clip in < 9 min on an RTX 4090 (50 steps) "
        "agrees within 1.5×; weights 21 GiB (5B + UMT5-XXL 5.7B + VAE, counted)", 30,
        (1280, 704)),
    ("Wan-AI/Wan2.2-I2V-A14B-Diffusers", "gpu"): _gpu(
        "clip", 10.0, 220.0, 76.0, "LightX2V benchmarks: Wan2.1-I2V-14B (same per-step cost as one "
        "Wan 2.2 A14B expert) at 480p, 81 frames, 40 steps with CFG, 366 s on an H200; 720p "
        "taken as 3× (2.25× the tokens, attention-bound); Wan 2.2 README: needs 80 GB", 40,
        (1280, 720)),
    ("Lightricks/LTX-2", "gpu"): _gpu(
        "clip", 10.0, 12.0, 78.0, "FLOPs: ~6,100 video tokens for 121 frames at 768×512 (VAE "
        "32×32×8), a 14B video stream (~2e14 a pass), 4 passes a step (CFG, STG, modality "
        "guidance) at ~40 % of an H100's bf16 peak: ~2 s a step; weights 38 GB (19B) + Gemma 3 "
        "12B 24 GB, ~70 GB with activations, + 7.7 GB for the distilled LoRA final's close-ups "
        "load; a lip-synced clip (LTX2DFRPipeline, unguided) makes 1 of those 4 passes",
        30, (768, 512), lip_sync_share=0.25),
    ("Tongyi-MAI/Z-Image-Turbo", "gpu"): _gpu(
        "keyframe", 0.0, 1.5, 24.0, "Z-Image model card: sub-second on an H800 at 1024², 8 "
        "function evaluations; taken as 1.5 s at 1280×720 with the text encoder; weights 6.15B "
        "transformer + Qwen3-4B (bf16)", 9, (1280, 720)),
    ("Lightricks/LTX-Video", "gpu"): _gpu(
        "clip", 3.0, 1.2, 24.0, "LTX-Video paper (arXiv 2501.00103): 5 s of 768×512 video in ~2 s "
        "on an H100; taken 3× slower for LTXConditionPipeline with CFG at 25 steps and the VAE "
        "decode; weights 2B transformer + T5-XXL (~13.5 GB bf16) and activations", 25, (704, 480)),
    ("ACE-Step/acestep-v15-xl-turbo-diffusers", "gpu"): _gpu(
        "music", 2.0, 0.05, 16.0, "ACE-Step v1 README: 4 minutes of music in ~20 s on an A100 at "
        "27 steps (3.5B, 0.08 s a second); the v1.5 XL turbo is 5B at 8 steps", 8),
    ("stabilityai/stable-audio-open-1.0", "gpu"): _gpu(
        "sfx", 2.0, 0.3, 8.0, "Stable Audio Open paper: 47 s of audio, 100 steps, in ~8 s on an H100 "
        "(a 1.1B DiT, T5-base encoder)", 100),
    ("facebook/mms-tts-eng", "gpu"): _gpu(
        "speech", 0.1, 0.01, 1.0, "VITS, 36M parameters: non-autoregressive, far faster than real time"),
    ("facebook/mms-tts-eng", "cpu"): ModelFigures(
        "speech", UnitCost(0.5, 0.26, True), 0.5,
        "benchmarks/speech.py, 2026-12-02: real-time factor 0.263 on the development CPU, one "
        "thread, a VITS at mms-tts-eng's sizes (36.3M parameters) with random weights (the "
        "compute of trained weights)", device="cpu"),
    ("vibevoice/VibeVoice-1.5B-hf", "gpu"): _gpu(
        "speech", 0.3, 0.3, 7.0, "step count: 7.5 frames a second of speech, each one LM step "
        "(1.5B) and 10 diffusion-head steps ×2 (guidance) plus codec decode and semantic encode; "
        "bf16 weights 5.4 GB and a 10 s voice context", 10),
    ("vibevoice/VibeVoice-7B-hf", "gpu"): _gpu(
        "speech", 0.3, 0.4, 21.0, "as the 1.5B with a 7B LM: ~0.4 s a second of speech on an "
        "H100 (the speech helper's estimate); bf16 weights 18.2 GB and context", 10),
    ("sesame/csm-1b", "gpu"): _gpu(
        "speech", 0.5, 1.0, 5.0, "step count: 12.5 backbone steps (1B) and 12.5 × 31 depth-decoder "
        "steps a second of speech, at ~2 ms a small step, eager PyTorch; bf16 weights ~3.5 GB "
        "plus a 10–20 s voice context"),
    ("microsoft/speecht5_vc", "gpu"): _gpu(
        "speech", 0.3, 0.2, 1.5, "SpeechT5's autoregressive decoder, ~31 steps a second of speech "
        "(16 kHz, hop 256, reduction 2) at ~5 ms each, plus HiFi-GAN and WavLM; float32 weights "
        "~1.1 GB (0.62 + 0.05 + 0.4 GB files)"),
}


def figures(model: str | None, device: str = "gpu", kind: str | None = None) -> ModelFigures | None:
    """The figures of ``model`` (a Hugging Face id, ``@revision`` ignored) on ``device``
    ("gpu" or "cpu"), or None when they are not known. With ``kind``, only figures that count
    that kind's unit of work (a keyframe model's figures do not price its LoRA training)."""
    if not model:
        return None
    known = MODELS.get((model.partition("@")[0], device))
    if known is None or (kind is not None and UNITS.get(kind) != UNITS[known.kind]):
        return None
    return known


def _device_class(plan) -> str:
    config = getattr(plan, "config", None)
    return "cpu" if config is not None and config.device == "cpu" else "gpu"


def _config(job, plan):
    config = getattr(plan, "config", None)
    return config.models.get(job.profile_kind) if config is not None else None


def unit_cost(backend: str, kind: str, model: str | None = None, device: str = "gpu") -> UnitCost:
    """The cost of a job: its model's figures where known, else its backend's for the kind,
    else the slowest figure known for the kind (never zero)."""
    known_model = figures(model, device, kind)
    if known_model is not None:
        return known_model.cost
    if (backend, kind) in COSTS:
        return COSTS[(backend, kind)]
    known = [cost for (name, k), cost in COSTS.items() if k == kind]
    return max(known, key=lambda c: (c.per_unit, c.per_job)) if known else _FALLBACK


def _job_cost(job, plan) -> tuple[UnitCost, float]:
    """(unit cost, scale of its per-unit part): a model's figures hold for their steps and
    size; another step count scales the cost linearly, a larger picture at least linearly."""
    device = _device_class(plan)
    cost = unit_cost(job.backend, job.profile_kind, job.model, device)
    known = figures(job.model, device, job.profile_kind)
    config = _config(job, plan)
    scale = 1.0
    if known is not None and config is not None:
        if known.steps and config.steps:
            scale *= config.steps / known.steps
        if known.size and config.resolution:
            scale *= (config.resolution[0] * config.resolution[1]) / (known.size[0] * known.size[1])
        if job.profile_kind == "footage" and job.backend in RESTYLING:
            # a restyle denoises the footage's latents through the last `strength` of the steps
            scale *= float(config.options.get("strength", DEFAULT_RESTYLE_STRENGTH))
        if known.lip_sync_share is not None and any(ref.kind == "speech" for ref in job.inputs):
            scale *= known.lip_sync_share          # a clip that hears its dialogue lip-syncs
            if config.options.get("lip_sync_lora"):
                # through the distilled LoRA: its own schedule, not the profile's steps
                scale *= LIP_SYNC_DISTILLED_STEPS / (config.steps or known.steps or 1)
    return cost, scale


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
    cost, scale = _job_cost(job, plan)
    return cost.per_job + cost.per_unit * scale * job_units(job, plan)


def render_seconds(jobs: Iterable, plan) -> float:
    """Estimated seconds to render ``jobs`` (jobs of ``plan``), one after another."""
    return sum(job_seconds(job, plan) for job in jobs)


def measured(jobs: Iterable, plan=None) -> bool:
    """Whether every figure behind an estimate of ``jobs`` was measured."""
    device = _device_class(plan)
    return all(unit_cost(job.backend, job.profile_kind, job.model, device).measured
               for job in jobs)


@dataclass(frozen=True, slots=True)
class KindEstimate:
    """One line of ``moviola plan``'s summary: a kind of job, what renders it and its cost."""

    kind: str                   # the profile entry (keyframe, clip, footage, speech…, mix…)
    backend: str
    model: str                  # "" for draft and edit backends
    jobs: int
    units: float                # the jobs' units of work (UNITS[kind])
    seconds: float
    measured: bool
    memory_gb: float | None     # the model's peak memory, when known
    source: str                 # where the time figure comes from


def figures_markdown() -> str:
    """docs/benchmarks.md's table of :data:`MODELS` (generated: ``python -m moviola.compiler.catalog``)."""
    out = ["| model | on | per job | per unit | at | memory | measured | source |",
           "|---|---|---|---|---|---|---|---|"]
    for (model, device), known in MODELS.items():
        where = REFERENCE_GPU.split(",")[0] if device == "gpu" else "one CPU core"
        at = ", ".join(part for part in (f"{known.steps} steps" if known.steps else "",
                                         f"{known.size[0]}×{known.size[1]}" if known.size else "")
                       if part) or "-"
        out.append(f"| `{model}` | {where} | {known.cost.per_job:g} s | {known.cost.per_unit:g} s "
                   f"a {UNITS[known.kind]} | {at} | {known.memory_gb:g} GB "
                   f"| {'yes' if known.cost.measured else 'no (est.)'} | {known.source} |")
    return "\n".join(out) + "\n"


DRAFT_SOURCE = "measured: benchmarks/estimate.py, draft build, 2-core development machine"


def by_kind(plan) -> list[KindEstimate]:
    """The plan's jobs summed per (kind, backend, model), in plan order."""
    device = _device_class(plan)
    lines: dict[tuple[str, str, str], list] = {}
    for job in plan.jobs:
        model = "" if job.backend.startswith(("draft.", "edit.")) else job.model
        line = lines.setdefault((job.profile_kind, job.backend, model), [0, 0.0, 0.0])
        line[0] += 1
        line[1] += job_units(job, plan)
        line[2] += job_seconds(job, plan)
    out = []
    for (kind, backend, model), (jobs, units, seconds) in lines.items():
        known = figures(model, device, kind)
        cost = unit_cost(backend, kind, model, device)
        if known is not None:
            source = known.source
        elif cost.measured:
            source = DRAFT_SOURCE
        else:
            source = "a per-backend guess (no figures for this model yet)"
        out.append(KindEstimate(kind, backend, model, jobs, units, seconds, cost.measured,
                                known.memory_gb if known is not None else None, source))
    return out


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
