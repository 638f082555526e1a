"""Lowering to the IR: name resolution, shots and beats, settings, paths."""

import os

import pytest

from moviola.compiler import ir
from moviola.compiler.api import compile_text
from moviola.compiler.annotations import classify, read_note
from moviola.compiler.ir import Move, ShotSize, Speed


def compile_(text, project=None):
    return compile_text(text, "t.fountain", project)


def codes(result):
    return [d.code for d in result.diagnostics]


def test_heading_binds_to_location_case_insensitively_and_by_prefix():
    result = compile_(
        "[[location Wash-House: stone basins]]\n\n"
        "EXT. WASH-HOUSE - DAWN\n\nFog.\n\n"
        "INT. wash-house / loft - NIGHT\n\nDark.\n\n"
        "I/E. WASH-HOUSE, BASIN - DAY\n\nSun.\n")
    scenes = result.film.scenes
    assert [s.location for s in scenes] == ["Wash-House"] * 3
    assert [s.setting for s in scenes] == ["EXT", "INT", "INT/EXT"]
    assert [s.time for s in scenes] == ["DAWN", "NIGHT", "DAY"]
    assert codes(result) == []


def test_undeclared_location_is_reported_only_when_locations_are_declared():
    plain = compile_("INT. KITCHEN - DAY\n\nSoup.\n")
    assert codes(plain) == []
    annotated = compile_("[[location GARDEN: roses]]\n\nINT. KITCHEN - DAY\n\nSoup.\n")
    assert "W504" in codes(annotated) and "W502" in codes(annotated)


def test_shot_directive_opens_explicit_shot_with_terms():
    result = compile_("INT. ROOM - DAY\n\n[[shot: MCU, slow pan left, 2.5s]]\nA cat.\n\n"
                      "[[shot: 1:30, aerial, fast zoom out]]\nThe city.\n")
    first, second = result.film.scenes[0].shots
    assert (first.size, first.move, first.duration) == (
        ShotSize.MEDIUM_CLOSE_UP, ir.CameraMove(Move.PAN_LEFT, Speed.SLOW), 2.5)
    assert (second.size, second.move.kind, second.move.speed, second.duration) == (
        ShotSize.AERIAL, Move.ZOOM_OUT, Speed.FAST, 90.0)
    assert [b.text for b in first.beats] == ["A cat."]
    assert first.explicit and second.explicit


def test_content_before_first_shot_is_an_implicit_shot():
    result = compile_("INT. ROOM - DAY\n\nA table.\n\n[[shot: wide]]\nA window.\n")
    implicit, explicit = result.film.scenes[0].shots
    assert not implicit.explicit and implicit.size is None
    assert implicit.beats[0].text == "A table."
    assert explicit.explicit


def test_voice_directive_between_cue_and_dialogue_keeps_the_block():
    result = compile_("INT. ROOM - DAY\n\nMARIE\n[[voice: whispering]]\n(sadly)\nIt was here.\n")
    (line,) = result.film.shots[0].lines
    assert line.character == "MARIE" and line.text == "It was here."
    assert set(line.delivery) == {"whispering", "sadly"}


def test_voice_directive_before_cue_applies_to_next_speech_only():
    result = compile_("INT. ROOM - DAY\n\n[[voice: shouting]]\n\nBOB\nHey!\n\nBOB\nHey again.\n")
    first, second = result.film.shots[0].lines
    assert first.delivery == ("shouting",) and second.delivery == ()


def test_extensions_and_dual_dialogue():
    result = compile_("INT. ROOM - DAY\n\nANN (V.O.)\nOnce.\n\nBEN (o. s.)\nTwice.\n\n"
                      "CAL\nLeft.\n\nDEE ^\nRight.\n")
    ann, ben, cal, dee = result.film.shots[0].lines
    assert ann.voice_over and not ann.off_screen
    assert ben.off_screen and ben.extensions == ("O. S.",)
    assert not ann.dual and cal.dual and dee.dual


