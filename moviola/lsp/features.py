"""Answers about a compiled script: the names in it (definition, references, rename), its outline
(document and workspace symbols, folding), hover text and code actions.

Each function takes a :class:`~moviola.lsp.documents.Document` (for positions) and a
``Compilation`` (``moviola.compiler.api``), reads the IR and the element stream, and returns
lsprotocol values. Nothing here renders or reads the cache; see ``builds.py`` for that.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from lsprotocol import types

from moviola.compiler import fountain, ir
from moviola.compiler.cuts import ShotRef
from moviola.compiler.diagnostics import CODES, Diagnostic, Severity
from moviola.compiler.prompts import trigger_phrase
from moviola.compiler.properties import TRAIN_DEFAULTS
from moviola.compiler.source import Span

from .documents import Document

# docs/language.md: names are words of letters, digits, - ' and . separated by spaces
_NAME = re.compile(r"[\w'.-]+(?: [\w'.-]+)*")


# -- diagnostics ----------------------------------------------------------------------------------


def lsp_diagnostic(document: Document, diagnostic: Diagnostic, docs: str | None = None) -> types.Diagnostic:
    """A compiler diagnostic as the editor shows it: same code and message (the help line
    below), related spans as related information, the fix in ``data``."""
    message = diagnostic.message
    if diagnostic.help:
        message = f"{message}\nhelp: {diagnostic.help}"
    related = None
    if diagnostic.related:
        related = [types.DiagnosticRelatedInformation(
            location=types.Location(uri=document.uri, range=document.lsp_range(r.span)),
            message=r.message) for r in diagnostic.related]
    data = {}
    if diagnostic.label:
        data["label"] = diagnostic.label
    if diagnostic.fix is not None:
        data["fix"] = diagnostic.fix.replacement
    info = CODES.get(diagnostic.code)
    description = None
    if docs and info is not None:
        anchor = f"{info.code}-{info.name}-{info.severity.value}".lower()
        description = types.CodeDescription(href=f"{docs}#{anchor}")
    return types.Diagnostic(
        range=document.lsp_range(diagnostic.span),
        severity=(types.DiagnosticSeverity.Error if diagnostic.severity is Severity.ERROR
                  else types.DiagnosticSeverity.Warning),
        code=diagnostic.code,
        code_description=description,
        source="moviola",
        message=message,
        related_information=related,
        data=data or None,
    )


def diagnostics_page() -> str | None:
    """A file URI of docs/diagnostics.md when Moviola runs from a checkout (for codeDescription)."""
    page = Path(__file__).resolve().parents[2] / "docs" / "diagnostics.md"
    return page.as_uri() if page.is_file() else None


# -- names: who and where, and every place they are written -----------------------------------


class Index:
    """Every place a character, location or theme is named in one compilation (the IR's
    references, ``ir.Reference``), by name and by line."""

    def __init__(self, compilation):
        self.compilation = compilation
        self.occurrences = compilation.references()
        self.by_name: dict[tuple[str, str], list[ir.Reference]] = defaultdict(list)
        self.by_line: dict[int, list[ir.Reference]] = defaultdict(list)
        for item in self.occurrences:
            self.by_name[(item.kind, item.key)].append(item)
            self.by_line[item.span.line].append(item)

    def at(self, line: int, col: int) -> ir.Reference | None:
        """The reference under the cursor (its end counts: the cursor just after a name)."""
        for item in self.by_line.get(line, ()):
            if item.span.col <= col <= item.span.end_col:
                return item
        return None

    def declarations(self, kind: str, key: str) -> list[ir.Reference]:
        return [o for o in self.by_name.get((kind, key), ()) if o.role == "declaration"]


def definition(document: Document, index: Index, line: int, col: int) -> list[types.Location]:
    item = index.at(line, col)
    if item is None:
        return []
    targets = index.declarations(item.kind, item.key) or index.by_name[(item.kind, item.key)][:1]
    return [types.Location(uri=document.uri, range=document.lsp_range(t.span)) for t in targets]


def references(document: Document, index: Index, line: int, col: int,
               include_declaration: bool = True) -> list[types.Location]:
    item = index.at(line, col)
    if item is None:
        return []
    return [types.Location(uri=document.uri, range=document.lsp_range(o.span))
            for o in index.by_name[(item.kind, item.key)]
            if include_declaration or o.role != "declaration"]


def prepare_rename(document: Document, index: Index, line: int, col: int):
    item = index.at(line, col)
    if item is None:
        return None
    return types.PrepareRenamePlaceholder(range=document.lsp_range(item.span), placeholder=item.text)


class RenameError(ValueError):
    pass


def rename(document: Document, index: Index, line: int, col: int, new_name: str) -> types.WorkspaceEdit | None:
    """Rename a character (cues, extensions kept; declarations; upper-case mentions in action),
    a location (declarations, headings) or a theme (declarations, ``music:``)."""
    item = index.at(line, col)
    if item is None:
        return None
    name = " ".join(new_name.split())
    if not _NAME.fullmatch(name):
        raise RenameError(f"{new_name!r} is not a name: use letters, digits, - ' and . separated by spaces")
    edits = []
    seen = set()
    for occurrence in index.by_name[(item.kind, item.key)]:
        if occurrence.span in seen:
            continue
        seen.add(occurrence.span)
        written = occurrence.text
        replacement = name.upper() if written.isupper() or occurrence.role in ("cue", "mention") else name
        edits.append(types.TextEdit(range=document.lsp_range(occurrence.span), new_text=replacement))
    return types.WorkspaceEdit(changes={document.uri: edits})


# -- outline ------------------------------------------------------------------------------------


def _shot_name(shot: ir.Shot) -> str:
    parts = [p for p in (shot.size.value if shot.size else None,
                         str(shot.move) if shot.move else None,
                         *ir.written_camera(shot),
                         f"{shot.duration:g}s" if shot.duration is not None else None) if p]
    return "shot: " + ", ".join(parts) if parts else "shot"


def _shot_detail(shot: ir.Shot) -> str:
    for beat in shot.beats:
        if isinstance(beat, ir.Action):
            text = " ".join(beat.text.split())
            return text if len(text) <= 60 else text[:57] + "…"
        if isinstance(beat, ir.Line):
            return f"{beat.character}: {' '.join(beat.text.split())[:50]}"
    return ""


def _shot_end(shot: ir.Shot) -> int:
    return max([shot.span.end_line] + [beat.span.end_line for beat in shot.beats])


def document_symbols(document: Document, compilation) -> list[types.DocumentSymbol]:
    """Declarations, then sections → scenes → shots (explicit shots, and the stretches Moviola
    breaks down itself)."""
    film = compilation.film
    last_line = len(document.lines)
    out: list[types.DocumentSymbol] = []
    kinds = {"character": types.SymbolKind.Object, "location": types.SymbolKind.Struct,
             "theme": types.SymbolKind.EnumMember}
    for kind, items in (("character", film.characters), ("location", film.locations),
                        ("theme", film.themes)):
        for item in items:
            out.append(types.DocumentSymbol(
                name=item.name, detail=kind, kind=kinds[kind],
                range=document.lsp_range(item.span), selection_range=document.lsp_range(item.name_span)))

    sections = sorted(film.sections, key=lambda s: s.span.line)
    ends = {}
    for number, section in enumerate(sections):
        end = last_line
        for later in sections[number + 1:]:
            if later.depth <= section.depth:
                end = later.span.line - 1
                break
        ends[id(section)] = max(end, section.span.line)
    items = [(s.span.line, 0, s) for s in sections] + [(s.span.line, 1, s) for s in film.scenes]
    stack: list[tuple[int, types.DocumentSymbol, int]] = []     # (depth, symbol, last line)
    for _, order, node in sorted(items, key=lambda t: (t[0], t[1])):
        if order == 0:
            symbol = types.DocumentSymbol(
                name=node.title or "(section)", detail=node.synopsis or None,
                kind=types.SymbolKind.Namespace,
                range=document.lsp_line_range(node.span.line, ends[id(node)]),
                selection_range=document.lsp_range(node.span), children=[])
            while stack and stack[-1][0] >= node.depth:
                stack.pop()
            (stack[-1][1].children if stack else out).append(symbol)
            stack.append((node.depth, symbol, ends[id(node)]))
            continue
        scene = node
        end = max(scene.end_line, scene.span.end_line)
        later = [s.span.line for s in sections if s.span.line > scene.span.line]
        if later:
            end = max(min(end, later[0] - 1), scene.span.end_line)
        while stack and stack[-1][2] < scene.span.line:
            stack.pop()
        children = []
        number = 0
        for shot in scene.shots:
            if shot.explicit:
                number += 1
            shot_end = min(max(_shot_end(shot), shot.span.line), end)
            children.append(types.DocumentSymbol(
                name=_shot_name(shot) if shot.explicit else "(shots by découpage)",
                detail=_shot_detail(shot) or None,
                kind=types.SymbolKind.Event if shot.explicit else types.SymbolKind.Field,
                range=document.lsp_line_range(shot.span.line, shot_end),
                selection_range=document.lsp_range(shot.span)))
        detail = ", ".join(p for p in (scene.location and f"at {scene.location}", scene.time) if p)
        symbol = types.DocumentSymbol(
            name=scene.heading or "(before the first scene)", detail=detail or None,
            kind=types.SymbolKind.Class, range=document.lsp_line_range(scene.span.line, end),
            selection_range=document.lsp_range(scene.span), children=children)
        (stack[-1][1].children if stack else out).append(symbol)
    return out


def folding_ranges(document: Document, compilation) -> list[types.FoldingRange]:
    """Sections, scenes, the title page, multi-line notes and boneyard."""
    film, script = compilation.film, compilation.script
    last_line = len(document.lines)
    out = []

    def fold(first: int, last: int, kind=None) -> None:      # 1-based, inclusive
        if last > first:
            out.append(types.FoldingRange(start_line=first - 1, end_line=last - 1, kind=kind))

    sections = sorted(film.sections, key=lambda s: s.span.line)
    for number, section in enumerate(sections):
        end = last_line
        for later in sections[number + 1:]:
            if later.depth <= section.depth:
                end = later.span.line - 1
                break
        fold(section.span.line, _trim(document, end), types.FoldingRangeKind.Region)
    for scene in film.scenes:
        if scene.heading:
            fold(scene.span.line, scene.end_line, types.FoldingRangeKind.Region)
    if script.title_page:
        fold(script.title_page[0].span.line, script.title_page[-1].span.end_line,
             types.FoldingRangeKind.Region)
    for element in script.elements:
        if element.kind == "note":
            fold(element.span.line, element.span.end_line, types.FoldingRangeKind.Comment)
    text = script.source.text
    if "/*" in text:
        starts = [0]
        for line in script.source.lines[:-1]:
            starts.append(starts[-1] + len(line) + 1)
        import bisect

        for start, end in fountain.boneyards(text):
            first = bisect.bisect_right(starts, start)
            last = bisect.bisect_right(starts, max(end - 1, start))
            fold(first, last, types.FoldingRangeKind.Comment)
    return out


def _trim(document: Document, line: int) -> int:
    """Back up over trailing empty lines (1-based)."""
    while line > 1 and not document.line(line - 1).strip():
        line -= 1
    return line


def symbol_entries(compilation) -> list[tuple[str, types.SymbolKind, Span, str]]:
    """(name, kind, span, container) of what workspace symbols list for one script."""
    film = compilation.film
    out = []
    for kind, items, symbol_kind in (("character", film.characters, types.SymbolKind.Object),
                                     ("location", film.locations, types.SymbolKind.Struct),
                                     ("theme", film.themes, types.SymbolKind.EnumMember)):
        for item in items:
            out.append((item.name, symbol_kind, item.name_span, kind))
    for section in film.sections:
        out.append((section.title, types.SymbolKind.Namespace, section.span, "section"))
    for scene in film.scenes:
        if scene.heading:
            out.append((scene.heading, types.SymbolKind.Class, scene.span, f"scene {scene.index}"))
    return out


def matches(query: str, name: str) -> bool:
    """Workspace-symbol matching: the query's characters in order, any case."""
    if not query:
        return True
    name = name.casefold()
    position = 0
    for char in query.casefold():
        if char.isspace():
            continue
        position = name.find(char, position)
        if position < 0:
            return False
        position += 1
    return True


