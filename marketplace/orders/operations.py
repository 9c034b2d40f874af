"""Orders: accept a quote, number the order, create one print job per piece; status timeline.

``place_order`` turns a Quote into an Order numbered ``DH-<year>-<6 digits>`` and one PrintJob
per piece in state ``received`` (logged through ``jobs.record_created``). The caller commits.
``timeline`` condenses the jobs' event log into the steps a firm sees on the order page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import quote as quote_url

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from marketplace import jobs
from marketplace.engine.meshio.units import UNIT_SCALE_MM
from marketplace.extensions import db
from marketplace.formatting import hub_today
from marketplace.i18n import N_
from marketplace.jobs import DROPPED_STATES, JobState, state_values
from marketplace.models import JobEvent, Order, Part, PrintJob, Quote, QuoteLine, User, utcnow
from marketplace.accounts import operations as accounts
from marketplace.invoices import operations as invoices
from marketplace.quotes import operations as quotes
from marketplace.settings import operations as settings
from marketplace.webhooks import payloads as webhook_events

S = JobState
CHANNELS = ("portal", "phone", "email", "api")
DELIVERY = ("pickup", "shipping")


class OrderError(Exception):
    """An order cannot be placed; ``message`` is German; ``field``: the address field it is
    about (name, street, postcode, city), if one."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


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


ADDRESS_FIELDS = ("name", "street", "postcode", "city", "country")


def firm_address(firm) -> dict[str, str]:
    """The firm's postal address as a shipping address."""
    return {"name": firm.name or "", "street": firm.street or "", "postcode": firm.postcode or "",
            "city": firm.city or "", "country": firm.country or "DE"}


# The parcel services a hub ships with, and where a firm follows a parcel (the number goes
# into the address); "other": a carrier without a tracking page of ours.
CARRIERS = {
    "DHL": "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode={n}",
    "DPD": "https://tracking.dpd.de/status/de_DE/parcel/{n}",
    "GLS": "https://gls-group.com/DE/de/paketverfolgung?match={n}",
    "UPS": "https://www.ups.com/track?loc=de_DE&tracknum={n}",
    "Hermes": "https://www.myhermes.de/empfangen/sendungsverfolgung/sendungsinformation/#{n}",
    "other": "",
}
TRACKING_NUMBER = re.compile(r"[A-Za-z0-9]{6,40}")


def record_parcel(order: Order, carrier: str | None, tracking_number: str | None,
                  today: date | None = None) -> dict[str, str]:
    """Record a parcel the order (or part of it) went in today: its carrier and tracking
    number, both optional (shipped without a number, the day still counts); raise OrderError
    ``shipment`` for a carrier we do not know or a number that is none. Returns the parcel."""
    carrier = (carrier or "").strip()
    number = "".join((tracking_number or "").split())
    if carrier and carrier not in CARRIERS:
        raise OrderError("shipment", N_("Unbekannter Versanddienst."))
    if number and not TRACKING_NUMBER.fullmatch(number):
        raise OrderError("shipment", N_("Die Sendungsnummer hat 6 bis 40 Buchstaben und "
                                        "Ziffern."))
    if number and not carrier:
        raise OrderError("shipment", N_("Bitte den Versanddienst der Sendungsnummer wählen."))
    parcel = {"carrier": carrier, "tracking_number": number,
              "shipped_on": (today or hub_today()).isoformat()}
    order.parcels = [*(order.parcels or []), parcel]  # a new list: the JSON column sees it
    return parcel


def last_carrier(recent: int = 50) -> str:
    """The parcel service of the parcel shipped last (of the ``recent`` orders shipped last),
    "" if none: the hand-over form offers it first, as a hub ships with one service mostly."""
    rows = db.session.scalars(sa.select(Order.parcels).where(Order.parcels.is_not(None))
                              .order_by(Order.id.desc()).limit(recent))
    parcels = [p for row in rows for p in row or [] if p.get("carrier")]
    return max(parcels, key=lambda p: p.get("shipped_on") or "")["carrier"] if parcels else ""


def tracking_url(parcel: dict | None) -> str | None:
    """Where the firm follows a parcel (an item of ``Order.parcels``), or None."""
    parcel = parcel or {}
    template = CARRIERS.get(parcel.get("carrier") or "")
    number = parcel.get("tracking_number") or ""
    return template.format(n=quote_url(number, safe="")) if template and number else None


def parcels_json(order: Order) -> list[dict]:
    """The order's parcels as the API and the webhooks give them (with the tracking
    address; ``shipped_on`` a date)."""
    return [{"carrier": p.get("carrier") or None, "tracking_number": p.get("tracking_number")
             or None, "tracking_url": tracking_url(p),
             "shipped_on": date.fromisoformat(p["shipped_on"]) if p.get("shipped_on") else None}
            for p in order.parcels or []]


