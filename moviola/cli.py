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
    form.add_argument("--json", action="store_true",
                      help="machine-readable elements (parsing only: nothing is lowered or checked)")
    form.add_argument("--ir", action="store_true", help="the typed IR (JSON) after name resolution")
    _indent_option(parse)

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
    plan.add_argument("--why", action="store_true",
                      help="for each job that will render, what changed since the last build "
                           "(a line's text, a file's bytes, a model revision, an input…)")
    _indent_option(plan)
    plan.add_argument("--profile", metavar="NAME",
                      help="draft, laptop, preview, final or a profile of moviola.toml (default: the title page's)")

    build = commands.add_parser(
        "build", help="render the film (mp4 with subtitles, .srt/.vtt, .otio, contact sheet)",
        description="Render the film. Only jobs whose content changed render again; the rest "
                    "come from the cache in .moviola/ beside the script. An interrupted build "
                    "resumes where it stopped.",
        epilog="outputs beside the mp4: NAME.srt, NAME.vtt, NAME.otio (open in an NLE), "
               "NAME.storyboard.png and NAME.media/ (the clips, the mix and its dialogue, music "
               "and effects stems, which the timelines reference); --timeline xml,fcpxml,edl "
               "adds NAME.xml (FCP 7 XML: Premiere, Resolve), NAME.fcpxml (Final Cut Pro) and "
               "NAME.edl (CMX 3600)",
        formatter_class=formatter)
    build.add_argument("script", help="the .fountain file")
    build.add_argument("-o", "--output", metavar="FILE.mp4|FOLDER",
                       help="the mp4 to write, or a folder to write NAME.mp4 in (default: "
                            "out/NAME.mp4 beside the script); never the script or a file it reads")
    build.add_argument("--report", metavar="FILE.json", help="write a machine-readable build report")
    build.add_argument("--profile", metavar="NAME",
                       help="draft (CPU, no weights), laptop (CPU, a neural voice), preview, final or a "
                            "profile of moviola.toml "
                            "(default: the title page's Profile)")
    build.add_argument("--quiet", action="store_true", help="no progress display")
    build.add_argument("-j", "--jobs", type=int, metavar="N",
                       help="render in N processes (default: one per CPU core)")
    build.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="render on a Ray cluster (the `ray` extra): ADDRESS is HEAD:6379, "
                            "ray://HEAD:10001 or auto; without it a local Ray starts. Cached jobs "
                            "never leave this machine; the cache stays here, or in --ray-store (docs/cluster.md)")
    build.add_argument("--ray-store", metavar="PATH",
                       help="with Ray: a folder every machine of the cluster mounts at PATH; it is "
                            "the build's cache, and workers read and commit entries there instead "
                            "of sending their bytes through Ray (default: [build] ray_store of "
                            "moviola.toml; docs/cluster.md)")
    build.add_argument("--timeline", metavar="FORMATS",
                       help="editor timelines to write besides NAME.otio, comma-separated: xml "
                            "(FCP 7 XML), fcpxml (Final Cut Pro), edl (CMX 3600)")

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
                    "entry the last build of each script did not use, and what killed builds "
                    "left half-written.",
        formatter_class=formatter)
    cache.add_argument("script", help="a .fountain file of the project (its folder holds the cache)")
    cache.add_argument("--prune", action="store_true", help="delete entries no last build used")
    cache.add_argument("--ray-store", metavar="PATH",
                       help="also show (or prune) the Ray builds' shared store at PATH (default: "
                            "[build] ray_store of moviola.toml); pruning it keeps the last build "
                            "of every script built into it")

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
    train.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                       help="write a resumable checkpoint every N steps (default: every tenth "
                            "of the run, at most 100)")
    train.add_argument("--quiet", action="store_true", help="no progress display")

    doctor = commands.add_parser(
        "doctor", help="report the device, installed backends and which models are present",
        description="Check what the GPU profiles need: the compute device, the optional "
                    "libraries (torch, diffusers, transformers, coqui-tts) and, for the project "
                    "of SCRIPT (or the current folder), every model its profiles name.",
        formatter_class=formatter)
    doctor.add_argument("script", nargs="?", help="a .fountain file (its folder's moviola.toml is read)")
    _add_document_commands(commands, formatter)
    return parser


def _indent_option(command) -> None:
    command.add_argument("--indent", type=int, metavar="N",
                         help="pretty-print JSON with N spaces (default: 2 on a terminal; "
                              "compact, one line, when piped)")


