"""The account page's API tokens: make one (shown once, on the page that answers the POST,
never in a cookie or a flash message) and revoke one."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_login import current_user, login_required

from marketplace.extensions import db
from marketplace.i18n import gettext as _
from marketplace.portal import bp
from marketplace.portal.auth_forms import (
    ChangePasswordForm,
    InviteForm,
    LogoutForm,
    ProfileForm,
    TokenForm,
)
from marketplace.portal.auth_views import _account_page
from marketplace.tokens import operations as api_tokens


def _page(token_form, status=200, new_token=None):
    return _account_page(ProfileForm(obj=current_user, prefix="profile"),
                         ChangePasswordForm(prefix="pw"), InviteForm(prefix="invite"), status,
                         token_form=token_form, new_token=new_token)


@bp.post("/account/tokens")
@login_required
def create_token():
    form = TokenForm(prefix="token")
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        token, plain = api_tokens.create_token(current_user, form.scopes(),
                                               expires_days=int(form.expires_days.data),
                                               name=form.name.data or "")
    except api_tokens.TokenError as exc:
        db.session.rollback()
        form.form_errors.append(_(exc.message, **exc.params))
        return _page(form, 400)
    db.session.commit()
    response = _page(TokenForm(prefix="token", formdata=None), 200,
                     new_token={"plain": plain, "row": token})
    body, status = response
    return body, status, {"Cache-Control": "no-store"}


@bp.post("/account/tokens/<public_id>/revoke")
@login_required
def revoke_token(public_id: str):
    if not LogoutForm().validate_on_submit():
        abort(400)
    if api_tokens.revoke(current_user, public_id) is None:
        abort(404)
    db.session.commit()
    flash(_("Das Token ist widerrufen; es funktioniert ab sofort nicht mehr."), "success")
    return redirect(url_for("portal.account") + "#api-tokens", 303)
