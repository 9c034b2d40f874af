"""Analyse a parsed mesh: figures, repairs, printability problems, suggested orientation.

Pure: :func:`analyse` takes a :class:`mesh_io.RawMesh` and returns a frozen
:class:`PartAnalysis`; no Flask, no database, no clock. All lengths in mm, areas in mm²,
volumes in mm³ (after the unit choice). Problem texts: :mod:`findings`.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from marketplace.engine.analysis import findings
from marketplace.engine.analysis.problems import Problem, sort_problems
from marketplace.engine.geometry import faces as geometry
from marketplace.engine.geometry import fitting, orientation, thickness, topology
from marketplace.engine.limits import AnalysisLimits
from marketplace.engine.meshio.load import MeshInputError, RawMesh
from marketplace.engine.meshio.units import UnitChoice, choose_unit

ENGINE_VERSION = 4  # 2: overhang face indices refer to the repaired mesh; 3: not_closable;
# 4: the holes of an open mesh are closed in the mesh that is estimated and sliced
UNESTIMABLE = frozenset({"not_closable"})  # problems that leave nothing to estimate


@dataclass(frozen=True, eq=False)
class PartAnalysis:
    """Everything the quote engine knows about one uploaded part.

    vertices (n, 3) float mm and faces (m, 3) int: the repaired mesh in the file's own frame
    (the frame of the problems' locations, what the 3D viewer shows). :meth:`oriented_vertices`
    turns it to the suggested orientation on the bed (what ``estimate`` prices).
    """

    filename: str
    file_bytes: int
    file_format: str
    encoding: str
    sha256: str
    units: UnitChoice
    triangles: int
    triangles_used: int
    volume_mm3: float
    area_mm2: float
    bbox_min_mm: tuple[float, float, float]
    bbox_max_mm: tuple[float, float, float]
    watertight: bool
    winding_consistent: bool
    shells: int
    cavities: int
    repairs: dict[str, int]
    problems: tuple[Problem, ...]
    current: orientation.Placement
    suggested: orientation.Placement
    min_wall_mm: float | None
    vertices: np.ndarray = field(repr=False)
    # a clean closed mesh's face across each half-edge, (3m,) int32 (half-edge e runs from
    # corner e to the next corner of face e // 3; the topology's pairing), else None
    faces_across: np.ndarray | None = field(default=None, repr=False)
    # points of the convex hull (at most 1024; mm, this frame): whether the part fits a
    # printer in any orientation, asked later without the mesh (:mod:`geometry.fitting`)
    hull_mm: np.ndarray | None = field(default=None, repr=False)

    @property
    def bbox_mm(self) -> tuple[float, float, float]:
        """Size of the axis-aligned bounding box (x, y, z) in mm as uploaded."""
        lo, hi = self.bbox_min_mm, self.bbox_max_mm
        return (hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2])

    @property
    def printable(self) -> bool:
        """No problem of severity "error"."""
        return not any(p.severity == "error" for p in self.problems)

    @property
    def estimable(self) -> bool:
        """The mesh is a solid one can estimate (not a soup or sheet that cannot be closed)."""
        return not any(p.code in UNESTIMABLE for p in self.problems)

    @cached_property
    def faces(self) -> np.ndarray:
        """(m, 3) int64: each face's three corners in ``vertices`` (rows 3t, 3t + 1, 3t + 2)."""
        return geometry.soup_faces(len(self.vertices))

    @cached_property
    def indexed(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (vertices (k, 3) float mm, faces (m, 3) int64) with shared corners merged
        and the holes of an open mesh closed: the mesh that is estimated and sliced.

        ``vertices``/``faces`` keep three corners per face (what the parse gives); slicers and
        manifold3d want each corner once. Equal float32 coordinates are one vertex. A mesh
        with open edges gets its holes patched (:func:`repair.close_holes`): the warning
        promises that small holes are closed for printing, and PrusaSlicer, left to itself,
        slices a cube with one missing facet as a few layers of nothing (walk, tenth sitting).
        """
        return _indexed(np.asarray(self.vertices),
                        close=not self.watertight and self.estimable)[:2]

    def oriented_indexed(self, rotation: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Return :attr:`indexed` turned to ``rotation`` (3, 3) (default: the suggested
        orientation), bbox min at 0."""
        verts, faces = self.indexed
        turn = self.suggested.rotation if rotation is None else rotation
        pts = geometry.rotate(verts, np.asarray(turn, dtype=np.float64).reshape(3, 3))
        pts -= geometry.bbox(pts)[0]
        return pts, faces

    def oriented_vertices(self, rotation: Any = None) -> np.ndarray:
        """Return vertices (n, 3) mm turned to ``rotation`` (3, 3) (default: the suggested
        orientation), bbox min at 0; float32 where the analysis measured in float32 (a big
        mesh, see ``BIG_MESH``), else float64."""
        turn = self.suggested.rotation if rotation is None else rotation
        dtype = np.float32 if self.vertices.dtype == np.float32 else np.float64
        pts = geometry.rotate(self.vertices, np.asarray(turn, dtype=np.float64).reshape(3, 3),
                              dtype)
        pts -= geometry.bbox(pts)[0].astype(dtype)
        return pts

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-safe record the CLI prints and the web app stores in Part.analysis."""
        return {
            "file": {"name": self.filename, "bytes": self.file_bytes, "format": self.file_format,
                     "encoding": self.encoding, "sha256": self.sha256},
            "mesh": {
                "triangles": self.triangles,
                "triangles_used": self.triangles_used,
                "volume_mm3": round(self.volume_mm3, 3),
                "area_mm2": round(self.area_mm2, 3),
                "bbox_mm": [round(v, 3) for v in self.bbox_mm],
                "bbox_min_mm": [round(v, 3) for v in self.bbox_min_mm],
                "watertight": self.watertight,
                "winding_consistent": self.winding_consistent,
                "shells": self.shells,
                "cavities": self.cavities,
                "units": self.units.unit,
                "units_source": self.units.source,
                "units_guess": self.units.guess,
                "units_guessed": self.units.source == "guess",
                "scale_to_mm": self.units.scale,
                "min_wall_mm": None if self.min_wall_mm is None else round(self.min_wall_mm, 3),
                "repairs": dict(self.repairs),
            },
            "problems": [p.to_dict() for p in self.problems],
            "printable": self.printable,
            "orientation": {**findings.orientation_dict(self.current, self.suggested),
                            **({} if self.hull_mm is None
                               else {"hull_mm": fitting.record_points(self.hull_mm)})},
            "engine_version": ENGINE_VERSION,
        }


def _indexed(corners: np.ndarray, close: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(vertices, faces, holes left open) of triangle corners (3m, 3) with equal corners
    merged, the holes closed if ``close`` (see :attr:`PartAnalysis.indexed`)."""
    from marketplace.engine.geometry.repair import close_holes, merge_vertices

    bits = topology.corner_bits(corners)
    ids = merge_vertices(bits, topology._vertex_hash(bits))
    first = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
    first[ids[::-1]] = np.arange(len(ids) - 1, -1, -1)
    if not close:
        return corners[first], ids.reshape(-1, 3), 0
    return close_holes(corners[first], ids.reshape(-1, 3))


BIG_MESH = 400_000  # faces; above this the geometry runs in float32 (sums stay float64)
THREAD_MIN = 100_000  # faces; from here the topology sort runs beside the geometry


@dataclass(frozen=True, eq=False)
class _Measures:
    geo: geometry.FaceGeometry
    volume_mm3: float
    area_mm2: float
    current: orientation.Placement
    suggested: orientation.Placement
    walls: thickness.Thickness | None
    hull_candidates: np.ndarray  # the corners the hull is among (:func:`_hull_candidates`)


def _measure(tri: np.ndarray, extents: np.ndarray, limits: AnalysisLimits, layer_mm: float,
             check_walls: bool, centre: np.ndarray | None = None) -> _Measures:
    """Geometry, orientation and wall thickness of (m, 3, 3) triangles in mm.

    centre : origin for the volume sum (default the box centre). For an open mesh the caller
    passes a point on its holes: a single flat hole is then closed exactly.
    """
    geo = geometry.face_geometry(tri, centre)
    corners = tri.reshape(-1, 3)
    candidates = _hull_candidates(corners)
    current, best = orientation.choose(_hull_points(candidates), tri, geo.normals,
                                       geo.areas_mm2, limits.build_volumes_mm, layer_mm)[:2]
    best = _exact_extents(best, corners, extents)
    walls = thickness.measure(tri, geo.normals, geo.areas_mm2) if check_walls else None
    return _Measures(geo, float(geo.volumes_mm3.sum(dtype=np.float64)),
                     float(geo.areas_mm2.sum(dtype=np.float64)), current, best, walls,
                     candidates)


class _EitherThread:
    """A job that whichever thread is free for it first does (the other waits for it)."""

    def __init__(self, fn, *args) -> None:
        self._fn, self._args = fn, args
        self._claim = threading.Lock()
        self._result: Future = Future()

    def run(self) -> Any:
        if self._claim.acquire(blocking=False):
            try:
                self._result.set_result(self._fn(*self._args))
            except BaseException as exc:  # noqa: BLE001 - raised to whoever waits for it
                self._result.set_exception(exc)
        return self._result.result()


def _topology_start(bits: np.ndarray, paired: Future,
                    digest: _EitherThread) -> topology.Pending:
    """The second thread's share: :func:`topology.topology_start`, then its share of the
    pairing's check (the measuring thread takes the rest when it is done), then the file's
    digest unless the measuring thread was free for it first."""
    pending = topology.topology_start(bits, paired)
    check = paired.result()
    if check is not None:
        check.help()
    digest.run()
    return pending


def _working(raw: RawMesh, tri32: np.ndarray, kept: np.ndarray | None,
             scale: float) -> np.ndarray:
    """Triangles in mm to measure: float64 for small meshes, float32 for big ones.

    Never scales ``tri32`` in place (the topology thread may still be reading it).
    """
    if len(raw.triangles) > BIG_MESH:
        tri = tri32 if kept is None else tri32[kept]
        return tri * np.float32(scale) if scale != 1.0 else tri
    tri = np.array(raw.triangles if kept is None else raw.triangles[kept], dtype=np.float64)
    if scale != 1.0:
        tri *= scale
    return tri


def analyse(raw: RawMesh, data: bytes, filename: str, *, units: str | None = None,
            limits: AnalysisLimits | None = None, layer_mm: float = 0.2,
            check_walls: bool = True) -> PartAnalysis:
    """Analyse a parsed mesh; ``data`` is the file's bytes (for the size and sha256).

    The topology (one big sort) runs in a second thread while this one measures the mesh as
    uploaded; numpy releases the GIL, so both cores work. If the topology then repairs
    anything, the measuring is repeated on the repaired mesh.
    """
    limits = limits or AnalysisLimits.from_config()
    m = len(raw.triangles)
    tri32 = raw.triangles
    if tri32.dtype != np.float32 or not tri32.flags.c_contiguous or not tri32.flags.writeable:
        tri32 = np.array(tri32, dtype=np.float32, order="C")  # our own copy
    bits = topology.corner_bits(tri32, owned=True)  # flushes coordinate noise in tri32
    pool = ThreadPoolExecutor(1) if m >= THREAD_MIN else None
    paired: Future = Future()
    digest = _EitherThread(hashlib.sha256, data)
    future = pool.submit(_topology_start, bits, paired, digest) if pool else None
    try:
        if future is not None:
            # scipy's import (~0.3 s CPU) here, at once: the other thread labels the shells
            # with it right after its sort, while this one checks that sort's pairing
            from marketplace.engine.geometry import shells  # noqa: F401
        lo, hi = geometry.bbox(tri32)
        max_build = max(max(v) for v in limits.build_volumes_mm)
        choice = choose_unit(tuple(hi - lo), user=units, file_hint=raw.unit_hint,
                             max_build_mm=max_build)
        lo_mm, hi_mm = lo * choice.scale, hi * choice.scale
        tri = meas = hull = None
        across = None
        if future is not None:  # optimistic: most uploads need no repair
            tri = _working(raw, tri32, None, choice.scale)
            meas = _measure(tri, hi_mm - lo_mm, limits, layer_mm, check_walls)
            hull = _hull_record(meas, len(tri))  # while the topology is still at work
        if future is not None:
            wait([paired, future], return_when=FIRST_COMPLETED)
            if not paired.done():  # the thread failed before it paired anything
                future.result()
            check = paired.result()  # (helping with the check of the pairing)
            agree = False if check is None else check.agree()
            sha256 = digest.run().hexdigest()  # (unless the other thread was free first)
            pending = future.result()
            topo = topology.topology_finish(tri32, bits, pending, agree)
            if pending.pairs is not None and agree:  # the fast path: a clean closed mesh
                across = pending.across
        else:
            sha256 = digest.run().hexdigest()
            topo = topology.topology_of(tri32, bits)
    finally:
        if pool:
            pool.shutdown(wait=True)
    kept = np.flatnonzero(topo.keep)
    if len(kept) == 0:
        raise MeshInputError("no_triangles", "error.no_valid_triangles")
    flip = topo.flip[kept]
    if tri is None or len(kept) != m or flip.any():
        tri = _working(raw, tri32, None if len(kept) == m else kept, choice.scale)
        hull = None  # measured again below (a big mesh's hull is among sampled corners)
        if flip.any():
            tri[flip] = tri[flip][:, [0, 2, 1]]
        meas = None
    del tri32, bits
    labels = topo.face_shell[kept]
    vols = meas.geo.volumes_mm3 if meas else geometry.face_geometry(tri).volumes_mm3
    shell_vol = np.bincount(labels, weights=vols, minlength=topo.n_shells)
    shell_vol[topo.open_shells] = 0.0  # an open shell's sign says nothing about its winding
    inverted, cavities = _negative_shells(tri, labels, shell_vol)
    if len(kept) != m or flip.any() or len(inverted):
        across = None  # the pairing no longer describes the corners
    if len(inverted):
        bad = np.isin(labels, inverted)
        tri[bad] = tri[bad][:, [0, 2, 1]]
        meas = None
    if topo.n_open_edges:
        centre = (topo.open_edges.reshape(-1, 3).mean(axis=0) * choice.scale).astype(tri.dtype)
        if meas is not None:  # the same triangles: only the volume's origin moves (the
            # orientation and the wall rays do not depend on it; a soup's rays are costly)
            geo = geometry.face_geometry(tri, centre)
            meas = replace(meas, geo=geo, volume_mm3=float(geo.volumes_mm3.sum(dtype=np.float64)))
        else:
            meas = _measure(tri, hi_mm - lo_mm, limits, layer_mm, check_walls, centre)
    elif meas is None:
        meas = _measure(tri, hi_mm - lo_mm, limits, layer_mm, check_walls)
    geo, volume, area = meas.geo, meas.volume_mm3, meas.area_mm2
    current, best, walls = meas.current, meas.suggested, meas.walls
    corners = tri.reshape(-1, 3)
    ctx = findings.Context(
        topo=topo, kept=kept, tri=tri, geo=geo, units=choice, volume_mm3=volume,
        bbox_min=lo_mm, bbox_max=hi_mm, current=current, suggested=best, walls=walls,
        limits=limits, inverted_shells=len(inverted), cavities=len(cavities), layer_mm=layer_mm,
    )
    problems = sort_problems(findings.collect(ctx))
    analysis = PartAnalysis(
        filename=filename, file_bytes=len(data), file_format=raw.fmt, encoding=raw.encoding,
        sha256=sha256, units=choice, triangles=m,
        triangles_used=len(tri), volume_mm3=volume, area_mm2=area,
        bbox_min_mm=tuple(float(v) for v in lo_mm), bbox_max_mm=tuple(float(v) for v in hi_mm),
        watertight=topo.watertight, winding_consistent=topo.winding_consistent,
        shells=topo.n_shells, cavities=len(cavities),
        repairs={"degenerate_faces_removed": topo.n_degenerate,
                 "duplicate_faces_removed": topo.n_duplicate,
                 "faces_flipped": int(flip.sum()), "shells_inverted": len(inverted)},
        problems=tuple(problems), current=current, suggested=best,
        min_wall_mm=None if walls is None or not np.isfinite(walls.thickness_mm).any()
        else float(walls.thickness_mm[np.isfinite(walls.thickness_mm)].min()),
        vertices=corners,
        faces_across=across, hull_mm=_hull_record(meas, len(tri)) if hull is None else hull,
    )
    if analysis.watertight or not analysis.estimable:
        return analysis
    # what is printed: the mesh with its holes closed, merged here once (the estimate and the
    # slicer read it); its volume where all of them closed (the one centre above closes one
    # flat hole exactly, not two)
    vertices, faces, left = _indexed(corners, close=True)
    if topo.n_open_edges and not left:
        analysis = replace(analysis, volume_mm3=geometry.signed_volume(vertices, faces))
    analysis.__dict__["indexed"] = (vertices, faces)  # the cached_property, computed already
    return analysis


CONTAINERS = 16  # largest positive shells tried as the solid around a cavity
CHUNK = 65_536  # negative shells per vectorised step


def _negative_shells(tri: np.ndarray, labels: np.ndarray,
                     shell_vol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split shells of negative volume into (inverted, cavities).

    A cavity is a negative shell whose box lies inside the box of a bigger positive shell
    (a hollow inside a solid); any other negative shell is inside out and gets flipped. Only
    the ``CONTAINERS`` largest positive shells are tried as the solid, so a soup of a million
    little shells costs a few vectorised passes, not a comparison of every pair.
    """
    neg = np.flatnonzero(shell_vol < 0)
    if len(neg) == 0:
        return neg, neg
    n = len(shell_vol)
    lo = np.full((n, 3), np.inf)
    hi = np.full((n, 3), -np.inf)
    per_face_lo = np.minimum(np.minimum(tri[:, 0], tri[:, 1]), tri[:, 2])
    per_face_hi = np.maximum(np.maximum(tri[:, 0], tri[:, 1]), tri[:, 2])
    for c in range(3):  # per coordinate: 1-d ufunc.at is fast, on (n, 3) rows it is not
        lo[:, c] = _group_min(labels, per_face_lo[:, c], n)
        hi[:, c] = -_group_min(labels, -per_face_hi[:, c], n)
    pos = np.flatnonzero(shell_vol > 0)
    pos = pos[np.argsort(shell_vol[pos])[::-1][:CONTAINERS]]
    cav = np.zeros(len(neg), bool)
    for start in range(0, len(neg), CHUNK):
        s = neg[start:start + CHUNK]
        inside = ((lo[pos][None] < lo[s][:, None]).all(axis=2)
                  & (hi[pos][None] > hi[s][:, None]).all(axis=2)
                  & (shell_vol[pos][None] > -shell_vol[s][:, None]))
        cav[start:start + CHUNK] = inside.any(axis=1)
    return neg[~cav], neg[cav]


def _group_min(labels: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Return the minimum of ``values`` per label 0..n-1 (inf where a label has none)."""
    out = np.full(n, np.inf)
    np.minimum.at(out, labels, values.astype(np.float64))
    return out


def _hull_candidates(corners: np.ndarray, sample: int = 50_000, few: int = 256) -> np.ndarray:
    """Return the corners the convex hull is looked for among: a big mesh's sample (plus its
    axis extremes) as they are, a smaller mesh's corners without those inside unless ``few``
    or fewer (:func:`_outer_points`: its qhull import, 0.2 s in a fresh process, costs a big
    mesh more than the sample's directions do).
    """
    if len(corners) > sample:
        pick = np.random.default_rng(1).integers(0, len(corners), sample)  # (shuffle: slow)
        low, high = geometry.extreme_corners(corners)
        ext = np.stack([low, high], axis=1).reshape(-1)  # min x, max x, min y, ...
        return corners[np.concatenate([pick, ext])]
    return corners if len(corners) <= few else _outer_points(corners)


def _hull_points(candidates: np.ndarray, directions: int = 128) -> np.ndarray:
    """Return a few hundred points whose boxes in any rotation match the part's (nearly).

    The extreme ``candidates`` (:func:`_hull_candidates`) along ``directions`` evenly spread
    directions (a Fibonacci sphere) are vertices of the convex hull.
    """
    if len(candidates) <= 2 * directions:
        return candidates
    k = np.arange(directions) + 0.5
    phi = np.arccos(1 - 2 * k / directions)
    theta = np.pi * (1 + 5**0.5) * k
    dirs = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)])
    return candidates[_extremes(_columns(candidates), dirs)]


