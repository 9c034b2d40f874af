"""Flask extensions, created unbound and initialised in ``create_app``."""

import sqlalchemy as sa
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


@sa.event.listens_for(sa.engine.Engine, "savepoint")
def _sqlite_savepoint_inside_a_transaction(conn, name) -> None:
    """On SQLite, open the transaction before a SAVEPOINT that would be its first statement.

    pysqlite begins a transaction only before a data change, so a ``begin_nested()`` as the
    first write ran SAVEPOINT outside one: releasing it committed at once (an order's row stood
    committed before its print jobs were added). A deferred BEGIN first keeps the savepoint
    inside the session's transaction, as on PostgreSQL.
    """
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.dbapi_connection
    if not raw.in_transaction:
        raw.execute("BEGIN")
