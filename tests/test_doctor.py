"""``moviola doctor``: the device, the libraries and each profile's models, found or not."""

import io
import json

import pytest
from rich.console import Console

from moviola.runtime import doctor

pytestmark = pytest.mark.models      # some load tiny models


@pytest.fixture
def hub(tmp_path, monkeypatch):
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def tiny_model(folder):
    """A model folder as save_pretrained writes one: config.json and .safetensors weights."""
    from safetensors.numpy import save_file
    import numpy as np

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"hidden_size": 4}))
    save_file({"weight": np.zeros((4, 4), dtype=np.float32)}, str(folder / "model.safetensors"))
    return folder


def run(project) -> tuple[int, str]:
    out = io.StringIO()
    console = Console(file=out, width=400, color_system=None, highlight=False, soft_wrap=True)
    code = doctor.report(project, console)
    return code, out.getvalue()


CONFIG = """\
[profiles.local]
base = "draft"
[profiles.local.keyframe]
backend = "diffusers.text_to_image"
model = "models/tiny"

[profiles.online.speech]
backend = "transformers.tts"
model = "some-org/missing-voice"

[profiles.pickled.music]
backend = "transformers.musicgen"
model = "models/pickled"
"""


def test_report_lists_device_libraries_and_each_model(tmp_path, hub):
    project = tmp_path / "film"
    tiny_model(project / "models" / "tiny")
    (project / "models" / "pickled").mkdir(parents=True)
    (project / "models" / "pickled" / "config.json").write_text("{}")
    (project / "models" / "pickled" / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    (project / "moviola.toml").write_text(CONFIG)
    code, text = run(project)
    assert code == 0
    assert "torch" in text and ("CPU only" in text or "GPU 0" in text)
    assert "CUDA" in text
    for library in ("diffusers", "transformers", "safetensors", "accelerate", "coqui-tts",
                    "espeakng-loader", "av"):
        assert library in text
    for profile in ("draft", "preview", "final", "local", "online", "pickled"):
        assert f"profile {profile} (" in text
    assert "found sha256:" in text
    assert str(project / "models" / "tiny") in text
    assert "missing" in text and "hf download some-org/missing-voice" in text
    assert str(hub / "models--some-org--missing-voice") in text
    assert "broken" in text and "only as pickles" in text
    assert "draft: ready" in text
    assert "online: 1 of 7 models not usable" in text
    assert "the default profile (draft) can run" in text


def test_coqui_backend_reports_the_missing_library(tmp_path, hub, monkeypatch):
    real = doctor.check_library

    def no_tts(name, module):
        if module == "TTS":
            return doctor.Library(name, module, None, "No module named 'TTS'")
        return real(name, module)

    monkeypatch.setattr(doctor, "check_library", no_tts)
    project = tmp_path / "film"
    tiny_model(project / "models" / "xtts")
    (project / "moviola.toml").write_text(
        '[profiles.voices.speech]\nbackend = "coqui.xtts"\nmodel = "models/xtts"\n')
    code, text = run(project)
    assert code == 0
    assert "No module named 'TTS'" in text and "needs coqui-tts" in text


def test_coqui_checkpoints_may_be_pth_and_loras_need_no_config(tmp_path, hub):
    project = tmp_path / "film"
    xtts = project / "models" / "xtts"
    xtts.mkdir(parents=True)
    (xtts / "config.json").write_text("{}")
    (xtts / "model.pth").write_bytes(b"\x80\x04pickle")
    (project / "loras" / "grain").mkdir(parents=True)
    tiny_model(project / "models" / "sd")
    (project / "loras" / "grain" / "pytorch_lora_weights.safetensors").write_bytes(
        (project / "models" / "sd" / "model.safetensors").read_bytes())
    (project / "moviola.toml").write_text(
        '[profiles.voices.speech]\nbackend = "coqui.xtts"\nmodel = "models/xtts"\n'
        '[profiles.voices.music]\nbackend = "transformers.musicgen"\nmodel = "models/xtts"\n'
        '[profiles.voices.keyframe]\nbackend = "diffusers.text_to_image"\nmodel = "models/sd"\n'
        'lora = "loras/grain"\n')
    code, text = run(project)
    assert "coqui-tts loads weights-only" in text                # accepted for coqui.xtts…
    assert "only as pickles" in text                            # …refused for musicgen
    assert "loras/grain: " + str(project / "loras" / "grain") in text
    unusable = 1 if doctor.check_library("coqui-tts", "TTS").ok else 2     # musicgen (+ coqui-tts)
    assert f"voices: {unusable} of 7 models not usable" in text


def test_without_torch_gpu_profiles_are_unavailable(tmp_path, hub, monkeypatch):
    real = doctor.check_library

    def no_torch(name, module):
        if module == "torch":
            return doctor.Library(name, module, None, "not installed")
        return real(name, module)

    monkeypatch.setattr(doctor, "check_library", no_torch)
    code, text = run(tmp_path)
    assert code == 0
    assert "not installed: GPU profiles unavailable" in text
    from moviola.compiler.profiles import builtin_profiles, is_draft

    preview = builtin_profiles()["preview"].models.values()
    models = sum(not is_draft(config.backend) for config in preview)
    assert f"preview: {models} of 7 models not usable; torch is not installed" in text
    assert "laptop: 1 of 7 models not usable; torch is not installed" in text


def test_bad_config_fails(tmp_path, hub):
    (tmp_path / "moviola.toml").write_text('[profiles.preview.keyframe]\nstepz = 4\n')
    code, text = run(tmp_path)
    assert code == 1
    assert "moviola.toml:2: unknown key 'stepz'; did you mean 'steps'?" in text


def test_draft_needing_a_missing_model_fails(tmp_path, hub):
    (tmp_path / "moviola.toml").write_text(
        '[profiles.draft.speech]\nbackend = "transformers.tts"\nmodel = "org/absent"\n')
    code, text = run(tmp_path)
    assert code == 1
    assert "cannot run" in text and "hf download org/absent" in text


def test_models_a_backend_needs_beside_its_own_are_checked(tmp_path, hub):
    """The backend's own lookup runs too: a model per language, a vocoder, an encoder."""
    import tiny_audio_models

    tiny_audio_models.build_vits(tmp_path / "models" / "vits")
    (tmp_path / "moviola.toml").write_text(
        '[profiles.radio.speech]\nbackend = "transformers.tts"\nmodel = "models/vits"\n'
        'options = { languages = { fr = "some-org/mms-fra" } }\n')
    code, text = run(tmp_path)
    assert code == 0
    assert "some-org/mms-fra: looked in" in text and "hf download some-org/mms-fra" in text
    assert "radio: 1 of 7 models not usable" in text
    (tmp_path / "moviola.toml").write_text(
        '[profiles.radio.speech]\nbackend = "transformers.tts"\nmodel = "models/vits"\n')
    code, text = run(tmp_path)
    assert "radio: ready" in text


def test_cli_doctor(tmp_path, hub, capsys):
    from moviola.cli import main

    script = tmp_path / "film.fountain"
    script.write_text("Title: A film\n\nINT. ROOM - DAY\n\nA chair.\n")
    assert main(["doctor", str(script)]) == 0
    out = capsys.readouterr().out
    assert "profile draft" in out and "draft: ready" in out


def test_a_missing_project_folder_is_not_a_hub_id(tmp_path, hub):
    """`models/x` can only be a folder of the project (no Hub account is called "models"):
    the doctor names the folder to fill, never a download that cannot exist."""
    project = tmp_path / "film"
    project.mkdir()
    (project / "moviola.toml").write_text(
        '[profiles.mine.keyframe]\nbackend = "diffusers.text_to_image"\nmodel = "models/my-sd"\n'
        'lora = "loras/grain.safetensors"\n')
    code, text = run(project)
    assert f"models/my-sd: no folder {project / 'models' / 'my-sd'} in the project" in text
    assert f"loras/grain.safetensors: no file {project / 'loras' / 'grain.safetensors'}" in text
    assert "missing: models/my-sd, loras/grain.safetensors" in text   # both, in one round
    for wrong in ("hf download models/", "hf download loras/", "models--models--"):
        assert wrong not in text


def test_a_project_folder_named_like_a_hub_id_wins_and_says_so(tmp_path, hub):
    project = tmp_path / "film"
    tiny_model(project / "some-org" / "sd")
    tiny_model(hub / "models--some-org--sd" / "snapshots" / "abc123")
    (project / "moviola.toml").write_text(
        '[profiles.mine.keyframe]\nbackend = "diffusers.text_to_image"\nmodel = "some-org/sd"\n')
    code, text = run(project)
    assert (f"some-org/sd: {project / 'some-org' / 'sd'} (sha256:" in text
            and "the project's folder, not the Hugging Face model some-org/sd" in text)
    assert "abc123" not in text
    # a broken project folder is reported, never silently replaced by the cached hub model
    (project / "some-org" / "sd" / "model.safetensors").unlink()
    code, text = run(project)
    assert "some-org/sd: " + str(project / "some-org" / "sd") + ": no weights" in text
    assert "mine: 1 of 7 models not usable" in text


def test_every_missing_model_is_named_in_one_round(tmp_path, hub):
    """A configuration's model, the models its options name and its LoRA are all looked for,
    though the first is already missing; every kind of every profile is checked."""
    (tmp_path / "moviola.toml").write_text(
        '[profiles.studio.performance]\nbackend = "transformers.voice_conversion"\n'
        'model = "org/vc"\noptions = { vocoder = "org/vocoder", speaker_encoder = "org/xvector" }\n'
        '[profiles.studio.speech]\nbackend = "transformers.tts"\nmodel = "org/vits-en"\n'
        'options = { languages = { fr = "org/vits-fr" } }\n'
        '[profiles.studio.keyframe]\nbackend = "diffusers.text_to_image"\nmodel = "org/sd"\n'
        'lora = "org/grain-lora"\noptions = { ip_adapter = { path = "org/ip-adapter" } }\n')
    code, text = run(tmp_path)
    for model in ("org/vc", "org/vocoder", "org/xvector", "org/vits-en", "org/vits-fr", "org/sd",
                  "org/grain-lora", "org/ip-adapter"):
        assert f"hf download {model}\n" in text, model
        assert f"{model}: looked in {tmp_path / model}, " \
               f"{hub / ('models--' + model.replace('/', '--'))}" in text
    assert "missing: org/vc, org/vocoder, org/xvector" in text
    assert "studio: 3 of 7 models not usable" in text


def test_a_models_options_found_are_listed_with_it(tmp_path, hub):
    import tiny_audio_models

    tiny_audio_models.build_vits(tmp_path / "models" / "vits")
    tiny_audio_models.build_vits(tmp_path / "models" / "vits-fr")
    (tmp_path / "moviola.toml").write_text(
        '[profiles.radio.speech]\nbackend = "transformers.tts"\nmodel = "models/vits"\n'
        'options = { languages = { fr = "models/vits-fr" } }\n')
    code, text = run(tmp_path)
    assert "radio: ready" in text
    assert f"models/vits-fr: {tmp_path / 'models' / 'vits-fr'} (sha256:" in text


def test_a_missing_builtin_model_is_fetched_with_only_its_pipelines_files(tmp_path, hub):
    from moviola.compiler import catalog
    from moviola.compiler.profiles import builtin_profiles

    code, text = run(tmp_path)
    clip = builtin_profiles()["final"].models["clip"].model
    command = catalog.download_command(clip)
    assert f"  {command}\n" in text
    assert command.startswith(f"hf download {clip} --include ") and '"transformer/*.safetensors"' in command
    assert "hf download some-org/model\n" in catalog.download_command("some-org/model") + "\n"
