"""Printability problems: stable codes, severities, and the parameters of their messages.

A problem carries no words: its sentence is ``problem.CODE`` in
:data:`marketplace.engine.texts.TEXTS`, filled from ``params`` and rendered in the reader's
language when shown (pages, mails, the command line). ``location`` holds
what the 3D viewer can highlight, in mm in the file's own frame (after unit scaling):
``points`` [[x, y, z], ...], ``edges`` [[[x, y, z], [x, y, z]], ...], ``faces`` [index, ...]
(indices into ``PartAnalysis.faces``, the repaired mesh the viewer draws, not into the file's
triangles: removed degenerate/duplicate faces shift them) and ``bbox`` [[xmin, ymin, zmin], [xmax, ymax, zmax]].

Codes (severity):
  not_watertight (warning), not_closable (error), non_manifold_edges (warning),
  winding_fixed (info),
  winding_unfixable (warning), inverted_normals_fixed (info), degenerate_faces_removed (info),
  duplicate_faces_removed (info), multiple_shells (info), closed_cavities (info),
  too_large (error), too_small (error), very_small (warning), no_volume (error),
  thin_walls (warning), needs_supports (info/warning), topple_risk (warning),
  units_guessed (info)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marketplace.engine.texts import TEXTS

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Problem:
    """One finding about a part: a code and the parameters of its sentence (no words).

    The sentence is ``TEXTS["problem." + code]`` (:mod:`marketplace.engine.texts`), rendered
    in the reader's language when shown (:mod:`marketplace.messages`).
    """

    code: str
    severity: str
    location: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    text: str = ""  # another sentence of TEXTS than "problem." + code (a newer wording whose
    # parameters differ from those of the records stored before it)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON record ``{"code", "severity", "params", "text"?, "location"?,
        "data"?}``."""
        out: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity,
            "params": dict(self.params),
        }
        if self.text:
            out["text"] = self.text
        if self.location:
            out["location"] = self.location
        if self.data:
            out["data"] = self.data
        return out


def problem(code: str, severity: str, location: dict | None = None, *,
            params: dict[str, Any] | None = None, text: str = "", **data: Any) -> Problem:
    """Build a Problem, checking the severity and that its sentence exists."""
    if severity not in SEVERITIES:
        raise ValueError(f"bad severity {severity!r}")
    if f"problem.{code}" not in TEXTS or (text and text not in TEXTS):
        raise ValueError(f"no text for problem {code!r}")
    return Problem(code, severity, location or {}, data, params or {}, text)


def sort_problems(items: list[Problem]) -> list[Problem]:
    """Errors first, then warnings, then info; stable within a severity."""
    return sorted(items, key=lambda p: SEVERITIES.index(p.severity))
