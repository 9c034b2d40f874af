"""E-mails to firms, written to the outbox (Notification rows) in the same transaction.

A listener on :func:`marketplace.jobs.on_transition` notes which order reached which step;
just before the transaction commits, the notes become mails to the firm's users, each in the
user's language, in the same transaction. An order of N pieces has N jobs, so mails are per
order and step: the outbox row carries ``order_id`` and ``kind`` ("order:approved"), and a step
already mailed for the order is not mailed again. Steps that start something (approved,
printing, rejected, failed) are mailed with the first job that takes them; steps that finish
something (printed, ready for pick-up, shipped) when the last live job of the order gets there.
Deciding at commit time sees the whole action: cancelling some pieces mails "partly
cancelled", cancelling all of them one "cancelled"; printed and ready in one go mails only
"ready". Internal steps (queued, dispatching, paused, needs attention, ...) are not mailed.

:mod:`marketplace.mail.mailer` sends the outbox after the commit.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from marketplace import jobs
from marketplace.extensions import db
from marketplace.formatting import format_date, format_money, hub_today
from marketplace.i18n import N_, colour_label, force_locale, machine_reason, state_label
from marketplace.i18n import gettext as _
from marketplace.models import Firm, JobEvent, Notification, Order, PrintJob, User, utcnow
from marketplace.orders import operations as orders_ops

# jobs that no longer count when deciding whether "all pieces" reached a step
DROPPED = frozenset(jobs.state_values(jobs.DROPPED_STATES))

# state -> (when: "first" job or "all" live jobs (reached one of these states), intro text)
STEPS: dict[str, tuple[str, frozenset[str], str]] = {
    "received": ("first", frozenset(), N_(
        "vielen Dank für Ihren Auftrag. Wir haben ihn erhalten und prüfen ihn jetzt. "
        "Sobald er freigegeben ist, hören Sie von uns.")),
    "approved": ("first", frozenset(), N_(
        "wir haben Ihren Auftrag geprüft und freigegeben. Er wird jetzt für den Druck "
        "vorbereitet.")),
    "printing": ("first", frozenset(), N_("der Druck Ihres Auftrags hat begonnen.")),
    "printed": ("all", frozenset(jobs.state_values(jobs.DONE_STATES)), N_(
        "alle Teile Ihres Auftrags sind gedruckt. Wir prüfen sie und melden uns, sobald sie "
        "abholbereit sind oder versendet werden.")),
    "ready_for_pickup": ("all", frozenset({"ready_for_pickup", "picked_up"}),
                         N_("Ihr Auftrag ist fertig und liegt zur Abholung bereit.")),
    "shipped": ("all", frozenset({"shipped"}), N_("Ihr Auftrag ist fertig und wurde versendet.")),
    "rejected": ("first", frozenset(), N_(
        "leider können wir Ihren Auftrag so nicht drucken. Den Grund nennt Ihnen unsere "
        "Technik unten. Bei Fragen antworten Sie einfach auf diese E-Mail.")),
    "cancelled": ("first", frozenset(), N_("Ihr Auftrag wurde storniert.")),
    "cancelled_partly": ("first", frozenset(), N_(
        "ein Teil Ihres Auftrags wurde storniert: %(dropped)s von %(total)s Stück. Die übrigen "
        "Stücke bearbeiten wir wie vereinbart.")),
    "failed": ("first", frozenset(), N_(
        "beim Druck Ihres Auftrags ist leider ein Fehler aufgetreten. Unsere Technik kümmert "
        "sich darum und meldet sich bei Ihnen.")),
}

# steps whose mail tells the technician's reason (other steps' reasons are the system's notes)
REASONED = frozenset({"rejected", "cancelled", "cancelled_partly", "failed"})
ORDER_PAGE_ENDPOINTS = ("portal.order_detail", "portal.order", "portal.orders")
# a later step due in the same transaction makes these unnecessary
SUPERSEDED_BY = {
    "printing": frozenset({"printed", "ready_for_pickup", "shipped"}),
    "printed": frozenset({"ready_for_pickup", "shipped"}),
}
_PENDING = "druckhub_order_steps"


def public_url(endpoint: str, **values) -> str | None:
    """Absolute URL (``PUBLIC_URL`` + path) of ``endpoint``, or None if it does not exist."""
    app = current_app
    if endpoint not in app.view_functions:
        return None
    adapter = app.url_map.bind("localhost", script_name="/")
    try:
        path = adapter.build(endpoint, values)
    except Exception:  # the endpoint wants other arguments
        return None
    return app.config["PUBLIC_URL"].rstrip("/") + path


def _pickup_address() -> str:
    try:
        from marketplace.settings import operations as settings

        hub = settings.get_hub_address()
    except Exception:  # settings are optional here: the mail goes out without the address
        return ""
    place = " ".join(p for p in (hub.get("postcode"), hub.get("city")) if p)
    return ", ".join(p for p in (hub.get("name"), hub.get("street"), place) if p)


def _order_url(order: Order) -> str:
    for endpoint in ORDER_PAGE_ENDPOINTS:
        url = public_url(endpoint, public_id=order.public_id)
        if url is None:
            url = public_url(endpoint, order_id=order.public_id)
        if url:
            return url
    return current_app.config["PUBLIC_URL"]


def firm_recipients(firm_id: int) -> list[User]:
    """Active users of the firm (they all get the firm's order mails)."""
    return list(db.session.execute(
        sa.select(User).where(User.firm_id == firm_id, User.active.is_(True), User.role == "firm")
        .order_by(User.id)
    ).scalars())


def _job_states(order: Order) -> list[str]:
    return list(db.session.execute(
        sa.select(PrintJob.state).where(PrintJob.order_id == order.id)).scalars())


def _due(order: Order, state: str) -> bool:
    when, reached, _intro = STEPS[state]
    if when == "first":
        return True
    live = [s for s in _job_states(order) if s not in DROPPED]
    return bool(live) and all(s in reached for s in live)


def _already_mailed(order: Order, kind: str) -> bool:
    return db.session.execute(
        sa.select(Notification.id).where(Notification.order_id == order.id,
                                         Notification.kind == kind).limit(1)
    ).first() is not None


def _line(label: str, value: object) -> str:
    """One "Label: value" line of a mail."""
    return f"{label}: {value}"


def _language(user: User) -> str:
    return user.language if user.language in ("de", "en") else "de"


HANDED_OVER = ("shipped", "picked_up", "ready_for_pickup")  # steps after which it is invoiced
# the steps of an order's way, in order: a progress mail (held: MAIL_PROGRESS_HOLD_S) that a
# later one overtakes before it goes out is dropped (:func:`overtaken`)
PROGRESS_STEPS = ("approved", "printing", "printed")
# steps whose mail says when the order is due (printed: "we tell you when it is ready")
DATED = ("received", "approved", "printing")
LATER_STEPS = {step: tuple(f"order:{s}" for s in (
    *PROGRESS_STEPS[i + 1:], "ready_for_pickup", "shipped", "picked_up", "rejected",
    "cancelled", "cancelled_partly", "failed")) for i, step in enumerate(PROGRESS_STEPS)}


def overtaken(row: Notification, session) -> str | None:
    """The kind of a later mail of the same order to the same address, if one exists: then
    the progress mail ``row`` says something that no longer holds and is not sent."""
    step = (row.kind or "").partition(":")[2] if (row.kind or "").startswith("order:") else ""
    if step not in LATER_STEPS or row.order_id is None:
        return None
    return session.scalar(
        sa.select(Notification.kind).where(
            Notification.order_id == row.order_id, Notification.to_address == row.to_address,
            Notification.kind.in_(LATER_STEPS[step]), Notification.id > row.id).limit(1))


def _invoice(order: Order):
    """The order's invoice, if one was issued (when its last piece was handed over)."""
    from marketplace.invoices.operations import invoice_of_order

    return invoice_of_order(order)


def render_order_mail(order: Order, state: str, reason: str | None, user: User) -> tuple[str, str]:
    """Return (subject, body) of the mail on ``order`` reaching ``state`` (user's language)."""
    from marketplace.quotes import operations as quotes

    states = _job_states(order)
    counts = {"dropped": sum(s == "cancelled" for s in states), "total": len(states)}
    number = order.number or order.public_id[:8].upper()
    quote = order.quote
    part_name = order.part.original_name if order.part else "–"
    with force_locale(_language(user)):
        label = _("Teilweise storniert") if state == "cancelled_partly" else state_label(state)
        intro = STEPS[state][2]
        subject = _("Auftrag %(number)s: %(state)s", number=number, state=label)
        lines = [
            _("Guten Tag %(name)s,", name=user.name) if user.name else _("Guten Tag,"),
            "",
            _(intro, **counts) if "%(" in intro else _(intro),
            "",
            _line(_("Auftrag"), number),
        ]
        order_lines = quotes.lines_of(quote) if quote is not None else []
        if len(order_lines) > 1:  # one line per part: quantity, material, colour
            for line in order_lines:
                lines.append(_line(_("Teil %(n)s", n=line.position), line.part.original_name)
                             + " · " + _("%(n)s Stück", n=line.quantity) + " · "
                             + f"{line.material_code}, {colour_label(line.colour)}")
        else:
            lines.append(_line(_("Teil"), part_name))
        if len(order_lines) == 1:
            lines.append(_line(_("Menge"), _("%(n)s Stück", n=quote.quantity)))
            lines.append(_line(_("Material"), quote.material_code) + " · "
                         + _line(_("Farbe"), colour_label(quote.colour)))
        if quote is not None:
            lines.append(_line(_("Gesamtbetrag brutto"), format_money(order.total_gross_cents)))
            delivery = _("Versand") if order.delivery == "shipping" else _("Abholung im Hub")
            if order.express:
                delivery += " · " + _("Express")
            lines.append(_line(_("Lieferung"), delivery))
        lines.append(_line(_("Stand"), label))
        if reason and state in REASONED:
            lines.append(_line(_("Begründung"), machine_reason(reason)))
        if state in DATED and order.due_date and order.due_date >= hub_today():
            lines.append(_line(_("Voraussichtliche Lieferung") if order.delivery == "shipping"
                               else _("Abholbereit ab"), format_date(order.due_date)))
        if order.reference:
            lines.append(_line(_("Ihre Bestellnummer"), order.reference))
        for sent in (order.parcels or []) if state == "shipped" else ():
            if not sent.get("tracking_number"):
                continue
            carrier = sent.get("carrier")
            lines.append(_line(_("Sendungsnummer"), sent["tracking_number"]
                               + (f" ({carrier})" if carrier and carrier != "other" else "")))
            if url := orders_ops.tracking_url(sent):
                lines.append(_line(_("Sendung verfolgen"), url))
        if state == "ready_for_pickup" and (address := _pickup_address()):
            lines.append(_line(_("Abholung"), address))
        if state in HANDED_OVER and (invoice := _invoice(order)) is not None:
            lines.append(_line(_("Rechnung"), invoice.number))
            if url := public_url("portal.invoices"):
                lines.append(_line(_("Ihre Rechnungen"), url))
        lines += [
            "",
            _("Den aktuellen Stand Ihres Auftrags sehen Sie jederzeit hier:"),
            _order_url(order),
            "",
            _("Mit freundlichen Grüßen"),
            _("Ihr Team vom %(hub)s", hub=current_app.config.get("HUB_NAME", "Druckhub")),
        ]
    return subject, "\n".join(lines) + "\n"


def notify_order_step(order: Order, state: str, reason: str | None = None) -> list[Notification]:
    """Queue the mails for ``order`` reaching ``state`` if that step is due and not yet mailed."""
    if state == "cancelled" and any(s not in DROPPED for s in _job_states(order)):
        state = "cancelled_partly"  # some pieces go on
    if state not in STEPS or not _due(order, state):
        return []
    kind = f"order:{state}"
    if _already_mailed(order, kind):
        return []
    rows = []
    hold_s = int(current_app.config.get("MAIL_PROGRESS_HOLD_S") or 0)
    held = (utcnow() + timedelta(seconds=hold_s)
            if state in PROGRESS_STEPS and hold_s > 0 else None)
    for user in firm_recipients(order.firm_id):
        subject, body = render_order_mail(order, state, reason, user)
        rows.append(Notification(to_address=user.email, subject=subject, body=body, kind=kind,
                                 order_id=order.id, user_id=user.id, next_attempt_at=held))
    db.session.add_all(rows)
    if rows:
        db.session.flush()
    return rows


@jobs.on_transition
def on_job_transition(job: PrintJob, event: JobEvent) -> None:
    """Listener: note the step for the commit (see :func:`queue_noted_steps`)."""
    if event.to_state not in STEPS:
        return
    pending: dict = db.session.info.setdefault(_PENDING, {})
    steps = pending.setdefault(job.order_id, {})
    if event.to_state not in steps or (event.reason and not steps[event.to_state]):
        steps[event.to_state] = event.reason


def queue_noted_steps(session) -> list[Notification]:
    """Turn the steps noted in this transaction into mails (runs just before the commit)."""
    pending = session.info.pop(_PENDING, None)
    rows: list[Notification] = []
    for order_id, steps in (pending or {}).items():
        order = session.get(Order, order_id)
        if order is None:
            continue
        due = {state for state in steps if state in STEPS and _due(order, state)}
        for state, reason in steps.items():
            if SUPERSEDED_BY.get(state, frozenset()) & due:
                continue
            rows += notify_order_step(order, state, reason)
    return rows


def _forget_noted_steps(session, previous_transaction=None) -> None:
    session.info.pop(_PENDING, None)


_hooks_installed = False


def init_app(app) -> None:
    """Write the noted order mails just before each commit of the app's session (once)."""
    global _hooks_installed
    if _hooks_installed:
        return
    sa.event.listen(db.session, "before_commit", queue_noted_steps)
    sa.event.listen(db.session, "after_soft_rollback", _forget_noted_steps)
    _hooks_installed = True


def invoice_mail_kind(invoice) -> str:
    """The outbox kind of the mail that sends ``invoice`` (one per invoice number)."""
    return f"invoice:{invoice.number}"


def queue_invoice_mail(invoice, to: str | None = None) -> Notification | None:
    """Queue the mail that sends an issued invoice or credit note to ``to`` (default: the
    address the invoice names, the firm's invoice address when it was issued; caller
    commits). The mailer attaches the ZUGFeRD PDF (the PDF with the EN 16931 XML embedded)
    when it sends it. None: no address.

    The mail speaks the language of the firm's user with that address, else German (the
    invoice's own language), and greets that user, or the firm's contact at its invoice
    address.
    """
    from marketplace.invoices.documents import payment_text

    to = str(to if to is not None else (invoice.buyer or {}).get("email") or "").strip()
    if "@" not in to:
        return None
    user = db.session.scalar(sa.select(User).where(User.firm_id == invoice.firm_id,
                                                   User.email == to, User.active.is_(True))
                             .limit(1))
    firm = db.session.get(Firm, invoice.firm_id)
    if user is not None:
        name = user.name
    elif firm.invoice_email == to:
        name = (invoice.buyer or {}).get("contact_name") or firm.contact_name
    else:
        name = None
    hub = _hub()
    corrects = invoice.corrects if invoice.kind == "credit_note" else None
    with force_locale(_language(user) if user is not None else "de"):
        if corrects is not None:
            subject = _("Stornorechnung %(number)s zu Rechnung %(invoice)s",
                        number=invoice.number, invoice=corrects.number)
            intro = _("wir haben die Rechnung %(invoice)s storniert. Anbei erhalten Sie die "
                      "Stornorechnung.", invoice=corrects.number)
        else:
            subject = _("Rechnung %(number)s zu Auftrag %(order)s", number=invoice.number,
                        order=invoice.order_number or "–")
            intro = _("anbei erhalten Sie unsere Rechnung zu Ihrem Auftrag %(order)s.",
                      order=invoice.order_number or "–")
        lines = [
            _("Guten Tag %(name)s,", name=name) if name else _("Guten Tag,"),
            "",
            intro,
            "",
            _line(_("Stornorechnung") if corrects is not None else _("Rechnung"),
                  invoice.number),
            _line(_("Rechnungsdatum"), format_date(invoice.issue_date)),
            _line(_("Auftrag"), invoice.order_number or "–"),
        ]
        if invoice.purchase_order:
            lines.append(_line(_("Ihre Bestellnummer"), invoice.purchase_order))
        lines += [
            _line(_("Gesamtbetrag brutto"),
                  format_money(invoice.gross_cents, currency=invoice.currency)),
            "",
            payment_text(invoice, corrects),
            "",
            _("Die angehängte PDF-Datei ist eine E-Rechnung im ZUGFeRD-Format (EN 16931): "
              "Ihre Buchhaltung kann die eingebetteten XML-Daten direkt übernehmen."),
        ]
        if url := public_url("portal.invoices"):
            lines += [_("Die XRechnung und alle Ihre Rechnungen finden Sie im Kundenportal:"),
                      url]
        lines += ["", _("Mit freundlichen Grüßen"), _("Ihr Team vom %(hub)s", hub=hub)]
    row = Notification(to_address=to, subject=subject, body="\n".join(lines) + "\n",
                       kind=invoice_mail_kind(invoice), order_id=invoice.order_id,
                       user_id=user.id if user is not None else None)
    db.session.add(row)
    db.session.flush()
    return row


def queue_password_reset(user: User, token: str) -> Notification:
    """Queue the password-reset mail with the link for ``token`` (caller commits)."""
    hub = current_app.config.get("HUB_NAME", "Druckhub")
    url = public_url("portal.reset_password", token=token) or token
    minutes = current_app.config["PASSWORD_RESET_MAX_AGE_S"] // 60
    with force_locale(_language(user)):
        subject = _("Neues Passwort für %(hub)s", hub=hub)
        body = "\n".join([
            _("Guten Tag %(name)s,", name=user.name) if user.name else _("Guten Tag,"),
            "",
            _("Sie haben ein neues Passwort angefordert. Mit diesem Link wählen Sie es "
              "(er gilt %(minutes)s Minuten und nur einmal):", minutes=minutes),
            url,
            "",
            _("Wenn Sie das nicht waren, können Sie diese E-Mail ignorieren; Ihr "
              "Passwort bleibt dann unverändert."),
            "",
            _("Mit freundlichen Grüßen"),
            _("Ihr Team vom %(hub)s", hub=hub),
        ]) + "\n"
    row = Notification(to_address=user.email, subject=subject, body=body, kind="password_reset",
                       user_id=user.id)
    db.session.add(row)
    db.session.flush()
    return row


def _queue_account_mail(to: str, lang: str, kind: str, subject, lines, *,
                        user_id: int | None = None, name: str | None = None) -> Notification:
    """Queue a mail about an account in ``lang``: ``subject()`` and ``lines()`` give the texts
    (called in that language), between the greeting and the signature."""
    hub = current_app.config.get("HUB_NAME", "Druckhub")
    with force_locale(lang if lang in ("de", "en") else "de"):
        title = subject()
        body = "\n".join([
            _("Guten Tag %(name)s,", name=name) if name else _("Guten Tag,"),
            "",
            *lines(),
            "",
            _("Mit freundlichen Grüßen"),
            _("Ihr Team vom %(hub)s", hub=hub),
        ]) + "\n"
    row = Notification(to_address=to, subject=title, body=body, kind=kind, user_id=user_id)
    db.session.add(row)
    db.session.flush()
    return row


def _hub() -> str:
    return current_app.config.get("HUB_NAME", "Druckhub")


def queue_password_reset_unknown(email: str, lang: str) -> Notification:
    """Queue the answer to a reset request for an address without an (active) account."""
    signup = public_url("portal.signup") or current_app.config["PUBLIC_URL"]
    return _queue_account_mail(email, lang, "password_reset", lambda: _(
        "Neues Passwort für %(hub)s", hub=_hub()), lambda: [
        _("jemand hat für diese E-Mail-Adresse ein neues Passwort angefordert. Zu dieser "
          "Adresse gibt es bei uns aber kein Konto. Vielleicht haben Sie sich mit einer "
          "anderen Adresse registriert? Ein neues Firmenkonto legen Sie hier an:"),
        signup,
        "",
        _("Wenn Sie das nicht waren, können Sie diese E-Mail ignorieren."),
    ])


def queue_account_exists(email: str, lang: str) -> Notification:
    """Queue the answer to a sign-up with an address that has an account already."""
    login = public_url("portal.login") or current_app.config["PUBLIC_URL"]
    forgot = public_url("portal.forgot_password") or login
    return _queue_account_mail(email, lang, "signup", lambda: _(
        "Ihre Registrierung beim %(hub)s", hub=_hub()), lambda: [
        _("jemand wollte mit dieser E-Mail-Adresse ein neues Konto anlegen. Sie haben bei uns "
          "aber schon ein Konto. Melden Sie sich hier an:"),
        login,
        _("Passwort vergessen? Hier wählen Sie ein neues:"),
        forgot,
        "",
        _("Wenn Sie das nicht waren, können Sie diese E-Mail ignorieren."),
    ])


def queue_signup_confirmation(email: str, lang: str, company: str, token: str) -> Notification:
    """Queue the link that confirms a firm's sign-up (the account is made when it is used)."""
    url = public_url("portal.confirm_signup", token=token) or token
    days = max(1, current_app.config["SIGNUP_CONFIRM_MAX_AGE_S"] // 86400)
    return _queue_account_mail(email, lang, "signup", lambda: _(
        "Ihre Registrierung beim %(hub)s", hub=_hub()), lambda: [
        _("bitte bestätigen Sie Ihre E-Mail-Adresse, dann ist das Konto der Firma %(firm)s "
          "eingerichtet. Der Link gilt %(days)s Tage:", firm=company, days=days),
        url,
        "",
        _("Wenn Sie sich nicht registriert haben, können Sie diese E-Mail ignorieren; dann wird "
          "kein Konto angelegt."),
    ])


def queue_invitation(email: str, lang: str, name: str, inviter: User,
                     token: str) -> Notification:
    """Queue the invitation link (the colleague's account is made when they accept)."""
    url = public_url("portal.accept_invitation", token=token) or token
    days = current_app.config.get("INVITATION_MAX_AGE_S", 7 * 86400) // 86400
    firm = inviter.firm.name if inviter.firm else ""
    return _queue_account_mail(email, lang, "invitation", lambda: _(
        "Einladung zum %(hub)s", hub=_hub()), lambda: [
        _("%(inviter)s lädt Sie ein, beim %(hub)s für die Firma %(firm)s 3D-Modelle "
          "hochzuladen, Preis und Liefertermin zu sehen und Aufträge zu verfolgen.",
          inviter=inviter.name or inviter.email, firm=firm, hub=_hub()),
        "",
        _("Mit diesem Link nehmen Sie die Einladung an und wählen Ihr Passwort (er gilt "
          "%(days)s Tage):", days=days),
        url,
        "",
        _("Ihre Anmeldung: %(email)s", email=email),
        _("Wenn Sie die Einladung nicht annehmen, wird kein Konto angelegt."),
    ], name=name)


def queue_invitation_to_existing(email: str, lang: str, inviter: User) -> Notification:
    """Queue the note to an address that was invited but has an account already."""
    firm = inviter.firm.name if inviter.firm else ""
    return _queue_account_mail(email, lang, "invitation", lambda: _(
        "Einladung zum %(hub)s", hub=_hub()), lambda: [
        _("%(inviter)s wollte Sie für die Firma %(firm)s zum %(hub)s einladen. Sie haben bei "
          "uns aber schon ein Konto; an ihm ändert sich nichts. Soll Ihr Konto zu dieser Firma "
          "gehören, schreiben Sie uns bitte.", inviter=inviter.name or inviter.email, firm=firm,
          hub=_hub()),
    ])


def queue_webhook_disabled(user: User, url: str, reason: str, *, hub: bool) -> Notification:
    """Queue the note that a webhook endpoint kept failing and was switched off."""
    page = public_url("hub.webhooks" if hub else "portal.webhooks") or (
        current_app.config["PUBLIC_URL"])
    return _queue_account_mail(user.email, _language(user), "webhook_disabled", lambda: _(
        "Webhook abgeschaltet: %(url)s", url=url[:80]), lambda: [
        _("Ihr Webhook-Endpunkt %(url)s hat eine Nachricht auch nach allen "
          "Wiederholungen nicht angenommen. Wir haben ihn deshalb abgeschaltet; es gehen keine Nachrichten mehr an ihn.", url=url),
        _("Letzter Fehler: %(reason)s", reason=reason or "–"),
        "",
        _("Wenn der Empfänger wieder läuft, schalten Sie den Endpunkt hier wieder ein und "
          "senden die fehlgeschlagenen Nachrichten erneut:"),
        page,
    ], user_id=user.id, name=user.name)
