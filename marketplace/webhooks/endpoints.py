"""Register, change, rotate and remove webhook endpoints (the pages and the CLI call these).

A firm's endpoint receives the firm's events; the hub's (``firm`` None, admins only) every
event, the hub events and every firm's. The secret is shown once when it is made (and on the
endpoint's page to its owner); rotating makes a new one and keeps signing with the old one too
for ``WEBHOOKS_SECRET_OVERLAP_S`` (default 24 h), so the receiver can switch without losing a
message. The caller commits.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from marketplace import printer_keys
from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.models import Firm, utcnow
from marketplace.webhooks import events_for, signing, transport
from marketplace.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

MAX_ENDPOINTS_PER_OWNER = 20


class EndpointError(Exception):
    """An endpoint cannot be saved; ``message`` is German (``params`` for its placeholders)."""

    def __init__(self, message: str, field: str = "url", **params) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.field = field
        self.params = params


def parse_events(value: str | list[str] | None, firm_id: int | None) -> list[str]:
    """The event types named in ``value`` ("a,b" or a list), checked against the owner's."""
    names = value.split(",") if isinstance(value, str) else list(value or [])
    names = [n.strip() for n in names if n and n.strip()]
    allowed = events_for(firm_id)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise EndpointError(N_("Unbekannte Ereignisse: %(names)s. Möglich sind: %(allowed)s."),
                            "events", names=", ".join(unknown), allowed=", ".join(allowed))
    if not names:
        raise EndpointError(N_("Wählen Sie mindestens ein Ereignis."), "events")
    return [n for n in allowed if n in names]  # the catalogue's order, no duplicates


def _clean_url(url: str) -> str:
    try:
        return transport.check_url(url)
    except transport.UnsafeURLError as exc:
        raise EndpointError(exc.message, "url", **exc.params) from None


def create(firm: Firm | None, url: str, events, *, description: str = "", actor: str
           ) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; return it and its secret (shown to the owner once)."""
    firm_id = firm.id if firm is not None else None
    events = parse_events(events, firm_id)
    url = _clean_url(url)
    count = db.session.scalar(sa.select(sa.func.count(WebhookEndpoint.id)).where(
        WebhookEndpoint.firm_id == firm_id if firm_id is not None
        else WebhookEndpoint.firm_id.is_(None)))
    if count >= MAX_ENDPOINTS_PER_OWNER:
        raise EndpointError(N_("Höchstens %(n)s Endpunkte sind möglich."),
                            n=MAX_ENDPOINTS_PER_OWNER)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(firm_id=firm_id, url=url, events=events,
                               description=(description or "").strip()[:200],
                               secret_encrypted=printer_keys.encrypt(secret), created_by=actor)
    db.session.add(endpoint)
    db.session.flush()
    return endpoint, secret


def update(endpoint: WebhookEndpoint, *, url: str, events, description: str = "") -> None:
    endpoint.events = parse_events(events, endpoint.firm_id)
    endpoint.url = _clean_url(url)
    endpoint.description = (description or "").strip()[:200]
    db.session.flush()


def secret_of(endpoint: WebhookEndpoint) -> str:
    return printer_keys.decrypt(endpoint.secret_encrypted)


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    """Give ``endpoint`` a new secret; the old one signs too until the overlap ends."""
    overlap = int(current_app.config["WEBHOOKS_SECRET_OVERLAP_S"])
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_until = utcnow() + timedelta(seconds=overlap)
    secret = signing.new_secret()
    endpoint.secret_encrypted = printer_keys.encrypt(secret)
    db.session.flush()
    return secret


def reencrypt_secrets() -> int:
    """Re-encrypt every endpoint's secrets with the newest key (``flask printers rotate-keys``:
    the secrets share the printers' API keys' cipher); return how many endpoints."""
    count = 0
    for endpoint in db.session.scalars(sa.select(WebhookEndpoint)):
        endpoint.secret_encrypted = printer_keys.rotate(endpoint.secret_encrypted)
        if endpoint.previous_secret_encrypted:
            endpoint.previous_secret_encrypted = printer_keys.rotate(
                endpoint.previous_secret_encrypted)
        count += 1
    db.session.flush()
    return count


def enable(endpoint: WebhookEndpoint) -> None:
    """Switch a disabled endpoint on again (deliveries that failed meanwhile can be replayed)."""
    endpoint.active = True
    endpoint.disabled_at = endpoint.disabled_reason = None
    endpoint.failing_since = None
    db.session.flush()


def remove(endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint with its deliveries and their log."""
    delete_deliveries(WebhookDelivery.endpoint_id == endpoint.id)
    db.session.delete(endpoint)
    db.session.flush()


def delete_deliveries(*where) -> int:
    """Delete the deliveries matching ``where`` with their tries (SQLite keeps no foreign key
    cascades); return how many deliveries."""
    ids = sa.select(WebhookDelivery.id).where(*where).scalar_subquery()
    db.session.execute(sa.delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids))
                       .execution_options(synchronize_session=False))
    db.session.execute(sa.update(WebhookDelivery).where(WebhookDelivery.replay_of_id.in_(ids))
                       .values(replay_of_id=None).execution_options(synchronize_session=False))
    result = db.session.execute(sa.delete(WebhookDelivery).where(*where)
                                .execution_options(synchronize_session=False))
    return result.rowcount


def prune(keep_days: int, now=None) -> int:
    """Delete messages older than ``keep_days`` that wait for no delivery, with their
    deliveries and tries (the workers' periodic pass); return how many messages."""
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    pending = sa.select(WebhookDelivery.message_id).where(WebhookDelivery.state == "pending")
    old = sa.select(WebhookMessage.id).where(WebhookMessage.created_at < cutoff,
                                             WebhookMessage.id.not_in(pending))
    old_ids = list(db.session.scalars(old.limit(1000)))
    if not old_ids:
        return 0
    delete_deliveries(WebhookDelivery.message_id.in_(old_ids))
    db.session.execute(sa.delete(WebhookMessage).where(WebhookMessage.id.in_(old_ids))
                       .execution_options(synchronize_session=False))
    return len(old_ids)


def forget_creator(email: str, label: str) -> None:
    """Replace a deleted account's e-mail address in the endpoints it made by ``label``."""
    db.session.execute(sa.update(WebhookEndpoint).where(WebhookEndpoint.created_by == email)
                       .values(created_by=label).execution_options(synchronize_session=False))


def endpoints_of(firm_id: int | None) -> list[WebhookEndpoint]:
    owner = (WebhookEndpoint.firm_id == firm_id if firm_id is not None
             else WebhookEndpoint.firm_id.is_(None))
    return list(db.session.scalars(sa.select(WebhookEndpoint).where(owner)
                                   .order_by(WebhookEndpoint.id)))


def find(public_id: str, firm_id: int | None) -> WebhookEndpoint | None:
    """The endpoint ``public_id`` of this owner (a firm's id, or None for the hub)."""
    owner = (WebhookEndpoint.firm_id == firm_id if firm_id is not None
             else WebhookEndpoint.firm_id.is_(None))
    return db.session.scalar(sa.select(WebhookEndpoint).where(
        WebhookEndpoint.public_id == public_id, owner))


def deliveries_of(endpoint: WebhookEndpoint, limit: int = 100) -> list[WebhookDelivery]:
    return list(db.session.scalars(
        sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc()).limit(limit)))


def find_delivery(public_id: str, endpoint: WebhookEndpoint) -> WebhookDelivery | None:
    return db.session.scalar(sa.select(WebhookDelivery).where(
        WebhookDelivery.public_id == public_id, WebhookDelivery.endpoint_id == endpoint.id))
