"""The whole hub as `scripts/run` starts it: a part ordered by the demo firm and approved by the
technician prints on a virtual printer; Ctrl-C (SIGINT) then stops every process.

Everything goes through HTTP, as a newcomer's browser would (CSRF tokens included). The install
step is skipped (the test machine has it all); the state lives in a temporary instance dir.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from octoprint_farm import OCTOPRINT_BIN, free_port
from portal_helpers import cube_stl

pytestmark = pytest.mark.db_independent  # scripts/run brings its own SQLite database

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 180  # migrate, seed, two OctoPrints' first set-up and start (2 busy cores)
PRINT_TIMEOUT_S = 240  # analysis, slicing, upload, start
STOP_TIMEOUT_S = 40  # scripts/run: SIGTERM to all, SIGKILL after STOP_GRACE_S (20 s)


def _wait(predicate, timeout_s: float, what: str, interval_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10)
    assert page.status_code == 200, (url, page.status_code)
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def _sign_in(base: str, email: str, password: str) -> requests.Session:
    s = requests.Session()
    token = _csrf(s, base + "/login")
    r = s.post(base + "/login", data={"email": email, "password": password,
                                      "csrf_token": token}, allow_redirects=False, timeout=10)
    assert r.status_code in (302, 303), r.text[:500]
    return s


@contextmanager
def running_hub(tmp_path: Path, **extra_env: str) -> Iterator[dict]:
    """`scripts/run` on free ports with a temporary instance dir; killed if still running."""
    web, p1, p2 = free_port(), free_port(), free_port()
    env = {**os.environ, "DRUCKHUB_SKIP_INSTALL": "1", "PORT": str(web),
           "OCTOPRINT_PORTS": f"{p1},{p2}", "INSTANCE_DIR": str(tmp_path / "instance"),
           "UPLOAD_DIR": str(tmp_path / "uploads"), "SECRET_KEY": "whole-hub-test",
           "OCTOPRINT_BIN": OCTOPRINT_BIN, "DISPATCH_INTERVAL_S": "1"}
    for name in ("DATABASE_URL", "REDIS_URL", "FLASK_APP", "PROMETHEUS_MULTIPROC_DIR",
                 "DRUCKHUB_ENV"):
        env.pop(name, None)
    env.update(extra_env)
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(ROOT / "scripts" / "run")], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{web}"
    hub = {"proc": proc, "base": base, "ports": (web, p1, p2), "log": log_path}
    try:
        _wait(lambda: proc.poll() is not None or _answers(base + "/readyz"), START_TIMEOUT_S,
              "the web app")
        assert proc.poll() is None, log_path.read_text()[-3000:]
        yield hub
    finally:
        if proc.poll() is None:  # the test failed before its Ctrl-C: stop the hub the same
            # way (honcho stops its processes; a SIGKILL of its group left the OctoPrint
            # servers, in sessions of their own, running after a failed CI run), then kill
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


@pytest.fixture
def hub(tmp_path):
    with running_hub(tmp_path) as hub:
        yield hub


@pytest.mark.octoprint
@pytest.mark.slicer
def test_order_approve_print_then_ctrl_c_stops_everything(hub):
    base, (web, p1, p2) = hub["base"], hub["ports"]
    out = hub["log"].read_text()
    assert f"http://127.0.0.1:{web}" in out  # scripts/run says where everything listens
    assert f"http://127.0.0.1:{p1}" in out and f"http://127.0.0.1:{p2}" in out

    # the demo firm uploads a part and orders it
    firm = _sign_in(base, "firma@example.de", "demo-firma-2026")
    token = _csrf(firm, base + "/parts")
    r = firm.post(base + "/parts", files={"files": ("cube10.stl", cube_stl(10.0))},
                  headers={"Accept": "application/json", "X-CSRFToken": token}, timeout=30)
    assert r.status_code == 201, r.text
    part_id = r.json()["parts"][0]["id"]
    status = _wait(lambda: (s := firm.get(f"{base}/parts/{part_id}/status", timeout=10).json())
                   ["status"] != "pending" and s, 120, "the part's analysis")
    assert status["status"] == "ready", status
    token = _csrf(firm, f"{base}/parts/{part_id}")
    r = firm.post(f"{base}/parts/{part_id}/quote", timeout=30, allow_redirects=False, data={
        "material": "PLA", "colour": "any", "quantity": "1", "infill": "15",
        "layer_height": "0.2", "csrf_token": token})
    assert r.status_code == 303, r.text[:500]
    quote_url = base + r.headers["Location"] if r.headers["Location"].startswith("/") \
        else r.headers["Location"]
    token = _csrf(firm, quote_url)
    # the demo hub has sample AGB: the order is placed under the version its page names
    terms = re.search(r'name="terms_version" value="([^"]*)"', firm.get(quote_url).text)
    assert terms and terms.group(1), "the quote page names the AGB in force"
    r = firm.post(quote_url + "/order", data={"delivery": "pickup", "csrf_token": token,
                                              "terms_version": terms.group(1)},
                  allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text[:500]
    order_id = r.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert firm.get(f"{base}/orders/{order_id}/status", timeout=10).json()["state"] == "received"

    # the technician approves it; the hub slices it and prints it on a virtual printer
    tech = _sign_in(base, "technik@druckhub.de", "demo-technik-2026")
    token = _csrf(tech, base + "/hub/")
    r = tech.post(f"{base}/hub/orders/{order_id}/approve", data={"csrf_token": token},
                  allow_redirects=False, timeout=30)
    assert r.status_code in (302, 303), r.text[:500]
    state = _wait(lambda: (s := firm.get(f"{base}/orders/{order_id}/status", timeout=10)
                           .json()["state"]) in ("printing", "printed", "ready_for_pickup") and s,
                  PRINT_TIMEOUT_S, "the job to print", interval_s=1.0)
    assert state in ("printing", "printed", "ready_for_pickup")
    jobs = {port: requests.get(f"http://127.0.0.1:{port}/api/job", timeout=5,
                               headers={"X-Api-Key": _api_key(hub, port)}).json()
            for port in (p1, p2)}
    assert any((job["job"]["file"] or {}).get("name") for job in jobs.values()), jobs

    # Ctrl-C: every process stops, every port closes
    hub["proc"].send_signal(signal.SIGINT)  # scripts/run became honcho (exec)
    assert hub["proc"].wait(STOP_TIMEOUT_S) == 130  # honcho's answer to SIGINT
    out = hub["log"].read_text()
    names = re.search(r"processes: ([\w ]+) \(Ctrl-C", out).group(1).split()
    assert set(names) == {"web", "worker", "dispatcher", "printer1", "printer2"}
    started = dict(re.findall(r"(\w+)\.1 started \(pid=(\d+)\)", out))
    assert set(started) == set(names)
    for name, pid in started.items():
        assert f"{name}.1 stopped" in out
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)
    for port in (web, p1, p2):
        assert not _port_open(port), port
    assert "SIGKILL" not in out  # all stopped on SIGTERM, within honcho's grace


def _api_key(hub, port: int) -> str:
    from printers import virtual

    index = hub["ports"].index(port)
    return virtual.read_api_key(hub["log"].parent / "instance" / f"octoprint-{index}")


@pytest.mark.slow
def test_production_starts_without_demo_users_or_printers(tmp_path):
    with running_hub(tmp_path, DRUCKHUB_ENV="production") as hub:
        base, (_web, p1, p2) = hub["base"], hub["ports"]
        r = requests.get(base + "/readyz", timeout=10)
        assert r.status_code == 200 and r.json()["status"] == "pass"
        s = requests.Session()
        token = _csrf(s, base + "/login")
        r = s.post(base + "/login", data={"email": "firma@example.de",
                                          "password": "demo-firma-2026", "csrf_token": token},
                   allow_redirects=False, timeout=10)
        assert r.status_code == 401  # the form again: no such account
        metrics = requests.get(base + "/metrics", timeout=10).text
        assert re.search(r'^druckhub_printers\{state="available"\} 0\.0$', metrics,
                         re.MULTILINE)
        assert not _port_open(p1) and not _port_open(p2)
        hub["proc"].send_signal(signal.SIGINT)
        assert hub["proc"].wait(STOP_TIMEOUT_S) == 130
    out = hub["log"].read_text()
    assert "demo user" not in out and "demo printer" not in out
    assert "processes: web worker dispatcher (Ctrl-C" in out
    db = sqlite3.connect(tmp_path / "instance" / "druckhub.sqlite3")
    try:
        assert db.execute("SELECT count(*) FROM users").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM printers").fetchone() == (0,)
    finally:
        db.close()
