"""Forms of the firm portal (Flask-WTF: every POST carries a CSRF token)."""

from __future__ import annotations

from flask import request
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, StringField, TextAreaField
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


class DeliveryForm(Form):
    """Delivery: pickup or shipping (to the firm's address or another one), standard or
    express. ``variant`` ("shipping:1") is what the quote page's choices post; a form without
    it gives ``delivery`` and ``express``."""

    delivery = RadioField(
        _l("Lieferung"), choices=[SelectChoice("pickup", _l("Abholung im Hub")),
                                 SelectChoice("shipping", _l("Versand"))],
        default="pickup",
    )
    express = BooleanField(_l("Express (vorrangig gedruckt, mit Aufpreis)"))
    variant = StringField(validators=[Optional(), Length(max=16)])
    address = RadioField(
        _l("Lieferadresse"), choices=[SelectChoice("firm", _l("Firmenadresse")),
                                     SelectChoice("other", _l("Andere Adresse"))],
        default="firm", validators=[Optional()],
    )
    ship_name = StringField(_l("Name / Firma"), validators=[Optional(), Length(max=100)])
    ship_street = StringField(_l("Straße und Hausnummer"), validators=[Optional(),
                                                                      Length(max=100)])
    ship_postcode = StringField(_l("PLZ"), validators=[Optional(), Length(max=16)])
    ship_city = StringField(_l("Ort"), validators=[Optional(), Length(max=100)])

    def choice(self) -> tuple[str, bool]:
        """The delivery and express chosen."""
        variant = (self.variant.data or "").strip()
        if variant:
            delivery, _sep, express = variant.partition(":")
            return delivery, express == "1"
        return self.delivery.data or "pickup", bool(self.express.data)

    def ship_to(self) -> dict | None:
        """Another address typed in (None: the firm's)."""
        if self.address.data != "other":
            return None
        return {"name": self.ship_name.data, "street": self.ship_street.data,
                "postcode": self.ship_postcode.data, "city": self.ship_city.data,
                "country": "DE"}


# a text too long: the limit and the length typed (WTForms' own words name neither plainly)
TOO_LONG = _l("Höchstens %(max)d Zeichen (jetzt %(length)d).")


class OrderForm(DeliveryForm):
    """Accept a quote: delivery, the firm's reference (PO number), a note for the hub."""

    reference = StringField(_l("Ihre Bestellnummer (optional)"),
                            validators=[Optional(), Length(max=100, message=TOO_LONG)])
    leitweg_id = StringField(_l("Leitweg-ID (nur öffentliche Auftraggeber, optional)"),
                             validators=[Optional(), Length(max=50, message=TOO_LONG)])
    notes = TextAreaField(_l("Hinweis an den Hub (optional)"),
                          validators=[Optional(), Length(max=2000, message=TOO_LONG)])
    # the version of the terms (AGB) the page named: the order is placed under it, or not at all
    terms_version = HiddenField()


class ReferencesForm(Form):
    """The firm's purchase order number and Leitweg-ID, changeable until the invoice."""

    reference = StringField(_l("Ihre Bestellnummer (optional)"),
                            validators=[Optional(), Length(max=100)])
    leitweg_id = StringField(_l("Leitweg-ID (nur öffentliche Auftraggeber, optional)"),
                             validators=[Optional(), Length(max=50)])


class ActionForm(Form):
    """A button that only needs the CSRF token (create quote, reorder, units)."""