def _write_json(value, indent: int | None, chunks=None) -> None:
    """Write ``value`` as JSON on stdout: indented on a terminal or with ``--indent``, else
    compact, streamed from ``chunks`` (an iterable of JSON text) when given, so a long script's
    output starts at once and is never held whole."""
    out = sys.stdout
    if indent is None and out.isatty():
        indent = 2
    if indent is not None or chunks is None:
        separators = None if indent is not None else (",", ":")
        out.write(json.dumps(value, indent=indent, ensure_ascii=False, separators=separators))
    else:
        write = out.write
        for chunk in chunks:
            write(chunk)
    out.write("\n")


def _compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _add_document_commands(commands, formatter) -> None:
    """pdf, report, export, import and diff: the documents around the film (moviola/documents/)."""
    export = commands.add_parser(
        "export", help="write the screenplay in another format (FDX for Final Draft)",
        description="Write the script as a Final Draft document. Every Fountain element is kept; "
                    "notes, Moviola's annotations among them, become Final Draft script notes "
                    "and come back on import.",
        epilog="example: moviola export film.fountain --to fdx -o film.fdx",
        formatter_class=formatter)
    export.add_argument("script", help="the .fountain file")
    export.add_argument("--to", choices=("fdx",), default="fdx", help="the format (fdx)")
    export.add_argument("-o", "--output", help="the file to write (default: NAME.fdx beside the script)")
    export.add_argument("--force", action="store_true", help="overwrite the output if it exists")

    imported = commands.add_parser(
        "import", help="turn a Final Draft .fdx file into a Fountain script",
        description="Read a Final Draft (.fdx) screenplay and write it as Fountain: headings "
                    "with scene numbers, action, dialogue (dual too), transitions, lyrics, "
                    "outline sections, scene summaries as synopses, page breaks, emphasis, "
                    "and script notes as [[notes]].",
        epilog="example: moviola import script.fdx -o film.fountain",
        formatter_class=formatter)
    imported.add_argument("fdx", help="the .fdx file")
    imported.add_argument("-o", "--output", help="the .fountain to write (default: NAME.fountain beside it)")
    imported.add_argument("--force", action="store_true", help="overwrite the output if it exists")

    diff = commands.add_parser(
        "diff", help="what a change does to the film: shots, lines, music, jobs to re-render and their cost",
        description="Compile the script at two git revisions (or a revision and the working tree), "
                    "plan both under a profile and show, shot by shot, what changed in the film: "
                    "added, removed, retimed, re-prompted and reframed shots, changed lines, music "
                    "cues; then the jobs that will render again and the estimated time.",
        epilog="examples:\n"
               "  moviola diff HEAD film.fountain              the working tree against the last commit\n"
               "  moviola diff main feature film.fountain --profile final\n"
               "  moviola diff --textconv film.fountain        the shot list text git diff compares\n"
               "git diff driver: see docs/cli.md (diff.moviola.textconv)",
        formatter_class=formatter)
    diff.add_argument("arguments", nargs="*", metavar="REV1 [REV2] FILE",
                      help="the old revision, the new one (default: the working tree), the script")
    diff.add_argument("--profile", metavar="NAME", default="draft",
                      help="plan both sides under this profile (default draft)")
    diff.add_argument("--format", choices=("rich", "json"), default="rich",
                      help="rich (default): tables for a terminal; json for machines")
    diff.add_argument("--textconv", metavar="FILE",
                      help="print FILE's stable shot list (for git's diff.moviola.textconv) and exit")
    diff.add_argument("--git-external", action="store_true",
                      help="the arguments are git's external diff arguments (diff.moviola.command): "
                           "PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE")

    pdf = commands.add_parser(
        "pdf", help="print the screenplay as an industry-format PDF",
        description="Set the script in screenplay format: Courier 12 pt, the standard margins and "
                    "indents, a title page from the title-page keys, page numbers, speeches split "
                    "across pages with (MORE) and (CONT'D), headings kept with their scene, dual "
                    "dialogue side by side. Notes, Moviola annotations and boneyard are left out. "
                    "One page runs about a minute of screen time.",
        epilog="example: moviola pdf film.fountain -o film.pdf --paper a4 --scene-numbers",
        formatter_class=formatter)
    pdf.add_argument("script", help="the .fountain file")
    pdf.add_argument("-o", "--output", help="the PDF to write (default: NAME.pdf beside the script)")
    pdf.add_argument("--paper", choices=("letter", "a4"), default="letter",
                     help="US letter (default) or A4")
    pdf.add_argument("--scene-numbers", action="store_true",
                     help="number the scenes in both margins (a heading's own #1A# wins)")
    pdf.add_argument("--notes", action="store_true",
                     help="print notes, Moviola annotations and settings too (in grey, in [[ ]])")

    report = commands.add_parser(
        "report", help="production paperwork: scene breakdown, shot list, cast, storyboard",
        description="Reports read from the compiled film. --breakdown: per scene its location, "
                    "time of day, cast, props (upper-case words of the action), sound effects, "
                    "music, length in pages and eighths, estimated runtime. --shots: per shot its "
                    "size, angle, move, duration, prompt and source. --cast: per character their "
                    "scenes and lines. --storyboard: a PDF sheet per scene of the keyframes of "
                    "the last build (build the film first).",
        epilog="examples:\n  moviola report film.fountain --breakdown\n"
               "  moviola report film.fountain --shots --format csv -o shots.csv\n"
               "  moviola report film.fountain --storyboard -o board.pdf",
        formatter_class=formatter)
    report.add_argument("script", help="the .fountain file")
    kind = report.add_mutually_exclusive_group(required=True)
    kind.add_argument("--breakdown", action="store_const", const="breakdown", dest="kind",
                      help="one row per scene")
    kind.add_argument("--shots", action="store_const", const="shots", dest="kind",
                      help="one row per shot of the découpage")
    kind.add_argument("--cast", action="store_const", const="cast", dest="kind",
                      help="one row per character")
    kind.add_argument("--storyboard", action="store_const", const="storyboard", dest="kind",
                      help="a PDF of the rendered keyframes, a sheet per scene")
    report.add_argument("--format", choices=("table", "csv", "json"),
                        help="table (the terminal, default), csv or json (default from -o's suffix)")
    report.add_argument("-o", "--output", help="write to this file instead of the terminal")
    report.add_argument("--profile", metavar="NAME",
                        help="--storyboard: the profile the film was built with (default: the title page's)")
    report.add_argument("--paper", choices=("letter", "a4"), default="letter",
                        help="page size for the page counts and the storyboard")


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
    if args.command in ("check", "parse", "outline"):
        # These commands build one large, acyclic object graph (a feature film: 50,000 elements
        # and IR nodes) and exit: the cycle collector would only walk it again and again.
        import gc

        gc.disable()
    try:
        handler = {"check": _check, "parse": _parse, "outline": _outline, "plan": _plan,
                   "build": _build, "dataset": _dataset, "cache": _cache, "lsp": _lsp, "doctor": _doctor,
                   "export": _export, "import": _import, "diff": _diff,
                   "pdf": _pdf, "report": _report, "train": _train}[args.command]
        return handler(args)
    except _UsageError as error:
        print(f"moviola: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("moviola: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader stopped early (`moviola parse --json | head`): not an error; stdout goes
        # to the null device so the interpreter's final flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


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
    from moviola import render      # rich: only once there is something to show

    if args.format == "json":
        print(render.as_json(diagnostics, args.script))
    elif args.format == "concise":
        for diagnostic in diagnostics:
            print(render.concise(diagnostic, args.script))
    else:
        film = result.film
        counts = f"{len(film.scenes)} scenes, {len(film.shots)} shots"
        verdict = render.summary(diagnostics)
        if not diagnostics and not sys.stdout.isatty():
            print(f"{args.script}: {verdict} ({counts})")     # nothing to style: no rich
            return EXIT_OK
        console = _console()
        for diagnostic in diagnostics:
            console.print(render.human(diagnostic, result.script.source, args.script))
        style = "red" if result.errors else ("yellow" if diagnostics else "green")
        console.print(f"[{style}]{args.script}: {verdict}[/] ({counts})")
    failed = bool(result.errors) or (args.deny_warnings and bool(diagnostics))
    return EXIT_ERRORS if failed else EXIT_OK


def _parse(args) -> int:
    if args.ir:
        from moviola.compiler.ir import dump

        _write_json(dump(_compile(args.script).film), args.indent)
        return EXIT_OK
    from moviola.compiler.fountain import parse
    from moviola.compiler.source import ScriptNotReadable, read_script

    try:
        script = parse(read_script(args.script), args.script)
    except ScriptNotReadable as error:
        raise _UsageError(str(error)) from None
    if args.json:
        if args.indent is not None or sys.stdout.isatty():
            _write_json(script.to_json(), args.indent)
        else:
            _write_json(None, None, _element_chunks(script))
        return EXIT_OK
    from rich.table import Table

    table = Table("line", "type", "text", box=None, header_style="bold")
    for field in script.title_page:
        table.add_row(str(field.span.line), f"title: {field.key}", field.value)
    for element in script.elements:
        label = element.kind
        if element.kind == "character" and element.dual:
            label += " (dual)"
        table.add_row(str(element.span.line), label, element.plain)
    _console().print(table)
    return EXIT_OK


def _element_chunks(script):
    """``script.to_json()`` as compact JSON text, a few hundred elements at a time."""
    yield '{"title_page":' + _compact(script.title_json()) + ',"elements":['
    elements = script.elements
    for start in range(0, len(elements), 1024):
        text = _compact([e.to_json() for e in elements[start:start + 1024]])[1:-1]
        yield ("," + text) if start else text
    yield "]}"


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
    from moviola.documents.pagination import paginate

    pages = paginate(result.script).page_count      # a page of screenplay runs about a minute
    console.print(f"[bold]{title}[/]" + (f" — {settings.author}" if settings.author else ""))
    console.print(f"{width}x{height} @ {settings.fps:g} fps · profile {settings.profile} · "
                  f"seed {settings.seed} · estimated runtime [bold]{_clock(total)}[/] · "
                  f"{pages} page{'s' if pages != 1 else ''} (US letter)")
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

    from moviola.compiler.decoupage import decoupage

    directives = [cut for cut in decoupage(film) if cut.explicit]
    if directives:     # the shots the script wrote, labelled as the plan and the editor label them
        shots = Table("shot", "line", "size", "move", "camera", "duration", title="Shot directives",
                      title_justify="left", header_style="bold")
        for cut in directives:
            shots.add_row(cut.label, str(cut.span.line), cut.size.value, str(cut.move),
                          ", ".join(ir.written_camera(cut)) or "—",
                          f"{cut.duration:g}s" if cut.duration is not None else "—")
        console.print(shots)

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


def _pdf(args) -> int:
    from moviola.documents.pagination import paginate
    from moviola.documents.pdf import PdfError, write_pdf

    result = _compile(args.script)
    document = paginate(result.script, args.paper, notes=args.notes, scene_numbers=args.scene_numbers)
    output = Path(args.output) if args.output else Path(args.script).with_suffix(".pdf")
    settings = result.film.settings
    try:
        write_pdf(document, output, title=settings.title, author=settings.author)
    except PdfError as error:
        raise _UsageError(str(error)) from None
    pages = document.page_count
    console = _console()
    console.print(f"[green]wrote {output}[/] ({pages} page{'s' if pages != 1 else ''}"
                  f"{' and a title page' if document.title_page else ''}, {args.paper})")
    _mention_errors(console, result, args.script)   # the script prints; the film would not build
    return EXIT_OK


def _mention_errors(console, result, script: str) -> None:
    if result.errors:
        from moviola import render

        console.print(f"[yellow]{render.summary(list(result.diagnostics))}: run "
                      f"`moviola check {script}` before building[/]")


def _report(args) -> int:
    from moviola.documents import report

    if args.kind == "storyboard":
        return _storyboard(args)
    form = args.format or (Path(args.output).suffix.lstrip(".").lower() if args.output else "table")
    if form not in ("table", "csv", "json"):
        raise _UsageError(f"cannot tell the format of {args.output}: name it .csv or .json, or "
                          f"pass --format")
    if form == "table" and args.output:
        raise _UsageError("a table is for the terminal: pass --format csv or --format json with -o")
    from moviola.compiler.decoupage import decoupage
    from moviola.documents.pagination import paginate

    result = _compile(args.script)
    cuts = decoupage(result.film)
    if args.kind == "breakdown":
        made = report.breakdown(result, paginate(result.script, args.paper), cuts)
    elif args.kind == "shots":
        made = report.shot_list(result, cuts)
    else:
        made = report.cast_list(result, cuts)
    if form == "table":
        from rich.table import Table

        table = Table(*made.table_columns, title=f"{made.title}: {args.script}",
                      title_justify="left", header_style="bold")
        for row in made.rows:
            table.add_row(*(made.cell(row, column).replace("; ", ", ") for column in made.table_columns))
        console = _console()
        console.print(table)
        _mention_errors(console, result, args.script)
        return EXIT_OK
    text = made.to_json() + "\n" if form == "json" else made.to_csv()
    if args.output:
        _write_text(Path(args.output), text)
        _console().print(f"[green]wrote {args.output}[/] ({len(made.rows)} rows)")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _write_text(path: Path, text: str) -> None:
    from moviola.documents.files import write_file

    try:
        write_file(path, text.encode("utf-8"), overwrite=True, parents=False)
    except OSError as error:
        raise _UsageError(f"cannot write {path}: {error.strerror or error}") from None


def _storyboard(args) -> int:
    from moviola.documents.pagination import PAPERS
    from moviola.documents.pdf import PdfError
    from moviola.documents.storyboard import NotBuilt, keyframes, write_storyboard
    from moviola.runtime.build import Build

    planned = _planned(args)
    if planned is None:
        return EXIT_ERRORS
    render_plan, project = planned
    build = Build(render_plan, project)
    try:
        frames = keyframes(render_plan, build.states(), build.entry)
    except NotBuilt as error:
        print(f"moviola: error: {args.script} has not been built as it is now ({error}); run "
              f"`moviola build {args.script}` first", file=sys.stderr)
        return EXIT_ERRORS
    output = Path(args.output) if args.output else Path(args.script).with_suffix(".storyboard.pdf")
    try:
        write_storyboard(render_plan, frames, output, PAPERS[args.paper])
    except PdfError as error:
        raise _UsageError(str(error)) from None
    _console().print(f"[green]wrote {output}[/] ({len(frames)} keyframes)")
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


def _planned(args):
    """(render plan, project folder) for a script that compiles, else None after printing its
    errors. The profile (--profile, else the title page's) is resolved by the build driver's
    one resolution: a broken moviola.toml or an unknown name is a usage error."""
    from moviola.compiler.profiles import ProfileError
    from moviola.runtime.build import make_plan

    result = _compiled_or_report(args)
    if result is None:
        return None
    project = _project(args.script)
    try:
        return make_plan(result.film, project, args.profile), project
    except ProfileError as error:
        raise _UsageError(str(error)) from None


def _plan(args) -> int:
    from rich.table import Table

    from moviola.runtime.build import Build

    planned = _planned(args)
    if planned is None:
        return EXIT_ERRORS
    render_plan, project = planned
    build = Build(render_plan, project)
    states = build.states()
    reasons = build.why(states) if args.why else {}
    if args.json:
        data = render_plan.to_json()
        for job in data["jobs"]:
            job["state"] = states[job["id"]]
            if job["id"] in reasons:
                job["why"] = reasons[job["id"]]
        _write_json(data, args.indent)
        return EXIT_OK
    if args.why:
        return _print_why(render_plan, states, reasons)
    console = _console()
    counts: dict[str, list[int]] = {}
    for job in render_plan.jobs:
        tally = counts.setdefault(job.kind, [0, 0])
        tally[0] += 1
        tally[1] += states[job.id] == "cached"
    from moviola.compiler.estimate import job_seconds

    table = Table("job", "kind", "state", "key", "est.", "source", title="Render plan",
                  title_justify="left", header_style="bold")
    style = {"cached": "green", "render": "yellow", "after speech": "cyan"}
    for job in render_plan.jobs:
        state = states[job.id]
        table.add_row(job.label, job.kind, f"[{style[state]}]{state}[/]", job.key[:12],
                      _clock(job_seconds(job, render_plan)),
                      f"line {job.span.line}" if job.span else "")
    console.print(table)
    _print_costs(console, render_plan)
    for note in render_plan.notes:
        console.print(f"[yellow]note:[/] {note}")
    summary = ", ".join(f"{kind} {cached}/{total} cached" for kind, (total, cached) in counts.items())
    console.print(f"{len(render_plan.cuts)} shots, {len(render_plan.jobs)} jobs ({summary}); "
                  f"estimated runtime {_clock(render_plan.estimated_seconds)} "
                  f"(speech lengths fix the final timing)")
    return EXIT_OK


def _print_costs(console, render_plan) -> None:
    """Per kind of job: the model, its memory and the render time, with where each time figure
    comes from ("est.": from published figures, until a GPU run measures it)."""
    from rich.table import Table

    from moviola.compiler.estimate import REFERENCE_GPU, UNITS, by_kind

    lines = by_kind(render_plan)
    gpu = render_plan.config is not None and render_plan.config.device != "cpu"
    table = Table("kind", "backend", "model", "jobs", "work", "memory", "time", "figures",
                  title=f"Render time by kind (profile {render_plan.profile})",
                  title_justify="left", header_style="bold")
    sources: list[str] = []
    for line in lines:
        work = _work(line.units, UNITS.get(line.kind, "job"), line.jobs)
        memory = f"{line.memory_gb:g} GB est." if line.memory_gb is not None else "-"
        time = _clock(line.seconds) + ("" if line.measured else " est.")
        if line.source not in sources:
            sources.append(line.source)
        table.add_row(line.kind, line.backend, line.model or "-", str(line.jobs), work, memory,
                      time, f"[{sources.index(line.source) + 1}]")
    console.print(table)
    for number, source in enumerate(sources, 1):
        console.print(f"  [{number}] {source}", markup=False)
    total = sum(line.seconds for line in lines)
    estimated = not all(line.measured for line in lines)
    where = REFERENCE_GPU if gpu else "a CPU like the development machine's (figures per core)"
    console.print(f"render time ~{_clock(total)}{' est.' if estimated else ''}, one job after "
                  f"another, on {where}" + ("; figures marked est. are estimates from published "
                                            "figures, not measured (docs/benchmarks.md)"
                                            if estimated else ""))


def _work(units: float, unit: str, jobs: int) -> str:
    """"95 s of speech", "55 keyframes", "1 job": a kind's units of work, for people."""
    if unit == "job":
        units = jobs
    if unit.startswith("second of "):
        return f"{units:.0f} s of {unit.removeprefix('second of ')}"
    return f"{units:.0f} {unit}{'' if round(units) == 1 else 's'}"


def _print_why(render_plan, states: dict, reasons: dict) -> int:
    console = _console()
    rendering = [job for job in render_plan.jobs if states[job.id] != "cached"]
    if not rendering:
        console.print(f"[green]nothing to render: all {len(render_plan.jobs)} jobs are cached[/]")
        return EXIT_OK
    for job in rendering:
        where = f" (line {job.span.line})" if job.span else ""
        console.print(f"[bold]{job.label}[/]{where} [yellow]{states[job.id]}[/]", markup=True)
        for reason in reasons.get(job.id, []):
            console.print(f"  {reason}", markup=False)
    console.print(f"{len(rendering)} of {len(render_plan.jobs)} jobs will render")
    return EXIT_OK


def _build(args) -> int:
    from moviola.runtime.build import Build, BuildError, OutputError, output_path
    from moviola.runtime.nle import timeline_formats

    try:
        timelines = timeline_formats(args.timeline)
    except ValueError as error:
        _console().print(f"[red]moviola: --timeline: {error}[/]")
        return EXIT_USAGE
    planned = _planned(args)
    if planned is None:
        return EXIT_ERRORS
    render_plan, project = planned
    try:
        output = output_path(args.script, args.output, render_plan, project)
    except OutputError as error:
        raise _UsageError(str(error)) from None
    cluster = _cluster(args, project)
    console = _console()
    for note in render_plan.notes if not args.quiet else ():
        console.print(f"[yellow]note:[/] {note}")
    progress = _BuildProgress(console, quiet=args.quiet)
    build = Build(render_plan, project, progress.event)
    try:
        with progress:
            import os

            report = build.run(output, workers=max(args.jobs or os.cpu_count() or 1, 1),
                               timelines=timelines, cluster=cluster)
    except BuildError as error:
        console.print(f"[red]moviola: build failed: {error}[/]")
        if build.finished:                   # a build stopped before its first job has none
            console.print("finished jobs are cached; fix the problem and build again to resume")
        return EXIT_ERRORS
    if args.report:
        Path(args.report).write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False), "utf-8")
    data = report.to_json()["jobs"]
    removed, freed = report.stale_temporaries
    if removed and not args.quiet:
        console.print(f"removed {removed} half-written cache entr{'ies' if removed != 1 else 'y'} "
                      f"a killed build left ({freed / 1e6:.1f} MB)")
    from rich.markup import escape

    for notice in report.notices:                # a prompt's words a model will not see…
        where = f"line {notice['line']}, " if notice["line"] else ""
        console.print(f"[yellow]warning:[/] {where}{escape(notice['text'])}")
    console.print(f"[green]built {output}[/] ({_clock(report.film_seconds)} of film in "
                  f"{report.wall_seconds:.1f}s: {data['executed']} jobs rendered, "
                  f"{data['cached']} from the cache)")
    for name, path in report.outputs.items():
        if name != "film":
            console.print(f"  {name}: {path}")
    return EXIT_OK


