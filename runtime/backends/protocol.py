"""The contract between the executor and every backend: what a job's task holds, which
artifacts each kind of job produces, and the :class:`Backend` protocol.

A backend renders a :class:`Task`: its job (kind, parameters, seed), its resolved key, the
artifacts of the jobs it declared as inputs (nothing else of the plan), the timing the
timeline fixed for it, and the project files it declared. Everything a task exposes is
covered by its resolved key, so a cached entry can be trusted; and a task is self-contained,
so it can run in another process or on another machine (tests/test_backend_contract.py).

Each kind declares its outputs as named, typed artifacts (:data:`ARTIFACTS`); a backend
writes them with ``task.output(name)`` and reads its inputs' with ``input.artifact(name)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    from moviola.compiler.plan import Job, JobRef
    from moviola.compiler.profiles import ModelConfig
    from moviola.runtime.models import ModelManager
    from moviola.runtime.timeline import Timeline


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    file: str            # its file in the job's cache entry
    type: str            # audio | image | video | frames | timing | text | timeline | weights
    required: bool = True
    about: str = ""


def _artifacts(*items: Artifact) -> dict[str, Artifact]:
    return {item.name: item for item in items}


@dataclass(frozen=True, slots=True)
class KindRule:
    """How the executor schedules a kind of job (the one owner of these facts)."""

    phase: int           # dispatch order, a topological order of the kinds: lower goes first
    timed: bool          # waits for the timeline (rendered speech lengths fix its timing)
    edit: bool           # gets the whole resolved timeline in its task


# Training first (a keyframe applies its asset's LoRA), beside speech (its lengths fix the
# timeline); pictures and effects need no timeline; the mix
# and subtitles go before the clips so that the long mix runs beside them; the mux last.
KIND_RULES: dict[str, KindRule] = {
    "train": KindRule(0, timed=False, edit=False),
    "speech": KindRule(0, timed=False, edit=False),
    "keyframe": KindRule(1, timed=False, edit=False),
    "sfx": KindRule(1, timed=False, edit=False),
    "music": KindRule(2, timed=True, edit=False),
    "mix": KindRule(3, timed=True, edit=True),
    "subtitles": KindRule(3, timed=True, edit=True),
    "clip": KindRule(4, timed=True, edit=False),
    "otio": KindRule(5, timed=True, edit=True),
    "contact_sheet": KindRule(5, timed=True, edit=True),
    "mux": KindRule(6, timed=True, edit=True),
}


# A keyframe's "picture" is this much larger than the film frame, so that a camera move can
# crop a moving window over it (runtime/video.py); every keyframe backend draws it so.
PICTURE_MARGIN = 1.25

ARTIFACTS: dict[str, dict[str, Artifact]] = {
    "train": _artifacts(Artifact("lora", "lora.safetensors", "weights",
                                 about="the asset's LoRA, diffusers format; keyframes apply it")),
    "speech": _artifacts(Artifact("speech", "speech.wav", "audio", about="the spoken line")),
    "keyframe": _artifacts(
        Artifact("picture", "picture.png", "image",
                 about="the picture the camera moves over, PICTURE_MARGIN × the frame"),
        Artifact("overlay", "overlay.png", "image", required=False,
                 about="the caption layer, the film's size, fixed while the camera moves"),
        Artifact("keyframe", "keyframe.png", "image", about="the frame as a viewer sees it"),
        # optional only because entries rendered before it have none (the sheet then shrinks
        # the keyframe); every keyframe backend writes it (runtime/contact_sheet.save_keyframe)
        Artifact("thumbnail", "thumbnail.png", "image", required=False,
                 about="the keyframe fitted into the contact sheet's 256×144 cell"),
        Artifact("source_still", "source-still.png", "image", required=False,
                 about="the still taken from a `from:` video"),
    ),
    "clip": _artifacts(
        Artifact("clip", "clip.mp4", "video", about="the cut's H.264 segment"),
        Artifact("last_frame", "last.npz", "frames",
                 about="its last frame as YUV 4:2:0 planes (y, u, v), for a dissolve"),
        # optional only because entries rendered before it have none (a matching cut then
        # starts from last_frame); every clip backend writes it (runtime/video.LastFrame.save)
        Artifact("camera_frame", "camera.npz", "frames", required=False,
                 about="that frame as the camera saw it (no caption, fade or dissolve), as YUV "
                       "planes: where a matching cut starts"),
    ),
    "music": _artifacts(Artifact("music", "music.wav", "audio")),
    "sfx": _artifacts(Artifact("sfx", "sfx.wav", "audio")),
    "mix": _artifacts(Artifact("mix", "mix.wav", "audio"),
                      Artifact("mix_aac", "mix.m4a", "audio", about="encoded for the mux"),
                      Artifact("dialogue", "dialogue.wav", "audio", about="the dialogue stem"),
                      Artifact("music", "music.wav", "audio", about="the music stem"),
                      Artifact("effects", "effects.wav", "audio", about="the effects stem")),
    "subtitles": _artifacts(Artifact("srt", "film.srt", "text"), Artifact("vtt", "film.vtt", "text"),
                            Artifact("cues", "cues.json", "timing",
                                     about="[[start, end, text], …] in seconds")),
    "mux": _artifacts(Artifact("film", "film.mp4", "video")),
    "otio": _artifacts(Artifact("timeline", "film.otio", "timeline",
                                about="OpenTimelineIO, media named relative to the installed timeline")),
    "contact_sheet": _artifacts(Artifact("sheet", "sheet.png", "image")),
}


class UndeclaredAccess(LookupError):
    """A backend asked for something its job did not declare (its key would not cover it)."""


def artifact_of(kind: str, name: str) -> Artifact:
    try:
        return ARTIFACTS[kind][name]
    except KeyError:
        raise UndeclaredAccess(f"a {kind} job has no artifact {name!r}; it has: "
                               f"{', '.join(ARTIFACTS.get(kind, {}))}") from None


def missing_outputs(kind: str, folder: Path) -> list[str]:
    """The required artifacts of ``kind`` that are not in ``folder``."""
    return [a.file for a in ARTIFACTS[kind].values() if a.required and not (folder / a.file).is_file()]


@dataclass(frozen=True, slots=True)
class Input:
    """A finished input job, as its consumer sees it: its identity, parameters and artifacts
    (all covered by its key, which is part of the consumer's)."""

    ref: "JobRef"
    params: dict
    meta: dict              # what its backend reported (a speech's seconds, …)
    folder: Path

    @property
    def kind(self) -> str:
        return self.ref.kind

    @classmethod
    def of(cls, job: "Job", entry) -> "Input":
        """The input a finished ``job`` (with its cache ``entry``) is to the jobs reading it."""
        return cls(job.ref, job.params, entry.meta, entry.path)

    def artifact(self, name: str) -> Path:
        return self.folder / artifact_of(self.ref.kind, name).file

    def has(self, name: str) -> bool:
        return self.artifact(name).is_file()


class Inputs(Mapping):
    """The artifacts of the jobs a job declared as inputs, in the plan's order."""

    def __init__(self, items: Sequence[Input] = ()):
        self._items = {item.ref: item for item in items}

    def __getitem__(self, ref) -> Input:
        try:
            return self._items[ref]
        except KeyError:
            raise UndeclaredAccess(f"{ref} is not an input of this job") from None

    def __iter__(self) -> Iterator:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def of_kind(self, kind: str) -> list[Input]:
        return [item for item in self._items.values() if item.kind == kind]

    def one(self, kind: str) -> Input | None:
        """The input of ``kind`` (a clip's keyframe, the mux's mix), or None."""
        found = self.of_kind(kind)
        return found[0] if found else None


@dataclass
class Task:
    """What a backend gets to render one job, and nothing more."""

    job: "Job"
    key: str                          # the resolved content key
    inputs: Inputs                    # the declared inputs' artifacts
    timing: dict                      # what the timeline fixed for this job
    folder: Path                      # where this job's artifacts are written
    sources: dict[str, Path] = field(default_factory=dict)   # declared project files
    timeline: "Timeline | None" = None                       # the edit jobs' resolved timeline
    # the build's progress display, when the job runs in the build's process; a task sent to a
    # worker process or a Ray actor travels without it (see __getstate__)
    on_progress: "Callable[[int, int, str], None] | None" = field(
        default=None, compare=False, repr=False)

    @classmethod
    def of(cls, job: "Job", key: str, folder: Path, project: Path, inputs: Sequence[Input] = (),
           timing: dict | None = None, timeline: "Timeline | None" = None) -> "Task":
        """The task of ``job``: the project files it declared, the inputs it declared."""
        declared = set(job.inputs)
        given = [item for item in inputs if item.ref in declared]
        return cls(job, key, Inputs(given), dict(timing or {}), Path(folder),
                   {relative: Path(project) / relative for relative in job.files}, timeline)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "on_progress": None}

    def progress(self, done: int, total: int, detail: str = "") -> None:
        """Report a step of a long job (``done`` of ``total``) to the build's display."""
        if self.on_progress is not None:
            self.on_progress(done, total, detail)

    def output(self, name: str) -> Path:
        """Where to write this job's artifact ``name`` (one its kind declares)."""
        return self.folder / artifact_of(self.job.kind, name).file

    def source(self, relative: str) -> Path:
        """The project file ``relative`` (as the script wrote it), if the job declared it."""
        try:
            return self.sources[relative]
        except KeyError:
            raise UndeclaredAccess(f"{self.job.label} did not declare {relative} "
                                   f"(declared: {', '.join(self.sources) or 'none'})") from None


