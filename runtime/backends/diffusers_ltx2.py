"""Clips and restyled footage on LTX-2 (Lightricks/LTX-2): a video-with-audio model, used here
for its picture.

The folder declares ``LTX2Pipeline`` (text-to-video); a clip from a keyframe runs through the
family's own ``LTX2ImageToVideoPipeline``, built on the same modules (one set of weights, its
dtypes untouched). LTX-2 generates at its native frame rate (24 fps, frames 8k+1, sizes multiples of 32)
and the clip is retimed to the film's fps; a shot longer than one generation (121 frames) goes on
in segments through ``LTX2ConditionPipeline``, each conditioned on the previous segment's last
9 frames, so it plays at its real speed. The audio LTX-2 generates alongside is discarded:
the film's mix owns the sound.

Footage (the backend named under ``footage``): a shot's ``from:`` video is restyled through
``LTX2ConditionPipeline`` too, from the footage's own latents noised to the last
``options.strength`` of the schedule, in chunks continued like a long clip's (restyle_work).

Lip-sync (``options.lip_sync = true``): the plan gives a close or medium shot's clip the speech
of the lines said on screen by someone in frame, with their offsets in the shot
(compiler/plan.py). The clip then runs through ``LTX2DFRPipeline`` (same weights),
the one public LTX-2 pipeline that holds given audio clean while it denoises the video
(``freeze_audio=True``: the audio stream stays at timestep 0 and takes no Euler step, and the
video still cross-attends to it), conditioned on the keyframe as its first frame
(``conditions=[LTX2VideoCondition(image, index=0)]``, ``generate_slots=False``). The dialogue
reaches it as LTX-2 audio latents: each line placed at its offset, resampled to the audio VAE's
rate, its log-mel spectrogram (the front end of ltx-core's audio encoder: a 1024-point Hann STFT
of magnitudes, Slaney mel filters up to Nyquist, natural log floored at 1e-5, with the rate, hop
and mel bins of the audio VAE's config), encoded by ``AutoencoderKLLTX2Audio``. The audio the
pass generates is discarded like any other; the mix plays the speech itself.

What it cannot do: ``LTX2DFRPipeline`` runs no guidance. Its ``__call__`` has no
``guidance_scale``, ``negative_prompt``, ``stg_scale`` or ``modality_scale``, and its
``denoise`` makes one transformer call a step (it is built for a distilled schedule). The
pipelines that guide (``LTX2ImageToVideoPipeline``, ``LTX2ConditionPipeline``,
``LTX2InContextPipeline``) take ``audio_latents`` only as the start of the audio's own
denoising (noised by ``noise_scale``, stepped from sigma 1), and their step callback cannot
reach the audio (``_callback_tensor_inputs`` is latents and prompt embeddings). The LTX-2 dev
checkpoint is made for guidance 3–4, so a lip-synced clip runs one of two ways:

- with ``options.lip_sync_lora`` (``final``: the checkpoint's distilled LoRA,
  ``ltx-2-19b-distilled-lora-384.safetensors``, a file of the model's folder or a project
  path), the lip-synced clips load it (``load_lora_weights``, as diffusers' LTX-2 docs do) and
  walk the distilled schedule (``DISTILLED_SIGMA_VALUES``: 8 steps), unguided as the distilled
  model is meant to run; every other clip runs the dev checkpoint with the profile's guidance,
  the LoRA off;
- without it, the profile's clips must all run unguided (``guidance = 1``,
  ``options.stg_scale = 0``, ``options.modality_scale = 1``), which validation checks.
"""

from __future__ import annotations

import math
import weakref
from pathlib import Path

import numpy as np

from moviola.compiler.profiles import DEFAULT_RESTYLE_STRENGTH
from moviola.runtime import models as store
from moviola.runtime.audio_io import read_wav, resample
from moviola.runtime.backends.diffusers_base import (Work, lora_entry, open_rgb,
                                                     share_pipeline)
from moviola.runtime.backends.diffusers_footage import restyle_steps
from moviola.runtime.backends.diffusers_video import ImageToVideo
from moviola.runtime.video import cover, read_video

