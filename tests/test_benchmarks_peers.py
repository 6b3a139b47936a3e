"""benchmarks/_peers.py: the GluonTS peers' validation split never reaches a test window; peer settings; TFT samples."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("gluonts")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _peers import (  # noqa: E402  (benchmark-only code)
    check_no_test_overlap,
    last_window_inputs,
    peer_settings,
    quantile_forecast_samples,
    series_key,
    validation_split,
)
from run_benchmarks import per_series_crps  # noqa: E402

H = 4
START = pd.Period("2024-01-01 00:00", freq="h")


def _entry(n: int, cat: int, item: str) -> dict:
    return {"start": START, "target": np.arange(n, dtype=float), "feat_static_cat": np.array([cat]), "item_id": item,
            "feat_dynamic_real": np.ones((2, n))}


def test_validation_split_holds_out_the_last_window_of_each_training_series():
    train = [_entry(20, 0, "a"), _entry(H, 1, "b")]  # "b" is too short to train on without its last window
    fit, val = validation_split(train, H)
    assert len(fit) == 1 and len(val) == 2
    np.testing.assert_array_equal(fit[0]["target"], np.arange(16))
    assert fit[0]["feat_dynamic_real"].shape == (2, 16)
    assert train[0]["target"].shape == (20,)  # the input entries are not modified
    # GluonTS's validation sampler (the one of DeepAR, PatchTST and TFT) takes the last H points of each
    # validation entry: exactly the points the training entries lack
    from gluonts.transform import ValidationSplitSampler

    assert ValidationSplitSampler(min_future=H)(np.arange(20.0)).tolist() == [20 - H]


def test_the_overlap_check_passes_the_gluonts_split_and_catches_a_leak():
    # test split = training series + two rolling windows; training ends where the first test window starts
    train = [_entry(20, 0, "0"), _entry(20, 1, "1")]
    test = [_entry(20 + k * H, c, f"{k}-{c}") for k in (1, 2) for c in (0, 1)]
    inputs, _ = last_window_inputs(test, H)
    assert check_no_test_overlap(train, inputs) == {"n_checked": 4, "min_gap": 0}
    leaky = [_entry(21, 0, "0"), _entry(20, 1, "1")]  # one training point inside the first test window
    with pytest.raises(ValueError, match=r"training series \('cat', 0\) ends 1 steps inside a test window"):
        check_no_test_overlap(leaky, inputs)
    with pytest.raises(ValueError, match="no test entry could be matched"):
        check_no_test_overlap([_entry(20, 7, "x")], inputs)


def test_series_key_uses_the_static_category_else_the_item_id():
    assert series_key({"feat_static_cat": np.array([3]), "item_id": 17}) == ("cat", 3)
    assert series_key({"item_id": "OT_1"}) == ("id", "OT_1")


def test_peer_settings_give_deepar_tsdiffs_inputs_and_keep_the_default_row_default():
    fair = peer_settings("deepar", "H", 312, 414)
    assert fair == {"context_length": 312, "num_feat_static_cat": 1, "cardinality": [414]}
    assert peer_settings("deepar", "h", 336, None) == {"context_length": 336}
    assert peer_settings("deepar[default]", "H", 312, 414) == {}
    weekly = peer_settings("patchtst", "W", 104, 359)
    assert (weekly["patch_len"], weekly["stride"], weekly["context_length"]) == (24, 2, 104)  # ILI script
    hourly = peer_settings("patchtst", "h", 336, None)
    assert (hourly["patch_len"], hourly["stride"], hourly["d_model"]) == (16, 8, 16)  # ETTh1 script, small encoder
    tft = peer_settings("tft", "B", 360, 8)
    assert tft["context_length"] == 252 and tft["static_cardinalities"] == [8] and 0.05 in tft["quantiles"]
    with pytest.raises(ValueError, match="unknown GluonTS peer"):
        peer_settings("nbeats", "H", 312, None)


def test_quantile_forecast_samples_follow_the_learned_quantiles():
    from gluonts.model.forecast import QuantileForecast

    levels = [0.1, 0.5, 0.9]
    arrays = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    f = QuantileForecast(arrays, START, [str(q) for q in levels])
    s = quantile_forecast_samples(f, 100)
    assert s.shape == (100, 2) and np.all(np.diff(s, axis=0) >= 0)
    # the sample at level 0.505 (index 50) interpolates between the 0.5 and 0.9 quantiles
    np.testing.assert_allclose(s[50], [2.0 + 0.005 / 0.4, 20.0 + 10 * 0.005 / 0.4], rtol=1e-9)
    np.testing.assert_allclose(s[10], [1.0 + 0.005 / 0.4, 10.0 + 10 * 0.005 / 0.4], rtol=1e-9)  # level 0.105


def test_per_series_crps_weighs_series_equally_and_pools_windows():
    y = np.array([[100.0, 100.0], [1.0, 1.0], [1.0, 1.0]])
    samples = np.stack([y[0] + 10.0, y[1] + 1.0, y[2] + 1.0])[:, None, :]  # one-sample "ensembles"
    # series 0: CRPS 10 per point / |y| 100 = 0.1; series 1 (two windows pooled): 1 / 1 = 1.0
    assert per_series_crps(y, samples, keys=["a", "b", "b"]) == pytest.approx(0.55)
    assert per_series_crps(y, samples) == pytest.approx((0.1 + 1.0 + 1.0) / 3)


def test_budgets_default_per_dataset_exceptions_and_overrides():
    from _peers import gluonts_budget

    assert gluonts_budget("deepar", "m4_hourly") == {"max_epochs": 100, "num_batches_per_epoch": 50, "patience": 20}
    assert gluonts_budget("tft", "ett_small_15min")["max_epochs"] == 40
    assert gluonts_budget("tft", "ett_small_15min", max_epochs=2, patience=None) == {
        "max_epochs": 2, "num_batches_per_epoch": 50, "patience": 20}


def test_autoarima_is_skipped_with_its_reason_when_over_the_time_limit():
    pytest.importorskip("statsforecast")
    from _peers import statsforecast_forecasts

    rng = np.random.default_rng(0)
    inputs = [{"start": START, "target": 10 + rng.normal(size=60), "item_id": i} for i in range(3)]
    forecasts, note = statsforecast_forecasts("autoarima", inputs, "h", H, 20, 50, time_limit=1e-9)
    assert forecasts is None
    assert note.startswith("skipped: 1 series took") and "for all 3 (limit 0 s)" in note
    forecasts, note = statsforecast_forecasts("autoarima", inputs, "h", H, 20, 50, time_limit=3600)
    assert len(forecasts) == 3 and forecasts[0].samples.shape == (20, H) and "fit on the last 50 points" in note
    assert np.all(np.diff(forecasts[0].samples, axis=0) >= 0)  # the Gaussian quantile ensemble is ordered
