"""Tables of the public API: personal access tokens and the answers kept per Idempotency-Key."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import db
from marketplace.models import User, new_public_id, utcnow


class ApiToken(db.Model):
    """A personal access token: ``dhp_<secret>`` shown once; only its sha256 is stored.

    ``scopes`` is a comma-separated subset of ``read,write,hub``. A token works while it is
    neither revoked nor expired and its user is active; it acts as that user (a firm user
    sees their firm's rows only).
    """

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    secret_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    hint: Mapped[str] = mapped_column(sa.String(16))  # the first characters, to tell tokens apart
    scopes: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()  # None: no expiry
    last_used_at: Mapped[datetime | None] = mapped_column()
    last_used_ip: Mapped[str | None] = mapped_column(sa.String(64))
    revoked_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship()

    @property
    def scope_list(self) -> list[str]:
        return [s for s in self.scopes.split(",") if s]


class IdempotencyRecord(db.Model):
    """The answer to a POST that created something, kept under its ``Idempotency-Key``.

    Written in the same transaction as what the POST created, so a retry (or a concurrent
    duplicate) finds either nothing (and does the work) or this answer (and gets it again);
    the unique key makes the second of two concurrent requests roll back its work.
    """

    __tablename__ = "idempotency_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(255))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))  # method, path and body, sha256
    status: Mapped[int] = mapped_column(sa.Integer)
    body: Mapped[str] = mapped_column(sa.Text)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    location: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (sa.UniqueConstraint("user_id", "key"),)
