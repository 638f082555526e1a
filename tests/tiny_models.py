"""Tiny random-weight diffusers models for the visual backends' tests (CPU, no downloads).

Each builder makes the components from small configs under a fixed torch seed (as diffusers'
own ``get_dummy_components`` do), assembles the pipeline, and ``save_pretrained``s it in
safetensors to a folder, which the tests then load through the same backend code users run.
The CLIP tokenizer is built from a byte-level BPE vocabulary written here (the 256 byte
symbols, each also with the end-of-word suffix, plus CLIP's start and end tokens), so nothing
is fetched from the Hub.

Visual models only; audio builders live in their own helpers.
"""

from __future__ import annotations

import json
from pathlib import Path

from tiny_text import byte_symbols, t5_tokenizer

TEXT_DIM = 32          # the text encoder's hidden size = the UNets' cross-attention size


def write_clip_tokenizer(folder: Path) -> Path:
    """vocab.json + merges.txt of a tiny byte-level BPE tokenizer in CLIP's format."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    symbols = byte_symbols()
    tokens = list(symbols) + [s + "</w>" for s in symbols]
    merges = [("t", "h"), ("th", "e</w>"), ("o", "n</w>"), ("e", "r</w>"), ("a", "n")]
    tokens += [a + b for a, b in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), "utf-8")
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), "utf-8")
    return folder


def _tokenizer_and_text_encoder(scratch: Path):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(write_clip_tokenizer(scratch / "tokenizer-src")),
                                              model_max_length=77)
    torch.manual_seed(0)
    config = CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, hidden_size=TEXT_DIM, intermediate_size=37,
        layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=len(tokenizer), max_position_embeddings=77, projection_dim=TEXT_DIM)
    return tokenizer, CLIPTextModel(config)


def _tiny_vae():
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(block_out_channels=[8, 16], in_channels=3, out_channels=3,
                         down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                         up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
                         latent_channels=4, norm_num_groups=4, sample_size=32)


def build_text_to_image(folder: Path) -> Path:
    """A tiny StableDiffusionPipeline (2-level UNet, 2-level VAE: 2× down, 32-dim CLIP text)."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    folder = Path(folder)
    tokenizer, text_encoder = _tokenizer_and_text_encoder(folder.parent / f".{folder.name}-src")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=32, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=TEXT_DIM,
        attention_head_dim=2, norm_num_groups=4)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet, scheduler=scheduler, vae=_tiny_vae(),
                                   text_encoder=text_encoder, tokenizer=tokenizer,
                                   safety_checker=None, feature_extractor=None,
                                   image_encoder=None, requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_sdxl(folder: Path, prediction_type: str = "epsilon") -> Path:
    """A tiny StableDiffusionXLPipeline: SDXL's layout (two CLIP text encoders, the second with
    a projection; a UNet with ``text_time`` micro-conditioning and linear projections) at toy
    sizes; ``prediction_type`` "v_prediction" for the v-models of the family."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    folder = Path(folder)
    tokenizer, text_encoder = _tokenizer_and_text_encoder(folder.parent / f".{folder.name}-src")
    torch.manual_seed(1)
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**text_encoder.config.to_dict()))
    torch.manual_seed(0)
    time_dim = 8
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=32, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=2,
        use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=time_dim, transformer_layers_per_block=1,
        projection_class_embeddings_input_dim=6 * time_dim + TEXT_DIM,
        cross_attention_dim=2 * TEXT_DIM, norm_num_groups=4)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                       beta_schedule="scaled_linear", timestep_spacing="leading",
                                       prediction_type=prediction_type)
    pipe = StableDiffusionXLPipeline(vae=_tiny_vae(), text_encoder=text_encoder,
                                     text_encoder_2=text_encoder_2, tokenizer=tokenizer,
                                     tokenizer_2=tokenizer, unet=unet, scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_flux(folder: Path) -> Path:
    """A tiny FluxPipeline: FLUX.1's layout (CLIP + T5 text encoders, a FluxTransformer2DModel
    with double and single stream blocks, a VAE with shift and scale factors, flow matching) at
    toy sizes."""
    import torch
    from diffusers import (AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline,
                           FluxTransformer2DModel)
    from transformers import T5Config, T5EncoderModel

    folder = Path(folder)
    tokenizer, text_encoder = _tokenizer_and_text_encoder(folder.parent / f".{folder.name}-src")
    tokenizer_2 = t5_tokenizer()
    torch.manual_seed(0)
    t5 = T5EncoderModel(T5Config(vocab_size=len(tokenizer_2), d_model=TEXT_DIM, d_kv=8, d_ff=37,
                                 num_layers=2, num_heads=4, relative_attention_num_buckets=8))
    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=TEXT_DIM, pooled_projection_dim=TEXT_DIM,
        axes_dims_rope=[4, 4, 8])
    torch.manual_seed(0)
    vae = AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,),
                        layers_per_block=1, latent_channels=4, norm_num_groups=1,
                        use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609,
                        scaling_factor=1.5035)
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
                        text_encoder=text_encoder, tokenizer=tokenizer, text_encoder_2=t5,
                        tokenizer_2=tokenizer_2, transformer=transformer)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_image_to_image(model: Path, folder: Path) -> Path:
    """The tiny text-to-image model at ``model`` saved as an image-to-image pipeline."""
    from diffusers import StableDiffusionImg2ImgPipeline

    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(Path(model), use_safetensors=True,
                                                          local_files_only=True)
    pipe.save_pretrained(Path(folder), safe_serialization=True)
    return Path(folder)


def build_image_to_video(folder: Path) -> Path:
    """A tiny StableVideoDiffusionPipeline (image-conditioned, no text encoder)."""
    import torch
    from diffusers import (AutoencoderKLTemporalDecoder, EulerDiscreteScheduler,
                           StableVideoDiffusionPipeline, UNetSpatioTemporalConditionModel)
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    folder = Path(folder)
    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=8,
        out_channels=4, down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=16, num_attention_heads=4, num_frames=8,
        projection_class_embeddings_input_dim=3 * 8, addition_time_embed_dim=8)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        interpolation_type="linear", num_train_timesteps=1000, prediction_type="v_prediction",
        sigma_max=700.0, sigma_min=0.002, steps_offset=1, timestep_spacing="leading",
        timestep_type="continuous", use_karras_sigmas=True)
    torch.manual_seed(0)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                                       down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                                       latent_channels=4)
    torch.manual_seed(0)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=16, projection_dim=16, num_hidden_layers=1, num_attention_heads=2,
        image_size=224, intermediate_size=24, patch_size=32))
    feature_extractor = CLIPImageProcessor(crop_size=32, size=32)
    pipe = StableVideoDiffusionPipeline(vae=vae, image_encoder=image_encoder, unet=unet,
                                        scheduler=scheduler, feature_extractor=feature_extractor)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_text_to_video(folder: Path) -> Path:
    """A tiny TextToVideoSDPipeline (UNet3DConditionModel, 1-level VAE)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel

    folder = Path(folder)
    tokenizer, text_encoder = _tokenizer_and_text_encoder(folder.parent / f".{folder.name}-src")
    torch.manual_seed(0)
    unet = UNet3DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=32, in_channels=4,
        out_channels=4, down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), cross_attention_dim=TEXT_DIM,
        attention_head_dim=4, norm_num_groups=4)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=(8,), in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"], up_block_types=["UpDecoderBlock2D"],
                        latent_channels=4, sample_size=32, norm_num_groups=4)
    pipe = TextToVideoSDPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                 unet=unet, scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_lora(model: Path, target: Path, rank: int = 2, scale: float = 0.5) -> Path:
    """A random LoRA for the UNet of the tiny text-to-image model at ``model``, saved the way
    diffusers' training scripts save one (``pytorch_lora_weights.safetensors``)."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(Path(model) / "unet", use_safetensors=True,
                                                local_files_only=True)
    layers = random_lora(unet, ["to_q", "to_k", "to_v", "to_out.0"], rank, scale)
    StableDiffusionPipeline.save_lora_weights(Path(target), unet_lora_layers=layers,
                                              safe_serialization=True)
    return Path(target)


def random_lora(network, targets: list[str], rank: int, scale: float, seed: int = 1,
                naming: str = "diffusers") -> dict:
    """Give ``network`` (a diffusers UNet or transformer) a LoRA on the ``targets`` modules with
    random weights (``seed``, ``scale`` × N(0, 1)); its layers in diffusers' naming, as
    ``save_lora_weights`` takes them, or (``naming="peft"``) as PEFT names them
    (``….lora_A.weight``, what trainers outside diffusers write)."""
    import torch
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    network.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                   target_modules=targets))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in network.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    layers = get_peft_model_state_dict(network)
    return layers if naming == "peft" else convert_state_dict_to_diffusers(layers)


def build_ip_adapter(model: Path, target: Path, image_dim: int = 16) -> Path:
    """A random IP-Adapter (the basic kind: 4 image tokens) for the tiny text-to-image model at
    ``model``, with its CLIP image encoder, laid out as diffusers' ``load_ip_adapter`` reads it:
    ``ip-adapter.safetensors`` (``image_proj.*`` and ``ip_adapter.{id}.to_[kv]_ip.weight``,
    ids 1, 3, 5… over the UNet's cross-attention layers) beside ``image_encoder/``."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    target = Path(target)
    torch.manual_seed(0)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=image_dim, projection_dim=image_dim, num_hidden_layers=1,
        num_attention_heads=2, image_size=224, intermediate_size=24, patch_size=32))
    encoder.save_pretrained(target / "image_encoder", safe_serialization=True)
    unet = UNet2DConditionModel.from_pretrained(Path(model) / "unet", use_safetensors=True,
                                                local_files_only=True)
    cross = unet.config.cross_attention_dim
    channels = list(unet.config.block_out_channels)
    generator = torch.Generator().manual_seed(2)

    def weight(*shape):
        return torch.randn(shape, generator=generator) * 0.3

    tensors = {"image_proj.proj.weight": weight(cross * 4, image_dim),
               "image_proj.proj.bias": weight(cross * 4),
               "image_proj.norm.weight": torch.ones(cross), "image_proj.norm.bias": torch.zeros(cross)}
    key_id = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(channels))[int(name[len("up_blocks.")])]
        else:
            hidden = channels[int(name[len("down_blocks.")])]
        tensors[f"ip_adapter.{key_id}.to_k_ip.weight"] = weight(hidden, cross)
        tensors[f"ip_adapter.{key_id}.to_v_ip.weight"] = weight(hidden, cross)
        key_id += 2
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(target / "ip-adapter.safetensors"))
    return target


