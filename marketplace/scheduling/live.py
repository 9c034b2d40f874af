"""Delivery dates from the live queue: read printers and waiting work, then plan (pure core in
:mod:`marketplace.scheduling.planning`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from marketplace.jobs import ON_PRINTER_STATES, WAITING_STATES, state_values
from marketplace.models import Part, Printer, PrintJob
from marketplace.printer_states import OUT_OF_SERVICE_STATES
from marketplace.scheduling.correction import printer_corrections
from marketplace.scheduling.planning import (
    PrinterSlot,
    WorkItem,
    aware_utc,
    delivery_date,
    part_bbox_mm,
    part_hull_mm,
    plan_finish,
    plan_finish_lines,
)
from marketplace.settings.operations import get_opening_hours


def job_time_s(job) -> float:
    """Return the best known print time of one piece (slicer over quote estimate)."""
    return float(job.slicer_print_time_s or job.est_print_time_s or 0)


def live_inputs(session, now: datetime) -> tuple[list[PrinterSlot], list[tuple[tuple, WorkItem]]]:
    """Read printers (with when they are free) and the waiting work from the database."""
    printers = session.scalars(sa.select(Printer).order_by(Printer.id)).all()
    factors = {pid: c.factor for pid, c in printer_corrections(session).items()}
    on_printer = session.scalars(
        sa.select(PrintJob).where(PrintJob.state.in_(state_values(ON_PRINTER_STATES)))
    ).all()
    busy_until: dict[int, datetime] = {}
    for job in on_printer:
        if job.printer_id is None:
            continue
        done = min(max(float(job.progress_percent or 0.0), 0.0), 100.0) / 100.0
        remaining = job_time_s(job) * factors.get(job.printer_id, 1.0) * (1.0 - done)
        busy_until[job.printer_id] = max(
            busy_until.get(job.printer_id, now), now + timedelta(seconds=remaining)
        )
    slots = [
        PrinterSlot(
            id=p.id,
            build_mm=(p.build_x_mm, p.build_y_mm, p.build_z_mm),
            material_code=p.material_code or "",
            colour=p.colour or "",
            free_at=busy_until.get(p.id, now),
            bed_clear=p.state == "available" and p.id not in busy_until,
            available=p.state not in OUT_OF_SERVICE_STATES,
            time_factor=factors.get(p.id, 1.0),
            printer_class=p.printer_class,
        )
        for p in printers
    ]
    # one query of plain columns with the parts' analyses (this runs on every price update)
    waiting = session.execute(
        sa.select(PrintJob.id, PrintJob.priority, PrintJob.due_date, PrintJob.created_at,
                  PrintJob.part_id, PrintJob.scale, PrintJob.slicer_print_time_s,
                  PrintJob.est_print_time_s, PrintJob.material_code, PrintJob.colour,
                  PrintJob.requested_printer_id, PrintJob.printer_class, Part.analysis)
        .join(Part, Part.id == PrintJob.part_id)
        .where(PrintJob.state.in_(state_values(WAITING_STATES)))
    ).all()
    ahead = []
    bboxes: dict[tuple[int, float], tuple[float, float, float] | None] = {}
    hulls: dict[tuple[int, float], object] = {}
    for row in waiting:
        key = (-row.priority, row.due_date or date.max, row.created_at or datetime.min, row.id)
        bbox_key = (row.part_id, row.scale or 1.0)
        if bbox_key not in bboxes:
            bboxes[bbox_key] = part_bbox_mm(row.analysis, row.scale or 1.0)
            hulls[bbox_key] = part_hull_mm(row.analysis, row.scale or 1.0)
        seconds = float(row.slicer_print_time_s or row.est_print_time_s or 0)
        item = WorkItem(seconds, row.material_code, row.colour, bboxes[bbox_key],
                        row.requested_printer_id, hulls[bbox_key], row.printer_class)
        ahead.append((key, item))
    ahead.sort(key=lambda pair: pair[0])
    return slots, ahead


def estimate_delivery(
    session,
    *,
    print_time_s: float,
    quantity: int,
    material_code: str,
    colour: str = "any",
    bbox_mm: Sequence[float] | None = None,
    now: datetime | None = None,
    priority: int = 0,
    hull_mm: object = None,
    printer_class: str | None = None,
) -> date | None:
    """Return the date an order of ``quantity`` pieces would be ready, from the live queue,
    or None when no printer in service can take the part (then the hub confirms a date).

    ``hull_mm``: the part's hull points (its analysis' ``orientation.hull_mm``), so that a
    printer too small for ``bbox_mm`` counts when the part fits it laid another way;
    ``printer_class``: only that class's printers print it (None: any)."""
    now = aware_utc(now)
    hours = get_opening_hours()
    slots, ahead = live_inputs(session, now)
    bbox = tuple(float(v) for v in bbox_mm) if bbox_mm is not None else None
    item = WorkItem(float(print_time_s), material_code, colour or "any", bbox, None, hull_mm,
                    printer_class)
    work_ahead = [w for key, w in ahead if -key[0] >= priority]
    finish = plan_finish(slots, work_ahead, item, quantity, hours)
    if finish is None:  # no printer in service takes it: no date is promised
        return None
    return delivery_date(finish, hours)


