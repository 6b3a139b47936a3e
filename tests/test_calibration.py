"""Tests of tsdiff.calibration: split-conformal widening of sample paths."""

from __future__ import annotations

import numpy as np
import pytest

from tsdiff.calibration import CALIBRATION_LEVELS, IntervalCalibrator, needed_factors
from tsdiff.metrics import coverage, sample_quantile


def test_needed_factors_by_hand():
    # One point, 5 samples: sorted -2, -1, 0, 1, 2 stand at levels 1/6 .. 5/6 -> median 0; the 50%
    # interval runs from level 0.25 (position 6 * 0.25 - 1 = 0.5: -1.5) to level 0.75 (position 3.5: 1.5).
    samples = np.array([[[2.0], [-1.0], [0.0], [-2.0], [1.0]]])
    for y, want in [(3.0, 2.0), (-0.5, 1 / 3), (0.0, 0.0), (np.nan, np.nan)]:
        got = needed_factors(samples, np.array([[y]]), 0.5)[0, 0]
        assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want)
    flat = np.zeros((1, 5, 1))  # no width: any deviation needs an infinite factor
    assert np.isinf(needed_factors(flat, np.array([[1.0]]), 0.9)[0, 0])


def _gaussian_case(rng, n, S, H, spread, truth):
    centre = rng.normal(size=(n, 1, H))
    samples = centre + spread * rng.normal(size=(n, S, H))
    y = centre[:, 0] + truth * rng.normal(size=(n, H))
    return samples, y


@pytest.mark.parametrize("spread, truth", [(0.5, 1.0), (2.0, 1.0), (1.0, 1.0)])
def test_fit_makes_the_ensemble_cover_like_draws_of_the_truth(spread, truth):
    rng = np.random.default_rng(0)
    H, S = 7, 64
    cal = IntervalCalibrator.fit(*_gaussian_case(rng, 600, S, H, spread, truth))
    assert cal.factors.shape == (len(CALIBRATION_LEVELS), H)
    # The needed factor is truth / spread at every level for a Gaussian ensemble of the wrong width.
    assert np.median(cal.factors) == pytest.approx(truth / spread, rel=0.12)
    samples, y = _gaussian_case(rng, 4000, S, H, spread, truth)
    raw50, raw90 = coverage(y, samples, 0.5), coverage(y, samples, 0.9)
    out = cal.apply(samples)
    # The oracle: S draws of the true law, whose order-statistic intervals cover (hi - lo) / (S + 1).
    for level in (0.5, 0.9):
        lo, hi = round((S - 1) * (1 - level) / 2), round((S - 1) * (1 + level) / 2)
        assert coverage(y, out, level) == pytest.approx((hi - lo) / (S + 1), abs=0.02)
    if spread < truth:
        assert raw50 < 0.4 and raw90 < 0.7  # the raw ensemble really was too narrow


@pytest.mark.parametrize("S", [16, 100])
def test_a_perfect_ensemble_keeps_its_width(S):
    # Draws of the true law need no correction at any level, whatever the ensemble size.
    rng = np.random.default_rng(3)
    cal = IntervalCalibrator.fit(*_gaussian_case(rng, 3000, S, 5, 1.0, 1.0))
    np.testing.assert_allclose(cal.factors, 1.0, atol=0.05)
    if S == 16:  # levels 0.9 and 0.95 lie beyond the extremes (0.88): the widest resolved level's factor
        np.testing.assert_array_equal(cal.factors[-1], cal.factors[-3])


def test_apply_keeps_paths_coherent_and_the_median():
    rng = np.random.default_rng(1)
    samples = rng.normal(size=(4, 31, 9)).astype(np.float32)
    factors = np.linspace(1.5, 3.0, len(CALIBRATION_LEVELS))[:, None] * np.ones((1, 9))
    out = IntervalCalibrator(CALIBRATION_LEVELS, factors).apply(samples)
    assert out.shape == samples.shape and out.dtype == samples.dtype
    # Every path keeps its rank at every step: no value is resampled.
    np.testing.assert_array_equal(np.argsort(out, axis=1, kind="stable"), np.argsort(samples, axis=1, kind="stable"))
    np.testing.assert_allclose(sample_quantile(out, 0.5), sample_quantile(samples, 0.5), rtol=1e-6)
    # Wider by at least the smallest factor away from the median.
    dev_in = np.abs(samples - sample_quantile(samples, 0.5)[:, None])
    dev_out = np.abs(out - sample_quantile(out, 0.5)[:, None])
    assert (dev_out >= 1.5 * dev_in - 1e-5).all()


def test_unit_factors_are_the_identity_and_long_horizons_reuse_blocks():
    rng = np.random.default_rng(2)
    samples = rng.normal(size=(3, 20, 10))
    ident = IntervalCalibrator(CALIBRATION_LEVELS, np.ones((len(CALIBRATION_LEVELS), 5)))
    np.testing.assert_allclose(ident.apply(samples), samples)
    f = np.ones((len(CALIBRATION_LEVELS), 5))
    f[:, 2] = 2.0
    out = IntervalCalibrator(CALIBRATION_LEVELS, f).apply(samples)  # horizon 10 = two blocks of 5
    changed = ~np.isclose(out, samples).all(axis=(0, 1))
    assert changed.tolist() == [False, False, True, False, False] * 2


