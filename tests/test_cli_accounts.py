"""`flask create-user` and `flask seed-demo`."""

from __future__ import annotations

import sqlalchemy as sa
from werkzeug.security import check_password_hash

from marketplace.extensions import db
from marketplace.models import Firm, Material, User


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def user(email: str) -> User:
    return db.session.execute(sa.select(User).where(User.email == email)).scalar_one()


def test_create_technician_with_password(runner):
    result = runner.invoke(args=["create-user", "Tech@Druckhub.de", "--role", "technician",
                                 "--password", "lang-genug-1"])
    assert result.exit_code == 0, result.output
    assert "user created: tech@druckhub.de (technician)" in result.output
    tech = user("tech@druckhub.de")
    assert tech.role == "technician" and tech.firm is None
    assert check_password_hash(tech.password_hash, "lang-genug-1")


def test_create_firm_user_creates_the_firm_once(runner):
    first = runner.invoke(args=["create-user", "a@werkstatt.de", "--role", "firm", "--firm",
                                "Werkstatt Meyer KG", "--password", "lang-genug-1"])
    assert first.exit_code == 0, first.output
    assert "firm created: Werkstatt Meyer KG" in first.output
    second = runner.invoke(args=["create-user", "b@werkstatt.de", "--role", "firm", "--firm",
                                 "werkstatt meyer kg", "--password", "lang-genug-2"])
    assert second.exit_code == 0, second.output
    assert "firm created" not in second.output
    assert count(Firm) == 1
    assert user("a@werkstatt.de").firm_id == user("b@werkstatt.de").firm_id


def test_password_is_prompted_when_left_out(runner):
    result = runner.invoke(args=["create-user", "admin2@druckhub.de", "--role", "admin"],
                           input="geheim-genug-9\ngeheim-genug-9\n")
    assert result.exit_code == 0, result.output
    assert check_password_hash(user("admin2@druckhub.de").password_hash, "geheim-genug-9")


def test_bad_input_is_refused_with_a_message(runner, make_user):
    make_user("technician", email="da@druckhub.de")
    cases = [
        (["create-user", "da@druckhub.de", "--role", "admin", "--password", "lang-genug-1"],
         "schon ein Konto"),
        (["create-user", "x@druckhub.de", "--role", "admin", "--password", "kurz"],
         "mindestens 10 Zeichen"),
        (["create-user", "x@firma.de", "--role", "firm", "--password", "lang-genug-1"],
         "--firm NAME is required"),
        (["create-user", "x@druckhub.de", "--role", "boss", "--password", "lang-genug-1"],
         "Invalid value for '--role'"),
    ]
    for args, message in cases:
        result = runner.invoke(args=args)
        assert result.exit_code != 0
        assert message in result.output, result.output
    assert count(User) == 1


def test_seed_demo_is_idempotent_and_the_demo_logins_work(runner, client):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert "materials added: 0" in second.output
    assert count(User) == 3 and count(Firm) == 1
    codes = set(db.session.execute(sa.select(Material.code)).scalars())
    assert {"PLA", "PETG", "ABS", "TPU"} <= codes
    from marketplace.engine.pricing.catalog import DEFAULT_MATERIALS

    pla = db.session.execute(sa.select(Material).where(Material.code == "PLA")).scalar_one()
    assert pla.price_per_kg_cents == DEFAULT_MATERIALS["PLA"].price_per_kg_cents
    assert pla.colours == list(DEFAULT_MATERIALS["PLA"].colours)
    for email, password, role in [("firma@example.de", "demo-firma-2026", "firm"),
                                  ("technik@druckhub.de", "demo-technik-2026", "technician"),
                                  ("admin@druckhub.de", "demo-admin-2026", "admin")]:
        assert user(email).role == role
        response = client.post("/login", data={"email": email, "password": password})
        assert response.status_code == 302, email
        client.post("/logout")
    assert user("firma@example.de").firm.name == "Muster Maschinenbau GmbH"


def test_seed_demo_keeps_an_admins_material_changes(runner):
    runner.invoke(args=["seed-demo"])
    pla = db.session.execute(sa.select(Material).where(Material.code == "PLA")).scalar_one()
    pla.price_per_kg_cents = 5555
    db.session.commit()
    runner.invoke(args=["seed-demo"])
    db.session.expire_all()
    pla = db.session.execute(sa.select(Material).where(Material.code == "PLA")).scalar_one()
    assert pla.price_per_kg_cents == 5555
