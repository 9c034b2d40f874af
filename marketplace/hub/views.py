"""Hub technician console views (HTML): queue, job page, printers, dashboard, settings.

Views only parse the form, call one service and commit; the services are
``marketplace.hubqueue.operations`` (approve, reject, priority, printer), ``printer_admin`` and
``printers.control`` (the printers helper's), ``settings`` and ``dashboard``.
"""

from __future__ import annotations

from urllib.parse import urlparse

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from marketplace import audit as audit_log
from marketplace.auth import admin_required, staff_required
from marketplace.extensions import db
from marketplace.hub import board as board_service
from marketplace.hub import bp, forms
from marketplace.hubqueue import dashboard as dash
from marketplace.hubqueue import operations as q
from marketplace.i18n import N_, state_label
from marketplace.i18n import gettext as _
from marketplace.jobs import InvalidTransitionError, StaleJobError
from marketplace.models import Order, Printer, utcnow
from marketplace.orders import operations as orders_ops
from marketplace.parts import meshes
from marketplace.scheduling import correction
from marketplace.settings import operations as hub_settings
from printers import admin as printer_admin
from printers import control  # pause/resume/cancel: never OctoPrint from a view
from printers import waiting

TAB_LABELS = {
    "approval": N_("Freigabe"),
    "queued": N_("Wartet auf Drucker"),
    "printing": N_("Im Druck"),
    "attention": N_("Prüfen"),
    "done": N_("Fertig"),
    "closed": N_("Abgelehnt/Storniert"),
}

# Tabs whose rows say why their pieces wait (printers.waiting).
WHY_TABS = ("approval", "queued")


def _actor() -> str:
    return current_user.email


def _back(default: str):
    """Redirect to the form's ``next`` if it is a path inside the console, else ``default``."""
    target = request.form.get("next") or ""
    parsed = urlparse(target)
    if target.startswith("/hub") and not parsed.netloc and not parsed.scheme:
        return redirect(target)
    return redirect(default)


def _order_or_404(public_id: str) -> Order:
    order = db.session.scalar(db.select(Order).where(Order.public_id == public_id))
    if order is None:
        abort(404)
    return order


def _printer_or_404(public_id: str) -> Printer:
    printer = board_service.printer_by_public_id(public_id)
    if printer is None:
        abort(404)
    return printer


# --- queue --------------------------------------------------------------------------------------


@bp.get("/")
@staff_required
def queue():
    f = q.QueueFilter.from_args(request.args)
    rows = q.queue_rows(f)
    why: dict[int, list] = {}
    if f.tab in WHY_TABS:
        reasons = waiting.reasons_for([j for row in rows for j in row.jobs])
        why = {row.order.id: waiting.grouped(reasons[j.id] for j in row.jobs if j.id in reasons)
               for row in rows}
    # finished pieces still on a printer whose bed nobody has cleared yet (handover tab)
    on_bed: dict[int, list[str]] = {}
    for job in board_service.last_printed().values() if f.tab == "done" else ():
        on_bed.setdefault(job.order_id, []).append(job.printer.name)
    return render_template(
        "hub/queue.html", f=f, rows=rows, counts=q.tab_counts(), why=why, on_bed=on_bed,
        choices=q.filter_choices(), tabs=TAB_LABELS, tab_states=q.TABS,
        printers=db.session.scalars(db.select(Printer).order_by(Printer.name)).all(),
        priority_range=range(q.PRIORITY_MAX, q.PRIORITY_MIN - 1, -1),
        handover=q.handover_actions, handover_labels=q.HANDOVER_LABELS,
        carriers=list(orders_ops.CARRIERS),
        last_carrier=orders_ops.last_carrier() if f.tab == "done" else "",
    )


