"""The console's dashboard: the week's throughput and each printer's utilisation.

Figures come from the append-only JobEvent log, so they do not depend on anyone having opened a
page while it happened. Charts are drawn on the server as inline SVG from the geometry computed
here (:func:`bar_chart`); no chart library, no CDN.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from marketplace.extensions import db
from marketplace.jobs import DONE_STATES, ON_PRINTER_STATES, WAITING_STATES, JobState, state_values
from marketplace.i18n import REPRINT_DETAIL
from marketplace.models import DispatchAttempt, JobEvent, Printer, PrintJob
from marketplace.printer_states import OUT_OF_SERVICE_STATES
from marketplace.scheduling.correction import NONE, WINDOW, Correction, printer_corrections

# Entering "printing" starts a busy interval; leaving it for any other state ends it.
BUSY_STATE = JobState.PRINTING.value
# A piece that leaves one of these other than printed failed after its print had started.
_STARTED_STATES = state_values(ON_PRINTER_STATES - {JobState.DISPATCHING})


@dataclass(frozen=True)
class DayCount:
    day: date
    printed: int
    failed: int  # failed, cancelled or handed to a technician after it started


@dataclass(frozen=True)
class Utilisation:
    printer: Printer
    busy_s: float
    share: float  # busy_s / window length, 0..1
    jobs: int


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def week_window(now: datetime, tz: str, days: int = 7) -> tuple[datetime, datetime, list[date]]:
    """Return (start, end) in naive UTC and the local days of the last ``days`` days up to now."""
    zone = ZoneInfo(tz)
    local_now = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(zone)
    first = local_now.date() - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), zone)
    day_list = [first + timedelta(days=i) for i in range(days)]
    return _naive_utc(start), _naive_utc(local_now), day_list


def throughput(now: datetime, tz: str = "Europe/Berlin", days: int = 7) -> list[DayCount]:
    """Return, per local day, the pieces printed and the pieces that failed after starting."""
    start, end, day_list = week_window(now, tz, days)
    zone = ZoneInfo(tz)
    rows = db.session.execute(
        sa.select(JobEvent.at, JobEvent.from_state, JobEvent.to_state)
        .where(JobEvent.at >= start, JobEvent.at <= end, JobEvent.from_state != JobEvent.to_state,
               JobEvent.to_state.in_(("printed", "failed", "needs_attention", "cancelled",
                                      "queued")))
    ).all()
    printed: dict[date, int] = defaultdict(int)
    failed: dict[date, int] = defaultdict(int)
    for at, from_state, to_state in rows:
        day = at.replace(tzinfo=UTC).astimezone(zone).date()
        if to_state == "printed":
            printed[day] += 1
        elif to_state == "queued":  # a print stopped to be printed again ("Neu drucken")
            failed[day] += from_state == JobState.CANCELLING.value
        elif from_state in _STARTED_STATES or to_state == "failed":
            failed[day] += 1
    return [DayCount(d, printed[d], failed[d]) for d in day_list]


@dataclass(frozen=True)
class ReprintCount:
    printer: str
    cause: str  # a key of i18n.REPRINT_CAUSES
    n: int


def reprints(now: datetime, tz: str = "Europe/Berlin", days: int = 7) -> list[ReprintCount]:
    """Prints stopped to be printed again in the window, per printer and cause, most first
    (from the tries' details, "reprint: <cause>")."""
    start, end, _days = week_window(now, tz, days)
    rows = db.session.execute(
        sa.select(Printer.name, DispatchAttempt.detail, sa.func.count())
        .join(Printer, Printer.id == DispatchAttempt.printer_id)
        .where(DispatchAttempt.ended_at >= start, DispatchAttempt.ended_at <= end,
               DispatchAttempt.detail.like(REPRINT_DETAIL + "%"))
        .group_by(Printer.name, DispatchAttempt.detail)).all()
    counts = [ReprintCount(name, detail[len(REPRINT_DETAIL):], n) for name, detail, n in rows]
    return sorted(counts, key=lambda c: (-c.n, c.printer, c.cause))


def busy_intervals(events: list[tuple[int, datetime, str | None, str]], end: datetime
                   ) -> dict[int, list[tuple[datetime, datetime]]]:
    """Turn (job_id, at, from_state, to_state) events, oldest first, into busy intervals per job.

    A job still printing at ``end`` is busy until ``end``.
    """
    open_at: dict[int, datetime] = {}
    out: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for job_id, at, _from, to_state in events:
        if to_state == BUSY_STATE and job_id not in open_at:
            open_at[job_id] = at
        elif to_state != BUSY_STATE and job_id in open_at:
            out[job_id].append((open_at.pop(job_id), at))
    for job_id, at in open_at.items():
        out[job_id].append((at, end))
    return out


def utilisation(now: datetime, tz: str = "Europe/Berlin", days: int = 7) -> list[Utilisation]:
    """Return each printer's share of the window spent printing (from the event log)."""
    start, end, _days = week_window(now, tz, days)
    window_s = max((end - start).total_seconds(), 1.0)
    # Jobs that printed at some point up to the end, with their events (also before the window,
    # so a print that started yesterday evening counts from the window's start).
    job_printer = dict(db.session.execute(
        sa.select(PrintJob.id, PrintJob.printer_id).where(
            PrintJob.printer_id.is_not(None),
            PrintJob.id.in_(sa.select(JobEvent.job_id).where(JobEvent.to_state == BUSY_STATE,
                                                             JobEvent.at <= end)),
        )).all())
    events = db.session.execute(
        sa.select(JobEvent.job_id, JobEvent.at, JobEvent.from_state, JobEvent.to_state)
        .where(JobEvent.job_id.in_(list(job_printer) or [-1]), JobEvent.at <= end,
               JobEvent.from_state.is_distinct_from(JobEvent.to_state))
        .order_by(JobEvent.at, JobEvent.id)
    ).all()
    busy: dict[int, float] = defaultdict(float)
    jobs: dict[int, set[int]] = defaultdict(set)
    for job_id, intervals in busy_intervals([tuple(e) for e in events], end).items():
        for a, b in intervals:
            seconds = (min(b, end) - max(a, start)).total_seconds()
            if seconds > 0:
                busy[job_printer[job_id]] += seconds
                jobs[job_printer[job_id]].add(job_id)
    printers = db.session.scalars(sa.select(Printer).order_by(Printer.name)).all()
    return [Utilisation(p, busy[p.id], min(busy[p.id] / window_s, 1.0), len(jobs[p.id]))
            for p in printers]


def bar_chart(values: list[float], *, width: int = 560, height: int = 180, pad: int = 24,
              max_value: float | None = None) -> dict:
    """Return the geometry of a vertical bar chart: bars (x, y, w, h) in SVG units.

    ``max_value`` fixes the scale (e.g. 1.0 for shares); otherwise the largest value (at least 1)
    sets it. Labels are placed by the template under each bar at ``x + w / 2``.
    """
    n = max(len(values), 1)
    top = max_value if max_value is not None else max([1.0, *values])
    inner_h = height - 2 * pad
    slot = (width - 2 * pad) / n
    bar_w = slot * 0.62
    bars = []
    for i, value in enumerate(values):
        h = 0.0 if top <= 0 else inner_h * max(0.0, min(value, top)) / top
        bars.append({"x": round(pad + i * slot + (slot - bar_w) / 2, 1),
                     "y": round(pad + inner_h - h, 1), "w": round(bar_w, 1), "h": round(h, 1),
                     "value": value})
    return {"width": width, "height": height, "pad": pad, "baseline": height - pad,
            "top": top, "bars": bars}


@dataclass(frozen=True)
class Accuracy:
    """How the quote's print time compares with the slicer and with the printers, as medians
    of ratios over the pieces printed in the window (1.0 = exact)."""

    pieces: int
    slicer_vs_quote: float | None
    actual_vs_quote: float | None
    actual_vs_slicer: float | None


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def estimate_accuracy(now: datetime, tz: str = "Europe/Berlin", days: int = 7) -> Accuracy:
    """Return the median time ratios of the pieces printed in the window."""
    start, end, _days = week_window(now, tz, days)
    printed_ids = sa.select(JobEvent.job_id).where(
        JobEvent.to_state == "printed", JobEvent.at >= start, JobEvent.at <= end)
    rows = db.session.execute(
        sa.select(PrintJob.est_print_time_s, PrintJob.slicer_print_time_s,
                  PrintJob.actual_print_time_s).where(PrintJob.id.in_(printed_ids))
    ).all()
    ratios = time_ratios([tuple(r) for r in rows])
    return Accuracy(len(rows), ratios.slicer_vs_quote, ratios.actual_vs_quote,
                    ratios.actual_vs_slicer)


@dataclass(frozen=True)
class Backlog:
    """Print time waiting in the queue and the printers that can take it."""

    pieces: int
    print_time_s: float
    working_printers: int

    @property
    def per_printer_s(self) -> float | None:
        return self.print_time_s / self.working_printers if self.working_printers else None


def backlog() -> Backlog:
    """Return the waiting work (received, approved, queued) in print time."""
    seconds = sa.func.coalesce(PrintJob.slicer_print_time_s, PrintJob.est_print_time_s, 0)
    pieces, total = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(seconds), 0))
        .where(PrintJob.state.in_(state_values(WAITING_STATES)))
    ).one()
    working = db.session.scalar(
        sa.select(sa.func.count()).select_from(Printer)
        .where(Printer.state.not_in(OUT_OF_SERVICE_STATES)))
    return Backlog(int(pieces), float(total), int(working or 0))


