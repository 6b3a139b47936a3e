"""tsdiff.metrics against GluonTS's Evaluator and small independent references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsdiff import metrics

pytestmark = [
    # GluonTS's own noise while evaluating masked (missing) targets and choosing a json backend
    pytest.mark.filterwarnings("ignore:Warning. converting a masked element to nan:UserWarning"),
    pytest.mark.filterwarnings("ignore:Using `json`-module:UserWarning"),
]

QUANTILES = (0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95)


def _make_case(rng: np.random.Generator, n: int, s: int, h: int, *, nan_frac: float = 0.0):
    """Positive-ish series with different scales, pasts of different lengths, float64 samples."""
    past = []
    ys = np.empty((n, h))
    samples = np.empty((n, s, h))
    for i in range(n):
        t_len = int(rng.integers(5, 80))
        level = float(rng.uniform(1.0, 50.0))
        full = level + np.cumsum(rng.normal(size=t_len + h))
        past.append(full[:t_len].copy())
        ys[i] = full[t_len:]
        samples[i] = ys[i] + rng.normal(loc=rng.normal(), scale=rng.uniform(0.5, 3.0), size=(s, h))
    if nan_frac:
        ys[rng.random(ys.shape) < nan_frac] = np.nan
        for p in past:
            p[rng.random(p.shape) < nan_frac] = np.nan
    return ys, samples, past


def _gluonts_evaluate(ys, samples, past, season, quantiles=QUANTILES):
    """Run GluonTS's Evaluator on the same forecasts (one SampleForecast per series)."""
    from gluonts.evaluation import Evaluator
    from gluonts.model.forecast import SampleForecast

    freq = "h"
    series, forecasts = [], []
    for i in range(ys.shape[0]):
        start = pd.Period("2021-03-01 00:00", freq=freq) + 7 * i  # different starts per series
        full = np.concatenate([past[i], ys[i]])
        index = pd.period_range(start=start, periods=len(full), freq=freq)
        series.append(pd.Series(full, index=index))
        forecasts.append(SampleForecast(samples=samples[i], start_date=index[len(past[i])], item_id=str(i)))
    evaluator = Evaluator(quantiles=quantiles, seasonality=season, num_workers=0)
    agg, _ = evaluator(iter(series), iter(forecasts), num_series=len(series))
    return agg


@pytest.mark.parametrize("n_samples", [100, 51, 4, 1])
def test_matches_gluonts_evaluator(n_samples):
    rng = np.random.default_rng(n_samples)
    ys, samples, past = _make_case(rng, n=9, s=n_samples, h=12)
    season = 24  # longer than some pasts: exercises GluonTS's fallback to season 1
    agg = _gluonts_evaluate(ys, samples, past, season)

    wql = metrics.weighted_quantile_losses(ys, samples, QUANTILES)
    for q in QUANTILES:
        assert wql[q] == pytest.approx(agg[f"wQuantileLoss[{q}]"], rel=1e-12, abs=1e-15)
        assert metrics.quantile_loss(ys, samples, q) == pytest.approx(agg[f"QuantileLoss[{q}]"], rel=1e-12)
    assert metrics.weighted_quantile_loss(ys, samples, QUANTILES) == pytest.approx(
        agg["mean_wQuantileLoss"], rel=1e-12)

    median = metrics.sample_quantile(samples, 0.5)
    assert metrics.mase(ys, median, past, season) == pytest.approx(agg["MASE"], rel=1e-12)
    assert metrics.nd(ys, median) == pytest.approx(agg["ND"], rel=1e-12)
    assert metrics.nrmse(ys, samples.mean(axis=1)) == pytest.approx(agg["NRMSE"], rel=1e-12)
    # central-interval coverage = difference of GluonTS's one-sided coverages (no NaN, no ties)
    for level in (0.5, 0.9):
        lo, hi = round((1 - level) / 2, 12), round((1 + level) / 2, 12)
        expected = agg[f"Coverage[{hi}]"] - agg[f"Coverage[{lo}]"]
        assert metrics.coverage(ys, samples, level) == pytest.approx(expected, abs=1e-12)

    res = metrics.evaluate(ys, samples, insample=past, season=season)
    assert res["mase"] == pytest.approx(agg["MASE"], rel=1e-12)
    assert res["nd"] == pytest.approx(agg["ND"], rel=1e-12)
    assert res["nrmse"] == pytest.approx(agg["NRMSE"], rel=1e-12)


