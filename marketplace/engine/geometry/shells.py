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


def closed_components(p: np.ndarray, q: np.ndarray, m: int) -> tuple[np.ndarray, int]:
    """Label faces of a closed manifold mesh whose half-edges p[i] and q[i] are partners.

    Half-edge e belongs to face e // 3 and every face has exactly three neighbours, so the
    adjacency is built straight into CSR form (no sorting).
    """
    nb = np.empty(3 * m, dtype=np.int32)
    # e // 3 via a float reciprocal: integer division is several times slower in numpy
    nb[p] = (q * (1.0 / 3.0) + 1e-7).astype(np.int32)
    nb[q] = (p * (1.0 / 3.0) + 1e-7).astype(np.int32)
    if _connected_components_undirected is not None:
        # the adjacency is symmetric already: it is its own transpose
        indptr = np.arange(0, 3 * m + 1, 3, dtype=np.int32)
        labels = np.full(m, -1, dtype=np.int32)
        n = _connected_components_undirected(nb, indptr, nb, indptr, labels)
        return labels, int(n)
    graph = csr_matrix(
        (np.ones(3 * m, dtype=np.int8), nb, np.arange(0, 3 * m + 1, 3, dtype=np.int32)),
        shape=(m, m),
    )
    n, labels = connected_components(graph, directed=False)
    return labels, int(n)


def shell_volumes(signed: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Sum per-face signed volumes (m,) into per-shell volumes (n,)."""
    return np.bincount(labels, weights=signed, minlength=n)
