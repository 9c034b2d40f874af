"""`flask --app marketplace tokens ...`: personal access tokens of the API from the command line.

    flask --app marketplace tokens create EMAIL --scope read,write [--expires-days N] [--name X]
    flask --app marketplace tokens list EMAIL
    flask --app marketplace tokens revoke EMAIL TOKEN_ID

``create`` prints the new token alone on standard output (so ``TOKEN=$(flask ... create ...)``
works); what it is and until when goes to standard error. The token is shown only this once.
"""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from marketplace.accounts import operations as accounts
from marketplace.extensions import db
from marketplace.tokens import operations as tokens


@click.group("tokens")
def tokens_cli() -> None:
    """Personal access tokens of the API (/api/v1)."""


def _user(email: str):
    user = accounts.find_user(email)
    if user is None:
        db.session.rollback()
        click.echo(f"error: no account {email!r}", err=True)
        sys.exit(1)
    return user


@tokens_cli.command("create")
@click.argument("email")
@click.option("--scope", "scope", required=True, help="Comma-separated: read, write, hub.")
@click.option("--expires-days", type=int, default=tokens.DEFAULT_EXPIRES_DAYS, show_default=True,
              help=f"Days until the token expires (1 to {tokens.MAX_EXPIRES_DAYS}).")
@click.option("--name", default="command line", show_default=True,
              help="What the token is for (shown on the account page).")
@with_appcontext
def create_command(email, scope, expires_days, name) -> None:
    """Make a token for EMAIL and print it (shown only once)."""
    user = _user(email)
    try:
        token, plain = tokens.create_token(user, scope, expires_days=expires_days, name=name,
                                           actor="cli")
    except tokens.TokenError as exc:
        db.session.rollback()
        click.echo(f"error: {exc.code}: {exc}", err=True)
        sys.exit(2)
    db.session.commit()
    click.echo(f"token {token.public_id} for {user.email}, scopes {token.scopes}, expires "
               f"{token.expires_at:%Y-%m-%d %H:%M} UTC", err=True)
    click.echo(plain)


@tokens_cli.command("list")
@click.argument("email")
@with_appcontext
def list_command(email) -> None:
    """List EMAIL's tokens: id, hint, scopes, state, expiry, last use, name."""
    for token in tokens.tokens_of(_user(email)):
        expires = f"{token.expires_at:%Y-%m-%d}" if token.expires_at else "never"
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        click.echo(f"{token.public_id}  {token.hint}…  {token.scopes:<15} "
                   f"{tokens.state(token):<8} expires {expires}  used {used}  {token.name}")


@tokens_cli.command("revoke")
@click.argument("email")
@click.argument("token_id")
@with_appcontext
def revoke_command(email, token_id) -> None:
    """Revoke EMAIL's token TOKEN_ID (as `list` shows it)."""
    token = tokens.revoke(_user(email), token_id, actor="cli")
    if token is None:
        db.session.rollback()
        click.echo(f"error: {email} has no token {token_id!r}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"revoked {token.public_id}")