def _build_settings(project: Path):
    from moviola.compiler.profiles import ProfileError, load_build_settings

    try:
        return load_build_settings(project)
    except ProfileError as error:
        raise _UsageError(str(error)) from None


def _ray_store(args, project: Path) -> str | None:
    """The Ray builds' shared store: --ray-store PATH, else moviola.toml's [build] ray_store."""
    return args.ray_store or _build_settings(project).ray_store


def _cluster(args, project: Path):
    """Where the build's jobs render: --ray ADDRESS, else moviola.toml's [build] executor; with
    the shared store of :func:`_ray_store`."""
    from moviola.runtime.build import ClusterOptions

    settings = _build_settings(project)
    store = _ray_store(args, project)
    if args.ray is not None:
        return ClusterOptions(args.ray, store)
    if settings.executor == "ray":
        return ClusterOptions(settings.ray_address, store)
    if args.ray_store:
        raise _UsageError("--ray-store needs the Ray executor: add --ray, or executor = \"ray\" "
                          "under [build] in moviola.toml")
    return None


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

    def event(self, event) -> None:
        from moviola.runtime.events import BuildStarted, JobFinished, JobProgress, JobStarted

        if isinstance(event, BuildStarted) and self.progress is not None:
            self.task = self.progress.add_task("planning", total=event.total)
        elif isinstance(event, JobStarted) and self.progress is not None:
            self.progress.update(self.task, description=event.job.label)
        elif isinstance(event, JobProgress) and self.progress is not None:
            self.progress.update(self.task, description=f"{event.job.label}: step {event.done}/"
                                 f"{event.total}" + (f", {event.detail}" if event.detail else ""))
        elif isinstance(event, JobFinished):
            if self.progress is not None:
                self.progress.advance(self.task)
            elif not self.quiet and not event.cached:
                self.console.print(f"rendered {event.job.label} ({event.seconds:.2f}s)")


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
    from moviola.compiler.profiles import ProfileError, resolve_profile

    try:
        profile = resolve_profile(_project(args.script), args.profile or film.settings.profile)
    except ProfileError as error:
        raise _UsageError(str(error)) from None
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


