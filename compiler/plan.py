"""The render plan: a DAG of jobs, each keyed by a content hash of what changes its output.

A job's ``key`` here covers everything the compiler knows: kind, backend and model identity,
parameters, seed and the keys of the jobs it reads. Two things only the runtime knows are added
when it runs the plan (``Executor.resolve_key``, runtime/executor.py): the bytes of project files
a job reads, and timing resolved from rendered speech (a clip's frame count). Keys are sha256 of canonical JSON, never
mtimes.

Job kinds: train (a LoRA per `train:` asset, under a profile with a keyframe model), speech (one
per line of dialogue), keyframe and clip (one each per cut), music (one per cue), sfx, mix (all
audio), subtitles, mux (the mp4), and the exports (otio, contact sheet).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import ClassVar
from pathlib import Path

from . import ir
from .decoupage import Cut, decoupage, derive_seed
from .prompts import trigger_phrase
from .properties import TRAIN_DEFAULTS
from .profiles import Profile, builtin_profiles, is_draft, pick_profile, resolve_profile
from .source import Span
from .vocabulary import VIDEO_EXTENSIONS

PLAN_FORMAT = 1
SAMPLE_RATE = 48000


@dataclass(frozen=True, slots=True)
class Backend:
    """Which implementation renders a kind of job, and its identity for cache keys."""

    name: str          # "draft.storyboard"
    model: str         # model id + revision, or the algorithm's version for draft backends


# The embedded default profile: runs on any CPU with no model weights.
DRAFT = {
    "speech": Backend("draft.espeak", "espeak-ng/1"),
    "performance": Backend("draft.performance", "performance/1"),
    "keyframe": Backend("draft.storyboard", "storyboard/1"),
    "clip": Backend("draft.motion", "motion/1"),
    "footage": Backend("draft.footage", "footage/1"),
    "music": Backend("draft.score", "score/1"),
    "sfx": Backend("draft.sfx", "sfx/1"),
    "mix": Backend("edit.mix", "mix/2"),          # 2: streamed, with stems, band-limited speech
    "subtitles": Backend("edit.subtitles", "subtitles/1"),
    "mux": Backend("edit.mux", "mux/1"),
    "otio": Backend("edit.otio", "otio/2"),       # 2: written by opentimelineio
    "contact_sheet": Backend("edit.contact_sheet", "contact-sheet/2"),
}


def backends_for(profile: Profile) -> dict[str, Backend]:
    """The backend of every job kind under ``profile``. Draft backends keep their algorithm
    versions as model identity; model backends name their model (the runtime adds its
    revision)."""
    drafts = {backend.name: backend for backend in DRAFT.values()}
    out = dict(DRAFT)
    for kind, config in profile.models.items():
        # a draft backend may stand in for another kind (espeak speaking recorded lines)
        out[kind] = (drafts[config.backend] if is_draft(config.backend)
                     else Backend(config.backend, config.model or ""))
    if not is_draft(out["keyframe"].name):
        # `train:` assets: a LoRA of the keyframe model (the draft storyboard has none to train)
        out["train"] = Backend(TRAIN_BACKEND, out["keyframe"].model)
    return out


TRAIN_BACKEND = "training.lora"


FILM = "film"                        # the identity of the jobs made once per film (mix, mux…)


# -- parameters: one frozen type per kind; every field is part of the job's key --------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class JobParams:
    """What a job of one kind is rendered from (JSON-able values). ``model``: a model
    backend's generation settings (ModelConfig.identity()), None under draft backends."""

    model: dict | None = None
    # fields left out of the JSON (and so of the key) when None: what older plans did not have
    OMITTED_WHEN_NONE: ClassVar[tuple[str, ...]] = ("model",)

    def to_json(self) -> dict:
        out = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None and item.name in self.OMITTED_WHEN_NONE:
                continue
            out[item.name] = _plain(value)
        return out


