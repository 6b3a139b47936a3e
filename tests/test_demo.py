"""Tests for tsdiff.demo: the whole demo job end to end, on a tiny budget."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tsdiff.demo import run_demo, score_test_window

pytest.importorskip("matplotlib")  # the fan chart (a third-party extra; tsdiff modules never skip)

METRIC_KEYS = {"crps_exact_normalized", "mean_wQuantileLoss", "mase", "nd", "coverage_50", "coverage_90"}


def test_run_demo_tiny_budget_writes_chart_and_results(tmp_path):
    lines: list[str] = []
    # a small network and few calibration samples keep the run to seconds (**model_kwargs reach TSDiff)
    result = run_demo(out_dir=tmp_path, max_steps=5, n_samples=4, progress=False, num_threads=1, echo=lines.append,
                      hidden_channels=8, channel_mults=(1, 2), embedding_dim=16, encoder_channels=8,
                      batch_size=16, num_val_windows=8, calibration_samples=8)

    chart = tmp_path / "fan_chart.png"
    assert chart.is_file() and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert chart.stat().st_size > 10_000
    saved = json.loads((tmp_path / "demo_results.json").read_text())
    assert saved["fan_chart"] == str(chart)
    assert saved["n_samples"] == 4 and saved["prediction_length"] == 24 and saved["dataset"] == "ett_small_1h"
    assert saved["train_steps"] == 5 == result["train_steps"]
    for key in ("git_sha", "hardware", "wall_seconds", "train_seconds", "predict_seconds", "seed"):
        assert key in saved, key
    assert set(saved["metrics"]) == {"tsdiff", "seasonal_naive"}
    for name, row in saved["metrics"].items():
        assert set(row) == METRIC_KEYS, name
        assert all(math.isfinite(v) for v in row.values()), (name, row)
        assert 0.0 <= row["coverage_50"] <= row["coverage_90"] <= 1.0
    # the report names both models and the chart
    text = "\n".join(lines)
    assert "seasonal_naive" in text and "tsdiff" in text and str(chart) in text


def test_score_test_window_seasonal_naive_is_exact_on_a_periodic_series():
    H, season = 24, 24

    class _Fc:
        item_ids = ["a"]
        samples = np.tile(np.sin(np.arange(H) * 2 * np.pi / season), (1, 3, 1))

    target = np.sin(np.arange(10 * season) * 2 * np.pi / season) + 2.0
    fc = _Fc()
    fc.samples = fc.samples + 2.0
    y, insample, rows = score_test_window(fc, [{"item_id": "a", "target": target}], H, season=season)
    np.testing.assert_allclose(y[0], target[-H:])
    assert len(insample[0]) == len(target) - H
    for name in ("tsdiff", "seasonal_naive"):
        assert rows[name]["nd"] < 1e-9 and rows[name]["mean_wQuantileLoss"] < 1e-9
