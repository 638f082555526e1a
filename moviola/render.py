"""Diagnostic renderers: human (source line with carets), concise (one line each), JSON.

They only read :class:`~moviola.compiler.diagnostics.Diagnostic` data; colour comes from rich
styles, so a terminal gets colour and a pipe gets plain text.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from moviola.compiler.diagnostics import Diagnostic
from moviola.compiler.source import Source

if TYPE_CHECKING:  # pragma: no cover - rich loads when a diagnostic is shown, not at import
    from rich.text import Text

_STYLES = {"error": "bold red", "warning": "bold yellow"}


def concise(diagnostic: Diagnostic, path: str) -> str:
    span = diagnostic.span
    return (f"{path}:{span.line}:{span.col}: {diagnostic.severity.value}[{diagnostic.code}]: "
            f"{diagnostic.message}")


def human(diagnostic: Diagnostic, source: Source, path: str) -> Text:
    """The concise line, then the source line with a caret underline, the label and help."""
    from rich.text import Text

    style = _STYLES[diagnostic.severity.value]
    span = diagnostic.span
    out = Text()
    out.append(f"{path}:{span.line}:{span.col}: ", style="bold")
    out.append(f"{diagnostic.severity.value}[{diagnostic.code}]", style=style)
    out.append(f": {diagnostic.message}\n", style="bold")
    gutter = len(str(span.line))
    line = source.line_text(span.line)
    before = line[: max(span.col - 1, 0)].expandtabs(4)
    last_col = span.end_col if span.end_line == span.line else len(line) + 1
    marked = line[max(span.col - 1, 0): max(last_col - 1, span.col - 1)].expandtabs(4)
    shown = line.expandtabs(4)
    out.append(f"{' ' * gutter} |\n", style="blue")
    out.append(f"{span.line} | ", style="blue")
    out.append(f"{shown}\n")
    out.append(f"{' ' * gutter} | ", style="blue")
    out.append(" " * len(before))
    out.append("^" * max(len(marked), 1), style=style)
    if diagnostic.label:
        out.append(f" {diagnostic.label}", style=style)
    out.append("\n")
    for related in diagnostic.related:
        out.append(f"{' ' * gutter} = ", style="blue")
        out.append("note", style="bold")
        out.append(f": {related.message} at {path}:{related.span.line}:{related.span.col}\n")
    if diagnostic.help:
        out.append(f"{' ' * gutter} = ", style="blue")
        out.append("help", style="bold cyan")
        out.append(f": {diagnostic.help}\n")
    return out


def as_json(diagnostics: list[Diagnostic], path: str) -> str:
    return json.dumps([d.to_json(path) for d in diagnostics], indent=2, ensure_ascii=False)


def summary(diagnostics: list[Diagnostic]) -> str:
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' * (errors != 1)}")
    if warnings:
        parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
    return ", ".join(parts) or "no problems"
