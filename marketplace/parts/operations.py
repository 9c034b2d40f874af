"""Uploaded parts: check and store a firm's file, then have a queued task analyse it.

``store_upload`` checks the name, extension, size and the file's signature, stores the bytes by
content hash and adds a Part in state ``pending`` (at most ``ANALYSIS_MAX_PENDING_PER_FIRM`` per
firm, checked under the firm's row lock), and queues its analysis for when the caller commits.
The task (:mod:`marketplace.parts.tasks`) calls :func:`analyse`: it claims the part (lease +
attempt), runs the quote engine in a child process with a time and a memory limit, and records
``ready`` (``analysis`` holds the engine's JSON, the default options' estimate is stored too) or
``error`` (code + message). :func:`reap` queues again what a dead worker or a lost message left.
No mesh is ever read in the web process.
"""

from __future__ import annotations

import logging
import struct
import time
import unicodedata
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

from marketplace import messages, taskqueue
from marketplace.engine import runner as analysis_runner
from marketplace.engine.meshio.units import USER_UNITS
from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.models import Firm, Part, User, utcnow
from marketplace.parts import storage
from marketplace.webhooks import payloads as webhook_events

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
                 queue: bool = True) -> Part:
    """Check and store one uploaded file for ``firm``; return its Part (caller commits).

    The analysis is queued for when the caller commits (``queue=False``: the caller runs
    :func:`analyse` itself, e.g. the command line). Raises UploadError (with an HTTP status)
    for a file that is refused outright.
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
    sha = storage.save(data)  # before the lock: the lock is held for a count and an insert
    if firm.id is not None:
        lock_firm(firm.id)
    if firm.is_guest:
        check_guest_cap(firm)
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
    part = Part(
        firm_id=firm.id, uploaded_by_id=user.id if user else None, original_name=name,
        sha256=sha, file_format=fmt, size_bytes=len(data), status="pending",
        queued_at=utcnow(),
    )
    db.session.add(part)
    db.session.flush()
    if queue:
        _queue(part)
    return part


def check_guest_cap(firm: Firm) -> None:
    """Raise UploadError (429) when a guest's workspace holds ``GUEST_MAX_PARTS`` parts.

    A part whose analysis failed (status "error") takes no place: a broken export followed
    by the good one is the usual case. Analysing such a part again (:func:`reanalyse`) asks
    for its place back. A guest frees a place by deleting a part (:func:`delete_part`).
    """
    max_parts = int(current_app.config["GUEST_MAX_PARTS"])
    held = db.session.scalar(sa.select(sa.func.count(Part.id)).where(
        Part.firm_id == firm.id, Part.status != "error"))
    if held >= max_parts:
        raise UploadError(
            "guest_limit",
            N_("Ohne Konto können Sie bis zu %(count)s Teile hochladen. Löschen Sie ein Teil, "
               "das Sie nicht mehr brauchen, oder registrieren Sie sich kostenlos, um weitere "
               "Teile hochzuladen und zu bestellen."),
            status=429, count=max_parts)


def lock_firm(firm_id: int) -> None:
    """Hold the firm's row lock until the transaction ends, so per-firm limits are atomic.

    PostgreSQL: ``SELECT ... FOR UPDATE``; SQLite ignores that, so a no-op UPDATE takes the
    database's write lock instead (SQLite has one writer at a time).
    """
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(sa.update(Firm).where(Firm.id == firm_id).values(name=Firm.name)
                           .execution_options(synchronize_session=False))
    else:
        db.session.execute(sa.select(Firm.id).where(Firm.id == firm_id).with_for_update())


def _queue(part: Part) -> None:
    from marketplace.parts import tasks

    part.queued_at = utcnow()
    taskqueue.enqueue_after_commit(tasks.analyse_part, part.id)


def reanalyse(part: Part, units: str) -> Part:
    """Queue ``part``'s analysis again in other units (mm, cm, m, inch); the caller commits.

    A running analysis of the old units loses its lease, so its result is thrown away.
    """
    if units not in USER_UNITS:
        raise UploadError("bad_units", N_("Unbekannte Einheit."))
    if part.status == "error" and part.firm.is_guest:
        lock_firm(part.firm_id)
        check_guest_cap(part.firm)  # a failed part takes no place until it is analysed again
    part.units = units
    part.status = "pending"
    part.attempts = 0
    part.lease_owner = part.lease_until = None
    db.session.flush()
    _queue(part)
    return part


def analysis_values(analysis: dict[str, Any], units: str | None) -> dict[str, Any]:
    """Column values that record a finished analysis."""
    return {"analysis": analysis, "units": (analysis.get("mesh") or {}).get("units") or units,
            "status": "ready", "error_code": None, "error_message": None,
            "thumbnail_state": None}


def failure_values(error: analysis_runner.AnalysisFailedError) -> dict[str, Any]:
    """Column values that record why a part could not be analysed: the error's code and
    parameters (shown in the reader's language) and, for the logs, its German sentence."""
    record = error.to_dict()
    return {"status": "error", "error_code": error.code[:64],
            "error_message": messages.render_message(record, "de", prefix="error."),
            "analysis": {"error": record}}


def run_engine(job: dict[str, Any], heartbeat=None) -> dict[str, Any]:
    """Run a runner job with the configured limits (a child process unless the tests say not)."""
    cfg = current_app.config
    if not cfg.get("ANALYSIS_SUBPROCESS", True):
        return analysis_runner.run_job(job)
    return analysis_runner.run_in_subprocess(
        job, timeout_s=float(cfg["ANALYSIS_TIMEOUT_S"]),
        memory_mb=int(cfg.get("ANALYSIS_MEMORY_MB", 0)), heartbeat=heartbeat,
        heartbeat_s=max(1.0, float(cfg["TASK_LEASE_S"]) / 3))


def analyse(part_id: int) -> bool:
    """Claim ``part_id`` if its analysis is due, analyse it and record the outcome.

    Returns whether this call did the work (False: done already, or another worker holds it).
    """
    from marketplace.quotes import operations as quotes

    cfg = current_app.config
    lease_s = float(cfg["TASK_LEASE_S"])
    lease = taskqueue.claim(Part, part_id, Part.status == "pending",
                            Part.attempts < int(cfg["TASK_MAX_ATTEMPTS"]), lease_s=lease_s)
    if lease is None:
        return False
    part = db.session.get(Part, part_id)
    job = {"kind": "analyse", "path": str(storage.path_for(part.sha256)),
           "filename": part.original_name, "units": part.units,
           "mesh_root": str(cfg["UPLOAD_DIR"]), "estimates": quotes.default_estimate_options()}
    units = part.units
    db.session.rollback()  # no transaction is held open while the child works
    started = time.monotonic()
    estimates: list[dict[str, Any]] = []
    try:
        answer = run_engine(job, heartbeat=lambda: lease.renew(lease_s))
        values = analysis_values(answer["analysis"], units)
        estimates = answer.get("estimates") or []
    except analysis_runner.AnalysisFailedError as exc:
        values = failure_values(exc)
    if not lease.finish(**values):
        db.session.rollback()
        log.warning("part %s: lease lost during the analysis; result dropped", part_id)
        return False
    if estimates:
        quotes.record_estimates(part_id, values["units"], quotes.summary_of(values["analysis"]),
                                estimates)
    if values["status"] == "ready":
        from marketplace.parts import tasks

        taskqueue.enqueue_after_commit(tasks.render_thumbnail, part_id)
    webhook_events.part_analysed(db.session.get(Part, part_id, populate_existing=True))
    db.session.commit()
    log.info("part %s analysed: %s in %.1f s (attempt %s)", part_id, values["status"],
             time.monotonic() - started, lease.attempt)
    return True


def analyse_or_wait(part_id: int, timeout_s: float) -> Part:
    """Analyse ``part_id`` here, or wait (at most ``timeout_s``) for the worker that has it."""
    deadline = time.monotonic() + timeout_s
    analyse(part_id)
    while True:
        db.session.rollback()
        part = db.session.get(Part, part_id)
        if part.status != "pending" or time.monotonic() >= deadline:
            return part
        if not analyse(part_id):  # its lease may have run out meanwhile
            time.sleep(0.5)


def reap(now=None) -> int:
    """Queue again pending parts whose lease ran out or whose message was lost; give up (error)
    on parts claimed ``TASK_MAX_ATTEMPTS`` times. Return how many rows were touched."""
    cfg = current_app.config
    now = now or utcnow()
    due = taskqueue.due_for_requeue(Part, Part.status == "pending",
                                    stale_s=float(cfg["TASK_REQUEUE_AFTER_S"]), now=now)
    rows = db.session.execute(sa.select(Part.id, Part.attempts).where(due).limit(1000)).all()
    touched = 0
    for part_id, attempts in rows:
        still_due = sa.and_(Part.id == part_id, Part.attempts == attempts, due)
        if attempts >= int(cfg["TASK_MAX_ATTEMPTS"]):
            values = failure_values(analysis_runner.AnalysisFailedError(
                "analysis_gave_up", attempts=attempts))
            values.update(lease_owner=None, lease_until=None)
        else:
            values = {"queued_at": now, "lease_owner": None, "lease_until": None}
        result = db.session.execute(sa.update(Part).where(still_due).values(**values)
                                    .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            touched += 1
            if "queued_at" in values:
                from marketplace.parts import tasks

                taskqueue.enqueue_after_commit(tasks.analyse_part, part_id)
    db.session.commit()
    return touched


def error_text(part: Part, lang: str | None = None) -> str | None:
    """Return why ``part`` could not be analysed, in ``lang`` (None: the current language)."""
    if part.status != "error":
        return None
    stored = (part.analysis or {}).get("error") or {}
    return messages.render_message(stored, lang, prefix="error.") or part.error_message


# --- renaming and deleting ----------------------------------------------------------------------


def rename_part(part: Part, name: str | None) -> Part:
    """Give ``part`` another display name (cleaned like an upload's file name)."""
    clean = clean_filename(name)
    if not clean:
        raise UploadError("bad_name", N_("Bitte einen Namen angeben."))
    part.original_name = clean
    db.session.flush()
    return part


def is_ordered(part: Part) -> bool:
    """Whether an order (or a print job) refers to ``part``: then it stays."""
    from marketplace.models import Order, PrintJob, QuoteLine

    in_order = sa.exists().where(QuoteLine.part_id == part.id,
                                 QuoteLine.quote_id == Order.quote_id)
    return bool(db.session.scalar(sa.select(sa.exists().where(Order.part_id == part.id)))
                or db.session.scalar(sa.select(in_order))
                or db.session.scalar(sa.select(sa.exists().where(PrintJob.part_id == part.id))))


def delete_part(part: Part) -> str | None:
    """Delete a part that was never ordered, with its quotes and estimates (caller commits).

    Returns the sha256 of its file if no other part uses that file any more (the caller
    removes it after the commit: :func:`remove_unused_file`), else None.
    """
    from marketplace.models import CartItem, PartEstimate, Quote, QuoteLine

    if is_ordered(part):
        raise UploadError("ordered", N_("Dieses Teil wurde bestellt; es bleibt für den Auftrag "
                                        "erhalten und kann nicht gelöscht werden."), status=409)
    if part.status == "pending" and part.lease_until is not None:
        raise UploadError("busy", N_("Das Teil wird gerade analysiert; bitte gleich noch "
                                     "einmal versuchen."), status=409)
    db.session.execute(sa.delete(PartEstimate).where(PartEstimate.part_id == part.id))
    # its quotes go, also quotes of several parts with it (never ordered: it is not ordered)
    quote_ids = sa.select(QuoteLine.quote_id).where(QuoteLine.part_id == part.id)
    doomed = sa.or_(Quote.part_id == part.id, Quote.id.in_(quote_ids))
    ids = list(db.session.scalars(sa.select(Quote.id).where(doomed)))
    if ids:
        db.session.execute(sa.delete(QuoteLine).where(QuoteLine.quote_id.in_(ids)))
        db.session.execute(sa.delete(Quote).where(Quote.id.in_(ids)))
    db.session.execute(sa.delete(CartItem).where(CartItem.part_id == part.id))
    sha = part.sha256
    db.session.delete(part)
    db.session.flush()
    used = db.session.scalar(sa.select(sa.exists().where(Part.sha256 == sha)))
    return None if used else sha


def remove_unused_file(sha256: str | None) -> None:
    """Remove the stored file ``sha256`` and what was made from it (the viewer's meshes, the
    pictures) after the commit that deleted its last part."""
    if not sha256 or db.session.scalar(sa.select(sa.exists().where(Part.sha256 == sha256))):
        return
    try:
        storage.path_for(sha256).unlink(missing_ok=True)
        derived = Path(current_app.config["UPLOAD_DIR"]) / "derived"
        for path in derived.glob(f"{storage.path_for(sha256).name}-*"):
            path.unlink(missing_ok=True)
    except OSError:
        log.warning("could not remove the file of a deleted part: %s", sha256)
