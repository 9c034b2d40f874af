"""Quote and order confirmation PDFs a German firm files (issue 11): the hub's address and legal
details (register entry, VAT id, managing director, bank), the terms, the validity and the
part's picture; production issues none without the legal details."""

from __future__ import annotations

import re

from invoice_helpers import complete_legal_details
from portal_helpers import firm_user, pdf_text, store_part  # noqa: F401 (fixture)

from marketplace.extensions import db
from marketplace.formatting import format_date
from marketplace.orders import operations as orders
from marketplace.quotes import operations as quotes
from marketplace.settings import operations as settings

LEGAL_TEXTS = ("Druckhub Lüneburg GmbH", "Amtsgericht Lüneburg HRB 123456", "Erika Mustermann",
               "DE136695976", "IBAN DE89 3704 0044 0532 0130 00")


def _quote_and_order(user):
    part = store_part(user.firm, user, name="Halter links.stl")
    quote = quotes.make_quote(part)
    order = orders.place_order(quote, placed_by=user, reference="PO-4711")
    db.session.commit()
    return quote, order


def test_quote_pdf_has_legal_details_terms_validity_and_picture(app, client, login_as,
                                                                firm_user):
    complete_legal_details()
    app.config["ENVIRONMENT"] = "production"  # complete details: documents are issued
    part = store_part(firm_user.firm, firm_user, name="Halter links.stl")
    quote = quotes.make_quote(part)
    db.session.commit()
    login_as(firm_user)
    resp = client.get(f"/quotes/{quote.public_id}/pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    text = pdf_text(resp.data)
    for expected in LEGAL_TEXTS:
        assert expected in text, expected
    assert format_date(quote.valid_until) in text  # "Das Angebot gilt bis ..."
    assert "Bedingungen" in text and "Allgemeinen" in text and "14 Tagen" in text
    assert "Halter links.stl" in text
    assert b"/Subtype /Image" in resp.data  # the part's picture


def test_confirmation_names_the_quote_it_accepts_and_the_hubs_own_terms(client, login_as,
                                                                       firm_user):
    complete_legal_details()
    settings.set_quote_terms({"valid_days": 30,
                              "terms": "Es gelten die AGB der Druckhub GmbH.\nGerichtsstand Lüneburg."})
    db.session.commit()
    quote, order = _quote_and_order(firm_user)
    login_as(firm_user)
    resp = client.get(f"/orders/{order.public_id}/pdf")
    assert resp.status_code == 200
    text = pdf_text(resp.data)
    for expected in LEGAL_TEXTS:
        assert expected in text, expected
    assert order.number in text and "PO-4711" in text
    assert quote.public_id[:8].upper() in text and format_date(quote.valid_until) in text
    assert "Es gelten die AGB der Druckhub GmbH." in text and "Gerichtsstand Lüneburg." in text
    assert "Zahlbar innerhalb" not in text  # the hub's own terms replace the standard sentence
    assert b"/Subtype /Image" in resp.data


def test_documents_in_english(client, login_as, firm_user):
    complete_legal_details()
    firm_user.language = "en"
    db.session.commit()
    quote, order = _quote_and_order(firm_user)
    login_as(firm_user)
    client.get("/?lang=en")
    text = pdf_text(client.get(f"/orders/{order.public_id}/pdf").data)
    assert "Terms" in text and "Payable within 14 days" in text
    assert "Based on our quote" in text


def test_production_issues_no_quote_or_confirmation_without_legal_details(app, client,
                                                                          login_as, firm_user):
    quote, order = _quote_and_order(firm_user)
    app.config["ENVIRONMENT"] = "production"
    login_as(firm_user)
    for url in (f"/quotes/{quote.public_id}/pdf", f"/orders/{order.public_id}/pdf"):
        refused = client.get(url)
        assert refused.status_code == 503
        body = refused.get_data(as_text=True)
        assert "Rechtliche Angaben" in body and "Registergericht" in body


def test_documents_name_the_agb_version_and_where_to_read_it(app, client, login_as, firm_user):
    from datetime import date

    complete_legal_details()
    app.config["PUBLIC_URL"] = "https://druckhub.example"
    first = settings.set_legal_texts({"terms": "§ 1 Geltung", "privacy": ""},
                                     today=date(2026, 11, 2))["terms_version"]
    db.session.commit()
    quote, order = _quote_and_order(firm_user)
    assert order.terms_version == first
    # the AGB change afterwards: the order keeps its version, a new offer names the new one
    second = settings.set_legal_texts({"terms": "§ 1 Geltung (neu)", "privacy": ""},
                                      today=date(2026, 12, 1))["terms_version"]
    db.session.commit()
    login_as(firm_user)
    confirmation = " ".join(pdf_text(client.get(f"/orders/{order.public_id}/pdf").data).split())
    assert "in der Fassung vom 02.11.2026" in confirmation
    assert f"https://druckhub.example/agb/{first}" in confirmation
    assert "Zahlbar innerhalb von 14 Tagen" in confirmation  # the payment term stays
    offer = " ".join(pdf_text(client.get(f"/quotes/{quote.public_id}/pdf").data).split())
    # an offer that was ordered names its order's version (review: the one in force then)
    assert "in der Fassung vom 02.11.2026" in offer and f"/agb/{first}" in offer
    fresh = quotes.make_quote(store_part(firm_user.firm, firm_user, name="Neu.stl"))
    db.session.commit()
    offer = " ".join(pdf_text(client.get(f"/quotes/{fresh.public_id}/pdf").data).split())
    assert "in der Fassung vom 01.12.2026" in offer
    assert f"https://druckhub.example/agb/{second}" in offer
    # the hub's own terms come after the AGB sentence, which they do not replace
    settings.set_quote_terms({"valid_days": 30, "terms": "Gerichtsstand Lüneburg."})
    db.session.commit()
    offer = " ".join(pdf_text(client.get(f"/quotes/{fresh.public_id}/pdf").data).split())
    assert f"/agb/{second}" in offer and "Gerichtsstand Lüneburg." in offer
    assert offer.index("Fassung vom") < offer.index("Gerichtsstand")


def test_a_confirmation_over_two_pages_repeats_the_price_tables_head(firm_user):
    """Walk: the price table of an order of several parts broke onto page 2 without its
    head."""
    from marketplace.orders import cart

    complete_legal_details()
    for n in range(8):
        part = store_part(firm_user.firm, firm_user, name=f"Halter {n}.stl")
        cart.add(firm_user, part, {"material": "PLA", "quantity": "2"})
    quote = cart.quote_cart(firm_user, delivery="pickup", express=False, ship_to=None)
    order = orders.place_order(quote, placed_by=firm_user)
    db.session.commit()
    from marketplace.orders import documents

    pdf = documents.confirmation_pdf(quote, settings.hub_details(), order)
    assert int(re.search(rb"/Count (\d+)", pdf).group(1)) >= 2  # pages
    text = pdf_text(pdf)
    assert text.count("Position") >= 2 and text.count("Betrag") >= 2
