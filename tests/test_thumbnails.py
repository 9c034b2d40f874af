"""Pictures of parts (issue 11): drawn from the mesh by a queued task, shown in every list and
served only to who may see the part; a placeholder until drawn."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pytest
import trimesh
from PIL import Image

from marketplace.engine import runner
from marketplace.engine.geometry import thumbnail, viewer_mesh
from tests.portal_helpers import cube_stl, firm_user, store_part  # noqa: F401 (fixture)

PLACEHOLDER = "/static/img/part-placeholder.svg"


def _image(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGBA")


def _drawn(image: Image.Image) -> np.ndarray:
    """Mask of the pixels the part covers (the background is transparent)."""
    return np.asarray(image)[:, :, 3] > 128


# --- the engine's drawing (pure) ----------------------------------------------------------------
def test_cube_is_drawn_centred_shaded_on_a_transparent_background():
    box = trimesh.creation.box(extents=(20, 20, 20))
    image = _image(thumbnail.render_png(box.vertices, box.faces))
    assert image.size == (thumbnail.SIZE, thumbnail.SIZE)
    drawn = _drawn(image)
    assert 0.2 < drawn.mean() < 0.8  # a cube fills a good part of the picture, not all of it
    assert np.asarray(image)[0, 0, 3] == 0  # corners stay transparent
    rows, cols = np.nonzero(drawn)
    margin = thumbnail.SIZE * thumbnail.MARGIN
    assert rows.min() >= margin - 2 and cols.min() >= margin - 2
    assert rows.max() <= thumbnail.SIZE - margin + 2 and cols.max() <= thumbnail.SIZE - margin + 2
    # three faces in sight, each lit differently: the picture shows a solid, not a silhouette
    rgb = np.asarray(image)[:, :, :3][drawn]
    shades = {tuple(int(c) // 8 for c in px) for px in rgb[:: max(1, len(rgb) // 2000)]}
    assert len(shades) >= 3


def test_the_suggested_orientation_turns_the_part_before_it_is_drawn():
    bar = trimesh.creation.box(extents=(10, 10, 60))  # standing
    lay = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]  # turned to lie along y
    standing = _drawn(_image(thumbnail.render_png(bar.vertices, bar.faces)))
    lying = _drawn(_image(thumbnail.render_png(bar.vertices, bar.faces, lay)))

    def height_over_width(mask):
        rows, cols = np.nonzero(mask)
        return (np.ptp(rows) + 1) / (np.ptp(cols) + 1)

    assert height_over_width(standing) > 2.0
    assert height_over_width(lying) < 1.0


def test_a_dense_mesh_is_thinned_below_the_budget_and_still_drawn_whole():
    sphere = trimesh.creation.icosphere(subdivisions=7)  # 327 680 triangles
    assert len(sphere.faces) > thumbnail.MAX_FACES
    v, f = sphere.vertices * 20, sphere.faces
    merged_v, merged_f = thumbnail.cluster(v, f, 40 / 200)
    assert len(merged_f) < len(f) and len(merged_v) < len(v)
    drawn = _drawn(_image(thumbnail.render_png(v, f)))
    # a disc: about pi/4 of its bounding square, with no holes to speak of
    rows, cols = np.nonzero(drawn)
    box = (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
    assert 0.74 < drawn.sum() / box < 0.82


def test_an_empty_mesh_gives_an_empty_picture():
    image = _image(thumbnail.render_png(np.zeros((0, 3)), np.zeros((0, 3), int)))
    assert not _drawn(image).any()


def test_runner_draws_in_a_child_process_from_the_cache_or_the_file(tmp_path):
    data = cube_stl(20)
    src = tmp_path / "cube.stl"
    src.write_bytes(data)
    answer = runner.run_in_subprocess(
        {"kind": "analyse", "path": str(src), "filename": "cube.stl", "units": None,
         "mesh_root": str(tmp_path)}, timeout_s=60)
    sha = answer["analysis"]["file"]["sha256"]
    cache = viewer_mesh.cache_path(tmp_path, sha, "mm")
    assert cache.is_file()
    job = {"kind": "thumbnail", "mesh_path": str(cache), "out": str(tmp_path / "a.png"),
           "rotation": answer["analysis"]["orientation"]["rotation"], "path": str(src),
           "filename": "cube.stl", "units": "mm"}
    out = runner.run_in_subprocess(job, timeout_s=60, memory_mb=2048)
    assert out["thumbnail"]["faces"] == 12
    first = (tmp_path / "a.png").read_bytes()
    assert _drawn(_image(first)).any()
    cache.unlink()  # the viewer's cache is gone: drawn from the uploaded file itself
    job["out"] = str(tmp_path / "b.png")
    runner.run_in_subprocess(job, timeout_s=60)
    assert _drawn(_image((tmp_path / "b.png").read_bytes())).any()


def test_runner_reports_an_unreadable_file_as_a_failure(tmp_path):
    job = {"kind": "thumbnail", "mesh_path": str(tmp_path / "none.dhm"),
           "out": str(tmp_path / "x.png"), "path": str(tmp_path / "none.stl"),
           "filename": "none.stl", "units": "mm"}
    with pytest.raises(runner.AnalysisFailedError) as err:
        runner.run_in_subprocess(job, timeout_s=30)
    assert err.value.code == "file_unreadable"
    assert not (tmp_path / "x.png").exists()


# --- the task and the pages ---------------------------------------------------------------------
def test_analysis_queues_the_picture_and_the_parts_list_shows_it(client, login_as, firm_user):
    from marketplace.parts import thumbnails

    part = store_part(firm_user.firm, firm_user)  # the analysis queues the drawing (immediate)
    assert part.status == "ready" and part.thumbnail_state == "ready"
    assert thumbnails.path_for(part).is_file()
    login_as(firm_user)
    page = client.get("/parts").get_data(as_text=True)
    url = f"/parts/{part.public_id}/thumbnail?v={part.sha256[:8]}-{part.units}"
    assert f'src="{url}"' in page
    resp = client.get(url)
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    assert "private" in resp.headers["Cache-Control"]
    assert _drawn(_image(resp.data)).any()
    dashboard = client.get("/").get_data(as_text=True)
    assert url in dashboard


def test_placeholder_until_drawn_and_redrawn_after_new_units(app, client, login_as, firm_user):
    from marketplace.extensions import db
    from marketplace.parts import operations as parts
    from marketplace.parts import thumbnails

    app.config["HUEY_IMMEDIATE"] = True
    part = parts.store_upload(firm_user.firm, firm_user, "cube.stl", cube_stl(), queue=False)
    db.session.commit()
    login_as(firm_user)
    assert PLACEHOLDER in client.get("/parts").get_data(as_text=True)
    resp = client.get(f"/parts/{part.public_id}/thumbnail")
    assert resp.mimetype == "image/svg+xml" and "no-cache" in resp.headers["Cache-Control"]
    parts.analyse(part.id)
    db.session.refresh(part)
    assert part.thumbnail_state == "ready"
    mm_png = thumbnails.path_for(part)
    parts.reanalyse(part, "cm")  # another unit: another picture, drawn after the analysis
    db.session.commit()
    db.session.refresh(part)
    assert part.units == "cm" and part.thumbnail_state == "ready"
    assert thumbnails.path_for(part) != mm_png and thumbnails.path_for(part).is_file()


def test_another_firm_cannot_see_the_picture(client, login_as, make_user, firm_user):
    part = store_part(firm_user.firm, firm_user)
    login_as(make_user("firm"))
    assert client.get(f"/parts/{part.public_id}/thumbnail").status_code == 404


def test_signed_out_gets_no_picture(client, firm_user):
    part = store_part(firm_user.firm, firm_user)
    resp = client.get(f"/parts/{part.public_id}/thumbnail")
    assert resp.status_code in (302, 401, 404)
    assert resp.mimetype != "image/png"


def test_a_part_that_cannot_be_drawn_keeps_the_placeholder(app, firm_user, monkeypatch):
    from marketplace.extensions import db
    from marketplace.parts import operations as parts
    from marketplace.parts import thumbnails

    def fail(job, heartbeat=None):
        if job["kind"] == "thumbnail":
            raise runner.AnalysisFailedError("analysis_timeout", seconds="1")
        return real(job, heartbeat)

    real = parts.run_engine
    monkeypatch.setattr(parts, "run_engine", fail)
    part = store_part(firm_user.firm, firm_user)
    assert part.status == "ready" and part.thumbnail_state == "error"
    assert thumbnails.ready_path(part) is None
    assert thumbnails.render(part.id) is False  # not tried again and again


def test_reaper_queues_pictures_a_lost_message_left_undrawn(app, firm_user):
    from marketplace.extensions import db
    from marketplace.models import utcnow
    from marketplace.parts import thumbnails

    part = store_part(firm_user.firm, firm_user)
    thumbnails.path_for(part).unlink()
    part.thumbnail_state = None  # as if the task's message was lost
    db.session.commit()
    assert thumbnails.reap(now=utcnow()) == 0  # too new: its task may still come
    assert thumbnails.reap(now=utcnow() + timedelta(seconds=thumbnails.REAP_AFTER_S + 1)) == 1
    db.session.refresh(part)
    assert part.thumbnail_state == "ready" and thumbnails.path_for(part).is_file()


def test_technicians_queue_shows_the_picture(client, login_as, make_user, firm_user):
    from marketplace.extensions import db
    from marketplace.orders import operations as orders
    from marketplace.quotes import operations as quotes

    part = store_part(firm_user.firm, firm_user)
    quote = quotes.make_quote(part)
    orders.place_order(quote, placed_by=firm_user, channel="portal")
    db.session.commit()
    login_as(make_user("technician"))
    page = client.get("/hub/").get_data(as_text=True)
    assert f"/parts/{part.public_id}/thumbnail?v=" in page
    assert client.get(f"/parts/{part.public_id}/thumbnail").mimetype == "image/png"
    login_as(firm_user)
    assert f"/parts/{part.public_id}/thumbnail?v=" in client.get("/orders").get_data(as_text=True)


def test_quote_and_confirmation_pdfs_carry_the_picture(app, firm_user):
    from marketplace.extensions import db
    from marketplace.orders import documents
    from marketplace.orders import operations as orders
    from marketplace.quotes import operations as quotes
    from tests.portal_helpers import pdf_text

    part = store_part(firm_user.firm, firm_user)
    quote = quotes.make_quote(part)
    order = orders.place_order(quote, placed_by=firm_user, channel="portal")
    db.session.commit()
    hub = {"name": "Druckhub"}
    for pdf in (documents.confirmation_pdf(quote, hub), documents.confirmation_pdf(quote, hub, order)):
        assert b"/Subtype /Image" in pdf
        assert part.original_name in pdf_text(pdf)
    part.thumbnail_state = None  # not drawn yet: the document goes without a picture
    db.session.commit()
    assert b"/Subtype /Image" not in documents.confirmation_pdf(quote, hub)
