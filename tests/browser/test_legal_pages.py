"""A visitor finds the hub's legal pages from the footer of the start page (Impressum,
Datenschutz, AGB) in Chromium, on a desktop and on a phone.

Screenshots: artifacts/screenshots/legal-terms.png, legal-imprint-390.png
"""

from __future__ import annotations

import pytest
from invoice_helpers import complete_legal_details

from marketplace.accounts.demo import DEMO_PRIVACY, DEMO_TERMS
from marketplace.extensions import db
from marketplace.settings import operations as settings

pytestmark = pytest.mark.browser


def test_a_visitor_reaches_the_legal_pages_from_the_footer(live_server, browser_page,
                                                            screenshot):
    with live_server.app.app_context():
        complete_legal_details()
        settings.set_legal_texts({"terms": DEMO_TERMS, "privacy": DEMO_PRIVACY})
        db.session.commit()
    page = browser_page
    page.goto(live_server.url + "/")
    page.click(".site-footer >> text=AGB")
    page.wait_for_url("**/agb")
    assert page.text_content("h1") == "Allgemeine Geschäftsbedingungen"
    assert page.locator("#legal-text h2").count() >= 5  # "## § 1 ..." became headings
    assert "Fassung vom" in page.text_content("#legal-since")
    screenshot(page, "legal-terms")
    page.click(".site-footer >> text=Datenschutz")
    page.wait_for_url("**/datenschutz")
    assert "DSGVO" in page.text_content("#legal-text")
    page.set_viewport_size({"width": 390, "height": 800})
    page.click(".site-footer >> text=Impressum")
    page.wait_for_url("**/impressum")
    text = page.text_content("#imprint")
    assert "Registernummer: HRB 123456" in text and "DE136695976" in text
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the imprint scrolls sideways on a phone ({width} px)"
    screenshot(page, "legal-imprint-390")
    assert page.console_errors == []