def clean_address(data: dict | None) -> dict[str, str]:
    """Check a shipping address (name, street, postcode, city; Germany only, where the hub's
    tariffs apply); raise OrderError naming what is missing."""
    data = data or {}
    address = {key: " ".join(str(data.get(key) or "").split())[:200] for key in ADDRESS_FIELDS}
    address["country"] = (address["country"] or "DE").upper()
    if address["country"] != "DE":
        raise OrderError("ship_to", N_("Versand nur innerhalb Deutschlands; bitte wählen Sie "
                                       "Abholung."))
    if missing := [key for key in ("name", "street", "postcode", "city") if not address[key]]:
        raise OrderError("ship_to", N_("Für den Versand brauchen wir Name, Straße, PLZ und Ort."),
                         field=missing[0])
    if problem := accounts.postcode_problem(address["country"], address["postcode"]):
        raise OrderError("ship_to", problem, field="postcode")
    for key in ("name", "street", "city"):
        address[key] = address[key][:100]
    return address


def order_of(quote: Quote) -> Order | None:
    """The order placed on ``quote``, if any (one at most: a unique index)."""
    return db.session.scalar(sa.select(Order).where(Order.quote_id == quote.id))


TERMS_IN_FORCE = object()  # place_order's terms_shown when no page showed any: those in force


