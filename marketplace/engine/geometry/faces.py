"""Per-face geometry of a triangle array: normals, areas, signed volumes, bounding boxes.

triangles : (m, 3, 3) float, mm. Volumes by the divergence theorem: the signed volume of the
tetrahedron (origin, v0, v1, v2) is v0 · ((v1 - v0) × (v2 - v0)) / 6, summed over faces; the
origin is moved to the bounding-box centre first so large coordinates lose no precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class FaceGeometry:
    """normals (m, 3) unit (zero for zero-area faces), areas_mm2 (m,), volumes_mm3 (m,) signed.

    float32 or float64 like the triangles; sum them with ``dtype=np.float64``."""

    normals: np.ndarray
    areas_mm2: np.ndarray
    volumes_mm3: np.ndarray


# faces worked on together by the passes over a big mesh: small temporaries, reused and in
# cache (fresh memory costs a big mesh more than the arithmetic on it)
FACE_BLOCK = 1 << 16


def soup_faces(corners: int) -> np.ndarray:
    """(corners // 3, 3) int64: the faces of a triangle soup (corner 3t + j is corner j of
    face t)."""
    return np.arange(corners, dtype=np.int64).reshape(-1, 3)


def signed_volume(vertices: np.ndarray, faces: np.ndarray | None = None) -> float:
    """Signed enclosed volume of a triangle mesh (divergence theorem, float64 sums): faces
    (m, 3) into ``vertices``, or None: ``vertices`` is a triangle soup (corner 3t + j is
    corner j of face t). Exact for a closed mesh; the unit cubed of the coordinates."""
    v = np.asarray(vertices)
    tri = (v.reshape(-1, 3, 3) if faces is None else v[faces]).astype(np.float64, copy=False)
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


_BBOX_ROW = 3 * 1024  # corners' coordinates per row of the blocked reduction


def bbox(tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (min (3,), max (3,)) over all corners of (m, 3, 3) triangles (or (n, 3) points).

    The coordinates of the corners :func:`extreme_corners` finds (float64).
    """
    flat = tri.reshape(-1, 3)
    low, high = extreme_corners(flat)
    axes = np.arange(3)
    return (flat[low, axes].astype(np.float64), flat[high, axes].astype(np.float64))


