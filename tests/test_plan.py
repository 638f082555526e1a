"""The middle end: découpage, prompts, and the render plan's content keys."""

import json
from pathlib import Path

import pytest

from moviola.compiler.api import compile_file, compile_text
from moviola.compiler.ir import Move, ShotSize
from moviola.compiler.plan import plan
from moviola.compiler.prompts import assemble, count_tokens

GOLDEN = Path(__file__).parent / "golden"
SAMPLES = Path(__file__).parents[1] / "samples"


def plan_of(text: str):
    result = compile_text(text, "t.fountain", None)
    assert result.ok, result.diagnostics
    return plan(result.film)


@pytest.mark.parametrize("name", ["annotated", "plain"])
def test_plan_golden(name, golden):
    result = compile_file(GOLDEN / f"{name}.fountain")
    data = plan(result.film).to_json()
    golden(GOLDEN / f"{name}.plan.json", json.dumps(data, indent=1, ensure_ascii=False) + "\n")


PLAIN = """\
INT. KITCHEN - NIGHT

ANNA stirs a pot. The window is black.

ANNA
Are you hungry?

BEN
Always.

ANNA
Sit down then.

EXT. GARDEN - NIGHT

Crickets. A lamp swings.
"""


def test_decoupage_covers_a_plain_scene():
    cuts = plan_of(PLAIN).cuts
    sizes = [cut.size for cut in cuts]
    # establishing on the new location (the first action), then coverage of the exchange
    assert sizes[0] is ShotSize.WIDE
    assert [c.speaker for c in cuts[1:4]] == ["ANNA", "BEN", "ANNA"]
    assert sizes[1] is ShotSize.MEDIUM
    assert sizes[2] is ShotSize.OVER_THE_SHOULDER and sizes[3] is ShotSize.OVER_THE_SHOULDER
    # a new location gets its establishing shot, exterior: extreme wide
    assert sizes[4] is ShotSize.EXTREME_WIDE and cuts[4].scene_index == 2
    assert "ANNA" in cuts[0].characters


def test_each_cut_names_the_shot_it_comes_from():
    script = ("Title: Links\n\nINT. KITCHEN - NIGHT\n\nANNA\nAre you hungry?\n\n"
              "[[shot: close-up, 2s]]\nBEN eats.\n\nINT. KITCHEN - NIGHT\n\nANNA\nAre you hungry?\n\n"
              "[[shot: close-up, 2s]]\nBEN eats.\n")
    result = compile_text(script, "t.fountain", None)
    film, cuts = result.film, plan(result.film).cuts
    # the title card and the new location's establishing shot come from no shot of the script
    assert [(c.label, c.shot) for c in cuts[:2]] == [("0.1", None), ("1.1", None)]
    for cut in cuts[2:]:
        shot = film.scenes[cut.shot.scene - 1].shots[cut.shot.position]
        assert cut.scene_index == cut.shot.scene and shot.explicit == cut.explicit
        assert cut.lines == shot.lines and cut.description == "\n".join(a.text for a in shot.actions)
    # alike in both scenes, each cut is linked to its own scene's shot
    assert [(c.label, c.shot.scene, c.shot.position) for c in cuts[2:]] == [
        ("1.2", 1, 0), ("1.3", 1, 1), ("2.1", 2, 0), ("2.2", 2, 1)]


def test_voice_over_plays_over_the_current_picture():
    cuts = plan_of("INT. ROOM - DAY\n\nRain on glass.\n\nMARIE (V.O.)\nIt rained that year.\n").cuts
    assert len(cuts) == 1
    assert cuts[0].lines[0].voice_over and cuts[0].speaker is None


def test_explicit_shot_keeps_its_terms():
    cuts = plan_of("INT. ROOM - DAY\n\n[[shot: ECU, slow pan left, 3s]]\nAn eye.\n").cuts
    (cut,) = cuts
    assert (cut.size, cut.move.kind, cut.duration, cut.explicit) == (
        ShotSize.EXTREME_CLOSE_UP, Move.PAN_LEFT, 3.0, True)


def test_transitions_reach_the_cuts():
    cuts = plan_of("FADE IN:\n\nINT. A - DAY\n\nOne.\n\nDISSOLVE TO:\n\nINT. B - DAY\n\nTwo.\n\n"
                   "FADE OUT.\n").cuts
    assert cuts[0].transition_in == "fade_in"
    assert cuts[1].transition_in == "dissolve"
    assert cuts[-1].transition_out == "fade_out"


