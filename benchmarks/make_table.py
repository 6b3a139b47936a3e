"""Write ``docs/benchmarks.md`` from the CSVs in ``benchmarks/results/``.

Called by ``python benchmarks/run_benchmarks.py --make-table [--commit SHA] [--plan PLAN]``.

The summary uses the rows of **one clean commit** only (:func:`select_commit`): by default the
newest commit whose rows complete the plan (``benchmarks/plans/final.txt``: every job has an
``ok`` or ``skipped`` row), else, while no commit is complete, the commit with the most rows
(said in the page). Rows enter the summary only when they come from a clean tree (no ``+dirty``),
under a step or epoch budget (not a wall-clock budget) and not from a ``--quick`` smoke run
(:func:`exclusion`). Learned models show mean ± sd over seeds (:func:`mean_sd`). Every other row
goes to the history tables, labelled with why it is not in the summary.

Our rows are shown next to the published numbers gathered in ``shared/reference/protocol.md``
(TSDiff paper Table 2, Chronos' result CSVs, and peers measured on a 2-core machine), which are
copied here as constants so that the docs can be rebuilt anywhere.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

#: TSDiff paper, Table 2 (mean_wQuantileLoss, read from a secondary copy of the table).
TSDIFF_PAPER: dict[str, dict[str, float]] = {
    "Seasonal naive": {"solar_nips": 0.512, "electricity_nips": 0.069, "traffic_nips": 0.221,
                       "exchange_rate_nips": 0.011, "m4_hourly": 0.048},
    "DeepAR": {"solar_nips": 0.389, "electricity_nips": 0.054, "traffic_nips": 0.099,
               "exchange_rate_nips": 0.011, "m4_hourly": 0.052},
    "CSDI": {"solar_nips": 0.352, "electricity_nips": 0.054, "traffic_nips": 0.159,
             "exchange_rate_nips": 0.033, "m4_hourly": 0.040},
    "TSDiff-Cond": {"solar_nips": 0.338, "electricity_nips": 0.050, "traffic_nips": 0.094,
                    "exchange_rate_nips": 0.013, "m4_hourly": 0.039},
    "TSDiff-Q": {"solar_nips": 0.358, "electricity_nips": 0.049, "traffic_nips": 0.098,
                 "exchange_rate_nips": 0.011, "m4_hourly": 0.036},
}
#: Chronos' WQL where its seasonal-naive row equals ours (same test windows): (seasonal naive, best, note).
CHRONOS: dict[str, tuple[float, float, str]] = {
    "m4_hourly": (0.0483, 0.0204, "Chronos-Bolt-small; m4_hourly is in its training data"),
    "ett_small_1h": (0.1221, 0.0706, "Chronos-Bolt-base, zero-shot (Chronos 'ETTh')"),
    "electricity_weekly": (0.1979, 0.0577, "Chronos-Bolt-tiny; in its training data"),
    "m4_weekly": (0.0634, 0.0364, "Chronos-T5-base; in its training data"),
}
#: Peers measured on a 2-core machine (protocol.md): seasonal naive, AutoETS, DeepAR (train s).
PEERS_2CORE: dict[str, tuple[float, float, float, int]] = {
    "exchange_rate_nips": (0.0107, 0.0077, 0.0257, 405),
    "m4_hourly": (0.0483, 0.0696, 0.0267, 353),
    "ett_small_1h": (0.1221, 0.1344, 0.0781, 372),
    "ett_small_15min": (0.0948, 0.0804, 0.1169, 542),
    "electricity_weekly": (0.1979, 0.1438, 0.1113, 157),
    "m4_weekly": (0.0634, 0.0517, 0.0616, 135),
}
PROTOCOL_TARGETS = {"exchange_rate_nips": "0.011 (TSDiff Table 2)",
                    "m4_hourly": "0.048 (TSDiff Table 2); 0.0483 (Chronos)"}
MODEL_ORDER = {"seasonal_naive": 0, "autoets": 1, "autoarima": 2, "deepar[default]": 3, "deepar": 4, "patchtst": 5,
               "tft": 6, "tsdiff": 7}
#: The models of the summary table and their family.
FAMILY = {"tsdiff": "tsdiff", "deepar": "learned", "deepar[default]": "learned", "patchtst": "learned",
          "tft": "learned", "seasonal_naive": "statistical", "autoets": "statistical", "autoarima": "statistical"}
LEARNED_MODELS = tuple(m for m, f in FAMILY.items() if f != "statistical")
#: wQL targets of issue 13 (3-seed means, paper protocol).
TARGETS = {"m4_hourly": 0.022, "ett_small_1h": 0.072, "ett_small_15min": 0.066, "exchange_rate_nips": 0.0075,
           "weather_jena_hourly": 0.033, "electricity_weekly": 0.050, "m4_weekly": 0.036}
DEFAULT_PLAN = Path(__file__).resolve().parent / "plans" / "final.txt"
DATASET_ORDER = ["exchange_rate_nips", "m4_hourly", "ett_small_1h", "ett_small_15min", "weather_jena_hourly",
                 "electricity_weekly", "m4_weekly", "electricity_nips", "solar_nips", "traffic_nips"]


def _budget(v: Any) -> tuple[float, str]:
    """(sort key, label) of a row's budget: wall-clock seconds (``120``) or a step budget (``steps=4000``)."""
    if v in (None, ""):
        return 0.0, ""
    text = str(v)
    if text.startswith("steps="):
        return 1e9 + float(text[6:]), f"{int(text[6:])} steps"
    return float(text), f"{float(text):.0f} s"


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _is_ours(path: Path) -> bool:
    with path.open(newline="") as fh:
        header = next(csv.reader(fh), [])
    if path.stem == "sampling_speed":
        return {"part", "sampler", "seconds"} <= set(header)
    return {"dataset", "model", "seed", "status", "mean_wQuantileLoss", "command"} <= set(header)


def _f(v: Any, digits: int = 4) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(x):
        return "—"
    return f"{x:.{digits}f}"


def _sec(v: Any) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "—"
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}"


def _row_cells(r: dict[str, str], run: str) -> list[str]:
    return [f"{r['model']}" + (f" (seed {r['seed']})" if r["model"] in LEARNED_MODELS else ""), run,
            _f(r.get("mean_wQuantileLoss")), _f(r.get("mase"), 3), _f(r.get("crps")), _f(r.get("nd")),
            _f(r.get("coverage_50"), 2), _f(r.get("coverage_90"), 2), _sec(r.get("train_seconds")),
            _sec(r.get("predict_seconds")), _sec(r.get("peak_rss_mb"))]


def _mean(rows: list[dict[str, str]], key: str) -> float:
    return statistics.mean(float(r[key]) for r in rows)


# --------------------------------------------------------------------------- one commit
def _finished(r: dict[str, str]) -> str:
    return max(r.get("finished_at") or "", r.get("date") or "")


