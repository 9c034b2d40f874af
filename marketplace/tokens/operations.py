"""Personal access tokens: make one (shown once), check one, list and revoke them.

A token is ``dhp_`` and 43 URL-safe characters (32 random bytes); the database keeps its
sha256 (the secret has full entropy, so a fast hash is enough) and its first characters as a
hint. Scopes: ``read`` (GET), ``write`` (create and change the firm's objects), ``hub``
(the hub's routes; only for technicians and admins). The caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa

from marketplace import audit
from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.models import User, utcnow
from marketplace.tokens.models import ApiToken

PREFIX = "dhp_"
SCOPES = ("read", "write", "hub")
STAFF_SCOPES = ("hub",)  # only technicians and admins may hold these
DEFAULT_EXPIRES_DAYS = 90
MAX_EXPIRES_DAYS = 730
EXPIRY_CHOICES_DAYS = (30, 90, 365)  # offered on the account page
MAX_TOKENS_PER_USER = 50
TOUCH_EVERY_S = 60  # last use is written at most this often per token


class TokenError(Exception):
    """A token cannot be made or used: ``code`` is stable, ``message`` German."""

    def __init__(self, code: str, message: str, **params) -> None:
        super().__init__(message % params if params else message)
        self.code = code
        self.message = message
        self.params = params


def digest(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8", "replace")).hexdigest()


def parse_scopes(value: str | list[str] | tuple[str, ...], user: User) -> list[str]:
    """Return the scopes in ``value`` ("read,write" or a list) in canonical order."""
    items = value.split(",") if isinstance(value, str) else list(value)
    wanted = {s.strip().lower() for s in items if s and s.strip()}
    if not wanted:
        raise TokenError("no_scope", N_("Bitte mindestens einen Bereich wählen (read, write, "
                                        "hub)."))
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise TokenError("bad_scope", N_("Unbekannter Bereich: %(scope)s (möglich: read, "
                                         "write, hub)."), scope=", ".join(unknown))
    if wanted & set(STAFF_SCOPES) and not user.is_staff:
        raise TokenError("scope_not_allowed", N_("Der Bereich „hub“ ist nur für die Technik "
                                                 "und die Verwaltung des Hubs."))
    return [s for s in SCOPES if s in wanted]


def create_token(user: User, scopes, *, expires_days: int | None = DEFAULT_EXPIRES_DAYS,
                 name: str = "", actor: User | str | None = None) -> tuple[ApiToken, str]:
    """Make a token for ``user``; return the row and the plain token (shown once)."""
    if not user.active:
        raise TokenError("inactive", N_("Das Konto ist gesperrt."))
    chosen = parse_scopes(scopes, user)
    if expires_days is not None and not 1 <= int(expires_days) <= MAX_EXPIRES_DAYS:
        raise TokenError("bad_expiry", N_("Die Gültigkeit muss 1 bis %(max)s Tage sein."),
                         max=str(MAX_EXPIRES_DAYS))
    live = db.session.scalar(sa.select(sa.func.count(ApiToken.id)).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)))
    if live >= MAX_TOKENS_PER_USER:
        raise TokenError("too_many", N_("Höchstens %(max)s Tokens je Konto; bitte alte "
                                        "widerrufen."), max=str(MAX_TOKENS_PER_USER))
    plain = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        user_id=user.id, name=(name or "").strip()[:100], secret_sha256=digest(plain),
        hint=plain[: len(PREFIX) + 6], scopes=",".join(chosen), created_at=now,
        expires_at=now + timedelta(days=int(expires_days)) if expires_days else None,
    )
    db.session.add(token)
    db.session.flush()
    audit.record("token_created", actor=actor if actor is not None else user, target=user.email,
                 detail={"token": token.public_id, "scopes": token.scopes,
                         "expires_at": token.expires_at.isoformat() if token.expires_at
                         else None})
    return token, plain


def find(plain: str) -> ApiToken | None:
    """The token row of ``plain`` (whatever its state), or None."""
    if not plain.startswith(PREFIX) or len(plain) > 200:
        return None
    return db.session.scalar(sa.select(ApiToken).where(ApiToken.secret_sha256 == digest(plain)))


def check(token: ApiToken | None, now=None) -> ApiToken:
    """Return ``token`` if it may be used now, else raise TokenError (unknown, revoked,
    expired, account locked)."""
    now = now or utcnow()
    if token is None:
        raise TokenError("invalid_token", N_("Unbekanntes Token."))
    if token.revoked_at is not None:
        raise TokenError("token_revoked", N_("Das Token wurde widerrufen."))
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenError("token_expired", N_("Das Token ist abgelaufen."))
    if not token.user.active:
        raise TokenError("inactive", N_("Das Konto ist gesperrt."))
    return token


def touch(token_id: int, ip: str | None, now=None) -> None:
    """Record a token's last use (at most every TOUCH_EVERY_S). Committed at once, before the
    request's own work, so a request that fails or rolls back still counts as a use."""
    now = now or utcnow()
    stale = sa.or_(ApiToken.last_used_at.is_(None),
                   ApiToken.last_used_at < now - timedelta(seconds=TOUCH_EVERY_S))
    db.session.execute(sa.update(ApiToken).where(ApiToken.id == token_id, stale)
                       .values(last_used_at=now, last_used_ip=(ip or "")[:64] or None)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def tokens_of(user: User) -> list[ApiToken]:
    """The user's tokens, newest first (revoked ones too, for the record)."""
    return list(db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id)
                                   .order_by(ApiToken.id.desc())))


def revoke(user: User, public_id: str, *, actor: User | str | None = None) -> ApiToken | None:
    """Revoke ``user``'s token ``public_id``; None if the user has no such token."""
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id,
                                                        ApiToken.public_id == public_id))
    if token is None:
        return None
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("token_revoked", actor=actor if actor is not None else user,
                     target=user.email, detail={"token": token.public_id})
    db.session.flush()
    return token


def state(token: ApiToken, now=None) -> str:
    """active|expired|revoked (the account page's column)."""
    now = now or utcnow()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def prune_idempotency_records(keep_s: int, now=None) -> int:
    """Delete answers kept under an Idempotency-Key longer than ``keep_s`` (the caller
    commits); return how many. Records still "in progress" (status 0) go after the same
    time: their request is long dead."""
    from marketplace.tokens.models import IdempotencyRecord

    cutoff = (now or utcnow()) - timedelta(seconds=keep_s)
    result = db.session.execute(sa.delete(IdempotencyRecord).where(
        IdempotencyRecord.created_at < cutoff).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)
