"""Readiness checks: can this process serve? (database, queue storage, upload storage).

Each check is quick and bounded and returns a :class:`Check`; none raises. A failed check says
which kind of error it met, never the details (host names, paths): those go to the log.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import Flask

from marketplace.extensions import db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``status`` is "pass" or "fail"; ``details`` are extra facts."""

    status: str
    time_ms: float
    error: str | None = None
    details: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        out: dict = {"status": self.status, "time_ms": round(self.time_ms, 1)}
        if self.error:
            out["error"] = self.error
        out.update(self.details)
        return out


def _timed(name: str, probe: Callable[[], dict | None]) -> Check:
    start = time.perf_counter()
    try:
        details = probe() or {}
    except Exception as exc:  # noqa: BLE001  (a check reports, it never raises)
        log.warning("readiness check %s failed: %r", name, exc)
        return Check("fail", (time.perf_counter() - start) * 1000, type(exc).__name__)
    return Check("pass", (time.perf_counter() - start) * 1000, details=details)


def check_database() -> dict:
    """Run ``SELECT 1`` on the app's database."""
    db.session.execute(sa.text("SELECT 1")).scalar_one()
    db.session.rollback()  # end the read transaction (PostgreSQL: no idle-in-transaction)
    return {}


def check_queue(app: Flask) -> dict:
    """Reach the task queue's storage (SQLite file or Redis) and count what waits in it."""
    from marketplace import taskqueue

    return {"backend": taskqueue.storage_name(), "waiting": taskqueue.pending_count()}


def check_uploads(app: Flask) -> dict:
    """Write, flush and remove a small file in ``UPLOAD_DIR``; report the free space."""
    directory = app.config["UPLOAD_DIR"]
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".readyz-") as handle:
        handle.write(b"ok")
        handle.flush()
        os.fsync(handle.fileno())
    stat = os.statvfs(directory)
    return {"free_mb": stat.f_bavail * stat.f_frsize // (1024 * 1024)}


def readiness(app: Flask) -> tuple[bool, dict[str, Check]]:
    """Run every check; return (all passed, {name: Check})."""
    checks = {
        "database": _timed("database", check_database),
        "queue": _timed("queue", lambda: check_queue(app)),
        "uploads": _timed("uploads", lambda: check_uploads(app)),
    }
    return all(c.status == "pass" for c in checks.values()), checks
