"""German first, English second: Flask-Babel with gettext catalogues, and the language choice.

Source strings are German, wrapped in ``_("...")`` (``gettext``), ``_l("...")``
(``lazy_gettext``, for labels defined at import time) or ``ngettext``; placeholders use
``%(name)s`` and are filled from keyword arguments: ``_("Auftrag %(number)s", number=n)``.
A German string that is chosen at run time (a state, a colour, an error message kept for
later) is marked where it is written with ``N_("...")`` and translated where it is shown.

The catalogues are ``marketplace/translations/{de,en}/LC_MESSAGES/messages.po`` (German is the
source language: its catalogue stays empty; English must translate every string, which a test
checks). ``scripts/i18n`` extracts the strings of every Python file and template
(``babel.cfg``), updates the catalogues and compiles them (see the README).

The language of a request, first match wins: ``?lang=de|en`` (remembered in the session and,
for a signed-in user, saved as their setting, which e-mails use too), the signed-in user's
setting, the session, the browser's Accept-Language, then ``DEFAULT_LANGUAGE``. Mails, PDFs
and the CLI pick a language with ``with force_locale(lang): ...``.

Figures are formatted by :mod:`marketplace.formatting` (Babel); its functions are the
templates' filters. Engine messages (codes with parameters) are rendered by
:mod:`marketplace.messages`.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlencode

from flask import Flask, current_app, request, session
from flask_babel import (
    Babel,
    force_locale,
    get_locale,
    gettext,
    lazy_gettext,
    ngettext,
    refresh,
)

from marketplace import formatting, messages
from marketplace.formatting import DEFAULT_LANGUAGE, LANGUAGES, normalise_language

__all__ = ["LANGUAGES", "N_", "_", "_l", "colour_label", "force_locale", "get_language",
           "gettext", "lazy_gettext", "material_label", "ngettext", "state_label"]

log = logging.getLogger(__name__)
babel = Babel()
_ = gettext
_l = lazy_gettext


def N_(text: str) -> str:
    """Mark a German string for the catalogue without translating it (translated when shown)."""
    return text


# Job states in plain words for firms and technicians
JOB_STATE_LABELS = {
    "received": N_("Eingegangen – wartet auf Freigabe"),
    "approved": N_("Freigegeben"),
    "queued": N_("In der Warteschlange"),
    "dispatching": N_("Wird an den Drucker gesendet"),
    "starting": N_("Druck startet"),
    "printing": N_("Wird gedruckt"),
    "paused": N_("Pausiert"),
    "cancelling": N_("Wird abgebrochen"),
    "printed": N_("Gedruckt"),
    "ready_for_pickup": N_("Abholbereit"),
    "shipped": N_("Versendet"),
    "picked_up": N_("Abgeholt"),
    "needs_attention": N_("Prüfung durch die Technik"),
    "failed": N_("Fehlgeschlagen"),
    "rejected": N_("Abgelehnt"),
    "cancelled": N_("Storniert"),
}
# Colour and material names of the catalogue and the demo data. The hub's admins may add
# others: those are shown as entered.
CATALOGUE_WORDS = (
    N_("Schwarz"), N_("Weiß"), N_("Grau"), N_("Rot"), N_("Blau"), N_("Grün"), N_("Orange"),
    N_("Gelb"), N_("Silber"), N_("Natur"), N_("Transparent"), N_("TPU 95A (flexibel)"),
)


# --- language choice --------------------------------------------------------------------------


def select_language() -> str:
    """Pick the language of the current request (see the module docstring for the order)."""
    from flask_login import current_user

    if not request:
        return DEFAULT_LANGUAGE
    asked = normalise_language(request.args.get("lang"))
    if asked:
        session["lang"] = asked
        if current_user.is_authenticated and getattr(current_user, "language", None) != asked:
            _save_user_language(current_user, asked)
        return asked
    if current_user.is_authenticated and normalise_language(getattr(current_user, "language",
                                                                    None)):
        return normalise_language(current_user.language)
    return (
        normalise_language(session.get("lang"))
        or normalise_language(request.accept_languages.best_match(LANGUAGES))
        or normalise_language(current_app.config.get("DEFAULT_LANGUAGE"))
        or DEFAULT_LANGUAGE
    )


def _save_user_language(user: Any, lang: str) -> None:
    from marketplace.extensions import db

    try:
        user.language = lang
        db.session.commit()
    except Exception:  # a language preference must never break a page
        db.session.rollback()
        log.exception("could not save the language of user %s", getattr(user, "id", "?"))


def get_language() -> str:
    """Return the language in force ("de"/"en"): forced (mails), the request's, or the default."""
    return normalise_language(get_locale()) or DEFAULT_LANGUAGE


