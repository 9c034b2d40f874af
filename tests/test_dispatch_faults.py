"""Faults, each a test, on real OctoPrint servers: nothing lost, nothing printed twice."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from octoprint_farm import (  # noqa: F401  (fixtures)
    API_KEY,
    DISPATCH_TEST_SETTINGS,
    add_printer,
    box_stl,
    dispatch_settings,
    dispatcher,
    farm,
    fault_proxy,
    idle_farm,
    make_job,
    tick_until,
    wait_for,
)

from webhook_receiver import Answer, WebhookReceiver

from marketplace import jobs
from marketplace.extensions import db
from marketplace.models import DispatchAttempt, JobEvent, Printer, PrintJob, utcnow
from printers import admin as printer_admin
from printers.dispatcher import Dispatcher
from printers.farm import update_printer
from printers.polling import STALE_ANSWER, Poller, PollTarget, Timeouts

# the dispatcher's guard holds a connection of its own; a dispatcher may run in a subprocess
pytestmark = [pytest.mark.octoprint, pytest.mark.slicer, pytest.mark.commits]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _settings(dispatch_settings):
    """Short timeouts etc. (autouse: applied before the app is created)."""


def reload(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def successes(servers, job) -> int:
    """Successful prints of any attempt of ``job`` on any server (OctoPrint's own counts)."""
    return sum(count for s in servers for name, count in s.successful_prints().items()
               if job.public_id in name)


def attempts(job) -> list[DispatchAttempt]:
    return db.session.scalars(sa.select(DispatchAttempt).where(DispatchAttempt.job_id == job.id)
                              .order_by(DispatchAttempt.attempt)).all()


def test_octoprint_killed_mid_print_and_restarted(idle_farm, add_printer, make_job, dispatcher):
    server = idle_farm[2]
    printer = add_printer(server)
    job = make_job(stl=box_stl(20, 20, 20))  # long enough to be killed mid-print
    tick_until(dispatcher, lambda: reload(job).state == "printing", 60, "printing")
    first_file = reload(job).remote_filename
    server.kill()
    dispatcher.tick()
    # no answer: unknown, and the job is not given up or sent elsewhere
    assert reload(printer).state == "unknown"
    assert reload(job).state == "printing"
    server.restart()
    tick_until(dispatcher, lambda: reload(job).state == "needs_attention", 30, "needs attention")
    job = reload(job)
    assert "interrupted" in job.events[-1].reason
    assert reload(printer).state == "bed_to_clear"
    # the dispatcher reconnects the printer, but never reprints on its own
    wait_for(lambda: server.job()["state"] == "Operational", 20, "reconnected")
    for _ in range(3):
        dispatcher.tick()
    assert reload(job).state == "needs_attention" and reload(job).attempt == 1
    assert successes([server], job) == 0
    # a technician clears the bed and puts the job back in the queue: it prints once
    jobs.transition(job, "queued", actor="tech@hub", reason="reprint after crash")
    printer_admin.confirm_bed_clear(reload(printer), "tech@hub")
    db.session.commit()
    tick_until(dispatcher, lambda: reload(job).state == "printed", 90, "printed")
    job = reload(job)
    assert job.attempt == 2 and job.remote_filename != first_file
    assert [a.outcome for a in attempts(job)] == ["interrupted", "printed"]
    assert successes([server], job) == 1


def test_printer_error_mid_print_goes_to_a_technician(idle_farm, add_printer, make_job,
                                                      dispatcher):
    server = idle_farm[1]
    printer = add_printer(server)
    job = make_job(stl=box_stl(20, 20, 20))
    tick_until(dispatcher, lambda: reload(job).state == "printing", 60, "printing")
    server.post("/api/printer/command", {"command": "M112"})  # emergency stop
    tick_until(dispatcher, lambda: reload(job).state == "needs_attention", 30, "needs attention")
    assert "interrupted" in reload(job).events[-1].reason
    assert reload(printer).state == "bed_to_clear"
    # with the job handed over, the dispatcher reconnects the printer (no print is started)
    wait_for(lambda: (dispatcher.tick(), server.job()["state"] == "Operational")[1], 30,
             "reconnected after the error")
    assert reload(job).state == "needs_attention" and successes([server], job) == 0


def _dispatcher_env(app, tmp_path) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "UPLOAD_DIR": app.config["UPLOAD_DIR"],
           # the printers' API keys are encrypted with a key derived from the app's SECRET_KEY
           "SECRET_KEY": app.config["SECRET_KEY"],
           "SLICING": "dispatcher",  # no task worker runs here: the dispatcher slices in its pass
           "PYTHONPATH": str(ROOT)}
    env.update({k: str(v) for k, v in DISPATCH_TEST_SETTINGS.items()})
    return env


