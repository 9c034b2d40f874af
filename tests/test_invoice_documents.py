"""Invoice documents: the PDF, XRechnung and ZUGFeRD; every e-invoice passes the XML schema,
the EN 16931 schematron and the XRechnung (or Factur-X) schematron; a broken one does not."""

from __future__ import annotations

import io
import re

import pytest
from invoice_helpers import (
    complete_legal_details,
    make_firm,
    make_priced_order,
    print_pieces,
)
from lxml import etree
from pypdf import PdfReader

from marketplace.extensions import db
from marketplace.hubqueue import operations as hubqueue
from marketplace.invoices import documents, einvoice, validation
from marketplace.invoices import operations as invoices

RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"


def _issue(firm=None, *, quantity=3, fail=0, **price):
    """Issue an invoice for an order of ``quantity`` pieces, ``fail`` of them failed."""
    order = make_priced_order(firm, quantity=quantity, **price)
    print_pieces(order, quantity - fail)
    for job in order.jobs[quantity - fail:]:
        from marketplace.jobs import transition
        for state in ("approved", "queued", "dispatching", "needs_attention", "failed"):
            transition(job, state, actor="test")
    invoice = hubqueue.hand_over_finished(order, shipped=True, actor="t").invoice
    db.session.commit()
    return invoice