# -- hover --------------------------------------------------------------------------------------


def _paths(items) -> str:
    return ", ".join(f"`{p.written}`" for p in items)


def _training_markdown(train: ir.Training, name: str, kind: str) -> str:
    """What `train:` makes: its settings, the pictures it learns from, the trigger phrase."""
    settings = {key: getattr(train, key) for key in ("rank", "steps", "learning_rate", "resolution", "seed")}
    shown = ", ".join(f"{key.replace('_', ' ')} {value if value is not None else TRAIN_DEFAULTS.get(key, 'native')}"
                      for key, value in settings.items())
    pictures = sum(1 for path in train.dataset if not path.endswith(".txt"))
    return (f"train: {train.method} ({shown}) on {pictures} picture{'s' * (pictures != 1)}; "
            f"its shots' prompts call it with `{trigger_phrase(name, kind)}` "
            f"(trained under a profile with a keyframe model)")


def _seed_markdown(seed: int, shots: str) -> str:
    return (f"seed: {seed}, the seed base of {shots}: shots of the same framing start from the "
            f"same noise (a shot's own `seed:` wins)")


def _asset_markdown(asset: ir.Character | ir.Location, kind: str, seeded: str) -> list[str]:
    """What a character and a location declare alike: references, LoRA, training, seed base
    (``seeded``: the shots that base covers)."""
    out = []
    if asset.refs:
        out.append(f"refs: {_paths(asset.refs)}")
    if asset.lora:
        out.append(f"lora: `{asset.lora.written}`")
    if asset.train:
        out.append(_training_markdown(asset.train, asset.name, kind))
    if asset.seed is not None:
        out.append(_seed_markdown(asset.seed, seeded))
    return out


