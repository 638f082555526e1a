"""The words annotations understand: shot sizes, camera moves, durations, transitions, times of
day. One table each, shared by the lowering pass, the docs and the language server's completion."""

from __future__ import annotations

import re

from .ir import Angle, CameraMove, Focus, Lens, LensKind, Lighting, Move, ShotSize, Speed

SHOT_SIZES: dict[str, ShotSize] = {
    "extreme wide": ShotSize.EXTREME_WIDE, "extreme wide shot": ShotSize.EXTREME_WIDE,
    "ews": ShotSize.EXTREME_WIDE, "xws": ShotSize.EXTREME_WIDE, "establishing": ShotSize.EXTREME_WIDE,
    "establishing shot": ShotSize.EXTREME_WIDE, "extreme long shot": ShotSize.EXTREME_WIDE,
    "extreme long": ShotSize.EXTREME_WIDE, "els": ShotSize.EXTREME_WIDE, "xls": ShotSize.EXTREME_WIDE,
    "wide": ShotSize.WIDE, "wide shot": ShotSize.WIDE, "ws": ShotSize.WIDE, "long": ShotSize.WIDE,
    "long shot": ShotSize.WIDE, "ls": ShotSize.WIDE,
    "full": ShotSize.FULL, "full shot": ShotSize.FULL, "fs": ShotSize.FULL,
    "medium wide": ShotSize.MEDIUM_WIDE, "mws": ShotSize.MEDIUM_WIDE, "cowboy": ShotSize.MEDIUM_WIDE,
    "medium wide shot": ShotSize.MEDIUM_WIDE, "medium long shot": ShotSize.MEDIUM_WIDE,
    "medium long": ShotSize.MEDIUM_WIDE, "mls": ShotSize.MEDIUM_WIDE, "cowboy shot": ShotSize.MEDIUM_WIDE,
    "medium": ShotSize.MEDIUM, "medium shot": ShotSize.MEDIUM, "ms": ShotSize.MEDIUM, "mid": ShotSize.MEDIUM,
    "medium close-up": ShotSize.MEDIUM_CLOSE_UP, "mcu": ShotSize.MEDIUM_CLOSE_UP,
    "close-up": ShotSize.CLOSE_UP, "cu": ShotSize.CLOSE_UP, "close": ShotSize.CLOSE_UP,
    "extreme close-up": ShotSize.EXTREME_CLOSE_UP, "ecu": ShotSize.EXTREME_CLOSE_UP,
    "xcu": ShotSize.EXTREME_CLOSE_UP,
    "insert": ShotSize.INSERT,
    "over the shoulder": ShotSize.OVER_THE_SHOULDER, "ots": ShotSize.OVER_THE_SHOULDER,
    "over the shoulder shot": ShotSize.OVER_THE_SHOULDER, "ots shot": ShotSize.OVER_THE_SHOULDER,
    "pov": ShotSize.POV, "point of view": ShotSize.POV,
    "aerial": ShotSize.AERIAL, "aerial shot": ShotSize.AERIAL,
    "two shot": ShotSize.TWO_SHOT, "two-shot": ShotSize.TWO_SHOT,
}

