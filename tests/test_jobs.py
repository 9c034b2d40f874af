"""The job state machine: every allowed edge passes, every other edge raises.

The whole table (16 x 16 edges) is checked without a database; a few tests then check that
``transition`` writes through the database as the table says.
"""

import itertools
from types import SimpleNamespace

import pytest

from marketplace.extensions import db
from marketplace.jobs import (
    DROPPED_STATES,
    ON_PRINTER_STATES,
    REQUEUE_RESET,
    TERMINAL_STATES,
    TRANSITIONS,
    TRY_RESET,
    WAITING_STATES,
    InvalidTransitionError,
    JobState,
    StaleJobError,
    can_transition,
    check_fields,
    record_created,
    state_values,
    transition,
)
from marketplace.models import Firm, JobEvent, Order, Part, PrintJob, Quote


@pytest.fixture
def make_job(app):
    def make(state=JobState.RECEIVED):
        firm = Firm(name=f"Firma {Firm.query.count() + 1} GmbH")
        part = Part(firm=firm, original_name="a.stl", sha256="0" * 64, file_format="stl",
                    size_bytes=1)
        quote = Quote(firm=firm, part=part, material_code="PLA", material_g=1, print_time_s=1,
                      net_cents=1, vat_cents=0, gross_cents=1, breakdown={})
        order = Order(firm=firm, quote=quote, part=part)
        db.session.add_all([firm, part, quote, order])
        db.session.flush()
        job = PrintJob(order=order, part=part, material_code="PLA", state=JobState(state).value)
        record_created(job, actor="test")
        return job

    return make


EDGES = list(itertools.product(JobState, JobState))


@pytest.mark.db_independent
@pytest.mark.parametrize("src,dst", EDGES, ids=[f"{a.value}->{b.value}" for a, b in EDGES])
def test_every_edge_follows_the_table(src, dst):
    """Allowed edges are allowed; every other edge is refused before the database is touched
    (there is no app context here: any database access would raise)."""
    assert can_transition(src, dst) is (dst in TRANSITIONS[src])
    assert can_transition(src.value, dst.value) is (dst in TRANSITIONS[src])
    if dst not in TRANSITIONS[src]:
        job = SimpleNamespace(id=1, state=src.value, version=3)
        with pytest.raises(InvalidTransitionError):
            transition(job, dst, actor="tech@hub")
        assert (job.state, job.version) == (src.value, 3)


@pytest.mark.db_independent
def test_table_covers_every_state_and_only_states():
    assert set(TRANSITIONS) == set(JobState)
    assert all(targets <= set(JobState) for targets in TRANSITIONS.values())
    assert not any(src in targets for src, targets in TRANSITIONS.items())  # no self-loops


@pytest.mark.db_independent
@pytest.mark.parametrize("fields", [
    {"state": "printed"}, {"version": 99}, {"updated_at": None}, {"id": 7},
    {"no_such_column": 1}, {"order": None},  # a relationship, not a column
])
def test_transition_refuses_fields_that_bypass_the_table(fields):
    job = SimpleNamespace(id=1, state=JobState.RECEIVED.value, version=0)
    with pytest.raises(TypeError, match="cannot set"):
        transition(job, JobState.APPROVED, actor="tech@hub", **fields)
    assert job.state == JobState.RECEIVED.value


def test_allowed_edges_write_state_version_and_event(make_job):
    """One allowed edge out of every state that has one, through the database."""
    for src, targets in TRANSITIONS.items():
        for dst in sorted(targets)[:1]:
            job = make_job(src)
            event = transition(job, dst, actor="tech@hub", reason="because")
            db.session.expire(job)
            assert (job.state, job.version) == (dst.value, 1)
            assert (event.from_state, event.to_state, event.actor) == (
                src.value, dst.value, "tech@hub")


def test_state_in_extra_fields_cannot_skip_the_table(make_job):
    """``transition(job, "approved", state="printed")`` used to write "printed"."""
    job = make_job(JobState.RECEIVED)
    db.session.commit()
    with pytest.raises(TypeError):
        transition(job, JobState.APPROVED, actor="tech@hub", state="printed")
    db.session.rollback()
    db.session.expire(job)
    assert (job.state, job.version) == (JobState.RECEIVED.value, 0)
    assert [e.to_state for e in job.events] == ["received"]


@pytest.mark.db_independent
def test_named_state_sets_and_reset_fields():
    assert set(DROPPED_STATES) == {JobState.FAILED, JobState.REJECTED, JobState.CANCELLED}
    assert state_values(ON_PRINTER_STATES) == (
        "dispatching", "starting", "printing", "paused", "cancelling")  # the table's order
    assert state_values(WAITING_STATES) == ("received", "approved", "queued")
    # every reset field is one transition() may set, and requeueing resets a try as well
    check_fields(dict(REQUEUE_RESET))
    assert set(TRY_RESET) < set(REQUEUE_RESET)
    assert REQUEUE_RESET["printer_id"] is None and REQUEUE_RESET["completion_polls"] == 0


@pytest.mark.db_independent
def test_terminal_states_have_no_exit():
    assert {JobState.SHIPPED, JobState.PICKED_UP, JobState.FAILED, JobState.REJECTED,
            JobState.CANCELLED} == set(TERMINAL_STATES)


def test_stale_writer_loses(app, make_job):
    job = make_job()
    db.session.commit()
    other = db.session.get(PrintJob, job.id)
    assert other is job  # same session: simulate a second writer by bumping the row directly
    db.session.execute(
        PrintJob.__table__.update().where(PrintJob.id == job.id).values(version=5)
    )
    with pytest.raises(StaleJobError):
        transition(job, JobState.APPROVED, actor="tech")
    assert job.version == 5


def test_events_are_an_append_only_log(app, make_job):
    job = make_job()
    transition(job, JobState.APPROVED, actor="a")
    transition(job, JobState.QUEUED, actor="dispatcher")
    db.session.commit()
    states = [(e.from_state, e.to_state) for e in db.session.query(JobEvent).order_by(JobEvent.id)]
    assert states == [(None, "received"), ("received", "approved"), ("approved", "queued")]
