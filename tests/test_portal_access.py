"""Who may see what in the portal: another firm's ids are 404 on every route, sign-in needed."""

from __future__ import annotations

import pytest
from test_orders_service import make_quote

from marketplace.extensions import db
from marketplace.orders import operations as orders

ROUTES = [
    ("GET", "/parts/{part}"),
    ("GET", "/parts/{part}/status"),
    ("GET", "/parts/{part}/mesh"),
    ("POST", "/parts/{part}/units"),
    ("POST", "/parts/{part}/price"),
    ("POST", "/parts/{part}/quote"),
    ("GET", "/quotes/{quote}"),
    ("GET", "/quotes/{quote}/pdf"),
    ("POST", "/quotes/{quote}/order"),
    ("GET", "/orders/{order}"),
    ("GET", "/orders/{order}/status"),
    ("GET", "/orders/{order}/pdf"),
    ("POST", "/orders/{order}/reorder"),
]


@pytest.fixture
def owned(app, make_user):
    """An order (with its quote and part) of one firm, and a user of that firm."""
    quote = make_quote(quantity=2)
    order = orders.place_order(quote, placed_by=None)
    db.session.commit()
    owner = make_user("firm", firm=quote.firm)
    ids = {"part": quote.part.public_id, "quote": quote.public_id, "order": order.public_id}
    return owner, ids


@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_other_firm_gets_404(client, login_as, make_user, owned, method, route):
    _, ids = owned
    login_as(make_user("firm"))
    resp = client.open(route.format(**ids), method=method, data={"units": "mm"})
    assert resp.status_code == 404


@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_unknown_id_is_404(client, login_as, owned, method, route):
    owner, _ = owned
    login_as(owner)
    fake = {"part": "0" * 32, "quote": "0" * 32, "order": "0" * 32}
    assert client.open(route.format(**fake), method=method).status_code == 404


# (/parts is the guests' page: tests/test_guests.py)
@pytest.mark.parametrize(("method", "route"), ROUTES + [("GET", "/orders")])
def test_anonymous_is_sent_to_login(client, owned, method, route):
    _, ids = owned
    resp = client.open(route.format(**ids), method=method)
    assert resp.status_code in (302, 401)
    if resp.status_code == 302:
        assert "/login" in resp.headers["Location"]


@pytest.mark.parametrize("route", ["/orders/{order}", "/quotes/{quote}", "/orders/{order}/status"])
def test_owner_and_staff_see_the_order(client, login_as, make_user, owned, route):
    owner, ids = owned
    login_as(owner)
    assert client.get(route.format(**ids)).status_code == 200
    login_as(make_user("technician"))
    assert client.get(route.format(**ids)).status_code == 200


@pytest.mark.parametrize("route", ["/quotes/{quote}/order", "/orders/{order}/reorder"])
def test_staff_cannot_order_for_a_firm_in_the_portal(client, login_as, make_user, owned, route):
    _, ids = owned
    login_as(make_user("technician"))
    assert client.post(route.format(**ids)).status_code == 403


def test_lists_show_only_the_own_firm(client, login_as, make_user, owned):
    owner, ids = owned
    login_as(owner)
    assert ids["order"] in client.get("/orders").get_data(as_text=True)
    assert ids["part"] in client.get("/parts").get_data(as_text=True)
    login_as(make_user("firm"))
    assert ids["order"] not in client.get("/orders").get_data(as_text=True)
    assert ids["part"] not in client.get("/parts").get_data(as_text=True)
    assert ids["order"] not in client.get("/").get_data(as_text=True)
