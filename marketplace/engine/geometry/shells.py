"""Shells (separate bodies) of a mesh: connected components of the face graph.

Two faces belong to the same shell when they share an edge. ``scipy.sparse.csgraph`` does the
traversal in compiled code.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

try:  # the traversal itself: the public function first builds the graph's transpose (O(edges))
    from scipy.sparse.csgraph._traversal import _connected_components_undirected
except ImportError:  # another scipy: the public function does the same, a little slower
    _connected_components_undirected = None


def face_components(a: np.ndarray, b: np.ndarray, m: int) -> tuple[np.ndarray, int]:
    """Label ``m`` faces by component, given adjacent face pairs ``a[i]``-``b[i]``.

    Returns labels (m,) int32 (0..n-1, numbered by first face) and the count n.
    """
    if m == 0:
        return np.zeros(0, np.int32), 0
    graph = coo_matrix(
        (np.ones(len(a), dtype=np.int8), (a.astype(np.int32), b.astype(np.int32))), shape=(m, m)
    ).tocsr()
    n, labels = connected_components(graph, directed=True, connection="weak")
    return labels.astype(np.int32), int(n)


def faces_across(p: np.ndarray, q: np.ndarray, m: int) -> np.ndarray:
    """Return (3m,) int32: the face across each half-edge of a closed manifold mesh of ``m``
    faces whose half-edges p[i] and q[i] are partners (half-edge e belongs to face e // 3)."""
    across = np.empty(3 * m, dtype=np.int32)
    # e // 3 via a float reciprocal: integer division is several times slower in numpy
    across[p] = (q * (1.0 / 3.0) + 1e-7).astype(np.int32)
    across[q] = (p * (1.0 / 3.0) + 1e-7).astype(np.int32)
    return across


def closed_components(across: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the faces of a closed manifold mesh by shell, given the face across each
    half-edge (:func:`faces_across`).

    Every face has exactly three neighbours, so ``across`` is the adjacency in CSR form
    already (no sorting).
    """
    m = len(across) // 3
    indptr = np.arange(0, 3 * m + 1, 3, dtype=np.int32)
    if _connected_components_undirected is not None:
        # the adjacency is symmetric already: it is its own transpose
        labels = np.full(m, -1, dtype=np.int32)
        n = _connected_components_undirected(across, indptr, across, indptr, labels)
        return labels, int(n)
    graph = csr_matrix((np.ones(3 * m, dtype=np.int8), across, indptr), shape=(m, m))
    n, labels = connected_components(graph, directed=False)
    return labels, int(n)


def shell_volumes(signed: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Sum per-face signed volumes (m,) into per-shell volumes (n,)."""
    return np.bincount(labels, weights=signed, minlength=n)
