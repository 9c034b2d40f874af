"""Slicing with the real PrusaSlicer command line and the project's profiles."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import numpy as np
import pytest

from config import Config
from printers import slicing

pytestmark = pytest.mark.db_independent

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "printers" / "profiles"
SHARED = (ROOT / ".." / "shared").resolve()
REFERENCE_INI = SHARED / "corpus" / "prusaslicer-mk3s-pla-0.2mm.ini"
SLICER = Config.PRUSA_SLICER_BIN


def _ini(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def _reference(name: str) -> dict[str, str]:
    with open(SHARED / "corpus" / "reference.csv", newline="") as fh:
        return next(row for row in csv.DictReader(fh) if row["name"] == name)


@pytest.mark.slicer
def test_production_profile_is_the_reference_profile_in_effect(tmp_path):
    """PrusaSlicer's defaults plus our overrides give exactly the reference profile."""
    out = tmp_path / "effective.ini"
    subprocess.run([SLICER, "--load", str(PROFILES / "mk3s-pla-0.2mm.ini"), "--save", str(out)],
                   check=True, capture_output=True, timeout=120)
    effective, reference = _ini(out), _ini(REFERENCE_INI)
    assert len(reference) > 200
    assert {k: v for k, v in effective.items() if reference.get(k) != v} == {}
    assert set(reference) <= set(effective)


def test_test_profile_loads_after_its_base():
    chain = slicing.profile_chain("test-fast", PROFILES)
    assert [p.stem for p in chain] == ["mk3s-pla-0.2mm", "test-fast"]
    settings = slicing.profile_settings("test-fast", PROFILES)
    assert settings["perimeter_speed"] == "1000" and settings["fill_pattern"] == "gyroid"
    bed = slicing.profile_bed("mk3s-pla-0.2mm", PROFILES)
    assert (bed.x_max, bed.y_max, bed.height, bed.nozzle_mm) == (250, 210, 210, 0.4)
    assert bed.centre == (125, 105)
    with pytest.raises(slicing.SlicingError):
        slicing.profile_chain("../etc/passwd", PROFILES)


@pytest.mark.slicer
@pytest.mark.parametrize("name,scale", [("trimesh__20mm_xyz_cube.stl", 1.0),
                                        ("trimesh__angle_block.stl", 25.4)])
def test_slicing_matches_the_reference_figures(tmp_path, corpus, name, scale):
    """Same grams and time as the reference slice (scaled files through the job's scale)."""
    ref = _reference(name if scale == 1.0 else f"{name}@x{scale:g}")
    as_uploaded = np.eye(3)  # the reference slices the file as it lies
    result = slicing.slice_part(corpus / "models" / name, "stl", profile="mk3s-pla-0.2mm",
                                profile_dir=PROFILES, gcode_dir=tmp_path, layer_height_mm=0.2,
                                infill_percent=15, scale=scale, rotation=as_uploaded,
                                slicer_bin=SLICER)
    assert result.material_g == pytest.approx(float(ref["fil_g"]), rel=0.01)
    assert result.print_time_s == pytest.approx(int(ref["time_s"]), rel=0.01)
    assert result.layers == int(ref["layers"])
    assert result.bbox_mm == pytest.approx(
        (float(ref["ext_x"]), float(ref["ext_y"]), float(ref["ext_z"])), abs=0.01)
    stored = Path(result.gcode_path)
    assert stored == tmp_path / f"{result.gcode_sha256}.gcode" and stored.is_file()


@pytest.mark.slicer
def test_gcode_has_no_time_stamp_and_is_cached(tmp_path, corpus, monkeypatch):
    source = corpus / "models" / "trimesh__20mm_xyz_cube.stl"
    kwargs = dict(profile="test-fast", profile_dir=PROFILES, layer_height_mm=0.3,
                  infill_percent=20, slicer_bin=SLICER)
    first = slicing.slice_part(source, "stl", gcode_dir=tmp_path / "a", **kwargs)
    again = slicing.slice_part(source, "stl", gcode_dir=tmp_path / "b", **kwargs)
    # PrusaSlicer's threads may order a move or two differently between runs, so the bytes
    # can differ; the figures do not, and the input-keyed index returns the first G-code
    assert (first.material_g, first.print_time_s, first.layers) == (
        again.material_g, again.print_time_s, again.layers)
    with monkeypatch.context() as patch:  # a cached slice never runs PrusaSlicer again
        patch.setattr(slicing.subprocess, "run", lambda *a, **k: pytest.fail("sliced again"))
        cached = slicing.slice_part(source, "stl", gcode_dir=tmp_path / "a", **kwargs)
    assert cached == first
    # another process (the version looked up again) finds it too: the key holds the version
    # line, not --help's time-stamped first line (before: never reused across processes)
    real_run = slicing.subprocess.run
    with monkeypatch.context() as patch:
        patch.setattr(slicing, "SLICER_VERSION_CACHE", {})
        patch.setattr(slicing.subprocess, "run", lambda cmd, *a, **k: real_run(cmd, *a, **k)
                      if "--help" in cmd else pytest.fail("sliced again"))
        assert slicing.slice_part(source, "stl", gcode_dir=tmp_path / "a", **kwargs) == first
        assert slicing.slicer_version(SLICER).startswith("PrusaSlicer-")
    text = Path(first.gcode_path).read_text()
    assert "; generated by PrusaSlicer" in text and " at " not in text.splitlines()[0]
    assert "M109" not in text.split(";LAYER_CHANGE")[0].replace("M109 S0", "")
    assert "; layer_height = 0.3" in text and "; fill_density = 20%" in text


