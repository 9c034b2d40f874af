"""The task queue: one Huey instance, tasks that run in the app context, leases on their rows.

Huey is the engine: SQLite storage by default (``instance/huey.sqlite3``, no broker), Redis
storage when configured (``HUEY_STORAGE=redis`` or just ``REDIS_URL``), immediate mode in the
tests; the task code is the same. ``flask --app marketplace worker`` runs a consumer.

Huey does not acknowledge tasks: a worker killed in the middle of one loses it. So the database
is the source of truth. Each row a task works on (a part, an estimate, a job, a mail) carries a
state, a lease (``lease_owner``, ``lease_until``) and an attempt count; a task *claims* its row
with one conditional UPDATE before it works, renews the lease while it works and writes its result
only while it still holds the lease; a periodic reaper queues again what was never claimed or
whose lease ran out. A task is a thin function taking ids, so running it twice does no harm.

Tasks are queued after the commit that made their work visible (:func:`enqueue_after_commit`);
if the queue is down then, the reaper finds the row later.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

import sqlalchemy as sa
from flask import Flask
from huey import Huey, MemoryHuey
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

from marketplace.extensions import db
from marketplace.models import utcnow

log = logging.getLogger(__name__)
_PENDING = "druckhub_tasks_after_commit"

# Configured by init_app (create_app); tasks are registered on it when their modules are imported.
huey: Huey = MemoryHuey("druckhub", results=False, immediate=False)


@dataclass
class _State:
    app: Flask | None = None
    reap_interval_s: float = 60.0


_state = _State()


def init_app(app: Flask) -> None:
    """Point the Huey instance at the storage the config names, and remember the app."""
    cfg = app.config
    kind = (cfg.get("HUEY_STORAGE") or ("redis" if cfg.get("REDIS_URL") else "sqlite")).lower()
    huey.name = cfg.get("HUEY_NAME") or "druckhub"
    if kind == "redis":
        if not cfg.get("REDIS_URL"):
            raise RuntimeError("HUEY_STORAGE=redis needs REDIS_URL")
        from redis import ConnectionPool

        # short connect timeout: a web request that queues a task, or /readyz, never hangs
        pool = ConnectionPool.from_url(cfg["REDIS_URL"], socket_connect_timeout=3,
                                       socket_timeout=10, health_check_interval=30)
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"connection_pool": pool, "blocking": True, "read_timeout": 2}
    elif kind == "sqlite":
        path = cfg.get("HUEY_SQLITE_PATH")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": path, "timeout": 30}
    elif kind == "memory":
        huey.storage_class = MemoryStorage
        huey.storage_kwargs = {}
    else:
        raise RuntimeError(f"HUEY_STORAGE must be sqlite, redis or memory, not {kind!r}")
    huey._immediate = bool(cfg.get("HUEY_IMMEDIATE"))  # the setter would keep old storage
    huey.storage = huey.create_storage()
    _state.app = app
    _state.reap_interval_s = float(cfg.get("REAPER_INTERVAL_S", 60))
    _install_hooks()


def storage_name() -> str:
    """Return which storage the queue uses: "sqlite", "redis", "memory" or "immediate"."""
    if huey.immediate:
        return "immediate"
    return {SqliteStorage: "sqlite", RedisStorage: "redis"}.get(huey.storage_class, "memory")


def pending_count() -> int:
    """Return how many tasks wait in the queue (raises if its storage cannot be reached)."""
    return huey.pending_count()


def current_app_for_tasks() -> Flask:
    if _state.app is None:
        raise RuntimeError("marketplace.taskqueue.init_app was not called (create_app does)")
    return _state.app


# Who watches the tasks (registered by marketplace.ops: log context, task-duration metric).
_observers: dict[str, Callable[[str, str, float], None]] = {}
_contexts: dict[str, Callable[[str, tuple], AbstractContextManager]] = {}


def observe(key: str, fn: Callable[[str, str, float], None]) -> None:
    """Call ``fn(task_name, outcome, seconds)`` after every task ("done", "skipped", "error")."""
    _observers[key] = fn


def around(key: str, fn: Callable[[str, tuple], AbstractContextManager]) -> None:
    """Run every task inside the context manager ``fn(task_name, args)`` returns."""
    _contexts[key] = fn


def _run_in_app_context(name: str, fn: Callable, args: tuple, kwargs: dict) -> Any:
    started = time.perf_counter()
    outcome = "error"
    with ExitStack() as stack:
        for make_context in list(_contexts.values()):
            stack.enter_context(make_context(name, args))
        stack.enter_context(current_app_for_tasks().app_context())
        try:
            result = fn(*args, **kwargs)
            outcome = "skipped" if result is False else "done"  # False: nothing to do
            return result
        finally:
            db.session.remove()
            for observer in list(_observers.values()):
                observer(name, outcome, time.perf_counter() - started)


def task(**options: Any) -> Callable:
    """Decorator: a Huey task that runs ``fn(*ids)`` inside the app context.

    The body returns False when it found nothing to do (done already, or claimed elsewhere).
    """

    def decorator(fn: Callable) -> Any:
        name = f"{fn.__module__}.{fn.__name__}"

        @wraps(fn)
        def in_app_context(*args: Any, **kwargs: Any) -> Any:
            return _run_in_app_context(name, fn, args, kwargs)

        return huey.task(name=name, **options)(in_app_context)

    return decorator


def periodic(fn: Callable) -> Any:
    """Decorator: run ``fn()`` in the app context every ``REAPER_INTERVAL_S`` on every consumer.

    The consumer's scheduler asks every ``REAPER_INTERVAL_S`` (see :func:`run_worker`); periodic
    work must be idempotent, since every consumer runs it.
    """
    name = f"{fn.__module__}.{fn.__name__}"

    @wraps(fn)
    def in_app_context() -> Any:
        return _run_in_app_context(name, fn, (), {})

    return huey.periodic_task(lambda _dt: True, name=name)(in_app_context)


# --- queueing after the commit ------------------------------------------------------------------
def enqueue_after_commit(task_fn: Any, *args: Any) -> None:
    """Queue ``task_fn(*args)`` once the current transaction commits (dropped on rollback)."""
    pending = db.session().info.setdefault(_PENDING, [])
    if (task_fn, args) not in pending:
        pending.append((task_fn, args))


def enqueue(task_fn: Any, *args: Any, delay_s: float | None = None) -> bool:
    """Queue ``task_fn(*args)`` now (or to run in ``delay_s`` seconds); return False (and
    log) if the queue cannot be reached.

    The row the task works on stays queued in the database, so the reaper retries it.
    """
    try:
        if delay_s:
            task_fn.schedule(args=args, delay=delay_s)
        else:
            task_fn(*args)
        return True
    except Exception:
        if huey.immediate:
            raise
        log.exception("could not queue %s%r (the reaper will queue it again)",
                      getattr(task_fn, "name", task_fn), args)
        return False


def _after_commit(session: sa.orm.Session) -> None:
    for task_fn, args in session.info.pop(_PENDING, ()):
        try:
            enqueue(task_fn, *args)
        except Exception:  # immediate mode: the task's failure must not undo the commit
            log.exception("task %s%r failed", getattr(task_fn, "name", task_fn), args)


def _after_rollback(session: sa.orm.Session, previous_transaction=None) -> None:
    session.info.pop(_PENDING, None)


_hooks_installed = False


def _install_hooks() -> None:
    global _hooks_installed
    if not _hooks_installed:
        sa.event.listen(db.session, "after_commit", _after_commit)
        sa.event.listen(db.session, "after_soft_rollback", _after_rollback)
        _hooks_installed = True


# --- leases on rows -----------------------------------------------------------------------------
def worker_name() -> str:
    """Return ``host:pid``: who holds a lease (the fault tests kill this process)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _col(model: Any, prefix: str, name: str) -> Any:
    return getattr(model, prefix + name)


