"""Data rights (GDPR art. 15, 17, 20): a firm's data as a zip; deleting an account.

``firm_export`` streams a zip (zipstream-ng: built while it is sent, never held in memory or
on disk): ``druckhub-export.json`` with the firm, its users, parts, quotes, orders (with every
piece's history) and invoices, plus the files: every uploaded part as it was uploaded, every
invoice and credit note as PDF and XRechnung.

``delete_account`` blocks a person's data: the user is anonymised (address, name, password,
sessions, sign-in attempts, e-mails, their name in the order history), so nobody can sign in
as them or read who they were. The firm's invoices stay as issued, with the names on them,
for the legal retention period (8 years after the end of the invoice's year: § 147 AO,
§ 14b UStG; art. 17(3)(b) GDPR); the last user of a firm also clears the firm's contact
person, phone and invoice e-mail. The caller commits.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from zipstream import ZIP_DEFLATED, ZipStream

from marketplace.accounts import sessions
from marketplace.extensions import db
from marketplace.invoices import einvoice
from marketplace.invoices import operations as invoices
from marketplace.invoices.models import Invoice
from marketplace.models import (
    Firm,
    JobEvent,
    LoginAttempt,
    Notification,
    Order,
    Part,
    PrintJob,
    Quote,
    User,
    utcnow,
)
from marketplace.parts import storage
from marketplace.quotes import operations as quotes
from marketplace.webhooks import endpoints as webhook_endpoints

EXPORT_VERSION = 1
RETENTION_YEARS = 8


def _when(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() + ("Z" if isinstance(value, datetime) else "")


def _safe(name: str) -> str:
    """A file name that is safe inside a zip (no directories, no control characters)."""
    name = re.sub(r"[^\w.\- ]+", "_", name or "file").strip(" .") or "file"
    return name[:120]


def _lazy(make: Callable[[], bytes]) -> Iterator[bytes]:
    """Yield ``make()`` when the zip reaches this entry (not when the entry is queued)."""
    yield make()


def export_data(firm: Firm) -> dict[str, Any]:
    """Return everything stored about ``firm`` as JSON-safe data (file names as in the zip)."""
    users = db.session.scalars(sa.select(User).where(User.firm_id == firm.id)
                               .order_by(User.id)).all()
    parts = db.session.scalars(sa.select(Part).where(Part.firm_id == firm.id)
                               .order_by(Part.id)).all()
    quotes = db.session.scalars(sa.select(Quote).where(Quote.firm_id == firm.id)
                                .order_by(Quote.id)).all()
    orders = db.session.scalars(sa.select(Order).where(Order.firm_id == firm.id)
                                .order_by(Order.id)).all()
    docs = db.session.scalars(sa.select(Invoice).where(Invoice.firm_id == firm.id)
                              .order_by(Invoice.id)).all()
    return {
        "export": {"version": EXPORT_VERSION, "created_at": _when(utcnow())},
        "firm": {
            "name": firm.name, "vat_id": firm.vat_id, "street": firm.street,
            "postcode": firm.postcode, "city": firm.city, "country": firm.country,
            "contact_name": firm.contact_name, "phone": firm.phone,
            "invoice_email": firm.invoice_email, "leitweg_id": firm.leitweg_id,
            "created_at": _when(firm.created_at),
        },
        "users": [{"email": u.email, "name": u.name, "role": u.role, "language": u.language,
                   "active": u.active, "created_at": _when(u.created_at)} for u in users],
        "parts": [{"id": p.public_id, "name": p.original_name, "sha256": p.sha256,
                   "format": p.file_format, "size_bytes": p.size_bytes, "units": p.units,
                   "status": p.status, "created_at": _when(p.created_at),
                   "file": part_path(p), "analysis": p.analysis} for p in parts],
        "quotes": [{"id": q.public_id, "part": q.part.public_id, "material": q.material_code,
                    "colour": q.colour, "quantity": q.quantity, "infill": q.infill_percent,
                    "layer_height_mm": q.layer_height_mm, "net_cents": q.net_cents,
                    "vat_cents": q.vat_cents, "gross_cents": q.gross_cents,
                    "price": q.breakdown, "delivery_date": _when(q.delivery_date),
                    "delivery": q.delivery, "express": bool(q.express), "ship_to": q.ship_to,
                    "lines": _lines(q),
                    "created_at": _when(q.created_at), "valid_until": _when(q.valid_until)}
                   for q in quotes],
        "orders": [_order(o) for o in orders],
        "invoices": [{
            "number": i.number, "type": i.kind, "issue_date": _when(i.issue_date),
            "delivery_date": _when(i.delivery_date), "due_date": _when(i.due_date),
            "order": i.order_number, "purchase_order": i.purchase_order,
            "leitweg_id": i.leitweg_id, "currency": i.currency, "net_cents": i.net_cents,
            "vat_cents": i.vat_cents, "gross_cents": i.gross_cents, "buyer": i.buyer,
            "reason": i.reason, "kept_until": _when(invoices.retention_until(i)),
            "lines": [{"position": line.position, "name": line.name, "detail": line.detail,
                       "quantity": line.quantity, "unit": line.unit_code,
                       "net_cents": line.net_cents, "allowance_cents": line.allowance_cents}
                      for line in i.lines],
            "files": [invoice_path(i, "pdf"), invoice_path(i, "xml")],
        } for i in docs],
        # the firm's webhook endpoints (their secrets are not exported: rotate one to read it)
        "webhooks": [{
            "id": e.public_id, "url": e.url, "events": e.events, "description": e.description,
            "active": e.active, "created_at": _when(e.created_at),
            "disabled_at": _when(e.disabled_at), "last_success_at": _when(e.last_success_at),
        } for e in webhook_endpoints.endpoints_of(firm.id)],
    }


def _order(order: Order) -> dict[str, Any]:
    jobs = db.session.scalars(sa.select(PrintJob).where(PrintJob.order_id == order.id)
                              .order_by(PrintJob.id)).all()
    events = db.session.scalars(
        sa.select(JobEvent).where(JobEvent.job_id.in_([j.id for j in jobs]))
        .order_by(JobEvent.id)).all() if jobs else []
    piece = {j.id: j.copy_index for j in jobs}
    positions = {line.id: line.position for line in quotes.lines_of(order.quote)}
    line_of = {j.id: positions.get(j.quote_line_id, 1) for j in jobs}
    return {
        "number": order.number, "quote": order.quote.public_id, "part": order.part.public_id,
        "lines": _lines(order.quote), "express": bool(order.express), "ship_to": order.ship_to,
        "net_cents": order.total_net_cents, "vat_cents": order.total_vat_cents,
        "gross_cents": order.total_gross_cents, "price": order.price,
        "channel": order.channel, "delivery": order.delivery, "reference": order.reference,
        "leitweg_id": order.leitweg_id, "notes": order.notes,
        "terms_version": order.terms_version,
        "due_date": _when(order.due_date), "created_at": _when(order.created_at),
        "pieces": [{"line": line_of[j.id], "piece": j.copy_index, "state": j.state}
                   for j in jobs],
        "history": [{"line": line_of[e.job_id], "piece": piece[e.job_id], "at": _when(e.at),
                     "from": e.from_state, "to": e.to_state, "reason": e.reason}
                    for e in events],
    }


def _lines(quote: Quote) -> list[dict]:
    """A quote's (an order's) parts with their options and figures."""
    return [{"line": x.position, "part": x.part.public_id, "material": x.material_code,
             "colour": x.colour, "quantity": x.quantity, "infill": x.infill_percent,
             "layer_height_mm": x.layer_height_mm, "units": x.units,
             "material_g": x.material_g, "print_time_s": x.print_time_s,
             "net_cents": x.net_cents} for x in quotes.lines_of(quote)]


def part_path(part: Part) -> str:
    return f"files/parts/{part.public_id[:8]}_{_safe(part.original_name)}"


def invoice_path(invoice: Invoice, suffix: str) -> str:
    return f"files/invoices/{invoice.number}.{suffix}"


def firm_export(firm: Firm) -> ZipStream:
    """Return the firm's data as a streaming zip (iterate it for the bytes)."""
    zs = ZipStream(compress_type=ZIP_DEFLATED)
    data = export_data(firm)
    zs.add(json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"),
           "druckhub-export.json")
    for part in db.session.scalars(sa.select(Part).where(Part.firm_id == firm.id)):
        path = storage.path_for(part.sha256)
        if path.is_file():
            zs.add_path(str(path), part_path(part))
    for invoice in db.session.scalars(sa.select(Invoice).where(Invoice.firm_id == firm.id)):
        # rendered when the zip reaches them, by id: the stream may run in a session of its own
        zs.add(_lazy(lambda i=invoice.id: einvoice.export(db.session.get(Invoice, i), "pdf")[0]),
               invoice_path(invoice, "pdf"))
        zs.add(_lazy(lambda i=invoice.id: einvoice.xrechnung_xml(db.session.get(Invoice, i))),
               invoice_path(invoice, "xml"))
    return zs


