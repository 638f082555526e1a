"""The IR: a typed, immutable description of the film, with a source span on every node.

It is what the checker reads, the planner plans from, and the language server answers from.
``dump`` gives a stable JSON form for golden tests and ``moviola parse --ir``.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Union

from .source import Span


class ShotSize(str, enum.Enum):
    EXTREME_WIDE = "extreme wide"
    WIDE = "wide"
    FULL = "full"
    MEDIUM_WIDE = "medium wide"
    MEDIUM = "medium"
    MEDIUM_CLOSE_UP = "medium close-up"
    CLOSE_UP = "close-up"
    EXTREME_CLOSE_UP = "extreme close-up"
    INSERT = "insert"
    OVER_THE_SHOULDER = "over the shoulder"
    POV = "pov"
    AERIAL = "aerial"
    TWO_SHOT = "two shot"


class Move(str, enum.Enum):
    STATIC = "static"
    PUSH_IN = "push in"
    PULL_OUT = "pull out"
    PAN_LEFT = "pan left"
    PAN_RIGHT = "pan right"
    TILT_UP = "tilt up"
    TILT_DOWN = "tilt down"
    TRACK_LEFT = "track left"
    TRACK_RIGHT = "track right"
    CRANE_UP = "crane up"
    CRANE_DOWN = "crane down"
    ZOOM_IN = "zoom in"
    ZOOM_OUT = "zoom out"
    HANDHELD = "handheld"
    ORBIT = "orbit"
    WHIP_PAN_LEFT = "whip pan left"
    WHIP_PAN_RIGHT = "whip pan right"
    DRONE = "drone"                 # an aerial move: flying forward while rising


class Angle(str, enum.Enum):
    """Where the camera looks from (none written: eye level, left out of prompts)."""

    EYE_LEVEL = "eye level"
    LOW = "low angle"
    HIGH = "high angle"
    DUTCH = "dutch angle"
    OVERHEAD = "overhead"
    WORMS_EYE = "worm's-eye"


class LensKind(str, enum.Enum):
    FISHEYE = "fisheye"
    WIDE = "wide-angle"
    NORMAL = "normal"
    TELEPHOTO = "telephoto"
    MACRO = "macro"


@dataclass(frozen=True, slots=True)
class Lens:
    """A lens by kind, and by focal length when the script gives one (``35mm``: wide-angle)."""

    kind: LensKind
    focal_length: int | None = None     # millimetres, full-frame equivalent

    def __str__(self) -> str:
        return f"{self.focal_length}mm" if self.focal_length else self.kind.value


class Focus(str, enum.Enum):
    SHALLOW = "shallow focus"
    DEEP = "deep focus"
    RACK = "rack focus"
    SOFT = "soft focus"


class Lighting(str, enum.Enum):
    LOW_KEY = "low-key"
    HIGH_KEY = "high-key"
    SILHOUETTE = "silhouette"
    BACKLIT = "backlit"
    NATURAL = "natural light"
    HARD = "hard light"
    SOFT = "soft light"


class Speed(str, enum.Enum):
    SLOW = "slow"
    NORMAL = "normal"
    FAST = "fast"


@dataclass(frozen=True, slots=True)
class CameraMove:
    kind: Move
    speed: Speed = Speed.NORMAL

    def __str__(self) -> str:
        return self.kind.value if self.speed is Speed.NORMAL else f"{self.speed.value} {self.kind.value}"


@dataclass(frozen=True, slots=True)
class ProjectPath:
    """A file or folder inside the project, as written and as resolved (POSIX, relative to the
    project folder). Resolved paths are checked to stay inside the project; never absolute."""

    written: str
    path: str
    span: Span


@dataclass(frozen=True, slots=True)
class Settings:
    """Title-page settings with their defaults (docs/language.md, "Title page")."""

    title: str = ""
    credit: str = ""
    author: str = ""
    resolution: tuple[int, int] = (1280, 720)
    fps: float = 24.0
    style: str = ""
    seed: int = 0
    language: str = "en"
    profile: str = "draft"


@dataclass(frozen=True, slots=True)
class Training:
    """A declaration's `train:`: a LoRA of the keyframe model, trained on its `refs:`.
    None fields take the trainer's defaults (runtime/training, TrainSettings)."""

    method: str                      # "lora"
    rank: int | None
    steps: int | None
    learning_rate: float | None
    resolution: int | None
    seed: int | None
    dataset: tuple[str, ...]         # every picture of the refs and its caption sidecar, sorted
    span: Span


@dataclass(frozen=True, slots=True)
class Location:
    name: str
    description: str
    refs: tuple[ProjectPath, ...]
    lora: ProjectPath | None
    span: Span
    name_span: Span
    train: Training | None = None
    seed: int | None = None          # `seed:`: its shots' seed base (docs/language.md)


@dataclass(frozen=True, slots=True)
class Character:
    name: str
    description: str
    voice: ProjectPath | None
    refs: tuple[ProjectPath, ...]
    lora: ProjectPath | None
    span: Span
    name_span: Span
    train: Training | None = None
    seed: int | None = None          # `seed:`: its shots' seed base (docs/language.md)


@dataclass(frozen=True, slots=True)
class Theme:
    name: str
    description: str
    tempo: float | None
    source: ProjectPath | None
    span: Span
    name_span: Span


# --- beats: what happens inside a shot, in order ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    text: str           # plain text, line breaks kept
    span: Span


