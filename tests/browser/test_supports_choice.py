"""The part page in Chromium (issue 9): the support choice prices the part and warns when the
part needs supports; a part that is not printable or fits no printer in service has no price
and its quote and cart buttons stay disabled.

Screenshots: artifacts/screenshots/part-supports-none.png, part-too-large.png
"""

from __future__ import annotations

import pytest
from portal_helpers import store_part
from quote_shapes import box_stl, jack_stl, soup_stl

from browser.test_firm_orders import log_in
from marketplace.extensions import db
from tests.hub_factories import make_printer

pytestmark = pytest.mark.browser
PASSWORD = "Druck-2026-sicher"


def _open(page, live_server, user, tmp_path, name, data, *, sign_in=True):
    path = tmp_path / name
    path.write_bytes(data)
    part = store_part(user.firm, user, path)
    if sign_in:
        log_in(page, live_server.url, user.email, PASSWORD)
    page.goto(f"{live_server.url}/parts/{part.public_id}")
    page.wait_for_function("window.__price && (__price.answers >= 1 || __price.error)")
    return part


def test_choosing_no_supports_lowers_the_price_and_warns(live_server, browser_page, screenshot,
                                                         make_user, tmp_path):
    make_printer()
    db.session.commit()
    user = make_user("firm", password=PASSWORD)
    page = browser_page
    _open(page, live_server, user, tmp_path, "jack.stl", jack_stl())
    page.fill("#quantity", "10")
    page.wait_for_function("__price.last && __price.last.options.quantity === 10")
    auto = page.evaluate("__price.last")
    assert auto["supports"]["with_supports"] is True
    assert page.is_visible("#supports-info") and not page.is_visible("#supports-warning")
    page.select_option("#supports", "none")
    page.wait_for_function("__price.last && __price.last.options.supports === 'none'")
    none = page.evaluate("__price.last")
    assert none["price"]["net_cents"] < auto["price"]["net_cents"]
    assert page.is_visible("#supports-warning")
    assert "Stützstrukturen brauchen" in page.text_content("#supports-warning")
    assert page.is_enabled("#make-quote")
    screenshot(page, "part-supports-none")
    page.click("#make-quote")
    page.wait_for_url("**/quotes/*")
    assert "keine (auf Ihren Wunsch)" in page.text_content("#quote-supports")
    assert page.console_errors == []


def test_no_price_and_no_buttons_for_a_part_we_cannot_print(live_server, browser_page,
                                                            screenshot, make_user, tmp_path):
    make_printer(build_x_mm=150, build_y_mm=150, build_z_mm=150)
    db.session.commit()
    user = make_user("firm", password=PASSWORD)
    page = browser_page
    _open(page, live_server, user, tmp_path, "platte.stl", box_stl(200, 100, 20))
    assert page.is_disabled("#make-quote") and page.is_disabled("#add-to-cart")
    refused = page.text_content("#price-refused")
    assert "200,0 × 100,0 × 20,0" in refused and "150,0 × 150,0 × 150,0" in refused
    assert page.text_content("#price-gross") == "–"
    # said once (the price answer's refusal is the page's own), no empty size line
    page.wait_for_function("__price.error !== null")
    assert page.is_hidden("#price-error") and page.is_hidden("#units-size")
    screenshot(page, "part-too-large")
    _open(page, live_server, user, tmp_path, "soup.stl", soup_stl(), sign_in=False)
    assert page.is_disabled("#make-quote")
    assert "nicht druckbar" in page.text_content("#price-refused")
    assert "nicht druckbar" in page.evaluate("__price.error")
    assert page.text_content("#price-gross") == "–"
