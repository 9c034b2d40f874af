"""The dispatcher end to end on real OctoPrint servers: slice, dispatch, print, complete."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
import sqlalchemy as sa
from octoprint_farm import (  # noqa: F401  (fixtures)
    add_printer,
    box_stl,
    dispatch_settings,
    dispatcher,
    farm,
    idle_farm,
    make_job,
    tick_until,
    wait_for,
)

from marketplace.extensions import db
from marketplace.models import (
    DispatchAttempt,
    JobEvent,
    Printer,
    PrinterEvent,
    PrintJob,
)
from printers import admin as printer_admin
from printers import control
from printers.dispatcher import Dispatcher

# the dispatcher's guard holds a connection of its own; a dispatcher may run in a subprocess
pytestmark = [pytest.mark.octoprint, pytest.mark.slicer, pytest.mark.commits]


@pytest.fixture(autouse=True)
def _settings(dispatch_settings):
    """Short timeouts etc. (autouse: applied before the app is created)."""


def states(job: PrintJob) -> list[str]:
    return [e.to_state for e in db.session.scalars(
        sa.select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id))]


def reload(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def test_whole_job_slice_dispatch_print_complete(idle_farm, add_printer, make_job, dispatcher,
                                                 caplog):
    caplog.set_level(logging.DEBUG)
    printer = add_printer(idle_farm[0])
    job = make_job()
    server = idle_farm[0]

    report = dispatcher.tick()
    job = reload(job)
    assert report.sliced == 1 and report.dispatched == 1
    assert job.gcode_sha256 and job.slicer_material_g > 0 and job.slicer_print_time_s > 0
    assert job.slicing["profile"] == "test-fast"
    assert job.printer_id == printer.id and job.attempt == 1
    assert job.remote_filename == f"druckhub-{job.public_id}-a1.gcode"
    assert job.state in ("starting", "printing", "printed")

    tick_until(dispatcher, lambda: reload(job).state == "printed", 60, "job printed")
    job = reload(job)
    assert states(job) == ["received", "approved", "queued", "dispatching", "starting",
                           "printing", "printed"] or states(job) == [
        "received", "approved", "queued", "dispatching", "starting", "printed"]
    assert job.actual_print_time_s is not None and job.actual_print_time_s >= 0
    assert job.finished_at is not None and job.progress_percent == 100.0
    # exactly one successful print of exactly our file, with the G-code we sliced
    info = server.file_info(job.remote_filename)
    assert info["prints"]["success"] == 1 and info["prints"]["failure"] == 0
    assert info["userdata"]["sha256"] == job.gcode_sha256
    assert info["userdata"]["druckhub_job"] == job.public_id
    attempt = db.session.scalar(sa.select(DispatchAttempt).where(DispatchAttempt.job_id == job.id))
    assert attempt.outcome == "printed" and attempt.uploaded_at and attempt.started_at
    # the finished printer waits for a technician
    printer = reload(printer)
    assert printer.state == "bed_to_clear"
    dispatcher.tick()
    assert reload(printer).state == "bed_to_clear"
    printer_admin.confirm_bed_clear(printer, "tech@hub")
    db.session.commit()
    assert reload(printer).state == "available"
    events = db.session.scalars(sa.select(PrinterEvent).where(
        PrinterEvent.printer_id == printer.id).order_by(PrinterEvent.id)).all()
    assert ("bed_to_clear", "available", "tech@hub") in [
        (e.from_state, e.to_state, e.actor) for e in events]
    assert printer.api_key not in caplog.text  # the key is never logged


def test_three_printers_take_three_jobs_in_one_pass(idle_farm, add_printer, make_job, dispatcher):
    printers = [add_printer(s) for s in idle_farm]
    job_list = [make_job() for _ in range(4)]
    dispatcher.startup()
    report = dispatcher.tick()
    assert report.dispatched == 3
    db.session.expire_all()
    placed = [reload(j) for j in job_list]
    used = [j.printer_id for j in placed if j.printer_id]
    assert sorted(used) == sorted(p.id for p in printers)  # one job per printer
    waiting = [j for j in placed if j.printer_id is None]
    assert len(waiting) == 1 and waiting[0].state == "queued"
    tick_until(dispatcher, lambda: sum(reload(j).state == "printed" for j in job_list) == 3, 60,
               "three printed")
    # nothing more goes out while the beds wait to be cleared
    dispatcher.tick()
    assert reload(waiting[0]).state == "queued"
    printer_admin.confirm_bed_clear(reload(printers[1]), "tech@hub")
    db.session.commit()
    tick_until(dispatcher, lambda: reload(waiting[0]).state == "printed", 60, "fourth printed")
    assert reload(waiting[0]).printer_id == printers[1].id


def test_matching_material_colour_and_requested_printer(idle_farm, add_printer, make_job,
                                                        dispatcher):
    black = add_printer(idle_farm[0], colour="Schwarz")
    red = add_printer(idle_farm[1], colour="Rot")
    petg = add_printer(idle_farm[2], material_code="PETG", colour="Schwarz")
    wants_red = make_job(colour="Rot")
    wants_petg = make_job(material_code="PETG")
    wants_black_printer = make_job(requested_printer_id=black.id)
    dispatcher.tick()
    assert reload(wants_red).printer_id == red.id
    assert reload(wants_petg).printer_id == petg.id
    assert reload(wants_black_printer).printer_id == black.id


def test_priority_and_due_date_order(idle_farm, add_printer, make_job, dispatcher):
    from datetime import date

    add_printer(idle_farm[0])
    low = make_job(priority=0, due_date=date(2026, 12, 1))
    urgent = make_job(priority=0, due_date=date(2026, 11, 26))
    high = make_job(priority=5)
    dispatcher.tick()
    assert reload(high).state != "queued" and reload(high).printer_id is not None
    assert reload(urgent).state == "queued" and reload(low).state == "queued"


def test_part_too_big_for_the_bed_goes_to_a_technician(idle_farm, add_printer, make_job,
                                                       dispatcher):
    add_printer(idle_farm[0])
    # 400 mm fits the 250 x 210 mm bed in no orientation (a 300 mm bar does: the quote lays it
    # diagonally, and slicing follows the quote; tests/test_slicing.py)
    job = make_job(stl=box_stl(400, 20, 5))
    dispatcher.tick()
    job = reload(job)
    assert job.state == "needs_attention"
    assert "does not fit" in job.events[-1].reason


def test_slicer_far_from_the_quote_goes_to_a_technician(idle_farm, add_printer, make_job,
                                                        dispatcher):
    dispatcher.settings = replace(dispatcher.settings, slicer_diff_threshold=0.25)
    add_printer(idle_farm[0])
    job = make_job(est_g=5.0, est_s=40)  # the part needs about 0.1 g
    dispatcher.tick()
    job = reload(job)
    assert job.state == "needs_attention"
    assert job.slicer_material_g < 1.0 and job.est_material_g == 5.0
    assert "material" in job.events[-1].reason


def test_printer_up_but_not_connected_is_connected(idle_farm, add_printer, make_job, dispatcher):
    server = idle_farm[0]
    server.disconnect()
    printer = add_printer(server)
    dispatcher.startup()
    assert reload(printer).state == "offline"
    assert "connecting" in reload(printer).state_reason
    wait_for(lambda: server.job()["state"] == "Operational", 20, "connected by the dispatcher")
    job = make_job()
    tick_until(dispatcher, lambda: reload(job).state in ("starting", "printing", "printed"), 30,
               "dispatched after connecting")
    assert reload(printer).state in ("printing", "bed_to_clear")


def test_pause_resume_cancel_from_the_console(idle_farm, add_printer, make_job, dispatcher):
    server = idle_farm[0]
    add_printer(server)
    job = make_job(stl=box_stl(20, 20, 20))  # about 20 s on the virtual printer
    tick_until(dispatcher, lambda: reload(job).state == "printing", 60, "printing")
    job = reload(job)
    control.pause_job(job, "tech@hub")
    db.session.commit()
    wait_for(lambda: server.job()["state"] == "Paused", 20, "paused at OctoPrint")
    dispatcher.tick()
    assert reload(job).state == "paused"
    job = reload(job)
    control.resume_job(job, "tech@hub")
    db.session.commit()
    wait_for(lambda: server.job()["state"] == "Printing", 20, "printing again")
    dispatcher.tick()
    assert reload(job).state == "printing"
    job = reload(job)
    control.cancel_job(job, "tech@hub")
    db.session.commit()
    assert reload(job).state == "cancelling"
    tick_until(dispatcher, lambda: reload(job).state == "cancelled", 30, "cancelled")
    assert reload(job.printer).state == "bed_to_clear"
    assert server.file_info(reload(job).remote_filename)["prints"]["success"] == 0
    with pytest.raises(control.ControlError):
        control.pause_job(reload(job), "tech@hub")


def test_cancel_at_the_printer_goes_to_a_technician(idle_farm, add_printer, make_job, dispatcher):
    server = idle_farm[0]
    add_printer(server)
    job = make_job(stl=box_stl(20, 20, 20))
    tick_until(dispatcher, lambda: reload(job).state == "printing", 60, "printing")
    server.post("/api/job", {"command": "cancel"})
    tick_until(dispatcher, lambda: reload(job).state == "needs_attention", 30, "needs attention")
    job = reload(job)
    assert "cancelled or failed at the printer" in job.events[-1].reason
    for _ in range(3):  # never reprinted automatically
        dispatcher.tick()
    assert reload(job).state == "needs_attention"
    assert [f for f in server.files() if job.public_id in f["name"]] == [
        f for f in server.files() if f["name"] == job.remote_filename]


def test_cancel_of_a_waiting_job_needs_no_printer(app, make_job):
    job = make_job()
    control.cancel_job(job, "tech@hub", reason="Kunde storniert")
    db.session.commit()
    assert reload(job).state == "cancelled"


def test_restart_reconciles_a_job_that_printed_while_no_dispatcher_ran(
        idle_farm, add_printer, make_job, dispatch_settings, app):
    server = idle_farm[0]
    add_printer(server)
    job = make_job()
    first = Dispatcher(app.config)
    first.tick()
    first.close()  # the dispatcher goes away right after the start
    wait_for(lambda: server.file_info(reload(job).remote_filename).get("prints", {}).get(
        "success") == 1, 30,
             "printed at OctoPrint")
    second = Dispatcher(app.config)
    try:
        second.startup()
        second.tick()
        assert reload(job).state == "printed"
        assert server.file_info(reload(job).remote_filename)["prints"]["success"] == 1
    finally:
        second.close()


def test_printers_cli_add_and_list_never_show_keys(app, runner):
    key = "SECRETKEY0123456789ABCDEFGH"
    result = runner.invoke(args=["printers", "add", "Prusa 1", "--url", "http://127.0.0.1:5999",
                                 "--api-key", key, "--profile", "mk3s-pla-0.2mm",
                                 "--material", "pla", "--colour", "orange"])
    assert result.exit_code == 0, result.output
    printer = db.session.scalar(sa.select(Printer).where(Printer.name == "Prusa 1"))
    # the catalogue's entry, whichever way it was typed
    assert (printer.material_code, printer.colour, printer.api_key) == ("PLA", "Orange", key)
    black = runner.invoke(args=["printers", "add", "Prusa 3", "--url", "http://127.0.0.1:5998",
                                "--api-key", key, "--material", "PETG", "--colour", "black"])
    assert black.exit_code == 0, black.output
    assert db.session.scalar(sa.select(Printer.colour).where(Printer.name == "Prusa 3")) == \
        "Schwarz"
    unknown = runner.invoke(args=["printers", "add", "Prusa 4", "--url", "http://127.0.0.1:5997",
                                  "--api-key", key, "--material", "PETG", "--colour", "Rot"])
    assert unknown.exit_code == 2
    assert "colour" in unknown.output and "Schwarz, Weiß, Transparent, Blau" in unknown.output
    listing = runner.invoke(args=["printers", "list"])
    assert "Prusa 1" in listing.output and key not in listing.output
    as_json = runner.invoke(args=["printers", "list", "--json"])
    assert key not in as_json.output and '"state": "unknown"' in as_json.output
    bad = runner.invoke(args=["printers", "add", "Prusa 2", "--url", "ftp://x", "--api-key",
                              "short", "--profile", "nope"])
    assert bad.exit_code == 2
    assert "url" in bad.output and "api_key" in bad.output and "slicer_profile" in bad.output


def test_dispatcher_run_once_cli(idle_farm, add_printer, make_job, dispatch_settings, runner):
    add_printer(idle_farm[0])
    job = make_job()
    result = runner.invoke(args=["dispatcher", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert reload(job).state in ("starting", "printing", "printed")


def test_maintenance_keeps_work_away_until_it_ends(idle_farm, add_printer, make_job, dispatcher):
    printer = add_printer(idle_farm[0])
    printer_admin.set_maintenance(printer, True, "tech@hub", reason="Düse tauschen")
    db.session.commit()
    job = make_job()
    for _ in range(2):
        dispatcher.tick()
    assert reload(printer).state == "maintenance"
    assert reload(job).state == "queued"  # sliced, but not sent to a printer in maintenance
    assert reload(printer).last_status["state_text"] == "Operational"  # still polled
    printer_admin.set_maintenance(reload(printer), False, "tech@hub")
    db.session.commit()
    tick_until(dispatcher, lambda: reload(job).state in ("starting", "printing", "printed"), 30,
               "dispatched after maintenance")
    reasons = [e.reason for e in db.session.scalars(sa.select(PrinterEvent).where(
        PrinterEvent.printer_id == printer.id))]
    assert "Düse tauschen" in reasons


def test_printer_admin_validation(app):
    with pytest.raises(printer_admin.PrinterValidationError) as exc:
        printer_admin.add_printer(name="", url="http://x", api_key="k")
    assert "name" in exc.value.errors
    printer = printer_admin.add_printer(name="P1", url="http://127.0.0.1:5001/",
                                        api_key="ABCDEF0123456789ABCD", nozzle_mm=0.6,
                                        build_x_mm="300", slicer_profile="mk3s-pla-0.2mm")
    db.session.commit()
    assert (printer.url, printer.nozzle_mm, printer.build_x_mm) == (
        "http://127.0.0.1:5001", 0.6, 300.0)
    with pytest.raises(printer_admin.PrinterValidationError) as exc:
        printer_admin.add_printer(name="P1", url="http://127.0.0.1:5002", api_key="A" * 20,
                                  nozzle_mm=0.45, material_code="WOOD", build_z_mm=-1)
    assert set(exc.value.errors) == {"name", "nozzle_mm", "material_code", "build_z_mm"}
    assert printer.colour == "Schwarz"  # the material's first catalogue colour
    printer_admin.update_printer(printer, {"api_key": "", "colour": "weiß"})
    assert printer.api_key == "ABCDEF0123456789ABCD" and printer.colour == "Weiß"
    with pytest.raises(printer_admin.PrinterValidationError) as exc:
        printer_admin.update_printer(printer, {"material_code": "TPU"})  # TPU: no white
    assert set(exc.value.errors) == {"colour"}
    summary = printer_admin.printer_summary(printer)
    assert "api_key" not in summary and "ABCDEF0123456789ABCD" not in str(summary)
    with pytest.raises(printer_admin.BedNotWaitingError):
        printer_admin.confirm_bed_clear(printer, "tech@hub")


def test_queued_job_is_sliced_again_when_printers_change_profile(idle_farm, add_printer,
                                                                  make_job, dispatcher):
    printer = add_printer(idle_farm[0])
    printer_admin.set_maintenance(printer, True, "tech@hub")
    db.session.commit()
    job = make_job()
    dispatcher.tick()
    job = reload(job)
    assert job.state == "queued" and job.slicing["profile"] == "test-fast"
    first_gcode = job.gcode_sha256
    printer = reload(printer)
    printer_admin.update_printer(printer, {"slicer_profile": "mk3s-pla-0.2mm"})
    printer_admin.set_maintenance(printer, False, "tech@hub")
    db.session.commit()
    tick_until(dispatcher, lambda: reload(job).state in ("starting", "printing", "printed"), 30,
               "dispatched with the new profile")
    job = reload(job)
    assert job.slicing["profile"] == "mk3s-pla-0.2mm" and job.gcode_sha256 != first_gcode
    assert "slicing again" in " ".join(e.reason or "" for e in job.events)
