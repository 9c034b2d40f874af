"""The invoice goes to the firm's invoice address by e-mail, as a ZUGFeRD PDF, when it is
issued: after shipping and after pick-up alike; a credit note goes the same way."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from invoice_helpers import complete_legal_details, make_firm, make_priced_order, print_pieces
from pypdf import PdfReader
from smtp_server import mail_app_config, smtp_server  # noqa: F401  (fixtures)

from marketplace.extensions import db
from marketplace.hubqueue import operations as hubqueue
from marketplace.invoices import operations as invoices
from marketplace.models import Notification


@pytest.fixture
def app_config(mail_app_config):
    mail_app_config.update(PUBLIC_URL="https://druckhub.example")
    return mail_app_config


@pytest.fixture
def legal(app):
    complete_legal_details()


def invoice_mails():
    return db.session.execute(sa.select(Notification).where(
        Notification.kind.like("invoice:%")).order_by(Notification.id)).scalars().all()


def test_picked_up_order_mails_its_invoice_to_the_invoice_address(legal, smtp_server):  # noqa: F811
    order = make_priced_order(make_firm(invoice_email="buchhaltung@kunde.example"),
                              quantity=2, reference="PO-4711")
    print_pieces(order)
    invoice = hubqueue.hand_over_finished(order, shipped=False, actor="technik").invoice
    db.session.commit()
    [row] = invoice_mails()
    assert row.kind == f"invoice:{invoice.number}" and row.order_id == order.id
    assert row.to_address == "buchhaltung@kunde.example"
    assert row.subject == f"Rechnung {invoice.number} zu Auftrag {order.number}"
    for expected in ("Guten Tag Max Muster,", invoice.number, order.number, "PO-4711",
                     "Zahlbar ohne Abzug bis", "IBAN DE89 3704 0044 0532 0130 00", "ZUGFeRD",
                     "https://druckhub.example/"):
        assert expected in row.body, expected

    # sent right after the commit, by the mail task
    [message] = [m for m in smtp_server.wait_for(1)
                 if m["X-Druckhub-Kind"] == f"invoice:{invoice.number}"]
    assert message["To"] == "buchhaltung@kunde.example"
    [pdf] = list(message.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == f"Rechnung-{invoice.number}.pdf"
    reader = PdfReader(io.BytesIO(pdf.get_content()))
    assert "factur-x.xml" in reader.attachments  # the e-invoice travels inside the PDF
    assert invoice.number.encode() in reader.attachments["factur-x.xml"][0]


def test_shipped_order_mails_its_invoice_once(legal):
    order = make_priced_order(quantity=3, delivery="shipping")
    print_pieces(order, 2)
    for job in order.jobs[2:]:  # the third piece is still printing: no invoice yet
        from marketplace.jobs import transition
        for state in ("approved", "queued", "dispatching", "printing"):
            transition(job, state, actor="test")
    hubqueue.hand_over(order, "shipped", "technik")
    db.session.commit()
    assert invoice_mails() == []
    for state in ("printed", "shipped"):
        from marketplace.jobs import transition
        transition(order.jobs[2], state, actor="test")
    invoice = invoices.issue_if_handed_over(order, "technik")
    db.session.commit()
    assert [row.kind for row in invoice_mails()] == [f"invoice:{invoice.number}"]
    assert invoices.issue_if_handed_over(order, "technik") is None  # nothing twice
    db.session.commit()
    assert len(invoice_mails()) == 1


def test_credit_note_is_mailed_with_its_reason(legal):
    order = make_priced_order(quantity=1)
    print_pieces(order)
    invoice = hubqueue.hand_over_finished(order, shipped=False, actor="technik").invoice
    note = invoices.cancel_invoice(invoice, "buchhaltung@druckhub.de", "Falsche Anschrift")
    db.session.commit()
    row = invoice_mails()[-1]
    assert row.kind == f"invoice:{note.number}"
    assert row.subject == f"Stornorechnung {note.number} zu Rechnung {invoice.number}"
    assert "Falsche Anschrift" in row.body and "erstatten" in row.body


def test_the_mail_speaks_the_language_of_the_user_with_that_address(legal, make_user):
    user = make_user("firm")
    user.language = "en"
    firm = user.firm
    for key, value in dict(street="Bahnhofstraße 5", postcode="21337", city="Lüneburg",
                           vat_id="DE136695976", contact_name="Max Muster",
                           invoice_email=user.email).items():
        setattr(firm, key, value)
    order = make_priced_order(firm, quantity=1)
    print_pieces(order)
    invoice = hubqueue.hand_over_finished(order, shipped=False, actor="technik").invoice
    db.session.commit()
    [row] = invoice_mails()
    assert row.user_id == user.id
    assert row.subject == f"Invoice {invoice.number} for order {order.number}"
    assert row.body.startswith(f"Dear {user.name},") and "ZUGFeRD format" in row.body


def test_a_credit_note_goes_where_the_firms_invoices_go_now(legal, make_user):
    """Invoiced to the person who ordered (no invoice address then); the firm has since set
    one: the credit note goes there, greeting the firm's contact, not the former address."""
    user = make_user("firm")
    firm = user.firm
    firm.contact_name, firm.invoice_email = "Max Muster", None
    order = make_priced_order(firm, quantity=1)
    order.placed_by_id = user.id
    print_pieces(order)
    invoice = hubqueue.hand_over_finished(order, shipped=False, actor="technik").invoice
    db.session.commit()
    assert invoice_mails()[-1].to_address == user.email
    firm.invoice_email = "rechnung@kunde.example"
    db.session.commit()
    note = invoices.cancel_invoice(invoice, "buchhaltung@druckhub.de", "Falsche Anschrift")
    db.session.commit()
    row = invoice_mails()[-1]
    assert row.kind == f"invoice:{note.number}" and row.to_address == "rechnung@kunde.example"
    assert row.body.startswith("Guten Tag Max Muster,")


