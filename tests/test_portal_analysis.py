"""Analysis off the request: a worker pool runs it in a child process with a time limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from portal_helpers import CORPUS_MODELS, cube_stl, firm_user, upload  # noqa: F401

from marketplace.engine import runner as analysis_runner
from marketplace.engine.geometry import viewer_mesh
from marketplace.extensions import db
from marketplace.models import Part, utcnow
from marketplace.parts import operations as parts
from marketplace.parts import storage


@pytest.fixture
def app_config(app_config):
    return {**app_config, "ANALYSIS_WORKERS": 1}


def _fresh(part_id: int) -> Part:
    db.session.rollback()  # see what the worker committed
    return db.session.get(Part, part_id)


def test_upload_answers_at_once_and_the_worker_finishes_the_analysis(app, client, login_as,
                                                                     firm_user):
    login_as(firm_user)
    resp = upload(client, "cube.stl", cube_stl())
    assert resp.status_code == 201
    assert resp.get_json()["parts"][0]["status"] == "pending"
    part_id = db.session.scalar(sa.select(Part.id))
    assert parts.wait_idle(app, 60)
    part = _fresh(part_id)
    assert part.status == "ready"
    assert part.analysis["mesh"]["volume_mm3"] == pytest.approx(8000)
    cached = viewer_mesh.cache_path(app.config["UPLOAD_DIR"], part.sha256, part.units)
    assert len(viewer_mesh.decode_mesh(cached.read_bytes())[1]) == 12  # the worker cached it
    status = client.get(f"/parts/{part.public_id}/status").get_json()
    assert status["status"] == "ready"


def test_worker_records_a_clear_error(app, client, login_as, firm_user):
    login_as(firm_user)
    data = (CORPUS_MODELS / "trimesh__empty.stl").read_bytes()
    assert upload(client, "leer.stl", data).status_code == 201
    part_id = db.session.scalar(sa.select(Part.id))
    assert parts.wait_idle(app, 60)
    part = _fresh(part_id)
    assert part.status == "error" and part.error_code
    assert part.error_message and "Traceback" not in part.error_message
    assert part.analysis["error"]["message_en"]


def test_nothing_is_analysed_when_the_upload_is_rolled_back(app, firm_user):
    part = parts.store_upload(firm_user.firm, firm_user, "cube.stl", cube_stl())
    part_id = part.id
    db.session.rollback()
    db.session.commit()  # a later commit must not start the forgotten analysis
    assert parts.wait_idle(app, 5)
    assert db.session.get(Part, part_id) is None


def test_a_stale_pending_part_is_picked_up_again(app, firm_user):
    sha = storage.save(cube_stl())
    part = Part(firm_id=firm_user.firm_id, original_name="cube.stl", sha256=sha,
                file_format="stl", size_bytes=684, status="pending",
                created_at=utcnow() - timedelta(minutes=5))
    db.session.add(part)
    db.session.commit()
    parts.ensure_analysis(part)  # e.g. the server restarted while it was queued
    assert parts.wait_idle(app, 60)
    assert _fresh(part.id).status == "ready"


def test_too_many_pending_uploads_per_firm_are_refused(app, client, login_as, firm_user):
    app.config["ANALYSIS_MAX_PENDING_PER_FIRM"] = 0
    login_as(firm_user)
    resp = upload(client, "cube.stl", cube_stl())
    assert resp.status_code == 429
    assert resp.get_json()["errors"][0]["code"] == "too_many_pending"


@pytest.mark.db_independent
def test_child_process_timeout_gives_a_clear_error(tmp_path):
    path = tmp_path / "cube.stl"
    path.write_bytes(cube_stl())
    with pytest.raises(analysis_runner.AnalysisFailedError) as exc:
        analysis_runner.analyse_in_subprocess(path, "cube.stl", timeout_s=0.01)
    assert exc.value.code == "analysis_timeout"
    assert "abgebrochen" in exc.value.message


@pytest.mark.db_independent
def test_child_process_answers_with_the_engine_json(tmp_path):
    path = tmp_path / "cube.stl"
    path.write_bytes(cube_stl(10))
    result = analysis_runner.analyse_in_subprocess(path, "cube.stl", timeout_s=60)
    assert result["mesh"]["volume_mm3"] == pytest.approx(1000)
    with pytest.raises(analysis_runner.AnalysisFailedError) as exc:
        analysis_runner.analyse_in_subprocess(path, "cube.stl", "furlong", timeout_s=60)
    assert exc.value.code == "bad_units"


@pytest.mark.db_independent
def test_child_process_memory_limit(tmp_path):
    path = tmp_path / "big.stl"
    path.write_bytes(cube_stl())
    with pytest.raises(analysis_runner.AnalysisFailedError) as exc:
        analysis_runner.analyse_in_subprocess(path, "big.stl", timeout_s=60, memory_mb=40)
    assert exc.value.code == "too_large"
