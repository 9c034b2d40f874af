"""Shared fixtures: an app on a real database (SQLite by default, PostgreSQL with
TEST_DATABASE_URL), a client, a CLI runner, and paths to the shared corpus.

With TEST_DATABASE_URL set to a PostgreSQL URL, each test session works in a schema of its own
(created at start, dropped at the end), so several sessions can share the `test` database.

The tables are created once per session and database. Each test then works inside one
transaction that is rolled back at its end (``db_isolation``: commits become savepoints). A test
whose data must be seen by another connection, thread or process (a live server, a worker pool,
a subprocess, a second app, migrations, concurrency) is marked ``commits``: it commits for real,
and the tables are emptied after it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import g
from flask.testing import FlaskClient
from live_server import live_server  # noqa: F401  (fixture: the app on 127.0.0.1)

from config import TestConfig, _sqlalchemy_url
from db_isolation import RolledBackTransaction

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared").resolve()
CORPUS = SHARED / "corpus"
DATA = Path(__file__).resolve().parent / "data"

# Fixtures that stand for a real service: a test asking for one carries its marker.
SERVICE_FIXTURES = {"farm": "octoprint", "idle_farm": "octoprint", "fault_proxy": "octoprint",
                    "browser": "browser", "browser_page": "browser"}
# Fixtures whose threads or processes read what the test wrote: real commits.
COMMIT_FIXTURES = {"live_server", "workers"}


def _on_postgres() -> bool:
    return os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")


def pytest_collection_modifyitems(config, items):
    """Markers that follow from a test's fixtures; PostgreSQL-only tests only on PostgreSQL.

    A test that never asks for the database (``database_url``, which ``app`` and everything
    built on it use) cannot reach it, so it is pure: it runs once, in the SQLite pass. A test
    marked ``postgres`` is deselected (counted as such) when TEST_DATABASE_URL is not PostgreSQL.
    """
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "database_url" not in names:
            item.add_marker(pytest.mark.db_independent)
        for fixture in sorted(names & SERVICE_FIXTURES.keys()):
            item.add_marker(SERVICE_FIXTURES[fixture])
        if names & COMMIT_FIXTURES:
            item.add_marker(pytest.mark.commits)
    if not _on_postgres():
        postgres_only = [item for item in items if item.get_closest_marker("postgres")]
        if postgres_only:
            config.hook.pytest_deselected(items=postgres_only)
            items[:] = [item for item in items if not item.get_closest_marker("postgres")]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """Return a SQLAlchemy URL for an empty database of this session's own."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    url = _sqlalchemy_url(url)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def app_config(database_url, tmp_path):
    """Config overrides for one test; a test may change them before asking for ``app``."""
    return {
        **{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
        "SQLALCHEMY_DATABASE_URI": database_url,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
    }


_tables_ready: set[str] = set()


@pytest.fixture
def app(app_config, request):
    """An app whose tables are empty at the start of each test (created once per session).

    The test's changes are rolled back at its end; with the ``commits`` marker they are
    committed for real and the tables emptied afterwards.
    """
    from marketplace import create_app
    from marketplace.extensions import db

    app = create_app(app_config)
    with app.app_context():
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        if url not in _tables_ready:
            db.drop_all()
            db.create_all()
            _tables_ready.add(url)
        if request.node.get_closest_marker("commits"):
            yield app
            db.session.remove()
            with db.engine.begin() as conn:
                for table in reversed(db.metadata.sorted_tables):
                    conn.execute(table.delete())
            db.engine.dispose()
            return
        pure = request.node.get_closest_marker("db_independent") is not None
        with RolledBackTransaction(db, pure=pure) as transaction:
            yield app
        db.engine.dispose()
    if transaction.problems:
        pytest.fail("one connection cannot stand in for what this test does:\n- "
                    + "\n- ".join(transaction.problems)
                    + "\nmark it @pytest.mark.commits (real commits, tables emptied after)",
                    pytrace=False)


class _FreshUserClient(FlaskClient):
    """Test client that forgets the cached user between requests.

    The ``app`` fixture keeps an app context pushed, and Flask reuses it for the client's
    requests, so Flask-Login's ``g._login_user`` would leak from one request into the next.
    """

    def open(self, *args, **kwargs):
        g.pop("_login_user", None)
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = _FreshUserClient
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def corpus():
    """Path to the shared corpus of real STL models (../shared/corpus)."""
    return CORPUS


@pytest.fixture
def make_user(app):
    """Factory: make_user(role="firm", email=None, firm=None, password="pw-12345678") -> User."""
    from werkzeug.security import generate_password_hash

    from marketplace.extensions import db
    from marketplace.models import Firm, User

    counter = iter(range(1, 10_000))

    def make(role="firm", email=None, firm=None, password="pw-12345678", firm_name=None):
        n = next(counter)
        if role == "firm" and firm is None:
            firm = Firm(name=firm_name or f"Testfirma {n} GmbH", street="Am Sande 1",
                        postcode="21335", city="Lüneburg")
            db.session.add(firm)
        user = User(email=email or f"{role}{n}@example.de", role=role, firm=firm,
                    password_hash=generate_password_hash(password, method="pbkdf2:sha256:1000"),
                    name=f"{role.title()} {n}")
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def login_as(client):
    """login_as(user): sign ``client`` in as ``user`` without going through the login form.

    Starts a real sign-in (a session row bound to the client's user agent), as the form does.
    """
    from marketplace.accounts import sessions
    from marketplace.extensions import db

    def login(user):
        key = sessions.start(user, remember=False, ip=client.environ_base["REMOTE_ADDR"],
                             user_agent=client.environ_base["HTTP_USER_AGENT"])
        db.session.commit()
        with client.session_transaction() as session:
            session["_user_id"] = key
            session["_fresh"] = True
        return client

    return login
