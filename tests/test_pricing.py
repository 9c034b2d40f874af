"""Golden-number tests for the price calculation (pure; no database)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.engine.pricing.catalog import (
    DEFAULT_MATERIALS,
    DEFAULT_PRICING,
    DEFAULT_PROFILE,
    MaterialSpec,
    PricingRules,
)
from marketplace.engine.pricing.price import format_cents, price

pytestmark = pytest.mark.db_independent


@dataclass(frozen=True)
class _Est:
    material_g: float
    print_time_s: float


NO_FEES = replace(DEFAULT_PRICING, setup_fee_cents=0, minimum_order_cents=0)

# (grams, seconds, material, quantity, printer class, rules) -> lines by code, net, vat, gross
GOLDEN = [
    # small part: the minimum order surcharge tops 8.40 up to 15.00
    (10, 3600, "PLA", 1, None, DEFAULT_PRICING,
     {"material": 40, "machine": 300, "setup": 500, "minimum": 660}, 1500, 285, 1785),
    # 10 pieces: 5 % off material + machine, not off the setup fee
    (50, 7200, "PLA", 10, None, DEFAULT_PRICING,
     {"material": 2000, "machine": 6000, "setup": 500, "discount": -400}, 8100, 1539, 9639),
    # large printer class, material 166.6575 ct rounds half up to 167, VAT 511.48 -> 511
    (12.345, 5400, "PETG", 3, "large", DEFAULT_PRICING,
     {"material": 167, "machine": 2025, "setup": 500}, 2692, 511, 3203),
    # VAT of exactly x.5 cents rounds up: 1550 * 19 % = 294.5 -> 295
    (387.5, 0, "PLA", 1, None, NO_FEES, {"material": 1550, "machine": 0}, 1550, 295, 1845),
    # 100 pieces: 15 %, VAT 4778.5 -> 4779
    (20, 1800, "TPU", 100, None, DEFAULT_PRICING,
     {"material": 14000, "machine": 15000, "setup": 500, "discount": -4350}, 25150, 4779, 29929),
    # 50 pieces: 10 % of 3243 = 324.3 -> 324; material 742.5 -> 743
    (3.3, 600, "ABS", 50, None, DEFAULT_PRICING,
     {"material": 743, "machine": 2500, "setup": 500, "discount": -324}, 3419, 650, 4069),
]


@pytest.mark.parametrize(
    "grams,seconds,code,qty,klass,rules,lines,net,vat,gross", GOLDEN
)
def test_golden_prices(grams, seconds, code, qty, klass, rules, lines, net, vat, gross):
    p = price(_Est(grams, seconds), DEFAULT_MATERIALS[code], rules, qty, printer_class=klass)
    assert {line.code: line.amount_cents for line in p.lines} == lines
    assert (p.net_cents, p.vat_cents, p.gross_cents) == (net, vat, gross)
    assert sum(line.amount_cents for line in p.lines) == p.net_cents


def test_to_dict_contract():
    p = price(_Est(50, 7200), DEFAULT_MATERIALS["PLA"], DEFAULT_PRICING, 10)
    d = p.to_dict()
    assert d["currency"] == "EUR"
    assert (d["net"], d["vat"], d["gross"]) == ("81.00", "15.39", "96.39")
    assert (d["net_cents"], d["vat_cents"], d["gross_cents"]) == (8100, 1539, 9639)
    assert [line["code"] for line in d["lines"]] == ["material", "machine", "setup", "discount"]
    assert d["lines"][3]["amount"] == "-4.00"
    assert d["lines"][3]["amount_cents"] == -400
    # no words in the engine: codes and parameters, rendered in the reader's language
    assert d["lines"][3]["params"] == {"percent": {"percent": 5}, "quantity": 10}
    assert d["lines"][0]["params"]["price_per_kg"] == {"money": 4000}
    from marketplace import messages

    assert [messages.line_texts(line, "de")[0] for line in d["lines"]] == [
        "Material", "Maschinenzeit", "Einrichtungspauschale", "Mengenrabatt"]
    assert messages.line_texts(d["lines"][3], "de")[1] == "5\u00a0% ab 10 Stück"
    assert messages.line_texts(d["lines"][3], "en")[1] == "5% from 10 pieces"
    assert messages.line_texts(d["lines"][0], "en") == (
        "Material", "PLA: 10 × 50.0 g × €40.00/kg")


@pytest.mark.parametrize("qty,detail", [(10, "5 % ab 10 Stück"), (49, "5 % ab 10 Stück"),
                                        (50, "10 % ab 50 Stück"), (1000, "15 % ab 100 Stück")])
def test_discount_line_names_the_rule_not_the_quantity(qty, detail):
    p = price(_Est(50, 7200), DEFAULT_MATERIALS["PLA"], DEFAULT_PRICING, qty)
    line = next(line for line in p.lines if line.code == "discount")
    from marketplace import messages

    assert messages.line_texts(line.to_dict(), "de")[1].replace("\u00a0", " ") == detail


def test_format_cents():
    assert format_cents(0) == "0.00"
    assert format_cents(5) == "0.05"
    assert format_cents(123456) == "1234.56"
    assert format_cents(-7) == "-0.07"


@pytest.mark.parametrize("qty", [0, -1, 1.5, True, "3"])
def test_bad_quantity(qty):
    with pytest.raises(ValueError):
        price(_Est(1, 1), DEFAULT_MATERIALS["PLA"], DEFAULT_PRICING, qty)


def test_bad_estimate_and_printer_class():
    with pytest.raises(ValueError):
        price(_Est(-1, 1), DEFAULT_MATERIALS["PLA"], DEFAULT_PRICING, 1)
    with pytest.raises(ValueError, match="printer class"):
        price(_Est(1, 1), DEFAULT_MATERIALS["PLA"], DEFAULT_PRICING, 1, printer_class="xl")


@pytest.mark.parametrize("qty,percent", [(1, 0), (9, 0), (10, 5), (49, 5), (50, 10), (100, 15),
                                         (1000, 15)])
def test_discount_steps(qty, percent):
    assert DEFAULT_PRICING.discount_percent(qty) == percent


def test_price_grows_with_quantity_before_discount_steps():
    # 30 g + 1 h = 4.20 per piece: q = 1, 2 sit on the 15.00 minimum, then 4.20 more per piece
    per = [price(_Est(30, 3600), DEFAULT_MATERIALS["PLA"], DEFAULT_PRICING, q).net_cents
           for q in range(1, 10)]
    assert per[:2] == [1500, 1500]
    assert [b - a for a, b in zip(per[2:], per[3:])] == [420] * 6


def test_rules_and_material_round_trip():
    assert PricingRules.from_dict(DEFAULT_PRICING.to_dict()) == DEFAULT_PRICING
    assert PricingRules.from_dict({"vat_percent": 7}).vat_percent == 7
    pla = DEFAULT_MATERIALS["PLA"]
    assert MaterialSpec.from_dict(pla.to_dict()) == pla


def test_catalog_defaults_match_corpus_profile():
    assert {"PLA", "PETG", "ABS", "TPU"} <= set(DEFAULT_MATERIALS)
    assert DEFAULT_MATERIALS["PLA"].density_g_cm3 == 1.24  # filament_density in the .ini
    assert DEFAULT_PRICING.vat_percent == 19
    p = DEFAULT_PROFILE
    assert (p.layer_height_mm, p.infill_percent, p.perimeters, p.nozzle_mm) == (0.2, 15, 2, 0.4)
    assert (p.top_layers, p.bottom_layers, p.min_layer_time_s) == (4, 3, 15)
    with pytest.raises(ValueError):
        p.with_options(infill_percent=120)
    with pytest.raises(ValueError):
        p.with_options(layer_height_mm=0.5)
    assert p.with_options(infill_percent=40).infill_percent == 40


@settings(max_examples=200, deadline=None)
@given(
    grams=st.floats(0, 5000, allow_nan=False),
    seconds=st.floats(0, 7 * 24 * 3600, allow_nan=False),
    qty=st.integers(1, 10000),
    code=st.sampled_from(sorted(DEFAULT_MATERIALS)),
)
def test_price_invariants(grams, seconds, qty, code):
    p = price(_Est(grams, seconds), DEFAULT_MATERIALS[code], DEFAULT_PRICING, qty)
    assert sum(line.amount_cents for line in p.lines) == p.net_cents
    assert p.net_cents >= DEFAULT_PRICING.minimum_order_cents
    assert p.gross_cents == p.net_cents + p.vat_cents
    assert abs(p.vat_cents - p.net_cents * 19 / 100) <= 0.5


# PrintProfile field -> key in the corpus' PrusaSlicer profile (first value of a list, % dropped)
INI_KEYS = {
    "layer_height_mm": "layer_height", "infill_percent": "fill_density",
    "perimeters": "perimeters", "nozzle_mm": "nozzle_diameter",
    "top_layers": "top_solid_layers", "bottom_layers": "bottom_solid_layers",
    "first_layer_height_mm": "first_layer_height", "infill_pattern": "fill_pattern",
    "extrusion_width_mm": "extrusion_width",
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
    "filament_diameter_mm": "filament_diameter", "support_spacing_mm": "support_material_spacing",
    "support_width_mm": "support_material_extrusion_width",
    "support_contact_distance_mm": "support_material_contact_distance",
    "support_interface_layers": "support_material_interface_layers",
    "support_threshold_deg": "support_material_threshold",
}


def test_default_profile_matches_the_corpus_prusaslicer_profile(corpus):
    ini = {}
    for line in (corpus / "prusaslicer-mk3s-pla-0.2mm.ini").read_text().splitlines():
        if " = " in line and not line.startswith("#"):
            key, value = line.split(" = ", 1)
            ini[key.strip()] = value.strip().split(",")[0].rstrip("%")
    for field_name, key in INI_KEYS.items():
        ours = getattr(DEFAULT_PROFILE, field_name)
        theirs = type(ours)(ini[key]) if not isinstance(ours, int) else int(float(ini[key]))
        assert ours == theirs, (field_name, key, ours, ini[key])
    assert DEFAULT_PROFILE.bed_mm == (250.0, 210.0, float(ini["max_print_height"]))
    assert DEFAULT_MATERIALS["PLA"].density_g_cm3 == float(ini["filament_density"])


@pytest.mark.parametrize("grams,shown", [(34.2451, "34,3 g"), (34.2449, "34,2 g"),
                                         (34.25, "34,3 g"), (0.044, "0,0 g")])
def test_the_material_line_shows_the_grams_the_summary_shows(grams, shown):
    # the line rounded the raw grams (34.2451 -> 34,2 g) while the summary beside it shows the
    # estimate's figure (0.01 g: 34.25 -> 34,3 g); the API gave Python's round (34.2)
    from marketplace import formatting, messages
    from marketplace.engine.estimate.estimate import Estimate

    p = price(_Est(grams, 3600), DEFAULT_MATERIALS["PLA"], DEFAULT_PRICING, 1)
    detail = messages.line_texts(p.lines[0].to_dict(), "de")[1].replace("\u00a0", " ")
    figure = Estimate(material_g=grams, print_time_s=3600, layers=1).to_dict()["material_g"]
    assert formatting.format_grams(figure, lang="de").replace("\u00a0", " ") == shown
    assert detail.endswith(f"{shown} × 40,00 €/kg")
    assert formatting.format_number(formatting.figure(figure, 1), 1, "de") + " g" == shown