def _dataset(args) -> int:
    from rich.table import Table

    from moviola import render
    from moviola.compiler.diagnostics import closest
    from moviola.runtime.dataset import check_film

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
    from moviola.runtime.build import cache_folder
    from moviola.runtime.cache import Cache
    from moviola.runtime.executor import referenced_keys

    from moviola.runtime.cluster import ClusterError, open_store

    project = _project(args.script)
    caches = [Cache(cache_folder(project))]
    store = _ray_store(args, project)
    if store is not None:
        try:
            caches.append(open_store(store))
        except ClusterError as error:
            raise _UsageError(str(error)) from None
    for cache in caches:
        entries, size = cache.size()
        print(f"{cache.root}: {entries} entries, {size / 1e6:.1f} MB")
        if args.prune:
            removed, freed = cache.prune(referenced_keys(cache))
            print(f"pruned {removed} entries not used by the last builds ({freed / 1e6:.1f} MB freed)")
            removed, freed = cache.remove_stale_temporaries()
            print(f"removed {removed} half-written entries left by killed builds "
                  f"({freed / 1e6:.1f} MB freed)")
        else:
            stale = cache.stale_temporaries()
            if stale:
                print(f"{len(stale)} half-written entries left by killed builds "
                      f"(the next build or --prune removes them)")
    return EXIT_OK