def test_music_binds_to_theme_and_runs_before_first_scene():
    result = compile_("[[theme RIVER: cello, 70 bpm]]\n\n[[music: river, fade in 3s]]\n\n"
                      "EXT. RIVER - DAY\n\nWater.\n\n[[music: stop, fade out 4s; volume: 50%]]\n")
    (theme,) = result.film.themes
    assert theme.tempo == 70
    shot = result.film.scenes[0].shots[0]
    start, _, stop = shot.beats
    assert (start.theme, start.fade_in) == ("RIVER", 3.0)
    assert (stop.theme, stop.fade_out, stop.volume) == (None, 4.0, 0.5)
    assert codes(result) == []


def test_undeclared_theme_suggests_the_declared_one():
    result = compile_("[[theme RIVER: cello]]\n\nEXT. X - DAY\n\n[[music: RIVR]]\nA.\n")
    (error,) = [d for d in result.diagnostics if d.code == "E203"]
    assert error.help == "did you mean RIVER?"
    assert error.fix.replacement == "RIVER"


def test_character_mentioned_in_action_counts_as_used():
    result = compile_("[[character MARIE: old]]\n\nEXT. X - DAY\n\nMarie walks.\n")
    assert "W501" not in codes(result)


def test_settings_defaults_and_values():
    default = compile_("INT. X - DAY\n\nA.\n").film.settings
    assert (default.resolution, default.fps, default.seed, default.profile) == ((1280, 720), 24.0, 0, "draft")
    settings = compile_("Title: T\nResolution: 1080p\nFPS: 23.976\nSeed: 9\nProfile: Final\n\n"
                        "INT. X - DAY\n\nA.\n").film.settings
    assert (settings.resolution, settings.fps, settings.seed, settings.profile) == (
        (1920, 1080), 23.976, 9, "final")


def test_transitions_and_cards():
    result = compile_("FADE IN:\n\n>TITLE<\n\nINT. A - DAY\n\nA.\n\nDISSOLVE TO:\n\n"
                      "INT. B - DAY\n\nB.\n\nSMASH CUT TO:\n\nINT. C - DAY\n\nC.\n\nFADE OUT.\n")
    film = result.film
    assert film.opening.kind == "fade_in"
    assert isinstance(film.scenes[0].shots[0].beats[0], ir.Card)
    assert [s.transition.kind for s in film.scenes[1:]] == ["dissolve", "smash_cut", "fade_out"]


def test_paths_resolve_inside_project(tmp_path):
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "a.png").write_bytes(b"png")
    result = compile_("[[location A: x; refs: refs/, refs/a.png, ./refs/../refs/a.png]]\n\nINT. A - DAY\n\nX.\n",
                      tmp_path)
    assert codes(result) == []
    assert [r.path for r in result.film.locations[0].refs] == ["refs", "refs/a.png", "refs/a.png"]


@pytest.mark.parametrize("written", ["../outside.png", "/etc/passwd", "~/x.png", "refs/../../x.png",
                                     "C:\\x.png"])
def test_paths_escaping_the_project_are_refused(tmp_path, written):
    result = compile_(f"INT. A - DAY\n\n[[shot: wide; from: {written}]]\nX.\n", tmp_path)
    assert codes(result) == ["E402"]
    assert result.film.shots[0].source is None


def test_symlink_out_of_the_project_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"png")
    project = tmp_path / "project"
    project.mkdir()
    os.symlink(outside, project / "link")
    result = compile_("INT. A - DAY\n\n[[shot: wide; from: link/secret.png]]\nX.\n", project)
    assert codes(result) == ["E402"]


def test_missing_file_suggests_sibling(tmp_path):
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "marie.wav").write_bytes(b"RIFF")
    result = compile_("[[character MARIE: x; voice: voices/mary.wav]]\n\nINT. A - DAY\n\nMARIE\nHi.\n",
                      tmp_path)
    (error,) = result.diagnostics
    assert error.code == "E401" and error.help == "did you mean voices/marie.wav?"


def test_no_project_folder_checks_path_shape_only():
    result = compile_("INT. A - DAY\n\n[[shot: wide; from: shots/a.png]]\nX.\n", None)
    assert codes(result) == []
    assert result.film.shots[0].source.path == "shots/a.png"


