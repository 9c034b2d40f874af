"""The part page's 3D view draws the printability problems on the model.

Screenshots: artifacts/screenshots/part-teapot-open-edges.png, part-idler-thin-walls.png
"""

from __future__ import annotations

import pytest
from portal_helpers import CORPUS_MODELS, store_part

from browser.test_firm_orders import log_in

pytestmark = pytest.mark.browser


def open_part(page, live_server, user, path):
    part = store_part(user.firm, user, path)
    log_in(page, live_server.url, user.email, "Druck-2026-sicher")
    page.goto(f"{live_server.url}/parts/{part.public_id}")
    page.wait_for_function("window.__viewer && (__viewer.ready || __viewer.error)")
    assert page.evaluate("__viewer.error") is None
    page.wait_for_function("window.__price && (__price.answers >= 1 || __price.error)")
    return part


def test_open_edges_and_overhangs_are_drawn(live_server, browser_page, screenshot, make_user):
    user = make_user("firm", password="Druck-2026-sicher")
    page = browser_page
    part = open_part(page, live_server, user, CORPUS_MODELS / "trimesh__teapot.stl")
    problems = {p["code"]: p for p in part.analysis["problems"]}
    info = page.evaluate("__viewer.info")
    assert info["edges"] == len(problems["not_watertight"]["location"]["edges"]) > 0
    assert info["overhangFaces"] == len(problems["needs_supports"]["location"]["faces"]) > 0
    assert "nicht geschlossen" in page.text_content("[data-code=not_watertight]")
    assert page.evaluate("__price.error") is None and "€" in page.text_content("#price-gross")
    screenshot(page, "part-teapot-open-edges")
    with_edges = page.evaluate("__viewer.snapshot()")
    page.uncheck("input[data-layer=edges]")
    without = page.evaluate("__viewer.snapshot()")
    assert without != with_edges
    page.check("input[data-layer=edges]")
    assert page.evaluate("__viewer.snapshot()") == with_edges

    page.goto(f"{live_server.url}/parts/{part.public_id}?lang=en")  # English, the second language
    page.wait_for_function("window.__viewer && __viewer.ready && window.__price.answers >= 1")
    assert "Open edges (" in page.text_content(".legend")
    assert "The model is not closed" in page.text_content("[data-code=not_watertight]")
    assert page.text_content("#price-gross").startswith("€")
    screenshot(page, "part-teapot-english")
    assert page.console_errors == []


def test_thin_wall_points_are_drawn(live_server, browser_page, screenshot, make_user):
    user = make_user("firm", password="Druck-2026-sicher")
    page = browser_page
    open_part(page, live_server, user, CORPUS_MODELS / "prusaslice__extruder_idler.stl")
    info = page.evaluate("__viewer.info")
    assert info["points"] > 0
    assert page.is_enabled("input[data-layer=points]")
    screenshot(page, "part-idler-thin-walls")
    before = page.evaluate("__viewer.snapshot()")
    page.uncheck("input[data-layer=points]")
    assert page.evaluate("__viewer.snapshot()") != before


