"""Uploading parts through the portal: good files are stored by hash, bad ones get a clear 4xx."""

from __future__ import annotations

import hashlib
import struct

import pytest
import sqlalchemy as sa
from portal_helpers import CUBE, firm_user, upload  # noqa: F401

from marketplace.extensions import db
from marketplace.models import Part


def _parts():
    return db.session.scalars(sa.select(Part)).all()


def test_anonymous_upload_without_a_file_stores_nothing(client):
    # anonymous visitors upload as guests (tests/test_guests.py); an empty post makes nothing
    resp = client.post("/parts", data={}, content_type="multipart/form-data")
    assert resp.status_code == 303
    assert _parts() == []
    from marketplace.models import Firm

    assert db.session.scalars(sa.select(Firm)).all() == []  # no guest workspace either


def test_staff_cannot_upload(client, login_as, make_user):
    login_as(make_user("technician"))
    resp = upload(client, "cube.stl", CUBE.read_bytes())
    assert resp.status_code == 403


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        ("cube.exe", b"MZ\x90\x00" * 30, 415, "bad_extension"),
        ("cube.stl.exe", CUBE.read_bytes(), 415, "bad_extension"),
        ("noextension", CUBE.read_bytes(), 415, "bad_extension"),
        ("empty.stl", b"", 400, "empty_file"),
        ("picture.stl", b"\x89PNG\r\n\x1a\n" + b"\0" * 200, 400, "bad_stl"),
        ("lying.stl", CUBE.read_bytes()[:-50], 400, "bad_stl"),
        ("notzip.3mf", b"<model/>", 400, "bad_3mf"),
        ("binary.obj", b"v 0 0 0\n\0\0\0", 400, "bad_obj"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(client, login_as, firm_user, name, data,
                                                    status, code):
    login_as(firm_user)
    resp = upload(client, name, data)
    assert resp.status_code == status
    body = resp.get_json()
    assert body["parts"] == []
    assert body["errors"][0]["code"] == code
    assert len(body["errors"][0]["message"]) > 15
    assert _parts() == []


def test_bad_file_in_english(client, login_as, firm_user):
    login_as(firm_user)
    client.get("/parts?lang=en")
    resp = upload(client, "cube.exe", b"MZ")
    assert "STL" in resp.get_json()["errors"][0]["message"]
    assert "Dateityp" not in resp.get_json()["errors"][0]["message"]


def test_too_large_upload_is_413(app, client, login_as, firm_user):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    login_as(firm_user)
    resp = upload(client, "cube.stl", CUBE.read_bytes())  # 13 kB
    assert resp.status_code == 413
    assert "MB" in resp.get_json()["errors"][0]["message"]
    assert _parts() == []


def test_no_file_is_400(client, login_as, firm_user):
    login_as(firm_user)
    resp = client.post("/parts", data={}, content_type="multipart/form-data",
                       headers={"Accept": "application/json"})
    assert resp.status_code == 400
    assert resp.get_json()["errors"][0]["code"] == "no_file"


def test_form_upload_without_javascript_redirects_with_flash(client, login_as, firm_user):
    login_as(firm_user)
    resp = upload(client, "cube.exe", b"MZ", json=False)
    assert resp.status_code == 303
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Dateityp nicht unterstützt" in page


def test_file_is_stored_by_hash_never_by_client_name(app, client, login_as, firm_user):
    login_as(firm_user)
    data = CUBE.read_bytes()
    resp = upload(client, "../../evil<script>.stl", data)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    part = _parts()[0]
    digest = hashlib.sha256(data).hexdigest()
    assert part.sha256 == digest
    assert part.original_name == "evil<script>.stl"
    assert part.firm_id == firm_user.firm_id
    stored = [p for p in (app.config["UPLOAD_DIR"] and __import__("pathlib").Path(
        app.config["UPLOAD_DIR"]).rglob("*")) if p.is_file() and "derived" not in p.parts]
    assert [p.name for p in stored] == [digest]
    listing = client.get("/parts").get_data(as_text=True)
    assert "evil&lt;script&gt;.stl" in listing
    assert "evil<script>" not in listing


def test_several_files_in_one_request(client, login_as, firm_user):
    login_as(firm_user)
    from io import BytesIO

    resp = client.post(
        "/parts",
        data={"files": [(BytesIO(CUBE.read_bytes()), "a.stl"), (BytesIO(b"MZ"), "b.exe")]},
        content_type="multipart/form-data", headers={"Accept": "application/json"},
    )
    assert resp.status_code == 201
    body = resp.get_json()
    assert [p["name"] for p in body["parts"]] == ["a.stl"]
    assert [e["name"] for e in body["errors"]] == ["b.exe"]


@pytest.mark.db_independent
def test_ascii_stl_passes_the_signature_check():
    from marketplace.parts.operations import check_signature

    check_signature(b"solid x\n facet normal 0 0 1\n endsolid x\n", "stl")
    tri = b"\0" * 50
    check_signature(b"solid but binary".ljust(80, b" ") + struct.pack("<I", 1) + tri, "stl")


@pytest.mark.db_independent
@pytest.mark.parametrize(
    ("raw", "clean"),
    [("C:\\Users\\x\\teil.stl", "teil.stl"), ("a/b/../c.STL", "c.STL"),
     ("bad\x00name.stl", "badname.stl"), ("x" * 300 + ".stl", "x" * 196 + ".stl"),
     ("  ..", "")],
)
def test_clean_filename(raw, clean):
    from marketplace.parts.operations import clean_filename

    assert clean_filename(raw) == clean


def test_too_large_upload_with_csrf_on_is_a_json_413(app, client, login_as, firm_user):
    """With CSRF on, the size limit trips while the token is read: still a clear 413 JSON."""
    app.config.update(WTF_CSRF_ENABLED=True, MAX_CONTENT_LENGTH=10_000)
    login_as(firm_user)
    resp = upload(client, "cube.stl", CUBE.read_bytes())
    assert resp.status_code == 413
    body = resp.get_json()
    message = body["error"]["message"] if "error" in body else body["errors"][0]["message"]
    assert "groß" in message or "größer" in message
    assert _parts() == []
