"""Choose how to lay a part on the bed: least support, fewest layers, and it must fit a printer.

Candidates: the six axis directions and the normals of the part's largest flat areas, each
turned to face the bed (-z); for each, turns about z in 5° steps if it only fits diagonally.
If none of them fits, the first orientation that does (:mod:`fitting`: hull faces, tilts).
For each candidate (all in mm):

- overhang faces: normal more than 45° below the horizontal (n_z < -cos 45°) and not on the bed;
  support area = their area projected on the bed, support volume = that area × height above bed
  (an upper bound: support that lands on the part is counted down to the bed);
- layers = ceil(height / layer height);
- a rough time figure for ranking only: 6 s per layer + support material (25 % of the support
  volume) at 2.5 mm³/s. The quote engine prices the chosen orientation with the real estimate.

Big meshes are evaluated on a random sample of 50 000 faces (area sums scaled back up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from marketplace.engine.geometry.faces import centroids, project
from marketplace.engine.geometry.fitting import fits_in_any_orientation, rotation_to_bed

COS45 = math.cos(math.radians(45))
SAMPLE_FACES = 50_000
SECONDS_PER_LAYER = 6.0
SUPPORT_FILL = 0.25
SUPPORT_MM3_PER_S = 2.5


@dataclass(frozen=True)
class Placement:
    """One way to lay the part down (rotation (3, 3) applied as points @ rotation.T)."""

    name: str
    rotation: tuple[tuple[float, float, float], ...]
    extents_mm: tuple[float, float, float]
    support_area_mm2: float
    support_volume_mm3: float
    layers: int
    time_proxy_s: float
    printer: int | None  # index of the first build volume it fits, None if none

    @property
    def fits(self) -> bool:
        """Whether some hub printer can hold the part laid this way."""
        return self.printer is not None


def _rot_z(deg: float) -> np.ndarray:
    r = math.radians(deg)
    return np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])


def fits_printer(ext: np.ndarray, volumes: tuple[tuple[float, float, float], ...]) -> int | None:
    """Return the index of the first build volume holding extents (x, y, z), turned 0° or 90°."""
    for i, (bx, by, bz) in enumerate(volumes):
        if ext[2] <= bz + 1e-6 and (
            (ext[0] <= bx + 1e-6 and ext[1] <= by + 1e-6)
            or (ext[1] <= bx + 1e-6 and ext[0] <= by + 1e-6)
        ):
            return i
    return None


def candidate_directions(normals: np.ndarray, areas: np.ndarray, k: int = 4) -> list[np.ndarray]:
    """Return the six axes plus the normals of the ``k`` largest flat areas (unit vectors)."""
    dirs = [np.array(v, float) for v in np.vstack([-np.eye(3), np.eye(3)])]
    if len(normals):
        q = np.round(normals * 50).astype(np.int64)
        keys = (q[:, 0] + 64) * 16384 + (q[:, 1] + 64) * 128 + (q[:, 2] + 64)
        uniq, inv = np.unique(keys, return_inverse=True)
        sums = np.bincount(inv.ravel(), weights=areas, minlength=len(uniq))
        for g in np.argsort(sums)[::-1][:k]:
            members = inv.ravel() == g
            n = (normals[members] * areas[members, None]).sum(axis=0)
            if np.linalg.norm(n) > 0:
                n = n / np.linalg.norm(n)
                if all(np.dot(n, d) < 0.999 for d in dirs):
                    dirs.append(n)
    return dirs


def evaluate(name: str, rot: np.ndarray, points: np.ndarray, normals: np.ndarray,
             areas: np.ndarray, centroids: np.ndarray, weight: float,
             volumes: tuple[tuple[float, float, float], ...], layer_mm: float) -> Placement:
    """Score one rotation (see the module docstring); ``weight`` scales sampled sums."""
    pts = points @ rot.T
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    ext = hi - lo
    printer = fits_printer(ext, volumes)
    if printer is None:
        xy = pts[:, :2]
        for deg in range(5, 90, 5):
            turned = xy @ _rot_z(deg)[:2, :2].T
            e2 = turned.max(axis=0) - turned.min(axis=0)
            cand = np.array([e2[0], e2[1], ext[2]])
            printer = fits_printer(cand, volumes)
            if printer is not None:
                rot = _rot_z(deg) @ rot
                ext = cand
                break
    nz = project(normals, rot[2])
    height = project(centroids, rot[2]) - lo[2]
    over = (nz < -COS45) & (height > max(layer_mm / 2, 0.05))
    proj = areas[over] * -nz[over]
    s_area = float(proj.sum() * weight)
    s_vol = float((proj * height[over]).sum() * weight)
    layers = max(1, math.ceil(round(ext[2] / layer_mm, 6)))
    proxy = layers * SECONDS_PER_LAYER + s_vol * SUPPORT_FILL / SUPPORT_MM3_PER_S
    return Placement(name, tuple(tuple(float(v) for v in row) for row in rot),
                     tuple(float(v) for v in ext), s_area, s_vol, layers, proxy, printer)


def choose(points: np.ndarray, tri: np.ndarray, normals: np.ndarray, areas: np.ndarray,
           volumes: tuple[tuple[float, float, float], ...], layer_mm: float = 0.2,
           seed: int = 0) -> tuple[Placement, Placement, list[Placement]]:
    """Return (as uploaded, suggested, all candidates) for a part in mm.

    points : (n, 3) hull points (see ``analysis._hull_points``); tri (m, 3, 3) the triangles,
    normals (m, 3) and areas (m,) per face. The suggestion keeps the upload's orientation
    unless another one is at least 5 % faster by the time figure and no worse in support area,
    support volume or layers (:func:`no_worse`). If the upload fits no printer, the fastest
    turn that fits is suggested even where it needs more support.
    """
    m = len(areas)
    weight = 1.0
    if m > SAMPLE_FACES:
        # with replacement: choice(replace=False) would shuffle all m indices
        pick = np.sort(np.random.default_rng(seed).integers(0, m, SAMPLE_FACES))
        normals, areas, cents = normals[pick], areas[pick], centroids(tri, pick)
        weight = m / SAMPLE_FACES
    else:
        cents = centroids(tri)
    current = evaluate("as_uploaded", np.eye(3), points, normals, areas, cents, weight,
                       volumes, layer_mm)
    options = [current]
    for i, d in enumerate(candidate_directions(normals, areas)):
        options.append(evaluate(f"candidate_{i}", rotation_to_bed(d), points, normals, areas,
                                cents, weight, volumes, layer_mm))
    fitting = [p for p in options if p.fits]
    if not fitting:  # none of these fits: any orientation that does (tilted, say)
        found = fits_in_any_orientation(points, volumes)
        if found is not None:
            fitting = [evaluate("fitted", np.array(found.rotation), points, normals, areas,
                                cents, weight, volumes, layer_mm)]
            options.append(fitting[0])
    if current.fits:  # only a turn that is no worse on any figure it reports is suggested
        fitting = [p for p in fitting if no_worse(p, current)]
    best = min(fitting or options, key=lambda p: (p.time_proxy_s, p.support_area_mm2))
    if current.fits and best.time_proxy_s > 0.95 * current.time_proxy_s:
        best = current
    return current, best, options


def no_worse(p: Placement, than: Placement) -> bool:
    """Whether ``p`` needs no more support area, support volume, layers or time than ``than``."""
    def le(a: float, b: float) -> bool:
        return a <= b + 1e-9 * max(abs(a), abs(b), 1.0)

    return (le(p.support_area_mm2, than.support_area_mm2)
            and le(p.support_volume_mm3, than.support_volume_mm3)
            and p.layers <= than.layers and le(p.time_proxy_s, than.time_proxy_s))
