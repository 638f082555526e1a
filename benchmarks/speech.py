"""The small neural voices at their real configurations, with random weights: seconds of compute
per second of speech (the real-time factor) on this machine.

- Pocket TTS (transformers' default config = the released English model: a 6-layer 1024-wide
  backbone, a 6-layer flow head, the 24 kHz codec): a voice prompt of 5 s, 40 text tokens, then
  ``FRAMES`` frames (EOS disabled: random weights would stop anywhere), decoded by the codec;
- MMS-TTS (``VitsConfig()`` = the facebook/mms-tts-* sizes): one 60-character line.

    python3 benchmarks/speech.py [THREADS]

Random weights cost the same compute as trained ones; only the stopping point differs.
"""

from __future__ import annotations

import sys
import time

FRAMES = 50            # 4 s of speech at 12.5 frames a second


def pocket_tts() -> None:
    import torch
    from transformers import (PocketTTSAudioTokenizerConfig, PocketTTSAudioTokenizerModel,
                              PocketTTSConfig, PocketTTSForConditionalGeneration)

    config = PocketTTSConfig()
    model = PocketTTSForConditionalGeneration(config).eval()
    codec = PocketTTSAudioTokenizerModel(PocketTTSAudioTokenizerConfig()).eval()
    count = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"Pocket TTS: backbone + flow head {count:.1f} M, codec "
          f"{sum(p.numel() for p in codec.parameters()) / 1e6:.1f} M parameters")
    rate = codec.config.sampling_rate
    with torch.inference_mode():
        start = time.perf_counter()
        voice = codec.encode(torch.randn(1, 1, 5 * rate)).latents.float()
        print(f"  encoding a 5 s voice: {time.perf_counter() - start:.2f} s (once per recording)")
        text = torch.randint(0, config.audio_prompt_token_id, (1, 40))
        ids = torch.cat([torch.tensor([[config.audio_prompt_bos_token_id]]),
                         torch.full((1, voice.shape[1]), config.audio_prompt_token_id), text,
                         torch.tensor([[config.audio_bos_token_id]])], 1)
        start = time.perf_counter()
        output = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                audio_prompt_latents=voice, do_sample=True, temperature=0.7,
                                max_new_tokens=FRAMES, min_frames_before_eos=FRAMES,
                                eos_threshold=1e9, frames_after_eos=torch.tensor([1]))
        generated = time.perf_counter() - start
        latents = output[0] if isinstance(output, list) else output.audio_latents[0]
        start = time.perf_counter()
        audio = codec.decode(latents[None]).audio_values
        decoded = time.perf_counter() - start
    seconds = audio.shape[-1] / rate
    print(f"  {seconds:.2f} s of speech: generate {generated:.2f} s + decode {decoded:.2f} s "
          f"→ real-time factor {(generated + decoded) / seconds:.3f}")


def mms_tts() -> None:
    import torch
    from transformers import VitsConfig, VitsModel

    config = VitsConfig()
    model = VitsModel(config).eval()
    print(f"MMS-TTS (VITS): {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters")
    ids = torch.randint(1, config.vocab_size, (1, 60))
    with torch.inference_mode():
        model(ids)                                            # warm-up
        start = time.perf_counter()
        waveform = model(ids).waveform
        spent = time.perf_counter() - start
    seconds = waveform.shape[-1] / config.sampling_rate
    print(f"  {seconds:.2f} s of speech in {spent:.2f} s → real-time factor "
          f"{spent / seconds:.3f}")


def main() -> None:
    import torch

    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    torch.manual_seed(0)
    print(f"{torch.get_num_threads()} torch thread(s), CPU")
    pocket_tts()
    mms_tts()


if __name__ == "__main__":
    main()
