"""Every class of bad input gets a MeshInputError with a stable code and a plain message."""

from __future__ import annotations

import importlib.util
import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from marketplace.engine import quote as engine
from marketplace.engine.limits import AnalysisLimits
from marketplace.engine.meshio import load as mesh_io
from marketplace.engine.meshio.load import MeshInputError

pytestmark = pytest.mark.db_independent

DATA = Path(__file__).resolve().parent / "data"
_spec = importlib.util.spec_from_file_location("make_meshes", DATA / "make_meshes.py")
meshes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(meshes)
CUBE = meshes.box()
CUBE_STL = meshes.stl_binary(CUBE)


def error_of(data: bytes, name: str, **kw) -> MeshInputError:
    with pytest.raises(MeshInputError) as info:
        engine.analyse_file(data, name, **kw)
    err = info.value
    assert err.code and err.message and err.message_en
    assert "Traceback" not in err.message
    return err


# --- binary STL -----------------------------------------------------------------------------

def test_binary_stl_header_claims_more_triangles_than_the_file_holds():
    lying = CUBE_STL[:80] + struct.pack("<I", 13) + CUBE_STL[84:]
    err = error_of(lying, "x.stl")
    assert err.code == "stl_size_mismatch"
    assert "13" in err.message and str(len(CUBE_STL)) in err.message


def test_binary_stl_truncated_and_padded():
    assert error_of(CUBE_STL[:-7], "x.stl").code == "stl_size_mismatch"
    assert error_of(CUBE_STL + b"\0" * 50, "x.stl").code == "stl_size_mismatch"
    assert error_of(b"\x01" * 40, "x.stl").code == "stl_truncated"


def test_binary_stl_whose_header_starts_with_solid_is_still_binary():
    data = meshes.stl_binary(CUBE, header=b"solid exported by a CAD tool")
    a = engine.analyse_file(data, "x.stl")
    assert a.encoding == "binary" and a.volume_mm3 == pytest.approx(8000.0)


def test_non_finite_coordinates_are_refused():
    for bad in (np.nan, np.inf, -np.inf):
        tri = CUBE.copy()
        tri[3, 1, 2] = bad
        err = error_of(meshes.stl_binary(tri), "x.stl")
        assert err.code == "non_finite_coordinates"
        assert "1 Dreiecke" in err.message


def test_too_many_triangles_is_refused_before_parsing():
    limits = AnalysisLimits(max_triangles=10)
    err = error_of(CUBE_STL, "x.stl", limits=limits)
    assert err.code == "too_many_triangles" and "10" in err.message


def test_empty_files():
    assert error_of(b"", "x.stl").code == "empty_file"
    assert error_of(b"   \n", "x.obj").code == "empty_file"
    assert error_of(meshes.stl_binary(CUBE[:0]), "x.stl").code == "no_triangles"
    assert error_of(b"solid empty\nendsolid empty\n", "x.stl").code == "no_triangles"


def test_mesh_with_only_collapsed_faces():
    tri = np.zeros((3, 3, 3))
    tri[:, 2] = 1.0  # two corners equal in every face
    assert error_of(meshes.stl_binary(tri), "x.stl").code == "no_triangles"


# --- ASCII STL ------------------------------------------------------------------------------

def test_ascii_stl_with_a_facet_missing_a_vertex():
    text = meshes.stl_ascii(CUBE).decode()
    broken = text.replace("      vertex 0.000000 0.000000 0.000000\n", "", 1)
    assert error_of(broken.encode(), "x.stl").code == "stl_ascii_malformed"


def test_ascii_stl_with_garbage_numbers_and_nan():
    text = meshes.stl_ascii(CUBE).decode()
    assert error_of(text.replace("20.000000", "2O.0", 1).encode(), "x.stl").code == \
        "stl_ascii_malformed"
    assert error_of(text.replace("20.000000", "nan", 1).encode(), "x.stl").code == \
        "non_finite_coordinates"


