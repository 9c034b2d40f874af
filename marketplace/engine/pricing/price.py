"""Turn an estimate (grams, seconds) into a price in euro cents with a readable breakdown.

Pure functions, Decimal arithmetic. The only rounding rule of the quote engine lives here:
every line amount is rounded once to whole cents, half up (``_to_cents``); the net total is the sum
of the rounded lines, VAT is rounded from the net, gross = net + VAT. So the lines always add up.

Lines, in order (``code``: German label, from :data:`marketplace.engine.texts.TEXTS`):
- ``material``: "Material" = grams x price per kg / 1000 x quantity
- ``machine``: "Maschinenzeit" = hours x rate of the printer class x quantity
- ``setup``: "Einrichtungspauschale" once per order
- ``discount``: "Mengenrabatt" = -(material + machine) x percent (setup fee not discounted);
  its detail names the rule ("5 % ab 10 Stück"), not the ordered quantity
- ``minimum``: "Mindestbestellwert-Zuschlag" tops the net up to the minimum order value
- ``express``: "Express-Zuschlag" = goods x percent, at least a minimum (order, express only)
- ``shipping``: "Versand" = the parcels' tariff (order, shipping only)

An order of several parts (:func:`price_order`) has each part's material, machine and
discount lines (:func:`part_lines`; the discount by that part's quantity), then the order's
set-up fee, minimum top-up, express surcharge and shipping once. :func:`price` is the order
of one part.

A line carries no words: its ``code`` names the label (``line.CODE``) and the detail
(``line.CODE.detail``), its ``params`` fill the detail; both are rendered in the reader's
language when shown (:mod:`marketplace.messages`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from marketplace.engine import texts
from marketplace.engine.pricing import delivery
from marketplace.engine.pricing.catalog import MaterialSpec, PricingRules
from marketplace.engine.pricing.delivery import DeliveryRules, Shipment

_CENT = Decimal(1)


class _HasEstimate(Protocol):
    material_g: float
    print_time_s: float


@dataclass(frozen=True)
class PriceLine:
    """One line of the breakdown; amount_cents is signed (discounts are negative).

    ``code`` names the label and detail texts (``line.CODE``, ``line.CODE.detail``);
    ``params`` fill the detail (see :mod:`marketplace.engine.texts`).
    """

    code: str
    amount_cents: int
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict with the amount as "12.34" and as cents."""
        return {
            "code": self.code,
            "params": dict(self.params),
            "amount": format_cents(self.amount_cents),
            "amount_cents": self.amount_cents,
        }


@dataclass(frozen=True)
class Price:
    """A priced order line: totals in euro cents and the lines that make up the net."""

    currency: str
    quantity: int
    net_cents: int
    vat_cents: int
    gross_cents: int
    vat_percent: int
    lines: tuple[PriceLine, ...]

    @property
    def net(self) -> Decimal:
        """Net total in euros."""
        return Decimal(self.net_cents) / 100

    @property
    def gross(self) -> Decimal:
        """Gross total in euros."""
        return Decimal(self.gross_cents) / 100

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON contract: amounts as strings like "12.34" plus ``*_cents`` ints."""
        return {
            "currency": self.currency,
            "quantity": self.quantity,
            "net": format_cents(self.net_cents),
            "net_cents": self.net_cents,
            "vat": format_cents(self.vat_cents),
            "vat_cents": self.vat_cents,
            "vat_percent": self.vat_percent,
            "gross": format_cents(self.gross_cents),
            "gross_cents": self.gross_cents,
            "lines": [line.to_dict() for line in self.lines],
        }


def format_cents(cents: int) -> str:
    """Format signed cents as a decimal string with two places: -1234 -> "-12.34"."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(int(cents)), 100)
    return f"{sign}{whole}.{frac:02d}"


def _to_cents(amount: Decimal) -> int:
    """Round an amount in cents to whole cents, half away from zero (the one rounding rule)."""
    return int(amount.quantize(_CENT, rounding=ROUND_HALF_UP))


