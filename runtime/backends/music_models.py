"""Music and effects backends: MusicGen (transformers), Stable Audio and ACE-Step (diffusers).

User documentation: docs/audio-backends.md."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moviola.compiler.plan import SAMPLE_RATE
from moviola.runtime import models as store
from moviola.runtime.audio_io import load_audio, resample, write_wav

from moviola.runtime.backends.audio_base import (Loaded, TransformersBackend, clean_text,
                                                 device_of, seeded_generator, sub_seed)


SFX_SECONDS = 2.0            # an effect without a duration
MARGIN_SECONDS = 0.25        # frames generated past a music row's end (codec look-ahead)


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
    lyrics: str = ""         # the lines sung in this segment ("" instrumental)
    tempo: float | None = None
    label: str = ""          # the job's, for errors


class LyricsNotTaken(Exception):
    """A music cue has sung lines and its model cannot sing them."""


class _MusicAndEffects(TransformersBackend):
    """Music cues and sound effects: recorded sources, long cues in crossfaded segments, 48 kHz.

    A subclass says how long one generation may be (``limits``) and renders rows (one segment
    each: prompt, seconds, seed) with ``generate_rows``."""

    default_segment = 30.0
    takes_lyrics = False
    options_read = frozenset({"segment_seconds", "crossfade_seconds"})

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
            lines = _lyric_lines(task)
            if lines and not self.takes_lyrics:
                raise LyricsNotTaken(f"{task.job.label}: the cue has sung lines and "
                                     f"{self.config.model} ({self.config.backend}) cannot sing; "
                                     "use a lyrics model (diffusers.ace_step)")
            plan = segment_plan(_length(task) / SAMPLE_RATE, longest, overlap)
            plans.append(plan)
            for number, (length, sung) in enumerate(zip(plan, _share_lines(lines, len(plan)))):
                seed = task.job.seed if number == 0 else \
                    sub_seed(task.job.seed, f"segment {number}")
                rows.append(_Row(index, _prompt(task), length, seed, "\n".join(sung),
                                 getattr(task.job.params, "tempo", None), task.job.label))
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
    options_read = _MusicAndEffects.options_read | {"top_k", "temperature"}

    def load(self, path: Path) -> Loaded:
        from transformers import MusicgenForConditionalGeneration

        return self.load_with_processor(MusicgenForConditionalGeneration, path)

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
        device = device_of(model)
        inputs = processor(text=[row.prompt for row in rows], padding=True,
                           return_tensors="pt").to(device)
        def call():
            # a fresh sampler each try: its generators must draw from the start again
            sampler = _seeded_sampler([seeded_generator(device, row.seed) for row in rows],
                                      decoder.num_codebooks, guidance, top_k, temperature)
            with torch.inference_mode():
                return model.generate(**inputs, generation_config=settings,
                                      logits_processor=LogitsProcessorList([sampler]))

        values = self.generate(name, [row.label for row in rows], call)
        values = values.float().cpu().numpy()          # (rows, channels, samples)
        return [values[i, :, :int(round(row.seconds * model_rate))].T for i, row in enumerate(rows)]


def _prompt(task) -> str:
    params = task.job.params
    description = clean_text(params.description or "")
    if task.job.kind == "music":
        description = description or clean_text(str(params.theme or "")).lower()
        tempo = params.tempo
        if tempo and "bpm" not in description.lower():
            description = f"{description}, {tempo:g} bpm" if description else f"{tempo:g} bpm"
    return description


def _lyric_lines(task) -> list[str]:
    lyrics = getattr(task.job.params, "lyrics", None)     # effects have none
    return [line for line in (lyrics or "").splitlines() if line.strip()]


def _share_lines(lines: list[str], segments: int) -> list[list[str]]:
    """The sung lines of a cue in order over its segments, an equal share each (a segment
    sings its own lines, not the whole song again)."""
    shares: list[list[str]] = [[] for _ in range(segments)]
    for number, line in enumerate(lines):
        shares[number * segments // len(lines)].append(line)
    return shares


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

class _AudioPipeline(_MusicAndEffects):
    """A diffusers audio pipeline: the folder's model_index.json must name ``pipeline_class``."""

    pipeline_class = ""

    def _check_type(self, path: Path) -> None:
        try:
            kind = json.loads((path / "model_index.json").read_text("utf-8")).get("_class_name")
        except (OSError, ValueError, AttributeError):
            raise store.ModelBroken(path, "model_index.json is missing or not readable JSON: not "
                                    "a diffusers pipeline") from None
        if kind != self.pipeline_class:
            raise store.ModelBroken(path, f"model_index.json describes a {kind!r}; backend "
                                    f"{self.config.backend} needs a {self.pipeline_class}")

    def load(self, path: Path):
        import diffusers

        pipe = store.load_safely(getattr(diffusers, self.pipeline_class).from_pretrained, path,
                                 dtype=self.torch_dtype())
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def one_generation_a_row(self, name: str, rows: list[_Row], generation) -> list[np.ndarray]:
        """Each row's audio from its own pipeline call (a job's audio must not depend on its
        batch): ``generation(pipe, row)`` makes the call; its audio, cut or padded to the row's
        length, as (samples, channels)."""
        import torch

        pipe = self.resident(name)
        rate = int(pipe.vae.config.sampling_rate)
        audio = []
        for row in rows:
            def call(row=row):
                with torch.inference_mode():
                    return generation(pipe, row)

            output = self.generate(name, [row.label], call)
            samples = np.asarray(output.audios[0], dtype=np.float32).T      # (samples, channels)
            audio.append(_exact(samples, int(round(row.seconds * rate))))
        return audio


