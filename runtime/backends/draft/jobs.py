"""The draft profile's backends: glue between plan jobs and the draft renderers (espeak-ng
voices, storyboard frames, camera motion, synthesized score and effects). CPU only, no weights."""

from __future__ import annotations

import numpy as np

from moviola.runtime.audio_io import load_audio, video_still, write_wav
from moviola.runtime.video import render_clip


class SpeechBackend:
    def __init__(self):
        from . import speech

        self.speech = speech

    def run(self, task) -> dict:
        params = task.job.params
        voice = self.speech.voice_for(params["character"], params["description"],
                                      params["character_index"])
        samples, rate = self.speech.synthesize(params["text"], voice, tuple(params["delivery"]),
                                               params["language"])
        write_wav(task.file("speech.wav"), samples, rate)
        return {"seconds": round(len(samples) / rate, 4), "sample_rate": rate}


class StoryboardBackend:
    def __init__(self):
        from . import storyboard

        self.storyboard = storyboard

    def run(self, task) -> dict:
        params = dict(task.job.params)
        source = params.pop("source")
        spec = {
            "size": params["size"], "setting": params["setting"], "time": params["time"],
            "place": params["place"], "location": params["location"],
            "characters": params["characters"], "speaker": params["speaker"],
            "caption": params["caption"], "label": params["label"], "card": params["card"],
            "seed": task.job.seed,
            "source_image": None,
        }
        if source:
            path = (task.project / source).resolve()
            if not _is_image(source):
                still = task.file("source-still.png")
                video_still(path, still)
                path = still
            _check_image(path, source)
            spec["source_image"] = str(path)
        # The caption and label stay fixed while the camera moves: the picture and its overlay
        # are kept apart for the clip, and composed once for previews and the contact sheet.
        picture, overlay = self.storyboard.render_layers(spec, params["width"], params["height"])
        picture.save(task.file("picture.png"), format="PNG", compress_level=1)
        preview = picture.copy()
        if overlay is not None:
            overlay.save(task.file("overlay.png"), format="PNG", compress_level=1)
            left = (picture.width - params["width"]) // 2
            top = (picture.height - params["height"]) // 2
            preview.paste(overlay, (left, top), overlay)
        preview.save(task.file("keyframe.png"), format="PNG", compress_level=1)
        return {"width": picture.width, "height": picture.height, "overlay": overlay is not None}


class MotionBackend:
    def __init__(self):
        pass

    def run(self, task) -> dict:
        from PIL import Image

        params = task.job.params
        timing = task.timing
        keyframe_job = task.job.inputs[0]
        entry = task.inputs[keyframe_job]
        keyframe = Image.open(entry.file("picture.png"))
        keyframe.load()
        overlay = None
        if entry.meta.get("overlay"):
            overlay = Image.open(entry.file("overlay.png"))
            overlay.load()
        previous = None
        if timing["dissolve"] and len(task.job.inputs) > 1:
            with np.load(task.inputs[task.job.inputs[1]].file("last.npz")) as planes:
                previous = (planes["y"], planes["u"], planes["v"])
        last = render_clip(task.file("clip.mp4"), keyframe, move=params["move"], speed=params["speed"],
                           frames=timing["frames"], fps=params["fps"], width=params["width"],
                           height=params["height"], fade_in=timing["fade_in"],
                           fade_out=timing["fade_out"], dissolve_from=previous,
                           dissolve=timing["dissolve"], overlay=overlay)
        np.savez(task.file("last.npz"), y=last[0], u=last[1], v=last[2])
        return {"frames": timing["frames"]}


class ScoreBackend:
    def __init__(self):
        from . import score

        self.score = score

    def run(self, task) -> dict:
        params = task.job.params
        seconds = max(task.timing["seconds"], 0.1)
        if params["source"]:
            samples = load_audio(task.project / params["source"], params["sample_rate"])
            repeats = int(np.ceil(seconds * params["sample_rate"] / max(len(samples), 1)))
            samples = np.concatenate([samples] * max(repeats, 1))[: int(seconds * params["sample_rate"])]
        else:
            samples = self.score.render_score(params["description"], params["tempo"], seconds,
                                              task.job.seed, params["sample_rate"],
                                              fade_in=0.0, fade_out=0.0)
        write_wav(task.file("music.wav"), samples, params["sample_rate"])
        return {"seconds": round(len(samples) / params["sample_rate"], 4)}


class SfxBackend:
    def __init__(self):
        from . import sfx

        self.sfx = sfx

    def run(self, task) -> dict:
        params = task.job.params
        rate = params["sample_rate"]
        if params["source"]:
            samples = load_audio(task.project / params["source"], rate, channels=1)[:, 0]
            if params["duration"]:
                samples = samples[: int(params["duration"] * rate)]
        else:
            samples = self.sfx.render_sfx(params["description"], params["duration"], task.job.seed, rate)
        write_wav(task.file("sfx.wav"), samples, rate)
        return {"seconds": round(len(samples) / rate, 4)}


def _check_image(path, written: str) -> None:
    """Fail loudly on an unreadable picture rather than drawing the shot without it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"{written} is not a readable image ({error})") from None


def _is_image(path: str) -> bool:
    return path.lower().endswith((".png", ".jpg", ".jpeg", ".webp"))
