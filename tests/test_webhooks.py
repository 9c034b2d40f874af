"""Webhooks (issue 12): deliveries to a real HTTP server on 127.0.0.1, signatures checked with
the Standard Webhooks reference library, retries, replay, disabling, SSRF, rollback."""

from __future__ import annotations

import json
import re
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from smtp_server import mail_app_config, smtp_server  # noqa: F401  (fixtures)
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from test_orders_service import make_quote
from webhook_receiver import Answer, WebhookReceiver

from marketplace.extensions import db
from marketplace.models import Firm, utcnow
from marketplace.orders import operations as orders
from marketplace.webhooks import delivery, endpoints, outbox, payloads, signing, transport
from marketplace.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

FIRM = "Muster Maschinenbau GmbH"


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def firm(app):
    firm = Firm(name=FIRM, vat_id="DE123456789", street="Am Sande 1", postcode="21335",
                city="Lüneburg")
    db.session.add(firm)
    db.session.commit()
    return firm


def add_endpoint(runner, url, events, firm_name=FIRM):
    args = ["webhooks", "add", "--url", url, "--events", events]
    if firm_name:
        args[2:2] = ["--firm", firm_name]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    found = dict(re.findall(r"^(id|secret): (\S+)$", result.output, re.M))
    assert set(found) == {"id", "secret"}, result.output
    return found["id"], found["secret"]


def run_due(rounds=20):
    """What the workers' periodic pass does, until nothing is due (bounded)."""
    for _ in range(rounds):
        if delivery.deliver_due() == 0:
            return
    raise AssertionError("deliveries still due after %s rounds" % rounds)


def new_quote(firm, **fields):
    """A quote and its quote.created event, as quotes.store writes them (the caller commits)."""
    quote = make_quote(firm=firm, **fields)
    payloads.quote_created(quote)
    return quote


def verify(secret, received):
    return Webhook(secret).verify(received.body, received.headers)


# --- signing, the schedule --------------------------------------------------------------------
def test_signature_matches_the_reference_library():
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(signing.secret_bytes(secret)) == 24
    body = b'{"type":"quote.created"}'
    ts = int(time.time())
    headers = signing.headers([secret], "msg_1", ts, body)
    assert Webhook(secret).sign("msg_1", datetime.fromtimestamp(ts, UTC),
                                body.decode()) == headers["webhook-signature"]
    assert Webhook(secret).verify(body, headers) == {"type": "quote.created"}
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)


def test_back_off_spans_about_three_days(app):
    cfg = app.config
    total = delivery.schedule_s(cfg["WEBHOOKS_MAX_ATTEMPTS"], cfg["WEBHOOKS_RETRY_BASE_S"])
    assert 2.5 * 86400 <= total <= 3.5 * 86400
    delays = [delivery.retry_delay_s(n, 60) for n in range(1, 13)]
    assert all(0.75 * 60 * 2 ** i <= d <= 1.25 * 60 * 2 ** i for i, d in enumerate(delays))
    assert len({round(delivery.retry_delay_s(3, 60), 6) for _ in range(20)}) > 1  # jitter


# --- deliveries --------------------------------------------------------------------------------
def test_quote_created_is_delivered_signed(app, runner, firm, receiver, make_user):
    from portal_helpers import store_part

    from marketplace.quotes import operations as quotes

    endpoint_id, secret = add_endpoint(runner, receiver.url, "quote.created,order.placed")
    user = make_user("firm", firm=firm)
    part = store_part(firm, user)
    quote = quotes.make_quote(part, material_code="PLA", colour="any", quantity=2, infill=15,
                              layer_height=0.2, units=None)
    db.session.commit()
    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    payload = verify(secret, got)
    assert payload["type"] == "quote.created"
    assert payload["data"]["quote"]["id"] == quote.public_id
    assert payload["data"]["quote"]["gross_cents"] == quote.gross_cents > 0
    assert got.headers["webhook-id"].startswith("msg_")
    assert got.headers["content-type"] == "application/json"
    row = db.session.scalar(sa.select(WebhookDelivery))
    assert row.state == "succeeded" and row.last_status == 204 and row.attempts == 1
    assert row.endpoint.public_id == endpoint_id
    # the order is another event; the endpoint gets it too, the other firm's endpoint not
    other = Firm(name="Andere GmbH")
    db.session.add(other)
    db.session.commit()
    with WebhookReceiver() as other_receiver:
        add_endpoint(runner, other_receiver.url, "order.placed", firm_name="Andere GmbH")
        order = orders.place_order(quote, placed_by=None)
        db.session.commit()
        assert other_receiver.requests == []
    assert len(receiver.requests) == 2
    placed = verify(secret, receiver.requests[1])
    assert placed["type"] == "order.placed"
    assert placed["data"]["order"]["number"] == order.number