def exclusion(r: dict[str, str]) -> str:
    """Why a row cannot enter the summary table (``""`` when it can; several reasons joined by ", ").

    Reasons: not ``ok``/``skipped``; a model outside :data:`FAMILY` (ablations, ``tsdiff[raw]``);
    a ``+dirty`` or unknown commit; a wall-clock budget (``budget_seconds`` a number of seconds);
    a ``--quick`` smoke run; another protocol than the paper's.
    """
    reasons = []
    if r.get("status") not in ("ok", "skipped"):
        reasons.append(r.get("status") or "no status")
    if r.get("model") not in FAMILY:
        reasons.append("ablation / variant")
    sha = r.get("git_sha") or ""
    if not sha or sha == "unknown":
        reasons.append("no commit")
    elif sha.endswith("+dirty"):
        reasons.append("+dirty tree")
    budget = str(r.get("budget_seconds") or "")
    if budget and not budget.startswith(("steps=", "epochs=")):
        reasons.append("wall-clock budget")
    if "--quick" in (r.get("command") or "").split():
        reasons.append("--quick smoke run")
    if r.get("protocol") not in (None, "", "paper"):
        reasons.append(f"{r.get('protocol')} protocol")
    return ", ".join(reasons)


def select_commit(rows: list[dict[str, str]], plan_keys: Optional[set] = None,
                  commit: Optional[str] = None) -> tuple[Optional[str], dict[str, Any]]:
    """The commit whose rows make the summary, and how complete it is.

    ``rows``: every row read; only those with no :func:`exclusion` count. ``plan_keys``: the
    ``(dataset, model, seed)`` of the plan's jobs; a commit is complete when each has a row.
    ``commit``: a SHA (or prefix) chosen by the caller. Otherwise: the newest complete commit
    (newest = latest ``finished_at`` / ``date`` among its rows); when none is complete (or there is
    no plan), the commit with the most ``(dataset, model, seed)`` rows, the newest among equals.

    Returns ``(sha, info)``, ``info`` = ``{"complete": bool, "n_rows": int, "n_plan": int or None,
    "missing": sorted plan keys without a row}``; ``(None, {...})`` when no row qualifies.
    """
    usable = [r for r in rows if not exclusion(r)]
    by_sha: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in usable:
        by_sha[r["git_sha"]].append(r)
    if commit is not None:
        matches = [sha for sha in by_sha if sha.startswith(commit)]
        if len(matches) != 1:
            raise ValueError(f"--commit {commit!r} matches {len(matches)} commits with summary rows: {matches}")
        by_sha = {matches[0]: by_sha[matches[0]]}

    def info(sha: str) -> dict[str, Any]:
        keys = {(r["dataset"], r["model"], int(r.get("seed") or 0)) for r in by_sha[sha]}
        missing = sorted(plan_keys - keys) if plan_keys else []
        return {"complete": bool(plan_keys) and not missing, "n_rows": len(keys),
                "n_plan": len(plan_keys) if plan_keys else None, "missing": missing,
                "newest": max(_finished(r) for r in by_sha[sha])}

    if not by_sha:
        return None, {"complete": False, "n_rows": 0, "n_plan": len(plan_keys) if plan_keys else None,
                      "missing": sorted(plan_keys or []), "newest": ""}
    infos = {sha: info(sha) for sha in by_sha}
    complete = [sha for sha in infos if infos[sha]["complete"]]
    if complete:
        best = max(complete, key=lambda sha: infos[sha]["newest"])
    else:
        best = max(infos, key=lambda sha: (infos[sha]["n_rows"], infos[sha]["newest"]))
    return best, infos[best]


def plan_keys(path: Optional[Path]) -> Optional[set]:
    """``(dataset, model, seed)`` of the paper-protocol jobs of a plan file (``--quick`` jobs left out)."""
    if path is None or not Path(path).exists():
        return None
    from runner import parse_plan  # benchmarks/runner.py

    return {(j.dataset, j.model, j.seed) for j in parse_plan(Path(path).read_text())
            if j.protocol == "paper" and "--quick" not in j.args}


def mean_sd(values: list[float], digits: int = 4) -> str:
    """``"0.0281 ± 0.0008"`` (sample sd over seeds) for several values, ``"0.0281"`` for one, ``"—"`` for none."""
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return "—"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def _num(r: dict[str, str], key: str) -> float:
    try:
        return float(r.get(key) or "nan")
    except ValueError:
        return math.nan


def aggregate(rows: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (dataset, model): the seeds' rows (newest per seed), their means, and the skipped rows' reasons."""
    latest: dict[tuple[str, str, str], dict[str, str]] = {}
    for r in sorted(rows, key=_finished):
        latest[(r["dataset"], r["model"], r.get("seed") or "0")] = r
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for (dataset, model, _seed), r in latest.items():
        groups[(dataset, model)].append(r)
    out = {}
    for key, rs in groups.items():
        ok = [r for r in rs if r.get("status") == "ok"]
        agg: dict[str, Any] = {"rows": ok, "skipped": [r.get("note") or r.get("error") or "" for r in rs
                                                      if r.get("status") == "skipped"]}
        for col in ("mean_wQuantileLoss", "mase", "crps", "crps_series", "coverage_50", "coverage_90",
                    "train_seconds", "predict_seconds"):
            vals = [_num(r, col) for r in ok]
            agg[col] = [v for v in vals if not math.isnan(v)]
        out[key] = agg
    return out


def _m(vals: list[float]) -> float:
    return statistics.mean(vals) if vals else math.nan


def _note_field(r: dict[str, str], key: str) -> str:
    """``value`` of ``key=value`` in a row's note (older rows keep tsdiff's stop reason there), else ``""``."""
    for part in (r.get("note") or "").split(";"):
        k, _, v = part.strip().partition("=")
        if k == key:
            return v.strip()
    return ""


def _budget_cell(rs: list[dict[str, str]]) -> str:
    """Budget, steps / epochs done and why training stopped, over the seeds' rows."""
    if not rs or not rs[0].get("budget_seconds"):
        return "—"
    budget = _budget(rs[0]["budget_seconds"])[1] if str(rs[0]["budget_seconds"]).startswith("steps=") \
        else str(rs[0]["budget_seconds"]).replace("epochs=", "") + " epochs x batches"
    done = []
    for r in rs:
        if r.get("epochs"):
            done.append(f"{r['epochs']} ep")
        elif r.get("train_steps"):
            done.append(f"{r['train_steps']} st")
    reasons = sorted({r.get("stop_reason") or _note_field(r, "stopped") for r in rs} - {""})
    return f"{budget}; done {', '.join(done) or '—'}; stop: {', '.join(reasons) or '—'}"


def _best(models: dict[str, dict[str, Any]], family: str) -> Optional[str]:
    """The model of ``family`` with the lowest mean wQL among ``models`` (None when the family has none)."""
    cands = [m for m in models if FAMILY[m] == family]
    return min(cands, key=lambda m: _m(models[m]["mean_wQuantileLoss"])) if cands else None


