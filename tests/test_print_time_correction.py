"""Real print times teach the plan: the per-printer correction (golden numbers), how planning
uses it, and the figures the technicians' dashboard shows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from marketplace.extensions import db
from marketplace.jobs import transition
from marketplace.scheduling import live
from marketplace.scheduling.correction import NONE, Correction, correction, printer_corrections
from marketplace.scheduling.planning import DEFAULT_OPENING_HOURS as HOURS
from marketplace.scheduling.planning import PrinterSlot, WorkItem, plan_finish
from tests.hub_factories import make_order, make_printer

WED_10 = datetime(2026, 11, 25, 10, tzinfo=HOURS.tz)


@pytest.mark.db_independent
@pytest.mark.parametrize("pairs,expected", [
    # ratios 1.1, 1.2, 1.05, 0.9, 1.2 -> median 1.1, five prints: in force
    ([(1000, 1100), (1000, 1200), (2000, 2100), (1000, 900), (500, 600)],
     Correction(1.1, 1.1, 5, True, False)),
    # four prints: the median is shown, planning keeps 1
    ([(1000, 1100), (1000, 1200), (2000, 2100), (1000, 900)],
     Correction(1.0, 1.075, 4, False, False)),  # (1.05 + 1.1) / 2
    # even count: the mean of the middle two (1.2 and 1.3)
    ([(100, 100), (100, 110), (100, 120), (100, 130), (100, 140), (100, 150)],
     Correction(1.25, 1.25, 6, True, False)),
    # one print paused for a night does not move the median
    ([(3600, 3960)] * 6 + [(3600, 36000)], Correction(1.1, 1.1, 7, True, False)),
    # bounded: twice the slicer's time plans with 1.5, a virtual printer's 3 % with 0.8
    ([(600, 1200)] * 5, Correction(1.5, 2.0, 5, True, True)),
    ([(600, 18)] * 5, Correction(0.8, 0.03, 5, True, True)),
    # pairs without both times are skipped
    ([(None, 100), (0, 100), (100, None), (100, 0)], NONE),
    ([], NONE),
])
def test_correction_golden(pairs, expected):
    got = correction(pairs)
    assert got.factor == pytest.approx(expected.factor)
    assert (got.ratio is None) == (expected.ratio is None)
    if expected.ratio is not None:
        assert got.ratio == pytest.approx(expected.ratio)
    assert (got.prints, got.active, got.bounded) == (expected.prints, expected.active,
                                                     expected.bounded)


@pytest.mark.db_independent
def test_only_the_newest_prints_count():
    newest_first = [(1000, 1200)] * 20 + [(1000, 3000)] * 30
    assert correction(newest_first).factor == pytest.approx(1.2)
    assert correction(newest_first, window=50).factor == pytest.approx(1.5)  # 3.0, bounded
    assert correction([(1000, 1300)] * 3, min_prints=3).factor == pytest.approx(1.3)


@pytest.mark.db_independent
def test_planning_stretches_each_printers_time_by_its_factor():
    # a 4 h piece from Wednesday 10:00 on a bed-clear printer: 14:00; 25 % slower: 15:00
    item = WorkItem(4 * 3600, "PLA")
    plain = PrinterSlot(1, (250, 210, 210), "PLA", "Schwarz", WED_10, True)
    slow = PrinterSlot(1, (250, 210, 210), "PLA", "Schwarz", WED_10, True, time_factor=1.25)
    assert plan_finish([plain], [], item, 1, HOURS) == WED_10 + timedelta(hours=4)
    assert plan_finish([slow], [], item, 1, HOURS) == WED_10 + timedelta(hours=5)
    # of two free printers the piece goes to the one that really finishes first
    fast = PrinterSlot(2, (250, 210, 210), "PLA", "Schwarz", WED_10, True, time_factor=0.9)
    assert plan_finish([slow, fast], [], item, 1, HOURS) == WED_10 + timedelta(hours=3.6)


def _printed(printer, slicer_s, real_s, finished_at, state="printed", quote_s=None):
    job = make_order(print_time_s=quote_s or slicer_s).jobs[0]
    for to in ("approved", "queued", "dispatching", "printing"):
        transition(job, to, actor="test")
    transition(job, "printed", actor="dispatcher", printer_id=printer.id,
               slicer_print_time_s=slicer_s, actual_print_time_s=real_s,
               started_at=finished_at - timedelta(seconds=real_s), finished_at=finished_at)
    if state != "printed":
        transition(job, state, actor="test")
    return job


def test_printer_corrections_read_each_printers_newest_finished_prints(app):
    slow, fast, new = make_printer("Slow"), make_printer("Fast"), make_printer("New")
    t0 = datetime(2026, 11, 1, 8)
    for i in range(6):  # older prints of "Slow" were quicker; its newest 5 are 1.2 x slicer
        _printed(slow, 3600, 3000, t0 + timedelta(hours=i))
    for i in range(5):
        _printed(slow, 3600, 4320, t0 + timedelta(days=1, hours=i),
                 state="ready_for_pickup" if i % 2 else "printed")
    for i in range(5):
        _printed(fast, 1000, 900, t0 + timedelta(hours=i))
    _printed(new, 1000, 1400, t0)
    unsure = make_order().jobs[0]  # no real time: not counted
    transition(unsure, "approved", actor="test")
    db.session.commit()
    got = printer_corrections(db.session, window=5)
    assert got[slow.id].factor == pytest.approx(1.2) and got[slow.id].prints == 5
    assert got[fast.id].factor == pytest.approx(0.9)
    assert got[new.id].factor == 1.0 and got[new.id].ratio == pytest.approx(1.4)
    assert not got[new.id].active
    # all 11 prints: the middle one of 6 x 0.83 and 5 x 1.2
    assert printer_corrections(db.session)[slow.id].ratio == pytest.approx(3000 / 3600)


def test_delivery_dates_follow_the_printers_real_times(app):
    """A printer whose prints take 1.5 x the slicer's time moves a promised date."""
    printer = make_printer("Only")
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)  # Wednesday 10:00 in Berlin
    kw = dict(print_time_s=7 * 3600, quantity=1, material_code="PLA", colour="any",
              bbox_mm=(10, 10, 10), now=now)
    # 10:00 + 7 h = 17:00, taken off Wednesday: ready Thursday
    assert live.estimate_delivery(db.session, **kw) == date(2026, 11, 26)
    for i in range(5):
        _printed(printer, 3600, 5400, datetime(2026, 11, 20, 8) + timedelta(hours=2 * i))
    db.session.commit()
    printer.state = "available"
    db.session.commit()
    # now 10.5 h: 20:30, taken off Thursday morning: ready Friday
    assert live.estimate_delivery(db.session, **kw) == date(2026, 11, 27)