@bp.post("/orders/approve")
@staff_required
def orders_approve():
    orders = q.orders_by_public_ids(request.form.getlist("order"))
    if not orders:
        flash(_("Keine Aufträge ausgewählt."), "warning")
        return _back(url_for("hub.queue"))
    try:
        pieces, skipped = q.approve_orders(orders, _actor())
        db.session.commit()
    except StaleJobError:
        db.session.rollback()
        flash(_("Ein Auftrag wurde gerade von jemand anderem geändert. Bitte erneut versuchen."),
              "error")
        return _back(url_for("hub.queue"))
    if pieces:
        flash(_("Freigegeben – Aufträge: %(orders)s, Stück: %(n)s.", n=pieces,
                orders=len(orders) - len(skipped)), "success")
    for message in skipped:
        flash(message, "warning")
    return _back(url_for("hub.queue"))


_REFUSED = object()


def _commit(action):
    """Run ``action()`` and commit; if refused or raced, roll back, flash why, return _REFUSED."""
    try:
        result = action()
        db.session.commit()
        return result
    except (q.QueueError, StaleJobError, InvalidTransitionError) as exc:
        db.session.rollback()
        flash(str(exc) if isinstance(exc, q.QueueError) else
              _("Der Auftrag wurde gerade geändert. Bitte erneut versuchen."), "error")
        return _REFUSED


@bp.post("/orders/<public_id>/approve")
@staff_required
def order_approve(public_id):
    order = _order_or_404(public_id)
    n = _commit(lambda: q.approve_order(order, _actor()))
    if n is not _REFUSED:
        flash(_("Auftrag %(number)s freigegeben (Stück: %(n)s).", number=order.number or "",
                n=n), "success")
    return _back(url_for("hub.queue"))


@bp.route("/orders/<public_id>/reject", methods=["GET", "POST"])
@staff_required
def order_reject(public_id):
    order = _order_or_404(public_id)
    error = None
    if request.method == "POST":
        try:
            n = q.reject_order(order, _actor(), request.form.get("reason"))
            db.session.commit()
        except (StaleJobError, InvalidTransitionError):
            db.session.rollback()
            error = _("Der Auftrag wurde gerade geändert. Bitte erneut versuchen.")
        except q.QueueError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            flash(_("Auftrag %(number)s abgelehnt (Stück: %(n)s). Die Firma erhält den Grund.",
                    number=order.number or "", n=n), "success")
            return _back(url_for("hub.queue"))
    status = 400 if error else 200
    return render_template("hub/reject.html", order=order, error=error,
                           reason=request.form.get("reason", ""),
                           next=request.values.get("next", "")), status


@bp.post("/orders/<public_id>/priority")
@staff_required
def order_priority(public_id):
    order = _order_or_404(public_id)
    n = _commit(lambda: q.set_priority(order.jobs, request.form.get("priority"), _actor()))
    if n is not _REFUSED and n:
        flash(_("Priorität von Auftrag %(number)s ist jetzt %(p)s.", number=order.number or "",
                p=request.form.get("priority")), "success")
    return _back(url_for("hub.queue"))


@bp.post("/orders/<public_id>/printer")
@staff_required
def order_printer(public_id):
    order = _order_or_404(public_id)
    printer = None
    if request.form.get("printer"):
        printer = board_service.printer_by_public_id(request.form["printer"])
        if printer is None:
            flash(_("Unbekannter Drucker."), "error")
            return _back(url_for("hub.queue"))
    n = _commit(lambda: q.assign_printer(order.jobs, printer, _actor()))
    if n is not _REFUSED and n:
        flash(_("Auftrag %(number)s: Drucker %(printer)s.", number=order.number or "",
                printer=printer.name if printer else _("wählt der Dispatcher")), "success")
        warning = q.material_warning(order.jobs, printer)
        if warning:
            flash(warning, "warning")
    return _back(url_for("hub.queue"))