@dataclass(frozen=True)
class Lease:
    """A claimed row: its model, id, the claim's unique owner token and the attempt number.

    ``prefix`` names the lease columns (``""``: attempts, lease_owner, lease_until; a print
    job's slicing uses ``"slice_"``, as its dispatch has a lease of its own).
    """

    model: Any
    row_id: int
    owner: str
    attempt: int
    prefix: str = ""

    def _mine(self) -> Any:
        return sa.and_(self.model.id == self.row_id,
                       _col(self.model, self.prefix, "lease_owner") == self.owner)

    def renew(self, lease_s: float) -> bool:
        """Push the lease out by ``lease_s`` (in its own transaction); False if it was lost."""
        with db.engine.begin() as conn:
            result = conn.execute(
                sa.update(self.model.__table__).where(self._mine())
                .values({f"{self.prefix}lease_until": utcnow() + timedelta(seconds=lease_s)}))
        return result.rowcount == 1

    def finish(self, **values: Any) -> bool:
        """Write ``values`` and release the lease, only if still held; the caller commits."""
        result = db.session.execute(
            sa.update(self.model).where(self._mine())
            .values({f"{self.prefix}lease_owner": None, f"{self.prefix}lease_until": None,
                     **values})
            .execution_options(synchronize_session=False))
        return result.rowcount == 1


