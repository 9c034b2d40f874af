"""Real OctoPrint servers for the tests and the benchmark, plus a fault-injecting HTTP proxy.

Each server is OctoPrint 1.11 (its own venv, ``OCTOPRINT_BIN``) with the bundled virtual printer,
bound to 127.0.0.1 on a free port, in a base directory of its own, configured as scripts/run's
demo printers are (printers/virtual.py: no wizard, no outbound traffic, no simulated serial
errors); one admin user whose API key is fixed in users.yaml.

Import the fixtures into a test module: ``from octoprint_farm import farm, fresh_printers``.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from printers.virtual import OCTOPRINT_BIN, octoprint_config, serve_command

API_KEY = "DRUCKHUBTESTKEY0123456789ABCDEF"
FARM_SIZE = 3


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class OctoPrintServer:
    """One real OctoPrint process with its base directory; restartable on the same port."""

    basedir: Path
    port: int = field(default_factory=free_port)
    api_key: str = API_KEY
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def setup(self) -> subprocess.Popen:
        """Write the config and start creating the admin user (returns the running command)."""
        self.basedir.mkdir(parents=True, exist_ok=True)
        (self.basedir / "config.yaml").write_text(yaml.safe_dump(octoprint_config(self.port)))
        return subprocess.Popen(
            [OCTOPRINT_BIN, "--basedir", str(self.basedir), "user", "add", "--password",
             "admin-pass-123", "--admin", "admin"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    def set_api_key(self) -> None:
        users = self.basedir / "users.yaml"
        data = yaml.safe_load(users.read_text())
        data["admin"]["apikey"] = self.api_key
        users.write_text(yaml.safe_dump(data))

    def start(self) -> None:
        """Start the server process (does not wait; see ``wait_ready``)."""
        log = open(self.basedir / "serve.out", "ab")
        self.proc = subprocess.Popen(
            serve_command(self.basedir, self.port, OCTOPRINT_BIN),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Wait until /api/version answers 200 (an intermediary server answers 404 first)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"OctoPrint exited, see {self.basedir / 'serve.out'}")
            try:
                r = requests.get(self.url + "/api/version", headers=self.headers, timeout=1)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"OctoPrint on port {self.port} not ready after {timeout_s} s")

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key}

    def kill(self) -> None:
        """SIGKILL the server (a crash: the virtual printer's print is lost)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM the server and wait; SIGKILL if it does not go."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def restart(self) -> None:
        self.start()
        self.wait_ready()

    # --- direct API helpers for the tests (the code under test uses printers.octoprint) ---
    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, headers=self.headers, timeout=10)

    def post(self, path: str, payload: dict) -> requests.Response:
        return requests.post(self.url + path, headers=self.headers, json=payload, timeout=10)

    def job(self) -> dict:
        return self.get("/api/job").json()

    def file_info(self, name: str) -> dict | None:
        r = self.get(f"/api/files/local/{name}")
        return r.json() if r.status_code == 200 else None

    def files(self) -> list[dict]:
        return self.get("/api/files/local?recursive=true").json()["files"]

    def successful_prints(self) -> dict[str, int]:
        """Return {file name: successful print count} for every file on the server."""
        return {f["name"]: f.get("prints", {}).get("success", 0) for f in self.files()}

    def connect(self) -> None:
        self.post("/api/connection", {"command": "connect", "port": "VIRTUAL", "baudrate": 115200})
        wait_for(lambda: self.job()["state"] == "Operational", 20, "printer operational")

    def disconnect(self) -> None:
        self.post("/api/connection", {"command": "disconnect"})
        wait_for(lambda: self.job()["state"] in ("Offline", "Closed"), 20, "printer offline")

    def make_idle(self) -> None:
        """Bring the server back to a connected, idle printer (after a test)."""
        if self.proc is None or self.proc.poll() is not None:
            self.restart()
        state = self.job()["state"]
        if state in ("Printing", "Paused", "Pausing", "Starting", "Resuming"):
            self.post("/api/job", {"command": "cancel"})
        wait_for(lambda: self.job()["state"] not in ("Printing", "Paused", "Pausing", "Cancelling",
                                                     "Starting", "Resuming"), 30, "print ended")
        if self.job()["state"] != "Operational":
            self.disconnect_quietly()
            self.connect()

    def disconnect_quietly(self) -> None:
        try:
            self.post("/api/connection", {"command": "disconnect"})
        except requests.RequestException:
            pass


def wait_for(predicate: Callable[[], object], timeout_s: float, what: str,
             interval_s: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def start_farm(root: Path, count: int) -> list[OctoPrintServer]:
    """Set up and start ``count`` servers side by side; return them once all answer."""
    servers = [OctoPrintServer(basedir=root / f"octoprint-{i}") for i in range(count)]
    setups = [s.setup() for s in servers]
    for s, proc in zip(servers, setups, strict=True):
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"octoprint user add failed: {err.decode()[-500:]}")
        s.set_api_key()
        s.start()
    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(lambda s: s.wait_ready(), servers))
    except BaseException:
        stop_farm(servers)
        raise
    return servers


