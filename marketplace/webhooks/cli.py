"""`flask --app marketplace webhooks ...`: webhook endpoints and deliveries from the command line.

    flask --app marketplace webhooks add --firm NAME --url URL --events a,b   (prints id, secret)
    flask --app marketplace webhooks add --url URL --events a,b      (no --firm: a hub endpoint)
    flask --app marketplace webhooks list [--firm NAME | --hub]
    flask --app marketplace webhooks events
    flask --app marketplace webhooks deliveries ENDPOINT_ID [--failed]
    flask --app marketplace webhooks replay DELIVERY_ID...  |  replay --endpoint ID --failed
    flask --app marketplace webhooks rotate-secret ENDPOINT_ID
    flask --app marketplace webhooks enable|disable|remove ENDPOINT_ID
    flask --app marketplace webhooks send-due
"""

from __future__ import annotations

import sys

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from marketplace import audit
from marketplace.extensions import db
from marketplace.webhooks import EVENTS, HUB_EVENTS, delivery, endpoints
from marketplace.webhooks.models import WebhookDelivery, WebhookEndpoint

ACTOR = "cli"


@click.group("webhooks")
def webhooks_cli() -> None:
    """Webhook endpoints of firms and of the hub, and their deliveries."""


def _fail(message: str, code: int = 2) -> None:
    db.session.rollback()
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _firm(name: str):
    from marketplace.accounts import operations as accounts

    firm = accounts.find_firm(name)
    if firm is None:
        _fail(f"no firm {name!r}", 1)
    return firm


def _endpoint(public_id: str) -> WebhookEndpoint:
    row = db.session.scalar(sa.select(WebhookEndpoint).where(
        WebhookEndpoint.public_id == public_id))
    if row is None:
        _fail(f"no webhook endpoint {public_id!r}", 1)
    return row


def _error_text(exc: endpoints.EndpointError) -> str:
    return exc.message % exc.params if exc.params else exc.message


@webhooks_cli.command("add")
@click.option("--firm", "firm_name", default=None,
              help="The firm whose events it receives (left out: a hub endpoint).")
@click.option("--url", required=True, help="https:// address that receives the POSTs.")
@click.option("--events", required=True, help="Event types, comma-separated.")
@click.option("--description", default="", help="A note for the endpoint list.")
@with_appcontext
def add_command(firm_name, url, events, description) -> None:
    """Register an endpoint; print its id and its secret (whsec_..., shown once)."""
    firm = _firm(firm_name) if firm_name else None
    try:
        endpoint, secret = endpoints.create(firm, url, events, description=description,
                                            actor=ACTOR)
    except endpoints.EndpointError as exc:
        _fail(_error_text(exc))
    audit.record("webhook_added", actor=ACTOR, target=endpoint.url,
                 detail={"firm": firm.name if firm else None, "events": endpoint.events})
    db.session.commit()
    click.echo(f"id: {endpoint.public_id}")
    click.echo(f"secret: {secret}")


@webhooks_cli.command("events")
def events_command() -> None:
    """List the event types (hub events only for hub endpoints)."""
    for name in EVENTS:
        click.echo(f"{name}{'  (hub)' if name in HUB_EVENTS else ''}")


@webhooks_cli.command("list")
@click.option("--firm", "firm_name", default=None)
@click.option("--hub", is_flag=True, help="Only the hub's endpoints.")
@with_appcontext
def list_command(firm_name, hub) -> None:
    """List endpoints: id, state, owner, events, URL."""
    query = sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id)
    if firm_name:
        query = query.where(WebhookEndpoint.firm_id == _firm(firm_name).id)
    elif hub:
        query = query.where(WebhookEndpoint.firm_id.is_(None))
    for e in db.session.scalars(query):
        state = "active" if e.active else "disabled"
        owner = e.firm.name if e.firm else "hub"
        click.echo(f"{e.public_id}  {state:<8}  {owner}  {','.join(e.events)}  {e.url}")


