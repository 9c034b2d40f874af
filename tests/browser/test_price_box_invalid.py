"""The part page's price box in Chromium when the server refuses the options (400): the last
good price and date do not stay on show, the message stands at the top of the price box and the
field it names is marked (aria-invalid, red border) until a valid value brings the price back.

Screenshots: artifacts/screenshots/price-invalid-quantity.png, price-invalid-infill.png
"""

from __future__ import annotations

import pytest
from portal_helpers import store_part

from browser.test_firm_orders import log_in
from marketplace.extensions import db
from tests.hub_factories import make_printer

pytestmark = pytest.mark.browser
PASSWORD = "Druck-2026-sicher"
FIGURES = ["#price-gross", "#price-net", "#price-vat", "#delivery-date", "#est-grams",
           "#est-time"]


def _answered(page, n):
    page.wait_for_function(f"__price.answers >= {n} && !__price.error")


def _refused(page, field, value):
    page.fill(f"#{field}", value)
    page.wait_for_function("__price.error !== null")
    page.wait_for_function("!document.getElementById('price-box').classList.contains('loading')")


def _marked(page, field) -> bool:
    return (page.get_attribute(f"#{field}", "aria-invalid") == "true"
            and page.evaluate(f"document.getElementById('{field}').closest('.field')"
                              ".classList.contains('has-error')"))


def _priced_part_page(live_server, page, make_user):
    """A firm's part page, signed in, with its first price on show (a printer in service)."""
    make_printer()
    db.session.commit()
    user = make_user("firm", password=PASSWORD)
    part = store_part(user.firm, user)
    log_in(page, live_server.url, user.email, PASSWORD)
    page.goto(f"{live_server.url}/parts/{part.public_id}")
    _answered(page, 1)
    return page


def test_refused_options_clear_the_price_and_mark_the_field(live_server, browser_page,
                                                            screenshot, make_user):
    page = _priced_part_page(live_server, browser_page, make_user)
    good = page.text_content("#price-gross")
    assert "€" in good and page.text_content("#delivery-date") != "–"

    answers = 1
    for field, value in [("quantity", "1000000"), ("quantity", "0"), ("quantity", "2.5"),
                         ("quantity", ""), ("infill", "-10"), ("infill", "150")]:
        _refused(page, field, value)
        for sel in FIGURES:
            assert page.text_content(sel) == "–", (field, value, sel)
        assert page.locator("#price-lines tr").count() == 0
        for note in ("#delivery-note", "#printer-class-note", "#supports-warning"):
            assert page.is_hidden(note), note  # notes of the last good answer go too
        error = page.locator("#price-error")
        assert error.is_visible() and error.text_content().strip()
        # the message is in the price box, above the (cleared) total, not below everything
        box = page.locator("#price-box").bounding_box()
        where = error.bounding_box()
        assert box["y"] <= where["y"] < page.locator("#price-gross").bounding_box()["y"]
        assert _marked(page, field), (field, value)
        other = "infill" if field == "quantity" else "quantity"
        assert page.get_attribute(f"#{other}", "aria-invalid") is None
        assert page.get_attribute(f"#{field}", "aria-describedby") == "price-error"
        assert page.is_disabled("#make-quote") and page.is_disabled("#add-to-cart")
        if (field, value) == ("quantity", "1000000"):
            screenshot(page, "price-invalid-quantity")
        if (field, value) == ("infill", "-10"):
            screenshot(page, "price-invalid-infill")
        page.fill(f"#{field}", "20" if field == "infill" else "1")  # a valid value again
        answers += 1
        _answered(page, answers)
        assert not _marked(page, field) and page.get_attribute(f"#{field}", "aria-invalid") is None
        assert page.is_hidden("#price-error") and "€" in page.text_content("#price-gross")
        assert page.text_content("#delivery-date") != "–" and page.is_enabled("#make-quote")
    # the refused requests' 400s are logged by the browser; no script error besides
    assert [e for e in page.console_errors if "status of 400" not in e] == []


def test_while_a_price_is_made_the_box_says_the_figures_are_the_old_ones(live_server,
                                                                       browser_page, make_user):
    """Options a worker must estimate first (202, asked again): the old figures stay dimmed
    with a note, and no quote can be made of them, until the new answer is on show (walk:
    the old price stood undimmed for seconds, ten after a switch to inch)."""
    page = _priced_part_page(live_server, browser_page, make_user)
    held = {"n": 0}

    def slow_worker(route):  # the server's own "not yet" twice, then its real answer
        if held["n"] < 2:
            held["n"] += 1
            route.fulfill(status=202, content_type="application/json",
                          body='{"status": "pending", "retry_ms": 400}')
        else:
            route.continue_()

    page.route("**/price", slow_worker)
    page.fill("#quantity", "3")
    page.wait_for_function("__price.pending >= 1")
    assert page.is_visible("#price-working")
    assert page.evaluate("document.getElementById('price-box').classList.contains('loading')")
    assert page.get_attribute("#price-box", "aria-busy") == "true"
    assert page.is_disabled("#make-quote")
    page.wait_for_function("__price.pending >= 2")
    assert page.evaluate("document.getElementById('price-box').classList.contains('loading')")
    _answered(page, 2)
    assert page.evaluate("__price.last.options.quantity") == 3
    assert page.is_hidden("#price-working") and page.is_enabled("#make-quote")
    assert not page.evaluate("document.getElementById('price-box').classList.contains('loading')")
    assert page.get_attribute("#price-box", "aria-busy") == "false"
