"""/livez and /readyz, the request id, the JSON log lines, and gunicorn with our config file."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from marketplace.ops import logs

ROOT = Path(__file__).resolve().parents[1]


def test_livez_answers_without_touching_anything(client):
    r = client.get("/livez")
    assert r.status_code == 200
    assert r.mimetype == "application/health+json"
    assert r.json == {"status": "pass"}
    assert r.headers["Cache-Control"] == "no-store"


def test_readyz_passes_with_every_check(client):
    r = client.get("/readyz")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "pass"
    assert set(r.json["checks"]) == {"database", "queue", "uploads"}
    for name, check in r.json["checks"].items():
        assert check["status"] == "pass", name
        assert check["time_ms"] >= 0
    assert r.json["checks"]["uploads"]["free_mb"] > 0


@pytest.mark.db_independent
def test_readyz_fails_when_the_database_is_gone(app_config, tmp_path):
    from marketplace import create_app

    folder = tmp_path / "dbdir"
    app = create_app({**app_config,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'hub.sqlite3'}"})
    shutil.rmtree(folder)  # SQLite cannot open a file in a folder that is not there
    r = app.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.json["status"] == "fail"
    assert r.json["checks"]["database"]["status"] == "fail"
    assert r.json["checks"]["database"]["error"] == "OperationalError"
    assert str(folder) not in r.get_data(as_text=True)  # no paths or hosts in the answer
    assert r.json["checks"]["uploads"]["status"] == "pass"


def test_readyz_fails_when_uploads_cannot_be_written(app, client):
    shutil.rmtree(app.config["UPLOAD_DIR"])
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["uploads"] == {
        "status": "fail", "error": "FileNotFoundError",
        "time_ms": r.json["checks"]["uploads"]["time_ms"]}
    assert r.json["checks"]["database"]["status"] == "pass"


@pytest.mark.parametrize("header, echoed", [
    ("abc-123", True),
    ("0f4e8f0c-3b8e-4f7e-9a59-8e2f1c6f2d11", True),
    ("Root=1-5759e988-bd862e3fe1be46a994272793", True),
    ("two words", False),
    ('quote"d', False),
    ("x" * 129, False),
    ("tab\tinside", False),
    ("<script>", False),
    ("", False),
])
def test_request_id_is_taken_when_sane_else_made(client, header, echoed):
    r = client.get("/livez", headers={"X-Request-ID": header} if header else {})
    rid = r.headers["X-Request-ID"]
    if echoed:
        assert rid == header
    else:
        assert rid != header and len(rid) == 32 and int(rid, 16) >= 0


def test_request_id_is_on_every_line_logged_in_the_request(app):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    handler.setFormatter(logs.Formatter())
    logger = logging.getLogger("druckhub.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    @app.get("/_test/log")
    def _log_something():
        logger.info("inside", extra={"part_id": 7})
        return "ok"

    try:
        r = app.test_client().get("/_test/log", headers={"X-Request-ID": "req-42"})
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    assert r.status_code == 200
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "inside"
    assert inside["request_id"] == "req-42"
    assert inside["part_id"] == 7
    assert inside["level"] == "INFO" and inside["logger"] == "druckhub.test"
    assert inside["pid"] == os.getpid() and inside["time"].endswith("+00:00")
    assert "request_id" not in outside  # unbound when the request ended


@pytest.mark.db_independent
def test_bound_fields_nest_and_unwind():
    assert logs.context() == {}
    with logs.bound(task="slice_job", task_id="t1"):
        with logs.bound(job_id=3):
            assert logs.context() == {"task": "slice_job", "task_id": "t1", "job_id": 3}
        assert logs.context() == {"task": "slice_job", "task_id": "t1"}
    assert logs.context() == {}


@pytest.mark.db_independent
def test_an_exception_is_one_json_line():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.Formatter())
    logger = logging.getLogger("druckhub.test.exc")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("broken\nmesh")
        except ValueError:
            logger.exception("analysis failed")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "ERROR" and "ValueError: broken" in record["exc_info"]


# --- the production server -----------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(tmp_path: Path, env: dict | None = None) -> tuple[subprocess.Popen, str, Path]:
    """Start gunicorn with gunicorn.conf.py on a free port (migrated SQLite); wait for /livez."""
    port = _free_port()
    environ = {**os.environ, "PORT": str(port),
               "DATABASE_URL": f"sqlite:///{tmp_path / 'hub.sqlite3'}",
               "UPLOAD_DIR": str(tmp_path / "uploads"), "SECRET_KEY": "gunicorn-test",
               "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), **(env or {})}
    environ.pop("FLASK_APP", None)
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "flask"), "--app", "marketplace", "db", "upgrade"],
                   cwd=ROOT, env=environ, check=True, capture_output=True, timeout=120)
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py",
                                 "marketplace:create_app()"], cwd=ROOT, env=environ,
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited: {log_path.read_text()[-2000:]}")
        try:
            if requests.get(url + "/livez", timeout=1).status_code == 200:
                return proc, url, log_path
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("gunicorn did not answer within 60 s")
        time.sleep(0.2)


def stop_gunicorn(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise
    return proc.returncode


@pytest.mark.db_independent
@pytest.mark.slow
def test_gunicorn_serves_with_our_config_and_logs_json(tmp_path):
    proc, url, log_path = start_gunicorn(tmp_path)
    try:
        r = requests.get(url + "/readyz", headers={"X-Request-ID": "gunicorn-1"}, timeout=10)
        assert r.status_code == 200 and r.json()["status"] == "pass"
        assert r.headers["X-Request-ID"] == "gunicorn-1"
        assert r.headers["Server"] == "gunicorn"
        pids = {requests.get(url + "/livez", timeout=5).headers["X-Request-ID"]
                for _ in range(3)}
        assert len(pids) == 3  # each request its own id
    finally:
        assert stop_gunicorn(proc) == 0
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    access = [r for r in records if r["logger"] == "gunicorn.access"]
    ready = next(r for r in access if r.get("path") == "/readyz")
    assert ready["request_id"] == "gunicorn-1"
    assert ready["status"] == 200 and ready["method"] == "GET"
    assert "request_id=gunicorn-1" in ready["message"]
    workers = {r["pid"] for r in records if r["message"].startswith("Booting worker")}
    assert len(workers) == 2  # two workers on this 2-core machine
    assert any(r["message"] == "Shutting down: Master" for r in records)


@pytest.mark.db_independent
@pytest.mark.slow
def test_gunicorn_reloads_gracefully_on_hup(tmp_path):
    proc, url, log_path = start_gunicorn(tmp_path)

    def booted() -> list[int]:
        return [json.loads(line)["pid"] for line in log_path.read_text().splitlines()
                if "Booting worker" in line]

    try:
        old = booted()
        assert len(old) == 2
        proc.send_signal(signal.SIGHUP)
        answers = []
        deadline = time.monotonic() + 60
        while len(booted()) < 4 or any(f"Worker exiting (pid: {pid})" not in
                                       log_path.read_text() for pid in old):
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            # a request arriving while the new workers boot waits for them, it is not refused
            answers.append(requests.get(url + "/livez", timeout=60).status_code)
            time.sleep(0.05)
        answers.append(requests.get(url + "/livez", timeout=60).status_code)
    finally:
        assert stop_gunicorn(proc) == 0
    assert set(answers) == {200}  # served all along
    assert len(set(booted()) - set(old)) == 2  # two new workers with the code read anew


@pytest.mark.db_independent
def test_a_worker_that_cannot_boot_stops_gunicorn_with_an_error(tmp_path):
    """Workers end through our worker_exit hook; the boot failure's exit code must survive it."""
    env = {**os.environ, "PORT": str(_free_port()), "DRUCKHUB_ENV": "production",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'hub.sqlite3'}",
           "UPLOAD_DIR": str(tmp_path / "uploads"),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    env.pop("SECRET_KEY", None)  # production refuses to start without it
    bin_dir = Path(sys.executable).parent
    done = subprocess.run([str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py",
                           "marketplace:create_app()"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "SECRET_KEY must be set" in done.stderr
    assert "exited with code 3" in done.stderr  # WORKER_BOOT_ERROR: the master gives up
