"""Every class of bad input gets a MeshInputError with a stable code and a plain message."""

from __future__ import annotations

import importlib.util
import io
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from marketplace.engine import quote as engine
from marketplace.engine.limits import AnalysisLimits
from marketplace.engine.meshio import load as mesh_io
from marketplace.engine.meshio.load import MeshInputError
from marketplace.engine.texts import TEXTS
from marketplace.messages import render_message

pytestmark = pytest.mark.db_independent

DATA = Path(__file__).resolve().parent / "data"
_spec = importlib.util.spec_from_file_location("make_meshes", DATA / "make_meshes.py")
meshes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(meshes)
CUBE = meshes.box()
CUBE_STL = meshes.stl_binary(CUBE)


def text(err: MeshInputError, lang: str = "de") -> str:
    """The error's sentence as the reader sees it (the engine stores code and parameters)."""
    return render_message(err.to_dict(), lang, prefix="error.")


def error_of(data: bytes, name: str, **kw) -> MeshInputError:
    with pytest.raises(MeshInputError) as info:
        engine.analyse_file(data, name, **kw)
    err = info.value
    assert err.code and err.text in TEXTS and text(err) != text(err, "en")
    assert "Traceback" not in text(err)
    return err


# --- binary STL -----------------------------------------------------------------------------

def test_binary_stl_header_claims_more_triangles_than_the_file_holds():
    lying = CUBE_STL[:80] + struct.pack("<I", 13) + CUBE_STL[84:]
    err = error_of(lying, "x.stl")
    assert err.code == "stl_size_mismatch"
    assert "13" in text(err) and str(len(CUBE_STL)) in text(err)


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
        assert "1 Dreiecke" in text(err)


def test_too_many_triangles_is_refused_before_parsing():
    limits = AnalysisLimits(max_triangles=10)
    err = error_of(CUBE_STL, "x.stl", limits=limits)
    assert err.code == "too_many_triangles" and "10" in text(err)


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


def test_ascii_stl_number_forms_and_short_vertex_lines():
    """The vertex words are read as C floats ("+2E+01", "-.0", tabs); a vertex line with two
    numbers, or a number glued to a word, is malformed, whatever follows it."""
    facet = ("facet normal 0 0 1\n outer loop\n  vertex {}\n  vertex 0 20 0\n"
             "  vertex\t0\t0\t+2E+01\n endloop\nendfacet\n")
    good = "solid x\n" + facet.format("-.0 +0.0e0 0")
    raw = mesh_io.read_mesh(good.encode(), "x.stl")
    assert raw.triangles.tolist()[0] == [[0.0, 0.0, 0.0], [0.0, 20.0, 0.0], [0.0, 0.0, 20.0]]
    for bad in ("0 0", "0 0 1x", "0 0 1,5"):
        text = "solid x\n" + facet.format(bad)
        assert error_of(text.encode(), "x.stl").code == "stl_ascii_malformed", bad


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
    assert "Zeile 5" in text(err)


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


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_3mf_in_utf16_with_entities_is_refused_after_decoding(encoding):
    # the old byte regex looked for b"<!ENTITY" and missed it between UTF-16's zero bytes
    extra = '<!DOCTYPE model [<!ENTITY one "1">]>'
    xml = _model(V3.replace('x="1"', 'x="&one;"'), '<triangle v1="0" v2="1" v3="2"/>')
    xml = xml.replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="UTF-16"?>{extra}')
    data = _threemf_bytes(xml.encode(encoding if encoding == "utf-16" else encoding))
    assert error_of(data, "x.3mf").code == "xml_entities"