def test_no_event_for_a_rolled_back_change(app, runner, firm, receiver):
    add_endpoint(runner, receiver.url, "quote.created")
    new_quote(firm)
    assert db.session.scalar(sa.select(sa.func.count(WebhookMessage.id))) == 1  # in the outbox
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(WebhookMessage.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(WebhookDelivery.id))) == 0
    db.session.commit()  # a later commit sends nothing either
    run_due()
    assert receiver.requests == []


def test_retries_after_500_and_a_time_out(app, runner, firm, receiver):
    app.config.update(WEBHOOKS_RETRY_BASE_S=0, WEBHOOKS_TIMEOUT_S=0.5)
    receiver.answers = [Answer(500, b"x" * 100_000), Answer(200, delay_s=2.0), Answer(200, b"ok")]
    _id, secret = add_endpoint(runner, receiver.url, "quote.created")
    new_quote(firm)
    db.session.commit()  # the first try: 500
    row = db.session.scalar(sa.select(WebhookDelivery))
    assert row.state == "pending" and row.last_status == 500
    run_due()
    db.session.refresh(row)
    assert row.state == "succeeded" and row.attempts == 3
    tries = db.session.scalars(sa.select(WebhookAttempt).order_by(WebhookAttempt.id)).all()
    assert [t.status for t in tries] == [500, None, 200]
    assert len(tries[0].response_body) == app.config["WEBHOOKS_LOG_BODY_CHARS"]  # truncated
    assert tries[1].error == "Zeitüberschreitung" and tries[1].duration_ms < 2000
    assert tries[2].response_body == "ok"
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1  # one message, three tries
    for got in receiver.requests:
        assert verify(secret, got)["type"] == "quote.created"


def test_replay_sends_the_same_message_again(app, runner, firm, receiver):
    _id, secret = add_endpoint(runner, receiver.url, "quote.created")
    new_quote(firm)
    db.session.commit()
    first = db.session.scalar(sa.select(WebhookDelivery))
    result = runner.invoke(args=["webhooks", "replay", first.public_id])
    assert result.exit_code == 0, result.output
    assert re.match(r"^[0-9a-f]{32}\s+succeeded$", result.output.strip())
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    assert verify(secret, receiver.requests[1])["type"] == "quote.created"
    replayed = db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    assert len(replayed) == 2 and replayed[1].replay_of_id == first.id


def test_dead_endpoint_is_disabled_and_the_firm_told(mail_app_config, app, runner, firm,
                                                      make_user, smtp_server):
    app.config.update(WEBHOOKS_RETRY_BASE_S=0, WEBHOOKS_MAX_ATTEMPTS=3)
    user = make_user("firm", firm=firm, email="it@muster.example")
    with WebhookReceiver(default=Answer(503, b"down")) as dead:
        endpoint_id, _secret = add_endpoint(runner, dead.url, "quote.created")
        new_quote(firm)
        db.session.commit()
        run_due()
        assert len(dead.requests) == 3
    endpoint = db.session.scalar(sa.select(WebhookEndpoint))
    assert not endpoint.active and endpoint.disabled_reason == "HTTP 503"
    row = db.session.scalar(sa.select(WebhookDelivery))
    assert row.state == "failed" and row.attempts == 3
    mail = smtp_server.wait_for(1)[0]
    assert mail["To"] == user.email and "Webhook" in mail["Subject"]
    assert dead.url in mail.get_content()
    # nothing is sent to it while it is disabled; replay is refused until it is enabled
    with WebhookReceiver() as back:
        endpoint.url = back.url
        db.session.commit()
        new_quote(firm)
        db.session.commit()
        assert back.requests == []
        refused = runner.invoke(args=["webhooks", "replay", row.public_id])
        assert refused.exit_code != 0 and "deaktiviert" in refused.output
        assert runner.invoke(args=["webhooks", "enable", endpoint_id]).exit_code == 0
        again = runner.invoke(args=["webhooks", "replay", "--endpoint", endpoint_id, "--failed"])
        assert again.exit_code == 0, again.output
        assert len(back.requests) == 1


