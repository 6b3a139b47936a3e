"""benchmarks/rolling.py: the pure helpers of the rolling-window protocol (no training)."""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import rolling  # noqa: E402

from tsdiff import metrics  # noqa: E402


def test_finite_ensemble_targets_are_what_a_calibrated_ensemble_covers():
    assert rolling.finite_ensemble_coverage(0.5, 100) == pytest.approx(49 / 101)
    assert rolling.finite_ensemble_coverage(0.9, 100) == pytest.approx(89 / 101)
    # outcomes exchangeable with the samples (same law) hit exactly these rates, not 0.5 / 0.9
    rng = np.random.default_rng(0)
    y = rng.normal(size=(4000, 1))
    samples = rng.normal(size=(4000, 100, 1))
    for level in (0.5, 0.9):
        assert metrics.coverage(y, samples, level) == pytest.approx(rolling.finite_ensemble_coverage(level, 100),
                                                                    abs=0.015)
    assert rolling.finite_ensemble_coverage(0.9, 20) != rolling.finite_ensemble_coverage(0.9, 100)


def test_distinct_series_drops_rolling_prefixes_only():
    start = pd.Period("2020-01-01", "D")
    a = np.arange(10.0)
    b = np.arange(10.0) * 2
    entries = [{"start": start, "target": a[:6], "feat_static_cat": [0]},
               {"start": start, "target": b[:6], "feat_static_cat": [1]},
               {"start": start, "target": a, "feat_static_cat": [0]},
               {"start": start, "target": b, "feat_static_cat": [1]},
               {"start": start, "target": a[:6] + 1, "feat_static_cat": [0]}]  # not a prefix: another series
    kept = rolling.distinct_series(entries)
    assert [len(e["target"]) for e in kept] == [10, 10, 6]
    assert kept[2]["target"][0] == 1.0
    nan = np.array([1.0, np.nan, 3.0, 4.0])
    assert len(rolling.distinct_series([{"start": start, "target": nan[:2]}, {"start": start, "target": nan}])) == 1


def test_cut_positions_match_cross_validation_windows():
    from tsdiff.estimator import history_before_windows

    cuts = rolling.cut_positions([50, 40], 3, 5)
    np.testing.assert_array_equal(cuts, [[35, 40, 45], [25, 30, 35]])
    frame = pd.concat([pd.DataFrame({"item_id": k, "timestamp": pd.date_range("2021", periods=n, freq="h"),
                                     "target": np.arange(n, dtype=float)}) for k, n in (("a", 50), ("b", 40))])
    hist = history_before_windows(frame, 3, 5, freq="h")
    assert hist.groupby("item_id").size().to_dict() == {"a": 35, "b": 25}
    # the training history ends right before each series' first scored window
    assert hist.groupby("item_id")["target"].max().to_dict() == {"a": cuts[0, 0] - 1, "b": cuts[1, 0] - 1}
    assert rolling.windows_allowed(93, 13, 1) == 5 and rolling.windows_allowed(156, 8, 1) == 17
    assert rolling.windows_allowed(748, 48, 24) == 13 and rolling.windows_allowed(20, 24, 24) == 1


def test_static_cardinality_and_truncation():
    start = pd.Period("2020-01-01", "D")
    entries = [{"start": start, "target": np.arange(5.0), "feat_static_cat": [i]} for i in (0, 3, 1)]
    assert rolling.static_cardinality(entries) == [4]
    assert rolling.static_cardinality([{"start": start, "target": np.arange(5.0)}]) is None
    short = rolling.truncated(entries[1], 2)
    assert list(short["target"]) == [0.0, 1.0] and short["feat_static_cat"] == [3] and len(entries[1]["target"]) == 5


def test_series_median_mase_ignores_the_series_without_one_and_resists_a_near_periodic_series():
    class Report:
        def __init__(self, values):
            self.per_series = pd.DataFrame({"mase": values})

    # One near-periodic series (in-sample seasonal naive error ~0) has MASE 300: the mean is 101, the median 2.
    report = Report([1.0, 2.0, 300.0, np.nan])
    assert rolling.series_median_mase(report) == 2.0
    # An exactly periodic series (error 0, MASE inf) still counts as the worst one; no MASE at all: NaN.
    assert rolling.series_median_mase(Report([1.0, 2.0, 3.0, np.inf])) == 2.5
    assert np.isnan(rolling.series_median_mase(Report([np.nan, np.nan])))
    report.overall = collections.defaultdict(float, mase=101.0)  # every other overall score 0.0
    fields = rolling.report_fields(report, 100)
    assert fields["mase_series_median"] == 2.0 and fields["mase"] == 101.0
    assert "mase_series_median" in rolling.COLUMNS
