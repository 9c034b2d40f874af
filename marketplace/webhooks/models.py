"""Webhook endpoints, the events written for them (the outbox) and each delivery with its tries.

``WebhookEndpoint``: an HTTPS address a firm (``firm_id``) or the hub (``firm_id`` None) has
registered for some event types, with its signing secret (Fernet-encrypted at rest, like the
printers' API keys) and, after a rotation, the previous secret until ``previous_secret_until``.
``WebhookMessage``: one event (``msg_...`` id, type, the exact JSON body that is signed and
sent), written in the transaction of the change it reports. ``WebhookDelivery``: the message
for one endpoint; the task queue's row (state, lease, attempts, ``next_attempt_at``).
``WebhookAttempt``: one HTTP try, with the response status and the start of its body.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import db
from marketplace.models import Firm, LeasedWork, new_public_id, utcnow

DELIVERY_STATES = ("pending", "succeeded", "failed")


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    firm_id: Mapped[int | None] = mapped_column(sa.ForeignKey("firms.id", ondelete="CASCADE"),
                                                index=True)  # None: the hub's own endpoint
    url: Mapped[str] = mapped_column(sa.String(2048))
    events: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    secret_encrypted: Mapped[str] = mapped_column(sa.Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    previous_secret_until: Mapped[datetime | None] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True)
    disabled_at: Mapped[datetime | None] = mapped_column()
    disabled_reason: Mapped[str | None] = mapped_column(sa.Text)
    # since when every try failed (None: the last one succeeded); the last success
    failing_since: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(sa.String(254), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    firm: Mapped[Firm | None] = relationship()


class WebhookMessage(db.Model):
    __tablename__ = "webhook_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(40), unique=True)  # msg_<32 hex>
    event_type: Mapped[str] = mapped_column(sa.String(64), index=True)
    firm_id: Mapped[int | None] = mapped_column(sa.ForeignKey("firms.id", ondelete="CASCADE"),
                                                index=True)  # None: a hub event
    body: Mapped[str] = mapped_column(sa.Text)  # the JSON sent, byte for byte
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class WebhookDelivery(LeasedWork, db.Model):
    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_messages.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(sa.String(16), default="pending", index=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    last_status: Mapped[int | None] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    replay_of_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("webhook_deliveries.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column()

    message: Mapped[WebhookMessage] = relationship()
    endpoint: Mapped[WebhookEndpoint] = relationship()
    tries: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="delivery", order_by="WebhookAttempt.id", cascade="all, delete-orphan",
        passive_deletes=True)


class WebhookAttempt(db.Model):
    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(sa.Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    url: Mapped[str] = mapped_column(sa.String(2048))
    status: Mapped[int | None] = mapped_column(sa.Integer)  # HTTP status; None: no answer
    response_body: Mapped[str] = mapped_column(sa.Text, default="")  # truncated
    error: Mapped[str | None] = mapped_column(sa.Text)
    duration_ms: Mapped[int] = mapped_column(sa.Integer, default=0)

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="tries")
