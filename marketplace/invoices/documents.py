"""An invoice or credit note as a PDF (A4, reportlab), in German, ready for PDF/A-3.

The page shows what § 14 UStG asks of an invoice: the hub's full name, address and VAT id,
the firm's name, address and VAT id, the invoice number and date, the delivery date, every line
with quantity and price, net per rate, VAT 19 % and gross; then the payment terms, and the
hub's legal details (register entry, managing director, bank) in the footer on every page.
Everything comes from the invoice's snapshot, never from today's settings.

For PDF/A every font is embedded (Bitstream Vera, shipped with reportlab: the standard 14
fonts are not embedded) and the file gets an sRGB output intent (:func:`with_output_intent`);
:mod:`marketplace.invoices.einvoice` then embeds the XML and the PDF/A-3 metadata.
"""

from __future__ import annotations

import io
import os
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

import reportlab
from flask_babel import force_locale
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    StreamObject,
    TextStringObject,
)
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from marketplace.formatting import (
    format_date,
    format_iban,
    format_money,
    format_percent,
    format_unit_price,
)
from marketplace.i18n import gettext as _
from marketplace.invoices.models import Invoice
from marketplace.orders.documents import footer_painter

FONT, BOLD = "DHVera", "DHVera-Bold"
_FONT_DIR = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
# sRGB (IEC 61966-2.1) as LittleCMS builds it ("No copyright, use freely"), for the output intent
SRGB_ICC = os.path.join(os.path.dirname(__file__), "srgb.icc")
UNIT_LABELS = {"H87": "Stück", "C62": "pauschal"}


def _register_fonts() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, os.path.join(_FONT_DIR, "Vera.ttf")))
        pdfmetrics.registerFont(TTFont(BOLD, os.path.join(_FONT_DIR, "VeraBd.ttf")))
        pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT,
                                      boldItalic=BOLD)


def title_of(invoice: Invoice) -> str:
    """"Rechnung RE-…" or "Stornorechnung ST-…"."""
    if invoice.kind == "credit_note":
        return _("Stornorechnung %(number)s", number=invoice.number)
    return _("Rechnung %(number)s", number=invoice.number)


def filename_for(invoice: Invoice, suffix: str = "pdf") -> str:
    """Download name: ``Rechnung-RE-2026-000001.pdf`` / ``Stornorechnung-ST-….xml``."""
    with force_locale("de"):
        stem = _("Stornorechnung") if invoice.kind == "credit_note" else _("Rechnung")
    return f"{stem}-{invoice.number}.{suffix}"


def _address(party: dict[str, Any], name_key: str = "name") -> list[str]:
    lines = [party.get(name_key) or party.get("name") or ""]
    if party.get("contact_name"):
        lines.append(party["contact_name"])
    lines += [x for x in (party.get("street"),
                          " ".join(x for x in (party.get("postcode"), party.get("city")) if x))
              if x]
    if party.get("country") and party["country"] != "DE":
        lines.append(party["country"])
    return lines


def _facts(invoice: Invoice, corrects: Invoice | None) -> list[tuple[str, str]]:
    rows = [(_("Rechnungsnummer"), invoice.number),
            (_("Rechnungsdatum"), format_date(invoice.issue_date))]
    if invoice.delivery_date:
        rows.append((_("Liefer-/Leistungsdatum"), format_date(invoice.delivery_date)))
    if corrects is not None:
        rows.append((_("Zu Rechnung"), f"{corrects.number} ({format_date(corrects.issue_date)})"))
    if invoice.order_number:
        rows.append((_("Auftrag"), invoice.order_number))
    if invoice.purchase_order:
        rows.append((_("Ihre Bestellnummer"), invoice.purchase_order))
    if invoice.leitweg_id:
        rows.append((_("Leitweg-ID"), invoice.leitweg_id))
    if invoice.buyer.get("ship_to"):
        rows.append((_("Lieferadresse"), ", ".join(_address(invoice.buyer["ship_to"]))))
    if invoice.buyer.get("vat_id"):
        rows.append((_("Ihre USt-IdNr."), invoice.buyer["vat_id"]))
    if invoice.seller.get("vat_id"):
        rows.append((_("Unsere USt-IdNr."), invoice.seller["vat_id"]))
    elif invoice.seller.get("tax_number"):
        rows.append((_("Unsere Steuernummer"), invoice.seller["tax_number"]))
    return rows


