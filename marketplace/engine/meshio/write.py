"""Write a mesh for the slicer: binary STL, the format PrusaSlicer reads most robustly.

Pure: arrays in, bytes out (``write_binary_stl`` also writes them to a path, atomically). The
records use numpy-stl's layout, the one :mod:`load` reads; normals are computed from the corners
(PrusaSlicer recomputes them anyway, other readers look at them).
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import numpy as np
from stl.mesh import Mesh as _StlMesh

_STL_RECORD = _StlMesh.dtype


def binary_stl(vertices: np.ndarray, faces: np.ndarray, header: bytes = b"Druckhub") -> bytes:
    """Encode an indexed mesh as binary STL.

    vertices : (n, 3) float, mm
    faces : (m, 3) int, indices into vertices (counter-clockwise seen from outside)
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    tri = v[f]
    rec = np.zeros(len(f), dtype=_STL_RECORD)
    rec["vectors"] = tri
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(n, axis=1)
    np.divide(n, length[:, None], out=n, where=length[:, None] > 0)
    rec["normals"] = n
    return header.ljust(80, b" ")[:80] + struct.pack("<I", len(f)) + rec.tobytes()


def write_binary_stl(path: str | os.PathLike[str], vertices: np.ndarray,
                     faces: np.ndarray) -> Path:
    """Write ``binary_stl(vertices, faces)`` to ``path`` (via a temporary file); return it."""
    target = Path(path)
    data = binary_stl(vertices, faces)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".stl", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target
