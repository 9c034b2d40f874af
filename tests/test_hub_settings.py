"""Hub settings: stored values override the catalogue defaults; setters validate; admin forms."""

from datetime import date, time

import pytest

from marketplace.engine.pricing.catalog import DEFAULT_MATERIALS, DEFAULT_PRICING
from marketplace.extensions import db
from marketplace.models import Material, Setting
from marketplace.scheduling.planning import DEFAULT_OPENING_HOURS
from marketplace.settings import operations as s


def test_defaults_without_rows(app):
    assert s.get_materials() == DEFAULT_MATERIALS
    assert s.get_pricing_rules() == DEFAULT_PRICING
    assert s.get_opening_hours() == DEFAULT_OPENING_HOURS
    assert DEFAULT_OPENING_HOURS.weekly[0] == (time(7), time(18))
    assert DEFAULT_OPENING_HOURS.weekly[5] is None
    assert DEFAULT_OPENING_HOURS.timezone == "Europe/Berlin"
    assert s.get_hub_address()["city"] == "Lüneburg"


def test_material_rows_override_and_withdraw_defaults(app):
    s.save_material("pla", name="PLA Premium", density_g_cm3="1,25", price_per_kg_cents=4200,
                    colours="Schwarz, Weiß, schwarz, Rot")
    s.save_material("ABS", name="ABS", density_g_cm3=1.04, price_per_kg_cents=4500,
                    colours=["Schwarz"], active=False)
    s.save_material("PA12-CF", name="PA12 Carbon", density_g_cm3=1.1, price_per_kg_cents=9500,
                    colours=["Schwarz"])
    db.session.commit()
    materials = s.get_materials()
    assert materials["PLA"].price_per_kg_cents == 4200
    assert materials["PLA"].density_g_cm3 == 1.25
    assert materials["PLA"].colours == ("Schwarz", "Weiß", "Rot")  # duplicates dropped
    assert "ABS" not in materials and "ABS" in s.get_materials(include_inactive=True)
    assert materials["PA12-CF"].name == "PA12 Carbon"
    assert materials["PETG"] == DEFAULT_MATERIALS["PETG"]
    table = {m["code"]: m for m in s.material_table()}
    assert table["ABS"]["active"] is False and table["PETG"]["stored"] is False


@pytest.mark.parametrize("kwargs,field", [
    (dict(code="pl a"), "code"),
    (dict(name=""), "name"),
    (dict(density_g_cm3="schwer"), "density_g_cm3"),
    (dict(density_g_cm3="9"), "density_g_cm3"),
    (dict(price_per_kg_cents=0), "price_per_kg_cents"),
    (dict(price_per_kg_cents="x"), "price_per_kg_cents"),
    (dict(colours=" , "), "colours"),
])
def test_material_validation(app, kwargs, field):
    values = dict(code="PLA", name="PLA", density_g_cm3=1.24, price_per_kg_cents=4000,
                  colours="Schwarz")
    values.update(kwargs)
    code = values.pop("code")
    with pytest.raises(s.SettingsError) as exc:
        s.save_material(code, **values)
    assert field in exc.value.errors
    assert db.session.query(Material).count() == 0


def test_pricing_rules_merge_and_validate(app):
    rules = s.set_pricing_rules({"setup_fee_cents": 700, "quantity_discounts": [[20, 8]]})
    db.session.commit()
    assert s.get_pricing_rules() == rules
    assert rules.setup_fee_cents == 700 and rules.quantity_discounts == ((20, 8),)
    assert rules.machine_rate_cents_per_h == DEFAULT_PRICING.machine_rate_cents_per_h
    for bad, field in [
        ({"vat_percent": 140}, "vat_percent"),
        ({"setup_fee_cents": -1}, "setup_fee_cents"),
        ({"default_printer_class": "xl"}, "default_printer_class"),
        ({"machine_rate_cents_per_h": {}}, "machine_rate_cents_per_h"),
        ({"quantity_discounts": [[10, 95]]}, "quantity_discounts"),
        ({"quantity_discounts": [[10, 5], [10, 6]]}, "quantity_discounts"),
    ]:
        with pytest.raises(s.SettingsError) as exc:
            s.set_pricing_rules(bad)
        assert field in exc.value.errors
    assert s.get_pricing_rules().setup_fee_cents == 700


