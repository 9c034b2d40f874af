"""Sign-ins that end (issue 10, finding 1): signing out, a new password, the account page,
the server's own expiry and another browser all end a session and a "keep me signed in" cookie.

Each test copies the cookies a browser holds before the event into a second client (as an
attacker who stole them would) and checks that they no longer sign anybody in.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g
from flask.testing import FlaskClient

from marketplace.extensions import db
from marketplace.models import User, UserSession, utcnow

PASSWORD = "richtiges-pw-1"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture
def kunde(make_user):
    return make_user("firm", email="kunde@example.de", password=PASSWORD)


class Browser(FlaskClient):
    """A test client that does not inherit the user the last request loaded (see conftest)."""

    def open(self, *args, **kwargs):
        g.pop("_login_user", None)
        return super().open(*args, **kwargs)


def new_client(app, agent=BROWSER):
    client = Browser(app, app.response_class, use_cookies=True)
    client.environ_base["HTTP_USER_AGENT"] = agent
    return client


def sign_in(client, remember=False, password=PASSWORD):
    data = {"email": "kunde@example.de", "password": password}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def cookie(client, name):
    found = client.get_cookie(name)
    return found.value if found is not None else None


def thief_with(app, agent=BROWSER, **cookies):
    """A client that holds only the given cookies (copied from a victim's browser)."""
    thief = new_client(app, agent)
    for name, value in cookies.items():
        thief.set_cookie(name, value)
    return thief


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


# --- the "keep me signed in" cookie ---------------------------------------------------------------


def test_remember_cookie_is_a_new_secret_each_time_not_the_user_id(app, kunde):
    first, second = new_client(app), new_client(app)
    sign_in(first, remember=True)
    sign_in(second, remember=True)
    a, b = cookie(first, "remember_token"), cookie(second, "remember_token")
    assert a and b and a != b
    assert not a.startswith(f"{kunde.id}|")  # was <user id>|HMAC(id), the same forever
    assert str(kunde.id) != a.partition("|")[0]


def test_remember_cookie_alone_signs_in_until_sign_out(app, kunde):
    browser = new_client(app)
    sign_in(browser, remember=True)
    remember = cookie(browser, "remember_token")
    assert signed_in(thief_with(app, remember_token=remember))  # works like the browser's
    assert browser.post("/logout").status_code == 302
    assert not signed_in(thief_with(app, remember_token=remember))


def test_session_cookie_is_dead_after_sign_out(app, kunde):
    browser = new_client(app)
    sign_in(browser)
    stolen = cookie(browser, "session")
    assert signed_in(thief_with(app, session=stolen))
    browser.post("/logout")
    assert not signed_in(thief_with(app, session=stolen))


@pytest.mark.parametrize("how", ["change", "reset"])
def test_new_password_ends_every_other_sign_in(app, kunde, how):
    from marketplace.accounts import operations as accounts

    laptop, phone = new_client(app), new_client(app)
    sign_in(laptop)
    sign_in(phone, remember=True)
    stolen = {"session": cookie(phone, "session"), "remember_token": cookie(phone, "remember_token")}
    if how == "change":
        response = laptop.post("/account", data={
            "pw-current_password": PASSWORD, "pw-password": "neues-passwort-1",
            "pw-password_confirm": "neues-passwort-1"})
        assert response.status_code == 302
        assert signed_in(laptop)  # the browser that changed it stays signed in
    else:
        token = accounts.make_reset_token(kunde)
        response = new_client(app).post(f"/password/reset/{token}", data={
            "password": "neues-passwort-1", "password_confirm": "neues-passwort-1"})
        assert response.status_code == 302
        assert not signed_in(laptop)
    assert not signed_in(phone)
    assert not signed_in(thief_with(app, **stolen))
    assert not signed_in(thief_with(app, remember_token=stolen["remember_token"]))


def test_remember_cookie_expires_on_the_server(app, kunde):
    browser = new_client(app)
    sign_in(browser, remember=True)
    remember = cookie(browser, "remember_token")
    row = db.session.execute(sa.select(UserSession)).scalar_one()
    assert row.remember
    lifetime = row.expires_at - row.created_at
    assert lifetime == timedelta(seconds=app.config["REMEMBER_COOKIE_DURATION"])
    row.expires_at = utcnow() - timedelta(seconds=1)  # the browser would still send it
    db.session.commit()
    assert not signed_in(thief_with(app, remember_token=remember))
    assert not signed_in(browser)


def test_a_sign_in_without_remember_ends_when_idle(app, kunde):
    browser = new_client(app)
    sign_in(browser)
    row = db.session.execute(sa.select(UserSession)).scalar_one()
    assert not row.remember
    assert row.expires_at - row.created_at == timedelta(
        seconds=app.config["PERMANENT_SESSION_LIFETIME"])
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert not signed_in(browser)


def test_being_active_pushes_the_idle_end_out(app, kunde):
    browser = new_client(app)
    sign_in(browser)
    row = db.session.execute(sa.select(UserSession)).scalar_one()
    an_hour_ago = utcnow() - timedelta(hours=1)
    row.last_seen_at, row.expires_at = an_hour_ago, utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert signed_in(browser)
    db.session.expire_all()
    row = db.session.execute(sa.select(UserSession)).scalar_one()
    assert row.last_seen_at > an_hour_ago
    assert row.expires_at > utcnow() + timedelta(hours=7)


def test_cookies_do_not_work_from_another_browser(app, kunde):
    """What session_protection="strong" promised: a copied cookie in another browser is refused
    (and ends that sign-in, so retrying with the right browser name does not help either)."""
    browser = new_client(app)
    sign_in(browser, remember=True)
    stolen = {"session": cookie(browser, "session"), "remember_token": cookie(browser, "remember_token")}
    chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
    assert not signed_in(thief_with(app, agent=chrome, **stolen))
    assert not signed_in(thief_with(app, **stolen))
    assert not signed_in(browser)
    assert db.session.execute(sa.select(sa.func.count()).select_from(UserSession)).scalar() == 0


def test_deactivated_account_is_signed_out(app, kunde):
    browser = new_client(app)
    sign_in(browser, remember=True)
    kunde.active = False
    db.session.commit()
    assert not signed_in(browser)


# --- the account page -----------------------------------------------------------------------------


def test_account_page_lists_the_sign_ins_and_ends_one(app, kunde):
    laptop = new_client(app)
    phone = new_client(app, "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 "
                            "Mobile Safari/537.36")
    sign_in(laptop)
    phone.environ_base["REMOTE_ADDR"] = "203.0.113.77"
    sign_in(phone, remember=True)
    page = laptop.get("/account").get_data(as_text=True)
    assert "Firefox, Linux" in page and "Chrome, Android" in page
    assert "203.0.113.0/24" in page and "203.0.113.77" not in page  # a network, not the address
    assert page.count("dieses Gerät") == 1
    phone_id = db.session.execute(sa.select(UserSession.public_id).where(
        UserSession.remember.is_(True))).scalar_one()
    assert laptop.post(f"/account/sessions/{phone_id}/end").status_code == 302
    assert not signed_in(phone)
    assert signed_in(laptop)
    # a sign-in of somebody else cannot be ended (or probed) from here
    other = new_client(app)
    other_user = User(email="x@example.de", password_hash=kunde.password_hash, role="firm",
                      firm_id=kunde.firm_id)
    db.session.add(other_user)
    db.session.commit()
    other.post("/login", data={"email": "x@example.de", "password": PASSWORD})
    foreign = db.session.execute(sa.select(UserSession.public_id).where(
        UserSession.user_id == other_user.id)).scalar_one()
    assert laptop.post(f"/account/sessions/{foreign}/end").status_code == 404
    assert signed_in(other)


def test_sign_out_everywhere(app, kunde):
    laptop, phone = new_client(app), new_client(app)
    sign_in(laptop)
    sign_in(phone, remember=True)
    stolen = cookie(phone, "remember_token")
    response = laptop.post("/account/sessions/end-all")
    assert response.status_code == 302 and response.location.endswith("/login")
    assert not signed_in(laptop) and not signed_in(phone)
    assert not signed_in(thief_with(app, remember_token=stolen))


def test_ending_this_devices_sign_in_signs_out(app, kunde):
    laptop = new_client(app)
    sign_in(laptop)
    page = laptop.get("/account").get_data(as_text=True)
    mine = re.search(r'data-session="(\w+)"', page).group(1)
    assert laptop.post(f"/account/sessions/{mine}/end").status_code == 302
    assert not signed_in(laptop)


def test_expired_rows_are_cleared_at_the_next_sign_in(app, kunde):
    browser = new_client(app)
    sign_in(browser)
    db.session.execute(sa.update(UserSession).values(expires_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    sign_in(new_client(app))
    assert db.session.execute(sa.select(sa.func.count()).select_from(UserSession)).scalar() == 1


def test_session_forms_need_csrf(app, kunde):
    app.config["WTF_CSRF_ENABLED"] = True
    browser = new_client(app)
    page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    browser.post("/login", data={"email": "kunde@example.de", "password": PASSWORD,
                                 "csrf_token": token})
    assert browser.post("/account/sessions/end-all").status_code == 400
    assert signed_in(browser)
