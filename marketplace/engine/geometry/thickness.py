"""Wall thickness by ray casting from sampled surface points into the part.

Samples: up to ``samples`` points, area-weighted over faces whose normal lies within 25° of an
axis (seeded, so the result is repeatable), kept away from the triangle's edges. Each ray runs
from the point into the material along that axis; the first face it leaves through gives the
distance t, and the wall thickness is t × |n_axis| (exact for parallel walls). A coarse 2D grid of
the sample points picks the few triangles a ray can hit, so a 2-million-triangle mesh costs one
pass of simple arithmetic over its triangles per axis. Units: mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketplace.engine.geometry.faces import FACE_BLOCK

AXIS_COS = 0.9
GRID = 256
EPS_MM = 1e-4
MAX_PAIRS = 4_000_000
BRUTE_PAIRS = 600_000  # per axis, when faces are too big for the grid: fewer rays, not more time


@dataclass(frozen=True, eq=False)
class Thickness:
    """points (k, 3) mm, thickness_mm (k,) per sampled point (inf: no exit found)."""

    points: np.ndarray
    thickness_mm: np.ndarray

    def thin(self, limit_mm: float) -> np.ndarray:
        """Return a mask of samples thinner than ``limit_mm``."""
        return self.thickness_mm < limit_mm


def sample_points(tri: np.ndarray, normals: np.ndarray, areas: np.ndarray, samples: int,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return (points (k, 3), face index (k,)) area-weighted on near-axis faces."""
    a = np.abs(normals)
    ok = np.flatnonzero((np.maximum(np.maximum(a[:, 0], a[:, 1]), a[:, 2]) >= AXIS_COS)
                        & (areas > 0))
    if len(ok) == 0:
        return np.zeros((0, 3)), np.zeros(0, np.int64)
    rng = np.random.default_rng(seed)
    cum = np.cumsum(areas[ok])
    pick = np.searchsorted(cum, rng.random(samples) * cum[-1], side="right")
    faces = ok[pick.clip(0, len(ok) - 1)]
    r = rng.uniform(0.15, 0.7, size=(samples, 2))
    r = np.where(r.sum(axis=1, keepdims=True) > 0.85, 0.85 - r[:, ::-1], r)
    t = tri[faces]
    pts = t[:, 0] + r[:, :1] * (t[:, 1] - t[:, 0]) + r[:, 1:] * (t[:, 2] - t[:, 0])
    return pts, faces


def measure(tri: np.ndarray, normals: np.ndarray, areas: np.ndarray, samples: int = 600,
            seed: int = 0) -> Thickness:
    """Measure wall thickness at sampled points of (m, 3, 3) triangles in mm."""
    pts, faces = sample_points(tri, normals, areas, samples, seed)
    out = np.full(len(pts), np.inf)
    if len(pts) == 0:
        return Thickness(pts, out)
    n = normals[faces]
    axis = np.abs(n).argmax(axis=1)  # (k, 3) with small k: fine
    # one grid for all three axes: cell indices of every face's box, computed once
    lo = pts.min(axis=0)
    cell = np.maximum(pts.max(axis=0) - lo, 1e-9) / (GRID - 1)
    # (3, m) layout: each coordinate's cells are contiguous for the per-axis passes
    c_lo = np.empty((3, len(tri)), dtype=np.int32)
    c_hi = np.empty((3, len(tri)), dtype=np.int32)
    # each face's box from its three corners' rows at once (twice as fast as per coordinate),
    # a block of faces at a time (small temporaries, reused)
    for a in range(0, len(tri), FACE_BLOCK):
        t = tri[a:a + FACE_BLOCK]
        face_lo = np.minimum(np.minimum(t[:, 0], t[:, 1]), t[:, 2])
        face_hi = np.maximum(np.maximum(t[:, 0], t[:, 1]), t[:, 2])
        for c in range(3):
            c_lo[c, a:a + len(t)] = _cell(face_lo[:, c], lo[c], cell[c], 0, GRID)
            c_hi[c, a:a + len(t)] = _cell(face_hi[:, c], lo[c], cell[c], -1, GRID - 1)
    p_cell = ((pts - lo) / cell).astype(np.int64).clip(0, GRID - 1)
    cast = np.zeros(len(pts), bool)
    for k in range(3):
        sel = np.flatnonzero(axis == k)
        if len(sel):
            out[sel], cast[sel] = _cast_axis(tri, normals, c_lo, c_hi, pts[sel], p_cell[sel],
                                             n[sel], k)
    return Thickness(pts[cast], out[cast])


