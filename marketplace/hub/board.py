"""The printers board: each printer's live state as plain dicts, for the page and its JSON poll.

The dispatcher writes what it learns from OctoPrint into ``Printer.state``, ``last_status`` and
``last_seen_at``; this module only reads them. The API key is never part of the output.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.i18n import N_, reason_job
from marketplace.jobs import ON_PRINTER_STATES, JobState, piece_label, piece_of
from marketplace.models import Order, Printer, PrintJob, utcnow
from printers import admin as printer_admin

PRINTER_STATE_LABELS = {
    "available": N_("Bereit"),
    "printing": N_("Druckt"),
    "bed_to_clear": N_("Bett räumen"),
    "maintenance": N_("Wartung"),
    "offline": N_("Nicht erreichbar"),
    "unknown": N_("Unbekannt"),
}
PRINTER_STATE_BADGES = {
    "available": "badge-ok", "printing": "badge-info", "bed_to_clear": "badge-warn",
    "maintenance": "badge-muted", "offline": "badge-error", "unknown": "badge-error",
}
# A printer's job that still needs it: on the printer, or printed with the bed not yet cleared.
_BOARD_JOB_STATES = [s.value for s in ON_PRINTER_STATES]


def _temperatures(status: dict | None, translate=lambda s: s) -> list[dict[str, Any]]:
    """Return [{"name", "actual", "target"}] from OctoPrint-like status JSON."""
    if not isinstance(status, dict):
        return []
    temps = status.get("temperatures", status.get("temperature"))
    if not isinstance(temps, dict):
        return []
    out = []
    for name in sorted(temps, key=lambda n: (n != "bed", n)):
        value = temps[name]
        if isinstance(value, dict):
            actual, target = value.get("actual"), value.get("target")
        else:
            actual, target = value, None
        try:
            out.append({"name": str(name), "label": _temperature_label(str(name), translate),
                        "actual": None if actual is None else round(float(actual), 1),
                        "target": None if target is None else round(float(target), 1)})
        except (TypeError, ValueError):
            continue
    return out


def _temperature_label(name: str, translate=lambda s: s) -> str:
    """OctoPrint's sensor names in the console's words: bed -> Bett, tool0 -> Düse."""
    if name == "bed":
        return translate(N_("Bett"))
    if name == "chamber":
        return translate(N_("Kammer"))
    if name.startswith("tool") and name[4:].isdigit():
        n = int(name[4:])
        return translate(N_("Düse")) if n == 0 else translate(N_("Düse %(n)s")) % {"n": n + 1}
    return name


def _time_left_s(status: dict | None, job: PrintJob | None) -> int | None:
    if isinstance(status, dict):
        for key in ("print_time_left_s", "printTimeLeft"):
            value = status.get(key)
            if value is None and isinstance(status.get("progress"), dict):
                value = status["progress"].get(key)
            if isinstance(value, (int, float)) and value >= 0:
                return int(value)
    if job is not None and job.progress_percent is not None:
        total = job.slicer_print_time_s or job.est_print_time_s
        if total:
            return int(total * max(0.0, 100.0 - job.progress_percent) / 100.0)
    return None


def current_jobs() -> dict[int, PrintJob]:
    """Return the job occupying each printer (by printer id)."""
    jobs = db.session.scalars(
        sa.select(PrintJob).where(PrintJob.state.in_(_BOARD_JOB_STATES),
                                  PrintJob.printer_id.is_not(None))
        .options(selectinload(PrintJob.order).selectinload(Order.firm),
                 selectinload(PrintJob.part))
    ).all()
    return {j.printer_id: j for j in jobs}


def last_printed() -> dict[int, PrintJob]:
    """Return, for printers whose bed waits to be cleared, the job printed last on them."""
    # per such printer its latest finish, then those jobs only (not every job it ever printed)
    latest = (sa.select(PrintJob.printer_id, sa.func.max(PrintJob.finished_at).label("at"))
              .join(Printer, Printer.id == PrintJob.printer_id)
              .where(Printer.state == "bed_to_clear", PrintJob.finished_at.is_not(None))
              .group_by(PrintJob.printer_id).subquery())
    rows = db.session.scalars(
        sa.select(PrintJob).join(latest, sa.and_(PrintJob.printer_id == latest.c.printer_id,
                                                 PrintJob.finished_at == latest.c.at))
        .options(selectinload(PrintJob.printer)).order_by(PrintJob.id)
    ).all()
    return {j.printer_id: j for j in rows}


def piece_name(job: PrintJob) -> str:
    """How the board names a piece in a printer's reasons: its order's number and its label."""
    number = job.order.number if job.order is not None else None
    return " · ".join(x for x in (number, piece_label(job)) if x)


def reason_jobs(reasons) -> dict[str, PrintJob]:
    """The jobs that ``reasons`` name ("job <id>: ..."), by public id (one query)."""
    ids = {i for i in map(reason_job, reasons) if i}
    if not ids:
        return {}
    found = db.session.scalars(sa.select(PrintJob).where(PrintJob.public_id.in_(ids)).options(
        selectinload(PrintJob.order), selectinload(PrintJob.part)))
    return {job.public_id: job for job in found}


def piece_names(reasons) -> dict[str, str]:
    """Names (:func:`piece_name`) of the jobs that ``reasons`` name, by public id."""
    return {pid: piece_name(job) for pid, job in reason_jobs(reasons).items()}


def printer_card(printer: Printer, job: PrintJob | None, stale_after_s: int,
                 now: datetime | None = None, translate=lambda s: s,
                 materials: dict | None = None,
                 names: dict[str, str] | None = None) -> dict[str, Any]:
    """Return one printer's board entry (JSON-safe; no API key). ``colour_in_catalogue``
    is False for a colour that is none of its material's catalogue colours (a technician
    picks one; until then no job that wants a colour goes to it). ``names``: how to name the
    jobs that printers' reasons name (:func:`piece_names`; the card's own job it names
    itself)."""

    now = now or utcnow()
    status = printer.last_status if isinstance(printer.last_status, dict) else None
    seen = printer.last_seen_at
    stale = seen is None or (now - seen) > timedelta(seconds=stale_after_s)
    card: dict[str, Any] = {
        "id": printer.public_id,
        "name": printer.name,
        "state": printer.state,
        "state_label": translate(PRINTER_STATE_LABELS.get(printer.state, printer.state)),
        "badge": PRINTER_STATE_BADGES.get(printer.state, "badge-muted"),
        "state_reason": printer.state_reason,
        # the piece the reason names: the card's own job mostly, else one of ``names``
        "reason_names": ({job.public_id: piece_name(job)}
                         if job is not None and reason_job(printer.state_reason) == job.public_id
                         else names or {}),
        "material_code": printer.material_code,
        "colour": printer.colour,
        "colour_in_catalogue": printer_admin.colour_in_catalogue(printer, materials),
        "nozzle_mm": printer.nozzle_mm,
        "build_mm": [printer.build_x_mm, printer.build_y_mm, printer.build_z_mm],
        "temperatures": _temperatures(status, translate),
        "printer_text": (status or {}).get("state_text"),
        "printer_error": (status or {}).get("error"),
        "last_seen_at": seen.isoformat() + "Z" if seen else None,
        "seen_ago_s": int((now - seen).total_seconds()) if seen else None,
        "stale": stale,
        "job": None,
        "can_pause": False, "can_resume": False, "can_reprint": False, "can_cancel": False,
    }
    if job is not None:
        active = job.state in _BOARD_JOB_STATES
        card["job"] = {
            "id": job.public_id,
            "state": job.state,
            "order_number": job.order.number if job.order else None,
            "firm": job.order.firm.name if job.order and job.order.firm else None,
            "part": job.part.original_name if job.part else None,
            "copy_index": job.copy_index,
            "quantity": piece_of(job)[1],  # the pieces of its line (copy_index is per line)
            "label": piece_label(job),
            "progress_percent": (None if job.progress_percent is None
                                 else round(float(job.progress_percent), 1)),
            "time_left_s": _time_left_s(status, job) if active else None,
        }
        card["can_pause"] = job.state == JobState.PRINTING.value
        card["can_resume"] = job.state == JobState.PAUSED.value
        card["can_reprint"] = job.state in (JobState.PRINTING.value, JobState.PAUSED.value)
        card["can_cancel"] = job.state in (JobState.PRINTING.value, JobState.PAUSED.value,
                                           JobState.STARTING.value)
    card["can_clear_bed"] = printer.state == "bed_to_clear"
    return card


def board(stale_after_s: int, translate=lambda s: s) -> list[dict[str, Any]]:
    """Return every printer's board entry, by name."""
    jobs = current_jobs()
    done = last_printed()
    now = utcnow()
    printers = db.session.scalars(sa.select(Printer).order_by(Printer.name)).all()
    materials = printer_admin.catalogue()
    # jobs the reasons name that are on no printer now: one query for the whole board
    named = reason_jobs(p.state_reason for p in printers if p.id not in jobs)
    names = {pid: piece_name(job) for pid, job in named.items()}
    cards = []
    for p in printers:
        job = jobs.get(p.id)
        if job is None and p.state == "bed_to_clear":
            # the piece whose print left the bed: stopped to be printed again, it waits in
            # the queue without a printer, and last_printed() would show an older piece
            job = named.get(reason_job(p.state_reason) or "")
            if job is not None and job.printer_id not in (None, p.id):
                job = None
        cards.append(printer_card(p, job or done.get(p.id), stale_after_s, now, translate,
                                  materials, names))
    return cards


def printer_by_public_id(public_id: str) -> Printer | None:
    """Return the printer with this public id, or None."""
    return db.session.scalar(sa.select(Printer).where(Printer.public_id == public_id))


def summary(cards: list[dict[str, Any]]) -> dict[str, int]:
    """Count printers per state (for the page header)."""
    out: dict[str, int] = {}
    for card in cards:
        out[card["state"]] = out.get(card["state"], 0) + 1
    return out
