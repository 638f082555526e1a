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

    train = commands.add_parser(
        "train", help="train a LoRA of a location or character on its refs: pictures",
        description="Train a LoRA of the profile's keyframe model (Stable Diffusion 1.x/2.x, SDXL, "
                    "FLUX.1) on the pictures of NAME's `refs:` (a location or a character), with "
                    "captions from sidecar .txt files, else its description, each led by the "
                    "trigger phrase (`wash-house place`, `ana person`). A killed training resumes "
                    "from its last checkpoint (in .moviola/train/) when run again with the same "
                    "settings, and ends with the same weights. See docs/training.md.",
        epilog="still to come: `train: lora` in the declaration, so that the build trains the "
               "asset as a job of the plan and its shots use the LoRA; for now, name the file "
               "this writes as `lora:` in moviola.toml or on the declaration",
        formatter_class=formatter)
    train.add_argument("script", help="the .fountain file")
    train.add_argument("name", help="the location or character to train (its `refs:` are the pictures)")
    train.add_argument("-o", "--output", required=True, metavar="FILE.safetensors",
                       help="the LoRA to write (diffusers format)")
    train.add_argument("--profile", metavar="NAME",
                       help="whose keyframe model to train (default: the title page's Profile)")
    train.add_argument("--steps", type=int, default=1000, help="optimizer steps (default 1000)")
    train.add_argument("--rank", type=int, default=16, help="LoRA rank (default 16)")
    train.add_argument("--learning-rate", type=float, default=1e-4, metavar="LR",
                       help="AdamW learning rate (default 1e-4)")
    train.add_argument("--resolution", type=int, metavar="PX",
                       help="training side in pixels; pictures go to aspect-ratio buckets of about "
                            "PX² (default: the model's native size)")
    train.add_argument("--seed", type=int, default=0, help="one seed, the same weights (default 0)")
    train.add_argument("--checkpoint-every", type=int, default=100, metavar="N",
                       help="write a resumable checkpoint every N steps (default 100)")
    train.add_argument("--quiet", action="store_true", help="no progress display")

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
                   "build": _build, "cache": _cache, "lsp": _lsp, "doctor": _doctor,
                   "train": _train}[args.command]
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


def _train(args) -> int:
    """Train NAME's LoRA on its refs: with the profile's keyframe model (docs/training.md)."""
    result = _compiled_or_report(args)
    if result is None:
        return EXIT_ERRORS
    film = result.film
    asset, kind = film.location(args.name), "location"
    if asset is None:
        asset, kind = film.character(args.name), "character"
    if asset is None:
        names = [item.name for item in film.locations + film.characters]
        raise _UsageError(f"no location or character {args.name!r} in {args.script}"
                          + (f"; declared: {', '.join(names)}" if names else ""))
    if not asset.refs:
        raise _UsageError(f"{asset.name} has no `refs:` to train on; add pictures, e.g. "
                          f"[[{kind} {asset.name}: …; refs: refs/{asset.name.lower()}/]]")
    profile = _profile(args, film)
    config = profile.models["keyframe"]
    if not config.model:
        raise _UsageError(f"the {profile.name} profile draws keyframes with {config.backend}: "
                          f"there is no model to train; use --profile preview or final, or a "
                          f"moviola.toml profile with a keyframe model")
    from moviola.runtime import models
    from moviola.runtime import training

    settings = training.TrainSettings(
        rank=args.rank, steps=args.steps, learning_rate=args.learning_rate,
        resolution=args.resolution, seed=args.seed, checkpoint_every=args.checkpoint_every,
        device=profile.device, dtype=config.dtype)
    try:
        settings.check()
    except ValueError as error:
        raise _UsageError(str(error)) from None
    console = _console()
    trigger = training.trigger_phrase(asset.name, kind)
    progress, task = None, None
    if console.is_terminal and not args.quiet:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)

        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                            TextColumn("ETA"), TimeRemainingColumn(), console=console,
                            transient=True)

    def show(event) -> None:
        nonlocal task
        if isinstance(event, training.TrainStarted):
            resumed = f", resumed at step {event.start_step}" if event.start_step else ""
            console.print(f"training {trigger!r} on {event.examples} pictures "
                          f"({', '.join(f'{size}: {n}' for size, n in event.buckets.items())}) "
                          f"on {event.device} ({event.dtype}){resumed}")
            if progress is not None:
                task = progress.add_task(asset.name, total=event.steps,
                                         completed=event.start_step, loss="…")
        elif isinstance(event, training.TrainStep) and progress is not None:
            progress.update(task, completed=event.step, loss=f"{event.loss:.4f}")

    try:
        if progress is not None:
            progress.start()
        outcome = training.train_lora(
            config.model, _project(args.script), [ref.path for ref in asset.refs],
            Path(args.output), trigger=trigger, description=asset.description,
            settings=settings, on_event=show)
    except (training.DatasetError, training.TrainingError, models.ModelNotFound,
            models.ModelBroken, models.DeviceUnavailable) as error:
        console.print(f"[red]moviola: cannot train {asset.name}: {error}[/]")
        return EXIT_ERRORS
    except KeyboardInterrupt:
        console.print("moviola: interrupted; run the same command again to resume from the last "
                      "checkpoint")
        return 130
    finally:
        if progress is not None:
            progress.stop()
    console.print(f"[green]wrote {outcome.output}[/] (loss on the pictures {outcome.loss_before:.4f} "
                  f"→ {outcome.loss_after:.4f}); prompts call it with {trigger!r}")
    return EXIT_OK


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