MOVES: dict[str, Move] = {
    "static": Move.STATIC, "locked": Move.STATIC, "locked off": Move.STATIC, "still": Move.STATIC,
    "push in": Move.PUSH_IN, "dolly in": Move.PUSH_IN, "push": Move.PUSH_IN,
    "pull out": Move.PULL_OUT, "dolly out": Move.PULL_OUT, "pull back": Move.PULL_OUT,
    "pan left": Move.PAN_LEFT, "pan right": Move.PAN_RIGHT, "pan": Move.PAN_RIGHT,
    "tilt up": Move.TILT_UP, "tilt down": Move.TILT_DOWN,
    "track left": Move.TRACK_LEFT, "track right": Move.TRACK_RIGHT,
    "truck left": Move.TRACK_LEFT, "truck right": Move.TRACK_RIGHT,
    "crane up": Move.CRANE_UP, "crane down": Move.CRANE_DOWN,
    "pedestal up": Move.CRANE_UP, "pedestal down": Move.CRANE_DOWN,
    "zoom in": Move.ZOOM_IN, "zoom out": Move.ZOOM_OUT,
    "handheld": Move.HANDHELD, "hand-held": Move.HANDHELD,
    "orbit": Move.ORBIT, "arc": Move.ORBIT,
    # a camera that travels with the subject: drawn as the track (the crop window travels)
    "track": Move.TRACK_RIGHT, "tracking": Move.TRACK_RIGHT, "tracking shot": Move.TRACK_RIGHT,
    "tracking left": Move.TRACK_LEFT, "tracking right": Move.TRACK_RIGHT,
    "follow": Move.TRACK_RIGHT, "following": Move.TRACK_RIGHT, "follow shot": Move.TRACK_RIGHT,
    "steadicam": Move.TRACK_RIGHT, "dolly": Move.TRACK_RIGHT,
    "dolly left": Move.TRACK_LEFT, "dolly right": Move.TRACK_RIGHT,
    "whip pan": Move.WHIP_PAN_RIGHT, "whip pan left": Move.WHIP_PAN_LEFT,
    "whip pan right": Move.WHIP_PAN_RIGHT, "swish pan": Move.WHIP_PAN_RIGHT,
    "drone": Move.DRONE, "drone shot": Move.DRONE, "flyover": Move.DRONE, "fly over": Move.DRONE,
}

ANGLES: dict[str, Angle] = {
    "eye level": Angle.EYE_LEVEL, "eye level shot": Angle.EYE_LEVEL, "eye line": Angle.EYE_LEVEL,
    "low angle": Angle.LOW, "low angle shot": Angle.LOW, "low": Angle.LOW, "looking up": Angle.LOW,
    "high angle": Angle.HIGH, "high angle shot": Angle.HIGH, "high": Angle.HIGH,
    "looking down": Angle.HIGH,
    "dutch angle": Angle.DUTCH, "dutch": Angle.DUTCH, "dutch tilt": Angle.DUTCH,
    "canted": Angle.DUTCH, "canted angle": Angle.DUTCH, "oblique angle": Angle.DUTCH,
    "overhead": Angle.OVERHEAD, "overhead shot": Angle.OVERHEAD, "top shot": Angle.OVERHEAD,
    "top down": Angle.OVERHEAD, "bird's eye": Angle.OVERHEAD, "bird's eye view": Angle.OVERHEAD,
    "birds eye": Angle.OVERHEAD, "god's eye": Angle.OVERHEAD,
    "worm's eye": Angle.WORMS_EYE, "worm's eye view": Angle.WORMS_EYE, "worms eye": Angle.WORMS_EYE,
    "ground level": Angle.WORMS_EYE,
}

LENSES: dict[str, LensKind] = {
    "fisheye": LensKind.FISHEYE, "fish eye": LensKind.FISHEYE, "fisheye lens": LensKind.FISHEYE,
    "wide lens": LensKind.WIDE, "wide angle": LensKind.WIDE, "wide angle lens": LensKind.WIDE,
    "short lens": LensKind.WIDE,
    "normal lens": LensKind.NORMAL, "standard lens": LensKind.NORMAL,
    "telephoto": LensKind.TELEPHOTO, "telephoto lens": LensKind.TELEPHOTO,
    "long lens": LensKind.TELEPHOTO, "tele": LensKind.TELEPHOTO,
    "macro": LensKind.MACRO, "macro lens": LensKind.MACRO,
}

FOCUS: dict[str, Focus] = {
    "shallow focus": Focus.SHALLOW, "shallow depth of field": Focus.SHALLOW,
    "shallow dof": Focus.SHALLOW, "shallow": Focus.SHALLOW, "bokeh": Focus.SHALLOW,
    "deep focus": Focus.DEEP, "deep depth of field": Focus.DEEP, "deep dof": Focus.DEEP,
    "rack focus": Focus.RACK, "focus pull": Focus.RACK, "pull focus": Focus.RACK,
    "rack": Focus.RACK, "soft focus": Focus.SOFT,
}

