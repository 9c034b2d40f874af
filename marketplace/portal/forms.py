"""Forms of the firm portal (Flask-WTF: every POST carries a CSRF token)."""

from __future__ import annotations

from flask import request
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from marketplace.i18n import lazy_gettext as _l


class Form(FlaskForm):
    """A FlaskForm that reads the posted form fields only. Flask-WTF would also take a JSON
    body as form data, passing its numbers and lists to validators that expect text (a 500);
    our forms are HTML forms, so a JSON body is no data (the form answers "please fill in")."""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            automatic = not hasattr(formdata, "getlist")  # the view passed no form data
            if automatic and request.is_json and not request.form and not request.files:
                return None
            return super().wrap_formdata(form, formdata)


class OrderForm(Form):
    """Accept a quote: delivery, the firm's reference (PO number), a note for the hub."""

    delivery = RadioField(
        _l("Lieferung"), choices=[SelectChoice("pickup", _l("Abholung im Hub")),
                                 SelectChoice("shipping", _l("Versand"))],
        default="pickup",
    )
    reference = StringField(_l("Ihre Bestellnummer (optional)"),
                            validators=[Optional(), Length(max=100)])
    leitweg_id = StringField(_l("Leitweg-ID (nur öffentliche Auftraggeber, optional)"),
                             validators=[Optional(), Length(max=50)])
    notes = TextAreaField(_l("Hinweis an den Hub (optional)"),
                          validators=[Optional(), Length(max=2000)])


class ReferencesForm(Form):
    """The firm's purchase order number and Leitweg-ID, changeable until the invoice."""

    reference = StringField(_l("Ihre Bestellnummer (optional)"),
                            validators=[Optional(), Length(max=100)])
    leitweg_id = StringField(_l("Leitweg-ID (nur öffentliche Auftraggeber, optional)"),
                             validators=[Optional(), Length(max=50)])


class ActionForm(Form):
    """A button that only needs the CSRF token (create quote, reorder, units)."""
