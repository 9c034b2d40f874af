"""Helpers for the API tests: tokens for users, Bearer headers."""

from __future__ import annotations

from marketplace.extensions import db
from marketplace.tokens import operations as tokens


def token_for(user, scopes="read,write", **kwargs) -> str:
    _row, plain = tokens.create_token(user, scopes, **kwargs)
    db.session.commit()
    return plain


def bearer(token: str, **extra) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}
