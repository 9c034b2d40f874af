"""Quotes: price and delivery date of an analysed part for the options a firm picks.

``compute`` answers the live price box (nothing is stored); ``make_quote`` stores the answer as a
Quote row the firm can download and order. Prices come from the quote engine with the hub's
materials and pricing rules; the delivery date from the live queue (``scheduling``).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import current_app

from marketplace import formatting, messages
from marketplace.engine.meshio.units import USER_UNITS
from marketplace.engine.pricing import catalog
from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.models import Part, Quote, utcnow
from marketplace.parts import storage

QUANTITY_MAX = 1000
QUOTE_VALID_DAYS = 30


class QuoteError(Exception):
    """Options that cannot be quoted; ``field`` names the form field, ``message`` is German."""

    def __init__(self, field_name: str, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.field = field_name
        self.message = message
        self.params = params


@dataclass(frozen=True)
class QuoteOptions:
    """What a firm chooses for a part (validated by :func:`parse_options`)."""

    material_code: str = "PLA"
    colour: str = "any"
    quantity: int = 1
    infill_percent: int = 15
    layer_height_mm: float = 0.2
    units: str | None = None  # None: the part's (guessed) units

    def to_dict(self) -> dict[str, Any]:
        """Return the options as the part page's form names them."""
        return {
            "material": self.material_code, "colour": self.colour, "quantity": self.quantity,
            "infill": self.infill_percent, "layer_height": self.layer_height_mm,
            "units": self.units,
        }


@dataclass
class QuoteResult:
    """A computed price and date for some options (not stored)."""

    options: QuoteOptions
    units: str
    material_g: float  # per piece
    print_time_s: int  # per piece
    price: dict[str, Any]  # Price.to_dict()
    delivery_date: date | None
    mesh: dict[str, Any] = field(default_factory=dict)  # figures in these units
    printable: bool = True
    problems: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON the live price box shows."""
        return {
            "options": self.options.to_dict(), "units": self.units,
            "material_g": round(self.material_g, 1), "print_time_s": self.print_time_s,
            "price": self.price,
            "delivery_date": self.delivery_date.isoformat() if self.delivery_date else None,
            "mesh": self.mesh, "printable": self.printable,
        }


def price_answer(result: QuoteResult) -> dict[str, Any]:
    """Return the live price box's JSON: the figures, and each of them as the reader reads it.

    ``display`` holds the texts the page shows, formatted here (the browser formats nothing,
    so the box reads exactly like the quote page, the PDF and the mails).
    """
    answer = result.to_dict()
    price = answer["price"]
    for line in price["lines"]:
        line["label"], line["detail"] = messages.line_texts(line)
    answer["display"] = {
        "gross": formatting.format_money(price["gross_cents"]),
        "net": formatting.format_money(price["net_cents"]),
        "vat": formatting.format_money(price["vat_cents"]),
        "delivery_date": formatting.format_date(result.delivery_date),
        "material": formatting.format_grams(result.material_g),
        "print_time": formatting.format_duration(result.print_time_s),
        "size": formatting.format_size(result.mesh.get("bbox_mm")),
        "lines": [{"text": f"{line['label']} ({line['detail']})" if line["detail"]
                   else line["label"], "amount": formatting.format_money(line["amount_cents"])}
                  for line in price["lines"]],
    }
    return answer


# --- hub catalogue ------------------------------------------------------------------------------
def hub_catalog() -> tuple[dict[str, catalog.MaterialSpec], catalog.PricingRules,
                           catalog.PrintProfile]:
    """Return the hub's materials, pricing rules and print profile (settings over defaults)."""
    from marketplace.settings import operations as settings

    return settings.get_materials(), settings.get_pricing_rules(), catalog.DEFAULT_PROFILE


def parse_options(raw: Mapping[str, Any], materials: Mapping[str, catalog.MaterialSpec]
                  ) -> QuoteOptions:
    """Validate options from a form or JSON body; raise QuoteError naming the bad field."""
    code = str(raw.get("material") or raw.get("material_code") or "PLA").strip().upper()
    if code not in materials:
        raise QuoteError("material", N_("Unbekanntes Material."))
    colour = str(raw.get("colour") or "any").strip()[:32] or "any"
    spec = materials[code]
    if colour != "any" and spec.colours and colour not in spec.colours:
        raise QuoteError("colour", N_("Diese Farbe gibt es für %(material)s nicht."), material=code)
    try:
        quantity = int(str(raw.get("quantity", 1)).strip())
    except ValueError:
        raise QuoteError("quantity", N_("Die Stückzahl muss eine ganze Zahl sein.")) from None
    if not 1 <= quantity <= QUANTITY_MAX:
        raise QuoteError("quantity", N_("Die Stückzahl muss zwischen 1 und %(max)s liegen."),
                         max=QUANTITY_MAX)
    try:
        infill = int(round(float(str(raw.get("infill", 15)).replace(",", "."))))
        layer = float(str(raw.get("layer_height", 0.2)).replace(",", "."))
    except ValueError:
        raise QuoteError("infill", N_("Füllung und Schichthöhe müssen Zahlen sein.")) from None
    if not 0 <= infill <= 100:
        raise QuoteError("infill", N_("Die Füllung muss zwischen %(lo)s und %(hi)s %% liegen."),
                         lo=0, hi=100)
    if not (math.isfinite(layer) and 0.05 <= layer <= 0.3):
        raise QuoteError("layer_height",
                         N_("Die Schichthöhe muss zwischen 0,05 und 0,3 mm liegen."))
    units = raw.get("units") or None
    if units is not None and units not in USER_UNITS:
        raise QuoteError("units", N_("Unbekannte Einheit."))
    return QuoteOptions(code, colour, quantity, infill, round(layer, 3), units)


