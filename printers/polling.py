"""Poll many printers at once, each with short timeouts, under one overall deadline.

A printer that hangs must not delay the others: each poll runs in a thread of a long-lived
pool, ``poll_all`` waits at most ``deadline_s`` and reports a printer whose poll has not
finished as unanswered (its state is then unknown, never idle). A printer that hung in the
last pass (no answer in time) is not waited for at all (only the others are); a printer whose
previous poll is still running is not polled again until that one ends, so a hung printer ties
up one thread. A poll that missed its pass's deadline and has ended since is that printer's
answer in the next pass (no new poll is started for it then): so a printer that comes back is
seen as soon as one of its polls ends, even while it answers more slowly than the others.
A poll still running for an earlier question (another watched file) that ends within the
pass is reported as ``stale``: the printer answered, but not what is asked now; the
dispatcher leaves it as it was and it is asked afresh in the next pass.

The polls only talk to the network; the dispatcher writes the results to the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from printers.octoprint import (
    FileInfo,
    OctoPrintClient,
    PrinterAuthError,
    PrinterError,
    PrinterStatus,
    PrinterUnreachable,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollTarget:
    """What to poll: the printer's address and key, and the remote file of its active job."""

    printer_id: int
    name: str
    url: str
    api_key: str
    watch_file: str | None = None
    may_connect: bool = True  # connect the serial port if OctoPrint is up but not connected

    def __repr__(self) -> str:  # never show the key
        return f"PollTarget({self.printer_id}, {self.name!r}, {self.url!r}, {self.watch_file!r})"


@dataclass(frozen=True)
class PollResult:
    printer_id: int
    status: PrinterStatus | None = None  # None: no answer (or no answer in time)
    file: FileInfo | None = None
    error_kind: str | None = None  # unreachable|timeout|auth|error|key (ours unreadable)
    error: str | None = None
    connect_sent: bool = False
    elapsed_s: float = 0.0

    @property
    def answered(self) -> bool:
        return self.status is not None


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 3.0
    read_s: float = 5.0
    upload_s: float = 120.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Timeouts:
        """Read ``OCTOPRINT_CONNECT/READ/UPLOAD_TIMEOUT_S`` from the app's config."""
        return cls(connect_s=float(config["OCTOPRINT_CONNECT_TIMEOUT_S"]),
                   read_s=float(config["OCTOPRINT_READ_TIMEOUT_S"]),
                   upload_s=float(config["OCTOPRINT_UPLOAD_TIMEOUT_S"]))

    def client(self, url: str, api_key: str) -> OctoPrintClient:
        return OctoPrintClient(url, api_key, connect_timeout_s=self.connect_s,
                               read_timeout_s=self.read_s, upload_timeout_s=self.upload_s)


def choose_port(status: PrinterStatus) -> str | None:
    """Return the serial port to connect: OctoPrint's preference if offered, else the first."""
    if status.port_preference and status.port_preference in status.ports:
        return status.port_preference
    return status.ports[0] if status.ports else None


STALE_ANSWER = "answered an earlier question; asked again in the next pass"


def poll_printer(target: PollTarget, timeouts: Timeouts) -> PollResult:
    """Poll one printer: status, the watched file's info, and connect it if it is not."""
    started = time.monotonic()
    client = timeouts.client(target.url, target.api_key)
    try:
        status = client.status()
        file = client.file_info(target.watch_file) if target.watch_file else None
        connect_sent = False
        if target.may_connect and not status.connected and not status.errored:
            port = choose_port(status)
            if port:
                client.connect(port=port)
                connect_sent = True
        elif target.may_connect and status.errored and not target.watch_file:
            # Error with no job of ours on it: reconnecting starts nothing, it only clears it.
            port = choose_port(status)
            if port:
                client.connect(port=port)
                connect_sent = True
        return PollResult(target.printer_id, status, file, connect_sent=connect_sent,
                          elapsed_s=time.monotonic() - started)
    except PrinterAuthError as exc:
        return PollResult(target.printer_id, error_kind="auth", error=str(exc),
                          elapsed_s=time.monotonic() - started)
    except PrinterUnreachable as exc:
        return PollResult(target.printer_id, error_kind="unreachable", error=str(exc),
                          elapsed_s=time.monotonic() - started)
    except PrinterError as exc:
        return PollResult(target.printer_id, error_kind="error", error=str(exc),
                          elapsed_s=time.monotonic() - started)
    finally:
        client.close()


