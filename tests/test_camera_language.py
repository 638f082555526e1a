"""Camera language in `[[shot: …]]`: angle, lens, focus, lighting and the movement and size
synonyms production designers write, from the directive to the IR, the cut, the prompt and the
keyframe's key."""

import pytest

from moviola.compiler import ir, vocabulary
from moviola.compiler.api import compile_text
from moviola.compiler.ir import Angle, Focus, Lens, LensKind, Lighting, Move, ShotSize
from moviola.compiler.plan import JobRef, plan

SCRIPT = """Title: Camera

EXT. FIELD - DAY

[[shot: {terms}]]
MARIE crosses the field.
"""


def shot_of(terms: str):
    result = compile_text(SCRIPT.format(terms=terms))
    assert [d.code for d in result.diagnostics if d.severity == "error"] == [], result.diagnostics
    (shot,) = [s for s in result.film.shots if s.explicit]
    return shot


# the terms issue 11 names, and their common spellings
@pytest.mark.parametrize("term, facet, value", [
    ("tracking", "move", ir.CameraMove(Move.TRACK_RIGHT)),
    ("tracking shot", "move", ir.CameraMove(Move.TRACK_RIGHT)),
    ("steadicam", "move", ir.CameraMove(Move.TRACK_RIGHT)),
    ("follow", "move", ir.CameraMove(Move.TRACK_RIGHT)),
    ("dolly", "move", ir.CameraMove(Move.TRACK_RIGHT)),
    ("slow dolly left", "move", ir.CameraMove(Move.TRACK_LEFT, ir.Speed.SLOW)),
    ("whip pan", "move", ir.CameraMove(Move.WHIP_PAN_RIGHT)),
    ("whip pan left", "move", ir.CameraMove(Move.WHIP_PAN_LEFT)),
    ("drone", "move", ir.CameraMove(Move.DRONE)),
    ("low angle", "angle", Angle.LOW),
    ("low-angle", "angle", Angle.LOW),
    ("high angle", "angle", Angle.HIGH),
    ("dutch angle", "angle", Angle.DUTCH),
    ("Dutch", "angle", Angle.DUTCH),
    ("overhead", "angle", Angle.OVERHEAD),
    ("bird's-eye", "angle", Angle.OVERHEAD),
    ("worm's eye", "angle", Angle.WORMS_EYE),
    ("eye level", "angle", Angle.EYE_LEVEL),
    ("35mm", "lens", Lens(LensKind.WIDE, 35)),
    ("85 mm lens", "lens", Lens(LensKind.TELEPHOTO, 85)),
    ("50mm", "lens", Lens(LensKind.NORMAL, 50)),
    ("wide lens", "lens", Lens(LensKind.WIDE)),
    ("wide-angle lens", "lens", Lens(LensKind.WIDE)),
    ("telephoto", "lens", Lens(LensKind.TELEPHOTO)),
    ("fisheye", "lens", Lens(LensKind.FISHEYE)),
    ("rack focus", "focus", Focus.RACK),
    ("shallow depth of field", "focus", Focus.SHALLOW),
    ("shallow focus", "focus", Focus.SHALLOW),
    ("deep focus", "focus", Focus.DEEP),
    ("low-key", "lighting", Lighting.LOW_KEY),
    ("high key lighting", "lighting", Lighting.HIGH_KEY),
    ("silhouette", "lighting", Lighting.SILHOUETTE),
    ("backlit", "lighting", Lighting.BACKLIT),
    ("establishing shot", "size", ShotSize.EXTREME_WIDE),
    ("els", "size", ShotSize.EXTREME_WIDE),
    ("extreme long shot", "size", ShotSize.EXTREME_WIDE),
    ("medium long shot", "size", ShotSize.MEDIUM_WIDE),
    ("MLS", "size", ShotSize.MEDIUM_WIDE),
    ("over-the-shoulder", "size", ShotSize.OVER_THE_SHOULDER),
    ("OTS", "size", ShotSize.OVER_THE_SHOULDER),
])
def test_each_term_lands_in_the_ir_with_its_value(term, facet, value):
    shot = shot_of(term)
    assert getattr(shot, facet) == value
    others = {"size", "move", "angle", "lens", "focus", "lighting"} - {facet}
    assert all(getattr(shot, other) is None for other in others)


def test_one_shot_takes_every_facet_and_the_cut_carries_them():
    film = compile_text(SCRIPT.format(
        terms="medium, low angle, 35mm, shallow focus, low-key, steadicam, 4s")).film
    cut = next(c for c in plan(film, "draft").cuts if c.explicit)
    assert (cut.size, cut.move.kind, cut.angle, cut.lens, cut.focus, cut.lighting, cut.duration) == (
        ShotSize.MEDIUM, Move.TRACK_RIGHT, Angle.LOW, Lens(LensKind.WIDE, 35), Focus.SHALLOW,
        Lighting.LOW_KEY, 4.0)


