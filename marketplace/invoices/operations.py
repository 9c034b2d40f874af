"""Issue invoices on handover, cancel them by credit note, list and export them.

An order's invoice is issued when its last live piece is handed over (picked up or shipped;
pieces that failed or were cancelled are not billed). Its lines are per order part, not per
piece: the part's pieces (material and machine time, less the quantity discount), then the
order's set-up fee and minimum-order top-up, from the prices the order was confirmed at.
Numbers come from a counter row bumped in the issuing transaction (:func:`next_number`):
gapless (a rolled-back handover gives its number back) and never repeated, also under
concurrent handovers. An issued invoice is never changed (see :mod:`.models`); it is cancelled
only by a credit note (Stornorechnung) with its own number that references it.

The words on an invoice are German (the legal document is one, whoever reads it). The caller
commits.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from marketplace import formatting, messages
from marketplace.extensions import db
from marketplace.i18n import N_, colour_label
from marketplace.i18n import gettext as _
from marketplace.invoices.models import Invoice, InvoiceCounter, InvoiceLine
from marketplace.mail import notifications as mail
from marketplace.jobs import DROPPED_STATES, JobState, state_values
from marketplace.models import Firm, Order, User
from marketplace.settings import operations as settings
from marketplace.webhooks import payloads as webhook_events

S = JobState
SERIES_PREFIX = {"invoice": "RE", "credit_note": "ST"}
HANDED_OVER = state_values({S.PICKED_UP, S.SHIPPED})
DROPPED = state_values(DROPPED_STATES)
REASON_MAX = 500


class InvoiceError(Exception):
    """An invoice cannot be issued or cancelled; ``message`` is a German source string."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.code, self.message, self.params = code, message, params

    def text(self) -> str:
        """The message in the language in force."""
        return _(self.message, **self.params)


# --- numbers ------------------------------------------------------------------------------------


def series_for(kind: str, year: int) -> str:
    """Return the number series of ``kind`` in ``year`` (``RE-2026``, ``ST-2026``)."""
    return f"{SERIES_PREFIX[kind]}-{year}"