def test_ascii_stl_with_crlf_and_upper_case():
    text = meshes.stl_ascii(CUBE).decode().upper().replace("\n", "\r\n")
    a = engine.analyse_file(text.encode(), "x.stl")
    assert a.encoding == "ascii" and a.volume_mm3 == pytest.approx(8000.0)


# --- OBJ ------------------------------------------------------------------------------------

OBJ_TRI = b"v 0 0 0\nv 10 0 0\nv 0 10 0\nv 0 0 10\n"


@pytest.mark.parametrize("face", [b"f 1 2 5", b"f 0 1 2", b"f 1 2 -5", b"f 1 2 x"])
def test_obj_bad_indices(face):
    err = error_of(OBJ_TRI + face + b"\n", "x.obj")
    assert err.code in {"obj_bad_index", "obj_malformed"}
    assert "Zeile 5" in err.message


def test_obj_negative_indices_are_relative_as_the_spec_says():
    data = OBJ_TRI + b"f -4 -2 -3\nf -4 -3 -1\nf -4 -1 -2\nf -3 -2 -1\n"
    a = engine.analyse_file(data, "tet.obj")
    assert a.watertight and a.volume_mm3 == pytest.approx(1000 / 6)


def test_obj_quads_are_fanned_and_texture_refs_ignored():
    quad = b"v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nf 1/1 2/1 3/1 4/1\n"
    raw = mesh_io.read_mesh(quad, "q.obj")
    assert raw.triangles.shape == (2, 3, 3)


def test_obj_without_faces_and_with_short_vertex():
    assert error_of(b"v 0 0 0\nv 1 0 0\n", "x.obj").code == "no_triangles"
    assert error_of(b"v 0 0\nf 1 1 1\n", "x.obj").code == "obj_malformed"


# --- 3MF ------------------------------------------------------------------------------------

def _model(vertices: str, triangles: str) -> str:
    return ('<?xml version="1.0"?><model unit="millimeter" xmlns="http://schemas.'
            'microsoft.com/3dmanufacturing/core/2015/02"><resources><object id="1"><mesh>'
            f"<vertices>{vertices}</vertices><triangles>{triangles}</triangles></mesh>"
            '</object></resources><build><item objectid="1"/></build></model>')


V3 = '<vertex x="0" y="0" z="0"/><vertex x="1" y="0" z="0"/><vertex x="0" y="1" z="0"/>'


@pytest.mark.parametrize("tri", ['<triangle v1="0" v2="1" v3="3"/>',
                                 '<triangle v1="0" v2="-1" v3="2"/>'])
def test_3mf_index_out_of_range_or_negative(tri):
    err = error_of(meshes.threemf(None, model_xml=_model(V3, tri)), "x.3mf")
    assert err.code == "3mf_bad_index"


def test_3mf_nan_vertex_and_bad_number():
    v = V3.replace('x="1"', 'x="NaN"')
    data = meshes.threemf(None, model_xml=_model(v, '<triangle v1="0" v2="1" v3="2"/>'))
    assert error_of(data, "x.3mf").code == "non_finite_coordinates"
    v = V3.replace('x="1"', 'x="one"')
    data = meshes.threemf(None, model_xml=_model(v, '<triangle v1="0" v2="1" v3="2"/>'))
    assert error_of(data, "x.3mf").code == "3mf_bad_number"


def test_3mf_with_external_entity_is_refused():
    extra = '<!DOCTYPE model [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    xml = _model(V3, '<triangle v1="0" v2="1" v3="2"/>').replace("?>", "?>" + extra, 1)
    assert error_of(meshes.threemf(None, model_xml=xml), "x.3mf").code == "xml_entities"


def test_3mf_zip_bomb_is_refused_before_decompressing():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("3D/3dmodel.model", b"\0" * (3 * 1024 * 1024))  # compresses to ~3 KB
    limits = AnalysisLimits(max_unzipped_bytes=1024 * 1024)
    err = error_of(buf.getvalue(), "bomb.3mf", limits=limits)
    assert err.code == "zip_too_large"
    assert len(buf.getvalue()) < 20_000


def test_3mf_zip_slip_name_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../evil.model", "<model/>")
    assert error_of(buf.getvalue(), "x.3mf").code == "zip_unsafe_path"


