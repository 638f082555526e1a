"""moviola diff on a scripted git history: the tests make a repository, commit the sample
project, edit the script and compare revisions (and the working tree)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from moviola import cli
from moviola.compiler import estimate
from moviola.documents import diff

ROOT = Path(__file__).parents[1]
SCRIPT = "film/the-wash-house.fountain"
FILM_JOBS = {"mix:film", "subtitles:film", "mux:film", "otio:film", "contact_sheet:film"}

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
                           *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path):
    """A repository holding the sample project in film/, committed once (tag v1)."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "samples", repo / "film",
                    ignore=shutil.ignore_patterns(".moviola", "out"))
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "the sample")
    git(repo, "tag", "v1")
    return repo


def edit(repo: Path, old: str, new: str, commit: str | None = None) -> None:
    script = repo / SCRIPT
    text = script.read_text("utf-8")
    assert old in text
    script.write_text(text.replace(old, new, 1), "utf-8")
    if commit:
        git(repo, "commit", "-q", "-am", commit)


LINE = "On Mondays the whole village came down to the river."
NEW_SCENE = """
INT. BOATHOUSE - NIGHT

Oars hang on the wall. A lantern swings.

MARIE
Not here. Never here.
"""


def test_one_changed_line_changes_that_shot_only(repo):
    edit(repo, LINE, "On Mondays the village came down to the river, all of it.", commit="shorter")
    result = diff.diff(repo / SCRIPT, "v1", "HEAD")
    changed = [s for s in result.shots if s.status != "unchanged"]
    assert [s.id for s in changed] == ["ext-river-path-dawn~1/3"]
    assert changed[0].lines == [{"character": "MARIE", "old": LINE,
                                 "new": "On Mondays the village came down to the river, all of it."}]
    rendered = {c.job.id for c in result.render}
    speech = "speech:ext-river-path-dawn~1/3/1"
    # the speech, and the film-level jobs that read it; nothing of any other shot
    assert speech in rendered
    assert rendered - {speech} <= FILM_JOBS
    assert {"mix:film", "subtitles:film", "mux:film"} <= rendered
    assert changed[0].jobs == [speech]
    # the shot's clip is timed by that speech: it follows once the new length is known
    assert "clip:ext-river-path-dawn~1/3" in result.after_speech


def test_a_new_scene_renders_only_its_jobs_and_the_film(repo):
    script = repo / SCRIPT
    script.write_text(script.read_text("utf-8") + NEW_SCENE, "utf-8")
    result = diff.diff(script, "HEAD", None)        # against the working tree
    added = [s for s in result.shots if s.status == "added"]
    assert added and all(s.id.startswith("int-boathouse-night~1/") for s in added)
    assert all(s.status in ("added", "unchanged") for s in result.shots)
    new_cuts = {s.id for s in added}
    for change in result.render:
        cut = estimate.cut_of(change.job, result.new.plan)
        if cut is None:
            assert change.job.id in FILM_JOBS
        else:
            assert cut.id in new_cuts, change.job.id
            assert change.reason == "new"
    kinds = {c.job.kind for c in result.render if estimate.cut_of(c.job, result.new.plan)}
    assert {"keyframe", "clip", "speech"} <= kinds
    assert {"mix:film", "mux:film"} <= {c.job.id for c in result.render}


def test_an_inserted_scene_leaves_every_other_shot_matched(repo):
    edit(repo, "\nEXT. WASH-HOUSE - MORNING\n", NEW_SCENE + "\nEXT. WASH-HOUSE - MORNING\n",
         commit="a scene in the middle")
    result = diff.diff(repo / SCRIPT, "v1", "HEAD")
    statuses = {s.status for s in result.shots if not s.id.startswith("int-boathouse-night")}
    assert statuses == {"unchanged"}
    assert len(result.new.plan.cuts) == len(result.old.plan.cuts) + sum(
        1 for s in result.shots if s.status == "added")
    # later shots are renumbered; what re-renders for them is only the number drawn on the frame
    for change in result.render:
        cut = estimate.cut_of(change.job, result.new.plan)
        if cut is not None and not cut.id.startswith("int-boathouse-night"):
            assert change.reason in ("changed label", "an input re-renders"), change


