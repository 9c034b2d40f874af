"""Hub settings: the Setting table and Material rows, overriding the catalogue defaults.

Keys in the Setting table (JSON values):
- ``pricing_rules``: the fields of :class:`catalog.PricingRules` that differ from the defaults;
- ``opening_hours``: see :func:`opening_hours_from_dict`;
- ``hub_address``: name, street, postcode, city, phone, email (shown on documents and pages);
- ``delivery_rules``: parcel classes and tariffs, packaging, shipping days, express terms
  (the fields of :class:`delivery.DeliveryRules`);
- ``hub_legal``: the legal details every document carries (register entry, VAT id, managing
  director, bank account), see :data:`LEGAL_FIELDS`; production issues no document without the
  required ones (:func:`require_legal_details`);
- ``quote_terms``: how many days a quote is valid (``valid_days``) and the hub's terms
  (``terms``, printed on quotes and order confirmations), see :func:`get_quote_terms`.

Materials: a Material row overrides the catalogue default with the same code; a row with
``active=False`` withdraws a material; codes without a row keep the catalogue default.
Setters validate and raise :class:`SettingsError` (field -> message); the caller commits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import date, time
from typing import Any

import sqlalchemy as sa
from flask import current_app
from stdnum import bic as stdnum_bic
from stdnum import exceptions as stdnum_errors
from stdnum import iban as stdnum_iban

from marketplace import formatting
from marketplace.engine.pricing.catalog import (
    DEFAULT_MATERIALS,
    DEFAULT_PRICING,
    MaterialSpec,
    PricingRules,
)
from marketplace.engine.pricing.delivery import DEFAULT_DELIVERY, DeliveryRules, ParcelClass
from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.i18n import gettext as _
from marketplace.models import Material, Setting
from marketplace.scheduling.planning import (
    DEFAULT_OPENING_HOURS,
    HOLIDAY_REGIONS,
    WEEKDAYS,
    OpeningHours,
)

PRICING_KEY = "pricing_rules"
HOURS_KEY = "opening_hours"
ADDRESS_KEY = "hub_address"
LEGAL_KEY = "hub_legal"
DELIVERY_KEY = "delivery_rules"
QUOTE_TERMS_KEY = "quote_terms"
DEFAULT_QUOTE_VALID_DAYS = 30
QUOTE_VALID_DAYS_RANGE = (1, 365)
TERMS_MAX_CHARS = 3000
DEFAULT_ADDRESS = {
    "name": "Druckhub Lüneburg",
    "street": "",
    "postcode": "",
    "city": "Lüneburg",
    "phone": "",
    "email": "",
}
_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,15}$")
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class SettingsError(ValueError):
    """Invalid settings: ``errors`` maps each bad field to a message (German)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _get(key: str, session: Any = None) -> Any:
    row = (session or db.session).get(Setting, key)
    return None if row is None else row.value


def _put(key: str, value: Any) -> None:
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value
    db.session.flush()


# --- materials ----------------------------------------------------------------------------------


def get_materials(*, include_inactive: bool = False) -> dict[str, MaterialSpec]:
    """Return the materials the hub sells by code (catalogue defaults overridden by rows)."""
    materials = dict(DEFAULT_MATERIALS)
    for row in db.session.scalars(sa.select(Material).order_by(Material.code)):
        if row.active or include_inactive:
            materials[row.code] = _spec(row)
        else:
            materials.pop(row.code, None)
    return materials


def get_material(code: str) -> MaterialSpec | None:
    """Return one active material by code, or None."""
    return get_materials().get((code or "").upper())


def _spec(row: Material) -> MaterialSpec:
    return MaterialSpec(row.code, row.name, float(row.density_g_cm3),
                        int(row.price_per_kg_cents), tuple(row.colours or ()))


def material_table() -> list[dict[str, Any]]:
    """Return every material for the admin page: code, spec fields, active, is_default."""
    rows = {r.code: r for r in db.session.scalars(sa.select(Material))}
    codes = sorted(set(DEFAULT_MATERIALS) | set(rows))
    out = []
    for code in codes:
        row = rows.get(code)
        spec = _spec(row) if row else DEFAULT_MATERIALS[code]
        out.append({**spec.to_dict(), "active": row.active if row else True,
                    "is_default": code in DEFAULT_MATERIALS, "stored": row is not None})
    return out


