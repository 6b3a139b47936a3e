"""benchmarks/make_table.py: the summary's one-commit selection, mean ± sd over seeds, history rows."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from make_table import exclusion, make_table, mean_sd, select_commit  # noqa: E402  (benchmark script)

A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)
PLAN = {("d1", "tsdiff", 0), ("d1", "tsdiff", 1), ("d1", "autoets", 0)}


def _row(sha: str, model: str = "tsdiff", seed: int = 0, dataset: str = "d1", when: str = "2026-01-01T00:00:00",
         **kw) -> dict[str, str]:
    budget = "steps=4000" if model == "tsdiff" else ""
    return {"dataset": dataset, "model": model, "seed": str(seed), "status": "ok", "git_sha": sha,
            "budget_seconds": budget, "finished_at": when, "command": "python benchmarks/run_benchmarks.py",
            "mean_wQuantileLoss": "0.1", **kw}


def _complete(sha: str, when: str) -> list[dict[str, str]]:
    return [_row(sha, "tsdiff", 0, when=when), _row(sha, "tsdiff", 1, when=when), _row(sha, "autoets", 0, when=when)]


def test_the_newest_complete_clean_commit_wins():
    rows = (_complete(A, "2026-01-01T00:00:00")
            + [_row(B, "tsdiff", 0, when="2026-01-05T00:00:00")]                 # newer but incomplete
            + _complete(C + "+dirty", "2026-01-09T00:00:00"))                    # complete but dirty
    sha, info = select_commit(rows, PLAN)
    assert sha == A and info["complete"] and info["n_rows"] == 3 and info["missing"] == []
    sha, _ = select_commit(rows + _complete(D, "2026-01-07T00:00:00"), PLAN)
    assert sha == D


def test_without_a_complete_commit_the_one_with_most_rows_is_used_and_said_incomplete():
    rows = [_row(A, "tsdiff", 0, when="2026-01-01T00:00:00"), _row(A, "autoets", 0, when="2026-01-01T00:00:00"),
            _row(B, "tsdiff", 0, when="2026-01-05T00:00:00")]
    sha, info = select_commit(rows, PLAN)
    assert sha == A and not info["complete"] and info["missing"] == [("d1", "tsdiff", 1)]
    assert select_commit(rows, None)[0] == A                      # no plan: most rows
    assert select_commit(rows[:1] + rows[2:], None)[0] == B       # equal counts: the newest


def test_a_commit_can_be_chosen_by_prefix():
    rows = _complete(A, "2026-01-01T00:00:00") + [_row(B, when="2026-01-05T00:00:00")]
    assert select_commit(rows, PLAN, commit="bbbb")[0] == B
    with pytest.raises(ValueError, match="matches 0 commits"):
        select_commit(rows, PLAN, commit="eeee")


def test_no_usable_row_gives_no_commit():
    sha, info = select_commit([_row(A + "+dirty")], PLAN)
    assert sha is None and info["n_rows"] == 0 and len(info["missing"]) == 3


@pytest.mark.parametrize("changes, reason", [
    ({}, ""),
    ({"budget_seconds": "120"}, "wall-clock budget"),
    ({"budget_seconds": "epochs=100x50"}, ""),
    ({"git_sha": A + "+dirty"}, "+dirty tree"),
    ({"git_sha": ""}, "no commit"),
    ({"model": "tsdiff[patch_size=4]"}, "ablation / variant"),
    ({"command": "python benchmarks/run_benchmarks.py --quick"}, "--quick smoke run"),
    ({"status": "error"}, "error"),
    ({"status": "skipped"}, ""),
    ({"protocol": "rolling"}, "rolling protocol"),
    ({"git_sha": A + "+dirty", "budget_seconds": "120"}, "+dirty tree, wall-clock budget"),
])
def test_exclusion_names_why_a_row_is_not_in_the_summary(changes, reason):
    assert exclusion({**_row(A), **changes}) == reason


def test_mean_sd_over_seeds():
    assert mean_sd([0.1, 0.2, 0.3]) == "0.2000 ± 0.1000"
    assert mean_sd([0.0281], digits=3) == "0.028"
    assert mean_sd([]) == "—"
    assert mean_sd([float("nan"), 0.5]) == "0.5000"


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, restval="")
        w.writeheader()
        w.writerows(rows)


def test_make_table_summarizes_one_commit_and_moves_the_rest_to_history(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    final = [_row(A, "tsdiff", 0, mean_wQuantileLoss="0.0300", coverage_50="0.5", coverage_90="0.9", mase="0.8"),
             _row(A, "tsdiff", 1, mean_wQuantileLoss="0.0320", coverage_50="0.4", coverage_90="0.8", mase="0.9"),
             _row(A, "deepar", 0, budget_seconds="epochs=100x50", mean_wQuantileLoss="0.0250", mase="0.7",
                  coverage_50="0.5", coverage_90="0.9", epochs="37", stop_reason="early_stopping"),
             _row(A, "autoets", 0, mean_wQuantileLoss="0.0500", mase="1.2", coverage_50="0.5", coverage_90="0.9")]
    old = [_row(B, "tsdiff", 0, budget_seconds="120", mean_wQuantileLoss="0.0111", mase="0.5")]  # wall clock
    _write(results / "final.csv", [{**r, "job": f"paper/{r['dataset']}/{r['model']}/seed{r['seed']}"} for r in final])
    _write(results / "learned_120s.csv", old)
    plan = tmp_path / "plan.txt"
    plan.write_text("paper d1 tsdiff 0\npaper d1 tsdiff 1\npaper d1 deepar 0\npaper d1 autoets 0\n")
    docs = tmp_path / "benchmarks.md"
    make_table(results, docs, plan=plan)
    text = docs.read_text()
    summary = text.split("## Protocol")[0]
    assert f"Commit `{A[:7]}` only (complete" in summary
    assert "tsdiff: 0.0310 ± 0.0014 (0.45 / 0.85)" in summary                 # mean ± sd over the 2 seeds
    assert "deepar: 0.0250" in summary and "autoets: 0.0500" in summary     # best learned, best statistical
    assert "| deepar (0.0250) |" in summary and "| deepar (0.700) |" in summary  # where tsdiff loses
    assert "100x50 epochs x batches; done 37 ep; stop: early_stopping" in summary
    assert "0.0111" not in summary                                          # the wall-clock row is history only
    history = text.split("## History: rows not in the summary")[1]
    assert "wall-clock budget | 0.0111" in history
