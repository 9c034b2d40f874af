"""Queued work of the API's tokens: pruning the answers kept per Idempotency-Key."""

from __future__ import annotations

from flask import current_app

from marketplace import taskqueue
from marketplace.extensions import db
from marketplace.tokens import operations as tokens


@taskqueue.periodic
def prune_idempotency_records() -> int:
    """Delete Idempotency-Key answers older than IDEMPOTENCY_KEEP_S (a day by default)."""
    count = tokens.prune_idempotency_records(int(current_app.config["IDEMPOTENCY_KEEP_S"]))
    db.session.commit()
    return count
