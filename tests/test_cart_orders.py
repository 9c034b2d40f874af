"""Orders of several parts with delivery: one quote, one order, one set-up fee, jobs per line,
express priority, shipping address and date, the invoice's lines (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa
from invoice_helpers import complete_legal_details
from portal_helpers import cube_stl, pdf_text, store_part

from marketplace.engine.pricing.delivery import DEFAULT_DELIVERY
from marketplace.extensions import db
from marketplace.hubqueue import operations as hubqueue
from marketplace.invoices import documents as invoice_documents
from marketplace.invoices import einvoice, validation
from marketplace.invoices import operations as invoices
from marketplace.jobs import transition
from marketplace.models import Firm, Order, Quote, QuoteLine
from marketplace.orders import operations as orders
from marketplace.quotes import operations as quotes
from marketplace.scheduling.live import shipping_arrival
from marketplace.settings import operations as settings
from tests.hub_factories import make_printer


@pytest.fixture
def two_parts(app, make_user):
    user = make_user("firm")
    small = store_part(user.firm, user, name="Klemme.stl")
    big = store_part(user.firm, user, name="Gehäuse.stl")
    make_printer()  # a printer in service: dates are promised (none without one, issue 9)
    db.session.commit()
    return user, small, big


def _result(part, **options):
    raw = {"material": "PLA", "quantity": 1, **options}
    options = quotes.parse_options(raw, settings.get_materials())
    for _ in range(2):
        try:
            return quotes.compute(part, options)
        except quotes.EstimatePendingError:
            db.session.commit()  # immediate mode: the commit makes the estimate
    raise AssertionError("estimate not made")


def _quote(user, small, big, **kw):
    items = [(small, _result(small, quantity=2, colour="Rot")),
             (big, _result(big, material="PETG", quantity=10, infill=40))]
    quote = quotes.store_lines(user.firm, items, **kw)
    db.session.commit()
    return quote


def test_one_quote_of_two_parts_has_one_setup_fee_and_both_lines(two_parts):
    user, small, big = two_parts
    quote = _quote(user, small, big)
    assert [(line.position, line.part_id, line.material_code, line.quantity)
            for line in quote.lines] == [(1, small.id, "PLA", 2), (2, big.id, "PETG", 10)]
    assert quote.lines[1].infill_percent == 40 and quote.lines[0].colour == "Rot"
    codes = [line["code"] for line in quote.breakdown["lines"]]
    assert codes.count("setup") == 1 and codes.count("material") == 2
    assert "discount" in codes  # 10 pieces of the second part: 5 %
    assert sum(x["amount_cents"] for x in quote.breakdown["lines"]) == quote.net_cents
    assert quote.gross_cents == quote.net_cents + quote.vat_cents
    # the same parts as two orders of their own pay the set-up fee twice
    single = sum(quotes.store(p, _result(p, **o)).net_cents for p, o in (
        (small, {"quantity": 2, "colour": "Rot"}),
        (big, {"material": "PETG", "quantity": 10, "infill": 40})))
    assert single - quote.net_cents >= settings.get_pricing_rules().setup_fee_cents
    assert (quote.part_id, quote.quantity) == (small.id, 2)  # first line's, for one-part readers


def test_order_takes_every_line_with_jobs_per_line(two_parts):
    user, small, big = two_parts
    quote = _quote(user, small, big)
    order = orders.place_order(quote, placed_by=user)
    db.session.commit()
    assert len(order.jobs) == 12
    by_line = {line.position: orders.jobs_of_line(order, line) for line in quote.lines}
    assert [j.copy_index for j in by_line[1]] == [1, 2]
    assert [j.copy_index for j in by_line[2]] == list(range(1, 11))
    assert {(j.part_id, j.material_code, j.infill_percent) for j in by_line[2]} == {
        (big.id, "PETG", 40)}
    assert {j.priority for j in order.jobs} == {0}
    assert order.gross_cents == quote.gross_cents and order.delivery == "pickup"
    summaries = orders.line_summaries(order)
    assert [(s.part.original_name, s.line.quantity, s.counts) for s in summaries] == [
        ("Klemme.stl", 2, {"received": 2}), ("Gehäuse.stl", 10, {"received": 10})]
    for job in by_line[2][:7]:
        for state in ("approved", "queued", "dispatching", "printing", "printed"):
            transition(job, state, actor="t")
    for job in by_line[2][7:]:
        for state in ("approved", "queued", "dispatching", "printing"):
            transition(job, state, actor="t")
    db.session.commit()
    assert orders.line_counts(order, quote.lines[1]) == {"printed": 7, "printing": 3}
    assert orders.orders_of_part(big) == [order]


def test_express_shipping_prices_priority_address_and_delivery_date(two_parts):
    user, small, big = two_parts
    quote = _quote(user, small, big)
    offers = {(v.delivery, v.express): v for v in quotes.variants(quote)}
    pickup, shipped = offers[("pickup", False)], offers[("shipping", True)]
    assert pickup.gross_cents == quote.gross_cents
    codes = {x["code"]: x["amount_cents"] for x in shipped.price["lines"]
             if x["code"] in ("express", "shipping")}
    assert codes["shipping"] == quote.terms["shipment"]["price_cents"] > 0
    goods = pickup.price["net_cents"]
    assert codes["express"] == max(round(goods * DEFAULT_DELIVERY.express_percent / 100),
                                   DEFAULT_DELIVERY.express_min_cents)
    assert shipped.price["net_cents"] == goods + codes["express"] + codes["shipping"]
    # weight: the estimate's grams of every piece plus packaging
    grams = sum(line.material_g * line.quantity for line in quote.lines)
    assert quote.terms["shipment"]["weight_g"] >= grams + DEFAULT_DELIVERY.packaging_g
    # the date: the delivery date for shipping, ready date + 2 German working days
    ready = date.fromisoformat(quote.terms["ready_date_express"])
    assert shipped.date == shipping_arrival(ready, 2) and shipped.date > ready
    assert pickup.date == date.fromisoformat(quote.terms["ready_date"])

    other = {"name": "Werk 2", "street": "Industriestraße 9", "postcode": "21339",
             "city": "Lüneburg"}
    order = orders.place_order(quote, placed_by=user, delivery="shipping", express=True,
                               ship_to=other)
    db.session.commit()
    assert order.gross_cents == shipped.gross_cents and order.due_date == shipped.date
    assert order.ship_to == {**other, "country": "DE"} and order.express
    assert {j.priority for j in order.jobs} == {DEFAULT_DELIVERY.express_priority}
    assert {j.due_date for j in order.jobs} == {ready}


def test_shipping_defaults_to_the_firm_address_and_checks_it(two_parts):
    user, small, big = two_parts
    quote = _quote(user, small, big, delivery="shipping")
    assert quote.delivery == "shipping"
    assert any(x["code"] == "shipping" for x in quote.breakdown["lines"])
    with pytest.raises(orders.OrderError) as bad:
        orders.place_order(quote, placed_by=user, ship_to={"name": "X", "street": "Y",
                                                           "postcode": "123", "city": "Z"})
    assert bad.value.code == "ship_to"
    with pytest.raises(orders.OrderError) as abroad:
        orders.place_order(quote, placed_by=user, ship_to={
            "name": "X", "street": "Y", "postcode": "1010", "city": "Wien", "country": "AT"})
    assert abroad.value.code == "ship_to"
    order = orders.place_order(quote, placed_by=user)
    assert order.ship_to["street"] == user.firm.street
    assert order.ship_to["postcode"] == user.firm.postcode


def test_a_quote_keeps_its_terms_when_the_hub_changes_tariffs(two_parts):
    user, small, big = two_parts
    quote = _quote(user, small, big)
    before = quotes.variant(quote, "shipping", True).gross_cents
    rules = DEFAULT_DELIVERY.to_dict()
    rules["express_percent"] = 90
    rules["parcel_classes"] = [{**c, "price_cents": c["price_cents"] * 3}
                               for c in rules["parcel_classes"]]
    settings.set_delivery_rules(rules)
    db.session.commit()
    assert quotes.variant(quote, "shipping", True).gross_cents == before
    fresh = _quote(user, small, big)
    assert quotes.variant(fresh, "shipping", True).gross_cents > before


def test_bad_delivery_settings_are_refused(app):
    with pytest.raises(settings.SettingsError) as exc:
        settings.set_delivery_rules({"parcel_classes": [], "express_percent": -1})
    assert set(exc.value.errors) == {"parcel_classes", "express_percent"}


def test_invoice_of_a_shipped_multi_part_order_has_a_line_per_part_and_validates(two_parts):
    complete_legal_details()
    user, small, big = two_parts
    quote = _quote(user, small, big, delivery="shipping", express=True)
    order = orders.place_order(quote, placed_by=user, reference="PO-42")
    for job in order.jobs:
        for state in ("approved", "queued", "dispatching", "printing", "printed"):
            transition(job, state, actor="t")
    invoice = hubqueue.hand_over_finished(order, shipped=True, actor="t").invoice
    db.session.commit()
    assert [(line.kind, line.quantity) for line in invoice.lines] == [
        ("part", 2), ("part", 10), ("setup", 1), ("express", 1), ("shipping", 1)]
    assert [line.name for line in invoice.lines[:2]] == ["Klemme.stl", "Gehäuse.stl"]
    assert invoice.net_cents == order.net_cents and invoice.gross_cents == order.gross_cents
    for report in validation.validate_xrechnung(einvoice.xrechnung_xml(invoice)):
        assert report.ok, report.summary()
    for report in validation.validate_zugferd(einvoice.zugferd_pdf(invoice)):
        assert report.ok, report.summary()
    # the address the parts went to: the e-invoice's deliver-to party (BG-13), and the PDF's
    ship = order.ship_to
    delivery = einvoice.xrechnung_xml(invoice).decode().split("<ram:ShipToTradeParty>")[1]
    delivery = delivery.split("</ram:ShipToTradeParty>")[0]
    for value in (ship["name"], ship["street"], ship["postcode"], ship["city"]):
        assert value in delivery
    text = " ".join(pdf_text(invoice_documents.invoice_pdf(invoice)).split())
    # (the PDF's text layer mangles umlauts: the part of the address without them)
    assert f"Lieferadresse {ship['name']}, {ship['street']}, {ship['postcode']} L" in text
    parts = invoices.order_parts(order)
    assert [(p.position, p.ordered) for p in parts] == [(1, 2), (2, 10)]


def test_reorder_quotes_every_line_again_with_its_delivery(two_parts):
    user, small, big = two_parts
    quote = _quote(user, small, big, delivery="shipping")
    order = orders.place_order(quote, placed_by=user)
    db.session.commit()
    again = orders.reorder(order)
    assert again.id != quote.id and again.delivery == "shipping"
    assert [(x.part_id, x.quantity, x.material_code) for x in again.lines] == [
        (x.part_id, x.quantity, x.material_code) for x in quote.lines]


def test_part_in_a_multi_part_order_cannot_be_deleted(two_parts):
    from marketplace.parts import operations as parts

    user, small, big = two_parts
    quote = _quote(user, small, big)
    assert not parts.is_ordered(big)
    orders.place_order(quote, placed_by=user)
    db.session.commit()
    assert parts.is_ordered(big)
    with pytest.raises(parts.UploadError):
        parts.delete_part(big)


def test_deleting_an_unordered_part_removes_quotes_with_it(two_parts):
    from marketplace.parts import operations as parts

    user, small, big = two_parts
    quote_id = _quote(user, small, big).id
    parts.delete_part(big)
    db.session.commit()
    assert db.session.get(Quote, quote_id) is None
    assert db.session.scalar(sa.select(sa.func.count(QuoteLine.id))) == 0


def test_cli_submit_takes_several_files_into_one_order(runner, tmp_path, app):
    a, b = tmp_path / "a.stl", tmp_path / "b.stl"
    a.write_bytes(cube_stl(20))
    b.write_bytes(cube_stl(12))
    result = runner.invoke(args=["orders", "submit", str(a), str(b), "--firm", "Mehr GmbH",
                                 "--quantity", "3", "--material", "PETG", "--approve"])
    assert result.exit_code == 0, result.output
    order = db.session.scalar(sa.select(Order).where(Order.number == result.output.strip()))
    assert [(x.part.original_name, x.quantity, x.material_code) for x in order.quote.lines] == [
        ("a.stl", 3, "PETG"), ("b.stl", 3, "PETG")]
    assert len(order.jobs) == 6 and {j.state for j in order.jobs} == {"approved"}
    shown = json.loads(runner.invoke(args=["orders", "show", order.number, "--json"]).output)
    assert [(x["name"], x["states"]) for x in shown["lines"]] == [
        ("a.stl", {"approved": 3}), ("b.stl", {"approved": 3})]
    assert [j["line"] for j in shown["jobs"]] == [1, 1, 1, 2, 2, 2]
    text = runner.invoke(args=["orders", "show", order.number]).output
    assert "1. a.stl: 3 x PETG (3 approved)" in text


def test_cli_submit_shipping_needs_an_address_and_leaves_nothing(runner, tmp_path, app):
    a = tmp_path / "a.stl"
    a.write_bytes(cube_stl(20))
    result = runner.invoke(args=["orders", "submit", str(a), str(tmp_path / "missing.stl"),
                                 "--firm", "Leer GmbH"])
    assert result.exit_code == 2 and "cannot read" in result.output
    shipped = runner.invoke(args=["orders", "submit", str(a), "--firm", "Ohne Adresse GmbH",
                                  "--delivery", "shipping", "--express"])
    assert shipped.exit_code == 2 and "error:" in shipped.output
    assert "PLZ" in shipped.output
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Firm.id))) == 0


def test_technicians_history_is_per_part_not_per_piece(two_parts, client, login_as, make_user):
    user, small, big = two_parts
    quote = _quote(user, small, big)
    order = orders.place_order(quote, placed_by=user)
    orders.approve_order(order, "technik@hub.de")
    db.session.commit()
    line2 = orders.jobs_of_line(order, quote.lines[1])
    transition(line2[0], "cancelled", actor="technik@hub.de", reason="Riss im Modell")
    db.session.commit()
    rows = hubqueue.part_history(line2[3])
    # created (10 pieces) and approved (10 pieces): one row each; the piece cancelled apart
    assert (rows[0].event.to_state, rows[0].pieces) == ("cancelled", [1])
    assert [(r.event.to_state, r.pieces_text) for r in rows][-2:] == [
        ("approved", "1–10"), ("received", "1–10")]
    assert all(r.total == 10 for r in rows)
    other = hubqueue.part_history(orders.jobs_of_line(order, quote.lines[0])[0])
    assert [(r.event.to_state, r.pieces_text) for r in other] == [
        ("approved", "1, 2"), ("received", "1, 2")]
    login_as(make_user("technician"))
    page = client.get(f"/hub/jobs/{line2[3].public_id}").get_data(as_text=True)
    assert page.count('data-pieces="10"') == 2 and "Gehäuse.stl" in page


def test_admin_sets_parcel_tariffs_and_express_terms(client, login_as, make_user):
    login_as(make_user("admin"))
    page = client.get("/hub/settings").get_data(as_text=True)
    assert "P5: 5000, 1200x600x600, 7,00" in page
    resp = client.post("/hub/settings/delivery", data={
        "parcel_classes": "Klein: 1000, 350x250x100, 4,50\nGroß: 31500, 1200x600x600, 19,90",
        "packaging_g": "300", "packaging_percent": "5", "padding_mm": "20", "fill_percent": "50",
        "shipping_days": "1", "express_percent": "40", "express_min_eur": "20,00",
        "express_priority": "7"})
    assert resp.status_code == 302
    rules = settings.get_delivery_rules()
    assert [(p.code, p.max_weight_g, p.price_cents) for p in rules.parcel_classes] == [
        ("Klein", 1000, 450), ("Groß", 31500, 1990)]
    assert (rules.express_percent, rules.express_min_cents, rules.express_priority,
            rules.shipping_days) == (40, 2000, 7, 1)
    bad = client.post("/hub/settings/delivery", data={
        "parcel_classes": "Klein 1000", "express_priority": "99", "express_min_eur": "x"})
    assert bad.status_code == 400 and "Paketklasse pro Zeile" in bad.get_data(as_text=True)
    bad = client.post("/hub/settings/delivery", data={
        "parcel_classes": "A: 1000, 10x10x10, 1,00", "express_priority": "99",
        "express_min_eur": "1", "packaging_g": "1", "packaging_percent": "1", "padding_mm": "1",
        "fill_percent": "50", "shipping_days": "1", "express_percent": "1"})
    assert bad.status_code == 400 and settings.get_delivery_rules().express_priority == 7


def test_quotes_list_describes_a_multi_part_quote_by_all_its_lines(two_parts, client, login_as):
    """Walk finding: a quote of 2 parts (2 PLA Rot + 10 PETG) was listed as "2 × PLA"."""
    user, small, big = two_parts
    quote = _quote(user, small, big)
    login_as(user)
    page = client.get("/quotes").get_data(True)
    row = page[page.index(f'data-quote="{quote.public_id}"'):]
    spec = row[row.index("data-spec>") + len("data-spec>"):row.index("</td>", row.index("data-spec"))]
    assert "12 Stück" in spec and "PLA, PETG" in spec and "Rot" in spec, spec
    assert "2 × PLA" not in spec


def test_express_is_ready_earlier_and_not_sold_where_it_gains_no_day(two_parts, client,
                                                                     login_as):
    """Walk finding: with an idle farm express cost 15 EUR more for the same date. Express
    pieces are now finished and packed the day they come off the printer (no handling day),
    so express is ready earlier; where it still gains no day (a hub with no handling days),
    it is not sold: the quote is made without it, the variant is marked, an order refused."""
    user, small, big = two_parts
    quote = _quote(user, small, big, delivery="pickup", express=True)
    assert quote.express
    standard = date.fromisoformat(quote.terms["ready_date"])
    express = date.fromisoformat(quote.terms["ready_date_express"])
    assert express < standard  # one handling day (the hub's default) saved
    assert all(v.offered for v in quotes.variants(quote))

    settings.set_opening_hours({**settings.opening_hours_to_dict(
        settings.get_opening_hours()), "handling_days": 0})
    db.session.commit()
    same = _quote(user, small, big, delivery="pickup", express=True)
    assert same.terms["ready_date"] == same.terms["ready_date_express"]
    assert not same.express and "express" not in {x["code"] for x in same.breakdown["lines"]}
    offers = {(v.delivery, v.express): v for v in quotes.variants(same)}
    assert not offers[("pickup", True)].offered and offers[("pickup", False)].offered
    with pytest.raises(orders.OrderError) as refused:
        orders.place_order(same, placed_by=user, delivery="pickup", express=True)
    assert refused.value.code == "express_no_gain"
    login_as(user)
    page = client.get(f"/quotes/{same.public_id}").get_data(True)
    assert page.count("data-express-no-gain") == 2  # pickup and shipping express
    assert 'id="variant-pickup-express" disabled' in page
