"""The hub's side of the API (tokens with scope ``hub`` of technicians and admins): the queue,
jobs, approving/rejecting/cancelling and handing over orders, decisions on pieces that need
attention, printers and their state, pause/resume/cancel at
the printer, and the pricing rules (changed by admins only). Thin views over
``marketplace.hubqueue.operations``, ``printers.control`` and ``marketplace.settings``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_login import current_user

from marketplace.api.v1 import schemas as s
from marketplace.api.v1.core import (
    Problem,
    _,
    decode_cursor,
    encode_cursor,
    make_blueprint,
    page,
    requires,
    writes,
)
from marketplace.api.v1.firm import order_json
from marketplace.extensions import db
from marketplace.hub import board as board_service
from marketplace.hubqueue import operations as q
from marketplace.jobs import InvalidTransitionError, StaleJobError
from marketplace.models import Order, Printer, PrintJob
from marketplace.settings import operations as hub_settings
from printers import control

hub_bp = make_blueprint("Hub", "For the hub (scope `hub`, technicians and admins): queue, "
                               "jobs, decisions, printers, pricing rules.")


def _order(public_id: str) -> Order:
    order = db.session.scalar(sa.select(Order).where(Order.public_id == public_id))
    if order is None:
        raise Problem(404, "not_found", _("%(what)s nicht gefunden.", what=_("Auftrag")))
    return order


def _job(public_id: str) -> PrintJob:
    job = q.job_by_public_id(public_id)
    if job is None:
        raise Problem(404, "not_found", _("%(what)s nicht gefunden.", what=_("Druckauftrag")))
    return job


def job_json(job: PrintJob) -> dict[str, Any]:
    order = job.order
    return {
        "id": job.public_id, "order_id": order.public_id, "order_number": order.number,
        "firm": order.firm.name, "part_id": job.part.public_id,
        "part_name": job.part.original_name, "piece": job.copy_index, "state": job.state,
        "priority": job.priority, "due_date": job.due_date, "material": job.material_code,
        "colour": job.colour, "printer_id": job.printer.public_id if job.printer else None,
        "progress": job.progress_percent, "est_print_time_s": job.est_print_time_s,
        "updated_at": job.updated_at,
    }


def _act(action):
    """Run a console action; a refused or raced one is a problem (409)."""
    try:
        return action()
    except q.QueueError as exc:
        raise Problem(409, "invalid_transition", str(exc)) from None
    except InvalidTransitionError:
        raise Problem(409, "invalid_transition", _("Das geht in diesem Zustand nicht.")) from None
    except StaleJobError:
        raise Problem(409, "changed_meanwhile", _("Der Auftrag wurde gerade geändert. Bitte "
                                                  "erneut versuchen.")) from None


# --- queue and jobs -------------------------------------------------------------------------------
@hub_bp.route("/queue", methods=["GET"])
@requires("hub")
@hub_bp.arguments(s.QueueArgs, location="query")
@hub_bp.response(200, s.JobPageSchema)
def queue(args):
    """The pieces of one tab of the queue (approval, queued, printing, attention, done,
    closed) in the order the hub works on them (done/closed: newest first)."""
    rows = q.queue_rows(q.QueueFilter(tab=args["tab"]))
    jobs = [job for row in rows for job in row.jobs]
    start = decode_cursor(args.get("cursor")) or 0
    limit = args["limit"]
    chunk = jobs[start:start + limit]
    more = start + limit < len(jobs)
    return {"items": [job_json(j) for j in chunk],
            "next_cursor": encode_cursor(start + limit) if more else None}


@hub_bp.route("/jobs", methods=["GET"])
@requires("hub")
@hub_bp.arguments(s.ListArgs, location="query")
@hub_bp.response(200, s.JobPageSchema)
def list_jobs(args):
    """Every print job (one per piece), newest first."""
    return page(sa.select(PrintJob), PrintJob.id, args, job_json)


@hub_bp.route("/jobs/<job_id>", methods=["GET"])
@requires("hub")
@hub_bp.response(200, s.JobSchema)
def get_job(job_id):
    """One print job."""
    return job_json(_job(job_id))


def _control(job_id: str, action: str, **extra):
    job = _job(job_id)
    try:
        _act(lambda: control.ACTIONS[action](job, current_user.email, **extra))
    except control.ControlError as exc:
        current_app.logger.info("%s of job %s refused: %s", action, job.id, exc.message)
        raise Problem(409, "printer_refused", _(exc.message, **exc.params)) from None
    db.session.flush()
    return job_json(job)


@hub_bp.route("/jobs/<job_id>/pause", methods=["POST"])
@writes()
@requires("hub")
@hub_bp.response(200, s.JobSchema)
def pause_job(job_id):
    """Pause a printing piece at its printer (OctoPrint)."""
    return _control(job_id, "pause")


@hub_bp.route("/jobs/<job_id>/resume", methods=["POST"])
@writes()
@requires("hub")
@hub_bp.response(200, s.JobSchema)
def resume_job(job_id):
    """Resume a paused piece at its printer."""
    return _control(job_id, "resume")


@hub_bp.route("/jobs/<job_id>/reprint", methods=["POST"])
@writes()
@requires("hub")
@hub_bp.arguments(s.ReprintSchema, required=False)
@hub_bp.response(200, s.JobSchema)
def reprint_job(body, job_id):
    """Stop a print that is going wrong and print the piece again: cancelled at its printer,
    then back in the queue (the piece stays ordered; the firm is not told of a cancel). The
    cause is kept with the try and counted on the console's dashboard."""
    return _control(job_id, "reprint", cause=(body or {}).get("cause"))


