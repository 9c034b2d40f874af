"""The security audit log (issue 10): sign-ins, failed sign-ins, passwords, roles, printer keys
and exports are recorded, and only admins read them in the hub console."""

from __future__ import annotations

import sqlalchemy as sa
from test_orders_service import make_quote

from marketplace.extensions import db
from marketplace.models import AuditEvent
from marketplace.orders import operations as orders
from printers import admin as printer_admin

PASSWORD = "richtiges-pw-1"


def actions() -> list[tuple[str, str, str]]:
    rows = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    return [(e.action, e.actor, e.target) for e in rows]


def test_sign_ins_passwords_and_sign_outs_are_logged(client, make_user):
    make_user("firm", email="kunde@example.de", password=PASSWORD)
    client.post("/login", data={"email": "kunde@example.de", "password": "falsch-falsch"})
    client.post("/login", data={"email": "kunde@example.de", "password": PASSWORD})
    client.post("/account", data={"pw-current_password": PASSWORD,
                                  "pw-password": "neues-passwort-1",
                                  "pw-password_confirm": "neues-passwort-1"})
    client.post("/account/sessions/end-all")
    assert actions() == [
        ("login_failed", "", "kunde@example.de"),
        ("login", "kunde@example.de", "kunde@example.de"),
        ("password_changed", "kunde@example.de", "kunde@example.de"),
        ("sessions_ended", "kunde@example.de", "kunde@example.de"),
    ]
    assert db.session.scalars(sa.select(AuditEvent.ip)).first() == "127.0.0.1"


def test_cli_roles_passwords_and_printer_keys_are_logged(app, runner):
    runner.invoke(args=["create-user", "t@druckhub.de", "--role", "technician",
                        "--password", "lang-genug-1"])
    runner.invoke(args=["set-role", "t@druckhub.de", "admin"])
    runner.invoke(args=["set-password", "t@druckhub.de", "--password", "noch-laenger-1"])
    printer = printer_admin.add_printer(name="MK4-01", url="http://127.0.0.1:5001",
                                        api_key="Key_0123456789abcdef", actor="cli")
    printer_admin.update_printer(printer, {"colour": "red"}, actor="t@druckhub.de")
    printer_admin.update_printer(printer, {"api_key": "Key_fedcba9876543210"},
                                 actor="t@druckhub.de")
    db.session.commit()
    runner.invoke(args=["printers", "rotate-keys"])
    assert [a[:3] for a in actions()] == [
        ("account_created", "cli", "t@druckhub.de"),
        ("role_changed", "cli", "t@druckhub.de"),
        ("password_changed", "cli", "t@druckhub.de"),
        ("printer_key_changed", "cli", "MK4-01"),
        ("printer_key_changed", "t@druckhub.de", "MK4-01"),  # the colour change is not logged
        ("printer_keys_rotated", "cli", ""),
    ]
    role = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "role_changed")).one()
    assert role.detail == {"from": "technician", "to": "admin"}
    assert "Key_" not in str([e.detail for e in db.session.scalars(sa.select(AuditEvent))])


def test_exports_are_logged(client, make_user, login_as):
    quote = make_quote(quantity=1)
    order = orders.place_order(quote, placed_by=None)
    db.session.commit()
    login_as(make_user("firm", firm=quote.firm, email="kunde@example.de"))
    assert client.get(f"/quotes/{quote.public_id}/pdf").status_code == 200
    assert client.get(f"/orders/{order.public_id}/pdf").status_code == 200
    assert [a[0] for a in actions()] == ["export", "export"]


def test_only_admins_read_the_log(client, make_user, login_as):
    make_user("firm", email="kunde@example.de", password=PASSWORD)
    client.post("/login", data={"email": "kunde@example.de", "password": "falsch-falsch"})
    client.post("/login", data={"email": "<script>x</script>@example.de", "password": "x"})
    login_as(make_user("technician"))
    assert client.get("/hub/audit").status_code == 403
    login_as(make_user("admin"))
    page = client.get("/hub/audit")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Anmeldung fehlgeschlagen" in text and "kunde@example.de" in text
    assert "<script>x</script>" not in text  # escaped like everything else
    assert 'href="/hub/audit"' in text  # in the admin's navigation
    only = client.get("/hub/audit?action=login_failed&who=kunde").get_data(as_text=True)
    assert only.count('data-action="login_failed"') == 1
    english = client.get("/hub/audit?lang=en").get_data(as_text=True)
    assert "Failed sign-in" in english
