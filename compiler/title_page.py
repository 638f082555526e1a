"""The title page's settings (docs/language.md, "Title page"): title, credit, author,
resolution, frame rate, style, seed, language and profile, each checked."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from . import ir
from .diagnostics import Edit, closest
from .fountain import TitleField
from .source import Span

_RESOLUTION = re.compile(r"(\d+)\s*[x×X]\s*(\d+)")
_RESOLUTION_NAMES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080),
                     "2k": (2048, 1080), "4k": (3840, 2160), "2160p": (3840, 2160)}
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def lower_settings(title_page: Sequence[TitleField], profiles: Sequence[str],
                   error: Callable[..., None]) -> tuple[ir.Settings, dict[str, Span]]:
    """The settings, and the span of each field by its lower-case key. ``profiles`` are the
    names ``Profile:`` may choose; ``error(code, message, span, **extra)`` reports a bad value."""
    spans: dict[str, Span] = {}
    values: dict = {}
    for f in title_page:
        key = f.key.strip().lower()
        value = " ".join(f.value.split())
        span = f.value_span
        spans[key] = f.span
        if key == "title":
            values["title"] = " ".join(part.strip() for part in f.value.split("\n"))
        elif key == "credit":
            values["credit"] = value
        elif key in ("author", "authors"):
            values["author"] = value
        elif key == "resolution":
            size = _RESOLUTION_NAMES.get(value.lower())
            match = _RESOLUTION.fullmatch(value)
            if match:
                size = int(match.group(1)), int(match.group(2))
            if (size is None or not all(64 <= v <= 7680 for v in size)
                    or any(v % 2 for v in size)):
                error("E302", f"bad resolution {value!r}", span,
                           label="expected WIDTHxHEIGHT, both even, 64 to 7680",
                           help="write it like `Resolution: 1280x720`")
            else:
                values["resolution"] = size
        elif key == "fps":
            number = value.lower().removesuffix("fps").strip()
            try:
                fps = float(number)
            except ValueError:
                fps = 0.0
            if not 1 <= fps <= 120:
                error("E303", f"bad frame rate {value!r}", span,
                           label="expected a number of frames per second, 1 to 120",
                           help="write it like `FPS: 24`")
            else:
                values["fps"] = fps
        elif key == "style":
            values["style"] = value
        elif key == "seed":
            if value.isdigit() and int(value) < 2**63:
                values["seed"] = int(value)
            else:
                error("E304", f"bad seed {value!r}", span,
                           label="expected a whole number, like 7")
        elif key == "language":
            if _LANGUAGE.fullmatch(value):
                values["language"] = value
            else:
                error("E304", f"bad language {value!r}", span,
                           label="expected a language tag such as en or fr-FR")
        elif key == "profile":
            known = tuple(profiles)
            if value.lower() in known:
                values["profile"] = value.lower()
            else:
                suggestion = closest(value, known)
                error("E304", f"unknown profile {value!r}", span,
                           label=f"expected one of: {', '.join(known)}",
                           help=f"did you mean {suggestion}?" if suggestion else "",
                           fix=Edit(span, suggestion) if suggestion else None)
    return ir.Settings(**values), spans
