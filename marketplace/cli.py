"""`flask --app marketplace ...` commands."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from marketplace import audit
from marketplace.extensions import db


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the database tables (migrations: `flask db upgrade`)."""
    db.create_all()
    click.echo("database ready")


# --- accounts and demo data (portal-core) ---------------------------------------------------

def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice(["technician", "admin", "firm"]), required=True)
@click.option("--firm", "firm_name", help="Firm name (role firm); created if it does not exist.")
@click.option("--password", help="Password (at least 10 characters); prompted if left out.")
@click.option("--name", help="Display name.")
@click.option("--language", type=click.Choice(["de", "en"]), default="de", show_default=True)
@with_appcontext
def create_user_command(email, role, firm_name, password, name, language) -> None:
    """Create a user: a technician, an admin or a firm user (with --firm)."""
    from marketplace.accounts import operations as accounts

    if role == "firm" and not firm_name:
        _fail("--firm NAME is required for --role firm")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user, firm_created = accounts.create_user(email, role, password, firm_name=firm_name,
                                                  name=name, language=language)
    except accounts.AccountError as exc:
        db.session.rollback()
        _fail(exc.message)
    audit.record("account_created", actor="cli", target=user.email,
                 detail={"role": user.role, "firm": user.firm.name if user.firm else None})
    db.session.commit()
    if firm_created:
        click.echo(f"firm created: {user.firm.name}")
    click.echo(f"user created: {user.email} ({user.role})")


@click.command("set-password")
@click.argument("email")
@click.option("--password", help="New password (at least 10 characters); prompted if left out.")
@with_appcontext
def set_password_command(email, password) -> None:
    """Give an account a new password (this ends all of its sessions)."""
    from marketplace.accounts import operations as accounts

    user = accounts.find_user(email)
    if user is None:
        _fail(f"no account for {email}")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        accounts.set_password(user, password)
    except accounts.AccountError as exc:
        db.session.rollback()
        _fail(exc.message)
    audit.record("password_changed", actor="cli", target=user.email)
    db.session.commit()
    click.echo(f"password changed: {user.email}")


@click.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(["technician", "admin"]))
@with_appcontext
def set_role_command(email, role) -> None:
    """Make a staff account a technician or an admin (firm accounts stay firm accounts)."""
    from marketplace.accounts import operations as accounts

    user = accounts.find_user(email)
    if user is None or user.role not in ("technician", "admin"):
        _fail(f"no staff account for {email}")
    before = user.role
    user.role = role
    audit.record("role_changed", actor="cli", target=user.email,
                 detail={"from": before, "to": role})
    db.session.commit()
    click.echo(f"role of {user.email}: {before} -> {role}")


