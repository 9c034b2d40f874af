"""The cart: parts a firm user collects, each with its own options, to quote as one order.

An item keeps the options as the options schema names them (material, colour, quantity,
infill, layer_height, units, supports), checked by :func:`quotes.parse_options` when added and again
when quoted. :func:`quote_cart` prices every item (raises EstimatePendingError while an
estimate is made) and stores one quote of several lines with the delivery chosen; the cart
is emptied then (the quote keeps its lines; :func:`put_back` returns them to the cart).
The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.models import CartItem, Part, Quote, User
from marketplace.quotes import operations as quotes

CART_MAX = 50  # parts in one cart (one order)


class CartError(Exception):
    """The cart cannot do this; ``message`` is German (a catalogue msgid)."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.code, self.message, self.params = code, message, params


def items_of(user: User) -> list[CartItem]:
    """The user's cart, oldest first."""
    return list(db.session.scalars(
        sa.select(CartItem).where(CartItem.user_id == user.id).order_by(CartItem.id)))


def count(user: User) -> int:
    return int(db.session.scalar(
        sa.select(sa.func.count(CartItem.id)).where(CartItem.user_id == user.id)) or 0)


def add(user: User, part: Part, raw_options: Any) -> CartItem:
    """Put ``part`` with ``raw_options`` into the cart; raise QuoteError for bad options."""
    if part.firm_id != user.firm_id:
        raise CartError("not_yours", N_("Dieses Teil gehört nicht Ihrer Firma."))
    if part.status != "ready":
        raise CartError("not_ready", N_("Das Teil ist noch nicht analysiert."))
    if count(user) >= CART_MAX:
        raise CartError("full", N_("Höchstens %(n)s Teile in einem Auftrag."), n=CART_MAX)
    options = quotes.parse_options(raw_options, quotes.hub_catalog()[0])
    item = CartItem(user_id=user.id, part_id=part.id, options=options.to_dict())
    db.session.add(item)
    db.session.flush()
    return item


def find(user: User, item_id: str) -> CartItem | None:
    return db.session.scalar(sa.select(CartItem).where(CartItem.user_id == user.id,
                                                       CartItem.public_id == item_id))


def update(item: CartItem, raw_options: Any) -> CartItem:
    """Change an item's options (a form gives some of them; the rest stay)."""
    merged = {**item.options, **{k: v for k, v in dict(raw_options).items()
                                 if k in ("material", "colour", "quantity", "infill",
                                          "layer_height", "units", "supports")}}
    item.options = quotes.parse_options(merged, quotes.hub_catalog()[0]).to_dict()
    db.session.flush()
    return item


def remove(item: CartItem) -> None:
    db.session.delete(item)
    db.session.flush()


@dataclass
class Priced:
    """A cart item with its price (None while its estimate is made, or the reason it fails)."""

    item: CartItem
    result: quotes.QuoteResult | None = None
    pending: bool = False
    error: Any = None


def price_items(user: User) -> list[Priced]:
    """Every item with its price as a part of its own (the order's price comes with the
    quote); a missing estimate is queued (the caller commits) and marked pending."""
    out = []
    materials = quotes.hub_catalog()[0]
    for item in items_of(user):
        try:
            result = quotes.compute(item.part, quotes.parse_options(item.options, materials))
            out.append(Priced(item, result))
        except quotes.EstimatePendingError:
            out.append(Priced(item, pending=True))
        except quotes.QuoteError as exc:
            out.append(Priced(item, error=exc))
    return out


def cart_total(priced: list[Priced]) -> dict[str, Any] | None:
    """The cart as one order, picked up without express (the quote adds a delivery): the
    parts, the set-up fee and minimum top-up once, VAT; a price's dict (``OrderPrice``).
    None while an item has no price."""
    if not priced or any(p.result is None for p in priced):
        return None
    return quotes.order_price([p.result for p in priced]).to_dict()


def quote_cart(user: User, *, delivery: str, express: bool,
               ship_to: dict[str, Any] | None) -> Quote:
    """Quote the cart as one order with the delivery chosen and empty the cart.

    Raises CartError for an empty cart, quotes.QuoteError naming a bad item, and
    quotes.EstimatePendingError while an estimate is made (after queueing it)."""
    items = items_of(user)
    if not items:
        raise CartError("empty", N_("Der Warenkorb ist leer."))
    materials = quotes.hub_catalog()[0]
    computed = []
    for item in items:
        computed.append((item.part, quotes.compute(item.part,
                                                   quotes.parse_options(item.options, materials))))
    quote = quotes.store_lines(user.firm, computed, delivery=delivery, express=express,
                               ship_to=ship_to)
    for item in items:
        db.session.delete(item)
    db.session.flush()
    return quote


def put_back(quote: Quote, user: User) -> int:
    """Put a quote's lines back into the user's cart (to change them); return how many."""
    n = 0
    for line in quotes.lines_of(quote):
        if count(user) >= CART_MAX:
            break
        db.session.add(CartItem(user_id=user.id, part_id=line.part_id, options={
            "material": line.material_code, "colour": line.colour, "quantity": line.quantity,
            "infill": line.infill_percent, "layer_height": line.layer_height_mm,
            "units": line.units, "supports": line.supports or "auto"}))
        n += 1
    db.session.flush()
    return n
