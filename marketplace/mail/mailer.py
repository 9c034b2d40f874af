"""Send the e-mail outbox (Notification rows) over SMTP, with retries.

Each outbox row is the mail task's row: ``sent_at`` its state, ``attempts`` its attempt count,
``next_attempt_at`` its lease and back-off. A sender claims a due row with a conditional UPDATE
that counts the attempt and pushes ``next_attempt_at`` out (so two senders never send the same
row at once, and a sender that dies leaves a row that is due again after its back-off), sends,
and records ``sent_at`` or the error. After ``MAIL_MAX_ATTEMPTS`` a row is left alone (visible
with ``last_error``).

Mails are queued after the commit that wrote them: a SQLAlchemy ``after_flush`` hook notes new
rows, and the commit queues one task per mail (:mod:`marketplace.mail.tasks`, ``send_one``);
``MAIL_SEND_AFTER_COMMIT = "off"`` leaves them to ``flask mail send``. Every worker looks for
due mails periodically (``send_pending``): retries after the back-off, and mails whose task was
lost. Without ``SMTP_HOST`` mails are written to the log and marked sent.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from marketplace.extensions import db
from marketplace.mail.notifications import overtaken
from marketplace.models import Notification, utcnow

log = logging.getLogger(__name__)
OVERTAKEN = "not sent: overtaken by "  # last_error of a progress mail a later one overtook
_SESSION_FLAG = "druckhub_mail_pending"
# errors about one mail (its recipient, sender or content), not about the server
_THIS_MAIL_ONLY = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                   smtplib.SMTPDataError)


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    logged_only: int = 0


def build_message(row: Notification, sender: str) -> EmailMessage:
    """Return the e-mail for an outbox row (plain text, UTF-8)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = row.to_address
    msg["Subject"] = row.subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip(">") or "localhost")
    if row.kind:
        msg["X-Druckhub-Kind"] = row.kind
    msg.set_content(row.body)
    return msg


def add_attachments(msg: EmailMessage, row: Notification, session: Session) -> None:
    """Attach the order confirmation (PDF) to the "order received" mail and the ZUGFeRD
    PDF to an invoice's mail.

    Built when the mail is sent, from this session (the one that committed the row may not
    run SQL any more). A PDF problem is logged and the mail goes out without it.
    """
    if (row.kind or "").startswith("invoice:"):
        _attach_invoice(msg, row, session)
        return
    if row.kind != "order:received" or row.order_id is None:
        return
    try:
        from flask_babel import force_locale

        from marketplace.models import Order, User
        from marketplace.orders import documents
        from marketplace.settings import operations as settings

        order = session.get(Order, row.order_id)
        hub = settings.hub_details(session)  # address, legal details and terms, as on the page
        user = session.get(User, row.user_id) if row.user_id else None
        # the PDF speaks the recipient's language, like the mail it is attached to
        with force_locale(user.language if user and user.language in ("de", "en") else "de"):
            pdf = documents.confirmation_pdf(order.quote, hub, order)
            filename = documents.filename_for(order.quote, order)
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    except Exception:
        log.exception("order confirmation for mail %s could not be attached", row.id)


class AttachmentError(Exception):
    """The document a mail exists to deliver could not be built: the mail is not sent (the
    attempt counts, and it is tried again after the back-off)."""


def _attach_invoice(msg: EmailMessage, row: Notification, session: Session) -> None:
    """Attach the invoice the row's kind names ("invoice:RE-2026-000001") as ZUGFeRD PDF;
    raise AttachmentError when it cannot be (the mail says it is attached)."""
    from marketplace.invoices import documents, einvoice
    from marketplace.invoices.models import Invoice

    number = (row.kind or "").partition(":")[2]
    invoice = session.scalar(sa.select(Invoice).where(Invoice.number == number))
    if invoice is None:
        raise AttachmentError(f"invoice {number} does not exist")
    try:
        pdf = einvoice.zugferd_pdf(invoice)
    except Exception as exc:
        log.exception("invoice %s for mail %s could not be built", number, row.id)
        raise AttachmentError(f"invoice {number}: {type(exc).__name__}: {exc}") from exc
    msg.add_attachment(pdf, maintype="application", subtype="pdf",
                       filename=documents.filename_for(invoice))


def _connect(config) -> smtplib.SMTP:
    host, port, timeout = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_TIMEOUT_S"]
    if config.get("SMTP_SSL"):
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                              context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
        if config.get("SMTP_STARTTLS"):
            smtp.starttls(context=ssl.create_default_context())
    if config.get("SMTP_USER"):
        smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
    return smtp