class StableAudio(_AudioPipeline):
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
    options_read = _MusicAndEffects.options_read | {"negative_prompt"}
    pipeline_class = "StableAudioPipeline"
    default_segment = 1e9                     # the model's window

    def limits(self, name: str) -> tuple[float, int]:
        pipe = self.resident(name)
        rate = int(pipe.vae.config.sampling_rate)
        return pipe.transformer.config.sample_size * pipe.vae.hop_length / rate, rate

    def generate_rows(self, name: str, rows: list[_Row]) -> list[np.ndarray]:
        import torch

        pipe = self.resident(name)
        rate = int(pipe.vae.config.sampling_rate)
        device = pipe.device
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
                def call(chunk=chunk, seconds=seconds):
                    with torch.inference_mode():
                        return pipe(
                            prompt=[rows[i].prompt for i in chunk],
                            negative_prompt=[negative] * len(chunk) if negative else None,
                            audio_end_in_s=seconds,
                            num_inference_steps=steps,
                            guidance_scale=guidance,
                            generator=[seeded_generator(device, rows[i].seed) for i in chunk],
                            output_type="np")

                output = self.generate(name, [rows[i].label for i in chunk], call)
                for i, values in zip(chunk, output.audios):
                    samples = np.asarray(values, dtype=np.float32).T     # (samples, channels)
                    audio[i] = _exact(samples, int(round(rows[i].seconds * rate)))
        return audio


