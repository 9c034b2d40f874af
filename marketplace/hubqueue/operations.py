"""The technicians' queue: queries with filters, and the console's actions on orders and jobs.

Rows are grouped by order (one order of N pieces is one row with N jobs), because technicians
approve, reject and prioritise orders. Every state change goes through
:func:`marketplace.jobs.transition` with the technician's e-mail as actor; priority and printer
assignment are not state changes and are logged as JobEvents whose ``from_state`` equals
``to_state`` and whose ``data["action"]`` names the change. The caller commits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.i18n import gettext as _
from marketplace.invoices import operations as invoices
from marketplace.invoices.models import Invoice
from marketplace.jobs import (
    DONE_STATES,
    ON_PRINTER_STATES,
    REQUEUE_RESET,
    WAITING_STATES,
    JobState,
    can_transition,
    reprint_cause,
    state_values,
    transition,
    withdraw_reprint,
)
from marketplace.models import (
    DispatchAttempt,
    Firm,
    JobEvent,
    Order,
    Part,
    Printer,
    PrinterEvent,
    PrintJob,
    utcnow,
)
from marketplace.orders import operations as orders_ops
from marketplace.scheduling.planning import fits, part_bbox_mm
from marketplace.settings.operations import MissingLegalDetailsError

S = JobState
TABS: dict[str, tuple[str, ...]] = {
    "approval": (S.RECEIVED.value,),
    "queued": (S.APPROVED.value, S.QUEUED.value),
    "printing": state_values(ON_PRINTER_STATES),
    "attention": (S.NEEDS_ATTENTION.value, S.FAILED.value),
    "done": state_values(DONE_STATES),
    "closed": (S.REJECTED.value, S.CANCELLED.value),
}
# Tabs listed newest first (history); the others in the order the dispatcher takes them.
HISTORY_TABS = ("done", "closed")
PRIORITY_MIN, PRIORITY_MAX = -9, 9
DB_INT_MAX = 2**31 - 1  # ids are INTEGER columns (PostgreSQL: 32 bits)
REASON_MAX = 500
ASSIGNABLE_STATES = state_values(WAITING_STATES)
PRIORITY_STATES = state_values(WAITING_STATES | {S.NEEDS_ATTENTION})


class QueueError(ValueError):
    """A console action that cannot be done (the message is shown to the technician)."""


@dataclass(frozen=True)
class QueueFilter:
    """What the queue page shows; every field optional except the tab."""

    tab: str = "approval"
    state: str | None = None
    material: str | None = None
    firm: str | None = None  # firm public name (exact)
    printer: int | None = None  # printer id (assigned or requested)
    text: str | None = None  # order number, part file name, firm name or reference

    @classmethod
    def from_args(cls, args) -> QueueFilter:
        """Build from request args, ignoring values that make no sense."""
        tab = args.get("tab") or "approval"
        if tab not in TABS:
            tab = "approval"
        state = args.get("state") or None
        if state not in TABS[tab]:
            state = None
        try:
            printer = int(args.get("printer")) if args.get("printer") else None
        except ValueError:
            printer = None
        if printer is not None and not 1 <= printer <= DB_INT_MAX:
            printer = None  # no row has it, and the database refuses to compare with it
        text = (args.get("q") or "").strip()[:100] or None
        material = (args.get("material") or "").strip().upper()[:16] or None
        firm = (args.get("firm") or "").strip()[:200] or None
        return cls(tab, state, material, firm, printer, text)


@dataclass
class QueueRow:
    """One order's jobs within a tab (``reasons``: the events that put them in their state,
    with a reason: the page shows each in its language)."""

    order: Order
    jobs: list[PrintJob] = field(default_factory=list)
    reasons: list[Any] = field(default_factory=list)  # rows: job_id, to_state, reason, ...

    @property
    def states(self) -> Counter:
        return Counter(j.state for j in self.jobs)

    @property
    def priority(self) -> int:
        return max(j.priority for j in self.jobs)

    @property
    def due_date(self) -> date | None:
        dates = [j.due_date for j in self.jobs if j.due_date] + (
            [self.order.due_date] if self.order.due_date else [])
        return min(dates) if dates else None

    @property
    def printers(self) -> list[str]:
        names = {j.printer.name for j in self.jobs if j.printer is not None}
        names |= {f"→ {j.requested_printer.name}" for j in self.jobs
                  if j.printer is None and j.requested_printer is not None}
        return sorted(names)

    @property
    def print_time_s(self) -> int:
        return sum(int(j.slicer_print_time_s or j.est_print_time_s or 0) for j in self.jobs)

    @property
    def progress_percent(self) -> float | None:
        values = [j.progress_percent for j in self.jobs if j.progress_percent is not None]
        return sum(values) / len(values) if values else None

    @property
    def first_job(self) -> PrintJob:
        return self.jobs[0]

    @property
    def parts(self) -> list[Part]:
        """The parts of this row's pieces, each once, in the order of the pieces (an order of
        several parts may have only some of them in a tab)."""
        return list({j.part_id: j.part for j in self.jobs if j.part is not None}.values())

    @property
    def materials(self) -> list[tuple[str, str]]:
        """(material, colour) of this row's pieces, each pair once, in their order: what the
        technician loads (two colours of one order are two spools)."""
        return list(dict.fromkeys((j.material_code, j.colour) for j in self.jobs))

    @property
    def problem_counts(self) -> dict[str, int]:
        """Return how many printability errors and warnings the analyses of this row's parts
        found."""
        counts = {"error": 0, "warning": 0}
        for part in self.parts:
            analysis = part.analysis
            if not isinstance(analysis, dict):
                continue
            for problem in analysis.get("problems") or ():
                if isinstance(problem, dict) and problem.get("severity") in counts:
                    counts[problem["severity"]] += 1
        return counts


def _filtered(f: QueueFilter) -> sa.Select:
    states = [f.state] if f.state else list(TABS[f.tab])
    query = (
        sa.select(PrintJob)
        .join(Order, PrintJob.order_id == Order.id)
        .join(Firm, Order.firm_id == Firm.id)
        .join(Part, PrintJob.part_id == Part.id)
        .where(PrintJob.state.in_(states))
    )
    if f.material:
        query = query.where(PrintJob.material_code == f.material)
    if f.firm:
        query = query.where(Firm.name == f.firm)
    if f.printer:
        query = query.where(sa.or_(PrintJob.printer_id == f.printer,
                                   PrintJob.requested_printer_id == f.printer))
    if f.text:
        like = "%" + f.text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
        query = query.where(sa.or_(
            Order.number.ilike(like, escape="\\"), Part.original_name.ilike(like, escape="\\"),
            Firm.name.ilike(like, escape="\\"), Order.reference.ilike(like, escape="\\"),
        ))
    return query


def queue_rows(f: QueueFilter, *, limit: int = 2000) -> list[QueueRow]:
    """Return the tab's orders (with their jobs in the tab) in the order to work on them."""
    query = _filtered(f).options(
        selectinload(PrintJob.order).selectinload(Order.firm),
        selectinload(PrintJob.order).selectinload(Order.part),
        selectinload(PrintJob.part), selectinload(PrintJob.printer),
        selectinload(PrintJob.requested_printer),
    )
    if f.tab in HISTORY_TABS:
        query = query.order_by(PrintJob.updated_at.desc(), PrintJob.id.desc())
    else:
        query = query.order_by(PrintJob.priority.desc(), PrintJob.due_date.is_(None),
                               PrintJob.due_date, PrintJob.created_at, PrintJob.id)
    rows: dict[int, QueueRow] = {}
    for job in db.session.scalars(query.limit(limit)):
        rows.setdefault(job.order_id, QueueRow(job.order)).jobs.append(job)
    if f.tab in REASON_TABS:
        _add_reasons(list(rows.values()))
    return list(rows.values())


