"""The public REST API, version 1 (``/api/v1``): for firms' systems and the hub's tools.

Set up by :func:`init_app`: flask-smorest publishes every view and schema as OpenAPI 3.1
(``/api/v1/openapi.json``, ``/api/v1/docs``). The small internal JSON the console's pages poll
(``marketplace.api``: ``/api/v1/hub/printers``, ``/api/v1/hub/queue/counts``, ``/api/v1/health``)
stays as it was, outside the document.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from marketplace.api.v1 import core, docs, firm, hub, webhooks

    core.init_app(app)
    blueprints = (*firm.BLUEPRINTS, *hub.BLUEPRINTS, *webhooks.BLUEPRINTS)
    for blueprint in blueprints:
        core.api.register_blueprint(blueprint)
    app.register_blueprint(docs.bp)
    _name_operations(app, {b.name for b in blueprints})


def _name_operations(app: Flask, names: set[str]) -> None:
    """Give every operation its view's name as ``operationId`` (stable names for generated
    clients and for the documentation's links, e.g. ``#/Orders/place_order``)."""
    import re

    paths = core.api.spec._paths  # apispec's registry of path -> operations
    for rule in app.url_map.iter_rules():
        blueprint, _sep, view = rule.endpoint.partition(".")
        if blueprint not in names:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = paths.get(path, {}).get(method.lower())
            if operation is not None:
                operation["operationId"] = view
