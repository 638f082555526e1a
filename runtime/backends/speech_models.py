"""Speech backends on 🤗 transformers: a line's text → the character's voice (docs/audio-backends.md)."""

from __future__ import annotations

import json
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moviola.runtime import models as store
from moviola.runtime import speech_dsp
from moviola.runtime.audio_io import write_wav

from moviola.runtime.backends.audio_base import (Loaded, TransformersBackend, clean_text,
                                                 device_of, exact_length, on_model, read_recording,
                                                 seeded_generator)
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



def frame_budget(text: str, frame_rate: float, max_seconds: float) -> int:
    """The most frames a line may take in a model that stops at its own end of speech: a
    generous bound, ~2.5 words a second, twice that, plus a second, at most ``max_seconds``."""
    seconds = min(max_seconds, 2.0 * len(text.split()) / 2.5 + 1.0)
    return max(1, math.ceil(seconds * frame_rate))


def generated_under_seed(model, device, seed: int, **inputs):
    """``model.generate(**inputs)`` with torch's global generator seeded with ``seed`` and put
    back afterwards: for models that sample from the global generator inside ``generate``."""
    import torch

    cuda = [device] if device.type == "cuda" else []
    with torch.inference_mode(), torch.random.fork_rng(devices=cuda):
        torch.manual_seed(int(seed))
        return model.generate(**inputs)


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
    options_read = frozenset({"languages", "speakers", "speaking_rate", "noise_scale",
                              "noise_scale_duration"})

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
        def synthesize():
            with torch.inference_mode():
                return vits_synthesize(
                    model, encoded["input_ids"], encoded["attention_mask"],
                    generators=[seeded_generator(device, task.job.seed) for task in tasks],
                    speaking_rates=[base_rate * d.rate for d in deliveries],
                    noise_scales=[base_noise * d.noise for d in deliveries],
                    noise_scale_durations=[base_duration * d.noise for d in deliveries],
                    speaker_ids=speakers)

        waves = self.generate(name, [task.job.label for task in tasks], synthesize)
        rate = int(config.sampling_rate)
        metas = []
        for task, wave, delivery in zip(tasks, waves, deliveries):
            if wave is None:
                wave = np.zeros(int(SILENCE_SECONDS * rate), np.float32)
            wave = np.clip(wave * delivery.gain, -1.0, 1.0)
            write_wav(task.output("speech"), wave, rate)
            metas.append({"seconds": round(len(wave) / rate, 4), "sample_rate": rate})
        return metas



class OneLineAtATime(TransformersBackend):
    """A model that speaks each line alone in its character's recorded voice: a line with
    nothing to say is a pause, and what it says is written by :func:`_write_line` (a
    performance keeps its take's timing when ``keep_timing``, default true). A subclass gives
    :meth:`waveform` of one line's text."""

    options_read = frozenset({"keep_timing", "max_context_seconds", "max_seconds"})

    def render(self, tasks: list, name: str) -> list[dict]:
        return [self._speak(task, name) for task in tasks]

    def _speak(self, task, name: str) -> dict:
        problems = self.check_jobs([task.job])
        if problems:
            raise ValueError(problems[0])
        loaded = self.resident(name)
        rate = int(loaded.processor.feature_extractor.sampling_rate)
        text = clean_text(task.job.params.text)
        wave = np.zeros(0, np.float32)
        if any(char.isalnum() for char in text):
            wave = self.waveform(task, name, loaded, rate, text)
        return _write_line(task, wave, rate, keep_timing=self.options.get("keep_timing", True))

    def waveform(self, task, name: str, loaded: Loaded, rate: int, text: str) -> np.ndarray:
        raise NotImplementedError

    def voice_clip(self, task, recording: str, rate: int) -> np.ndarray:
        """The character's recording at ``rate``, cut at ``max_context_seconds`` (default 10)."""
        limit = float(self.options.get("max_context_seconds", 10.0))
        return read_recording(task, recording, rate)[: int(limit * rate)]


