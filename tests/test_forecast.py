"""Tests of tsdiff.forecast: the Forecast container, its frame format and the one quantile rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsdiff import metrics
from tsdiff.forecast import (
    DEFAULT_QUANTILES,
    Forecast,
    central_intervals,
    forecast_frame_columns,
    quantile_columns,
    sample_columns,
    sample_quantile,
)

H = 5


@pytest.fixture
def forecast() -> Forecast:
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(3, 40, H)).astype(np.float32)  # S = 40: (S - 1) * q falls between samples
    start = pd.Timestamp("2024-01-01")
    ts = [pd.date_range(start + pd.Timedelta(hours=k), periods=H, freq="h") for k in range(3)]
    return Forecast(samples, ["a", "b", 7], ts, "h")


def test_default_quantiles_and_rule_defined_once():
    assert metrics.DEFAULT_QUANTILES is DEFAULT_QUANTILES
    assert metrics.sample_quantile is sample_quantile
    from tsdiff import cli

    assert cli.DEFAULT_QUANTILES is DEFAULT_QUANTILES


def test_sample_quantile_is_gluonts_order_statistic():
    x = np.arange(40.0)[::-1].reshape(40, 1)  # (S, H), unsorted
    # index int(round(39 * q)), halves to even: 19.5 -> 20, 3.9 -> 4, 35.1 -> 35
    assert sample_quantile(x, 0.5)[0] == 20.0
    assert sample_quantile(x, 0.1)[0] == 4.0
    assert sample_quantile(x, 0.9)[0] == 35.0
    assert sample_quantile(x, 0.0)[0] == 0.0 and sample_quantile(x, 1.0)[0] == 39.0
    assert sample_quantile(x[None], 0.5).shape == (1, 1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sample_quantile(x, 1.5)
    with pytest.raises(ValueError, match="shape"):
        sample_quantile(np.zeros(4), 0.5)


def test_quantile_median_and_frame_follow_the_one_rule(forecast):
    s64 = forecast.samples.astype(np.float64)
    for q in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0):
        np.testing.assert_array_equal(forecast.quantile(q), sample_quantile(s64, q))
    stacked = forecast.quantile([0.1, 0.5, 0.9])
    assert stacked.shape == (3, 3, H)
    for k, q in enumerate((0.1, 0.5, 0.9)):
        np.testing.assert_array_equal(stacked[k], sample_quantile(s64, q))
    np.testing.assert_array_equal(forecast.median(), sample_quantile(s64, 0.5))
    # not numpy's interpolation: with 40 samples the two rules differ
    assert not np.allclose(forecast.quantile(0.5), np.quantile(s64, 0.5, axis=1))
    frame = forecast.to_dataframe()
    assert list(quantile_columns(frame)) == list(DEFAULT_QUANTILES)
    for q, col in quantile_columns(frame).items():
        np.testing.assert_array_equal(frame[col].to_numpy(), sample_quantile(s64, q).reshape(-1))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        forecast.quantile([0.5, 1.2])


def test_from_dataframe_round_trip_through_csv(forecast, tmp_path):
    path = tmp_path / "fc.csv"
    forecast.to_dataframe(include_samples=True).to_csv(path, index=False)
    back = Forecast.from_dataframe(pd.read_csv(path))  # string timestamps, ids "a", "b", 7 -> as read
    assert back.samples.shape == forecast.samples.shape
    assert back.samples.dtype == np.float64
    # float32 samples are written in their shortest repr, which reads back to the same float32
    np.testing.assert_array_equal(back.samples.astype(np.float32), forecast.samples)
    assert [str(i) for i in back.item_ids] == ["a", "b", "7"]
    assert back.freq == "h"
    for got, want in zip(back.timestamps, forecast.timestamps):
        pd.testing.assert_index_equal(got, want, check_names=False)
    # rows in any order come back sorted by time, series in order of first appearance
    shuffled = forecast.to_dataframe(include_samples=True).sample(frac=1.0, random_state=0)
    again = Forecast.from_dataframe(shuffled, freq="h")
    order = [again.item_ids.index(i) for i in forecast.item_ids]
    np.testing.assert_array_equal(again.samples[order], forecast.samples.astype(np.float64))


def test_from_dataframe_errors(forecast):
    frame = forecast.to_dataframe(include_samples=True)
    with pytest.raises(ValueError, match="sample_"):
        Forecast.from_dataframe(forecast.to_dataframe())
    with pytest.raises(ValueError, match="same horizon"):
        Forecast.from_dataframe(frame.iloc[:-1])
    with pytest.raises(ValueError, match="no id column 'series'"):
        Forecast.from_dataframe(frame, id_col="series")
    two = frame.groupby("item_id", sort=False).head(2)
    with pytest.raises(ValueError, match="freq="):
        Forecast.from_dataframe(two)
    assert Forecast.from_dataframe(two, freq="h").horizon == 2


def test_column_helpers():
    frame = pd.DataFrame(columns=["item_id", "timestamp", "mean", "0.9", "0.1", 0.5, "sample_10", "sample_2",
                                  "sample_x", "1.5", True])
    assert quantile_columns(frame) == {0.1: "0.1", 0.5: 0.5, 0.9: "0.9"}
    assert sample_columns(frame) == ["sample_2", "sample_10"]
    assert forecast_frame_columns(frame) == ("item_id", "timestamp")
    assert forecast_frame_columns(pd.DataFrame(columns=["id", "ds", "mean"])) == ("id", "ds")
    with pytest.raises(ValueError, match="no timestamp column 'when'"):
        forecast_frame_columns(frame, timestamp_col="when")
    assert central_intervals([0.1, 0.5, 0.9, 0.25, 0.75]) == {0.8: (0.1, 0.9), 0.5: (0.25, 0.75)}
    assert central_intervals([0.5]) == {}


def test_shape_checks_and_item_lookup(forecast):
    assert (forecast.n_series, forecast.n_samples, forecast.horizon, len(forecast)) == (3, 40, H, 3)
    np.testing.assert_array_equal(forecast[7].samples[0], forecast.samples[2])
    with pytest.raises(KeyError, match="'zz'"):
        forecast.index_of("zz")
    with pytest.raises(ValueError, match="n_series"):
        Forecast(forecast.samples, ["a"], forecast.timestamps, "h")
    with pytest.raises(ValueError, match="shape"):
        Forecast(forecast.samples[0], ["a"], forecast.timestamps[:1], "h")
    with pytest.raises(ValueError, match="no sample paths"):
        Forecast(np.zeros((1, 0, H)), ["a"], forecast.timestamps[:1], "h").quantile(0.5)