def _plain(value):
    if is_dataclass(value):
        return {item.name: _plain(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechParams(JobParams):
    text: str
    character: str
    description: str                 # the character's declaration ("" for an undeclared one)
    character_index: int             # stable per character: picks its draft voice
    delivery: tuple[str, ...]        # parenthetical and `voice:` hints
    language: str
    voice_sample: str | None         # the character's `voice:` recording
    performance: str | None          # a recorded take of this line


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainParams(JobParams):
    """A LoRA of the keyframe model (``model``: its settings; the runtime adds its revision)."""

    asset: str                       # the location's or character's name
    asset_kind: str                  # "location" | "character"
    description: str                 # the caption of a picture without a sidecar
    trigger: str                     # leads every caption; the asset's shots' prompts carry it
    dataset: tuple[str, ...]         # the refs: as written (folders or files)
    method: str
    rank: int
    steps: int
    learning_rate: float
    resolution: int | None           # None: the model's native side
    seed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyframeParams(JobParams):
    width: int
    height: int
    size: str
    setting: str
    time: str | None
    place: str
    location: str
    refs: tuple[str, ...]            # the location's and characters' reference pictures
    characters: tuple[str, ...]
    speaker: str | None
    caption: str
    label: str
    card: str | None                 # a title card's text
    prompt: str
    style: str
    source: str | None               # the shot's `from:` picture or video
    # the written camera language, by canonical value; left out of the key when not written,
    # so shots without it keep their keys
    angle: str | None = None
    lens: str | None = None
    focal_length: int | None = None
    focus: str | None = None
    lighting: str | None = None
    # a matching cut: the picture is the previous clip's last frame (the clip job an input),
    # laid where this shot's camera move starts (move, speed); None for every other shot
    continues: bool | None = None
    move: str | None = None
    speed: str | None = None
    OMITTED_WHEN_NONE: ClassVar[tuple[str, ...]] = ("model", "angle", "lens", "focal_length",
                                                    "focus", "lighting", "continues", "move",
                                                    "speed")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClipParams(JobParams):
    width: int
    height: int
    fps: float
    move: str
    speed: str
    duration: float | None
    min_seconds: float
    transition_in: str
    transition_out: str
    source: str | None = None        # filmed footage: the `from:` video the clip reads
    continues: bool | None = None    # starts from the previous clip's last frame (its keyframe)
    OMITTED_WHEN_NONE: ClassVar[tuple[str, ...]] = ("model", "source", "continues")


@dataclass(frozen=True, slots=True, kw_only=True)
class MusicParams(JobParams):
    theme: str
    description: str
    tempo: float | None
    fade_in: float
    sample_rate: int
    source: str | None               # a recorded theme
    lyrics: str | None = None        # the sung lines it plays under, one a line; None: instrumental
    OMITTED_WHEN_NONE: ClassVar[tuple[str, ...]] = ("model", "lyrics")


@dataclass(frozen=True, slots=True, kw_only=True)
class SfxParams(JobParams):
    description: str
    duration: float | None
    sample_rate: int
    source: str | None               # a recorded effect


@dataclass(frozen=True, slots=True, kw_only=True)
class MixParams(JobParams):
    sample_rate: int
    loudness_lufs: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SubtitlesParams(JobParams):
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MuxParams(JobParams):
    width: int
    height: int
    fps: float
    title: str
    language: str


@dataclass(frozen=True, slots=True)
class ShotInfo:
    """What the timeline export says of a shot."""

    cut: str
    label: str
    size: str
    move: str
    prompt: str
    line: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OtioParams(JobParams):
    fps: float
    title: str
    shots: tuple[ShotInfo, ...]
    scenes: tuple[tuple[str, str], ...]     # (first cut id, scene heading): the scene markers


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactSheetParams(JobParams):
    title: str
    labels: tuple[str, ...]          # each cut's number, under its frame


@dataclass(frozen=True, slots=True, order=True)
class JobRef:
    """A job's identity: its kind and, within the kind, the cut it belongs to (``CUT`` for a
    keyframe or clip, ``CUT/N`` for the N-th line or effect of a cut or the N-th music cue,
    :data:`FILM` for the once-per-film jobs). ``str()`` is the id people and JSON see,
    e.g. ``clip:ext-wash-house-dawn~1/2``; code compares refs, never parses that text."""

    kind: str
    identity: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.identity}"


def speech_ref(cut_id: str, number: int) -> JobRef:
    return JobRef("speech", f"{cut_id}/{number}")


def music_ref(cut_id: str, number: int) -> JobRef:
    return JobRef("music", f"{cut_id}/{number}")


def sfx_ref(cut_id: str, number: int) -> JobRef:
    return JobRef("sfx", f"{cut_id}/{number}")


def film_ref(kind: str) -> JobRef:
    return JobRef(kind, FILM)


@dataclass(frozen=True, slots=True)
class Job:
    ref: JobRef                      # stable identity (kind, identity)
    kind: str
    backend: str
    model: str
    params: "JobParams"              # the kind's parameters (SpeechParams, ClipParams…)
    inputs: tuple[JobRef, ...]       # jobs whose output this job reads
    timing: tuple[JobRef, ...]       # speech jobs whose lengths fix this job's timing
    files: tuple[str, ...]           # project files whose bytes this job reads
    seed: int
    key: str
    label: str                       # for people: "shot 3.2 close-up MARIE"
    span: Span | None                # the source line to blame when it fails
    # The profile entry that renders it: its kind, except for the writer's own material: a
    # line recorded as a take ("speech" under "performance") and a shot from a video ("clip"
    # under "footage").
    profile_kind: str

    @property
    def id(self) -> str:
        """The job's id as text (plan JSON, build reports, the editor's states)."""
        return str(self.ref)

    def to_json(self) -> dict:
        out = {"id": self.id, "kind": self.kind, "backend": self.backend, "model": self.model,
               "key": self.key, "seed": self.seed, "inputs": [str(i) for i in self.inputs],
               "timing": [str(i) for i in self.timing], "files": list(self.files),
               "label": self.label, "params": self.params.to_json()}
        if self.profile_kind != self.kind:
            out["profile_kind"] = self.profile_kind
        if self.span is not None:
            out["line"] = self.span.line
        return out


@dataclass(frozen=True, slots=True)
class RenderPlan:
    film: ir.Film
    cuts: tuple[Cut, ...]
    jobs: tuple[Job, ...]            # topological order
    profile: str
    estimated_seconds: float
    by_id: dict = field(default_factory=dict, compare=False, hash=False)    # JobRef → Job
    config: Profile | None = field(default=None, compare=False, hash=False)
    notes: tuple[str, ...] = ()      # what the plan leaves out and why (`moviola plan` says it)

    def job(self, ref: JobRef | str) -> Job:
        """The job of a ref (or of its text id, as a person or the plan JSON writes it)."""
        if isinstance(ref, JobRef):
            return self.by_id[ref]
        return next(job for job in self.jobs if job.id == ref)

    def select(self, refs) -> "RenderPlan":
        """The plan cut down to ``refs`` (in plan order), keys unchanged."""
        wanted = set(refs)
        jobs = tuple(job for job in self.jobs if job.ref in wanted)
        return RenderPlan(self.film, self.cuts, jobs, self.profile, self.estimated_seconds,
                          {job.ref: job for job in jobs}, self.config, self.notes)

    def to_json(self) -> dict:
        settings = self.film.settings
        return {
            "format": PLAN_FORMAT,
            "profile": self.profile,
            "title": settings.title,
            "resolution": list(settings.resolution),
            "fps": settings.fps,
            "estimated_seconds": round(self.estimated_seconds, 3),
            "cuts": [_cut_json(cut) for cut in self.cuts],
            "jobs": [job.to_json() for job in self.jobs],
            **({"notes": list(self.notes)} if self.notes else {}),
        }


def content_key(payload: dict) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Builder:
    def __init__(self, backends: dict[str, Backend], model_params: dict | None = None):
        self.backends = backends
        self.model_params = model_params or {}
        self.jobs: list[Job] = []
        self.by_id: dict[JobRef, Job] = {}

    def add(self, ref: JobRef, params: "JobParams", *, inputs=(), timing=(), files=(),
            seed: int = 0, label: str = "", span: Span | None = None, drawn: bool = False,
            profile_kind: str | None = None, backend: Backend | None = None) -> Job:
        # drawn: title cards are typeset by the storyboard renderer under every profile;
        # backend: one that renders the job under every profile (no model settings)
        kind = ref.kind
        profile_kind = profile_kind or kind
        fixed = drawn or backend is not None
        backend = backend or (DRAFT[kind] if drawn else self.backends[profile_kind])
        if profile_kind in self.model_params and not fixed:
            # generation settings change the output: they belong to the key
            params = replace(params, model=self.model_params[profile_kind])
        key = content_key({
            "format": PLAN_FORMAT, "kind": kind, "backend": backend.name, "model": backend.model,
            **({"profile_kind": profile_kind} if profile_kind != kind else {}),
            "params": params.to_json(), "seed": seed, "files": sorted(files),
            "inputs": [self.by_id[i].key for i in inputs],
        })
        job = Job(ref, kind, backend.name, backend.model, params, tuple(inputs), tuple(timing),
                  tuple(files), seed, key, label, span, profile_kind)
        self.jobs.append(job)
        self.by_id[ref] = job
        return job


def _is_video(cut: Cut) -> bool:
    """A shot made from filmed footage (`from:` a video) renders under the profile's footage."""
    return cut.source is not None and cut.source.path.lower().endswith(VIDEO_EXTENSIONS)


def plan(film: ir.Film, profile: Profile | str | None = None) -> RenderPlan:
    """Plan the render of a checked film under a profile (a :class:`Profile`, a built-in
    profile's name, or None for the title page's). Pure: reads no files, imports nothing heavy.
    A name that is not built in raises ProfileError: resolve a project's profiles with
    :func:`compiler.profiles.resolve_profile` and pass the Profile."""
    if not isinstance(profile, Profile):
        profile = pick_profile(builtin_profiles(), profile or film.settings.profile)
    configs = profile.models
    backends = backends_for(profile)
    model_params = {kind: configs[kind].identity() for kind in configs
                    if not is_draft(configs[kind].backend)}
    if "train" in backends:
        model_params["train"] = model_params["keyframe"]    # it trains the keyframe model
    settings = film.settings
    width, height = settings.resolution
    cuts = decoupage(film)
    build = _Builder(backends, model_params)
    cast = {c.name: (index, c) for index, c in enumerate(film.characters)}
    extra_index = len(cast)

    speech_of: dict[str, list[JobRef]] = {}
    for cut in cuts:
        ids = []
        for number, line in enumerate(cut.lines, 1):
            index_character = cast.get(line.character)
            if index_character is None:
                cast[line.character] = (extra_index, None)
                index_character = cast[line.character]
                extra_index += 1
            index, character = index_character
            files = []
            if character is not None and character.voice is not None:
                files.append(character.voice.path)
            if line.performance is not None:
                files.append(line.performance.path)
            ref = speech_ref(cut.id, number)
            job = build.add(ref, SpeechParams(
                text=line.text,
                character=line.character,
                description=character.description if character else "",
                character_index=index,
                delivery=tuple(line.delivery),
                language=settings.language,
                voice_sample=character.voice.path if character and character.voice else None,
                performance=line.performance.path if line.performance else None,
            ), files=files, seed=derive_seed(settings.seed, str(ref)),
                label=f"line {cut.label}.{number} {line.character}", span=line.span,
                profile_kind="performance" if line.performance is not None else "speech")
            ids.append(job.ref)
        speech_of[cut.id] = ids

    trained, notes = _train_jobs(build, film, profile)
    lip_sync = "clip" in configs and bool(configs["clip"].options.get("lip_sync"))
    scenes = {scene.index: scene for scene in film.scenes}
    previous_clip: Job | None = None
    previous_cut: Cut | None = None
    clips: list[JobRef] = []
    keyframes: list[JobRef] = []
    for cut in cuts:
        scene = scenes.get(cut.scene_index) or _TITLE_SCENE
        location = film.location(scene.location) if scene.location else None
        files = [cut.source.path] if cut.source is not None else []
        # the place's pictures, then those of each person in the shot: every shot of an asset
        # is conditioned by its refs
        people = [film.character(name) for name in cut.characters]
        refs = list(dict.fromkeys(
            ([r.path for r in location.refs] if location else [])
            + [r.path for person in people if person is not None for r in person.refs]))
        model_frame = cut.card is None and not is_draft(backends["keyframe"].name)
        if model_frame:
            files += refs          # a model looks at them; the draft storyboard does not
        # the draft storyboard writes the caption and the shot number on a shot's frame; a model
        # and a title card write neither, so neither joins their key (renumbering the shots
        # after an inserted scene renders none of their pictures again)
        writes_text = cut.card is None and not model_frame
        # the LoRAs of the trained place and people in the shot (their backend applies them)
        lora_inputs = [] if cut.card is not None else \
            [trained[asset] for asset in (("location", location.name if location else None),
                                          *(("character", name) for name in cut.characters))
             if asset in trained]
        if cut.continues:
            keyframe = _continued_keyframe(build, cut, previous_cut, previous_clip, width, height,
                                           settings.style,
                                           scene if writes_text else None)
        else:
            keyframe = build.add(JobRef("keyframe", cut.id), KeyframeParams(
                width=width, height=height,
                size=cut.size.value, setting=scene.setting, time=scene.time,
                place=scene.place, location=location.description if location else "",
                refs=tuple(refs),
                characters=tuple(cut.characters), speaker=cut.speaker,
                caption=_caption(cut) if writes_text else "", label=cut.label if writes_text else "",
                card=cut.card,
                prompt=cut.prompt, style=settings.style,
                source=cut.source.path if cut.source is not None else None,
                **_camera_params(cut),
            ), inputs=lora_inputs, files=files, seed=cut.seed, label=f"frame {cut.label} {cut.size.value}",
                span=cut.span, drawn=cut.card is not None)
        keyframes.append(keyframe.ref)
        inputs = [keyframe.ref]
        if cut.transition_in == "dissolve" and previous_clip is not None:
            inputs.append(previous_clip.ref)
        if lip_sync and cut.card is None and not _is_video(cut):
            # a lip-syncing clip model hears the lines said in frame (their timing: the clip's)
            inputs += _spoken_in_frame(cut, speech_of[cut.id])
        clip = build.add(JobRef("clip", cut.id), ClipParams(
            width=width, height=height, fps=settings.fps,
            move=cut.move.kind.value, speed=cut.move.speed.value,
            duration=cut.duration, min_seconds=cut.min_seconds,
            transition_in=cut.transition_in, transition_out=cut.transition_out,
            # filmed footage: the clip reads the video itself (its keyframe only a still of it)
            source=cut.source.path if _is_video(cut) else None,
            continues=True if cut.continues else None,
        ), inputs=inputs, timing=speech_of[cut.id], files=files if _is_video(cut) else (),
            seed=cut.seed,
            label=f"shot {cut.label} {cut.size.value} {cut.move}", span=cut.span,
            drawn=cut.card is not None, profile_kind="footage" if _is_video(cut) else "clip")
        clips.append(clip.ref)
        previous_clip, previous_cut = clip, cut

    music: list[JobRef] = []
    sung = _sung_lines(film)
    for number, (cut, cue) in enumerate(((c, q) for c in cuts for q in c.cues), 1):
        if cue.theme is None:
            continue
        theme = film.theme(cue.theme)
        # A cue plays from its cut to the next cue or the end; the runtime resolves its length.
        job = build.add(music_ref(cut.id, number), MusicParams(
            theme=theme.name, description=theme.description, tempo=theme.tempo,
            fade_in=cue.fade_in, sample_rate=SAMPLE_RATE,
            source=theme.source.path if theme.source else None,
            lyrics="\n".join(sung[cue.span]) if sung.get(cue.span) else None,
        ), timing=tuple(i for ids in speech_of.values() for i in ids),
            files=[theme.source.path] if theme.source else [],
            seed=derive_seed(settings.seed, f"music:{theme.name}"),
            label=f"music {theme.name} from {cut.label}", span=cue.span)
        music.append(job.ref)

    effects: list[JobRef] = []
    for cut in cuts:
        for number, effect in enumerate(cut.sfx, 1):
            ref = sfx_ref(cut.id, number)
            job = build.add(ref, SfxParams(
                description=effect.description, duration=effect.duration,
                sample_rate=SAMPLE_RATE,
                source=effect.source.path if effect.source else None,
            ), files=[effect.source.path] if effect.source else [],
                seed=derive_seed(settings.seed, str(ref)),
                label=f"sfx {cut.label} {effect.description or effect.source.path}", span=effect.span)
            effects.append(job.ref)

    all_speech = tuple(i for ids in speech_of.values() for i in ids)
    mix = build.add(film_ref("mix"), MixParams(sample_rate=SAMPLE_RATE, loudness_lufs=-16.0),
                    inputs=all_speech + tuple(music) + tuple(effects), timing=all_speech,
                    label="mix dialogue, music and effects")
    subtitles = build.add(film_ref("subtitles"), SubtitlesParams(language=settings.language),
                          inputs=all_speech, timing=all_speech, label="subtitles")
    build.add(film_ref("mux"), MuxParams(width=width, height=height, fps=settings.fps,
                              title=settings.title, language=settings.language),
              inputs=tuple(clips) + (mix.ref, subtitles.ref), timing=all_speech,
              label="mux H.264 + AAC + subtitles")
    # what the timeline's clips say of their shot (an NLE shows it); the key covers it
    shots = [ShotInfo(cut=cut.id, label=cut.label, size=cut.size.value, move=str(cut.move),
              prompt=cut.prompt, line=cut.span.line) for cut in cuts]
    # the scene headings the timeline marks, at the first cut of each scene
    first_cuts: dict = {}
    for cut in cuts:
        if scenes.get(cut.scene_index) is not None and scenes[cut.scene_index].heading:
            first_cuts.setdefault(cut.scene_index, (cut.id, scenes[cut.scene_index].heading))
    build.add(film_ref("otio"), OtioParams(fps=settings.fps, title=settings.title, shots=tuple(shots),
                                           scenes=tuple(first_cuts.values())),
              inputs=tuple(clips) + (mix.ref,), timing=all_speech, label="OpenTimelineIO timeline")
    build.add(film_ref("contact_sheet"), ContactSheetParams(title=settings.title,
                                                         labels=tuple(cut.label for cut in cuts)),
              inputs=tuple(keyframes), timing=all_speech, label="storyboard contact sheet")

    estimated = sum(cut.estimated_seconds for cut in cuts)
    return RenderPlan(film, cuts, tuple(build.jobs), profile.name, estimated, dict(build.by_id),
                      profile, notes)


# Under every profile, a continuing shot's keyframe is the previous shot's last frame, as the
# draft storyboard lays it out (a model would repaint the frame the cut is meant to match).
CONTINUATION = Backend("draft.continuation", "continuation/1")


def _continued_keyframe(build: "_Builder", cut: Cut, previous_cut: Cut | None,
                        previous_clip: "Job | None", width: int, height: int, style: str,
                        written_on: ir.Scene | None) -> "Job":
    """The keyframe of a matching cut: the previous clip's last frame as its camera saw it
    (that clip job its input, so editing the previous shot renders this one again). Its key
    holds only what lays the frame out, the prompt the clip's model reads (editing this
    shot's action renders the clip again, not this frame) with the film's style it ends with
    (a CLIP window keeps it), and, where the draft writes them on
    the frame (``written_on``: the shot's scene), this shot's own caption, number and heading."""
    if previous_cut is None or previous_cut.scene_index != cut.scene_index:
        raise ValueError(f"shot {cut.label} continues, but no shot comes before it in its scene")
    scene = written_on
    return build.add(JobRef("keyframe", cut.id), KeyframeParams(
        width=width, height=height, size=cut.size.value,
        setting=scene.setting if scene else "", time=scene.time if scene else None,
        place=scene.place if scene else "", location="", refs=(), characters=(), speaker=None,
        caption=_caption(cut) if scene else "", label=cut.label if scene else "", card=None,
        prompt=cut.prompt, style=style, source=None,
        continues=True, move=cut.move.kind.value, speed=cut.move.speed.value,
        angle=cut.angle.value if cut.angle and scene else None,
    ), inputs=[previous_clip.ref], seed=cut.seed, label=f"frame {cut.label} continues",
        span=cut.span, backend=CONTINUATION)


def _train_jobs(build: "_Builder", film: ir.Film, profile: Profile) -> tuple[dict, tuple[str, ...]]:
    """A train job per `train:` asset, when the profile's keyframes come from a model:
    {(kind, name) → its job}. Under a profile that draws keyframes (draft), no job, and a note that
    says so (the shots still carry the trigger phrase, so their prompts do not change when a
    model profile trains)."""
    assets = [("location", a) for a in film.locations if a.train] + \
             [("character", a) for a in film.characters if a.train]
    if "train" not in build.backends:
        names = ", ".join(asset.name for _, asset in assets)
        return {}, ((f"not trained under the {profile.name} profile, which draws its keyframes "
                     f"without a model: {names} (`train:`); build with a profile that has a "
                     f"keyframe model (preview, final) to train and use them"),) if assets else ()
    trained = {}
    for kind, asset in assets:
        train = asset.train
        job = build.add(JobRef("train", f"{kind}/{asset.name}"), TrainParams(
            asset=asset.name, asset_kind=kind, description=asset.description,
            trigger=trigger_phrase(asset.name, kind), dataset=tuple(r.path for r in asset.refs),
            method=train.method,
            rank=train.rank or TRAIN_DEFAULTS["rank"], steps=train.steps or TRAIN_DEFAULTS["steps"],
            learning_rate=train.learning_rate or TRAIN_DEFAULTS["learning_rate"],
            resolution=train.resolution,
            seed=train.seed if train.seed is not None else TRAIN_DEFAULTS["seed"],
        ), files=train.dataset, label=f"train {train.method} {asset.name}", span=train.span)
        trained[(kind, asset.name)] = job.ref
    return trained, ()


def cache_folder(project: Path) -> Path:
    """Where a project's rendered jobs are cached: ``.moviola/cache`` beside its script."""
    return Path(project) / ".moviola" / "cache"


def _sung_lines(film: ir.Film) -> dict:
    """Each music cue's span → the lyric (``~``) lines sung while it plays: from the cue to the
    next cue, in script order."""
    sung: dict = {}
    playing = None
    for scene in film.scenes:
        for shot in scene.shots:
            for beat in shot.beats:
                if isinstance(beat, ir.MusicCue):
                    playing = beat.span if beat.theme is not None else None
                    sung.setdefault(playing, [])
                elif isinstance(beat, ir.Lyric) and playing is not None:
                    sung[playing].append(beat.text)
    return sung


def plan_in_project(film: ir.Film, project: Path | None, profile: str | None = None) -> RenderPlan:
    """The plan a build makes: ``profile`` (else the title page's) resolved once, from the
    built-ins and the project's moviola.toml; a broken file or an unknown name raises
    :class:`~compiler.profiles.ProfileError`."""
    return plan(film, resolve_profile(project, profile or film.settings.profile))


# the title card comes before any scene
_TITLE_SCENE = ir.Scene(0, "", None, None, "", None, None, (), None, Span(1, 1, 1, 1), 1)


def _camera_params(cut: Cut) -> dict:
    """The cut's camera language as keyframe parameters (only what the script wrote)."""
    return {"angle": cut.angle.value if cut.angle else None,
            "lens": cut.lens.kind.value if cut.lens else None,
            "focal_length": cut.lens.focal_length if cut.lens else None,
            "focus": cut.focus.value if cut.focus else None,
            "lighting": cut.lighting.value if cut.lighting else None}


# the framings close enough for a mouth to read: the only shots a clip model lip-syncs
LIP_SYNC_SIZES = frozenset({ir.ShotSize.MEDIUM, ir.ShotSize.MEDIUM_CLOSE_UP,
                            ir.ShotSize.CLOSE_UP, ir.ShotSize.EXTREME_CLOSE_UP})


def _spoken_in_frame(cut: Cut, speech: list[JobRef]) -> list[JobRef]:
    """The speech jobs of a close or medium shot's lines said on screen by someone in frame
    (not voice-over, not off screen); none for other framings."""
    if cut.size not in LIP_SYNC_SIZES:
        return []
    in_frame = {name.upper() for name in cut.characters}
    return [ref for line, ref in zip(cut.lines, speech)
            if not line.voice_over and not line.off_screen and line.character.upper() in in_frame]


def _caption(cut: Cut) -> str:
    if cut.description:
        return " ".join(cut.description.split())
    if cut.lines:
        line = cut.lines[0]
        return f"{line.character}: {' '.join(line.text.split())}"
    return ""


def _cut_json(cut: Cut) -> dict:
    return {
        "id": cut.id, "label": cut.label, "scene": cut.scene_index, "size": cut.size.value,
        "move": str(cut.move), "duration": cut.duration, "min_seconds": cut.min_seconds,
        "estimated_seconds": round(cut.estimated_seconds, 3), "characters": list(cut.characters),
        "speaker": cut.speaker, "lines": len(cut.lines), "transition_in": cut.transition_in,
        "transition_out": cut.transition_out, "explicit": cut.explicit, "prompt": cut.prompt,
        "line": cut.span.line,
        **{name: value for name, value in _camera_params(cut).items() if value is not None},
        **({"continues": True} if cut.continues else {}),
    }
