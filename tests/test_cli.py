"""The CLI as a user runs it: exit codes, formats, help, no tracebacks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from moviola.cli import main

GOLDEN = Path(__file__).parent / "golden"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "moviola", *args], capture_output=True, text=True)


def test_check_clean_script_exits_zero(capsys):
    assert main(["check", str(GOLDEN / "plain.fountain")]) == 0
    assert "no problems" in capsys.readouterr().out


def test_check_errors_exit_one_with_caret(capsys):
    assert main(["check", str(GOLDEN / "diagnostics.fountain")]) == 1
    out = capsys.readouterr().out
    assert f"{GOLDEN / 'diagnostics.fountain'}:20:29: error[E301]: bad duration '12 parsecs'" in out
    # the caret sits under the culprit
    lines = out.splitlines()
    source_row = next(i for i, l in enumerate(lines) if "12 parsecs; from" in l and "|" in l)
    caret_row = lines[source_row + 1]
    assert caret_row.index("^") == lines[source_row].index("zoomm in")


def test_warnings_only_exit_zero_unless_denied(tmp_path):
    script = tmp_path / "w.fountain"
    script.write_text("[[character GHOST: never seen]]\n\nINT. ROOM - DAY\n\nNothing.\n")
    assert main(["check", str(script)]) == 0
    assert main(["check", str(script), "--deny-warnings"]) == 1


def test_usage_errors_exit_two(tmp_path, capsys):
    assert main(["check", str(tmp_path / "missing.fountain")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["check", str(tmp_path)]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["check", "--format", "xml", "x"]) == 2
    assert main([]) == 2


def test_concise_and_json_formats(capsys):
    main(["check", str(GOLDEN / "diagnostics.fountain"), "--format", "concise"])
    concise = capsys.readouterr().out.splitlines()
    main(["check", str(GOLDEN / "diagnostics.fountain"), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert len(concise) == len(data) > 20
    first = data[0]
    assert first["code"] == "E302" and first["span"] == [2, 13, 2, 21]
    duplicate = next(d for d in data if d["code"] == "E204")
    assert duplicate["related"][0]["message"] == "first declared here"
    fix = next(d for d in data if d["code"] == "E201")["fix"]
    assert fix["replacement"] == "shot"


def test_explain(capsys):
    assert main(["check", "--explain", "e402"]) == 0
    assert "project folder" in capsys.readouterr().out
    assert main(["check", "--explain", "E999"]) == 2


def test_parse_json_schema(capsys):
    assert main(["parse", str(GOLDEN / "annotated.fountain"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["title_page"]["resolution"] == "960x540"
    kinds = {e["type"] for e in data["elements"]}
    assert {"scene_heading", "action", "character", "dialogue", "parenthetical", "transition",
            "centered", "section", "synopsis", "note"} <= kinds
    heading = next(e for e in data["elements"] if e["type"] == "scene_heading")
    assert heading["scene_number"] == "1" and heading["text"] == "EXT. LOCK - DAWN"
    cue = next(e for e in data["elements"] if e["type"] == "character" and e["extensions"])
    assert cue["name"] == "ANNA" and cue["extensions"] == ["V.O."]
    assert all(isinstance(e["line"], int) for e in data["elements"])



def test_parse_json_is_compact_when_piped_and_indents_on_request():
    golden = (GOLDEN / "annotated.parse.json").read_text("utf-8")
    piped = run("parse", str(GOLDEN / "annotated.fountain"), "--json")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.count("\n") == 1 and json.loads(piped.stdout) == json.loads(golden)
    indented = run("parse", str(GOLDEN / "annotated.fountain"), "--json", "--indent", "1")
    assert indented.stdout == golden


def test_parse_does_not_lower_or_check():
    # `parse --json` runs the parser only: lowering and checking are not even imported.
    code = ("import sys; from moviola.cli import main; "
            f"main(['parse', {str(GOLDEN / 'annotated.fountain')!r}, '--json']); "
            "sys.stderr.write(repr(sorted(m for m in sys.modules if m.startswith('moviola.compiler.'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = eval(result.stderr)
    assert "moviola.compiler.fountain" in loaded
    assert "moviola.compiler.lower" not in loaded and "moviola.compiler.check" not in loaded


def test_outline_shows_runtime_and_cast():
    result = run("outline", str(GOLDEN / "annotated.fountain"))
    assert result.returncode == 0, result.stderr
    assert "estimated runtime" in result.stdout
    assert "ANNA" in result.stdout and "LOCK" in result.stdout and "WATER" in result.stdout


def test_outline_lists_the_shot_directives_with_their_camera_language(tmp_path):
    script = tmp_path / "film.fountain"
    script.write_text("EXT. FIELD - DAY\n\n[[shot: wide, low angle, 35mm, shallow focus, low-key, "
                      "steadicam, 5s]]\nMARIE crosses.\n\n[[shot: close-up, dutch angle]]\nShe stops.\n",
                      encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "moviola", "outline", str(script)],
                            capture_output=True, text=True, env={**os.environ, "COLUMNS": "160"})
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ 1.")]
    assert len(rows) == 2
    for words in ("wide", "track right", "low angle, 35mm lens, shallow focus, low-key", "5s"):
        assert words in rows[0]
    assert "close-up" in rows[1] and "dutch angle" in rows[1]


def test_help_teaches():
    result = run("--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and "moviola check" in result.stdout
    assert "exit status" in run("check", "--help").stdout


def test_invalid_utf8_is_a_warning_not_a_crash(tmp_path):
    script = tmp_path / "latin1.fountain"
    script.write_bytes("INT. CAFÉ - DAY\n\nÉlodie sits.\n".encode("latin-1"))
    result = run("check", str(script), "--format", "concise")
    assert result.returncode == 0
    assert "warning[W506]" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("data", [b"", b"\x00\x01\x02", b"[[", b"/*", b"\xff" * 10, b"Title:\n\n",
                                  b"[[shot: " + b"a," * 2000 + b"]]"])
def test_odd_inputs_never_traceback(tmp_path, data):
    script = tmp_path / "odd.fountain"
    script.write_bytes(data)
    result = run("check", str(script))
    assert result.returncode in (0, 1)
    assert "Traceback" not in result.stderr


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    # `moviola parse --json | head`: no traceback, exit 0 (the output is larger than a pipe holds)
    script = tmp_path / "long.fountain"
    script.write_text("\n\n".join([(GOLDEN / "annotated.fountain").read_text("utf-8")] * 40), "utf-8")
    process = subprocess.Popen([sys.executable, "-m", "moviola", "parse", str(script), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.read(10)
    process.stdout.close()
    assert process.wait(timeout=60) == 0
    assert b"Traceback" not in process.stderr.read()


def _plan_rows(capsys, script, profile) -> tuple[dict[tuple[str, str], list[str]], str]:
    """`moviola plan`'s "Render time by kind" rows, by (kind, backend), and the whole output."""
    assert main(["plan", str(script), "--profile", profile]) == 0
    out = capsys.readouterr().out
    rows = {}
    for line in out.split("Render time by kind")[1].splitlines():
        cells = [cell.strip() for cell in line.strip("│┃").split("│")]
        if len(cells) == 8 and cells[0] != "kind":
            rows[(cells[0], cells[1])] = cells
    return rows, out


