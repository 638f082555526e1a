"""`moviola plan --why`: what changed since the last build, on real edits to the sample."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from moviola.cli import main

SAMPLES = Path(__file__).parents[1] / "samples"
SCRIPT = "the-wash-house.fountain"
LINE = "On Mondays the whole village came down to the river."


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sample, built once under draft; each test works on a fresh copy of the project."""
    work = tmp_path_factory.mktemp("why")
    project = work / "samples"
    shutil.copytree(SAMPLES, project, ignore=shutil.ignore_patterns(".moviola", "out"))
    assert main(["build", str(project / SCRIPT), "-o", str(work / "film.mp4"), "--quiet"]) == 0
    return project


@pytest.fixture
def project(built, tmp_path):
    copy = tmp_path / "samples"
    shutil.copytree(built, copy, symlinks=True)
    # the refs of the last build are recorded per script path: move the record with the copy
    from moviola.runtime.why import refs_file

    old = refs_file(copy / ".moviola" / "cache", str(built / SCRIPT))
    data = json.loads(old.read_text())
    old.unlink()
    new = refs_file(copy / ".moviola" / "cache", str(copy / SCRIPT))
    new.write_text(json.dumps({**data, "script": str(copy / SCRIPT)}))
    return copy


def why(project: Path, capsys) -> dict[str, dict]:
    assert main(["plan", str(project / SCRIPT), "--why", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    return {job["id"]: job for job in data["jobs"] if job["state"] != "cached"}


def test_nothing_changed_nothing_to_explain(project, capsys):
    assert why(project, capsys) == {}
    assert main(["plan", str(project / SCRIPT), "--why"]) == 0
    assert "nothing to render" in capsys.readouterr().out


def test_an_edited_line_names_its_text_and_what_follows_from_it(project, capsys):
    script = project / SCRIPT
    script.write_text(script.read_text().replace(LINE, "On Mondays the whole town came down.", 1))
    jobs = why(project, capsys)
    speech = [job for job in jobs.values() if job["kind"] == "speech"]
    assert len(speech) == 1
    (reason,) = speech[0]["why"]
    assert reason.startswith(f"parameter text changed (line {speech[0]['line']})")
    assert "whole village" in reason and "whole town" in reason
    mix = jobs["mix:film"]["why"]
    assert f"input {speech[0]['label']} changed" in mix
    assert any(r.startswith("its timing waits for") for r in mix)
    others = [job for job in jobs.values() if job["kind"] == "clip"
              and speech[0]["id"] not in job["timing"]]
    assert others and all(job["why"] == ["nothing of its own changed: it renders again only if "
                                         "the new speech lengths move its timing"] for job in others)
    # jobs the line does not reach stay cached: no keyframe is explained
    assert not any(job["kind"] == "keyframe" for job in jobs.values())


def test_a_replaced_recording_is_named_by_its_bytes(project, capsys):
    voice = project / "voices" / "marie.wav"
    voice.write_bytes(voice.read_bytes() + b"\0\0")
    jobs = why(project, capsys)
    reasons = {r for job in jobs.values() if job["kind"] == "speech" for r in job["why"]}
    assert "voices/marie.wav changed (its bytes)" in reasons
    assert all(job["why"] for job in jobs.values())


def test_an_edited_action_names_the_picture_parameters(project, capsys):
    script = project / SCRIPT
    action = "Marie stops. Listens to the water."
    script.write_text(script.read_text().replace(action, "Marie stops. Listens to the rain.", 1))
    jobs = why(project, capsys)
    keyframe = next(job for job in jobs.values() if job["kind"] == "keyframe")
    assert any(r.startswith("parameter caption changed") and "rain" in r for r in keyframe["why"])
    # a long text is shown where it differs; a list parameter by its changed element
    prompt = next(r for r in keyframe["why"] if r.startswith("parameter prompt changed"))
    assert "water" in prompt and "rain" in prompt and "…" in prompt
    assert any(r.startswith("parameter shots[") and ".prompt changed" in r
               for r in jobs["otio:film"]["why"])
    clip = next(job for job in jobs.values() if job["kind"] == "clip")
    assert clip["why"] == [f"input {keyframe['label']} changed"]


def test_a_new_line_is_new(project, capsys):
    script = project / SCRIPT
    script.write_text(script.read_text().replace(LINE, LINE + "\n\nJULIE (O.S.)\nMamie?", 1))
    jobs = why(project, capsys)
    new = [job for job in jobs.values() if job["why"] == ["new: the last build had no such job"]]
    assert [job["kind"] for job in new] == ["speech"]
    assert jobs["mix:film"]["why"][0].startswith("new input: line ")


def test_without_an_earlier_build_it_says_so(tmp_path, capsys):
    shutil.copytree(SAMPLES, tmp_path / "fresh", ignore=shutil.ignore_patterns(".moviola", "out"))
    jobs = why(tmp_path / "fresh", capsys)
    assert jobs and all(job["why"] == ["never built: no earlier build of this script is recorded"]
                        for job in jobs.values())
