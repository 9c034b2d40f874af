"""Delivery dates from the live queue: which printers can print a part, the work ahead of it,
the hub's opening hours and the public holidays of its German state (the ``holidays`` package).

Pure: no database, no clock (:func:`plan_finish`, :class:`OpeningHours`). The wrapper that
reads printers and jobs from the database is :func:`marketplace.scheduling.live.estimate_delivery`.

The model, in short:
- Printers in maintenance or offline take no work; a part must fit the build volume (its
  footprint may be turned by 90 degrees; with the analysis' hull points, in any
  orientation). Any printer can change material, at a cost of ``material_change_s`` and only
  while the hub is staffed.
- A printer runs unattended through the night, but a job can only *start* while someone is
  there to clear the bed (or change the spool). Only a printer whose bed is already clear and
  which has the right material loaded starts a job at once, whatever the hour. A hub that does
  not print unattended (``unattended=False``) starts a job only if it ends before closing.
- Work ahead: the remaining time of jobs on a printer, then waiting jobs (received, approved,
  queued) ordered like the dispatcher takes them: priority (higher first), due date, age. A new
  order has priority 0 and comes after every waiting job of priority >= 0.
- Each piece goes to the capable printer that would finish it first (greedy list scheduling),
  its print time multiplied by that printer's ``time_factor`` (how its real prints compare with
  the slicer: :mod:`marketplace.scheduling.correction`).
- The delivery date is ``handling_days`` working days after the day the last piece comes off
  the printer (support removal, checks, packing).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from marketplace.engine.geometry import fitting
from marketplace.engine.pricing.catalog import colour_matches

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The German states as ``holidays`` codes them ("BY", "NI", ...; also "Augsburg", whose Peace
# Festival is a holiday in that city only), and "" for no public holidays.
HOLIDAY_REGIONS: tuple[str, ...] = ("", *holidays.Germany.subdivisions)
_MAX_DAYS_AHEAD = 800  # bounded search for the next working day


@dataclass(frozen=True)
class OpeningHours:
    """When the hub is staffed. ``weekly[i]`` is (open, close) or None, Monday first."""

    weekly: tuple[tuple[time, time] | None, ...]
    timezone: str = "Europe/Berlin"
    holiday_region: str = "NI"  # "" = no public holidays
    closed_dates: frozenset[date] = frozenset()  # company holidays, e.g. 24-31 December
    handling_days: int = 1
    changeover_s: int = 600  # clear the bed, heat up
    material_change_s: int = 900  # unload and load a spool
    # True: prints run on unattended (nights, weekends); False: a print must also end while
    # someone is there, so it starts only if it finishes before closing time.
    unattended: bool = True

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_working_day(self, day: date) -> bool:
        """Return whether the hub is staffed at all on ``day``."""
        if self.weekly[day.weekday()] is None or day in self.closed_dates:
            return False
        return not (self.holiday_region and day in public_holidays(day.year, self.holiday_region))

    def next_staffed(self, moment: datetime) -> datetime:
        """Return the first staffed moment at or after ``moment`` (aware, in the hub's zone)."""
        local = moment.astimezone(self.tz)
        day = local.date()
        for _ in range(_MAX_DAYS_AHEAD):
            hours = self.weekly[day.weekday()]
            if hours is not None and self.is_working_day(day):
                opens = datetime.combine(day, hours[0], self.tz)
                closes = datetime.combine(day, hours[1], self.tz)
                if local < closes:
                    return max(local, opens)
            day += timedelta(days=1)
        raise ValueError("the hub is never open")

    def add_working_days(self, day: date, n: int) -> date:
        """Return the ``n``-th working day after ``day`` (``day`` itself when n == 0)."""
        for _ in range(_MAX_DAYS_AHEAD):
            if n <= 0:
                return day
            day += timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        raise ValueError("the hub is never open")


DEFAULT_OPENING_HOURS = OpeningHours(
    weekly=tuple([(time(7, 0), time(18, 0))] * 5 + [None, None]),
)


class StaffCalendar:
    """``next_staffed`` by binary search over precomputed staffed intervals (same answers as
    :meth:`OpeningHours.next_staffed`; the planner asks it once per piece and printer)."""

    def __init__(self, hours: OpeningHours, start: datetime):
        self.hours = hours
        self.opens: list[datetime] = []
        self.closes: list[datetime] = []
        self.day = start.astimezone(hours.tz).date()
        self.days_seen = 0

    def _extend(self, days: int = 31) -> None:
        tz = self.hours.tz
        for _ in range(days):
            span = self.hours.weekly[self.day.weekday()]
            if span is not None and self.hours.is_working_day(self.day):
                self.opens.append(datetime.combine(self.day, span[0], tz))
                self.closes.append(datetime.combine(self.day, span[1], tz))
            self.day += timedelta(days=1)
            self.days_seen += 1

    def fit(self, moment: datetime, seconds: float) -> datetime:
        """Return the first staffed start at or after ``moment`` from which ``seconds`` of work
        end before closing time (a job longer than a whole opening starts at an opening)."""
        start = self.next_staffed(moment)
        for _ in range(_MAX_DAYS_AHEAD):
            i = bisect.bisect_right(self.closes, start)
            if start + timedelta(seconds=seconds) <= self.closes[i]:
                return start
            if start == self.opens[i] or start < self.opens[i]:
                return start  # longer than the whole opening: start as early as possible
            start = self.next_staffed(self.closes[i])
        raise ValueError("no opening is long enough")

    def next_staffed(self, moment: datetime) -> datetime:
        """Return the first staffed moment at or after ``moment``."""
        while not self.closes or self.closes[-1] <= moment:
            if self.days_seen > _MAX_DAYS_AHEAD:
                raise ValueError("the hub is never open")
            self._extend()
        i = bisect.bisect_right(self.closes, moment)
        if i > 0 and self.closes[i - 1] > moment:  # pragma: no cover - closes are sorted
            i -= 1
        return max(moment, self.opens[i]).astimezone(self.hours.tz)


@lru_cache(maxsize=64)
def public_holidays(year: int, region: str = "NI") -> frozenset[date]:
    """Return the statutory public holidays of ``year`` in the German state ``region``
    ("" = none; see :data:`HOLIDAY_REGIONS`)."""
    if not region:
        return frozenset()
    if region not in HOLIDAY_REGIONS:
        raise ValueError(f"unknown holiday region {region!r}")
    return frozenset(holidays.country_holidays("DE", subdiv=region, years=year))


# --- the pure planner -------------------------------------------------------------------------


@dataclass(frozen=True)
class PrinterSlot:
    """A printer as the planner sees it."""

    id: int
    build_mm: tuple[float, float, float]
    material_code: str
    colour: str
    free_at: datetime  # aware; when its current job ends (or now)
    bed_clear: bool = False  # True: a job may start without anyone there
    available: bool = True  # False: maintenance or offline
    time_factor: float = 1.0  # its real print times / the slicer's (scheduling.correction)
    printer_class: str | None = None


@dataclass(frozen=True)
class WorkItem:
    """One piece to print."""

    print_time_s: float
    material_code: str
    colour: str = "any"
    bbox_mm: tuple[float, float, float] | None = None
    printer_id: int | None = None  # requested printer
    # the part's hull points (n, 3) mm, if its analysis has them: a printer too small for
    # ``bbox_mm`` may still take the part laid another way (:mod:`engine.geometry.fitting`)
    hull_mm: Any = field(default=None, compare=False)
    # the printer class it was quoted (and is sliced) for; None: any printer
    printer_class: str | None = None


def fits(bbox_mm: Sequence[float] | None, build_mm: Sequence[float]) -> bool:
    """Return whether a part's bbox fits a build volume (footprint may turn by 90 degrees)."""
    if bbox_mm is None:
        return True
    x, y, z = (float(v) for v in bbox_mm)
    bx, by, bz = (float(v) for v in build_mm)
    if z > bz:
        return False
    return (x <= bx and y <= by) or (y <= bx and x <= by)


def item_fits(item: WorkItem, build_mm: Sequence[float]) -> bool:
    """Whether a piece fits a build volume: as laid (:func:`fits`), else in any orientation
    when its hull points are known."""
    if fits(item.bbox_mm, build_mm):
        return True
    return item.hull_mm is not None and fitting.fits_volume(item.hull_mm, build_mm)


def can_print(printer: PrinterSlot, item: WorkItem) -> bool:
    """Return whether ``printer`` can take ``item`` at all."""
    if not printer.available:
        return False
    if item.printer_id is not None and item.printer_id != printer.id:
        return False
    if item.printer_class is not None and printer.printer_class is not None \
            and item.printer_class != printer.printer_class:
        return False
    return item_fits(item, printer.build_mm)


def _needs_material_change(printer: _State, item: WorkItem) -> bool:
    if printer.material_code.upper() != item.material_code.upper():
        return True
    return not colour_matches(item.colour, printer.colour)


@dataclass
class _State:
    slot: PrinterSlot
    free_at: datetime
    bed_clear: bool
    material_code: str
    colour: str

    @property
    def id(self) -> int:
        return self.slot.id


def _finish_on(state: _State, item: WorkItem, hours: OpeningHours, calendar: StaffCalendar
               ) -> tuple[datetime, str, str]:
    change = _needs_material_change(state, item)
    seconds = max(0.0, item.print_time_s) * state.slot.time_factor
    if state.bed_clear and not change and hours.unattended:
        start, setup = state.free_at, 0
    else:
        setup = (hours.changeover_s if not state.bed_clear else 0) + (
            hours.material_change_s if change else 0
        )
        if hours.unattended:
            start = calendar.next_staffed(state.free_at)
        else:
            start = calendar.fit(state.free_at, setup + seconds)
    finish = start + timedelta(seconds=setup + seconds)
    colour = item.colour if item.colour not in ("", "any") else state.colour
    return finish, item.material_code, colour


def _place(states: list[_State], item: WorkItem, hours: OpeningHours, calendar: StaffCalendar,
           capable: dict | None = None) -> datetime | None:
    key = (item.bbox_mm, item.printer_id, id(item.hull_mm))  # one hull object per part
    if capable is None or key not in capable:
        found = [state for state in states if can_print(state.slot, item)]
        if capable is None:
            capable = {}
        capable[key] = found
    best: tuple[datetime, int, _State, str, str] | None = None
    for state in capable[key]:
        finish, material, colour = _finish_on(state, item, hours, calendar)
        if best is None or (finish, state.id) < (best[0], best[1]):
            best = (finish, state.id, state, material, colour)
    if best is None:
        return None
    finish, _, state, material, colour = best
    state.free_at, state.bed_clear = finish, False
    state.material_code, state.colour = material, colour
    return finish


def plan_finish(
    printers: Iterable[PrinterSlot],
    ahead: Iterable[WorkItem],
    item: WorkItem,
    quantity: int,
    hours: OpeningHours,
) -> datetime | None:
    """Return when the last of ``quantity`` pieces of ``item`` comes off a printer.

    ``ahead`` is the waiting work in dispatch order (work on a printer is in its ``free_at``).
    Work ahead that no printer can take is skipped. Returns None if no printer can print
    ``item``.
    """
    states = [_State(p, p.free_at, p.bed_clear, p.material_code, p.colour) for p in printers]
    if not any(can_print(s.slot, item) for s in states):
        return None
    calendar = StaffCalendar(hours, min(s.free_at for s in states))
    capable: dict = {}  # (bbox, requested printer) -> the printers that can take it
    for work in ahead:
        _place(states, work, hours, calendar, capable)
    last: datetime | None = None
    for _ in range(max(1, int(quantity))):
        finish = _place(states, item, hours, calendar, capable)
        last = finish if last is None or (finish and finish > last) else last
    return last


def plan_finish_lines(
    printers: Iterable[PrinterSlot],
    ahead: Iterable[WorkItem],
    lines: Sequence[tuple[WorkItem, int]],
    hours: OpeningHours,
) -> datetime | None:
    """Return when the last piece of an order of several lines (item, quantity) comes off a
    printer: the lines are planned one after the other behind ``ahead``, like the dispatcher
    takes the pieces of one order. None if no printer can print one of the items."""
    states = [_State(p, p.free_at, p.bed_clear, p.material_code, p.colour) for p in printers]
    if not states or not all(any(can_print(s.slot, item) for s in states) for item, _ in lines):
        return None
    calendar = StaffCalendar(hours, min(s.free_at for s in states))
    capable: dict = {}
    for work in ahead:
        _place(states, work, hours, calendar, capable)
    last: datetime | None = None
    for item, quantity in lines:
        for _ in range(max(1, int(quantity))):
            finish = _place(states, item, hours, calendar, capable)
            last = finish if last is None or (finish and finish > last) else last
    return last


def carrier_delivery_date(ready: date, days: int, hours: OpeningHours) -> date:
    """Return the day a parcel handed to the carrier on ``ready`` arrives: ``days`` German
    working days later (Monday to Friday, the public holidays of the hub's state excepted;
    the hub's own opening hours and company holidays do not stop the carrier)."""
    carrier = OpeningHours(weekly=tuple([(time(8, 0), time(18, 0))] * 5 + [None, None]),
                           timezone=hours.timezone, holiday_region=hours.holiday_region)
    return carrier.add_working_days(ready, max(0, int(days)))


def delivery_date(finish: datetime, hours: OpeningHours) -> date:
    """Return the day a piece finished at ``finish`` is ready: the handling days after the
    working day on which someone takes it off the printer."""
    taken_off = hours.next_staffed(finish).date()
    return hours.add_working_days(taken_off, hours.handling_days)


# --- reading the live queue -------------------------------------------------------------------

def fits_any(bbox_mm: Sequence[float] | None, volumes: Iterable[Sequence[float]]) -> bool:
    """Return whether a part's bbox fits one of the build ``volumes`` (see :func:`fits`)."""
    return any(fits(bbox_mm, volume) for volume in volumes)


def largest_volume(volumes: Iterable[Sequence[float]]) -> tuple[float, float, float] | None:
    """Return the biggest of the build ``volumes`` (by content), or None if there is none."""
    best = max(volumes, key=lambda v: float(v[0]) * float(v[1]) * float(v[2]), default=None)
    return None if best is None else (float(best[0]), float(best[1]), float(best[2]))


def scale_to_fit(bbox_mm: Sequence[float], volumes: Iterable[Sequence[float]]) -> float | None:
    """Return the largest factor (at most 1) by which a part's bbox, scaled down evenly, fits
    one of the build ``volumes`` as it lies (footprint turned by 90 degrees or not)."""
    x, y, z = (float(v) for v in bbox_mm)
    best = None
    for bx, by, bz in ((float(a), float(b), float(c)) for a, b, c in volumes):
        for px, py in ((x, y), (y, x)):
            factor = min(bx / px if px > 0 else 1.0, by / py if py > 0 else 1.0,
                         bz / z if z > 0 else 1.0, 1.0)
            best = factor if best is None else max(best, factor)
    return best


def _factor(analysis: dict | None, scale: float | None) -> float:
    """How much to scale a record's millimetres to read the file with ``scale`` mm per file
    unit (a job's scale); None: as recorded. The record is in mm already, read with its own
    ``mesh.scale_to_mm`` (a part analysed in inches holds inches times 25.4)."""
    if scale is None:
        return 1.0
    mesh = analysis.get("mesh") if isinstance(analysis, dict) else None
    try:
        recorded = float((mesh or {}).get("scale_to_mm") or 1.0)
    except (TypeError, ValueError):
        recorded = 1.0
    return float(scale) / recorded if recorded > 0 else float(scale)


def part_hull_mm(analysis: dict | None, scale: float | None = None):
    """Return the hull points (n, 3) mm a part's analysis JSON records (``orientation.hull_mm``,
    see :mod:`marketplace.engine.geometry.fitting`), or None (a record made before them).
    ``scale``: mm per file unit to read them with (:func:`_factor`)."""
    orientation = analysis.get("orientation") if isinstance(analysis, dict) else None
    if not isinstance(orientation, dict):
        return None
    return fitting.points_of(orientation.get("hull_mm"), _factor(analysis, scale))


def part_rotation(analysis: dict | None) -> list[list[float]] | None:
    """Return the 3x3 rotation the analysis chose for printing, if it recorded one
    (``orientation.rotation``, or a 3x3/4x4 ``matrix``/``transform``); the one reader of it
    for planning, quoting and slicing."""
    orientation = analysis.get("orientation") if isinstance(analysis, dict) else None
    if not isinstance(orientation, dict):
        return None
    for key in ("rotation", "matrix", "transform"):
        value = orientation.get(key)
        if value is None:
            continue
        try:
            m = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return None
        if m.shape == (4, 4):
            m = m[:3, :3]
        return m.tolist() if m.shape == (3, 3) else None
    return None


def placement(analysis: dict | None, volumes: Iterable[Sequence[float]],
              scale: float | None = None) -> fitting.Fit | None:
    """Return how a part is laid to fit one of the build ``volumes``, or None if it fits none.

    The analysis' suggested orientation when it fits one (footprint turned by 90 degrees or
    not: the rotation is then the suggestion's, its quarter turn left to slicing); otherwise
    the first orientation in which it fits (:func:`fitting.fits_in_any_orientation`: on
    another face, diagonally, tilted). A record without hull points is tested in its
    suggested orientation only; one without a size fits anything.
    """
    vols = [tuple(float(x) for x in v) for v in volumes]
    rotation = part_rotation(analysis) or [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    bbox = part_bbox_mm(analysis, scale)
    hull = part_hull_mm(analysis, scale)
    if bbox is None and hull is None:
        return fitting.Fit(tuple(tuple(r) for r in rotation), (0.0, 0.0, 0.0), 0) if vols else None
    if bbox is not None:
        for i, volume in enumerate(vols):
            if fits(bbox, volume):
                return fitting.Fit(tuple(tuple(r) for r in rotation), bbox, i)
    if hull is None:
        return None
    return fitting.fits_in_any_orientation(hull, vols, preferred=rotation)


def printer_class_for(analysis: dict | None,
                      printers: Iterable[tuple[str, Sequence[float]]], *, default_class: str,
                      rates: Mapping[str, int], scale: float | None = None) -> str | None:
    """Return the printer class that will print a part, or None when no class takes it.

    ``printers``: (class, build volume x, y, z mm) of each printer in service; ``rates``: the
    machine rate of each class the hub prices (cents/h). The hub's ``default_class`` when one
    of its printers takes the part in some orientation (:func:`placement`); else, of the other
    priced classes whose printers take it, the cheapest, then the one with the smallest
    printer that takes it. None: no priced class takes it (the caller keeps the default class:
    the build volume gate refuses a part no printer takes).
    """
    by_class: dict[str, list[tuple[float, float, float]]] = {}
    for klass, volume in printers:
        by_class.setdefault(klass, []).append(tuple(float(v) for v in volume))
    if placement(analysis, by_class.get(default_class, ()), scale) is not None:
        return default_class
    best: tuple[tuple, str] | None = None
    for klass, volumes in by_class.items():
        if klass == default_class or klass not in rates:
            continue
        taking = [v for v in volumes if placement(analysis, [v], scale) is not None]
        if taking:
            key = (int(rates[klass]), min(v[0] * v[1] * v[2] for v in taking), klass)
            best = min(best, (key, klass)) if best is not None else (key, klass)
    return best[1] if best is not None else None


def volumes_of_class(printers: Iterable[tuple[str, Sequence[float]]],
                     printer_class: str) -> list[tuple[float, float, float]]:
    """The build volumes of the printers of ``printer_class`` among ``printers``."""
    return [tuple(float(v) for v in volume) for klass, volume in printers
            if klass == printer_class]


def part_scale_to_fit(analysis: dict | None, volumes: Iterable[Sequence[float]],
                      scale: float | None = None) -> float | None:
    """Return the largest even scale-down (at most 1) with which the part fits one of the
    ``volumes`` in some orientation (as laid only, for a record without hull points)."""
    hull = part_hull_mm(analysis, scale)
    if hull is not None:
        return fitting.scale_to_fit(hull, volumes)
    bbox = part_bbox_mm(analysis, scale)
    return None if bbox is None else scale_to_fit(bbox, volumes)


def aware_utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def part_bbox_mm(analysis: dict | None,
                 scale: float | None = None) -> tuple[float, float, float] | None:
    """Return the (oriented) bbox in mm stored in a part's analysis JSON, if there is one;
    ``scale``: mm per file unit to read it with (:func:`_factor`; None: as recorded)."""
    if not isinstance(analysis, dict):
        return None
    scale = _factor(analysis, scale)
    for holder in (analysis.get("orientation"), analysis.get("mesh"), analysis):
        if isinstance(holder, dict):
            for key in ("bbox_mm", "size_mm", "extents_mm"):
                value = holder.get(key)
                if isinstance(value, (list, tuple)) and len(value) == 3:
                    try:
                        return tuple(float(v) * scale for v in value)  # type: ignore[return-value]
                    except (TypeError, ValueError):
                        return None
    return None


__all__ = [
    "DEFAULT_OPENING_HOURS", "OpeningHours", "PrinterSlot", "WorkItem", "can_print",
    "carrier_delivery_date", "delivery_date", "fits", "fits_any", "item_fits",
    "largest_volume", "part_hull_mm", "part_rotation", "part_scale_to_fit", "placement",
    "printer_class_for", "volumes_of_class",
    "scale_to_fit", "HOLIDAY_REGIONS", "plan_finish", "plan_finish_lines",
    "public_holidays",
]
