"""Follow every job on a printer to its end, judged by what its printer says.

Each pass, every job in an on-printer state (dispatching, starting, printing, paused,
cancelling) is compared with its printer's latest answer; the pure rules are in
``printers.reconcile``, and this unit applies their decision, one job step each: progress,
printing/paused, printed (with the actual print time), cancelled, a technician's attention, or
back to the queue when nothing was started (only once the remote file is deleted, so no late
start can print it). A print that may have left something on the bed leaves the printer
waiting for a technician to clear it.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import datetime

from marketplace.extensions import db
from marketplace.i18n import REPRINT_DETAIL
from marketplace.jobs import REQUEUE_RESET, JobState, reprint_cause
from marketplace.models import Printer, PrintJob, utcnow
from marketplace.printer_states import set_printer_state
from printers import reconcile
from printers.octoprint import FileInfo, PrinterStatus
from printers.polling import PollResult, Timeouts
from printers.sending import delete_remote
from printers.settings import DispatcherSettings
from printers.steps import (
    ACTOR,
    TickReport,
    active_jobs_by_printer,
    end_attempt,
    job_step,
    move,
)

AGAIN = "cancelled at the printer, to be printed again"  # a reprint's way back to the queue
# The decisions that end a print on the printer (and may leave something on its bed).
_ENDING = (reconcile.PRINTED, reconcile.CANCELLED, reconcile.NEEDS_ATTENTION)


def follow_jobs(settings: DispatcherSettings, report: TickReport,
                results: dict[int, PollResult], *, skip: Container[int] = ()) -> None:
    """Reconcile every job on a printer with the printer's answer in ``results``.

    ``skip``: ids of jobs whose own upload or start is still running (left alone).
    """
    for job in active_jobs_by_printer().values():
        if job.id in skip:
            continue
        result = results.get(job.printer_id)
        status = result.status if result else None
        file = result.file if result else None
        since = (utcnow() - job.updated_at).total_seconds() if job.updated_at else 0.0
        decision = reconcile.decide(
            job.state, job.remote_filename, status, file,
            completion_polls=job.completion_polls, confirm_polls=settings.confirm_polls,
            seconds_in_state=max(since, 0.0), start_grace_s=settings.start_grace_s)
        with job_step(job.id):
            apply_decision(report, job, decision, status, file, settings.timeouts)


def apply_decision(report: TickReport | None, job: PrintJob, decision: reconcile.Decision,
                   status: PrinterStatus | None, file: FileInfo | None,
                   timeouts: Timeouts) -> None:
    """Apply one reconcile decision to ``job`` (the caller commits)."""
    action = decision.action
    if action == reconcile.NONE:
        return
    if action == reconcile.PROGRESS:
        job.progress_percent = status.completion
        job.completion_polls = 0
        return
    if action == reconcile.COMPLETION_SEEN:
        job.completion_polls = (job.completion_polls or 0) + 1
        job.progress_percent = 100.0
        return
    printer = db.session.get(Printer, job.printer_id)
    data = {"printer": printer.name, "remote_filename": job.remote_filename}
    if action == reconcile.TO_PRINTING:
        move(report, job, JobState.PRINTING, decision.reason, data,
             started_at=job.started_at or utcnow(), progress_percent=status.completion,
             completion_polls=0)
    elif action == reconcile.TO_PAUSED:
        move(report, job, JobState.PAUSED, decision.reason, data)
    elif action == reconcile.PRINTED:
        finish_printed(report, job, status, file, decision.reason, data)
    elif action == reconcile.CANCELLED and (cause := reprint_cause(job)):
        decision = reconcile.Decision(action, AGAIN, bed_used=True)
        end_attempt(job, "cancelled", REPRINT_DETAIL + cause)
        move(report, job, JobState.QUEUED, AGAIN, data, **REQUEUE_RESET)
    elif action == reconcile.CANCELLED:
        move(report, job, JobState.CANCELLED, decision.reason, data, finished_at=utcnow())
        end_attempt(job, "cancelled", decision.reason)
    elif action == reconcile.NEEDS_ATTENTION:
        move(report, job, JobState.NEEDS_ATTENTION, decision.reason, data,
             finished_at=utcnow())
        end_attempt(job, "interrupted" if decision.bed_used else "failed", decision.reason)
    elif action == reconcile.REQUEUE:
        requeue_unstarted(report, job, printer, decision.reason, timeouts)
    if decision.bed_used and action in _ENDING and printer.state != "maintenance":
        set_printer_state(printer, "bed_to_clear", actor=ACTOR,
                          reason=f"job {job.public_id}: {decision.reason}")


def real_print_time(job: PrintJob, status: PrinterStatus | None, file: FileInfo | None,
                    now: datetime) -> tuple[float, str] | None:
    """Return the print's real duration in seconds and where it comes from: OctoPrint's
    record of our file's last (successful) print, its job information for our file (the last
    print time, else the print time of the progress), else our own clock since the start."""
    ours = status is not None and status.job_file == job.remote_filename
    candidates = (
        ("octoprint_file", file.last_print_time_s
         if file is not None and file.last_success else None),
        ("octoprint_job", status.last_print_time_s if ours else None),
        ("octoprint_progress", status.print_time_s if ours else None),
        ("dispatcher_clock", (now - job.started_at).total_seconds()
         if job.started_at is not None else None),
    )
    for source, seconds in candidates:
        if seconds is not None and seconds >= 0:
            return float(seconds), source
    return None


def finish_printed(report: TickReport | None, job: PrintJob, status: PrinterStatus | None,
                   file: FileInfo | None, reason: str, data: dict) -> None:
    """Record a finished print with its real print time (:func:`real_print_time`), kept in
    ``actual_print_time_s`` beside the quote's and the slicer's."""
    now = utcnow()
    fields = {"finished_at": now, "progress_percent": 100.0}
    real = real_print_time(job, status, file, now)
    if real is not None:
        fields["actual_print_time_s"] = int(round(real[0]))
        data = {**data, "actual_print_time_s": round(real[0], 2),
                "actual_print_time_source": real[1]}
    if job.state == JobState.DISPATCHING.value:
        move(report, job, JobState.STARTING, "the printer printed our file", data)
    move(report, job, JobState.PRINTED, reason, data, **fields)
    end_attempt(job, "printed", reason)


def requeue_unstarted(report: TickReport | None, job: PrintJob, printer: Printer, reason: str,
                      timeouts: Timeouts) -> None:
    """Send a job that never started back to the queue, once its remote file is gone."""
    gone = delete_remote(printer.url, printer.api_key, job.remote_filename, timeouts)
    if gone == "in_use":
        return  # it is being printed after all: the next poll shows it
    if gone == "unreachable":
        return  # ask again next pass; never requeue while the file could still start
    end_attempt(job, "not_started", reason)
    move(report, job, JobState.QUEUED, reason, {"printer": printer.name}, **REQUEUE_RESET)
