"""Quote options (material, colour, quantity, infill, layer height, units, supports): one schema
for every way in — the part page's form, the JSON price endpoint, ``flask orders submit`` and
``python -m marketplace.quote``. The limits are defined here and nowhere else.

The schema is marshmallow's, not pydantic's: flask-smorest and APIFlask (the OpenAPI layer
the JSON API is to get) take marshmallow schemas as they are, for request parsing and for the
published spec, so this one definition can serve there too.

It takes a form (strings, "0,2" with a German decimal comma), a JSON object or command-line
text, refuses NaN, infinities, numbers out of range, wrong types and bodies that are not an
object, and answers with the first bad field as an :class:`OptionError` (a stable code and a
German message, the catalogue's msgid, with its parameters). Pure: no Flask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load
from marshmallow.validate import Length, OneOf, Range

from marketplace.engine.meshio.base import MeshInputError
from marketplace.engine.meshio.units import USER_UNITS
from marketplace.engine.texts import N_, TEXTS

QUANTITY_MAX = 1000
INFILL_MIN, INFILL_MAX = 0, 100  # percent
LAYER_MIN_MM, LAYER_MAX_MM = 0.05, 0.3
LAYER_HEIGHTS_MM = (0.1, 0.15, 0.2, 0.25, 0.3)  # offered on the part page
# "auto": PrusaSlicer's automatic supports wherever the part needs them (the quote decides,
# slicing follows); "none": printed without supports, at the firm's risk
SUPPORT_CHOICES = ("auto", "none")
DEFAULTS: dict[str, Any] = {"material": "PLA", "colour": "any", "quantity": 1, "infill": 15,
                            "layer_height": 0.2, "units": None, "supports": "auto"}

# field -> (code, German message): the message is the catalogue's msgid (English in
# translations/en), filled with the params :func:`load_options` gives; its numbers must match
# the limits above (tested)
MESSAGES: dict[str, tuple[str, str]] = {
    "material": ("bad_material", N_("Unbekanntes Material %(material)s; verfügbar: %(known)s.")),
    "colour": ("bad_colour", N_("Diese Farbe gibt es für %(material)s nicht.")),
    "quantity": ("bad_quantity", N_("Die Stückzahl muss eine ganze Zahl von 1 bis %(max)s sein.")),
    "infill": ("bad_infill", N_("Die Füllung muss zwischen %(lo)s und %(hi)s %% liegen.")),
    "layer_height": ("bad_layer_height",
                     N_("Die Schichthöhe muss zwischen 0,05 und 0,3 mm liegen.")),
    "units": ("bad_units", N_("Unbekannte Einheit.")),
    "supports": ("bad_supports", N_("Stützstrukturen: bitte „auto“ oder „none“ wählen.")),
    "options": ("bad_options", N_("Die Optionen müssen ein Objekt mit Feldern wie quantity "
                                  "und infill sein.")),
}


# each field's message is a text of the engine (the renderer finds it by "option." + field)
TEXTS.update({f"option.{field}": template for field, (_code, template) in MESSAGES.items()})


class OptionError(MeshInputError):
    """An option that cannot be quoted: ``field`` names it; its sentence (``text``, by default
    ``option.FIELD``) with ``params`` is rendered in the reader's language when shown."""

    def __init__(self, field: str, code: str, text: str | None = None, /,
                 **params: Any) -> None:
        super().__init__(code, text or f"option.{field}", **params)
        self.field = field

    @property
    def template(self) -> str:
        """The German sentence (the catalogue's msgid) that ``params`` fill."""
        return TEXTS[self.text]

    @property
    def message(self) -> str:
        """The German sentence filled in (logs and tests; people get it rendered)."""
        return self.template % self.params if self.params else self.template


def option_error(field: str, /, **params: Any) -> OptionError:
    """Return the OptionError of ``field`` with its message from :data:`MESSAGES`."""
    return OptionError(field, MESSAGES[field][0], **params)


@dataclass(frozen=True)
class QuoteOptions:
    """Options a firm chose, validated (see :func:`load_options`)."""

    material_code: str = DEFAULTS["material"]
    colour: str = DEFAULTS["colour"]
    quantity: int = DEFAULTS["quantity"]
    infill_percent: int = DEFAULTS["infill"]
    layer_height_mm: float = DEFAULTS["layer_height"]
    units: str | None = None  # None: the part's (guessed) units
    supports: str = DEFAULTS["supports"]  # one of SUPPORT_CHOICES

    def to_dict(self) -> dict[str, Any]:
        """Return the options as the part page's form names them."""
        return {
            "material": self.material_code, "colour": self.colour, "quantity": self.quantity,
            "infill": self.infill_percent, "layer_height": self.layer_height_mm,
            "units": self.units, "supports": self.supports,
        }


