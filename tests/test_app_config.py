"""App configuration: secrets and environment overrides."""

import pytest

from marketplace import create_app


def test_production_refuses_to_start_without_secret_key(app_config):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({**app_config, "SECRET_KEY": "", "ENVIRONMENT": "production"})


def test_unknown_holiday_region_refuses_to_start(app_config):
    with pytest.raises(RuntimeError, match="HUB_HOLIDAY_REGION"):
        create_app({**app_config, "HUB_HOLIDAY_REGION": "Bavaria"})
    assert create_app({**app_config, "HUB_HOLIDAY_REGION": "TH"}).config["HUB_HOLIDAY_REGION"]


def test_development_keeps_one_random_secret_key(app_config):
    first = create_app({**app_config, "SECRET_KEY": ""}).config["SECRET_KEY"]
    second = create_app({**app_config, "SECRET_KEY": ""}).config["SECRET_KEY"]
    assert len(first) == 64 and first == second


@pytest.mark.db_independent
def test_environment_overrides_config(monkeypatch):
    import importlib

    import config

    monkeypatch.setenv("UPLOAD_DIR", "/tmp/druckhub-elsewhere")
    monkeypatch.setenv("MAX_TRIANGLES", "1234")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1/db")
    reloaded = importlib.reload(config)
    try:
        assert reloaded.Config.UPLOAD_DIR == "/tmp/druckhub-elsewhere"
        assert reloaded.Config.MAX_TRIANGLES == 1234
        assert reloaded.Config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://u@127.0.0.1/db"
    finally:
        monkeypatch.undo()
        importlib.reload(config)
