"""Queued work for e-mail: one task per outbox row, and the periodic pass over due mails."""

from __future__ import annotations

from marketplace import taskqueue
from marketplace.mail import mailer


@taskqueue.task()
def send_mail(notification_id: int) -> bool:
    """Send one mail if it is still due (claims it first: running twice sends it once)."""
    return mailer.send_one(notification_id)


@taskqueue.periodic
def send_due_mails() -> int:
    """Send what is due: retries after their back-off, and mails whose task was lost."""
    report = mailer.send_pending(limit=500)
    return report.sent + report.logged_only
