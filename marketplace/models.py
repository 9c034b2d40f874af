"""SQLAlchemy 2 models: firms and users, parts and quotes, orders and print jobs, printers.

Money is stored as integer cents (``*_cents``), lengths in millimetres, times in seconds.
``PrintJob.state`` is written only by :mod:`marketplace.jobs`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import db


def utcnow() -> datetime:
    """Return the current time as a naive UTC datetime (portable across SQLite and PostgreSQL)."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_public_id() -> str:
    return uuid.uuid4().hex


class Firm(db.Model):
    __tablename__ = "firms"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    vat_id: Mapped[str | None] = mapped_column(sa.String(32))
    street: Mapped[str | None] = mapped_column(sa.String(200))
    postcode: Mapped[str | None] = mapped_column(sa.String(16))
    city: Mapped[str | None] = mapped_column(sa.String(100))
    country: Mapped[str] = mapped_column(sa.String(2), default="DE")
    contact_name: Mapped[str | None] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(sa.String(50))
    # invoices: where they go (else the user who ordered), and for a public customer its
    # Leitweg-ID (the buyer reference of every XRechnung; an order may name another)
    invoice_email: Mapped[str | None] = mapped_column(sa.String(254))
    leitweg_id: Mapped[str | None] = mapped_column(sa.String(50))
    # a guest's workspace (marketplace.parts.guests), not a customer: the sha256 of the key in
    # the guest's browser session, and when its parts are deleted; both None for a real firm
    guest_key_sha256: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    guest_until: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="firm")

    @property
    def is_guest(self) -> bool:
        return self.guest_key_sha256 is not None


class User(UserMixin, db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16), default="firm")  # firm|technician|admin
    firm_id: Mapped[int | None] = mapped_column(sa.ForeignKey("firms.id"))
    language: Mapped[str] = mapped_column(sa.String(2), default="de")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    firm: Mapped[Firm | None] = relationship(back_populates="users")
    # the key of the sign-in this request came with ("<session public id>.<secret>"), set by
    # marketplace.accounts.sessions; Flask-Login keeps it in the session and the remember cookie
    session_key = None  # not a column

    @property
    def is_staff(self) -> bool:
        return self.role in ("technician", "admin")

    def get_id(self) -> str:
        """What Flask-Login stores: the sign-in's key, never the bare user id."""
        return self.session_key or ""


class UserSession(db.Model):
    """One sign-in on one device: ended by signing out, a new password or the account page.

    The browser holds ``<public_id>.<secret>`` (in the session cookie and, with "keep me
    signed in", the remember cookie); only the secret's sha256 is stored here.
    """

    __tablename__ = "user_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    secret_sha256: Mapped[str] = mapped_column(sa.String(64))
    remember: Mapped[bool] = mapped_column(default=False)  # "keep me signed in"
    agent_sha256: Mapped[str] = mapped_column(sa.String(64))  # bound to the browser it began in
    user_agent: Mapped[str] = mapped_column(sa.String(255), default="")  # shown, truncated
    ip_network: Mapped[str] = mapped_column(sa.String(64), default="")  # /24 or /48, shown
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    user: Mapped[User] = relationship()


class Material(db.Model):
    """A printable material as the hub sells it (hub setting, editable by an admin)."""

    __tablename__ = "materials"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)  # PLA, PETG, ABS, TPU
    name: Mapped[str] = mapped_column(sa.String(100))
    density_g_cm3: Mapped[float] = mapped_column(sa.Float)
    price_per_kg_cents: Mapped[int] = mapped_column(sa.Integer)
    colours: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)


