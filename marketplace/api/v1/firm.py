"""The firm's side of the API: materials, parts (upload, analysis), prices, quotes, orders and
their documents. Thin views over the domain operations (``marketplace.parts``, ``quotes``,
``orders``, ``invoices``); every row goes through :func:`owned` (another firm's id is a 404)."""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from flask import current_app, request, send_file, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from marketplace import audit, formatting, messages
from marketplace.api.v1 import schemas as s
from marketplace.api.v1.core import (
    Problem,
    _,
    current_token,
    idempotency_doc,
    make_blueprint,
    option_problem,
    page,
    requires,
    writes,
)
from marketplace.auth import scoped
from marketplace.engine import options as options_schema
from marketplace.engine.options import QuoteOptionsSchema
from marketplace.extensions import db
from marketplace.i18n import get_language
from marketplace.invoices import einvoice
from marketplace.invoices import operations as invoices
from marketplace.models import Order, Part, Quote
from marketplace.orders import documents
from marketplace.orders import operations as orders
from marketplace.parts import operations as parts
from marketplace.quotes import operations as quotes
from marketplace.settings import operations as settings

PENDING_RETRY_S = 2  # a 202 asks the client to come back this soon

account_bp = make_blueprint("Account", "Who the token acts as.")
catalog_bp = make_blueprint("Materials", "What the hub prints: materials and colours.")
parts_bp = make_blueprint("Parts", "Upload parts; read their analysis and problems; price them.")
quotes_bp = make_blueprint("Quotes", "Stored quotes: price, options and delivery date.")
orders_bp = make_blueprint("Orders", "Place orders, follow their status, fetch documents.")

PDF = {"200": {"description": "The document.",
               "content": {"application/pdf": {"schema": {"type": "string",
                                                          "format": "binary"}}}}}
XML = {"200": {"description": "The document.",
               "content": {"application/xml": {"schema": {"type": "string"}}}}}


def owned(model: Any, public_id: str, what: str) -> Any:
    """The row ``public_id`` if the token's user may see it, else a 404 problem."""
    row = db.session.scalar(scoped(model, current_user).where(model.public_id == public_id))
    if row is None:
        raise Problem(404, "not_found", _("%(what)s nicht gefunden.", what=what))
    return row


# --- the token itself -------------------------------------------------------------------------
@account_bp.route("/me", methods=["GET"])
@account_bp.response(200, s.MeSchema)
def me():
    """The account the token acts as, its firm, the token's scopes and expiry (any scope)."""
    token = current_token()
    return {"email": current_user.email, "name": current_user.name, "role": current_user.role,
            "firm": current_user.firm.name if current_user.firm else None,
            "token_id": token.public_id, "scopes": token.scope_list,
            "expires_at": token.expires_at}


# --- materials ------------------------------------------------------------------------------------
@catalog_bp.route("/materials", methods=["GET"])
@requires("read")
@catalog_bp.response(200, s.MaterialListSchema)
def list_materials():
    """Materials and colours a price or quote may name."""
    items = [{"code": code, "name": spec.name, "colours": list(spec.colours),
              "price_per_kg_cents": spec.price_per_kg_cents,
              "density_g_cm3": spec.density_g_cm3}
             for code, spec in settings.get_materials().items()]
    return {"items": items, "quantity_max": options_schema.QUANTITY_MAX}


# --- parts ----------------------------------------------------------------------------------------
def part_json(part: Part) -> dict[str, Any]:
    error = None
    if part.status == "error":
        error = {"code": part.error_code or "error",
                 "message": parts.error_text(part, get_language()) or ""}
    return {"id": part.public_id, "name": part.original_name, "status": part.status,
            "format": part.file_format, "size_bytes": part.size_bytes, "units": part.units,
            "created_at": part.created_at, "error": error}


