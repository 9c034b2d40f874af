"""Turn analysis figures into printability problems with plain German and English messages.

Codes and severities are listed in :mod:`problems`. Locations are in mm in the file's frame;
face indices are rows of ``Context.tri`` (the repaired mesh, ``PartAnalysis.faces``: what the 3D
viewer draws), never indices into the file's triangles (repairs remove some).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from marketplace.engine.analysis.problems import (
    Problem,
    de_num,
    en_num,
    problem,
    size_text,
)
from marketplace.engine.geometry import orientation, thickness
from marketplace.engine.geometry.faces import FaceGeometry, centroids, project
from marketplace.engine.geometry.topology import Topology
from marketplace.engine.limits import AnalysisLimits
from marketplace.engine.meshio.units import UnitChoice

MAX_FACES = 5000
MAX_POINTS = 50
UNIT_NAMES = {"mm": ("Millimeter", "millimetres"), "cm": ("Zentimeter", "centimetres"),
              "m": ("Meter", "metres"), "inch": ("Zoll (inch)", "inches")}


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
            "not_watertight", "warning",
            f"Das Modell ist nicht geschlossen: {t.n_open_edges} offene Kanten (Löcher in der "
            "Oberfläche). Kleine Löcher schließen wir beim Drucken; das Ergebnis kann abweichen.",
            f"The model is not closed: {t.n_open_edges} open edges (holes in the surface). We "
            "close small holes when printing; the result may differ.",
            {"edges": _edges(t.open_edges, s)}, open_edges=t.n_open_edges))
    if t.n_nonmanifold_edges:
        out.append(problem(
            "non_manifold_edges", "warning",
            f"{t.n_nonmanifold_edges} Kanten gehören zu mehr als zwei Flächen (Teile berühren "
            "sich nur an einer Kante, oder innere Wände). Das kann beim Drucken Fehler geben.",
            f"{t.n_nonmanifold_edges} edges belong to more than two faces (bodies touching at an "
            "edge, or inner walls). This can cause printing errors.",
            {"edges": _edges(t.nonmanifold_edges, s)}, edges=t.n_nonmanifold_edges))
    if t.n_inconsistent_edges:
        flipped = int(t.flip.sum())
        if t.n_unfixable_edges:
            out.append(problem(
                "winding_unfixable", "warning",
                "Die Flächen des Modells zeigen teils nach innen, teils nach außen, und das "
                "ließ sich nicht eindeutig korrigieren. Bitte prüfen Sie das Modell.",
                "Some faces point inwards and some outwards, and this could not be fixed "
                "unambiguously. Please check the model.", edges=t.n_unfixable_edges))
        else:
            out.append(problem(
                "winding_fixed", "info",
                f"{flipped} Dreiecke zeigten in die falsche Richtung; wir haben sie umgedreht.",
                f"{flipped} triangles faced the wrong way; we turned them round.",
                faces=flipped))
    if c.inverted_shells:
        out.append(problem(
            "inverted_normals_fixed", "info",
            "Das Modell war „von innen nach außen“ gespeichert (Flächen zeigten nach innen); "
            "wir haben es umgedreht. Volumen und Preis stimmen.",
            "The model was saved inside out (faces pointed inwards); we turned it right. "
            "Volume and price are correct.", shells=c.inverted_shells))
    if t.n_degenerate:
        out.append(problem(
            "degenerate_faces_removed", "info",
            f"{t.n_degenerate} Dreiecke ohne Fläche wurden entfernt.",
            f"{t.n_degenerate} triangles without area were removed.", faces=t.n_degenerate))
    if t.n_duplicate:
        out.append(problem(
            "duplicate_faces_removed", "info",
            f"{t.n_duplicate} doppelte Dreiecke wurden entfernt (sie hätten das Volumen "
            "verfälscht).",
            f"{t.n_duplicate} duplicate triangles were removed (they would have skewed the "
            "volume).", faces=t.n_duplicate))
    bodies = t.n_shells - c.cavities
    if bodies > 1:
        out.append(problem(
            "multiple_shells", "info",
            f"Die Datei enthält {bodies} getrennte Körper. Sie werden zusammen gedruckt und "
            "zusammen berechnet.",
            f"The file contains {bodies} separate bodies. They are printed and priced together.",
            bodies=bodies))
    if c.cavities:
        out.append(problem(
            "closed_cavities", "info",
            f"Das Modell hat {c.cavities} geschlossene Hohlräume im Inneren. Sie werden hohl "
            "gedruckt.",
            f"The model has {c.cavities} closed cavities inside. They are printed hollow.",
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
        "not_closable", "error",
        f"Das Modell ist kein geschlossener Körper und lässt sich nicht durch kleine Reparaturen "
        f"schließen: {t.n_open_edges} offene Kanten ({de_num(edge_pct, 0)} % aller Kanten), "
        f"die Löcher machen etwa {de_num(hole_pct, 0)} % der Oberfläche aus, {open_shells} "
        "offene Flächenstücke. So kann es nicht gedruckt werden; bitte exportieren Sie es als "
        "geschlossenen Volumenkörper.",
        f"The model is not a closed solid and cannot be closed by small repairs: "
        f"{t.n_open_edges} open edges ({en_num(edge_pct, 0)} % of all edges), the holes make "
        f"up about {en_num(hole_pct, 0)} % of the surface, {open_shells} open surface pieces. "
        "It cannot be printed like this; please export it as a closed solid.",
        {"edges": _edges(t.open_edges, c.units.scale)}, open_edges=t.n_open_edges,
        open_edge_percent=round(edge_pct, 1), hole_area_percent=round(hole_pct, 1),
        open_shells=open_shells)


def _unit_hint(c: Context) -> tuple[str, str]:
    de, en = UNIT_NAMES.get(c.units.unit, (c.units.unit, c.units.unit))
    return (f" Wir haben die Datei in {de} gelesen; stimmt das nicht, wählen Sie die Einheit.",
            f" We read the file in {en}; if that is wrong, choose the unit.")


def _size_problems(c: Context, ext: np.ndarray) -> list[Problem]:
    out: list[Problem] = []
    hint_de, hint_en = _unit_hint(c)
    bbox = {"bbox": [np.round(c.bbox_min, 3).tolist(), np.round(c.bbox_max, 3).tolist()]}
    dims = tuple(float(v) for v in ext)
    if c.units.source == "guess":
        de, en = UNIT_NAMES[c.units.unit]
        out.append(problem(
            "units_guessed", "info",
            f"Die Datei scheint in {de} gezeichnet zu sein; wir haben sie umgerechnet "
            f"(Größe jetzt {size_text(dims, True)}). Stimmt das nicht, wählen Sie die Einheit.",
            f"The file seems to be drawn in {en}; we converted it (size now "
            f"{size_text(dims, False)}). If that is wrong, choose the unit.",
            unit=c.units.unit))
    if abs(c.volume_mm3) < 1e-3 or c.volume_mm3 < 1e-9 * max(float(np.prod(ext)), 1e-12):
        out.append(problem(
            "no_volume", "error",
            "Das Modell hat kein Volumen (es ist nur eine Fläche oder ganz offen) und kann so "
            "nicht gedruckt werden.",
            "The model has no volume (it is only a surface, or wide open) and cannot be printed.",
            bbox))
    if max(dims) < 1.0 or min(dims) < c.limits.min_layer_mm:
        out.append(problem(
            "too_small", "error",
            f"Das Teil ist mit {size_text(dims, True)} zu klein zum Drucken." + hint_de,
            f"At {size_text(dims, False)} the part is too small to print." + hint_en, bbox))
    elif max(dims) < 5.0:
        out.append(problem(
            "very_small", "warning",
            f"Das Teil ist sehr klein ({size_text(dims, True)}); feine Details gehen verloren.",
            f"The part is very small ({size_text(dims, False)}); fine details will be lost.",
            bbox))
    if not c.suggested.fits:
        big = max(c.limits.build_volumes_mm, key=lambda v: v[0] * v[1] * v[2])
        out.append(problem(
            "too_large", "error",
            f"Das Teil ({size_text(dims, True)}) passt in keiner Lage auf einen unserer Drucker "
            f"(größter Bauraum {size_text(big, True)})." + hint_de,
            f"The part ({size_text(dims, False)}) does not fit any of our printers in any "
            f"orientation (largest build volume {size_text(big, False)})." + hint_en, bbox))
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
                "thin_walls", "warning",
                f"Manche Wände sind dünner als die Düse ({de_num(nozzle, 2)} mm) drucken kann "
                f"(dünnste gemessen: {de_num(tmin, 2)} mm, etwa {de_num(share, 0)} % der "
                "Oberfläche). Sie fehlen im Druck oder brechen leicht.",
                f"Some walls are thinner than the nozzle ({en_num(nozzle, 2)} mm) can print "
                f"(thinnest measured: {en_num(tmin, 2)} mm, about {en_num(share, 0)} % of the "
                "surface). They will be missing or fragile.",
                {"points": pts}, min_wall_mm=round(tmin, 3), share_percent=round(share, 1)))
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
            "needs_supports", "warning" if area_cm2 >= 10 else "info",
            f"Überhänge steiler als 45° brauchen Stützmaterial: etwa {de_num(area_cm2)} cm² "
            "(in der vorgeschlagenen Lage). Stützen kosten Material und hinterlassen raue Stellen.",
            f"Overhangs steeper than 45° need support: about {en_num(area_cm2)} cm² (in the "
            "suggested orientation). Supports cost material and leave rough spots.",
            {"faces": faces}, support_area_mm2=round(best.support_area_mm2, 1)))
    topple = _topple(c)
    if topple:
        out.append(topple)
    return out


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
        return problem(
            "topple_risk", "warning",
            f"Das Teil ist hoch ({de_num(height)} mm) und steht auf einer schmalen Fläche "
            f"({de_num(width)} mm). Es kann beim Drucken umkippen; wir drucken es mit einem Rand "
            "(Brim) oder liegend.",
            f"The part is tall ({en_num(height)} mm) and stands on a narrow base "
            f"({en_num(width)} mm). It may topple while printing; we print it with a brim or "
            "lying down.", height_mm=round(height, 1), base_mm=round(width, 1))
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
    if not changed:
        de = "Die hochgeladene Lage ist schon die günstigste."
        en = "The uploaded orientation is already the best one."
    else:
        de_parts, en_parts = [], []
        if saves["support_area_mm2"] >= 5:  # shown as cm² with one decimal
            area = saves["support_area_mm2"] / 100
            de_parts.append(f"{de_num(area)} cm² weniger Stützfläche")
            en_parts.append(f"{en_num(area)} cm² less support area")
        if saves["layers"] > 0:
            de_parts.append(f"{saves['layers']} Schichten weniger")
            en_parts.append(f"{saves['layers']} fewer layers")
        if saves["time_s_rough"] >= 30:
            minutes = saves["time_s_rough"] / 60
            de_parts.append(f"etwa {de_num(minutes, 0)} min weniger Druckzeit")
            en_parts.append(f"about {en_num(minutes, 0)} min less printing time")
        if de_parts:
            de = f"Anders hingelegt braucht das Teil {_join(de_parts, 'und')}."
            en = f"Laid down differently the part needs {_join(en_parts, 'and')}."
        else:
            de = en = ""
        if not current.fits:
            de = ("Nur so hingelegt passt das Teil auf einen Drucker. " + de).strip()
            en = ("Only laid this way does the part fit a printer. " + en).strip()
            if costs["layers"]:
                de += f" Dafür braucht es {costs['layers']} Schichten mehr."
                en += f" It takes {costs['layers']} more layers that way."
    out.update(changed=changed, saves=saves, costs=costs, message=de, message_en=en,
               as_uploaded=_placement_dict(current))
    return out


def _join(parts: list[str], word: str) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" {word} " + parts[-1]
