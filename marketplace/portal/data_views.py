"""Data rights on the account page: download the firm's data (a streamed zip), delete one's
account (anonymised; the firm's invoices are kept for the retention period)."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from flask import Response, abort, flash, redirect, stream_with_context, url_for
from flask_login import current_user
from werkzeug.security import check_password_hash

from marketplace import audit
from marketplace.accounts import data_rights
from marketplace.auth import role_required
from marketplace.extensions import db
from marketplace.i18n import gettext as _
from marketplace.portal import bp
from marketplace.portal.auth_forms import DeleteAccountForm


# how German spells its letters without umlauts (an ASCII file name: "Gerätebau Groß" ->
# "Geraetebau Gross", not "Geratebau Gro")
GERMAN_LETTERS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe",
                                "Ü": "Ue", "ß": "ss"})


@bp.get("/account/export")
@role_required("firm")
def account_export():
    if current_user.firm is None:
        abort(404)
    firm = current_user.firm
    audit.record("export", actor=current_user, target=f"firm {firm.name}",
                 detail={"document": "firm_data_zip", "firm_id": firm.id})
    db.session.commit()
    archive = data_rights.firm_export(firm)
    response = Response(stream_with_context(iter(archive)), mimetype="application/zip")
    name = data_rights.export_filename(firm)
    # a firm name with umlauts: the name as RFC 6266 says (what send_file does), with an
    # ASCII fallback; a raw UTF-8 name made browsers save the file as "export.zip" (walk)
    ascii_name = unicodedata.normalize("NFKD", name.translate(GERMAN_LETTERS)).encode(
        "ascii", "ignore").decode()
    response.headers.set("Content-Disposition", "attachment", filename=ascii_name,
                         **({} if ascii_name == name
                            else {"filename*": "UTF-8''" + quote(name, safe="")}))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/account/delete")
@role_required("firm")
def account_delete():
    from marketplace.portal.auth_views import _account_page, _default_forms, _sign_out

    form = DeleteAccountForm(prefix="delete")
    if form.validate_on_submit() and not check_password_hash(current_user.password_hash,
                                                             form.password.data):
        form.password.errors.append(_("Das Passwort stimmt nicht."))
    if form.errors or not form.validate_on_submit():
        return _account_page(*_default_forms(), status=400, delete_form=form)
    data_rights.delete_account(current_user)
    db.session.commit()
    _sign_out()
    flash(_("Ihr Konto ist gelöscht. Ihre persönlichen Daten sind gesperrt; Rechnungen bewahren "
            "wir bis zum Ende der gesetzlichen Frist (8 Jahre) auf."), "success")
    return redirect(url_for("portal.index"))
