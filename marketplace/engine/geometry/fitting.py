"""Does a part fit a printer in any orientation? Pure, on the part's hull points, no mesh.

The analysis records the part's hull points (``orientation.hull_mm``, mm, in the file's
frame): for a mesh of at most :data:`EXACT_CORNERS` corners the vertices of its convex hull
(:func:`hull_points`; the box of the part in any rotation is the box of these points), for a
bigger one its corners extreme along 256 spread directions (from a sample of 50 000 for a big
mesh): then a box may come out a little small for a round part (on the test corpus at most
0.7 % of its size), which slicing, which measures the mesh itself, finds out.
:func:`fits_in_any_orientation` then answers for any build volumes later, without the mesh:
it tries, in this order,

1. the ``preferred`` rotation (the analysis' suggestion: what is quoted when it fits),
2. the part resting on each face of its convex hull, largest first (a part can only rest on a
   face of its hull; these are its flat sides),
3. :data:`SPHERE` directions spread over the half sphere turned to the bed (tilted: the part
   then needs supports, the estimate counts them),

each turned about z in 1° steps (0-89°; a volume is tried with the footprint turned 90° too).
The first rotation that fits any volume wins. :func:`scale_to_fit` is the largest even
scale-down with which the part fits some volume in any of these rotations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MAX_POINTS = 1024  # hull points an analysis records at most
EXACT_CORNERS = 15_000  # up to this many corners the hull is exact (qhull), see hull_points
SPHERE = 300  # directions over the half sphere
MAX_FACES = 24  # hull faces tried as the bed face (largest first)
TURN_STEP_DEG = 1.0
TOLERANCE_MM = 1e-6
_DEG = np.radians(np.arange(0.0, 90.0, TURN_STEP_DEG))
_COS, _SIN = np.cos(_DEG), np.sin(_DEG)

Rotation = tuple[tuple[float, float, float], ...]


@dataclass(frozen=True)
class Fit:
    """A way to lay the part that fits ``volumes[volume]``: points @ rotation.T (bbox
    ``extents_mm``, footprint as laid, maybe turned 90° on that printer)."""

    rotation: Rotation
    extents_mm: tuple[float, float, float]
    volume: int


def hull_points(corners: np.ndarray, limit: int = MAX_POINTS) -> np.ndarray:
    """Return the vertices (k, 3) of the convex hull of ``corners`` (n, 3), at most ``limit``
    (more are thinned to those extreme along ``limit`` spread directions). For meshes of at
    most :data:`EXACT_CORNERS` corners (qhull's time grows with the hull's size)."""
    from scipy.spatial import ConvexHull, QhullError

    pts = np.asarray(corners, dtype=np.float64).reshape(-1, 3)
    try:
        pts = pts[np.sort(ConvexHull(pts).vertices)]  # in input order
    except (QhullError, ValueError):  # flat, a line or a point: the extremes below
        pass
    if len(pts) > limit:
        proj = pts @ _sphere(limit // 2).T  # +- directions over the half sphere
        pts = pts[np.unique(np.concatenate([proj.argmax(axis=0), proj.argmin(axis=0)]))]
    return pts


def record_points(points: np.ndarray, decimals: int = 2) -> list[list[float]]:
    """Return hull points (n, 3) mm as the analysis record keeps them (rounded, JSON-safe)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return np.round(pts, decimals).tolist()


def points_of(value: object, scale: float = 1.0) -> np.ndarray | None:
    """Return a record's hull points as (n, 3) float mm (times ``scale``), or None if it has
    none or they cannot be read (an old record: the caller falls back to its bbox)."""
    if not isinstance(value, (list, tuple)) or len(value) < 1:
        return None
    try:
        pts = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if pts.ndim != 2 or pts.shape[1] != 3 or not np.isfinite(pts).all():
        return None
    return pts * float(scale)


def rotation_to_bed(direction: np.ndarray) -> np.ndarray:
    """Return a rotation (3, 3) that turns unit ``direction`` to -z (Rodrigues)."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    target = np.array([0.0, 0.0, -1.0])
    v = np.cross(d, target)
    c = float(np.dot(d, target))
    if np.linalg.norm(v) < 1e-9:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx * (1.0 / (1.0 + c))


def _rot_z(deg: float) -> np.ndarray:
    r = math.radians(deg)
    return np.array([[math.cos(r), -math.sin(r), 0.0], [math.sin(r), math.cos(r), 0.0],
                     [0.0, 0.0, 1.0]])


def _hull_faces(pts: np.ndarray) -> list[np.ndarray]:
    """Outward normals of the convex hull's faces, coplanar triangles merged, largest first."""
    from scipy.spatial import ConvexHull, QhullError

    if len(pts) < 4:
        return []
    try:
        hull = ConvexHull(pts)
    except (QhullError, ValueError):  # flat or degenerate: the axes and the sphere remain
        return []
    tri = pts[hull.simplices]
    areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    normals = hull.equations[:, :3]
    keys = np.round(normals * 1000).astype(np.int64)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    sums = np.bincount(inv.ravel(), weights=areas, minlength=len(uniq))
    out = []
    for g in np.argsort(-sums, kind="stable")[:MAX_FACES]:
        n = normals[inv.ravel() == g][0]
        out.append(n / np.linalg.norm(n))
    return out


