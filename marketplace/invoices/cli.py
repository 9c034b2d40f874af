"""`flask --app marketplace invoices ...`: the hub's invoices from the command line.

    flask --app marketplace invoices list [--year 2026]
    flask --app marketplace invoices export RE-2026-000001 --format pdf|xrechnung|zugferd -o FILE
    flask --app marketplace invoices validate RE-2026-000001
    flask --app marketplace invoices credit-note RE-2026-000001 --reason "Falsche Menge"
    flask --app marketplace invoices csv [--year 2026] [-o FILE]
"""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from marketplace.extensions import db
from marketplace.invoices import einvoice, validation
from marketplace.invoices import operations as invoices
from marketplace.settings.operations import MissingLegalDetailsError

ACTOR = "cli"


@click.group("invoices")
def invoices_cli() -> None:
    """Invoices and credit notes."""


def _fail(message: str, code: int = 2) -> None:
    db.session.rollback()
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _find(number: str):
    invoice = invoices.find(number)
    if invoice is None:
        _fail(f"no invoice {number!r}", 1)
    return invoice


@invoices_cli.command("list")
@click.option("--year", type=int, default=None)
@with_appcontext
def list_command(year) -> None:
    """List invoices and credit notes: number, date, firm, gross, type, reference."""
    for row in invoices.csv_rows(invoices.all_invoices(year=year)):
        click.echo(f"{row['number']}  {row['date']}  {row['gross']:>10} {row['currency']}  "
                   f"{row['type']:<11}  {row['reference']}  {row['firm']}")


@invoices_cli.command("credit-note")
@click.argument("number")
@click.option("--reason", required=True, help="Why the invoice is cancelled (shown on it).")
@with_appcontext
def credit_note_command(number, reason) -> None:
    """Cancel invoice NUMBER by a credit note; print the credit note's number."""
    invoice = _find(number)
    try:
        note = invoices.cancel_invoice(invoice, ACTOR, reason)
        db.session.commit()
    except invoices.InvoiceError as exc:
        _fail(str(exc))
    except MissingLegalDetailsError as exc:
        _fail(str(exc))
    click.echo(note.number)


@invoices_cli.command("csv")
@click.option("--year", type=int, default=None)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="File to write (default: standard output).")
@with_appcontext
def csv_command(year, output) -> None:
    """Write the accountants' CSV (number, date, firm, VAT id, net, VAT, gross, currency,
    type, reference)."""
    text = invoices.csv_export(invoices.all_invoices(year=year))
    if output:
        with open(output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False)


@invoices_cli.command("export")
@click.argument("number")
@click.option("--format", "fmt", type=click.Choice(einvoice.FORMATS), required=True,
              help="pdf, xrechnung (CII XML) or zugferd (PDF/A-3 with the XML embedded).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True,
              help="File to write.")
@with_appcontext
def export_command(number, fmt, output) -> None:
    """Write invoice NUMBER as PDF, XRechnung or ZUGFeRD to FILE."""
    invoice = _find(number)
    missing = einvoice.missing_for_xrechnung(invoice)
    if fmt == "xrechnung" and missing:
        click.echo(f"warning: XRechnung asks for the buyer's {', '.join(missing)}; "
                   "the firm's account has none", err=True)
    content, _mimetype, _name = einvoice.export(invoice, fmt)
    try:
        with open(output, "wb") as handle:
            handle.write(content)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror or exc}")
    click.echo(f"{output}: {invoice.number} as {fmt} ({len(content)} bytes)")


@invoices_cli.command("validate")
@click.argument("number")
@with_appcontext
def validate_command(number) -> None:
    """Check invoice NUMBER's XRechnung and ZUGFeRD files: XML schema, EN 16931 and XRechnung
    schematron; exit 1 if a rule fails."""
    invoice = _find(number)
    failed = False
    for fmt, reports in (
            ("xrechnung", validation.validate_xrechnung(einvoice.xrechnung_xml(invoice))),
            ("zugferd", validation.validate_zugferd(einvoice.zugferd_pdf(invoice)))):
        for report in reports:
            click.echo(f"{invoice.number} {fmt} {report.summary()}")
            failed = failed or not report.ok
    if failed:
        sys.exit(1)
