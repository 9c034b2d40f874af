"""Why a job waits (printers.waiting): the pure rules, and the same words on the console's
queue, the dashboard and the JSON."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace.extensions import db
from marketplace.jobs import transition
from marketplace.models import PrintJob
from printers import matching, waiting
from tests.hub_factories import make_order, make_printer


def need(job_id=1, **kw):
    values = dict(material_code="PETG", colour="Schwarz", nozzle_mm=0.4, bbox_mm=(20, 20, 20),
                  profile="mk3s")
    values.update(kw)
    return matching.JobNeed(job_id=job_id, **values)


def view(printer_id=1, state="available", occupied=False, **kw):
    values = dict(name=f"P{printer_id}", material_code="PETG", colour="Schwarz", nozzle_mm=0.4,
                  build_mm=(250, 210, 210), profile="mk3s")
    values.update(kw)
    return waiting.PrinterView(matching.PrinterOffer(printer_id=printer_id, **values), state,
                               occupied)


@pytest.mark.db_independent
@pytest.mark.parametrize("job_kw,printers,code", [
    ({}, [], waiting.NO_PRINTER),
    ({}, [view()], waiting.NEXT),
    ({"bbox_mm": (300, 20, 20)}, [view(colour="Rot")], waiting.TOO_LARGE),
    ({}, [view(colour="Rot"), view(2, material_code="PLA")], waiting.NO_MATERIAL),
    ({}, [view(colour="black")], waiting.NO_MATERIAL),  # free text is no catalogue entry
    ({"profile": "large"}, [view()], waiting.NO_PROFILE),
    ({}, [view(state="maintenance"), view(2, colour="Rot")], waiting.MAINTENANCE),
    ({}, [view(state="offline"), view(2, state="unknown")], waiting.OFFLINE),
    ({}, [view(state="printing"), view(2, state="bed_to_clear"), view(3, state="maintenance")],
     waiting.BUSY),
    ({}, [view(occupied=True)], waiting.BUSY),
    ({"requested_printer_id": 2}, [view(), view(2, colour="Rot")], waiting.REQUESTED_PRINTER),
    ({"requested_printer_id": 1}, [view(state="printing"), view(2)], waiting.BUSY),
])
def test_reason_for_a_queued_job(job_kw, printers, code):
    assert waiting.reason_for("queued", need(**job_kw), printers, sliced=True).code == code


@pytest.mark.db_independent
def test_before_slicing_the_part_may_turn_and_any_profile_will_do():
    printers = [view(build_mm=(250, 210, 210), profile="mk3s", nozzle_mm=0.4)]
    turned = need(bbox_mm=(200, 240, 50), profile="", nozzle_mm=0.0)
    assert waiting.reason_for("approved", turned, printers, sliced=False).code == waiting.SLICING
    assert waiting.reason_for("received", turned, printers,
                              sliced=False).code == waiting.AWAITING_APPROVAL
    assert waiting.reason_for("queued", turned, printers, sliced=True).code == waiting.TOO_LARGE
    # a blocker shows before approval too, so nobody approves work that cannot print
    assert waiting.reason_for("received", need(colour="Blau"), printers,
                              sliced=False).code == waiting.NO_MATERIAL


def test_reason_words_in_german_and_english(app):
    from marketplace.i18n import force_locale

    reason = waiting.Reason(waiting.NO_MATERIAL, {"material": "PETG", "colour": "Schwarz"})
    any_colour = waiting.Reason(waiting.NO_MATERIAL, {"material": "TPU", "colour": ""})
    with app.test_request_context():
        assert reason.text() == "Kein Drucker hat PETG Schwarz geladen"
        assert any_colour.text() == "Kein Drucker hat TPU geladen"
        assert waiting.Reason(waiting.BUSY).text() == "Alle passenden Drucker belegt"
        with force_locale("en"):
            assert reason.text() == "No printer has PETG Black loaded"


def _queued(order, profile="mk3s-pla-0.2mm", bbox=(20.0, 20.0, 10.0)):
    for job in order.jobs:
        transition(job, "approved", actor="test")
        transition(job, "queued", actor="test", gcode_sha256="0" * 64,
                   slicing={"profile": profile, "nozzle_mm": 0.4, "bbox_mm": list(bbox)})
    return order


@pytest.fixture
def tech(client, make_user, login_as):
    login_as(make_user("technician", email="tech@hub.de"))
    return client


def test_console_dashboard_and_json_say_why(tech):
    make_printer("MK3S-PLA", material_code="PLA", colour="Schwarz", state="printing")
    make_printer("MK3S-OLD", material_code="PETG", colour="black", state="available")
    petg = _queued(make_order(quantity=2, material_code="PETG", colour="Schwarz"))
    pla = _queued(make_order(quantity=1, material_code="PLA", colour="Schwarz"))
    db.session.commit()

    html = tech.get("/hub/?tab=queued").get_data(True)
    row = html[html.index(f'data-number="{petg.number}"'):]
    row = row[:row.index("</tr>")]
    assert "Kein Drucker hat PETG Schwarz geladen" in row
    row = html[html.index(f'data-number="{pla.number}"'):]
    assert "Alle passenden Drucker belegt" in row[:row.index("</tr>")]

    dashboard = tech.get("/hub/dashboard").get_data(True)
    card = dashboard[dashboard.index("data-waiting>"):]
    card = card[:card.index("</section>")]
    assert 'data-waiting-reason="no_material"' in card
    assert "Kein Drucker hat PETG Schwarz geladen</td><td class=\"num\">2<" in card
    assert "Alle passenden Drucker belegt</td><td class=\"num\">1<" in card

    page = tech.get(f"/hub/jobs/{petg.jobs[0].public_id}").get_data(True)
    assert 'data-why="no_material"' in page and "Kein Drucker hat PETG Schwarz geladen" in page

    data = tech.get("/api/v1/hub/queue/waiting").get_json()
    assert [(c["code"], c["pieces"]) for c in data["counts"]] == [("no_material", 2),
                                                                  ("busy", 1)]
    by_job = {j["id"]: j["reason"] for j in data["jobs"]}
    assert by_job[petg.jobs[0].public_id]["text"] == "Kein Drucker hat PETG Schwarz geladen"
    assert by_job[petg.jobs[0].public_id]["blocked"] is True


def test_a_printer_picked_from_the_catalogue_takes_the_job(tech):
    """The PETG/Schwarz job that waited for ever behind a printer set up as "black" goes to the
    next free printer once the technician picks the catalogue's colour in the form."""
    printer = make_printer("MK3S-OLD", material_code="PETG", colour="black", state="available",
                           slicer_profile="mk3s-pla-0.2mm")
    order = _queued(make_order(material_code="PETG", colour="Schwarz"))
    db.session.commit()
    job = order.jobs[0]
    assert waiting.reasons_for([job])[job.id].code == waiting.NO_MATERIAL
    response = tech.post(f"/hub/printers/{printer.public_id}/edit", data={
        "name": printer.name, "url": printer.url, "api_key": "", "printer_class": "standard",
        "build_x_mm": "250", "build_y_mm": "210", "build_z_mm": "210", "nozzle_mm": "0.4",
        "material_code": "PETG", "colour": "Schwarz", "slicer_profile": "mk3s-pla-0.2mm"})
    assert response.status_code == 302, response.get_data(True)
    db.session.expire_all()
    job = db.session.scalar(sa.select(PrintJob).where(PrintJob.id == job.id))
    assert waiting.reasons_for([job])[job.id].code == waiting.NEXT
    html = tech.get("/hub/?tab=queued").get_data(True)
    assert "Geht an den nächsten freien Drucker" in html


