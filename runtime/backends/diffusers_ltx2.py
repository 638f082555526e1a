"""Clips on LTX-2 (Lightricks/LTX-2): a video-with-audio model, used here for its picture.

The folder declares ``LTX2Pipeline`` (text-to-video); a clip from a keyframe runs through the
family's own ``LTX2ImageToVideoPipeline``, made with ``from_pipe`` so both share one set of
weights. LTX-2 generates at its native frame rate (24 fps, frames 8k+1, sizes multiples of 32)
and the clip is retimed to the film's fps; a shot longer than one generation (121 frames) goes on
in segments through ``LTX2ConditionPipeline``, each conditioned on the previous segment's last
9 frames, so it plays at its real speed. The audio LTX-2 generates alongside is discarded:
the film's mix owns the sound.

Lip-sync from the shot's dialogue is not available: in diffusers 0.42 the image-to-video and
condition pipelines take ``audio_latents`` only as the starting point of the audio denoising
(noised by ``noise_scale`` and denoised from sigma 1), never as a clean condition the video
follows. A profile that asks for it (``options.lip_sync = true``) is refused at validation.
"""

from __future__ import annotations

import math
import weakref

from moviola.runtime.backends.diffusers_base import Work, open_rgb
from moviola.runtime.backends.diffusers_video import ImageToVideo
from moviola.runtime.video import cover

NATIVE_FPS = 24.0            # LTX-2's training frame rate (the pipelines' frame_rate default)
NATIVE_FRAMES = 121          # the pipelines' default length: 5 s at 24 fps
# the family's pipelines a clip runs through: the first segment from the keyframe, the next
# ones continued from the previous segment's last frames
SIBLINGS = {"image": "LTX2ImageToVideoPipeline", "condition": "LTX2ConditionPipeline"}

# the image-to-video sibling of each resident LTX-2 pipeline, dropped with it on eviction
_SIBLINGS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class LipSyncUnavailable(ValueError):
    """A profile asked LTX-2 for lip-sync, which diffusers' public API cannot condition on."""


class AudioVideo(ImageToVideo):
    """Clips from their keyframe on LTX-2, at LTX-2's native frame rate."""

    name = "diffusers.audio_video"
    takes_audio = False      # the plan gives no speech to this backend's clips (see module doc)

    def validate(self) -> None:
        if self.options.get("lip_sync"):
            raise LipSyncUnavailable(
                f"{self.config.kind} model {self.config.model}: lip-sync is not available with "
                f"{self.name} — diffusers' LTX-2 image-to-video pipeline takes audio_latents "
                f"only as noise to denoise, not as a condition the picture follows; remove "
                f"options.lip_sync from the profile")
        super().validate()

    def variant(self, pipe, which: str):
        """The folder pipeline's image-to-video ("image") or condition ("condition") sibling,
        sharing its weights (from_pipe without a dtype: nothing is cast in place)."""
        name = SIBLINGS.get(which)
        if name is None:
            return super().variant(pipe, which)
        if type(pipe).__name__ == name:
            return pipe
        siblings = _SIBLINGS.setdefault(pipe, {})
        if name not in siblings:
            import diffusers

            siblings[name] = getattr(diffusers, name).from_pipe(pipe)
            siblings[name].set_progress_bar_config(disable=True)
        return siblings[name]

    def plan_task(self, task, pipe) -> Work:
        keyframe = task.inputs.one("keyframe")
        if keyframe is None:
            raise ValueError(f"{self.name}: shot {task.job.ref} has no keyframe; "
                             f"{self.config.model} makes clips from their keyframe")
        params = task.job.params
        target = self.variant(pipe, "image")
        size = self.generation_size(target, (int(params.width), int(params.height)))
        rate = float(self.options.get("frame_rate") or NATIVE_FPS)
        count = self.native_frame_count(task, rate,
                                        target.vae_temporal_compression_ratio)
        # the keyframe goes as one PIL image per call: the pipeline re-compresses it (its
        # image_crf recipe) only from a PIL image, so each clip is its own call
        image = cover(open_rgb(keyframe.artifact("keyframe")), size)
        shared = {**self.steps_and_guidance(target), "width": size[0], "height": size[1],
                  "num_frames": count, "frame_rate": rate, "image": image}
        sample = {"prompt": keyframe.params.prompt or "", "negative_prompt": self.negative_prompt(),
                  "seed": task.job.seed}
        wanted = int(self.config.frames) if self.config.frames else \
            math.ceil(task.timing["frames"] / float(params.fps) * rate)

        def finish(outputs):
            return self.finish_clip(task, self.continued(pipe, outputs[0], wanted, shared,
                                                         sample))

        return Work((task.job.id, size, count, rate), "image", shared, [sample], finish,
                    self.task_loras(task))

    def continued(self, pipe, frames, wanted: int, shared: dict, sample: dict):
        """``frames`` extended to ``wanted`` frames by segments of the same length, each
        conditioned on the previous one's last 8k+1 frames (one latent frame plus the first),
        so a shot longer than the model's length plays at its real speed."""
        import numpy as np
        from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
        from PIL import Image

        condition = self.variant(pipe, "condition")
        overlap = condition.vae_temporal_compression_ratio + 1
        if len(frames) < wanted and len(frames) <= overlap:
            raise ValueError(f"{self.name}: {self.config.model} makes {len(frames)} frames per "
                             f"call, too few to continue a shot from its last {overlap}; raise "
                             f"options.max_frames (or frames) above {overlap}")
        segment = 1
        while len(frames) < wanted:
            tail = [Image.fromarray(frame) for frame in frames[-overlap:]]
            step = {k: v for k, v in shared.items() if k != "image"}
            step["conditions"] = [LTX2VideoCondition(frames=tail, index=0, strength=1.0)]
            more = self._call(condition, step, [{**sample, "seed": sample["seed"] + segment}])
            frames = np.concatenate([frames, more[0][overlap:]])
            segment += 1
        return frames[:wanted]

    def native_frame_count(self, task, rate: float, temporal: int) -> int:
        """Frames at LTX-2's rate for the shot's duration (config.frames when set), capped at
        the model's native length, on the VAE's 8k+1 grid (rounded up: a clip never shorter
        than the shot when it fits)."""
        if self.config.frames:
            wanted = int(self.config.frames)
        else:
            seconds = task.timing["frames"] / float(task.job.params.fps)
            wanted = math.ceil(seconds * rate)
        cap = int(self.options.get("max_frames") or NATIVE_FRAMES)
        grid = max(1, math.ceil((min(wanted, cap) - 1) / temporal)) * temporal + 1
        return min(grid, (cap - 1) // temporal * temporal + 1)
