"""What every mesh reader returns or raises: :class:`RawMesh` and :class:`MeshInputError`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from marketplace.engine.limits import AnalysisLimits
from marketplace.engine.texts import TEXTS, msg


class MeshInputError(ValueError):
    """A file that cannot be analysed: a stable ``code`` and the parameters of its sentence.

    The sentence is ``TEXTS[text]`` (:mod:`marketplace.engine.texts`; ``text`` defaults to
    ``"error." + code``), rendered in the reader's language when shown
    (:func:`marketplace.messages.render_message`).
    """

    def __init__(self, code: str, text: str | None = None, /, **params: Any) -> None:
        self.code = code
        self.text = text or f"error.{code}"
        self.params = params
        if self.text not in TEXTS:
            raise ValueError(f"no text {self.text!r} for input error {code!r}")
        super().__init__(f"{code} {params}" if params else code)

    def to_dict(self) -> dict[str, Any]:
        """Return the error record ``{"code", "params"}`` (and ``"text"`` if not the default)."""
        out: dict[str, Any] = {"code": self.code, "params": dict(self.params)}
        if self.text != f"error.{self.code}":
            out["text"] = self.text
        return out


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
        raise MeshInputError("too_many_triangles", count=count if known else msg(
            "words.more_than", limit=limits.max_triangles), limit=limits.max_triangles)