class Setting(db.Model):
    """Hub settings as JSON values by key (pricing rules, opening hours, ...)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LeasedWork:
    """Columns of a row that a queued task works on (see :mod:`marketplace.taskqueue`).

    ``attempts`` counts the claims, ``lease_owner``/``lease_until`` say who works on it until
    when (renewed while working), ``queued_at`` when it was last put on the queue.
    """

    attempts: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(96))
    lease_until: Mapped[datetime | None] = mapped_column()
    queued_at: Mapped[datetime | None] = mapped_column()


class Part(LeasedWork, db.Model):
    """An uploaded model file; stored under its sha256, analysed by the quote engine."""

    __tablename__ = "parts"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    original_name: Mapped[str] = mapped_column(sa.String(255))  # display only, never a path
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    file_format: Mapped[str] = mapped_column(sa.String(8))  # stl|3mf|obj
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    units: Mapped[str | None] = mapped_column(sa.String(8))  # chosen or guessed unit
    # pending|ready|error (pending: queued or being analysed)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending", index=True)
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    analysis: Mapped[dict | None] = mapped_column(sa.JSON)  # the quote engine's JSON
    # the picture of the analysed part (marketplace.parts.thumbnails): None while a task draws
    # it, "ready" (a PNG next to the viewer's mesh), "error" (the lists keep the placeholder)
    thumbnail_state: Mapped[str | None] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    firm: Mapped[Firm] = relationship()


class PartEstimate(LeasedWork, db.Model):
    """Material and print time of one piece of a part for a unit, layer height and infill.

    Made by a queued task from the mesh (``estimate`` is ``Estimate.to_record()`` at the
    engine's reference density, so it prices every material); the price box only reads it.
    ``summary`` holds the part's figures in these units (they differ from the part's own
    analysis when the firm picks other units).
    """

    __tablename__ = "part_estimates"
    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(sa.ForeignKey("parts.id"), index=True)
    units: Mapped[str] = mapped_column(sa.String(8))
    layer_height_um: Mapped[int] = mapped_column(sa.Integer)  # micrometres: 200 = 0.2 mm
    infill_percent: Mapped[int] = mapped_column(sa.Integer)
    # the printer class whose profile (catalog.PRINTER_CLASSES) it was made with; rows made
    # before classes counted were the standard profile's
    printer_class: Mapped[str] = mapped_column(sa.String(32), default="standard",
                                               server_default="standard")
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")  # pending|ready|error
    estimate: Mapped[dict | None] = mapped_column(sa.JSON)
    summary: Mapped[dict | None] = mapped_column(sa.JSON)
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    part: Mapped[Part] = relationship()

    __table_args__ = (sa.UniqueConstraint("part_id", "units", "layer_height_um",
                                          "infill_percent", "printer_class",
                                          name="uq_part_estimates_options"),)


class Quote(db.Model):
    """A priced offer of one or more parts (its ``lines``) with a delivery.

    The part, option and per-piece columns are the first line's (a single-part quote's only
    line), kept for the readers of one part; every part is in ``lines``. ``breakdown`` is
    the whole price (:meth:`OrderPrice.to_dict`), ``terms`` what the price was made with (the
    order-level rules, the delivery rules, the parcels, the ready dates: the quote is
    accepted at these while valid, whatever the hub's settings say meanwhile).
    """

    __tablename__ = "quotes"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    part_id: Mapped[int] = mapped_column(sa.ForeignKey("parts.id"))
    material_code: Mapped[str] = mapped_column(sa.String(16))
    colour: Mapped[str] = mapped_column(sa.String(32), default="any")
    quantity: Mapped[int] = mapped_column(default=1)
    infill_percent: Mapped[int] = mapped_column(default=15)
    layer_height_mm: Mapped[float] = mapped_column(sa.Float, default=0.2)
    units: Mapped[str] = mapped_column(sa.String(8), default="mm")
    # the firm's choice ("auto" | "none") and the decision it priced: printed with supports
    # (None: quoted before supports were decided)
    supports: Mapped[str] = mapped_column(sa.String(8), default="auto", server_default="auto")
    with_supports: Mapped[bool | None] = mapped_column(sa.Boolean)
    material_g: Mapped[float] = mapped_column(sa.Float)  # per piece
    print_time_s: Mapped[int] = mapped_column(sa.Integer)  # per piece
    net_cents: Mapped[int] = mapped_column(sa.Integer)
    vat_cents: Mapped[int] = mapped_column(sa.Integer)
    gross_cents: Mapped[int] = mapped_column(sa.Integer)
    breakdown: Mapped[dict] = mapped_column(sa.JSON)  # price lines, as shown to the firm
    delivery_date: Mapped[date | None] = mapped_column(sa.Date)  # for the quoted delivery
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    valid_until: Mapped[datetime | None] = mapped_column()
    delivery: Mapped[str] = mapped_column(sa.String(16), default="pickup")  # pickup|shipping
    express: Mapped[bool] = mapped_column(default=False)
    ship_to: Mapped[dict | None] = mapped_column(sa.JSON)  # name, street, postcode, city, ...
    terms: Mapped[dict | None] = mapped_column(sa.JSON)

    firm: Mapped[Firm] = relationship()
    part: Mapped[Part] = relationship()
    lines: Mapped[list[QuoteLine]] = relationship(
        back_populates="quote", order_by="QuoteLine.position", cascade="all, delete-orphan")


class QuoteLine(db.Model):
    """One part of a quote (and of the order placed from it): its options, per-piece figures
    and price lines (material, machine time, quantity discount; ``breakdown["lines"]``)."""

    __tablename__ = "quote_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(sa.ForeignKey("quotes.id", ondelete="CASCADE"),
                                          index=True)
    position: Mapped[int] = mapped_column(default=1)  # 1, 2, ... within the quote
    part_id: Mapped[int] = mapped_column(sa.ForeignKey("parts.id"), index=True)
    material_code: Mapped[str] = mapped_column(sa.String(16))
    colour: Mapped[str] = mapped_column(sa.String(32), default="any")
    quantity: Mapped[int] = mapped_column(default=1)
    infill_percent: Mapped[int] = mapped_column(default=15)
    layer_height_mm: Mapped[float] = mapped_column(sa.Float, default=0.2)
    units: Mapped[str] = mapped_column(sa.String(8), default="mm")
    # the firm's choice ("auto" | "none") and the decision it priced: printed with supports
    supports: Mapped[str] = mapped_column(sa.String(8), default="auto", server_default="auto")
    with_supports: Mapped[bool | None] = mapped_column(sa.Boolean)
    material_g: Mapped[float] = mapped_column(sa.Float)  # per piece
    print_time_s: Mapped[int] = mapped_column(sa.Integer)  # per piece
    net_cents: Mapped[int] = mapped_column(sa.Integer)  # the part's lines, before order lines
    breakdown: Mapped[dict] = mapped_column(sa.JSON)  # {"lines": [material, machine, ...]}
    bbox_mm: Mapped[list | None] = mapped_column(sa.JSON)  # one piece, as printed (parcels)
    # the printer class it was priced for (its profile, nozzle, machine rate); slicing uses
    # that class's printers. None: quoted before classes counted (the hub's default class)
    printer_class: Mapped[str | None] = mapped_column(sa.String(32))

    quote: Mapped[Quote] = relationship(back_populates="lines")
    part: Mapped[Part] = relationship()

    __table_args__ = (sa.UniqueConstraint("quote_id", "position"),)


class CartItem(db.Model):
    """A part in a firm user's cart with the options chosen for it (the options schema's
    form names: material, colour, quantity, infill, layer_height, units)."""

    __tablename__ = "cart_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    part_id: Mapped[int] = mapped_column(sa.ForeignKey("parts.id", ondelete="CASCADE"))
    options: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    part: Mapped[Part] = relationship()


class Order(db.Model):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    number: Mapped[str | None] = mapped_column(sa.String(32), unique=True)  # DH-2026-000042
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    # one order per quote (a unique index: two concurrent orders of one quote make one)
    quote_id: Mapped[int] = mapped_column(sa.ForeignKey("quotes.id"), index=True, unique=True)
    part_id: Mapped[int] = mapped_column(sa.ForeignKey("parts.id"))
    placed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(sa.String(16), default="portal")  # portal|phone|email
    delivery: Mapped[str] = mapped_column(sa.String(16), default="pickup")  # pickup|shipping
    reference: Mapped[str | None] = mapped_column(sa.String(100))  # the firm's PO number
    leitweg_id: Mapped[str | None] = mapped_column(sa.String(50))  # public customers' routing id
    # the wording of the hub's terms (AGB) in force when it was placed (settings.get_legal_texts)
    terms_version: Mapped[str | None] = mapped_column(sa.String(32))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    # the pickup date (pickup) or the delivery date (shipping)
    due_date: Mapped[date | None] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    express: Mapped[bool] = mapped_column(default=False)
    ship_to: Mapped[dict | None] = mapped_column(sa.JSON)  # the shipping address
    # the parcels it went in, once shipped: [{"carrier", "tracking_number", "shipped_on"}]
    # (orders.operations.record_parcel; the tracking address is made from the carrier's)
    parcels: Mapped[list | None] = mapped_column(sa.JSON)
    # the price ordered (quote's parts with the delivery chosen): OrderPrice.to_dict()
    net_cents: Mapped[int | None] = mapped_column(sa.Integer)
    vat_cents: Mapped[int | None] = mapped_column(sa.Integer)
    gross_cents: Mapped[int | None] = mapped_column(sa.Integer)
    breakdown: Mapped[dict | None] = mapped_column(sa.JSON)

    firm: Mapped[Firm] = relationship()
    quote: Mapped[Quote] = relationship()
    part: Mapped[Part] = relationship()  # the first line's part
    jobs: Mapped[list[PrintJob]] = relationship(back_populates="order", order_by="PrintJob.id")

    @property
    def price(self) -> dict:
        """The price ordered (older orders: their quote's)."""
        return self.breakdown or self.quote.breakdown or {}

    @property
    def total_gross_cents(self) -> int:
        return self.gross_cents if self.gross_cents is not None else self.quote.gross_cents

    @property
    def total_net_cents(self) -> int:
        return self.net_cents if self.net_cents is not None else self.quote.net_cents

    @property
    def total_vat_cents(self) -> int:
        return self.vat_cents if self.vat_cents is not None else self.quote.vat_cents


class Printer(db.Model):
    __tablename__ = "printers"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    url: Mapped[str] = mapped_column(sa.String(255))
    # the OctoPrint API key, Fernet-encrypted (marketplace.printer_keys); read it as .api_key
    api_key_encrypted: Mapped[str] = mapped_column(sa.Text)
    printer_class: Mapped[str] = mapped_column(sa.String(32), default="standard")
    build_x_mm: Mapped[float] = mapped_column(sa.Float, default=250.0)
    build_y_mm: Mapped[float] = mapped_column(sa.Float, default=210.0)
    build_z_mm: Mapped[float] = mapped_column(sa.Float, default=210.0)
    nozzle_mm: Mapped[float] = mapped_column(sa.Float, default=0.4)
    material_code: Mapped[str] = mapped_column(sa.String(16), default="PLA")
    colour: Mapped[str] = mapped_column(sa.String(32), default="Schwarz")  # catalogue entry
    slicer_profile: Mapped[str] = mapped_column(sa.String(64), default="mk3s-pla-0.2mm")
    # available|printing|bed_to_clear|maintenance|offline|unknown
    state: Mapped[str] = mapped_column(sa.String(16), default="unknown")
    state_reason: Mapped[str | None] = mapped_column(sa.Text)
    last_seen_at: Mapped[datetime | None] = mapped_column()
    last_status: Mapped[dict | None] = mapped_column(sa.JSON)  # temperatures, progress, ...
    failed_polls: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def api_key(self) -> str:
        """The plain API key (decrypted on each read; never rendered, never logged)."""
        from marketplace import printer_keys

        return printer_keys.decrypt(self.api_key_encrypted)

    @api_key.setter
    def api_key(self, plain: str) -> None:
        from marketplace import printer_keys

        self.api_key_encrypted = printer_keys.encrypt(plain)


class PrintJob(db.Model):
    """One piece to print; its life is the state machine in :mod:`marketplace.jobs`."""

    __tablename__ = "print_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    part_id: Mapped[int] = mapped_column(sa.ForeignKey("parts.id"))
    # the order line (quote line) this piece belongs to; None only for jobs of test data
    # made without lines (they belong to the order's first line)
    quote_line_id: Mapped[int | None] = mapped_column(sa.ForeignKey("quote_lines.id"),
                                                      index=True)
    copy_index: Mapped[int] = mapped_column(default=1)  # 1..quantity within its line
    state: Mapped[str] = mapped_column(sa.String(24), index=True)
    version: Mapped[int] = mapped_column(default=0)  # bumped on every transition
    priority: Mapped[int] = mapped_column(default=0)  # higher first
    due_date: Mapped[date | None] = mapped_column(sa.Date)
    material_code: Mapped[str] = mapped_column(sa.String(16))
    colour: Mapped[str] = mapped_column(sa.String(32), default="any")
    infill_percent: Mapped[int] = mapped_column(default=15)
    layer_height_mm: Mapped[float] = mapped_column(sa.Float, default=0.2)
    scale: Mapped[float] = mapped_column(sa.Float, default=1.0)  # file units -> mm
    # sliced with supports (PrusaSlicer's automatic supports) or without: the quote's decision,
    # which a technician may override before slicing (a JobEvent); None: ordered before
    # supports were decided (sliced without, as then)
    supports: Mapped[bool | None] = mapped_column(sa.Boolean)
    # the printer class the quote priced it for: sliced with the profile of that class's
    # printers; None: ordered before classes counted (the most common profile, as then)
    printer_class: Mapped[str | None] = mapped_column(sa.String(32))
    # quote's estimate vs the slicer's figures (per piece)
    est_material_g: Mapped[float | None] = mapped_column(sa.Float)
    est_print_time_s: Mapped[int | None] = mapped_column(sa.Integer)
    slicer_material_g: Mapped[float | None] = mapped_column(sa.Float)
    slicer_print_time_s: Mapped[int | None] = mapped_column(sa.Integer)
    gcode_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    # dispatch
    requested_printer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("printers.id"))
    printer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("printers.id"), index=True)
    attempt: Mapped[int] = mapped_column(default=0)
    remote_filename: Mapped[str | None] = mapped_column(sa.String(128))
    lease_owner: Mapped[str | None] = mapped_column(sa.String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    progress_percent: Mapped[float | None] = mapped_column(sa.Float)
    completion_polls: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    actual_print_time_s: Mapped[int | None] = mapped_column(sa.Integer)
    # slicer profile, nozzle, bbox_mm, layers, G-code size (set by printers.slicing)
    slicing: Mapped[dict | None] = mapped_column(sa.JSON)
    # the slicing task's claim on the job (see marketplace.taskqueue; dispatch has its own)
    slice_attempts: Mapped[int] = mapped_column(default=0)
    slice_lease_owner: Mapped[str | None] = mapped_column(sa.String(96))
    slice_lease_until: Mapped[datetime | None] = mapped_column()
    slice_queued_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    order: Mapped[Order] = relationship(back_populates="jobs")
    part: Mapped[Part] = relationship()
    printer: Mapped[Printer | None] = relationship(foreign_keys=[printer_id])
    requested_printer: Mapped[Printer | None] = relationship(foreign_keys=[requested_printer_id])
    events: Mapped[list[JobEvent]] = relationship(back_populates="job", order_by="JobEvent.id")


class JobEvent(db.Model):
    """Append-only log: who moved which job from which state to which, when and why."""

    __tablename__ = "job_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("print_jobs.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(254))  # user e-mail, "dispatcher", "system"
    from_state: Mapped[str | None] = mapped_column(sa.String(24))
    to_state: Mapped[str] = mapped_column(sa.String(24))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[dict | None] = mapped_column(sa.JSON)

    job: Mapped[PrintJob] = relationship(back_populates="events")


