"""The directives: ``[[shot: …]]``, ``[[music: …]]``, ``[[sfx: …]]`` and ``[[voice: …]]``, each
note lowered to its IR value (a shot, a music cue, a sound effect, delivery hints).

:class:`DirectiveLowering` is part of :class:`~lower.Lowering` (which supplies ``error``,
``undeclared_name``, ``term_span``, ``properties``, ``themes``, ``refer`` and ``started_themes``)."""

from __future__ import annotations

import re

from . import annotations as ann
from . import ir, vocabulary
from .diagnostics import Edit, closest
from .fountain import Element
from .properties import one
from .scenes import ShotDraft
from .source import Span


class DirectiveLowering:

    def shot_directive(self, element: Element, note: ann.Annotation) -> ShotDraft:
        draft = ShotDraft(True, element.span)
        for clause in note.terms:
            for term in split_lines(clause):
                self.shot_term(element, draft, term)
        props = self.properties(element, "shot", note)
        draft.source = one(props.get("from"))
        draft.seed = props.get("seed")
        if draft.source is not None and draft.continues is not None:
            self.error("E210", "a shot `from:` a picture or video cannot also continue",
                       draft.continues, label="its picture starts from the previous shot",
                       help="keep `continues` or `from:`, not both")
        return draft

    def shot_term(self, element: Element, draft: ShotDraft, term: ann.Term) -> None:
        span = self.term_span(element, term)
        word = vocabulary.normalize_term(term.text)
        millimetres = vocabulary.focal_length(word)
        if millimetres is not None and vocabulary.shot_term(word) is None:
            low, high = vocabulary.FOCAL_RANGE
            self.error("E205", f"bad focal length {term.text!r}", span,
                       label=f"expected a lens from {low}mm to {high}mm, like 35mm")
            return
        if millimetres is None and vocabulary.looks_like_duration(word):
            seconds = vocabulary.parse_duration(word)
            if seconds is None:
                self.error("E301", f"bad duration {term.text!r}", span,
                           label="expected seconds, like 6s or 2.5s, or 1:30 (up to 10 minutes)")
            elif self._set_once(draft, "duration", seconds, span, term.text):
                pass
            return
        if word in vocabulary.CONTINUES:
            self._set_once(draft, "continues", span, span, term.text)
            return
        found = vocabulary.shot_term(word)
        if found is not None:
            facet, value = found
            self._set_once(draft, facet, value, span, term.text)
            return
        suggestion = closest(word, vocabulary.all_shot_terms())
        self.error("E205", f"unknown shot term {term.text!r}", span,
                   label="not a shot size, camera move, angle, lens, focus, lighting, duration or `continues`",
                   help=f"did you mean `{suggestion}`?" if suggestion else
                   "sizes: wide, medium, close-up…; moves: static, push in, pan left…; "
                   "angles: low angle, dutch…; see docs/language.md",
                   fix=Edit(span, suggestion) if suggestion else None)

    def _set_once(self, draft: ShotDraft, attribute: str, value, span: Span, text: str) -> bool:
        if getattr(draft, attribute) is not None:
            self.error("E205", f"the shot already has a {attribute}", span,
                       label=f"second {attribute}: {text}")
            return False
        setattr(draft, attribute, value)
        return True

    def music(self, element: Element, note: ann.Annotation) -> ir.MusicCue | None:
        theme: str | None = None
        chosen = False
        fade_in = fade_out = 0.0
        for clause in note.terms:
            for term in split_lines(clause):
                word = vocabulary.normalize_term(term.text)
                span = self.term_span(element, term)
                fade = re.fullmatch(r"fade (in|out)(?: (?:over )?(.+))?", word)
                if fade:
                    seconds = 2.0
                    if fade.group(2):
                        parsed = vocabulary.parse_duration(fade.group(2))
                        if parsed is None:
                            self.error("E301", f"bad fade duration {fade.group(2)!r}", span,
                                       label="expected seconds, like 3s")
                            continue
                        seconds = parsed
                    if fade.group(1) == "in":
                        fade_in = seconds
                    else:
                        fade_out = seconds
                    continue
                if chosen:
                    self.error("E205", f"unknown music term {term.text!r}", span,
                               label="music takes a theme (or stop) and fades: fade in 3s, fade out 4s")
                    continue
                chosen = True
                if word in ("stop", "out", "end", "off"):
                    continue
                self.refer("theme", term.text, span, "music")
                declared = self.themes.get(" ".join(term.text.split()).casefold())
                if declared is None:
                    self.undeclared_name("E203", f"undeclared theme {term.text!r}", span, "theme",
                                         term.text, self.themes.values(),
                                         f"[[theme {term.text}: instruments, mood, tempo]]")
                    return None
                theme = declared.name
                self.started_themes.add(theme.casefold())
        if not chosen:
            self.error("E206", "`music:` needs a theme name or `stop`", element.span,
                       help="write it like [[music: RIVER, fade in 3s]]")
            return None
        props = self.properties(element, "music", note)
        return ir.MusicCue(theme, fade_in, fade_out, props.get("volume", 1.0), element.span)

    def sfx(self, element: Element, note: ann.Annotation) -> ir.SoundEffect | None:
        words: list[str] = []
        duration = None
        for clause in note.terms:
            for term in clause:
                if vocabulary.looks_like_duration(term.text):
                    duration = vocabulary.parse_duration(term.text)
                    if duration is None:
                        self.error("E301", f"bad duration {term.text!r}", self.term_span(element, term),
                                   label="expected seconds, like 4s")
                    continue
                words.append(term.text)
        props = self.properties(element, "sfx", note)
        source = one(props.get("from"))
        if not words and source is None:
            self.error("E206", "`sfx:` needs a description of the sound or `from:` a recording",
                       element.span, help="write it like [[sfx: water lapping against stone, 4s]]")
            return None
        return ir.SoundEffect(", ".join(words), duration, source, props.get("volume", 1.0), element.span)

    def voice(self, element: Element, note: ann.Annotation) -> tuple[list[str], ir.ProjectPath | None]:
        hints = [vocabulary.normalize_term(t.text) for clause in note.terms for t in clause]
        props = self.properties(element, "voice", note)
        return hints, one(props.get("from"))


def split_lines(clause: tuple[ann.Term, ...]) -> list[ann.Term]:
    """Terms of a clause, where a line break inside a note also separates terms
    (``[[shot: wide`` / ``4s]]``)."""
    out: list[ann.Term] = []
    for term in clause:
        if "\n" not in term.text:
            out.append(term)
            continue
        offset = term.start
        for piece in term.text.split("\n"):
            stripped = piece.strip()
            if stripped:
                begin = offset + piece.index(stripped)
                out.append(ann.Term(stripped, begin, begin + len(stripped)))
            offset += len(piece) + 1
    return out
