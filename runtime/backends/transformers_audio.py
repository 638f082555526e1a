"""Audio backends: speech, speech in a character's own voice, music and effects, on 🤗
transformers (and diffusers' Stable Audio pipeline, which shares the music code).

| backend                    | model class                          | renders         |
|----------------------------|--------------------------------------|-----------------|
| ``transformers.tts``       | ``VitsModel`` (VITS, MMS-TTS)        | speech          |
| ``transformers.tts_clone`` | ``CsmForConditionalGeneration``      | speech (cloned) |
| ``transformers.musicgen``  | ``MusicgenForConditionalGeneration`` | music, sfx      |
| ``diffusers.stable_audio`` | ``StableAudioPipeline``              | music, sfx      |

docs/audio-backends.md is the user documentation.

Every backend is built with its :class:`~moviola.compiler.profiles.ModelConfig`, the build's
:class:`~moviola.runtime.models.ModelManager` and the project folder; ``validate()`` finds the
model folder (offline) before any GPU work, and ``run_batch(tasks)`` renders compatible jobs
together. Models are fetched from the manager at each batch (loaded once, kept resident).

Determinism: every job has its own seed, and batching never changes what a job renders.

- VITS draws its noise inside ``forward`` from torch's global generator, so a batch would mix
  the jobs' noise. :func:`vits_synthesize` runs the model's own modules (text encoder, duration
  predictor, flow, vocoder) with each job's noise drawn from its own ``torch.Generator`` at the
  job's own lengths; the vocoder (unmasked convolutions) runs per job on its unpadded
  spectrogram. Speaking rate and noise scales are per job, so delivery hints batch too.
- MusicGen samples with ``torch.multinomial`` on the global generator. :class:`MusicGen`
  generates greedily through a logits processor that does the sampling itself (classifier-free
  guidance, temperature, top-k, then Gumbel-max with each job's generator), so every row of a
  batch follows its own seed. A row may be generated longer than it needs (its batch's longest);
  the extra frames never change the frames before them (causal decoder), and each row keeps
  ``MARGIN_SECONDS`` of frames beyond its length, so the codec's look-ahead sees the same codes.
- CSM samples inside a nested generate (backbone, then the depth decoder) on the global
  generator: jobs run one at a time, each under ``torch.random.fork_rng`` seeded with its seed.
- Stable Audio takes a list of generators (one per job); its length conditioning is one number
  per call, so only jobs of equal length share a batch.

Heavy imports (torch, transformers, diffusers) happen inside functions only.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Hashable

import numpy as np

from moviola.compiler.plan import SAMPLE_RATE
from moviola.runtime import models as store
from moviola.runtime.audio_io import load_audio, resample, write_wav
from moviola.runtime.backends.protocol import BaseBackend

SFX_SECONDS = 2.0            # an effect without a duration
MARGIN_SECONDS = 0.25        # frames generated past a music row's end (codec look-ahead)
SILENCE_SECONDS = 0.3        # a line with nothing to say ("...") is a short pause

__all__ = ["TransformersBackend", "Tts", "TtsClone", "MusicGen", "StableAudio", "Delivery",
           "delivery_of", "vits_synthesize", "segment_plan", "resample", "fit_length",
           "crossfade_join"]


# --------------------------------------------------------------------------- delivery

_WORD = re.compile(r"[a-z]+")
from moviola.compiler.vocabulary import DELIVERY

_WHISPER, _SHOUT, _SLOW, _FAST, _SAD, _HAPPY = (
    DELIVERY[k] for k in ("whisper", "shout", "slow", "fast", "sad", "happy"))


@dataclass(frozen=True)
class Delivery:
    """How a parenthetical or a ``voice:`` hint shapes a line, as multipliers."""

    rate: float = 1.0        # speaking rate (VITS ``speaking_rate``: > 1 is faster)
    noise: float = 1.0       # VITS noise scales: lower is flatter, higher more animated
    gain: float = 1.0        # output level (a whisper is quieter)


def delivery_of(delivery: list[str] | tuple[str, ...]) -> Delivery:
    """The same vocabulary as the draft voices (runtime/backends/draft/speech.py)."""
    said = {word for item in delivery for word in _WORD.findall(item.lower())}
    rate, noise, gain = 1.0, 1.0, 1.0
    if said & _WHISPER:
        rate, noise, gain = rate * 0.9, noise * 0.6, gain * 0.45
    if said & _SHOUT:
        rate, noise = rate * 1.08, noise * 1.25
    if said & _SLOW:
        rate *= 0.8
    if said & _FAST:
        rate *= 1.25
    if said & _SAD:
        rate, noise = rate * 0.9, noise * 0.8
    if said & _HAPPY:
        rate, noise = rate * 1.05, noise * 1.15
    return Delivery(rate, noise, gain)


# --------------------------------------------------------------------------- the shared base

@dataclass
class Loaded:
    """What a backend keeps resident: the model and its tokenizer or processor."""

    model: Any
    processor: Any


class TransformersBackend(BaseBackend):
    """Locating, loading (through the model manager) and batching, shared by the audio backends.

    Subclasses set ``model_types`` (accepted ``model_type`` values of config.json), implement
    ``load(path) -> Loaded`` and ``render(tasks, model_name) -> list[meta]``, and may group jobs
    (``group``) when they need different models."""

    model_types: tuple[str, ...] = ()
    what: str = "a model"                     # for messages: "a VITS model"

    def __init__(self, config, models, project: Path | None):
        self.config = config
        self.models = models
        self.project = Path(project) if project is not None else None
        self.options = dict(config.options or {})
        self.batch_size = max(1, int(config.batch_size or 1))
        self.revision = ""                  # the weights' identity (cache keys), set by validate()
        self._paths: dict[str, Path] | None = None

    # -- finding the model
    def model_names(self) -> list[str]:
        """Every model this backend may load (the configured one, plus any the options name)."""
        return [self.config.model] if self.config.model else []

    def validate(self) -> None:
        """Find every model folder now: :class:`ModelNotFound` or :class:`ModelBroken` before any
        GPU work."""
        names = self.model_names()
        if not names:
            raise store.ModelNotFound(str(self.config.model), [],
                                      reason=f"backend {self.config.backend} needs a model: set "
                                             f"model = \"org/name\" or a project folder")
        paths = {}
        for name in names:
            path = store.locate(name, self.project)
            self._check_type(path)
            paths[name] = path
        self._paths = paths
        self.revision = "+".join(store.identity(path) for path in paths.values())

    def _check_type(self, path: Path) -> None:
        if not self.model_types or not path.is_dir():
            return
        try:
            model_type = json.loads((path / "config.json").read_text("utf-8")).get("model_type")
        except (OSError, ValueError, AttributeError):
            raise store.ModelBroken(path, "config.json is missing or not readable JSON") from None
        if model_type not in self.model_types:
            raise store.ModelBroken(path, f"config.json describes a {model_type!r} model; backend "
                                    f"{self.config.backend} needs {self.what} (model_type "
                                    f"{' or '.join(map(repr, self.model_types))})")

    def path(self, name: str) -> Path:
        if self._paths is None:
            self.validate()
        return self._paths[name]

    # -- residency
    def key(self, name: str) -> str:
        return f"{self.config.backend}|{self.path(name)}|{self.config.dtype}"

    def resident(self, name: str) -> Loaded:
        path = self.path(name)
        return self.models.get(self.key(name), lambda: self.load(path))

    def torch_dtype(self):
        return store.pick_dtype(self.config.dtype, self.models.device)

    def load(self, path: Path) -> Loaded:
        raise NotImplementedError

    # -- running
    def group(self, task) -> Hashable:
        """Jobs with equal groups can share a batch; the group names the model to use."""
        return self.config.model

    def render(self, tasks: list, name: str) -> list[dict]:
        raise NotImplementedError

    def run_batch(self, tasks: list) -> list[dict]:
        """Render ``tasks`` (any number), in batches of at most ``batch_size`` compatible jobs;
        the metas come back in the order of ``tasks``."""
        if self._paths is None:
            self.validate()
        results: list[dict | None] = [None] * len(tasks)
        groups: dict[Hashable, list[int]] = {}
        for index, task in enumerate(tasks):
            groups.setdefault(self.group(task), []).append(index)
        for name, indexes in groups.items():
            for start in range(0, len(indexes), self.batch_size):
                chunk = indexes[start:start + self.batch_size]
                for index, meta in zip(chunk, self.render([tasks[i] for i in chunk], name)):
                    results[index] = meta
        return results

    def close(self) -> None:
        """Nothing to free: the model manager owns the models."""


def conversion_problems(jobs) -> list[str]:
    """What keeps speech-to-speech jobs from rendering, one line per job, found from the plan
    before any model loads: a take to convert and the character's voice to convert it into."""
    problems = []
    for job in jobs:
        params = job.params
        where = f"{job.label}" + (f" (line {job.span.line})" if job.span is not None else "")
        if not params.performance:
            problems.append(f"{where}: no recorded take to convert ([[voice: from: takes/line.wav]])")
        elif not params.voice_sample:
            character = params.character
            problems.append(f"{where}: {character} has no `voice:` recording to turn the take "
                            f"into; add one to [[character {character}: …; voice: voices/NAME.wav]]")
    return problems


