"""The render plan: a DAG of jobs, each keyed by a content hash of what changes its output.

A job's ``key`` here covers everything the compiler knows: kind, backend and model identity,
parameters, seed and the keys of the jobs it reads. Two things only the runtime knows are added
when it runs the plan (see runtime/keys.py): the bytes of project files a job reads, and timing
resolved from rendered speech (a clip's frame count). Keys are sha256 of canonical JSON, never
mtimes.

Job kinds: speech (one per line of dialogue), keyframe and clip (one each per cut), music (one per
cue), sfx, mix (all audio), subtitles, mux (the mp4), and the exports (otio, contact sheet).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from . import ir
from .decoupage import Cut, decoupage, derive_seed
from .profiles import Profile, builtin_profiles, is_draft
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
    return out


@dataclass(frozen=True, slots=True)
class Job:
    id: str                          # stable identity, e.g. "clip:ext-wash-house-dawn~1/2"
    kind: str
    backend: str
    model: str
    params: dict                     # JSON values only; treat as read-only
    inputs: tuple[str, ...]          # jobs whose output this job reads
    timing: tuple[str, ...]          # speech jobs whose lengths fix this job's timing
    files: tuple[str, ...]           # project files whose bytes this job reads
    seed: int
    key: str
    label: str                       # for people: "shot 3.2 close-up MARIE"
    span: Span | None                # the source line to blame when it fails
    # The profile entry that renders it: its kind, except for the writer's own material: a
    # line recorded as a take ("speech" under "performance") and a shot from a video ("clip"
    # under "footage").
    profile_kind: str

    def to_json(self) -> dict:
        out = {"id": self.id, "kind": self.kind, "backend": self.backend, "model": self.model,
               "key": self.key, "seed": self.seed, "inputs": list(self.inputs),
               "timing": list(self.timing), "files": list(self.files), "label": self.label,
               "params": self.params}
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
    by_id: dict = field(default_factory=dict, compare=False, hash=False)
    config: Profile | None = field(default=None, compare=False, hash=False)

    def job(self, job_id: str) -> Job:
        return self.by_id[job_id]

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
        self.by_id: dict[str, Job] = {}

    def add(self, kind: str, identity: str, params: dict, *, inputs=(), timing=(), files=(),
            seed: int = 0, label: str = "", span: Span | None = None, drawn: bool = False,
            profile_kind: str | None = None) -> Job:
        # drawn: title cards are typeset by the storyboard renderer under every profile
        profile_kind = profile_kind or kind
        backend = DRAFT[kind] if drawn else self.backends[profile_kind]
        job_id = f"{kind}:{identity}"
        if profile_kind in self.model_params and not drawn:
            # generation settings change the output: they belong to the key
            params = {**params, "model": self.model_params[profile_kind]}
        key = content_key({
            "format": PLAN_FORMAT, "kind": kind, "backend": backend.name, "model": backend.model,
            **({"profile_kind": profile_kind} if profile_kind != kind else {}),
            "params": params, "seed": seed, "files": sorted(files),
            "inputs": [self.by_id[i].key for i in inputs],
        })
        job = Job(job_id, kind, backend.name, backend.model, params, tuple(inputs), tuple(timing),
                  tuple(files), seed, key, label, span, profile_kind)
        self.jobs.append(job)
        self.by_id[job_id] = job
        return job


def _is_video(cut: Cut) -> bool:
    """A shot made from filmed footage (`from:` a video) renders under the profile's footage."""
    return cut.source is not None and cut.source.path.lower().endswith(VIDEO_EXTENSIONS)


