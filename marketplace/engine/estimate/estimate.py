"""Material (g) and print time (s) of a part for a print profile, without running a slicer.

Pipeline: place the mesh on z = 0, cut it at every layer's mid-height (``slicing_layers``), split
each layer into perimeter band, solid, sparse and bridge regions (``layer_regions``), turn the
regions into volume and time (``estimate_model``, physics plus a few fitted coefficients) and add
support material under overhangs when asked (``supports``).

Accuracy against PrusaSlicer 2.5.0 and the exact benchmark command are in
``benchmarks/estimate_accuracy.py``.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from marketplace.engine.estimate.layers import layer_heights, slice_mesh
from marketplace.engine.estimate.model import Coefficients, coefficients_for, evaluate
from marketplace.engine.estimate.regions import measure_layers
from marketplace.engine.estimate.supports import (
    support_columns,
    support_contacts,
    support_layers,
)
from marketplace.engine.geometry.faces import signed_volume
from marketplace.engine.limits import BudgetExceededError, Deadline
from marketplace.engine.pricing.catalog import MaterialSpec, PrintProfile
from marketplace.engine.texts import GRAMS_PLACES

# The fallback for meshes without usable cross-sections: grams per mm³ of part volume and
# seconds per mm³, the corpus medians of PrusaSlicer's figures (rough, flagged "low").
_FALLBACK_FILL = 0.55
_FALLBACK_S_PER_MM3 = 0.45
# Seconds per triangle to cut the layers (chained sections: about 0.4 µs of CPU a triangle on
# 2 million triangles, with room for a loaded machine): a quote whose remaining budget cannot
# cover it takes the rough way at once
SLICE_S_PER_TRIANGLE = 1e-6


class NoPrintableVolumeError(ValueError):
    """The mesh has nothing a printer could lay down (no triangles, or no height)."""


@dataclass(frozen=True)
class Estimate:
    """What printing one piece takes.

    material_g : g of filament, supports included
    print_time_s : s, without heat-up (like PrusaSlicer's estimate)
    layers : number of layers
    supports : printed with supports (PrusaSlicer's automatic supports would place some)
    support_g : g the supports add (part of material_g: their filament less what the part
        saves printing over them)
    model_g : g for the part alone
    support_time_s : s the supports add (part of print_time_s)
    filament_mm : mm of filament (material_g as length)
    confidence : "high" (exact slices), "medium" (open mesh, slices closed even-odd) or
        "low" (no usable slices, or the time budget spent: estimated from the volume)
    method : "slices", "slices-open-mesh", "volume", "volume-budget" (the time budget was
        spent) or "volume-too-tall" (more than MAX_LAYERS layers)
    """

    material_g: float
    print_time_s: float
    layers: int
    supports: bool = False
    support_g: float = 0.0
    model_g: float = 0.0
    support_time_s: float = 0.0
    filament_mm: float = 0.0
    height_mm: float = 0.0
    confidence: str = "high"
    method: str = "slices"
    breakdown_g: dict[str, float] = field(default_factory=dict)
    breakdown_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (grams to 0.01 g, seconds whole)."""
        d = asdict(self)
        for key in ("material_g", "support_g", "model_g"):
            d[key] = round(d[key], GRAMS_PLACES)
        for key in ("print_time_s", "support_time_s"):
            d[key] = int(round(d[key]))
        d["filament_mm"] = round(d["filament_mm"], 1)
        d["height_mm"] = round(d["height_mm"], 3)
        d["breakdown_g"] = {k: round(v, GRAMS_PLACES) for k, v in self.breakdown_g.items()}
        d["breakdown_s"] = {k: int(round(v)) for k, v in self.breakdown_s.items()}
        return d

    def to_record(self) -> dict[str, Any]:
        """Return every field unrounded (JSON-safe), for storing and :meth:`from_record`."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Estimate:
        """Rebuild an estimate stored with :meth:`to_record`."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in names})

    def without_supports(self) -> Estimate:
        """Return the estimate of the same piece printed without supports.

        Supports print in the part's own layers, so the part's share (``model_g`` and the
        time without ``support_time_s``) is the same either way: this equals
        ``estimate(..., supports="none")`` without slicing the mesh again.
        """
        if not self.supports and not self.support_g and not self.support_time_s:
            return self
        total_g = self.material_g or 1.0
        return replace(
            self, material_g=self.model_g, print_time_s=self.print_time_s - self.support_time_s,
            supports=False, support_g=0.0, support_time_s=0.0,
            filament_mm=self.filament_mm * (self.model_g / total_g),
            breakdown_g={k: v for k, v in self.breakdown_g.items() if k != "supports"},
            breakdown_s={k: v for k, v in self.breakdown_s.items() if k != "supports"},
        )

    def with_density(self, density_g_cm3: float, *, from_density_g_cm3: float = 1.0) -> Estimate:
        """Return the estimate for another material density (grams scale, times do not).

        The estimate depends on the material only through its density, so one estimate made
        at ``from_density_g_cm3`` prices every material.
        """
        k = float(density_g_cm3) / float(from_density_g_cm3)
        return replace(
            self, material_g=self.material_g * k, support_g=self.support_g * k,
            model_g=self.model_g * k, breakdown_g={n: g * k for n, g in self.breakdown_g.items()},
        )


class _GeometryCache:
    """The last few parts' layer figures, so changing infill or material costs milliseconds.

    Key: the mesh bytes' digest and the profile with the infill normalised away (layer figures
    do not depend on the infill density, except that 100 % makes every layer solid).
    """

    def __init__(self, size: int = 8) -> None:
        self._items: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    @staticmethod
    def key(v: np.ndarray, f: np.ndarray | None, profile: PrintProfile,
            mesh_id: str | None = None) -> tuple:
        if mesh_id is None:
            digest = hashlib.blake2b(v.tobytes(), digest_size=16)
            digest.update(b"soup" if f is None else f.tobytes())
            mesh_id = digest.hexdigest()
        solid = profile.infill_percent >= 99.99
        return mesh_id, replace(profile, infill_percent=100.0 if solid else 0.0)

    def get(self, key: tuple) -> dict[str, Any]:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                entry = self._items[key] = {}
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
            else:
                self._items.move_to_end(key)
            return entry


_CACHE = _GeometryCache()


SUPPORT_CHOICES = ("auto", "none")


MAX_LAYERS = 20_000  # 4 m at 0.2 mm: more is estimated from the volume alone


def estimate(
    vertices: np.ndarray,
    faces: np.ndarray | None,
    profile: PrintProfile,
    material: MaterialSpec,
    *,
    supports: str = "auto",
    coefficients: Coefficients | None = None,
    use_cache: bool = True,
    deadline: Deadline | None = None,
    across: np.ndarray | None = None,
    mesh_id: str | None = None,
) -> Estimate:
    """Estimate grams and print time of one piece.

    vertices : (n, 3) float, mm (placed on z = 0 here)
    faces : (m, 3) int, indices into vertices; None: ``vertices`` is a triangle soup (corner
        3t + j is corner j of face t)
    supports : "auto": supports wherever PrusaSlicer's automatic supports at the profile's
        threshold put them (``Estimate.supports`` says whether there are any); "none": none
    use_cache : reuse the layer figures of a recent call for the same mesh and layer settings
    deadline : the quote's time budget; once spent, the rough estimate from the volume is
        given instead (``method`` "volume-budget", ``confidence`` "low")
    across : (3m,) int, for a triangle soup (``faces`` None or ``arange(3m)`` in rows of
        three) whose pairing the caller knows: the face across each half-edge
        (:func:`layers.slice_mesh`); it is then sliced without merging corners
    mesh_id : names the mesh for the cache (instead of a digest of its arrays)
    Raises NoPrintableVolumeError for an empty or flat mesh, ValueError for coordinates or
    indices that no reader lets through (a bug upstream, not a property of the part) and
    for an unknown ``supports``.
    """
    if supports not in SUPPORT_CHOICES:
        raise ValueError(f"supports must be one of {SUPPORT_CHOICES}, not {supports!r}")
    v = np.asarray(vertices)  # float32 stays float32 (a big mesh: half the memory traffic)
    v = (v if v.dtype == np.float32 else v.astype(np.float64, copy=False)).reshape(-1, 3)
    if faces is None and len(v) % 3:
        raise ValueError("a triangle soup has three corners a face")
    f = None if faces is None else np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    triangles = len(v) // 3 if f is None else len(f)
    if len(v) == 0 or (f is not None and len(f) == 0):
        raise NoPrintableVolumeError("the mesh has no triangles")
    if not np.isfinite(v).all():
        raise ValueError("the mesh has non-finite coordinates")
    if f is not None and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError("face indices out of range")
    height = float(v[:, 2].max() - v[:, 2].min())
    if height <= 0:
        raise NoPrintableVolumeError("the mesh is flat (zero height)")

    g_per_mm3 = material.density_g_cm3 / 1000.0
    fil_area = math.pi * (profile.filament_diameter_mm / 2) ** 2
    if height / profile.layer_height_mm > MAX_LAYERS:  # taller than any printer by far (a
        # part read in the wrong unit): its layers would not fit in memory, nor be printed
        return replace(_volume_fallback(v, f, height, profile, g_per_mm3, fil_area),
                       method="volume-too-tall")
    entry = _CACHE.get(_CACHE.key(v, f, profile, mesh_id)) if use_cache else {}
    try:
        if "stack" not in entry:
            if deadline is not None:  # cutting the layers cannot be interrupted
                deadline.check(needs_s=triangles * SLICE_S_PER_TRIANGLE)
            entry["stack"] = slice_mesh(v, f, profile.layer_height_mm,
                                        profile.first_layer_height_mm, across)
        stack = entry["stack"]
        if not any(not s.is_empty() for s in stack.sections):
            return _volume_fallback(v, f, height, profile, g_per_mm3, fil_area)
        if supports == "auto" and "figures" not in entry and "supports" not in entry:
            entry["figures"], entry["supports"] = _regions_and_supports(stack, profile,
                                                                        deadline)
        if "figures" not in entry:
            entry["figures"] = measure_layers(stack, profile, deadline=deadline)
        sup = None
        if supports == "auto":
            if "supports" not in entry:
                entry["supports"] = support_layers(stack, profile, deadline)
            sup = entry["supports"]
    except BudgetExceededError:
        return replace(_volume_fallback(v, f, height, profile, g_per_mm3, fil_area),
                       method="volume-budget")
    res = evaluate(entry["figures"], profile, coefficients or coefficients_for(profile), sup)
    with_supports = sup is not None and sup.needed
    model_g = res.volume_mm3 * g_per_mm3
    support_g = res.support_mm3 * g_per_mm3
    breakdown_g = {k: val * g_per_mm3 for k, val in res.parts_mm3.items()}
    breakdown_s = dict(res.parts_s)
    if with_supports:
        breakdown_g["supports"] = support_g
        breakdown_s["supports"] = res.support_s
    return Estimate(
        material_g=model_g + support_g,
        print_time_s=res.time_s + res.support_s,
        layers=len(stack.heights_mm),
        supports=with_supports,
        support_g=support_g,
        model_g=model_g,
        support_time_s=res.support_s,
        filament_mm=(res.volume_mm3 + res.support_mm3) / fil_area,
        height_mm=height,
        confidence="high" if stack.exact else "medium",
        method="slices" if stack.exact else "slices-open-mesh",
        breakdown_g=breakdown_g,
        breakdown_s=breakdown_s,
    )


# Once the outlines are big enough for it to pay (a fork costs a few milliseconds), the layers'
# regions and supports are worked out by this process and two forked helpers (see
# _regions_and_supports): polygon work holds the GIL, and PrusaSlicer, the yardstick, uses every
# core too.
PARALLEL_MIN_VERTICES = 3_000
# without a time budget, how long the parent's own share's duration (times this, at least
# HELPER_WAIT_MIN_S) the helpers may take beyond it before their work is done here instead
HELPER_WAIT_FACTOR = 10.0
HELPER_WAIT_MIN_S = 30.0
# a layer's weight when the regions are split: its outline's vertices plus this
LAYER_WEIGHT_VERTICES = 50
# The shares of the layers' weight (below the split) that this process measures the regions
# of, and that the supports helper finds the contacts of before it places the columns: on the
# corpus the contacts take about half as long as the regions and the columns a third as long
# as the contacts, so these shares give the three processes about the same work
REGIONS_SHARE = 0.57
CONTACTS_SHARE = 0.73


def _fork_context():
    """multiprocessing's fork context, or None where this process cannot fork a helper (no
    fork on the platform; a daemonic multiprocessing worker may have no children)."""
    import multiprocessing

    if ("fork" not in multiprocessing.get_all_start_methods()
            or multiprocessing.current_process().daemon):
        return None
    return multiprocessing.get_context("fork")


def _helper(conn, parent: int, work, args: tuple, kwargs: dict, close=None) -> None:
    """The forked process' share: ``work(*args, **kwargs)``, sent back with how it went.

    It dies with its parent (a timed-out analysis leaves no orphan), holds none of the
    parent's standard streams (a runner's pipe ends when the runner does) and ends on SIGTERM
    whatever handler the parent had.
    """
    import signal

    from marketplace.engine.limits import die_with_parent

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent)
    if close is not None:  # the other helper's end of a pipe between the two
        close.close()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    try:
        conn.send(_outcome(work, *args, **kwargs))
    finally:
        conn.close()


def _outcome(work, *args, **kwargs) -> tuple[str, Any]:
    """(status, result) of ``work(*args, **kwargs)``: "ok" and its result, "budget" (it found
    the budget spent) or "error" and what went wrong (the receiver decides)."""
    try:
        return "ok", work(*args, **kwargs)
    except BudgetExceededError:
        return "budget", None
    except BaseException as exc:  # noqa: BLE001 - reported to the receiver
        return "error", f"{type(exc).__name__}: {exc}"


def _start_helper(work, *args, _close=None, **kwargs):
    """Fork a helper that runs ``work(*args, **kwargs)``; return (process, pipe end) or None
    when this process cannot fork one (the caller does the work itself). ``_close``: a
    connection the helper closes at its start (one it inherits but must not hold)."""
    ctx = _fork_context()
    if ctx is None:
        return None
    receive = send = None
    try:
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_helper,
                            args=(send, os.getpid(), work, args, kwargs, _close), daemon=True)
        child.start()
    except (OSError, AssertionError, ValueError):  # no fork (limits, memory): serial
        for end in (receive, send):
            if end is not None:
                end.close()
        return None
    send.close()
    return child, receive


