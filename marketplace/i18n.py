"""German first, English second: ``_()`` for templates and code, the language choice, formatting.

Source strings are German, wrapped in ``_("...")``; placeholders use ``%(name)s`` and are filled
from keyword arguments: ``_("Auftrag %(number)s", number=order.number)``. Each package keeps its
English catalogue in ``marketplace/<pkg>/translations_en.py`` (``EN = {"Deutsch": "English"}``);
``marketplace/translations_en.py`` holds the layout's, accounts' and e-mails' strings. All are
discovered and merged when the app starts. A German string without an English entry is shown in
German (and logged once in debug mode), never as an error.

The language of a request, first match wins: ``?lang=de|en`` (remembered in the session and, for
a signed-in user, saved as their setting, which e-mails use too), the signed-in user's setting,
the session, the browser's Accept-Language, then ``DEFAULT_LANGUAGE``. Outside a request (mails,
PDFs, CLI) use ``translate(text, lang)`` or ``with force_language(lang): ...``.

Formatting follows the language: ``|money`` (cents -> "1.234,56 €" / "€1,234.56"), ``|number``,
``|mm``, ``|grams``, ``|percent``, ``|duration`` (seconds -> "2 h 05 min"), ``|date_de``,
``|datetime_de`` (UTC -> hub time zone), ``|state_label`` (job state -> plain words),
``|colour_label`` (catalogue colour or "any" -> words in the current language).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import logging
import pkgutil
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, has_request_context, request, session
from markupsafe import Markup

log = logging.getLogger(__name__)

LANGUAGES = ("de", "en")
DEFAULT = "de"
_catalogue: dict[str, str] = {}
_forced: contextvars.ContextVar[str | None] = contextvars.ContextVar("druckhub_lang", default=None)
_missing_logged: set[str] = set()
_loaded = False

# Job states in plain words for firms and technicians (German source; English in the catalogue).
JOB_STATE_LABELS = {
    "received": "Eingegangen – wartet auf Freigabe",
    "approved": "Freigegeben",
    "queued": "In der Warteschlange",
    "dispatching": "Wird an den Drucker gesendet",
    "starting": "Druck startet",
    "printing": "Wird gedruckt",
    "paused": "Pausiert",
    "cancelling": "Wird abgebrochen",
    "printed": "Gedruckt",
    "ready_for_pickup": "Abholbereit",
    "shipped": "Versendet",
    "picked_up": "Abgeholt",
    "needs_attention": "Prüfung durch die Technik",
    "failed": "Fehlgeschlagen",
    "rejected": "Abgelehnt",
    "cancelled": "Storniert",
}


# --- catalogues -------------------------------------------------------------------------------


def load_catalogues(*, reload: bool = False) -> dict[str, str]:
    """Import every ``translations_en.py`` under ``marketplace`` and merge their ``EN`` dicts.

    ``reload=True`` reads the files again (tests that compare against the files on disk).
    """
    root = Path(__file__).parent
    names = ["marketplace.translations_en"]
    for info in sorted(pkgutil.iter_modules([str(root)]), key=lambda m: m.name):
        if info.ispkg and (root / info.name / "translations_en.py").exists():
            names.append(f"marketplace.{info.name}.translations_en")
    merged: dict[str, str] = {}
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        if reload:
            module = importlib.reload(module)
        entries = getattr(module, "EN", {})
        for source, english in entries.items():
            if source in merged and merged[source] != english:
                log.warning("translation of %r differs between catalogues (%s wins)", source, name)
            merged[source] = english
    global _loaded
    _catalogue.clear()
    _catalogue.update(merged)
    _loaded = True
    return merged


# --- language choice --------------------------------------------------------------------------


def _normalise(lang: str | None) -> str | None:
    if not lang:
        return None
    lang = lang.strip().lower()[:2]
    return lang if lang in LANGUAGES else None


def _from_accept_language() -> str | None:
    best = request.accept_languages.best_match(LANGUAGES)
    return _normalise(best)


def select_language() -> str:
    """Pick the language of the current request (see the module docstring for the order)."""
    from flask_login import current_user

    asked = _normalise(request.args.get("lang"))
    if asked:
        session["lang"] = asked
        if current_user.is_authenticated and getattr(current_user, "language", None) != asked:
            _save_user_language(current_user, asked)
        return asked
    if current_user.is_authenticated and _normalise(getattr(current_user, "language", None)):
        return current_user.language
    return (
        _normalise(session.get("lang"))
        or _from_accept_language()
        or _normalise(current_app.config.get("DEFAULT_LANGUAGE"))
        or DEFAULT
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
    """Return the language in force: forced (mails), the request's, or the default."""
    forced = _forced.get()
    if forced:
        return forced
    if has_request_context():
        lang = g.get("lang")
        if lang is None:
            lang = g.lang = select_language()
        return lang
    return DEFAULT