class Decimal(fields.Float):
    """A finite number from JSON or text; "0,2" (German decimal comma) reads as 0.2."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_nan=False, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, str):
            value = value.strip().replace(",", ".")
        return super()._deserialize(value, attr, data, **kwargs)


class WholeNumber(fields.Integer):
    """A whole number: 3, 3.0 or "3"; 3.5, "3.5", true and infinities are refused."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._validated(value)


class QuoteOptionsSchema(Schema):
    """The options of a quote, as a form, a JSON object or a command line gives them."""

    class Meta:
        unknown = EXCLUDE  # a form also posts its CSRF token

    material = fields.String(load_default=DEFAULTS["material"], validate=Length(1, 16))
    colour = fields.String(load_default=DEFAULTS["colour"], validate=Length(1, 64))
    quantity = WholeNumber(load_default=DEFAULTS["quantity"], validate=Range(1, QUANTITY_MAX))
    infill = Decimal(load_default=DEFAULTS["infill"], validate=Range(INFILL_MIN, INFILL_MAX))
    layer_height = Decimal(load_default=DEFAULTS["layer_height"],
                           validate=Range(LAYER_MIN_MM, LAYER_MAX_MM))
    units = fields.String(load_default=None, allow_none=True, validate=OneOf(USER_UNITS))
    supports = fields.String(load_default=DEFAULTS["supports"], validate=OneOf(SUPPORT_CHOICES))

    @pre_load
    def _blank_means_default(self, data: Any, **kwargs: Any) -> Any:
        """An empty material, colour or unit (a form's untouched field) takes the default;
        ``material_code`` is accepted for ``material``."""
        if not isinstance(data, Mapping):
            return data  # refused by the schema as "Invalid input type"
        data = {key: data[key] for key in data}  # a form's first value per field
        if "material_code" in data and data.get("material") in (None, ""):
            data["material"] = data.pop("material_code")
        for key in ("material", "colour", "units", "supports"):
            value = data.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                data.pop(key, None)
        return data

    @post_load
    def _options(self, data: dict[str, Any], **kwargs: Any) -> QuoteOptions:
        return QuoteOptions(
            material_code=data["material"].strip().upper(), colour=data["colour"].strip(),
            quantity=data["quantity"], infill_percent=int(round(data["infill"])),
            layer_height_mm=round(data["layer_height"], 3), units=data["units"],
            supports=data["supports"],
        )


_SCHEMA = QuoteOptionsSchema()
_ORDER = ("options", "material", "colour", "quantity", "infill", "layer_height", "units",
          "supports")


def load_options(raw: Any, materials: Mapping[str, Any]) -> QuoteOptions:
    """Validate options against the schema and the hub's ``materials`` (code -> spec with
    ``colours``); raise :class:`OptionError` for the first bad field."""
    raw_material = None
    if isinstance(raw, Mapping):
        raw_material = raw.get("material") or raw.get("material_code")
    try:
        options = _SCHEMA.load(raw)
    except ValidationError as exc:
        bad = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        field = next((f for f in _ORDER if (f if f != "options" else "_schema") in bad), "options")
        raise _error(field, str(raw_material or "")[:20], materials) from None
    if options.material_code not in materials:
        raise _error("material", options.material_code, materials)
    colours = getattr(materials[options.material_code], "colours", ())
    if options.colour != "any" and colours and options.colour not in colours:
        raise _error("colour", options.material_code, materials)
    return options


def _error(field: str, material: str, materials: Mapping[str, Any]) -> OptionError:
    if field == "material":
        return option_error(field, material=material or "?", known=", ".join(sorted(materials)))
    if field == "colour":
        return option_error(field, material=material)
    # limits as text: the same "1000" whether the web (gettext) or the CLI (renderer) fills it
    if field == "quantity":
        return option_error(field, max=str(QUANTITY_MAX))
    if field == "infill":
        return option_error(field, lo=str(INFILL_MIN), hi=str(INFILL_MAX))
    return option_error(field)
