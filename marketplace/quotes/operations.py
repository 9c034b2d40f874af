"""Quotes: price and delivery date of an analysed part for the options a firm picks.

``compute`` answers the live price box (nothing is stored); ``make_quote`` stores the answer as a
Quote row the firm can download and order. Prices come from the quote engine with the hub's
materials and pricing rules; the delivery date from the live queue (``scheduling``).

The mesh-bound half of a price, the estimate of grams and time for a unit, layer height and
infill, is made by a queued task (:mod:`marketplace.quotes.tasks`) and stored as a PartEstimate;
``compute`` only reads it, and raises EstimatePendingError (after queueing it) while it is
missing. The analysis stores the default options' estimate, so a new part prices at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from marketplace import formatting, messages, taskqueue
from marketplace.engine import options as options_schema
from marketplace.engine import runner
from marketplace.engine.limits import AnalysisLimits
from marketplace.engine.options import QuoteOptions
from marketplace.engine.pricing import catalog
from marketplace.extensions import db
from marketplace.i18n import N_, gettext
from marketplace.models import Firm, Part, PartEstimate, Quote, QuoteLine, utcnow
from marketplace.parts import storage
from marketplace.webhooks import payloads as webhook_events

log = logging.getLogger(__name__)

DEFAULT_INFILL_PERCENT = options_schema.DEFAULTS["infill"]
DEFAULT_LAYER_HEIGHT_MM = options_schema.DEFAULTS["layer_height"]


class QuoteError(Exception):
    """Options that cannot be quoted; ``field`` names the form field, ``message`` is German;
    ``code`` says why for programs ("not_printable", "too_large", "no_volume", ...)."""

    code = "bad_option"

    def __init__(self, field_name: str, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.field = field_name
        self.message = message
        self.params = params

    def with_code(self, code: str) -> QuoteError:
        self.code = code
        return self


class EstimatePendingError(Exception):
    """The estimate for these options is being made by a queued task; ask again shortly."""

    def __init__(self, estimate_id: int) -> None:
        super().__init__(f"estimate {estimate_id} is pending")
        self.estimate_id = estimate_id


@dataclass
class QuoteResult:
    """A computed price and date for some options (not stored)."""

    options: QuoteOptions
    units: str
    material_g: float  # per piece
    print_time_s: int  # per piece
    price: dict[str, Any]  # Price.to_dict()
    delivery_date: date | None
    mesh: dict[str, Any] = field(default_factory=dict)  # figures in these units
    printable: bool = True
    problems: list[dict[str, Any]] = field(default_factory=list)
    bbox_mm: tuple[float, float, float] | None = None  # one piece as printed (parcels, dates)
    supports: bool = False  # the decision slicing follows: printed with supports
    supports_needed: bool = False  # automatic supports would place some (warn on "none")
    printer_class: str = "standard"  # the class that prints it: its profile and machine rate
    layer_height_mm: float | None = None  # as printed on that class (None: the options')
    nozzle_mm: float = 0.4  # that class's nozzle
    default_class: bool = True  # the hub's default class (the page then says nothing)
    # the turn (3 x 3) it is estimated and printed in when the analysis' suggestion fits no
    # printer in service (:func:`print_turn`); None: as suggested
    rotation: list[list[float]] | None = None

    @property
    def printed_layer_height_mm(self) -> float:
        return (self.options.layer_height_mm if self.layer_height_mm is None
                else self.layer_height_mm)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON the live price box shows."""
        return {
            "options": self.options.to_dict(), "units": self.units,
            "material_g": formatting.figure(self.material_g, 1),
            "print_time_s": self.print_time_s,
            "price": self.price,
            "delivery_date": self.delivery_date.isoformat() if self.delivery_date else None,
            "mesh": self.mesh, "printable": self.printable,
            "supports": {"choice": self.options.supports, "with_supports": self.supports,
                         "needed": self.supports_needed},
            "printer_class": {"name": self.printer_class, "nozzle_mm": self.nozzle_mm,
                              "layer_height_mm": self.printed_layer_height_mm,
                              "default": self.default_class},
            "orientation": {"rotation": self.rotation, "as_suggested": self.rotation is None},
        }


def price_answer(result: QuoteResult) -> dict[str, Any]:
    """Return the live price box's JSON: the figures, and each of them as the reader reads it.

    ``display`` holds the texts the page shows, formatted here (the browser formats nothing,
    so the box reads exactly like the quote page, the PDF and the mails).
    """
    answer = result.to_dict()
    price = answer["price"]
    for line in price["lines"]:
        line["label"], line["detail"] = messages.line_texts(line)
    answer["display"] = {
        "gross": formatting.format_money(price["gross_cents"]),
        "net": formatting.format_money(price["net_cents"]),
        "vat": formatting.format_money(price["vat_cents"]),
        "delivery_date": formatting.format_date(result.delivery_date),
        "delivery_note": None if result.delivery_date else gettext(DATE_BY_HUB),
        "supports_warning": (gettext(SUPPORTS_WARNING) if result.supports_needed
                             and not result.supports else None),
        "printer_class": None if result.default_class else gettext(PRINTER_CLASS_NOTE) % {
            "nozzle": formatting.format_number(result.nozzle_mm, 1),
            "layer": formatting.format_number(result.printed_layer_height_mm, 2)},
        "orientation_note": None if result.rotation is None else gettext(ORIENTATION_NOTE) % {
            "size": formatting.format_size(result.bbox_mm)},
        "material": formatting.format_grams(result.material_g),
        "print_time": formatting.format_duration(result.print_time_s),
        "size": formatting.format_size(result.mesh.get("bbox_mm")),
        "lines": [{"text": f"{line['label']} ({line['detail']})" if line["detail"]
                   else line["label"], "amount": formatting.format_money(line["amount_cents"])}
                  for line in price["lines"]],
    }
    return answer


