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


def test_rolling_rows_show_per_series_crps_pit_coverage_and_peers(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    base = {"protocol": "rolling", "dataset": "d1", "status": "ok", "n_series": "3", "n_windows": "7",
            "wql_gluonts_mean_wQuantileLoss": "0.0346", "crps_exact_normalized": "0.0300",
            "crps_series_mean": "0.0911", "mase": "0.8", "cov50": "0.566", "cov50_lo": "0.47", "cov50_hi": "0.66",
            "cov90": "0.911", "cov90_lo": "0.86", "cov90_hi": "0.95", "git_sha": A}
    _write(results / "rolling.csv", [
        {**base, "model": "tsdiff", "variant": "calibrated", "mase_series_median": "0.75",
         "pit_cov50": "0.512", "pit_cov50_lo": "0.45",
         "pit_cov50_hi": "0.57", "pit_cov90": "0.902", "pit_cov90_lo": "0.86", "pit_cov90_hi": "0.94",
         "tie_share": "0.21"},
        {**base, "model": "seasonal_naive", "variant": "default", "wql_gluonts_mean_wQuantileLoss": "0.0641"}])
    docs = tmp_path / "benchmarks.md"
    make_table(results, docs)
    text = docs.read_text().split("### Rolling windows")[1]
    assert ("| d1 | tsdiff | calibrated | 3 x 7 | 0.0346 | 0.0911 | 0.800 | 0.750 | 0.566 [0.47, 0.66] | "
            "0.911 [0.86, 0.95] | 0.512 [0.45, 0.57] | 0.902 [0.86, 0.94] | 0.21 |") in text
    # A row written before the median MASE was recorded shows a dash there.
    assert "| d1 | seasonal_naive | default | 3 x 7 | 0.0641 | 0.0911 | 0.800 | — | — | — | — | — | — |" in text


def _speed_row(sampler: str, steps: str, seconds: str, wql: str, sha: str = A) -> dict[str, str]:
    return {"part": "samplers", "sampler": sampler, "steps": steps, "n_series": "414", "n_samples": "100",
            "horizon": "48", "context_length": "312", "seconds": seconds, "mean_wQuantileLoss": wql, "status": "ok",
            "threads": "2", "git_sha": sha, "command": "python benchmarks/sampling_speed.py"}


def test_speed_targets_judge_the_default_sampler_and_the_student_against_deepar_in_the_same_run(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    _write(results / "sampling_speed.csv", [
        _speed_row("dpmsolver", "20", "146.0", "0.0250"),
        _speed_row("distilled", "1", "7.5", "0.0255"),
        _speed_row("distilled", "2", "16.0", "0.0250"),
        {**_speed_row("distilled", "2", "11.0", "0.0250"), "precision": "bf16", "coverage_50": "0.49",
         "coverage_90": "0.9"},
        {**_speed_row("dpmsolver", "20", "100.0", "0.0250"), "precision": "bf16"},
        _speed_row("deepar (peer)", "48", "3.0", "0.0500"),
        {**_speed_row("ddpm", "1000", "700.0", "0.0260"), "n_series": "41", "extrapolated_414_seconds": "7068.3",
         "command": "ddpm run"},
        {**_speed_row("dpmsolver", "20", "14.0", "0.0240"), "n_series": "41", "command": "ddpm run"},
        _speed_row("ddpm", "1000", "999.0", "0.0290", sha="b" * 40),  # another commit: not shown
    ])
    docs = tmp_path / "benchmarks.md"
    make_table(results, docs)
    text = docs.read_text().split("## Sampling speed on m4_hourly")[1]
    assert ("- DDPM, all 1000 steps, on the same trained weights (not the default), 41 series: wQL 0.0260, 700.0 s, "
            "about 7068 s for 414 series; the teacher's sampler on the same 41 series in that run: wQL 0.0240, 14.0 s."
            in text)
    assert "999.0 s" not in text
    # The default sampler of a model with a student comes first: the float32 student at DEFAULT_STUDENT_CALLS.
    lines = [ln for ln in text.splitlines() if ln.startswith("- the ") or ln.startswith("- **the default")]
    assert lines[0].startswith("- **the default sampler of a model with a student** (`sampler=\"auto\"`: the student, "
                               "2 network calls, float32), wQL 0.0250 (+0.0% against the teacher), cov50 / cov90 — / —: "
                               "16.0 s (target: at most 15 s), 5.3x DeepAR's 3.0 s")
    assert ("the calibrated teacher (DPM-Solver++ 20 steps; the default of a model without a student), wQL 0.0250, "
            "cov50 / cov90 — / —: 146.0 s (target: at most 15 s), 48.7x DeepAR's 3.0 s") in text
    assert ("1 network call, wQL 0.0255 (+2.0% against the teacher), cov50 / cov90 — / —: 7.5 s (target: at most "
            "15 s), 2.5x") in text
    # A bf16 row is labelled and judged on its own.
    assert ("2 network calls (bf16), wQL 0.0250 (+0.0% against the teacher), cov50 / cov90 0.490 / 0.900: 11.0 s"
            in text)
    assert "the teacher's sampler, 20 steps (bf16), wQL 0.0250 (+0.0% against the teacher)" in text
    assert "| dpmsolver (bf16) | 20 |" in text
    # 16 s > 15 s (default); 146 s (teacher); 7.5 s; 11 s (bf16); the bf16 teacher, 100 s
    assert [ln.endswith("**met**.") for ln in lines] == [False, False, True, True, False]


def test_speed_targets_take_a_runs_precision_auto_row_as_its_default(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    _write(results / "sampling_speed.csv", [
        _speed_row("dpmsolver", "20", "146.0", "0.0250"),
        _speed_row("distilled", "2", "16.0", "0.0250"),                       # float32: no longer the default
        {**_speed_row("distilled", "2", "11.0", "0.0251"), "precision": "auto (bf16)"},
        _speed_row("deepar (peer)", "48", "4.0", "0.0500"),
    ])
    docs = tmp_path / "benchmarks.md"
    make_table(results, docs)
    text = docs.read_text().split("## Sampling speed on m4_hourly")[1]
    lines = [ln for ln in text.splitlines() if ln.startswith("- the ") or ln.startswith("- **the default")]
    assert lines[0].startswith("- **the default sampler of a model with a student** (`sampler=\"auto\"`: the student, "
                               "2 network calls, auto (bf16)), wQL 0.0251 (+0.4% against the teacher)")
    assert lines[0].endswith("11.0 s (target: at most 15 s), 2.8x DeepAR's 4.0 s (target: at most about 5x): **met**.")
    assert "- the distilled student, 2 network calls, wQL 0.0250 (+0.0% against the teacher)" in text


def test_the_default_student_calls_match_the_library():
    from make_table import DEFAULT_STUDENT_CALLS

    from tsdiff.distillation import DEFAULT_PREDICT_STEPS

    assert DEFAULT_STUDENT_CALLS == DEFAULT_PREDICT_STEPS


def test_distill_section_checks_each_bound_of_the_student_against_its_teacher(tmp_path):
    results = tmp_path / "results"
    results.mkdir()

    def row(part: str, steps: str, wql: str, rel: str = "", d50: str = "", d90: str = "") -> dict[str, str]:
        return {"dataset": "d1", "part": part, "sampler": "distilled", "steps": steps, "mean_wQuantileLoss": wql,
                "wql_vs_teacher": rel, "coverage_50_diff": d50, "coverage_90_diff": d90, "status": "ok",
                "distill_time_ratio": "0.2", "git_sha": A, "command": "python benchmarks/distill_eval.py"}
    _write(results / "distill.csv", [row("teacher", "20", "0.0500"),
                                     row("student", "1", "0.0505", "0.01", "0.01", "-0.01"),   # all bounds hold
                                     row("student", "2", "0.0515", "0.03", "0.0", "0.0"),      # wQL +3%
                                     row("student", "4", "0.0500", "0.0", "-0.03", "0.0"),    # cov50 off by 0.03
                                     {**row("student", "2", "0.0501", "0.002", "0.0", "0.0"),
                                      "student_tail_length": "16"}])                          # a short-tail student
    docs = tmp_path / "benchmarks.md"
    make_table(results, docs)
    text = docs.read_text().split("## Few-step student against its teacher")[1].split("## ")[0]
    lines = [ln for ln in text.splitlines() if ln.startswith(f"| `{A[:7]}`")]
    assert [ln.split("|")[12].strip() for ln in lines] == ["met", "missed", "missed", "met"]
    assert "| 0.0505 | 0.0500 | +1.0% | +0.0100 | -0.0100 | 0.20 |" in text
    assert [ln.split("|")[13].strip() for ln in lines] == ["", "", "", "student tail 16"]  # the whole tail: no note


def test_distill_section_judges_a_multi_seed_run_by_its_means_and_hides_its_per_seed_rows(tmp_path):
    results = tmp_path / "results"
    results.mkdir()

    def row(part: str, pred_seed: str, wql: str, rel: str = "", d50: str = "", **extra: str) -> dict[str, str]:
        return {"dataset": "d1", "seed": "1", "part": part, "sampler": "distilled", "steps": "1",
                "mean_wQuantileLoss": wql, "wql_vs_teacher": rel, "coverage_50_diff": d50, "coverage_90_diff": "0.0",
                "pred_seed": pred_seed, "status": "ok", "distill_time_ratio": "0.2", "git_sha": A,
                "command": "python benchmarks/distill_eval.py", **extra}
    _write(results / "distill.csv", [
        row("teacher", "1", "0.0500"), row("student", "1", "0.0500", "0.0", "0.030"),   # seed 1 alone: cov50 missed
        row("teacher", "2", "0.0520"), row("student", "2", "0.0520", "0.0", "0.000"),
        row("student-mean", "1 2", "0.0510", "0.0", "0.015", n_pred_seeds="2", wql_vs_teacher_sd="0.0",
            coverage_50_diff_sd="0.0212", coverage_90_diff_sd="0.0")])
    docs = tmp_path / "benchmarks.md"
    make_table(results, docs)
    text = docs.read_text().split("## Few-step student against its teacher")[1].split("## ")[0]
    lines = [ln for ln in text.splitlines() if ln.startswith(f"| `{A[:7]}`")]
    assert len(lines) == 1                                       # the per-seed rows are folded into the mean
    cells = [c.strip() for c in lines[0].split("|")]
    assert cells[6:12] == ["0.0510", "0.0510", "+0.0%", "+0.0150", "+0.0000", "0.20"]   # teacher: mean of both seeds
    assert cells[12] == "met"
    assert "mean of 2 sampling seeds (sd over seeds: 0.0% / 0.021 / 0.000)" in cells[13]


def test_distill_section_keeps_each_runs_teacher_when_one_teacher_runs_twice_at_one_commit(tmp_path):
    """Two distill_eval runs of one teacher at one commit (4 and 2 sampling seeds, another distillation seed and
    tail): each student-mean row shows the mean of its own run's teacher rows, and names its distillation seed."""
    results = tmp_path / "results"
    results.mkdir()

    def row(cmd: str, part: str, pred_seed: str, wql: str, **extra: str) -> dict[str, str]:
        return {"dataset": "d1", "seed": "1", "part": part, "sampler": "distilled", "steps": "2",
                "mean_wQuantileLoss": wql, "wql_vs_teacher": "0.01", "coverage_50_diff": "0.0",
                "coverage_90_diff": "0.0", "pred_seed": pred_seed, "status": "ok", "distill_time_ratio": "0.4",
                "git_sha": A, "command": f"python benchmarks/distill_eval.py {cmd}", **extra}
    mean = {"n_pred_seeds": "x", "wql_vs_teacher_sd": "0.0", "coverage_50_diff_sd": "0.0", "coverage_90_diff_sd": "0.0"}
    long = [row("--pred-seeds 4", "teacher", str(s), w) for s, w in ((1, "0.0400"), (2, "0.0400"), (3, "0.0700"),
                                                                    (4, "0.0700"))]
    short = [row("--pred-seeds 2 --distill-seed 9", "teacher", str(s), "0.0400") for s in (1, 2)]
    _write(results / "distill.csv", long + short + [
        row("--pred-seeds 4", "student-mean", "", "0.0560", distill_seed="1", **mean),
        row("--pred-seeds 2 --distill-seed 9", "student-mean", "", "0.0410", distill_seed="9", **mean)])
    docs = tmp_path / "benchmarks.md"
    make_table(results, docs)
    text = docs.read_text().split("## Few-step student against its teacher")[1].split("## ")[0]
    lines = [[c.strip() for c in ln.split("|")] for ln in text.splitlines() if ln.startswith(f"| `{A[:7]}`")]
    assert [(ln[6], ln[7]) for ln in lines] == [("0.0560", "0.0550"), ("0.0410", "0.0400")]
    assert "distillation seed 1" in lines[0][13] and "distillation seed 9" in lines[1][13]
