"""Webhooks through the real task queue: a `flask worker` process sends the delivery queued by
the commit, and its retry after a 500 runs from Huey's schedule (SQLite and Redis storage)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from queue_helpers import queue_settings, wait_for, workers  # noqa: F401
from standardwebhooks.webhooks import Webhook
from test_orders_service import make_quote
from webhook_receiver import Answer, WebhookReceiver

from marketplace.extensions import db
from marketplace.models import Firm
from marketplace.webhooks import endpoints, payloads
from marketplace.webhooks.models import WebhookAttempt, WebhookDelivery

REDIS_DB = "redis://127.0.0.1:6379/8"  # this work's own Redis database


@pytest.fixture(params=["sqlite", "redis"])
def queue_storage(request):
    return request.param


@pytest.fixture
def app_config(app_config, tmp_path, queue_storage):
    return {**app_config, **queue_settings(tmp_path, queue_storage, REDIS_DB)}


def _delivery():
    db.session.rollback()
    return db.session.scalar(sa.select(WebhookDelivery))


def test_a_worker_delivers_and_retries_from_the_schedule(app, workers):
    firm = Firm(name="Muster Maschinenbau GmbH")
    db.session.add(firm)
    with WebhookReceiver() as receiver:
        receiver.answers = [Answer(500, b"busy")]  # then 204
        endpoint, secret = endpoints.create(firm, receiver.url, ["quote.created"], actor="test")
        quote = make_quote(firm=firm)
        payloads.quote_created(quote)
        db.session.commit()  # queued on the real queue; nothing is sent from this process
        assert receiver.requests == []
        workers.start(1, WEBHOOKS_ALLOW_LOOPBACK="1", WEBHOOKS_RETRY_BASE_S="1",
                      PRINTER_KEY_SECRETS=app.config.get("PRINTER_KEY_SECRETS") or "",
                      SECRET_KEY=app.config["SECRET_KEY"])
        wait_for(lambda: (d := _delivery()) is not None and d.state == "succeeded", 60,
                 "the worker's retry")
        assert len(receiver.requests) == 2
        first, second = receiver.requests
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        assert Webhook(secret).verify(second.body, second.headers)["type"] == "quote.created"
    delivery = _delivery()
    assert delivery.attempts == 2 and delivery.lease_owner is None
    tries = db.session.scalars(sa.select(WebhookAttempt).order_by(WebhookAttempt.id)).all()
    assert [(t.status, t.response_body) for t in tries] == [(500, "busy"), (204, "")]
    # the retry waited for its back-off (1 s ± 25 %), not for the periodic pass
    assert 0.7 <= (tries[1].at - tries[0].at).total_seconds() < 30
