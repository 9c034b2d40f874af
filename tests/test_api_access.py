"""Who reaches what through the API (issue 12), generated from the URL map: every operation of
/api/v1 × (firm A's token, firm B's token, a technician's hub token, an admin's hub token)
with the real ids of firm A's part, quote, order, job and a printer. Another firm's objects
are a 404, hub routes a 403 for firm tokens, admin-only settings a 403 for technicians; a
token without the scope is a 403 everywhere."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from api_helpers import bearer, token_for
from portal_helpers import store_part

from marketplace.extensions import db
from marketplace.orders import operations as orders
from marketplace.quotes import operations as quotes
from printers import admin as printer_admin

ROLES = ("firm_a", "firm_b", "technician", "admin")
FORBIDDEN, NOT_FOUND, ALLOWED = "403", "404", "allowed"
# firm A's rows: other firms get 404; staff (scope read) see every firm's rows
OWNED = {"firm_a": ALLOWED, "firm_b": NOT_FOUND, "technician": ALLOWED, "admin": ALLOWED}
# only a firm acts: staff get 403 (creating parts and orders is the firm's)
FIRM_ONLY = {"firm_a": ALLOWED, "firm_b": ALLOWED, "technician": FORBIDDEN,
             "admin": FORBIDDEN}
OWNED_FIRM_ONLY = {"firm_a": ALLOWED, "firm_b": NOT_FOUND, "technician": FORBIDDEN,
                   "admin": FORBIDDEN}
EVERYONE = dict.fromkeys(ROLES, ALLOWED)
HUB = {"firm_a": FORBIDDEN, "firm_b": FORBIDDEN, "technician": ALLOWED, "admin": ALLOWED}
ADMIN = {**HUB, "technician": FORBIDDEN}

POLICY = {
    "Account.me": EVERYONE, "Materials.list_materials": EVERYONE,
    "Parts.upload_part": FIRM_ONLY, "Parts.list_parts": EVERYONE, "Parts.get_part": OWNED,
    "Parts.get_analysis": OWNED, "Parts.price_part": OWNED, "Parts.create_quote": OWNED,
    "Quotes.create_multi_quote": OWNED, "Quotes.list_quotes": EVERYONE,
    "Quotes.get_quote": OWNED, "Quotes.quote_pdf": OWNED,
    "Orders.place_order": OWNED_FIRM_ONLY, "Orders.list_orders": EVERYONE,
    "Orders.get_order": OWNED, "Orders.order_confirmation_pdf": OWNED,
    "Orders.order_invoice_pdf": OWNED, "Orders.order_invoice_xml": OWNED,
    "Hub.queue": HUB, "Hub.list_jobs": HUB, "Hub.get_job": HUB, "Hub.pause_job": HUB,
    "Hub.resume_job": HUB, "Hub.reprint_job": HUB, "Hub.cancel_job": HUB,
    "Hub.approve_order": HUB,
    "Hub.reject_order": HUB, "Hub.cancel_order": HUB, "Hub.handover_order": HUB,
    "Hub.resolve_job": HUB, "Hub.list_printers": HUB,
    "Hub.get_printer": HUB, "Hub.get_pricing": HUB, "Hub.patch_pricing": ADMIN,
    # the firm's webhook endpoints: its own (others 404), never staff's (the hub's own are
    # admin pages)
    "Webhooks.list_webhooks": FIRM_ONLY, "Webhooks.create_webhook": FIRM_ONLY,
    "Webhooks.get_webhook": OWNED_FIRM_ONLY, "Webhooks.delete_webhook": OWNED_FIRM_ONLY,
    "Webhooks.rotate_webhook_secret": OWNED_FIRM_ONLY,
    "Webhooks.list_webhook_deliveries": OWNED_FIRM_ONLY,
    "Webhooks.replay_webhook_delivery": OWNED_FIRM_ONLY,
}
API_BLUEPRINTS = ("Account.", "Materials.", "Parts.", "Quotes.", "Orders.", "Hub.", "Webhooks.")
BODIES = {"Orders.place_order": "quote", "Quotes.create_multi_quote": "lines",
          "Hub.reject_order": {"reason": "Test"}, "Hub.handover_order": {"to": "picked_up"},
          "Hub.resolve_job": {"action": "requeue"},
          "Hub.patch_pricing": {"vat_percent": 19}}


@pytest.fixture
def world(app, make_user):
    from marketplace.webhooks import endpoints as webhook_endpoints
    from marketplace.webhooks.models import WebhookDelivery

    firm_a = make_user("firm")
    hook, _secret = webhook_endpoints.create(firm_a.firm, "http://127.0.0.1:9/hook",
                                             ["order.placed"], actor="test")
    part = store_part(firm_a.firm, firm_a)
    quote = quotes.make_quote(part, quantity=1)
    ordered = quotes.make_quote(part, quantity=1)
    order = orders.place_order(ordered, placed_by=firm_a)
    printer = printer_admin.add_printer(name="MK4-ACL", url="http://127.0.0.1:9",
                                        api_key="Key_0123456789abcdef")
    db.session.commit()
    users = {"firm_a": firm_a, "firm_b": make_user("firm"),
             "technician": make_user("technician"), "admin": make_user("admin")}
    tokens = {role: token_for(user, "read,write,hub" if user.is_staff else "read,write")
              for role, user in users.items()}
    ids = {"part_id": part.public_id, "quote_id": quote.public_id,
           "order_id": order.public_id, "job_id": order.jobs[0].public_id,
           "printer_id": printer.public_id, "webhook_id": hook.public_id,
           "delivery_id": db.session.scalar(sa.select(WebhookDelivery.public_id))}
    assert ids["delivery_id"]
    return users, tokens, ids


def _api_rules(app):
    return sorted((r for r in app.url_map.iter_rules()
                   if r.endpoint.startswith(API_BLUEPRINTS)),
                  key=lambda r: ("DELETE" in r.methods, r.rule, r.endpoint))  # deletes last


def test_every_api_operation_has_a_decision(app):
    endpoints = {rule.endpoint for rule in _api_rules(app)}
    assert endpoints == set(POLICY), (sorted(endpoints - set(POLICY)),
                                      sorted(set(POLICY) - endpoints))


def _classify(response) -> str:
    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True))
    assert response.status_code != 401, response.get_json()
    if response.status_code == 403:
        return FORBIDDEN
    if response.status_code == 404:
        return NOT_FOUND
    return ALLOWED


def test_every_api_operation_answers_each_token_as_decided(app, client, world):
    users, tokens, ids = world
    wrong, count = [], 0
    for rule in _api_rules(app):
        path = rule.build({name: ids[name] for name in rule.arguments})[1]
        methods = rule.methods - {"HEAD", "OPTIONS"}
        for method in sorted(methods, key=lambda m: (m == "DELETE", m)):  # deletes last
            body = BODIES.get(rule.endpoint, {})
            if body == "quote":
                body = {"quote_id": ids["quote_id"]}
            elif body == "lines":
                body = {"lines": [{"part_id": ids["part_id"], "quantity": 2}]}
            for role in ROLES:
                headers = bearer(tokens[role], **{"Idempotency-Key": f"{role}-{count}"})
                response = client.open(path, method=method, headers=headers, json=body)
                got = _classify(response)
                if response.status_code in (403, 404):
                    assert response.content_type == "application/problem+json"
                expected = POLICY[rule.endpoint][role]
                if got != expected:
                    wrong.append(f"{method} {path} as {role}: {got} (expected {expected}, "
                                 f"{response.status_code} {response.get_data(as_text=True)[:200]})")
                count += 1
    assert not wrong, "\n".join(wrong)
    assert count == 4 * 41


def test_a_token_without_the_scope_is_refused_everywhere(app, client, world):
    users, _tokens, ids = world
    read_only = token_for(users["firm_a"], "read")
    write_only = token_for(users["firm_a"], "write")
    staff_read = token_for(users["technician"], "read")
    for rule in _api_rules(app):
        path = rule.build({name: ids[name] for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            view = app.view_functions[rule.endpoint]
            scope = getattr(view, "_api_scope", None)
            if scope is None:  # any valid token (GET /me)
                continue
            token = {"read": write_only, "write": read_only, "hub": staff_read}[scope]
            response = client.open(path, method=method, headers=bearer(token), json={})
            assert response.status_code == 403, (method, path)
            assert response.get_json()["code"] == "insufficient_scope", (method, path)
            assert response.get_json()["required_scope"] == scope


def test_a_technician_cannot_change_the_pricing_an_admin_can(client, world):
    from marketplace.settings import operations as hub_settings

    _users, tokens, _ids = world
    before = hub_settings.get_pricing_rules().setup_fee_cents
    refused = client.patch("/api/v1/settings/pricing", headers=bearer(tokens["technician"]),
                           json={"setup_fee_cents": before + 100})
    assert refused.status_code == 403 and refused.get_json()["code"] == "admin_only"
    assert hub_settings.get_pricing_rules().setup_fee_cents == before
    done = client.patch("/api/v1/settings/pricing", headers=bearer(tokens["admin"]),
                        json={"setup_fee_cents": before + 100})
    assert done.status_code == 200 and done.get_json()["setup_fee_cents"] == before + 100
    assert hub_settings.get_pricing_rules().setup_fee_cents == before + 100
    bad = client.patch("/api/v1/settings/pricing", headers=bearer(tokens["admin"]),
                       json={"default_printer_class": "gibt-es-nicht"})
    assert bad.status_code == 422 and bad.get_json()["code"] == "invalid_settings"


def test_hub_approves_and_rejects_through_the_api(client, world):
    _users, tokens, ids = world
    firm_view = client.get(f"/api/v1/orders/{ids['order_id']}",
                           headers=bearer(tokens["firm_a"])).get_json()
    assert firm_view["state"] == "received"
    approved = client.post(f"/api/v1/orders/{ids['order_id']}/approve",
                           headers=bearer(tokens["technician"]))
    assert approved.status_code == 200 and approved.get_json()["pieces"] == 1
    assert approved.get_json()["order"]["state"] in ("approved", "queued")
    again = client.post(f"/api/v1/orders/{ids['order_id']}/reject",
                        headers=bearer(tokens["technician"]), json={"reason": "zu spät"})
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_transition"
    queue = client.get("/api/v1/queue?tab=queued", headers=bearer(tokens["technician"]))
    assert [j["order_id"] for j in queue.get_json()["items"]] == [ids["order_id"]]
