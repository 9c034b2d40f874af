"""Queue tasks in the operations figures: durations by task and outcome, the task on every log
line it writes, the queue's depth in /metrics and /readyz; a real worker process included."""

from __future__ import annotations

import io
import json
import logging

import pytest
import sqlalchemy as sa
from portal_helpers import cube_stl, firm_user, upload  # noqa: F401
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from queue_helpers import queue_settings, wait_for, workers  # noqa: F401
from test_ops_metrics import samples, scrape, value

from marketplace import taskqueue
from marketplace.extensions import db
from marketplace.models import Part
from marketplace.ops import logs

log = logging.getLogger("druckhub.test.tasks")


@taskqueue.task()
def ops_test_task(fail: bool) -> str:
    log.info("working", extra={"step": 1})
    if fail:
        raise ValueError("the task failed on purpose")
    return "done"


TASK = f"{__name__}.ops_test_task"


def _duration_count(outcome: str) -> float:
    return REGISTRY.get_sample_value("druckhub_task_duration_seconds_count",
                                     {"task": TASK, "outcome": outcome}) or 0.0


def test_tasks_are_timed_by_outcome_and_logged_with_their_arguments(app):
    assert taskqueue.storage_name() == "immediate"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    handler.setFormatter(logs.Formatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    before = _duration_count("done"), _duration_count("error")
    try:
        ops_test_task(False)
        ops_test_task(True)
    finally:
        log.removeHandler(handler)
    assert _duration_count("done") - before[0] == 1
    assert _duration_count("error") - before[1] == 1
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["task"], line["task_args"], line["step"]) for line in lines] == [
        (TASK, [False], 1), (TASK, [True], 1)]
    assert logs.context() == {}  # unbound after each run


def test_a_task_inside_a_request_keeps_the_request_id(app):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    handler.setFormatter(logs.Formatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    @app.get("/_test/task")
    def _run_task():
        ops_test_task(False)
        log.info("after the task")
        return "ok"

    try:
        assert app.test_client().get("/_test/task",
                                     headers={"X-Request-ID": "req-7"}).status_code == 200
    finally:
        log.removeHandler(handler)
    working, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert working["request_id"] == "req-7" and working["task"] == TASK
    assert after["request_id"] == "req-7" and "task" not in after


# --- a real queue ----------------------------------------------------------------------------


@pytest.fixture
def app_config(app_config, tmp_path, request):
    """Immediate mode, or a real queue (SQLite) for a test parametrized with settings."""
    extra = getattr(request, "param", None)
    if extra is None:
        return app_config
    return {**app_config, **queue_settings(tmp_path, "sqlite"), **extra}


real_queue = pytest.mark.parametrize("app_config", [{}], indirect=True, ids=["sqlite"])


@real_queue
def test_queue_depth_in_readyz_and_metrics(app, client):
    assert taskqueue.storage_name() == "sqlite"
    ready = client.get("/readyz").json["checks"]["queue"]
    assert (ready["status"], ready["backend"], ready["waiting"]) == ("pass", "sqlite", 0)
    taskqueue.enqueue(ops_test_task, False)  # no worker runs here: it waits
    taskqueue.enqueue(ops_test_task, False)
    assert client.get("/readyz").json["checks"]["queue"]["waiting"] == 2
    assert value(scrape(client), "druckhub_queue_depth") == 2


@pytest.mark.parametrize("app_config", [{"HUEY_STORAGE": "redis",
                                         "REDIS_URL": "redis://127.0.0.1:1/0"}], indirect=True)
def test_readyz_fails_when_the_queue_storage_is_down(app, client):
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["queue"]["status"] == "fail"
    assert r.json["checks"]["queue"]["error"] == "ConnectionError"
    text = client.get("/metrics").get_data(as_text=True)
    assert "druckhub_queue_depth" not in text  # unknown, not 0
    assert "druckhub_printers" in text


@real_queue
def test_a_worker_process_logs_json_and_writes_its_task_durations(
        app, client, login_as, firm_user, workers, tmp_path):
    metrics_dir = tmp_path / "metrics"
    login_as(firm_user)
    assert upload(client, "cube.stl", cube_stl()).status_code == 201
    workers.start(1, PROMETHEUS_MULTIPROC_DIR=metrics_dir)

    def ready():
        db.session.rollback()
        return db.session.scalar(sa.select(Part.status)) == "ready"

    wait_for(ready, 90, "the worker's analysis")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))
    found = samples(generate_latest(registry).decode())
    assert value(found, "druckhub_task_duration_seconds_count",
                 task="marketplace.parts.tasks.analyse_part", outcome="done") >= 1
    workers.stop_all()
    lines = [json.loads(line) for line in workers.log(0).splitlines() if line.startswith("{")]
    assert lines, workers.log(0)[-2000:]
    in_task = [line for line in lines if line.get("task") == "marketplace.parts.tasks.analyse_part"]
    assert in_task and all(line["task_args"] for line in in_task)


@pytest.mark.redis
@pytest.mark.parametrize("app_config", [{"HUEY_STORAGE": "redis",
                                         "REDIS_URL": "redis://127.0.0.1:6379/7"}],
                         indirect=True, ids=["redis"])
def test_readyz_reads_the_redis_queue(app, client):
    assert taskqueue.storage_name() == "redis"
    try:
        ready = client.get("/readyz").json["checks"]["queue"]
        assert (ready["status"], ready["backend"], ready["waiting"]) == ("pass", "redis", 0)
        taskqueue.enqueue(ops_test_task, False)
        assert client.get("/readyz").json["checks"]["queue"]["waiting"] == 1
        assert value(scrape(client), "druckhub_queue_depth") == 1
    finally:
        taskqueue.huey.flush()  # the queue's name is the test's own (queue_settings)
