"""Console forms: parse the posted fields into what the services take, and back.

Plain request forms (CSRF is checked for every POST by Flask-WTF's CSRFProtect). Money is typed
in euros ("3,50" or "3.50") and stored in cents. Validation lives in the services; these
helpers only translate the shape and raise the services' errors with the form's field names.
"""

from __future__ import annotations

import re

from decimal import Decimal
from typing import Any

from marketplace.engine.pricing.catalog import PricingRules
from marketplace.i18n import N_
from marketplace.i18n import gettext as _
from marketplace.models import Printer
from marketplace.scheduling.planning import HOLIDAY_REGIONS, WEEKDAYS
from marketplace.settings import operations as hub_settings
from marketplace.settings.operations import SettingsError

WEEKDAY_LABELS = dict(zip(WEEKDAYS, (N_("Montag"), N_("Dienstag"), N_("Mittwoch"),
                                     N_("Donnerstag"), N_("Freitag"), N_("Samstag"),
                                     N_("Sonntag")), strict=True))

# The choices of "public holidays", in this order; labels are German source strings.
HOLIDAY_REGION_LABELS = {
    "BW": N_("Baden-Württemberg"),
    "BY": N_("Bayern"),
    "Augsburg": N_("Augsburg (Bayern, mit Friedensfest)"),
    "BE": N_("Berlin"),
    "BB": N_("Brandenburg"),
    "HB": N_("Bremen"),
    "HH": N_("Hamburg"),
    "HE": N_("Hessen"),
    "MV": N_("Mecklenburg-Vorpommern"),
    "NI": N_("Niedersachsen"),
    "NW": N_("Nordrhein-Westfalen"),
    "RP": N_("Rheinland-Pfalz"),
    "SL": N_("Saarland"),
    "SN": N_("Sachsen"),
    "ST": N_("Sachsen-Anhalt"),
    "SH": N_("Schleswig-Holstein"),
    "TH": N_("Thüringen"),
    "": N_("keine"),
}
assert set(HOLIDAY_REGION_LABELS) == set(HOLIDAY_REGIONS), "a holiday region without a label"


class FormError(ValueError):
    """Invalid form input: ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def euros_to_cents(value: Any) -> int | None:
    """Parse "1.234,50", "1234.5" or "12" (euros) into cents; None if it is not a number
    (NaN, infinities and amounts of a billion euros or more are none)."""
    text = str(value or "").strip().replace("€", "").replace(" ", "")
    if not text:
        return None
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        euros = Decimal(text)
        if not euros.is_finite() or euros.adjusted() >= 9:
            return None
        return int((euros * 100).quantize(Decimal(1)))
    except ArithmeticError:  # decimal's InvalidOperation, Overflow, ...
        return None


def cents_to_euros(cents: int | None) -> str:
    """Format cents for an input field: 350 -> "3,50"."""
    if cents is None:
        return ""
    return f"{cents // 100},{cents % 100:02d}" if cents >= 0 else f"-{cents_to_euros(-cents)}"


# --- settings forms -----------------------------------------------------------------------------


def save_material_form(form) -> str:
    price = euros_to_cents(form.get("price_eur_per_kg"))
    row = hub_settings.save_material(
        form.get("code", ""), name=form.get("name", ""),
        density_g_cm3=form.get("density_g_cm3", ""),
        price_per_kg_cents=price if price is not None else "x",
        colours=form.get("colours", ""), active=form.get("active") == "1",
    )
    return _("Material %(code)s gespeichert.", code=row.code)


def pricing_values(rules: PricingRules) -> dict[str, str]:
    """Return the pricing form's field values for ``rules``."""
    return {
        "setup_fee_eur": cents_to_euros(rules.setup_fee_cents),
        "minimum_order_eur": cents_to_euros(rules.minimum_order_cents),
        "vat_percent": str(rules.vat_percent),
        "default_printer_class": rules.default_printer_class,
        "machine_rates": "\n".join(f"{k}: {cents_to_euros(v)}"
                                   for k, v in rules.machine_rate_cents_per_h.items()),
        "quantity_discounts": "\n".join(f"{q}: {p}" for q, p in rules.quantity_discounts),
    }


def _pairs(text: str, field: str, errors: dict) -> list[tuple[str, str]]:
    out = []
    for line in (text or "").replace(";", "\n").splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            key, sep, value = line.partition("=")
        if not sep or not key.strip() or not value.strip():
            errors[field] = _("Eine Angabe pro Zeile, z. B. „%(example)s“.",
                              example="standard: 3,00" if field == "machine_rates" else "10: 5")
            continue
        out.append((key.strip(), value.strip()))
    return out


