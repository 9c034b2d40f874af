"""The firm's webhook endpoints through the API: list, register (the secret once), remove,
rotate the secret, read the deliveries and replay one. Thin views over
``marketplace.webhooks`` (the hooks' domain: SSRF checks, signing, delivery, retries)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_login import current_user

from marketplace.api.v1 import schemas as s
from marketplace.api.v1.core import Problem, _, idempotency_doc, make_blueprint, requires, writes
from marketplace.extensions import db
from marketplace.webhooks import delivery as webhook_delivery
from marketplace.webhooks import endpoints, events_for
from marketplace.webhooks.models import WebhookDelivery, WebhookEndpoint

webhooks_bp = make_blueprint("Webhooks", "The firm's webhook endpoints (Standard Webhooks "
                                         "signatures): register, rotate, deliveries, replay.")
FIRM = ("firm",)


def endpoint_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"id": endpoint.public_id, "url": endpoint.url, "events": list(endpoint.events),
            "description": endpoint.description, "active": endpoint.active,
            "disabled_reason": endpoint.disabled_reason, "created_at": endpoint.created_at,
            "last_success_at": endpoint.last_success_at,
            "failing_since": endpoint.failing_since}


def _endpoint(webhook_id: str) -> WebhookEndpoint:
    endpoint = endpoints.find(webhook_id, current_user.firm_id)
    if endpoint is None:
        raise Problem(404, "not_found", _("%(what)s nicht gefunden.", what=_("Webhook")))
    return endpoint


def _refused(exc: endpoints.EndpointError) -> Problem:
    text = _(exc.message, **exc.params)
    return Problem(422, f"bad_{exc.field}", text, errors={exc.field: [text]}, field=exc.field)


@webhooks_bp.route("/webhooks", methods=["GET"])
@requires("read", roles=FIRM)
@webhooks_bp.response(200, s.WebhookListSchema)
def list_webhooks():
    """The firm's endpoints, and the events it can subscribe to."""
    return {"items": [endpoint_json(e) for e in endpoints.endpoints_of(current_user.firm_id)],
            "events": {name: _(text) for name, text in
                       events_for(current_user.firm_id).items()}}


@webhooks_bp.route("/webhooks", methods=["POST"])
@writes(idempotency="optional")
@requires("write", roles=FIRM)
@webhooks_bp.arguments(s.WebhookRequestSchema)
@webhooks_bp.response(201, s.WebhookCreatedSchema)
@webhooks_bp.doc(**idempotency_doc(False))
def create_webhook(body):
    """Register an HTTPS endpoint for events; the answer holds its signing secret (once)."""
    try:
        endpoint, secret = endpoints.create(current_user.firm, body["url"], body["events"],
                                            description=body["description"],
                                            actor=current_user.email)
    except endpoints.EndpointError as exc:
        raise _refused(exc) from None
    return {**endpoint_json(endpoint), "secret": secret}, 201, {
        "Location": url_for("Webhooks.get_webhook", webhook_id=endpoint.public_id)}


@webhooks_bp.route("/webhooks/<webhook_id>", methods=["GET"])
@requires("read", roles=FIRM)
@webhooks_bp.response(200, s.WebhookSchema)
def get_webhook(webhook_id):
    """One endpoint."""
    return endpoint_json(_endpoint(webhook_id))


@webhooks_bp.route("/webhooks/<webhook_id>", methods=["DELETE"])
@writes()
@requires("write", roles=FIRM)
@webhooks_bp.response(204)
def delete_webhook(webhook_id):
    """Remove an endpoint with its deliveries."""
    endpoints.remove(_endpoint(webhook_id))
    return "", 204


@webhooks_bp.route("/webhooks/<webhook_id>/rotate-secret", methods=["POST"])
@writes()
@requires("write", roles=FIRM)
@webhooks_bp.response(200, s.SecretSchema)
def rotate_webhook_secret(webhook_id):
    """A new signing secret (shown once); the old one keeps signing for an overlap."""
    endpoint = _endpoint(webhook_id)
    secret = endpoints.rotate_secret(endpoint)
    return {"secret": secret, "previous_valid_until": endpoint.previous_secret_until}


@webhooks_bp.route("/webhooks/<webhook_id>/deliveries", methods=["GET"])
@requires("read", roles=FIRM)
@webhooks_bp.response(200, s.WebhookDeliveryListSchema)
def list_webhook_deliveries(webhook_id):
    """The endpoint's newest deliveries (at most 100) with their last answer."""
    endpoint = _endpoint(webhook_id)
    return {"items": [delivery_json(d) for d in endpoints.deliveries_of(endpoint)]}


def delivery_json(delivery) -> dict[str, Any]:
    return {"id": delivery.public_id, "event": delivery.message.event_type,
            "message_id": delivery.message.public_id, "state": delivery.state,
            "last_status": delivery.last_status, "last_error": delivery.last_error,
            "attempts": len(delivery.tries), "created_at": delivery.created_at,
            "finished_at": delivery.finished_at,
            "replay_of": db.session.scalar(sa.select(WebhookDelivery.public_id).where(
                WebhookDelivery.id == delivery.replay_of_id)) if delivery.replay_of_id else None}


@webhooks_bp.route("/webhooks/<webhook_id>/deliveries/<delivery_id>/replay", methods=["POST"])
@writes()
@requires("write", roles=FIRM)
@webhooks_bp.response(201, s.WebhookDeliverySchema)
def replay_webhook_delivery(webhook_id, delivery_id):
    """Send a delivery's message again (same webhook-id, a new delivery)."""
    endpoint = _endpoint(webhook_id)
    delivery = endpoints.find_delivery(delivery_id, endpoint)
    if delivery is None:
        raise Problem(404, "not_found", _("%(what)s nicht gefunden.", what=_("Zustellung")))
    try:
        again = webhook_delivery.replay(delivery, current_user.email)
    except webhook_delivery.ReplayError as exc:
        raise Problem(409, "replay_refused", _(str(exc))) from None
    db.session.flush()
    return delivery_json(again), 201


BLUEPRINTS = (webhooks_bp,)
