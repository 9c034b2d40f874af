"""Firm portal views: upload parts, see them analysed in 3D, get a price, order, follow orders.

Thin views over the domain packages (``marketplace.parts``, ``quotes``, ``orders`` ...); every row a firm user asks for goes through
``get_scoped_or_404`` (another firm's id is a 404).
"""

from __future__ import annotations

import io
import re
from functools import wraps

import sqlalchemy as sa
from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from marketplace import audit
from marketplace.auth import get_scoped_or_404, role_required, scoped
from marketplace.engine import options as option_limits
from marketplace.engine.meshio.units import USER_UNITS
from marketplace.extensions import db
from marketplace.formatting import format_date, format_money
from marketplace.i18n import get_language
from marketplace.i18n import gettext as _
from marketplace.models import Order, Part, Quote
from marketplace.invoices import operations as invoices
from marketplace.orders import documents
from marketplace.orders import operations as orders
from marketplace.parts import meshes
from marketplace.parts import guests, thumbnails
from marketplace.parts import operations as parts
from marketplace.portal import bp
from marketplace.portal.forms import ActionForm, OrderForm, ReferencesForm
from marketplace.quotes import operations as quotes
from marketplace.rate_limits import firm_key, limit, limit_guests
from marketplace.settings import operations as settings

LIST_LIMIT = 200  # newest rows on the parts and orders pages
PRICE_RETRY_MS = 1000  # the price box asks again this soon while an estimate is made


@bp.context_processor
def _portal_helpers() -> dict:
    return {"part_error": lambda part: parts.error_text(part, get_language()),
            "part_price_lines": quotes.part_price_lines,
            "order_price_lines": quotes.order_price_lines, "order_lines": orders.lines_of}


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.is_json


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return render_template("portal/index.html")
    if current_user.role != "firm":
        return render_template("portal/index.html", staff=True)
    recent_parts = db.session.scalars(
        scoped(Part, current_user).order_by(Part.id.desc()).limit(5)).all()
    recent_orders = db.session.scalars(
        scoped(Order, current_user).order_by(Order.id.desc()).limit(5)).all()
    return render_template(
        "portal/dashboard.html", parts=recent_parts,
        orders=[(o, orders.status(o)) for o in recent_orders],
    )


# --- guests: parts without an account (marketplace.parts.guests) -------------------------------
def guest_or_login(view):
    """Let signed-in users and guests with parts through; others go to the sign-in page."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user.is_authenticated or guests.current() is not None:
            return view(*args, **kwargs)
        return current_app.login_manager.unauthorized()

    return wrapped


def firm_or_guest(view):
    """Let firm users and guests with parts through (a guest renames and deletes their own
    uploads, as a firm does); staff get 403, others go to the sign-in page."""

    @wraps(view)
    @guest_or_login
    def wrapped(*args, **kwargs):
        if current_user.is_authenticated and current_user.role != "firm":
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _own_part_or_404(part_id: str) -> Part:
    """The part if the signed-in user may see it, or if it is this guest's; else 404."""
    if current_user.is_authenticated:
        return get_scoped_or_404(Part, part_id, current_user)
    guest = guests.current()
    part = None if guest is None else db.session.scalar(
        sa.select(Part).where(Part.public_id == part_id, Part.firm_id == guest.id))
    if part is None:
        abort(404)
    return part


# --- parts ----------------------------------------------------------------------------------------
@bp.get("/parts", endpoint="parts")
def parts_list():
    guest = None
    if current_user.is_authenticated:
        query = scoped(Part, current_user)
    else:  # a guest: their own parts (none yet: the upload form)
        guests.ensure_key()
        guest = guests.current()
        query = sa.select(Part).where(Part.firm_id == (guest.id if guest else -1))
    rows = db.session.scalars(query.order_by(Part.id.desc()).limit(LIST_LIMIT)).all()
    return render_template("portal/parts.html", parts=rows, max_mb=_max_mb(),
                           extensions=current_app.config["UPLOAD_EXTENSIONS"],
                           guest=not current_user.is_authenticated, guest_firm=guest,
                           guest_max_parts=current_app.config["GUEST_MAX_PARTS"])


