"""Sign-up, sign-in, sign-out and password reset for the portal (thin views over accounts)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash

from marketplace import audit
from marketplace.accounts import operations as accounts
from marketplace.accounts import data_rights, pending, sessions
from marketplace.auth import role_required
from marketplace.extensions import db
from marketplace.i18n import force_locale, get_language
from marketplace.i18n import gettext as _
from marketplace.i18n import ngettext
from marketplace.layout import home_endpoint
from marketplace.parts import guests
from marketplace.portal import bp
from marketplace.portal.auth_forms import (
    AcceptInvitationForm,
    ChangePasswordForm,
    DeleteAccountForm,
    FirmForm,
    ForgotPasswordForm,
    InviteForm,
    LoginForm,
    LogoutForm,
    ProfileForm,
    ResetPasswordForm,
    SignupForm,
    TokenForm,
)
from marketplace.rate_limits import client_address, firm_key, form_address, limit
from marketplace.tokens import operations as api_tokens


def safe_next(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 or c.isspace() for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


client_ip = client_address  # behind a proxy, PROXY_COUNT makes this the real one


def _land(user) -> str:
    return url_for(home_endpoint(user))


def _sign_in(user, *, remember: bool = False, guest_key_sha256: str | None = None) -> int:
    """Start a sign-in of ``user`` on this browser (a new session row) and commit.

    A firm user keeps what they uploaded as a guest in this browser (or, signing up, in the
    browser the sign-up came from: ``guest_key_sha256``): the parts move to the firm. Returns
    how many parts moved.
    """
    moved = 0
    if user.role == "firm" and user.firm is not None:
        here = guests.key_digest()
        moved = guests.adopt(user.firm, here)
        if guest_key_sha256 and guest_key_sha256 != here:
            moved += guests.adopt(user.firm, guest_key_sha256)
        if moved:
            flash(ngettext("Ihr als Gast hochgeladenes Teil ist jetzt in Ihrem Konto.",
                           "Ihre %(num)s als Gast hochgeladenen Teile sind jetzt in Ihrem Konto.",
                           moved), "success")
    sessions.start(user, remember=remember, ip=client_ip(),
                   user_agent=request.user_agent.string)
    db.session.commit()
    login_user(user, remember=remember)
    session.permanent = True
    return moved


def _sign_out() -> None:
    """Forget the sign-in on this browser: session, remember cookie (the row is gone already)."""
    lang = session.get("lang") or get_language()
    session.clear()
    logout_user()  # after clear(): it marks the "keep me signed in" cookie for deletion
    session["lang"] = lang


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or _land(current_user))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    status = 200
    if form.validate_on_submit():
        attempt = accounts.begin_login(form.email.data, client_ip())
        db.session.commit()  # counted before anything is checked (parallel attempts see it)
        try:
            user = accounts.authenticate(attempt, form.password.data)
        except accounts.LoginThrottledError as exc:
            audit.record("login_throttled", target=attempt.email)
            db.session.commit()
            minutes = max(1, -(-exc.retry_after_s // 60))
            form.form_errors.append(_(
                "Zu viele fehlgeschlagene Anmeldungen. Bitte warten Sie %(minutes)s Minuten "
                "oder setzen Sie Ihr Passwort zurück.", minutes=minutes))
            status = 429
        except accounts.InvalidCredentialsError:
            audit.record("login_failed", target=attempt.email)
            db.session.commit()  # keep the failure for the rate limit
            form.form_errors.append(_("E-Mail-Adresse oder Passwort ist falsch."))
            status = 401
        else:
            audit.record("login", actor=user, target=user.email,
                         detail={"remember": bool(form.remember.data)})
            _sign_in(user, remember=bool(form.remember.data))
            session.pop("lang", None)  # the account's language setting applies from now on
            return redirect(safe_next(form.next.data) or _land(user))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    form = LogoutForm()
    if request.method == "POST":
        if form.validate_on_submit():
            if current_user.is_authenticated:
                sessions.end(current_user, _current_session_id())
                audit.record("logout", actor=current_user, target=current_user.email)
                db.session.commit()
            _sign_out()
            flash(_("Sie sind abgemeldet."), "success")
            return redirect(url_for("portal.index"))
        return render_template("auth/logout.html", form=form), 400
    if not current_user.is_authenticated:
        return redirect(url_for("portal.index"))
    return render_template("auth/logout.html", form=form)


@bp.route("/signup", methods=["GET", "POST"])
@limit("LIMIT_SIGNUP_PER_IP")
@limit("LIMIT_SIGNUP_PER_EMAIL", form_address("email"))
def signup():
    if current_user.is_authenticated:
        return redirect(_land(current_user))
    form = SignupForm()
    status = 200
    if form.validate_on_submit():
        info = accounts.FirmSignup(
            company=form.company.data, vat_id=form.vat_id.data or "", street=form.street.data,
            postcode=form.postcode.data, city=form.city.data, country=form.country.data,
            contact_name=form.contact_name.data, phone=form.phone.data or "",
            email=form.email.data, password=form.password.data, language=get_language(),
            guest_key_sha256=guests.key_digest() if guests.current() is not None else None,
        )
        try:
            pending.request_signup(info)
        except accounts.AccountError as exc:
            db.session.rollback()
            for name, message in exc.problems:
                field = getattr(form, name, None) if name else None
                (field.errors if field is not None else form.form_errors).append(_(message))
            status = 400
        else:
            db.session.commit()  # the mail goes out after this commit
            # the same answer whether the address has an account or not: the mail tells
            flash(_("Fast geschafft: Wir haben eine E-Mail an %(email)s geschickt. Mit dem Link "
                    "darin bestätigen Sie die Adresse, dann ist Ihr Konto eingerichtet.",
                    email=accounts.normalise_email(form.email.data)), "mail")
            return redirect(url_for("portal.login"))
    elif request.method == "POST":
        status = 400
    return render_template("auth/signup.html", form=form), status


@bp.route("/password/forgot", methods=["GET", "POST"])
@limit("LIMIT_RESET_PER_IP")
@limit("LIMIT_RESET_PER_EMAIL", form_address("email"))
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data)
        db.session.commit()  # the mail goes out after this commit
        minutes = current_app.config["PASSWORD_RESET_MAX_AGE_S"] // 60
        flash(_("Falls es zu dieser Adresse ein Konto gibt, haben wir eine E-Mail mit einem Link "
                "geschickt. Der Link gilt %(minutes)s Minuten.", minutes=minutes), "mail")
        return redirect(url_for("portal.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/forgot.html", form=form), status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    user = accounts.user_for_reset_token(token)
    if user is None:
        return render_template("auth/reset_invalid.html"), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        accounts.set_password(user, form.password.data)  # ends every sign-in of the account
        audit.record("password_reset", actor=user.email, target=user.email)
        db.session.commit()
        if current_user.is_authenticated:
            _sign_out()
        flash(_("Ihr Passwort ist geändert. Bitte melden Sie sich mit dem neuen Passwort an."),
              "success")
        return redirect(url_for("portal.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/reset.html", form=form, token=token), status


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    profile = ProfileForm(obj=current_user, prefix="profile")
    password = ChangePasswordForm(prefix="pw")
    status = 200
    if request.method == "POST" and "profile-submit" in request.form:
        if profile.validate_on_submit():
            current_user.name = profile.name.data.strip()
            current_user.language = profile.language.data
            session["lang"] = profile.language.data
            db.session.commit()
            with force_locale(profile.language.data):
                flash(_("Ihre Angaben sind gespeichert."), "success")
            return redirect(url_for("portal.account"))
        status = 400
    elif request.method == "POST":
        if password.validate_on_submit():
            if not check_password_hash(current_user.password_hash, password.current_password.data):
                password.current_password.errors.append(_("Das bisherige Passwort stimmt nicht."))
                status = 400
            else:
                accounts.set_password(current_user, password.password.data,
                                      keep_session=sessions.current(current_user))
                audit.record("password_changed", actor=current_user, target=current_user.email)
                db.session.commit()
                flash(_("Ihr Passwort ist geändert. Auf allen anderen Geräten sind Sie "
                        "abgemeldet."), "success")
                return redirect(url_for("portal.account"))
        else:
            status = 400
    return _account_page(profile, password, InviteForm(prefix="invite"), status)


def _account_page(profile, password, invite, status=200, firm_form=None, delete_form=None,
                  token_form=None, new_token=None):
    firm = current_user.firm if current_user.role == "firm" else None
    team = accounts.colleagues(current_user) if firm is not None else None
    if firm is not None and firm_form is None:
        firm_form = FirmForm(obj=firm, prefix="firm")
    return render_template("auth/account.html", profile=profile, password=password,
                           invite=invite, team=team, firm_form=firm_form,
                           delete_form=delete_form or DeleteAccountForm(prefix="delete"),
                           invoices_kept_until=data_rights.kept_until(firm),
                           sessions=sessions.sessions_of(current_user),
                           session_form=LogoutForm(),
                           tokens=api_tokens.tokens_of(current_user),
                           token_state=api_tokens.state, new_token=new_token,
                           token_form=token_form or TokenForm(prefix="token")), status


def _current_session_id() -> str:
    row = sessions.current(current_user)
    return row.public_id if row is not None else ""


@bp.post("/account/sessions/<public_id>/end")
@login_required
def end_session(public_id: str):
    if not LogoutForm().validate_on_submit():
        abort(400)
    this_one = public_id == _current_session_id()
    if not sessions.end(current_user, public_id):
        abort(404)
    audit.record("sessions_ended", actor=current_user, target=current_user.email,
                 detail={"ended": 1})
    db.session.commit()
    if this_one:
        _sign_out()
        flash(_("Sie sind abgemeldet."), "success")
        return redirect(url_for("portal.index"))
    flash(_("Die Anmeldung auf dem anderen Gerät ist beendet."), "success")
    return redirect(url_for("portal.account") + "#sessions")


@bp.post("/account/sessions/end-all")
@login_required
def end_all_sessions():
    if not LogoutForm().validate_on_submit():
        abort(400)
    ended = sessions.end_all(current_user)
    audit.record("sessions_ended", actor=current_user, target=current_user.email,
                 detail={"ended": ended, "everywhere": True})
    db.session.commit()
    _sign_out()
    flash(_("Sie sind jetzt auf allen Geräten abgemeldet."), "success")
    return redirect(url_for("portal.login"))


def _default_forms():
    return (ProfileForm(obj=current_user, prefix="profile"), ChangePasswordForm(prefix="pw"),
            InviteForm(prefix="invite"))


@bp.post("/account/firm")
@login_required
def update_firm():
    if current_user.role != "firm" or current_user.firm is None:
        abort(403)
    form = FirmForm(prefix="firm")
    if form.validate_on_submit():
        try:
            accounts.update_firm(
                current_user.firm, vat_id=form.vat_id.data or "", street=form.street.data,
                postcode=form.postcode.data, city=form.city.data, country=form.country.data,
                contact_name=form.contact_name.data, phone=form.phone.data or "",
                invoice_email=form.invoice_email.data or "",
                leitweg_id=form.leitweg_id.data or "")
        except accounts.AccountError as exc:
            db.session.rollback()
            for name, message in exc.problems:
                getattr(form, name or "street").errors.append(_(message))
        else:
            db.session.commit()
            flash(_("Die Firmendaten sind gespeichert."), "success")
            return redirect(url_for("portal.account"))
    return _account_page(*_default_forms(), status=400, firm_form=form)


@bp.post("/account/invite")
@role_required("firm")  # before the limits: staff are refused, not counted
@limit("LIMIT_INVITE_PER_FIRM", firm_key)
@limit("LIMIT_INVITE_PER_EMAIL", form_address("invite-email"))
def invite_colleague():
    form = InviteForm(prefix="invite")
    if form.validate_on_submit():
        try:
            pending.invite(current_user, form.email.data, form.name.data)
        except accounts.AccountError as exc:
            db.session.rollback()
            form.email.errors.append(_(exc.message))
        else:
            db.session.commit()  # the invitation mail goes out after this commit
            # the same answer whether the address has an account or not: the mail tells
            flash(_("Wir haben eine Einladung an %(email)s geschickt. Das Konto entsteht, "
                    "wenn sie angenommen wird.", email=accounts.normalise_email(form.email.data)),
                  "success")
            return redirect(url_for("portal.account"))
    profile, password, _invite = _default_forms()
    return _account_page(profile, password, form, 400)


@bp.route("/signup/confirm/<token>", methods=["GET", "POST"])
def confirm_signup(token: str):
    row = pending.find(token, "signup")
    if row is None:
        return render_template("auth/link_invalid.html"), 400
    form = LogoutForm()  # only the CSRF token: the account is made by a POST, not a mail scanner
    if form.validate_on_submit():
        try:
            user = pending.confirm_signup(row)
        except accounts.AccountError as exc:
            db.session.rollback()
            return render_template("auth/link_invalid.html", message=_(exc.message)), 409
        audit.record("account_created", actor=user, target=user.email,
                     detail={"role": "firm", "via": "signup", "firm": user.firm.name})
        moved = _sign_in(user, guest_key_sha256=(row.data or {}).get("guest_key_sha256"))
        if moved:  # the parts list it lands on shows them: no "upload your first part"
            flash(ngettext("Willkommen! Ihr Firmenkonto ist eingerichtet. Öffnen Sie Ihr Teil "
                           "unten, um ein Angebot zu speichern oder zu bestellen.",
                           "Willkommen! Ihr Firmenkonto ist eingerichtet. Öffnen Sie eines Ihrer "
                           "Teile unten, um ein Angebot zu speichern oder zu bestellen.", moved),
                  "success")
        else:
            flash(_("Willkommen! Ihr Firmenkonto ist eingerichtet. Laden Sie jetzt Ihr erstes "
                    "Teil hoch, um einen Preis zu sehen."), "success")
        return redirect(_land(user))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/confirm_signup.html", row=row, form=form, token=token), status


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    row = pending.find(token, "invite")
    if row is None:
        return render_template("auth/link_invalid.html"), 400
    form = AcceptInvitationForm(data={"name": (row.data or {}).get("name", "")}
                                if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            user = pending.accept_invitation(row, form.name.data, form.password.data)
        except accounts.AccountError as exc:
            db.session.rollback()
            return render_template("auth/link_invalid.html", message=_(exc.message)), 409
        if current_user.is_authenticated:
            _sign_out()
        audit.record("account_created", actor=user, target=user.email,
                     detail={"role": "firm", "via": "invitation", "firm": user.firm.name,
                             "invited_by": row.invited_by.email if row.invited_by else None})
        _sign_in(user)
        flash(_("Willkommen! Ihr Konto ist eingerichtet."), "success")
        return redirect(_land(user))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/accept_invitation.html", row=row, form=form,
                           token=token), status
