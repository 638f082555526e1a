"""A tiny, random-weight LTX-2 (Lightricks/LTX-2) saved as a diffusers folder.

Same component classes as the real checkpoint's model_index.json (LTX2VideoTransformer3DModel,
AutoencoderKLLTX2Video, AutoencoderKLLTX2Audio, LTX2Vocoder, LTX2TextConnectors, a Gemma 3 text
encoder with a Gemma tokenizer, FlowMatchEulerDiscreteScheduler with dynamic shifting) and the
real geometry: the video VAE's patch size 4 and its four down stages (spatial, temporal,
spatiotemporal, spatiotemporal) give 32× spatial and 8× temporal compression, so frames are
8k+1 and sizes multiples of 32; the transformer patch is 1×1×1; the audio VAE compresses the mel
axis 4× and time 4× at 16 kHz / hop 160. Only widths and depths are tiny.
"""

from __future__ import annotations

from pathlib import Path

from tiny_text import ascii_unigram

TEXT_DIM = 16
TEXT_LAYERS = 2


def _gemma_tokenizer():
    """A tiny Gemma tokenizer: Gemma's special tokens and printable ASCII as a unigram vocab."""
    from transformers import GemmaTokenizerFast

    backend = ascii_unigram(["<pad>", "<eos>", "<bos>", "<unk>"], "<unk>")
    return GemmaTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>",
                              bos_token="<bos>", unk_token="<unk>", model_max_length=64)


def _gemma3(vocab_size: int):
    from transformers import (Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig,
                              SiglipVisionConfig)

    text = Gemma3TextConfig(vocab_size=vocab_size, hidden_size=TEXT_DIM, intermediate_size=32,
                            num_hidden_layers=TEXT_LAYERS, num_attention_heads=2,
                            num_key_value_heads=1, head_dim=8, max_position_embeddings=128,
                            sliding_window=32)
    vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                num_attention_heads=2, image_size=28, patch_size=14)
    config = Gemma3Config(text_config=text.to_dict(), vision_config=vision.to_dict(),
                          mm_tokens_per_image=4)
    return Gemma3ForConditionalGeneration(config)


def build_ltx2(folder: Path) -> Path:
    """A tiny LTX-2 folder; its model_index names LTX2Pipeline, as the real checkpoint's does."""
    import torch
    from diffusers import (AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video,
                           FlowMatchEulerDiscreteScheduler, LTX2Pipeline,
                           LTX2VideoTransformer3DModel)
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    folder = Path(folder)
    tokenizer = _gemma_tokenizer()
    torch.manual_seed(0)
    text_encoder = _gemma3(len(tokenizer))
    mel_bins, audio_latent_channels = 16, 2
    latent_mel_bins = mel_bins // 4
    torch.manual_seed(0)
    # as in the real config, base_channels is also the width of the packed latent
    # (latent channels × latent mel bins) whose mean/std the VAE stores
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=audio_latent_channels * latent_mel_bins, ch_mult=(1, 2, 4),
        num_res_blocks=1, latent_channels=audio_latent_channels, mel_bins=mel_bins,
        resolution=32, sample_rate=16000, mel_hop_length=160)
    torch.manual_seed(0)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2,
        attention_head_dim=8, cross_attention_dim=16,
        audio_in_channels=audio_latent_channels * latent_mel_bins,
        audio_out_channels=audio_latent_channels * latent_mel_bins, audio_num_attention_heads=2,
        audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2,
        qk_norm="rms_norm_across_heads", caption_channels=TEXT_DIM, rope_type="split",
        rope_double_precision=False)
    torch.manual_seed(0)
    connectors = LTX2TextConnectors(
        caption_channels=TEXT_DIM, text_proj_in_factor=TEXT_LAYERS + 1,
        video_connector_num_attention_heads=2, video_connector_attention_head_dim=8,
        video_connector_num_layers=1, video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=2, audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1, audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32, rope_theta=10000.0, rope_double_precision=False,
        causal_temporal_positioning=False, rope_type="split")
    torch.manual_seed(0)
    # the ratios are given, as the real config must give them: the class's fallback counts every
    # scaling stage as both spatial and temporal (64×/16×), but the stage types make 32×/8×
    vae = AutoencoderKLLTX2Video(
        latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 16, 32),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
        upsample_residual=(False, False, False), spatial_compression_ratio=32,
        temporal_compression_ratio=8)
    torch.manual_seed(0)
    vocoder = LTX2Vocoder(in_channels=2 * mel_bins, hidden_channels=64, out_channels=2,
                          output_sampling_rate=24000)
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
        max_image_seq_len=4096, shift_terminal=0.1)
    pipe = LTX2Pipeline(scheduler=scheduler, vae=vae, audio_vae=audio_vae,
                        text_encoder=text_encoder, tokenizer=tokenizer, connectors=connectors,
                        transformer=transformer, vocoder=vocoder)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def write_distilled_lora(model: Path, file: Path, seed: int = 1) -> Path:
    """A random LoRA for the tiny LTX-2 at ``model`` on its attention projections, saved as
    Lightricks publish LTX-2's (``ltx-2-19b-distilled-lora-384.safetensors``): PEFT names under
    ``diffusion_model.``, which diffusers' ``load_lora_weights`` converts."""
    from diffusers import LTX2VideoTransformer3DModel
    from safetensors.torch import save_file

    from tiny_models import random_lora

    transformer = LTX2VideoTransformer3DModel.from_pretrained(Path(model) / "transformer")
    layers = random_lora(transformer, ["to_q", "to_k", "to_v"], rank=4, scale=0.5, seed=seed,
                         naming="peft")
    save_file({f"diffusion_model.{name}": tensor.contiguous() for name, tensor in layers.items()},
              str(file))
    return file
