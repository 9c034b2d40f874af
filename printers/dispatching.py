"""Queued jobs onto free printers: match, claim durably, send in a worker thread, apply.

1. ``printers.matching`` pairs queued jobs with available printers that are not backing off;
2. each pair is claimed with one job step (dispatching, the printer, the attempt, a
   deterministic remote file name; committed before any network call, and the partial unique
   index allows one active job per printer, so a job is never sent twice);
3. ``printers.sending.send_job`` uploads, verifies and starts it in a worker thread;
4. its outcome is applied in the pass's thread: starting, printing, or back to the queue with
   the printer backing off (nothing was started); an unknown outcome stays dispatching and the
   next pass asks the printer (``printers.following``).
"""

from __future__ import annotations

import time
from collections.abc import KeysView
from concurrent.futures import Future, wait
from datetime import timedelta

import sqlalchemy as sa

from marketplace.extensions import db
from marketplace.jobs import REQUEUE_RESET, TRY_RESET, JobState
from marketplace.models import DispatchAttempt, Printer, PrintJob, utcnow
from marketplace.printer_states import set_printer_state
from printers import matching, slicing
from printers.polling import Poller
from printers.sending import (
    ALREADY_PRINTING,
    AUTH,
    NOTHING_STARTED,
    STARTED,
    SendOrder,
    SendOutcome,
    send_job,
)
from printers.settings import DispatcherSettings
from printers.steps import (
    ACTOR,
    TickReport,
    active_jobs_by_printer,
    current_attempt,
    end_attempt,
    job_step,
    move,
)

BACKOFF_MAX_S = 300.0


def remote_filename(job: PrintJob, attempt: int) -> str:
    """Deterministic remote name: the same job and attempt always give the same name."""
    return f"druckhub-{job.public_id}-a{attempt}.gcode"


class Backoff:
    """Printers that failed to start a job wait base * 2^(failures-1) s (at most 5 min)."""

    def __init__(self) -> None:
        self._until: dict[int, tuple[int, float]] = {}  # printer id -> (failures, until)

    def ready(self, printer_id: int, now: float) -> bool:
        return self._until.get(printer_id, (0, 0.0))[1] <= now

    def failed(self, printer_id: int, base_s: float) -> None:
        failures = self._until.get(printer_id, (0, 0.0))[0] + 1
        delay = min(base_s * 2 ** (failures - 1), BACKOFF_MAX_S)
        self._until[printer_id] = (failures, time.monotonic() + delay)

    def succeeded(self, printer_id: int) -> None:
        self._until.pop(printer_id, None)


