"""Why a job will render: what changed since the entry the last build of the script used.

Each cache entry records what its resolved key was made of (``made_of`` in its meta.json: the
job's parameters, seed, backend and model, the model's revision, the digests of the project
files it read, its inputs' keys and its timing). The last build of a script records which key
each job had (``.moviola/cache/refs/``). ``moviola plan --why`` compares the two, part by part,
as a build system explains a rebuild.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from moviola.compiler.plan import Job

    from .executor import Executor


def made_of(job: "Job", revision: str | None, files: dict, inputs: list, timing: dict) -> dict:
    """What a resolved key hashes, readably (inputs by id)."""
    return {"params": job.params.to_json(), "seed": job.seed, "backend": job.backend, "model": job.model,
            "model_revision": revision, "files": files,
            "inputs": {str(ref): key for ref, key in zip(job.inputs, inputs)}, "timing": timing}


def refs_file(cache_root: Path, script: str) -> Path:
    """Where the last build of ``script`` recorded its keys."""
    name = hashlib.sha256(str(Path(script).resolve()).encode()).hexdigest()[:16]
    return Path(cache_root) / "refs" / f"{name}.json"


def last_build_keys(cache_root: Path, script: str) -> dict[str, str]:
    try:
        data = json.loads(refs_file(cache_root, script).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    jobs = data.get("jobs") if isinstance(data, dict) else None
    return jobs if isinstance(jobs, dict) else {}


def explain(executor: "Executor", states: dict[str, str]) -> dict[str, list[str]]:
    """For each job that is not cached (after ``executor.dry_run()``), why: one line per part
    that differs from what its entry in the last build was made of."""
    plan = executor.plan
    previous = last_build_keys(executor.cache.root, plan.film.path)
    reasons: dict[str, list[str]] = {}
    for job in plan.jobs:
        if states.get(job.id) == "cached":
            continue
        reasons[job.id] = _job_reasons(executor, job, states, previous)
    return reasons


def _job_reasons(executor: "Executor", job: "Job", states: dict, previous: dict) -> list[str]:
    key = previous.get(job.id)
    if key is None:
        return ["new: the last build had no such job" if previous
                else "never built: no earlier build of this script is recorded"]
    entry = executor.cache.get(key)
    if entry is None:
        return ["its entry from the last build is no longer in the cache (pruned?)"]
    before = entry.meta.get("made_of")
    if not isinstance(before, dict):
        return ["its entry predates recorded keys: cannot tell what changed"]
    out: list[str] = []
    where = f" (line {job.span.line})" if job.span is not None else ""
    params = job.params.to_json()
    for name in sorted(set(before.get("params", {})) | set(params)):
        old, new = before.get("params", {}).get(name), params.get(name)
        if old != new:
            path, old, new = _first_difference(name, old, new)
            out.append(f"parameter {path} changed{where}: {_change(old, new)}")
    if before.get("seed") != job.seed:
        out.append(f"seed changed: {before.get('seed')} → {job.seed}")
    for part in ("backend", "model"):
        if before.get(part) != getattr(job, part):
            out.append(f"{part} changed: {before.get(part) or '—'} → {getattr(job, part) or '—'}")
    revision = executor.model_revisions.get((job.backend, job.profile_kind))
    if revision is not None and before.get("model_revision") != revision:
        out.append(f"model revision changed: {_short(before.get('model_revision'))} → {_short(revision)}")
    old_files = before.get("files", {})
    for path in job.files:
        try:
            digest = executor.digest(path)
        except OSError:
            out.append(f"{path} cannot be read")
            continue
        if old_files.get(path) is None:
            out.append(f"{path} is newly read")
        elif old_files[path] != digest:
            out.append(f"{path} changed (its bytes)")
    old_inputs = before.get("inputs", {})
    for ref in job.inputs:
        label = executor.plan.job(ref).label
        now = executor.keys.get(ref)
        if str(ref) not in old_inputs:
            out.append(f"new input: {label}")
        elif now is None:
            if states.get(str(ref)) == "render":
                out.append(f"input {label} will render first")
        elif now != old_inputs[str(ref)]:
            out.append(f"input {label} changed")
    if executor.timeline is not None:
        timing = executor.timing_for(job)
        if before.get("timing") != timing:
            out.append(_timing_change(before.get("timing") or {}, timing))
    elif job.timing:
        waiting = [executor.plan.job(ref).label for ref in job.timing
                   if states.get(str(ref)) != "cached"]
        if waiting and job.ref.kind in ("clip",) and not out:
            out.append(f"its timing waits for speech that will render: {', '.join(waiting[:3])}")
        elif waiting:
            out.append(f"its timing waits for {len(waiting)} speech job"
                       f"{'s' * (len(waiting) != 1)} that will render")
    if not out and states.get(job.id) == "after speech":
        return ["nothing of its own changed: it renders again only if the new speech lengths "
                "move its timing"]
    return out or ["unchanged parts, yet a new key (the key format changed)"]


def _timing_change(before: dict, after: dict) -> str:
    simple = [name for name in sorted(set(before) | set(after))
              if not isinstance(after.get(name), (dict, list))]
    changed = [f"{name} {before.get(name)} → {after.get(name)}" for name in simple
               if before.get(name) != after.get(name)]
    return "timing changed: " + (", ".join(changed) if changed else "the timeline moved")


def _first_difference(path: str, old, new):
    """The innermost part that differs: ``shots[3].prompt`` rather than the whole list."""
    if isinstance(old, dict) and isinstance(new, dict) and old.keys() == new.keys():
        for key in sorted(old):
            if old[key] != new[key]:
                return _first_difference(f"{path}.{key}", old[key], new[key])
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new)):
            if a != b:
                return _first_difference(f"{path}[{index}]", a, b)
    return path, old, new


def _change(old, new, context: int = 24) -> str:
    """``old → new``; two long texts are cut to where they differ."""
    if isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > 60:
        start = 0
        while start < min(len(old), len(new)) and old[start] == new[start]:
            start += 1
        end = 0
        while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
            end += 1
        begin = max(start - context, 0)

        def cut(text: str) -> str:
            stop = len(text) - max(end - context, 0)
            return ("…" if begin else "") + text[begin:stop] + ("…" if stop < len(text) else "")

        return f"{cut(old)!r} → {cut(new)!r}"
    return f"{_short(old)} → {_short(new)}"


def _short(value, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
