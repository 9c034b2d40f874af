"""The 3D viewer's binary mesh: encode, decode, and where it is cached. Pure (no Flask).

Format (little-endian): ``b"DHM1"``, uint32 vertex count, uint32 face count, float32 x/y/z per
vertex in mm, uint32 three vertex indices per face; a face count of 0 means a triangle soup
(vertices 3i, 3i+1, 3i+2 are face i). The mesh is the analysis' repaired mesh in the file's
own frame, the frame of the problems' locations.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

MAGIC = b"DHM1"


def encode_mesh(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """Return the viewer's binary mesh for ``vertices`` (n, 3) mm and ``faces`` (m, 3) int."""
    v = np.ascontiguousarray(vertices, dtype="<f4").reshape(-1, 3)
    f = np.ascontiguousarray(faces, dtype="<u4").reshape(-1, 3)
    if len(f) * 3 == len(v) and np.array_equal(f.ravel(), np.arange(len(v))):
        f = f[:0]
    return MAGIC + struct.pack("<II", len(v), len(f)) + v.tobytes() + f.tobytes()


def decode_mesh(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_mesh`: ``(vertices (n, 3) float32, faces (m, 3) uint32)``."""
    if data[:4] != MAGIC:
        raise ValueError("not a DHM1 mesh")
    nv, nf = struct.unpack_from("<II", data, 4)
    v = np.frombuffer(data, dtype="<f4", count=nv * 3, offset=12).reshape(-1, 3)
    if nf == 0:
        return v, np.arange(nv, dtype="<u4").reshape(-1, 3)
    f = np.frombuffer(data, dtype="<u4", count=nf * 3, offset=12 + nv * 12).reshape(-1, 3)
    return v, f


def cache_path(upload_dir: str | os.PathLike[str], sha256: str, units: str | None) -> Path:
    """Return where the viewer mesh of a stored file in ``units`` is cached."""
    return Path(upload_dir) / "derived" / f"{sha256}-{units or 'auto'}.dhm"
