"""Turn per-layer region figures into extruded volume (mm³) and print time (s).

The physics (extrusion cross-sections, speeds, a trapezoid acceleration model, travel with
retraction and z-lift, PrusaSlicer's minimum layer time) is computed from the profile; a handful of
coefficients absorb what the geometry-only model leaves out (infill overlap and anchors, gyroid
curvature slowing the planner, solid-region widening, path ordering).

The coefficients in ``FITTED`` were fitted against PrusaSlicer 2.5.0's figures for the corpus
(../shared/corpus/reference.csv, the 40 parts of 1 g or more) plus eight calibration runs on a
box and a cylinder at 15-60 % infill (listed in the benchmark) by

    .venv/bin/python benchmarks/estimate_accuracy.py --fit

(scipy least squares, soft-L1 loss on log(estimate / PrusaSlicer), pulled gently towards the
physics-only values; mass and time fitted separately). The same script without ``--fit`` prints
grouped leave-one-out scores (each part scored by coefficients fitted without it and without its
rescaled or identical copies). Refit and paste the printed table when the model changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from marketplace.engine.estimate.regions import LayerFigures, spacing
from marketplace.engine.estimate.supports import SupportLayers
from marketplace.engine.pricing.catalog import PrintProfile


@dataclass(frozen=True)
class Coefficients:
    """Fitted multipliers (dimensionless unless the name has a unit)."""

    band: float = 1.0  # perimeter band volume
    solid: float = 1.0  # solid infill volume
    sparse: float = 1.0  # sparse infill volume per unit of density
    bridge: float = 1.0  # extra volume of thick bridges over normal solid
    anchor_mm: float = 2.5  # infill anchors: sparse length grows by anchor_mm / mean chord
    t_ext: float = 1.0  # external perimeter time
    t_per: float = 1.0  # internal perimeter time
    t_sparse: float = 1.0  # sparse infill time (patterns other than gyroid)
    gyroid_speed: float = 30.0  # mm/s, effective gyroid speed at 15 % density
    gyroid_exp: float = 0.3  # how fast gyroid slows down with density
    t_solid: float = 1.0  # solid infill time
    travel_s: float = 0.35  # s per travel with retraction + z-lift
    layer_s: float = 0.3  # s per layer change
    const_s: float = 0.0  # s per print (start moves)
    # supports (see supports.py): base lines at the grid pitch, dense interface, the sheath
    sup_base: float = 1.0  # sparse base volume
    sup_interface: float = 1.0  # dense interface volume
    sup_sheath: float = 1.0  # sheath loops around the islands
    sup_first: float = 1.0  # the first support layer's base, relative to other layers
    sup_t: float = 1.0  # time of the support lines
    sup_travel_s: float = 0.35  # s per support island and layer (travel, retraction)

    def as_array(self) -> np.ndarray:
        """Coefficients as a vector (for fitting)."""
        return np.array([getattr(self, f.name) for f in fields(self)], dtype=float)

    @classmethod
    def from_array(cls, values: np.ndarray) -> Coefficients:
        """Inverse of :meth:`as_array`."""
        return cls(*[float(x) for x in values])


# Fitted table (see module docstring for the command). Physics-only would be Coefficients().
# Fitted 2026-11-25 on 40 corpus parts >= 1 g (PrusaSlicer 2.5.0, MK3S PLA 0.2 mm profile).
FITTED = Coefficients(
    band=1.094,
    solid=0.9503,
    sparse=0.913,
    bridge=1.73,
    anchor_mm=2.578,
    t_ext=0.8838,
    t_per=1.612,
    t_sparse=1.0,  # not fitted: the profile's infill is gyroid
    gyroid_speed=42.36,
    gyroid_exp=0.3529,
    t_solid=1.056,
    travel_s=0.03885,
    layer_s=1.954,
    const_s=5.644,
    # supports: fitted 2026-11-30 on the 132 cases (39 corpus parts in the orientations file,
    # suggested, x90, y90) that PrusaSlicer 2.5.0 supports with this profile, by
    #     benchmarks/support_accuracy.py --profile standard --fit
    # (mass on the grams supports add, time on the time they add). In-sample grams within ±10 %
    # for 91.7 %, time within ±15 % for 92.4 %; held out (refitted without each part) 90.9 % /
    # 90.9 %. Dense interface only under steep overhangs (supports._dense_interface), so
    # sup_interface is near 1 again (0.67 when every contact's grid counted as dense).
    sup_base=0.8541,
    sup_interface=0.8556,
    sup_sheath=0.8198,
    sup_first=1.285,
    sup_t=0.9656,
    sup_travel_s=0.3069,
)

# Coefficients fitted for one slicer profile only, by PrintProfile.slicer_profile (others: FITTED).
FITTED_BY_PROFILE: dict[str, Coefficients] = {
    # The large class (0.6 mm nozzle, 0.3 mm layers): the part model as FITTED (held out without
    # supports, all four orientations: grams within ±10 % for 94.8 %, time within ±15 % for
    # 92.3 %); the support coefficients fitted 2026-11-30 on its 127 cases (39 parts, orientations
    # file, suggested, x90, y90) that PrusaSlicer 2.5.0 supports, by
    #     benchmarks/support_accuracy.py --profile large --fit
    # In-sample grams within ±10 % 90.6 %, time within ±15 % 91.3 %; held out (refitted without
    # each part) 90.6 % / 91.3 %. sup_first is large: PrusaSlicer prints the first support layer
    # dense (raft_first_layer_density 90 %) and grown by 3 mm (raft_first_layer_expansion), 4-5
    # times the filament of the second layer in these G-codes.
    "large-pla-0.6n": replace(
        FITTED,
        sup_base=1.108,
        sup_interface=0.5232,
        sup_sheath=0.8928,
        sup_first=10.6,
        sup_t=1.017,
        sup_travel_s=0.2887,
    ),
}


def coefficients_for(profile: PrintProfile) -> Coefficients:
    """The fitted coefficients for ``profile``'s slicer profile."""
    return FITTED_BY_PROFILE.get(profile.slicer_profile, FITTED)