def _hull_record(meas: _Measures, faces: int) -> np.ndarray:
    """The hull points the analysis records (:mod:`geometry.fitting`) for a mesh of ``faces``
    measured as ``meas``: the convex hull's vertices of a small mesh, the extremes along 256
    directions of a bigger one."""
    if 3 * faces <= fitting.EXACT_CORNERS:
        pts = fitting.hull_points(meas.hull_candidates)
    else:
        pts = _hull_points(meas.hull_candidates, directions=256)
    # sorted: the same points in the same order, however the faces' corners were listed
    return pts[np.lexsort(pts.T[::-1])]


def _columns(pts: np.ndarray) -> list[np.ndarray]:
    """The x, y and z of points (n, 3) as three contiguous float64 arrays."""
    return [np.ascontiguousarray(pts[:, k], dtype=np.float64) for k in range(3)]


def _extremes(cols: list[np.ndarray], dirs: np.ndarray) -> np.ndarray:
    """Sorted indices of the points (:func:`_columns`) farthest along and against each of the
    directions (3, k): (k, n) projections without BLAS, 32 directions at a time (small
    temporaries, reused); row-wise arg-extremes are fast."""
    found = []
    for start in range(0, dirs.shape[1], 32):
        d = dirs[:, start:start + 32]
        proj = d[0][:, None] * cols[0]
        proj += d[1][:, None] * cols[1]
        proj += d[2][:, None] * cols[2]
        found += [proj.argmax(axis=1), proj.argmin(axis=1)]
    return np.unique(np.concatenate(found))


