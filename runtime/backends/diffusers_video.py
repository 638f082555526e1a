"""Clips on diffusers pipelines: a shot's keyframe (or its prompt alone) → a moving shot."""

from __future__ import annotations

import inspect
import math

import numpy as np

from moviola.runtime import models as store
from moviola.runtime.backends.diffusers_base import (DiffusersBackend, Work, call_parameters,
                                                     open_rgb)
from moviola.runtime.video import cover as _cover, previous_planes


class VideoBackend(DiffusersBackend):
    """What the clip backends share: frame counts, native frame rate, segments, retiming,
    encoding with transitions."""

    def clip_shared(self, pipe, task, size: tuple[int, int], count: int) -> dict:
        shared = {**self.steps_and_guidance(pipe), "width": size[0], "height": size[1],
                  "num_frames": count}
        accepted = call_parameters(pipe)
        native = native_fps(pipe, self.options)
        if native is not None:
            rate = native
        else:
            seconds = task.timing["frames"] / float(task.job.params.fps)
            rate = max(1, int(round(count / max(seconds, 1e-6))))
        for name in ("fps", "frame_rate"):          # SVD's micro-conditioning, LTX's rope scale
            if name in accepted and name not in self.options:
                shared[name] = rate
        return shared

    def generation_size(self, pipe, film: tuple[int, int], multiple: int | None = None):
        """As for pictures, but a multiple of the VAE factor × the transformer's spatial patch
        (Wan 2.2 TI2V: 16 × 2 = 32), which video transformers need."""
        return super().generation_size(pipe, film, multiple or spatial_multiple(pipe))

    def segments(self, pipe, task) -> tuple[int, int, int]:
        """(frames per segment, segments, frames the shot needs) at the model's native rate: a
        shot longer than the model's length is several segments, each continued from the
        previous one's last frame; ``config.frames`` (else the model's usual length) is the
        longest segment. Without a known native rate: one segment (spread over the shot)."""
        shot_frames = int(task.timing["frames"])
        native = native_fps(pipe, self.options)
        if native is None:
            count = self.frame_count(pipe, shot_frames)
            return count, 1, count
        needed = max(1, int(math.ceil(shot_frames * native / float(task.job.params.fps))))
        longest = self.frame_count(pipe, 10 ** 6)        # config.frames, else the model's usual
        temporal = temporal_factor(pipe)
        length = min(longest, -(-(needed - 1) // temporal) * temporal + 1)
        if needed <= length or length < 2:
            return length, 1, min(needed, length)
        return length, int(math.ceil((needed - 1) / (length - 1))), needed

    def continued(self, task, pipe, shared: dict, sample: dict, first: np.ndarray,
                  count: int, needed: int, size: tuple[int, int]) -> np.ndarray:
        """The shot's frames: ``first`` (segment 1), then each further segment generated from
        the previous one's last frame (its first frame, that same picture, is not repeated):
        the image of an image-to-video ``pipe``; for a video-to-video one (ModelScope), that
        frame held over the segment as its source, at ``options.continue_strength``."""
        parts = [first]
        takes_video = "image" not in call_parameters(pipe)
        if takes_video:
            shared = {**shared, "strength": float(self.options.get("continue_strength",
                                                                   DEFAULT_CONTINUE_STRENGTH))}
        for index in range(1, count):
            image = _cover(picture_of(parts[-1][-1]), size)
            seed = int(task.job.seed) + index           # each segment its own noise
            start = {"video": [image] * int(shared["num_frames"])} if takes_video else \
                {"image": image}
            part = self._call(pipe, shared, [{**sample, **start, "seed": seed,
                                               "label": task.job.label}])[0]
            parts.append(part[1:])
        return np.concatenate(parts)[:needed]

    def clip_work(self, task, pipe, variant: str, shared: dict, sample: dict,
                  size: tuple[int, int], segments: int, needed: int) -> Work:
        target = self.variant(pipe, variant)
        group = (size, shared["num_frames"], shared.get("fps"), shared.get("frame_rate"))
        if type(target).__name__ in ONE_IMAGE_PER_CALL:
            group += (task.key,)

        def finish(outputs):
            frames = outputs[0]
            if segments > 1:
                frames = self.continued(task, self.continuing_pipeline(task, pipe), shared,
                                        sample, frames, segments, needed, size)
            meta = self.finish_clip(task, frames[:needed])
            meta["segments"] = segments
            return meta

        return Work(group, variant, shared, [sample], finish, self.task_loras(task))

    def continuing_pipeline(self, task, pipe):
        """What continues a segment from the previous one's last frame: the family's image-to-
        video pipeline, else (ModelScope, which has none) its video-to-video one."""
        if self.variant(pipe, "clip") is None and self.variant(pipe, "video") is not None:
            return self.variant(pipe, "video")
        return self.clip_pipeline(task, pipe)

    def clip_pipeline(self, task, pipe):
        """The image-to-video pipeline for ``pipe``'s family (the folder's own when it takes an
        image): an error naming the shot and the model when the weights cannot take a still."""
        clip = self.variant(pipe, "clip")
        if clip is None:
            reason = f"{type(pipe).__name__} has no image-to-video pipeline in diffusers"
        else:
            reason = image_weights_problem(clip)
        if reason:
            raise store.ModelBroken(self.path, f"shot {task.job.id}: the clip model "
                                    f"{self.config.model} cannot start from a picture "
                                    f"({reason}); use its image-to-video checkpoint")
        if "denoise_strength" in call_parameters(clip):     # LTX 0.9.5+ folders
            fixed_schedule(clip)
        return clip

    def finish_clip(self, task, frames: np.ndarray) -> dict:
        """Spread the generated frames over the shot (nearest-frame retiming), cover-resize them
        to the film's size, and encode the segment with its fades and dissolve."""
        from moviola.runtime.video import encode_frames

        params, timing = task.job.params, task.timing
        width, height = int(params.width), int(params.height)
        count = int(timing["frames"])
        dissolve_from = previous_planes(task)
        order = retime(range(len(frames)), count)
        last = encode_frames(
            task.output("clip"), fitted_frames(frames, order, (width, height)), count=count,
            fps=params.fps, width=width, height=height, fade_in=timing.get("fade_in", 0),
            fade_out=timing.get("fade_out", 0), dissolve_from=dissolve_from,
            dissolve=timing.get("dissolve", 0) if dissolve_from is not None else 0)
        last.save(task)
        held = sum(1 for a, b in zip(order, order[1:]) if a == b)
        return {"frames": count, "generated": int(len(frames)), "held": held}


class ImageToVideo(VideoBackend):
    """Clips from their keyframe: any diffusers image-to-video pipeline (Stable Video Diffusion,
    LTX-Video, Wan), or the family's image-to-video pipeline when the folder declares text-to-
    video (LTXPipeline → LTXImageToVideoPipeline, WanPipeline → WanImageToVideoPipeline, made
    with from_pipe). The keyframe is cover-resized to the generation size; the prompt (the
    keyframe's, which names the shot size and camera move) goes along when the pipeline takes
    one."""

    name = "diffusers.image_to_video"

    def plan_task(self, task, pipe) -> Work:
        keyframe = task.inputs.one("keyframe")
        if keyframe is None:
            raise ValueError(f"{self.name} needs the shot's keyframe as its first input")
        clip = self.clip_pipeline(task, pipe)
        params = task.job.params
        size = self.generation_size(clip, (int(params.width), int(params.height)))
        count, segments, needed = self.segments(clip, task)
        shared = self.clip_shared(clip, task, size, count)
        image = _cover(open_rgb(keyframe.artifact("keyframe")), size)
        sample = {"image": image, "prompt": self.shot_prompt(task, clip),
                  "negative_prompt": self.negative_prompt(), "seed": task.job.seed}
        return self.clip_work(task, pipe, "clip", shared, sample, size, segments, needed)


class TextToVideo(VideoBackend):
    """Clips from text alone (LTX-Video, Wan, ModelScope text-to-video): the shot's prompt. A
    shot longer than the model's length continues through the family's image-to-video
    pipeline from each segment's last frame (ModelScope: its video-to-video pipeline)."""

    name = "diffusers.text_to_video"

    def check_jobs(self, jobs) -> list[str]:
        """A matching cut starts from the previous shot's last frame, which text alone cannot."""
        return [f"{job.label} continues the shot before it (`continues`), but {self.config.model} "
                f"({self.name}) makes clips from text alone; give the profile's clip an "
                f"image-to-video model" for job in jobs if job.params.continues]

    def plan_task(self, task, pipe) -> Work:
        params = task.job.params
        size = self.generation_size(pipe, (int(params.width), int(params.height)))
        count, segments, needed = self.segments(pipe, task)
        if segments > 1:
            self.continuing_pipeline(task, pipe)      # continuing needs one: say so now
        shared = self.clip_shared(pipe, task, size, count)
        sample = {"prompt": self.shot_prompt(task, pipe), "negative_prompt": self.negative_prompt(),
                  "seed": task.job.seed}
        return self.clip_work(task, pipe, "base", shared, sample, size, segments, needed)


# Pipelines whose `image` is one picture for the whole call (a batch shares it): one task a call.
ONE_IMAGE_PER_CALL = {"WanImageToVideoPipeline"}
# Native frame rates of families whose call does not say it (Wan 2.1 16 fps; Wan 2.2 TI2V,
# which expands timesteps per frame, 24 fps; ModelScope text-to-video 8 fps, the rate its own
# pipeline in the modelscope library writes its 16 frames at).
_WAN_FPS, _WAN22_TI2V_FPS = 16, 24
_NATIVE_FPS = {"TextToVideoSDPipeline": 8, "VideoToVideoSDPipeline": 8}
# How far a video-to-video continuation departs from the previous segment's held last frame.
DEFAULT_CONTINUE_STRENGTH = 0.6


def native_fps(pipe, options: dict) -> int | None:
    """The frame rate the model generates at: ``options.native_fps``, else the call's default
    ``frame_rate`` (LTX: 25) or ``fps`` (Stable Video Diffusion: 7, the rate its docs export
    at and its micro-conditioning default; a profile's ``options.fps`` for SVD-XT 1.1's 6
    replaces it), else the Wan or ModelScope family's; None when unknown."""
    if options.get("native_fps"):
        return int(options["native_fps"])
    parameters = inspect.signature(pipe.__call__).parameters
    for name in ("frame_rate", "fps"):
        parameter = parameters.get(name)
        if parameter is not None and options.get(name):     # the rate the profile tells it
            return int(options[name])
        if parameter is not None and isinstance(parameter.default, int):
            return parameter.default
    if type(pipe).__name__.startswith("Wan"):
        return _WAN22_TI2V_FPS if getattr(pipe.config, "expand_timesteps", False) else _WAN_FPS
    return _NATIVE_FPS.get(type(pipe).__name__)


def spatial_multiple(pipe) -> int:
    """The pixel multiple a video pipeline's sizes need: VAE factor × transformer patch."""
    factor = next((value for value in (getattr(pipe, name, None) for name in (
        "vae_spatial_compression_ratio", "vae_scale_factor_spatial", "vae_scale_factor"))
        if isinstance(value, int) and value > 0), 8)
    transformer = getattr(pipe, "transformer", None) or getattr(pipe, "transformer_2", None)
    patch = getattr(getattr(transformer, "config", None), "patch_size", 1) or 1
    patch = int(patch[-1]) if isinstance(patch, (list, tuple)) else int(patch)
    return max(16, factor * patch)


def temporal_factor(pipe) -> int:
    temporal = (getattr(pipe, "vae_temporal_compression_ratio", None)
                or getattr(pipe, "vae_scale_factor_temporal", None))
    return temporal if isinstance(temporal, int) and temporal > 1 else 1


def image_weights_problem(pipe) -> str | None:
    """Why ``pipe``'s weights cannot take a still, or None. Wan's image-to-video needs a
    transformer that takes image latents beside the noise (Wan 2.1 I2V: 2 × z_dim + 4 input
    channels) or per-frame timesteps (Wan 2.2 TI2V); a text-to-video transformer has neither."""
    if not type(pipe).__name__.startswith("Wan"):
        return None
    if getattr(pipe.config, "expand_timesteps", False):
        return None
    transformer = getattr(pipe, "transformer", None) or getattr(pipe, "transformer_2", None)
    vae = getattr(pipe, "vae", None)
    if transformer is None or vae is None:
        return None
    if int(transformer.config.in_channels) <= int(vae.config.z_dim):
        return (f"its transformer takes {transformer.config.in_channels} latent channels, "
                f"the noise only: text-to-video weights")
    return None


def fixed_schedule(pipe) -> None:
    """LTXConditionPipeline sets its own timesteps and passes no resolution-dependent shift:
    its scheduler must walk them as given (σ = t / 1000). LTX-Video 0.9.0/0.9.1 folders ship
    a dynamically shifted scheduler (which then refuses to run) with ``shift_terminal`` 0.1,
    which stretched the sigmas under the given timesteps: each step stopped short of the next
    timestep, and the last at σ 0.1. Give the variant the same scheduler without either."""
    scheduler = pipe.scheduler
    config = scheduler.config
    if config.get("use_dynamic_shifting") or config.get("shift_terminal") or \
            float(config.get("shift", 1.0)) != 1.0:
        pipe.scheduler = type(scheduler).from_config(config, use_dynamic_shifting=False,
                                                     shift=1.0, shift_terminal=None)


def picture_of(frame):
    """A generated frame (a uint8 array or a PIL image) as a PIL image."""
    from PIL import Image

    return frame if isinstance(frame, Image.Image) else Image.fromarray(frame)


def retime(frames, count: int) -> list:
    """``count`` frames from ``frames`` by nearest-frame resampling: the generated frames are
    spread evenly over the shot (first to first, last to last); fewer frames are held, more are
    dropped evenly."""
    total = len(frames)
    if total == 0:
        raise ValueError("the model returned no frames")
    if count == 1:
        return [frames[0]]
    return [frames[int(round(i * (total - 1) / (count - 1)))] for i in range(count)]


def fitted_frames(frames, order: list[int], size: tuple[int, int]):
    """``frames[i]`` for each i in ``order``, cover-resized to ``size`` (lazily: the encoder
    takes one at a time; a held frame is resized once)."""
    from PIL import Image

    current, fitted = None, None
    for index in order:
        if index != current:
            frame = frames[index]
            picture = frame if isinstance(frame, Image.Image) else Image.fromarray(frame)
            current, fitted = index, np.asarray(_cover(picture, size))
        yield fitted
