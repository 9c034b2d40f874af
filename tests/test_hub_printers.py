"""Printers page: the polled JSON board, maintenance, bed clear, add/edit, job control errors."""

import socket

import pytest
import sqlalchemy as sa

from marketplace.extensions import db
from marketplace.jobs import transition
from marketplace.models import JobEvent, Printer, utcnow
from tests.hub_factories import make_order, make_printer

KEY = "A1b2C3d4E5f6G7h8I9j0"


@pytest.fixture
def tech(client, make_user, login_as):
    login_as(make_user("technician", email="tech@hub.de"))
    return client


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _printing(printer, progress=40.0, quantity=1, **order_kw):
    order = make_order(quantity=quantity, **order_kw)
    job = order.jobs[0]
    for state in ("approved", "queued", "dispatching"):
        transition(job, state, actor="test")
    transition(job, "printing", actor="dispatcher", printer_id=printer.id,
               progress_percent=progress, remote_filename=f"dh-{job.id}.gcode")
    return job


def test_board_json_has_live_state_and_never_the_key(tech):
    p = make_printer("MK3S-A", state="printing", api_key="very-secret-api-key-123",
                     last_seen_at=utcnow(), last_status={
                         "state_text": "Printing", "temperatures": {
                             "tool0": {"actual": 214.96, "target": 215.0},
                             "bed": {"actual": 59.5, "target": 60.0}}})
    make_printer("MK3S-B", state="maintenance", state_reason="Düse tauschen")
    job = _printing(p, progress=42.5, print_time_s=7200, part_name="winkel.stl")
    db.session.commit()
    response = tech.get("/api/v1/hub/printers")
    assert response.status_code == 200
    assert "very-secret-api-key" not in response.get_data(True)
    cards = {c["name"]: c for c in response.json["printers"]}
    a = cards["MK3S-A"]
    assert a["state"] == "printing" and a["stale"] is False
    assert a["temperatures"] == [
        {"name": "bed", "label": "Bett", "actual": 59.5, "target": 60.0},
        {"name": "tool0", "label": "Düse", "actual": 215.0, "target": 215.0}]
    assert a["job"]["id"] == job.public_id and a["job"]["progress_percent"] == 42.5
    assert a["job"]["time_left_s"] == 4140  # 57.5 % of 2 h
    assert a["job"]["part"] == "winkel.stl"
    assert a["can_pause"] and a["can_cancel"] and not a["can_resume"]
    assert 'data-printer="%s"' % p.public_id in a["html"]
    b = cards["MK3S-B"]
    assert b["state_label"] == "Wartung" and b["job"] is None and b["stale"] is True
    assert response.json["summary"] == {"printing": 1, "maintenance": 1}
    # the rev changes when the printer's data changes, so the page swaps only that card
    rev = a["rev"]
    job.progress_percent = 50.0
    db.session.commit()
    again = {c["name"]: c for c in tech.get("/api/v1/hub/printers").json["printers"]}
    assert again["MK3S-A"]["rev"] != rev and again["MK3S-B"]["rev"] == b["rev"]


def test_printers_page_renders_the_same_cards(tech):
    p = make_printer("MK3S-A", state="bed_to_clear")
    db.session.commit()
    html = tech.get("/hub/printers").get_data(True)
    assert f'data-printer="{p.public_id}"' in html and "data-bed-clear" in html
    assert 'data-poll-url="/api/v1/hub/printers"' in html


