"""Issue 9, "Done when": a part that needs supports, ordered and approved, is sliced with
supports, prints on a virtual printer (a real OctoPrint server) and never reaches a technician
for a material mismatch.

The printer slices with the fast test profile (same extrusion widths and density as the
production profile, so its grams are comparable; 1000 mm/s, so its times are not): the price
lock holds the grams to the production tolerance (25 %) and the time check is relaxed. The
same part is also sliced with the production profile, whose time must be within 25 % of the
quote's as well."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from octoprint_farm import (  # noqa: F401  (fixtures)
    add_printer,
    dispatch_settings,
    dispatcher,
    farm,
    idle_farm,
    tick_until,
)
from portal_helpers import store_part
from quote_shapes import jack_stl

from marketplace.extensions import db
from marketplace.models import JobEvent, PrintJob
from marketplace.orders import operations as orders
from marketplace.quotes import operations as quotes
from printers import slicing

pytestmark = [pytest.mark.octoprint, pytest.mark.slicer, pytest.mark.commits]
SUPPORT_MARK = ";TYPE:Support material"
LOCK = 0.25  # config.Config.SLICER_DIFF_THRESHOLD, the production tolerance


@pytest.fixture(autouse=True)
def _settings(dispatch_settings):
    dispatch_settings.update(SLICER_DIFF_THRESHOLD=LOCK, SLICER_TIME_DIFF_THRESHOLD=1000.0)


def reload(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def test_a_part_that_needs_supports_is_quoted_sliced_and_printed_with_them(
        app, idle_farm, add_printer, dispatcher, make_user, runner, tmp_path):
    server = idle_farm[0]
    add_printer(server)
    firm_user = make_user("firm")
    path = tmp_path / "jack.stl"
    path.write_bytes(jack_stl())
    part = store_part(firm_user.firm, firm_user, path)
    assert part.status == "ready" and part.analysis["printable"] is True

    quote = quotes.make_quote(part, material_code="PLA", quantity=1)  # supports: auto
    assert quote.supports == "auto" and quote.with_supports is True
    assert quote.delivery_date is not None  # a printer in service takes it
    order = orders.place_order(quote, placed_by=firm_user)
    db.session.commit()
    job = order.jobs[0]
    assert job.supports is True and job.est_material_g == quote.material_g
    orders.approve_order(order, "tech@hub")
    db.session.commit()

    tick_until(dispatcher, lambda: reload(job).state == "printed", 300, "the jack printed")
    job = reload(job)
    visited = [e.to_state for e in db.session.scalars(
        sa.select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id))]
    assert "needs_attention" not in visited, visited
    assert visited[:3] == ["received", "approved", "queued"]

    # sliced with supports: the decision, the G-code and the grams agree with the quote
    assert job.slicing["supports"] is True
    gcode = slicing.gcode_path(Path(app.config["UPLOAD_DIR"]) / "gcode",
                               job.gcode_sha256).read_text()
    assert gcode.count(SUPPORT_MARK) > 10
    assert abs(job.slicer_material_g - quote.material_g) <= LOCK * quote.material_g
    # what the printer printed is that G-code, once
    info = server.file_info(job.remote_filename)
    assert info["prints"]["success"] == 1 and info["userdata"]["sha256"] == job.gcode_sha256

    shown = runner.invoke(args=["orders", "show", order.number, "--json"])
    assert shown.exit_code == 0, shown.output
    entry = json.loads(shown.output)["jobs"][0]
    assert entry["slice"] == {"material_g": job.slicer_material_g,
                              "print_time_s": job.slicer_print_time_s, "supports": True}
    assert entry["actual"]["print_time_s"] == job.actual_print_time_s >= 0
    assert reload(quote).gross_cents == quote.gross_cents  # the price stays as ordered

    # the production profile: grams and time both within the lock's tolerance
    production = slicing.slice_part(
        path, "stl", profile="mk3s-pla-0.2mm", profile_dir=app.config["SLICER_PROFILE_DIR"],
        gcode_dir=tmp_path / "gcode", layer_height_mm=quote.layer_height_mm,
        infill_percent=quote.infill_percent,
        rotation=slicing.rotation_from_analysis(part.analysis), supports=True,
        slicer_bin=app.config["PRUSA_SLICER_BIN"])
    assert abs(production.material_g - quote.material_g) <= LOCK * quote.material_g
    assert abs(production.print_time_s - quote.print_time_s) <= LOCK * quote.print_time_s
    assert db.session.scalar(sa.select(sa.func.count(PrintJob.id)).where(
        PrintJob.state == "needs_attention")) == 0