# --- words chosen at run time -----------------------------------------------------------------


def state_label(state: Any) -> str:
    """Plain words for a job state ("rejected" -> "Abgelehnt" / "Rejected")."""
    key = getattr(state, "value", state)
    label = JOB_STATE_LABELS.get(key)
    return gettext(label) if label else str(key)


def colour_label(colour: Any) -> str:
    """A colour in the current language (catalogue names are German); "any" -> "beliebig"."""
    if not colour or colour == "any":
        return gettext("beliebig")
    return gettext(str(colour))


def colour_choices(colours: Any) -> list[list[str]]:
    """[[stored colour, its name in the current language], ...] for a colour picker."""
    return [[str(c), colour_label(c)] for c in colours or ()]


def material_label(name: Any) -> str:
    """A material's name in the current language (catalogue names are German)."""
    return gettext(str(name)) if name else ""


# The dispatcher's own reasons (printers/: stored in English, as its logs say them), shown in
# the reader's language; a reason that starts with one of PREFIX_REASONS keeps its detail.
MACHINE_REASONS = {
    "sliced": N_("Für den Druck vorbereitet (gesliced)"),
    "select+print accepted": N_("Der Drucker hat den Druckauftrag angenommen"),
    "the printer prints our file": N_("Der Drucker druckt unsere Datei"),
    "the printer prints our file already": N_("Der Drucker druckt unsere Datei schon"),
    "the printer printed our file": N_("Der Drucker hat unsere Datei gedruckt"),
    "print finished": N_("Druck fertig"),
    "print finished, confirming": N_("Druck fertig, wird bestätigt"),
    "bed cleared": N_("Druckbett geräumt"),
    "paused in the console": N_("In der Konsole pausiert"),
    "resumed in the console": N_("In der Konsole fortgesetzt"),
    "paused at the printer": N_("Am Drucker pausiert"),
    "resumed at the printer": N_("Am Drucker fortgesetzt"),
    "cancelled at the technician's request": N_("Auf Wunsch der Technik abgebrochen"),
    "cancelled in the console": N_("In der Konsole storniert"),
    "cancelled in the console to print again": N_("In der Konsole abgebrochen, um neu zu "
                                                  "drucken"),
    "cancelled at the printer, to be printed again": N_("Am Drucker abgebrochen; wird neu "
                                                        "gedruckt"),
    "our file's print failed at the printer": N_("Der Druck unserer Datei ist am Drucker "
                                                 "fehlgeschlagen"),
    "print cancelled or failed at the printer": N_("Druck am Drucker abgebrochen oder "
                                                   "fehlgeschlagen"),
    "print interrupted: the printer lost the job (restarted or reconnected)": N_(
        "Druck unterbrochen: der Drucker hat den Auftrag verloren (neu gestartet oder neu "
        "verbunden)"),
    "the printer went offline after the start command": N_("Der Drucker war nach dem "
                                                           "Startbefehl nicht mehr erreichbar"),
    "the job was never started on the printer": N_("Der Auftrag wurde am Drucker nie "
                                                   "gestartet"),
    "the print did not start": N_("Der Druck hat nicht begonnen"),
    "API key rejected by OctoPrint": N_("OctoPrint hat den API-Schlüssel abgelehnt"),
}
# why a technician stopped a print to print the piece again ("Neu drucken"): the code is kept
# with the try (its detail "reprint: <code>") and counted on the dashboard
REPRINT_CAUSES = {
    "adhesion": N_("Haftung am Druckbett verloren"),
    "shifted": N_("Verrutscht oder Spaghetti"),
    "extrusion": N_("Düse verstopft oder zu wenig Material"),
    "filament": N_("Filament leer oder gerissen"),
    "quality": N_("Oberfläche oder Maße nicht in Ordnung"),
    "other": N_("Anderer Grund"),
}
REPRINT_DETAIL = "reprint: "  # a try's detail: "reprint: adhesion"
PREFIX_REASONS = (
    ("to printer ", N_("An Drucker %(detail)s")),
    ("slicing failed: ", N_("Slicen fehlgeschlagen: %(detail)s")),
    ("print interrupted: printer ", N_("Druck unterbrochen: Drucker %(detail)s")),
    ("the printer prints another file ", N_("Der Drucker druckt eine andere Datei %(detail)s")),
    ("the printer shows another file ", N_("Der Drucker zeigt eine andere Datei %(detail)s")),
)


