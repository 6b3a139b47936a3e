"""benchmarks/covariates.py: covariates are filled without look-ahead (no training, fast)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import covariates  # noqa: E402

H = 4
COVS = ["load", "temp"]


def _problem(seed: int = 0, length: int = 60) -> dict:
    """Two target series with two covariates; gaps at the start, inside training and right before cut-offs."""
    rng = np.random.default_rng(seed)
    parts = []
    for item in ("a", "b"):
        part = pd.DataFrame({"item_id": item, "timestamp": pd.date_range("2021-01-01", periods=length, freq="h"),
                             "target": rng.normal(size=length)})
        for c in COVS:
            values = rng.normal(size=length)
            values[[0, 1, 10, 11, 12]] = np.nan                 # leading gap and an inner gap
            cut = length - covariates.N_WINDOWS * H
            values[[cut - 1 + k * H for k in range(covariates.N_WINDOWS)]] = np.nan  # the steps before cut-offs
            values[cut + 2 * H - 2] = np.nan
            part[c] = values
        parts.append(part)
    return {"frame": pd.concat(parts, ignore_index=True), "H": H, "covariates": COVS, "items": ["a", "b"]}


def _rows(split: dict, window: int) -> pd.DataFrame:
    hist = split["history"]
    return hist[hist["item_id"].str.endswith(f"@w{window}")].reset_index(drop=True)


@pytest.mark.parametrize("window", range(covariates.N_WINDOWS))
def test_no_window_sees_covariates_after_its_cutoff(window):
    problem = _problem()
    split = covariates.windows(problem)
    frame = problem["frame"]
    step = frame.groupby("item_id").cumcount().to_numpy()
    cut = 60 - covariates.N_WINDOWS * H + window * H
    later = step >= cut
    changed = frame.copy()
    rng = np.random.default_rng(1)
    changed.loc[later, COVS] = rng.normal(size=(later.sum(), len(COVS))) * 100
    changed.loc[later & (step % 3 == 0), COVS] = np.nan     # other gaps too
    split2 = covariates.windows({**problem, "frame": changed})
    pd.testing.assert_frame_equal(_rows(split, window), _rows(split2, window))
    if window == 0:
        pd.testing.assert_frame_equal(split["train"], split2["train"])
    # the later windows do see the change (the test could fail)
    if window + 1 < covariates.N_WINDOWS:
        assert not _rows(split, window + 1)[COVS].equals(_rows(split2, window + 1)[COVS])


def test_fill_is_forward_within_each_slice():
    problem = _problem()
    split = covariates.windows(problem)
    assert not split["train"][COVS].isna().any().any()
    assert not split["history"][COVS].isna().any().any()
    raw = problem["frame"]
    a = raw[raw.item_id == "a"].reset_index(drop=True)
    train_a = split["train"][split["train"].item_id == "a"].reset_index(drop=True)
    # inner gap: the last value before it, not an interpolation towards the next one
    assert train_a.loc[10:12, "load"].tolist() == [a.loc[9, "load"]] * 3
    # leading gap: the slice's first observed value (the only back fill)
    assert train_a.loc[0:1, "load"].tolist() == [a.loc[2, "load"]] * 2
    # a gap right before a cut-off is the previous value in the window's history
    cut = 60 - covariates.N_WINDOWS * H
    w1 = _rows(split, 1)
    w1a = w1[w1.item_id == "a@w1"].reset_index(drop=True)
    assert w1a.loc[cut + H - 1, "temp"] == a.loc[cut + H - 2, "temp"]
    # the oracle's future covariates: forward-filled over history + horizon
    fut = split["future"]
    f0 = fut[fut.item_id == "a@w0"].reset_index(drop=True)
    assert f0.loc[H - 1, "load"] == a.loc[cut + H - 2, "load"]
    np.testing.assert_allclose(f0["target"], a.loc[cut:cut + H - 1, "target"])


def test_causal_fill_keeps_series_apart():
    part = pd.DataFrame({"item_id": ["x", "x", "y", "y"], "c": [1.0, np.nan, np.nan, 5.0]})
    assert covariates.causal_fill(part, ["c"])["c"].tolist() == [1.0, 1.0, 5.0, 5.0]


def test_table_shows_one_commit_with_mean_and_sd_over_seeds(tmp_path):
    def row(variant: str, seed: int, crps: float, sha: str = "a" * 40) -> dict:
        return {"dataset": "ett_small_1h", "variant": variant, "seed": str(seed), "status": "ok", "crps_exact": crps,
                "wql_mean": crps, "mase": 0.5, "coverage_50": 0.5, "coverage_90": 0.9, "train_s": 10.0,
                "train_steps": 100, "best_step": 100 - seed, "max_steps": 100, "git_sha": sha}
    path = tmp_path / "covariates.csv"
    pd.DataFrame([row("none", 0, 0.10), row("none", 1, 0.12), row("past", 0, 0.09), row("past", 1, 0.12),
                  row("none", 2, 9.0, sha="b" * 40)]).to_csv(path, index=False)
    text = covariates.table(path, commit="aaaa")
    lines = {ln.split("|")[2].strip(): [c.strip() for c in ln.split("|")] for ln in text.splitlines()
             if ln.startswith("| ett_small_1h")}
    assert lines["none"][3:5] == ["2", f"0.1100 ± {np.std([0.10, 0.12], ddof=1):.4f}"]   # commit b's row left out
    assert lines["past"][7:9] == ["0.50 / 0.90", "100, 99"]
    assert lines["past"][10] == "-10.0%, +0.0%"                                          # against none, seed by seed
