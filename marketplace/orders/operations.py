"""Orders: accept a quote, number the order, create one print job per piece; status timeline.

``place_order`` turns a Quote into an Order numbered ``DH-<year>-<6 digits>`` and one PrintJob
per piece in state ``received`` (logged through ``jobs.record_created``). The caller commits.
``timeline`` condenses the jobs' event log into the steps a firm sees on the order page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from marketplace import jobs
from marketplace.engine.meshio.units import UNIT_SCALE_MM
from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.jobs import JobState
from marketplace.models import JobEvent, Order, Part, PrintJob, Quote, User, utcnow
from marketplace.accounts import operations as accounts
from marketplace.invoices import operations as invoices
from marketplace.quotes import operations as quotes
from marketplace.webhooks import payloads as webhook_events

S = JobState
CHANNELS = ("portal", "phone", "email")
DELIVERY = ("pickup", "shipping")


class OrderError(Exception):
    """An order cannot be placed; ``message`` is German."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _actor(user: User | None, fallback: str = "system") -> str:
    return user.email if user is not None else fallback


def next_number(year: int) -> str:
    """Return the next free order number of ``year`` (``DH-2026-000042``)."""
    prefix = f"DH-{year}-"
    last = db.session.scalar(
        sa.select(sa.func.max(Order.number)).where(Order.number.like(prefix + "%"))
    )
    seq = int(last[len(prefix):]) + 1 if last else 1
    return f"{prefix}{seq:06d}"


def place_order(
    quote: Quote, *, placed_by: User | None, channel: str = "portal", delivery: str = "pickup",
    reference: str | None = None, notes: str | None = None, actor: str | None = None,
    leitweg_id: str | None = None,
) -> Order:
    """Order ``quote``: number it and create its print jobs in state received (caller commits).

    ``reference`` is the firm's purchase order number, ``leitweg_id`` a public customer's
    routing id (default: the firm's); both are optional and go onto the invoice.
    """
    leitweg_id = _clean_leitweg_id(leitweg_id if leitweg_id is not None
                                   else quote.firm.leitweg_id)
    if channel not in CHANNELS:
        raise OrderError("bad_channel", N_("Unbekannter Bestellweg."))
    if delivery not in DELIVERY:
        raise OrderError("bad_delivery", N_("Unbekannte Lieferart."))
    if quote.valid_until is not None and quote.valid_until < utcnow():
        raise OrderError("quote_expired", N_("Das Angebot ist abgelaufen; bitte neu berechnen."))
    if db.session.scalar(sa.select(Order.id).where(Order.quote_id == quote.id)) is not None:
        raise OrderError("already_ordered", N_("Dieses Angebot wurde bereits bestellt."))
    fields = dict(
        firm_id=quote.firm_id, quote_id=quote.id, part_id=quote.part_id,
        placed_by_id=placed_by.id if placed_by else None, channel=channel, delivery=delivery,
        reference=(reference or "").strip()[:100] or None, notes=(notes or "").strip() or None,
        due_date=quote.delivery_date, leitweg_id=leitweg_id,
    )
    year = utcnow().year
    for _ in range(20):  # another order may take the same number at the same moment: retry
        order = Order(number=next_number(year), **fields)
        try:
            with db.session.begin_nested():
                db.session.add(order)
                db.session.flush()
            break
        except IntegrityError:
            continue
    else:
        raise OrderError("no_number", N_("Keine Bestellnummer frei; bitte erneut versuchen."))
    who = actor or _actor(placed_by)
    scale = UNIT_SCALE_MM.get(quote.units or "mm", 1.0)
    for copy in range(1, quote.quantity + 1):
        job = PrintJob(
            order_id=order.id, part_id=quote.part_id, copy_index=copy, state=S.RECEIVED.value,
            due_date=quote.delivery_date, material_code=quote.material_code,
            colour=quote.colour, infill_percent=quote.infill_percent,
            layer_height_mm=quote.layer_height_mm, scale=scale,
            est_material_g=quote.material_g, est_print_time_s=quote.print_time_s,
        )
        jobs.record_created(job, actor=who, reason=order.number)  # no words: read in any language
    db.session.flush()
    webhook_events.order_placed(order)
    return order


def _clean_leitweg_id(value: str | None) -> str | None:
    value = accounts.normalise_leitweg_id(value or "")
    if value and accounts.leitweg_id_problem(value):
        raise OrderError("bad_leitweg_id", accounts.leitweg_id_problem(value))
    return value or None


def set_references(order: Order, *, reference: str | None, leitweg_id: str | None) -> Order:
    """Change the firm's purchase order number and Leitweg-ID until the invoice is issued."""
    if invoices.invoice_of_order(order) is not None:
        raise OrderError("invoiced", N_("Die Rechnung ist ausgestellt; Bestellnummer und "
                                        "Leitweg-ID stehen darauf und ändern sich nicht mehr."))
    order.leitweg_id = _clean_leitweg_id(leitweg_id)
    order.reference = (reference or "").strip()[:100] or None
    db.session.flush()
    return order


def approve_order(order: Order, actor: User | str) -> int:
    """Approve every received job of ``order``; return how many moved (caller commits)."""
    who = actor if isinstance(actor, str) else actor.email
    moved = 0
    for job in order.jobs:
        if job.state == S.RECEIVED.value:
            jobs.transition(job, S.APPROVED, actor=who, approved_at=utcnow())
            moved += 1
    return moved