@pytest.mark.db_independent
def test_line_chart_geometry():
    from marketplace.hubqueue.dashboard import line_chart

    chart = line_chart({"a": [1.0, None, 1.5, 0.5], "b": [None, None, None, 1.0]}, width=330,
                       height=120, pad=15)
    # x every 100 units from 15; y: 1.5 at the top (15), 0.5 at the bottom (105), 1.0 at 60
    assert chart["xs"] == [15.0, 115.0, 215.0, 315.0]
    assert (chart["top_y"], chart["reference_y"], chart["bottom_y"]) == (15.0, 60.0, 105.0)
    assert chart["lines"]["a"]["segments"] == ["215.0,15.0 315.0,105.0"]  # the gap splits it
    assert [d["y"] for d in chart["lines"]["a"]["dots"]] == [60.0, 15.0, 105.0]
    assert chart["lines"]["b"]["segments"] == [] and len(chart["lines"]["b"]["dots"]) == 1
    wide = line_chart({"a": [2.5, 1.0]}, height=120, pad=10)
    assert wide["high"] == 2.5 and wide["lines"]["a"]["dots"][0]["y"] == 10.0


def test_dashboard_shows_quote_slicer_and_real_per_printer_and_week(app, client, make_user,
                                                                     login_as):
    from marketplace.models import utcnow

    steady, new = make_printer("MK3S-A"), make_printer("MK3S-B")
    now = utcnow()
    for i in range(5):  # quote 3600 s, slicer 4000 s, real 4800 s: 1.2 x the slicer's
        _printed(steady, 4000, 4800, now - timedelta(days=14, hours=i), quote_s=3600)
    _printed(new, 3000, 2700, now - timedelta(hours=1))
    db.session.commit()
    login_as(make_user("technician"))
    html = client.get("/hub/dashboard").get_data(True)
    section = html[html.index("data-print-times>"):]
    section = section[:section.index("</section>")]
    row = section[section.index('data-printer-time="MK3S-A"'):]
    row = row[:row.index("</tr>")]
    cells = [c.split("<")[0] for c in row.split('<td class="num"')[1:]]
    # pieces, quote, slicer, real (5 x 1 h, 1 h 6 min 40 s, 1 h 20 min), then the ratios
    assert cells[0] == ">5" and cells[4:7] == [">1,11", ">1,33", ">1,20"]
    assert 'data-correction="1.20"' in row and "× 1,20" in row
    row = section[section.index('data-printer-time="MK3S-B"'):]
    row = row[:row.index("</tr>")]
    assert 'data-correction="1.00"' in row and "noch keine (1 von 5 Drucken)" in row
    assert ">0,90<" in row  # 2700 / 3000
    # over time: eight weeks, with points in the weeks that had prints
    svg = section[section.index('data-chart="print-times"'):section.index("</svg>")]
    dots = svg[svg.index('data-series="actual_vs_slicer"'):].split("</g>")[0]
    local = [(now - timedelta(days=14, hours=i)).replace(tzinfo=UTC).astimezone(HOURS.tz)
             for i in range(5)]
    weeks = {t.date() - timedelta(days=t.weekday()) for t in local}
    assert dots.count("<circle") == len(weeks) + 1 and "<title>1,20</title>" in dots
    assert "<title>0,90</title>" in dots
    assert section.count("<tr><td>") >= 8  # a row per week
    # and per printer: its real / slicer time in each week it printed
    per_printer = section[section.index('data-chart="printer-weeks"'):]
    per_printer = per_printer[:per_printer.index("</svg>")]
    a = per_printer[per_printer.index('data-series="MK3S-A"'):].split("</g>")[0]
    b = per_printer[per_printer.index('data-series="MK3S-B"'):].split("</g>")[0]
    assert a.count("<circle") == len(weeks) and "<title>MK3S-A: 1,20</title>" in a
    assert b.count("<circle") == 1 and "<title>MK3S-B: 0,90</title>" in b
