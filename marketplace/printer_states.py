"""The printer state machine, beside the job state machine (:mod:`marketplace.jobs`).

A printer's ``state`` is what the hub knows of it: the dispatcher sets it from each poll, a
technician sets ``maintenance`` and confirms a cleared bed. Every change is logged as a
:class:`PrinterEvent`. ``STICKY_STATES`` are only left by a technician, never by a poll.
"""

from __future__ import annotations

from marketplace.extensions import db
from marketplace.models import Printer, PrinterEvent
from marketplace.webhooks import payloads as webhook_events

PRINTER_STATES = ("available", "printing", "bed_to_clear", "maintenance", "offline", "unknown")
STICKY_STATES = frozenset({"maintenance", "bed_to_clear"})
# printers that take no work at all
OUT_OF_SERVICE_STATES = frozenset({"maintenance", "offline"})


def set_printer_state(printer: Printer, state: str, *, actor: str, reason: str | None) -> None:
    """Set a printer's state and log the change (no log row when nothing changes)."""
    if state not in PRINTER_STATES:
        raise ValueError(f"unknown printer state {state!r}")
    if printer.state == state:
        if reason != printer.state_reason:
            printer.state_reason = reason
        return
    db.session.add(PrinterEvent(printer_id=printer.id, actor=actor, from_state=printer.state,
                                to_state=state, reason=reason))
    webhook_events.printer_state_changed(printer, printer.state, state, reason)
    printer.state = state
    printer.state_reason = reason