LIGHTING: dict[str, Lighting] = {
    "low key": Lighting.LOW_KEY, "low key lighting": Lighting.LOW_KEY, "chiaroscuro": Lighting.LOW_KEY,
    "noir": Lighting.LOW_KEY,
    "high key": Lighting.HIGH_KEY, "high key lighting": Lighting.HIGH_KEY,
    "silhouette": Lighting.SILHOUETTE, "silhouetted": Lighting.SILHOUETTE,
    "backlit": Lighting.BACKLIT, "backlight": Lighting.BACKLIT, "back lit": Lighting.BACKLIT,
    "rim light": Lighting.BACKLIT,
    "natural light": Lighting.NATURAL, "available light": Lighting.NATURAL,
    "hard light": Lighting.HARD, "soft light": Lighting.SOFT,
}

# Focal lengths (full-frame equivalent) a lens term may give, and where each kind starts.
FOCAL_RANGE = (4, 1200)
_FOCAL = re.compile(r"(\d{1,4})\s*mm(?: lens)?")

SPEEDS = {"slow": Speed.SLOW, "slowly": Speed.SLOW, "gentle": Speed.SLOW,
          "fast": Speed.FAST, "quick": Speed.FAST, "rapid": Speed.FAST}

TIMES_OF_DAY = ("DAY", "NIGHT", "DAWN", "DUSK", "MORNING", "AFTERNOON", "EVENING", "SUNRISE",
                "SUNSET", "LATER", "CONTINUOUS", "MOMENTS LATER", "SAME", "MIDNIGHT", "NOON")

SETTINGS_PREFIXES = ("INT.", "EXT.", "INT./EXT.", "EXT./INT.", "I/E.", "EST.")

# Fountain transition text → the cut the editor makes.
TRANSITIONS = (
    (re.compile(r"\bDISSOLVE\b|\bCROSS[- ]?FADE\b|\bMIX\b"), "dissolve"),
    (re.compile(r"\bFADE (OUT|TO BLACK)\b|\bFADE TO\b"), "fade_out"),
    (re.compile(r"\bFADE IN\b"), "fade_in"),
    (re.compile(r"\bCUT TO BLACK\b|\bSMASH TO BLACK\b"), "cut_to_black"),
    (re.compile(r"\bSMASH CUT\b"), "smash_cut"),
    (re.compile(r"\bMATCH CUT\b"), "match_cut"),
    (re.compile(r"\bWIPE\b"), "wipe"),
)

# Delivery hints (parentheticals, `voice:` directives) that every voice backend understands.
DELIVERY = {
    "whisper": frozenset("whisper whispers whispered whispering softly quietly hushed murmur "
                         "murmurs murmuring murmured sotto".split()),
    "shout": frozenset("shout shouts shouting shouted yell yells yelling yelled angrily angry "
                       "furious furiously scream screams screaming loudly loud".split()),
    "slow": frozenset("slow slowly hesitant hesitantly deliberately haltingly".split()),
    "fast": frozenset("fast quickly quick hurried hurriedly rushed rapidly breathless".split()),
    "sad": frozenset("sad sadly tired wearily weary exhausted mournful mournfully tearful "
                     "tearfully grieving".split()),
    "happy": frozenset("happy happily excited excitedly cheerful cheerfully joyful joyfully "
                       "delighted laughing".split()),
}

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv", ".avi")

_SECONDS = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(s|sec|secs|second|seconds)?", re.IGNORECASE)
_CLOCK = re.compile(r"(\d+):([0-5]\d(?:\.\d+)?)")
_LOOKS_LIKE_DURATION = re.compile(r"[\d.]+\s*[a-z]*$|\d+:\d+", re.IGNORECASE)
MAX_DURATION = 600.0


def normalize_term(text: str) -> str:
    """Lower case, single spaces, "close up"/"closeup" spelled "close-up"."""
    term = " ".join(text.lower().replace("_", " ").split())
    term = re.sub(r"\bclose ?up\b", "close-up", term)
    return term


def looks_like_duration(text: str) -> bool:
    return bool(_LOOKS_LIKE_DURATION.fullmatch(text.strip()))