@bp.post("/orders/<public_id>/handover")
@staff_required
def order_handover(public_id):
    order = _order_or_404(public_id)
    to = request.form.get("to", "")
    done = _commit(lambda: q.hand_over(order, to, _actor(), carrier=request.form.get("carrier"),
                                       tracking_number=request.form.get("tracking_number")))
    if done is not _REFUSED:
        flash(_("Auftrag %(number)s: „%(state)s“ (Stück: %(n)s).", number=order.number or "",
                n=done.pieces, state=state_label(to)), "success")
        if done.invoice is not None:
            flash(_("Rechnung %(number)s ausgestellt.", number=done.invoice.number), "success")
    return _back(url_for("hub.queue", tab="done"))


@bp.post("/orders/<public_id>/cancel")
@staff_required
def order_cancel(public_id):
    order = _order_or_404(public_id)
    n = _commit(lambda: q.cancel_order(order, _actor(), request.form.get("reason")))
    if n is not _REFUSED:
        flash(_("Auftrag %(number)s storniert (Stück: %(n)s).", number=order.number or "",
                n=n), "success")
    return _back(url_for("hub.queue"))


# --- job page -----------------------------------------------------------------------------------


@bp.get("/jobs/<public_id>")
@staff_required
def job_detail(public_id):
    job = q.job_by_public_id(public_id)
    if job is None:
        abort(404)
    view = meshes.part_view(job.part)  # the portal's figures, problems and 3D overlay
    return render_template(
        "hub/job.html", job=job, order=job.order, part=job.part, view=view,
        figures=q.job_figures(job, current_app.config.get("SLICER_DIFF_THRESHOLD", 0.25)),
        problems=q.sorted_problems(view["problems"]),
        printers=db.session.scalars(db.select(Printer).order_by(Printer.name)).all(),
        events=q.order_events(job.order), history=q.part_history(job),
        cancellable=q.CANCELLABLE_STATES,
        attempts=q.dispatch_attempts(job), why=waiting.reasons_for([job]).get(job.id),
        priority_range=range(q.PRIORITY_MAX, q.PRIORITY_MIN - 1, -1),
    )


@bp.post("/jobs/<public_id>/resolve")
@staff_required
def job_resolve(public_id):
    job = q.job_by_public_id(public_id)
    if job is None:
        abort(404)
    event = _commit(lambda: q.resolve_job(job, request.form.get("action", ""), _actor(),
                                          request.form.get("reason")))
    if event is not _REFUSED:
        flash(_("Entschieden: %(state)s.", state=state_label(event.to_state)), "success")
    return _back(url_for("hub.job_detail", public_id=job.public_id))


@bp.post("/jobs/<public_id>/supports")
@staff_required
def job_supports(public_id):
    """A technician's support decision before slicing (the firm's price stays as ordered)."""
    job = q.job_by_public_id(public_id)
    if job is None:
        abort(404)
    choice = request.form.get("supports", "")
    if choice not in ("auto", "none"):
        abort(400, description=_("Stützstrukturen: bitte „auto“ oder „none“ wählen."))
    event = _commit(lambda: q.set_supports(job, choice == "auto", _actor(),
                                           request.form.get("note")))
    if event is not _REFUSED:
        flash(_("Stützstrukturen geändert; der Preis der Firma bleibt.") if event
              else _("Stützstrukturen unverändert."), "success")
    return _back(url_for("hub.job_detail", public_id=job.public_id))


@bp.post("/jobs/<public_id>/<action>")
@staff_required
def job_control(public_id, action):
    job = q.job_by_public_id(public_id)
    if job is None:
        abort(404)
    _control(job, action)
    return _back(url_for("hub.job_detail", public_id=job.public_id))


