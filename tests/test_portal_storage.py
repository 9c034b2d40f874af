"""Content-addressed upload store: hash names, atomic writes, no client names on disk."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from marketplace.parts import storage

pytestmark = pytest.mark.db_independent


def test_save_stores_under_sha256_and_reads_back(tmp_path):
    data = b"solid x\nendsolid x\n"
    digest = storage.save(data, tmp_path)
    assert digest == hashlib.sha256(data).hexdigest()
    path = storage.path_for(digest, tmp_path)
    assert path == tmp_path / digest[:2] / digest[2:4] / digest
    assert storage.read(digest, tmp_path) == data
    assert storage.exists(digest, tmp_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == storage.FILE_MODE


def test_same_bytes_are_stored_once_and_no_temp_files_remain(tmp_path):
    a = storage.save(b"abc" * 1000, tmp_path)
    b = storage.save(b"abc" * 1000, tmp_path)
    assert a == b
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.name for p in files] == [a]


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABC", "g" * 64, "", "a" * 63, None])
def test_malformed_hash_is_refused(tmp_path, bad):
    with pytest.raises(storage.StorageError):
        storage.path_for(bad, tmp_path)


def test_missing_file_is_a_storage_error(tmp_path):
    with pytest.raises(storage.StorageError):
        storage.read("0" * 64, tmp_path)


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        storage.save(b"data", tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_atomic_write_replaces_whole_files_and_leaves_no_temporary(tmp_path, monkeypatch):
    """The one atomic write (uploads, viewer meshes, G-code): all or nothing, mode as asked."""
    from marketplace.engine import files

    target = tmp_path / "a" / "b" / "blob"
    assert files.write_atomic(target, b"old", mode=0o640) == target
    assert target.read_bytes() == b"old" and target.stat().st_mode & 0o777 == 0o640
    files.write_atomic(target, b"new")
    assert target.read_bytes() == b"new"

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomic(target, b"half")
    assert target.read_bytes() == b"new"  # the old file stays whole
    assert sorted(p.name for p in target.parent.iterdir()) == ["blob"]  # no temporary left
