"""The hub's legal details: admin settings, checked; on every document; production refuses
to issue a document without them."""

from __future__ import annotations

import pytest
from hub_factories import make_order
from invoice_helpers import ADDRESS, LEGAL, complete_legal_details
from portal_helpers import pdf_text

from marketplace.extensions import db
from marketplace.settings import operations as s


def test_legal_details_are_checked_and_normalised(app):
    assert s.get_hub_legal()["vat_id"] == "" and s.get_hub_legal()["payment_days"] == 14
    assert "USt-IdNr." in s.missing_legal_details()
    complete_legal_details()
    legal = s.get_hub_legal()
    assert legal["vat_id"] == "DE136695976" and legal["iban"] == "DE89370400440532013000"
    assert legal["payment_days"] == 14
    assert s.missing_legal_details() == []
    assert s.hub_details()["street"] == "Am Sande 1"
    with pytest.raises(s.SettingsError) as exc:
        s.set_hub_legal({**LEGAL, "vat_id": "DE123456789", "iban": "DE89370400440532013001",
                         "bic": "XX", "payment_days": "400"})
    assert set(exc.value.errors) == {"vat_id", "iban", "bic", "payment_days"}
    db.session.rollback()
    assert s.get_hub_legal()["vat_id"] == "DE136695976"  # nothing of the bad form was stored


def test_production_refuses_documents_without_legal_details(app):
    assert s.require_legal_details()["iban"] == ""  # development: issued with what there is
    app.config["ENVIRONMENT"] = "production"
    with pytest.raises(s.MissingLegalDetailsError) as exc:
        s.require_legal_details()
    assert "IBAN" in exc.value.missing and "Registergericht" in exc.value.missing
    assert "Rechtliche Angaben" in exc.value.message()
    complete_legal_details()
    assert s.require_legal_details()["register_number"] == "HRB 123456"


@pytest.fixture
def admin(client, make_user, login_as):
    login_as(make_user("admin"))
    return client


def test_admin_saves_legal_details_and_sees_what_is_missing(admin):
    page = admin.get("/hub/settings").get_data(True)
    assert 'id="legal"' in page and "data-legal-missing" in page
    bad = admin.post("/hub/settings/legal", data={**LEGAL, "iban": "DE00 1234"})
    assert bad.status_code == 400 and 'data-error="iban"' in bad.get_data(True)
    assert s.get_hub_legal()["legal_name"] == ""
    ok = admin.post("/hub/settings/legal", data=LEGAL)
    assert ok.status_code == 302 and ok.headers["Location"].endswith("#legal")
    assert s.get_hub_legal()["managing_director"] == "Erika Mustermann"
    admin.post("/hub/settings/address", data=ADDRESS)
    assert "data-legal-missing" not in admin.get("/hub/settings").get_data(True)


def test_technician_cannot_change_legal_details(client, make_user, login_as):
    login_as(make_user("technician"))
    assert client.post("/hub/settings/legal", data=LEGAL).status_code == 403


def test_order_pdf_carries_the_legal_details_and_production_refuses_without(
        app, client, make_user, login_as):
    user = make_user("firm")
    order = make_order(user.firm)
    db.session.commit()
    login_as(user)
    complete_legal_details()
    text = pdf_text(client.get(f"/orders/{order.public_id}/pdf").data)
    for expected in ("Amtsgericht Lüneburg HRB 123456", "Erika Mustermann", "DE136695976",
                     "IBAN DE89 3704 0044 0532 0130 00", "Druckhub Lüneburg GmbH"):
        assert expected in text
    db.session.execute(db.delete(s.Setting).where(s.Setting.key == s.LEGAL_KEY))
    db.session.commit()
    app.config["ENVIRONMENT"] = "production"
    refused = client.get(f"/orders/{order.public_id}/pdf")
    assert refused.status_code == 503
    assert "Rechtliche Angaben" in refused.get_data(True)
    assert client.get(f"/quotes/{order.quote.public_id}/pdf").status_code == 503
