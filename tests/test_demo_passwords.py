"""Published demo passwords never work in production (issue 10, finding 2)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace import create_app
from marketplace.extensions import db
from marketplace.models import User

pytestmark = pytest.mark.commits  # a second app (production) reads the users


def users() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one()


def test_seed_demo_refuses_to_run_in_production(app, runner):
    app.config["ENVIRONMENT"] = "production"
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "production" in result.output
    assert users() == 0


def test_production_refuses_to_start_with_the_demo_admin(app, app_config, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0  # e.g. a copied development database
    production = {**app_config, "ENVIRONMENT": "production"}
    with pytest.raises(RuntimeError, match="demo password") as refused:
        create_app(production)
    message = str(refused.value)
    assert "admin@druckhub.de" in message and "technik@druckhub.de" in message
    assert "demo-admin-2026" not in message  # names the accounts, never the passwords
    for email in ("admin@druckhub.de", "technik@druckhub.de", "firma@example.de"):
        result = runner.invoke(args=["set-password", email, "--password", f"neu-{email}-1"])
        assert result.exit_code == 0, result.output
    assert create_app(production).config["ENVIRONMENT"] == "production"


def test_a_staff_account_with_a_demo_password_is_refused_too(app, app_config, make_user):
    make_user("technician", email="neu@druckhub.de", password="demo-admin-2026")
    make_user("firm", email="kunde@example.de", password="richtiges-pw-1")
    with pytest.raises(RuntimeError, match="neu@druckhub.de"):
        create_app({**app_config, "ENVIRONMENT": "production"})


def test_production_starts_without_demo_passwords_and_development_always(
        app, app_config, runner, make_user):
    make_user("admin", email="admin@druckhub.de", password="ein-eigenes-pw-1")
    assert create_app({**app_config, "ENVIRONMENT": "production"})
    assert runner.invoke(args=["seed-demo"]).exit_code == 0  # development: demo data is fine
    assert create_app({**app_config, "ENVIRONMENT": "development"})


def test_the_skip_switch_lets_the_fixing_command_start(app, app_config, runner):
    runner.invoke(args=["seed-demo"])
    fixing = create_app({**app_config, "ENVIRONMENT": "production",
                         "SKIP_DEMO_PASSWORD_CHECK": True})
    result = fixing.test_cli_runner().invoke(
        args=["set-password", "admin@druckhub.de", "--password", "kurz"])
    assert result.exit_code != 0 and "10 Zeichen" in result.output
    result = fixing.test_cli_runner().invoke(args=["set-password", "nobody@druckhub.de",
                                                   "--password", "lang-genug-1"])
    assert result.exit_code != 0 and "no account" in result.output
