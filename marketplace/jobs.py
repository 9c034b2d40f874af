"""The one job state machine. Every view, command and the dispatcher go through ``transition``.

``transition`` checks the TRANSITIONS table, writes the new state with a conditional UPDATE
(``WHERE id = :id AND state = :from AND version = :v``) so two writers can never both move the
same job, and appends a JobEvent row. The caller commits (the view, the CLI command, one
dispatcher step).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from marketplace.extensions import db
from marketplace.models import PRINTER_BOUND_STATES, JobEvent, PrintJob, utcnow


class JobState(str, enum.Enum):
    RECEIVED = "received"  # ordered, awaiting a technician's approval
    APPROVED = "approved"  # approved, awaiting slicing
    QUEUED = "queued"  # sliced, waiting for a free printer that can print it
    DISPATCHING = "dispatching"  # claimed for a printer: uploading and verifying the G-code
    STARTING = "starting"  # select+print sent, waiting to see the printer print our file
    PRINTING = "printing"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    PRINTED = "printed"  # printed; the printer's bed waits to be cleared
    READY_FOR_PICKUP = "ready_for_pickup"
    SHIPPED = "shipped"
    PICKED_UP = "picked_up"
    NEEDS_ATTENTION = "needs_attention"  # a technician decides (interrupted, ambiguous, mismatch)
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


S = JobState
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.RECEIVED: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED}),
    S.APPROVED: frozenset({S.QUEUED, S.NEEDS_ATTENTION, S.CANCELLED}),
    S.QUEUED: frozenset({S.DISPATCHING, S.APPROVED, S.CANCELLED}),
    S.DISPATCHING: frozenset({S.STARTING, S.PRINTING, S.QUEUED, S.NEEDS_ATTENTION}),
    S.STARTING: frozenset({S.PRINTING, S.PRINTED, S.QUEUED, S.NEEDS_ATTENTION}),
    S.PRINTING: frozenset({S.PAUSED, S.CANCELLING, S.PRINTED, S.NEEDS_ATTENTION}),
    S.PAUSED: frozenset({S.PRINTING, S.CANCELLING, S.NEEDS_ATTENTION}),
    S.CANCELLING: frozenset({S.CANCELLED, S.QUEUED, S.NEEDS_ATTENTION}),  # queued: reprint
    S.PRINTED: frozenset({S.READY_FOR_PICKUP, S.SHIPPED}),
    S.READY_FOR_PICKUP: frozenset({S.PICKED_UP, S.SHIPPED}),
    S.SHIPPED: frozenset(),
    S.PICKED_UP: frozenset(),
    S.NEEDS_ATTENTION: frozenset({S.APPROVED, S.QUEUED, S.PRINTED, S.FAILED, S.CANCELLED}),
    S.FAILED: frozenset(),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
}

TERMINAL_STATES = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# Occupying a printer: the dispatcher follows these (same list as the partial unique index).
ON_PRINTER_STATES = frozenset(JobState(s) for s in PRINTER_BOUND_STATES)
# Waiting in the hub's work queue (counted for delivery dates).
WAITING_STATES = frozenset({S.RECEIVED, S.APPROVED, S.QUEUED})
ACTIVE_STATES = WAITING_STATES | ON_PRINTER_STATES | {S.NEEDS_ATTENTION}
DONE_STATES = frozenset({S.PRINTED, S.READY_FOR_PICKUP, S.SHIPPED, S.PICKED_UP})
# Ended without a piece (failed, rejected, cancelled): no longer counts towards the order.
DROPPED_STATES = TERMINAL_STATES - DONE_STATES

# A try's progress: cleared when a job is claimed for a new try on a printer.
TRY_RESET = MappingProxyType({"progress_percent": None, "completion_polls": 0,
                              "started_at": None, "finished_at": None})
# Back to the queue (by the dispatcher or a technician): the try's progress and its printer.
REQUEUE_RESET = MappingProxyType({**TRY_RESET, "printer_id": None, "remote_filename": None,
                                  "lease_owner": None, "lease_until": None})


def piece_of(job: PrintJob) -> tuple[int, int]:
    """(index, count) of ``job`` among the pieces of its order line: ``copy_index`` counts
    within the line, so the count is the line's, not the order's (2 holders + 1 block: 1/2, 2/2
    and 1/1)."""
    siblings = job.order.jobs if job.order is not None else [job]
    count = sum(1 for j in siblings
                if j.quote_line_id == job.quote_line_id and j.part_id == job.part_id)
    return job.copy_index, max(count, job.copy_index)


def piece_label(job: PrintJob) -> str:
    """How the hub names one piece (printers board, job page): "Gurthalter.stl 1/2", unique
    within its order."""
    index, count = piece_of(job)
    name = job.part.original_name if job.part is not None else ""
    return f"{name} {index}/{count}".strip()


def state_values(states: Iterable[JobState]) -> tuple[str, ...]:
    """Return the values of ``states`` in JobState's order (for queries, menus and tabs)."""
    wanted = set(states)
    return tuple(s.value for s in JobState if s in wanted)


# transition() writes these itself; the table would be bypassed if a caller could set them.
_OWN_FIELDS = frozenset({"id", "state", "version", "updated_at"})
_COLUMNS = frozenset(column.key for column in PrintJob.__table__.columns)