# Tabs whose rows show why the pieces got there (the dispatcher's or a technician's reason).
REASON_TABS = ("attention", "closed")


def _add_reasons(rows: list[QueueRow]) -> None:
    jobs = {j.id: (row, j) for row in rows for j in row.jobs}
    if not jobs:
        return
    # the columns event_reason reads, not whole rows (the closed tab lists 2000 pieces)
    events = db.session.execute(
        sa.select(JobEvent.job_id, JobEvent.to_state, JobEvent.reason, JobEvent.data,
                  JobEvent.actor)
        .where(JobEvent.job_id.in_(list(jobs)), JobEvent.reason.is_not(None),
               JobEvent.from_state.is_distinct_from(JobEvent.to_state))
        .order_by(JobEvent.id.desc())
    ).all()
    seen: set[int] = set()
    for event in events:  # the page shows them in its language (the ``event_reason`` filter)
        row, job = jobs[event.job_id]
        if event.job_id in seen or event.to_state != job.state:
            continue
        seen.add(event.job_id)
        row.reasons.append(event)


def tab_counts() -> dict[str, int]:
    """Return the number of pieces in every tab."""
    counts = dict(db.session.execute(
        sa.select(PrintJob.state, sa.func.count()).group_by(PrintJob.state)).all())
    return {tab: sum(counts.get(s, 0) for s in states) for tab, states in TABS.items()}


