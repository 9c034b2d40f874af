"""Analysis off the request: a queued task claims the part and runs the engine in a child
process with limits (here in Huey's immediate mode; real workers: test_task_queue.py)."""

from __future__ import annotations

import concurrent.futures
from datetime import timedelta

import pytest
import sqlalchemy as sa
from portal_helpers import CORPUS_MODELS, cube_stl, firm_user, upload  # noqa: F401

from marketplace.engine import runner as analysis_runner
from marketplace.engine.geometry import viewer_mesh
from marketplace.extensions import db
from marketplace.models import Firm, Part, PartEstimate, utcnow
from marketplace.parts import operations as parts
from marketplace.parts import storage


def _fresh(part_id: int) -> Part:
    db.session.rollback()  # see what the task committed
    return db.session.get(Part, part_id)


def test_upload_queues_the_analysis_which_records_figures_mesh_and_default_estimate(
        app, client, login_as, firm_user):
    login_as(firm_user)
    resp = upload(client, "cube.stl", cube_stl())
    assert resp.status_code == 201
    part = _fresh(db.session.scalar(sa.select(Part.id)))
    assert part.status == "ready" and part.attempts == 1 and part.lease_owner is None
    assert part.analysis["mesh"]["volume_mm3"] == pytest.approx(8000)
    cached = viewer_mesh.cache_path(app.config["UPLOAD_DIR"], part.sha256, part.units)
    assert len(viewer_mesh.decode_mesh(cached.read_bytes())[1]) == 12  # the task cached it
    estimate = db.session.scalar(sa.select(PartEstimate))
    assert (estimate.units, estimate.layer_height_um, estimate.infill_percent) == ("mm", 200, 15)
    assert estimate.status == "ready" and estimate.estimate["material_g"] > 0
    assert client.get(f"/parts/{part.public_id}/status").get_json()["status"] == "ready"


def test_the_analysis_records_a_clear_error(app, client, login_as, firm_user):
    login_as(firm_user)
    data = (CORPUS_MODELS / "trimesh__empty.stl").read_bytes()
    assert upload(client, "leer.stl", data).status_code == 201
    part = _fresh(db.session.scalar(sa.select(Part.id)))
    assert part.status == "error" and part.error_code
    assert part.error_message and "Traceback" not in part.error_message
    # stored as code and parameters, shown in the reader's language
    assert set(part.analysis["error"]) >= {"code", "params"}
    assert parts.error_text(part, "en") and parts.error_text(part, "en") != part.error_message


def test_nothing_is_analysed_when_the_upload_is_rolled_back(app, firm_user):
    part = parts.store_upload(firm_user.firm, firm_user, "cube.stl", cube_stl())
    part_id = part.id
    db.session.rollback()
    db.session.commit()  # a later commit must not start the forgotten analysis
    assert db.session.get(Part, part_id) is None


def test_the_task_is_idempotent(app, firm_user):
    part = parts.store_upload(firm_user.firm, firm_user, "cube.stl", cube_stl())
    db.session.commit()  # immediate mode: analysed now
    assert _fresh(part.id).status == "ready"
    assert parts.analyse(part.id) is False  # run twice: nothing to do, nothing counted
    assert _fresh(part.id).attempts == 1


