"""Sign-up, sign-in, sign-out, password reset over a real SMTP server, CSRF, rate limit, roles."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from smtp_server import smtp_server  # noqa: F401  (fixture)
from werkzeug.security import check_password_hash

from marketplace.extensions import db
from marketplace.models import Firm, LoginAttempt, Notification, User, UserSession

SIGNUP = {
    "company": "Nordheide Feinmechanik GmbH", "vat_id": "de 123 456 788", "street": "Bahnhofstr. 3",
    "postcode": "21423", "city": "Winsen (Luhe)", "country": "DE", "contact_name": "Jana Beispiel",
    "phone": "", "email": "Jana@Nordheide.example", "password": "sicheres-pw-1",
    "password_confirm": "sicheres-pw-1",
}


@pytest.fixture
def app_config(app_config, smtp_server):  # noqa: F811
    """Every test here mails through the local SMTP server, sent right after each commit."""
    app_config.update(SMTP_HOST=smtp_server.host, SMTP_PORT=smtp_server.port,
                      SMTP_SENDER="Druckhub Test <druckhub@example.test>",
                      MAIL_SEND_AFTER_COMMIT="queue", LOGIN_MAX_FAILURES=3,
                      LOGIN_MAX_FAILURES_PER_IP=6)
    return app_config


def login(client, email, password, next_=None, ip="127.0.0.1"):
    data = {"email": email, "password": password}
    if next_ is not None:
        data["next"] = next_
    return client.post("/login", data=data, environ_base={"REMOTE_ADDR": ip})


def signed_in_email(client):
    with client.session_transaction() as session:
        key = session.get("_user_id")
    if not key:
        return None
    row = db.session.execute(sa.select(UserSession).where(
        UserSession.public_id == key.partition(".")[0])).scalar()
    return row.user.email if row is not None else None


# --- sign-up ----------------------------------------------------------------------------------


def _link(message, path) -> str:
    body = message.get_content()
    match = re.search(rf"https?://\S+({path}/\S+)", body)
    assert match, body
    return match.group(1)


def test_signup_creates_firm_and_user_once_the_address_confirms(client, smtp_server):  # noqa: F811
    response = client.post("/signup", data=SIGNUP)
    assert response.status_code == 302
    assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() == 0
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "jana@nordheide.example"
    link = _link(message, "/signup/confirm")
    assert "Konto einrichten" in client.get(link).get_data(as_text=True)  # a GET makes nothing
    assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() == 0
    response = client.post(link)
    assert response.status_code == 302
    user = db.session.execute(sa.select(User)).scalar_one()
    assert user.email == "jana@nordheide.example"  # stored in lower case
    assert user.role == "firm" and user.name == "Jana Beispiel"
    assert user.password_hash != SIGNUP["password"]
    assert check_password_hash(user.password_hash, "sicheres-pw-1")
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    firm = user.firm
    assert (firm.name, firm.vat_id, firm.postcode, firm.city) == (
        "Nordheide Feinmechanik GmbH", "DE123456788", "21423", "Winsen (Luhe)")
    assert signed_in_email(client) == "jana@nordheide.example"
    page = client.get(response.location, follow_redirects=True).get_data(as_text=True)
    assert "Willkommen" in page and "Abmelden" in page
    assert "Laden Sie jetzt Ihr erstes Teil hoch" in page  # no guest parts came along
    client.post("/logout")
    assert client.post(link).status_code == 400  # used once


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"vat_id": "DE123456789"}, "Prüfziffer"),
        ({"vat_id": "DE12345"}, "Format der USt-IdNr."),
        ({"vat_id": "123456788"}, "Ländercode"),
        ({"vat_id": "ATU12345678"}, "Prüfziffer"),  # Austrian check digit (was not checked)
        ({"vat_id": "FR00303265045"}, "Prüfziffer"),
        ({"password": "kurz", "password_confirm": "kurz"}, "mindestens 10 Zeichen"),
        ({"password_confirm": "etwas-anderes-1"}, "stimmen nicht überein"),
        ({"email": "keine-adresse"}, "gültige E-Mail-Adresse"),
        ({"postcode": "2142"}, "5 Ziffern"),
        ({"company": ""}, "Bitte ausfüllen."),
    ],
)
def test_signup_rejects_bad_input_with_a_clear_message(client, changes, message):
    response = client.post("/signup", data={**SIGNUP, **changes})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() == 0


def test_signup_names_every_wrong_field_at_once(client):
    """VAT id, postcode and password wrong together: all three at their fields in one answer
    (walk: only the VAT id, the postcode on the next attempt)."""
    response = client.post("/signup", data={**SIGNUP, "vat_id": "DE123", "postcode": "2133",
                                            "password": "kurz-1", "password_confirm": "kurz-1"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    for field, message in (("vat_id", "Format der USt-IdNr."), ("postcode", "5 Ziffern"),
                           ("password", "mindestens 10 Zeichen")):
        at = page.split(f'id="{field}"')[1][:600]
        assert message in at, field
    assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() == 0


def test_the_domain_names_every_wrong_firm_detail_at_once(make_user):
    """Review: the forms' validators found the problems first, so the domain's own list was
    never tested: update_firm reports each wrong field in one error."""
    from marketplace.accounts import operations as accounts

    user = make_user("firm")
    with pytest.raises(accounts.AccountError) as caught:
        accounts.update_firm(user.firm, vat_id="DE123", street="A 1", postcode="2133",
                             city="Lüneburg", country="DE", contact_name="X", phone="",
                             invoice_email="keine-adresse", leitweg_id="991-33333TEST-34")
    fields = [name for name, _message in caught.value.problems]
    assert fields == ["vat_id", "postcode", "leitweg_id", "invoice_email"]
    db.session.rollback()
    assert user.firm.postcode == "21335"  # nothing changed


def test_signup_accepts_other_eu_vat_ids_and_none(client, smtp_server):  # noqa: F811
    assert client.post("/signup", data={**SIGNUP, "vat_id": "ATU13585627", "country": "AT",
                                         "postcode": "1010"}).status_code == 302
    second = {**SIGNUP, "company": "Kleinbetrieb Ohne USt-IdNr", "email": "k@example.de",
              "vat_id": ""}
    assert client.post("/signup", data=second).status_code == 302
    for message in smtp_server.wait_for(2):
        assert client.post(_link(message, "/signup/confirm")).status_code == 302
        client.post("/logout")
    firm = db.session.execute(sa.select(Firm).where(Firm.name.like("Klein%"))).scalar_one()
    assert firm.vat_id is None


def test_signup_with_a_taken_email_says_the_same_and_mails_the_owner(
        client, make_user, smtp_server):  # noqa: F811
    make_user("firm", email="jana@nordheide.example")
    taken = client.post("/signup", data=SIGNUP, follow_redirects=True)
    fresh = client.post("/signup", data={**SIGNUP, "email": "neu@nordheide.example"},
                        follow_redirects=True)
    assert taken.status_code == fresh.status_code == 200
    hint = "Fast geschafft: Wir haben eine E-Mail an"
    assert hint in taken.get_data(as_text=True) and hint in fresh.get_data(as_text=True)
    assert "schon ein Konto" not in taken.get_data(as_text=True)
    mails = {m["To"]: m.get_content() for m in smtp_server.wait_for(2)}
    assert "schon ein Konto" in mails["jana@nordheide.example"]
    assert "/signup/confirm/" not in mails["jana@nordheide.example"]
    assert "/signup/confirm/" in mails["neu@nordheide.example"]


def test_signup_refuses_an_existing_firm(client, make_user):
    make_user("firm", firm_name="Nordheide Feinmechanik GmbH")
    response = client.post("/signup", data={**SIGNUP, "email": "neu@nordheide.example"})
    assert response.status_code == 400
    assert "schon registriert" in response.get_data(as_text=True)
    # the firm keeps exactly the one user it had
    firm = db.session.execute(sa.select(Firm).where(Firm.name == SIGNUP["company"])).scalar_one()
    assert len(firm.users) == 1


# --- sign-in and sign-out ---------------------------------------------------------------------


def test_login_and_logout(client, make_user):
    make_user("firm", email="kunde@example.de", password="richtiges-pw")
    response = login(client, "Kunde@Example.de ", "richtiges-pw")
    assert response.status_code == 302
    assert signed_in_email(client) == "kunde@example.de"
    # signing out needs a POST; the GET page only asks
    assert "Möchten Sie sich abmelden?" in client.get("/logout").get_data(as_text=True)
    assert signed_in_email(client) == "kunde@example.de"
    response = client.post("/logout")
    assert response.status_code == 302
    assert signed_in_email(client) is None


def test_session_cookie_is_httponly_and_lax(client, make_user):
    make_user("firm", email="kunde@example.de", password="richtiges-pw")
    response = login(client, "kunde@example.de", "richtiges-pw")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookie_setting_is_applied(app, client, make_user):
    app.config["SESSION_COOKIE_SECURE"] = True
    make_user("firm", email="kunde@example.de", password="richtiges-pw")
    response = login(client, "kunde@example.de", "richtiges-pw")
    assert "Secure" in response.headers["Set-Cookie"]


def test_wrong_password_and_unknown_account_get_the_same_answer(client, make_user):
    make_user("firm", email="kunde@example.de", password="richtiges-pw")
    wrong = login(client, "kunde@example.de", "falsches-pw")
    unknown = login(client, "niemand@example.de", "falsches-pw")
    assert wrong.status_code == unknown.status_code == 401
    assert "E-Mail-Adresse oder Passwort ist falsch." in wrong.get_data(as_text=True)
    assert "E-Mail-Adresse oder Passwort ist falsch." in unknown.get_data(as_text=True)
    assert signed_in_email(client) is None


def test_deactivated_account_cannot_sign_in(client, make_user):
    user = make_user("firm", email="alt@example.de", password="richtiges-pw")
    user.active = False
    db.session.commit()
    assert login(client, "alt@example.de", "richtiges-pw").status_code == 401


def test_rate_limit_per_ip_and_account(client, make_user):
    make_user("firm", email="kunde@example.de", password="richtiges-pw")
    for _ in range(3):  # LOGIN_MAX_FAILURES = 3 in this module
        assert login(client, "kunde@example.de", "falsch-falsch").status_code == 401
    blocked = login(client, "kunde@example.de", "richtiges-pw")
    assert blocked.status_code == 429
    assert "Zu viele fehlgeschlagene Anmeldungen" in blocked.get_data(as_text=True)
    assert signed_in_email(client) is None
    # the same account from another address is not locked out by this one
    assert login(client, "kunde@example.de", "richtiges-pw", ip="127.0.0.2").status_code == 302


def test_rate_limit_per_ip_over_all_accounts(client, make_user):
    make_user("firm", email="kunde@example.de", password="richtiges-pw")
    for n in range(6):  # LOGIN_MAX_FAILURES_PER_IP = 6: guessing across many accounts
        assert login(client, f"probe{n}@example.de", "falsch-falsch").status_code == 401
    assert login(client, "kunde@example.de", "richtiges-pw").status_code == 429


def test_successful_login_clears_the_failures(client, make_user):
    make_user("firm", email="kunde@example.de", password="richtiges-pw")
    for _ in range(2):
        login(client, "kunde@example.de", "falsch-falsch")
    assert login(client, "kunde@example.de", "richtiges-pw").status_code == 302
    left = db.session.execute(sa.select(sa.func.count()).select_from(LoginAttempt)).scalar_one()
    assert left == 0


@pytest.mark.parametrize("target", ["/orders?page=2", "/hub/queue"])
def test_next_redirect_to_a_local_path(client, make_user, target):
    make_user("firm", email="kunde@example.de", password="richtiges-pw")
    response = login(client, "kunde@example.de", "richtiges-pw", next_=target)
    assert response.status_code == 302 and response.location == target


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
     "javascript:alert(1)", "http:/evil.example", "/\t/evil.example", "evil.example"],
)
def test_next_open_redirect_is_refused(client, make_user, target):
    make_user("firm", email="kunde@example.de", password="richtiges-pw")
    response = login(client, "kunde@example.de", "richtiges-pw", next_=target)
    assert response.status_code == 302
    assert response.location.startswith("/") and not response.location.startswith("//")
    assert "evil" not in response.location and "javascript" not in response.location


def test_login_page_keeps_next_from_the_query(client):
    page = client.get("/login?next=/orders").get_data(as_text=True)
    assert 'name="next" type="hidden" value="/orders"' in page
    page = client.get("/login?next=https://evil.example/").get_data(as_text=True)
    assert 'name="next" type="hidden" value=""' in page


def test_login_page_says_what_an_account_adds(client):
    """Guests upload and see prices without an account: the page does not claim otherwise."""
    page = client.get("/login").get_data(as_text=True)
    why = page.split('id="login-why">', 1)[1].split("</p>", 1)[0]
    assert "Angebote" in why and "bestellen" in why and "Rechnungen" in why
    assert "auch ohne Konto" in why and 'href="/"' in why
    assert "um Teile hochzuladen" not in page
    assert "you save quotes" in client.get("/login?lang=en").get_data(as_text=True)


# --- password reset through the real SMTP server ----------------------------------------------


def _reset_link(message) -> str:
    body = message.get_content()
    match = re.search(r"https?://\S+/password/reset/(\S+)", body)
    assert match, body
    return "/password/reset/" + match.group(1)


def test_password_reset_by_mail(client, make_user, smtp_server):  # noqa: F811
    make_user("firm", email="kunde@example.de", password="altes-passwort")
    response = client.post("/password/forgot", data={"email": "KUNDE@example.de"})
    assert response.status_code == 302
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "kunde@example.de"
    assert "Neues Passwort" in message["Subject"]
    assert smtp_server.envelopes[0][1] == ["kunde@example.de"]
    link = _reset_link(message)
    assert client.get(link).status_code == 200
    short = client.post(link, data={"password": "kurz", "password_confirm": "kurz"})
    assert short.status_code == 400
    done = client.post(link, data={"password": "neues-passwort-1",
                                   "password_confirm": "neues-passwort-1"})
    assert done.status_code == 302 and done.location.endswith("/login")
    assert login(client, "kunde@example.de", "altes-passwort").status_code == 401
    assert login(client, "kunde@example.de", "neues-passwort-1").status_code == 302
    # the link worked once; now it is spent
    client.post("/logout")
    again = client.get(link)
    assert again.status_code == 400
    assert "gilt nicht mehr" in again.get_data(as_text=True)
    row = db.session.execute(sa.select(Notification)).scalar_one()
    assert row.sent_at is not None and row.attempts == 1 and row.kind == "password_reset"


def test_password_reset_for_unknown_address_says_the_same_and_mails_no_link(
        client, make_user, smtp_server):  # noqa: F811
    make_user("firm", email="kunde@example.de")
    known = client.post("/password/forgot", data={"email": "kunde@example.de"},
                        follow_redirects=True).get_data(as_text=True)
    unknown = client.post("/password/forgot", data={"email": "wer@example.de"},
                          follow_redirects=True).get_data(as_text=True)
    hint = "Falls es zu dieser Adresse ein Konto gibt"
    assert hint in known and hint in unknown
    mails = {m["To"]: m.get_content() for m in smtp_server.wait_for(2)}
    assert "/password/reset/" in mails["kunde@example.de"]
    assert "/password/reset/" not in mails["wer@example.de"]
    assert "kein Konto" in mails["wer@example.de"]


def test_password_reset_mails_are_limited_per_hour(client, make_user, smtp_server):  # noqa: F811
    make_user("firm", email="kunde@example.de")
    for _ in range(5):
        client.post("/password/forgot", data={"email": "kunde@example.de"})
    assert len(smtp_server.wait_for(3)) == 3  # PASSWORD_RESET_MAILS_PER_HOUR


def test_expired_or_forged_reset_token_is_refused(app, client, make_user, monkeypatch):
    from itsdangerous import timed

    from marketplace.accounts import operations as accounts

    user = make_user("firm", email="kunde@example.de")
    token = accounts.make_reset_token(user)
    assert accounts.user_for_reset_token(token) == user
    assert client.get(f"/password/reset/{token}x").status_code == 400
    now = timed.time.time()
    later = now + app.config["PASSWORD_RESET_MAX_AGE_S"] + 5
    monkeypatch.setattr(timed.time, "time", lambda: later)
    assert client.get(f"/password/reset/{token}").status_code == 400
    assert accounts.user_for_reset_token(token) is None


# --- CSRF -------------------------------------------------------------------------------------


def test_csrf_is_enforced_when_enabled(app, client, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    make_user("firm", email="kunde@example.de", password="richtiges-pw")
    refused = client.post("/login", data={"email": "kunde@example.de", "password": "richtiges-pw"})
    assert refused.status_code == 400
    assert "Das Formular ist abgelaufen" in refused.get_data(as_text=True)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    assert meta
    accepted = client.post("/login", data={"email": "kunde@example.de",
                                           "password": "richtiges-pw", "csrf_token": token})
    assert accepted.status_code == 302
    # sign-out without a token is refused too, with the X-CSRFToken header it works
    assert client.post("/logout").status_code == 400
    page = client.get("/").get_data(as_text=True)
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post("/logout", headers={"X-CSRFToken": meta}).status_code == 302


# --- roles and error pages --------------------------------------------------------------------


@pytest.fixture
def guarded_app(app):
    """The app with a staff-only and an admin-only page (registered before any request)."""
    from marketplace.auth import admin_required, staff_required

    app.add_url_rule("/_test/staff", "test_staff", staff_required(lambda: "staff page"))
    app.add_url_rule("/_test/admin", "test_admin", admin_required(lambda: "admin page"))
    return app


@pytest.mark.parametrize(
    ("role", "url", "status"),
    [("firm", "/_test/staff", 403), ("technician", "/_test/staff", 200),
     ("admin", "/_test/staff", 200), ("firm", "/_test/admin", 403),
     ("technician", "/_test/admin", 403), ("admin", "/_test/admin", 200)],
)
def test_role_checks(guarded_app, client, make_user, role, url, status):
    user = make_user(role, password="richtiges-pw")
    assert login(client, user.email, "richtiges-pw").status_code == 302
    response = client.get(url)
    assert response.status_code == status
    if status == 403:
        assert "Kein Zugriff" in response.get_data(as_text=True)


def test_anonymous_is_sent_to_login_with_next(guarded_app, client, make_user):
    response = client.get("/_test/staff?x=1")
    assert response.status_code == 302
    assert response.location == "/login?next=/_test/staff?x%3D1"
    page = client.get(response.location).get_data(as_text=True)
    assert "Bitte melden Sie sich an, um diese Seite zu sehen." in page
    assert 'name="next" type="hidden" value="/_test/staff?x=1"' in page
    tech = make_user("technician", password="richtiges-pw")
    assert login(client, tech.email, "richtiges-pw", next_="/_test/staff?x=1").location == (
        "/_test/staff?x=1")


def test_anonymous_api_call_gets_json_401(guarded_app, client):
    response = client.get("/_test/staff", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.get_json()["error"]["status"] == 401


def test_login_lands_on_the_role_home(guarded_app, client, make_user):
    tech = make_user("technician", password="richtiges-pw")
    response = login(client, tech.email, "richtiges-pw")
    endpoint = "hub.queue" if "hub.queue" in guarded_app.view_functions else "portal.index"
    assert response.location == guarded_app.url_map.bind("x").build(endpoint)


def test_navigation_follows_the_role(client, make_user, login_as, app):
    firm_page = login_as(make_user("firm")).get("/").get_data(as_text=True)
    client.post("/logout")
    staff_page = login_as(make_user("technician")).get("/").get_data(as_text=True)
    for endpoint, path in (("portal.orders", "/orders"), ("hub.queue", "/hub/queue")):
        if endpoint not in app.view_functions:
            continue
        link = f'href="{app.url_map.bind("x").build(endpoint)}"'
        assert (link in firm_page) == endpoint.startswith("portal.")
        assert (link in staff_page) == endpoint.startswith("hub.")


def test_error_pages_html_json_and_no_stack_trace(app, client):
    def boom():
        raise RuntimeError("secret internals")

    app.add_url_rule("/_test/boom", "test_boom", boom)
    app.add_url_rule("/api/v1/_test/boom", "test_api_boom", boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    page = client.get("/gibt-es-nicht")
    assert page.status_code == 404 and "Seite nicht gefunden" in page.get_data(as_text=True)
    english = client.get("/gibt-es-nicht?lang=en")
    assert "Page not found" in english.get_data(as_text=True)
    api = client.get("/api/v1/gibt-es-nicht")  # the API's errors are problems (RFC 9457)
    assert api.status_code == 404 and api.get_json()["status"] == 404
    assert api.content_type == "application/problem+json"
    for url in ("/_test/boom", "/api/v1/_test/boom"):
        response = client.get(url)
        text = response.get_data(as_text=True)
        assert response.status_code == 500
        assert "Traceback" not in text and "secret internals" not in text
    assert client.get("/api/v1/_test/boom").get_json()["code"] == "internal_error"
    app.config["MAX_CONTENT_LENGTH"] = 1000
    too_big = client.post("/login?lang=de", data={"email": "x" * 5000, "password": "y"})
    assert too_big.status_code == 413 and "Datei zu groß" in too_big.get_data(as_text=True)


# --- the account page -------------------------------------------------------------------------


def test_account_page_changes_name_language_and_password(client, make_user):
    user = make_user("firm", email="kunde@example.de", password="altes-passwort")
    assert client.get("/account").status_code == 302  # signed-in users only
    login(client, "kunde@example.de", "altes-passwort")
    page = client.get("/account").get_data(as_text=True)
    assert "kunde@example.de" in page and user.firm.name in page
    # labels that say "optional" themselves get no second "(optional)"
    assert "E-Mail-Adresse für Rechnungen (optional)</label>" in page
    assert "Leitweg-ID (nur öffentliche Auftraggeber, optional)</label>" in page
    assert "optional) <span" not in page and "optional)</span> <span" not in page
    saved = client.post("/account", data={"profile-name": "Kai Kunde", "profile-language": "en",
                                          "profile-submit": "1"}, follow_redirects=True)
    assert "Your details are saved." in saved.get_data(as_text=True)
    db.session.expire_all()
    assert (user.name, user.language) == ("Kai Kunde", "en")
    wrong = client.post("/account", data={"pw-current_password": "falsch-falsch",
                                          "pw-password": "neues-passwort-1",
                                          "pw-password_confirm": "neues-passwort-1"})
    assert wrong.status_code == 400
    assert "The current password is wrong." in wrong.get_data(as_text=True)
    done = client.post("/account", data={"pw-current_password": "altes-passwort",
                                         "pw-password": "neues-passwort-1",
                                         "pw-password_confirm": "neues-passwort-1"})
    assert done.status_code == 302
    db.session.expire_all()
    assert check_password_hash(user.password_hash, "neues-passwort-1")


def test_a_new_password_ends_the_other_sessions(app, client, make_user, smtp_server):  # noqa: F811
    make_user("firm", email="kunde@example.de", password="altes-passwort")
    other = app.test_client()  # e.g. a forgotten session on another computer
    assert login(other, "kunde@example.de", "altes-passwort").status_code == 302
    assert other.get("/account").status_code == 200
    client.post("/password/forgot", data={"email": "kunde@example.de"})
    link = _reset_link(smtp_server.wait_for(1)[0])
    client.post(link, data={"password": "neues-passwort-1", "password_confirm": "neues-passwort-1"})
    from flask import g

    g.pop("_login_user", None)
    assert other.get("/account").status_code == 302  # signed out


def test_invite_a_colleague_who_accepts_by_mail(client, make_user, smtp_server):  # noqa: F811
    boss = make_user("firm", email="chefin@example.de", password="altes-passwort")
    other_firm = make_user("firm", email="fremd@example.de")
    login(client, "chefin@example.de", "altes-passwort")
    response = client.post("/account/invite", data={"invite-name": "Max Muster",
                                                    "invite-email": "Max@Example.de"})
    assert response.status_code == 302
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "max@example.de"
    assert "Einladung" in message["Subject"]
    assert boss.firm.name in message.get_content()
    # no account until the invitation is accepted
    assert db.session.execute(sa.select(User).where(User.email == "max@example.de")).scalar() is None
    taken = client.post("/account/invite", data={"invite-name": "X",
                                                 "invite-email": other_firm.email})
    assert taken.status_code == 302  # the same answer; the owner gets a note, nothing changes
    assert "schon ein Konto" in smtp_server.wait_for(2)[1].get_content()
    db.session.expire_all()
    assert other_firm.firm_id != boss.firm_id
    client.post("/logout")
    link = _link(message, "/invitation")
    page = client.get(link).get_data(as_text=True)
    assert boss.firm.name in page and 'value="Max Muster"' in page
    short = client.post(link, data={"name": "Max Muster", "password": "kurz",
                                    "password_confirm": "kurz"})
    assert short.status_code == 400
    accepted = client.post(link, data={"name": "Max Muster", "password": "max-passwort-1",
                                       "password_confirm": "max-passwort-1"})
    assert accepted.status_code == 302
    colleague = db.session.execute(
        sa.select(User).where(User.email == "max@example.de")).scalar_one()
    assert colleague.firm_id == boss.firm_id and colleague.role == "firm"
    assert colleague.name == "Max Muster"
    page = client.get("/account").get_data(as_text=True)
    assert "chefin@example.de" in page and "fremd@example.de" not in page
    client.post("/logout")
    assert client.get(link).status_code == 400  # used once
    assert login(client, "max@example.de", "max-passwort-1").status_code == 302


def test_invitation_link_expires(app, client, make_user, login_as, smtp_server):  # noqa: F811
    from datetime import timedelta

    from marketplace.models import PendingAccount, utcnow

    login_as(make_user("firm"))
    client.post("/account/invite", data={"invite-name": "Max", "invite-email": "max@example.de"})
    link = _link(smtp_server.wait_for(1)[0], "/invitation")
    row = db.session.execute(sa.select(PendingAccount)).scalar_one()
    assert row.expires_at - row.created_at == timedelta(seconds=app.config["INVITATION_MAX_AGE_S"])
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    client.post("/logout")
    assert client.get(link).status_code == 400


def test_staff_cannot_invite_into_a_firm(client, make_user, login_as):
    login_as(make_user("technician"))
    response = client.post("/account/invite", data={"invite-name": "X", "invite-email": "x@y.de"})
    assert response.status_code == 403
    assert "Einladen" not in client.get("/account").get_data(as_text=True)


def test_firm_user_edits_the_firm_details(client, make_user, login_as):
    user = make_user("firm")
    login_as(user)
    bad = client.post("/account/firm", data={"firm-vat_id": "DE123456789", "firm-street": "A 1",
                                             "firm-postcode": "21335", "firm-city": "Lüneburg",
                                             "firm-country": "DE", "firm-contact_name": "X"})
    assert bad.status_code == 400 and "Prüfziffer" in bad.get_data(as_text=True)
    both = client.post("/account/firm", data={"firm-vat_id": "DE123456789", "firm-street": "A 1",
                                              "firm-postcode": "2133", "firm-city": "Lüneburg",
                                              "firm-country": "DE", "firm-contact_name": "X",
                                              "firm-invoice_email": "keine-adresse"})
    text = both.get_data(as_text=True)
    assert both.status_code == 400 and "Prüfziffer" in text and "5 Ziffern" in text
    assert "gültige E-Mail-Adresse" in text
    leitweg = client.post("/account/firm", data={
        "firm-street": "A 1", "firm-postcode": "2133", "firm-city": "Lüneburg",
        "firm-country": "DE", "firm-contact_name": "X", "firm-leitweg_id": "991-33333TEST-34"})
    text = leitweg.get_data(as_text=True)  # both at once (review: the Leitweg-ID came second)
    assert leitweg.status_code == 400 and "5 Ziffern" in text and "Keine gültige Leitweg-ID" in text
    good = client.post("/account/firm", data={
        "firm-vat_id": "DE 123 456 788", "firm-street": "Neue Str. 5", "firm-postcode": "21337",
        "firm-city": "Lüneburg", "firm-country": "DE", "firm-contact_name": "Eva Einkauf",
        "firm-phone": "04131 5555"})
    assert good.status_code == 302
    db.session.expire_all()
    firm = user.firm
    assert (firm.vat_id, firm.street, firm.postcode, firm.contact_name, firm.phone) == (
        "DE123456788", "Neue Str. 5", "21337", "Eva Einkauf", "04131 5555")
    client.post("/logout")
    login_as(make_user("technician"))
    assert client.post("/account/firm", data={}).status_code == 403


@pytest.mark.commits  # a second app signs the user in
def test_behind_a_proxy_the_limit_counts_the_client_address(app_config, make_user):
    from marketplace import create_app

    app = create_app({**app_config, "PROXY_COUNT": 1})
    client = app.test_client()
    make_user("firm", email="kunde@example.de", password="richtiges-pw")

    def attempt(password, client_ip):
        return client.post("/login", data={"email": "kunde@example.de", "password": password},
                           headers={"X-Forwarded-For": client_ip})

    for _ in range(3):
        assert attempt("falsch-falsch", "203.0.113.7").status_code == 401
    assert attempt("richtiges-pw", "203.0.113.7").status_code == 429
    assert attempt("richtiges-pw", "198.51.100.2").status_code == 302  # someone else


def test_sign_out_also_ends_keep_me_signed_in(client, make_user):
    make_user("firm", email="kunde@example.de", password="richtiges-pw")
    response = client.post("/login", data={"email": "kunde@example.de",
                                           "password": "richtiges-pw", "remember": "y"})
    assert "remember_token=" in " ".join(response.headers.getlist("Set-Cookie"))
    assert client.get_cookie("remember_token") is not None
    client.post("/logout")
    assert client.get_cookie("remember_token") is None
    assert client.get("/account").status_code == 302  # signed out for good
