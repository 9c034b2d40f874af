"""Prepare approved jobs for a printer: slice them, compare with the quote, queue them.

:func:`slice_job` is the whole unit for one job: it takes a job id, slices the part with
PrusaSlicer (``printers.slicing``) for the profile of the printers that can print it, and
commits the job as queued, or as needing a technician when slicing failed or the slicer's
grams or time are far from the quote's. It needs an app context and nothing of the
dispatcher's, so a task queue can run it on its own; running it twice is harmless (a job that
is no longer approved is left alone). The dispatcher's pass calls it through
:func:`slice_approved`, most urgent first, within a time budget.

:func:`reslice_stranded` sends queued jobs back to slicing when no printer has the profile they
were sliced for any more, or their G-code is gone.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import sqlalchemy as sa
from flask import current_app

from marketplace.extensions import db
from marketplace.i18n import SLICER_DIFFERS
from marketplace.jobs import JobState
from marketplace.models import Printer, PrintJob, Quote, QuoteLine
from marketplace.parts import storage
from marketplace.quotes import operations as quotes
from marketplace.scheduling import planning
from printers import matching, slicing
from printers.settings import DispatcherSettings
from printers.steps import TickReport, job_step, move


def slice_approved(settings: DispatcherSettings, report: TickReport | None = None, *,
                   then: Callable[[], None] | None = None) -> int:
    """Slice approved jobs, most urgent first, until ``settings.slice_budget_s`` is spent.

    ``then()`` runs after each job that was queued (the dispatcher sends it at once, so its
    upload runs while the next job is sliced). Return how many jobs were queued.
    """
    began = time.monotonic()
    job_ids = db.session.scalars(
        sa.select(PrintJob.id).where(PrintJob.state == JobState.APPROVED.value)
        .order_by(PrintJob.priority.desc(), PrintJob.approved_at, PrintJob.id)).all()
    queued = 0
    for job_id in job_ids:
        if time.monotonic() - began > settings.slice_budget_s:
            break
        if slice_job(job_id, settings, report) == JobState.QUEUED.value:
            queued += 1
            if then is not None:
                then()
    return queued


def slice_job(job_id: int, settings: DispatcherSettings | None = None,
              report: TickReport | None = None) -> str | None:
    """Slice one approved job and commit it as queued (or needing attention).

    Return the job's new state, or None when there was nothing to do (the job is gone or no
    longer approved) or someone else moved it meanwhile. Needs an app context; ``settings``
    default to the app's.
    """
    settings = settings or DispatcherSettings.from_config(current_app.config)
    job = db.session.get(PrintJob, job_id)
    if job is None or job.state != JobState.APPROVED.value:
        return None
    with job_step(job_id, "slicing") as step:
        _slice(job, settings, report)
    return job.state if step.ok else None


def quoted_rotation(job: PrintJob) -> list[list[float]] | None:
    """The orientation ``job`` was quoted in: another one than the analysis' suggestion when
    only that fit a printer in service (its estimate records it), else the suggestion."""
    line = db.session.get(QuoteLine, job.quote_line_id) if job.quote_line_id else None
    units = (line.units if line is not None else None) or job.part.units or "mm"
    turn = quotes.quoted_rotation(job.part, units=units, layer_height_mm=job.layer_height_mm,
                                  infill_percent=job.infill_percent,
                                  printer_class=job.printer_class)
    return turn or slicing.rotation_from_analysis(job.part.analysis)


def _slice(job: PrintJob, settings: DispatcherSettings, report: TickReport | None) -> None:
    profile = choose_profile(job, settings.default_slicer_profile)
    try:
        result = slicing.slice_part(
            storage.path_for(job.part.sha256, settings.upload_dir), job.part.file_format,
            profile=profile, profile_dir=settings.slicer_profile_dir,
            gcode_dir=settings.gcode_dir, layer_height_mm=job.layer_height_mm,
            infill_percent=job.infill_percent, scale=job.scale or 1.0,
            rotation=quoted_rotation(job),
            supports=bool(job.supports),  # the quote's decision (or a technician's)
            slicer_bin=settings.slicer_bin, timeout_s=settings.slicer_timeout_s)
    except (slicing.SlicingError, storage.StorageError) as exc:
        message = getattr(exc, "message", str(exc))
        move(report, job, JobState.NEEDS_ATTENTION, f"slicing failed: {message}",
             {"code": getattr(exc, "code", "missing_file"), "profile": profile})
        return
    if report is not None:
        report.sliced += 1
    job.slicer_material_g = result.material_g
    job.slicer_print_time_s = result.print_time_s
    job.gcode_sha256 = result.gcode_sha256
    job.slicing = {**{k: v for k, v in result.to_dict().items() if k != "gcode_path"},
                   "supports": bool(job.supports)}
    est_g, est_s = estimates(job)
    if est_g is not None and job.est_material_g is None:
        job.est_material_g = est_g
    if est_s is not None and job.est_print_time_s is None:
        job.est_print_time_s = est_s
    # the price lock: the slicer's figures against the quote's (or, after a technician
    # changed the supports, against the estimate for that decision); the price stays
    check_g, check_s, basis = check_figures(job, est_g, est_s)
    data = {"profile": profile, "supports": bool(job.supports),
            "slicer_material_g": result.material_g, "slicer_print_time_s": result.print_time_s,
            "est_material_g": est_g, "est_print_time_s": est_s}
    if basis != "quote":
        data.update(check_material_g=check_g, check_print_time_s=check_s)
    figures = (("material", check_g, result.material_g, " g", settings.slicer_diff_threshold),
               ("time", check_s, result.print_time_s, " s", settings.slicer_time_threshold))
    outside = [f for f in figures if relative_difference(f[1], f[2]) > f[4]]
    # which figures are off, and the tolerances: the console says it in its reader's language
    data.update(tolerance_material=settings.slicer_diff_threshold,
                tolerance_time=settings.slicer_time_threshold,
                off=[name for name, *_rest in outside])
    if outside:
        off = [f"{name} {relative_difference(est, got):.0%} (quote {est:g}{unit}, slicer "
               f"{got:g}{unit}, tolerance {threshold:.0%})"
               for name, est, got, unit, threshold in outside]
        move(report, job, JobState.NEEDS_ATTENTION,
             f"{SLICER_DIFFERS}{basis}: {'; '.join(off)}", data)
    else:
        move(report, job, JobState.QUEUED, "sliced", data)


def reslice_stranded(settings: DispatcherSettings, report: TickReport | None = None) -> None:
    """Send queued jobs back to slicing when no printer has the profile they were sliced for
    (printers changed since) or their G-code is missing."""
    all_offers = [matching.offer_for(p) for p in db.session.scalars(sa.select(Printer)).all()]
    if not all_offers:
        return
    queued = db.session.scalars(sa.select(PrintJob).where(
        PrintJob.state == JobState.QUEUED.value)).all()
    for job in queued:
        need = matching.need_for(job)
        has_gcode = bool(job.gcode_sha256) and slicing.gcode_path(
            settings.gcode_dir, job.gcode_sha256).is_file()
        if has_gcode and need and matching.candidate_printers(need, all_offers):
            continue
        profile = choose_profile(job, settings.default_slicer_profile)
        if has_gcode and need and profile == need.profile:
            continue  # no printer can take it, but slicing again would not change that
        with job_step(job.id, "slicing again"):
            move(report, job, JobState.APPROVED,
                 f"slicing again for profile {profile}" if has_gcode
                 else "G-code missing: slicing again", {"profile": profile})


def relative_difference(estimate: float | None, actual: float | None) -> float:
    """Return |actual - estimate| / estimate (0 when there is nothing to compare)."""
    if estimate is None or actual is None or estimate <= 0:
        return 0.0
    return abs(actual - estimate) / estimate


def check_figures(job: PrintJob, est_g: float | None, est_s: float | None,
                  ) -> tuple[float | None, float | None, str]:
    """Return the grams and seconds the slicer's figures are held against, and their basis:
    the quote's (``"quote"``), or those a technician's support override recorded on its
    JobEvent (``"estimate for the technician's support choice"``)."""
    for event in sorted(job.events, key=lambda e: e.id, reverse=True):
        data = event.data or {}
        if data.get("action") == "supports":
            if data.get("check_material_g") is None:
                break
            return (float(data["check_material_g"]), float(data["check_print_time_s"]),
                    "estimate for the technician's support choice")
    return est_g, est_s, "quote"


def estimates(job: PrintJob) -> tuple[float | None, int | None]:
    """Return the quote's grams and seconds per piece for ``job``."""
    grams, seconds = job.est_material_g, job.est_print_time_s
    if grams is None or seconds is None:
        quote = db.session.get(Quote, job.order.quote_id) if job.order else None
        if quote is not None:
            grams = grams if grams is not None else quote.material_g
            seconds = seconds if seconds is not None else quote.print_time_s
    return grams, seconds


