"""Prompt assembly: what the image and video models are told about each shot.

The parts are ordered for the model (shot, subject, action, place, light, style), but when the
text encoder's budget is short they are shortened by priority, not cut off at the end by
accident: the shot (size, angle, move, then the written lens, focus and lighting) and the action
survive longest, character and location descriptions are shortened first.
"""

from __future__ import annotations

import re

from . import ir
from .cuts import Cut

# CLIP-style encoders see 77 tokens, two of them start/end markers.
DEFAULT_BUDGET = 75
_TOKEN = re.compile(r"\w+|[^\w\s]")

# What a model is told of the written camera language (a term's canonical value otherwise).
_ANGLE_WORDS = {ir.Angle.EYE_LEVEL: "eye level shot", ir.Angle.LOW: "low angle shot",
                ir.Angle.HIGH: "high angle shot", ir.Angle.DUTCH: "dutch angle",
                ir.Angle.OVERHEAD: "overhead shot, bird's-eye view",
                ir.Angle.WORMS_EYE: "worm's-eye view"}
_FOCUS_WORDS = {ir.Focus.SHALLOW: "shallow depth of field", ir.Focus.DEEP: "deep focus"}
_LIGHTING_WORDS = {ir.Lighting.LOW_KEY: "low-key lighting", ir.Lighting.HIGH_KEY: "high-key lighting",
                   ir.Lighting.SILHOUETTE: "silhouette"}

_LIGHT = {
    "DAWN": "dawn light, soft pink and blue sky", "SUNRISE": "sunrise, low golden light",
    "MORNING": "morning light", "DAY": "daylight", "AFTERNOON": "afternoon light",
    "DUSK": "dusk, warm orange light", "SUNSET": "sunset, warm orange light",
    "EVENING": "evening light", "NIGHT": "night, dark, lamp light", "MIDNIGHT": "night, dark",
}


CLASS_WORDS = {"location": "place", "character": "person"}


def trigger_phrase(name: str, kind: str = "location") -> str:
    """The words that call a trained asset (``train:``) into a prompt, and lead its training
    captions: its name in lower case and its class (``WASH-HOUSE`` → ``wash-house place``,
    ``ANA`` → ``ana person``)."""
    words = " ".join(name.split()).lower()
    return f"{words} {CLASS_WORDS.get(kind, kind)}".strip()


def count_tokens(text: str) -> int:
    """An estimate of a CLIP BPE token count: words and punctuation (BPE splits rare words
    further, so budgets keep a small margin)."""
    return len(_TOKEN.findall(text))


def _truncate(text: str, tokens: int) -> str:
    if tokens <= 0:
        return ""
    kept = []
    used = 0
    for word in text.split():
        cost = count_tokens(word)
        if used + cost > tokens:
            break
        kept.append(word)
        used += cost
    return " ".join(kept).rstrip(",;:")


def assemble(parts: list[tuple[int, str]], budget: int = DEFAULT_BUDGET) -> str:
    """Join ``(priority, text)`` parts in order with ", ", shortening the lowest-priority parts
    (higher number = lower priority) until the whole fits ``budget`` tokens."""
    texts = [text.strip() for _, text in parts]
    costs = [count_tokens(t) for t in texts]
    separators = max(len([t for t in texts if t]) - 1, 0)
    over = sum(costs) + separators - budget
    for index in sorted(range(len(parts)), key=lambda i: -parts[i][0]):
        if over <= 0:
            break
        keep = max(costs[index] - over, 0)
        texts[index] = _truncate(texts[index], keep)
        new_cost = count_tokens(texts[index])
        over -= costs[index] - new_cost + (1 if costs[index] and not new_cost else 0)
        costs[index] = new_cost
    return ", ".join(t for t in texts if t)


def camera_words(cut: Cut) -> str:
    """Lens, focus and lighting as a model understands them: "35mm lens, shallow depth of field,
    low-key lighting" ("" when the script wrote none)."""
    words = []
    if cut.lens is not None:
        words.append(f"{cut.lens} lens")
    if cut.focus is not None:
        words.append(_FOCUS_WORDS.get(cut.focus, cut.focus.value))
    if cut.lighting is not None:
        words.append(_LIGHTING_WORDS.get(cut.lighting, cut.lighting.value))
    return ", ".join(words)


def shot_prompt(film: ir.Film, scene: ir.Scene | None, cut: Cut, budget: int = DEFAULT_BUDGET) -> str:
    if cut.card:
        return f"title card: {cut.card}"
    framing = cut.size.value if cut.size.value.endswith("shot") else cut.size.value + " shot"
    if cut.angle is not None:
        framing += f", {_ANGLE_WORDS[cut.angle]}"
    if cut.move is not None and cut.move.kind is not ir.Move.STATIC:
        framing += f", {cut.move}"
    camera = camera_words(cut)
    if camera:     # what the script asked of the camera lasts as long as the framing does
        framing += f", {camera}"
    people = []
    for name in cut.characters:
        character = film.character(name)
        people.append(f"{name.title()} ({character.description})" if character and character.description
                      else name.title())
    location = film.location(scene.location) if scene.location else None
    place = location.description if location and location.description else scene.place.lower()
    setting = {"INT": "interior", "EXT": "exterior"}.get(scene.setting or "", "")
    light = _LIGHT.get((scene.time or "").upper(), "")
    # the trained assets' trigger phrases call their LoRA in: kept longest after the framing
    trained = [trigger_phrase(location.name, "location")] if location and location.train else []
    trained += [trigger_phrase(name, "character") for name in cut.characters
                if (character := film.character(name)) is not None and character.train]
    action = " ".join(cut.description.split())
    if not action and cut.lines:
        action = f"{cut.lines[0].character.title()} speaking"
    return assemble([
        (0, framing),
        (0, ", ".join(trained)),
        (3, "; ".join(people)),
        (1, action),
        (4, " ".join(p for p in (setting, place) if p)),
        (5, light),
        (2, film.settings.style),
    ], budget)
