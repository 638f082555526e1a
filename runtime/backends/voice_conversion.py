"""``transformers.voice_conversion``: a line the writer recorded, in the character's voice, with
SpeechT5 voice conversion (all native to 🤗 transformers).

A line written ``[[voice: laughing; from: takes/line.wav]]`` is a "speech" job rendered under
the profile's ``performance`` entry. Its take (``performance``) is trimmed of silence and
converted by ``SpeechT5ForSpeechToSpeech`` (e.g. microsoft/speecht5_vc), conditioned on the
character's x-vector, into a mel spectrogram that ``SpeechT5HifiGan`` (microsoft/speecht5_hifigan)
turns into audio. The x-vector comes from ``WavLMForXVector`` (microsoft/wavlm-base-sv) on
the character's ``voice:`` recording, L2-normalised, once per recording per build.

docs/audio-backends.md is the user documentation.

Length: SpeechT5 stops at its own stop token, between ``minlenratio`` and ``maxlenratio`` times
the encoder's frames (divided by the reduction factor) in decoder steps. Those ratios are
computed for each take from the configs (the encoder's conv strides, the reduction factor, the
vocoder's rate and its hop, the product of its upsampling rates) so that the converted speech
lasts between ``min_ratio`` and ``max_ratio`` times the trimmed take. The take's timing is what
the writer performed, so by default (``keep_timing``) the result is then stretched (WSOLA, pitch
kept) to exactly the trimmed take's length.

Determinism: SpeechT5's decoder prenet applies dropout always, even in eval mode, from torch's
global generator, so lines render one at a time, each under ``torch.random.fork_rng`` seeded
with the job's seed: a line renders the same alone or in any batch.

Heavy imports (torch, transformers) happen inside functions only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from moviola.runtime import models as store
from moviola.runtime import speech_dsp
from moviola.runtime.audio_io import write_wav
from moviola.runtime.backends.audio_base import (Loaded, TransformersBackend, device_of,
                                                 exact_length, read_recording)
from moviola.runtime.backends.speech_models import conversion_problems, delivery_of

__all__ = ["VoiceConversion", "length_bounds", "encoder_frames"]

# The revisions that publish safetensors (the repos' main branches hold pickles only): the Hub's
# safetensors conversion pull requests, refs/pr/1 of speecht5_hifigan and refs/pr/2 of
# wavlm-base-sv (wavlm-base-plus-sv has no such revision that we could find).
DEFAULT_VOCODER = "microsoft/speecht5_hifigan@refs/pr/1"
DEFAULT_SPEAKER_ENCODER = "microsoft/wavlm-base-sv@refs/pr/2"


# What each folder must hold: (option naming it, accepted model_type values, the architecture
# its config.json must list when it lists any, what it is in messages).
_ROLES = {
    "model": (None, ("speecht5",), "SpeechT5ForSpeechToSpeech",
              "a SpeechT5 voice conversion model (e.g. microsoft/speecht5_vc)"),
    # microsoft/speecht5_hifigan's config.json says "hifigan"; transformers now writes
    # "speecht5_hifigan"
    "vocoder": ("vocoder", ("hifigan", "speecht5_hifigan"), "SpeechT5HifiGan",
                "a SpeechT5 HiFi-GAN vocoder (e.g. microsoft/speecht5_hifigan)"),
    # a plain WavLMModel lacks the x-vector head, which would load with random weights
    "speaker_encoder": ("speaker_encoder", ("wavlm",), "WavLMForXVector",
                        "a WavLM speaker verification model with an x-vector head "
                        "(e.g. microsoft/wavlm-base-sv)"),
}


class VoiceConversion(TransformersBackend):
    """``transformers.voice_conversion``: the writer's take of a line converted into the
    character's voice with SpeechT5 (``SpeechT5ForSpeechToSpeech`` + ``SpeechT5HifiGan``, the
    target speaker's x-vector from ``WavLMForXVector``). See the module's docstring.

    Options: ``vocoder`` (default microsoft/speecht5_hifigan@refs/pr/1), ``speaker_encoder``
    (default microsoft/wavlm-base-sv@refs/pr/2), ``keep_timing`` (default true: the result is
    stretched to the trimmed take's length), ``min_ratio`` and ``max_ratio`` (default 0.5 and
    1.5: how long the converted speech may be, relative to the trimmed take, before any
    stretching).

    The take carries its own delivery (pace, intonation, laughter): hints change the level only
    (a whisper is quieter). The output is levelled like the draft voices (speech_dsp.match_level)
    before that gain, at the vocoder's rate (16 kHz)."""

    what = "a SpeechT5 voice conversion model"
    options_read = frozenset({"vocoder", "speaker_encoder", "min_ratio", "max_ratio",
                              "keep_timing"})

    def __init__(self, config, models, project: Path | None):
        super().__init__(config, models, project)
        self._xvectors: dict[str, object] = {}       # voice recording → its x-vector (CPU)

    # -- finding the models
    def roles(self) -> dict[str, str]:
        """The configured name of each model: the VC model, its vocoder and the speaker encoder."""
        return {"model": self.config.model,
                "vocoder": str(self.options.get("vocoder") or DEFAULT_VOCODER),
                "speaker_encoder": str(self.options.get("speaker_encoder")
                                       or DEFAULT_SPEAKER_ENCODER)}

    def model_names(self) -> list[str]:
        if not self.config.model:
            return []
        return list(dict.fromkeys(self.roles().values()))

    def validate(self) -> None:
        """Find the three folders (offline), check each holds its kind of model and that they fit
        together (x-vector size, mel bins), before anything loads."""
        if not self.config.model:
            raise store.ModelNotFound("", [], reason=f"backend {self.config.backend} needs a "
                                      f"model: set model = \"microsoft/speecht5_vc\" or a "
                                      f"project folder")
        self._check_options()
        paths: dict[str, Path] = {}
        settings: dict[str, dict] = {}
        for role, name in self.roles().items():
            path = paths.get(name) or store.locate(name, self.project)
            settings[role] = self._check_role(role, path)
            paths[name] = path
        self._check_fit(settings, {role: paths[name] for role, name in self.roles().items()})
        self._paths = paths
        self.revision = "+".join(store.identity(path) for path in paths.values())

    def _check_options(self) -> None:
        low, high = self.ratios()
        if not 0 < low <= high:
            raise ValueError(f"backend {self.config.backend}: options min_ratio ({low:g}) and "
                             f"max_ratio ({high:g}) must satisfy 0 < min_ratio <= max_ratio")

    def _check_role(self, role: str, path: Path) -> dict:
        option, types, architecture, what = _ROLES[role]
        named = f" (options.{option})" if option else ""
        try:
            settings = json.loads((path / "config.json").read_text("utf-8"))
            model_type = settings.get("model_type")
        except (OSError, ValueError, AttributeError):
            raise store.ModelBroken(path, f"config.json is missing or not readable JSON; backend "
                                    f"{self.config.backend} needs {what} here{named}") from None
        if model_type not in types:
            raise store.ModelBroken(path, f"config.json describes a {model_type!r} model; backend "
                                    f"{self.config.backend} needs {what} here{named} (model_type "
                                    f"{' or '.join(map(repr, types))})")
        listed = settings.get("architectures") or []
        if listed and architecture not in listed:
            raise store.ModelBroken(path, f"config.json describes a {', '.join(listed)}; backend "
                                    f"{self.config.backend} needs {what} here{named} "
                                    f"({architecture})")
        return settings

    def _check_fit(self, settings: dict[str, dict], paths: dict[str, Path]) -> None:
        # the defaults are those of SpeechT5Config, SpeechT5HifiGanConfig and WavLMConfig
        wanted = int(settings["model"].get("speaker_embedding_dim", 512))
        given = int(settings["speaker_encoder"].get("xvector_output_dim", 512))
        if wanted != given:
            raise store.ModelBroken(
                paths["speaker_encoder"], f"its x-vectors have {given} values, and the voice "
                f"conversion model at {paths['model']} takes speaker embeddings of {wanted} "
                f"(speaker_embedding_dim); use a speaker encoder whose xvector_output_dim is "
                f"{wanted} (microsoft/speecht5_vc takes 512)")
        bins = int(settings["model"].get("num_mel_bins", 80))
        heard = int(settings["vocoder"].get("model_in_dim", 80))
        if bins != heard:
            raise store.ModelBroken(
                paths["vocoder"], f"the vocoder reads {heard} mel bins, and the voice conversion "
                f"model at {paths['model']} makes {bins}; use the vocoder made for it")

    def load(self, path: Path) -> Loaded:
        from transformers import (AutoFeatureExtractor, SpeechT5ForSpeechToSpeech,
                                  SpeechT5HifiGan, WavLMForXVector)

        role = next(role for role, name in self.roles().items() if self.path(name) == path)
        dtype = self.torch_dtype()
        if role == "vocoder":
            return Loaded(store.load_safely(SpeechT5HifiGan.from_pretrained, path,
                                            dtype=dtype).eval(), None)
        cls = SpeechT5ForSpeechToSpeech if role == "model" else WavLMForXVector
        model = store.load_safely(cls.from_pretrained, path, dtype=dtype)
        extractor = store.load_safely(AutoFeatureExtractor.from_pretrained, path)
        return Loaded(model.eval(), extractor)

    def ratios(self) -> tuple[float, float]:
        return (float(self.options.get("min_ratio", 0.5)),
                float(self.options.get("max_ratio", 1.5)))

    # -- checking the jobs before any GPU work
    def check_jobs(self, jobs: list) -> list[str]:
        """One problem per job this backend cannot render (no take, or no voice to convert to),
        worded as for the other speech-to-speech backends."""
        return conversion_problems(jobs)

    # -- rendering
    def render(self, tasks: list, name: str) -> list[dict]:
        return [self._convert(task) for task in tasks]

    def _convert(self, task) -> dict:
        import torch

        params = task.job.params
        problems = conversion_problems([task.job])
        if problems:
            raise ValueError(problems[0])
        roles = self.roles()
        # the x-vector first: its encoder may load (and evict) before we hold the other two
        embedding = self.xvector(task, params.voice_sample)
        loaded = self.resident(roles["model"])
        model, extractor = loaded.model, loaded.processor
        vocoder = self.resident(roles["vocoder"]).model
        in_rate = int(extractor.sampling_rate)
        out_rate = int(vocoder.config.sampling_rate)
        take = read_recording(task, params.performance, in_rate)
        take = speech_dsp.trim_silence(take, in_rate)
        if embedding.shape[-1] != model.config.speaker_embedding_dim:
            raise store.ModelBroken(self.path(roles["speaker_encoder"]),
                                    f"its x-vectors have {embedding.shape[-1]} values; the voice "
                                    f"conversion model takes {model.config.speaker_embedding_dim}")
        low, high = self.ratios()
        hop = math.prod(int(rate) for rate in vocoder.config.upsample_rates)
        frames = encoder_frames(len(take), model.config.conv_kernel, model.config.conv_stride)
        if frames < 1:
            raise ValueError(f"{_where(task.job)}: the take {params.performance} is too short "
                             f"to convert")
        minlenratio, maxlenratio = length_bounds(
            len(take) / in_rate, frames, low, high, frames_per_second=out_rate / hop,
            reduction_factor=int(model.config.reduction_factor),
            max_steps=int(model.config.max_speech_positions) - 1)
        device = device_of(model)
        dtype = next(model.parameters()).dtype
        values = extractor(audio=take, sampling_rate=in_rate, return_tensors="pt")["input_values"]
        values = values.to(device=device, dtype=dtype)
        # a mask of ones: without one, SpeechT5 masks samples equal to its pad token id
        mask = torch.ones(values.shape, dtype=torch.long, device=device)
        speaker = embedding.to(device=device, dtype=dtype).unsqueeze(0)
        cuda = [device] if device.type == "cuda" else []
        def convert():
            with torch.inference_mode(), torch.random.fork_rng(devices=cuda):
                torch.manual_seed(int(task.job.seed))
                return model.generate_speech(values, speaker, attention_mask=mask, vocoder=vocoder,
                                             minlenratio=minlenratio, maxlenratio=maxlenratio)

        wave = self.generate(roles["model"], [task.job.label], convert)
        wave = wave.float().cpu().numpy().reshape(-1)
        converted = len(wave) / out_rate
        target = int(round(len(take) * out_rate / in_rate))
        if self.options.get("keep_timing", True) and len(wave) and target:
            wave = exact_length(speech_dsp.time_stretch(wave, out_rate, target / len(wave)), target)
        gain = delivery_of(params.delivery or ()).gain
        wave = np.clip(speech_dsp.match_level(wave, out_rate) * gain, -1.0, 1.0)
        write_wav(task.output("speech"), wave, out_rate)
        return {"seconds": round(len(wave) / out_rate, 4), "sample_rate": out_rate,
                "take_seconds": round(len(take) / in_rate, 4),
                "converted_seconds": round(converted, 4)}

    def xvector(self, task, voice: str):
        """The L2-normalised x-vector of a voice recording (a 1-D CPU float32 tensor), computed
        once per recording for this build."""
        if voice not in self._xvectors:
            import torch

            name = self.roles()["speaker_encoder"]
            loaded = self.resident(name)
            encoder, extractor = loaded.model, loaded.processor
            rate = int(extractor.sampling_rate)
            audio = read_recording(task, voice, rate)
            values = extractor(audio, sampling_rate=rate, return_tensors="pt")["input_values"]
            values = values.to(device=device_of(encoder), dtype=next(encoder.parameters()).dtype)
            # one unpadded recording: no attention mask (WavLM's attention warns about its dtype)
            def embed():
                with torch.inference_mode():
                    return encoder(values).embeddings

            embeddings = self.generate(name, [task.job.label], embed)
            self._xvectors[voice] = torch.nn.functional.normalize(
                embeddings.float(), dim=-1)[0].cpu()
        return self._xvectors[voice]


