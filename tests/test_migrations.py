"""The Alembic migrations build exactly the schema the models describe (SQLite and PostgreSQL)."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from marketplace.extensions import db

pytestmark = pytest.mark.commits  # Alembic works on connections of its own


def _clear(engine):
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    meta.drop_all(bind=engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def test_upgrade_matches_models_and_downgrades(app):
    engine = db.engine
    _clear(engine)
    try:
        upgrade()
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        downgrade(revision="base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        _clear(engine)
        db.create_all()


def test_printer_colours_become_catalogue_entries(app):
    """Free-text colours from before the catalogue ("black") become the catalogue's entries
    ("Schwarz"); one that names no entry is left for a technician (and shown as such)."""
    engine = db.engine
    _clear(engine)
    try:
        upgrade(revision="ad0e8c929300")
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO materials (code, name, density_g_cm3, price_per_kg_cents, colours, "
                "active) VALUES ('PLA', 'PLA', 1.24, 4000, :colours, :active)"),
                {"colours": '["Schwarz", "Signalgelb"]', "active": True})
            for n, (material, colour) in enumerate([
                    ("PLA", "black"), ("PETG", "white"), ("PETG", " schwarz "),
                    ("PETG", "dunkelrot"), ("PLA", "signalgelb"), ("PLA", "orange"),
                    ("TPU", "Transparent")]):
                conn.execute(sa.text(
                    "INSERT INTO printers (public_id, name, url, api_key_encrypted, "
                    "printer_class, build_x_mm, build_y_mm, build_z_mm, nozzle_mm, "
                    "material_code, colour, slicer_profile, state, failed_polls, created_at) "
                    "VALUES (:pid, :name, 'http://127.0.0.1:5000', 'x', 'standard', 250, 210, "
                    "210, 0.4, :material, :colour, 'mk3s-pla-0.2mm', 'unknown', 0, "
                    "CURRENT_TIMESTAMP)"),
                    {"pid": f"p{n}", "name": f"P{n}", "material": material, "colour": colour})
        upgrade()
        with engine.connect() as conn:
            colours = [r[0] for r in conn.execute(
                sa.text("SELECT colour FROM printers ORDER BY name"))]
        # the hub's PLA row lists no orange: that one waits for a technician, as "dunkelrot"
        assert colours == ["Schwarz", "Weiß", "Schwarz", "dunkelrot", "Signalgelb", "orange",
                           "Transparent"]
    finally:
        _clear(engine)
        db.create_all()
