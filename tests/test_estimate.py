"""compiler/estimate.py: every backend has a unit cost, and every job of the samples gets one."""

from __future__ import annotations

from pathlib import Path

import pytest

from moviola.compiler import estimate
from moviola.compiler.api import compile_file
from moviola.compiler.plan import DRAFT, plan
from moviola.compiler.profiles import BACKENDS

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


@pytest.mark.parametrize("profile", ["draft", "preview", "final"])
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_every_job_is_priced_from_its_units(sample, profile):
    render_plan = plan(compile_file(sample).film, profile)
    for job in render_plan.jobs:
        cost = estimate.unit_cost(job.backend, job.profile_kind)
        units = estimate.job_units(job, render_plan)
        assert units >= 0
        assert estimate.job_seconds(job, render_plan) == pytest.approx(cost.per_job + cost.per_unit * units)
    clips = [j for j in render_plan.jobs if j.kind == "clip"]
    # a clip's units are its shot's seconds: the whole film's clips add up to the film
    assert sum(estimate.job_units(j, render_plan) for j in clips) == pytest.approx(
        render_plan.estimated_seconds)
    total = estimate.render_seconds(render_plan.jobs, render_plan)
    assert total == pytest.approx(sum(estimate.job_seconds(j, render_plan) for j in render_plan.jobs))
    assert estimate.measured(render_plan.jobs) == (profile == "draft")


def test_longer_speech_costs_more():
    short = compile_file(SAMPLES[0]).film
    render_plan = plan(short, "final")
    speeches = sorted((j for j in render_plan.jobs if j.kind == "speech"),
                      key=lambda j: len(j.params.text.split()))
    assert estimate.job_seconds(speeches[0], render_plan) < estimate.job_seconds(speeches[-1], render_plan)
