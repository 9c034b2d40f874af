"""PrusaSlicer reference figures for the benchmarks, sliced here and cached in benchmarks/out/.

``reference(stl_bytes, profile_paths, args)`` slices a binary STL with ``prusa-slicer
--export-gcode --load P... ARGS --center X,Y`` and returns the G-code's figures: grams, filament
mm, estimated time (normal mode), layers, filament mm per extrusion role (``;TYPE:`` comments)
and, for the support roles, per layer. The answer is cached under the hash of everything that
goes into the slicer (mesh, profiles, arguments, slicer version), so a benchmark run slices
only what it has not seen before. benchmarks/out/ is git-ignored.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "out" / "prusaslicer"
SLICER = "prusa-slicer"
SUPPORT_ROLES = ("Support material", "Support material interface")
_TIME = re.compile(r"(\d+)\s*([dhms])")


def slicer_version() -> str:
    """PrusaSlicer's version line (part of the cache key): :func:`printers.slicing.slicer_version`."""
    from printers.slicing import slicer_version as version

    return version(SLICER)


def parse_gcode(text: str) -> dict:
    """Figures of a PrusaSlicer G-code (relative E, as the project's profiles write it)."""
    out: dict = {"roles_mm": {}, "support_layers_mm": []}
    role, layer = "", -1
    roles = out["roles_mm"]
    per_layer: dict[int, list[float]] = {}
    for line in text.splitlines():
        if line.startswith(";TYPE:"):
            role = line[6:].strip()
        elif line.startswith(";LAYER_CHANGE"):
            layer += 1
        elif line.startswith("G1 ") and " E" in line:
            e = float(line.split(" E", 1)[1].split()[0])
            if e <= 0:
                continue
            roles[role] = roles.get(role, 0.0) + e
            if role in SUPPORT_ROLES:
                row = per_layer.setdefault(layer, [0.0, 0.0])
                row[SUPPORT_ROLES.index(role)] += e
        elif line.startswith("; filament used [g] ="):
            out["fil_g"] = float(line.split("=")[1].split(",")[0])
        elif line.startswith("; filament used [mm] ="):
            out["fil_mm"] = float(line.split("=")[1].split(",")[0])
        elif line.startswith("; estimated printing time (normal mode) ="):
            units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
            out["time_s"] = sum(int(n) * units[u] for n, u in _TIME.findall(line.split("=")[1]))
    out["layers"] = layer + 1
    out["support_layers_mm"] = [[k, *v] for k, v in sorted(per_layer.items())]
    return out


def reference(stl: bytes, profiles: list[Path], args: list[str],
              centre: tuple[float, float] = (125.0, 105.0), timeout_s: float = 900) -> dict:
    """Slice ``stl`` (binary STL bytes); return (and cache) the G-code's figures.

    The answer always has ``ps_rc`` (0 = sliced) and, if sliced, ``fil_g``, ``fil_mm``,
    ``time_s``, ``layers``, ``roles_mm``, ``support_layers_mm`` [[layer, base, interface]]
    and ``ps_wall_s`` (the slicer's wall time, for the speed benchmarks).
    """
    h = hashlib.sha256(stl)
    for p in profiles:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update(json.dumps([args, centre, slicer_version()]).encode())
    key = h.hexdigest()
    path = CACHE / f"{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ref-") as tmp:
        src, gcode = Path(tmp) / "part.stl", Path(tmp) / "part.gcode"
        src.write_bytes(stl)
        cmd = [SLICER, "--export-gcode"]
        for p in profiles:
            cmd += ["--load", str(p)]
        cmd += [*args, "--center", f"{centre[0]:g},{centre[1]:g}", str(src), "-o", str(gcode)]
        t0 = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        wall = time.perf_counter() - t0
        if run.returncode != 0 or not gcode.is_file():
            lines = [ln for ln in (run.stderr + run.stdout).splitlines()
                     if ln.strip() and "[trace]" not in ln]
            answer = {"ps_rc": run.returncode or 1, "ps_error": " ".join(lines[-2:])}
        else:
            answer = {"ps_rc": 0, **parse_gcode(gcode.read_text(errors="replace"))}
        answer["ps_wall_s"] = round(wall, 3)
    path.write_text(json.dumps(answer))
    return answer
