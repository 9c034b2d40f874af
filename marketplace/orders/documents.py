"""Quote and order confirmation as PDF (German, A4), built with reportlab.

The document shows the hub's address, the firm (with its VAT id), the part and its options, the
price lines, net, 19 % VAT and gross, and the estimated delivery date. Amounts come from the
stored quote (integer cents); this module only formats them.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from marketplace.models import Firm, Order, Quote

_UNITS = {"mm": "mm", "cm": "cm", "m": "m", "inch": "Zoll"}


def euro(cents: int) -> str:
    """Format cents the German way: 123456 -> "1.234,56 €"."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(int(cents)), 100)
    return f"{sign}{whole:,}".replace(",", ".") + f",{frac:02d} €"


def de_date(value: date | datetime | None) -> str:
    """Format a date as 25.11.2026 ("–" if unknown)."""
    return value.strftime("%d.%m.%Y") if value else "–"


def _num(value: float, places: int = 1) -> str:
    return f"{value:,.{places}f}".replace(",", "X").replace(".", ",").replace("X", ".")


def _hours(seconds: int) -> str:
    minutes = int(round(seconds / 60))
    h, m = divmod(minutes, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min"


def _firm_lines(firm: Firm) -> list[str]:
    lines = [firm.name]
    if firm.contact_name:
        lines.append(firm.contact_name)
    if firm.street:
        lines.append(firm.street)
    city = " ".join(x for x in (firm.postcode, firm.city) if x)
    if city:
        lines.append(city)
    if firm.vat_id:
        lines.append(f"USt-IdNr.: {firm.vat_id}")
    return lines


def _hub_lines(hub: dict[str, Any]) -> list[str]:
    lines = [hub.get("name") or "Druckhub"]
    if hub.get("street"):
        lines.append(hub["street"])
    city = " ".join(x for x in (hub.get("postcode"), hub.get("city")) if x)
    if city:
        lines.append(city)
    for key, label in (("phone", "Tel."), ("email", "E-Mail"), ("vat_id", "USt-IdNr.")):
        if hub.get(key):
            lines.append(f"{label} {hub[key]}")
    return lines


def confirmation_pdf(quote: Quote, hub: dict[str, Any], order: Order | None = None,
                     *, today: date | None = None) -> bytes:
    """Return the PDF of ``quote`` (an offer) or of ``order`` (an order confirmation)."""
    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["Normal"], fontSize=9, leading=11)
    para = lambda text, style=styles["Normal"]: Paragraph(escape(text), style)  # noqa: E731
    buf = io.BytesIO()
    title = (f"Auftragsbestätigung {order.number}" if order is not None
             else f"Angebot {quote.public_id[:8].upper()}")
    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
        bottomMargin=18 * mm, title=title, author=hub.get("name") or "Druckhub",
        lang="de-DE",
    )
    story: list[Any] = []
    head = Table(
        [[para("\n".join(_hub_lines(hub)).replace("\n", " · "), small),
          para(f"Datum: {de_date(today or (order.created_at if order else quote.created_at))}",
               small)]],
        colWidths=[120 * mm, 50 * mm],
    )
    story += [head, Spacer(1, 8 * mm)]
    story += [Paragraph("<br/>".join(escape(x) for x in _firm_lines(quote.firm)),
                        styles["Normal"]), Spacer(1, 10 * mm)]
    story.append(Paragraph(escape(title), styles["Title"]))
    if order is not None:
        intro = (f"Vielen Dank für Ihre Bestellung vom {de_date(order.created_at)}. "
                 "Wir bestätigen den Auftrag zu folgenden Bedingungen:")
        if order.reference:
            intro += f" Ihre Referenz: {order.reference}."
    else:
        intro = ("Gern bieten wir Ihnen den Druck des folgenden Teils an. "
                 f"Das Angebot gilt bis {de_date(quote.valid_until)}.")
    story += [para(intro), Spacer(1, 5 * mm)]

    part = quote.part
    analysis = part.analysis or {}
    bbox = (analysis.get("mesh") or {}).get("bbox_mm")
    details = [
        ["Datei", part.original_name],
        ["Material / Farbe", f"{quote.material_code} / "
                             f"{'beliebig' if quote.colour == 'any' else quote.colour}"],
        ["Stückzahl", str(quote.quantity)],
        ["Füllung / Schichthöhe", f"{quote.infill_percent} % / {_num(quote.layer_height_mm, 2)} mm"],
        ["Einheit der Datei", _UNITS.get(quote.units, quote.units)],
        ["Material je Stück", f"{_num(quote.material_g)} g"],
        ["Druckzeit je Stück", _hours(quote.print_time_s)],
    ]
    if bbox:
        details.append(["Abmessungen", " × ".join(_num(float(v)) for v in bbox) + " mm"])
    details.append(["Voraussichtlich fertig", de_date(quote.delivery_date)])
    if order is not None:
        details.append(["Lieferung", "Versand" if order.delivery == "shipping" else "Abholung"])
    table = Table([[para(a, small), para(b, small)] for a, b in details],
                  colWidths=[55 * mm, 115 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    story += [table, Spacer(1, 6 * mm)]

    price = quote.breakdown or {}
    rows: list[list[Any]] = [["Position", "Betrag"]]
    for line in price.get("lines", []):
        label = line.get("label", "")
        if line.get("detail"):
            label += f" ({line['detail']})"
        rows.append([para(label, small), euro(int(line.get("amount_cents", 0)))])
    vat_percent = int(price.get("vat_percent", 19))
    rows += [
        ["Summe netto", euro(quote.net_cents)],
        [f"zzgl. {vat_percent} % USt.", euro(quote.vat_cents)],
        ["Gesamtbetrag brutto", euro(quote.gross_cents)],
    ]
    money = Table(rows, colWidths=[130 * mm, 40 * mm])
    money.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
        ("ALIGN", (1, 0), (1, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
        ("LINEABOVE", (0, -3), (-1, -3), 0.5, colors.black),
        ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    story += [money, Spacer(1, 8 * mm)]
    story.append(para(
        "Der Liefertermin ist eine Schätzung aus der aktuellen Auslastung des Hubs. "
        "Alle Preise in Euro.", small))
    doc.build(story)
    return buf.getvalue()


def filename_for(quote: Quote, order: Order | None = None) -> str:
    """Return a download name: ``Auftragsbestaetigung-DH-2026-000042.pdf`` / ``Angebot-….pdf``."""
    if order is not None:
        return f"Auftragsbestätigung-{order.number}.pdf"
    return f"Angebot-{quote.public_id[:8].upper()}.pdf"
