"""The build driver (runtime/build.py) as a user meets it through the CLI: where the film goes,
what it refuses to overwrite, one profile resolution that fails loudly, leftovers of killed
builds; and the typed events both front ends read."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from projects import annotated_project

from moviola.cli import main
from moviola.compiler.api import compile_file
from moviola.compiler.plan import plan, plan_in_project
from moviola.compiler.profiles import ProfileError


@pytest.fixture
def project(tmp_path):
    return annotated_project(tmp_path / "film")


def run(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# -- outputs never destroy inputs ----------------------------------------------------------------


def test_output_over_the_script_is_refused_and_the_script_kept(project, capsys):
    script = project / "film.fountain"
    before = script.read_bytes()
    code, out = run(["build", str(script), "-o", str(script), "--quiet"], capsys)
    assert code == 2
    assert "would replace the script" in out and "Traceback" not in out
    assert script.read_bytes() == before
    assert not (project / ".moviola").exists()          # refused before any work


def test_output_over_a_file_the_plan_reads_is_refused(project, capsys):
    take = project / "assets" / "take.wav"
    before = take.read_bytes()
    code, out = run(["build", str(project / "film.fountain"), "-o", str(take)], capsys)
    assert code == 2 and "would replace assets/take.wav, which line" in out
    assert take.read_bytes() == before


def test_a_non_video_name_is_a_clear_error(project, capsys):
    code, out = run(["build", str(project / "film.fountain"), "-o", str(project / "out.txt")], capsys)
    assert code == 2
    assert "MP4" in out and "out.mp4" in out and "Traceback" not in out
    assert not (project / "out.txt").exists()


def test_a_folder_as_output_gets_the_film_named_after_the_script(project, capsys, monkeypatch):
    monkeypatch.chdir(project)
    code, out = run(["build", "film.fountain", "-o", ".", "--quiet"], capsys)
    assert code == 0, out
    assert (project / "film.mp4").is_file() and (project / "film.srt").is_file()
    assert (project / "film.fountain").read_text().startswith("Title:")
    code, out = run(["build", "film.fountain", "-o", "renders/", "--quiet"], capsys)
    assert code == 0, out
    assert (project / "renders" / "film.mp4").is_file()


# -- leftovers of killed builds -------------------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_are_reported_then_removed_by_the_next_build(project, tmp_path, capsys):
    from moviola.runtime import cache as cache_module

    scratch = project / ".moviola" / "cache" / "tmp"
    scratch.mkdir(parents=True)
    killed = scratch / f"{'a' * 12}-{cache_module._HOST}-{_dead_pid()}-x1"
    killed.mkdir()
    (killed / "mix.wav").write_bytes(b"\0" * 4096)
    code, out = run(["cache", str(project / "film.fountain")], capsys)
    assert code == 0 and "1 half-written entries left by killed builds" in out
    report = tmp_path / "report.json"
    code, out = run(["build", str(project / "film.fountain"), "-o", str(tmp_path / "a.mp4"),
                     "--report", str(report)], capsys)
    assert code == 0, out
    assert not killed.exists()
    assert json.loads(report.read_text())["stale_temporaries"] == {"removed": 1, "bytes": 4096}
    assert "removed 1 half-written cache entry" in out


def test_cache_prune_reports_stale_temporaries(project, capsys):
    from moviola.runtime import cache as cache_module

    scratch = project / ".moviola" / "cache" / "tmp"
    scratch.mkdir(parents=True)
    killed = scratch / f"{'b' * 12}-{cache_module._HOST}-{_dead_pid()}-x2"
    killed.mkdir()
    (killed / "clip.mp4").write_bytes(b"\0" * 2_000_000)
    code, out = run(["cache", str(project / "film.fountain"), "--prune"], capsys)
    assert code == 0
    assert "removed 1 half-written entries left by killed builds (2.0 MB freed)" in out
    assert not killed.exists()


# -- one profile resolution, loud -----------------------------------------------------------------


def test_an_unknown_profile_is_an_error_not_draft(project, capsys):
    for command in ("plan", "build"):
        code, out = run([command, str(project / "film.fountain"), "--profile", "drfat"], capsys)
        assert code == 2
        assert "unknown profile 'drfat'" in out and "did you mean 'draft'" in out
    film = compile_file(project / "film.fountain").film
    with pytest.raises(ProfileError, match="unknown profile 'nope'"):
        plan(film, "nope")


def test_a_broken_moviola_toml_fails_everywhere(project, capsys):
    (project / "moviola.toml").write_text("[profiles.draft\nbroken = \n")
    code, out = run(["plan", str(project / "film.fountain")], capsys)
    assert code == 2 and "moviola.toml:1" in out and "not valid TOML" in out
    film = compile_file(project / "film.fountain").film
    from moviola.lsp import builds

    with pytest.raises(ProfileError, match="not valid TOML"):
        builds.make_plan(film, project)
    with pytest.raises(ProfileError):
        plan_in_project(film, project, "draft")


def test_a_project_profile_resolves_the_same_for_cli_and_editor(project):
    (project / "moviola.toml").write_text('[profiles.mine]\n[profiles.mine.speech]\nbackend = "draft.espeak"\n')
    film = compile_file(project / "film.fountain").film
    from moviola.lsp import builds

    ours = plan_in_project(film, project, "mine")
    assert ours.profile == "mine"
    assert [j.key for j in builds.make_plan(film, project).jobs] == \
        [j.key for j in plan_in_project(film, project).jobs]


# -- typed events ---------------------------------------------------------------------------------


def test_the_driver_emits_typed_events_in_order(project, tmp_path):
    from moviola.runtime.build import Build, output_path
    from moviola.runtime.events import BuildFinished, BuildStarted, JobFinished, JobStarted

    film = compile_file(project / "film.fountain").film
    render_plan = plan_in_project(film, project)
    events = []
    build = Build(render_plan, project, events.append)
    report = build.run(output_path(project / "film.fountain", tmp_path, render_plan), workers=1)
    assert isinstance(events[0], BuildStarted) and events[0].total == len(render_plan.jobs)
    assert isinstance(events[-1], BuildFinished) and events[-1].report is report
    finished = [e for e in events if isinstance(e, JobFinished)]
    started = [e for e in events if isinstance(e, JobStarted)]
    assert {e.job.ref for e in finished} == {j.ref for j in render_plan.jobs}
    assert len(started) == len(finished) and not any(e.cached for e in finished)
    assert (tmp_path / "film.mp4").is_file()
    again = []
    Build(render_plan, project, again.append).run(tmp_path / "film.mp4")
    assert all(e.cached for e in again if isinstance(e, JobFinished))
    assert not any(isinstance(e, JobStarted) for e in again)
