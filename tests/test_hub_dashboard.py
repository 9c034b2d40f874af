"""Dashboard: throughput per day and utilisation per printer from the event log (golden)."""

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from marketplace.extensions import db
from marketplace.hubqueue import dashboard as dash
from marketplace.models import JobEvent, PrintJob
from tests.hub_factories import make_order, make_printer

NOW = datetime(2026, 11, 25, 12, 0)  # naive UTC, 13:00 in Berlin


def _job_on(printer, events):
    job = make_order().jobs[0]
    job.printer_id = printer.id
    prev = "queued"
    for at, to in events:
        db.session.add(JobEvent(job_id=job.id, at=at, actor="dispatcher", from_state=prev,
                                to_state=to))
        prev = to
    db.session.flush()
    return job


@pytest.fixture
def history(app):
    p1, p2 = make_printer("P1"), make_printer("P2")
    _job_on(p1, [(datetime(2026, 11, 24, 8), "printing"), (datetime(2026, 11, 24, 10), "printed")])
    # started before the window (window opens 19.11. 00:00 Berlin = 18.11. 23:00 UTC)
    _job_on(p1, [(datetime(2026, 11, 18, 20), "printing"), (datetime(2026, 11, 19, 1), "printed")])
    _job_on(p2, [(datetime(2026, 11, 25, 10), "printing"),
                 (datetime(2026, 11, 25, 10, 30), "paused"),
                 (datetime(2026, 11, 25, 11), "printing")])  # still printing at NOW
    _job_on(p2, [(datetime(2026, 11, 25, 6), "printing"),
                 (datetime(2026, 11, 25, 7), "needs_attention")])
    db.session.commit()
    return p1, p2


def test_throughput_per_local_day(history):
    days = dash.throughput(NOW, "Europe/Berlin")
    assert [d.day for d in days][0] == date(2026, 11, 19) and days[-1].day == date(2026, 11, 25)
    assert {d.day: (d.printed, d.failed) for d in days if d.printed or d.failed} == {
        date(2026, 11, 19): (1, 0), date(2026, 11, 24): (1, 0), date(2026, 11, 25): (0, 1)}


def test_utilisation_per_printer(history):
    window_h = 157.0  # 18.11. 23:00 UTC .. 25.11. 12:00 UTC
    usage = {u.printer.name: u for u in dash.utilisation(NOW, "Europe/Berlin")}
    assert usage["P1"].busy_s == 4 * 3600 and usage["P1"].jobs == 2
    assert usage["P2"].busy_s == 2.5 * 3600 and usage["P2"].jobs == 2
    assert usage["P1"].share == pytest.approx(4 / window_h)
    assert usage["P2"].share == pytest.approx(2.5 / window_h)


def test_estimate_accuracy(history):
    jobs = db.session.scalars(sa.select(PrintJob).order_by(PrintJob.id)).all()
    # the two printed pieces: quote 3600 s each (factory default)
    jobs[0].slicer_print_time_s, jobs[0].actual_print_time_s = 4000, 4400
    jobs[1].slicer_print_time_s, jobs[1].actual_print_time_s = 3000, 3300
    jobs[2].actual_print_time_s = 9999  # still printing: not counted
    db.session.commit()
    acc = dash.estimate_accuracy(NOW, "Europe/Berlin")
    assert acc.pieces == 2
    assert acc.slicer_vs_quote == pytest.approx((4000 / 3600 + 3000 / 3600) / 2)
    assert acc.actual_vs_quote == pytest.approx((4400 / 3600 + 3300 / 3600) / 2)
    assert acc.actual_vs_slicer == pytest.approx(1.1)


def test_backlog(app):
    make_printer("A")
    make_printer("B", state="maintenance")
    make_printer("C", state="printing")
    make_order(quantity=3, print_time_s=3600)
    sliced = make_order(quantity=1, print_time_s=3600).jobs[0]
    sliced.slicer_print_time_s = 5400  # the slicer's time wins over the quote's
    db.session.commit()
    b = dash.backlog()
    assert (b.pieces, b.print_time_s, b.working_printers) == (4, 3 * 3600 + 5400, 2)
    assert b.per_printer_s == (3 * 3600 + 5400) / 2


@pytest.mark.db_independent
def test_bar_chart_geometry():
    chart = dash.bar_chart([0, 5, 10], width=300, height=120, pad=20)
    bars = chart["bars"]
    assert [b["h"] for b in bars] == [0.0, 40.0, 80.0]
    assert bars[2]["y"] == 20.0 and bars[0]["y"] == 100.0 == chart["baseline"]
    assert bars[1]["x"] - bars[0]["x"] == pytest.approx(260 / 3, abs=0.1)
    shares = dash.bar_chart([0.5, 1.5], max_value=1.0, height=120, pad=20)
    assert [b["h"] for b in shares["bars"]] == [40.0, 80.0]  # clipped at the top


def test_dashboard_page_draws_the_charts(history, client, make_user, login_as):
    login_as(make_user("technician"))
    html = client.get("/hub/dashboard").get_data(True)
    assert html.count('<rect class="bar"') == 7 + 2
    assert 'data-chart="throughput"' in html and 'data-usage="P1"' in html
    title = html[html.index("<title>") + len("<title>"):html.index("</title>")]
    assert "<" not in title and title.startswith("Übersicht")
    assert html.count("data-accuracy") == 1  # the accuracy card once, in the page body
