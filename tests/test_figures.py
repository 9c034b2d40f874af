"""One figure, one look: the page, the PDF and the mail format a value the same way (Babel).

Before ``marketplace/formatting.py`` there were six copies that disagreed: 150 s read "3 min"
on the quote page and "2 min" in the PDF, dates came as "Wed, 02/12/2026" beside "2 Dec 2026".
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask_babel import force_locale
from portal_helpers import pdf_text

from marketplace import formatting
from marketplace.extensions import db
from marketplace.mail import notifications
from marketplace.models import Part, Quote, utcnow
from marketplace.orders import documents
from marketplace.orders import operations as orders

BREAKDOWN = {
    "currency": "EUR", "vat_percent": 19, "net_cents": 103745, "vat_cents": 19711,
    "gross_cents": 123456,
    "lines": [{"code": "setup", "params": {}, "amount": "1037.45", "amount_cents": 103745}],
}


@pytest.fixture
def order_and_user(make_user):
    def make(lang: str):
        user = make_user("firm")
        user.language = lang
        part = Part(firm=user.firm, original_name="Welle.stl", sha256="b" * 64,
                    file_format="stl", size_bytes=1000, status="ready", units="mm",
                    analysis={"mesh": {"bbox_mm": [40.0, 30.0, 20.0], "units": "mm"}})
        quote = Quote(firm=user.firm, part=part, material_code="PLA", colour="Schwarz",
                      quantity=1, infill_percent=15, layer_height_mm=0.2, units="mm",
                      material_g=1234.56, print_time_s=150, net_cents=103745, vat_cents=19711,
                      gross_cents=123456, breakdown=BREAKDOWN, delivery_date=date(2026, 12, 2),
                      valid_until=utcnow() + timedelta(days=30))
        db.session.add_all([part, quote])
        db.session.flush()
        order = orders.place_order(quote, placed_by=user)
        db.session.commit()
        return order, user

    return make


@pytest.mark.parametrize(("lang", "duration", "money", "day"), [
    ("de", "3\u00a0min", "1.234,56\u00a0€", "02.12.2026"),
    ("en", "3\u00a0min", "€1,234.56", "2 Dec 2026"),
])
def test_page_pdf_and_mail_show_the_same_figures(client, login_as, order_and_user, lang,
                                                 duration, money, day):
    order, user = order_and_user(lang)
    quote = order.quote
    # the one formatter says what each figure reads like
    assert formatting.format_duration(quote.print_time_s, lang) == duration  # a started minute
    assert formatting.format_money(quote.gross_cents, lang) == money
    assert formatting.format_date(quote.delivery_date, lang) == day
    grams = formatting.format_grams(quote.material_g, 1, lang)

    login_as(user)
    page = client.get(f"/quotes/{quote.public_id}?lang={lang}").get_data(as_text=True)
    with force_locale(lang):
        pdf = pdf_text(documents.confirmation_pdf(quote, {"name": "Druckhub"}, order))
    _subject, mail = notifications.render_order_mail(order, "received", None, user)

    def plain(text: str) -> str:  # the PDF's text layer has plain spaces
        return text.replace("\u00a0", " ")

    for figure in (duration, money, day, grams):
        assert figure in page, (figure, "page")
        assert plain(figure) in plain(pdf), (figure, "pdf")
    for figure in (money, day):
        assert figure in mail, (figure, "mail")
    assert "2\u00a0min" not in page and "2 min" not in plain(pdf)  # 150 s is not rounded down
