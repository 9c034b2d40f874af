"""Write an event to the webhook outbox, in the transaction of the change it reports.

``emit`` adds a :class:`WebhookMessage` and one :class:`WebhookDelivery` per active endpoint
that subscribed to the type (the firm's own endpoints, and the hub's; hub events only the
hub's), and queues their delivery tasks for after the commit. A rollback takes the rows and the
queued tasks with it, so no event of a change that did not happen ever goes out. Without a
subscribed endpoint nothing is written. The caller commits.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from marketplace import taskqueue
from marketplace.extensions import db
from marketplace.models import utcnow
from marketplace.webhooks import EVENTS, HUB_EVENTS
from marketplace.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookMessage


def iso(moment: datetime | None) -> str | None:
    """An ISO 8601 UTC time for a payload (``2026-11-30T14:00:00Z``)."""
    if moment is None:
        return None
    return moment.replace(microsecond=0).isoformat() + "Z"


def subscribers(event_type: str, firm_id: int | None) -> list[WebhookEndpoint]:
    """Active endpoints that receive ``event_type`` of ``firm_id``."""
    owners = WebhookEndpoint.firm_id.is_(None)
    if event_type not in HUB_EVENTS and firm_id is not None:
        owners = sa.or_(owners, WebhookEndpoint.firm_id == firm_id)
    rows = db.session.scalars(sa.select(WebhookEndpoint).where(
        WebhookEndpoint.active.is_(True), owners).order_by(WebhookEndpoint.id))
    return [e for e in rows if event_type in (e.events or [])]


def emit(event_type: str, data: dict[str, Any], *, firm_id: int | None) -> WebhookMessage | None:
    """Write ``event_type`` with ``data`` for its subscribers; return the message (or None)."""
    if event_type not in EVENTS:
        raise ValueError(f"unknown webhook event {event_type!r}")
    endpoints = subscribers(event_type, firm_id)
    if not endpoints:
        return None
    now = utcnow()
    body = json.dumps({"type": event_type, "timestamp": iso(now), "data": data},
                      ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)
    message = WebhookMessage(public_id=f"msg_{uuid.uuid4().hex}", event_type=event_type,
                             firm_id=firm_id, body=body, created_at=now)
    db.session.add(message)
    db.session.flush()
    for endpoint in endpoints:
        queue_delivery(message, endpoint, now=now)
    return message


def queue_delivery(message: WebhookMessage, endpoint: WebhookEndpoint, *,
                   now: datetime | None = None, replay_of: WebhookDelivery | None = None
                   ) -> WebhookDelivery:
    """Add a delivery of ``message`` to ``endpoint``, sent after the commit (caller commits)."""
    now = now or utcnow()
    delivery = WebhookDelivery(message_id=message.id, endpoint_id=endpoint.id, state="pending",
                               next_attempt_at=now, queued_at=now, created_at=now,
                               replay_of_id=replay_of.id if replay_of is not None else None)
    db.session.add(delivery)
    db.session.flush()
    from marketplace.webhooks import tasks  # the task module imports the HTTP client

    taskqueue.enqueue_after_commit(tasks.deliver_webhook, delivery.id)
    return delivery
