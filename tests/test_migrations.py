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


def _old_part(conn):
    """Firm 1 and its part 1, as rows of an older schema."""
    conn.execute(sa.text("INSERT INTO firms (id, name, country, created_at) "
                         "VALUES (1, 'Alt GmbH', 'DE', CURRENT_TIMESTAMP)"))
    conn.execute(sa.text(
        "INSERT INTO parts (id, public_id, firm_id, original_name, sha256, file_format, "
        "size_bytes, status, created_at, attempts) VALUES (1, 'p1', 1, 'Alt.stl', "
        "'ab', 'stl', 10, 'ready', CURRENT_TIMESTAMP, 0)"))


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


def test_single_part_orders_become_orders_of_one_line(app):
    """An order placed before order lines: its quote gets one line (its part lines from the
    breakdown), its jobs belong to that line, the order keeps the quote's price."""
    engine = db.engine
    _clear(engine)
    breakdown = ('{"net_cents": 2000, "vat_cents": 380, "gross_cents": 2380, "vat_percent": 19, '
                 '"lines": [{"code": "material", "amount_cents": 700, "params": {}}, '
                 '{"code": "machine", "amount_cents": 800, "params": {}}, '
                 '{"code": "setup", "amount_cents": 500, "params": {}}]}')
    try:
        upgrade(revision="7b2f4c8d1e63")
        with engine.begin() as conn:
            _old_part(conn)
            conn.execute(sa.text(
                "INSERT INTO quotes (id, public_id, firm_id, part_id, material_code, colour, "
                "quantity, infill_percent, layer_height_mm, units, material_g, print_time_s, "
                "net_cents, vat_cents, gross_cents, breakdown, created_at) VALUES (1, 'q1', 1, "
                "1, 'PETG', 'Blau', 2, 20, 0.2, 'mm', 12.5, 3600, 2000, 380, 2380, :b, "
                "CURRENT_TIMESTAMP)"), {"b": breakdown})
            conn.execute(sa.text(
                "INSERT INTO orders (id, public_id, number, firm_id, quote_id, part_id, channel, "
                "delivery, created_at) VALUES (1, 'o1', 'DH-2026-000001', 1, 1, 1, 'portal', "
                "'pickup', CURRENT_TIMESTAMP)"))
            for n in (1, 2):
                conn.execute(sa.text(
                    "INSERT INTO print_jobs (public_id, order_id, part_id, copy_index, state, "
                    "version, priority, material_code, colour, infill_percent, layer_height_mm, "
                    "scale, attempt, completion_polls, slice_attempts, created_at, updated_at) "
                    "VALUES (:pid, 1, 1, :n, 'received', 0, 0, 'PETG', 'Blau', 20, 0.2, 1.0, 0, "
                    "0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"pid": f"j{n}", "n": n})
        upgrade()
        with engine.connect() as conn:
            line = conn.execute(sa.text(
                "SELECT id, position, part_id, material_code, quantity, net_cents, breakdown "
                "FROM quote_lines WHERE quote_id = 1")).one()
            jobs = conn.execute(sa.text("SELECT quote_line_id FROM print_jobs")).all()
            order = conn.execute(sa.text(
                "SELECT gross_cents, express, ship_to FROM orders")).one()
            quote = conn.execute(sa.text("SELECT delivery, express FROM quotes")).one()
        assert tuple(line[1:6]) == (1, 1, "PETG", 2, 1500)
        lines = line[6] if isinstance(line[6], dict) else __import__("json").loads(line[6])
        assert [x["code"] for x in lines["lines"]] == ["material", "machine"]
        assert {j[0] for j in jobs} == {line[0]}
        assert order[0] == 2380 and not order[1] and order[2] is None
        assert quote[0] == "pickup" and not quote[1]
    finally:
        _clear(engine)
        db.create_all()


def test_estimates_made_before_printer_classes_are_the_standard_class(app):
    """An estimate stored before classes counted was made with the standard profile: it keeps
    its options and becomes the standard class's; the large class's may be stored beside it."""
    engine = db.engine
    _clear(engine)
    try:
        upgrade(revision="7d2e4f6a8b10")
        with engine.begin() as conn:
            _old_part(conn)
            conn.execute(sa.text(
                "INSERT INTO part_estimates (part_id, units, layer_height_um, infill_percent, "
                "status, created_at, attempts) VALUES (1, 'mm', 200, 15, 'ready', "
                "CURRENT_TIMESTAMP, 0)"))
        upgrade()
        with engine.begin() as conn:
            assert conn.execute(sa.text(
                "SELECT printer_class FROM part_estimates")).scalar_one() == "standard"
            conn.execute(sa.text(
                "INSERT INTO part_estimates (part_id, units, layer_height_um, infill_percent, "
                "printer_class, status, created_at, attempts) VALUES (1, 'mm', 200, 15, "
                "'large', 'pending', CURRENT_TIMESTAMP, 0)"))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO part_estimates (part_id, units, layer_height_um, infill_percent, "
                "printer_class, status, created_at, attempts) VALUES (1, 'mm', 200, 15, "
                "'standard', 'pending', CURRENT_TIMESTAMP, 0)"))
    finally:
        _clear(engine)
        db.create_all()
