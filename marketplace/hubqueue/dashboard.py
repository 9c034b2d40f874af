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
from marketplace.jobs import ON_PRINTER_STATES, WAITING_STATES, JobState, state_values
from marketplace.models import JobEvent, Printer, PrintJob
from marketplace.printer_states import OUT_OF_SERVICE_STATES

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
               JobEvent.to_state.in_(("printed", "failed", "needs_attention", "cancelled")))
    ).all()
    printed: dict[date, int] = defaultdict(int)
    failed: dict[date, int] = defaultdict(int)
    for at, from_state, to_state in rows:
        day = at.replace(tzinfo=UTC).astimezone(zone).date()
        if to_state == "printed":
            printed[day] += 1
        elif from_state in _STARTED_STATES or to_state == "failed":
            failed[day] += 1
    return [DayCount(d, printed[d], failed[d]) for d in day_list]


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
    slicer_q, actual_q, actual_s = [], [], []
    for est, sliced, actual in rows:
        if est and sliced:
            slicer_q.append(sliced / est)
        if est and actual:
            actual_q.append(actual / est)
        if sliced and actual:
            actual_s.append(actual / sliced)
    return Accuracy(len(rows), _median(slicer_q), _median(actual_q), _median(actual_s))


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