def _answer(started, until: float) -> tuple[str, Any]:
    """The helper's (status, result), waiting for it until ``until`` (monotonic): "ok",
    "budget" (it found the budget spent), "error", "lost" (it died), "late" (no answer by
    then) or "none" (no helper)."""
    if started is None:
        return "none", None
    return _receive(started[1], until)


def _receive(conn, until: float) -> tuple[str, Any]:
    """The (status, result) sent on ``conn`` (see :func:`_outcome`), waiting until ``until``
    (monotonic): "lost" if the sender died without it (or in the middle of it), "late" if it
    has not come by then."""
    try:
        return conn.recv() if conn.poll(max(0.0, until - time.monotonic())) else ("late", None)
    except (EOFError, OSError):
        return "lost", None


def _stop(started) -> None:
    """End the helper (asked, then forced), reap it and close its pipe."""
    if started is None:
        return
    child, receive = started
    if child.is_alive():
        child.terminate()
        child.join(5)
        if child.is_alive():
            child.kill()
    child.join()
    receive.close()


def _layer_weights(stack) -> np.ndarray:
    """Cumulative work weight of the layers, (n,): outline vertices plus a constant each."""
    return np.cumsum(np.array([s.num_vert() for s in stack.sections], dtype=np.float64)
                     + LAYER_WEIGHT_VERTICES)