def extreme_corners(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (low (3,), high (3,)) int: for each axis the index of a point (n, 3), n >= 1,
    lowest (highest) along it, the first such point.

    numpy's axis-0 reduction of an (n, 3) array is slow (3 values per inner loop), and so are
    strided columns: a contiguous array is reduced as rows of 1024 points (one long
    vectorised inner loop) to the minima (maxima) of each of the 3072 positions, then each
    axis' extreme position is looked up in its one column.
    """
    flat = points.reshape(-1, 3)
    whole = len(flat) * 3 // _BBOX_ROW * _BBOX_ROW
    if not flat.flags.c_contiguous or whole == 0:
        low = np.array([flat[:, k].argmin() for k in range(3)], dtype=np.int64)
        high = np.array([flat[:, k].argmax() for k in range(3)], dtype=np.int64)
        return low, high
    rows = flat.reshape(-1)[:whole].reshape(-1, _BBOX_ROW)
    per_row = _BBOX_ROW // 3
    tail = len(rows) * per_row  # the points after the whole rows
    found = []
    for reduce, pick, better in ((np.min, np.argmin, np.less), (np.max, np.argmax, np.greater)):
        best = reduce(rows, axis=0).reshape(-1, 3)  # (1024, 3): per position in a row
        out = np.empty(3, dtype=np.int64)
        for k in range(3):
            value = best[int(pick(best[:, k])), k]
            if value != value:  # NaN (no reader lets one through): numpy's own answer
                out[k] = int(pick(flat[:, k]))
                continue
            positions = 3 * np.flatnonzero(best[:, k] == value) + k  # where it occurs
            for start in range(0, len(rows), 64):  # the first row that has it (a few rows
                hits = rows[start:start + 64, positions] == value  # when it is everywhere)
                if hits.any():
                    row = int(hits.any(axis=1).argmax())
                    break
            index = (start + row) * per_row + int(positions[hits[row].argmax()]) // 3
            if tail < len(flat):
                rest = flat[tail:, k]
                j = int(pick(rest))
                if better(rest[j], value):
                    index = tail + j
            out[k] = index
        found.append(out)
    return found[0], found[1]


def project(points: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Return points (n, 3) · direction (3,) as (n,), without BLAS (slow for 3 columns).

    For an axis direction this is a *view* of ``points``: do not modify the result in place.
    """
    d = np.asarray(direction, dtype=np.float64)
    axis = np.flatnonzero(np.abs(d) > 1 - 1e-12)
    if len(axis) == 1 and np.abs(d).sum() < 1 + 1e-9:  # an axis: no arithmetic needed
        k = int(axis[0])
        return points[:, k] if d[k] > 0 else -points[:, k]
    return points[:, 0] * d[0] + points[:, 1] * d[1] + points[:, 2] * d[2]


def rotate(points: np.ndarray, rot: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Return points (n, 3) turned by rot (3, 3): points @ rot.T, column by column, as
    ``dtype`` (float32 halves the memory a big mesh's corners take)."""
    rot = np.asarray(rot, dtype=np.float64)
    out = np.empty((len(points), 3), dtype=dtype)
    for k in range(3):
        out[:, k] = project(points, rot[k])
    return out


def face_geometry(tri: np.ndarray, centre: np.ndarray | None = None) -> FaceGeometry:
    """Compute per-face normals, areas, signed volumes and centroids of (m, 3, 3) triangles.

    A block of faces at a time: the edge vectors and products are small temporaries, reused
    (fresh memory costs more than the arithmetic on a big mesh).
    """
    if centre is None:
        lo, hi = bbox(tri)
        centre = (lo + hi) / 2
    centre = np.asarray(centre).astype(tri.dtype)  # the sums stay in the triangles' type
    m = len(tri)
    normals = np.empty((m, 3), dtype=tri.dtype)
    double_area = np.empty(m, dtype=tri.dtype)
    volumes = np.empty(m, dtype=tri.dtype)
    for a in range(0, m, FACE_BLOCK):
        _face_block(tri[a:a + FACE_BLOCK], centre, normals[a:a + FACE_BLOCK],
                    double_area[a:a + FACE_BLOCK], volumes[a:a + FACE_BLOCK])
    return FaceGeometry(normals, double_area / 2.0, volumes)


def _face_block(tri: np.ndarray, centre: np.ndarray, cross: np.ndarray,
                double_area: np.ndarray, volumes: np.ndarray) -> None:
    """:func:`face_geometry` of a block of faces, written into its slices of the outputs."""
    e1 = tri[:, 1, :] - tri[:, 0, :]
    e2 = tri[:, 2, :] - tri[:, 0, :]
    cx, cy, cz = cross[:, 0], cross[:, 1], cross[:, 2]  # written in place: no stacking copy
    np.multiply(e1[:, 1], e2[:, 2], out=cx)
    cx -= e1[:, 2] * e2[:, 1]
    np.multiply(e1[:, 2], e2[:, 0], out=cy)
    cy -= e1[:, 0] * e2[:, 2]
    np.multiply(e1[:, 0], e2[:, 1], out=cz)
    cz -= e1[:, 1] * e2[:, 0]
    np.multiply(cx, cx, out=double_area)
    double_area += cy * cy
    double_area += cz * cz
    np.sqrt(double_area, out=double_area)
    # signed volume of the tetrahedron (centre, face): (v0 - centre) · cross / 6
    np.multiply(tri[:, 0, 0] - centre[0], cx, out=volumes)
    volumes += (tri[:, 0, 1] - centre[1]) * cy
    volumes += (tri[:, 0, 2] - centre[2]) * cz
    volumes /= 6.0
    with np.errstate(invalid="ignore", divide="ignore"):
        cross /= double_area[:, None]
    cross[double_area == 0] = 0.0


def centroids(tri: np.ndarray, faces: np.ndarray | None = None) -> np.ndarray:
    """Return centroids (k, 3) of all faces or of the faces with indices ``faces``."""
    t = tri if faces is None else tri[faces]
    return (t[:, 0] + t[:, 1] + t[:, 2]) / 3.0
