"""Errors of the public API as ``application/problem+json`` (RFC 9457).

Every problem has a stable ``code`` (also in ``type``: ``urn:druckhub:problem:<code>``), an
English ``title`` that belongs to the code, the HTTP ``status`` and a ``detail`` in the
account's language (German by default). Validation problems add ``errors`` (field -> messages).
Used by the API's views and by the app's error handlers for every path under ``/api/v1``
(404, 405, 413, 429 and 500 included). No Flask blueprint imports here.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from flask import Response, request

CONTENT_TYPE = "application/problem+json"
API_PREFIX = "/api/v1"
TYPE_PREFIX = "urn:druckhub:problem:"

# the code of a plain HTTP error
STATUS_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 410: "gone",
    412: "precondition_failed", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "validation_error", 429: "rate_limited", 500: "internal_error",
    503: "service_unavailable",
}
# English titles of the codes that are not plain HTTP errors (one title per code)
TITLES = {
    "invalid_token": "Invalid or unknown token",
    "token_expired": "Token expired",
    "token_revoked": "Token revoked",
    "inactive": "Account locked",
    "insufficient_scope": "Token lacks the scope for this operation",
    "role_forbidden": "Not allowed for this account's role",
    "admin_only": "Only hub administrators may do this",
    "idempotency_key_missing": "Idempotency-Key header required",
    "idempotency_key_invalid": "Idempotency-Key header invalid",
    "idempotency_key_reused": "Idempotency-Key reused with another request",
    "idempotency_in_progress": "A request with this Idempotency-Key is still running",
    "bad_cursor": "Invalid pagination cursor",
    "invalid_json": "Request body is not valid JSON",
    "not_analysed": "Part not analysed yet",
    "estimate_pending": "Estimate being computed",
    "not_quotable": "Part cannot be quoted",
    "invalid_transition": "Not possible in the current state",
    "changed_meanwhile": "Changed by someone else meanwhile",
    "printer_unreachable": "Printer refused or unreachable",
    "no_invoice": "No invoice issued yet",
    "document_refused": "Document cannot be issued",
    "mixed_firms": "Parts of different firms in one quote",
}


def is_api_request() -> bool:
    """Whether this request is for the public API (its errors are problems)."""
    path = request.path
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def title_for(status: int, code: str) -> str:
    if code in TITLES:
        return TITLES[code]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(status: int, code: str | None = None, detail: str | None = None, *,
                 errors: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    code = code or STATUS_CODES.get(status) or ("internal_error" if status >= 500 else
                                               "bad_request")
    body: dict[str, Any] = {"type": TYPE_PREFIX + code, "title": title_for(status, code),
                            "status": status, "code": code}
    if detail:
        body["detail"] = str(detail)
    try:
        body["instance"] = request.path
    except RuntimeError:  # outside a request
        pass
    if errors:
        body["errors"] = errors
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_response(status: int, code: str | None = None, detail: str | None = None, *,
                     errors: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                     **extra: Any) -> Response:
    """A ``application/problem+json`` response."""
    body = problem_body(status, code, detail, errors=errors, **extra)
    response = Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                        content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class Problem(Exception):
    """Raise to answer with a problem (the app's handler renders it)."""

    def __init__(self, status: int, code: str | None = None, detail: str | None = None, *,
                 errors: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers = headers
        self.extra = extra

    def response(self) -> Response:
        return problem_response(self.status, self.code, self.detail, errors=self.errors,
                                headers=self.headers, **self.extra)
