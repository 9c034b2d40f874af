"""Issue 9, the app side: the firm's support choice prices the quote and is what slicing
does; a technician may override it (logged, the price stays); the slicer check is the price
lock; a part that fits no printer in service or is not printable gets no price, no date and
no order; ``orders show --json`` has each job's slice and actual figures.

Database tests: run on SQLite and (TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from octoprint_farm import dispatch_settings  # noqa: F401  (fixture)
from portal_helpers import firm_user, store_part  # noqa: F401  (fixture)
from quote_shapes import box_stl, jack_stl, soup_stl

from marketplace import jobs
from marketplace.extensions import db
from marketplace.hubqueue import operations as q
from marketplace.models import Firm, JobEvent, Order, Part, PrintJob, Quote, utcnow
from marketplace.orders import operations as orders
from marketplace.quotes import operations as quotes
from tests.hub_factories import make_printer


def _part(tmp_path: Path, firm_user, data: bytes, name: str) -> Part:
    path = tmp_path / name
    path.write_bytes(data)
    return store_part(firm_user.firm, firm_user, path)


@pytest.fixture
def jack(app, tmp_path, firm_user):
    return _part(tmp_path, firm_user, jack_stl(), "jack.stl")


def _price(client, part, **options):
    return client.post(f"/parts/{part.public_id}/price", json={"material": "PLA", **options})


# --- 1. the firm's support choice ---------------------------------------------------------------


def test_the_support_choice_prices_the_quote_and_the_job_records_the_decision(
        client, login_as, firm_user, jack):
    login_as(firm_user)
    make_printer()
    db.session.commit()
    auto = _price(client, jack, quantity=10).get_json()  # above the minimum order value
    assert auto["supports"] == {"choice": "auto", "with_supports": True, "needed": True}
    assert auto["display"]["supports_warning"] is None
    none = _price(client, jack, supports="none", quantity=10).get_json()
    assert none["supports"] == {"choice": "none", "with_supports": False, "needed": True}
    assert "Stützstrukturen brauchen" in none["display"]["supports_warning"]
    assert none["material_g"] < auto["material_g"] - 1.0  # the jack's supports: ~1.7 g
    assert none["price"]["net_cents"] < auto["price"]["net_cents"]
    bad = _price(client, jack, supports="maybe")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "supports"

    page = client.get(f"/parts/{jack.public_id}").get_data(as_text=True)
    assert 'name="supports"' in page and 'value="none"' in page

    made = {}
    for choice in ("auto", "none"):
        resp = client.post(f"/parts/{jack.public_id}/quote",
                           data={"material": "PLA", "quantity": 10, "supports": choice})
        assert resp.status_code == 303
        quote = db.session.scalar(sa.select(Quote).order_by(Quote.id.desc()).limit(1))
        assert quote.supports == choice and quote.with_supports is (choice == "auto")
        quote_page = client.get(f"/quotes/{quote.public_id}").get_data(as_text=True)
        assert 'id="quote-supports"' in quote_page
        made[choice] = quote
    assert made["none"].material_g == pytest.approx(none["material_g"], abs=0.05)
    assert made["none"].gross_cents < made["auto"].gross_cents
    for choice, quote in made.items():
        order = orders.place_order(quote, placed_by=firm_user)
        assert [j.supports for j in order.jobs] == [choice == "auto"] * 10
    # a cube needs none: "auto" decides no supports, and there is nothing to warn about
    cube = store_part(firm_user.firm, firm_user)
    plain = _price(client, cube).get_json()
    assert plain["supports"] == {"choice": "auto", "with_supports": False, "needed": False}
    assert _price(client, cube, supports="none").get_json()["material_g"] == plain["material_g"]


def test_each_line_of_an_order_of_several_parts_keeps_its_own_decision(firm_user, jack):
    from marketplace.settings import operations as settings

    def result(supports):
        options = quotes.parse_options({"material": "PLA", "quantity": 2, "supports": supports},
                                       settings.get_materials())
        for _ in range(2):
            try:
                return quotes.compute(jack, options)
            except quotes.EstimatePendingError:
                db.session.commit()
        raise AssertionError("estimate not made")

    quote = quotes.store_lines(firm_user.firm, [(jack, result("auto")), (jack, result("none"))])
    assert [(line.supports, line.with_supports) for line in quote.lines] == [
        ("auto", True), ("none", False)]
    assert quote.supports == "auto" and quote.with_supports is True  # the first line's
    order = orders.place_order(quote, placed_by=firm_user)
    assert [j.supports for j in order.jobs] == [True, True, False, False]
    again = orders.reorder(order)
    assert [line.supports for line in again.lines] == ["auto", "none"]
    assert quote.terms["ready_date"] is None  # no printer in service: no date promised


def test_reorder_keeps_the_support_choice(client, login_as, firm_user, jack):
    quote = quotes.make_quote(jack, supports="none")
    order = orders.place_order(quote, placed_by=firm_user)
    again = orders.reorder(order)
    assert again.supports == "none" and again.with_supports is False
    repriced = quotes.reprice(quote)  # "Neu berechnen" of an expired quote
    assert repriced.supports == "none" and repriced.with_supports is False


# --- technician override ------------------------------------------------------------------------


def _order(firm_user, part, supports="auto", quantity=1) -> Order:
    quote = quotes.make_quote(part, supports=supports, quantity=quantity)
    order = orders.place_order(quote, placed_by=firm_user)
    db.session.commit()
    return order


def test_a_technician_overrides_supports_before_slicing_and_the_price_stays(
        client, login_as, make_user, firm_user, jack):
    order = _order(firm_user, jack)
    job = order.jobs[0]
    price = (order.quote.gross_cents, order.quote.material_g, job.est_material_g)
    tech = make_user("technician")
    login_as(tech)
    resp = client.post(f"/hub/jobs/{job.public_id}/supports",
                       data={"supports": "none", "note": "Kunde ruft an: ohne Stützen"})
    assert resp.status_code == 302
    db.session.expire_all()
    job = db.session.get(PrintJob, job.id)
    assert job.supports is False and job.state == "received"
    event = job.events[-1]
    assert event.actor == tech.email and event.from_state == event.to_state == "received"
    assert event.data["action"] == "supports" and event.data["to"] is False
    assert "ohne Stützen" in event.reason
    # the figures the slicer is now held against: the same piece without supports
    assert 0.5 * job.est_material_g < event.data["check_material_g"] < job.est_material_g
    assert (order.quote.gross_cents, order.quote.material_g, job.est_material_g) == price
    page = client.get(f"/hub/jobs/{job.public_id}").get_data(as_text=True)
    assert 'data-supports="none"' in page and "Stützstrukturen: automatisch → keine" in page
    assert client.post(f"/hub/jobs/{job.public_id}/supports",
                       data={"supports": "sometimes"}).status_code == 400

    # queued (already sliced): back to slicing, the old G-code forgotten
    jobs.transition(job, "approved", actor="t", approved_at=utcnow())
    jobs.transition(job, "queued", actor="t", gcode_sha256="a" * 64, slicer_material_g=2.5,
                    slicer_print_time_s=900)
    q.set_supports(job, True, "tech@hub")
    assert job.state == "approved" and job.supports is True and job.gcode_sha256 is None
    assert job.slicer_material_g is None
    # on the printer: too late
    for state in ("queued", "dispatching", "starting", "printing"):
        jobs.transition(job, state, actor="t")
    with pytest.raises(q.QueueError):
        q.set_supports(job, False, "tech@hub")
    assert (order.quote.gross_cents, order.quote.material_g) == price[:2]


def test_the_firm_cannot_override_supports(client, login_as, firm_user, jack):
    order = _order(firm_user, jack)
    login_as(firm_user)
    resp = client.post(f"/hub/jobs/{order.jobs[0].public_id}/supports", data={"supports": "none"})
    assert resp.status_code in (403, 404)
    db.session.expire_all()
    assert db.session.get(PrintJob, order.jobs[0].id).supports is True


# --- slicing follows the decision; the price lock -----------------------------------------------

SUPPORT_MARK = ";TYPE:Support material"


@pytest.fixture
def slicer_settings(dispatch_settings):
    """Slicing with the fast test profile: its grams are the production profile's (same widths
    and density), its times are not (1000 mm/s), so only the grams are held to 25 %."""
    dispatch_settings.update(SLICER_DIFF_THRESHOLD=0.25, SLICER_TIME_DIFF_THRESHOLD=1000.0,
                             DEFAULT_SLICER_PROFILE="test-fast")
    return dispatch_settings


def _gcode(app, job) -> str:
    from printers import slicing

    return slicing.gcode_path(Path(app.config["UPLOAD_DIR"]) / "gcode",
                              job.gcode_sha256).read_text()


@pytest.mark.slicer
def test_slicing_uses_the_decision_and_the_lock_holds_it_against_the_quote(
        slicer_settings, app, firm_user, jack):
    from printers.preparing import slice_job

    with_sup = _order(firm_user, jack, "auto")
    without = _order(firm_user, jack, "none")
    for order in (with_sup, without):
        orders.approve_order(order, "tech@hub")
    db.session.commit()
    for order, marked in ((with_sup, True), (without, False)):
        job = order.jobs[0]
        assert slice_job(job.id) == "queued", [e.reason for e in job.events]
        db.session.expire_all()
        job = db.session.get(PrintJob, job.id)
        assert job.slicing["supports"] is marked
        assert (SUPPORT_MARK in _gcode(app, job)) is marked
        # within the lock's 25 %: grams of what was quoted and what is printed agree
        assert job.slicer_material_g == pytest.approx(order.quote.material_g, rel=0.25)
    assert (db.session.get(PrintJob, with_sup.jobs[0].id).slicer_material_g
            > db.session.get(PrintJob, without.jobs[0].id).slicer_material_g + 1.0)


@pytest.mark.slicer
def test_outside_the_tolerance_a_technician_sees_both_figures_and_the_price_stays(
        slicer_settings, app, firm_user, jack):
    from printers.preparing import slice_job

    order = _order(firm_user, jack, "auto")
    orders.approve_order(order, "tech@hub")
    job = order.jobs[0]
    # the old defect: the quote priced supports, slicing left them out (4.2 g vs ~2.6 g)
    job.supports = False
    db.session.commit()
    gross, quoted_g = order.quote.gross_cents, order.quote.material_g
    assert slice_job(job.id) == "needs_attention"
    db.session.expire_all()
    job = db.session.get(PrintJob, job.id)
    reason = job.events[-1].reason
    assert "material" in reason and f"quote {quoted_g:g} g" in reason
    assert f"slicer {job.slicer_material_g:g} g" in reason
    assert job.events[-1].data["est_material_g"] == quoted_g
    assert "material" in job.events[-1].data["off"]  # what the console names, in its words
    assert job.events[-1].data["tolerance_material"] == 0.25
    assert db.session.get(Quote, order.quote_id).gross_cents == gross  # never repriced
    assert job.est_material_g == quoted_g


@pytest.mark.slicer
def test_after_a_technicians_override_the_lock_uses_the_estimate_for_that_choice(
        slicer_settings, app, firm_user, jack):
    from printers.preparing import slice_job

    order = _order(firm_user, jack, "auto")
    job = order.jobs[0]
    q.set_supports(job, False, "tech@hub", "ohne Stützen, Kunde trägt das Risiko")
    orders.approve_order(order, "tech@hub")
    db.session.commit()
    assert slice_job(job.id) == "queued"  # held against 2.5 g, not the quote's 4.2 g
    db.session.expire_all()
    job = db.session.get(PrintJob, job.id)
    assert SUPPORT_MARK not in _gcode(app, job) and job.slicing["supports"] is False
    data = job.events[-1].data
    assert data["check_material_g"] < 0.75 * job.est_material_g
    assert job.slicer_material_g == pytest.approx(data["check_material_g"], rel=0.25)
    assert db.session.get(Quote, order.quote_id).material_g == job.est_material_g


@pytest.mark.db_independent
def test_the_time_tolerance_defaults_to_the_grams_tolerance():
    from config import Config
    from printers.settings import DispatcherSettings

    values = {k: getattr(Config, k) for k in dir(Config) if k.isupper()}
    settings = DispatcherSettings.from_config({**values, "UPLOAD_DIR": "/tmp/u"})
    assert settings.slicer_time_threshold == settings.slicer_diff_threshold == 0.25
    settings = DispatcherSettings.from_config({**values, "UPLOAD_DIR": "/tmp/u",
                                               "SLICER_TIME_DIFF_THRESHOLD": "0.15"})
    assert settings.slicer_time_threshold == 0.15
    assert replace(settings, slicer_time_diff_threshold=None).slicer_time_threshold == 0.25


# --- 3. the build-volume gate -------------------------------------------------------------------


def test_a_part_that_fits_no_printer_in_service_gets_no_price_and_no_date(
        client, login_as, firm_user, tmp_path):
    part = _part(tmp_path, firm_user, box_stl(200, 100, 20), "platte.stl")
    assert part.analysis["printable"] is True  # fits the configured 250 x 210 x 210 mm
    small = make_printer(build_x_mm=150, build_y_mm=150, build_z_mm=150)
    db.session.commit()
    login_as(firm_user)
    resp = _price(client, part)
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["code"] == "too_large"
    assert "200,0 × 100,0 × 20,0" in error["message"]  # the part's size
    assert "150,0 × 150,0 × 150,0" in error["message"]  # the largest printer's
    # what can be done: 96 % (stood on edge and tilted, corner to corner), not the 75 % of
    # the footprint lying flat
    assert "96 %" in error["message"] and "Einheit" in error["message"]
    assert "in keiner Lage" in error["message"]
    page = client.get(f"/parts/{part.public_id}").get_data(as_text=True)
    assert 'id="price-refused"' in page and "150,0 × 150,0 × 150,0" in page
    assert 'id="make-quote" disabled' in page
    assert client.post(f"/parts/{part.public_id}/quote",
                       data={"material": "PLA"}).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(Quote.id))) == 0
    # a bigger printer in service takes it: price and date
    big = make_printer(build_x_mm=300, build_y_mm=300, build_z_mm=300)
    db.session.commit()
    ok = _price(client, part).get_json()
    assert ok["price"]["gross_cents"] > 0 and ok["delivery_date"]
    # ... unless it is in maintenance: no printer in service takes the part again
    big.state = "maintenance"
    db.session.commit()
    assert _price(client, part).get_json()["error"]["code"] == "too_large"
    # no printer in service at all: the configured volumes decide; a price, no date
    small.state = "offline"
    db.session.commit()
    none = _price(client, part).get_json()
    assert none["price"]["gross_cents"] > 0 and none["delivery_date"] is None
    assert none["display"]["delivery_note"].startswith("Den Liefertermin bestätigt der Hub")
    client.post(f"/parts/{part.public_id}/quote", data={"material": "PLA"})
    quote = db.session.scalar(sa.select(Quote))
    assert quote.delivery_date is None
    quote_page = client.get(f"/quotes/{quote.public_id}").get_data(as_text=True)
    assert "Den Liefertermin bestätigt der Hub" in quote_page
    order = orders.place_order(quote, placed_by=firm_user)
    db.session.commit()
    assert order.due_date is None
    order_page = client.get(f"/orders/{order.public_id}").get_data(as_text=True)
    assert "Den Liefertermin bestätigt der Hub" in order_page


def test_an_x_carriage_read_as_inches_gets_no_price(client, login_as, firm_user, tmp_path):
    """951 x 864 x 660 mm used to show 10,979.29 € and a date three months out."""
    path = tmp_path / "x-carriage.stl"
    path.write_bytes(box_stl(37.44, 34.02, 25.98))  # inch figures of the X-carriage's box
    part = store_part(firm_user.firm, firm_user, path)
    if part.units != "inch":
        from marketplace.parts import operations as parts

        parts.reanalyse(part, "inch")
        db.session.commit()
        parts.analyse(part.id)
        db.session.refresh(part)
    assert part.analysis["printable"] is False
    make_printer()
    db.session.commit()
    login_as(firm_user)
    resp = _price(client, part)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "not_printable"
    page = client.get(f"/parts/{part.public_id}").get_data(as_text=True)
    assert 'id="make-quote" disabled' in page and 'id="price-refused"' in page
    assert "Sie können trotzdem anfragen" not in page


# --- 4. honest printability ---------------------------------------------------------------------


def test_a_part_that_is_not_printable_has_no_price_and_cannot_be_ordered(
        client, login_as, firm_user, tmp_path):
    soup = _part(tmp_path, firm_user, soup_stl(), "soup.stl")
    assert soup.analysis["printable"] is False
    assert "not_closable" in {p["code"] for p in soup.analysis["problems"]}
    login_as(firm_user)
    page = client.get(f"/parts/{soup.public_id}").get_data(as_text=True)
    assert 'id="price-refused"' in page and 'id="make-quote" disabled' in page
    assert "Sie können trotzdem anfragen" not in page
    resp = _price(client, soup)
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "not_printable"
    assert "nicht druckbar" in resp.get_json()["error"]["message"]
    refused = client.post(f"/parts/{soup.public_id}/quote", data={"material": "PLA"})
    assert refused.status_code == 400 and "nicht druckbar" in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Quote.id))) == 0

    # a quote made while the part was printable, the part analysed again since: no order
    cube = store_part(firm_user.firm, firm_user)
    quote = quotes.make_quote(cube)
    db.session.commit()
    cube.analysis = {**cube.analysis, "printable": False, "problems": soup.analysis["problems"]}
    db.session.commit()
    resp = client.post(f"/quotes/{quote.public_id}/order", data={"delivery": "pickup"})
    assert resp.status_code == 409 and "nicht druckbar" in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0


def test_orders_submit_refuses_a_part_that_is_not_printable(runner, app, tmp_path):
    cases = {"soup.stl": soup_stl(), "rail.stl": box_stl(400, 20, 20)}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = runner.invoke(args=["orders", "submit", str(path), "--firm", "Neu GmbH"])
        assert result.exit_code == 2, (name, result.output)
        assert "nicht druckbar" in result.stderr and name in result.stderr
        assert result.stdout == "" and "Traceback" not in result.output
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Part.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Firm.id))) == 0
    # a printable part with --supports none is ordered with that decision
    jack = tmp_path / "jack.stl"
    jack.write_bytes(jack_stl())
    ok = runner.invoke(args=["orders", "submit", str(jack), "--firm", "Neu GmbH",
                             "--supports", "none"])
    assert ok.exit_code == 0, ok.output
    order = db.session.scalar(sa.select(Order))
    assert order.quote.supports == "none" and order.jobs[0].supports is False
    bad = runner.invoke(args=["orders", "submit", str(jack), "--firm", "Neu GmbH",
                              "--supports", "maybe"])
    assert bad.exit_code == 2


# --- 5. orders show --json ----------------------------------------------------------------------


def test_orders_show_json_has_slice_and_actual_once_known(runner, app, firm_user, jack):
    order = _order(firm_user, jack)
    job = order.jobs[0]

    def shown() -> dict:
        out = runner.invoke(args=["orders", "show", order.number, "--json"])
        assert out.exit_code == 0, out.output
        return json.loads(out.output)["jobs"][0]

    first = shown()
    assert "slice" not in first and "actual" not in first and first["supports"] is True
    jobs.transition(job, "approved", actor="t", approved_at=utcnow())
    jobs.transition(job, "queued", actor="dispatcher", slicer_material_g=4.8,
                    slicer_print_time_s=2061, slicing={"profile": "mk3s", "supports": True})
    db.session.commit()
    sliced = shown()
    assert sliced["slice"] == {"material_g": 4.8, "print_time_s": 2061, "supports": True}
    assert "actual" not in sliced
    for state in ("dispatching", "starting", "printing"):
        jobs.transition(job, state, actor="dispatcher")
    jobs.transition(job, "printed", actor="dispatcher", actual_print_time_s=2190,
                    finished_at=utcnow())
    db.session.commit()
    printed = shown()
    assert printed["actual"] == {"print_time_s": 2190}
    assert printed["slice"]["supports"] is True


def test_events_of_an_override_are_listed_in_order_show(runner, app, firm_user, jack):
    order = _order(firm_user, jack)
    q.set_supports(order.jobs[0], False, "tech@hub")
    db.session.commit()
    data = json.loads(runner.invoke(args=["orders", "show", order.number, "--json"]).output)
    assert data["jobs"][0]["supports"] is False
    assert any("Stützstrukturen" in (e["reason"] or "") for e in data["events"])
    assert db.session.scalar(sa.select(sa.func.count(JobEvent.id)).where(
        JobEvent.job_id == order.jobs[0].id)) == 2


# --- the quote command's contract, as a user runs it ----------------------------------------------


@pytest.mark.db_independent
@pytest.mark.parametrize("supports", ["auto", "none"])
def test_the_quote_command_keeps_its_contract(tmp_path, supports):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]

    def quote(path: Path) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "marketplace.quote", str(path), "--json", "--supports",
             supports], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
            capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        return json.loads(done.stdout)

    cases = {"jack.stl": jack_stl(), "rail.stl": box_stl(400, 20, 20), "soup.stl": soup_stl()}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    jack = quote(tmp_path / "jack.stl")
    e = jack["estimate"]
    assert {"supports", "model_g", "support_g", "support_time_s"} <= set(e)
    assert e["supports"] is (supports == "auto") and jack["options"]["supports"] == supports
    assert (e["support_g"] > 0) is (supports == "auto")
    assert jack["printable"] is True and float(jack["price"]["net"]) > 0
    rail = quote(tmp_path / "rail.stl")  # fits no printer: no price, the estimate still given
    assert rail["printable"] is False and rail["price"] is None
    assert rail["estimate"]["material_g"] > 0 and "support_g" in rail["estimate"]
    soup = quote(tmp_path / "soup.stl")  # no closed solid: no price
    assert soup["printable"] is False and soup["price"] is None
    assert "not_closable" in {p["code"] for p in soup["problems"]}
