"""The words annotations understand: shot sizes, camera moves, durations, transitions, times of
day. One table each, shared by the lowering pass, the docs and the language server's completion."""

from __future__ import annotations

import re

from .ir import Move, ShotSize, Speed

SHOT_SIZES: dict[str, ShotSize] = {
    "extreme wide": ShotSize.EXTREME_WIDE, "extreme wide shot": ShotSize.EXTREME_WIDE,
    "ews": ShotSize.EXTREME_WIDE, "xws": ShotSize.EXTREME_WIDE, "establishing": ShotSize.EXTREME_WIDE,
    "wide": ShotSize.WIDE, "wide shot": ShotSize.WIDE, "ws": ShotSize.WIDE, "long": ShotSize.WIDE,
    "long shot": ShotSize.WIDE, "ls": ShotSize.WIDE,
    "full": ShotSize.FULL, "full shot": ShotSize.FULL, "fs": ShotSize.FULL,
    "medium wide": ShotSize.MEDIUM_WIDE, "mws": ShotSize.MEDIUM_WIDE, "cowboy": ShotSize.MEDIUM_WIDE,
    "medium": ShotSize.MEDIUM, "medium shot": ShotSize.MEDIUM, "ms": ShotSize.MEDIUM, "mid": ShotSize.MEDIUM,
    "medium close-up": ShotSize.MEDIUM_CLOSE_UP, "mcu": ShotSize.MEDIUM_CLOSE_UP,
    "close-up": ShotSize.CLOSE_UP, "cu": ShotSize.CLOSE_UP, "close": ShotSize.CLOSE_UP,
    "extreme close-up": ShotSize.EXTREME_CLOSE_UP, "ecu": ShotSize.EXTREME_CLOSE_UP,
    "xcu": ShotSize.EXTREME_CLOSE_UP,
    "insert": ShotSize.INSERT,
    "over the shoulder": ShotSize.OVER_THE_SHOULDER, "ots": ShotSize.OVER_THE_SHOULDER,
    "pov": ShotSize.POV, "point of view": ShotSize.POV,
    "aerial": ShotSize.AERIAL, "bird's eye": ShotSize.AERIAL,
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
}

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


def transition_kind(text: str) -> str:
    upper = text.upper()
    for pattern, kind in TRANSITIONS:
        if pattern.search(upper):
            return kind
    return "cut"


def all_shot_terms() -> list[str]:
    return sorted(set(SHOT_SIZES) | set(MOVES) | {f"{s} {m}" for s in ("slow", "fast") for m in MOVES})