def _claim(session: Session, row_id: int, attempts: int, base_s: int) -> bool:
    now = utcnow()
    result = session.execute(
        sa.update(Notification)
        .where(Notification.id == row_id, Notification.sent_at.is_(None),
               Notification.attempts == attempts)
        .values(attempts=attempts + 1,
                next_attempt_at=now + timedelta(seconds=base_s * 2 ** attempts))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def _due(config, now) -> sa.ColumnElement[bool]:
    return sa.and_(Notification.sent_at.is_(None),
                   Notification.attempts < config["MAIL_MAX_ATTEMPTS"],
                   sa.or_(Notification.next_attempt_at.is_(None),
                          Notification.next_attempt_at <= now))


def send_pending(limit: int = 100, session: Session | None = None) -> SendReport:
    """Send due outbox rows (at most ``limit``); return how many were sent or failed.

    Uses a session of its own unless one is given, so it can run beside another session.
    """
    own = session is None
    session = session or Session(db.engine)
    try:
        rows = session.execute(
            sa.select(Notification.id, Notification.attempts)
            .where(_due(current_app.config, utcnow())).order_by(Notification.id).limit(limit)
        ).all()
        session.commit()
        return _send(session, rows)
    finally:
        if own:
            session.close()


def dev_mailbox_enabled(config) -> bool:
    """Whether the development mailbox (``/dev/mailbox``) is on: ``DEV_MAILBOX`` set (by
    scripts/run), no ``SMTP_HOST`` and not ``DRUCKHUB_ENV=production``."""
    return bool(config.get("DEV_MAILBOX")) and not config.get("SMTP_HOST") and (
        config.get("ENVIRONMENT") != "production")


def send_one(notification_id: int) -> bool:
    """Send one outbox row if it is due (the mail task); return whether this call sent it."""
    with Session(db.engine) as session:
        row = session.execute(
            sa.select(Notification.id, Notification.attempts)
            .where(Notification.id == notification_id, _due(current_app.config, utcnow()))
        ).first()
        session.commit()
        if row is None:
            return False  # sent already, or waiting for its back-off, or given up
        report = _send(session, [row])
        return bool(report.sent or report.logged_only)


def _send(session: Session, rows) -> SendReport:
    """Claim and send ``rows`` ((id, attempts) pairs) over one SMTP connection."""
    config = current_app.config
    report = SendReport()
    smtp = None
    try:
        for row_id, attempts in rows:
            if not _claim(session, row_id, attempts, config["MAIL_RETRY_BASE_S"]):
                continue  # another sender has it
            row = session.get(Notification, row_id)
            if later := overtaken(row, session):  # says what no longer holds: not sent
                row.sent_at, row.last_error = utcnow(), f"{OVERTAKEN}{later}"
                session.commit()
                continue
            try:
                if not config["SMTP_HOST"]:
                    log.info("mail (no SMTP_HOST, not sent) to %s: %s\n%s",
                             row.to_address, row.subject, row.body)
                    report.logged_only += 1
                else:
                    if smtp is None:
                        smtp = _connect(config)
                    msg = build_message(row, config["SMTP_SENDER"])
                    try:
                        add_attachments(msg, row, session)
                    except AttachmentError as exc:  # this mail only: the next may go out
                        session.rollback()
                        row = session.get(Notification, row_id)
                        row.last_error = f"AttachmentError: {exc}"[:2000]
                        report.failed += 1
                        session.commit()
                        continue
                    smtp.send_message(msg)
                    report.sent += 1
                row.sent_at, row.last_error = utcnow(), None
            except (smtplib.SMTPException, OSError) as exc:
                log.warning("mail %s to %s failed (attempt %s): %s", row.id, row.to_address,
                            row.attempts, exc)
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                report.failed += 1
                session.commit()
                if isinstance(exc, _THIS_MAIL_ONLY):
                    continue  # the server refused this mail; the next one may go through
                # the server is unreachable or broke off: leave the rest for the next pass
                # instead of waiting for a timeout per mail
                if smtp is not None:
                    smtp.close()
                    smtp = None
                break
            session.commit()
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
    return report


# --- queueing after the commit ----------------------------------------------------------------


def _after_flush(session: Session, flush_context) -> None:
    # (id, not before): a held progress mail's task runs when it is due
    new = [(obj.id, obj.next_attempt_at) for obj in session.new
           if isinstance(obj, Notification)]
    if new:
        session.info.setdefault(_SESSION_FLAG, []).extend(new)


def _after_commit(session: Session) -> None:
    ids = session.info.pop(_SESSION_FLAG, None)
    if not ids:
        return
    try:
        app = current_app._get_current_object()
    except RuntimeError:
        return
    if app.config.get("MAIL_SEND_AFTER_COMMIT", "queue") == "off":
        return
    from marketplace import taskqueue
    from marketplace.mail import tasks

    now = utcnow()
    for notification_id, not_before in ids:
        wait_s = (not_before - now).total_seconds() + 1 if not_before is not None else 0
        try:
            taskqueue.enqueue(tasks.send_mail, notification_id,
                              delay_s=wait_s if wait_s > 1 else None)
        except Exception:  # a mail problem must never undo or break the committed change
            log.exception("sending mail %s after commit failed", notification_id)


def _after_rollback(session: Session, previous_transaction) -> None:
    session.info.pop(_SESSION_FLAG, None)


_hooks_installed = False


def init_app(app: Flask) -> None:
    """Install the after-commit hooks on the app's session (once per process)."""
    global _hooks_installed
    if _hooks_installed:
        return
    sa.event.listen(db.session, "after_flush", _after_flush)
    sa.event.listen(db.session, "after_commit", _after_commit)
    sa.event.listen(db.session, "after_soft_rollback", _after_rollback)
    _hooks_installed = True