@parts_bp.route("/parts", methods=["POST"])
@writes(idempotency="optional")
@requires("write", roles=("firm",))
@parts_bp.arguments(s.UploadSchema, location="files", required=True)
@parts_bp.response(201, s.PartSchema)
@parts_bp.doc(**idempotency_doc(False))
def upload_part(files):
    """Upload one STL, 3MF or OBJ file (multipart field `file`).

    The analysis runs in the background: poll the part until `status` is `ready` (or
    `error`), then read its analysis and price it.
    """
    upload = files["file"]
    try:
        data = upload.read()
    except RequestEntityTooLarge:
        raise Problem(413, "too_large", _("Die Datei ist zu groß (höchstens %(limit_mb)s MB).",
                      limit_mb=int(current_app.config["MAX_CONTENT_LENGTH"]) // 2**20)) from None
    try:
        part = parts.store_upload(current_user.firm, current_user, upload.filename, data)
    except parts.UploadError as exc:
        raise Problem(exc.status, exc.code, _(exc.message, **exc.params)) from None
    return part_json(part), 201, {"Location": url_for("Parts.get_part", part_id=part.public_id)}


@parts_bp.route("/parts", methods=["GET"])
@requires("read")
@parts_bp.arguments(s.ListArgs, location="query")
@parts_bp.response(200, s.PartPageSchema)
def list_parts(args):
    """The firm's parts, newest first."""
    return page(scoped(Part, current_user), Part.id, args, part_json)


@parts_bp.route("/parts/<part_id>", methods=["GET"])
@requires("read")
@parts_bp.response(200, s.PartSchema)
def get_part(part_id):
    """One part and its analysis status."""
    return part_json(owned(Part, part_id, _("Teil")))


@parts_bp.route("/parts/<part_id>/analysis", methods=["GET"])
@requires("read")
@parts_bp.response(200, s.AnalysisSchema)
def get_analysis(part_id):
    """The analysis: printable or not, figures of the mesh, and the problems found."""
    part = owned(Part, part_id, _("Teil"))
    analysis = part.analysis or {} if part.status == "ready" else {}
    problems = [{"code": p.get("code", ""), "severity": p.get("severity", "info"),
                 "message": messages.render_message(p, prefix="problem.")}
                for p in analysis.get("problems") or []]
    return {"part_id": part.public_id, "status": part.status,
            "printable": bool(analysis.get("printable", True)) if part.status == "ready"
            else None, "units": part.units, "mesh": analysis.get("mesh") or {},
            "problems": problems, "error": part_json(part)["error"]}


def _compute(part: Part, options):
    """Price from the stored estimate, or None while a worker makes it (committed: queued)."""
    if part.status == "pending":
        raise Problem(409, "not_analysed", _("Das Teil ist noch nicht analysiert."),
                      headers={"Retry-After": str(PENDING_RETRY_S)})
    for _attempt in range(2):
        try:
            return quotes.compute(part, options)
        except quotes.EstimatePendingError:
            db.session.commit()  # queues the estimate (immediate mode: makes it)
        except quotes.QuoteError as exc:
            db.session.rollback()
            raise Problem(422, "not_quotable", _(exc.message, **exc.params),
                          field=exc.field) from None
    return None


def _options(raw: Any, line: int | None = None):
    """The options as the hub's catalogue accepts them (the pages' check, the same codes)."""
    try:
        return options_schema.load_options(raw, settings.get_materials())
    except options_schema.OptionError:
        raise option_problem(raw, line=line) from None


def price_json(part: Part, result) -> dict[str, Any]:
    answer = result.to_dict()
    return {"part_id": part.public_id, "options": answer["options"], "units": answer["units"],
            "material_g": answer["material_g"], "print_time_s": answer["print_time_s"],
            "price": money_json(answer["price"]), "delivery_date": result.delivery_date,
            "printer_class": result.printer_class,
            "layer_height_mm": result.printed_layer_height_mm}


def _pending():
    return ({"status": "pending", "retry_after_s": PENDING_RETRY_S}, 202,
            {"Retry-After": str(PENDING_RETRY_S)})


@parts_bp.route("/parts/<part_id>/price", methods=["POST"])
@requires("read")
@parts_bp.arguments(QuoteOptionsSchema, required=False)
@parts_bp.response(200, s.PriceSchema)
@parts_bp.alt_response(202, schema=s.PendingSchema, description="The estimate for these "
                       "options is being made; ask again after Retry-After seconds.")
def price_part(options, part_id):
    """Price a part with options (nothing is stored): price lines, totals, delivery date."""
    part = owned(Part, part_id, _("Teil"))
    result = _compute(part, _options(request.get_json(silent=True) or {}))
    db.session.rollback()  # reading only
    if result is None:
        return _pending()
    return price_json(part, result)


@parts_bp.route("/parts/<part_id>/quotes", methods=["POST"])
@writes(idempotency="optional")
@requires("write")
@parts_bp.arguments(QuoteOptionsSchema, required=False)
@parts_bp.response(201, s.QuoteSchema)
@parts_bp.alt_response(202, schema=s.PendingSchema, description="The estimate for these "
                       "options is being made; ask again after Retry-After seconds.")
@parts_bp.doc(**idempotency_doc(False))
def create_quote(options, part_id):
    """Store a quote for one part with options, picked up at the hub (a quote of several
    parts, or shipped: `POST /quotes`)."""
    part = owned(Part, part_id, _("Teil"))
    result = _compute(part, _options(request.get_json(silent=True) or {}))
    if result is None:
        return _pending()
    quote = quotes.store(part, result)
    return quote_json(quote), 201, {
        "Location": url_for("Quotes.get_quote", quote_id=quote.public_id)}


# --- quotes ---------------------------------------------------------------------------------------
def money_json(price: dict[str, Any]) -> dict[str, Any]:
    lines = []
    for line in price.get("lines") or []:
        label, detail = messages.line_texts(line)
        lines.append({"code": str(line.get("code") or ""), "label": label, "detail": detail,
                      "amount_cents": int(line.get("amount_cents") or 0),
                      "line": line.get("line")})
    return {"currency": price.get("currency", "EUR"), "net_cents": int(price["net_cents"]),
            "vat_cents": int(price["vat_cents"]), "gross_cents": int(price["gross_cents"]),
            "vat_percent": int(price.get("vat_percent", 19)), "lines": lines}


def options_json(line) -> dict[str, Any]:
    return {"material": line.material_code, "colour": line.colour, "quantity": line.quantity,
            "infill": line.infill_percent, "layer_height": line.layer_height_mm,
            "units": line.units}


def address_json(address: dict | None) -> dict[str, Any] | None:
    if not address:
        return None
    return {key: str(address.get(key) or "") for key in ("name", "street", "postcode", "city",
                                                         "country")}


def quote_json(quote: Quote) -> dict[str, Any]:
    order_id = db.session.scalar(sa.select(Order.public_id).where(Order.quote_id == quote.id))
    variants = []
    for v in quotes.variants(quote):
        variants.append({"delivery": v.delivery, "express": v.express,
                         "shippable": v.shippable, "net_cents": int(v.price["net_cents"]),
                         "gross_cents": v.gross_cents, "ready_date": v.ready_date,
                         "date": v.date, "offered": v.offered})
    return {
        "id": quote.public_id,
        "lines": [{"position": line.position, "part_id": line.part.public_id,
                   "part_name": line.part.original_name, "options": options_json(line),
                   "material_g": formatting.figure(line.material_g, 1),
                   "print_time_s": line.print_time_s, "net_cents": line.net_cents,
                   "printer_class": line.printer_class}
                  for line in quotes.lines_of(quote)],
        "delivery": quote.delivery or "pickup", "express": bool(quote.express),
        "ship_to": address_json(quote.ship_to),
        "price": money_json({**quote.breakdown, "net_cents": quote.net_cents,
                             "vat_cents": quote.vat_cents, "gross_cents": quote.gross_cents}),
        "delivery_date": quote.delivery_date, "variants": variants,
        "created_at": quote.created_at, "valid_until": quote.valid_until,
        "ordered": order_id is not None, "order_id": order_id,
    }


@quotes_bp.route("/quotes", methods=["POST"])
@writes(idempotency="optional")
@requires("write")
@quotes_bp.arguments(s.QuoteRequestSchema)
@quotes_bp.response(201, s.QuoteSchema)
@quotes_bp.alt_response(202, schema=s.PendingSchema, description="An estimate for these "
                        "options is being made; ask again after Retry-After seconds.")
@quotes_bp.doc(**idempotency_doc(False))
def create_multi_quote(body):
    """Store a quote of one or more parts (each with its own options) with a delivery: pickup
    or shipping, standard or express. The set-up fee and minimum order value apply once;
    shipping is priced by the parcels the pieces need. Order it by its id."""
    raw_lines = (request.get_json(silent=True) or {}).get("lines") or []
    items, pending = [], False
    for index, line in enumerate(body["lines"]):
        part = owned(Part, line["part_id"], _("Teil"))
        options = _options(raw_lines[index], line=index)
        result = _compute(part, options)
        pending = pending or result is None
        items.append((part, result))
    if pending:
        return _pending()
    firms = {part.firm_id for part, _result in items}
    if len(firms) != 1:
        raise Problem(422, "mixed_firms", _("Alle Teile eines Angebots müssen derselben Firma "
                                            "gehören."))
    ship_to = None
    if body["delivery"] == "shipping" and body.get("ship_to"):
        ship_to = _address(body["ship_to"])
    try:
        quote = quotes.store_lines(items[0][0].firm, items, delivery=body["delivery"],
                                   express=body["express"], ship_to=ship_to)
    except quotes.QuoteError as exc:
        raise Problem(422, "not_quotable", _(exc.message, **exc.params), field=exc.field) \
            from None
    return quote_json(quote), 201, {
        "Location": url_for("Quotes.get_quote", quote_id=quote.public_id)}


def _address(raw: dict[str, Any]) -> dict[str, str]:
    try:
        return orders.clean_address(raw)
    except orders.OrderError as exc:
        raise Problem(422, exc.code, _(exc.message), field="ship_to") from None


@quotes_bp.route("/quotes", methods=["GET"])
@requires("read")
@quotes_bp.arguments(s.ListArgs, location="query")
@quotes_bp.response(200, s.QuotePageSchema)
def list_quotes(args):
    """The firm's quotes, newest first."""
    return page(scoped(Quote, current_user), Quote.id, args, quote_json)


@quotes_bp.route("/quotes/<quote_id>", methods=["GET"])
@requires("read")
@quotes_bp.response(200, s.QuoteSchema)
def get_quote(quote_id):
    """One quote: its parts, the delivery chosen, and the price of every delivery it offers."""
    return quote_json(owned(Quote, quote_id, _("Angebot")))


@quotes_bp.route("/quotes/<quote_id>/pdf", methods=["GET"])
@requires("read")
@quotes_bp.doc(responses=PDF)
def quote_pdf(quote_id):
    """The quote as a PDF (German)."""
    quote = owned(Quote, quote_id, _("Angebot"))
    hub = _hub_for_documents()
    audit.record("export", actor=current_user, target=f"quote {quote.public_id}",
                 detail={"document": "quote_pdf", "firm_id": quote.firm_id, "via": "api"})
    db.session.commit()
    return _file(documents.confirmation_pdf(quote, hub), "application/pdf",
                 documents.filename_for(quote))


# --- orders ---------------------------------------------------------------------------------------
def order_json(order: Order) -> dict[str, Any]:
    st = orders.status(order)
    invoice = invoices.invoice_of_order(order)
    positions = {line.id: line.position for line in quotes.lines_of(order.quote)}
    by_id = {job.public_id: job for job in order.jobs}
    jobs = [{**info, "line": positions.get(by_id[info["id"]].quote_line_id, 1)}
            for info in st.jobs]
    price = order.price
    return {
        "id": order.public_id, "number": order.number, "state": st.state,
        "quote_id": order.quote.public_id, "delivery": order.delivery,
        "express": bool(order.express), "ship_to": address_json(order.ship_to),
        "reference": order.reference, "leitweg_id": order.leitweg_id,
        "terms_version": order.terms_version,
        "parcels": orders.parcels_json(order),
        "due_date": order.due_date, "created_at": order.created_at,
        "price": money_json({**price, "net_cents": order.total_net_cents,
                             "vat_cents": order.vat_cents if order.vat_cents is not None
                             else order.quote.vat_cents,
                             "gross_cents": order.total_gross_cents}),
        "lines": [{"position": x.line.position, "part_id": x.part.public_id,
                   "part_name": x.part.original_name, "options": options_json(x.line),
                   "pieces": x.counts, "progress": x.progress}
                  for x in orders.line_summaries(order)],
        "steps": [{"key": x.key, "done": x.done, "total": x.total, "current": x.current,
                   "progress": x.progress, "reason": x.reason, "at": x.at} for x in st.steps],
        "jobs": jobs, "invoice_number": invoice.number if invoice is not None else None,
    }


@orders_bp.route("/orders", methods=["POST"])
@writes(idempotency="required")
@requires("write", roles=("firm",))
@orders_bp.arguments(s.OrderRequestSchema)
@orders_bp.response(201, s.OrderSchema)
@orders_bp.doc(**idempotency_doc(True))
def place_order(body):
    """Order a quote with all its parts: pickup or shipping, standard or express (default: as
    quoted), at the price of that variant. Needs an Idempotency-Key: a retry never orders
    twice."""
    quote = owned(Quote, body["quote_id"], _("Angebot"))
    try:
        order = orders.place_order(
            quote, placed_by=current_user, channel="api", delivery=body.get("delivery"),
            express=body.get("express"), ship_to=body.get("ship_to"),
            reference=body.get("reference"), notes=body.get("notes"),
            leitweg_id=body.get("leitweg_id") or "")
    except orders.OrderError as exc:
        status = 409 if exc.code in ("already_ordered", "quote_expired") else 422
        raise Problem(status, exc.code, _(exc.message)) from None
    return order_json(order), 201, {
        "Location": url_for("Orders.get_order", order_id=order.public_id)}


@orders_bp.route("/orders", methods=["GET"])
@requires("read")
@orders_bp.arguments(s.ListArgs, location="query")
@orders_bp.response(200, s.OrderPageSchema)
def list_orders(args):
    """The firm's orders, newest first, with their status."""
    return page(scoped(Order, current_user), Order.id, args, order_json)


@orders_bp.route("/orders/<order_id>", methods=["GET"])
@requires("read")
@orders_bp.response(200, s.OrderSchema)
def get_order(order_id):
    """One order: overall state, timeline steps, pieces, invoice number once issued."""
    return order_json(owned(Order, order_id, _("Auftrag")))


@orders_bp.route("/orders/<order_id>/confirmation.pdf", methods=["GET"])
@requires("read")
@orders_bp.doc(responses=PDF)
def order_confirmation_pdf(order_id):
    """The order confirmation (PDF). 409 for a rejected order."""
    order = owned(Order, order_id, _("Auftrag"))
    if orders.is_rejected(order):
        raise Problem(409, "rejected", _("Der Auftrag wurde abgelehnt; dazu gibt es keine "
                                         "Auftragsbestätigung."))
    hub = _hub_for_documents()
    audit.record("export", actor=current_user, target=f"order {order.number or order.public_id}",
                 detail={"document": "order_pdf", "firm_id": order.firm_id, "via": "api"})
    db.session.commit()
    return _file(documents.confirmation_pdf(order.quote, hub, order), "application/pdf",
                 documents.filename_for(order.quote, order))


def _invoice(order_id: str):
    order = owned(Order, order_id, _("Auftrag"))
    invoice = invoices.invoice_of_order(order)
    if invoice is None:
        raise Problem(409, "no_invoice", _("Zu diesem Auftrag gibt es noch keine Rechnung; sie "
                                           "wird bei der Übergabe ausgestellt."))
    return invoice


def _invoice_file(order_id: str, fmt: str):
    invoice = _invoice(order_id)
    try:
        content, mimetype, name = einvoice.export(invoice, fmt)
    except invoices.InvoiceError as exc:
        raise Problem(409, exc.code, exc.text()) from None
    audit.record("export", actor=current_user, target=f"invoice {invoice.number}",
                 detail={"document": f"invoice_{fmt}", "firm_id": invoice.firm_id,
                         "via": "api"})
    db.session.commit()
    return _file(content, mimetype, name)


@orders_bp.route("/orders/<order_id>/invoice.pdf", methods=["GET"])
@requires("read")
@orders_bp.doc(responses=PDF)
def order_invoice_pdf(order_id):
    """The order's invoice as a PDF (409 `no_invoice` until it is handed over)."""
    return _invoice_file(order_id, "pdf")


@orders_bp.route("/orders/<order_id>/invoice.xml", methods=["GET"])
@requires("read")
@orders_bp.doc(responses=XML)
def order_invoice_xml(order_id):
    """The order's invoice as an e-invoice: XRechnung 3.0 (UN/CEFACT CII XML)."""
    return _invoice_file(order_id, "xrechnung")


def _hub_for_documents() -> dict:
    try:
        return settings.require_legal_details()
    except settings.MissingLegalDetailsError as exc:
        current_app.logger.error("document refused: %s", exc)
        raise Problem(503, "document_refused", exc.message()) from None


def _file(data: bytes, mimetype: str, filename: str):
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                     download_name=filename, max_age=0)


BLUEPRINTS = (account_bp, catalog_bp, parts_bp, quotes_bp, orders_bp)
