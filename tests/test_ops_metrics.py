"""/metrics: who may read it, what it counts, and the sum over gunicorn's worker processes."""

from __future__ import annotations

import glob
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from test_ops_health import start_gunicorn, stop_gunicorn

from marketplace.ops import metrics


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} from the Prometheus text format."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def scrape(client, **kw) -> dict:
    r = client.get("/metrics", **kw)
    assert r.status_code == 200, r.status_code
    assert r.headers["Content-Type"].startswith("text/plain")
    return samples(r.get_data(as_text=True))


# --- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize("address, allowed", [
    ("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("10.20.30.40", True),
    ("172.16.0.9", True), ("172.31.255.1", True), ("192.168.178.2", True),
    ("fd12:3456::1", True), ("::ffff:192.168.1.5", True),
    ("172.32.0.1", False), ("203.0.113.7", False), ("8.8.8.8", False),
    ("2001:db8::1", False), ("::ffff:8.8.8.8", False),
])
def test_metrics_only_for_the_hubs_own_network(client, address, allowed):
    r = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
    assert r.status_code == (200 if allowed else 404)
    if not allowed:
        assert b"druckhub_" not in r.data


def test_allowed_networks_are_a_setting(app_config):
    from marketplace import create_app

    app = create_app({**app_config, "METRICS_ALLOWED_NETWORKS": "192.0.2.0/24"})
    client = app.test_client()
    assert client.get("/metrics").status_code == 404  # loopback not listed
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.44"}).status_code == 200
    app = create_app({**app_config, "METRICS_ALLOWED_NETWORKS": ""})
    assert app.test_client().get("/metrics").status_code == 404  # nobody


@pytest.mark.db_independent
def test_a_bad_network_stops_the_start():
    with pytest.raises(ValueError, match="'10.0.0.0/33'"):
        metrics.parse_networks("127.0.0.0/8, 10.0.0.0/33")
    assert metrics.parse_networks(" 10.0.0.0/8 ;::1 ") == (
        metrics.ipaddress.ip_network("10.0.0.0/8"), metrics.ipaddress.ip_network("::1/128"))


def test_behind_a_proxy_the_forwarded_client_counts(app_config):
    from marketplace import create_app

    behind = create_app({**app_config, "PROXY_COUNT": 1}).test_client()
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    outside = behind.get("/metrics", environ_base=proxy,
                         headers={"X-Forwarded-For": "203.0.113.9"})
    assert outside.status_code == 404  # the proxy is local, the client is not
    inside = behind.get("/metrics", environ_base=proxy, headers={"X-Forwarded-For": "10.1.1.1"})
    assert inside.status_code == 200
    # without PROXY_COUNT the header is the client's word and proves nothing
    direct = create_app(app_config).test_client()
    forged = direct.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"},
                        headers={"X-Forwarded-For": "10.1.1.1"})
    assert forged.status_code == 404


# --- what is counted -------------------------------------------------------------------------


def test_requests_are_counted_and_timed_by_endpoint_and_status(client):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/livez").status_code == 200
    assert client.get("/no/such/page-4711").status_code == 404
    assert client.open("/livez", method="BREW").status_code == 405
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("druckhub_http_requests_total", method="GET", endpoint="ops.livez",
                 status="200") == 3
    assert delta("druckhub_http_request_duration_seconds_count", endpoint="ops.livez",
                 status="200") == 3
    assert delta("druckhub_http_request_duration_seconds_bucket", endpoint="ops.livez",
                 status="200", le="+Inf") == 3
    assert delta("druckhub_http_requests_total", method="GET", endpoint="unmatched",
                 status="404") == 1
    assert delta("druckhub_http_requests_total", method="other", endpoint="unmatched",
                 status="405") == 1
    text = client.get("/metrics").get_data(as_text=True)
    assert "page-4711" not in text and "BREW" not in text  # no label per path or method


def test_printers_jobs_and_parts_by_state(app, client, make_user):
    from marketplace.extensions import db
    from marketplace.models import Firm, Part, Printer

    for i, state in enumerate(["available", "available", "printing", "maintenance"]):
        db.session.add(Printer(name=f"P{i}", url=f"http://127.0.0.1:{5100 + i}",
                               api_key="k" * 32, state=state))
    firm = Firm(name="Metrik GmbH", city="Lüneburg")
    db.session.add(firm)
    for status in ["pending", "pending", "ready"]:
        db.session.add(Part(firm=firm, original_name="a.stl", sha256=status[0] * 64,
                            file_format="stl", size_bytes=84, units="mm", status=status))
    db.session.commit()
    found = scrape(client)
    assert value(found, "druckhub_printers", state="available") == 2
    assert value(found, "druckhub_printers", state="printing") == 1
    assert value(found, "druckhub_printers", state="maintenance") == 1
    assert ("druckhub_printers", frozenset({("state", "offline")})) in found  # 0, but listed
    assert value(found, "druckhub_parts", status="pending") == 2
    assert value(found, "druckhub_parts", status="ready") == 1
    assert ("druckhub_print_jobs", frozenset({("state", "approved")})) in found


# --- gunicorn: one answer for all worker processes -------------------------------------------


def _livez_count(text: str) -> float:
    return value(samples(text), "druckhub_http_requests_total", method="GET",
                 endpoint="ops.livez", status="200")


@pytest.mark.db_independent
@pytest.mark.slow
def test_gunicorn_workers_are_added_up(tmp_path):
    from prometheus_client.mmap_dict import MmapedDict

    proc, url, _log = start_gunicorn(tmp_path)
    metrics_dir = tmp_path / "metrics"
    try:
        # new connections until both workers have answered (each writes its own file)
        deadline = time.monotonic() + 60
        while len(glob.glob(str(metrics_dir / "counter_*.db"))) < 2:
            assert time.monotonic() < deadline, "the second worker never answered"
            requests.get(url + "/livez", headers={"Connection": "close"}, timeout=5)
        before = _livez_count(requests.get(url + "/metrics", timeout=10).text)
        for _ in range(10):
            requests.get(url + "/livez", headers={"Connection": "close"}, timeout=5)
        after = _livez_count(requests.get(url + "/metrics", timeout=10).text)
    finally:
        assert stop_gunicorn(proc) == 0
    assert after - before == 10
    per_worker = [sum(v for key, v, *_ in MmapedDict.read_all_values_from_file(f)
                      if '"ops.livez"' in key)
                  for f in glob.glob(str(metrics_dir / "counter_*.db"))]
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker)
    assert after == sum(per_worker)  # one answer for both processes


def test_task_durations_and_queue_depth(app, client, make_user):
    from portal_helpers import cube_stl

    from marketplace import taskqueue
    from marketplace.extensions import db
    from marketplace.parts import operations as parts

    user = make_user("firm")
    name = "marketplace.parts.tasks.analyse_part"
    before = scrape(client)
    parts.store_upload(user.firm, user, "cube.stl", cube_stl())
    db.session.commit()  # immediate mode: the analysis task runs now
    after = scrape(client)
    assert (value(after, "druckhub_task_duration_seconds_count", task=name, outcome="done")
            - value(before, "druckhub_task_duration_seconds_count", task=name,
                    outcome="done")) == 1
    assert value(after, "druckhub_queue_depth") == 0
    taskqueue.huey.immediate = False  # tasks now wait in an in-process queue
    try:
        parts.store_upload(user.firm, user, "cube2.stl", cube_stl(11))
        db.session.commit()
        assert value(scrape(client), "druckhub_queue_depth") == 1
    finally:
        taskqueue.huey.immediate = True
