"""Hub console: every route for every role, and the queue's actions with their events."""

import re

import pytest
import sqlalchemy as sa

from marketplace.extensions import db
from marketplace.jobs import transition
from marketplace.models import JobEvent, PrintJob
from tests.hub_factories import make_order, make_printer


@pytest.fixture
def world(app):
    """One order awaiting approval, one printer: the ids the routes need."""
    order = make_order(quantity=2)
    printer = make_printer()
    db.session.commit()
    return {"order": order.public_id, "job": order.jobs[0].public_id,
            "printer": printer.public_id}


STAFF_GET = ["/hub/", "/hub/?tab=queued", "/hub/?tab=printing&q=x", "/hub/?tab=done",
             "/hub/?tab=closed", "/hub/?tab=attention", "/hub/jobs/{job}", "/hub/printers",
             "/hub/printers/new", "/hub/printers/{printer}/edit", "/hub/dashboard",
             "/hub/orders/{order}/reject"]
ADMIN_GET = ["/hub/settings"]
STAFF_POST = ["/hub/orders/approve", "/hub/orders/{order}/approve", "/hub/orders/{order}/reject",
              "/hub/orders/{order}/handover", "/hub/jobs/{job}/resolve",
              "/hub/orders/{order}/cancel",
              "/hub/orders/{order}/priority", "/hub/orders/{order}/printer",
              "/hub/jobs/{job}/pause", "/hub/printers/{printer}/maintenance",
              "/hub/printers/{printer}/bed-clear", "/hub/printers/{printer}/job/cancel",
              "/hub/printers/new", "/hub/printers/{printer}/edit"]
ADMIN_POST = ["/hub/settings/material", "/hub/settings/pricing", "/hub/settings/hours",
              "/hub/settings/address"]
API_GET = ["/api/v1/hub/printers", "/api/v1/hub/queue/counts"]


def _call(client, method, url, world):
    url = url.format(**world)
    return client.get(url) if method == "GET" else client.post(url, data={})


ALL = ([("GET", u) for u in STAFF_GET + ADMIN_GET] + [("POST", u) for u in STAFF_POST + ADMIN_POST])


@pytest.mark.parametrize("method,url", ALL)
def test_anonymous_is_sent_to_login(client, world, method, url):
    response = _call(client, method, url, world)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("method,url", ALL)
def test_firm_users_get_403(client, world, make_user, login_as, method, url):
    login_as(make_user("firm"))
    assert _call(client, method, url, world).status_code == 403


@pytest.mark.parametrize("method,url", [("GET", u) for u in ADMIN_GET] +
                         [("POST", u) for u in ADMIN_POST])
def test_admin_pages_are_403_for_technicians(client, world, make_user, login_as, method, url):
    login_as(make_user("technician"))
    assert _call(client, method, url, world).status_code == 403


@pytest.mark.parametrize("role", ["technician", "admin"])
@pytest.mark.parametrize("url", STAFF_GET)
def test_staff_pages_render(client, world, make_user, login_as, role, url):
    login_as(make_user(role))
    response = client.get(url.format(**world))
    assert response.status_code == 200
    assert b"secret-key" not in response.data  # the printer's API key is never rendered


def test_admin_settings_page_renders(client, world, make_user, login_as):
    login_as(make_user("admin"))
    response = client.get("/hub/settings")
    assert response.status_code == 200
    assert b'data-material="PLA"' in response.data


@pytest.mark.parametrize("url", API_GET)
def test_api_roles(client, world, make_user, login_as, url):
    anonymous = client.get(url)
    assert anonymous.status_code == 401 and anonymous.json["error"] == "unauthorized"
    login_as(make_user("firm"))
    assert client.get(url).status_code == 403
    login_as(make_user("technician"))
    response = client.get(url)
    assert response.status_code == 200 and response.is_json


def test_unknown_ids_give_404(client, world, make_user, login_as):
    login_as(make_user("technician"))
    assert client.get("/hub/jobs/nope").status_code == 404
    assert client.post("/hub/orders/nope/approve").status_code == 404
    assert client.post("/hub/printers/nope/maintenance").status_code == 404
    assert client.post(f"/hub/jobs/{world['job']}/explode").status_code == 404