def test_opening_hours_round_trip_and_validation(app):
    hours = s.set_opening_hours({
        "weekly": {"mon": ["08:00", "16:30"], "sat": ["09:00", "12:00"]},
        "closed_dates": "2026-12-24, 2026-12-31", "handling_days": 2, "holiday_region": "",
    })
    db.session.commit()
    stored = s.get_opening_hours()
    assert stored == hours
    assert stored.weekly[0] == (time(8), time(16, 30)) and stored.weekly[1] is None
    assert stored.weekly[5] == (time(9), time(12))
    assert stored.closed_dates == frozenset({date(2026, 12, 24), date(2026, 12, 31)})
    assert stored.handling_days == 2 and stored.holiday_region == ""
    assert stored.unattended is True  # the default: prints run on overnight
    assert s.set_opening_hours({"unattended": False}).unattended is False
    assert s.get_opening_hours().unattended is False
    assert db.session.get(Setting, "opening_hours").value["weekly"]["mon"] == ["08:00", "16:30"]
    for bad, field in [
        ({"weekly": {"mon": ["18:00", "07:00"]}}, "weekly.mon"),
        ({"weekly": {"mon": ["7 Uhr", "18:00"]}}, "weekly.mon"),
        ({"weekly": {}}, "weekly"),
        ({"closed_dates": ["24.12.2026"]}, "closed_dates"),
        ({"holiday_region": "Bavaria"}, "holiday_region"),
        ({"holiday_region": "AT"}, "holiday_region"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"handling_days": -1}, "handling_days"),
    ]:
        with pytest.raises(s.SettingsError) as exc:
            s.set_opening_hours(bad)
        assert field in exc.value.errors


@pytest.fixture
def bavarian_hub(app_config):
    app_config["HUB_HOLIDAY_REGION"] = "BY"


def test_holiday_region_defaults_to_the_configured_state(bavarian_hub, app):
    assert app.config["HUB_HOLIDAY_REGION"] == "BY"
    assert s.get_opening_hours().holiday_region == "BY"
    # saving other fields keeps the configured state; the settings page may choose another
    assert s.set_opening_hours({"handling_days": 2}).holiday_region == "BY"
    assert s.set_opening_hours({"holiday_region": "BW"}).holiday_region == "BW"
    db.session.commit()
    assert s.get_opening_hours().holiday_region == "BW"


def test_hub_address(app):
    s.set_hub_address({"name": "Druckhub Lüneburg", "street": "Am Sande 1", "postcode": "21335",
                       "city": "Lüneburg", "email": "hub@example.de"})
    assert s.get_hub_address()["street"] == "Am Sande 1"
    with pytest.raises(s.SettingsError) as exc:
        s.set_hub_address({"name": "", "email": "kein-at"})
    assert set(exc.value.errors) == {"name", "email"}


# --- the admin page -----------------------------------------------------------------------------


@pytest.fixture
def admin(client, make_user, login_as):
    login_as(make_user("admin"))
    return client


def test_admin_saves_a_material_in_euros(admin):
    response = admin.post("/hub/settings/material", data={
        "code": "PETG", "name": "PETG", "density_g_cm3": "1,27", "price_eur_per_kg": "48,50",
        "colours": "Schwarz, Blau", "active": "1"})
    assert response.status_code == 302 and response.headers["Location"].endswith("#material")
    assert s.get_materials()["PETG"].price_per_kg_cents == 4850
    page = admin.get("/hub/settings").get_data(True)
    assert 'value="48,50"' in page


