"""Analysis speed on a synthetic 2-million-triangle binary STL (about 100 MB).

Run from the repository root:  .venv/bin/python benchmarks/analysis_speed.py [--triangles N]

Each contender runs in a fresh Python subprocess (so imports count the same for all), timed
from process start to exit by the parent; the child's peak RSS and CPU time (user + system) come
from ``resource.getrusage(RUSAGE_CHILDREN)``. On a shared, busy machine the wall times swing with
the load; the CPU ratio is the steadier figure (the analysis runs its sort in a second thread, so
its wall time can be below its CPU time when a core is free). Contenders:

- raw:      read the file, ``numpy.frombuffer`` the records, signed volume (the floor)
- trimesh:  ``trimesh.load`` (default processing) + ``is_watertight`` + ``body_count`` + volume
- analysis: ``engine.analyse_file`` (parse, checks, topology, shells, repairs, units, volume,
            area, problems, orientation search, wall thickness rays)
- quote:    ``engine.quote_file`` (analysis + the default estimate + price), for information

Targets (issue 2): analysis >= 5x faster than trimesh, within 15x of raw, peak RSS < 1.5 GB.
The mesh is a torus (R 60 mm, r 20 mm) on a 1000 x 1000 grid: closed, one body.

Extra rows (bounded work on hostile input): a random triangle soup of 400 000 triangles (every
triangle spans the part, so each ray meets every face; 400 000 open shells) and a soup of
100 000 closed tetrahedra, half inside out (100 000 shells to sort into inverted and cavities).
Each is timed against the raw parse of the same file (``--soup-triangles 0`` skips them).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILDREN = {
    "raw": """
import sys, numpy as np
data = open(sys.argv[1], "rb").read()
rec = np.frombuffer(data, dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("a", "<u2")],
                    offset=84)
v = rec["v"].astype(np.float64)
vol = np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6
print(len(rec), round(float(vol), 1))
""",
    "trimesh": """
import sys, trimesh
m = trimesh.load(sys.argv[1])
print(len(m.faces), m.is_watertight, m.body_count, round(float(m.volume), 1))
""",
    "analysis": """
import sys
from marketplace.engine import quote as engine
data = open(sys.argv[1], "rb").read()
a = engine.analyse_file(data, "bench.stl")
print(a.triangles, a.watertight, a.shells, round(a.volume_mm3, 1), a.printable)
""",
    "quote": """
import sys
from marketplace.engine import quote as engine
data = open(sys.argv[1], "rb").read()
q = engine.quote_file(data, "bench.stl")
print(q["mesh"]["triangles"], q["estimate"] and q["estimate"]["print_time_s"],
      q["price"] and q["price"]["gross"])