# --- queue behaviour ----------------------------------------------------------------------------


def _jobs(order_public_id):
    return db.session.scalars(
        sa.select(PrintJob).join(PrintJob.order).where(
            PrintJob.order.has(public_id=order_public_id)).order_by(PrintJob.id)).all()


def test_queue_lists_orders_awaiting_approval_grouped(client, make_user, login_as):
    a = make_order(quantity=3, part_name="gehaeuse.stl")
    b = make_order(quantity=1, part_name="deckel.stl", priority=2)
    db.session.commit()
    login_as(make_user("technician"))
    html = client.get("/hub/").get_data(as_text=True)
    rows = re.findall(r'<tr data-order="([0-9a-f]+)"', html)
    assert rows == [b.public_id, a.public_id]  # higher priority first, one row per order
    assert "gehaeuse.stl" in html and re.search(r"<td class=\"num\">3\s*</td>", html)
    assert 'data-tab="approval" class="active"' in html
    assert "data-problems" not in html
    a.part.analysis = {"problems": [{"code": "open_edges", "severity": "error", "message": "x"},
                                    {"code": "thin", "severity": "warning", "message": "y"},
                                    {"code": "thin2", "severity": "warning", "message": "z"}]}
    db.session.commit()
    html = client.get("/hub/").get_data(True)
    assert "Fehler: 1" in html and "Warnungen: 2" in html


def test_approve_order_approves_every_job_and_logs_the_technician(client, make_user, login_as):
    order = make_order(quantity=3)
    db.session.commit()
    tech = make_user("technician", email="tech@hub.de")
    login_as(tech)
    response = client.post(f"/hub/orders/{order.public_id}/approve",
                           data={"next": "/hub/?tab=approval"})
    assert response.status_code == 302 and response.headers["Location"] == "/hub/?tab=approval"
    db.session.expire_all()
    jobs = _jobs(order.public_id)
    assert [j.state for j in jobs] == ["approved"] * 3
    assert all(j.approved_at is not None for j in jobs)
    events = db.session.scalars(sa.select(JobEvent).where(JobEvent.to_state == "approved")).all()
    assert len(events) == 3 and {e.actor for e in events} == {"tech@hub.de"}
    # approving again is refused with a message, not an error page
    again = client.post(f"/hub/orders/{order.public_id}/approve", follow_redirects=True)
    assert again.status_code == 200 and "wartet nicht auf Freigabe" in again.get_data(True)


def test_bulk_approve(client, make_user, login_as):
    orders = [make_order(quantity=q) for q in (1, 2, 1)]
    db.session.commit()
    login_as(make_user("technician"))
    response = client.post("/hub/orders/approve", data={
        "order": [orders[0].public_id, orders[1].public_id, "unknown"]}, follow_redirects=True)
    assert response.status_code == 200
    assert "Freigegeben – Aufträge: 2, Stück: 3." in response.get_data(True)
    db.session.expire_all()
    assert [j.state for j in _jobs(orders[1].public_id)] == ["approved", "approved"]
    assert [j.state for j in _jobs(orders[2].public_id)] == ["received"]
    empty = client.post("/hub/orders/approve", data={}, follow_redirects=True)
    assert "Keine Aufträge ausgewählt" in empty.get_data(True)


