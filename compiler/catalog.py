"""What a user needs to know before fetching a built-in profile's model: its licence, whether
the Hub gates it, how much it downloads and which files the pipeline loads.

One entry per Hugging Face repository the built-in profiles name (a test keeps them in step).
``moviola doctor`` prints :func:`download_command` for a missing one, so the user fetches the
pipeline's files only (a repository often also holds single-file checkpoints, fp8 variants or
other pipelines' weights, tens of GB the build never opens). docs/profiles.md's model table and
download lines are generated here: ``python -m moviola.compiler.catalog``.

Each fact says where it comes from (``verified``); what is not verified says so. Time and memory
figures live in compiler/estimate.py ``MODELS``. Pure: reads nothing, imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass

import re

from . import estimate
from .profiles import builtin_profiles, is_project_path

_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?")

# A diffusers pipeline folder: model_index.json, then per component its configs and weights
# (safetensors only; a component's pickles, onnx or flax files are left on the Hub).
_CONFIGS_ONLY = ("scheduler", "tokenizer", "processor", "feature_extractor")


def diffusers_files(*components: str) -> tuple[str, ...]:
    """The --include patterns of a diffusers pipeline made of ``components`` (folder names)."""
    patterns = ["model_index.json"]
    for component in components:
        if component in _CONFIGS_ONLY:
            patterns.append(f"{component}/*")
        else:
            patterns += [f"{component}/*.json", f"{component}/*.safetensors"]
    return tuple(patterns)


# A transformers model folder: its configs, tokenizer files and safetensors weights.
TRANSFORMERS_FILES = ("*.json", "*.txt", "*.model", "*.safetensors")


@dataclass(frozen=True, slots=True)
class Card:
    licence: str                    # the licence's name as the model card states it
    gated: bool | None              # True: accept the terms on the Hub first; None: not verified
    download_gb: float              # what download_command fetches, in GB
    include: tuple[str, ...]        # --include patterns of the files the pipeline loads
    verified: str                   # which facts were checked, and where
    size_verified: bool = False     # download_gb read on the Hub (else estimated)


CARDS: dict[str, Card] = {
    "black-forest-labs/FLUX.2-klein-4B": Card(
        "Apache-2.0", False, 16.0,
        diffusers_files("scheduler", "vae", "text_encoder", "tokenizer", "transformer"),
        "verified: model_index.json on main (Flux2KleinPipeline, is_distilled: guidance must "
        "stay ≤ 1), text_encoder/ 8.05 GB of safetensors (Qwen3ForCausalLM) on the Hub's tree "
        "page, licence in BFL's FLUX.2 README; the root's single-file checkpoint is left out; "
        "transformer size est. (4B, bf16); gating not verified"),
    "Tongyi-MAI/Z-Image-Turbo": Card(
        "Apache-2.0", None, 21.0,
        diffusers_files("scheduler", "vae", "text_encoder", "tokenizer", "transformer"),
        "verified on the Hub's pages: the id, licence apache-2.0, 6B, model_index.json "
        "(ZImagePipeline: Qwen3Model, Qwen2Tokenizer, ZImageTransformer2DModel, AutoencoderKL, "
        "FlowMatchEulerDiscreteScheduler), tokenizer/ files; size est. (6.15B transformer + "
        "Qwen3-4B, bf16); gating not verified"),
    "Lightricks/LTX-Video": Card(
        "LTX-Video licence (License.txt; the Hub says 'other')", False, 28.0,
        diffusers_files("scheduler", "text_encoder", "tokenizer", "transformer", "vae"),
        "verified on the Hub's tree pages: model_index.json (LTXPipeline: T5EncoderModel, "
        "LTXVideoTransformer3DModel 7.69 GB in two safetensors shards, AutoencoderKLLTXVideo), "
        "License.txt; the root's single-file checkpoints (ltx-video-2b-v0.9*.safetensors, 5.7 "
        "and 9.4 GB) are left out; text encoder size est.; gating not verified"),
    "Lightricks/LTX-2": Card(
        "LTX-2 Community License Agreement", None, 72.0,
        diffusers_files("scheduler", "vae", "audio_vae", "text_encoder", "tokenizer",
                        "connectors", "transformer", "vocoder")
        # the distilled LoRA final's lip-synced clips run with (options.lip_sync_lora)
        + ("ltx-2-19b-distilled-lora-384.safetensors",),
        "verified on the Hub: licence ltx-2-community-license-agreement; model_index.json "
        "(LTX2Pipeline: audio_vae, connectors, scheduler, text_encoder Gemma3ForConditional"
        "Generation, tokenizer, transformer, vae, vocoder; 'Diffusers Weights (#3)'); the "
        "distilled LoRA ltx-2-19b-distilled-lora-384.safetensors at the root, loaded by "
        "load_lora_weights (diffusers' LTX-2 docs); the root's single-file checkpoints (dev, "
        "distilled, fp8, upscalers) are left out; size est. (19B transformer + Gemma 3 12B, "
        "bf16, + the rank-384 LoRA, ~3.8B parameters); gating not verified"),
    "ACE-Step/acestep-v15-xl-turbo-diffusers": Card(
        "Apache-2.0", False, 12.0,
        diffusers_files("vae", "text_encoder", "tokenizer", "transformer", "condition_encoder",
                        "scheduler"),
        "verified: the official diffusers-format turbo (guidance-distilled: CFG off, 8 steps, "
        "shift 3) in diffusers' ace_step docs (huggingface/diffusers#13787); the XL DiT is 5B "
        "(hidden 2560, 32 layers: the XL base card); components: AceStepPipeline (audio "
        "tokenizer parts are optional, for repainting); licence from a mirror's card; size est."),
    "stabilityai/stable-audio-open-1.0": Card(
        "Stability AI Community License", True, 4.9,
        diffusers_files("vae", "text_encoder", "projection_model", "tokenizer", "transformer",
                        "scheduler"),
        "verified on mirrors' pages of this repository: model_index.json (StableAudioPipeline: "
        "projection_model, scheduler, text_encoder T5EncoderModel, tokenizer, transformer "
        "StableAudioDiTModel, vae AutoencoderOobleck), licence stable-audio-community; gated: "
        "the model card asks to accept the licence; the root's stable-audio-tools checkpoints are "
        "left out; size est."),
    "vibevoice/VibeVoice-1.5B-hf": Card(
        "MIT (not verified)", None, 5.4, ("*.json", "*.safetensors", "*.jinja"),
        "class: transformers VibeVoiceForConditionalGeneration (its docstrings name the id), "
        "generation settings (guidance 1.3, 10 diffusion steps) from transformers' conversion "
        "script; licence from Microsoft's VibeVoice release, gating and size est. (2.70B "
        "parameters counted at the real config, bf16)"),
    "vibevoice/VibeVoice-7B-hf": Card(
        "MIT (not verified)", None, 18.2, ("*.json", "*.safetensors", "*.jinja"),
        "the Hub page seen (\"Transformers-compatible version\"); class and settings as the 1.5B; "
        "gating not shown; size est. (9.08B parameters counted at the real config, bf16)"),
    "microsoft/speecht5_vc": Card(
        "MIT", False, 0.62, ("*.json", "model.safetensors", "spm_char.model"),
        "verified on the Hub's tree page of refs/pr/7: model.safetensors 621 MB, MIT; main holds "
        "pickles only",
        size_verified=True),
    "microsoft/speecht5_hifigan": Card(
        "MIT", False, 0.05, ("config.json", "model.safetensors"),
        "verified on the Hub's tree page of refs/pr/1: model.safetensors 50.6 MB, MIT",
        size_verified=True),
    "microsoft/wavlm-base-sv": Card(
        "not verified", False, 0.4, ("*.json", "model.safetensors"),
        "verified on the Hub's tree page of refs/pr/2: model.safetensors 404 MB (WavLMForXVector);"
        " licence not shown there",
        size_verified=True),
    "facebook/mms-tts-eng": Card(
        "CC-BY-NC-4.0", False, 0.15, ("*.json", "model.safetensors"),
        "verified on the Hub's tree page of main: model.safetensors 145 MB beside "
        "pytorch_model.bin (left out), vocab.json, tokenizer configs; CC-BY-NC-4.0",
        size_verified=True),
}


# Transformers repositories a profile may name whose `main` branch has the weights as pickles only,
# with the revision that holds them as safetensors (the Hub's conversion pull requests), each
# read on the Hub's tree pages. No built-in profile names these; a user profile that names one
# unpinned is told to pin it (runtime/models.py), and the fetch line fetches that revision.
# musicgen-small and the musicgen-stereo-* repositories have safetensors on main.
SAFETENSORS_REVISIONS = {
    "facebook/musicgen-medium": "refs/pr/10",   # model.safetensors 8.04 GB (SFconvertbot)
    "facebook/musicgen-large": "refs/pr/18",    # two safetensors shards, 9.99 + 3.73 GB
}


def safetensors_pin(repo_id: str) -> str | None:
    """``repo@revision`` for an unpinned id whose main branch has pickles only, else None."""
    repo, _, revision = repo_id.partition("@")
    if revision or repo not in SAFETENSORS_REVISIONS:
        return None
    return f"{repo}@{SAFETENSORS_REVISIONS[repo]}"


def download_command(repo_id: str) -> str:
    """``hf download REPO [--revision R] [--include …]``: the pipeline's files only, when the
    repository has a card here; the whole repository otherwise."""
    repo, _, revision = repo_id.partition("@")
    command = f"hf download {repo}" + (f" --revision {revision}" if revision else "")
    card = CARDS.get(repo)
    include = card.include if card is not None else (
        TRANSFORMERS_FILES if repo in SAFETENSORS_REVISIONS else ())
    if include:
        command += " --include " + " ".join(f'"{pattern}"' for pattern in include)
    return command


def hub_models(config) -> list[str]:
    """Every Hugging Face id a configuration names: its model and those of its options (a
    vocoder, a speaker encoder, a model per language…), with their revisions."""
    found = [config.model] if config.model and not is_project_path(config.model) else []

    def visit(value) -> None:
        if isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, str) and _REPO_ID.fullmatch(value) and not is_project_path(value):
            found.append(value)

    visit(dict(config.options))
    return list(dict.fromkeys(found))


def builtin_models() -> dict[str, dict[str, list[str]]]:
    """Hub id (with its revision) → {profile: [kinds]} for every model the built-ins name."""
    uses: dict[str, dict[str, list[str]]] = {}
    for name, profile in builtin_profiles().items():
        for kind, config in profile.models.items():
            for model in hub_models(config):
                uses.setdefault(model, {}).setdefault(name, []).append(kind)
    return uses


def _uses() -> dict[str, list[str]]:
    """Repository → "profile kind, kind" entries, for the docs."""
    out: dict[str, list[str]] = {}
    for model, by_profile in builtin_models().items():
        out.setdefault(model.partition("@")[0], []).extend(
            f"{name} {', '.join(kinds)}" for name, kinds in by_profile.items())
    return out


def _revisions() -> dict[str, str]:
    """Repository → the revision the built-ins pin, where they pin one."""
    return {model.partition("@")[0]: model.partition("@")[2]
            for model in builtin_models() if "@" in model}


def _settings(config) -> str:
    if config.model is None:
        return f"`{config.backend}`"
    parts = [f"`{config.backend}` `{config.model}`"]
    if config.steps:
        parts.append(f"{config.steps} steps")
    if config.guidance is not None:
        parts.append(f"guidance {config.guidance:g}")
    if config.resolution:
        parts.append(f"{config.resolution[0]}×{config.resolution[1]}")
    if config.frames:
        parts.append(f"{config.frames} frames")
    if config.dtype != "auto":
        parts.append(config.dtype)
    if config.batch_size > 1:
        parts.append(f"batch {config.batch_size}")
    parts += [f"{key} {value}" for key, value in config.options.items()]
    return ", ".join(parts)


def profiles_table() -> str:
    """docs/profiles.md's table of the built-in profiles, kind by kind."""
    profiles = builtin_profiles()
    out = ["| kind | " + " | ".join(f"`{name}`" for name in profiles) + " |",
           "|---" * (len(profiles) + 1) + "|"]
    kinds = next(iter(profiles.values())).models
    for kind in kinds:
        out.append(f"| {kind} | " + " | ".join(_settings(profile.models[kind])
                                               for profile in profiles.values()) + " |")
    return "\n".join(out) + "\n"