def payment_text(invoice: Invoice, corrects: Invoice | None = None) -> str:
    """The payment terms (or, on a credit note, what happens to the amount)."""
    seller = invoice.seller
    if invoice.kind == "credit_note":
        text = _("Diese Stornorechnung hebt die Rechnung %(number)s vollständig auf. Bereits "
                 "gezahlte Beträge erstatten wir auf Ihr Konto.",
                 number=corrects.number if corrects else "")
        if invoice.reason:
            text += " " + _("Grund: %(reason)s", reason=invoice.reason)
        return text
    text = _("Zahlbar ohne Abzug bis %(date)s.", date=format_date(invoice.due_date))
    if seller.get("iban"):
        text += " " + _("Bitte überweisen Sie %(amount)s unter Angabe der Rechnungsnummer "
                        "%(number)s auf das Konto IBAN %(iban)s%(bic)s%(bank)s.",
                        amount=format_money(invoice.gross_cents, currency=invoice.currency),
                        number=invoice.number, iban=format_iban(seller["iban"]),
                        bic=f", BIC {seller['bic']}" if seller.get("bic") else "",
                        bank=f" ({seller['bank_name']})" if seller.get("bank_name") else "")
    return text


def invoice_pdf(invoice: Invoice) -> bytes:
    """Return ``invoice`` as a PDF (German, fonts embedded, sRGB output intent)."""
    _register_fonts()
    with force_locale("de"):
        return with_output_intent(_render(invoice))


