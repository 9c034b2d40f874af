"""What each event says, and the calls the domain operations make to emit it.

Ids are the public ids the pages and the API use; amounts are integer cents; times ISO 8601
UTC. Each function writes to the outbox in the caller's transaction (see :mod:`outbox`).
"""

from __future__ import annotations

from typing import Any

from marketplace.models import Order, Part, PrintJob, Printer, Quote
from marketplace.webhooks.outbox import emit, iso


def part_data(part: Part) -> dict[str, Any]:
    analysis = part.analysis or {}
    return {
        "id": part.public_id, "name": part.original_name, "status": part.status,
        "format": part.file_format, "units": part.units,
        "printable": bool(analysis.get("printable")) if part.status == "ready" else False,
        "problems": [p.get("code") for p in analysis.get("problems") or [] if isinstance(p, dict)],
        "error_code": part.error_code, "created_at": iso(part.created_at),
    }


def _lines(quote: Quote | None) -> list[dict[str, Any]]:
    """The quote's parts with their options (one per part; a one-part quote has one)."""
    if quote is None:
        return []
    rows = list(getattr(quote, "lines", None) or [])
    if not rows:  # a quote stored before quotes had lines
        rows = [quote]
    return [{"part_id": row.part.public_id if row.part else None,
             "material": row.material_code, "colour": row.colour, "quantity": row.quantity,
             "infill_percent": row.infill_percent, "layer_height_mm": row.layer_height_mm}
            for row in rows]


def quote_data(quote: Quote) -> dict[str, Any]:
    return {
        "id": quote.public_id, "part_id": quote.part.public_id if quote.part else None,
        "lines": _lines(quote),
        "material": quote.material_code, "colour": quote.colour, "quantity": quote.quantity,
        "infill_percent": quote.infill_percent, "layer_height_mm": quote.layer_height_mm,
        "delivery": getattr(quote, "delivery", None), "express": getattr(quote, "express", None),
        "net_cents": quote.net_cents, "vat_cents": quote.vat_cents,
        "gross_cents": quote.gross_cents,
        "currency": (quote.breakdown or {}).get("currency") or "EUR",
        "delivery_date": quote.delivery_date.isoformat() if quote.delivery_date else None,
        "valid_until": iso(quote.valid_until), "created_at": iso(quote.created_at),
    }


def order_data(order: Order) -> dict[str, Any]:
    quote = order.quote
    gross = getattr(order, "gross_cents", None)
    return {
        "id": order.public_id, "number": order.number,
        "quote_id": quote.public_id if quote else None,
        "part_id": order.part.public_id if order.part else None,
        "lines": _lines(quote),
        "quantity": sum(line["quantity"] for line in _lines(quote)) if quote else None,
        "gross_cents": gross if gross is not None else (quote.gross_cents if quote else None),
        "delivery": order.delivery, "express": getattr(order, "express", None),
        "reference": order.reference,
        "due_date": order.due_date.isoformat() if order.due_date else None,
        "parcels": _parcels(order),
        "created_at": iso(order.created_at),
    }


def _parcels(order: Order) -> list[dict[str, Any]]:
    """The parcels it went in (order.shipped: carrier, tracking number and address)."""
    from marketplace.orders.operations import parcels_json  # (orders emit these events)

    return [{**parcel, "shipped_on": parcel["shipped_on"] and parcel["shipped_on"].isoformat()}
            for parcel in parcels_json(order)]


def part_analysed(part: Part) -> None:
    emit("part.analysed", {"part": part_data(part)}, firm_id=part.firm_id)


def quote_created(quote: Quote) -> None:
    emit("quote.created", {"quote": quote_data(quote)}, firm_id=quote.firm_id)


def order_placed(order: Order) -> None:
    emit("order.placed", {"order": order_data(order)}, firm_id=order.firm_id)


def order_status_changed(order: Order, before: str, after: str) -> None:
    emit("order.status_changed", {"order": order_data(order), "previous_status": before,
                                  "status": after}, firm_id=order.firm_id)


def order_shipped(order: Order) -> None:
    emit("order.shipped", {"order": order_data(order)}, firm_id=order.firm_id)


def invoice_issued(invoice: Any) -> None:
    corrects = invoice.corrects
    emit("invoice.issued", {"invoice": {
        "id": invoice.public_id, "number": invoice.number, "kind": invoice.kind,
        "order_number": invoice.order_number, "corrects": corrects.number if corrects else None,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
        "currency": invoice.currency, "net_cents": invoice.net_cents,
        "vat_cents": invoice.vat_cents, "gross_cents": invoice.gross_cents,
    }}, firm_id=invoice.firm_id)


def job_needs_attention(job: PrintJob, reason: str | None) -> None:
    order = job.order
    emit("job.needs_attention", {"job": {
        "id": job.public_id, "piece": job.copy_index,
        "order_number": order.number if order else None,
        "printer": job.printer.name if job.printer else None, "reason": reason,
    }}, firm_id=None)


def printer_state_changed(printer: Printer, before: str | None, after: str,
                          reason: str | None) -> None:
    emit("printer.state_changed", {"printer": {
        "id": printer.public_id, "name": printer.name, "previous_state": before,
        "state": after, "reason": reason,
    }}, firm_id=None)
