"""What a change to the script does to the film: shot by shot, and the render it costs.

Both sides are compiled and planned under one profile: a git revision (the script, moviola.toml
and the list of project files as ``git`` stores them at that revision; files are only checked for
existence when compiling, so they are not copied) or the working tree. Shots are matched by their
cut identity (scene heading, its occurrence, ordinal: see ``derive_seed``), so an inserted scene
leaves every other shot matched. A job re-renders when its static key is new or differs, or when
a project file it reads changed between the two sides; compiler/estimate.py prices it, the same
way ``moviola plan`` does.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from moviola.compiler import estimate
from moviola.compiler.api import ScriptNotReadable, compile_text, read_script
from moviola.compiler.plan import plan as make_plan
from moviola.compiler.profiles import ProfileError, config_path, load_profiles

WORKING_TREE = "working tree"


class DiffError(Exception):
    """A revision, a script or a profile that cannot be compared (the message says why)."""


@dataclass
class Side:
    """One side of the comparison: the compiled script and its plan."""

    revision: str                       # a git revision, or WORKING_TREE
    compilation: object
    plan: object
    files: dict[str, str]               # project-relative file → git blob id


@dataclass
class ShotChange:
    id: str                             # the cut identity
    status: str                         # added, removed, changed, unchanged
    old: object | None
    new: object | None
    changes: list[str] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)     # {"character", "old", "new"}
    jobs: list[str] = field(default_factory=list)       # its jobs that re-render

    @property
    def cut(self):
        return self.new if self.new is not None else self.old


@dataclass
class JobChange:
    job: object
    reason: str
    seconds: float


@dataclass
class FilmDiff:
    old: Side
    new: Side
    profile: str
    shots: list[ShotChange]
    render: list[JobChange]             # jobs of the new plan that re-render
    removed_jobs: list[str]
    after_speech: list[str]             # unchanged jobs timed by a re-rendered speech
    render_seconds: float
    measured: bool                      # every unit cost behind render_seconds was measured

    def to_json(self) -> dict:
        return {
            "old": _side_json(self.old), "new": _side_json(self.new), "profile": self.profile,
            "shots": [{
                "id": s.id, "label": s.cut.label, "status": s.status, "changes": s.changes,
                **({"old_id": s.old.id} if s.old is not None and s.old.id != s.id else {}),
                "lines": s.lines, "jobs": s.jobs,
            } for s in self.shots if s.status != "unchanged" or s.jobs],
            "render": [{"id": c.job.id, "kind": c.job.kind, "label": c.job.label,
                        "reason": c.reason, "seconds": round(c.seconds, 3)} for c in self.render],
            "removed_jobs": self.removed_jobs,
            "after_speech": self.after_speech,
            "render_seconds": round(self.render_seconds, 3),
            "estimate_measured": self.measured,
        }


def _side_json(side: Side) -> dict:
    return {"revision": side.revision, "shots": len(side.plan.cuts), "jobs": len(side.plan.jobs),
            "film_seconds": round(side.plan.estimated_seconds, 3)}


# ---------------------------------------------------------------------------------------------
# loading a side


def _git(args: list[str], cwd: Path, what: str) -> bytes:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True)
    except FileNotFoundError:
        raise DiffError("git is not installed (moviola diff reads revisions with git)") from None
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DiffError(f"{what}: {message[-1] if message else 'git failed'}")
    return result.stdout


@dataclass(frozen=True)
class Repository:
    root: Path
    script: PurePosixPath               # the script, relative to the root
    folder: Path                        # the script's folder on disk

    @classmethod
    def of(cls, script: Path) -> "Repository":
        folder = script.resolve().parent
        if not folder.is_dir():
            raise DiffError(f"no such folder: {script.parent}")
        root = Path(_git(["rev-parse", "--show-toplevel"], folder,
                         f"{script} is not in a git repository").decode().strip())
        relative = script.resolve().relative_to(root.resolve())
        return cls(root, PurePosixPath(relative.as_posix()), folder)

    @property
    def project(self) -> PurePosixPath:
        return self.script.parent


def load_side(repository: Repository, revision: str | None, profile: str) -> Side:
    """Compile and plan the script at ``revision`` (None: the working tree)."""
    if revision is None:
        path = repository.folder / repository.script.name
        try:
            text = read_script(path)
        except ScriptNotReadable as error:
            raise DiffError(str(error)) from None
        return _planned(WORKING_TREE, text, str(path), repository.folder, profile,
                        _working_files(repository))
    commit = _git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], repository.root,
                  f"unknown revision {revision!r}").decode().strip()
    listing = _git(["ls-tree", "-r", "-z", "--full-tree", commit, "--", _dir(repository.project)],
                   repository.root, f"cannot list the project at {revision}")
    files: dict[str, str] = {}
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, name = entry.split(b"\t", 1)
        mode, kind, oid = meta.decode().split()
        if kind == "blob":
            relative = PurePosixPath(name.decode("utf-8", "surrogateescape"))
            files[_relative(relative, repository.project)] = oid
    script_name = repository.script.name
    if script_name not in files:
        raise DiffError(f"{repository.script} does not exist at {revision}")
    text = _git(["show", f"{commit}:{repository.script}"], repository.root,
                f"cannot read {repository.script} at {revision}").decode("utf-8", "replace")
    with tempfile.TemporaryDirectory(prefix="moviola-diff-") as temp:
        project = Path(temp)
        # The compiler checks that files exist (and lists folders); only moviola.toml is read.
        for relative in files:
            target = project / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        if "moviola.toml" in files:
            (project / "moviola.toml").write_bytes(_git(
                ["show", f"{commit}:{_join(repository.project, 'moviola.toml')}"], repository.root,
                f"cannot read moviola.toml at {revision}"))
        return _planned(revision, text, f"{revision}:{repository.script}", project, profile, files)


def _dir(project: PurePosixPath) -> str:
    return "." if str(project) in ("", ".") else f"{project}/"


def _join(project: PurePosixPath, name: str) -> str:
    return name if str(project) in ("", ".") else f"{project}/{name}"


def _relative(path: PurePosixPath, project: PurePosixPath) -> str:
    return path.as_posix() if str(project) in ("", ".") else path.relative_to(project).as_posix()


def _working_files(repository: Repository) -> dict[str, str]:
    """Git blob ids of the working tree's project files (tracked and untracked, not ignored)."""
    listing = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--full-name",
                    "--", "."], repository.folder, "cannot list the project's files")
    names = [PurePosixPath(n.decode("utf-8", "surrogateescape")) for n in listing.split(b"\0") if n]
    present = [n for n in names if (repository.root / n).is_file()]
    if not present:
        return {}
    oids = _git(["hash-object", "--", *[str(n) for n in present]], repository.root,
                "cannot hash the project's files").decode().split()
    return {_relative(n, repository.project): oid for n, oid in zip(present, oids)}


