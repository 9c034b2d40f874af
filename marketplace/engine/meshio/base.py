"""What every mesh reader returns or raises: :class:`RawMesh` and :class:`MeshInputError`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from marketplace.engine.limits import AnalysisLimits


class MeshInputError(ValueError):
    """A file that cannot be analysed: ``code`` is stable, ``message`` is German plain text."""

    def __init__(self, code: str, message: str, message_en: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.message_en = message_en or message

    def to_dict(self) -> dict[str, str]:
        """Return the CLI/API error record ``{"code", "message", "message_en"}``."""
        return {"code": self.code, "message": self.message, "message_en": self.message_en}


@dataclass(frozen=True, eq=False)
class RawMesh:
    """Triangles as read from a file, before any repair.

    triangles : (m, 3, 3) float32 or float64, file units; the analysis may modify it in place
        (it flushes coordinate noise below 1e-8 to 0)
    fmt : "stl" | "obj" | "3mf";  encoding : "binary" | "ascii" | "xml" | "text"
    unit_hint : unit named by the file itself ("mm", "inch", ...) or None
    """

    triangles: np.ndarray
    fmt: str
    encoding: str
    unit_hint: str | None = None
    notes: tuple[str, ...] = field(default=())


def check_count(count: int, limits: AnalysisLimits) -> None:
    """Refuse a file that declares more triangles than the limits allow (``count`` of them;
    a reader that stops at the first one too many passes ``max_triangles + 1``)."""
    if count > limits.max_triangles:
        known = count > limits.max_triangles + 1
        de = f"{count:,}" if known else f"mehr als {limits.max_triangles:,}"
        en = f"{count:,}" if known else f"more than {limits.max_triangles:,}"
        raise MeshInputError(
            "too_many_triangles",
            f"Das Modell hat {de} Dreiecke; erlaubt sind höchstens "
            f"{limits.max_triangles:,}. Bitte exportieren Sie es gröber.".replace(",", "."),
            f"The model has {en} triangles; at most {limits.max_triangles:,} are allowed. "
            "Please export it with a coarser resolution.",
        )
