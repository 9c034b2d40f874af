"""Delivery: parcel classes and tariffs, packing an order into parcels, express terms.

Pure functions over frozen dataclasses (the hub's settings build them with
:meth:`DeliveryRules.from_dict`). All money in euro cents net of VAT, weights in grams,
lengths in millimetres.

Defaults, chosen like a German hub's business rates with a DHL-like parcel service (late 2026):

- parcels up to 2 kg (60 × 30 × 15 cm) 5.50 €, 5 kg (120 × 60 × 60 cm) 7.00 €, 10 kg 9.50 €,
  31.5 kg 16.50 € (net; a hub's contract rates are lower than the counter prices);
- packaging: 250 g a parcel (box, filler) plus 10 % of the goods' weight; 15 mm padding
  on every side of the largest piece; the pieces' boxes may fill 60 % of a parcel;
- delivery: 2 working days after the order is ready (Monday to Friday, public holidays
  excepted);
- express: printed ahead of the queue (dispatch priority 5 of the hub's -9..9; technicians
  can still put an urgent order above it) at a surcharge of 25 % of the
  goods, at least 15.00 €.

Weight of an order = the estimate's grams of every piece (supports included) + packaging.
An order heavier or bulkier than the largest class goes in several parcels of that class;
a piece that fits no parcel at all cannot be shipped (:func:`pack` returns None).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

DELIVERY_METHODS = ("pickup", "shipping")


@dataclass(frozen=True)
class ParcelClass:
    """A parcel the carrier takes: up to ``max_weight_g`` and ``max_dims_mm`` (any turn)."""

    code: str
    max_weight_g: int
    max_dims_mm: tuple[int, int, int]
    price_cents: int

    def fits(self, dims_mm: Sequence[float]) -> bool:
        """Whether a box of ``dims_mm`` fits (sides compared largest to largest)."""
        return all(a <= b for a, b in zip(sorted(dims_mm, reverse=True),
                                           sorted(self.max_dims_mm, reverse=True), strict=True))

    @property
    def volume_mm3(self) -> float:
        x, y, z = self.max_dims_mm
        return float(x) * y * z

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "max_weight_g": self.max_weight_g,
                "max_dims_mm": list(self.max_dims_mm), "price_cents": self.price_cents}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParcelClass:
        dims = tuple(int(v) for v in data["max_dims_mm"])
        if len(dims) != 3:
            raise ValueError("max_dims_mm needs three sides")
        return cls(str(data["code"]), int(data["max_weight_g"]), dims,  # type: ignore[arg-type]
                   int(data["price_cents"]))


@dataclass(frozen=True)
class DeliveryRules:
    """How the hub ships and what express costs (see the module docstring for the defaults).

    parcel_classes : smallest first (sorted by weight, then volume, when built from a dict)
    packaging_g, packaging_percent : a parcel's packaging, and filler as a share of the goods
    padding_mm : free space around a piece on every side
    fill_percent : the share of a parcel the pieces' bounding boxes may take
    shipping_days : working days from ready to delivered
    express_percent, express_min_cents : express surcharge on the goods (net), at least
    express_priority : the print jobs' dispatch priority (standard orders have 0)
    """

    parcel_classes: tuple[ParcelClass, ...]
    packaging_g: int = 250
    packaging_percent: int = 10
    padding_mm: int = 15
    fill_percent: int = 60
    shipping_days: int = 2
    express_percent: int = 25
    express_min_cents: int = 1500
    express_priority: int = 5

    def to_dict(self) -> dict[str, Any]:
        return {"parcel_classes": [p.to_dict() for p in self.parcel_classes],
                "packaging_g": self.packaging_g, "packaging_percent": self.packaging_percent,
                "padding_mm": self.padding_mm, "fill_percent": self.fill_percent,
                "shipping_days": self.shipping_days, "express_percent": self.express_percent,
                "express_min_cents": self.express_min_cents,
                "express_priority": self.express_priority}

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: DeliveryRules | None = None) -> DeliveryRules:
        """Build from :meth:`to_dict`'s shape; missing keys come from ``base``."""
        b = base or DEFAULT_DELIVERY
        classes = data.get("parcel_classes")
        parcels = (tuple(sorted((ParcelClass.from_dict(c) for c in classes),
                                key=lambda p: (p.max_weight_g, p.volume_mm3)))
                   if classes else b.parcel_classes)
        return cls(parcel_classes=parcels, **{
            key: int(data.get(key, getattr(b, key)))
            for key in ("packaging_g", "packaging_percent", "padding_mm", "fill_percent",
                        "shipping_days", "express_percent", "express_min_cents",
                        "express_priority")})


