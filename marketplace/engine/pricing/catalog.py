"""Catalogue defaults: materials, pricing rules and the print profile the quote engine uses.

Everything here is a frozen dataclass with plain values, so the estimate and pricing code stays
pure. The hub overrides these defaults with its own settings (``marketplace/settings/operations.py``
builds the same dataclasses from the Setting table, e.g. with :meth:`PricingRules.from_dict`).

Prices chosen for a regional German print hub (late 2026, net of VAT):

- material (what the firm pays per kg printed, filament plus waste and handling):
  PLA 40 €/kg, PETG 45 €/kg, ABS 45 €/kg, TPU 70 €/kg (spools cost about 20-35 €/kg retail);
- machine time: 3.00 €/h on a standard bed-slinger (Prusa MK3S class), 4.50 €/h on a large
  format printer;
- setup fee 5.00 € per order (file check, slicing, plate preparation);
- quantity discounts on the per-piece costs: 5 % from 10 pieces, 10 % from 50, 15 % from 100;
- minimum order value 15.00 € net; VAT 19 %.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class MaterialSpec:
    """A printable material.

    density_g_cm3 : float, g/cm³ (= mg/mm³)
    price_per_kg_cents : int, euro cents per kg of printed material (net)
    colours : the colours in stock
    """

    code: str
    name: str
    density_g_cm3: float
    price_per_kg_cents: int
    colours: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {**asdict(self), "colours": list(self.colours)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MaterialSpec:
        """Build from a dict as written by :meth:`to_dict` (or a Material row's columns)."""
        return cls(
            code=str(data["code"]),
            name=str(data["name"]),
            density_g_cm3=float(data["density_g_cm3"]),
            price_per_kg_cents=int(data["price_per_kg_cents"]),
            colours=tuple(data.get("colours") or ()),
        )


@dataclass(frozen=True)
class PricingRules:
    """How the hub turns an estimate into a price (all money in euro cents, net of VAT).

    machine_rate_cents_per_h : printer class -> cents per hour of print time
    quantity_discounts : ((min_quantity, percent), ...) the largest matching min_quantity wins;
        the discount applies to the per-piece costs (material + machine), not the setup fee
    minimum_order_cents : the net order total is raised to this value by a surcharge line
    vat_percent : VAT in percent (19 in Germany)
    """

    setup_fee_cents: int
    machine_rate_cents_per_h: dict[str, int]
    default_printer_class: str
    quantity_discounts: tuple[tuple[int, int], ...] = ()
    minimum_order_cents: int = 0
    vat_percent: int = 19
    currency: str = "EUR"

    def machine_rate(self, printer_class: str | None = None) -> int:
        """Return the machine rate in cents/h for a printer class (default class if None)."""
        key = printer_class or self.default_printer_class
        try:
            return self.machine_rate_cents_per_h[key]
        except KeyError:
            raise ValueError(f"unknown printer class {key!r}") from None

    def discount_rule(self, quantity: int) -> tuple[int, int] | None:
        """Return the rule ``(min_quantity, percent)`` that applies to ``quantity`` pieces."""
        best: tuple[int, int] | None = None
        for min_qty, percent in self.quantity_discounts:
            if quantity >= min_qty and (best is None or min_qty >= best[0]):
                best = (min_qty, percent)
        return best

    def discount_percent(self, quantity: int) -> int:
        """Return the quantity discount in percent for ``quantity`` pieces."""
        rule = self.discount_rule(quantity)
        return rule[1] if rule else 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "setup_fee_cents": self.setup_fee_cents,
            "machine_rate_cents_per_h": dict(self.machine_rate_cents_per_h),
            "default_printer_class": self.default_printer_class,
            "quantity_discounts": [list(t) for t in self.quantity_discounts],
            "minimum_order_cents": self.minimum_order_cents,
            "vat_percent": self.vat_percent,
            "currency": self.currency,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: PricingRules | None = None) -> PricingRules:
        """Build from a dict as written by :meth:`to_dict`; missing keys come from ``base``."""
        b = base or DEFAULT_PRICING
        discounts = data.get("quantity_discounts", b.quantity_discounts)
        return cls(
            setup_fee_cents=int(data.get("setup_fee_cents", b.setup_fee_cents)),
            machine_rate_cents_per_h={
                str(k): int(v)
                for k, v in data.get("machine_rate_cents_per_h", b.machine_rate_cents_per_h).items()
            },
            default_printer_class=str(data.get("default_printer_class", b.default_printer_class)),
            quantity_discounts=tuple(
                sorted((int(q), int(p)) for q, p in discounts)
            ),
            minimum_order_cents=int(data.get("minimum_order_cents", b.minimum_order_cents)),
            vat_percent=int(data.get("vat_percent", b.vat_percent)),
            currency=str(data.get("currency", b.currency)),
        )


