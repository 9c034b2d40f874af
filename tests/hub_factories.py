"""Test data for the hub console's tests: firms, orders with their jobs, printers.

Rows are built with the models directly (one PrintJob per piece, logged by
``jobs.record_created``), the same shape the portal's ``place_order`` produces.
"""

from __future__ import annotations

import itertools

from marketplace.extensions import db
from marketplace.jobs import record_created
from marketplace.models import Firm, Order, Part, Printer, PrintJob, Quote

_seq = itertools.count(1)


def make_firm(name: str | None = None) -> Firm:
    firm = Firm(name=name or f"Firma {next(_seq)} GmbH", street="Am Sande 1",
                postcode="21335", city="Lüneburg")
    db.session.add(firm)
    db.session.flush()
    return firm


def make_order(
    firm: Firm | None = None,
    *,
    quantity: int = 1,
    material_code: str = "PLA",
    colour: str = "any",
    print_time_s: int = 3600,
    material_g: float = 25.0,
    part_name: str = "halter.stl",
    bbox_mm: tuple[float, float, float] | None = (40.0, 30.0, 20.0),
    priority: int = 0,
    actor: str = "test",
) -> Order:
    """Make an order of ``quantity`` pieces, every job in state received."""
    firm = firm or make_firm()
    n = next(_seq)
    analysis = {"bbox_mm": list(bbox_mm)} if bbox_mm else None
    part = Part(firm=firm, original_name=part_name, sha256=f"{n:064x}", file_format="stl",
                size_bytes=1234, status="ready", analysis=analysis)
    quote = Quote(firm=firm, part=part, material_code=material_code, colour=colour,
                  quantity=quantity, material_g=material_g, print_time_s=print_time_s,
                  net_cents=1000 * quantity, vat_cents=190 * quantity,
                  gross_cents=1190 * quantity, breakdown={"lines": []})
    order = Order(firm=firm, quote=quote, part=part, number=f"DH-2026-{n:06d}")
    db.session.add_all([part, quote, order])
    db.session.flush()
    for i in range(quantity):
        job = PrintJob(order=order, part=part, copy_index=i + 1, material_code=material_code,
                       colour=colour, est_material_g=material_g, est_print_time_s=print_time_s,
                       priority=priority, state="received")
        record_created(job, actor=actor)
    db.session.flush()
    return order


def make_printer(name: str | None = None, **fields) -> Printer:
    n = next(_seq)
    values = dict(name=name or f"MK3S-{n}", url=f"http://127.0.0.1:{5000 + n}",
                  api_key=f"secret-key-{n}", state="available", material_code="PLA",
                  colour="Schwarz")
    values.update(fields)
    printer = Printer(**values)
    db.session.add(printer)
    db.session.flush()
    return printer
