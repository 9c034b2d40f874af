"""The dispatcher: ``Dispatcher.tick()`` is one pass over the farm; ``run()`` loops over it.

One pass, each step a unit of its own:
1. apply the outcome of uploads/starts that finished since the last pass
   (``printers.dispatching``);
2. poll every printer concurrently (short timeouts, one overall deadline) and write each
   printer's state and status (``printers.farm`` over ``printers.polling``);
3. follow every job on a printer: reconcile it with what that printer says
   (``printers.following`` over the pure rules in ``printers.reconcile``);
4. send queued jobs whose printers are gone or whose G-code is missing back to slicing, then
   match queued jobs to available printers, claim each durably and only then upload and start
   it in a worker thread (``printers.dispatching``, ``printers.matching``, ``printers.sending``);
5. only with ``SLICING = "dispatcher"``: slice approved jobs and queue them, or send them to a
   technician when the slicer's figures are far from the quote's (``printers.preparing``); each
   newly queued job is dispatched at once. By default (``SLICING = "worker"``) task workers
   slice each job as soon as it is approved (``printers.tasks``), so a long slice never holds
   up a pass. The pass then waits (``SEND_WAIT_S`` at most) for the uploads and starts.

Network calls happen in worker threads and never touch the database; the database is written
in the calling thread, inside the app context, one job step (``printers.steps.job_step``:
commit, or roll back and log) per job. Jobs change state only through
``marketplace.jobs.transition``. Settings are read once (``printers.settings``). The first pass
of a process reconciles every active job before any new work is taken (``startup``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from marketplace.extensions import db
from printers.dispatching import Sender
from printers.farm import poll_farm
from printers.following import follow_jobs
from printers.guard import DispatcherGuard, make_owner
from printers.polling import Poller
from printers.preparing import reslice_stranded, slice_approved
from printers.settings import DispatcherSettings
from printers.steps import TickReport

log = logging.getLogger(__name__)

__all__ = ["Dispatcher", "DispatcherBusyError", "DispatcherSettings", "TickReport"]


class DispatcherBusyError(Exception):
    """Another dispatcher holds the guard."""


class Dispatcher:
    """Dispatches jobs to printers; call ``tick()`` inside an app context."""

    def __init__(self, config: Mapping[str, Any] | None = None, *, owner: str | None = None,
                 settings: DispatcherSettings | None = None) -> None:
        if settings is None:
            if config is None:
                raise TypeError("Dispatcher needs the app's config or DispatcherSettings")
            settings = DispatcherSettings.from_config(config)
        self.settings = settings
        self.owner = owner or make_owner()
        self.poller = Poller(settings.timeouts, deadline_s=settings.poll_deadline_s)
        self.guard = DispatcherGuard(self.owner, settings.lease_s)
        self.sender = Sender(self.owner, self.poller)
        self.started = False

    # --- lifecycle ---
    def close(self) -> None:
        self.poller.shutdown()
        if self.guard.held:
            self.guard.release()

    def acquire(self) -> None:
        if not self.guard.acquire():
            raise DispatcherBusyError("another dispatcher is running")

    def startup(self) -> TickReport:
        """Reconcile every active job with its printer before any new work is taken."""
        report = TickReport()
        started = time.monotonic()
        results = poll_farm(self.poller, report)
        follow_jobs(self.settings, report, results, skip=self.sender.in_flight)
        self.started = True
        report.tick_s = time.monotonic() - started
        log.info("dispatcher %s started: %s", self.owner, report.summary())
        return report

    def tick(self) -> TickReport:
        """One pass: sends done, poll, reconcile, slice, match and dispatch."""
        if not self.started:
            self.startup()
        if self.guard.held and not self.guard.renew():
            raise DispatcherBusyError("the dispatcher guard was lost")
        settings, sender = self.settings, self.sender
        report = TickReport()
        started = time.monotonic()
        sender.collect(settings, report)
        results = poll_farm(self.poller, report)
        follow_jobs(settings, report, results, skip=sender.in_flight)
        reslice_stranded(settings, report)
        sender.dispatch(settings, report)  # ready work goes out before slicing holds the pass
        if settings.slice_in_pass:  # else task workers slice ahead (printers.tasks)
            slice_approved(settings, report, then=lambda: sender.dispatch(settings, report))
        if sender.in_flight:
            sender.wait(settings, report, settings.send_wait_s)
        report.tick_s = time.monotonic() - started
        log.debug("tick: %s", report.summary())
        return report

    def run(self, interval_s: float | None = None, *, once: bool = False,
            should_stop: Callable[[], bool] = lambda: False) -> None:
        """Hold the guard and tick every ``interval_s`` seconds (once with ``once``).

        Looping, it waits for the guard while another dispatcher holds it; ``once`` gives up.
        ``interval_s`` defaults to ``DISPATCH_INTERVAL_S``.
        """
        if interval_s is None:
            interval_s = self.settings.interval_s
        if once:
            self.acquire()
        else:
            waited = False
            while not self.guard.acquire():
                if not waited:
                    log.warning("another dispatcher is running; waiting for it to stop")
                    waited = True
                if should_stop():
                    return
                time.sleep(max(interval_s, 0.2))
        try:
            while not should_stop():
                began = time.monotonic()
                try:
                    report = self.tick()
                except DispatcherBusyError:
                    raise
                except Exception:  # a database hiccup must not end the loop; state is durable
                    if once:
                        raise
                    log.exception("dispatcher pass failed; next pass in %.1f s", interval_s)
                    db.session.rollback()
                    time.sleep(max(interval_s, 1.0))
                    continue
                if once:
                    self.sender.wait(self.settings, report, self.settings.send_wait_s)
                    return
                if report.dispatched or report.transitions:
                    log.info("%s", report.summary())
                time.sleep(max(0.0, interval_s - (time.monotonic() - began)))
        finally:
            self.close()
