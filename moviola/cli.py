"""The `moviola` command: a thin shell over moviola.compiler (and, for builds, moviola.runtime).

Exit status: 0 when the script is clean (warnings allowed), 1 when it has errors, 2 for a usage
problem (unknown option, unreadable file).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2

_DESCRIPTION = """\
Moviola compiles a Fountain screenplay into a film.

A Moviola script is plain Fountain (fountain.io): it opens in any screenwriting app.
Annotations in notes say what the film needs, for example:

  [[location WASH-HOUSE: an old stone wash-house on a river bank; refs: refs/lavoir/]]
  [[shot: wide, slow push in, 6s]]

The language is described in docs/language.md.
"""

_EPILOG = """\
examples:
  moviola build samples/the-wash-house.fountain -o out/the-wash-house.mp4
                                                        make the film (draft profile: any CPU)
  moviola plan samples/the-wash-house.fountain          the render jobs, and which are cached
  moviola check samples/the-wash-house.fountain         find problems, with file:line:col
  moviola check film.fountain --explain E301            what an error code means
  moviola outline samples/the-wash-house.fountain       scenes, shots, cast, est. runtime
  moviola dataset film.fountain LAVOIR                  check a location's photos before training
  moviola parse samples/the-wash-house.fountain --json  the Fountain elements, as JSON

