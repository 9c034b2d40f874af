"""Why a job waits: one definition for the console's queue, the dashboard and the JSON.

:func:`reason_for` is pure: given what a job needs (:class:`printers.matching.JobNeed`, as
sliced or, before slicing, from the part's analysis) and every printer with its state, it names
the first thing that holds the job back, in this order:

1. the hub has no printer at all;
2. a technician asked for a printer that cannot print it (too small, other material, ...);
3. no printer is large enough (any state; a part not yet sliced may be laid in any
   orientation: :mod:`marketplace.engine.geometry.fitting` on its analysis' hull points);
4. no printer that is large enough has the nozzle and slicer profile the job was sliced for
   (before slicing: the profile slicing will pick for the job's printer class, any without);
5. none of those has the job's material and colour loaded;
6. every printer that could print it is in maintenance, or not reachable;
7. every printer that could print it is busy (printing, or its bed waits to be cleared);
8. otherwise the job is on its way: awaiting approval, being sliced, or next for a free printer.

Each reason is a code and parameters; :data:`REASONS` holds its German words (translated where
shown), so every page and endpoint says the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.i18n import N_, colour_label, gettext
from marketplace.jobs import ON_PRINTER_STATES, WAITING_STATES, JobState, state_values
from marketplace.models import Printer, PrintJob
from marketplace.engine.geometry import fitting
from marketplace.scheduling.planning import part_bbox_mm, part_hull_mm
from printers import matching
from printers.preparing import choose_profile

NO_PRINTER = "no_printer"
REQUESTED_PRINTER = "requested_printer"
TOO_LARGE = "too_large"
NO_MATERIAL = "no_material"
NO_PROFILE = "no_profile"
MAINTENANCE = "maintenance"
OFFLINE = "offline"
BUSY = "busy"
AWAITING_APPROVAL = "awaiting_approval"
SLICING = "slicing"
NEXT = "next"

# code -> German words (placeholders filled from the reason's params); in this order on pages.
REASONS: dict[str, str] = {
    NO_PRINTER: N_("Kein Drucker eingerichtet"),
    REQUESTED_PRINTER: N_("Der gewählte Drucker %(printer)s kann den Auftrag nicht drucken"),
    TOO_LARGE: N_("Kein Drucker groß genug"),
    NO_MATERIAL: N_("Kein Drucker hat %(material)s %(colour)s geladen"),
    NO_PROFILE: N_("Kein Drucker mit Düse %(nozzle)s mm und Profil %(profile)s"),
    MAINTENANCE: N_("Drucker in Wartung"),
    OFFLINE: N_("Passende Drucker nicht erreichbar"),
    BUSY: N_("Alle passenden Drucker belegt"),
    AWAITING_APPROVAL: N_("Wartet auf Freigabe"),
    SLICING: N_("Wird für den Druck vorbereitet"),
    NEXT: N_("Geht an den nächsten freien Drucker"),
}
# Reasons that need someone to act (load a spool, end maintenance, ...), not just time.
BLOCKED = frozenset({NO_PRINTER, REQUESTED_PRINTER, TOO_LARGE, NO_MATERIAL, NO_PROFILE,
                     MAINTENANCE, OFFLINE})


@dataclass(frozen=True)
class Reason:
    """Why one job waits: ``code`` (a key of :data:`REASONS`) and its parameters."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def blocked(self) -> bool:
        return self.code in BLOCKED

    def text(self, translate=gettext) -> str:
        """The reason in plain words, in the current language."""
        params = dict(self.params)
        if "colour" in params:
            params["colour"] = colour_label(params["colour"]) if params["colour"] else ""
        return " ".join((translate(REASONS[self.code]) % params).split())

    def to_dict(self, translate=gettext) -> dict[str, Any]:
        return {"code": self.code, "text": self.text(translate), "blocked": self.blocked,
                **({"params": self.params} if self.params else {})}


@dataclass(frozen=True)
class PrinterView:
    """A printer as :func:`reason_for` sees it: what it offers, its state, and whether a job
    occupies it."""

    offer: matching.PrinterOffer
    state: str
    occupied: bool = False