NATIVE_FPS = 24.0            # LTX-2's training frame rate (the pipelines' frame_rate default)
NATIVE_FRAMES = 121          # the pipelines' default length: 5 s at 24 fps
# the family's pipelines a clip runs through: the first segment from the keyframe, the next
# ones continued from the previous segment's last frames; a lip-synced clip's segments all run
# through the one that holds the speech fixed
SIBLINGS = {"image": "LTX2ImageToVideoPipeline", "condition": "LTX2ConditionPipeline",
            "lip_sync": "LTX2DFRPipeline", "restyle": "LTX2ConditionPipeline"}
# the siblings given a schedule already shifted for their size (schedule()): their scheduler
# walks the sigmas as given (LTX2DFRPipeline applies no shift; LTX2ConditionPipeline would
# shift the tail of a restyle's schedule a second time)
UNSHIFTED = ("lip_sync", "restyle")
# ltx-core's audio front end (its AudioProcessor); the audio VAE's config gives the rest
MEL_FFT = 1024
MEL_FLOOR = 1e-5
# what a lip-synced clip's pass cannot apply (LTX2DFRPipeline takes no guidance): the profile
# must set them to these values, so that every clip of it renders unguided alike
UNGUIDED = {"stg_scale": 0.0, "modality_scale": 1.0}

# the siblings of each resident LTX-2 pipeline, dropped with it on eviction
_SIBLINGS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class LipSyncUnavailable(ValueError):
    """A profile asked LTX-2 for lip-sync with settings the lip-sync pipeline cannot apply."""


