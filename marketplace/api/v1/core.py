"""What every route of the public API shares: token authentication and scopes, problems,
rate limits per token with RateLimit headers, ETag/If-None-Match, cursor pagination and
Idempotency-Key.

Authentication is ``Authorization: Bearer dhp_...`` only (no session cookie: the API is exempt
from CSRF, so a cookie must not be able to act). The token's user becomes ``current_user`` for
the request, so the domain operations scope rows exactly as for the pages (another firm's id
is a 404).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request
from flask_login import current_user
from flask_smorest import Api, Blueprint
from marshmallow import ValidationError
from webargs.flaskparser import FlaskParser

from marketplace.engine import options as options_schema
from marketplace.extensions import csrf, db
from marketplace.problems import CONTENT_TYPE as PROBLEM_TYPE
from marketplace.problems import Problem
from marketplace.rate_limits import client_address, limiter, setting
from marketplace.tokens import operations as tokens
from marketplace.tokens.models import ApiToken, IdempotencyRecord

log = logging.getLogger(__name__)

TOKEN_KEY = "druckhub.api_token"  # request.environ: the checked token (or the TokenError)
IDEMPOTENCY_HEADER = "Idempotency-Key"
PAGE_DEFAULT, PAGE_MAX = 50, 200


# --- the OpenAPI layer --------------------------------------------------------------------------
class ProblemParser(FlaskParser):
    """webargs' parser: a request that fails its schema is a problem (422, ``errors`` per
    field). A quote's options fail the way the pages' do: the option schema's code and
    sentence (``bad_quantity``: "Die Stückzahl muss ...")."""

    DEFAULT_VALIDATION_STATUS = 422

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        raise Problem(400, "invalid_json", _("Der Inhalt der Anfrage ist kein gültiges JSON."))

    def handle_error(self, error: ValidationError, req, schema, *, error_status_code,
                     error_headers):
        messages = error.messages if isinstance(error.messages, dict) else {
            "_schema": error.messages}
        if len(messages) == 1 and next(iter(messages)) in ("json", "query", "form", "files",
                                                            "headers", "view_args"):
            messages = next(iter(messages.values()))  # webargs names the location
            if not isinstance(messages, dict):
                messages = {"_schema": messages}
        if isinstance(schema, options_schema.QuoteOptionsSchema):
            raise option_problem(request.get_json(silent=True), messages)
        line_problem = _line_option_problem(messages)
        if line_problem is not None:
            raise line_problem
        raise Problem(error_status_code or 422, "validation_error",
                      _("Die Anfrage enthält ungültige Felder."), errors=messages)


def option_problem(raw: Any, messages: dict | None = None, *, line: int | None = None
                   ) -> Problem:
    """The problem of options the option schema refuses (its code, its German sentence);
    ``line``: the index of the quote line they came in."""
    from marketplace.settings import operations as settings

    try:
        options_schema.load_options(raw, settings.get_materials())
    except options_schema.OptionError as exc:
        text = _(exc.template, **exc.params)
        errors: dict[str, Any] = {exc.field: [text]}
        field = exc.field
        if line is not None:
            errors, field = {"lines": {str(line): errors}}, f"lines[{line}].{exc.field}"
        return Problem(422, exc.code, text, errors=errors, field=field)
    return Problem(422, "validation_error", _("Die Anfrage enthält ungültige Felder."),
                   errors=messages)


def _line_option_problem(messages: dict) -> Problem | None:
    """A quote's lines that fail the option schema: the first one's option problem."""
    lines = messages.get("lines")
    raw = request.get_json(silent=True)
    if not isinstance(lines, dict) or not isinstance(raw, dict) or not isinstance(
            raw.get("lines"), list):
        return None
    for index in sorted(k for k in lines if isinstance(k, int)):
        problem = lines[index]
        if (isinstance(problem, dict) and set(problem) & set(options_schema.MESSAGES)
                and index < len(raw["lines"])):
            found = option_problem(raw["lines"][index], line=index)
            if found.code != "validation_error":
                return found
    return None


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = ProblemParser()


class DruckhubApi(Api):
    """flask-smorest's Api, with the app's own error handling (problems, registered by
    :mod:`marketplace.errors`) and problem+json as every error's documented answer."""

    def _register_error_handlers(self) -> None:  # the app's handlers answer (problem+json)
        pass

    def _register_responses(self) -> None:
        from http import HTTPStatus

        from marketplace.api.v1.schemas import ProblemSchema

        for status in HTTPStatus:
            if status < 400:
                continue
            self.spec.components.response(status.name, {
                "description": status.phrase,
                "content": {PROBLEM_TYPE: {"schema": ProblemSchema}}}, lazy=True)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, {
            "description": "An error, as application/problem+json (RFC 9457) with a stable "
                           "`code`.",
            "content": {PROBLEM_TYPE: {"schema": ProblemSchema}}}, lazy=True)


