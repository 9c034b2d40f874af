"""Uploaded parts: check and store a firm's file, then have the quote engine analyse it.

``store_upload`` checks the name, extension, size and the file's signature, stores the bytes by
content hash and adds a Part in state ``pending``. The analysis runs inline when
``ANALYSIS_WORKERS`` is 0 (tests), else in a small pool of worker threads, each analysing in a
child process with a timeout (``analysis_runner``), once the caller has committed the Part.
The Part ends ``ready`` (``analysis`` holds the engine's JSON) or ``error`` (code + message).
"""

from __future__ import annotations

import json
import logging
import struct
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from marketplace.engine import runner as analysis_runner
from marketplace.engine.meshio.units import USER_UNITS
from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.models import Firm, Part, User, utcnow
from marketplace.parts import storage

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 200


class UploadError(Exception):
    """An upload was refused. ``message`` is German with ``%(name)s`` placeholders for ``params``."""

    def __init__(self, code: str, message: str, status: int = 400, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.code = code
        self.message = message
        self.params = params
        self.status = status


def clean_filename(filename: str | None) -> str:
    """Return a display name: no path, no control characters, at most MAX_NAME_CHARS."""
    name = unicodedata.normalize("NFC", filename or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        keep = MAX_NAME_CHARS - len(ext) - 1
        name = f"{stem[:keep]}.{ext}" if dot and len(ext) <= 8 else name[:MAX_NAME_CHARS]
    return name


def file_format(name: str, allowed: tuple[str, ...]) -> str:
    """Return the format (``stl``/``3mf``/``obj``) from the last extension or raise UploadError."""
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in allowed:
        raise UploadError(
            "bad_extension",
            N_("Dateityp nicht unterstützt: bitte STL-, 3MF- oder OBJ-Dateien hochladen."),
            status=415,
        )
    return ext[1:]


def check_signature(data: bytes, fmt: str) -> None:
    """Refuse bytes that cannot be a file of ``fmt`` (the engine does the deep checks)."""
    if fmt == "stl":
        if len(data) >= 84:
            (count,) = struct.unpack_from("<I", data, 80)
            if 84 + 50 * count == len(data):
                return  # binary STL whose size matches its triangle count
        if data.lstrip()[:5].lower() == b"solid" and b"\0" not in data[:4096]:
            return  # ASCII STL
        raise UploadError(
            "bad_stl",
            N_("Das ist keine gültige STL-Datei (Größe und Kopf passen nicht zusammen)."),
        )
    if fmt == "3mf" and not data.startswith(b"PK\x03\x04"):
        raise UploadError("bad_3mf", N_("Das ist keine gültige 3MF-Datei (kein ZIP-Archiv)."))
    if fmt == "obj" and b"\0" in data[:65536]:
        raise UploadError("bad_obj", N_("Das ist keine gültige OBJ-Datei (keine Textdatei)."))


def store_upload(firm: Firm, user: User | None, filename: str | None, data: bytes, *,
                 inline: bool | None = None) -> Part:
    """Check and store one uploaded file for ``firm``; return its Part (caller commits).

    The analysis runs in the background unless ``inline`` (default: ``ANALYSIS_WORKERS == 0``).
    Raises UploadError (with an HTTP status) for a file that is refused outright.
    """
    cfg = current_app.config
    name = clean_filename(filename)
    if not name:
        raise UploadError("no_filename", N_("Die Datei hat keinen Namen."))
    fmt = file_format(name, tuple(cfg["UPLOAD_EXTENSIONS"]))
    if not data:
        raise UploadError("empty_file", N_("Die Datei „%(name)s“ ist leer."), name=name)
    limit = int(cfg["MAX_CONTENT_LENGTH"])
    if len(data) > limit:
        raise UploadError(
            "too_large", N_("Die Datei ist zu groß (höchstens %(limit_mb)s MB)."), status=413,
            limit_mb=limit // (1024 * 1024),
        )
    check_signature(data, fmt)
    max_pending = int(cfg.get("ANALYSIS_MAX_PENDING_PER_FIRM", 20))
    pending = db.session.scalar(
        sa.select(sa.func.count(Part.id)).where(Part.firm_id == firm.id, Part.status == "pending")
    )
    if pending >= max_pending:
        raise UploadError(
            "too_many_pending",
            N_("Es werden gerade %(count)s Dateien analysiert; bitte warten Sie einen Moment."),
            status=429, count=pending,
        )
    sha = storage.save(data)
    part = Part(
        firm_id=firm.id, uploaded_by_id=user.id if user else None, original_name=name,
        sha256=sha, file_format=fmt, size_bytes=len(data), status="pending",
    )
    db.session.add(part)
    db.session.flush()
    if _inline(inline):
        analyse_now(part, data)
    else:
        _after_commit(part.id)
    return part


def _inline(inline: bool | None) -> bool:
    return inline if inline is not None else int(current_app.config["ANALYSIS_WORKERS"]) <= 0


def apply_analysis(part: Part, analysis: dict[str, Any]) -> None:
    """Record a finished analysis on ``part``."""
    part.analysis = analysis
    part.units = (analysis.get("mesh") or {}).get("units") or part.units
    part.status = "ready"
    part.error_code = part.error_message = None


def apply_failure(part: Part, code: str, message: str, message_en: str | None = None) -> None:
    """Record why ``part`` could not be analysed (the English text is kept in ``analysis``)."""
    part.status = "error"
    part.error_code = code[:64]
    part.error_message = message
    part.analysis = {"error": {"code": code, "message": message,
                               "message_en": message_en or message}}


def analyse_now(part: Part, data: bytes | None = None, units: str | None = None) -> Part:
    """Analyse ``part`` in this process (tests, CLI) and record the outcome."""
    if data is None:
        data = storage.read(part.sha256)
    try:
        apply_analysis(part, analysis_runner.analyse_bytes(
            data, part.original_name, units, current_app.config["UPLOAD_DIR"]))
    except analysis_runner.AnalysisFailedError as exc:
        apply_failure(part, exc.code, exc.message, exc.message_en)
    db.session.flush()
    return part


def reanalyse(part: Part, units: str, *, inline: bool | None = None) -> Part:
    """Analyse ``part`` again in other units (mm, cm, m, inch); the caller commits."""
    if units not in USER_UNITS:
        raise UploadError("bad_units", N_("Unbekannte Einheit."))
    part.units = units
    part.status = "pending"
    db.session.flush()
    if _inline(inline):
        return analyse_now(part, units=units)
    _after_commit(part.id, units)
    return part


# --- background analysis -------------------------------------------------------------------
_lock = threading.Lock()
_in_flight: set[int] = set()


def _pool(app: Flask) -> ThreadPoolExecutor:
    with _lock:
        pool = app.extensions.get("druckhub_analysis_pool")
        if pool is None:
            pool = ThreadPoolExecutor(
                max_workers=int(app.config["ANALYSIS_WORKERS"]), thread_name_prefix="analysis"
            )
            app.extensions["druckhub_analysis_pool"] = pool
        return pool


def _after_commit(part_id: int, units: str | None = None) -> None:
    """Queue the analysis of ``part_id`` for when the current transaction commits."""
    session = db.session()
    session.info.setdefault("druckhub_analyse", []).append((part_id, units))


@sa.event.listens_for(sa.orm.Session, "after_commit")
def _submit_after_commit(session: sa.orm.Session) -> None:
    queued = session.info.pop("druckhub_analyse", None)
    if queued:
        app = current_app._get_current_object()
        for part_id, units in queued:
            submit(app, part_id, units)


@sa.event.listens_for(sa.orm.Session, "after_rollback")
def _forget_after_rollback(session: sa.orm.Session) -> None:
    session.info.pop("druckhub_analyse", None)


def submit(app: Flask, part_id: int, units: str | None = None) -> bool:
    """Start analysing ``part_id`` in the background unless it is running already.

    With ``REDIS_URL`` set the job goes to a Redis list that ``flask analysis worker`` takes
    from (any number of worker processes); otherwise to this process's thread pool.
    """
    if app.config.get("REDIS_URL"):
        return _redis_submit(app, part_id, units)
    with _lock:
        if part_id in _in_flight:
            return False
        _in_flight.add(part_id)
    _pool(app).submit(_run, app, part_id, units)
    return True


# --- Redis queue (optional) -----------------------------------------------------------------
def _redis(app: Flask):
    import redis

    return redis.Redis.from_url(app.config["REDIS_URL"], socket_timeout=10,
                                socket_connect_timeout=3)


def _queue_name(app: Flask) -> str:
    return app.config.get("ANALYSIS_QUEUE", "druckhub:analysis")


def _redis_submit(app: Flask, part_id: int, units: str | None) -> bool:
    r = _redis(app)
    claim = f"{_queue_name(app)}:claim:{part_id}"
    # one queued analysis per part: the claim expires if a worker dies with the job
    if not r.set(claim, "1", nx=True, ex=int(float(app.config["ANALYSIS_TIMEOUT_S"]) * 2) + 60):
        return False
    r.lpush(_queue_name(app), json.dumps({"part_id": part_id, "units": units}))
    return True


def run_redis_worker(app: Flask, *, once: bool = False, block_s: int = 5,
                     max_jobs: int | None = None) -> int:
    """Take analysis jobs from the Redis list and run them; return how many ran.

    ``once``: stop when the list is empty (cron, tests); else wait for work for ever.
    """
    r = _redis(app)
    queue = _queue_name(app)
    done = 0
    while max_jobs is None or done < max_jobs:
        item = r.brpop([queue], timeout=block_s)
        if item is None:
            if once:
                break
            continue
        try:
            job = json.loads(item[1])
            part_id, units = int(job["part_id"]), job.get("units")
        except (ValueError, KeyError, TypeError):
            log.warning("dropping a malformed analysis job %r", item[1][:200])
            continue
        try:
            _run(app, part_id, units)
        finally:
            r.delete(f"{queue}:claim:{part_id}")
        done += 1
    return done


def _run(app: Flask, part_id: int, units: str | None) -> None:
    try:
        with app.app_context():
            part = db.session.get(Part, part_id)
            if part is None:
                return
            path = storage.path_for(part.sha256)
            name = part.original_name
            db.session.rollback()  # no transaction held open while the child works
            try:
                result: dict[str, Any] | None = analysis_runner.analyse_in_subprocess(
                    path, name, units or None, timeout_s=float(app.config["ANALYSIS_TIMEOUT_S"]),
                    memory_mb=int(app.config.get("ANALYSIS_MEMORY_MB", 0)),
                    mesh_root=app.config["UPLOAD_DIR"],
                )
                failure = None
            except analysis_runner.AnalysisFailedError as exc:
                result, failure = None, (exc.code, exc.message, exc.message_en)
            part = db.session.get(Part, part_id)
            if part is None:
                return
            if failure:
                apply_failure(part, *failure)
            else:
                apply_analysis(part, result)
            db.session.commit()
    except Exception:  # a worker thread must never die silently
        log.exception("analysis of part %s failed", part_id)
    finally:
        with _lock:
            _in_flight.discard(part_id)


def ensure_analysis(part: Part) -> None:
    """Restart a pending analysis that no worker is running (e.g. after a server restart)."""
    if part.status != "pending" or int(current_app.config["ANALYSIS_WORKERS"]) <= 0:
        return
    grace = timedelta(seconds=5)
    if part.id not in _in_flight and utcnow() - part.created_at > grace:
        submit(current_app._get_current_object(), part.id, part.units)


def wait_idle(app: Flask, timeout_s: float = 30.0) -> bool:
    """Wait until no analysis runs in this process (tests, shutdown); return whether idle."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with _lock:
            if not _in_flight:
                return True
        time.sleep(0.05)
    return False


def error_text(part: Part, lang: str = "de") -> str | None:
    """Return why ``part`` could not be analysed, in ``lang`` (de/en)."""
    if part.status != "error":
        return None
    stored = (part.analysis or {}).get("error") or {}
    if lang == "en" and stored.get("message_en"):
        return stored["message_en"]
    return part.error_message