def test_maintenance_on_and_off(tech):
    p = make_printer(state="available")
    db.session.commit()
    response = tech.post(f"/hub/printers/{p.public_id}/maintenance", data={"on": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Printer, p.id).state == "maintenance"
    tech.post(f"/hub/printers/{p.public_id}/maintenance", data={"on": "0"})
    db.session.expire_all()
    assert db.session.get(Printer, p.id).state == "unknown"  # the dispatcher re-reads it


def test_confirm_bed_clear(tech):
    p = make_printer(state="bed_to_clear", last_status={"state_text": "Operational"})
    idle = make_printer(state="available")
    db.session.commit()
    response = tech.post(f"/hub/printers/{p.public_id}/bed-clear", follow_redirects=True)
    assert "ist frei" in response.get_data(True)
    db.session.expire_all()
    assert db.session.get(Printer, p.id).state == "available"
    refused = tech.post(f"/hub/printers/{idle.public_id}/bed-clear", follow_redirects=True)
    assert "wartet nicht auf Räumung" in refused.get_data(True)


def test_add_and_edit_a_printer_the_key_is_write_only(tech):
    form = {"name": "MK4-01", "url": "http://127.0.0.1:5001", "api_key": KEY,
            "printer_class": "standard", "build_x_mm": "250", "build_y_mm": "210",
            "build_z_mm": "220", "nozzle_mm": "0,4", "material_code": "petg", "colour": "Blau",
            "slicer_profile": "mk3s-pla-0.2mm"}
    response = tech.post("/hub/printers/new", data=form)
    assert response.status_code == 302, response.get_data(True)
    printer = db.session.scalar(sa.select(Printer).where(Printer.name == "MK4-01"))
    assert printer.api_key == KEY and printer.material_code == "PETG"
    assert printer.build_z_mm == 220.0
    edit_page = tech.get(f"/hub/printers/{printer.public_id}/edit").get_data(True)
    assert KEY not in edit_page and 'value="MK4-01"' in edit_page
    tech.post(f"/hub/printers/{printer.public_id}/edit",
              data={**form, "api_key": "", "colour": "Weiß"})
    db.session.expire_all()
    printer = db.session.get(Printer, printer.id)
    assert printer.colour == "Weiß" and printer.api_key == KEY  # empty key keeps the old one
    # only the material's catalogue colours: PETG comes in no green
    refused = tech.post(f"/hub/printers/{printer.public_id}/edit",
                        data={**form, "api_key": "", "colour": "Grün"})
    assert refused.status_code == 400 and "gibt es für PETG im Katalog nicht" in \
        refused.get_data(True)
    db.session.expire_all()
    assert db.session.get(Printer, printer.id).colour == "Weiß"
    bad = tech.post("/hub/printers/new", data={**form, "name": "MK4-02", "api_key": "short",
                                               "build_x_mm": "-5", "url": "ftp://x"})
    assert bad.status_code == 400
    html = bad.get_data(True)
    assert "short" not in html  # the key is not echoed back
    assert html.count("field-error") >= 3
    assert db.session.scalar(sa.select(Printer).where(Printer.name == "MK4-02")) is None


def test_pause_when_the_printer_does_not_answer_is_a_message(tech):
    p = make_printer(url=f"http://127.0.0.1:{_closed_port()}", state="printing")
    job = _printing(p)
    db.session.commit()
    response = tech.post(f"/hub/printers/{p.public_id}/job/pause", follow_redirects=True)
    assert response.status_code == 200
    assert "antwortet nicht" in response.get_data(True)
    db.session.expire_all()
    assert job.state == "printing"
    assert not db.session.scalars(sa.select(JobEvent).where(JobEvent.to_state == "paused")).all()
    idle = make_printer()
    db.session.commit()
    none = tech.post(f"/hub/printers/{idle.public_id}/job/pause", follow_redirects=True)
    assert "druckt gerade keinen Auftrag" in none.get_data(True)


def test_resume_a_job_that_is_not_paused_is_refused(tech):
    p = make_printer(state="printing")
    job = _printing(p)
    db.session.commit()
    response = tech.post(f"/hub/jobs/{job.public_id}/resume", follow_redirects=True)
    assert "Nur ein pausierter Druck" in response.get_data(True)


def test_printer_form_offers_known_classes_materials_and_profiles(tech):
    html = tech.get("/hub/printers/new").get_data(True)
    select = html[html.index('id="f-printer_class"'):]
    select = select[:select.index("</select>")]
    assert ">standard</option>" in select and "<option>large</option>" in select
    assert "mk3s-pla-0.2mm</option>" in html and "<option>test-fast</option>" in html
    assert "<option>PETG</option>" in html
    old = make_printer(printer_class="fdm-standard")  # an old value stays selectable
    db.session.commit()
    edit = tech.get(f"/hub/printers/{old.public_id}/edit").get_data(True)
    assert "<option selected>fdm-standard</option>" in edit


def test_the_form_offers_catalogue_colours_and_its_default_printer_matches_petg_black(tech):
    """Issue 9: a printer added with the form's defaults and PETG picked matches a job that
    wants PETG in the catalogue's "Schwarz" (the form once said "black")."""
    from printers import matching

    page = tech.get("/hub/printers/new").get_data(True)
    assert '<optgroup label="PETG">' in page and 'value="Schwarz" selected' in page
    assert 'name="colour" type="text"' not in page  # no free text
    defaults = {k: v for k, v in _form_defaults(page).items()}
    response = tech.post("/hub/printers/new", data={
        **defaults, "name": "Default-01", "url": "http://127.0.0.1:5002", "api_key": KEY,
        "material_code": "PETG"})
    assert response.status_code == 302, response.get_data(True)
    printer = db.session.scalar(sa.select(Printer).where(Printer.name == "Default-01"))
    assert (printer.material_code, printer.colour) == ("PETG", "Schwarz")
    need = matching.JobNeed(job_id=1, material_code="PETG", colour="Schwarz",
                            nozzle_mm=printer.nozzle_mm, bbox_mm=(20, 20, 20),
                            profile=printer.slicer_profile)
    assert matching.can_print(need, matching.offer_for(printer))


def _form_defaults(page: str) -> dict[str, str]:
    """The values the new-printer form shows (inputs' values, selects' selected options)."""
    import re

    values = dict(re.findall(r'<input id="f-[^"]+" name="([^"]+)" type="(?:text|url)" '
                             r'value="([^"]*)"', page))
    for name, body in re.findall(r'<select id="f-[^"]+" name="([^"]+)"[^>]*>(.*?)</select>',
                                 page, re.S):
        chosen = re.search(r'<option(?: value="([^"]*)")? selected>([^<]*)<', body)
        if chosen:
            values[name] = chosen.group(1) or chosen.group(2)
    return values


def test_a_reason_names_the_piece_by_order_number_and_part(tech):
    """Walk: a printer card said "Auftrag B62BCDFD: Druck fertig", a short job id nobody can
    find in the queue; the card and the printer's history name the order and the piece."""
    from marketplace.printer_states import set_printer_state

    p = make_printer("MK3S-A", state="idle", last_seen_at=utcnow())
    job = _printing(p, part_name="winkel.stl")
    transition(job, "printed", actor="dispatcher", finished_at=utcnow())
    set_printer_state(p, "bed_to_clear", actor="dispatcher",
                      reason=f"job {job.public_id}: print finished")
    other = make_printer("MK3S-B", state="idle")
    set_printer_state(other, "maintenance", actor="dispatcher",
                      reason=f"job {job.public_id}: print finished")  # a job not its own
    db.session.commit()
    named = f"{job.order.number} · winkel.stl 1/1: Druck fertig"
    cards = {c["name"]: c for c in tech.get("/api/v1/hub/printers").json["printers"]}
    for name in ("MK3S-A", "MK3S-B"):
        html = cards[name]["html"]
        assert named in html and f"Auftrag {job.public_id[:8].upper()}" not in html
    history = tech.get(f"/hub/printers/{p.public_id}/edit").get_data(True)
    assert named in history.split("data-printer-history")[1]


def test_reprint_over_the_api_checks_its_cause_and_the_printer(client, make_user):
    """The hub API's reprint: a cause that is none is a 422, a printer that does not answer
    a 409 with the reason; the piece prints on (the real reprint: test_hub_control)."""
    from api_helpers import bearer, token_for

    p = make_printer(url=f"http://127.0.0.1:{_closed_port()}", state="printing")
    job = _printing(p)
    db.session.commit()
    headers = bearer(token_for(make_user("technician"), "read,write,hub"))
    url = f"/api/v1/jobs/{job.public_id}/reprint"
    bad = client.post(url, json={"cause": "gremlins"}, headers=headers)
    assert bad.status_code == 422 and "cause" in bad.get_data(True)
    refused = client.post(url, json={"cause": "adhesion"}, headers=headers)
    assert refused.status_code == 409 and refused.json["code"] == "printer_refused"
    assert "antwortet nicht" in refused.json["detail"]
    db.session.expire_all()
    assert job.state == "printing"
