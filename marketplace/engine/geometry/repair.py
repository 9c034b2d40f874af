"""The exact topology path: merge vertices, drop collapsed and duplicate faces, count edges,
make the winding consistent.

Used for every mesh that is not clean and closed (see :mod:`topology`). Arrays in file units.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from marketplace.engine.geometry import shells as shells_mod
from marketplace.engine.geometry.topology_types import MAX_LOCATIONS, Topology


def merge_vertices(bits: np.ndarray, hv: np.ndarray) -> np.ndarray:
    """Return an id per corner (n,) int64: equal ids for bit-identical coordinates."""
    order = np.argsort(hv)
    sb = bits[order]
    sh = hv[order]
    new = np.empty(len(order), dtype=bool)
    new[:1] = True
    new[1:] = (sh[1:] != sh[:-1]) | (sb[1:] != sb[:-1]).any(axis=1)
    ids = np.empty(len(order), dtype=np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids


def close_holes(vertices: np.ndarray, faces: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """Close the simple holes of an indexed mesh whose winding is consistent: each hole (a
    ring of open edges) gets a new vertex at the mean of its corners and a fan of triangles
    from it to each of its edges, wound against that edge, so every open edge gets its
    partner.

    Returns (vertices, faces, left): the patches appended (the same arrays if nothing is
    open), and how many holes were left open: a hole whose ring passes a corner twice (two
    holes touching at a corner) or whose edges run both ways (a face wound against its
    neighbour) would get a patch that is no surface; the slicer closes those as it can. A
    flat hole is closed exactly; a curved one by a cap through its centre: what "small holes
    are closed for printing" means (the analysis refuses bigger ones as ``not_closable``).
    """
    f = np.asarray(faces, dtype=np.int64)
    if len(f) == 0:
        return vertices, faces, 0
    n = int(f.max()) + 1
    a, b = f.ravel(), f[:, [1, 2, 0]].ravel()
    forward = np.unique(a * n + b)
    backward = b * n + a  # the partner each half-edge needs
    pos = np.minimum(np.searchsorted(forward, backward), len(forward) - 1)
    open_he = np.flatnonzero(forward[pos] != backward)
    if len(open_he) == 0:
        return vertices, faces, 0
    va, vb = a[open_he], b[open_he]
    graph = coo_matrix((np.ones(len(va), dtype=np.int8), (va, vb)), shape=(n, n)).tocsr()
    _, loop_of_vertex = connected_components(graph, directed=True, connection="weak")
    loops, loop = np.unique(loop_of_vertex[va], return_inverse=True)
    # a simple ring: each of its corners starts one open edge and ends one
    starts, ends = np.bincount(va, minlength=n), np.bincount(vb, minlength=n)
    odd = (starts[va] != 1) | (ends[va] != 1) | (starts[vb] != 1) | (ends[vb] != 1)
    bad = np.zeros(len(loops), dtype=bool)
    bad[loop[odd]] = True
    keep = ~bad[loop]
    if not keep.any():
        return vertices, faces, int(bad.sum())
    kept_loops, loop = np.unique(loop[keep], return_inverse=True)
    va, vb = va[keep], vb[keep]
    v = np.asarray(vertices)
    counts = np.bincount(loop, minlength=len(kept_loops)).astype(np.float64)
    centres = np.stack([np.bincount(loop, weights=v[va, k], minlength=len(kept_loops))
                        / counts for k in range(3)], axis=1).astype(v.dtype)
    patch = np.stack([vb, va, len(v) + loop], axis=1)
    return (np.concatenate([v, centres]),
            np.concatenate([f, patch]).astype(np.asarray(faces).dtype, copy=False),
            int(bad.sum()))


def _orientation_sign(faces: np.ndarray, srt: np.ndarray) -> np.ndarray:
    """+1 where a face is a cyclic rotation of its sorted corners, else -1."""
    f0, f1 = faces[:, 0], faces[:, 1]
    even = ((f0 == srt[:, 0]) & (f1 == srt[:, 1])) | ((f0 == srt[:, 1]) & (f1 == srt[:, 2])) | (
        (f0 == srt[:, 2]) & (f1 == srt[:, 0])
    )
    return np.where(even, 1, -1)


def drop_duplicates(faces: np.ndarray, alive: np.ndarray) -> tuple[np.ndarray, int]:
    """Keep one face per vertex set: the net orientation of copies decides (0: keep none).

    A face and its reverse cancel (an inner double wall); two equal copies keep one, so the
    volume is not doubled. Returns the new alive mask and the number of faces dropped.
    """
    live = np.flatnonzero(alive)
    srt = np.sort(faces[live], axis=1)
    nv = int(faces.max()) + 1
    if nv < 2**21:  # the sorted triple packs exactly into one int64: a 1-D unique is fast
        packed = (srt[:, 0] * nv + srt[:, 1]) * nv + srt[:, 2]
        _, inverse, counts = np.unique(packed, return_inverse=True, return_counts=True)
    else:  # two int64 keys and one lexsort (np.unique with axis=0 is many times slower)
        inverse, counts = _group_rows(srt[:, 0] * nv + srt[:, 1], srt[:, 2])
    inverse = inverse.ravel()
    if (counts == 1).all():
        return alive, 0
    sign = _orientation_sign(faces[live], srt)
    net = np.bincount(inverse, weights=sign, minlength=len(counts)).astype(np.int64)
    dup = counts[inverse] > 1
    keep = ~dup
    # in each duplicated group keep the first face whose orientation matches the net sign
    cand = np.flatnonzero(dup & (sign == np.sign(net[inverse])) & (net[inverse] != 0))
    _, first = np.unique(inverse[cand], return_index=True)
    keep[cand[first]] = True
    out = alive.copy()
    out[live[~keep]] = False
    return out, int((~keep).sum())


def _group_rows(k1: np.ndarray, k2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inverse, counts) of ``np.unique`` over the pairs (k1[i], k2[i]), groups numbered in
    sorted order."""
    order = np.lexsort((k2, k1))
    a, b = k1[order], k2[order]
    start = np.empty(len(order), dtype=bool)
    start[:1] = True
    start[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.cumsum(start) - 1
    counts = np.diff(np.append(np.flatnonzero(start), len(order)))
    return inverse, counts


def exact_topology(tri: np.ndarray, bits: np.ndarray, hv: np.ndarray) -> Topology:
    """Analyse and repair a soup (m, 3, 3): see :class:`topology.Topology`."""
    m = len(tri)
    faces = merge_vertices(bits, hv).reshape(m, 3)
    collapsed = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (
        faces[:, 2] == faces[:, 0]
    )
    alive, n_dup = drop_duplicates(faces, ~collapsed)
    live = np.flatnonzero(alive)
    f = faces[live]
    a = f.ravel()
    b = f[:, [1, 2, 0]].ravel()
    nv = int(faces.max()) + 1
    key = np.minimum(a, b) * nv + np.maximum(a, b)
    order = np.argsort(key)  # one sort gives the groups, their sizes and each one's members
    sk = key[order]
    start = np.empty(len(sk), dtype=bool)
    start[:1] = True
    np.not_equal(sk[1:], sk[:-1], out=start[1:])
    group_sorted = np.cumsum(start) - 1
    inverse = np.empty_like(group_sorted)
    inverse[order] = group_sorted
    counts = np.diff(np.append(np.flatnonzero(start), len(sk)))
    he_count = counts[inverse]
    he_face = np.repeat(np.arange(len(live)), 3)
    # pairs of half-edges on edges shared by exactly two faces
    two = order[he_count[order] == 2]
    p, q = two[0::2], two[1::2]
    same_dir = a[p] == a[q]
    # chain the faces around non-manifold edges so shells stay connected through them
    many = order[he_count[order] > 2]
    link = np.flatnonzero(inverse[many][1:] == inverse[many][:-1])
    ga = np.concatenate([he_face[p], he_face[many[link]]])
    gb = np.concatenate([he_face[q], he_face[many[link + 1]]])
    labels, n_shells = shells_mod.face_components(ga, gb, len(live))
    flip_live = np.zeros(len(live), dtype=bool)
    unfixable = 0
    if same_dir.any():
        flip_live = _consistent_parity(he_face[p], he_face[q], same_dir, labels, n_shells)
        still = same_dir ^ flip_live[he_face[p]] ^ flip_live[he_face[q]]
        unfixable = int(still.sum())
    face_shell = np.full(m, -1, dtype=np.int32)
    face_shell[live] = labels
    flip = np.zeros(m, dtype=bool)
    flip[live] = flip_live
    corners = np.asarray(tri, dtype=np.float64).reshape(-1, 3)
    corner_of = (live[:, None] * 3 + np.arange(3)).ravel()  # half-edge -> corner index
    nxt = (live[:, None] * 3 + np.array([1, 2, 0])).ravel()

    def segments(mask: np.ndarray) -> np.ndarray:
        """The first ``MAX_LOCATIONS`` edges (by edge id) among the masked half-edges, each
        by its first masked half-edge: ``np.unique(..., return_index=True)`` without a sort
        (a soup has millions of open edges)."""
        he = np.flatnonzero(mask)
        first = np.full(len(counts), -1, dtype=np.int64)
        first[inverse[he][::-1]] = he[::-1]  # the last write wins: the smallest half-edge
        he = first[first >= 0][:MAX_LOCATIONS]
        return np.stack([corners[corner_of[he]], corners[nxt[he]]], axis=1)

    open_he = np.flatnonzero(he_count == 1)
    hole_area = _hole_area(a[open_he], b[open_he], corners[corner_of[open_he]],
                           corners[nxt[open_he]], nv)
    return Topology(
        keep=alive,
        flip=flip,
        face_shell=face_shell,
        n_shells=n_shells,
        n_open_edges=int((counts == 1).sum()),
        n_nonmanifold_edges=int((counts > 2).sum()),
        n_inconsistent_edges=int(same_dir.sum()),
        n_degenerate=int(collapsed.sum()),
        n_duplicate=n_dup,
        n_unfixable_edges=unfixable,
        open_edges=segments(he_count == 1),
        nonmanifold_edges=segments(he_count > 2),
        open_shells=_present(labels[he_face[he_count != 2]], n_shells),
        hole_area=hole_area,
    )


def _present(values: np.ndarray, n: int) -> np.ndarray:
    """``np.unique(values)`` for values in 0..n-1, without sorting them."""
    seen = np.zeros(n, dtype=bool)
    seen[values] = True
    return np.flatnonzero(seen)


def _hole_area(va: np.ndarray, vb: np.ndarray, pa: np.ndarray, pb: np.ndarray,
               nv: int) -> float:
    """Area it takes to close the holes bounded by the open edges ``va -> vb`` (vertex ids)
    from ``pa`` to ``pb`` ((k, 3) float).

    Open edges that share vertices form one hole; its patch has at least the size of the
    loop's vector area, ½ |Σ pa × pb| (exact for a flat hole). A random triangle's hole is
    the triangle itself; a missing facet of a closed part is that facet.
    """
    if len(va) == 0:
        return 0.0
    graph = coo_matrix((np.ones(len(va), dtype=np.int8), (va, vb)), shape=(nv, nv)).tocsr()
    _, loop_of_vertex = connected_components(graph, directed=True, connection="weak")
    loop = loop_of_vertex[va]
    n = int(loop.max()) + 1
    vec = np.empty((n, 3))
    for k in range(3):  # component k of pa x pb, summed per loop (np.cross is slow here)
        i, j = (k + 1) % 3, (k + 2) % 3
        vec[:, k] = np.bincount(loop, weights=pa[:, i] * pb[:, j] - pa[:, j] * pb[:, i],
                                minlength=n)
    return float(np.linalg.norm(vec, axis=1).sum() / 2)


def _consistent_parity(
    fa: np.ndarray, fb: np.ndarray, same_dir: np.ndarray, labels: np.ndarray, n_shells: int
) -> np.ndarray:
    """Return (k,) bool: which faces to flip so that neighbours agree (minority flips).

    BFS from a virtual root joined to one face per shell; a face's parity is its parent's,
    toggled when the shared edge runs the same way in both faces.
    """
    k = len(labels)
    _, roots = np.unique(labels, return_index=True)
    rows = np.concatenate([fa, fb, np.full(len(roots), k)])
    cols = np.concatenate([fb, fa, roots])
    data = np.concatenate([same_dir + 1, same_dir + 1, np.ones(len(roots))]).astype(np.int8)
    graph = coo_matrix((data, (rows, cols)), shape=(k + 1, k + 1)).tocsr()
    graph.sum_duplicates()
    order, pred = breadth_first_order(graph, k, directed=True, return_predecessors=True)
    parity = np.zeros(k + 1, dtype=np.int8)
    order = order[1:]
    weight = np.asarray(graph[pred[order], order]).ravel() == 2
    for node, parent, w in zip(order.tolist(), pred[order].tolist(), weight.tolist()):
        parity[node] = parity[parent] ^ w
    parity = parity[:k].astype(bool)
    flipped_share = np.bincount(labels, weights=parity, minlength=n_shells) / np.bincount(
        labels, minlength=n_shells
    )
    return parity ^ (flipped_share[labels] > 0.5)