""",
}


def torus_stl(path: Path, nu: int, nv: int, big_r: float = 60.0, r: float = 20.0) -> int:
    """Write a closed torus of 2·nu·nv triangles as binary STL; return the triangle count."""
    u = np.linspace(0, 2 * np.pi, nu, endpoint=False)
    v = np.linspace(0, 2 * np.pi, nv, endpoint=False)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    x = (big_r + r * np.cos(vv)) * np.cos(uu)
    y = (big_r + r * np.cos(vv)) * np.sin(uu)
    z = r * np.sin(vv) + r
    verts = np.stack([x, y, z], -1).reshape(-1, 3).astype(np.float32)
    i, j = np.arange(nu)[:, None], np.arange(nv)[None, :]
    a, b = i * nv + j, ((i + 1) % nu) * nv + j
    c, d = ((i + 1) % nu) * nv + (j + 1) % nv, i * nv + (j + 1) % nv
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3),
                            np.stack([a, c, d], -1).reshape(-1, 3)])
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1)[:, None]
    rec = np.zeros(len(faces), dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["n"], rec["v"] = n, tri
    with open(path, "wb") as fh:
        fh.write(b"Druckhub benchmark torus".ljust(80, b" "))
        fh.write(np.uint32(len(faces)).tobytes())
        fh.write(rec.tobytes())
    return len(faces)


def soup_stl(path: Path, triangles: int, seed: int = 0) -> int:
    """Write ``triangles`` random triangles (vertices uniform in a 100 mm cube)."""
    rng = np.random.default_rng(seed)
    rec = np.zeros(triangles, dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["v"] = rng.uniform(0, 100, (triangles, 3, 3))
    _write(path, rec, b"Druckhub benchmark soup")
    return triangles


def tetra_stl(path: Path, bodies: int, seed: int = 1) -> int:
    """Write ``bodies`` small closed tetrahedra in a 150 mm cube, about half inside out."""
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 150, (bodies, 1, 3))
    size = rng.uniform(0.5, 3.0, (bodies, 1, 1))
    base = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    tri = (corner + size * base[None])[:, [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]]
    flip = rng.random(bodies) < 0.5
    tri[flip] = tri[flip][:, :, [0, 2, 1]]
    rec = np.zeros(4 * bodies, dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["v"] = tri.reshape(-1, 3, 3)
    _write(path, rec, b"Druckhub benchmark tetrahedra")
    return 4 * bodies


def _write(path: Path, rec: np.ndarray, header: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(header.ljust(80, b" "))
        fh.write(np.uint32(len(rec)).tobytes())
        fh.write(rec.tobytes())


def run_child(name: str, path: Path) -> tuple[float, float, str, float]:
    """Run one contender in a fresh process; return (wall s, peak RSS MB, output, CPU s)."""
    cmd = [sys.executable, "-c", CHILDREN[name], str(path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # getrusage(RUSAGE_CHILDREN) is a maximum over all waited-for children, so each
    # contender runs under a tiny wrapper process that reports its own child's peak.
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "dt = time.perf_counter() - t\n"
        "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "cpu = ru.ru_utime + ru.ru_stime\n"
        "print(f'{dt:.6f} {ru.ru_maxrss / 1024:.1f} {p.returncode} {cpu:.6f}')\n"
        "print(p.stdout.strip() or p.stderr.strip()[-400:])\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True).stdout.splitlines()
    seconds, rss, rc, cpu = out[0].split()
    if rc != "0":
        raise SystemExit(f"{name} failed: {out[1:]}")
    return float(seconds), float(rss), " ".join(out[1:]), float(cpu)


def main() -> None:
    """Generate the file, time every contender, print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triangles", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender (best kept)")
    parser.add_argument("--skip-quote", action="store_true")
    parser.add_argument("--soup-triangles", type=int, default=400_000,
                        help="size of the random-soup row (0: skip the hostile-input rows)")
    args = parser.parse_args()
    side = int(round((args.triangles / 2) ** 0.5))
    with tempfile.TemporaryDirectory(prefix="druckhub-bench-") as tmp:
        path = Path(tmp) / "torus.stl"
        t = time.perf_counter()
        count = torus_stl(path, side, side)
        print(f"file: {count:,} triangles, {path.stat().st_size / 1e6:.1f} MB "
              f"(generated in {time.perf_counter() - t:.1f} s)")
        names = ["raw", "trimesh", "analysis"] + ([] if args.skip_quote else ["quote"])
        results: dict[str, tuple[float, float, str, float]] = {}
        for name in names:
            runs = [run_child(name, path) for _ in range(args.repeat)]
            results[name] = min(runs, key=lambda r: r[0])
            s, rss, out, cpu = results[name]
            print(f"{name:9s} {s:7.2f} s wall {cpu:7.2f} s CPU  peak RSS {rss:6.0f} MB  -> {out}")
        if args.soup_triangles:
            hostile(Path(tmp), args.soup_triangles)
    raw, tri, ana = (results[k][0] for k in ("raw", "trimesh", "analysis"))
    craw, ctri, cana = (results[k][3] for k in ("raw", "trimesh", "analysis"))
    print(f"analysis vs trimesh: {tri / ana:.2f}x faster wall, {ctri / cana:.2f}x CPU "
          "(target >= 5x)")
    print(f"analysis vs raw parse: {ana / raw:.2f}x slower wall, {cana / craw:.2f}x CPU "
          "(target <= 15x)")
    print(f"analysis peak RSS: {results['analysis'][1]:.0f} MB (target < 1536 MB)")
    print(f"load average now: {os.getloadavg()[0]:.2f} (2 cores shared)")


def hostile(tmp: Path, triangles: int) -> None:
    """Time the analysis on a random soup and on a soup of tetrahedra against their raw parse."""
    for label, write, n in (("random soup", soup_stl, triangles),
                            ("tetrahedra", tetra_stl, triangles // 4)):
        path = tmp / f"{label.replace(' ', '_')}.stl"
        count = write(path, n)
        raw = run_child("raw", path)
        ana = run_child("analysis", path)
        print(f"{label}: {count:,} triangles, {path.stat().st_size / 1e6:.1f} MB: analysis "
              f"{ana[0]:.2f} s wall {ana[3]:.2f} s CPU (raw parse {raw[0]:.2f} s wall, "
              f"{raw[3]:.2f} s CPU; {ana[3] / raw[3]:.1f}x CPU), peak RSS {ana[1]:.0f} MB "
              f"-> {ana[2]}")
        path.unlink()


if __name__ == "__main__":
    main()
