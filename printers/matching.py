"""Which queued job goes to which free printer: a pure policy, no I/O.

A printer can print a job when the material loaded is the job's, the colour loaded is the job's
catalogue colour (the same catalogue entry: the catalogue's ``colour_matches``; or the job
takes any colour), the nozzle and slicer profile are the ones the job was sliced for, the part fits the build volume, and the job asked for no other printer. Jobs go in order
of priority (higher first), due date (earlier first, none last), then age. Each job takes the
smallest free printer that can print it, so big printers stay free for big parts.

:func:`offer_for` and :func:`need_for` read a printer row and a job row into the plain
dataclasses the policy works on (attributes only, no database access).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from marketplace.engine.pricing.catalog import ANY_COLOUR, colour_matches

__all__ = ["ANY_COLOUR", "JobNeed", "PrinterOffer", "assign", "can_print", "candidate_printers",
           "colour_matches", "fits", "has_loaded", "job_order_key", "mismatch", "need_for",
           "offer_for", "same_kind"]


@dataclass(frozen=True)
class JobNeed:
    job_id: int
    material_code: str
    colour: str
    nozzle_mm: float
    bbox_mm: tuple[float, float, float]
    profile: str
    priority: int = 0
    due_date: date | None = None
    queued_at: datetime | None = None
    requested_printer_id: int | None = None
    # before slicing: the part's hull points (n, 3) mm, to lay it in any orientation
    hull_mm: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class PrinterOffer:
    printer_id: int
    name: str
    material_code: str
    colour: str
    nozzle_mm: float
    build_mm: tuple[float, float, float]
    profile: str


def fits(bbox_mm: tuple[float, float, float], build_mm: tuple[float, float, float]) -> bool:
    """Return whether a part of ``bbox_mm`` fits a build volume of ``build_mm`` (as sliced)."""
    return all(b <= v + 1e-6 for b, v in zip(bbox_mm, build_mm, strict=True))


# What keeps a printer from printing a job, in the order :func:`mismatch` checks them.
OTHER_PRINTER, TOO_SMALL, OTHER_MATERIAL, OTHER_PROFILE = (
    "other_printer", "too_small", "other_material", "other_profile")


def mismatch(job: JobNeed, printer: PrinterOffer) -> str | None:
    """Return the first thing that keeps ``printer`` from printing ``job`` as it was sliced
    (another printer was asked for, the part does not fit, another material or colour is
    loaded, another nozzle or profile), or None when it can print it."""
    if job.requested_printer_id is not None and job.requested_printer_id != printer.printer_id:
        return OTHER_PRINTER
    if not fits(job.bbox_mm, printer.build_mm):
        return TOO_SMALL
    if not has_loaded(job.material_code, job.colour, printer.material_code, printer.colour):
        return OTHER_MATERIAL
    if not same_kind(job, printer):
        return OTHER_PROFILE
    return None


def has_loaded(material: str, colour: str, loaded_material: str, loaded_colour: str) -> bool:
    """Whether a printer with ``loaded_material``/``loaded_colour`` has what a job needs."""
    return (material.upper() == loaded_material.upper()
            and colour_matches(colour, loaded_colour))


def same_kind(job: JobNeed, printer: PrinterOffer) -> bool:
    """Whether ``printer`` has the nozzle and slicer profile ``job`` was sliced for."""
    return abs(job.nozzle_mm - printer.nozzle_mm) < 1e-6 and job.profile == printer.profile


def can_print(job: JobNeed, printer: PrinterOffer) -> bool:
    """Return whether ``printer`` can print ``job`` as it was sliced."""
    return mismatch(job, printer) is None


def job_order_key(job: JobNeed) -> tuple:
    """Sort key: priority (higher first), due date (earlier first, none last), age, id."""
    return (
        -job.priority,
        job.due_date or date.max,
        job.queued_at or datetime.max,
        job.job_id,
    )


def _printer_key(printer: PrinterOffer) -> tuple:
    x, y, z = printer.build_mm
    return (x * y * z, printer.name, printer.printer_id)


def assign(jobs: Iterable[JobNeed], printers: Iterable[PrinterOffer]) -> list[tuple[int, int]]:
    """Return (job_id, printer_id) pairs: each free printer gets at most one job."""
    free = sorted(printers, key=_printer_key)
    pairs: list[tuple[int, int]] = []
    for job in sorted(jobs, key=job_order_key):
        for printer in free:
            if can_print(job, printer):
                pairs.append((job.job_id, printer.printer_id))
                free.remove(printer)
                break
        if not free:
            break
    return pairs


def candidate_printers(job: JobNeed, printers: Iterable[PrinterOffer]) -> list[PrinterOffer]:
    """Return every printer (free or not) that could print ``job``."""
    return [p for p in printers if can_print(job, p)]


def offer_for(printer: Any) -> PrinterOffer:
    """Return what ``printer`` (a Printer row) offers: material, colour, nozzle, volume."""
    return PrinterOffer(
        printer_id=printer.id, name=printer.name, material_code=printer.material_code,
        colour=printer.colour, nozzle_mm=printer.nozzle_mm,
        build_mm=(printer.build_x_mm, printer.build_y_mm, printer.build_z_mm),
        profile=printer.slicer_profile)


def need_for(job: Any) -> JobNeed | None:
    """Return what ``job`` (a PrintJob row) needs as it was sliced; None before slicing."""
    info = job.slicing or {}
    if not info.get("profile"):
        return None
    bbox = tuple(info.get("bbox_mm") or (0.0, 0.0, 0.0))
    return JobNeed(
        job_id=job.id, material_code=job.material_code, colour=job.colour,
        nozzle_mm=float(info.get("nozzle_mm", 0.4)), bbox_mm=bbox, profile=info["profile"],
        priority=job.priority or 0, due_date=job.due_date,
        queued_at=job.approved_at or job.created_at,
        requested_printer_id=job.requested_printer_id)