def next_number(kind: str, year: int) -> str:
    """Take the next number of the series (``RE-2026-000042``) inside the caller's transaction.

    ``UPDATE invoice_counters SET last_number = last_number + 1 ... RETURNING`` locks the
    counter row until the transaction ends (PostgreSQL: a row lock; a second handover waits
    and then reads the committed value; SQLite: the write lock of the whole database), so no
    two transactions get the same number, and a rollback gives the number back: no gaps.
    """
    series = series_for(kind, year)
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    db.session.execute(insert(InvoiceCounter).values(series=series, last_number=0)
                       .on_conflict_do_nothing(index_elements=["series"]))
    value = db.session.execute(
        sa.update(InvoiceCounter).where(InvoiceCounter.series == series)
        .values(last_number=InvoiceCounter.last_number + 1)
        .returning(InvoiceCounter.last_number)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return f"{series}-{value:06d}"


# --- what an order bills ------------------------------------------------------------------------


@dataclass(frozen=True)
class LineSpec:
    """One invoice line before it is stored (amounts in cents)."""

    kind: str  # part|setup|minimum
    name: str
    detail: str | None
    quantity: int
    unit_code: str
    gross_cents: int
    allowance_cents: int = 0
    allowance_reason: str | None = None
    part_id: int | None = None

    @property
    def net_cents(self) -> int:
        return self.gross_cents - self.allowance_cents


def _scaled(cents: int, done: int, ordered: int) -> int:
    """``cents`` for ``done`` of ``ordered`` pieces, rounded half up (the engine's rule)."""
    if done == ordered:
        return cents
    return int((Decimal(cents) * done / ordered).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class OrderPart:
    """One part (order line) of an order with the options and price lines it was confirmed at.

    ``position`` is the line's place in the order (1, 2, ...); its pieces are the order's
    jobs of that line.
    """

    part_id: int
    name: str
    material_code: str
    colour: str
    infill_percent: int
    layer_height_mm: float
    ordered: int
    price_lines: tuple[dict[str, Any], ...]
    position: int = 1


def order_parts(order: Order) -> list[OrderPart]:
    """Return the parts (lines) ``order`` bills, each with its own price lines as ordered."""
    from marketplace.quotes import operations as quotes

    return [OrderPart(line.part_id, line.part.original_name, line.material_code, line.colour,
                      line.infill_percent, line.layer_height_mm, line.quantity,
                      tuple(quotes.part_price_lines(order.price, line.position)), line.position)
            for line in quotes.lines_of(order.quote)]


def order_charges(order: Order) -> list[dict[str, Any]]:
    """Return the order's own price lines (set-up fee, minimum-order top-up, express
    surcharge, shipping), once per order."""
    from marketplace.quotes import operations as quotes

    return quotes.order_price_lines(order.price)


def delivered_pieces(order: Order) -> dict[int, int]:
    """Return how many pieces of each order line (by position) were handed over."""
    positions = {}
    if order.quote.lines:
        positions = {line.id: line.position for line in order.quote.lines}
    out: dict[int, int] = {}
    for job in order.jobs:
        if job.state in HANDED_OVER:
            position = positions.get(job.quote_line_id, 1)
            out[position] = out.get(position, 0) + 1
    return out


def invoice_lines(order: Order) -> list[LineSpec]:
    """Return the lines ``order``'s invoice bills for the pieces handed over (German words).

    A part's line is its material and machine time for the pieces handed over (all of them,
    unless some failed or were cancelled: then that share), less its quantity discount as the
    line's allowance; the set-up fee and the minimum-order top-up are lines of their own.
    """
    delivered = delivered_pieces(order)
    specs: list[LineSpec] = []
    with force_locale("de"):
        for part in order_parts(order):
            done = delivered.get(part.position, 0)
            if not done:
                continue
            amounts = {line["code"]: int(line.get("amount_cents", 0)) for line in part.price_lines}
            gross = _scaled(amounts.get("material", 0) + amounts.get("machine", 0), done,
                            part.ordered)
            allowance = _scaled(-amounts.get("discount", 0), done, part.ordered)
            reason = None
            for line in part.price_lines:
                if line.get("code") == "discount":
                    label, detail = messages.line_texts(line)
                    reason = f"{label} ({detail})" if detail else label
            detail = _("%(material)s, %(colour)s; Füllung %(infill)s, Schichthöhe %(layer)s",
                       material=part.material_code, colour=colour_label(part.colour),
                       infill=formatting.format_percent(part.infill_percent),
                       layer=formatting.format_mm(part.layer_height_mm, 2))
            if done < part.ordered:
                detail += "; " + _("%(done)s von %(ordered)s bestellten Stück geliefert",
                                   done=done, ordered=part.ordered)
            specs.append(LineSpec("part", part.name[:255], detail, done, "H87", gross,
                                  allowance, reason and reason[:100], part.part_id))
        if specs:
            subtotal = sum(s.net_cents for s in specs)
            for line in order_charges(order):
                label, detail = messages.line_texts(line)
                amount = int(line.get("amount_cents", 0))
                if line["code"] == "minimum":  # top up to the minimum again, for what is billed
                    minimum = int((line.get("params") or {}).get("minimum", {}).get("money", 0))
                    amount = max(0, minimum - subtotal) if minimum else amount
                    if amount == 0:
                        continue
                specs.append(LineSpec(line["code"], label, detail, 1, "C62", amount))
                subtotal += amount
    return specs


def _vat_cents(net_cents: int, vat_percent: int) -> int:
    """VAT of the net total, rounded half up to whole cents (the engine's rule)."""
    return int((Decimal(net_cents) * vat_percent / 100).quantize(Decimal(1),
                                                                 rounding=ROUND_HALF_UP))


# --- snapshots ----------------------------------------------------------------------------------


def buyer_email(firm: Firm, order: Order | None = None) -> str:
    """Where the firm's invoices go: its invoice address, else whoever placed the order,
    else its first active user."""
    if firm.invoice_email:
        return firm.invoice_email
    if order is not None and order.placed_by_id:
        user = db.session.get(User, order.placed_by_id)
        if user is not None and user.active and "@" in user.email:
            return user.email
    user = db.session.scalar(sa.select(User).where(User.firm_id == firm.id,
                                                   User.active.is_(True)).order_by(User.id))
    return user.email if user is not None else ""


def buyer_snapshot(firm: Firm, order: Order | None = None) -> dict[str, Any]:
    """Return the firm's details as the invoice keeps them, with the address a shipped
    order went to (``ship_to``: the e-invoice's deliver-to party, BG-13)."""
    out = {
        "name": firm.name, "street": firm.street or "", "postcode": firm.postcode or "",
        "city": firm.city or "", "country": firm.country or "DE", "vat_id": firm.vat_id or "",
        "contact_name": firm.contact_name or "", "phone": firm.phone or "",
        "email": buyer_email(firm, order),
    }
    if order is not None and order.delivery == "shipping" and order.ship_to:
        out["ship_to"] = dict(order.ship_to)
    return out


# --- issuing ------------------------------------------------------------------------------------


def invoice_of_order(order: Order) -> Invoice | None:
    """Return the order's invoice (not a credit note), or None."""
    return db.session.scalar(sa.select(Invoice).where(Invoice.order_id == order.id,
                                                      Invoice.kind == "invoice"))


def is_fully_handed_over(order: Order) -> bool:
    """Whether every piece that still counts was handed over (and at least one was)."""
    live = [job.state for job in order.jobs if job.state not in DROPPED]
    return bool(live) and all(state in HANDED_OVER for state in live)


def issue_invoice(order: Order, actor: str, *, today: date | None = None) -> Invoice:
    """Issue ``order``'s invoice for the pieces handed over (caller commits).

    Raises InvoiceError if the order has one already or nothing was handed over, and
    settings.MissingLegalDetailsError under production without the hub's legal details.
    """
    if invoice_of_order(order) is not None:
        raise InvoiceError("already_invoiced", N_("Auftrag %(number)s hat schon eine Rechnung."),
                           number=order.number or order.public_id)
    specs = invoice_lines(order)
    if not specs:
        raise InvoiceError("nothing_delivered",
                           N_("Von Auftrag %(number)s wurde noch nichts übergeben."),
                           number=order.number or order.public_id)
    seller = settings.require_legal_details()
    today = today or formatting.hub_today()
    vat_percent = int(order.price.get("vat_percent", 19))
    currency = str(order.price.get("currency") or "EUR")
    net = sum(s.net_cents for s in specs)
    vat = _vat_cents(net, vat_percent)
    invoice = Invoice(
        number=next_number("invoice", today.year), kind="invoice", firm_id=order.firm_id,
        order_id=order.id, issue_date=today, delivery_date=today,
        due_date=today + timedelta(days=int(seller.get("payment_days") or 0)),
        currency=currency, vat_percent=vat_percent, net_cents=net, vat_cents=vat,
        gross_cents=net + vat, seller=seller, buyer=buyer_snapshot(order.firm, order),
        order_number=order.number, purchase_order=order.reference,
        leitweg_id=order.leitweg_id or order.firm.leitweg_id or None, issued_by=actor,
    )
    invoice.lines = [
        InvoiceLine(position=i, kind=s.kind, name=s.name, detail=s.detail, quantity=s.quantity,
                    unit_code=s.unit_code, gross_cents=s.gross_cents,
                    allowance_cents=s.allowance_cents, allowance_reason=s.allowance_reason,
                    net_cents=s.net_cents, vat_percent=vat_percent, part_id=s.part_id)
        for i, s in enumerate(specs, start=1)
    ]
    db.session.add(invoice)
    db.session.flush()
    webhook_events.invoice_issued(invoice)
    mail.queue_invoice_mail(invoice)
    return invoice


def issue_if_handed_over(order: Order, actor: str) -> Invoice | None:
    """Issue the order's invoice once its last live piece is handed over; else None."""
    if not is_fully_handed_over(order) or invoice_of_order(order) is not None:
        return None
    return issue_invoice(order, actor)


def credit_note_of(invoice: Invoice) -> Invoice | None:
    """Return the credit note that cancels ``invoice``, or None."""
    return db.session.scalar(sa.select(Invoice).where(Invoice.corrects_id == invoice.id))


def cancel_invoice(invoice: Invoice, actor: str, reason: str | None, *,
                   today: date | None = None) -> Invoice:
    """Cancel ``invoice`` by a credit note of the same lines and amounts (caller commits).

    The credit note has its own number (series ``ST``), names the invoice and the reason;
    the invoice itself stays as it was.
    """
    if invoice.kind != "invoice":
        raise InvoiceError("not_an_invoice", N_("Nur eine Rechnung kann storniert werden."))
    if credit_note_of(invoice) is not None:
        raise InvoiceError("already_cancelled",
                           N_("Rechnung %(number)s ist bereits storniert."), number=invoice.number)
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= REASON_MAX:
        raise InvoiceError("reason", N_("Bitte einen Grund angeben (3 bis %(n)s Zeichen)."),
                           n=REASON_MAX)
    seller = settings.require_legal_details()
    today = today or formatting.hub_today()
    note = Invoice(
        number=next_number("credit_note", today.year), kind="credit_note",
        firm_id=invoice.firm_id, order_id=invoice.order_id, corrects_id=invoice.id,
        issue_date=today, delivery_date=invoice.delivery_date, due_date=None,
        currency=invoice.currency, vat_percent=invoice.vat_percent,
        net_cents=invoice.net_cents, vat_cents=invoice.vat_cents,
        gross_cents=invoice.gross_cents, seller=seller, buyer=dict(invoice.buyer),
        order_number=invoice.order_number, purchase_order=invoice.purchase_order,
        leitweg_id=invoice.leitweg_id, reason=reason, issued_by=actor,
    )
    note.lines = [
        InvoiceLine(position=line.position, kind=line.kind, name=line.name, detail=line.detail,
                    quantity=line.quantity, unit_code=line.unit_code,
                    gross_cents=line.gross_cents, allowance_cents=line.allowance_cents,
                    allowance_reason=line.allowance_reason, net_cents=line.net_cents,
                    vat_percent=line.vat_percent, part_id=line.part_id)
        for line in invoice.lines
    ]
    db.session.add(note)
    db.session.flush()
    webhook_events.invoice_issued(note)
    # to where the firm's invoices go now (the invoice's address may have changed or gone)
    order = db.session.get(Order, invoice.order_id)
    mail.queue_invoice_mail(note, to=buyer_email(order.firm, order))
    return note


# --- lists and the accountants' CSV -------------------------------------------------------------


def find(number: str) -> Invoice | None:
    """Return the invoice or credit note with ``number``."""
    return db.session.scalar(sa.select(Invoice).where(Invoice.number == (number or "").strip()))


def invoices_of_firm(firm: Firm, limit: int = 500) -> list[Invoice]:
    """Return the firm's invoices and credit notes, newest first."""
    return list(db.session.scalars(
        sa.select(Invoice).where(Invoice.firm_id == firm.id)
        .order_by(Invoice.issue_date.desc(), Invoice.id.desc()).limit(limit)))


def all_invoices(*, year: int | None = None, firm_id: int | None = None,
                 newest_first: bool = False, limit: int | None = None) -> list[Invoice]:
    """Return every invoice and credit note (optionally of one year or firm), oldest first."""
    query = sa.select(Invoice).order_by(
        *((Invoice.issue_date.desc(), Invoice.id.desc()) if newest_first
          else (Invoice.issue_date, Invoice.id)))
    if year:
        query = query.where(Invoice.issue_date >= date(year, 1, 1),
                            Invoice.issue_date < date(year + 1, 1, 1))
    if firm_id:
        query = query.where(Invoice.firm_id == firm_id)
    if limit:
        query = query.limit(limit)
    return list(db.session.scalars(query))


CSV_COLUMNS = ("number", "date", "firm", "vat_id", "net", "vat", "gross", "currency", "type",
               "reference")


def _amount(cents: int) -> str:
    """Cents as a plain decimal ("1234.50"), the form accounting imports read."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def csv_rows(invoices: list[Invoice]) -> list[dict[str, str]]:
    """Return one row per document for the accountants; a credit note's amounts are negative
    (it takes the invoice's back), its reference is the invoice it cancels."""
    numbers = {i.id: i.number for i in invoices}
    missing = {i.corrects_id for i in invoices if i.corrects_id and i.corrects_id not in numbers}
    if missing:
        numbers |= dict(db.session.execute(
            sa.select(Invoice.id, Invoice.number).where(Invoice.id.in_(missing))).all())
    rows = []
    for inv in invoices:
        sign = -1 if inv.kind == "credit_note" else 1
        reference = (numbers.get(inv.corrects_id, "") if inv.kind == "credit_note"
                     else inv.order_number or "")
        rows.append({
            "number": inv.number, "date": inv.issue_date.isoformat(), "firm": inv.buyer["name"],
            "vat_id": inv.buyer.get("vat_id") or "", "net": _amount(sign * inv.net_cents),
            "vat": _amount(sign * inv.vat_cents), "gross": _amount(sign * inv.gross_cents),
            "currency": inv.currency, "type": inv.kind, "reference": reference,
        })
    return rows


def csv_export(invoices: list[Invoice]) -> str:
    """Return the CSV (UTF-8, comma, a header line) of ``invoices`` for the hub's accounting."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in csv_rows(invoices):
        # a cell starting with = + - @ would be a formula in a spreadsheet: quote it away
        writer.writerow({k: ("'" + v if k in ("firm", "reference") and v[:1] in "=+-@" else v)
                         for k, v in row.items()})
    return out.getvalue()


def retention_until(invoice: Invoice) -> date:
    """The last day the invoice must be kept: 8 years after the end of its year (§ 147 AO,
    § 14b UStG since 2025)."""
    return date(invoice.issue_date.year + 8, 12, 31)
