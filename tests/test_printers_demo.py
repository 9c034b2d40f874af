"""`flask printers demo`: a virtual OctoPrint printer set up once and registered idempotently."""

from __future__ import annotations

import subprocess

import pytest
import requests
import sqlalchemy as sa
from octoprint_farm import free_port, wait_for

from marketplace.extensions import db
from marketplace.models import Printer
from printers import virtual


def _demo(runner, name, basedir, port, *extra):
    return runner.invoke(args=["printers", "demo", name, "--basedir", str(basedir),
                               "--port", str(port), *extra])


@pytest.fixture
def production_config(app_config):
    app_config["ENVIRONMENT"] = "production"
    return app_config


def test_refused_in_production(production_config, app, runner, tmp_path):
    result = _demo(runner, "Demo-1", tmp_path / "op", 5999)
    assert result.exit_code == 1
    assert "not added with DRUCKHUB_ENV=production" in result.output
    assert not (tmp_path / "op").exists()
    assert db.session.scalar(sa.select(sa.func.count(Printer.id))) == 0


@pytest.mark.octoprint
def test_set_up_once_registered_idempotently_and_the_key_works(app, runner, tmp_path):
    basedir = tmp_path / "octoprint-1"
    first = _demo(runner, "Demo-MK3S-1", basedir, 5901, "--colour", "Weiß")
    assert first.exit_code == 0, first.output
    assert "demo printer Demo-MK3S-1 added: http://127.0.0.1:5901" in first.output
    key = virtual.read_api_key(basedir)
    assert key and len(key) == 32

    port = free_port()
    again = _demo(runner, "Demo-MK3S-1", basedir, port, "--colour", "Weiß")
    assert again.exit_code == 0, again.output
    assert f"updated: http://127.0.0.1:{port}" in again.output
    assert virtual.read_api_key(basedir) == key  # the base dir was kept
    printers = db.session.scalars(sa.select(Printer)).all()
    assert [(p.name, p.url, p.api_key, p.material_code, p.colour) for p in printers] == [
        ("Demo-MK3S-1", f"http://127.0.0.1:{port}", key, "PLA", "Weiß")]

    # the server started as the Procfile starts it takes the key the hub stored
    proc = subprocess.Popen(virtual.serve_command(basedir, port, virtual.OCTOPRINT_BIN),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/api/version"

        def answered():
            try:
                return requests.get(url, headers={"X-Api-Key": key}, timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(answered, 90, "OctoPrint with the demo key", interval_s=0.2)
        wrong = requests.get(url, headers={"X-Api-Key": "X" * 32}, timeout=5)
        assert wrong.status_code in (401, 403)
    finally:
        proc.terminate()
        proc.wait(30)