def part_lines(
    estimate: _HasEstimate,
    material: MaterialSpec,
    rules: PricingRules,
    quantity: int,
    printer_class: str | None = None,
) -> tuple[PriceLine, ...]:
    """Price ``quantity`` pieces of one part: material, machine time and its quantity discount.

    estimate : anything with ``material_g`` (g per piece, supports included) and
        ``print_time_s`` (s per piece)
    Raises ValueError for a quantity below 1, negative estimates or an unknown printer class.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValueError("quantity must be a whole number of at least 1")
    grams = Decimal(str(float(estimate.material_g)))
    seconds = Decimal(str(float(estimate.print_time_s)))
    if grams < 0 or seconds < 0 or not grams.is_finite() or not seconds.is_finite():
        raise ValueError("estimate must have non-negative, finite grams and seconds")
    rate = rules.machine_rate(printer_class)
    klass = printer_class or rules.default_printer_class
    qty = Decimal(quantity)

    material_cents = _to_cents(grams * material.price_per_kg_cents / 1000 * qty)
    machine_cents = _to_cents(seconds / 3600 * rate * qty)
    lines = [
        PriceLine("material", material_cents, {
            "material": material.code, "quantity": quantity, "grams": texts.grams(grams),
            "price_per_kg": texts.money(material.price_per_kg_cents)}),
        PriceLine("machine", machine_cents, {
            "quantity": quantity, "time": texts.duration(seconds), "rate": texts.money(rate),
            "printer_class": klass}),
    ]
    rule = rules.discount_rule(quantity)
    if rule and rule[1]:
        threshold, percent = rule
        discount = _to_cents(Decimal(material_cents + machine_cents) * percent / 100)
        lines.append(PriceLine("discount", -discount, {
            "percent": texts.percent(percent), "quantity": threshold}))
    return tuple(lines)


PART_CODES = ("material", "machine", "discount")  # a part's own lines
ORDER_CODES = ("setup", "minimum", "express", "shipping")  # once per order, in this order


@dataclass(frozen=True)
class OrderPrice:
    """A priced order of one or more parts: each part's lines, then the order's own lines
    (set-up fee, minimum-order top-up, express surcharge, shipping), totals in cents."""

    currency: str
    net_cents: int
    vat_cents: int
    gross_cents: int
    vat_percent: int
    parts: tuple[tuple[PriceLine, ...], ...]
    quantities: tuple[int, ...]
    lines: tuple[PriceLine, ...]

    @property
    def quantity(self) -> int:
        """Pieces in all."""
        return sum(self.quantities)

    def line_cents(self, code: str) -> int:
        """The order line ``code``'s amount (0 without one)."""
        return sum(line.amount_cents for line in self.lines if line.code == code)

    def to_dict(self) -> dict[str, Any]:
        """The JSON a quote and an order store: like :meth:`Price.to_dict`, with every part's
        lines first (each tagged ``"line": N``, counted from 1), then the order's lines, and
        ``parts`` (per line: quantity and net)."""
        flat = [{**line.to_dict(), "line": n}
                for n, part in enumerate(self.parts, start=1) for line in part]
        flat += [line.to_dict() for line in self.lines]
        return {
            "currency": self.currency, "quantity": self.quantity,
            "net": format_cents(self.net_cents), "net_cents": self.net_cents,
            "vat": format_cents(self.vat_cents), "vat_cents": self.vat_cents,
            "vat_percent": self.vat_percent,
            "gross": format_cents(self.gross_cents), "gross_cents": self.gross_cents,
            "lines": flat,
            "parts": [{"line": n, "quantity": q, "net_cents": sum(x.amount_cents for x in part)}
                      for n, (part, q) in enumerate(zip(self.parts, self.quantities,
                                                        strict=True), start=1)],
        }


def price_order(
    parts: Sequence[Sequence[PriceLine]],
    rules: PricingRules,
    *,
    quantities: Sequence[int] | None = None,
    express: DeliveryRules | None = None,
    shipment: Shipment | None = None,
) -> OrderPrice:
    """Price an order of already priced parts (:func:`part_lines`, or a quote's stored lines).

    The set-up fee and the minimum order value apply once per order: the goods (parts plus
    set-up fee) are topped up to the minimum. ``express`` (the hub's delivery rules) adds the
    express surcharge on the goods; ``shipment`` (:func:`delivery.pack`) adds the shipping.
    VAT is rounded once from the net total (the one rounding rule).
    """
    if not parts:
        raise ValueError("an order needs at least one part")
    parts = tuple(tuple(part) for part in parts)
    if quantities is None:
        quantities = tuple(int(next((x.params.get("quantity") for x in part
                                     if x.code == "material"), 1)) for part in parts)
    lines: list[PriceLine] = []
    if rules.setup_fee_cents:
        lines.append(PriceLine("setup", rules.setup_fee_cents))
    goods = sum(line.amount_cents for part in parts for line in part) + rules.setup_fee_cents
    if goods < rules.minimum_order_cents:
        lines.append(PriceLine("minimum", rules.minimum_order_cents - goods, {
            "minimum": texts.money(rules.minimum_order_cents)}))
        goods = rules.minimum_order_cents
    if express is not None:
        lines.append(PriceLine("express", delivery.express_cents(goods, express), {
            "percent": texts.percent(express.express_percent),
            "minimum": texts.money(express.express_min_cents)}))
    if shipment is not None:
        lines.append(PriceLine("shipping", shipment.price_cents, {
            "count": shipment.count, "parcel": shipment.code,
            "weight": texts.num(shipment.weight_g / 1000, 1)}))
    net = sum(line.amount_cents for part in parts for line in part) + sum(
        line.amount_cents for line in lines)
    vat = _to_cents(Decimal(net) * rules.vat_percent / 100)
    return OrderPrice(currency=rules.currency, net_cents=net, vat_cents=vat,
                      gross_cents=net + vat, vat_percent=rules.vat_percent, parts=parts,
                      quantities=tuple(int(q) for q in quantities), lines=tuple(lines))


def price(
    estimate: _HasEstimate,
    material: MaterialSpec,
    rules: PricingRules,
    quantity: int,
    printer_class: str | None = None,
) -> Price:
    """Price ``quantity`` pieces of an estimated part as an order of its own (set-up fee and
    minimum order value included): :func:`price_order` of one :func:`part_lines`.

    Raises ValueError for a quantity below 1, negative estimates or an unknown printer class.
    """
    order = price_order([part_lines(estimate, material, rules, quantity, printer_class)],
                        rules, quantities=[quantity])
    # the single part's lines as they were always shown: the set-up fee before the discount
    own = order.parts[0]
    lines = ([x for x in own if x.code != "discount"] + [x for x in order.lines if x.code == "setup"]
             + [x for x in own if x.code == "discount"]
             + [x for x in order.lines if x.code != "setup"])
    return Price(
        currency=order.currency,
        quantity=quantity,
        net_cents=order.net_cents,
        vat_cents=order.vat_cents,
        gross_cents=order.gross_cents,
        vat_percent=order.vat_percent,
        lines=tuple(lines),
    )