def filter_choices() -> dict[str, list]:
    """Return the values the filter drop-downs offer (materials, firms, printers in use)."""
    materials = db.session.scalars(
        sa.select(PrintJob.material_code).distinct().order_by(PrintJob.material_code)).all()
    firms = db.session.scalars(
        sa.select(Firm.name).join(Order, Order.firm_id == Firm.id).distinct()
        .order_by(Firm.name)).all()
    printers = db.session.execute(sa.select(Printer.id, Printer.name).order_by(Printer.name)).all()
    return {"materials": list(materials), "firms": list(firms),
            "printers": [(p.id, p.name) for p in printers]}


# --- lookups ------------------------------------------------------------------------------------


def orders_by_public_ids(public_ids: list[str]) -> list[Order]:
    """Return the orders with these public ids (unknown ids are skipped)."""
    ids = [p for p in public_ids if isinstance(p, str) and p][:500]
    if not ids:
        return []
    return list(db.session.scalars(
        sa.select(Order).where(Order.public_id.in_(ids)).order_by(Order.id)))


def job_by_public_id(public_id: str) -> PrintJob | None:
    """Return the job with this public id, or None."""
    return db.session.scalar(sa.select(PrintJob).where(PrintJob.public_id == public_id))


# --- actions ------------------------------------------------------------------------------------


def approve_order(order: Order, actor: str) -> int:
    """Approve every job of ``order`` awaiting approval; return how many were approved."""
    return _decide_received(order, S.APPROVED, actor=actor, approved_at=utcnow())


def approve_orders(orders: list[Order], actor: str) -> tuple[int, list[str]]:
    """Approve several orders; return (pieces approved, messages for orders skipped)."""
    total, skipped = 0, []
    for order in orders:
        try:
            total += approve_order(order, actor)
        except QueueError as exc:
            skipped.append(str(exc))
    return total, skipped


def clean_reason(reason: str | None) -> str:
    """Return the stripped reason or raise QueueError if it is missing or too long."""
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise QueueError(_("Bitte einen Grund angeben: mindestens 3 Zeichen (die Firma sieht ihn)."))
    if len(reason) > REASON_MAX:
        raise QueueError(_("Der Grund ist zu lang (höchstens %(n)s Zeichen).", n=REASON_MAX))
    return reason


def reject_order(order: Order, actor: str, reason: str | None) -> int:
    """Reject every job of ``order`` awaiting approval with ``reason``; return how many."""
    return _decide_received(order, S.REJECTED, actor=actor, reason=clean_reason(reason))


