"""The English UI shows no German: every page the browser tests visit, rendered in English.

A Flask test-client walk over the firm portal and the hub console, with data that makes the
pages say something (analysed parts with problems, a part that could not be read, quotes with
discount and minimum-order lines, orders in many states, a printer reporting temperatures,
flash messages from refused actions). The visible text (and the attributes a person reads or
hears: title, aria-label, placeholder, alt) must hold no German-only word, no umlaut outside
proper names, and no German-formatted figure ("15,00 €", "02.12.2026", "17,2 g").
"""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from portal_helpers import store_part

from marketplace import jobs
from marketplace.extensions import db
from marketplace.jobs import JobState
from marketplace.orders import operations as orders
from marketplace.quotes import operations as quotes
from tests.hub_factories import make_printer

DATA = Path(__file__).resolve().parent / "data"

# words no English text contains (case-sensitive; English homographs like "die", "Rot",
# "Material", "Name", "Orange", "Transparent" are left out on purpose)
GERMAN_WORDS = set("""
und der das nicht ist sind wird wurde wurden mit für oder kein keine bitte Bitte Sie Ihr Ihre
Ihren wir Wir je ab bis vom zum zur einer eines noch schon jetzt hier alle Alle
Stück Auftrag Aufträge Auftrags Drucker Teil Teile Teils Datei Dateien beliebig Schwarz Weiß
Grau Blau Grün Gelb Silber Natur Angebot Angebote Bestellung Preis Füllung Schichthöhe
gedruckt Gedruckt Warteschlange Einstellungen Übersicht Freigabe Freigeben Wartung Düse Bett
Kammer Farbe netto brutto zzgl USt MwSt Mindestbestellwert Mindestbestellwert-Zuschlag
Maschinenzeit Einrichtungspauschale Mengenrabatt Abholung Versand Stützen Stützmaterial Lage
Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag Millimeter Zentimeter Zoll flexibel
Druckzeit Minuten Stunden Uhr Bereit Druckt Abgelehnt Storniert Eingegangen Pausiert Fehler
Zeile Anmelden Abmelden Registrieren Passwort Speichern Abbrechen Zurück Teilweise Körper
Dreiecke Kanten Flächen Volumen Oberfläche Abmessungen Einheit Schichten Überhänge Wände
dünn Ausrichtung Liefertermin Voraussichtlich fertig Gültig Gesamt Summe Menge Firma Technik
Verwaltung Sprache Zustand Suche Filtern Fällig Aktion Priorität Betrieb Bauraum Nicht
erreichbar Unbekannt Druckerfehler antwortet
""".split())
# proper names that keep their umlauts in English
NAMES = {"Lüneburg", "Baden-Württemberg", "Deutsch"}
GERMAN_FIGURES = [
    re.compile(r"\d,\d{2}\s?€"),  # 15,00 €
    re.compile(r"\b\d{1,2}\.\d{1,2}\.\d{2,4}\b"),  # 02.12.2026
    re.compile(r"\b\d{2}/\d{2}/\d{4}\b"),  # 02/12/2026 beside "2 Dec 2026"
    re.compile(r"\d,\d{1,2}\s?(?:mm|g|cm|cm²|cm³|%|min|h)\b"),  # 17,2 g (English: 1,234 g)
]
READ_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "data-error-text", "data-any"}


