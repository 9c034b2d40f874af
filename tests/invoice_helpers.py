"""Test data for the invoice tests: orders priced like the engine prices them, printed."""

from __future__ import annotations

import itertools

from marketplace.extensions import db
from marketplace.jobs import record_created, transition
from marketplace.models import Firm, Order, Part, PrintJob, Quote
from marketplace.settings import operations as settings

_seq = itertools.count(1)
LEGAL = {
    "legal_name": "Druckhub Lüneburg GmbH", "register_court": "Amtsgericht Lüneburg",
    "register_number": "HRB 123456", "vat_id": "DE 136 695 976", "tax_number": "",
    "managing_director": "Erika Mustermann", "iban": "DE89 3704 0044 0532 0130 00",
    "bic": "COBADEFFXXX", "bank_name": "Commerzbank", "payment_days": "14",
}
ADDRESS = {"name": "Druckhub Lüneburg", "street": "Am Sande 1", "postcode": "21335",
           "city": "Lüneburg", "phone": "+49 4131 123456", "email": "rechnung@druckhub.de"}


def complete_legal_details() -> None:
    """Store a complete set of address and legal details (commits)."""
    settings.set_hub_address(ADDRESS)
    settings.set_hub_legal(LEGAL)
    db.session.commit()


PRINTED_PATH = ("approved", "queued", "dispatching", "printing", "printed")


def make_firm(name: str | None = None, **fields) -> Firm:
    values = dict(name=name or f"Kunde {next(_seq)} GmbH", street="Bahnhofstraße 5",
                  postcode="21337", city="Lüneburg", country="DE", vat_id="DE136695976",
                  contact_name="Max Muster", invoice_email="buchhaltung@kunde.example")
    values.update(fields)
    firm = Firm(**values)
    db.session.add(firm)
    db.session.flush()
    return firm


def breakdown(quantity: int, *, material: int = 1234, machine: int = 2567, setup: int = 500,
              discount_percent: int = 0, minimum: int = 0, vat_percent: int = 19) -> dict:
    """A quote's price as the engine stores it (``Price.to_dict()``'s shape, cents)."""
    lines = [
        {"code": "material", "amount_cents": material,
         "params": {"material": "PLA", "quantity": quantity, "grams": {"num": 12.5, "places": 1},
                    "price_per_kg": {"money": 3000}}},
        {"code": "machine", "amount_cents": machine,
         "params": {"quantity": quantity, "time": {"duration": 3600}, "rate": {"money": 300},
                    "printer_class": "standard"}},
        {"code": "setup", "amount_cents": setup, "params": {}},
    ]
    if discount_percent:
        off = round((material + machine) * discount_percent / 100)
        lines.append({"code": "discount", "amount_cents": -off,
                      "params": {"percent": {"percent": discount_percent}, "quantity": 10}})
    subtotal = sum(line["amount_cents"] for line in lines)
    if subtotal < minimum:
        lines.append({"code": "minimum", "amount_cents": minimum - subtotal,
                      "params": {"minimum": {"money": minimum}}})
    net = sum(line["amount_cents"] for line in lines)
    vat = round(net * vat_percent / 100)
    return {"currency": "EUR", "quantity": quantity, "net_cents": net, "vat_cents": vat,
            "gross_cents": net + vat, "vat_percent": vat_percent, "lines": lines}


def make_priced_order(firm: Firm | None = None, *, quantity: int = 3, reference: str | None = None,
                      delivery: str = "pickup", part_name: str = "Halter.stl",
                      **price) -> Order:
    """An order of ``quantity`` pieces with a realistic price, every job received."""
    firm = firm or make_firm()
    n = next(_seq)
    price = breakdown(quantity, **price)
    part = Part(firm=firm, original_name=part_name, sha256=f"{n:064x}", file_format="stl",
                size_bytes=1234, status="ready", analysis={"bbox_mm": [40, 30, 20]})
    quote = Quote(firm=firm, part=part, material_code="PLA", colour="Schwarz",
                  quantity=quantity, material_g=12.5, print_time_s=3600,
                  net_cents=price["net_cents"], vat_cents=price["vat_cents"],
                  gross_cents=price["gross_cents"], breakdown=price)
    order = Order(firm=firm, quote=quote, part=part, number=f"DH-2026-{900000 + n:06d}",
                  reference=reference, delivery=delivery)
    db.session.add_all([part, quote, order])
    db.session.flush()
    for i in range(quantity):
        record_created(PrintJob(order=order, part=part, copy_index=i + 1, material_code="PLA",
                                colour="Schwarz", state="received"), actor="test")
    db.session.flush()
    return order


def print_pieces(order: Order, count: int | None = None) -> None:
    """Move ``count`` (default: all) of the order's received pieces to printed."""
    for job in order.jobs[:count]:
        for state in PRINTED_PATH:
            transition(job, state, actor="test")