def test_the_estimate_is_the_sum_over_the_re_rendered_jobs(repo):
    edit(repo, LINE, "On Mondays, everyone.", commit="one line")
    script = repo / SCRIPT
    script.write_text(script.read_text("utf-8") + NEW_SCENE, "utf-8")
    result = diff.diff(script, "v1", None, profile="final")
    jobs = [c.job for c in result.render]
    plan = result.new.plan
    assert result.render_seconds == pytest.approx(sum(estimate.job_seconds(j, plan) for j in jobs))
    assert result.render_seconds == pytest.approx(estimate.render_seconds(jobs, plan))
    assert result.render_seconds > 0
    # final renders on models whose unit costs are estimates, and says so
    assert not result.measured
    draft = diff.diff(script, "v1", None, profile="draft")
    assert draft.measured and draft.render_seconds < result.render_seconds


def test_a_changed_project_file_re_renders_the_jobs_that_read_it(repo):
    voice = repo / "film" / "voices" / "marie.wav"
    voice.write_bytes(voice.read_bytes() + b"\0\0")
    git(repo, "commit", "-q", "-am", "new recording")
    result = diff.diff(repo / SCRIPT, "v1", "HEAD")
    reasons = {c.job.id: c.reason for c in result.render if c.job.kind == "speech"}
    assert reasons and set(reasons.values()) == {"voices/marie.wav changed"}
    assert all(s.status == "unchanged" for s in result.shots)


def test_moviola_toml_is_read_at_each_revision(repo):
    toml = repo / "film" / "moviola.toml"
    toml.write_text(toml.read_text("utf-8") + '\n[profiles.quick]\nbase = "draft"\n', "utf-8")
    git(repo, "commit", "-q", "-am", "a profile")
    with pytest.raises(diff.DiffError, match="unknown profile 'quick' at v1"):
        diff.diff(repo / SCRIPT, "v1", "HEAD", profile="quick")
    edit(repo, LINE, "Mondays.", commit="line")
    result = diff.diff(repo / SCRIPT, "HEAD~1", "HEAD", profile="quick")
    assert result.profile == "quick" and result.render


def test_cli_json_and_rich(repo, capsys):
    edit(repo, LINE, "Every Monday.")
    assert cli.main(["diff", "v1", str(repo / SCRIPT), "--format", "json"]) == cli.EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["old"]["revision"] == "v1" and data["new"]["revision"] == "working tree"
    assert [s["id"] for s in data["shots"]] == ["ext-river-path-dawn~1/3"]
    assert data["render_seconds"] == pytest.approx(sum(j["seconds"] for j in data["render"]), abs=0.01)
    assert cli.main(["diff", "v1", str(repo / SCRIPT)]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "Every Monday." in out and "render again" in out


def test_cli_errors_are_clear(repo, capsys, tmp_path):
    assert cli.main(["diff", "nope", str(repo / SCRIPT)]) == cli.EXIT_USAGE
    assert "unknown revision 'nope'" in capsys.readouterr().err
    outside = tmp_path / "loose.fountain"
    outside.write_text("INT. X - DAY\n\nHi.\n", "utf-8")
    assert cli.main(["diff", "HEAD", str(outside)]) == cli.EXIT_USAGE
    assert "not in a git repository" in capsys.readouterr().err
    (repo / "film" / "new.fountain").write_text("INT. X - DAY\n\nHi.\n", "utf-8")
    assert cli.main(["diff", "v1", str(repo / "film" / "new.fountain")]) == cli.EXIT_USAGE
    assert "does not exist at v1" in capsys.readouterr().err
    edit(repo, "[[shot: extreme wide, static, 6s]]", "[[shot: extreme wide, sttic, 6s]]")
    assert cli.main(["diff", "v1", str(repo / SCRIPT)]) == cli.EXIT_USAGE
    assert "error(s)" in capsys.readouterr().err
    assert cli.main(["diff", str(repo / SCRIPT)]) == cli.EXIT_USAGE


def test_git_diff_with_moviola_as_textconv_shows_the_film_change(repo):
    (repo / ".gitattributes").write_text("*.fountain diff=moviola\n", "utf-8")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "diff driver")
    git(repo, "config", "diff.moviola.textconv", f'"{sys.executable}" -m moviola diff --textconv')
    edit(repo, LINE, "On Mondays the river was ours.")
    out = git(repo, "diff", "--", SCRIPT)
    removed = [l for l in out.splitlines() if l.startswith("-") and not l.startswith("---")]
    added = [l for l in out.splitlines() if l.startswith("+") and not l.startswith("+++")]
    assert f"-    MARIE: {LINE}" in removed
    assert "+    MARIE: On Mondays the river was ours." in added
    # the speech job's key changed, the shot's picture did not; the film's own jobs follow
    assert any(re.match(r"-    jobs: speech \w+, keyframe", l) for l in removed)
    assert any(l.startswith("-film: mix") for l in removed)
    assert not any("prompt:" in l for l in removed + added)
    # textconv output is stable: the same text twice, and no line numbers in it
    text = (repo / SCRIPT).read_text("utf-8")
    first = diff.shot_list(text, SCRIPT)
    assert first == diff.shot_list(text, SCRIPT)
    assert "line " not in first


