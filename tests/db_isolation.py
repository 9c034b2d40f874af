"""Each test in one transaction that is rolled back: SQLAlchemy's "join a Session into an
external transaction" recipe, for Flask-SQLAlchemy 3, on SQLite and PostgreSQL.

The test's connection begins a transaction and a SAVEPOINT inside it. The app's engine is
replaced by that connection in Flask-SQLAlchemy's engine map (its ``Session.get_bind`` reads the
map and ignores a session's own ``bind``), and ``db.session`` joins with
``join_transaction_mode="create_savepoint"``: a commit releases a savepoint, a rollback returns
to one, and nothing reaches the database. Sessions the app makes itself (``Session(db.engine)``)
join the same way: SQLAlchemy's default mode makes savepoints when the connection is in one.

One connection cannot do everything separate connections do. ``IsolationCheck`` notices when a
test relies on that, and the test fails with a note to mark it ``commits`` (real commits, tables
emptied afterwards):
- the connection is used from another thread (a live server, a worker pool, a mail thread);
- another engine connects to the same database (a second app): it cannot see the test's data;
- a session begins while another has uncommitted changes (a database would not show them);
- a session's rollback undoes what another session committed meanwhile, or a session ends
  while one begun after it is still open (their savepoints would be torn apart);
- a test marked ``db_independent`` uses the database.
"""

from __future__ import annotations

import itertools
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlalchemy.orm as sa_orm

_active: IsolationCheck | None = None  # the running test's check (one test at a time)
_pending_write = "tests.db_isolation.pending_write"


@dataclass
class _Open:
    """A transaction open on the test connection: a session's, or a ``db.engine.begin()`` block."""

    order: int
    name: str
    wrote: bool = False
    committed: bool = False
    committed_inside: set[str] = field(default_factory=set)


class IsolationCheck:
    """Watches the sessions and connections of one rollback-mode test; collects problems."""

    def __init__(self, connection: sa.Connection, engine: sa.Engine, *, pure: bool) -> None:
        self.connection = connection
        self.engine = engine
        self.pure = pure
        self.thread = threading.get_ident()
        self.problems: list[str] = []
        self.open: dict[int, _Open] = {}  # id(session or block) -> its open transaction
        self._order = itertools.count()
        self._lock = threading.Lock()

    def note(self, problem: str) -> None:
        with self._lock:
            if problem not in self.problems:
                self.problems.append(problem)

    # --- connection level ---------------------------------------------------------------------
    def before_execute(self, statement: str) -> None:
        if threading.get_ident() != self.thread:
            name = threading.current_thread().name
            self.note(f"thread {name!r} used the test's connection")
            raise RuntimeError(f"thread {name!r} used a rollback-mode test's database "
                               "connection; mark the test commits")
        if self.pure:
            self.note("a test marked db_independent used the database (so the PostgreSQL pass "
                      "would leave it out)")

    def other_engine_connected(self, engine: sa.Engine) -> None:
        if threading.get_ident() != self.thread:
            return  # a thread left over from an earlier test, with its own app
        if engine is not self.engine and engine.url == self.engine.url:
            self.note("another engine (a second app?) connected to the test database; it "
                      "cannot see the test's uncommitted data")

    # --- transactions: began, wrote, committed, ended -----------------------------------------
    def began(self, key: int, name: str, *, wrote: bool = False) -> None:
        with self._lock:
            dirty = [o.name for o in self.open.values() if o.wrote and not o.committed]
            self.open[key] = _Open(next(self._order), name, wrote=wrote)
        if dirty:
            self.note(f"{name} began while {', '.join(dirty)} had uncommitted changes (on a "
                      "connection of its own it would not see them, or would wait for them)")

    def wrote(self, key: int) -> bool:
        """Note a write; False if ``key`` has no open transaction (yet)."""
        entry = self.open.get(key)
        if entry is not None:
            entry.wrote = True
        return entry is not None

    def committed(self, key: int) -> None:
        entry = self.open.get(key)
        if entry is None:
            return
        entry.committed = True
        for other in list(self.open.values()):
            if other is entry or other.committed:
                continue
            if other.order < entry.order and entry.wrote:
                other.committed_inside.add(entry.name)
            elif other.order > entry.order:
                self.note(f"{entry.name} committed while {other.name}, begun after it, was "
                          "still open")

    def ended(self, key: int) -> None:
        with self._lock:
            entry = self.open.pop(key, None)
        if entry is None or entry.committed:
            return
        if entry.committed_inside:
            self.note(f"{entry.name} rolled back and so undid what "
                      f"{', '.join(sorted(entry.committed_inside))} committed meanwhile")
        later = [o.name for o in self.open.values() if o.order > entry.order and not o.committed]
        if later:
            self.note(f"{entry.name} rolled back while {', '.join(later)}, begun after it, was "
                      "still open")


