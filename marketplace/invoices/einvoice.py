"""Invoices as EN 16931 e-invoices: XRechnung (CII) and ZUGFeRD / Factur-X (PDF/A-3 + XML).

The UN/CEFACT Cross Industry Invoice is built with drafthorse (which checks it against the
Factur-X EN 16931 XML schema as it serialises); the ZUGFeRD file is the invoice's PDF
(:mod:`.documents`) with that XML embedded as ``factur-x.xml`` and the PDF/A-3 metadata, by
the factur-x library (which checks the XML schema again). Both carry the same data; they differ
only in the specification identifier (BT-24): XRechnung 3.0 for the standalone XML (German
public buyers ask for it), EN 16931 for the XML inside the PDF (the ZUGFeRD "EN 16931"
profile).

What the standard asks and where it comes from (BT = business term of EN 16931):
- the seller (BG-4) with address, VAT id (BT-31), register entry (BT-30, BT-33), contact
  (BG-6: BR-DE-2) and e-mail as electronic address (BT-34): the hub's legal details;
- the buyer (BG-7) with address, VAT id (BT-48) and e-mail (BT-49): the invoice's snapshot;
- the deliver-to party (BG-13) of a shipped order: the address it went to;
- the buyer reference (BT-10, mandatory in XRechnung): the Leitweg-ID, else the firm's
  purchase order number, else the order number; the purchase order number as BT-13;
- one line per invoice line (BG-25), its quantity discount as a line allowance (BG-27);
- payment by SEPA credit transfer (code 58) to the hub's IBAN (BG-16/17), the due date;
- a credit note is type 381 and names the invoice it cancels (BG-3).
"""

from __future__ import annotations

from decimal import Decimal

import facturx
from flask_babel import force_locale
from drafthorse.models.accounting import ApplicableTradeTax, TradeAllowanceCharge
from drafthorse.models.document import Document
from drafthorse.models.note import IncludedNote
from drafthorse.models.party import TaxRegistration
from drafthorse.models.payment import PaymentMeans, PaymentTerms
from drafthorse.models.tradelines import LineItem

from marketplace.engine.pricing.price import format_cents
from marketplace.invoices import documents
from marketplace.invoices.models import Invoice
from marketplace.orders.documents import legal_footer_lines

EN16931 = "urn:cen.eu:en16931:2017"
XRECHNUNG = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
BUSINESS_PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
SCHEMA = "FACTUR-X_EN16931"  # drafthorse's name of the Factur-X EN 16931 XML schema
TYPE_CODES = {"invoice": "380", "credit_note": "381"}
FORMATS = ("pdf", "xrechnung", "zugferd")


def _money(cents: int) -> Decimal:
    return Decimal(format_cents(cents))


def _unit_price(line) -> Decimal:
    """The line's price per unit before its allowance, to 4 decimals (BT-146)."""
    return (Decimal(line.gross_cents) / line.quantity / 100).quantize(Decimal("0.0001"))


def buyer_reference(invoice: Invoice) -> str:
    """BT-10: the Leitweg-ID, else the firm's purchase order number, else the order number."""
    return invoice.leitweg_id or invoice.purchase_order or invoice.order_number or invoice.number


def missing_for_xrechnung(invoice: Invoice) -> list[str]:
    """Return what XRechnung asks of the buyer that the invoice does not have (BR-DE-8/9:
    post code and city; the electronic address BT-49): a firm entered by phone may lack it."""
    labels = {"postcode": "post code", "city": "city", "email": "e-mail address"}
    return [label for key, label in labels.items() if not invoice.buyer.get(key)]


def _party(party, data: dict, *, seller: bool) -> None:
    name = data.get("legal_name") or data.get("name") or ""
    party.name = name
    address = party.address
    address.line_one = data.get("street") or ""
    address.postcode = data.get("postcode") or ""
    address.city_name = data.get("city") or ""
    address.country_id = data.get("country") or "DE"
    if seller and data.get("register_number"):
        party.legal_organization.id = " ".join(
            x for x in (data.get("register_court"), data.get("register_number")) if x)
        party.legal_organization.trade_name = data.get("name") or ""
    contact = data.get("managing_director") if seller else data.get("contact_name")
    if contact or seller:
        party.contact.person_name = contact or name
        if data.get("phone"):
            party.contact.telephone.number = data["phone"]
        if data.get("email"):
            party.contact.email.address = data["email"]
    if data.get("email"):
        party.electronic_address.uri_ID = ("EM", data["email"])
    if data.get("vat_id"):
        party.tax_registrations.add(TaxRegistration(id=("VA", data["vat_id"])))
    if seller and data.get("tax_number"):
        party.tax_registrations.add(TaxRegistration(id=("FC", data["tax_number"])))


