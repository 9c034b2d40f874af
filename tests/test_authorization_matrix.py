"""Every route × every role, generated from the app's URL map (issue 10).

Each endpoint has a decision in ``POLICY``; a route added without one fails
``test_every_route_has_a_decision``. Each (route, method, role) is then requested with real ids
of firm A's part, quote, order, job and a printer, and the answer is classified:
login (redirect to the sign-in page or 401), 403, 404, or allowed (anything else below 500).
"""

from __future__ import annotations

import pytest
from flask import g
from flask.testing import FlaskClient
from portal_helpers import store_part
from test_orders_service import make_quote

from marketplace.accounts import sessions
from marketplace.extensions import db
from marketplace.hubqueue import operations as hubqueue
from marketplace.jobs import transition
from marketplace.orders import cart
from marketplace.orders import operations as orders
from marketplace.settings import operations as settings
from marketplace.webhooks import endpoints as webhook_endpoints
from marketplace.webhooks import payloads as webhook_payloads
from marketplace.webhooks.models import WebhookDelivery
from printers import admin as printer_admin

ROLES = ("anonymous", "firm_a", "firm_b", "technician", "admin")
LOGIN, FORBIDDEN, NOT_FOUND, ALLOWED = "login", "403", "404", "allowed"

PUBLIC = dict.fromkeys(ROLES, ALLOWED)
SIGNED_IN = {**dict.fromkeys(ROLES, ALLOWED), "anonymous": LOGIN}
# a firm's own rows: other firms get 404 (ids cannot be probed); staff see every firm's
OWNED = {"anonymous": LOGIN, "firm_a": ALLOWED, "firm_b": NOT_FOUND, "technician": ALLOWED,
         "admin": ALLOWED}
# a firm's own rows, and only the firm acts on them (ordering)
OWNED_BY_FIRM = {**OWNED, "technician": FORBIDDEN, "admin": FORBIDDEN}
FIRM = {"anonymous": LOGIN, "firm_a": ALLOWED, "firm_b": ALLOWED, "technician": FORBIDDEN,
        "admin": FORBIDDEN}
STAFF = {"anonymous": LOGIN, "firm_a": FORBIDDEN, "firm_b": FORBIDDEN, "technician": ALLOWED,
         "admin": ALLOWED}
ADMIN = {**STAFF, "technician": FORBIDDEN}
# the public API (/api/v1) takes a Bearer token only: a session cookie is no sign-in there (its
# own matrix with tokens: tests/test_api_access.py)
TOKEN_ONLY = dict.fromkeys(ROLES, LOGIN)

