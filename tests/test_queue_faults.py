"""Faults, each a test, with real processes: a worker killed (SIGKILL) in the middle of an
analysis and of a slice, the web server killed during an upload burst, Redis restarted under a
worker, two workers on PostgreSQL + Redis taking one burst. The database is the source of truth:
every piece of work ends done once, nothing stays pending."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from portal_helpers import CORPUS_MODELS, cube_stl, firm_user  # noqa: F401
from queue_helpers import ROOT, Workers, queue_settings, wait_for, workers  # noqa: F401

from marketplace.extensions import db
from marketplace.models import Firm, JobEvent, Part, PrintJob
from marketplace.parts import operations as parts

BIG = CORPUS_MODELS / "trimesh__counter_unitsmm.stl"  # 84k triangles: seconds of analysis


@pytest.fixture
def queue_storage():
    return "sqlite"


@pytest.fixture
def redis_url():
    return None


@pytest.fixture
def app_config(app_config, tmp_path, queue_storage, redis_url):
    return {**app_config, **queue_settings(tmp_path, queue_storage, redis_url)}


def _parts() -> list[Part]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(Part).order_by(Part.id)))


def _children_of(pid: int) -> list[int]:
    """Analysis children that say ``pid`` started them (the runner's parent mark)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"DRUCKHUB_ANALYSIS_PARENT={pid}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _slicers_in_group(pgid: int) -> list[int]:
    """PrusaSlicer processes in the process group ``pgid`` (a worker and what it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # state ppid pgrp ...
        if int(fields[2]) == pgid and b"prusa-slicer" in cmdline:
            found.append(int(entry.name))
    return found


def test_a_worker_killed_mid_analysis_leaves_the_part_to_another(app, firm_user, workers):
    firm = db.session.get(Firm, firm_user.firm_id)
    part = parts.store_upload(firm, None, "zaehler.stl", BIG.read_bytes())
    db.session.commit()
    first = workers.start(1)
    claimed = wait_for(lambda: (p := _parts()[0]).lease_owner and p, 60, "the first claim")
    assert claimed.status == "pending" and claimed.attempts == 1
    assert claimed.lease_owner.split(":")[1] == str(first.pid)
    wait_for(lambda: _children_of(first.pid), 20, "the analysis child")
    os.kill(first.pid, signal.SIGKILL)  # the worker only: its child must die with it
    first.wait(timeout=10)
    wait_for(lambda: not _children_of(first.pid), 10, "the orphaned analysis child to die")

    workers.start(1)  # the lease runs out (no one renews it); the second worker's reaper
    done = wait_for(lambda: (p := _parts()[0]).status != "pending" and p, 120, "re-analysis")
    assert done.status == "ready" and done.attempts == 2 and done.lease_owner is None
    assert done.analysis["mesh"]["triangles"] > 80_000
    # the worker logs just after its commit: wait for the line, not just the row
    wait_for(lambda: f"part {part.id} analysed" in workers.log(1), 30, "the second worker's log")
    assert workers.log(1).count(f"part {part.id} analysed") == 1
    assert f"part {part.id} analysed" not in workers.log(0)  # done once


@pytest.mark.slicer
def test_a_worker_killed_mid_slice_leaves_the_job_to_another(app, workers, make_order_job):
    app.config["SLICING"] = "worker"
    job_id = make_order_job()  # approved and committed: the slicing task is queued
    first = workers.start(1, SLICING="worker")

    def claimed():
        db.session.rollback()
        job = db.session.get(PrintJob, job_id)
        return job.slice_lease_owner and job

    job = wait_for(claimed, 60, "the slicing claim")
    assert job.state == "approved" and job.slice_attempts == 1
    # kill while PrusaSlicer runs (a fixed sleep is too long on a fast machine: the slice is done)
    wait_for(lambda: _slicers_in_group(first.pid), 30, "PrusaSlicer under the first worker",
             step_s=0.01)
    workers.kill(first)  # the worker and the slicer it started
    db.session.rollback()
    assert db.session.get(PrintJob, job_id).state == "approved"  # killed mid-slice

    workers.start(1, SLICING="worker")

    def sliced():
        db.session.rollback()
        job = db.session.get(PrintJob, job_id)
        return job.state != "approved" and job.slice_lease_owner is None and job

    job = wait_for(sliced, 180, "slicing by the second worker (and its lease let go)")
    assert job.state == "queued" and job.slice_attempts == 2 and job.gcode_sha256
    assert job.slice_lease_owner is None
    queued = db.session.scalar(sa.select(sa.func.count(JobEvent.id)).where(
        JobEvent.job_id == job_id, JobEvent.to_state == "queued"))
    assert queued == 1  # sliced and queued once


@pytest.fixture
def make_order_job(app, firm_user):
    """make_order_job() -> id of a committed, approved job of a small printable part."""
    from marketplace.orders import operations as orders
    from marketplace.quotes import operations as quotes

    def make() -> int:
        part = parts.store_upload(db.session.get(Firm, firm_user.firm_id), None, "box.stl",
                                  cube_stl(15), queue=False)
        db.session.commit()
        parts.analyse(part.id)  # here: this test is about slicing
        quote = quotes.make_quote(db.session.get(Part, part.id), material_code="PLA")
        order = orders.place_order(quote, placed_by=None)
        orders.approve_order(order, "tech@hub")
        db.session.commit()
        return order.jobs[0].id

    return make


# --- the web server killed during an upload burst ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebServer:
    """gunicorn as in production (gunicorn.conf.py) on the test's database and queue."""

    def __init__(self, pool: Workers, port: int) -> None:
        self.pool, self.port, self.proc = pool, port, None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> WebServer:
        env = self.pool.env(PORT=self.port, WTF_CSRF_ENABLED="0", WEB_WORKERS="2",
                            WEB_THREADS="4", PROMETHEUS_MULTIPROC_DIR="")
        env.pop("PROMETHEUS_MULTIPROC_DIR")
        log = open(self.pool.tmp_path / f"web-{time.monotonic_ns()}.log", "wb")
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py",
             "marketplace:create_app()"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._up, 60, "gunicorn to answer")
        return self

    def _up(self) -> bool:
        try:
            return requests.get(self.url + "/livez", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # master and workers, mid-request
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def _signed_in(url: str, email: str, password: str) -> requests.Session:
    session = requests.Session()
    resp = session.post(url + "/login", data={"email": email, "password": password},
                        allow_redirects=False, timeout=30)
    assert resp.status_code in (302, 303), resp.status_code
    return session


def test_the_web_server_killed_during_uploads(app, make_user, workers):
    app.config["TASK_REQUEUE_AFTER_S"] = 3  # the workers look for lost queue messages soon
    user = make_user("firm", password="pw-12345678")
    web = WebServer(workers, _free_port()).start()
    try:
        session = _signed_in(web.url, user.email, "pw-12345678")
        data = [cube_stl(10 + i) for i in range(16)]

        def upload(i: int) -> int | str:
            try:
                return session.post(web.url + "/parts", files={"files": (f"p{i}.stl", data[i])},
                                    headers={"Accept": "application/json"}, timeout=30
                                    ).status_code
            except requests.RequestException as exc:
                return type(exc).__name__

        # two at a time, and the kill at once after the third stored part: on a fast idle
        # machine eight threads had stored all 16 before the kill came
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(upload, i) for i in range(16)]
            wait_for(lambda: len(_parts()) >= 3, 60, "the first stored parts", step_s=0.01)
            web.kill()  # in the middle of the burst: some uploads stored, some cut off
            outcomes = [f.result() for f in futures]
        stored = _parts()
        assert 3 <= len(stored) <= 16 and any(o != 201 for o in outcomes), outcomes
        assert all(p.status == "pending" for p in stored)  # nothing ran in the web server

        web = WebServer(workers, web.port).start()  # restarted; and a worker starts
        workers.start(2, TASK_REQUEUE_AFTER_S=3)
        wait_for(lambda: all(p.status != "pending" for p in _parts()), 120,
                 "every stored part analysed after the restart")
        assert all(p.status == "ready" for p in _parts())
        # the firm's next upload is taken (nothing stuck counts against its limit)
        session = _signed_in(web.url, user.email, "pw-12345678")
        again = session.post(web.url + "/parts", files={"files": ("neu.stl", cube_stl(30))},
                             headers={"Accept": "application/json"}, timeout=30)
        assert again.status_code == 201
    finally:
        web.stop()


