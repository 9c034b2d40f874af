"""`flask --app marketplace orders submit|show|handover`: orders taken by phone or e-mail, a
look at one, and handing its pieces over (which issues its invoice).

    flask --app marketplace orders submit a.stl b.3mf --firm "Muster GmbH" --quantity 3 --approve
    flask --app marketplace orders show DH-2026-000042 --json
    flask --app marketplace orders handover DH-2026-000042 [--shipped]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from marketplace.engine.meshio.units import USER_UNITS
from marketplace.engine.options import DEFAULTS, QUANTITY_MAX, SUPPORT_CHOICES
from marketplace.extensions import db
from marketplace.hubqueue import operations as hubqueue
from marketplace.invoices import operations as invoices
from marketplace.engine.pricing.delivery import DELIVERY_METHODS
from marketplace.jobs import DONE_STATES, InvalidTransitionError, StaleJobError, state_values
from marketplace.models import Firm, Order, Part, PartEstimate
from marketplace.orders import operations as orders
from marketplace.parts import operations as parts
from marketplace.portal.cli_parts import find_firm
from marketplace.quotes import operations as quotes
from marketplace.settings import operations as settings

ACTOR = "cli"
DONE = state_values(DONE_STATES)  # printed, and after: a job's real print time is known


@click.group("orders")
def orders_cli() -> None:
    """Orders taken by phone or e-mail."""


def _fail(message: str, code: int = 2) -> None:
    db.session.rollback()
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _forget(stored, firm) -> None:
    """Remove the parts this command stored (and the firm it made): no order, nothing left."""
    db.session.rollback()
    for part in stored:
        db.session.execute(sa.delete(PartEstimate).where(PartEstimate.part_id == part.id))
        db.session.execute(sa.delete(Part).where(Part.id == part.id))
    if firm is not None:
        db.session.execute(sa.delete(Firm).where(Firm.id == firm.id))
    db.session.commit()


@orders_cli.command("submit")
@click.argument("files", nargs=-1, required=True, metavar="FILE [FILE ...]",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--firm", "firm_name", required=True, help="Firm name (created if new).")
# numbers stay text here: the options schema (engine/options.py) checks them for every channel
@click.option("--material", default=DEFAULTS["material"], show_default=True)
@click.option("--colour", "--color", "colour", default=DEFAULTS["colour"], show_default=True)
@click.option("--quantity", default=str(DEFAULTS["quantity"]), show_default=True,
              help=f"1-{QUANTITY_MAX} (of each part)")
@click.option("--infill", default=str(DEFAULTS["infill"]), show_default=True, help="percent")
@click.option("--layer-height", default=str(DEFAULTS["layer_height"]), show_default=True,
              help="mm")
@click.option("--units", type=click.Choice(USER_UNITS), default=None,
              help="Units of the files (default: guessed from each file's size).")
@click.option("--supports", type=click.Choice(SUPPORT_CHOICES), default=DEFAULTS["supports"],
              show_default=True,
              help="auto: supports wherever a part needs them (priced); none: without.")
@click.option("--channel", type=click.Choice(["phone", "email"]), default="phone",
              show_default=True)
@click.option("--reference", default=None, help="The firm's order reference.")
@click.option("--delivery", type=click.Choice(DELIVERY_METHODS), default="pickup",
              show_default=True, help="Pickup at the hub or shipping to the firm's address.")
@click.option("--express", is_flag=True, help="Express: printed ahead of the queue, surcharge.")
@click.option("--approve", is_flag=True, help="Approve the order's jobs at once.")
@with_appcontext
def submit_command(files, firm_name, material, colour, quantity, infill, layer_height, units,
                   supports, channel, reference, delivery, express, approve) -> None:
    """Upload FILE(s) for a firm, quote them as one order (each part with the options given)
    and place it; print the order number.

    A part that is not printable (or fits no printer in service) is refused: exit 2, the
    reason on stderr, no order, nothing stored."""
    name = " ".join(firm_name.split())
    if not name:
        _fail("--firm must not be empty")
    contents = []
    for file in files:
        try:
            contents.append((file, file.read_bytes()))
        except OSError as exc:
            _fail(f"cannot read {file}: {exc.strerror or exc}")
    try:  # bad options are refused before anything is stored
        parsed = quotes.parse_options(
            {"material": material, "colour": colour, "quantity": quantity, "infill": infill,
             "layer_height": layer_height, "units": units, "supports": supports},
            settings.get_materials())
    except quotes.QuoteError as exc:
        _fail(_option_problem(exc))
    new_firm = find_firm(name, create=False) is None
    firm = find_firm(name, create=True)
    stored = []
    for file, data in contents:
        try:
            part = parts.store_upload(firm, None, file.name, data, queue=False)
        except parts.UploadError as exc:
            _forget(stored, firm if new_firm else None)
            _fail(f"{file.name}: " + (exc.message % exc.params if exc.params else exc.message))
        part.units = units
        stored.append(part)
    db.session.commit()  # the analysis claims the committed parts like any worker
    # analysed here and now (in a child process with the analysis limits), not by a worker
    timeout_s = 2 * float(current_app.config["ANALYSIS_TIMEOUT_S"]) + 30
    analysed = []
    for file, part in zip(files, stored, strict=True):
        part = parts.analyse_or_wait(part.id, timeout_s)
        if part.status != "ready":
            message = part.error_message or "not analysed in time"
            _forget(stored, firm if new_firm else None)  # no order taken: nothing stays behind
            _fail(f"{file.name}: {message}")
        analysed.append(part)
    try:
        items = []
        for file, part in zip(files, analysed, strict=True):
            try:
                items.append((part, _compute(part, parsed, timeout_s)))
            except quotes.QuoteError as exc:
                problem = _option_problem(exc) if exc.field != "part" else (
                    exc.message % exc.params if exc.params else exc.message)
                _forget(stored, firm if new_firm else None)
                _fail(f"{file.name}: {problem}")
        quote = quotes.store_lines(firm, items, delivery=delivery, express=express)
        order = orders.place_order(quote, placed_by=None, channel=channel, reference=reference,
                                   actor=ACTOR)
    except quotes.QuoteError as exc:
        _forget(stored, firm if new_firm else None)
        _fail(_option_problem(exc))
    except orders.OrderError as exc:
        _forget(stored, firm if new_firm else None)
        _fail(exc.message)
    except quotes.EstimatePendingError:
        _fail("the estimate was not made in time")
    if approve:
        orders.approve_order(order, ACTOR)
    db.session.commit()
    click.echo(order.number)


def _compute(part, options, timeout_s):
    """Price one part, making its estimate here if none is stored yet."""
    try:
        return quotes.compute(part, options)
    except quotes.EstimatePendingError as pending:
        db.session.commit()
        quotes.make_estimate_or_wait(pending.estimate_id, timeout_s)
        return quotes.compute(part, options)


def _option_problem(exc: quotes.QuoteError) -> str:
    text = exc.message % exc.params if exc.params else exc.message
    return f"--{exc.field.replace('_', '-')}: {text}"


def find_order(ident: str) -> Order | None:
    """Return the order with number or public id ``ident``."""
    ident = ident.strip()
    return db.session.scalar(
        sa.select(Order).where(sa.or_(Order.number == ident, Order.public_id == ident))
    )


def order_dict(order: Order) -> dict:
    """Return the order, its jobs (states, printers) and their events as JSON-safe data."""
    status = orders.status(order)
    quote = order.quote
    invoice = invoices.invoice_of_order(order)

    def when(value):
        return value.isoformat() + "Z" if value else None

    events = []
    jobs = []
    for job in order.jobs:
        job_events = [
            {"job": job.public_id, "at": when(e.at), "actor": e.actor, "from": e.from_state,
             "to": e.to_state, "reason": e.reason}
            for e in job.events
        ]
        events += job_events
        entry = {
            "id": job.public_id, "line": orders.line_position(order, job),
            "piece": job.copy_index, "state": job.state,
            "printer": job.printer.name if job.printer else None,
            "progress": job.progress_percent, "supports": job.supports,
            "quote": {"material_g": job.est_material_g, "print_time_s": job.est_print_time_s},
            "events": job_events,
        }
        if job.slicer_material_g is not None and job.slicer_print_time_s is not None:
            entry["slice"] = {"material_g": job.slicer_material_g,
                              "print_time_s": job.slicer_print_time_s,
                              "supports": bool((job.slicing or {}).get("supports", False))}
        if job.actual_print_time_s is not None and job.state in DONE:
            entry["actual"] = {"print_time_s": job.actual_print_time_s}
        jobs.append(entry)
    events.sort(key=lambda e: (e["at"] or "", e["job"]))
    return {
        "id": order.public_id, "number": order.number, "state": status.state,
        "firm": order.firm.name, "channel": order.channel, "delivery": order.delivery,
        "reference": order.reference, "leitweg_id": order.leitweg_id,
        "invoice": invoice.number if invoice else None, "created_at": when(order.created_at),
        "due_date": order.due_date.isoformat() if order.due_date else None,
        "express": bool(order.express), "ship_to": order.ship_to,
        "net_cents": order.total_net_cents, "vat_cents": order.total_vat_cents,
        "gross_cents": order.total_gross_cents,
        "part": {"id": order.part.public_id, "name": order.part.original_name,
                 "sha256": order.part.sha256},
        "lines": [{"position": line.position, "part": line.part.public_id,
                   "name": line.part.original_name, "material": line.material_code,
                   "colour": line.colour, "quantity": line.quantity,
                   "infill": line.infill_percent, "layer_height": line.layer_height_mm,
                   "units": line.units, "supports": line.supports,
                   "with_supports": line.with_supports, "material_g": line.material_g,
                   "print_time_s": line.print_time_s, "net_cents": line.net_cents,
                   "states": orders.line_counts(order, line)}
                  for line in quotes.lines_of(quote)],
        "quote": {"id": quote.public_id, "material": quote.material_code, "colour": quote.colour,
                  "quantity": quote.quantity, "infill": quote.infill_percent,
                  "layer_height": quote.layer_height_mm, "units": quote.units,
                  "supports": quote.supports, "with_supports": quote.with_supports,
                  "material_g": quote.material_g, "print_time_s": quote.print_time_s,
                  "net_cents": quote.net_cents, "vat_cents": quote.vat_cents,
                  "gross_cents": quote.gross_cents},
        "jobs": jobs, "events": events,
    }


@orders_cli.command("show")
@click.argument("ident")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def show_command(ident, as_json) -> None:
    """Show order IDENT (its number DH-… or its id): state, jobs, printers, events."""
    order = find_order(ident)
    if order is None:
        _fail(f"no order {ident!r}", 1)
    data = order_dict(order)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"{data['number']}  {data['firm']}  {data['state']}  "
               f"{', '.join(line['name'] for line in data['lines'])}")
    for line in data["lines"]:
        counts = ", ".join(f"{n} {state}" for state, n in line["states"].items())
        click.echo(f"  {line['position']}. {line['name']}: {line['quantity']} x "
                   f"{line['material']} ({counts})")
    for job in data["jobs"]:
        printer = job["printer"] or "-"
        click.echo(f"  piece {job['piece']}: {job['state']} on {printer}")
    for ev in data["events"]:
        why = f" ({ev['reason']})" if ev["reason"] else ""
        click.echo(f"  {ev['at']} {ev['actor']}: {ev['from'] or '-'} -> {ev['to']}{why}")


@orders_cli.command("handover")
@click.argument("ident")
@click.option("--shipped", is_flag=True, help="Shipped (default: picked up at the hub).")
@with_appcontext
def handover_command(ident, shipped) -> None:
    """Hand the finished pieces of order IDENT over (picked up, or --shipped) and issue its
    invoice once no piece is left in production; print the invoice number."""
    order = find_order(ident)
    if order is None:
        _fail(f"no order {ident!r}", 1)
    try:
        done = hubqueue.hand_over_finished(order, shipped=shipped, actor=ACTOR)
        db.session.commit()
    except hubqueue.QueueError as exc:
        _fail(str(exc))
    except (StaleJobError, InvalidTransitionError):
        _fail("the order changed at the same time; try again", 1)
    if done.invoice is not None:
        click.echo(done.invoice.number)
        return
    waiting = sum(1 for job in order.jobs
                  if job.state not in invoices.HANDED_OVER + invoices.DROPPED)
    click.echo(f"{done.pieces} piece(s) handed over; {waiting} still in production: the invoice "
               "follows with the last handover", err=True)
