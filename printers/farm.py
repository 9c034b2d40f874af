"""Poll every printer of the farm and write what each one says into the database.

The network part (threads, timeouts, one deadline) is ``printers.polling``; this unit turns
each answer into the printer's state (available, printing, offline, unknown), its last status
and its count of failed polls, and commits once for the whole farm. A printer in a sticky state
(maintenance, bed to clear) keeps it: only a technician ends those.
"""

from __future__ import annotations

import time
from datetime import datetime

import sqlalchemy as sa

from marketplace import printer_keys
from marketplace.extensions import db
from marketplace.models import Printer, utcnow
from marketplace.printer_states import STICKY_STATES, set_printer_state
from printers.polling import Poller, PollResult, PollTarget
from printers.steps import ACTOR, TickReport, active_jobs_by_printer

KEY_UNREADABLE = ("API key cannot be decrypted: PRINTER_KEY_SECRETS or SECRET_KEY changed; "
                  "enter the key again on the printer's page")


def poll_farm(poller: Poller, report: TickReport) -> dict[int, PollResult]:
    """Poll every printer at once, write their states and commit; return the answers."""
    printers = db.session.scalars(sa.select(Printer).order_by(Printer.id)).all()
    active = active_jobs_by_printer()
    targets, unreadable = [], {}
    for p in printers:
        try:
            key = p.api_key
        except printer_keys.InvalidToken:  # one printer's key must not stop the whole farm
            unreadable[p.id] = PollResult(p.id, error_kind="key", error=KEY_UNREADABLE)
            continue
        targets.append(PollTarget(
            p.id, p.name, p.url, key,
            watch_file=active[p.id].remote_filename if p.id in active else None,
            may_connect=p.state != "maintenance"))
    began = time.monotonic()
    results = {**poller.poll_all(targets), **unreadable}
    report.poll_s = time.monotonic() - began
    report.polled = len(targets)
    report.answered = sum(1 for r in results.values() if r.answered)
    now = utcnow()
    for printer in printers:
        update_printer(printer, results[printer.id], printer.id in active, now)
        report.printer_states[printer.name] = printer.state
    db.session.commit()
    return results


def judge(result: PollResult, has_job: bool) -> tuple[str, str | None]:
    """Return the printer state (and why) that one poll's answer means."""
    if not result.answered:
        if result.error_kind == "key":
            return "offline", KEY_UNREADABLE
        if result.error_kind == "auth":
            return "offline", "API key rejected by OctoPrint"
        return "unknown", f"no answer: {result.error}"
    status = result.status
    if not status.connected:
        return "offline", (f"OctoPrint: {status.error or status.state_text}"
                           + ("; connecting" if result.connect_sent else ""))
    if status.busy or has_job:
        return "printing", None
    if status.ready:
        return "available", None
    return "offline", f"OctoPrint: {status.state_text}"


def update_printer(printer: Printer, result: PollResult, has_job: bool, now: datetime) -> None:
    """Write one poll's answer to ``printer`` (the caller commits); an answer to an earlier
    question (``stale``) says nothing new: the printer stays as it was."""
    if result.error_kind == "stale":
        return
    if result.answered:
        printer.last_seen_at = now
        printer.failed_polls = 0
        printer.last_status = {**result.status.to_dict(), "polled_at": now.isoformat()}
    else:
        printer.failed_polls = (printer.failed_polls or 0) + 1
    if printer.state in STICKY_STATES:
        return  # only a technician ends maintenance or confirms the bed is clear
    state, reason = judge(result, has_job)
    set_printer_state(printer, state, actor=ACTOR, reason=reason)