# --- quote vs slicer vs printer: per printer and over time --------------------------------------


@dataclass(frozen=True)
class TimeRatios:
    """Medians of print time ratios over some finished pieces (None: nothing to compare)."""

    pieces: int
    quote_s: float  # sums over the pieces with a real time, for the table
    slicer_s: float
    actual_s: float
    slicer_vs_quote: float | None
    actual_vs_quote: float | None
    actual_vs_slicer: float | None


def time_ratios(rows: list[tuple[float | None, float | None, float | None]]) -> TimeRatios:
    """Return the medians of (quote, slicer, real) print time triples (pure)."""
    slicer_q, actual_q, actual_s = [], [], []
    sums = [0.0, 0.0, 0.0]
    for est, sliced, actual in rows:
        if est and sliced:
            slicer_q.append(sliced / est)
        if est and actual:
            actual_q.append(actual / est)
        if sliced and actual:
            actual_s.append(actual / sliced)
        if actual:
            sums = [sums[0] + (est or 0), sums[1] + (sliced or 0), sums[2] + actual]
    return TimeRatios(len(rows), *sums, _median(slicer_q), _median(actual_q), _median(actual_s))


@dataclass(frozen=True)
class PrinterTimes:
    printer: Printer
    ratios: TimeRatios  # over the printer's last prints (the correction's window)
    correction: Correction  # what delivery planning uses for it


