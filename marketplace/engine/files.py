"""Writing files so that a reader never sees half of one: the one atomic write.

A file is written to a temporary name in its target directory, flushed to disk and renamed
over the target (``os.replace`` is atomic on one file system). A crash leaves either the old
file or the new one, never a mix, and no temporary file behind. Pure: no Flask, no database,
so the engine, the app (uploads) and ``printers/`` (G-code) all use it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` via a temporary file, fsync and a rename; return the path.

    Creates the parent directories. ``mode`` sets the file's permissions (default: the
    temporary file's 0o600).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:32]}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target
