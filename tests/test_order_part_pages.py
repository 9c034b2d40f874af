"""Issue 11's small things: a rejected order shows no due date and has no confirmation PDF;
the firm's note is on its own order page; parts can be renamed and deleted (unless ordered)."""

from __future__ import annotations

import sqlalchemy as sa
from hub_factories import make_order
from portal_helpers import store_part

from marketplace.extensions import db
from marketplace.hubqueue import operations as hubqueue
from marketplace.models import Part, PartEstimate, Quote
from marketplace.parts import storage
from marketplace.quotes import operations as quotes


def test_rejected_order_has_no_due_date_and_no_confirmation(client, make_user, login_as):
    from datetime import date

    user = make_user("firm")
    order = make_order(user.firm, quantity=2)
    order.due_date = date(2026, 12, 24)
    order.notes = "Bitte ohne Stützstrukturen an der Sichtseite.\nDanke!"
    kept = make_order(user.firm, quantity=1)
    kept.due_date = date(2026, 12, 23)
    db.session.commit()
    login_as(user)
    page = client.get(f"/orders/{order.public_id}").get_data(True)
    assert 'id="order-due"' in page and 'id="order-pdf"' in page
    assert "Bitte ohne Stützstrukturen an der Sichtseite." in page and 'id="order-notes"' in page
    hubqueue.reject_order(order, "tech@hub.de", "Wände zu dünn")
    db.session.commit()
    page = client.get(f"/orders/{order.public_id}").get_data(True)
    assert 'id="order-due"' not in page and 'id="order-pdf"' not in page
    assert "Wände zu dünn" in page  # the reason, in the timeline
    pdf = client.get(f"/orders/{order.public_id}/pdf")
    assert pdf.status_code == 409 and "keine" in pdf.get_data(True)
    listing = client.get("/orders").get_data(True)
    assert "24.12.2026" not in listing and "23.12.2026" in listing
    assert client.get(f"/orders/{kept.public_id}/pdf").status_code == 200


def test_part_can_be_renamed_and_deleted_unless_ordered(client, make_user, login_as):
    user = make_user("firm")
    part = store_part(user.firm, user, name="teil.stl")
    twin = store_part(user.firm, user, name="teil-kopie.stl")  # same file, same sha256
    quotes.make_quote(part, material_code="PLA", colour="any", quantity=1, infill=15,
                      layer_height=0.2, units=None)
    db.session.commit()
    login_as(user)
    page = client.get(f"/parts/{part.public_id}").get_data(True)
    assert 'id="part-delete"' in page
    bad = client.post(f"/parts/{part.public_id}/rename", data={"name": "  "},
                      follow_redirects=True)
    assert "Bitte einen Namen angeben" in bad.get_data(True)
    client.post(f"/parts/{part.public_id}/rename", data={"name": "../Halter links.stl"})
    db.session.refresh(part)
    assert part.original_name == "Halter links.stl"  # no path, as for uploads
    path = storage.path_for(part.sha256)
    assert client.post(f"/parts/{part.public_id}/delete").status_code == 303
    assert db.session.get(Part, part.id) is None
    assert db.session.scalar(sa.select(sa.func.count(Quote.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(PartEstimate.id))
                             .where(PartEstimate.part_id == part.id)) == 0
    assert path.exists()  # the twin still uses the file
    client.post(f"/parts/{twin.public_id}/delete")
    assert not path.exists()  # the last part with this file is gone: so is the file

    ordered = make_order(user.firm, quantity=1)
    db.session.commit()
    page = client.get(f"/parts/{ordered.part.public_id}").get_data(True)
    assert 'id="part-delete"' not in page
    refused = client.post(f"/parts/{ordered.part.public_id}/delete", follow_redirects=True)
    assert "bestellt" in refused.get_data(True)
    assert db.session.get(Part, ordered.part_id) is not None
    other = make_user("firm")
    login_as(other)
    assert client.post(f"/parts/{ordered.part.public_id}/rename",
                       data={"name": "x.stl"}).status_code == 404


def test_a_picked_up_order_ends_with_abgeholt_and_no_ready_date(client, make_user, login_as):
    """Walk finding: after pick-up the timeline still ended at "Abholbereit" as the current
    step and the page still said "Abholbereit ab ..."."""
    from datetime import date

    from marketplace import jobs

    user = make_user("firm")
    order = make_order(user.firm, quantity=1)
    order.due_date = date(2026, 12, 24)
    db.session.commit()
    for state in ("approved", "queued", "dispatching", "printing", "printed",
                  "ready_for_pickup", "picked_up"):
        jobs.transition(order.jobs[0], state, actor="tech@hub")
    db.session.commit()
    login_as(user)
    page = client.get(f"/orders/{order.public_id}").get_data(True)
    assert 'id="order-due"' not in page and "24.12.2026" not in page
    last = page[page.rindex("<li", 0, page.index("</ol>")):page.index("</ol>")]
    assert 'data-step="picked_up"' in last and "Abgeholt" in last
