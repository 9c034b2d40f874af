"""The parts the support benchmark scores: corpus parts in several orientations, as meshes.

A case is one corpus part (scaled like its reference row), turned one of four ways and put on
the bed: ``file`` (as uploaded: the orientation of ../shared/corpus/reference_supports.csv),
``suggested`` (the quote engine's suggestion: what the hub prints), ``x90`` and ``y90`` (turned a
quarter about x or y: more and other overhangs, so the support model is tested on shapes it was
not fitted on). The mesh is the engine's analysed mesh (repaired, mm), written as binary STL:
exactly what printers/slicing.py hands to PrusaSlicer.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from marketplace.engine import quote as engine  # noqa: E402
from marketplace.engine.meshio.write import binary_stl  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
TURNS = {
    "file": np.eye(3),
    "x90": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),
    "y90": np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]]),
}
ORIENTATIONS = ("file", "suggested", "x90", "y90")


@dataclass(frozen=True, eq=False)
class Case:
    """One part in one orientation: the mesh (mm, bbox min at 0) and its STL bytes."""

    name: str
    orientation: str
    group: str  # parts sharing geometry (scaled copies) are held out together
    vertices: np.ndarray
    faces: np.ndarray
    stl: bytes

    @property
    def label(self) -> str:
        return f"{self.name}:{self.orientation}"


def corpus_rows(min_g: float = 1.0) -> list[dict]:
    """Reference rows PrusaSlicer sliced, of at least ``min_g`` grams."""
    with open(CORPUS / "reference.csv", newline="") as fh:
        return [r for r in csv.DictReader(fh)
                if r["ps_rc"] == "0" and r["fil_g"] and float(r["fil_g"]) >= min_g]


def group_of(row: dict) -> str:
    k = float(row["scale"])
    return f"{float(row['volume_mm3']) / k**3:.6g}/{float(row['area_mm2']) / k**2:.6g}"


def cases(rows: list[dict], orientations: tuple[str, ...] = ORIENTATIONS) -> list[Case]:
    """Every row in every orientation (the analysed mesh, scaled like the reference row)."""
    out = []
    for row in rows:
        base = row["name"].split("@")[0]
        data = (CORPUS / "models" / base).read_bytes()
        scale = float(row["scale"])
        if scale != 1.0:  # the reference's --scale S, applied to the triangles
            raw = engine.mesh_io.read_mesh(data, base)
            data = binary_stl(raw.triangles.reshape(-1, 3) * scale,
                              np.arange(raw.triangles.size // 3).reshape(-1, 3))
        part = engine.analyse_file(data, base, units="mm", check_walls=False)
        for o in orientations:
            if o == "suggested":
                v, f = part.oriented_indexed()
            else:
                v, f = part.indexed
                v = v @ TURNS[o].T
                v = v - v.min(axis=0)
            out.append(Case(row["name"], o, group_of(row), v, f, binary_stl(v, f)))
    return out
