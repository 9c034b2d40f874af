"""Deleting a part from its page asks first: dismissing the question keeps the part, accepting
it deletes the part and lands on the parts list (walk: one click on "Teil löschen" deleted the
part and its prices without a question)."""

from __future__ import annotations

import pytest
from portal_helpers import store_part

from browser.test_firm_orders import log_in
from marketplace.extensions import db
from marketplace.models import Part

pytestmark = pytest.mark.browser
PASSWORD = "Druck-2026-sicher"


def test_delete_asks_before_the_part_is_gone(live_server, browser_page, make_user):
    page = browser_page
    user = make_user("firm", password=PASSWORD)
    part = store_part(user.firm, user)
    part_id, name = part.id, part.original_name
    log_in(page, live_server.url, user.email, PASSWORD)
    page.goto(f"{live_server.url}/parts/{part.public_id}")
    page.click("#part-edit summary")

    questions = []
    page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
    page.click("#part-delete")
    page.wait_for_timeout(300)
    assert len(questions) == 1 and name in questions[0] and "löschen" in questions[0]
    assert page.url.endswith(f"/parts/{part.public_id}")
    db.session.expire_all()
    assert db.session.get(Part, part_id) is not None

    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        page.click("#part-delete")
    assert page.url.rstrip("/").endswith("/parts")
    assert "ist gelöscht" in page.text_content("body")
    db.session.expire_all()
    assert db.session.get(Part, part_id) is None