# "job <public id>[: reason]": a printer's state reason naming the job it took or finished
_JOB_REASON = re.compile(r"job ([0-9a-f]{32})(?:: (.+))?", re.S)
# OctoPrint's state texts (its own English), as a technician reads them
OCTOPRINT_STATES = {
    "Operational": N_("bereit"), "Printing": N_("druckt"), "Printing from SD": N_("druckt von SD"),
    "Paused": N_("pausiert"), "Pausing": N_("pausiert gerade"), "Resuming": N_("setzt fort"),
    "Cancelling": N_("bricht ab"), "Finishing": N_("schließt ab"), "Starting": N_("startet"),
    "Offline": N_("offline"), "Error": N_("Fehler"), "Closed": N_("getrennt"),
    "Connecting": N_("verbindet"), "Opening serial connection": N_("öffnet die Verbindung"),
    "Detecting serial connection": N_("sucht die Verbindung"),
}


def octoprint_state(text: str | None) -> str:
    """OctoPrint's state text in the current language (one it does not know as it is)."""
    if not text:
        return ""
    return gettext(OCTOPRINT_STATES[text]) if text in OCTOPRINT_STATES else str(text)


def reason_job(reason: str | None) -> str | None:
    """The public id of the job a dispatcher's reason names ("job <id>: ..."), or None."""
    job = _JOB_REASON.fullmatch(reason or "")
    return job.group(1) if job else None


def machine_reason(reason: str | None, names: dict[str, str] | None = None) -> str:
    """A reason the dispatcher wrote, in the current language (others as they are).

    names : how the page names jobs by public id ("DH-2026-000042 · Halter.stl 1/2"); a job
    not in it is named by the short id the pages show.
    """
    if not reason:
        return ""
    if reason in MACHINE_REASONS:
        return gettext(MACHINE_REASONS[reason])
    if reason.startswith(REPRINT_DETAIL) and reason[len(REPRINT_DETAIL):] in REPRINT_CAUSES:
        return gettext("Abgebrochen, um neu zu drucken: %(cause)s",
                       cause=gettext(REPRINT_CAUSES[reason[len(REPRINT_DETAIL):]]))
    if job := _JOB_REASON.fullmatch(reason):
        text = (names or {}).get(job.group(1)) or gettext("Auftrag %(id)s",
                                                          id=job.group(1)[:8].upper())
        return text + (": " + machine_reason(job.group(2)) if job.group(2) else "")
    for prefix, text in PREFIX_REASONS:
        if reason.startswith(prefix):
            return gettext(text, detail=reason[len(prefix):])
    return reason


SLICER_DIFFERS = "slicer differs from the "  # the dispatcher's price-lock reason


