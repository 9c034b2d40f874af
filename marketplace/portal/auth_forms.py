"""Forms for signing up, signing in and choosing a new password (Flask-WTF: CSRF included)."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
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
from marketplace.i18n import lazy_gettext as l_

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COUNTRIES = (("DE", "Deutschland"), ("AT", "Österreich"), ("CH", "Schweiz"), ("NL", "Niederlande"),
             ("DK", "Dänemark"), ("PL", "Polen"), ("FR", "Frankreich"), ("BE", "Belgien"),
             ("LU", "Luxemburg"), ("CZ", "Tschechien"))


def _required():
    return DataRequired(message=l_("Bitte ausfüllen."))


def email_format(form, field) -> None:
    if not _EMAIL.match((field.data or "").strip()):
        raise ValidationError(l_("Bitte geben Sie eine gültige E-Mail-Adresse an."))


def vat_id_format(form, field) -> None:
    value = accounts.normalise_vat_id(field.data or "")
    if value and (problem := accounts.vat_id_problem(value)):
        raise ValidationError(l_(problem))


def password_strength(form, field) -> None:
    if problem := accounts.password_problem(field.data or ""):
        raise ValidationError(l_(problem))


def _new_password():
    return [_required(), Length(max=500), password_strength]


class LoginForm(FlaskForm):
    email = EmailField(l_("E-Mail-Adresse"), validators=[_required(), Length(max=254)])
    password = PasswordField(l_("Passwort"), validators=[_required(), Length(max=500)])
    remember = BooleanField(l_("Angemeldet bleiben"))
    next = HiddenField()


class SignupForm(FlaskForm):
    company = StringField(l_("Firmenname"), validators=[_required(), Length(max=200)])
    vat_id = StringField(l_("USt-IdNr."),
                         validators=[Optional(), Length(max=32), vat_id_format])
    street = StringField(l_("Straße und Hausnummer"),
                         validators=[_required(), Length(max=200)])
    postcode = StringField(l_("PLZ"), validators=[_required(), Length(max=16)])
    city = StringField(l_("Ort"), validators=[_required(), Length(max=100)])
    country = SelectField(l_("Land"), choices=[SelectChoice(c, l_(n)) for c, n in COUNTRIES],
                          default="DE")
    contact_name = StringField(l_("Ansprechpartner/in"),
                               validators=[_required(), Length(max=200)])
    phone = StringField(l_("Telefon"), validators=[Optional(), Length(max=50)])
    email = EmailField(l_("E-Mail-Adresse"),
                       validators=[_required(), Length(max=254), email_format])
    password = PasswordField(l_("Passwort"), validators=_new_password())
    password_confirm = PasswordField(l_("Passwort wiederholen"), validators=[
        _required(), EqualTo("password", message=l_("Die Passwörter stimmen nicht überein."))])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(l_("E-Mail-Adresse"),
                       validators=[_required(), Length(max=254), email_format])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(l_("Neues Passwort"), validators=_new_password())
    password_confirm = PasswordField(l_("Neues Passwort wiederholen"), validators=[
        _required(), EqualTo("password", message=l_("Die Passwörter stimmen nicht überein."))])


class LogoutForm(FlaskForm):
    """Only the CSRF token: signing out is a POST."""


class ProfileForm(FlaskForm):
    name = StringField(l_("Name"), validators=[_required(), Length(max=200)])
    language = SelectField(l_("Sprache für Seiten und E-Mails"),
                           choices=[SelectChoice("de", "Deutsch"), SelectChoice("en", "English")])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(l_("Bisheriges Passwort"),
                                     validators=[_required(), Length(max=500)])
    password = PasswordField(l_("Neues Passwort"), validators=_new_password())
    password_confirm = PasswordField(l_("Neues Passwort wiederholen"), validators=[
        _required(), EqualTo("password", message=l_("Die Passwörter stimmen nicht überein."))])


class InviteForm(FlaskForm):
    name = StringField(l_("Name"), validators=[_required(), Length(max=200)])
    email = EmailField(l_("E-Mail-Adresse"),
                       validators=[_required(), Length(max=254), email_format])


class FirmForm(FlaskForm):
    """The firm's details as they appear on quotes and order confirmations."""

    vat_id = SignupForm.vat_id
    street = SignupForm.street
    postcode = SignupForm.postcode
    city = SignupForm.city
    country = SignupForm.country
    contact_name = SignupForm.contact_name
    phone = SignupForm.phone
