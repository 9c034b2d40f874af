"""Issue 9, build volume gate, the app side: "fits no printer in service" means in no
orientation, wherever it is asked (the quote, delivery planning, why a job waits, slicing), and
a part that fits only laid another way is quoted, estimated and sliced laid that way.

Database tests: run on SQLite and (TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from octoprint_farm import dispatch_settings  # noqa: F401  (fixture)
from portal_helpers import firm_user, store_part  # noqa: F401  (fixture)
from quote_shapes import box_stl

from marketplace import formatting
from marketplace.extensions import db
from marketplace.models import Part, PartEstimate, Printer, PrintJob, Quote
from marketplace.orders import operations as orders
from marketplace.quotes import operations as quotes
from marketplace.scheduling import planning
from printers import matching, waiting
from tests.hub_factories import make_printer

STANDARD = dict(build_x_mm=250, build_y_mm=210, build_z_mm=210)


@pytest.fixture
def large_class_configured(monkeypatch):
    """The hub's configuration knows a large class (350 x 350 x 400 mm), so the analysis lays a
    300 mm bar flat along x; the test decides which printers are in service."""
    from config import Config

    volumes = "250x210x210,350x350x400"
    monkeypatch.setenv("PRINTER_BUILD_VOLUMES_MM", volumes)  # an analysis in a child process
    monkeypatch.setattr(Config, "PRINTER_BUILD_VOLUMES_MM", volumes)  # ... or in this one


def _part(tmp_path: Path, firm_user, data: bytes, name: str) -> Part:
    path = tmp_path / name
    path.write_bytes(data)
    return store_part(firm_user.firm, firm_user, path)


def _price(client, part, **options):
    return client.post(f"/parts/{part.public_id}/price", json={"material": "PLA", **options})


def _quote(part: Part) -> Quote:
    """Make a quote as a page does: a pending estimate is made (here and now) and asked again."""
    try:
        return quotes.make_quote(part)
    except quotes.EstimatePendingError as pending:
        db.session.commit()
        quotes.make_estimate(pending.estimate_id)
        return quotes.make_quote(part)


def _too_large(client, part) -> str:
    """The refusal's message of a part no printer in service takes."""
    resp = _price(client, part)
    error = resp.get_json()["error"]
    assert resp.status_code == 400 and error["code"] == "too_large", error
    return error["message"]


def row_bbox(part: Part) -> list[float]:
    """The box (mm) of the part as its estimate laid it."""
    row = db.session.scalar(sa.select(PartEstimate).where(PartEstimate.part_id == part.id))
    return row.summary["placement"]["bbox_mm"]


def _laid(part: Part, rotation) -> np.ndarray:
    hull = planning.part_hull_mm(part.analysis)
    q = hull @ np.asarray(rotation, dtype=float).T
    return q.max(axis=0) - q.min(axis=0)


def _fits_standard(ext) -> bool:
    x, y, z = (float(v) for v in ext)
    return z <= 210.01 and ((x <= 250.01 and y <= 210.01) or (y <= 250.01 and x <= 210.01))


@pytest.fixture
def bar(app, tmp_path, firm_user, large_class_configured):
    """A 300 x 20 x 20 mm bar; only a standard printer (250 x 210 x 210 mm) is in service, the
    large one is in maintenance: it fits only corner to corner on the standard bed."""
    part = _part(tmp_path, firm_user, box_stl(300, 20, 20), "leiste.stl")
    assert part.analysis["printable"] is True
    assert part.analysis["orientation"]["bbox_mm"] == [300.0, 20.0, 20.0]  # as laid: too long
    make_printer(slicer_profile="test-fast", **STANDARD)
    make_printer(state="maintenance", slicer_profile="test-fast", build_x_mm=350,
                 build_y_mm=350, build_z_mm=400)
    db.session.commit()
    return part


def test_a_bar_that_fits_only_diagonally_is_priced_and_estimated_laid_that_way(
        client, login_as, firm_user, bar):
    login_as(firm_user)
    resp = _price(client, bar)
    assert resp.status_code == 200, resp.get_json()
    answer = resp.get_json()
    assert answer["price"]["gross_cents"] > 0 and answer["delivery_date"]
    # the estimate was made again in an orientation that fits the printer in service
    turn = quotes.quoted_rotation(bar, units="mm", layer_height_mm=0.2, infill_percent=15)
    assert turn is not None and _fits_standard(_laid(bar, turn))
    # the price box says so, and gives the turn to the 3D view's "show orientation"
    assert answer["orientation"] == {"rotation": turn, "as_suggested": False}
    note = answer["display"]["orientation_note"]
    assert "passt das Teil auf keinen Drucker in Betrieb" in note
    assert formatting.format_size(row_bbox(bar)) in note
    row = db.session.scalar(sa.select(PartEstimate).where(PartEstimate.part_id == bar.id))
    assert row.status == "ready" and _fits_standard(row.summary["placement"]["bbox_mm"])
    # grams of the same solid, however it lies (20 x 20 x 300 mm)
    assert answer["material_g"] == pytest.approx(row.estimate["material_g"] * 1.24, rel=0.2)
    client.post(f"/parts/{bar.public_id}/quote", data={"material": "PLA"})
    quote = db.session.scalar(sa.select(Quote))
    assert quote is not None and quote.delivery_date is not None
    assert _fits_standard(quote.lines[0].bbox_mm)  # one piece as printed
    # the large printer back in service: the bar lies flat on it, estimated as analysed
    big = db.session.scalar(sa.select(Printer).where(Printer.state == "maintenance"))
    big.state = "available"
    db.session.commit()
    again = _price(client, bar).get_json()
    assert again["price"]["gross_cents"] > 0
    assert again["orientation"] == {"rotation": None, "as_suggested": True}
    assert again["display"]["orientation_note"] is None
    assert quotes.quoted_rotation(bar, units="mm", layer_height_mm=0.2,
                                  infill_percent=15) is None


