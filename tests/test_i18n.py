"""German by default, English second: formatting, translation, and how the language is chosen.

That every string has English is checked against the catalogues in ``test_catalogues.py``.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from marketplace import formatting, i18n
from marketplace.extensions import db

pure = pytest.mark.db_independent


@pure
@pytest.mark.parametrize(
    ("cents", "de", "en"),
    [(123456, "1.234,56\u00a0€", "€1,234.56"), (5, "0,05\u00a0€", "€0.05"),
     (100, "1,00\u00a0€", "€1.00"), (-2550, "-25,50\u00a0€", "-€25.50"),
     (123456789, "1.234.567,89\u00a0€", "€1,234,567.89"), (None, "–", "–")],
)
def test_money(cents, de, en):
    assert formatting.format_money(cents, "de") == de
    assert formatting.format_money(cents, "en") == en


@pure
def test_numbers_lengths_masses_percent():
    assert formatting.format_number(1234.5, 1, "de") == "1.234,5"
    assert formatting.format_number(1234.5, 1, "en") == "1,234.5"
    assert formatting.format_number(0.125, 2, "de") == "0,13"  # half up, not banker's rounding
    assert formatting.format_number(999999, 0, "de") == "999.999"
    assert formatting.format_mm(12.34, lang="de") == "12,3\u00a0mm"
    assert formatting.format_grams(1234.56, lang="de") == "1.234,6\u00a0g"
    assert formatting.format_percent(12.5, 1, "de") == "12,5\u00a0%"
    assert formatting.format_percent(12.5, 1, "en") == "12.5%"


@pure
@pytest.mark.parametrize(
    ("seconds", "text"),
    [(7500, "2\u00a0h 05\u00a0min"), (2700, "45\u00a0min"), (30, "1\u00a0min"), (0, "0\u00a0min"),
     (3600, "1\u00a0h 00\u00a0min"), (3601, "1\u00a0h 01\u00a0min"),
     (90000, "25\u00a0h 00\u00a0min"), (None, "–")],
)
def test_duration(seconds, text):
    assert formatting.format_duration(seconds) == text


@pure
def test_dates_in_the_hubs_time_zone():
    assert formatting.format_date(date(2026, 3, 9), "de") == "09.03.2026"
    assert formatting.format_date(date(2026, 3, 9), "en") == "9 Mar 2026"
    assert formatting.format_date("2026-12-24", "de") == "24.12.2026"
    # stored as naive UTC: 23:30 UTC on 31 Dec is already 1 Jan in Lüneburg
    assert formatting.format_date(datetime(2026, 12, 31, 23, 30), "de") == "01.01.2027"
    assert formatting.format_datetime(datetime(2026, 7, 1, 12, 5), "de") == "01.07.2026, 14:05"


def test_state_labels_and_placeholders(app):
    with app.app_context(), i18n.force_locale("en"):
        assert i18n.state_label("ready_for_pickup") == "Ready for pick-up"
        assert i18n.colour_label("Schwarz") == "Black"
        assert i18n.material_label("TPU 95A (flexibel)") == "TPU 95A (flexible)"
        assert i18n.gettext("Auftrag %(number)s: %(state)s", number="DH-1",
                            state="x") == "Order DH-1: x"
        assert i18n.gettext("Text ohne Übersetzung") == "Text ohne Übersetzung"
        assert i18n.gettext("Abmelden") == "Sign out"
        assert str(i18n.lazy_gettext("Passwort")) == "Password"
        assert i18n.ngettext("%(num)s Teil wartet auf Freigabe",
                             "%(num)s Teile warten auf Freigabe", 2) == "2 pieces await approval"
    with app.app_context():
        assert i18n.state_label("rejected") == "Abgelehnt"
        assert i18n.state_label("some_new_state") == "some_new_state"
        assert i18n.colour_label("any") == "beliebig"
        assert i18n.colour_label("Schwarz") == "Schwarz"
        assert i18n.gettext("Abmelden") == "Abmelden"


# --- the language of a request ----------------------------------------------------------------


def page_lang(response) -> str:
    return re.search(r'<html lang="(\w+)"', response.get_data(as_text=True)).group(1)


def test_german_by_default_and_accept_language(client):
    assert page_lang(client.get("/login")) == "de"
    response = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"})
    assert page_lang(response) == "en"
    assert "Sign in" in response.get_data(as_text=True)
    fr = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert page_lang(fr) == "de"


def test_lang_parameter_is_remembered_in_the_session(client):
    assert page_lang(client.get("/login?lang=en")) == "en"
    assert page_lang(client.get("/login")) == "en"
    assert page_lang(client.get("/login", headers={"Accept-Language": "de"})) == "en"
    assert page_lang(client.get("/login?lang=de")) == "de"
    assert page_lang(client.get("/login?lang=xx")) == "de"  # unknown: ignored


def test_signed_in_users_setting_wins_and_the_switcher_saves_it(client, make_user, login_as):
    user = make_user("firm")
    user.language = "en"
    db.session.commit()
    login_as(user)
    assert page_lang(client.get("/", headers={"Accept-Language": "de"})) == "en"
    assert page_lang(client.get("/?lang=de")) == "de"
    db.session.expire_all()
    assert db.session.get(type(user), user.id).language == "de"  # e-mails follow it too
    assert page_lang(client.get("/")) == "de"


def test_switcher_links_keep_the_page_and_its_query(client):
    page = client.get("/login?next=/orders").get_data(as_text=True)
    assert 'href="/login?next=%2Forders&amp;lang=en"' in page


def test_filters_in_templates(app):
    from flask import render_template_string

    with app.test_request_context("/?lang=de"):
        app.preprocess_request()
        text = render_template_string(
            "{{ 123456|money }} | {{ 7500|duration }} | {{ 12.34|mm }} | {{ d|date }} | "
            "{{ 'printing'|state_label }} | {{ _('Abmelden') }}", d=date(2026, 11, 25))
    assert text == ("1.234,56\u00a0€ | 2\u00a0h 05\u00a0min | 12,3\u00a0mm | 25.11.2026 | "
                    "Wird gedruckt | Abmelden")
    with app.test_request_context("/?lang=en"):
        app.preprocess_request()
        text = render_template_string("{{ 123456|money }} | {{ _('Abmelden') }}")
    assert text == "€1,234.56 | Sign out"


def test_the_machine_line_names_the_printer_class_in_words(app):
    """Walk finding: "3,00 €/h (standard))" showed the class's key in nested brackets."""
    from marketplace import messages

    line = {"code": "machine", "amount_cents": 100,
            "params": {"quantity": 2, "time": {"duration": 1800}, "rate": {"money": 300},
                       "printer_class": "large"}}
    assert messages.line_texts(line, "de") == (
        "Maschinenzeit", "2 × 30\u00a0min × 3,00\u00a0€/h, Großformatdrucker")
    assert messages.line_texts(line, "en")[1].endswith("€3.00/h, large-format printer")
    line["params"]["printer_class"] = "Harz-Drucker"  # a hub's own class: as it is named
    assert messages.line_texts(line, "de")[1].endswith("/h, Harz-Drucker")


def test_iban_in_groups_of_four_for_people():
    """DIN 5008: an IBAN is printed in groups of four (stored and in the XML without)."""
    assert formatting.format_iban("DE89370400440532013000") == "DE89 3704 0044 0532 0130 00"
    assert formatting.format_iban("") == ""
