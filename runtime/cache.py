"""The content-addressed store: one folder per key under ``.moviola/cache/objects/``.

An entry is written in a private temporary folder, its ``meta.json`` last, then renamed into
place in one step (``os.replace``), so a killed build or a full disk never leaves a half entry
under a key. An entry whose header is missing, unreadable or of another format is a miss, not
an error: it is rendered again.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CACHE_FORMAT = 1
# A temporary folder is named KEY12-HOST-PID-RANDOM: a build removes the temporaries of
# processes on this host that are gone (a killed build), never those of a live build, and
# leaves another host's alone unless they are older than this (a cache on a shared disk).
FOREIGN_STALE_SECONDS = 24 * 3600


class CacheError(Exception):
    """The cache could not store an entry (disk full, permissions): nothing was half-written."""


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    path: Path          # the entry's folder
    meta: dict

    def file(self, name: str) -> Path:
        return self.path / name


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.scratch = self.root / "tmp"

    def folder(self, key: str) -> Path:
        """Where the entry of ``key`` is (or will be) once committed."""
        return self.objects / key[:2] / key

    def get(self, key: str) -> Entry | None:
        folder = self.folder(key)
        try:
            meta = json.loads((folder / "meta.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT or meta.get("key") != key:
            return None
        return Entry(key, folder, meta)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def entry_at(self, folder: Path) -> Entry | None:
        """The committed entry whose folder is ``folder`` (a path another machine of a shared
        store handed over), or None when it is not one of this cache's entries."""
        folder = Path(folder)
        return self.get(folder.name) if folder == self.folder(folder.name) else None

    def writer(self, key: str) -> "EntryWriter":
        self.scratch.mkdir(parents=True, exist_ok=True)
        return EntryWriter(self, key)

    # -- maintenance ----------------------------------------------------------------------------

    def entries(self):
        if not self.objects.exists():
            return
        for shard in sorted(self.objects.iterdir()):
            for folder in sorted(shard.iterdir()):
                yield folder

    def size(self) -> tuple[int, int]:
        """(entries, bytes)."""
        count = total = 0
        for folder in self.entries():
            count += 1
            total += sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        return count, total

    def prune(self, keep: set[str]) -> tuple[int, int]:
        """Delete every entry whose key is not in ``keep``. Returns (entries removed, bytes
        freed); stale temporaries are :meth:`remove_stale_temporaries`' business."""
        removed = freed = 0
        for folder in list(self.entries()):
            if folder.name in keep:
                continue
            freed += _folder_bytes(folder)
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        return removed, freed

    def stale_temporaries(self) -> list[Path]:
        """Temporary entry folders left by builds that were killed: their process is gone."""
        if not self.scratch.exists():
            return []
        return [folder for folder in sorted(self.scratch.iterdir()) if _is_stale(folder)]

    def remove_stale_temporaries(self) -> tuple[int, int]:
        """Delete what killed builds left half-written. Returns (folders removed, bytes freed)."""
        removed = freed = 0
        for folder in self.stale_temporaries():
            freed += _folder_bytes(folder)
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        return removed, freed


class EntryWriter:
    """Collects an entry's files in a temporary folder; :meth:`commit` publishes it atomically."""

    def __init__(self, cache: Cache, key: str):
        self.cache = cache
        self.key = key
        self.path = Path(tempfile.mkdtemp(prefix=f"{key[:12]}-{_HOST}-{os.getpid()}-",
                                          dir=cache.scratch))

    def file(self, name: str) -> Path:
        """Where to write the entry's file ``name`` (write it, then commit)."""
        return self.path / name

    def commit(self, meta: dict) -> Entry:
        header = {"format": CACHE_FORMAT, "key": self.key, "created": round(time.time(), 3), **meta}
        try:
            for file in self.path.iterdir():
                _fsync(file)
            temporary = self.path / "meta.json.tmp"
            temporary.write_text(json.dumps(header, sort_keys=True), "utf-8")
            _fsync(temporary)
            os.replace(temporary, self.path / "meta.json")
            final = self.cache.folder(self.key)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(self.path, final)
            except OSError:
                if self.cache.get(self.key) is None:   # not a lost race with an equal entry
                    shutil.rmtree(final, ignore_errors=True)
                    os.replace(self.path, final)
                else:
                    shutil.rmtree(self.path, ignore_errors=True)
        except OSError as error:
            self.abort()
            raise CacheError(f"could not store a cache entry in {self.cache.root}: "
                             f"{error.strerror or error}") from error
        return Entry(self.key, self.cache.folder(self.key), header)

    def abort(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


_HOST = socket.gethostname().replace("-", "_") or "host"


def _is_stale(folder: Path) -> bool:
    parts = folder.name.split("-")
    try:
        host, pid = parts[1], int(parts[2])
    except (IndexError, ValueError):
        return True                        # not named by this format: an older build's
    if host != _HOST:
        try:
            return time.time() - folder.stat().st_mtime > FOREIGN_STALE_SECONDS
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:               # alive, another user's
        return False
    return False


def _folder_bytes(folder: Path) -> int:
    total = 0
    for file in folder.rglob("*"):
        try:
            if file.is_file():
                total += file.stat().st_size
        except OSError:
            continue
    return total


def _fsync(path: Path) -> None:
    # Data reaches the disk before the rename that publishes it, so a crash cannot publish
    # an entry whose files are still empty.
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