def character_markdown(film: ir.Film, name: str) -> str:
    character = film.character(name)
    lines = [line for shot in film.shots for line in shot.lines if line.character.casefold() == name.casefold()]
    words = sum(len(line.text.split()) for line in lines)
    title = character.name if character else name
    out = [f"**{title}** · character"]
    if character is None:
        out.append("_Not declared_: a default voice and no description. "
                   f"Declare it with `[[character {title}: …]]`.")
    else:
        out.append(character.description or "_no description_")
        out.append(f"voice: `{character.voice.written}`" if character.voice
                   else "voice: a default voice (no `voice:` recording)")
        out += _asset_markdown(character, "character", "its close shots (alone in the frame)")
    out.append(f"{len(lines)} line{'s' * (len(lines) != 1)}, {words} words")
    return "\n\n".join(out)


def location_markdown(film: ir.Film, name: str) -> str:
    location = film.location(name)
    scenes = [s for s in film.scenes if (s.location or s.place).casefold() == name.casefold()]
    if location is None:
        out = [f"**{name}** · place", "_Not declared_: the scene heading's own words describe it."]
    else:
        out = [f"**{location.name}** · location", location.description or "_no description_"]
        out += _asset_markdown(location, "location",
                               "the shots of its scenes (but close shots of one person)")
    out.append(f"{len(scenes)} scene{'s' * (len(scenes) != 1)}")
    return "\n\n".join(out)


