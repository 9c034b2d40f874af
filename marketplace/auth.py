"""Who may see what: the login loader, role checks and the one query helper for firm scoping.

A firm user sees only rows of their own firm; another firm's id gives 404 (not 403), so ids
cannot be probed. Technicians and admins see every firm's rows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import abort, request
from flask_login import current_user, login_required

from marketplace.accounts import sessions
from marketplace.extensions import db, login_manager
from marketplace.models import User

ROLES = ("firm", "technician", "admin")
F = TypeVar("F", bound=Callable[..., Any])


@login_manager.user_loader
def load_user(session_key: str) -> User | None:
    """The user of this sign-in (session cookie or remember cookie), if it is still live."""
    return sessions.user_for_key(session_key, request.user_agent.string)


login_manager.login_view = "portal.login"
# Flask-Login's "strong" protection does nothing for permanent sessions (it only marks them
# not fresh); each sign-in is bound to its browser in marketplace.accounts.sessions instead.
login_manager.session_protection = None


def role_required(*roles: str) -> Callable[[F], F]:
    """Allow the view only to signed-in users with one of ``roles`` (others get 403)."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


staff_required = role_required("technician", "admin")
admin_required = role_required("admin")


def scoped(model: Any, user: User) -> sa.Select:
    """Select ``model`` rows the user may see (``model`` must have ``firm_id``)."""
    query = sa.select(model)
    if user.role == "firm":
        query = query.where(model.firm_id == user.firm_id)
    return query


def get_scoped_or_404(model: Any, public_id: str, user: User) -> Any:
    """Return the row with ``public_id`` if ``user`` may see it, else abort with 404."""
    row = db.session.execute(scoped(model, user).where(model.public_id == public_id)).scalar()
    if row is None:
        abort(404)
    return row
