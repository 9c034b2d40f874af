"""Forms for signing up, signing in and choosing a new password (Flask-WTF: CSRF included)."""

from __future__ import annotations

import re

from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from marketplace.accounts import operations as accounts
from marketplace.i18n import N_
from marketplace.i18n import lazy_gettext as _l
from marketplace.portal.forms import Form

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COUNTRIES = (("DE", N_("Deutschland")), ("AT", N_("Österreich")), ("CH", N_("Schweiz")),
             ("NL", N_("Niederlande")), ("DK", N_("Dänemark")), ("PL", N_("Polen")),
             ("FR", N_("Frankreich")), ("BE", N_("Belgien")), ("LU", N_("Luxemburg")),
             ("CZ", N_("Tschechien")))


def _required():
    return DataRequired(message=_l("Bitte ausfüllen."))


def email_format(form, field) -> None:
    if not _EMAIL.match((field.data or "").strip()):
        raise ValidationError(_l("Bitte geben Sie eine gültige E-Mail-Adresse an."))


def vat_id_format(form, field) -> None:
    value = accounts.normalise_vat_id(field.data or "")
    if value and (problem := accounts.vat_id_problem(value)):
        raise ValidationError(_l(problem))


def postcode_format(form, field) -> None:
    """The postcode for the form's country (checked with the other fields: every wrong field
    is named at once, not the postcode only once the rest is right)."""
    if problem := accounts.postcode_problem(form.country.data, field.data or ""):
        raise ValidationError(_l(problem))


def leitweg_id_format(form, field) -> None:
    value = accounts.normalise_leitweg_id(field.data or "")
    if value and (problem := accounts.leitweg_id_problem(value)):
        raise ValidationError(_l(problem))


def password_strength(form, field) -> None:
    if problem := accounts.password_problem(field.data or ""):
        raise ValidationError(_l(problem))


def _new_password():
    return [_required(), Length(max=500), password_strength]


class LoginForm(Form):
    email = EmailField(_l("E-Mail-Adresse"), validators=[_required(), Length(max=254)])
    password = PasswordField(_l("Passwort"), validators=[_required(), Length(max=500)])
    remember = BooleanField(_l("Angemeldet bleiben"))
    next = HiddenField()


class SignupForm(Form):
    company = StringField(_l("Firmenname"), validators=[_required(), Length(max=200)])
    vat_id = StringField(_l("USt-IdNr."),
                         validators=[Optional(), Length(max=32), vat_id_format])
    street = StringField(_l("Straße und Hausnummer"),
                         validators=[_required(), Length(max=200)])
    postcode = StringField(_l("PLZ"), validators=[_required(), Length(max=16), postcode_format])
    city = StringField(_l("Ort"), validators=[_required(), Length(max=100)])
    country = SelectField(_l("Land"), choices=[SelectChoice(c, _l(n)) for c, n in COUNTRIES],
                          default="DE")
    contact_name = StringField(_l("Ansprechpartner/in"),
                               validators=[_required(), Length(max=200)])
    phone = StringField(_l("Telefon"), validators=[Optional(), Length(max=50)])
    email = EmailField(_l("E-Mail-Adresse"),
                       validators=[_required(), Length(max=254), email_format])
    password = PasswordField(_l("Passwort"), validators=_new_password())
    password_confirm = PasswordField(_l("Passwort wiederholen"), validators=[
        _required(), EqualTo("password", message=_l("Die Passwörter stimmen nicht überein."))])


class ForgotPasswordForm(Form):
    email = EmailField(_l("E-Mail-Adresse"),
                       validators=[_required(), Length(max=254), email_format])


class ResetPasswordForm(Form):
    password = PasswordField(_l("Neues Passwort"), validators=_new_password())
    password_confirm = PasswordField(_l("Neues Passwort wiederholen"), validators=[
        _required(), EqualTo("password", message=_l("Die Passwörter stimmen nicht überein."))])


class LogoutForm(Form):
    """Only the CSRF token: signing out is a POST."""


class ProfileForm(Form):
    name = StringField(_l("Name"), validators=[_required(), Length(max=200)])
    language = SelectField(_l("Sprache für Seiten und E-Mails"),
                           choices=[SelectChoice("de", "Deutsch"), SelectChoice("en", "English")])


class ChangePasswordForm(Form):
    current_password = PasswordField(_l("Bisheriges Passwort"),
                                     validators=[_required(), Length(max=500)])
    password = PasswordField(_l("Neues Passwort"), validators=_new_password())
    password_confirm = PasswordField(_l("Neues Passwort wiederholen"), validators=[
        _required(), EqualTo("password", message=_l("Die Passwörter stimmen nicht überein."))])


class InviteForm(Form):
    name = StringField(_l("Name"), validators=[_required(), Length(max=200)])
    email = EmailField(_l("E-Mail-Adresse"),
                       validators=[_required(), Length(max=254), email_format])


class AcceptInvitationForm(Form):
    name = StringField(_l("Name"), validators=[_required(), Length(max=200)])
    password = PasswordField(_l("Passwort"), validators=_new_password())
    password_confirm = PasswordField(_l("Passwort wiederholen"), validators=[
        _required(), EqualTo("password", message=_l("Die Passwörter stimmen nicht überein."))])


class FirmForm(Form):
    """The firm's details as they appear on quotes and order confirmations."""

    vat_id = SignupForm.vat_id
    street = SignupForm.street
    postcode = SignupForm.postcode
    city = SignupForm.city
    country = SignupForm.country
    contact_name = SignupForm.contact_name
    phone = SignupForm.phone
    invoice_email = EmailField(_l("E-Mail-Adresse für Rechnungen (optional)"),
                               validators=[Optional(), Length(max=254), email_format])
    leitweg_id = StringField(_l("Leitweg-ID (nur öffentliche Auftraggeber, optional)"),
                             validators=[Optional(), Length(max=50), leitweg_id_format])


class DeleteAccountForm(Form):
    """Delete one's own account: the password and an explicit yes."""

    password = PasswordField(_l("Ihr Passwort"), validators=[_required(), Length(max=500)])
    confirm = BooleanField(_l("Ja, mein Konto löschen"), validators=[
        DataRequired(message=_l("Bitte bestätigen Sie das Löschen."))])


class TokenForm(Form):
    """A new personal access token of the API: what for, which scopes, how long."""

    name = StringField(_l("Wofür (z. B. „ERP-Anbindung“)"), validators=[Optional(),
                                                                     Length(max=100)])
    scope_read = BooleanField(_l("read – lesen (Teile, Angebote, Aufträge, Dokumente)"),
                              default=True)
    scope_write = BooleanField(_l("write – hochladen, Angebote erstellen, bestellen"))
    scope_hub = BooleanField(_l("hub – Warteschlange, Druckaufträge, Drucker (nur Technik)"))
    expires_days = SelectField(_l("Gültig für"), default="90", choices=[
        SelectChoice("30", _l("30 Tage")), SelectChoice("90", _l("90 Tage")),
        SelectChoice("365", _l("1 Jahr"))])

    def scopes(self) -> list[str]:
        return [s for s in ("read", "write", "hub") if getattr(self, f"scope_{s}").data]
