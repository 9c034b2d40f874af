"""Invoices: issued on handover, per part line, numbered without gaps, immutable, cancelled
only by a credit note; the handover command line; 20 concurrent handovers."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from invoice_helpers import (
    complete_legal_details,
    make_firm,
    make_priced_order,
    print_pieces,
)

from marketplace import formatting
from marketplace.extensions import db
from marketplace.hubqueue import operations as hubqueue
from marketplace.invoices import operations as invoices
from marketplace.invoices.models import ImmutableInvoiceError, Invoice, InvoiceCounter
from marketplace.jobs import transition
from marketplace.models import Order
from marketplace.settings import operations as settings

YEAR = formatting.hub_today().year


def _handover(runner, order, *extra):
    return runner.invoke(args=["orders", "handover", order.number, *extra])


def test_handover_command_issues_the_invoice_and_prints_its_number(runner):
    order = make_priced_order(quantity=3, reference="PO-4711")
    print_pieces(order)
    db.session.commit()
    result = _handover(runner, order)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"RE-{YEAR}-000001"
    db.session.expire_all()
    assert [j.state for j in order.jobs] == ["picked_up"] * 3
    invoice = invoices.find(f"RE-{YEAR}-000001")
    assert invoice.order_id == order.id and invoice.kind == "invoice"
    # one line per part (not per piece), then the set-up fee; the totals are the confirmed ones
    assert [(line.kind, line.quantity, line.unit_code, line.net_cents) for line in invoice.lines] \
        == [("part", 3, "H87", 1234 + 2567), ("setup", 1, "C62", 500)]
    quote = order.quote
    assert (invoice.net_cents, invoice.vat_cents, invoice.gross_cents) == (
        quote.net_cents, quote.vat_cents, quote.gross_cents)
    assert invoice.purchase_order == "PO-4711" and invoice.order_number == order.number
    assert invoice.issue_date == invoice.delivery_date == formatting.hub_today()
    assert invoice.due_date == invoice.issue_date.fromordinal(invoice.issue_date.toordinal() + 14)
    assert invoice.buyer["vat_id"] == "DE136695976"
    assert invoice.buyer["email"] == "buchhaltung@kunde.example"
    again = _handover(runner, order)
    assert again.exit_code == 2 and "keine fertigen Teile" in again.stderr
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 1


def test_shipped_handover_and_unknown_order(runner):
    order = make_priced_order(quantity=1, delivery="shipping")
    print_pieces(order)
    db.session.commit()
    result = _handover(runner, order, "--shipped")
    assert result.exit_code == 0 and result.stdout.strip() == f"RE-{YEAR}-000001"
    db.session.expire_all()
    assert order.jobs[0].state == "shipped"
    missing = runner.invoke(args=["orders", "handover", "DH-1999-000001"])
    assert missing.exit_code == 1 and "no order" in missing.stderr


def test_invoice_waits_for_the_last_piece_and_bills_what_was_delivered(runner):
    order = make_priced_order(quantity=4, discount_percent=10, minimum=10_000)
    print_pieces(order, 2)
    db.session.commit()
    first = _handover(runner, order)
    assert first.exit_code == 0 and first.stdout == ""
    assert "2 still in production" in first.stderr
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 0
    # piece 3 is printed, piece 4 fails for good: it is not billed
    third, fourth = order.jobs[2], order.jobs[3]
    for state in ("approved", "queued", "dispatching", "printing", "printed"):
        transition(third, state, actor="test")
    for state in ("approved", "queued", "dispatching", "needs_attention", "failed"):
        transition(fourth, state, actor="test")
    db.session.commit()
    second = _handover(runner, order)
    assert second.stdout.strip() == f"RE-{YEAR}-000001"
    invoice = invoices.find(f"RE-{YEAR}-000001")
    part, setup, minimum = invoice.lines
    assert part.quantity == 3 and part.gross_cents == round((1234 + 2567) * 3 / 4)
    assert part.allowance_cents == round(round((1234 + 2567) * 0.10) * 3 / 4)
    assert part.allowance_reason == "Mengenrabatt (10\u00a0% ab 10 Stück)"
    assert "3 von 4 bestellten Stück geliefert" in part.detail
    # the minimum-order top-up fills up to the minimum again for what is billed
    assert part.net_cents + setup.net_cents + minimum.net_cents == 10_000
    assert invoice.net_cents == 10_000 and invoice.vat_cents == 1900


def test_numbers_are_gapless_a_rollback_gives_the_number_back(app):
    assert invoices.next_number("invoice", 2030) == "RE-2030-000001"
    db.session.rollback()
    assert invoices.next_number("invoice", 2030) == "RE-2030-000001"
    assert invoices.next_number("invoice", 2030) == "RE-2030-000002"
    assert invoices.next_number("credit_note", 2030) == "ST-2030-000001"
    assert invoices.next_number("invoice", 2031) == "RE-2031-000001"
    db.session.commit()
    assert db.session.get(InvoiceCounter, "RE-2030").last_number == 2


def _issued(quantity=2):
    order = make_priced_order(quantity=quantity)
    print_pieces(order)
    invoice = hubqueue.hand_over_finished(order, shipped=False, actor="tech@hub.de").invoice
    db.session.commit()
    return invoice


def test_an_issued_invoice_cannot_be_changed_or_deleted(app):
    invoice = _issued()
    invoice.net_cents = 1
    with pytest.raises(ImmutableInvoiceError):
        db.session.flush()
    db.session.rollback()
    invoice.lines[0].quantity = 99
    with pytest.raises(ImmutableInvoiceError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(invoice)
    with pytest.raises(ImmutableInvoiceError):
        db.session.flush()
    db.session.rollback()
    # past the ORM, the database's trigger refuses
    for table in ("invoices", "invoice_lines"):
        with pytest.raises(sa.exc.DBAPIError, match="immutable"):
            db.session.execute(sa.text(f"UPDATE {table} SET net_cents = 1"))
        db.session.rollback()
    db.session.expire_all()
    assert invoice.net_cents == invoice.lines[0].net_cents + invoice.lines[1].net_cents


def test_credit_note_cancels_an_invoice_and_references_it(runner):
    invoice = _issued()
    missing_reason = runner.invoke(args=["invoices", "credit-note", invoice.number,
                                         "--reason", " "])
    assert missing_reason.exit_code == 2 and "Grund" in missing_reason.stderr
    result = runner.invoke(args=["invoices", "credit-note", invoice.number,
                                 "--reason", "Falsche Farbe geliefert"])
    assert result.exit_code == 0, result.output
    note = invoices.find(result.stdout.strip())
    assert note.number == f"ST-{YEAR}-000001" and note.kind == "credit_note"
    assert note.corrects_id == invoice.id and note.reason == "Falsche Farbe geliefert"
    assert (note.net_cents, note.gross_cents) == (invoice.net_cents, invoice.gross_cents)
    assert [line.net_cents for line in note.lines] == [line.net_cents for line in invoice.lines]
    twice = runner.invoke(args=["invoices", "credit-note", invoice.number, "--reason", "nochmal"])
    assert twice.exit_code == 2 and "bereits storniert" in twice.stderr
    not_an_invoice = runner.invoke(args=["invoices", "credit-note", note.number,
                                         "--reason", "Storno vom Storno"])
    assert not_an_invoice.exit_code == 2
    rows = invoices.csv_rows(invoices.all_invoices())
    assert [(r["type"], r["reference"]) for r in rows] == [
        ("invoice", invoice.order_number), ("credit_note", invoice.number)]
    assert rows[1]["gross"] == "-" + rows[0]["gross"]


def test_production_hands_nothing_over_without_the_legal_details(app, runner):
    order = make_priced_order(quantity=1)
    print_pieces(order)
    db.session.commit()
    app.config["ENVIRONMENT"] = "production"
    refused = _handover(runner, order)
    assert refused.exit_code == 2 and "rechtlichen Angaben" in refused.stderr
    db.session.expire_all()
    assert order.jobs[0].state == "printed"
    complete_legal_details()
    issued = _handover(runner, order)
    assert issued.stdout.strip() == f"RE-{YEAR}-000001"
    assert invoices.find(issued.stdout.strip()).seller["iban"] == "DE89370400440532013000"


def test_hub_console_handover_issues_the_invoice(client, make_user, login_as):
    order = make_priced_order(quantity=2)
    print_pieces(order)
    db.session.commit()
    login_as(make_user("technician"))
    client.post(f"/hub/orders/{order.public_id}/handover", data={"to": "ready_for_pickup"})
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 0
    page = client.post(f"/hub/orders/{order.public_id}/handover", data={"to": "picked_up"},
                       follow_redirects=True).get_data(True)
    assert f"Rechnung RE-{YEAR}-000001 ausgestellt" in page
    assert invoices.invoice_of_order(order).issued_by.startswith("technician")


CONCURRENT = 20


@pytest.mark.commits  # 20 threads, each with its own connection, read what the test wrote
def test_twenty_concurrent_handovers_get_gapless_unique_numbers(app):
    """20 threads, each with its own session, hand over a different order at the same moment."""
    # each invoice's mail is sent by the mail task, which in the tests' immediate mode would
    # run inside each thread's commit with a second connection: 40 for a pool of 15
    app.config["MAIL_SEND_AFTER_COMMIT"] = "off"
    firm = make_firm()
    ids = []
    for _ in range(CONCURRENT):
        order = make_priced_order(firm, quantity=2)
        print_pieces(order)
        ids.append(order.id)
    db.session.commit()
    barrier = threading.Barrier(CONCURRENT, timeout=30)
    numbers: dict[int, str] = {}
    errors: list[BaseException] = []

    def hand_over(order_id: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                for attempt in range(20):  # SQLite: a writer may find the database locked
                    try:
                        order = db.session.get(Order, order_id)
                        done = hubqueue.hand_over_finished(order, shipped=False,
                                                           actor=f"t{order_id}")
                        db.session.commit()
                        numbers[order_id] = done.invoice.number
                        return
                    except sa.exc.OperationalError:
                        db.session.rollback()
                        threading.Event().wait(0.05 * (attempt + 1))
                raise AssertionError("database stayed locked")
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=hand_over, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a handover hung"
    assert not errors, errors
    expected = [f"RE-{YEAR}-{n:06d}" for n in range(1, CONCURRENT + 1)]
    assert sorted(numbers.values()) == expected  # unique and without a gap
    db.session.expire_all()
    stored = db.session.scalars(sa.select(Invoice.number).order_by(Invoice.number)).all()
    assert stored == expected
    assert db.session.get(InvoiceCounter, f"RE-{YEAR}").last_number == CONCURRENT


# --- purchase order number and Leitweg-ID, from the firm's pages into the invoice -----------


def test_firm_enters_invoice_email_and_leitweg_id_in_its_account(client, make_user, login_as):
    user = make_user("firm")
    login_as(user)
    form = {"firm-street": "Am Markt 1", "firm-postcode": "21335", "firm-city": "Lüneburg",
            "firm-country": "DE", "firm-contact_name": "Eva Amt", "firm-vat_id": "",
            "firm-phone": "", "firm-invoice_email": "rechnung@stadt.example",
            "firm-leitweg_id": "991-33333TEST-33 "}
    bad = client.post("/account/firm", data={**form, "firm-leitweg_id": "991-33333TEST-34"})
    assert bad.status_code == 400 and "Keine gültige Leitweg-ID" in bad.get_data(True)
    assert client.post("/account/firm", data=form).status_code == 302
    db.session.refresh(user.firm)
    assert (user.firm.leitweg_id, user.firm.invoice_email) == (
        "991-33333TEST-33", "rechnung@stadt.example")
    empty = client.post("/account/firm", data={**form, "firm-leitweg_id": ""})
    assert empty.status_code == 302
    db.session.refresh(user.firm)
    assert user.firm.leitweg_id is None  # optional: a firm that is no public customer has none


def test_order_carries_po_number_and_leitweg_id_into_the_invoice(client, make_user, login_as):
    user = make_user("firm")
    user.firm.leitweg_id = "991-33333TEST-33"
    order = make_priced_order(user.firm, quantity=1)
    db.session.commit()
    login_as(user)
    page = client.get(f"/orders/{order.public_id}").get_data(True)
    assert 'id="order-references"' in page
    bad = client.post(f"/orders/{order.public_id}/references",
                      data={"ref-reference": "PO-1", "ref-leitweg_id": "12-34"},
                      follow_redirects=True)
    assert "Keine gültige Leitweg-ID" in bad.get_data(True)
    client.post(f"/orders/{order.public_id}/references",
                data={"ref-reference": "BANF-2026-17", "ref-leitweg_id": "04011000-1234512345-06"})
    db.session.refresh(order)
    assert (order.reference, order.leitweg_id) == ("BANF-2026-17", "04011000-1234512345-06")
    print_pieces(order)
    invoice = hubqueue.hand_over_finished(order, shipped=False, actor="t").invoice
    db.session.commit()
    assert (invoice.purchase_order, invoice.leitweg_id) == (
        "BANF-2026-17", "04011000-1234512345-06")
    page = client.get(f"/orders/{order.public_id}").get_data(True)
    assert 'id="order-references"' not in page  # on the invoice now: no longer changeable
    late = client.post(f"/orders/{order.public_id}/references",
                       data={"ref-reference": "X", "ref-leitweg_id": ""}, follow_redirects=True)
    assert "Die Rechnung ist ausgestellt" in late.get_data(True)
    db.session.refresh(order)
    assert order.reference == "BANF-2026-17"


def test_order_form_takes_the_leitweg_id_and_defaults_to_the_firms(client, make_user, login_as):
    from portal_helpers import store_part

    from marketplace.quotes import operations as quotes

    user = make_user("firm")
    user.firm.leitweg_id = "991-33333TEST-33"
    db.session.commit()
    part = store_part(user.firm, user)
    quote = quotes.make_quote(part, material_code="PLA", colour="any", quantity=1, infill=15,
                              layer_height=0.2, units=None)
    db.session.commit()
    login_as(user)
    page = client.get(f"/quotes/{quote.public_id}").get_data(True)
    assert 'value="991-33333TEST-33"' in page
    response = client.post(f"/quotes/{quote.public_id}/order", data={
        "delivery": "pickup", "reference": "PO 9", "leitweg_id": "991-03730-19", "notes": ""})
    assert response.status_code == 303
    order = db.session.scalar(sa.select(Order).where(Order.quote_id == quote.id))
    assert (order.reference, order.leitweg_id) == ("PO 9", "991-03730-19")


def test_api_handover_issues_the_invoice_and_resolve_decides_a_piece(client, make_user):
    """The hub's tools hand over through the API (the invoice number comes back) and decide
    about a piece that needs attention; a firm's token may do neither."""
    from api_helpers import bearer, token_for

    order = make_priced_order(quantity=2)
    print_pieces(order)
    db.session.commit()
    hub = token_for(make_user("technician"), "read,hub")
    url = f"/api/v1/orders/{order.public_id}/handover"
    ready = client.post(url, headers=bearer(hub), json={"to": "ready_for_pickup"})
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["pieces"] == 2 and ready.get_json()["invoice_number"] is None
    bad = client.post(url, headers=bearer(hub), json={"to": "printed"})
    assert bad.status_code in (400, 422) and bad.get_json()["code"]
    done = client.post(url, headers=bearer(hub), json={"to": "picked_up"}).get_json()
    assert done["invoice_number"] == f"RE-{YEAR}-000001"
    assert done["order"]["state"] == "picked_up"
    again = client.post(url, headers=bearer(hub), json={"to": "picked_up"})
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_transition"

    other = make_priced_order(quantity=1)
    job = other.jobs[0]
    for state in ("approved", "needs_attention"):  # e.g. the slicer check failed
        transition(job, state, actor="test")
    db.session.commit()
    firm = token_for(make_user("firm"), "read,write")
    resolve = f"/api/v1/jobs/{job.public_id}/resolve"
    assert client.post(resolve, headers=bearer(firm), json={"action": "requeue"}).status_code \
        in (403, 404)
    no_reason = client.post(resolve, headers=bearer(hub), json={"action": "failed"})
    assert no_reason.status_code == 409 and "Grund" in no_reason.get_json()["detail"]
    requeued = client.post(resolve, headers=bearer(hub), json={"action": "requeue"})
    assert requeued.status_code == 200 and requeued.get_json()["state"] == "approved"
    assert client.post(resolve, headers=bearer(hub), json={"action": "requeue"}).status_code == 409


