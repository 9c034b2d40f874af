"""Content-addressed file store for uploads: files live under UPLOAD_DIR by their sha256.

The client's file name never becomes a path. A file is written to a temporary name in the
target directory, flushed to disk and renamed into place, so a reader never sees half a file
and two uploads of the same bytes end as one file. Layout: ``<root>/ab/cd/<sha256>``.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import BinaryIO

from marketplace.engine.files import write_atomic

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
FILE_MODE = 0o640


class StorageError(Exception):
    """A stored file is missing or a hash is malformed."""


def _root(root: str | os.PathLike[str] | None) -> Path:
    if root is not None:
        return Path(root)
    from flask import current_app  # only when no root is given (inside the app)

    return Path(current_app.config["UPLOAD_DIR"])


def sha256_of(data: bytes) -> str:
    """Return the hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def path_for(sha256: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Return where the file with ``sha256`` lives (raises StorageError for a bad hash)."""
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise StorageError("not a sha256 hex digest")
    return _root(root) / sha256[:2] / sha256[2:4] / sha256


def save(data: bytes, root: str | os.PathLike[str] | None = None) -> str:
    """Store ``data`` under its sha256 (atomically, once) and return the hash."""
    digest = sha256_of(data)
    target = path_for(digest, root)
    if target.is_file() and target.stat().st_size == len(data):
        return digest  # same bytes already stored
    write_atomic(target, data, mode=FILE_MODE)
    return digest


def exists(sha256: str, root: str | os.PathLike[str] | None = None) -> bool:
    """Return whether a file with ``sha256`` is stored."""
    return path_for(sha256, root).is_file()


def open_blob(sha256: str, root: str | os.PathLike[str] | None = None) -> BinaryIO:
    """Open the stored file with ``sha256`` for reading (raises StorageError if missing)."""
    try:
        return open(path_for(sha256, root), "rb")
    except FileNotFoundError as exc:
        raise StorageError(f"file {sha256[:12]}… is not stored") from exc


def read(sha256: str, root: str | os.PathLike[str] | None = None) -> bytes:
    """Return the bytes of the stored file with ``sha256``."""
    with open_blob(sha256, root) as fh:
        return fh.read()