def stop_farm(servers: list[OctoPrintServer]) -> None:
    with ThreadPoolExecutor(max(1, len(servers))) as pool:
        list(pool.map(lambda s: s.stop(), servers))


# --------------------------------------------------------------------------------------------
# Fault-injecting proxy
# --------------------------------------------------------------------------------------------


class FaultProxy:
    """A small HTTP proxy on 127.0.0.1 in front of a real server, one request per connection.

    ``mode`` is "pass" (forward), "slow" (forward each request ``delay_s`` late), "hang" (read
    the request, never answer) or "refuse" (close at once). ``once(method, path_prefix,
    action)`` arms a one-shot fault for the next matching request: ``("cut", fraction)``
    forwards only that share of the request body and then breaks both connections off;
    ``("before", fn)`` calls ``fn()`` and then forwards the request; ``("swallow",)`` forwards
    it but never passes the answer back (the client times out).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.delay_s = 0.0
        self.hits: list[tuple[str, str]] = []
        self._rules: list[tuple[str, str, tuple]] = []
        self._lock = threading.Lock()
        self._held: list[socket.socket] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def once(self, method: str, path_prefix: str, action: tuple) -> None:
        with self._lock:
            self._rules.append((method.upper(), path_prefix, action))

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode != "hang":
            self.release()

    def release(self) -> None:
        """Close the connections held by "hang" (their clients see the connection drop)."""
        with self._lock:
            held, self._held = self._held, []
        for s in held:
            _close(s)

    def close(self) -> None:
        self._closed = True
        _close(self._sock)
        self.release()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _take_rule(self, method: str, path: str) -> tuple | None:
        with self._lock:
            for i, (m, prefix, action) in enumerate(self._rules):
                if m == method and path.startswith(prefix):
                    del self._rules[i]
                    return action
        return None

    def _handle(self, client: socket.socket) -> None:
        if self.mode == "refuse":
            _close(client)
            return
        try:
            head, rest = _read_head(client)
        except OSError:
            _close(client)
            return
        if not head:
            _close(client)
            return
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path = request_line.split(" ")[:2]
        self.hits.append((method, path))
        if self.mode == "hang":
            with self._lock:
                self._held.append(client)
            return  # never answer; the client's read timeout fires
        if self.mode == "slow":
            time.sleep(self.delay_s)
        length = 0
        headers = []
        for line in header_lines:
            if not line:
                continue
            name = line.split(":", 1)[0].strip().lower()
            if name == "content-length":
                length = int(line.split(":", 1)[1])
            if name in ("connection", "keep-alive"):
                continue
            headers.append(line)
        action = self._take_rule(method, path)
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
        try:
            new_head = "\r\n".join([request_line, *headers, "Connection: close", "", ""]).encode(
                "latin-1")
            if action and action[0] == "cut":
                cut_at = int(length * action[1])
                body = rest
                while len(body) < cut_at:
                    chunk = client.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                upstream.sendall(new_head + body[:cut_at])
                time.sleep(0.2)  # let the server read the partial body before the break
                return  # finally: both connections are broken off mid-upload
            if action and action[0] == "before":
                action[1]()
            body = rest
            while len(body) < length:
                chunk = client.recv(65536)
                if not chunk:
                    break
                body += chunk
            upstream.sendall(new_head + body)
            if action and action[0] == "swallow":
                # the server carries the request out, its answer never reaches the client
                while upstream.recv(65536):
                    pass
                with self._lock:
                    self._held.append(client)
                client = None
                return
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(upstream)
            if client is not None:
                _close(client)


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return b"", b""
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head, rest


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


# --------------------------------------------------------------------------------------------
# pytest fixtures
# --------------------------------------------------------------------------------------------


_shared_farm: list[OctoPrintServer] = []


@pytest.fixture(scope="session")
def farm():
    """Three real OctoPrint servers side by side for the whole session (cleaned up at the end).

    Test modules import this fixture, so pytest sees one definition per module; the servers
    are shared all the same: the first module starts them, its session teardown stops them.
    """
    if _shared_farm:
        yield _shared_farm
        return
    root = Path(tempfile.mkdtemp(prefix="druckhub-octoprint-"))
    _shared_farm.extend(start_farm(root, FARM_SIZE))
    try:
        yield _shared_farm
    finally:
        stop_farm(_shared_farm)
        _shared_farm.clear()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def idle_farm(farm):
    """The farm with every printer connected and idle, before and after the test."""
    with ThreadPoolExecutor(len(farm)) as pool:
        list(pool.map(lambda s: s.make_idle(), farm))
    yield farm
    with ThreadPoolExecutor(len(farm)) as pool:
        list(pool.map(lambda s: s.make_idle(), farm))


@pytest.fixture
def fault_proxy():
    """Factory: fault_proxy(server) -> FaultProxy in front of it (closed after the test)."""
    proxies: list[FaultProxy] = []

    def make(server: OctoPrintServer) -> FaultProxy:
        proxy = FaultProxy(server.port)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


# --------------------------------------------------------------------------------------------
# Database factories for dispatcher tests (need the ``app`` fixture)
# --------------------------------------------------------------------------------------------

# Short timeouts and no back-off, so fault tests run in seconds; the quote/slicer comparison is
# switched off (the fast test profile's times are not comparable) except where a test sets it.
DISPATCH_TEST_SETTINGS = {
    "OCTOPRINT_CONNECT_TIMEOUT_S": 1.0,
    "OCTOPRINT_READ_TIMEOUT_S": 2.0,
    "OCTOPRINT_UPLOAD_TIMEOUT_S": 10.0,
    "POLL_DEADLINE_S": 2.5,
    "SEND_WAIT_S": 10.0,
    "DISPATCH_RETRY_BASE_S": 0.0,
    "START_GRACE_S": 5.0,
    "COMPLETION_CONFIRM_POLLS": 2,
    "SLICER_DIFF_THRESHOLD": 1000.0,
    "DISPATCH_LEASE_S": 60,
}
TEST_PROFILE = "test-fast"


def box_stl(x_mm: float = 6.0, y_mm: float = 6.0, z_mm: float = 2.0) -> bytes:
    """Return a binary STL of a box (a small part that prints in about a second)."""
    import trimesh

    mesh = trimesh.creation.box((x_mm, y_mm, z_mm))
    return mesh.export(file_type="stl")


@pytest.fixture
def dispatch_settings(app_config):
    """Apply DISPATCH_TEST_SETTINGS before the app is created (request it before ``app``)."""
    app_config.update(DISPATCH_TEST_SETTINGS)
    return app_config


@pytest.fixture
def dispatcher(dispatch_settings, app):
    """A Dispatcher over the app's (test) settings, closed after the test."""
    from printers.dispatcher import Dispatcher

    d = Dispatcher(app.config)
    yield d
    d.close()


