"""Acceptance: an order placed in the portal and approved in the console is sliced, printed on a
virtual printer and shown as printed to the firm, all through the web routes."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from octoprint_farm import (  # noqa: F401  (fixtures)
    add_printer,
    box_stl,
    dispatch_settings,
    farm,
    idle_farm,
    tick_until,
)

from marketplace.extensions import db
from marketplace.models import JobEvent, Order, PrintJob
from printers.dispatcher import Dispatcher

# the dispatcher's guard holds a connection of its own; a dispatcher may run in a subprocess
pytestmark = [pytest.mark.octoprint, pytest.mark.slicer, pytest.mark.commits]


@pytest.fixture(autouse=True)
def _settings(dispatch_settings):
    """Short timeouts; the quote-vs-slicer check stays on at the hub's default threshold."""
    dispatch_settings["SLICER_DIFF_THRESHOLD"] = 0.25


def test_order_from_portal_to_printed(idle_farm, add_printer, make_user, client, login_as, app):
    firm_user = make_user("firm")
    technician = make_user("technician")
    server = idle_farm[0]
    # the production profile: PrusaSlicer's figures are compared with the quote's estimate
    printer = add_printer(server, name="Prusa MK3S 1", colour="black",
                          slicer_profile="mk3s-pla-0.2mm")

    # the firm uploads a part, asks for a quote and orders it
    login_as(firm_user)
    resp = client.post("/parts", data={"files": (io.BytesIO(box_stl(12, 12, 4)), "Halter.stl")},
                       content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    part_url = resp.get_json()["parts"][0]["url"]
    resp = client.post(part_url + "/quote", data={"material": "PLA", "colour": "any",
                                                  "quantity": "1", "infill": "15",
                                                  "layer_height": "0.2"})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    quote_url = resp.headers["Location"]
    resp = client.post(quote_url + "/order", data={"delivery": "pickup", "reference": "PO-7"})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    order = db.session.scalar(sa.select(Order))
    job = db.session.scalar(sa.select(PrintJob).where(PrintJob.order_id == order.id))
    assert job.state == "received"

    # a technician approves it in the console
    login_as(technician)
    resp = client.post(f"/hub/orders/{order.public_id}/approve")
    assert resp.status_code in (302, 303)
    db.session.expire_all()
    assert db.session.get(PrintJob, job.id).state == "approved"

    # the dispatcher slices, dispatches and follows the print to the end
    dispatcher = Dispatcher(app.config)
    try:
        tick_until(dispatcher, lambda: db.session.get(PrintJob, job.id).state == "printed", 120,
                   "printed")
    finally:
        dispatcher.close()
    job = db.session.get(PrintJob, job.id)
    assert job.printer_id == printer.id and job.slicing["profile"] == "mk3s-pla-0.2mm"
    assert job.slicer_material_g > 0 and job.est_material_g > 0
    assert job.actual_print_time_s is not None
    assert server.file_info(job.remote_filename)["prints"]["success"] == 1
    steps = [e.to_state for e in db.session.scalars(
        sa.select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id))]
    assert steps[:4] == ["received", "approved", "queued", "dispatching"]
    assert steps[-1] == "printed"

    # the firm sees it printed
    login_as(firm_user)
    status = client.get(f"/orders/{order.public_id}/status").get_json()
    assert status["state"] == "printed"
    printed_step = next(s for s in status["steps"] if s["key"] == "printed")
    assert printed_step["done"] == 1 and printed_step["at"]
    page = client.get(f"/orders/{order.public_id}")
    assert page.status_code == 200 and order.number in page.get_data(as_text=True)
