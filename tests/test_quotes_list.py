"""Quotes the firm can find (issue 11): a list with each quote's validity (a hub setting, 30 days
by default); a quote is accepted at its price while valid; an expired quote is re-priced on
request (a button), never silently."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from marketplace.extensions import db
from marketplace.models import Order, Quote, utcnow
from marketplace.quotes import operations as quotes
from marketplace.settings import operations as settings
from tests.portal_helpers import firm_user, store_part  # noqa: F401 (fixture)


def _quote(user, **options):
    part = store_part(user.firm, user)
    try:
        quote = quotes.make_quote(part, **options)
    except quotes.EstimatePendingError:  # other options than the analysis estimated
        db.session.commit()  # immediate mode: the estimate is made on this commit
        quote = quotes.make_quote(part, **options)
    db.session.commit()
    return quote


def _expire(quote):
    quote.valid_until = utcnow() - timedelta(hours=1)
    db.session.commit()


def test_quotes_are_valid_for_the_hubs_days(app, firm_user):
    quote = _quote(firm_user)
    assert abs(quote.valid_until - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
    settings.set_quote_terms({"valid_days": 14, "terms": ""})
    db.session.commit()
    second = quotes.make_quote(quote.part)
    assert abs(second.valid_until - (utcnow() + timedelta(days=14))) < timedelta(minutes=1)


def test_admin_sets_the_validity_on_the_settings_page(client, login_as, make_user):
    login_as(make_user("admin"))
    page = client.get("/hub/settings").get_data(as_text=True)
    assert 'id="quotes-valid_days"' in page and 'value="30"' in page
    for bad in ("0", "366", "viele"):
        resp = client.post("/hub/settings/quotes", data={"valid_days": bad, "terms": ""})
        assert resp.status_code == 400
        assert "1 bis 365 Tage" in resp.get_data(as_text=True)
    resp = client.post("/hub/settings/quotes",
                       data={"valid_days": "21", "terms": "Es gelten unsere AGB."})
    assert resp.status_code == 302
    assert settings.get_quote_terms() == {"valid_days": 21, "terms": "Es gelten unsere AGB."}
    assert client.post("/hub/settings/quotes",
                       data={"valid_days": "21", "terms": "x" * 3001}).status_code == 400


def test_firm_lists_its_quotes_with_validity_and_state(client, login_as, firm_user, make_user):
    valid = _quote(firm_user)
    expired = _quote(firm_user, quantity=2)
    _expire(expired)
    ordered = _quote(firm_user, quantity=3)
    from marketplace.orders import operations as orders

    order = orders.place_order(ordered, placed_by=firm_user)
    db.session.commit()
    other = make_user("firm")
    foreign = _quote(other)
    login_as(firm_user)
    page = client.get("/quotes").get_data(as_text=True)
    assert f'data-quote="{valid.public_id}" data-state="valid"' in page
    assert f'data-quote="{expired.public_id}" data-state="expired"' in page
    assert f'data-quote="{ordered.public_id}" data-state="ordered"' in page
    assert order.number in page and foreign.public_id not in page
    assert f"/parts/{valid.part.public_id}/thumbnail?v=" in page  # the picture of each part
    from marketplace.formatting import format_date

    # shown in the hub's time zone (the UTC date differs from 22:00/23:00 UTC on)
    assert format_date(valid.valid_until, "de") in page
    assert 'href="/quotes"' in client.get("/parts").get_data(as_text=True)  # in the menu


def test_a_valid_quote_is_accepted_at_its_price(client, login_as, firm_user):
    quote = _quote(firm_user)
    price = quote.gross_cents
    rules = settings.get_pricing_rules()
    settings.set_pricing_rules({"setup_fee_cents": rules.setup_fee_cents + 5000})
    db.session.commit()
    login_as(firm_user)
    resp = client.post(f"/quotes/{quote.public_id}/order", data={"delivery": "pickup"})
    assert resp.status_code == 303
    order = db.session.scalar(sa.select(Order).where(Order.quote_id == quote.id))
    db.session.refresh(quote)
    assert order is not None and quote.gross_cents == price  # not the new setup fee


def test_an_expired_quote_is_not_ordered_and_not_silently_repriced(client, login_as, firm_user):
    quote = _quote(firm_user)
    before = (quote.gross_cents, quote.valid_until, quote.breakdown)
    _expire(quote)
    login_as(firm_user)
    page = client.get(f"/quotes/{quote.public_id}").get_data(as_text=True)
    assert 'id="quote-expired"' in page and 'id="reprice"' in page
    assert 'id="place-order"' not in page
    resp = client.post(f"/quotes/{quote.public_id}/order", data={"delivery": "pickup"},
                       follow_redirects=True)
    assert "abgelaufen" in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0
    db.session.refresh(quote)
    assert (quote.gross_cents, quote.breakdown) == (before[0], before[2])
    assert db.session.scalar(sa.select(sa.func.count(Quote.id))) == 1  # no new quote by itself


def test_reprice_makes_a_new_quote_at_todays_prices(client, login_as, firm_user):
    quote = _quote(firm_user, quantity=2, material_code="PETG", infill=30)
    _expire(quote)
    rules = settings.get_pricing_rules()
    settings.set_pricing_rules({"setup_fee_cents": rules.setup_fee_cents + 1000})
    db.session.commit()
    login_as(firm_user)
    resp = client.post(f"/quotes/{quote.public_id}/reprice")
    assert resp.status_code == 303
    new = db.session.scalar(sa.select(Quote).where(Quote.id != quote.id))
    assert resp.headers["Location"].endswith(f"/quotes/{new.public_id}")
    assert (new.quantity, new.material_code, new.infill_percent, new.part_id) == (
        2, "PETG", 30, quote.part_id)
    assert new.gross_cents > quote.gross_cents  # today's setup fee
    assert not quotes.is_expired(new) and quotes.is_expired(quote)
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Neu berechnet" in page and 'id="place-order"' in page
    old_price = f"{quote.gross_cents / 100:.2f}".replace(".", ",")
    assert old_price in page  # the old price is named next to the new one
    assert client.post(f"/quotes/{new.public_id}/order",
                       data={"delivery": "pickup"}).status_code == 303


def test_only_the_firm_reprices_its_quotes(client, login_as, firm_user, make_user):
    quote = _quote(firm_user)
    _expire(quote)
    login_as(make_user("firm"))
    assert client.post(f"/quotes/{quote.public_id}/reprice").status_code == 404
    login_as(make_user("technician"))
    assert client.post(f"/quotes/{quote.public_id}/reprice").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(Quote.id))) == 1


def test_a_quote_of_several_parts_with_shipping_is_repriced_whole(client, login_as, firm_user):
    from tests.hub_factories import make_printer

    make_printer()  # express is sold only with a date it makes earlier
    first, second = store_part(firm_user.firm, firm_user), store_part(firm_user.firm, firm_user)
    materials = quotes.hub_catalog()[0]
    items = [(part, quotes.compute(part, quotes.parse_options(
        {"material": "PLA", "quantity": n}, materials))) for part, n in ((first, 2), (second, 5))]
    quote = quotes.store_lines(firm_user.firm, items, delivery="shipping", express=True,
                               ship_to={"name": "Elbmarsch GmbH", "street": "Deichstr. 5",
                                        "postcode": "21423", "city": "Winsen", "country": "DE"})
    db.session.commit()
    _expire(quote)
    login_as(firm_user)
    page = client.get("/quotes").get_data(as_text=True)
    assert "und 1 weitere" in page
    assert client.post(f"/quotes/{quote.public_id}/reprice").status_code == 303
    new = db.session.scalar(sa.select(Quote).where(Quote.id != quote.id))
    assert [(line.part_id, line.quantity) for line in quotes.lines_of(new)] == [
        (first.id, 2), (second.id, 5)]
    assert (new.delivery, new.express, new.ship_to["city"]) == ("shipping", True, "Winsen")
    assert not quotes.is_expired(new)
