"""Prometheus metrics: requests (count, latency), queue depth, task durations, printers by state.

Counters and histograms are kept by prometheus_client. Under gunicorn (and scripts/run) every
process writes them to files in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape adds them up, so the
figures cover all web workers, the queue's workers and the dispatcher on this machine. The
figures that describe the hub rather than a process (printers by state, jobs by state, parts
by status, tasks waiting) are read from the database and the queue's storage at scrape time.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Iterable, Iterator

# must exist before prometheus_client opens its files (the variable is read at import)
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

import sqlalchemy as sa
from flask import Flask, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

REQUESTS = Counter("druckhub_http_requests_total", "HTTP requests answered",
                   ["method", "endpoint", "status"])
REQUEST_SECONDS = Histogram(
    "druckhub_http_request_duration_seconds", "Time to answer an HTTP request",
    ["endpoint", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))
TASK_SECONDS = Histogram(
    "druckhub_task_duration_seconds", "Time a queue task ran, by task and outcome",
    ["task", "outcome"],
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0))

UNMATCHED = "unmatched"  # requests that found no route: one label, not one per path
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def parse_networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse ``METRICS_ALLOWED_NETWORKS`` ("10.0.0.0/8, ::1/128"); ValueError names the bad one."""
    networks = []
    for item in value.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"METRICS_ALLOWED_NETWORKS: {item!r} is not a network") from exc
    return tuple(networks)


def address_allowed(address: str | None, networks: Iterable) -> bool:
    """Return whether the client ``address`` lies in one of ``networks``."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


class _ProcessRegistry(Collector):
    """This process's own metrics (without multiprocess mode: tests, `flask run`)."""

    def collect(self) -> Iterator:
        yield from REGISTRY.collect()


class HubStateCollector(Collector):
    """Gauges read at scrape time: printers, print jobs and parts by state; tasks waiting."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            yield from self._from_database()
        except Exception:
            log.exception("metrics: the database could not be read")
        depth = queue_depth(self.app)
        if depth is not None:
            gauge = GaugeMetricFamily("druckhub_queue_depth",
                                      "Tasks waiting in the queue's storage")
            gauge.add_metric([], depth)
            yield gauge

    def _from_database(self) -> Iterator[GaugeMetricFamily]:
        from marketplace.extensions import db
        from marketplace.jobs import JobState
        from marketplace.models import Part, Printer, PrintJob
        from marketplace.printer_states import PRINTER_STATES

        def counts(column) -> dict[str, int]:
            rows = db.session.execute(sa.select(column, sa.func.count()).group_by(column))
            return {str(value): n for value, n in rows}

        try:
            families = (
                ("druckhub_printers", "Printers by state", "state",
                 PRINTER_STATES, counts(Printer.state)),
                ("druckhub_print_jobs", "Print jobs by state", "state",
                 [s.value for s in JobState], counts(PrintJob.state)),
                ("druckhub_parts", "Uploaded parts by analysis status", "status",
                 ("pending", "ready", "error"), counts(Part.status)),
            )
        finally:
            db.session.rollback()
        for name, text, label, known, found in families:
            gauge = GaugeMetricFamily(name, text, labels=[label])
            for value in dict.fromkeys([*known, *found]):  # every known state, 0 if none
                gauge.add_metric([value], found.get(value, 0))
            yield gauge


def queue_depth(app: Flask) -> int | None:
    """Tasks waiting in the queue's storage, or None where it cannot be read."""
    from marketplace import taskqueue

    try:
        return taskqueue.pending_count()
    except Exception:  # Redis down, SQLite file locked: the scrape still answers
        log.warning("metrics: the queue's storage could not be read", exc_info=True)
        return None


def scrape(app: Flask) -> tuple[bytes, str]:
    """Return the exposition text for every process on this machine plus the hub's state."""
    registry = CollectorRegistry()
    if multiprocess_mode():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRegistry())
    registry.register(HubStateCollector(app))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def init_app(app: Flask) -> None:
    """Count and time every request; check ``METRICS_ALLOWED_NETWORKS`` at start-up."""
    app.extensions["metrics_networks"] = parse_networks(
        app.config.get("METRICS_ALLOWED_NETWORKS", ""))
    from marketplace import taskqueue

    taskqueue.observe("metrics", lambda task, outcome, seconds:
                      TASK_SECONDS.labels(task, outcome).observe(seconds))

    @app.before_request
    def _start_timer() -> None:
        g.metrics_start = time.perf_counter()

    @app.after_request
    def _count(response):
        start = g.pop("metrics_start", None)
        if start is not None:
            endpoint = request.url_rule.endpoint if request.url_rule else UNMATCHED
            status = str(response.status_code)
            method = request.method if request.method in METHODS else "other"
            REQUESTS.labels(method, endpoint, status).inc()
            REQUEST_SECONDS.labels(endpoint, status).observe(time.perf_counter() - start)
        return response