@pytest.mark.slicer
def test_a_solid_part_slices_at_100_percent_infill(tmp_path, corpus):
    """Gyroid is refused at 100 % by PrusaSlicer; a solid part still slices, and weighs more."""
    source = corpus / "models" / "trimesh__20mm_xyz_cube.stl"
    kwargs = dict(profile="mk3s-pla-0.2mm", profile_dir=PROFILES, gcode_dir=tmp_path,
                  layer_height_mm=0.2, slicer_bin=SLICER)
    solid = slicing.slice_part(source, "stl", infill_percent=100, **kwargs)
    sparse = slicing.slice_part(source, "stl", infill_percent=15, **kwargs)
    assert "; fill_pattern = rectilinear" in Path(solid.gcode_path).read_text()
    # 8 cm³ of PLA at 1.24 g/cm³ is about 9.9 g when fully solid
    assert 8.5 < solid.material_g < 10.5 and solid.material_g > 2 * sparse.material_g


@pytest.mark.slicer
def test_a_floating_part_is_put_on_the_bed(tmp_path):
    import trimesh

    mesh = trimesh.creation.box((10, 10, 4))
    mesh.apply_translation((40, 40, 30))  # floats 28 mm above z = 0
    path = tmp_path / "floating.stl"
    mesh.export(path)
    result = slicing.slice_part(path, "stl", profile="test-fast", profile_dir=PROFILES,
                                gcode_dir=tmp_path / "g", layer_height_mm=0.2,
                                infill_percent=15, slicer_bin=SLICER)
    assert result.layers == 20 and result.bbox_mm == pytest.approx((10, 10, 4))


@pytest.mark.slicer
def test_too_big_and_broken_parts_are_refused(tmp_path, corpus):
    import trimesh

    big = tmp_path / "big.stl"
    trimesh.creation.box((400, 20, 5)).export(big)  # fits no bed in any orientation
    with pytest.raises(slicing.SlicingError) as exc:
        slicing.slice_part(big, "stl", profile="mk3s-pla-0.2mm", profile_dir=PROFILES,
                           gcode_dir=tmp_path, layer_height_mm=0.2, infill_percent=15,
                           slicer_bin=SLICER)
    assert exc.value.code == "too_big"
    empty = tmp_path / "empty.stl"
    empty.write_bytes(b"")
    with pytest.raises(slicing.SlicingError):
        slicing.slice_part(empty, "stl", profile="mk3s-pla-0.2mm", profile_dir=PROFILES,
                           gcode_dir=tmp_path, layer_height_mm=0.2, infill_percent=15,
                           slicer_bin=SLICER)
    with pytest.raises(slicing.SlicingError) as exc:
        slicing.slice_part(corpus / "models" / "trimesh__20mm_xyz_cube.stl", "stl",
                           profile="mk3s-pla-0.2mm", profile_dir=PROFILES, gcode_dir=tmp_path,
                           layer_height_mm=0.5, infill_percent=15, slicer_bin=SLICER)
    assert exc.value.code == "bad_layer_height"


