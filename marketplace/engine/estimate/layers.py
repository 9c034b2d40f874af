"""Cut a mesh into per-layer cross-sections, the way a slicer does (mid-layer planes).

Watertight meshes go through manifold3d (exact, native code). Meshes manifold3d rejects (open,
non-manifold) fall back to trimesh's plane sections, closed into polygons with the even-odd rule;
that path is slower and less exact, so the caller flags the result as lower confidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import manifold3d as m3d
import numpy as np

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
    vertices: np.ndarray, faces: np.ndarray, layer_mm: float, first_mm: float
) -> LayerStack:
    """Place the mesh on z = 0 and cut it into layers.

    vertices : (n, 3) float, mm
    faces : (m, 3) int
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    v = v - np.array([0.0, 0.0, v[:, 2].min()])
    height = float(v[:, 2].max())
    tops = layer_heights(height, layer_mm, first_mm)
    planes = _slice_planes(tops, first_mm, height)
    thick = np.diff(np.concatenate([[0.0], tops]))

    manifold = _to_manifold(v, f)
    if manifold is not None:
        sections = [manifold.slice(float(z)) for z in planes]
        exact = True
    else:
        sections = _fallback_sections(v, f, planes)
        exact = False
    # Dropping vertices closer than 10 µm to the outline halves the polygon work later on.
    sections = [s.simplify(SIMPLIFY_MM) if not s.is_empty() else s for s in sections]
    return LayerStack(tops, thick, sections, exact, tuple(same_as_previous(sections)))


def same_as_previous(secs: list[m3d.CrossSection]) -> list[bool]:
    """For each layer: is its outline exactly the one of the layer below? (layer 0: False)"""
    same = [False] * len(secs)
    prev_key, prev_pts = None, None
    for k, cs in enumerate(secs):
        key = (cs.num_vert(), round(cs.area(), 9)) if not cs.is_empty() else None
        pts = None
        if key is not None:
            pts = np.concatenate([np.asarray(p) for p in cs.to_polygons()])
            same[k] = key == prev_key and prev_pts is not None and np.array_equal(pts, prev_pts)
        prev_key, prev_pts = key, pts
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