def _seed_materials() -> int:
    """Add the catalogue's default materials that the hub does not have yet."""
    from marketplace.engine.pricing.catalog import DEFAULT_MATERIALS
    from marketplace.models import Material

    added = 0
    for spec in DEFAULT_MATERIALS.values():
        if db.session.execute(sa.select(Material).where(Material.code == spec.code)).scalar():
            continue  # keep what an admin has changed
        db.session.add(Material(code=spec.code, name=spec.name, density_g_cm3=spec.density_g_cm3,
                                price_per_kg_cents=spec.price_per_kg_cents,
                                colours=list(spec.colours)))
        added += 1
    return added


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Add materials, a demo firm with its user, a technician and an admin (idempotent).

    Refused under DRUCKHUB_ENV=production: the demo passwords are printed in the README.
    """
    from marketplace.accounts import operations as accounts
    from marketplace.accounts.demo import (
        DEMO_FIRM,
        DEMO_HUB_ADDRESS,
        DEMO_HUB_LEGAL,
        DEMO_PRIVACY,
        DEMO_TERMS,
        DEMO_USERS,
    )
    from marketplace.models import Firm
    from marketplace.settings import operations as settings

    if current_app.config.get("ENVIRONMENT") == "production":
        _fail("seed-demo does not run under DRUCKHUB_ENV=production: its passwords are public")
    added = _seed_materials()
    firm = accounts.find_firm(DEMO_FIRM["name"])
    if firm is None:
        firm = Firm(**DEMO_FIRM)
        db.session.add(firm)
        db.session.flush()
    for email, password, role, name in DEMO_USERS:
        if accounts.find_user(email) is None:
            accounts.create_user(email, role, password, name=name,
                                 firm_name=firm.name if role == "firm" else None)
            click.echo(f"demo user: {email} / {password} ({role})")
        else:
            click.echo(f"demo user exists: {email} ({role})")
    # only into a hub without legal details: an admin's own details stay as they are
    if not any(settings.get_hub_legal().get(k) for k in settings.REQUIRED_LEGAL):
        address = settings.get_hub_address()
        settings.set_hub_address({**address, **{k: v for k, v in DEMO_HUB_ADDRESS.items()
                                                 if not address.get(k)}})
        settings.set_hub_legal(DEMO_HUB_LEGAL)
        click.echo("demo legal details of the hub added (example data; change them under "
                   "Einstellungen before real use)")
    texts = settings.get_legal_texts()
    if not texts["terms"] and not texts["privacy"]:
        settings.set_legal_texts({"terms": DEMO_TERMS, "privacy": DEMO_PRIVACY})
        click.echo("sample terms (AGB) and privacy notice of the hub added (change them under "
                   "Einstellungen before real use)")
    db.session.commit()
    click.echo(f"materials added: {added}")


@click.group("mail")
def mail_cli() -> None:
    """The e-mail outbox."""


@mail_cli.command("send")
@with_appcontext
def mail_send_command() -> None:
    """Send the mails waiting in the outbox (retries failed ones when due)."""
    from marketplace.mail import mailer

    report = mailer.send_pending(limit=1000)
    click.echo(f"sent: {report.sent}, logged only: {report.logged_only}, failed: {report.failed}")


@click.command("worker")
@click.option("-w", "--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="How many tasks run at once (threads or processes).")
@click.option("-k", "--worker-type", type=click.Choice(["thread", "process"]), default="thread",
              show_default=True, help="Threads suffice: meshes and slicing run in child "
              "processes anyway.")
@click.option("--max-tasks", type=int, default=None,
              help="Restart a worker after this many tasks.")
@with_appcontext
def worker_command(workers: int, worker_type: str, max_tasks: int | None) -> None:
    """Run a task worker: analyses, estimates, slicing, e-mail, and the reapers (Ctrl-C stops)."""
    from flask import current_app

    from marketplace import taskqueue

    app = current_app._get_current_object()  # its logging: JSON lines (marketplace.ops.logs)
    click.echo(f"worker: {workers} {worker_type}(s) on the {taskqueue.storage_name()} queue "
               f"{taskqueue.huey.name!r}")
    taskqueue.run_worker(app, workers=workers, worker_type=worker_type, max_tasks=max_tasks)


def register(app: Flask) -> None:
    """Add the project's commands to ``app.cli``."""
    app.cli.add_command(init_db_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(set_password_command)
    app.cli.add_command(set_role_command)
    app.cli.add_command(mail_cli)
    from printers.cli import dispatcher_cli, printers_cli

    app.cli.add_command(printers_cli)
    app.cli.add_command(dispatcher_cli)
    from marketplace.portal.cli_orders import orders_cli
    from marketplace.portal.cli_parts import parts_cli

    app.cli.add_command(orders_cli)
    app.cli.add_command(parts_cli)
    app.cli.add_command(worker_command)
    from marketplace.invoices.cli import invoices_cli

    app.cli.add_command(invoices_cli)
    from marketplace.webhooks.cli import webhooks_cli

    app.cli.add_command(webhooks_cli)
    from marketplace.tokens.cli import tokens_cli

    app.cli.add_command(tokens_cli)
