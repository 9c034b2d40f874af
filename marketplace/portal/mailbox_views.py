"""Development mailbox: the outbox's e-mails in the browser, for a hub without a mail server.

``scripts/run`` (development) sets ``DEV_MAILBOX``; the page exists only then, only without
``SMTP_HOST`` and never under ``DRUCKHUB_ENV=production``: it shows every mail, sign-up and
password links included. Like a letter opener, it sends nothing itself.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, render_template

from marketplace.extensions import db
from marketplace.mail.mailer import OVERTAKEN
from marketplace.mail.notifications import overtaken
from marketplace.models import Notification

bp = Blueprint("dev_mailbox", __name__)
SHOWN = 50  # newest mails on the page


@bp.route("/mailbox")
def mailbox():
    """The newest mails of the outbox, newest first, links clickable."""
    mails = db.session.scalars(
        sa.select(Notification).order_by(Notification.id.desc()).limit(SHOWN)).all()
    # held mails that a later one has overtaken already: they will not go out when due
    doomed = {m.id for m in mails
              if not m.sent_at and not m.attempts and overtaken(m, db.session)}
    return render_template("dev/mailbox.html", mails=mails, shown=SHOWN, overtaken=OVERTAKEN,
                           doomed=doomed, environment=current_app.config.get("ENVIRONMENT"))