def _ours(connection: sa.Connection) -> IsolationCheck | None:
    check = _active
    return check if check is not None and connection is check.connection else None


@sa.event.listens_for(sa.Engine, "before_cursor_execute")
def _before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
    check = _ours(conn)
    if check is not None:
        check.before_execute(statement)


@sa.event.listens_for(sa.Engine, "engine_connect")
def _engine_connect(conn):
    check = _active
    if check is not None:
        check.other_engine_connected(conn.engine)


def _in_test_thread() -> IsolationCheck | None:
    check = _active
    return check if check is not None and threading.get_ident() == check.thread else None


def _session_name(session: sa_orm.Session) -> str:
    return f"session {type(session).__name__}@{id(session):x}"


@sa.event.listens_for(sa_orm.Session, "after_begin")
def _after_begin(session, transaction, connection):
    check = _ours(connection)
    if check is not None and transaction.parent is None:
        check.began(id(session), _session_name(session),
                    wrote=session.info.pop(_pending_write, False))


@sa.event.listens_for(sa_orm.Session, "after_flush")
def _after_flush(session, flush_context):
    check = _in_test_thread()
    if check is not None:
        check.wrote(id(session))


@sa.event.listens_for(sa_orm.Session, "do_orm_execute")
def _do_orm_execute(state):
    check = _in_test_thread()
    if check is not None and (state.is_insert or state.is_update or state.is_delete):
        if not check.wrote(id(state.session)):
            state.session.info[_pending_write] = True  # this statement begins the transaction


# first of the after_commit hooks: the app's hooks may begin other sessions (the mailer)
@sa.event.listens_for(sa_orm.Session, "after_commit", insert=True)
def _after_commit(session):
    check = _in_test_thread()
    if check is not None:
        check.committed(id(session))


@sa.event.listens_for(sa_orm.Session, "after_transaction_end")
def _after_transaction_end(session, transaction):
    check = _in_test_thread()
    if check is not None and transaction.parent is None:
        session.info.pop(_pending_write, None)
        check.ended(id(session))


class SharedConnection(sa.Connection):
    """The test's connection; it also stands in for the app's engine (``db.engine``).

    ``with db.engine.begin() as conn:`` (a short transaction of its own, committed at once)
    becomes a savepoint on this connection that is released at the end of the block.
    """

    def begin(self):
        if not self.in_transaction():
            return super().begin()
        return self._block()

    @contextmanager
    def _block(self):
        check, key = _in_test_thread(), object()
        if check is not None:
            check.began(id(key), "a db.engine.begin() block", wrote=True)
        try:
            with self.begin_nested():
                yield self
            if check is not None:
                check.committed(id(key))
        finally:
            if check is not None:
                check.ended(id(key))

    def connect(self):
        raise RuntimeError("db.engine.connect() in a rollback-mode test: a connection of its own "
                           "needs real commits; mark the test commits")


class RolledBackTransaction:
    """Context manager: the app's database work inside a transaction that is rolled back.

    Enter it inside the app context. ``problems`` lists what the test did that one connection
    cannot stand in for (see the module docstring).
    """

    def __init__(self, db, *, pure: bool = False) -> None:
        self.db = db
        self.pure = pure
        self.problems: list[str] = []

    def __enter__(self) -> RolledBackTransaction:
        global _active
        db = self.db
        self.engines = db.engines  # this app's map, bind key -> engine (Flask-SQLAlchemy 3)
        self.engine = self.engines[None]
        self.connection = conn = SharedConnection(self.engine)
        if conn.dialect.name == "sqlite":
            # pysqlite begins a transaction only before its first INSERT/UPDATE/DELETE (here:
            # at the first SAVEPOINT, whose RELEASE would then commit); with isolation_level None
            # it leaves BEGIN to us (SQLAlchemy's pysqlite "savepoints" recipe)
            conn.connection.driver_connection.isolation_level = None
            self.outer = conn.begin()
            conn.exec_driver_sql("BEGIN")
        else:
            self.outer = conn.begin()
        conn.begin_nested()  # sessions joining a connection inside a SAVEPOINT make their own
        db.session.remove()
        self.session_options = dict(db.session.session_factory.kw)
        db.session.session_factory.configure(join_transaction_mode="create_savepoint")
        self.engines[None] = conn
        self.check = _active = IsolationCheck(conn, self.engine, pure=self.pure)
        return self

    def __exit__(self, *exc) -> None:
        global _active
        db = self.db
        _active = None  # what the test's end rolls back is no problem
        self.problems = self.check.problems
        try:
            db.session.remove()
        finally:
            self.engines[None] = self.engine
            db.session.session_factory.kw.clear()
            db.session.session_factory.kw.update(self.session_options)
            self.outer.rollback()
            self.connection.close()
