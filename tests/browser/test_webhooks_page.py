"""A firm's IT sets up a webhook in the browser: account page → Webhooks, the form, the secret,
a delivery sent by the background worker to a real receiver, replayed with the button.

Screenshot: artifacts/screenshots/firm-webhook-endpoint.png
"""

from __future__ import annotations

import re
import time

import pytest
from standardwebhooks.webhooks import Webhook
from test_orders_service import make_quote
from webhook_receiver import WebhookReceiver

from marketplace.extensions import db
from marketplace.webhooks import payloads

pytestmark = pytest.mark.browser


def log_in(page, base_url, email, password):
    page.goto(base_url + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/parts$"))


def wait_for(predicate, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_firm_adds_an_endpoint_and_replays_a_delivery(live_server, browser_page, screenshot,
                                                      make_user):
    user = make_user("firm", password="Druck-2026-sicher")
    page = browser_page
    with WebhookReceiver() as receiver:
        log_in(page, live_server.url, user.email, "Druck-2026-sicher")
        page.goto(live_server.url + "/account")
        page.click("text=Webhooks verwalten")
        page.fill("#hook-url", receiver.url)
        page.check("input[name='hook-events'][value='quote.created']")
        page.fill("#hook-description", "ERP Einkauf")
        page.click("#new-endpoint button[type=submit]")
        page.wait_for_url(re.compile(r"/account/webhooks/[0-9a-f]{32}$"))
        assert "Der Endpunkt ist angelegt" in page.text_content("body")
        page.click("#secret summary")
        secret = page.text_content("[data-secret]").strip()
        assert secret.startswith("whsec_")

        quote = make_quote(firm=user.firm)
        payloads.quote_created(quote)  # what quotes.store emits
        db.session.commit()  # the live server's worker delivers it
        wait_for(lambda: len(receiver.requests) == 1)
        event = Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
        assert event["data"]["quote"]["id"] == quote.public_id

        page.reload()
        page.wait_for_selector("tr[data-state=succeeded]")
        page.click("tr[data-state=succeeded] button:has-text('Erneut senden')")
        page.wait_for_selector("text=Die Nachricht wird erneut gesendet.")
        wait_for(lambda: len(receiver.requests) == 2)
        assert (receiver.requests[1].headers["webhook-id"]
                == receiver.requests[0].headers["webhook-id"])
        # the worker records the delivery just after the receiver answered: reload until the
        # page shows it (bounded; one reload raced the commit once on CI)
        def both_shown():
            page.reload()
            return page.locator("tr[data-state=succeeded]").count() == 2

        wait_for(both_shown)
        screenshot(page, "firm-webhook-endpoint", full_page=True)
    assert page.console_errors == []
