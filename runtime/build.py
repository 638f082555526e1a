"""The build driver: the one way a plan is rendered, for the CLI and the language server alike.

    plan = make_plan(film, project, "draft")       # one profile resolution (compiler.plan)
    output = output_path(script, "out/", plan)      # where the film goes; never over an input
    build = Build(plan, project, on_event)          # typed events (runtime/events.py)
    build.states()                                   # what is cached, without rendering
    report = build.run(output, workers=2)            # render, then install the film

A build first removes what killed builds left half-written in the cache (their process is
gone; a live build's temporaries are kept), then renders what the cache lacks, then installs
the film and its companions. Only one build of a project runs at a time in one process.
A Ray build with a shared store (``ClusterOptions.store``) uses that store as its cache instead
of the project's ``.moviola/cache`` (runtime/cluster.py, docs/cluster.md).
"""

from __future__ import annotations

import threading
from pathlib import Path

from moviola.compiler.plan import RenderPlan, cache_folder, plan_in_project as make_plan
from moviola.compiler.profiles import config_path

from .cache import Cache
from .cluster import ClusterError, ClusterOptions, open_store
from .events import OnEvent
from .executor import BuildError, BuildReport, Executor, FileDigests

__all__ = ["Build", "BuildError", "ClusterError", "ClusterOptions", "OutputError", "make_plan",
           "output_path", "cache_folder",
           "companions", "VIDEO_SUFFIXES"]

VIDEO_SUFFIXES = (".mp4", ".m4v")     # the mux writes MP4 (H.264, AAC, mov_text)


class OutputError(BuildError):
    """The output cannot be written where it was asked for (it would replace an input, or it
    is not a video file name): nothing was rendered."""


def companions(output: Path) -> dict[str, Path]:
    """Every path a build of ``output`` writes (the mp4 and what goes beside it)."""
    stem = output.with_suffix("")
    return {"film": output, "srt": stem.with_suffix(".srt"), "vtt": stem.with_suffix(".vtt"),
            "otio": stem.with_suffix(".otio"),
            "contact_sheet": stem.parent / f"{stem.name}.storyboard.png",
            "media": stem.parent / f"{stem.name}.media"}


def output_path(script: Path | str, requested: Path | str | None, plan: RenderPlan,
                project: Path | None = None) -> Path:
    """The mp4 a build writes: ``requested``, or inside it when it is a folder (``-o .``,
    ``-o out/``), named after the script; by default ``out/NAME.mp4`` beside the script.
    Raises :class:`OutputError` for a name that is not a video's, or for an output (or one of
    its companions) that would replace the script or any file the plan reads."""
    script = Path(script)
    project = Path(project) if project is not None else script.resolve().parent
    name = f"{script.stem}.mp4"
    if requested is None:
        output = project / "out" / name
    else:
        text = str(requested)
        output = Path(requested)
        if output.is_dir() or text.endswith(("/", "\\")) or output.name in (".", ".."):
            output = output / name
        elif output.suffix.lower() not in VIDEO_SUFFIXES:
            check_output(output, plan, project)        # `-o film.fountain`: say what it would replace
            raise OutputError(f"{text}: the film is an MP4 video; name it "
                              f"{output.with_suffix('.mp4')} (or give a folder to write "
                              f"{name} in)")
    check_output(output, plan, project)
    return output


def check_output(output: Path, plan: RenderPlan, project: Path) -> None:
    """Refuse an output whose writing would destroy something the build reads."""
    project = Path(project).resolve()
    protected = {Path(plan.film.path).resolve(): "the script"}
    config = config_path(project)
    if config is not None:
        protected[config.resolve()] = "the project's profiles"
    for job in plan.jobs:
        for relative in job.files:
            protected.setdefault((project / relative).resolve(), f"{relative}, which {job.label} reads")
    cache = cache_folder(project).resolve()
    for role, path in companions(Path(output)).items():
        target = path.resolve()
        if target == cache or cache in target.parents:
            raise OutputError(f"{path}: inside the render cache; write the film elsewhere")
        for source, what in protected.items():
            if target == source or source in target.parents or (role == "media" and target in source.parents):
                written = "the film" if role == "film" else f"its {role.replace('_', ' ')} ({path})"
                raise OutputError(f"{output}: writing {written} would replace {what}; "
                                  f"choose another output (-o)")


# one build of a project at a time in this process (the language server builds in a thread)
_building: set[Path] = set()
_building_lock = threading.Lock()


class Build:
    """One build of a plan in its project folder: the cache beside the script, typed events
    to ``on_event`` (which may raise to stop the build after the running job)."""

    def __init__(self, plan: RenderPlan, project: Path, on_event: OnEvent | None = None,
                 digests: FileDigests | None = None):
        self.plan = plan
        self.project = Path(project).resolve()
        self.cache = Cache(cache_folder(self.project))
        self.executor = Executor(plan, self.project, self.cache, on_event, digests)

    @property
    def finished(self) -> int:
        """How many jobs have a cache entry now (after a failed build: what is kept)."""
        return len(self.executor.entries)

    def states(self) -> dict[str, str]:
        """Each job's state without rendering: "cached", "render" or "after speech"."""
        return self.executor.dry_run()

    def why(self, states: dict[str, str]) -> dict[str, list[str]]:
        """For each job that will render, what changed since the last build's entry."""
        from .why import explain

        return explain(self.executor, states)

    def entry(self, ref):
        """The finished cache entry of a job of this build, or None."""
        return self.executor.entries.get(ref)

    def run(self, output: Path | None = None, workers: int = 1,
            timelines: tuple[str, ...] = ("otio",), cluster: ClusterOptions | None = None) -> BuildReport:
        """Render what the cache lacks; with ``output``, install the film there, with the
        editor's timeline in each of ``timelines`` (runtime/nle.py's formats). With
        ``cluster``, the jobs render on a Ray cluster (runtime/cluster.py)."""
        if output is not None:
            check_output(Path(output), self.plan, self.project)
        with _building_lock:
            if self.project in _building:
                raise BuildError("a build of this project is already running")
            _building.add(self.project)
        try:
            if cluster is not None and cluster.store is not None:
                # the store is the cache: its entries are looked up, committed, installed from
                self.cache = self.executor.cache = open_store(cluster.store)
            removed, freed = self.cache.remove_stale_temporaries()
            report = self.executor.run(workers=max(workers, 1), cluster=cluster)
            report.stale_temporaries = (removed, freed)
            if output is not None:
                self.executor.install(Path(output), report, timelines)
            return report
        finally:
            with _building_lock:
                _building.discard(self.project)