POLICY: dict[str, dict[str, str]] = {
    # portal: public pages, sign-in and the links mailed to an address
    "portal.index": PUBLIC, "portal.login": PUBLIC, "portal.logout": PUBLIC,
    "portal.signup": PUBLIC, "portal.forgot_password": PUBLIC, "portal.reset_password": PUBLIC,
    "portal.confirm_signup": PUBLIC, "portal.accept_invitation": PUBLIC,
    "portal.imprint": PUBLIC, "portal.privacy": PUBLIC, "portal.terms": PUBLIC,
    "portal.terms_version": PUBLIC,
    # portal: the signed-in user's own account
    "portal.account": SIGNED_IN, "portal.end_session": SIGNED_IN,
    "portal.end_all_sessions": SIGNED_IN,
    "portal.create_token": SIGNED_IN, "portal.revoke_token": SIGNED_IN,
    "portal.update_firm": FIRM, "portal.invite_colleague": FIRM,
    # portal: parts, quotes, orders
    # guests (no account) list and upload parts of their own; staff upload nothing
    "portal.parts": PUBLIC, "portal.orders": SIGNED_IN, "portal.upload": {**FIRM, "anonymous": ALLOWED},
    "portal.part_detail": OWNED, "portal.part_status": OWNED, "portal.part_mesh": OWNED,
    "portal.part_units": OWNED, "portal.part_price": OWNED, "portal.create_quote": OWNED,
    "portal.quote_detail": OWNED, "portal.quote_pdf": OWNED, "portal.place_order": OWNED_BY_FIRM,
    "portal.order_detail": OWNED, "portal.order_status": OWNED, "portal.order_pdf": OWNED,
    "portal.reorder": OWNED_BY_FIRM, "portal.quotes": SIGNED_IN, "portal.reprice_quote": OWNED_BY_FIRM,
    "portal.order_references": OWNED_BY_FIRM, "portal.part_rename": OWNED_BY_FIRM,
    "portal.part_delete": OWNED_BY_FIRM, "portal.part_thumbnail": OWNED,
    # the cart: each user's own
    "portal.cart": FIRM, "portal.cart_add": OWNED_BY_FIRM, "portal.cart_update": OWNED_BY_FIRM,
    "portal.cart_quote": FIRM, "portal.quote_to_cart": OWNED_BY_FIRM,
    # portal: invoices and the firm's data
    "portal.invoices": FIRM, "portal.invoice_download": OWNED,
    "portal.account_export": FIRM, "portal.account_delete": FIRM,
    # hub console
    "hub.queue": STAFF, "hub.dashboard": STAFF, "hub.printers": STAFF,
    "hub.job_detail": STAFF, "hub.job_control": STAFF, "hub.job_resolve": STAFF,
    "hub.job_supports": STAFF,
    "hub.orders_approve": STAFF, "hub.order_approve": STAFF, "hub.order_cancel": STAFF,
    "hub.order_handover": STAFF, "hub.order_printer": STAFF, "hub.order_priority": STAFF,
    "hub.order_reject": STAFF,
    "hub.printer_new": STAFF, "hub.printer_edit": STAFF, "hub.printer_bed_clear": STAFF,
    "hub.printer_maintenance": STAFF, "hub.printer_job_control": STAFF,
    "hub.settings": ADMIN, "hub.settings_save": ADMIN, "hub.audit": ADMIN,
    "hub.invoices": ADMIN, "hub.invoices_csv": ADMIN, "hub.invoice_download": ADMIN,
    "hub.invoice_credit_note": ADMIN,
    # webhooks: the firm's own endpoints, and the hub's (admins)
    "portal.webhooks": FIRM, "portal.webhook_create": FIRM,
    "portal.webhook_detail": OWNED_BY_FIRM, "portal.webhook_update": OWNED_BY_FIRM,
    "portal.webhook_action": OWNED_BY_FIRM, "portal.webhook_replay": OWNED_BY_FIRM,
    "hub.webhooks": ADMIN, "hub.webhook_create": ADMIN, "hub.webhook_detail": ADMIN,
    "hub.webhook_update": ADMIN, "hub.webhook_action": ADMIN, "hub.webhook_replay": ADMIN,
    # JSON API
    "api.health": PUBLIC, "api.hub_printers": STAFF, "api.hub_queue_counts": STAFF,
    "api.hub_queue_waiting": STAFF,
    # public API: the document and its interactive page are public; every operation needs a token
    "api_docs.openapi_json": PUBLIC, "api_docs.docs": PUBLIC,
    **{endpoint: TOKEN_ONLY for endpoint in (
        "Account.me", "Materials.list_materials", "Parts.upload_part", "Parts.list_parts",
        "Parts.get_part",
        "Parts.get_analysis", "Parts.price_part", "Parts.create_quote", "Quotes.list_quotes",
        "Quotes.create_multi_quote",
        "Quotes.get_quote", "Quotes.quote_pdf", "Orders.place_order", "Orders.list_orders",
        "Orders.get_order", "Orders.order_confirmation_pdf", "Orders.order_invoice_pdf",
        "Orders.order_invoice_xml", "Hub.queue", "Hub.list_jobs", "Hub.get_job",
        "Hub.pause_job", "Hub.resume_job", "Hub.reprint_job", "Hub.cancel_job",
        "Hub.approve_order",
        "Hub.reject_order", "Hub.cancel_order", "Hub.handover_order", "Hub.resolve_job",
        "Hub.list_printers", "Hub.get_printer",
        "Hub.get_pricing", "Hub.patch_pricing", "Webhooks.list_webhooks",
        "Webhooks.create_webhook", "Webhooks.get_webhook", "Webhooks.delete_webhook",
        "Webhooks.rotate_webhook_secret", "Webhooks.list_webhook_deliveries",
        "Webhooks.replay_webhook_delivery")},
    # operations (health for the load balancer; metrics limited by network, not by role)
    "ops.livez": PUBLIC, "ops.readyz": PUBLIC, "ops.metrics_view": PUBLIC,
    "csp_report": PUBLIC,  # browsers post policy violations (logged)
}
STATIC = {"static", "hub.static"}  # files (CSS, JS), the same for everybody
# routes whose id is the signed-in user's own (a made-up one is 404 for anybody)
OWN_IDS_ONLY = {"portal.end_session", "portal.revoke_token"}