# shown under the price when the part is priced for a class other than the hub's default
PRINTER_CLASS_NOTE = N_("Preis für einen größeren Drucker (Düse %(nozzle)s mm, Schichthöhe "
                        "%(layer)s mm): auf unsere Standarddrucker passt das Teil nicht.")
# shown under the price when the part is priced (and printed) laid another way than suggested
ORIENTATION_NOTE = N_("So wie empfohlen hingelegt passt das Teil auf keinen Drucker in Betrieb; "
                      "Preis und Termin gelten für eine andere Lage (%(size)s), in der es auch "
                      "gedruckt wird. „Ausrichtung im Modell zeigen“ zeigt sie.")
# shown where a date would be when no printer in service can take the part
DATE_BY_HUB = N_("Den Liefertermin bestätigt der Hub nach der Prüfung.")
SUPPORTS_WARNING = N_("Dieses Teil hat Überhänge, die Stützstrukturen brauchen. Ohne Stützen "
                      "können diese Stellen durchhängen oder der Druck misslingt; das Risiko "
                      "tragen Sie.")


# --- hub catalogue ------------------------------------------------------------------------------
def hub_catalog() -> tuple[dict[str, catalog.MaterialSpec], catalog.PricingRules,
                           catalog.PrintProfile]:
    """Return the hub's materials, pricing rules and print profile (settings over defaults)."""
    from marketplace.settings import operations as settings

    return settings.get_materials(), settings.get_pricing_rules(), catalog.DEFAULT_PROFILE


def parse_options(raw: Any, materials: Mapping[str, catalog.MaterialSpec]) -> QuoteOptions:
    """Validate options from a form or JSON body (the one options schema,
    :mod:`marketplace.engine.options`); raise QuoteError naming the bad field."""
    try:
        return options_schema.load_options(raw, materials)
    except options_schema.OptionError as exc:
        raise QuoteError(exc.field, exc.template, **exc.params) from None


# --- estimates, made by a queued task -----------------------------------------------------------
def default_estimate_options() -> list[dict[str, Any]]:
    """The estimates an analysis makes right away: the part page's starting options."""
    return [{"layer_height_mm": DEFAULT_LAYER_HEIGHT_MM, "infill_percent": DEFAULT_INFILL_PERCENT}]


summary_of = runner.summary_of


def _layer_um(layer_height_mm: float) -> int:
    return int(round(float(layer_height_mm) * 1000))


STANDARD_CLASS = "standard"  # the class whose profile estimates were made with before classes


def _estimate_key(part_id: int, units: str, layer_um: int, infill: int,
                  printer_class: str = STANDARD_CLASS) -> Any:
    return sa.and_(PartEstimate.part_id == part_id, PartEstimate.units == units,
                   PartEstimate.layer_height_um == layer_um,
                   PartEstimate.infill_percent == infill,
                   PartEstimate.printer_class == printer_class)


def record_estimates(part_id: int, units: str, summary: dict[str, Any],
                     items: list[dict[str, Any]]) -> None:
    """Store estimates a worker made (``runner`` answer items) as ready rows; caller commits."""
    for item in items:
        layer_um, infill = _layer_um(item["layer_height_mm"]), int(item["infill_percent"])
        klass = item.get("printer_class") or STANDARD_CLASS
        key = (part_id, units, layer_um, infill, klass)
        values = _estimate_values(summary, item.get("estimate"))
        updated = db.session.execute(
            sa.update(PartEstimate)
            .where(_estimate_key(*key), PartEstimate.status != "ready")
            .values(lease_owner=None, lease_until=None, **values)
            .execution_options(synchronize_session=False))
        exists = updated.rowcount or db.session.scalar(
            sa.select(PartEstimate.id).where(_estimate_key(*key)))
        if not exists:
            try:
                with db.session.begin_nested():
                    db.session.add(PartEstimate(part_id=part_id, units=units,
                                                layer_height_um=layer_um, infill_percent=infill,
                                                printer_class=klass, **values))
            except sa.exc.IntegrityError:
                pass  # an estimate task stored it meanwhile


NO_VOLUME = N_("Das Teil hat kein druckbares Volumen.")