def _overview_section(w: Any, agg: dict[tuple[str, str], dict[str, Any]], sha: Optional[str],
                      sel: dict[str, Any], names: list[str]) -> None:
    """The one-screen summary: per dataset, the best of each family and where tsdiff loses."""
    w("## Summary")
    w("")
    if sha is None:
        w("No clean commit has summary rows yet (step / epoch budgets, no `+dirty`, no `--quick`). Run the final "
          "plan: `python benchmarks/runner.py benchmarks/plans/final.txt --jobs 2 --threads 1`, then "
          "`python benchmarks/run_benchmarks.py --make-table`. Older rows are in the history tables below.")
        w("")
        return
    state = ("complete: every job of the plan has a row" if sel["complete"] else
             f"**incomplete**: {sel['n_rows']} (dataset, model, seed) rows"
             + (f" of the plan's {sel['n_plan']}" if sel.get("n_plan") else ""))
    w(f"Commit `{sha[:7]}` only ({state}). wQL = GluonTS mean weighted quantile loss, mean ± sd over seeds "
      "for learned models; (cov50 / cov90) beside it; lower wQL is better, coverage targets 0.485 / 0.881 "
      "(100 samples, GluonTS's quantile rule). Families: tsdiff, learned peers (DeepAR, DeepAR with GluonTS "
      "defaults, PatchTST, TFT), statistical (seasonal naive, AutoETS, AutoARIMA).")
    w("")
    w("| dataset | tsdiff | best learned peer | best statistical | issue target | tsdiff loses to (wQL) | "
      "tsdiff loses to (MASE) |")
    w("|---|---|---|---|---|---|---|")

    def cell(model: Optional[str], dataset: str) -> str:
        if model is None:
            return "—"
        a = agg[(dataset, model)]
        cov = ""
        if a["coverage_50"] and model != "seasonal_naive":
            cov = f" ({_m(a['coverage_50']):.2f} / {_m(a['coverage_90']):.2f})"
        return f"{model}: {mean_sd(a['mean_wQuantileLoss'])}{cov}"

    for name in names:
        models = {m: agg[(name, m)] for (d, m) in agg if d == name and agg[(d, m)]["mean_wQuantileLoss"]}
        if not models:
            continue
        ts = models.get("tsdiff")
        lose_wql = lose_mase = "—" if ts is None else "no peer at this commit"
        if ts is not None and len(models) > 1:
            t_wql, t_mase = _m(ts["mean_wQuantileLoss"]), _m(ts["mase"])
            lose_wql = ", ".join(f"{m} ({_m(a['mean_wQuantileLoss']):.4f})" for m, a in models.items()
                                 if m != "tsdiff" and _m(a["mean_wQuantileLoss"]) < t_wql) or "none"
            lose_mase = ", ".join(f"{m} ({_m(a['mase']):.3f})" for m, a in models.items()
                                  if m != "tsdiff" and a["mase"] and _m(a["mase"]) < t_mase) or "none"
        target = TARGETS.get(name)
        tcell = "—"
        if target is not None:
            tcell = f"<= {target}" + ("" if ts is None else
                                      (" met" if _m(ts["mean_wQuantileLoss"]) <= target else " missed"))
        w(f"| {name} | {cell('tsdiff' if ts is not None else None, name)} | {cell(_best(models, 'learned'), name)} | "
          f"{cell(_best(models, 'statistical'), name)} | {tcell} | {lose_wql} | {lose_mase} |")
    w("")


