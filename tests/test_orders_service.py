"""Orders: numbering, one job per piece, approval, the firm's status timeline, the PDF."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from portal_helpers import pdf_text

from marketplace import jobs
from marketplace.extensions import db
from marketplace.models import Firm, JobEvent, Order, Part, Quote, utcnow
from marketplace.orders import documents
from marketplace.orders import operations as orders

LINES = {
    "currency": "EUR", "vat_percent": 19, "net_cents": 2500, "vat_cents": 475,
    "gross_cents": 2975, "net": "25.00", "vat": "4.75", "gross": "29.75",
    "lines": [
        {"code": "material", "label": "Material PLA", "detail": "3 × 12,0 g", "amount": "1.44",
         "amount_cents": 144},
        {"code": "machine", "label": "Druckzeit", "detail": "3 × 1 h 00 min", "amount": "9.00",
         "amount_cents": 900},
        {"code": "setup", "label": "Einrichtung", "amount": "5.00", "amount_cents": 500},
        {"code": "minimum", "label": "Mindermengenzuschlag", "amount": "10.56",
         "amount_cents": 1056},
    ],
}


def make_quote(quantity=3, firm=None, valid=True, **fields) -> Quote:
    firm = firm or db.session.scalar(sa.select(Firm).where(Firm.name == "Muster Maschinenbau GmbH"))
    firm = firm or Firm(name="Muster Maschinenbau GmbH", vat_id="DE123456789",
                        street="Am Sande 1", postcode="21335", city="Lüneburg")
    part = Part(firm=firm, original_name="Halter Ö.stl", sha256="a" * 64, file_format="stl",
                size_bytes=1000, status="ready", units="mm",
                analysis={"mesh": {"bbox_mm": [40.0, 30.0, 20.0], "units": "mm"}})
    quote = Quote(
        firm=firm, part=part, material_code="PLA", colour="Rot", quantity=quantity,
        infill_percent=20, layer_height_mm=0.2, units="mm", material_g=12.0, print_time_s=3600,
        net_cents=2500, vat_cents=475, gross_cents=2975, breakdown=LINES,
        delivery_date=date(2026, 12, 3),
        valid_until=utcnow() + (timedelta(days=30) if valid else timedelta(days=-1)), **fields,
    )
    db.session.add_all([firm, part, quote])
    db.session.flush()
    return quote


def test_place_order_numbers_and_creates_one_job_per_piece(app, make_user):
    user = make_user("firm")
    quote = make_quote(quantity=3)
    order = orders.place_order(quote, placed_by=user, reference="PO-77")
    db.session.commit()
    year = utcnow().year
    assert order.number == f"DH-{year}-000001"
    assert order.due_date == date(2026, 12, 3)
    assert [j.copy_index for j in order.jobs] == [1, 2, 3]
    assert {j.state for j in order.jobs} == {"received"}
    job = order.jobs[0]
    assert (job.material_code, job.colour, job.infill_percent) == ("PLA", "Rot", 20)
    assert job.est_print_time_s == 3600 and job.est_material_g == 12.0
    events = db.session.scalars(sa.select(JobEvent)).all()
    assert len(events) == 3
    assert all(e.actor == user.email and e.to_state == "received" for e in events)
    second = orders.place_order(make_quote(quantity=1, firm=quote.firm), placed_by=user)
    assert second.number == f"DH-{year}-000002"


def test_a_quote_is_ordered_once_and_not_after_it_expired(app):
    quote = make_quote()
    orders.place_order(quote, placed_by=None, channel="phone", actor="cli")
    with pytest.raises(orders.OrderError) as exc:
        orders.place_order(quote, placed_by=None)
    assert exc.value.code == "already_ordered"
    with pytest.raises(orders.OrderError) as exc:
        orders.place_order(make_quote(valid=False), placed_by=None)
    assert exc.value.code == "quote_expired"
    with pytest.raises(orders.OrderError):
        orders.place_order(make_quote(), placed_by=None, channel="fax")


def test_number_taken_concurrently_is_retried(app):
    quote = make_quote(quantity=1)
    year = utcnow().year
    real = orders.next_number
    calls = []

    def stale(y):  # first answer is a number another process already took
        calls.append(y)
        return f"DH-{year}-000001" if len(calls) == 1 else real(y)

    firm = quote.firm
    taken = make_quote(quantity=1, firm=firm)
    db.session.add(Order(firm=firm, quote=taken, part=taken.part, number=f"DH-{year}-000001"))
    db.session.flush()
    orders.next_number = stale
    try:
        order = orders.place_order(quote, placed_by=None)
    finally:
        orders.next_number = real
    assert order.number == f"DH-{year}-000002"
    assert len(calls) == 2


def test_approve_order_moves_received_jobs(app, make_user):
    tech = make_user("technician")
    order = orders.place_order(make_quote(quantity=2), placed_by=None)
    assert orders.approve_order(order, tech) == 2
    assert {j.state for j in order.jobs} == {"approved"}
    assert all(j.approved_at is not None for j in order.jobs)
    assert orders.approve_order(order, tech) == 0


def _step(status, key):
    return next(s for s in status.steps if s.key == key)


def test_timeline_follows_the_jobs(app):
    order = orders.place_order(make_quote(quantity=2), placed_by=None)
    st = orders.status(order)
    assert [s.key for s in st.steps] == ["received", "approved", "printing", "printed",
                                         "ready_for_pickup"]
    assert st.state == "received" and _step(st, "received").current
    a, b = order.jobs
    for job in (a, b):
        jobs.transition(job, "approved", actor="tech@hub")
        jobs.transition(job, "queued", actor="dispatcher")
    jobs.transition(a, "dispatching", actor="dispatcher")
    jobs.transition(a, "printing", actor="dispatcher", progress_percent=40.0)
    st = orders.status(order)
    printing = _step(st, "printing")
    assert (printing.done, printing.total, printing.progress) == (1, 2, 40.0)
    assert st.state == "queued"
    assert _step(st, "approved").complete and _step(st, "approved").current
    jobs.transition(a, "printed", actor="dispatcher")
    jobs.transition(a, "ready_for_pickup", actor="tech@hub")
    jobs.transition(b, "cancelled", actor="tech@hub", reason="Doppelt bestellt")
    st = orders.status(order)
    assert st.state == "ready_for_pickup"
    assert _step(st, "ready_for_pickup").complete
    cancelled = _step(st, "cancelled")
    assert (cancelled.done, cancelled.reason) == (1, "Doppelt bestellt")
    # picked up: the last step says so, dated by the pick-up (walk: it stayed "Abholbereit")
    jobs.transition(a, "picked_up", actor="tech@hub")
    st = orders.status(order)
    assert st.state == "picked_up" and st.steps[4].key == "picked_up"
    picked = [e.at for e in a.events if e.to_state == "picked_up"]
    assert st.steps[4].complete and st.steps[4].at == picked[0]


def test_rejected_order_shows_the_reason(app):
    order = orders.place_order(make_quote(quantity=1), placed_by=None)
    jobs.transition(order.jobs[0], "rejected", actor="tech@hub",
                    reason="Wandstärke zu gering für PLA")
    st = orders.status(order)
    assert st.state == "rejected"
    assert _step(st, "rejected").reason == "Wandstärke zu gering für PLA"


def test_shipping_order_ends_with_shipped(app):
    order = orders.place_order(make_quote(quantity=1), placed_by=None, delivery="shipping")
    assert orders.status(order).steps[-1].key == "shipped"


def test_confirmation_pdf_has_the_figures_in_german(app):
    quote = make_quote(quantity=3)
    order = orders.place_order(quote, placed_by=None, reference="PO-77")
    hub = {"name": "Druckhub Lüneburg", "street": "Bahnhofstraße 5", "postcode": "21337",
           "city": "Lüneburg", "email": "hub@example.de"}
    data = documents.confirmation_pdf(quote, hub, order)
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    for expected in (order.number, "Auftragsbestätigung", "Druckhub Lüneburg",
                     "Muster Maschinenbau GmbH", "DE123456789", "Summe netto", "25,00 €",
                     "zzgl. 19 % USt.", "4,75 €", "29,75 €", "03.12.2026",
                     "Halter Ö.stl", "PO-77", "Mindermengenzuschlag", "10,56 €"):
        assert expected in text, expected
    offer = pdf_text(documents.confirmation_pdf(quote, hub))
    assert "Angebot" in offer and order.number not in offer
    assert documents.filename_for(quote, order) == f"Auftragsbestätigung-{order.number}.pdf"




@pytest.mark.commits  # threads with sessions of their own
def test_two_concurrent_orders_of_one_quote_make_one(app):
    """The check before the insert is not enough when two requests order at the same moment: the
    unique index on orders.quote_id makes the second one fail as already ordered."""
    quote_id = make_quote(quantity=1).id
    db.session.commit()
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []

    def order_it() -> None:
        with app.app_context():
            try:
                quote = db.session.get(Quote, quote_id)
                barrier.wait()
                for attempt in range(20):  # SQLite: a writer may find the database locked
                    try:
                        orders.place_order(quote, placed_by=None)
                        db.session.commit()
                        outcomes.append("ordered")
                        return
                    except orders.OrderError as exc:
                        db.session.rollback()
                        outcomes.append(exc.code)
                        return
                    except sa.exc.OperationalError:
                        db.session.rollback()
                        threading.Event().wait(0.05 * (attempt + 1))
                outcomes.append("locked")
            except BaseException as exc:  # reported below, in the test's thread
                outcomes.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=order_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["already_ordered", "ordered"], outcomes
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Order.id))
                             .where(Order.quote_id == quote_id)) == 1


def test_a_step_all_pieces_reached_is_dated_by_the_last(app):
    """'Gedruckt (2/2)' is dated when the second piece came off the printer, not the first;
    a step only some pieces reached is dated by the first of them."""
    order = orders.place_order(make_quote(quantity=2), placed_by=None)
    a, b = order.jobs
    for job in (a, b):
        for state in ("approved", "queued", "dispatching", "printing"):
            jobs.transition(job, state, actor="dispatcher")
    jobs.transition(a, "printed", actor="dispatcher")
    jobs.transition(b, "printed", actor="dispatcher")
    events = {e.job_id: e for e in db.session.scalars(
        sa.select(JobEvent).where(JobEvent.to_state == "printed"))}
    first, last = utcnow() - timedelta(hours=2), utcnow() - timedelta(minutes=5)
    events[a.id].at, events[b.id].at = first, last
    db.session.flush()
    printed = _step(orders.status(order), "printed")
    assert printed.complete and printed.at.replace(tzinfo=None) == last.replace(tzinfo=None)
    jobs.transition(a, "ready_for_pickup", actor="tech@hub")
    ready = _step(orders.status(order), "ready_for_pickup")
    assert not ready.complete and ready.at is not None


def test_a_resume_or_a_cancelled_piece_does_not_redate_a_step(app):
    """The step is dated by when its last live piece first got there: a piece paused and
    resumed later, or a cancelled piece's events, do not move it."""
    order = orders.place_order(make_quote(quantity=3), placed_by=None)
    a, b, c = order.jobs
    for job in (a, b, c):
        for state in ("approved", "queued", "dispatching", "printing"):
            jobs.transition(job, state, actor="dispatcher")
    jobs.transition(a, "paused", actor="tech@hub")
    jobs.transition(a, "printing", actor="tech@hub")  # resumed: a second entry into printing
    jobs.transition(c, "cancelling", actor="tech@hub")
    jobs.transition(c, "cancelled", actor="dispatcher", reason="Doppelt")
    stamp = {a.id: 1, b.id: 2, c.id: 3}
    base = utcnow() - timedelta(hours=5)
    for ev in db.session.scalars(sa.select(JobEvent).where(JobEvent.to_state == "printing")):
        first = ev.id == min(e.id for e in db.session.scalars(sa.select(JobEvent).where(
            JobEvent.job_id == ev.job_id, JobEvent.to_state == "printing")))
        ev.at = base + timedelta(hours=stamp[ev.job_id] if first else 4)
    db.session.flush()
    printing = _step(orders.status(order), "printing")
    assert printing.complete
    assert printing.at.replace(tzinfo=None) == (base + timedelta(hours=2)).replace(tzinfo=None)
