"""What every unit of a dispatcher pass shares: the per-job step and the moves it makes.

A pass works job by job, and each job's step is its own transaction (:func:`job_step`): it
commits, or it rolls back, says why in the log and lets the pass go on with the next job. A job
that someone else moved meanwhile (``StaleJobError``) or a move the table forbids
(``InvalidTransitionError``) is such a case; any other error is rolled back and raised.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from marketplace import jobs
from marketplace.extensions import db
from marketplace.jobs import JobState
from marketplace.models import DispatchAttempt, PrintJob, utcnow

log = logging.getLogger(__name__)
ACTOR = "dispatcher"


@dataclass
class TickReport:
    """What one pass did (for the CLI, logs and the benchmark)."""

    polled: int = 0
    answered: int = 0
    poll_s: float = 0.0
    tick_s: float = 0.0
    sliced: int = 0
    dispatched: int = 0
    transitions: Counter = field(default_factory=Counter)
    printer_states: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        moves = ", ".join(f"{k}:{v}" for k, v in sorted(self.transitions.items())) or "-"
        return (f"{self.answered}/{self.polled} printers answered in {self.poll_s:.2f} s; "
                f"sliced {self.sliced}, dispatched {self.dispatched}; moves {moves}; "
                f"pass {self.tick_s:.2f} s")


@dataclass
class Step:
    ok: bool = True  # False once the step was rolled back


@contextmanager
def job_step(job_id: int, what: str = "",
             also: tuple[type[Exception], ...] = ()) -> Iterator[Step]:
    """Run one job's step as one transaction: commit at the end, or roll back.

    A stale job, a forbidden move or one of ``also`` is rolled back, logged ("job 7 (what):
    ...") and swallowed; ``step.ok`` then is False. Any other error is rolled back and raised.
    """
    step = Step()
    try:
        yield step
        db.session.commit()
    except (jobs.StaleJobError, jobs.InvalidTransitionError, *also) as exc:
        db.session.rollback()
        step.ok = False
        log.warning("job %s%s: %s", job_id, f" ({what})" if what else "", exc)
    except BaseException:
        db.session.rollback()
        raise


def move(report: TickReport | None, job: PrintJob, to: JobState, reason: str,
         data: dict[str, Any] | None = None, **fields: Any) -> JobState:
    """Move ``job`` as the dispatcher and count it; return the state it moved to.

    A move the table does not allow from the job's state (e.g. printed after a cancel was
    asked for) sends the job to a technician instead.
    """
    current = JobState(job.state)
    if not jobs.can_transition(current, to):
        to, reason = JobState.NEEDS_ATTENTION, f"{reason} (while {current.value})"
    jobs.transition(job, to, actor=ACTOR, reason=reason, data=data, **fields)
    if report is not None:
        report.transitions[to.value] += 1
    return to


def end_attempt(job: PrintJob, outcome: str, detail: str) -> None:
    """Record how the job's current try on a printer ended (once)."""
    attempt = current_attempt(job)
    if attempt is not None and attempt.outcome is None:
        attempt.outcome = outcome
        attempt.detail = detail
        attempt.ended_at = utcnow()


def current_attempt(job: PrintJob) -> DispatchAttempt | None:
    """Return the DispatchAttempt row of the job's current try, if there is one."""
    return db.session.scalar(sa.select(DispatchAttempt).where(
        DispatchAttempt.job_id == job.id, DispatchAttempt.attempt == job.attempt))


def active_jobs_by_printer() -> dict[int, PrintJob]:
    """Return the job on each printer (states that occupy a printer), by printer id."""
    rows = db.session.scalars(sa.select(PrintJob).where(
        PrintJob.state.in_(jobs.state_values(jobs.ON_PRINTER_STATES)),
        PrintJob.printer_id.is_not(None))).all()
    return {job.printer_id: job for job in rows}
