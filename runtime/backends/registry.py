"""Backend name (from the plan) → the class that renders it; instances live for one build, so
whatever a backend loads (a voice engine, a model) is loaded once."""

from __future__ import annotations

import importlib

BACKENDS = {
    "draft.espeak": "moviola.runtime.backends.draft.jobs:SpeechBackend",
    "draft.storyboard": "moviola.runtime.backends.draft.jobs:StoryboardBackend",
    "draft.motion": "moviola.runtime.backends.draft.jobs:MotionBackend",
    "draft.score": "moviola.runtime.backends.draft.jobs:ScoreBackend",
    "draft.sfx": "moviola.runtime.backends.draft.jobs:SfxBackend",
    "edit.mix": "moviola.runtime.backends.edit:MixBackend",
    "edit.subtitles": "moviola.runtime.backends.edit:SubtitlesBackend",
    "edit.mux": "moviola.runtime.backends.edit:MuxBackend",
    "edit.otio": "moviola.runtime.backends.edit:OtioBackend",
    "edit.contact_sheet": "moviola.runtime.backends.edit:ContactSheetBackend",
}


class Backends:
    def __init__(self, profile: str):
        self.profile = profile
        self.loaded: dict[str, object] = {}

    def get(self, name: str):
        if name not in self.loaded:
            module_name, _, class_name = BACKENDS[name].partition(":")
            cls = getattr(importlib.import_module(module_name), class_name)
            self.loaded[name] = cls()
        return self.loaded[name]

    def close(self) -> None:
        for backend in self.loaded.values():
            close = getattr(backend, "close", None)
            if close:
                close()
        self.loaded.clear()
