"""Annotation properties (``refs:``, ``voice:``, ``from:``, ``seed:``, ``volume:``, ``tempo:``…):
which annotation takes which, what kind of file a path property names, and their validation.

:class:`PropertyChecks` is part of :class:`~lower.Lowering` (which supplies ``error``,
``term_span``, ``project`` and ``read_paths``)."""

from __future__ import annotations

import re
from pathlib import Path

from . import annotations as ann
from . import ir, paths, vocabulary
from .diagnostics import Edit, closest
from .fountain import Element

_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%|(\d*\.\d+|[01])")

# Which properties each annotation takes, and what kind of file each path property names.
PROPERTIES: dict[str, tuple[str, ...]] = {
    "location": ("refs", "lora", "train", "seed"),
    "character": ("voice", "refs", "lora", "train", "seed"),
    "theme": ("tempo", "from"),
    "shot": ("from", "seed"),
    "music": ("volume",),
    "sfx": ("from", "volume"),
    "voice": ("from",),
}
PATH_KINDS: dict[tuple[str, str], str] = {
    ("location", "refs"): "refs", ("character", "refs"): "refs",
    ("location", "lora"): "lora", ("character", "lora"): "lora",
    ("character", "voice"): "audio", ("theme", "from"): "audio", ("sfx", "from"): "audio",
    ("voice", "from"): "audio", ("shot", "from"): "visual",
}
KIND_EXTENSIONS = {     # what each path kind accepts (completion lists them too)
    "audio": vocabulary.AUDIO_EXTENSIONS,
    "visual": vocabulary.IMAGE_EXTENSIONS + vocabulary.VIDEO_EXTENSIONS,
    "refs": vocabulary.IMAGE_EXTENSIONS,
    "lora": (".safetensors",),
}
KIND_WORDS = {"audio": "a sound recording (wav, flac, mp3, ogg)",
               "visual": "an image (png, jpg, webp) or a video (mp4, mov, webm, mkv)",
               "refs": "an image (png, jpg, webp) or a folder of images",
               "lora": "a .safetensors file or a folder holding one"}

# `train: lora, rank 16, 800 steps, learning rate 1e-4, resolution 512, seed 7`: the method,
# then options, each a name and a number in either order. Option → (TrainSettings field, type).
TRAIN_METHODS = ("lora",)
TRAIN_OPTIONS: dict[str, tuple[str, type]] = {
    "rank": ("rank", int), "steps": ("steps", int), "step": ("steps", int),
    "learning rate": ("learning_rate", float), "lr": ("learning_rate", float),
    "resolution": ("resolution", int), "px": ("resolution", int), "seed": ("seed", int),
}
# What an option not written takes (runtime/training's TrainSettings defaults read these).
TRAIN_DEFAULTS = {"rank": 16, "steps": 1000, "learning_rate": 1e-4, "seed": 0}
_NUMBER = r"\d+(?:\.\d+)?(?:e-?\d+)?"
_TRAIN_OPTION = re.compile(rf"(?P<n1>{_NUMBER})\s*(?P<w1>[a-z][a-z ]*)|(?P<w2>[a-z][a-z ]*?)\s*(?P<n2>{_NUMBER})",
                           re.IGNORECASE)