@hub_bp.route("/jobs/<job_id>/cancel", methods=["POST"])
@writes()
@requires("hub")
@hub_bp.response(200, s.JobSchema)
def cancel_job(job_id):
    """Cancel a piece: at once while it waits, at its printer while it prints."""
    return _control(job_id, "cancel")


# --- decisions on orders --------------------------------------------------------------------------
@hub_bp.route("/orders/<order_id>/approve", methods=["POST"])
@writes()
@requires("hub")
@hub_bp.response(200, s.ActionResultSchema)
def approve_order(order_id):
    """Approve every received piece of an order (it goes to slicing and printing)."""
    order = _order(order_id)
    n = _act(lambda: q.approve_order(order, current_user.email))
    db.session.flush()
    return {"pieces": n, "order": order_json(order)}


@hub_bp.route("/orders/<order_id>/reject", methods=["POST"])
@writes()
@requires("hub")
@hub_bp.arguments(s.RejectSchema)
@hub_bp.response(200, s.ActionResultSchema)
def reject_order(body, order_id):
    """Reject an order's received pieces with a reason (the firm is told)."""
    order = _order(order_id)
    n = _act(lambda: q.reject_order(order, current_user.email, body["reason"]))
    db.session.flush()
    return {"pieces": n, "order": order_json(order)}


@hub_bp.route("/orders/<order_id>/cancel", methods=["POST"])
@writes()
@requires("hub")
@hub_bp.arguments(s.CancelSchema, required=False)
@hub_bp.response(200, s.ActionResultSchema)
def cancel_order(body, order_id):
    """Cancel an order's pieces that are not on a printer (those: cancel the job)."""
    order = _order(order_id)
    n = _act(lambda: q.cancel_order(order, current_user.email, (body or {}).get("reason")))
    db.session.flush()
    return {"pieces": n, "order": order_json(order)}


@hub_bp.route("/orders/<order_id>/handover", methods=["POST"])
@writes()
@requires("hub")
@hub_bp.arguments(s.HandoverSchema)
@hub_bp.response(200, s.HandoverResultSchema)
def handover_order(body, order_id):
    """Hand an order's finished pieces on: ready for pick-up, shipped or picked up. The step
    that hands over the last piece (picked up or shipped) issues the invoice: its number is
    in the answer."""
    order = _order(order_id)
    done = _act(lambda: q.hand_over(order, body["to"], current_user.email,
                                    carrier=body.get("carrier"),
                                    tracking_number=body.get("tracking_number")))
    db.session.flush()
    return {"pieces": done.pieces, "order": order_json(order),
            "invoice_number": done.invoice.number if done.invoice is not None else None}