def _parse_colours(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.replace("\n", ",").split(",")
    colours: list[str] = []
    for c in value or ():
        c = str(c).strip()
        if c and c.lower() not in (x.lower() for x in colours):
            colours.append(c)
    return colours


def save_material(
    code: str,
    *,
    name: str,
    density_g_cm3: Any,
    price_per_kg_cents: Any,
    colours: Any,
    active: bool = True,
) -> Material:
    """Create or update the Material row ``code`` after validating every field."""
    errors: dict[str, str] = {}
    code = (code or "").strip().upper()
    if not _CODE_RE.match(code):
        errors["code"] = _("Kürzel: 1–16 Zeichen, Großbuchstaben, Ziffern oder Bindestrich.")
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        errors["name"] = _("Name: 1–100 Zeichen.")
    try:
        density = float(str(density_g_cm3).replace(",", "."))
        if not 0.5 <= density <= 3.0:
            raise ValueError
    except (TypeError, ValueError):
        errors["density_g_cm3"] = _("Dichte: eine Zahl zwischen 0,5 und 3,0 g/cm³.")
        density = 0.0
    try:
        price = int(price_per_kg_cents)
        if not 0 < price <= 100_000:
            raise ValueError
    except (TypeError, ValueError):
        errors["price_per_kg_cents"] = _("Preis: zwischen 0,01 und 1000 € pro kg.")
        price = 0
    colour_list = _parse_colours(colours)
    if not colour_list:
        errors["colours"] = _("Mindestens eine Farbe.")
    elif len(colour_list) > 40 or any(len(c) > 32 for c in colour_list):
        errors["colours"] = _("Höchstens 40 Farben mit je bis zu 32 Zeichen.")
    if errors:
        raise SettingsError(errors)
    row = db.session.scalar(sa.select(Material).where(Material.code == code))
    if row is None:
        row = Material(code=code)
        db.session.add(row)
    row.name, row.density_g_cm3, row.price_per_kg_cents = name, density, price
    row.colours, row.active = colour_list, bool(active)
    db.session.flush()
    return row


# --- pricing rules ------------------------------------------------------------------------------


def get_pricing_rules() -> PricingRules:
    """Return the hub's pricing rules (stored overrides on top of the catalogue defaults)."""
    stored = _get(PRICING_KEY)
    if not isinstance(stored, dict):
        return DEFAULT_PRICING
    return PricingRules.from_dict(stored, base=DEFAULT_PRICING)


def _int(data: dict, key: str, errors: dict, lo: int, hi: int, label: str,
         money: bool = False) -> int:
    try:
        value = int(data[key])
        if not lo <= value <= hi:
            raise ValueError
        return value
    except (KeyError, TypeError, ValueError):
        if money:  # cents in the service, euros in the form
            errors[key] = _("%(label)s: ein Betrag von %(lo)s bis %(hi)s €.", label=_(label),
                            lo=lo // 100, hi=hi // 100)
        else:
            errors[key] = _("%(label)s: eine ganze Zahl von %(lo)s bis %(hi)s.", label=_(label),
                            lo=lo, hi=hi)
        return lo


def set_pricing_rules(data: dict[str, Any]) -> PricingRules:
    """Validate ``data`` (the shape of ``PricingRules.to_dict()``, cents) and store it."""
    merged = {**get_pricing_rules().to_dict(), **(data or {})}
    errors: dict[str, str] = {}
    setup = _int(merged, "setup_fee_cents", errors, 0, 100_000, N_("Einrichtungspauschale"),
                 money=True)
    minimum = _int(merged, "minimum_order_cents", errors, 0, 1_000_000,
                   N_("Mindestbestellwert"), money=True)
    vat = _int(merged, "vat_percent", errors, 0, 100, N_("USt. (%)"))
    rates: dict[str, int] = {}
    raw_rates = merged.get("machine_rate_cents_per_h")
    if not isinstance(raw_rates, dict) or not raw_rates:
        errors["machine_rate_cents_per_h"] = _("Mindestens ein Maschinenstundensatz.")
    else:
        for cls, rate in raw_rates.items():
            cls = str(cls).strip()
            try:
                rate = int(rate)
                if not cls or not 0 <= rate <= 100_000:
                    raise ValueError
                rates[cls] = rate
            except (TypeError, ValueError):
                errors["machine_rate_cents_per_h"] = (
                    _("Maschinenstundensatz: Druckerklasse und 0 bis 1000 € pro Stunde.")
                )
    default_class = str(merged.get("default_printer_class") or "").strip()
    if rates and default_class not in rates:
        errors["default_printer_class"] = _("Die Standard-Druckerklasse braucht einen Stundensatz.")
    discounts: list[tuple[int, int]] = []
    try:
        for min_qty, percent in merged.get("quantity_discounts") or ():
            min_qty, percent = int(min_qty), int(percent)
            if min_qty < 2 or not 0 <= percent <= 90:
                raise ValueError
            discounts.append((min_qty, percent))
        if len({q for q, _pct in discounts}) != len(discounts):
            raise ValueError
    except (TypeError, ValueError):
        errors["quantity_discounts"] = (
            _("Mengenrabatt: Paare aus Mindestmenge (ab 2, jede nur einmal) und 0–90 %.")
        )
    if errors:
        raise SettingsError(errors)
    rules = PricingRules(
        setup_fee_cents=setup, machine_rate_cents_per_h=rates,
        default_printer_class=default_class, quantity_discounts=tuple(sorted(discounts)),
        minimum_order_cents=minimum, vat_percent=vat,
        currency=str(merged.get("currency") or "EUR"),
    )
    _put(PRICING_KEY, rules.to_dict())
    return rules


# --- delivery -----------------------------------------------------------------------------------


def get_delivery_rules() -> DeliveryRules:
    """Return the hub's parcel tariffs and express terms (stored over the defaults)."""
    stored = _get(DELIVERY_KEY)
    if not isinstance(stored, dict):
        return DEFAULT_DELIVERY
    try:
        return DeliveryRules.from_dict(stored, base=DEFAULT_DELIVERY)
    except (KeyError, TypeError, ValueError):
        return DEFAULT_DELIVERY


def set_delivery_rules(data: dict[str, Any]) -> DeliveryRules:
    """Validate ``data`` (the shape of ``DeliveryRules.to_dict()``: grams, mm, cents) and
    store it; raise SettingsError naming the bad fields."""
    merged = {**get_delivery_rules().to_dict(), **(data or {})}
    errors: dict[str, str] = {}
    values = {
        "packaging_g": _int(merged, "packaging_g", errors, 0, 20_000, N_("Verpackung (g)")),
        "packaging_percent": _int(merged, "packaging_percent", errors, 0, 100,
                                  N_("Füllmaterial (Prozent des Gewichts)")),
        "padding_mm": _int(merged, "padding_mm", errors, 0, 200, N_("Polsterung (mm)")),
        "fill_percent": _int(merged, "fill_percent", errors, 10, 100,
                             N_("Füllgrad des Pakets (%)")),
        "shipping_days": _int(merged, "shipping_days", errors, 0, 20, N_("Laufzeit (Werktage)")),
        "express_percent": _int(merged, "express_percent", errors, 0, 500,
                                N_("Express-Zuschlag (%)")),
        "express_min_cents": _int(merged, "express_min_cents", errors, 0, 1_000_000,
                                  N_("Express-Zuschlag mindestens"), money=True),
        "express_priority": _int(merged, "express_priority", errors, 1, 9,
                                 N_("Express-Priorität")),
    }
    classes: list[ParcelClass] = []
    try:
        for raw in merged.get("parcel_classes") or ():
            klass = ParcelClass.from_dict(raw)
            code = klass.code.strip()
            if (not code or len(code) > 16 or not 1 <= klass.max_weight_g <= 100_000
                    or not all(1 <= v <= 5000 for v in klass.max_dims_mm)
                    or not 0 <= klass.price_cents <= 100_000):
                raise ValueError
            classes.append(ParcelClass(code, klass.max_weight_g, klass.max_dims_mm,
                                       klass.price_cents))
        if not classes or len({c.code for c in classes}) != len(classes):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        errors["parcel_classes"] = _("Paketklassen: je Zeile Name, Höchstgewicht (g), drei "
                                     "Seitenlängen (mm) und Preis; mindestens eine, jeder Name "
                                     "nur einmal.")
    if errors:
        raise SettingsError(errors)
    rules = DeliveryRules.from_dict({**values, "parcel_classes": [c.to_dict() for c in classes]})
    _put(DELIVERY_KEY, rules.to_dict())
    return rules


# --- opening hours ------------------------------------------------------------------------------


def opening_hours_to_dict(hours: OpeningHours) -> dict[str, Any]:
    """Return the JSON form of ``hours`` (what the Setting row stores)."""
    return {
        "timezone": hours.timezone,
        "weekly": {
            day: None if span is None else [span[0].strftime("%H:%M"), span[1].strftime("%H:%M")]
            for day, span in zip(WEEKDAYS, hours.weekly, strict=True)
        },
        "holiday_region": hours.holiday_region,
        "closed_dates": sorted(d.isoformat() for d in hours.closed_dates),
        "handling_days": hours.handling_days,
        "changeover_min": hours.changeover_s // 60,
        "material_change_min": hours.material_change_s // 60,
        "unattended": hours.unattended,
    }


def opening_hours_from_dict(data: dict[str, Any]) -> OpeningHours:
    """Validate and build OpeningHours; missing keys keep the defaults.

    ``weekly``: {"mon": ["07:00", "18:00"] or null, ...}; ``closed_dates``: ISO dates;
    ``holiday_region``: a German state ("NI", "BY", ...; see ``HOLIDAY_REGIONS``) or "" (none);
    ``changeover_min``/``material_change_min``: minutes.
    """
    base = opening_hours_to_dict(default_opening_hours())
    data = {**base, **(data or {})}
    errors: dict[str, str] = {}
    weekly: list[tuple[time, time] | None] = []
    raw_weekly = data.get("weekly") or {}
    for day in WEEKDAYS:
        span = raw_weekly.get(day) if isinstance(raw_weekly, dict) else None
        if not span:
            weekly.append(None)
            continue
        try:
            opens, closes = (_parse_hhmm(s) for s in span)
            if closes <= opens:
                raise ValueError
            weekly.append((opens, closes))
        except (TypeError, ValueError):
            errors[f"weekly.{day}"] = _("Öffnungszeit als HH:MM–HH:MM, Ende nach Beginn.")
            weekly.append(None)
    if not errors and not any(weekly):
        errors["weekly"] = _("Der Hub braucht mindestens einen Öffnungstag.")
    region = str(data.get("holiday_region") or "")
    if region not in HOLIDAY_REGIONS:
        errors["holiday_region"] = _("Feiertage: ein Bundesland (z. B. NI, BY) oder keine.")
    closed: set[date] = set()
    raw_closed = data.get("closed_dates") or []
    if isinstance(raw_closed, str):
        raw_closed = [s for s in re.split(r"[\s,;]+", raw_closed) if s]
    for item in raw_closed:
        try:
            closed.add(date.fromisoformat(str(item)))
        except ValueError:
            errors["closed_dates"] = _("Kein Datum (JJJJ-MM-TT): %(value)s", value=str(item)[:20])
    tz = str(data.get("timezone") or "Europe/Berlin")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(tz)
    except Exception:
        errors["timezone"] = _("Unbekannte Zeitzone.")
    handling = _int(data, "handling_days", errors, 0, 30, N_("Bearbeitungstage"))
    changeover = _int(data, "changeover_min", errors, 0, 240, N_("Rüstzeit (min)"))
    material_change = _int(data, "material_change_min", errors, 0, 240,
                           N_("Materialwechsel (min)"))
    if errors:
        raise SettingsError(errors)
    return OpeningHours(
        weekly=tuple(weekly), timezone=tz, holiday_region=region,
        closed_dates=frozenset(closed), handling_days=handling,
        changeover_s=changeover * 60, material_change_s=material_change * 60,
        unattended=bool(data.get("unattended", True)),
    )


def _parse_hhmm(value: Any) -> time:
    match = _HHMM_RE.match(str(value).strip())
    if not match:
        raise ValueError(value)
    return time(int(match.group(1)), int(match.group(2)))


def default_opening_hours() -> OpeningHours:
    """Return the opening hours before the hub saved its own: Mon–Fri 07:00–18:00 Berlin, the
    public holidays of the state in ``HUB_HOLIDAY_REGION``."""
    region = current_app.config.get("HUB_HOLIDAY_REGION", DEFAULT_OPENING_HOURS.holiday_region)
    return dataclasses.replace(DEFAULT_OPENING_HOURS, holiday_region=region)


def get_opening_hours() -> OpeningHours:
    """Return the hub's opening hours (stored value, else :func:`default_opening_hours`)."""
    stored = _get(HOURS_KEY)
    if not isinstance(stored, dict):
        return default_opening_hours()
    try:
        return opening_hours_from_dict(stored)
    except SettingsError:
        return default_opening_hours()


def set_opening_hours(data: dict[str, Any]) -> OpeningHours:
    """Validate and store the opening hours; keys not in ``data`` keep their current value."""
    current = opening_hours_to_dict(get_opening_hours())
    hours = opening_hours_from_dict({**current, **(data or {})})
    _put(HOURS_KEY, opening_hours_to_dict(hours))
    return hours


# --- hub address --------------------------------------------------------------------------------


def get_hub_address(session: Any = None) -> dict[str, str]:
    """Return the hub's address and contact (for documents and pages)."""
    stored = _get(ADDRESS_KEY, session)
    return {**DEFAULT_ADDRESS, **(stored if isinstance(stored, dict) else {})}


def set_hub_address(data: dict[str, Any]) -> dict[str, str]:
    """Validate and store the hub's address (every field a short single line)."""
    errors: dict[str, str] = {}
    out: dict[str, str] = {}
    for key in DEFAULT_ADDRESS:
        value = str((data or {}).get(key) or "").strip()
        if len(value) > 200 or "\n" in value:
            errors[key] = _("Höchstens 200 Zeichen, eine Zeile.")
        out[key] = value
    if not out["name"]:
        errors["name"] = _("Name des Hubs fehlt.")
    if out["email"] and "@" not in out["email"]:
        errors["email"] = _("Keine E-Mail-Adresse.")
    if errors:
        raise SettingsError(errors)
    _put(ADDRESS_KEY, out)
    return out


# --- legal details ------------------------------------------------------------------------------

# Every field of the hub's legal details (German labels for the form and the error message).
LEGAL_FIELDS = {
    "legal_name": N_("Firmenname mit Rechtsform"),
    "register_court": N_("Registergericht"),
    "register_number": N_("Registernummer (HRB)"),
    "vat_id": N_("USt-IdNr."),
    "tax_number": N_("Steuernummer"),
    "managing_director": N_("Geschäftsführung"),
    "iban": N_("IBAN"),
    "bic": N_("BIC"),
    "bank_name": N_("Bank"),
    "payment_days": N_("Zahlungsziel (Tage)"),
}
# What a document cannot be issued without (with the address's street, postcode, city, phone
# and e-mail): the seller's identity, register entry, VAT id and where to pay.
REQUIRED_LEGAL = ("legal_name", "register_court", "register_number", "vat_id",
                  "managing_director", "iban", "bic", "bank_name")
REQUIRED_ADDRESS = ("street", "postcode", "city", "phone", "email")
DEFAULT_PAYMENT_DAYS = 14


class MissingLegalDetailsError(RuntimeError):
    """Production refuses to issue a document: ``missing`` names the empty fields (German)."""

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__(
            "Die rechtlichen Angaben des Hubs fehlen (Einstellungen, Rechtliche Angaben): "
            + ", ".join(missing))

    def message(self) -> str:
        """The sentence in the language in force."""
        return _("Dokumente können erst ausgestellt werden, wenn die rechtlichen Angaben des "
                 "Hubs vollständig sind (Einstellungen → Rechtliche Angaben). Es fehlt: "
                 "%(fields)s.", fields=", ".join(_(m) for m in self.missing))


def get_hub_legal(session: Any = None) -> dict[str, Any]:
    """Return the hub's legal details (empty strings where none is stored)."""
    stored = _get(LEGAL_KEY, session)
    out: dict[str, Any] = {key: "" for key in LEGAL_FIELDS}
    out["payment_days"] = DEFAULT_PAYMENT_DAYS
    if isinstance(stored, dict):
        out.update({k: v for k, v in stored.items() if k in LEGAL_FIELDS})
    return out


def set_hub_legal(data: dict[str, Any]) -> dict[str, Any]:
    """Validate and store the legal details: VAT id, IBAN and BIC by their check digits."""
    from marketplace.accounts.operations import normalise_vat_id, vat_id_problem

    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key in LEGAL_FIELDS:
        value = str((data or {}).get(key) or "").strip()
        if len(value) > 200 or "\n" in value:
            errors[key] = _("Höchstens 200 Zeichen, eine Zeile.")
        out[key] = value
    if out["vat_id"]:
        out["vat_id"] = normalise_vat_id(out["vat_id"])
        problem = vat_id_problem(out["vat_id"])
        if problem:
            errors["vat_id"] = _(problem)
    if out["iban"]:
        try:
            out["iban"] = stdnum_iban.validate(out["iban"])
        except stdnum_errors.ValidationError:
            errors["iban"] = _("Keine gültige IBAN (Prüfziffer oder Länge stimmt nicht).")
    if out["bic"]:
        try:
            out["bic"] = stdnum_bic.validate(out["bic"])
        except stdnum_errors.ValidationError:
            errors["bic"] = _("Keine gültige BIC (8 oder 11 Zeichen).")
    try:
        days = int(out["payment_days"] or DEFAULT_PAYMENT_DAYS)
        if not 0 <= days <= 120:
            raise ValueError
        out["payment_days"] = days
    except ValueError:
        errors["payment_days"] = _("Zahlungsziel: 0 bis 120 Tage.")
    if errors:
        raise SettingsError(errors)
    _put(LEGAL_KEY, out)
    return out


# --- quotes: validity and terms -----------------------------------------------------------------


def get_quote_terms(session: Any = None) -> dict[str, Any]:
    """Return ``{"valid_days": int, "terms": str}``: how long a quote holds its price, and the
    hub's own terms for the documents ("" : the documents print the standard sentence)."""
    stored = _get(QUOTE_TERMS_KEY, session)
    out: dict[str, Any] = {"valid_days": DEFAULT_QUOTE_VALID_DAYS, "terms": ""}
    if isinstance(stored, dict):
        out.update({k: stored[k] for k in out if k in stored})
    return out


def quote_valid_days() -> int:
    """How many days a new quote is valid (hub setting, default 30)."""
    return int(get_quote_terms()["valid_days"])


def set_quote_terms(data: dict[str, Any]) -> dict[str, Any]:
    """Validate and store the quotes' validity (1-365 days) and the terms (plain text)."""
    errors: dict[str, str] = {}
    lo, hi = QUOTE_VALID_DAYS_RANGE
    try:
        days = int(str((data or {}).get("valid_days", "")).strip())
        if not lo <= days <= hi:
            raise ValueError
    except ValueError:
        errors["valid_days"] = _("Gültigkeit: %(lo)s bis %(hi)s Tage.", lo=lo, hi=hi)
        days = DEFAULT_QUOTE_VALID_DAYS
    terms = str((data or {}).get("terms") or "").replace("\r\n", "\n").strip()
    if len(terms) > TERMS_MAX_CHARS:
        errors["terms"] = _("Höchstens %(n)s Zeichen.", n=TERMS_MAX_CHARS)
    if errors:
        raise SettingsError(errors)
    out = {"valid_days": days, "terms": terms}
    _put(QUOTE_TERMS_KEY, out)
    return out


# --- legal texts: terms (AGB) and privacy notice --------------------------------------------------
# The hub's own texts, shown on public pages (/agb, /datenschutz) and linked from every page.
# Every wording of the terms is kept under a version ("2026-12-01-1a2b3c4d": the day, in the
# hub's time zone, it came into force and its digest), each under a settings key of its own
# (TERMS_VERSION_KEY): an order records the version it was placed under, whose text stays
# readable at /agb/<version> after the terms change. TERMS_KEY holds only which version is in
# force and the versions' list (read on every quote page and order), PRIVACY_KEY the notice.
TERMS_KEY = "legal_terms"
TERMS_VERSION_KEY = "legal_terms:{version}"
PRIVACY_KEY = "legal_privacy"
LEGAL_TEXT_MAX_CHARS = 60_000
LEGAL_TEXTS = {"terms": N_("Allgemeine Geschäftsbedingungen (AGB)"),
               "privacy": N_("Datenschutzerklärung")}


def terms_in_force(session: Any = None) -> dict[str, Any]:
    """Return ``{"terms_version": str | None, "terms_since": "YYYY-MM-DD" | None,
    "terms_versions": [{"version", "since"}, ...]}``: no version while the hub has no
    terms (what an order placed now is placed under)."""
    stored = _get(TERMS_KEY, session)
    stored = stored if isinstance(stored, dict) else {}
    return {"terms_version": stored.get("terms_version") or None,
            "terms_since": stored.get("terms_since") or None,
            "terms_versions": list(stored.get("terms_versions") or [])}


def get_legal_texts(session: Any = None) -> dict[str, Any]:
    """Return :func:`terms_in_force` with the texts: ``"terms"`` (of the version in force)
    and ``"privacy"`` (empty strings where the hub has none)."""
    out = terms_in_force(session)
    current = out["terms_version"] and terms_version_text(out["terms_version"], session)
    return {**out, "terms": current["text"] if current else "",
            "privacy": str(_get(PRIVACY_KEY, session) or "")}


def terms_version_text(version: str, session: Any = None) -> dict[str, str] | None:
    """Return ``{"version", "since", "text"}`` of a wording of the terms, or None."""
    stored = _get(TERMS_VERSION_KEY.format(version=version), session)
    if not isinstance(stored, dict):
        return None
    return {k: str(stored[k]) for k in ("version", "since", "text")}


def current_terms_version(session: Any = None) -> str | None:
    """The version of the terms in force (what an order placed now is placed under)."""
    return terms_in_force(session)["terms_version"]


def terms_version_date(version: str) -> date:
    """The day a version of the terms came into force (the start of its id)."""
    return date.fromisoformat(version[:10])


def set_legal_texts(data: dict[str, Any], today: date | None = None) -> dict[str, Any]:
    """Validate and store the terms and the privacy notice (plain text, paragraphs separated
    by blank lines). Terms other than those in force get a version dated ``today`` (the hub's
    day); empty terms put none in force. Earlier versions stay readable."""
    errors: dict[str, str] = {}
    texts: dict[str, str] = {}
    for key in LEGAL_TEXTS:
        value = str((data or {}).get(key) or "").replace("\r\n", "\n").strip()
        if len(value) > LEGAL_TEXT_MAX_CHARS:
            errors[key] = _("Höchstens %(n)s Zeichen.", n=LEGAL_TEXT_MAX_CHARS)
        texts[key] = value
    if errors:
        raise SettingsError(errors)
    before = get_legal_texts()
    version, since = before["terms_version"], before["terms_since"]
    versions = before["terms_versions"]
    if not texts["terms"]:
        version = since = None
    elif texts["terms"] != before["terms"]:  # (no terms in force: "" differs from any)
        since = (today or formatting.hub_today()).isoformat()
        digest = hashlib.sha256(texts["terms"].encode()).hexdigest()[:8]
        version = f"{since}-{digest}"
        _put(TERMS_VERSION_KEY.format(version=version),
             {"version": version, "since": since, "text": texts["terms"]})
        versions = [v for v in versions if v.get("version") != version]
        versions.append({"version": version, "since": since})
    _put(TERMS_KEY, {"terms_version": version, "terms_since": since, "terms_versions": versions})
    _put(PRIVACY_KEY, texts["privacy"])
    return get_legal_texts()


def hub_details(session: Any = None) -> dict[str, Any]:
    """Return the hub's address, legal details and own terms together: what every document
    shows (read with ``session`` where one is given: the mailer's session of its own)."""
    return {**get_hub_address(session), **get_hub_legal(session),
            "quote_terms": get_quote_terms(session)["terms"]}


def missing_legal_details(details: dict[str, Any] | None = None,
                          required: tuple[str, ...] | None = None) -> list[str]:
    """Return the labels (German source strings) of the ``required`` details (default: what
    a document needs) that are empty."""
    details = details if details is not None else hub_details()
    labels = {**LEGAL_FIELDS, "street": N_("Straße"), "postcode": N_("PLZ"), "city": N_("Ort"),
              "phone": N_("Telefon"), "email": N_("E-Mail")}
    return [labels[k] for k in required or (*REQUIRED_LEGAL, *REQUIRED_ADDRESS)
            if not str(details.get(k) or "").strip()]


def require_legal_details() -> dict[str, Any]:
    """Return :func:`hub_details`; under ``DRUCKHUB_ENV=production`` raise
    MissingLegalDetailsError while a required detail is empty (elsewhere documents are
    issued with what there is, so development and the demo work without them)."""
    details = hub_details()
    if current_app.config.get("ENVIRONMENT") == "production":
        missing = missing_legal_details(details)
        if missing:
            raise MissingLegalDetailsError(missing)
    return details