def markdown() -> str:
    """docs/profiles.md's model table and download lines (a test keeps the file in sync)."""
    uses = _uses()
    out = ["| model | used by | licence | gated | download | GPU memory | facts |",
           "|---|---|---|---|---|---|---|"]
    for repo, card in CARDS.items():
        gated = {True: "yes", False: "no", None: "not verified"}[card.gated]
        known = estimate.figures(repo)
        memory = f"{known.memory_gb:g} GB est." if known is not None else "-"
        out.append(f"| `{repo}` | {'; '.join(uses.get(repo, ['-']))} | {card.licence} | {gated} "
                   f"| {card.download_gb:g} GB{'' if card.size_verified else ' est.'} | {memory} "
                   f"| {card.verified} |")
    out += ["", "```"]
    revisions = _revisions()
    out += [download_command(f"{repo}@{revisions[repo]}" if repo in revisions else repo)
            for repo in CARDS]
    out += ["```"]
    return "\n".join(out) + "\n"


BEGIN, END = "<!-- generated by python -m moviola.compiler.catalog: {} -->", "<!-- end {} -->"
# docs/ file → its generated sections (name → the function that writes it)
GENERATED = {"profiles.md": {"profiles": profiles_table, "models": markdown},
             "benchmarks.md": {"model-figures": estimate.figures_markdown}}


def update(text: str, sections: dict | None = None) -> str:
    """``text`` (a docs/ file) with every generated section of ``sections`` (default: those of
    docs/profiles.md) rewritten."""
    for name, make in (GENERATED["profiles.md"] if sections is None else sections).items():
        begin, end = BEGIN.format(name), END.format(name)
        head, found, rest = text.partition(begin)
        if not found:
            raise ValueError(f"no {begin} in the file")
        _, found, tail = rest.partition(end)
        text = f"{head}{begin}\n{make()}{end}{tail}"
    return text


if __name__ == "__main__":
    import sys
    from pathlib import Path

    for name, sections in GENERATED.items():
        docs = Path(__file__).resolve().parents[1] / "docs" / name
        docs.write_text(update(docs.read_text(encoding="utf-8"), sections), encoding="utf-8")
        print(f"{docs}: generated sections rewritten", file=sys.stderr)
