"""A small adapter over octorest (the OctoPrint client) with typed results and our own errors.

- Every HTTP call has a timeout: ``(connect, read)`` by default, a longer read timeout for uploads
  (octorest itself never passes one and blocks forever on a hung server).
- No network call in the constructor (octorest's checks the API key with a GET when given one,
  so the key goes into the session headers instead).
- HTTP errors become our exceptions by status code; transport errors become PrinterUnreachable;
  an API answer that is not JSON (a web page where OctoPrint should be) becomes PrinterError.
  A wrong key on a POST comes back as 400 "CSRF validation failed", which is an auth error too.
- octorest's upload drops select/print/userdata (they go as ``json=`` next to ``files=``), so the
  upload is a raw multipart POST here, verified afterwards (size and sha1 from OctoPrint, our
  sha256 in the file's userdata), and select+print is a second, separate call.
- The API key is never logged and never part of a repr or an error message.

No Flask, no database: plain arguments in, dataclasses out.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from octorest import OctoRest

log = logging.getLogger(__name__)

# OctoPrint comm states in which the printer is busy with a job (anything unknown counts as busy).
BUSY_STATES = frozenset({
    "Starting", "Printing", "Pausing", "Paused", "Resuming", "Cancelling", "Finishing",
    "Transferring file to SD", "Starting print from SD", "Printing from SD",
    "Starting to send file to SD", "Sending file to SD",
})
DISCONNECTED_STATES = frozenset({"Offline", "Closed", "Error", "Offline after error"})


class PrinterError(Exception):
    """OctoPrint answered with an error we have no better class for."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PrinterUnreachable(PrinterError):
    """No answer: connection refused, reset, or a timeout (the printer's state is unknown)."""


class PrinterAuthError(PrinterError):
    """The API key was rejected (401/403, or 400 CSRF on a POST)."""


class PrinterConflict(PrinterError):
    """409: the printer is busy or not operational; the command was not carried out."""


class PrinterNotFound(PrinterError):
    """404: the file (or resource) does not exist on the printer."""


def _error_for(response: requests.Response) -> PrinterError:
    status = response.status_code
    try:
        detail = response.json().get("error") or ""
    except ValueError:
        detail = ""
    detail = str(detail)[:200]
    where = f"{response.request.method} {requests.utils.urlparse(response.url).path}"
    message = f"{where}: HTTP {status} {detail}".strip()
    if status in (401, 403) or (status == 400 and "CSRF" in detail):
        return PrinterAuthError(message, status)
    if status == 404:
        return PrinterNotFound(message, status)
    if status == 409:
        return PrinterConflict(message, status)
    return PrinterError(message, status)


