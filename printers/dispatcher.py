"""The dispatcher: ``Dispatcher.tick()`` is one pass over the farm; ``run()`` loops over it.

One pass:
1. apply the outcome of uploads/starts that finished since the last pass;
2. poll every printer concurrently (short timeouts, one overall deadline) and write each
   printer's state (available, printing, bed_to_clear, maintenance, offline, unknown) and status;
3. reconcile every job on a printer with what that printer says (``printers.reconcile``);
4. match queued jobs to available printers (``printers.matching``), claim each durably (one
   conditional UPDATE, committed; the partial unique index allows one active job per printer)
   and only then upload and start it in a worker thread (``printers.sending``);
5. slice approved jobs (``printers.slicing``) and queue them, or send them to a technician when
   the slicer's figures are far from the quote's; each newly queued job is matched at once, so
   its upload runs while the next one is sliced; the pass then waits (``SEND_WAIT_S`` at most)
   for the uploads and starts and records their outcome.

Network calls happen in worker threads and never touch the database; the database is written
here, in the calling thread, inside the app context, with a commit per step. Jobs change state
only through ``marketplace.jobs.transition``. The first pass of a process reconciles every
active job before any new work is taken (``startup``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from marketplace import jobs
from marketplace.extensions import db
from marketplace.jobs import JobState
from marketplace.models import DispatchAttempt, Printer, PrintJob, Quote, utcnow
from marketplace.printer_states import STICKY_STATES, set_printer_state
from printers import matching, reconcile, slicing
from printers.guard import DispatcherGuard, make_owner
from printers.polling import Poller, PollResult, PollTarget, Timeouts
from printers.sending import (
    ALREADY_PRINTING,
    AUTH,
    NOTHING_STARTED,
    STARTED,
    SendOrder,
    SendOutcome,
    delete_remote,
    send_job,
)

log = logging.getLogger(__name__)
ACTOR = "dispatcher"


class DispatcherBusyError(Exception):
    """Another dispatcher holds the guard."""


@dataclass
class TickReport:
    """What one pass did (for the CLI, logs and the benchmark)."""

    polled: int = 0
    answered: int = 0
    poll_s: float = 0.0
    tick_s: float = 0.0
    sliced: int = 0
    dispatched: int = 0
    transitions: Counter = field(default_factory=Counter)
    printer_states: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        moves = ", ".join(f"{k}:{v}" for k, v in sorted(self.transitions.items())) or "-"
        return (f"{self.answered}/{self.polled} printers answered in {self.poll_s:.2f} s; "
                f"sliced {self.sliced}, dispatched {self.dispatched}; moves {moves}; "
                f"pass {self.tick_s:.2f} s")


def remote_filename(job: PrintJob, attempt: int) -> str:
    """Deterministic remote name: the same job and attempt always give the same name."""
    return f"druckhub-{job.public_id}-a{attempt}.gcode"


class Dispatcher:
    """Dispatches jobs to printers; call ``tick()`` inside an app context."""

    def __init__(self, config: Mapping[str, Any], *, owner: str | None = None) -> None:
        self.config = config
        self.owner = owner or make_owner()
        self.timeouts = Timeouts(
            connect_s=float(config["OCTOPRINT_CONNECT_TIMEOUT_S"]),
            read_s=float(config["OCTOPRINT_READ_TIMEOUT_S"]),
            upload_s=float(config["OCTOPRINT_UPLOAD_TIMEOUT_S"]),
        )
        self.poller = Poller(self.timeouts, deadline_s=float(config["POLL_DEADLINE_S"]))
        self.guard = DispatcherGuard(self.owner, float(config["DISPATCH_LEASE_S"]))
        self.started = False
        self._sends: dict[int, Future] = {}
        self._backoff: dict[int, tuple[int, float]] = {}  # printer id -> (failures, until)
        self._report = TickReport()

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
        report = self._report = TickReport()
        started = time.monotonic()
        results = self._poll(report)
        self._reconcile(results)
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
        report = self._report = TickReport()
        started = time.monotonic()
        self._collect_sends()
        results = self._poll(report)
        self._reconcile(results)
        self._reslice_stranded()
        self._dispatch()  # work that is ready goes out before slicing holds the pass up
        self._slice_approved()  # each newly queued job is matched as soon as it is sliced
        if self._sends:
            self._wait_sends(float(self.config["SEND_WAIT_S"]))
        report.tick_s = time.monotonic() - started
        log.debug("tick: %s", report.summary())
        return report

    def run(self, interval_s: float, *, once: bool = False, should_stop=lambda: False) -> None:
        """Hold the guard and tick every ``interval_s`` seconds (once with ``once``).

        Looping, it waits for the guard while another dispatcher holds it; ``once`` gives up.
        """
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
                    self._wait_sends(float(self.config["SEND_WAIT_S"]))
                    return
                if report.dispatched or report.transitions:
                    log.info("%s", report.summary())
                time.sleep(max(0.0, interval_s - (time.monotonic() - began)))
        finally:
            self.close()

    # --- polling and printer states ---
    def _poll(self, report: TickReport) -> dict[int, PollResult]:
        printers = db.session.scalars(sa.select(Printer).order_by(Printer.id)).all()
        active = self._active_jobs_by_printer()
        targets = [
            PollTarget(p.id, p.name, p.url, p.api_key,
                       watch_file=active[p.id].remote_filename if p.id in active else None,
                       may_connect=p.state != "maintenance")
            for p in printers
        ]
        began = time.monotonic()
        results = self.poller.poll_all(targets)
        report.poll_s = time.monotonic() - began
        report.polled = len(targets)
        report.answered = sum(1 for r in results.values() if r.answered)
        now = utcnow()
        for printer in printers:
            self._update_printer(printer, results[printer.id], printer.id in active, now)
            report.printer_states[printer.name] = printer.state
        db.session.commit()
        return results

    def _active_jobs_by_printer(self) -> dict[int, PrintJob]:
        rows = db.session.scalars(sa.select(PrintJob).where(
            PrintJob.state.in_([s.value for s in jobs.ON_PRINTER_STATES]),
            PrintJob.printer_id.is_not(None))).all()
        return {job.printer_id: job for job in rows}

    def _update_printer(self, printer: Printer, result: PollResult, has_job: bool, now) -> None:
        if result.answered:
            status = result.status
            printer.last_seen_at = now
            printer.failed_polls = 0
            printer.last_status = {**status.to_dict(), "polled_at": now.isoformat()}
            if not status.connected:
                new, reason = "offline", (f"OctoPrint: {status.error or status.state_text}"
                                          + ("; connecting" if result.connect_sent else ""))
            elif status.busy or has_job:
                new, reason = "printing", None
            elif status.ready:
                new, reason = "available", None
            else:
                new, reason = "offline", f"OctoPrint: {status.state_text}"
        else:
            printer.failed_polls = (printer.failed_polls or 0) + 1
            if result.error_kind == "auth":
                new, reason = "offline", "API key rejected by OctoPrint"
            else:
                new, reason = "unknown", f"no answer: {result.error}"
        if printer.state in STICKY_STATES:
            return  # only a technician ends maintenance or confirms the bed is clear
        set_printer_state(printer, new, actor=ACTOR, reason=reason)

    # --- reconciliation ---
    def _reconcile(self, results: dict[int, PollResult]) -> None:
        confirm = int(self.config["COMPLETION_CONFIRM_POLLS"])
        grace = float(self.config["START_GRACE_S"])
        for job in self._active_jobs_by_printer().values():
            if job.id in self._sends:
                continue  # our own upload/start is still running
            result = results.get(job.printer_id)
            status = result.status if result else None
            since = (utcnow() - job.updated_at).total_seconds() if job.updated_at else 0.0
            decision = reconcile.decide(
                job.state, job.remote_filename, status, result.file if result else None,
                completion_polls=job.completion_polls, confirm_polls=confirm,
                seconds_in_state=max(since, 0.0), start_grace_s=grace)
            try:
                self._apply(job, decision, status, result.file if result else None)
                db.session.commit()
            except (jobs.StaleJobError, jobs.InvalidTransitionError) as exc:
                db.session.rollback()
                log.warning("job %s: %s", job.id, exc)

    def _apply(self, job: PrintJob, decision: reconcile.Decision, status, file) -> None:
        action = decision.action
        printer = db.session.get(Printer, job.printer_id)
        if action == reconcile.PROGRESS:
            job.progress_percent = status.completion
            job.completion_polls = 0
            return
        if action == reconcile.NONE:
            return
        if action == reconcile.COMPLETION_SEEN:
            job.completion_polls = (job.completion_polls or 0) + 1
            job.progress_percent = 100.0
            return
        data = {"printer": printer.name, "remote_filename": job.remote_filename}
        if action == reconcile.TO_PRINTING:
            started_at = job.started_at or utcnow()
            self._move(job, JobState.PRINTING, decision.reason, data, started_at=started_at,
                       progress_percent=status.completion, completion_polls=0)
        elif action == reconcile.TO_PAUSED:
            self._move(job, JobState.PAUSED, decision.reason, data)
        elif action == reconcile.PRINTED:
            self._finish_printed(job, printer, status, file, decision.reason, data)
        elif action == reconcile.CANCELLED:
            self._move(job, JobState.CANCELLED, decision.reason, data, finished_at=utcnow())
            self._end_attempt(job, "cancelled", decision.reason)
        elif action == reconcile.NEEDS_ATTENTION:
            self._move(job, JobState.NEEDS_ATTENTION, decision.reason, data, finished_at=utcnow())
            self._end_attempt(job, "interrupted" if decision.bed_used else "failed",
                              decision.reason)
        elif action == reconcile.REQUEUE:
            self._requeue(job, printer, decision.reason)
        if decision.bed_used and action in (reconcile.PRINTED, reconcile.CANCELLED,
                                            reconcile.NEEDS_ATTENTION):
            if printer.state != "maintenance":
                set_printer_state(printer, "bed_to_clear", actor=ACTOR,
                                  reason=f"job {job.public_id}: {decision.reason}")

    def _move(self, job: PrintJob, to: JobState, reason: str, data: dict, **fields) -> None:
        current = JobState(job.state)
        if not jobs.can_transition(current, to):
            # e.g. printed after a cancel was asked for: a technician decides
            to, reason = JobState.NEEDS_ATTENTION, f"{reason} (while {current.value})"
        jobs.transition(job, to, actor=ACTOR, reason=reason, data=data, **fields)
        self._report.transitions[to.value] += 1

    def _finish_printed(self, job, printer, status, file, reason, data) -> None:
        now = utcnow()
        duration = None
        if file is not None and file.last_success and file.last_print_time_s is not None:
            duration = file.last_print_time_s
        elif status is not None and status.last_print_time_s is not None:
            duration = status.last_print_time_s
        elif job.started_at is not None:
            duration = (now - job.started_at).total_seconds()
        fields = {"finished_at": now, "progress_percent": 100.0}
        if duration is not None:
            fields["actual_print_time_s"] = int(round(duration))
            data = {**data, "actual_print_time_s": round(duration, 2)}
        if job.state == JobState.DISPATCHING.value:
            self._move(job, JobState.STARTING, "the printer printed our file", data)
        self._move(job, JobState.PRINTED, reason, data, **fields)
        self._end_attempt(job, "printed", reason)

    def _requeue(self, job: PrintJob, printer: Printer, reason: str) -> None:
        gone = delete_remote(printer.url, printer.api_key, job.remote_filename, self.timeouts)
        if gone == "in_use":
            return  # it is being printed after all: the next poll shows it
        if gone == "unreachable":
            return  # ask again next pass; never requeue while the file could still start
        self._end_attempt(job, "not_started", reason)
        self._move(job, JobState.QUEUED, reason, {"printer": printer.name}, printer_id=None,
                   remote_filename=None, lease_owner=None, lease_until=None,
                   progress_percent=None, completion_polls=0, started_at=None)

    def _end_attempt(self, job: PrintJob, outcome: str, detail: str) -> None:
        attempt = db.session.scalar(sa.select(DispatchAttempt).where(
            DispatchAttempt.job_id == job.id, DispatchAttempt.attempt == job.attempt))
        if attempt is not None and attempt.outcome is None:
            attempt.outcome = outcome
            attempt.detail = detail
            attempt.ended_at = utcnow()

    # --- slicing ---
    def _slice_approved(self) -> int:
        """Slice approved jobs until the pass's slicing budget is spent; return how many."""
        budget = float(self.config["SLICE_BUDGET_S"])
        began = time.monotonic()
        approved = db.session.scalars(
            sa.select(PrintJob).where(PrintJob.state == JobState.APPROVED.value)
            .order_by(PrintJob.priority.desc(), PrintJob.approved_at, PrintJob.id)).all()
        for job in approved:
            if time.monotonic() - began > budget:
                break
            try:
                self._slice_one(job)
                db.session.commit()
            except (jobs.StaleJobError, jobs.InvalidTransitionError) as exc:
                db.session.rollback()
                log.warning("job %s: %s", job.id, exc)
                continue
            if job.state == JobState.QUEUED.value:
                self._dispatch()  # its upload runs while the next job is sliced
        return self._report.sliced

    def _slice_one(self, job: PrintJob) -> None:
        from marketplace.parts import storage

        profile = choose_profile(job, self.config)
        upload_dir = Path(self.config["UPLOAD_DIR"])
        try:
            result = slicing.slice_part(
                storage.path_for(job.part.sha256, upload_dir), job.part.file_format,
                profile=profile, profile_dir=self.config["SLICER_PROFILE_DIR"],
                gcode_dir=upload_dir / "gcode", layer_height_mm=job.layer_height_mm,
                infill_percent=job.infill_percent, scale=job.scale or 1.0,
                rotation=slicing.rotation_from_analysis(job.part.analysis),
                slicer_bin=self.config["PRUSA_SLICER_BIN"],
                timeout_s=float(self.config["SLICER_TIMEOUT_S"]))
        except (slicing.SlicingError, storage.StorageError) as exc:
            message = getattr(exc, "message", str(exc))
            self._move(job, JobState.NEEDS_ATTENTION, f"slicing failed: {message}",
                       {"code": getattr(exc, "code", "missing_file"), "profile": profile})
            return
        self._report.sliced += 1
        job.slicer_material_g = result.material_g
        job.slicer_print_time_s = result.print_time_s
        job.gcode_sha256 = result.gcode_sha256
        job.slicing = {k: v for k, v in result.to_dict().items() if k != "gcode_path"}
        est_g, est_s = estimates(job)
        if est_g is not None and job.est_material_g is None:
            job.est_material_g = est_g
        if est_s is not None and job.est_print_time_s is None:
            job.est_print_time_s = est_s
        data = {"profile": profile, "slicer_material_g": result.material_g,
                "slicer_print_time_s": result.print_time_s, "est_material_g": est_g,
                "est_print_time_s": est_s}
        threshold = float(self.config["SLICER_DIFF_THRESHOLD"])
        off = [name for name, est, got in (("material", est_g, result.material_g),
                                           ("time", est_s, result.print_time_s))
               if relative_difference(est, got) > threshold]
        if off:
            details = ", ".join(
                f"{name} {relative_difference(e, g):.0%}" for name, e, g in
                (("material", est_g, result.material_g), ("time", est_s, result.print_time_s))
                if name in off)
            self._move(job, JobState.NEEDS_ATTENTION,
                       f"slicer differs from the quote by more than {threshold:.0%}: {details}",
                       data)
        else:
            self._move(job, JobState.QUEUED, "sliced", data)

    # --- matching and dispatch ---
    def _reslice_stranded(self) -> None:
        """Send queued jobs back to slicing when no printer has the profile they were sliced for
        (printers changed since) or their G-code is missing."""
        all_offers = [offer_for(p) for p in db.session.scalars(sa.select(Printer)).all()]
        if not all_offers:
            return
        queued = db.session.scalars(sa.select(PrintJob).where(
            PrintJob.state == JobState.QUEUED.value)).all()
        gcode_dir = Path(self.config["UPLOAD_DIR"]) / "gcode"
        for job in queued:
            need = need_for(job)
            has_gcode = bool(job.gcode_sha256) and slicing.gcode_path(
                gcode_dir, job.gcode_sha256).is_file()
            if has_gcode and need and matching.candidate_printers(need, all_offers):
                continue
            profile = choose_profile(job, self.config)
            if has_gcode and need and profile == need.profile:
                continue  # no printer can take it, but slicing again would not change that
            try:
                self._move(job, JobState.APPROVED,
                           f"slicing again for profile {profile}" if has_gcode
                           else "G-code missing: slicing again", {"profile": profile})
                db.session.commit()
            except (jobs.StaleJobError, jobs.InvalidTransitionError) as exc:
                db.session.rollback()
                log.warning("job %s: %s", job.id, exc)

    def _dispatch(self) -> None:
        printers = db.session.scalars(sa.select(Printer).where(Printer.state == "available")
                                      .order_by(Printer.id)).all()
        now_mono = time.monotonic()
        busy = set(self._active_jobs_by_printer())
        offers = [offer_for(p) for p in printers
                  if p.id not in busy and self._backoff.get(p.id, (0, 0.0))[1] <= now_mono]
        if not offers:
            return
        queued = db.session.scalars(sa.select(PrintJob).where(
            PrintJob.state == JobState.QUEUED.value, PrintJob.gcode_sha256.is_not(None))).all()
        needs = [n for n in (need_for(j) for j in queued) if n is not None]
        by_id = {j.id: j for j in queued}
        by_printer = {p.id: p for p in printers}
        orders = []
        for job_id, printer_id in matching.assign(needs, offers):
            order = self._claim(by_id[job_id], by_printer[printer_id])
            if order is not None:
                orders.append(order)
        for order in orders:
            self._sends[order.job_id] = self.poller.submit(send_job, order, self.timeouts)
        self._report.dispatched += len(orders)

    def _claim(self, job: PrintJob, printer: Printer) -> SendOrder | None:
        """Claim ``job`` for ``printer`` and commit, before any network call."""
        attempt = (job.attempt or 0) + 1
        name = remote_filename(job, attempt)
        now = utcnow()
        try:
            self._move(job, JobState.DISPATCHING, f"to printer {printer.name}",
                       {"printer": printer.name, "attempt": attempt, "remote_filename": name},
                       printer_id=printer.id, attempt=attempt, remote_filename=name,
                       lease_owner=self.owner,
                       lease_until=now + timedelta(seconds=float(self.config["DISPATCH_LEASE_S"])),
                       progress_percent=None, completion_polls=0, started_at=None,
                       finished_at=None)
            db.session.add(DispatchAttempt(job_id=job.id, attempt=attempt, printer_id=printer.id,
                                           remote_filename=name, claimed_at=now))
            set_printer_state(printer, "printing", actor=ACTOR, reason=f"job {job.public_id}")
            db.session.commit()
        except (sa.exc.IntegrityError, jobs.StaleJobError, jobs.InvalidTransitionError) as exc:
            db.session.rollback()
            log.warning("claim of job %s for %s failed: %s", job.id, printer.name, exc)
            return None
        gcode = slicing.gcode_path(Path(self.config["UPLOAD_DIR"]) / "gcode", job.gcode_sha256)
        return SendOrder(job_id=job.id, attempt=attempt, printer_id=printer.id, url=printer.url,
                         api_key=printer.api_key, remote_filename=name, gcode_path=str(gcode),
                         userdata={"druckhub_job": job.public_id, "attempt": attempt,
                                   "sha256": job.gcode_sha256})

    def _wait_sends(self, timeout_s: float) -> None:
        if self._sends:
            wait(list(self._sends.values()), timeout=timeout_s)
        self._collect_sends()

    def _collect_sends(self) -> None:
        for job_id, future in list(self._sends.items()):
            if not future.done():
                continue
            del self._sends[job_id]
            try:
                self._apply_send(future.result())
                db.session.commit()
            except (jobs.StaleJobError, jobs.InvalidTransitionError) as exc:
                db.session.rollback()
                log.warning("job %s: %s", job_id, exc)

    def _apply_send(self, outcome: SendOutcome) -> None:
        job = db.session.get(PrintJob, outcome.job_id, populate_existing=True)
        if job is None or job.state != JobState.DISPATCHING.value or job.attempt != outcome.attempt:
            return
        printer = db.session.get(Printer, job.printer_id)
        attempt = db.session.scalar(sa.select(DispatchAttempt).where(
            DispatchAttempt.job_id == job.id, DispatchAttempt.attempt == job.attempt))
        now = utcnow()
        if outcome.uploaded and attempt is not None:
            attempt.uploaded_at = attempt.uploaded_at or now
        data = {"printer": printer.name, "attempt": job.attempt, "detail": outcome.detail}
        if outcome.result == STARTED:
            if attempt is not None:
                attempt.started_at = now
            self._move(job, JobState.STARTING, "select+print accepted", data, started_at=now)
            self._backoff.pop(printer.id, None)
        elif outcome.result == ALREADY_PRINTING:
            self._move(job, JobState.PRINTING, "the printer prints our file", data,
                       started_at=job.started_at or now)
        elif outcome.result in NOTHING_STARTED:
            failures = self._backoff.get(printer.id, (0, 0.0))[0] + 1
            delay = float(self.config["DISPATCH_RETRY_BASE_S"]) * 2 ** (failures - 1)
            self._backoff[printer.id] = (failures, time.monotonic() + min(delay, 300.0))
            self._end_attempt(job, outcome.result, outcome.detail)
            self._move(job, JobState.QUEUED, f"not started ({outcome.result}): {outcome.detail}",
                       data, printer_id=None, remote_filename=None, lease_owner=None,
                       lease_until=None, started_at=None)
            if outcome.result == AUTH:
                set_printer_state(printer, "offline", actor=ACTOR,
                                  reason="API key rejected by OctoPrint")
            elif printer.state == "printing":
                set_printer_state(printer, "unknown", actor=ACTOR, reason=outcome.detail[:200])
        # UNKNOWN: stays dispatching; the next pass asks the printer before anything else


