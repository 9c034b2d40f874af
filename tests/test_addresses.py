"""Nobody learns from a form whether an address has an account (issue 10, finding 3): the
password-reset page does the same work for known and unknown addresses, and sign-up and
invitations answer the same either way (the mail to the address tells the difference)."""

from __future__ import annotations

import itertools
import re
import statistics
import time

import pytest
import sqlalchemy as sa
from smtp_server import smtp_server  # noqa: F401  (fixture)

from marketplace.extensions import db
from marketplace.models import User


@pytest.fixture
def app_config(app_config, smtp_server):  # noqa: F811
    app_config.update(SMTP_HOST=smtp_server.host, SMTP_PORT=smtp_server.port,
                      MAIL_SEND_AFTER_COMMIT="inline", PASSWORD_RESET_MAILS_PER_HOUR=1000,
                      LIMIT_RESET_PER_IP="1000/hour", LIMIT_RESET_PER_EMAIL="1000/hour")
    return app_config


def statements(app, call) -> list[str]:
    """The SQL statements ``call()`` runs, as "VERB table" (values left out)."""
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        verb = words[0].upper()
        table = next((w for prev, w in itertools.pairwise(words)
                      if prev.upper() in ("FROM", "INTO", "UPDATE")), "")
        seen.append(verb + " " + table.strip('"'))

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        call()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    return seen


def test_reset_does_the_same_work_for_known_and_unknown_addresses(
        app, client, make_user, smtp_server):  # noqa: F811
    make_user("firm", email="kunde@example.de")
    known = statements(app, lambda: client.post("/password/forgot",
                                                data={"email": "kunde@example.de"}))
    unknown = statements(app, lambda: client.post("/password/forgot",
                                                  data={"email": "niemand@example.de"}))
    def of_the_view(seen):  # the rate limiter's own bookkeeping cleans up now and then
        return [s for s in seen if not s.endswith("rate_limit_counters")]

    assert of_the_view(known) == of_the_view(unknown)
    assert "INSERT notifications" in known
    assert len(smtp_server.wait_for(2)) == 2


def test_reset_answers_in_the_same_time(app, client, make_user, smtp_server):  # noqa: F811
    make_user("firm", email="kunde@example.de")
    times: dict[str, list[float]] = {"kunde@example.de": [], "niemand@example.de": []}
    for _round in range(12):  # interleaved, so a busy machine slows both alike
        for email, samples in times.items():
            start = time.perf_counter()
            assert client.post("/password/forgot", data={"email": email}).status_code == 302
            samples.append(time.perf_counter() - start)
    known, unknown = (statistics.median(v) for v in times.values())
    assert abs(known - unknown) <= max(0.005, 0.5 * min(known, unknown)), (known, unknown)


def test_invitation_answers_the_same_for_a_known_address(
        client, make_user, login_as, smtp_server):  # noqa: F811
    make_user("firm", email="vergeben@example.de")
    login_as(make_user("firm"))
    pages = [client.post("/account/invite", data={"invite-name": "X", "invite-email": email},
                         follow_redirects=True)
             for email in ("vergeben@example.de", "frei@example.de")]
    assert [p.status_code for p in pages] == [200, 200]
    texts = [re.sub(r"\S+@example\.de", "ADDRESS", p.get_data(as_text=True)) for p in pages]
    flash = [re.search(r'class="flash[^"]*"[^>]*>([^<]+)<', t).group(1) for t in texts]
    assert flash[0] == flash[1]
    assert len(smtp_server.wait_for(2)) == 2


def test_an_invitation_cannot_take_an_address(client, make_user, login_as, smtp_server):  # noqa: F811
    """The finding: inviting somebody's address took it (they could not sign up, and "forgot
    password" put them into the inviter's firm). Now nothing exists until they accept."""
    login_as(make_user("firm", firm_name="Angreifer GmbH"))
    client.post("/account/invite", data={"invite-name": "Opfer", "invite-email": "opfer@example.de"})
    client.post("/logout")
    assert db.session.execute(sa.select(User).where(User.email == "opfer@example.de")).scalar() is None
    client.post("/password/forgot", data={"email": "opfer@example.de"})
    mails = smtp_server.wait_for(2)
    assert "/password/reset/" not in mails[1].get_content()  # no account to reset into
    signup = {"company": "Opfer AG", "street": "Weg 1", "postcode": "21335", "city": "Lüneburg",
              "country": "DE", "contact_name": "O. Pfer", "email": "opfer@example.de",
              "password": "eigenes-pw-123", "password_confirm": "eigenes-pw-123"}
    assert client.post("/signup", data=signup).status_code == 302
    link = re.search(r"(/signup/confirm/\S+)", smtp_server.wait_for(3)[2].get_content()).group(1)
    assert client.post(link).status_code == 302
    owner = db.session.execute(sa.select(User).where(User.email == "opfer@example.de")).scalar_one()
    assert owner.firm.name == "Opfer AG"
