"""Deliver webhook messages: claim, sign, POST, log the try, retry with back-off, give up.

A delivery is the task queue's row (:mod:`marketplace.taskqueue`): the task claims it with a
lease (one conditional UPDATE that counts the attempt), sends, and writes the outcome only while
it still holds the lease. A failed try is retried after ``WEBHOOKS_RETRY_BASE_S * 2**(n-1)``
seconds with ±25 % jitter; with the defaults (60 s, 13 tries) the last try is about 2.8 days
after the first. A delivery whose tries all failed is ``failed``; if its endpoint has not
answered one delivery successfully since that delivery began, the endpoint is disabled and its
owner (the firm's users, or the hub's admins) gets an e-mail. Failed deliveries can be replayed
(a new delivery of the same message, same ``webhook-id``) from the pages and the command line.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from marketplace import printer_keys, taskqueue
from marketplace.extensions import db
from marketplace.models import User, utcnow
from marketplace.webhooks import outbox, signing, transport
from marketplace.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)


class ReplayError(Exception):
    """A delivery cannot be replayed now; ``message`` is German."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def retry_delay_s(attempt: int, base_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed try number ``attempt`` (1, 2, ...): exponential, ±25 %."""
    rng = rng or random
    return base_s * 2 ** (attempt - 1) * rng.uniform(0.75, 1.25)


def schedule_s(max_attempts: int, base_s: float) -> float:
    """Seconds from the first to the last try without jitter (the schedule's length)."""
    return sum(base_s * 2 ** (n - 1) for n in range(1, max_attempts))


def signing_secrets(endpoint: WebhookEndpoint, now: datetime | None = None) -> list[str]:
    """The endpoint's secret, and the previous one while the rotation's overlap lasts."""
    now = now or utcnow()
    found = [printer_keys.decrypt(endpoint.secret_encrypted)]
    if (endpoint.previous_secret_encrypted and endpoint.previous_secret_until
            and endpoint.previous_secret_until > now):
        found.append(printer_keys.decrypt(endpoint.previous_secret_encrypted))
    return found


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(WebhookDelivery.state == "pending",
                   sa.or_(WebhookDelivery.next_attempt_at.is_(None),
                          WebhookDelivery.next_attempt_at <= now))


def deliver(delivery_id: int) -> bool:
    """Make one try of ``delivery_id`` if it is due; return whether this call tried."""
    cfg = current_app.config
    lease_s = float(cfg["WEBHOOKS_CONNECT_TIMEOUT_S"]) + 2 * float(cfg["WEBHOOKS_TIMEOUT_S"]) + 30
    lease = taskqueue.claim(WebhookDelivery, delivery_id, _due(utcnow()), lease_s=lease_s)
    if lease is None:
        return False
    delivery = db.session.get(WebhookDelivery, delivery_id)
    endpoint, message = delivery.endpoint, delivery.message
    if not endpoint.active:
        lease.finish(state="failed", finished_at=utcnow(), next_attempt_at=None,
                     last_error="Endpunkt deaktiviert")
        db.session.commit()
        return True
    now = utcnow()
    body = message.body.encode()
    headers = signing.headers(signing_secrets(endpoint, now), message.public_id,
                              _unix(now), body)
    url = endpoint.url
    db.session.rollback()  # no transaction stays open while the endpoint answers
    answer = transport.post(url, body, headers)
    _record(lease, answer, url, cfg)
    return True


def _unix(moment: datetime) -> int:
    """Seconds since the epoch of a naive UTC time."""
    return int((moment - datetime(1970, 1, 1)).total_seconds())


