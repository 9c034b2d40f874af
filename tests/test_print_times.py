"""On real (virtual) OctoPrint printers: a printer set up in the console's form takes the
catalogue colour a firm ordered, and every finished job keeps the printer's real print time
beside the quote's and the slicer's."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from octoprint_farm import (  # noqa: F401  (fixtures)
    API_KEY,
    TEST_PROFILE,
    add_printer,
    box_stl,
    dispatch_settings,
    dispatcher,
    farm,
    idle_farm,
    make_job,
    tick_until,
)

from marketplace.extensions import db
from marketplace.models import JobEvent, Printer, PrintJob

pytestmark = [pytest.mark.octoprint, pytest.mark.slicer, pytest.mark.commits]


@pytest.fixture(autouse=True)
def _settings(dispatch_settings):
    """Short timeouts etc. (autouse: applied before the app is created)."""


def reload(job):
    db.session.expire_all()
    return db.session.get(PrintJob, job.id)


def test_each_finished_job_keeps_octoprints_print_time(idle_farm, add_printer, make_job,
                                                       dispatcher):
    servers = {add_printer(server).id: server for server in idle_farm[:2]}
    jobs = [make_job(box_stl(12, 12, 3), est_s=95), make_job(box_stl(6, 6, 2), est_s=40)]
    tick_until(dispatcher, lambda: all(reload(j).state == "printed" for j in jobs), 120,
               "both printed")
    for job in map(reload, jobs):
        info = servers[job.printer_id].file_info(job.remote_filename)
        octoprint_s = info["prints"]["last"]["printTime"]
        assert info["prints"]["last"]["success"] is True
        # OctoPrint's own measure of this print, beside the quote's and the slicer's
        assert job.actual_print_time_s == round(octoprint_s)
        assert job.est_print_time_s in (95, 40) and job.slicer_print_time_s > 0
        event = db.session.scalar(sa.select(JobEvent).where(
            JobEvent.job_id == job.id, JobEvent.to_state == "printed"))
        assert event.data["actual_print_time_source"] == "octoprint_file"
        assert event.data["actual_print_time_s"] == pytest.approx(octoprint_s, abs=0.01)
        assert job.finished_at >= job.started_at


def test_a_petg_black_job_prints_on_a_printer_added_with_the_forms_defaults(
        idle_farm, make_job, dispatcher, client, make_user, login_as):
    """Issue 9: the form once said "black" and the catalogue "Schwarz", so such a job waited
    for ever. Now the form offers the catalogue's colours and the job prints."""
    login_as(make_user("technician"))
    page = client.get("/hub/printers/new").get_data(True)
    assert 'value="Schwarz" selected' in page  # the form's default colour
    response = client.post("/hub/printers/new", data={
        "name": "PETG-1", "url": idle_farm[0].url, "api_key": API_KEY,
        "printer_class": "standard", "build_x_mm": "250", "build_y_mm": "210",
        "build_z_mm": "210", "nozzle_mm": "0.4", "material_code": "PETG",
        "colour": "Schwarz", "slicer_profile": TEST_PROFILE})
    assert response.status_code == 302, response.get_data(True)
    printer = db.session.scalar(sa.select(Printer).where(Printer.name == "PETG-1"))
    job = make_job(material_code="PETG", colour="Schwarz")
    tick_until(dispatcher, lambda: reload(job).state == "printed", 90, "PETG job printed")
    job = reload(job)
    assert job.printer_id == printer.id
    visited = db.session.scalars(sa.select(JobEvent.to_state).where(
        JobEvent.job_id == job.id)).all()
    assert "needs_attention" not in visited