def save_pricing_form(form) -> str:
    errors: dict[str, str] = {}
    rates = {}
    for cls, value in _pairs(form.get("machine_rates", ""), "machine_rates", errors):
        cents = euros_to_cents(value)
        rates[cls] = cents if cents is not None else "x"
    discounts = [(q, p) for q, p in _pairs(form.get("quantity_discounts", ""),
                                           "quantity_discounts", errors)]
    if errors:
        raise SettingsError(errors)
    data = {
        "setup_fee_cents": euros_to_cents(form.get("setup_fee_eur")),
        "minimum_order_cents": euros_to_cents(form.get("minimum_order_eur")),
        "vat_percent": form.get("vat_percent"),
        "default_printer_class": form.get("default_printer_class", ""),
        "machine_rate_cents_per_h": rates,
        "quantity_discounts": discounts,
    }
    try:
        hub_settings.set_pricing_rules(data)
    except SettingsError as exc:
        names = {"setup_fee_cents": "setup_fee_eur", "minimum_order_cents": "minimum_order_eur",
                 "machine_rate_cents_per_h": "machine_rates"}
        raise SettingsError({names.get(k, k): v for k, v in exc.errors.items()}) from None
    return _("Preisregeln gespeichert.")


def save_hours_form(form) -> str:
    weekly = {}
    for day in WEEKDAYS:
        opens, closes = form.get(f"open_{day}", "").strip(), form.get(f"close_{day}", "").strip()
        weekly[day] = [opens, closes] if (opens or closes) and form.get(f"closed_{day}") != "1" \
            else None
    hub_settings.set_opening_hours({
        "weekly": weekly,
        "holiday_region": form.get("holiday_region", ""),
        "closed_dates": form.get("closed_dates", ""),
        "handling_days": form.get("handling_days"),
        "changeover_min": form.get("changeover_min"),
        "material_change_min": form.get("material_change_min"),
        "timezone": form.get("timezone") or "Europe/Berlin",
        "unattended": form.get("unattended") == "1",
    })
    return _("Öffnungszeiten gespeichert.")


def save_address_form(form) -> str:
    hub_settings.set_hub_address({k: form.get(k, "") for k in hub_settings.DEFAULT_ADDRESS})
    return _("Adresse gespeichert.")


def save_legal_form(form) -> str:
    hub_settings.set_hub_legal({k: form.get(k, "") for k in hub_settings.LEGAL_FIELDS})
    return _("Rechtliche Angaben gespeichert.")


def save_texts_form(form) -> str:
    texts = hub_settings.set_legal_texts({key: form.get(key, "")
                                          for key in hub_settings.LEGAL_TEXTS})
    if texts["terms_version"]:
        return _("Rechtstexte gespeichert (AGB in der Fassung %(version)s).",
                 version=texts["terms_version"])
    return _("Rechtstexte gespeichert.")


def save_quotes_form(form) -> str:
    hub_settings.set_quote_terms({"valid_days": form.get("valid_days", ""),
                                  "terms": form.get("terms", "")})
    return _("Gültigkeit und Bedingungen gespeichert.")


def delivery_values(rules) -> dict[str, str]:
    """The delivery form's field values for the hub's DeliveryRules."""
    return {
        "parcel_classes": "\n".join(
            f"{p.code}: {p.max_weight_g}, {'x'.join(str(v) for v in p.max_dims_mm)}, "
            f"{cents_to_euros(p.price_cents)}" for p in rules.parcel_classes),
        "packaging_g": str(rules.packaging_g), "packaging_percent": str(rules.packaging_percent),
        "padding_mm": str(rules.padding_mm), "fill_percent": str(rules.fill_percent),
        "shipping_days": str(rules.shipping_days), "express_percent": str(rules.express_percent),
        "express_min_eur": cents_to_euros(rules.express_min_cents),
        "express_priority": str(rules.express_priority),
    }


_PARCEL_RE = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*[x×]\s*(\d+)\s*[x×]\s*(\d+)\s*,\s*(\S+)\s*$",
                        re.IGNORECASE)