def _max_mb() -> int:
    return int(current_app.config["MAX_CONTENT_LENGTH"]) // (1024 * 1024)


def _part_json(part: Part) -> dict:
    return {
        "id": part.public_id, "name": part.original_name, "status": part.status,
        "url": url_for("portal.part_detail", part_id=part.public_id),
        "error": parts.error_text(part, get_language()),
        "refused": part_refusal(part),  # analysed but not printable, or fits no printer
    }


@bp.post("/parts")
@limit_guests("LIMIT_GUEST_UPLOAD_PER_IP")
@limit("LIMIT_UPLOAD_PER_FIRM", firm_key)
@limit("LIMIT_UPLOAD_PER_IP")
def upload():
    if current_user.is_authenticated and current_user.role != "firm":
        abort(403)
    try:
        files = request.files.getlist("files") or request.files.getlist("file")
    except RequestEntityTooLarge:
        return _upload_refused(413, "too_large", _("Die Datei ist zu groß (höchstens %(limit_mb)s MB).",
                                                     limit_mb=_max_mb()))
    if not files:
        return _upload_refused(400, "no_file", _("Bitte wählen Sie eine Datei aus."))
    if current_user.is_authenticated:
        firm, user = current_user.firm, current_user
    else:  # a guest: their workspace, kept GUEST_RETENTION_DAYS from this upload
        firm, user = guests.current_or_new(), None
        guests.touch(firm)
        db.session.commit()
    stored, errors, status = [], [], 400
    for f in files:
        try:
            part = parts.store_upload(firm, user, f.filename, f.read())
            db.session.commit()
            stored.append(part)
        except parts.UploadError as exc:
            db.session.rollback()
            status = exc.status
            errors.append({"name": parts.clean_filename(f.filename), "code": exc.code,
                           "message": _(exc.message, **exc.params)})
    if _wants_json():
        body = {"parts": [_part_json(p) for p in stored], "errors": errors}
        return jsonify(body), 201 if stored else status
    for e in errors:
        flash(f"{e['name']}: {e['message']}", "error")
    if len(stored) == 1 and not errors:
        return redirect(url_for("portal.part_detail", part_id=stored[0].public_id))
    return redirect(url_for("portal.parts"), 303)


def _upload_refused(status: int, code: str, message: str):
    if _wants_json():
        return jsonify(parts=[], errors=[{"name": "", "code": code, "message": message}]), status
    flash(message, "error")
    return redirect(url_for("portal.parts"), 303)


@bp.get("/parts/<part_id>")
@guest_or_login
def part_detail(part_id):
    part = _own_part_or_404(part_id)
    return _part_page(part, request.args)


def _part_page(part: Part, chosen, status: int = 200):
    """Render the part page with the options in ``chosen`` (query or form) over the defaults."""
    materials = settings.get_materials()
    options = {**quotes.default_options(), **chosen.to_dict()}
    if options["material"] not in materials:
        options["material"] = next(iter(materials))
    refused = None  # not printable, or too large for every printer in service: no price
    if part.status == "ready":
        refused = quotes.refusal(quotes.summary_for(part, options.get("units") or part.units))
    return render_template(
        "portal/part.html", part=part, view=meshes.part_view(part), materials=materials,
        options=options, colours=materials[options["material"]].colours, units=USER_UNITS,
        limits=option_limits, form=ActionForm(),
        part_orders=orders.orders_of_part(part),
        guest=not current_user.is_authenticated,
        refused=_(refused.message, **refused.params) if refused is not None else None,
        # the address or a form sent back names options: the page shows them, not the ones
        # the browser kept from an earlier visit (part.js)
        options_chosen=any(chosen.get(k) not in (None, "") for k in quotes.default_options()
                           if k != "units"),
    ), status


@bp.app_template_global()
def part_refusal(part: Part) -> dict | None:
    """Why a ready part gets no price, for its status badge: ``short`` (a line for lists) and
    ``full`` (the part page's text); None for a part that can be priced or is not analysed."""
    if part.status != "ready":
        return None
    refused = quotes.refusal(part.analysis or {})
    if refused is None:
        return None
    full = _(refused.message, **refused.params)
    if refused.code == "too_large":
        short = _("Passt auf keinen Drucker (%(size)s, größter Bauraum %(largest)s)",
                  size=refused.params["size"], largest=refused.params["largest"])
    else:  # the reason's first sentence; the whole text is the badge's title
        reason = str(refused.params.get("reason") or full)
        first = re.match(r"(.{20,}?)[.:](\s|$)", reason)
        short = f"{first.group(1)}." if first else reason
    return {"code": refused.code, "short": short, "full": full}