Run `moviola COMMAND --help` for the options of one command.
"""


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="moviola", description=_DESCRIPTION, epilog=_EPILOG,
                                     formatter_class=formatter)
    from moviola import __version__

    parser.add_argument("--version", action="version", version=f"moviola {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser(
        "check", help="report problems in a script (exit 1 if it has errors)",
        description="Parse and check a script; print each problem with its file:line:col, the "
                    "source line and a caret under the culprit.",
        epilog="exit status: 0 clean (warnings allowed), 1 errors, 2 usage or unreadable file",
        formatter_class=formatter)
    check.add_argument("script", nargs="?", help="the .fountain file")
    check.add_argument("--format", choices=("human", "concise", "json"), default="human",
                       help="human (default): source and carets; concise: one line each; json")
    check.add_argument("--explain", metavar="CODE",
                       help="explain a diagnostic code (E301, W501, …) and exit")
    check.add_argument("--deny-warnings", action="store_true",
                       help="treat warnings as errors (exit 1), for CI")

    parse = commands.add_parser(
        "parse", help="show the parsed Fountain elements (or the IR)",
        description="Print the element stream the parser sees: title page, scene headings, "
                    "action, dialogue, notes… Boneyard is dropped.",
        epilog='--json schema: {"title_page": {key: value}, "elements": [{"type", "text", "line", '
               '"span", …}]}; see docs/cli.md',
        formatter_class=formatter)
    parse.add_argument("script", help="the .fountain file")
    form = parse.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="machine-readable elements")
    form.add_argument("--ir", action="store_true", help="the typed IR (JSON) after name resolution")

    outline = commands.add_parser(
        "outline", help="scenes, shots, characters, locations and estimated runtime",
        description="Summarize the film the script describes, with an estimated runtime "
                    "(explicit shot durations, else speech and reading time).",
        formatter_class=formatter)
    outline.add_argument("script", help="the .fountain file")

    plan = commands.add_parser(
        "plan", help="show the render plan: jobs, what is cached, estimated runtime",
        description="Compile the script into its render plan: one job per line of dialogue, "
                    "keyframe, clip, music cue and effect, then the mix and the mux. Each job has "
                    "a content key; a job whose key is in the cache will not render again.",
        formatter_class=formatter)
    plan.add_argument("script", help="the .fountain file")
    plan.add_argument("--json", action="store_true", help="the plan as JSON, for machines")
    plan.add_argument("--profile", metavar="NAME",
                      help="draft, preview, final or a profile of moviola.toml (default: the title page's)")

    build = commands.add_parser(
        "build", help="render the film (mp4 with subtitles, .srt/.vtt, .otio, contact sheet)",
        description="Render the film. Only jobs whose content changed render again; the rest "
                    "come from the cache in .moviola/ beside the script. An interrupted build "
                    "resumes where it stopped.",
        epilog="outputs beside the mp4: NAME.srt, NAME.vtt, NAME.otio (open in an NLE), "
               "NAME.storyboard.png and NAME.media/ (the clips the .otio references)",
        formatter_class=formatter)
    build.add_argument("script", help="the .fountain file")
    build.add_argument("-o", "--output", help="the mp4 to write (default: out/NAME.mp4 beside the script)")
    build.add_argument("--report", metavar="FILE.json", help="write a machine-readable build report")
    build.add_argument("--profile", metavar="NAME",
                       help="draft (CPU, no weights), preview, final or a profile of moviola.toml "
                            "(default: the title page's Profile)")
    build.add_argument("--quiet", action="store_true", help="no progress display")
    build.add_argument("-j", "--jobs", type=int, metavar="N",
                       help="render in N processes (default: one per CPU core)")

    dataset = commands.add_parser(
        "dataset", help="check the photos of locations and characters before training on them",
        description="Read every image a location's or character's refs: names and report what "
                    "would spoil training: too few distinct images, files that are not images or "
                    "are truncated, near-duplicates, images below the training resolution, "
                    "photos stored rotated (EXIF) and photos without a caption (a sidecar "
                    "photo.txt). Nothing is written; no GPU is used.",
        epilog="exit status: 0 usable (warnings allowed), 1 a dataset too small or broken (or "
               "script errors), 2 usage or unreadable file",
        formatter_class=formatter)
    dataset.add_argument("script", help="the .fountain file")
    dataset.add_argument("name", nargs="?", help="one location or character (default: every one with refs:)")
    dataset.add_argument("--format", choices=("human", "concise", "json"), default="human",
                         help="human (default): problems and a table per dataset; concise; json")
    dataset.add_argument("--resolution", type=int, default=512, metavar="PIXELS",
                         help="the training resolution: images with a shorter side are reported "
                              "(default 512)")
    dataset.add_argument("--min-images", type=int, default=5, metavar="N",
                         help="fewer distinct usable images than this is an error (default 5)")

    cache = commands.add_parser(
        "cache", help="show the render cache's size, or prune it",
        description="The cache lives in .moviola/cache beside the script. --prune deletes every "
                    "entry the last build of each script did not use.",
        formatter_class=formatter)
    cache.add_argument("script", help="a .fountain file of the project (its folder holds the cache)")
    cache.add_argument("--prune", action="store_true", help="delete entries no last build used")

    lsp = commands.add_parser(
        "lsp", help="run the language server (stdio) for editors",
        description="Speak the Language Server Protocol on stdin/stdout: diagnostics, completion, "
                    "hover, outline, go-to-definition, rename and build commands for any LSP "
                    "editor. See docs/editors.md for VS Code, Neovim and Helix set-up.",
        formatter_class=formatter)
    lsp.add_argument("--stdio", action="store_true", help="accepted for clients that pass it (stdio is the default)")

    doctor = commands.add_parser(
        "doctor", help="report the device, installed backends and which models are present",
        description="Check what the GPU profiles need: the compute device, the optional "
                    "libraries (torch, diffusers, transformers, coqui-tts) and, for the project "
                    "of SCRIPT (or the current folder), every model its profiles name.",
        formatter_class=formatter)
    doctor.add_argument("script", nargs="?", help="a .fountain file (its folder's moviola.toml is read)")
    return parser


def main(argv: list[str] | None = None) -> int:
    import os

    # CPU inference in torch busy-waits between kernels without this (30× slower on 2 cores);
    # torch is imported later, only by the commands that need it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:
        return EXIT_USAGE if exit.code not in (0, None) else EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        handler = {"check": _check, "parse": _parse, "outline": _outline, "plan": _plan,
                   "build": _build, "dataset": _dataset, "cache": _cache, "lsp": _lsp, "doctor": _doctor}[args.command]
        return handler(args)
    except _UsageError as error:
        print(f"moviola: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("moviola: interrupted", file=sys.stderr)
        return 130


class _UsageError(Exception):
    pass


def _compile(path: str):
    from moviola.compiler.api import ScriptNotReadable, compile_file

    try:
        return compile_file(path)
    except ScriptNotReadable as error:
        raise _UsageError(str(error)) from None


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _check(args) -> int:
    from moviola import render
    from moviola.compiler.diagnostics import CODES

    if args.explain:
        info = CODES.get(args.explain.upper())
        if info is None:
            raise _UsageError(f"unknown code {args.explain!r}; codes: {', '.join(CODES)}")
        print(f"{info.code} ({info.name}, {info.severity.value}): {info.summary}\n\n{info.explanation}")
        return EXIT_OK
    if not args.script:
        raise _UsageError("check needs a script (or --explain CODE)")
    result = _compile(args.script)
    diagnostics = list(result.diagnostics)
    if args.format == "json":
        print(render.as_json(diagnostics, args.script))
    elif args.format == "concise":
        for diagnostic in diagnostics:
            print(render.concise(diagnostic, args.script))
    else:
        console = _console()
        for diagnostic in diagnostics:
            console.print(render.human(diagnostic, result.script.source, args.script))
        film = result.film
        counts = f"{len(film.scenes)} scenes, {len(film.shots)} shots"
        verdict = render.summary(diagnostics)
        style = "red" if result.errors else ("yellow" if diagnostics else "green")
        console.print(f"[{style}]{args.script}: {verdict}[/] ({counts})")
    failed = bool(result.errors) or (args.deny_warnings and bool(diagnostics))
    return EXIT_ERRORS if failed else EXIT_OK


def _parse(args) -> int:
    result = _compile(args.script)
    if args.ir:
        from moviola.compiler.ir import dump

        print(json.dumps(dump(result.film), indent=2, ensure_ascii=False))
        return EXIT_OK
    if args.json:
        print(json.dumps(result.script.to_json(), indent=2, ensure_ascii=False))
        return EXIT_OK
    from rich.table import Table

    table = Table("line", "type", "text", box=None, header_style="bold")
    for field in result.script.title_page:
        table.add_row(str(field.span.line), f"title: {field.key}", field.value)
    for element in result.script.elements:
        label = element.kind
        if element.kind == "character" and element.dual:
            label += " (dual)"
        table.add_row(str(element.span.line), label, element.plain)
    _console().print(table)
    return EXIT_OK


def _outline(args) -> int:
    from rich.table import Table

    from moviola.compiler import ir, timing

    result = _compile(args.script)
    film = result.film
    console = _console()
    settings = film.settings
    width, height = settings.resolution
    title = settings.title or Path(args.script).stem
    total = timing.film_seconds(film)
    console.print(f"[bold]{title}[/]" + (f" — {settings.author}" if settings.author else ""))
    console.print(f"{width}x{height} @ {settings.fps:g} fps · profile {settings.profile} · "
                  f"seed {settings.seed} · estimated runtime [bold]{_clock(total)}[/]")
    if settings.style:
        console.print(f"style: {settings.style}")

    scenes = Table("#", "scene", "location", "shots", "lines", "est.", title="Scenes",
                   title_justify="left", header_style="bold")
    for scene in film.scenes:
        lines = sum(len(shot.lines) for shot in scene.shots)
        explicit = sum(1 for shot in scene.shots if shot.explicit)
        shots = f"{len(scene.shots)}" + ("" if explicit == len(scene.shots) else
                                        f" ({len(scene.shots) - explicit} to break down)")
        heading = scene.heading or "(before the first scene)"
        if scene.scene_number:
            heading += f"  #{scene.scene_number}"
        scenes.add_row(str(scene.index), heading, scene.location or "—", shots, str(lines),
                       _clock(timing.scene_seconds(scene)))
    console.print(scenes)

    spoken: dict[str, list[ir.Line]] = {}
    for shot in film.shots:
        for line in shot.lines:
            spoken.setdefault(line.character, []).append(line)
    cast = Table("character", "lines", "words", "voice", "declared", title="Characters",
                 title_justify="left", header_style="bold")
    names = [c.name for c in film.characters] + [n for n in spoken if film.character(n) is None]
    for name in names:
        declared = film.character(name)
        lines = spoken.get(name, [])
        voice = declared.voice.path if declared and declared.voice else "default"
        cast.add_row(name, str(len(lines)), str(sum(timing.words(l.text) for l in lines)), voice,
                     "yes" if declared else "no")
    console.print(cast)

    places = Table("location", "scenes", "refs", title="Locations", title_justify="left",
                   header_style="bold")
    for location in film.locations:
        count = sum(1 for s in film.scenes if s.location == location.name)
        places.add_row(location.name, str(count), ", ".join(r.path for r in location.refs) or "—")
    if film.locations:
        console.print(places)
    if film.themes:
        themes = Table("theme", "tempo", "description", title="Music themes", title_justify="left",
                       header_style="bold")
        for theme in film.themes:
            themes.add_row(theme.name, f"{theme.tempo:g} bpm" if theme.tempo else "—", theme.description)
        console.print(themes)
    if result.diagnostics:
        from moviola import render

        console.print(f"[yellow]{render.summary(list(result.diagnostics))}: "
                      f"run `moviola check {args.script}` for details[/]")
    return EXIT_OK


def _project(script: str) -> Path:
    return Path(script).resolve().parent


def _compiled_or_report(args):
    """The compilation, or None after printing its errors (a script with errors does not build)."""
    from moviola import render

    result = _compile(args.script)
    if result.errors:
        console = _console()
        for diagnostic in result.diagnostics:
            console.print(render.human(diagnostic, result.script.source, args.script))
        console.print(f"[red]{args.script}: {render.summary(list(result.diagnostics))}; "
                      f"fix the errors to build[/]")
        return None
    return result


def _profile(args, film):
    """The profile to render with: --profile, else the title page's; from moviola.toml too."""
    from moviola.compiler.profiles import ProfileError, load_profiles

    try:
        profiles = load_profiles(_project(args.script))
    except ProfileError as error:
        raise _UsageError(str(error)) from None
    name = args.profile or film.settings.profile
    if name not in profiles:
        raise _UsageError(f"unknown profile {name!r}; profiles: {', '.join(profiles)}")
    return profiles[name]


