"""Request rate limits (Flask-Limiter), counted where every worker sees them.

Storage: Redis when ``REDIS_URL`` is set (or any ``RATELIMIT_STORAGE_URI``), else the app's own
database (``druckhub-db://``: the table ``rate_limit_counters``, one atomic upsert per hit on
SQLite and PostgreSQL), so the embedded default needs no Redis and several worker processes
still share one count. Counters commit on their own connection: a request that is refused or
rolled back still counts.

The limits (per client address, per firm, per e-mail address) are settings in ``config.py``;
the views say which apply with the decorators below.
"""

from __future__ import annotations

import time
from typing import ClassVar

import sqlalchemy as sa
from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_login import current_user
from limits.storage import Storage

from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.models import RateLimitCounter

RATE_LIMITED = N_("Zu viele Anfragen in kurzer Zeit. Bitte warten Sie etwas und versuchen Sie "
                   "es dann erneut.")
_table = RateLimitCounter.__table__


def client_address() -> str:
    """The client's address (ProxyFix makes it the real one behind ``PROXY_COUNT`` proxies)."""
    return (request.remote_addr or "unknown")[:64]


def firm_key() -> str:
    """The signed-in user's firm (staff: the user), so colleagues share one budget."""
    if not current_user.is_authenticated:
        return f"ip:{client_address()}"
    if current_user.firm_id is not None:
        return f"firm:{current_user.firm_id}"
    return f"user:{current_user.id}"


def form_address(field: str = "email"):
    """A key function: the e-mail address typed into ``field`` of the posted form."""

    def key() -> str:
        return "mail:" + (request.form.get(field) or "").strip().lower()[:254]

    return key


def setting(name: str):
    """A limit string read from the configuration at request time (tests may change it)."""
    return lambda: current_app.config[name]


limiter = Limiter(key_func=client_address, strategy="fixed-window",
                  headers_enabled=True, swallow_errors=False)


def limit(setting_name: str, key_func=client_address, scope: str | None = None):
    """Decorator: limit POSTs of a view by the limit in ``setting_name`` per ``key_func``."""
    return limiter.limit(setting(setting_name), key_func=key_func, methods=["POST"],
                         scope=scope or setting_name.lower(), error_message=RATE_LIMITED)


def limit_guests(setting_name: str):
    """Decorator: limit POSTs of visitors without an account (per client address)."""
    return limiter.limit(setting(setting_name), key_func=client_address, methods=["POST"],
                         scope=setting_name.lower(), error_message=RATE_LIMITED,
                         exempt_when=lambda: current_user.is_authenticated)


class DatabaseStorage(Storage):
    """Fixed-window counters in the app's database (``limits`` storage, scheme druckhub-db)."""

    STORAGE_SCHEME: ClassVar[list[str]] = ["druckhub-db"]
    CLEAN_EVERY_S = 60.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._cleaned_at = 0.0

    @property
    def base_exceptions(self):
        return sa.exc.SQLAlchemyError

    def _insert(self):
        if db.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(_table)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        expired = _table.c.expires_at <= now
        stmt = self._insert().values(key=key, count=amount, expires_at=now + expiry)
        stmt = stmt.on_conflict_do_update(index_elements=[_table.c.key], set_={
            "count": sa.case((expired, amount), else_=_table.c.count + amount),
            "expires_at": sa.case((expired, now + expiry), else_=_table.c.expires_at),
        }).returning(_table.c.count)
        with db.engine.begin() as conn:
            count = conn.execute(stmt).scalar_one()
            if now - self._cleaned_at > self.CLEAN_EVERY_S:
                self._cleaned_at = now
                conn.execute(sa.delete(_table).where(_table.c.expires_at < now))
        return int(count)

    def _row(self, key: str):
        with db.engine.begin() as conn:
            return conn.execute(sa.select(_table.c.count, _table.c.expires_at).where(
                _table.c.key == key, _table.c.expires_at > time.time())).first()

    def get(self, key: str) -> int:
        row = self._row(key)
        return int(row.count) if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return float(row.expires_at) if row else time.time()

    def check(self) -> bool:
        try:
            with db.engine.begin() as conn:
                conn.execute(sa.select(1))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with db.engine.begin() as conn:
            return conn.execute(sa.delete(_table)).rowcount

    def clear(self, key: str) -> None:
        with db.engine.begin() as conn:
            conn.execute(sa.delete(_table).where(_table.c.key == key))


def init_app(app: Flask) -> None:
    """Choose the storage (Redis if configured, else the database) and start the limiter."""
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = app.config.get("REDIS_URL") or "druckhub-db://"
    limiter.init_app(app)