def _generator(device, seed: int):
    import torch

    return torch.Generator(device=device).manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)


def _sub_seed(seed: int, purpose: str) -> int:
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _clean(text: str) -> str:
    return " ".join(text.split())


def _device_of(model):
    import torch

    return next(model.parameters()).device if isinstance(model, torch.nn.Module) else model.device


# --------------------------------------------------------------------------- VITS / MMS

class Tts(TransformersBackend):
    """``transformers.tts``: VITS and MMS-TTS (``VitsModel`` + its tokenizer).

    Options: ``languages`` (a table: language tag → model, for the film's ``Language:``; MMS has
    one model per language, e.g. ``{ fr = "facebook/mms-tts-fra" }``; the configured model is
    the default), ``speakers`` (character → speaker id, for multi-speaker models; otherwise the
    character's index picks one), ``speaking_rate``, ``noise_scale``, ``noise_scale_duration``
    (override the model's)."""

    model_types = ("vits",)
    what = "a VITS / MMS-TTS model"

    def model_names(self) -> list[str]:
        names = super().model_names()
        for model in (self.options.get("languages") or {}).values():
            if model not in names:
                names.append(model)
        return names

    def validate(self) -> None:
        super().validate()
        for path in self._paths.values():
            _check_phonemizer(path)

    def group(self, task) -> str:
        return self.model_for(task.job.params.language)

    def model_for(self, language: str | None) -> str:
        languages = self.options.get("languages") or {}
        tag = (language or "").strip()
        for candidate in (tag, tag.lower(), tag.lower().split("-")[0]):
            if candidate in languages:
                return languages[candidate]
        return self.config.model

    def load(self, path: Path) -> Loaded:
        from transformers import AutoTokenizer, VitsModel

        model = store.load_safely(VitsModel.from_pretrained, path, dtype=self.torch_dtype())
        tokenizer = store.load_safely(AutoTokenizer.from_pretrained, path)
        return Loaded(model.eval(), tokenizer)

    def render(self, tasks: list, name: str) -> list[dict]:
        import torch

        loaded = self.resident(name)
        model, tokenizer = loaded.model, loaded.processor
        config = model.config
        deliveries = [delivery_of(task.job.params.delivery or ()) for task in tasks]
        base_rate = float(self.options.get("speaking_rate", config.speaking_rate))
        base_noise = float(self.options.get("noise_scale", config.noise_scale))
        base_duration = float(self.options.get("noise_scale_duration", config.noise_scale_duration))
        texts = [_clean(task.job.params.text) for task in tasks]
        encoded = tokenizer(texts, padding=True, return_tensors="pt")
        speakers = None
        if config.num_speakers > 1:
            chosen = self.options.get("speakers") or {}
            speakers = [int(chosen.get(task.job.params.character,
                                       task.job.params.character_index)) % config.num_speakers
                        for task in tasks]
        device = _device_of(model)
        with self.models.compute(self.key(name)), torch.inference_mode():
            waves = vits_synthesize(
                model, encoded["input_ids"], encoded["attention_mask"],
                generators=[_generator(device, task.job.seed) for task in tasks],
                speaking_rates=[base_rate * d.rate for d in deliveries],
                noise_scales=[base_noise * d.noise for d in deliveries],
                noise_scale_durations=[base_duration * d.noise for d in deliveries],
                speaker_ids=speakers)
        rate = int(config.sampling_rate)
        metas = []
        for task, wave, delivery in zip(tasks, waves, deliveries):
            if wave is None:
                wave = np.zeros(int(SILENCE_SECONDS * rate), np.float32)
            wave = np.clip(wave * delivery.gain, -1.0, 1.0)
            write_wav(task.output("speech"), wave, rate)
            metas.append({"seconds": round(len(wave) / rate, 4), "sample_rate": rate})
        return metas


