"""Tiny random-weight transformers audio models for the audio backends' tests (CPU, no downloads).

Each builder makes a model from a small config under a fixed torch seed (the sizes follow the
model testers in transformers' own tests: tests/models/{vits,musicgen,csm}), writes its
tokenizer or processor from a vocabulary made here, and ``save_pretrained``s both in
safetensors to a folder, which the tests load through the same backend code users run.

Audio models only; the visual builders live in tests/tiny_models.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from tiny_text import character_level, character_vocab

LETTERS = " abcdefghijklmnopqrstuvwxyz'"


def _random_codebooks(model) -> None:
    """Fill the audio codec's codebooks with random vectors. EnCodec and Mimi start them at
    zero (training initializes them by k-means), and a zero codebook decodes every code to the
    same sound: the tests could not tell one generation from another."""
    import torch

    generator = torch.Generator().manual_seed(1)
    for name, buffer in model.named_buffers():
        if name.endswith(("codebook.embed", "codebook.embed_avg", "codebook.embed_sum")):
            with torch.no_grad():
                buffer.copy_(torch.randn(buffer.shape, generator=generator))


def build_vits(folder: Path, *, num_speakers: int = 1, sampling_rate: int = 16000,
               stochastic: bool = True) -> Path:
    """A VITS / MMS-TTS model (~40 k parameters) reading characters, as MMS does: vocab.json
    holds the pad (blank) token, ``<unk>``, the space, the letters and the apostrophe."""
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, "<unk>": 1}
    for char in LETTERS:
        vocab[char] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), "utf-8")
    tokenizer = VitsTokenizer(str(folder / "vocab.json"), language="eng", add_blank=True,
                              normalize=True, phonemize=False)
    config = VitsConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        ffn_dim=32, flow_size=16, spectrogram_bins=8, depth_separable_channels=2,
        duration_predictor_num_flows=2, duration_predictor_filter_channels=16,
        prior_encoder_num_flows=2, prior_encoder_num_wavenet_layers=2,
        posterior_encoder_num_wavenet_layers=2, upsample_initial_channel=16,
        upsample_rates=[8, 2], upsample_kernel_sizes=[16, 4], resblock_kernel_sizes=[3, 7],
        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]], sampling_rate=sampling_rate,
        num_speakers=num_speakers, speaker_embedding_size=8 if num_speakers > 1 else 0,
        use_stochastic_duration_prediction=stochastic)
    torch.manual_seed(0)
    model = VitsModel(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _t5_tokenizer():
    """A T5 (Unigram) tokenizer: the specials, the space, whole words for the test prompts and
    every letter and digit, so any prompt tokenizes."""
    from transformers import T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [("\u2581" + word, -3.0) for word in
               "piano cello strings drums rain thunder door melancholic sparse slow fast bpm "
               "and a the of".split()]
    pieces += [(char, -5.0) for char in "abcdefghijklmnopqrstuvwxyz0123456789,.-'"]
    return T5TokenizerFast(vocab=pieces, extra_ids=0)


def build_musicgen(folder: Path, *, audio_channels: int = 1, max_positions: int = 512) -> Path:
    """A MusicGen model (~340 k parameters): a 2-layer T5 text encoder, a tiny EnCodec at
    32 kHz with facebook/encodec_32khz's hop (640 samples: 50 frames a second) and a 2-layer
    decoder over 4 codebooks (8 for stereo), plus its processor (T5 tokenizer + EnCodec
    feature extractor). ``max_positions`` bounds one generation (real models: 2048)."""
    import torch
    from transformers import (EncodecConfig, EncodecFeatureExtractor, MusicgenConfig,
                              MusicgenDecoderConfig, MusicgenForConditionalGeneration,
                              MusicgenProcessor, T5Config)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _t5_tokenizer()
    codebook_vocab = 99
    text = T5Config(vocab_size=len(tokenizer), d_model=16, d_ff=4, num_layers=2, num_heads=4,
                    d_kv=4)
    audio = EncodecConfig(hidden_size=codebook_vocab, compress=1, num_filters=4,
                          codebook_size=128, codebook_dim=codebook_vocab, sampling_rate=32000,
                          upsampling_ratios=[8, 5, 4, 4], audio_channels=1,
                          target_bandwidths=[2.2], normalize=False, use_causal_conv=False)
    decoder = MusicgenDecoderConfig(
        vocab_size=codebook_vocab, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
        ffn_dim=4, pad_token_id=codebook_vocab, decoder_start_token_id=codebook_vocab,
        bos_token_id=codebook_vocab, num_codebooks=4 * audio_channels, tie_word_embeddings=False,
        audio_channels=audio_channels, max_position_embeddings=max_positions)
    config = MusicgenConfig(text_encoder=text, audio_encoder=audio, decoder=decoder)
    torch.manual_seed(0)
    model = MusicgenForConditionalGeneration(config).eval()
    _random_codebooks(model.audio_encoder)
    # facebook/musicgen-*'s generation settings: sampling, top-k 250, guidance 3
    model.generation_config.do_sample = True
    model.generation_config.top_k = 250
    model.generation_config.guidance_scale = 3.0
    model.generation_config.max_length = max_positions
    model.save_pretrained(folder)
    feature_extractor = EncodecFeatureExtractor(feature_size=audio_channels, sampling_rate=32000,
                                                padding_value=0.0)
    processor = MusicgenProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)
    processor.save_pretrained(folder)
    return folder


def build_csm(folder: Path) -> Path:
    """A CSM model (~120 k parameters): 1-layer backbone and depth decoder over 4 codebooks
    (weights drawn wide, std 0.5, so that the tiny model's choices depend on its context) and
    a tiny Mimi codec with the real strides (24 kHz, 12.5 frames a second, as the processor
    assumes), plus its processor: a character-level tokenizer with CSM's special tokens and
    the EnCodec feature extractor at 24 kHz."""
    import torch
    from transformers import (CsmConfig, CsmForConditionalGeneration, CsmProcessor,
                              EncodecFeatureExtractor, PreTrainedTokenizerFast)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = character_vocab(
        ["<|begin_of_text|>", "<|end_of_text|>", "<|AUDIO|>", "<|audio_eos|>", "<unk>"],
        LETTERS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?-[]:;\"")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=character_level(vocab), bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>",
        pad_token="<|AUDIO|>", unk_token="<unk>",
        additional_special_tokens=["<|AUDIO|>", "<|audio_eos|>"])
    codebooks = 4
    config = CsmConfig(
        num_codebooks=codebooks, vocab_size=16, text_vocab_size=len(vocab), hidden_size=32,
        intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
        max_position_embeddings=512, initializer_range=0.5, bos_token_id=vocab["<|begin_of_text|>"],
        pad_token_id=vocab["<|AUDIO|>"], eos_token_id=None, audio_token_id=vocab["<|AUDIO|>"],
        audio_eos_token_id=vocab["<|audio_eos|>"], codebook_pad_token_id=15,
        codebook_eos_token_id=0,
        depth_decoder_config=dict(num_codebooks=codebooks, backbone_hidden_size=32, vocab_size=16,
                                  hidden_size=32, intermediate_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, num_key_value_heads=1,
                                  max_position_embeddings=codebooks + 1, initializer_range=0.5),
        codec_config=dict(model_type="mimi", audio_channels=1, hidden_size=16, num_filters=4,
                          num_residual_layers=1, upsampling_ratios=[8, 6, 5, 4],
                          codebook_size=16, vector_quantization_hidden_dimension=16,
                          codebook_dim=16, upsample_groups=16, num_hidden_layers=1,
                          num_attention_heads=2, num_key_value_heads=2, intermediate_size=32,
                          sliding_window=16, use_cache=False, num_quantizers=codebooks,
                          num_semantic_quantizers=1))
    torch.manual_seed(0)
    model = CsmForConditionalGeneration(config).eval()
    _random_codebooks(model.codec_model)
    model.save_pretrained(folder)
    feature_extractor = EncodecFeatureExtractor(feature_size=1, sampling_rate=24000,
                                                padding_value=0.0)
    CsmProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def build_stable_audio(folder: Path, *, window_frames: int = 64) -> Path:
    """A Stable Audio pipeline (diffusers' own tiny test sizes: 2-layer DiT, 4-dim
    conditioning), with an Oobleck VAE at 16 kHz and a 512-sample hop, so the DiT's window of
    ``window_frames`` latents is about 2 s; a T5 encoder and tokenizer as for MusicGen. The
    scheduler is EDM DPM-Solver (the real checkpoint's cosine one needs torchsde)."""
    import torch
    from diffusers import (AutoencoderOobleck, EDMDPMSolverMultistepScheduler, StableAudioDiTModel,
                           StableAudioPipeline, StableAudioProjectionModel)
    from transformers import T5Config, T5EncoderModel

    folder = Path(folder)
    tokenizer = _t5_tokenizer()
    tokenizer.model_max_length = 16
    torch.manual_seed(0)
    transformer = StableAudioDiTModel(
        sample_size=window_frames, in_channels=3, num_layers=2, attention_head_dim=4,
        num_key_value_attention_heads=2, out_channels=3, cross_attention_dim=4, time_proj_dim=8,
        global_states_input_dim=8, cross_attention_input_dim=4)
    scheduler = EDMDPMSolverMultistepScheduler(solver_order=2, prediction_type="v_prediction",
                                               sigma_data=1.0, sigma_schedule="exponential")
    torch.manual_seed(0)
    vae = AutoencoderOobleck(encoder_hidden_size=6, downsampling_ratios=[8, 8, 8],
                             decoder_channels=3, decoder_input_channels=3, audio_channels=2,
                             channel_multiples=[1, 2, 2], sampling_rate=16000)
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(T5Config(vocab_size=len(tokenizer), d_model=16, d_ff=16,
                                           num_layers=1, num_heads=2, d_kv=8))
    torch.manual_seed(0)
    projection_model = StableAudioProjectionModel(text_encoder_dim=16, conditioning_dim=4,
                                                  min_value=0, max_value=32)
    pipe = StableAudioPipeline(vae=vae, text_encoder=text_encoder,
                               projection_model=projection_model, tokenizer=tokenizer,
                               transformer=transformer, scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


# --------------------------------------------------------------------------- voice conversion

def build_speecht5_vc(folder: Path, *, speaker_embedding_dim: int = 32) -> Path:
    """A SpeechT5 voice conversion model (``SpeechT5ForSpeechToSpeech``, ~36 k parameters):
    1-layer encoder and decoder, the real speech prenet strides (16 kHz in, 50 encoder frames a
    second), 20 mel bins, reduction factor 2, weights drawn wider than the default (std 0.1) so
    that the prenet's dropout, hence the seed, visibly changes the output; plus its
    ``SpeechT5FeatureExtractor`` at 16 kHz. ``speaker_embedding_dim`` must equal the speaker
    encoder's x-vector size."""
    import torch
    from transformers import SpeechT5Config, SpeechT5FeatureExtractor, SpeechT5ForSpeechToSpeech

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = SpeechT5Config(
        vocab_size=81, hidden_size=32, encoder_layers=1, encoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32,
        conv_dim=(8,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, num_mel_bins=20,
        speech_decoder_prenet_units=16, speech_decoder_postnet_units=16,
        speech_decoder_postnet_layers=2, speaker_embedding_dim=speaker_embedding_dim,
        reduction_factor=2, max_speech_positions=1000, max_text_positions=64,
        encoder_max_relative_position=32, initializer_range=0.1)
    torch.manual_seed(0)
    model = SpeechT5ForSpeechToSpeech(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    SpeechT5FeatureExtractor(sampling_rate=16000, num_mel_bins=20).save_pretrained(folder)
    return folder


def build_speecht5_hifigan(folder: Path, *, mel_bins: int = 20) -> Path:
    """A SpeechT5 HiFi-GAN vocoder (~5 k parameters, std 0.2: audible levels) with the real one's
    hop (four 4x upsamplings: 256 samples a mel frame) at 16 kHz. Its config.json says ``"model_type": "hifigan"``, as
    microsoft/speecht5_hifigan's does (transformers itself now writes ``speecht5_hifigan``)."""
    import torch
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = SpeechT5HifiGanConfig(
        model_in_dim=mel_bins, sampling_rate=16000, upsample_initial_channel=16,
        upsample_rates=[4, 4, 4, 4], upsample_kernel_sizes=[8, 8, 8, 8],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], initializer_range=0.2)
    torch.manual_seed(0)
    vocoder = SpeechT5HifiGan(config).eval()
    with torch.no_grad():                       # the mel statistics the vocoder normalizes with
        vocoder.mean.normal_(0.0, 0.5)
        vocoder.scale.uniform_(0.5, 1.5)
    vocoder.save_pretrained(folder, safe_serialization=True)
    settings = json.loads((folder / "config.json").read_text("utf-8"))
    settings["model_type"] = "hifigan"
    (folder / "config.json").write_text(json.dumps(settings, indent=2), "utf-8")
    return folder


def build_wavlm_xvector(folder: Path, *, xvector_dim: int = 32) -> Path:
    """A WavLM speaker verification model (``WavLMForXVector``, ~12 k parameters) with the real
    feature encoder strides and x-vectors of ``xvector_dim`` values, plus its
    ``Wav2Vec2FeatureExtractor`` at 16 kHz."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = WavLMConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, num_buckets=32,
        max_bucket_distance=64, tdnn_dim=(16, 16, 32), tdnn_kernel=(5, 3, 1),
        tdnn_dilation=(1, 2, 1), xvector_output_dim=xvector_dim, num_labels=4)
    torch.manual_seed(0)
    model = WavLMForXVector(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                             do_normalize=True, return_attention_mask=True).save_pretrained(folder)
    return folder
