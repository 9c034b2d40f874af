"""A real SMTP server on 127.0.0.1 (aiosmtpd) that collects the messages it receives.

Use it in a test module:

    from smtp_server import mail_app_config, smtp_server  # noqa: F401  (fixtures)

    def test_mail(smtp_server, client): ...
        msg = smtp_server.wait_for(1)[0]     # email.message.EmailMessage

``smtp_server`` starts once per test process and is emptied before each test; ``mail_app_config``
points the app at it (request it, or override ``app_config`` with it as test_auth.py does).
"""

from __future__ import annotations

import atexit
import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller


class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(msg)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class LocalSMTPServer:
    """The running server: ``host``, ``port``, ``messages``, ``wait_for(n)``, ``clear()``."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = _free_port()
        self._handler = _Collector()
        self._controller = Controller(self._handler, hostname=self.host, port=self.port)

    def start(self) -> LocalSMTPServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self._handler.lock:
            return list(self._handler.messages)

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        with self._handler.lock:
            return list(self._handler.envelopes)

    def clear(self) -> None:
        with self._handler.lock:
            self._handler.messages.clear()
            self._handler.envelopes.clear()

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[EmailMessage]:
        """Return the messages once at least ``count`` arrived; fail after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            messages = self.messages
            if len(messages) >= count:
                return messages
            time.sleep(0.02)
        raise AssertionError(f"expected {count} mail(s), got {len(self.messages)}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_server: LocalSMTPServer | None = None


def _shared_server() -> LocalSMTPServer:
    # one server per test process, started on first use and stopped when the process ends
    global _server
    if _server is None:
        _server = LocalSMTPServer().start()
        atexit.register(_server.stop)
    return _server


@pytest.fixture
def smtp_server():
    """The local SMTP server (one per test process), emptied for this test."""
    server = _shared_server()
    server.clear()
    return server


@pytest.fixture
def mail_app_config(app_config, smtp_server):
    """``app_config`` pointed at the local SMTP server (mails sent right after each commit)."""
    app_config.update(SMTP_HOST=smtp_server.host, SMTP_PORT=smtp_server.port,
                      SMTP_SENDER="Druckhub Test <druckhub@example.test>",
                      MAIL_SEND_AFTER_COMMIT="queue")
    return app_config