@dataclass(frozen=True)
class PrintProfile:
    """Slicer settings the estimate models (defaults = the corpus' PrusaSlicer MK3S PLA 0.2 mm).

    Lengths in mm, speeds in mm/s, accelerations in mm/s², areas in mm², times in s.
    ``slicer_profile`` names the PrusaSlicer profile in printers/profiles/ these values are
    read from (:func:`profile_from_slicer`; tests/test_slicing.py checks that they agree).
    """

    slicer_profile: str = "mk3s-pla-0.2mm"
    layer_height_mm: float = 0.2
    infill_percent: float = 15.0
    perimeters: int = 2
    nozzle_mm: float = 0.4
    top_layers: int = 4
    bottom_layers: int = 3
    first_layer_height_mm: float = 0.2
    infill_pattern: str = "gyroid"
    extrusion_width_mm: float = 0.45
    external_perimeter_width_mm: float = 0.45
    first_layer_width_mm: float = 0.42
    infill_overlap_percent: float = 15.0
    solid_infill_below_area_mm2: float = 70.0
    # Speeds (mm/s)
    perimeter_speed: float = 45.0
    external_perimeter_speed: float = 25.0
    small_perimeter_speed: float = 25.0
    infill_speed: float = 80.0
    solid_infill_speed: float = 80.0
    top_solid_infill_speed: float = 40.0
    bridge_speed: float = 25.0
    gap_fill_speed: float = 40.0
    support_speed: float = 60.0
    first_layer_speed: float = 20.0
    travel_speed: float = 180.0
    travel_speed_z: float = 12.0
    max_volumetric_speed_mm3_s: float = 15.0
    # Accelerations (mm/s²) and jerk (mm/s)
    default_acceleration: float = 1000.0
    perimeter_acceleration: float = 800.0
    infill_acceleration: float = 1000.0
    bridge_acceleration: float = 1000.0
    first_layer_acceleration: float = 800.0
    travel_acceleration: float = 1250.0
    max_acceleration_xy: float = 1000.0
    jerk_xy: float = 8.0
    # Retraction
    retract_length_mm: float = 0.8
    retract_speed: float = 35.0
    retract_lift_mm: float = 0.4
    retract_before_travel_mm: float = 1.0
    # Cooling: layers faster than this are slowed down, but not below min_print_speed
    min_layer_time_s: float = 15.0
    min_print_speed: float = 15.0
    # Filament
    filament_diameter_mm: float = 1.75
    # Supports (used only when supports are needed)
    support_spacing_mm: float = 2.5
    support_width_mm: float = 0.35
    support_contact_distance_mm: float = 0.2
    support_interface_layers: int = 3
    support_threshold_deg: float = 0.0  # 0 = automatic, like PrusaSlicer
    support_xy_spacing_percent: float = 50.0  # gap to the part, % of the external perimeter
    support_interface_speed: float = 60.0
    # Build volume (mm)
    bed_mm: tuple[float, float, float] = field(default=(250.0, 210.0, 210.0))

    @property
    def support_xy_spacing_mm(self) -> float:
        """Horizontal gap (mm) between supports and the part."""
        return self.support_xy_spacing_percent / 100 * self.external_perimeter_width_mm

    def with_options(
        self,
        *,
        infill_percent: float | None = None,
        layer_height_mm: float | None = None,
        perimeters: int | None = None,
    ) -> PrintProfile:
        """Return a copy with the options a firm may change (validated)."""
        changes: dict[str, Any] = {}
        if infill_percent is not None:
            if not 0 <= infill_percent <= 100:
                raise ValueError("infill_percent must be between 0 and 100")
            changes["infill_percent"] = float(infill_percent)
        if layer_height_mm is not None:
            if not 0.05 <= layer_height_mm <= 0.75 * self.nozzle_mm + 1e-9:
                raise ValueError(
                    f"layer_height_mm must be between 0.05 and {0.75 * self.nozzle_mm:.2f}"
                )
            changes["layer_height_mm"] = float(layer_height_mm)
        if perimeters is not None:
            if not 1 <= perimeters <= 10:
                raise ValueError("perimeters must be between 1 and 10")
            changes["perimeters"] = int(perimeters)
        return replace(self, **changes)