@bp.app_template_global()
def part_thumb_url(part: Part) -> str:
    """The picture of ``part`` for an <img>: the placeholder until it is drawn."""
    if part.status != "ready" or part.thumbnail_state != "ready":
        return url_for("static", filename="img/part-placeholder.svg")
    return url_for("portal.part_thumbnail", part_id=part.public_id,
                   v=f"{part.sha256[:8]}-{part.units}")


@bp.get("/parts/<part_id>/thumbnail")
@guest_or_login
def part_thumbnail(part_id):
    part = _own_part_or_404(part_id)
    path = thumbnails.ready_path(part)
    if path is None:  # not drawn (yet): the placeholder, asked for again next time
        resp = send_file(current_app.static_folder + "/img/part-placeholder.svg",
                         mimetype="image/svg+xml", max_age=0)
        resp.cache_control.no_cache = True
        return resp
    resp = send_file(path, mimetype="image/png", conditional=True, etag=True, max_age=86400)
    resp.cache_control.private = True
    return resp


@bp.get("/parts/<part_id>/status")
@guest_or_login
def part_status(part_id):
    part = _own_part_or_404(part_id)
    return jsonify(_part_json(part))


@bp.get("/parts/<part_id>/mesh")
@guest_or_login
def part_mesh(part_id):
    part = _own_part_or_404(part_id)
    if part.status != "ready":
        abort(409, description=_("Das Teil ist noch nicht analysiert."))
    path = meshes.mesh_path(part)
    if path is None:  # the worker's cached mesh is gone: a worker makes it again
        parts.reanalyse(part, part.units)
        db.session.commit()
        abort(409, description=_("Das Teil ist noch nicht analysiert."))
    # streamed from the cache file, with an ETag, Last-Modified and byte ranges (304/206)
    resp = send_file(path, mimetype="application/octet-stream", conditional=True, etag=True,
                     max_age=3600)
    resp.cache_control.private = True
    return resp


@bp.post("/parts/<part_id>/units")
@guest_or_login
def part_units(part_id):
    part = _own_part_or_404(part_id)
    try:
        parts.reanalyse(part, request.form.get("units", ""))
    except parts.UploadError as exc:
        db.session.rollback()
        flash(_(exc.message, **exc.params), "error")
        return redirect(url_for("portal.part_detail", part_id=part.public_id), 303)
    db.session.commit()
    return redirect(url_for("portal.part_detail", part_id=part.public_id), 303)


@bp.post("/parts/<part_id>/price")
@guest_or_login
@limit("LIMIT_PRICE_PER_FIRM", firm_key)
@limit("LIMIT_PRICE_PER_IP")
def part_price(part_id):
    part = _own_part_or_404(part_id)
    # a JSON body that does not parse is None: refused by the schema like a list or a number
    raw = request.get_json(silent=True) if request.is_json else request.form
    try:
        options = quotes.parse_options(raw, settings.get_materials())
        result = _compute(part, options)
    except quotes.QuoteError as exc:
        return jsonify(error={"field": exc.field, "code": exc.code,
                              "message": _(exc.message, **exc.params)}), 400
    if result is None:  # a worker is making the estimate: the page asks again
        return jsonify(status="pending", retry_ms=PRICE_RETRY_MS), 202
    db.session.rollback()  # reading the queue only
    return jsonify(quotes.price_answer(result))


@bp.post("/parts/<part_id>/quote")
@login_required
def create_quote(part_id):
    part = get_scoped_or_404(Part, part_id, current_user)
    try:
        options = quotes.parse_options(request.form, settings.get_materials())
        result = _compute(part, options)
    except quotes.QuoteError as exc:
        db.session.rollback()
        flash(_(exc.message, **exc.params), "error")
        return _part_page(part, request.form, 400)  # the firm's choices stay in the form
    if result is None:
        flash(_("Der Preis wird noch berechnet; bitte versuchen Sie es gleich noch einmal."),
              "info")
        return redirect(url_for("portal.part_detail", part_id=part.public_id,
                                **options.to_dict()), 303)
    quote = quotes.store(part, result)
    db.session.commit()
    return redirect(url_for("portal.quote_detail", quote_id=quote.public_id), 303)