def test_rotation_signs_with_both_secrets_during_the_overlap(app, runner, firm, receiver):
    endpoint_id, old = add_endpoint(runner, receiver.url, "quote.created")
    result = runner.invoke(args=["webhooks", "rotate-secret", endpoint_id])
    assert result.exit_code == 0, result.output
    new = re.search(r"^secret: (whsec_\S+)$", result.output, re.M).group(1)
    assert new != old
    new_quote(firm)
    db.session.commit()
    got = receiver.requests[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert verify(new, got) and verify(old, got)  # the receiver may still use either
    endpoint = db.session.scalar(sa.select(WebhookEndpoint))
    endpoint.previous_secret_until = utcnow() - timedelta(seconds=1)  # the overlap is over
    db.session.commit()
    new_quote(firm)
    db.session.commit()
    got = receiver.requests[-1]
    assert verify(new, got)
    with pytest.raises(WebhookVerificationError):
        verify(old, got)


# --- SSRF ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "https://10.0.0.8/hook", "https://192.168.1.20/hook", "https://172.16.0.1/hook",
    "https://169.254.169.254/latest/meta-data", "https://[fd00::1]/hook", "https://[fe80::1]/x",
    "https://100.64.0.1/hook", "https://0.0.0.0/hook",
])
def test_private_addresses_are_refused(app, runner, firm, url):
    result = runner.invoke(args=["webhooks", "add", "--firm", FIRM, "--url", url,
                                 "--events", "quote.created"])
    assert result.exit_code != 0 and "interne Netz" in result.output
    assert db.session.scalar(sa.select(sa.func.count(WebhookEndpoint.id))) == 0


def test_loopback_and_plain_http_are_refused_in_production_mode(app, runner, firm, receiver):
    app.config["WEBHOOKS_ALLOW_LOOPBACK"] = False
    for url in (receiver.url, f"https://127.0.0.1:{receiver.port}/hooks",
                f"https://localhost:{receiver.port}/hooks"):
        result = runner.invoke(args=["webhooks", "add", "--firm", FIRM, "--url", url,
                                     "--events", "quote.created"])
        assert result.exit_code != 0, url
    app.config.update(WEBHOOKS_ALLOW_LOOPBACK=True, ENVIRONMENT="production")
    assert not transport.loopback_allowed()  # production ignores the setting


def test_a_name_that_resolves_to_loopback_is_not_delivered_to(app, runner, firm, receiver):
    # registered while loopback was allowed; production rules at delivery time
    add_endpoint(runner, f"http://localhost:{receiver.port}/hooks", "quote.created")
    app.config["WEBHOOKS_ALLOW_LOOPBACK"] = False
    endpoint = db.session.scalar(sa.select(WebhookEndpoint))
    endpoint.url = f"https://localhost:{receiver.port}/hooks"
    new_quote(firm)
    db.session.commit()
    row = db.session.scalar(sa.select(WebhookDelivery))
    assert row.state == "pending" and "internen Netz" in row.last_error
    assert receiver.requests == []


