"""A technician's day in headless Chromium: sign in, approve one order, reject another with a
reason, look at the job's 3D view, watch the printers page update without reloading, clear a
bed. Orders come from the portal's own services (upload, quote, order) with a real corpus STL.
Screenshots: artifacts/screenshots/hub_*.png.
"""

from __future__ import annotations

import base64
import io
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from marketplace.extensions import db
from marketplace.hubqueue.dashboard import week_window
from marketplace.jobs import transition
from marketplace.models import JobEvent, Printer, PrintJob, utcnow
from marketplace.orders import operations as orders
from marketplace.parts import operations as parts
from marketplace.quotes import operations as quotes
from tests.hub_factories import make_order, make_printer

PASSWORD = "pw-12345678"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "HUB_POLL_MS": 500, "HUB_QUEUE_POLL_MS": 500}


def _order(firm, user, corpus, name, filename, quantity):
    data = (corpus / "models" / name).read_bytes()
    part = parts.store_upload(firm, user, filename, data, queue=False)
    db.session.commit()
    parts.analyse(part.id)  # here, not by the live server's worker: the test needs it now
    quote = quotes.make_quote(part, material_code="PLA", quantity=quantity)
    return orders.place_order(quote, placed_by=user)


@pytest.fixture
def day(app, make_user, corpus):
    firm_user = make_user("firm", firm_name="Lüneburger Feinmechanik GmbH")
    tech = make_user("technician", email="technik@druckhub.de", password=PASSWORD)
    first = _order(firm_user.firm, firm_user, corpus, "originalpr__plug_aligner.stl",
                   "distanzstueck.stl", 2)
    second = _order(firm_user.firm, firm_user, corpus, "prusaslice__20mmbox_CRLF.stl",
                    "stecker.stl", 1)
    idle = make_printer("MK3S-01", state="bed_to_clear", last_seen_at=utcnow(),
                        last_status={"state_text": "Operational", "temperatures": {
                            "tool0": {"actual": 31.0, "target": 0.0},
                            "bed": {"actual": 28.0, "target": 0.0}}})
    busy = make_printer("MK3S-02", state="printing", last_seen_at=utcnow(),
                        last_status={"state_text": "Printing", "temperatures": {
                            "tool0": {"actual": 214.0, "target": 215.0},
                            "bed": {"actual": 60.0, "target": 60.0}}})
    running = _order(firm_user.firm, firm_user, corpus, "prusaslice__20mmbox_CRLF.stl",
                     "abdeckung.stl", 1).jobs[0]
    for state in ("approved", "queued", "dispatching"):
        transition(running, state, actor="dispatcher")
    transition(running, "printing", actor="dispatcher", printer_id=busy.id,
               progress_percent=37.0, started_at=utcnow())
    db.session.commit()
    return {"tech": tech, "first": first, "second": second, "idle": idle, "busy": busy,
            "running": running}


