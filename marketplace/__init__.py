"""Druckhub: the marketplace web app (firm portal, hub console, JSON API)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Flask is imported lazily: the quote engine (marketplace.engine.quote,
    from flask import (
        Flask,  # python -m marketplace.quote) must not pay for the web stack
    )


def create_app(config: Mapping | None = None) -> Flask:
    """Build the app: load ``config.Config``, then apply ``config`` overrides (tests)."""
    from flask import Flask

    app = Flask(__name__, instance_relative_config=False)
    app.config.from_object("config.Config")
    if config:
        app.config.update(config)
    _ensure_secret_key(app)
    _check_holiday_region(app)
    os.makedirs(app.config["UPLOAD_DIR"], exist_ok=True)
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:///:memory:"):
        os.makedirs(os.path.dirname(uri[len("sqlite:///") :]) or ".", exist_ok=True)
    if uri.startswith("sqlite"):
        # SQLite has one writer at a time: a writer waits for the lock this long instead of
        # failing after pysqlite's 5 s ("database is locked" under an upload burst on a busy host)
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("connect_args", {}).setdefault(
            "timeout", float(app.config["SQLITE_BUSY_TIMEOUT_S"]))
    register_extensions(app)
    register_blueprints(app)
    register_commands(app)
    if app.config.get("ENVIRONMENT") == "production":
        _refuse_demo_passwords(app)
    return app


def _refuse_demo_passwords(app: Flask) -> None:
    """Refuse a production start while an account signs in with a published demo password."""
    if app.config.get("SKIP_DEMO_PASSWORD_CHECK"):
        return  # set only for the one command that fixes it (see the message below)
    from marketplace.accounts.demo import accounts_with_demo_passwords

    with app.app_context():
        found = accounts_with_demo_passwords()
    if found:
        raise RuntimeError(
            "DRUCKHUB_ENV=production refuses to start: these accounts sign in with a demo "
            f"password printed in the README: {', '.join(found)}. Give each a new password: "
            "DRUCKHUB_SKIP_DEMO_PASSWORD_CHECK=1 flask --app marketplace set-password EMAIL")


def _ensure_secret_key(app: Flask) -> None:
    """Refuse to run production without SECRET_KEY; elsewhere keep a random one in instance/."""
    if app.config.get("SECRET_KEY"):
        return
    if app.config.get("ENVIRONMENT") == "production":
        raise RuntimeError("SECRET_KEY must be set when DRUCKHUB_ENV=production")
    import secrets

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "instance", "secret_key")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    with open(path) as handle:
        app.config["SECRET_KEY"] = handle.read().strip()


def _check_holiday_region(app: Flask) -> None:
    """Refuse to start with a ``HUB_HOLIDAY_REGION`` that names no German state."""
    from marketplace.scheduling.planning import HOLIDAY_REGIONS

    if app.config.get("HUB_HOLIDAY_REGION", "NI") not in HOLIDAY_REGIONS:
        known = ", ".join(r for r in HOLIDAY_REGIONS if r)
        raise RuntimeError(f"HUB_HOLIDAY_REGION must be one of {known} or empty")


def register_extensions(app: Flask) -> None:
    from marketplace import auth, models  # noqa: F401  (tables, user loader)
    from marketplace.extensions import csrf, db, login_manager, migrate
    from marketplace.ops import logs, metrics

    logs.init_app(app)  # first: the request id is bound before any other hook logs
    metrics.init_app(app)  # and the clock starts before the other hooks run
    db.init_app(app)
    migrate.init_app(
        app, db, directory=os.path.join(os.path.dirname(__file__), "migrations"),
        render_as_batch=True, compare_type=True,
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    from marketplace import rate_limits

    rate_limits.init_app(app)
    from marketplace import i18n, layout

    i18n.init_app(app)  # _() and formatting filters, language per request
    layout.init_app(app)  # navigation, error pages, security headers, e-mail outbox
    register_tasks(app)


def register_tasks(app: Flask) -> None:
    """Point the task queue at its storage and register every task (web and worker alike)."""
    from marketplace import taskqueue

    taskqueue.init_app(app)
    from marketplace.mail import tasks as _mail_tasks  # noqa: F401
    from marketplace.parts import tasks as _parts_tasks  # noqa: F401
    from marketplace.quotes import tasks as _quotes_tasks  # noqa: F401
    from marketplace.webhooks import events as _webhook_events  # noqa: F401  (listeners)
    from marketplace.webhooks import tasks as _webhook_tasks  # noqa: F401
    from marketplace.tokens import tasks as _token_tasks  # noqa: F401

    _webhook_events.init_app(app)
    from printers import tasks as printers_tasks

    printers_tasks.init_app(app)


def register_blueprints(app: Flask) -> None:
    from marketplace.api import bp as api_bp
    from marketplace.hub import bp as hub_bp
    from marketplace.ops.views import bp as ops_bp
    from marketplace.portal import bp as portal_bp

    app.register_blueprint(portal_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(hub_bp, url_prefix="/hub")
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    from marketplace.mail.mailer import dev_mailbox_enabled
    from marketplace.portal import mailbox_views

    if dev_mailbox_enabled(app.config):
        app.register_blueprint(mailbox_views.bp, url_prefix="/dev")
    from marketplace.api import v1 as api_v1

    api_v1.init_app(app)


def register_commands(app: Flask) -> None:
    from marketplace.cli import register

    register(app)