def encoder_frames(samples: int, kernels, strides) -> int:
    """Frames SpeechT5's speech encoder makes of ``samples`` (its convolutions, unpadded):
    about 50 a second at 16 kHz."""
    for kernel, stride in zip(kernels, strides):
        samples = (samples - int(kernel)) // int(stride) + 1
        if samples < 1:
            return 0
    return samples


def length_bounds(take_seconds: float, frames: int, min_ratio: float, max_ratio: float, *,
                  frames_per_second: float, reduction_factor: int,
                  max_steps: int) -> tuple[float, float]:
    """``minlenratio`` and ``maxlenratio`` for ``generate_speech`` such that the output lasts
    between ``min_ratio`` and ``max_ratio`` times ``take_seconds``.

    SpeechT5 makes ``reduction_factor`` mel frames a decoder step and stops after at least
    ``int(frames * minlenratio / r)`` and at most ``int(frames * maxlenratio / r)`` steps
    (``frames``: the encoder's); a mel frame lasts ``1 / frames_per_second`` s (the vocoder's
    hop over its rate). The step counts are rounded inwards (the last step within the bounds;
    at least one), and the ratios are given half a step more so that ``int`` cannot round them
    down. ``max_steps`` is the decoder's positional limit."""
    per_step = reduction_factor / frames_per_second                 # seconds a decoder step
    fewest = min(max(1, math.ceil(min_ratio * take_seconds / per_step - 1e-9)), max_steps)
    most = min(max(fewest, math.floor(max_ratio * take_seconds / per_step + 1e-9)), max_steps)
    return ((fewest + 0.5) * reduction_factor / frames,
            (most + 0.5) * reduction_factor / frames)


def _where(job) -> str:
    return f"{job.label} (line {job.span.line})" if job.span is not None else job.label