def export_filename(firm: Firm) -> str:
    return f"druckhub-daten-{_safe(firm.name).replace(' ', '-')}-{date.today().isoformat()}.zip"


# --- deleting an account ------------------------------------------------------------------------


def kept_until(firm: Firm | None) -> date | None:
    """The day the firm's newest invoice may be deleted (None: it has none)."""
    if firm is None:
        return None
    newest = db.session.scalar(sa.select(sa.func.max(Invoice.issue_date))
                               .where(Invoice.firm_id == firm.id))
    return date(newest.year + RETENTION_YEARS, 12, 31) if newest else None


def delete_account(user: User) -> None:
    """Anonymise ``user`` and end every sign-in; invoices stay as issued (caller commits)."""
    email, label = user.email, f"gelöschtes Konto #{user.id}"
    sessions.end_all(user)
    db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.email == email))
    db.session.execute(sa.delete(Notification).where(sa.or_(
        Notification.user_id == user.id, Notification.to_address == email)))
    db.session.execute(sa.update(JobEvent).where(JobEvent.actor == email)
                       .values(actor=label).execution_options(synchronize_session=False))
    firm = user.firm
    user.email = f"deleted-{user.id}-{secrets.token_hex(4)}@invalid"
    user.name = None
    user.password_hash = "!" + secrets.token_hex(32)  # no password hash matches this
    user.active = False
    if firm is not None:
        if firm.invoice_email == email:
            firm.invoice_email = None
        others = db.session.scalar(sa.select(sa.func.count(User.id)).where(
            User.firm_id == firm.id, User.active.is_(True), User.id != user.id))
        if not others:  # the firm's last person: its contact details go too
            firm.contact_name = None
            firm.phone = None
            firm.invoice_email = None
            # and its webhooks: nobody is left to receive them or to be told they fail
            for endpoint in webhook_endpoints.endpoints_of(firm.id):
                webhook_endpoints.remove(endpoint)
        webhook_endpoints.forget_creator(email, label)
    db.session.flush()