class OctoPrintSession(requests.Session):
    """``requests.Session`` with the API key header, default timeouts and our error mapping."""

    def __init__(self, api_key: str, *, connect_timeout_s: float, read_timeout_s: float) -> None:
        super().__init__()
        self.headers["X-Api-Key"] = api_key
        self.timeout = (connect_timeout_s, read_timeout_s)

    def __repr__(self) -> str:  # never show the key
        return f"<OctoPrintSession timeout={self.timeout}>"

    def request(self, method, url, *args, **kwargs):  # noqa: D102 (requests' signature)
        kwargs.setdefault("timeout", self.timeout)
        path = requests.utils.urlparse(url).path
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            # The exception text names host and port only; headers (the key) are never in it.
            raise PrinterUnreachable(f"{method} {path}: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise _error_for(response)
        kind = response.headers.get("Content-Type", "")
        if path.startswith("/api/") and response.content and "json" not in kind:
            # something answers at that address, but not OctoPrint's API (a router's page)
            raise PrinterError(f"{method} {path}: not an OctoPrint answer "
                               f"({kind.split(';')[0] or 'no type'})", response.status_code)
        return response


@dataclass(frozen=True)
class FileInfo:
    """A file on the printer, as ``GET /api/files/local/<name>`` reports it."""

    name: str
    size: int | None
    sha1: str | None
    userdata: dict[str, Any]
    prints_success: int = 0
    prints_failure: int = 0
    last_success: bool | None = None
    last_print_time_s: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileInfo:
        prints = data.get("prints") or {}
        last = prints.get("last") or {}
        return cls(
            name=data.get("name", ""), size=data.get("size"), sha1=data.get("hash"),
            userdata=data.get("userdata") or {}, prints_success=int(prints.get("success") or 0),
            prints_failure=int(prints.get("failure") or 0), last_success=last.get("success"),
            last_print_time_s=last.get("printTime"),
        )


@dataclass(frozen=True)
class PrinterStatus:
    """What one poll saw: connection, ``state.flags``, temperatures, the job's file and progress."""

    connection: str  # /api/connection current.state: "Closed", "Operational", "Printing", ...
    state_text: str  # /api/job state: "Offline", "Operational", "Printing", ...
    flags: dict[str, bool] = field(default_factory=dict)  # /api/printer state.flags
    temperatures: dict[str, dict[str, float | None]] = field(default_factory=dict)
    job_file: str | None = None
    completion: float | None = None  # percent
    print_time_s: float | None = None
    last_print_time_s: float | None = None
    ports: tuple[str, ...] = ()
    port_preference: str | None = None
    error: str | None = None

    @property
    def connected(self) -> bool:
        return self.state_text not in DISCONNECTED_STATES and self.connection != "Closed"

    @property
    def busy(self) -> bool:
        """Printing, paused or in between (unknown strings count as busy, never as idle)."""
        if any(self.flags.get(f) for f in ("printing", "paused", "pausing", "cancelling",
                                            "resuming", "finishing")):
            return True
        return self.connected and self.state_text != "Operational"

    @property
    def ready(self) -> bool:
        """Connected, operational and idle: a job can be started."""
        return (self.connected and not self.busy and self.state_text == "Operational"
                and bool(self.flags.get("operational", True)) and not self.flags.get("error"))

    @property
    def errored(self) -> bool:
        return self.state_text in ("Error", "Offline after error") or bool(self.flags.get("error"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for ``Printer.last_status``."""
        data = asdict(self)
        data["ports"] = list(self.ports)
        return data


def _temperatures(data: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    temps = {}
    for name, value in (data or {}).items():
        if isinstance(value, dict) and ("actual" in value or "target" in value):
            temps[name] = {"actual": value.get("actual"), "target": value.get("target")}
    return temps


class OctoPrintClient:
    """Typed calls to one OctoPrint server. Cheap to create; the first request opens the socket."""

    def __init__(self, url: str, api_key: str, *, connect_timeout_s: float = 3.0,
                 read_timeout_s: float = 5.0, upload_timeout_s: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.upload_timeout_s = upload_timeout_s
        self.session = OctoPrintSession(api_key, connect_timeout_s=connect_timeout_s,
                                        read_timeout_s=read_timeout_s)
        # No apikey argument: octorest would GET /api/version in its constructor.
        self.rest = OctoRest(url=self.url, session=self.session)

    def __repr__(self) -> str:
        return f"<OctoPrintClient {self.url}>"

    def close(self) -> None:
        self.session.close()

    # --- reading ---
    def version(self) -> dict[str, Any]:
        return self.rest.get_version()

    def connection(self) -> dict[str, Any]:
        return self.rest.connection_info()

    def job_info(self) -> dict[str, Any]:
        return self.rest.job_info()

    def status(self) -> PrinterStatus:
        """Poll /api/connection, /api/job and (when connected) /api/printer."""
        conn = self.connection()
        job = self.job_info()
        current = conn.get("current") or {}
        options = conn.get("options") or {}
        flags: dict[str, bool] = {}
        temps: dict[str, dict[str, float | None]] = {}
        state_text = job.get("state") or "Offline"
        if current.get("state") != "Closed" and state_text not in DISCONNECTED_STATES:
            try:
                printer = self.rest.printer()
                flags = dict((printer.get("state") or {}).get("flags") or {})
                temps = _temperatures(printer.get("temperature") or {})
            except PrinterConflict:
                pass  # 409 "Printer is not operational": it disconnected between the calls
        job_part = job.get("job") or {}
        progress = job.get("progress") or {}
        return PrinterStatus(
            connection=current.get("state") or "Closed",
            state_text=state_text,
            flags=flags,
            temperatures=temps,
            job_file=((job_part.get("file") or {}).get("name")),
            completion=progress.get("completion"),
            print_time_s=progress.get("printTime"),
            last_print_time_s=job_part.get("lastPrintTime"),
            ports=tuple(options.get("ports") or ()),
            port_preference=options.get("portPreference"),
            error=job.get("error"),
        )

    def file_info(self, name: str) -> FileInfo | None:
        """Return the file's info, or None if it is not on the printer."""
        try:
            return FileInfo.from_json(self.rest.files_info("local", name))
        except PrinterNotFound:
            return None

    # --- connection ---
    def connect(self, port: str | None = None, baudrate: int | None = None) -> None:
        self.rest.connect(port=port, baudrate=baudrate)

    def disconnect(self) -> None:
        self.rest.disconnect()

    # --- files ---
    def upload(self, name: str, data: bytes, *, userdata: dict[str, Any] | None = None) -> None:
        """Upload ``data`` as ``name`` (no select, no print), with a longer timeout."""
        form = {"select": "false", "print": "false"}
        if userdata:
            form["userdata"] = json.dumps(userdata, sort_keys=True)
        self.session.post(
            self.url + "/api/files/local", files={"file": (name, data, "application/octet-stream")},
            data=form, timeout=(self.session.timeout[0], self.upload_timeout_s),
        )

    def upload_verified(self, name: str, data: bytes, *, userdata: dict[str, Any]) -> FileInfo:
        """Upload unless an identical file is there already; verify size and hash afterwards.

        Raises PrinterError if the file on the printer is not exactly ``data``.
        """
        sha1 = hashlib.sha1(data).hexdigest()
        existing = self.file_info(name)
        if existing is None or not _same_file(existing, len(data), sha1, userdata):
            self.upload(name, data, userdata=userdata)
            existing = self.file_info(name)
        if existing is None or not _same_file(existing, len(data), sha1, userdata):
            raise PrinterError(f"upload of {name} could not be verified "
                               f"(size {getattr(existing, 'size', None)} of {len(data)})")
        return existing

    def delete_file(self, name: str) -> bool:
        """Delete ``name``; return False if it was not there. 409 if it is being printed."""
        try:
            self.session.delete(f"{self.url}/api/files/local/{quote(name)}")
            return True
        except PrinterNotFound:
            return False

    def select_and_print(self, name: str) -> None:
        """Select ``name`` and start printing it (one call; never retried by this class)."""
        self.session.post(f"{self.url}/api/files/local/{quote(name)}",
                          json={"command": "select", "print": True})

    # --- job control ---
    def pause(self) -> None:
        self.session.post(self.url + "/api/job", json={"command": "pause", "action": "pause"})

    def resume(self) -> None:
        self.session.post(self.url + "/api/job", json={"command": "pause", "action": "resume"})

    def cancel(self) -> None:
        self.session.post(self.url + "/api/job", json={"command": "cancel"})


def _same_file(info: FileInfo, size: int, sha1: str, userdata: dict[str, Any]) -> bool:
    if info.size != size:
        return False
    if info.sha1 and info.sha1 != sha1:
        return False
    return info.userdata.get("sha256") == userdata.get("sha256")


