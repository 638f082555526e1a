"""VITS (MMS-TTS) synthesis with each job's own noise, so a batch renders what its jobs would alone.

VITS draws its noise inside ``forward`` from torch's global generator; this runs the model's own
modules (text encoder, duration predictor, flow, vocoder) with per-job generators and lengths."""

from __future__ import annotations

import json
from pathlib import Path

from moviola.runtime import models as store
from moviola.runtime.backends.audio_base import device_of


def check_phonemizer(path: Path) -> None:
    """VITS checkpoints trained on phonemes (e.g. kakao-enterprise/vits-*) need the phonemizer
    package and espeak; say so before any model loads. MMS-TTS models read characters."""
    try:
        settings = json.loads((path / "tokenizer_config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return
    if settings.get("phonemize"):
        try:
            import phonemizer  # noqa: F401
        except ImportError:
            raise store.ModelBroken(path, "its tokenizer phonemizes text, and the `phonemizer` "
                                    "package is not installed here (pip install phonemizer; it "
                                    "also needs espeak-ng); MMS-TTS models need neither") from None


def vits_synthesize(model, input_ids, attention_mask, *, generators, speaking_rates,
                    noise_scales, noise_scale_durations, speaker_ids=None) -> list:
    """VITS inference over a batch with per-row noise, speaking rate and noise scales.

    The same computation as ``VitsModel.forward`` (transformers), except that every row draws
    its noise from its own generator, at its own lengths, and the vocoder runs per row on the
    row's unpadded spectrogram: a row renders the same alone or in any batch. Returns one float32
    waveform per row (None for a row without tokens)."""
    import torch
    from torch import nn

    config = model.config
    device = device_of(model)
    dtype = model.text_encoder.embed_tokens.weight.dtype
    batch = input_ids.shape[0]
    input_ids = input_ids.to(device)
    attention_mask = attention_mask.to(device)
    lengths_in = attention_mask.sum(-1).tolist()
    input_padding_mask = attention_mask.unsqueeze(-1).to(dtype)

    speaker = None
    if config.num_speakers > 1 and speaker_ids is not None:
        speaker = model.embed_speaker(torch.tensor(speaker_ids, device=device)).unsqueeze(-1)

    encoded = model.text_encoder(input_ids=input_ids, padding_mask=input_padding_mask,
                                 attention_mask=attention_mask, return_dict=True)
    hidden_states = encoded.last_hidden_state.transpose(1, 2)
    input_padding_mask = input_padding_mask.transpose(1, 2)
    prior_means, prior_log_variances = encoded.prior_means, encoded.prior_log_variances

    def noise(generator, channels: int, length: int, full: int):
        drawn = torch.randn((channels, length), generator=generator, device=device,
                            dtype=torch.float32).to(dtype)
        return nn.functional.pad(drawn, (0, full - length))

    if config.use_stochastic_duration_prediction:
        scales = torch.tensor(noise_scale_durations, device=device, dtype=dtype).view(-1, 1, 1)
        latents = torch.stack([noise(g, 2, n, input_ids.shape[1])
                               for g, n in zip(generators, lengths_in)]) * scales
        log_duration = _stochastic_log_duration(model.duration_predictor, hidden_states,
                                                input_padding_mask, speaker, latents)
    else:
        log_duration = model.duration_predictor(hidden_states, input_padding_mask, speaker)

    length_scale = 1.0 / torch.tensor(speaking_rates, device=device, dtype=dtype).view(-1, 1, 1)
    duration = torch.ceil(torch.exp(log_duration) * input_padding_mask * length_scale)
    predicted_lengths = torch.clamp_min(torch.sum(duration, [1, 2]), 1).long()

    indices = torch.arange(predicted_lengths.max(), dtype=predicted_lengths.dtype, device=device)
    output_padding_mask = indices.unsqueeze(0) < predicted_lengths.unsqueeze(1)
    output_padding_mask = output_padding_mask.unsqueeze(1).to(input_padding_mask.dtype)

    attn_mask = torch.unsqueeze(input_padding_mask, 2) * torch.unsqueeze(output_padding_mask, -1)
    _, _, output_length, input_length = attn_mask.shape
    cum_duration = torch.cumsum(duration, -1).view(batch * input_length, 1)
    indices = torch.arange(output_length, dtype=duration.dtype, device=device)
    valid_indices = indices.unsqueeze(0) < cum_duration
    valid_indices = valid_indices.to(attn_mask.dtype).view(batch, input_length, output_length)
    padded_indices = valid_indices - nn.functional.pad(valid_indices, [0, 0, 1, 0, 0, 0])[:, :-1]
    attn = padded_indices.unsqueeze(1).transpose(2, 3) * attn_mask

    prior_means = torch.matmul(attn.squeeze(1), prior_means).transpose(1, 2)
    prior_log_variances = torch.matmul(attn.squeeze(1), prior_log_variances).transpose(1, 2)
    frames = predicted_lengths.tolist()
    scales = torch.tensor(noise_scales, device=device, dtype=dtype).view(-1, 1, 1)
    prior_noise = torch.stack([noise(g, prior_means.shape[1], n, output_length)
                               for g, n in zip(generators, frames)]) * scales
    prior_latents = prior_means + prior_noise * torch.exp(prior_log_variances)
    latents = model.flow(prior_latents, output_padding_mask, speaker, reverse=True)
    spectrogram = latents * output_padding_mask

    waves: list = []
    for row in range(batch):
        if lengths_in[row] == 0:
            waves.append(None)
            continue
        conditioning = speaker[row:row + 1] if speaker is not None else None
        wave = model.decoder(spectrogram[row:row + 1, :, :frames[row]], conditioning)
        waves.append(wave[0, 0].float().cpu().numpy())
    return waves


def _stochastic_log_duration(predictor, inputs, padding_mask, speaker, latents):
    """``VitsStochasticDurationPredictor.forward(reverse=True)`` with the noise given."""
    import torch

    inputs = predictor.conv_pre(inputs)
    if speaker is not None:
        inputs = inputs + predictor.cond(speaker)
    inputs = predictor.conv_dds(inputs, padding_mask)
    inputs = predictor.conv_proj(inputs) * padding_mask
    flows = list(reversed(predictor.flows))
    flows = flows[:-2] + [flows[-1]]            # as transformers: drop an unused flow
    for flow in flows:
        latents = torch.flip(latents, [1])
        latents, _ = flow(latents, padding_mask, global_conditioning=inputs, reverse=True)
    log_duration, _ = torch.split(latents, [1, 1], dim=1)
    return log_duration


# --------------------------------------------------------------------------- CSM (cloning)

