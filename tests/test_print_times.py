"""Real print times on real (virtual) OctoPrint printers: recorded beside the quote's and the
slicer's for every finished job."""

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
)

from marketplace.extensions import db
from marketplace.models import JobEvent, PrintJob

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
