"""Data rights: the firm's data as a streamed zip; deleting an account anonymises the person
and keeps the firm's invoices for the retention period."""

from __future__ import annotations

from datetime import date

import io
import json
import zipfile

import sqlalchemy as sa
from invoice_helpers import make_priced_order, print_pieces
from portal_helpers import cube_stl, store_part

from marketplace.extensions import db
from marketplace.hubqueue import operations as hubqueue
from marketplace.invoices.models import Invoice
from marketplace.jobs import record_created
from marketplace.models import JobEvent, PrintJob, User, UserSession


def _invoice(firm, actor="t"):
    order = make_priced_order(firm, quantity=1)
    print_pieces(order)
    invoice = hubqueue.hand_over_finished(order, shipped=False, actor=actor).invoice
    db.session.commit()
    return invoice


def test_firm_downloads_all_its_data_as_a_streamed_zip(client, make_user, login_as):
    user, other = make_user("firm"), make_user("firm")
    part = store_part(user.firm, user, name="Halter rechts.stl")
    store_part(other.firm, other, name="fremd.stl")
    invoice = _invoice(user.firm)
    login_as(user)
    response = client.get("/account/export")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.is_streamed
    assert "attachment" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    names = set(archive.namelist())
    data = json.loads(archive.read("druckhub-export.json"))
    assert data["firm"]["name"] == user.firm.name
    assert [u["email"] for u in data["users"]] == [user.email]
    assert "password" not in json.dumps(data["users"])
    exported = {p["name"]: p for p in data["parts"]}
    assert "fremd.stl" not in exported
    assert archive.read(exported["Halter rechts.stl"]["file"]) == cube_stl()
    assert part.public_id in {p["id"] for p in data["parts"]}
    [exported_invoice] = data["invoices"]
    assert exported_invoice["number"] == invoice.number
    assert exported_invoice["kept_until"] == f"{invoice.issue_date.year + 8}-12-31"
    for path in exported_invoice["files"]:
        assert path in names
    assert archive.read(f"files/invoices/{invoice.number}.pdf").startswith(b"%PDF")
    assert archive.read(f"files/invoices/{invoice.number}.xml").startswith(b"<?xml")
    assert data["orders"][0]["history"]  # every piece's steps
    exported_order = data["orders"][0]
    assert [x["line"] for x in exported_order["lines"]] == [1]  # its parts, with options
    assert {p["line"] for p in exported_order["pieces"]} == {1}
    assert exported_order["gross_cents"] == exported_order["price"]["gross_cents"]
    # a firm name with umlauts keeps its name in the download (walk: "export.zip")
    user.firm.name = "Gerätebau Groß Lüneburg GmbH"
    db.session.commit()
    named = client.get("/account/export").headers["Content-Disposition"]
    today = date.today().isoformat()
    assert f'filename=druckhub-daten-Geraetebau-Gross-Lueneburg-GmbH-{today}.zip' in named
    assert ("filename*=UTF-8''druckhub-daten-Ger%C3%A4tebau-Gro%C3%9F-L%C3%BCneburg-GmbH-"
            f"{today}.zip") in named
    login_as(make_user("technician"))
    assert client.get("/account/export").status_code == 403


def test_deleting_an_account_blocks_personal_data_and_keeps_invoices(client, make_user,
                                                                     login_as):
    user = make_user("firm", email="eva@kunde.example")
    user.firm.contact_name, user.firm.phone = "Eva Kunde", "+49 4131 1"
    user.firm.invoice_email = "eva@kunde.example"
    order = make_priced_order(user.firm, quantity=1)
    record_created(PrintJob(order=order, part=order.part, copy_index=9, material_code="PLA",
                            state="received"), actor="eva@kunde.example")
    invoice = _invoice(user.firm)
    buyer_before = dict(invoice.buyer)
    login_as(user)
    page = client.get("/account").get_data(True)
    assert 'id="delete-retention"' in page and "acht Jahre" in page
    assert f"31.12.{invoice.issue_date.year + 8}" in page
    wrong = client.post("/account/delete", data={"delete-password": "falsch",
                                                 "delete-confirm": "y"})
    assert wrong.status_code == 400 and "Das Passwort stimmt nicht" in wrong.get_data(True)
    unconfirmed = client.post("/account/delete", data={"delete-password": "pw-12345678"})
    assert unconfirmed.status_code == 400
    done = client.post("/account/delete", data={"delete-password": "pw-12345678",
                                                "delete-confirm": "y"})
    assert done.status_code == 302
    db.session.expire_all()
    gone = db.session.get(User, user.id)
    assert gone.email.endswith("@invalid") and gone.name is None and not gone.active
    assert db.session.scalar(sa.select(sa.func.count(UserSession.id))
                             .where(UserSession.user_id == user.id)) == 0
    assert db.session.scalar(sa.select(User).where(User.email == "eva@kunde.example")) is None
    actors = set(db.session.scalars(sa.select(JobEvent.actor)))
    assert "eva@kunde.example" not in actors and f"gelöschtes Konto #{user.id}" in actors
    firm = gone.firm
    assert (firm.contact_name, firm.phone, firm.invoice_email) == (None, None, None)
    kept = db.session.get(Invoice, invoice.id)  # the invoice stays exactly as issued
    assert kept.buyer == buyer_before and kept.gross_cents == invoice.gross_cents
    assert client.get("/account").status_code == 302  # signed out
    login = client.post("/login", data={"email": "eva@kunde.example",
                                        "password": "pw-12345678"})
    assert login.status_code != 302  # no account signs in with the old address


def test_a_colleague_keeps_the_firms_contact(client, make_user, login_as):
    user = make_user("firm")
    make_user("firm", firm=user.firm)
    user.firm.contact_name = "Chef"
    db.session.commit()
    login_as(user)
    client.post("/account/delete", data={"delete-password": "pw-12345678",
                                         "delete-confirm": "y"})
    db.session.expire_all()
    assert user.firm.contact_name == "Chef"
