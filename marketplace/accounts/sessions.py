"""Sign-ins that can be ended: one ``UserSession`` row per sign-in on a device.

The browser holds the key ``<public id>.<secret>``: Flask-Login keeps it as the session's
``_user_id`` and, with "keep me signed in", in the remember cookie (``User.get_id`` returns it).
Every request that asks who is signed in looks the row up (:func:`user_for_key`): a key whose
row is gone (signed out, ended on the account page, a new password) or expired, or that comes
from another browser than the one it was issued to, signs nobody in, and a key seen from
another browser ends its sign-in at once (it was copied).

Lifetimes: "keep me signed in" lasts ``REMEMBER_COOKIE_DURATION`` from the sign-in; otherwise
a sign-in ends after ``PERMANENT_SESSION_LIFETIME`` without a request. Services add and flush;
the caller commits (``touch`` writes ``last_seen_at`` on its own connection, at most once a
minute per sign-in, so a page that only reads does not write through the request's session).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from marketplace.extensions import db
from marketplace.models import User, UserSession, utcnow

TOUCH_EVERY = timedelta(seconds=60)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def ip_network(ip: str) -> str:
    """Return the address's network as shown on the account page (/24 for IPv4, /48 for IPv6)."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _lifetime(remember: bool) -> timedelta:
    config = current_app.config
    seconds = (config["REMEMBER_COOKIE_DURATION"] if remember
               else config["PERMANENT_SESSION_LIFETIME"])
    return seconds if isinstance(seconds, timedelta) else timedelta(seconds=int(seconds))


def start(user: User, *, remember: bool, ip: str, user_agent: str) -> str:
    """Add a sign-in for ``user`` and return its key (also set as ``user.session_key``)."""
    now = utcnow()
    db.session.execute(sa.delete(UserSession).where(UserSession.expires_at < now))
    secret = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id, secret_sha256=_sha256(secret), remember=bool(remember),
        agent_sha256=_sha256(user_agent or ""), user_agent=(user_agent or "")[:255],
        ip_network=ip_network(ip), created_at=now, last_seen_at=now,
        expires_at=now + _lifetime(remember),
    )
    db.session.add(row)
    db.session.flush()
    user.session_key = f"{row.public_id}.{secret}"
    return user.session_key


def _row_for_key(key: str | None) -> tuple[UserSession | None, str]:
    public_id, _dot, secret = (key or "").partition(".")
    if not public_id or not secret or len(key) > 200:
        return None, ""
    row = db.session.execute(
        sa.select(UserSession).where(UserSession.public_id == public_id)).scalar()
    if row is None or not hmac.compare_digest(row.secret_sha256, _sha256(secret)):
        return None, ""
    return row, secret


def user_for_key(key: str | None, user_agent: str) -> User | None:
    """Return the active user whose live sign-in ``key`` is, seen from ``user_agent``, else None.

    A key presented by another browser than its own is a copied cookie: that sign-in ends
    (committed at once, on its own connection) and nobody is signed in.
    """
    row, _secret = _row_for_key(key)
    if row is None:
        return None
    now = utcnow()
    if row.expires_at <= now:
        return None
    if not hmac.compare_digest(row.agent_sha256, _sha256(user_agent or "")):
        with db.engine.begin() as conn:
            conn.execute(sa.delete(UserSession).where(UserSession.id == row.id))
        return None
    user = row.user
    if user is None or not user.active:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        _touch(row, now)
    user.session_key = key
    return user


def _touch(row: UserSession, now: datetime) -> None:
    values = {"last_seen_at": now}
    if not row.remember:  # idle timeout: each request pushes the end out again
        values["expires_at"] = now + _lifetime(False)
    with db.engine.begin() as conn:
        conn.execute(sa.update(UserSession).where(UserSession.id == row.id).values(**values))
    db.session.expire(row)


def current(user: User) -> UserSession | None:
    """The row of the sign-in ``user`` came with in this request (None outside one)."""
    row, _secret = _row_for_key(getattr(user, "session_key", None))
    return row if row is not None and row.user_id == user.id else None


def end(user: User, public_id: str) -> bool:
    """End one of ``user``'s sign-ins; return whether there was one with ``public_id``."""
    result = db.session.execute(sa.delete(UserSession).where(
        UserSession.user_id == user.id, UserSession.public_id == public_id))
    return result.rowcount > 0


def end_all(user: User, *, keep: UserSession | None = None) -> int:
    """End every sign-in of ``user`` (but ``keep``); return how many ended."""
    query = sa.delete(UserSession).where(UserSession.user_id == user.id)
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    return db.session.execute(query).rowcount


@dataclass(frozen=True)
class SessionView:
    """One sign-in as the account page lists it."""

    public_id: str
    device: str
    ip_network: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    remember: bool
    this_device: bool


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))


def device_label(user_agent: str) -> str:
    """A short name for a browser: "Firefox, Linux"; the raw text's start if unknown."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser or system:
        return ", ".join(p for p in (browser, system) if p)
    return re.sub(r"\s+", " ", user_agent).strip()[:60] or "?"


def sessions_of(user: User) -> list[SessionView]:
    """The live sign-ins of ``user``, the newest first, this request's marked."""
    mine = current(user)
    rows = db.session.execute(
        sa.select(UserSession).where(UserSession.user_id == user.id,
                                     UserSession.expires_at > utcnow())
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    ).scalars()
    return [SessionView(r.public_id, device_label(r.user_agent), r.ip_network, r.created_at,
                        r.last_seen_at, r.expires_at, r.remember,
                        mine is not None and r.id == mine.id) for r in rows]