api = DruckhubApi()


def _(text: str, **params: Any) -> str:
    from marketplace.i18n import gettext

    return gettext(text, **params)


# --- tokens, scopes, roles ----------------------------------------------------------------------
def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def resolve_token() -> ApiToken | tokens.TokenError | None:
    """The request's token (checked once per request), a TokenError, or None (no header)."""
    if TOKEN_KEY in request.environ:
        return request.environ[TOKEN_KEY]
    plain = bearer_token()
    result: ApiToken | tokens.TokenError | None = None
    if plain is not None:
        try:
            result = tokens.check(tokens.find(plain))
        except tokens.TokenError as exc:
            result = exc
    request.environ[TOKEN_KEY] = result
    return result


def rate_limit_key() -> str:
    """Rate limits count per token; requests without a valid token per client address."""
    token = resolve_token()
    if isinstance(token, ApiToken):
        return f"token:{token.id}"
    return f"ip:{client_address()}"


def current_token() -> ApiToken:
    token = request.environ.get(TOKEN_KEY)
    assert isinstance(token, ApiToken)
    return token


def requires(scope: str, *, roles: tuple[str, ...] | None = None, admin: bool = False):
    """Mark a view: the token needs ``scope``; the user one of ``roles`` (``admin``: admins).
    Checked before the request is parsed (see :func:`_authenticate`)."""

    def decorator(view: Callable) -> Callable:
        view._api_scope = scope  # copied up by the wrappers (functools.wraps)
        view._api_roles = ("admin",) if admin else roles
        return view

    return decorator


def _authenticate() -> None:
    """Blueprint hook: a valid token with the view's scope, and the user's role."""
    token = resolve_token()
    if token is None:
        raise Problem(401, "unauthorized", _("Bitte ein API-Token senden: Authorization: "
                                             "Bearer dhp_..."),
                      headers={"WWW-Authenticate": 'Bearer realm="druckhub"'})
    if isinstance(token, tokens.TokenError):
        raise Problem(401, token.code, _(token.message, **token.params),
                      headers={"WWW-Authenticate": 'Bearer realm="druckhub", '
                                                   'error="invalid_token"'})
    g._login_user = token.user  # Flask-Login's current_user for this request
    if token.last_used_at is None or (
            (utcnow() - token.last_used_at).total_seconds() >= tokens.TOUCH_EVERY_S):
        tokens.touch(token.id, client_address())
    view = current_app.view_functions.get(request.endpoint or "")
    scope = getattr(view, "_api_scope", None)
    if scope is not None and scope not in token.scope_list:
        raise Problem(403, "insufficient_scope",
                      _("Dem Token fehlt der Bereich „%(scope)s“.", scope=scope),
                      headers={"WWW-Authenticate": f'Bearer realm="druckhub", '
                                                   f'error="insufficient_scope", scope="{scope}"'},
                      required_scope=scope)
    roles = getattr(view, "_api_roles", None)
    if scope == "hub" and not token.user.is_staff:
        raise Problem(403, "role_forbidden", _("Nur für die Technik."))
    if roles and token.user.role not in roles:
        if roles == ("admin",):
            raise Problem(403, "admin_only", _("Nur die Verwaltung des Hubs darf das ändern."))
        raise Problem(403, "role_forbidden",
                      _("Das dürfen nur Konten einer Firma.") if roles == ("firm",)
                      else _("Für Ihr Konto nicht freigegeben."))


def utcnow():
    from marketplace.models import utcnow as now

    return now()


# --- response headers ---------------------------------------------------------------------------
def _after(response: Response) -> Response:
    """RateLimit headers (IETF draft), ETag and 304 for reads, no caching by proxies."""
    limit = getattr(limiter, "current_limit", None)
    if limit is not None:
        reset = max(0, int(round(limit.reset_at - _time())))
        response.headers["RateLimit-Limit"] = str(limit.limit.amount)
        response.headers["RateLimit-Remaining"] = str(max(0, limit.remaining))
        response.headers["RateLimit-Reset"] = str(reset)
        response.headers["RateLimit-Policy"] = (
            f"{limit.limit.amount};w={limit.limit.get_expiry()}")
    if request.method in ("GET", "HEAD") and response.status_code == 200 and (
            not response.direct_passthrough):
        if not response.headers.get("ETag"):
            response.add_etag()
        response.make_conditional(request)
    response.headers.setdefault("Cache-Control", "private, no-cache")
    response.vary.add("Authorization")
    return response


