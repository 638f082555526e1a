"""Finding models offline, refusing broken and pickled ones, and keeping them resident.

The real-model tests build a tiny random diffusers UNet (a few thousand parameters), save it with
save_pretrained and load it back through the same code the backends use."""

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from moviola.runtime import models
from moviola.runtime.models import ModelBroken, ModelManager, ModelNotFound

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def tiny_unet(tmp_path_factory) -> Path:
    """A saved tiny UNet2DModel (config.json + diffusion_pytorch_model.safetensors)."""
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    model = diffusers.UNet2DModel(
        sample_size=8, in_channels=3, out_channels=3, block_out_channels=(4, 8),
        layers_per_block=1, norm_num_groups=4,
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"))
    folder = tmp_path_factory.mktemp("unet") / "tiny-unet"
    model.save_pretrained(folder)
    return folder


def copy_folder(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for file in source.iterdir():
        (target / file.name).write_bytes(file.read_bytes())
    return target


def hub_cache_with(cache: Path, repo: str, source: Path, revision: str = REVISION,
                   ref: str | None = "main") -> Path:
    """The hub's layout: blobs/<sha256>, snapshots/<rev>/<file> → ../../blobs/<sha256>, refs/main."""
    repo_folder = cache / ("models--" + repo.replace("/", "--"))
    snapshot = repo_folder / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo_folder / "blobs").mkdir(exist_ok=True)
    for file in source.iterdir():
        data = file.read_bytes()
        blob = repo_folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    if ref:
        (repo_folder / "refs").mkdir(exist_ok=True)
        (repo_folder / "refs" / ref).write_text(revision)
    return snapshot


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def project(tmp_path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


# --------------------------------------------------------------------------- locate

def test_local_folder_inside_the_project(project, tiny_unet):
    local = copy_folder(tiny_unet, project / "models" / "my-unet")
    assert models.locate("models/my-unet", project) == project.resolve() / "models" / "my-unet"
    assert models.locate("./models/my-unet/", project) == local.resolve()


def test_hub_model_found_offline_with_its_revision(project, hub, tiny_unet):
    snapshot = hub_cache_with(hub, "tiny-org/tiny-unet", tiny_unet)
    path = models.locate("tiny-org/tiny-unet", project)
    assert path == snapshot
    assert models.identity(path) == REVISION
    from diffusers import UNet2DModel

    model = models.load_safely(UNet2DModel.from_pretrained, path)
    assert sum(p.numel() for p in model.parameters()) > 0
    sample = torch.zeros(1, 3, 8, 8)
    assert model(sample, 1).sample.shape == (1, 3, 8, 8)


def test_hub_cache_from_hf_home(project, tmp_path, monkeypatch, tiny_unet):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    snapshot = hub_cache_with(tmp_path / "home" / "hub", "org/unet", tiny_unet)
    assert models.hub_cache() == tmp_path / "home" / "hub"
    assert models.locate("org/unet", project) == snapshot


def test_refs_main_picks_the_snapshot_and_at_revision_pins(project, hub, tiny_unet):
    old = "1" * 40
    hub_cache_with(hub, "org/unet", tiny_unet, revision=old, ref=None)
    hub_cache_with(hub, "org/unet", tiny_unet, revision=REVISION, ref="main")
    assert models.identity(models.locate("org/unet", project)) == REVISION
    assert models.identity(models.locate(f"org/unet@{old}", project)) == old


def test_project_folder_wins_over_the_hub(project, hub, tiny_unet):
    hub_cache_with(hub, "models/unet", tiny_unet)
    local = copy_folder(tiny_unet, project / "models" / "unet")
    assert models.locate("models/unet", project) == local.resolve()


@pytest.mark.parametrize("written", ["../outside", "/etc", "~/models/x", "models/../../outside"])
def test_paths_leaving_the_project_are_refused(project, written):
    (project.parent / "outside").mkdir(exist_ok=True)
    with pytest.raises(ModelNotFound) as caught:
        models.locate(written, project)
    assert "outside the project" in str(caught.value)


def test_symbolic_link_out_of_the_project_is_refused(project, tiny_unet):
    (project / "models").mkdir()
    (project / "models" / "linked").symlink_to(tiny_unet, target_is_directory=True)
    with pytest.raises(ModelNotFound, match="outside the project"):
        models.locate("models/linked", project)


def test_missing_model_names_every_place_and_the_fetch_command(project, hub):
    with pytest.raises(ModelNotFound) as caught:
        models.locate("some-org/some-model", project)
    message = str(caught.value)
    assert "'some-org/some-model' not found" in message
    assert str(project.resolve() / "some-org" / "some-model") in message
    assert str(hub / "models--some-org--some-model") in message
    assert "hf download some-org/some-model" in message
    assert "huggingface-cli download some-org/some-model" in message
    assert "HF_HOME" in message and "~/.cache/huggingface/hub" in message
    assert caught.value.fetch == "hf download some-org/some-model"
    assert caught.value.places == [project.resolve() / "some-org" / "some-model",
                                   hub / "models--some-org--some-model"]


def test_missing_local_folder_has_no_fetch_command(project, hub):
    with pytest.raises(ModelNotFound) as caught:
        models.locate("models/a/b", project)
    assert caught.value.fetch is None and "hf download" not in str(caught.value)
    assert str(project.resolve() / "models" / "a" / "b") in str(caught.value)


# --------------------------------------------------------------------------- broken folders

def test_pickle_only_folder_is_broken(project):
    folder = project / "models" / "pickled"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 4}')
    torch.save(torch.nn.Linear(2, 2).state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(ModelBroken) as caught:
        models.locate("models/pickled", project)
    assert "only as pickles" in str(caught.value) and "pytorch_model.bin" in str(caught.value)
    assert caught.value.problem == "pickles" and caught.value.path == folder.resolve()


def test_pipeline_part_with_only_pickles_is_broken(project, tiny_unet):
    folder = project / "pipe"
    copy_folder(tiny_unet, folder / "unet")
    (folder / "model_index.json").write_text('{"_class_name": "X"}')
    (folder / "text_encoder").mkdir()
    (folder / "text_encoder" / "config.json").write_text("{}")
    torch.save({}, folder / "text_encoder" / "pytorch_model.bin")
    with pytest.raises(ModelBroken, match="text_encoder/ has weights only as pickles"):
        models.locate("pipe", project)
    (folder / "text_encoder" / "model.safetensors").write_bytes((project / "pipe" / "unet" / "diffusion_pytorch_model.safetensors").read_bytes())
    assert models.locate("pipe", project).name == "pipe"      # pickles beside safetensors: fine


def test_corrupt_config_is_broken_not_a_traceback(project, tiny_unet):
    folder = copy_folder(tiny_unet, project / "models" / "bad")
    (folder / "config.json").write_text('{"sample_size": 8,')
    with pytest.raises(ModelBroken) as caught:
        models.locate("models/bad", project)
    assert "config.json is not readable JSON" in str(caught.value)
    from diffusers import UNet2DModel

    with pytest.raises(ModelBroken) as caught:       # the loader's own failure, one line
        models.load_safely(UNet2DModel.from_pretrained, folder)
    assert str(folder) in str(caught.value) and "loading failed" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_truncated_weights_fail_to_load_as_broken(project, tiny_unet):
    folder = copy_folder(tiny_unet, project / "truncated")
    weights = folder / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    assert models.locate("truncated", project) == folder.resolve()   # shapes are not checked here
    from diffusers import UNet2DModel

    with pytest.raises(ModelBroken, match="loading failed"):
        models.load_safely(UNet2DModel.from_pretrained, folder)


def test_folders_without_weights_or_config_are_broken(project):
    (project / "empty").mkdir()
    with pytest.raises(ModelBroken, match="no config.json or model_index.json"):
        models.locate("empty", project)
    (project / "empty" / "config.json").write_text("{}")
    with pytest.raises(ModelBroken, match="no weights"):
        models.locate("empty", project)


def test_interrupted_download_is_broken(project, hub, tiny_unet):
    snapshot = hub_cache_with(hub, "org/partial", tiny_unet)
    blob = (snapshot / "diffusion_pytorch_model.safetensors").resolve()
    blob.unlink()
    with pytest.raises(ModelBroken, match="incomplete download"):
        models.locate("org/partial", project)


def test_adapter_folders_need_no_config(project, hub, tiny_unet):
    weights = (tiny_unet / "diffusion_pytorch_model.safetensors").read_bytes()
    source = project / "adapter-src"
    source.mkdir()
    (source / "pytorch_lora_weights.safetensors").write_bytes(weights)
    snapshot = hub_cache_with(hub, "org/style-lora", source)
    with pytest.raises(ModelBroken) as caught:
        models.locate("org/style-lora", project)
    assert caught.value.problem == "config"
    assert models.locate("org/style-lora", project, adapter=True) == snapshot
    (source / "pytorch_lora_weights.safetensors").unlink()
    torch.save({}, source / "adapter.bin")
    with pytest.raises(ModelBroken) as caught:
        models.locate("adapter-src", project, adapter=True)
    assert caught.value.problem == "pickles"


def test_lora_files(project, tiny_unet):
    (project / "loras").mkdir()
    lora = project / "loras" / "style.safetensors"
    lora.write_bytes((tiny_unet / "diffusion_pytorch_model.safetensors").read_bytes())
    assert models.locate("loras/style.safetensors", project) == lora.resolve()
    assert models.identity(lora).startswith("sha256:")
    torch.save({}, project / "loras" / "style.pt")
    with pytest.raises(ModelBroken, match="pickle"):
        models.locate("loras/style.pt", project)


# --------------------------------------------------------------------------- identity

def test_local_identity_tracks_names_sizes_json_and_weight_samples(project, tiny_unet):
    folder = copy_folder(tiny_unet, project / "m")
    first = models.identity(folder)
    assert first.startswith("sha256:") and first == models.identity(folder)
    config = json.loads((folder / "config.json").read_text())
    config["sample_size"] = 16
    (folder / "config.json").write_text(json.dumps(config))
    second = models.identity(folder)
    assert second != first
    weights = folder / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF                                    # same size, different weights
    weights.write_bytes(bytes(data))
    assert models.identity(folder) != second
    (folder / "notes.txt").write_text("x")
    assert models.identity(folder) not in (first, second)


# --------------------------------------------------------------------------- device, dtype, loading

def test_device_and_dtype():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        assert models.pick_device("auto") in ("cpu", "mps")
        with pytest.raises(models.DeviceUnavailable, match="CUDA is not available"):
            models.pick_device("cuda")
    else:
        assert models.pick_device("auto") == expected
    assert models.pick_device("cpu") == "cpu"
    assert models.pick_dtype("auto", "cpu") == torch.float32
    assert models.pick_dtype("float16", "cpu") == torch.float16
    assert models.pick_dtype("bfloat16", "cuda") == torch.bfloat16
    with pytest.raises(ValueError):
        models.pick_dtype("fp8", "cpu")


def test_load_safely_passes_safe_flags_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    seen = {}

    def loader(path, **kwargs):
        seen.update(kwargs, path=path, offline=os.environ.get("HF_HUB_OFFLINE"))
        return "model"

    assert models.load_safely(loader, tmp_path, subfolder="unet") == "model"
    assert seen == {"path": str(tmp_path), "use_safetensors": True, "local_files_only": True,
                    "subfolder": "unet", "offline": "1"}
    assert "HF_HUB_OFFLINE" not in os.environ
    with pytest.raises(ValueError, match="trust_remote_code"):
        models.load_safely(loader, tmp_path, trust_remote_code=True)

    def failing(path, **kwargs):
        raise OSError("Error no file named diffusion_pytorch_model.safetensors found\nmore text")

    with pytest.raises(ModelBroken) as caught:
        models.load_safely(failing, tmp_path)
    assert str(caught.value) == (f"model at {tmp_path} cannot be used: loading failed: OSError: "
                                 f"Error no file named diffusion_pytorch_model.safetensors found")


# --------------------------------------------------------------------------- the manager

def linear() -> "torch.nn.Module":
    return torch.nn.Linear(10, 10)          # (100 + 10) float32 = 440 bytes


def test_manager_loads_once_and_records_stats():
    manager = ModelManager(device="cpu")
    loads = []

    def load():
        loads.append(1)
        return linear()

    first = manager.get("a", load)
    assert manager.get("a", load) is first and len(loads) == 1
    with manager.compute("a"):
        time.sleep(0.02)
        first(torch.zeros(1, 10))
    stats = manager.stats()["a"]
    assert stats["loads"] == 1 and stats["load_seconds"] >= 0
    assert stats["compute_seconds"] >= 0.02 and stats["peak_memory_bytes"] > 0
    assert stats["size_bytes"] == 440
    manager.close()
    assert manager.resident == [] and "a" not in manager


def test_manager_evicts_least_recently_used_under_a_budget():
    manager = ModelManager(device="cpu", budget_bytes=1000)
    counts = {}

    def loader(key):
        def load():
            counts[key] = counts.get(key, 0) + 1
            return linear()
        return load

    manager.get("a", loader("a"))
    manager.get("b", loader("b"))
    manager.get("a", loader("a"))               # a is now the most recently used
    manager.get("c", loader("c"))               # 3 × 440 > 1000: b goes
    assert manager.resident == ["a", "c"] and manager.used_bytes == 880
    assert manager.stats()["b"]["evictions"] == 1
    manager.get("b", loader("b"))               # loads again; a (least recent) goes
    assert counts == {"a": 1, "b": 2, "c": 1}
    assert manager.resident == ["c", "b"]
    with manager.compute("c"):
        pass
    manager.get("a", loader("a"))
    assert manager.resident == ["c", "a"]       # compute marked c as recently used
    assert manager.stats()["b"]["loads"] == 2


def test_a_model_bigger_than_the_budget_loads_alone():
    manager = ModelManager(device="cpu", budget_bytes=500)
    manager.get("a", linear)
    manager.get("big", lambda: torch.nn.Linear(100, 100))
    assert manager.resident == ["big"]


def test_sizes_of_pipelines_and_wrappers():
    shared = linear()

    class Pipeline:
        def __init__(self):
            self.components = {"unet": shared, "text_encoder": linear(), "tokenizer": object(),
                               "scheduler": None}

    class Wrapper:
        def __init__(self):
            self.model = shared
            self.processor = "tokenizer"

    assert models.size_of(Pipeline()) == 880
    assert models.size_of(Pipeline(), largest_only=True) == 440
    assert models.size_of(Wrapper()) == 440
    assert models.size_of((shared, shared, "processor")) == 440      # shared tensors count once
    assert models.size_of({"model": linear(), "other": 3}) == 440
    assert models.size_of("not a model") == 0
    module = torch.nn.BatchNorm1d(4)                                  # buffers count too
    assert models.size_of(module) == sum(t.numel() * t.element_size()
                                         for t in list(module.parameters()) + list(module.buffers()))


def test_offload_is_only_used_on_cuda():
    calls = []

    class Pipeline:
        components = {"unet": linear()}

        def enable_model_cpu_offload(self, **kwargs):
            calls.append(kwargs)

    manager = ModelManager(device="cpu", offload=True)
    manager.get("p", Pipeline)
    assert calls == []


def test_failed_load_is_not_resident():
    manager = ModelManager(device="cpu")

    def fail():
        raise ModelBroken(Path("x"), "no weights")

    with pytest.raises(ModelBroken):
        manager.get("a", fail)
    assert manager.resident == [] and manager.get("a", linear) is not None


# --------------------------------------------------------------------------- safetensors revisions

def test_an_unpinned_id_whose_main_has_pickles_only_is_told_its_revision(project, hub):
    """facebook/musicgen-medium's main holds pytorch_model.bin only; its safetensors are at
    refs/pr/10: the check names that revision, and the fetch line fetches it (files only)."""
    with pytest.raises(ModelNotFound) as caught:
        models.locate("facebook/musicgen-medium", project)
    assert 'name model = "facebook/musicgen-medium@refs/pr/10"' in str(caught.value)
    assert caught.value.fetch.startswith(
        "hf download facebook/musicgen-medium --revision refs/pr/10 --include")
    pickled = project / "pickled-main"
    pickled.mkdir()
    (pickled / "config.json").write_text('{"model_type": "musicgen"}')
    torch.save(torch.nn.Linear(2, 2).state_dict(), pickled / "pytorch_model.bin")
    hub_cache_with(hub, "facebook/musicgen-medium", pickled)
    with pytest.raises(ModelBroken) as caught:
        models.locate("facebook/musicgen-medium", project)
    assert caught.value.problem == "pickles"
    assert "pytorch_model.bin" in str(caught.value) and "@refs/pr/10" in str(caught.value)
    # pinned, or a repository without a known revision: the plain messages
    with pytest.raises(ModelNotFound) as caught:
        models.locate("facebook/musicgen-medium@refs/pr/10", project)
    assert caught.value.reason is None
    hub_cache_with(hub, "some-org/pickled", pickled)
    with pytest.raises(ModelBroken, match="only as pickles") as caught:
        models.locate("some-org/pickled", project)
    assert "name model" not in str(caught.value)