def _check_phonemizer(path: Path) -> None:
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
    device = _device_of(model)
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

class TtsClone(TransformersBackend):
    """``transformers.tts_clone``: Sesame's CSM (``CsmForConditionalGeneration``), conditioned on
    the character's ``voice:`` recording as the conversation's previous turn.

    CSM continues a conversation: each turn is ``[speaker]text`` followed by its audio. The
    character's recording becomes a context turn by the same speaker, so the line is generated
    in that voice. A transcript of the recording helps; give it in the options (it is then part
    of the cache key): ``transcripts = { "voices/marie.wav" = "What she says in it." }``.
    Without a transcript the context turn has empty text. A character without a recording gets
    the speaker id of its index (``speakers`` maps characters to ids otherwise), and an
    unconditioned voice.

    Other options: ``max_context_seconds`` (default 10: the recording is cut there),
    ``max_seconds`` (default 20: the longest line), ``temperature``, ``top_k``,
    ``depth_decoder_temperature``, ``depth_decoder_top_k``.

    CSM has no rate control: delivery hints change the level only (a whisper is quieter)."""

    model_types = ("csm",)
    what = "a CSM model"

    def load(self, path: Path) -> Loaded:
        from transformers import AutoProcessor, CsmForConditionalGeneration

        model = store.load_safely(CsmForConditionalGeneration.from_pretrained, path,
                                  dtype=self.torch_dtype())
        processor = store.load_safely(AutoProcessor.from_pretrained, path)
        return Loaded(model.eval(), processor)

    def render(self, tasks: list, name: str) -> list[dict]:
        import torch

        loaded = self.resident(name)
        model, processor = loaded.model, loaded.processor
        rate = int(processor.feature_extractor.sampling_rate)
        frame_rate = float(model.config.codec_config.frame_rate)
        device = _device_of(model)
        metas = []
        for task in tasks:
            inputs, max_frames = self._inputs(task, processor, rate, frame_rate)
            inputs = inputs.to(device)
            generation = {"do_sample": True, "depth_decoder_do_sample": True}
            for option in ("temperature", "top_k", "depth_decoder_temperature",
                           "depth_decoder_top_k"):
                if option in self.options:
                    generation[option] = self.options[option]
            cuda = [device] if device.type == "cuda" else []
            with self.models.compute(self.key(name)), torch.inference_mode(), \
                    torch.random.fork_rng(devices=cuda):
                torch.manual_seed(int(task.job.seed))
                audio = model.generate(**inputs, max_new_tokens=max_frames, output_audio=True,
                                       **generation)
            wave = audio[0].float().cpu().numpy().reshape(-1)
            delivery = delivery_of(task.job.params.delivery or ())
            wave = np.clip(wave * delivery.gain, -1.0, 1.0)
            if not len(wave):
                wave = np.zeros(int(SILENCE_SECONDS * rate), np.float32)
            write_wav(task.output("speech"), wave, rate)
            metas.append({"seconds": round(len(wave) / rate, 4), "sample_rate": rate})
        return metas

    def _inputs(self, task, processor, rate: int, frame_rate: float):
        params = task.job.params
        tokenizer = processor.tokenizer
        begin, end = tokenizer.bos_token or "", tokenizer.eos_token or ""
        speakers = self.options.get("speakers") or {}
        speaker = int(speakers.get(params.character, params.character_index))
        text = _clean(params.text)
        prompt, audio = "", None
        if params.voice_sample:
            limit = float(self.options.get("max_context_seconds", 10.0))
            audio = load_audio(task.source(params.voice_sample), rate, channels=1)[:, 0]
            audio = audio[: int(limit * rate)]
            transcripts = self.options.get("transcripts") or {}
            transcript = _clean(transcripts.get(params.voice_sample, ""))
            prompt = (f"{begin}[{speaker}]{transcript}{end}"
                      f"{processor.audio_token}{processor.audio_eos_token}")
        prompt += f"{begin}[{speaker}]{text}{end}"
        inputs = processor(text=prompt, audio=audio, return_tensors="pt") if audio is not None \
            else processor(text=prompt, return_tensors="pt")
        # A generous bound (the model stops at its end-of-audio frame): ~2.5 words a second,
        # twice that, plus a second.
        seconds = min(float(self.options.get("max_seconds", 20.0)),
                      2.0 * len(text.split()) / 2.5 + 1.0)
        return inputs, max(1, math.ceil(seconds * frame_rate))