def test_plain_notes_are_not_annotations():
    assert classify("Check the tide tables") == "plain"
    assert classify("TODO: fix") == "plain"
    assert classify("Todo: fix") == "plain"
    assert classify("shot: wide") == "directive"
    assert classify("character MARIE: x") == "declaration"
    assert read_note("TODO: fix") is None


def test_note_spanning_lines_reports_term_positions_on_the_right_line():
    result = compile_("INT. A - DAY\n\n[[shot: wide,\n  zoomm in]]\nX.\n")
    (error,) = result.diagnostics
    assert error.code == "E205"
    assert (error.span.line, error.span.col) == (4, 3)


def test_duplicate_declaration_points_to_first():
    result = compile_("[[character A: x]]\n[[character a: y]]\n\nINT. R - DAY\n\nA\nHi.\n")
    (error,) = [d for d in result.diagnostics if d.code == "E204"]
    assert error.span.line == 2 and error.related[0].span.line == 1


def test_ir_is_immutable():
    film = compile_("INT. A - DAY\n\nX.\n").film
    with pytest.raises(AttributeError):
        film.scenes[0].heading = "changed"


def test_line_break_in_a_note_separates_shot_terms():
    result = compile_("INT. A - DAY\n\n[[shot: wide\n  4s]]\nX.\n")
    assert codes(result) == []
    shot = result.film.shots[0]
    assert shot.size is ShotSize.WIDE and shot.duration == 4.0


def test_music_before_the_first_shot_joins_that_shot():
    result = compile_("[[theme T: piano]]\n\nINT. A - DAY\n\n[[music: T]]\n\n[[shot: wide]]\nX.\n")
    (shot,) = result.film.scenes[0].shots
    assert shot.explicit and isinstance(shot.beats[0], ir.MusicCue)


def test_lyrics_inside_a_dialogue_block_are_sung_by_the_cue():
    result = compile_("INT. A - DAY\n\nSINGER\n~La la la.\nAnd then I spoke.\n")
    sung, spoken = result.film.shots[0].lines
    assert sung.character == spoken.character == "SINGER"
    assert "singing" in sung.delivery and "singing" not in spoken.delivery


def test_title_page_profile_may_name_a_profile_of_moviola_toml(tmp_path):
    (tmp_path / "moviola.toml").write_text('[profiles.radio]\nbase = "draft"\n')
    ok = compile_("Title: T\nProfile: radio\n\nINT. A - DAY\n\nX.\n", tmp_path)
    assert codes(ok) == [] and ok.film.settings.profile == "radio"
    bad = compile_("Title: T\nProfile: radoi\n\nINT. A - DAY\n\nX.\n", tmp_path)
    (error,) = bad.diagnostics
    assert error.code == "E304" and error.help == "did you mean radio?"


def test_the_ir_records_where_each_name_is_written():
    text = ("[[character MARIE: a woman]]\n[[location KITCHEN: a kitchen]]\n[[theme RIVER: piano]]\n\n"
            "INT. KITCHEN / PANTRY - DAY\n\n[[music: RIVER]]\n\nMARIE and BOB eat.\n\n"
            "  MARIE (V.O.)\nHello.\n\nBOB\nHi.\n")
    result = compile_(text)
    found = {(r.kind, r.key, r.text, r.role, (r.span.line, r.span.col, r.span.end_col))
             for r in result.references()}
    assert found == {
        ("character", "marie", "MARIE", "declaration", (1, 13, 18)),
        ("location", "kitchen", "KITCHEN", "declaration", (2, 12, 19)),
        ("theme", "river", "RIVER", "declaration", (3, 9, 14)),
        ("location", "kitchen", "KITCHEN", "heading", (5, 6, 13)),    # bound by its first part
        ("theme", "river", "RIVER", "music", (7, 10, 15)),
        ("character", "marie", "MARIE", "mention", (9, 1, 6)),
        ("character", "bob", "BOB", "mention", (9, 11, 14)),
        ("character", "marie", "MARIE", "cue", (11, 3, 8)),           # the indented cue's name
        ("character", "bob", "BOB", "cue", (14, 1, 4)),
    }
    # the film itself carries all but the mentions (the compiler finds those on request)
    assert {r.role for r in result.film.references} == {"declaration", "heading", "music", "cue"}