DEFAULT_DELIVERY = DeliveryRules(parcel_classes=(
    ParcelClass("P2", 2000, (600, 300, 150), 550),
    ParcelClass("P5", 5000, (1200, 600, 600), 700),
    ParcelClass("P10", 10000, (1200, 600, 600), 950),
    ParcelClass("P31", 31500, (1200, 600, 600), 1650),
))


@dataclass(frozen=True)
class Piece:
    """Pieces of one order line to pack: grams and bounding box of one piece, how many."""

    grams: float
    bbox_mm: tuple[float, float, float] | None
    quantity: int


@dataclass(frozen=True)
class Shipment:
    """How an order ships: ``count`` parcels of class ``code`` weighing ``weight_g`` in all."""

    code: str
    count: int
    weight_g: int
    price_cents: int  # all parcels

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "count": self.count, "weight_g": self.weight_g,
                "price_cents": self.price_cents}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shipment:
        return cls(str(data["code"]), int(data["count"]), int(data["weight_g"]),
                   int(data["price_cents"]))


def shipping_weight_g(pieces: Iterable[Piece], rules: DeliveryRules, parcels: int = 1) -> int:
    """The goods' weight plus packaging (per parcel and a share of the goods), whole grams up."""
    goods = sum(Decimal(str(max(0.0, float(p.grams)))) * int(p.quantity) for p in pieces)
    weight = goods * (100 + rules.packaging_percent) / 100 + rules.packaging_g * parcels
    return int(weight.to_integral_value(rounding=ROUND_CEILING))


def pack(pieces: Sequence[Piece], rules: DeliveryRules) -> Shipment | None:
    """Choose the parcels for ``pieces``: the cheapest single parcel that takes the largest
    piece (padded), the weight and the pieces' boxes; else as many of the largest class as
    weight and volume need. None when a piece fits no parcel (or there are no classes)."""
    if not rules.parcel_classes:
        return None
    pad = 2 * rules.padding_mm
    boxes = [tuple(float(v) + pad for v in p.bbox_mm) if p.bbox_mm else None for p in pieces]
    volume = sum(b[0] * b[1] * b[2] * p.quantity for b, p in zip(boxes, pieces, strict=True)
                 if b is not None)
    fill = rules.fill_percent / 100

    def takes(klass: ParcelClass) -> bool:
        return all(b is None or klass.fits(b) for b in boxes)

    usable = [k for k in rules.parcel_classes if takes(k)]
    if not usable:
        return None
    one = shipping_weight_g(pieces, rules, 1)
    for klass in sorted(usable, key=lambda k: (k.price_cents, k.max_weight_g)):
        if one <= klass.max_weight_g and volume <= klass.volume_mm3 * fill:
            return Shipment(klass.code, 1, one, klass.price_cents)
    largest = max(usable, key=lambda k: (k.max_weight_g, k.volume_mm3))
    count = max(2, math.ceil(volume / (largest.volume_mm3 * fill)))
    for _ in range(10_000):  # more parcels add packaging: bounded search for enough of them
        weight = shipping_weight_g(pieces, rules, count)
        if weight <= largest.max_weight_g * count:
            return Shipment(largest.code, count, weight, largest.price_cents * count)
        count += 1
    return None


def express_cents(goods_cents: int, rules: DeliveryRules) -> int:
    """The express surcharge on ``goods_cents`` (net): the percentage, at least the minimum,
    rounded half up to whole cents (the engine's rule)."""
    share = (Decimal(goods_cents) * rules.express_percent / 100).quantize(
        Decimal(1), rounding=ROUND_HALF_UP)
    return max(int(share), rules.express_min_cents)