def test_default_quantiles_mean_wql_matches_gluonts_default():
    rng = np.random.default_rng(7)
    ys, samples, past = _make_case(rng, n=6, s=100, h=24)
    from gluonts.evaluation import Evaluator

    assert tuple(Evaluator.default_quantiles) == metrics.DEFAULT_QUANTILES
    agg = _gluonts_evaluate(ys, samples, past, season=1, quantiles=Evaluator.default_quantiles)
    assert metrics.evaluate(ys, samples)["wql_mean"] == pytest.approx(agg["mean_wQuantileLoss"], rel=1e-12)


def test_matches_gluonts_with_missing_values():
    rng = np.random.default_rng(3)
    ys, samples, past = _make_case(rng, n=10, s=40, h=16, nan_frac=0.15)
    ys[2, :] = np.nan  # one series entirely missing in the horizon
    season = 3
    agg = _gluonts_evaluate(ys, samples, past, season)
    median = metrics.sample_quantile(samples, 0.5)
    assert metrics.weighted_quantile_loss(ys, samples, QUANTILES) == pytest.approx(
        agg["mean_wQuantileLoss"], rel=1e-12)
    assert metrics.mase(ys, median, past, season) == pytest.approx(agg["MASE"], rel=1e-12)
    assert metrics.nd(ys, median) == pytest.approx(agg["ND"], rel=1e-12)
    assert metrics.nrmse(ys, samples.mean(axis=1)) == pytest.approx(agg["NRMSE"], rel=1e-12)
    res = metrics.evaluate(ys, samples, insample=past, season=season)
    assert all(np.isfinite(v) for v in res.values())


def test_sample_quantile_is_gluonts_rule():
    from gluonts.model.forecast import SampleForecast

    rng = np.random.default_rng(0)
    for s in (1, 2, 4, 10, 11, 100):
        x = rng.normal(size=(s, 5))
        fc = SampleForecast(samples=x, start_date=pd.Period("2020-01-01", freq="D"))
        for q in (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0):
            np.testing.assert_array_equal(metrics.sample_quantile(x, q), fc.quantile(q))
    # halves round to even: S = 100 -> the median is order statistic 50 (0-based), not an average
    x = np.arange(100.0)[:, None]
    assert metrics.sample_quantile(x, 0.5)[0] == 50.0


def _crps_reference(y, samples):
    """Independent reference: E|X - y| - 0.5 E|X - X'| over all S**2 pairs, per point."""
    n, s, h = samples.shape
    out = np.empty((n, h))
    for i in range(n):
        for t in range(h):
            x = samples[i, :, t]
            out[i, t] = np.mean(np.abs(x - y[i, t])) - 0.5 * np.mean(np.abs(x[:, None] - x[None, :]))
    return out


def test_crps_ensemble_against_reference():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(4, 6))
    samples = rng.normal(size=(4, 30, 6)) * 2 + 0.5
    y[1, 2] = np.nan
    ref = _crps_reference(np.nan_to_num(y), samples)
    ref[1, 2] = np.nan
    out = metrics.crps_ensemble(y, samples)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(metrics.crps_ensemble(y, samples, method="sorted"), ref, rtol=1e-10, atol=1e-12)
    obs = np.isfinite(y)
    assert metrics.normalized_crps(y, samples) == pytest.approx(ref[obs].sum() / np.abs(y[obs]).sum(), rel=1e-12)
    # one sample: CRPS is the absolute error
    np.testing.assert_allclose(metrics.crps_ensemble(y[:, :], samples[:, :1, :]),
                               np.abs(samples[:, 0, :] - y), rtol=1e-12)


