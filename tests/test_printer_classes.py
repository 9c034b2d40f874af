"""Issue 9, printer classes with their own profiles: the quote uses the profile of the class that
will print the part (its nozzle, layer height and machine rate), the order's jobs record the
class, and slicing takes the profile of that class's printers.

A farm of two standard printers (250 x 210 x 210 mm, 0.4 mm nozzle) and one large printer
(360 x 360 x 400 mm, 0.6 mm nozzle, profile large-pla-0.6n): a 280 x 280 x 3 mm plate fits only
the large one (in no orientation the standard ones), a 20 mm cube stays on the standard class.

Database tests: run on SQLite and (TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sqlalchemy as sa
from api_helpers import bearer, token_for
from octoprint_farm import dispatch_settings  # noqa: F401  (fixture)
from portal_helpers import firm_user, store_part  # noqa: F401  (fixture)
from quote_shapes import box_stl

from marketplace.engine.pricing import catalog
from marketplace.extensions import db
from marketplace.models import PartEstimate, Printer
from marketplace.orders import operations as orders
from marketplace.quotes import operations as quotes
from marketplace.scheduling import planning
from printers import matching, preparing
from tests.hub_factories import make_printer
from tests.test_build_volume_gate import (  # noqa: F401  (a fixture among them)
    _part,
    _quote,
    large_class_configured,
    sliced_job,
)

STANDARD = dict(printer_class="standard", build_x_mm=250, build_y_mm=210, build_z_mm=210,
                nozzle_mm=0.4, slicer_profile="mk3s-pla-0.2mm")
LARGE = dict(printer_class="large", build_x_mm=360, build_y_mm=360, build_z_mm=400,
             nozzle_mm=0.6, slicer_profile="large-pla-0.6n")


def _record(dims) -> dict:
    """An analysis record of a box (its bbox as laid and its hull points)."""
    corners = [list(p) for p in itertools.product(*[(0.0, float(d)) for d in dims])]
    return {"orientation": {"bbox_mm": list(dims), "hull_mm": corners}}


# --- the rule ---------------------------------------------------------------------------------
@pytest.mark.db_independent
def test_the_class_that_prints_a_part():
    rates = {"standard": 300, "large": 450, "xl": 600}
    farm = [("standard", (250, 210, 210)), ("standard", (250, 210, 210)),
            ("large", (360, 360, 400))]
    rule = dict(default_class="standard", rates=rates)
    assert planning.printer_class_for(_record((20, 20, 20)), farm, **rule) == "standard"
    # longer than the bed, but corner to corner it fits a standard printer: still standard
    assert planning.printer_class_for(_record((300, 20, 20)), farm, **rule) == "standard"
    assert planning.printer_class_for(_record((280, 280, 3)), farm, **rule) == "large"
    assert planning.printer_class_for(_record((500, 500, 3)), farm, **rule) is None
    # of two classes that take it: the cheaper one, then the one with the smaller printer
    both = [*farm, ("xl", (300, 300, 300))]
    assert planning.printer_class_for(_record((280, 280, 3)), both, **rule) == "large"
    cheap = {**rates, "xl": 400}
    assert planning.printer_class_for(_record((280, 280, 3)), both, default_class="standard",
                                      rates=cheap) == "xl"
    # a class the hub puts no price on prints nothing it is asked to price
    assert planning.printer_class_for(_record((280, 280, 3)), farm, default_class="standard",
                                      rates={"standard": 300}) is None
    # the hub's default class counts first, whatever it is called
    assert planning.printer_class_for(_record((20, 20, 20)), farm, default_class="large",
                                      rates=rates) == "large"


@pytest.mark.db_independent
def test_delivery_planning_puts_a_piece_on_its_class_only():
    from datetime import UTC, datetime

    now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    big = planning.PrinterSlot(1, (360.0, 360.0, 400.0), "PLA", "Schwarz", now,
                               printer_class="large")
    small = planning.WorkItem(3600, "PLA", "any", (20.0, 20.0, 20.0))
    assert planning.can_print(big, small)  # no class: any printer, as before
    standard = planning.WorkItem(3600, "PLA", "any", (20.0, 20.0, 20.0),
                                 printer_class="standard")
    assert not planning.can_print(big, standard)
    large = planning.WorkItem(3600, "PLA", "any", (20.0, 20.0, 20.0), printer_class="large")
    assert planning.can_print(big, large)


@pytest.mark.db_independent
def test_the_layer_height_of_a_class():
    large, standard = catalog.PRINTER_CLASSES["large"], catalog.PRINTER_CLASSES["standard"]
    assert catalog.class_profile("large").nozzle_mm == 0.6
    assert catalog.class_profile("a hub's own name") is catalog.DEFAULT_PROFILE
    # the page's default layer height stands for the class's own
    assert catalog.class_layer_height(large, 0.2) == 0.3
    assert catalog.class_layer_height(standard, 0.2) == 0.2
    # a layer height the firm chose stays while the nozzle prints it well
    assert catalog.class_layer_height(large, 0.25) == 0.25
    assert catalog.class_layer_height(large, 0.15) == 0.15
    assert catalog.class_layer_height(large, 0.1) == 0.3  # too fine for a 0.6 mm nozzle
    assert catalog.class_layer_height(standard, 0.1) == 0.1


# --- the quote, the order, slicing ------------------------------------------------------------
@pytest.fixture
def farm(app, large_class_configured):
    for _ in range(2):
        make_printer(**STANDARD)
    make_printer(name="Gross-1", **LARGE)
    db.session.commit()


@pytest.fixture
def plate(app, tmp_path, firm_user, farm):
    """A 280 x 280 x 3 mm plate: only the large printer takes it."""
    part = _part(tmp_path, firm_user, box_stl(280, 280, 3), "platte.stl")
    assert part.analysis["printable"] is True
    hull = planning.part_hull_mm(part.analysis)
    assert hull is not None and planning.placement(part.analysis, [(250, 210, 210)]) is None
    return part


def _price(client, part, **options):
    resp = client.post(f"/parts/{part.public_id}/price", json={"material": "PLA", **options})
    assert resp.status_code == 200, resp.get_json()  # the test's queue makes estimates at once
    return resp.get_json()


def _machine_line(price: dict) -> dict:
    return next(line for line in price["lines"] if line["code"] == "machine")


def _row(part, printer_class: str) -> PartEstimate:
    return db.session.scalar(sa.select(PartEstimate).where(
        PartEstimate.part_id == part.id, PartEstimate.printer_class == printer_class))


def test_a_part_that_fits_only_the_large_printer_is_estimated_and_priced_for_it(
        client, login_as, firm_user, plate):
    login_as(firm_user)
    answer = _price(client, plate)
    assert answer["printer_class"] == {"name": "large", "nozzle_mm": 0.6,
                                       "layer_height_mm": 0.3, "default": False}
    # the estimate was made with the large class's profile: 0.3 mm layers
    row = _row(plate, "large")
    assert row is not None and row.status == "ready" and row.layer_height_um == 300
    assert row.estimate["layers"] == math.ceil(3 / 0.3 - 1e-9)
    assert _row(plate, "standard") is None or _row(plate, "standard").layer_height_um == 200
    # priced at the large class's machine rate
    machine = _machine_line(answer["price"])
    assert machine["params"]["printer_class"] == "large"
    seconds = row.estimate["print_time_s"]
    assert machine["amount_cents"] == pytest.approx(seconds / 3600 * 450, abs=1)
    # the page says which printer the price is for
    assert answer["display"]["printer_class"] == (
        "Preis für einen größeren Drucker (Düse 0,6 mm, Schichthöhe 0,30 mm): auf unsere "
        "Standarddrucker passt das Teil nicht.")
    # ... in English too
    client.get("/?lang=en")
    assert _price(client, plate)["display"]["printer_class"] == (
        "Priced for a larger printer (0.6 mm nozzle, 0.30 mm layers): the part does not fit "
        "our standard printers.")
    # the API says so too
    token = token_for(firm_user)
    api = client.post(f"/api/v1/parts/{plate.public_id}/price", headers=bearer(token),
                      json={"material": "PLA"})
    assert api.status_code == 200, api.get_json()
    assert api.get_json()["printer_class"] == "large"
    assert api.get_json()["layer_height_mm"] == 0.3
    # the quote line and the order's job record the class and the layer height printed
    quote = _quote(plate)
    line = quote.lines[0]
    assert line.printer_class == "large" and line.layer_height_mm == pytest.approx(0.3)
    order = orders.place_order(quote, placed_by=firm_user)
    db.session.commit()
    job = order.jobs[0]
    assert job.printer_class == "large" and job.layer_height_mm == pytest.approx(0.3)
    # slicing takes the large printer's profile (not the standard ones', the most common)
    assert preparing.choose_profile(job, "mk3s-pla-0.2mm") == "large-pla-0.6n"


def test_a_small_part_in_the_same_farm_stays_on_the_standard_class(
        client, login_as, firm_user, farm):
    part = store_part(firm_user.firm, firm_user)  # a 20 mm cube
    login_as(firm_user)
    answer = _price(client, part)
    assert answer["printer_class"]["name"] == "standard"
    assert answer["printer_class"]["layer_height_mm"] == 0.2
    assert answer["display"]["printer_class"] is None
    assert _machine_line(answer["price"])["params"]["printer_class"] == "standard"
    row = _row(part, "standard")
    assert row.layer_height_um == 200 and _row(part, "large") is None
    assert _machine_line(answer["price"])["amount_cents"] == pytest.approx(
        row.estimate["print_time_s"] / 3600 * 300, abs=1)
    order = orders.place_order(_quote(part), placed_by=firm_user)
    db.session.commit()
    job = order.jobs[0]
    assert job.printer_class == "standard"
    assert preparing.choose_profile(job, "x") == "mk3s-pla-0.2mm"


def test_an_estimate_row_made_before_classes_still_prices(client, login_as, firm_user, farm):
    """A row stored without a class is the standard profile's: it prices a standard part at
    once (no new estimate), and a job ordered before classes is sliced as before."""
    part = store_part(firm_user.firm, firm_user)
    rows = db.session.scalars(sa.select(PartEstimate).where(
        PartEstimate.part_id == part.id)).all()
    assert [r.printer_class for r in rows] == ["standard"]  # the analysis' own estimate
    # stored again as before classes: no class given, the database's default fills it in
    columns = ("part_id, units, layer_height_um, infill_percent, status, estimate, summary, "
               "created_at, attempts")
    rows[0].printer_class = "moved"  # out of the copy's way
    db.session.flush()
    db.session.execute(sa.text(f"INSERT INTO part_estimates ({columns}) SELECT {columns} "
                               "FROM part_estimates WHERE id = :id"), {"id": rows[0].id})
    db.session.execute(sa.delete(PartEstimate).where(PartEstimate.id == rows[0].id))
    db.session.commit()
    old = db.session.scalar(sa.select(PartEstimate).where(PartEstimate.part_id == part.id))
    assert old.id != rows[0].id and old.printer_class == "standard"
    login_as(firm_user)
    resp = client.post(f"/parts/{part.public_id}/price", json={"material": "PLA"})
    assert resp.status_code == 200, resp.get_json()  # no estimate pending
    assert db.session.scalar(sa.select(sa.func.count(PartEstimate.id)).where(
        PartEstimate.part_id == part.id)) == 1
    # a job without a class: the most common profile among printers with PLA loaded
    order = orders.place_order(_quote(part), placed_by=firm_user)
    job = order.jobs[0]
    job.printer_class = None
    db.session.commit()
    assert preparing.choose_profile(job, "x") == "mk3s-pla-0.2mm"


@pytest.mark.slicer
def test_a_part_that_fits_only_the_large_printer_is_sliced_for_it_and_goes_to_it(
        dispatch_settings, app, firm_user, plate):
    dispatch_settings.update(SLICER_DIFF_THRESHOLD=0.25, SLICER_TIME_DIFF_THRESHOLD=1000.0)
    quote = _quote(plate)
    assert quote.lines[0].printer_class == "large"
    job = sliced_job(quote, firm_user)
    assert job.slicing["profile"] == "large-pla-0.6n"
    assert job.slicing["nozzle_mm"] == pytest.approx(0.6)
    assert job.slicing["layers"] == 10  # 3 mm at 0.3 mm
    assert job.slicer_material_g == pytest.approx(quote.material_g, rel=0.10)
    assert job.slicer_print_time_s == pytest.approx(quote.print_time_s, rel=0.15)
    # matched to the large printer, and to no standard one
    need = matching.need_for(job)
    offers = [matching.offer_for(p) for p in db.session.scalars(sa.select(Printer)).all()]
    assert [p.name for p in matching.candidate_printers(need, offers)] == ["Gross-1"]
    assert np.all(np.asarray(job.slicing["bbox_mm"]) <= np.asarray([360, 360, 400]))
