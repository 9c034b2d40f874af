"""The database fixture: each test's work is rolled back (its commits become savepoints), tests
marked ``commits`` commit for real, and what one connection cannot stand in for is reported."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from db_isolation import RolledBackTransaction
from sqlalchemy.orm import Session

from marketplace import create_app
from marketplace.extensions import db
from marketplace.models import Firm, User


def firms() -> int:
    return db.session.scalar(sa.select(sa.func.count(Firm.id)))


def committed_firms() -> int:
    """Count the firms as a connection of its own sees them (plain DBAPI, outside the fixture)."""
    engine = db.engine if isinstance(db.engine, sa.Engine) else db.engine.engine
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT count(*) FROM firms")
        return cursor.fetchone()[0]
    finally:
        raw.close()


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_starts_empty_and_its_commits_never_reach_the_database(app, run):
    assert firms() == 0  # the other run's firm is gone
    db.session.add(Firm(name=f"Run {run} GmbH"))
    db.session.commit()
    assert firms() == 1
    assert committed_firms() == 0


def test_commit_is_kept_and_rollback_returns_to_the_last_commit(app, make_user):
    db.session.add(Firm(name="Kept GmbH"))
    db.session.commit()
    db.session.add(Firm(name="Dropped GmbH"))
    db.session.flush()
    db.session.rollback()
    assert db.session.scalars(sa.select(Firm.name)).all() == ["Kept GmbH"]
    # after a failed statement (PostgreSQL aborts the transaction) the session goes on
    make_user("firm", email="same@example.de")
    db.session.add(User(email="same@example.de", role="firm", password_hash="x", name="Twin"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1
    assert firms() == 2  # the user's firm was committed with it


def test_a_short_transaction_on_the_engine_and_a_session_of_its_own_join_in(app):
    with db.engine.begin() as conn:  # e.g. accounts.sessions: "committed at once"
        conn.execute(sa.insert(Firm).values(name="Engine GmbH"))
    with Session(db.engine) as other:  # e.g. the mailer's own session
        other.add(Firm(name="Other Session GmbH"))
        other.commit()
    assert sorted(db.session.scalars(sa.select(Firm.name))) == ["Engine GmbH",
                                                                "Other Session GmbH"]
    assert committed_firms() == 0


@pytest.mark.commits
@pytest.mark.parametrize("run", [1, 2])
def test_commits_marker_commits_for_real_and_the_tables_are_emptied_after(app, run):
    assert firms() == 0
    db.session.add(Firm(name=f"Run {run} GmbH"))
    db.session.commit()
    assert committed_firms() == 1


# --- what one connection cannot stand in for is reported -----------------------------------
# These tests are marked ``commits`` so the fixture leaves them alone; each opens the rolled-back
# transaction itself and looks at what it reports.


def problems_of(work, *, pure: bool = False) -> list[str]:
    with RolledBackTransaction(db, pure=pure) as transaction:
        work()
    assert firms() == 0  # rolled back in any case
    return transaction.problems


@pytest.mark.commits
def test_plain_work_reports_nothing(app, client):
    def work():
        db.session.add(Firm(name="A GmbH"))
        db.session.commit()
        assert client.get("/login").status_code == 200
        with db.engine.begin() as conn:
            conn.execute(sa.update(Firm).values(city="Lüneburg"))
        assert db.session.scalar(sa.select(Firm.city)) == "Lüneburg"

    assert problems_of(work) == []


@pytest.mark.commits
def test_another_thread_on_the_connection_is_refused_and_reported(app):
    errors = []

    def in_thread():
        try:
            with app.app_context():
                firms()
        except RuntimeError as exc:
            errors.append(str(exc))

    def work():
        thread = threading.Thread(target=in_thread, name="worker-x")
        thread.start()
        thread.join(timeout=30)

    problems = problems_of(work)
    assert errors and "mark the test commits" in errors[0]
    assert problems == ["thread 'worker-x' used the test's connection"]


@pytest.mark.commits
def test_a_session_reading_anothers_uncommitted_changes_is_reported(app):
    def work():
        db.session.add(Firm(name="Uncommitted GmbH"))
        db.session.flush()
        with Session(db.engine) as other:
            other.scalar(sa.select(sa.func.count(Firm.id)))

    [problem] = problems_of(work)
    assert "had uncommitted changes" in problem


@pytest.mark.commits
def test_a_rollback_that_undoes_anothers_commit_is_reported(app):
    def work():
        firms()  # the test's session has a transaction open
        with Session(db.engine) as other:
            other.add(Firm(name="Committed GmbH"))
            other.commit()
        db.session.rollback()  # on a database it would not undo the other session's commit

    [problem] = problems_of(work)
    assert "rolled back and so undid" in problem


@pytest.mark.commits
def test_a_second_app_on_the_same_database_is_reported(app, app_config):
    second = create_app(app_config)

    def work():
        with second.app_context():
            firms()

    [problem] = problems_of(work)
    assert "another engine" in problem
    with second.app_context():
        db.engine.dispose()


@pytest.mark.commits
def test_a_db_independent_test_that_uses_the_database_is_reported(app):
    [problem] = problems_of(firms, pure=True)
    assert "db_independent" in problem


@pytest.mark.commits  # about real transactions on the database
def test_a_savepoint_as_the_first_write_stays_inside_the_transaction(app):
    """A ``begin_nested()`` that opens a session's writes must not commit on its own (pysqlite
    began no transaction before SAVEPOINT, so releasing it committed); on both databases."""
    with Session(db.engine) as session:
        session.execute(sa.select(sa.func.count(Firm.id)))  # a read first, as a page does
        with session.begin_nested():
            session.add(Firm(name="Savepoint GmbH"))
            session.flush()
        assert committed_firms() == 0  # released, not committed
        session.rollback()
    assert committed_firms() == 0
    with Session(db.engine) as session:
        with session.begin_nested():
            session.add(Firm(name="Savepoint GmbH"))
        session.commit()
    assert committed_firms() == 1
