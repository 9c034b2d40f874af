"""Error pages in German or English: HTML for pages, problem+json (RFC 9457) under /api/v1.
Never a stack trace."""

from __future__ import annotations

import logging
from itertools import chain

from flask import Flask, abort, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

from marketplace import problems
from marketplace.i18n import N_
from marketplace.i18n import gettext as _

log = logging.getLogger(__name__)

# status -> (title, explanation), German source strings
MESSAGES = {
    400: (N_("Ungültige Anfrage"), N_("Die Anfrage war unvollständig oder fehlerhaft.")),
    401: (N_("Anmeldung nötig"), N_("Bitte melden Sie sich an.")),
    403: (N_("Kein Zugriff"), N_("Diese Seite ist für Ihr Konto nicht freigegeben.")),
    404: (N_("Seite nicht gefunden"),
          N_("Diese Seite gibt es nicht (mehr). Prüfen Sie die Adresse.")),
    405: (N_("Nicht erlaubt"), N_("Diese Aktion ist auf diesem Weg nicht möglich.")),
    413: (N_("Datei zu groß"),
          N_("Die Datei ist größer als erlaubt. Bitte laden Sie eine kleinere Datei hoch.")),
    429: (N_("Zu viele Versuche"),
          N_("Bitte warten Sie einige Minuten und versuchen Sie es dann erneut.")),
    500: (N_("Interner Fehler"), N_("Etwas ist schiefgelaufen. Wir kümmern uns darum; bitte "
                                    "versuchen Sie es später erneut.")),
}
CSRF_MESSAGE = N_("Das Formular ist abgelaufen. Bitte laden Sie die Seite neu und senden Sie es "
                  "erneut.")
JSON_OBJECT_MESSAGE = N_("Der Inhalt der Anfrage muss ein JSON-Objekt sein.")


def wants_json() -> bool:
    """Return whether the client should get JSON (API paths and fetch calls asking for it)."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    accept = request.accept_mimetypes
    return best == "application/json" and accept[best] > accept["text/html"]


def error_response(status: int, message: str | None = None):
    """Render the error page (or JSON) for ``status``, with an optional specific message."""
    title, text = MESSAGES.get(status, MESSAGES[500] if status >= 500 else MESSAGES[400])
    detail = _(message) if message else _(text)
    if problems.is_api_request():
        return problems.problem_response(status, detail=detail)
    if wants_json():
        return jsonify(error={"status": status, "title": _(title), "message": detail}), status
    try:
        html = render_template("errors/error.html", status=status, title=_(title), message=detail)
    except Exception:  # the layout itself failed (e.g. the database is down): plain page
        log.exception("error page could not be rendered")
        html = (f"<!doctype html><title>{status}</title><h1>{escape(_(title))}</h1>"
                f"<p>{escape(detail)}</p>")
    return html, status


def init_app(app: Flask) -> None:
    """Register the handlers on ``app``."""

    @app.before_request
    def _refuse_malformed_input():
        # NUL is no character anyone types, and PostgreSQL refuses it in text: a 400 for it in
        # the path, the query, a plain form or a JSON string (multipart forms: their views)
        fields = request.args.items(multi=True)
        if request.mimetype == "application/x-www-form-urlencoded":
            fields = chain(fields, request.form.items(multi=True))
        if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in fields):
            abort(400)
        # every JSON body the app takes is an object; a list, number or string is a 400 before
        # any view (Flask-WTF would build its form data from it and fail). Unparseable JSON is
        # a 400 where a view asks for it.
        if request.is_json:
            if b"\\u0000" in request.get_data(cache=True):
                abort(400)
            try:
                body = request.get_json(silent=True)
            except RecursionError:  # nested thousands deep: json gives up, not with ValueError
                body = []
            if body is not None and not isinstance(body, dict):
                abort(400, description=JSON_OBJECT_MESSAGE)

    @app.errorhandler(CSRFError)
    def _csrf(exc):
        return error_response(400, CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        # a view may pass its own (German) message: abort(413, description="...")
        own = exc.description if exc.description != type(exc).description else None
        if problems.is_api_request():
            return _api_problem(exc, own)
        response = error_response(exc.code, own)
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            body, status = response
            return body, status, {"Allow": ", ".join(exc.valid_methods)}
        return response

    @app.errorhandler(problems.Problem)
    def _problem(exc: problems.Problem):
        return exc.response()

    @app.errorhandler(InternalServerError)
    def _internal(exc: InternalServerError):
        from marketplace.extensions import db

        original = getattr(exc, "original_exception", None)
        if original is not None:
            log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
        try:
            db.session.rollback()
        except Exception:
            log.exception("rollback after an error failed")
        return error_response(500)


def _api_problem(exc: HTTPException, own: str | None):
    """An HTTP error under /api/v1 as a problem (with Allow and the validation errors a request
    parser attached; the rate limiter adds Retry-After and the RateLimit headers itself)."""
    title, text = MESSAGES.get(exc.code, MESSAGES[500] if exc.code >= 500 else MESSAGES[400])
    detail = _(own) if own else _(text)
    errors = None
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and isinstance(data.get("messages"), dict):
        errors = data["messages"]
        # webargs nests by location ({"json": {...}}): one location is the usual case
        if len(errors) == 1 and next(iter(errors)) in ("json", "query", "form", "files",
                                                        "headers", "view_args"):
            errors = next(iter(errors.values()))
        if not isinstance(errors, dict):
            errors = {"_body": errors}
    headers = {}
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    return problems.problem_response(exc.code, detail=detail, errors=errors, headers=headers)
