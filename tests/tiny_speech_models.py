"""Tiny random-weight speech models for tests: the real checkpoints' classes and codec
structure, tiny widths, saved as safetensors into a project folder.

Pocket TTS (kyutai's, as converted for transformers: ``PocketTTSForConditionalGeneration`` +
``PocketTTSAudioTokenizerModel``): the codec keeps the real strides (24 kHz, SEANet ratios
[6, 5, 4] and a latent stride of 16: 1920 samples a latent frame, 12.5 frames a second) and the
real 32-value latents; the backbone and the flow head (LSD, as the released English model) are
one layer of width 32 and 16 instead of 6 × 1024 and 6 × 512. The tokenizer is character-level
(the real one is a 4000-unit SentencePiece) with the real checkpoint's four audio placeholders,
as named attributes of a fast tokenizer, and a chat template with the layout the processor
documents: voice BOS, the voice, the text, the first audio position.
"""

from __future__ import annotations

from pathlib import Path

from tiny_text import character_level, character_vocab

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,!?'-;:\""
POCKET_PLACEHOLDERS = {"audio_prompt_bos_token": "<|voice_bos|>",
                       "audio_prompt_token": "<|voice|>",
                       "audio_bos_token": "<|audio_bos|>",
                       "audio_latent_token": "<|latent|>"}
POCKET_TEMPLATE = ("{%- for message in messages -%}{%- for item in message['content'] -%}"
                   "{%- if item['type'] == 'audio' -%}<|voice_bos|><|voice|>"
                   "{%- elif item['type'] == 'text' -%}{{ item['text'] }}{%- endif -%}"
                   "{%- endfor -%}{%- endfor -%}<|audio_bos|>")


def build_pocket_tts_codec(folder: Path) -> Path:
    """The Pocket TTS audio tokenizer (~20 k parameters) at the real strides and latent size."""
    import torch
    from transformers import PocketTTSAudioTokenizerConfig, PocketTTSAudioTokenizerModel

    config = PocketTTSAudioTokenizerConfig(
        sampling_rate=24000, upsampling_ratios=[6, 5, 4], latent_stride=16, latent_dim=32,
        hidden_size=16, num_filters=4, upsample_groups=16, num_hidden_layers=1,
        intermediate_size=32, num_attention_heads=2, num_key_value_heads=2, sliding_window=16)
    torch.manual_seed(1)
    codec = PocketTTSAudioTokenizerModel(config).eval()
    codec.save_pretrained(Path(folder), safe_serialization=True)
    return Path(folder)


def build_pocket_tts(folder: Path, codec_folder: Path | None = None) -> Path:
    """A Pocket TTS model (~40 k parameters) and its processor files; its codec goes to
    ``codec_folder`` (its own model, as on the Hub), which the processor does not name: the
    backend is given it as ``options.audio_tokenizer``."""
    import torch
    from transformers import (PocketTTSConfig, PocketTTSForConditionalGeneration,
                              PocketTTSProcessor, PreTrainedTokenizerFast)
    from transformers.models.pocket_tts.feature_extraction_pocket_tts import \
        PocketTTSFeatureExtractor

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = character_vocab(["<unk>", "<pad>", *POCKET_PLACEHOLDERS.values()], LETTERS)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=character_level(vocab), unk_token="<unk>",
                                        pad_token="<pad>", padding_side="left",
                                        extra_special_tokens=dict(POCKET_PLACEHOLDERS))
    ids = {name: vocab[token] for name, token in POCKET_PLACEHOLDERS.items()}
    config = PocketTTSConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, latent_dim=32, max_position_embeddings=1024,
        pad_token_id=vocab["<pad>"], frame_rate=12.5,
        audio_prompt_bos_token_id=ids["audio_prompt_bos_token"],
        audio_prompt_token_id=ids["audio_prompt_token"],
        audio_bos_token_id=ids["audio_bos_token"],
        audio_latent_token_id=ids["audio_latent_token"],
        # weights drawn wide, so that the tiny model's latents depend on the voice and text
        initializer_range=0.5,
        flow_head_config=dict(hidden_size=16, num_hidden_layers=1, latent_dim=32,
                              condition_dim=32, frequency_embedding_size=16, flow_type="lsd"))
    torch.manual_seed(0)
    model = PocketTTSForConditionalGeneration(config).eval()
    # the released checkpoints' generation config returns padded latents and their mask
    model.generation_config.return_dict_in_generate = True
    model.generation_config.do_sample = True
    model.generation_config.temperature = 0.7
    model.save_pretrained(folder, safe_serialization=True)
    codec_folder = Path(codec_folder) if codec_folder else folder.parent / f"{folder.name}-codec"
    build_pocket_tts_codec(codec_folder)
    PocketTTSProcessor(PocketTTSFeatureExtractor(sampling_rate=24000), tokenizer,
                       chat_template=POCKET_TEMPLATE).save_pretrained(folder)
    return folder