# --------------------------------------------------------------------------- MusicGen

def segment_plan(seconds: float, longest: float, overlap: float) -> list[float]:
    """Lengths of the segments a cue of ``seconds`` is generated in: one if it fits in
    ``longest``, else segments of ``longest`` overlapping by ``overlap`` (crossfaded), the last
    one shorter. The lengths minus the overlaps add up to ``seconds``."""
    if seconds <= longest:
        return [seconds]
    step = longest - overlap
    count = math.ceil((seconds - overlap) / step)
    return [longest] * (count - 1) + [seconds - (count - 1) * step]


@dataclass
class _Row:
    task: int                # index of the task in the batch
    prompt: str
    seconds: float
    seed: int


class _MusicAndEffects(TransformersBackend):
    """Music cues and sound effects: recorded sources, long cues in crossfaded segments, 48 kHz.

    A subclass says how long one generation may be (``limits``) and renders rows (one segment
    each: prompt, seconds, seed) with ``generate_rows``."""

    default_segment = 30.0

    def render(self, tasks: list, name: str) -> list[dict]:
        outputs: list[np.ndarray | None] = [None] * len(tasks)
        generated = [index for index, task in enumerate(tasks) if not task.job.params.source]
        for index, task in enumerate(tasks):
            if index not in generated:
                outputs[index] = fit_length(
                    load_audio(task.source(task.job.params.source), SAMPLE_RATE,
                               channels=2 if task.job.kind == "music" else 1),
                    _length(task), SAMPLE_RATE)
        if generated:
            rendered = self._generate([tasks[i] for i in generated], name)
            for index, samples in zip(generated, rendered):
                outputs[index] = samples
        metas = []
        for task, samples in zip(tasks, outputs):
            if samples.ndim == 2 and samples.shape[1] == 1:
                samples = samples[:, 0]
            rate = int(task.job.params.sample_rate or SAMPLE_RATE)
            if rate != SAMPLE_RATE:
                samples = resample(samples, SAMPLE_RATE, rate)
            write_wav(task.output(task.job.kind), samples, rate)     # "music" or "sfx"
            metas.append({"seconds": round(len(samples) / rate, 4), "sample_rate": rate})
        return metas

    def limits(self, name: str) -> tuple[float, int]:
        """The longest generation in seconds, and the model's sample rate."""
        raise NotImplementedError

    def generate_rows(self, name: str, rows: list[_Row]) -> list[np.ndarray]:
        """Each row's audio at the model's rate, (samples, channels), exactly its length."""
        raise NotImplementedError

    def _generate(self, tasks: list, name: str) -> list[np.ndarray]:
        longest, model_rate = self.limits(name)
        longest = min(float(self.options.get("segment_seconds", self.default_segment)), longest)
        overlap = min(float(self.options.get("crossfade_seconds", 2.0)), longest / 4)
        rows: list[_Row] = []
        plans = []
        for index, task in enumerate(tasks):
            plan = segment_plan(_length(task) / SAMPLE_RATE, longest, overlap)
            plans.append(plan)
            for number, length in enumerate(plan):
                seed = task.job.seed if number == 0 else \
                    _sub_seed(task.job.seed, f"segment {number}")
                rows.append(_Row(index, _prompt(task), length, seed))
        audio = self.generate_rows(name, rows)
        results, cursor = [], 0
        for index, task in enumerate(tasks):
            pieces = audio[cursor:cursor + len(plans[index])]
            cursor += len(plans[index])
            joined = crossfade_join(pieces, int(round(overlap * model_rate)))
            samples = resample(joined, model_rate, SAMPLE_RATE)
            results.append(_exact(samples, _length(task)))
        return results