def theme_markdown(film: ir.Film, name: str) -> str:
    theme = film.theme(name)
    if theme is None:
        return f"**{name}** · theme\n\n_Not declared_ (error E203)."
    out = [f"**{theme.name}** · theme", theme.description or "_no description_"]
    if theme.tempo:
        out.append(f"tempo: {theme.tempo:g} bpm")
    if theme.source:
        out.append(f"from: `{theme.source.written}`")
    return "\n\n".join(out)


def scene_markdown(film: ir.Film, scene: ir.Scene) -> str:
    out = [f"**{scene.heading}** · scene {scene.index}"]
    facts = [f for f in (scene.setting, scene.time and f"time: {scene.time}") if f]
    explicit = sum(1 for s in scene.shots if s.explicit)
    facts.append(f"{explicit} shot directive{'s' * (explicit != 1)}" if explicit
                 else "shots by découpage")
    out.append(" · ".join(facts))
    if scene.location:
        out.append("---")
        out.append(location_markdown(film, scene.location))
    elif scene.place:
        out.append(f"place: {scene.place} (no declared location)")
    return "\n\n".join(out)


def shot_markdown(cuts, states: dict | None, rendered_note: str = "") -> str:
    """The shot as the planner resolved it: one block per cut (a directive is one cut)."""
    blocks = []
    for cut in cuts:
        duration = (f"{cut.duration:g}s" if cut.duration is not None
                    else f"about {cut.estimated_seconds:.1f}s (from its dialogue and action)")
        out = [f"**shot {cut.label}** · {cut.size.value}, {cut.move}, {duration}"]
        camera = ir.written_camera(cut)
        if camera:
            out.append("camera: " + ", ".join(camera))
        if cut.characters:
            out.append("on screen: " + ", ".join(cut.characters)
                       + (f"; speaking: {cut.speaker}" if cut.speaker else ""))
        if cut.source is not None:
            out.append(f"from: `{cut.source.written}`")
        if cut.continues:
            out.append("continues: a matching cut, its picture starts from the previous shot's "
                       "last frame")
        out.append(f"prompt:\n\n```text\n{cut.prompt}\n```")
        if states is not None:
            frame = states.get(f"keyframe:{cut.id}", "render")
            clip = states.get(f"clip:{cut.id}", "render")
            out.append(f"cache: keyframe **{frame}**, clip **{clip}**")
        elif rendered_note:
            out.append(rendered_note)
        blocks.append("\n\n".join(out))
    return "\n\n---\n\n".join(blocks)


