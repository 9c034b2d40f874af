"""The security audit log: who signed in (or failed to), changed a password or a role, changed
a printer's API key, or exported a document, when and from where. Admins read it in the hub
console (``/hub/audit``). Rows are only ever added; :func:`record` adds one to the session and
the caller commits with the change it reports.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request

from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.models import AuditEvent, User

# action -> German label for the console (English in the hub's catalogue)
ACTIONS = {
    "login": N_("Anmeldung"),
    "login_failed": N_("Anmeldung fehlgeschlagen"),
    "login_throttled": N_("Anmeldung gesperrt (zu viele Versuche)"),
    "logout": N_("Abmeldung"),
    "sessions_ended": N_("Anmeldungen beendet"),
    "password_changed": N_("Passwort geändert"),
    "password_reset": N_("Passwort zurückgesetzt"),
    "account_created": N_("Konto angelegt"),
    "role_changed": N_("Rolle geändert"),
    "printer_key_changed": N_("Drucker-API-Schlüssel geändert"),
    "printer_keys_rotated": N_("Drucker-Schlüssel neu verschlüsselt"),
    "export": N_("Export"),
    "webhook_added": N_("Webhook angelegt"),
    "webhook_removed": N_("Webhook gelöscht"),
    "webhook_secret_rotated": N_("Webhook-Geheimnis erneuert"),
    "token_created": N_("API-Token erstellt"),
    "token_revoked": N_("API-Token widerrufen"),
}


def record(action: str, *, actor: User | str | None = None, target: str = "",
           detail: dict[str, Any] | None = None) -> AuditEvent:
    """Add an audit event (the caller commits); the client address comes from the request."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if isinstance(actor, User):
        actor_id, actor_name = actor.id, actor.email
    else:
        actor_id, actor_name = None, actor or ""
    ip = (request.remote_addr or "")[:64] if has_request_context() else ""
    event = AuditEvent(action=action, actor_id=actor_id, actor=actor_name[:254],
                       target=(target or "")[:254], ip=ip, detail=detail)
    db.session.add(event)
    return event


def recent(*, action: str | None = None, who: str | None = None,
           limit: int = 200) -> list[AuditEvent]:
    """The newest events, optionally of one action and/or mentioning ``who`` (actor/target)."""
    query = sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEvent.action == action)
    if who:
        pattern = f"%{who.strip().lower()}%"
        query = query.where(sa.or_(sa.func.lower(AuditEvent.actor).like(pattern),
                                   sa.func.lower(AuditEvent.target).like(pattern)))
    return list(db.session.scalars(query))
