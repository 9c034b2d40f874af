"""Invoices listed for the firm (portal "Rechnungen", downloads) and for the hub's admins
(console list, credit notes, the accountants' CSV)."""

from __future__ import annotations

import csv
import io

from invoice_helpers import make_priced_order, print_pieces

from marketplace.extensions import db
from marketplace.hubqueue import operations as hubqueue
from marketplace.invoices import operations as invoices


def _issue(firm, quantity=2):
    order = make_priced_order(firm, quantity=quantity, reference="PO-7")
    print_pieces(order)
    invoice = hubqueue.hand_over_finished(order, shipped=False, actor="t").invoice
    db.session.commit()
    return invoice


def test_firm_sees_its_invoices_and_downloads_them(client, make_user, login_as):
    user, other = make_user("firm"), make_user("firm")
    mine, theirs = _issue(user.firm), _issue(other.firm)
    login_as(user)
    page = client.get("/invoices").get_data(True)
    assert f'data-invoice="{mine.number}"' in page and theirs.number not in page
    assert "8 Jahre" in page
    assert 'href="/invoices"' in client.get("/orders").get_data(True)  # in the navigation
    for fmt, kind, magic in (("pdf", "application/pdf", b"%PDF"),
                             ("xrechnung", "application/xml", b"<?xml"),
                             ("zugferd", "application/pdf", b"%PDF")):
        response = client.get(f"/invoices/{mine.public_id}/{fmt}")
        assert response.status_code == 200 and response.mimetype == kind
        assert response.data.startswith(magic)
        assert mine.number in response.headers["Content-Disposition"]
    assert client.get(f"/invoices/{theirs.public_id}/pdf").status_code == 404
    assert client.get(f"/invoices/{mine.public_id}/docx").status_code == 404


def test_order_page_links_its_invoice(client, make_user, login_as):
    user = make_user("firm")
    invoice = _issue(user.firm)
    login_as(user)
    from marketplace.models import Order

    order = db.session.get(Order, invoice.order_id)
    page = client.get(f"/orders/{order.public_id}").get_data(True)
    assert 'id="invoice-pdf"' in page and f"/invoices/{invoice.public_id}/xrechnung" in page


def test_admin_lists_cancels_and_exports_csv(client, make_user, login_as):
    firm_user = make_user("firm")
    firm_user.firm.vat_id = "DE136695976"
    first, second = _issue(firm_user.firm), _issue(firm_user.firm, quantity=1)
    technician = make_user("technician")
    login_as(technician)
    assert client.get("/hub/invoices").status_code == 403
    assert client.get("/hub/invoices.csv").status_code == 403
    login_as(make_user("admin", email="chefin@hub.de"))
    page = client.get("/hub/invoices").get_data(True)
    assert f'data-invoice="{first.number}"' in page and f'data-invoice="{second.number}"' in page
    refused = client.post(f"/hub/invoices/{first.public_id}/credit-note", data={"reason": ""},
                          follow_redirects=True)
    assert "Grund" in refused.get_data(True)
    done = client.post(f"/hub/invoices/{first.public_id}/credit-note",
                       data={"reason": "Doppelt berechnet"}, follow_redirects=True)
    note = invoices.credit_note_of(first)
    assert note is not None and note.issued_by == "chefin@hub.de"
    assert f"Stornorechnung {note.number}" in done.get_data(True)
    assert client.get(f"/hub/invoices/{note.public_id}/xrechnung").data.startswith(b"<?xml")

    response = client.get(f"/hub/invoices.csv?year={first.issue_date.year}")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"  # the charset once
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(True))))
    assert list(rows[0]) == ["number", "date", "firm", "vat_id", "net", "vat", "gross",
                             "currency", "type", "reference"]
    by_number = {r["number"]: r for r in rows}
    assert by_number[first.number]["type"] == "invoice"
    assert by_number[first.number]["reference"] == first.order_number
    assert by_number[first.number]["gross"] == "%d.%02d" % divmod(first.gross_cents, 100)
    assert by_number[first.number]["vat_id"] == "DE136695976"
    assert by_number[note.number]["type"] == "credit_note"
    assert by_number[note.number]["reference"] == first.number
    assert by_number[note.number]["net"] == "-%d.%02d" % divmod(first.net_cents, 100)
    assert len(rows) == 3
    assert client.get("/hub/invoices.csv?year=2001").get_data(True).count("\n") == 1


def test_csv_neutralises_spreadsheet_formulas(app):
    from invoice_helpers import make_firm

    firm = make_firm(name="=HYPERLINK(\"x\") GmbH")
    invoice = _issue(firm)
    text = invoices.csv_export([invoice])
    assert "'=HYPERLINK" in text