def test_no_address_no_invoice_mail(legal):
    order = make_priced_order(make_firm(invoice_email=None), quantity=1)  # nobody to write to
    print_pieces(order)
    assert hubqueue.hand_over_finished(order, shipped=False, actor="t").invoice is not None
    db.session.commit()
    assert invoice_mails() == []


def test_an_invoice_that_cannot_be_built_is_not_mailed_without_it(legal, smtp_server,  # noqa: F811
                                                                  monkeypatch):
    """The mail exists to deliver the invoice: it is not sent without it, the attempt counts
    and it goes out, with the PDF, once the document can be built."""
    from marketplace.invoices import einvoice
    from marketplace.mail import mailer

    real = einvoice.zugferd_pdf
    monkeypatch.setattr(einvoice, "zugferd_pdf", lambda invoice: 1 / 0)
    order = make_priced_order(quantity=1)
    print_pieces(order)
    invoice = hubqueue.hand_over_finished(order, shipped=False, actor="t").invoice
    db.session.commit()  # the mail task runs now (immediate in the tests)
    db.session.expire_all()
    [row] = invoice_mails()
    assert row.sent_at is None and row.attempts == 1
    assert row.last_error.startswith("AttachmentError") and "ZeroDivisionError" in row.last_error
    assert not [m for m in smtp_server.messages if m["X-Druckhub-Kind"] == row.kind]
    monkeypatch.setattr(einvoice, "zugferd_pdf", real)
    row.next_attempt_at = None  # the back-off is over
    db.session.commit()
    assert mailer.send_pending().sent == 1
    [message] = [m for m in smtp_server.wait_for(1) if m["X-Druckhub-Kind"] == row.kind]
    [pdf] = list(message.iter_attachments())
    assert pdf.get_filename() == f"Rechnung-{invoice.number}.pdf"