def _split_layer(cum: np.ndarray, share: float) -> int:
    """The layer below which lies about ``share`` of the weight (``_layer_weights``)."""
    return int(np.searchsorted(cum, cum[-1] * share))


def _upper_share(stack, profile: PrintProfile, deadline: Deadline | None, split: int,
                 cut: int, to_supports, wait_s: float) -> Any:
    """The first helper's share: the upper layers' support contacts, sent to the other
    helper at once (whatever happens, it gets an answer or an end of file), then the upper
    layers' regions (its result)."""
    n = len(stack.sections)
    answer = _outcome(support_contacts, stack, profile, deadline, (cut, n))
    # sent beside the regions: a pipe holds 64 KB, and the other helper reads only once its
    # own contacts are found
    sender = threading.Thread(target=_send_and_close, args=(to_supports, answer), daemon=True)
    sender.start()
    if answer[0] == "budget":
        sender.join(wait_s)
        raise BudgetExceededError("the quote's time budget is spent")
    figures = measure_layers(stack, profile, deadline=deadline, owned=(split, n))
    sender.join(wait_s)  # (a helper that gave up reading leaves it blocked: ends with us)
    return figures


def _send_and_close(conn, message) -> None:
    """Send ``message`` and close ``conn``; a reader that is gone is no error here."""
    try:
        conn.send(message)
    except OSError:
        pass
    finally:
        conn.close()


