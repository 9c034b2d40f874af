"""Order mails: one per order and step (not one per piece), in each user's language, with the
reason; the outbox is sent over a real local SMTP server, with retries when it is down."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from smtp_server import smtp_server  # noqa: F401  (fixture)

from marketplace import jobs
from marketplace.extensions import db
from marketplace.mail import mailer, notifications
from marketplace.models import Notification, Order, Part, PrintJob, Quote, utcnow


@pytest.fixture
def app_config(app_config, smtp_server):  # noqa: F811
    app_config.update(SMTP_HOST=smtp_server.host, SMTP_PORT=smtp_server.port,
                      SMTP_SENDER="Druckhub Test <druckhub@example.test>",
                      MAIL_SEND_AFTER_COMMIT="off", PUBLIC_URL="https://druckhub.example")
    return app_config


@pytest.fixture
def make_order(make_user):
    """make_order(quantity=3) -> Order of a new firm with a German and an English user."""

    def make(quantity=3, firm=None):
        de = make_user("firm", email=None, firm=firm)
        firm = de.firm
        en = make_user("firm", firm=firm)
        en.language = "en"
        part = Part(firm_id=firm.id, original_name="Halterung <v2>.stl", sha256="0" * 64,
                    file_format="stl", size_bytes=1234, status="ready")
        db.session.add(part)
        db.session.flush()
        quote = Quote(firm_id=firm.id, part_id=part.id, material_code="PETG", colour="Schwarz",
                      quantity=quantity, material_g=12.5, print_time_s=3600, net_cents=4200,
                      vat_cents=798, gross_cents=4998, breakdown={})
        db.session.add(quote)
        db.session.flush()
        number = f"DH-2026-{firm.id:06d}"
        order = Order(number=number, firm_id=firm.id, quote_id=quote.id, part_id=part.id,
                      reference="PO-77")
        db.session.add(order)
        db.session.flush()
        for n in range(1, quantity + 1):
            job = PrintJob(order_id=order.id, part_id=part.id, copy_index=n, material_code="PETG",
                           colour="Schwarz", state="received")
            jobs.record_created(job, actor=de.email)
        db.session.commit()
        return order

    return make


def rows(kind=None):
    query = sa.select(Notification).order_by(Notification.id)
    if kind:
        query = query.where(Notification.kind == kind)
    return db.session.execute(query).scalars().all()


def move_all(order, *states, reason=None):
    for state in states:
        for job in order.jobs:
            jobs.transition(job, state, actor="technik@druckhub.de", reason=reason)
    db.session.commit()


def test_order_received_is_one_mail_per_user_not_per_piece(make_order):
    order = make_order(quantity=3)
    received = rows("order:received")
    assert len(received) == 2  # two users of the firm, three pieces: two mails
    assert {r.order_id for r in received} == {order.id}
    by_lang = {r.to_address: r for r in received}
    german = next(r for r in received if r.subject.startswith("Auftrag"))
    english = next(r for r in received if r.subject.startswith("Order"))
    assert german is not english and len(by_lang) == 2
    assert german.subject == f"Auftrag {order.number}: Eingegangen – wartet auf Freigabe"
    assert english.subject == f"Order {order.number}: Received – awaiting approval"
    assert "Halterung <v2>.stl" in german.body and "Menge: 3 Stück" in german.body
    assert "Material: PETG · Farbe: Schwarz" in german.body
    assert "Quantity: 3 pcs" in english.body and "Colour: Black" in english.body
    assert "Ihre Bestellnummer: PO-77" in german.body
    assert "Thank you for your order" in english.body


def test_rejection_mail_carries_the_technicians_reason(make_order):
    order = make_order(quantity=2)
    move_all(order, "rejected", reason="Wandstärke unter 0,8 mm an der Lasche")
    [german, english] = sorted(rows("order:rejected"), key=lambda r: r.subject)
    assert german.subject.endswith(": Abgelehnt")
    assert "Begründung: Wandstärke unter 0,8 mm an der Lasche" in german.body
    assert english.subject.endswith(": Rejected")
    assert "Reason: Wandstärke unter 0,8 mm an der Lasche" in english.body


def test_steps_that_finish_wait_for_every_piece(make_order):
    order = make_order(quantity=3)
    move_all(order, "approved", "queued", "dispatching", "printing")
    assert len(rows("order:approved")) == 2 and len(rows("order:printing")) == 2
    assert rows("order:queued") == [] and rows("order:dispatching") == []  # internal steps
    first, second, third = order.jobs
    jobs.transition(first, "printed", actor="dispatcher")
    jobs.transition(second, "printed", actor="dispatcher")
    db.session.commit()
    assert rows("order:printed") == []  # one piece is still printing
    jobs.transition(third, "printed", actor="dispatcher")
    db.session.commit()
    printed = rows("order:printed")
    german = next(r for r in printed if r.subject.startswith("Auftrag"))
    assert len(printed) == 2 and "alle Teile" in german.body
    move_all(order, "ready_for_pickup")
    ready = rows("order:ready_for_pickup")
    assert len(ready) == 2
    assert any("Abholung: Druckhub Lüneburg" in r.body for r in ready)
    assert any("Pick-up: Druckhub Lüneburg" in r.body for r in ready)


def test_a_failed_piece_does_not_hold_back_the_rest(make_order):
    order = make_order(quantity=2)
    move_all(order, "approved", "queued", "dispatching", "printing")
    good, bad = order.jobs
    jobs.transition(bad, "needs_attention", actor="dispatcher", reason="Drucker offline")
    jobs.transition(bad, "failed", actor="technik@druckhub.de", reason="Druck abgelöst")
    jobs.transition(good, "printed", actor="dispatcher")
    db.session.commit()
    assert len(rows("order:failed")) == 2
    assert rows("order:needs_attention") == []
    assert len(rows("order:printed")) == 2


def test_a_step_is_mailed_once_even_if_it_repeats(make_order):
    order = make_order(quantity=1)
    [job] = order.jobs
    move_all(order, "approved", "queued", "dispatching", "printing")
    jobs.transition(job, "needs_attention", actor="dispatcher")
    jobs.transition(job, "queued", actor="technik@druckhub.de")
    jobs.transition(job, "dispatching", actor="dispatcher")
    jobs.transition(job, "printing", actor="dispatcher")
    db.session.commit()
    assert len(rows("order:printing")) == 2


def test_cancelling_some_pieces_then_the_rest(make_order):
    order = make_order(quantity=3)
    first, second, third = order.jobs
    jobs.transition(first, "cancelled", actor="technik@druckhub.de", reason="Nur 2 benötigt")
    db.session.commit()
    [german] = [r for r in rows("order:cancelled_partly") if r.subject.startswith("Auftrag")]
    assert german.subject.endswith(": Teilweise storniert")
    assert "1 von 3 Stück" in german.body and "Begründung: Nur 2 benötigt" in german.body
    assert rows("order:cancelled") == []
    # the other two in one action: one "cancelled" mail, not two
    jobs.transition(second, "cancelled", actor="technik@druckhub.de")
    jobs.transition(third, "cancelled", actor="technik@druckhub.de")
    db.session.commit()
    assert len(rows("order:cancelled")) == 2  # one per user
    assert len(rows("order:cancelled_partly")) == 2


def test_whole_order_cancelled_in_one_action_is_one_mail(make_order):
    order = make_order(quantity=3)
    move_all(order, "cancelled", reason="Kunde hat storniert")
    assert len(rows("order:cancelled")) == 2 and rows("order:cancelled_partly") == []


def test_printed_and_ready_in_one_action_mail_only_ready(make_order):
    order = make_order(quantity=2)
    move_all(order, "approved", "queued", "dispatching", "printing")
    for job in order.jobs:
        jobs.transition(job, "printed", actor="dispatcher")
        jobs.transition(job, "ready_for_pickup", actor="technik@druckhub.de")
    db.session.commit()
    assert rows("order:printed") == [] and len(rows("order:ready_for_pickup")) == 2


def test_rolled_back_changes_mail_nothing(make_order):
    order = make_order(quantity=1)
    jobs.transition(order.jobs[0], "rejected", actor="technik@druckhub.de", reason="x")
    db.session.rollback()
    db.session.commit()
    assert rows("order:rejected") == []


def test_inactive_users_and_staff_get_no_order_mail(make_order, make_user):
    order = make_order(quantity=1)
    db.session.execute(sa.delete(Notification))
    keep, *others = sorted(order.firm.users, key=lambda u: u.id)
    for user in others:
        user.active = False
    make_user("technician")
    move_all(order, "approved")
    assert [r.to_address for r in rows("order:approved")] == [keep.email]


def test_order_link_uses_public_url(make_order, app):
    order = make_order(quantity=1)
    body = rows("order:received")[0].body
    assert "https://druckhub.example" in body
    if "portal.order_detail" in app.view_functions:
        assert order.public_id in body


# --- sending ----------------------------------------------------------------------------------


def test_send_pending_delivers_over_smtp(make_order, smtp_server):  # noqa: F811
    make_order(quantity=2)
    report = mailer.send_pending()
    assert report.sent == 2 and report.failed == 0
    messages = smtp_server.wait_for(2)
    subjects = sorted(m["Subject"] for m in messages)
    assert subjects[0].startswith("Auftrag DH-2026-") and subjects[1].startswith("Order DH-2026-")
    assert all(m["From"] == "Druckhub Test <druckhub@example.test>" for m in messages)
    assert all(m["X-Druckhub-Kind"] == "order:received" for m in messages)
    text = messages[0].get_body(("plain",)).get_content()
    assert "Halterung <v2>.stl" in text
    # the order confirmation goes with the "received" mail as a PDF
    # ... in the recipient's language, like the mail
    for message in messages:
        [pdf] = list(message.iter_attachments())
        assert pdf.get_content_type() == "application/pdf"
        german = message["Subject"].startswith("Auftrag")
        assert pdf.get_filename().startswith(
            "Auftragsbestätigung-DH-2026-" if german else "Order-confirmation-DH-2026-")
        assert pdf.get_content().startswith(b"%PDF")
    db.session.expire_all()
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows())
    assert mailer.send_pending().sent == 0  # nothing twice


def test_failed_sends_are_retried_with_back_off_and_a_limit(
        app, make_order, smtp_server):  # noqa: F811
    make_order(quantity=1)
    app.config["SMTP_PORT"] = _closed_port()
    report = mailer.send_pending()
    # the server is down: one attempt, the other mail waits for the next pass (no timeout each)
    assert report.failed == 1 and report.sent == 0
    db.session.expire_all()
    first, second = rows()
    assert first.sent_at is None and first.attempts == 1 and "Error" in first.last_error
    assert first.next_attempt_at > utcnow()
    assert second.attempts == 0 and second.sent_at is None
    assert mailer.send_pending().failed == 1  # the second one's turn; the first backs off
    db.session.expire_all()
    assert [r.attempts for r in rows()] == [1, 1]
    assert mailer.send_pending().failed == 0  # both wait for their back-off
    # due again; the server is back
    db.session.execute(sa.update(Notification).values(next_attempt_at=utcnow()))
    db.session.commit()
    app.config["SMTP_PORT"] = smtp_server.port
    assert mailer.send_pending().sent == 2
    db.session.expire_all()
    assert all(r.attempts == 2 and r.sent_at is not None for r in rows())
    # a mail that keeps failing stops after MAIL_MAX_ATTEMPTS
    app.config["SMTP_PORT"] = _closed_port()
    db.session.add(Notification(to_address="x@example.de", subject="s", body="b",
                                attempts=app.config["MAIL_MAX_ATTEMPTS"]))
    db.session.commit()
    assert mailer.send_pending().failed == 0


def test_without_smtp_host_mails_are_logged_and_marked_sent(app, make_order, caplog, monkeypatch):
    # alembic's fileConfig (test_migrations) disables the loggers that exist at that moment
    monkeypatch.setattr(mailer.log, "disabled", False)
    make_order(quantity=1)
    app.config["SMTP_HOST"] = ""
    with caplog.at_level("INFO", logger="marketplace.mail.mailer"):
        report = mailer.send_pending()
    assert report.logged_only == 2 and report.sent == 0
    assert "Eingegangen" in caplog.text
    db.session.expire_all()
    assert all(r.sent_at is not None for r in rows())


def test_mails_go_out_right_after_the_commit(app, make_order, smtp_server):  # noqa: F811
    app.config["MAIL_SEND_AFTER_COMMIT"] = "queue"  # a task per mail (immediate mode: now)
    make_order(quantity=2)
    assert len(smtp_server.wait_for(2)) == 2
    order = db.session.execute(sa.select(Order)).scalar_one()
    move_all(order, "approved")
    assert len(smtp_server.wait_for(4)) == 4
    # a rolled-back change sends nothing
    job = order.jobs[0]
    jobs.transition(job, "queued", actor="x")
    notifications.notify_order_step(order, "cancelled", "test")
    db.session.rollback()
    db.session.commit()
    assert len(smtp_server.messages) == 4


def test_the_mail_task_sends_once(app, make_order, smtp_server):  # noqa: F811
    from marketplace.mail import tasks

    make_order(quantity=1)  # "off": written, not sent
    first = rows()[0]
    assert mailer.send_one(first.id) is True
    assert mailer.send_one(first.id) is False  # run twice: sent once
    tasks.send_mail(first.id)  # the task itself (immediate mode runs it here)
    assert len(smtp_server.wait_for(1)) == 1
    db.session.expire_all()
    assert rows()[0].attempts == 1 and rows()[0].sent_at is not None


def test_the_periodic_pass_retries_after_the_back_off(
        app, make_order, smtp_server):  # noqa: F811
    from marketplace.mail import tasks

    app.config.update(MAIL_SEND_AFTER_COMMIT="queue", SMTP_PORT=_closed_port())
    make_order(quantity=1)  # the tasks try at once and fail: the server is down
    assert _poll(lambda: all(r.attempts == 1 and r.last_error for r in rows()))
    db.session.commit()
    assert smtp_server.messages == []
    app.config["SMTP_PORT"] = smtp_server.port  # the mail server is back
    tasks.send_due_mails()
    assert smtp_server.messages == []  # not yet: the back-off is not over
    db.session.execute(sa.update(Notification).values(next_attempt_at=utcnow()))
    db.session.commit()
    tasks.send_due_mails()  # what every worker runs each REAPER_INTERVAL_S
    assert len(smtp_server.wait_for(2, timeout_s=10)) == 2
    assert _poll(lambda: all(r.sent_at is not None and r.attempts == 2 for r in rows()))


def _poll(check, timeout_s=10.0) -> bool:
    """Wait until ``check()`` holds for the rows as the database has them now."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        db.session.expire_all()
        if check():
            return True
        time.sleep(0.02)
    return False