def _finished_times():
    return (sa.select(PrintJob.printer_id, PrintJob.est_print_time_s,
                      PrintJob.slicer_print_time_s, PrintJob.actual_print_time_s,
                      PrintJob.finished_at)
            .where(PrintJob.state.in_(state_values(DONE_STATES)),
                   PrintJob.printer_id.is_not(None), PrintJob.actual_print_time_s > 0))


def printer_times(window: int = WINDOW) -> list[PrinterTimes]:
    """Return, per printer, quote vs slicer vs real over its last ``window`` finished prints,
    with the correction delivery planning applies to it."""
    rows = db.session.execute(_finished_times().order_by(
        PrintJob.printer_id, PrintJob.finished_at.desc(), PrintJob.id.desc())).all()
    per: dict[int, list] = defaultdict(list)
    for printer_id, est, sliced, actual, _at in rows:
        if len(per[printer_id]) < window:
            per[printer_id].append((est, sliced, actual))
    corrections = printer_corrections(db.session, window=window)
    printers = db.session.scalars(sa.select(Printer).order_by(Printer.name)).all()
    return [PrinterTimes(p, time_ratios(per.get(p.id, [])), corrections.get(p.id, NONE))
            for p in printers]


@dataclass(frozen=True)
class WeekTimes:
    week_start: date  # Monday, local
    ratios: TimeRatios


