"""Quote options: one definition of each option, used by the web, the JSON endpoint and both
command lines."""

from __future__ import annotations

import re

import pytest
from portal_helpers import firm_user, store_part  # noqa: F401  (fixture)

from marketplace.engine.meshio.units import USER_UNITS

# --- units: one list (engine/meshio/units.py) -----------------------------------------------

@pytest.mark.db_independent
def test_both_command_lines_offer_the_engine_units():
    from marketplace.portal.cli_orders import submit_command
    from marketplace.quote import build_parser

    quote_cli = next(a for a in build_parser()._actions if a.dest == "units")
    assert tuple(quote_cli.choices) == USER_UNITS
    submit = next(p for p in submit_command.params if p.name == "units")
    assert tuple(submit.type.choices) == USER_UNITS


def test_part_page_and_services_use_the_engine_units(client, login_as, firm_user):
    from marketplace.parts import operations as parts
    from marketplace.quotes import operations as quotes

    part = store_part(firm_user.firm, firm_user)
    login_as(firm_user)
    page = client.get(f"/parts/{part.public_id}").get_data(as_text=True)
    select = re.search(r'<select id="units" name="units">(.*?)</select>', page, re.S).group(1)
    assert tuple(re.findall(r'<option value="([^"]+)"', select)) == USER_UNITS
    materials = {"PLA": quotes.hub_catalog()[0]["PLA"]}
    for unit in USER_UNITS:
        assert quotes.parse_options({"units": unit}, materials).units == unit
    with pytest.raises(quotes.QuoteError):
        quotes.parse_options({"units": "furlong"}, materials)
    with pytest.raises(parts.UploadError):
        parts.reanalyse(part, "furlong")
