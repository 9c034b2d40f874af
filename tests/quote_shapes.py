"""Test parts for issue 9 (what is quoted is what gets printed): a part that needs supports
however it lies, a triangle soup, a box of any size; as binary STL bytes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

_DATA = Path(__file__).resolve().parent / "data"


def _meshes():
    spec = importlib.util.spec_from_file_location("make_meshes", _DATA / "make_meshes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def jack_stl(arm_mm: float = 12.0, core_mm: float = 6.0) -> bytes:
    """A jack: arms along ±x, ±y, ±z from a cube; however it lies, four arms stick out
    sideways and need support under them (30 mm across by default)."""
    m = _meshes()
    arms = [m.box((core_mm,) * 3, (arm_mm,) * 3)]
    for axis in range(3):
        for start in (0.0, arm_mm + core_mm):
            size, origin = [core_mm] * 3, [arm_mm] * 3
            size[axis], origin[axis] = arm_mm, start
            arms.append(m.box(tuple(size), tuple(origin)))
    return m.stl_binary(np.concatenate(arms))


def box_stl(x_mm: float, y_mm: float, z_mm: float) -> bytes:
    m = _meshes()
    return m.stl_binary(m.box((x_mm, y_mm, z_mm)))


def soup_stl(triangles: int = 1000, seed: int = 0) -> bytes:
    """Random triangles: no closed solid (not_closable, not printable)."""
    m = _meshes()
    return m.stl_binary(np.random.default_rng(seed).uniform(0, 10, (triangles, 3, 3)))
