"""Support material under overhangs, the way PrusaSlicer's automatic grid supports place it.

Per layer, from the cross-sections (PrusaSlicer 2.5, ``SupportMaterial.cpp``, grid style):

1. Overhang: what the layer holds out beyond the layer below grown by the allowed step
   (threshold 0 = automatic: half the external perimeter width; else layer height /
   tan(threshold + 1°)), widened back to the full overhang near those places.
2. Bridges are not supported (``dont_support_bridges``): an overhang region that straight lines
   can span with both ends on the layer below (a roof over a pocket, a span between two
   walls) is left out, except a band along its free edges.
3. Contact: the overhang minus the layer below grown by the xy gap; PrusaSlicer stretches the
   contact islands into the blocks of its support grid (line pitch = spacing + line spacing):
   here the contact grown by half a block with square corners (a point becomes one block).
4. Columns: the contacts projected down to the bed or the part, trimmed by each layer of the
   part (with the xy gap). The top ``interface_layers`` under a contact are dense interface
   where the overhang is steep (PrusaSlicer's reduced interfaces: it reaches more than 0.6
   external perimeter widths past the layer below), so are the layers where a column stands on
   the part; the rest is sparse base (lines at the grid pitch) with a sheath around each island.

The result is per layer: base, interface and first-layer areas, sheath length, islands. What
they cost in material and time (a few fitted coefficients) is in :mod:`model`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import manifold3d as m3d
import numpy as np

from marketplace.engine.estimate.layers import LayerStack, outline_lengths
from marketplace.engine.limits import Deadline
from marketplace.engine.pricing.catalog import PrintProfile

_SQUARE = m3d.JoinType.Square
_MIN_OVERHANG_MM2 = 0.01  # specks of the mesh's facets, no real overhang
_FREE_EDGE_MM = 1.5  # PrusaSlicer supports a bridge's unanchored edges this far in
BRIDGE_ANGLES = 8  # directions tried by the bridge test (PrusaSlicer: every 5°)
BRIDGE_MIN_SHARE = 0.5  # share of the lines that must be anchored at both ends
_MAX_ROWS = 64  # test lines per direction (coarser spacing on big regions)
COLUMN_STEPS = 150  # blocks the column walk is split into at most


@dataclass(frozen=True)
class SupportLayers:
    """Where supports go, per layer (each an (n_layers,) array; areas mm², lengths mm).

    base_mm2 : sparse base area
    interface_mm2 : dense interface area (under contacts and over the part)
    sheath_mm : outline length of the support islands (PrusaSlicer's sheath)
    islands : support islands (one travel each)
    contact_mm2 : contact area of the layers above, before the grid (the overhang itself)
    """

    base_mm2: np.ndarray
    interface_mm2: np.ndarray
    sheath_mm: np.ndarray
    islands: np.ndarray
    contact_mm2: np.ndarray

    @property
    def needed(self) -> bool:
        """PrusaSlicer's automatic supports would print something."""
        return bool(self.contact_mm2.sum() > 0)

    @classmethod
    def empty(cls, n: int) -> SupportLayers:
        z = np.zeros(n)
        return cls(z, z.copy(), z.copy(), z.copy(), z.copy())


def allowed_step_mm(profile: PrintProfile) -> float:
    """How far (mm) a layer may reach beyond the one below without support."""
    if profile.support_threshold_deg > 0:
        # PrusaSlicer adds 1° to make the threshold inclusive
        return profile.layer_height_mm / math.tan(math.radians(profile.support_threshold_deg + 1))
    return 0.5 * profile.external_perimeter_width_mm


@dataclass(frozen=True)
class Contacts:
    """What the supports of some layers hold up (picklable: a helper process sends them).

    outlines : {layer: contact grid polygons, (k, 2) float mm each}
    contact_mm2 : (n_layers,) contact area per layer (the overhang itself)
    dense_mm2 : (n_layers,) dense interface area under each layer's contact
    """

    outlines: dict[int, list[np.ndarray]]
    contact_mm2: np.ndarray
    dense_mm2: np.ndarray

    def add(self, other: Contacts) -> Contacts:
        """The contacts of two disjoint layer ranges together."""
        return Contacts({**self.outlines, **other.outlines},
                        self.contact_mm2 + other.contact_mm2, self.dense_mm2 + other.dense_mm2)


def support_layers(stack: LayerStack, profile: PrintProfile,
                   deadline: Deadline | None = None) -> SupportLayers:
    """Place automatic grid supports under the overhangs of a sliced part.

    deadline : raise BudgetExceededError when it passes (checked layer by layer)
    """
    return support_columns(stack, profile, support_contacts(stack, profile, deadline))


def support_contacts(stack: LayerStack, profile: PrintProfile,
                     deadline: Deadline | None = None,
                     owned: tuple[int, int] | None = None) -> Contacts:
    """Find what needs support in the layers [a, b) of ``owned`` (default: all), each layer
    from its own section and the one below (so ranges can be worked out apart)."""
    secs = stack.sections
    n = len(secs)
    first, stop = owned if owned is not None else (0, n)
    step = allowed_step_mm(profile)
    gap = profile.support_xy_spacing_mm
    line = profile.support_width_mm - profile.layer_height_mm * (1 - math.pi / 4)
    block = profile.support_spacing_mm + line
    same = stack.same_as_below or (False,) * n
    outlines: dict[int, list[np.ndarray]] = {}
    contact_mm2, dense_mm2 = np.zeros(n), np.zeros(n)
    width = profile.external_perimeter_width_mm
    for k in range(max(1, first), stop):
        if deadline is not None:
            deadline.check()
        cur, low = secs[k], secs[k - 1]
        if cur.is_empty() or same[k]:
            continue
        over = _overhang(cur, low, step)
        if over.is_empty():
            continue
        over = _without_bridges(over, cur, low, profile)
        if over.is_empty():
            continue
        contact = over - low.offset(min(step, gap), _SQUARE) if not low.is_empty() else over
        if contact.is_empty() or contact.area() < _MIN_OVERHANG_MM2:
            continue
        contact_mm2[k] = contact.area()
        # stretched into the support grid's blocks, kept clear of the part below
        grid = contact.offset(block / 2, _SQUARE)
        if low.is_empty():
            dense_mm2[k] = grid.area()
        else:
            grid = grid - low.offset(gap, _SQUARE)
            dense_mm2[k] = _dense_interface(over, low, grid, width, block)
        outlines[k] = [np.asarray(p) for p in grid.to_polygons()]
    return Contacts(outlines, contact_mm2, dense_mm2)


def support_columns(stack: LayerStack, profile: PrintProfile,
                    contacts: Contacts) -> SupportLayers:
    """The supports under ``contacts`` (of every layer), layer by layer."""
    n = len(stack.sections)
    if n < 2 or not contacts.contact_mm2.any():
        return SupportLayers.empty(n)
    grids: list[m3d.CrossSection | None] = [None] * n
    for k, polys in contacts.outlines.items():
        grids[k] = m3d.CrossSection(polys, m3d.FillRule.Positive)
    return _columns(stack.sections, grids, contacts.contact_mm2, contacts.dense_mm2, profile,
                    profile.support_xy_spacing_mm)


def _dense_interface(over: m3d.CrossSection, low: m3d.CrossSection, grid: m3d.CrossSection,
                     width: float, block: float) -> float:
    """Area (mm²) of a contact's dense interface: PrusaSlicer's reduced interfaces (grid style)
    print it only under the overhang that reaches more than 0.6 external perimeter widths past
    the layer below (its thin parts ignored): a gentle slope gets the base grid alone.

    ``grid``: the contact's support grid (clear of the part below)."""
    if over.offset(-0.3 * width, _SQUARE).is_empty():  # nowhere 0.6 widths wide: no reach
        return 0.0
    # the opening of the layer below, near the overhang only (what lies more than 1.6 widths
    # away cannot reach it; offsetting the whole layer cost a third more)
    x0, y0, x1, y1 = over.bounds()
    m = 2.5 * width
    window = m3d.CrossSection.square((x1 - x0 + 2 * m, y1 - y0 + 2 * m)).translate(
        (x0 - m, y0 - m))
    reach = (low ^ window).offset(-0.5 * width, _SQUARE).offset(1.1 * width, _SQUARE)
    dense = over - reach
    if dense.is_empty():
        return 0.0
    # (``grid`` is already clear of the layer below grown by the xy gap)
    dense = dense.offset(0.1 * width, _SQUARE) ^ grid
    if dense.is_empty():
        return 0.0
    return (dense.offset(block / 2, _SQUARE) ^ grid).area()


def _overhang(cur: m3d.CrossSection, low: m3d.CrossSection,
              step: float) -> m3d.CrossSection:
    """The part of ``cur`` that needs support over ``low`` (PrusaSlicer's detect_overhangs)."""
    if low.is_empty():
        return cur
    over = cur - low.offset(step, _SQUARE)
    if over.is_empty():
        return over
    parts = [p for p in over.decompose() if p.area() >= _MIN_OVERHANG_MM2]
    if not parts:
        return m3d.CrossSection()
    over = m3d.CrossSection.batch_boolean(parts, m3d.OpType.Add)
    # back to the full overhang near the detected places (bigger columns below)
    return (over.offset(step, _SQUARE) ^ cur) - low


def _without_bridges(over: m3d.CrossSection, cur: m3d.CrossSection, low: m3d.CrossSection,
                     profile: PrintProfile) -> m3d.CrossSection:
    """Remove the overhang regions the layer bridges (anchored at both ends below)."""
    if low.is_empty():
        return over
    air = cur - low
    spacing = profile.extrusion_width_mm - profile.layer_height_mm * (1 - math.pi / 4)
    # only a region wider than the perimeters has a bottom surface to bridge; the slivers
    # along sloped walls are perimeters printed over the edge (PrusaSlicer supports them)
    band = profile.external_perimeter_width_mm + (profile.perimeters - 1) * spacing
    inner = infill = None
    bridged = []
    for region in air.decompose():
        if region.area() < band * band or (region ^ over).is_empty():
            continue
        if region.offset(-band / 2, _SQUARE).is_empty():
            continue
        if _anchored_share(region, low, spacing) >= BRIDGE_MIN_SHARE:
            if inner is None:  # the unanchored edges keep a band of support
                inner = cur.offset(-_FREE_EDGE_MM, _SQUARE)
            part = region ^ inner if not inner.is_empty() else inner
            if not part.is_empty():
                bridged.append(part)
                continue
            # a region too thin for the free-edge band: only its bottom surface bridges, where
            # it is wide enough to be infill (narrower is gap fill); the perimeters over the
            # region stay supported (PrusaSlicer removes a straight bridging perimeter only by
            # its bridge-flow width, so slivers of contact remain beside it)
            if infill is None:
                infill = cur.offset(-band, _SQUARE)
            fill = region ^ infill
            if not fill.is_empty() and not fill.offset(-spacing / 2, _SQUARE).is_empty():
                bridged.append(fill)
    if not bridged:
        return over
    return over - m3d.CrossSection.batch_boolean(bridged, m3d.OpType.Add)


def _anchored_share(region: m3d.CrossSection, low: m3d.CrossSection, spacing: float) -> float:
    """Best share, over a fan of directions, of the lines across ``region`` whose two ends lie
    on ``low`` (PrusaSlicer's BridgeDetector: line ends half a line spacing outside)."""
    (x0, y0), (x1, y1) = region.bounds()[:2], region.bounds()[2:]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    reach = math.hypot(x1 - x0, y1 - y0) / 2 + 2 * spacing
    near = low ^ m3d.CrossSection.square((2 * reach, 2 * reach), True).translate((cx, cy))
    if near.is_empty():
        return 0.0
    reg_edges = _edges(region, cx, cy)
    low_edges = _edges(near, cx, cy)
    best = 0.0
    for angle in np.arange(BRIDGE_ANGLES) * (np.pi / BRIDGE_ANGLES):
        best = max(best, _share_at(reg_edges, low_edges, angle, spacing))
        if best >= 0.999:
            break
    return best


def _edges(cs: m3d.CrossSection, cx: float, cy: float) -> np.ndarray:
    """All polygon edges of ``cs`` as (k, 4) [x1, y1, x2, y2], centred on (cx, cy)."""
    rows = []
    for p in cs.to_polygons():
        p = np.asarray(p, dtype=np.float64) - (cx, cy)
        rows.append(np.hstack([p, np.roll(p, -1, axis=0)]))
    return np.vstack(rows) if rows else np.zeros((0, 4))


def _rotated(e: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    out = np.empty_like(e)
    out[:, 0] = c * e[:, 0] + s * e[:, 1]
    out[:, 1] = -s * e[:, 0] + c * e[:, 1]
    out[:, 2] = c * e[:, 2] + s * e[:, 3]
    out[:, 3] = -s * e[:, 2] + c * e[:, 3]
    return out


def _crossings(e: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and x of every edge crossing every horizontal line y (sorted by row, then x)."""
    ya, yb = e[:, 1][:, None], e[:, 3][:, None]
    hit = (ya > ys[None]) != (yb > ys[None])
    ei, ri = np.nonzero(hit)
    t = (ys[ri] - e[ei, 1]) / (e[ei, 3] - e[ei, 1])
    x = e[ei, 0] + t * (e[ei, 2] - e[ei, 0])
    order = np.lexsort((x, ri))
    return ri[order], x[order]


def _share_at(region: np.ndarray, low: np.ndarray, angle: float, spacing: float) -> float:
    """Share of the region's lines in direction ``angle`` anchored on ``low`` at both ends."""
    reg, lo = _rotated(region, angle), _rotated(low, angle)
    ymin, ymax = min(reg[:, 1].min(), reg[:, 3].min()), max(reg[:, 1].max(), reg[:, 3].max())
    pitch = max(spacing, (ymax - ymin) / _MAX_ROWS)
    ys = np.arange(ymin + pitch / 2, ymax, pitch)
    if len(ys) == 0:
        return 0.0
    rows, xs = _crossings(reg, ys)
    if len(xs) < 2:
        return 0.0
    # even-odd pairs of crossings in a row are the segments across the region
    starts = np.flatnonzero((np.arange(len(rows)) - np.searchsorted(rows, rows)) % 2 == 0)
    starts = starts[starts + 1 < len(rows)]
    starts = starts[rows[starts + 1] == rows[starts]]
    seg_row, a, b = rows[starts], xs[starts] - spacing / 2, xs[starts + 1] + spacing / 2
    lengths = b - a
    lrows, lxs = _crossings(lo, ys)
    span = float(np.abs(lo[:, [0, 2]]).max() + np.abs(reg[:, [0, 2]]).max() + 1.0)
    keys = lrows * (4 * span) + lxs
    inside_a = np.searchsorted(keys, seg_row * (4 * span) + a) - np.searchsorted(lrows, seg_row)
    inside_b = np.searchsorted(keys, seg_row * (4 * span) + b) - np.searchsorted(lrows, seg_row)
    anchored = (inside_a % 2 == 1) & (inside_b % 2 == 1)
    total = lengths.sum()
    return float(lengths[anchored].sum() / total) if total > 0 else 0.0


def _columns(secs: list[m3d.CrossSection], contacts: list, contact_mm2: np.ndarray,
             dense_mm2: np.ndarray, profile: PrintProfile, gap: float) -> SupportLayers:
    """Project the contacts down to the bed or the part; measure every support layer.

    The columns are walked down in blocks of a few layers (at most ~``COLUMN_STEPS`` steps):
    within a block, new contacts join at its top and the part's sections of the whole block
    trim it. The dense interface is measured per contact, exactly.
    """
    n = len(secs)
    top_layers = max(1, profile.support_interface_layers)
    area, interface, sheath, islands = (np.zeros(n) for _ in range(4))
    outlines: list[np.ndarray] = []
    owner: list[int] = []  # the block of each outline polygon
    blocks: list[tuple[int, int]] = []  # the layers [a, b) of each block with a column
    column = m3d.CrossSection()
    step = max(1, math.ceil(n / COLUMN_STEPS))
    # support for layer k's overhang is printed in the layers below k
    for top in range(n - 1, 0, -step):
        lowest = max(1, top - step + 1)
        new = [contacts[k] for k in range(lowest, top + 1) if contacts[k] is not None]
        if new:
            column = m3d.CrossSection.batch_boolean([column, *new], m3d.OpType.Add)
        if column.is_empty():
            continue
        below = [secs[k - 1] for k in range(lowest, top + 1) if not secs[k - 1].is_empty()]
        landed = 0.0
        if below:
            part = m3d.CrossSection.batch_boolean(below, m3d.OpType.Add).offset(gap, _SQUARE)
            before = column.area()
            column = (column - part).simplify(0.02)
            landed = before - column.area()  # where the column stands on the part
        a = column.area()
        if a <= 0:
            column = m3d.CrossSection()
            continue
        area[lowest - 1: top] = a
        polys = column.to_polygons()  # its outline, measured with all others after the walk
        outlines += polys
        owner += [len(blocks)] * len(polys)
        blocks.append((lowest - 1, top))
        islands[lowest - 1: top] = column.num_contour()
        if landed > 1e-6:  # the layers over the part under a column are dense
            interface[lowest - 1: lowest - 1 + top_layers] += landed
    # the top interface layers under each contact are dense (where the overhang is steep)
    for k in np.flatnonzero(dense_mm2):
        for j in range(max(0, k - top_layers), k):
            interface[j] += dense_mm2[k]
    interface = np.minimum(interface, area)
    lengths = outline_lengths(outlines, np.array(owner, np.int64), len(blocks))
    for (first, stop), length in zip(blocks, lengths.tolist()):
        sheath[first:stop] = length
    return SupportLayers(area - interface, interface, sheath, islands, contact_mm2)