def test_reject_needs_a_reason_and_stores_it(client, make_user, login_as):
    order = make_order(quantity=2)
    db.session.commit()
    login_as(make_user("technician", email="tech@hub.de"))
    missing = client.post(f"/hub/orders/{order.public_id}/reject", data={"reason": "  "})
    assert missing.status_code == 400 and "Grund" in missing.get_data(True)
    db.session.expire_all()
    assert {j.state for j in _jobs(order.public_id)} == {"received"}
    short = client.post(f"/hub/orders/{order.public_id}/reject", data={"reason": "ab"})
    assert short.status_code == 400 and "mindestens 3 Zeichen" in short.get_data(True)
    too_long = client.post(f"/hub/orders/{order.public_id}/reject", data={"reason": "x" * 501})
    assert too_long.status_code == 400
    ok = client.post(f"/hub/orders/{order.public_id}/reject",
                     data={"reason": "Wandstärke unter 0,4 mm", "next": "https://evil.example/"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/hub/"  # no open redirect
    db.session.expire_all()
    assert {j.state for j in _jobs(order.public_id)} == {"rejected"}
    events = db.session.scalars(sa.select(JobEvent).where(JobEvent.to_state == "rejected")).all()
    assert {(e.actor, e.reason) for e in events} == {("tech@hub.de", "Wandstärke unter 0,4 mm")}


def test_priority_is_validated_and_logged(client, make_user, login_as):
    order = make_order(quantity=2)
    db.session.commit()
    login_as(make_user("technician", email="tech@hub.de"))
    bad = client.post(f"/hub/orders/{order.public_id}/priority", data={"priority": "99"},
                      follow_redirects=True)
    assert "Priorität: von -9 bis 9" in bad.get_data(True)
    client.post(f"/hub/orders/{order.public_id}/priority", data={"priority": "5"})
    db.session.expire_all()
    jobs = _jobs(order.public_id)
    assert [j.priority for j in jobs] == [5, 5]
    notes = db.session.scalars(sa.select(JobEvent).where(JobEvent.from_state == JobEvent.to_state)
                               ).all()
    assert len(notes) == 2
    assert notes[0].data == {"action": "priority", "from": 0, "to": 5}
    assert notes[0].actor == "tech@hub.de"


def test_assign_printer_and_leave_it_to_the_dispatcher(client, make_user, login_as):
    order = make_order(quantity=1, material_code="PETG", bbox_mm=(100, 100, 100))
    small = make_printer(build_x_mm=50, build_y_mm=50, build_z_mm=50)
    big = make_printer(material_code="PLA")
    db.session.commit()
    login_as(make_user("technician"))
    too_small = client.post(f"/hub/orders/{order.public_id}/printer",
                            data={"printer": small.public_id}, follow_redirects=True)
    assert "passt nicht in den Bauraum" in too_small.get_data(True)
    response = client.post(f"/hub/orders/{order.public_id}/printer",
                           data={"printer": big.public_id}, follow_redirects=True)
    html = response.get_data(True)
    assert "wartet auf den Materialwechsel" in html  # PLA loaded, PETG needed
    db.session.expire_all()
    assert _jobs(order.public_id)[0].requested_printer_id == big.id
    client.post(f"/hub/orders/{order.public_id}/printer", data={"printer": ""})
    db.session.expire_all()
    assert _jobs(order.public_id)[0].requested_printer_id is None
    unknown = client.post(f"/hub/orders/{order.public_id}/printer", data={"printer": "zzz"},
                          follow_redirects=True)
    assert "Unbekannter Drucker" in unknown.get_data(True)
    # the printer choice names the colour loaded too (walk: "PLA" alone, Weiß or Schwarz?)
    page = client.get("/hub/").get_data(True)
    assert re.search(rf'value="{big.public_id}"[^>]*>[^<]*· PLA {big.colour}<', page)


def test_filters(client, make_user, login_as):
    from tests.hub_factories import make_firm

    acme = make_firm("Acme Maschinenbau GmbH")
    make_order(acme, part_name="zahnrad.stl", material_code="PETG")
    make_order(part_name="halter.stl", material_code="PLA")
    db.session.commit()
    login_as(make_user("technician"))

    def names(query):
        return re.findall(r'title="([^"]+\.stl)"', client.get("/hub/?" + query).get_data(True))

    assert sorted(names("tab=approval")) == ["halter.stl", "zahnrad.stl"]
    assert names("material=PETG") == ["zahnrad.stl"]
    assert names("firm=Acme+Maschinenbau+GmbH") == ["zahnrad.stl"]
    assert names("q=halter") == ["halter.stl"]
    assert names("q=%25") == []  # LIKE wildcards are literal
    assert names("tab=queued") == []
    assert names("tab=bogus&state=printing") != []  # unknown tab falls back to approval


def test_tabs_count_pieces_by_state(client, make_user, login_as):
    order = make_order(quantity=2)
    transition(order.jobs[0], "approved", actor="t")
    db.session.commit()
    login_as(make_user("technician"))
    counts = client.get("/api/v1/hub/queue/counts").json["counts"]
    assert counts["approval"] == 1 and counts["queued"] == 1 and counts["done"] == 0


def test_job_page_shows_quote_vs_slicer_and_events(client, make_user, login_as):
    order = make_order(quantity=2, print_time_s=3600, material_g=20.0)
    job = order.jobs[1]
    job.slicer_print_time_s, job.slicer_material_g = 5400, 21.0
    job.part.analysis = {"mesh": {"bbox_mm": [40, 30, 20], "volume_mm3": 12000.0}, "problems": [
        {"code": "thin_wall", "severity": "warning", "message": "Wand 0,3 mm"},
        {"code": "open_edges", "severity": "error", "message": "12 offene Kanten"}]}
    db.session.commit()
    login_as(make_user("technician"))
    html = client.get(f"/hub/jobs/{job.public_id}").get_data(True)
    assert '<span id="piece">halter.stl 2/2</span>' in html
    assert html.index("12 offene Kanten") < html.index("Wand 0,3 mm")  # errors first
    assert re.search(r'data-figure="print_time_s".*?class="num flag">\+50 %', html, re.S)
    assert re.search(r'data-figure="material_g".*?class="num">\+5 %', html, re.S)
    assert "12,00 cm³" in html
    # the part's history: both pieces' creation is one row, not a row per piece
    assert 'data-pieces="2"' in html and "alle 2" in html


def test_console_in_english(client, world, make_user, login_as):
    login_as(make_user("technician"))
    html = client.get("/hub/?lang=en").get_data(True)
    assert "Approve selected" in html and "Awaiting" not in html
    assert 'data-tab="approval" class="active"' in html and ">Approval<" in html
    printers = client.get("/hub/printers").get_data(True)  # the choice is remembered
    assert "Add printer" in printers and "Ready" in printers


def _to(job, *states, **fields):
    for state in states:
        transition(job, state, actor="dispatcher", **(fields if state == states[-1] else {}))


def test_needs_attention_is_resolved_by_a_technician(client, make_user, login_as):
    printer = make_printer()
    order = make_order(quantity=4)
    a, b, c, d = order.jobs
    for job in (a, b, c, d):
        _to(job, "approved", "queued", "dispatching")
        _to(job, "needs_attention")
    b.gcode_sha256 = "f" * 64
    db.session.commit()
    login_as(make_user("technician", email="tech@hub.de"))
    page = client.get(f"/hub/jobs/{a.public_id}").get_data(True)
    assert "data-resolve" in page and "Entscheidung nötig" in page
    assert client.post(f"/hub/jobs/{a.public_id}/resolve",
                       data={"action": "requeue"}).status_code == 302
    client.post(f"/hub/jobs/{b.public_id}/resolve", data={"action": "requeue"})
    client.post(f"/hub/jobs/{c.public_id}/resolve", data={"action": "printed"})
    no_reason = client.post(f"/hub/jobs/{d.public_id}/resolve", data={"action": "failed"},
                            follow_redirects=True)
    assert "Bitte einen Grund angeben" in no_reason.get_data(True)
    client.post(f"/hub/jobs/{d.public_id}/resolve",
                data={"action": "failed", "reason": "Warping, Teil gelöst"})
    db.session.expire_all()
    states = {j.copy_index: (j.state, j.printer_id) for j in _jobs(order.public_id)}
    # without G-code the job is sliced again; with it, it goes straight back to the queue
    assert states == {1: ("approved", None), 2: ("queued", None), 3: ("printed", None),
                      4: ("failed", None)}
    event = db.session.scalar(sa.select(JobEvent).where(JobEvent.to_state == "failed"))
    assert (event.actor, event.reason) == ("tech@hub.de", "Warping, Teil gelöst")
    again = client.post(f"/hub/jobs/{d.public_id}/resolve", data={"action": "requeue"},
                        follow_redirects=True)
    assert "wartet nicht auf eine Entscheidung" in again.get_data(True)
    assert printer.id  # the printer row exists; no job holds it any more


def test_handover_says_which_pieces_still_lie_on_a_printer(client, make_user, login_as):
    """Walk: an order was marked shipped while its part still lay on a printer whose bed
    nobody had cleared; the handover row and its confirmation now say so."""
    from marketplace.models import utcnow

    printer = make_printer(name="Demo-MK3S-1", state="bed_to_clear")
    order = make_order(quantity=1)
    order.delivery = "shipping"
    job = order.jobs[0]
    _to(job, "approved", "queued", "dispatching", "printing", "printed")
    job.printer, job.finished_at = printer, utcnow()
    other = make_order(quantity=1)  # printed on a printer whose bed is free again
    _to(other.jobs[0], "approved", "queued", "dispatching", "printing", "printed")
    other.jobs[0].printer, other.jobs[0].finished_at = make_printer(), utcnow()
    db.session.commit()
    login_as(make_user("technician"))
    html = client.get("/hub/?tab=done").get_data(True)
    row = html.split(f'data-number="{order.number}"')[1].split("</tr>")[0]
    assert "Liegt noch auf Demo-MK3S-1" in row
    shipped = re.search(r'data-handover="shipped"([^>]*)>', row).group(1)
    assert "Laut Drucker liegt ein Teil noch auf Demo-MK3S-1." in shipped
    clear = html.split(f'data-number="{other.number}"')[1].split("</tr>")[0]
    assert "Liegt noch auf" not in clear and "data-on-bed" not in clear


def test_shipping_records_the_carrier_and_tracking_number_for_the_firm(client, make_user,
                                                                       login_as):
    """Walk: no field for a tracking number, and the order page dropped the date once
    shipped. The technician enters carrier and number at "Als versendet melden"; the firm's
    order page, its mail and the API say them, with the carrier's tracking address."""
    from api_helpers import bearer, token_for
    from invoice_helpers import complete_legal_details

    from marketplace.models import Notification

    complete_legal_details()
    firm_user = make_user("firm")
    order = make_order(firm_user.firm, quantity=1)
    order.delivery = "shipping"
    _to(order.jobs[0], "approved", "queued", "dispatching", "printing", "printed")
    db.session.commit()
    tech = make_user("technician")
    login_as(tech)
    html = client.get("/hub/?tab=done").get_data(True)
    row = html.split(f'data-number="{order.number}"')[1].split("</tr>")[0]
    assert "data-carrier" in row and "data-tracking" in row and ">DHL<" in row
    bad = client.post(f"/hub/orders/{order.public_id}/handover", follow_redirects=True,
                      data={"to": "shipped", "carrier": "DHL", "tracking_number": "12-34"})
    assert "Sendungsnummer hat 6 bis 40" in bad.get_data(True)
    db.session.expire_all()
    assert _jobs(order.public_id)[0].state == "printed" and not order.parcels
    done = client.post(f"/hub/orders/{order.public_id}/handover",
                       data={"to": "shipped", "carrier": "DHL",
                             "tracking_number": "0034 0434 1234 5678 90"})
    assert done.status_code == 302
    db.session.expire_all()
    assert _jobs(order.public_id)[0].state == "shipped"
    [parcel] = order.parcels
    assert parcel["carrier"] == "DHL" and parcel["tracking_number"] == "003404341234567890"
    url = ("https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode="
           "003404341234567890")
    mail = db.session.scalars(sa.select(Notification).where(
        Notification.kind == "order:shipped")).one()
    assert "003404341234567890 (DHL)" in mail.body and url in mail.body
    login_as(firm_user)
    page = client.get(f"/orders/{order.public_id}").get_data(True)
    shipment = page.split('id="order-parcels">')[1].split("</dd>")[0]
    assert "mit DHL" in shipment and "003404341234567890" in shipment and url in shipment
    api = client.get(f"/api/v1/orders/{order.public_id}",
                     headers=bearer(token_for(firm_user, "read"))).get_json()
    [parcel] = api["parcels"]
    assert parcel["tracking_url"] == url and parcel["carrier"] == "DHL" and parcel["shipped_on"]


def test_an_order_shipped_in_two_parcels_keeps_both_numbers(client, make_user, login_as):
    """Review: the second parcel's number overwrote the first's."""
    order = make_order(quantity=2)
    order.delivery = "shipping"
    first, second = order.jobs
    _to(first, "approved", "queued", "dispatching", "printing", "printed")
    _to(second, "approved", "queued", "dispatching", "printing")
    db.session.commit()
    login_as(make_user("technician"))
    client.post(f"/hub/orders/{order.public_id}/handover",
                data={"to": "shipped", "carrier": "DPD", "tracking_number": "01234567890123"})
    _to(second, "printed")
    db.session.commit()
    client.post(f"/hub/orders/{order.public_id}/handover",
                data={"to": "shipped", "carrier": "DHL", "tracking_number": "JJD000390007"})
    db.session.expire_all()
    assert [(p["carrier"], p["tracking_number"]) for p in order.parcels] == [
        ("DPD", "01234567890123"), ("DHL", "JJD000390007")]
    assert [j.state for j in _jobs(order.public_id)] == ["shipped", "shipped"]
    # nothing left to ship: no parcel is recorded for a refused step
    client.post(f"/hub/orders/{order.public_id}/handover",
                data={"to": "shipped", "carrier": "UPS", "tracking_number": "1Z999AA10123456784"})
    db.session.expire_all()
    assert len(order.parcels) == 2


def test_the_api_hands_over_with_a_tracking_number(client, make_user):
    from api_helpers import bearer, token_for
    from invoice_helpers import complete_legal_details

    complete_legal_details()
    order = make_order(quantity=1)
    order.delivery = "shipping"
    _to(order.jobs[0], "approved", "queued", "dispatching", "printing", "printed")
    db.session.commit()
    hub = bearer(token_for(make_user("technician"), "read,write,hub"))
    for body in ({"carrier": "Brieftaube"}, {"carrier": "DHL", "tracking_number": "12-34"}):
        wrong = client.post(f"/api/v1/orders/{order.public_id}/handover", headers=hub,
                            json={"to": "shipped", **body})
        assert wrong.status_code == 422, body  # the body's fault, named: not a 409
    sent = client.post(f"/api/v1/orders/{order.public_id}/handover", headers=hub,
                       json={"to": "shipped", "carrier": "GLS", "tracking_number": "ZW4711XY"})
    assert sent.status_code == 200, sent.get_json()
    [parcel] = sent.get_json()["order"]["parcels"]
    assert parcel["carrier"] == "GLS" and parcel["tracking_number"] == "ZW4711XY"
    assert parcel["tracking_url"].endswith("match=ZW4711XY")


def test_hand_over_finished_orders(client, make_user, login_as):
    order = make_order(quantity=2)
    for job in order.jobs:
        _to(job, "approved", "queued", "dispatching", "printing", "printed")
    shipped = make_order(quantity=1)
    shipped.delivery = "shipping"
    _to(shipped.jobs[0], "approved", "queued", "dispatching", "printing", "printed")
    db.session.commit()
    login_as(make_user("technician"))
    html = client.get("/hub/?tab=done").get_data(True)
    assert 'data-handover="ready_for_pickup"' in html and 'data-handover="shipped"' in html
    # the buttons say what they do (walk finding: they read "Versendet", a state)
    shipped_button = re.search(r'data-handover="shipped"([^>]*)>Als versendet melden</button>',
                               html)
    assert shipped_button and "data-confirm=" in shipped_button.group(1)  # it issues the invoice
    assert shipped.number in shipped_button.group(1) and "Rechnung" in shipped_button.group(1)
    assert 'data-handover="ready_for_pickup">Abholbereit melden</button>' in html
    client.post(f"/hub/orders/{order.public_id}/handover", data={"to": "ready_for_pickup"})
    client.post(f"/hub/orders/{shipped.public_id}/handover", data={"to": "shipped"})
    db.session.expire_all()
    assert [j.state for j in _jobs(order.public_id)] == ["ready_for_pickup"] * 2
    assert [j.state for j in _jobs(shipped.public_id)] == ["shipped"]
    assert 'data-handover="picked_up"' in client.get("/hub/?tab=done").get_data(True)
    client.post(f"/hub/orders/{order.public_id}/handover", data={"to": "picked_up"})
    db.session.expire_all()
    assert [j.state for j in _jobs(order.public_id)] == ["picked_up"] * 2
    bad = client.post(f"/hub/orders/{order.public_id}/handover", data={"to": "printing"},
                      follow_redirects=True)
    assert "Unbekannter Schritt" in bad.get_data(True)
    nothing = client.post(f"/hub/orders/{order.public_id}/handover", data={"to": "shipped"},
                          follow_redirects=True)
    assert "kann diesen Schritt" in nothing.get_data(True)


def test_cancel_order_keeps_pieces_on_a_printer(client, make_user, login_as):
    printer = make_printer()
    order = make_order(quantity=3)
    a, b, c = order.jobs
    _to(a, "approved", "queued", "dispatching")
    _to(a, "printing", printer_id=printer.id)
    _to(b, "approved")
    db.session.commit()
    login_as(make_user("technician", email="tech@hub.de"))
    page = client.get(f"/hub/jobs/{b.public_id}").get_data(True)
    assert "data-cancel-order" in page
    missing = client.post(f"/hub/orders/{order.public_id}/cancel", data={"reason": ""},
                          follow_redirects=True)
    assert "Bitte einen Grund angeben" in missing.get_data(True)
    client.post(f"/hub/orders/{order.public_id}/cancel", data={"reason": "Firma hat angerufen"})
    db.session.expire_all()
    assert [j.state for j in _jobs(order.public_id)] == ["printing", "cancelled", "cancelled"]
    reasons = {e.reason for e in db.session.scalars(
        sa.select(JobEvent).where(JobEvent.to_state == "cancelled"))}
    assert reasons == {"Firma hat angerufen"}


def test_polling_does_not_send_the_session_back(client, make_user):
    """A poll answering with an old session cookie would bring popped flash messages back."""
    make_user("technician", email="poll@hub.de", password="pw-12345678")
    login = client.post("/login", data={"email": "poll@hub.de", "password": "pw-12345678"})
    assert login.status_code == 302
    for url in ("/api/v1/hub/queue/counts", "/api/v1/hub/printers"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers.getlist("Set-Cookie") == []


def test_a_row_names_the_parts_and_colours_of_its_own_pieces(client, make_user, login_as):
    """An order of two parts in two colours (walk: the row said only "PLA Schwarz", and its
    "needs attention" row named the first part, not the one that needed it)."""
    from marketplace.models import Part

    order = make_order(part_name="x_carriage.stl", colour="Schwarz")
    cube = Part(firm=order.firm, original_name="cube.stl", sha256="c" * 64, file_format="stl",
                size_bytes=99, status="ready",
                analysis={"problems": [{"severity": "warning", "code": "not_watertight"}]})
    db.session.add(cube)
    db.session.flush()
    second = PrintJob(order=order, part=cube, copy_index=1, material_code="PLA", colour="Weiß",
                      est_material_g=5.0, est_print_time_s=600, state="received")
    db.session.add(second)
    db.session.commit()
    login_as(make_user("technician"))
    approval = client.get("/hub/?tab=approval").get_data(True)
    row = approval.split(f'data-number="{order.number}"')[1].split("</tr>")[0]
    materials = row.split("data-materials>")[1].split("</td>")[0]
    assert "Schwarz" in materials and "Weiß" in materials
    assert "x_carriage.stl" in row and "+ 1 weitere" in row
    _to(order.jobs[0], "approved")
    _to(second, "approved")
    transition(second, "needs_attention", actor="dispatcher",
               reason="print cancelled or failed at the printer")
    db.session.commit()
    attention = client.get("/hub/?tab=attention").get_data(True)
    row = attention.split(f'data-number="{order.number}"')[1].split("</tr>")[0]
    assert "cube.stl" in row and "x_carriage.stl" not in row and "weitere" not in row
    materials = row.split("data-materials>")[1].split("</td>")[0]
    assert "Weiß" in materials and "Schwarz" not in materials
    assert "Warnungen: 1" in row  # the cube's analysis, not the first part's


def test_attention_and_closed_tabs_show_the_reason(client, make_user, login_as):
    stuck = make_order(quantity=1)
    _to(stuck.jobs[0], "approved")
    # the price lock's event as preparing.py records it: only the grams are off
    transition(stuck.jobs[0], "needs_attention", actor="dispatcher",
               reason="slicer differs from the quote: material 79% (quote 6.23 g, slicer "
                      "1.31 g, tolerance 25%)",
               data={"slicer_material_g": 1.31, "slicer_print_time_s": 2000,
                     "est_material_g": 6.23, "est_print_time_s": 2139,
                     "tolerance_material": 0.25, "tolerance_time": 0.25, "off": ["material"]})
    old = make_order(quantity=1)  # an event of an earlier version: its words as stored
    _to(old.jobs[0], "approved")
    transition(old.jobs[0], "needs_attention", actor="dispatcher",
               reason="slicer differs from the quote by more than 25%: time 41%")
    rejected = make_order(quantity=1)
    transition(rejected.jobs[0], "rejected", actor="tech@hub.de", reason="Wand zu dünn")
    failed = make_order(quantity=1)
    _to(failed.jobs[0], "approved")
    transition(failed.jobs[0], "needs_attention", actor="dispatcher",
               reason="print cancelled or failed at the printer")
    db.session.commit()
    login_as(make_user("technician"))
    attention = client.get("/hub/?tab=attention").get_data(True).replace("\xa0", " ")
    assert "data-reasons" in attention
    assert ("Der Slicer weicht vom Angebot ab: Material 1,3 g statt 6,2 g (−79 %) "
            "(erlaubt: ±25 %).") in attention
    assert "Druckzeit" not in attention.split("Der Slicer weicht")[1].split("</td>")[0]
    assert "time 41%" in attention
    assert "Druck am Drucker abgebrochen oder fehlgeschlagen" in attention  # not in English
    job_page = client.get(f"/hub/jobs/{stuck.jobs[0].public_id}").get_data(True)
    assert "Material 1,3\xa0g statt 6,2\xa0g (−79\xa0%)" in job_page
    english = client.get("/hub/?tab=attention&lang=en").get_data(True).replace("\xa0", " ")
    assert "The slicer differs from the quote: material 1.3 g instead of 6.2 g (−79%)" in english
    closed = client.get("/hub/?tab=closed").get_data(True)
    assert "Wand zu dünn" in closed


@pytest.mark.parametrize("url", STAFF_POST + ADMIN_POST)
def test_empty_or_bad_posts_never_fail_with_500(client, world, make_user, login_as, url):
    login_as(make_user("admin"))
    for data in ({}, {"priority": "x", "printer": "nope", "to": "x", "action": "x",
                      "order": ["x"], "reason": "", "on": "maybe", "code": "?" * 40,
                      "build_x_mm": "abc", "api_key": "k"}):
        response = client.post(url.format(**world), data=data)
        assert response.status_code in (200, 302, 400, 404), (url, data, response.status_code)


def test_the_carrier_shipped_with_last_is_offered_first(client, make_user, login_as):
    """Walk: a hub that ships everything with one service chose it anew for every order."""
    shipped, waiting = make_order(quantity=1), make_order(quantity=1)
    for order in (shipped, waiting):
        order.delivery = "shipping"
        _to(order.jobs[0], "approved", "queued", "dispatching", "printing", "printed")
    db.session.commit()
    login_as(make_user("technician"))

    def carrier_select(order):
        html = client.get("/hub/?tab=done").get_data(True)
        row = html.split(f'data-number="{order.number}"')[1].split("</tr>")[0]
        return row.split("data-carrier")[1].split("</select>")[0]

    assert "selected" not in carrier_select(shipped)
    client.post(f"/hub/orders/{shipped.public_id}/handover",
                data={"to": "shipped", "carrier": "GLS", "tracking_number": "ZX1234567"})
    assert _jobs(shipped.public_id)[0].state == "shipped"
    select = carrier_select(waiting)
    assert '<option value="GLS" selected>' in select and select.count("selected") == 1
