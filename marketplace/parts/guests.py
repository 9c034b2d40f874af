"""Guests: anyone may upload parts and see printability, the 3D view, price and date without an
account; signing up or in keeps the parts.

A guest's parts live in a workspace: a Firm row with ``guest_key_sha256`` (the sha256 of a
random key kept in the guest's signed, HttpOnly session cookie, never in a URL) and
``guest_until`` (``GUEST_RETENTION_DAYS`` after the last upload; then :func:`expire`, a periodic
task, deletes the workspace with its parts, estimates and files). Every rule that scopes rows to
a firm scopes them to the workspace unchanged, so a guest sees only the parts of their own
browser session. A guest saves no quote and places no order (that needs an account); signing up
or in moves the workspace's parts to the user's firm (:func:`adopt`).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, session

from marketplace.extensions import db
from marketplace.models import Firm, Part, Quote, utcnow

log = logging.getLogger(__name__)

SESSION_KEY = "guest_key"
EXPIRE_BATCH = 100  # workspaces deleted per pass (the next pass takes the rest)


def _sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def retention() -> timedelta:
    """How long a guest's parts are kept after their last upload (``GUEST_RETENTION_DAYS``)."""
    return timedelta(days=float(current_app.config["GUEST_RETENTION_DAYS"]))


def key_digest() -> str | None:
    """The sha256 of this browser session's guest key, if it has one."""
    key = session.get(SESSION_KEY)
    return _sha256(key) if isinstance(key, str) and key else None


def find(digest: str | None, now: datetime | None = None) -> Firm | None:
    """The live workspace whose key has the sha256 ``digest``."""
    if not digest:
        return None
    return db.session.scalar(sa.select(Firm).where(Firm.guest_key_sha256 == digest,
                                                   Firm.guest_until > (now or utcnow())))


def current() -> Firm | None:
    """This browser session's workspace (None: no guest, or its parts were deleted)."""
    return find(key_digest())


def ensure_key() -> str:
    """This browser session's guest key, made now if it has none. The parts page makes it
    before the first upload, so the browser's parallel uploads of several files all land in
    one workspace."""
    key = session.get(SESSION_KEY)
    if not (isinstance(key, str) and key):
        key = secrets.token_urlsafe(32)
        session[SESSION_KEY] = key
        session.permanent = True  # outlives the browser window (PERMANENT_SESSION_LIFETIME)
    return key


def current_or_new() -> Firm:
    """This browser session's workspace, made if it has none (the caller commits). Two
    uploads of the same browser at once make one workspace: the second finds the first's."""
    firm = current()
    if firm is not None:
        return firm
    digest = _sha256(ensure_key())
    existing = db.session.scalar(sa.select(Firm).where(Firm.guest_key_sha256 == digest))
    if existing is not None:
        if existing.guest_until > utcnow():  # made by a parallel upload just now
            return existing
        session.pop(SESSION_KEY, None)  # this key's workspace ran out: start afresh
        digest = _sha256(ensure_key())
    firm = Firm(name=f"Gast {digest[:20]}", guest_key_sha256=digest,
                guest_until=utcnow() + retention(), country="DE")
    try:
        with db.session.begin_nested():
            db.session.add(firm)
            db.session.flush()
    except sa.exc.IntegrityError:  # a parallel upload of this browser made it meanwhile
        firm = find(digest)
        if firm is None:
            raise
    return firm


def touch(firm: Firm) -> None:
    """Keep the workspace's parts ``GUEST_RETENTION_DAYS`` from now (on each upload)."""
    firm.guest_until = utcnow() + retention()


def adopt(firm: Firm, digest: str | None = None) -> int:
    """Move the parts of a guest's workspace to ``firm`` and delete the workspace; return how
    many parts moved (the caller commits).

    ``digest``: the workspace whose key has that sha256 (a sign-up remembers it, so the link
    confirmed in another browser keeps the parts); default: this browser session's. Either way
    the session forgets its guest key.
    """
    digest = digest or key_digest()
    session.pop(SESSION_KEY, None)
    guest = find(digest)
    if guest is None or firm is None or firm.id == guest.id or firm.is_guest:
        return 0
    moved = db.session.execute(
        sa.update(Part).where(Part.firm_id == guest.id).values(firm_id=firm.id)
        .execution_options(synchronize_session=False)).rowcount
    db.session.execute(sa.update(Quote).where(Quote.firm_id == guest.id)
                       .values(firm_id=firm.id).execution_options(synchronize_session=False))
    db.session.delete(guest)
    db.session.flush()
    for part in db.session.identity_map.values():
        if isinstance(part, Part) and part.firm_id == guest.id:
            db.session.expire(part)
    log.info("guest workspace %s: %s parts moved to firm %s", guest.id, moved, firm.id)
    return int(moved or 0)


def expire(now: datetime | None = None) -> int:
    """Delete the workspaces whose time is up, with their parts, estimates and files; return
    how many workspaces went (a part being analysed right now waits for the next pass)."""
    from marketplace.parts import operations as parts

    now = now or utcnow()
    firm_ids = db.session.scalars(
        sa.select(Firm.id).where(Firm.guest_key_sha256.is_not(None), Firm.guest_until <= now)
        .order_by(Firm.guest_until).limit(EXPIRE_BATCH)).all()
    gone = 0
    for firm_id in firm_ids:
        unused: list[str | None] = []
        try:
            for part in db.session.scalars(sa.select(Part).where(Part.firm_id == firm_id)):
                unused.append(parts.delete_part(part))
            db.session.execute(sa.delete(Quote).where(Quote.firm_id == firm_id))
            db.session.execute(sa.delete(Firm).where(Firm.id == firm_id,
                                                     Firm.guest_until <= now))
            db.session.commit()
        except parts.UploadError as exc:  # busy (being analysed): next pass
            db.session.rollback()
            log.info("guest workspace %s kept for now: %s", firm_id, exc.code)
            continue
        gone += 1
        for sha in unused:
            parts.remove_unused_file(sha)
    return gone