def _lsp(args) -> int:
    from moviola.lsp import serve

    serve()
    return EXIT_OK


def _doctor(args) -> int:
    from moviola.runtime.doctor import report

    project = _project(args.script) if args.script else Path.cwd()
    return report(project, _console())


def _write_document(path: Path, data: bytes, force: bool) -> None:
    from moviola.documents.files import OutputExists, write_file

    try:
        write_file(path, data, overwrite=force)
    except OutputExists as error:
        raise _UsageError(str(error)) from None
    except OSError as error:
        raise _UsageError(f"cannot write {path}: {error.strerror or error}") from None


def _export(args) -> int:
    from moviola.compiler import fountain
    from moviola.compiler.api import ScriptNotReadable, read_script
    from moviola.documents import fdx

    try:
        text = read_script(args.script)
    except ScriptNotReadable as error:
        raise _UsageError(str(error)) from None
    script = fountain.parse(text, args.script)
    output = Path(args.output) if args.output else Path(args.script).with_suffix(".fdx")
    _write_document(output, fdx.export(script), args.force)
    notes = sum(1 for element in script.elements if element.kind == "note")
    _console().print(f"[green]wrote {output}[/] ({len(script.elements)} elements, "
                     f"{notes} notes as script notes)")
    return EXIT_OK


