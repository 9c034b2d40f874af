"""The firm's whole path in headless Chromium: sign up, upload with a real progress bar, see the
part in 3D with its problems, change options and watch the price, order, get the PDF.

Screenshots: artifacts/screenshots/firm-*.png
"""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image
from portal_helpers import CORPUS_MODELS

from browser.conftest import SCREENSHOTS
from marketplace.extensions import db
from marketplace.models import Order, Part, PrintJob

pytestmark = pytest.mark.browser

PART_FILE = CORPUS_MODELS / "originalpr__Einsy_base.stl"  # 1.4 MB ASCII STL, real Prusa part
SIGNUP = {
    "company": "Heidetechnik Werkzeugbau GmbH", "vat_id": "DE123456788",
    "street": "Am Sande 12", "postcode": "21335", "city": "Lüneburg",
    "contact_name": "Jana Petersen", "phone": "04131 123456",
    "email": "jana.petersen@heidetechnik.example", "password": "Druck-2026-sicher",
    "password_confirm": "Druck-2026-sicher",
}


def image_stats(png: bytes) -> tuple[int, float]:
    """Return (distinct colours, share of pixels unlike the top-left background pixel)."""
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    colours = len(np.unique(img.reshape(-1, 3), axis=0))
    background = img[0, 0]
    share = float((np.abs(img.astype(int) - background).sum(axis=2) > 30).mean())
    return colours, share


def sign_up(page, base_url):
    page.goto(base_url + "/")
    page.get_by_role("link", name="Als Firma registrieren").first.click()
    for name, value in SIGNUP.items():
        page.fill(f"#{name}", value)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/login$"))  # the account exists once the address confirms
    assert "Fast geschafft" in page.content()
    link = re.search(r"https?://\S+(/signup/confirm/\S+)", _last_mail_to(SIGNUP["email"]))
    page.goto(base_url + link.group(1))
    page.get_by_role("button", name="Konto einrichten").click()
    page.wait_for_url(re.compile(r"/parts$"))


def _last_mail_to(address: str) -> str:
    import sqlalchemy as sa

    from marketplace.extensions import db
    from marketplace.models import Notification

    db.session.expire_all()
    return db.session.scalars(sa.select(Notification.body).where(
        Notification.to_address == address).order_by(Notification.id.desc())).first()


@pytest.fixture
def app_config(app_config):
    return {**app_config, "ORDER_POLL_MS": 300}


def test_firm_signs_up_uploads_sees_3d_and_price_and_orders(live_server, browser, browser_page,
                                                            screenshot, make_user):
    page = browser_page
    from tests.hub_factories import make_printer

    make_printer()  # a printer in service: a date is promised (none without one, issue 9)
    db.session.commit()
    page.goto(live_server.url + "/")
    screenshot(page, "firm-01-landing")
    sign_up(page, live_server.url)
    assert page.locator("#dropzone").is_visible()

    # Upload over a throttled link (loopback is too fast for a progress bar): 8 Mbit/s.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": 8e6 / 8,
    })
    page.set_input_files("#file-input", str(PART_FILE))
    page.wait_for_function("window.__upload && window.__upload.events.length >= 3")
    screenshot(page, "firm-02-upload-progress")
    page.wait_for_function("window.__upload.done === 1", timeout=60_000)
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
    })
    upload = page.evaluate("window.__upload")
    assert upload["results"][0]["status"] == 201
    loaded = [e["loaded"] for e in upload["events"]]
    assert len(loaded) >= 5, loaded
    assert loaded == sorted(loaded)
    assert loaded[-1] == upload["events"][-1]["total"] > PART_FILE.stat().st_size
    assert page.locator("#uploads .progress").get_attribute("aria-valuenow") == "100"
    (SCREENSHOTS.parent / "upload_progress.json").write_text(json.dumps(upload, indent=1))

    # The part page follows the background analysis, then shows the 3D view.
    page.locator("#uploads a.open-part").first.click()
    page.wait_for_function("window.__viewer && (window.__viewer.ready || window.__viewer.error)",
                           timeout=90_000)
    viewer = page.evaluate("({ready: __viewer.ready, error: __viewer.error, "
                           "triangles: __viewer.triangles, info: __viewer.info})")
    assert viewer["error"] is None and viewer["ready"]
    part = db.session.scalar(sa.select(Part))
    assert part.status == "ready"
    assert viewer["triangles"] == part.analysis["mesh"]["triangles_used"]
    assert viewer["info"]["isWebGL2"] and "SwiftShader" in viewer["info"]["renderer"]
    data_url = page.evaluate("__viewer.snapshot()")
    colours, share = image_stats(base64.b64decode(data_url.split(",", 1)[1]))
    assert colours > 10 and 0.03 < share < 0.95, (colours, share)

    # Price and date at once, and again after a change of quantity.
    page.wait_for_function("window.__price && window.__price.answers >= 1")
    first = page.text_content("#price-gross")
    assert "€" in first
    assert re.search(r"\d{2}\.\d{2}\.\d{4}", page.text_content("#delivery-date"))
    screenshot(page, "firm-03-part-3d-price", full_page=True)
    canvas_box = page.locator("#viewer canvas").bounding_box()
    answers = page.evaluate("__price.answers")
    page.fill("#quantity", "5")
    page.wait_for_function(f"__price.answers > {answers}")
    assert page.evaluate("__price.last.options.quantity") == 5
    assert page.text_content("#price-gross") != first
    page.select_option("#material", "PETG")
    page.wait_for_function("__price.last && __price.last.options.material === 'PETG'")
    assert page.text_content("#units-size") == "128,5 × 101,0 × 38,0\u00a0mm"  # as the figures say

    # Drag in the viewer: the picture changes (OrbitControls).
    before = page.evaluate("__viewer.snapshot()")
    cx, cy = canvas_box["x"] + canvas_box["width"] / 2, canvas_box["y"] + canvas_box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 120, cy + 40, steps=8)
    page.mouse.up()
    assert page.evaluate("__viewer.snapshot()") != before

    # Quote, then order.
    page.click("#make-quote")
    page.wait_for_url(re.compile(r"/quotes/[0-9a-f]{32}$"))
    assert "5" in page.text_content("dl.facts")
    page.click("#place-order")
    page.wait_for_url(re.compile(r"/orders/[0-9a-f]{32}$"))
    number = page.text_content("#order-number").strip()
    assert re.fullmatch(r"DH-\d{4}-\d{6}", number)
    assert "Auftrag eingegangen" in page.text_content("#timeline")
    screenshot(page, "firm-04-order", full_page=True)
    with page.expect_download() as info:
        page.click("#order-pdf")
    download = info.value
    assert download.suggested_filename == f"Auftragsbestätigung-{number}.pdf"
    assert open(download.path(), "rb").read(5) == b"%PDF-"

    order = db.session.scalar(sa.select(Order).where(Order.number == number))
    jobs = db.session.scalars(sa.select(PrintJob).where(PrintJob.order_id == order.id)).all()
    assert len(jobs) == 5 and {j.state for j in jobs} == {"received"}
    assert jobs[0].material_code == "PETG"

    # A technician approves the order in the hub console; the firm's page follows by itself.
    tech = make_user("technician", email="technik@druckhub.example", password="Technik-2026!")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    try:
        hub = context.new_page()
        hub.goto(live_server.url + "/login")
        hub.fill("#email", tech.email)
        hub.fill("#password", "Technik-2026!")
        hub.locator("form button[type=submit]").last.click()
        hub.wait_for_url(re.compile(r"/hub/?$"))
        hub.click(f'form[action$="/hub/orders/{order.public_id}/approve"] [data-approve]')
        hub.wait_for_load_state()
    finally:
        context.close()
    page.wait_for_selector("li[data-step=approved].done", timeout=15_000)
    db.session.rollback()
    assert {j.state for j in db.session.scalars(
        sa.select(PrintJob).where(PrintJob.order_id == order.id))} == {"approved"}
    screenshot(page, "firm-08-order-approved", full_page=True)
    assert page.console_errors == []


