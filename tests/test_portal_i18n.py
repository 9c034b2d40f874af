"""Every German string of the portal's pages, forms and service messages has English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from marketplace import i18n

pytestmark = pytest.mark.db_independent
ROOT = Path(__file__).resolve().parents[1]
CALL = re.compile(r'''(?:\b_|\b_l)\(\s*((?:"[^"]*"\s*)+|'[^']*')''')
SERVICE_ERROR = re.compile(r'''(?:UploadError|QuoteError|OrderError)\(\s*"[a-z0-9_]+",\s*((?:"[^"]*"\s*)+)''')


def _literals(path: Path, pattern: re.Pattern) -> set[str]:
    out = set()
    for match in pattern.finditer(path.read_text(encoding="utf-8")):
        parts = re.findall(r'"([^"]*)"|\'([^\']*)\'', match.group(1))
        out.add("".join(a or b for a, b in parts))
    return {s for s in out if s}


def test_portal_strings_have_english():
    merged = i18n.load_catalogues()
    paths = sorted((ROOT / "marketplace" / "templates" / "portal").glob("*.html"))
    paths += [ROOT / "marketplace" / p for p in (
        "portal/views.py", "portal/forms.py", "parts/meshes.py")]
    strings = set().union(*(_literals(p, CALL) for p in paths))
    service = set()
    for name in ("parts", "quotes", "orders"):
        service |= _literals(ROOT / "marketplace" / name / "operations.py", SERVICE_ERROR)
    assert "Das ist keine gültige 3MF-Datei (kein ZIP-Archiv)." in service
    strings |= service
    assert len(strings) > 150
    missing = sorted(s for s in strings if s not in merged)
    assert not missing, missing


def test_message_with_placeholders_translates():
    i18n.load_catalogues()
    assert i18n.translate("Stück %(n)s", "en", n=3) == "Piece 3"
    assert i18n.translate("zzgl. %(p)s %% USt.", "en", p=19) == "plus 19 % VAT"