class DispatchAttempt(db.Model):
    """One try to put a job on a printer: claimed, uploaded, started, and how it ended."""

    __tablename__ = "dispatch_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("print_jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column()
    printer_id: Mapped[int] = mapped_column(sa.ForeignKey("printers.id"))
    remote_filename: Mapped[str] = mapped_column(sa.String(128))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_at: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()  # select+print accepted
    ended_at: Mapped[datetime | None] = mapped_column()
    # printed|cancelled|interrupted|refused|upload_failed|not_started|...
    outcome: Mapped[str | None] = mapped_column(sa.String(24))
    detail: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (sa.UniqueConstraint("job_id", "attempt"),)


class PrinterEvent(db.Model):
    """Append-only log of printer state changes: who, when, why (bed cleared, maintenance...)."""

    __tablename__ = "printer_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    printer_id: Mapped[int] = mapped_column(sa.ForeignKey("printers.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(254))
    from_state: Mapped[str | None] = mapped_column(sa.String(16))
    to_state: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.Text)


class DispatcherLease(db.Model):
    """Single-dispatcher guard where no advisory lock exists (SQLite): who holds it, until when."""

    __tablename__ = "dispatcher_leases"
    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(sa.String(128))
    expires_at: Mapped[datetime] = mapped_column()


class Notification(db.Model):
    """Outbox of e-mails, written in the same transaction as the change they report."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(255))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # what it reports ("order:approved", "password_reset"), so an order of N pieces (N jobs)
    # gets one mail per step, not N; and when the mailer may try (again): retry back-off + lease
    kind: Mapped[str | None] = mapped_column(sa.String(64))
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    next_attempt_at: Mapped[datetime | None] = mapped_column()


class AuditEvent(db.Model):
    """Append-only log of security events (sign-ins, passwords, roles, printer keys, exports)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(sa.String(32), index=True)  # see marketplace.audit
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(sa.String(254), default="")  # e-mail, "cli", "system"
    target: Mapped[str] = mapped_column(sa.String(254), default="")  # account, printer, document
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    detail: Mapped[dict | None] = mapped_column(sa.JSON)