def test_dns_answer_is_checked_at_each_delivery(app, runner, firm, receiver, monkeypatch):
    """A name that resolved to a public address when registered and to a private one later
    (DNS rebinding) gets nothing; no connection is opened to the private address."""
    real = socket.getaddrinfo
    answer = {"ip": "93.184.216.34"}

    def fake(host, *args, **kwargs):
        if host == "hooks.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer["ip"], 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    connects = []
    monkeypatch.setattr(socket.socket, "connect",
                        lambda self, address: connects.append(address) or (_ for _ in ()).throw(
                            OSError("no connection in this test")))
    add_endpoint(runner, "https://hooks.example.test/in", "quote.created")
    answer["ip"] = "10.20.30.40"
    new_quote(firm)
    db.session.commit()
    row = db.session.scalar(sa.select(WebhookDelivery))
    assert "10.20.30.40" in row.last_error and row.last_status is None
    assert connects == []


def test_redirects_are_not_followed(app, runner, firm):
    with WebhookReceiver() as target, WebhookReceiver() as first:
        first.default = Answer(307, headers={"location": target.url})
        add_endpoint(runner, first.url, "quote.created")
        new_quote(firm)
        db.session.commit()
        assert len(first.requests) == 1 and target.requests == []
    row = db.session.scalar(sa.select(WebhookDelivery))
    assert row.state == "pending" and row.last_status == 307
    assert row.last_error == f"Weiterleitung nicht gefolgt: {target.url}"


def test_answers_are_read_only_up_to_the_limit(app):
    app.config.update(WEBHOOKS_MAX_RESPONSE_BYTES=1000, WEBHOOKS_LOG_BODY_CHARS=5000)
    with WebhookReceiver(default=Answer(200, b"y" * 500_000)) as big:
        answer = transport.post(big.url, b"{}", {})
    assert answer.ok and len(answer.body) == 1000


def test_a_receiver_that_drips_its_answer_is_cut_at_the_deadline(app):
    """Each byte comes before the read time-out, so only the whole try's deadline stops it."""
    import threading

    app.config.update(WEBHOOKS_CONNECT_TIMEOUT_S=0.5, WEBHOOKS_TIMEOUT_S=0.5)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def drip():
        conn, _addr = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(100):  # at most 20 s, a byte every 0.2 s
                if stop.is_set():
                    return
                try:
                    conn.sendall(b"a")
                except OSError:
                    return
                time.sleep(0.2)

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        answer = transport.post(f"http://127.0.0.1:{port}/hooks", b"{}", {})
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
    assert answer.status is None and answer.error == "Zeitüberschreitung"
    assert time.monotonic() - started < 3.0


# --- the CLI contract and the event list ---------------------------------------------------------
def test_cli_add_checks_events_and_the_firm(app, runner, firm, receiver):
    bad = runner.invoke(args=["webhooks", "add", "--firm", FIRM, "--url", receiver.url,
                              "--events", "quote.created,printer.state_changed"])
    assert bad.exit_code != 0 and "printer.state_changed" in bad.output  # a hub event
    missing = runner.invoke(args=["webhooks", "add", "--firm", "Nobody", "--url", receiver.url,
                                  "--events", "quote.created"])
    assert missing.exit_code != 0 and "no firm" in missing.output
    hub_id, _secret = add_endpoint(runner, receiver.url, "printer.state_changed,quote.created",
                                   firm_name=None)
    listed = runner.invoke(args=["webhooks", "list", "--hub"])
    assert hub_id in listed.output and "hub" in listed.output


def test_hub_endpoint_gets_hub_events_and_every_firms_events(app, runner, firm, receiver):
    from hub_factories import make_printer

    from marketplace.printer_states import set_printer_state

    _id, secret = add_endpoint(runner, receiver.url, "printer.state_changed,quote.created",
                               firm_name=None)
    printer = make_printer()
    db.session.commit()
    set_printer_state(printer, "maintenance", actor="tech@hub.example", reason="Düse wechseln")
    db.session.commit()
    new_quote(firm)
    db.session.commit()
    types = [verify(secret, r)["type"] for r in receiver.requests]
    assert types == ["printer.state_changed", "quote.created"]
    data = verify(secret, receiver.requests[0])["data"]["printer"]
    assert data["state"] == "maintenance" and data["reason"] == "Düse wechseln"