def _planned(args):
    """(render plan, project folder, cache) for a script that compiles, else None after
    printing its errors."""
    from moviola.compiler.plan import plan as make_plan
    from moviola.runtime.cache import Cache

    result = _compiled_or_report(args)
    if result is None:
        return None
    project = _project(args.script)
    return make_plan(result.film, _profile(args, result.film)), project, Cache(project / ".moviola" / "cache")


def _plan(args) -> int:
    from rich.table import Table

    from moviola.runtime.executor import Executor

    planned = _planned(args)
    if planned is None:
        return EXIT_ERRORS
    render_plan, project, cache = planned
    states = Executor(render_plan, project, cache).dry_run()
    if args.json:
        data = render_plan.to_json()
        for job in data["jobs"]:
            job["state"] = states[job["id"]]
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return EXIT_OK
    console = _console()
    counts: dict[str, list[int]] = {}
    for job in render_plan.jobs:
        tally = counts.setdefault(job.kind, [0, 0])
        tally[0] += 1
        tally[1] += states[job.id] == "cached"
    table = Table("job", "kind", "state", "key", "source", title="Render plan", title_justify="left",
                  header_style="bold")
    style = {"cached": "green", "render": "yellow", "after speech": "cyan"}
    for job in render_plan.jobs:
        state = states[job.id]
        table.add_row(job.label, job.kind, f"[{style[state]}]{state}[/]", job.key[:12],
                      f"line {job.span.line}" if job.span else "")
    console.print(table)
    summary = ", ".join(f"{kind} {cached}/{total} cached" for kind, (total, cached) in counts.items())
    console.print(f"{len(render_plan.cuts)} shots, {len(render_plan.jobs)} jobs ({summary}); "
                  f"estimated runtime {_clock(render_plan.estimated_seconds)} "
                  f"(speech lengths fix the final timing)")
    return EXIT_OK