DEFAULT_MATERIALS: dict[str, MaterialSpec] = {
    "PLA": MaterialSpec(
        "PLA", "PLA", 1.24, 4000, ("Schwarz", "Weiß", "Grau", "Rot", "Blau", "Grün", "Orange")
    ),
    "PETG": MaterialSpec("PETG", "PETG", 1.27, 4500, ("Schwarz", "Weiß", "Transparent", "Blau")),
    "ABS": MaterialSpec("ABS", "ABS", 1.04, 4500, ("Schwarz", "Weiß", "Grau")),
    "TPU": MaterialSpec("TPU", "TPU 95A (flexibel)", 1.21, 7000, ("Schwarz", "Transparent")),
}

# A job that takes any colour says so with one of these (the quote's default is "any").
ANY_COLOUR = frozenset({"", "any", "beliebig"})

# Words a technician may type for a catalogue colour (English, or German spelt another way);
# :func:`catalogue_colour` turns them into the catalogue's own entry. Keys are lower case.
COLOUR_SYNONYMS: dict[str, str] = {
    "black": "Schwarz", "white": "Weiß", "weiss": "Weiß", "grey": "Grau", "gray": "Grau",
    "red": "Rot", "blue": "Blau", "green": "Grün", "gruen": "Grün", "orange": "Orange",
    "transparent": "Transparent", "clear": "Transparent", "natural": "Transparent",
    "natur": "Transparent", "yellow": "Gelb", "silver": "Silber", "purple": "Lila",
    "violet": "Violett", "brown": "Braun", "pink": "Pink",
}


def catalogue_colour(colours: tuple[str, ...] | list[str], text: str | None) -> str | None:
    """Return the catalogue entry of ``colours`` that ``text`` names, or None.

    The entry itself (any case, surrounding blanks ignored) or a synonym of it
    (:data:`COLOUR_SYNONYMS`: "black" -> "Schwarz") names it; nothing else does.
    """
    wanted = (text or "").strip().lower()
    if not wanted:
        return None
    for entry in colours:
        if entry.lower() == wanted:
            return entry
    synonym = COLOUR_SYNONYMS.get(wanted)
    if synonym is not None:
        for entry in colours:
            if entry.lower() == synonym.lower():
                return entry
    return None


def colour_matches(wanted: str | None, loaded: str | None) -> bool:
    """Return whether a job wanting the catalogue colour ``wanted`` may print with the
    catalogue colour ``loaded``: the same entry, or the job takes any colour."""
    return (wanted or "").strip().lower() in ANY_COLOUR or wanted == loaded


DEFAULT_PRICING = PricingRules(
    setup_fee_cents=500,
    machine_rate_cents_per_h={"standard": 300, "large": 450},
    default_printer_class="standard",
    quantity_discounts=((10, 5), (50, 10), (100, 15)),
    minimum_order_cents=1500,
    vat_percent=19,
)

# The PrusaSlicer keys behind the profile's fields (the first number of a per-extruder list).
SLICER_KEYS: dict[str, str] = {
    "layer_height_mm": "layer_height", "infill_percent": "fill_density",
    "perimeters": "perimeters", "nozzle_mm": "nozzle_diameter",
    "top_layers": "top_solid_layers", "bottom_layers": "bottom_solid_layers",
    "first_layer_height_mm": "first_layer_height", "infill_pattern": "fill_pattern",
    "extrusion_width_mm": "perimeter_extrusion_width",
    "external_perimeter_width_mm": "external_perimeter_extrusion_width",
    "first_layer_width_mm": "first_layer_extrusion_width",
    "infill_overlap_percent": "infill_overlap",
    "solid_infill_below_area_mm2": "solid_infill_below_area",
    "perimeter_speed": "perimeter_speed", "external_perimeter_speed": "external_perimeter_speed",
    "small_perimeter_speed": "small_perimeter_speed", "infill_speed": "infill_speed",
    "solid_infill_speed": "solid_infill_speed", "top_solid_infill_speed": "top_solid_infill_speed",
    "bridge_speed": "bridge_speed", "gap_fill_speed": "gap_fill_speed",
    "support_speed": "support_material_speed", "first_layer_speed": "first_layer_speed",
    "travel_speed": "travel_speed", "travel_speed_z": "travel_speed_z",
    "max_volumetric_speed_mm3_s": "filament_max_volumetric_speed",
    "default_acceleration": "default_acceleration",
    "perimeter_acceleration": "perimeter_acceleration",
    "infill_acceleration": "infill_acceleration", "bridge_acceleration": "bridge_acceleration",
    "first_layer_acceleration": "first_layer_acceleration",
    "travel_acceleration": "machine_max_acceleration_travel",
    "max_acceleration_xy": "machine_max_acceleration_x", "jerk_xy": "machine_max_jerk_x",
    "retract_length_mm": "retract_length", "retract_speed": "retract_speed",
    "retract_lift_mm": "retract_lift", "retract_before_travel_mm": "retract_before_travel",
    "min_layer_time_s": "slowdown_below_layer_time", "min_print_speed": "min_print_speed",
    "filament_diameter_mm": "filament_diameter",
    "support_spacing_mm": "support_material_spacing",
    "support_width_mm": "support_material_extrusion_width",
    "support_contact_distance_mm": "support_material_contact_distance",
    "support_interface_layers": "support_material_interface_layers",
    "support_threshold_deg": "support_material_threshold",
    "support_xy_spacing_percent": "support_material_xy_spacing",
    "support_interface_speed": "support_material_interface_speed",
}


