"""Read untrusted STL (binary/ASCII), OBJ and 3MF bytes into a triangle array, checks first.

Nothing here trusts a header or a library's silence: every count, index, coordinate and zip member
size is checked before memory is committed to it, and every failure is a :class:`MeshInputError`
with a stable ``code`` and the parameters of a sentence a non-expert understands (rendered in the
reader's language when shown). Pure: no Flask, no database. 3MF lives in :mod:`threemf`.

The result is a :class:`RawMesh`: ``triangles`` (m, 3, 3) float in *file units*.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from stl.mesh import Mesh as _StlMesh

from marketplace.engine.limits import AnalysisLimits
from marketplace.engine.meshio.base import MeshInputError, RawMesh, check_count
from marketplace.engine.meshio.threemf import read_3mf
from marketplace.engine.texts import msg

# numpy-stl's binary record layout (normals, vectors, attr). Its reader, Mesh.from_file, copies
# the data twice: 0.48 s against 0.22 s for numpy.frombuffer on 2 million triangles, measured
# here; so the layout is numpy-stl's and the read is a zero-copy view after our own size check.
_STL_RECORD = _StlMesh.dtype
# an ASCII STL vertex line's three words (of the lower-cased text); numpy reads them as floats
_VERTEX_RE = re.compile(rb"vertex\s+(\S+\s+\S+\s+\S+)")
FORMATS = ("stl", "obj", "3mf")


def detect_format(data: bytes, filename: str) -> str:
    """Return "stl", "obj" or "3mf" from the extension, falling back to the content."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext in FORMATS:
        return ext
    if data[:4] == b"PK\x03\x04":
        return "3mf"
    head = data[:2048].lstrip()
    if re.search(rb"^\s*(v|f|vn|vt|o|g)\s", head, re.MULTILINE) and not head.startswith(b"solid"):
        return "obj"
    if data:
        return "stl"
    raise MeshInputError("unsupported_format")


def read_mesh(data: bytes, filename: str, limits: AnalysisLimits | None = None) -> RawMesh:
    """Parse ``data`` (the file's bytes) into a :class:`RawMesh`; raise MeshInputError."""
    limits = limits or AnalysisLimits.from_config()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("data must be bytes")
    data = bytes(data) if not isinstance(data, bytes) else data
    if not data.strip():
        raise MeshInputError("empty_file")
    fmt = detect_format(data, filename)
    if fmt == "stl":
        raw = read_stl(data, limits)
    elif fmt == "obj":
        raw = read_obj(data, limits)
    else:
        raw = read_3mf(data, limits)
    check_triangles(raw.triangles, limits)
    return raw