def _obstacle(need: matching.JobNeed, offer: matching.PrinterOffer, sliced: bool) -> str | None:
    if sliced:
        return matching.mismatch(need, offer)
    # before slicing: the profile slicing will pick (any, if it names none) with its nozzle,
    # and the footprint may turn
    need = replace(need, nozzle_mm=offer.nozzle_mm, profile=need.profile or offer.profile)
    found = matching.mismatch(need, offer)
    if found == matching.TOO_SMALL:
        x, y, z = need.bbox_mm
        turned = matching.mismatch(replace(need, bbox_mm=(y, x, z)), offer)
        if turned == matching.TOO_SMALL and need.hull_mm is not None and fitting.fits_volume(
                need.hull_mm, offer.build_mm):  # fits laid another way: what else is amiss
            return matching.mismatch(replace(need, bbox_mm=(0.0, 0.0, 0.0)), offer)
        return turned
    return found


def reason_for(state: str, need: matching.JobNeed, printers: Sequence[PrinterView], *,
               sliced: bool) -> Reason:
    """Return why a job in ``state`` that needs ``need`` waits, given every printer."""
    if not printers:
        return Reason(NO_PRINTER)
    views = list(printers)
    if need.requested_printer_id is not None:
        asked = [p for p in views if p.offer.printer_id == need.requested_printer_id]
        if asked and _obstacle(need, asked[0].offer, sliced) is not None:
            return Reason(REQUESTED_PRINTER, {"printer": asked[0].offer.name})
        views = asked or views
    obstacles = {p.offer.printer_id: _obstacle(need, p.offer, sliced) for p in views}
    large = [p for p in views if obstacles[p.offer.printer_id] != matching.TOO_SMALL]
    if not large:
        return Reason(TOO_LARGE)
    # of those, the ones with the nozzle and profile it is (or will be) sliced for; of those,
    # the ones with its material and colour loaded (so a spool to load is named on a printer
    # that could then print it, not on one with another nozzle)
    kind = [p for p in large if _same_kind(need, p.offer, sliced)]
    if not kind:
        return Reason(NO_PROFILE, {"nozzle": f"{need.nozzle_mm:g}", "profile": need.profile})
    loaded = [p for p in kind if _loaded(need, p.offer)]
    if not loaded:
        colour = "" if need.colour.strip().lower() in matching.ANY_COLOUR else need.colour
        return Reason(NO_MATERIAL, {"material": need.material_code, "colour": colour})
    capable = [p for p in loaded if obstacles[p.offer.printer_id] is None]
    if not capable:  # nothing left to name: the checks above cover every mismatch
        return Reason(NO_PROFILE, {"nozzle": f"{need.nozzle_mm:g}", "profile": need.profile})
    in_service = [p for p in capable if p.state not in ("maintenance", "offline", "unknown")]
    if not in_service:
        if any(p.state == "maintenance" for p in capable):
            return Reason(MAINTENANCE)
        return Reason(OFFLINE)
    if state == JobState.RECEIVED.value:
        return Reason(AWAITING_APPROVAL)
    if state == JobState.APPROVED.value:
        return Reason(SLICING)
    free = [p for p in in_service if p.state == "available" and not p.occupied]
    return Reason(NEXT) if free else Reason(BUSY)


def _same_kind(need: matching.JobNeed, offer: matching.PrinterOffer, sliced: bool) -> bool:
    """The printer has the nozzle and profile the job is sliced for (before slicing: the
    profile slicing will pick, any if none is named)."""
    if not sliced:
        return not need.profile or need.profile == offer.profile
    return matching.same_kind(need, offer)


def _loaded(need: matching.JobNeed, offer: matching.PrinterOffer) -> bool:
    return matching.has_loaded(need.material_code, need.colour, offer.material_code,
                               offer.colour)


# --- reading the database -----------------------------------------------------------------------


def _printers() -> list[Printer]:
    return list(db.session.scalars(sa.select(Printer).order_by(Printer.id)))


def printer_views(printers: list[Printer] | None = None) -> list[PrinterView]:
    """Return every printer with its state and whether a job occupies it."""
    printers = _printers() if printers is None else printers
    occupied = set(db.session.scalars(sa.select(PrintJob.printer_id).where(
        PrintJob.state.in_(state_values(ON_PRINTER_STATES)),
        PrintJob.printer_id.is_not(None))).all())
    return [PrinterView(matching.offer_for(p), p.state, p.id in occupied) for p in printers]