def test_a_live_lease_keeps_a_second_worker_out_and_a_lost_one_is_reaped(app, firm_user):
    sha = storage.save(cube_stl())
    part = Part(firm_id=firm_user.firm_id, original_name="cube.stl", sha256=sha,
                file_format="stl", size_bytes=684, status="pending", attempts=1,
                lease_owner="dead-host:1:x", lease_until=utcnow() + timedelta(minutes=1))
    db.session.add(part)
    db.session.commit()
    assert parts.analyse(part.id) is False  # someone holds it
    assert parts.reap() == 0  # the lease is live
    # the worker died: its lease runs out, the reaper queues the part again (and runs it here)
    db.session.execute(sa.update(Part).values(lease_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert parts.reap() == 1
    part = _fresh(part.id)
    assert part.status == "ready" and part.attempts == 2 and part.lease_owner is None


def test_a_part_whose_workers_keep_dying_ends_as_an_error(app, firm_user):
    sha = storage.save(cube_stl())
    part = Part(firm_id=firm_user.firm_id, original_name="cube.stl", sha256=sha,
                file_format="stl", size_bytes=684, status="pending",
                attempts=app.config["TASK_MAX_ATTEMPTS"], lease_owner="dead-host:1:x",
                lease_until=utcnow() - timedelta(seconds=1))
    db.session.add(part)
    db.session.commit()
    assert parts.reap() == 1
    part = _fresh(part.id)
    assert part.status == "error" and part.error_code == "analysis_gave_up"
    assert part.lease_owner is None


def test_a_lost_queue_message_is_queued_again(app, firm_user):
    sha = storage.save(cube_stl())
    part = Part(firm_id=firm_user.firm_id, original_name="cube.stl", sha256=sha,
                file_format="stl", size_bytes=684, status="pending",
                queued_at=utcnow() - timedelta(hours=1))  # e.g. the server died at the commit
    db.session.add(part)
    db.session.commit()
    assert parts.reap() == 1
    assert _fresh(part.id).status == "ready"


def test_too_many_pending_uploads_per_firm_are_refused(app, client, login_as, firm_user):
    app.config["ANALYSIS_MAX_PENDING_PER_FIRM"] = 0
    login_as(firm_user)
    resp = upload(client, "cube.stl", cube_stl())
    assert resp.status_code == 429
    assert resp.get_json()["errors"][0]["code"] == "too_many_pending"


@pytest.mark.commits  # 25 threads, each with a connection of its own
def test_the_pending_limit_holds_under_parallel_uploads(app, firm_user):
    """25 uploads at once with a limit of 20: exactly 20 are taken (the firm's row lock)."""
    app.config.update(ANALYSIS_MAX_PENDING_PER_FIRM=20, HUEY_IMMEDIATE=False)
    from marketplace import taskqueue

    taskqueue.huey.immediate = False  # leave them pending: nothing runs the queue here
    firm_id = firm_user.firm_id
    data = [cube_stl(10 + i) for i in range(25)]

    def one(i: int) -> str:
        with app.app_context():
            try:
                parts.store_upload(db.session.get(Firm, firm_id), None, f"p{i}.stl", data[i])
                db.session.commit()
                return "ok"
            except parts.UploadError as exc:
                db.session.rollback()
                return exc.code
            finally:
                db.session.remove()

    try:
        with concurrent.futures.ThreadPoolExecutor(25) as pool:
            outcomes = list(pool.map(one, range(25)))
    finally:
        taskqueue.huey.immediate = True
    assert outcomes.count("ok") == 20 and outcomes.count("too_many_pending") == 5
    assert db.session.scalar(sa.select(sa.func.count(Part.id))) == 20


@pytest.mark.db_independent
def test_child_process_timeout_gives_a_clear_error(tmp_path):
    path = tmp_path / "cube.stl"
    path.write_bytes(cube_stl())
    with pytest.raises(analysis_runner.AnalysisFailedError) as exc:
        analysis_runner.analyse_in_subprocess(path, "cube.stl", timeout_s=0.01)
    assert exc.value.code == "analysis_timeout"
    from marketplace.messages import render_message

    assert "abgebrochen" in render_message(exc.value.to_dict(), "de", prefix="error.")
    assert "was stopped" in render_message(exc.value.to_dict(), "en", prefix="error.")


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


@pytest.mark.db_independent
def test_the_child_renews_the_lease_while_it_works(tmp_path):
    path = tmp_path / "cube.stl"
    path.write_bytes(cube_stl())
    beats = []
    job = {"kind": "analyse", "path": str(path), "filename": "cube.stl"}
    analysis_runner.run_in_subprocess(job, timeout_s=60, heartbeat=lambda: beats.append(1),
                                      heartbeat_s=0.05)
    assert beats  # the child takes far longer than 50 ms to start python and numpy