def slicer_difference(data: dict[str, Any]) -> str:
    """The price lock's reason from its event's figures: which of the slicer's grams and time
    lie outside the tolerance, against what (the quote's, or the estimate for a technician's
    support choice), by how much, in the current language."""
    lang = get_language()
    technician = data.get("check_material_g") is not None
    basis_g = data.get("check_material_g") if technician else data.get("est_material_g")
    basis_s = data.get("check_print_time_s") if technician else data.get("est_print_time_s")
    figures = (
        ("tolerance_material", N_("Material %(slicer)s statt %(quote)s (%(diff)s)"), basis_g,
         data.get("slicer_material_g"), lambda v: formatting.format_grams(v, 1, lang)),
        ("tolerance_time", N_("Druckzeit %(slicer)s statt %(quote)s (%(diff)s)"), basis_s,
         data.get("slicer_print_time_s"), lambda v: formatting.format_duration(v, lang)),
    )
    parts, tolerances = [], set()
    off = data.get("off")  # which figures the dispatcher found outside their tolerance
    for key, text, quoted, sliced, fmt in figures:
        if not quoted or sliced is None:
            continue
        if off is not None and key.removeprefix("tolerance_") not in off:
            continue  # within its tolerance: not why the piece waits
        diff = (float(sliced) - float(quoted)) / float(quoted)
        if (tolerance := data.get(key)) is not None:
            tolerances.add(float(tolerance))
        sign = "+" if diff > 0 else "−"
        parts.append(gettext(text, slicer=fmt(sliced), quote=fmt(quoted),
                             diff=sign + formatting.format_percent(abs(diff) * 100, 0, lang)))
    head = (gettext("Der Slicer weicht von der Schätzung für die geänderte Stützen-Wahl ab")
            if technician else gettext("Der Slicer weicht vom Angebot ab"))
    text = head + (": " + "; ".join(parts) if parts else "")
    if len(tolerances) == 1:
        text += " " + gettext("(erlaubt: ±%(tolerance)s)", tolerance=formatting.format_percent(
            tolerances.pop() * 100, 0, lang))
    return text + "."


def event_reason(event: Any) -> str:
    """A job event's reason as shown: the console's own notes (priority, printer) in the
    current language from their data, the dispatcher's reasons translated
    (:func:`machine_reason`), anything a person typed as it was typed."""
    data = event.data if isinstance(getattr(event, "data", None), dict) else {}
    if data.get("action") == "priority":
        return gettext("Priorität %(old)s → %(new)s", old=data.get("from"), new=data.get("to"))
    if data.get("action") == "assign_printer":
        return gettext("Drucker: %(name)s", name=data.get("to") or gettext("Dispatcher wählt"))
    if (event.reason or "").startswith(SLICER_DIFFERS) and "slicer_material_g" in data:
        return slicer_difference(data)
    if getattr(event, "actor", None) == "dispatcher" or event.reason in MACHINE_REASONS:
        return machine_reason(event.reason)
    return event.reason or ""


def lang_url(lang: str) -> str:
    """The current page's URL with ``?lang=`` set (for the language switcher)."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [lang]
    return f"{request.path}?{urlencode(args, doseq=True)}"


def init_app(app: Flask) -> None:
    """Set Flask-Babel up (German default, hub time zone), expose the helpers and filters."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config.get("HUB_TIMEZONE", "UTC"))
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(messages.TRANSLATIONS_DIR))
    babel.init_app(app, locale_selector=select_language)

    @app.before_request
    def _pick_language() -> None:
        # choose at the start (the choice may save the user's setting: never mid-view), and
        # afresh for each request (Flask-Babel caches it on the app context, which a test or
        # a worker may keep open across requests)
        refresh()
        get_locale()
    app.jinja_env.globals.update(
        get_language=get_language, lang_url=lang_url, LANGUAGES=LANGUAGES,
        REPRINT_CAUSES=REPRINT_CAUSES,
    )
    app.jinja_env.filters.update(formatting.FILTERS)
    # the filters' names before Babel (``|date_de`` formatted in either language too), kept
    # for templates written on branches older than the rename
    app.jinja_env.filters.update(date_de=formatting.format_date,
                                 datetime_de=formatting.format_datetime)
    app.jinja_env.filters.update(
        state_label=state_label, colour_label=colour_label, colour_choices=colour_choices,
        material_label=material_label,
        line_texts=messages.line_texts, event_reason=event_reason,
        machine_reason=machine_reason, octoprint_state=octoprint_state,
    )
