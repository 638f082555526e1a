"""The compiler's one entry point, shared by the CLI and the language server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import fountain, ir
from .check import check
from .diagnostics import Diagnostic
from .lower import Lowering
from .source import Span


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


class ScriptNotReadable(Exception):
    """The script file itself cannot be read (missing, a folder, no permission)."""


def compile_text(text: str, path: str = "<script>", project: Path | None = None) -> Compilation:
    """Parse, lower and check a script. ``project`` is the folder its paths resolve in (None for
    an unsaved buffer: paths are then checked for shape only)."""
    script = fountain.parse(text, path)
    lowering = Lowering(script, project)
    film, lowered = lowering.run()
    found = list(script.diagnostics) + lowered + check(
        film, set(lowering.cued), lowering.bound_locations, lowering.started_themes)
    found.sort(key=lambda d: (d.span.line, d.span.col, d.code))
    return Compilation(script, film, tuple(found))


def read_script(path: str | Path) -> str:
    """The text of a script file, for any bytes: invalid UTF-8 is replaced, never fatal."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ScriptNotReadable(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ScriptNotReadable(f"{path} is a folder, not a script") from None
    except OSError as error:
        raise ScriptNotReadable(f"cannot read {path}: {error.strerror}") from None
    return data.decode("utf-8", errors="replace")


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
            found = sorted(result.diagnostics + (warning,), key=lambda d: (d.span.line, d.span.col, d.code))
            result = Compilation(result.script, result.film, tuple(found))
    return result