def _estimate_values(summary: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    if record is None:  # nothing to slice: a price says so
        return {"status": "error", "summary": summary, "estimate": None,
                "error_code": "no_volume", "error_message": NO_VOLUME}
    return {"status": "ready", "summary": summary, "estimate": record, "error_code": None,
            "error_message": None}


def _estimate_error(row: PartEstimate) -> Any:
    """Why an estimate failed, in the reader's language: from the stored error record (code
    and parameters), from the code where it needs none, else (a row stored before records
    were kept) the German sentence."""
    stored = (row.summary or {}).get("error")
    if isinstance(stored, dict) and stored.get("code"):
        return messages.LazyMessage(stored, "error.")
    text = messages.TEXTS.get(f"error.{row.error_code}", "")
    if text and "%(" not in text:
        return messages.LazyMessage({"code": row.error_code, "params": {}}, "error.")
    return row.error_message or row.error_code


def estimate_for(part: Part, options: QuoteOptions, *, printer_class: str = STANDARD_CLASS,
                 layer_height_mm: float | None = None) -> PartEstimate:
    """Return the estimate row of ``part`` for ``options`` made with ``printer_class``'s
    profile at ``layer_height_mm`` (None: the options'); add it (pending, queued for when the
    caller commits) if there is none yet."""
    units = options.units or part.units or "mm"
    layer = options.layer_height_mm if layer_height_mm is None else layer_height_mm
    key = (part.id, units, _layer_um(layer), options.infill_percent, printer_class)
    row = db.session.scalar(sa.select(PartEstimate).where(_estimate_key(*key)))
    if row is not None:
        return row
    row = PartEstimate(part_id=part.id, units=units, layer_height_um=key[2],
                       infill_percent=key[3], printer_class=printer_class, status="pending",
                       queued_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except sa.exc.IntegrityError:  # a concurrent request added it
        return db.session.scalar(sa.select(PartEstimate).where(_estimate_key(*key)))
    from marketplace.quotes import tasks

    taskqueue.enqueue_after_commit(tasks.make_estimate, row.id)
    return row


def make_estimate(estimate_id: int) -> bool:
    """Claim a pending estimate, make it from the mesh in a child process and store it.

    Returns whether this call did the work (the task calls it; so does the command line).
    """
    from marketplace.parts import operations as parts

    cfg = current_app.config
    lease_s = float(cfg["TASK_LEASE_S"])
    lease = taskqueue.claim(PartEstimate, estimate_id, PartEstimate.status == "pending",
                            PartEstimate.attempts < int(cfg["TASK_MAX_ATTEMPTS"]),
                            lease_s=lease_s)
    if lease is None:
        return False
    row = db.session.get(PartEstimate, estimate_id)
    part = row.part
    job = {"kind": "estimate", "path": str(storage.path_for(part.sha256)),
           "filename": part.original_name, "units": row.units,
           "rotation": _estimated_turn(row),  # another orientation, when the quote needs one
           "estimates": [{"layer_height_mm": row.layer_height_um / 1000,
                          "infill_percent": row.infill_percent,
                          "printer_class": row.printer_class or STANDARD_CLASS}]}
    db.session.rollback()
    try:
        answer = parts.run_engine(job, heartbeat=lambda: lease.renew(lease_s))
        values = _estimate_values(answer["summary"], answer["estimates"][0]["estimate"])
    except runner.AnalysisFailedError as exc:
        record = exc.to_dict()  # kept whole: the message is rendered in the reader's language
        values = {"status": "error", "error_code": exc.code[:64], "summary": {"error": record},
                  "error_message": messages.render_message(record, "de", prefix="error.")}
    if not lease.finish(**values):
        db.session.rollback()
        return False
    db.session.commit()
    return True


def make_estimate_or_wait(estimate_id: int, timeout_s: float) -> PartEstimate:
    """Make the estimate here, or wait (at most ``timeout_s``) for the worker that has it."""
    deadline = time.monotonic() + timeout_s
    while True:
        make_estimate(estimate_id)
        db.session.rollback()
        row = db.session.get(PartEstimate, estimate_id)
        if row.status != "pending" or time.monotonic() >= deadline:
            return row
        time.sleep(0.5)


def reap_estimates(now=None) -> int:
    """Queue again pending estimates a dead worker or a lost message left; give up after
    ``TASK_MAX_ATTEMPTS`` claims. Return how many rows were touched."""
    from marketplace.quotes import tasks

    cfg = current_app.config
    now = now or utcnow()
    due = taskqueue.due_for_requeue(PartEstimate, PartEstimate.status == "pending",
                                    stale_s=float(cfg["TASK_REQUEUE_AFTER_S"]), now=now)
    rows = db.session.execute(
        sa.select(PartEstimate.id, PartEstimate.attempts).where(due).limit(1000)).all()
    touched = 0
    for row_id, attempts in rows:
        if attempts >= int(cfg["TASK_MAX_ATTEMPTS"]):
            values = {"status": "error", "error_code": "estimate_gave_up",
                      "error_message": messages.render("error.estimate_gave_up", lang="de")}
        else:
            values = {"queued_at": now}
        result = db.session.execute(
            sa.update(PartEstimate)
            .where(PartEstimate.id == row_id, PartEstimate.attempts == attempts, due)
            .values(lease_owner=None, lease_until=None, **values)
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            touched += 1
            if "queued_at" in values:
                taskqueue.enqueue_after_commit(tasks.make_estimate, row_id)
    db.session.commit()
    return touched


def compute(part: Part, options: QuoteOptions, *, now=None) -> QuoteResult:
    """Price ``part`` with ``options`` and estimate its delivery date (stores nothing but a
    pending estimate row: raises EstimatePendingError until the task has made it)."""
    from marketplace.engine import quote as engine
    from marketplace.scheduling import live as scheduling
    from marketplace.scheduling import planning

    if part.status != "ready":
        raise QuoteError("part", N_("Das Teil ist noch nicht analysiert."))
    materials, rules, _ = hub_catalog()
    units = options.units or part.units or "mm"
    summary = _summary_in(part, units)
    if summary is None:  # nothing estimated in these units yet: the figures come with one
        summary = _ready(estimate_for(part, options)).summary or {}
    refused = refusal(summary)
    if refused is not None:  # not printable, or no printer in service can take it
        raise refused
    printable = bool(summary.get("printable", True))
    # the class that will print it: its profile (nozzle, layers), its machine rate
    service = scheduling.service_printers(db.session)
    klass = planning.printer_class_for(
        summary, service, default_class=rules.default_printer_class,
        rates=rules.machine_rate_cents_per_h) or rules.default_printer_class
    profile = catalog.class_profile(klass)
    layer = catalog.class_layer_height(profile, options.layer_height_mm)
    profile = profile.with_options(infill_percent=options.infill_percent, layer_height_mm=layer)
    row = _ready(estimate_for(part, options, printer_class=klass, layer_height_mm=layer))
    turn = print_turn(summary, planning.volumes_of_class(service, klass))
    if not _same_turn(turn, _estimated_turn(row)):  # estimated in another orientation
        raise EstimatePendingError(_estimate_again(row, turn))
    auto = engine.estimate_from_record(row.estimate)
    answer = engine.price_estimate(
        engine.for_support_choice(auto, options.supports),
        material=materials[options.material_code], rules=rules, profile=profile,
        quantity=options.quantity, printable=printable, printer_class=klass,
    )
    mesh = summary.get("mesh") or {}
    estimate = answer["estimate"]
    if not answer.get("price"):
        raise QuoteError("part", NO_VOLUME).with_code("no_volume")
    print_time_s = int(round(float(estimate["print_time_s"])))
    bbox = (_estimated_bbox(row) if turn is not None else None) or (
        scheduling.part_bbox_mm(summary) or mesh.get("bbox_mm"))
    delivery = scheduling.estimate_delivery(
        db.session, print_time_s=print_time_s, quantity=options.quantity,
        material_code=options.material_code, colour=options.colour, bbox_mm=bbox, now=now,
        hull_mm=scheduling.part_hull_mm(summary), printer_class=klass if service else None,
    )
    return QuoteResult(
        options=options, units=mesh.get("units") or units or "mm",
        material_g=float(estimate["material_g"]), print_time_s=print_time_s,
        price=answer["price"], delivery_date=delivery, mesh=mesh,
        printable=printable, problems=summary.get("problems") or [],
        bbox_mm=tuple(float(v) for v in bbox) if bbox else None,
        supports=bool(estimate.get("supports")),
        supports_needed=bool(auto is not None and auto.supports),
        printer_class=klass, layer_height_mm=layer, nozzle_mm=profile.nozzle_mm,
        default_class=klass == rules.default_printer_class, rotation=turn,
    )


def _ready(row: PartEstimate) -> PartEstimate:
    """``row`` when it is made; raise EstimatePendingError while it is being made, QuoteError
    when it failed (a part with no volume goes on: its price says so)."""
    if row.status == "pending":
        raise EstimatePendingError(row.id)
    if row.status == "error" and row.error_code != "no_volume":
        raise QuoteError("part", N_("Das Teil konnte nicht berechnet werden: %(reason)s"),
                         reason=_estimate_error(row))
    return row


def _summary_in(part: Part, units: str) -> dict[str, Any] | None:
    """The part's figures in ``units``: its analysis in its own units, else a made estimate's
    summary in those units (any class's); None when there is none yet."""
    if units == part.units:
        return part.analysis or {}
    return _estimate_summary(part, units)


def print_turn(summary: dict[str, Any],
               volumes: list[tuple[float, float, float]] | None = None,
               ) -> list[list[float]] | None:
    """The rotation a part is quoted (and printed) in when its suggested orientation fits no
    printer in service (of its class: ``volumes``, default all) but another orientation does
    (:func:`planning.placement`); None for the suggestion (it fits, nothing fits, or no
    printer is in service)."""
    from marketplace.scheduling import live as scheduling
    from marketplace.scheduling import planning

    if not volumes:
        volumes = scheduling.service_volumes(db.session)
    fit = planning.placement(summary, volumes) if volumes else None
    suggested = planning.part_rotation(summary) or [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0],
                                                    [0.0, 0.0, 1.0]]
    if fit is None or _same_turn([list(r) for r in fit.rotation], suggested):
        return None
    return [list(r) for r in fit.rotation]


def _same_turn(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return all(abs(float(x) - float(y)) < 1e-6 for ra, rb in zip(a, b, strict=True)
               for x, y in zip(ra, rb, strict=True))


def _placement_of(row: PartEstimate) -> dict[str, Any]:
    placement = (row.summary or {}).get("placement")
    return placement if isinstance(placement, dict) else {}


def _estimated_turn(row: PartEstimate) -> list[list[float]] | None:
    """The rotation an estimate was made in (None: the analysis' suggestion)."""
    return _placement_of(row).get("rotation")


def _estimated_bbox(row: PartEstimate) -> list[float] | None:
    bbox = _placement_of(row).get("bbox_mm")
    return bbox if isinstance(bbox, list) and len(bbox) == 3 else None


def _estimate_again(row: PartEstimate, turn: list[list[float]] | None) -> int:
    """Queue ``row`` to be made again in orientation ``turn`` (None: the suggestion), when the
    caller commits; return its id. The summary keeps what the task needs to know."""
    from marketplace.quotes import tasks

    summary = {k: v for k, v in (row.summary or {}).items() if k != "placement"}
    if turn is not None:
        summary["placement"] = {"rotation": turn}
    db.session.execute(
        sa.update(PartEstimate).where(PartEstimate.id == row.id, PartEstimate.status != "pending")
        .values(status="pending", summary=summary, estimate=None, attempts=0, lease_owner=None,
                lease_until=None, error_code=None, error_message=None, queued_at=utcnow())
        .execution_options(synchronize_session=False))
    db.session.expire(row)
    taskqueue.enqueue_after_commit(tasks.make_estimate, row.id)
    return row.id


TOO_LARGE = N_("Das Teil (%(size)s, so gelegt, wie es gedruckt wird) passt auf keinen unserer "
               "Drucker in Betrieb (größter Bauraum %(largest)s), deshalb gibt es keinen Preis "
               "und keinen Termin. "
               "Was Sie tun können: die Einheit der Datei prüfen (gelesen in %(unit)s; in "
               "einer anderen Einheit passt es vielleicht), das Teil auf höchstens %(percent)s "
               "%% verkleinern oder es in Stücken hochladen, die einzeln passen.")
# the same, for an analysis that records its hull: every orientation was tried
TOO_LARGE_ANY = N_("Das Teil (%(size)s) passt in keiner Lage auf einen unserer Drucker in "
                   "Betrieb (größter Bauraum %(largest)s), deshalb gibt es keinen Preis und "
                   "keinen Termin. "
                   "Was Sie tun können: die Einheit der Datei prüfen (gelesen in %(unit)s; in "
                   "einer anderen Einheit passt es vielleicht), das Teil auf höchstens "
                   "%(percent)s %% verkleinern oder es in Stücken hochladen, die einzeln "
                   "passen.")


# the analysis found the part larger than every build volume: its reason (the size, the
# largest volume, the unit it was read in) and what else can be done
TOO_LARGE_UNPRINTABLE = N_("Das Teil ist so nicht druckbar: %(reason)s Was Sie sonst tun "
                           "können: das Teil auf höchstens %(percent)s %% verkleinern oder es "
                           "in Stücken hochladen, die einzeln passen.")


def refusal(summary: dict[str, Any]) -> QuoteError | None:
    """Why a part with this analysis (``Part.analysis`` or an estimate's summary) gets no
    price and cannot be ordered, or None.

    Not printable (a problem of severity "error": no closed solid, too small, larger than
    every build volume of the configuration ...; the last with the scale at which it would fit
    a printer in service, or one of the configuration), or larger than every printer in service
    (not in maintenance, not offline) in every orientation (:func:`planning.placement`; an
    analysis without hull points: as laid, footprint turned or not). A hub with no printer in
    service checks only the former.
    """
    from marketplace.scheduling import live as scheduling
    from marketplace.scheduling import planning

    errors = [p for p in summary.get("problems") or [] if p.get("severity") == "error"]
    if errors and all(p.get("code") == "too_large" for p in errors):
        volumes = (scheduling.service_volumes(db.session)
                   or list(AnalysisLimits.from_config(current_app.config).build_volumes_mm))
        factor = planning.part_scale_to_fit(summary, volumes)
        if factor:
            return QuoteError("part", TOO_LARGE_UNPRINTABLE,
                              reason=messages.LazyMessage(errors[0], "problem."),
                              percent=str(max(1, int(factor * 100)))).with_code("not_printable")
    if errors or not summary.get("printable", True):
        if not errors:
            return QuoteError("part", N_("Das Teil ist so nicht druckbar.")).with_code(
                "not_printable")
        return QuoteError("part", N_("Das Teil ist so nicht druckbar: %(reason)s"),
                          reason=messages.LazyMessage(errors[0], "problem.")).with_code(
                              "not_printable")
    volumes = scheduling.service_volumes(db.session)
    if not volumes or planning.placement(summary, volumes) is not None:
        return None
    bbox = scheduling.part_bbox_mm(summary)
    factor = planning.part_scale_to_fit(summary, volumes) or 0.0
    unit = (summary.get("mesh") or {}).get("units") or "mm"
    text = TOO_LARGE if planning.part_hull_mm(summary) is None else TOO_LARGE_ANY
    return QuoteError("part", text, size=formatting.format_size(bbox),
                      largest=formatting.format_size(planning.largest_volume(volumes)),
                      unit=unit, percent=str(max(1, int(factor * 100)))).with_code("too_large")


def make_quote(
    part: Part, *, material_code: Any = "PLA", colour: Any = "any", quantity: Any = 1,
    infill: Any = 15, layer_height: Any = 0.2, units: str | None = None, supports: Any = "auto",
) -> Quote:
    """Price ``part`` and store the quote (the caller commits); raise QuoteError for bad options
    (numbers or text, as :func:`parse_options` takes them)."""
    materials, _, _ = hub_catalog()
    options = parse_options(
        {"material": material_code, "colour": colour, "quantity": quantity, "infill": infill,
         "layer_height": layer_height, "units": units, "supports": supports},
        materials,
    )
    return store(part, compute(part, options))


def store(part: Part, result: QuoteResult) -> Quote:
    """Store a computed quote of one part, picked up at the hub (the caller commits)."""
    return store_lines(part.firm, [(part, result)])


# --- quotes of several parts, with delivery ---------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """A quote's price and date for one delivery: pickup or shipping, standard or express."""

    delivery: str
    express: bool
    price: dict[str, Any]  # OrderPrice.to_dict()
    ready_date: date | None
    date: date | None  # pickup date, or the delivery date when shipped
    shippable: bool = True
    offered: bool = True  # express only where it is ready earlier than standard

    @property
    def gross_cents(self) -> int:
        return int(self.price["gross_cents"])


EXPRESS_NO_GAIN = N_("Express bringt derzeit keinen früheren Termin als ohne Express; deshalb "
                     "bieten wir ihn für diese Teile nicht an.")


def express_gains(terms: Mapping[str, Any]) -> bool:
    """Whether express is ready earlier than standard by a quote's ``terms`` (their ready
    dates). With an idle farm both are the same day: express is then not offered, for no
    surcharge buys nothing; without a date (no printer in service) it promises nothing."""
    standard = _iso_date(terms.get("ready_date"))
    express = _iso_date(terms.get("ready_date_express"))
    return standard is not None and express is not None and express < standard


def _part_price_lines(result_price: Mapping[str, Any]) -> tuple[Any, ...]:
    from marketplace.engine.pricing.price import PART_CODES, PriceLine

    return tuple(PriceLine(line["code"], int(line["amount_cents"]), dict(line.get("params") or {}))
                 for line in result_price.get("lines", []) if line.get("code") in PART_CODES)


def order_price(results: list[QuoteResult]) -> Any:
    """The ``OrderPrice`` of computed parts as one order, picked up, without express."""
    from marketplace.engine.pricing.price import price_order

    _, rules, _ = hub_catalog()
    return price_order([_part_price_lines(r.price) for r in results], rules,
                       quantities=[r.options.quantity for r in results])


def store_lines(firm: Firm, items: list[tuple[Part, QuoteResult]], *, delivery: str = "pickup",
                express: bool = False, ship_to: dict[str, Any] | None = None,
                now=None) -> Quote:
    """Store a quote of one or more computed parts with a delivery (the caller commits).

    The set-up fee and the minimum order value apply once; shipping is priced by the
    parcels the pieces need (their estimated grams plus packaging), express by the hub's
    surcharge. Raises QuoteError when there is nothing to quote or the order cannot ship.
    """
    from marketplace.engine.pricing import delivery as shipping
    from marketplace.settings import operations as settings

    if not items:
        raise QuoteError("lines", N_("Der Warenkorb ist leer."))
    if delivery not in shipping.DELIVERY_METHODS:
        raise QuoteError("delivery", N_("Unbekannte Lieferart."))
    _, rules, _ = hub_catalog()
    drules = settings.get_delivery_rules()
    lines = []
    for position, (part, result) in enumerate(items, start=1):
        opts = result.options
        part_lines = _part_price_lines(result.price)
        lines.append(QuoteLine(
            position=position, part_id=part.id, material_code=opts.material_code,
            colour=opts.colour, quantity=opts.quantity, infill_percent=opts.infill_percent,
            layer_height_mm=result.printed_layer_height_mm, units=result.units,
            supports=opts.supports, with_supports=result.supports,
            printer_class=result.printer_class,
            material_g=result.material_g, print_time_s=result.print_time_s,
            net_cents=sum(line.amount_cents for line in part_lines),
            breakdown={"lines": [line.to_dict() for line in part_lines]},
            bbox_mm=list(result.bbox_mm) if result.bbox_mm else None,
        ))
    terms = _make_terms(lines, rules, drules, now=now)
    quote = Quote(firm_id=firm.id, lines=lines, valid_until=utcnow() + timedelta(
        days=_valid_days()), delivery="pickup", express=False, terms=terms)
    first = lines[0]
    for name in ("part_id", "material_code", "colour", "quantity", "infill_percent",
                 "layer_height_mm", "units", "supports", "with_supports", "material_g",
                 "print_time_s"):
        setattr(quote, name, getattr(first, name))
    # express that gains no day is not sold: the quote is made without it (the caller can
    # tell by ``quote.express``)
    express = bool(express) and express_gains(terms)
    apply_variant(quote, variant(quote, delivery, express), ship_to=ship_to)
    db.session.add(quote)
    db.session.flush()
    webhook_events.quote_created(quote)
    return quote


def _make_terms(lines: list[QuoteLine], rules: catalog.PricingRules, drules: Any,
                now=None) -> dict[str, Any]:
    """What a quote's price and dates are made with: the order-level rules, the delivery
    rules, the parcels and the ready dates (standard and express), computed now."""
    from marketplace.engine.pricing import delivery as shipping
    from marketplace.scheduling import live as scheduling

    shipment = shipping.pack([shipping.Piece(line.material_g, tuple(line.bbox_mm)
                                             if line.bbox_mm else None, line.quantity)
                              for line in lines], drules)
    work = [{"print_time_s": line.print_time_s, "quantity": line.quantity,
             "material_code": line.material_code, "colour": line.colour,
             "bbox_mm": line.bbox_mm, "printer_class": line.printer_class} for line in lines]
    ready = scheduling.estimate_order_ready(db.session, work, now=now)
    ready_express = scheduling.estimate_order_ready(db.session, work, now=now,
                                                    priority=drules.express_priority,
                                                    express=True)
    return {
        "pricing": {"setup_fee_cents": rules.setup_fee_cents,
                    "minimum_order_cents": rules.minimum_order_cents,
                    "vat_percent": rules.vat_percent, "currency": rules.currency},
        "delivery": drules.to_dict(),
        "shipment": shipment.to_dict() if shipment else None,
        # None: no printer in service takes a line, so no date is promised (the hub confirms)
        "ready_date": _iso(ready), "ready_date_express": _iso(ready_express),
        "shipping_date": _iso(ready and scheduling.shipping_arrival(ready,
                                                                   drules.shipping_days)),
        "shipping_date_express": _iso(ready_express and scheduling.shipping_arrival(
            ready_express, drules.shipping_days)),
    }


def part_price_lines(price: Mapping[str, Any], position: int) -> list[dict[str, Any]]:
    """The price lines of order line ``position`` in a stored price (a one-part price's part
    lines carry no line number: they are line 1's)."""
    from marketplace.engine.pricing.price import PART_CODES

    return [line for line in (price or {}).get("lines", []) if line.get("code") in PART_CODES
            and int(line.get("line", 1)) == position]


def order_price_lines(price: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The order's own lines of a stored price: set-up fee, minimum, express, shipping."""
    from marketplace.engine.pricing.price import ORDER_CODES

    return [line for line in (price or {}).get("lines", []) if line.get("code") in ORDER_CODES]


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def lines_of(quote: Quote) -> list[QuoteLine]:
    """The quote's lines; a quote stored before lines existed (or test data made without
    them) reads as one line made of its own columns (not stored)."""
    if quote.lines:
        return list(quote.lines)
    from marketplace.engine.pricing.price import PART_CODES

    part_lines = [line for line in (quote.breakdown or {}).get("lines", [])
                  if line.get("code") in PART_CODES]
    line = QuoteLine(id=None, position=1, part_id=quote.part_id,
                     material_code=quote.material_code, colour=quote.colour,
                     quantity=quote.quantity, infill_percent=quote.infill_percent,
                     layer_height_mm=quote.layer_height_mm, units=quote.units,
                     supports=quote.supports or "auto", with_supports=quote.with_supports,
                     material_g=quote.material_g, print_time_s=quote.print_time_s,
                     net_cents=sum(int(x.get("amount_cents", 0)) for x in part_lines),
                     breakdown={"lines": part_lines}, bbox_mm=None)
    line.part = quote.part
    return [line]


def terms_of(quote: Quote) -> dict[str, Any]:
    """The quote's terms; for a quote made before terms existed, today's (computed once)."""
    if quote.terms:
        return quote.terms
    from marketplace.scheduling.planning import part_bbox_mm
    from marketplace.settings import operations as settings

    lines = lines_of(quote)
    for line in lines:
        if line.bbox_mm is None and line.part is not None:
            bbox = part_bbox_mm(line.part.analysis)
            line.bbox_mm = list(bbox) if bbox else None
    terms = _make_terms(lines, settings.get_pricing_rules(), settings.get_delivery_rules())
    if quote.delivery_date:  # the date it was quoted with stays the standard pickup date
        terms["ready_date"] = quote.delivery_date.isoformat()
    return terms


def variant(quote: Quote, delivery: str, express: bool) -> Variant:
    """Price ``quote``'s parts with a delivery, from the quote's own terms (pure arithmetic
    over what was stored: the price accepted is the one quoted)."""
    from marketplace.engine.pricing import delivery as shipping
    from marketplace.engine.pricing.price import price_order

    terms = terms_of(quote)
    suffix = "_express" if express else ""
    ship = delivery == "shipping"
    ready = _iso_date(terms.get("ready_date" + suffix))
    when = _iso_date(terms.get("shipping_date" + suffix)) if ship else ready
    offered = not express or express_gains(terms)
    if (quote.breakdown and delivery == (quote.delivery or "pickup")
            and bool(express) == bool(quote.express)):  # as quoted: the quoted price, exactly
        return Variant(delivery, bool(express), dict(quote.breakdown), ready,
                       quote.delivery_date or when, shippable=not ship or bool(
                           terms.get("shipment")), offered=offered)
    drules = shipping.DeliveryRules.from_dict(terms["delivery"])
    rules = catalog.PricingRules.from_dict(terms["pricing"], base=catalog.DEFAULT_PRICING)
    lines = lines_of(quote)
    shipment = (shipping.Shipment.from_dict(terms["shipment"]) if terms.get("shipment")
                else None)
    price = price_order([_part_price_lines(line.breakdown or {}) for line in lines], rules,
                        quantities=[line.quantity for line in lines],
                        express=drules if express else None,
                        shipment=shipment if ship else None)
    return Variant(delivery, bool(express), price.to_dict(), ready, when,
                   shippable=shipment is not None, offered=offered)


def variants(quote: Quote) -> list[Variant]:
    """Every delivery a quote offers: pickup and shipping, standard and express."""
    return [variant(quote, d, e) for d in ("pickup", "shipping") for e in (False, True)]


def apply_variant(quote: Quote, chosen: Variant, *, ship_to: dict[str, Any] | None) -> None:
    """Set ``quote``'s price, date and delivery to ``chosen`` (a new quote, not stored yet)."""
    if chosen.delivery == "shipping" and not chosen.shippable:
        raise QuoteError("delivery", N_("Diese Teile passen in kein Paket; bitte wählen Sie "
                                        "Abholung."))
    price = chosen.price
    quote.delivery, quote.express = chosen.delivery, chosen.express
    quote.ship_to = ship_to if chosen.delivery == "shipping" else None
    quote.breakdown = price
    quote.net_cents, quote.vat_cents = int(price["net_cents"]), int(price["vat_cents"])
    quote.gross_cents = int(price["gross_cents"])
    quote.delivery_date = chosen.date


def _iso_date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def is_expired(quote: Quote, now=None) -> bool:
    """Whether ``quote`` no longer holds its price (it is then re-priced on request only)."""
    return quote.valid_until is not None and quote.valid_until < (now or utcnow())


def reprice(quote: Quote) -> Quote:
    """Quote ``quote``'s parts again with the same options and delivery at today's prices,
    dates and validity, as a new quote (the old one stays as it was); the caller commits.
    Raises QuoteError, or EstimatePendingError while an estimate is being made."""
    materials = hub_catalog()[0]
    items = []
    for line in lines_of(quote):
        part = line.part
        items.append((part, compute(part, parse_options(
            {"material": line.material_code, "colour": line.colour, "quantity": line.quantity,
             "infill": line.infill_percent, "layer_height": line.layer_height_mm,
             "units": line.units, "supports": line.supports or "auto"}, materials))))
    return store_lines(quote.firm, items, delivery=quote.delivery, express=bool(quote.express),
                       ship_to=quote.ship_to)


def _valid_days() -> int:
    from marketplace.settings import operations as settings

    return settings.quote_valid_days()


def _cents(price: Mapping[str, Any], key: str) -> int:
    if f"{key}_cents" in price:
        return int(price[f"{key}_cents"])
    from decimal import Decimal

    return int((Decimal(str(price[key])) * 100).to_integral_value())


def default_options() -> dict[str, Any]:
    """Return the options a part page starts with."""
    cfg = current_app.config
    return {**options_schema.DEFAULTS, "material": cfg.get("DEFAULT_MATERIAL", "PLA")}


def quoted_rotation(part: Part, *, units: str, layer_height_mm: float, infill_percent: int,
                    printer_class: str | None = None) -> list[list[float]] | None:
    """Return the rotation ``part`` was estimated (so quoted) in for these options and printer
    class (None: the standard one) when that is not the analysis' suggestion (only another
    orientation fits a printer of the class in service: :func:`print_turn`), else None."""
    row = db.session.scalar(sa.select(PartEstimate).where(_estimate_key(
        part.id, units, _layer_um(layer_height_mm), int(infill_percent),
        printer_class or STANDARD_CLASS)))
    return _estimated_turn(row) if row is not None and row.status == "ready" else None


def summary_for(part: Part, units: str | None) -> dict[str, Any]:
    """Return the analysis summary of ``part`` read in ``units`` (its own analysis in its
    units, else a stored estimate's summary; empty when there is none)."""
    if not units or units == part.units:
        return part.analysis or {}
    summary = _estimate_summary(part, units)
    return summary if summary is not None else (part.analysis or {})


def _estimate_summary(part: Part, units: str) -> dict[str, Any] | None:
    """The figures of ``part`` in ``units`` as a made estimate's summary holds them, or None."""
    row = db.session.scalar(sa.select(PartEstimate).where(
        PartEstimate.part_id == part.id, PartEstimate.units == units,
        PartEstimate.summary.is_not(None),
        # a failed estimate's summary holds only its error (no_volume keeps the figures)
        sa.or_(PartEstimate.status != "error", PartEstimate.error_code == "no_volume"),
    ).order_by(PartEstimate.id).limit(1))
    return (row.summary or {}) if row is not None else None


def piece_figures(part: Part, *, units: str, layer_height_mm: float, infill_percent: int,
                  material_code: str, with_supports: bool,
                  printer_class: str | None = None) -> tuple[float, int] | None:
    """Return grams and seconds of one piece from the part's stored estimate (for
    ``printer_class``; None: the standard one), printed with or without supports (None while
    there is no ready estimate for these options)."""
    from marketplace.engine import quote as engine

    row = db.session.scalar(sa.select(PartEstimate).where(_estimate_key(
        part.id, units or part.units or "mm", _layer_um(layer_height_mm), int(infill_percent),
        printer_class or STANDARD_CLASS)))
    if row is None or row.status != "ready" or not row.estimate:
        return None
    est = engine.for_support_choice(engine.estimate_from_record(row.estimate),
                                    "auto" if with_supports else "none")
    materials = hub_catalog()[0]
    material = materials.get(material_code)
    density = material.density_g_cm3 if material is not None else engine.REFERENCE_DENSITY_G_CM3
    est = est.with_density(density, from_density_g_cm3=engine.REFERENCE_DENSITY_G_CM3)
    return float(est.material_g), int(round(est.print_time_s))