class Sender:
    """The jobs being sent (one worker-thread future per job id) and the printers' back-off."""

    def __init__(self, owner: str, pool: Poller) -> None:
        self.owner = owner  # written as the claimed job's lease owner
        self._pool = pool
        self._sends: dict[int, Future] = {}
        self.backoff = Backoff()

    @property
    def in_flight(self) -> KeysView[int]:
        """Ids of the jobs whose upload or start is running or not yet applied."""
        return self._sends.keys()

    def dispatch(self, settings: DispatcherSettings, report: TickReport) -> None:
        """Match queued jobs with free printers, claim each and start sending it."""
        printers = db.session.scalars(sa.select(Printer).where(Printer.state == "available")
                                      .order_by(Printer.id)).all()
        now = time.monotonic()
        busy = set(active_jobs_by_printer())
        offers = [matching.offer_for(p) for p in printers
                  if p.id not in busy and self.backoff.ready(p.id, now)]
        if not offers:
            return
        queued = db.session.scalars(sa.select(PrintJob).where(
            PrintJob.state == JobState.QUEUED.value, PrintJob.gcode_sha256.is_not(None))).all()
        needs = [n for n in (matching.need_for(j) for j in queued) if n is not None]
        by_id = {j.id: j for j in queued}
        by_printer = {p.id: p for p in printers}
        orders = []
        for job_id, printer_id in matching.assign(needs, offers):
            order = self._claim(settings, report, by_id[job_id], by_printer[printer_id])
            if order is not None:
                orders.append(order)
        for order in orders:
            self._sends[order.job_id] = self._pool.submit(send_job, order, settings.timeouts)
        report.dispatched += len(orders)

    def _claim(self, settings: DispatcherSettings, report: TickReport, job: PrintJob,
               printer: Printer) -> SendOrder | None:
        """Claim ``job`` for ``printer`` and commit, before any network call."""
        attempt = (job.attempt or 0) + 1
        name = remote_filename(job, attempt)
        now = utcnow()
        with job_step(job.id, f"claim for {printer.name}",
                      also=(sa.exc.IntegrityError,)) as step:
            move(report, job, JobState.DISPATCHING, f"to printer {printer.name}",
                 {"printer": printer.name, "attempt": attempt, "remote_filename": name},
                 **TRY_RESET, printer_id=printer.id, attempt=attempt, remote_filename=name,
                 lease_owner=self.owner, lease_until=now + timedelta(seconds=settings.lease_s))
            db.session.add(DispatchAttempt(job_id=job.id, attempt=attempt, printer_id=printer.id,
                                           remote_filename=name, claimed_at=now))
            set_printer_state(printer, "printing", actor=ACTOR, reason=f"job {job.public_id}")
        if not step.ok:
            return None
        gcode = slicing.gcode_path(settings.gcode_dir, job.gcode_sha256)
        return SendOrder(job_id=job.id, attempt=attempt, printer_id=printer.id, url=printer.url,
                         api_key=printer.api_key, remote_filename=name, gcode_path=str(gcode),
                         userdata={"druckhub_job": job.public_id, "attempt": attempt,
                                   "sha256": job.gcode_sha256})

    def wait(self, settings: DispatcherSettings, report: TickReport, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the sends in flight, then apply what finished."""
        if self._sends:
            wait(list(self._sends.values()), timeout=timeout_s)
        self.collect(settings, report)

    def collect(self, settings: DispatcherSettings, report: TickReport) -> None:
        """Apply the outcome of every send that finished, one job step each."""
        for job_id, future in list(self._sends.items()):
            if not future.done():
                continue
            del self._sends[job_id]
            with job_step(job_id):
                self._apply(settings, report, future.result())

    def _apply(self, settings: DispatcherSettings, report: TickReport,
               outcome: SendOutcome) -> None:
        job = db.session.get(PrintJob, outcome.job_id, populate_existing=True)
        if job is None or job.state != JobState.DISPATCHING.value or job.attempt != outcome.attempt:
            return
        printer = db.session.get(Printer, job.printer_id)
        attempt = current_attempt(job)
        now = utcnow()
        if outcome.uploaded and attempt is not None:
            attempt.uploaded_at = attempt.uploaded_at or now
        data = {"printer": printer.name, "attempt": job.attempt, "detail": outcome.detail}
        if outcome.result == STARTED:
            if attempt is not None:
                attempt.started_at = now
            move(report, job, JobState.STARTING, "select+print accepted", data, started_at=now)
            self.backoff.succeeded(printer.id)
        elif outcome.result == ALREADY_PRINTING:
            move(report, job, JobState.PRINTING, "the printer prints our file", data,
                 started_at=job.started_at or now)
        elif outcome.result in NOTHING_STARTED:
            self.backoff.failed(printer.id, settings.retry_base_s)
            end_attempt(job, outcome.result, outcome.detail)
            move(report, job, JobState.QUEUED,
                 f"not started ({outcome.result}): {outcome.detail}", data, **REQUEUE_RESET)
            if outcome.result == AUTH:
                set_printer_state(printer, "offline", actor=ACTOR,
                                  reason="API key rejected by OctoPrint")
            elif printer.state == "printing":
                set_printer_state(printer, "unknown", actor=ACTOR, reason=outcome.detail[:200])
        # UNKNOWN: stays dispatching; the next pass asks the printer before anything else