def _outcome(printer_id: int, future: Future) -> PollResult:
    """The result of an ended poll; a poll that raised (an answer no printer error covers,
    say a web page where the API should be) is an error of that printer, never the pass's."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - one printer's failure, reported as its state
        log.warning("poll of printer %s failed: %s: %s", printer_id, type(exc).__name__, exc)
        return PollResult(printer_id, error_kind="error",
                          error=f"{type(exc).__name__}: {exc}"[:300])


class Poller:
    """Polls printers concurrently; remembers the polls of an earlier pass that had not ended
    by its deadline (still running, or ended since with an answer for the next pass).

    ``poll_all`` is called by one thread (the dispatcher's pass) at a time.
    """

    def __init__(self, timeouts: Timeouts, deadline_s: float, max_workers: int = 16) -> None:
        self.timeouts = timeouts
        self.deadline_s = deadline_s
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="poll")
        # each printer's poll that has not been reported yet, with what it polls
        self._running: dict[int, tuple[PollTarget, Future]] = {}
        self._suspects: set[int] = set()  # printers that did not answer in the last pass
        self._lock = threading.Lock()

    def poll_all(self, targets: list[PollTarget]) -> dict[int, PollResult]:
        """Poll ``targets``; return a result for each (unanswered ones after the deadline)."""
        futures: dict[int, Future] = {}
        with self._lock:
            wanted = {target.printer_id: target for target in targets}
            for printer_id, (target, future) in list(self._running.items()):
                if future.done() and (wanted.get(printer_id) != target
                                      or not _outcome(printer_id, future).answered):
                    # a late answer to another question, or a late failure: a fresh poll
                    # says more
                    del self._running[printer_id]
            for target in targets:
                previous = self._running.get(target.printer_id)
                if previous is not None:
                    # still hanging from a pass before, or answered since it missed that
                    # pass's deadline: then its answer is this pass's
                    futures[target.printer_id] = previous[1]
                    continue
                future = self._pool.submit(poll_printer, target, self.timeouts)
                self._running[target.printer_id] = (target, future)
                futures[target.printer_id] = future
        # Wait for the printers that answered last time; one that hung (a suspect) gets no
        # extra wait: its result is taken if it is there when the others are done.
        healthy = [f for pid, f in futures.items() if pid not in self._suspects]
        wait(healthy or list(futures.values()), timeout=self.deadline_s)
        results: dict[int, PollResult] = {}
        for printer_id, future in futures.items():
            asked = self._running[printer_id][0]
            if future.done() and asked == wanted[printer_id]:
                with self._lock:
                    del self._running[printer_id]  # reported
                results[printer_id] = _outcome(printer_id, future)
            elif future.done():  # it answered meanwhile, but an earlier question (another
                # watched file): nothing new about the printer; asked afresh next pass
                results[printer_id] = PollResult(printer_id, error_kind="stale",
                                                 error=STALE_ANSWER)
            else:  # (an answer to an earlier question is dropped in the next pass)
                results[printer_id] = PollResult(
                    printer_id, error_kind="timeout",
                    error=f"no answer within {self.deadline_s:g} s")
            slow = results[printer_id].error_kind == "timeout" or (
                results[printer_id].elapsed_s >= self.deadline_s / 2)
            if slow and not results[printer_id].answered:
                self._suspects.add(printer_id)
            else:
                self._suspects.discard(printer_id)
        return results

    def submit(self, fn, *args) -> Future:
        """Run ``fn(*args)`` on the pool (the dispatcher's uploads and starts)."""
        return self._pool.submit(fn, *args)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
