"""Keyframes on diffusers pipelines: the shot's prompt (and its conditioning) → a still."""

from __future__ import annotations

from pathlib import Path

from moviola.compiler.vocabulary import IMAGE_EXTENSIONS
from moviola.runtime.backends.diffusers_base import (DiffusersBackend, Work, open_rgb,
                                                     takes_init_image)
from moviola.runtime.backends.protocol import PICTURE_MARGIN
from moviola.runtime.video import cover as _cover


class TextToImage(DiffusersBackend):
    """Keyframes: the shot's prompt → an image of the film's size.

    Conditioning, in order: a ``from:`` image (or a video's middle frame) → image-to-image from
    it (``options.strength``, default 0.6); else the location's ``refs:`` → with an IP-Adapter
    configured (``options.ip_adapter``) the first reference image guides the picture; without
    one, and when the model has an image-to-image variant, the first reference image is the
    initial image (``options.ref_strength``, default 0.75: the layout and palette survive, the
    content follows the prompt); else text only."""

    name = "diffusers.text_to_image"

    def plan_task(self, task, pipe) -> Work:
        from PIL import Image

        params = task.job.params
        film = (int(params.width), int(params.height))
        size = self.generation_size(pipe, film)
        variant, init, strength, ip_scale, ip_image = "base", None, None, None, None
        conditioning = "text"
        source = params.source
        refs = _ref_images(task, params.refs or ())
        if takes_init_image(pipe):
            variant = "text"             # an image-to-image model: its text-to-image sibling
        if source:
            if self.variant(pipe, "image") is None:
                raise ValueError(f"{type(pipe).__name__} has no image-to-image variant: it "
                                 f"cannot start the keyframe from the shot's `from:` {source}")
            variant, conditioning = "image", "source"
            init = _cover(_still(task.source(source)), size)
            strength = float(self.options.get("strength", 0.6))
        elif refs and self._ip_adapter is not None:
            conditioning = "ip_adapter"
            ip_image = open_rgb(refs[0])
        elif refs and self.variant(pipe, "image") is not None:
            variant, conditioning = "image", "refs"
            init = _cover(open_rgb(refs[0]), size)
            strength = float(self.options.get("ref_strength", 0.75))
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
            shared["strength"] = strength
        sample = {"prompt": params.prompt or "", "negative_prompt": self.negative_prompt(),
                  "image": init, "seed": task.job.seed}
        if ip_image is not None:
            # one image per loaded adapter, shared by the batch: group by the reference
            shared["ip_adapter_image"] = ip_image
        group = (size, strength, str(refs[0]) if conditioning == "ip_adapter" else None)

        def finish(outputs: list) -> dict:
            generated = Image.fromarray(outputs[0])
            _cover(generated, film).save(task.output("keyframe"), format="PNG", compress_level=1)
            # the same picture with room around the frame, for the draft camera moves
            # (a profile may pair generated keyframes with draft.motion clips)
            roomy = (int(round(film[0] * PICTURE_MARGIN / 2)) * 2,
                     int(round(film[1] * PICTURE_MARGIN / 2)) * 2)
            _cover(generated, roomy).save(task.output("picture"), format="PNG", compress_level=1)
            return {"width": film[0], "height": film[1], "conditioning": conditioning,
                    "overlay": False}

        return Work(group, variant, shared, [sample], finish, self.task_loras(task), ip_scale)



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