def _week_rows(now: datetime, tz: str, weeks: int):
    zone = ZoneInfo(tz)
    local_now = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(zone)
    this_monday = local_now.date() - timedelta(days=local_now.weekday())
    mondays = [this_monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    start = _naive_utc(datetime.combine(mondays[0], datetime.min.time(), zone))
    rows = db.session.execute(_finished_times().where(PrintJob.finished_at >= start,
                                                      PrintJob.finished_at <= _naive_utc(now)))
    per: dict[tuple[int | None, date], list] = defaultdict(list)
    for printer_id, est, sliced, actual, at in rows:
        day = at.replace(tzinfo=UTC).astimezone(zone).date()
        monday = day - timedelta(days=day.weekday())
        per[(None, monday)].append((est, sliced, actual))
        per[(printer_id, monday)].append((est, sliced, actual))
    return mondays, per


def times_by_week(now: datetime, tz: str = "Europe/Berlin", weeks: int = 8) -> list[WeekTimes]:
    """Return quote vs slicer vs real of the pieces finished in each of the last ``weeks``
    local calendar weeks (Monday first), oldest first."""
    mondays, per = _week_rows(now, tz, weeks)
    return [WeekTimes(m, time_ratios(per.get((None, m), []))) for m in mondays]


def printer_weeks(now: datetime, tz: str = "Europe/Berlin", weeks: int = 8
                  ) -> list[tuple[Printer, list[TimeRatios]]]:
    """Return, for each printer that finished a piece in the last ``weeks`` local weeks, its
    quote vs slicer vs real per week (oldest first), by printer name."""
    mondays, per = _week_rows(now, tz, weeks)
    ids = {pid for pid, _m in per if pid is not None}
    printers = db.session.scalars(sa.select(Printer).where(Printer.id.in_(ids or [-1]))
                                  .order_by(Printer.name)).all()
    return [(p, [time_ratios(per.get((p.id, m), [])) for m in mondays]) for p in printers]


def line_chart(series: dict[str, list[float | None]], *, width: int = 560, height: int = 200,
               pad: int = 28, low: float = 0.5, high: float = 1.5, reference: float = 1.0
               ) -> dict:
    """Return the geometry of a line chart of ratios: per series the SVG ``points`` of its
    known values (a gap where a value is None), circles at each value, the y of the
    ``reference`` line (1.0: as planned) and of the scale's ends. Values outside
    ``low``..``high`` widen the scale to include them."""
    known = [v for values in series.values() for v in values if v is not None]
    low = min([low, *known])
    high = max([high, *known])
    n = max((len(v) for v in series.values()), default=0)
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    step = inner_w / (n - 1) if n > 1 else 0.0

    def x(i: int) -> float:
        return round(pad + (i * step if n > 1 else inner_w / 2), 1)

    def y(v: float) -> float:
        return round(pad + inner_h * (high - v) / (high - low), 1)

    lines = {}
    for name, values in series.items():
        segments: list[list[tuple[float, float]]] = [[]]
        dots = []
        for i, v in enumerate(values):
            if v is None:
                segments.append([])
                continue
            segments[-1].append((x(i), y(v)))
            dots.append({"x": x(i), "y": y(v), "value": v})
        lines[name] = {"segments": [" ".join(f"{a},{b}" for a, b in seg)
                                    for seg in segments if len(seg) > 1],
                       "dots": dots}
    return {"width": width, "height": height, "pad": pad, "low": low, "high": high,
            "reference_y": y(reference), "top_y": y(high), "bottom_y": y(low),
            "xs": [x(i) for i in range(n)], "lines": lines}
