"""The quote engine's one entry point for the command line and the web app.

- :func:`analyse_file` bytes -> :class:`PartAnalysis` (raises :class:`MeshInputError`)
- :func:`quote_part` analysis + material/rules/profile/quantity -> {"estimate", "price", ...}
  (= :func:`estimate_part`, the mesh-bound half, then :func:`price_estimate`, which is cheap)
- :func:`quote_file` bytes + options -> exactly the JSON of ``python -m marketplace.quote --json``
- :func:`load_analysis_mesh` a stored file -> the repaired, oriented mesh for ``estimate``

Pure: no Flask, no database. The estimate runs in :func:`quote_part`, not in
:func:`analyse_file`, so changing material or infill never re-reads the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from marketplace.engine.analysis import analyse as analysis_mod
from marketplace.engine.analysis.analyse import PartAnalysis
from marketplace.engine.estimate.estimate import NoPrintableVolumeError, estimate
from marketplace.engine.limits import AnalysisLimits, Deadline
from marketplace.engine.meshio import load as mesh_io
from marketplace.engine.meshio.load import MeshInputError
from marketplace.engine.meshio.units import USER_UNITS, normalise_unit
from marketplace.engine.options import OptionError, load_options

__all__ = ["MeshInputError", "NoPrintableVolumeError", "OptionError", "PartAnalysis",
           "analyse_file", "quote_part", "estimate_part", "price_estimate",
           "estimate_from_record", "for_support_choice", "quote_file", "load_analysis_mesh",
           "AnalysisMesh"]


def analyse_file(data: bytes, filename: str, *, units: str | None = None,
                 limits: AnalysisLimits | None = None, layer_height_mm: float = 0.2,
                 check_walls: bool = True) -> PartAnalysis:
    """Parse and analyse an uploaded file; ``units`` overrides the guess (mm|cm|m|inch)."""
    try:
        units = normalise_unit(units)
    except ValueError:
        raise OptionError("units", "bad_units", "error.bad_units", unit=repr(units),
                          known=", ".join(USER_UNITS)) from None
    raw = mesh_io.read_mesh(data, filename, limits)
    return analysis_mod.analyse(raw, data, filename, units=units, limits=limits,
                                layer_mm=layer_height_mm, check_walls=check_walls)


def quote_part(analysis: PartAnalysis, *, material: Any, rules: Any, profile: Any,
               quantity: int, printer_class: str | None = None,
               supports: str = "auto", deadline: Deadline | None = None) -> dict[str, Any]:
    """Estimate and price ``quantity`` pieces of an analysed part in its suggested orientation.

    supports : "auto" (PrusaSlicer's automatic supports at the profile's threshold, wherever
    they are needed: ``estimate["supports"]`` is the decision slicing must follow) or "none"
    deadline : the quote's time budget (past it the estimate is the rough one from the volume)

    Returns {"estimate": {"material_g", "print_time_s", "layers", ...} | None,
    "price": Price.to_dict() | None, "material", "quantity", "profile"}. The estimate is None
    when the mesh allows none (nothing to slice, or no closed solid); the price is None as well
    when the part is not printable (any problem of severity "error", e.g. too large). Any
    other error propagates: it is a bug, not a property of the part.
    """
    est = estimate_part(analysis, profile, supports=supports, deadline=deadline)
    return price_estimate(est, material=material, rules=rules, profile=profile,
                          quantity=quantity, printer_class=printer_class,
                          printable=analysis.printable)


REFERENCE_DENSITY_G_CM3 = 1.0  # stored estimates are made for this density, see with_density


def estimate_part(analysis: PartAnalysis, profile: Any, *, supports: str = "auto",
                  deadline: Deadline | None = None, rotation: Any = None) -> Any:
    """Return the Estimate of one piece at :data:`REFERENCE_DENSITY_G_CM3`, or None.

    supports : "auto" or "none", as for :func:`quote_part`
    rotation : (3, 3) the orientation to print in (default: the analysis' suggestion; another
    one when only that fits a printer in service, see ``geometry.fitting``)

    This is the slow, mesh-bound half of a quote (slicing into layers); its result prices any
    material (:meth:`Estimate.with_density`) and quantity without the mesh.
    """
    from marketplace.engine.pricing.catalog import MaterialSpec

    if not analysis.estimable:  # nothing to slice, or no closed solid
        return None
    reference = MaterialSpec("REF", "reference", REFERENCE_DENSITY_G_CM3, 0)
    turn = analysis.suggested.rotation if rotation is None else tuple(
        tuple(float(v) for v in row) for row in np.asarray(rotation, dtype=float).reshape(3, 3))
    across = analysis.faces_across
    if across is not None:  # a big clean mesh: sliced as it is (a soup), no merging
        vertices, faces = analysis.oriented_vertices(turn), None
    else:
        vertices, faces = analysis.oriented_indexed(turn)
    mesh_id = f"{analysis.sha256}:{analysis.units.scale!r}:{turn!r}"
    try:
        return estimate(vertices, faces, profile, reference, supports=supports,
                        deadline=deadline, across=across, mesh_id=mesh_id)
    except NoPrintableVolumeError:  # any other error is a bug and propagates
        return None


def price_estimate(est: Any, *, material: Any, rules: Any, profile: Any, quantity: int,
                   printer_class: str | None = None, printable: bool = True) -> dict[str, Any]:
    """Price an Estimate made by :func:`estimate_part` (or None) for a part that is
    ``printable`` (else no price); the shape of quote_part."""
    from marketplace.engine.pricing import price as pricing

    if est is not None:
        est = est.with_density(material.density_g_cm3, from_density_g_cm3=REFERENCE_DENSITY_G_CM3)
    price = (pricing.price(est, material, rules, quantity, printer_class)
             if est and printable else None)
    return {
        "estimate": est.to_dict() if est else None,
        "price": price.to_dict() if price else None,
        "material": material.code,
        "quantity": quantity,
        "profile": {"layer_height_mm": profile.layer_height_mm,
                    "infill_percent": profile.infill_percent, "perimeters": profile.perimeters,
                    "nozzle_mm": profile.nozzle_mm},
    }


def for_support_choice(est: Any, supports: str) -> Any:
    """Return the estimate (or None) for the firm's support choice: "auto" as the engine
    decided, "none" the same piece without supports (:meth:`Estimate.without_supports`)."""
    if supports not in ("auto", "none"):
        raise ValueError(f"supports must be 'auto' or 'none', not {supports!r}")
    return est.without_supports() if est is not None and supports == "none" else est


def estimate_from_record(record: dict[str, Any] | None) -> Any:
    """Rebuild a stored estimate (``Estimate.to_record()``), or None."""
    from marketplace.engine.estimate.estimate import Estimate

    return Estimate.from_record(record) if record else None


def _catalog(catalog: Any) -> tuple[dict, Any, Any]:
    """Return (materials, rules, profile) from a tuple, an object/dict, or the defaults."""
    from marketplace.engine.pricing import catalog as cat

    if catalog is None:
        return cat.DEFAULT_MATERIALS, cat.DEFAULT_PRICING, cat.DEFAULT_PROFILE
    if isinstance(catalog, tuple):
        return catalog  # type: ignore[return-value]
    get = catalog.get if isinstance(catalog, dict) else lambda k, d=None: getattr(catalog, k, d)
    return (get("materials", cat.DEFAULT_MATERIALS), get("rules", cat.DEFAULT_PRICING),
            get("profile", cat.DEFAULT_PROFILE))


def quote_file(data: bytes, filename: str, *, units: str | None = None,
               material_code: Any = "PLA", infill: Any = 15, layer_height: Any = None,
               quantity: Any = 1, catalog: Any = None,
               limits: AnalysisLimits | None = None, supports: str = "auto",
               printer_class: str | None = None) -> dict[str, Any]:
    """Analyse, estimate and price a file; return the command line's JSON object.

    The options may be numbers or text (a command line's); they are checked by the one
    options schema (:mod:`marketplace.engine.options`), which raises OptionError.
    ``supports`` is "auto" or "none" (:func:`quote_part`). ``printer_class`` (a key of
    ``catalog.PRINTER_CLASSES``) quotes for that class: its PrusaSlicer profile, its build
    volume and nozzle, its machine rate; without it the catalogue's profile and the hub's
    printers (``limits``) count. ``layer_height`` None: the profile's. The quote's time
    budget (``limits.quote_time_s``) counts from here: the estimate gives way to a rough one
    from the volume when the analysis and it have spent it."""
    from dataclasses import replace as _replace

    from marketplace.engine.pricing.catalog import PRINTER_CLASSES

    limits = limits or AnalysisLimits.from_config()
    deadline = Deadline.after(limits.quote_time_s)
    materials, rules, profile = _catalog(catalog)
    if printer_class is not None:
        if printer_class not in PRINTER_CLASSES:
            raise ValueError(f"unknown printer class {printer_class!r}")
        profile = PRINTER_CLASSES[printer_class]
        limits = _replace(limits, build_volumes_mm=(profile.bed_mm,),
                          nozzle_mm=profile.nozzle_mm)
    raw_options = {"material": material_code, "infill": infill, "quantity": quantity,
                   "layer_height": profile.layer_height_mm if layer_height is None
                   else layer_height, "supports": supports}
    opts = load_options(raw_options, materials)
    profile = profile.with_options(infill_percent=opts.infill_percent,
                                   layer_height_mm=opts.layer_height_mm)
    part = analyse_file(data, filename, units=units, limits=limits,
                        layer_height_mm=opts.layer_height_mm)
    out = part.to_dict()
    quote = quote_part(part, material=materials[opts.material_code], rules=rules,
                       profile=profile, quantity=opts.quantity, supports=opts.supports,
                       deadline=deadline, printer_class=printer_class)
    out["estimate"] = quote["estimate"]
    out["price"] = quote["price"]
    out["options"] = {"material": opts.material_code, "infill_percent": opts.infill_percent,
                      "layer_height_mm": opts.layer_height_mm, "quantity": opts.quantity,
                      "supports": opts.supports,
                      "printer_class": printer_class or rules.default_printer_class}
    return out


@dataclass(frozen=True, eq=False)
class AnalysisMesh:
    """A stored file's analysed mesh, as quoted and as sliced.

    vertices (n, 3) float mm, turned to the printing orientation with the bbox min at the
    origin (on the bed); faces (m, 3) int (shared corners merged, repaired winding); the unit
    and the mm factor used; the rotation applied.
    """

    vertices: np.ndarray
    faces: np.ndarray
    units: str
    scale_to_mm: float
    rotation: tuple[tuple[float, float, float], ...]

    @property
    def extents_mm(self) -> tuple[float, float, float]:
        """Size of the bounding box (x, y, z) in mm."""
        ext = self.vertices.max(axis=0) - self.vertices.min(axis=0)
        return (float(ext[0]), float(ext[1]), float(ext[2]))

    @property
    def volume_mm3(self) -> float:
        """Enclosed volume in mm³ (divergence theorem)."""
        from marketplace.engine.geometry.faces import signed_volume

        return signed_volume(self.vertices, self.faces)

    def write_stl(self, path: str | Path) -> Path:
        """Write the mesh as binary STL (what PrusaSlicer slices); return the path."""
        from marketplace.engine.meshio.write import write_binary_stl

        return write_binary_stl(path, self.vertices, self.faces)


def load_analysis_mesh(path_or_bytes: str | Path | bytes, filename: str,
                       units: str | None = None,
                       limits: AnalysisLimits | None = None, *, scale: float | None = None,
                       rotation: Any = None) -> AnalysisMesh:
    """Read a stored file into the mesh the quote measured: the one loader of the estimate
    and the slicer (repaired, in mm, turned, on the bed; skips the wall-thickness rays).

    scale : mm per file unit instead of ``units`` (a job's recorded scale, e.g. 25.4)
    rotation : (3, 3) turn to print in (default: the analysis' suggested orientation)
    """
    from marketplace.engine.meshio.units import UNIT_SCALE_MM, USER_UNITS

    extra = 1.0
    if scale is not None:
        units = next((u for u in USER_UNITS if math.isclose(UNIT_SCALE_MM[u], scale)), None)
        if units is None:  # a scale that is no unit: read as mm, then scale
            units, extra = "mm", float(scale)
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    part = analyse_file(data, filename, units=units, limits=limits, check_walls=False)
    vertices, faces = part.oriented_indexed(rotation)
    if extra != 1.0:
        vertices = vertices * extra
    turn = part.suggested.rotation if rotation is None else tuple(
        tuple(float(v) for v in row) for row in np.asarray(rotation, dtype=float).reshape(3, 3))
    return AnalysisMesh(vertices, faces, part.units.unit, part.units.scale * extra, turn)