def _cast_axis(tri: np.ndarray, normals: np.ndarray, c_lo: np.ndarray, c_hi: np.ndarray,
               pts: np.ndarray, p_cell: np.ndarray, n: np.ndarray,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cast rays along axis ``k`` (inward, against the normal); return (t × |n_k|, cast mask).

    c_lo/c_hi (3, m) : grid cells of each face's box corners; p_cell (k, 3) : the rays' cells.
    Work is bounded: when the faces are too big for the grid (a triangle soup), only as many
    rays are cast as ``BRUTE_PAIRS`` face-ray tests allow; the others are left out (not cast).
    """
    u, v = [a for a in range(3) if a != k]
    pi = p_cell[:, [u, v]]
    occ = np.zeros((GRID + 2, GRID + 2), np.int64)  # +1 border each side: no bound checks
    np.add.at(occ, (pi[:, 0] + 1, pi[:, 1] + 1), 1)
    # ray cells spread one cell down in both directions: a face box of at most 2 x 2 cells
    # that meets a ray cell finds it at its low corner (one lookup; a box of 1 x 1, 1 x 2 or
    # 2 x 1 cells may be kept needlessly: :func:`_pairs` matches it to no ray then)
    near = occ > 0
    near[:-1] |= near[1:].copy()
    near[:, :-1] |= near[:, 1:].copy()
    # a box wholly outside the rays' grid has hi < lo in some direction
    i0, i1, j0, j1 = c_lo[u], c_hi[u], c_lo[v], c_hi[v]
    one = (i1 - i0 <= 1) & (j1 - j0 <= 1)  # nearly every face of a big mesh
    flat = i0 * (GRID + 2)
    flat += j0
    flat += GRID + 3
    hit = near.ravel()[flat]
    big = np.flatnonzero(~one)
    if len(big):  # rays in a box of cells: from the summed-area table of the ray counts
        sat = occ.cumsum(0).cumsum(1)
        a0, a1, b0, b1 = i0[big], i1[big], j0[big], j1[big]
        count = sat[a1 + 1, b1 + 1] - sat[a0, b1 + 1] - sat[a1 + 1, b0] + sat[a0, b0]
        hit[big] = (a1 >= a0) & (b1 >= b0) & (count > 0)
    cand = np.flatnonzero(hit)
    cand = cand[np.abs(normals[cand, k]) > 1e-12]
    best = np.full(len(pts), np.inf)
    direction = -np.sign(n[:, k])
    nrays = _ray_budget(cand, i0, i1, j0, j1, len(pts))
    # a ray leaves the material through a face whose normal points its way: pair rays and
    # faces per direction (half the pairs)
    for sign in (1.0, -1.0):
        rays = np.flatnonzero(direction[:nrays] == sign)
        faces = cand[normals[cand, k] * sign > 0]
        if len(rays) == 0 or len(faces) == 0:
            continue
        for fi, ri in _pairs(faces, i0, i1, j0, j1, pi[rays], len(rays)):
            _hits(tri, normals, fi, rays[ri], pts, direction, k, u, v, best)
    cast = np.arange(len(pts)) < nrays  # the samples are random: the first ones are fair
    return best * np.abs(n[:, k]), cast


def _ray_budget(cand: np.ndarray, i0: np.ndarray, i1: np.ndarray, j0: np.ndarray,
                j1: np.ndarray, nrays: int) -> int:
    """Return how many rays to cast: all, unless the every-face-every-ray fallback of
    :func:`_pairs` would test more than ``BRUTE_PAIRS`` pairs."""
    ncell = ((i1[cand] - i0[cand] + 1).astype(np.int64)
             * (j1[cand] - j0[cand] + 1).astype(np.int64))
    if ncell.sum() <= MAX_PAIRS or len(cand) * nrays <= BRUTE_PAIRS:
        return nrays
    return min(nrays, max(1, BRUTE_PAIRS // max(len(cand), 1)))


def _pairs(cand: np.ndarray, i0: np.ndarray, i1: np.ndarray, j0: np.ndarray, j1: np.ndarray,
           pi: np.ndarray, nrays: int):
    """Yield (face, ray) index arrays to test: rays in the cells each face's box covers.

    Every candidate face is compared with every ray instead (in chunks) when that is fewer
    pairs than the cells the faces' boxes cover (a few big triangles, as in a CAD part or a
    soup), or when the cells would be too many for memory; only the pairs whose ray lies in
    the face's box of cells (one cell to spare each side) are yielded.
    """
    w = (i1[cand] - i0[cand] + 1).astype(np.int64)
    h = (j1[cand] - j0[cand] + 1).astype(np.int64)
    ncell = w * h
    cells = int(ncell.sum())
    if cells > MAX_PAIRS or len(cand) * nrays <= cells:
        chunk = max(1, MAX_PAIRS // max(nrays, 1))
        ru, rv = pi[:nrays, 0], pi[:nrays, 1]
        for start in range(0, len(cand), chunk):
            f = cand[start : start + chunk]
            near = (i0[f, None] <= ru + 1) & (ru - 1 <= i1[f, None])
            near &= (j0[f, None] <= rv + 1) & (rv - 1 <= j1[f, None])
            face, ray = np.nonzero(near)
            yield f[face], ray
        return
    rep = np.repeat(np.arange(len(cand)), ncell)
    off = np.arange(len(rep)) - np.repeat(np.cumsum(ncell) - ncell, ncell)
    cid = (i0[cand][rep] + off // h[rep]) * GRID + (j0[cand][rep] + off % h[rep])
    ray_cell = pi[:, 0] * GRID + pi[:, 1]
    order = np.argsort(ray_cell, kind="stable")
    sorted_cells = ray_cell[order]
    first = np.searchsorted(sorted_cells, cid, "left")
    count = np.searchsorted(sorted_cells, cid, "right") - first
    keep = count > 0
    rep, first, count = rep[keep], first[keep], count[keep]
    if len(rep) == 0:
        return
    total = int(count.sum())
    prep = np.repeat(np.arange(len(rep)), count)
    poff = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    yield cand[rep[prep]], order[first[prep] + poff]


def _cell(x: np.ndarray, lo: float, size: float, floor: int, ceil: int) -> np.ndarray:
    """Grid cell indices (int32) of coordinates x (m,), clipped to [floor, ceil]."""
    out = x - x.dtype.type(lo)
    out *= x.dtype.type(1.0 / size)
    np.floor(out, out=out)
    np.clip(out, floor, ceil, out=out)
    return out.astype(np.int32)


def _hits(tri: np.ndarray, normals: np.ndarray, fi: np.ndarray, ri: np.ndarray,
          pts: np.ndarray, direction: np.ndarray, k: int, u: int, v: int,
          best: np.ndarray) -> None:
    """Test ray ri[i] against face fi[i]; lower ``best`` (per ray) to the nearest exit hit."""
    # exit faces only: their normal points along the ray
    fn = normals[fi]
    ok = fn[:, k] * direction[ri] > 0
    fi, ri, fn = fi[ok], ri[ok], fn[ok]
    t = tri[fi].astype(np.float64)
    a, b, c = t[:, 0], t[:, 1], t[:, 2]
    p = pts[ri]
    pu, pv = p[:, u], p[:, v]
    d1 = (b[:, u] - a[:, u]) * (pv - a[:, v]) - (b[:, v] - a[:, v]) * (pu - a[:, u])
    d2 = (c[:, u] - b[:, u]) * (pv - b[:, v]) - (c[:, v] - b[:, v]) * (pu - b[:, u])
    d3 = (a[:, u] - c[:, u]) * (pv - c[:, v]) - (a[:, v] - c[:, v]) * (pu - c[:, u])
    inside = ((d1 >= 0) & (d2 >= 0) & (d3 >= 0)) | ((d1 <= 0) & (d2 <= 0) & (d3 <= 0))
    if not inside.any():
        return
    a, fn, p, ri = a[inside], fn[inside], p[inside], ri[inside]
    hit = a[:, k] - (fn[:, u] * (p[:, u] - a[:, u]) + fn[:, v] * (p[:, v] - a[:, v])) / fn[:, k]
    dist = (hit - p[:, k]) * direction[ri]
    good = dist > EPS_MM
    np.minimum.at(best, ri[good], dist[good])
