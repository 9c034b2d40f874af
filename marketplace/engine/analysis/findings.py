"""Turn analysis figures into printability problems with plain German and English messages.

Codes and severities are listed in :mod:`problems`. Locations are in mm in the file's frame;
face indices are rows of ``Context.tri`` (the repaired mesh, ``PartAnalysis.faces``: what the 3D
viewer draws), never indices into the file's triangles (repairs remove some).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from marketplace.engine import texts
from marketplace.engine.analysis.problems import Problem, problem
from marketplace.engine.geometry import orientation, thickness
from marketplace.engine.geometry.faces import FaceGeometry, centroids, project
from marketplace.engine.geometry.topology import Topology
from marketplace.engine.limits import AnalysisLimits
from marketplace.engine.meshio.units import UnitChoice

MAX_FACES = 5000
MAX_POINTS = 50


@dataclass(frozen=True, eq=False)
class Context:
    """Everything :func:`collect` looks at (all mm)."""

    topo: Topology
    kept: np.ndarray
    tri: np.ndarray
    geo: FaceGeometry
    units: UnitChoice
    volume_mm3: float
    bbox_min: np.ndarray
    bbox_max: np.ndarray
    current: orientation.Placement
    suggested: orientation.Placement
    walls: thickness.Thickness | None
    limits: AnalysisLimits
    inverted_shells: int
    cavities: int
    layer_mm: float


def _edges(segments: np.ndarray, scale: float) -> list:
    return np.round(segments * scale, 3).tolist()


def collect(c: Context) -> list[Problem]:
    """Return every problem found, unsorted."""
    out: list[Problem] = []
    t, s = c.topo, c.units.scale
    ext = c.bbox_max - c.bbox_min
    closable = _closable(c)
    if closable is not None:
        out.append(closable)
    elif t.n_open_edges:
        out.append(problem(
            "not_watertight", "warning", {"edges": _edges(t.open_edges, s)},
            params={"edges": t.n_open_edges}, open_edges=t.n_open_edges))
    if t.n_nonmanifold_edges:
        out.append(problem(
            "non_manifold_edges", "warning", {"edges": _edges(t.nonmanifold_edges, s)},
            params={"edges": t.n_nonmanifold_edges}, edges=t.n_nonmanifold_edges))
    if t.n_inconsistent_edges:
        flipped = int(t.flip.sum())
        if t.n_unfixable_edges:
            out.append(problem("winding_unfixable", "warning", edges=t.n_unfixable_edges))
        else:
            out.append(problem("winding_fixed", "info", params={"faces": flipped},
                               faces=flipped))
    if c.inverted_shells:
        out.append(problem("inverted_normals_fixed", "info", shells=c.inverted_shells))
    if t.n_degenerate:
        out.append(problem("degenerate_faces_removed", "info", params={"faces": t.n_degenerate},
                           faces=t.n_degenerate))
    if t.n_duplicate:
        out.append(problem("duplicate_faces_removed", "info", params={"faces": t.n_duplicate},
                           faces=t.n_duplicate))
    bodies = t.n_shells - c.cavities
    if bodies > 1:
        out.append(problem("multiple_shells", "info", params={"bodies": bodies}, bodies=bodies))
    if c.cavities:
        out.append(problem("closed_cavities", "info", params={"cavities": c.cavities},
                           cavities=c.cavities))
    out.extend(_size_problems(c, ext))
    out.extend(_print_problems(c))
    return out


# A mesh is closed "by small repairs" when its holes can be patched with little new surface.
# Beyond these shares it is no solid at all (a triangle soup, a sheet, a bowl without
# thickness): the slicer would have to invent the part. (The corpus' worst real part, the
# Utah teapot with its open spout and lid, needs patches of 24 % of its surface.)
MAX_HOLE_SHARE = 0.4  # patch area / surface area
MAX_OPEN_EDGE_SHARE = 0.25  # open half-edges / all half-edges


def _closable(c: Context) -> Problem | None:
    """Return a ``not_closable`` error if the holes are too large to close, else None."""
    t = c.topo
    if not t.n_open_edges:
        return None
    area = float(c.geo.areas_mm2.sum(dtype=np.float64))
    hole_share = t.hole_area * c.units.scale**2 / area if area > 0 else 1.0
    edge_share = t.n_open_edges / max(3 * len(c.kept), 1)
    if hole_share < MAX_HOLE_SHARE and edge_share < MAX_OPEN_EDGE_SHARE:
        return None
    hole_pct, edge_pct = min(100.0, 100 * hole_share), 100 * edge_share
    open_shells = len(t.open_shells)
    return problem(
        "not_closable", "error", {"edges": _edges(t.open_edges, c.units.scale)},
        params={"edges": t.n_open_edges, "edge_share": texts.percent(round(edge_pct)),
                "hole_share": texts.percent(round(hole_pct)), "pieces": open_shells},
        open_edges=t.n_open_edges,
        open_edge_percent=round(edge_pct, 1), hole_area_percent=round(hole_pct, 1),
        open_shells=open_shells)


def _unit(c: Context) -> dict[str, Any]:
    """The file's unit as a word of the reader's language (``unit.mm`` ...)."""
    return texts.msg(f"unit.{c.units.unit}") if f"unit.{c.units.unit}" in texts.TEXTS else (
        c.units.unit)


def _size_problems(c: Context, ext: np.ndarray) -> list[Problem]:
    out: list[Problem] = []
    bbox = {"bbox": [np.round(c.bbox_min, 3).tolist(), np.round(c.bbox_max, 3).tolist()]}
    dims = tuple(float(v) for v in ext)
    if c.units.source == "guess":
        out.append(problem("units_guessed", "info",
                           params={"unit": _unit(c), "size": texts.size_mm(dims)},
                           unit=c.units.unit))
    if abs(c.volume_mm3) < 1e-3 or c.volume_mm3 < 1e-9 * max(float(np.prod(ext)), 1e-12):
        out.append(problem("no_volume", "error", bbox))
    if max(dims) < 1.0 or min(dims) < c.limits.min_layer_mm:
        out.append(problem("too_small", "error", bbox,
                           params={"size": texts.size_mm(dims), "unit": _unit(c)}))
    elif max(dims) < 5.0:
        out.append(problem("very_small", "warning", bbox, params={"size": texts.size_mm(dims)}))
    if not c.suggested.fits:
        big = max(c.limits.build_volumes_mm, key=lambda v: v[0] * v[1] * v[2])
        out.append(problem("too_large", "error", bbox, params={
            "size": texts.size_mm(dims), "largest": texts.size_mm(big), "unit": _unit(c)}))
    return out


def _print_problems(c: Context) -> list[Problem]:
    out: list[Problem] = []
    nozzle = c.limits.nozzle_mm
    if c.walls is not None and len(c.walls.points):
        thin = c.walls.thin(nozzle)
        if thin.sum() >= max(3, 0.01 * len(thin)):
            share = 100.0 * thin.mean()
            tmin = float(c.walls.thickness_mm[thin].min())
            pts = np.round(c.walls.points[thin][:MAX_POINTS], 3).tolist()
            out.append(problem(
                "thin_walls", "warning", {"points": pts},
                params={"nozzle": texts.num(nozzle, 2), "thinnest": texts.num(tmin, 2),
                        "share": texts.percent(round(share))},
                min_wall_mm=round(tmin, 3), share_percent=round(share, 1)))
    best = c.suggested
    if best.support_area_mm2 > 1.0:
        rot = np.array(best.rotation)
        nz = project(c.geo.normals, rot[2])
        steep = np.flatnonzero(nz < -orientation.COS45)
        bed = project(c.tri.reshape(-1, 3), rot[2]).min()
        heights = project(centroids(c.tri, steep), rot[2]) - bed
        over = steep[heights > c.layer_mm / 2]
        faces = over[:MAX_FACES].tolist()  # rows of c.tri: the frame of PartAnalysis.faces
        area_cm2 = best.support_area_mm2 / 100
        out.append(problem(
            "needs_supports", "warning" if area_cm2 >= 10 else "info", {"faces": faces},
            params={"area": texts.num(area_cm2, 1)},
            support_area_mm2=round(best.support_area_mm2, 1)))
    topple = _topple(c)
    if topple:
        out.append(topple)
    return out


EDGE_MM = 0.5  # a footprint narrower than this is an edge or a point


def _topple(c: Context) -> Problem | None:
    """Warn about a tall part standing on a small footprint (in the suggested orientation)."""
    rot = np.array(c.suggested.rotation)
    corners = c.tri.reshape(-1, 3)
    z = project(corners, rot[2])
    z = z - z.min()  # project() may return a view of the mesh: never subtract in place
    height = float(z.max())
    foot = corners[z <= 1.0]
    fx, fy = project(foot, rot[0]), project(foot, rot[1])
    width = float(min(np.ptp(fx), np.ptp(fy))) if len(foot) else 0.0
    if height > 20.0 and height > 5.0 * max(width, 1e-6):
        # narrower than a perimeter line: it stands on an edge or a point, not on a face
        base = (texts.msg("topple.edge") if width < EDGE_MM
                else texts.msg("topple.narrow", width=texts.num(width, 1)))
        return problem("topple_risk", "warning", params={"height": texts.num(height, 1),
                                                          "base": base},
                       text="problem.topple_risk_on",
                       height_mm=round(height, 1), base_mm=round(width, 1))
    return None


def _placement_dict(p: orientation.Placement) -> dict[str, Any]:
    return {
        "rotation": [list(r) for r in p.rotation],
        "bbox_mm": [round(v, 3) for v in p.extents_mm],
        "support_area_mm2": round(p.support_area_mm2, 1),
        "support_volume_mm3": round(p.support_volume_mm3, 1),
        "layers": p.layers,
        "fits": p.fits,
    }


def orientation_dict(current: orientation.Placement,
                     best: orientation.Placement) -> dict[str, Any]:
    """Return the suggested orientation, what it saves and a message, JSON-safe.

    ``saves`` holds only savings (each >= 0); ``costs`` what a turn that was needed to fit a
    printer adds (each >= 0, all 0 otherwise). The message names only real savings.
    """
    out = _placement_dict(best)
    changed = best.name != current.name
    diff = {
        "support_area_mm2": round(current.support_area_mm2 - best.support_area_mm2, 1),
        "support_volume_mm3": round(current.support_volume_mm3 - best.support_volume_mm3, 1),
        "layers": current.layers - best.layers,
        "time_s_rough": round(current.time_proxy_s - best.time_proxy_s),
    }
    saves = {k: v if v > 0 else 0 for k, v in diff.items()}
    costs = {k: -v if v < 0 else 0 for k, v in diff.items()}
    # the message as sentences (codes with parameters), rendered in the reader's language
    sentences: list[dict[str, Any]] = []
    if not changed:
        sentences.append(texts.Message("orientation.best").to_dict())
    else:
        if not best.fits:  # no promise that another way round fits
            sentences.append(texts.Message("orientation.fits_none").to_dict())
        elif not current.fits:
            sentences.append(texts.Message("orientation.only_fits").to_dict())
        savings = []
        if saves["support_area_mm2"] >= 5:  # shown as cm² with one decimal
            savings.append(texts.msg("saving.support_area",
                                     area=texts.num(saves["support_area_mm2"] / 100, 1)))
        if saves["layers"] > 0:
            savings.append(texts.msg("saving.layers", layers=saves["layers"]))
        if saves["time_s_rough"] >= 30:
            savings.append(texts.msg("saving.duration",
                                     time=texts.duration(round(saves["time_s_rough"], -1))))
        if savings:
            sentences.append(texts.Message("orientation.saves", {
                "savings": texts.listing(savings)}).to_dict())
        if not current.fits and best.fits and costs["layers"]:
            sentences.append(texts.Message("orientation.more_layers",
                                           {"layers": costs["layers"]}).to_dict())
    out.update(changed=changed, saves=saves, costs=costs, sentences=sentences,
               as_uploaded=_placement_dict(current))
    return out