def _summary_table_section(w: Any, agg: dict[tuple[str, str], dict[str, Any]], sha: str, names: list[str]) -> None:
    """Every (dataset, model) of the summary commit: means over seeds, coverage, budgets and stop reasons."""
    w(f"## Summary table (commit `{sha[:7]}`)")
    w("")
    w("Mean ± sd over seeds (n) for every metric that varies with the seed; lower is better except coverage. "
      "**CRPS (exact)** = exact ensemble CRPS (properscoring) summed over all points / sum |y|; "
      "**CRPS per series** = the same ratio per series, averaged over series (every series weighs the same; "
      "on weather wQL and CRPS (exact) are dominated by pressure and air density). Budget: tsdiff training "
      "steps, GluonTS peers epochs x batches per epoch with early stopping; `done` = steps (st) or epochs (ep) "
      "each seed trained, `stop` = why training stopped (`max_steps` / `max_epochs`: the budget; "
      "`early_stopping`: no better validation loss for `patience` epochs; `max_time`: the wall-clock safety cap).")
    w("")
    w("| dataset | model | n | wQL | MASE | CRPS (exact) | CRPS per series | cov50 | cov90 | train s | predict s | "
      "budget, done, stop |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        for model in sorted({m for (d, m) in agg if d == name}, key=lambda m: MODEL_ORDER.get(m, 99)):
            a = agg[(name, model)]
            if not a["rows"]:
                why = "; ".join(sorted(set(a["skipped"])))[:200]
                w(f"| {name} | {model} | 0 | *skipped*: {why} | | | | | | | | |")
                continue
            cov = model != "seasonal_naive"
            w(f"| {name} | {model} | {len(a['rows'])} | {mean_sd(a['mean_wQuantileLoss'])} | {mean_sd(a['mase'], 3)} | "
              f"{mean_sd(a['crps'])} | {mean_sd(a['crps_series'])} | "
              f"{mean_sd(a['coverage_50'], 2) if cov else '—'} | {mean_sd(a['coverage_90'], 2) if cov else '—'} | "
              f"{_sec(_m(a['train_seconds']))} | {_sec(_m(a['predict_seconds']))} | {_budget_cell(a['rows'])} |")
    w("")


def _calibration_section(w: Any, results_dir: Path) -> None:
    """Calibrated vs raw ensembles (calibrated.csv), the rolling protocol (rolling.csv), the known-law process."""
    cal_csv, roll_csv, law_csv = (results_dir / f for f in ("calibrated.csv", "rolling.csv", "calibration.csv"))
    if not (cal_csv.exists() or roll_csv.exists() or law_csv.exists()):
        return
    w("## Calibration: the calibrated default against its raw ensemble")
    w("")
    w("Same fitted model (default settings, 4000 training steps, 1 torch thread), scored twice: `predict()` "
      "(calibrated, the default) and `predict(calibrated=False)` (raw diffusion ensemble). Paper protocol, "
      "mean over seeds (n). The finite-ensemble targets of a perfect forecast with 100 samples under GluonTS's "
      "quantile rule are cov50 0.485 and cov90 0.881. Source: `benchmarks/results/calibrated.csv`.")
    w("")
    w("| dataset | n | wQL calibrated | wQL raw | cov50 calibrated | cov50 raw | cov90 calibrated | cov90 raw | "
      "best step (of 4000) | commit |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    rows = [r for r in _read(cal_csv) if r.get("status") == "ok"] if cal_csv.exists() else []
    for name in DATASET_ORDER + sorted({r["dataset"] for r in rows} - set(DATASET_ORDER)):
        cal = [r for r in rows if r["dataset"] == name and r["model"] == "tsdiff"]
        raw = [r for r in rows if r["dataset"] == name and r["model"] == "tsdiff[raw]"]
        if not cal or not raw:
            continue
        best = ", ".join(r.get("note", "").split("best_step=")[1].split(";")[0] for r in cal
                         if "best_step=" in r.get("note", ""))
        w(f"| {name} | {len(cal)} | {_mean(cal, 'mean_wQuantileLoss'):.4f} | {_mean(raw, 'mean_wQuantileLoss'):.4f} | "
          f"{_mean(cal, 'coverage_50'):.3f} | {_mean(raw, 'coverage_50'):.3f} | {_mean(cal, 'coverage_90'):.3f} | "
          f"{_mean(raw, 'coverage_90'):.3f} | {best} | "
          f"{', '.join(sorted({'`' + r.get('git_sha', '')[:7] + '`' for r in cal}))} |")
    w("")
    w("Held-out windows (validation and calibration, never gradient steps): about 256 in all, at least 1 and at "
      "most 14 per series (14 on ETT, 13 on weather, 1 on m4_hourly). The per-dataset tables below list every row.")
    w("")
    if roll_csv.exists():
        roll = [r for r in _read(roll_csv) if r.get("status") == "ok"]
        if roll:
            w("### Rolling windows")
            w("")
            w("`benchmarks/rolling.py`: the last N windows of every series are held out, the learned models are "
              "fitted on what precedes them (tsdiff 4000 steps; its own calibration windows lie before the first "
              "cut-off), and every window is forecast from its own history (tsdiff: `TSDiff.cross_validation`, "
              "one batched call). wQL = GluonTS mean weighted quantile loss; CRPS = exact ensemble CRPS "
              "(properscoring), each series' own sum over its windows / its sum |y|, averaged over series. "
              "cov50 / cov90: GluonTS's quantile rule, with 95% bootstrap intervals over windows (targets 0.485 / "
              "0.881 for 100 samples). PIT cov: the same intervals on the randomized rank PIT (targets 0.50 / 0.90; "
              "an outcome on an atom of the forecast, such as 0 mm of rain, counts by the atom's share instead of "
              "as covered); ties = share of outcomes equal to a sample. Seasonal naive is a point forecast: no "
              "coverage. MASE = GluonTS's, of the median, averaged over series; beside it the median over series "
              "(— for rows written before it was recorded): a series that repeats its daily profile almost "
              "exactly has an in-sample seasonal naive error near 0 and a huge MASE for any inexact forecast, so "
              "a few such series can decide the mean (m4_hourly).")
            w("")
            w("| dataset | model | variant | series x windows | wQL | CRPS (per series) | MASE | MASE (median series) "
              "| cov50 | cov90 | PIT cov50 | PIT cov90 | ties | commit |")
            w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")

            def num(r: dict, key: str, fmt: str = ".3f") -> str:
                v = r.get(key, "")
                return format(float(v), fmt) if v not in ("", None) else "—"

            def cov(r: dict, key: str) -> str:
                if r.get("model") == "seasonal_naive" or r.get(key, "") == "":
                    return "—"
                return f"{float(r[key]):.3f} [{float(r[key + '_lo']):.2f}, {float(r[key + '_hi']):.2f}]"

            for r in roll:
                w(f"| {r['dataset']} | {r['model']} | {r['variant']} | {r['n_series']} x {r['n_windows']} | "
                  f"{num(r, 'wql_gluonts_mean_wQuantileLoss', '.4f')} | {num(r, 'crps_series_mean', '.4f')} | "
                  f"{num(r, 'mase')} | {num(r, 'mase_series_median')} | {cov(r, 'cov50')} | {cov(r, 'cov90')} | "
                  f"{cov(r, 'pit_cov50')} | {cov(r, 'pit_cov90')} | "
                  f"{num(r, 'tie_share', '.2f') if r.get('model') != 'seasonal_naive' else '—'} | "
                  f"`{r.get('git_sha', '')[:7]}` |")
            w("")
    if law_csv.exists():
        law = _read(law_csv)
        if law:
            w("### A process whose predictive law is known")
            w("")
            w("`benchmarks/calibration.py`: 20 hourly series = daily + weekly sine + N(0, 0.5^2) noise, 5 rolling "
              "24-hour windows each, 100 samples; the ideal forecast has std 0.5 and covers ~0.49 / ~0.88. "
              "CRPS = exact ensemble CRPS relative to an ensemble of 100 draws from the true law.")
            w("")
            w("| variant | seed | fit (steps, s) | std / true std | cov50 | cov90 | CRPS / oracle | wQL (oracle) | "
              "commit |")
            w("|---|---|---|---|---|---|---|---|---|")
            for r in law:
                w(f"| {r['variant']} | {r['seed']} | {r['fit_steps']}, {float(r['fit_seconds']):.0f} s | {r['std_ratio']} | "
                  f"{r['cov50']} | {r['cov90']} | {r['crps_ratio']} | {r['wql']} ({r['oracle_wql']}) | "
                  f"`{r.get('git_sha', '')[:7]}` |")
            w("")
            w("Command: `python benchmarks/calibration.py --max-time 90 --seed 0 --threads 2 --figure "
              "docs/figures/calibration_known_law.png`, defaults, a 90 s fit with every other process paused (2 idle "
              "cores); `fit s` includes checkpoint validation and the calibration fit. Figure: "
              "`docs/figures/calibration_known_law.png`.")
            w("")


def _relative_paths(command: str) -> str:
    """``command`` with absolute paths outside the repository written relative to its root (``../models``)."""
    parent = str(Path(__file__).resolve().parents[1].parent)
    return re.sub(re.escape(parent) + r"/", "../", command)


#: Network calls of the student when ``predict`` gets no ``steps`` (``tsdiff.distillation.DEFAULT_PREDICT_STEPS``;
#: a test keeps the two equal).
DEFAULT_STUDENT_CALLS = 2


def _precision(row: dict[str, str]) -> str:
    """`` (bf16)`` for a sampling-speed row run under bfloat16 autocast; nothing for float32 (or older rows)."""
    p = row.get("precision") or "fp32"
    return "" if p == "fp32" else f" ({p})"


def _speed_targets(speed: list[dict[str, str]]) -> str:
    """The few-step-sampling targets (issue 12) checked on the latest full-size run of ``sampling_speed.py``.

    The default model's default sampler must draw 100 samples for all 414 m4_hourly series in at most 15 s
    and at most about 5x DeepAR's time in the same run. A model with a student predicts with it by default
    (``sampler="auto"``, :data:`DEFAULT_STUDENT_CALLS` calls, ``precision="auto"`` since 4c80031, float32 before;
    a run's ``auto`` row is its default when it has one): that row comes first; the teacher (the default of a model
    without a student) and the other rows follow, with their wQL against the teacher's.
    """
    full = [r for r in speed if r.get("status") == "ok" and r.get("n_series") == "414"
            and r.get("n_samples") == "100" and r.get("seconds") and r.get("part") == "samplers"]
    runs = [r.get("git_sha") for r in full if r.get("sampler") == "distilled"]
    if not runs:
        return "- no full-size run with a distilled student yet."
    sha = runs[-1]
    mine = [r for r in full if r.get("git_sha") == sha]
    deepar = next((float(r["seconds"]) for r in mine if r["sampler"].startswith("deepar")), None)
    teacher = next((r for r in mine if r["sampler"] == "dpmsolver" and not _precision(r)), None)
    lines = []

    def verdict(secs: float) -> str:
        ratio = f", {secs / deepar:.1f}x DeepAR's {deepar:.1f} s (target: at most about 5x)" if deepar else ""
        met = secs <= 15 and (deepar is None or secs / deepar <= 5.5)
        return f"{secs:.1f} s (target: at most 15 s){ratio}: **{'met' if met else 'missed'}**"

    calls = [r for r in mine if r["sampler"] == "distilled" and r["steps"] == str(DEFAULT_STUDENT_CALLS)]
    default = next((r for r in calls if (r.get("precision") or "").startswith("auto")),
                   next((r for r in calls if not _precision(r)), None))

    def rel(r: dict[str, str]) -> str:
        if teacher is None or not r.get("mean_wQuantileLoss") or not teacher.get("mean_wQuantileLoss"):
            return ""
        return f" ({float(r['mean_wQuantileLoss']) / float(teacher['mean_wQuantileLoss']) - 1:+.1%} against the teacher)"

    def cov(r: dict[str, str]) -> str:
        return f"cov50 / cov90 {_f(r.get('coverage_50'), 3)} / {_f(r.get('coverage_90'), 3)}"

    if default is not None:
        precision = default.get("precision") or "fp32"
        lines.append(f"- **the default sampler of a model with a student** (`sampler=\"auto\"`: the student, "
                     f"{DEFAULT_STUDENT_CALLS} network calls, {'float32' if precision == 'fp32' else precision}), wQL "
                     f"{_f(default.get('mean_wQuantileLoss'))}"
                     f"{rel(default)}, {cov(default)}: {verdict(float(default['seconds']))}.")
    if teacher is not None:
        lines.append(f"- the calibrated teacher (DPM-Solver++ {teacher['steps']} steps; the default of a model "
                     f"without a student), wQL {_f(teacher.get('mean_wQuantileLoss'))}, {cov(teacher)}: "
                     f"{verdict(float(teacher['seconds']))}.")
    # DDPM runs every diffusion step: it is timed on fewer series at the same commit, and extrapolated.
    for r in (r for r in speed if r.get("status") == "ok" and r.get("git_sha") == sha and r.get("sampler") == "ddpm"
              and r.get("part") == "samplers"):
        same = next((t for t in speed if t.get("git_sha") == sha and t.get("sampler") == "dpmsolver"
                     and t.get("n_series") == r.get("n_series") and t.get("command") == r.get("command")), None)
        beside = (f"; the teacher's sampler on the same {r['n_series']} series in that run: wQL "
                  f"{_f(same.get('mean_wQuantileLoss'))}, {float(same['seconds']):.1f} s" if same else "")
        lines.append(f"- DDPM, all {r['steps']} steps, on the same trained weights (not the default), "
                     f"{r['n_series']} series: wQL {_f(r.get('mean_wQuantileLoss'))}, {float(r['seconds']):.1f} s, "
                     f"about {float(r.get('extrapolated_414_seconds') or r['seconds']):.0f} s for 414 series{beside}.")
    for r in sorted((r for r in mine if r is not default and r["sampler"] in ("distilled", "dpmsolver")
                     and (r["sampler"] == "distilled" or _precision(r))),
                    key=lambda r: (r["sampler"] == "dpmsolver", bool(_precision(r)), int(r["steps"]))):
        what = (f"the distilled student, {r['steps']} network call{'s' if r['steps'] != '1' else ''}"
                if r["sampler"] == "distilled" else f"the teacher's sampler, {r['steps']} steps")
        lines.append(f"- {what}{_precision(r)}, wQL {_f(r.get('mean_wQuantileLoss'))}{rel(r)}, {cov(r)}: "
                     f"{verdict(float(r['seconds']))}.")
    note = SPEED_NOTES.get(str(sha)[:7])
    lines.append(f"- run: `{str(sha)[:10]}`, {mine[0].get('threads', '?')} torch threads{f'; {note}' if note else ''}. "
                 "The accuracy of each step count against the teacher on three datasets is in the student's section "
                 "below.")
    return "\n".join(lines)


#: What differs at the commits of speed runs from today's defaults (``sampling_speed.csv`` has no tail column).
SPEED_NOTES = {
    "4c80031": "its student ran on a 16-step tail (the default then; 32 since fefd4f4, first timed in full at "
               "4e7d9e4)",
    "4e7d9e4": "the m4_hourly seed-1 teacher trained at 4e7d9e4 with its tail-32 student (the default; distillation "
               "seed 1), the model of that commit's rows in the student's section; an Intel Xeon with AVX-512 and "
               "native bf16",
}


#: What differs at the commits of older student rows (they stay, labelled, as history).
DISTILL_NOTES = {
    "40b38f1": "student learning rate 5e-4 (reverted to 2e-3)",
    "8fab7b3": "the student's network weights were frozen (bug fixed in 33d765c): not the method",
    "4de8056": "run beside 3-4 other processes on 2 cores: the time ratio is inflated (504 s of CPU)",
    "7a262f5": "contexts up to each series' last point, half at it; no horizon weights",
    "ca36852": "contexts as at 7a262f5, plus horizon weights; 3-4 processes on 2 cores (time ratio inflated)",
    "aa7c4ed": "the student's calibration fitted against the teacher's calibrated ensembles, not held-out actuals "
               "(reverted in 1fc233b; the students' weights are those of 0c27507)",
    "9392de7": "a probe: --distill-steps 2000 (twice the default), one sampling seed; the default stays 1000",
    "b15eb47": "the student's calibration from 32 paths per window, not 100 (rejected: reverted in a8ea06e)",
    "a8ea06e": "teachers not of the final table: seed 0 trained at db9d038 (ett_small_1h, exchange_rate_nips), "
               "seed 1 trained by sampling_speed.py at dd6f049 (m4_hourly)",
    "a3487eb": "the teachers of a8ea06e; the student's tail set by --student-tail-length (the default became 16 "
               "in 2ab508a); the tail-0/2 runs distilled beside two other processes (time ratio inflated: 214 / 216 s "
               "of CPU)",
    "e062b09": "the m4_hourly teacher of a8ea06e, distilled again with the seed set apart (--distill-seed): "
               "tail 16 (the default) with seeds 101 and 102, tail 32 with seeds 1 and 101 (2 sampling seeds)",
    "fefd4f4": "the default tail became 32 (ett_small_1h keeps its whole tail of 24); teachers retrained at 06d6e8c "
               "on an AVX2-only CPU (no AVX-512), about 3.3x slower than the earlier rows' machine; the m4_hourly "
               "teacher's 3341 s are more than that explains (811 s x 3.3), a third process ran beside it for 20 "
               "minutes: its time ratio would be about 0.47, not 0.38",
    "3669bf0": "the default tail 32; m4_hourly teachers of seeds 1 and 2 retrained at 11438c8 (the seed-1 one scores "
               "as fefd4f4's, digit for digit) on the AVX2-only CPU kind; two distillations side by side",
    "4e7d9e4": "the default tail 32; teachers retrained at 4e7d9e4 (m4_hourly seeds 1, 2 and 3, ett_small_1h and "
               "exchange_rate_nips seeds 1 and 2) on an AVX-512 CPU with native bf16, where precision='auto' runs "
               "the student in bf16 (float32 on the AVX2 kind: the seed-1 m4_hourly teacher scores as 3669bf0's, "
               "digit for digit, its student a little differently); two jobs side by side",
}


def _pct(v: Any) -> str:
    try:
        return f"{float(v):.1%}"
    except (TypeError, ValueError):
        return "—"


def _distill_section(w: Any, results_dir: Path) -> None:
    """The few-step student against its teacher (``distill.csv``, ``calibration_distill.csv``): issue 12's bounds."""
    path = results_dir / "distill.csv"
    if not path.exists():
        return
    rows = [r for r in _read(path) if r.get("status", "ok") == "ok"]
    if not rows:
        return
    w("## Few-step student against its teacher")
    w("")
    w("`benchmarks/distill_eval.py --model <teacher> --dataset <ds> --threads 1`: a saved 4000-step "
      "teacher of the final table (seed in the table; calibrated, DPM-Solver++ 20 steps) is distilled into a "
      "student (`TSDiff.distill_student`), "
      "and both are scored on the same test windows with 100 samples, calibrated as `predict()` does. "
      "Bounds of the issue: the student's wQL within 2% of the teacher's, cov50 / cov90 within 0.02, "
      "distillation at most half the teacher's training time. Runs with `--pred-seeds K` show the mean over K "
      "sampling seeds (the teacher and the student share their starting noise at each seed) and the sd of each "
      "difference over seeds; the bounds are checked on the means. Source: `benchmarks/results/distill.csv`.")
    w("")
    w("| commit | dataset | teacher seed | distill steps | calls | student wQL | teacher wQL | wQL vs teacher | "
      "cov50 diff | cov90 diff | distill / train time | bounds | note |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    def run(r: dict[str, str]) -> tuple:
        # One distill_eval invocation: its command names the run (tail, seeds, output), so two runs of one teacher
        # at one commit (e.g. 4 and 2 sampling seeds) keep their own teacher rows.
        return r["git_sha"], r["dataset"], r.get("seed"), r.get("command")

    teachers: dict[tuple, list[dict[str, str]]] = {}
    for r in rows:
        if r.get("part") == "teacher":
            teachers.setdefault(run(r), []).append(r)
    # A run with --pred-seeds K > 1 is shown by its student-mean rows (mean over the sampling seeds), not per seed.
    averaged = {run(r) for r in rows if r.get("part") == "student-mean"}
    for r in rows:
        key, part = run(r), r.get("part")
        if part not in ("student", "student-mean") or (part == "student" and key in averaged):
            continue  # a multi-seed run's per-seed rows are folded into its student-mean rows
        try:
            rel, d50, d90 = (float(r[k]) for k in ("wql_vs_teacher", "coverage_50_diff", "coverage_90_diff"))
            ratio = float(r["distill_time_ratio"]) if r.get("distill_time_ratio") else float("nan")
        except (KeyError, ValueError):
            continue
        ts = teachers.get(key, [])
        if part == "student":  # one seed: the teacher row of its sampling seed (the group's last, as before)
            ts = [t for t in ts if t.get("pred_seed", "") == r.get("pred_seed", "")][-1:] or ts[-1:]
        t_wql = sum(float(t["mean_wQuantileLoss"]) for t in ts) / len(ts) if ts else float("nan")
        ok = rel <= 0.02 and abs(d50) <= 0.02 and abs(d90) <= 0.02 and not ratio > 0.5
        note = DISTILL_NOTES.get(r["git_sha"][:7], "")
        if r.get("student_tail_length"):  # the column exists from a3487eb on; older students ran on the whole tail
            note = f"student tail {r['student_tail_length']}" + (f"; {note}" if note else "")
        if r.get("distill_seed"):  # the column exists from e062b09 on; before, the teacher's seed seeded it
            note = f"distillation seed {r['distill_seed']}" + (f"; {note}" if note else "")
        if part == "student-mean":
            note = (f"mean of {r.get('n_pred_seeds')} sampling seeds (sd over seeds: {_pct(r.get('wql_vs_teacher_sd'))} "
                    f"/ {_f(r.get('coverage_50_diff_sd'), 3)} / {_f(r.get('coverage_90_diff_sd'), 3)})"
                    + (f"; {note}" if note else ""))
        w(f"| `{r['git_sha'][:7]}` | {r['dataset']} | {r.get('seed') or '—'} | {r.get('distill_steps') or '—'} | "
          f"{r['steps']} | "
          f"{_f(r.get('mean_wQuantileLoss'))} | "
          f"{_f(t_wql)} | {rel:+.1%} | {d50:+.4f} | {d90:+.4f} | "
          f"{ratio:.2f} | {'met' if ok else 'missed'} | {note} |")
    w("")
    law = results_dir / "calibration_distill.csv"
    if law.exists():
        w("Known-law process (`benchmarks/calibration.py --distill`, `benchmarks/results/calibration_distill.csv`): "
          "ensemble std / true std of the teacher and the student (bound: within 0.05 of the teacher's).")
        w("")
        w("| commit | variant | std ratio | minus the teacher's (same calibration) | cov50 | cov90 | note |")
        w("|---|---|---|---|---|---|---|")
        for r in _read(law):
            if r.get("std_ratio"):
                w(f"| `{r.get('git_sha', '')[:7]}` | {r.get('variant', '')} | {_f(r['std_ratio'], 3)} | "
                  f"{_f(r.get('std_ratio_diff'), 3) if r.get('std_ratio_diff') else '—'} | {_f(r.get('cov50'), 3)} | "
                  f"{_f(r.get('cov90'), 3)} | "
                  f"{DISTILL_NOTES.get(r.get('git_sha', '')[:7], '') if 'distilled' in r.get('variant', '') else ''} |")
        w("")


def make_table(results_dir: Path, docs_file: Path, commit: Optional[str] = None,
               plan: Optional[Path] = None) -> None:
    """Write ``docs_file`` from the CSVs in ``results_dir``; the summary uses one commit (:func:`select_commit`)."""
    results_dir = Path(results_dir)
    # Only the CSVs written by run_benchmarks.py / runner.py / sampling_speed.py (other benchmarks share the folder).
    csvs = [p for p in sorted(results_dir.glob("*.csv")) if _is_ours(p)]
    proto = [r for p in csvs if p.stem == "protocol_check" for r in _read(p)]
    speed = [r for p in csvs if p.stem == "sampling_speed" for r in _read(p)]
    runs: dict[str, list[tuple[str, dict[str, str]]]] = defaultdict(list)
    commands: list[str] = []
    provenance: set[tuple[str, ...]] = set()
    for p in csvs:
        rows = _read(p)
        runner_file = any(r.get("job") for r in rows)
        if runner_file:  # one command per job: name the plan's command, the jobs' are in the CSV
            line = (f"python benchmarks/runner.py benchmarks/plans/{p.stem}.txt --jobs 2 --threads 1   "
                    f"# {len(rows)} rows; each job's own command is in {p.name}'s command column")
            commands.append(line)
        for r in rows:
            if r.get("command") and r["command"] not in commands and not runner_file:
                commands.append(r["command"])
            if r.get("git_sha"):
                provenance.add((p.name, r.get("git_sha", ""), r.get("torch", ""), r.get("threads", ""),
                                r.get("machine", "") or "—"))
        if p.stem in ("protocol_check", "sampling_speed"):
            continue
        for r in rows:
            runs[r["dataset"]].append((p.stem, r))

    all_rows = [r for rs in runs.values() for _, r in rs]
    sha, sel = select_commit(all_rows, plan_keys(DEFAULT_PLAN if plan is None else Path(plan)), commit)
    in_summary = [r for r in all_rows if sha is not None and r.get("git_sha") == sha and not exclusion(r)]
    summary_ids = {id(r) for r in in_summary}
    agg = aggregate(in_summary)
    names = [d for d in DATASET_ORDER if d in runs] + sorted(d for d in runs if d not in DATASET_ORDER)

    out: list[str] = []
    w = out.append
    w("# Benchmarks")
    w("")
    w("Generated by `python benchmarks/run_benchmarks.py --make-table` from `benchmarks/results/*.csv`; "
      "do not edit by hand. Every row we measured is shown, including those where tsdiff loses: the summary "
      "uses the rows of one clean commit, every other row is in the history tables.")
    w("")
    _overview_section(w, agg, sha, sel, names)
    if sha is not None:
        _summary_table_section(w, agg, sha, names)
    w("## Protocol")
    w("")
    w("- Every entry of the GluonTS `dataset.test` split is forecast at its last `prediction_length` window "
      "(GluonTS `make_evaluation_predictions`' split; the `*_nips` and weather sets have several rolling "
      "windows per series, each is one entry), with **100 sample paths**.")
    w("- **wQL** = GluonTS `Evaluator()`'s `mean_wQuantileLoss` over the quantiles 0.1, 0.2, ..., 0.9 of the "
      "samples: the number the TSDiff paper calls \"CRPS\" and Chronos calls \"WQL\". "
      "**CRPS (exact)** = `tsdiff.metrics.normalized_crps`: the exact ensemble CRPS (properscoring) summed over "
      "points and divided by `sum |y|`; it is not the same number as wQL (see `tsdiff/metrics.py`). "
      "**CRPS per series**: the same ratio per series (its test windows pooled), averaged over series. "
      "**MASE** and **ND** = GluonTS's, of the median forecast (MASE scaled by the in-sample seasonal naive error, "
      "GluonTS seasonality: 24 hourly, 96 for 15 min, 5 business-day, 1 weekly). "
      "**cov50 / cov90** = share of observed points inside the central 50% / 90% sample intervals.")
    w("- MASE is shown beside wQL on purpose: wQL, CRPS and ND are sums over all series weighted by `|y|`, so "
      "the series with the largest values dominate them, while MASE is a mean over series of scale-free errors. "
      "A forecast can have a good wQL while its median carries a level bias on many small series that MASE "
      "exposes, and the two can rank models differently (mixed-unit sets such as the weather variables).")
    w("- Seasonal naive is GluonTS's `SeasonalNaivePredictor` (a point forecast: one sample, so its wQL = CRPS = ND "
      "and its intervals are empty). AutoETS (last 2000 points) and AutoARIMA (last 500 points; skipped, with the "
      "reason in its row, when its fit would exceed 15 minutes) are statsforecast's with GluonTS's seasonality as "
      "`season_length`; their Gaussian predictive distribution is turned into 100 samples (the (k + 0.5)/100 "
      "quantiles). The weather set has a few missing values: they are interpolated for those two only.")
    w("- Learned models train under a **step or epoch budget**, never a wall-clock budget (rows that did are "
      "history): tsdiff `max_steps` (its own checkpoint selection on sampled validation wQL); GluonTS's torch "
      "DeepAR, PatchTST and TFT an epochs x batches budget with early stopping on the last `prediction_length` "
      "window of each training series (trained on the series without it; no test window is seen: the "
      "`split_check` column of each row) and the best checkpoint reloaded. Context lengths of tsdiff and DeepAR: "
      "336 for hourly data, 312 for m4_hourly (TSDiff protocol), 360 for business-day data, 672 for 15-minute "
      "data (one week), 104 for weekly data; DeepAR also gets the series' static category. `deepar[default]` is "
      "GluonTS's default DeepAR (context = prediction length, no static features). PatchTST and TFT take the "
      "settings of their papers' code for the frequency (see `benchmarks/README.md`).")
    w("- Times are wall seconds on the machine named under Provenance, each (dataset, model, seed) in its own "
      "process with 1 torch thread; peak RSS is that process's `ru_maxrss` (MiB, includes the imported "
      "libraries and the loaded dataset). The machine was shared, so times are indicative.")
    w("")

    # -- protocol check
    w("## Protocol check: GluonTS seasonal naive")
    w("")
    w("| dataset | wQL (ours) | published | MASE (ours) | entries |")
    w("|---|---|---|---|---|")
    for r in proto:
        if r.get("model") != "seasonal_naive":
            continue
        w(f"| {r['dataset']} | {_f(r.get('mean_wQuantileLoss'))} | {PROTOCOL_TARGETS.get(r['dataset'], '—')} | "
          f"{_f(r.get('mase'), 3)} | {r.get('n_entries', '')} |")
    w("")
    w("Both published figures are reproduced, so our test windows and metric are those of the papers.")
    w("")

    # -- history, per dataset
    w("## History: rows not in the summary")
    w("")
    w("Every row that is not in the summary, with why (`why not in summary`: another commit, a wall-clock budget, "
      "a `+dirty` tree, a smoke run, an ablation or variant), then published rows for reference. run = the "
      "results CSV the row comes from; tsdiff's defaults changed between commits, so rows of different commits "
      "are different tsdiff versions and are never averaged together. Published rows report wQL only "
      "(MASE not published: —).")
    w("")
    head = ("| model | run | why not in summary | wQL | MASE | CRPS (exact) | ND | cov50 | cov90 | train s | "
            "predict s | peak RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        rows = [(run, r) for run, r in runs[name] if id(r) not in summary_ids]
        if not rows:
            continue
        w(f"### {name}")
        w("")
        first = next((r for _, r in runs[name] if r.get("status") == "ok"), None)
        if first is not None:
            w(f"freq `{first.get('freq')}`, prediction length {first.get('prediction_length')}, "
              f"{first.get('n_entries')} test entries.")
            w("")
        w(head)
        rows = sorted(rows, key=lambda t: (MODEL_ORDER.get(t[1]["model"], 99), t[0], t[1].get("git_sha", ""),
                                           int(t[1]["seed"] or 0)))
        for run, r in rows:
            budget = _budget(r.get("budget_seconds"))[1] if not str(r.get("budget_seconds", "")).startswith(
                "epochs=") else str(r["budget_seconds"]).replace("epochs=", "") + " epochs"
            label = run + (f", {budget} budget" if budget else "")
            label += f", `{r.get('git_sha', '')[:7]}`" if r.get("git_sha") else ""
            why = exclusion(r) or "other commit"
            if r.get("status") != "ok":
                w(f"| {r['model']} | {label} | {why} | *{r.get('status')}* | | | | | | | | |")
                continue
            cells = _row_cells(r, label)
            w("| " + " | ".join(cells[:2] + [why] + cells[2:]) + " |")
        # mean over seeds: only rows of one results file, one model and one commit
        by_run_model: dict[tuple[str, str, str], list[float]] = defaultdict(list)
        for run, r in rows:
            if r.get("status") == "ok" and r["model"] in LEARNED_MODELS:
                by_run_model[(run, r["model"], r.get("git_sha", ""))].append(float(r["mean_wQuantileLoss"]))
        for (run, model, commit_sha), vals in by_run_model.items():
            if len(vals) > 1:
                w(f"| {model} mean ± sd over {len(vals)} seeds | {run}, `{commit_sha[:7]}` | | {mean_sd(vals)} "
                  "| | | | | | | | |")
        for method, vals in TSDIFF_PAPER.items():
            if name in vals:
                where = "TSDiff paper Table 2" + (" (GPU, ~128k training steps)" if method.startswith("TSDiff") else "")
                w(f"| {method} | published: {where} | reference | {vals[name]:.3f} | — | | | | | | | |")
        if name in CHRONOS:
            sn, best, note = CHRONOS[name]
            w(f"| Chronos seasonal naive | published: Chronos results | reference | {sn:.4f} | — | | | | | | | |")
            w(f"| best Chronos | published: {note} | reference | {best:.4f} | — | | | | | | | |")
        if name in PEERS_2CORE:
            sn, ets, dar, secs = PEERS_2CORE[name]
            w(f"| seasonal naive | reference: protocol.md, 2-core machine | reference | {sn:.4f} | — | | | | | | | |")
            w(f"| AutoETS | reference: protocol.md, 2-core machine | reference | {ets:.4f} | — | | | | | | | |")
            w(f"| DeepAR | reference: protocol.md, 2-core machine, 100 epochs x 50 batches | reference | {dar:.4f} "
              f"| — | | | | | {secs} | | |")
        w("")

    _calibration_section(w, results_dir)

    # -- patch-size ablation
    patch_rows: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for name in names:
        for _run, r in runs[name]:
            if r.get("status") != "ok":
                continue
            if r["model"] == "tsdiff" and "patch_size=" not in r.get("note", "").replace("patch_size=1;", ""):
                patch_rows[(name, "1")].append(r)
            elif r["model"].startswith("tsdiff[patch_size=") and r["model"].endswith("]"):
                patch_rows[(name, r["model"][len("tsdiff[patch_size="):-1])].append(r)
    patches = sorted({k[1] for k in patch_rows if k[1] != "1"}, key=int)
    ablated = [n for n in names if any((n, q) in patch_rows for q in patches)]
    if ablated:
        w("## Ablation: the U-Net's patch size")
        w("")
        w("tsdiff with `patch_size` 1 (the default: no patches) against the patched U-Net, same 120 s budget. "
          "Cells: mean wQL / mean MASE over the seeds run (n). Patch size 1 pools the default rows of the "
          "accuracy table and the ablation's own `tsdiff[patch_size=1]` rows. Patches of 4 sampled "
          "m4_hourly about 3.4x faster on 2 CPU cores (see the sampling speed section).")
        w("")
        w("| dataset | " + " | ".join(f"patch {q}" for q in ["1"] + patches) + " |")
        w("|---|" + "---|" * (1 + len(patches)))
        for name in ablated:
            cells = []
            for q in ["1"] + patches:
                rs = patch_rows.get((name, q), [])
                if not rs:
                    cells.append("—")
                    continue
                wql = statistics.mean(float(r["mean_wQuantileLoss"]) for r in rs)
                mase = statistics.mean(float(r["mase"]) for r in rs)
                cells.append(f"{wql:.4f} / {mase:.3f} ({len(rs)})")
            w(f"| {name} | " + " | ".join(cells) + " |")
        w("")

    # -- sampling speed
    if speed:
        w("## Sampling speed on m4_hourly")
        w("")
        w("`benchmarks/sampling_speed.py`: wall seconds to draw the samples for the first `n_series` test series "
          "(last window, horizon 48, context 312) with the tsdiff model it trains; `414 est.` scales the time "
          "linearly to all 414 series (the n_series rows below show how close to linear it is). wQL and CRPS "
          "are over the timed series only. Scaling figure: `docs/sampling_speed.png`.")
        w("")
        peer = {r["n_series"]: float(r["seconds"]) for r in speed
                if r["sampler"].startswith("deepar") and r.get("status") == "ok" and r.get("seconds")}
        w("`x DeepAR` = seconds / DeepAR's sampling seconds for the same series and samples (GluonTS torch "
          "DeepAREstimator, default architecture, trained for the same budget). Rows with `series = 414` are "
          "measured on all of m4_hourly; `414 est.` only matters for the smaller scaling rows.")
        w("")
        w("Targets, from the rows below (all 414 series x 100 samples, horizon 48, the 2 CPU cores' threads):")
        w("")
        w(_speed_targets(speed))
        w("")
        w("Figure (speed against wQL, cov50 / cov90 in brackets, the latest full run): "
          "`docs/figures/sampling_speed.png`.")
        w("")
        w("![speed vs accuracy](figures/sampling_speed.png)")
        w("")
        w("| part | patch | sampler | steps | series | samples | horizon | context | seconds | x DeepAR | 414 est. s | "
          "peak RSS MiB | wQL | CRPS (exact) | status |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in speed:
            ratio = "—"
            if r.get("status") == "ok" and r["n_series"] in peer and r.get("n_samples") == "100" and r.get("seconds") \
                    and r.get("horizon") == "48" and not r["sampler"].startswith("deepar"):
                ratio = f"{float(r['seconds']) / peer[r['n_series']]:.0f}x"
            w(f"| {r['part']} | {r.get('patch_size') or '—'} | {r['sampler']}{_precision(r)} | {r['steps']} "
              f"| {r['n_series']} "
              f"| {r['n_samples']} | {r['horizon']} | "
              f"{r['context_length'] or '—'} | {_f(r.get('seconds'), 2)} | {ratio} | "
              f"{_sec(r.get('extrapolated_414_seconds'))} | "
              f"{_sec(r.get('peak_rss_mb'))} | {_f(r.get('mean_wQuantileLoss'))} | {_f(r.get('crps'))} | "
              f"{r.get('status')} {('— ' + r['note']) if r.get('status') != 'ok' and r.get('note') else ''} |")
        w("")
        w("![sampling speed](sampling_speed.png)")
        w("")

    _distill_section(w, results_dir)

    # -- missing
    w("## What is missing")
    w("")
    w("- `electricity_nips`, `solar_nips`, `traffic_nips` (and the other TSDiff-paper sets) cannot be downloaded "
      "on the benchmark machine; their rows say *not available offline*. The same command measures them where "
      "GluonTS can download them.")
    measured = {(n, r["model"]) for n in names for _, r in runs[n] if r.get("status") == "ok"}
    missing: dict[tuple[str, str], str] = {}
    for name in names:
        for run, r in runs[name]:
            if r.get("status") not in ("ok", "not available offline") and (name, r["model"]) not in measured:
                why = r.get("error") or r.get("note") or ""
                missing[(name, r["model"])] = f"{r.get('status')} ({run}): {why[:160]}"
    for (name, model), why in sorted(missing.items()):
        w(f"- {name} / {model}: {why}")
    local = [n for n in names if any(r.get("status") == "ok" for _, r in runs[n])]
    for name in local:
        absent = [m for m in MODEL_ORDER if (name, m) not in measured and (name, m) not in missing]
        if absent:
            w(f"- {name}: not run yet for {', '.join(absent)}.")
    w("")

    # -- commands and provenance
    w("## Exact commands")
    w("")
    w("```")
    for c in commands:
        w(_relative_paths(c))
    w("python benchmarks/run_benchmarks.py --make-table")
    w("```")
    w("")
    w("## Provenance")
    w("")
    w("| results file | git SHA | torch | torch threads | machine |")
    w("|---|---|---|---|---|")
    for prov in sorted(provenance):
        w("| " + " | ".join(prov) + " |")
    w("")
    docs_file.parent.mkdir(parents=True, exist_ok=True)
    docs_file.write_text("\n".join(out) + "\n")