def _compute(part, options):
    """Price ``part`` from its stored estimate, or None while a worker makes the estimate.

    A missing estimate is queued by the commit here (in immediate mode that commit makes it,
    so the second look finds it)."""
    for _attempt in range(2):
        try:
            return quotes.compute(part, options)
        except quotes.EstimatePendingError:
            db.session.commit()
    return None


@bp.post("/parts/<part_id>/rename")
@firm_or_guest
def part_rename(part_id):
    part = _own_part_or_404(part_id)
    try:
        parts.rename_part(part, request.form.get("name"))
    except parts.UploadError as exc:
        db.session.rollback()
        flash(_(exc.message, **exc.params), "error")
        return redirect(url_for("portal.part_detail", part_id=part.public_id), 303)
    db.session.commit()
    flash(_("Umbenannt in „%(name)s“.", name=part.original_name), "success")
    return redirect(url_for("portal.part_detail", part_id=part.public_id), 303)


@bp.post("/parts/<part_id>/delete")
@firm_or_guest
def part_delete(part_id):
    part = _own_part_or_404(part_id)
    name = part.original_name
    try:
        unused = parts.delete_part(part)
    except parts.UploadError as exc:
        db.session.rollback()
        flash(_(exc.message, **exc.params), "error")
        return redirect(url_for("portal.part_detail", part_id=part.public_id), 303)
    db.session.commit()
    parts.remove_unused_file(unused)
    flash(_("„%(name)s“ ist gelöscht.", name=name), "success")
    return redirect(url_for("portal.parts"), 303)


# --- quotes ---------------------------------------------------------------------------------------
@bp.get("/quotes", endpoint="quotes")
@login_required
def quotes_list():
    """The firm's quotes, newest first, each with its validity and whether it was ordered."""
    rows = db.session.scalars(
        scoped(Quote, current_user).order_by(Quote.id.desc()).limit(LIST_LIMIT)).all()
    ordered = {quote_id: order for quote_id, order in db.session.execute(
        sa.select(Order.quote_id, Order).where(Order.quote_id.in_([q.id for q in rows])))
    } if rows else {}
    return render_template("portal/quotes.html", quotes=rows, ordered=ordered,
                           expired={q.id for q in rows if quotes.is_expired(q)},
                           form=ActionForm())


@bp.get("/quotes/<quote_id>")
@login_required
def quote_detail(quote_id):
    quote = get_scoped_or_404(Quote, quote_id, current_user)
    home = orders.firm_address(quote.firm)
    other = quote.ship_to if quote.ship_to and quote.ship_to != home else None
    form = OrderForm(leitweg_id=quote.firm.leitweg_id,
                     variant=f"{quote.delivery}:{int(bool(quote.express))}",
                     address="other" if other else "firm",
                     **{f"ship_{k}": v for k, v in (other or {}).items() if k != "country"})
    return _quote_page(quote, form, home=home)


def _quote_page(quote: Quote, form: OrderForm, status: int = 200, *,
                home: dict | None = None):
    """The quote page with its order form (as filled in, with its errors after a failed post)
    and the order placed on it, if any; ``home``: the firm's address, when known already."""
    return render_template("portal/quote.html", quote=quote, order=orders.order_of(quote),
                           form=form,
                           lines=quotes.lines_of(quote), variants=quotes.variants(quote),
                           firm_address=home or orders.firm_address(quote.firm),
                           expired=quotes.is_expired(quote), reprice_form=ActionForm(),
                           terms=settings.terms_in_force()), status



