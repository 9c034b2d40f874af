"""Limits and machine facts the analysis checks against (parsing budget, build volumes, nozzle).

Read from :class:`config.Config` (environment overrides) without Flask, so the command line and
the web app use the same numbers. The web app may pass the hub's real printers instead.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


def parse_build_volumes(text: str) -> tuple[tuple[float, float, float], ...]:
    """Parse "250x210x210;300x300x400" into ((250, 210, 210), (300, 300, 400)) in mm."""
    volumes = []
    for chunk in text.replace(",", ";").split(";"):
        chunk = chunk.strip().lower()
        if not chunk:
            continue
        dims = tuple(float(v) for v in chunk.split("x"))
        if len(dims) != 3 or min(dims) <= 0:
            raise ValueError(f"build volume {chunk!r} is not WxDxH in mm")
        volumes.append(dims)
    return tuple(volumes) or ((250.0, 210.0, 210.0),)


@dataclass(frozen=True)
class AnalysisLimits:
    """Budgets for untrusted input and the hub's machines.

    max_triangles : most triangles a file may hold
    max_unzipped_bytes : most bytes the members of a 3MF may expand to
    max_zip_ratio : most times its own size a 3MF may expand to (beyond a few MB)
    max_zip_members : most members a 3MF archive may list
    build_volumes_mm : (x, y, z) of every hub printer in mm
    nozzle_mm : nozzle diameter (walls thinner than this cannot be printed)
    min_layer_mm : the thinnest layer any printer makes
    quote_time_s : time budget of one quote (s); the layer estimate stops when it is spent
    """

    max_triangles: int = 5_000_000
    max_unzipped_bytes: int = 512 * 1024 * 1024
    max_zip_ratio: int = 100
    max_zip_members: int = 1000
    build_volumes_mm: tuple[tuple[float, float, float], ...] = ((250.0, 210.0, 210.0),)
    nozzle_mm: float = 0.4
    min_layer_mm: float = 0.05
    quote_time_s: float = 15.0

    @classmethod
    def from_config(cls, config: object | None = None) -> AnalysisLimits:
        """Build from a Config class/object or a mapping (Flask ``app.config``)."""
        if config is None:
            from config import Config

            config = Config

        def get(name: str, default: object) -> object:
            if isinstance(config, dict) or hasattr(config, "get") and not isinstance(config, type):
                return config.get(name, default)  # type: ignore[union-attr]
            return getattr(config, name, default)

        volumes = get("PRINTER_BUILD_VOLUMES_MM", "250x210x210")
        return cls(
            max_triangles=int(get("MAX_TRIANGLES", cls.max_triangles)),
            max_unzipped_bytes=int(get("MAX_UNZIPPED_BYTES", cls.max_unzipped_bytes)),
            max_zip_ratio=int(get("MAX_ZIP_RATIO", cls.max_zip_ratio)),
            max_zip_members=int(get("MAX_ZIP_MEMBERS", cls.max_zip_members)),
            build_volumes_mm=parse_build_volumes(volumes)
            if isinstance(volumes, str)
            else tuple(tuple(float(v) for v in vol) for vol in volumes),  # type: ignore[union-attr]
            nozzle_mm=float(get("NOZZLE_MM", cls.nozzle_mm)),
            quote_time_s=float(get("QUOTE_TIME_BUDGET_S", cls.quote_time_s)),
        )


class BudgetExceededError(Exception):
    """A quote's time budget is spent."""


@dataclass(frozen=True)
class Deadline:
    """When a quote's time budget ends (``time.monotonic()`` seconds)."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """The deadline ``seconds`` from now."""
        return cls(time.monotonic() + seconds)

    def check(self, needs_s: float = 0.0) -> None:
        """Raise BudgetExceededError once the budget is spent, or when less than ``needs_s``
        seconds are left (for a step that cannot be interrupted)."""
        if time.monotonic() + needs_s > self.at:
            raise BudgetExceededError("the quote's time budget is spent")


def die_with_parent(parent: int | None) -> None:
    """Ask Linux to kill this (child) process when its parent dies, so a killed worker or a
    timed-out analysis leaves no orphan; exit at once if ``parent`` (its pid) is gone already."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent and os.getppid() != int(parent):  # the parent died before the prctl
        os._exit(1)
