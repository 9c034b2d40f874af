"""Property tests: volume and area do not change under rotation and translation, and scale
with the cube and square of the scale factor; units and the topology are stable."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.engine.geometry import faces as geometry
from marketplace.engine.geometry import topology
from marketplace.engine.meshio.units import UNIT_SCALE_MM, guess_unit

pytestmark = pytest.mark.db_independent


def _sphere(subdiv: int = 2) -> np.ndarray:
    """An icosphere of radius 10 (closed, 20·4^subdiv triangles, outward)."""
    t = (1 + 5**0.5) / 2
    v = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
                  [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]],
                 dtype=float)
    f = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
         [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
         [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]]
    tri = v[np.array(f)]
    for _ in range(subdiv):
        a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
        ab, bc, ca = (a + b) / 2, (b + c) / 2, (c + a) / 2
        tri = np.concatenate([np.stack(x, 1) for x in
                              ([a, ab, ca], [ab, b, bc], [ca, bc, c], [ab, bc, ca])])
    return tri / np.linalg.norm(tri, axis=2, keepdims=True) * 10.0


SPHERE = _sphere()
BASE = geometry.face_geometry(SPHERE)
BASE_VOL = float(BASE.volumes_mm3.sum())
BASE_AREA = float(BASE.areas_mm2.sum())


def _rotation(a: float, b: float, c: float) -> np.ndarray:
    ca, sa, cb, sb, cc, sc = map(float, (np.cos(a), np.sin(a), np.cos(b), np.sin(b),
                                        np.cos(c), np.sin(c)))
    rx = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
    ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    rz = np.array([[cc, -sc, 0], [sc, cc, 0], [0, 0, 1]])
    return rz @ ry @ rx


angles = st.floats(0, 2 * math.pi, allow_nan=False)
offsets = st.floats(-1e4, 1e4, allow_nan=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(angles, angles, angles, offsets, offsets, offsets)
def test_volume_and_area_are_invariant_under_rotation_and_translation(a, b, c, x, y, z):
    tri = SPHERE @ _rotation(a, b, c).T + np.array([x, y, z])
    geo = geometry.face_geometry(tri)
    assert float(geo.volumes_mm3.sum()) == pytest.approx(BASE_VOL, rel=1e-9)
    assert float(geo.areas_mm2.sum()) == pytest.approx(BASE_AREA, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-3, 1e3, allow_nan=False))
def test_volume_scales_with_the_cube_and_area_with_the_square(s):
    geo = geometry.face_geometry(SPHERE * s)
    assert float(geo.volumes_mm3.sum()) == pytest.approx(BASE_VOL * s**3, rel=1e-9)
    assert float(geo.areas_mm2.sum()) == pytest.approx(BASE_AREA * s**2, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(angles, angles, angles, st.integers(0, 2**32 - 1))
def test_topology_is_invariant_under_rotation_and_face_order(a, b, c, seed):
    rng = np.random.default_rng(seed)
    tri = (SPHERE @ _rotation(a, b, c).T)[rng.permutation(len(SPHERE))]
    tri = np.roll(tri, int(rng.integers(0, 3)), axis=1)  # rotate the corners of every face
    topo = topology.analyse_topology(tri.astype(np.float32))
    assert topo.watertight and topo.winding_consistent
    assert topo.n_shells == 1 and topo.keep.all()


def test_sphere_volume_is_close_to_the_true_sphere():
    assert 0.95 * 4 / 3 * math.pi * 1000 < BASE_VOL < 4 / 3 * math.pi * 1000  # inscribed


@settings(max_examples=50, deadline=None)
@given(st.floats(5, 200), st.floats(0.2, 1), st.floats(0.2, 1))
def test_unit_guess_never_rescales_a_plausible_mm_part(size, fy, fz):
    # sizes that are not whole sixteenths of an inch stay mm (unless tiny)
    ext = (size + 0.013, size * fy + 0.013, size * fz + 0.013)
    unit = guess_unit(ext)
    if size >= 10:
        assert unit == "mm"
    assert unit in UNIT_SCALE_MM