@pytest.mark.slicer
def test_a_long_bar_is_sliced_lying_diagonally_as_quoted(tmp_path):
    """300 mm is longer than the 250 x 210 mm bed, but the quote lays the bar diagonally (it
    fits, and is priced so); slicing takes that orientation, and every move stays on the bed."""
    import trimesh

    from marketplace.engine import quote as engine

    source = tmp_path / "bar.stl"
    trimesh.creation.box((300, 20, 5)).export(source)
    part = engine.analyse_file(source.read_bytes(), "bar.stl", units="mm")
    assert part.printable and part.suggested.fits
    result = slicing.slice_part(source, "stl", profile="mk3s-pla-0.2mm", profile_dir=PROFILES,
                                gcode_dir=tmp_path / "g", layer_height_mm=0.2,
                                infill_percent=15, slicer_bin=SLICER)
    assert result.bbox_mm == pytest.approx(part.suggested.extents_mm, abs=1e-3)
    assert result.bbox_mm[0] <= 250 and result.bbox_mm[1] <= 210
    xs, ys = [], []
    for line in Path(result.gcode_path).read_text().splitlines():
        if line.startswith("G1 ") and " E" in line:
            for word in line.split()[1:]:
                if word[0] == "X":
                    xs.append(float(word[1:]))
                elif word[0] == "Y":
                    ys.append(float(word[1:]))
    assert 0 <= min(xs) and max(xs) <= 250 and 0 <= min(ys) and max(ys) <= 210


def test_a_part_that_fits_the_bed_only_turned_a_quarter_is_turned():
    from marketplace.engine.quote import AnalysisMesh

    bed = slicing.Bed(0, 0, 250, 210, 210, 0.4)
    box = np.array([[x, y, z] for x in (0, 200) for y in (0, 240) for z in (0, 5)], float)
    mesh = AnalysisMesh(box, np.array([[0, 1, 2]]), "mm", 1.0, ((1, 0, 0), (0, 1, 0), (0, 0, 1)))
    turned = slicing.fit_on_bed(mesh, bed)
    assert turned.extents_mm == pytest.approx((240, 200, 5))
    assert turned.vertices.min(axis=0) == pytest.approx((0, 0, 0))
    assert np.asarray(turned.rotation) @ np.array([1.0, 0, 0]) == pytest.approx((0, 1, 0))
    assert slicing.fit_on_bed(turned, bed) is turned  # fits as it lies: left alone
    big = AnalysisMesh(box * 2, mesh.faces, "mm", 1.0, mesh.rotation)
    assert slicing.fit_on_bed(big, bed) is big  # fits neither way: the caller refuses it


def test_a_part_that_fits_the_bed_only_laid_corner_to_corner_is_turned_so():
    from marketplace.engine.quote import AnalysisMesh

    bed = slicing.Bed(0, 0, 250, 210, 210, 0.4)
    bar = np.array([[x, y, z] for x in (0, 300) for y in (0, 20) for z in (0, 20)], float)
    mesh = AnalysisMesh(bar, np.array([[0, 1, 2]]), "mm", 1.0, ((1, 0, 0), (0, 1, 0), (0, 0, 1)))
    turned = slicing.fit_on_bed(mesh, bed)  # before: left as it was, then "too_big"
    assert bed.holds(turned.extents_mm) and turned.extents_mm[2] == pytest.approx(20)
    assert turned.vertices.min(axis=0) == pytest.approx((0, 0, 0))
    again = bar @ np.asarray(turned.rotation).T  # the rotation recorded is the one applied
    assert again - again.min(axis=0) == pytest.approx(turned.vertices)


@pytest.mark.parametrize("text,seconds", [("40s", 40), ("29m 23s", 1763), ("1h 2m 3s", 3723),
                                          ("1d 0h 0m 5s", 86405)])
def test_parse_duration(text, seconds):
    assert slicing.parse_duration(text) == seconds


def test_parse_figures():
    text = ("G1 X1\n;LAYER_CHANGE\n;Z:0.2\n;LAYER_CHANGE\n;Z:0.4\n"
            "; filament used [mm] = 1234.74\n; filament used [cm3] = 2.97\n"
            "; filament used [g] = 3.68\n; estimated printing time (normal mode) = 29m 23s\n")
    assert slicing.parse_figures(text) == {"filament_mm": 1234.74, "filament_cm3": 2.97,
                                           "material_g": 3.68, "print_time_s": 1763.0,
                                           "layers": 2.0}


