"""Limits that hold when requests come in parallel (issue 10, finding 4).

Real parallel requests: threads against the app served on 127.0.0.1 (``live_server``), all
released at once by a barrier. Every request has a timeout; every loop is bounded.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa
from portal_helpers import cube_stl, store_part
from werkzeug.security import generate_password_hash

from marketplace import create_app
from marketplace.extensions import db
from marketplace.models import LoginAttempt

TIMEOUT_S = 60
PASSWORD = "richtiges-pw-1"


def parallel(n: int, call) -> Counter:
    """Run ``call(i)`` in ``n`` threads released together; count the status codes."""
    barrier = threading.Barrier(n, timeout=TIMEOUT_S)

    def run(i):
        barrier.wait()
        return call(i).status_code

    with ThreadPoolExecutor(n) as pool:
        return Counter(pool.map(run, range(n), timeout=TIMEOUT_S * 2))


def signed_in_session(server, email, password=PASSWORD) -> requests.Session:
    browser = requests.Session()
    response = browser.post(f"{server.url}/login", data={"email": email, "password": password},
                            allow_redirects=False, timeout=TIMEOUT_S)
    assert response.status_code == 302, response.text
    return browser


# --- the sign-in limit (counted in the database) -------------------------------------------------


def test_twenty_parallel_wrong_passwords_get_at_most_five_checks(app, live_server, make_user):
    user = make_user("firm", email="kunde@example.de")
    user.password_hash = generate_password_hash(PASSWORD, method="scrypt")  # a real, slow check
    db.session.commit()
    assert app.config["LOGIN_MAX_FAILURES"] == 5

    def wrong(i):
        return requests.post(f"{live_server.url}/login",
                             data={"email": "kunde@example.de", "password": f"falsch-{i:04d}"},
                             allow_redirects=False, timeout=TIMEOUT_S)

    statuses = parallel(20, wrong)
    assert set(statuses) <= {401, 429}, statuses
    assert statuses[401] <= 5, f"{statuses[401]} passwords checked, the limit is 5"
    assert statuses[429] >= 15
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == statuses[401]
    right = requests.post(f"{live_server.url}/login", data={"email": "kunde@example.de",
                          "password": PASSWORD}, allow_redirects=False, timeout=TIMEOUT_S)
    assert right.status_code == 429 if statuses[401] == 5 else right.status_code == 302


# --- request rate limits (Flask-Limiter, counted in the database or Redis) ---------------------------


SIGNUP = {"company": "Firma {i} GmbH", "street": "Am Sande 1", "postcode": "21335",
          "city": "Lüneburg", "country": "DE", "contact_name": "Eva {i}",
          "email": "eva{i}@example.de", "password": "sicheres-pw-1",
          "password_confirm": "sicheres-pw-1"}


def signup_form(i, email=None):
    form = {k: v.format(i=i) for k, v in SIGNUP.items()}
    if email:
        form["email"] = email
    return form


@pytest.fixture
def app_config(app_config):
    """The limits counted in the database, as the embedded default does (not in memory)."""
    return {**app_config, "RATELIMIT_STORAGE_URI": ""}


@pytest.fixture
def limits(app):
    """Set small limits for one test: limits(NAME="2/hour", ...)."""

    def set_limits(**values):
        app.config.update(values)

    return set_limits


def test_signup_per_client_address(live_server, limits):
    limits(LIMIT_SIGNUP_PER_IP="3/hour")
    statuses = parallel(10, lambda i: requests.post(
        f"{live_server.url}/signup", data=signup_form(i), allow_redirects=False,
        timeout=TIMEOUT_S))
    assert statuses[429] == 7, statuses  # 3 went through (whatever the form said)


def test_signup_per_email_address_from_many_addresses(app, live_server, limits):
    app.wsgi_app = _behind_one_proxy(app)
    limits(LIMIT_SIGNUP_PER_EMAIL="2/hour")
    statuses = parallel(8, lambda i: requests.post(
        f"{live_server.url}/signup", data=signup_form(i, email="ziel@example.de"),
        headers={"X-Forwarded-For": f"198.51.100.{i + 1}"}, allow_redirects=False,
        timeout=TIMEOUT_S))
    assert statuses[429] == 6, statuses


def _behind_one_proxy(app):
    from werkzeug.middleware.proxy_fix import ProxyFix

    return ProxyFix(app.wsgi_app, x_for=1)


def test_password_reset_per_address(live_server, limits, make_user):
    make_user("firm", email="kunde@example.de")
    limits(LIMIT_RESET_PER_EMAIL="2/hour", LIMIT_RESET_PER_IP="4/hour")
    by_address = parallel(6, lambda i: requests.post(
        f"{live_server.url}/password/forgot", data={"email": "kunde@example.de"},
        allow_redirects=False, timeout=TIMEOUT_S))
    assert by_address[429] == 4 and by_address[302] == 2, by_address
    by_client = parallel(6, lambda i: requests.post(
        f"{live_server.url}/password/forgot", data={"email": f"x{i}@example.de"},
        allow_redirects=False, timeout=TIMEOUT_S))
    assert by_client[302] == 2 and by_client[429] == 4, by_client  # 2 + 2 = the 4 per hour


def test_invitations_per_firm(live_server, limits, make_user):
    boss = make_user("firm", email="chefin@example.de", password=PASSWORD)
    make_user("firm", firm=boss.firm, email="kollege@example.de", password=PASSWORD)
    limits(LIMIT_INVITE_PER_FIRM="3/day")
    boss_browser = signed_in_session(live_server, "chefin@example.de")
    colleague = signed_in_session(live_server, "kollege@example.de")

    def invite(i):
        browser = boss_browser if i % 2 else colleague  # the firm shares one budget
        return browser.post(f"{live_server.url}/account/invite",
                            data={"invite-name": f"Neu {i}", "invite-email": f"neu{i}@example.de"},
                            allow_redirects=False, timeout=TIMEOUT_S)

    statuses = parallel(8, invite)
    assert statuses[429] == 5 and statuses[302] == 3, statuses


def test_uploads_per_firm(live_server, limits, make_user):
    make_user("firm", email="kunde@example.de", password=PASSWORD)
    limits(LIMIT_UPLOAD_PER_FIRM="4/hour")
    browser = signed_in_session(live_server, "kunde@example.de")
    data = cube_stl()
    statuses = parallel(10, lambda i: browser.post(
        f"{live_server.url}/parts", files={"files": (f"w{i}.stl", io.BytesIO(data))},
        headers={"Accept": "application/json"}, timeout=TIMEOUT_S))
    assert statuses[429] == 6 and statuses[201] == 4, statuses


def test_price_requests_per_firm(app, live_server, limits, make_user):
    user = make_user("firm", email="kunde@example.de", password=PASSWORD)
    part_id = store_part(user.firm, user).public_id
    limits(LIMIT_PRICE_PER_FIRM="5/minute")
    browser = signed_in_session(live_server, "kunde@example.de")
    statuses = parallel(12, lambda i: browser.post(
        f"{live_server.url}/parts/{part_id}/price",
        json={"material": "PLA", "quantity": 1 + i}, timeout=TIMEOUT_S))
    assert statuses[429] == 7 and statuses[200] == 5, statuses
    refused = browser.post(f"{live_server.url}/parts/{part_id}/price", json={},
                           headers={"Accept": "application/json"}, timeout=TIMEOUT_S)
    assert refused.status_code == 429
    assert "Zu viele Anfragen" in refused.json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0


# --- the storage -----------------------------------------------------------------------------------


@pytest.mark.commits
def test_two_workers_share_one_count(app, app_config, make_user, login_as):
    """Two app instances (as two worker processes) on one database count together."""
    second = create_app(app_config)
    limits = {"LIMIT_RESET_PER_IP": "3/hour"}
    app.config.update(limits)
    second.config.update(limits)
    first_client, second_client = app.test_client(), second.test_client()
    statuses = [c.post("/password/forgot", data={"email": f"a{i}@example.de"}).status_code
                for i, c in enumerate([first_client, second_client] * 3)]
    assert statuses == [302, 302, 302, 429, 429, 429]


def test_database_storage_windows(app):
    from marketplace.rate_limits import DatabaseStorage

    storage = DatabaseStorage()
    assert storage.check()
    assert [storage.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert storage.get("k") == 3 and storage.get("other") == 0
    assert storage.get_expiry("k") > storage.get_expiry("other")
    assert storage.incr("gone", -1) == 1  # a window that is already over starts again
    assert storage.incr("gone", 60) == 1
    storage.clear("k")
    assert storage.get("k") == 0
    assert storage.reset() >= 1


@pytest.mark.redis
@pytest.mark.commits
def test_redis_storage_when_configured(app_config, make_user):
    import redis

    url = "redis://127.0.0.1:6379/8"
    try:
        redis.Redis.from_url(url, socket_timeout=2).flushdb()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis is not running on 127.0.0.1:6379 (see README)")
    app = create_app({**app_config, "REDIS_URL": url, "LIMIT_RESET_PER_IP": "2/hour"})
    assert app.config["RATELIMIT_STORAGE_URI"] == url
    client = app.test_client()
    statuses = [client.post("/password/forgot", data={"email": f"b{i}@example.de"}).status_code
                for i in range(3)]
    assert statuses == [302, 302, 429]
    assert redis.Redis.from_url(url).dbsize() >= 1