def _time() -> float:
    import time

    return time.time()


def make_blueprint(name: str, description: str) -> ApiBlueprint:
    """A blueprint of the API: token required, CSRF-exempt, rate-limited per token."""
    bp = ApiBlueprint(name, __name__, url_prefix="/api/v1", description=description)
    csrf.exempt(bp)
    limiter.limit(setting("LIMIT_API_PER_TOKEN"), key_func=rate_limit_key,
                  scope="api_v1", error_message=_rate_limited_message)(bp)
    bp.before_request(_authenticate)
    bp.after_request(_after)
    return bp


def _rate_limited_message() -> str:
    from marketplace.rate_limits import RATE_LIMITED

    return _(RATE_LIMITED)


# --- cursor pagination ----------------------------------------------------------------------------
def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _sep, value = raw.partition(":")
        number = int(value)
        if kind != "id" or number < 0 or number > 2**62:
            raise ValueError(raw)
        return number
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise Problem(400, "bad_cursor", _("Ungültiger Cursor; bitte den Wert aus next_cursor "
                                           "verwenden.")) from None


def page(query: sa.Select, id_column, args: dict[str, Any], dump: Callable[[Any], Any]
         ) -> dict[str, Any]:
    """The newest rows of ``query`` after the cursor: ``{"items", "next_cursor"}`` (newest
    first; the cursor is the last row's id, opaque to clients)."""
    limit = args.get("limit") or PAGE_DEFAULT
    after = decode_cursor(args.get("cursor"))
    if after is not None:
        query = query.where(id_column < after)
    rows = list(db.session.scalars(query.order_by(id_column.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [dump(r) for r in rows],
            "next_cursor": encode_cursor(rows[-1].id) if more and rows else None}


# --- transactions and Idempotency-Key -----------------------------------------------------------
def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}?{request.query_string.decode()}".encode())
    digest.update(b"\0" + (request.content_type or "").split(";")[0].encode() + b"\0")
    if request.mimetype == "multipart/form-data":
        for name, value in sorted(request.form.items(multi=True)):
            digest.update(f"f:{name}={value}\0".encode())
        for name, upload in sorted(request.files.items(multi=True), key=lambda i: i[0]):
            data = upload.read()
            upload.seek(0)
            digest.update(f"u:{name}:{upload.filename}:".encode())
            digest.update(hashlib.sha256(data).digest())
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _record(user_id: int, key: str) -> IdempotencyRecord | None:
    keep_s = int(current_app.config.get("IDEMPOTENCY_KEEP_S", 86400))
    row = db.session.scalar(sa.select(IdempotencyRecord).where(
        IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key))
    if row is not None and (utcnow() - row.created_at).total_seconds() > keep_s:
        db.session.delete(row)  # too old to count: the key may be used again
        db.session.commit()
        return None
    return row


IN_PROGRESS_STALE_S = 300  # a key left "in progress" by a crashed request is free again


def _replay(row: IdempotencyRecord, fingerprint: str) -> Response:
    if row.fingerprint != fingerprint:
        raise Problem(422, "idempotency_key_reused",
                      _("Dieser Idempotency-Key gehört zu einer anderen Anfrage."))
    if row.status == 0:
        raise Problem(409, "idempotency_in_progress",
                      _("Eine Anfrage mit diesem Idempotency-Key läuft noch; bitte gleich "
                        "noch einmal."), headers={"Retry-After": "1"})
    response = Response(row.body, status=row.status, content_type=row.content_type)
    if row.location:
        response.headers["Location"] = row.location
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _claim(user_id: int, key: str, fingerprint: str) -> Response | None:
    """Take the key for this request: insert its record (status 0, "in progress") first, in
    the transaction the view's work joins. A concurrent twin's insert waits on the unique
    (user, key) until this one commits or rolls back (PostgreSQL: the index; SQLite: the
    write lock this insert takes), then fails and replays this answer. Returns the answer
    to give instead of running the view, or None (claimed)."""
    row = _record(user_id, key)
    if row is not None and row.status == 0 and (
            (utcnow() - row.created_at).total_seconds() > IN_PROGRESS_STALE_S):
        db.session.delete(row)
        db.session.commit()
        row = None
    if row is not None:
        return _replay(row, fingerprint)
    db.session.add(IdempotencyRecord(user_id=user_id, key=key, fingerprint=fingerprint,
                                     status=0, body="", content_type=""))
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        db.session.rollback()
        row = _record(user_id, key)
        if row is None:
            raise
        return _replay(row, fingerprint)
    return None


def _release(user_id: int, key: str) -> None:
    """Nothing was created: free the key (its record may have been committed by a view that
    committed on its way, e.g. to queue an estimate)."""
    db.session.rollback()
    db.session.execute(sa.delete(IdempotencyRecord).where(
        IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key,
        IdempotencyRecord.status == 0))
    db.session.commit()


def writes(*, idempotency: str | None = None):
    """Decorator (directly below ``route``) for views that change something: the view flushes,
    this commits after a success and rolls back after a problem.

    ``idempotency="required"|"optional"``: the answer of a successful POST is kept under the
    ``Idempotency-Key`` header, in the same transaction as what it created. The same key again
    (same request) gives the same answer, ``Idempotent-Replayed: true``; with another request
    it is a 422. Two concurrent requests with one key: the key's record is inserted before the
    work, so the second waits for the first and then answers with the first's answer.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            key = request.headers.get(IDEMPOTENCY_HEADER) if idempotency else None
            if idempotency == "required" and key is None:
                raise Problem(400, "idempotency_key_missing",
                              _("Bitte einen Idempotency-Key mitsenden (z. B. eine UUID), "
                                "damit eine wiederholte Anfrage nichts doppelt anlegt."))
            if key is not None and not _valid_key(key):
                raise Problem(400, "idempotency_key_invalid",
                              _("Der Idempotency-Key muss 1 bis 255 sichtbare ASCII-Zeichen "
                                "lang sein."))
            user_id = current_user.id
            if key is not None:
                answer = _claim(user_id, key, _fingerprint())
                if answer is not None:
                    return answer
            try:
                response = current_app.make_response(view(*args, **kwargs))
            except BaseException:
                if key is not None:
                    _release(user_id, key)
                else:
                    db.session.rollback()
                raise
            if response.status_code >= 300 or response.status_code == 202:
                # nothing created (202: only queued, which the view committed itself)
                if key is not None:
                    _release(user_id, key)
                else:
                    db.session.rollback()
                return response
            if key is not None:
                db.session.execute(sa.update(IdempotencyRecord).where(
                    IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key).values(
                    status=response.status_code, body=response.get_data(as_text=True),
                    content_type=response.content_type or "application/json",
                    location=response.headers.get("Location")))
            db.session.commit()
            return response

        return wrapped

    return decorator


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(33 <= ord(c) <= 126 or c == " " for c in key)


def idempotency_doc(required: bool) -> dict[str, Any]:
    """The Idempotency-Key header parameter as the OpenAPI document shows it."""
    return {"parameters": [{
        "in": "header", "name": IDEMPOTENCY_HEADER, "required": required,
        "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                   "pattern": "^[!-~][ -~]*$"},
        "description": "A key of your choice (a UUID) per operation: a retry with the same key "
                       "and body gets the first answer again (header Idempotent-Replayed: "
                       "true) and creates nothing twice. Kept 24 hours."}]}


# --- set-up ---------------------------------------------------------------------------------------
def init_app(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "Druckhub API")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("LIMIT_API_PER_TOKEN", "300/minute")
    app.config.setdefault("API_SPEC_OPTIONS", {})
    app.config["API_SPEC_OPTIONS"] = {
        "info": {"description": API_DESCRIPTION},
        "servers": [{"url": "/", "description": "this hub"}],
        "security": [{"bearerAuth": []}],
        "components": {"securitySchemes": {"bearerAuth": {
            "type": "http", "scheme": "bearer", "bearerFormat": "dhp_ personal access token",
            "description": "A personal access token from the account page or `flask --app "
                           "marketplace tokens create EMAIL --scope read,write`."}}},
        **app.config["API_SPEC_OPTIONS"],
    }
    api.init_app(app)


API_DESCRIPTION = """\
The Druckhub API for firms' ERP/PLM systems and the hub's tools.

* **Authentication:** `Authorization: Bearer dhp_...` (personal access token; scopes `read`,
  `write`, `hub`). Firm tokens see their firm's objects only (another firm's id is a 404).
* **Errors:** `application/problem+json` (RFC 9457) with a stable `code`; `title` in English,
  `detail` in the account's language.
* **Idempotency:** every POST that creates something takes an `Idempotency-Key` header
  (required for orders); a retry with the same key never creates twice.
* **Pagination:** lists take `limit` and `cursor`; the answer's `next_cursor` fetches the next
  page (null at the end).
* **Caching:** reads carry an `ETag`; `If-None-Match` gives 304 when nothing changed.
* **Rate limits:** per token, announced in `RateLimit-Limit`, `RateLimit-Remaining`,
  `RateLimit-Reset` and `RateLimit-Policy`; 429 with `Retry-After` beyond.
"""
