"""Slicing as queued work: an approved job is sliced by a task worker ahead of the dispatcher.

With ``SLICING = "worker"`` (the default) every move of a job to ``approved`` queues
:func:`slice_approved_job` for when that move commits; the task claims the job's slicing lease
(``slice_lease_owner``/``slice_lease_until``, renewed while PrusaSlicer works, and
``slice_attempts``), runs ``printers.preparing.slice_job`` (PrusaSlicer in a child process with
``SLICER_TIMEOUT_S``) and lets go. The dispatcher's pass then only polls, matches, uploads and
follows prints. A periodic reaper queues again what a dead worker left (the lease ran out) or
what was never queued, and sends a job whose slicing was cut off ``TASK_MAX_ATTEMPTS`` times to
a technician. ``SLICING = "dispatcher"`` keeps the old way: the pass slices (the tests that
drive a dispatcher by hand use it).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, current_app

from marketplace import jobs, taskqueue
from marketplace.extensions import db
from marketplace.jobs import JobState
from marketplace.models import JobEvent, PrintJob, utcnow
from printers import preparing
from printers.settings import DispatcherSettings
from printers.steps import job_step, move

log = logging.getLogger(__name__)
LEASE = "slice_"  # the job's slicing lease columns: slice_attempts, slice_lease_owner, ...


def slicing_in_worker(config) -> bool:
    """Whether task workers slice (else the dispatcher's pass does)."""
    return str(config.get("SLICING", "worker")) == "worker"


def slice_lease_s(config) -> float:
    return float(config["TASK_LEASE_S"])


@taskqueue.task()
def slice_approved_job(job_id: int) -> bool:
    """Slice one approved job (claims its slicing lease first: running twice does no harm)."""
    return slice_now(job_id)


def slice_now(job_id: int) -> bool:
    """Claim ``job_id``'s slicing, slice it and release the claim; return whether it ran."""
    config = current_app.config
    lease_s = slice_lease_s(config)
    lease = taskqueue.claim(PrintJob, job_id, PrintJob.state == JobState.APPROVED.value,
                            PrintJob.slice_attempts < int(config["TASK_MAX_ATTEMPTS"]),
                            lease_s=lease_s, prefix=LEASE)
    if lease is None:
        return False
    with taskqueue.holding(lease, lease_s):  # renewed while PrusaSlicer works
        state = preparing.slice_job(job_id, DispatcherSettings.from_config(config))
    lease.finish()
    db.session.commit()
    log.info("job %s sliced: %s (attempt %s)", job_id, state, lease.attempt)
    return state is not None


@taskqueue.periodic
def reap_slicing() -> int:
    """Queue again the slicing a dead worker or a lost message left; give up after
    ``TASK_MAX_ATTEMPTS`` claims (the job goes to a technician)."""
    config = current_app.config
    if not slicing_in_worker(config):
        return 0
    now = utcnow()
    due = taskqueue.due_for_requeue(PrintJob, PrintJob.state == JobState.APPROVED.value,
                                    stale_s=float(config["TASK_REQUEUE_AFTER_S"]), now=now,
                                    prefix=LEASE)
    rows = db.session.execute(
        sa.select(PrintJob.id, PrintJob.slice_attempts).where(due).limit(500)).all()
    db.session.rollback()
    touched = 0
    for job_id, attempts in rows:
        if attempts >= int(config["TASK_MAX_ATTEMPTS"]):
            with job_step(job_id, "slicing given up") as step:
                job = db.session.get(PrintJob, job_id)
                move(None, job, JobState.NEEDS_ATTENTION,
                     f"slicing was interrupted {attempts} times", {"code": "slicing_gave_up"})
            touched += int(step.ok)
            continue
        result = db.session.execute(
            sa.update(PrintJob).where(PrintJob.id == job_id, PrintJob.slice_attempts == attempts,
                                      due)
            .values(slice_queued_at=now, slice_lease_owner=None, slice_lease_until=None)
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            touched += 1
            taskqueue.enqueue_after_commit(slice_approved_job, job_id)
        db.session.commit()
    return touched


def _on_transition(job: PrintJob, event: JobEvent) -> None:
    """A job that becomes approved is queued for slicing when the move commits."""
    if event.to_state != JobState.APPROVED.value:
        return
    try:
        config = current_app.config
    except RuntimeError:
        return
    if not slicing_in_worker(config):
        return
    job.slice_attempts = 0
    job.slice_lease_owner = job.slice_lease_until = None
    job.slice_queued_at = utcnow()
    taskqueue.enqueue_after_commit(slice_approved_job, job.id)


def init_app(app: Flask) -> None:
    """Queue slicing on approval (listener on the job state machine; once per process)."""
    jobs.on_transition(_on_transition)