def save_delivery_form(form) -> str:
    """Parcel classes, one a line: "P5: 5000, 1200x600x600, 7,00" (name: max grams, sides in
    mm, price in euros net), packaging and express terms."""
    errors: dict[str, str] = {}
    classes = []
    for code, rest in _pairs(form.get("parcel_classes", ""), "parcel_classes", errors):
        match = _PARCEL_RE.match(rest)
        price = euros_to_cents(match.group(5)) if match else None
        if match and price is not None:
            classes.append({"code": code, "max_weight_g": int(match.group(1)),
                            "max_dims_mm": [int(match.group(n)) for n in (2, 3, 4)],
                            "price_cents": price})
        else:
            errors["parcel_classes"] = ""
    if errors:  # a line without "name:" or with figures that do not read
        raise SettingsError({"parcel_classes": _(
            "Eine Paketklasse pro Zeile, z. B. „%(example)s“.",
            example="P5: 5000, 1200x600x600, 7,00")})
    express_min = euros_to_cents(form.get("express_min_eur"))
    data = {key: form.get(key) for key in ("packaging_g", "packaging_percent", "padding_mm",
                                           "fill_percent", "shipping_days", "express_percent",
                                           "express_priority")}
    data["express_min_cents"] = express_min if express_min is not None else "x"
    data["parcel_classes"] = classes
    try:
        hub_settings.set_delivery_rules(data)
    except SettingsError as exc:
        raise SettingsError({("express_min_eur" if k == "express_min_cents" else k): v
                             for k, v in exc.errors.items()}) from None
    return _("Versand und Express gespeichert.")


# --- printer form -------------------------------------------------------------------------------

PRINTER_FIELDS = ("name", "url", "printer_class", "build_x_mm", "build_y_mm", "build_z_mm",
                  "nozzle_mm", "material_code", "colour", "slicer_profile")


def printer_values(printer: Printer | None, form=None) -> dict[str, str]:
    """Return the printer form's values: posted ones, else the printer's (never the API key)."""
    if form is not None:
        values = {k: str(form.get(k, "")).strip() for k in PRINTER_FIELDS}
        values["api_key"] = str(form.get("api_key", "")).strip()
        return values
    if printer is None:
        defaults = {c.name: c.default.arg for c in Printer.__table__.columns
                    if c.default is not None and not callable(c.default.arg)}
        return {k: str(defaults.get(k, "")) for k in PRINTER_FIELDS} | {"api_key": ""}
    return {k: str(getattr(printer, k) or "") for k in PRINTER_FIELDS} | {"api_key": ""}


def printer_choices(values: dict[str, str]) -> dict[str, Any]:
    """Return the values the printer form offers: materials, their catalogue colours
    (``colours``: material code -> colours), printer classes (those the pricing rules know),
    slicer profiles; the printer's current value is always included (a colour from before
    the catalogue is offered under its material, marked, until a technician picks anew)."""
    from flask import current_app

    from printers import admin as printer_admin
    from printers import slicing

    materials = printer_admin.catalogue()
    choices: dict[str, Any] = {
        "material_code": sorted(materials),
        "printer_class": sorted(hub_settings.get_pricing_rules().machine_rate_cents_per_h),
        "slicer_profile": slicing.available_profiles(current_app.config["SLICER_PROFILE_DIR"]),
    }
    for key, options in choices.items():
        current = values.get(key)
        if current and current not in options:
            options.append(current)
    colours = {code: list(materials[code].colours) if code in materials else []
               for code in choices["material_code"]}
    loaded, colour = values.get("material_code", ""), values.get("colour", "")
    choices["colours"] = colours
    choices["unlisted_colour"] = (colour if colour and colour not in colours.get(loaded, [])
                                  else None)
    return choices


def save_printer(printer: Printer | None, values: dict[str, str], actor: str) -> Printer:
    """Create or update a printer through the printers helper's ``printer_admin`` (which
    validates). An empty API key on edit keeps the stored key (the key is write-only)."""
    from printers import admin as printer_admin

    fields: dict[str, Any] = {}
    for key in PRINTER_FIELDS:
        value = values.get(key, "")
        fields[key] = value.replace(",", ".") if key.endswith("_mm") else value
    if values.get("api_key"):
        fields["api_key"] = values["api_key"]
    try:
        if printer is None:
            return printer_admin.add_printer(
                name=fields.pop("name"), url=fields.pop("url"),
                api_key=fields.pop("api_key", ""), actor=actor, **fields)
        return printer_admin.update_printer(printer, fields, actor=actor)
    except printer_admin.PrinterValidationError as exc:
        raise FormError(exc.texts(_)) from None