def write_voice(path: Path, seconds: float, start: float, end: float, *, pad: float = 0.3,
                rate: int = 16000, harmonics: int = 5) -> Path:
    """A voiced-sounding recording: ``harmonics`` harmonics of a pitch gliding from ``start``
    to ``end`` Hz, a 3 Hz syllable rhythm, ``pad`` seconds of silence on each side."""
    import numpy as np

    from moviola.runtime.audio_io import write_wav

    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(start + (end - start) * t / seconds) / rate
    voice = sum(0.3 / k * np.sin(k * phase) for k in range(1, harmonics + 1))
    voice = voice * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) * np.minimum(
        1.0, np.minimum(t, seconds - t) / 0.02)
    silence = np.zeros(int(pad * rate))
    write_wav(path, np.concatenate([silence, voice, silence]).astype(np.float32), rate)
    return Path(path)


# VibeVoice's prompt layout (the converted checkpoints' chat template, in our words): a system
# line, the voice of each speaker that has one, the turns' text, then the first audio position.
VIBEVOICE_TEMPLATE = (
    "{%- set ns = namespace(voiced=[]) -%}"
    "{%- for message in messages -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'audio' and message['role'] not in ns.voiced -%}"
    "{%- set ns.voiced = ns.voiced + [message['role']] -%}{%- endif -%}"
    "{%- endfor -%}{%- endfor -%}"
    " Transform the text provided by various speakers into speech output, utilizing the "
    "distinct voice of each respective speaker.\n"
    "{%- if ns.voiced %} Voice input:\n"
    "{%- for speaker in ns.voiced %} Speaker {{ speaker }}:<|vision_start|><|vision_pad|>"
    "<|vision_end|>\n{%- endfor -%}{%- endif %} Text input:\n"
    "{%- for message in messages -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'text' %} Speaker {{ message['role'] }}: {{ item['text'] }}\n"
    "{%- endif -%}{%- endfor -%}{%- endfor %} Speech output:\n<|vision_start|>")


def build_vibevoice(folder: Path) -> Path:
    """A VibeVoice model (~4 M parameters, most in the codecs' last stages) and its processor:
    the acoustic and semantic codecs at the real strides (24 kHz, ratios 2·2·4·5·5·8 = 3200
    samples a frame, 7.5 frames a second) and latent sizes (64 and 128), one ConvNeXt block a
    stage instead of 3 (8 last); a one-layer Qwen2 of width 32 and a one-layer diffusion head;
    greedy tokens and guidance 1.3 as the converted checkpoints, and transformers' default
    scheduler (DPM-Solver, v-prediction, squared-cosine betas). A character-level tokenizer with
    Qwen2's vision tokens as the audio markers.

    The language model only chooses among end-of-text, audio start/end and "next audio frame";
    its head is zeroed, so that the tie goes to the lowest id, "next audio frame": the tiny
    model speaks until its frame budget (random weights would stop anywhere)."""
    import torch
    from transformers import (PreTrainedTokenizerFast, VibeVoiceConfig,
                              VibeVoiceForConditionalGeneration, VibeVoiceProcessor)
    from transformers.models.vibevoice_acoustic_tokenizer import \
        feature_extraction_vibevoice_acoustic_tokenizer as vibevoice_features

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = character_vocab(
        ["<|vision_pad|>", "<|endoftext|>", "<|vision_start|>", "<|vision_end|>", "<unk>"],
        LETTERS + "\n")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=character_level(vocab), unk_token="<unk>", pad_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        additional_special_tokens=["<|vision_start|>", "<|vision_end|>", "<|vision_pad|>"])
    # weights drawn wide (and the codec blocks' layer scale at 1) so that the voice shows
    codec = dict(num_filters=4, downsampling_ratios=[2, 2, 4, 5, 5, 8],
                 depths=[1, 1, 1, 1, 1, 1, 1], layer_scale_init_value=1.0, initializer_range=0.2)
    config = VibeVoiceConfig(
        text_config=dict(model_type="qwen2", vocab_size=len(vocab), hidden_size=32,
                         intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=2048,
                         tie_word_embeddings=True, initializer_range=0.5),
        audio_config=dict(model_type="vibevoice_acoustic_tokenizer", hidden_size=64, **codec),
        semantic_model_config=dict(model_type="vibevoice_acoustic_tokenizer_encoder",
                                   hidden_size=128, **codec),
        diffusion_head_config=dict(num_hidden_layers=1, intermediate_size=64,
                                   frequency_embedding_size=16),
        initializer_range=0.5, pad_token_id=vocab["<|endoftext|>"],
        eos_token_id=vocab["<|endoftext|>"], audio_bos_token_id=vocab["<|vision_start|>"],
        audio_eos_token_id=vocab["<|vision_end|>"], audio_token_id=vocab["<|vision_pad|>"])
    torch.manual_seed(0)
    model = VibeVoiceForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.lm_head.weight.zero_()
    model.generation_config.do_sample = False
    model.generation_config.guidance_scale = 1.3
    model.save_pretrained(folder, safe_serialization=True)
    VibeVoiceProcessor(vibevoice_features.VibeVoiceAcousticTokenizerFeatureExtractor(
                           sampling_rate=24000), tokenizer,
                       chat_template=VIBEVOICE_TEMPLATE).save_pretrained(folder)
    return folder