def _planned(revision: str, text: str, path: str, project: Path, profile: str,
             files: dict[str, str]) -> Side:
    compilation = compile_text(text, path, project)
    if compilation.errors:
        first = compilation.errors[0]
        raise DiffError(f"{path} has {len(compilation.errors)} error(s), first at line "
                        f"{first.span.line}: {first.message} (run `moviola check` on it)")
    try:
        profiles = load_profiles(project) if config_path(project) else load_profiles(None)
    except ProfileError as error:
        raise DiffError(f"moviola.toml at {revision}: {error}") from None
    if profile not in profiles:
        raise DiffError(f"unknown profile {profile!r} at {revision}; profiles: {', '.join(profiles)}")
    return Side(revision, compilation, make_plan(compilation.film, profiles[profile]), files)


# ---------------------------------------------------------------------------------------------
# comparing


def compare(old: Side, new: Side, profile: str) -> FilmDiff:
    old_jobs = {job.id: job for job in old.plan.jobs}
    render: list[JobChange] = []
    for job in new.plan.jobs:
        reason = _render_reason(old_jobs.get(job.id), job, old.files, new.files)
        if reason is not None:
            render.append(JobChange(job, reason, estimate.job_seconds(job, new.plan)))
    new_ids = {job.id for job in new.plan.jobs}
    removed_jobs = [job_id for job_id in old_jobs if job_id not in new_ids]
    rendered_refs = {change.job.ref for change in render}
    after_speech = [job.id for job in new.plan.jobs if job.ref not in rendered_refs
                    and any(t in rendered_refs for t in job.timing)]

    by_cut: dict[str, list[str]] = {}
    for change in render:
        cut = estimate.cut_of(change.job, new.plan)
        if cut is not None:
            by_cut.setdefault(cut.id, []).append(change.job.id)
    shots = _match_shots(old.plan, new.plan)
    for shot in shots:
        shot.jobs = by_cut.get(shot.id, []) if shot.new is not None else []
    seconds = estimate.render_seconds([c.job for c in render], new.plan)
    return FilmDiff(old, new, profile, shots, render, removed_jobs, after_speech, seconds,
                    estimate.measured(c.job for c in render))