def _control(job, action: str) -> None:
    """Pause, resume, reprint or cancel ``job`` through the printers helper's control module."""
    if action not in control.ACTIONS:
        abort(404)
    extra = {"cause": request.form.get("cause")} if action == "reprint" else {}
    try:
        control.ACTIONS[action](job, _actor(), **extra)
        db.session.commit()
    except (InvalidTransitionError, StaleJobError):
        db.session.rollback()
        flash(_("Das geht im Zustand „%(state)s“ nicht.", state=state_label(job.state)), "error")
        return
    except control.ControlError as exc:  # unreachable, refused, not this job: say so
        db.session.rollback()
        current_app.logger.info("%s of job %s refused: %s", action, job.id, exc.message)
        flash(_(exc.message, **exc.params), "error")
        return
    labels = {"pause": _("angehalten"), "resume": _("fortgesetzt"), "cancel": _("abgebrochen"),
              "reprint": _("abgebrochen; das Stück kommt zurück in die Warteschlange und wird "
                           "neu gedruckt")}
    flash(_("Druck %(label)s.", label=labels[action]), "success")


# --- printers -----------------------------------------------------------------------------------


@bp.get("/printers")
@staff_required
def printers():
    cards = board_service.board(current_app.config.get("PRINTER_STALE_AFTER_S", 30), _)
    return render_template("hub/printers.html", cards=cards,
                           summary=board_service.summary(cards),
                           labels=board_service.PRINTER_STATE_LABELS)


@bp.post("/printers/<public_id>/maintenance")
@staff_required
def printer_maintenance(public_id):
    printer = _printer_or_404(public_id)
    on = request.form.get("on") == "1"
    reason = (request.form.get("reason") or "").strip()[:200] or None
    printer_admin.set_maintenance(printer, on, _actor(), reason=reason)
    db.session.commit()
    flash(_("%(name)s ist in Wartung.", name=printer.name) if on else
          _("%(name)s ist wieder in Betrieb.", name=printer.name), "success")
    return _back(url_for("hub.printers"))


@bp.post("/printers/<public_id>/bed-clear")
@staff_required
def printer_bed_clear(public_id):
    printer = _printer_or_404(public_id)
    try:
        printer_admin.confirm_bed_clear(printer, _actor())
        db.session.commit()
    except printer_admin.BedNotWaitingError as exc:
        db.session.rollback()
        flash(_(str(exc)), "error")
        return _back(url_for("hub.printers"))
    flash(_("Bett von %(name)s ist frei; der Drucker nimmt den nächsten Auftrag.",
            name=printer.name), "success")
    return _back(url_for("hub.printers"))


@bp.post("/printers/<public_id>/job/<action>")
@staff_required
def printer_job_control(public_id, action):
    printer = _printer_or_404(public_id)
    job = board_service.current_jobs().get(printer.id)
    if job is None:
        flash(_("%(name)s druckt gerade keinen Auftrag.", name=printer.name), "error")
        return _back(url_for("hub.printers"))
    _control(job, action)
    return _back(url_for("hub.printers"))


@bp.route("/printers/new", methods=["GET", "POST"])
@staff_required
def printer_new():
    return _printer_form(None)


@bp.route("/printers/<public_id>/edit", methods=["GET", "POST"])
@staff_required
def printer_edit(public_id):
    return _printer_form(_printer_or_404(public_id))


def _printer_form(printer: Printer | None):
    values = forms.printer_values(printer, request.form if request.method == "POST" else None)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            saved = forms.save_printer(printer, values, _actor())
            db.session.commit()
        except forms.FormError as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            flash(_("Drucker %(name)s gespeichert.", name=saved.name), "success")
            return redirect(url_for("hub.printers"))
    history = q.printer_events(printer) if printer is not None else []
    return render_template("hub/printer_form.html", printer=printer, values=values,
                           errors=errors, history=history, choices=forms.printer_choices(values),
                           piece_names=board_service.piece_names(e.reason for e in history),
                           labels=board_service.PRINTER_STATE_LABELS), (400 if errors else 200)


# --- dashboard ----------------------------------------------------------------------------------


