"""Events that follow from job transitions: an order's status, a job that needs attention.

A listener on :func:`marketplace.jobs.on_transition` notes, for each order, its overall state
(:func:`marketplace.orders.operations.overall_state`) before the first transition of the
transaction; just before the commit the overall state is computed again, and a change emits
``order.status_changed`` (and ``order.shipped`` when it became ``shipped``), once per order and
transaction, however many pieces moved. ``job.needs_attention`` is emitted with the transition.
"""

from __future__ import annotations

import sqlalchemy as sa

from marketplace import jobs
from marketplace.extensions import db
from marketplace.models import Order, PrintJob
from marketplace.orders.operations import overall_state
from marketplace.webhooks import payloads

_NOTED = "druckhub_webhook_order_states"


def _states(order_id: int) -> dict[int, str]:
    return dict(db.session.execute(
        sa.select(PrintJob.id, PrintJob.state).where(PrintJob.order_id == order_id)).all())


@jobs.on_transition
def on_job_transition(job: PrintJob, event) -> None:
    if event.to_state == jobs.JobState.NEEDS_ATTENTION.value:
        payloads.job_needs_attention(job, event.reason)
    noted: dict[int, str] = db.session.info.setdefault(_NOTED, {})
    if job.order_id in noted:
        return
    if event.from_state is None:  # a new job: its order is placed now (order.placed), and
        noted[job.order_id] = jobs.JobState.RECEIVED.value  # starts as received
        return
    states = _states(job.order_id)
    states[job.id] = event.from_state  # as it was before this transition
    noted[job.order_id] = overall_state(list(states.values()))


def emit_status_changes(session) -> None:
    """Before the commit: emit order.status_changed for the orders whose status moved."""
    noted = session.info.pop(_NOTED, None)
    for order_id, before in (noted or {}).items():
        states = _states(order_id)
        if not states:
            continue
        after = overall_state(list(states.values()))
        if after == before:
            continue
        order = session.get(Order, order_id)
        payloads.order_status_changed(order, before, after)
        if after == jobs.JobState.SHIPPED.value:
            payloads.order_shipped(order)


def _forget(session, previous_transaction=None) -> None:
    session.info.pop(_NOTED, None)


_hooks_installed = False


def init_app(app) -> None:
    """Emit the noted status changes just before each commit of the app's session (once)."""
    global _hooks_installed
    if _hooks_installed:
        return
    sa.event.listen(db.session, "before_commit", emit_status_changes)
    sa.event.listen(db.session, "after_soft_rollback", _forget)
    _hooks_installed = True
