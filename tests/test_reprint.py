"""The reprint ("Neu drucken") without a printer: what the dispatcher does once the printer
has stopped, a cancel that withdraws the reprint meanwhile, what the firm and the board see
(review of the eleventh sitting). The real reprint on an OctoPrint server: test_hub_control."""

from __future__ import annotations

from flask import current_app

from marketplace import jobs
from marketplace.extensions import db
from marketplace.hub import board
from marketplace.hubqueue import operations as q
from marketplace.models import Printer, PrintJob, utcnow
from marketplace.orders import operations as orders
from printers import control, following, reconcile
from printers.polling import Timeouts
from tests.hub_factories import make_order, make_printer

STOPPED = reconcile.Decision(reconcile.CANCELLED, "cancelled at the technician's request",
                             bed_used=True)


def _stopping(cause="adhesion", quantity=1):
    """An order whose first piece is being stopped at its printer (to print again: cause)."""
    printer = make_printer(state="printing", last_seen_at=utcnow())
    order = make_order(quantity=quantity, part_name="winkel.stl")
    job = order.jobs[0]
    for state in ("approved", "queued", "dispatching"):
        jobs.transition(job, state, actor="test")
    jobs.transition(job, "printing", actor="dispatcher", printer_id=printer.id,
                    remote_filename="dh-1.gcode")
    jobs.transition(job, "cancelling", actor="tech@hub",
                    data={"printer": printer.name, jobs.REPRINT: cause} if cause else None)
    db.session.commit()
    return order, job, printer


def _printer_stopped(job):
    """What the dispatcher does once the printer says the print has stopped."""
    following.apply_decision(None, job, STOPPED, None, None,
                             Timeouts.from_config(current_app.config))
    db.session.commit()
    db.session.expire_all()
    return db.session.get(PrintJob, job.id)


def test_a_reprint_goes_back_to_the_queue_and_the_firm_sees_it_printing(app):
    order, job, printer = _stopping()
    assert jobs.reprint_cause(job) == "adhesion"
    assert orders.status(order).state == "printing"  # not "Wird abgebrochen"
    job = _printer_stopped(job)
    assert job.state == "queued" and job.printer_id is None
    printer = db.session.get(Printer, printer.id)
    assert printer.state == "bed_to_clear"
    assert printer.state_reason == f"job {job.public_id}: {following.AGAIN}"
    [card] = board.board(30)  # the card names the piece that left the bed, now queued
    assert card["job"]["id"] == job.public_id and card["job"]["state"] == "queued"
    assert card["reason_names"] == {job.public_id: f"{order.number} · winkel.stl 1/1"}


def test_an_order_cancelled_while_its_piece_stops_ends_cancelled_not_queued(app):
    order, job, printer = _stopping(quantity=2)
    assert q.cancel_order(order, "tech@hub", "Kunde storniert") == 2
    db.session.commit()
    assert job.state == "cancelling" and jobs.reprint_cause(job) is None
    job = _printer_stopped(job)
    assert job.state == "cancelled"
    assert db.session.get(Printer, printer.id).state == "bed_to_clear"
    assert [j.state for j in order.jobs] == ["cancelled", "cancelled"]


def test_a_cancel_while_a_reprint_stops_withdraws_it(app):
    _order, job, printer = _stopping()
    control.cancel_job(job, "tech@hub")
    db.session.commit()
    assert job.state == "cancelling" and jobs.reprint_cause(job) is None
    assert _printer_stopped(job).state == "cancelled"


def test_a_cancel_of_a_print_still_stopping_leaves_the_bed_to_clear(app):
    """A cancel in cancelling (the API's, the job page's) ended the piece at once, and the
    printer, no longer followed, was soon available again with the failed print on its bed."""
    _order, job, printer = _stopping(cause=None)
    control.cancel_job(job, "tech@hub")
    db.session.commit()
    assert job.state == "cancelled"
    printer = db.session.get(Printer, printer.id)
    assert printer.state == "bed_to_clear" and job.public_id in printer.state_reason
