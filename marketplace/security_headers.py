"""Response headers that keep the browser on our side: a strict Content-Security-Policy,
HSTS and Permissions-Policy, and Secure cookies whenever the request came over HTTPS.

The policy allows scripts, styles, images and connections from this site only: no inline
style, no inline script except what carries this response's nonce (the import map of three.js
and the JSON data blocks: ``nonce="{{ csp_nonce() }}"``). Browsers report violations to
``/csp-report`` (logged). Written by hand rather than with Flask-Talisman, whose last release
is from 2023: these few headers are all we need.

HTTPS is seen through ``request.is_secure`` (behind a proxy, ``PROXY_COUNT`` lets ProxyFix take
the scheme from X-Forwarded-Proto): then every cookie gets ``Secure`` (a small WSGI wrapper,
as the session and remember cookies are written after the app's own hooks) and, in
production, HSTS is sent.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections import deque

from flask import Flask, Response, current_app, g, request

from marketplace.extensions import csrf
from marketplace.rate_limits import limiter

log = logging.getLogger(__name__)

PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), "
                      "magnetometer=(), microphone=(), payment=(), usb=(), browsing-topics=()")
REPORT_PATH = "/csp-report"


def csp_nonce() -> str:
    """This response's script nonce (made on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy(nonce: str) -> str:
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
        f"report-uri {REPORT_PATH}",
    ])


def pct_class(value) -> int:
    """A percentage as the whole number of its ``pct-N`` width class (0 to 100)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    if math.isnan(number):
        return 0
    return max(0, min(100, round(number)))


class SecureCookies:
    """WSGI wrapper: mark every cookie ``Secure`` on requests that came over HTTPS."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if environ.get("wsgi.url_scheme") != "https":
            return self.wsgi_app(environ, start_response)

        def secure_start_response(status, headers, exc_info=None):
            headers = [(name, value + "; Secure"
                        if name.lower() == "set-cookie" and "; secure" not in value.lower()
                        else value) for name, value in headers]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, secure_start_response)


def init_app(app: Flask) -> None:
    """Send the headers on every response; the report endpoint; Secure cookies over HTTPS."""
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.jinja_env.filters["pct_class"] = pct_class

    @app.before_request
    def _new_nonce() -> None:
        g.pop("csp_nonce", None)  # one per response, also where an app context is reused

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if request.is_secure and current_app.config.get("ENVIRONMENT") == "production":
            headers.setdefault("Strict-Transport-Security",
                               f"max-age={current_app.config['HSTS_MAX_AGE_S']}; "
                               "includeSubDomains")
        return response

    @csrf.exempt
    @limiter.limit("60/minute")  # a report costs a log line: not unlimited
    def csp_report():
        body = request.get_data(cache=False)[:4096]
        log.warning("content security policy violation: %s", body.decode("utf-8", "replace"))
        app.extensions["druckhub_csp_reports"].append(body)  # the newest, for tests
        return "", 204

    app.extensions["druckhub_csp_reports"] = deque(maxlen=100)
    app.add_url_rule(REPORT_PATH, "csp_report", csp_report, methods=["POST"])
    app.wsgi_app = SecureCookies(app.wsgi_app)
