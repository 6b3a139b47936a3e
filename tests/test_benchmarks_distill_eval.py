"""benchmarks/distill_eval.py: the student-mean row over sampling seeds."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import distill_eval  # noqa: E402


def _row(pred_seed: int, wql: float, teacher_wql: float, c50: float, t50: float) -> dict:
    return {"pred_seed": pred_seed, "n_entries": 10, "n_samples": 100, "predict_seconds": 1.0,
            "mean_wQuantileLoss": wql, "crps": wql, "crps_series": wql, "coverage_50": c50, "coverage_90": 0.9,
            "teacher_wql": teacher_wql, "wql_vs_teacher": wql / teacher_wql - 1.0, "coverage_50_diff": c50 - t50,
            "coverage_90_diff": 0.0}


def test_mean_row_averages_scores_and_differences_over_seeds():
    rows = [_row(1, 0.0105, 0.0100, 0.50, 0.47), _row(2, 0.0190, 0.0200, 0.46, 0.47)]
    out = distill_eval.mean_row(1, rows, {"dataset": "d"}, wall0=0.0)
    assert out["part"] == "student-mean" and out["steps"] == 1 and out["n_pred_seeds"] == 2
    assert out["pred_seed"] == "1 2" and out["dataset"] == "d"
    # wQL against the teacher: ratio of the mean wQLs (0.01475 / 0.015), not the mean of +5% and -5%.
    assert out["wql_vs_teacher"] == pytest.approx(0.01475 / 0.015 - 1.0)
    assert out["coverage_50_diff"] == pytest.approx(0.01)
    assert out["coverage_50"] == pytest.approx(0.48)
    assert out["coverage_50_diff_sd"] == pytest.approx(np.std([0.03, -0.01], ddof=1))
    assert out["wql_vs_teacher_sd"] == pytest.approx(np.std([0.05, -0.05], ddof=1))


def test_pred_seeds_below_one_is_refused_before_any_work(capsys):
    with pytest.raises(SystemExit):
        distill_eval.main(["--model", "nowhere", "--dataset", "m4_hourly", "--pred-seeds", "0"])
    assert "--pred-seeds must be >= 1" in capsys.readouterr().err


def test_append_rows_rewrites_an_older_header_with_the_new_columns(tmp_path):
    import csv

    path = tmp_path / "d.csv"
    old = [c for c in distill_eval.COLUMNS if c != "student_tail_length"]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=old)
        writer.writeheader()
        writer.writerow({"dataset": "a", "steps": 1, "distill_time_ratio": 0.5, "model_path": "m"})
    distill_eval.append_rows(path, [{"dataset": "b", "steps": 2, "student_tail_length": 0, "model_path": "n"}])
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames == distill_eval.COLUMNS
    assert [(r["dataset"], r["steps"], r["distill_time_ratio"], r["student_tail_length"], r["model_path"])
            for r in rows] == [("a", "1", "0.5", "", "m"), ("b", "2", "", "0", "n")]
    # A column this script never writes: refused, the file left alone.
    odd = tmp_path / "odd.csv"
    odd.write_text("dataset,mystery\nx,1\n")
    with pytest.raises(ValueError, match=r"mystery"):
        distill_eval.append_rows(odd, [{"dataset": "b"}])
    assert odd.read_text() == "dataset,mystery\nx,1\n"
