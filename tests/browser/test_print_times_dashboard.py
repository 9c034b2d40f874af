"""The technicians' dashboard in headless Chromium: why pieces wait, and quote vs slicer vs real
print time per printer and per week, drawn as inline SVG under the app's strict CSP.
Screenshot: artifacts/screenshots/hub_print_times.png."""

from __future__ import annotations

from datetime import timedelta

import pytest

from marketplace.extensions import db
from marketplace.jobs import transition
from marketplace.models import utcnow
from tests.hub_factories import make_order, make_printer

PASSWORD = "pw-12345678"


def _printed(printer, quote_s, slicer_s, real_s, finished_at):
    job = make_order(print_time_s=quote_s).jobs[0]
    for to in ("approved", "queued", "dispatching", "printing"):
        transition(job, to, actor="test")
    transition(job, "printed", actor="dispatcher", printer_id=printer.id,
               slicer_print_time_s=slicer_s, actual_print_time_s=real_s,
               started_at=finished_at - timedelta(seconds=real_s), finished_at=finished_at)


def test_print_times_and_waiting_reasons_on_the_dashboard(live_server, browser_page, make_user,
                                                          screenshot):
    make_user("technician", email="technik@druckhub.de", password=PASSWORD)
    slow = make_printer("MK3S-01", state="printing")
    quick = make_printer("MK3S-02", material_code="PETG", colour="black")
    now = utcnow()
    for week in range(6):  # one print a week on MK3S-01, slowly drifting; two on MK3S-02
        _printed(slow, 3600, 3800, int(3800 * (1.05 + 0.03 * week)),
                 now - timedelta(weeks=week, hours=1))
        if week < 2:
            _printed(quick, 3600, 3500, 3300, now - timedelta(weeks=week, hours=2))
    waiting = make_order(quantity=2, material_code="PETG", colour="Schwarz")
    for job in waiting.jobs:
        transition(job, "approved", actor="test")
    db.session.commit()

    page, base = browser_page, live_server.url
    page.goto(f"{base}/login")
    page.fill("#email", "technik@druckhub.de")
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/hub/**")
    page.goto(f"{base}/hub/dashboard")
    reason = page.locator('[data-waiting-reason="no_material"]')
    assert reason.inner_text().split("\t") == ["Kein Drucker hat PETG Schwarz geladen", "2"]
    # 6 prints of MK3S-01: correction in force, the median of 1.05 .. 1.20 (about 1.125)
    row = page.locator('[data-printer-time="MK3S-01"]')
    factor = float(row.locator("[data-correction]").get_attribute("data-correction"))
    assert factor == pytest.approx(1.125, abs=0.006)
    assert "noch keine (2 von 5 Drucken)" in page.locator(
        '[data-printer-time="MK3S-02"]').inner_text()
    line = page.locator('svg[data-chart="print-times"] [data-series="actual_vs_slicer"] polyline')
    assert line.count() >= 1
    box = line.first.bounding_box()
    assert box is not None and box["width"] > 200  # drawn across the weeks
    stroke = line.first.evaluate("e => getComputedStyle(e).stroke")
    assert stroke not in ("", "none")  # styled by the stylesheet, no inline style needed
    per_printer = page.locator('svg[data-chart="printer-weeks"] g.series')
    assert per_printer.count() == 2
    assert per_printer.nth(0).locator("circle").count() == 6
    assert per_printer.nth(1).locator("circle").count() == 2
    screenshot(page, "hub_print_times", full_page=True)
    assert page.console_errors == []  # no CSP violation, no script error