def _start_dispatcher(env, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "marketplace", "dispatcher", "run",
         "--interval", "0.2"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _clear_beds() -> None:
    db.session.expire_all()
    for printer in db.session.scalars(sa.select(Printer).where(Printer.state == "bed_to_clear")):
        printer_admin.confirm_bed_clear(printer, "tech@hub")
    db.session.commit()


def test_dispatcher_sigkilled_at_random_points_loses_nothing_prints_nothing_twice(
        idle_farm, add_printer, make_job, app, tmp_path):
    for server in idle_farm:
        add_printer(server)
    job_list = [make_job(stl=box_stl(8 + 4 * (i % 3), 8 + 4 * (i % 3), 3)) for i in range(9)]
    env = _dispatcher_env(app, tmp_path)
    rng = random.Random(4)
    kills = 0
    caught: list[str] = []  # states of jobs on a printer at the moment of a kill
    with open(tmp_path / "dispatcher.log", "ab", buffering=0) as log:
        for _ in range(12):
            offset = log.tell()
            proc = _start_dispatcher(env, log)
            # wait until it has reconciled (start-up), then kill it anywhere in its passes, or
            # just after it sent a job to a printer (the window exactly-once must survive)
            try:
                wait_for(lambda: b"started:" in (tmp_path / "dispatcher.log").read_bytes()[offset:],
                         90, "dispatcher start-up", interval_s=0.02)  # a cold start, busy host
            except BaseException:
                proc.kill()  # a failed test leaves no dispatcher behind
                proc.wait(10)
                raise
            if rng.random() < 0.5:
                time.sleep(rng.uniform(0.0, 3.0))
            else:
                deadline = time.monotonic() + 8
                while (b": started" not in (tmp_path / "dispatcher.log").read_bytes()[offset:]
                       and time.monotonic() < deadline):
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            kills += 1
            db.session.expire_all()
            caught.extend(j.state for j in job_list if reload(j).state in jobs.ON_PRINTER_STATES)
            _clear_beds()
        # one last dispatcher runs until everything is done
        proc = _start_dispatcher(env, log)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                _clear_beds()
                db.session.expire_all()
                if all(reload(j).state == "printed" for j in job_list):
                    break
                time.sleep(0.3)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    output = (tmp_path / "dispatcher.log").read_text()
    assert kills == 12
    assert len(caught) >= 3, f"too few kills hit a job on a printer: {caught}"
    print("job states at the kills:", caught)
    final = [reload(j) for j in job_list]
    assert [j.state for j in final] == ["printed"] * len(job_list), output[-3000:]
    for job in final:
        assert successes(idle_farm, job) == 1, job.public_id  # exactly one print per job
        printed = db.session.scalars(sa.select(JobEvent).where(
            JobEvent.job_id == job.id, JobEvent.to_state == "printed")).all()
        assert len(printed) == 1
    # no print of ours failed (only the dispatcher died, never a print)
    failures = [f for s in idle_farm for f in s.files()
                if f["name"].startswith("druckhub-") and f.get("prints", {}).get("failure")]
    assert not [f for f in failures if any(j.public_id in f["name"] for j in final)]
    assert API_KEY not in output


def test_a_hung_printer_delays_nobody(idle_farm, add_printer, make_job, dispatcher, fault_proxy,
                                      farm):
    proxy = fault_proxy(idle_farm[0])
    proxy.set_mode("hang")
    hung = add_printer(proxy.url, name="Hung")
    live = [add_printer(s) for s in idle_farm]
    job_list = [make_job() for _ in range(3)]
    began = time.monotonic()
    report = dispatcher.tick()  # startup + one pass
    elapsed = time.monotonic() - began
    assert elapsed < 2 * DISPATCH_TEST_SETTINGS["POLL_DEADLINE_S"] + 3
    assert report.dispatched == 3 and report.answered == 3
    assert reload(hung).state == "unknown"
    assert {reload(j).printer_id for j in job_list} == {p.id for p in live}
    began = time.monotonic()
    report = dispatcher.tick()  # the hung poll is still running: not waited for again
    assert time.monotonic() - began < DISPATCH_TEST_SETTINGS["POLL_DEADLINE_S"] + 2
    tick_until(dispatcher, lambda: all(reload(j).state == "printed" for j in job_list), 60,
               "all printed")


def test_a_job_on_a_printer_that_stops_answering_is_not_sent_elsewhere(
        idle_farm, add_printer, make_job, dispatcher, fault_proxy):
    proxy = fault_proxy(idle_farm[0])
    watched = add_printer(proxy.url, name="Behind proxy")
    job = make_job(stl=box_stl(20, 20, 20))
    tick_until(dispatcher, lambda: reload(job).state == "printing", 60, "printing")
    other = add_printer(idle_farm[1])
    proxy.set_mode("hang")
    for _ in range(3):
        dispatcher.tick()
        assert reload(watched).state == "unknown"
        assert reload(job).state == "printing" and reload(job).printer_id == watched.id
    assert reload(other).state == "available"
    proxy.set_mode("pass")
    tick_until(dispatcher, lambda: reload(job).state == "printed", 90, "printed")
    assert successes(idle_farm, job) == 1 and reload(job).attempt == 1


def test_a_printer_back_from_a_hang_is_seen_even_if_slower_than_the_others(
        idle_farm, fault_proxy):
    """A printer that hung is not waited for; once it answers again, more slowly than the
    others, its poll that ended after a pass is that printer's answer in the next pass (its
    polls used to lose the race for ever, and the printer stayed unknown)."""
    proxy = fault_proxy(idle_farm[0])
    behind = PollTarget(1, "Behind proxy", proxy.url, API_KEY)
    quick = PollTarget(2, "Quick", idle_farm[1].url, API_KEY)
    poller = Poller(Timeouts(connect_s=1.0, read_s=2.0), deadline_s=2.5)
    try:
        assert poller.poll_all([behind, quick])[1].answered
        proxy.set_mode("hang")
        assert not poller.poll_all([behind, quick])[1].answered
        proxy.delay_s = 0.3  # about 1 s a poll: within the deadline, after the quick printer
        proxy.set_mode("slow")
        passes = []
        for _ in range(6):
            results = poller.poll_all([behind, quick])
            passes.append(results[1].answered)
            assert results[2].answered
            if results[1].answered:
                break
            time.sleep(1.5)  # the dispatcher's interval: the slow poll ends meanwhile
        assert passes[-1] and len(passes) <= 3, passes
        assert poller.poll_all([behind, quick])[1].answered  # no longer a suspect: waited for
    finally:
        poller.shutdown()


def test_an_answer_to_an_earlier_question_leaves_the_printer_as_it_was(
        idle_farm, fault_proxy):
    """A slow printer's poll still running when the question changes (a job's file is now
    watched), ending within the next pass: an answer, but to the earlier question. It is
    reported as such (it used to say "no answer within 2 s" and made the printer a suspect
    and "unknown"), the printer's record stays as it was, and it is asked afresh next."""
    proxy = fault_proxy(idle_farm[0])
    before = PollTarget(1, "Slow", proxy.url, API_KEY)
    watching = PollTarget(1, "Slow", proxy.url, API_KEY, watch_file="job-7.gcode")
    poller = Poller(Timeouts(connect_s=1.0, read_s=3.0), deadline_s=2.0)
    try:
        proxy.delay_s = 1.0  # about 3 s a poll: past one deadline, within the next
        proxy.set_mode("slow")
        first = poller.poll_all([before])[1]
        assert first.error_kind == "timeout"
        second = poller.poll_all([watching])[1]
        assert (second.error_kind, second.error) == ("stale", STALE_ANSWER)
        assert 1 not in poller._suspects
        printer = Printer(name="Slow", url=proxy.url, state="available", failed_polls=0)
        update_printer(printer, second, False, utcnow())
        assert (printer.state, printer.failed_polls) == ("available", 0)
        proxy.set_mode("pass")
        third = poller.poll_all([watching])[1]  # a fresh poll of what is asked now
        assert third.answered
    finally:
        poller.shutdown()


@pytest.mark.parametrize("body, content_type, error", [
    (b"<html><body>Router login</body></html>", "text/html", "not an OctoPrint answer"),
    (b"[]", "application/json", "AttributeError"),  # another JSON API at that address
])
def test_something_else_where_octoprint_should_be_is_that_printers_error(
        idle_farm, body, content_type, error):
    """A printer's address that answers, but not as OctoPrint (a web page, another JSON
    API): that printer's error in every pass, a fresh poll each time, the others polled as
    ever (a poll that raised used to fail the whole pass, and then every pass after it)."""
    answer = Answer(200, body, headers={"Content-Type": content_type})
    poller = Poller(Timeouts(connect_s=1.0, read_s=2.0), deadline_s=2.5)
    with WebhookReceiver(answer) as other:
        odd = PollTarget(1, "Not a printer", f"http://127.0.0.1:{other.port}", API_KEY)
        real = PollTarget(2, "Real", idle_farm[0].url, API_KEY)
        try:
            seen = []
            for _ in range(3):
                results = poller.poll_all([odd, real])
                assert not results[1].answered and results[1].error_kind == "error"
                assert error in results[1].error
                assert results[2].answered
                seen.append(len(other.requests))
            assert seen[0] >= 1 and seen[1] > seen[0] and seen[2] > seen[1]  # each pass
        finally:
            poller.shutdown()


def test_a_poll_that_failed_after_its_pass_is_not_taken_as_the_next_answer(
        idle_farm, fault_proxy):
    """A hung poll that times out after its pass ended (read timeout beyond the pass's
    deadline) is a failure that says nothing new: the next pass polls afresh, and a printer
    that answers again is seen at once."""
    proxy = fault_proxy(idle_farm[0])
    behind = PollTarget(1, "Behind proxy", proxy.url, API_KEY)
    poller = Poller(Timeouts(connect_s=1.0, read_s=1.5), deadline_s=1.0)
    try:
        proxy.set_mode("hang")
        assert poller.poll_all([behind])[1].error_kind == "timeout"
        time.sleep(1.0)  # the hung poll's read timeout has ended it by now: a late failure
        proxy.set_mode("pass")
        hits = len(proxy.hits)
        assert poller.poll_all([behind])[1].answered
        assert len(proxy.hits) > hits  # a fresh poll
    finally:
        poller.shutdown()


def test_wrong_api_key(idle_farm, add_printer, make_job, dispatcher, caplog):
    caplog.set_level(logging.DEBUG)
    wrong_key = "WRONGKEY0123456789ABCDEF0000"
    bad = add_printer(idle_farm[0], name="Bad key", api_key=wrong_key)
    good = add_printer(idle_farm[1], name="Good key")
    job = make_job()
    dispatcher.tick()
    bad = reload(bad)
    assert bad.state == "offline" and "API key" in bad.state_reason
    assert reload(job).printer_id == good.id
    assert wrong_key not in caplog.text and API_KEY not in caplog.text
    tick_until(dispatcher, lambda: reload(job).state == "printed", 60, "printed")
    # fixed in the console: the printer comes back
    printer_admin.update_printer(bad, {"api_key": API_KEY}, actor="tech@hub")
    db.session.commit()
    dispatcher.tick()
    assert reload(bad).state == "available"


def test_409_on_select_is_refused_then_retried_once(idle_farm, add_printer, make_job, dispatcher,
                                                    fault_proxy):
    server = idle_farm[0]
    proxy = fault_proxy(server)
    printer = add_printer(proxy.url)
    job = make_job()
    # right before select+print reaches OctoPrint its printer goes offline: a real 409
    proxy.once("POST", "/api/files/local/druckhub-", ("before", server.disconnect))
    dispatcher.tick()
    job = reload(job)
    assert job.state == "queued" and job.attempt == 1
    assert "refused" in job.events[-1].reason and "409" in job.events[-1].reason
    assert ("POST", f"/api/files/local/druckhub-{job.public_id}-a1.gcode") in proxy.hits
    tick_until(dispatcher, lambda: reload(job).state == "printed", 60, "printed")
    job = reload(job)
    assert job.attempt == 2 and job.printer_id == printer.id
    assert [a.outcome for a in attempts(job)] == ["refused", "printed"]
    prints = server.successful_prints()
    assert prints.get(f"druckhub-{job.public_id}-a1.gcode", 0) == 0
    assert prints[f"druckhub-{job.public_id}-a2.gcode"] == 1


def test_start_command_without_answer_is_never_sent_again(idle_farm, add_printer, make_job,
                                                          dispatcher, fault_proxy):
    """select+print reaches OctoPrint but its answer is lost: ask the printer, do not resend."""
    server = idle_farm[0]
    proxy = fault_proxy(server)
    add_printer(proxy.url)
    job = make_job()
    proxy.once("POST", "/api/files/local/druckhub-", ("swallow",))
    dispatcher.tick()
    job = reload(job)
    assert job.state == "dispatching"  # outcome unknown: neither started nor requeued
    tick_until(dispatcher, lambda: reload(job).state == "printed", 60, "printed")
    job = reload(job)
    selects = [h for h in proxy.hits if h[0] == "POST" and h[1].startswith("/api/files/local/")]
    assert len(selects) == 1  # select+print went out exactly once
    assert job.attempt == 1 and successes([server], job) == 1
    assert [a.outcome for a in attempts(job)] == ["printed"]


def test_upload_broken_off_midway(idle_farm, add_printer, make_job, dispatcher, fault_proxy, app):
    server = idle_farm[0]
    proxy = fault_proxy(server)
    add_printer(proxy.url)
    job = make_job(stl=box_stl(20, 20, 5))
    proxy.once("POST", "/api/files/local", ("cut", 0.5))
    dispatcher.tick()
    job = reload(job)
    assert job.state == "queued" and "upload_failed" in job.events[-1].reason
    assert server.file_info(f"druckhub-{job.public_id}-a1.gcode") is None  # no half file left
    tick_until(dispatcher, lambda: reload(job).state == "printed", 60, "printed")
    job = reload(job)
    assert [a.outcome for a in attempts(job)] == ["upload_failed", "printed"]
    info = server.file_info(job.remote_filename)
    gcode = Path(app.config["UPLOAD_DIR"]) / "gcode" / f"{job.gcode_sha256}.gcode"
    assert info["size"] == gcode.stat().st_size  # the whole file was printed
    assert info["prints"]["success"] == 1 and successes([server], job) == 1


def test_only_one_dispatcher_at_a_time(app):
    first, second = Dispatcher(app.config), Dispatcher(app.config)
    try:
        first.acquire()
        assert not second.guard.acquire()
        first.close()
        assert second.guard.acquire()
    finally:
        second.close()
        first.close()


def test_active_jobs_stay_bound_to_one_printer(idle_farm, add_printer, make_job, dispatcher):
    """The partial unique index: a second active job on the same printer cannot be written."""
    printer = add_printer(idle_farm[0])
    one, two = make_job(), make_job()
    for job in (one, two):
        jobs.transition(job, "queued", actor="test")
    db.session.commit()
    jobs.transition(one, "dispatching", actor="test", printer_id=printer.id)
    db.session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        jobs.transition(two, "dispatching", actor="test", printer_id=printer.id)
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PrintJob).where(
        PrintJob.printer_id == printer.id)) == 1
