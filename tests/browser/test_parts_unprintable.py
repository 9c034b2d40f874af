"""The parts page in Chromium: a triangle soup uploaded there is analysed, and the upload list
says "Nicht druckbar" with the reason instead of finishing like a good part; reloaded, the
parts table shows the red badge. Screenshot: artifacts/screenshots/parts-unprintable.png
"""

from __future__ import annotations

import pytest
from quote_shapes import soup_stl

pytestmark = pytest.mark.browser


def test_an_uploaded_soup_says_not_printable(live_server, browser_page, screenshot, tmp_path):
    page = browser_page
    page.goto(live_server.url + "/parts")  # a guest: uploads without an account
    soup = tmp_path / "suppe.stl"
    soup.write_bytes(soup_stl())
    page.set_input_files("#file-input", str(soup))
    page.wait_for_selector("#uploads li[data-status=ready]", timeout=60_000)
    status = page.text_content("#uploads li .status")
    assert status.startswith("Nicht druckbar: ") and "geschlossener Körper" in status, status
    page.reload()
    badge = page.locator("#parts-table [data-unprintable]")
    assert badge.text_content() == "Nicht druckbar"
    assert "nicht druckbar" in badge.get_attribute("title")
    screenshot(page, "parts-unprintable")
    assert page.console_errors == []