def test_crps_chunking_is_exact(monkeypatch):
    rng = np.random.default_rng(2)
    y = rng.normal(size=(5, 7))
    samples = rng.normal(size=(5, 20, 7))
    full = metrics.crps_ensemble(y, samples)
    monkeypatch.setattr(metrics, "_PROPERSCORING_CHUNK_ELEMENTS", 3 * 20 * 20)  # 3 points per call
    np.testing.assert_array_equal(metrics.crps_ensemble(y, samples), full)


def test_coverage_hand_computed():
    # 11 samples 0..10 at every point. GluonTS's rule: q=0.25 -> index round(2.5) = 2 -> 2;
    # q=0.75 -> round(7.5) = 8 -> 8; q=0.05 -> round(0.5) = 0 -> 0; q=0.95 -> round(9.5) = 10 -> 10.
    samples = np.tile(np.arange(11.0)[None, :, None], (1, 1, 6))
    y = np.array([[1.0, 2.0, 5.0, 8.0, 9.0, np.nan]])
    assert metrics.coverage(y, samples, 0.5) == pytest.approx(3 / 5)  # 2, 5, 8 inside [2, 8]
    assert metrics.coverage(y, samples, 0.9) == pytest.approx(1.0)
    y2 = np.array([[-1.0, 11.0, 0.0, 10.0, 3.0, 4.0]])
    assert metrics.coverage(y2, samples, 0.9) == pytest.approx(4 / 6)


def test_energy_score_against_double_loop():
    rng = np.random.default_rng(4)
    n, s, h = 3, 15, 5
    y = rng.normal(size=(n, h))
    samples = rng.normal(size=(n, s, h))
    y[2, 1] = np.nan
    per_series = []
    for i in range(n):
        obs = np.isfinite(y[i])
        x, yy = samples[i][:, obs], y[i, obs]
        t1 = sum(np.sqrt(np.sum((x[a] - yy) ** 2)) for a in range(s)) / s
        t2 = sum(np.sqrt(np.sum((x[a] - x[b]) ** 2)) for a in range(s) for b in range(s)) / s**2
        per_series.append(t1 - 0.5 * t2)
    assert metrics.energy_score(y, samples) == pytest.approx(np.mean(per_series), rel=1e-12)
    # H = 1: the energy score is the CRPS
    assert metrics.energy_score(y[:1, :1], samples[:1, :, :1]) == pytest.approx(
        metrics.crps_ensemble(y[:1, :1], samples[:1, :, :1])[0, 0], rel=1e-12)


def test_evaluate_keys_and_single_series():
    rng = np.random.default_rng(5)
    y = rng.normal(size=8) + 10
    samples = rng.normal(size=(50, 8)) + 10
    res = metrics.evaluate(y, samples, insample=[rng.normal(size=30)], season=7)
    assert list(res) == ["crps", "wql_mean", "mase", "nd", "nrmse", "coverage_50", "coverage_90", "energy_score"]
    assert all(isinstance(v, float) and np.isfinite(v) for v in res.values())
    assert np.isnan(metrics.evaluate(y, samples)["mase"])
    # a perfect, sharp forecast scores zero
    perfect = metrics.evaluate(y[None], np.repeat(y[None, None], 5, axis=1))
    for key in ("crps", "wql_mean", "nd", "nrmse", "energy_score"):
        assert perfect[key] == pytest.approx(0.0, abs=1e-12)
    assert perfect["coverage_90"] == 1.0


def test_input_validation_names_argument():
    y = np.zeros((3, 4))
    with pytest.raises(ValueError, match="samples"):
        metrics.crps_ensemble(y, np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match="samples"):
        metrics.weighted_quantile_loss(y, np.zeros((3, 5, 6)))
    with pytest.raises(ValueError, match="samples"):
        metrics.evaluate(y, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="samples"):
        metrics.coverage(y, np.full((3, 5, 4), np.nan), 0.5)
    with pytest.raises(ValueError, match="y"):
        metrics.energy_score(np.zeros((3, 4, 1)), np.zeros((3, 5, 4)))
    with pytest.raises(ValueError, match="median_or_point"):
        metrics.mase(y, np.zeros((3, 5)), [np.ones(5)] * 3, 1)
    with pytest.raises(ValueError, match="insample_list"):
        metrics.mase(y, np.zeros((3, 4)), [np.ones(5)] * 2, 1)
    with pytest.raises(ValueError, match="point"):
        metrics.nd(y, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="level"):
        metrics.coverage(y, np.zeros((3, 5, 4)), 1.5)
    with pytest.raises(ValueError, match="season"):
        metrics.seasonal_error([np.ones(5)], 0)