def check_triangles(tri: np.ndarray, limits: AnalysisLimits) -> None:
    """Refuse empty meshes, too many triangles and non-finite coordinates."""
    if tri.ndim != 3 or tri.shape[1:] != (3, 3) or len(tri) == 0:
        raise MeshInputError("no_triangles")
    check_count(len(tri), limits)
    # two reductions, no temporaries: NaN makes min/max NaN, an infinity is out of range
    lo, hi = float(tri.min()), float(tri.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = int((~np.isfinite(tri).all(axis=(1, 2))).sum())
        raise MeshInputError("non_finite_coordinates", count=int(bad))
    if max(-lo, hi) > 1e9:
        raise MeshInputError("coordinates_out_of_range")


def _is_ascii_stl(data: bytes) -> bool:
    """Return whether ``data`` is ASCII STL (a binary STL header may start with "solid" too)."""
    head = data[:1024].lstrip()
    if not head[:5].lower() == b"solid":
        return False
    size_ok = len(data) >= 84 and (len(data) - 84) % 50 == 0
    n_header = int.from_bytes(data[80:84], "little") if len(data) >= 84 else -1
    if size_ok and 84 + 50 * n_header == len(data):
        # Consistent binary layout: ASCII only if the start is plain text with a facet keyword.
        try:
            head.decode("ascii")
        except UnicodeDecodeError:
            return False
        return b"facet" in head.lower() or b"endsolid" in head.lower()
    return True


def read_stl(data: bytes, limits: AnalysisLimits) -> RawMesh:
    """Parse binary or ASCII STL; the binary size must be exactly 84 + 50 × count."""
    if _is_ascii_stl(data):
        return RawMesh(_read_ascii_stl(data, limits), "stl", "ascii")
    if len(data) < 84:
        raise MeshInputError("stl_truncated")
    count = int.from_bytes(data[80:84], "little")
    if 84 + 50 * count != len(data):
        raise MeshInputError("stl_size_mismatch", count=count, needed=84 + 50 * count,
                             size=len(data))
    check_count(count, limits)
    records = np.frombuffer(data, dtype=_STL_RECORD, count=count, offset=84)
    # one contiguous copy: checks run fast on it and the analysis works on it in place
    return RawMesh(np.ascontiguousarray(records["vectors"]), "stl", "binary")


def _read_ascii_stl(data: bytes, limits: AnalysisLimits) -> np.ndarray:
    """Parse ASCII STL: every facet must have exactly three ``vertex x y z`` lines.

    Parsed in chunks of about 8 MB so the temporary Python objects stay small.
    """
    lower = data.lower()
    facets = lower.count(b"endfacet")
    vertex_words = lower.count(b"vertex")
    check_count(max(facets, vertex_words // 3), limits)
    if vertex_words % 3 or (facets and vertex_words != 3 * facets):
        raise _ascii_error()
    out = np.empty((vertex_words, 3), dtype=np.float64)
    filled, start, step = 0, 0, 8 << 20
    while start < len(data):
        end = lower.find(b"endfacet", start + step)
        end = len(data) if end < 0 else end
        coords = _VERTEX_RE.findall(lower, start, end)
        if filled + len(coords) > vertex_words:
            raise _ascii_error()
        if coords:
            out[filled : filled + len(coords)] = _floats(b" ".join(coords),
                                                         3 * len(coords)).reshape(-1, 3)
        filled += len(coords)
        start = end
    if filled != vertex_words:
        raise _ascii_error()
    return out.reshape(-1, 3, 3)


def _floats(text: bytes, count: int) -> np.ndarray:
    """Exactly ``count`` numbers separated by whitespace, parsed in C (numpy: locale-free,
    like ``float``: "1e-5", "-.5", "nan", "inf"); anything else is malformed STL."""
    try:
        values = np.fromstring(text, dtype=np.float64, sep=" ")
    except (ValueError, DeprecationWarning):  # a word that is no number (a warning by default)
        raise _ascii_error() from None
    if len(values) != count:
        raise _ascii_error()
    return values


def _ascii_error() -> MeshInputError:
    return MeshInputError("stl_ascii_malformed")


def read_obj(data: bytes, limits: AnalysisLimits) -> RawMesh:
    """Parse Wavefront OBJ (``v`` and ``f`` lines); polygons are fanned into triangles.

    Indices are 1-based; negative indices count back from the latest vertex (OBJ spec).
    Zero and out-of-range indices are refused.
    """
    check_count(data.count(b"\nf ") + data.count(b"\nf\t"), limits)
    vertices: list[bytes] = []
    tris: list[tuple[int, int, int]] = []
    for lineno, raw_line in enumerate(data.splitlines(), 1):
        line = raw_line.split(b"#", 1)[0].strip()
        if line.startswith((b"v ", b"v\t")):
            parts = line.split()
            if len(parts) < 4:
                raise _obj_error(lineno, "obj.vertex_short")
            vertices.append(b" ".join(parts[1:4]))
        elif line.startswith((b"f ", b"f\t")):
            refs = line.split()[1:]
            if len(refs) < 3:
                raise _obj_error(lineno, "obj.face_short")
            idx = [_obj_index(r, len(vertices), lineno) for r in refs]
            tris.extend((idx[0], idx[k], idx[k + 1]) for k in range(1, len(idx) - 1))
            if len(tris) > limits.max_triangles:
                check_count(len(tris), limits)
    try:
        verts = np.array(b" ".join(vertices).split(), dtype=np.bytes_).astype(np.float64)
    except ValueError:
        raise _obj_error(0, "obj.not_a_number") from None
    verts = verts.reshape(-1, 3)
    faces = np.asarray(tris, dtype=np.int64).reshape(-1, 3)
    return RawMesh(verts[faces], "obj", "text")


def _obj_index(ref: bytes, count: int, lineno: int) -> int:
    """Turn one OBJ face reference ("7", "7/1/3", "-1//2") into a 0-based vertex index."""
    try:
        value = int(ref.split(b"/", 1)[0])
    except ValueError:
        raise _obj_error(lineno, "obj.bad_reference", reference=repr(ref[:20])) from None
    index = value - 1 if value > 0 else count + value
    if value == 0 or not 0 <= index < count:
        # line and vertex numbers are names, not amounts: shown as they are (str)
        raise MeshInputError("obj_bad_index", line=str(lineno), vertex=str(value),
                             count=str(count))
    return index


def _obj_error(lineno: int, reason: str, **params: Any) -> MeshInputError:
    """``obj_malformed`` for ``reason`` (an ``obj.*`` text), naming the line if known."""
    where = msg("obj.line", line=str(lineno)) if lineno else ""
    return MeshInputError("obj_malformed", reason=msg(reason, **params), where=where)
