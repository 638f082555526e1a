"""The draft profile's backends: glue between plan jobs and the draft renderers (espeak-ng
voices, storyboard frames, camera motion, synthesized score and effects). CPU only, no weights."""

from __future__ import annotations

import numpy as np

from moviola.runtime.audio_io import load_audio, video_still, write_wav
from moviola.runtime.backends.protocol import BaseBackend
from moviola.runtime.contact_sheet import save_keyframe
from moviola.runtime.video import previous_planes, render_clip
from moviola.compiler.vocabulary import IMAGE_EXTENSIONS


class SpeechBackend(BaseBackend):
    def __init__(self, config=None, models=None, project=None):
        super().__init__(config, models, project)
        from . import speech

        self.speech = speech

    def run(self, task) -> dict:
        params = task.job.params
        voice = self.speech.voice_for(params.character, params.description,
                                      params.character_index)
        samples, rate = self.speech.synthesize(params.text, voice, tuple(params.delivery),
                                               params.language)
        write_wav(task.output("speech"), samples, rate)
        return {"seconds": round(len(samples) / rate, 4), "sample_rate": rate}


class PerformanceBackend(BaseBackend):
    """A line the writer recorded (``[[voice: …; from: take.wav]]``), in the character's
    register: the take trimmed, its pitch moved to the character's (measured on the character's
    ``voice:`` recording, else on its draft voice) and levelled like the draft voices. The take's
    timing and intonation are kept; its timbre stays the writer's (a draft: no model)."""

    RATE = 24000
    REFERENCE = "It was here, every Monday, by the water. Come in, it's only water."

    def __init__(self, config=None, models=None, project=None):
        super().__init__(config, models, project)
        from . import speech

        self.speech = speech
        self._pitches: dict = {}          # the character's pitch, per voice, for this process

    def run(self, task) -> dict:
        from moviola.runtime import speech_dsp

        params = task.job.params
        take = speech_dsp.trim_silence(_read_speech(task, params.performance, self.RATE),
                                       self.RATE)
        if not take.size:
            raise ValueError(f"{params.performance} holds no sound")
        ratio = 1.0
        own = speech_dsp.estimate_pitch(take, self.RATE)
        target = self.character_pitch(task, params)
        if own and target:
            ratio = float(np.clip(target / own, 1 / speech_dsp.MAX_SHIFT, speech_dsp.MAX_SHIFT))
            take = speech_dsp.shift_pitch(take, self.RATE, ratio)
        take = speech_dsp.match_level(take, self.RATE)
        write_wav(task.output("speech"), take, self.RATE)
        return {"seconds": round(len(take) / self.RATE, 4), "sample_rate": self.RATE,
                "pitch_ratio": round(ratio, 4)}

    def character_pitch(self, task, params) -> float | None:
        from moviola.runtime import speech_dsp

        sample = params.voice_sample
        if sample:
            identity = ("sample", sample)
        else:
            voice = self.speech.voice_for(params.character, params.description,
                                          params.character_index)
            identity = ("draft", voice, params.language)
        if identity not in self._pitches:
            if sample:
                audio, rate = _read_speech(task, sample, self.RATE), self.RATE
            else:
                audio, rate = self.speech.synthesize(self.REFERENCE, voice, (), params.language)
            self._pitches[identity] = speech_dsp.estimate_pitch(audio, rate)
        return self._pitches[identity]


def _read_speech(task, relative: str, rate: int) -> np.ndarray:
    """A project's recording as mono float32 at ``rate``, or a clear error."""
    try:
        return load_audio(task.source(relative), rate, channels=1)[:, 0]
    except (OSError, ValueError, IndexError) as error:   # av's errors are OSError / ValueError
        raise _unreadable(relative, "recording", error) from None


def _unreadable(relative: str, what: str, error: Exception) -> ValueError:
    """A project file FFmpeg cannot read, named as the script wrote it (never the full path)."""
    reason = getattr(error, "strerror", None) or str(error).splitlines()[0] or type(error).__name__
    return ValueError(f"{relative} is not a readable {what} ({reason})")


class StoryboardBackend(BaseBackend):
    def __init__(self, config=None, models=None, project=None):
        super().__init__(config, models, project)
        from . import storyboard

        self.storyboard = storyboard

    def run(self, task) -> dict:
        params = task.job.params
        source = params.source
        spec = {
            "size": params.size, "setting": params.setting, "time": params.time,
            "place": params.place, "location": params.location,
            "characters": params.characters, "speaker": params.speaker,
            "caption": params.caption, "label": params.label, "card": params.card,
            "seed": task.job.seed,
            "source_image": None,
            # the written camera language: angle, lens kind, focus and lighting key
            "angle": params.angle, "lens": params.lens, "focus": params.focus,
            "lighting": params.lighting,
        }
        if source:
            path = task.source(source).resolve()
            if not _is_image(source):
                still = task.output("source_still")
                try:
                    video_still(path, still)
                except (OSError, ValueError, IndexError) as error:
                    raise _unreadable(source, "video", error) from None
                path = still
            _check_image(path, source)
            spec["source_image"] = str(path)
        # The caption and label stay fixed while the camera moves: the picture and its overlay
        # are kept apart for the clip, and composed once for previews and the contact sheet.
        picture, overlay = self.storyboard.render_layers(spec, params.width, params.height)
        picture.save(task.output("picture"), format="PNG", compress_level=1)
        preview = picture.copy()
        if overlay is not None:
            overlay.save(task.output("overlay"), format="PNG", compress_level=1)
            left = (picture.width - params.width) // 2
            top = (picture.height - params.height) // 2
            preview.paste(overlay, (left, top), overlay)
        save_keyframe(task, preview)
        return {"width": picture.width, "height": picture.height, "overlay": overlay is not None}


