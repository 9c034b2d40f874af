"""Queued work for webhooks: one task per delivery try, and the periodic pass over due ones."""

from __future__ import annotations

from flask import current_app

from marketplace import taskqueue
from marketplace.extensions import db
from marketplace.webhooks import delivery, endpoints


@taskqueue.task()
def deliver_webhook(delivery_id: int) -> bool:
    """Try one delivery if it is due (claims it first: running twice sends it once)."""
    return delivery.deliver(delivery_id)


@taskqueue.periodic
def deliver_due_webhooks() -> int:
    """Queue the retries that are due and the deliveries whose task was lost."""
    return delivery.deliver_due()


@taskqueue.periodic
def prune_webhook_log() -> int:
    """Delete messages (with deliveries and tries) older than WEBHOOKS_KEEP_DAYS."""
    count = endpoints.prune(int(current_app.config["WEBHOOKS_KEEP_DAYS"]))
    db.session.commit()
    return count
