"""Printability problems: stable codes, severities and plain-language messages (German + English).

``message`` is German (the hub's default language), ``message_en`` English. ``location`` holds
what the 3D viewer can highlight, in mm in the file's own frame (after unit scaling):
``points`` [[x, y, z], ...], ``edges`` [[[x, y, z], [x, y, z]], ...], ``faces`` [index, ...]
(indices into ``PartAnalysis.faces``, the repaired mesh the viewer draws, not into the file's
triangles: removed degenerate/duplicate faces shift them) and ``bbox`` [[xmin, ymin, zmin], [xmax, ymax, zmax]].

Codes (severity):
  not_watertight (warning), not_closable (error), non_manifold_edges (warning), winding_fixed (info),
  winding_unfixable (warning), inverted_normals_fixed (info), degenerate_faces_removed (info),
  duplicate_faces_removed (info), multiple_shells (info), closed_cavities (info),
  too_large (error), too_small (error), very_small (warning), no_volume (error),
  thin_walls (warning), needs_supports (info/warning), topple_risk (warning),
  units_guessed (info), orientation_suggested (info)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Problem:
    """One finding about a part."""

    code: str
    severity: str
    message: str
    message_en: str
    location: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON record ``{"code", "severity", "message", "message_en", ...}``."""
        out: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "message_en": self.message_en,
        }
        if self.location:
            out["location"] = self.location
        if self.data:
            out["data"] = self.data
        return out


def de_num(value: float, places: int = 1) -> str:
    """Format a number with a German decimal comma and dot thousands: 1234.5 -> "1.234,5"."""
    text = f"{value:,.{places}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def en_num(value: float, places: int = 1) -> str:
    """Format a number the English way: 1234.5 -> "1,234.5"."""
    return f"{value:,.{places}f}"


def size_text(dims: tuple[float, ...] | list[float], de: bool) -> str:
    """Return "20,0 × 20,0 × 20,0 mm" (German) or "20.0 × 20.0 × 20.0 mm"."""
    fmt = de_num if de else en_num
    return " × ".join(fmt(d) for d in dims) + " mm"


def problem(code: str, severity: str, de: str, en: str, location: dict | None = None,
            **data: Any) -> Problem:
    """Build a Problem, checking the severity."""
    if severity not in SEVERITIES:
        raise ValueError(f"bad severity {severity!r}")
    return Problem(code, severity, de, en, location or {}, data)


def sort_problems(items: list[Problem]) -> list[Problem]:
    """Errors first, then warnings, then info; stable within a severity."""
    return sorted(items, key=lambda p: SEVERITIES.index(p.severity))