def test_printers_load_records_a_catalogue_spool(app, runner):
    printer = make_printer("MK3S-L", material_code="PLA", colour="black")
    db.session.commit()
    listing = runner.invoke(args=["printers", "list"])
    assert "black(?)" in listing.output and "not in the material's catalogue" in listing.output
    ok = runner.invoke(args=["printers", "load", "MK3S-L", "--material", "petg",
                             "--colour", "white"])
    assert ok.exit_code == 0, ok.output
    assert "PETG Weiß loaded" in ok.output
    db.session.expire_all()
    assert (printer.material_code, printer.colour) == ("PETG", "Weiß")
    bad = runner.invoke(args=["printers", "load", "MK3S-L", "--colour", "Grün"])
    assert bad.exit_code == 2 and "gibt es für PETG im Katalog nicht" in bad.output
    assert runner.invoke(args=["printers", "load", "nope", "--colour", "Weiß"]).exit_code == 2
    db.session.expire_all()
    assert printer.colour == "Weiß"


def test_a_part_analysed_in_inches_is_not_scaled_twice(app):
    """A part read in inches holds millimetres already (its analysis' scale_to_mm is 25.4);
    its jobs' scale 25.4 must not multiply them again (before: 50.8 mm became 1290 mm, the
    piece waited for a printer large enough for ever and could not be assigned)."""
    from marketplace.hubqueue import operations as hubqueue
    from marketplace.scheduling.planning import part_bbox_mm, part_hull_mm

    order = make_order(bbox_mm=None)
    part = order.jobs[0].part
    part.analysis = {"mesh": {"units": "inch", "scale_to_mm": 25.4},
                     "orientation": {"bbox_mm": [50.8, 50.8, 25.4],
                                     "hull_mm": [[0, 0, 0], [50.8, 0, 0], [0, 50.8, 0],
                                                 [0, 0, 25.4], [50.8, 50.8, 25.4]]}}
    job = order.jobs[0]
    job.scale = 25.4
    printer = make_printer()
    db.session.flush()
    assert part_bbox_mm(part.analysis, 25.4) == pytest.approx((50.8, 50.8, 25.4))
    assert part_bbox_mm(part.analysis, 1.0) == pytest.approx((2.0, 2.0, 1.0))  # read in mm
    assert part_hull_mm(part.analysis, 25.4).max(axis=0) == pytest.approx((50.8, 50.8, 25.4))
    need, _ = waiting.need_of(job)
    assert need.bbox_mm == pytest.approx((50.8, 50.8, 25.4))
    transition(job, "approved", actor="test")
    assert hubqueue.assign_printer([job], printer, "test") == 1