def _seconds(clock: str) -> int:
    parts = [int(part) for part in clock.removesuffix(" est.").split(":")]
    return sum(part * 60 ** power for power, part in enumerate(reversed(parts)))


def test_plan_lists_per_kind_the_model_its_memory_and_a_sourced_estimate(tmp_path, capsys,
                                                                          monkeypatch):
    from moviola.compiler import estimate

    monkeypatch.setenv("COLUMNS", "300")
    script = tmp_path / "film.fountain"
    script.write_text((GOLDEN / "plain.fountain").read_text())
    rows, out = _plan_rows(capsys, script, "final")
    kind, backend, model, jobs, work, memory, time, figures = rows[("clip", "diffusers.audio_video")]
    from moviola.compiler.profiles import builtin_profiles

    assert model == builtin_profiles()["final"].models["clip"].model
    assert memory.endswith("GB est.") and time.endswith(" est.") and work.endswith("s of clip")
    assert f"  {figures} {estimate.figures(model).source}" in out   # where the figure comes from
    mix = rows[("mix", "edit.mix")]
    assert not mix[6].endswith("est.") and f"  {mix[7]} measured: benchmarks/estimate.py" in out
    assert "render time ~" in out and "not measured (docs/benchmarks.md)" in out
    # twice the steps: twice the clip's per-step part, and nothing else changes (lip-sync off:
    # a lip-synced close-up walks the distilled LoRA's schedule whatever the profile's steps)
    steps = builtin_profiles()["final"].models["clip"].steps
    guided = '[profiles.final.clip]\noptions = { lip_sync = false, lip_sync_lora = "" }\n'
    (tmp_path / "moviola.toml").write_text(guided)
    rows, _ = _plan_rows(capsys, script, "final")
    time = rows[("clip", "diffusers.audio_video")][6]
    (tmp_path / "moviola.toml").write_text(f"{guided}steps = {2 * steps}\n")
    slower, _ = _plan_rows(capsys, script, "final")
    fixed = int(jobs) * estimate.figures(model).cost.per_job
    assert abs((_seconds(slower[("clip", "diffusers.audio_video")][6]) - fixed)
               - 2 * (_seconds(time) - fixed)) <= 2
    assert {key: row for key, row in slower.items() if key[0] != "clip"} == \
        {key: row for key, row in rows.items() if key[0] != "clip"}


def test_plan_under_laptop_needs_no_gpu(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    script = tmp_path / "film.fountain"
    script.write_text((GOLDEN / "plain.fountain").read_text())
    rows, out = _plan_rows(capsys, script, "laptop")
    assert rows[("speech", "transformers.tts")][2] == "facebook/mms-tts-eng"
    assert {backend for _, backend in rows} & {"diffusers.text_to_image",
                                                "diffusers.image_to_video"} == set()
    assert "H100" not in out