def place_order(
    quote: Quote, *, placed_by: User | None, channel: str = "portal",
    delivery: str | None = None, express: bool | None = None, ship_to: dict | None = None,
    reference: str | None = None, notes: str | None = None, actor: str | None = None,
    leitweg_id: str | None = None, terms_shown: str | None | object = TERMS_IN_FORCE,
) -> Order:
    """Order ``quote``: number it and create its print jobs in state received (caller commits).

    The order takes every line of the quote: one print job per piece, tagged with its line.
    ``delivery`` (pickup|shipping) and ``express`` default to the quote's; either way the
    price is the quote's parts with that delivery, from the quote's terms (the variant the
    page showed). Shipping goes to ``ship_to``, else the quote's address, else the firm's.
    Express jobs get the hub's express priority. ``reference`` is the firm's purchase order
    number, ``leitweg_id`` a public customer's routing id (default: the firm's); both are
    optional and go onto the invoice. The order is placed under the hub's terms (AGB) in
    force; ``terms_shown`` is the version the buyer's page named (None: none), refused
    ("terms_changed") if those changed meanwhile.
    """
    leitweg_id = _clean_leitweg_id(leitweg_id if leitweg_id is not None
                                   else quote.firm.leitweg_id)
    delivery = quote.delivery or "pickup" if delivery is None else delivery
    express = bool(quote.express if express is None else express)
    if channel not in CHANNELS:
        raise OrderError("bad_channel", N_("Unbekannter Bestellweg."))
    if delivery not in DELIVERY:
        raise OrderError("bad_delivery", N_("Unbekannte Lieferart."))
    if quote.valid_until is not None and quote.valid_until < utcnow():
        raise OrderError("quote_expired", N_("Das Angebot ist abgelaufen; bitte neu berechnen."))
    if db.session.scalar(sa.select(Order.id).where(Order.quote_id == quote.id)) is not None:
        raise OrderError("already_ordered", N_("Dieses Angebot wurde bereits bestellt."))
    terms_version = settings.current_terms_version()
    if terms_shown is not TERMS_IN_FORCE and (terms_shown or None) != terms_version:
        raise OrderError("terms_changed", N_(
            "Unsere AGB haben sich geändert, während die Seite offen war. Bitte lesen Sie die "
            "Fassung, die jetzt gilt, und bestellen Sie dann erneut."))
    for line in quotes.lines_of(quote):  # e.g. a part analysed again in other units since
        if quotes.summary_for(line.part, line.units).get("printable") is False:
            raise OrderError("not_printable", N_("Das Teil ist so nicht druckbar und kann "
                                                 "nicht bestellt werden; die Gründe stehen "
                                                 "auf der Seite des Teils."))
    chosen = quotes.variant(quote, delivery, express)
    if not chosen.offered:
        raise OrderError("express_no_gain", quotes.EXPRESS_NO_GAIN)
    address = None
    if delivery == "shipping":
        if not chosen.shippable:
            raise OrderError("not_shippable", N_("Diese Teile passen in kein Paket; bitte "
                                                 "wählen Sie Abholung."))
        address = clean_address(ship_to or quote.ship_to or firm_address(quote.firm))
    price = chosen.price
    fields = dict(
        firm_id=quote.firm_id, quote_id=quote.id, part_id=quote.part_id,
        placed_by_id=placed_by.id if placed_by else None, channel=channel, delivery=delivery,
        express=express, ship_to=address,
        reference=(reference or "").strip()[:100] or None, notes=(notes or "").strip() or None,
        due_date=chosen.date, leitweg_id=leitweg_id, breakdown=price,
        terms_version=terms_version,
        net_cents=int(price["net_cents"]), vat_cents=int(price["vat_cents"]),
        gross_cents=int(price["gross_cents"]),
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
            # the number was taken meanwhile (retry), or the quote was ordered meanwhile
            if db.session.scalar(sa.select(Order.id).where(Order.quote_id == quote.id)):
                raise OrderError("already_ordered",
                                 N_("Dieses Angebot wurde bereits bestellt.")) from None
            continue
    else:
        raise OrderError("no_number", N_("Keine Bestellnummer frei; bitte erneut versuchen."))
    who = actor or _actor(placed_by)
    priority = 0
    if express:
        priority = int((quotes.terms_of(quote).get("delivery") or {}).get("express_priority", 5))
    for line in quotes.lines_of(quote):
        scale = UNIT_SCALE_MM.get(line.units or "mm", 1.0)
        for copy in range(1, line.quantity + 1):
            job = PrintJob(
                order_id=order.id, part_id=line.part_id, quote_line_id=line.id,
                copy_index=copy, state=S.RECEIVED.value, priority=priority,
                due_date=chosen.ready_date or chosen.date, material_code=line.material_code,
                colour=line.colour, infill_percent=line.infill_percent,
                layer_height_mm=line.layer_height_mm, scale=scale,
                supports=line.with_supports,  # the decision the line was priced with
                printer_class=line.printer_class,  # the class it was priced for
                est_material_g=line.material_g, est_print_time_s=line.print_time_s,
            )
            jobs.record_created(job, actor=who, reason=order.number)  # no words: any language
    db.session.flush()
    webhook_events.order_placed(order)
    return order


def _clean_leitweg_id(value: str | None) -> str | None:
    value = accounts.normalise_leitweg_id(value or "")
    if value and accounts.leitweg_id_problem(value):
        raise OrderError("bad_leitweg_id", accounts.leitweg_id_problem(value))
    return value or None


def will_be_invoiced(order: Order) -> bool:
    """Whether ``order`` still gets an invoice: not issued yet, and some piece is not dropped
    (a rejected or wholly cancelled order is never invoiced)."""
    return invoices.invoice_of_order(order) is None and any(
        job.state not in state_values(DROPPED_STATES) for job in order.jobs)


def set_references(order: Order, *, reference: str | None, leitweg_id: str | None) -> Order:
    """Change the firm's purchase order number and Leitweg-ID until the invoice is issued."""
    if invoices.invoice_of_order(order) is not None:
        raise OrderError("invoiced", N_("Die Rechnung ist ausgestellt; Bestellnummer und "
                                        "Leitweg-ID stehen darauf und ändern sich nicht mehr."))
    if not will_be_invoiced(order):
        raise OrderError("not_invoiced", N_("Dieser Auftrag wurde abgelehnt oder storniert; "
                                            "er bekommt keine Rechnung."))
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
    """Quote ``order``'s parts again with the same options and delivery at today's prices
    (caller commits); raises quotes.EstimatePendingError while an estimate is made."""
    items = []
    for line in quotes.lines_of(order.quote):
        part = line.part
        items.append((part, quotes.compute(part, quotes.parse_options(
            {"material": line.material_code, "colour": line.colour, "quantity": line.quantity,
             "infill": line.infill_percent, "layer_height": line.layer_height_mm,
             "units": line.units, "supports": line.supports or "auto"},
            quotes.hub_catalog()[0]))))
    return quotes.store_lines(order.firm, items, delivery=order.delivery,
                              express=bool(order.express), ship_to=order.ship_to)


def orders_of_part(part: Part) -> list[Order]:
    """Return the orders with ``part`` in one of their lines, newest first."""
    in_lines = sa.select(QuoteLine.quote_id).where(QuoteLine.part_id == part.id)
    return list(db.session.scalars(
        sa.select(Order).where(sa.or_(Order.part_id == part.id, Order.quote_id.in_(in_lines)))
        .order_by(Order.id.desc())
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

    key: str  # received|approved|printing|printed|ready_for_pickup|picked_up|shipped|rejected...
    done: int  # pieces that reached it
    total: int
    at: datetime | None = None  # when it was reached: by the last piece once all have, else
    # by the first
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
    # a print being stopped is still printing to the firm: it ends cancelled (the firm reads
    # that then) or, stopped to be printed again ("Neu drucken"), back in the queue
    states = [S.PRINTING if JobState(s) == S.CANCELLING else JobState(s) for s in job_states]
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
    arrived: dict[tuple[int, str], datetime] = {}  # (job, state): when the job first got there
    reasons: dict[str, str] = {}
    events = db.session.scalars(
        sa.select(JobEvent).where(JobEvent.job_id.in_([j.id for j in order_jobs]))
        .order_by(JobEvent.at, JobEvent.id)
    ) if order_jobs else []
    for ev in events:
        first_at.setdefault(ev.to_state, ev.at)
        arrived.setdefault((ev.job_id, ev.to_state), ev.at)
        if ev.to_state in (S.REJECTED.value, S.CANCELLED.value, S.FAILED.value) and ev.reason:
            reasons.setdefault(ev.to_state, ev.reason)
    states = [JobState(j.state) for j in order_jobs]
    stopped = [s for s in states if s in (S.REJECTED, S.CANCELLED, S.FAILED)]
    live = [s for s in states if s not in (S.REJECTED, S.CANCELLED, S.FAILED)]
    if order.delivery == "shipping" or S.SHIPPED in states:
        last_key = "shipped"
    elif live and all(s == S.PICKED_UP for s in live):  # the last step, once it is taken
        last_key = "picked_up"
    else:
        last_key = "ready_for_pickup"
    live_ids = [j.id for j in order_jobs
                if JobState(j.state) not in (S.REJECTED, S.CANCELLED, S.FAILED)]

    def last_arrival(state: str) -> datetime | None:
        """When the last live piece first reached ``state`` (a resume or a re-slice later
        does not move it); None if one never did."""
        times = [arrived.get((job_id, state)) for job_id in live_ids]
        return max(times) if times and None not in times else None

    steps: list[Step] = []
    for index, key in enumerate(STEPS):
        done = sum(1 for s in live if _REACHED[s] >= index)
        name = last_key if key == "finished" else key
        names = ((last_key, S.READY_FOR_PICKUP.value, S.SHIPPED.value) if key == "finished"
                 else (name,))
        at = next((first_at[n] for n in names if n in first_at), None)
        if live and done >= len(live):  # every piece is there: dated by the last of them
            at = next((t for n in names if (t := last_arrival(n)) is not None), at)
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


# --- an order by its parts ----------------------------------------------------------------------
# job states in the order a firm reads them (furthest first), for "7 gedruckt, 3 im Druck"
STATE_ORDER = (S.PICKED_UP, S.SHIPPED, S.READY_FOR_PICKUP, S.PRINTED, S.PRINTING, S.PAUSED,
               S.CANCELLING, S.STARTING, S.DISPATCHING, S.QUEUED, S.APPROVED, S.NEEDS_ATTENTION,
               S.RECEIVED, S.FAILED, S.REJECTED, S.CANCELLED)


def lines_of(order: Order) -> list[QuoteLine]:
    """The order's lines (its parts), in order."""
    return quotes.lines_of(order.quote)


def _line_ids(order: Order) -> dict[int | None, int]:
    """Line id -> position; jobs without a line belong to the first line."""
    return {line.id: line.position for line in quotes.lines_of(order.quote)}


def line_position(order: Order, job: PrintJob) -> int:
    """The position (1, 2, ...) of the order line ``job`` is a piece of."""
    return _line_ids(order).get(job.quote_line_id, 1)


def jobs_of_line(order: Order, line: QuoteLine) -> list[PrintJob]:
    """The pieces of one order line."""
    positions = _line_ids(order)
    return [job for job in order.jobs if positions.get(job.quote_line_id, 1) == line.position]


def line_counts(order: Order, line: QuoteLine) -> dict[str, int]:
    """How many pieces of ``line`` are in each state, furthest state first."""
    states = [job.state for job in jobs_of_line(order, line)]
    return {state.value: states.count(state.value) for state in STATE_ORDER
            if state.value in states}


@dataclass
class LineSummary:
    """One part of an order as its pages show it: the line, its pieces counted by state,
    its price lines, the mean progress of its pieces on a printer."""

    line: QuoteLine
    counts: dict[str, int]
    price_lines: list[dict]
    progress: float | None = None

    @property
    def part(self) -> Part:
        return self.line.part


def line_summaries(order: Order) -> list[LineSummary]:
    """Every part of ``order`` with its quantity and a count per state (not a row a piece)."""
    price_lines = [x for x in order.price.get("lines", []) if x.get("code") in
                   ("material", "machine", "discount")]
    out = []
    for line in quotes.lines_of(order.quote):
        pieces = jobs_of_line(order, line)
        printing = [j for j in pieces if j.state in (S.PRINTING.value, S.PAUSED.value)]
        progress = (round(sum(float(j.progress_percent or 0) for j in printing) / len(printing), 1)
                    if printing else None)
        out.append(LineSummary(line, line_counts(order, line),
                               [x for x in price_lines if int(x.get("line", 1)) == line.position],
                               progress))
    return out
