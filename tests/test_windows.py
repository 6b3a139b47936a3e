import numpy as np
import pytest

from tsdiff.windows import ContextSampler, SeriesArrays, TrainWindowSampler, make_batch


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


def _context_series():
    # Time features reach 10 steps past the targets' end (the future of the latest context).
    return [_series(30), _series(6, offset=100)]


@pytest.mark.parametrize("C,H", [(5, 3), (7, 1)])
def test_context_sampler_reaches_the_last_point(C, H):
    series = _context_series()
    sampler = ContextSampler(series, C, H, [30, 6], latest_share=0.0)
    b = sampler.sample(np.random.default_rng(0), 4000)
    assert "future_target" not in b and "future_observed" not in b
    assert b["past_time_feat"].shape == (4000, C, 2) and b["future_time_feat"].shape == (4000, H, 2)
    # The last observed value of each context is the one just before its split point.
    last = b["past_target"][:, -1]
    is0 = last < 100
    splits0 = last[is0] + 1
    assert splits0.min() == 1 and splits0.max() == 30          # every split point in [1, end], the end included
    assert set(np.unique(last[~is0] - 100 + 1).astype(int)) == set(range(1, 7))
    # Series are drawn in proportion to their contexts (30 vs 6).
    assert abs(is0.mean() - 30 / 36) < 0.03
    # The future time features continue the context's (time_feat[t] = t here).
    np.testing.assert_array_equal(b["future_time_feat"][is0, 0, 0], splits0)


def test_context_sampler_latest_share():
    series = _context_series()
    rng = np.random.default_rng(1)
    b = ContextSampler(series, 4, 2, [30, 6], latest_share=1.0).sample(rng, 500)
    last = b["past_target"][:, -1]
    assert set(np.unique(last)) == {29.0, 105.0}               # only the latest contexts
    assert abs((last == 29).mean() - 0.5) < 0.07               # series drawn uniformly, not by length
    b = ContextSampler(series, 4, 2, [30, 6], latest_share=0.5).sample(rng, 4000)
    last = b["past_target"][:, -1]
    # Latest: half the batch, plus the uniform draws that land on an end (1/36 of the other half).
    share = np.isin(last, [29.0, 105.0]).mean()
    assert abs(share - (0.5 + 0.5 * 2 / 36)) < 0.03


def test_context_sampler_reproducible_and_checked():
    series = _context_series()
    s = ContextSampler(series, 4, 2, [30, 6], latest_share=0.3)
    a = s.sample(np.random.default_rng(5), 64)
    b = s.sample(np.random.default_rng(5), 64)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert s.num_windows == 36
    with pytest.raises(ValueError, match="latest_share"):
        ContextSampler(series, 4, 2, [30, 6], latest_share=1.5)
    with pytest.raises(ValueError, match="no series"):
        ContextSampler(series, 4, 2, [0, 0])