@dataclass(frozen=True, slots=True)
class Line:
    """One speech: a cue's dialogue up to the next parenthetical or the end of the block."""

    character: str                  # the cue's name, as bound (declared spelling if declared)
    text: str                       # plain text, line breaks kept
    delivery: tuple[str, ...]       # parentheticals and voice: hints, e.g. ("whispering",)
    extensions: tuple[str, ...]     # ("V.O.",) …
    voice_over: bool
    off_screen: bool
    dual: bool
    performance: ProjectPath | None  # voice: from: a recording to convert into the voice
    span: Span
    cue_span: Span


@dataclass(frozen=True, slots=True)
class Lyric:
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Card:
    """Centered text: a title card."""

    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class MusicCue:
    theme: str | None               # None: stop the music
    fade_in: float
    fade_out: float
    volume: float
    span: Span


@dataclass(frozen=True, slots=True)
class SoundEffect:
    description: str
    duration: float | None
    source: ProjectPath | None
    volume: float
    span: Span


Beat = Union[Action, Line, Lyric, Card, MusicCue, SoundEffect]


@dataclass(frozen=True, slots=True)
class Shot:
    """A shot. ``explicit`` shots come from a ``shot:`` directive; the others hold what a scene
    has before its first directive (or the whole scene) and are broken down by the planner."""

    explicit: bool
    size: ShotSize | None
    move: CameraMove | None
    duration: float | None
    source: ProjectPath | None      # from: image or video
    seed: int | None
    beats: tuple[Beat, ...]
    span: Span                      # the directive, or the first beat
    angle: Angle | None = None
    lens: Lens | None = None
    focus: Focus | None = None
    lighting: Lighting | None = None
    continues: Span | None = None   # `continues`: starts from the previous shot's last frame

    @property
    def lines(self) -> tuple[Line, ...]:
        return tuple(b for b in self.beats if isinstance(b, Line))

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(b for b in self.beats if isinstance(b, Action))


@dataclass(frozen=True, slots=True)
class Transition:
    kind: str                       # cut, dissolve, fade_out, fade_in, wipe, smash_cut, match_cut, cut_to_black
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Scene:
    index: int                      # 1-based order in the film
    heading: str                    # as written ("" for what comes before the first heading)
    scene_number: str | None        # "#1A#" → "1A"
    setting: str | None             # INT, EXT, INT/EXT, EST
    place: str                      # "WASH-HOUSE"
    time: str | None                # "DAWN"
    location: str | None            # bound declared location
    shots: tuple[Shot, ...]
    transition: Transition | None   # the transition written after the scene
    span: Span                      # the heading line (or the first beat)
    end_line: int                   # last source line of the scene


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    depth: int
    synopsis: str
    span: Span


@dataclass(frozen=True, slots=True)
class Reference:
    """A place where a character, location or theme is named, for the language server's
    definition, references, rename and hover."""

    kind: str           # character, location, theme
    key: str            # the name, case-folded, single spaces: what declarations match on
    text: str           # as written here
    span: Span
    role: str           # declaration, cue, heading, music, mention


@dataclass(frozen=True, slots=True)
class Film:
    path: str
    settings: Settings
    locations: tuple[Location, ...]
    characters: tuple[Character, ...]
    themes: tuple[Theme, ...]
    scenes: tuple[Scene, ...]
    sections: tuple[Section, ...]
    opening: Transition | None = None
    title_span: Span = Span(1, 1, 1, 1)     # the title page's Title field, for the title card
    setting_spans: dict = field(default_factory=dict, compare=False, hash=False)
    # where names are written (not mentions in action: compiler.references.mentions finds those)
    references: tuple[Reference, ...] = field(default=(), compare=False, hash=False)

    def location(self, name: str) -> Location | None:
        return _find(self.locations, name)

    def character(self, name: str) -> Character | None:
        return _find(self.characters, name)

    def theme(self, name: str) -> Theme | None:
        return _find(self.themes, name)

    @property
    def shots(self) -> tuple[Shot, ...]:
        return tuple(shot for scene in self.scenes for shot in scene.shots)


def _find(items, name: str):
    folded = name.casefold()
    for item in items:
        if item.name.casefold() == folded:
            return item
    return None


def written_camera(node: "Shot | object") -> tuple[str, ...]:
    """A shot's (or a cut's) written angle, lens, focus and lighting, in the words the outline
    and the editor show: ("low angle", "35mm lens", "shallow focus", "low-key")."""
    words = []
    if node.angle is not None:
        words.append(node.angle.value)
    if node.lens is not None:
        words.append(f"{node.lens} lens")
    for value in (node.focus, node.lighting):
        if value is not None:
            words.append(value.value)
    return tuple(words)


def dump(node) -> object:
    """A JSON-ready, stable form of any IR node (enums by value, spans as lists, types named)."""
    if isinstance(node, Span):
        return node.to_json()
    if isinstance(node, enum.Enum):
        return node.value
    if isinstance(node, (CameraMove, Lens)):
        return str(node)
    if dataclasses.is_dataclass(node):
        out = {"type": type(node).__name__}
        for f in dataclasses.fields(node):
            if f.name in ("setting_spans", "references"):
                continue
            out[f.name] = dump(getattr(node, f.name))
        return out
    if isinstance(node, (tuple, list)):
        return [dump(item) for item in node]
    if isinstance(node, dict):
        return {str(k): dump(v) for k, v in node.items()}
    return node
