"""Issue 9, build volume gate, the engine side: whether a part fits a printer in any
orientation, from the hull points the analysis records (golden cases on boxes)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from quote_shapes import box_stl

from marketplace.engine import quote as engine
from marketplace.engine.geometry import fitting

pytestmark = pytest.mark.db_independent

STANDARD = (250.0, 210.0, 210.0)


def corners(x: float, y: float, z: float) -> np.ndarray:
    return np.array(list(itertools.product((0, x), (0, y), (0, z))), dtype=float)


def laid(points: np.ndarray, fit: fitting.Fit) -> np.ndarray:
    """The box of ``points`` turned as ``fit`` says."""
    q = points @ np.asarray(fit.rotation).T
    return q.max(axis=0) - q.min(axis=0)


def fits_in(ext, volume) -> bool:
    x, y, z = ext
    bx, by, bz = volume
    return z <= bz + 1e-6 and ((x <= bx + 1e-6 and y <= by + 1e-6)
                               or (y <= bx + 1e-6 and x <= by + 1e-6))


@pytest.mark.parametrize("size", list(itertools.permutations((200.0, 100.0, 50.0))))
def test_a_box_fits_a_box_in_every_permutation(size):
    for volume in itertools.permutations((210.0, 110.0, 60.0)):
        fit = fitting.fits_in_any_orientation(corners(*size), [volume])
        assert fit is not None and fit.volume == 0
        ext = laid(corners(*size), fit)
        assert ext == pytest.approx(fit.extents_mm, abs=1e-6)
        assert fits_in(ext, volume)
        assert sorted(ext) == pytest.approx([50.0, 100.0, 200.0], abs=1e-6)  # on a face


def test_a_box_just_too_big_fits_no_box():
    assert fitting.fits_in_any_orientation(corners(200.5, 100, 50), [(200, 200, 20)]) is None
    assert fitting.fits_volume(corners(200, 100, 50), (210, 110, 60))
    assert not fitting.fits_volume(corners(400, 300, 300), STANDARD)


def test_a_long_bar_fits_only_diagonally():
    bar = corners(300, 20, 20)  # 300 mm: longer than the bed and than it is high
    fit = fitting.fits_in_any_orientation(bar, [STANDARD])
    assert fit is not None
    ext = laid(bar, fit)
    assert fits_in(ext, STANDARD)
    assert ext[2] == pytest.approx(20.0)  # still lying flat, turned about z
    assert max(ext[:2]) < 300 - 40  # corner to corner
    # the same bar in a volume it cannot fit corner to corner
    assert fitting.fits_in_any_orientation(bar, [(200, 150, 150)]) is None


def test_a_plate_fits_only_tilted():
    plate = corners(240, 240, 2)  # flat too wide, on its edge too high
    fit = fitting.fits_in_any_orientation(plate, [STANDARD])
    assert fit is not None
    ext = laid(plate, fit)
    assert fits_in(ext, STANDARD)
    assert ext[2] > 100  # leaning: neither flat nor on its edge
    assert 2.5 < min(ext)


def test_the_preferred_rotation_wins_when_it_fits_and_the_first_volume_that_fits_is_named():
    turn = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0))
    fit = fitting.fits_in_any_orientation(corners(50, 100, 20), [(10, 10, 10), STANDARD],
                                          preferred=turn)
    assert fit.rotation == turn and fit.volume == 1
    assert fit.extents_mm == pytest.approx((50, 20, 100))


def test_scale_to_fit_uses_the_best_orientation():
    # flat on a 150 mm cube's floor the plate needs 75 %; tilted corner to corner, 96 %
    factor = fitting.scale_to_fit(corners(200, 100, 20), [(150, 150, 150)])
    assert 0.95 < factor < 0.97
    assert fitting.fits_volume(corners(200, 100, 20) * factor * 0.999, (150, 150, 150))
    assert fitting.scale_to_fit(corners(100, 50, 20), [STANDARD]) == 1.0
    assert fitting.scale_to_fit(corners(500, 500, 500), [STANDARD]) == pytest.approx(0.42, abs=0.01)
    assert fitting.scale_to_fit(corners(1, 1, 1), []) is None


def test_points_of_reads_records_and_refuses_garbage():
    assert fitting.points_of(None) is None
    assert fitting.points_of([[1, 2]]) is None
    assert fitting.points_of([["a", 1, 2]]) is None
    assert fitting.points_of([[1, 2, float("nan")]]) is None
    assert fitting.points_of([[1, 2, 3]], 2.0).tolist() == [[2.0, 4.0, 6.0]]
    flat = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [10, 10, 0]], float)  # no volume
    assert fitting.fits_volume(flat, (8, 8, 20))  # stood up: 10 x 0 x 10


def test_the_analysis_records_hull_points_that_measure_the_part():
    part = engine.analyse_file(box_stl(120, 40, 10), "block.stl")
    record = part.to_dict()["orientation"]
    hull = fitting.points_of(record["hull_mm"])
    assert len(hull) == 8  # a box: its corners
    assert np.ptp(hull, axis=0) == pytest.approx((120, 40, 10), abs=0.01)


def test_a_plate_that_fits_only_tilted_is_printable_and_laid_to_fit():
    # before: no axis and no flat side fits 250 x 210 x 210 mm, so "too large"
    part = engine.analyse_file(box_stl(240, 240, 2), "plate.stl")
    assert part.printable, [p.code for p in part.problems]
    assert part.suggested.fits
    assert fits_in(part.suggested.extents_mm, STANDARD)
    still = engine.analyse_file(box_stl(400, 300, 300), "huge.stl")
    assert not still.printable and "too_large" in {p.code for p in still.problems}


def test_the_estimate_is_made_in_the_rotation_asked_for():
    from marketplace.engine.pricing.catalog import DEFAULT_PROFILE

    part = engine.analyse_file(box_stl(60, 20, 10), "bar.stl")
    standing = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0))  # 20 mm up
    flat = engine.estimate_part(part, DEFAULT_PROFILE, supports="none")
    up = engine.estimate_part(part, DEFAULT_PROFILE, supports="none", rotation=standing)
    assert flat.layers == 50 and up.layers == 100


def test_hull_points_are_bounded_and_keep_the_box():
    rng = np.random.default_rng(3)
    ball = rng.normal(size=(5000, 3))
    ball = 40 * ball / np.linalg.norm(ball, axis=1)[:, None]  # every point on the hull
    kept = fitting.hull_points(ball, limit=256)
    assert len(kept) <= 256
    for _ in range(20):
        turn, _r = np.linalg.qr(rng.normal(size=(3, 3)))
        full, thin = np.ptp(ball @ turn.T, axis=0), np.ptp(kept @ turn.T, axis=0)
        assert np.all(thin <= full + 1e-9) and np.all(thin >= 0.97 * full)
    flat = np.array([[0, 0, 0], [30, 0, 0], [0, 20, 0], [30, 20, 0], [15, 10, 0]], float)
    assert np.ptp(fitting.hull_points(flat), axis=0) == pytest.approx((30, 20, 0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_points_inside_the_extremes_hull_are_dropped_and_the_hull_stays(seed):
    """The analysis thins a part's corners before looking for its hull (Akl-Toussaint): the
    hull's vertices and the box in any direction are those of all corners, and a solid's
    inner points are gone."""
    from scipy.spatial import ConvexHull

    from marketplace.engine.analysis.analyse import _hull_candidates, _hull_points, _outer_points

    rng = np.random.default_rng(seed)
    cloud = np.concatenate([rng.uniform(-1, 1, (20_000, 3)) * (40, 25, 10),
                            rng.normal(size=(500, 3)) * (30, 30, 30)])
    outer = _outer_points(cloud)
    assert len(outer) < len(cloud) / 4
    full, thin = ConvexHull(cloud), ConvexHull(outer)
    assert {tuple(p) for p in cloud[full.vertices]} == {tuple(p) for p in outer[thin.vertices]}
    assert thin.volume == pytest.approx(full.volume, rel=1e-12)
    turn = fitting.rotation_to_bed(rng.normal(size=3))
    for pts in (outer, _hull_points(_hull_candidates(cloud))):
        q, ref = pts @ turn.T, cloud @ turn.T
        assert np.allclose(q.max(axis=0) - q.min(axis=0), ref.max(axis=0) - ref.min(axis=0),
                           atol=0.02 * 80)
    flat = cloud.copy()
    flat[:, 2] = 0.0  # no volume: nothing is strictly inside, nothing is dropped
    assert len(_outer_points(flat)) == len(flat)
