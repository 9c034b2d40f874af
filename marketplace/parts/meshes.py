"""What the part page shows: the analysed mesh for the 3D viewer, figures, problems, orientation.

The mesh goes to the browser in the binary format of :mod:`viewer_mesh`, cached next to the
upload store by file hash and units (written by the analysis worker).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app

from marketplace import messages
from marketplace.engine.geometry import viewer_mesh
from marketplace.formatting import format_mm, format_number, format_size, format_volume
from marketplace.i18n import gettext as _
from marketplace.i18n import ngettext
from marketplace.models import Part

MAX_MARKS = 20_000  # per kind: a broken scan may have 100 000 open edges; a sample is enough
encode_mesh, decode_mesh = viewer_mesh.encode_mesh, viewer_mesh.decode_mesh


def mesh_path(part: Part) -> Path | None:
    """Return the file holding the viewer mesh the analysis worker cached for an analysed part
    (None: missing; the web process never makes the mesh itself). The page streams it from
    there, never whole into memory: a 2M-triangle mesh is ~140 MB."""
    path = Path(viewer_mesh.cache_path(current_app.config["UPLOAD_DIR"], part.sha256,
                                       part.units))
    return path if path.is_file() else None


def _message(problem: dict[str, Any]) -> str:
    return messages.render_message(problem, prefix="problem.")


def _trimmed_location(loc: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key in ("edges", "points", "faces"):
        if isinstance(loc.get(key), list):
            out[key] = loc[key][:MAX_MARKS]
    if loc.get("bbox"):
        out["bbox"] = loc["bbox"]
    return out


def part_view(part: Part) -> dict[str, Any]:
    """Return what the part page shows of ``part``'s analysis (figures formatted for people)."""
    analysis = part.analysis or {}
    mesh = analysis.get("mesh") or {}
    problems = [
        {"code": p.get("code", ""), "severity": p.get("severity", "info"), "message": _message(p)}
        for p in analysis.get("problems") or []
    ]
    overlay_problems = [
        {"code": p.get("code", ""), "location": _trimmed_location(p.get("location") or {})}
        for p in analysis.get("problems") or []
        if p.get("location")
    ]
    counts = {"edges": 0, "points": 0, "faces": 0}
    for p in overlay_problems:
        for key in counts:
            counts[key] += len(p["location"].get(key) or [])
    figures: list[tuple[str, str]] = []
    bbox = mesh.get("bbox_mm")
    if bbox:
        figures.append((_("Abmessungen"), format_size(bbox)))
    if mesh.get("volume_mm3") is not None:  # "–" for a mesh that has no volume to show
        figures.append((_("Volumen"), format_volume(analysis)))
    if mesh.get("area_mm2") is not None:
        figures.append((_("Oberfläche"), f"{format_number(mesh['area_mm2'] / 100, 1)} cm²"))
    if mesh.get("triangles") is not None:
        figures.append((_("Dreiecke"), format_number(mesh["triangles"])))
    if mesh.get("shells") is not None:  # the bodies, not their hollows' inner skins
        cavities = int(mesh.get("cavities") or 0)
        bodies = format_number(max(1, int(mesh["shells"]) - cavities))
        figures.append((_("Körper"), bodies if not cavities else bodies + " " + ngettext(
            "(mit %(num)d Hohlraum)", "(mit %(num)d Hohlräumen)", cavities)))
    if mesh.get("watertight") is not None:
        figures.append((_("Geschlossen (wasserdicht)"), _("ja") if mesh["watertight"] else _("nein")))
    if mesh.get("units"):
        figures.append((_("Einheit der Datei"), mesh["units"]))
    orientation = analysis.get("orientation") or {}
    return {
        "figures": figures,
        "problems": problems,
        "printable": bool(analysis.get("printable", True)),
        "orientation": _orientation_text(orientation),
        "units_guessed": bool(mesh.get("units_guessed", False)),
        "counts": counts,
        "overlay": {"problems": overlay_problems, "orientation": orientation},
    }


def _orientation_text(orientation: dict[str, Any]) -> str | None:
    if not orientation:
        return None
    if text := messages.orientation_text(orientation):
        return text
    bbox = orientation.get("bbox_mm")
    if bbox:
        return _("Empfohlene Lage: %(size)s", size=" × ".join(format_mm(v) for v in bbox))
    return None