# --------------------------------------------------------------------------- backtest reports
def _backtest_case(seed: int = 0, n: int = 3, k: int = 5, s: int = 40, h: int = 4):
    """``k`` windows of ``n`` series as Forecasts, the actuals and the whole history."""
    from tsdiff import Forecast

    rng = np.random.default_rng(seed)
    T = 48 + k * h
    t = pd.date_range("2021-01-01", periods=T, freq="h")
    values = 10 + rng.normal(0, 1, (n, T)) + 3 * np.sin(2 * np.pi * np.arange(T) / 24)
    history = pd.concat([pd.DataFrame({"item_id": f"s{i}", "timestamp": t, "target": values[i]}) for i in range(n)])
    fcs, ys, ss = [], [], []
    for w in range(k):
        c = 48 + w * h
        samples = values[:, None, c:c + h] + rng.normal(0.3, 1.0, (n, 1, h)) + rng.normal(0, 0.8, (n, s, h))
        fcs.append(Forecast(samples, [f"s{i}" for i in range(n)], [t[c:c + h]] * n, "h"))
        ys.append(values[:, c:c + h])
        ss.append(samples)
    return fcs, history, np.concatenate(ys), np.concatenate(ss)


def test_evaluate_backtest_matches_the_array_metrics():
    fcs, history, y, samples = _backtest_case()
    rep = metrics.evaluate(fcs, history, history=history, seed=3)
    assert isinstance(rep, metrics.BacktestReport)
    o = rep.overall
    assert o["wql_mean"] == pytest.approx(metrics.weighted_quantile_loss(y, samples), rel=1e-9)
    assert o["crps"] == pytest.approx(metrics.normalized_crps(y, samples), rel=1e-9)
    for level in (50, 80, 90, 95):
        assert o[f"coverage_{level}"] == pytest.approx(metrics.coverage(y, samples, level / 100))
        assert o[f"coverage_{level}_low"] <= o[f"coverage_{level}"] <= o[f"coverage_{level}_high"]
    assert (o["n_series"], o["n_windows"], o["n_points"]) == (3, 5, y.size)
    # MASE per (series, window) from the history up to the cut-off only
    per_unit = []
    for w in range(5):
        for i in range(3):
            past = history[history.item_id == f"s{i}"].target.to_numpy()[:48 + w * 4]
            per_unit.append(metrics.mase(y[w * 3 + i], metrics.sample_quantile(samples[w * 3 + i], 0.5), [past], 24))
    assert o["mase"] == pytest.approx(np.mean(per_unit), rel=1e-6)  # history read as float32
    # seasonal naive: the value one season (24 h) before each forecast step
    first = rep.per_window.iloc[0]
    past0 = np.stack([history[history.item_id == f"s{i}"].target.to_numpy()[24:28] for i in range(3)])
    assert first["wql_mean_seasonal_naive"] == pytest.approx(
        metrics.weighted_quantile_loss(y[:3], past0[:, None, :]), rel=1e-6)
    assert rep.per_window["wql_mean"].iloc[2] == pytest.approx(
        metrics.weighted_quantile_loss(y[6:9], samples[6:9]), rel=1e-9)
    assert rep.pit_counts.sum() == y.size and len(rep.pit_edges) == 11
    assert list(rep.per_series["item_id"]) == ["s0", "s1", "s2"]
    assert "wQL" in rep.to_text() and "CRPS (exact" in rep.to_text()


