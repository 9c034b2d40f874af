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


# --- one schema for the options (engine/options.py) -----------------------------------------

def _materials():
    from marketplace.engine.pricing.catalog import DEFAULT_MATERIALS

    return DEFAULT_MATERIALS


@pytest.mark.db_independent
@pytest.mark.parametrize("raw, field", [
    ({"infill": "inf"}, "infill"), ({"infill": float("inf")}, "infill"),
    ({"infill": float("nan")}, "infill"), ({"infill": "NaN"}, "infill"),
    ({"infill": "1e309"}, "infill"), ({"infill": 10**400}, "infill"),
    ({"infill": -0.6}, "infill"), ({"infill": [15]}, "infill"), ({"infill": True}, "infill"),
    ({"layer_height": "0,04"}, "layer_height"), ({"layer_height": "-inf"}, "layer_height"),
    ({"quantity": 1001}, "quantity"), ({"quantity": 0}, "quantity"),
    ({"quantity": "9" * 40}, "quantity"), ({"quantity": "9" * 5000}, "quantity"),
    ({"quantity": 2.5}, "quantity"), ({"quantity": "2.5"}, "quantity"),
    ({"quantity": float("inf")}, "quantity"), ({"quantity": True}, "quantity"),
    ({"quantity": None}, "quantity"), ({"quantity": {"n": 2}}, "quantity"),
    ({"material": "GOLD"}, "material"), ({"material": 5}, "material"),
    ({"material": "x" * 17}, "material"), ({"colour": "Lila"}, "colour"),
    ({"colour": 3}, "colour"), ({"units": "furlong"}, "units"), ({"units": 1}, "units"),
    ([{"infill": 15}], "options"), (15, "options"), ("infill=15", "options"), (None, "options"),
])
def test_the_schema_refuses_bad_values_and_shapes(raw, field):
    from marketplace.engine import options

    with pytest.raises(options.OptionError) as info:
        options.load_options(raw, _materials())
    err = info.value
    assert err.field == field and err.code == options.MESSAGES[field][0]
    assert err.message and "%(" not in err.message


@pytest.mark.db_independent
def test_the_schema_reads_forms_json_and_command_lines_alike():
    from werkzeug.datastructures import MultiDict

    from marketplace.engine import options

    form = MultiDict([("material", "petg"), ("colour", "Blau"), ("quantity", "3"),
                      ("infill", "17,5"), ("layer_height", "0,15"), ("units", ""),
                      ("csrf_token", "t"), ("quantity", "99")])
    got = options.load_options(form, _materials())
    assert got == options.QuoteOptions("PETG", "Blau", 3, 18, 0.15, None)
    as_json = {"material": "PETG", "colour": "Blau", "quantity": 3.0, "infill": 17.5,
               "layer_height": 0.15, "units": None}
    assert options.load_options(as_json, _materials()) == got
    assert options.load_options({}, _materials()) == options.QuoteOptions()
    assert options.load_options({"material_code": "abs"}, _materials()).material_code == "ABS"
    top = {"quantity": options.QUANTITY_MAX, "infill": options.INFILL_MAX,
           "layer_height": options.LAYER_MAX_MM}
    assert options.load_options(top, _materials()).quantity == options.QUANTITY_MAX


@pytest.mark.db_independent
def test_messages_name_the_limits_the_schema_checks():
    from marketplace.engine import options

    def message(raw):
        with pytest.raises(options.OptionError) as info:
            options.load_options(raw, _materials())
        return info.value.message

    assert f"zwischen {options.INFILL_MIN} und {options.INFILL_MAX} % liegen" in message(
        {"infill": -1})
    low, high = (str(v).replace(".", ",") for v in (options.LAYER_MIN_MM, options.LAYER_MAX_MM))
    assert f"zwischen {low} und {high} mm" in message({"layer_height": 1})
    assert f"von 1 bis {options.QUANTITY_MAX} sein" in message({"quantity": 0})
    assert "verfügbar: ABS, PETG, PLA, TPU" in message({"material": "GOLD"})
    assert all(options.LAYER_MIN_MM <= h <= options.LAYER_MAX_MM
               for h in options.LAYER_HEIGHTS_MM)