class AudioVideo(ImageToVideo):
    """Clips from their keyframe on LTX-2, at LTX-2's native frame rate; with
    ``options.lip_sync``, a shot's on-screen dialogue conditions its picture. Under
    ``footage``, a shot's own video restyled."""

    name = "diffusers.audio_video"
    options_read = ImageToVideo.options_read | {"lip_sync", "lip_sync_lora"}
    _distilled: Path | None = None       # options.lip_sync_lora's file, found by validate()

    def pipeline_names(self, declared: str) -> list[str]:
        return list(dict.fromkeys([*super().pipeline_names(declared), *SIBLINGS.values()]))

    def validate(self) -> None:
        if self.options.get("lip_sync") and not self.options.get("lip_sync_lora"):
            guidance = self.config.guidance
            wrong = [] if guidance is not None and float(guidance) <= 1.0 else \
                [f"guidance = {guidance}"]
            wrong += [f"options.{name} = {self.options.get(name)}"
                      for name, value in UNGUIDED.items() if self.options.get(name) != value]
            if wrong:
                wanted = ", ".join(["guidance = 1"] + [f"options.{name} = {value:g}"
                                                       for name, value in UNGUIDED.items()])
                raise LipSyncUnavailable(
                    f"{self.config.kind} model {self.config.model}: lip-sync runs through "
                    f"diffusers' LTX2DFRPipeline, the one LTX-2 pipeline that holds the speech "
                    f"fixed, and it takes no guidance; the profile has {', '.join(wrong)}. Set "
                    f"{wanted} (every clip's picture then renders unguided), or give "
                    f"options.lip_sync_lora (the distilled LoRA the lip-synced clips then run "
                    f"with, unguided), or remove options.lip_sync")
        super().validate()
        if self.options.get("lip_sync_lora"):
            self._distilled = self.distilled_lora()
            self.revision += "+" + store.identity(self._distilled)

    def distilled_lora(self) -> Path:
        """The file ``options.lip_sync_lora`` names: a weight file of the model's folder (the
        checkpoint's own distilled LoRA), else a LoRA file or folder of the project or cache."""
        spec = str(self.options["lip_sync_lora"])
        own = self.path / spec
        if "/" not in spec and own.is_file():
            if own.suffix != ".safetensors":
                raise store.ModelBroken(own, "options.lip_sync_lora: only safetensors weights "
                                        "are loaded")
            return own
        if "/" not in spec:
            raise store.ModelNotFound(spec, [own], reason=(
                f"options.lip_sync_lora names {spec}, which is not in {self.config.model}'s "
                f"folder ({self.path}); fetch it with: hf download {self.config.model} {spec}"))
        folder, weight = self._lora_file(spec)
        return folder / weight

    def variant(self, pipe, which: str):
        """The folder pipeline's image-to-video ("image"), condition ("condition"), lip-sync
        ("lip_sync") or restyling ("restyle") sibling, on its very modules (share_pipeline:
        from_pipe would cast the resident bfloat16 weights to float32 in place)."""
        name = SIBLINGS.get(which)
        if name is None:
            return super().variant(pipe, which)
        if type(pipe).__name__ == name and which not in UNSHIFTED:
            return pipe
        siblings = _SIBLINGS.setdefault(pipe, {})
        if which not in siblings:
            import diffusers

            components = {}
            if which in UNSHIFTED:
                components["scheduler"] = diffusers.FlowMatchEulerDiscreteScheduler.from_config(
                    pipe.scheduler.config, use_dynamic_shifting=False, shift=1.0,
                    shift_terminal=None)
            siblings[which] = share_pipeline(getattr(diffusers, name), pipe, **components)
            siblings[which].set_progress_bar_config(disable=True)
        return siblings[which]

    def plan_task(self, task, pipe) -> Work:
        if task.job.params.source:                  # a footage job: the shot's own video
            return self.restyle_work(task, pipe)
        keyframe = task.inputs.one("keyframe")
        if keyframe is None:
            raise ValueError(f"{self.name}: shot {task.job.ref} has no keyframe; "
                             f"{self.config.model} makes clips from their keyframe")
        speech = task.inputs.of_kind("speech")
        if speech and not self.options.get("lip_sync"):
            raise ValueError(f"{self.name}: shot {task.job.ref} was planned with its dialogue "
                             f"for lip-sync, but {self.config.model} has no options.lip_sync")
        params = task.job.params
        target = self.variant(pipe, "lip_sync" if speech else "image")
        size = self.generation_size(target, (int(params.width), int(params.height)))
        rate = self.native_rate()
        count = self.native_frame_count(task, rate,
                                        target.vae_temporal_compression_ratio)
        # the keyframe goes as one PIL image per call: the pipeline re-compresses it (its
        # image_crf recipe) only from a PIL image, so each clip is its own call
        image = cover(open_rgb(keyframe.artifact("keyframe")), size)
        shared = {"width": size[0], "height": size[1], "num_frames": count, "frame_rate": rate}
        sample = {"prompt": self.shot_prompt(task, target), "negative_prompt": self.negative_prompt(),
                  "seed": task.job.seed}
        wanted = self.wanted_frames(task, rate)
        if speech:
            return self.lip_synced_work(task, pipe, target, shared, sample, image, wanted)
        shared.update(self.steps_and_guidance(target), image=image)

        def finish(outputs):
            return self.finish_clip(task, self.continued(pipe, outputs[0], wanted, shared,
                                                         sample))

        return Work((task.job.id, size, count, rate), "image", shared, [sample], finish,
                    self.task_loras(task))

    def continued(self, pipe, frames, wanted: int, shared: dict, sample: dict):
        """``frames`` extended to ``wanted`` frames by segments of the same length, each
        conditioned on the previous one's last 8k+1 frames (one latent frame plus the first),
        so a shot longer than the model's length plays at its real speed."""
        condition = self.variant(pipe, "condition")
        step = {k: v for k, v in shared.items() if k != "image"}

        def segment(conditions, start: int, index: int):
            return self._call(condition, {**step, "conditions": conditions},
                              [{**sample, "seed": sample["seed"] + index}])[0]

        return self.segments_after(condition, frames, wanted, segment)

    def segments_after(self, target, frames, wanted: int, segment):
        """``frames`` extended to ``wanted`` by ``segment(conditions, start, index)`` calls,
        each given the previous frames' last 8k+1 as its first frames (``start``: the native
        frame they begin at)."""
        from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
        from PIL import Image

        overlap = target.vae_temporal_compression_ratio + 1
        if len(frames) < wanted and len(frames) <= overlap:
            raise ValueError(f"{self.name}: {self.config.model} makes {len(frames)} frames per "
                             f"call, too few to continue a shot from its last {overlap}; raise "
                             f"options.max_frames (or frames) above {overlap}")
        index = 1
        while len(frames) < wanted:
            tail = [Image.fromarray(frame) for frame in frames[-overlap:]]
            start = len(frames) - overlap
            more = segment([LTX2VideoCondition(frames=tail, index=0, strength=1.0)], start, index)
            frames = np.concatenate([frames, more[overlap:]])
            index += 1
        return frames[:wanted]

    # -- footage ------------------------------------------------------------------------------

    def restyle_work(self, task, pipe) -> Work:
        """The shot's ``from:`` video restyled by its prompt, at LTX-2's native rate, through
        ``LTX2ConditionPipeline``'s own continuation inputs: the footage's latents
        (``latents``) noised to the point of the profile's schedule that leaves the last
        ``options.strength`` of its steps (``sigmas``; ``noise_scale`` is their first), and
        denoised from there, so the restyle follows every frame of the footage. A shot longer
        than one generation is restyled in chunks of the footage, each after the first
        beginning with the previous restyled chunk's last 8k+1 frames held clean (a first-frame
        condition over the source's), so the restyle carries over the seams. The sound track
        starts from silence (its generated sound is discarded like a clip's)."""
        from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
        from PIL import Image

        params = task.job.params
        target = self.variant(pipe, "restyle")
        size = self.generation_size(target, (int(params.width), int(params.height)))
        rate = self.native_rate()
        temporal = target.vae_temporal_compression_ratio
        count = self.native_frame_count(task, rate, temporal)
        wanted = self.wanted_frames(task, rate)
        overlap = temporal + 1
        if wanted > count and count <= overlap:
            raise ValueError(f"{self.name}: {self.config.model} restyles {count} frames per "
                             f"call, too few to continue footage from its last {overlap}; "
                             f"raise frames above {overlap}")
        advance = count - overlap
        chunks = 1 if wanted <= count else 1 + math.ceil((wanted - count) / advance)
        source = [cover(frame, size) for frame in read_video(
            task.source(params.source), count + (chunks - 1) * advance, rate)]
        shared = {"width": size[0], "height": size[1], "num_frames": count, "frame_rate": rate}
        shared.update({name: value for name, value in self.steps_and_guidance(target).items()
                       if name != "num_inference_steps"},            # the sigmas say the steps
                      sigmas=self.restyle_sigmas(task, pipe, target, shared),
                      audio_latents=self.audio_latents(target, None, count / rate))
        sample = {"prompt": self.shot_prompt(task, target), "negative_prompt": self.negative_prompt(),
                  "seed": task.job.seed}

        def chunk(index: int, before=None) -> dict:
            frames = source[index * advance:index * advance + count]
            inputs = {**shared, "latents": self.footage_latents(target, frames)}
            if before is not None:
                tail = [Image.fromarray(frame) for frame in before[-overlap:]]
                inputs["conditions"] = [LTX2VideoCondition(frames=tail, index=0, strength=1.0)]
            return inputs

        def finish(outputs):
            frames = outputs[0]
            for index in range(1, chunks):
                more = self._call(target, chunk(index, frames),
                                  [{**sample, "seed": sample["seed"] + index}])[0]
                frames = np.concatenate([frames, more[overlap:]])
            meta = self.finish_clip(task, frames[:wanted])
            meta["segments"] = chunks
            return meta

        # each restyle is its own call: its footage is its own
        return Work((task.key,), "restyle", chunk(0), [sample], finish, self.task_loras(task))

    def restyle_sigmas(self, task, pipe, target, shared: dict) -> list[float]:
        """The last ``options.strength`` of the profile's schedule at this size (as
        image-to-image counts it: that share of the steps, rounded down)."""
        strength = float(self.options.get("strength", DEFAULT_RESTYLE_STRENGTH))
        schedule = self.schedule(pipe, target, shared)
        return schedule[len(schedule) - restyle_steps(task, len(schedule), strength):]

    @staticmethod
    def footage_latents(target, frames) -> "object":
        """Frames (PIL, the generation size) as the video VAE's latents, (1, C, F', H', W'),
        float32 for the pipeline's loop (it normalizes them itself)."""
        import torch

        pixels = np.stack([np.asarray(frame, np.float32) for frame in frames]) / 127.5 - 1.0
        video = torch.from_numpy(pixels).permute(3, 0, 1, 2)[None]
        vae = target.vae
        with torch.no_grad():
            latents = vae.encode(video.to(vae.device, vae.dtype)).latent_dist.mode()
        return latents.float()

    # -- lip-sync -----------------------------------------------------------------------------

    def lip_synced_work(self, task, pipe, target, shared: dict, sample: dict, image,
                        wanted: int) -> Work:
        """The clip through LTX2DFRPipeline with the shot's dialogue held fixed: the keyframe
        as its first frame, each segment hearing the speech of its own span of the shot."""
        from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition

        rate, count = shared["frame_rate"], shared["num_frames"]
        loras = self.task_loras(task)
        if self._distilled is not None:
            from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES

            sigmas = list(DISTILLED_SIGMA_VALUES)
            loras += (lora_entry(self._distilled, 1.0),)
        else:
            sigmas = self.schedule(pipe, target, shared)
        shared = {**shared, "sigmas": sigmas, "freeze_audio": True, "generate_slots": False}

        def segment(conditions, start: int, index: int):
            audio = self.speech_latents(target, task, start / rate, count)
            return self._call(target, {**shared, "conditions": conditions, "audio_latents": audio},
                              [{**sample, "seed": sample["seed"] + index}])[0]

        def finish(outputs):
            return self.finish_clip(task, self.segments_after(target, outputs[0], wanted,
                                                              segment))

        first = {**shared, "audio_latents": self.speech_latents(target, task, 0.0, count),
                 "conditions": [LTX2VideoCondition(frames=image, index=0, strength=1.0)]}
        # each lip-synced clip is its own call: its speech is its own
        return Work((task.key,), "lip_sync", first, [sample], finish, loras)

    def schedule(self, pipe, target, shared: dict) -> list[float]:
        """The sigmas the image-to-video pipeline walks for the profile's steps at this size:
        its linear ramp, shifted for the number of video tokens by the folder's scheduler
        (resolution-dependent shift, stretched to its terminal value)."""
        import copy
        import inspect

        from diffusers.pipelines.ltx2.pipeline_ltx2_image2video import calculate_shift

        image_to_video = self.variant(pipe, "image")
        steps = int(self.config.steps or inspect.signature(image_to_video.__call__)
                    .parameters["num_inference_steps"].default)
        spatial = target.vae_spatial_compression_ratio * target.transformer_spatial_patch_size
        frames = (shared["num_frames"] - 1) // target.vae_temporal_compression_ratio + 1
        tokens = (-(-frames // target.transformer_temporal_patch_size)
                  * (shared["height"] // spatial) * (shared["width"] // spatial))
        scheduler = copy.deepcopy(pipe.scheduler)
        config = scheduler.config
        mu = calculate_shift(tokens, config.get("base_image_seq_len", 1024),
                             config.get("max_image_seq_len", 4096),
                             config.get("base_shift", 0.95), config.get("max_shift", 2.05))
        scheduler.set_timesteps(sigmas=np.linspace(1.0, 1.0 / steps, steps), mu=mu)
        return [float(sigma) for sigma in scheduler.sigmas[:-1]]

    def speech_latents(self, target, task, start: float, frames: int):
        """The shot's on-screen dialogue for a generation of ``frames`` native frames from
        ``start`` seconds into the shot (silence where no line plays), as raw LTX-2 audio
        latents (batch, channels, length, latent mel bins) of the length the pipeline gives
        that generation."""
        from diffusers.pipelines.ltx2.dfr_layout import resolve_canvas

        # the pipeline pads the video to whole keyframe segments: the speech covers them all
        canvas, _, _ = resolve_canvas(frames, target.vae_temporal_compression_ratio)
        seconds = canvas / self.native_rate()
        rate = int(target.audio_vae.config.sample_rate)
        return self.audio_latents(target, speech_track(task, rate, start, seconds), seconds)

    @staticmethod
    def audio_latents(target, samples, seconds: float):
        """``samples`` (mono, at the audio VAE's rate; None: silence) as raw LTX-2 audio
        latents (batch, channels, length, latent mel bins) of the length the pipeline gives
        ``seconds``."""
        import torch

        vae = target.audio_vae
        rate, hop = int(vae.config.sample_rate), int(vae.config.mel_hop_length)
        if samples is None:
            samples = np.zeros(int(round(seconds * rate)), np.float32)
        mel = log_mel(samples, rate, hop, int(vae.config.mel_bins))
        spectrogram = torch.from_numpy(mel)[None, None].repeat(1, int(vae.config.in_channels), 1, 1)
        with torch.no_grad():
            latents = vae.encode(spectrogram.to(vae.device, vae.dtype)).latent_dist.mode()
        # as many latent frames as the pipeline makes for that duration (the causal encoder
        # gives one more for the STFT's centred last frame)
        length = round(seconds * rate / hop / target.audio_vae_temporal_compression_ratio)
        return latents[:, :, :length]

    def native_rate(self) -> float:
        return float(self.options.get("frame_rate") or NATIVE_FPS)

    def wanted_frames(self, task, rate: float) -> int:
        """The frames the whole shot takes at LTX-2's rate: its duration, never a set length
        (``config.frames`` is one generation's; a longer shot is several)."""
        seconds = task.timing["frames"] / float(task.job.params.fps)
        return math.ceil(seconds * rate)

    def native_frame_count(self, task, rate: float, temporal: int) -> int:
        """Frames of one generation: the shot's at LTX-2's rate, capped at the frames a
        generation makes (``config.frames``, else ``options.max_frames``, else the model's
        native 121), on the VAE's 8k+1 grid (rounded up: a clip never shorter than the shot
        when it fits)."""
        wanted = self.wanted_frames(task, rate)
        cap = int(self.config.frames or self.options.get("max_frames") or NATIVE_FRAMES)
        grid = max(1, math.ceil((min(wanted, cap) - 1) / temporal)) * temporal + 1
        return min(grid, (cap - 1) // temporal * temporal + 1)


def speech_track(task, rate: int, start: float, seconds: float) -> np.ndarray:
    """Mono samples at ``rate`` for ``seconds`` of the shot from ``start``: each of the task's
    speech inputs at its offset in the shot (``task.timing["speech"]``), silence elsewhere."""
    track = np.zeros(int(round(seconds * rate)), np.float32)
    offsets = task.timing.get("speech", {})
    for line in task.inputs.of_kind("speech"):
        if str(line.ref) not in offsets:
            raise ValueError(f"shot {task.job.ref}: no offset in the shot for {line.ref}")
        samples, source_rate = read_wav(line.artifact("speech"))
        voice = resample(samples if samples.ndim == 1 else samples.mean(axis=1), source_rate, rate)
        at = int(round((float(offsets[str(line.ref)]) - start) * rate))
        first, last = max(at, 0), min(at + len(voice), len(track))
        if first < last:
            track[first:last] += voice[first - at:last - at]
    return track


def log_mel(samples: np.ndarray, rate: int, hop: int, bins: int) -> np.ndarray:
    """The audio VAE's input: the natural log of a magnitude mel spectrogram, (frames, bins),
    float32 — a centred (reflect-padded) 1024-point Hann STFT every ``hop`` samples, Slaney mel
    filters from 0 Hz to Nyquist, floored at 1e-5 (ltx-core's audio front end)."""
    from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

    filters = mel_filter_bank(num_frequency_bins=MEL_FFT // 2 + 1, num_mel_filters=bins,
                              min_frequency=0.0, max_frequency=rate / 2, sampling_rate=rate,
                              norm="slaney", mel_scale="slaney")
    mel = spectrogram(samples.astype(np.float64), window_function(MEL_FFT, "hann"),
                      frame_length=MEL_FFT, hop_length=hop, power=1.0, center=True,
                      pad_mode="reflect", mel_filters=filters, mel_floor=MEL_FLOOR)
    return np.log(mel).T.astype(np.float32)
