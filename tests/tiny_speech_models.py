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
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (PocketTTSConfig, PocketTTSForConditionalGeneration,
                              PocketTTSProcessor, PreTrainedTokenizerFast)
    from transformers.models.pocket_tts.feature_extraction_pocket_tts import \
        PocketTTSFeatureExtractor

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specials = ["<unk>", "<pad>", *POCKET_PLACEHOLDERS.values()]
    vocab = {token: index for index, token in enumerate(specials)}
    for char in LETTERS:
        vocab[char] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>",
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
