"""The parts list's status badge: a part whose analysis is not printable (a triangle soup) or
that fits no printer in service says "Nicht druckbar" with the reason, not the green
"Druckbar" of a part that can be priced; the status JSON the list's script follows says the
same."""

from __future__ import annotations

import re

from portal_helpers import cube_stl, firm_user, store_part  # noqa: F401  (fixture)
from quote_shapes import box_stl, soup_stl

from marketplace.extensions import db
from tests.hub_factories import make_printer


def _row(page: str, part) -> str:
    match = re.search(rf'<tr data-status="ready"[^>]*{part.public_id}.*?</tr>', page, re.S)
    assert match, part.public_id
    return match.group(0)


def test_unprintable_parts_get_their_own_badge_with_the_reason(client, login_as, firm_user,
                                                               tmp_path):
    make_printer(build_x_mm=150, build_y_mm=150, build_z_mm=150)
    db.session.commit()
    made = {}
    for name, data in (("gut.stl", cube_stl()), ("suppe.stl", soup_stl()),
                       ("riesig.stl", box_stl(304, 300, 300)), ("platte.stl", box_stl(200, 100, 20))):
        (tmp_path / name).write_bytes(data)
        made[name] = store_part(firm_user.firm, firm_user, tmp_path / name)
    login_as(firm_user)
    page = client.get("/parts").get_data(as_text=True)

    good = _row(page, made["gut.stl"])
    assert "Druckbar" in good and "Nicht druckbar" not in good

    soup = _row(page, made["suppe.stl"])
    assert "Druckbar" not in soup
    assert re.search(r'<span class="badge badge-error" data-unprintable="not_printable" '
                     r'title="Das Teil ist so nicht druckbar[^"]*">Nicht druckbar</span>', soup)
    assert "data-unprintable-reason" in soup

    # larger than every build volume the hub is configured for: the analysis says so
    huge = _row(page, made["riesig.stl"])
    assert 'data-unprintable="not_printable"' in huge and "Druckbar" not in huge
    reason = re.search(r'data-unprintable-reason>([^<]*)<', huge).group(1)
    assert "304,0" in reason, reason
    # fits the configuration, but no printer in service
    large = _row(page, made["platte.stl"])
    assert 'data-unprintable="too_large"' in large and "Druckbar" not in large
    assert "Passt auf keinen Drucker (200,0 × 100,0 × 20,0\u00a0mm" in large
    assert "größter Bauraum 150,0 × 150,0 × 150,0\u00a0mm" in large

    status = client.get(f"/parts/{made['suppe.stl'].public_id}/status").get_json()
    assert status["status"] == "ready" and status["refused"]["code"] == "not_printable"
    assert client.get(f"/parts/{made['gut.stl'].public_id}/status").get_json()["refused"] is None
    en = client.get("/parts?lang=en").get_data(as_text=True)
    assert "Not printable" in _row(en, made["suppe.stl"])