@contextlib.contextmanager
def force_language(lang: str | None) -> Iterator[str]:
    """Render in ``lang`` inside the block (e-mails in the recipient's language)."""
    lang = _normalise(lang) or DEFAULT
    token = _forced.set(lang)
    try:
        yield lang
    finally:
        _forced.reset(token)


# --- translation ------------------------------------------------------------------------------


def translate(text: str, lang: str | None = None, /, **params: Any) -> str:
    """Return ``text`` in ``lang`` (default: the current language), placeholders filled."""
    lang = _normalise(lang) or get_language()
    result = text
    if lang == "en":
        if not _loaded:
            load_catalogues()
        result = _catalogue.get(text, text)
        if result is text and text not in _missing_logged and _debug():
            _missing_logged.add(text)
            log.info("no English for %r", text)
    if params:
        result = result % params
    return result


def gettext(text: str, /, **params: Any) -> str:
    """``_()``: translate ``text`` into the current language."""
    return translate(text, None, **params)


_ = gettext


def ngettext(singular: str, plural: str, n: int, /, **params: Any) -> str:
    """Translate the singular or plural form; ``%(n)s`` is filled with ``n``."""
    return translate(singular if n == 1 else plural, None, n=n, **params)


def lazy_gettext(text: str, /, **params: Any) -> LazyString:
    """Translate when the value is shown (form labels defined at import time)."""
    return LazyString(text, params)


class LazyString:
    """A German string translated each time it is turned into text."""

    def __init__(self, text: str, params: Mapping[str, Any]) -> None:
        self.text, self.params = text, dict(params)

    def __str__(self) -> str:
        return translate(self.text, None, **self.params)

    def __html__(self) -> str:
        return str(Markup.escape(str(self)))

    def __len__(self) -> int:
        return len(str(self))

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self.text)

    def __add__(self, other: str) -> str:
        return str(self) + str(other)

    def __radd__(self, other: str) -> str:
        return str(other) + str(self)

    def __mod__(self, other: Any) -> str:
        return str(self) % other

    def __repr__(self) -> str:
        return f"l_({self.text!r})"


def _debug() -> bool:
    try:
        return bool(current_app.debug)
    except RuntimeError:
        return False


# --- formatting -------------------------------------------------------------------------------


def _group(int_part: str, sep: str) -> str:
    groups = []
    while len(int_part) > 3:
        groups.insert(0, int_part[-3:])
        int_part = int_part[:-3]
    groups.insert(0, int_part)
    return sep.join(groups)


def format_number(value: Any, decimals: int = 0, lang: str | None = None) -> str:
    """Format a number: 1234.5 -> "1.234,5" (de) / "1,234.5" (en); None -> "–"."""
    if value is None or value == "":
        return "–"
    lang = _normalise(lang) or get_language()
    quantum = Decimal(1).scaleb(-decimals)
    number = Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    sign = "-" if number < 0 else ""
    text = f"{abs(number):f}"
    int_part, _, frac = text.partition(".")
    thousands, point = (".", ",") if lang == "de" else (",", ".")
    out = sign + _group(int_part, thousands)
    return out + (point + frac if decimals > 0 else "")


