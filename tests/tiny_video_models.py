"""Tiny random-weight video models that keep their real checkpoints' architecture (CPU, no
downloads): the same pipeline, model and scheduler classes, the same VAE compression factors,
patch sizes and frame-count rules, with tiny widths and depths.

- LTX-Video 0.9.x (Lightricks/LTX-Video): ``LTXPipeline`` declared in the folder;
  ``AutoencoderKLLTXVideo`` with patch size 4 and three spatio-temporal downsamplings (32×
  spatial, 8× temporal: frames 8k+1, sizes multiples of 32); transformer patch size 1; T5 text
  encoder; ``FlowMatchEulerDiscreteScheduler`` with dynamic shifting.
- Wan 2.1 I2V (Wan-AI/Wan2.1-I2V-14B-720P-Diffusers): ``WanImageToVideoPipeline`` with a CLIP
  image encoder; ``AutoencoderKLWan`` z_dim 16 (8× spatial, 4× temporal: frames 4k+1);
  transformer patch (1, 2, 2), in_channels 36 (noise + image latents + mask), image_dim = the
  CLIP width; UMT5 text encoder; UniPC flow-prediction scheduler, flow_shift 5.
- Wan 2.2 TI2V-5B (Wan-AI/Wan2.2-TI2V-5B-Diffusers): ``WanPipeline`` declared, with
  ``expand_timesteps``; its own VAE (z_dim 48, patch 2, 16× spatial); transformer in/out 48.

Each builder saves the pipeline with ``save_pretrained(safe_serialization=True)``; the tests
load it through the backends' real path.
"""

from __future__ import annotations

from pathlib import Path

from tiny_text import t5_tokenizer

TEXT_DIM = 32
LTX_LATENT = 8


def _t5_encoder(tokenizer, umt5: bool = False):
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    config_class, model_class = ((UMT5Config, UMT5EncoderModel) if umt5
                                 else (T5Config, T5EncoderModel))
    return model_class(config_class(vocab_size=len(tokenizer), d_model=TEXT_DIM, d_kv=8, d_ff=37,
                                    num_layers=1, num_heads=4, relative_attention_num_buckets=8,
                                    decoder_start_token_id=0))


def build_ltx(folder: Path, declared: str = "LTXPipeline") -> Path:
    """A tiny LTX-Video 0.9.x folder declaring ``LTXPipeline`` (text-to-video), as the real one;
    ``declared="LTXConditionPipeline"`` as the 0.9.5+ folders."""
    import diffusers
    import torch
    from diffusers import (AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler,
                           LTXVideoTransformer3DModel)

    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=LTX_LATENT,
        block_out_channels=(16, 16, 16, 16), decoder_block_out_channels=(16, 16, 16, 16),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False), upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False, patch_size=4, patch_size_t=1,
        encoder_causal=True, decoder_causal=False)
    transformer = LTXVideoTransformer3DModel(
        in_channels=LTX_LATENT, out_channels=LTX_LATENT, patch_size=1, patch_size_t=1,
        num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16, num_layers=1,
        caption_channels=TEXT_DIM)
    # Lightricks/LTX-Video scheduler/scheduler_config.json
    scheduler = FlowMatchEulerDiscreteScheduler(
        base_image_seq_len=1024, base_shift=0.95, max_image_seq_len=4096, max_shift=2.05,
        shift=1.0, shift_terminal=0.1, use_dynamic_shifting=True)
    tokenizer = t5_tokenizer()
    pipe = getattr(diffusers, declared)(scheduler=scheduler, vae=vae, tokenizer=tokenizer,
                                        text_encoder=_t5_encoder(tokenizer),
                                        transformer=transformer)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def _wan_scheduler():
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                   flow_shift=5.0)


def _wan_transformer(in_channels: int, out_channels: int, image_dim: int | None = None):
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
        in_channels=in_channels, out_channels=out_channels, text_dim=TEXT_DIM, freq_dim=256,
        ffn_dim=32, num_layers=1, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32, image_dim=image_dim)


def build_wan21_i2v(folder: Path) -> Path:
    """A tiny Wan 2.1 I2V folder: ``WanImageToVideoPipeline`` with its CLIP image encoder."""
    import torch
    from diffusers import AutoencoderKLWan, WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=16, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    image_width = 16
    image_encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=image_width, projection_dim=image_width, num_hidden_layers=2,
        num_attention_heads=2, image_size=32, intermediate_size=24, patch_size=8))
    image_processor = CLIPImageProcessor(crop_size=32, size=32)
    transformer = _wan_transformer(16 + 16 + 4, 16, image_dim=image_width)
    tokenizer = t5_tokenizer()
    pipe = WanImageToVideoPipeline(
        tokenizer=tokenizer, text_encoder=_t5_encoder(tokenizer, umt5=True), vae=vae,
        scheduler=_wan_scheduler(), image_processor=image_processor, image_encoder=image_encoder,
        transformer=transformer)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_wan22_ti2v(folder: Path) -> Path:
    """A tiny Wan 2.2 TI2V-5B folder: ``WanPipeline`` with ``expand_timesteps`` and the 16×
    VAE; its image-to-video runs through ``WanImageToVideoPipeline`` (no image encoder)."""
    import torch
    from diffusers import AutoencoderKLWan, WanPipeline

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=16, z_dim=48, in_channels=12, out_channels=12,
                           is_residual=True, patch_size=2, latents_mean=[0.0] * 48,
                           latents_std=[1.0] * 48, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           scale_factor_spatial=16, scale_factor_temporal=4,
                           temperal_downsample=[False, True, True])
    tokenizer = t5_tokenizer()
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=_t5_encoder(tokenizer, umt5=True),
                       vae=vae, scheduler=_wan_scheduler(),
                       transformer=_wan_transformer(48, 48), expand_timesteps=True)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_wan22_i2v_a14b(folder: Path) -> Path:
    """A tiny Wan 2.2 I2V-A14B folder: ``WanImageToVideoPipeline`` with two transformers (high-
    noise ``transformer``, low-noise ``transformer_2``) switched at ``boundary_ratio``, no image
    encoder, the 8× VAE of Wan 2.1."""
    import torch
    from diffusers import AutoencoderKLWan, WanImageToVideoPipeline

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=16, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    tokenizer = t5_tokenizer()
    pipe = WanImageToVideoPipeline(
        tokenizer=tokenizer, text_encoder=_t5_encoder(tokenizer, umt5=True), vae=vae,
        scheduler=_wan_scheduler(), transformer=_wan_transformer(16 + 16 + 4, 16),
        transformer_2=_wan_transformer(16 + 16 + 4, 16), boundary_ratio=0.9)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_wan21_t2v(folder: Path) -> Path:
    """A tiny Wan 2.1 T2V folder: ``WanPipeline`` whose transformer takes no image latents."""
    import torch
    from diffusers import AutoencoderKLWan, WanPipeline

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=16, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    tokenizer = t5_tokenizer()
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=_t5_encoder(tokenizer, umt5=True),
                       vae=vae, scheduler=_wan_scheduler(), transformer=_wan_transformer(16, 16))
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
