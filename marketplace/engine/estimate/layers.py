"""Cut a mesh into per-layer cross-sections, the way a slicer does (mid-layer planes).

Closed meshes (every edge shared by exactly two faces, consistent winding) are cut straight from
their triangles (:func:`chained_sections`): each triangle that spans a plane gives one segment,
and the segments are chained into loops across the shared edges, all in vectorised numpy. No
solid is built: on a 2-million-triangle file building manifold3d's solid alone took longer than
the whole quote may. Meshes that do not chain (near-coincident corners, non-manifold edges) go
through manifold3d (merging corners, exact, native code); meshes manifold3d rejects too (open)
fall back to trimesh's plane sections, closed into polygons with the even-odd rule; that path is
slower and less exact, so the caller flags the result as lower confidence.

Every outline is then simplified within ``SIMPLIFY_MM`` (10 µm, a twentieth of the finest layer
height): a file finer than that is estimated on the simplified outlines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import manifold3d as m3d
import numpy as np

from marketplace.engine.geometry.faces import FACE_BLOCK, soup_faces

SIMPLIFY_MM = 0.01


@dataclass(frozen=True)
class LayerStack:
    """Cross-sections of a part placed on z = 0.

    heights_mm : (n,) float, top of each layer (print_z)
    thickness_mm : (n,) float, layer thickness (first layer may differ)
    sections : n manifold3d.CrossSection objects (xy in mm)
    exact : True if the mesh was a valid manifold (exact slicing)
    same_as_below : per layer, True if its outline is exactly the one of the layer below
    """

    heights_mm: np.ndarray
    thickness_mm: np.ndarray
    sections: list[m3d.CrossSection]
    exact: bool
    same_as_below: tuple[bool, ...] = ()


def layer_heights(height_mm: float, layer_mm: float, first_mm: float) -> np.ndarray:
    """Return the top z (mm) of each layer for a part ``height_mm`` tall.

    Matches PrusaSlicer's layer count on the corpus: first layer, then ``layer_mm`` layers, the
    count rounded to the nearest whole layer.
    """
    if height_mm <= 0:
        return np.zeros(0)
    n = max(1, int(math.floor((height_mm - first_mm) / layer_mm + 0.5)) + 1)
    return first_mm + layer_mm * np.arange(n, dtype=float)


def _slice_planes(tops: np.ndarray, first_mm: float, height_mm: float) -> np.ndarray:
    """Mid-layer cutting heights (mm), kept just inside the part."""
    bottoms = np.concatenate([[0.0], tops[:-1]])
    mids = (bottoms + tops) / 2
    mids[0] = min(first_mm / 2, height_mm / 2)
    return np.minimum(mids, height_mm - 1e-4)


def slice_mesh(
    vertices: np.ndarray, faces: np.ndarray | None, layer_mm: float, first_mm: float,
    across: np.ndarray | None = None,
) -> LayerStack:
    """Place the mesh on z = 0 and cut it into layers.

    vertices : (n, 3) float, mm
    faces : (m, 3) int; None: the vertices are a triangle soup (corner 3t + j is corner j of
        face t: the analysis' corners)
    across : (3m,) int, optional: the face across each half-edge (half-edge e runs from
        corner e % 3 of face e // 3 to its next corner) of a triangle soup (``faces`` None
        or ``arange(3m)`` in rows of three) whose pairing the caller knows; without it the
        pairing is computed from ``faces`` (:func:`half_edge_partners`)
    """
    v = np.asarray(vertices)
    v = v if v.dtype == np.float32 else v.astype(np.float64, copy=False)
    if faces is None and len(v) % 3:
        raise ValueError("a triangle soup has three corners a face")
    if faces is None and across is None:  # a soup without its pairing: paired from its rows
        faces = soup_faces(len(v))
    f = None if faces is None else np.asarray(faces, dtype=np.int64)
    z_min = float(v[:, 2].min())
    if z_min != 0.0:
        v = v - np.array([0.0, 0.0, z_min], dtype=v.dtype)
    height = float(v[:, 2].max())
    tops = layer_heights(height, layer_mm, first_mm)
    planes = _slice_planes(tops, first_mm, height)
    thick = np.diff(np.concatenate([[0.0], tops]))

    soup = across is not None
    if across is None:
        partner = half_edge_partners(f)
        across = None if partner is None else partner // 3
    sections = chained_sections(v, f, across, planes, soup) if across is not None else None
    exact = sections is not None
    if sections is None and f is None:  # a soup that does not chain after all
        f = soup_faces(len(v))
    if sections is None:
        manifold = _to_manifold(v, f)
        if manifold is not None:
            sections = [manifold.slice(float(z)) for z in planes]
            exact = True
        else:
            sections = _fallback_sections(v, f, planes)
    # Dropping vertices closer than 10 µm to the outline halves the polygon work later on.
    sections = [s.simplify(SIMPLIFY_MM) if not s.is_empty() else s for s in sections]
    return LayerStack(tops, thick, sections, exact, tuple(same_as_previous(sections)))


def half_edge_partners(faces: np.ndarray) -> np.ndarray | None:
    """Return (3m,) int64: for half-edge e (face e // 3, from its corner e % 3 to the next
    one) the half-edge running the other way along the same edge; None unless every edge is
    shared by exactly two faces that run it in opposite directions (a closed, consistently
    wound mesh)."""
    f = np.asarray(faces, dtype=np.int64)
    if len(f) == 0:
        return None
    n = int(f.max()) + 1
    a = f.ravel()
    b = f[:, [1, 2, 0]].ravel()
    key = a * n + b
    order = np.argsort(key)
    sk = key[order]
    if (sk[1:] == sk[:-1]).any():  # a directed edge twice: wound against its neighbour
        return None
    want = b * n + a
    pos = np.minimum(np.searchsorted(sk, want), len(sk) - 1)
    if not (sk[pos] == want).all():  # an open edge
        return None
    return order[pos]


def chained_sections(v: np.ndarray, f: np.ndarray | None, across: np.ndarray,
                     planes: np.ndarray, soup: bool = False) -> list[m3d.CrossSection] | None:
    """Cross-sections of a closed mesh at ``planes`` (z, ascending), or None if the segments
    do not close into loops (then the mesh is not what ``across`` says).

    v (n, 3) float mm, f (m, 3) int (None with ``soup``), across (3m,) int: the face across
    each half-edge (the face of its partner, see :func:`half_edge_partners`).
    soup : ``f`` is ``arange(3m).reshape(m, 3)`` (corner 3t + j of face t is ``v[3t + j]``)
    Heights are compared as float32, like the STL the slicer reads (and manifold3d's
    vertices), and a corner counts as above a plane when it is strictly above it, so a corner
    lying in a plane is handled like every other one and the loops close. Outer loops run
    counter-clockwise (seen from above) as the triangles' winding says, holes clockwise;
    overlapping bodies are joined (positive fill rule), like manifold3d's slices.
    """
    m = len(v) // 3 if f is None else len(f)
    zv = v[:, 2].astype(np.float32)
    # a triangle soup (corner 3t + j is corner j of face t) needs no lookups through f
    soup = soup and len(v) == 3 * m
    zf = zv.reshape(m, 3) if soup else zv[f]
    # the planes each face spans: lo <= p < hi (zmin <= plane < zmax), a block at a time
    lo = np.empty(m, dtype=np.int32)
    hi = np.empty(m, dtype=np.int32)
    for a in range(0, m, FACE_BLOCK):
        block = zf[a:a + FACE_BLOCK]
        z0, z1, z2 = block[:, 0], block[:, 1], block[:, 2]
        lo[a:a + len(z0)] = np.searchsorted(
            planes, np.minimum(np.minimum(z0, z1), z2).astype(np.float64))
        hi[a:a + len(z0)] = np.searchsorted(
            planes, np.maximum(np.maximum(z0, z1), z2).astype(np.float64))
    count = hi - lo
    tri = np.flatnonzero(count)
    c = count[tri].astype(np.int64)
    k = int(c.sum())
    if k == 0:
        return [m3d.CrossSection() for _ in planes]
    first = np.zeros(m, dtype=np.int64)  # index of each face's first crossing
    ends = np.cumsum(c)
    first[tri] = ends - c
    start = np.empty((k, 2))
    layer = np.empty(k, dtype=np.int64)
    succ = np.empty(k, dtype=np.int64)
    # the crossings of a block of faces at a time: small temporaries, reused and in cache
    for j0 in range(0, len(tri), FACE_BLOCK):
        j1 = min(j0 + FACE_BLOCK, len(tri))
        s0, s1 = int(ends[j0] - c[j0]), int(ends[j1 - 1])
        if not _cross(v, f, across, planes, zv, zf, lo, hi, first, tri[j0:j1], c[j0:j1],
                      soup, start[s0:s1], layer[s0:s1], succ[s0:s1]):
            return None
    if (np.bincount(succ, minlength=k) != 1).any():
        return None
    return _loops_to_sections(start, succ, layer, len(planes))


_NEXT = np.array([1, 2, 0])


def _cross(v: np.ndarray, f: np.ndarray, across: np.ndarray, planes: np.ndarray,
           zv: np.ndarray, zf: np.ndarray, lo: np.ndarray, hi: np.ndarray, first: np.ndarray,
           tri: np.ndarray, c: np.ndarray, soup: bool, start: np.ndarray, layer: np.ndarray,
           succ: np.ndarray) -> bool:
    """Work out the crossings of faces ``tri`` (``c`` planes each, numbered from
    ``first[tri]`` on, see :func:`chained_sections`): each one's layer, the point where its
    segment starts and the crossing it leads to (written into ``start``, ``layer`` and
    ``succ``, the block's slices); False if a segment leads nowhere (the mesh does not chain).
    """
    tid = np.repeat(tri, c)
    offset = int(first[tri[0]])
    layer[:] = lo[tid] + (np.arange(offset, offset + len(tid)) - first[tid])
    zp = planes[layer]
    above = zf[tid] > zp[:, None]
    alone_up = above.sum(axis=1) == 1
    # the corner alone on its side of the plane; the crossing edges run from it (half-edge
    # 3t + i) and into it (half-edge 3t + i - 1). Alone above: the segment enters on the
    # edge from it and leaves on the edge into it (interior on its left); alone below: the
    # other way round.
    i = np.where(alone_up, above.argmax(axis=1), above.argmin(axis=1))
    nxt = _NEXT[i]
    prv = _NEXT[nxt]
    base = 3 * tid
    near = np.where(alone_up, nxt, prv)  # the other end of the edge the segment enters on
    ia, ib = base + i, base + near
    if not soup:
        ia, ib = f.reshape(-1)[ia], f.reshape(-1)[ib]
    za, zb = zv[ia].astype(np.float64), zv[ib].astype(np.float64)
    t = (zp - za) / (zb - za)
    pa, pb = v[ia], v[ib]
    start[:, 0] = pa[:, 0] + t * (pb[:, 0] - pa[:, 0])
    start[:, 1] = pa[:, 1] + t * (pb[:, 1] - pa[:, 1])
    nb = across[base + np.where(alone_up, prv, i)]  # across the edge it leaves on
    lo_nb = lo[nb]
    if not ((lo_nb <= layer) & (layer < hi[nb])).all():
        return False
    succ[:] = first[nb] + (layer - lo_nb)
    return True


def _loops_to_sections(points: np.ndarray, succ: np.ndarray, layer: np.ndarray,
                       n_planes: int) -> list[m3d.CrossSection]:
    """Follow the successor permutation ``succ`` into loops and build one section per plane."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components, depth_first_order

    k = len(succ)
    # the loops, and the first point of each: scipy numbers them as it meets them in order
    loops, label = connected_components(
        csr_matrix((np.ones(k, dtype=np.int8), succ, np.arange(k + 1)), shape=(k, k)),
        directed=True, connection="weak")
    heads = np.flatnonzero(np.diff(np.maximum.accumulate(label), prepend=-1) > 0)
    if len(heads) != loops:  # numbered otherwise: the first point of each label
        heads = np.sort(np.unique(label, return_index=True)[1])
    # a root joined to each loop's first point: depth-first from it walks loop after loop,
    # each in order (a root joined to every point costs as much as points times loops: scipy
    # scans the root's list from its start after each loop)
    cols = np.concatenate([succ, heads])
    ptr = np.concatenate([np.arange(k + 1), [k + len(heads)]])
    graph = csr_matrix((np.ones(len(cols), dtype=np.int8), cols, ptr), shape=(k + 1, k + 1))
    order, pred = depth_first_order(graph, k, directed=True, return_predecessors=True)
    order = order[1:]
    bounds = np.append(np.flatnonzero(pred[order] == k), k)  # where each loop starts
    pts = points[order]
    by_plane: list[list[np.ndarray]] = [[] for _ in range(n_planes)]
    loop_layer = layer[order[bounds[:-1]]]
    for s, e, lay in zip(bounds[:-1].tolist(), bounds[1:].tolist(), loop_layer.tolist()):
        if e - s >= 3:
            by_plane[lay].append(pts[s:e])
    return [m3d.CrossSection(loops, m3d.FillRule.Positive) if loops else m3d.CrossSection()
            for loops in by_plane]


def outline_lengths(polys: list[np.ndarray], group: np.ndarray | None = None,
                    n_groups: int = 1) -> np.ndarray:
    """Boundary length (mm) per group of closed polygons, (n_groups,) float.

    polys : (k, 2) float mm each (``CrossSection.to_polygons()``); group : (len(polys),) int
    group of each polygon (default: all in group 0). One vectorised pass, however many.
    """
    group = np.zeros(len(polys), np.int64) if group is None else np.asarray(group, np.int64)
    counts = np.fromiter((len(p) for p in polys), np.int64, len(polys))
    if not counts.any():
        return np.zeros(n_groups)
    pts = np.concatenate([p for p in polys if len(p)])
    group, counts = group[counts > 0], counts[counts > 0]
    ends = np.cumsum(counts)
    nxt = np.arange(1, len(pts) + 1)
    nxt[ends - 1] = ends - counts  # each polygon's last point back to its first
    d = pts[nxt] - pts
    lengths = np.hypot(d[:, 0], d[:, 1])
    return np.bincount(np.repeat(group, counts), weights=lengths, minlength=n_groups)


def same_as_previous(secs: list[m3d.CrossSection]) -> list[bool]:
    """For each layer: is its outline exactly the one of the layer below? (layer 0: False)"""
    def points(cs: m3d.CrossSection) -> np.ndarray:
        return np.concatenate([np.asarray(p) for p in cs.to_polygons()])

    same = [False] * len(secs)
    prev_key, prev_cs, prev_pts = None, None, None
    for k, cs in enumerate(secs):
        key = (cs.num_vert(), round(cs.area(), 9)) if not cs.is_empty() else None
        pts = None
        if key is not None and key == prev_key:  # the points only when the cheap key agrees
            prev_pts = points(prev_cs) if prev_pts is None else prev_pts
            pts = points(cs)
            same[k] = np.array_equal(pts, prev_pts)
        prev_key, prev_cs, prev_pts = key, cs, pts
    return same


def _to_manifold(v: np.ndarray, f: np.ndarray) -> m3d.Manifold | None:
    """Return a manifold3d solid, or None if the mesh is not a valid closed manifold."""
    try:
        mesh = m3d.Mesh(
            vert_properties=np.ascontiguousarray(v, dtype=np.float32),
            tri_verts=np.ascontiguousarray(f, dtype=np.uint32),
        )
        mesh.merge()
        solid = m3d.Manifold(mesh)
    except Exception:  # noqa: BLE001 - any rejection means "use the fallback"
        return None
    if solid.status().name != "NoError" or solid.is_empty():
        return None
    if solid.volume() < 0:
        return None
    return solid


def _fallback_sections(v: np.ndarray, f: np.ndarray, planes: np.ndarray) -> list:
    """Cross-sections of an open or non-manifold mesh (even-odd fill).

    trimesh cuts the triangles at every plane; shapely joins the segments into chains, and chains
    left open by holes in the mesh are closed straight across the gap.
    """
    import shapely
    from trimesh.intersections import mesh_multiplane

    empty = m3d.CrossSection()
    try:
        lines, _, _ = mesh_multiplane(
            _trimesh(v, f), plane_origin=[0.0, 0.0, 0.0], plane_normal=[0.0, 0.0, 1.0],
            heights=list(planes),
        )
    except Exception:  # noqa: BLE001 - degenerate input: no usable sections
        return [empty for _ in planes]
    sections = []
    for segs in lines:
        segs = np.asarray(segs, dtype=np.float64)
        segs = segs.reshape(len(segs), 2, -1)[:, :, :2] if len(segs) else segs
        if len(segs) < 3:
            sections.append(empty)
            continue
        merged = shapely.line_merge(shapely.multilinestrings(np.round(segs, 6)))
        geoms = getattr(merged, "geoms", [merged])
        loops = [np.asarray(g.coords)[:, :2] for g in geoms if len(g.coords) >= 3]
        loops = [lp[:-1] if np.allclose(lp[0], lp[-1]) else lp for lp in loops]
        loops = [lp for lp in loops if len(lp) >= 3]
        sections.append(m3d.CrossSection(loops, m3d.FillRule.EvenOdd) if loops else empty)
    return sections


def _trimesh(v: np.ndarray, f: np.ndarray):
    import trimesh  # local import: only the fallback needs it

    return trimesh.Trimesh(vertices=v, faces=f, process=True)
