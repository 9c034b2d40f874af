"""The public API (/api/v1) end to end with a firm token: upload, analysis, price, quote,
order, status, documents; problems, scopes, ETag, pagination, rate-limit headers."""

from __future__ import annotations

import io

from api_helpers import bearer, token_for
from portal_helpers import cube_stl

from marketplace.extensions import db
from marketplace.models import Order


def _upload(client, token, data=None, name="cube20.stl", **headers):
    return client.post("/api/v1/parts", headers=bearer(token, **headers),
                       data={"file": (io.BytesIO(data or cube_stl()), name)},
                       content_type="multipart/form-data")


def test_upload_price_quote_order_and_follow(client, make_user):
    user = make_user("firm")
    token = token_for(user, "read,write")
    up = _upload(client, token)
    assert up.status_code == 201, up.get_json()
    part = up.get_json()
    assert up.headers["Location"] == f"/api/v1/parts/{part['id']}"
    got = client.get(f"/api/v1/parts/{part['id']}", headers=bearer(token)).get_json()
    assert got["status"] == "ready"  # the tests run tasks at once
    analysis = client.get(f"/api/v1/parts/{part['id']}/analysis", headers=bearer(token))
    assert analysis.status_code == 200
    body = analysis.get_json()
    assert body["printable"] is True and body["mesh"]["bbox_mm"] == [20.0, 20.0, 20.0]
    price = client.post(f"/api/v1/parts/{part['id']}/price", headers=bearer(token),
                        json={"material": "PLA", "quantity": 3, "infill": 20})
    assert price.status_code == 200, price.get_json()
    priced = price.get_json()
    assert priced["options"]["quantity"] == 3 and priced["price"]["gross_cents"] > 0
    quote = client.post(f"/api/v1/parts/{part['id']}/quotes", headers=bearer(token),
                        json={"material": "PLA", "quantity": 3, "infill": 20})
    assert quote.status_code == 201, quote.get_json()
    q = quote.get_json()
    assert q["price"]["gross_cents"] == priced["price"]["gross_cents"] and not q["ordered"]
    order = client.post("/api/v1/orders", headers=bearer(token, **{"Idempotency-Key": "o-1"}),
                        json={"quote_id": q["id"], "delivery": "shipping", "reference": "PO-9"})
    assert order.status_code == 201, order.get_json()
    o = order.get_json()
    assert o["number"].startswith("DH-") and o["state"] == "received"
    assert len(o["jobs"]) == 3 and o["reference"] == "PO-9"
    assert db.session.get(Order, db.session.query(Order.id).scalar()).channel == "api"
    listed = client.get("/api/v1/orders", headers=bearer(token)).get_json()
    assert [x["id"] for x in listed["items"]] == [o["id"]] and listed["next_cursor"] is None
    pdf = client.get(f"/api/v1/orders/{o['id']}/confirmation.pdf", headers=bearer(token))
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    qpdf = client.get(f"/api/v1/quotes/{q['id']}/pdf", headers=bearer(token))
    assert qpdf.status_code == 200 and qpdf.data.startswith(b"%PDF")
    no_invoice = client.get(f"/api/v1/orders/{o['id']}/invoice.pdf", headers=bearer(token))
    assert no_invoice.status_code == 409
    assert no_invoice.get_json()["code"] == "no_invoice"


def test_bad_options_are_the_pages_codes(client, make_user):
    user = make_user("firm")
    token = token_for(user)
    part = _upload(client, token).get_json()
    for body, code in (({"quantity": 0}, "bad_quantity"), ({"infill": 101}, "bad_infill"),
                       ({"material": "GOLD"}, "bad_material"),
                       ({"layer_height": "dick"}, "bad_layer_height")):
        answer = client.post(f"/api/v1/parts/{part['id']}/price", headers=bearer(token),
                             json=body)
        assert answer.status_code == 422, body
        assert answer.content_type == "application/problem+json"
        problem = answer.get_json()
        assert problem["code"] == code and problem["type"] == f"urn:druckhub:problem:{code}"


