"""JSON the hub console polls: the printers board and the queue's counters (staff only).

Anonymous callers get 401 and firm users 403, as JSON (no login redirect for a script).
"""

from __future__ import annotations

import hashlib
import json
from functools import wraps

from flask import current_app, jsonify, render_template
from flask_login import current_user

from marketplace.api import bp
from marketplace.formatting import format_time
from marketplace.hub import board as board_service
from marketplace.hubqueue import operations as q
from marketplace.i18n import gettext as _
from marketplace.models import utcnow
from printers import waiting


def staff_json(view):
    """Like ``staff_required``, but answering with JSON errors."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return jsonify(error="unauthorized", message=_("Bitte anmelden.")), 401
        if current_user.role not in ("technician", "admin"):
            return jsonify(error="forbidden", message=_("Nur für die Technik.")), 403
        return view(*args, **kwargs)

    return wrapped


@bp.get("/hub/printers")
@staff_json
def hub_printers():
    cards = board_service.board(current_app.config.get("PRINTER_STALE_AFTER_S", 30), _)
    out = []
    for card in cards:
        rev = hashlib.sha1(json.dumps(card, sort_keys=True, default=str).encode()).hexdigest()
        html = render_template("hub/_printer_card.html", c=card)
        out.append({**card, "rev": rev[:16], "html": html})
    summary = board_service.summary(cards)
    summary_html = render_template(
        "hub/_board_summary.html", summary=summary, labels=board_service.PRINTER_STATE_LABELS,
        now_local=format_time(utcnow(), seconds=True))
    response = jsonify(printers=out, summary=summary, summary_html=summary_html,
                       generated_at=utcnow().isoformat() + "Z")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/hub/queue/counts")
@staff_json
def hub_queue_counts():
    return jsonify(counts=q.tab_counts())


@bp.get("/hub/queue/waiting")
@staff_json
def hub_queue_waiting():
    """Every waiting piece (received, approved, queued) with why it waits, and the counts by
    reason (the words of printers.waiting, as on the console's queue and dashboard)."""
    jobs = waiting.waiting_jobs()
    reasons = waiting.reasons_for(jobs)
    return jsonify(
        counts=[{**reason.to_dict(_), "pieces": n}
                for reason, n in waiting.grouped(reasons.values())],
        jobs=[{"id": job.public_id, "state": job.state, "material_code": job.material_code,
               "colour": job.colour, "reason": reasons[job.id].to_dict(_)}
              for job in jobs if job.id in reasons])
