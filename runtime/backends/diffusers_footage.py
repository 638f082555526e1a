"""Footage on diffusers pipelines: a shot's `from:` video restyled by its prompt."""

from __future__ import annotations

import inspect
import math

import numpy as np

from moviola.compiler.profiles import DEFAULT_RESTYLE_STRENGTH
from moviola.runtime import models as store
from moviola.runtime.backends.diffusers_base import Work, call_parameters
from moviola.runtime.backends.diffusers_video import (VideoBackend, fixed_schedule, native_fps,
                                                      picture_of, retime)
from moviola.runtime.video import cover as _cover, read_video


class VideoToVideo(VideoBackend):
    """A ``from:`` video restyled by the shot's prompt.

    With a video-to-video pipeline (the model's own, or its family's: ModelScope
    ``VideoToVideoSDPipeline``, ``WanVideoToVideoPipeline``, ``LTXConditionPipeline``), the
    source goes in whole (``options.strength``, default 0.6), sampled at the model's native
    rate and in segments when the model has one (LTX, Wan), else at the film's rate.
    Otherwise each frame goes through the model's image-to-image variant with the same seed
    (a fixed noise keeps the restyling steady from frame to frame), in batches."""

    name = "diffusers.video_to_video"

    def run_batch(self, tasks: list) -> list[dict]:
        # one shot at a time: its frames fill the batches, and only one source is in memory
        metas = []
        for task in tasks:
            metas += super().run_batch([task])
        return metas

    def restyle_work(self, task, video_pipe, size, strength: float, prompt, negative,
                     loras) -> Work:
        """The footage through the family's video-to-video pipeline, at the model's native rate:
        a shot longer than one segment is restyled in chunks of the source, overlapping by one
        frame, each chunk continuing from the previous restyled chunk's last frame (LTX: an
        image condition beside the footage; Wan, ModelScope: that frame replaces the chunk's
        first source frame, so the restyle carries over the seam)."""
        params = task.job.params
        count, segments, needed = self.segments(video_pipe, task)
        native = native_fps(video_pipe, self.options)
        path = task.source(params.source)
        if native is None:                       # no native rate: the shot's frames, spread
            source = retime(read_video(path, int(task.timing["frames"]), float(params.fps)), count)
        else:
            source = read_video(path, max(needed, count), float(native))
        source = [_cover(f, size) for f in source]
        shared = self.clip_shared(video_pipe, task, size, count)
        takes_conditions = "denoise_strength" in call_parameters(video_pipe)
        if takes_conditions:
            # LTX: the footage's tokens start at noise level `strength`; every step runs below it
            fixed_schedule(video_pipe)
            steps = int(shared.pop("num_inference_steps", None) or inspect.signature(
                video_pipe.__call__).parameters["num_inference_steps"].default)
            shared["timesteps"] = restyle_timesteps(task, steps, strength)
        else:                                       # Wan, ModelScope: source latents + strength
            shared["strength"] = strength

        def chunk(index: int, previous_last=None) -> dict:
            start = index * (count - 1)
            frames = source[start:start + count]
            frames = frames + [frames[-1]] * (count - len(frames))      # the last chunk, held
            sample = {"prompt": prompt, "negative_prompt": negative,
                      "seed": int(task.job.seed) + index}
            if not takes_conditions:
                # the source latents are the only input: the seam frame, restyled, starts it
                if previous_last is not None:
                    frames = [_cover(picture_of(previous_last), size)] + frames[1:]
                return {**sample, "video": frames}
            # LTXConditionPipeline reads a list of videos as many conditions: the footage is
            # ONE video condition at frame 0 (its latents blended with the noise by
            # 1 - strength, denoised from noise level strength); a later chunk also starts
            # from the previous restyled frame, kept whole
            videos, images = [frames], [None]
            if previous_last is not None:
                videos.append(None)
                images.append(_cover(picture_of(previous_last), size))
            return {**sample, "video": videos, "image": images,
                    "frame_index": [0] * len(videos),
                    "strength": [1.0 - strength] + [1.0] * (len(videos) - 1)}

        def finish(outputs):
            parts = [outputs[0]]
            for index in range(1, segments):
                sample = {**chunk(index, parts[-1][-1]), "label": task.job.label}
                out = self._call(video_pipe, shared, [sample])[0]
                parts.append(out[1:])
            meta = self.finish_clip(task, np.concatenate(parts)[:needed])
            meta["segments"] = segments
            return meta

        # a call takes one video: each task is its own group
        return Work((task.key,), "video", shared, [chunk(0)], finish, loras)

    def plan_task(self, task, pipe) -> Work:
        params = task.job.params
        source = params.source
        if not source:
            raise ValueError(f"{self.name} needs a `from:` video on the shot")
        film = (int(params.width), int(params.height))
        size = self.generation_size(pipe, film)
        strength = float(self.options.get("strength", DEFAULT_RESTYLE_STRENGTH))
        prompt, negative = self.shot_prompt(task, pipe), self.negative_prompt()
        loras = self.task_loras(task)
        video_pipe = self.variant(pipe, "video")
        if video_pipe is not None:
            problem = restyle_problem(video_pipe)
            if problem:
                raise store.ModelBroken(self.path, f"shot {task.job.id}: the footage model "
                                        f"{self.config.model} cannot restyle a video: {problem}")
            return self.restyle_work(task, video_pipe, size, strength, prompt, negative, loras)
        if self.variant(pipe, "image") is None:
            elsewhere = RESTYLED_BY.get(type(pipe).__name__)
            hint = f"; backend {elsewhere} restyles it" if elsewhere else ""
            raise store.ModelBroken(self.path, f"{type(pipe).__name__} has neither a video-to-"
                                    f"video nor an image-to-image variant: it cannot restyle a "
                                    f"video{hint}")
        frames = read_video(task.source(source), int(task.timing["frames"]), float(params.fps))
        shared = {**self.steps_and_guidance(self.variant(pipe, "image")), "strength": strength}
        samples = [{"image": _cover(f, size), "prompt": prompt, "negative_prompt": negative,
                    "seed": task.job.seed} for f in frames]
        return Work((size, strength), "image", shared, samples,
                     lambda outputs: self.finish_clip(task, np.stack(outputs)), loras)