def is_rejected(order: Order) -> bool:
    """Whether the hub rejected the whole order: then it has no due date and no confirmation."""
    return bool(order.jobs) and all(job.state == S.REJECTED.value for job in order.jobs)


def reorder(order: Order) -> Quote:
    """Quote ``order``'s part again with the same options at today's prices (caller commits)."""
    q = order.quote
    return quotes.make_quote(
        order.part, material_code=q.material_code, colour=q.colour, quantity=q.quantity,
        infill=q.infill_percent, layer_height=q.layer_height_mm, units=q.units,
    )


def orders_of_part(part: Part) -> list[Order]:
    """Return the orders of ``part``, newest first."""
    return list(db.session.scalars(
        sa.select(Order).where(Order.part_id == part.id).order_by(Order.id.desc())
    ))


# --- what the firm sees -------------------------------------------------------------------------
# Steps of the order timeline, in order; each job state counts as having reached some of them.
STEPS = ("received", "approved", "printing", "printed", "finished")
_REACHED = {
    S.RECEIVED: 0, S.APPROVED: 1, S.QUEUED: 1, S.DISPATCHING: 1, S.STARTING: 1,
    S.NEEDS_ATTENTION: 1, S.PRINTING: 2, S.PAUSED: 2, S.CANCELLING: 2, S.PRINTED: 3,
    S.READY_FOR_PICKUP: 4, S.SHIPPED: 4, S.PICKED_UP: 4,
}


@dataclass
class Step:
    """One step of the order timeline, counted in pieces."""

    key: str  # received|approved|printing|printed|ready_for_pickup|shipped|rejected|cancelled...
    done: int  # pieces that reached it
    total: int
    at: datetime | None = None  # first time a piece reached it
    current: bool = False
    progress: float | None = None  # printing: mean progress of the pieces on a printer
    reason: str | None = None  # rejected/cancelled: the technician's reason

    @property
    def complete(self) -> bool:
        """Whether every live piece reached this step."""
        return self.total > 0 and self.done >= self.total


@dataclass
class OrderStatus:
    """An order's overall state, its timeline steps and its pieces."""

    state: str  # overall: the least advanced active job, or the terminal state of all
    steps: list[Step] = field(default_factory=list)
    jobs: list[dict] = field(default_factory=list)


def overall_state(job_states: list[str | JobState]) -> str:
    """An order's overall state from its jobs' states: the least advanced live job's, else the
    state the first stopped job ended in (rejected, cancelled, failed)."""
    states = [JobState(s) for s in job_states]
    live = [s for s in states if s not in (S.REJECTED, S.CANCELLED, S.FAILED)]
    if live:
        return min(live, key=lambda s: (_REACHED[s], s.value)).value
    stopped = [s for s in states if s in (S.REJECTED, S.CANCELLED, S.FAILED)]
    return stopped[0].value if stopped else S.RECEIVED.value


def status(order: Order) -> OrderStatus:
    """Condense ``order``'s jobs and their events into an overall state and timeline steps."""
    order_jobs = list(order.jobs)
    total = len(order_jobs)
    first_at: dict[str, datetime] = {}
    reasons: dict[str, str] = {}
    events = db.session.scalars(
        sa.select(JobEvent).where(JobEvent.job_id.in_([j.id for j in order_jobs]))
        .order_by(JobEvent.at, JobEvent.id)
    ) if order_jobs else []
    for ev in events:
        first_at.setdefault(ev.to_state, ev.at)
        if ev.to_state in (S.REJECTED.value, S.CANCELLED.value, S.FAILED.value) and ev.reason:
            reasons.setdefault(ev.to_state, ev.reason)
    states = [JobState(j.state) for j in order_jobs]
    stopped = [s for s in states if s in (S.REJECTED, S.CANCELLED, S.FAILED)]
    live = [s for s in states if s not in (S.REJECTED, S.CANCELLED, S.FAILED)]
    last_key = "shipped" if (order.delivery == "shipping" or S.SHIPPED in states) else (
        "ready_for_pickup"
    )
    steps: list[Step] = []
    for index, key in enumerate(STEPS):
        done = sum(1 for s in live if _REACHED[s] >= index)
        name = last_key if key == "finished" else key
        at = first_at.get(name) if key != "printing" else first_at.get(S.PRINTING.value)
        if key == "finished":
            at = first_at.get(S.READY_FOR_PICKUP.value) or first_at.get(S.SHIPPED.value)
        steps.append(Step(name, done, len(live), at))
    printing = [j for j in order_jobs if j.state in (S.PRINTING.value, S.PAUSED.value)]
    if printing:
        steps[2].progress = round(
            sum(float(j.progress_percent or 0) for j in printing) / len(printing), 1
        )
    for state in (S.REJECTED, S.CANCELLED, S.FAILED):
        count = sum(1 for s in stopped if s == state)
        if count:
            steps.append(Step(state.value, count, total, first_at.get(state.value),
                              reason=reasons.get(state.value)))
    if live:
        steps[min(_REACHED[s] for s in live)].current = True
    overall = overall_state(states)
    jobs_info = [
        {"id": j.public_id, "piece": j.copy_index, "state": j.state,
         "progress": j.progress_percent}
        for j in order_jobs
    ]
    return OrderStatus(overall, steps, jobs_info)