class ContinuationBackend(BaseBackend):
    """The keyframe of a matching cut (``[[shot: …, continues]]``), under every profile: the
    previous clip's last frame as the frame a viewer sees (an image-to-video model starts
    from it), and as the picture laid where this shot's camera move starts (the draft motion
    starts on it)."""

    def run(self, task) -> dict:
        from moviola.runtime.backends.draft.storyboard import keyframe_size, render_overlay
        from moviola.runtime.video import camera_frame, continued_picture, cover

        params = task.job.params
        previous = task.inputs.one("clip")
        if previous is None:
            raise ValueError(f"{task.job.label}: continues, but has no previous clip as input")
        # as the camera saw it: the previous shot's caption and number are not this shot's
        frame = camera_frame(previous)
        size = (int(params.width), int(params.height))
        if frame.size != size:          # a clip of another size: cover the frame with it
            frame = cover(frame, size)
        picture = continued_picture(frame, keyframe_size(*size), params.move, params.speed)
        picture.save(task.output("picture"), format="PNG", compress_level=1)
        seen = frame.copy()
        # the draft writes this shot's own caption, number and heading (a model profile none)
        overlay = None
        if params.caption or params.label:
            overlay = render_overlay({"caption": params.caption, "label": params.label,
                                      "size": params.size, "angle": params.angle,
                                      "setting": params.setting, "place": params.place,
                                      "time": params.time}, *size)
            overlay.save(task.output("overlay"), format="PNG", compress_level=1)
            seen.paste(overlay, (0, 0), overlay)
        save_keyframe(task, seen)
        return {"width": picture.width, "height": picture.height, "overlay": overlay is not None,
                "continues": str(previous.ref)}


class MotionBackend(BaseBackend):
    def run(self, task) -> dict:
        from PIL import Image

        params = task.job.params
        timing = task.timing
        entry = task.inputs.one("keyframe")
        keyframe = Image.open(entry.artifact("picture"))
        keyframe.load()
        previous = previous_planes(task)
        last = render_clip(task.output("clip"), keyframe, move=params.move, speed=params.speed,
                           frames=timing["frames"], fps=params.fps, width=params.width,
                           height=params.height, fade_in=timing["fade_in"],
                           fade_out=timing["fade_out"], dissolve_from=previous,
                           dissolve=timing["dissolve"] if previous is not None else 0,
                           overlay=_overlay(entry))
        last.save(task)
        return {"frames": timing["frames"]}


class FootageBackend(BaseBackend):
    """A shot the writer filmed (``from:`` a video, a maquette say), as filmed: the footage at
    the film's rate from its start, cover-fitted to the frame, the shot's caption fixed on top,
    with the cut's fades and dissolve. A shot longer than the footage holds its last frame. The
    camera move is the footage's own; the model profiles restyle it instead."""

    def run(self, task) -> dict:
        from moviola.runtime.video import cover, encode_frames, read_video

        params, timing = task.job.params, task.timing
        entry = task.inputs.one("keyframe")
        source = params.source
        size = (int(params.width), int(params.height))
        count = int(timing["frames"])
        try:
            frames = read_video(task.source(source), count, float(params.fps))
        except (OSError, ValueError, IndexError) as error:
            raise _unreadable(source, "video", error) from None
        previous = previous_planes(task)
        last = encode_frames(task.output("clip"), (np.asarray(cover(f, size)) for f in frames),
                             count=count, fps=params.fps, width=size[0], height=size[1],
                             fade_in=timing["fade_in"], fade_out=timing["fade_out"],
                             dissolve_from=previous,
                             dissolve=timing["dissolve"] if previous is not None else 0,
                             overlay=_overlay(entry))
        last.save(task)
        return {"frames": count}


def _overlay(keyframe):
    """The keyframe's fixed caption layer (RGBA, the film's size), if it has one."""
    from PIL import Image

    if not keyframe.meta.get("overlay"):
        return None
    overlay = Image.open(keyframe.artifact("overlay"))
    overlay.load()
    return overlay


class ScoreBackend(BaseBackend):
    def __init__(self, config=None, models=None, project=None):
        super().__init__(config, models, project)
        from . import score

        self.score = score

    def run(self, task) -> dict:
        params = task.job.params
        seconds = max(task.timing["seconds"], 0.1)
        if params.source:
            samples = load_audio(task.source(params.source), params.sample_rate)
            repeats = int(np.ceil(seconds * params.sample_rate / max(len(samples), 1)))
            samples = np.concatenate([samples] * max(repeats, 1))[: int(seconds * params.sample_rate)]
        else:
            samples = self.score.render_score(params.description, params.tempo, seconds,
                                              task.job.seed, params.sample_rate,
                                              fade_in=0.0, fade_out=0.0)
        write_wav(task.output("music"), samples, params.sample_rate)
        return {"seconds": round(len(samples) / params.sample_rate, 4)}


class SfxBackend(BaseBackend):
    def __init__(self, config=None, models=None, project=None):
        super().__init__(config, models, project)
        from . import sfx

        self.sfx = sfx

    def run(self, task) -> dict:
        params = task.job.params
        rate = params.sample_rate
        if params.source:
            samples = load_audio(task.source(params.source), rate, channels=1)[:, 0]
            if params.duration:
                samples = samples[: int(params.duration * rate)]
        else:
            samples = self.sfx.render_sfx(params.description, params.duration, task.job.seed, rate)
        write_wav(task.output("sfx"), samples, rate)
        return {"seconds": round(len(samples) / rate, 4)}


def _check_image(path, written: str) -> None:
    """Fail loudly on an unreadable picture rather than drawing the shot without it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise _unreadable(written, "image", error) from None


def _is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTENSIONS)