def _keys(render_plan):
    return {job.id: job.key for job in render_plan.jobs}


def test_editing_one_line_changes_only_its_speech_and_the_edit():
    text = (SAMPLES / "the-wash-house.fountain").read_text()
    before = plan(compile_text(text, "a.fountain", SAMPLES).film)
    old = "It was here. Every Monday."
    assert old in text or True
    # change one word of the first spoken line
    first_line = before.cuts[[bool(c.lines) for c in before.cuts].index(True)].lines[0].text
    edited = text.replace(first_line, first_line + " Yes.", 1)
    after = plan(compile_text(edited, "a.fountain", SAMPLES).film)
    a, b = _keys(before), _keys(after)
    assert a.keys() == b.keys()
    changed = {job for job in a if a[job] != b[job]}
    kinds = {job.split(":")[0] for job in changed}
    assert len([j for j in changed if j.startswith("speech:")]) == 1
    assert kinds <= {"speech", "mix", "subtitles", "mux", "otio", "contact_sheet", "keyframe", "clip"}
    # pictures change only where the caption shows that line (a cut with no action)
    assert len([j for j in changed if j.startswith("keyframe:")]) <= 1


def test_editing_one_shot_keeps_other_seeds():
    text = (SAMPLES / "the-wash-house.fountain").read_text()
    before = plan(compile_text(text, "a.fountain", SAMPLES).film)
    target = before.cuts[10]
    first_words = target.description.split("\n")[0]
    assert first_words
    edited = text.replace(first_words, first_words + " A crow calls.", 1)
    after = plan(compile_text(edited, "a.fountain", SAMPLES).film)
    seeds_before = {c.id: c.seed for c in before.cuts}
    seeds_after = {c.id: c.seed for c in after.cuts}
    assert seeds_before == seeds_after
    changed = {j.id for j in before.jobs if j.key != after.job(j.ref).key and j.kind == "keyframe"}
    assert changed == {f"keyframe:{target.id}"}


def test_plan_is_deterministic():
    text = (SAMPLES / "the-wash-house.fountain").read_text()
    first = plan(compile_text(text, "a.fountain", SAMPLES).film).to_json()
    second = plan(compile_text(text, "a.fountain", SAMPLES).film).to_json()
    assert first == second


def test_prompt_fits_budget_and_keeps_priorities():
    long_description = "very " * 80 + "old"
    prompt = assemble([(0, "close-up shot"), (3, f"Marie ({long_description})"),
                       (1, "Marie touches the cold stone"), (2, "35mm film, muted palette")], 40)
    assert count_tokens(prompt) <= 40
    assert prompt.startswith("close-up shot")
    assert "Marie touches the cold stone" in prompt and "35mm film" in prompt


def test_sample_prompts_fit_the_clip_budget():
    result = compile_file(SAMPLES / "the-wash-house.fountain")
    for cut in plan(result.film).cuts:
        assert count_tokens(cut.prompt) <= 75, cut.prompt


def test_sample_runtime_is_about_five_minutes():
    result = compile_file(SAMPLES / "the-wash-house.fountain")
    assert 270 <= plan(result.film).estimated_seconds <= 330


def test_title_cards_are_typeset_by_the_storyboard_under_every_profile():
    result = compile_file(SAMPLES / "the-wash-house.fountain")
    preview = plan(result.film, "preview")
    cards = [cut.id for cut in preview.cuts if cut.card]
    assert cards
    for cut_id in cards:
        assert preview.job(f"keyframe:{cut_id}").backend == "draft.storyboard"
        assert preview.job(f"clip:{cut_id}").backend == "draft.motion"
    shots = [cut.id for cut in preview.cuts if not cut.card]
    assert preview.job(f"keyframe:{shots[0]}").backend == "diffusers.text_to_image"


