"""Plots: rendered headless to PNG, and the plotted data checked against the forecast."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")  # tests only: the library never selects a backend at import
import matplotlib.pyplot as plt  # noqa: E402

from tsdiff.forecast import Forecast, quantile_columns  # noqa: E402
from tsdiff.metrics import interval_coverage  # noqa: E402
from tsdiff.plotting import (  # noqa: E402
    plot_backtest_report,
    plot_calibration,
    plot_forecast,
    plot_forecast_frame,
    plot_forecasts_grid,
    plot_reverse_diffusion,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
H = 12


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def forecast() -> Forecast:
    rng = np.random.default_rng(0)
    samples = rng.normal(loc=10.0, scale=2.0, size=(3, 64, H))
    ids = ["a", "b", "c"]
    ts = [pd.date_range("2024-01-03", periods=H, freq="h") for _ in ids]
    return Forecast(samples, ids, ts, "h")


@pytest.fixture
def history() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    ts = pd.date_range(end="2024-01-02 23:00", periods=100, freq="h")
    return pd.concat([pd.DataFrame({"item_id": i, "timestamp": ts, "target": 10 + rng.normal(size=100)})
                      for i in "abc"], ignore_index=True)


def _assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5000  # a real drawing, not an empty canvas


def _band(ax, label):
    (coll,) = [c for c in ax.collections if c.get_label() == label]
    return coll


def _band_edges(coll, x):
    """Lower and upper edge of a fill_between band at each x (from the polygon vertices)."""
    verts = np.concatenate([p.vertices for p in coll.get_paths()])
    xs = matplotlib.dates.date2num(x)
    lo = np.array([verts[np.isclose(verts[:, 0], v, rtol=0, atol=1e-9), 1].min() for v in xs])
    hi = np.array([verts[np.isclose(verts[:, 0], v, rtol=0, atol=1e-9), 1].max() for v in xs])
    return lo, hi


def _line(ax, label):
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return line


def test_import_does_not_import_matplotlib():
    code = ("import sys, tsdiff, tsdiff.plotting, tsdiff.forecast, tsdiff.cli; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported at import time'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fan_chart_data_and_png(forecast, history, tmp_path):
    ax = plot_forecast(forecast, item_id="b", history=history, actuals=history, n_paths=3)
    i = forecast.index_of("b")
    x = forecast.timestamps[i]
    # 80% band = sample quantiles 0.1 and 0.9
    lo, hi = _band_edges(_band(ax, "80% interval"), x)
    np.testing.assert_allclose(lo, forecast.quantile(0.1)[i])
    np.testing.assert_allclose(hi, forecast.quantile(0.9)[i])
    lo95, hi95 = _band_edges(_band(ax, "95% interval"), x)
    np.testing.assert_allclose(lo95, forecast.quantile(0.025)[i])
    np.testing.assert_allclose(hi95, forecast.quantile(0.975)[i])
    # the median line
    med = _line(ax, "median")
    np.testing.assert_allclose(med.get_ydata(), forecast.median()[i])
    assert np.array_equal(med.get_xdata(), x.to_numpy())
    # history tail defaults to 4 * horizon points, of series b
    hist = _line(ax, "history")
    expected = history[history.item_id == "b"].target.to_numpy()[-4 * H:]
    np.testing.assert_allclose(hist.get_ydata(), expected)
    # three thin sample paths; the actuals do not overlap the forecast window, so none drawn
    paths = [ln for ln in ax.get_lines() if ln.get_linewidth() < 1.0]
    assert len(paths) == 3
    np.testing.assert_allclose(paths[0].get_ydata(), forecast.samples[i, 0])
    assert "actual" not in [ln.get_label() for ln in ax.get_lines()]
    assert ax.get_legend() is not None and ax.get_title() == "b"
    out = tmp_path / "fan.png"
    ax.figure.savefig(out)
    _assert_png(out)


def test_fan_chart_series_history_actuals_default_item(forecast, tmp_path):
    ts = forecast.timestamps[0]
    past = pd.Series(np.arange(30.0), index=pd.date_range(end=ts[0] - pd.Timedelta("1h"), periods=30, freq="h"))
    future = pd.Series(np.linspace(5, 15, H), index=ts)
    ax = forecast.plot(history=past, actuals=future, history_tail=10, intervals=(0.5,), title="T")
    np.testing.assert_allclose(_line(ax, "history").get_ydata(), np.arange(20.0, 30.0))
    np.testing.assert_allclose(_line(ax, "actual").get_ydata(), future.to_numpy())
    assert [c.get_label() for c in ax.collections] == ["50% interval"]
    np.testing.assert_allclose(_line(ax, "median").get_ydata(), forecast.median()[0])
    assert ax.get_title() == "T"


def test_fan_chart_on_given_axes_and_tz(forecast):
    tz_fc = Forecast(forecast.samples[:1], ["x"], [pd.date_range("2024-03-30", periods=H, freq="h", tz="Europe/Paris")],
                     "h")
    fig, ax = plt.subplots()
    out = plot_forecast(tz_fc, ax=ax, legend=False)
    assert out is ax and ax.get_legend() is None
    # wall-clock times of the forecast on the x axis
    assert pd.Timestamp(_line(ax, "median").get_xdata()[0]) == pd.Timestamp("2024-03-30")


def test_fan_chart_bad_arguments(forecast):
    with pytest.raises(KeyError, match="zzz"):
        plot_forecast(forecast, item_id="zzz")
    with pytest.raises(ValueError, match="between 0 and 1"):
        plot_forecast(forecast, intervals=(0.8, 1.5))
    with pytest.raises(ValueError, match="target column"):
        plot_forecast(forecast, history=pd.DataFrame({"item_id": ["a"], "timestamp": ["2024-01-01"],
                                                      "u": [1.0], "v": [2.0]}))


def test_grid(forecast, history, tmp_path):
    fig = plot_forecasts_grid(forecast, ncols=2, history=history)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3 and len(fig.axes) == 4
    assert [ax.get_title() for ax in visible] == ["a", "b", "c"]
    assert visible[0].get_legend() is not None and visible[1].get_legend() is None
    for k, ax in enumerate(visible):
        np.testing.assert_allclose(_line(ax, "median").get_ydata(), forecast.median()[k])
    fig.savefig(tmp_path / "grid.png")
    _assert_png(tmp_path / "grid.png")
    with pytest.warns(UserWarning, match="first 2 of 3"):
        fig2 = plot_forecasts_grid(forecast, item_ids=["c", "a", "b"], max_series=2)
    assert [ax.get_title() for ax in fig2.axes if ax.get_visible()] == ["c", "a"]


def test_forecast_frame_plot_matches_quantile_columns(forecast, history, tmp_path):
    frame = forecast.to_dataframe(include_samples=True)
    assert list(quantile_columns(frame)) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    ax = plot_forecast_frame(frame, item_id="c", history=history, n_paths=2)
    x = forecast.timestamps[2]
    assert [c.get_label() for c in ax.collections] == ["80% interval", "60% interval", "40% interval",
                                                       "20% interval"]
    lo, hi = _band_edges(_band(ax, "60% interval"), x)
    np.testing.assert_allclose(lo, forecast.quantile(0.2)[2])
    np.testing.assert_allclose(hi, forecast.quantile(0.8)[2])
    np.testing.assert_allclose(_line(ax, "median").get_ydata(), forecast.quantile(0.5)[2])
    assert len([ln for ln in ax.get_lines() if ln.get_linewidth() < 1.0]) == 2
    ax.figure.savefig(tmp_path / "frame.png")
    _assert_png(tmp_path / "frame.png")
    # a frame read back from CSV: string timestamps, quantile columns as strings
    path = tmp_path / "fc.csv"
    frame.drop(columns=[c for c in frame.columns if c.startswith("sample_")]).to_csv(path, index=False)
    back = pd.read_csv(path)
    ax2 = plot_forecast_frame(back, intervals=(0.8,))
    assert [c.get_label() for c in ax2.collections] == ["80% interval"]
    with pytest.raises(ValueError, match="no quantile columns for a 95% interval"):
        plot_forecast_frame(back, intervals=(0.95,))


def test_calibration_plot(tmp_path):
    rng = np.random.default_rng(2)
    n, s = 20, 200
    y = rng.normal(size=(n, H))
    samples = rng.normal(size=(n, s, H))
    y[0, 0] = np.nan  # missing values are skipped
    fig = plot_calibration(y, samples, n_bins=10)
    ax_pit, ax_cov = fig.axes
    counts = np.array([p.get_height() for p in ax_pit.patches])
    assert len(counts) == 10
    assert counts.sum() == n * H - 1
    levels = np.arange(1, 10) / 10
    (emp,) = [ln for ln in ax_cov.get_lines() if ln.get_label() == "empirical"]
    np.testing.assert_allclose(emp.get_xdata(), levels)
    np.testing.assert_allclose(emp.get_ydata(), interval_coverage(y, samples, levels))
    # calibrated forecast: coverage close to nominal
    assert np.max(np.abs(emp.get_ydata() - levels)) < 0.08
    fig.savefig(tmp_path / "cal.png")
    _assert_png(tmp_path / "cal.png")


def test_reverse_diffusion(tmp_path):
    rng = np.random.default_rng(3)
    traj = rng.normal(size=(4, 10, H))
    steps = [100, 50, 10, 0]
    ts = pd.date_range("2024-01-03", periods=H, freq="h")
    fig = plot_reverse_diffusion(traj, steps, timestamps=ts, history=rng.normal(size=24), n_paths=3)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["t = 100", "t = 50", "t = 10", "t = 0"]
    for k, ax in enumerate(axes):
        lines = ax.get_lines()
        assert len(lines) == 1 + 3  # history + paths
        np.testing.assert_allclose(lines[1].get_ydata(), traj[k, 0])
    fig.savefig(tmp_path / "rev.png")
    _assert_png(tmp_path / "rev.png")
    fig2 = plot_reverse_diffusion(traj, steps, n_paths=2, ncols=2)
    assert len(fig2.axes) == 4
    with pytest.raises(ValueError, match="step labels"):
        plot_reverse_diffusion(traj, [1, 2])


def test_plot_backtest_report_draws_reliability_pit_and_wql_per_window():
    from tsdiff.metrics import evaluate_backtest

    rng = np.random.default_rng(0)
    t = pd.date_range("2021-01-01", periods=60, freq="h")
    history = pd.DataFrame({"item_id": "a", "timestamp": t, "target": 5 + rng.normal(size=60)})
    fcs = [Forecast(5 + rng.normal(size=(1, 30, 4)), ["a"], [t[c:c + 4]], "h") for c in (48, 52, 56)]
    report = evaluate_backtest(fcs, history, history=history)
    fig = plot_backtest_report(report)
    rel, pit, wql = fig.axes[:3]
    x, y = rel.lines[1].get_data()
    np.testing.assert_allclose(x, np.round(np.arange(1, 10) / 10, 10))
    np.testing.assert_allclose(y, report.reliability["observed"].to_numpy())
    assert sum(p.get_height() for p in pit.patches) == 12
    labels = [ln.get_label() for ln in wql.lines]
    assert labels == ["tsdiff", "seasonal naive"]
    np.testing.assert_allclose(wql.lines[0].get_ydata(), report.per_window["wql_mean"])
    plt.close(fig)
