"""Golden numbers for orders of several parts, shipping and express (pure; no database)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from marketplace.engine.pricing.catalog import DEFAULT_MATERIALS, DEFAULT_PRICING
from marketplace.engine.pricing.delivery import (
    DEFAULT_DELIVERY,
    DeliveryRules,
    Piece,
    Shipment,
    express_cents,
    pack,
    shipping_weight_g,
)
from marketplace.engine.pricing.price import part_lines, price, price_order

pytestmark = pytest.mark.db_independent
PLA = DEFAULT_MATERIALS["PLA"]


@dataclass(frozen=True)
class _Est:
    material_g: float
    print_time_s: float


def _lines(grams, seconds, qty, material=PLA):
    return part_lines(_Est(grams, seconds), material, DEFAULT_PRICING, qty)


def test_two_parts_one_setup_fee_no_minimum():
    # 1 x 10 g / 1 h: 0.40 + 3.00; 10 x 50 g / 2 h: 20.00 + 60.00 - 5 % (4.00); set-up once
    order = price_order([_lines(10, 3600, 1), _lines(50, 7200, 10)], DEFAULT_PRICING)
    assert [[(x.code, x.amount_cents) for x in part] for part in order.parts] == [
        [("material", 40), ("machine", 300)],
        [("material", 2000), ("machine", 6000), ("discount", -400)]]
    assert [(x.code, x.amount_cents) for x in order.lines] == [("setup", 500)]
    assert (order.net_cents, order.vat_cents, order.gross_cents) == (8440, 1604, 10044)
    assert order.quantities == (1, 10) and order.quantity == 11
    d = order.to_dict()
    assert [(x["code"], x.get("line")) for x in d["lines"]] == [
        ("material", 1), ("machine", 1), ("material", 2), ("machine", 2), ("discount", 2),
        ("setup", None)]
    assert d["parts"] == [{"line": 1, "quantity": 1, "net_cents": 340},
                          {"line": 2, "quantity": 10, "net_cents": 7600}]
    assert sum(x["amount_cents"] for x in d["lines"]) == d["net_cents"]


def test_minimum_order_value_once_per_order_and_express_minimum():
    # 3.40 + 1.40 + set-up 5.00 = 9.80: topped up once to 15.00; express 25 % of 15.00 = 3.75,
    # less than its minimum of 15.00
    parts = [_lines(10, 3600, 1), _lines(5, 600, 2)]
    pickup = price_order(parts, DEFAULT_PRICING)
    assert [(x.code, x.amount_cents) for x in pickup.lines] == [("setup", 500), ("minimum", 520)]
    assert pickup.net_cents == 1500
    express = price_order(parts, DEFAULT_PRICING, express=DEFAULT_DELIVERY)
    assert [(x.code, x.amount_cents) for x in express.lines] == [
        ("setup", 500), ("minimum", 520), ("express", 1500)]
    assert (express.net_cents, express.vat_cents, express.gross_cents) == (3000, 570, 3570)
    # two single-part orders would each pay the set-up fee and the minimum
    singles = sum(price(_Est(g, s), PLA, DEFAULT_PRICING, q).net_cents
                  for g, s, q in ((10, 3600, 1), (5, 600, 2)))
    assert singles == 3000 > pickup.net_cents


def test_shipped_express_order_golden():
    parts = [_lines(10, 3600, 1), _lines(50, 7200, 10)]
    pieces = [Piece(10, (20, 20, 20), 1), Piece(50, (40, 30, 20), 10)]
    # 510 g goods + 10 % + 250 g packaging = 811 g; padded boxes 2.2 l in a 27 l parcel
    shipment = pack(pieces, DEFAULT_DELIVERY)
    assert shipment == Shipment("P2", 1, 811, 550)
    order = price_order(parts, DEFAULT_PRICING, express=DEFAULT_DELIVERY, shipment=shipment)
    # express: 25 % of the goods 84.40 = 21.10; shipping 5.50
    assert [(x.code, x.amount_cents) for x in order.lines] == [
        ("setup", 500), ("express", 2110), ("shipping", 550)]
    assert (order.net_cents, order.vat_cents, order.gross_cents) == (11100, 2109, 13209)
    shipping = order.to_dict()["lines"][-1]
    assert shipping["params"] == {"count": 1, "parcel": "P2", "weight": {"num": 0.811,
                                                                        "places": 1}}
    from marketplace import messages

    assert messages.line_texts(shipping, "de") == ("Versand", "1 × Paket P2, 0,8 kg")
    assert messages.line_texts(order.to_dict()["lines"][-2], "en")[0] == "Express surcharge"


def test_express_rounds_half_up():
    rules = replace(DEFAULT_DELIVERY, express_min_cents=0)
    assert express_cents(8441, rules) == 2110  # 2110.25
    assert express_cents(8442, rules) == 2111  # 2110.5


@pytest.mark.parametrize("grams,bbox,qty,expected", [
    (1500, (200, 150, 100), 1, Shipment("P2", 1, 1900, 550)),  # 1650 + 250 g
    (1700, (200, 150, 100), 1, Shipment("P5", 1, 2120, 700)),  # over 2 kg
    (100, (400, 200, 140), 1, Shipment("P5", 1, 360, 700)),  # 170 mm padded > 150 mm
    (800, (100, 100, 100), 40, Shipment("P31", 2, 35700, 3300)),  # 35.45 kg: two parcels
])
def test_parcels(grams, bbox, qty, expected):
    assert pack([Piece(grams, bbox, qty)], DEFAULT_DELIVERY) == expected


def test_a_piece_too_long_for_any_parcel_cannot_ship():
    assert pack([Piece(100, (1300, 100, 100), 1)], DEFAULT_DELIVERY) is None
    assert pack([Piece(100, (10, 10, 10), 1)], replace(DEFAULT_DELIVERY,
                                                       parcel_classes=())) is None


def test_weight_is_goods_plus_packaging():
    pieces = [Piece(12.34, None, 3), Piece(0.5, None, 1)]
    # 37.52 g x 1.10 = 41.272 + 250 -> 292 g (whole grams, up)
    assert shipping_weight_g(pieces, DEFAULT_DELIVERY) == 292
    assert shipping_weight_g(pieces, DEFAULT_DELIVERY, parcels=2) == 542


def test_delivery_rules_round_trip_and_order():
    data = DEFAULT_DELIVERY.to_dict()
    data["parcel_classes"].reverse()
    data["express_percent"] = 30
    rules = DeliveryRules.from_dict(data)
    assert [p.code for p in rules.parcel_classes] == ["P2", "P5", "P10", "P31"]
    assert rules.express_percent == 30 and rules.shipping_days == 2
    assert DeliveryRules.from_dict(rules.to_dict()) == rules


def test_order_needs_a_part():
    with pytest.raises(ValueError):
        price_order([], DEFAULT_PRICING)