def need_of(job: PrintJob, printers: list[Printer] | None = None,
            profiles: dict | None = None) -> tuple[matching.JobNeed, bool]:
    """Return what ``job`` needs and whether that is as sliced (else from the part: for a job
    priced for a printer class, the profile slicing will pick, :func:`choose_profile`).
    ``profiles``: a cache of those picks for jobs alike (the pieces of one line)."""
    sliced = matching.need_for(job) if job.state == JobState.QUEUED.value else None
    if sliced is not None:
        return sliced, True
    analysis = job.part.analysis if job.part is not None else None
    bbox = part_bbox_mm(analysis, job.scale or 1.0) or (0.0, 0.0, 0.0)
    profile, nozzle = "", 0.0
    if job.printer_class:
        printers = _printers() if printers is None else printers
        alike = (job.part_id, job.scale, job.printer_class, job.material_code, job.colour,
                 job.requested_printer_id)
        profiles = {} if profiles is None else profiles
        if alike not in profiles:
            profiles[alike] = choose_profile(
                job, current_app.config.get("DEFAULT_SLICER_PROFILE", ""), printers)
        profile = profiles[alike]
        nozzle = next((p.nozzle_mm for p in printers if p.slicer_profile == profile), 0.0)
    return matching.JobNeed(
        job_id=job.id, material_code=job.material_code, colour=job.colour or "any",
        nozzle_mm=nozzle, bbox_mm=tuple(bbox), profile=profile,
        requested_printer_id=job.requested_printer_id,
        hull_mm=part_hull_mm(analysis, job.scale or 1.0)), False


def reasons_for(jobs: Iterable[PrintJob], views: list[PrinterView] | None = None
                ) -> dict[int, Reason]:
    """Return the reason of each waiting job (received, approved, queued) by job id."""
    printers = _printers()
    views = printer_views(printers) if views is None else views
    waiting = set(state_values(WAITING_STATES))
    out: dict[int, Reason] = {}
    next_needs = []
    profiles: dict = {}
    for job in jobs:
        if job.state in waiting:
            need, sliced = need_of(job, printers, profiles)
            out[job.id] = reason_for(job.state, need, views, sliced=sliced)
            if out[job.id].code == NEXT:
                next_needs.append(need)
    return {**out, **_beyond_free_printers(next_needs, views)}


def _beyond_free_printers(needs: list[matching.JobNeed], views: list[PrinterView]
                          ) -> dict[int, Reason]:
    """Jobs that a free printer could take but that others come before (the dispatcher's own
    order and pairing, :func:`printers.matching.assign`): busy for them."""
    free = [p.offer for p in views if p.state == "available" and not p.occupied]
    taken = {job_id for job_id, _printer in matching.assign(needs, free)}
    return {n.job_id: Reason(BUSY) for n in needs if n.job_id not in taken}


def waiting_jobs(states: Iterable[str] | None = None) -> list[PrintJob]:
    """Return the jobs waiting in ``states`` (default: received, approved, queued)."""
    wanted = list(states) if states is not None else list(state_values(WAITING_STATES))
    return list(db.session.scalars(sa.select(PrintJob).where(PrintJob.state.in_(wanted))
                                   .options(selectinload(PrintJob.part))
                                   .order_by(PrintJob.id)))


def grouped(reasons: Iterable[Reason]) -> list[tuple[Reason, int]]:
    """Return (reason, pieces), most pieces first, then in the order of :data:`REASONS`
    (the same reason with other parameters, "PETG Schwarz" and "TPU", counts apart)."""
    counts = Counter((r.code, tuple(sorted(r.params.items()))) for r in reasons)
    order = list(REASONS)
    return [(Reason(code, dict(params)), n) for (code, params), n in
            sorted(counts.items(), key=lambda kv: (-kv[1], order.index(kv[0][0]), kv[0][1]))]


def count_by_reason(states: Iterable[str] | None = None) -> list[tuple[Reason, int]]:
    """Return (reason, pieces) for every waiting job (received, approved, queued)."""
    return grouped(reasons_for(waiting_jobs(states)).values())
