"""Request and response schemas of the public API (marshmallow; flask-smorest publishes them).

The quote options are not defined here: requests take :class:`QuoteOptionsSchema` from
``marketplace.engine.options`` as it is, the one schema of the page, the API and the CLI.
"""

from __future__ import annotations

from datetime import UTC

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, post_load, validate

from marketplace.api.v1.core import PAGE_DEFAULT, PAGE_MAX
from marketplace.engine.options import QUANTITY_MAX, QuoteOptionsSchema
from marketplace.hubqueue.operations import HANDOVER_STATES, RESOLUTIONS
from marketplace.i18n import REPRINT_CAUSES
from marketplace.jobs import JobState
from marketplace.orders.operations import CARRIERS, TRACKING_NUMBER

JOB_STATES = [s.value for s in JobState]


class UtcDateTime(fields.DateTime):
    """A time in RFC 3339 with its zone: the database's naive UTC times end in "Z"."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

PART_STATES = ["pending", "ready", "error"]
MAX_LINES = 50  # parts in one quote
PRINTER_STATES = ["available", "printing", "bed_to_clear", "maintenance", "offline", "unknown"]


class ProblemSchema(Schema):
    """An error (RFC 9457 problem details)."""

    type = fields.String(required=True, metadata={"example": "urn:druckhub:problem:not_found"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    code = fields.String(required=True, metadata={"description": "Stable error code."})
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.Raw(),
                         metadata={"description": "Invalid fields and their messages."})
    field = fields.String()
    required_scope = fields.String()


class ListArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=PAGE_DEFAULT, validate=validate.Range(1, PAGE_MAX))
    cursor = fields.String(load_default=None, validate=validate.Length(max=100),
                           metadata={"description": "next_cursor of the previous page."})


class _Page(Schema):
    next_cursor = fields.String(required=True, allow_none=True)


# --- parts ----------------------------------------------------------------------------------------
class UploadSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                               "description": "STL, 3MF or OBJ file."})


class ErrorInfoSchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)


class PartSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(PART_STATES))
    format = fields.String(required=True)
    size_bytes = fields.Integer(required=True)
    units = fields.String(required=True, allow_none=True)
    created_at = UtcDateTime(required=True)
    error = fields.Nested(ErrorInfoSchema, required=True, allow_none=True)


class PartPageSchema(_Page):
    items = fields.List(fields.Nested(PartSchema), required=True)


class ProblemItemSchema(Schema):
    code = fields.String(required=True)
    severity = fields.String(required=True)
    message = fields.String(required=True)


class AnalysisSchema(Schema):
    part_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(PART_STATES))
    printable = fields.Boolean(required=True, allow_none=True)
    units = fields.String(required=True, allow_none=True)
    mesh = fields.Dict(required=True, metadata={
        "description": "Figures of the mesh in millimetres: bbox_mm, volume_mm3, area_mm2, "
                       "triangles, shells, watertight, units."})
    problems = fields.List(fields.Nested(ProblemItemSchema), required=True)
    error = fields.Nested(ErrorInfoSchema, required=True, allow_none=True)


# --- prices and quotes ----------------------------------------------------------------------------
class OptionsOutSchema(Schema):
    material = fields.String(required=True)
    colour = fields.String(required=True)
    quantity = fields.Integer(required=True)
    infill = fields.Integer(required=True)
    layer_height = fields.Float(required=True)
    units = fields.String(required=True, allow_none=True)


class PriceLineSchema(Schema):
    code = fields.String(required=True)
    label = fields.String(required=True)
    detail = fields.String(required=True)
    amount_cents = fields.Integer(required=True)
    line = fields.Integer(required=True, allow_none=True, metadata={
        "description": "The quote or order line (part) this price line belongs to; null for "
                       "the order's own lines (set-up fee, minimum, express, shipping)."})


class MoneySchema(Schema):
    currency = fields.String(required=True)
    net_cents = fields.Integer(required=True)
    vat_cents = fields.Integer(required=True)
    gross_cents = fields.Integer(required=True)
    vat_percent = fields.Integer(required=True)
    lines = fields.List(fields.Nested(PriceLineSchema), required=True)


class PriceSchema(Schema):
    part_id = fields.String(required=True)
    options = fields.Nested(OptionsOutSchema, required=True)
    units = fields.String(required=True)
    material_g = fields.Float(required=True, metadata={"description": "Per piece."})
    print_time_s = fields.Integer(required=True, metadata={"description": "Per piece."})
    price = fields.Nested(MoneySchema, required=True)
    delivery_date = fields.Date(required=True, allow_none=True)
    printer_class = fields.String(required=True, metadata={
        "description": "The printer class that prints the part and the price is for (its "
                       "slicer profile, nozzle and machine rate): the hub's default class when "
                       "one of its printers takes the part, else a class whose printers do."})
    layer_height_mm = fields.Float(required=True, metadata={
        "description": "The layer height it is printed with on that class (the default 0.2 "
                       "mm means the class's own, e.g. 0.3 mm on a 0.6 mm nozzle)."})


class PendingSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["pending"]))
    retry_after_s = fields.Integer(required=True)


class AddressSchema(Schema):
    """A shipping address (Germany only)."""

    name = fields.String(required=True, validate=validate.Length(1, 200))
    street = fields.String(required=True, validate=validate.Length(1, 200))
    postcode = fields.String(required=True, validate=validate.Length(1, 16),
                             metadata={"example": "21335"})
    city = fields.String(required=True, validate=validate.Length(1, 200))
    country = fields.String(load_default="DE", validate=validate.Length(2, 2))


class QuoteLineRequestSchema(QuoteOptionsSchema):
    """One part of a quote: its id and the quote options (the option schema itself)."""

    part_id = fields.String(required=True, validate=validate.Length(1, 32))

    @post_load
    def _options(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        part_id = data.pop("part_id")
        return {"part_id": part_id, "options": QuoteOptionsSchema._options(self, data)}


class QuoteRequestSchema(Schema):
    """A quote of one or more parts with a delivery."""

    lines = fields.List(fields.Nested(QuoteLineRequestSchema), required=True,
                        validate=validate.Length(1, MAX_LINES))
    delivery = fields.String(load_default="pickup",
                             validate=validate.OneOf(["pickup", "shipping"]))
    express = fields.Boolean(load_default=False)
    ship_to = fields.Nested(AddressSchema, load_default=None, allow_none=True, metadata={
        "description": "Shipping address (default: the firm's)."})


class QuoteLineSchema(Schema):
    position = fields.Integer(required=True)
    part_id = fields.String(required=True)
    part_name = fields.String(required=True)
    options = fields.Nested(OptionsOutSchema, required=True)
    material_g = fields.Float(required=True, metadata={"description": "Per piece."})
    print_time_s = fields.Integer(required=True, metadata={"description": "Per piece."})
    net_cents = fields.Integer(required=True, metadata={
        "description": "The part's lines (all pieces), before the order's lines."})
    printer_class = fields.String(required=True, allow_none=True, metadata={
        "description": "The printer class it was priced for (null: quoted before classes)."})


class VariantSchema(Schema):
    delivery = fields.String(required=True, validate=validate.OneOf(["pickup", "shipping"]))
    express = fields.Boolean(required=True)
    shippable = fields.Boolean(required=True)
    net_cents = fields.Integer(required=True)
    gross_cents = fields.Integer(required=True)
    ready_date = fields.Date(required=True, allow_none=True)
    date = fields.Date(required=True, allow_none=True, metadata={
        "description": "Pickup date, or the delivery date when shipped."})
    offered = fields.Boolean(required=True, metadata={
        "description": "false for express when it is not ready earlier than standard (an "
                       "order with it is refused: express_no_gain)"})


class QuoteSchema(Schema):
    id = fields.String(required=True)
    lines = fields.List(fields.Nested(QuoteLineSchema), required=True)
    delivery = fields.String(required=True)
    express = fields.Boolean(required=True)
    ship_to = fields.Nested(AddressSchema, required=True, allow_none=True)
    price = fields.Nested(MoneySchema, required=True)
    delivery_date = fields.Date(required=True, allow_none=True)
    variants = fields.List(fields.Nested(VariantSchema), required=True, metadata={
        "description": "Price and date of every delivery the quote offers (order one by "
                       "naming delivery and express)."})
    created_at = UtcDateTime(required=True)
    valid_until = UtcDateTime(required=True, allow_none=True)
    ordered = fields.Boolean(required=True)
    order_id = fields.String(required=True, allow_none=True)


class QuotePageSchema(_Page):
    items = fields.List(fields.Nested(QuoteSchema), required=True)


# --- orders ---------------------------------------------------------------------------------------
class OrderRequestSchema(Schema):
    quote_id = fields.String(required=True, validate=validate.Length(1, 32))
    delivery = fields.String(load_default=None, validate=validate.OneOf(["pickup", "shipping"]),
                             metadata={"description": "Default: the quote's."})
    express = fields.Boolean(load_default=None, metadata={"description": "Default: the quote's."})
    ship_to = fields.Nested(AddressSchema, load_default=None, allow_none=True, metadata={
        "description": "Shipping address (default: the quote's, else the firm's)."})
    reference = fields.String(load_default=None, allow_none=True,
                              validate=validate.Length(max=100),
                              metadata={"description": "Your purchase order number."})
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    leitweg_id = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(max=50),
                               metadata={"description": "Public customers' routing id "
                                                        "(default: the firm's)."})


class StepSchema(Schema):
    key = fields.String(required=True)
    done = fields.Integer(required=True)
    total = fields.Integer(required=True)
    current = fields.Boolean(required=True)
    progress = fields.Float(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    at = UtcDateTime(required=True, allow_none=True)


class OrderJobSchema(Schema):
    id = fields.String(required=True)
    piece = fields.Integer(required=True)
    line = fields.Integer(required=True)
    state = fields.String(required=True, validate=validate.OneOf(JOB_STATES))
    progress = fields.Float(required=True, allow_none=True)


class OrderLineSchema(Schema):
    position = fields.Integer(required=True)
    part_id = fields.String(required=True)
    part_name = fields.String(required=True)
    options = fields.Nested(OptionsOutSchema, required=True)
    pieces = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                         metadata={"description": "How many pieces are in each state."})
    progress = fields.Float(required=True, allow_none=True)


class ParcelSchema(Schema):
    carrier = fields.String(required=True, allow_none=True)
    tracking_number = fields.String(required=True, allow_none=True)
    tracking_url = fields.String(required=True, allow_none=True,
                                 metadata={"description": "where the parcel can be followed"})
    shipped_on = fields.Date(required=True, allow_none=True)


class OrderSchema(Schema):
    id = fields.String(required=True)
    number = fields.String(required=True, allow_none=True)
    state = fields.String(required=True, validate=validate.OneOf(JOB_STATES))
    quote_id = fields.String(required=True)
    delivery = fields.String(required=True)
    express = fields.Boolean(required=True)
    ship_to = fields.Nested(AddressSchema, required=True, allow_none=True)
    reference = fields.String(required=True, allow_none=True)
    leitweg_id = fields.String(required=True, allow_none=True)
    terms_version = fields.String(required=True, allow_none=True, metadata={
        "description": "The wording of the hub's terms (AGB) the order was placed under, "
                       "readable at /agb/{terms_version}; null while the hub has none."})
    parcels = fields.List(fields.Nested(ParcelSchema), required=True, metadata={
        "description": "the parcels it was shipped in (empty until then, and for pickup)"})
    due_date = fields.Date(required=True, allow_none=True)
    created_at = UtcDateTime(required=True)
    price = fields.Nested(MoneySchema, required=True)
    lines = fields.List(fields.Nested(OrderLineSchema), required=True)
    steps = fields.List(fields.Nested(StepSchema), required=True)
    jobs = fields.List(fields.Nested(OrderJobSchema), required=True)
    invoice_number = fields.String(required=True, allow_none=True)


class OrderPageSchema(_Page):
    items = fields.List(fields.Nested(OrderSchema), required=True)


# --- hub ------------------------------------------------------------------------------------------
class QueueArgs(ListArgs):
    tab = fields.String(load_default="approval", validate=validate.OneOf(
        ["approval", "queued", "printing", "attention", "done", "closed"]))


class JobSchema(Schema):
    id = fields.String(required=True)
    order_id = fields.String(required=True)
    order_number = fields.String(required=True, allow_none=True)
    firm = fields.String(required=True)
    part_id = fields.String(required=True)
    part_name = fields.String(required=True)
    piece = fields.Integer(required=True)
    state = fields.String(required=True, validate=validate.OneOf(JOB_STATES))
    priority = fields.Integer(required=True)
    due_date = fields.Date(required=True, allow_none=True)
    material = fields.String(required=True)
    colour = fields.String(required=True)
    printer_id = fields.String(required=True, allow_none=True)
    progress = fields.Float(required=True, allow_none=True)
    est_print_time_s = fields.Integer(required=True, allow_none=True)
    updated_at = UtcDateTime(required=True)


class JobPageSchema(_Page):
    items = fields.List(fields.Nested(JobSchema), required=True)


class RejectSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 500))


class CancelSchema(Schema):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class ActionResultSchema(Schema):
    pieces = fields.Integer(required=True)
    order = fields.Nested(OrderSchema, required=True)


class HandoverSchema(Schema):
    to = fields.String(required=True, validate=validate.OneOf(HANDOVER_STATES),
                       metadata={"description": "ready_for_pickup, shipped or picked_up"})
    carrier = fields.String(load_default=None, allow_none=True,
                            validate=validate.OneOf(list(CARRIERS)), metadata={
                                "description": "shipped: the parcel service (" + ", ".join(
                                    CARRIERS) + ")"})
    tracking_number = fields.String(load_default=None, allow_none=True,
                                    validate=validate.Regexp(TRACKING_NUMBER), metadata={
                                        "description": "shipped: the parcel's tracking number "
                                                       "(6-40 letters and digits)"})


class HandoverResultSchema(ActionResultSchema):
    invoice_number = fields.String(
        required=True, allow_none=True,
        metadata={"description": "the invoice issued by this step (the order's last piece "
                                 "picked up or shipped), else null"})


class ResolveSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(RESOLUTIONS),
                           metadata={"description": "requeue: print it again; printed: the "
                                     "piece is fine after all; failed, cancelled: give up "
                                     "(reason needed)"})
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class ReprintSchema(Schema):
    cause = fields.String(load_default="other", validate=validate.OneOf(list(REPRINT_CAUSES)),
                          metadata={"description": "why the print is stopped: "
                                    + ", ".join(REPRINT_CAUSES)})


class PrinterSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(PRINTER_STATES))
    state_reason = fields.String(required=True, allow_none=True)
    printer_class = fields.String(required=True)
    material = fields.String(required=True)
    colour = fields.String(required=True)
    build_volume_mm = fields.List(fields.Float(), required=True)
    nozzle_mm = fields.Float(required=True)
    last_seen_at = UtcDateTime(required=True, allow_none=True)
    job_id = fields.String(required=True, allow_none=True)
    progress = fields.Float(required=True, allow_none=True)
    temperatures = fields.Dict(required=True)


class PrinterPageSchema(_Page):
    items = fields.List(fields.Nested(PrinterSchema), required=True)


class MaterialSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    colours = fields.List(fields.String(), required=True)
    price_per_kg_cents = fields.Integer(required=True)
    density_g_cm3 = fields.Float(required=True)


class MaterialListSchema(Schema):
    items = fields.List(fields.Nested(MaterialSchema), required=True)
    quantity_max = fields.Integer(required=True, metadata={"example": QUANTITY_MAX})


class PricingRulesSchema(Schema):
    """The hub's pricing rules, money in euro cents net of VAT (admins only may change them;
    a PATCH sends only the fields it changes)."""

    setup_fee_cents = fields.Integer(validate=validate.Range(0, 100_000))
    machine_rate_cents_per_h = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 32)),
        values=fields.Integer(validate=validate.Range(0, 100_000)),
        metadata={"description": "Printer class -> cents per hour of print time."})
    default_printer_class = fields.String(validate=validate.Length(1, 32))
    quantity_discounts = fields.List(
        fields.Tuple((fields.Integer(validate=validate.Range(2, 1_000_000)),
                      fields.Integer(validate=validate.Range(0, 90)))),
        metadata={"description": "[minimum quantity, percent] pairs."})
    minimum_order_cents = fields.Integer(validate=validate.Range(0, 1_000_000))
    vat_percent = fields.Integer(validate=validate.Range(0, 100))
    currency = fields.String(dump_only=True)


# --- webhooks (the firm's endpoints) ----------------------------------------------------------
class WebhookRequestSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(1, 2048),
                        metadata={"example": "https://erp.example.de/druckhub/webhooks"})
    events = fields.List(fields.String(validate=validate.Length(1, 64)), required=True,
                         validate=validate.Length(1, 20),
                         metadata={"example": ["order.placed", "order.status_changed"]})
    description = fields.String(load_default="", validate=validate.Length(max=200))


class WebhookSchema(Schema):
    id = fields.String(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    description = fields.String(required=True)
    active = fields.Boolean(required=True)
    disabled_reason = fields.String(required=True, allow_none=True)
    created_at = UtcDateTime(required=True)
    last_success_at = UtcDateTime(required=True, allow_none=True)
    failing_since = UtcDateTime(required=True, allow_none=True)


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(required=True, metadata={
        "description": "whsec_... signing secret (Standard Webhooks); shown only now."})


class WebhookListSchema(Schema):
    items = fields.List(fields.Nested(WebhookSchema), required=True)
    events = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"description": "The events a firm can subscribe to."})


class SecretSchema(Schema):
    secret = fields.String(required=True)
    previous_valid_until = UtcDateTime(required=True, allow_none=True)


class WebhookDeliverySchema(Schema):
    id = fields.String(required=True)
    event = fields.String(required=True)
    message_id = fields.String(required=True)
    state = fields.String(required=True)
    last_status = fields.Integer(required=True, allow_none=True)
    last_error = fields.String(required=True, allow_none=True)
    attempts = fields.Integer(required=True)
    created_at = UtcDateTime(required=True)
    finished_at = UtcDateTime(required=True, allow_none=True)
    replay_of = fields.String(required=True, allow_none=True)


class WebhookDeliveryListSchema(Schema):
    items = fields.List(fields.Nested(WebhookDeliverySchema), required=True)


class MeSchema(Schema):
    email = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    role = fields.String(required=True, validate=validate.OneOf(["firm", "technician", "admin"]))
    firm = fields.String(required=True, allow_none=True)
    token_id = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)
    expires_at = UtcDateTime(required=True, allow_none=True)