# --- analyses kept in memory for fast option changes -------------------------------------------
_cache: OrderedDict[tuple, Any] = OrderedDict()
_cache_lock = threading.Lock()
CACHE_SIZE = 8
CACHE_TRIANGLES = 3_000_000  # a 2-million-triangle part takes ~200 MB as float64 arrays


def part_analysis(part: Part, units: str | None) -> Any:
    """Return the engine's PartAnalysis (with its mesh) of ``part`` in ``units`` (cached)."""
    from marketplace.engine import quote as engine

    key = (str(storage.path_for(part.sha256)), part.original_name.rsplit(".", 1)[-1], units)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    # the stored record already has the problems: skip the slow wall-thickness rays here
    analysis = engine.analyse_file(storage.read(part.sha256), part.original_name, units=units,
                                   check_walls=False)
    with _cache_lock:
        _cache[key] = analysis
        while len(_cache) > 1 and (
            len(_cache) > CACHE_SIZE
            or sum(len(a.faces) for a in _cache.values()) > CACHE_TRIANGLES
        ):
            _cache.popitem(last=False)
    return analysis


def compute(part: Part, options: QuoteOptions, *, now=None) -> QuoteResult:
    """Price ``part`` with ``options`` and estimate its delivery date (stores nothing)."""
    from marketplace.engine import quote as engine
    from marketplace.scheduling import live as scheduling

    if part.status != "ready":
        raise QuoteError("part", N_("Das Teil ist noch nicht analysiert."))
    materials, rules, profile = hub_catalog()
    profile = profile.with_options(
        infill_percent=options.infill_percent, layer_height_mm=options.layer_height_mm
    )
    units = options.units or part.units
    analysis = part_analysis(part, units)
    answer = engine.quote_part(
        analysis, material=materials[options.material_code], rules=rules, profile=profile,
        quantity=options.quantity,
    )
    summary = analysis.to_dict() if (options.units and options.units != part.units) else (
        part.analysis or {}
    )
    mesh = summary.get("mesh") or {}
    estimate = answer["estimate"]
    if not answer.get("price"):
        errors = [p for p in analysis.problems if p.severity == "error"]
        if errors:  # not printable: no price (the engine gives none), and the reason why
            raise QuoteError("part", N_("Das Teil ist so nicht druckbar: %(reason)s"),
                             reason=errors[0].message)
        raise QuoteError("part", N_("Das Teil hat kein druckbares Volumen."))
    print_time_s = int(round(float(estimate["print_time_s"])))
    bbox = scheduling.part_bbox_mm(summary) or mesh.get("bbox_mm")
    delivery = scheduling.estimate_delivery(
        db.session, print_time_s=print_time_s, quantity=options.quantity,
        material_code=options.material_code, colour=options.colour, bbox_mm=bbox, now=now,
    )
    return QuoteResult(
        options=options, units=mesh.get("units") or units or "mm",
        material_g=float(estimate["material_g"]), print_time_s=print_time_s,
        price=answer["price"], delivery_date=delivery, mesh=mesh,
        printable=bool(summary.get("printable", True)), problems=summary.get("problems") or [],
    )


def make_quote(
    part: Part, *, material_code: str = "PLA", colour: str = "any", quantity: int = 1,
    infill: int = 15, layer_height: float = 0.2, units: str | None = None,
) -> Quote:
    """Price ``part`` and store the quote (the caller commits); raise QuoteError for bad options."""
    materials, _, _ = hub_catalog()
    options = parse_options(
        {"material": material_code, "colour": colour, "quantity": quantity, "infill": infill,
         "layer_height": layer_height, "units": units},
        materials,
    )
    return store(part, compute(part, options))


def store(part: Part, result: QuoteResult) -> Quote:
    """Store a computed quote as a Quote row (the caller commits)."""
    price = result.price
    opts = result.options
    quote = Quote(
        firm_id=part.firm_id, part_id=part.id, material_code=opts.material_code,
        colour=opts.colour, quantity=opts.quantity, infill_percent=opts.infill_percent,
        layer_height_mm=opts.layer_height_mm, units=result.units,
        material_g=result.material_g, print_time_s=result.print_time_s,
        net_cents=_cents(price, "net"), vat_cents=_cents(price, "vat"),
        gross_cents=_cents(price, "gross"), breakdown=price, delivery_date=result.delivery_date,
        valid_until=utcnow() + timedelta(days=QUOTE_VALID_DAYS),
    )
    db.session.add(quote)
    db.session.flush()
    return quote


def _cents(price: Mapping[str, Any], key: str) -> int:
    if f"{key}_cents" in price:
        return int(price[f"{key}_cents"])
    from decimal import Decimal

    return int((Decimal(str(price[key])) * 100).to_integral_value())


def default_options() -> dict[str, Any]:
    """Return the options a part page starts with."""
    cfg = current_app.config
    return {"material": cfg.get("DEFAULT_MATERIAL", "PLA"), "colour": "any", "quantity": 1,
            "infill": 15, "layer_height": 0.2}