def format_money(cents: Any, lang: str | None = None, currency: str = "€") -> str:
    """Format integer cents: 123456 -> "1.234,56 €" (de) / "€1,234.56" (en)."""
    if cents is None or cents == "":
        return "–"
    lang = _normalise(lang) or get_language()
    amount = Decimal(int(cents)) / 100
    text = format_number(abs(amount), 2, lang)
    sign = "-" if amount < 0 else ""
    return f"{sign}{text}\u00a0{currency}" if lang == "de" else f"{sign}{currency}{text}"


def format_mm(value: Any, decimals: int = 1, lang: str | None = None) -> str:
    """Format a length in millimetres: 12.34 -> "12,3 mm"."""
    return "–" if value is None else f"{format_number(value, decimals, lang)}\u00a0mm"


def format_grams(value: Any, decimals: int = 1, lang: str | None = None) -> str:
    """Format a mass in grams: 1234.5 -> "1.234,5 g"."""
    return "–" if value is None else f"{format_number(value, decimals, lang)}\u00a0g"


def format_percent(value: Any, decimals: int = 0, lang: str | None = None) -> str:
    """Format a percentage: 12.5 -> "12,5 %" (de) / "12.5%" (en)."""
    if value is None:
        return "–"
    lang = _normalise(lang) or get_language()
    text = format_number(value, decimals, lang)
    return f"{text}\u00a0%" if lang == "de" else f"{text}%"


def format_duration(seconds: Any, lang: str | None = None) -> str:
    """Format seconds: 7500 -> "2 h 05 min", 2700 -> "45 min", 30 -> "1 min" (rounded up)."""
    if seconds is None or seconds == "":
        return "–"
    total_min = max(0, int(-(-float(seconds) // 60)))  # round up: a started minute counts
    hours, minutes = divmod(total_min, 60)
    if hours == 0:
        return f"{minutes}\u00a0min"
    return f"{hours}\u00a0h {minutes:02d}\u00a0min"


_MONTHS_EN = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def _to_local(value: datetime) -> datetime:
    zone = "Europe/Berlin"
    with contextlib.suppress(RuntimeError):
        zone = current_app.config.get("HUB_TIMEZONE", zone)
    if value.tzinfo is None:  # stored as naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(zone))


def format_date(value: Any, lang: str | None = None) -> str:
    """Format a date: "25.11.2026" (de) / "25 Nov 2026" (en); datetimes in the hub's zone."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = _to_local(value).date()
    lang = _normalise(lang) or get_language()
    if lang == "de":
        return value.strftime("%d.%m.%Y")
    return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}"


def format_datetime(value: Any, lang: str | None = None) -> str:
    """Format a UTC datetime in the hub's zone: "25.11.2026, 14:05" / "25 Nov 2026, 14:05"."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = _to_local(value)
    return f"{format_date(local.date(), lang)}, {local:%H:%M}"


def state_label(state: Any, lang: str | None = None) -> str:
    """Plain words for a job state ("rejected" -> "Abgelehnt" / "Rejected")."""
    key = getattr(state, "value", state)
    return translate(JOB_STATE_LABELS.get(key, str(key)), lang)


def colour_label(colour: Any, lang: str | None = None) -> str:
    """A colour as shown: the catalogue's German name translated; "any" -> "beliebig"."""
    if not colour or colour == "any":
        return translate("beliebig", lang)
    return translate(str(colour), lang)


def lang_url(lang: str) -> str:
    """The current page's URL with ``?lang=`` set (for the language switcher)."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [lang]
    return f"{request.path}?{urlencode(args, doseq=True)}"


FILTERS = {
    "money": format_money,
    "number": format_number,
    "mm": format_mm,
    "grams": format_grams,
    "percent": format_percent,
    "duration": format_duration,
    "date_de": format_date,
    "datetime_de": format_datetime,
    "state_label": state_label,
    "colour_label": colour_label,
}


def init_app(app: Flask) -> None:
    """Load the catalogues, pick the language per request, expose ``_`` and the filters."""
    load_catalogues()

    @app.before_request
    def _pick_language() -> None:
        g.lang = select_language()

    app.jinja_env.globals.update(
        _=gettext, gettext=gettext, ngettext=ngettext, get_language=get_language,
        lang_url=lang_url, LANGUAGES=LANGUAGES,
    )
    app.jinja_env.filters.update(FILTERS)
