"""Render profiles: the built-in defaults, moviola.toml merging, and errors with line numbers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from moviola.compiler.profiles import (BACKENDS, DTYPES, KINDS, ModelConfig, Options, Profile,
                                       ProfileError, builtin_profiles, load_profiles,
                                       parse_profiles)

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- built-in profiles

def test_builtin_profiles_cover_every_kind_with_known_backends():
    profiles = builtin_profiles()
    assert list(profiles) == ["draft", "laptop", "preview", "final"]
    for profile in profiles.values():
        assert set(profile.models) == set(KINDS)
        for kind, config in profile.models.items():
            assert config.kind == kind
            assert kind in BACKENDS[config.backend]
            assert config.dtype in DTYPES
            assert (config.model is None) == config.backend.startswith("draft.")


def test_draft_defaults():
    draft = builtin_profiles()["draft"]
    assert {k: c.backend for k, c in draft.models.items()} == {
        "keyframe": "draft.storyboard", "clip": "draft.motion", "footage": "draft.footage",
        "speech": "draft.espeak", "performance": "draft.performance", "music": "draft.score",
        "sfx": "draft.sfx"}
    assert all(c.model is None for c in draft.models.values())
    assert draft.is_draft and draft.device == "cpu"


def test_model_profiles_name_hub_models_with_settings():
    profiles = builtin_profiles()
    for name in ("preview", "final"):
        profile = profiles[name]
        assert not profile.is_draft and profile.device == "auto"
        for kind in ("keyframe", "clip", "footage", "music", "sfx"):
            config = profile.models[kind]
            assert not config.backend.startswith("draft."), (name, kind)
            assert config.steps, (name, kind)
        for kind in ("clip", "footage"):
            width, height = profile.models[kind].resolution
            assert width % 32 == 0 and height % 32 == 0 and profile.models[kind].frames
        # filmed footage is restyled by the clip's own model (one video model a profile),
        # through a backend that restyles its footage
        footage, clip = profile.models["footage"], profile.models["clip"]
        assert footage.model == clip.model
        assert footage.backend in ("diffusers.video_to_video", "diffusers.audio_video")
        assert 0 < footage.options["strength"] < 1


def test_laptop_draws_pictures_and_speaks_with_a_small_neural_voice():
    laptop, draft = builtin_profiles()["laptop"], builtin_profiles()["draft"]
    assert laptop.device == "cpu" and not laptop.is_draft
    for kind in ("keyframe", "clip", "footage"):
        assert laptop.models[kind] == draft.models[kind]
    speech = laptop.models["speech"]
    assert speech.backend == "transformers.tts" and speech.dtype == "float32"


def test_every_builtin_hub_model_has_a_card_and_the_docs_are_generated_from_them():
    """docs/profiles.md gives per model its licence, gating, download size, memory and an
    `hf download` line with --include: generated from compiler/catalog.py, kept in sync."""
    from moviola.compiler import catalog

    named = catalog.builtin_models()                     # models and their options' models
    assert "microsoft/speecht5_hifigan@refs/pr/1" in named
    hub = {model.partition("@")[0] for model in named}
    assert hub == set(catalog.CARDS)                     # none missing, none stale
    for repo in hub:
        assert "--include" in catalog.download_command(repo) and catalog.CARDS[repo].verified
    docs = Path(__file__).parents[1] / "docs" / "profiles.md"
    text = docs.read_text(encoding="utf-8")
    assert catalog.update(text) == text, "run: python -m moviola.compiler.catalog"
    for model in named:
        repo, _, revision = model.partition("@")
        pin = f" --revision {revision}" if revision else ""
        assert f"\nhf download {repo}{pin} --include" in text, model


def test_no_config_means_builtin(tmp_path):
    assert load_profiles(None) == builtin_profiles()
    assert load_profiles(tmp_path) == builtin_profiles()


# --------------------------------------------------------------------------- identity

def test_identity_excludes_batch_size_and_is_json():
    a = ModelConfig("keyframe", "diffusers.text_to_image", "org/m", steps=4, batch_size=1)
    b = ModelConfig("keyframe", "diffusers.text_to_image", "org/m", steps=4, batch_size=8)
    c = ModelConfig("keyframe", "diffusers.text_to_image", "org/m", steps=5, batch_size=1)
    assert a.identity() == b.identity() != c.identity()
    assert set(a.identity()) == {"backend", "model", "dtype", "steps", "guidance", "resolution",
                                 "frames", "lora", "options"}
    config = builtin_profiles()["preview"].models["clip"]
    assert json.loads(json.dumps(config.identity()))["resolution"] == list(config.resolution)


def test_plain_dict_options_and_list_resolution_are_converted():
    config = ModelConfig("clip", "diffusers.image_to_video", "org/m", options={"a": 1},
                         resolution=[704, 480])
    assert isinstance(config.options, Options) and config.resolution == (704, 480)
    assert hash(config) == hash(ModelConfig("clip", "diffusers.image_to_video", "org/m",
                                            options=Options(a=1), resolution=(704, 480)))


def test_model_config_is_hashable_with_read_only_options():
    profiles = parse_profiles('[profiles.preview.clip]\noptions = { decode_timestep = 0.05, '
                              'tags = ["a", "b"] }\n')
    config = profiles["preview"].models["clip"]
    assert isinstance(config.options, Options) and config.options["tags"] == ["a", "b"]
    assert hash(config) == hash(profiles["preview"].models["clip"])
    assert len({config, config}) == 1
    with pytest.raises(TypeError):
        config.options["x"] = 1
    assert config.identity()["options"] == {"decode_timestep": 0.05, "tags": ["a", "b"]}


# --------------------------------------------------------------------------- merging

BRIEF = """\
[profiles.preview]             # overrides merge into the built-in profile of the same name
device = "cuda"
memory_budget_gb = 40
[profiles.preview.keyframe]
model = "models/my-sd"         # a local folder inside the project
steps = 6
[profiles.mine]                # a new profile: starts from draft unless `base = "preview"`
base = "preview"
[profiles.other]
"""


def test_override_merges_into_builtin():
    profiles = parse_profiles(BRIEF)
    builtin = builtin_profiles()
    preview = profiles["preview"]
    assert (preview.device, preview.memory_budget_gb, preview.offload) == ("cuda", 40.0, False)
    assert preview.memory_budget_bytes == 40 * 1024**3
    key = preview.models["keyframe"]
    assert (key.model, key.steps) == ("models/my-sd", 6)
    builtin_key = builtin["preview"].models["keyframe"]
    assert (key.backend, key.guidance, key.resolution) == (
        builtin_key.backend, builtin_key.guidance, builtin_key.resolution)
    for kind in ("clip", "speech", "music", "sfx"):
        assert preview.models[kind] == builtin["preview"].models[kind]
    assert profiles["draft"] == builtin["draft"] and profiles["final"] == builtin["final"]
    assert preview.origin == "moviola.toml:1"


def test_new_profile_starts_from_draft_or_its_base():
    profiles = parse_profiles(BRIEF)
    assert profiles["other"].models == builtin_profiles()["draft"].models
    assert profiles["other"].base == "draft"
    mine = profiles["mine"]
    assert mine.base == "preview"
    assert mine.models == profiles["preview"].models         # the overridden preview
    assert mine.device == "cuda"


def test_base_chains_and_cycles():
    profiles = parse_profiles('[profiles.a]\nbase = "b"\noffload = true\n'
                              '[profiles.b]\nbase = "final"\n[profiles.b.music]\nsteps = 3\n')
    assert profiles["a"].models["music"].steps == 3
    assert profiles["a"].models["clip"] == builtin_profiles()["final"].models["clip"]
    assert profiles["a"].offload and not profiles["b"].offload
    with pytest.raises(ProfileError) as caught:
        parse_profiles('[profiles.a]\nbase = "b"\n[profiles.b]\nbase = "a"\n')
    assert "circle" in str(caught.value) and ":4:" in str(caught.value)


def test_changing_backend_drops_inherited_settings():
    profiles = parse_profiles('[profiles.preview.keyframe]\nbackend = "diffusers.text_to_image"\n'
                              'model = "org/other"\n'
                              '[profiles.preview.speech]\nbackend = "coqui.xtts"\n'
                              'model = "coqui/XTTS-v2"\n')
    keyframe = profiles["preview"].models["keyframe"]
    assert keyframe.steps == 4                                  # same backend: inherited
    speech = profiles["preview"].models["speech"]
    assert (speech.backend, speech.dtype, speech.batch_size) == ("coqui.xtts", "auto", 1)


def test_every_model_key_parses():
    text = """
