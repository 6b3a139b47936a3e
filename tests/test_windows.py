import numpy as np
import pytest

from tsdiff.windows import SeriesArrays, TrainWindowSampler, make_batch


def _series(T, F=2, offset=0.0):
    y = np.arange(T, dtype=np.float32) + offset
    return SeriesArrays(target=y, time_feat=np.tile(np.arange(T + 10, dtype=np.float32), (F, 1)))


@pytest.mark.parametrize("C,H", [(5, 3), (7, 1), (1, 4)])
def test_window_contents_and_left_padding(C, H):
    s = _series(20)
    b = make_batch([s], np.array([0]), np.array([4]), C, H)
    past = np.arange(4 - C, 4)
    np.testing.assert_array_equal(b["past_observed"][0], (past >= 0).astype(np.float32))
    np.testing.assert_array_equal(b["past_target"][0], np.where(past >= 0, past, 0))
    np.testing.assert_array_equal(b["future_target"][0], np.arange(4, 4 + H))
    assert b["past_time_feat"].shape == (1, C, 2) and b["future_time_feat"].shape == (1, H, 2)
    np.testing.assert_array_equal(b["future_time_feat"][0, :, 0], np.arange(4, 4 + H))


def test_nan_is_unobserved_and_ends_hide_the_future():
    s = _series(10)
    s.target[7] = np.nan
    b = make_batch([s], np.array([0]), np.array([6]), 4, 4, ends=np.array([8]))
    np.testing.assert_array_equal(b["future_observed"][0], [1, 0, 0, 0])  # 7 NaN, 8-9 hidden
    assert np.isfinite(b["future_target"]).all()


def test_sampler_never_sees_past_end():
    series = [_series(50), _series(12, offset=100)]
    ends = [40, 12]
    sampler = TrainWindowSampler(series, 8, 5, ends)
    rng = np.random.default_rng(0)
    for _ in range(20):
        b = sampler.sample(rng, 32)
        fut = b["future_target"][b["future_observed"] > 0]
        # series 0 values are < 40 in its training part; series 1 values in [100, 112)
        assert not ((fut >= 40) & (fut < 100)).any()
        assert b["past_observed"].sum(axis=1).min() >= 1


def test_sampler_reproducible():
    series = [_series(30), _series(40)]
    a = TrainWindowSampler(series, 6, 3, [30, 40]).sample(np.random.default_rng(1), 8)
    b = TrainWindowSampler(series, 6, 3, [30, 40]).sample(np.random.default_rng(1), 8)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_min_context_observed_filters_training_windows():
    C, H, k = 8, 3, 5
    gappy = _series(60)
    gappy.target[20:40] = np.nan
    short = _series(7)  # 7 points: k of them fit, but then no whole future before its end
    tiny = _series(4)   # 4 points, fewer than k + 1: its windows need 3 (n - 1)
    sampler = TrainWindowSampler([gappy, short, tiny], C, H, ends=[60, 7, 4], min_context_observed=k)
    b = sampler.sample(np.random.default_rng(0), 1000)
    obs = b["past_observed"].sum(axis=1)
    from_tiny = (obs == 3) & (b["past_target"].sum(axis=1) == 0 + 1 + 2)  # the tiny series' one window
    assert from_tiny.any() and (obs[~from_tiny] >= k).all()
    # Exactly the valid windows are drawable: a split s is valid iff [s - C, s) holds >= k observed points.
    v = sampler.valid_splits[0]
    obs = ~np.isnan(gappy.target)
    expect = [s for s in range(1, 60 - H + 1) if obs[max(0, s - C):s].sum() >= k]
    np.testing.assert_array_equal(v, expect)
    assert sampler.valid_splits[1].tolist() == [5]       # earliest with 5 points; future partly beyond the end
    assert sampler.valid_splits[2].tolist() == [3]       # 4 points: contexts of 3
    assert sampler.num_windows == len(expect) + 2


def test_min_context_observed_zero_draws_as_before():
    series = [_series(30), _series(12)]
    a = TrainWindowSampler(series, 8, 3, ends=[30, 12]).sample(np.random.default_rng(4), 32)
    b = TrainWindowSampler(series, 8, 3, ends=[30, 12], min_context_observed=1).sample(np.random.default_rng(4), 32)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert (a["past_observed"].sum(axis=1) < 5).any()  # the legacy draws include mostly padded contexts
