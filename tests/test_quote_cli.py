"""``python -m marketplace.quote``: exit codes, the JSON contract, never a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from marketplace import quote

pytestmark = pytest.mark.db_independent

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
CUBE = DATA / "cube_20mm.stl"


def _load_builders():
    """tests/data/make_meshes.py, the generator of the golden meshes."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_meshes", DATA / "make_meshes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*args: str) -> subprocess.CompletedProcess:
    """Run the command in a fresh interpreter, as a user would."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "marketplace.quote", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def call(capsys, *args: str) -> tuple[int, str, str]:
    """Run main() in this process (same code path, faster)."""
    code = quote.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_contract_for_the_golden_cube():
    proc = run(str(CUBE), "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert set(d["file"]) >= {"name", "bytes", "format", "sha256"}
    assert d["file"] | {} and d["file"]["name"] == "cube_20mm.stl" and d["file"]["bytes"] == 684
    m = d["mesh"]
    assert set(m) >= {"triangles", "volume_mm3", "area_mm2", "bbox_mm", "watertight", "shells",
                      "units"}
    assert (m["triangles"], m["volume_mm3"], m["area_mm2"]) == (12, 8000.0, 2400.0)
    assert m["bbox_mm"] == [20.0, 20.0, 20.0] and m["watertight"] is True and m["shells"] == 1
    assert m["units"] == "mm"
    assert d["problems"] == [] and d["printable"] is True
    assert isinstance(d["orientation"], dict) and d["orientation"]["bbox_mm"] == [20, 20, 20]
    e = d["estimate"]
    assert set(e) >= {"material_g", "print_time_s", "layers", "supports", "model_g", "support_g",
                      "support_time_s"}
    assert 2 < e["material_g"] < 6 and e["layers"] == 100 and e["print_time_s"] > 0
    p = d["price"]
    assert set(p) >= {"currency", "net", "vat", "gross", "lines"} and p["currency"] == "EUR"
    net, vat, gross = (float(p[k]) for k in ("net", "vat", "gross"))
    assert gross == pytest.approx(net + vat) and vat == pytest.approx(net * 0.19, abs=0.01)
    assert sum(float(line["amount"]) for line in p["lines"]) == pytest.approx(net)
    assert proc.stderr == ""


def test_options_change_the_quote(capsys):
    _, out1, _ = call(capsys, str(CUBE), "--json")
    code, out2, _ = call(capsys, str(CUBE), "--json", "--material", "petg", "--infill", "40",
                         "--layer-height", "0.1", "--quantity", "20")
    assert code == 0
    a, b = json.loads(out1), json.loads(out2)
    assert b["options"] == {"material": "PETG", "infill_percent": 40.0, "layer_height_mm": 0.1,
                            "quantity": 20, "supports": "auto", "printer_class": "standard"}
    assert b["estimate"]["layers"] > 1.9 * a["estimate"]["layers"]  # 0.1 mm instead of 0.2
    assert b["estimate"]["material_g"] > a["estimate"]["material_g"]
    assert b["price"]["quantity"] == 20 and float(b["price"]["net"]) > float(a["price"]["net"])


def test_printer_class_option_quotes_for_that_class(capsys, tmp_path):
    """--printer-class large: the large class's profile (0.6 mm nozzle, 0.3 mm layers), its
    build volume and its machine rate; the default stays the standard class."""
    from marketplace.engine.pricing.catalog import DEFAULT_PRICING, PRINTER_CLASSES

    meshes = _load_builders()
    bar = tmp_path / "bar.stl"  # 380 mm: no way onto the standard bed, flat on the large one
    bar.write_bytes(meshes.stl_binary(meshes.box((380, 20, 5))))
    _, out, _ = call(capsys, str(bar), "--json")
    standard = json.loads(out)
    assert standard["options"]["printer_class"] == "standard"
    assert standard["price"] is None and "too_large" in {p["code"] for p in
                                                         standard["problems"]}
    code, out, _ = call(capsys, str(bar), "--json", "--printer-class", "large")
    large = json.loads(out)
    assert code == 0 and large["printable"] is True and large["price"] is not None
    assert large["options"]["printer_class"] == "large"
    assert large["options"]["layer_height_mm"] == PRINTER_CLASSES["large"].layer_height_mm == 0.3
    assert large["estimate"]["layers"] == 17  # 5 mm in 0.3 mm layers
    machine = next(line for line in large["price"]["lines"] if line["code"] == "machine")
    assert machine["params"]["printer_class"] == "large"
    assert DEFAULT_PRICING.machine_rate_cents_per_h["large"] != \
        DEFAULT_PRICING.machine_rate_cents_per_h["standard"]
    # the large class's wider, taller layers print the cube faster than the standard ones
    _, out, _ = call(capsys, str(CUBE), "--json")
    _, out_large, _ = call(capsys, str(CUBE), "--json", "--printer-class", "large",
                           "--layer-height", "0.2")
    a, b = json.loads(out), json.loads(out_large)
    # its first layer stays 0.3 mm: 0.3 + 98 x 0.2 mm
    assert b["options"]["layer_height_mm"] == 0.2 and b["estimate"]["layers"] == 99
    assert b["estimate"]["print_time_s"] < a["estimate"]["print_time_s"]
    code, out, _ = call(capsys, str(CUBE), "--json", "--printer-class", "huge")
    assert code == 2 and json.loads(out)["error"]["code"] == "bad_option"


def test_units_option_and_guess(capsys):
    inch = str(DATA / "cube_20mm_inch.stl")
    _, out, _ = call(capsys, inch, "--json")
    assert json.loads(out)["mesh"]["units"] == "inch"
    _, out, _ = call(capsys, inch, "--json", "--units", "mm")
    d = json.loads(out)
    assert d["mesh"]["units"] == "mm" and d["printable"] is False
    assert "too_small" in {p["code"] for p in d["problems"]}


def test_unprintable_parts_get_no_price(capsys, tmp_path):
    meshes = _load_builders()
    rail = tmp_path / "rail.stl"  # 400 mm long: fits no printer in any orientation
    rail.write_bytes(meshes.stl_binary(meshes.box((400, 20, 20))))
    code, out, _ = call(capsys, str(rail), "--json")
    d = json.loads(out)
    assert code == 0 and d["printable"] is False and "too_large" in {p["code"] for p in
                                                                      d["problems"]}
    assert d["price"] is None and d["estimate"]["material_g"] > 0
    soup = tmp_path / "soup.stl"
    soup.write_bytes(meshes.stl_binary(np.random.default_rng(0).uniform(0, 10, (1000, 3, 3))))
    code, out, _ = call(capsys, str(soup), "--json")
    d = json.loads(out)
    assert code == 0 and d["printable"] is False and d["price"] is None
    assert "not_closable" in {p["code"] for p in d["problems"]}
    code, out, _ = call(capsys, str(soup))
    assert code == 0 and "Kein Preis" in out and "Brutto" not in out


def test_supports_are_decided_and_reported(capsys, tmp_path):
    meshes = _load_builders()
    # a jack: 12 mm arms along ±x, ±y, ±z from a 6 mm cube; however it lies, four arms
    # stick out sideways and need support under them
    arms = [meshes.box((6, 6, 6), (12, 12, 12))]
    for axis in range(3):
        for start in (0, 18):
            size, origin = [6.0, 6.0, 6.0], [12.0, 12.0, 12.0]
            size[axis], origin[axis] = 12.0, float(start)
            arms.append(meshes.box(size, origin))
    jack = tmp_path / "jack.stl"
    jack.write_bytes(meshes.stl_binary(np.concatenate(arms)))
    _, out, _ = call(capsys, str(jack), "--json", "--quantity", "10")
    auto = json.loads(out)
    e = auto["estimate"]
    assert auto["options"]["supports"] == "auto"
    assert e["supports"] is True and e["support_g"] > 0 and e["support_time_s"] > 0
    assert e["material_g"] == pytest.approx(e["model_g"] + e["support_g"], abs=0.011)
    _, out, _ = call(capsys, str(jack), "--json", "--supports", "none", "--quantity", "10")
    none = json.loads(out)["estimate"]
    assert none["supports"] is False and none["support_g"] == 0 and none["support_time_s"] == 0
    assert none["model_g"] == pytest.approx(e["model_g"], abs=0.011)
    assert float(json.loads(out)["price"]["net"]) < float(auto["price"]["net"])
    _, out, _ = call(capsys, str(CUBE), "--json")  # a cube needs none
    cube = json.loads(out)["estimate"]
    assert cube["supports"] is False and cube["model_g"] == cube["material_g"]
    code, out, _ = call(capsys, str(CUBE), "--json", "--supports", "maybe")
    assert code == 2 and json.loads(out)["error"]["code"] == "bad_option"
    code, out, _ = call(capsys, str(jack))
    assert code == 0 and "Stützen: " in out


def test_readable_summary_without_json(capsys):
    code, out, err = call(capsys, str(DATA / "two_cubes.stl"))
    assert code == 0 and err == ""
    assert "Volumen: 16,00 cm³" in out and "Brutto" in out and "getrennte" in out
    code, out, _ = call(capsys, str(DATA / "two_cubes.stl"), "--lang", "en")
    assert "Volume: 16.00 cm³" in out and "Gross" in out


def _file(name: str, data: bytes):
    def make(d: Path) -> Path:
        (d / name).write_bytes(data)
        return d / name

    return make


def _socket_file(tmp_path: Path) -> Path:
    path = tmp_path / "sock.stl"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()
    return path


@pytest.mark.parametrize("make, code", [
    (lambda d: d / "missing.stl", "file_not_found"),
    (lambda d: d, "not_a_file"),
    (_file("empty.stl", b""), "empty_file"),
    (_file("lie.stl", CUBE.read_bytes()[:-3]), "stl_size_mismatch"),
    (_file("junk.stl", bytes(range(256)) * 4), "stl_size_mismatch"),
    (_file("notes.obj", b"hello world\n"), "no_triangles"),
    (_file("fake.3mf", b"PK\x03\x04garbage"), "3mf_not_zip"),
    (_socket_file, "file_unreadable"),
])
def test_bad_files_exit_2_with_a_reason(capsys, tmp_path, make, code):
    path = make(tmp_path)
    status, out, err = call(capsys, str(path), "--json")
    assert status == 2
    assert json.loads(out) == {"error": {"code": code, "message": json.loads(out)["error"]
                                         ["message"]}}
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("args, code", [
    (["--material", "GOLD"], "bad_material"),
    (["--infill", "150"], "bad_infill"),
    (["--infill", "nan"], "bad_infill"),
    (["--layer-height", "0"], "bad_layer_height"),
    (["--quantity", "0"], "bad_quantity"),
    (["--quantity", "two"], "bad_quantity"),  # the options schema judges numbers
    (["--quantity", "1e309"], "bad_quantity"),
    (["--quantity", "1001"], "bad_quantity"),  # one limit for the web and both CLIs
    (["--infill", "inf"], "bad_infill"),
    (["--layer-height", "0,35"], "bad_layer_height"),
    (["--units", "furlong"], "bad_option"),
    (["--bogus"], "bad_option"),
])
def test_bad_options_exit_2(capsys, args, code):
    status, out, err = call(capsys, str(CUBE), "--json", *args)
    assert status == 2
    assert json.loads(out)["error"]["code"] == code
    assert err.count("\n") == 1


def test_unexpected_exception_is_still_one_line(capsys, monkeypatch):
    from marketplace.engine import runner

    def boom(*a, **k):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(runner, "run_forked", boom)
    status, out, err = call(capsys, str(CUBE), "--json")
    assert status == 2
    assert json.loads(out)["error"]["code"] == "analysis_failed"
    assert "disk on fire" in err and err.count("\n") == 1


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.stl"
    bad.write_bytes(b"solid x\nfacet normal 0 0 0\nouter loop\nvertex 1 2\nendloop\nendfacet\n")
    proc = run(str(bad), "--json")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"]["code"] == "stl_ascii_malformed"
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    proc = run(str(bad))
    assert proc.returncode == 2 and proc.stdout == ""


@pytest.fixture(scope="module")
def random_soup(tmp_path_factory) -> Path:
    """A valid binary STL of 1 million random triangles (unbounded work without limits)."""
    import numpy as np

    n = 1_000_000
    rec = np.zeros(n, dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["v"] = np.random.default_rng(1).uniform(0, 200, (n, 3, 3))
    path = tmp_path_factory.mktemp("soup") / "soup.stl"
    path.write_bytes(b"\0" * 80 + n.to_bytes(4, "little") + rec.tobytes())
    return path


@pytest.mark.slow  # a million-triangle file run into the time and memory limits
@pytest.mark.parametrize("limit, code, words", [
    ({"ANALYSIS_TIMEOUT_S": "3"}, "analysis_timeout", "länger als 3 s"),
    ({"ANALYSIS_MEMORY_MB": "600"}, "too_large", "zu groß"),
])
def test_a_hostile_file_ends_within_the_limits(random_soup, limit, code, words):
    import time

    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "marketplace.quote", str(random_soup), "--json"],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **limit},
                          capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 60  # without limits: minutes and > 16 GB
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"]["code"] == code
    assert words in proc.stderr and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
