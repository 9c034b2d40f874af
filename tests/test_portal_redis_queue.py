"""With REDIS_URL set, uploads are queued in Redis (the local server on 127.0.0.1:6379) and
`flask analysis worker` analyses them."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from portal_helpers import cube_stl, firm_user, upload  # noqa: F401

from marketplace.extensions import db
from marketplace.models import Part
from marketplace.parts import operations as parts

pytestmark = pytest.mark.redis
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "ANALYSIS_WORKERS": 1, "REDIS_URL": REDIS_URL,
            "ANALYSIS_QUEUE": f"druckhub-test:{uuid.uuid4().hex}"}


@pytest.fixture
def redis_queue(app):
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    queue = app.config["ANALYSIS_QUEUE"]
    yield r, queue
    for key in r.scan_iter(f"{queue}*"):
        r.delete(key)


def test_upload_is_queued_in_redis_and_the_worker_analyses_it(app, client, login_as, firm_user,
                                                              runner, redis_queue):
    r, queue = redis_queue
    login_as(firm_user)
    resp = upload(client, "cube.stl", cube_stl())
    assert resp.status_code == 201
    assert resp.get_json()["parts"][0]["status"] == "pending"
    assert r.llen(queue) == 1
    assert "druckhub_analysis_pool" not in app.extensions  # nothing ran in the web process
    part = db.session.scalar(sa.select(Part))
    parts.ensure_analysis(part)  # a status poll does not queue it twice
    assert r.llen(queue) == 1

    result = runner.invoke(args=["analysis", "worker", "--once", "--block", "1"])
    assert result.exit_code == 0, result.output
    assert "1 analysed" in result.output
    db.session.rollback()
    part = db.session.get(Part, part.id)
    assert part.status == "ready"
    assert part.analysis["mesh"]["volume_mm3"] == pytest.approx(8000)
    assert r.llen(queue) == 0 and not r.exists(f"{queue}:claim:{part.id}")


def test_malformed_jobs_are_dropped(app, redis_queue):
    r, queue = redis_queue
    r.lpush(queue, b"not json")
    assert parts.run_redis_worker(app, once=True, block_s=1) == 0
    assert r.llen(queue) == 0


def test_worker_needs_redis_url(app, runner):
    app.config["REDIS_URL"] = ""
    result = runner.invoke(args=["analysis", "worker", "--once"])
    assert result.exit_code == 2 and "REDIS_URL" in result.output