def _render_reason(old, new, old_files: dict, new_files: dict) -> str | None:
    if old is None:
        return "new"
    if old.key != new.key:
        if (old.backend, old.model) != (new.backend, new.model):
            return f"backend {new.backend} {new.model}".strip()
        before, after = old.params.to_json(), new.params.to_json()
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        if changed:
            return "changed " + ", ".join(changed)
        if old.seed != new.seed:
            return "new seed"
        if sorted(old.files) != sorted(new.files):
            return "reads other files"
        return "an input re-renders"
    for name in new.files:
        if _file_digest(old_files, name) != _file_digest(new_files, name):
            return f"{name} changed"
    return None


def _file_digest(files: dict[str, str], name: str) -> tuple:
    """A file's blob id, or a folder's: the ids of every file under it."""
    name = name.rstrip("/")
    if name in files:
        return (files[name],)
    prefix = f"{name}/"
    return tuple(sorted((k, v) for k, v in files.items() if k.startswith(prefix)))


def _match_shots(old_plan, new_plan) -> list[ShotChange]:
    partner = _pairs(old_plan.cuts, new_plan.cuts)        # new cut id → its old cut
    matched_old = {old.id: new_id for new_id, old in partner.items()}
    out: list[ShotChange] = []
    # removed shots go where they were: after the last shot before them that both sides have
    pending_removed: dict[str | None, list] = {}
    anchor = None
    for cut in old_plan.cuts:
        if cut.id in matched_old:
            anchor = matched_old[cut.id]
        else:
            pending_removed.setdefault(anchor, []).append(cut)
    out.extend(ShotChange(c.id, "removed", c, None) for c in pending_removed.get(None, []))
    for cut in new_plan.cuts:
        before = partner.get(cut.id)
        if before is None:
            out.append(ShotChange(cut.id, "added", None, cut, _describe(cut)))
        else:
            changes, lines = _shot_changes(before, cut)
            out.append(ShotChange(cut.id, "changed" if changes else "unchanged", before, cut,
                                  changes, lines))
        out.extend(ShotChange(c.id, "removed", c, None) for c in pending_removed.get(cut.id, []))
    return out


