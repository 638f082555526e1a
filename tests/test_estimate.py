"""compiler/estimate.py: every backend has a unit cost, and every job of the samples gets one."""

from __future__ import annotations

from pathlib import Path

import pytest

from moviola.compiler import estimate
from moviola.compiler.api import compile_file
from moviola.compiler.plan import DRAFT, plan
from moviola.compiler.profiles import (BACKENDS, LIP_SYNC_DISTILLED_STEPS, builtin_profiles,
                                       parse_profiles)

SAMPLES = sorted((Path(__file__).parents[1] / "samples").glob("*.fountain"))


def test_every_backend_and_kind_has_a_unit_cost():
    pairs = {(backend, kind) for backend, kinds in BACKENDS.items() for kind in kinds}
    pairs |= {(backend.name, kind) for kind, backend in DRAFT.items()}
    missing = sorted(pairs - set(estimate.COSTS))
    assert not missing
    # draft figures are measured; model figures say they are estimates
    for (backend, kind), cost in estimate.COSTS.items():
        if not backend.startswith(("draft.", "edit.")):
            assert not cost.measured, backend


@pytest.mark.parametrize("profile", list(builtin_profiles()))
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_every_job_is_priced_from_its_units(sample, profile):
    render_plan = plan(compile_file(sample).film, profile)
    device = "cpu" if render_plan.config.device == "cpu" else "gpu"
    for job in render_plan.jobs:
        cost = estimate.unit_cost(job.backend, job.profile_kind, job.model, device)
        units = estimate.job_units(job, render_plan)
        assert units >= 0
        # a model's figures hold for its steps; the profile's own count scales them
        known = estimate.figures(job.model, device, job.profile_kind)
        config = render_plan.config.models.get(job.profile_kind)
        steps = config.steps if config else None
        scale = steps / known.steps if known and known.steps and steps else 1.0
        if known and known.lip_sync_share and any(r.kind == "speech" for r in job.inputs):
            # a lip-synced close-up: one pass a step, on the distilled schedule where it has one
            scale *= known.lip_sync_share
            if config.options.get("lip_sync_lora"):
                scale *= LIP_SYNC_DISTILLED_STEPS / steps
        assert estimate.job_seconds(job, render_plan) == pytest.approx(
            cost.per_job + cost.per_unit * scale * units)
    clips = [j for j in render_plan.jobs if j.kind == "clip"]
    # a clip's units are its shot's seconds: the whole film's clips add up to the film
    assert sum(estimate.job_units(j, render_plan) for j in clips) == pytest.approx(
        render_plan.estimated_seconds)
    total = estimate.render_seconds(render_plan.jobs, render_plan)
    assert total == pytest.approx(sum(estimate.job_seconds(j, render_plan) for j in render_plan.jobs))
    # draft's unit costs are fitted by benchmarks/estimate.py, laptop's voice by
    # benchmarks/speech.py; the GPU profiles' figures are estimates until a GPU run
    assert estimate.measured(render_plan.jobs, render_plan) == (profile in ("draft", "laptop"))
    lines = estimate.by_kind(render_plan)
    assert sum(line.jobs for line in lines) == len(render_plan.jobs)
    assert sum(line.seconds for line in lines) == pytest.approx(total)


@pytest.mark.parametrize("name", [n for n in builtin_profiles() if n != "draft"])
def test_every_model_of_a_builtin_profile_has_sourced_figures(name):
    """`moviola plan --profile final` can say, per kind, the model's memory and where its time
    comes from: no built-in model falls back to a per-backend guess."""
    profile = builtin_profiles()[name]
    device = "cpu" if profile.device == "cpu" else "gpu"
    card = {"preview": 48, "final": 80}.get(name)
    for kind, config in profile.models.items():
        if config.backend.startswith("draft.") or config.model.startswith("models/"):
            continue
        known = estimate.figures(config.model, device)
        assert known is not None, (kind, config.model)
        # only this machine's CPU has measured a model yet (benchmarks/speech.py)
        assert known.source and (not known.cost.measured or device == "cpu")
        if card:
            assert known.memory_gb <= card, (kind, config.model)   # each fits the card alone


def test_more_steps_and_larger_pictures_cost_more(tmp_path):
    film = compile_file(SAMPLES[0]).film
    base = plan(film, "preview")
    config = base.config.models["clip"]
    width, height = config.resolution                # twice the steps, four times the pixels
    slower = plan(film, parse_profiles(f'[profiles.preview.clip]\nsteps = {config.steps * 2}\n'
                                       f'resolution = "{width * 2}x{height * 2}"\n')["preview"])
    clip = next(j for j in base.jobs if j.kind == "clip" and j.backend != "draft.motion")
    same = slower.job(clip.ref)
    cost = estimate.unit_cost(clip.backend, "clip", clip.model)
    units = estimate.job_units(clip, base)
    assert estimate.job_seconds(same, slower) == pytest.approx(
        cost.per_job + cost.per_unit * units * 2 * 4)


