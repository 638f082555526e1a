"""Matching cuts (`[[shot: …, continues]]`): the shot starts from the previous shot's last frame."""

from __future__ import annotations

import json

import av
import numpy as np

from moviola.cli import main
from moviola.compiler.api import compile_text
from moviola.compiler.plan import plan

WIDTH, HEIGHT, FPS = 320, 180, 24

SCRIPT = """Resolution: 320x180
FPS: 24

INT. ATTIC - NIGHT

[[shot: wide, slow pan left, 2s]]
{first}

[[shot: close-up, static, 2s, continues]]
The lamp flickers.
"""


def build(tmp_path, first: str):
    script = tmp_path / "film.fountain"
    script.write_text(SCRIPT.format(first=first))
    output, report = tmp_path / "film.mp4", tmp_path / "report.json"
    assert main(["build", str(script), "-o", str(output), "--report", str(report),
                 "--quiet"]) == 0
    with av.open(str(output)) as container:
        frames = [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]
    return frames, json.loads(report.read_text())


def test_the_plan_makes_the_keyframe_wait_for_the_previous_clip():
    film = compile_text(SCRIPT.format(first="A trunk under the window."), "film.fountain").film
    render = plan(film, "draft")
    first, second = [c.id for c in render.cuts]
    keyframe = render.job(f"keyframe:{second}")
    assert [str(ref) for ref in keyframe.inputs] == [f"clip:{first}"]
    edited = plan(compile_text(SCRIPT.format(first="A chair by the door."), "film.fountain").film,
                  "draft")
    assert edited.job(f"keyframe:{second}").key != keyframe.key
    # its prompt ends with the film's style, and says so: a model's CLIP window keeps it
    styled = plan(compile_text("Style: 16mm film\n" + SCRIPT.format(first="A trunk."),
                               "film.fountain").film, "draft").job(f"keyframe:{second}")
    assert styled.params.style == "16mm film" and styled.params.prompt.endswith(", 16mm film")


def test_a_continued_shot_starts_on_the_previous_last_frame(tmp_path):
    frames, _ = build(tmp_path, "A trunk under the window.")
    cut = 2 * FPS
    last, first = frames[cut - 1], frames[cut]
    assert np.abs(first - last).mean() < 6              # the cut matches (codec noise only)
    assert np.abs(frames[cut + 1] - frames[0]).mean() > np.abs(first - last).mean()
    # the previous shot's picture changes (rain), and the change reaches this shot's start
    again, _ = build(tmp_path, "Rain beats on the roof, a coat on the chair.")
    assert np.abs(again[cut] - first).mean() > 2
    assert np.abs(again[cut] - again[cut - 1]).mean() < 6


def test_continues_on_a_first_shot_is_an_error():
    text = "INT. ATTIC - NIGHT\n\n[[shot: wide, continues]]\nDust.\n"
    result = compile_text(text, "film.fountain")
    assert [d.code for d in result.diagnostics] == ["E210"]
    column = text.splitlines()[2].index("continues") + 1        # the caret under the word
    span = result.diagnostics[0].span
    assert (span.line, span.col, span.end_col) == (3, column, column + len("continues"))
    both = text.replace("Dust.\n", "Dust.\n\n[[shot: wide]]\nDust.\n", 1).replace(
        "wide, continues]]", "wide, continues; from: a.png]]")
    assert [d.code for d in compile_text(both, "film.fountain").diagnostics] == ["E210", "E210"]


def test_a_text_to_video_model_refuses_a_continued_shot_by_name(tmp_path):
    from moviola.compiler.profiles import ModelConfig
    from moviola.runtime.backends.diffusers_video import TextToVideo

    film = compile_text(SCRIPT.format(first="A trunk."), "film.fountain").film
    clips = [job for job in plan(film, "preview").jobs if job.kind == "clip"]
    backend = TextToVideo(ModelConfig("clip", "diffusers.text_to_video", "models/wan-t2v"), None, tmp_path)
    (problem,) = backend.check_jobs(clips)
    assert "continues" in problem and "models/wan-t2v" in problem and clips[1].label in problem


def test_a_continued_shot_writes_its_own_caption_over_the_matched_picture(tmp_path):
    """The draft writes each shot's caption and number on its frames: a matching cut starts
    from the previous shot's picture as the camera saw it, without that shot's caption."""
    frames, _ = build(tmp_path, "A trunk under the window.")
    cut = 2 * FPS
    last, first = frames[cut - 1], frames[cut]
    caption_bar, picture = slice(HEIGHT - 20, HEIGHT), slice(30, HEIGHT - 30)
    assert np.abs(first[picture] - last[picture]).mean() < 6          # the picture matches
    # the caption bar: the previous shot's words end at the cut, this shot's start there
    assert np.abs(first[caption_bar] - last[caption_bar]).mean() > 4
    assert np.abs(first[caption_bar] - frames[-1][caption_bar]).mean() < 3


def test_only_the_draft_writes_on_a_continued_frame():
    """A model's frame carries no caption, so its key holds none (renumbering the shots
    renders no continued frame again)."""
    film = compile_text(SCRIPT.format(first="A trunk under the window."), "film.fountain").film
    for profile, caption in (("draft", "The lamp flickers."), ("preview", "")):
        render = plan(film, profile)
        keyframe = render.job(f"keyframe:{render.cuts[1].id}")
        assert keyframe.params.caption == caption
        assert bool(keyframe.params.label) == bool(caption)
