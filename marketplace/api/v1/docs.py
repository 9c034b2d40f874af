"""The OpenAPI document (``/api/v1/openapi.json``, generated from the views and schemas by
flask-smorest) and the interactive documentation (``/api/v1/docs``: Swagger UI from the
pinned copy in static/vendor, no CDN; it runs under the app's Content-Security-Policy)."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request

from marketplace.api.v1.core import api

bp = Blueprint("api_docs", __name__, url_prefix="/api/v1")


@bp.get("/openapi.json")
def openapi_json():
    response = jsonify(api.spec.to_dict())
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/docs")
def docs():
    return render_template("api/docs.html")