# --- Redis restarted under a worker --------------------------------------------------------------


class OwnRedis:
    """A redis-server of this test's own on a free loopback port (never the shared one)."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = _free_port()
        self.dir = tmp_path / "redis"
        self.dir.mkdir()
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        wait_for(lambda: self._ping(redis), 20, "redis-server to answer")
        return self

    def _ping(self, redis) -> bool:
        try:
            return redis.Redis(port=self.port, socket_connect_timeout=1).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    server = OwnRedis(tmp_path_factory.mktemp("own-redis")).start()
    yield server
    server.stop()


@pytest.mark.redis
@pytest.mark.parametrize("queue_storage", ["redis"])
def test_redis_restarted_under_a_worker(app, firm_user, workers, own_redis, queue_storage):
    from marketplace import taskqueue

    app.config["REDIS_URL"] = own_redis.url
    taskqueue.init_app(app)  # the test app queues into this test's own Redis
    app.config["TASK_REQUEUE_AFTER_S"] = 3
    firm = db.session.get(Firm, firm_user.firm_id)
    workers.start(1, REDIS_URL=own_redis.url)

    def store(i: int) -> None:
        parts.store_upload(firm, None, f"p{i}.stl", cube_stl(10 + i))
        db.session.commit()

    store(1)
    wait_for(lambda: _parts()[0].status == "ready", 60, "the first part")
    own_redis.stop()  # Redis goes away (with every task in it)
    store(2)  # queued while Redis is down: the commit stands, the message is lost (logged)
    time.sleep(2)  # the worker meets the dead connection
    own_redis.start()  # back, empty
    store(3)
    wait_for(lambda: all(p.status == "ready" for p in _parts()), 120,
             "every part, the one queued while Redis was down too")
    assert [p.attempts for p in _parts()] == [1, 1, 1]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("queue_storage", ["redis"])
def test_two_workers_on_postgres_and_redis_take_one_burst(app, firm_user, workers,
                                                          queue_storage):
    firm = db.session.get(Firm, firm_user.firm_id)
    for i in range(16):
        parts.store_upload(firm, None, f"p{i}.stl", cube_stl(10 + i))
    db.session.commit()
    workers.start(2)
    workers.start(2)
    wait_for(lambda: all(p.status != "pending" for p in _parts()), 180, "the burst analysed")
    stored = _parts()
    assert len(stored) == 16 and all(p.status == "ready" for p in stored)
    assert all(p.attempts == 1 for p in stored), [p.attempts for p in stored]
    # each worker logs just after its commit: wait until the last line is written
    wait_for(lambda: sum(workers.log(n).count("analysed: ready") for n in (0, 1)) >= 16, 30,
             "the workers' log lines")
    runs = [workers.log(n).count("analysed: ready") for n in (0, 1)]
    assert sum(runs) == 16, runs  # no part analysed twice