def test_3mf_in_utf16_is_read_and_counted_like_utf8():
    cube = _cube_model()
    utf8 = engine.analyse_file(meshes.threemf(None, model_xml=cube), "x.3mf")
    utf16 = _threemf_bytes(cube.replace('<?xml version="1.0"?>',
                                        '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16"))
    assert engine.analyse_file(utf16, "x.3mf").volume_mm3 == pytest.approx(utf8.volume_mm3)
    assert error_of(utf16, "x.3mf", limits=AnalysisLimits(max_triangles=10)).code \
        == "too_many_triangles"
    padded = _model(V3 * 20, '<triangle v1="0" v2="1" v3="2"/>').replace(
        '<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    err = error_of(_threemf_bytes(padded.encode("utf-16")), "x.3mf",
                   limits=AnalysisLimits(max_triangles=10))
    assert err.code == "3mf_too_many_vertices"


def test_3mf_dtd_in_the_relationships_part_is_refused():
    data = meshes.threemf(CUBE)
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "_rels/.rels":
                body = body.replace(b"?>", b'?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///x">]>', 1)
            dst.writestr(info, body)
    assert error_of(buf.getvalue(), "x.3mf").code == "xml_entities"


def test_3mf_that_inflates_1000_times_is_refused_before_inflating():
    # 510 KB that would inflate to 500 MB of whitespace, all within the absolute budget
    # (512 MB): refused for its ratio from the zip directory, nothing decompressed
    head = _model(V3, '<triangle v1="0" v2="1" v3="2"/>').encode()
    cut = head.index(b"<resources>")
    data = _padded_zip(head[:cut], b" " * (1 << 20), 500, head[cut:])
    assert 450_000 < len(data) < 600_000
    tracemalloc.start()
    try:
        err = error_of(data, "bomb.3mf")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.code == "zip_ratio" and "100" in text(err)
    assert peak < 20 * 1024 * 1024  # not inflated (500 MB)
    # a real model packs 4-11 times; the ratio budget leaves it alone, also under the config
    assert AnalysisLimits.from_config().max_zip_ratio == 100
    engine.analyse_file(meshes.threemf(CUBE), "x.3mf")


def test_3mf_small_archive_may_have_any_ratio():
    # below RATIO_FREE_BYTES (8 MB unpacked) the ratio is not checked: 3 MB of padding is fine
    head = _cube_model().encode()
    cut = head.index(b"<resources>")
    data = _padded_zip(head[:cut], b" " * (1 << 20), 3, head[cut:])
    assert len(data) < 20_000
    assert engine.analyse_file(data, "x.3mf").volume_mm3 == pytest.approx(8000.0)


def _cube_model() -> str:
    verts, faces = np.unique(CUBE.reshape(-1, 3), axis=0, return_inverse=True)
    return _model("".join(f'<vertex x="{x:g}" y="{y:g}" z="{z:g}"/>' for x, y, z in verts),
                  "".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>'
                          for a, b, c in faces.reshape(-1, 3)))


def _threemf_bytes(model: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("3D/3dmodel.model", model)
    return buf.getvalue()


def _padded_zip(prefix: bytes, chunk: bytes, repeat: int, suffix: bytes) -> bytes:
    """A 3MF whose model is ``prefix + chunk * repeat + suffix``, deflated without ever
    holding the whole model: after a full flush each chunk compresses to the same bytes."""
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = z.compress(prefix) + z.flush(zlib.Z_FULL_FLUSH)
    middle = z.compress(chunk) + z.flush(zlib.Z_FULL_FLUSH)
    packed = first + middle * repeat + z.compress(suffix) + z.flush()
    crc = zlib.crc32(prefix)
    for _ in range(repeat):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(suffix, crc)
    size = len(prefix) + len(chunk) * repeat + len(suffix)
    name = b"3D/3dmodel.model"
    fields = struct.pack("<HHHHHIII", 20, 0, 8, 0, 0x21, crc, len(packed), size)
    local = b"PK\x03\x04" + fields + struct.pack("<HH", len(name), 0) + name
    central = (b"PK\x01\x02" + struct.pack("<H", 20) + fields
               + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, 0) + name)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(central),
                                        len(local) + len(packed), 0)
    return local + packed + central + end


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
            assert err.code and text(err)


def test_3mf_vertex_padding_is_refused():
    xml = _model(V3 * 20, '<triangle v1="0" v2="1" v3="2"/>')
    limits = AnalysisLimits(max_triangles=10)
    err = error_of(meshes.threemf(None, model_xml=xml), "x.3mf", limits=limits)
    assert err.code == "3mf_too_many_vertices"