def estimate_order_ready(
    session,
    lines: Sequence[dict],
    *,
    now: datetime | None = None,
    priority: int = 0,
    express: bool = False,
) -> date | None:
    """Return the date an order of several lines would be ready, from the live queue, or None
    when no printer in service can take one of its lines (then the hub confirms a date).

    Each line: ``print_time_s`` (one piece), ``quantity``, ``material_code``, ``colour``,
    ``bbox_mm``, optionally ``printer_class``. ``priority`` is the order's dispatch priority
    (express goes ahead of the waiting work of lower priority); ``express``: the pieces are
    finished and packed the working day they come off the printer (no handling days)."""
    now = aware_utc(now)
    hours = get_opening_hours()
    slots, ahead = live_inputs(session, now)
    items = [(WorkItem(float(line["print_time_s"]), line["material_code"],
                       line.get("colour") or "any",
                       tuple(float(v) for v in line["bbox_mm"]) if line.get("bbox_mm") else None,
                       printer_class=line.get("printer_class")),
              int(line["quantity"])) for line in lines]
    work_ahead = [w for key, w in ahead if -key[0] >= priority]
    finish = plan_finish_lines(slots, work_ahead, items, hours)
    if finish is None:  # no printer in service takes a line: no date is promised
        return None
    if express:
        from dataclasses import replace

        hours = replace(hours, handling_days=0)
    return delivery_date(finish, hours)


def shipping_arrival(ready: date, days: int) -> date:
    """The delivery date of a parcel that leaves the hub on ``ready`` (German working days)."""
    from marketplace.scheduling.planning import carrier_delivery_date

    return carrier_delivery_date(ready, days, get_opening_hours())


def service_volumes(session) -> list[tuple[float, float, float]]:
    """Return the build volumes (x, y, z mm) of the printers in service (not in maintenance,
    not offline): what a part must fit to get a price."""
    rows = session.execute(
        sa.select(Printer.build_x_mm, Printer.build_y_mm, Printer.build_z_mm)
        .where(Printer.state.not_in(tuple(OUT_OF_SERVICE_STATES)))).all()
    return [(float(x), float(y), float(z)) for x, y, z in rows]


def service_printers(session) -> list[tuple[str, tuple[float, float, float]]]:
    """Return (printer class, build volume x, y, z mm) of each printer in service: what
    :func:`planning.printer_class_for` chooses the class of a part from."""
    rows = session.execute(
        sa.select(Printer.printer_class, Printer.build_x_mm, Printer.build_y_mm,
                  Printer.build_z_mm)
        .where(Printer.state.not_in(tuple(OUT_OF_SERVICE_STATES)))).all()
    return [(str(k), (float(x), float(y), float(z))) for k, x, y, z in rows]
