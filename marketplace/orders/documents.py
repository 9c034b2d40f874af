"""Quote and order confirmation as PDF (A4), built with reportlab, in the reader's language.

The document shows the hub's address, the firm (with its VAT id), the part and its options, the
price lines, net, VAT and gross, and the estimated delivery date; every page ends with the hub's
legal details (:func:`legal_footer_lines`, shared with the invoices). Amounts come from the stored
quote (integer cents); figures are formatted by :mod:`marketplace.formatting`, words by the
gettext catalogues, in the language in force (the request's; the mailer forces the
recipient's).
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from marketplace import messages
from marketplace.formatting import (
    format_date,
    format_duration,
    format_grams,
    format_iban,
    format_mm,
    format_money,
    format_percent,
    format_size,
)
from marketplace.i18n import colour_label, get_language
from marketplace.i18n import gettext as _
from marketplace.models import Firm, Order, Part, Quote
from marketplace.parts import thumbnails

PICTURE_MM = 38  # the part's picture next to its details


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
        lines.append(_("USt-IdNr.") + f": {firm.vat_id}")
    return lines


def _hub_lines(hub: dict[str, Any]) -> list[str]:
    lines = [hub.get("name") or "Druckhub"]
    if hub.get("street"):
        lines.append(hub["street"])
    city = " ".join(x for x in (hub.get("postcode"), hub.get("city")) if x)
    if city:
        lines.append(city)
    for key, label in (("phone", _("Tel.")), ("email", _("E-Mail")), ("vat_id", _("USt-IdNr."))):
        if hub.get(key):
            lines.append(f"{label} {hub[key]}")
    return lines


def legal_footer_lines(hub: dict[str, Any]) -> list[str]:
    """Return the footer lines of every document: seller, register entry, VAT id, managing
    director, bank account (what a German business letter and invoice must state)."""
    first = [hub.get("legal_name") or hub.get("name") or "Druckhub"]
    place = " ".join(x for x in (hub.get("postcode"), hub.get("city")) if x)
    first += [x for x in (hub.get("street"), place) if x]
    for key, label in (("phone", _("Tel.")), ("email", _("E-Mail"))):
        if hub.get(key):
            first.append(f"{label} {hub[key]}")
    second = []
    if hub.get("register_court") or hub.get("register_number"):
        second.append(" ".join(x for x in (hub.get("register_court"),
                                           hub.get("register_number")) if x))
    if hub.get("managing_director"):
        second.append(_("Geschäftsführung: %(name)s", name=hub["managing_director"]))
    if hub.get("vat_id"):
        second.append(_("USt-IdNr.") + f" {hub['vat_id']}")
    if hub.get("tax_number"):
        second.append(_("St.-Nr.") + f" {hub['tax_number']}")
    bank = [x for x in (hub.get("bank_name"),
                        f"IBAN {format_iban(hub['iban'])}" if hub.get("iban") else "",
                        f"BIC {hub['bic']}" if hub.get("bic") else "") if x]
    return [" · ".join(line) for line in (first, second, bank) if line]


def footer_painter(hub: dict[str, Any]):
    """Return a reportlab page callback that draws the legal footer on every page."""
    lines = legal_footer_lines(hub)

    def paint(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(getattr(doc, "footer_font", "Helvetica"), 7)
        canvas.setFillColor(colors.HexColor("#555555"))
        y = 10 * mm + 9 * (len(lines) - 1)
        for line in lines:
            canvas.drawCentredString(A4[0] / 2, y, line)
            y -= 9
        canvas.restoreState()

    return paint


def terms_lines(hub: dict[str, Any], terms_version: str | None = None) -> list[str]:
    """The terms every quote and order confirmation states: the AGB version it refers to
    (``terms_version``: an order's, for a quote the one in force; None where the hub keeps
    no AGB text), with the address where that wording stays readable; then the hub's own
    terms (Einstellungen → Angebote), else the payment term of the legal details."""
    from marketplace.mail.notifications import public_url
    from marketplace.settings import operations as settings

    agb = []
    if terms_version:
        url = public_url("portal.terms_version", version=terms_version)
        since = format_date(settings.terms_version_date(terms_version))
        # the address last, without a full stop a PDF viewer would take into the link
        agb.append(_("Es gelten unsere Allgemeinen Geschäftsbedingungen in der Fassung vom "
                     "%(date)s, nachzulesen unter %(url)s", date=since, url=url) if url else
                   _("Es gelten unsere Allgemeinen Geschäftsbedingungen in der Fassung vom "
                     "%(date)s.", date=since))
    own = str((hub["quote_terms"] if "quote_terms" in hub
               else settings.get_quote_terms()["terms"]) or "").strip()
    if own:
        return agb + [line.strip() for line in own.split("\n") if line.strip()]
    days = hub.get("payment_days") or settings.DEFAULT_PAYMENT_DAYS
    if agb:
        return agb + [_("Zahlbar innerhalb von %(days)s Tagen nach Rechnungsstellung ohne "
                        "Abzug.", days=days)]
    return [_("Es gelten unsere Allgemeinen Geschäftsbedingungen. Zahlbar innerhalb von "
              "%(days)s Tagen nach Rechnungsstellung ohne Abzug.", days=days)]


def part_picture(part: Part, size_mm: float = PICTURE_MM) -> Image | None:
    """The part's picture as a flowable (None while it is not drawn: the page goes without)."""
    path = thumbnails.ready_path(part)
    if path is None:
        return None
    picture = Image(str(path), width=size_mm * mm, height=size_mm * mm, mask="auto")
    picture.hAlign = "RIGHT"
    return picture