MASS_FIELDS = ("band", "solid", "sparse", "bridge", "anchor_mm")
SUPPORT_MASS_FIELDS = ("sup_base", "sup_interface", "sup_sheath", "sup_first")
SUPPORT_TIME_FIELDS = ("sup_t", "sup_travel_s")

# Gyroid is never printed at the set infill speed: its constant curvature makes the jerk-limited
# planner slow down at every vertex, more so the denser it is. The effective speed follows
# gyroid_speed * (0.15 / density) ** gyroid_exp (mm/s), both fitted: the marginal cost of
# 15 -> 30 % gyroid in PrusaSlicer 2.5.0 is a steady 20-23 mm/s over 28 corpus parts, whatever
# their size, so it is a speed limit and not a line-end effect.


def _line_time(length: np.ndarray, chord: np.ndarray, speed: np.ndarray | float,
               accel: np.ndarray | float, jerk: float) -> np.ndarray:
    """Time (s) for ``length`` mm of back-and-forth lines of ``chord`` mm each.

    Each line starts and ends at the jerk speed (U-turn), trapezoid or triangle profile.
    """
    chord = np.maximum(chord, 0.5)
    speed = np.broadcast_to(np.asarray(speed, dtype=float), np.shape(length))
    lines = length / chord
    need = (speed**2 - jerk**2) / accel
    full = chord / speed + (speed - jerk) ** 2 / (accel * speed)
    vp = np.sqrt(jerk**2 + accel * chord)
    tri = 2 * (vp - jerk) / accel
    return lines * np.where(chord >= need, full, np.minimum(tri, chord / jerk))


@dataclass(frozen=True)
class ModelResult:
    """Volume and time with their parts (mm³ and s); the support's share of each.

    volume_mm3, time_s : the part alone (what it takes without supports)
    support_mm3, support_s : what the supports add (0 without); the support time is the
    difference they make to the layer times, after PrusaSlicer's minimum layer time
    """

    volume_mm3: float
    time_s: float
    parts_mm3: dict[str, float]
    parts_s: dict[str, float]
    support_mm3: float = 0.0
    support_s: float = 0.0


