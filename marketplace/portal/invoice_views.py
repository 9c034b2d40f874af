"""The firm's invoices: the "Rechnungen" page and the downloads (PDF, XRechnung, ZUGFeRD).

Every invoice a firm user asks for goes through ``get_scoped_or_404`` (another firm's is a
404). The files are made from the invoice's snapshot on each download.
"""

from __future__ import annotations

import io

from flask import abort, render_template, send_file
from flask_login import current_user, login_required

from marketplace import audit
from marketplace.auth import get_scoped_or_404, role_required
from marketplace.extensions import db
from marketplace.invoices import einvoice
from marketplace.invoices import operations as invoices
from marketplace.invoices.models import Invoice
from marketplace.portal import bp


@bp.get("/invoices", endpoint="invoices")
@role_required("firm")
def invoices_list():
    if current_user.firm is None:
        abort(404)
    rows = invoices.invoices_of_firm(current_user.firm)
    return render_template("portal/invoices.html", invoices=rows,
                           formats=einvoice.FORMATS, retention_until=invoices.retention_until)


@bp.get("/invoices/<invoice_id>/<fmt>")
@login_required
def invoice_download(invoice_id, fmt):
    if fmt not in einvoice.FORMATS:
        abort(404)
    invoice = get_scoped_or_404(Invoice, invoice_id, current_user)
    content, mimetype, name = einvoice.export(invoice, fmt)
    audit.record("export", actor=current_user, target=f"invoice {invoice.number}",
                 detail={"document": f"invoice_{fmt}", "firm_id": invoice.firm_id})
    db.session.commit()
    return send_file(io.BytesIO(content), mimetype=mimetype, as_attachment=True,
                     download_name=name, max_age=0)