class PendingAccount(db.Model):
    """An account that exists only once its owner follows the link mailed to the address.

    ``kind`` "signup": a firm's sign-up (firm details in ``data``, the password's hash kept
    until then); "invite": a colleague invited into ``firm_id`` by ``invited_by_id`` (the name
    in ``data``; they choose their password when they accept). The link carries
    ``<public_id>.<secret>``; only the secret's sha256 is stored.
    """

    __tablename__ = "pending_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    kind: Mapped[str] = mapped_column(sa.String(16))  # signup|invite
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    secret_sha256: Mapped[str] = mapped_column(sa.String(64))
    firm_id: Mapped[int | None] = mapped_column(sa.ForeignKey("firms.id", ondelete="CASCADE"))
    invited_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    language: Mapped[str] = mapped_column(sa.String(2), default="de")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()

    firm: Mapped[Firm | None] = relationship()
    invited_by: Mapped[User | None] = relationship()


class RateLimitCounter(db.Model):
    """A fixed-window request counter of the rate limits (see marketplace.rate_limits)."""

    __tablename__ = "rate_limit_counters"
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[float] = mapped_column(sa.Float, index=True)  # Unix time, window end


class LoginAttempt(db.Model):
    """A failed sign-in (per client IP and account), counted by the login rate limit."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    ip: Mapped[str] = mapped_column(sa.String(64), index=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# States in which a job occupies its printer. A partial unique index makes "at most one such job
# per printer" a database guarantee (the guard against one job being assigned twice).
PRINTER_BOUND_STATES = ("dispatching", "starting", "printing", "paused", "cancelling")
_bound = "state IN (" + ", ".join(f"'{s}'" for s in PRINTER_BOUND_STATES) + ")"
sa.Index(
    "uq_print_jobs_one_active_per_printer",
    PrintJob.printer_id,
    unique=True,
    sqlite_where=sa.text(_bound),
    postgresql_where=sa.text(_bound),
)


# Invoices live in their own package; imported here so every table is known wherever the
# models are (create_all, Alembic, the tests).
from marketplace.invoices.models import Invoice, InvoiceCounter, InvoiceLine  # noqa: E402,F401
from marketplace.webhooks.models import (  # noqa: E402,F401
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from marketplace.tokens.models import ApiToken, IdempotencyRecord  # noqa: E402,F401