def choose_profile(job: PrintJob, default_profile: str,
                   printers: list[Printer] | None = None) -> str:
    """Pick the slicer profile: the requested printer's; else, for a job the quote priced for
    a printer class, the most common among that class's printers that take the part (in some
    orientation), those with the job's material and colour loaded first; else (a job without
    a class, or no such printer) the most common among printers that have the job's material
    and colour loaded, else ``default_profile``. ``printers``: every printer (read if None)."""
    if printers is None:
        printers = db.session.scalars(sa.select(Printer).order_by(Printer.id)).all()
    if job.requested_printer_id:
        printer = next((p for p in printers if p.id == job.requested_printer_id), None)
        if printer is not None:
            return printer.slicer_profile
    if job.printer_class:
        own = [p for p in printers if p.printer_class == job.printer_class and _takes(job, p)]
        if own:
            return _most_common([p for p in own if _loaded(job, p)] or own)
    loaded = [p for p in printers if _loaded(job, p)]
    return _most_common(loaded) if loaded else default_profile


def _loaded(job: PrintJob, printer: Printer) -> bool:
    return matching.has_loaded(job.material_code, job.colour, printer.material_code,
                               printer.colour)


def _takes(job: PrintJob, printer: Printer) -> bool:
    """Whether ``printer``'s build volume takes the job's part in some orientation."""
    volume = (printer.build_x_mm, printer.build_y_mm, printer.build_z_mm)
    analysis = job.part.analysis if job.part is not None else None
    return planning.placement(analysis, [volume], scale=job.scale or 1.0) is not None


def _most_common(printers: list[Printer]) -> str:
    profiles = Counter(p.slicer_profile for p in printers)
    return sorted(profiles.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