def test_order_status_changes_once_per_transaction(app, runner, firm, receiver):
    from invoice_helpers import complete_legal_details, make_priced_order

    from marketplace.hubqueue import operations as hubqueue
    from marketplace.jobs import transition

    complete_legal_details()
    _id, secret = add_endpoint(runner, receiver.url,
                               "order.status_changed,order.shipped,invoice.issued")
    order = make_priced_order(firm, quantity=3, delivery="shipping")
    db.session.commit()
    assert receiver.requests == []  # placing is order.placed, not a status change
    orders.approve_order(order, "tech@hub.example")  # three pieces, one change
    db.session.commit()
    for job in order.jobs:
        for state in ("queued", "dispatching", "printing", "printed"):
            transition(job, state, actor="dispatcher")
    db.session.commit()
    hubqueue.hand_over_finished(order, shipped=True, actor="tech@hub.example")
    db.session.commit()
    events = [verify(secret, r) for r in receiver.requests]
    changes = [(e["data"]["previous_status"], e["data"]["status"]) for e in events
               if e["type"] == "order.status_changed"]
    assert changes == [("received", "approved"), ("approved", "printed"), ("printed", "shipped")]
    # the invoice is issued inside the hand-over; the status is compared when it commits
    assert [e["type"] for e in events][-3:] == ["invoice.issued", "order.status_changed",
                                                "order.shipped"]
    invoice = next(e for e in events if e["type"] == "invoice.issued")["data"]["invoice"]
    assert invoice["number"].startswith("RE-") and invoice["kind"] == "invoice"
    # the parcel it went in, with the day (no number given by this path)
    shipped = next(e for e in events if e["type"] == "order.shipped")["data"]["order"]
    [parcel] = shipped["parcels"]
    assert parcel["shipped_on"] and parcel["tracking_number"] is None


def test_job_needs_attention_goes_to_the_hub(app, runner, firm, receiver):
    from invoice_helpers import make_priced_order

    from marketplace.jobs import transition

    _id, secret = add_endpoint(runner, receiver.url, "job.needs_attention", firm_name=None)
    order = make_priced_order(firm, quantity=1)
    job = order.jobs[0]
    transition(job, "approved", actor="t")
    transition(job, "needs_attention", actor="t", reason="Slicer weicht ab")
    db.session.commit()
    payload = verify(secret, receiver.requests[-1])
    assert payload["type"] == "job.needs_attention"
    assert payload["data"]["job"]["reason"] == "Slicer weicht ab"
    assert payload["data"]["job"]["order_number"] == order.number


def test_part_analysed(app, runner, firm, receiver, make_user):
    from portal_helpers import store_part

    _id, secret = add_endpoint(runner, receiver.url, "part.analysed")
    user = make_user("firm", firm=firm)
    part = store_part(firm, user)
    payload = verify(secret, receiver.requests[-1])
    assert payload["type"] == "part.analysed"
    assert payload["data"]["part"]["id"] == part.public_id
    assert payload["data"]["part"]["status"] == "ready" and payload["data"]["part"]["printable"]


def test_unknown_event_cannot_be_emitted(app):
    with pytest.raises(ValueError):
        outbox.emit("order.exploded", {}, firm_id=None)
    assert json.loads(json.dumps(sorted(endpoints.parse_events("order.placed", 1)))) == [
        "order.placed"]