class MusicGen(_MusicAndEffects):
    """``transformers.musicgen``: MusicGen (``MusicgenForConditionalGeneration`` + its processor)
    for music cues and sound effects.

    The prompt is the theme's description (plus "NN bpm" when the theme has a tempo the
    description does not state), or the effect's description. A music cue lasts exactly what
    the timeline gave it; an effect its duration (2 s without one). The model's audio (32 kHz
    for facebook/musicgen-*) is resampled to 48 kHz; stereo models give stereo.

    MusicGen's positions limit one generation to about 30 s. A longer cue is generated as
    several segments of ``segment_seconds`` (default 30), each with its own seed derived from
    the cue's, overlapping by ``crossfade_seconds`` (default 2) and joined with equal-power
    crossfades. Segments are independent generations from the same prompt (not continuations),
    so they can share one batch; expect the music to change its course at each join.

    A theme or effect with a recorded ``source`` renders without the model: the recording,
    looped with crossfades or cut to length.

    Options: ``segment_seconds``, ``crossfade_seconds``, ``top_k`` (default: the model's, 250),
    ``temperature`` (default 1). ``guidance`` is the classifier-free guidance scale (default:
    the model's, 3)."""

    model_types = ("musicgen",)
    what = "a MusicGen model"

    def load(self, path: Path) -> Loaded:
        from transformers import AutoProcessor, MusicgenForConditionalGeneration

        model = store.load_safely(MusicgenForConditionalGeneration.from_pretrained, path,
                                  dtype=self.torch_dtype())
        processor = store.load_safely(AutoProcessor.from_pretrained, path)
        return Loaded(model.eval(), processor)

    def limits(self, name: str) -> tuple[float, int]:
        config = self.resident(name).model.config
        frame_rate = float(config.audio_encoder.frame_rate)
        positions = int(config.decoder.max_position_embeddings)
        longest = (positions - 16) / frame_rate - MARGIN_SECONDS
        return longest, int(config.audio_encoder.sampling_rate)

    def generate_rows(self, name: str, rows: list[_Row]) -> list[np.ndarray]:
        # a long cue's segments may exceed the batch size: generate rows in chunks of it
        loaded = self.resident(name)
        audio: list[np.ndarray] = []
        for start in range(0, len(rows), self.batch_size):
            audio += self._generate_rows(loaded, name, rows[start:start + self.batch_size])
        return audio

    def _generate_rows(self, loaded: Loaded, name: str, rows: list[_Row]) -> list[np.ndarray]:
        """One generate call for ``rows``: each row (seconds, prompt, seed) → its audio at the
        model's rate, (samples, channels), exactly ``seconds`` long."""
        import torch
        from transformers import LogitsProcessorList

        model, processor = loaded.model, loaded.processor
        decoder = model.config.decoder
        frame_rate = float(model.config.audio_encoder.frame_rate)
        model_rate = int(model.config.audio_encoder.sampling_rate)
        channel_codebooks = decoder.num_codebooks // max(decoder.audio_channels, 1)
        frames = max(math.ceil((row.seconds + MARGIN_SECONDS) * frame_rate) for row in rows)
        settings = copy.deepcopy(model.generation_config)
        guidance = self.config.guidance if self.config.guidance is not None else \
            (settings.guidance_scale or 1.0)
        top_k = int(self.options.get("top_k", settings.top_k or 250))
        temperature = float(self.options.get("temperature", 1.0))
        # The sampler below samples; greedy decoding then picks its choice. (Unset values would
        # be refilled from the model's generation config; these are the greedy defaults.)
        settings.do_sample = False
        settings.top_k, settings.top_p, settings.temperature = 50, 1.0, 1.0
        settings.guidance_scale = guidance if guidance > 1 else None
        settings.max_new_tokens = frames + channel_codebooks - 1     # the delay pattern
        settings.min_new_tokens, settings.min_length = None, 0
        device = _device_of(model)
        inputs = processor(text=[row.prompt for row in rows], padding=True,
                           return_tensors="pt").to(device)
        sampler = _seeded_sampler([_generator(device, row.seed) for row in rows],
                                  decoder.num_codebooks, guidance, top_k, temperature)
        with self.models.compute(self.key(name)), torch.inference_mode():
            values = model.generate(**inputs, generation_config=settings,
                                    logits_processor=LogitsProcessorList([sampler]))
        values = values.float().cpu().numpy()          # (rows, channels, samples)
        return [values[i, :, :int(round(row.seconds * model_rate))].T for i, row in enumerate(rows)]


