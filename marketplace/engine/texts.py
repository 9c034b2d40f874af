"""What the engine says, as stable codes with parameters; the words are rendered when shown.

The engine never formats a sentence for a person: a problem, a price line or an input error
carries a ``code`` and ``params`` (JSON-safe), and :mod:`marketplace.messages` renders them in
the reader's language (pages, PDFs, mails, the command line) from the gettext catalogues.
``TEXTS`` holds each code's German source string (the catalogue's msgid), marked with ``N_``
for ``pybabel extract``.

A parameter is a plain value (an int or a float is formatted as a number, a str is shown as
it is) or one of these one-key records, made by the helpers below:

- ``{"num": 0.4, "places": 2}``    a number with fixed decimals
- ``{"money": 4000}``             euro cents
- ``{"percent": 5}``              a percentage ("5 %")
- ``{"duration": 150}``           seconds ("3 min")
- ``{"size_mm": [20, 20, 5]}``    a box in mm ("20,0 × 20,0 × 5,0 mm")
- ``{"msg": CODE, "params": {}}``  another message (a unit's name, one reason in a list)
- ``{"list": [...]}``             parameters joined as words ("a, b und c")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def N_(text: str) -> str:
    """Mark a German source string for the catalogue; it is translated when shown."""
    return text


@dataclass(frozen=True)
class Message:
    """Something the engine says: a code of :data:`TEXTS` and its parameters (JSON-safe)."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"code", "params"}``."""
        return {"code": self.code, "params": dict(self.params)}


def num(value: float, places: int = 1) -> dict[str, Any]:
    """A number shown with ``places`` decimals."""
    return {"num": round(float(value), places + 3), "places": places}


def money(cents: int) -> dict[str, int]:
    """An amount in euro cents."""
    return {"money": int(cents)}


def percent(value: float) -> dict[str, float]:
    """A percentage (5 means 5 %)."""
    return {"percent": value}


def duration(seconds: float) -> dict[str, float]:
    """A duration in seconds."""
    return {"duration": round(float(seconds), 3)}


def size_mm(dims: Any) -> dict[str, list[float]]:
    """A box (x, y, z) in millimetres."""
    return {"size_mm": [round(float(v), 3) for v in dims]}


def msg(code: str, **params: Any) -> dict[str, Any]:
    """Another message as a parameter."""
    return {"msg": code, "params": params}


def listing(items: list[Any]) -> dict[str, list[Any]]:
    """Parameters joined as a list of words."""
    return {"list": list(items)}


TEXTS: dict[str, str] = {
    # price lines (marketplace.engine.pricing.price): label and detail of each line code
    "line.material": N_("Material"),
    "line.material.detail": N_("%(material)s: %(quantity)s × %(grams)s g × %(price_per_kg)s/kg"),
    "line.machine": N_("Maschinenzeit"),
    "line.machine.detail": N_("%(quantity)s × %(time)s × %(rate)s/h (%(printer_class)s)"),
    "line.setup": N_("Einrichtungspauschale"),
    "line.setup.detail": N_("einmal je Auftrag"),
    "line.discount": N_("Mengenrabatt"),
    "line.discount.detail": N_("%(percent)s ab %(quantity)s Stück"),
    "line.minimum": N_("Mindestbestellwert-Zuschlag"),
    "line.minimum.detail": N_("Mindestbestellwert %(minimum)s"),
}
