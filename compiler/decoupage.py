"""Découpage: the IR's shots → the film's cuts.

Explicit shots (``[[shot: ...]]``) become one cut each. What a script leaves unbroken is broken
down the way an editor would cover it: an establishing wide shot when the film arrives at a new
location, a shot per action paragraph, dialogue covered on the speaker, shot/reverse-shot when
two people talk. Narration (V.O.) and off-screen voices play over the picture they fall in.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from . import ir, timing
from .cuts import Cut, ShotRef
from .ir import CameraMove, Move, ShotSize, Speed
from .prompts import shot_prompt
from .references import mention_pattern
from .source import Span

_INTIMATE = re.compile(r"whisper|soft|quiet|tear|cry|crying|sob|murmur|tender|gentle", re.IGNORECASE)


@dataclass
class _Group:
    kind: str                        # establishing, action, dialogue, card, explicit
    span: Span
    origin: ShotRef | None           # the IR shot it comes from (None: the scene heading's)
    shot: ir.Shot | None = None      # an explicit shot's directive
    actions: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    cues: list = field(default_factory=list)
    sfx: list = field(default_factory=list)
    card: str | None = None
    speaker: str | None = None
    lyrics: list = field(default_factory=list)


def decoupage(film: ir.Film) -> tuple[Cut, ...]:
    cuts: list[Cut] = []
    cast = {c.name.upper(): c for c in film.characters}
    speakers = {line.character.upper() for shot in film.shots for line in shot.lines}
    named = sorted(cast.keys() | speakers, key=len, reverse=True)
    mention = mention_pattern(named) if named else None
    canonical = {n: (cast[n].name if n in cast else n) for n in named}

    previous_place = None
    occurrences: dict[str, int] = {}
    pending_in = _opening_transition(film)
    title = _title_card(film)
    if title is not None:
        cuts.append(Cut(
            id="title~1/1", label="0.1", scene_index=0, size=ShotSize.INSERT,
            move=CameraMove(Move.STATIC), duration=None, min_seconds=4.0, source=None,
            seed=derive_seed(film.settings.seed, "title~1/1"), description="", card=title,
            characters=(), speaker=None, lines=(), cues=(), sfx=(), transition_in="fade_in",
            transition_out="fade_out", explicit=False, prompt="", span=film.title_span))
        pending_in = "fade_in"
    for scene in film.scenes:
        slug = _slug(scene.heading) or "opening"
        occurrences[slug] = occurrences.get(slug, 0) + 1
        scene_id = f"{slug}~{occurrences[slug]}"
        place = (scene.location or scene.place).casefold()
        new_place = bool(scene.heading) and place != previous_place
        previous_place = place if scene.heading else previous_place

        groups = _groups(scene, new_place)
        continuing = _continuing(groups)
        previous_speaker = None
        scene_cuts: list[Cut] = []
        for ordinal, group in enumerate(groups, 1):
            characters = _present(group, mention, canonical)
            size, move = _framing(group, scene, characters, previous_speaker)
            if group.kind == "dialogue":
                previous_speaker = group.speaker
            elif group.kind != "explicit":
                previous_speaker = None
            shot = group.shot
            description = "\n".join(a.text for a in group.actions)
            lyrics = " / ".join(group.lyrics)
            if lyrics:
                description = f"{description}\n{lyrics}".strip()
            min_seconds = sum(timing.beat_seconds(a) for a in group.actions)
            if group.card:
                min_seconds += timing.CARD_SECONDS
            if group.kind == "establishing" and not group.actions:
                min_seconds = 3.0
            min_seconds = max(min_seconds, timing.MIN_SHOT)
            cut_id = f"{scene_id}/{ordinal}"
            seed = cut_seed(film, shot, cut_id, size,
                            primary_asset(film, scene, size, characters, group.card))
            speaker = group.speaker or (group.lines[0].character if group.lines
                                        and not group.lines[0].voice_over else None)
            cut = Cut(
                id=cut_id, label=f"{scene.index}.{ordinal}", scene_index=scene.index,
                size=size, move=move,
                duration=shot.duration if shot is not None else None,
                min_seconds=round(min_seconds, 3),
                source=shot.source if shot is not None else None,
                seed=seed, description=description, card=group.card,
                characters=characters, speaker=speaker if speaker in characters else None,
                lines=tuple(group.lines), cues=tuple(group.cues), sfx=tuple(group.sfx),
                transition_in=pending_in, transition_out="cut", explicit=group.kind == "explicit",
                prompt="", span=group.span,
                angle=shot.angle if shot is not None else None,
                lens=shot.lens if shot is not None else None,
                focus=shot.focus if shot is not None else None,
                lighting=shot.lighting if shot is not None else None,
                shot=group.origin,
                continues=ordinal - 1 in continuing,
            )
            pending_in = "cut"
            scene_cuts.append(cut)
        if scene_cuts and scene.transition is not None:
            kind = scene.transition.kind
            last = scene_cuts[-1]
            if kind in ("fade_out", "cut_to_black"):
                scene_cuts[-1] = _replace(last, transition_out=kind)
                pending_in = "fade_in" if kind == "fade_out" else "cut"
            elif kind == "dissolve":
                pending_in = "dissolve"
        cuts.extend(scene_cuts)

    scenes = {scene.index: scene for scene in film.scenes}
    return tuple(_replace(cut, prompt=shot_prompt(film, scenes.get(cut.scene_index), cut))
                 for cut in cuts)


def continuation_problems(scene: ir.Scene) -> list[tuple[Span, str, str]]:
    """(span of `continues`, message, label) for each shot of ``scene`` that cannot continue:
    there is no picture before it in the scene, or it or the one before is a title card."""
    groups = _groups(scene, False)   # a new place's establishing shot only goes before a first
    problems = []                    # group that is dialogue or a card: never a directive
    for index, group in enumerate(groups):
        span = group.shot.continues if group.shot is not None else None
        if span is None or index in _continuing(groups):
            continue
        if _is_card(group):
            problems.append((span, "a title card cannot continue a shot", "typeset, not filmed"))
        elif index == 0:
            problems.append((span, "the first shot of a scene cannot continue",
                             "no shot before it in this scene"))
        else:
            problems.append((span, "a shot cannot continue from a title card",
                             "the shot before it is a card"))
    return problems


def _continuing(groups: list[_Group]) -> set[int]:
    """The indexes of the groups that continue from the group before them: a shot written
    `continues` that has a filmed (not a card) shot before it in the scene, and is no card."""
    return {index for index, group in enumerate(groups)
            if group.shot is not None and group.shot.continues is not None and index > 0
            and not _is_card(group) and not _is_card(groups[index - 1])}


def _is_card(group: _Group) -> bool:
    return bool(group.card) and not group.actions and not group.lines


def _title_card(film: ir.Film) -> str | None:
    """The opening card from the title page: the title, and who wrote it. Left out when the
    script already shows its title on a centered card of its own."""
    settings = film.settings
    if not settings.title:
        return None
    folded = " ".join(settings.title.split()).casefold()
    for shot in film.shots:
        for beat in shot.beats:
            if isinstance(beat, ir.Card) and " ".join(beat.text.split()).casefold() == folded:
                return None
    lines = [settings.title]
    if settings.author:
        lines.append(f"{settings.credit or 'written by'} {settings.author}".strip())
    return "\n".join(lines)


# Framings where one person fills the frame: the picture is theirs more than the place's.
_PORTRAIT = frozenset({ShotSize.MEDIUM_CLOSE_UP, ShotSize.CLOSE_UP, ShotSize.EXTREME_CLOSE_UP})


def primary_asset(film: ir.Film, scene: ir.Scene, size: ShotSize, characters: tuple[str, ...],
                  card: str | None) -> ir.Location | ir.Character | None:
    """The asset a shot is of: the one declared character framed alone in a close shot, else
    the scene's declared location; None for a title card (typeset, no asset)."""
    if card is not None:
        return None
    if size in _PORTRAIT and len(characters) == 1:
        return film.character(characters[0])
    return film.location(scene.location) if scene.location else None


