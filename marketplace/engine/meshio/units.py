"""Units of a mesh file: mm, cm, m or inch, from the file itself, the user or a size guess.

STL and OBJ carry no unit; CAD tools write whatever their document used. The guess (file units
= mm unless the size says otherwise):

1. A file smaller than 1.5 units in every direction is not a printable part in mm. Pick inch or m,
   whichever makes it 5 mm .. the largest build volume and comes closest to 50 mm.
2. A file smaller than 10 units whose three sizes are all whole sixteenths of an inch (within
   0.003 in), and which fits a printer when read as inches, was drawn in inches.
3. Otherwise mm. The user can override the guess; the analysis says what it chose and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

UNIT_SCALE_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "inch": 25.4, "micron": 0.001, "foot": 304.8}
USER_UNITS = ("mm", "cm", "m", "inch")
_ALIASES = {"in": "inch", "inches": "inch", "zoll": "inch", "millimeter": "mm", "meter": "m",
            "centimeter": "cm", "\"": "inch"}


@dataclass(frozen=True)
class UnitChoice:
    """The unit used: ``unit``, its mm factor ``scale``, ``source`` user|file|guess|default."""

    unit: str
    scale: float
    source: str
    guess: str  # what the size alone suggests (shown even when the user overrides it)


def normalise_unit(text: str | None) -> str | None:
    """Return "mm" | "cm" | "m" | "inch" for user text (aliases allowed) or None if empty."""
    if text is None or not str(text).strip():
        return None
    unit = str(text).strip().lower()
    unit = _ALIASES.get(unit, unit)
    if unit not in USER_UNITS:
        raise ValueError(f"unknown unit {text!r}; use one of {', '.join(USER_UNITS)}")
    return unit


def guess_unit(extents: tuple[float, float, float], max_build_mm: float = 250.0) -> str:
    """Guess the unit of a part with bounding-box ``extents`` in file units."""
    size = max(extents)
    if size <= 0:
        return "mm"
    if size < 1.5:
        best, best_score = "mm", math.inf
        for unit in ("inch", "m"):
            mm = size * UNIT_SCALE_MM[unit]
            if 5.0 <= mm <= max_build_mm:
                score = abs(math.log(mm / 50.0))
                if score < best_score:
                    best, best_score = unit, score
        return best
    if size < 10 and all(_sixteenths(e) for e in extents):
        if size * 25.4 <= max_build_mm:
            return "inch"
    return "mm"


def _sixteenths(value: float) -> bool:
    sixteenths = value * 16
    return round(sixteenths) >= 1 and abs(sixteenths - round(sixteenths)) <= 0.05


def choose_unit(
    extents: tuple[float, float, float],
    *,
    user: str | None = None,
    file_hint: str | None = None,
    max_build_mm: float = 250.0,
) -> UnitChoice:
    """Decide the unit: the user's choice, else the file's own, else the guess from the size."""
    guess = guess_unit(extents, max_build_mm)
    unit = normalise_unit(user)
    if unit:
        return UnitChoice(unit, UNIT_SCALE_MM[unit], "user", guess)
    if file_hint in UNIT_SCALE_MM:
        return UnitChoice(file_hint, UNIT_SCALE_MM[file_hint], "file", guess)  # type: ignore[index]
    return UnitChoice(guess, UNIT_SCALE_MM[guess], "guess" if guess != "mm" else "default", guess)