def test_evaluate_backtest_bootstrap_is_seeded_and_frames_work():
    fcs, history, y, samples = _backtest_case(seed=1)
    a = metrics.evaluate_backtest(fcs, history, seed=5).overall
    b = metrics.evaluate_backtest(fcs, history, seed=5).overall
    c = metrics.evaluate_backtest(fcs, history, seed=6).overall
    assert a["coverage_50_low"] == b["coverage_50_low"] and a["coverage_90_high"] == b["coverage_90_high"]
    assert (a["coverage_50_low"], a["coverage_50_high"]) != (c["coverage_50_low"], c["coverage_50_high"])
    # the same report from a frame without samples: wQL and coverage kept, CRPS and PIT need samples
    from tsdiff.forecast import sample_columns
    from tsdiff.metrics import _backtest_frame

    frame = _backtest_frame(fcs, history)
    no_samples = frame.drop(columns=sample_columns(frame))
    d = metrics.evaluate(no_samples, seed=5)
    assert d.overall["wql_mean"] == pytest.approx(a["wql_mean"], rel=1e-12)
    assert np.isnan(d.overall["crps"]) and len(d.pit) == 0 and "needs samples" in d.notes["crps"]
    with pytest.raises(ValueError, match="cutoff"):
        metrics.evaluate_backtest(no_samples.drop(columns="cutoff"))
    with pytest.raises(ValueError, match="actuals"):
        metrics.evaluate_backtest(fcs)


def test_pit_values():
    samples = np.arange(10.0).reshape(1, 10, 1)  # 0..9
    np.testing.assert_allclose(metrics.pit_values(np.array([[4.5]]), samples, randomize=False), [0.5])
    np.testing.assert_allclose(metrics.pit_values(np.array([[-1.0]]), samples), [0.0])
    np.testing.assert_allclose(metrics.pit_values(np.array([[99.0]]), samples), [1.0])
    # ties: all samples equal y -> randomized PIT spreads uniformly over [0, 1]
    pit = metrics.pit_values(np.zeros((50, 40)), np.zeros((50, 8, 40)), seed=0)
    assert 0.4 < pit.mean() < 0.6 and pit.min() < 0.05 and pit.max() > 0.95
    np.testing.assert_allclose(metrics.pit_values(np.zeros((2, 3)), np.zeros((2, 8, 3)), randomize=False), 1.0)
    with pytest.raises(ValueError, match="shapes do not match"):
        metrics.pit_values(np.zeros((2, 3)), np.zeros((2, 8, 4)))


def test_interval_coverage_uses_gluonts_sample_quantiles():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(4, 6))
    samples = rng.normal(size=(4, 40, 6))  # (S - 1) * 0.25 = 9.75: no interpolation between neighbours
    levels = [0.5, 0.9]
    got = metrics.interval_coverage(y, samples, levels)
    for level, value in zip(levels, got):
        assert value == pytest.approx(metrics.coverage(y, samples, level), abs=1e-15)
    y[0, 0] = np.nan
    lo, hi = metrics.sample_quantile(samples, 0.25), metrics.sample_quantile(samples, 0.75)
    inside = ((y >= lo) & (y <= hi))[~np.isnan(y)]
    assert metrics.interval_coverage(y, samples, [0.5])[0] == pytest.approx(inside.mean(), abs=1e-15)


# --------------------------------------------------------------------------- evaluate_forecast_frame
def _forecast_frame_and_actuals(seed: int = 0):
    from tsdiff.forecast import Forecast

    rng = np.random.default_rng(seed)
    N, S, H = 3, 50, 8
    samples = rng.normal(10.0, 2.0, size=(N, S, H))
    stamps = [pd.date_range("2024-01-01", periods=H, freq="h") for _ in range(N)]
    fc = Forecast(samples=samples, item_ids=["a", "b", "c"], timestamps=stamps, freq="h")
    frame = fc.to_dataframe(include_samples=True)
    y = rng.normal(10.0, 2.0, size=(N, H))
    actuals = pd.DataFrame({"item_id": np.repeat(["a", "b", "c"], H),
                            "timestamp": np.concatenate(stamps), "target": y.ravel()})
    return frame, actuals, y, samples


def test_evaluate_forecast_frame_matches_the_array_metrics():
    frame, actuals, y, samples = _forecast_frame_and_actuals()
    out = metrics.evaluate_forecast_frame(frame, actuals, "item_id", "timestamp")
    assert out["wql_mean"] == pytest.approx(metrics.weighted_quantile_loss(y, samples), abs=1e-12)
    assert out["crps"] == pytest.approx(metrics.normalized_crps(y, samples), rel=1e-12)
    assert out["nd"] == pytest.approx(metrics.nd(y, metrics.sample_quantile(samples, 0.5)), rel=1e-12)
    assert out["n_series"] == 3 and out["n_points"] == 24
    assert "wql_mean" in out["_notes"]