# 13 axes: the box's axes, its faces' and its body's diagonals (Akl and Toussaint's heuristic)
_AXES = np.array([(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1),
                  (0, 1, 1), (0, 1, -1), (1, 1, 1), (1, 1, -1), (1, -1, 1), (-1, 1, 1)], float).T


def _outer_points(pts: np.ndarray) -> np.ndarray:
    """Return ``pts`` (n, 3) without the points strictly inside the hull of their extremes
    along 13 axes and without repeats, in their order: no such point is a vertex of the
    convex hull or extreme in any direction, so every hull and extreme found from the rest is
    the same (a CAD part keeps a small share of its corners)."""
    from scipy.spatial import ConvexHull, QhullError

    cols = _columns(pts)
    core = pts[_extremes(cols, _AXES)].astype(np.float64)
    try:
        planes = ConvexHull(core).equations  # a·p + b <= 0 inside
    except (QhullError, ValueError):  # flat or a line: nothing is strictly inside
        return pts
    size = float(np.abs(core).max()) + float(np.ptp(core, axis=0).max())
    margin = 1e-9 * size  # points this close to the extremes' hull are kept
    inside = np.ones(len(pts), bool)
    for a, b, c, off in planes:
        inside &= a * cols[0] + b * cols[1] + c * cols[2] + off < -margin
    outer = np.ascontiguousarray(pts[~inside], dtype=np.float64)
    # each point once (a corner is shared by about six faces), first occurrences in order:
    # by a hash of the coordinates' bits, checked (a collision keeps every point)
    key = topology._vertex_hash(outer.view(np.uint64))
    _, first, again = np.unique(key, return_index=True, return_inverse=True)
    if not np.array_equal(outer[first][again], outer):
        return outer
    return outer[np.sort(first)]


def _exact_extents(p: orientation.Placement, corners: np.ndarray,
                   extents: np.ndarray) -> orientation.Placement:
    """Recompute a placement's extents from every corner (the search used hull points).

    A signed permutation (an axis turned to the bed) just permutes the known ``extents``.
    """
    rot = np.array(p.rotation)
    if np.allclose(np.abs(rot), np.round(np.abs(rot))) and np.allclose(np.abs(rot).sum(0), 1):
        ext = np.abs(rot) @ extents
    else:
        lo, hi = geometry.bbox(geometry.rotate(corners, rot))
        ext = hi - lo
    return replace(p, extents_mm=tuple(float(v) for v in ext))