def test_cli_mail_send(runner, make_order, smtp_server):  # noqa: F811
    make_order(quantity=1)
    result = runner.invoke(args=["mail", "send"])
    assert result.exit_code == 0, result.output
    assert "sent: 2" in result.output
    assert len(smtp_server.wait_for(2)) == 2


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when we return: connections are refused


def test_progress_mails_wait_and_a_later_step_overtakes_them(app, make_order,
                                                             smtp_server):  # noqa: F811
    """Walk: "Eingegangen", "Freigegeben" and "Wird gedruckt" arrived in the same minute.
    Progress mails wait MAIL_PROGRESS_HOLD_S; one that a later step's mail overtakes
    meanwhile is not sent, the received mail goes at once."""
    from datetime import timedelta

    app.config["MAIL_PROGRESS_HOLD_S"] = 120
    order = make_order(quantity=1)
    move_all(order, "approved")
    assert mailer.send_pending().sent == 2  # the received mails (German, English user)
    held = rows("order:approved")
    assert len(held) == 2 and all(r.sent_at is None and r.next_attempt_at for r in held)
    move_all(order, "queued", "dispatching", "printing")
    assert mailer.send_pending().sent == 0  # the approved and printing mails wait
    # two minutes later: approved was overtaken by printing (not sent), printing goes out
    db.session.execute(sa.update(Notification).where(Notification.next_attempt_at.is_not(None))
                       .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    report = mailer.send_pending()
    assert report.sent == 2
    kinds = sorted(m["X-Druckhub-Kind"] for m in smtp_server.wait_for(4))
    assert kinds == ["order:printing", "order:printing", "order:received", "order:received"]
    db.session.expire_all()
    for row in rows("order:approved"):
        assert row.sent_at is not None and row.last_error == (
            mailer.OVERTAKEN + "order:printing")


def test_a_held_mail_has_its_task_scheduled_for_when_it_is_due(app, make_order):
    """Review: held mails relied on the workers' periodic pass alone; the task queued after
    the commit is scheduled for the moment the mail is due."""
    from datetime import timedelta

    from marketplace import taskqueue

    app.config.update(MAIL_PROGRESS_HOLD_S=120, MAIL_SEND_AFTER_COMMIT="queue")
    order = make_order(quantity=1)
    before = {t.id for t in taskqueue.huey.scheduled()}
    move_all(order, "approved")
    scheduled = [t for t in taskqueue.huey.scheduled() if t.id not in before]
    held = rows("order:approved")
    assert len(scheduled) == len(held) == 2
    assert {t.args[0] for t in scheduled} == {r.id for r in held}
    for task in scheduled:
        assert task.name.endswith("send_mail")
        wait = (task.eta - utcnow()).total_seconds()
        assert timedelta(seconds=100).total_seconds() < wait <= 122


def test_progress_mails_say_when_the_order_is_due(make_order):
    """Walk: the "Wird gedruckt" mail said nothing of when the parts come."""
    import datetime as dt

    from marketplace.formatting import hub_today

    order = make_order(quantity=1)
    due = hub_today() + dt.timedelta(days=3)
    order.due_date = due
    db.session.commit()
    move_all(order, "approved")
    move_all(order, "queued", "dispatching", "printing")
    for kind in ("order:approved", "order:printing"):
        german = next(r for r in rows(kind) if r.subject.startswith("Auftrag"))
        english = next(r for r in rows(kind) if r.subject.startswith("Order"))
        assert f"Abholbereit ab: {due:%d.%m.%Y}" in german.body, kind
        assert f"Ready for pickup from: {due.day} {due:%b %Y}" in english.body, kind
    # printed says "we tell you when it is ready", without a date
    move_all(order, "printed")
    assert all("Abholbereit ab" not in r.body and "Ready for pickup from" not in r.body
               for r in rows("order:printed"))
    # a date that has passed is not promised again
    user = order.firm.users[0]
    assert "Abholbereit ab" in notifications.render_order_mail(order, "printing", None, user)[1]
    order.due_date = hub_today() - dt.timedelta(days=1)
    assert "Abholbereit ab" not in notifications.render_order_mail(
        order, "printing", None, user)[1]