def support_cost(sup: SupportLayers, thickness: np.ndarray, profile: PrintProfile,
                 c: Coefficients = FITTED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per layer: support volume (mm³), extrusion time (s) and extruded length (mm)."""
    h = thickness
    line = spacing(profile.support_width_mm, profile.layer_height_mm)
    pitch = profile.support_spacing_mm + line
    first = np.zeros(len(h))
    if len(h):
        first[0] = 1.0
    base = sup.base_mm2 * (1.0 + (c.sup_first - 1.0) * first)
    vol = h * line * (c.sup_base * base / pitch + c.sup_interface * sup.interface_mm2 / line
                      + c.sup_sheath * sup.sheath_mm)
    len_base = base / pitch
    len_int = sup.interface_mm2 / line
    area = sup.base_mm2 + sup.interface_mm2
    # lines run across an island: its mean chord (pi A / P) is their length
    chord = np.where(sup.sheath_mm > 0, math.pi * area / np.maximum(sup.sheath_mm, 1e-9), 1.0)
    acc, jerk = profile.default_acceleration, profile.jerk_xy
    t = c.sup_t * (
        _line_time(len_base, chord, profile.support_speed, acc, jerk)
        + _line_time(len_int, chord, profile.support_interface_speed, acc, jerk)
        + sup.sheath_mm / profile.support_speed
    ) + c.sup_travel_s * sup.islands
    return vol, t, len_base + len_int + sup.sheath_mm


def evaluate(fig: LayerFigures, profile: PrintProfile, c: Coefficients = FITTED,
             supports: SupportLayers | None = None) -> ModelResult:
    """Compute extruded volume (mm³) and print time (s) of a part from its layer figures,
    and what ``supports`` (if any) add to both."""
    h = fig.thickness_mm
    density = profile.infill_percent / 100.0
    band = np.maximum(fig.area_mm2 - fig.fill_mm2, 0.0)
    sparse_a = fig.sparse_mm2 * (1.0 if density > 0 else 0.0)
    nozzle = profile.nozzle_mm
    # Thick bridges: round strands of nozzle diameter, spaced nozzle + 0.05 mm.
    bridge_mm3_per_mm2 = math.pi * nozzle**2 / 4 / (nozzle + 0.05)
    v_band = c.band * float((h * band).sum())
    v_solid = c.solid * float((h * fig.solid_mm2).sum())
    # Gyroid lines end at the region's edge and are anchored along the perimeter (infill_anchor):
    # the narrower the region (mean chord pi A / P), the more anchor per mm of infill.
    anchor = 1.0 + np.minimum(c.anchor_mm / np.maximum(fig.sparse_chord_mm, 0.5), 1.0)
    v_sparse = c.sparse * density * float((h * sparse_a * anchor).sum())
    v_bridge = c.bridge * float((np.maximum(bridge_mm3_per_mm2 - h, 0) * fig.bridge_mm2).sum())

    s = spacing(profile.extrusion_width_mm, profile.layer_height_mm)
    first = np.zeros(fig.n, dtype=bool)
    if fig.n:
        first[0] = True
    fl = profile.first_layer_speed
    acc_inf = np.where(first, profile.first_layer_acceleration, profile.infill_acceleration)
    jerk = profile.jerk_xy
    len_sparse = density * sparse_a * anchor / s
    normal_solid = np.maximum(fig.solid_mm2 - fig.top_mm2 - fig.bridge_mm2, 0.0)
    len_solid = normal_solid / s
    len_top = np.minimum(fig.top_mm2, fig.solid_mm2) / s
    len_bridge = fig.bridge_mm2 / (nozzle + 0.05)
    ch = fig.solid_chord_mm
    if profile.infill_pattern == "gyroid":
        # continuous wavy lines joined by anchors: no line ends, a curvature-limited speed
        v_gyroid = c.gyroid_speed * (0.15 / max(density, 0.01)) ** c.gyroid_exp
        t_sparse = len_sparse / min(profile.infill_speed, v_gyroid)
    else:
        t_sparse = c.t_sparse * _line_time(len_sparse, fig.sparse_chord_mm,
                                           np.where(first, fl, profile.infill_speed), acc_inf,
                                           jerk)
    t_solid = (
        _line_time(len_solid, ch, np.where(first, fl, profile.solid_infill_speed), acc_inf, jerk)
        + _line_time(len_top, ch, np.where(first, fl, profile.top_solid_infill_speed), acc_inf,
                     jerk)
        + _line_time(len_bridge, ch, profile.bridge_speed, profile.bridge_acceleration, jerk)
    )
    travels = fig.contours + fig.regions
    t_move = c.travel_s * travels + c.layer_s * (fig.area_mm2 > 0)
    t_extrude = c.t_ext * fig.t_ext_s + c.t_per * fig.t_per_s + t_sparse + c.t_solid * t_solid
    t_raw = t_extrude + t_move
    # Cooling: layers faster than min_layer_time are slowed, extrusion not below min_print_speed.
    len_extruded = fig.len_per_mm + len_sparse + len_solid + len_top + len_bridge
    t_slowest = t_move + len_extruded / profile.min_print_speed
    t_layer = np.maximum(t_raw, np.minimum(profile.min_layer_time_s, t_slowest))
    time_s = float(t_layer.sum()) + c.const_s
    support_mm3 = support_s = 0.0
    if supports is not None and supports.needed:
        # supports print in the same layers: they fill some of the minimum layer time
        v_sup, t_sup, len_sup = support_cost(supports, h, profile, c)
        only_sup = (fig.area_mm2 <= 0) & (v_sup > 0)  # support under a body not begun yet
        t_raw_s = t_raw + t_sup + c.layer_s * only_sup
        t_slow_s = t_slowest + t_sup + len_sup / profile.min_print_speed
        t_layer_s = np.maximum(t_raw_s, np.minimum(profile.min_layer_time_s, t_slow_s))
        support_mm3 = float(v_sup.sum())
        support_s = float(t_layer_s.sum() - t_layer.sum())
    return ModelResult(
        volume_mm3=v_band + v_solid + v_sparse + v_bridge,
        time_s=time_s,
        parts_mm3={"perimeters": v_band, "solid": v_solid, "sparse": v_sparse,
                   "bridge_extra": v_bridge},
        parts_s={"external_perimeters": float(c.t_ext * fig.t_ext_s.sum()),
                 "perimeters": float(c.t_per * fig.t_per_s.sum()),
                 "sparse_infill": float(t_sparse.sum()),
                 "solid_infill": float(c.t_solid * t_solid.sum()),
                 "travel": float(t_move.sum()),
                 "min_layer_time": float((t_layer - t_raw).sum()),
                 "start": c.const_s},
        support_mm3=support_mm3,
        support_s=support_s,
    )