@bp.post("/quotes/<quote_id>/reprice")
@role_required("firm")
def reprice_quote(quote_id):
    """An expired quote, priced again on request: a new quote at today's prices and dates."""
    quote = get_scoped_or_404(Quote, quote_id, current_user)
    if not ActionForm().validate():
        abort(400, description=_("Bitte prüfen Sie Ihre Angaben."))
    try:
        try:
            new = quotes.reprice(quote)
        except quotes.EstimatePendingError:
            db.session.commit()  # queues the estimate (immediate mode: makes it)
            new = quotes.reprice(quote)
    except quotes.QuoteError as exc:
        db.session.rollback()
        flash(_(exc.message, **exc.params), "error")
        return redirect(url_for("portal.quote_detail", quote_id=quote.public_id), 303)
    except quotes.EstimatePendingError:
        flash(_("Der Preis wird noch berechnet; bitte versuchen Sie es gleich noch einmal."),
              "info")
        return redirect(url_for("portal.quote_detail", quote_id=quote.public_id), 303)
    db.session.commit()
    flash(_("Neu berechnet: bisher %(old)s, heute %(new)s (brutto). Das neue Angebot gilt bis "
            "%(date)s.", old=format_money(quote.gross_cents), new=format_money(new.gross_cents),
            date=format_date(new.valid_until)), "success")
    return redirect(url_for("portal.quote_detail", quote_id=new.public_id), 303)


@bp.get("/quotes/<quote_id>/pdf")
@login_required
def quote_pdf(quote_id):
    quote = get_scoped_or_404(Quote, quote_id, current_user)
    hub = _hub_for_documents()
    audit.record("export", actor=current_user, target=f"quote {quote.public_id}",
                 detail={"document": "quote_pdf", "firm_id": quote.firm_id})
    db.session.commit()
    return _pdf(documents.confirmation_pdf(quote, hub),
                documents.filename_for(quote))


# an order refused for a choice of the form: the field whose place on the page shows why
ORDER_ERROR_FIELDS = {"ship_to": "address", "bad_delivery": "variant", "not_shippable": "variant",
                      "express_no_gain": "variant", "bad_leitweg_id": "leitweg_id"}


def order_error_field(form, exc):
    """The form's field an order's refusal is about (ORDER_ERROR_FIELDS), or None: for an
    address typed in, the very field (the postcode, a missing street), else the choice."""
    target = ORDER_ERROR_FIELDS.get(getattr(exc, "code", None))
    field = getattr(exc, "field", None)
    if target == "address" and field and form.address.data == "other":
        return form._fields.get("ship_" + field) or form.address
    return getattr(form, target, None) if target else None


@bp.post("/quotes/<quote_id>/order")
@role_required("firm")
def place_order(quote_id):
    quote = get_scoped_or_404(Quote, quote_id, current_user)
    form = OrderForm()
    if not form.validate():  # the page again, as filled in, each error at its field
        return _quote_page(quote, form, 400)
    delivery, express = form.choice()
    try:
        order = orders.place_order(
            quote, placed_by=current_user, channel="portal", delivery=delivery,
            express=express, ship_to=form.ship_to(), reference=form.reference.data,
            notes=form.notes.data, leitweg_id=form.leitweg_id.data or "",
            terms_shown=form.terms_version.data,
        )
    except orders.OrderError as exc:
        db.session.rollback()
        if exc.code == "not_printable":  # never an order for a part we cannot print
            abort(409, description=_(exc.message))
        if exc.code == "terms_changed":  # the page again, naming the terms now in force
            form.form_errors.append(_(exc.message))
            return _quote_page(quote, form, 409)
        target = order_error_field(form, exc)
        if target is None:  # the quote's state (ordered, expired): its page says what now
            flash(_(exc.message), "error")
            return redirect(url_for("portal.quote_detail", quote_id=quote.public_id), 303)
        # a choice of the form: the page again as filled in, the reason at that field
        target.errors.append(_(exc.message))
        return _quote_page(quote, form, 400)
    db.session.commit()
    flash(_("Vielen Dank! Ihr Auftrag %(number)s ist eingegangen.", number=order.number),
          "success")
    return redirect(url_for("portal.order_detail", order_id=order.public_id), 303)


# --- orders ---------------------------------------------------------------------------------------
@bp.get("/orders", endpoint="orders")
@login_required
def orders_list():
    rows = db.session.scalars(
        scoped(Order, current_user).order_by(Order.id.desc()).limit(LIST_LIMIT)).all()
    return render_template("portal/orders.html", orders=[(o, orders.status(o)) for o in rows],
                           rejected={o.id for o in rows if orders.is_rejected(o)})