@pytest.mark.db_independent
def test_the_spool_to_load_is_named_on_a_printer_of_the_jobs_kind():
    """Only the large printer (another nozzle and profile) has PETG Schwarz: the job sliced
    for the standard profile waits for PETG Schwarz on a standard printer (it once said "no
    printer with nozzle 0.4 mm and profile mk3s", though two have them). Before slicing, a job
    priced for a class needs that class's profile (as slicing will pick it); without one,
    any printer will do."""
    printers = [view(1, colour="Rot"), view(2, material_code="PLA"),
                view(3, nozzle_mm=0.6, profile="large", build_mm=(400, 400, 400))]
    assert waiting.reason_for("queued", need(), printers, sliced=True).code == waiting.NO_MATERIAL
    standard = need(nozzle_mm=0.4, profile="mk3s")
    assert waiting.reason_for("approved", standard, printers,
                              sliced=False).code == waiting.NO_MATERIAL
    anyone = need(nozzle_mm=0.0, profile="")
    assert waiting.reason_for("approved", anyone, printers, sliced=False).code == waiting.SLICING
    # no printer of the job's kind at all
    assert waiting.reason_for("queued", need(profile="other"), printers,
                              sliced=True).code == waiting.NO_PROFILE


def test_an_unsliced_job_waits_for_its_printer_class(tech):
    """A job priced for the standard class, approved, not sliced: the standard printer has
    PLA loaded, the large one PETG Schwarz. It waits for PETG Schwarz on a standard printer,
    on the queue and in the JSON (it once said it was being prepared, then after slicing
    named a profile)."""
    make_printer("MK3S-PLA", material_code="PLA", colour="Schwarz", state="available",
                 printer_class="standard", slicer_profile="mk3s-pla-0.2mm", nozzle_mm=0.4)
    make_printer("BIG-PETG", material_code="PETG", colour="Schwarz", state="available",
                 printer_class="large", slicer_profile="large-pla-0.6n", nozzle_mm=0.6,
                 build_x_mm=400, build_y_mm=400, build_z_mm=400)
    order = make_order(quantity=1, material_code="PETG", colour="Schwarz")
    job = order.jobs[0]
    job.printer_class = "standard"
    transition(job, "approved", actor="test")
    db.session.commit()

    data = tech.get("/api/v1/hub/queue/waiting").get_json()
    reason = {j["id"]: j["reason"] for j in data["jobs"]}[job.public_id]
    assert reason["code"] == "no_material"
    assert reason["text"] == "Kein Drucker hat PETG Schwarz geladen"
    # the same job without a class: any printer's profile will do
    job.printer_class = None
    db.session.commit()
    data = tech.get("/api/v1/hub/queue/waiting").get_json()
    assert {j["id"]: j["reason"]["code"] for j in data["jobs"]}[job.public_id] == "slicing"


def test_the_dispatchers_reasons_are_shown_in_the_readers_language(tech):
    """The job page's history: the dispatcher writes its reasons in English; a German
    technician read "sliced", "the printer prints our file" (found by a new user's walk)."""
    from marketplace.i18n import force_locale, machine_reason

    order = _queued(make_order(quantity=1, material_code="PLA", colour="Schwarz"))
    job = order.jobs[0]
    transition(job, "dispatching", actor="dispatcher", reason="to printer MK3S-1")
    db.session.commit()
    page = tech.get(f"/hub/jobs/{job.public_id}").get_data(True)
    assert "An Drucker MK3S-1" in page and "to printer MK3S-1" not in page
    with tech.application.test_request_context():
        assert machine_reason("sliced") == "Für den Druck vorbereitet (gesliced)"
        # a printer's reason naming its job, by the short id the pages show (walk finding:
        # "job fab48214904b445ca2982fb312702133: print finished" on the printers page)
        assert machine_reason(f"job {job.public_id}: print finished") == (
            f"Auftrag {job.public_id[:8].upper()}: Druck fertig")
        assert machine_reason(f"job {job.public_id}") == f"Auftrag {job.public_id[:8].upper()}"
        from marketplace.i18n import octoprint_state

        assert octoprint_state("Operational") == "bereit"
        assert octoprint_state("Printing") == "druckt"
        assert octoprint_state("Some new state") == "Some new state"
        assert machine_reason("slicing failed: no profile") == (
            "Slicen fehlgeschlagen: no profile")
        assert machine_reason("Spule leer, neu gestartet") == "Spule leer, neu gestartet"
        with force_locale("en"):
            assert machine_reason("print finished") == "print finished"
            assert machine_reason("to printer MK3S-1") == "to printer MK3S-1"