def _build(args) -> int:
    from moviola.runtime.executor import BuildError, Executor

    planned = _planned(args)
    if planned is None:
        return EXIT_ERRORS
    render_plan, project, cache = planned
    output = Path(args.output) if args.output else project / "out" / f"{Path(args.script).stem}.mp4"
    console = _console()
    progress = _BuildProgress(console, quiet=args.quiet)
    executor = Executor(render_plan, project, cache, progress.event)
    try:
        with progress:
            import os

            report = executor.run(workers=max(args.jobs or os.cpu_count() or 1, 1))
            executor.install(output, report)
    except BuildError as error:
        console.print(f"[red]moviola: build failed: {error}[/]")
        if executor.entries:                 # a build stopped before its first job has none
            console.print("finished jobs are cached; fix the problem and build again to resume")
        return EXIT_ERRORS
    if args.report:
        Path(args.report).write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False), "utf-8")
    data = report.to_json()["jobs"]
    console.print(f"[green]built {output}[/] ({_clock(report.film_seconds)} of film in "
                  f"{report.wall_seconds:.1f}s: {data['executed']} jobs rendered, "
                  f"{data['cached']} from the cache)")
    for name, path in report.outputs.items():
        if name != "film":
            console.print(f"  {name}: {path}")
    return EXIT_OK


