"""The task queue with real workers (separate `flask worker` processes): uploads analysed off
the web process, the `parts` command line, a burst taken by two workers without double work."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from portal_helpers import cube_stl, firm_user, upload  # noqa: F401
from queue_helpers import ROOT, queue_settings, wait_for, workers  # noqa: F401
from smtp_server import smtp_server  # noqa: F401

from marketplace.extensions import db
from marketplace.models import Firm, Part, PartEstimate
from marketplace.parts import operations as parts


@pytest.fixture
def queue_storage():
    return "sqlite"


@pytest.fixture
def app_config(app_config, tmp_path, queue_storage):
    return {**app_config, **queue_settings(tmp_path, queue_storage)}


def _statuses() -> dict[int, tuple[str, int]]:
    db.session.rollback()
    return {pid: (status, attempts) for pid, status, attempts in
            db.session.execute(sa.select(Part.id, Part.status, Part.attempts))}


def test_an_upload_is_analysed_by_a_worker_process(app, client, login_as, firm_user, workers):
    login_as(firm_user)
    resp = upload(client, "cube.stl", cube_stl())
    assert resp.status_code == 201
    assert resp.get_json()["parts"][0]["status"] == "pending"  # nothing ran in this process
    workers.start(1)
    wait_for(lambda: _statuses() and all(s == "ready" for s, _ in _statuses().values()), 90,
             "the worker's analysis")
    part = db.session.scalar(sa.select(Part))
    assert part.attempts == 1 and part.lease_owner is None
    assert part.analysis["mesh"]["volume_mm3"] == pytest.approx(8000)
    estimate = db.session.scalar(sa.select(PartEstimate))
    assert estimate.status == "ready"
    # the price box reads that estimate; other options queue one for the worker (202)
    price = client.post(f"/parts/{part.public_id}/price", json={"material": "PETG"})
    assert price.status_code == 200 and float(price.get_json()["price"]["gross"]) > 0
    other = client.post(f"/parts/{part.public_id}/price", json={"infill": 40})
    assert other.status_code == 202 and other.get_json()["status"] == "pending"
    answer = wait_for(lambda: (r := client.post(f"/parts/{part.public_id}/price",
                                                json={"infill": 40})).status_code == 200 and r,
                      60, "the worker's estimate")
    assert answer.get_json()["options"]["infill"] == 40


def _flask(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "marketplace", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_parts_command_line_contract(app, runner, tmp_path, workers):
    path = tmp_path / "halter.stl"
    path.write_bytes(cube_stl(12))
    # the real command, as a user types it (the rest runs the same commands in this process)
    added = _flask("parts", "add", str(path), "--firm", "Muster GmbH", "--json", env=workers.env())
    assert added.returncode == 0, added.stderr
    first = json.loads(added.stdout)
    assert set(first) == {"id", "status"} and first["status"] == "pending"
    plain = runner.invoke(args=["parts", "add", str(path), "--firm", "Muster GmbH",
                                "--units", "cm"])
    assert plain.exit_code == 0, plain.output
    second_id = plain.output.strip()
    assert len(second_id) == 32 and second_id != first["id"]
    bad = tmp_path / "leer.stl"
    bad.write_bytes(b"solid leer\nendsolid leer\n")
    broken = json.loads(runner.invoke(args=["parts", "add", str(bad), "--firm", "X",
                                            "--json"]).output)
    refused = runner.invoke(args=["parts", "add", str(tmp_path / "fehlt.stl"), "--firm", "X"])
    assert refused.exit_code == 2 and "error:" in refused.output

    workers.start(2)

    def shown(ident):
        db.session.rollback()
        out = runner.invoke(args=["parts", "show", ident, "--json"])
        assert out.exit_code == 0, out.output
        data = json.loads(out.output)
        return data if data["status"] != "pending" else None

    one = wait_for(lambda: shown(first["id"]), 90, "part 1 analysed")
    two = wait_for(lambda: shown(second_id), 90, "part 2 analysed")
    error = wait_for(lambda: shown(broken["id"]), 90, "the broken part's verdict")
    assert one["id"] == first["id"] and one["status"] == "ready"
    assert one["mesh"]["volume_mm3"] == pytest.approx(1728) and one["firm"] == "Muster GmbH"
    assert two["units"] == "cm" and two["mesh"]["bbox_mm"] == [120.0, 120.0, 120.0]
    assert error["status"] == "error" and error["error"]["code"]
    assert runner.invoke(args=["parts", "show", "0" * 32, "--json"]).exit_code == 1


def test_two_workers_take_a_burst_and_no_part_is_analysed_twice(app, firm_user, workers):
    firm = db.session.get(Firm, firm_user.firm_id)
    for i in range(12):
        parts.store_upload(firm, None, f"p{i}.stl", cube_stl(10 + i))
    db.session.commit()  # queues 12 analyses
    workers.start(2)
    workers.start(2)
    wait_for(lambda: all(s != "pending" for s, _ in _statuses().values()), 150,
             "the burst analysed")
    statuses = _statuses()
    assert len(statuses) == 12
    assert all(s == "ready" for s, _ in statuses.values())
    assert all(attempts == 1 for _, attempts in statuses.values()), statuses
    # a worker logs an analysis after committing it: wait (bounded) for the last line
    def runs() -> list[int]:
        return [workers.log(n).count("analysed: ready") for n in (0, 1)]

    wait_for(lambda: sum(runs()) >= 12, 30, "both workers' logs")
    time.sleep(1.0)  # a second run of some analysis would show up in the log by now
    assert sum(runs()) == 12, runs()  # each analysis ran once, whichever worker took it


def test_a_worker_process_sends_the_mail_a_commit_queued(app, smtp_server, workers):  # noqa: F811
    from marketplace.models import Notification

    app.config.update(SMTP_HOST=smtp_server.host, SMTP_PORT=smtp_server.port,
                      MAIL_SEND_AFTER_COMMIT="queue")
    db.session.add(Notification(to_address="einkauf@example.de", subject="Auftrag DH-1",
                                body="Hallo"))
    db.session.commit()  # queues the mail task; this process sends nothing
    assert smtp_server.messages == []
    workers.start(1)
    [message] = smtp_server.wait_for(1, timeout_s=60)
    assert message["Subject"] == "Auftrag DH-1"
    row = wait_for(lambda: (db.session.rollback(), db.session.scalar(
        sa.select(Notification).where(Notification.sent_at.is_not(None))))[1], 30, "sent_at")
    assert row.attempts == 1