def test_a_part_that_fits_no_printer_in_any_orientation_is_refused(
        client, login_as, firm_user, tmp_path, large_class_configured):
    part = _part(tmp_path, firm_user, box_stl(340, 330, 50), "platte.stl")
    assert part.analysis["printable"] is True  # the large class would take it
    make_printer(**STANDARD)
    db.session.commit()
    login_as(firm_user)
    message = _too_large(client, part)
    assert "340,0 × 330,0 × 50,0" in message and "250,0 × 210,0 × 210,0" in message
    assert "in keiner Lage" in message and "so gelegt" not in message
    # the best orientation's scale factor (tilted on the bed), not the flat one's 63 %
    percent = int(message.split("höchstens ")[1].split(" %")[0])
    assert 64 <= percent <= 80
    assert db.session.scalar(sa.select(sa.func.count(Quote.id))) == 0


def test_an_old_analysis_without_hull_points_is_checked_as_laid(
        client, login_as, firm_user, tmp_path):
    part = _part(tmp_path, firm_user, box_stl(180, 10, 10), "alt.stl")
    make_printer(build_x_mm=150, build_y_mm=150, build_z_mm=150)
    db.session.commit()
    login_as(firm_user)
    assert _price(client, part).status_code == 200  # corner to corner on the 150 mm bed
    analysis = dict(part.analysis)
    analysis["orientation"] = {k: v for k, v in analysis["orientation"].items()
                               if k != "hull_mm"}
    part.analysis = analysis
    db.session.commit()
    assert "so gelegt, wie es gedruckt wird" in _too_large(client, part)


def test_waiting_and_delivery_planning_count_a_printer_the_part_fits_laid_another_way(
        app, firm_user, bar):
    order = orders.place_order(_quote(bar), placed_by=firm_user)
    db.session.commit()
    job = order.jobs[0]
    need, sliced = waiting.need_of(job)
    assert not sliced and need.hull_mm is not None
    standard = matching.PrinterOffer(1, "S", "PLA", "Schwarz", 0.4, (250.0, 210.0, 210.0), "p")
    small = matching.PrinterOffer(2, "K", "PLA", "Schwarz", 0.4, (150.0, 150.0, 150.0), "p")
    views = [waiting.PrinterView(standard, "available")]
    assert waiting.reason_for("received", need, views, sliced=False).code != waiting.TOO_LARGE
    tiny = [waiting.PrinterView(small, "available")]
    assert waiting.reason_for("received", need, tiny, sliced=False).code == waiting.TOO_LARGE
    item = planning.WorkItem(3600, "PLA", "any", (300.0, 20.0, 20.0), None, need.hull_mm)
    assert planning.item_fits(item, (250.0, 210.0, 210.0))
    assert not planning.item_fits(item, (150.0, 150.0, 150.0))
    assert not planning.fits(item.bbox_mm, (250.0, 210.0, 210.0))  # as laid it does not


def sliced_job(quote: Quote, firm_user) -> PrintJob:
    """Order ``quote``, approve it and slice its first job here (it must queue); return it."""
    from printers.preparing import slice_job

    order = orders.place_order(quote, placed_by=firm_user)
    orders.approve_order(order, "tech@hub")
    db.session.commit()
    job = order.jobs[0]
    assert slice_job(job.id) == "queued", [e.reason for e in job.events]
    db.session.expire_all()
    return db.session.get(PrintJob, job.id)


@pytest.mark.slicer
def test_a_bar_that_fits_only_diagonally_is_sliced_laid_as_quoted(
        dispatch_settings, app, firm_user, bar):
    dispatch_settings.update(SLICER_DIFF_THRESHOLD=0.25, SLICER_TIME_DIFF_THRESHOLD=1000.0,
                             DEFAULT_SLICER_PROFILE="test-fast")
    quote = _quote(bar)
    job = sliced_job(quote, firm_user)
    assert _fits_standard(job.slicing["bbox_mm"])
    assert job.slicing["bbox_mm"] == pytest.approx(quote.lines[0].bbox_mm, abs=0.05)
    assert job.slicer_material_g == pytest.approx(quote.material_g, rel=0.25)