def _text(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _assert_valid(reports):
    for report in reports:
        assert report.ok, report.summary()
    return [r.summary() for r in reports]


@pytest.fixture
def legal(app):
    complete_legal_details()


def test_every_issued_einvoice_passes_schema_and_schematron(legal):
    public = make_firm(leitweg_id="991-33333TEST-33")
    no_vat = make_firm(vat_id=None, contact_name=None)
    issued = [
        _issue(quantity=3),
        _issue(public, quantity=12, discount_percent=5),
        _issue(no_vat, quantity=4, fail=1, discount_percent=10, minimum=10_000),
    ]
    issued.append(invoices.cancel_invoice(issued[0], "admin@hub.de", "Falsche Farbe"))
    db.session.commit()
    for invoice in issued:
        xml = einvoice.xrechnung_xml(invoice)
        summaries = _assert_valid(validation.validate_xrechnung(xml))
        assert summaries[0] == "xsd: ok" and summaries[2].startswith("xrechnung: ok")
        pdf = einvoice.zugferd_pdf(invoice)
        _assert_valid(validation.validate_zugferd(pdf))
        root = etree.fromstring(xml)
        assert root.findtext(f".//{{{RAM}}}GuidelineSpecifiedDocumentContextParameter/"
                             f"{{{RAM}}}ID") == einvoice.XRECHNUNG
        assert root.findtext(f".//{{{RAM}}}GrandTotalAmount") == "%d.%02d" % divmod(
            invoice.gross_cents, 100)
    note = issued[-1]
    root = etree.fromstring(einvoice.xrechnung_xml(note))
    assert root.findtext(f".//{{{RAM}}}TypeCode") == "381"
    assert root.findtext(f".//{{{RAM}}}InvoiceReferencedDocument/{{{RAM}}}IssuerAssignedID") \
        == issued[0].number
    assert etree.fromstring(einvoice.xrechnung_xml(issued[1])).findtext(
        f".//{{{RAM}}}BuyerReference") == "991-33333TEST-33"


def _mutated(xml: bytes, path: str, value: str | None) -> bytes:
    root = etree.fromstring(xml)
    element = root.find(path, {"ram": RAM})
    if value is None:
        element.getparent().remove(element)
    else:
        element.text = value
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_broken_invoice_fails_the_checks(legal):
    xml = einvoice.xrechnung_xml(_issue(quantity=2))
    # a line total that does not add up: EN 16931 BR-CO-10 (sum of line net amounts)
    wrong_sum = _mutated(xml, ".//ram:LineTotalAmount", "999.99")
    report = validation.schematron(wrong_sum, "en16931")
    assert not report.ok and "BR-CO-10" in {f.rule for f in report.errors}
    # no buyer reference: XRechnung BR-DE-15 (EN 16931 alone does not ask for it)
    no_reference = _mutated(xml, ".//ram:BuyerReference", None)
    assert validation.schematron(no_reference, "en16931").ok
    report = validation.schematron(no_reference, "xrechnung")
    assert "BR-DE-15" in {f.rule for f in report.errors}
    # an element the schema does not know
    unknown = xml.replace(b"<ram:BuyerReference>", b"<ram:Unknown>x</ram:Unknown>"
                                                   b"<ram:BuyerReference>")
    assert not validation.xsd(unknown).ok


def test_invoice_pdf_has_what_an_invoice_must_state(legal):
    invoice = _issue(make_firm(name="Muster Maschinenbau GmbH", vat_id="DE136695976"),
                     quantity=12, discount_percent=5)
    pdf = documents.invoice_pdf(invoice)
    text = _text(pdf)
    for expected in (
            f"Rechnung {invoice.number}", "Rechnungsdatum", "Liefer-/Leistungsdatum",
            "Muster Maschinenbau GmbH", "Bahnhofstraße 5", "Ihre USt-IdNr.",
            "Unsere USt-IdNr.", "DE136695976", "Halter.stl", "12 Stück", "Einrichtungspauschale",
            "Mengenrabatt", "Summe netto", "Umsatzsteuer 19", "Gesamtbetrag",
            "Zahlbar ohne Abzug bis", "IBAN DE89 3704 0044 0532 0130 00",
            "Amtsgericht Lüneburg HRB 123456", "Geschäftsführung: Erika Mustermann",
            "Druckhub Lüneburg GmbH"):
        assert expected in text, expected
    money = {"net": invoice.net_cents, "vat": invoice.vat_cents, "gross": invoice.gross_cents}
    for cents in money.values():
        assert re.sub(r"\B(?=(\d{3})+(?!\d))", ".", str(cents // 100)) + f",{cents % 100:02d}" \
            in text
    reader = PdfReader(io.BytesIO(pdf))
    # PDF/A: every font embedded, an sRGB output intent
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            descriptor = font.get_object()["/FontDescriptor"]
            assert "/FontFile2" in descriptor, font.get_object()["/BaseFont"]
    intents = reader.trailer["/Root"]["/OutputIntents"]
    assert intents[0].get_object()["/S"] == "/GTS_PDFA1"
    assert len(intents[0].get_object()["/DestOutputProfile"].get_object().get_data()) > 100


def test_zugferd_is_pdfa3_with_the_xml_embedded(legal):
    invoice = _issue(quantity=1)
    pdf = einvoice.zugferd_pdf(invoice)
    reader = PdfReader(io.BytesIO(pdf))
    assert "factur-x.xml" in reader.attachments
    xml = reader.attachments["factur-x.xml"][0]
    assert etree.fromstring(xml).findtext(f".//{{{RAM}}}GuidelineSpecifiedDocumentContextParameter"
                                          f"/{{{RAM}}}ID") == einvoice.EN16931
    root = reader.trailer["/Root"]
    assert root["/AF"][0].get_object()["/AFRelationship"] == "/Data"
    metadata = root["/Metadata"].get_object().get_data().decode()
    assert "<pdfaid:part>3</pdfaid:part>" in metadata and "EN 16931" in metadata
    assert f"Rechnung {invoice.number}" in _text(pdf)


def test_export_and_validate_commands(legal, runner, tmp_path):
    invoice = _issue(quantity=2)
    for fmt, magic in (("pdf", b"%PDF"), ("xrechnung", b"<?xml"), ("zugferd", b"%PDF")):
        out = tmp_path / f"out.{fmt}"
        result = runner.invoke(args=["invoices", "export", invoice.number, "--format", fmt,
                                     "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_bytes().startswith(magic)
    assert validation.validate_xrechnung((tmp_path / "out.xrechnung").read_bytes())[2].ok
    bad = runner.invoke(args=["invoices", "export", invoice.number, "--format", "ubl",
                              "-o", str(tmp_path / "x")])
    assert bad.exit_code == 2
    missing = runner.invoke(args=["invoices", "export", "RE-1999-000001", "--format", "pdf",
                                  "-o", str(tmp_path / "x")])
    assert missing.exit_code == 1 and "no invoice" in missing.stderr
    checked = runner.invoke(args=["invoices", "validate", invoice.number])
    assert checked.exit_code == 0, checked.output
    lines = checked.stdout.splitlines()
    assert f"{invoice.number} xrechnung xrechnung: ok" in lines
    assert f"{invoice.number} zugferd en16931: ok" in lines


def test_the_rules_are_the_released_files(app):
    validation._check_sums()  # raises RulesChangedError if a vendored file was edited
