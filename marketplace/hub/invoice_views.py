"""The hub's invoices (admins): the list, the accountants' CSV, downloads, credit notes."""

from __future__ import annotations

import io

from flask import Response, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from marketplace import audit
from marketplace.auth import admin_required
from marketplace.extensions import db
from marketplace.hub import bp
from marketplace.i18n import gettext as _
from marketplace.invoices import einvoice
from marketplace.invoices import operations as invoices
from marketplace.invoices.models import Invoice
from marketplace.settings.operations import MissingLegalDetailsError

LIST_LIMIT = 1000


def _year() -> int | None:
    try:
        year = int(request.args.get("year") or 0)
    except ValueError:
        return None
    return year if 2000 <= year <= 2100 else None


def _invoice_or_404(public_id: str) -> Invoice:
    invoice = db.session.scalar(db.select(Invoice).where(Invoice.public_id == public_id))
    if invoice is None:
        abort(404)
    return invoice


@bp.get("/invoices", endpoint="invoices")
@admin_required
def invoice_list():
    year = _year()
    rows = invoices.all_invoices(year=year, newest_first=True, limit=LIST_LIMIT)
    cancelled = {i.corrects_id for i in rows if i.corrects_id}
    return render_template("hub/invoices.html", invoices=rows, year=year,
                           cancelled=cancelled, formats=einvoice.FORMATS)


@bp.get("/invoices.csv")
@admin_required
def invoices_csv():
    year = _year()
    body = invoices.csv_export(invoices.all_invoices(year=year))
    audit.record("export", actor=current_user, target=f"invoices {year or 'all'}",
                 detail={"document": "invoices_csv"})
    db.session.commit()
    name = f"rechnungen-{year}.csv" if year else "rechnungen.csv"
    return Response(body.encode("utf-8"), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/invoices/<public_id>/<fmt>")
@admin_required
def invoice_download(public_id, fmt):
    if fmt not in einvoice.FORMATS:
        abort(404)
    invoice = _invoice_or_404(public_id)
    content, mimetype, name = einvoice.export(invoice, fmt)
    audit.record("export", actor=current_user, target=f"invoice {invoice.number}",
                 detail={"document": f"invoice_{fmt}", "firm_id": invoice.firm_id})
    db.session.commit()
    return send_file(io.BytesIO(content), mimetype=mimetype, as_attachment=True,
                     download_name=name, max_age=0)


@bp.post("/invoices/<public_id>/credit-note")
@admin_required
def invoice_credit_note(public_id):
    invoice = _invoice_or_404(public_id)
    try:
        note = invoices.cancel_invoice(invoice, current_user.email, request.form.get("reason"))
        db.session.commit()
    except invoices.InvoiceError as exc:
        db.session.rollback()
        flash(exc.text(), "error")
    except MissingLegalDetailsError as exc:
        db.session.rollback()
        flash(exc.message(), "error")
    else:
        flash(_("Rechnung %(number)s storniert: Stornorechnung %(note)s.",
                number=invoice.number, note=note.number), "success")
    return redirect(url_for("hub.invoices"))
