"""The console on real OctoPrint servers: approve in the queue, the dispatcher prints, the
printers board shows it live, pause/resume/cancel from the printers page, confirm the bed clear.
Everything a technician does goes through the console's routes (test client, real HTTP to
OctoPrint from the printers helper's code)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from octoprint_farm import (  # noqa: F401  (fixtures)
    add_printer,
    box_stl,
    dispatch_settings,
    dispatcher,
    farm,
    idle_farm,
    make_job,
    tick_until,
    wait_for,
)

from marketplace.extensions import db
from marketplace.models import JobEvent, PrintJob

# the dispatcher's guard holds a connection of its own; a dispatcher may run in a subprocess
pytestmark = [pytest.mark.octoprint, pytest.mark.slicer, pytest.mark.commits]


@pytest.fixture(autouse=True)
def _settings(dispatch_settings):
    """Short timeouts (autouse: applied before the app is created)."""


@pytest.fixture
def tech(client, make_user, login_as):
    login_as(make_user("technician", email="tech@hub.de"))
    return client


def reload(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def _card(tech, printer):
    cards = tech.get("/api/v1/hub/printers").json["printers"]
    return next(c for c in cards if c["id"] == printer.public_id)


def test_approved_in_the_console_printed_and_bed_cleared(idle_farm, add_printer, make_job,
                                                         dispatcher, tech):
    server = idle_farm[0]
    printer = add_printer(server)
    job = make_job(state="received")
    html = tech.get("/hub/").get_data(True)
    assert job.order.public_id in html
    assert tech.post(f"/hub/orders/{job.order.public_id}/approve").status_code == 302
    assert reload(job).state == "approved"
    tick_until(dispatcher, lambda: reload(job).state in ("printing", "printed"), 60, "printing")

    def card_with_temperatures():  # OctoPrint reports temperatures up to 2 s after connecting
        card = _card(tech, printer)
        return card if any(t["name"] == "tool0" for t in card["temperatures"]) else None

    card = tick_until(dispatcher, card_with_temperatures, 30, "temperatures from the printer")
    assert card["state"] in ("printing", "bed_to_clear")
    tick_until(dispatcher, lambda: reload(job).state == "printed", 60, "printed")
    printer = reload(printer)
    assert printer.state == "bed_to_clear"
    card = _card(tech, printer)
    assert card["can_clear_bed"] and card["job"]["id"] == job.public_id
    assert tech.post(f"/hub/printers/{printer.public_id}/bed-clear").status_code == 302
    assert reload(printer).state in ("available", "unknown")
    page = tech.get(f"/hub/jobs/{job.public_id}").get_data(True)
    assert "test-fast" in page  # the slicer profile the dispatcher used
    attempts = page[page.index("data-attempts"):]
    assert printer.name in attempts and "printed" in attempts
    history = tech.get(f"/hub/printers/{printer.public_id}/edit").get_data(True)
    assert "data-printer-history" in history and "tech@hub.de" in history
    events = db.session.scalars(sa.select(JobEvent).where(JobEvent.job_id == job.id)
                                .order_by(JobEvent.id)).all()
    assert ("tech@hub.de", "approved") in [(e.actor, e.to_state) for e in events]
    assert events[-1].to_state == "printed"


def test_pause_resume_cancel_from_the_printers_page(idle_farm, add_printer, make_job,
                                                    dispatcher, tech):
    server = idle_farm[1]
    printer = add_printer(server)
    job = make_job(stl=box_stl(20, 20, 20))  # about 20 s on the virtual printer
    tick_until(dispatcher, lambda: reload(job).state == "printing", 60, "printing")
    assert _card(tech, printer)["can_pause"]

    tech.post(f"/hub/printers/{printer.public_id}/job/pause")
    wait_for(lambda: server.job()["state"] == "Paused", 20, "paused at OctoPrint")
    assert reload(job).state == "paused"
    assert _card(tech, printer)["can_resume"]

    tech.post(f"/hub/printers/{printer.public_id}/job/resume")
    wait_for(lambda: server.job()["state"] == "Printing", 20, "printing again")
    assert reload(job).state == "printing"

    page = tech.post(f"/hub/printers/{printer.public_id}/job/cancel", follow_redirects=True)
    assert "Druck abgebrochen" in page.get_data(True)
    assert reload(job).state == "cancelling"
    tick_until(dispatcher, lambda: reload(job).state == "cancelled", 30, "cancelled")
    assert reload(printer).state == "bed_to_clear"
    actors = {(e.to_state, e.actor) for e in db.session.scalars(
        sa.select(JobEvent).where(JobEvent.job_id == job.id))}
    assert {("paused", "tech@hub.de"), ("cancelling", "tech@hub.de")} <= actors
    # nothing left to control: a clear message, no error page
    again = tech.post(f"/hub/printers/{printer.public_id}/job/pause", follow_redirects=True)
    assert again.status_code == 200 and "druckt gerade keinen Auftrag" in again.get_data(True)
    # no automatic reprint: still the one job, cancelled
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PrintJob)) == 1


def test_a_print_going_wrong_is_cancelled_and_printed_again(idle_farm, add_printer, make_job,
                                                             dispatcher, tech):
    """Noticed in the tenth sitting: the card's only way to stop a print that goes wrong
    (spaghetti, a loose part) cancelled the firm's piece and mailed the firm. "Neu drucken"
    cancels the print at OctoPrint and puts the piece back in the queue; the try is recorded,
    the bed waits to be cleared, then the piece prints again; no cancel reaches the firm."""
    from marketplace.models import DispatchAttempt, Notification

    server = idle_farm[0]
    printer = add_printer(server)
    job = make_job(stl=box_stl(20, 20, 20))  # about 20 s on the virtual printer
    tick_until(dispatcher, lambda: reload(job).state == "printing", 60, "printing")
    card = _card(tech, printer)
    assert card["can_reprint"] and 'data-control="reprint"' in card["html"]
    assert "Die Firma erhält keine Storno-Mail." in card["html"]
    assert 'name="cause"' in card["html"] and "Haftung am Druckbett verloren" in card["html"]
    unknown = tech.post(f"/hub/printers/{printer.public_id}/job/reprint", data={"cause": "x"},
                        follow_redirects=True)
    assert "Unbekannter Grund." in unknown.get_data(True) and reload(job).state == "printing"

    page = tech.post(f"/hub/printers/{printer.public_id}/job/reprint",
                     data={"cause": "adhesion"}, follow_redirects=True)
    assert "zurück in die Warteschlange" in page.get_data(True)
    assert reload(job).state == "cancelling"
    wait_for(lambda: server.job()["state"] in ("Operational", "Cancelling"), 20,
             "cancelled at OctoPrint")
    tick_until(dispatcher, lambda: reload(job).state in ("queued", "dispatching", "printing"),
               30, "back in the queue")
    job = reload(job)
    assert job.state == "queued" and job.printer_id is None  # the one printer's bed waits
    assert reload(printer).state == "bed_to_clear"
    first = db.session.scalars(sa.select(DispatchAttempt).where(
        DispatchAttempt.job_id == job.id)).all()
    assert [(a.outcome, a.detail) for a in first] == [("cancelled", "reprint: adhesion")]
    reasons = [e.reason for e in db.session.scalars(
        sa.select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id))]
    assert "cancelled at the printer, to be printed again" in reasons
    assert not db.session.scalars(sa.select(Notification).where(
        Notification.kind.in_(("order:cancelled", "order:cancelled_partly")))).all()
    history = tech.get(f"/hub/jobs/{job.public_id}").get_data(True)
    assert "Am Drucker abgebrochen; wird neu gedruckt" in history
    assert "Abgebrochen, um neu zu drucken: Haftung am Druckbett verloren" in history
    dashboard = tech.get("/hub/dashboard").get_data(True)  # the failed try counts, with why
    assert f'data-reprint="{printer.name}:adhesion"' in dashboard
    assert 'data-kpi="failed">1<' in dashboard

    assert tech.post(f"/hub/printers/{printer.public_id}/bed-clear").status_code == 302
    tick_until(dispatcher, lambda: reload(job).state == "printing", 60, "printing again")
    assert reload(job).attempt == first[0].attempt + 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PrintJob)) == 1