def test_every_term_belongs_to_one_table():
    tables = [vocabulary.SHOT_SIZES, vocabulary.MOVES, *vocabulary.CAMERA_TABLES.values()]
    seen: dict[str, int] = {}
    for number, table in enumerate(tables):
        for term in table:
            key = term.replace("-", " ")
            assert seen.setdefault(key, number) == number, f"{term!r} is in two tables"


@pytest.mark.parametrize("typo, suggestion", [
    ("low angel", "low angle"), ("dutch angel", "dutch angle"), ("steadycam", "steadicam"),
    ("rack fokus", "rack focus"), ("telefoto", "telephoto"), ("silhouete", "silhouette"),
    ("backlight", None),  # a synonym, accepted
])
def test_a_misspelling_gets_its_did_you_mean(typo, suggestion):
    result = compile_text(SCRIPT.format(terms=typo))
    errors = [d for d in result.diagnostics if d.code == "E205"]
    if suggestion is None:
        assert errors == []
        return
    (error,) = errors
    assert f"`{suggestion}`" in error.help
    assert error.fix is not None and error.fix.replacement == suggestion


def test_a_second_angle_and_a_focal_length_out_of_range_are_errors():
    result = compile_text(SCRIPT.format(terms="low angle, high angle, 9000mm"))
    messages = [d.message for d in result.diagnostics if d.severity == "error"]
    assert messages == ["the shot already has a angle", "bad focal length '9000mm'"]


MODEL_PROFILE = "preview"


def keyframe(terms: str):
    film = compile_text(SCRIPT.format(terms=terms)).film
    built = plan(film, MODEL_PROFILE)
    cut = next(c for c in built.cuts if c.explicit)
    return built.job(JobRef("keyframe", cut.id))


def test_the_prompt_of_a_model_profile_says_angle_lens_focus_and_lighting():
    job = keyframe("medium, low angle, 35mm, shallow focus, low-key")
    assert job.backend != "draft.storyboard"
    prompt = job.params.prompt
    for words in ("low angle shot", "35mm lens", "shallow depth of field", "low-key lighting"):
        assert words in prompt
    assert prompt.startswith("medium shot, low angle shot")


def test_changing_the_angle_changes_the_prompt_and_the_keyframe_key():
    low, high, plain = keyframe("medium, low angle"), keyframe("medium, high angle"), keyframe("medium")
    assert "high angle shot" in high.params.prompt and "low angle" not in high.params.prompt
    assert len({low.key, high.key, plain.key}) == 3
    assert "angle" not in plain.params.to_json()     # unwritten: the key is what it always was


def test_camera_words_survive_a_short_budget():
    from moviola.compiler.prompts import count_tokens, shot_prompt

    film = compile_text(SCRIPT.format(terms="wide, dutch angle, 85mm, deep focus, silhouette")
                        .replace("MARIE crosses the field.", "MARIE " + "walks and walks " * 30)).film
    cut = next(c for c in plan(film, "draft").cuts if c.explicit)
    scene = film.scenes[0]
    prompt = shot_prompt(film, scene, cut, budget=30)
    assert count_tokens(prompt) <= 30
    assert prompt.startswith("wide shot, dutch angle, 85mm lens, deep focus, silhouette")


def test_the_draft_keyframe_of_a_low_angle_shot_looks_up(tmp_path):
    """Through the plan and the build: the same shot at eye level and from a low angle; the
    horizon measured in the rendered keyframe lies lower in the low-angle picture."""
    import numpy as np
    from PIL import Image

    from moviola.runtime.build import Build

    def horizon(terms: str, folder: str) -> float:
        project = tmp_path / folder
        project.mkdir()
        film = compile_text(SCRIPT.format(terms=terms).replace("MARIE crosses the field.",
                                                               "The field is empty."),
                            project=project).film
        built = plan(film, "draft")
        cut = next(c for c in built.cuts if c.explicit)
        ref = JobRef("keyframe", cut.id)
        build = Build(built.select([ref]), project)
        build.run()
        picture = np.asarray(Image.open(build.entry(ref).file("picture.png")).convert("RGB"),
                             dtype=np.int16)
        sky = picture[..., 2] - picture[..., 1] > 8          # blue over the green ground
        rows = np.where(sky, np.arange(picture.shape[0])[:, None], -1).max(axis=0) + 1
        return float(np.median(rows)) / picture.shape[0]

    eye, low = horizon("wide", "eye"), horizon("wide, low angle", "low")
    assert low - eye > 0.15


def test_every_camera_term_the_language_docs_list_is_read():
    import re
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "language.md").read_text(encoding="utf-8")
    section = text[text.index("**Angle**"):text.index("What they do:")]
    terms = set(re.findall(r"`([^`]+)`", section)) - {"draft"}
    assert len(terms) > 60
    unread = [t for t in terms if vocabulary.shot_term(vocabulary.normalize_term(t)) is None]
    assert unread == []
    for facet, canonical in vocabulary.camera_terms().items():
        for term in canonical:
            assert vocabulary.shot_term(vocabulary.normalize_term(term))[0] == facet, term