def test_git_diff_with_moviola_as_external_diff_shows_the_cost(repo):
    (repo / ".gitattributes").write_text("*.fountain diff=moviola\n", "utf-8")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "diff driver")
    git(repo, "config", "diff.moviola.command", f'"{sys.executable}" -m moviola diff --git-external')
    edit(repo, LINE, "On Mondays the river was ours.", commit="a line")
    out = git(repo, "diff", "HEAD~1", "HEAD", "--", SCRIPT)
    assert out.startswith(f"moviola diff {SCRIPT}")
    assert f"- {LINE}" in out and "+ On Mondays the river was ours." in out
    expected = diff.diff(repo / SCRIPT, "HEAD~1", "HEAD")
    assert f"{len(expected.render)} of {len(expected.new.plan.jobs)} jobs render again: " \
           f"~{expected.render_seconds:.1f}s under draft" in out
    # a side that does not compile is reported, and git goes on
    edit(repo, "[[shot: extreme wide, static, 6s]]", "[[shot: extreme wide, sttic, 6s]]")
    out = git(repo, "diff", "--", SCRIPT)
    assert "error(s)" in out


def test_a_shot_inserted_in_a_scene_leaves_the_later_shots_matched(repo):
    edit(repo, "[[shot: full, slow track right, 7s]]",
         "[[shot: close-up, 3s]]\nA heron lifts off the water.\n\n[[shot: full, slow track right, 7s]]",
         commit="a heron")
    result = diff.diff(repo / SCRIPT, "v1", "HEAD")
    moved = [s for s in result.shots if s.old is not None and s.old.id != s.id]
    added = [s for s in result.shots if s.status == "added"]
    assert [s.new.description for s in added] == ["A heron lifts off the water."]
    # the scene's later shots moved up one ordinal: matched to themselves, not re-prompted or
    # retimed; their seed derives from their identity, so it is new (a new picture)
    assert moved and {s.status for s in result.shots} - {"added", "unchanged"} == {"changed"}
    for shot in moved:
        number = int(shot.old.id.rsplit("/", 1)[1])
        assert shot.id.rsplit("/", 1)[1] == str(number + 1)
        assert shot.changes == [f"renumbered from {number} to {number + 1}", "new seed"]
        assert shot.old.description == shot.new.description
    assert all(s.status == "unchanged" for s in result.shots
               if s.old is not None and s.old.id == s.id)
    shots = result.to_json()["shots"]
    assert any(s.get("old_id") for s in shots)