def wan22_ti2v_pipeline(real: bool = False):
    """A WanPipeline laid out as Wan 2.2 TI2V-5B (Wan-AI/Wan2.2-TI2V-5B-Diffusers): UMT5 text
    encoder, the Wan 2.2 VAE (48 latent channels, 2×2 patchified input, 16× spatial and 4×
    temporal compression, residual blocks), a WanTransformer3DModel with (1, 2, 2) patches over
    48 channels, ``expand_timesteps`` (per-token timesteps: the first frame can stay clean),
    UniPC flow-matching scheduler with shift 5. ``real``: the checkpoint's widths and depths
    (5 B transformer, UMT5-XXL encoder; random weights, for benchmarks on a GPU); else toy ones.
    Built on torch's current default device."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = t5_tokenizer()
    torch.manual_seed(0)
    if real:
        text = UMT5Config(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24,
                          num_heads=64, feed_forward_proj="gated-gelu",
                          relative_attention_num_buckets=32, relative_attention_max_distance=128)
        denoiser = dict(num_attention_heads=24, attention_head_dim=128, ffn_dim=14336,
                        num_layers=30, text_dim=4096, rope_max_seq_len=1024)
        vae_widths = dict(base_dim=160, decoder_base_dim=256, dim_mult=[1, 2, 4, 4],
                          num_res_blocks=2)
    else:
        text = UMT5Config(vocab_size=len(tokenizer), d_model=TEXT_DIM, d_kv=8, d_ff=37,
                          num_layers=2, num_heads=4, feed_forward_proj="gated-gelu",
                          relative_attention_num_buckets=8)
        denoiser = dict(num_attention_heads=2, attention_head_dim=12, ffn_dim=32, num_layers=2,
                        text_dim=TEXT_DIM, rope_max_seq_len=32)
        vae_widths = dict(base_dim=8, decoder_base_dim=8, dim_mult=[1, 1, 1, 1], num_res_blocks=1)
    text_encoder = UMT5EncoderModel(text)
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), in_channels=48, out_channels=48,
                                        freq_dim=256, cross_attn_norm=True, eps=1e-6,
                                        qk_norm="rms_norm_across_heads", **denoiser)
    torch.manual_seed(0)
    vae = AutoencoderKLWan(z_dim=48, temperal_downsample=[False, True, True], is_residual=True,
                           in_channels=12, out_channels=12, patch_size=2, scale_factor_spatial=16,
                           scale_factor_temporal=4, latents_mean=[0.0] * 48,
                           latents_std=[1.0] * 48, **vae_widths)
    with torch.device("cpu"):          # the scheduler's tables live on the CPU
        scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                            flow_shift=5.0, num_train_timesteps=1000)
    return WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
                       scheduler=scheduler, transformer=transformer, expand_timesteps=True)


def build_wan22_ti2v(folder: Path) -> Path:
    """The toy :func:`wan22_ti2v_pipeline`, saved as safetensors."""
    wan22_ti2v_pipeline().save_pretrained(Path(folder), safe_serialization=True)
    return Path(folder)