@webhooks_cli.command("deliveries")
@click.argument("endpoint_id")
@click.option("--failed", is_flag=True, help="Only failed deliveries.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@with_appcontext
def deliveries_command(endpoint_id, failed, limit) -> None:
    """List an endpoint's deliveries, newest first: id, state, tries, last status, event."""
    endpoint = _endpoint(endpoint_id)
    query = sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if failed:
        query = query.where(WebhookDelivery.state == "failed")
    for d in db.session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)):
        click.echo(f"{d.public_id}  {d.state:<9}  tries={d.attempts}  "
                   f"status={d.last_status or '-'}  {d.message.event_type}  "
                   f"{d.message.public_id}  {d.last_error or ''}".rstrip())


@webhooks_cli.command("replay")
@click.argument("delivery_ids", nargs=-1)
@click.option("--endpoint", "endpoint_id", default=None,
              help="With --failed: replay every failed delivery of this endpoint.")
@click.option("--failed", is_flag=True)
@with_appcontext
def replay_command(delivery_ids, endpoint_id, failed) -> None:
    """Send deliveries again (same message and webhook-id); print the new deliveries' ids."""
    rows: list[WebhookDelivery] = []
    if endpoint_id:
        if not failed:
            _fail("--endpoint needs --failed")
        endpoint = _endpoint(endpoint_id)
        rows = list(db.session.scalars(sa.select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.state == "failed")
            .order_by(WebhookDelivery.id)))
    for public_id in delivery_ids:
        row = db.session.scalar(sa.select(WebhookDelivery).where(
            WebhookDelivery.public_id == public_id))
        if row is None:
            _fail(f"no webhook delivery {public_id!r}", 1)
        rows.append(row)
    if not rows:
        _fail("nothing to replay: name deliveries, or --endpoint ID --failed", 1)
    new = []
    for row in rows:
        try:
            new.append(delivery.replay(row, ACTOR))
        except delivery.ReplayError as exc:
            _fail(f"{row.public_id}: {exc.message}")
    db.session.commit()  # the deliveries are queued after this commit
    for row in new:
        db.session.refresh(row)
        click.echo(f"{row.public_id}  {row.state}")


@webhooks_cli.command("rotate-secret")
@click.argument("endpoint_id")
@with_appcontext
def rotate_command(endpoint_id) -> None:
    """Give an endpoint a new secret (printed); the old one also signs during the overlap."""
    endpoint = _endpoint(endpoint_id)
    secret = endpoints.rotate_secret(endpoint)
    audit.record("webhook_secret_rotated", actor=ACTOR, target=endpoint.url)
    db.session.commit()
    click.echo(f"secret: {secret}")
    click.echo(f"previous secret valid until: {endpoint.previous_secret_until:%Y-%m-%d %H:%M} UTC")


@webhooks_cli.command("enable")
@click.argument("endpoint_id")
@with_appcontext
def enable_command(endpoint_id) -> None:
    """Switch a disabled endpoint on again."""
    endpoint = _endpoint(endpoint_id)
    endpoints.enable(endpoint)
    db.session.commit()
    click.echo(f"{endpoint.public_id} active")


@webhooks_cli.command("disable")
@click.argument("endpoint_id")
@with_appcontext
def disable_command(endpoint_id) -> None:
    """Switch an endpoint off (nothing is sent to it until it is enabled)."""
    endpoint = _endpoint(endpoint_id)
    delivery.disable(endpoint, reason="disabled by the command line")
    db.session.commit()
    click.echo(f"{endpoint.public_id} disabled")


@webhooks_cli.command("remove")
@click.argument("endpoint_id")
@with_appcontext
def remove_command(endpoint_id) -> None:
    """Delete an endpoint with its deliveries."""
    endpoint = _endpoint(endpoint_id)
    url = endpoint.url
    endpoints.remove(endpoint)
    audit.record("webhook_removed", actor=ACTOR, target=url)
    db.session.commit()
    click.echo(f"{endpoint_id} removed")


@webhooks_cli.command("send-due")
@with_appcontext
def send_due_command() -> None:
    """Queue the deliveries that are due now (the workers do this periodically)."""
    click.echo(f"queued: {delivery.deliver_due(limit=10000)}")
