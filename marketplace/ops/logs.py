"""One logging set-up for every process: JSON lines on stderr, with the request or task context.

Web requests get a request id (the client's ``X-Request-ID`` when it is sane, else a new one),
returned in the response's ``X-Request-ID`` header and carried by every line logged while the
request runs, gunicorn's access line included. Workers bind the task they run the same way
(:func:`bind`). Used by ``create_app`` (web, worker, dispatcher: all start through it) and by
gunicorn.conf.py (gunicorn's own loggers), from :func:`dict_config`.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pythonjsonlogger.json import JsonFormatter

if TYPE_CHECKING:
    from flask import Flask

REQUEST_ID_HEADER = "X-Request-ID"
# what we accept from a client or a proxy: no spaces, quotes or control characters
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")
HANDLER_NAME = "druckhub"

_context: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "druckhub_log_context", default=None)

# gunicorn's access-log atoms -> field names in the JSON line
ACCESS_FIELDS = {"h": "remote_addr", "m": "method", "U": "path", "q": "query", "s": "status",
                 "B": "bytes", "M": "duration_ms", "a": "user_agent",
                 "{x-request-id}o": "request_id"}


def request_id_from(header: str | None) -> str:
    """Return the client's request id if it is sane, else a new random one."""
    if header and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def context() -> Mapping[str, Any]:
    """The fields bound to the current request or task."""
    return _context.get() or {}


def bind(**fields: Any) -> contextvars.Token:
    """Add ``fields`` to every line logged from here on (in this thread/context)."""
    return _context.set({**context(), **fields})


def unbind(token: contextvars.Token) -> None:
    """Return to the fields as they were before :func:`bind` gave ``token``."""
    _context.reset(token)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """``with bound(task="analyse_part", task_id=...):`` lines inside carry those fields."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


class ContextFilter(logging.Filter):
    """Put the bound fields (and gunicorn's access atoms) on each record as attributes."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in context().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            atoms = record.args
            for atom, name in ACCESS_FIELDS.items():
                value = atoms.get(atom)
                if value not in (None, "-", ""):
                    setattr(record, name, value)
            if isinstance(getattr(record, "status", None), str) and record.status.isdigit():
                record.status = int(record.status)
            if hasattr(record, "duration_ms"):
                record.duration_ms = int(record.duration_ms)
        return True


class Formatter(JsonFormatter):
    """JSON line: time, level, logger, message, pid, then the context and ``extra`` fields."""

    def __init__(self) -> None:
        super().__init__(["levelname", "name", "message", "process"],
                         rename_fields={"levelname": "level", "name": "logger",
                                        "process": "pid"},
                         timestamp="time")


def dict_config(level: str = "INFO", *, gunicorn: bool = False) -> dict:
    """The ``logging.config.dictConfig`` for a process (with gunicorn's loggers if asked)."""
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
               "formatter": "json", "filters": ["context"]}
    config: dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"json": {"()": Formatter}},
        "handlers": {HANDLER_NAME: handler},
        "root": {"level": level.upper(), "handlers": [HANDLER_NAME]},
        # Flask-Migrate loads alembic in every process, which announces its plugins at INFO
        "loggers": {"alembic.runtime.plugins": {"level": "WARNING"}},
    }
    if gunicorn:
        config["loggers"] |= {
            "gunicorn.error": {"level": level.upper(), "handlers": [HANDLER_NAME],
                               "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": [HANDLER_NAME],
                                "propagate": False},
        }
    return config


def configure(level: str = "INFO") -> None:
    """Send the root logger's lines through one JSON handler (once per process)."""
    root = logging.getLogger()
    if any(h.name == HANDLER_NAME for h in root.handlers):
        return  # gunicorn.conf.py or an earlier app already did
    logging.config.dictConfig(dict_config(level))


def init_app(app: Flask) -> None:
    """Give each request its id; configure the process's logging (not under the test suite)."""
    from flask import g, request

    if not app.testing:
        configure(app.config.get("LOG_LEVEL", "INFO"))
    from marketplace import taskqueue

    # a task's lines carry its name and arguments (the ids it works on)
    taskqueue.around("logs", lambda task, args: bound(task=task, task_args=list(args)))

    @app.before_request
    def _bind_request_id() -> None:
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        g.log_context_token = bind(request_id=g.request_id)

    @app.after_request
    def _return_request_id(response):
        if "request_id" in g:
            response.headers[REQUEST_ID_HEADER] = g.request_id
        return response

    @app.teardown_request
    def _unbind_request_id(exc: BaseException | None) -> None:
        token = g.pop("log_context_token", None)
        if token is not None:
            try:
                unbind(token)
            except ValueError:  # torn down in another context than it was bound in
                _context.set(None)
