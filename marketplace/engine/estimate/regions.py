"""Split each layer into slicer regions and measure them: perimeters, solid, sparse, bridges.

Mirrors what PrusaSlicer does with the profile (classic region logic, simplified):
- perimeter loops are inward offsets of the section; loops that do not fit vanish (thin parts);
- the fill area is what lies inside the perimeter band (minus the infill overlap);
- top/bottom surfaces (fill area not covered by the next layer up/down) are widened by
  ``surface_margin_mm`` into the fill area and propagated through top/bottom layers;
- vertical shells: on slopes, fill area that stops being fill area within a few layers above or
  below is solid too (PrusaSlicer's ensure_vertical_shell_thickness);
- sparse islands smaller than ``solid_infill_below_area`` become solid;
- solid area directly over sparse infill or air is printed as a bridge.

The result is a table of per-layer figures (areas mm², lengths mm, counts, times s at the profile's
speeds) that ``estimate_model`` turns into grams and seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import manifold3d as m3d
import numpy as np

from marketplace.engine.estimate.layers import LayerStack, outline_lengths, same_as_previous
from marketplace.engine.limits import Deadline
from marketplace.engine.pricing.catalog import PrintProfile

_MITER = m3d.JoinType.Miter
_SMALL_PERIMETER_MM = 2 * math.pi * 6.5  # PrusaSlicer's "small perimeter" loop length


def spacing(width_mm: float, height_mm: float) -> float:
    """Centre distance (mm) of neighbouring extrusions of a width and layer height."""
    return width_mm - height_mm * (1 - math.pi / 4)


@dataclass
class LayerFigures:
    """Per-layer measurements, each an (n_layers,) array."""

    thickness_mm: np.ndarray
    area_mm2: np.ndarray  # section area
    fill_mm2: np.ndarray  # area inside the perimeter band
    solid_mm2: np.ndarray  # solid infill (top, bottom, shells, small islands)
    top_mm2: np.ndarray  # top surface (printed at top solid speed)
    bridge_mm2: np.ndarray  # solid over sparse infill or over air
    sparse_mm2: np.ndarray  # sparse infill area
    contours: np.ndarray  # contours (islands + holes) of the section
    regions: np.ndarray  # separate infill regions (solid + sparse islands)
    t_ext_s: np.ndarray  # external perimeters, accel/jerk model
    t_per_s: np.ndarray  # internal perimeters
    len_per_mm: np.ndarray  # perimeter extrusion length (all loops)
    sparse_chord_mm: np.ndarray  # mean chord of sparse regions (pi A / P)
    solid_chord_mm: np.ndarray  # mean chord of solid regions
    exact: bool

    @property
    def n(self) -> int:
        """Number of layers."""
        return len(self.thickness_mm)

    def add(self, other: LayerFigures) -> LayerFigures:
        """The figures of two measures of disjoint layer ranges of one stack, together."""
        sums = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)
                if f.name not in ("thickness_mm", "exact")}
        return LayerFigures(thickness_mm=self.thickness_mm, exact=self.exact, **sums)


def loop_times(polys: list[np.ndarray], group: np.ndarray, speed: np.ndarray, accel: np.ndarray,
               jerk: float, small_speed: float | None, n_groups: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Time (s) and length (mm) per group to print closed loops, jerk-limited trapezoids.

    polys : closed polygons, (k, 2) float mm each
    group, speed, accel : per polygon: group index (e.g. layer), mm/s, mm/s²
    jerk : mm/s; junction speed = jerk / (2 sin(turn / 2)), capped by the speed
    small_speed : speed for loops shorter than PrusaSlicer's small-perimeter length
    Returns two (n_groups,) arrays.
    """
    keep = [i for i, p in enumerate(polys) if len(p) >= 3]
    if not keep:
        return np.zeros(n_groups), np.zeros(n_groups)
    polys = [polys[i] for i in keep]
    group, speed, accel = group[keep], speed[keep], accel[keep]
    counts = np.array([len(p) for p in polys])
    pts = np.concatenate(polys).astype(np.float64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    local = np.arange(len(pts)) - starts
    owner = np.repeat(np.arange(len(polys)), counts)
    nxt = starts + (local + 1) % counts[owner]
    prv = starts + (local - 1) % counts[owner]
    seg = pts[nxt] - pts
    lens = np.hypot(seg[:, 0], seg[:, 1])
    loop_len = np.bincount(owner, weights=lens, minlength=len(polys))
    v_loop = speed.astype(float)
    if small_speed is not None:
        v_loop = np.where(loop_len < _SMALL_PERIMETER_MM, np.minimum(v_loop, small_speed), v_loop)
    v = v_loop[owner]
    a = accel[owner]
    u = seg / np.maximum(lens, 1e-9)[:, None]
    cosang = np.clip((u * u[prv]).sum(axis=1), -1.0, 1.0)
    half = np.sqrt(np.clip((1 - cosang) / 2, 0.0, 1.0))  # sin(turn/2)
    vin = np.minimum(v, jerk / np.maximum(2 * half, 1e-9))
    vin[local == 0] = np.minimum(vin[local == 0], jerk)  # loop start: seam after a travel
    vout = vin[nxt]
    vout[local == counts[owner] - 1] = jerk
    need = (2 * v * v - vin**2 - vout**2) / (2 * a)
    full = lens >= need
    t_full = lens / v + ((v - vin) ** 2 + (v - vout) ** 2) / (2 * a * v)
    vp = np.sqrt(np.maximum((2 * a * lens + vin**2 + vout**2) / 2, 1e-12))
    vp = np.maximum(vp, np.maximum(vin, vout))
    t_tri = np.maximum((2 * vp - vin - vout) / a,
                       2 * lens / (vp + np.maximum(np.minimum(vin, vout), 1e-9)))
    t = np.where(lens > 1e-6, np.where(full, t_full, t_tri), 0.0)
    t_loop = np.bincount(owner, weights=t, minlength=len(polys))
    return (np.bincount(group, weights=t_loop, minlength=n_groups),
            np.bincount(group, weights=loop_len, minlength=n_groups))


def _opening(cs: m3d.CrossSection, d: float) -> m3d.CrossSection:
    """Remove parts of a section thinner than 2 d (mm)."""
    if cs.is_empty():
        return cs
    return cs.offset(-d, _MITER).offset(d, _MITER)


def _area(cs: m3d.CrossSection) -> float:
    return float(cs.area()) if not cs.is_empty() else 0.0


def layer_windows(n: int, profile: PrintProfile, owned: tuple[int, int]
                  ) -> tuple[range, range, range]:
    """The layers each pass of :func:`measure_layers` must cover for the figures of the
    ``owned`` layers [a, b): (offsets, surfaces, regions), each a range of layer indices.

    Regions of layer k read the surfaces of the top (bottom) shell layers above (below) it and
    the sparse area of layer k - 1; surfaces of layer j read the fill areas of half a shell
    above and below it.
    """
    a, b = owned
    regions = range(max(0, a - 1), b)
    surfaces = range(max(0, regions.start - max(0, profile.bottom_layers - 1)),
                     min(n, b + max(0, profile.top_layers - 1)))
    n_up, n_down = _shell_reach(profile)
    offsets = range(max(0, surfaces.start - n_down - 1), min(n, surfaces.stop + n_up + 1))
    return offsets, surfaces, regions


def _shell_reach(profile: PrintProfile) -> tuple[int, int]:
    """How many layers up and down the vertical shells look: half the top (bottom) shell.

    With the propagated top and bottom surfaces this matches PrusaSlicer's solid infill on
    sloped parts (sphere, torus, bunny: per-role extrusion in reference.csv); the full count
    doubles it."""
    return max(1, profile.top_layers // 2), max(1, profile.bottom_layers // 2)


def measure_layers(stack: LayerStack, profile: PrintProfile,
                   surface_margin_mm: float = 3.0, vertical_shells: bool = True,
                   deadline: Deadline | None = None,
                   owned: tuple[int, int] | None = None) -> LayerFigures:
    """Classify every layer of ``stack`` into regions and measure them for ``profile``.

    deadline : raise BudgetExceededError when it passes (checked layer by layer)
    owned : only the layers [a, b): their figures are exactly those of the whole stack's
        measure (the layers around them that they depend on are worked through too, see
        :func:`layer_windows`); every other layer's figures are 0. The figures of disjoint
        ranges covering the stack add up to the whole (:meth:`LayerFigures.add`).
    """
    check = deadline.check if deadline is not None else (lambda: None)
    secs = stack.sections
    n = len(secs)
    first, stop = owned if owned is not None else (0, n)
    pass1, pass2, pass3 = layer_windows(n, profile, (first, stop))
    h = profile.layer_height_mm
    s_ext = spacing(profile.external_perimeter_width_mm, h)
    s_per = spacing(profile.extrusion_width_mm, h)
    p_count = max(1, profile.perimeters)
    centres = [s_ext / 2] + [s_ext + s_per * (i - 0.5) for i in range(1, p_count)]
    band = s_ext + s_per * (p_count - 1)
    fill_inset = band - profile.infill_overlap_percent / 100 * profile.extrusion_width_mm
    first_speed = profile.first_layer_speed

    empty = m3d.CrossSection()
    # per layer; layers outside a pass' window stay None (never read, see layer_windows)
    fill: list[m3d.CrossSection | None] = [None] * n
    polys: list[np.ndarray] = []
    meta: list[tuple[int, float, float]] = []  # (group: layer, or n + layer if inner; v; a)
    same = list(stack.same_as_below) or same_as_previous(secs)
    # a layer like the one below reuses its figures, unless that one is outside the window
    # (then measured afresh: the same outline gives the same figures)
    reuse = [same[k] and k > 1 and k > pass1.start for k in range(n)]
    out = {k: np.zeros(n) for k in (
        "area", "fill", "t_ext", "t_per", "len_per", "contours")}
    for k in pass1:
        cs = secs[k]
        check()
        out["area"][k] = _area(cs)
        if cs.is_empty():
            fill[k] = cs
            continue
        if reuse[k]:
            # prismatic stretch: the same outline as the layer below, reuse its figures
            for key in ("fill", "contours"):
                out[key][k] = out[key][k - 1]
            fill[k] = fill[k - 1]
            continue
        out["contours"][k] = cs.num_contour()
        acc = profile.first_layer_acceleration if k == 0 else profile.perimeter_acceleration
        inner = cs.offset(-fill_inset, _MITER)
        fill[k] = inner
        out["fill"][k] = _area(inner)
        # loop 0 is the external perimeter; the innermost loop is timed on the fill outline
        # (0.14 mm further in: one offset less per layer, the coefficient absorbs it)
        for i, d in enumerate(centres):
            if i == len(centres) - 1 and i > 0:
                loop = inner if not inner.is_empty() else cs.offset(-d, _MITER)
            else:
                loop = cs.offset(-d, _MITER)
            if loop.is_empty():
                break
            ext = i == 0
            v = first_speed if k == 0 else (
                profile.external_perimeter_speed if ext else profile.perimeter_speed)
            for poly in loop.to_polygons():
                polys.append(np.asarray(poly))
                meta.append((k if ext else k + n, v, acc))

    if polys:
        m = np.array(meta)
        t, ln = loop_times(polys, m[:, 0].astype(np.int64), m[:, 1], m[:, 2], profile.jerk_xy,
                           profile.small_perimeter_speed, 2 * n)
        out["t_ext"] += t[:n]
        out["t_per"] += t[n:]
        out["len_per"] += ln[:n] + ln[n:]
        for k in pass1:  # reused prismatic layers
            if reuse[k] and not secs[k].is_empty():
                for key in ("t_ext", "t_per", "len_per"):
                    out[key][k] = out[key][k - 1]

    # Exposed top / bottom surfaces, widened into the fill area, and vertical shells.
    n_up, n_down = _shell_reach(profile)
    tops: list[m3d.CrossSection | None] = [None] * n
    bottoms, exposed_top, vshell = list(tops), list(tops), list(tops)
    for k in pass2:
        check()
        f = fill[k]
        if f.is_empty():
            tops[k] = bottoms[k] = exposed_top[k] = vshell[k] = empty
            continue
        above = secs[k + 1] if k + 1 < n else empty
        below = secs[k - 1] if k > 0 else empty
        t = empty if k + 1 < n and same[k + 1] else f - above
        b = empty if same[k] else f - below
        exposed_top[k] = t
        if surface_margin_mm > 0:
            t = t.offset(surface_margin_mm, _MITER) ^ f if not t.is_empty() else t
            b = b.offset(surface_margin_mm, _MITER) ^ f if not b.is_empty() else b
        # Vertical shells: fill area that is no longer fill area within the top (bottom) layers
        # above (below): on slopes the perimeters alone leave the shell too thin.
        vs = []
        if vertical_shells and k + n_up < n and not same[k + 1]:
            up = fill[k + 1: k + n_up + 1]
            vs.append(f - m3d.CrossSection.batch_boolean(up, m3d.OpType.Intersect))
        if vertical_shells and k >= n_down and not same[k]:
            down = fill[k - n_down: k]
            vs.append(f - m3d.CrossSection.batch_boolean(down, m3d.OpType.Intersect))
        vshell[k] = m3d.CrossSection.batch_boolean(vs, m3d.OpType.Add) if vs else empty
        tops[k], bottoms[k] = t, b

    solid_mm2, top_mm2, bridge_mm2, sparse_mm2 = (np.zeros(n) for _ in range(4))
    regions, sparse_chord, solid_chord = np.zeros(n), np.zeros(n), np.zeros(n)
    prev_sparse = empty
    prev_plain = None  # fill area of the layer below if it had no top/bottom shells
    solid_area_min = profile.solid_infill_below_area_mm2
    arrays = (solid_mm2, top_mm2, bridge_mm2, sparse_mm2, regions)
    # the regions' outlines, measured together after the loop: group k sparse, n + k solid
    outlines: list[np.ndarray] = []
    outline_group: list[int] = []
    copied: list[int] = []  # layers with the regions of the layer below
    for k in pass3:
        check()
        f = fill[k]
        if f.is_empty():
            prev_sparse, prev_plain = empty, None
            continue
        shells = [tops[j] for j in range(k, min(n, k + profile.top_layers))]
        shells += [bottoms[j] for j in range(max(0, k - profile.bottom_layers + 1), k + 1)]
        shells.append(vshell[k])
        shells = [c for c in shells if not c.is_empty()]
        if not shells and k > 1 and f is prev_plain:
            for arr in arrays:  # same fill area, no shells: same regions as the layer below
                arr[k] = arr[k - 1]
            copied.append(k)
            continue
        prev_plain = f if not shells and k > 0 else None
        if k == 0 or profile.infill_percent >= 99.99:
            solid = f
        elif shells:
            solid = m3d.CrossSection.batch_boolean(shells, m3d.OpType.Add) ^ f
        else:
            solid = empty
        sparse = f - solid if not solid.is_empty() else f
        if not sparse.is_empty():
            small = [isl for isl in sparse.decompose() if isl.area() < solid_area_min]
            if small:
                smalls = m3d.CrossSection.batch_boolean(small, m3d.OpType.Add)
                solid = solid + smalls
                sparse = sparse - smalls
        solid_mm2[k] = _area(solid)
        sparse_mm2[k] = _area(sparse)
        if not exposed_top[k].is_empty() and not solid.is_empty():
            top_mm2[k] = _area(exposed_top[k] ^ solid)
        if k > 0 and not solid.is_empty():
            over_air = solid - secs[k - 1]
            over_sparse = solid ^ prev_sparse if not prev_sparse.is_empty() else empty
            bridge_mm2[k] = _area(over_air) + _area(over_sparse)
        n_reg = 0
        for cs, group in ((sparse, k), (solid, n + k)):
            if cs.is_empty():
                continue
            polys = cs.to_polygons()
            outlines += polys
            outline_group += [group] * len(polys)
            n_reg += cs.num_contour()
        regions[k] = n_reg
        prev_sparse = sparse
    # mean chord of the sparse and the solid regions: pi A / P
    perimeter = outline_lengths(outlines, np.array(outline_group, np.int64), 2 * n)
    for chord, area, per in ((sparse_chord, sparse_mm2, perimeter[:n]),
                             (solid_chord, solid_mm2, perimeter[n:])):
        has = per > 0
        chord[has] = math.pi * area[has] / np.maximum(per[has], 1e-9)
        for k in copied:  # in ascending order: a stretch copies from its first layer up
            chord[k] = chord[k - 1]

    if (first, stop) != (0, n):  # the window's other layers are only partly measured
        for arr in (*out.values(), *arrays, sparse_chord, solid_chord):
            arr[:first] = 0.0
            arr[stop:] = 0.0
    return LayerFigures(
        thickness_mm=stack.thickness_mm.copy(),
        area_mm2=out["area"], fill_mm2=out["fill"], solid_mm2=solid_mm2, top_mm2=top_mm2,
        bridge_mm2=bridge_mm2, sparse_mm2=sparse_mm2, contours=out["contours"],
        regions=regions, t_ext_s=out["t_ext"], t_per_s=out["t_per"],
        len_per_mm=out["len_per"], sparse_chord_mm=sparse_chord, solid_chord_mm=solid_chord,
        exact=stack.exact,
    )