def test_evaluate_forecast_frame_bad_actuals_are_data_errors():
    from tsdiff.errors import DataError

    frame, actuals, _, _ = _forecast_frame_and_actuals()
    with pytest.raises(DataError, match="no id column 'item_id'"):
        metrics.evaluate_forecast_frame(frame, actuals.rename(columns={"item_id": "id"}), "item_id", "timestamp")
    with pytest.raises(DataError, match="no forecast"):
        metrics.evaluate_forecast_frame(frame, actuals.assign(item_id="zz"), "item_id", "timestamp")


def test_evaluate_backtest_per_series_crps_and_ratio_cis():
    from tsdiff import Forecast

    fcs, history, y, samples = _backtest_case(seed=2)
    # a series 100x larger: the pooled CRPS follows it, the per-series mean weighs every series equally
    big = [Forecast(f.samples * np.array([100.0, 1.0, 1.0])[:, None, None], f.item_ids, f.timestamps, f.freq)
           for f in fcs]
    hist_big = history.assign(target=history.target * np.where(history.item_id == "s0", 100.0, 1.0))
    rep = metrics.evaluate_backtest(big, hist_big, seed=4)
    o = rep.overall
    y_big, s_big = y.copy(), samples.copy()
    y_big[0::3] *= 100.0
    s_big[0::3] *= 100.0
    per_series = [metrics.normalized_crps(y_big[i::3], s_big[i::3]) for i in range(3)]
    assert o["crps_series_mean"] == pytest.approx(np.mean(per_series), rel=1e-9)
    assert o["crps_series_mean"] == pytest.approx(rep.per_series["crps"].mean(), rel=1e-9)
    assert o["crps"] == pytest.approx(metrics.normalized_crps(y_big, s_big), rel=1e-9)
    assert abs(o["crps"] - per_series[0]) < abs(o["crps"] - per_series[1])  # pooled: dominated by s0
    for name in ("wql_mean", "crps", "crps_series_mean"):
        assert o[f"{name}_low"] < o[name] < o[f"{name}_high"], name
    # the CI resamples windows: with every window identical it collapses onto the value
    same = [Forecast(fcs[0].samples, fcs[0].item_ids, [t + pd.Timedelta(hours=4 * w) for t in
                                                                 fcs[0].timestamps], "h") for w in range(5)]
    t = pd.date_range("2021-01-01", periods=80, freq="h")
    y0 = np.stack([history[history.item_id == f"s{i}"].target.to_numpy()[48:52] for i in range(3)])
    actuals = pd.concat([pd.DataFrame({"item_id": f"s{i}", "timestamp": t[48 + 4 * w:52 + 4 * w], "target": y0[i]})
                         for i in range(3) for w in range(5)])
    flat = metrics.evaluate_backtest(same, actuals, seed=1).overall
    for name in ("wql_mean", "crps", "crps_series_mean", "coverage_90"):
        assert flat[f"{name}_low"] == pytest.approx(flat[name], rel=1e-9)
        assert flat[f"{name}_high"] == pytest.approx(flat[name], rel=1e-9)
    assert "crps_series_mean" in rep.to_text() and o["crps_series_skipped"] == 0
    # a series that is 0 in every scored window has no ratio: left out of the mean, and counted
    zero = [Forecast(f.samples, f.item_ids, f.timestamps, f.freq) for f in fcs]
    actual0 = history.assign(target=history.target.where(history.item_id != "s2", 0.0))
    z = metrics.evaluate_backtest(zero, actual0, seed=4).overall
    assert z["crps_series_skipped"] == 1
    assert z["crps_series_mean"] == pytest.approx(np.mean([metrics.normalized_crps(y[i::3], samples[i::3])
                                                           for i in range(2)]), rel=1e-9)
    assert np.isfinite([z["crps_series_mean_low"], z["crps_series_mean_high"]]).all()
