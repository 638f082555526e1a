"""The content-addressed cache: atomic entries, misses for anything half-written or foreign."""

import errno
import json

import pytest

from moviola.runtime.cache import Cache, CacheError

KEY = "ab" + "0" * 62


def test_commit_publishes_an_entry(tmp_path):
    cache = Cache(tmp_path)
    writer = cache.writer(KEY)
    writer.file("out.txt").write_text("hello")
    entry = writer.commit({"seconds": 1.5})
    assert entry.file("out.txt").read_text() == "hello"
    again = cache.get(KEY)
    assert again is not None and again.meta["seconds"] == 1.5
    assert list((tmp_path / "tmp").iterdir()) == []          # nothing left behind


def test_unfinished_writer_is_invisible_and_abort_cleans(tmp_path):
    cache = Cache(tmp_path)
    writer = cache.writer(KEY)
    writer.file("out.txt").write_text("half")
    assert cache.get(KEY) is None
    writer.abort()
    assert cache.get(KEY) is None and not writer.path.exists()


@pytest.mark.parametrize("meta", ["", "{not json", json.dumps({"format": 999, "key": KEY}),
                                  json.dumps({"format": 1, "key": "other"}), json.dumps([1, 2])])
def test_damaged_or_foreign_entry_is_a_miss(tmp_path, meta):
    cache = Cache(tmp_path)
    folder = tmp_path / "objects" / KEY[:2] / KEY
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(meta)
    assert cache.get(KEY) is None


def test_entry_without_header_is_a_miss(tmp_path):
    # a crash between writing files and writing meta.json leaves no valid entry
    folder = tmp_path / "objects" / KEY[:2] / KEY
    folder.mkdir(parents=True)
    (folder / "out.txt").write_text("orphan")
    assert Cache(tmp_path).get(KEY) is None


def test_disk_full_during_commit_raises_and_leaves_nothing(tmp_path, monkeypatch):
    cache = Cache(tmp_path)
    writer = cache.writer(KEY)
    writer.file("out.txt").write_text("data")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("moviola.runtime.cache.os.replace", full)
    with pytest.raises(CacheError, match="No space left"):
        writer.commit({})
    monkeypatch.undo()
    assert cache.get(KEY) is None
    assert not writer.path.exists()


def test_prune_keeps_only_referenced(tmp_path):
    cache = Cache(tmp_path)
    keys = [f"{i:02d}" + "f" * 62 for i in range(3)]
    for key in keys:
        writer = cache.writer(key)
        writer.file("x").write_bytes(b"1234")
        writer.commit({})
    removed, freed = cache.prune({keys[0]})
    assert removed == 2 and freed > 0
    assert cache.get(keys[0]) is not None and cache.get(keys[1]) is None
    assert cache.size()[0] == 1


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temporaries_of_a_killed_build_are_stale_and_a_live_builds_are_not(tmp_path):
    from moviola.runtime import cache as cache_module

    cache = Cache(tmp_path)
    live = cache.writer(KEY)                      # this process: a build in progress
    live.file("half.wav").write_bytes(b"x" * 1000)
    killed = cache.scratch / f"{KEY[:12]}-{cache_module._HOST}-{_dead_pid()}-abcd"
    killed.mkdir()
    (killed / "mix.wav").write_bytes(b"y" * 5000)
    assert cache.stale_temporaries() == [killed]
    removed, freed = cache.remove_stale_temporaries()
    assert (removed, freed) == (1, 5000)
    assert not killed.exists() and live.path.exists()
    live.file("done.txt").write_text("ok")
    assert live.commit({}).file("done.txt").read_text() == "ok"


def test_prune_leaves_a_live_builds_temporaries(tmp_path):
    cache = Cache(tmp_path)
    live = cache.writer(KEY)
    cache.prune(set())
    assert live.path.exists()


def test_a_concurrent_builds_temporaries_survive_until_its_process_is_gone(tmp_path):
    import subprocess
    import sys

    # another build, in another process, with an entry half-written
    code = ("import sys, time; from moviola.runtime.cache import Cache; "
            "w = Cache(sys.argv[1]).writer(sys.argv[2]); w.file('mix.wav').write_bytes(b'x'); "
            "print(w.path, flush=True); time.sleep(60)")
    other = subprocess.Popen([sys.executable, "-c", code, str(tmp_path), KEY], stdout=subprocess.PIPE,
                             text=True)
    try:
        folder = tmp_path / "tmp" / other.stdout.readline().strip().rsplit("/", 1)[1]
        cache = Cache(tmp_path)
        assert cache.remove_stale_temporaries() == (0, 0)
        assert folder.exists()
    finally:
        other.kill()
        other.wait()
    assert cache.stale_temporaries() == [folder]          # killed: now it is a leftover
    assert cache.remove_stale_temporaries()[0] == 1 and not folder.exists()
