"""`flask orders submit|show`: orders taken by phone or e-mail."""

from __future__ import annotations

import json

import sqlalchemy as sa
from portal_helpers import CORPUS_MODELS, cube_stl

from marketplace.extensions import db
from marketplace.models import Firm, Order


def test_submit_creates_firm_order_and_jobs_then_show(runner, tmp_path):
    path = tmp_path / "halter.stl"
    path.write_bytes(cube_stl())
    result = runner.invoke(args=["orders", "submit", str(path), "--firm", "Neue Firma GmbH",
                                 "--material", "PETG", "--colour", "Blau", "--quantity", "2",
                                 "--approve"])
    assert result.exit_code == 0, result.output
    number = result.output.strip()
    assert number.startswith("DH-")
    firm = db.session.scalar(sa.select(Firm).where(Firm.name == "Neue Firma GmbH"))
    order = db.session.scalar(sa.select(Order).where(Order.number == number))
    assert order.firm_id == firm.id and order.channel == "phone"
    assert [j.state for j in order.jobs] == ["approved", "approved"]

    shown = runner.invoke(args=["orders", "show", number, "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["number"] == number and data["state"] == "approved"
    assert data["firm"] == "Neue Firma GmbH"
    assert data["quote"]["material"] == "PETG" and data["quote"]["quantity"] == 2
    assert [j["state"] for j in data["jobs"]] == ["approved", "approved"]
    assert all(j["printer"] is None for j in data["jobs"])
    assert [(e["from"], e["to"]) for e in data["events"]].count(("received", "approved")) == 2
    assert all(e["actor"] == "cli" for e in data["events"])
    by_id = runner.invoke(args=["orders", "show", data["id"], "--json"])
    assert json.loads(by_id.output)["number"] == number
    text = runner.invoke(args=["orders", "show", number])
    assert "received -> approved" in text.output

    again = runner.invoke(args=["orders", "submit", str(path), "--firm", "Neue Firma GmbH"])
    assert again.exit_code == 0
    assert db.session.scalar(sa.select(sa.func.count(Firm.id))) == 1
    assert again.output.strip() != number


def test_submit_without_approve_leaves_jobs_received(runner, tmp_path):
    path = tmp_path / "teil.stl"
    path.write_bytes(cube_stl(10))
    result = runner.invoke(args=["orders", "submit", str(path), "--firm", "Firma B"])
    assert result.exit_code == 0, result.output
    order = db.session.scalar(sa.select(Order))
    assert [j.state for j in order.jobs] == ["received"]


def test_submit_bad_input_exits_2_with_a_message_and_stores_nothing(runner, tmp_path):
    cases = [
        (["--firm", "X"], CORPUS_MODELS / "trimesh__empty.stl", None),
        (["--firm", "X", "--material", "GOLD"], None, "material"),
        (["--firm", "X", "--quantity", "0"], None, "quantity"),
        (["--firm", "   "], None, "firm"),
    ]
    for extra, source, word in cases:
        path = tmp_path / "x.stl"
        path.write_bytes(source.read_bytes() if source else cube_stl())
        result = runner.invoke(args=["orders", "submit", str(path), *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert "error:" in result.output
        assert "Traceback" not in result.output
        if word:
            assert word in result.output
    missing = runner.invoke(args=["orders", "submit", str(tmp_path / "nope.stl"), "--firm", "X"])
    assert missing.exit_code == 2 and "cannot read" in missing.output
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Firm.id))) == 0


def test_show_unknown_order(runner):
    result = runner.invoke(args=["orders", "show", "DH-2026-999999", "--json"])
    assert result.exit_code == 1 and "no order" in result.output


def test_submit_with_units_override(runner, tmp_path):
    path = tmp_path / "zoll.stl"
    path.write_bytes(cube_stl(1))  # a 1-inch cube drawn in inches
    result = runner.invoke(args=["orders", "submit", str(path), "--firm", "Firma Z",
                                 "--units", "inch"])
    assert result.exit_code == 0, result.output
    order = db.session.scalar(sa.select(Order))
    assert order.quote.units == "inch"
    assert order.part.analysis["mesh"]["bbox_mm"] == [25.4, 25.4, 25.4]
    assert order.jobs[0].scale == 25.4