class InvalidTransitionError(Exception):
    """The table does not allow this move."""


class StaleJobError(Exception):
    """Someone else moved the job first (its state or version changed under us)."""


Listener = Callable[[PrintJob, JobEvent], None]
_listeners: list[Listener] = []


def on_transition(listener: Listener) -> Listener:
    """Register ``listener(job, event)``, called after every transition (e.g. e-mail the firm)."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def can_transition(current: str | JobState, to: str | JobState) -> bool:
    """Return whether the table allows moving from ``current`` to ``to``."""
    return JobState(to) in TRANSITIONS[JobState(current)]


def check_fields(fields: dict[str, Any]) -> None:
    """Raise TypeError unless every key of ``fields`` is a PrintJob column a caller may set."""
    bad = sorted(k for k in fields if k in _OWN_FIELDS or k not in _COLUMNS)
    if bad:
        raise TypeError(f"transition() cannot set {', '.join(bad)} (state and version move "
                        "only through the table; other names must be PrintJob columns)")


def record_created(job: PrintJob, *, actor: str, reason: str | None = None) -> JobEvent:
    """Log the creation of a new job (state ``received``, or the state it was created in)."""
    if job.state is None:
        job.state = S.RECEIVED.value
    db.session.add(job)
    db.session.flush()
    event = JobEvent(job_id=job.id, actor=actor, from_state=None, to_state=job.state, reason=reason)
    db.session.add(event)
    db.session.flush()
    _notify(job, event)
    return event


def transition(
    job: PrintJob,
    to: str | JobState,
    *,
    actor: str,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> JobEvent:
    """Move ``job`` to ``to`` and log it; ``fields`` are set on the job in the same UPDATE.

    Raises InvalidTransitionError if the table forbids it, StaleJobError if the row changed
    since ``job`` was loaded, TypeError if ``fields`` names no column or one that
    ``transition`` sets itself (``state``, ``version``, ...).
    """
    check_fields(fields)
    to = JobState(to)
    current = JobState(job.state)
    if to not in TRANSITIONS[current]:
        raise InvalidTransitionError(f"job {job.id}: {current.value} -> {to.value} is not allowed")
    db.session.flush()  # pending changes first, so the conditional UPDATE sees them
    now = utcnow()
    values = {**fields, "state": to.value, "version": job.version + 1, "updated_at": now}
    result = db.session.execute(
        sa.update(PrintJob)
        .where(
            PrintJob.id == job.id,
            PrintJob.state == current.value,
            PrintJob.version == job.version,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(job)
        raise StaleJobError(f"job {job.id} changed concurrently (now {job.state})")
    for key, value in values.items():
        sa.orm.attributes.set_committed_value(job, key, value)
    event = JobEvent(
        job_id=job.id, at=now, actor=actor, from_state=current.value, to_state=to.value,
        reason=reason, data=data,
    )
    db.session.add(event)
    db.session.flush()
    _notify(job, event)
    return event


# "Neu drucken": a print stopped at its printer to be printed again goes through cancelling
# like a cancel; the cancelling event's data holds the cause under REPRINT, and the dispatcher
# then queues the piece again instead of cancelling it.
REPRINT = "reprint"


def reprint_cause(job: PrintJob) -> str | None:
    """Why ``job`` (cancelling) is being stopped to be printed again, or None: it is being
    cancelled for good (also once a cancel withdrew the reprint: :func:`withdraw_reprint`)."""
    event = db.session.scalar(
        sa.select(JobEvent).where(JobEvent.job_id == job.id,
                                  JobEvent.to_state == S.CANCELLING.value)
        .order_by(JobEvent.id.desc()).limit(1))
    return ((event.data or {}).get(REPRINT) or None) if event is not None else None


def withdraw_reprint(job: PrintJob, *, actor: str, reason: str | None) -> JobEvent:
    """Cancel for good a piece whose print is being stopped to be printed again: it stays
    cancelling (its printer stops, the bed waits to be cleared) and ends cancelled, not
    queued. Logged as an event cancelling -> cancelling; the version moves on, so a dispatcher
    step that read the reprint before fails (StaleJobError) and reads again."""
    if job.state != S.CANCELLING.value:
        raise InvalidTransitionError(f"job {job.id}: no reprint to withdraw in {job.state}")
    db.session.flush()
    now = utcnow()
    result = db.session.execute(
        sa.update(PrintJob).where(PrintJob.id == job.id, PrintJob.state == job.state,
                                  PrintJob.version == job.version)
        .values(version=job.version + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.refresh(job)
        raise StaleJobError(f"job {job.id} changed concurrently (now {job.state})")
    sa.orm.attributes.set_committed_value(job, "version", job.version + 1)
    sa.orm.attributes.set_committed_value(job, "updated_at", now)
    event = JobEvent(job_id=job.id, at=now, actor=actor, from_state=job.state,
                     to_state=job.state, reason=reason, data={REPRINT: None})
    db.session.add(event)
    db.session.flush()
    return event


def _notify(job: PrintJob, event: JobEvent) -> None:
    for listener in list(_listeners):
        listener(job, event)
