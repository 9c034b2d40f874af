"""Invoices, credit notes, their lines and the number counters (SQLAlchemy 2 models).

An invoice is a snapshot: the seller's and buyer's details, every line and the totals are
copied at issue time, so a later change of the hub's settings or the firm's address changes no
issued document. Issued rows are immutable: the ORM refuses to update or delete them
(``before_flush`` below) and a database trigger refuses an UPDATE issued past the ORM. The
only correction is a credit note (``kind="credit_note"``) that references the invoice.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from marketplace.extensions import db
from marketplace.models import new_public_id, utcnow

KINDS = ("invoice", "credit_note")


class ImmutableInvoiceError(RuntimeError):
    """An issued invoice or credit note was about to be changed or deleted."""


class InvoiceCounter(db.Model):
    """The last number given in a series (``RE-2026``): one row, bumped in the issuing
    transaction, so numbers are gapless (a rollback gives the number back) and unique."""

    __tablename__ = "invoice_counters"
    series: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    last_number: Mapped[int] = mapped_column(sa.Integer, default=0)


class Invoice(db.Model):
    """An issued invoice or credit note (Stornorechnung): amounts in integer cents."""

    __tablename__ = "invoices"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)  # RE-2026-000001
    kind: Mapped[str] = mapped_column(sa.String(16), default="invoice")  # invoice|credit_note
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    # a credit note names the invoice it cancels (at most one credit note per invoice)
    corrects_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invoices.id"), unique=True)
    issue_date: Mapped[date] = mapped_column(sa.Date)
    delivery_date: Mapped[date | None] = mapped_column(sa.Date)  # the handover
    due_date: Mapped[date | None] = mapped_column(sa.Date)  # payment due
    currency: Mapped[str] = mapped_column(sa.String(3), default="EUR")
    vat_percent: Mapped[int] = mapped_column(sa.Integer)
    net_cents: Mapped[int] = mapped_column(sa.Integer)
    vat_cents: Mapped[int] = mapped_column(sa.Integer)
    gross_cents: Mapped[int] = mapped_column(sa.Integer)
    seller: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # the hub's details when issued
    buyer: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # the firm's details when issued
    order_number: Mapped[str | None] = mapped_column(sa.String(32))
    purchase_order: Mapped[str | None] = mapped_column(sa.String(100))  # the firm's PO number
    leitweg_id: Mapped[str | None] = mapped_column(sa.String(50))  # public buyers (XRechnung)
    reason: Mapped[str | None] = mapped_column(sa.Text)  # credit note: why
    issued_by: Mapped[str] = mapped_column(sa.String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position")
    corrects: Mapped[Invoice | None] = relationship(remote_side=[id])

    @property
    def is_credit_note(self) -> bool:
        return self.kind == "credit_note"


class InvoiceLine(db.Model):
    """One line: an order part (its pieces), the set-up fee or the minimum-order top-up.

    ``gross_cents`` = quantity x unit price before the line's allowance (the quantity
    discount); ``net_cents`` = ``gross_cents`` - ``allowance_cents`` (EN 16931 BT-131).
    """

    __tablename__ = "invoice_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(16))  # part|setup|minimum
    name: Mapped[str] = mapped_column(sa.String(255))
    detail: Mapped[str | None] = mapped_column(sa.Text)
    quantity: Mapped[int] = mapped_column(sa.Integer)
    unit_code: Mapped[str] = mapped_column(sa.String(8))  # UN/ECE rec 20: H87 piece, C62 one
    gross_cents: Mapped[int] = mapped_column(sa.Integer)
    allowance_cents: Mapped[int] = mapped_column(sa.Integer, default=0)
    allowance_reason: Mapped[str | None] = mapped_column(sa.String(100))
    net_cents: Mapped[int] = mapped_column(sa.Integer)
    vat_percent: Mapped[int] = mapped_column(sa.Integer)
    part_id: Mapped[int | None] = mapped_column(sa.ForeignKey("parts.id"))

    invoice: Mapped[Invoice] = relationship(back_populates="lines")

    __table_args__ = (sa.UniqueConstraint("invoice_id", "position"),)


@sa.event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, _context, _instances) -> None:
    """Issued documents are immutable: no update, no delete through the ORM."""
    for obj in list(session.dirty):
        if isinstance(obj, Invoice | InvoiceLine) and session.is_modified(obj):
            raise ImmutableInvoiceError(
                f"{type(obj).__name__} {obj.id} is issued and cannot be changed; "
                "cancel it with a credit note")
    for obj in list(session.deleted):
        if isinstance(obj, Invoice | InvoiceLine):
            raise ImmutableInvoiceError(
                f"{type(obj).__name__} {obj.id} is issued and cannot be deleted")


# The same guard in the database, for an UPDATE that bypasses the ORM. Deleting stays possible
# below the ORM (the retention period ends; the test fixtures empty the tables).
IMMUTABLE_TABLES = ("invoices", "invoice_lines")


def trigger_ddl(dialect: str, table: str, *, drop: bool = False) -> list[str]:
    """Return the statements that create (or drop) the no-update trigger of ``table``."""
    name = f"{table}_immutable"
    if dialect == "postgresql":
        if drop:
            return [f"DROP TRIGGER IF EXISTS {name} ON {table}",
                    f"DROP FUNCTION IF EXISTS {name}_fn()"]
        return [
            f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger AS $$ BEGIN "
            f"RAISE EXCEPTION 'issued {table} are immutable'; END; $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {name}_fn()",
        ]
    if dialect == "sqlite":
        if drop:
            return [f"DROP TRIGGER IF EXISTS {name}"]
        return [f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'issued {table} are immutable'); END"]
    return []


def _add_trigger(table: sa.Table, connection, **_kw) -> None:
    for statement in trigger_ddl(connection.dialect.name, table.name):
        connection.exec_driver_sql(statement)


for _table in (Invoice.__table__, InvoiceLine.__table__):
    sa.event.listen(_table, "after_create", _add_trigger)