def test_the_demo_hubs_invoices_are_valid_and_an_admins_details_stay(runner):
    """`flask seed-demo` gives the demo hub example legal details, so an invoice a newcomer
    makes in the demo passes the XRechnung and EN 16931 rules (before: 13 errors); details
    an admin entered are never overwritten."""
    from marketplace.accounts.demo import DEMO_FIRM, DEMO_HUB_LEGAL
    from marketplace.models import Firm

    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert settings.get_hub_legal()["iban"] == DEMO_HUB_LEGAL["iban"]
    assert not settings.missing_legal_details()
    firm = db.session.scalar(sa.select(Firm).where(Firm.name == DEMO_FIRM["name"]))
    order = make_priced_order(firm, quantity=1)
    print_pieces(order)
    db.session.commit()
    number = _handover(runner, order).stdout.strip()
    checked = runner.invoke(args=["invoices", "validate", number])
    assert checked.exit_code == 0, checked.output
    assert f"{number} xrechnung xrechnung: ok" in checked.stdout.splitlines()

    settings.set_hub_legal({**DEMO_HUB_LEGAL, "legal_name": "Echter Hub GmbH"})
    db.session.commit()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert settings.get_hub_legal()["legal_name"] == "Echter Hub GmbH"


def test_a_rejected_order_offers_no_invoice_references(client, make_user, login_as):
    """Walk finding: a rejected order still offered "Bestellnummer oder Leitweg-ID für die
    Rechnung ändern", though it never gets an invoice."""
    user = make_user("firm")
    order = make_priced_order(user.firm, quantity=2)
    for job in order.jobs:
        transition(job, "rejected", actor="t", reason="nicht druckbar")
    db.session.commit()
    login_as(user)
    page = client.get(f"/orders/{order.public_id}").get_data(True)
    assert 'id="order-references"' not in page
    late = client.post(f"/orders/{order.public_id}/references",
                       data={"ref-reference": "X", "ref-leitweg_id": ""}, follow_redirects=True)
    assert "keine Rechnung" in late.get_data(True)
    db.session.refresh(order)
    assert order.reference is None


def test_the_hand_over_mail_names_the_invoice_and_express(app, make_user):
    """The firm's mail on the last hand-over names the invoice just issued and where to find
    it; its delivery line says express when express was booked (it said "Versand" alone)."""
    from marketplace.models import Notification

    order = make_priced_order(quantity=2, delivery="shipping")
    order.express = True
    make_user("firm", email="einkauf@firma.example", firm=order.firm)
    print_pieces(order)
    invoice = hubqueue.hand_over_finished(order, shipped=True, actor="tech@hub.de").invoice
    db.session.commit()
    mail = db.session.scalars(sa.select(Notification).where(
        Notification.order_id == order.id, Notification.kind == "order:shipped")).one()
    assert f"Rechnung: {invoice.number}" in mail.body
    assert "/invoices" in mail.body
    assert "Lieferung: Versand · Express" in mail.body