def test_an_inserted_scene_renders_no_other_model_picture():
    """Under a model profile a keyframe's key holds what the model sees, not the shot numbers the
    draft storyboard writes: a scene inserted before the others renumbers their shots, yet none
    of their keyframes or clips render again; under draft the frames show the new numbers."""
    text = (SAMPLES / "the-wash-house.fountain").read_text()
    second_heading = [line for line in text.splitlines() if line.startswith(("EXT.", "INT."))][1]
    inserted = text.replace(second_heading, "INT. BAKERY - NIGHT\n\nFlour on every shelf.\n\n"
                            + second_heading, 1)
    for profile, renumbered_pictures_change in (("final", False), ("draft", True)):
        before = plan(compile_text(text, "a.fountain", SAMPLES).film, profile)
        after = plan(compile_text(inserted, "a.fountain", SAMPLES).film, profile)
        assert [c.label for c in after.cuts if c.id in {b.id for b in before.cuts}] != \
            [c.label for c in before.cuts]                          # the old shots are renumbered
        pictures = [j for j in before.jobs if j.kind in ("keyframe", "clip")]
        changed = {j.id for j in pictures if j.key != after.job(j.ref).key}
        if renumbered_pictures_change:
            assert changed
        else:
            assert changed == set()
        new = {j.id for j in after.jobs} - {j.id for j in before.jobs}
        assert new and all("int-bakery-night" in job for job in new)


ASSETS = """\
[[location KITCHEN: a narrow kitchen, one bulb{kitchen_seed}]]
[[character ANNA: a tired cook{anna_seed}]]

INT. KITCHEN - NIGHT

[[shot: wide]]
ANNA stirs a pot.

[[shot: close-up]]
ANNA tastes the soup.

[[shot: wide{shot_seed}]]
ANNA turns off the stove.
{extra}
EXT. YARD - NIGHT

[[shot: wide]]
The dog sleeps.
"""


def _asset_plan(kitchen_seed="", anna_seed="", shot_seed="", extra=""):
    return plan_of(ASSETS.format(kitchen_seed=kitchen_seed, anna_seed=anna_seed,
                                 shot_seed=shot_seed, extra=extra))


def test_asset_seed_base_gives_its_shots_one_seed_per_framing():
    without = {c.id: c.seed for c in _asset_plan().cuts}
    located = _asset_plan(kitchen_seed="; seed: 7")
    seeds = {c.id: c.seed for c in located.cuts}
    kitchen = [c for c in located.cuts if c.characters == ("ANNA",)]
    wides = [c.seed for c in kitchen if c.size == ShotSize.WIDE]
    close = [c for c in kitchen if c.size == ShotSize.CLOSE_UP]
    assert len(wides) == 2 and wides[0] == wides[1]          # the place's wide shots share noise
    assert wides[0] != without[kitchen[0].id]
    # the close-up of ANNA alone is hers, not the kitchen's: she declares no seed, so its own
    assert close[0].seed == without[close[0].id]
    yard = [c.id for c in located.cuts if c.description.startswith("The dog")]
    assert seeds[yard[0]] == without[yard[0]]
    # ANNA's seed base reaches her close-up only
    both = {c.id: c.seed for c in _asset_plan(kitchen_seed="; seed: 7", anna_seed="; seed: 3").cuts}
    assert both[close[0].id] != seeds[close[0].id]
    assert {k: v for k, v in both.items() if k != close[0].id} == \
        {k: v for k, v in seeds.items() if k != close[0].id}


def test_asset_seed_change_renders_only_its_shots_again():
    before = _asset_plan(kitchen_seed="; seed: 7")
    after = _asset_plan(kitchen_seed="; seed: 8")
    changed = {j.id for j in before.jobs if j.kind == "keyframe" and j.key != after.job(j.ref).key}
    kitchen_wides = {f"keyframe:{c.id}" for c in before.cuts
                     if c.characters == ("ANNA",) and c.size == ShotSize.WIDE}
    assert changed == kitchen_wides


def test_shot_seed_wins_over_asset_seed_base():
    cuts = _asset_plan(kitchen_seed="; seed: 7", shot_seed="; seed: 11").cuts
    assert [c.seed for c in cuts if c.description.startswith("ANNA turns")] == [11]


def test_asset_seed_base_is_stable_when_a_scene_is_added_elsewhere():
    before = _asset_plan(kitchen_seed="; seed: 7")
    after = _asset_plan(kitchen_seed="; seed: 7",
                        extra="\nINT. CELLAR - NIGHT\n\n[[shot: wide]]\nJars on a shelf.\n")
    assert len(after.cuts) == len(before.cuts) + 1
    assert {c.id: c.seed for c in before.cuts} == \
        {c.id: c.seed for c in after.cuts if c.id in {b.id for b in before.cuts}}
    # the kitchen's shots render from the cache (later scenes' drafts show their new numbers)
    for cut in before.cuts:
        if cut.characters == ("ANNA",):
            for kind in ("keyframe", "clip"):
                ref = f"{kind}:{cut.id}"
                assert after.job(ref).key == before.job(ref).key, ref
