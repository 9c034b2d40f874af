"""A mesh's volume as people read it: a cube's "8,00 cm³"; for an open triangle soup (cannot be
closed, signed volume negative) "–" on the part page and in the quote command, never a negative
volume; the API keeps the analysis' number."""

from __future__ import annotations

import re

from api_helpers import bearer, token_for
from portal_helpers import cube_stl, firm_user, store_part  # noqa: F401  (fixture)
from quote_shapes import soup_stl

from marketplace.formatting import format_volume


def _volume_on_page(client, part) -> str:
    page = client.get(f"/parts/{part.public_id}").get_data(as_text=True)
    figures = page.split('id="figures">', 1)[1].split("</dl>", 1)[0]
    return re.search(r"<dt>Volumen</dt><dd>([^<]*)</dd>", figures).group(1)


def test_an_open_soup_shows_no_volume_but_the_api_keeps_the_number(client, login_as,
                                                                   firm_user, tmp_path):
    (tmp_path / "suppe.stl").write_bytes(soup_stl())
    (tmp_path / "wuerfel.stl").write_bytes(cube_stl())
    soup = store_part(firm_user.firm, firm_user, tmp_path / "suppe.stl")
    cube = store_part(firm_user.firm, firm_user, tmp_path / "wuerfel.stl")
    assert soup.analysis["mesh"]["volume_mm3"] < 0  # what the walk saw as "-1,80 cm³"
    login_as(firm_user)
    assert _volume_on_page(client, cube) == "8,00 cm³"
    assert _volume_on_page(client, soup) == "–"
    api = client.get(f"/api/v1/parts/{soup.public_id}/analysis",
                     headers=bearer(token_for(firm_user)))
    assert api.status_code == 200
    assert api.get_json()["mesh"]["volume_mm3"] == soup.analysis["mesh"]["volume_mm3"]


def test_format_volume_blanks_what_is_no_volume():
    cube = {"mesh": {"volume_mm3": 8000.0}, "problems": []}
    assert format_volume(cube, "de") == "8,00 cm³" and format_volume(cube, "en") == "8.00 cm³"
    assert format_volume({"mesh": {"volume_mm3": -1800.0}, "problems": []}, "de") == "–"
    assert format_volume({"mesh": {"volume_mm3": 0.0}}, "de") == "–"
    open_soup = {"mesh": {"volume_mm3": 12.5}, "problems": [{"code": "not_closable"}]}
    assert format_volume(open_soup, "de") == "–"
    assert format_volume({}, "de") == "–"