@pytest.fixture
def world(app, make_user):
    """Firm A's part, quote, order (with a job); users of every role; a printer."""
    firm_a = make_user("firm", email="a@firma-a.de")
    part = store_part(firm_a.firm, firm_a)
    quote = make_quote(quantity=1, firm=firm_a.firm)
    quote.part = part
    order = orders.place_order(quote, placed_by=firm_a)
    for state in ("approved", "queued", "dispatching", "printing", "printed"):
        transition(order.jobs[0], state, actor="test")
    invoice = hubqueue.hand_over_finished(order, shipped=True, actor="test").invoice
    printer = printer_admin.add_printer(name="MK4-01", url="http://127.0.0.1:9",
                                        api_key="Key_0123456789abcdef")
    firm_hook, _secret = webhook_endpoints.create(firm_a.firm, "http://127.0.0.1:9/hook",
                                                  ["order.placed"], actor="test")
    hub_hook, _secret = webhook_endpoints.create(None, "http://127.0.0.1:9/hub",
                                                 ["order.placed"], actor="test")
    item = cart.add(firm_a, part, {"quantity": 2})
    terms = settings.set_legal_texts({"terms": "§ 1 Geltung", "privacy": ""})["terms_version"]
    db.session.flush()
    webhook_payloads.order_placed(order)  # one delivery to each (port 9: refused, retried)
    db.session.commit()
    deliveries = {d.endpoint_id: d.public_id for d in db.session.scalars(
        db.select(WebhookDelivery))}
    users = {"firm_a": firm_a, "firm_b": make_user("firm", email="b@firma-b.de"),
             "technician": make_user("technician"), "admin": make_user("admin")}
    ids = {"part_id": part.public_id, "quote_id": quote.public_id,
           "order_id": order.public_id, "order": order.public_id,
           "job": order.jobs[0].public_id, "printer": printer.public_id,
           "token": "0" * 32 + ".not-a-secret", "action": "pause", "section": "material",
           "session": "0" * 32, "invoice_id": invoice.public_id,
           "invoice": invoice.public_id, "fmt": "pdf",
           "webhook": firm_hook.public_id, "hub_webhook": hub_hook.public_id,
           "delivery": deliveries[firm_hook.id], "hub_delivery": deliveries[hub_hook.id],
           "change": "rotate", "job_id": order.jobs[0].public_id,
           "webhook_id": firm_hook.public_id,
           "printer_id": printer.public_id, "item_id": item.public_id, "version": terms}
    return users, ids


class _Client(FlaskClient):
    def open(self, *args, **kwargs):
        g.pop("_login_user", None)
        return super().open(*args, **kwargs)


def _client(app, user=None):
    client = _Client(app, app.response_class, use_cookies=True)
    if user is not None:
        key = sessions.start(user, remember=False, ip="127.0.0.1",
                             user_agent=client.environ_base["HTTP_USER_AGENT"])
        db.session.commit()
        with client.session_transaction() as session:
            session["_user_id"] = key
    return client


def _path(rule, ids: dict) -> str:
    values = {}
    for name in rule.arguments:
        hub = rule.rule.startswith("/hub/")
        if name == "public_id" and "/webhooks/" in rule.rule:
            values[name] = ids["hub_webhook" if hub else "webhook"]
        elif name == "delivery_id":
            values[name] = ids["hub_delivery" if hub else "delivery"]
        elif name == "public_id":  # the hub's and the account page's ids, by their place
            kind = next(k for k in ("session", "order", "job", "printer", "invoice", "token")
                        if f"/{k}s/" in rule.rule or (k == "session" and "sessions" in rule.rule))
            values[name] = ids[kind]
        else:
            values[name] = ids[name]
    return rule.build(values)[1]


def _classify(response) -> str:
    location = response.headers.get("Location", "")
    if response.status_code == 401 or (response.status_code in (301, 302, 303)
                                       and "/login?next=" in location):
        return LOGIN
    if response.status_code == 403:
        return FORBIDDEN
    if response.status_code == 404:
        return NOT_FOUND
    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True))
    return ALLOWED


def _routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint in STATIC:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_has_a_decision(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - STATIC
    missing = sorted(endpoints - set(POLICY))
    assert not missing, f"routes without an access decision in POLICY: {missing}"
    assert not sorted(set(POLICY) - endpoints), "POLICY names routes that do not exist"


@pytest.mark.commits  # hundreds of requests that commit and roll back in one test
def test_every_route_answers_each_role_as_decided(app, world):
    users, ids = world
    app.config.update(METRICS_ALLOWED_NETWORKS="127.0.0.0/8")
    wrong = []
    count = 0
    for rule, method in _routes(app):
        policy = POLICY[rule.endpoint]
        path = _path(rule, ids)
        for role in ROLES:
            client = _client(app, users.get(role))
            response = client.open(path, method=method, data={},
                                   headers={"Accept": "text/html"})
            got = _classify(response)
            response.close()  # a streamed body (the firm's zip) ends here, in this context
            expected = policy[role]
            if expected == ALLOWED and got == NOT_FOUND and rule.endpoint in OWN_IDS_ONLY:
                got = ALLOWED  # signed in, and told the made-up id is not theirs
            if got != expected:
                wrong.append(f"{method} {path} as {role}: {got} (expected {expected}, "
                             f"status {response.status_code})")
            count += 1
    assert not wrong, "\n".join(wrong)
    assert count >= 5 * 55  # every route × method × role was asked