[profiles.mine.clip]
backend = "diffusers.text_to_video"
model = "Lightricks/LTX-Video@abc123"
dtype = "bfloat16"
steps = 30
guidance = 3
resolution = [704, 480]
frames = 121
batch_size = 2
lora = "loras/grain.safetensors"
options = { decode_timestep = 0.05 }
[profiles.mine.keyframe]
backend = "diffusers.text_to_image"
model = "models/sd"
resolution = "768x432"
"""
    clip = parse_profiles(text)["mine"].models["clip"]
    assert clip == ModelConfig("clip", "diffusers.text_to_video", "Lightricks/LTX-Video@abc123",
                               dtype="bfloat16", steps=30, guidance=3.0, resolution=(704, 480),
                               frames=121, batch_size=2, lora="loras/grain.safetensors",
                               options=Options(decode_timestep=0.05))
    assert parse_profiles(text)["mine"].models["keyframe"].resolution == (768, 432)


def test_load_profiles_from_project_or_script(tmp_path):
    (tmp_path / "moviola.toml").write_text(BRIEF)
    script = tmp_path / "film.fountain"
    script.write_text("Title: x\n")
    assert load_profiles(tmp_path)["preview"].models["keyframe"].steps == 6
    assert load_profiles(script) == load_profiles(tmp_path)


def test_sample_config_parses_and_keeps_draft():
    profiles = load_profiles(ROOT / "samples")
    assert profiles["draft"] == builtin_profiles()["draft"]
    assert profiles["radio"].models["speech"].model == "facebook/mms-tts-eng"
    assert profiles["radio"].models["keyframe"].backend == "draft.storyboard"


# --------------------------------------------------------------------------- errors

def error_of(text: str) -> str:
    with pytest.raises(ProfileError) as caught:
        parse_profiles(text)
    return str(caught.value)


@pytest.mark.parametrize("text, expected", [
    ('[profiles.preview]\ndevice = "cuda"\n\n[profiles.preview.keyfrme]\nsteps = 3\n',
     "moviola.toml:4: unknown key 'keyfrme'; did you mean 'keyframe'?"),
    ('[profiles.preview]\n\n[profiles.preview.speech]\nbackend = "coqui.xts"\n',
     "moviola.toml:4: unknown backend 'coqui.xts'; did you mean 'coqui.xtts'?"),
    ('[profiles.preview.keyframe]\nsteps = 3\nstep = 4\n',
     "moviola.toml:3: unknown key 'step'; did you mean 'steps'?"),
    ('[profiles.preview]\nofload = true\n',
     "moviola.toml:2: unknown key 'ofload'; did you mean 'offload'?"),
    ('[profiles.final.clip]\n# a comment\ndtype = "fp16"\n',
     "moviola.toml:3: unknown dtype 'fp16'; did you mean 'float16'?"),
    ('[profiles.final.clip]\ndtype = "bfloat17"\n',
     "moviola.toml:2: unknown dtype 'bfloat17'; did you mean 'bfloat16'?"),
    ('[profile.preview]\n', "moviola.toml:1: unknown section 'profile'; did you mean 'profiles'?"),
    ('[profiles.mine]\nbase = "previw"\n',
     "moviola.toml:2: unknown base profile 'previw'; did you mean 'preview'?"),
])
def test_errors_name_the_line_and_suggest(text, expected):
    assert error_of(text) == expected


def test_dotted_keys_and_inline_tables_are_located():
    message = error_of('[profiles]\npreview.keyframe.stepz = 4\n')
    assert message.startswith("moviola.toml:2: unknown key 'stepz'")
    message = error_of('[profiles.preview]\nclip = { steps = 2, frame = 9 }\n')
    assert message.startswith("moviola.toml:2: unknown key 'frame'; did you mean 'frames'?")


@pytest.mark.parametrize("text, line, words", [
    ('[profiles.preview]\ndevice = "gpu"\n', 2, "bad device"),
    ('[profiles.preview]\nmemory_budget_gb = -1\n', 2, "memory_budget_gb"),
    ('[profiles.preview.clip]\nsteps = 0\n', 2, "bad steps"),
    ('[profiles.preview.clip]\nframes = 2.5\n', 2, "bad frames"),
    ('[profiles.preview.clip]\nguidance = "high"\n', 2, "bad guidance"),
    ('[profiles.preview.clip]\nresolution = "wide"\n', 2, "bad resolution"),
    ('[profiles.preview.keyframe]\nbackend = "coqui.xtts"\n', 2, "renders speech and performance, not keyframe"),
    ('[profiles.draft.speech]\nmodel = "org/voice"\n', 2, "takes no model"),
    ('[profiles.mine.keyframe]\nbackend = "diffusers.text_to_image"\n', 1, "needs a model"),
    ('[profiles.preview.keyframe]\nmodel = "../models/sd"\n', 2, "climbs out"),
    ('[profiles.preview.keyframe]\nmodel = "/opt/models/sd"\n', 2, "outside the project"),
    ('[profiles.Mine]\n', 1, "bad profile name"),
    ('[profiles.preview]\nkeyframe = 3\n', 2, "must be a table"),
    ('[profiles.preview.clip]\noptions = 3\n', 2, "'options' must be a table"),
    ('[profiles.final.footage]\noptions = { strength = 1.0 }\n', 2, "bad options.strength 1.0"),
    ('[profiles.preview.keyframe]\noptions = { ref_strength = 0 }\n', 2, "bad options.ref_strength"),
    ('[profiles.preview.clip.options]\ncontinue_strength = "half"\n', 2, "between 0 and 1"),
])
def test_bad_values(text, line, words):
    message = error_of(text)
    assert message.startswith(f"moviola.toml:{line}: ") and words in message, message


def test_toml_syntax_errors_carry_the_line(tmp_path):
    (tmp_path / "moviola.toml").write_text('[profiles.preview]\ndevice = "cuda"\nsteps = \n')
    with pytest.raises(ProfileError) as caught:
        load_profiles(tmp_path)
    error = caught.value
    assert error.line == 3 and error.path == tmp_path / "moviola.toml"
    assert str(error).endswith("moviola.toml:3: not valid TOML: Invalid value")
    assert error_of('[profiles.preview]\ndevice = "cuda').startswith("moviola.toml:2: not valid TOML")


def test_profile_error_without_line():
    assert str(ProfileError("cannot read the file")) == "moviola.toml: cannot read the file"


def test_compiler_profiles_import_no_heavy_modules():
    code = ("import sys, moviola.compiler.profiles, moviola.runtime.models; "
            "heavy = [m for m in ('torch', 'numpy', 'diffusers', 'transformers') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_profile_dataclass_shape():
    profile = Profile("x")
    assert (profile.device, profile.memory_budget_gb, profile.offload, profile.models) == (
        "auto", None, False, {})
    assert profile.memory_budget_bytes is None


@pytest.mark.parametrize("model, project_path", [
    ("models/freevc24", True),              # no Hub account can be called "models"
    ("loras/grain.safetensors", True),
    ("./sd", True), ("weights", True), ("a/b/c", True),
    ("facebook/mms-tts-eng", False), ("Lightricks/LTX-2@abc123", False),
    ("black-forest-labs/FLUX.2-klein-4B", False),
])
def test_project_paths_are_told_from_hub_ids(model, project_path):
    from moviola.compiler.profiles import is_project_path

    assert is_project_path(model) is project_path


def test_an_owner_folder_in_the_project_makes_a_project_path(tmp_path):
    from moviola.compiler.profiles import is_project_path

    assert not is_project_path("studio/sd", tmp_path)
    (tmp_path / "studio").mkdir()
    assert is_project_path("studio/sd", tmp_path)