def cut_seed(film: ir.Film, shot: ir.Shot | None, cut_id: str, size: ShotSize,
             asset: ir.Location | ir.Character | None) -> int:
    """The shot's `seed:`; else, when its primary asset declares a `seed:`, one seed per asset
    and framing (every close-up of MARIE starts from the same noise, so the image model keeps
    her look); else the cut's own. None of these depends on another shot."""
    if shot is not None and shot.seed is not None:
        return shot.seed
    if asset is not None and asset.seed is not None:
        kind = "character" if isinstance(asset, ir.Character) else "location"
        return derive_seed(film.settings.seed,
                           f"{kind}/{asset.name.casefold()}/{asset.seed}/{size.value}")
    return derive_seed(film.settings.seed, cut_id)


def derive_seed(film_seed: int, identity: str) -> int:
    """A job's seed: stable for its identity, independent of every other shot."""
    digest = hashlib.sha256(f"{film_seed}:{identity}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _opening_transition(film: ir.Film) -> str:
    if film.opening is not None and film.opening.kind == "fade_in":
        return "fade_in"
    return "cut"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _groups(scene: ir.Scene, new_place: bool) -> list[_Group]:
    groups: list[_Group] = []
    for position, shot in enumerate(scene.shots):
        origin = ShotRef(scene.index, position)
        if shot.explicit:
            group = _Group("explicit", shot.span, origin, shot=shot)
            for beat in shot.beats:
                _add(group, beat)
            groups.append(group)
            continue
        current: _Group | None = None
        waiting: list = []                    # music and sfx before the first picture
        for beat in shot.beats:
            if isinstance(beat, ir.Action):
                current = _Group("action", beat.span, origin)
                groups.append(current)
            elif isinstance(beat, ir.Card):
                current = _Group("card", beat.span, origin, card=beat.text)
                groups.append(current)
            elif isinstance(beat, ir.Line):
                over = beat.voice_over or beat.off_screen
                if over and current is not None:
                    pass                      # plays over the picture already on screen
                elif (current is not None and current.kind == "dialogue"
                      and (current.speaker == beat.character or beat.dual)):
                    pass                      # the same speaker goes on; dual lines overlap
                else:
                    current = _Group("dialogue", beat.span, origin,
                                     speaker=None if over else beat.character)
                    groups.append(current)
            elif current is None:
                waiting.append(beat)
                continue
            _add(current, beat)
            if waiting:
                current.cues[:0] = [b for b in waiting if isinstance(b, ir.MusicCue)]
                current.sfx[:0] = [b for b in waiting if isinstance(b, ir.SoundEffect)]
                waiting.clear()
        if waiting:
            # audio with no picture in this shot: give it to the previous cut, or a held frame
            if groups:
                target = groups[-1]
            else:
                target = _Group("establishing", waiting[0].span, origin)
                groups.append(target)
            for beat in waiting:
                _add(target, beat)

    if new_place and scene.heading:
        first = groups[0] if groups else None
        if first is None or first.kind in ("dialogue", "card"):
            groups.insert(0, _Group("establishing", scene.span, None))
        elif first.kind == "action":
            first.kind = "establishing"
    if not groups and scene.heading:
        groups.append(_Group("establishing", scene.span, None))
    return groups


def _add(group: _Group, beat: ir.Beat) -> None:
    if isinstance(beat, ir.Action):
        group.actions.append(beat)
    elif isinstance(beat, ir.Line):
        group.lines.append(beat)
    elif isinstance(beat, ir.MusicCue):
        group.cues.append(beat)
    elif isinstance(beat, ir.SoundEffect):
        group.sfx.append(beat)
    elif isinstance(beat, ir.Card):
        group.card = beat.text if group.card is None else f"{group.card}\n{beat.text}"
    elif isinstance(beat, ir.Lyric):
        group.lyrics.append(beat.text)


def _present(group: _Group, mention, canonical) -> tuple[str, ...]:
    found: list[str] = []
    if group.speaker:
        found.append(group.speaker)
    for line in group.lines:
        if not (line.voice_over or line.off_screen) and line.character not in found:
            found.append(line.character)
    if mention is not None:
        for action in group.actions:
            for match in mention.finditer(action.text):
                name = canonical.get(match.group(1).upper(), match.group(1).upper())
                if name not in found:
                    found.append(name)
    return tuple(found)


def _framing(group: _Group, scene: ir.Scene, characters, previous_speaker) -> tuple[ShotSize, CameraMove]:
    shot = group.shot
    if group.card and not group.actions and not group.lines:
        return ShotSize.INSERT, (shot.move if shot is not None and shot.move else CameraMove(Move.STATIC))
    if shot is not None:
        size = shot.size or (ShotSize.CLOSE_UP if shot.source is None and len(characters) == 1
                             and shot.lines else ShotSize.MEDIUM)
        return size, shot.move or CameraMove(Move.STATIC)
    if group.kind == "establishing":
        exterior = scene.setting in ("EXT", "EST", "INT/EXT")
        return (ShotSize.EXTREME_WIDE if exterior else ShotSize.WIDE), CameraMove(Move.PUSH_IN, Speed.SLOW)
    if group.kind == "card":
        return ShotSize.INSERT, CameraMove(Move.STATIC)
    if group.kind == "dialogue":
        delivery = " ".join(d for line in group.lines for d in line.delivery)
        if _INTIMATE.search(delivery):
            return ShotSize.CLOSE_UP, CameraMove(Move.PUSH_IN, Speed.SLOW)
        if previous_speaker and previous_speaker != group.speaker:
            return ShotSize.OVER_THE_SHOULDER, CameraMove(Move.STATIC)
        return ShotSize.MEDIUM, CameraMove(Move.STATIC)
    count = len(characters)
    words = sum(timing.words(a.text) for a in group.actions)
    move = CameraMove(Move.PUSH_IN, Speed.SLOW) if words > 25 else CameraMove(Move.STATIC)
    if count == 0:
        return ShotSize.WIDE, CameraMove(Move.PAN_RIGHT, Speed.SLOW) if words > 12 else move
    if count == 1:
        return ShotSize.MEDIUM, move
    if count == 2:
        return ShotSize.TWO_SHOT, move
    return ShotSize.FULL, move


def _replace(node, **changes):
    from dataclasses import replace

    return replace(node, **changes)
