"""One HTTP POST to a webhook endpoint, safe against server-side request forgery.

``requests-hardened`` (Saleor's hardened ``requests``) resolves the host name, refuses the
address if it is private, loopback, link-local, multicast, reserved, CG-NAT, NAT64 ... and then
connects to exactly that address (the Host header and TLS name stay the host name), so a DNS
answer cannot change between the check and the connection. Redirects are never followed: a 3xx
answer is a failed try (logged with its Location), since a redirect could lead anywhere
(Standard Webhooks receivers answer 2xx at the registered address).

``WEBHOOKS_ALLOW_LOOPBACK`` (tests, development) lets loopback addresses and plain http
through; under ``DRUCKHUB_ENV=production`` it is ignored. Every try is bounded: connect and read
time-outs, a deadline for the whole try (a watchdog shuts the socket down, so a receiver that
drips its answer byte by byte cannot hold a worker) and at most ``WEBHOOKS_MAX_RESPONSE_BYTES``
read. Proxies from the environment are not used: the filter must see the real destination.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from flask import current_app
from requests_hardened import Config, Manager
from requests_hardened.ip_filter import InvalidIPAddress, get_ip_address
from requests_hardened.ip_filter_adapter import IPFilterAdapter

from marketplace.i18n import N_

USER_AGENT = "Druckhub-Webhooks/1"


class UnsafeURLError(ValueError):
    """The address may not receive webhooks; ``message`` is German (translate with _())."""

    def __init__(self, message: str, **params) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


@dataclass
class Response:
    """What one try got: an HTTP status (None: no answer) and the start of the body, or why not."""

    status: int | None
    body: str = ""
    error: str | None = None
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def loopback_allowed(config=None) -> bool:
    config = config if config is not None else current_app.config
    return bool(config.get("WEBHOOKS_ALLOW_LOOPBACK")) and (
        config.get("ENVIRONMENT") != "production")


def check_url(url: str, *, resolve: bool = True, config=None) -> str:
    """Return ``url`` cleaned if it may receive webhooks, else raise UnsafeURLError.

    https only (http too where loopback is allowed), no user name or password in it, and (with
    ``resolve``) a host that does not resolve to an internal address now. A name that does not
    resolve yet is accepted (the receiver may not be set up yet); delivery checks each time.
    """
    config = config if config is not None else current_app.config
    url = (url or "").strip()
    allow_loopback = loopback_allowed(config)
    if len(url) > 2048:
        raise UnsafeURLError(N_("Die Adresse ist zu lang (höchstens 2048 Zeichen)."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURLError(N_("Das ist keine gültige Adresse.")) from None
    schemes = ("https", "http") if allow_loopback else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeURLError(N_("Die Adresse muss mit https:// beginnen."))
    if not parts.hostname:
        raise UnsafeURLError(N_("Das ist keine gültige Adresse."))
    if parts.username or parts.password:
        raise UnsafeURLError(N_("Die Adresse darf keinen Benutzernamen und kein Passwort "
                                "enthalten; prüfen Sie die Signatur."))
    if parts.fragment:
        raise UnsafeURLError(N_("Die Adresse darf keinen Anker (#) enthalten."))
    if resolve:
        port = port or (443 if parts.scheme == "https" else 80)
        check_host(parts.hostname, port, allow_loopback=allow_loopback)
    return url


def check_host(host: str, port: int, *, allow_loopback: bool) -> None:
    """Raise UnsafeURLError unless ``host`` resolves to an address webhooks may go to."""
    try:
        get_ip_address(host.strip("[]"), port, allow_loopback=allow_loopback)
    except InvalidIPAddress as exc:
        raise UnsafeURLError(N_("Die Adresse führt ins interne Netz (%(ip)s); Webhooks gehen "
                                "nur an öffentliche Adressen."), ip=str(exc)) from None
    except (socket.gaierror, UnicodeError, OSError):
        pass  # not (yet) in the DNS: each delivery resolves it again and checks the address


class _TrackingAdapter(IPFilterAdapter):
    """requests-hardened's adapter, noting each socket it opens so a watchdog can cut it."""

    def __init__(self, sockets: list, **kwargs) -> None:
        super().__init__(**kwargs)
        self._sockets = sockets

    def get_connection_with_tls_context(self, *args, **kwargs):
        pool = super().get_connection_with_tls_context(*args, **kwargs)
        sockets, base = self._sockets, pool.ConnectionCls

        class Tracked(base):  # type: ignore[misc, valid-type]
            def connect(self) -> None:
                super().connect()
                sockets.append(self.sock)

        pool.ConnectionCls = Tracked  # this session's own pool
        return pool