@runtime_checkable
class Backend(Protocol):
    """What the executor needs of a backend; every class in registry.BACKENDS has it.

    Built once per build and profile entry with ``(config, models, project)``: the entry's
    model configuration (None for draft and edit backends), the build's model manager, and
    the project folder (where a model may live). ``validate()`` finds the model before any
    GPU work and sets ``revision`` (the weights' identity, part of every resolved key);
    ``check_jobs`` reports jobs it cannot render (a take to convert with no voice); ``run_batch``
    renders tasks and returns one meta dict each; ``close()`` frees what it loaded."""

    revision: str

    def validate(self) -> None: ...

    def check_jobs(self, jobs: Sequence["Job"]) -> list[str]: ...

    def run_batch(self, tasks: Sequence[Task]) -> list[dict]: ...

    def close(self) -> None: ...


class UnknownOption(ValueError):
    """A profile's option that neither the backend nor any model call it makes takes."""


def check_options(config: "ModelConfig", accepted, calls: str = "") -> None:
    """Raise :class:`UnknownOption` for each of ``config``'s options not in ``accepted`` (a
    typo, another backend's setting): an option nothing reads is named, never dropped.
    ``calls`` says what else was asked (the pipelines whose parameters count)."""
    from moviola.compiler.diagnostics import closest

    accepted = sorted(set(accepted))
    unknown = [name for name in (config.options or {}) if name not in accepted]
    if not unknown:
        return
    hints = [f"options.{name}" + (f" (did you mean {match}?)"
                                  if (match := closest(name, accepted)) else "")
             for name in unknown]
    known = f"; it reads {', '.join(accepted)}" if accepted and not calls else ""
    raise UnknownOption(
        f"{config.kind} model {config.model}: {', '.join(hints)} "
        f"{'is' if len(unknown) == 1 else 'are'} not a setting of {config.backend}"
        f"{' nor a parameter of ' + calls if calls else ''}{known}")


class BaseBackend:
    """Defaults for the protocol: nothing to find, every job renderable, one task at a time
    through ``run(task)``. Model backends override what they need."""

    revision = ""
    # the options a model backend reads (its profile entry's `options`); any other is an error
    options_read: frozenset = frozenset()

    def __init__(self, config: "ModelConfig | None" = None, models: "ModelManager | None" = None,
                 project: Path | None = None):
        self.config = config
        self.models = models
        self.project = Path(project) if project is not None else None

    def validate(self) -> None:
        return None

    def check_jobs(self, jobs: Sequence["Job"]) -> list[str]:
        return []

    def run(self, task: Task) -> dict:
        raise NotImplementedError(f"{type(self).__name__} renders in run_batch")

    def run_batch(self, tasks: Sequence[Task]) -> list[dict]:
        return [self.run(task) for task in tasks]

    def close(self) -> None:
        return None
