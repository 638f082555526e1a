"""The compiler's one entry point, shared by the CLI and the language server.

Stages, one module each: :mod:`notes` → :mod:`lexer` → :mod:`fountain` (text → ``Script``),
:mod:`lower` (``Script`` → ``Film`` + diagnostics + ``Uses``), :mod:`check` (``Film`` + ``Uses``
→ diagnostics). :func:`compile_text` runs them on a whole script; a :class:`Session` gives the
same diagnostics for each new version of an edited script, re-checking only what changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import fountain, ir
from .check import check
from .diagnostics import Diagnostic, in_source_order
from .lower import PROFILES, Lowering
from .references import mentions
from .session import Session, Stale
from .source import ScriptNotReadable, Span, read_script

__all__ = ["Compilation", "ScriptNotReadable", "Session", "Stale", "compile_file", "compile_text", "session",
           "parse_file", "profile_names", "read_script"]


@dataclass(frozen=True, slots=True)
class Compilation:
    script: fountain.Script
    film: ir.Film
    diagnostics: tuple[Diagnostic, ...]    # sorted by position

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def ok(self) -> bool:
        return not self.errors

    def references(self) -> tuple[ir.Reference, ...]:
        """Every place a character, location or theme is named: the film's references (declarations,
        cues, headings, music) and the mentions of characters in action."""
        found = list(self.film.references) + mentions(self.script, self.film)
        found.sort(key=lambda r: (r.span.line, r.span.col))
        return tuple(found)


def profile_names(project: Path | None) -> tuple[str, ...]:
    """The profiles a title page may choose: the built-in ones and those the project's
    moviola.toml defines. A broken moviola.toml gives the built-in ones here: `moviola build`,
    `moviola plan` and `moviola doctor` report it."""
    from .profiles import ProfileError, config_path, load_profiles

    if project is None or config_path(project) is None:
        return PROFILES
    try:
        return tuple(load_profiles(project))
    except ProfileError:
        return PROFILES


def compile_text(text: str, path: str = "<script>", project: Path | None = None,
                 profiles: tuple[str, ...] | None = None) -> Compilation:
    """Parse, lower and check a script. ``project`` is the folder its paths resolve in (None for
    an unsaved buffer: paths are then checked for shape only); ``profiles`` the profile names its
    title page may choose (default: :func:`profile_names` of ``project``)."""
    script = fountain.parse(text, path)
    if profiles is None:
        profiles = profile_names(project)
    film, lowered, uses = Lowering(script, project, profiles).run()
    found = in_source_order(list(script.diagnostics) + lowered + check(film, uses))
    return Compilation(script, film, tuple(found))


def session(path: str = "<script>", project: Path | None = None) -> Session:
    """An incremental session for one document: ``session.check(text)`` equals
    ``compile_text(text, path, project).diagnostics``."""
    return Session(path, project, profile_names(project))


def parse_file(path: str | Path) -> fountain.Script:
    """The element stream of a script file, without lowering or checking it."""
    return fountain.parse(read_script(path), str(path))


def compile_file(path: str | Path) -> Compilation:
    file = Path(path)
    text = read_script(file)
    result = compile_text(text, str(path), file.resolve().parent)
    if "\ufffd" in text:
        data = file.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as error:
            line = data[: error.start].replace(b"\r\n", b"\n").count(b"\n") + 1
            warning = Diagnostic.make("W506", "the script is not valid UTF-8",
                                      Span.on_line(line, 1, 2),
                                      label="undecodable bytes were replaced",
                                      help="re-save the file as UTF-8")
            found = in_source_order(result.diagnostics + (warning,))
            result = Compilation(result.script, result.film, tuple(found))
    return result
