"""Every number, amount, date, time and duration a person reads, formatted by Babel.

One module for pages (Jinja filters ``|money`` ``|number`` ``|mm`` ``|grams`` ``|percent``
``|duration`` ``|date`` ``|datetime`` ``|time``), PDFs, e-mails and the command line, so a
figure reads the same wherever it is shown: 150 s is "3 min" on the page, in the PDF and in
the mail.

``lang`` is "de" or "en"; ``None`` means the language in force: Flask-Babel's (the request's,
or the one forced with ``flask_babel.force_locale`` for a mail or a PDF) inside the app, German
elsewhere. English figures follow British conventions (``en_GB``: "2 Dec 2026", 24-hour
clock), which suit a hub in Germany. Datetimes are stored as naive UTC and shown in the hub's
time zone (``HUB_TIMEZONE``).

No Flask import at module level: ``python -m marketplace.quote`` formats with it too and must
not pay for the web stack.
"""

from __future__ import annotations

import datetime as dt
import sys
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel import units as babel_units
from babel.lists import format_list as babel_list

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
DEFAULT_TIMEZONE = "Europe/Berlin"
BLANK = "–"  # what an unknown value reads as
# the Babel locale each language formats with
_LOCALES = {"de": Locale.parse("de_DE"), "en": Locale.parse("en_GB")}


def normalise_language(lang: Any) -> str | None:
    """Return "de" or "en" for a language tag ("en-GB", "de_DE", a babel Locale), else None."""
    if not lang:
        return None
    code = str(lang).strip().lower().replace("-", "_")[:2]
    return code if code in LANGUAGES else None


def current_language() -> str:
    """Return the language in force: Flask-Babel's inside the app, else the default."""
    # look Flask-Babel up only if the app loaded it: the command line never imports Flask
    flask_babel = sys.modules.get("flask_babel")
    if flask_babel is not None:
        locale = flask_babel.get_locale()  # None outside an app context
        if locale is not None:
            return normalise_language(locale) or DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def locale_for(lang: Any = None) -> Locale:
    """Return the Babel locale figures are formatted with for ``lang`` (None: current)."""
    return _LOCALES[normalise_language(lang) or current_language()]


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _fixed(value: Any, places: int) -> Decimal:
    """Round half up to ``places`` decimals (Babel itself would round half to even)."""
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def figure(value: Any, places: int) -> float:
    """A figure for JSON rounded the way pages show it (half up): an API's 34.3 g is the
    page's "34,3 g" (Python's round gives 34.2 for 34.25)."""
    return float(_fixed(value, places))


def _pattern(places: int) -> str:
    return "#,##0" + ("." + "0" * places if places > 0 else "")


def format_number(value: Any, places: int = 0, lang: Any = None) -> str:
    """1234.5 -> "1.234,5" (de) / "1,234.5" (en) with ``places`` decimals, half up."""
    if _blank(value):
        return BLANK
    return babel_numbers.format_decimal(_fixed(value, places), format=_pattern(places),
                                        locale=locale_for(lang), decimal_quantization=False)


def format_money(cents: Any, lang: Any = None, currency: str = "EUR") -> str:
    """Integer cents -> "1.234,56 €" (de) / "€1,234.56" (en)."""
    if _blank(cents):
        return BLANK
    return babel_numbers.format_currency(Decimal(int(cents)) / 100, currency,
                                         locale=locale_for(lang))


def format_unit_price(cents: Any, lang: Any = None, currency: str = "EUR") -> str:
    """Cents, maybe fractional (a line's price per piece) -> "3,3333 €": 2 to 4 decimals."""
    if _blank(cents):
        return BLANK
    locale = locale_for(lang)
    pattern = locale.currency_formats["standard"].pattern.replace(".00", ".00##")
    return babel_numbers.format_currency(_fixed(Decimal(str(cents)) / 100, 4), currency,
                                         format=pattern, locale=locale, currency_digits=False)


def _unit(value: Any, unit: str, places: int, lang: Any) -> str:
    if _blank(value):
        return BLANK
    text = babel_units.format_unit(_fixed(value, places), unit, length="short",
                                   format=_pattern(places), locale=locale_for(lang))
    return text.replace(" ", "\u00a0")  # never break between the number and its unit


def format_mm(value: Any, places: int = 1, lang: Any = None) -> str:
    """A length in millimetres: 12.34 -> "12,3 mm"."""
    return _unit(value, "length-millimeter", places, lang)


def format_grams(value: Any, places: int = 1, lang: Any = None) -> str:
    """A mass in grams: 1234.56 -> "1.234,6 g"."""
    return _unit(value, "mass-gram", places, lang)


def format_size(dims: Any, places: int = 1, lang: Any = None) -> str:
    """A box in millimetres: (20, 20, 5) -> "20,0 × 20,0 × 5,0 mm"."""
    if not dims:
        return BLANK
    numbers = " × ".join(format_number(float(v), places, lang) for v in dims)
    return f"{numbers}\u00a0mm"


