"""Printer API keys are encrypted at rest and can be rotated (issue 10, finding 8)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask_migrate import downgrade, upgrade
from octoprint_farm import API_KEY, add_printer, dispatch_settings, farm, idle_farm  # noqa: F401

from marketplace.extensions import db
from marketplace.models import Printer
from printers import admin as printer_admin
from printers.farm import KEY_UNREADABLE, poll_farm
from printers.polling import Poller
from printers.settings import DispatcherSettings
from printers.steps import TickReport

KEY = "Secr3tOctoPrintKey_0123456789abcdef"


def stored(printer_id: int) -> dict:
    """The printer's row as the database holds it (no model, no decryption)."""
    with db.engine.begin() as conn:
        return dict(conn.execute(sa.text("SELECT * FROM printers WHERE id = :id"),
                                 {"id": printer_id}).mappings().one())


@pytest.fixture
def printer(app):
    made = printer_admin.add_printer(name="MK4-01", url="http://127.0.0.1:5001", api_key=KEY)
    db.session.commit()
    return made


def test_the_database_holds_no_plain_key(printer):
    row = stored(printer.id)
    assert "api_key" not in row
    assert KEY not in str(row) and KEY.encode() not in str(row).encode()
    db.session.expire_all()
    assert db.session.get(Printer, printer.id).api_key == KEY  # what printers/ reads


def test_a_new_key_in_the_form_is_encrypted_too(printer):
    printer_admin.update_printer(printer, {"api_key": "Another_Key_0123456789"})
    db.session.commit()
    assert "Another_Key" not in str(stored(printer.id))
    printer_admin.update_printer(printer, {"api_key": ""})  # empty keeps the stored one
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Printer, printer.id).api_key == "Another_Key_0123456789"


def test_rotate_to_a_new_key(app, runner, printer):
    old, new = Fernet.generate_key().decode(), runner.invoke(args=["printers", "new-key"]).output
    new = new.strip()
    app.config["PRINTER_KEY_SECRETS"] = old
    printer.api_key = KEY  # now under the configured key
    db.session.commit()
    assert Fernet(old).decrypt(stored(printer.id)["api_key_encrypted"].encode()).decode() == KEY
    app.config["PRINTER_KEY_SECRETS"] = f"{new},{old}"
    result = runner.invoke(args=["printers", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted: 1" in result.output
    token = stored(printer.id)["api_key_encrypted"].encode()
    assert Fernet(new).decrypt(token).decode() == KEY
    app.config["PRINTER_KEY_SECRETS"] = new  # the old key is gone from the configuration
    db.session.expire_all()
    assert db.session.get(Printer, printer.id).api_key == KEY


@pytest.mark.commits  # the refused rotation rolls back
def test_rotating_without_the_old_key_refuses_and_changes_nothing(app, runner, printer):
    before = stored(printer.id)["api_key_encrypted"]
    app.config["PRINTER_KEY_SECRETS"] = Fernet.generate_key().decode()
    app.config["SECRET_KEY"] = "another-secret"  # the derived fallback no longer fits either
    result = runner.invoke(args=["printers", "rotate-keys"])
    assert result.exit_code != 0 and "none of the configured keys" in result.output
    assert stored(printer.id)["api_key_encrypted"] == before


def _clear(engine):
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    meta.drop_all(bind=engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


@pytest.mark.commits
def test_migration_encrypts_existing_plain_keys_and_back(app):
    engine = db.engine
    db.session.remove()
    _clear(engine)
    try:
        upgrade(revision="b9ba9d88adab")  # before the encryption
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO printers (public_id, name, url, api_key, printer_class, build_x_mm, "
                "build_y_mm, build_z_mm, nozzle_mm, material_code, colour, slicer_profile, state, "
                "failed_polls, created_at) VALUES ('p1', 'Alt', 'http://127.0.0.1:5001', :key, "
                "'standard', 250, 210, 210, 0.4, 'PLA', 'black', 'mk3s-pla-0.2mm', 'unknown', 0, "
                "'2026-01-01 00:00:00')"), {"key": KEY})
        upgrade(revision="5c1f0e7a9b3d")
        with engine.connect() as conn:
            token = conn.execute(sa.text("SELECT api_key_encrypted FROM printers")).scalar_one()
        assert KEY not in token
        from marketplace import printer_keys

        assert printer_keys.decrypt(token) == KEY
        downgrade(revision="b9ba9d88adab")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT api_key FROM printers")).scalar_one() == KEY
    finally:
        _clear(engine)
        db.create_all()


@pytest.mark.octoprint
@pytest.mark.commits  # the poll commits
def test_a_key_no_configured_secret_opens_takes_only_its_printer_offline(
        app, idle_farm, add_printer, dispatch_settings):
    """A key encrypted under another secret (SECRET_KEY changed) must not stop the farm's polls."""
    good = add_printer(idle_farm[0])
    bad = add_printer(idle_farm[1])
    foreign = Fernet(Fernet.generate_key()).encrypt(API_KEY.encode()).decode()
    db.session.execute(sa.update(Printer).where(Printer.id == bad.id)
                       .values(api_key_encrypted=foreign))
    db.session.commit()
    settings = DispatcherSettings.from_config(app.config)
    poller = Poller(settings.timeouts, deadline_s=settings.poll_deadline_s)
    try:
        results = poll_farm(poller, TickReport())
    finally:
        poller.shutdown()
    db.session.expire_all()
    assert results[good.id].answered and db.session.get(Printer, good.id).state == "available"
    bad = db.session.get(Printer, bad.id)
    assert not results[bad.id].answered
    assert bad.state == "offline" and bad.state_reason == KEY_UNREADABLE