def _pairs(old_cuts, new_cuts) -> dict:
    """Which old shot each new shot is. Scenes are matched by identity (heading and occurrence);
    within a scene, shots by content, so a shot inserted or removed in a scene leaves the shots
    after it matched (renumbered, not changed); an edited shot pairs with the one it replaces."""
    import difflib

    def by_scene(cuts) -> dict[str, list]:
        scenes: dict[str, list] = {}
        for cut in cuts:
            scenes.setdefault(cut.id.rsplit("/", 1)[0], []).append(cut)
        return scenes

    old_scenes = by_scene(old_cuts)
    pairs: dict = {}
    for scene, news in by_scene(new_cuts).items():
        olds = old_scenes.get(scene, [])
        matcher = difflib.SequenceMatcher(None, [_signature(c) for c in olds],
                                          [_signature(c) for c in news], autojunk=False)
        for tag, first, last, new_first, new_last in matcher.get_opcodes():
            if tag in ("equal", "replace"):
                for old, new in zip(olds[first:last], news[new_first:new_last]):
                    pairs[new.id] = old
    return pairs


def _signature(cut) -> tuple:
    return (cut.description, cut.card, cut.size, cut.move, cut.duration,
            tuple((line.character, line.text) for line in cut.lines))


def _describe(cut) -> list[str]:
    out = [f"{cut.size.value}, {cut.move}, {_seconds(cut.estimated_seconds)}"]
    out.extend(f"music {cue.theme}" for cue in cut.cues if cue.theme)
    return out


def _seconds(value: float) -> str:
    return f"{value:.1f}s"


def _shot_changes(old, new) -> tuple[list[str], list[dict]]:
    changes: list[str] = []
    if old.id != new.id:
        # its ordinal in the scene moved: its identity, and with it a derived seed, changes
        changes.append(f"renumbered from {old.id.rsplit('/', 1)[1]} to {new.id.rsplit('/', 1)[1]}")
    if (old.duration, round(old.estimated_seconds, 2)) != (new.duration, round(new.estimated_seconds, 2)):
        changes.append(f"retimed {_seconds(old.estimated_seconds)} → {_seconds(new.estimated_seconds)}")
    if (old.size, old.move) != (new.size, new.move):
        changes.append(f"reframed {old.size.value}, {old.move} → {new.size.value}, {new.move}")
    if old.prompt != new.prompt:
        changes.append("re-prompted")
    if (old.source.path if old.source else None) != (new.source.path if new.source else None):
        changes.append("new source picture")
    if old.seed != new.seed:
        changes.append("new seed")
    if (old.transition_in, old.transition_out) != (new.transition_in, new.transition_out):
        changes.append(f"transitions {old.transition_in}/{old.transition_out} → "
                       f"{new.transition_in}/{new.transition_out}")
    old_cues = [(c.theme, c.fade_in) for c in old.cues]
    new_cues = [(c.theme, c.fade_in) for c in new.cues]
    if old_cues != new_cues:
        for theme, _ in old_cues:
            if theme not in [t for t, _ in new_cues]:
                changes.append(f"music {theme} no longer starts here")
        for theme, fade in new_cues:
            if theme not in [t for t, _ in old_cues]:
                changes.append(f"music {theme} starts here")
            elif (theme, fade) not in old_cues:
                changes.append(f"music {theme} fades in differently")
    if [e.description for e in old.sfx] != [e.description for e in new.sfx]:
        changes.append("sound effects changed")
    lines: list[dict] = []
    for index in range(max(len(old.lines), len(new.lines))):
        before = old.lines[index] if index < len(old.lines) else None
        after = new.lines[index] if index < len(new.lines) else None
        if before is not None and after is not None and \
                (before.character, before.text, before.delivery) == (after.character, after.text, after.delivery):
            continue
        lines.append({"character": (after or before).character,
                      "old": before.text if before is not None else None,
                      "new": after.text if after is not None else None})
    if lines:
        changes.append(f"{len(lines)} line{'s' if len(lines) > 1 else ''} of dialogue changed")
    return changes, lines


def diff(script: Path, old_revision: str, new_revision: str | None, profile: str = "draft") -> FilmDiff:
    """The film change from ``old_revision`` to ``new_revision`` (None: the working tree)."""
    repository = Repository.of(script)
    old = load_side(repository, old_revision, profile)
    new = load_side(repository, new_revision, profile)
    return compare(old, new, profile)


