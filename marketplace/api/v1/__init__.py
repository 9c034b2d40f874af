"""The public REST API, version 1 (``/api/v1``): for firms' systems and the hub's tools.

Set up by :func:`init_app`: flask-smorest publishes every view and schema as OpenAPI 3.1
(``/api/v1/openapi.json``, ``/api/v1/docs``). The small internal JSON the console's pages poll
(``marketplace.api``: ``/api/v1/hub/printers``, ``/api/v1/hub/queue/counts``, ``/api/v1/health``)
stays as it was, outside the document.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from marketplace.api.v1 import core, docs, firm, hub

    core.init_app(app)
    for blueprint in (*firm.BLUEPRINTS, *hub.BLUEPRINTS):
        core.api.register_blueprint(blueprint)
    app.register_blueprint(docs.bp)