def build_document(invoice: Invoice, guideline: str = XRECHNUNG) -> Document:
    """Return the invoice as drafthorse's CII model (not yet serialised)."""
    seller, buyer = invoice.seller, invoice.buyer
    doc = Document()
    doc.context.business_parameter.id = BUSINESS_PROCESS
    doc.context.guideline_parameter.id = guideline
    doc.header.id = invoice.number
    doc.header.type_code = TYPE_CODES[invoice.kind]
    doc.header.issue_date_time = invoice.issue_date
    if invoice.reason:
        note = IncludedNote()
        note.content = f"Grund der Stornierung: {invoice.reason}"
        doc.header.notes.add(note)
    if seller.get("register_number"):  # the legal details of the seller, as German law asks
        note = IncludedNote()
        note.subject_code = "REG"
        with force_locale("de"):
            note.content = "; ".join(legal_footer_lines(seller))
        doc.header.notes.add(note)

    agreement = doc.trade.agreement
    agreement.buyer_reference = buyer_reference(invoice)
    _party(agreement.seller, seller, seller=True)
    _party(agreement.buyer, buyer, seller=False)
    if invoice.purchase_order:
        agreement.buyer_order.issuer_assigned_id = invoice.purchase_order
    if invoice.delivery_date:
        doc.trade.delivery.event.occurrence = invoice.delivery_date
    ship_to = buyer.get("ship_to")
    if ship_to:  # a shipped order: where it went (BG-13 deliver-to, BT-70 to BT-80)
        party = doc.trade.delivery.ship_to
        party.name = ship_to.get("name") or buyer.get("name") or ""
        party.address.line_one = ship_to.get("street") or ""
        party.address.postcode = ship_to.get("postcode") or ""
        party.address.city_name = ship_to.get("city") or ""
        party.address.country_id = ship_to.get("country") or "DE"

    settlement = doc.trade.settlement
    settlement.payment_reference = invoice.number
    settlement.currency_code = invoice.currency
    means = PaymentMeans()
    means.type_code = "58"  # SEPA credit transfer
    if seller.get("iban"):
        means.payee_account.iban = seller["iban"]
        means.payee_account.account_name = seller.get("legal_name") or seller.get("name") or ""
    if seller.get("bic"):
        means.payee_institution.bic = seller["bic"]
    settlement.payment_means.add(means)

    for line in invoice.lines:
        item = LineItem()
        item.document.line_id = str(line.position)
        item.product.name = line.name
        if line.detail:
            item.product.description = line.detail
        item.agreement.gross.amount = _unit_price(line)
        item.agreement.net.amount = _unit_price(line)
        item.delivery.billed_quantity = (Decimal(line.quantity), line.unit_code)
        item.settlement.trade_tax.type_code = "VAT"
        item.settlement.trade_tax.category_code = "S"
        item.settlement.trade_tax.rate_applicable_percent = Decimal(line.vat_percent)
        if line.allowance_cents:
            allowance = TradeAllowanceCharge()
            allowance.indicator = False
            allowance.actual_amount = _money(line.allowance_cents)
            allowance.reason_code = "95"  # UNTDID 5189: discount
            allowance.reason = line.allowance_reason or "Rabatt"
            item.settlement.allowance_charge.add(allowance)
        item.settlement.monetary_summation.total_amount = _money(line.net_cents)
        doc.trade.items.add(item)

    tax = ApplicableTradeTax()
    tax.calculated_amount = _money(invoice.vat_cents)
    tax.basis_amount = _money(invoice.net_cents)
    tax.type_code = "VAT"
    tax.category_code = "S"
    tax.rate_applicable_percent = Decimal(invoice.vat_percent)
    settlement.trade_tax.add(tax)

    terms = PaymentTerms()
    if invoice.kind == "invoice" and invoice.due_date:
        terms.description = f"Zahlbar ohne Abzug bis {invoice.due_date:%d.%m.%Y}."
        terms.due = invoice.due_date
    else:
        terms.description = "Der Betrag wird erstattet oder verrechnet."
    settlement.terms.add(terms)

    total = settlement.monetary_summation
    total.line_total = _money(sum(line.net_cents for line in invoice.lines))
    total.charge_total = _money(0)
    total.allowance_total = _money(0)
    total.tax_basis_total = _money(invoice.net_cents)
    total.tax_total = (_money(invoice.vat_cents), invoice.currency)
    total.grand_total = _money(invoice.gross_cents)
    total.prepaid_total = _money(0)
    total.due_amount = _money(invoice.gross_cents)

    if invoice.corrects is not None:
        corrected = invoice.corrects
        settlement.invoice_referenced_document.issuer_assigned_id = corrected.number
        settlement.invoice_referenced_document.issue_date_time = corrected.issue_date
    return doc


def cii_xml(invoice: Invoice, guideline: str = XRECHNUNG) -> bytes:
    """Return the invoice as CII XML; drafthorse checks it against the XML schema."""
    return build_document(invoice, guideline).serialize(schema=SCHEMA)


def xrechnung_xml(invoice: Invoice) -> bytes:
    """The XRechnung 3.0 (CII syntax) file."""
    return cii_xml(invoice, XRECHNUNG)


def zugferd_pdf(invoice: Invoice) -> bytes:
    """The ZUGFeRD / Factur-X (profile EN 16931) file: the PDF with the XML embedded."""
    xml = cii_xml(invoice, EN16931)
    pdf = documents.invoice_pdf(invoice)
    title = documents.filename_for(invoice, "").rstrip(".")
    seller = invoice.seller.get("legal_name") or invoice.seller.get("name") or ""
    return facturx.generate_from_binary(
        pdf, xml, flavor="factur-x", level="en16931", check_xsd=True,
        pdf_metadata={"author": seller, "keywords": "Factur-X, ZUGFeRD, Rechnung",
                      "title": title, "subject": title},
        lang="de-DE",
    )


def export(invoice: Invoice, fmt: str) -> tuple[bytes, str, str]:
    """Return (content, mimetype, download name) of ``invoice`` in ``fmt`` (see FORMATS)."""
    if fmt == "pdf":
        return documents.invoice_pdf(invoice), "application/pdf", documents.filename_for(invoice)
    if fmt == "xrechnung":
        return (xrechnung_xml(invoice), "application/xml",
                documents.filename_for(invoice, "xml").replace(".xml", "-xrechnung.xml"))
    if fmt == "zugferd":
        return (zugferd_pdf(invoice), "application/pdf",
                documents.filename_for(invoice).replace(".pdf", "-zugferd.pdf"))
    raise ValueError(f"unknown format {fmt!r}")