def _record(lease: taskqueue.Lease, answer: transport.Response, url: str, cfg) -> None:
    now = utcnow()
    wait = 0.0
    attempt = WebhookAttempt(delivery_id=lease.row_id, number=lease.attempt, at=now, url=url,
                             status=answer.status, response_body=answer.body,
                             error=answer.error, duration_ms=answer.duration_ms)
    if answer.ok:
        done = lease.finish(state="succeeded", finished_at=now, next_attempt_at=None,
                            last_status=answer.status, last_error=None)
    elif lease.attempt >= int(cfg["WEBHOOKS_MAX_ATTEMPTS"]):
        done = lease.finish(state="failed", finished_at=now, next_attempt_at=None,
                            last_status=answer.status, last_error=answer.error)
    else:
        wait = retry_delay_s(lease.attempt, float(cfg["WEBHOOKS_RETRY_BASE_S"]))
        retry_at = now + timedelta(seconds=wait)
        done = lease.finish(next_attempt_at=retry_at, queued_at=retry_at,
                            last_status=answer.status, last_error=answer.error)
    if not done:
        db.session.rollback()
        log.warning("webhook delivery %s: lease lost; the try is not recorded", lease.row_id)
        return
    db.session.add(attempt)
    delivery = db.session.get(WebhookDelivery, lease.row_id, populate_existing=True)
    endpoint = delivery.endpoint
    if answer.ok:
        endpoint.last_success_at, endpoint.failing_since = now, None
    else:
        endpoint.failing_since = endpoint.failing_since or now
        if delivery.state == "failed" and endpoint.active and (
                endpoint.last_success_at is None
                or endpoint.last_success_at < delivery.created_at):
            disable(endpoint, reason=answer.error or "", notify=True)
    db.session.commit()
    log.info("webhook delivery %s try %s to %s: %s", delivery.id, lease.attempt, url,
             answer.status or answer.error)
    if delivery.state == "pending" and not taskqueue.huey.immediate:
        from marketplace.webhooks import tasks

        try:
            tasks.deliver_webhook.schedule((delivery.id,), delay=wait)
        except Exception:  # the periodic pass finds it
            log.exception("could not schedule webhook delivery %s", delivery.id)


def deliver_due(limit: int = 200) -> int:
    """Queue the deliveries that are due and not in a live lease (retries, lost tasks)."""
    now = utcnow()
    stale = now - timedelta(seconds=int(current_app.config["TASK_REQUEUE_AFTER_S"]))
    query = sa.select(WebhookDelivery.id).where(
        _due(now),
        sa.or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now))
    if not taskqueue.huey.immediate:  # immediate mode (tests): a scheduled retry never runs
        query = query.where(sa.or_(WebhookDelivery.queued_at.is_(None),
                                   WebhookDelivery.queued_at <= stale))
    ids = list(db.session.scalars(
        query.order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)))
    db.session.commit()
    from marketplace.webhooks import tasks

    for delivery_id in ids:
        db.session.execute(sa.update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                           .values(queued_at=now))
        db.session.commit()
        taskqueue.enqueue(tasks.deliver_webhook, delivery_id)
    return len(ids)


def replay(delivery: WebhookDelivery, actor: str) -> WebhookDelivery:
    """Send ``delivery``'s message to its endpoint again (a new delivery; caller commits)."""
    endpoint = delivery.endpoint
    if not endpoint.active:
        raise ReplayError("Der Endpunkt ist deaktiviert; aktivieren Sie ihn zuerst.")
    if delivery.state == "pending":
        raise ReplayError("Diese Zustellung läuft noch.")
    log.info("webhook delivery %s replayed by %s", delivery.id, actor)
    return outbox.queue_delivery(delivery.message, endpoint, replay_of=delivery)


def disable(endpoint: WebhookEndpoint, *, reason: str, notify: bool = False) -> None:
    """Disable ``endpoint`` (its pending deliveries are not sent); mail its owner if asked."""
    endpoint.active = False
    endpoint.disabled_at = utcnow()
    endpoint.disabled_reason = reason[:2000] or None
    if notify:
        from marketplace.mail import notifications

        for user in owners(endpoint):
            notifications.queue_webhook_disabled(user, endpoint.url, reason,
                                                 hub=endpoint.firm_id is None)


def owners(endpoint: WebhookEndpoint) -> list[User]:
    """Who is told about the endpoint: the firm's active users, or the hub's active admins."""
    if endpoint.firm_id is not None:
        query = sa.select(User).where(User.firm_id == endpoint.firm_id, User.role == "firm")
    else:
        query = sa.select(User).where(User.role == "admin")
    return list(db.session.scalars(query.where(User.active.is_(True)).order_by(User.id)))