def _prompt(task) -> str:
    params = task.job.params
    description = _clean(params.description or "")
    if task.job.kind == "music":
        description = description or _clean(str(params.theme or "")).lower()
        tempo = params.tempo
        if tempo and "bpm" not in description.lower():
            description = f"{description}, {tempo:g} bpm" if description else f"{tempo:g} bpm"
    return description


def _length(task) -> int:
    """Samples at 48 kHz: the timeline's length for music, the duration for an effect."""
    if task.job.kind == "music":
        seconds = max(float(task.timing.get("seconds") or 0.0), 0.1)
    else:
        seconds = float(task.job.params.duration or SFX_SECONDS)
    return int(round(seconds * SAMPLE_RATE))


def _seeded_sampler(generators: list, rows_per_item: int, guidance: float, top_k: int,
                    temperature: float):
    """A logits processor that samples every row with its own generator and returns scores
    where only its choice survives (0 for it, -1e4 elsewhere), for a greedy generate.

    It does classifier-free guidance itself when it sees the conditional and unconditional
    halves (MusicGen appends its own guidance processor after ours; that one then mixes two
    equal halves: ``u + (c - u) * g = u``), and accepts guided scores too."""
    import torch
    from transformers import LogitsProcessor

    class SeededSampler(LogitsProcessor):
        def __call__(self, input_ids, scores):
            rows = len(generators) * rows_per_item
            if scores.shape[0] == 2 * rows:
                conditional, unconditional = scores[:rows].float(), scores[rows:].float()
                logits = unconditional + (conditional - unconditional) * guidance
            elif scores.shape[0] == rows:
                logits = scores.float()
            else:
                raise RuntimeError(f"seeded sampler: {scores.shape[0]} rows of scores for "
                                   f"{len(generators)} jobs of {rows_per_item} codebooks")
            logits = logits / max(temperature, 1e-5)
            if 0 < top_k < logits.shape[-1]:
                kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            logits = torch.log_softmax(logits, dim=-1)
            uniform = torch.cat([torch.rand((rows_per_item, logits.shape[-1]), generator=g,
                                            device=logits.device, dtype=torch.float32)
                                 for g in generators])
            gumbel = -torch.log(-torch.log(uniform.clamp(1e-12, 1.0 - 1e-7)))
            choice = torch.argmax(logits + gumbel, dim=-1, keepdim=True)
            chosen = torch.full((rows, scores.shape[-1]), -1e4, dtype=scores.dtype,
                                device=scores.device).scatter_(1, choice, 0.0)
            return chosen.repeat(scores.shape[0] // rows, 1)

    return SeededSampler()


# --------------------------------------------------------------------------- Stable Audio

class StableAudio(_MusicAndEffects):
    """``diffusers.stable_audio``: Stable Audio Open (diffusers' ``StableAudioPipeline``) for
    music cues and sound effects.

    The prompt is built as for MusicGen. The pipeline always denoises its whole window (47.55 s
    for stabilityai/stable-audio-open-1.0) and is told how long the sound should be, then cut
    there; a longer cue is made of crossfaded segments, as with MusicGen. That length is one
    number per call, so a batch holds jobs (or segments) of equal length; each keeps its own
    generator (initial noise and the scheduler's Brownian noise), so batching never changes
    what a job renders. The audio (44.1 kHz stereo) is resampled to 48 kHz.

    ``steps`` (default 100) and ``guidance`` (default 7) as configured. Options:
    ``negative_prompt`` (default "low quality"; "" for none), ``segment_seconds``,
    ``crossfade_seconds``. The checkpoint's scheduler (``CosineDPMSolverMultistepScheduler``)
    needs the ``torchsde`` package."""

    what = "a Stable Audio pipeline"
    default_segment = 1e9                     # the model's window

    def _check_type(self, path: Path) -> None:
        try:
            kind = json.loads((path / "model_index.json").read_text("utf-8")).get("_class_name")
        except (OSError, ValueError, AttributeError):
            raise store.ModelBroken(path, "model_index.json is missing or not readable JSON: not "
                                    "a diffusers pipeline") from None
        if kind != "StableAudioPipeline":
            raise store.ModelBroken(path, f"model_index.json describes a {kind!r}; backend "
                                    f"{self.config.backend} needs a StableAudioPipeline")

    def load(self, path: Path):
        from diffusers import StableAudioPipeline

        pipe = store.load_safely(StableAudioPipeline.from_pretrained, path, dtype=self.torch_dtype())
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def limits(self, name: str) -> tuple[float, int]:
        pipe = self.resident(name)
        rate = int(pipe.vae.config.sampling_rate)
        return pipe.transformer.config.sample_size * pipe.vae.hop_length / rate, rate

    def generate_rows(self, name: str, rows: list[_Row]) -> list[np.ndarray]:
        import torch

        pipe = self.resident(name)
        rate = int(pipe.vae.config.sampling_rate)
        device = pipe._execution_device
        negative = self.options.get("negative_prompt", "low quality") or None
        steps = self.config.steps or 100
        guidance = 7.0 if self.config.guidance is None else self.config.guidance
        by_length: dict[float, list[int]] = {}
        for index, row in enumerate(rows):
            by_length.setdefault(round(row.seconds, 3), []).append(index)
        audio: list[np.ndarray | None] = [None] * len(rows)
        for seconds, indexes in by_length.items():
            for start in range(0, len(indexes), self.batch_size):
                chunk = indexes[start:start + self.batch_size]
                with self.models.compute(self.key(name)), torch.inference_mode():
                    output = pipe(
                        prompt=[rows[i].prompt for i in chunk],
                        negative_prompt=[negative] * len(chunk) if negative else None,
                        audio_end_in_s=seconds,
                        num_inference_steps=steps,
                        guidance_scale=guidance,
                        generator=[_generator(device, rows[i].seed) for i in chunk],
                        output_type="np")
                for i, values in zip(chunk, output.audios):
                    samples = np.asarray(values, dtype=np.float32).T     # (samples, channels)
                    audio[i] = _exact(samples, int(round(rows[i].seconds * rate)))
        return audio


# --------------------------------------------------------------------------- audio helpers

def crossfade_join(pieces: list[np.ndarray], overlap: int) -> np.ndarray:
    """Pieces (samples, channels) joined end to start, each overlap crossfaded at equal power."""
    joined = pieces[0]
    for piece in pieces[1:]:
        n = min(overlap, len(joined), len(piece))
        if n <= 0:
            joined = np.concatenate([joined, piece])
            continue
        t = (np.arange(n, dtype=np.float32) + 0.5) / n
        fade_out = np.cos(t * np.pi / 2).reshape(-1, *([1] * (joined.ndim - 1)))
        fade_in = np.sin(t * np.pi / 2).reshape(-1, *([1] * (joined.ndim - 1)))
        middle = joined[-n:] * fade_out + piece[:n] * fade_in
        joined = np.concatenate([joined[:-n], middle, piece[n:]])
    return joined


def fit_length(samples: np.ndarray, length: int, rate: int, crossfade: float = 0.5) -> np.ndarray:
    """``samples`` made exactly ``length`` long: cut, or looped with crossfades."""
    if len(samples) == 0:
        shape = (length,) + samples.shape[1:]
        return np.zeros(shape, np.float32)
    if len(samples) >= length:
        return samples[:length]
    overlap = min(int(crossfade * rate), len(samples) // 4)
    looped = samples
    while len(looped) < length:
        looped = crossfade_join([looped, samples], overlap)
    return looped[:length]


def _exact(samples: np.ndarray, length: int) -> np.ndarray:
    if len(samples) >= length:
        return samples[:length]
    padding = [(0, length - len(samples))] + [(0, 0)] * (samples.ndim - 1)
    return np.pad(samples, padding)
