"""The viewer mesh is streamed from its cache file, never read whole into memory (issue 10,
finding 6), and answers conditional and range requests."""

from __future__ import annotations

import tracemalloc

import pytest
from portal_helpers import store_part

from marketplace.engine.geometry import viewer_mesh

BIG_MB = 48


@pytest.fixture
def ready_part(app, make_user, login_as):
    user = make_user("firm")
    part = store_part(user.firm, user)
    assert part.status == "ready"
    login_as(user)
    return part


def test_mesh_answers_etag_and_range(client, ready_part):
    first = client.get(f"/parts/{ready_part.public_id}/mesh")
    assert first.status_code == 200
    body, etag = first.data, first.headers["ETag"]
    assert body and etag and "private" in first.headers["Cache-Control"]
    assert first.headers["Accept-Ranges"] == "bytes"
    again = client.get(f"/parts/{ready_part.public_id}/mesh", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    piece = client.get(f"/parts/{ready_part.public_id}/mesh", headers={"Range": "bytes=4-19"})
    assert piece.status_code == 206 and piece.data == body[4:20]


def test_a_large_mesh_is_streamed(app, client, ready_part):
    path = viewer_mesh.cache_path(app.config["UPLOAD_DIR"], ready_part.sha256, ready_part.units)
    assert path.is_file()
    with open(path, "wb") as fh:  # a big cached mesh (the bytes do not matter to the server)
        chunk = bytes(range(256)) * 4096
        fh.writelines(chunk for _ in range(BIG_MB))
    tracemalloc.start()
    try:
        response = client.get(f"/parts/{ready_part.public_id}/mesh", buffered=False)
        total = 0
        for block in response.response:
            total += len(block)
        response.close()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == BIG_MB * 1024 * 1024
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while sending {BIG_MB} MB"
