"""Bad input never makes a 500: random JSON at every POST route, random form data at every form,
random query strings at every page (routes read from the app's URL map, so a new route is
covered the day it is added).

Field names come from the templates and the WTForms classes (with the prefixes the views give
them); values are random text and numbers plus the nasty ones (NaN, infinities, 1e309, huge
integers, a list or a number as the whole JSON body). The session is signed in again before
every request (some routes sign out); the rows the routes act on exist (a part, quote, order
with jobs, a printer) and their state may change from one example to the next.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from portal_helpers import store_part
from wtforms.fields.core import UnboundField

from marketplace.extensions import db
from marketplace.portal import auth_forms
from marketplace.portal import forms as portal_forms
from tests.hub_factories import make_printer

ROOT = Path(__file__).resolve().parents[1]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# POST routes that only anonymous visitors use (signed in, they redirect)
ANONYMOUS = {"portal.login", "portal.signup", "portal.forgot_password", "portal.reset_password"}
SKIP_GET = {"static", "ops.metrics"}  # files; the metrics page answers 404 off its network


def _field_names() -> list[str]:
    names = set()
    for path in (ROOT / "marketplace" / "templates").rglob("*.html"):
        names |= set(re.findall(r'name="([A-Za-z_][\w-]*)"', path.read_text(encoding="utf-8")))
    for stem in ("open_", "close_", "closed_"):
        names |= {stem + day for day in WEEKDAYS}
    for module in (auth_forms, portal_forms):
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            fields = [k for k, v in vars(cls).items() if isinstance(v, UnboundField)]
            for base in cls.__mro__[1:]:
                fields += [k for k, v in vars(base).items() if isinstance(v, UnboundField)]
            for prefix in ("", "profile-", "pw-", "invite-", "firm-"):
                names |= {prefix + f for f in fields}
    return sorted(n for n in names if not n.endswith("-") and n != "csrf_token")


FIELDS = _field_names()
NASTY = ["inf", "-inf", "Infinity", "nan", "NaN", "1e309", "-1e309", "1e-400", "9" * 40,
         "-" + "9" * 40, "9" * 5000, "0", "-1", "1.5", "0,2", "", " ", "\x00", "ü" * 300,
         "2026-02-30", "99:99", "../../etc/passwd", "<script>", "%s%(x)s{0}", "true", "[]",
         "{}"]
text_values = st.one_of(st.sampled_from(NASTY), st.text(max_size=40),
                        st.integers(-10**40, 10**40).map(str),
                        st.floats(allow_nan=True, allow_infinity=True).map(repr))
form_data = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(min_size=1, max_size=12)),
                            text_values, max_size=10)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**40, 10**40),
                         st.floats(allow_nan=True, allow_infinity=True), text_values)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), inner, max_size=6),
    max_leaves=12,
)
json_objects = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8)
# bodies as text: Python's json writes NaN/Infinity; plus literals a client might send
json_texts = st.one_of(
    json_values.map(json.dumps), json_objects.map(json.dumps),
    st.sampled_from(["1e309", "-1e309", '{"infill": 1e309}', '{"quantity": 1e999}', "[1]",
                     "3", "null", '"x"', "{", "", '{"infill": "inf"}', "[" * 2000]),
)


def _rules(app, method: str) -> list:
    return sorted((r for r in app.url_map.iter_rules()
                   if method in r.methods and r.endpoint not in SKIP_GET), key=lambda r: r.rule)


@pytest.fixture
def world(app, client, make_user, login_as):
    """The rows the routes act on, and ``url(rule, data)`` / ``sign_in(rule)`` for a request."""
    from marketplace.orders import operations as orders
    from marketplace.quotes import operations as quotes

    firm_user = make_user("firm")
    admin = make_user("admin")
    part = store_part(firm_user.firm, firm_user)
    quote = quotes.make_quote(part, quantity=2)
    order = orders.place_order(quote, placed_by=firm_user)
    printer = make_printer(url="http://127.0.0.1:9")  # refused at once: nobody listens
    db.session.commit()
    ids = {
        "part_id": [part.public_id], "quote_id": [quote.public_id],
        "order_id": [order.public_id], "hub.order": [order.public_id],
        "hub.job": [job.public_id for job in order.jobs], "hub.printer": [printer.public_id],
        "action": ["pause", "resume", "cancel"],
        "section": ["material", "pricing", "hours", "address", "texts"],
    }

    def values_for(rule, name: str) -> list[str]:
        if name == "public_id":
            key = next((k for k in ("hub.order", "hub.job", "hub.printer")
                        if rule.endpoint.startswith(k)), None)
            return ids.get(key, [])
        return ids.get(name, [])

    def url(rule, pick) -> str:
        args = {}
        for name in sorted(rule.arguments):
            known = values_for(rule, name)
            args[name] = pick(known + ["x" * 32, "0"]) if known else pick(["x" * 32, "ü", "0"])
        return _build(rule, args)

    def sign_in(rule) -> None:
        with client.session_transaction() as session:
            session.clear()
        if rule.endpoint in ANONYMOUS:
            return
        login_as(admin if rule.endpoint.startswith(("hub.", "api.")) else firm_user)

    return url, sign_in


def _build(rule, args: dict[str, str]) -> str:
    from urllib.parse import quote

    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: quote(args[m.group(1)], safe=""),
                  rule.rule)


def _check(resp, what: str) -> None:
    assert resp.status_code < 500, f"{what} -> {resp.status_code}"


PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(data=st.data())
def test_random_json_at_every_post_route_is_never_a_500(app, client, world, data):
    url, sign_in = world
    rule = data.draw(st.sampled_from(_rules(app, "POST")), label="rule")
    path = url(rule, lambda xs: data.draw(st.sampled_from(xs)))
    body = data.draw(json_texts, label="body")
    sign_in(rule)
    resp = client.post(path, data=body, content_type="application/json")
    db.session.rollback()
    _check(resp, f"POST {path} JSON {body[:200]!r}")


@PROPERTY
@given(data=st.data())
def test_random_form_data_at_every_post_route_is_never_a_500(app, client, world, data):
    url, sign_in = world
    rule = data.draw(st.sampled_from(_rules(app, "POST")), label="rule")
    path = url(rule, lambda xs: data.draw(st.sampled_from(xs)))
    form = data.draw(form_data, label="form")
    sign_in(rule)
    resp = client.post(path, data=form)
    db.session.rollback()
    _check(resp, f"POST {path} form {form!r}"[:500])


@settings(PROPERTY, max_examples=40)
@given(data=st.data())
def test_random_query_strings_at_every_page_are_never_a_500(app, client, world, data):
    url, sign_in = world
    rule = data.draw(st.sampled_from(_rules(app, "GET")), label="rule")
    path = url(rule, lambda xs: data.draw(st.sampled_from(xs)))
    query = data.draw(form_data, label="query")
    sign_in(rule)
    resp = client.get(path, query_string=query)
    db.session.rollback()
    _check(resp, f"GET {path} ? {query!r}"[:500])


def test_every_post_route_with_nasty_values_in_every_field(app, client, world):
    """Deterministic sweep: each route gets every field filled with nasty values (rotated, so
    each field sees several), as a form and as JSON, and bodies that are not an object."""
    url, sign_in = world
    json_nasty = [1e309, float("nan"), -(10**40), [], {}, "inf", None, True]
    for rule in _rules(app, "POST"):
        path = url(rule, lambda xs: xs[0])
        requests = [{"data": {f: NASTY[(i + r) % len(NASTY)] for i, f in enumerate(FIELDS)}}
                    for r in range(4)]
        requests += [{"data": json.dumps({f: json_nasty[(i + r) % len(json_nasty)]
                                          for i, f in enumerate(FIELDS)}),
                      "content_type": "application/json"} for r in range(3)]
        requests += [{"data": body, "content_type": "application/json"}
                     for body in ("[1]", "1e309")]
        for kwargs in requests:
            sign_in(rule)
            _check(client.post(path, **kwargs), f"POST {path} {str(kwargs)[:300]}")
            db.session.rollback()


def test_nul_characters_are_a_400_not_a_database_error(client, login_as, make_user):
    login_as(make_user("technician"))
    assert client.get("/hub/?q=a%00b").status_code == 400
    assert client.post("/hub/orders/x%00/approve").status_code == 400
    assert client.post("/hub/orders/approve", data={"order": "a\x00"}).status_code == 400
    resp = client.post("/hub/orders/approve", data='{"order": "\\u0000"}',
                       content_type="application/json")
    assert resp.status_code == 400
