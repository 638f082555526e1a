"""Footage on diffusers pipelines: a shot's `from:` video restyled by its prompt."""

from __future__ import annotations

import numpy as np

from moviola.runtime import models as store
from moviola.runtime.backends.diffusers_base import Work, call_parameters
from moviola.runtime.backends.diffusers_video import VideoBackend, clip_prompt, retime
from moviola.runtime.video import cover as _cover, read_video


class VideoToVideo(VideoBackend):
    """A ``from:`` video restyled by the shot's prompt.

    With a video-to-video pipeline (the model's own, or its family's: ModelScope
    ``VideoToVideoSDPipeline``, ``WanVideoToVideoPipeline``, ``LTXConditionPipeline``), the
    source, sampled at the film's rate, goes in whole (``options.strength``, default 0.6).
    Otherwise each frame goes through the model's image-to-image variant with the same seed
    (a fixed noise keeps the restyling steady from frame to frame), in batches."""

    name = "diffusers.video_to_video"

    def run_batch(self, tasks: list) -> list[dict]:
        # one shot at a time: its frames fill the batches, and only one source is in memory
        metas = []
        for task in tasks:
            metas += super().run_batch([task])
        return metas

    def plan_task(self, task, pipe) -> Work:
        params = task.job.params
        source = params.source
        if not source:
            raise ValueError(f"{self.name} needs a `from:` video on the shot")
        film = (int(params.width), int(params.height))
        size = self.generation_size(pipe, film)
        shot_frames = int(task.timing["frames"])
        frames = read_video(task.source(source), shot_frames, float(params.fps))
        strength = float(self.options.get("strength", 0.6))
        prompt, negative = clip_prompt(task), self.negative_prompt()
        loras = self.task_loras(task)
        video_pipe = self.variant(pipe, "video")
        if video_pipe is not None:
            count = self.frame_count(video_pipe, shot_frames)
            shared = self.clip_shared(video_pipe, task, size, count)
            accepted = call_parameters(video_pipe)
            shared["denoise_strength" if "denoise_strength" in accepted else "strength"] = strength
            video = [_cover(f, size) for f in retime(frames, count)]
            sample = {"video": video, "prompt": prompt, "negative_prompt": negative,
                      "seed": task.job.seed}
            # a call takes one video: each task is its own group
            return Work((task.job.id,), "video", shared, [sample],
                         lambda outputs: self.finish_clip(task, outputs[0]), loras)
        if self.variant(pipe, "image") is None:
            raise store.ModelBroken(self.path, f"{type(pipe).__name__} has neither a video-to-"
                                    f"video nor an image-to-image variant: it cannot restyle a "
                                    f"video")
        shared = {**self.steps_and_guidance(self.variant(pipe, "image")), "strength": strength}
        samples = [{"image": _cover(f, size), "prompt": prompt, "negative_prompt": negative,
                    "seed": task.job.seed} for f in frames]
        return Work((size, strength), "image", shared, samples,
                     lambda outputs: self.finish_clip(task, np.stack(outputs)), loras)


# -- helpers --------------------------------------------------------------------------------------

