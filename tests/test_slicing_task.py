"""Slicing as a task: an approved job is sliced by a worker ahead of the dispatcher, whose pass
then only polls, matches, uploads and follows (Huey's immediate mode; real workers and a killed
one: test_queue_faults.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from portal_helpers import cube_stl, firm_user  # noqa: F401

from marketplace.extensions import db
from marketplace.models import Firm, JobEvent, Part, PrintJob, utcnow
from marketplace.parts import operations as parts
from printers import tasks as printer_tasks
from printers.settings import DispatcherSettings

pytestmark = [pytest.mark.slicer, pytest.mark.commits]  # a lease-renewing thread


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SLICING": "worker"}


def _approved_job(firm_user, *, queue: bool = True) -> int:
    """An approved job; ``queue=False``: the approval commits but its slicing task is lost."""
    from marketplace.orders import operations as orders
    from marketplace.quotes import operations as quotes

    part = parts.store_upload(db.session.get(Firm, firm_user.firm_id), None, "box.stl",
                              cube_stl(15))
    db.session.commit()  # analysed (immediate mode)
    quote = quotes.make_quote(db.session.get(Part, part.id), material_code="PLA")
    order = orders.place_order(quote, placed_by=None)
    db.session.commit()
    orders.approve_order(order, "tech@hub")
    if queue:
        db.session.commit()  # queues the slicing; immediate mode slices now
        return order.jobs[0].id
    from marketplace import taskqueue

    taskqueue.huey.immediate = False  # into an in-process queue nobody reads: "lost"
    try:
        db.session.commit()
    finally:
        taskqueue.huey.immediate = True
    return order.jobs[0].id


def test_an_approved_job_is_sliced_by_the_task(app, firm_user):
    job_id = _approved_job(firm_user)
    db.session.expire_all()
    job = db.session.get(PrintJob, job_id)
    assert job.state == "queued" and job.gcode_sha256 and job.slice_attempts == 1
    assert job.slice_lease_owner is None and job.slice_queued_at is not None
    assert printer_tasks.slice_now(job_id) is False  # run twice: nothing to do
    assert not DispatcherSettings.from_config(app.config).slice_in_pass


def test_lost_slicing_is_reaped_and_given_up_after_the_attempts(app, firm_user):
    job_id = _approved_job(firm_user, queue=False)
    assert db.session.get(PrintJob, job_id).state == "approved"
    assert printer_tasks.reap_slicing.call_local() == 0  # queued just now: not lost yet
    db.session.execute(sa.update(PrintJob).values(slice_queued_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    assert printer_tasks.reap_slicing.call_local() == 1  # queued again, sliced here
    db.session.expire_all()
    assert db.session.get(PrintJob, job_id).state == "queued"

    job_id = _approved_job(firm_user, queue=False)
    db.session.execute(sa.update(PrintJob).where(PrintJob.id == job_id).values(
        slice_attempts=app.config["TASK_MAX_ATTEMPTS"], slice_lease_owner="dead:1:x",
        slice_lease_until=utcnow() - timedelta(seconds=1)))  # its workers kept dying
    db.session.commit()
    assert printer_tasks.reap_slicing.call_local() == 1
    db.session.expire_all()
    assert db.session.get(PrintJob, job_id).state == "needs_attention"
    reasons = [e.reason for e in db.session.scalars(
        sa.select(JobEvent).where(JobEvent.job_id == job_id))]
    assert "slicing was interrupted 3 times" in reasons