# -- helpers --------------------------------------------------------------------------------------

def restyle_timesteps(task, steps: int, strength: float) -> list[float]:
    """LTXConditionPipeline's timesteps (σ × 1000) for a restyle: the last ``strength`` of a
    linear schedule of ``steps`` steps (as image-to-image counts them: that share, rounded
    down), from σ = strength, the noise level the footage's tokens start at (a condition of
    strength 1 − strength). The pipeline's own schedule (linear-quadratic, its first half above
    σ 0.975) cut by ``denoise_strength`` left those tokens frozen until σ fell below the
    strength: at 25 steps and 0.6, 10 of its 15 passes changed nothing."""
    kept = restyle_steps(task, steps, strength)
    return [1000.0 * strength * (1 - index / kept) for index in range(kept)]


def restyle_steps(task, steps: int, strength: float) -> int:
    """The steps a restyle runs: ``strength`` of ``steps``, rounded down as image-to-image
    counts them; none left is an error naming the shot and the steps that would do."""
    kept = min(int(steps * strength), steps)
    if kept < 1:
        raise ValueError(f"shot {task.job.ref}: options.strength {strength:g} of {steps} steps "
                         f"leaves no step to restyle the footage with; raise steps to "
                         f"{math.ceil(1 / strength)} or more, or strength")
    return kept


# Families whose footage another backend restyles (through inputs of their own pipelines).
RESTYLED_BY = {"LTX2Pipeline": "diffusers.audio_video"}


def restyle_problem(pipe) -> str | None:
    """Why a Wan video-to-video pipeline cannot run these weights, or None. diffusers 0.42's
    WanVideoToVideoPipeline encodes the source as noise-only input (a text-to-video
    transformer: z_dim channels) with an 8× VAE; Wan 2.1 I2V weights take image latents too,
    and Wan 2.2 TI2V's VAE is 16×."""
    if type(pipe).__name__ != "WanVideoToVideoPipeline":
        return None
    channels = int(pipe.transformer.config.in_channels)
    z_dim = int(pipe.vae.config.z_dim)
    if channels != z_dim:
        return (f"its transformer takes {channels} latent channels (image-to-video weights), "
                f"WanVideoToVideoPipeline gives it {z_dim}: use a Wan text-to-video checkpoint")
    spatial = int(pipe.vae.config.get("scale_factor_spatial") or 8)
    if spatial != pipe.vae_scale_factor_spatial:
        return (f"its VAE compresses {spatial}× (Wan 2.2 TI2V), which WanVideoToVideoPipeline "
                f"in this diffusers reads as {pipe.vae_scale_factor_spatial}×")
    return None