def _supports_share(stack, profile: PrintProfile, deadline: Deadline | None, cut: int,
                    from_upper, wait_s: float) -> Any:
    """The second helper's share: the support contacts below ``cut``, the upper ones from the
    first helper (found here if it sends none within ``wait_s``), then the columns."""
    n = len(stack.sections)
    contacts = support_contacts(stack, profile, deadline, (0, cut))
    status, upper = _receive(from_upper, time.monotonic() + wait_s)
    if status == "budget":
        raise BudgetExceededError("the quote's time budget is spent")
    if status != "ok":
        upper = support_contacts(stack, profile, deadline, (cut, n))
    return support_columns(stack, profile, contacts.add(upper))


def _regions_and_supports(stack, profile: PrintProfile, deadline: Deadline | None):
    """Return (measure_layers, support_layers) of ``stack``; when the part is big enough two
    forked helpers work meanwhile (the same figures as all of it here, one after the other):
    this process measures the regions of the lower layers (``REGIONS_SHARE``); one helper finds
    the support contacts of the upper layers (above ``CONTACTS_SHARE``), hands them to the
    other and measures the upper layers' regions; the other finds the lower layers' contacts
    and places the columns under all of them.

    A helper that fails, dies or takes far longer than this process' share (no budget given)
    is replaced by doing its work here; one still working when the budget ends is stopped and
    BudgetExceededError raised, as the serial path raises it.
    """
    n = len(stack.sections)
    cum = _layer_weights(stack)
    vertices = float(cum[-1]) - n * LAYER_WEIGHT_VERTICES if n else 0.0
    split = _split_layer(cum, REGIONS_SHARE) if vertices >= PARALLEL_MIN_VERTICES else 0
    ctx = _fork_context() if 0 < split < n else None
    if ctx is None:
        return (measure_layers(stack, profile, deadline=deadline),
                support_layers(stack, profile, deadline))
    cut = min(max(1, _split_layer(cum, CONTACTS_SHARE)), n)
    from_upper, to_supports = ctx.Pipe(duplex=False)
    wait_s = (max(0.0, deadline.at - time.monotonic()) + 1.0 if deadline is not None
              else HELPER_WAIT_MIN_S)
    # each helper holds its own end only, so either sees the other's end as end of file
    upper = _start_helper(_upper_share, stack, profile, deadline, split, cut, to_supports,
                          wait_s, _close=from_upper)
    helper = _start_helper(_supports_share, stack, profile, deadline, cut, from_upper, wait_s,
                           _close=to_supports)
    to_supports.close()
    from_upper.close()
    try:
        t0 = time.monotonic()
        figures = measure_layers(stack, profile, deadline=deadline,
                                 owned=(0, split) if upper is not None else None)
        if deadline is not None:
            until = max(time.monotonic(), deadline.at) + 1.0
        else:
            until = time.monotonic() + max(HELPER_WAIT_MIN_S,
                                           HELPER_WAIT_FACTOR * (time.monotonic() - t0))
        above = _answer(upper, until)
        sup = _answer(helper, until)
    finally:
        _stop(upper)
        _stop(helper)
    for status, _ in (above, sup):
        if status == "budget" or (status == "late" and deadline is not None):
            raise BudgetExceededError("the quote's time budget is spent")
    if upper is not None:
        figures = figures.add(above[1] if above[0] == "ok" else measure_layers(
            stack, profile, deadline=deadline, owned=(split, n)))
    return figures, sup[1] if sup[0] == "ok" else support_layers(stack, profile, deadline)


def _volume_fallback(v: np.ndarray, f: np.ndarray | None, height: float, profile: PrintProfile,
                     g_per_mm3: float, fil_area: float) -> Estimate:
    """Rough estimate from the mesh volume when no layer has a usable cross-section."""
    volume = abs(signed_volume(v, f))
    if volume <= 0:
        # no enclosed volume at all: bounding box as an upper bound
        ext = v.max(axis=0) - v.min(axis=0)
        volume = float(np.prod(ext))
    vol = volume * _FALLBACK_FILL
    if height / profile.layer_height_mm > MAX_LAYERS:  # counted, not listed
        layers = 1 + math.ceil(max(0.0, height - profile.first_layer_height_mm)
                               / profile.layer_height_mm)
    else:
        layers = len(layer_heights(height, profile.layer_height_mm,
                                   profile.first_layer_height_mm))
    return Estimate(
        material_g=vol * g_per_mm3,
        print_time_s=volume * _FALLBACK_S_PER_MM3 + layers * profile.min_layer_time_s * 0.2,
        layers=layers,
        model_g=vol * g_per_mm3,
        filament_mm=vol / fil_area,
        height_mm=height,
        confidence="low",
        method="volume",
    )