def parse_duration(text: str) -> float | None:
    """Seconds in ``6s``, ``2.5 sec``, ``6 seconds``, ``1:30``; None if not a duration or out of
    range (0 < d ≤ 10 minutes)."""
    text = text.strip()
    match = _SECONDS.fullmatch(text)
    if match:
        seconds = float(match.group(1))
    else:
        match = _CLOCK.fullmatch(text)
        if not match:
            return None
        seconds = int(match.group(1)) * 60 + float(match.group(2))
    if not 0 < seconds <= MAX_DURATION:
        return None
    return seconds


def parse_move(term: str) -> tuple[Move, Speed] | None:
    words = term.split(" ", 1)
    speed = Speed.NORMAL
    if len(words) == 2 and words[0] in SPEEDS:
        speed = SPEEDS[words[0]]
        term = words[1]
    move = MOVES.get(term)
    return (move, speed) if move else None


def _lookup(table: dict, word: str):
    """``word``'s entry, with hyphens read as spaces (``low-angle``, ``over-the-shoulder``)."""
    found = table.get(word)
    return found if found is not None else table.get(word.replace("-", " "))


def lens_of_focal(millimetres: int) -> Lens:
    kind = (LensKind.FISHEYE if millimetres < 12 else LensKind.WIDE if millimetres < 40
            else LensKind.NORMAL if millimetres <= 70 else LensKind.TELEPHOTO)
    return Lens(kind, millimetres)


def focal_length(word: str) -> int | None:
    """The millimetres of ``35mm``, ``85 mm lens``; None when ``word`` names no focal length."""
    match = _FOCAL.fullmatch(word)
    return int(match.group(1)) if match else None


# A shot term's facet: the ShotDraft/Shot attribute it sets.
FACETS = ("size", "move", "angle", "lens", "focus", "lighting")


def shot_term(word: str) -> tuple[str, object] | None:
    """A normalized shot term → (facet, IR value), or None when no table knows it. Focal lengths
    out of :data:`FOCAL_RANGE` are the caller's to report (``focal_length``)."""
    millimetres = focal_length(word)
    if millimetres is not None:
        low, high = FOCAL_RANGE
        return ("lens", lens_of_focal(millimetres)) if low <= millimetres <= high else None
    for facet, table in (("size", SHOT_SIZES), ("angle", ANGLES), ("focus", FOCUS),
                         ("lighting", LIGHTING)):
        found = _lookup(table, word)
        if found is not None:
            return facet, found
    kind = _lookup(LENSES, word)
    if kind is not None:
        return "lens", Lens(kind)
    move = parse_move(word) or parse_move(word.replace("-", " "))
    return ("move", CameraMove(*move)) if move else None


def transition_kind(text: str) -> str:
    upper = text.upper()
    for pattern, kind in TRANSITIONS:
        if pattern.search(upper):
            return kind
    return "cut"


CAMERA_TABLES = {"angle": ANGLES, "lens": LENSES, "focus": FOCUS, "lighting": LIGHTING}
FOCAL_EXAMPLES = ("24mm", "35mm", "50mm", "85mm", "135mm")
# A matching cut: the shot's picture starts from the previous shot's last frame
# (`[[shot: close-up, continues]]`, docs/language.md). The first word is the one completion offers.
CONTINUES = ("continues", "continued", "continuous", "from previous")


def camera_terms() -> dict[str, tuple[str, ...]]:
    """The canonical spelling of each angle, lens, focus and lighting term: what completion
    offers first (every one of them reads back as its value)."""
    return {"angle": tuple(angle.value for angle in Angle),
            "lens": FOCAL_EXAMPLES + tuple(f"{kind.value} lens" for kind in LensKind),
            "focus": tuple(focus.value for focus in Focus),
            "lighting": tuple(light.value for light in Lighting)}


def all_shot_terms() -> list[str]:
    camera = {term for table in CAMERA_TABLES.values() for term in table}
    return sorted(set(SHOT_SIZES) | set(MOVES) | camera | set(FOCAL_EXAMPLES) | set(CONTINUES)
                  | {f"{s} {m}" for s in ("slow", "fast") for m in MOVES})