def test_3mf_not_a_zip_and_without_model():
    assert error_of(b"PK\x03\x04 not really a zip", "x.3mf").code == "3mf_not_zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    assert error_of(buf.getvalue(), "x.3mf").code == "3mf_no_model"


def test_3mf_too_many_members():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(5):
            z.writestr(f"f{i}.txt", "x")
    limits = AnalysisLimits(max_zip_members=3)
    assert error_of(buf.getvalue(), "x.3mf", limits=limits).code == "3mf_too_many_members"


def test_3mf_components_and_transforms_and_inch_unit():
    xml = ('<?xml version="1.0"?><model unit="inch" xmlns="http://schemas.microsoft.com/'
           '3dmanufacturing/core/2015/02"><resources>'
           '<object id="1"><mesh><vertices>'
           + "".join(f'<vertex x="{x}" y="{y}" z="{z}"/>' for x, y, z in
                     np.unique(meshes.box((1, 1, 1)).reshape(-1, 3), axis=0))
           + "</vertices><triangles>"
           + "".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>' for a, b, c in np.unique(
               meshes.box((1, 1, 1)).reshape(-1, 3), axis=0, return_inverse=True)[1].reshape(-1, 3))
           + '</triangles></mesh></object><object id="2"><components>'
           '<component objectid="1"/><component objectid="1" transform="1 0 0 0 1 0 0 0 1 2 0 0"/>'
           '</components></object></resources><build><item objectid="2"/></build></model>')
    a = engine.analyse_file(meshes.threemf(None, model_xml=xml), "x.3mf")
    assert a.units.unit == "inch" and a.units.source == "file"
    assert a.shells == 2
    assert a.volume_mm3 == pytest.approx(2 * 25.4**3)
    assert a.bbox_mm == pytest.approx((3 * 25.4, 25.4, 25.4))


def test_3mf_component_loop_is_refused():
    xml = ('<?xml version="1.0"?><model><resources><object id="1"><components>'
           '<component objectid="1"/></components></object></resources>'
           '<build><item objectid="1"/></build></model>')
    assert error_of(meshes.threemf(None, model_xml=xml), "x.3mf").code == "3mf_recursive"


# --- options --------------------------------------------------------------------------------

def test_unknown_unit_option():
    assert error_of(CUBE_STL, "x.stl", units="furlong").code == "bad_units"


def test_unknown_extension_falls_back_to_content():
    a = engine.analyse_file(CUBE_STL, "part.bin")
    assert a.file_format == "stl"
    assert engine.analyse_file(meshes.obj_text(CUBE), "noext").file_format == "obj"


def test_3mf_with_a_corrupt_deflate_stream():
    data = bytearray(meshes.threemf(CUBE))
    start = data.index(b"3D/3dmodel.model") + len("3D/3dmodel.model")
    for i in range(start + 5, start + 40):  # inside the model's compressed bytes
        data[i] ^= 0x5A
    err = error_of(bytes(data), "x.3mf")
    assert err.code in {"3mf_bad_member", "3mf_not_zip", "3mf_bad_xml"}


def test_random_damage_never_escapes_as_an_unexpected_exception():
    rng = np.random.default_rng(7)
    sources = [meshes.stl_binary(CUBE), meshes.stl_ascii(CUBE), meshes.obj_text(CUBE),
               meshes.threemf(CUBE)]
    for i in range(120):
        data = bytearray(sources[i % 4])
        for _ in range(int(rng.integers(1, 6))):
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        name = ("x.stl", "x.stl", "x.obj", "x.3mf")[i % 4]
        try:
            engine.analyse_file(bytes(data), name).to_dict()
        except MeshInputError as err:
            assert err.code and err.message


def test_3mf_vertex_padding_is_refused():
    xml = _model(V3 * 20, '<triangle v1="0" v2="1" v3="2"/>')
    limits = AnalysisLimits(max_triangles=10)
    err = error_of(meshes.threemf(None, model_xml=xml), "x.3mf", limits=limits)
    assert err.code == "3mf_too_many_vertices"
