"""The firm follows an order in the browser: the timeline updates itself as technicians and the
dispatcher move the jobs (approval, printing with progress, a rejected piece with its reason).

Screenshot: artifacts/screenshots/firm-06-order-timeline.png
"""

from __future__ import annotations

import re

import pytest
from portal_helpers import store_part

from marketplace import jobs
from marketplace.extensions import db
from marketplace.orders import operations as orders
from marketplace.quotes import operations as quotes

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config):
    return {**app_config, "ORDER_POLL_MS": 300}


def log_in(page, base_url, email, password):
    page.goto(base_url + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/parts$"))


def test_order_timeline_follows_the_jobs(live_server, browser_page, screenshot, make_user):
    user = make_user("firm", password="Druck-2026-sicher")
    part = store_part(user.firm, user)
    quote = quotes.make_quote(part, material_code="PLA", colour="Rot", quantity=2)
    order = orders.place_order(quote, placed_by=user)
    db.session.commit()
    page = browser_page
    log_in(page, live_server.url, user.email, "Druck-2026-sicher")
    page.goto(f"{live_server.url}/orders/{order.public_id}")
    page.wait_for_function("window.__order && window.__order.polls >= 1")
    assert "Auftrag eingegangen" in page.text_content("#timeline")

    a, b = order.jobs
    for job in (a, b):
        jobs.transition(job, "approved", actor="technik@hub.example")
    jobs.transition(a, "queued", actor="dispatcher")
    jobs.transition(a, "dispatching", actor="dispatcher")
    jobs.transition(a, "printing", actor="dispatcher", progress_percent=42.0)
    jobs.transition(b, "needs_attention", actor="dispatcher")
    jobs.transition(b, "cancelled", actor="technik@hub.example",
                    reason="Wand zu dünn für TPU; bitte neu konstruieren")
    db.session.commit()

    page.wait_for_selector("li[data-step=printing] .progress", timeout=15_000)
    timeline = page.text_content("#timeline")
    assert "Im Druck" in timeline and "42" in timeline
    assert "Wand zu dünn für TPU" in timeline
    assert page.get_attribute("li[data-step=printing] .progress", "aria-valuenow") == "42.0"
    screenshot(page, "firm-06-order-timeline", full_page=True)

    jobs.transition(a, "printed", actor="dispatcher", progress_percent=100.0)
    jobs.transition(a, "ready_for_pickup", actor="technik@hub.example")
    db.session.commit()
    page.wait_for_selector("li[data-step=ready_for_pickup].done", timeout=15_000)
    assert page.console_errors == []
