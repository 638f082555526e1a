"""The tiny tokenizers the tiny_*.py model builders share, built from vocabularies made here (no
Hub): the byte symbols of byte-level BPE (CLIP, Qwen2), a unigram over printable ASCII (T5,
Gemma) and a character-level vocabulary (the speech and music models' processors)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def byte_symbols() -> tuple[str, ...]:
    """GPT-2/CLIP's printable stand-ins for the 256 byte values (``bytes_to_unicode``)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    by_byte = dict(zip(printable, codes))
    return tuple(chr(by_byte[b]) for b in range(256))


def ascii_unigram(specials: list[str], unk_token: str):
    """A SentencePiece-like unigram model (``tokenizers.Tokenizer``): the special tokens, then
    every printable ASCII character, split and joined on the metaspace as T5's and Gemma's are."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = [(token, 0.0) for token in specials] + [(chr(c), -1.0) for c in range(32, 127)]
    backend = Tokenizer(models.Unigram(vocab, unk_id=specials.index(unk_token)))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    return backend


def t5_tokenizer():
    """A tiny T5 tokenizer: a unigram vocabulary of T5's special tokens and printable ASCII."""
    from transformers import T5TokenizerFast

    return T5TokenizerFast(tokenizer_object=ascii_unigram(["<pad>", "</s>", "<unk>"], "<unk>"),
                           eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=0)


def character_vocab(specials: list[str], chars: str) -> dict[str, int]:
    """Token ids: the special tokens first, in order, then each character once."""
    vocab = {token: index for index, token in enumerate(specials)}
    for char in chars:
        vocab.setdefault(char, len(vocab))
    return vocab


def character_level(vocab: dict[str, int]):
    """A character-level model over ``vocab`` (``tokenizers.Tokenizer``): every character is a
    token, an unknown one ``<unk>``; decoding joins them back."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    backend.decoder = decoders.Fuse()
    return backend