def test_bad_file_shows_a_clear_message_in_the_upload_list(live_server, browser_page,
                                                           screenshot, tmp_path):
    page = browser_page
    sign_up(page, live_server.url)
    bad = tmp_path / "zeichnung.stl"
    bad.write_bytes(b"%PDF-1.4 not a mesh" * 10)
    page.set_input_files("#file-input", str(bad))
    page.wait_for_function("window.__upload.done === 1")
    assert page.evaluate("__upload.results[0].status") == 400
    message = page.text_content("#uploads li .status")
    assert "keine gültige STL-Datei" in message
    screenshot(page, "firm-05-upload-refused")


DROP_JS = """([files]) => {
  const dt = new DataTransfer();
  for (const [name, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    dt.items.add(new File([bytes], name, { type: "application/octet-stream" }));
  }
  const zone = document.getElementById("dropzone");
  zone.dispatchEvent(new DragEvent("dragenter", { dataTransfer: dt, bubbles: true }));
  zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true }));
}"""


def test_several_files_dropped_at_once(live_server, browser_page, screenshot):
    from portal_helpers import cube_stl

    page = browser_page
    sign_up(page, live_server.url)
    files = [["Deckel.stl", base64.b64encode(cube_stl(10)).decode()],
             ["Boden.stl", base64.b64encode(cube_stl(30)).decode()],
             ["Notizen.txt", base64.b64encode(b"keine Geometrie").decode()]]
    page.evaluate(DROP_JS, [files])
    page.wait_for_function("window.__upload.done === 3")
    results = {r["name"]: r["status"] for r in page.evaluate("__upload.results")}
    assert results == {"Deckel.stl": 201, "Boden.stl": 201, "Notizen.txt": 415}
    # the parts table takes the new parts without a reload, and follows their analyses
    page.wait_for_function("window.__upload.refreshed === 1")
    assert page.locator("p.empty").count() == 0
    names = page.locator("#parts-table tbody td:nth-child(2)").all_text_contents()
    assert sorted(n.strip() for n in names) == ["Boden.stl", "Deckel.stl"]
    page.wait_for_selector("#parts-table tr[data-status=ready] >> nth=1", timeout=60_000)
    assert page.locator("#parts-table .part-status .badge").all_text_contents() == [
        "Druckbar", "Druckbar"]
    page.wait_for_selector("#uploads li[data-status=ready] >> nth=1", timeout=60_000)
    assert "Dateityp nicht unterstützt" in page.text_content("#uploads li.failed")
    # a part analysed says so (walk: a green bar and no word)
    assert page.locator("#uploads li[data-status=ready] .status").all_text_contents() == [
        "Druckbar", "Druckbar"]
    screenshot(page, "firm-07-drop-several")
    page.reload()
    names = page.locator("#parts-table tbody td:nth-child(2)").all_text_contents()  # 1: picture
    assert sorted(n.strip() for n in names) == ["Boden.stl", "Deckel.stl"]
