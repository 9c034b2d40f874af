"""The hub's legal pages: Impressum from the legal details, AGB and Datenschutz from the
admin's texts, linked from every page; every wording of the AGB kept under its version, and
each order naming the version it was placed under (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from invoice_helpers import ADDRESS, LEGAL, complete_legal_details
from portal_helpers import store_part

from marketplace.extensions import db
from marketplace.models import Order
from marketplace.orders import operations as orders
from marketplace.portal.legal_views import blocks
from marketplace.quotes import operations as quotes
from marketplace.settings import operations as s
from tests.hub_factories import make_printer

TERMS_A = "Muster-AGB\n\n## § 1 Geltung\nFür alle Aufträge.\nZweite Zeile."
TERMS_B = TERMS_A + "\n\n## § 2 Zahlung\nZahlbar in 14 Tagen."


def test_texts_become_paragraphs_and_headings():
    assert blocks("Eins\nzwei\n\n\n## Kopf\nText\n\n### Unter\n\n  ") == [
        ("p", "Eins\nzwei"), ("h2", "Kopf"), ("p", "Text"), ("h3", "Unter")]
    assert blocks("") == []


def test_every_page_links_the_legal_pages(client):
    for url in ("/", "/login", "/signup", "/does-not-exist"):
        page = client.get(url).get_data(True)
        for link in ('href="/impressum"', 'href="/datenschutz"', 'href="/agb"'):
            assert link in page, (url, link)


def test_imprint_is_made_from_the_legal_details(app, client):
    empty = client.get("/impressum")
    assert empty.status_code == 200 and "Vertreten durch" not in empty.get_data(True)
    complete_legal_details()
    db.session.commit()
    page = client.get("/impressum").get_data(True)
    for expected in (LEGAL["legal_name"], ADDRESS["street"], "Vertreten durch",
                     "Erika Mustermann", "Registergericht: Amtsgericht Lüneburg",
                     "Registernummer: HRB 123456", "DE136695976",
                     f'mailto:{ADDRESS["email"]}', "§ 27a"):
        assert expected in page, expected
    assert "imprint-missing" not in page  # (only an admin sees what is missing)


def test_an_admin_sees_what_the_imprint_lacks(client, make_user, login_as):
    login_as(make_user("admin"))
    page = client.get("/impressum").get_data(True)
    assert 'id="imprint-missing"' in page and "Registergericht" in page
    assert "IBAN" not in page  # what § 5 DDG asks, not the invoices' bank details


def test_terms_and_privacy_pages_before_and_after_the_admin_writes_them(
        client, make_user, login_as):
    for url in ("/agb", "/datenschutz"):
        page = client.get(url)
        assert page.status_code == 200 and 'id="legal-empty"' in page.get_data(True)
    login_as(make_user("admin"))
    too_long = client.post("/hub/settings/texts",
                           data={"terms": "x" * (s.LEGAL_TEXT_MAX_CHARS + 1), "privacy": ""})
    assert too_long.status_code == 400 and 'data-error="terms"' in too_long.get_data(True)
    assert s.get_legal_texts()["terms"] == ""
    saved = client.post("/hub/settings/texts",
                        data={"terms": TERMS_A.replace("\n", "\r\n"), "privacy": "Wir speichern."})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("#texts")
    texts = s.get_legal_texts()
    assert texts["terms"] == TERMS_A and texts["terms_version"].startswith(texts["terms_since"])
    page = client.get("/agb").get_data(True)
    assert "<h2>§ 1 Geltung</h2>" in page and "Für alle Aufträge.\nZweite Zeile." in page
    assert 'id="legal-since"' in page and 'id="legal-empty"' not in page
    assert "Wir speichern." in client.get("/datenschutz").get_data(True)
    assert "Maßgeblich ist der deutsche Text." not in page
    english = client.get("/agb?lang=en").get_data(True)
    assert "The German text is binding." in english and "§ 1 Geltung" in english
    settings_page = client.get("/hub/settings").get_data(True)
    assert 'id="terms-version"' in settings_page and texts["terms_version"] in settings_page


def test_technician_cannot_change_the_legal_texts(client, make_user, login_as):
    login_as(make_user("technician"))
    assert client.post("/hub/settings/texts", data={"terms": "x"}).status_code == 403
    assert s.get_legal_texts()["terms"] == ""


def test_every_wording_of_the_terms_stays_readable_under_its_version(app, client):
    first = s.set_legal_texts({"terms": TERMS_A, "privacy": ""}, today=date(2026, 11, 2))
    again = s.set_legal_texts({"terms": TERMS_A, "privacy": "neu"}, today=date(2026, 11, 9))
    assert again["terms_version"] == first["terms_version"]  # same wording: same version
    assert first["terms_version"].startswith("2026-11-02-")
    second = s.set_legal_texts({"terms": TERMS_B, "privacy": ""}, today=date(2026, 12, 1))
    db.session.commit()
    assert second["terms_version"].startswith("2026-12-01-")
    assert s.current_terms_version() == second["terms_version"]
    old = client.get(f"/agb/{first['terms_version']}").get_data(True)
    assert 'id="legal-superseded"' in old and "§ 2 Zahlung" not in old and "§ 1 Geltung" in old
    now = client.get(f"/agb/{second['terms_version']}").get_data(True)
    assert 'id="legal-superseded"' not in now and "§ 2 Zahlung" in now
    assert client.get("/agb/2026-01-01-00000000").status_code == 404
    assert [v["version"] for v in s.get_legal_texts()["terms_versions"]] == [
        first["terms_version"], second["terms_version"]]
    cleared = s.set_legal_texts({"terms": "", "privacy": ""}, today=date(2026, 12, 2))
    db.session.commit()
    assert cleared["terms_version"] is None and s.current_terms_version() is None
    old = client.get(f"/agb/{second['terms_version']}").get_data(True)  # still readable,
    assert "§ 2 Zahlung" in old and 'id="legal-superseded"' not in old  # and nothing newer
    assert 'id="legal-empty"' in client.get("/agb").get_data(True)
    # the same wording in force again after a gap: a new version from the day it is again
    again = s.set_legal_texts({"terms": TERMS_B, "privacy": ""}, today=date(2026, 12, 3))
    assert again["terms_version"].startswith("2026-12-03-")
    assert again["terms_version"][11:] == second["terms_version"][11:]  # same digest


@pytest.fixture
def quote_of_a_firm(app, make_user):
    user = make_user("firm")
    part = store_part(user.firm, user, name="Halter.stl")
    make_printer()
    db.session.commit()
    options = quotes.parse_options({"material": "PLA", "quantity": 1}, s.get_materials())
    for _ in range(2):
        try:
            result = quotes.compute(part, options)
            break
        except quotes.EstimatePendingError:
            db.session.commit()  # immediate mode: the commit makes the estimate
    quote = quotes.store(part, result)
    db.session.commit()
    return user, quote


def test_an_order_names_the_terms_it_was_placed_under(quote_of_a_firm, client, login_as):
    user, quote = quote_of_a_firm
    login_as(user)
    page = client.get(f"/quotes/{quote.public_id}").get_data(True)
    assert 'id="order-terms-note"' not in page  # no terms yet: no sentence about them
    version = s.set_legal_texts({"terms": TERMS_A, "privacy": ""})["terms_version"]
    db.session.commit()
    page = client.get(f"/quotes/{quote.public_id}").get_data(True)
    assert 'id="order-terms-note"' in page and 'href="/agb"' in page
    order = orders.place_order(quote, placed_by=user)
    db.session.commit()
    assert order.terms_version == version
    from marketplace.api.v1.firm import order_json

    assert order_json(order)["terms_version"] == version  # the API says it too
    s.set_legal_texts({"terms": TERMS_B, "privacy": ""})  # the terms change afterwards
    db.session.commit()
    detail = client.get(f"/orders/{order.public_id}").get_data(True)
    assert f'href="/agb/{version}"' in detail and 'id="order-terms"' in detail


def test_an_order_is_placed_only_under_the_terms_its_page_named(quote_of_a_firm, client,
                                                                 login_as):
    user, quote = quote_of_a_firm
    login_as(user)
    shown = s.set_legal_texts({"terms": TERMS_A, "privacy": ""})["terms_version"]
    db.session.commit()
    page = client.get(f"/quotes/{quote.public_id}").get_data(True)
    assert f'name="terms_version" value="{shown}"' in page
    assert f'href="/agb/{shown}"' in page  # the note links the version it names
    s.set_legal_texts({"terms": TERMS_B, "privacy": ""}, today=date(2027, 1, 4))
    db.session.commit()  # the admin changes them while the firm's page is open
    stale = client.post(f"/quotes/{quote.public_id}/order",
                        data={"delivery": "pickup", "terms_version": shown})
    assert stale.status_code == 409 and "AGB haben sich geändert" in stale.get_data(True)
    assert db.session.scalar(db.select(Order.id).where(Order.quote_id == quote.id)) is None
    now = s.current_terms_version()
    assert f'name="terms_version" value="{now}"' in stale.get_data(True)
    placed = client.post(f"/quotes/{quote.public_id}/order",
                         data={"delivery": "pickup", "terms_version": now})
    assert placed.status_code == 303
    order = db.session.scalar(db.select(Order).where(Order.quote_id == quote.id))
    assert order.terms_version == now


def test_seed_demo_adds_sample_texts_once(runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0 and "sample terms" in first.output
    texts = s.get_legal_texts()
    assert texts["terms"].startswith("Muster") and "DSGVO" in texts["privacy"]
    s.set_legal_texts({"terms": "Eigene AGB", "privacy": "Eigene Erklärung"})
    db.session.commit()
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0 and "sample terms" not in second.output
    assert s.get_legal_texts()["terms"] == "Eigene AGB"