@bp.get("/dashboard")
@staff_required
def dashboard():
    tz = hub_settings.get_opening_hours().timezone
    now = utcnow()
    days = dash.throughput(now, tz)
    usage = dash.utilisation(now, tz)
    weeks = dash.times_by_week(now, tz)
    return render_template(
        "hub/dashboard.html", days=days, usage=usage,
        throughput_chart=dash.bar_chart([d.printed for d in days]),
        usage_chart=dash.bar_chart([u.share for u in usage], max_value=1.0),
        counts=q.tab_counts(), accuracy=dash.estimate_accuracy(now, tz),
        backlog=dash.backlog(), waiting_counts=waiting.count_by_reason(),
        reprints=dash.reprints(now, tz),
        printer_times=dash.printer_times(), weeks=weeks,
        correction_window=correction.WINDOW, correction_min=correction.MIN_PRINTS,
        correction_bounds=correction.BOUNDS,
        times_chart=dash.line_chart({
            "actual_vs_slicer": [w.ratios.actual_vs_slicer for w in weeks],
            "actual_vs_quote": [w.ratios.actual_vs_quote for w in weeks],
            "slicer_vs_quote": [w.ratios.slicer_vs_quote for w in weeks]},
            width=960, height=240),  # a whole card wide: labels about the others' size
        printer_weeks_chart=dash.line_chart(
            {p.name: [r.actual_vs_slicer for r in ratios]
             for p, ratios in dash.printer_weeks(now, tz)}, width=960, height=240),
    )


# --- security audit log (admin) -----------------------------------------------------------------

AUDIT_LIMIT = 200


@bp.get("/audit")
@admin_required
def audit():
    action = request.args.get("action", "")
    action = action if action in audit_log.ACTIONS else ""
    who = (request.args.get("who") or "").strip()[:254]
    return render_template("hub/audit.html", actions=audit_log.ACTIONS, action=action, who=who,
                           events=audit_log.recent(action=action or None, who=who or None,
                                                   limit=AUDIT_LIMIT), limit=AUDIT_LIMIT)


# --- settings (admin) ---------------------------------------------------------------------------


@bp.get("/settings")
@admin_required
def settings():
    return _settings_page()


def _settings_page(errors: dict | None = None, section: str | None = None, form=None):
    pricing = hub_settings.get_pricing_rules()
    return render_template(
        "hub/settings.html", materials=hub_settings.material_table(), pricing=pricing,
        hours=hub_settings.opening_hours_to_dict(hub_settings.get_opening_hours()),
        address=hub_settings.get_hub_address(), legal=hub_settings.get_hub_legal(),
        quote_terms=hub_settings.get_quote_terms(), legal_texts=hub_settings.get_legal_texts(),
        legal_text_labels=hub_settings.LEGAL_TEXTS,
        legal_text_max=hub_settings.LEGAL_TEXT_MAX_CHARS,
        valid_days_range=hub_settings.QUOTE_VALID_DAYS_RANGE,
        terms_max=hub_settings.TERMS_MAX_CHARS,
        legal_fields=hub_settings.LEGAL_FIELDS, legal_required=hub_settings.REQUIRED_LEGAL,
        legal_missing=[_(m) for m in hub_settings.missing_legal_details()],
        errors=errors or {}, section=section,
        form=form, weekdays=forms.WEEKDAY_LABELS, pricing_form=forms.pricing_values(pricing),
        holiday_regions=forms.HOLIDAY_REGION_LABELS,
        delivery_form=forms.delivery_values(hub_settings.get_delivery_rules()),
    ), (400 if errors else 200)


@bp.post("/settings/<section>")
@admin_required
def settings_save(section):
    savers = {
        "material": forms.save_material_form,
        "pricing": forms.save_pricing_form,
        "hours": forms.save_hours_form,
        "address": forms.save_address_form,
        "legal": forms.save_legal_form,
        "quotes": forms.save_quotes_form,
        "texts": forms.save_texts_form,
        "delivery": forms.save_delivery_form,
    }
    if section not in savers:
        abort(404)
    try:
        message = savers[section](request.form)
        db.session.commit()
    except hub_settings.SettingsError as exc:
        db.session.rollback()
        return _settings_page(exc.errors, section, request.form)
    flash(message, "success")
    return redirect(url_for("hub.settings") + f"#{section}")
