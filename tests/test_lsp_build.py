"""Building from the editor: `workspace/executeCommand` moviola.build / buildScene / buildShot
with work-done progress, cancellation, and the code lenses that show what is rendered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types as t

from test_lsp import Client, doc

TWO_SHOTS = """\
Title: Two Shots

INT. KITCHEN - DAY

[[shot: wide, 2s]]
Marie sits at the table.

[[shot: close-up, 2s]]
Her hands on the oilcloth.
"""
L_SHOT1, L_SHOT2 = 4, 7


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("build")
    (root / "two.fountain").write_text(TWO_SHOTS, "utf-8")
    return root


@pytest.fixture(scope="module")
def client(project):
    session = Client(project, {"buildWorkers": 1})
    yield session
    session.stop()


@pytest.fixture(scope="module")
def built(client, project):
    """The film built once through the editor: (uri, the command's result)."""
    uri = client.open(project / "two.fountain")
    client.wait_diagnostics(uri, 1)
    result = client.request("workspace_execute_command", t.ExecuteCommandParams(
        command="moviola.build", arguments=[uri], work_done_token="build-film"))
    return uri, result


def progress_of(client, token: str) -> list:
    return [p.value for p in client.progress if p.token == token]


def lenses(client, uri) -> dict[int, list]:
    found = client.request("text_document_code_lens", t.CodeLensParams(text_document=doc(uri)))
    by_line: dict[int, list] = {}
    for lens in found:
        by_line.setdefault(lens.range.start.line, []).append(lens.command)
    return by_line


def test_build_the_film_with_progress(built, client, project):
    uri, result = built
    assert result["ok"] is True and result["cancelled"] is False
    assert result["executed"] > 0 and result["cached"] == 0
    film = project / "out" / "two.mp4"
    assert film.is_file() and film.stat().st_size > 1000
    assert Path(result["output"]) == film
    values = progress_of(client, "build-film")
    kinds = [v["kind"] if isinstance(v, dict) else v.kind for v in values]
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
    assert any("rendered" in (v["message"] if isinstance(v, dict) else v.message or "") for v in values)


def test_lenses_show_rendered_shots_and_open_their_frame(built, client):
    uri, _ = built
    by_line = lenses(client, uri)
    titles = [c.title for c in by_line[L_SHOT1]]
    assert titles == ["▶ render shot", "open rendered frame", "rendered ✓"]
    frame = by_line[L_SHOT1][1]
    assert frame.command == "moviola.openFrame"
    (frame_uri,) = frame.arguments
    assert frame_uri.startswith("file://") and frame_uri.endswith("keyframe.png")
    opened = client.request("workspace_execute_command", t.ExecuteCommandParams(
        command="moviola.openFrame", arguments=[frame_uri]))
    assert opened == frame_uri
    client.wait_until(lambda: any(s.uri == frame_uri for s in client.shown))
    scene_titles = [c.title for c in by_line[2]]
    assert "rendered ✓ (2 shots)" in scene_titles


def test_hover_says_the_shot_is_cached(built, client):
    uri, _ = built
    hover = client.request("text_document_hover", t.HoverParams(
        text_document=doc(uri), position=t.Position(line=L_SHOT1, character=4)))
    assert "keyframe **cached**, clip **cached**" in hover.contents.value


def test_build_one_shot_after_an_edit(built, client):
    uri, _ = built
    version = client.change(uri, (L_SHOT2, 18, L_SHOT2, 20, "3s"))        # close-up, 2s → 3s
    client.wait_diagnostics(uri, version)
    by_line = lenses(client, uri)
    assert [c.title for c in by_line[L_SHOT2]] == ["▶ render shot", "open rendered frame", "stale"]
    result = client.request("workspace_execute_command", t.ExecuteCommandParams(
        command="moviola.buildShot", arguments=[uri, L_SHOT2 + 1], work_done_token="build-shot"))
    assert result["ok"] is True and result["scope"] == "shot 1.2"
    assert result["executed"] == 1          # its clip; the keyframe did not change
    assert len(result["frames"]) == 1 and Path(result["frames"][0]).is_file()
    assert [c.title for c in lenses(client, uri)[L_SHOT2]][-1] == "rendered ✓"
    result = client.request("workspace_execute_command", t.ExecuteCommandParams(
        command="moviola.buildScene", arguments=[uri, 1]))
    assert result["ok"] is True and result["executed"] == 0 and result["scope"] == "scene 1"
    # what an editor command sends: the line under the cursor (1-based), inside the first shot
    result = client.request("workspace_execute_command", t.ExecuteCommandParams(
        command="moviola.buildShot", arguments=[uri, {"line": L_SHOT1 + 2}]))
    assert result["ok"] is True and result["scope"] == "shot 1.1" and result["executed"] == 0


TWICE = """\
Title: Twice

INT. HALL - NIGHT

[[shot: close-up, 2s]]
A candle gutters.

INT. HALL - NIGHT

[[shot: close-up, 2s]]
A candle gutters.
"""
L_TWICE_SCENE2, L_TWICE_SHOT1, L_TWICE_SHOT2 = 7, 4, 9


def test_lenses_and_hover_attach_each_shot_its_own_cuts(client, project):
    """Two shots written alike in two scenes: building the second renders only its cuts, and
    the lenses and hover say so of it alone, also once an edit has moved it."""
    uri = client.open(project / "twice.fountain", TWICE)
    client.wait_diagnostics(uri, 1)
    result = client.request("workspace_execute_command", t.ExecuteCommandParams(
        command="moviola.buildShot", arguments=[uri, L_TWICE_SHOT2 + 1]))
    assert result["ok"] is True and result["scope"] == "shot 2.1"

    def hover(line: int) -> str:
        return client.request("text_document_hover", t.HoverParams(
            text_document=doc(uri), position=t.Position(line=line, character=4))).contents.value

    for shot2 in (L_TWICE_SHOT2, L_TWICE_SHOT2 + 1):
        by_line = lenses(client, uri)
        assert [c.title for c in by_line[shot2]][-1] == "rendered ✓"
        assert [c.title for c in by_line[L_TWICE_SHOT1]][-1] != "rendered ✓"
        assert "**shot 2.1**" in hover(shot2) and "keyframe **cached**" in hover(shot2)
        assert "**shot 1.1**" in hover(L_TWICE_SHOT1) and "keyframe **render**" in hover(L_TWICE_SHOT1)
        # an empty line before the second scene's directive moves its shot a line down
        version = client.change(uri, (L_TWICE_SCENE2 + 1, 0, L_TWICE_SCENE2 + 1, 0, "\n"))
        client.wait_diagnostics(uri, version)
    client.close_document(uri)


def test_a_script_with_errors_does_not_build(client, project):
    uri = client.open(project / "bad.fountain", "INT. HALL - DAY\n\n[[shot: wdie]]\nA hall.\n")
    client.wait_diagnostics(uri, 1)
    result = client.request("workspace_execute_command", t.ExecuteCommandParams(
        command="moviola.build", arguments=[uri]))
    assert result["ok"] is False and "1 error" in result["error"]
    client.wait_until(lambda: any("fix them to build" in m.message for m in client.messages))


def test_cancel_stops_after_the_current_job_and_keeps_what_finished(tmp_path):
    shots = "".join(f"[[shot: medium, 1s]]\nShot number {n}.\n\n" for n in range(8))
    (tmp_path / "many.fountain").write_text(f"INT. ROOM - DAY\n\n{shots}", "utf-8")
    session = Client(tmp_path, {"buildWorkers": 1})
    try:
        uri = session.open(tmp_path / "many.fountain")
        session.wait_diagnostics(uri, 1)
        params = t.ExecuteCommandParams(command="moviola.build", arguments=[uri], work_done_token="many")
        running = asyncio.run_coroutine_threadsafe(
            session.client.workspace_execute_command_async(params), session.loop)
        session.wait_until(lambda: any((v["kind"] if isinstance(v, dict) else v.kind) == "report"
                                       for v in progress_of(session, "many")))
        session.notify(session.client.window_work_done_progress_cancel,
                       t.WorkDoneProgressCancelParams(token="many"))
        result = running.result(60)
        assert result["cancelled"] is True and result["ok"] is False
        end = progress_of(session, "many")[-1]
        assert "cancelled" in (end["message"] if isinstance(end, dict) else end.message)
        again = session.request("workspace_execute_command", t.ExecuteCommandParams(
            command="moviola.build", arguments=[uri]))
        assert again["ok"] is True and again["cached"] > 0          # what finished before the cancel
        assert (tmp_path / "out" / "many.mp4").is_file()
    finally:
        session.stop()


def test_a_broken_moviola_toml_is_said_not_swallowed(tmp_path):
    (tmp_path / "two.fountain").write_text(TWO_SHOTS, "utf-8")
    (tmp_path / "moviola.toml").write_text("[profiles.draft\n", "utf-8")
    session = Client(tmp_path, {"buildWorkers": 1})
    try:
        uri = session.open(tmp_path / "two.fountain")
        session.wait_diagnostics(uri, 1)
        titles = [c.title for commands in lenses(session, uri).values() for c in commands]
        assert any(title.startswith("⚠ ") and "not valid TOML" in title for title in titles)
        result = session.request("workspace_execute_command", t.ExecuteCommandParams(
            command="moviola.build", arguments=[uri]))
        assert result["ok"] is False and "moviola.toml" in result["error"]
        assert not (tmp_path / ".moviola").exists()
    finally:
        session.stop()