@bp.get("/orders/<order_id>")
@login_required
def order_detail(order_id):
    order = get_scoped_or_404(Order, order_id, current_user)
    invoice = invoices.invoice_of_order(order)
    references = None
    if current_user.role == "firm" and orders.will_be_invoiced(order):
        references = ReferencesForm(obj=order, prefix="ref")
    return render_template("portal/order.html", order=order, status=orders.status(order),
                           form=ActionForm(), invoice=invoice, references=references,
                           rejected=orders.is_rejected(order), lines=orders.lines_of(order),
                           summaries=orders.line_summaries(order),
                           terms_since=order.terms_version and settings.terms_version_date(
                               order.terms_version),
                           parcels=[(parcel, orders.tracking_url(parcel))
                                    for parcel in order.parcels or []])


@bp.post("/orders/<order_id>/references")
@role_required("firm")
def order_references(order_id):
    order = get_scoped_or_404(Order, order_id, current_user)
    form = ReferencesForm(prefix="ref")
    if not form.validate():
        abort(400, description=_("Bitte prüfen Sie Ihre Angaben."))
    try:
        orders.set_references(order, reference=form.reference.data,
                              leitweg_id=form.leitweg_id.data)
    except orders.OrderError as exc:
        db.session.rollback()
        flash(_(exc.message), "error")
        return redirect(url_for("portal.order_detail", order_id=order.public_id), 303)
    db.session.commit()
    flash(_("Bestellnummer und Leitweg-ID gespeichert; sie stehen auf der Rechnung."), "success")
    return redirect(url_for("portal.order_detail", order_id=order.public_id), 303)


@bp.get("/orders/<order_id>/status")
@login_required
def order_status(order_id):
    order = get_scoped_or_404(Order, order_id, current_user)
    st = orders.status(order)
    return jsonify(number=order.number, state=st.state, jobs=st.jobs, steps=[
        {"key": s.key, "done": s.done, "total": s.total, "current": s.current,
         "progress": s.progress, "reason": s.reason,
         "at": s.at.isoformat() + "Z" if s.at else None}
        for s in st.steps
    ])


@bp.get("/orders/<order_id>/pdf")
@login_required
def order_pdf(order_id):
    order = get_scoped_or_404(Order, order_id, current_user)
    if orders.is_rejected(order):
        abort(409, description=_("Der Auftrag wurde abgelehnt; dazu gibt es keine "
                                 "Auftragsbestätigung."))
    hub = _hub_for_documents()
    audit.record("export", actor=current_user, target=f"order {order.number or order.public_id}",
                 detail={"document": "order_pdf", "firm_id": order.firm_id})
    db.session.commit()
    return _pdf(documents.confirmation_pdf(order.quote, hub, order),
                documents.filename_for(order.quote, order))


@bp.post("/orders/<order_id>/reorder")
@role_required("firm")
def reorder(order_id):
    order = get_scoped_or_404(Order, order_id, current_user)
    try:
        try:
            quote = orders.reorder(order)
        except quotes.EstimatePendingError:
            db.session.commit()  # queues the estimate (immediate mode: makes it)
            quote = orders.reorder(order)
    except quotes.QuoteError as exc:
        flash(_(exc.message, **exc.params), "error")
        return redirect(url_for("portal.part_detail", part_id=order.part.public_id), 303)
    except quotes.EstimatePendingError:
        flash(_("Der Preis wird noch berechnet; bitte versuchen Sie es gleich noch einmal."),
              "info")
        return redirect(url_for("portal.order_detail", order_id=order.public_id), 303)
    db.session.commit()
    return redirect(url_for("portal.quote_detail", quote_id=quote.public_id), 303)


def _hub_for_documents() -> dict:
    """The hub's address and legal details; 503 with the reason while production lacks them."""
    try:
        return settings.require_legal_details()
    except settings.MissingLegalDetailsError as exc:
        current_app.logger.error("document refused: %s", exc)
        abort(503, description=exc.message())


def _pdf(data: bytes, filename: str):
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=filename, max_age=0)
