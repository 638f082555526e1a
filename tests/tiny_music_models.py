"""Tiny random-weight music models with the real checkpoints' classes and rules (CPU, seconds).

``build_ace_step`` follows ACE-Step 1.5 (diffusers' ``AceStepPipeline``, e.g.
ACE-Step/acestep-v15-xl-turbo-diffusers): a Qwen3 text encoder (whose token embeddings also
embed the lyrics), ``AceStepConditionEncoder`` (lyric and timbre encoders), the
``AceStepTransformer1DModel`` DiT over 64-channel latents with patch size 2 (its input: noise,
source latents and chunk mask, 3 × 64 channels), an ``AutoencoderOobleck`` at 48 kHz stereo with
the real downsampling ratios (2·4·4·6·10 = 1920 samples a latent: 25 latents a second) and a
``FlowMatchEulerDiscreteScheduler`` with ``num_train_timesteps=1, shift=1`` (the pipeline sets
its own sigmas). Only widths and depths are tiny."""

from __future__ import annotations

from pathlib import Path

from tiny_text import character_level, character_vocab

LETTERS = "abcdefghijklmnopqrstuvwxyz '"


def _word_tokenizer():
    """A character-level fast tokenizer with Qwen's end-of-text token (the pipeline appends it
    to the formatted lyrics) as its pad token."""
    from transformers import PreTrainedTokenizerFast

    vocab = character_vocab(["<|endoftext|>", "<unk>"],
                            LETTERS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?-[]:;#/\n\"")
    return PreTrainedTokenizerFast(tokenizer_object=character_level(vocab), eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>", unk_token="<unk>")


def _draw_wide(model, scale: float, generator, wider: tuple[str, ...] = ()) -> None:
    """Every weight of ``model`` drawn N(0, scale²) from ``generator`` (8× that in parameters
    named with ``wider``)."""
    import torch

    with torch.no_grad():
        for name, parameter in model.named_parameters():
            wide = 8.0 if any(part in name for part in wider) else 1.0
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale * wide)


def build_ace_step(folder: Path, *, turbo: bool = True) -> Path:
    import torch
    from diffusers import (AceStepConditionEncoder, AceStepPipeline, AceStepTransformer1DModel,
                           AutoencoderOobleck, FlowMatchEulerDiscreteScheduler)
    from transformers import Qwen3Config, Qwen3Model

    folder = Path(folder)
    tokenizer = _word_tokenizer()
    text_width, acoustic = 16, 64            # acoustic: the real latent width (Oobleck's)
    heads = dict(num_attention_heads=2, num_key_value_heads=1, head_dim=8)
    torch.manual_seed(0)
    text_encoder = Qwen3Model(Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=text_width, intermediate_size=32,
        num_hidden_layers=1, max_position_embeddings=4096, initializer_range=0.5, **heads))
    torch.manual_seed(0)
    condition_encoder = AceStepConditionEncoder(
        hidden_size=16, intermediate_size=32, text_hidden_dim=text_width,
        timbre_hidden_dim=acoustic, num_lyric_encoder_hidden_layers=1,
        num_timbre_encoder_hidden_layers=1, sliding_window=16, **heads)
    torch.manual_seed(0)
    transformer = AceStepTransformer1DModel(
        hidden_size=16, intermediate_size=32, num_hidden_layers=2, in_channels=3 * acoustic,
        audio_acoustic_hidden_dim=acoustic, patch_size=2, sliding_window=16,
        encoder_hidden_size=16, is_turbo=turbo, model_version="turbo" if turbo else None,
        **heads)
    torch.manual_seed(0)
    vae = AutoencoderOobleck(encoder_hidden_size=4, downsampling_ratios=[2, 4, 4, 6, 10],
                             channel_multiples=[1, 1, 1, 1, 1], decoder_channels=4,
                             decoder_input_channels=acoustic, audio_channels=2,
                             sampling_rate=48000)
    # at random init the tiny DiT averages its conditioning away and the VAE decoder answers
    # with its biases: draw their weights wide so the audio depends on the conditioning, as a
    # trained model's does
    generator = torch.Generator().manual_seed(1)
    for model, scale in ((condition_encoder, 0.6), (transformer, 0.3), (vae.decoder, 0.5)):
        _draw_wide(model, scale, generator, wider=("cross_attn.", "condition_embedder"))
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0)
    pipe = AceStepPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                           transformer=transformer, condition_encoder=condition_encoder,
                           scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_stable_audio_3(folder: Path) -> Path:
    """A Stable Audio 3 pipeline (diffusers' ``StableAudio3Pipeline``, e.g.
    stabilityai/stable-audio-3-medium): an encoder-only T5Gemma text encoder with a Gemma fast
    tokenizer, the duration embedder (0–384 s), ``StableAudio3DiTModel`` and the SAME autoencoder
    with the class defaults' compression (patch 256 × stride 16 = 4096 samples a latent, 44.1
    kHz stereo), and the distilled checkpoint's scheduler: flow-matching Euler with stochastic
    (re-noising) sampling. Only widths and depths are tiny."""
    import torch
    from diffusers import (AutoencoderSAME, FlowMatchEulerDiscreteScheduler,
                           StableAudio3DiTModel, StableAudio3DurationEmbedder, StableAudio3Pipeline)
    from transformers import GemmaTokenizerFast, T5GemmaConfig, T5GemmaEncoderModel

    folder = Path(folder)
    vocab = character_vocab(["<pad>", "<eos>", "<bos>", "<unk>"], LETTERS + ",.0123456789")
    tokenizer = GemmaTokenizerFast(tokenizer_object=character_level(vocab), pad_token="<pad>", eos_token="<eos>",
                                   bos_token="<bos>", unk_token="<unk>")
    width, latent = 16, 8
    module = dict(hidden_size=width, intermediate_size=32, num_hidden_layers=1,
                  num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                  vocab_size=len(vocab), initializer_range=0.5)
    torch.manual_seed(0)
    text_encoder = T5GemmaEncoderModel(T5GemmaConfig(encoder=module, decoder=module,
                                                     vocab_size=len(vocab),
                                                     is_encoder_decoder=False))
    torch.manual_seed(0)
    vae = AutoencoderSAME(patch_size=256, encoder_channels=8, encoder_c_mults=[2],
                          encoder_strides=[16], encoder_transformer_depths=[1],
                          latent_dim=latent, dim_heads=8, ff_mult=2, sampling_rate=44100)
    torch.manual_seed(0)
    transformer = StableAudio3DiTModel(io_channels=latent, embed_dim=width, depth=1, num_heads=2,
                                       cond_token_dim=width, global_cond_dim=width,
                                       local_add_cond_dim=latent + 1, timestep_features_dim=16,
                                       num_memory_tokens=2)
    torch.manual_seed(0)
    duration_embedder = StableAudio3DurationEmbedder(output_dim=width, fourier_dim=16)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():      # zero-initialised outputs (residual branches) drawn at random
        for model in (transformer, vae.decoder):
            for parameter in model.parameters():
                if not parameter.any():
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
        # and the DiT's cross-attention wide, so the prompt counts as in a trained model
        for name, parameter in transformer.named_parameters():
            if "cross_attn." in name and name.endswith("weight"):
                parameter.mul_(4.0)
    scheduler = FlowMatchEulerDiscreteScheduler(stochastic_sampling=True)
    pipe = StableAudio3Pipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                duration_embedder=duration_embedder, transformer=transformer,
                                scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
