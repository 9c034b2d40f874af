"""Real task workers for the queue tests: `flask --app marketplace worker` processes on the
test's database and a queue of the test's own (a SQLite file, or Redis db 5 under a unique name).

``queue_env`` is the environment both the test's app and its workers see; ``workers.start(n)``
starts a worker process, ``wait_for(...)`` polls with a deadline. Every process is killed at the
end of the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REDIS_DB_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


def wait_for(check: Callable[[], object], timeout_s: float, what: str, step_s: float = 0.2):
    """Call ``check`` until it returns something true; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(step_s)


def queue_settings(tmp_path: Path, storage: str = "sqlite", redis_url: str | None = None) -> dict:
    """Config for a test app and its workers: a real queue, short leases, a fast reaper."""
    settings = {
        "HUEY_IMMEDIATE": False, "HUEY_STORAGE": storage, "HUEY_NAME": f"t{uuid.uuid4().hex[:10]}",
        "HUEY_SQLITE_PATH": str(tmp_path / "huey.sqlite3"), "TASK_LEASE_S": 4,
        "REAPER_INTERVAL_S": 1, "TASK_REQUEUE_AFTER_S": 30, "ANALYSIS_SUBPROCESS": True,
    }
    if storage == "redis":
        settings["REDIS_URL"] = redis_url or REDIS_DB_URL
    return settings


class Workers:
    """`flask worker` processes sharing the test app's database, uploads and queue."""

    def __init__(self, app, tmp_path: Path) -> None:
        self.app = app
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []

    def env(self, **extra: object) -> dict[str, str]:
        cfg = self.app.config
        keys = ("HUEY_STORAGE", "HUEY_NAME", "HUEY_SQLITE_PATH", "REDIS_URL", "TASK_LEASE_S",
                "REAPER_INTERVAL_S", "TASK_REQUEUE_AFTER_S", "TASK_MAX_ATTEMPTS",
                "ANALYSIS_TIMEOUT_S", "ANALYSIS_MEMORY_MB", "UPLOAD_DIR", "SLICER_TIMEOUT_S",
                "PRUSA_SLICER_BIN", "SMTP_HOST", "SMTP_PORT", "SMTP_SENDER",
                "MAIL_RETRY_BASE_S")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SECRET_KEY": "test-worker",
               "DATABASE_URL": cfg["SQLALCHEMY_DATABASE_URI"], "HUEY_IMMEDIATE": "0",
               "ANALYSIS_SUBPROCESS": "1", "PYTHONUNBUFFERED": "1"}
        env.update({k: str(cfg[k]) for k in keys if cfg.get(k) not in (None, "")})
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def start(self, workers: int = 1, **extra: object) -> subprocess.Popen:
        n = len(self.procs)
        log = open(self.tmp_path / f"worker{n}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "marketplace", "worker", "-w", str(workers)],
            cwd=ROOT, env=self.env(**extra), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.procs.append(proc)
        return proc

    def log(self, n: int) -> str:
        return (self.tmp_path / f"worker{n}.log").read_text(errors="replace")

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Kill a worker and its children (the analysis child dies with it anyway)."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGINT)  # Huey's graceful stop
                    proc.wait(timeout=15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(proc)


@pytest.fixture
def workers(app, tmp_path):
    pool = Workers(app, tmp_path)
    yield pool
    pool.stop_all()
