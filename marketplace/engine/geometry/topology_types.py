"""The result of a topology check (:class:`Topology`), shared by the fast and the exact path."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_LOCATIONS = 500  # edges listed for the viewer per problem


@dataclass(frozen=True, eq=False)
class Topology:
    """What the edge structure says about a mesh, and the repairs made.

    keep : (m,) bool, faces kept (degenerate and duplicate faces removed)
    flip : (m,) bool, kept faces whose winding was reversed
    face_shell : (m,) int, shell label per face (-1 for removed faces)
    open_edges / nonmanifold_edges : (k, 2, 3) float, segments for the viewer (capped)
    hole_area : area (file units²) it takes to close every hole (0 for a closed mesh)
    """

    keep: np.ndarray
    flip: np.ndarray
    face_shell: np.ndarray
    n_shells: int
    n_open_edges: int
    n_nonmanifold_edges: int
    n_inconsistent_edges: int
    n_degenerate: int
    n_duplicate: int
    n_unfixable_edges: int
    open_edges: np.ndarray
    nonmanifold_edges: np.ndarray
    open_shells: np.ndarray  # labels of shells with an open or non-manifold edge
    # area (file units²) of the patches that would close the holes: per boundary loop of open
    # edges, the size of its vector area (a flat hole: exactly its area)
    hole_area: float = 0.0

    @property
    def watertight(self) -> bool:
        """Every edge is shared by exactly two faces."""
        return self.n_open_edges == 0 and self.n_nonmanifold_edges == 0

    @property
    def winding_consistent(self) -> bool:
        """Neighbouring faces agreed on their orientation before any repair."""
        return self.n_inconsistent_edges == 0