def _login(page, base, email):
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/hub/**")


def _job_states(order_id):
    db.session.expire_all()
    return sorted(db.session.scalars(
        sa.select(PrintJob.state).where(PrintJob.order_id == order_id)).all())


def _canvas_is_drawn(page) -> bool:
    from PIL import Image

    data_url = page.evaluate("window.__viewer.snapshot()")
    image = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")
    colours = image.getcolors(maxcolors=1_000_000) or []
    return len(colours) > 10


def test_technician_approves_rejects_and_watches_printers(live_server, browser_page, day,
                                                          screenshot, corpus):
    page, base = browser_page, live_server.url
    first, second = day["first"], day["second"]
    _login(page, base, "technik@druckhub.de")

    # the queue opens on the orders awaiting approval, both of them
    page.goto(f"{base}/hub/")
    rows = page.locator("table[data-queue=approval] tbody tr")
    assert rows.count() == 2
    assert page.locator(f'tr[data-order="{first.public_id}"]').inner_text().count("2") >= 1
    screenshot(page, "hub_queue_approval", full_page=True)

    # a new order arrives while the page is open: the page says so (no reload)
    page.evaluate("window.__notReloaded = true")
    third = _order(first.firm, None, corpus, "prusaslice__20mmbox_CRLF.stl", "lasche.stl", 1)
    db.session.commit()
    page.locator("[data-queue-changed]").wait_for(state="visible", timeout=10_000)
    assert page.evaluate("window.__notReloaded") is True
    page.locator("[data-queue-changed] a").click()
    page.wait_for_selector(f'tr[data-order="{third.public_id}"]')
    orders.approve_order(third, "chef@druckhub.de")  # out of the way for the rest of the test
    db.session.commit()

    # approve the first order: both of its pieces
    page.locator(f'tr[data-order="{first.public_id}"] button[data-approve]').click()
    page.wait_for_selector(".flash-success")
    assert "freigegeben" in page.locator(".flash-success").inner_text()
    assert page.locator(f'tr[data-order="{first.public_id}"]').count() == 0
    assert _job_states(first.id) == ["approved", "approved"]

    # reject the second with a reason, in the dialog
    page.locator(f'tr[data-order="{second.public_id}"] [data-reject]').click()
    dialog = page.locator("#reject-dialog")
    dialog.wait_for(state="visible")
    dialog.locator("textarea").fill("Die Wandstärke ist an zwei Stellen unter 0,4 mm.")
    screenshot(page, "hub_reject_dialog")
    dialog.locator("[data-confirm-reject]").click()
    page.wait_for_selector(".flash-success")
    assert "abgelehnt" in page.locator(".flash-success").inner_text()
    assert page.locator("[data-empty]").count() == 1
    assert _job_states(second.id) == ["rejected"]
    event = db.session.scalar(sa.select(JobEvent).where(JobEvent.to_state == "rejected"))
    assert event.actor == "technik@druckhub.de"
    assert event.reason == "Die Wandstärke ist an zwei Stellen unter 0,4 mm."

    # the approved order in its tab, then its job page with the 3D view
    page.goto(f"{base}/hub/?tab=queued")
    page.locator(f'tr[data-order="{first.public_id}"] a').first.click()
    page.wait_for_function("window.__viewer && (window.__viewer.ready || window.__viewer.error)")
    assert page.evaluate("window.__viewer.error") is None
    assert page.evaluate("window.__viewer.triangles") > 0
    assert _canvas_is_drawn(page)
    screenshot(page, "hub_job_page", full_page=True)

    # printers page: the busy printer's card follows the database without a reload
    page.goto(f"{base}/hub/printers")
    page.evaluate("window.__notReloaded = true")
    busy_card = page.locator(f'[data-printer="{day["busy"].public_id}"]')
    assert "214,0" in busy_card.inner_text() and "37,0" in busy_card.inner_text()
    assert "abdeckung.stl" in busy_card.inner_text()
    screenshot(page, "hub_printers_before", full_page=True)
    busy = db.session.get(Printer, day["busy"].id)
    busy.last_status = {**busy.last_status, "temperatures": {
        "tool0": {"actual": 215.0, "target": 215.0}, "bed": {"actual": 60.0, "target": 60.0}}}
    db.session.get(PrintJob, day["running"].id).progress_percent = 64.5
    db.session.commit()
    page.wait_for_function(
        "id => document.querySelector(`[data-printer=\"${id}\"]`).innerText.includes('64,5')",
        arg=day["busy"].public_id, timeout=10_000)
    assert "215,0" in busy_card.inner_text()
    screenshot(page, "hub_printers_live_update", full_page=True)

    # "Neu drucken" open, a cause chosen: the polls leave the card alone until it is closed
    reprint = busy_card.locator("[data-reprint]")
    reprint.locator("summary").click()
    busy_card.locator("[data-reprint-cause]").select_option("adhesion")
    screenshot(page, "hub_printers_reprint_cause")
    polls = page.evaluate("window.__board.polls")
    db.session.get(PrintJob, day["running"].id).progress_percent = 70.0
    db.session.commit()
    page.wait_for_function(f"window.__board.polls >= {polls + 2}", timeout=15_000)
    assert reprint.get_attribute("open") is not None
    assert busy_card.locator("[data-reprint-cause]").input_value() == "adhesion"
    assert "70,0" not in busy_card.inner_text()
    reprint.locator("summary").click()  # closed: the next poll brings the card up to date
    page.wait_for_function(
        "id => document.querySelector(`[data-printer=\"${id}\"]`).innerText.includes('70,0')",
        arg=day["busy"].public_id, timeout=10_000)
    busy = db.session.get(Printer, day["busy"].id)
    busy.state, busy.state_reason = "offline", "keine Antwort seit 30 s"
    db.session.commit()
    page.wait_for_function(
        "id => document.querySelector(`[data-printer=\"${id}\"]`).dataset.state === 'offline'",
        arg=day["busy"].public_id, timeout=10_000)
    assert "Nicht erreichbar" in busy_card.inner_text()
    assert page.evaluate("window.__notReloaded") is True
    assert page.evaluate("window.__board.polls") >= 1

    # confirm that MK3S-01's bed is clear
    page.locator(f'[data-printer="{day["idle"].public_id}"] [data-bed-clear]').click()
    page.wait_for_selector(".flash-success")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        db.session.expire_all()
        if db.session.get(Printer, day["idle"].id).state == "available":
            break
        time.sleep(0.05)
    assert db.session.get(Printer, day["idle"].id).state == "available"
    assert page.locator(f'[data-printer="{day["idle"].public_id}"]').get_attribute(
        "data-state") == "available"
    screenshot(page, "hub_printers_after", full_page=True)
    assert page.console_errors == []


def test_dashboard_and_settings_render_for_an_admin(live_server, browser_page, make_user,
                                                    screenshot):
    make_user("admin", email="chef@druckhub.de", password=PASSWORD)
    printers = [make_printer("MK3S-01"), make_printer("MK3S-02"), make_printer("MK4-01")]
    now = utcnow()
    start, _end, days = week_window(now, "Europe/Berlin")
    printed = [3, 5, 2, 6, 4, 1, 3]  # pieces printed per local day of the last 7 days
    for d, n in enumerate(printed):
        day_start = start + timedelta(days=d)  # (a DST change would shift it by an hour)
        span = min(timedelta(hours=23), now - day_start)
        for i in range(n):
            job = make_order().jobs[0]
            job.printer_id = printers[i % 2].id  # MK4-01 stays idle
            job.slicer_print_time_s = int(job.est_print_time_s * (1.0 + 0.03 * i))
            job.actual_print_time_s = int(job.slicer_print_time_s * 1.05)
            end = day_start + span * (i + 1) / (n + 1)
            db.session.add_all([
                JobEvent(job_id=job.id, at=end - timedelta(hours=2), actor="dispatcher",
                         from_state="starting", to_state="printing"),
                JobEvent(job_id=job.id, at=end, actor="dispatcher", from_state="printing",
                         to_state="printed")])
    db.session.commit()
    page, base = browser_page, live_server.url
    _login(page, base, "chef@druckhub.de")
    page.goto(f"{base}/hub/dashboard")
    assert page.locator("svg[data-chart=throughput] rect.bar").count() == 7
    assert page.locator("[data-kpi=printed]").inner_text() == str(sum(printed))
    assert page.locator("svg[data-chart=utilisation] rect.bar").count() == 3
    assert page.locator("[data-ratio=actual_vs_slicer]").inner_text() == "1,05"
    screenshot(page, "hub_dashboard", full_page=True)
    page.goto(f"{base}/hub/settings")
    row = page.locator('tr[data-material="PLA"]')
    row.locator("input[name=price_eur_per_kg]").fill("42,00")
    row.locator("button[type=submit]").click()
    page.wait_for_selector(".flash-success")
    assert page.locator('tr[data-material="PLA"] input[name=price_eur_per_kg]').input_value() \
        == "42,00"
    screenshot(page, "hub_settings", full_page=True)
    assert page.console_errors == []
