"""The gettext catalogues match the code: every string has English, nothing fuzzy or stale.

The strings are extracted exactly as ``scripts/i18n extract`` does (``babel.cfg``: every Python
file and template, the same keywords), so a string added anywhere without English fails here,
and so does an English entry whose German string is gone. Fix: ``scripts/i18n update``,
translate the new entries in ``marketplace/translations/en/LC_MESSAGES/messages.po``, then
``scripts/i18n compile``.
"""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

pytestmark = pytest.mark.db_independent
ROOT = Path(__file__).resolve().parents[1]
CATALOGUES = ROOT / "marketplace" / "translations"
FIX = "run scripts/i18n update, translate in en/messages.po, then scripts/i18n compile"


def _keywords() -> dict:
    """Babel's default keywords plus the ones scripts/i18n passes with -k."""
    from babel.messages.extract import DEFAULT_KEYWORDS

    script = (ROOT / "scripts" / "i18n").read_text(encoding="utf-8")
    extra = re.search(r"^KEYWORDS=\((.*)\)$", script, re.M).group(1)
    words = shlex.split(extra)[1::2]
    assert words, "scripts/i18n names no extra keywords"
    return {**DEFAULT_KEYWORDS, **{w: None for w in words}}


def _extracted() -> dict[str, set[str]]:
    """msgid (singular, and plural) -> the files it is used in."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str, set[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=_keywords()):
        for msgid in (message if isinstance(message, tuple) else (message,)):
            if msgid:
                found.setdefault(msgid, set()).add(filename)
    return found


def _catalogue(lang: str):
    with open(CATALOGUES / lang / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle)


def _ids(catalogue) -> set[str]:
    out = set()
    for message in catalogue:
        if message.id:
            out |= set(message.id) if isinstance(message.id, tuple) else {message.id}
    return out


@pytest.fixture(scope="module")
def extracted():
    return _extracted()


def test_extraction_finds_the_apps_strings(extracted):
    # one string from each kind of source: template, view, service error, engine text, N_()
    for msgid, where in [("Abmelden", "base.html"), ("Ihr Angebot", "quote.html"),
                         ("Unbekannte Einheit.", "operations.py"),
                         ("Mindestbestellwert %(minimum)s", "texts.py"),
                         ("Bett räumen", "board.py"),
                         ("Der Drucker antwortet nicht.", "control.py")]:
        assert msgid in extracted and any(f.endswith(where) for f in extracted[msgid]), msgid
    assert len(extracted) > 500


def test_every_string_has_english_and_none_is_fuzzy(extracted):
    english = _catalogue("en")
    missing, fuzzy = [], []
    by_id = {m.id if isinstance(m.id, str) else m.id[0]: m for m in english if m.id}
    plural_ids = {m.id[1]: m for m in english if m.id and isinstance(m.id, tuple)}
    for msgid in sorted(extracted):
        entry = by_id.get(msgid) or plural_ids.get(msgid)
        strings = () if entry is None else (
            entry.string if isinstance(entry.string, tuple) else (entry.string,))
        if entry is None or not all(strings):
            missing.append(msgid)
        elif entry.fuzzy:
            fuzzy.append(msgid)
    assert not missing, f"no English for {missing} ({FIX})"
    assert not fuzzy, f"fuzzy English for {fuzzy} ({FIX})"


def test_catalogues_hold_no_stale_entries(extracted):
    for lang in ("de", "en"):
        stale = sorted(_ids(_catalogue(lang)) - set(extracted))
        assert not stale, f"{lang}/messages.po has strings the code no longer uses: {stale} ({FIX})"
        absent = sorted(set(extracted) - _ids(_catalogue(lang)))
        assert not absent, f"{lang}/messages.po lacks {absent} ({FIX})"


def test_placeholders_agree():
    """A msgstr must use the same %(name)s placeholders as its msgid (else _() fails)."""
    pattern = re.compile(r"%\((\w+)\)[sd]")
    wrong = []
    for message in _catalogue("en"):
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        want = set(pattern.findall(ids[0])) | set(pattern.findall(ids[-1]))
        for text in strings:
            if set(pattern.findall(text)) - want or message.id.count("%%") != text.count("%%"):
                wrong.append((message.id, text))
    assert not wrong, wrong


@pytest.mark.parametrize("lang", ["de", "en"])
def test_compiled_catalogue_is_not_stale(lang):
    """The committed .mo holds exactly what its .po says (scripts/i18n compile after an edit)."""
    catalogue = _catalogue(lang)
    fresh = io.BytesIO()
    write_mo(fresh, catalogue)
    fresh.seek(0)
    mo_path = CATALOGUES / lang / "LC_MESSAGES" / "messages.mo"
    assert mo_path.is_file(), f"{mo_path} is missing: run scripts/i18n compile"
    with open(mo_path, "rb") as handle:
        committed = read_mo(handle)

    def pairs(cat):
        def key(value):
            return tuple(value) if isinstance(value, (list, tuple)) else value

        return {(key(m.id), key(m.string)) for m in cat
                if m.id and any(key(m.string) if isinstance(m.string, (list, tuple))
                                else [m.string]) and not m.fuzzy}

    assert pairs(read_mo(fresh)) == pairs(committed), (
        f"{lang}/messages.mo is older than messages.po: run scripts/i18n compile")


def test_no_translation_call_hides_inside_an_f_string():
    """pybabel does not look inside f-strings: ``f"{_('Menge')}: ..."`` would never get English."""
    import ast

    names = set(_keywords())
    hidden = []
    for folder in ("marketplace", "printers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.JoinedStr):
                    continue
                for inner in ast.walk(node):
                    func = getattr(inner, "func", None)
                    literal = isinstance(inner, ast.Call) and inner.args and isinstance(
                        inner.args[0], ast.Constant)
                    if isinstance(func, ast.Name) and func.id in names and literal:
                        hidden.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert not hidden, hidden
