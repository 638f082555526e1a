"""Production paperwork from the compiled film: the scene breakdown, the shot list, the cast list.

Every figure is read from what the compiler already made: scenes, beats and timing estimates
from the IR, shots (size, move, prompt, who is on screen) from the découpage's cuts, page
lengths from the paginator. A report is a title, its columns and rows of plain values, so the
terminal table, CSV and JSON all come from the same rows.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

from moviola.compiler import ir, timing, vocabulary
from moviola.compiler.api import Compilation
from moviola.compiler.decoupage import Cut, decoupage

from .pagination import Document, SceneExtent

# Capitalised words in action that are the screenplay's own vocabulary, not things to find.
_SCREENPLAY_WORDS = {
    "FLASHBACK", "FLASH", "BACK", "END", "INTERCUT", "MONTAGE", "SERIES", "OF", "SHOTS",
    "CONTINUOUS", "LATER", "SUPER", "TITLE", "CARD", "ANGLE", "ON", "CLOSE", "INSERT", "POV",
    "V.O.", "O.S.", "O.C.", "CONT'D", "CONTD", "THE", "A", "AN", "AND", "TO", "IN", "AT", "FADE",
    "CUT", "DISSOLVE", "OUT", "UP", "BEAT", "PRE-LAP", "MORE",
} | set(vocabulary.TIMES_OF_DAY)
# A run of upper-case words (letters, digits, ' - .), at least one of two letters or more.
_CAPS = re.compile(r"(?<![\w'])([A-Z0-9][A-Z0-9'.\-]*(?:[ \t]+[A-Z0-9][A-Z0-9'.\-]*)*)(?![\w'])")
_HAS_WORD = re.compile(r"[A-Z]{2,}")


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    columns: tuple[str, ...]
    rows: tuple[dict, ...]
    shown: tuple[str, ...] = ()      # the columns a terminal table has room for (default: all)

    @property
    def table_columns(self) -> tuple[str, ...]:
        return self.shown or self.columns

    def to_json(self) -> str:
        return json.dumps({"report": self.title, "rows": list(self.rows)}, indent=2, ensure_ascii=False)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({key: _cell_text(row[key]) for key in self.columns})
        return out.getvalue()

    def cell(self, row: dict, column: str) -> str:
        return _cell_text(row[column])


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(_cell_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def eighths(count: int) -> str:
    """A scene length as production writes it: 1 3/8 (pages and eighths)."""
    whole, rest = divmod(count, 8)
    if not rest:
        return str(whole)
    return f"{whole} {rest}/8" if whole else f"{rest}/8"


def _scene_cuts(cuts: tuple[Cut, ...], scene: ir.Scene) -> list[Cut]:
    return [cut for cut in cuts if cut.scene_index == scene.index]


def scene_cast(scene: ir.Scene, cuts: list[Cut]) -> list[str]:
    """Who is in a scene: everyone the découpage puts on screen (speakers and characters the
    action names) and every voice heard (V.O., O.S.), in order of appearance."""
    found: list[str] = []
    for cut in cuts:
        for name in (*cut.characters, *(line.character for line in cut.lines)):
            if name not in found:
                found.append(name)
    return found


def _names_pattern(names: set[str]):
    """Any of ``names`` in capitals, longest first, possessive included (MARIE'S)."""
    if not names:
        return None
    alternatives = "|".join(re.escape(n.upper()) for n in sorted(names, key=len, reverse=True))
    return re.compile(r"(?<![\w'])(?:" + alternatives + r")(?:'S)?(?![\w'])")


def props(scene: ir.Scene, names: set[str], named=None) -> list[str]:
    """Upper-case words and phrases of the scene's action (the breakdown convention for what the
    props department reads), less character names and the heading's own words. ``named``:
    :func:`_names_pattern` of ``names``, when the caller has it already."""
    excluded = {n.upper() for n in names} | set(re.findall(r"[\w'.-]+", scene.heading.upper()))
    named = named or _names_pattern(names)
    found: list[str] = []
    for shot in scene.shots:
        for action in shot.actions:
            for match in _CAPS.finditer(action.text):
                phrase_text = named.sub(" | ", match.group(1)) if named else match.group(1)
                words = [w.strip(".") for w in phrase_text.split()]
                phrase: list[str] = []
                for word in words + [""]:
                    if word == "|":
                        word = ""
                    if word and word not in excluded and word not in _SCREENPLAY_WORDS \
                            and not word.isdigit():
                        phrase.append(word)
                        continue
                    text = " ".join(phrase)
                    if phrase and _HAS_WORD.search(text) and text not in excluded and text not in found:
                        found.append(text)
                    phrase = []
    return found


def breakdown(compilation: Compilation, document: Document, cuts: tuple[Cut, ...] | None = None) -> Report:
    film = compilation.film
    cuts = decoupage(film) if cuts is None else cuts
    extents: dict[int, SceneExtent] = {extent.line: extent for extent in document.scenes}
    names = {c.name for c in film.characters} | {line.character for shot in film.shots for line in shot.lines}
    named = _names_pattern(names)
    rows = []
    for scene in film.scenes:
        if not scene.heading and not scene.shots:
            continue
        scene_cuts = _scene_cuts(cuts, scene)
        beats = [beat for shot in scene.shots for beat in shot.beats]
        extent = extents.get(scene.span.line) if scene.heading else None
        rows.append({
            "scene": scene.index,
            "number": extent.number if extent else "",
            "heading": scene.heading or "(before the first scene)",
            "setting": scene.setting or "",
            "location": scene.location or scene.place,
            "time": scene.time or "",
            "cast": scene_cast(scene, scene_cuts),
            "props": props(scene, names, named),
            "sfx": [b.description or (b.source.path if b.source else "") for b in beats
                    if isinstance(b, ir.SoundEffect)],
            "music": [b.theme or "stop" for b in beats if isinstance(b, ir.MusicCue)],
            "pages": eighths(extent.eighths) if extent else "",
            "eighths": extent.eighths if extent else 0,
            "page": extent.page if extent else None,
            "seconds": round(timing.scene_seconds(scene), 1),
            "line": scene.span.line,
        })
    return Report("breakdown", ("scene", "number", "heading", "setting", "location", "time", "cast", "props",
                                "sfx", "music", "pages", "eighths", "page", "seconds", "line"),
                  tuple(rows), ("scene", "heading", "cast", "props", "sfx", "music", "pages", "seconds"))


# Moviola's shot vocabulary has no angle of its own: the framings that are angles are read as one.
_ANGLES = {ir.ShotSize.OVER_THE_SHOULDER, ir.ShotSize.POV, ir.ShotSize.AERIAL}


def shot_list(compilation: Compilation, cuts: tuple[Cut, ...] | None = None) -> Report:
    cuts = decoupage(compilation.film) if cuts is None else cuts
    rows = []
    for cut in cuts:
        rows.append({
            "shot": cut.label,
            "scene": cut.scene_index,
            "size": "" if cut.size in _ANGLES else cut.size.value,
            "angle": cut.size.value if cut.size in _ANGLES else "",
            "move": str(cut.move),
            "duration": cut.duration,
            "seconds": round(cut.estimated_seconds, 2),
            "characters": list(cut.characters),
            "lines": len(cut.lines),
            "prompt": cut.prompt,
            "source": cut.source.path if cut.source else "",
            "directed": cut.explicit,
            "line": cut.span.line,
        })
    return Report("shots", ("shot", "scene", "size", "angle", "move", "duration", "seconds",
                            "characters", "lines", "prompt", "source", "directed", "line"),
                  tuple(rows), ("shot", "size", "angle", "move", "duration", "seconds", "prompt", "source"))


def cast_list(compilation: Compilation, cuts: tuple[Cut, ...] | None = None) -> Report:
    film = compilation.film
    cuts = decoupage(film) if cuts is None else cuts
    scenes: dict[str, list[str]] = {}
    lines: dict[str, int] = {}
    words: dict[str, int] = {}
    for scene in film.scenes:
        for name in scene_cast(scene, _scene_cuts(cuts, scene)):
            scenes.setdefault(name, []).append(scene.index)
    for shot in film.shots:
        for line in shot.lines:
            lines[line.character] = lines.get(line.character, 0) + 1
            words[line.character] = words.get(line.character, 0) + timing.words(line.text)
    order = [c.name for c in film.characters] + [n for n in scenes if film.character(n) is None]
    order += [n for n in lines if n not in order]
    rows = [{
        "character": name,
        "declared": film.character(name) is not None,
        "scenes": scenes.get(name, []),
        "scene_count": len(scenes.get(name, [])),
        "lines": lines.get(name, 0),
        "words": words.get(name, 0),
    } for name in order]
    return Report("cast", ("character", "declared", "scenes", "scene_count", "lines", "words"),
                  tuple(rows))