def _cut(sockets: list, fired: threading.Event) -> None:
    fired.set()
    for sock in list(sockets):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _manager(config) -> Manager:
    return Manager(Config(
        ip_filter_enable=True,
        ip_filter_allow_loopback_ips=loopback_allowed(config),
        never_redirect=True,
        default_timeout=(float(config["WEBHOOKS_CONNECT_TIMEOUT_S"]),
                         float(config["WEBHOOKS_TIMEOUT_S"])),
        user_agent_override=USER_AGENT,
    ))


def post(url: str, body: bytes, headers: dict[str, str], config=None) -> Response:
    """POST ``body`` to ``url`` once; never raises for network trouble (it is in the answer)."""
    config = config if config is not None else current_app.config
    limit = int(config["WEBHOOKS_MAX_RESPONSE_BYTES"])
    keep = int(config["WEBHOOKS_LOG_BODY_CHARS"])
    deadline_s = float(config["WEBHOOKS_CONNECT_TIMEOUT_S"]) + float(config["WEBHOOKS_TIMEOUT_S"])
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        check_url(url, resolve=False, config=config)
    except UnsafeURLError as exc:
        return Response(None, error=str(exc), duration_ms=took())
    # a receiver that answers byte by byte keeps each read under the read time-out: the
    # watchdog cuts the connection when the try's whole time is up
    sockets: list = []
    fired = threading.Event()
    watchdog = threading.Timer(deadline_s, _cut, (sockets, fired))
    watchdog.daemon = True
    try:
        with _manager(config).get_session() as session:
            session.trust_env = False  # no proxy from the environment: we connect ourselves
            for scheme in ("http://", "https://"):
                session.mount(scheme, _TrackingAdapter(
                    sockets, is_https_proto=scheme == "https://",
                    allow_loopback=loopback_allowed(config)))
            watchdog.start()
            answer = session.post(url, data=body, stream=True, headers={
                **headers, "content-type": "application/json"})
            try:
                chunks, size = [], 0
                for chunk in answer.iter_content(8192):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= limit:
                        break
                data = b"".join(chunks)[:limit]
            finally:
                answer.close()
    except InvalidIPAddress as exc:
        return Response(None, error=f"Adresse im internen Netz abgelehnt: {exc}",
                        duration_ms=took())
    except requests.Timeout:
        return Response(None, error="Zeitüberschreitung", duration_ms=took())
    except (requests.RequestException, OSError) as exc:
        if fired.is_set():
            return Response(None, error="Zeitüberschreitung", duration_ms=took())
        return Response(None, error=f"{type(exc).__name__}: {exc}"[:500], duration_ms=took())
    finally:
        watchdog.cancel()
    if fired.is_set():  # cut while the body was read: what came is not the whole answer
        return Response(None, error="Zeitüberschreitung", duration_ms=took())
    try:
        text = data.decode(answer.encoding or "utf-8", errors="replace")[:keep]
    except LookupError:  # an encoding name Python does not know
        text = data.decode("utf-8", errors="replace")[:keep]
    error = None
    if 300 <= answer.status_code < 400:
        location = answer.headers.get("location", "")[:300]
        error = f"Weiterleitung nicht gefolgt: {location}"
    elif not 200 <= answer.status_code < 300:
        error = f"HTTP {answer.status_code}"
    return Response(answer.status_code, text, error, took())
