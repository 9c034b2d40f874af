"""/livez, /readyz: JSON in the health-check shape (status pass/fail, checks by name);
/metrics: Prometheus text, for the hub's own network only (``METRICS_ALLOWED_NETWORKS``)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request

from marketplace.ops import health, metrics

bp = Blueprint("ops", __name__)

HEALTH_JSON = "application/health+json"


def _health_response(body: dict, status: int):
    response = jsonify(body)
    response.status_code = status
    response.mimetype = HEALTH_JSON
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/livez")
def livez():
    """The process answers (no dependency is checked: a restart would not fix them)."""
    return _health_response({"status": "pass"}, 200)


@bp.get("/readyz")
def readyz():
    """Database, queue storage and upload storage usable: 200, else 503."""
    ready, checks = health.readiness(current_app)
    body = {"status": "pass" if ready else "fail",
            "checks": {name: check.as_json() for name, check in checks.items()}}
    return _health_response(body, 200 if ready else 503)


@bp.get("/metrics")
def metrics_view():
    """Prometheus figures; 404 for a client outside the allowed networks (after PROXY_COUNT)."""
    if not metrics.address_allowed(request.remote_addr,
                                   current_app.extensions["metrics_networks"]):
        abort(404)
    body, content_type = metrics.scrape(current_app)
    return body, 200, {"Content-Type": content_type, "Cache-Control": "no-store"}
