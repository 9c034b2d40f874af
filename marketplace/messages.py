"""Render the engine's messages (codes with parameters) in a reader's language.

The engine stores what it found as ``{"code", "params"}`` (problems, price lines, input
errors; see :mod:`marketplace.engine.texts`). Pages, PDFs, mails and the command line turn
them into sentences here, from the same gettext catalogues Flask-Babel reads, with figures
formatted by :mod:`marketplace.formatting`.

No Flask import: ``python -m marketplace.quote`` renders with it too. ``lang=None`` means the
language in force (Flask-Babel's inside the app).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

from marketplace import formatting
from marketplace.engine.texts import TEXTS

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def translations(lang: str) -> NullTranslations:
    """Return the compiled catalogue of ``lang`` ("de" has none: German is the source)."""
    return Translations.load(str(TRANSLATIONS_DIR), [lang], "messages")


def gettext(text: str, lang: Any = None, /, **params: Any) -> str:
    """Translate a German source string into ``lang`` and fill its ``%(name)s`` placeholders."""
    lang = formatting.normalise_language(lang) or formatting.current_language()
    result = translations(lang).gettext(text)
    return result % params if params else result


def param_text(value: Any, lang: str) -> str:
    """Format one message parameter (see :mod:`marketplace.engine.texts`) for people."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return formatting.format_number(value, 0, lang)
    if isinstance(value, float):
        return formatting.format_number(value, 1, lang)
    if isinstance(value, Mapping):
        if "num" in value:
            return formatting.format_number(value["num"], int(value.get("places", 1)), lang)
        if "money" in value:
            return formatting.format_money(value["money"], lang)
        if "percent" in value:
            return formatting.format_percent(value["percent"], 0, lang)
        if "duration" in value:
            return formatting.format_duration(value["duration"], lang)
        if "size_mm" in value:
            return formatting.format_size(value["size_mm"], 1, lang)
        if "msg" in value:
            return render(str(value["msg"]), value.get("params") or {}, lang)
        if "list" in value:
            return formatting.format_list([param_text(v, lang) for v in value["list"]], lang)
    return str(value)


def render(code: str, params: Mapping[str, Any] | None = None, lang: Any = None) -> str:
    """Return the sentence of message ``code`` with ``params`` in ``lang``."""
    lang = formatting.normalise_language(lang) or formatting.current_language()
    source = TEXTS.get(code)
    if source is None:  # a code this version does not know (stored by a newer one)
        log.warning("no text for message code %r", code)
        return code
    values = {k: param_text(v, lang) for k, v in (params or {}).items()}
    text = translations(lang).gettext(source)
    return text % values if values else text


def render_message(record: Mapping[str, Any] | None, lang: Any = None, *,
                   prefix: str = "") -> str:
    """Render a stored ``{"code", "params"}`` record (rows stored before codes: their text).

    ``prefix`` names the kind of code ("problem.", "error.", "line.") in :data:`TEXTS`; a
    record's ``text`` names its sentence outright.
    """
    if not record:
        return ""
    lang = formatting.normalise_language(lang) or formatting.current_language()
    key = record.get("text") or f"{prefix}{record.get('code')}"
    if "params" in record and key in TEXTS:
        return render(key, record.get("params") or {}, lang)
    # older rows kept the rendered German and English sentences
    if lang == "en" and record.get("message_en"):
        return str(record["message_en"])
    return str(record.get("message") or record.get("code") or "")


class LazyMessage:
    """A stored message that becomes text only when shown, in the language in force then
    (a parameter of an app error raised before anyone knows who reads it)."""

    def __init__(self, record: Mapping[str, Any], prefix: str = "") -> None:
        self.record, self.prefix = record, prefix

    def __str__(self) -> str:
        return render_message(self.record, prefix=self.prefix)

    def __repr__(self) -> str:
        return f"LazyMessage({self.record!r})"


def line_texts(line: Mapping[str, Any], lang: Any = None) -> tuple[str, str]:
    """Return (label, detail) of a stored price line in ``lang``."""
    lang = formatting.normalise_language(lang) or formatting.current_language()
    code = f"line.{line.get('code')}"
    if "params" in line and code in TEXTS:
        params = dict(line.get("params") or {})
        klass = params.get("printer_class")
        if isinstance(klass, str) and f"class.{klass}" in TEXTS:  # stored as the class's key
            params["printer_class"] = {"msg": f"class.{klass}"}
        detail = render(f"{code}.detail", params, lang) if f"{code}.detail" in TEXTS else ""
        return render(code, {}, lang), detail
    # quotes stored before lines had codes: German words as they were
    label = str(line.get("label") or line.get("code") or "")
    return gettext(label, lang) if label else "", str(line.get("detail") or "")


def with_texts(result: dict[str, Any]) -> dict[str, Any]:
    """Add the words to a ``quote_file`` result, as the command line's JSON has them.

    Problems and the orientation get ``message`` (German) and ``message_en``; price lines
    ``label`` and ``detail`` (German).
    """
    for problem in result.get("problems") or []:
        if "params" in problem:
            problem["message"] = render_message(problem, "de", prefix="problem.")
            problem["message_en"] = render_message(problem, "en", prefix="problem.")
    orientation = result.get("orientation") or {}
    if "sentences" in orientation:
        orientation["message"] = orientation_text(orientation, "de")
        orientation["message_en"] = orientation_text(orientation, "en")
    for line in (result.get("price") or {}).get("lines") or []:
        line["label"], line["detail"] = line_texts(line, "de")
    return result


def orientation_text(orientation: Mapping[str, Any], lang: Any = None) -> str:
    """Return the suggested orientation's message (its sentences) in ``lang``."""
    sentences = orientation.get("sentences")
    if sentences is None:  # stored before messages had codes
        return render_message(orientation, lang)
    return " ".join(render_message(s, lang) for s in sentences)