def claim(model: Any, row_id: int, *where: Any, lease_s: float, prefix: str = ""
          ) -> Lease | None:
    """Claim row ``row_id`` of ``model`` for ``lease_s`` seconds if ``where`` holds and no live
    lease exists; count the attempt and commit. Return the lease, or None (someone else has it,
    or there is nothing to do)."""
    now = utcnow()
    owner = f"{worker_name()}:{uuid.uuid4().hex[:8]}"
    until, attempts = _col(model, prefix, "lease_until"), _col(model, prefix, "attempts")
    result = db.session.execute(
        sa.update(model)
        .where(model.id == row_id, *where, sa.or_(until.is_(None), until < now))
        .values({f"{prefix}lease_owner": owner,
                 f"{prefix}lease_until": now + timedelta(seconds=lease_s),
                 f"{prefix}attempts": attempts + 1})
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        return None
    attempt = db.session.scalar(sa.select(attempts).where(model.id == row_id))
    db.session.commit()
    return Lease(model, row_id, owner, int(attempt), prefix)


@contextmanager
def holding(lease: Lease, lease_s: float) -> Iterator[None]:
    """Renew ``lease`` every third of ``lease_s`` from a helper thread while the block runs
    (for work that cannot call back, e.g. a slicer run)."""
    stop = threading.Event()

    def beat() -> None:
        with current_app_for_tasks().app_context():
            while not stop.wait(max(0.5, lease_s / 3)):
                try:
                    lease.renew(lease_s)
                except Exception:  # the database is busy or away: try again next beat
                    log.warning("renewing %s failed", lease, exc_info=True)

    thread = threading.Thread(target=beat, name="lease-renewal", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def due_for_requeue(model: Any, *waiting: Any, stale_s: float, now: datetime | None = None,
                    prefix: str = "") -> sa.ColumnElement[bool]:
    """Condition for rows in a ``waiting`` state that need queueing again: a lease that ran out
    (its worker died), or no lease and queued more than ``stale_s`` ago (the message was lost)."""
    now = now or utcnow()
    until, queued = _col(model, prefix, "lease_until"), _col(model, prefix, "queued_at")
    return sa.and_(*waiting, sa.or_(
        until < now,
        sa.and_(until.is_(None),
                sa.or_(queued.is_(None), queued < now - timedelta(seconds=stale_s)))))


# --- the worker ---------------------------------------------------------------------------------
def start_in_threads(workers: int = 1) -> Any:
    """Start a consumer in threads of this process (no signal handlers); ``.stop(graceful=True)``
    ends it. For the browser tests' live server, which runs the app as in production."""
    from huey.consumer import Consumer

    class _Embedded(Consumer):
        def _set_signal_handlers(self) -> None:
            pass

    consumer = _Embedded(huey, workers=workers, worker_type="thread", periodic=False,
                         max_delay=0.2, check_worker_health=False)
    consumer.start()
    return consumer


def run_worker(app: Flask, *, workers: int = 2, worker_type: str = "thread",
               max_tasks: int | None = None) -> None:
    """Run a Huey consumer for ``app`` until SIGINT/SIGTERM (periodic tasks included)."""
    if huey.immediate:
        raise RuntimeError("HUEY_IMMEDIATE is set: tasks run where they are queued")
    from huey.consumer import Consumer

    interval = max(1, int(_state.reap_interval_s))

    class _Consumer(Consumer):
        def _create_scheduler(self):  # periodic tasks every REAPER_INTERVAL_S, not each minute
            scheduler = super()._create_scheduler()
            scheduler.periodic_task_seconds = interval
            return scheduler

    consumer = _Consumer(huey, workers=workers, worker_type=worker_type, periodic=True,
                         max_tasks=max_tasks, check_worker_health=True, health_check_interval=2,
                         max_delay=1.0)
    consumer.run()