def _decide_received(order: Order, to: S, **kwargs) -> int:
    """Move every job of ``order`` awaiting approval to ``to``; raise if there is none."""
    waiting = [job for job in order.jobs if job.state == S.RECEIVED.value]
    if not waiting:
        raise QueueError(_("Auftrag %(number)s wartet nicht auf Freigabe.",
                           number=order.number or order.public_id))
    for job in waiting:
        transition(job, to, **kwargs)
    return len(waiting)


def _note(job: PrintJob, actor: str, reason: str, data: dict) -> JobEvent:
    event = JobEvent(job_id=job.id, at=utcnow(), actor=actor, from_state=job.state,
                     to_state=job.state, reason=reason, data=data)
    db.session.add(event)
    return event


def parse_priority(value) -> int:
    """Return ``value`` as a priority or raise QueueError."""
    try:
        priority = int(value)
    except (TypeError, ValueError):
        raise QueueError(_("Priorität: eine ganze Zahl.")) from None
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise QueueError(_("Priorität: von %(lo)s bis %(hi)s.", lo=PRIORITY_MIN, hi=PRIORITY_MAX))
    return priority


# before slicing (or before printing, where the G-code is made again): supports may change
SUPPORT_STATES = (S.RECEIVED.value, S.APPROVED.value, S.QUEUED.value, S.NEEDS_ATTENTION.value)


def set_supports(job: PrintJob, with_supports: bool, actor: str,
                 note: str | None = None) -> JobEvent | None:
    """A technician's support decision for ``job`` before it is sliced (or sliced again).

    Logged as a JobEvent (``data["action"] == "supports"``) that also records the estimate for
    the new decision, which the slicer's figures are then held against; the firm's price and
    the quote stay as ordered. A queued job goes back to slicing; a job that needs attention
    is sliced again when requeued. Returns None when nothing changes.
    """
    if job.state not in SUPPORT_STATES:
        raise QueueError(_("Stützstrukturen lassen sich nur vor dem Druck ändern."))
    if (job.state == S.APPROVED.value and job.slice_lease_until is not None
            and job.slice_lease_until > utcnow()):
        raise QueueError(_("Das Teil wird gerade gesliced; bitte gleich noch einmal versuchen."))
    old = bool(job.supports)
    if old == bool(with_supports):
        return None
    from marketplace.quotes import operations as quotes

    quote = job.order.quote if job.order else None
    figures = quotes.piece_figures(
        job.part, units=quote.units if quote else job.part.units,
        layer_height_mm=job.layer_height_mm, infill_percent=job.infill_percent,
        printer_class=job.printer_class,
        material_code=job.material_code, with_supports=bool(with_supports))
    note = (note or "").strip()[:REASON_MAX] or None
    words = {True: "automatisch", False: "keine"}  # stored like the other notes' words
    reason = f"Stützstrukturen: {words[old]} → {words[bool(with_supports)]}"
    data = {"action": "supports", "from": old, "to": bool(with_supports), "note": note,
            "check_material_g": figures[0] if figures else None,
            "check_print_time_s": figures[1] if figures else None}
    event = _note(job, actor, f"{reason} ({note})" if note else reason, data)
    job.supports = bool(with_supports)
    sliced = {"gcode_sha256": None, "slicer_material_g": None, "slicer_print_time_s": None,
              "slicing": None}
    if job.state == S.QUEUED.value:
        transition(job, S.APPROVED, actor=actor, reason=_("Stützstrukturen geändert: wird neu "
                                                          "gesliced"), **sliced)
    elif job.state == S.NEEDS_ATTENTION.value:
        for key, value in sliced.items():
            setattr(job, key, value)
    db.session.flush()
    return event