def test_a_model_without_figures_falls_back_to_its_backend():
    film = compile_file(SAMPLES[0]).film
    render_plan = plan(film, parse_profiles('[profiles.preview.keyframe]\n'
                                            'model = "some-org/unknown"\n')["preview"])
    keyframe = next(j for j in render_plan.jobs if j.kind == "keyframe"
                    and j.backend == "diffusers.text_to_image")
    assert estimate.job_seconds(keyframe, render_plan) == pytest.approx(
        estimate.COSTS[("diffusers.text_to_image", "keyframe")].per_unit)
    line = next(line for line in estimate.by_kind(render_plan) if line.kind == "keyframe"
                and line.model == "some-org/unknown")
    assert line.memory_gb is None and "guess" in line.source


def test_the_laptop_profile_renders_the_sample_in_minutes():
    film = compile_file(Path(__file__).parents[1] / "samples" / "the-wash-house.fountain").film
    render_plan = plan(film, "laptop")
    assert estimate.render_seconds(render_plan.jobs, render_plan) < 15 * 60


def test_longer_speech_costs_more():
    short = compile_file(SAMPLES[0]).film
    render_plan = plan(short, "final")
    speeches = sorted((j for j in render_plan.jobs if j.kind == "speech"),
                      key=lambda j: len(j.params.text.split()))
    assert estimate.job_seconds(speeches[0], render_plan) < estimate.job_seconds(speeches[-1], render_plan)


def test_docs_benchmarks_lists_every_model_figure():
    from moviola.compiler import catalog

    text = (Path(__file__).parents[1] / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert catalog.update(text, catalog.GENERATED["benchmarks.md"]) == text, \
        "run: python -m moviola.compiler.catalog"
    for model, device in estimate.MODELS:
        assert f"| `{model}` |" in text


def test_a_models_figures_price_only_its_own_kind_of_work():
    """A `train:` job trains the keyframe model: the keyframe figures do not price its steps."""
    keyframe_model = builtin_profiles()["preview"].models["keyframe"].model
    assert estimate.figures(keyframe_model, "gpu", "keyframe") is not None
    assert estimate.figures(keyframe_model, "gpu", "train") is None
    assert estimate.unit_cost("training.lora", "train", keyframe_model) == \
        estimate.COSTS[("training.lora", "train")]
    # speech figures price a recorded line too (the same unit: a second of speech)
    voice = builtin_profiles()["preview"].models["performance"].model
    assert estimate.figures(voice, "gpu", "performance") is not None


def test_a_lip_synced_clip_is_priced_for_its_unguided_pass():
    from dataclasses import replace

    from moviola.compiler.api import compile_text
    from moviola.compiler.profiles import Options

    text = "EXT. RIVER - DAY\n\n[[shot: close-up]]\nMARIE looks up.\n\nMARIE\nHere it comes.\n"

    final = builtin_profiles()["final"]
    clip = final.models["clip"]
    plain_options = {k: v for k, v in clip.options.items() if not k.startswith("lip_sync")}
    without = replace(final, models={**final.models, "clip": replace(
        clip, options=Options(plain_options))})
    synced = replace(final, models={**final.models, "clip": replace(
        clip, guidance=1.0, options=Options({**plain_options, "lip_sync": True}))})
    film = compile_text(text, "film.fountain").film
    guided, unguided, distilled = plan(film, without), plan(film, synced), plan(film, final)

    def clip_seconds(render_plan):
        return sum(estimate.job_seconds(job, render_plan) for job in render_plan.jobs
                   if job.kind == "clip")

    known = estimate.figures(clip.model, "gpu", "clip")
    assert clip_seconds(unguided) < clip_seconds(guided)
    assert clip_seconds(unguided) == pytest.approx(
        known.cost.per_job + (clip_seconds(guided) - known.cost.per_job) * known.lip_sync_share)
    # final's lip-synced close-up: that pass, on the distilled LoRA's schedule
    assert clip_seconds(distilled) == pytest.approx(
        known.cost.per_job + (clip_seconds(guided) - known.cost.per_job) * known.lip_sync_share
        * LIP_SYNC_DISTILLED_STEPS / clip.steps)


def test_restyled_footage_is_priced_for_the_share_of_the_schedule_it_runs(tmp_path):
    from dataclasses import replace

    from moviola.compiler.api import compile_text
    from moviola.compiler.profiles import Options

    (tmp_path / "walk.mp4").write_bytes(b"")
    text = "EXT. RIVER - DAY\n\n[[shot: wide, 4s; from: walk.mp4]]\nShe walks.\n"
    film = compile_text(text, str(tmp_path / "film.fountain"), tmp_path).film
    final = builtin_profiles()["final"]
    footage = final.models["footage"]

    def footage_seconds(strength: float) -> float:
        profile = replace(final, models={**final.models, "footage": replace(
            footage, options=Options({**footage.options, "strength": strength}))})
        render_plan = plan(film, profile)
        (job,) = [job for job in render_plan.jobs if job.profile_kind == "footage"]
        return estimate.job_seconds(job, render_plan) - estimate.unit_cost(
            job.backend, "footage", job.model).per_job

    # the footage's latents are denoised through the last `strength` of the steps
    assert footage_seconds(0.3) == pytest.approx(footage_seconds(0.6) / 2)
    full = estimate.figures(footage.model, "gpu", "footage")
    assert footage_seconds(0.6) == pytest.approx(full.cost.per_unit * 4.0 * 0.6, rel=0.05)