class _Text(HTMLParser):
    """Collect what a person reads: text outside script/style, and the read attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def german_in(text: str) -> list[str]:
    """Return the German-only words, umlaut words and German figures found in ``text``."""
    found = []
    for word in re.findall(r"[\wÄÖÜäöüß-]+", text):
        bare = word.strip("-")
        if bare in NAMES:
            continue
        if bare in GERMAN_WORDS or re.search(r"[ÄÖÜäöüß]", bare):
            found.append(bare)
    for pattern in GERMAN_FIGURES:
        found += pattern.findall(text)
    return found


def test_the_detector_finds_what_leaked_before():
    """The leaks of issue 7, as they read in the English UI before Babel."""
    for leak in ("Material (PLA: 1 × 17,2 g × 40,00 €/kg)", "Mindestbestellwert 15,00 €",
                 "Colour: Schwarz", "Der Drucker antwortet nicht.", "Wed, 02/12/2026",
                 "TPU 95A (flexibel)", "3 Stück", "Bett 60.0/60 °C"):
        assert german_in(leak), leak
    for fine in ("Material (PLA: 1 × 17.2 g × €40.00/kg)", "Minimum order value €15.00",
                 "2 Dec 2026, 14:05", "1,234.5 g", "Druckhub Lüneburg", "Transparent"):
        assert not german_in(fine), fine


@pytest.fixture
def world(app, make_user, tmp_path):
    """Data that makes every page speak: parts, quotes, orders in many states, a printer."""
    firm_user = make_user("firm")
    firm_user.language = "en"
    firm = firm_user.firm
    firm.name = "Acme Tools Ltd"
    ready = store_part(firm, firm_user, DATA / "two_cubes.stl", name="bracket.stl")
    inch = store_part(firm, firm_user, DATA / "cube_20mm_inch.stl", name="cap.stl")
    bad_obj = tmp_path / "broken.obj"  # accepted at upload, refused by the analysis
    bad_obj.write_bytes(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 5\n")
    broken = store_part(firm, firm_user, bad_obj)
    assert broken.status == "error"
    big = quotes.make_quote(ready, material_code="TPU", colour="Schwarz", quantity=12)
    small = quotes.make_quote(ready, material_code="PLA", colour="any", quantity=1)
    db.session.flush()
    placed = [orders.place_order(q, placed_by=firm_user, delivery=d)
              for q, d in ((big, "pickup"), (small, "shipping"))]
    extra = quotes.make_quote(inch, material_code="PETG", colour="Weiß", quantity=2)
    db.session.flush()
    placed.append(orders.place_order(extra, placed_by=firm_user))
    printer = make_printer(name="MK3S-A", state="printing", colour="Schwarz",
                           url="http://127.0.0.1:9",  # nothing listens: control calls fail
                           last_status={"temperatures": {"bed": {"actual": 60.0, "target": 60},
                                                         "tool0": {"actual": 215.0,
                                                                   "target": 215},
                                                         "tool1": {"actual": 25.0}},
                                        "state_text": "Printing"})
    others = [make_printer(name="MK3S-B", state="printing"),
              make_printer(name="MK3S-C", state="bed_to_clear"),
              make_printer(name="MK3S-D", state="available")]
    make_printer(name="MK3S-E", state="maintenance", state_reason="nozzle")
    printer_of = {0: printer, 1: others[0], 2: others[1], 4: others[2]}
    # jobs along the state machine: printing, paused, printed, attention, failed, cancelled
    first, second, third = placed
    steps = {
        first.jobs[0]: [JobState.APPROVED, JobState.QUEUED, JobState.DISPATCHING,
                        JobState.STARTING, JobState.PRINTING],
        first.jobs[1]: [JobState.APPROVED, JobState.QUEUED, JobState.DISPATCHING,
                        JobState.STARTING, JobState.PRINTING, JobState.PAUSED],
        first.jobs[2]: [JobState.APPROVED, JobState.QUEUED, JobState.DISPATCHING,
                        JobState.STARTING, JobState.PRINTING, JobState.PRINTED],
        first.jobs[3]: [JobState.APPROVED, JobState.NEEDS_ATTENTION],
        first.jobs[4]: [JobState.APPROVED, JobState.QUEUED, JobState.DISPATCHING,
                        JobState.STARTING, JobState.PRINTING, JobState.NEEDS_ATTENTION,
                        JobState.FAILED],
        first.jobs[5]: [JobState.CANCELLED],
        second.jobs[0]: [JobState.APPROVED, JobState.QUEUED],
    }
    for job, path in steps.items():
        for state in path:
            fields = ({"printer_id": printer_of[job.copy_index - 1].id}
                      if state == JobState.DISPATCHING else {})
            jobs.transition(job, state, actor="test", reason="test", **fields)
    first.jobs[0].progress_percent = 42.0
    first.jobs[0].remote_filename = "job.gcode"
    db.session.commit()
    return {"firm_user": firm_user, "ready": ready, "inch": inch, "broken": broken,
            "quotes": (big, small, extra), "orders": placed, "printer": printer,
            "job": first.jobs[0], "attention": first.jobs[3]}


def _check(client, url: str, *, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    text = visible_text(response.get_data(as_text=True))
    leaks = german_in(text)
    assert not leaks, f"German on {url}: {sorted(set(leaks))}"
    return text


def test_firm_portal_in_english(client, login_as, world):
    login_as(world["firm_user"])
    client.get("/?lang=en")
    urls = ["/", "/parts", "/quotes", "/orders", "/account"]
    urls += [f"/parts/{world[k].public_id}" for k in ("ready", "inch", "broken")]
    urls += [f"/quotes/{q.public_id}" for q in world["quotes"]]
    urls += [f"/orders/{o.public_id}" for o in world["orders"]]
    for url in urls:
        _check(client, url)
    _check(client, "/parts/nothing-here", status=404)
    # the live price box: every figure and line as the page shows it
    for options in ({"material": "PLA", "quantity": 1}, {"material": "TPU", "quantity": 12,
                                                         "colour": "Schwarz"}):
        answer = client.post(f"/parts/{world['ready'].public_id}/price", json=options)
        assert answer.status_code == 200
        shown = answer.get_json()["display"]
        texts = [shown[k] for k in ("gross", "net", "vat", "delivery_date", "material",
                                    "print_time", "size")]
        texts += [f"{line['text']} {line['amount']}" for line in shown["lines"]]
        leaks = german_in(" | ".join(texts))
        assert not leaks, (options, leaks, texts)
    refused = client.post(f"/parts/{world['ready'].public_id}/price",  # 1.27 m: fits nowhere
                          json={"material": "PLA", "units": "inch"})
    assert refused.status_code == 400 and not german_in(refused.get_json()["error"]["message"])
    status = client.get(f"/parts/{world['broken'].public_id}/status").get_json()
    assert status["error"] and not german_in(status["error"])


def test_anonymous_pages_in_english(client):
    client.get("/login?lang=en")
    for url in ["/", "/login", "/signup", "/password/forgot", "/parts"]:
        _check(client, url)


@pytest.mark.parametrize("role", ["technician", "admin"])
def test_hub_console_in_english(client, login_as, make_user, world, role):
    staff = make_user(role)
    staff.language = "en"
    db.session.commit()
    login_as(staff)
    order = world["orders"][2]
    urls = ["/hub/", "/hub/?tab=queued", "/hub/?tab=printing", "/hub/?tab=attention",
            "/hub/?tab=done", "/hub/?tab=closed", "/hub/printers", "/hub/printers/new",
            f"/hub/printers/{world['printer'].public_id}/edit", "/hub/dashboard",
            f"/hub/orders/{order.public_id}/reject", f"/hub/jobs/{world['job'].public_id}",
            f"/hub/jobs/{world['attention'].public_id}"]
    if role == "admin":
        urls.append("/hub/settings")
    for url in urls:
        _check(client, url)
    cards = client.get("/api/v1/hub/printers").get_json()
    html = " ".join(card["html"] for card in cards["printers"]) + cards["summary_html"]
    assert not german_in(visible_text(html))
    # actions: what they flash, the notes they leave, the errors a bad form gets
    waiting = world["orders"][1]
    for url, data in [(f"/hub/orders/{order.public_id}/priority", {"priority": "5"}),
                      (f"/hub/orders/{waiting.public_id}/priority", {"priority": "x"}),
                      (f"/hub/orders/{waiting.public_id}/printer",
                       {"printer": world["printer"].public_id}),
                      (f"/hub/orders/{order.public_id}/approve", {}),
                      ("/hub/printers/new", {"name": "", "url": "ftp://x", "api_key": "k",
                                             "build_x_mm": "abc"}),
                      ("/hub/printers/new", {"name": "MK4", "url": "http://127.0.0.1:1",
                                             "api_key": "short", "build_x_mm": "abc",
                                             "nozzle_mm": "0.3", "colour": ""})]:
        response = client.post(url, data=data, follow_redirects=True)
        assert response.status_code in (200, 400), url
        leaks = german_in(visible_text(response.get_data(as_text=True)))
        assert not leaks, (url, leaks)
    _check(client, f"/hub/jobs/{waiting.jobs[0].public_id}")  # its notes: priority, printer
    if role == "admin":
        response = client.post("/hub/settings/pricing", data={"setup_fee": "x", "vat": "200"})
        assert response.status_code == 400
        assert not german_in(visible_text(response.get_data(as_text=True)))
    # a refused printer command says why, in English (printers/control.py)
    printer = world["printer"]
    response = client.post(f"/hub/printers/{printer.public_id}/job/pause", follow_redirects=True)
    text = visible_text(response.get_data(as_text=True))
    assert "printer" in text.lower() and not german_in(text), text


def test_mails_to_an_english_reader_are_english(world):
    from marketplace.models import Notification

    rows = db.session.scalars(sa.select(Notification).where(
        Notification.to_address == world["firm_user"].email)).all()
    assert rows
    for row in rows:
        leaks = german_in(row.subject + "\n" + row.body)
        assert not leaks, (row.kind, leaks, row.body)


def test_english_pdf(client, login_as, world):
    from portal_helpers import pdf_text

    login_as(world["firm_user"])
    client.get("/?lang=en")
    for quote in world["quotes"]:
        text = pdf_text(client.get(f"/quotes/{quote.public_id}/pdf").data)
        assert not german_in(text), sorted(set(german_in(text)))
    order = world["orders"][0]
    text = pdf_text(client.get(f"/orders/{order.public_id}/pdf").data)
    assert not german_in(text), sorted(set(german_in(text)))


def test_delivery_dates_have_one_format(client, login_as, world):
    login_as(world["firm_user"])
    client.get("/?lang=en")
    quote = world["quotes"][0]
    page = _check(client, f"/quotes/{quote.public_id}")
    from marketplace.formatting import format_date

    assert format_date(quote.delivery_date, "en") in page
    assert format_date(date(2026, 12, 2), "en") == "2 Dec 2026"
    answer = client.post(f"/parts/{world['ready'].public_id}/price", json={"material": "PLA"})
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}", answer.get_json()["display"]
                        ["delivery_date"])