def set_priority(jobs: list[PrintJob], priority, actor: str) -> int:
    """Set the priority (higher first) of the jobs that still wait; return how many changed."""
    priority = parse_priority(priority)
    n = 0
    for job in jobs:
        if job.state in PRIORITY_STATES and job.priority != priority:
            _note(job, actor, f"Priorität {job.priority} → {priority}",
                  {"action": "priority", "from": job.priority, "to": priority})
            job.priority = priority
            n += 1
    db.session.flush()
    return n


def assign_printer(jobs: list[PrintJob], printer: Printer | None, actor: str) -> int:
    """Ask the dispatcher to print the waiting jobs on ``printer`` (None: any printer).

    Raises QueueError if the part does not fit the printer's build volume.
    """
    n = 0
    for job in jobs:
        if job.state not in ASSIGNABLE_STATES:
            continue
        if printer is not None:
            bbox = part_bbox_mm(job.part.analysis if job.part else None, job.scale or 1.0)
            if not fits(bbox, (printer.build_x_mm, printer.build_y_mm, printer.build_z_mm)):
                raise QueueError(_("Das Teil passt nicht in den Bauraum von %(name)s.",
                                   name=printer.name))
        new_id = printer.id if printer else None
        if job.requested_printer_id == new_id:
            continue
        old = job.requested_printer.name if job.requested_printer else None
        _note(job, actor, f"Drucker: {printer.name if printer else 'Dispatcher wählt'}",
              {"action": "assign_printer", "from": old, "to": printer.name if printer else None})
        job.requested_printer_id = new_id
        n += 1
    db.session.flush()
    return n


def material_warning(jobs: list[PrintJob], printer: Printer | None) -> str | None:
    """Return a hint if ``printer`` has another material loaded than the jobs need."""
    if printer is None:
        return None
    needed = {j.material_code for j in jobs}
    if needed and needed != {printer.material_code}:
        return _("%(name)s hat %(loaded)s geladen; der Auftrag braucht %(needed)s. "
                 "Der Dispatcher wartet auf den Materialwechsel.", name=printer.name,
                 loaded=printer.material_code, needed=", ".join(sorted(needed)))
    return None


# --- the job page -------------------------------------------------------------------------------


def job_figures(job: PrintJob, threshold: float = 0.25) -> list[dict]:
    """Return quote vs slicer (vs actual) rows: label key, values, relative difference, flag."""
    rows = []
    pairs = (
        ("material_g", job.est_material_g, job.slicer_material_g, None),
        ("print_time_s", job.est_print_time_s, job.slicer_print_time_s, job.actual_print_time_s),
    )
    for key, quoted, sliced, actual in pairs:
        diff = None
        if quoted and sliced is not None:
            diff = (float(sliced) - float(quoted)) / float(quoted)
        rows.append({"key": key, "quote": quoted, "slicer": sliced, "actual": actual,
                     "diff": diff, "flag": diff is not None and abs(diff) > threshold})
    return rows


def sorted_problems(problems: list[dict]) -> list[dict]:
    """Return problem records errors first, then warnings, then notes."""
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted((p for p in problems if isinstance(p, dict)),
                  key=lambda p: order.get(p.get("severity"), 3))


@dataclass
class HistoryRow:
    """One step in a part's history: the same change of several of its pieces (by the same
    person, for the same reason, within the same minute) is one row, not one per piece."""

    event: JobEvent  # the first of them (time, states, actor, reason)
    pieces: list[int] = field(default_factory=list)  # copy numbers, ascending
    total: int = 0  # pieces of the part

    @property
    def pieces_text(self) -> str:
        """"3", "1–10" or "1, 4, 7" (the pieces the row is about)."""
        p = self.pieces
        if len(p) > 2 and p == list(range(p[0], p[-1] + 1)):
            return f"{p[0]}–{p[-1]}"
        return ", ".join(str(n) for n in p)


