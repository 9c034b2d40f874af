"""Pure dispatch policy: which job on which printer, and what a printer's answer means."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from printers import matching, reconcile
from printers.octoprint import FileInfo, PrinterStatus

pytestmark = pytest.mark.db_independent


def need(job_id, **kw):
    values = dict(material_code="PLA", colour="any", nozzle_mm=0.4, bbox_mm=(20, 20, 20),
                  profile="mk3s", priority=0, due_date=None,
                  queued_at=datetime(2026, 11, 25, 8, job_id % 60))
    values.update(kw)
    return matching.JobNeed(job_id=job_id, **values)


def offer(printer_id, **kw):
    values = dict(name=f"P{printer_id}", material_code="PLA", colour="Schwarz", nozzle_mm=0.4,
                  build_mm=(250, 210, 210), profile="mk3s")
    values.update(kw)
    return matching.PrinterOffer(printer_id=printer_id, **values)


@pytest.mark.parametrize("job_kw,printer_kw,ok", [
    ({}, {}, True),
    ({"material_code": "petg"}, {}, False),
    ({"material_code": "petg"}, {"material_code": "PETG"}, True),
    ({"colour": "Rot"}, {"colour": "Schwarz"}, False),
    ({"colour": "Schwarz"}, {"colour": "Schwarz"}, True),
    # catalogue entries are compared as entries: free text from before the catalogue is not one
    ({"colour": "Schwarz"}, {"colour": "black"}, False),
    ({"colour": "beliebig"}, {"colour": "Orange"}, True),
    ({"colour": "any"}, {"colour": "black"}, True),
    ({"nozzle_mm": 0.6}, {}, False),
    ({"profile": "other"}, {}, False),
    ({"bbox_mm": (251, 10, 10)}, {}, False),
    ({"bbox_mm": (250, 210, 210)}, {}, True),
    ({"bbox_mm": (10, 10, 211)}, {}, False),
    ({"requested_printer_id": 2}, {}, False),
    ({"requested_printer_id": 1}, {}, True),
])
def test_can_print(job_kw, printer_kw, ok):
    assert matching.can_print(need(1, **job_kw), offer(1, **printer_kw)) is ok


@pytest.mark.parametrize("job_kw,printer_kw,reason", [
    ({}, {}, None),
    ({"requested_printer_id": 2, "bbox_mm": (300, 10, 10)}, {}, matching.OTHER_PRINTER),
    ({"bbox_mm": (300, 10, 10), "material_code": "PETG"}, {}, matching.TOO_SMALL),
    ({"material_code": "PETG", "profile": "other"}, {}, matching.OTHER_MATERIAL),
    ({"colour": "Rot", "nozzle_mm": 0.6}, {}, matching.OTHER_MATERIAL),
    ({"nozzle_mm": 0.6}, {}, matching.OTHER_PROFILE),
])
def test_mismatch_names_the_first_obstacle(job_kw, printer_kw, reason):
    assert matching.mismatch(need(1, **job_kw), offer(1, **printer_kw)) == reason


def test_order_priority_then_due_date_then_age():
    jobs = [need(1), need(2, due_date=date(2026, 12, 1)), need(3, due_date=date(2026, 11, 26)),
            need(4, priority=2), need(5, priority=2, due_date=date(2026, 11, 30))]
    assert [j.job_id for j in sorted(jobs, key=matching.job_order_key)] == [5, 4, 3, 2, 1]


def test_assign_one_job_per_printer_smallest_printer_that_fits():
    printers = [offer(1, build_mm=(300, 300, 300)), offer(2), offer(3, colour="Rot")]
    jobs = [need(10, bbox_mm=(280, 50, 50)), need(11), need(12, colour="Rot"), need(13)]
    pairs = dict(matching.assign(jobs, printers))
    assert pairs == {10: 1, 11: 2, 12: 3}  # 13 waits; 11 did not take the big printer


def test_assign_keeps_big_printer_for_big_part_even_if_small_job_is_first():
    printers = [offer(1, build_mm=(300, 300, 300)), offer(2)]
    jobs = [need(1, priority=5), need(2, bbox_mm=(280, 50, 50))]
    assert dict(matching.assign(jobs, printers)) == {1: 2, 2: 1}


def test_assign_nothing_without_printers():
    assert matching.assign([need(1)], []) == []


# --- reconcile.decide --------------------------------------------------------------------------

NAME = "druckhub-abc-a1.gcode"


def status(state="Operational", file=None, completion=None, **flags):
    base = {"operational": True, "printing": state == "Printing", "paused": state == "Paused",
            "ready": state == "Operational", "error": False}
    base.update(flags)
    connection = "Closed" if state in ("Offline", "Closed") else state
    return PrinterStatus(connection=connection, state_text=state,
                         flags={} if connection == "Closed" else base, job_file=file,
                         completion=completion, ports=("VIRTUAL",))


def info(success=0, failure=0, last=None):
    return FileInfo(name=NAME, size=100, sha1="x", userdata={}, prints_success=success,
                    prints_failure=failure, last_success=last, last_print_time_s=3.5)


def decide(state, st, file=None, polls=0, since=0.0):
    return reconcile.decide(state, NAME, st, file, completion_polls=polls, confirm_polls=2,
                            seconds_in_state=since, start_grace_s=20)


@pytest.mark.parametrize("state,st,file,polls,since,action", [
    # no answer: nothing changes, whatever the state
    ("printing", None, None, 0, 0, "none"),
    ("dispatching", None, None, 0, 0, "none"),
    # printing our file
    ("starting", status("Printing", NAME, 5.0), None, 0, 0, "to_printing"),
    ("dispatching", status("Printing", NAME, 5.0), None, 0, 0, "to_printing"),
    ("printing", status("Printing", NAME, 50.0), None, 0, 0, "progress"),
    ("printing", status("Paused", NAME, 50.0), None, 0, 0, "to_paused"),
    ("paused", status("Printing", NAME, 50.0), None, 0, 0, "to_printing"),
    ("cancelling", status("Cancelling", NAME, 50.0, cancelling=True), None, 0, 0, "progress"),
    # finished: confirmed over two polls
    ("printing", status("Operational", NAME, 100.0), info(1, 0, True), 0, 0, "completion_seen"),
    ("printing", status("Operational", NAME, 100.0), info(1, 0, True), 1, 0, "printed"),
    ("printing", status("Operational", NAME, 100.0), None, 1, 0, "printed"),
    ("starting", status("Operational", NAME, 100.0), info(1, 0, True), 1, 0, "printed"),
    ("dispatching", status("Operational", None, None), info(1, 0, True), 1, 0, "printed"),
    # cancelled or failed at the printer, or lost: a technician decides
    ("printing", status("Operational", NAME, None), info(0, 1, False), 0, 0, "needs_attention"),
    ("printing", status("Offline"), None, 0, 0, "needs_attention"),
    ("printing", status("Offline after error"), None, 0, 0, "needs_attention"),
    ("printing", status("Operational", None, None), None, 0, 0, "needs_attention"),
    ("printing", status("Printing", "other.gcode", 3.0), None, 0, 0, "needs_attention"),
    ("cancelling", status("Operational", NAME, None), info(0, 1, False), 0, 0, "cancelled"),
    ("starting", status("Offline"), None, 0, 0, "needs_attention"),
    ("starting", status("Printing", "other.gcode", 3.0), None, 0, 0, "needs_attention"),
    # never started: back to the queue (after the grace period when a start was sent)
    ("dispatching", status("Operational"), None, 0, 0, "requeue"),
    ("dispatching", status("Printing", "other.gcode", 3.0), None, 0, 0, "requeue"),
    ("dispatching", status("Offline"), None, 0, 0, "requeue"),
    ("starting", status("Operational", NAME, None), info(), 0, 5, "none"),
    ("starting", status("Operational", NAME, None), info(), 0, 25, "requeue"),
])
def test_decide(state, st, file, polls, since, action):
    decision = decide(state, st, file, polls, since)
    assert decision.action == action, decision.reason


def test_printed_and_interrupted_leave_the_bed_used():
    assert decide("printing", status("Operational", NAME, 100.0), info(1, 0, True), 1).bed_used
    assert decide("printing", status("Offline")).bed_used
    assert not decide("dispatching", status("Operational")).bed_used


def test_status_flags():
    assert status("Operational").ready and not status("Operational").busy
    assert status("Printing", NAME).busy and not status("Printing", NAME).ready
    assert not status("Offline").connected and not status("Offline").ready
    assert status("Offline after error").errored
    odd = PrinterStatus(connection="Operational", state_text="Transferring file to SD")
    assert odd.busy and not odd.ready  # unknown strings count as busy, never idle