def diff_texts(path: Path, old_file: Path, new_file: Path, profile: str = "draft",
               old_label: str = "old", new_label: str = "new") -> FilmDiff:
    """The film change between two versions of the script at ``path`` given as files (what git
    hands an external diff command). Both are planned in the working tree's project: its
    moviola.toml and files; git's temporary copies have none of them beside them."""
    repository = Repository.of(path)
    files = _working_files(repository)
    sides = []
    for label, file in ((old_label, old_file), (new_label, new_file)):
        try:
            text = "" if str(file) == "/dev/null" else read_script(file)
        except ScriptNotReadable as error:
            raise DiffError(str(error)) from None
        sides.append(_planned(label, text, str(path), repository.folder, profile, files))
    return compare(sides[0], sides[1], profile)


# ---------------------------------------------------------------------------------------------
# the shot list git diff shows (textconv)


def shot_list(text: str, path: str, profile: str = "draft", project: Path | None = None) -> str:
    """A stable text of the film: one block per shot, keyed by its identity (no line numbers,
    no shot numbers, which shift when a scene is inserted), with its jobs' keys and render
    estimate. What ``git diff`` compares when moviola is its textconv driver."""
    compilation = compile_text(text, path, project)
    try:
        profiles = load_profiles(project) if project is not None and config_path(project) \
            else load_profiles(None)
    except ProfileError:
        profiles = load_profiles(None)
    render_plan = make_plan(compilation.film, profiles.get(profile) or profiles["draft"])
    jobs_of: dict[str, list] = {}
    film_jobs = []
    for job in render_plan.jobs:
        cut = estimate.cut_of(job, render_plan)
        (jobs_of.setdefault(cut.id, []) if cut is not None else film_jobs).append(job)
    settings = compilation.film.settings
    out = [f"# moviola shot list: {settings.title or Path(path).stem} (profile {render_plan.profile})"]
    if compilation.errors:
        out.append(f"# {len(compilation.errors)} error(s): run `moviola check` on the script")
    scenes = {scene.index: scene for scene in compilation.film.scenes}
    current_scene = None
    for cut in render_plan.cuts:
        scene = scenes.get(cut.scene_index)
        heading = scene.heading if scene is not None and scene.heading else "(opening)"
        if cut.scene_index != current_scene:
            out.append("")
            out.append(f"scene {heading}")
            current_scene = cut.scene_index
        duration = f", {cut.duration:g}s" if cut.duration is not None else ""
        out.append(f"  shot {cut.id}: {cut.size.value}, {cut.move}{duration} "
                   f"(~{_seconds(cut.estimated_seconds)})")
        if cut.prompt:
            out.append(f"    prompt: {' '.join(cut.prompt.split())}")
        for cue in cut.cues:
            if cue.theme:
                out.append(f"    music: {cue.theme}")
        for effect in cut.sfx:
            out.append(f"    sfx: {effect.description or effect.source.path}")
        for line in cut.lines:
            out.append(f"    {line.character}: {' '.join(line.text.split())}")
        jobs = jobs_of.get(cut.id, [])
        out.append("    jobs: " + ", ".join(f"{job.kind} {job.key[:10]}" for job in jobs)
                   + f" (render ~{_seconds(estimate.render_seconds(jobs, render_plan))})")
    total = estimate.render_seconds(render_plan.jobs, render_plan)
    out.append("")
    out.append("film: " + ", ".join(f"{job.kind} {job.key[:10]}" for job in film_jobs))
    out.append(f"total: {len(render_plan.cuts)} shots, {len(render_plan.jobs)} jobs, "
               f"~{_seconds(render_plan.estimated_seconds)} of film, full render "
               f"~{_seconds(total)} ({render_plan.profile}"
               f"{'' if estimate.measured(render_plan.jobs) else ', estimated unit costs'})")
    return "\n".join(out) + "\n"