def part_history(job: PrintJob) -> list[HistoryRow]:
    """The history of ``job``'s part in its order (its order line), newest first, with
    identical steps of several pieces in one row."""
    from marketplace.orders import operations as orders

    order = job.order
    line = next((x for x in orders.lines_of(order)
                 if x.position == orders.line_position(order, job)), None)
    pieces = orders.jobs_of_line(order, line) if line is not None else [job]
    by_id = {j.id: j for j in pieces}
    events = db.session.scalars(
        sa.select(JobEvent).where(JobEvent.job_id.in_(list(by_id)))
        .order_by(JobEvent.at.desc(), JobEvent.id.desc())).all()
    rows: list[HistoryRow] = []
    index: dict[tuple, HistoryRow] = {}
    for event in events:
        key = (event.from_state, event.to_state, event.actor, event.reason or "",
               event.at.replace(second=0, microsecond=0))
        row = index.get(key)
        if row is None:
            row = index[key] = HistoryRow(event, total=len(pieces))
            rows.append(row)
        row.pieces.append(by_id[event.job_id].copy_index)
    for row in rows:
        row.pieces.sort()
    return rows


def order_events(order: Order) -> list[tuple[JobEvent, PrintJob]]:
    """Return every event of the order's jobs, newest first, with its job."""
    rows = db.session.execute(
        sa.select(JobEvent, PrintJob).join(PrintJob, JobEvent.job_id == PrintJob.id)
        .where(PrintJob.order_id == order.id).order_by(JobEvent.at.desc(), JobEvent.id.desc())
    ).all()
    return [(e, j) for e, j in rows]


# --- after a problem, and after printing --------------------------------------------------------

RESOLUTIONS = ("requeue", "printed", "failed", "cancelled")


def resolve_job(job: PrintJob, action: str, actor: str, reason: str | None = None) -> JobEvent:
    """Decide about a job that needs attention.

    ``requeue``: print it again (queued if its G-code exists, else approved to be sliced again);
    ``printed``: the piece is fine after all; ``failed`` / ``cancelled``: give up (reason needed).
    """
    if job.state != S.NEEDS_ATTENTION.value:
        raise QueueError(_("Dieser Auftrag wartet nicht auf eine Entscheidung."))
    if action not in RESOLUTIONS:
        raise QueueError(_("Unbekannte Entscheidung."))
    if action in ("failed", "cancelled"):
        reason = clean_reason(reason)
    else:
        reason = (reason or "").strip()[:REASON_MAX] or None
    if action == "requeue":
        to = S.QUEUED if job.gcode_sha256 else S.APPROVED
        return transition(job, to, actor=actor, reason=reason or _("Erneut eingereiht"),
                          **REQUEUE_RESET)
    if action == "printed":
        return transition(job, S.PRINTED, actor=actor, reason=reason or _("Als gedruckt bestätigt"),
                          finished_at=job.finished_at or utcnow())
    return transition(job, S(action), actor=actor, reason=reason)


HANDOVER_STATES = state_values(DONE_STATES - {S.PRINTED})


@dataclass
class Handover:
    """What a hand-over step did: pieces moved, and the invoice if this step issued it."""

    pieces: int
    invoice: Invoice | None = None


def hand_over(order: Order, to: str, actor: str, *, carrier: str | None = None,
              tracking_number: str | None = None) -> Handover:
    """Move the order's finished pieces on: ready for pick-up, shipped or picked up.

    Shipped: the parcel they went in is recorded with the day, its ``carrier`` and
    ``tracking_number`` (both optional; ``Order.parcels``, one per shipped step), for the firm
    to follow it. When the last live piece is handed over (picked up or shipped), the order's
    invoice is issued in the same transaction (:func:`invoices.issue_if_handed_over`).
    """
    if to not in HANDOVER_STATES:
        raise QueueError(_("Unbekannter Schritt."))
    if to == S.SHIPPED.value and any(can_transition(j.state, to) for j in order.jobs):
        try:
            orders_ops.record_parcel(order, carrier, tracking_number)
        except orders_ops.OrderError as exc:
            raise QueueError(_(exc.message)) from exc
    n = 0
    for job in order.jobs:
        if can_transition(job.state, to):
            transition(job, to, actor=actor)
            n += 1
    if n == 0:
        raise QueueError(_("Kein Teil von Auftrag %(number)s kann diesen Schritt machen.",
                           number=order.number or order.public_id))
    return Handover(n, _invoice_after_handover(order, actor))