class StableAudio3(_AudioPipeline):
    """``diffusers.stable_audio_3``: Stable Audio 3 (diffusers' ``StableAudio3Pipeline``) for
    sound effects and music.

    The prompt is built as for MusicGen. The pipeline is told the sound's length (its duration
    embedder's range: up to 384 s for stabilityai/stable-audio-3-medium), so a cue within it is
    one generation; a longer one crossfaded segments, as with MusicGen. One generation per call
    (a job's audio must not depend on its batch). The audio (44.1 kHz stereo) is resampled to
    48 kHz. ``steps``: default the checkpoint's scheduler's (8 for the distilled medium);
    ``guidance`` passed only when set (default the pipeline's, 1). Options: ``segment_seconds``,
    ``crossfade_seconds``."""

    what = "a Stable Audio 3 pipeline"
    pipeline_class = "StableAudio3Pipeline"
    default_segment = 1e9                     # the duration embedder's range

    def limits(self, name: str) -> tuple[float, int]:
        pipe = self.resident(name)
        return float(pipe.duration_embedder.config.max_val), int(pipe.vae.config.sampling_rate)

    def generate_rows(self, name: str, rows: list[_Row]) -> list[np.ndarray]:
        settings = {}
        if self.config.steps:
            settings["num_inference_steps"] = self.config.steps
        if self.config.guidance is not None:
            settings["guidance_scale"] = self.config.guidance
        return self.one_generation_a_row(name, rows, lambda pipe, row: pipe(
            prompt=row.prompt, duration=row.seconds,
            generator=seeded_generator(pipe.device, row.seed), output_type="np", **settings))


# --------------------------------------------------------------------------- ACE-Step


class AceStep(_AudioPipeline):
    """``diffusers.ace_step``: ACE-Step 1.5 (diffusers' ``AceStepPipeline``) for music cues
    with sung lyrics.

    The prompt is built as for MusicGen; a theme's tempo also goes to the pipeline as ``bpm``.
    The cue's sung lines (the Fountain ``~`` lines from its cue to the next one) reach the
    model's ``lyrics``; an instrumental cue passes none (""). A cue longer than
    ``segment_seconds`` (default 240) is generated in segments crossfaded over
    ``crossfade_seconds`` (default 2), each singing its share of the lines in order, each with
    its own seed; the whole is cut to the cue's exact length. The audio (48 kHz stereo) needs
    no resampling. Lines past what the pipeline reads (it truncates) are an error, not cut.

    One generation per call: the pipeline pads a batch's prompts and lyrics to the longest,
    which moves a job's audio slightly, and batching must never change what a job renders.

    ``steps`` (default 8, the turbo checkpoints' schedule) and ``guidance`` (the pipeline's
    default 7; turbo checkpoints ignore it). Options: ``vocal_language`` (default "en"),
    ``shift`` (default 3), ``segment_seconds``, ``crossfade_seconds``."""

    what = "an ACE-Step pipeline"
    options_read = _MusicAndEffects.options_read | {"vocal_language", "shift"}
    pipeline_class = "AceStepPipeline"
    lyric_tokens = 2048 - 32      # the pipeline's max_lyric_length (it truncates), less its header
    default_segment = 240.0
    takes_lyrics = True

    def limits(self, name: str) -> tuple[float, int]:
        # the DiT has rotary positions: no window; segments keep a generation's memory bounded
        return 600.0, int(self.resident(name).vae.config.sampling_rate)

    def generate_rows(self, name: str, rows: list[_Row]) -> list[np.ndarray]:
        pipe = self.resident(name)
        settings = {"num_inference_steps": self.config.steps or 8,
                    "vocal_language": str(self.options.get("vocal_language", "en")),
                    "shift": float(self.options.get("shift", 3.0))}
        if self.config.guidance is not None:
            settings["guidance_scale"] = self.config.guidance
        for row in rows:
            tokens = len(pipe.tokenizer(row.lyrics).input_ids)
            if tokens > self.lyric_tokens:
                raise LyricsNotTaken(f"{row.label}: {tokens} tokens of sung lines in one segment; "
                                     f"{self.config.model} reads at most {self.lyric_tokens} "
                                     "(lower segment_seconds to share them out)")
        return self.one_generation_a_row(name, rows, lambda pipe, row: pipe(
            prompt=row.prompt, lyrics=row.lyrics, audio_duration=row.seconds,
            bpm=int(round(row.tempo)) if row.tempo else None,
            generator=seeded_generator(pipe.device, row.seed), output_type="np", **settings))


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