class PropertyChecks:
    """Validated properties of an annotation; paths resolved inside the project folder."""

    def properties(self, element: Element, kind: str, note: ann.Annotation) -> dict:
        """Validated properties: paths resolved, numbers parsed. Bad ones become diagnostics."""
        allowed = PROPERTIES[kind]
        out: dict = {}
        for prop in note.properties:
            key = prop.key.text
            key_span = self.term_span(element, prop.key)
            if key not in allowed:
                suggestion = closest(key, allowed)
                self.error("E202", f"`{kind}` does not take the property `{key}`", key_span,
                           label=f"{kind} takes: {', '.join(allowed)}",
                           help=f"did you mean `{suggestion}`?" if suggestion else "",
                           fix=Edit(key_span, suggestion) if suggestion else None)
                continue
            if not prop.values:
                self.error("E206", f"property `{key}` has no value", key_span)
                continue
            if key == "train":
                out[key] = self.training(element, prop)
                continue
            path_kind = PATH_KINDS.get((kind, key))
            if path_kind:
                resolved = tuple(filter(None, (self.project_path(element, v, path_kind) for v in prop.values)))
                if resolved:
                    out[key] = resolved
                continue
            value = prop.values[0]
            value_span = self.term_span(element, value)
            if key == "seed":
                if value.text.isdigit():
                    out[key] = int(value.text)
                else:
                    self.error("E207", f"bad seed {value.text!r}", value_span,
                               label="expected a whole number")
            elif key == "volume":
                volume = parse_volume(value.text)
                if volume is None:
                    self.error("E207", f"bad volume {value.text!r}", value_span,
                               label="expected a percentage like 80% (0% to 200%)")
                else:
                    out[key] = volume
            elif key == "tempo":
                match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(bpm)?", value.text, re.IGNORECASE)
                if not match or not 20 <= float(match.group(1)) <= 300:
                    self.error("E207", f"bad tempo {value.text!r}", value_span,
                               label="expected beats per minute, like 70 bpm (20 to 300)")
                else:
                    out[key] = float(match.group(1))
        return out

    def training(self, element: Element, prop: ann.Property) -> dict | None:
        """``train:``'s method and options ({"method": "lora", "rank": 16, …}), or None when
        the method is unknown. Unknown or malformed options are diagnostics."""
        method, *options = prop.values
        method_span = self.term_span(element, method)
        if method.text.lower() not in TRAIN_METHODS:
            suggestion = closest(method.text.lower(), TRAIN_METHODS)
            self.error("E208", f"unknown training method {method.text!r}", method_span,
                       label=f"trains: {', '.join(TRAIN_METHODS)}",
                       help=f"did you mean `{suggestion}`?" if suggestion else "",
                       fix=Edit(method_span, suggestion) if suggestion else None)
            return None
        out: dict = {"method": method.text.lower(), "span": self.term_span(element, prop.key)}
        for option in options:
            span = self.term_span(element, option)
            match = _TRAIN_OPTION.fullmatch(option.text.strip())
            word = " ".join((match.group("w1") or match.group("w2")).split()).lower() if match else \
                " ".join(re.sub(r"[\d.]+", " ", option.text).split()).lower()
            if not match or word not in TRAIN_OPTIONS:
                suggestion = closest(word, TRAIN_OPTIONS) if word else None
                self.error("E208", f"unknown training option {option.text!r}", span,
                           label="not a training option",
                           help=f"did you mean `{suggestion}`?" if suggestion else
                           "options: rank N, N steps, learning rate X, resolution N, seed N")
                continue
            name, kind = TRAIN_OPTIONS[word]
            number = match.group("n1") or match.group("n2")
            try:
                value = kind(number)
            except ValueError:
                value = None
            if value is None or (value <= 0 and name != "seed") or (name == "resolution" and value < 8):
                self.error("E207", f"bad {word} {number!r}", span,
                           label="expected a whole number" if kind is int else "expected a number > 0")
                continue
            out[name] = value
        return out

    def project_path(self, element: Element, term: ann.Term, kind: str) -> ir.ProjectPath | None:
        span = self.term_span(element, term)
        self.read_paths.append(term.text)
        result = paths.resolve(self.project, term.text)
        if result.problem == "escapes":
            self.error("E402", f"path {term.text!r} leaves the project folder", span,
                       label="not read",
                       help="put the file inside the folder that holds the script and use a "
                            "relative path")
            return None
        if result.problem == "missing":
            self.error("E401", f"file not found: {term.text}", span,
                       label="no such file in the project folder",
                       help=self.missing_help(term.text))
            return None
        extensions = KIND_EXTENSIONS[kind]
        if result.is_dir:
            if kind not in ("refs", "lora"):
                self.error("E403", f"{term.text!r} is a folder", span,
                           label=f"expected {KIND_WORDS[kind]}")
                return None
        elif not result.path.lower().endswith(extensions):
            self.error("E403", f"{term.text!r} is not {KIND_WORDS[kind]}", span,
                       label="wrong kind of file")
            return None
        return ir.ProjectPath(term.text, result.path, span)

    def missing_help(self, written: str) -> str:
        if self.project is None:
            return ""
        folder = Path(written.strip().rstrip("/")).parent
        try:
            siblings = [p.name for p in (self.project / folder).iterdir()]
        except OSError:
            return "paths are relative to the folder that holds the script"
        suggestion = closest(Path(written).name, siblings)
        if suggestion:
            return f"did you mean {(folder / suggestion).as_posix()}?"
        return "paths are relative to the folder that holds the script"


def one(values):
    if not values:
        return None
    return values[0]


def parse_volume(text: str) -> float | None:
    match = _PERCENT.fullmatch(text.strip())
    if not match:
        return None
    volume = float(match.group(1)) / 100 if match.group(1) else float(match.group(2))
    return volume if 0 <= volume <= 2 else None