def test_suggested_orientation_is_shown_on_the_model(live_server, browser_page, screenshot,
                                                     make_user):
    user = make_user("firm", password="Druck-2026-sicher")
    page = browser_page
    part = open_part(page, live_server, user, CORPUS_MODELS / "numpystl__HalfDonut.stl")
    assert part.analysis["orientation"]["changed"]
    assert "Anders hingelegt" in page.text_content("#orientation-text")
    button = page.locator("#show-orientation")
    assert button.is_visible()
    before = page.evaluate("__viewer.snapshot()")
    as_uploaded = page.evaluate("__viewer.placedBox()")
    assert as_uploaded["size"] == pytest.approx(part.analysis["mesh"]["bbox_mm"], abs=0.01)
    button.click()
    assert button.get_attribute("aria-pressed") == "true"
    assert page.evaluate("__viewer.snapshot()") != before
    placed = page.evaluate("__viewer.placedBox()")
    suggested = part.analysis["orientation"]["bbox_mm"]
    assert sorted(placed["size"]) == pytest.approx(sorted(suggested), abs=0.01)
    assert placed["size"][2] == pytest.approx(suggested[2], abs=0.01)  # same height
    assert placed["min"][2] == pytest.approx(0, abs=1e-3)  # resting on the plate
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "part-halfdonut-suggested-orientation")
    button.click()
    assert button.get_attribute("aria-pressed") == "false"

    # The units were guessed (inch); the firm says mm and sees size and price change at once.
    assert part.units == "inch"
    assert page.text_content("#units-size") == "76,2 × 12,7 × 76,2\u00a0mm"
    page.select_option("#units", "mm")
    page.wait_for_function("__price.last.options.units === 'mm'")
    assert page.text_content("#units-size") == "3,0 × 0,5 × 3,0\u00a0mm"
    assert page.evaluate("__price.last.material_g") < 1
    # one unit on the page: the figures' "Neu analysieren" choice follows the price box, and a
    # note says that figures, checks and 3D view still show the analysis in inch
    assert page.input_value("#units-reanalyse") == "mm"
    assert page.locator("#units-stale").is_visible()
    assert "inch" in page.text_content("#units-stale")
    page.locator("#units-stale").scroll_into_view_if_needed()
    screenshot(page, "part-units-note")
    page.select_option("#units-reanalyse", "inch")  # and the other way round
    page.wait_for_function("__price.last.options.units === 'inch'")
    assert page.input_value("#units") == "inch"
    assert page.locator("#units-stale").is_hidden()
    assert page.text_content("#units-size") == "76,2 × 12,7 × 76,2\u00a0mm"
    # read in metres it fits no printer: the refusal speaks of 3 m, and the size line does
    # not keep showing the inch size (walk finding)
    page.select_option("#units", "m")
    page.wait_for_function("__price.error !== null")
    assert "3.000,0 × 500,0 × 3.000,0" in page.text_content("#price-error")
    assert page.text_content("#units-size") == "–" and page.is_hidden("#units-size")
    assert page.is_visible("#price-error")  # (no refusal of the page says it already)


def test_part_page_waits_for_the_analysis_then_shows_the_part(live_server, browser_page,
                                                              screenshot, make_user):
    from portal_helpers import cube_stl

    from marketplace.extensions import db
    from marketplace.models import Part
    from marketplace.parts import operations as parts
    from marketplace.parts import storage

    user = make_user("firm", password="Druck-2026-sicher")
    data = cube_stl(25)
    part = Part(firm_id=user.firm_id, original_name="warten.stl", sha256=storage.save(data),
                file_format="stl", size_bytes=len(data), status="pending")
    db.session.add(part)
    db.session.commit()
    page = browser_page
    log_in(page, live_server.url, user.email, "Druck-2026-sicher")
    page.goto(f"{live_server.url}/parts/{part.public_id}")
    assert page.locator("#analysis-pending").is_visible()
    assert page.locator("#viewer").count() == 0
    screenshot(page, "part-analysis-pending")
    parts.analyse(part.id)  # what the worker does; the page notices on its next poll
    page.wait_for_function("window.__viewer && (__viewer.ready || __viewer.error)",
                           timeout=30_000)
    assert page.evaluate("__viewer.error") is None
    assert page.evaluate("__viewer.triangles") == 12


def test_parts_list_updates_a_pending_row(live_server, browser_page, make_user):
    from portal_helpers import cube_stl

    from marketplace.extensions import db
    from marketplace.models import Part
    from marketplace.parts import operations as parts
    from marketplace.parts import storage

    user = make_user("firm", password="Druck-2026-sicher")
    data = cube_stl(15)
    part = Part(firm_id=user.firm_id, original_name="liste.stl", sha256=storage.save(data),
                file_format="stl", size_bytes=len(data), status="pending")
    db.session.add(part)
    db.session.commit()
    page = browser_page
    log_in(page, live_server.url, user.email, "Druck-2026-sicher")
    assert page.locator("#parts-table tr[data-status=pending]").count() == 1
    parts.analyse(part.id)
    page.wait_for_selector("#parts-table tr[data-status=ready] .badge-ok", timeout=30_000)
    assert page.console_errors == []