@hub_bp.route("/jobs/<job_id>/resolve", methods=["POST"])
@writes()
@requires("hub")
@hub_bp.arguments(s.ResolveSchema)
@hub_bp.response(200, s.JobSchema)
def resolve_job(body, job_id):
    """Decide about a piece that needs attention (tab ``attention`` of the queue): print it
    again, accept it as printed, or give it up as failed or cancelled with a reason."""
    job = _job(job_id)
    _act(lambda: q.resolve_job(job, body["action"], current_user.email, body.get("reason")))
    db.session.flush()
    return job_json(job)


# --- printers -------------------------------------------------------------------------------------
def printer_json(card: dict[str, Any], printer: Printer) -> dict[str, Any]:
    job = card.get("job") or {}
    return {
        "id": printer.public_id, "name": printer.name, "state": printer.state,
        "state_reason": printer.state_reason, "printer_class": printer.printer_class,
        "material": printer.material_code, "colour": printer.colour,
        "build_volume_mm": [printer.build_x_mm, printer.build_y_mm, printer.build_z_mm],
        "nozzle_mm": printer.nozzle_mm, "last_seen_at": printer.last_seen_at,
        "job_id": job.get("id"), "progress": job.get("progress_percent"),
        "temperatures": {t.get("name", str(i)): {k: v for k, v in t.items() if k != "label"}
                         for i, t in enumerate(card.get("temperatures") or [])},
    }


def _cards(printers: list[Printer]) -> list[dict[str, Any]]:
    jobs = board_service.current_jobs()
    stale = current_app.config.get("PRINTER_STALE_AFTER_S", 30)
    return [board_service.printer_card(p, jobs.get(p.id), stale) for p in printers]


@hub_bp.route("/printers", methods=["GET"])
@requires("hub")
@hub_bp.arguments(s.ListArgs, location="query")
@hub_bp.response(200, s.PrinterPageSchema)
def list_printers(args):
    """The printers with their state, material, temperatures and current job."""
    answer = page(sa.select(Printer), Printer.id, args, lambda p: p)
    printers = answer["items"]
    answer["items"] = [printer_json(card, p) for card, p in zip(_cards(printers), printers,
                                                                 strict=True)]
    return answer


@hub_bp.route("/printers/<printer_id>", methods=["GET"])
@requires("hub")
@hub_bp.response(200, s.PrinterSchema)
def get_printer(printer_id):
    """One printer."""
    printer = board_service.printer_by_public_id(printer_id)
    if printer is None:
        raise Problem(404, "not_found", _("%(what)s nicht gefunden.", what=_("Drucker")))
    return printer_json(_cards([printer])[0], printer)


# --- settings -------------------------------------------------------------------------------------
def _rules_json() -> dict[str, Any]:
    rules = hub_settings.get_pricing_rules().to_dict()
    rules["quantity_discounts"] = [list(x) for x in rules.get("quantity_discounts") or []]
    return rules


@hub_bp.route("/settings/pricing", methods=["GET"])
@requires("hub")
@hub_bp.response(200, s.PricingRulesSchema)
def get_pricing():
    """The hub's pricing rules."""
    return _rules_json()


@hub_bp.route("/settings/pricing", methods=["PATCH"])
@writes()
@requires("hub", admin=True)
@hub_bp.arguments(s.PricingRulesSchema)
@hub_bp.response(200, s.PricingRulesSchema)
def patch_pricing(body):
    """Change pricing rules (admins only; send the fields to change)."""
    try:
        hub_settings.set_pricing_rules(body)
    except hub_settings.SettingsError as exc:
        raise Problem(422, "invalid_settings", _("Bitte prüfen Sie die Angaben."),
                      errors={k: [v] for k, v in exc.errors.items()}) from None
    return _rules_json()


BLUEPRINTS = (hub_bp,)
