"""Pictures of parts: drawn from the analysed mesh by a queued task, shown in every list.

After an analysis succeeds, :func:`render` (the task :func:`marketplace.parts.tasks.render_thumbnail`)
draws the part in its suggested orientation in the engine's child process (time and memory
limits as for an analysis) and stores the PNG next to the viewer's mesh cache, by file hash and
units, so parts with the same file share it. ``Part.thumbnail_state`` says how far it is: None
(queued or being drawn; the pages show a placeholder), ``"ready"``, ``"error"`` (the
placeholder stays). :func:`reap` queues again what a lost message or a dead worker left.
The web process never reads a mesh: it only streams the PNG.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from marketplace import taskqueue
from marketplace.engine import runner
from marketplace.engine.geometry import viewer_mesh
from marketplace.extensions import db
from marketplace.models import Part, utcnow
from marketplace.parts import storage

log = logging.getLogger(__name__)

REAP_BATCH = 200
REAP_AFTER_S = 120  # an analysed part still without a picture after this is queued again


def path_for(part: Part) -> Path:
    """Where the picture of ``part`` (its file in its units) is stored."""
    mesh = viewer_mesh.cache_path(current_app.config["UPLOAD_DIR"], part.sha256, part.units)
    return mesh.with_suffix(".png")


def ready_path(part: Part) -> Path | None:
    """The picture's file if it is drawn and still there, else None (show the placeholder)."""
    if part.status != "ready" or part.thumbnail_state != "ready":
        return None
    path = path_for(part)
    return path if path.is_file() else None


def queue(part: Part) -> None:
    """Have the picture of an analysed ``part`` drawn after the caller's commit."""
    from marketplace.parts import tasks

    taskqueue.enqueue_after_commit(tasks.render_thumbnail, part.id)


def render(part_id: int) -> bool:
    """Draw the picture of analysed part ``part_id`` unless it is there; return whether this
    call drew it. Drawing twice does no harm (same bytes, atomic rename)."""
    from marketplace.parts import operations as parts

    part = db.session.get(Part, part_id)
    if part is None or part.status != "ready" or part.thumbnail_state is not None:
        db.session.rollback()
        return False
    units, out = part.units, path_for(part)
    orientation = (part.analysis or {}).get("orientation") or {}
    job = {"kind": "thumbnail", "out": str(out), "rotation": orientation.get("rotation"),
           "mesh_path": str(viewer_mesh.cache_path(current_app.config["UPLOAD_DIR"],
                                                   part.sha256, units)),
           "path": str(storage.path_for(part.sha256)), "filename": part.original_name,
           "units": units}
    db.session.rollback()  # no transaction is held open while the child draws
    if out.is_file():
        state = "ready"
    else:
        try:
            parts.run_engine(job)
            state = "ready"
        except runner.AnalysisFailedError as exc:
            log.warning("part %s: no picture (%s)", part_id, exc.code)
            state = "error"
    # only for the units it was drawn in (a new analysis in other units starts over)
    db.session.execute(sa.update(Part).where(
        Part.id == part_id, Part.units == units, Part.status == "ready",
        Part.thumbnail_state.is_(None)).values(thumbnail_state=state)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return state == "ready"


def reap(now=None) -> int:
    """Queue again the pictures of analysed parts still without one; return how many."""
    from marketplace.parts import tasks

    now = now or utcnow()
    ids = db.session.scalars(
        sa.select(Part.id).where(Part.status == "ready", Part.thumbnail_state.is_(None),
                                 Part.created_at < now - timedelta(seconds=REAP_AFTER_S))
        .order_by(Part.id.desc()).limit(REAP_BATCH)).all()
    db.session.rollback()
    for part_id in ids:
        taskqueue.enqueue(tasks.render_thumbnail, part_id)
    return len(ids)
