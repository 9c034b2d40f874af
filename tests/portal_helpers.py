"""Helpers for the portal tests: upload a file through the view, a ready part, PDF text."""

from __future__ import annotations

import base64
import io
import re
import zlib
from pathlib import Path

import pytest

CORPUS_MODELS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "models"
CUBE = CORPUS_MODELS / "trimesh__20mm_xyz_cube.stl"


def cube_stl(size_mm: float = 20.0) -> bytes:
    """Return a binary STL of a closed cube with edge ``size_mm`` (12 triangles, outward)."""
    import struct

    import numpy as np

    v = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float) * size_mm
    faces = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1),
             (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3)]
    out = bytearray(b"binary cube".ljust(80, b" ") + struct.pack("<I", len(faces)))
    for f in faces:
        out += struct.pack("<12fH", 0, 0, 0, *v[f[0]], *v[f[1]], *v[f[2]], 0)
    return bytes(out)


def upload(client, name: str, data: bytes, *, json: bool = True, field: str = "files"):
    """POST one file to /parts as the browser's XHR does (Accept: application/json)."""
    headers = {"Accept": "application/json"} if json else {}
    return client.post("/parts", data={field: (io.BytesIO(data), name)},
                       content_type="multipart/form-data", headers=headers)


def store_part(firm, user, path: Path | None = None, name: str | None = None):
    """Store and analyse a file (default: a 20 mm cube) for ``firm`` here and now, return it."""
    from marketplace.extensions import db
    from marketplace.parts import operations as parts

    data = path.read_bytes() if path else cube_stl()
    name = name or (path.name if path else "cube20.stl")
    part = parts.store_upload(firm, user, name, data, queue=False)
    db.session.commit()
    parts.analyse(part.id)  # what the worker does (with or without a queue in the test)
    db.session.refresh(part)
    return part


def pdf_text(data: bytes) -> str:
    """Return the text drawn in a reportlab PDF (inflates its streams, joins the strings)."""
    chunks = []
    for match in re.finditer(rb"stream\r?\n(.*?)\s*endstream", data, re.S):
        raw = match.group(1).strip()
        if raw.endswith(b"~>"):  # reportlab: ASCII85 over Flate
            raw = base64.a85decode(raw, adobe=True)
        try:
            raw = zlib.decompress(raw)
        except zlib.error:
            pass
        chunks.append(raw)
    out = []
    for chunk in chunks:
        for s in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", chunk):
            s = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), s)
            s = re.sub(rb"\\(.)", rb"\1", s)
            out.append(s.decode("cp1252", errors="replace"))
    return " ".join(out)


@pytest.fixture
def firm_user(make_user):
    return make_user("firm")