class _BuildProgress:
    """Draws runtime events: a rich progress bar on a terminal, plain lines otherwise."""

    def __init__(self, console, quiet: bool):
        self.console = console
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.progress = None
        self.task = None

    def __enter__(self):
        if self.live:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                                     TimeRemainingColumn(), console=self.console, transient=True)
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)
        return False

    def event(self, event: dict) -> None:
        kind = event["type"]
        if kind == "start" and self.progress is not None:
            self.task = self.progress.add_task("planning", total=event["total"])
        elif kind == "job":
            job = event["job"]
            if event["status"] == "running":
                if self.progress is not None:
                    self.progress.update(self.task, description=job.label)
                return
            if self.progress is not None:
                self.progress.advance(self.task)
            elif not self.quiet and event["status"] == "done":
                self.console.print(f"rendered {job.label} ({event['seconds']:.2f}s)")


def _dataset(args) -> int:
    from rich.table import Table

    from moviola import render
    from moviola.compiler.diagnostics import closest
    from moviola.runtime.dataset import check_film, datasets

    if args.resolution < 1 or args.min_images < 1:
        raise _UsageError("--resolution and --min-images take a positive whole number")
    result = _compiled_or_report(args)
    if result is None:
        return EXIT_ERRORS
    film = result.film
    console = _console()
    try:
        with console.status("reading images…") as status:
            reports = check_film(film, _project(args.script), args.name, resolution=args.resolution,
                                 min_images=args.min_images,
                                 progress=lambda path: status.update(f"reading {path}"))
    except KeyError:
        declared = [d.name for d in film.locations + film.characters]
        hint = closest(args.name, declared)
        raise _UsageError(f"no location or character {args.name!r} in {args.script}"
                          + (f"; did you mean {hint}?" if hint else
                             f"; declared: {', '.join(declared) or 'none'}")) from None
    diagnostics = [d for report in reports for d in report.diagnostics]
    if args.format == "json":
        print(json.dumps([{"kind": r.kind, "name": r.name, "sources": list(r.sources),
                           "images": len(r.images), "usable": r.usable,
                           "diagnostics": [d.to_json(args.script) for d in r.diagnostics]}
                          for r in reports], indent=2, ensure_ascii=False))
    elif args.format == "concise":
        for diagnostic in diagnostics:
            print(render.concise(diagnostic, args.script))
    else:
        if not reports:
            console.print(f"{args.script}: no location or character names images (refs:)")
        for report in reports:
            for diagnostic in report.diagnostics:
                console.print(render.human(diagnostic, result.script.source, args.script))
            table = Table("image", "size", "caption", "problem", header_style="bold",
                          title=f"{report.kind} {report.name}: {', '.join(report.sources) or 'no refs:'}",
                          title_justify="left")
            for image in report.images:
                size = f"{image.size[0]}×{image.size[1]}" if image.size else "-"
                caption = (image.caption or "").strip()
                shown = caption if len(caption) <= 40 else caption[:39] + "…"
                problems = " ".join(f"[{'red' if code.startswith('E') else 'yellow'}]{code}[/]"
                                    for code in image.problems)
                table.add_row(image.path, size, shown or "[yellow]none[/]", problems or "[green]ok[/]")
            console.print(table)
            verdict = render.summary(list(report.diagnostics))
            style = "red" if report.errors else ("yellow" if report.diagnostics else "green")
            console.print(f"[{style}]{report.kind} {report.name}: {report.usable} usable of "
                          f"{len(report.images)} images; {verdict}[/]\n")
    return EXIT_ERRORS if any(report.errors for report in reports) else EXIT_OK


def _cache(args) -> int:
    from moviola.runtime.cache import Cache
    from moviola.runtime.executor import referenced_keys

    cache = Cache(_project(args.script) / ".moviola" / "cache")
    entries, size = cache.size()
    print(f"{cache.root}: {entries} entries, {size / 1e6:.1f} MB")
    if args.prune:
        removed, freed = cache.prune(referenced_keys(cache))
        print(f"pruned {removed} entries not used by the last builds ({freed / 1e6:.1f} MB freed)")
    return EXIT_OK


def _lsp(args) -> int:
    from moviola.lsp import serve

    serve()
    return EXIT_OK


def _doctor(args) -> int:
    from moviola.runtime.doctor import report

    project = _project(args.script) if args.script else Path.cwd()
    return report(project, _console())


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