@pytest.fixture
def add_printer(app):
    """Factory: add_printer(server_or_url, name=None, **fields) -> Printer (committed)."""
    from marketplace.extensions import db
    from marketplace.models import Printer

    counter = iter(range(1, 1000))

    def make(server, name=None, api_key=None, **fields):
        url = server if isinstance(server, str) else server.url
        values = {"material_code": "PLA", "colour": "Schwarz", "slicer_profile": TEST_PROFILE,
                  "state": "unknown", **fields}
        printer = Printer(name=name or f"MK3S-{next(counter)}", url=url,
                          api_key=api_key or API_KEY, **values)
        db.session.add(printer)
        db.session.commit()
        return printer

    return make


@pytest.fixture
def make_job(app):
    """Factory: make_job(stl=None, state="approved", **fields) -> PrintJob (committed).

    Creates firm, part (stored file), quote and order as the portal would.
    """
    from marketplace import jobs
    from marketplace.extensions import db
    from marketplace.models import Firm, Order, Part, PrintJob, Quote, utcnow
    from marketplace.parts import storage

    counter = iter(range(1, 10_000))

    def make(stl: bytes | None = None, state: str = "approved", *, est_g=None, est_s=None,
             **fields):
        n = next(counter)
        data = stl if stl is not None else box_stl()
        sha = storage.save(data)
        firm = db.session.scalar(db.select(Firm).where(Firm.name == "Dispatch Test GmbH"))
        if firm is None:
            firm = Firm(name="Dispatch Test GmbH", city="Lüneburg")
            db.session.add(firm)
        part = Part(firm=firm, original_name=f"part{n}.stl", sha256=sha, file_format="stl",
                    size_bytes=len(data), units="mm", status="ready")
        quote = Quote(firm=firm, part=part, material_code=fields.get("material_code", "PLA"),
                      material_g=est_g if est_g is not None else 0.1,
                      print_time_s=est_s if est_s is not None else 40, net_cents=100,
                      vat_cents=19, gross_cents=119, breakdown={})
        order = Order(firm=firm, quote=quote, part=part, number=f"T-{n:06d}-{sha[:6]}")
        db.session.add_all([part, quote, order])
        db.session.flush()
        values = {"material_code": "PLA", "colour": "any", **fields}
        job = PrintJob(order=order, part=part, est_material_g=est_g, est_print_time_s=est_s,
                       **values)
        jobs.record_created(job, actor="test")
        if state != "received":
            jobs.transition(job, "approved", actor="tech@hub", reason="ok", approved_at=utcnow())
        db.session.commit()
        return job

    return make


def tick_until(dispatcher, predicate, timeout_s: float = 60.0, what: str = "condition",
               pause_s: float = 0.1):
    """Tick ``dispatcher`` until ``predicate()`` is truthy (the database is re-read each time)."""
    from marketplace.extensions import db

    deadline = time.monotonic() + timeout_s
    while True:
        report = dispatcher.tick()
        db.session.expire_all()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; "
                                 f"last pass: {report.summary()}; printers: "
                                 f"{report.printer_states}")
        time.sleep(pause_s)