def profile_from_slicer(name: str, settings: dict[str, str]) -> PrintProfile:
    """Build a PrintProfile from PrusaSlicer's effective settings (``--save`` output).

    settings : every key of the profile in effect (defaults included), values as text
    """
    values: dict[str, Any] = {"slicer_profile": name}
    for fld, key in SLICER_KEYS.items():
        text = settings[key].split(",")[0].strip()
        default = getattr(PrintProfile, fld)
        if fld == "support_interface_speed" and text.endswith("%"):
            values[fld] = float(settings["support_material_speed"]) * float(text[:-1]) / 100
        elif fld == "support_xy_spacing_percent" and not text.endswith("%"):
            width = float(settings["external_perimeter_extrusion_width"])
            values[fld] = float(text) / width * 100
        elif isinstance(default, str):
            values[fld] = text
        elif isinstance(default, int) and not isinstance(default, bool):
            values[fld] = int(text)
        else:
            values[fld] = float(text.rstrip("%"))
    bed = [tuple(float(v) for v in p.split("x")) for p in settings["bed_shape"].split(",")]
    xs, ys = [p[0] for p in bed], [p[1] for p in bed]
    values["bed_mm"] = (max(xs) - min(xs), max(ys) - min(ys), float(settings["max_print_height"]))
    return PrintProfile(**values)


# One profile per printer class (the class's PrusaSlicer profile in printers/profiles/).
STANDARD_PROFILE = PrintProfile()
LARGE_PROFILE = PrintProfile(
    slicer_profile="large-pla-0.6n",
    layer_height_mm=0.3,
    first_layer_height_mm=0.3,
    nozzle_mm=0.6,
    extrusion_width_mm=0.68,
    external_perimeter_width_mm=0.68,
    first_layer_width_mm=0.65,
    perimeter_speed=40.0,
    external_perimeter_speed=30.0,
    small_perimeter_speed=30.0,
    infill_speed=70.0,
    solid_infill_speed=60.0,
    support_speed=50.0,
    support_interface_speed=50.0,
    support_width_mm=0.55,
    support_contact_distance_mm=0.3,
    bed_mm=(360.0, 360.0, 400.0),
)
PRINTER_CLASSES: dict[str, PrintProfile] = {"standard": STANDARD_PROFILE, "large": LARGE_PROFILE}
DEFAULT_PROFILE = STANDARD_PROFILE


def class_profile(printer_class: str | None) -> PrintProfile:
    """Return the print profile of a printer class (:data:`PRINTER_CLASSES`); a class the
    engine has no profile for (a hub's own name) is estimated with :data:`DEFAULT_PROFILE`."""
    return PRINTER_CLASSES.get(printer_class or "", DEFAULT_PROFILE)


def class_layer_height(profile: PrintProfile, chosen_mm: float | None) -> float:
    """Return the layer height a part is printed with on a class with ``profile``.

    The standard profile's layer height (0.2 mm, the part page's default) stands for the
    class's own (0.3 mm on the large class's 0.6 mm nozzle); another layer height the firm
    chose is kept while the nozzle prints it well (a quarter to three quarters of its
    diameter), else the class's own.
    """
    if chosen_mm is None or abs(chosen_mm - STANDARD_PROFILE.layer_height_mm) < 1e-9:
        return profile.layer_height_mm
    if 0.25 * profile.nozzle_mm - 1e-9 <= chosen_mm <= 0.75 * profile.nozzle_mm + 1e-9:
        return float(chosen_mm)
    return profile.layer_height_mm
