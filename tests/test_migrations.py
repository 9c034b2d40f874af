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
