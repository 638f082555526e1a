"""Tiny random-weight keyframe models of today's open families, saved like the real checkpoints.

- ``build_flux2_klein``: black-forest-labs/FLUX.2-klein-4B's layout — Flux2KleinPipeline, a
  Flux2Transformer2DModel (patch size 1 on 2×2-patchified latents: 32 latent channels × 4 =
  128 input channels, four RoPE axes), an AutoencoderKLFlux2 with four blocks (8× spatial
  compression) and 32 latent channels, a Qwen3ForCausalLM text encoder read at hidden layers
  9, 18 and 27 (so 28 layers, joint attention width = 3 × its width), a Qwen2 tokenizer with a
  chat template, FlowMatchEulerDiscreteScheduler with dynamic shifting; distilled (no CFG).
- ``build_z_image``: Tongyi-MAI/Z-Image-Turbo's layout — ZImagePipeline, a
  ZImageTransformer2DModel (patch 2, 16 latent channels, three RoPE axes), FLUX.1's
  AutoencoderKL (four blocks: 8×, 16 channels, scaling 0.3611 / shift 0.1159), a Qwen3Model
  text encoder (second-to-last hidden state), a Qwen2 tokenizer, FlowMatchEulerDiscreteScheduler.

Widths and depths are toy-sized so a keyframe takes well under a second on a CPU. The layouts
follow diffusers' pipelines and their fast tests (tests/pipelines/flux2, tests/pipelines/z_image).
"""

from __future__ import annotations

from pathlib import Path

from tiny_models import random_lora
from tiny_text import byte_symbols

TEXT_WIDTH = 16
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
                 "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
                 "{% endif %}")


def _qwen_tokenizer():
    """A byte-level Qwen2 tokenizer (256 byte symbols, Qwen's chat markers, no merges)."""
    from transformers import Qwen2Tokenizer

    vocab = {symbol: index for index, symbol in enumerate(byte_symbols())}
    for special in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        vocab[special] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], pad_token="<|endoftext|>", unk_token=None)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _qwen3_config(layers: int):
    from transformers import Qwen3Config

    return Qwen3Config(hidden_size=TEXT_WIDTH, intermediate_size=16, num_hidden_layers=layers,
                       num_attention_heads=2, num_key_value_heads=2, head_dim=8,
                       vocab_size=259, max_position_embeddings=1024)


def build_flux2_klein(folder: Path) -> Path:
    import torch
    from diffusers import (AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler,
                           Flux2KleinPipeline, Flux2Transformer2DModel)
    from transformers import Qwen3ForCausalLM

    torch.manual_seed(0)
    text_encoder = Qwen3ForCausalLM(_qwen3_config(layers=28))   # read at layers 9, 18, 27
    torch.manual_seed(0)
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=128, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=3 * TEXT_WIDTH, timestep_guidance_channels=256,
        axes_dims_rope=[4, 4, 4, 4], guidance_embeds=False)
    torch.manual_seed(0)
    vae = AutoencoderKLFlux2(
        sample_size=32, in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 8, 8),
        layers_per_block=1, latent_channels=32, norm_num_groups=4)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True)
    pipe = Flux2KleinPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder,
                              tokenizer=_qwen_tokenizer(), transformer=transformer,
                              is_distilled=True)
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_z_image(folder: Path) -> Path:
    import torch
    from diffusers import (AutoencoderKL, FlowMatchEulerDiscreteScheduler, ZImagePipeline,
                           ZImageTransformer2DModel)
    from transformers import Qwen3Model

    torch.manual_seed(0)
    text_encoder = Qwen3Model(_qwen3_config(layers=2))
    torch.manual_seed(0)
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=32, n_layers=1,
        n_refiner_layers=1, n_heads=2, n_kv_heads=2, norm_eps=1e-5, qk_norm=True,
        cap_feat_dim=TEXT_WIDTH, rope_theta=256.0, t_scale=1000.0, axes_dims=[8, 4, 4],
        axes_lens=[256, 32, 32])
    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[8, 8, 8, 8],
        layers_per_block=1, latent_channels=16, norm_num_groups=4, sample_size=32,
        scaling_factor=0.3611, shift_factor=0.1159)
    pipe = ZImagePipeline(scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae,
                          text_encoder=text_encoder, tokenizer=_qwen_tokenizer(),
                          transformer=transformer)
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_transformer_lora(model: Path, target: Path, rank: int = 2, scale: float = 0.5) -> Path:
    """A random LoRA on the attention projections of the tiny model's transformer, saved as
    diffusers' training scripts save one (``pytorch_lora_weights.safetensors``)."""
    import diffusers

    index = __import__("json").loads((Path(model) / "model_index.json").read_text())
    pipeline_class = getattr(diffusers, index["_class_name"])
    transformer_class = getattr(diffusers, index["transformer"][1])
    transformer = transformer_class.from_pretrained(Path(model) / "transformer",
                                                    use_safetensors=True, local_files_only=True)
    layers = random_lora(transformer, ["to_q", "to_k", "to_v"], rank, scale)
    pipeline_class.save_lora_weights(Path(target), transformer_lora_layers=layers,
                                     safe_serialization=True)
    return Path(target)