# --- the pages ------------------------------------------------------------------------------------
def test_firm_pages_add_show_replay_and_rotate(app, client, login_as, make_user, firm, receiver):
    user = make_user("firm", firm=firm)
    login_as(user)
    page = client.get("/account/webhooks")
    assert page.status_code == 200 and "Endpunkt anlegen" in page.get_data(True)
    assert "printer.state_changed" not in page.get_data(True)  # hub events: not for firms
    bad = client.post("/account/webhooks", data={"hook-url": "https://10.1.1.1/x",
                                                  "hook-events": ["quote.created"]})
    assert bad.status_code == 400 and "interne Netz" in bad.get_data(True)
    created = client.post("/account/webhooks", data={"hook-url": receiver.url,
                                                      "hook-events": ["quote.created"],
                                                      "hook-description": "ERP"})
    assert created.status_code == 303
    detail_url = created.headers["Location"]
    endpoint = db.session.scalar(sa.select(WebhookEndpoint))
    secret = endpoints.secret_of(endpoint)
    html = client.get(detail_url).get_data(True)
    assert secret in html
    new_quote(firm)
    db.session.commit()
    assert verify(secret, receiver.requests[0])["type"] == "quote.created"
    row = db.session.scalar(sa.select(WebhookDelivery))
    html = client.get(detail_url).get_data(True)
    assert f'data-delivery="{row.public_id}" data-state="succeeded"' in html
    replay = client.post(f"{detail_url}/deliveries/{row.public_id}/replay")
    assert replay.status_code == 303 and len(receiver.requests) == 2
    assert client.post(f"{detail_url}/rotate").status_code == 303
    db.session.refresh(endpoint)
    new_secret = endpoints.secret_of(endpoint)
    assert new_secret != secret and new_secret in client.get(detail_url).get_data(True)
    # another firm's user sees no trace of it
    other = make_user("firm")
    login_as(other)
    assert client.get(detail_url).status_code == 404
    assert endpoint.url not in client.get("/account/webhooks").get_data(True)


def test_hub_admin_page_manages_hub_endpoints(app, client, login_as, make_user, receiver):
    admin = make_user("admin")
    login_as(admin)
    page = client.get("/hub/webhooks")
    assert page.status_code == 200 and "printer.state_changed" in page.get_data(True)
    created = client.post("/hub/webhooks", data={"hook-url": receiver.url,
                                                  "hook-events": ["printer.state_changed"]})
    assert created.status_code == 303
    endpoint = db.session.scalar(sa.select(WebhookEndpoint))
    assert endpoint.firm_id is None and endpoint.events == ["printer.state_changed"]
    assert client.post(created.headers["Location"] + "/disable").status_code == 303
    db.session.refresh(endpoint)
    assert not endpoint.active
    technician = make_user("technician")
    login_as(technician)
    assert client.get("/hub/webhooks").status_code == 403


# --- the README's example, key rotation, the log's retention -------------------------------------
def test_readme_example_verifies_a_real_delivery(app, runner, firm, receiver):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Webhooks", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    _id, secret = add_endpoint(runner, receiver.url, "quote.created")
    new_quote(firm)
    db.session.commit()
    namespace: dict = {}
    exec(code.replace('"whsec_..."', repr(secret)), namespace)  # noqa: S102 (our own README)
    got = receiver.requests[0]
    event = namespace["druckhub_event"](got.body, got.headers)
    assert event["type"] == "quote.created"
    with pytest.raises(WebhookVerificationError):
        namespace["druckhub_event"](got.body.replace(b"quote", b"QUOTE"), got.headers)


def test_rotating_the_hubs_keys_keeps_the_secrets(app, runner, firm, receiver):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app.config["PRINTER_KEY_SECRETS"] = old
    _id, secret = add_endpoint(runner, receiver.url, "quote.created")
    app.config["PRINTER_KEY_SECRETS"] = f"{new},{old}"
    result = runner.invoke(args=["printers", "rotate-keys"])
    assert result.exit_code == 0 and "webhook secrets re-encrypted: 1" in result.output
    app.config["PRINTER_KEY_SECRETS"] = new  # the old key is gone
    db.session.expire_all()
    endpoint = db.session.scalar(sa.select(WebhookEndpoint))
    assert endpoints.secret_of(endpoint) == secret
    new_quote(firm)
    db.session.commit()
    assert verify(secret, receiver.requests[-1])["type"] == "quote.created"


def test_old_messages_are_pruned_but_not_pending_ones(app, runner, firm, receiver):
    add_endpoint(runner, receiver.url, "quote.created")
    new_quote(firm)
    db.session.commit()
    receiver.default = Answer(500)
    new_quote(firm)
    db.session.commit()  # this one stays pending (retried later)
    for message in db.session.scalars(sa.select(WebhookMessage)):
        message.created_at = utcnow() - timedelta(days=40)
    db.session.commit()
    assert endpoints.prune(30) == 1
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(WebhookMessage.id))) == 1
    left = db.session.scalars(sa.select(WebhookDelivery)).all()
    assert [d.state for d in left] == ["pending"]
    assert db.session.scalar(sa.select(sa.func.count(WebhookAttempt.id))) == 1  # its try