def _sphere(n: int = SPHERE) -> np.ndarray:
    """``n`` directions spread evenly over the half sphere z >= 0 (a Fibonacci lattice)."""
    k = np.arange(n) + 0.5
    z = 1.0 - k / n
    r = np.sqrt(1.0 - z * z)
    theta = np.pi * (1 + 5**0.5) * k
    return np.stack([r * np.cos(theta), r * np.sin(theta), z], axis=1)


def _bed_rotations(pts: np.ndarray, preferred: object = None) -> Iterator[np.ndarray]:
    if preferred is not None:
        yield np.asarray(preferred, dtype=np.float64).reshape(3, 3)
    for axis in np.vstack([-np.eye(3), np.eye(3)])[[2, 0, 1]]:  # as uploaded, then on its sides
        yield rotation_to_bed(axis)
    for normal in _hull_faces(pts):
        yield rotation_to_bed(normal)
    for d in _sphere():
        yield rotation_to_bed(d)


def _turned_extents(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Footprint extents (x, y) for each z turn of :data:`_DEG`, and the height."""
    x, y = q[:, 0], q[:, 1]
    tx = np.outer(_COS, x) - np.outer(_SIN, y)
    ty = np.outer(_SIN, x) + np.outer(_COS, y)
    return np.ptp(tx, axis=1), np.ptp(ty, axis=1), float(np.ptp(q[:, 2]))


def _volumes(volumes: Iterable[Sequence[float]]) -> list[tuple[float, float, float]]:
    return [(float(v[0]), float(v[1]), float(v[2])) for v in volumes]


def fits_in_any_orientation(points: np.ndarray, volumes: Iterable[Sequence[float]],
                            preferred: object = None) -> Fit | None:
    """Return the first way (see the module docstring) in which the part with hull ``points``
    (n, 3) mm fits one of the build ``volumes`` (x, y, z mm), or None if it fits none."""
    vols = _volumes(volumes)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if not vols or not len(pts):
        return None
    pts = pts - pts.mean(axis=0)
    tol = TOLERANCE_MM
    for rot in _bed_rotations(pts, preferred):
        ex, ey, ez = _turned_extents(pts @ rot.T)
        for i, (bx, by, bz) in enumerate(vols):
            if ez > bz + tol:
                continue
            ok = ((ex <= bx + tol) & (ey <= by + tol)) | ((ey <= bx + tol) & (ex <= by + tol))
            if ok.any():
                j = int(np.argmax(ok))
                turn = _rot_z(float(np.degrees(_DEG[j]))) @ rot
                return Fit(tuple(tuple(float(v) for v in row) for row in turn),
                           (float(ex[j]), float(ey[j]), ez), i)
    return None


def scale_to_fit(points: np.ndarray, volumes: Iterable[Sequence[float]]) -> float | None:
    """Return the largest factor (at most 1) by which the part, scaled down evenly, fits one of
    the ``volumes`` in some orientation (the rotations of :func:`fits_in_any_orientation`);
    None without volumes or points."""
    vols = _volumes(volumes)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if not vols or not len(pts):
        return None
    pts = pts - pts.mean(axis=0)
    best = 0.0
    for rot in _bed_rotations(pts):
        ex, ey, ez = _turned_extents(pts @ rot.T)
        ex, ey = np.maximum(ex, 1e-12), np.maximum(ey, 1e-12)
        for bx, by, bz in vols:
            z = bz / ez if ez > 0 else math.inf
            f = np.maximum(np.minimum(bx / ex, by / ey), np.minimum(bx / ey, by / ex))
            best = max(best, min(float(f.max()), z))
        if best >= 1.0:
            return 1.0
    return best


def fits_volume(points: np.ndarray, volume: Sequence[float]) -> bool:
    """Whether the part with hull ``points`` fits the one build ``volume`` in any orientation
    (remembered: planning and the waiting reasons ask it per printer, again and again)."""
    pts = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
    return _fits_volume(pts.tobytes(), tuple(float(v) for v in volume))


@lru_cache(maxsize=1024)
def _fits_volume(data: bytes, volume: tuple[float, float, float]) -> bool:
    pts = np.frombuffer(data, dtype=np.float64).reshape(-1, 3)
    return fits_in_any_orientation(pts, [volume]) is not None


__all__ = ["Fit", "fits_in_any_orientation", "fits_volume", "hull_points", "points_of",
           "record_points",
           "rotation_to_bed", "scale_to_fit"]