def _import(args) -> int:
    from moviola.compiler import fountain
    from moviola.documents import fdx
    from moviola.documents.fountain_writer import write

    from moviola.compiler.source import ScriptNotReadable, read_file_bytes

    source = Path(args.fdx)
    try:
        data = read_file_bytes(source, "an FDX file")
    except ScriptNotReadable as error:
        raise _UsageError(str(error)) from None
    try:
        title_page, paragraphs = fdx.read_fdx(data, str(source))
    except fdx.FdxError as error:
        print(f"moviola: error: {error}", file=sys.stderr)
        return EXIT_ERRORS
    text = write(title_page, paragraphs)
    output = Path(args.output) if args.output else source.with_suffix(".fountain")
    _write_document(output, text.encode("utf-8"), args.force)
    script = fountain.parse(text, str(output))
    console = _console()
    for message in fdx.unkept(paragraphs, script):
        console.print(f"[yellow]warning: {message}[/]")
    scenes = sum(1 for element in script.elements if element.kind == "scene_heading")
    console.print(f"[green]wrote {output}[/] ({scenes} scenes, {len(script.elements)} elements)")
    return EXIT_OK


def _diff(args) -> int:
    from moviola.documents import diff

    if args.textconv:
        from moviola.compiler.api import ScriptNotReadable, read_script

        try:
            text = read_script(args.textconv)
        except ScriptNotReadable as error:
            raise _UsageError(str(error)) from None
        # git hands textconv a temporary copy: the project's files are not beside it
        sys.stdout.write(diff.shot_list(text, args.textconv, args.profile))
        return EXIT_OK
    if args.git_external:
        if len(args.arguments) < 7:
            raise _UsageError("--git-external takes git's seven external diff arguments")
        path, old_file, old_hex, _, new_file, new_hex, _ = args.arguments[:7]

        def label(file: str, blob: str) -> str:
            # git names a working-tree file with an all-zero id, a missing side with /dev/null
            if file == "/dev/null":
                return "(no file)"
            return diff.WORKING_TREE if set(blob) <= {"0", "."} else blob[:10]

        try:
            result = diff.diff_texts(Path(path), Path(old_file), Path(new_file), args.profile,
                                     label(old_file, old_hex), label(new_file, new_hex))
        except diff.DiffError as error:
            # git stops the whole diff when its external command fails: say why, and go on
            print(f"moviola diff {path}: {error}")
            return EXIT_OK
        print(f"moviola diff {path}")
        _print_diff(result)
        return EXIT_OK
    if len(args.arguments) not in (2, 3):
        raise _UsageError("diff needs REV1 [REV2] FILE (or --textconv FILE)")
    *revisions, script = args.arguments
    try:
        result = diff.diff(Path(script), revisions[0], revisions[1] if len(revisions) > 1 else None,
                           args.profile)
    except diff.DiffError as error:
        raise _UsageError(str(error)) from None
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return EXIT_OK
    _print_diff(result)
    return EXIT_OK


