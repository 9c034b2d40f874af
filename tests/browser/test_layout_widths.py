"""The page header at ordinary widths in Chromium: every item of the top navigation lies within
the viewport (no clipped "Rechnunge", no hidden Webhooks/Protokoll, no sideways scrolling), for a
firm and an admin at 1024 and 1280 px and on a 390 px phone; the technician queue's row buttons
stay on the page at 1280 px.

Screenshots: artifacts/screenshots/nav-<role>-<width>.png, queue-1280.png
"""

from __future__ import annotations

import pytest

from marketplace.extensions import db
from tests.hub_factories import make_order

pytestmark = pytest.mark.browser
PASSWORD = "Druck-2026-sicher"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "HUB_NAME": "Druckhub Lüneburg"}


def _sign_in(page, base_url, email):
    page.goto(base_url + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state("load")
    assert "/login" not in page.url


def _open(page, base_url, email, width, path, height=900):
    """``path`` signed in as ``email`` in a window ``width`` px wide."""
    page.set_viewport_size({"width": width, "height": height})
    _sign_in(page, base_url, email)
    page.goto(base_url + path)
    return page


def _outside(page, selector):
    """Elements matching ``selector`` that are not wholly within the viewport or are covered
    (clipped by a scrolling parent): a list of "text: why" strings."""
    return page.eval_on_selector_all(selector, """(els) => {
        const vw = document.documentElement.clientWidth, out = [];
        for (const el of els) {
            const r = el.getBoundingClientRect();
            if (r.width === 0 || r.left < 0 || r.right > vw) {
                out.push(`${el.textContent.trim()}: ${r.left.toFixed(0)}..${r.right.toFixed(0)} of ${vw}`);
                continue;
            }
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            if (!hit || !(hit === el || el.contains(hit))) out.push(`${el.textContent.trim()}: covered`);
            let p = el.parentElement;  // clipped by an ancestor that scrolls or hides overflow
            while (p && p !== document.body) {
                const cs = getComputedStyle(p), pr = p.getBoundingClientRect();
                if (cs.overflowX !== "visible" && (r.left < pr.left - 0.5 || r.right > pr.right + 0.5))
                    out.push(`${el.textContent.trim()}: clipped by ${p.className}`);
                p = p.parentElement;
            }
        }
        return out;
    }""")


@pytest.mark.parametrize("role", ["firm", "admin"])
def test_every_nav_item_is_within_the_viewport(live_server, browser_page, screenshot, make_user,
                                               role):
    user = make_user(role, password=PASSWORD,
                     firm_name="Feinmechanik Walk GmbH & Co. KG" if role == "firm" else None)
    user.name = "Erika Prüfer-Langenhagen"
    db.session.commit()
    page = browser_page
    _sign_in(page, live_server.url, user.email)
    expected = 5 if role == "firm" else 7
    for width in (1024, 1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for lang in ("de", "en"):
            page.goto(f"{live_server.url}/account?lang={lang}")
            links = page.locator(".main-nav a")
            assert links.count() == expected
            assert _outside(page, ".main-nav a") == [], (width, lang)
            assert _outside(page, ".header-tools > *:not(.who)") == [], (width, lang)
            # the page itself does not scroll sideways
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"nav-{role}-{width}")


def test_queue_row_buttons_stay_on_the_page_at_1280(live_server, browser_page, screenshot,
                                                    make_user):
    admin = make_user("technician", password=PASSWORD)
    for n in range(2):
        make_order(quantity=3, part_name="originalprusa_y_belt_holder_lang.stl")
    db.session.commit()
    page = _open(browser_page, live_server.url, admin.email, 1280, "/hub?tab=approval")
    assert page.locator("[data-reject]").count() == 2
    assert _outside(page, "[data-reject], [data-approve]") == []
    screenshot(page, "queue-1280")


def test_parts_table_on_a_phone_shows_each_parts_state(live_server, browser_page, screenshot,
                                                       make_user):
    """Walk: at 390 px the parts table scrolled sideways with the status off the page; the
    upload date and file size give way, long file names wrap."""
    from portal_helpers import store_part

    user = make_user("firm", password=PASSWORD)
    for name in ("originalpr__x_carriage_with_a_long_name_from_the_cad_export.stl",
                 "trimesh__counter_unitsmm.stl"):
        store_part(user.firm, user, name=name)
    db.session.commit()
    page = _open(browser_page, live_server.url, user.email, 390, "/parts", height=844)
    assert page.locator("#parts-table tbody tr").count() == 2
    assert _outside(page, "#parts-table .part-status .badge") == []
    assert _outside(page, "#parts-table .name-cell") == []
    assert page.locator("#parts-table th.wide-only").first.is_hidden()
    screenshot(page, "parts-390")
    page.set_viewport_size({"width": 1280, "height": 900})  # a desktop keeps every column
    assert page.locator("#parts-table th.wide-only").first.is_visible()


def test_handover_row_fits_at_1280_with_its_tracking_fields(live_server, browser_page,
                                                            screenshot, make_user):
    """Walk: the done tab's action column ran past the page (the bed warning cut off, the
    tracking field beyond the edge)."""
    from marketplace.jobs import transition
    from marketplace.models import utcnow
    from tests.hub_factories import make_printer

    tech = make_user("technician", password=PASSWORD)
    printer = make_printer(name="Demo-MK3S-1", state="bed_to_clear")
    order = make_order(quantity=1, part_name="originalprusa_y_belt_holder_lang.stl")
    order.delivery = "shipping"
    job = order.jobs[0]
    for state in ("approved", "queued", "dispatching", "printing", "printed"):
        transition(job, state, actor="t")
    job.printer, job.finished_at = printer, utcnow()
    db.session.commit()
    page = _open(browser_page, live_server.url, tech.email, 1280, "/hub?tab=done")
    assert page.locator("[data-on-bed]").count() == 1
    assert _outside(page, "[data-handover], [data-tracking], [data-carrier], [data-on-bed]") == []
    screenshot(page, "handover-1280")
    # a tracking number without its parcel service is asked for in the browser (the server
    # refused it, and the number typed was gone)
    carrier = page.locator("[data-carrier]")
    assert carrier.input_value() == "" and not page.evaluate(
        "document.querySelector('[data-carrier]').validity.valueMissing")
    page.fill("[data-tracking]", "JJD000390007")
    assert page.evaluate("document.querySelector('[data-carrier]').validity.valueMissing")
    page.click('[data-handover="shipped"]')  # the browser stops it: no question, no request
    assert page.evaluate("document.querySelector('[data-tracking]').value") == "JJD000390007"
    page.fill("[data-tracking]", "")
    assert not page.evaluate("document.querySelector('[data-carrier]').validity.valueMissing")
