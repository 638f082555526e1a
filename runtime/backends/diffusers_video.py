"""Clips on diffusers pipelines: a shot's keyframe (or its prompt alone) → a moving shot."""

from __future__ import annotations

import numpy as np

from moviola.runtime.backends.diffusers_base import (DiffusersBackend, Work, call_parameters,
                                                     open_rgb)
from moviola.runtime.video import cover as _cover, previous_planes


class VideoBackend(DiffusersBackend):
    """What the clip backends share: frame counts, retiming, encoding with transitions."""

    def clip_shared(self, pipe, task, size: tuple[int, int], count: int) -> dict:
        shared = {**self.steps_and_guidance(pipe), "width": size[0], "height": size[1],
                  "num_frames": count}
        accepted = call_parameters(pipe)
        seconds = task.timing["frames"] / float(task.job.params.fps)
        rate = max(1, int(round(count / max(seconds, 1e-6))))
        for name in ("fps", "frame_rate"):          # SVD's micro-conditioning, LTX's rope scale
            if name in accepted and name not in self.options:
                shared[name] = rate
        return shared

    def finish_clip(self, task, frames: np.ndarray) -> dict:
        """Spread the generated frames over the shot (nearest-frame retiming), cover-resize them
        to the film's size, and encode the segment with its fades and dissolve."""
        from moviola.runtime.video import encode_frames

        params, timing = task.job.params, task.timing
        width, height = int(params.width), int(params.height)
        count = int(timing["frames"])
        dissolve_from = previous_planes(task)
        last = encode_frames(
            task.output("clip"), fitted_frames(frames, retime(range(len(frames)), count),
                                           (width, height)), count=count,
            fps=params.fps, width=width, height=height, fade_in=timing.get("fade_in", 0),
            fade_out=timing.get("fade_out", 0), dissolve_from=dissolve_from,
            dissolve=timing.get("dissolve", 0) if dissolve_from is not None else 0)
        y, u, v = last
        np.savez(task.output("last_frame"), y=y, u=u, v=v)
        return {"frames": count, "generated": int(len(frames))}


class ImageToVideo(VideoBackend):
    """Clips from their keyframe: any diffusers image-to-video pipeline (Stable Video Diffusion,
    LTX-Video, Wan). The keyframe is cover-resized to the generation size; the prompt (the
    keyframe's, which names the shot size and camera move) goes along when the pipeline takes
    one."""

    name = "diffusers.image_to_video"

    def plan_task(self, task, pipe) -> Work:
        keyframe = task.inputs.one("keyframe")
        if keyframe is None:
            raise ValueError(f"{self.name} needs the shot's keyframe as its first input")
        params = task.job.params
        size = self.generation_size(pipe, (int(params.width), int(params.height)))
        count = self.frame_count(pipe, task.timing["frames"])
        shared = self.clip_shared(pipe, task, size, count)
        image = _cover(open_rgb(keyframe.artifact("keyframe")), size)
        sample = {"image": image, "prompt": clip_prompt(task),
                  "negative_prompt": self.negative_prompt(), "seed": task.job.seed}
        group = (size, count, shared.get("fps"), shared.get("frame_rate"))
        return Work(group, "base", shared, [sample],
                     lambda outputs: self.finish_clip(task, outputs[0]), self.task_loras(task))


class TextToVideo(VideoBackend):
    """Clips from text alone (LTX-Video, Wan, ModelScope text-to-video): the shot's prompt."""

    name = "diffusers.text_to_video"

    def plan_task(self, task, pipe) -> Work:
        params = task.job.params
        size = self.generation_size(pipe, (int(params.width), int(params.height)))
        count = self.frame_count(pipe, task.timing["frames"])
        shared = self.clip_shared(pipe, task, size, count)
        sample = {"prompt": clip_prompt(task), "negative_prompt": self.negative_prompt(),
                  "seed": task.job.seed}
        group = (size, count, shared.get("fps"), shared.get("frame_rate"))
        return Work(group, "base", shared, [sample],
                     lambda outputs: self.finish_clip(task, outputs[0]), self.task_loras(task))



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



def clip_prompt(task) -> str:
    """The clip's prompt: its keyframe's (which names the size and the move)."""
    keyframe = task.inputs.one("keyframe")
    return (keyframe.params.prompt if keyframe is not None else "") or ""


