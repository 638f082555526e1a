"""Speech backends on 🤗 transformers: a line's text → the character's voice (docs/audio-backends.md)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moviola.runtime import models as store
from moviola.runtime.audio_io import load_audio, write_wav

from moviola.runtime.backends.audio_base import (Loaded, TransformersBackend, clean_text,
                                                 device_of, seeded_generator)
from moviola.runtime.backends.vits import check_phonemizer, vits_synthesize


SILENCE_SECONDS = 0.3        # a line with nothing to say ("...") is a short pause

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
            check_phonemizer(path)

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
        texts = [clean_text(task.job.params.text) for task in tasks]
        encoded = tokenizer(texts, padding=True, return_tensors="pt")
        speakers = None
        if config.num_speakers > 1:
            chosen = self.options.get("speakers") or {}
            speakers = [int(chosen.get(task.job.params.character,
                                       task.job.params.character_index)) % config.num_speakers
                        for task in tasks]
        device = device_of(model)
        with self.models.compute(self.key(name)), torch.inference_mode():
            waves = vits_synthesize(
                model, encoded["input_ids"], encoded["attention_mask"],
                generators=[seeded_generator(device, task.job.seed) for task in tasks],
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
        device = device_of(model)
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
        text = clean_text(params.text)
        prompt, audio = "", None
        if params.voice_sample:
            limit = float(self.options.get("max_context_seconds", 10.0))
            audio = load_audio(task.source(params.voice_sample), rate, channels=1)[:, 0]
            audio = audio[: int(limit * rate)]
            transcripts = self.options.get("transcripts") or {}
            transcript = clean_text(transcripts.get(params.voice_sample, ""))
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