def test_admin_material_errors_are_shown_and_nothing_saved(admin):
    response = admin.post("/hub/settings/material", data={
        "code": "NEU", "name": "Neu", "density_g_cm3": "abc", "price_eur_per_kg": "10",
        "colours": "Rot"})
    assert response.status_code == 400
    html = response.get_data(True)
    assert 'data-error="density_g_cm3"' in html and 'value="abc"' in html
    assert "NEU" not in s.get_materials()


def test_admin_saves_pricing_and_hours(admin):
    response = admin.post("/hub/settings/pricing", data={
        "setup_fee_eur": "6,00", "minimum_order_eur": "20", "vat_percent": "19",
        "default_printer_class": "standard", "machine_rates": "standard: 3,20\nlarge: 5",
        "quantity_discounts": "10: 5\n50: 12"})
    assert response.status_code == 302
    rules = s.get_pricing_rules()
    assert rules.setup_fee_cents == 600 and rules.minimum_order_cents == 2000
    assert rules.machine_rate_cents_per_h == {"standard": 320, "large": 500}
    assert rules.quantity_discounts == ((10, 5), (50, 12))
    bad = admin.post("/hub/settings/pricing", data={
        "setup_fee_eur": "6", "minimum_order_eur": "20", "vat_percent": "19",
        "default_printer_class": "standard", "machine_rates": "standard 3",
        "quantity_discounts": ""})
    assert bad.status_code == 400 and 'data-error="machine_rates"' in bad.get_data(True)

    form = {f"open_{d}": "07:30" for d in ("mon", "tue", "wed", "thu", "fri")}
    form |= {f"close_{d}": "17:00" for d in ("mon", "tue", "wed", "thu", "fri")}
    form |= {"closed_fri": "1", "holiday_region": "NI", "handling_days": "1",
             "changeover_min": "10", "material_change_min": "20", "closed_dates": "2026-12-24"}
    assert admin.post("/hub/settings/hours", data=form).status_code == 302
    hours = s.get_opening_hours()
    assert hours.weekly[0] == (time(7, 30), time(17)) and hours.weekly[4] is None
    assert hours.material_change_s == 1200 and date(2026, 12, 24) in hours.closed_dates
    assert hours.unattended is False  # the box was not ticked
    form["unattended"] = "1"
    admin.post("/hub/settings/hours", data=form)
    assert s.get_opening_hours().unattended is True
    form["close_mon"] = "06:00"
    bad = admin.post("/hub/settings/hours", data=form)
    assert bad.status_code == 400 and 'data-error="weekly.mon"' in bad.get_data(True)


def test_admin_chooses_the_hub_state_for_public_holidays(admin):
    page = admin.get("/hub/settings").get_data(True)
    assert '<option value="NI" selected>Niedersachsen</option>' in page
    for code, name in [("BY", "Bayern"), ("SN", "Sachsen"), ("", "keine")]:
        assert f'<option value="{code}">{name}</option>' in page
    english = admin.get("/hub/settings?lang=en").get_data(True)
    assert '<option value="BY">Bavaria</option>' in english
    form = {f"open_{d}": "07:00" for d in ("mon", "tue", "wed", "thu", "fri")}
    form |= {f"close_{d}": "18:00" for d in ("mon", "tue", "wed", "thu", "fri")}
    form |= {"handling_days": "1", "changeover_min": "10", "material_change_min": "15",
             "holiday_region": "BY"}
    assert admin.post("/hub/settings/hours", data=form).status_code == 302
    assert s.get_opening_hours().holiday_region == "BY"
    assert '<option value="BY" selected>' in admin.get("/hub/settings").get_data(True)
    bad = admin.post("/hub/settings/hours", data=form | {"holiday_region": "XX"})
    assert bad.status_code == 400 and 'data-error="holiday_region"' in bad.get_data(True)


def test_unknown_settings_section_is_404(admin):
    assert admin.post("/hub/settings/everything", data={}).status_code == 404