def _render(invoice: Invoice) -> bytes:
    normal = ParagraphStyle("n", fontName=FONT, fontSize=9.5, leading=12)
    small = ParagraphStyle("s", parent=normal, fontSize=8, leading=10)
    tiny = ParagraphStyle("t", parent=normal, fontSize=7, leading=9,
                          textColor=colors.HexColor("#555555"))
    right = ParagraphStyle("r", parent=normal, alignment=TA_RIGHT)
    right_small = ParagraphStyle("rs", parent=small, alignment=TA_RIGHT)
    title_style = ParagraphStyle("h", parent=normal, fontName=BOLD, fontSize=15, leading=19)
    para = lambda text, style=normal: Paragraph(escape(str(text)), style)  # noqa: E731
    seller, buyer = invoice.seller, invoice.buyer
    corrects = invoice.corrects
    title = title_of(invoice)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=15 * mm,
        bottomMargin=26 * mm, title=title, author=seller.get("legal_name") or seller.get("name"),
        subject=title, creator="Druckhub", lang="de-DE", initialFontName=FONT,
    )
    doc.footer_font = FONT
    story: list[Any] = []
    sender = " · ".join(x for x in (seller.get("legal_name") or seller.get("name"),
                                    seller.get("street"),
                                    " ".join(x for x in (seller.get("postcode"),
                                                         seller.get("city")) if x)) if x)
    phone_label = _("Tel.")
    contact = [x for x in (seller.get("phone") and f"{phone_label} {seller['phone']}",
                           seller.get("email")) if x]
    head = Table([[
        [para(sender, tiny), Spacer(1, 2 * mm),
         Paragraph("<br/>".join(escape(x) for x in _address(buyer)), normal)],
        [Paragraph("<b>" + escape(seller.get("legal_name") or seller.get("name") or "")
                   + "</b><br/>" + "<br/>".join(escape(x) for x in _address(seller)[1:]
                                                + contact), small)],
    ]], colWidths=[105 * mm, 65 * mm])
    head.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT),
                              ("VALIGN", (0, 0), (-1, -1), "TOP"),
                              ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [head, Spacer(1, 10 * mm), Paragraph(escape(title), title_style),
              Spacer(1, 4 * mm)]
    facts = Table([[para(k, small), para(v, small)] for k, v in _facts(invoice, corrects)],
                  colWidths=[45 * mm, 125 * mm])
    facts.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                               ("TOPPADDING", (0, 0), (-1, -1), 1)]))
    story += [facts, Spacer(1, 6 * mm)]

    rows: list[list[Any]] = [[para(_("Pos"), small), para(_("Bezeichnung"), small),
                              para(_("Menge"), small), para(_("Einzelpreis"), small),
                              para(_("Betrag netto"), small)]]
    for line in invoice.lines:
        text = "<b>" + escape(line.name) + "</b>"
        if line.detail:
            text += "<br/>" + escape(line.detail)
        if line.allowance_cents:
            text += "<br/>" + escape(_("abzüglich %(reason)s: %(amount)s",
                                       reason=line.allowance_reason or _("Nachlass"),
                                       amount=format_money(-line.allowance_cents,
                                                           currency=invoice.currency)))
        unit = UNIT_LABELS.get(line.unit_code, line.unit_code)
        rows.append([
            para(str(line.position), small), Paragraph(text, small),
            para(f"{line.quantity} {_(unit)}", small),
            Paragraph(escape(format_unit_price(Decimal(line.gross_cents) / line.quantity,
                                               currency=invoice.currency)), right_small),
            Paragraph(escape(format_money(line.net_cents, currency=invoice.currency)),
                      right_small),
        ])
    n = len(rows)
    rows += [
        ["", para(_("Summe netto"), normal), "", "",
         para(format_money(invoice.net_cents, currency=invoice.currency), right)],
        ["", para(_("zzgl. Umsatzsteuer %(p)s", p=format_percent(invoice.vat_percent)), normal),
         "", "", para(format_money(invoice.vat_cents, currency=invoice.currency), right)],
        ["", Paragraph("<b>" + escape(_("Gesamtbetrag")) + "</b>", normal), "", "",
         Paragraph("<b>" + escape(format_money(invoice.gross_cents, currency=invoice.currency))
                   + "</b>", right)],
    ]
    table = Table(rows, colWidths=[11 * mm, 85 * mm, 22 * mm, 24 * mm, 28 * mm], repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
        ("LINEBELOW", (0, 1), (-1, n - 1), 0.25, colors.HexColor("#bbbbbb")),
        ("LINEABOVE", (1, n), (-1, n), 0.6, colors.black),
        ("LINEABOVE", (1, -1), (-1, -1), 0.8, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
    ]))
    story += [table, Spacer(1, 8 * mm), para(payment_text(invoice, corrects))]
    if invoice.leitweg_id or invoice.kind == "invoice":
        story += [Spacer(1, 3 * mm), para(_("Diese Rechnung gibt es auch als E-Rechnung "
                                            "(XRechnung und ZUGFeRD) im Kundenportal."), small)]
    footer = footer_painter(seller)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


def with_output_intent(pdf: bytes) -> bytes:
    """Return ``pdf`` with an sRGB output intent (GTS_PDFA1), which PDF/A asks for."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    with open(SRGB_ICC, "rb") as handle:
        icc = StreamObject()
        icc.set_data(handle.read())
    icc[NameObject("/N")] = NumberObject(3)
    intent = DictionaryObject({
        NameObject("/Type"): NameObject("/OutputIntent"),
        NameObject("/S"): NameObject("/GTS_PDFA1"),
        NameObject("/OutputConditionIdentifier"): TextStringObject("sRGB IEC61966-2.1"),
        NameObject("/Info"): TextStringObject("sRGB IEC61966-2.1"),
        NameObject("/DestOutputProfile"): writer._add_object(icc),
    })
    writer._root_object[NameObject("/OutputIntents")] = ArrayObject([writer._add_object(intent)])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
