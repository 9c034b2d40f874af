"""Idempotency-Key on the API's creating POSTs (issue 12): the same order POST twice with one
key makes one order (also from eight threads at once against a live server); the same key
with another body is refused; a missing key on an order is refused. Runs on SQLite and, in
the PostgreSQL pass, on PostgreSQL."""

from __future__ import annotations

import io
import threading

import pytest
import requests
import sqlalchemy as sa
from api_helpers import bearer, token_for
from portal_helpers import cube_stl, store_part

from marketplace.extensions import db
from marketplace.models import Order, Part, PrintJob
from marketplace.quotes import operations as quotes
from marketplace.tokens.models import IdempotencyRecord


@pytest.fixture
def firm_quote(app, make_user):
    user = make_user("firm")
    part = store_part(user.firm, user)
    quote = quotes.make_quote(part, quantity=2)
    db.session.commit()
    return user, quote.public_id


def _orders() -> int:
    return db.session.scalar(sa.select(sa.func.count(Order.id)))


def test_the_same_order_twice_with_one_key_makes_one_order(client, firm_quote):
    user, quote_id = firm_quote
    token = token_for(user)
    headers = bearer(token, **{"Idempotency-Key": "erp-order-4711"})
    first = client.post("/api/v1/orders", headers=headers, json={"quote_id": quote_id})
    assert first.status_code == 201, first.get_json()
    again = client.post("/api/v1/orders", headers=headers, json={"quote_id": quote_id})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert _orders() == 1
    assert db.session.scalar(sa.select(sa.func.count(PrintJob.id))) == 2
    other_body = client.post("/api/v1/orders", headers=headers,
                             json={"quote_id": quote_id, "delivery": "shipping"})
    assert other_body.status_code == 422
    assert other_body.get_json()["code"] == "idempotency_key_reused"
    no_key = client.post("/api/v1/orders", headers=bearer(token), json={"quote_id": quote_id})
    assert no_key.status_code == 400
    assert no_key.get_json()["code"] == "idempotency_key_missing"
    # a new key for the same quote: ordered already, said plainly, still one order
    twice = client.post("/api/v1/orders", headers=bearer(token, **{"Idempotency-Key": "k2"}),
                        json={"quote_id": quote_id})
    assert twice.status_code == 409 and twice.get_json()["code"] == "already_ordered"
    assert _orders() == 1


def test_keys_belong_to_their_user_and_failures_are_not_kept(client, firm_quote, make_user):
    user, quote_id = firm_quote
    colleague = make_user("firm", firm=user.firm)
    key = {"Idempotency-Key": "same-key"}
    refused = client.post("/api/v1/orders", headers=bearer(token_for(user), **key),
                          json={"quote_id": "0" * 32})
    assert refused.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(IdempotencyRecord.id))) == 0
    done = client.post("/api/v1/orders", headers=bearer(token_for(user), **key),
                       json={"quote_id": quote_id})
    assert done.status_code == 201  # the failed try left nothing under the key
    theirs = client.post("/api/v1/orders", headers=bearer(token_for(colleague), **key),
                         json={"quote_id": quote_id})
    assert "Idempotent-Replayed" not in theirs.headers  # another user's key space
    assert theirs.status_code == 409 and _orders() == 1


def test_an_upload_retried_with_its_key_makes_one_part(client, make_user):
    user = make_user("firm")
    token = token_for(user)

    def post():
        return client.post("/api/v1/parts", headers=bearer(token, **{"Idempotency-Key": "u1"}),
                           data={"file": (io.BytesIO(cube_stl()), "cube.stl")},
                           content_type="multipart/form-data")

    first, second = post(), post()
    assert first.status_code == second.status_code == 201
    assert second.get_json()["id"] == first.get_json()["id"]
    assert db.session.scalar(sa.select(sa.func.count(Part.id))) == 1
    other = client.post("/api/v1/parts", headers=bearer(token, **{"Idempotency-Key": "u1"}),
                        data={"file": (io.BytesIO(cube_stl(30)), "cube.stl")},
                        content_type="multipart/form-data")
    assert other.status_code == 422  # same key, another file


@pytest.mark.commits
def test_eight_concurrent_posts_with_one_key_make_one_order(app, live_server, firm_quote):
    user, quote_id = firm_quote
    token = token_for(user)
    barrier = threading.Barrier(8)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def post():
        barrier.wait(timeout=30)
        answer = requests.post(f"{live_server.url}/api/v1/orders", timeout=60,
                               headers=bearer(token, **{"Idempotency-Key": "burst-1"}),
                               json={"quote_id": quote_id})
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert len(answers) == 8
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    db.session.remove()
    assert _orders() == 1
    assert db.session.scalar(sa.select(sa.func.count(PrintJob.id))) == 2
    assert db.session.scalar(sa.select(sa.func.count(IdempotencyRecord.id))) == 1


def test_old_answers_are_pruned_and_their_keys_free_again(client, firm_quote, app):
    from datetime import timedelta

    from marketplace.tokens import tasks

    user, quote_id = firm_quote
    token = token_for(user)
    first = client.post("/api/v1/orders", headers=bearer(token, **{"Idempotency-Key": "old"}),
                        json={"quote_id": quote_id})
    assert first.status_code == 201
    row = db.session.scalar(sa.select(IdempotencyRecord))
    assert tasks.prune_idempotency_records.call_local() == 0  # a fresh answer stays
    row.created_at -= timedelta(seconds=app.config["IDEMPOTENCY_KEEP_S"] + 1)
    db.session.commit()
    assert tasks.prune_idempotency_records.call_local() == 1
    assert db.session.scalar(sa.select(sa.func.count(IdempotencyRecord.id))) == 0
