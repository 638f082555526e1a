"""Backend name (from the plan) → the class that renders it; instances live for one build, so
whatever a backend loads (a voice engine, a model) is loaded once.

Every class implements :class:`~moviola.runtime.backends.protocol.Backend` and is built the
same way, with ``(config, models, project)``: its profile entry's
:class:`~moviola.compiler.profiles.ModelConfig` (None for draft and edit backends), the build's
model manager (None until a model backend needs one) and the project folder.
"""

from __future__ import annotations

import importlib
from pathlib import Path

BACKENDS = {
    "draft.espeak": "moviola.runtime.backends.draft.jobs:SpeechBackend",
    "draft.performance": "moviola.runtime.backends.draft.jobs:PerformanceBackend",
    "draft.storyboard": "moviola.runtime.backends.draft.jobs:StoryboardBackend",
    "draft.motion": "moviola.runtime.backends.draft.jobs:MotionBackend",
    "draft.footage": "moviola.runtime.backends.draft.jobs:FootageBackend",
    "draft.continuation": "moviola.runtime.backends.draft.jobs:ContinuationBackend",
    "draft.score": "moviola.runtime.backends.draft.jobs:ScoreBackend",
    "draft.sfx": "moviola.runtime.backends.draft.jobs:SfxBackend",
    "edit.mix": "moviola.runtime.backends.edit:MixBackend",
    "edit.subtitles": "moviola.runtime.backends.edit:SubtitlesBackend",
    "edit.mux": "moviola.runtime.backends.edit:MuxBackend",
    "edit.otio": "moviola.runtime.backends.edit:OtioBackend",
    "edit.contact_sheet": "moviola.runtime.backends.edit:ContactSheetBackend",
    "diffusers.text_to_image": "moviola.runtime.backends.diffusers_image:TextToImage",
    "diffusers.image_to_video": "moviola.runtime.backends.diffusers_video:ImageToVideo",
    "diffusers.text_to_video": "moviola.runtime.backends.diffusers_video:TextToVideo",
    "diffusers.video_to_video": "moviola.runtime.backends.diffusers_footage:VideoToVideo",
    "diffusers.audio_video": "moviola.runtime.backends.diffusers_ltx2:AudioVideo",
    "transformers.tts": "moviola.runtime.backends.speech_models:Tts",
    "transformers.tts_clone": "moviola.runtime.backends.speech_models:TtsClone",
    "transformers.pocket_tts": "moviola.runtime.backends.speech_models:PocketTts",
    "transformers.vibevoice": "moviola.runtime.backends.speech_models:VibeVoice",
    "transformers.voice_conversion": "moviola.runtime.backends.voice_conversion:VoiceConversion",
    "transformers.musicgen": "moviola.runtime.backends.music_models:MusicGen",
    "diffusers.stable_audio": "moviola.runtime.backends.music_models:StableAudio",
    "diffusers.ace_step": "moviola.runtime.backends.music_models:AceStep",
    "diffusers.stable_audio_3": "moviola.runtime.backends.music_models:StableAudio3",
    "coqui.xtts": "moviola.runtime.backends.coqui:XttsBackend",
    "coqui.freevc": "moviola.runtime.backends.coqui:FreeVcBackend",
    "training.lora": "moviola.runtime.backends.training:LoraTraining",
}

# A backend that works on another kind's model: training.lora trains the keyframe model.
MODEL_OF = {"training.lora": "keyframe"}


def is_model_backend(name: str) -> bool:
    return not name.startswith(("draft.", "edit."))


def backend_class(name: str) -> type:
    module_name, _, class_name = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


class Backends:
    def __init__(self, profile=None, project: Path | None = None, models=None):
        self.profile = profile                # a compiler.profiles.Profile, or None (draft)
        self.project = project
        self.models = models                  # a runtime.models.ModelManager for model backends
        self.loaded: dict[str, object] = {}

    def config_for(self, name: str, kind: str | None = None):
        configs = self.profile.models if self.profile is not None else {}
        if name in MODEL_OF and MODEL_OF[name] in configs:
            return configs[MODEL_OF[name]]
        if kind in configs and configs[kind].backend == name:
            return configs[kind]
        for config in configs.values():
            if config.backend == name:
                return config
        raise KeyError(f"no model configured for backend {name}")

    def get(self, name: str, kind: str | None = None):
        """The backend ``name`` for jobs of ``kind``: one instance per (backend, kind), so music
        and sfx on one backend keep their own settings (the model itself is shared through the
        manager)."""
        slot = (name, kind if is_model_backend(name) else None)
        if slot not in self.loaded:
            config = None
            if is_model_backend(name):
                config = self.config_for(name, kind)
                if self.models is None:
                    from moviola.runtime.models import ModelManager

                    profile = self.profile
                    self.models = ModelManager(profile.device, profile.memory_budget_bytes, profile.offload)
            self.loaded[slot] = backend_class(name)(config, self.models, self.project)
        return self.loaded[slot]

    def close(self) -> None:
        for backend in self.loaded.values():
            backend.close()
        self.loaded.clear()
        if self.models is not None:
            self.models.close()
