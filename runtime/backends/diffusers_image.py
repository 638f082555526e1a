"""Keyframes on diffusers pipelines: the shot's prompt (and its conditioning) → a still."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

from moviola.compiler.vocabulary import IMAGE_EXTENSIONS
from moviola.runtime.backends.diffusers_base import (DiffusersBackend, Work, call_parameters,
                                                     open_rgb, takes_init_image)
from moviola.runtime.backends.protocol import PICTURE_MARGIN
from moviola.runtime.contact_sheet import save_keyframe
from moviola.runtime.video import cover as _cover

DEFAULT_MAX_REFS = 3      # reference pictures per keyframe for families that take several


class TextToImage(DiffusersBackend):
    """Keyframes: the shot's prompt → an image of the film's size.

    Conditioning (the ``from:`` still, or a video's middle frame, and the ``refs:`` of the
    shot's location and characters), through the first way the model family has:

    1. its own reference-image input (FLUX.2 klein, FLUX.1 Kontext, Qwen-Image-Edit: a call
       that takes ``image`` without ``strength``): the still first, then the first
       ``options.max_refs`` (default 3) reference pictures;
    2. otherwise the ``from:`` still → image-to-image from it (``options.strength``, default
       0.6), and the refs → the IP-Adapter when one is configured (``options.ip_adapter``),
       else, without a still, image-to-image from the first reference picture
       (``options.ref_strength``, default 0.75: layout and palette survive, the content
       follows the prompt).

    A conditioning input the model cannot take is an error naming the shot and the model."""

    name = "diffusers.text_to_image"

    def plan_task(self, task, pipe) -> Work:
        from PIL import Image

        params = task.job.params
        film = (int(params.width), int(params.height))
        size = self.generation_size(pipe, film)
        variant, init, strength, ip_scale, ip_image = "base", None, None, None, None
        references: list = []                 # the family's own reference input
        used: list[str] = []                  # what conditioned the keyframe, for its meta
        source = params.source
        refs = _ref_images(task, params.refs or ())
        if takes_init_image(pipe):
            variant = "text"             # an image-to-image model: its text-to-image sibling
        if (source or refs) and takes_reference_images(pipe):
            if source:
                references.append(_at_area(_still(task.source(source)), size))
                used.append("source")
            chosen = refs[:int(self.options.get("max_refs", DEFAULT_MAX_REFS))]
            references += [_at_area(open_rgb(path), size) for path in chosen]
            if chosen:
                used.append("refs")
        else:
            if source:
                if self.variant(pipe, "image") is None:
                    raise self._cannot(task, pipe, f"start the keyframe from its `from:` {source} "
                                       f"(no image-to-image variant, no reference input)")
                variant = "image"
                init = _cover(_still(task.source(source)), size)
                strength = float(self.options.get("strength", 0.6))
                used.append("source")
            if refs and self._ip_adapter is not None:
                ip_image = open_rgb(refs[0])
                used.append("ip_adapter")
            elif refs and source:
                raise self._cannot(task, pipe, f"take the `refs:` ({refs[0].name}…) beside the "
                                   f"`from:` still: it has one image input; configure "
                                   f"options.ip_adapter, or a model with reference inputs")
            elif refs:
                if self.variant(pipe, "image") is None:
                    raise self._cannot(task, pipe, f"take the `refs:` ({refs[0].name}…): no "
                                       f"reference input, no IP-Adapter configured, no "
                                       f"image-to-image variant")
                variant = "image"
                init = _cover(open_rgb(refs[0]), size)
                strength = float(self.options.get("ref_strength", 0.75))
                used.append("refs")
        if self._ip_adapter is not None:
            # once loaded, the IP-Adapter expects an image on every call: none → scale 0
            ip_scale = self._ip_adapter["scale"] if ip_image is not None else 0.0
            if ip_image is None:
                ip_image = Image.new("RGB", (224, 224))
        target = self.variant(pipe, variant)
        shared = {**self.steps_and_guidance(target)}
        if variant != "image":
            shared.update(width=size[0], height=size[1])
        else:
            problem = init_image_problem(target, shared.get("num_inference_steps"), strength)
            if problem:
                raise self._cannot(task, pipe, f"start the keyframe from its "
                                   f"{'`from:` still' if source else '`refs:`'}: {problem}")
            shared["strength"] = strength
        if references:
            # the family's reference input is one list for the whole call: group by it
            shared["image"] = references if len(references) > 1 else references[0]
        sample = {"prompt": self.shot_prompt(task, target), "negative_prompt": self.negative_prompt(),
                  "image": init, "seed": task.job.seed}
        if ip_image is not None:
            # one image per loaded adapter, shared by the batch: group by the reference
            shared["ip_adapter_image"] = ip_image
        group = (size, strength, source if references else None,
                 tuple(str(p) for p in refs) if references or "ip_adapter" in used else None)
        conditioning = "+".join(used) or "text"

        def finish(outputs: list) -> dict:
            generated = Image.fromarray(outputs[0])
            save_keyframe(task, _cover(generated, film))
            # the same picture with room around the frame, for the draft camera moves
            # (a profile may pair generated keyframes with draft.motion clips)
            roomy = (int(round(film[0] * PICTURE_MARGIN / 2)) * 2,
                     int(round(film[1] * PICTURE_MARGIN / 2)) * 2)
            _cover(generated, roomy).save(task.output("picture"), format="PNG", compress_level=1)
            return {"width": film[0], "height": film[1], "conditioning": conditioning,
                    "overlay": False}

        return Work(group, variant, shared, [sample], finish, self.task_loras(task), ip_scale)

    def _cannot(self, task, pipe, what: str) -> ValueError:
        return ValueError(f"{task.job.ref}: the keyframe model {self.config.model} "
                          f"({type(pipe).__name__}) cannot {what}")


def takes_reference_images(pipe) -> bool:
    """A family with its own reference-image input: the call takes ``image`` but no
    ``strength`` (an image-to-image call takes both)."""
    accepted = call_parameters(pipe)
    return "image" in accepted and "strength" not in accepted


def init_image_problem(pipe, steps: int | None, strength: float) -> str | None:
    """Why an image-to-image call at ``steps`` and ``strength`` would not start from its initial
    image, or None. diffusers skips the first ``t_start`` steps of the schedule and noises the
    image to the step it starts at. Flow-matching pipelines (Z-Image, FLUX.1, SD3, Qwen-Image:
    ``t_start = int(steps - steps × strength)``) whose schedule opens at sigma 1 then start from
    pure noise when ``steps × (1 - strength) < 1``: the image is silently ignored. The others
    (SD, SDXL: ``t_start = steps - int(steps × strength)``) keep it below strength 1. Both
    refuse fewer than one step (``steps × strength < 1``)."""
    if steps is None:                        # the call's default
        parameter = inspect.signature(pipe.__call__).parameters.get("num_inference_steps")
        if parameter is None or not isinstance(parameter.default, int):
            return None
        steps = parameter.default
    flow = type(pipe.scheduler).__name__.startswith("FlowMatch")
    if flow:
        skipped = int(max(steps - min(steps * strength, steps), 0))
    else:
        skipped = max(steps - min(int(steps * strength), steps), 0)
    if steps - skipped < 1:
        fewest = f"{math.ceil(1 / strength - 1e-9)} or more" if strength > 0 else "more"
        return (f"{steps} steps × strength {strength:g} leave no denoising step; raise "
                f"`steps` to {fewest}, or the strength")
    if skipped == 0 and strength < 1:
        return (f"at {steps} steps and strength {strength:g} its flow-matching schedule starts "
                f"from pure noise ({steps} × (1 - {strength:g}) < 1 step skipped), so the "
                f"picture would not reach it; raise `steps` to "
                f"{math.ceil(1 / (1 - strength) - 1e-9)} or more, or lower the strength to "
                f"{math.floor((1 - 1 / steps) * 100) / 100:g} or less")
    return None


def _at_area(image, size: tuple[int, int]):
    """A reference picture at the keyframe's pixel area, its own aspect kept: its cost in
    tokens is bounded, and it is never under the side reference inputs accept (64 px)."""
    scale = (size[0] * size[1] / (image.width * image.height)) ** 0.5
    width, height = (max(64, int(round(side * scale / 16)) * 16)
                     for side in (image.width, image.height))
    return image.resize((width, height), resample=3)     # bicubic


def _still(path: Path):
    """An image, or a video's middle frame."""
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return open_rgb(path)
    import av

    with av.open(str(path)) as container:
        frames = [frame for frame in container.decode(container.streams.video[0])]
    if not frames:
        raise ValueError(f"{path.name} has no video frames")
    return frames[len(frames) // 2].to_image().convert("RGB")


def _ref_images(task, refs) -> list[Path]:
    """The image files a location's ``refs:`` name (folders: their images, sorted); the
    keyframe job declares them, so their bytes are in its key."""
    found: list[Path] = []
    for ref in refs:
        path = task.source(ref)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir()
                                if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS))
        elif path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            found.append(path)
    return found