class TtsClone(OneLineAtATime):
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
    ``depth_decoder_temperature``, ``depth_decoder_top_k``, ``keep_timing`` (default true:
    under ``performance`` the take gives the timing, as for Pocket TTS).

    CSM has no rate control: delivery hints change the level only (a whisper is quieter)."""

    model_types = ("csm",)
    what = "a CSM model"
    options_read = OneLineAtATime.options_read | {
        "speakers", "transcripts", "temperature", "top_k", "depth_decoder_temperature",
        "depth_decoder_top_k"}

    def load(self, path: Path) -> Loaded:
        from transformers import CsmForConditionalGeneration

        return self.load_with_processor(CsmForConditionalGeneration, path)

    def waveform(self, task, name: str, loaded: Loaded, rate: int, text: str) -> np.ndarray:
        model, processor = loaded.model, loaded.processor
        device = device_of(model)
        frame_rate = float(model.config.codec_config.frame_rate)
        inputs = on_model(self._inputs(task, processor, rate, text), model)
        generation = {"do_sample": True, "depth_decoder_do_sample": True}
        for option in ("temperature", "top_k", "depth_decoder_temperature", "depth_decoder_top_k"):
            if option in self.options:
                generation[option] = self.options[option]
        frames = frame_budget(text, frame_rate, float(self.options.get("max_seconds", 20.0)))
        audio = self.generate(name, [task.job.label], lambda: generated_under_seed(
            model, device, task.job.seed, **inputs, max_new_tokens=frames, output_audio=True,
            **generation))
        return audio[0].float().cpu().numpy().reshape(-1)

    def _inputs(self, task, processor, rate: int, text: str):
        params = task.job.params
        tokenizer = processor.tokenizer
        begin, end = tokenizer.bos_token or "", tokenizer.eos_token or ""
        speakers = self.options.get("speakers") or {}
        speaker = int(speakers.get(params.character, params.character_index))
        prompt, audio = "", None
        if params.voice_sample:
            audio = self.voice_clip(task, params.voice_sample, rate)
            transcripts = self.options.get("transcripts") or {}
            transcript = clean_text(transcripts.get(params.voice_sample, ""))
            prompt = (f"{begin}[{speaker}]{transcript}{end}"
                      f"{processor.audio_token}{processor.audio_eos_token}")
        prompt += f"{begin}[{speaker}]{text}{end}"
        if audio is None:
            return processor(text=prompt, return_tensors="pt")
        return processor(text=prompt, audio=audio, return_tensors="pt")


class PocketTts(OneLineAtATime):
    """``transformers.pocket_tts``: Kyutai's Pocket TTS (``PocketTTSForConditionalGeneration``,
    ~100 M parameters, 24 kHz), each line in its character's recorded voice.

    The character's ``voice:`` recording (24 kHz mono, cut at ``max_context_seconds``, default
    10) is encoded by the codec (``PocketTTSAudioTokenizerModel``) into voice-prompt latents,
    once per recording per build; the line's text follows it in the checkpoint's own chat
    template, and the model generates the line's latents until its end-of-speech, which the
    codec decodes. No transcript of the recording is needed. Every line conditions on its own
    character's recording, so the speakers of a scene keep their voices. A character without a
    recording cannot speak here: :meth:`check_jobs` names the line before any model loads.

    Under ``performance`` (a line the writer recorded) the text is spoken anew in the character's
    voice and, with ``keep_timing`` (default true), stretched (WSOLA, pitch kept) to the take's
    length trimmed of silence: the take gives the timing, not the intonation.

    Options: ``audio_tokenizer`` (the codec: a hub id or folder; default the one the
    checkpoint's processor_config.json names), ``max_context_seconds``, ``max_seconds`` (default
    20: the longest line), ``temperature``, ``num_flow_steps``, ``eos_threshold`` (default the
    checkpoint's generation config), ``keep_timing``. No rate control: delivery hints change the
    level only (a whisper is quieter)."""

    model_types = ("pocket_tts",)
    codec_types = ("pocket_tts_audio_tokenizer",)
    what = "a Pocket TTS model"
    options_read = OneLineAtATime.options_read | {"audio_tokenizer", "temperature",
                                                  "num_flow_steps", "eos_threshold"}
    generation_options = ("temperature", "num_flow_steps", "eos_threshold")
    processor_settings = ("short_text_max_words", "frames_after_eos_short_text",
                          "frames_after_eos", "fade_in_duration")

    def __init__(self, config, models, project):
        super().__init__(config, models, project)
        self._voices: dict[str, object] = {}    # recording → its voice-prompt latents

    # -- finding the models
    def codec_name(self) -> str:
        """The codec named by the options, else by the checkpoint's processor_config.json."""
        if self.options.get("audio_tokenizer"):
            return str(self.options["audio_tokenizer"])
        path = store.locate(self.config.model, self.project)
        named = (_json_of(path).get("audio_tokenizer") or {}).get(
            "audio_tokenizer_name_or_path")
        if not named:
            raise store.ModelBroken(path, "its processor_config.json names no audio tokenizer: "
                                    "give the codec as options.audio_tokenizer")
        return str(named)

    def model_names(self) -> list[str]:
        names = super().model_names()
        return names + [self.codec_name()] if names else names

    def _check_type(self, path: Path) -> None:
        if _json_of(path, "config.json").get("model_type") not in self.codec_types:
            super()._check_type(path)       # the codec is checked in validate()

    def validate(self) -> None:
        super().validate()
        codec = self.path(self.codec_name())
        if _json_of(codec, "config.json").get("model_type") not in self.codec_types:
            raise store.ModelBroken(codec, f"backend {self.config.backend} needs a Pocket TTS "
                                    f"audio tokenizer here (model_type "
                                    f"{self.codec_types[0]!r})")

    def check_jobs(self, jobs) -> list[str]:
        problems = []
        for job in jobs:
            if not job.params.voice_sample:
                where = job.label + (f" (line {job.span.line})" if job.span is not None else "")
                character = job.params.character
                problems.append(f"{where}: {character} has no `voice:` recording, and Pocket TTS "
                                f"({self.config.model}) speaks only in a recorded voice; add one "
                                f"to [[character {character}: …; voice: voices/NAME.wav]]")
        return problems

    # -- loading
    def load(self, path: Path) -> Loaded:
        from transformers import (AutoFeatureExtractor, AutoTokenizer,
                                  PocketTTSAudioTokenizerModel, PocketTTSForConditionalGeneration,
                                  PocketTTSProcessor)

        dtype = self.torch_dtype()
        model = store.load_safely(PocketTTSForConditionalGeneration.from_pretrained, path,
                                  dtype=dtype)
        codec = store.load_safely(PocketTTSAudioTokenizerModel.from_pretrained,
                                  self.path(self.codec_name()), dtype=dtype)
        # Built from its parts: AutoProcessor would load the codec from the name in
        # processor_config.json itself, outside `locate` (a project folder, the offline cache).
        settings = _json_of(path)
        template = path / "chat_template.jinja"
        processor = PocketTTSProcessor(
            store.load_safely(AutoFeatureExtractor.from_pretrained, path),
            store.load_safely(AutoTokenizer.from_pretrained, path),
            audio_tokenizer=codec.to(self.models.device).eval(),
            chat_template=template.read_text("utf-8") if template.is_file() else None,
            **{key: settings[key] for key in self.processor_settings if key in settings})
        return Loaded(model.eval(), processor)

    # -- rendering
    def waveform(self, task, name: str, loaded: Loaded, rate: int, text: str) -> np.ndarray:
        model, processor = loaded.model, loaded.processor
        conversation = [{"role": "user", "content": [{"type": "audio"},
                                                     {"type": "text", "text": text}]}]
        prompt = processor.apply_chat_template(conversation)
        inputs = processor(text=prompt, audio_prompt_latents=[self._voice(task, processor)],
                           return_tensors="pt").to(device_of(model))
        generation = {option: self.options[option] for option in self.generation_options
                      if option in self.options}
        frames = frame_budget(text, float(model.config.frame_rate),
                              float(self.options.get("max_seconds", 20.0)))
        output = self.generate(name, [task.job.label], lambda: generated_under_seed(
            model, device_of(model), task.job.seed, **inputs, do_sample=True,
            max_new_tokens=frames, **generation))
        # a list of latents, or (the checkpoints' generation config) padded latents + mask
        latents = output[0] if isinstance(output, list) else \
            output.audio_latents[0][output.audio_latents_mask[0].bool()]
        return processor.decode(latents).float().numpy().reshape(-1)

    def _voice(self, task, processor):
        """The voice-prompt latents of the character's recording, once per recording."""
        recording = task.job.params.voice_sample
        if recording not in self._voices:
            import torch

            rate = int(processor.feature_extractor.sampling_rate)
            audio = self.voice_clip(task, recording, rate)
            with torch.inference_mode():
                # the processor encodes the recording with the codec (and ends it on a pause)
                encoded = processor(text=processor.apply_chat_template(
                    [{"role": "user", "content": [{"type": "audio"}]}]), audio=[audio],
                    sampling_rate=rate, return_tensors="pt")
            mask = encoded["audio_prompt_latents_mask"][0].bool()
            self._voices[recording] = encoded["audio_prompt_latents"][0][mask]
        return self._voices[recording]


class VibeVoice(OneLineAtATime):
    """``transformers.vibevoice``: Microsoft's VibeVoice (``VibeVoiceForConditionalGeneration``:
    a Qwen2.5 language model, a diffusion head and a σ-VAE acoustic codec at 7.5 frames a
    second, 24 kHz), each line in its character's recorded voice.

    A line is one turn of the checkpoint's chat template: the speaker is the character's index
    modulo 4 (``speakers`` maps characters to ids otherwise; VibeVoice knows speakers 0 to 3),
    the text is the line, and the character's ``voice:`` recording (24 kHz mono, cut at
    ``max_context_seconds``, default 10) is that speaker's voice input; a character without a
    recording speaks without one (an unconditioned voice). The folder is self-contained (codecs
    inside the model, tokenizer and template beside).

    Settings: the profile's ``guidance`` is the classifier-free guidance scale (default the
    checkpoint's, 1.3) and ``steps`` the diffusion steps a frame (default the checkpoint's);
    ``max_seconds`` (default 20) bounds a line. Generation stops at the model's end of speech.
    The diffusion noise comes from torch's global generator: lines render one at a time, each
    under ``torch.random.fork_rng`` seeded with its seed. No rate control: delivery hints change
    the level only. Under ``performance`` the take gives the timing (``keep_timing``, default
    true), as for Pocket TTS."""

    model_types = ("vibevoice",)
    what = "a VibeVoice model"
    options_read = OneLineAtATime.options_read | {"speakers"}

    def load(self, path: Path) -> Loaded:
        from transformers import VibeVoiceForConditionalGeneration

        return self.load_with_processor(VibeVoiceForConditionalGeneration, path)

    def waveform(self, task, name: str, loaded: Loaded, rate: int, text: str) -> np.ndarray:
        params = task.job.params
        model, processor = loaded.model, loaded.processor
        speakers = self.options.get("speakers") or {}
        # VibeVoice was trained on conversations of up to 4 speakers, "Speaker 0" to "3"
        speaker = str(int(speakers.get(params.character, params.character_index)) % 4)
        content = [{"type": "text", "text": text}]
        audio = None
        if params.voice_sample:
            audio = [self.voice_clip(task, params.voice_sample, rate)]
            content.append({"type": "audio", "audio": audio[0]})
        prompt = processor.apply_chat_template([{"role": speaker, "content": content}],
                                               tokenize=False)
        inputs = on_model(processor(text=prompt, audio=audio, return_tensors="pt"), model)
        frame_rate = rate / float(model.config.audio_config.hop_length)
        generation = {"max_new_tokens": frame_budget(
            text, frame_rate, float(self.options.get("max_seconds", 20.0)))}
        if self.config.guidance is not None:
            generation["guidance_scale"] = float(self.config.guidance)
        if self.config.steps is not None:
            generation["num_diffusion_steps"] = int(self.config.steps)
        generation["logits_processor"] = tokens_unguided(model)
        with _quiet_processor_override():
            output = self.generate(name, [task.job.label], lambda: generated_under_seed(
                model, device_of(model), task.job.seed, **inputs, **generation))
        # a list of waveforms (None: no speech), or an output holding that list
        audio_out = (output if isinstance(output, list) else output.audio)[0]
        if audio_out is None:
            return np.zeros(0, np.float32)
        return audio_out.float().cpu().numpy().reshape(-1)


def tokens_unguided(model):
    """VibeVoice guides its diffusion head only (the original's ``cfg_scale``); transformers'
    ``generate`` also turns a ``guidance_scale`` ≠ 1 into classifier-free guidance of the token
    logits, one more unconditional language-model pass a frame that the original never runs
    and that moves where speech ends. A processor of that class at scale 1 takes the place of
    the one ``generate`` would make (and passes the scores through)."""
    from transformers import LogitsProcessorList, UnbatchedClassifierFreeGuidanceLogitsProcessor

    return LogitsProcessorList([UnbatchedClassifierFreeGuidanceLogitsProcessor(1.0, model)])


@contextmanager
def _quiet_processor_override():
    """Without generate's warning that the processor above takes precedence: it is meant to."""
    import logging

    class Override(logging.Filter):
        def filter(self, record) -> bool:
            return "will take precedence" not in record.getMessage()

    logger, override = logging.getLogger("transformers.generation.utils"), Override()
    logger.addFilter(override)
    try:
        yield
    finally:
        logger.removeFilter(override)


def _write_line(task, wave: np.ndarray, rate: int, *, keep_timing: bool) -> dict:
    """Write a cloned line: silence for nothing said, a performance stretched to its take's
    length (trimmed of silence) when ``keep_timing``, levelled, times the delivery's gain."""
    params = task.job.params
    if not len(wave):
        wave = np.zeros(int(SILENCE_SECONDS * rate), np.float32)
    elif params.performance and keep_timing:
        take = speech_dsp.trim_silence(read_recording(task, params.performance, rate), rate)
        wave = exact_length(speech_dsp.time_stretch(wave, rate, len(take) / len(wave)), len(take))
    gain = delivery_of(params.delivery or ()).gain
    wave = np.clip(speech_dsp.match_level(wave, rate) * gain, -1.0, 1.0)
    write_wav(task.output("speech"), wave, rate)
    return {"seconds": round(len(wave) / rate, 4), "sample_rate": rate}


def _json_of(folder: Path, name: str = "processor_config.json") -> dict:
    """A model folder's JSON settings file (empty when there is none)."""
    try:
        return json.loads((Path(folder) / name).read_text("utf-8"))
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------- MusicGen