def _print_diff(result) -> None:
    from rich.table import Table

    console = _console()
    old, new = result.old, result.new
    console.print(f"[bold]{old.revision}[/] → [bold]{new.revision}[/] under profile "
                  f"[bold]{result.profile}[/]: {len(old.plan.cuts)} → {len(new.plan.cuts)} shots, "
                  f"film {_clock(old.plan.estimated_seconds)} → {_clock(new.plan.estimated_seconds)}")
    style = {"added": "green", "removed": "red", "changed": "yellow", "unchanged": "dim"}
    shots = Table("shot", "", "what changed", "re-renders", title="Shots", title_justify="left",
                  header_style="bold")
    for shot in result.shots:
        if shot.status == "unchanged" and not shot.jobs:
            continue
        what = "; ".join(shot.changes) or "same on screen (renumbered, or an input changed)"
        jobs = ", ".join(new.plan.job(job_id).kind for job_id in shot.jobs)
        shots.add_row(f"{shot.cut.label} {shot.id}", f"[{style[shot.status]}]{shot.status}[/]",
                      what, jobs)
    if shots.row_count:
        console.print(shots)
    else:
        console.print("no shot changed")
    from rich.markup import escape

    for shot in result.shots:
        for line in shot.lines:
            console.print(f"[bold]{shot.cut.label}[/] {escape(line['character'])}:")
            if line["old"] is not None:
                console.print(f"  [red]- {escape(line['old'])}[/]")
            if line["new"] is not None:
                console.print(f"  [green]+ {escape(line['new'])}[/]")
    if result.render:
        jobs = Table("job", "kind", "why", "est.", title="Jobs that render again",
                     title_justify="left", header_style="bold")
        for change in result.render:
            jobs.add_row(change.job.label, change.job.kind, change.reason, f"{change.seconds:.1f}s")
        console.print(jobs)
    basis = "measured unit costs" if result.measured else "unit costs partly estimated, not measured"
    console.print(f"{len(result.render)} of {len(new.plan.jobs)} jobs render again: "
                  f"[bold]~{result.render_seconds:.1f}s[/] under {result.profile} ({basis})"
                  + (f"; {len(result.after_speech)} more once new speech lengths are known"
                     if result.after_speech else "")
                  + (f"; {len(result.removed_jobs)} jobs no longer needed" if result.removed_jobs else ""))


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