def test_price_endpoint_refuses_infinities_and_wrong_shapes_with_400(client, login_as,
                                                                      firm_user):
    part = store_part(firm_user.firm, firm_user)
    login_as(firm_user)
    url = f"/parts/{part.public_id}/price"
    for body, field in [('{"infill": "inf"}', "infill"), ('{"infill": 1e309}', "infill"),
                        ('{"infill": NaN}', "infill"), ('{"quantity": 1e999}', "quantity"),
                        ('{"quantity": 1001}', "quantity"), ("null", "options"),
                        ("{", "options")]:
        resp = client.post(url, data=body, content_type="application/json")
        assert resp.status_code == 400, body
        assert resp.get_json()["error"]["field"] == field, body
        assert resp.get_json()["error"]["message"]
    for body in ("[1, 2]", "3", '"x"', "[" * 3000):  # not an object: refused before the view
        resp = client.post(url, data=body, content_type="application/json")
        assert resp.status_code == 400, body
        assert "JSON-Objekt" in resp.get_data(as_text=True)
    english = client.post(url + "?lang=en", json={"quantity": 0}).get_json()["error"]
    assert english["message"] == "The quantity must be a whole number from 1 to 1000."
    assert client.post(url, json={"infill": "17,5"}).status_code == 200


def test_quote_form_with_infinite_infill_is_a_400_page_not_a_500(client, login_as, firm_user):
    from marketplace.models import Quote

    part = store_part(firm_user.firm, firm_user)
    login_as(firm_user)
    form = {"material": "PLA", "colour": "any", "quantity": "2", "infill": "inf",
            "layer_height": "0.2"}
    resp = client.post(f"/parts/{part.public_id}/quote", data=form)
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "Die Füllung muss zwischen 0 und 100 % liegen." in page
    assert 'name="quantity" min="1" max="1000" value="2"' in page  # the choices stay
    from marketplace.extensions import db

    assert db.session.query(Quote).count() == 0
    form["infill"] = "20"
    assert client.post(f"/parts/{part.public_id}/quote", data=form).status_code == 303


def test_hub_queue_ignores_a_printer_id_no_database_can_hold(client, login_as, make_user):
    login_as(make_user("technician"))
    for value in ("9" * 30, str(2**31), "-1", "x"):
        assert client.get(f"/hub/?printer={value}").status_code == 200


def test_a_json_body_to_an_html_form_is_no_data_not_a_500(client, login_as, firm_user):
    login_as(firm_user)
    resp = client.post("/account/invite", json={"invite-email": 5, "invite-name": [1]})
    assert resp.status_code == 400
    resp = client.post("/account", json={"pw-password": 1e309, "pw-new_password": None})
    assert resp.status_code in (200, 400)


def test_both_command_lines_use_the_schema_limits(runner, tmp_path, capsys):
    from portal_helpers import cube_stl

    from marketplace.quote import main

    path = tmp_path / "teil.stl"
    path.write_bytes(cube_stl())
    result = runner.invoke(args=["orders", "submit", str(path), "--firm", "F", "--quantity",
                                 "1001"])
    assert result.exit_code == 2
    assert "--quantity: Die Stückzahl muss eine ganze Zahl von 1 bis 1000 sein." in result.output
    assert main([str(path), "--quantity", "1001", "--json"]) == 2
    assert "von 1 bis 1000" in capsys.readouterr().out
    ok = runner.invoke(args=["orders", "submit", str(path), "--firm", "F", "--quantity", "1000",
                             "--infill", "12,5", "--layer-height", "0,15"])
    assert ok.exit_code == 0, ok.output