def test_rotation_from_analysis():
    assert slicing.rotation_from_analysis(None) is None
    assert slicing.rotation_from_analysis({"orientation": {"rotation": [[1, 0, 0], [0, 0, -1],
                                                                        [0, 1, 0]]}}) == [
        [1, 0, 0], [0, 0, -1], [0, 1, 0]]
    four = [[1, 0, 0, 5], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    assert slicing.rotation_from_analysis({"orientation": {"matrix": four}}) == [
        [1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_the_sliced_mesh_is_the_quoted_mesh(tmp_path):
    """Slicing takes the analysed mesh: repaired, in mm, turned as quoted (one loader)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_meshes",
                                                  ROOT / "tests" / "data" / "make_meshes.py")
    meshes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(meshes)
    from marketplace.engine import quote as engine

    # a tall bar drawn in inches beside a cube saved inside out: the quote turns the bar over,
    # scales it to mm and turns the cube right (PrusaSlicer alone would count it as a hole)
    bar = meshes.box((0.4, 0.8, 3.0))
    cube = meshes.box((0.4, 0.4, 0.4), (1.0, 0, 0))[:, [0, 2, 1]]
    source = tmp_path / "bar.stl"
    source.write_bytes(meshes.stl_binary(np.concatenate([bar, cube])))
    part = engine.analyse_file(source.read_bytes(), "bar.stl", units="inch")
    assert part.suggested.rotation != ((1, 0, 0), (0, 1, 0), (0, 0, 1))
    assert part.repairs["shells_inverted"] == 1
    rotation = slicing.rotation_from_analysis(part.to_dict())
    mesh = slicing.prepare_mesh(source, "stl", scale=25.4, rotation=rotation)
    written = mesh.write_stl(tmp_path / "sliced.stl")
    info = subprocess.run([SLICER, "--info", str(written)], capture_output=True, text=True,
                          check=True, timeout=120).stdout
    seen = dict(line.split(" = ") for line in info.splitlines() if " = " in line)
    assert float(seen["volume"]) == pytest.approx(part.volume_mm3, rel=1e-5)
    assert [float(seen[f"size_{a}"]) for a in "xyz"] == pytest.approx(
        part.suggested.extents_mm, abs=1e-3)
    assert float(seen["min_z"]) == pytest.approx(0.0, abs=1e-6)
    result = slicing.slice_part(source, "stl", profile="test-fast", profile_dir=PROFILES,
                                gcode_dir=tmp_path / "g", layer_height_mm=0.2,
                                infill_percent=15, scale=25.4, rotation=rotation,
                                slicer_bin=SLICER)
    assert result.bbox_mm == pytest.approx(part.suggested.extents_mm, abs=1e-3)
    assert result.layers == round(part.suggested.extents_mm[2] / 0.2)


@pytest.mark.parametrize("klass", ["standard", "large"])
def test_each_printer_class_has_its_profile_and_the_engine_models_it(tmp_path, klass):
    """The quote engine's PrintProfile of a printer class is its PrusaSlicer profile in effect
    (defaults + base + overrides), field by field."""
    from marketplace.engine.pricing import catalog

    profile = catalog.PRINTER_CLASSES[klass]
    out = tmp_path / "effective.ini"
    cmd = [SLICER]
    for path in slicing.profile_chain(profile.slicer_profile, PROFILES):
        cmd += ["--load", str(path)]
    subprocess.run([*cmd, "--save", str(out)], check=True, capture_output=True, timeout=120)
    assert catalog.profile_from_slicer(profile.slicer_profile, _ini(out)) == profile
    bed = slicing.profile_bed(profile.slicer_profile, PROFILES)
    assert (bed.x_max - bed.x_min, bed.y_max - bed.y_min, bed.height) == profile.bed_mm
    assert bed.nozzle_mm == profile.nozzle_mm == {"standard": 0.4, "large": 0.6}[klass]


@pytest.mark.slicer
def test_a_part_with_a_small_hole_is_sliced_closed_as_quoted(tmp_path, corpus):
    """A cube with one missing facet (read as inch: 25.4 mm): the quote says small holes are
    closed for printing, so the sliced mesh is closed and the slicer's figures are the
    quote's (walk: PrusaSlicer, given the open mesh, printed 10 layers, 1.3 g for 6.2 g)."""
    from marketplace.engine import quote as engine

    source = corpus / "models" / "openscad__nonmanifold.stl"
    quoted = engine.quote_file(source.read_bytes(), source.name, units="inch",
                               supports="none")
    assert quoted["printable"] and not quoted["mesh"]["watertight"]
    assert quoted["estimate"]["method"] == "slices"  # the closed mesh, cut exactly
    mesh = engine.load_analysis_mesh(source, source.name, units="inch")
    assert mesh.volume_mm3 == pytest.approx(quoted["mesh"]["volume_mm3"], rel=1e-6)
    result = slicing.slice_part(source, "stl", profile="mk3s-pla-0.2mm", profile_dir=PROFILES,
                                gcode_dir=tmp_path, layer_height_mm=0.2, infill_percent=15,
                                scale=25.4, slicer_bin=SLICER)
    assert result.layers == quoted["estimate"]["layers"] == 127
    assert result.material_g == pytest.approx(quoted["estimate"]["material_g"], rel=0.15)
    assert result.print_time_s == pytest.approx(quoted["estimate"]["print_time_s"], rel=0.2)