def plan(film: ir.Film, profile: Profile | str | None = None) -> RenderPlan:
    """Plan the render of a checked film under a profile (a :class:`Profile`, a built-in
    profile's name, or None for the title page's). Pure: reads no files, imports nothing heavy."""
    if not isinstance(profile, Profile):
        builtin = builtin_profiles()
        profile = builtin.get(profile or film.settings.profile, builtin["draft"])
    configs = profile.models
    backends = backends_for(profile)
    model_params = {kind: configs[kind].identity() for kind in configs
                    if not is_draft(configs[kind].backend)}
    settings = film.settings
    width, height = settings.resolution
    cuts = decoupage(film)
    build = _Builder(backends, model_params)
    cast = {c.name: (index, c) for index, c in enumerate(film.characters)}
    extra_index = len(cast)

    speech_of: dict[str, list[str]] = {}
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
            identity = f"{cut.id}/{number}"
            job = build.add("speech", identity, {
                "text": line.text,
                "character": line.character,
                "description": character.description if character else "",
                "character_index": index,
                "delivery": list(line.delivery),
                "language": settings.language,
                "voice_sample": character.voice.path if character and character.voice else None,
                "performance": line.performance.path if line.performance else None,
            }, files=files, seed=derive_seed(settings.seed, f"speech:{identity}"),
                label=f"line {cut.label}.{number} {line.character}", span=line.span,
                profile_kind="performance" if line.performance is not None else "speech")
            ids.append(job.id)
        speech_of[cut.id] = ids

    scenes = {scene.index: scene for scene in film.scenes}
    previous_clip: Job | None = None
    clips: list[str] = []
    keyframes: list[str] = []
    for cut in cuts:
        scene = scenes.get(cut.scene_index) or _TITLE_SCENE
        location = film.location(scene.location) if scene.location else None
        files = [cut.source.path] if cut.source is not None else []
        keyframe = build.add("keyframe", cut.id, {
            "width": width, "height": height,
            "size": cut.size.value, "setting": scene.setting, "time": scene.time,
            "place": scene.place, "location": location.description if location else "",
            "refs": [r.path for r in location.refs] if location else [],
            "characters": list(cut.characters), "speaker": cut.speaker,
            "caption": _caption(cut), "label": cut.label, "card": cut.card,
            "prompt": cut.prompt, "style": settings.style,
            "source": cut.source.path if cut.source is not None else None,
        }, files=files, seed=cut.seed, label=f"frame {cut.label} {cut.size.value}", span=cut.span,
            drawn=cut.card is not None)
        keyframes.append(keyframe.id)
        inputs = [keyframe.id]
        if cut.transition_in == "dissolve" and previous_clip is not None:
            inputs.append(previous_clip.id)
        clip = build.add("clip", cut.id, {
            "width": width, "height": height, "fps": settings.fps,
            "move": cut.move.kind.value, "speed": cut.move.speed.value,
            "duration": cut.duration, "min_seconds": cut.min_seconds,
            "transition_in": cut.transition_in, "transition_out": cut.transition_out,
        }, inputs=inputs, timing=speech_of[cut.id], seed=cut.seed,
            label=f"shot {cut.label} {cut.size.value} {cut.move}", span=cut.span,
            drawn=cut.card is not None, profile_kind="footage" if _is_video(cut) else "clip")
        clips.append(clip.id)
        previous_clip = clip

    music: list[str] = []
    for number, (cut, cue) in enumerate(((c, q) for c in cuts for q in c.cues), 1):
        if cue.theme is None:
            continue
        theme = film.theme(cue.theme)
        # A cue plays from its cut to the next cue or the end; the runtime resolves its length.
        job = build.add("music", f"{cut.id}/{number}", {
            "theme": theme.name, "description": theme.description, "tempo": theme.tempo,
            "fade_in": cue.fade_in, "sample_rate": SAMPLE_RATE,
            "source": theme.source.path if theme.source else None,
        }, timing=tuple(i for ids in speech_of.values() for i in ids),
            files=[theme.source.path] if theme.source else [],
            seed=derive_seed(settings.seed, f"music:{theme.name}"),
            label=f"music {theme.name} from {cut.label}", span=cue.span)
        music.append(job.id)

    effects: list[str] = []
    for cut in cuts:
        for number, effect in enumerate(cut.sfx, 1):
            identity = f"{cut.id}/{number}"
            job = build.add("sfx", identity, {
                "description": effect.description, "duration": effect.duration,
                "sample_rate": SAMPLE_RATE,
                "source": effect.source.path if effect.source else None,
            }, files=[effect.source.path] if effect.source else [],
                seed=derive_seed(settings.seed, f"sfx:{identity}"),
                label=f"sfx {cut.label} {effect.description or effect.source.path}", span=effect.span)
            effects.append(job.id)

    all_speech = tuple(i for ids in speech_of.values() for i in ids)
    mix = build.add("mix", "film", {"sample_rate": SAMPLE_RATE, "loudness_lufs": -16.0},
                    inputs=all_speech + tuple(music) + tuple(effects), timing=all_speech,
                    label="mix dialogue, music and effects")
    subtitles = build.add("subtitles", "film", {"language": settings.language},
                          inputs=all_speech, timing=all_speech, label="subtitles")
    build.add("mux", "film", {"width": width, "height": height, "fps": settings.fps,
                              "title": settings.title, "language": settings.language},
              inputs=tuple(clips) + (mix.id, subtitles.id), timing=all_speech,
              label="mux H.264 + AAC + subtitles")
    # the scene headings the timeline marks, at the first cut of each scene
    first_cuts = {}
    for cut in cuts:
        if scenes.get(cut.scene_index) is not None and scenes[cut.scene_index].heading:
            first_cuts.setdefault(cut.scene_index, (cut.id, scenes[cut.scene_index].heading))
    build.add("otio", "film", {"fps": settings.fps, "title": settings.title,
                               "scenes": [list(pair) for pair in first_cuts.values()]},
              inputs=tuple(clips) + (mix.id,), timing=all_speech, label="OpenTimelineIO timeline")
    build.add("contact_sheet", "film", {"title": settings.title},
              inputs=tuple(keyframes), timing=all_speech, label="storyboard contact sheet")

    estimated = sum(cut.estimated_seconds for cut in cuts)
    return RenderPlan(film, cuts, tuple(build.jobs), profile.name, estimated, dict(build.by_id),
                      profile)


# the title card comes before any scene
_TITLE_SCENE = ir.Scene(0, "", None, None, "", None, None, (), None, Span(1, 1, 1, 1), 1)


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
    }