# problems of a mesh that has no volume to speak of (an open soup or sheet that cannot be
# closed, or nothing inside): its signed volume is no figure for people
_NO_VOLUME_PROBLEMS = frozenset({"not_closable", "no_volume"})


def format_volume(record: Any, lang: Any = None) -> str:
    """The volume of an analysed mesh (an analysis record: ``mesh.volume_mm3``, ``problems``)
    in cm³: "16,00 cm³"; BLANK when the mesh cannot be closed or its volume is not positive
    (the API keeps the number)."""
    record = record or {}
    volume = (record.get("mesh") or {}).get("volume_mm3")
    codes = {p.get("code") for p in record.get("problems") or []}
    if _blank(volume) or float(volume) <= 0 or codes & _NO_VOLUME_PROBLEMS:
        return BLANK
    return f"{format_number(float(volume) / 1000, 2, lang)} cm³"


def format_percent(value: Any, places: int = 0, lang: Any = None) -> str:
    """A percentage (12.5 means 12.5 %): "12,5 %" (de) / "12.5%" (en)."""
    if _blank(value):
        return BLANK
    locale = locale_for(lang)
    pattern = babel_numbers.parse_pattern(locale.percent_formats[None].pattern)
    pattern.frac_prec = (places, places)
    return pattern.apply(_fixed(value, places) / 100, locale, decimal_quantization=False)


def format_duration(seconds: Any, lang: Any = None) -> str:
    """Seconds -> "2 h 05 min", "45 min"; a started minute counts (150 s -> "3 min")."""
    if _blank(seconds):
        return BLANK
    exact = Decimal(str(float(seconds))) / 60
    minutes = max(0, int(exact.to_integral_value(rounding=ROUND_CEILING)))
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return f"{format_number(minutes, 0, lang)}\u00a0min"
    padded = babel_numbers.format_decimal(minutes, format="00", locale=locale_for(lang))
    return f"{format_number(hours, 0, lang)}\u00a0h {padded}\u00a0min"


def hub_zone(tz: Any = None) -> dt.tzinfo:
    """Return the time zone dates are shown in: ``tz``, else the app's ``HUB_TIMEZONE``."""
    if isinstance(tz, dt.tzinfo):
        return tz
    name = tz
    if name is None and "flask" in sys.modules:
        from flask import current_app, has_app_context

        if has_app_context():
            name = current_app.config.get("HUB_TIMEZONE")
    return ZoneInfo(name or DEFAULT_TIMEZONE)


def hub_today() -> dt.date:
    """Today in the hub's time zone (the date of a document or a version saved now)."""
    return dt.datetime.now(hub_zone()).date()


def _local(value: dt.datetime, tz: Any) -> dt.datetime:
    if value.tzinfo is None:  # stored as naive UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(hub_zone(tz))


def _as_date(value: Any, tz: Any) -> dt.date:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(
            value[:10])
    if isinstance(value, dt.datetime):
        return _local(value, tz).date()
    return value


def format_date(value: Any, lang: Any = None, tz: Any = None) -> str:
    """A date: "02.12.2026" (de) / "2 Dec 2026" (en); datetimes in the hub's time zone."""
    if _blank(value):
        return BLANK
    return babel_dates.format_date(_as_date(value, tz), "medium", locale=locale_for(lang))


def format_time(value: Any, lang: Any = None, tz: Any = None, *, seconds: bool = False) -> str:
    """A UTC datetime's time of day in the hub's zone: "14:05" ("14:05:09" with seconds)."""
    if _blank(value):
        return BLANK
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return babel_dates.format_time(_local(value, tz), "medium" if seconds else "short",
                                   locale=locale_for(lang))


def format_datetime(value: Any, lang: Any = None, tz: Any = None) -> str:
    """A UTC datetime in the hub's zone: "02.12.2026, 14:05" / "2 Dec 2026, 14:05"."""
    if _blank(value):
        return BLANK
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    locale = locale_for(lang)
    local = _local(value, tz)
    glue = babel_dates.get_datetime_format("medium", locale=locale)
    return glue.replace("{1}", babel_dates.format_date(local.date(), "medium", locale=locale)
                        ).replace("{0}", babel_dates.format_time(local, "short", locale=locale))


def format_list(items: list[str], lang: Any = None) -> str:
    """Join words: ["a", "b", "c"] -> "a, b und c" / "a, b and c"."""
    return babel_list([str(i) for i in items], locale=locale_for(lang)) if items else ""


def format_iban(value: Any) -> str:
    """An IBAN as people read it, in groups of four ("DE89 3704 0044 0532 0130 00"); it is
    stored, and written into the e-invoices, without spaces."""
    from stdnum import iban

    return iban.format(str(value)) if value else ""


FILTERS = {
    "iban": format_iban,
    "money": format_money,
    "number": format_number,
    "mm": format_mm,
    "grams": format_grams,
    "size": format_size,
    "percent": format_percent,
    "duration": format_duration,
    "date": format_date,
    "datetime": format_datetime,
    "time": format_time,
}