def scene_at(film: ir.Film, line: int) -> ir.Scene | None:
    for scene in film.scenes:
        if scene.heading and scene.span.line == line:
            return scene
    return None


def shot_at(film: ir.Film, line: int) -> tuple[ShotRef, ir.Shot] | None:
    """The explicit shot whose directive covers ``line``."""
    for ref, shot in _explicit_shots(film):
        if shot.span.line <= line <= shot.span.end_line:
            return ref, shot
    return None


def shot_holding(film: ir.Film, line: int) -> tuple[ShotRef, ir.Shot] | None:
    """The explicit shot that holds ``line``: from its directive up to the next shot, within
    its scene."""
    for scene in film.scenes:
        if not scene.span.line <= line <= max(scene.end_line, scene.span.end_line):
            continue
        held = None
        for ref, shot in shots_of(scene):
            if shot.span.line <= line:
                held = ref, shot
        return held if held is not None and held[1].explicit else None
    return None


def shot_directive_at(film: ir.Film, line: int, col: int) -> tuple[ShotRef, ir.Shot] | None:
    """The explicit shot whose ``[[shot: …]]`` directive is under the cursor."""
    for ref, shot in _explicit_shots(film):
        if shot.span.contains(line, col):
            return ref, shot
    return None


def shots_of(scene: ir.Scene):
    """The scene's shots, each with the reference its cuts carry (``Cut.shot``)."""
    for position, shot in enumerate(scene.shots):
        yield ShotRef(scene.index, position), shot