# --- helpers used by the dispatcher, the console and the tests ---------------------------------


def relative_difference(estimate: float | None, actual: float | None) -> float:
    """Return |actual - estimate| / estimate (0 when there is nothing to compare)."""
    if estimate is None or actual is None or estimate <= 0:
        return 0.0
    return abs(actual - estimate) / estimate


def estimates(job: PrintJob) -> tuple[float | None, int | None]:
    """Return the quote's grams and seconds per piece for ``job``."""
    grams, seconds = job.est_material_g, job.est_print_time_s
    if grams is None or seconds is None:
        quote = db.session.get(Quote, job.order.quote_id) if job.order else None
        if quote is not None:
            grams = grams if grams is not None else quote.material_g
            seconds = seconds if seconds is not None else quote.print_time_s
    return grams, seconds


def choose_profile(job: PrintJob, config: Mapping[str, Any]) -> str:
    """Pick the slicer profile: the requested printer's, else the most common among printers
    that have the job's material and colour loaded, else the configured default."""
    if job.requested_printer_id:
        printer = db.session.get(Printer, job.requested_printer_id)
        if printer is not None:
            return printer.slicer_profile
    printers = db.session.scalars(sa.select(Printer)).all()
    profiles = Counter(
        p.slicer_profile for p in printers
        if p.material_code.upper() == job.material_code.upper()
        and matching.colour_matches(job.colour, p.colour))
    if profiles:
        return sorted(profiles.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return config["DEFAULT_SLICER_PROFILE"]


def offer_for(printer: Printer) -> matching.PrinterOffer:
    return matching.PrinterOffer(
        printer_id=printer.id, name=printer.name, material_code=printer.material_code,
        colour=printer.colour, nozzle_mm=printer.nozzle_mm,
        build_mm=(printer.build_x_mm, printer.build_y_mm, printer.build_z_mm),
        profile=printer.slicer_profile)


def need_for(job: PrintJob) -> matching.JobNeed | None:
    info = job.slicing or {}
    if not info.get("profile"):
        return None
    bbox = tuple(info.get("bbox_mm") or (0.0, 0.0, 0.0))
    return matching.JobNeed(
        job_id=job.id, material_code=job.material_code, colour=job.colour,
        nozzle_mm=float(info.get("nozzle_mm", 0.4)), bbox_mm=bbox, profile=info["profile"],
        priority=job.priority or 0, due_date=job.due_date,
        queued_at=job.approved_at or job.created_at,
        requested_printer_id=job.requested_printer_id)
