"""benchmarks/runner.py: plan parsing, resume at the same commit, dirty refusal, failure rows (fake jobs, no training)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import runner  # noqa: E402  (benchmark script, not part of the library)
from runner import Job, PlanError, append_rows, check_tree, done_jobs, generate_plan, parse_plan, pending  # noqa: E402

SHA = "a" * 40


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- plans
def test_parse_plan_reads_jobs_comments_and_quoted_args():
    text = """
    # protocol dataset model seed [args]
    paper m4_hourly tsdiff 0
    paper ett_small_1h patchtst 2  --max-epochs 50   # a shorter budget
    paper m4_hourly tsdiff 0 --tsdiff-param "lags=(24, 48)"

    rolling ett_small_1h tsdiff 1 --max-steps 100
    """
    jobs = parse_plan(text)
    assert jobs == [Job("paper", "m4_hourly", "tsdiff", 0),
                    Job("paper", "ett_small_1h", "patchtst", 2, ("--max-epochs", "50")),
                    Job("paper", "m4_hourly", "tsdiff", 0, ("--tsdiff-param", "lags=(24, 48)")),
                    Job("rolling", "ett_small_1h", "tsdiff", 1, ("--max-steps", "100"))]
    # the id carries the extra arguments, so the two m4_hourly tsdiff jobs are different jobs
    assert jobs[0].id == "paper/m4_hourly/tsdiff/seed0"
    assert jobs[2].id == "paper/m4_hourly/tsdiff/seed0 --tsdiff-param 'lags=(24, 48)'"
    assert parse_plan(jobs[2].line()) == [jobs[2]]  # a job written back as a plan line reads the same


@pytest.mark.parametrize("text, message", [
    ("paper m4_hourly tsdiff", "line 1: expected 'protocol dataset model seed"),
    ("paper m4_hourly tsdiff zero", "line 1: seed must be an integer"),
    ("\nnightly m4_hourly tsdiff 0", "line 2: unknown protocol 'nightly'"),
    ("paper m4_hourly tsdiff 0\npaper m4_hourly tsdiff 0", "line 2: job 'paper/m4_hourly/tsdiff/seed0' already "
                                                             "listed on line 1"),
    ("paper m4_hourly tsdiff 0 --note 'unclosed", "line 1:"),
])
def test_parse_plan_rejects_bad_lines_naming_them(text, message):
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_plan(text)


def test_generate_plan_runs_statistical_models_once_seed_major():
    jobs = generate_plan(["d1", "d2"], ["autoets", "tsdiff"], [0, 1])
    assert [j.id for j in jobs] == ["paper/d1/autoets/seed0", "paper/d1/tsdiff/seed0", "paper/d2/autoets/seed0",
                                    "paper/d2/tsdiff/seed0", "paper/d1/tsdiff/seed1", "paper/d2/tsdiff/seed1"]


def test_committed_final_plan_is_the_issue_13_table():
    jobs = parse_plan((Path(runner.ROOT) / "benchmarks" / "plans" / "final.txt").read_text())
    datasets = {"m4_hourly", "ett_small_1h", "ett_small_15min", "exchange_rate_nips", "weather_jena_hourly",
                "electricity_weekly", "m4_weekly"}
    learned = {"tsdiff", "deepar", "deepar[default]", "patchtst", "tft"}
    stats = {"seasonal_naive", "autoets", "autoarima"}
    keys = {(j.dataset, j.model, j.seed) for j in jobs}
    assert keys == ({(d, m, s) for d in datasets for m in learned for s in (0, 1, 2)}
                    | {(d, m, 0) for d in datasets for m in stats})
    assert len(jobs) == len(keys) == 7 * 5 * 3 + 7 * 3
    assert all(j.protocol == "paper" and "--quick" not in j.args and "--budget-seconds" not in j.args for j in jobs)


# --------------------------------------------------------------------------- resume and dirty trees
def test_jobs_done_at_the_same_commit_are_skipped_others_run_again():
    jobs = generate_plan(["d1"], ["tsdiff", "deepar", "tft", "autoarima"], [0])
    rows = [{"job": "paper/d1/tsdiff/seed0", "git_sha": SHA, "status": "ok"},
            {"job": "paper/d1/deepar/seed0", "git_sha": "b" * 40, "status": "ok"},      # another commit
            {"job": "paper/d1/tft/seed0", "git_sha": SHA, "status": "failed"},          # failed: run again
            {"job": "paper/d1/autoarima/seed0", "git_sha": SHA, "status": "skipped"}]   # the script's decision
    assert done_jobs(rows, SHA) == {"paper/d1/tsdiff/seed0", "paper/d1/autoarima/seed0"}
    assert [j.model for j in pending(jobs, rows, SHA)] == ["deepar", "tft"]
    # a dirty tree is its own "commit": rows of the clean commit do not count for it, nor the reverse
    assert [j.model for j in pending(jobs, rows, SHA + "+dirty")] == ["tsdiff", "deepar", "tft", "autoarima"]


def test_dirty_tree_is_refused_unless_allowed():
    with pytest.raises(SystemExit, match="dirty"):
        check_tree(SHA + "+dirty", allow_dirty=False)
    with pytest.raises(SystemExit, match="not a git checkout"):
        check_tree("unknown", allow_dirty=False)
    check_tree(SHA, allow_dirty=False)
    check_tree(SHA + "+dirty", allow_dirty=True)


def test_main_refuses_a_dirty_tree_before_running_anything(tmp_path, monkeypatch):
    plan = tmp_path / "p.txt"
    plan.write_text("paper d1 tsdiff 0\n")
    monkeypatch.setattr(runner, "git_sha", lambda: SHA + "+dirty")
    monkeypatch.setattr(runner, "run_plan", lambda *a, **k: pytest.fail("ran on a dirty tree"))
    with pytest.raises(SystemExit, match="dirty"):
        runner.main([str(plan), "--out", str(tmp_path / "r.csv"), "--log-dir", str(tmp_path / "logs")])
    assert not (tmp_path / "r.csv").exists()


def test_append_rows_grows_the_header_and_keeps_earlier_rows(tmp_path):
    out = tmp_path / "r.csv"
    append_rows(out, [{"job": "j1", "status": "ok", "wql": "0.1"}])
    append_rows(out, [{"job": "j2", "status": "failed", "error": "boom"}])          # no new column: appended
    append_rows(out, [{"job": "j3", "status": "ok", "epochs": "12"}])                # new column: rewritten
    rows = _read(out)
    assert [r["job"] for r in rows] == ["j1", "j2", "j3"]
    assert rows[0]["wql"] == "0.1" and rows[1]["error"] == "boom" and rows[2]["epochs"] == "12"
    assert rows[0]["epochs"] == ""
    assert list(rows[0])[:len(runner.RUNNER_COLUMNS)] == runner.RUNNER_COLUMNS


# --------------------------------------------------------------------------- running fake jobs
_WRITE_ROW = ("import csv, sys; w = csv.writer(open(sys.argv[1], 'w', newline='')); "
              "w.writerow(['dataset', 'model', 'seed', 'status', 'note', 'mean_wQuantileLoss']); "
              "w.writerow([sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], 'a note', '0.05'])")


def _fake(job: Job, rows_csv: Path, threads: int) -> list[str]:
    """A fake protocol: the model name says what the job does."""
    if job.model == "crash":
        return [sys.executable, "-c", "import sys; print('Traceback: ValueError: broken input', file=sys.stderr); "
                                      "sys.exit(3)"]
    if job.model == "sleep":
        return [sys.executable, "-c", "import time; time.sleep(30)"]
    if job.model == "silent":
        return [sys.executable, "-c", "pass"]
    status = "error" if job.model == "error" else "ok"
    return [sys.executable, "-c", _WRITE_ROW, str(rows_csv), job.dataset, job.model, str(job.seed), status]


def _run(jobs, out, tmp_path, **kw):
    return runner.run_plan(jobs, out, tmp_path / "logs", n_jobs=2, threads=1, sha=SHA, hw="{}", poll=0.05,
                           protocols={"fake": _fake}, echo=lambda s: None, **kw)


def test_failed_jobs_are_recorded_and_do_not_stop_the_others_then_the_run_resumes(tmp_path):
    jobs = [Job("fake", "d1", m, 0) for m in ("good", "crash", "error", "silent", "good2")]
    out = tmp_path / "results.csv"
    counts = _run(jobs, out, tmp_path)
    assert counts["ok"] == 2 and counts["failed"] == 3 and counts["left"] == 3
    rows = {r["model"]: r for r in _read(out)}
    assert set(rows) == {"good", "crash", "error", "silent", "good2"}
    good = rows["good"]
    assert good["status"] == "ok" and good["git_sha"] == SHA and good["mean_wQuantileLoss"] == "0.05"
    assert good["job"] == "fake/d1/good/seed0" and float(good["wall_seconds"]) >= 0 and good["date"]
    assert good["command"].startswith("python -c") and Path(good["log"]).exists()
    assert rows["crash"]["status"] == "failed"
    assert "exit code 3" in rows["crash"]["error"] and "broken input" in rows["crash"]["error"]
    assert "broken input" in Path(rows["crash"]["log"]).read_text()  # the job's stderr is in its log
    assert rows["error"]["status"] == "error" and rows["error"]["error"] == "a note"
    assert rows["silent"]["status"] == "failed" and "wrote no row" in rows["silent"]["error"]

    # a second call at the same commit runs only what is not done; the ok rows are not repeated
    counts = _run(jobs, out, tmp_path)
    assert counts["done_before"] == 2 and counts["ok"] == 0 and counts["failed"] == 3
    assert [r["model"] for r in _read(out)].count("good") == 1


def test_a_job_over_its_timeout_is_killed_and_recorded(tmp_path):
    out = tmp_path / "results.csv"
    counts = _run([Job("fake", "d1", "sleep", 0), Job("fake", "d1", "good", 0)], out, tmp_path, timeout=0.5)
    rows = {r["model"]: r for r in _read(out)}
    assert counts["failed"] == 1 and rows["good"]["status"] == "ok"
    assert rows["sleep"]["status"] == "failed" and rows["sleep"]["error"].startswith("timed out")
    assert float(rows["sleep"]["wall_seconds"]) < 25
