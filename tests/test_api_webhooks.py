"""The firm's webhook endpoints through the API (issue 12): register one (its whsec_ secret
once), an order placed through the API is delivered to a real HTTP server on loopback with a
signature the standardwebhooks reference library verifies, the deliveries are listed, one is
replayed, the secret rotated, the endpoint removed; other firms get 404, staff 403."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from api_helpers import bearer, token_for
from portal_helpers import store_part
from standardwebhooks.webhooks import Webhook

from marketplace.extensions import db
from marketplace.quotes import operations as quotes


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict, bytes]] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Receiver.received
    server.shutdown()
    server.server_close()


def test_register_receive_list_replay_rotate_remove(client, make_user, receiver):
    url, received = receiver
    user = make_user("firm")
    token = token_for(user)
    made = client.post("/api/v1/webhooks", headers=bearer(token),
                       json={"url": url, "events": ["order.placed"], "description": "ERP"})
    assert made.status_code == 201, made.get_json()
    hook = made.get_json()
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["order.placed"]
    listed = client.get("/api/v1/webhooks", headers=bearer(token)).get_json()
    assert [h["id"] for h in listed["items"]] == [hook["id"]]
    assert "secret" not in listed["items"][0] and "order.placed" in listed["events"]

    part = store_part(user.firm, user)
    quote = quotes.make_quote(part, quantity=1)
    db.session.commit()
    order = client.post("/api/v1/orders", headers=bearer(token, **{"Idempotency-Key": "w1"}),
                        json={"quote_id": quote.public_id})
    assert order.status_code == 201
    assert len(received) == 1  # the tests run the delivery task at once
    headers, body = received[0]
    payload = Webhook(hook["secret"]).verify(body, headers)
    assert payload["type"] == "order.placed"
    assert json.dumps(payload).count(order.get_json()["number"]) >= 1

    deliveries = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries",
                            headers=bearer(token)).get_json()["items"]
    assert [(d["event"], d["state"], d["last_status"]) for d in deliveries] == [
        ("order.placed", "succeeded", 204)]
    replayed = client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{deliveries[0]['id']}"
                           "/replay", headers=bearer(token))
    assert replayed.status_code == 201 and replayed.get_json()["replay_of"] == deliveries[0]["id"]
    assert len(received) == 2 and received[1][0]["webhook-id"] == headers["webhook-id"]

    rotated = client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=bearer(token))
    assert rotated.status_code == 200
    assert rotated.get_json()["secret"] != hook["secret"]

    other = token_for(make_user("firm"))
    assert client.get(f"/api/v1/webhooks/{hook['id']}", headers=bearer(other)).status_code == 404
    staff = token_for(make_user("technician"), "read,write,hub")
    assert client.get("/api/v1/webhooks", headers=bearer(staff)).status_code == 403
    gone = client.delete(f"/api/v1/webhooks/{hook['id']}", headers=bearer(token))
    assert gone.status_code == 204
    assert client.get(f"/api/v1/webhooks/{hook['id']}", headers=bearer(token)).status_code == 404


def test_bad_urls_and_events_are_refused(client, make_user, app):
    token = token_for(make_user("firm"))
    unknown = client.post("/api/v1/webhooks", headers=bearer(token),
                          json={"url": "https://erp.example.de/hook", "events": ["job.eaten"]})
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "bad_events"
    app.config["WEBHOOKS_ALLOW_LOOPBACK"] = False
    private = client.post("/api/v1/webhooks", headers=bearer(token),
                          json={"url": "https://10.0.0.5/hook", "events": ["order.placed"]})
    assert private.status_code == 422 and private.get_json()["code"] == "bad_url"