def _explicit_shots(film: ir.Film):
    for scene in film.scenes:
        for ref, shot in shots_of(scene):
            if shot.explicit:
                yield ref, shot


def cuts_of(cuts, ref: ShotRef) -> list:
    """The cuts made from the IR shot ``ref`` names, in film order."""
    return [cut for cut in cuts if cut.shot == ref]


# -- code actions -------------------------------------------------------------------------------


def _declaration_point(document: Document, compilation, kind: str) -> tuple[tuple[int, int], str, str]:
    """Where a new declaration goes, as ((line, col) 1-based, text before, text after): after the
    last declaration of that kind (or any) before the first scene, else after the title page,
    else at the top."""
    script, film = compilation.script, compilation.film
    first_heading = next((e.span.line for e in script.elements if e.kind == "scene_heading"), 1 << 30)
    last_any = last_same = None
    declared = [(d.span, k) for k, items in (("character", film.characters), ("location", film.locations),
                                             ("theme", film.themes)) for d in items]
    for span, declared_kind in sorted(declared, key=lambda item: (item[0].line, item[0].col)):
        if span.line >= first_heading:
            continue
        last_any = span
        if declared_kind == kind:
            last_same = span
    anchor = last_same or last_any
    if anchor is not None:
        line = anchor.end_line
        return (line, len(document.line(line - 1)) + 1), "\n", ""
    if script.title_page:
        line = script.title_page[-1].span.end_line
        return (line, len(document.line(line - 1)) + 1), "\n\n", ""
    return (1, 1), "", "\n\n"


def declare_action(document: Document, compilation, kind: str, name: str,
                   diagnostic: types.Diagnostic | None) -> types.CodeAction:
    (line, col), before, after = _declaration_point(document, compilation, kind)
    position = document.lsp_position(line, col)
    text = f"{before}[[{kind} {name}: ]]{after}"
    return types.CodeAction(
        title=f"Declare {kind} {name}", kind=types.CodeActionKind.QuickFix,
        diagnostics=[diagnostic] if diagnostic else None,
        edit=types.WorkspaceEdit(changes={document.uri: [
            types.TextEdit(range=types.Range(start=position, end=position), new_text=text)]}))


def code_actions(document: Document, compilation, first: tuple[int, int], last: tuple[int, int],
                 docs: str | None = None) -> list[types.CodeAction]:
    """Quick fixes for the diagnostics in a range: the "did you mean" replacement, and declaring
    an undeclared character (W505), location (W504) or theme (E203)."""
    out: list[types.CodeAction] = []
    for diagnostic in compilation.diagnostics:
        span = diagnostic.span
        if (span.end_line, span.end_col) < first or (span.line, span.col) > last:
            continue
        shown = lsp_diagnostic(document, diagnostic, docs)
        if diagnostic.fix is not None:
            out.append(types.CodeAction(
                title=f"Replace with {diagnostic.fix.replacement}", kind=types.CodeActionKind.QuickFix,
                diagnostics=[shown], is_preferred=True,
                edit=types.WorkspaceEdit(changes={document.uri: [types.TextEdit(
                    range=document.lsp_range(diagnostic.fix.span),
                    new_text=diagnostic.fix.replacement)]})))
        kind = {"W505": "character", "W504": "location", "E203": "theme"}.get(diagnostic.code)
        if kind:
            source = compilation.script.source
            name = source.line_text(span.line)[span.col - 1:span.end_col - 1] if span.line == span.end_line else ""
            name = " ".join(name.split())
            if name and _NAME.fullmatch(name):
                out.append(declare_action(document, compilation, kind, name, shown))
    return out