def test_round_trip_and_validation():
    cal = IntervalCalibrator((0.5, 0.9), np.array([[1.2, 1.3], [1.5, 1.6]]), n_points=40)
    back = IntervalCalibrator.from_dict(cal.to_dict())
    np.testing.assert_array_equal(back.factors, cal.factors)
    assert back.levels == cal.levels and back.n_points == 40
    assert IntervalCalibrator.from_dict(None) is None
    assert cal.mean_factors((0.5, 0.9)) == pytest.approx([1.25, 1.55])
    with pytest.raises(ValueError, match="shape"):
        IntervalCalibrator((0.5, 0.9), np.ones((3, 2)))
    with pytest.raises(ValueError, match="finite"):
        IntervalCalibrator((0.5, 0.9), np.array([[1.0, np.inf], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="samples"):
        IntervalCalibrator.fit(np.zeros((3, 4, 5)), np.zeros((3, 4)))


def test_degenerate_ensembles_get_capped_factors():
    samples = np.zeros((50, 16, 3))
    y = np.ones((50, 3))
    cal = IntervalCalibrator.fit(samples, y, max_factor=20.0)
    assert np.isfinite(cal.factors).all() and cal.factors.max() == 20.0


def _spiky(rng, samples, share=0.005, size=30.0):
    """Replace a ``share`` of the sample values by spikes ``size`` spreads from the centre."""
    out = samples.copy()
    hit = rng.random(out.shape) < share
    out[hit] += size * rng.choice([-1.0, 1.0], size=int(hit.sum()))
    return out


def test_tail_cap_pulls_in_spikes_and_leaves_the_90_interval_alone():
    rng = np.random.default_rng(4)
    S, H = 100, 6
    held, y = _gaussian_case(rng, 3000, S, H, 1.0, 1.0)
    cal = IntervalCalibrator.fit(_spiky(rng, held), y)
    # The truth's 99.9% distance from the median, in 90% half-widths: 3.29 / 1.645 = 2.0.
    assert cal.tail_cap == pytest.approx(2.0, abs=0.2)
    clean, _ = _gaussian_case(rng, 2000, S, H, 1.0, 1.0)
    spiky = _spiky(rng, clean)
    out = cal.apply(spiky)
    uncapped = IntervalCalibrator(cal.levels, cal.factors).apply(spiky)
    std = lambda x: x.std(axis=1, ddof=1).mean()  # noqa: E731
    assert std(spiky) > 1.3 * std(clean)                       # the spikes really inflate the spread
    # Capped spikes still sit at the cap (3.3 sd here): the std comes within 4% of the clean ensembles'.
    assert std(out) == pytest.approx(std(cal.apply(clean)), rel=0.04)
    # Nothing inside the 90% interval moves, so cov50 / cov90 and the 5-95% quantiles are unchanged.
    lo, hi = sample_quantile(uncapped, 0.05)[:, None], sample_quantile(uncapped, 0.95)[:, None]
    inside = (uncapped >= lo) & (uncapped <= hi)
    np.testing.assert_array_equal(out[inside], uncapped[inside])
    # Clamping keeps every path's order at every step (ties only where two values were capped).
    order = np.argsort(uncapped, axis=1, kind="stable")
    assert (np.diff(np.take_along_axis(out, order, axis=1), axis=1) >= 0).all()


def test_tail_cap_keeps_the_tails_of_a_heavy_tailed_law():
    # Perfect ensembles of a Student-t(2) law: the held-out outcomes reach as far as the samples do,
    # so the cap is wide and moves almost nothing.
    rng = np.random.default_rng(5)
    S, H, n = 100, 4, 3000
    centre = rng.normal(size=(n, 1, H))
    held = centre + rng.standard_t(2, size=(n, S, H))
    y = centre[:, 0] + rng.standard_t(2, size=(n, H))
    cal = IntervalCalibrator.fit(held, y)
    assert cal.tail_cap > 5.0
    test = centre + rng.standard_t(2, size=(n, S, H))
    moved = ~np.isclose(cal.apply(test), IntervalCalibrator(cal.levels, cal.factors).apply(test))
    assert moved.mean() < 0.003


def test_tail_cap_round_trip_and_old_files():
    cal = IntervalCalibrator((0.5, 0.9), np.ones((2, 3)), n_points=10, tail_cap=2.5)
    assert IntervalCalibrator.from_dict(cal.to_dict()).tail_cap == 2.5
    old = {"levels": [0.5, 0.9], "factors": [[1.0] * 3, [1.0] * 3], "n_points": 10}  # saved before the cap
    assert IntervalCalibrator.from_dict(old).tail_cap is None
    assert IntervalCalibrator.fit(*_gaussian_case(np.random.default_rng(6), 50, 20, 3, 1.0, 1.0),
                                  cap_level=None).tail_cap is None
    for bad in (0.5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="tail_cap"):
            IntervalCalibrator((0.5, 0.9), np.ones((2, 3)), tail_cap=bad)