def _with_picture(details: list[list[str]], picture: Image | None, para, small) -> Table:
    """A two-column table of facts, with the part's picture on its right if there is one."""
    text_mm = 115 - (PICTURE_MM + 4 if picture is not None else 0)
    table = Table([[para(a, small), para(b, small)] for a, b in details],
                  colWidths=[55 * mm, text_mm * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    if picture is None:
        return table
    table = Table([[table, picture]], colWidths=[(55 + text_mm) * mm, (PICTURE_MM + 4) * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return table


def confirmation_pdf(quote: Quote, hub: dict[str, Any], order: Order | None = None,
                     *, today: date | None = None) -> bytes:
    """Return the PDF of ``quote`` (an offer) or of ``order`` (an order confirmation)."""
    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["Normal"], fontSize=9, leading=11)
    para = lambda text, style=styles["Normal"]: Paragraph(escape(text), style)  # noqa: E731
    buf = io.BytesIO()
    title = (_("Auftragsbestätigung %(number)s", number=order.number) if order is not None
             else _("Angebot %(number)s", number=quote.public_id[:8].upper()))
    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
        bottomMargin=24 * mm, title=title, author=hub.get("name") or "Druckhub",
        lang="en-GB" if get_language() == "en" else "de-DE",
    )
    story: list[Any] = []
    head = Table(
        [[para("\n".join(_hub_lines(hub)).replace("\n", " · "), small),
          para(_("Datum: %(date)s", date=format_date(
              today or (order.created_at if order else quote.created_at))), small)]],
        colWidths=[120 * mm, 50 * mm],
    )
    story += [head, Spacer(1, 8 * mm)]
    story += [Paragraph("<br/>".join(escape(x) for x in _firm_lines(quote.firm)),
                        styles["Normal"]), Spacer(1, 10 * mm)]
    story.append(Paragraph(escape(title), styles["Title"]))
    if order is not None:
        intro = _("Vielen Dank für Ihre Bestellung vom %(date)s. Wir bestätigen den Auftrag zu "
                  "folgenden Bedingungen:", date=format_date(order.created_at))
        if order.reference:
            intro += " " + _("Ihre Referenz: %(reference)s.", reference=order.reference)
        intro += " " + _("Grundlage ist unser Angebot %(number)s vom %(date)s (gültig bis "
                         "%(valid)s).", number=quote.public_id[:8].upper(),
                         date=format_date(quote.created_at), valid=format_date(quote.valid_until))
    else:
        intro = _("Gern bieten wir Ihnen den Druck des folgenden Teils an. Das Angebot gilt "
                  "bis %(date)s.", date=format_date(quote.valid_until))
        if len(quote.lines) > 1:
            intro = _("Gern bieten wir Ihnen den Druck der folgenden %(n)s Teile in einem "
                      "Auftrag an. Das Angebot gilt bis %(date)s.", n=len(quote.lines),
                      date=format_date(quote.valid_until))
    story += [para(intro), Spacer(1, 5 * mm)]

    from marketplace.quotes import operations as quotes

    lines = quotes.lines_of(quote)
    units = {"mm": "mm", "cm": "cm", "m": "m", "inch": _("Zoll")}
    for line in lines:
        part = line.part
        analysis = part.analysis or {}
        bbox = (analysis.get("mesh") or {}).get("bbox_mm")
        if len(lines) > 1:
            story.append(Paragraph(escape(_("Teil %(n)s: %(name)s", n=line.position,
                                             name=part.original_name)), styles["Heading4"]))
        details = [
            [_("Datei"), part.original_name],
            [_("Material / Farbe"), f"{line.material_code} / {colour_label(line.colour)}"],
            [_("Stückzahl"), str(line.quantity)],
            [_("Füllung / Schichthöhe"), f"{format_percent(line.infill_percent)} / "
                                         f"{format_mm(line.layer_height_mm, 2)}"],
            [_("Einheit der Datei"), units.get(line.units, line.units)],
            [_("Material je Stück"), format_grams(line.material_g)],
            [_("Druckzeit je Stück"), format_duration(line.print_time_s)],
        ]
        if bbox:
            details.append([_("Abmessungen"), format_size(bbox)])
        if line.with_supports is not None:
            details.append([_("Stützstrukturen"), _("automatisch, im Preis enthalten")
                            if line.with_supports else _("keine")])
        picture = part_picture(part, PICTURE_MM if len(lines) == 1 else PICTURE_MM * 0.6)
        story += [_with_picture(details, picture, para, small), Spacer(1, 4 * mm)]

    delivery = order.delivery if order is not None else quote.delivery
    express = bool(order.express if order is not None else quote.express)
    ship_to = order.ship_to if order is not None else quote.ship_to
    when = order.due_date if order is not None else quote.delivery_date
    facts = [[_("Lieferung"), (_("Versand") if delivery == "shipping" else _("Abholung im Hub"))
              + (" · " + _("Express") if express else "")]]
    if delivery == "shipping" and ship_to:
        facts.append([_("Lieferadresse"), ", ".join(
            x for x in (ship_to.get("name"), ship_to.get("street"),
                        f"{ship_to.get('postcode', '')} {ship_to.get('city', '')}".strip()) if x)])
    facts.append([_("Voraussichtliche Lieferung") if delivery == "shipping"
                  else _("Abholbereit ab"), format_date(when) if when else
                  _("Den Liefertermin bestätigt der Hub nach der Prüfung.")])
    story += [_with_picture(facts, None, para, small), Spacer(1, 6 * mm)]

    price = (order.price if order is not None else quote.breakdown) or {}
    rows: list[list[Any]] = [[_("Position"), _("Betrag")]]
    for line in lines:
        for item in quotes.part_price_lines(price, line.position):
            label, detail = messages.line_texts(item)
            if detail:
                label += f" ({detail})"
            if len(lines) > 1:
                label = _("Teil %(n)s", n=line.position) + ": " + label
            rows.append([para(label, small), format_money(int(item.get("amount_cents", 0)))])
    for item in quotes.order_price_lines(price):
        label, detail = messages.line_texts(item)
        if detail:
            label += f" ({detail})"
        rows.append([para(label, small), format_money(int(item.get("amount_cents", 0)))])
    vat_percent = int(price.get("vat_percent", 19))
    net, vat, gross = ((order.total_net_cents, order.total_vat_cents, order.total_gross_cents)
                       if order is not None else
                       (quote.net_cents, quote.vat_cents, quote.gross_cents))
    rows += [
        [_("Summe netto"), format_money(net)],
        [_("zzgl. %(p)s %% USt.", p=vat_percent), format_money(vat)],
        [_("Gesamtbetrag brutto"), format_money(gross)],
    ]
    money = Table(rows, colWidths=[130 * mm, 40 * mm], repeatRows=1)  # its head on every page
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
    story.append(para(_("Der Liefertermin ist eine Schätzung aus der aktuellen Auslastung des "
                        "Hubs. Alle Preise in Euro."), small))
    story += [Spacer(1, 4 * mm), Paragraph(escape(_("Bedingungen")), styles["Heading4"])]
    from marketplace.orders.operations import order_of
    from marketplace.settings import operations as settings

    # the AGB its order was placed under (an offer that was ordered too); an offer not ordered
    # yet: those an order placed now would be placed under
    placed = order if order is not None else order_of(quote)
    version = placed.terms_version if placed is not None else settings.current_terms_version()
    story += [para(line, small) for line in terms_lines(hub, version)]
    footer = footer_painter(hub)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


def filename_for(quote: Quote, order: Order | None = None) -> str:
    """Return a download name: ``Auftragsbestaetigung-DH-2026-000042.pdf`` / ``Angebot-….pdf``."""
    if order is not None:
        return _("Auftragsbestätigung-%(number)s.pdf", number=order.number)
    return _("Angebot-%(number)s.pdf", number=quote.public_id[:8].upper())
