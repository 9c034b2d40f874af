"""The dispatcher's units on their own: settings read once, the per-job step, slicing one job
by id (as a task queue will), the printer state a poll means, the back-off. No OctoPrint."""

from __future__ import annotations

import logging

import pytest
from octoprint_farm import (  # noqa: F401  (fixtures)
    TEST_PROFILE,
    add_printer,
    dispatch_settings,
    make_job,
)

from config import Config
from marketplace.extensions import db
from marketplace.jobs import JobState, StaleJobError
from marketplace.models import PrintJob
from printers.dispatcher import Dispatcher
from printers.dispatching import BACKOFF_MAX_S, Backoff
from printers.farm import judge
from printers.octoprint import PrinterStatus
from printers.polling import PollResult
from printers.preparing import slice_job
from printers.settings import DispatcherSettings
from printers.steps import job_step


def _config(**overrides):
    values = {k: getattr(Config, k) for k in dir(Config) if k.isupper()}
    return {**values, "UPLOAD_DIR": "/tmp/uploads", **overrides}


@pytest.mark.db_independent
def test_settings_are_cast_once_from_the_config():
    settings = DispatcherSettings.from_config(_config(
        POLL_DEADLINE_S="2.5", COMPLETION_CONFIRM_POLLS="3", OCTOPRINT_READ_TIMEOUT_S="7"))
    assert settings.poll_deadline_s == 2.5 and settings.confirm_polls == 3
    assert settings.timeouts.read_s == 7.0
    assert str(settings.gcode_dir) == "/tmp/uploads/gcode"
    with pytest.raises(KeyError):
        DispatcherSettings.from_config({})


class _RecordingConfig(dict):
    def __init__(self, *args):
        super().__init__(*args)
        self.reads: list[str] = []

    def __getitem__(self, key):
        self.reads.append(key)
        return super().__getitem__(key)


def test_a_pass_reads_no_setting_after_the_start(dispatch_settings, app):
    config = _RecordingConfig(app.config)
    dispatcher = Dispatcher(config)
    try:
        read_at_start = len(config.reads)
        assert read_at_start > 0
        dispatcher.tick()  # no printers, no jobs: a whole (empty) pass
        dispatcher.tick()
        assert len(config.reads) == read_at_start
    finally:
        dispatcher.close()


def test_job_step_commits_or_rolls_back_and_goes_on(app, make_job, caplog):
    job = make_job()
    with job_step(job.id) as step:
        job.priority = 5
    assert step.ok
    db.session.expire_all()
    assert db.session.get(PrintJob, job.id).priority == 5

    caplog.set_level(logging.WARNING, logger="printers.steps")
    with job_step(job.id, "slicing") as step:
        job.priority = 9
        raise StaleJobError("moved by someone else")
    assert not step.ok
    assert f"job {job.id} (slicing): moved by someone else" in caplog.text
    db.session.expire_all()
    assert db.session.get(PrintJob, job.id).priority == 5  # rolled back

    with pytest.raises(ZeroDivisionError), job_step(job.id):
        job.priority = 7
        raise ZeroDivisionError  # a bug: rolled back and raised, never swallowed
    db.session.expire_all()
    assert db.session.get(PrintJob, job.id).priority == 5


@pytest.mark.slicer
def test_slice_job_runs_on_its_own_and_twice_is_harmless(dispatch_settings, app, make_job,
                                                        add_printer):
    add_printer("http://127.0.0.1:9", slicer_profile=TEST_PROFILE)  # never contacted
    job = make_job()
    assert slice_job(job.id) == JobState.QUEUED.value
    db.session.expire_all()
    job = db.session.get(PrintJob, job.id)
    assert job.state == "queued" and job.gcode_sha256 and job.slicing["profile"] == TEST_PROFILE
    events = len(job.events)
    assert slice_job(job.id) is None  # no longer approved: nothing done
    assert slice_job(10**9) is None  # no such job
    db.session.expire_all()
    assert len(db.session.get(PrintJob, job.id).events) == events


@pytest.mark.db_independent
@pytest.mark.parametrize("result,has_job,expected", [
    (PollResult(1, error_kind="timeout", error="no answer within 2 s"), False, "unknown"),
    (PollResult(1, error_kind="auth", error="403"), True, "offline"),
    (PollResult(1, PrinterStatus("Operational", "Operational", {"operational": True})), False,
     "available"),
    (PollResult(1, PrinterStatus("Operational", "Operational", {"operational": True})), True,
     "printing"),  # idle, but our job is on it (e.g. just started): not free
    (PollResult(1, PrinterStatus("Printing", "Printing", {"printing": True})), False,
     "printing"),
    (PollResult(1, PrinterStatus("Closed", "Offline")), False, "offline"),
    (PollResult(1, PrinterStatus("Operational", "Operational", {"operational": False})), False,
     "offline"),
])
def test_the_printer_state_a_poll_means(result, has_job, expected):
    assert judge(result, has_job)[0] == expected


@pytest.mark.db_independent
def test_backoff_doubles_up_to_its_cap_and_ends_on_success(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("printers.dispatching.time.monotonic", lambda: clock[0])
    backoff = Backoff()
    assert backoff.ready(1, clock[0])
    backoff.failed(1, base_s=5.0)
    assert not backoff.ready(1, clock[0] + 4.9) and backoff.ready(1, clock[0] + 5.0)
    backoff.failed(1, base_s=5.0)
    assert not backoff.ready(1, clock[0] + 9.9) and backoff.ready(1, clock[0] + 10.0)
    for _ in range(20):
        backoff.failed(1, base_s=5.0)
    assert backoff.ready(1, clock[0] + BACKOFF_MAX_S)
    assert backoff.ready(2, clock[0])  # other printers are not affected
    backoff.succeeded(1)
    assert backoff.ready(1, clock[0])

