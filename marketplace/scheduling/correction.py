"""Real print times teach the plan: per printer, how its prints' real durations compare with
the slicer's times.

For each printer, the ratio real / slicer of its last :data:`WINDOW` finished prints (both times
known) is summarised by the median (one failed or paused print does not move it), and only
once there are at least :data:`MIN_PRINTS` of them; the factor is bounded to :data:`BOUNDS`, so
a printer that ran a few odd jobs (a virtual printer, a clock that jumped) cannot make the
planner promise nonsense. Delivery planning multiplies the slicer's (or, before slicing, the
quote's) time by the printer's factor (:mod:`marketplace.scheduling.live`); the technicians'
dashboard shows the same figures.

:func:`correction` is pure (golden-number tests); :func:`printer_corrections` reads the jobs.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from marketplace.jobs import DONE_STATES, state_values
from marketplace.models import PrintJob

WINDOW = 20  # the last prints that count, per printer
MIN_PRINTS = 5  # fewer prints than this: no correction (factor 1)
BOUNDS = (0.8, 1.5)  # the factor never leaves these


@dataclass(frozen=True)
class Correction:
    """A printer's time factor: ``factor`` (what planning uses), the median ``ratio`` it comes
    from (None without prints), how many ``prints`` it rests on, and whether it is ``active``
    (enough prints) and was ``bounded``."""

    factor: float = 1.0
    ratio: float | None = None
    prints: int = 0
    active: bool = False
    bounded: bool = False


NONE = Correction()


def correction(pairs: Iterable[tuple[float | None, float | None]], *, window: int = WINDOW,
               min_prints: int = MIN_PRINTS,
               bounds: tuple[float, float] = BOUNDS) -> Correction:
    """Return the correction from ``(slicer_s, real_s)`` pairs, newest first.

    Pairs without both times (or with a time of zero) are skipped; the newest ``window`` of
    the rest count.
    """
    ratios = [float(real) / float(sliced) for sliced, real in pairs
              if sliced and real and sliced > 0 and real > 0][:window]
    if not ratios:
        return NONE
    ratio = statistics.median(ratios)
    if len(ratios) < min_prints:
        return Correction(1.0, ratio, len(ratios), False, False)
    low, high = bounds
    factor = min(max(ratio, low), high)
    return Correction(factor, ratio, len(ratios), True, factor != ratio)


def printer_corrections(session, *, window: int = WINDOW, min_prints: int = MIN_PRINTS,
                        bounds: tuple[float, float] = BOUNDS) -> dict[int, Correction]:
    """Return each printer's correction (printers without finished prints are missing: use
    :data:`NONE`), from its last ``window`` finished jobs with both times, in one query."""
    newest = sa.func.row_number().over(
        partition_by=PrintJob.printer_id,
        order_by=(PrintJob.finished_at.desc(), PrintJob.id.desc())).label("n")
    recent = (
        sa.select(PrintJob.printer_id, PrintJob.slicer_print_time_s,
                  PrintJob.actual_print_time_s, newest)
        .where(PrintJob.state.in_(state_values(DONE_STATES)), PrintJob.printer_id.is_not(None),
               PrintJob.slicer_print_time_s > 0, PrintJob.actual_print_time_s > 0)
        .subquery())
    rows = session.execute(
        sa.select(recent.c.printer_id, recent.c.slicer_print_time_s,
                  recent.c.actual_print_time_s)
        .where(recent.c.n <= window).order_by(recent.c.printer_id, recent.c.n)).all()
    pairs: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for printer_id, sliced, real in rows:
        pairs[printer_id].append((sliced, real))
    return {printer_id: correction(p, window=window, min_prints=min_prints, bounds=bounds)
            for printer_id, p in pairs.items()}
