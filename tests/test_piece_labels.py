"""Each piece of an order has a label of its own on the printers page and the job page: the
part's name and the piece's index within its order line ("Gurthalter.stl 1/2"), not the line's
copy index over the order's total (two different pieces both read "DH-… · 1/3")."""

from __future__ import annotations

import re

from portal_helpers import store_part

from marketplace.extensions import db
from marketplace.jobs import piece_label, transition
from marketplace.orders import operations as orders
from marketplace.quotes import operations as quotes
from marketplace.settings import operations as settings
from tests.hub_factories import make_printer


def _line(part, quantity):
    """A quote line of ``quantity`` pieces of ``part`` in PLA, as the cart makes it."""
    wanted = quotes.parse_options({"material": "PLA", "quantity": quantity},
                                  settings.get_materials())
    try:
        return part, quotes.compute(part, wanted)
    except quotes.EstimatePendingError:  # immediate mode: the commit makes the estimate
        db.session.commit()
        return part, quotes.compute(part, wanted)


def _print_on(job, printer):
    for state in ("approved", "queued", "dispatching"):
        transition(job, state, actor="test")
    transition(job, "printing", actor="dispatcher", printer_id=printer.id,
               progress_percent=10.0, remote_filename=f"dh-{job.id}.gcode")


def test_pieces_of_a_two_line_order_have_distinct_labels(client, make_user, login_as):
    firm = make_user("firm")
    holder = store_part(firm.firm, firm, name="Gurthalter.stl")
    block = store_part(firm.firm, firm, name="Winkelblock.stl")
    first, second = make_printer("MK3S-A"), make_printer("MK3S-B")
    db.session.commit()
    quote = quotes.store_lines(firm.firm, [_line(holder, 2), _line(block, 1)])
    order = orders.place_order(quote, placed_by=firm)
    db.session.commit()
    jobs = order.jobs
    assert [j.copy_index for j in jobs] == [1, 2, 1]
    assert [piece_label(j) for j in jobs] == [
        "Gurthalter.stl 1/2", "Gurthalter.stl 2/2", "Winkelblock.stl 1/1"]
    _print_on(jobs[0], first)
    _print_on(jobs[2], second)
    db.session.commit()

    login_as(make_user("technician"))
    page = client.get("/hub/printers").get_data(as_text=True)
    labels = re.findall(r'data-field="piece">([^<]*)<', page)
    assert sorted(labels) == ["Gurthalter.stl 1/2", "Winkelblock.stl 1/1"]
    assert f"{order.number} · 1/3" not in page
    board = client.get("/api/v1/hub/printers").get_json()
    by_name = {p["name"]: p for p in board["printers"]}
    assert "Winkelblock.stl 1/1" in by_name["MK3S-B"]["html"]

    job_page = client.get(f"/hub/jobs/{jobs[1].public_id}").get_data(as_text=True)
    assert re.search(r'<span id="piece">Gurthalter.stl 2/2</span>', job_page)
    assert re.findall(r"data-piece>([^<]*)<", job_page) == [
        "Gurthalter.stl 1/2", "Gurthalter.stl 2/2", "Winkelblock.stl 1/1"]