def hand_over_finished(order: Order, *, shipped: bool, actor: str) -> Handover:
    """Hand every finished piece of ``order`` over: picked up (via ready for pick-up) or
    shipped; issue the invoice once no live piece is left in production."""
    final = S.SHIPPED if shipped else S.PICKED_UP
    n = 0
    for job in order.jobs:
        if job.state == S.PRINTED.value and not shipped:
            transition(job, S.READY_FOR_PICKUP, actor=actor)
        if can_transition(job.state, final):
            transition(job, final, actor=actor)
            n += 1
    if n == 0:
        raise QueueError(_("Auftrag %(number)s hat keine fertigen Teile zum Übergeben.",
                           number=order.number or order.public_id))
    if shipped:  # the parcel they went in: the day (this path is given no number)
        orders_ops.record_parcel(order, None, None)
    return Handover(n, _invoice_after_handover(order, actor))


def _invoice_after_handover(order: Order, actor: str) -> Invoice | None:
    try:
        return invoices.issue_if_handed_over(order, actor)
    except MissingLegalDetailsError as exc:
        raise QueueError(exc.message()) from exc


# what the hand-over buttons say: the step as an action, not the state it leads to
HANDOVER_LABELS = {
    S.READY_FOR_PICKUP.value: N_("Abholbereit melden"),
    S.SHIPPED.value: N_("Als versendet melden"),
    S.PICKED_UP.value: N_("Als abgeholt melden"),
}


def handover_actions(row: QueueRow) -> list[str]:
    """Return the hand-over steps the row's pieces allow, in the order they happen."""
    states = set(row.states)
    actions = []
    if S.PRINTED.value in states:
        actions.append(S.SHIPPED.value if row.order.delivery == "shipping"
                       else S.READY_FOR_PICKUP.value)
    if S.READY_FOR_PICKUP.value in states:
        actions.append(S.PICKED_UP.value)
    return actions


CANCELLABLE_STATES = state_values(WAITING_STATES | {S.NEEDS_ATTENTION})


def cancel_order(order: Order, actor: str, reason: str | None) -> int:
    """Cancel the order's pieces that are not on a printer (those are cancelled at the printer,
    from the printers page) and those being stopped to be printed again (they end cancelled
    once their printer has stopped); return how many."""
    reason = clean_reason(reason)
    n = 0
    for job in order.jobs:
        if job.state in CANCELLABLE_STATES:
            transition(job, S.CANCELLED, actor=actor, reason=reason)
            n += 1
        elif job.state == S.CANCELLING.value and reprint_cause(job):
            withdraw_reprint(job, actor=actor, reason=reason)
            n += 1
    if n == 0:
        raise QueueError(_("Kein Teil von Auftrag %(number)s kann storniert werden.",
                           number=order.number or order.public_id))
    return n


def dispatch_attempts(job: PrintJob) -> list[tuple[DispatchAttempt, str]]:
    """Return the job's tries to get onto a printer, with the printer's name, oldest first."""
    rows = db.session.execute(
        sa.select(DispatchAttempt, Printer.name)
        .join(Printer, Printer.id == DispatchAttempt.printer_id)
        .where(DispatchAttempt.job_id == job.id).order_by(DispatchAttempt.attempt)
    ).all()
    return [(a, name) for a, name in rows]


def printer_events(printer: Printer, limit: int = 30) -> list[PrinterEvent]:
    """Return the printer's latest state changes, newest first."""
    return list(db.session.scalars(
        sa.select(PrinterEvent).where(PrinterEvent.printer_id == printer.id)
        .order_by(PrinterEvent.at.desc(), PrinterEvent.id.desc()).limit(limit)))