def test_staff_see_the_parts_list_without_the_upload_form(live_server, browser_page,
                                                          make_user):
    firm_user = make_user("firm")
    store_part(firm_user.firm, firm_user)
    tech = make_user("technician", password="Technik-2026!")
    page = browser_page
    page.goto(live_server.url + "/login")
    page.fill("#email", tech.email)
    page.fill("#password", "Technik-2026!")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()
    page.goto(live_server.url + "/parts")
    assert page.locator("#upload-form").count() == 0
    assert page.locator("#parts-table tbody tr").count() == 1
    assert page.console_errors == []


def test_the_model_shows_the_orientation_the_part_is_priced_in(live_server, browser_page,
                                                               screenshot, make_user,
                                                               tmp_path, monkeypatch):
    """A 300 mm bar fits the only printer in service (250 x 210 mm) only corner to corner:
    the price box says it is priced laid that way, and "show orientation" shows that, not the
    suggestion (flat along x, for a large printer in maintenance)."""
    import numpy as np
    from quote_shapes import box_stl

    from config import Config
    from marketplace.extensions import db
    from tests.hub_factories import make_printer

    volumes = "250x210x210,350x350x400"
    monkeypatch.setenv("PRINTER_BUILD_VOLUMES_MM", volumes)
    monkeypatch.setattr(Config, "PRINTER_BUILD_VOLUMES_MM", volumes)
    make_printer(build_x_mm=250, build_y_mm=210, build_z_mm=210)
    make_printer(state="maintenance", build_x_mm=350, build_y_mm=350, build_z_mm=400)
    db.session.commit()
    bar = tmp_path / "leiste.stl"
    bar.write_bytes(box_stl(300, 20, 20))
    user = make_user("firm", password="Druck-2026-sicher")
    page = browser_page
    open_part(page, live_server, user, bar)
    page.wait_for_function("__price.last && __price.last.orientation")
    turn = page.evaluate("__price.last.orientation.rotation")
    assert turn is not None
    assert page.locator("#orientation-note").is_visible()
    assert "keinen Drucker in Betrieb" in page.text_content("#orientation-note")
    assert page.evaluate("__viewer.printRotation") == turn
    button = page.locator("#show-orientation")
    button.click()
    placed = page.evaluate("__viewer.placedBox()")["size"]
    corners = np.array([[x, y, z] for x in (0, 300) for y in (0, 20) for z in (0, 20)], float)
    laid = corners @ np.asarray(turn).T
    assert placed == pytest.approx((laid.max(axis=0) - laid.min(axis=0)).tolist(), abs=0.05)
    assert placed[0] <= 250.05 and placed[1] <= 210.05  # on the standard bed, not 300 long
    screenshot(page, "part-priced-orientation")
    assert page.console_errors == []


@pytest.mark.parametrize("name", ["cube_20mm.stl", "trimesh__teapot.stl"])
def test_the_whole_part_is_in_the_picture(live_server, browser_page, screenshot, make_user,
                                          name):
    """Walk finding: the camera stood so close that the bottom of the 20 mm cube was cut off."""
    from pathlib import Path

    user = make_user("firm", password="Druck-2026-sicher")
    page = browser_page
    path = (Path(__file__).resolve().parents[1] / "data" / name if name.startswith("cube")
            else CORPUS_MODELS / name)
    open_part(page, live_server, user, path)
    assert page.evaluate("__viewer.framed()")
    page.locator("#viewer").scroll_into_view_if_needed()
    screenshot(page, f"part-framed-{Path(name).stem}")