def test_a_multi_part_order_lists_every_line(app, runner, make_user, receiver):
    from test_cart_orders import _quote

    from portal_helpers import store_part

    user = make_user("firm", firm_name=FIRM)
    small = store_part(user.firm, user, name="Klemme.stl")
    big = store_part(user.firm, user, name="Gehäuse.stl")
    _id, secret = add_endpoint(runner, receiver.url, "quote.created,order.placed")
    quote = _quote(user, small, big)
    order = orders.place_order(quote, placed_by=user)
    db.session.commit()
    created, placed = (verify(secret, r) for r in receiver.requests)
    assert created["type"] == "quote.created" and placed["type"] == "order.placed"
    lines = placed["data"]["order"]["lines"]
    assert [(x["part_id"], x["material"], x["quantity"]) for x in lines] == [
        (small.public_id, "PLA", 2), (big.public_id, "PETG", 10)]
    assert placed["data"]["order"]["quantity"] == 12
    assert placed["data"]["order"]["gross_cents"] == order.gross_cents == quote.gross_cents
    assert created["data"]["quote"]["lines"] == lines


def test_the_firms_export_lists_its_webhooks_and_its_last_person_leaving_removes_them(
        app, runner, make_user, receiver):
    from marketplace.accounts import data_rights

    first = make_user("firm", email="it@muster.example", firm_name=FIRM)
    second = make_user("firm", firm=first.firm)
    _id, secret = add_endpoint(runner, receiver.url, "quote.created")
    endpoint = db.session.scalar(sa.select(WebhookEndpoint))
    endpoint.created_by = first.email
    db.session.commit()
    exported = data_rights.export_data(first.firm)["webhooks"]
    assert [(e["id"], e["url"], e["events"]) for e in exported] == [
        (endpoint.public_id, receiver.url, ["quote.created"])]
    assert secret not in json.dumps(data_rights.export_data(first.firm))
    data_rights.delete_account(first)
    db.session.commit()
    endpoint = db.session.scalar(sa.select(WebhookEndpoint))
    assert endpoint is not None and endpoint.created_by == f"gelöschtes Konto #{first.id}"
    data_rights.delete_account(second)  # the firm's last person
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(WebhookEndpoint.id))) == 0
    new_quote(db.session.get(Firm, first.firm_id))
    db.session.commit()
    assert receiver.requests == []


def test_a_name_not_yet_in_the_dns_can_be_registered(app, runner, firm):
    endpoint_id, secret = add_endpoint(runner, "https://erp.muster.invalid/druckhub",
                                       "order.placed")
    assert secret.startswith("whsec_")
    new = make_quote(firm=firm)
    orders.place_order(new, placed_by=None)
    db.session.commit()
    row = db.session.scalar(sa.select(WebhookDelivery))
    assert row.state == "pending" and row.last_status is None and row.last_error


def test_an_order_placed_and_approved_at_once_reports_both(app, runner, firm, receiver):
    _id, secret = add_endpoint(runner, receiver.url, "order.placed,order.status_changed")
    order = orders.place_order(make_quote(firm=firm, quantity=2), placed_by=None)
    orders.approve_order(order, "tech@hub.example")  # one transaction, as orders submit --approve
    db.session.commit()
    events = [verify(secret, r) for r in receiver.requests]
    assert [e["type"] for e in events] == ["order.placed", "order.status_changed"]
    assert (events[1]["data"]["previous_status"], events[1]["data"]["status"]) == (
        "received", "approved")
    orders.place_order(make_quote(firm=firm), placed_by=None)  # placed only: no change
    db.session.commit()
    assert [verify(secret, r)["type"] for r in receiver.requests[2:]] == ["order.placed"]
