"""Pause, resume and cancel a job from the console: the printer first, then the job's state.

Each function sends the command to the job's printer and, once OctoPrint accepted it, moves the
job with ``marketplace.jobs.transition`` (the caller commits). A cancel of a job that waits in
the queue needs no printer. A cancel at the printer ends in ``cancelling``; the dispatcher sees
the printer stop and records ``cancelled`` (and the bed to clear). A reprint cancels the print
the same way, but the dispatcher then puts the piece back in the queue (``jobs.REPRINT`` in the
cancelling event's data): a failed print is printed again, the firm's piece is not cancelled.
A cancel while it stops withdraws the reprint; a cancel of a print still stopping for good
leaves its printer's bed to be cleared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app

from marketplace import jobs
from marketplace.extensions import db
from marketplace.i18n import N_, REPRINT_CAUSES
from marketplace.jobs import JobState
from marketplace.models import Printer, PrintJob
from marketplace.printer_states import set_printer_state
from printers.octoprint import PrinterConflict, PrinterError, PrinterUnreachable
from printers.polling import Timeouts


class ControlError(Exception):
    """The command cannot be carried out now; ``message`` (German, ``%(name)s`` placeholders
    filled from ``params``) is for the technician, translated when shown."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


def _timeouts(config: Mapping[str, Any] | None) -> Timeouts:
    return Timeouts.from_config(config if config is not None else current_app.config)


def _actor(actor: Any) -> str:
    return getattr(actor, "email", None) or str(actor)


def _printer_call(job: PrintJob, command: str, config) -> Printer:
    printer = db.session.get(Printer, job.printer_id) if job.printer_id else None
    if printer is None:
        raise ControlError(N_("Der Auftrag ist keinem Drucker zugeordnet."))
    client = _timeouts(config).client(printer.url, printer.api_key)
    try:
        status = client.status()
        if status.job_file != job.remote_filename:
            raise ControlError(N_("Der Drucker druckt diesen Auftrag nicht (mehr)."))
        getattr(client, command)()
    except PrinterConflict as exc:
        raise ControlError(N_("Der Drucker lehnt das ab: %(detail)s"), detail=str(exc)) from exc
    except PrinterUnreachable as exc:
        raise ControlError(N_("Der Drucker antwortet nicht.")) from exc
    except PrinterError as exc:
        raise ControlError(N_("Druckerfehler: %(detail)s"), detail=str(exc)) from exc
    finally:
        client.close()
    return printer


def pause_job(job: PrintJob, actor: Any, *, config=None) -> None:
    """Pause a printing job on its printer."""
    if job.state != JobState.PRINTING.value:
        raise ControlError(N_("Nur ein laufender Druck kann pausiert werden."))
    printer = _printer_call(job, "pause", config)
    jobs.transition(job, JobState.PAUSED, actor=_actor(actor), reason="paused in the console",
                    data={"printer": printer.name})


def resume_job(job: PrintJob, actor: Any, *, config=None) -> None:
    """Resume a paused job on its printer."""
    if job.state != JobState.PAUSED.value:
        raise ControlError(N_("Nur ein pausierter Druck kann fortgesetzt werden."))
    printer = _printer_call(job, "resume", config)
    jobs.transition(job, JobState.PRINTING, actor=_actor(actor), reason="resumed in the console",
                    data={"printer": printer.name})


def reprint_job(job: PrintJob, actor: Any, *, cause: str | None = None, config=None) -> None:
    """Stop a print that is going wrong and print the piece again: cancel it at its printer;
    once the printer has stopped, the dispatcher queues the piece again (bed to clear).
    ``cause``: why (a key of ``i18n.REPRINT_CAUSES``; none: "other"), kept with the try."""
    cause = cause or "other"
    if cause not in REPRINT_CAUSES:
        raise ControlError(N_("Unbekannter Grund."))
    if job.state not in (JobState.PRINTING.value, JobState.PAUSED.value):
        raise ControlError(N_("Nur ein laufender oder pausierter Druck kann neu gedruckt "
                              "werden."))
    printer = _printer_call(job, "cancel", config)
    jobs.transition(job, JobState.CANCELLING, actor=_actor(actor),
                    reason="cancelled in the console to print again",
                    data={"printer": printer.name, jobs.REPRINT: cause})


def cancel_job(job: PrintJob, actor: Any, *, reason: str | None = None, config=None) -> None:
    """Cancel a job: at once if it waits, at its printer if it prints."""
    state = JobState(job.state)
    why = reason or "cancelled in the console"
    if state == JobState.CANCELLING and jobs.reprint_cause(job):  # to be printed again: not
        jobs.withdraw_reprint(job, actor=_actor(actor), reason=why)  # any more
        return
    if state == JobState.CANCELLING:  # before its printer said it stopped: its bed waits
        printer = db.session.get(Printer, job.printer_id) if job.printer_id else None
        if printer is not None and printer.state != "maintenance":
            set_printer_state(printer, "bed_to_clear", actor=_actor(actor),
                              reason=f"job {job.public_id}: {why}")
    if state in (JobState.PRINTING, JobState.PAUSED):
        printer = _printer_call(job, "cancel", config)
        jobs.transition(job, JobState.CANCELLING, actor=_actor(actor), reason=why,
                        data={"printer": printer.name})
        return
    if jobs.can_transition(state, JobState.CANCELLED):
        jobs.transition(job, JobState.CANCELLED, actor=_actor(actor), reason=why)
        return
    if state in (JobState.DISPATCHING, JobState.STARTING):
        raise ControlError(N_("Der Auftrag wird gerade an den Drucker gesendet; "
                           "bitte gleich noch einmal versuchen."))
    raise ControlError(N_("Dieser Auftrag kann nicht mehr storniert werden."))


# the console's and the API's job controls, by the name in their addresses
ACTIONS = {"pause": pause_job, "resume": resume_job, "reprint": reprint_job,
           "cancel": cancel_job}
