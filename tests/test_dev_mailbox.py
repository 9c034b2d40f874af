"""The development mailbox (/dev/mailbox): without a mail server a newcomer finds the sign-up
link in the browser; it does not exist in production or with a mail server."""

from __future__ import annotations

import re

import pytest
from test_auth import SIGNUP

from marketplace import create_app
from marketplace.mail.mailer import dev_mailbox_enabled


@pytest.fixture
def app_config(app_config):
    app_config.update(DEV_MAILBOX=True, SMTP_HOST="", MAIL_SEND_AFTER_COMMIT="queue")
    return app_config


def test_signup_link_is_in_the_dev_mailbox_and_confirms_the_account(client):
    page = client.post("/signup", data=SIGNUP, follow_redirects=True).get_data(True)
    assert "/dev/mailbox" in page  # the flash after sign-up points to it
    box = client.get("/dev/mailbox")
    assert box.status_code == 200
    html = box.get_data(True)
    assert "jana@nordheide.example" in html
    link = re.search(r'href="(http[^"]*/signup/confirm/[^"]+)"', html)
    assert link, html  # clickable
    path = link.group(1).split("127.0.0.1", 1)[-1].split("localhost", 1)[-1]
    path = path[path.index("/signup/confirm/"):]
    confirm = client.get(path)
    assert confirm.status_code == 200 and "Konto einrichten" in confirm.get_data(True)


@pytest.mark.parametrize("config, on", [
    ({"DEV_MAILBOX": True, "SMTP_HOST": "", "ENVIRONMENT": "development"}, True),
    ({"DEV_MAILBOX": True, "SMTP_HOST": "mail.example", "ENVIRONMENT": "development"}, False),
    ({"DEV_MAILBOX": True, "SMTP_HOST": "", "ENVIRONMENT": "production"}, False),
    ({"DEV_MAILBOX": False, "SMTP_HOST": "", "ENVIRONMENT": "development"}, False),
])
def test_the_mailbox_exists_only_in_development_without_a_mail_server(app_config, config, on):
    assert dev_mailbox_enabled(config) is on
    if config["ENVIRONMENT"] == "production":
        return  # a production app needs its own secrets; the rule above decides
    other = create_app({**app_config, **config})
    assert other.test_client().get("/dev/mailbox").status_code == (200 if on else 404)


def test_the_mailbox_tells_an_overtaken_progress_mail_from_one_that_waits(app, client,
                                                                          make_user):
    """Progress mails wait (MAIL_PROGRESS_HOLD_S); one a later step overtook is not sent."""
    from datetime import timedelta

    import sqlalchemy as sa

    from marketplace.extensions import db
    from marketplace.jobs import transition
    from marketplace.mail import mailer
    from marketplace.models import Notification, utcnow
    from tests.hub_factories import make_order

    app.config["MAIL_PROGRESS_HOLD_S"] = 120
    order = make_order(make_user("firm").firm, quantity=1)
    job = order.jobs[0]
    transition(job, "approved", actor="t")
    db.session.commit()
    for state in ("queued", "dispatching", "printing"):
        transition(job, state, actor="t")
    db.session.commit()
    # before the approved mail is due: it says already that it will not go out
    page = client.get("/dev/mailbox").get_data(True)
    assert page.count("data-overtaken") == 1 and page.count("data-held") == 1
    db.session.execute(sa.update(Notification).where(Notification.kind == "order:approved")
                       .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    mailer.send_pending()
    page = client.get("/dev/mailbox").get_data(True)
    assert page.count("data-overtaken") == 1  # approved: printing overtook it
    assert page.count("data-held") == 1  # printing: waits
