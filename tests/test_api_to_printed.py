"""Issue 12's acceptance through the API alone: a firm's token uploads a part, prices it,
quotes and orders it; a technician's hub token approves it; the dispatcher slices it and a
virtual OctoPrint printer prints it; the firm follows the order through the API to "printed"
while its webhook endpoint (a real HTTP server on loopback) receives order.placed and
order.status_changed, each signature verified with the standardwebhooks library."""

from __future__ import annotations

import io
import json

import pytest
from api_helpers import bearer, token_for
from octoprint_farm import (  # noqa: F401  (fixtures)
    add_printer,
    box_stl,
    dispatch_settings,
    farm,
    idle_farm,
    tick_until,
)
from standardwebhooks.webhooks import Webhook
from test_api_webhooks import receiver  # noqa: F401  (fixture)

from marketplace.extensions import db
from marketplace.models import PrintJob
from printers.dispatcher import Dispatcher

pytestmark = [pytest.mark.octoprint, pytest.mark.slicer, pytest.mark.commits]


def test_an_order_through_the_api_is_printed_and_signed_webhooks_arrive(
        idle_farm, add_printer, make_user, client, app, receiver):  # noqa: F811
    url, received = receiver
    firm_user, technician = make_user("firm"), make_user("technician")
    firm, hub = token_for(firm_user), token_for(technician, "read,hub")
    add_printer(idle_farm[0], name="Prusa MK3S 1", colour="black",
                slicer_profile="mk3s-pla-0.2mm")
    hook = client.post("/api/v1/webhooks", headers=bearer(firm), json={
        "url": url, "events": ["order.placed", "order.status_changed"]}).get_json()

    part = client.post("/api/v1/parts", headers=bearer(firm),
                       data={"file": (io.BytesIO(box_stl(12, 12, 4)), "Halter.stl")},
                       content_type="multipart/form-data").get_json()
    assert client.get(f"/api/v1/parts/{part['id']}", headers=bearer(firm)).get_json()[
        "status"] == "ready"
    options = {"material": "PLA", "quantity": 1}
    price = client.post(f"/api/v1/parts/{part['id']}/price", headers=bearer(firm), json=options)
    assert price.status_code == 200 and price.get_json()["price"]["gross_cents"] > 0
    quote = client.post(f"/api/v1/parts/{part['id']}/quotes", headers=bearer(firm),
                        json=options).get_json()
    order = client.post("/api/v1/orders", headers=bearer(firm, **{"Idempotency-Key": "e2e"}),
                        json={"quote_id": quote["id"], "reference": "PO-7"}).get_json()
    assert order["state"] == "received"
    approved = client.post(f"/api/v1/orders/{order['id']}/approve", headers=bearer(hub))
    assert approved.status_code == 200 and approved.get_json()["pieces"] == 1

    job_id = order["jobs"][0]["id"]
    dispatcher = Dispatcher(app.config)
    try:
        tick_until(dispatcher, lambda: db.session.scalar(
            db.select(PrintJob.state).where(PrintJob.public_id == job_id)) == "printed", 180,
            "printed")
    finally:
        dispatcher.close()
    followed = client.get(f"/api/v1/orders/{order['id']}", headers=bearer(firm)).get_json()
    assert followed["state"] == "printed"
    assert next(s for s in followed["steps"] if s["key"] == "printed")["done"] == 1
    hub_view = client.get(f"/api/v1/jobs/{job_id}", headers=bearer(hub)).get_json()
    assert hub_view["state"] == "printed" and hub_view["printer_id"]

    verifier = Webhook(hook["secret"])
    events = [verifier.verify(body, headers) for headers, body in received]
    types = [e["type"] for e in events]
    assert types[0] == "order.placed" and "order.status_changed" in types
    assert any("printed" in json.dumps(e) for e in events if e["type"] ==
               "order.status_changed"), events