def test_problems_for_missing_tokens_unknown_paths_and_methods(client, make_user):
    answer = client.get("/api/v1/parts")
    assert answer.status_code == 401 and answer.content_type == "application/problem+json"
    assert answer.get_json()["code"] == "unauthorized"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    bad = client.get("/api/v1/parts", headers=bearer("dhp_nope"))
    assert bad.status_code == 401 and bad.get_json()["code"] == "invalid_token"
    missing = client.get("/api/v1/gibt-es-nicht")
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"
    assert missing.content_type == "application/problem+json"
    wrong = client.delete("/api/v1/materials")
    assert wrong.status_code == 405 and wrong.get_json()["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]


def test_scopes_expiry_and_revocation(client, make_user, app):
    from datetime import timedelta

    from marketplace.tokens import operations as tokens
    from marketplace.tokens.models import ApiToken

    user = make_user("firm")
    read_only = token_for(user, "read")
    me = client.get("/api/v1/me", headers=bearer(read_only)).get_json()
    assert me["email"] == user.email and me["scopes"] == ["read"] and me["role"] == "firm"
    assert me["firm"] == user.firm.name and me["expires_at"].endswith("Z")
    refused = _upload(client, read_only)
    assert refused.status_code == 403 and refused.get_json()["code"] == "insufficient_scope"
    assert client.get("/api/v1/parts", headers=bearer(read_only)).status_code == 200
    row = db.session.query(ApiToken).filter_by(secret_sha256=tokens.digest(read_only)).one()
    assert row.last_used_at is not None
    row.expires_at = row.created_at - timedelta(seconds=1)
    db.session.commit()
    expired = client.get("/api/v1/parts", headers=bearer(read_only))
    assert expired.status_code == 401 and expired.get_json()["code"] == "token_expired"
    other = token_for(user, "read")
    tokens.revoke(user, db.session.query(ApiToken).filter_by(
        secret_sha256=tokens.digest(other)).one().public_id)
    db.session.commit()
    assert client.get("/api/v1/parts", headers=bearer(other)).get_json()["code"] == \
        "token_revoked"


def test_etag_pagination_and_rate_limit_headers(client, make_user):
    user = make_user("firm")
    token = token_for(user)
    ids = [_upload(client, token, name=f"p{i}.stl").get_json()["id"] for i in range(3)]
    first = client.get("/api/v1/parts?limit=2", headers=bearer(token))
    body = first.get_json()
    assert [p["id"] for p in body["items"]] == ids[::-1][:2] and body["next_cursor"]
    rest = client.get(f"/api/v1/parts?limit=2&cursor={body['next_cursor']}",
                      headers=bearer(token)).get_json()
    assert [p["id"] for p in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    assert client.get("/api/v1/parts?cursor=%%%", headers=bearer(token)).get_json()["code"] \
        == "bad_cursor"
    etag = first.headers["ETag"]
    again = client.get("/api/v1/parts?limit=2", headers=bearer(token, **{"If-None-Match": etag}))
    assert again.status_code == 304 and not again.data
    assert int(first.headers["RateLimit-Limit"]) > 0
    assert int(first.headers["RateLimit-Remaining"]) < int(first.headers["RateLimit-Limit"])
    assert "RateLimit-Reset" in first.headers and ";w=" in first.headers["RateLimit-Policy"]


def test_account_page_makes_shows_once_and_revokes_tokens(client, make_user, login_as):
    from marketplace.tokens.models import ApiToken

    user = make_user("firm")
    login_as(user)
    page = client.post("/account/tokens", data={"token-name": "ERP", "token-scope_read": "y",
                                                "token-scope_write": "y",
                                                "token-expires_days": "30"})
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    import re

    plain = re.search(r'class="token-secret">(dhp_[A-Za-z0-9_-]+)<', html).group(1)
    assert client.get("/api/v1/parts", headers=bearer(plain)).status_code == 200
    row = db.session.query(ApiToken).one()
    assert row.scopes == "read,write" and row.name == "ERP"
    assert plain not in row.secret_sha256 and (row.expires_at - row.created_at).days == 30
    again = client.get("/account").get_data(as_text=True)
    assert plain not in again and row.hint in again  # shown once; then only its hint
    hub = client.post("/account/tokens", data={"token-scope_hub": "y",
                                               "token-expires_days": "30"})
    assert hub.status_code == 400 and db.session.query(ApiToken).count() == 1
    revoked = client.post(f"/account/tokens/{row.public_id}/revoke")
    assert revoked.status_code == 303
    assert client.get("/api/v1/parts", headers=bearer(plain)).status_code == 401


def test_cli_tokens_create_prints_the_token(runner, make_user, client):
    user = make_user("technician", email="technik@example.de")
    result = runner.invoke(args=["tokens", "create", "technik@example.de", "--scope",
                                 "read,hub", "--expires-days", "7"])
    assert result.exit_code == 0, result.output
    plain = result.stdout.strip()
    assert plain.startswith("dhp_") and "\n" not in plain
    assert client.get("/api/v1/queue", headers=bearer(plain)).status_code == 200
    firm = make_user("firm", email="kunde@example.de")
    refused = runner.invoke(args=["tokens", "create", firm.email, "--scope", "hub"])
    assert refused.exit_code == 2 and "scope_not_allowed" in refused.stderr
    unknown = runner.invoke(args=["tokens", "create", "x@example.de", "--scope", "read"])
    assert unknown.exit_code == 1
    listed = runner.invoke(args=["tokens", "list", user.email])
    assert "read,hub" in listed.output


def test_a_quote_of_two_parts_shipped_express_and_its_order(client, make_user):
    from tests.hub_factories import make_printer

    make_printer()  # express is sold only with a date it makes earlier
    user = make_user("firm")
    token = token_for(user)
    small = _upload(client, token, cube_stl(15), "klein.stl").get_json()
    large = _upload(client, token, cube_stl(30), "gross.stl").get_json()
    address = {"name": "Muster GmbH", "street": "Am Sande 1", "postcode": "21335",
               "city": "Lüneburg"}
    body = {"lines": [{"part_id": small["id"], "material": "PLA", "quantity": 4},
                      {"part_id": large["id"], "material": "PETG", "colour": "Schwarz",
                       "quantity": 1, "infill": 30}],
            "delivery": "shipping", "express": True, "ship_to": address}
    made = client.post("/api/v1/quotes", headers=bearer(token), json=body)
    assert made.status_code == 201, made.get_json()
    quote = made.get_json()
    assert [(x["part_id"], x["options"]["quantity"]) for x in quote["lines"]] == [
        (small["id"], 4), (large["id"], 1)]
    assert quote["lines"][1]["options"]["material"] == "PETG"
    assert quote["delivery"] == "shipping" and quote["express"] is True
    assert quote["ship_to"]["postcode"] == "21335"
    codes = [line["code"] for line in quote["price"]["lines"]]
    assert {line["line"] for line in quote["price"]["lines"] if line["line"]} == {1, 2}
    assert len(quote["variants"]) == 4
    chosen = next(v for v in quote["variants"] if v["delivery"] == "shipping" and v["express"])
    pickup = next(v for v in quote["variants"] if v["delivery"] == "pickup"
                  and not v["express"])
    assert chosen["gross_cents"] == quote["price"]["gross_cents"] > pickup["gross_cents"]
    assert codes.count("setup") <= 1  # the set-up fee once per order, not per part
    # the order takes every line; ordered as quoted, at the quoted variant's price
    order = client.post("/api/v1/orders", headers=bearer(token, **{"Idempotency-Key": "m-1"}),
                        json={"quote_id": quote["id"], "reference": "PO-2"})
    assert order.status_code == 201, order.get_json()
    o = order.get_json()
    assert o["delivery"] == "shipping" and o["express"] is True
    assert o["price"]["gross_cents"] == quote["price"]["gross_cents"]
    assert [(x["part_id"], x["pieces"]) for x in o["lines"]] == [
        (small["id"], {"received": 4}), (large["id"], {"received": 1})]
    assert sorted(j["line"] for j in o["jobs"]) == [1, 1, 1, 1, 2]
    assert o["ship_to"]["city"] == "Lüneburg"
    # ordered as pickup instead: the pickup variant's price (another quote of the same parts)
    again = client.post("/api/v1/quotes", headers=bearer(token), json=body).get_json()
    as_pickup = client.post("/api/v1/orders", headers=bearer(token, **{"Idempotency-Key": "m-2"}),
                            json={"quote_id": again["id"], "delivery": "pickup",
                                  "express": False}).get_json()
    assert as_pickup["delivery"] == "pickup" and as_pickup["ship_to"] is None
    assert as_pickup["price"]["gross_cents"] == next(
        v for v in again["variants"] if v["delivery"] == "pickup" and not v["express"]
    )["gross_cents"]


def test_a_bad_line_says_which(client, make_user):
    user = make_user("firm")
    token = token_for(user)
    part = _upload(client, token).get_json()
    bad = client.post("/api/v1/quotes", headers=bearer(token), json={"lines": [
        {"part_id": part["id"]}, {"part_id": part["id"], "quantity": 5000}]})
    assert bad.status_code == 422
    problem = bad.get_json()
    assert problem["code"] == "bad_quantity" and problem["field"] == "lines[1].quantity"
    foreign = make_user("firm")
    other = client.post("/api/v1/quotes", headers=bearer(token_for(foreign)),
                        json={"lines": [{"part_id": part["id"]}]})
    assert other.status_code == 404
    abroad = client.post("/api/v1/quotes", headers=bearer(token), json={
        "lines": [{"part_id": part["id"]}], "delivery": "shipping",
        "ship_to": {"name": "X", "street": "Y 1", "postcode": "1010", "city": "Wien",
                    "country": "AT"}})
    assert abroad.status_code == 422 and abroad.get_json()["field"] == "ship_to"


def test_rate_limit_is_a_problem_with_retry_after_and_too_large_is_413(app, client, make_user):
    user = make_user("firm")
    token = token_for(user, "read,write")
    app.config["LIMIT_API_PER_TOKEN"] = "3/minute"
    answers = [client.get("/api/v1/materials", headers=bearer(token)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    limited = answers[3]
    assert limited.content_type == "application/problem+json"
    assert limited.get_json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0 and limited.headers["RateLimit-Limit"] == "3"
    other = token_for(make_user("firm"), "read")  # counted per token
    assert client.get("/api/v1/materials", headers=bearer(other)).status_code == 200
    app.config["LIMIT_API_PER_TOKEN"] = "1000/minute"
    app.config["MAX_CONTENT_LENGTH"] = 2000
    big = _upload(client, token, b"solid x\n" + b" " * 5000, "big.stl")
    assert big.status_code == 413 and big.content_type == "application/problem+json"
    assert big.get_json()["status"] == 413
