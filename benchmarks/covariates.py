"""Do covariates help tsdiff on real data? The same model with and without them.

Datasets and variants (one model per dataset, variant and seed; the same budget and seed for each):

``weather_jena_hourly``
    Target: air temperature ``T_degC`` (one series). ``past``: the 20 other measured
    variables of the station (pressure, humidity, wind, radiation, rain, ...) as *past*
    covariates (they are not known in the future). ``none``: the temperature alone.
``ett_small_1h``, ``ett_small_15min``
    Target: oil temperature ``OT`` of each of the two transformers. ``past``: the six load
    series of the same transformer (HUFL, HULL, MUFL, MULL, LUFL, LULL) as past covariates
    (realistic). ``known``: the same six series as *known* covariates, i.e. their actual
    future values are given over the horizon. This is an oracle, and an upper bound on what a
    load forecast could give. ``none``: the oil temperature alone.

Protocol: every model is trained on each target series up to ``7 * prediction_length`` steps
before its end, and forecasts 7 rolling windows of ``prediction_length`` steps over those last
steps (window ``w`` sees the history up to its start, never beyond). These are the
GluonTS test windows of ``weather_jena_hourly`` (7 rolling days). For ETT they are the last 7
days (hourly) or the last 42 hours (15 min), of which GluonTS's single test window is the last.
Each forecast has 100 sample paths, scored with :func:`tsdiff.metrics.evaluate`: ``crps_exact``
(the exact ensemble CRPS, normalized by sum |y|), ``wql_mean`` (= GluonTS ``mean_wQuantileLoss``,
the TSDiff paper's "CRPS") and ``mase`` (GluonTS MASE of the median; seasonal error from each
window's own history, season 24 hourly and 96 at 15 min). Every model trains for ``--max-steps``
steps (default: tsdiff's own default), keeping its best checkpoint by its own validation.

Missing covariate values (tsdiff needs complete covariates; here 1 hour per Jena variable and 8
for ``OT``, all in the training part; ETT has none) are filled **without look-ahead**, each slice
from its own values only (:func:`causal_fill`): the training frame, and every forecast window's
history, is forward-filled within each series, and only a leading gap at the very start of the
slice (none in these data) is back-filled from the slice's first observed value. A window's
inputs therefore never depend on values after its cut-off (``tests/test_benchmarks_covariates.py``
changes them and checks). The oracle ``known`` variant's horizon values are the true future
covariates, forward-filled over history + horizon. Missing target values stay missing.

Usage (one job per dataset / variant / seed, as a runner schedules them; a job whose row is
already ``ok`` at the current git SHA is skipped)::

    nice -n 5 python benchmarks/covariates.py --dataset ett_small_1h --variant none --seed 0 --threads 1 \\
        --out benchmarks/results/covariates.csv
    python benchmarks/covariates.py --table --out benchmarks/results/covariates.csv   # markdown table

Rows are written to ``--out`` (CSV; one row per dataset, variant, seed and git SHA, with the
command, hardware, wall time and date) and to the JSON file of the same name.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import inspect
import json
import logging
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import read_rows, upsert_row  # noqa: E402

logger = logging.getLogger("benchmarks.covariates")

N_WINDOWS = 7
N_SAMPLES = 100
ETT_LOADS = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL")
JENA_TARGET = "T_degC"
#: Context length per dataset (the TSDiff protocol's 336 hourly; one week at 15 min keeps the lag 672).
CONTEXT = {"weather_jena_hourly": 336, "ett_small_1h": 336, "ett_small_15min": 672}
VARIANTS = {"weather_jena_hourly": ("none", "past"), "ett_small_1h": ("none", "past", "known"),
            "ett_small_15min": ("none", "past", "known")}
DEFAULT_DATASETS = ("weather_jena_hourly", "ett_small_1h", "ett_small_15min")
KEY = ("dataset", "variant", "seed", "git_sha")
COLUMNS = ["dataset", "variant", "seed", "status", "crps_exact", "wql_mean", "mase", "nd", "coverage_50",
           "coverage_90", "train_s", "predict_s", "wall_s", "train_steps", "best_step", "max_steps", "n_series",
           "n_windows", "n_samples", "prediction_length", "context_length", "covariates", "fill", "git_sha",
           "hardware", "command", "finished_at", "note"]
FILL = "causal: forward fill per slice, leading gap back-filled within the slice"


# --------------------------------------------------------------------------- data
def _wide(name: str) -> tuple[pd.DataFrame, str, int]:
    """The full series of every item of ``name`` as a wide frame (DatetimeIndex x item), freq, H."""
    from tsdiff.datasets import dataset_to_frame, load_dataset

    ds = load_dataset(name)
    freq, H = ds.metadata.freq, int(ds.metadata.prediction_length)
    long, _ = dataset_to_frame(ds.test, freq, duplicates="last")  # the last (longest) test entry of each item
    wide = long.pivot(index="timestamp", columns="item_id", values="target").sort_index()
    return wide, freq, H


def causal_fill(part: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """``part`` with its covariates filled from its own rows only, series by series, in time order.

    Forward fill, then a back fill that can only reach the leading gap (the rows before a
    covariate's first observed value in ``part``). Filling a history slice this way never
    reads a value after the slice's end.
    """
    if not covariates:
        return part
    out = part.copy()
    grouped = out.groupby("item_id", sort=False)[covariates]
    out[covariates] = grouped.ffill()
    out[covariates] = out.groupby("item_id", sort=False)[covariates].bfill()
    return out


def build_problem(name: str) -> dict[str, Any]:
    """Long frame (target + raw covariate columns, NaN kept; one item per target series), freq, H, covariates."""
    wide, freq, H = _wide(name)
    if name == "weather_jena_hourly":
        covs = [c for c in wide.columns if c != JENA_TARGET]
        frame = pd.DataFrame({"item_id": JENA_TARGET, "timestamp": wide.index,
                              "target": wide[JENA_TARGET].to_numpy()})
        for c in covs:
            frame[c] = wide[c].to_numpy()
        items = [JENA_TARGET]
    elif name.startswith("ett_small"):
        covs = list(ETT_LOADS)
        parts = []
        for k in (0, 1):
            part = pd.DataFrame({"item_id": f"OT_{k}", "timestamp": wide.index, "target": wide[f"OT_{k}"].to_numpy()})
            for c in covs:
                part[c] = wide[f"{c}_{k}"].to_numpy()
            parts.append(part)
        frame = pd.concat(parts, ignore_index=True)
        items = ["OT_0", "OT_1"]
    else:
        raise ValueError(f"no covariate set-up for dataset {name!r}; choose from {list(VARIANTS)}")
    return {"frame": frame, "freq": freq, "H": H, "covariates": covs, "items": items}


def windows(problem: dict[str, Any]) -> dict[str, Any]:
    """Training frame and the N_WINDOWS rolling evaluation windows (histories, futures, targets).

    The covariates of the training frame and of each window's history are filled from that
    slice alone (:func:`causal_fill`); the futures (the oracle's known covariates) from the
    window's history and horizon.
    """
    frame, H, covs = problem["frame"], problem["H"], problem["covariates"]
    step = frame.groupby("item_id").cumcount().to_numpy()
    length = frame.groupby("item_id")["target"].transform("size").to_numpy()
    cut = length - N_WINDOWS * H                       # first forecast step of window 0
    train = causal_fill(frame[step < cut].reset_index(drop=True), covs)
    hist_parts, fut_parts, ys, insample = [], [], [], []
    for w in range(N_WINDOWS):
        start = cut + w * H
        for item in problem["items"]:
            mine = (frame["item_id"] == item).to_numpy()
            seen = frame[mine & (step < start + H)].assign(item_id=f"{item}@w{w}")
            n_hist = int(np.sum(mine & (step < start)))
            hist = causal_fill(seen.iloc[:n_hist], covs)
            fut = causal_fill(seen, covs).iloc[n_hist:]
            hist_parts.append(hist)
            fut_parts.append(fut)
            ys.append(fut["target"].to_numpy(np.float64))
            insample.append(hist["target"].to_numpy(np.float64))
    hist = pd.concat(hist_parts, ignore_index=True)
    fut = pd.concat(fut_parts, ignore_index=True)
    order = sorted(hist["item_id"].unique())           # tsdiff returns series sorted by item id
    ids = [f"{item}@w{w}" for w in range(N_WINDOWS) for item in problem["items"]]
    perm = [ids.index(i) for i in order]
    return {"train": train, "history": hist, "future": fut, "ids": order,
            "y": np.stack([ys[i] for i in perm]), "insample": [insample[i] for i in perm]}


# --------------------------------------------------------------------------- one model
def run_one(name: str, variant: str, seed: int, problem: dict[str, Any], split: dict[str, Any],
            args: argparse.Namespace) -> dict[str, Any]:
    from tsdiff import TSDiff, metrics
    from tsdiff.integrations.gluonts import seasonality

    covs = problem["covariates"]
    cols = ["item_id", "timestamp", "target"] + (covs if variant != "none" else [])
    kwargs = {"past": {"past_covariates": covs}, "known": {"known_covariates": covs}}.get(variant, {})
    model = TSDiff(prediction_length=problem["H"], context_length=CONTEXT[name], max_steps=args.max_steps,
                   seed=seed, num_threads=args.threads, device=args.device, progress=False)
    t0 = time.perf_counter()
    model.fit(split["train"][cols], **kwargs)
    train_s = time.perf_counter() - t0
    future_df = split["future"][["item_id", "timestamp"] + covs] if variant == "known" else None
    t0 = time.perf_counter()
    fc = model.predict(n_samples=args.n_samples, df=split["history"][cols], future_df=future_df, seed=seed)
    predict_s = time.perf_counter() - t0
    if list(fc.item_ids) != split["ids"]:
        raise RuntimeError(f"forecast ids {fc.item_ids[:3]}... do not match the windows {split['ids'][:3]}...")
    scores = metrics.evaluate(split["y"], fc.samples, split["insample"], season=seasonality(problem["freq"]))
    res = model.train_result_
    return {"status": "ok", "crps_exact": scores["crps"], "wql_mean": scores["wql_mean"], "mase": scores["mase"],
            "nd": scores["nd"], "coverage_50": scores["coverage_50"], "coverage_90": scores["coverage_90"],
            "train_s": round(train_s, 1), "predict_s": round(predict_s, 1), "train_steps": res.steps,
            "best_step": res.best_step, "context_length": model.config_.context_length,
            "note": f"stopped={res.stopped_reason}; device={model.device_}; threads={args.threads}"}


# --------------------------------------------------------------------------- output
def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def write_row(path: Path, row: dict[str, Any]) -> None:
    """Insert ``row`` into the CSV (and its JSON twin), replacing the same dataset / variant / seed / git SHA."""
    upsert_row(path, row, KEY, COLUMNS, _fmt)
    write_json(path)


def write_json(path: Path) -> None:
    """The rows of the CSV at ``path`` as a JSON list next to it (numbers as numbers, hardware as an object)."""
    json_rows = []
    for r in read_rows(path):
        d: dict[str, Any] = dict(r)
        for k, v in d.items():
            if k == "hardware" and v:
                d[k] = json.loads(v)
            elif k in ("crps_exact", "wql_mean", "mase", "nd", "coverage_50", "coverage_90", "train_s", "predict_s",
                       "wall_s", "budget_seconds"):
                d[k] = float(v) if v not in ("", None) else None
            elif k in ("seed", "train_steps", "best_step", "max_steps", "n_series", "n_windows", "n_samples",
                       "prediction_length", "context_length"):
                d[k] = int(v) if v not in ("", None) else None
        json_rows.append(d)
    path.with_suffix(".json").write_text(json.dumps(json_rows, indent=1) + "\n")


def table(path: Path, commit: str | None = None) -> str:
    """Markdown table of the CSV's rows of one commit: mean ± sd over seeds per dataset and variant, with the seed count.

    ``commit``: a git SHA (or its prefix); default the commit of the last ``ok`` row. The last
    column is the change of the exact CRPS against the ``none`` model of the same dataset and
    seed (negative: the covariates helped), seed by seed.
    """
    rows = [r for r in read_rows(path) if r["status"] == "ok"]
    if rows:
        sha = next((r["git_sha"] for r in reversed(rows) if commit and r["git_sha"].startswith(commit)),
                   rows[-1]["git_sha"] if not commit else None)
        if sha is None:
            raise SystemExit(f"no ok row of commit {commit!r} in {path}")
        rows = [r for r in rows if r["git_sha"] == sha]
    base = {(r["dataset"], r["seed"]): float(r["crps_exact"]) for r in rows if r["variant"] == "none"}
    out = ["| dataset | variant | seeds | CRPS (exact) | wQL mean | MASE | cov50 / cov90 | best steps | train s "
           "| CRPS vs none, per seed |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    order = {v: i for i, v in enumerate(("none", "past", "known"))}
    keys = sorted({(r["dataset"], r["variant"]) for r in rows},
                  key=lambda k: (list(DEFAULT_DATASETS).index(k[0]) if k[0] in DEFAULT_DATASETS else 99,
                                 order.get(k[1], 9)))
    if rows:
        out.insert(0, f"Commit `{rows[0]['git_sha'][:12]}`, {rows[0].get('max_steps') or '?'} training steps; "
                      "mean ± sd over seeds (sd with two seeds or more).\n")
    for ds, var in keys:
        mine = sorted((r for r in rows if (r["dataset"], r["variant"]) == (ds, var)), key=lambda r: int(r["seed"]))

        def values(col: str, mine: list = mine) -> np.ndarray:
            return np.array([float(r[col]) for r in mine])

        def cell(col: str, digits: int) -> str:
            v = values(col)
            return f"{v.mean():.{digits}f}" + (f" ± {v.std(ddof=1):.{digits}f}" if len(v) > 1 else "")

        label = var + (" (oracle)" if var == "known" else "")
        changes = [f"{100 * (float(r['crps_exact']) / base[(ds, r['seed'])] - 1):+.1f}%" for r in mine
                   if var != "none" and (ds, r["seed"]) in base]
        cov = " / ".join(f"{values(c).mean():.2f}" for c in ("coverage_50", "coverage_90"))
        steps = ", ".join(str(r.get("best_step") or "?") for r in mine)
        out.append(f"| {ds} | {label} | {len(mine)} | {cell('crps_exact', 4)} | {cell('wql_mean', 4)} | "
                   f"{cell('mase', 3)} | {cov} | {steps} | {values('train_s').mean():.0f} "
                   f"| {', '.join(changes) if changes else '-'} |")
    return "\n".join(out)


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_steps = inspect.signature(__import__("tsdiff").TSDiff).parameters["max_steps"].default
    parser.add_argument("--max-steps", type=int, default=default_steps,
                        help=f"training step budget per model (default: tsdiff's, {default_steps})")
    parser.add_argument("--seeds", "--seed", type=int, nargs="+", default=[0])
    parser.add_argument("--datasets", "--dataset", nargs="+", default=list(DEFAULT_DATASETS), choices=list(VARIANTS))
    parser.add_argument("--variants", "--variant", nargs="+", default=["none", "past", "known"],
                        choices=["none", "past", "known"])
    parser.add_argument("--force", action="store_true", help="rerun rows already ok at this commit")
    parser.add_argument("--commit", help="--table: the rows of this commit (default: the last row's)")
    parser.add_argument("--out", default="benchmarks/results/covariates.csv")
    parser.add_argument("--n-samples", type=int, default=N_SAMPLES)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (num_threads of TSDiff)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--table", action="store_true", help="print the markdown table of --out and exit")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.table:
        write_json(out)
        print(table(out, args.commit))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch
    from _common import git_sha, hardware

    torch.set_num_threads(args.threads)
    sha, hw = git_sha(), hardware()
    command = "python benchmarks/covariates.py " + " ".join(shlex.quote(a) for a in argv)
    done = set() if args.force else {(r["dataset"], r["variant"], r["seed"]) for r in read_rows(out)
                                     if r.get("status") == "ok" and r.get("git_sha") == sha}
    for name in args.datasets:
        jobs = [(seed, v) for seed in args.seeds for v in VARIANTS[name]
                if v in args.variants and (name, v, str(seed)) not in done]
        if not jobs:
            logger.info("%s: every job already ok in %s at %s", name, out, sha[:12])
            continue
        problem = build_problem(name)
        split = windows(problem)
        logger.info("%s: %d target series, %d covariates, train %d rows, %d windows of %d steps", name,
                    len(problem["items"]), len(problem["covariates"]), len(split["train"]), N_WINDOWS, problem["H"])
        for seed, variant in jobs:
            t_wall = time.perf_counter()
            row: dict[str, Any] = {"dataset": name, "variant": variant, "seed": seed, "fill": FILL,
                                   "max_steps": args.max_steps, "n_series": len(problem["items"]),
                                   "n_windows": N_WINDOWS, "n_samples": args.n_samples,
                                   "prediction_length": problem["H"],
                                   "covariates": "" if variant == "none" else " ".join(problem["covariates"]),
                                   "git_sha": sha, "hardware": hw, "command": command}
            try:
                row.update(run_one(name, variant, seed, problem, split, args))
            except Exception as exc:  # recorded, not fatal
                logger.exception("%s / %s / seed %d failed", name, variant, seed)
                row.update(status="error", note=f"{type(exc).__name__}: {str(exc)[:300]}")
            row.update(wall_s=round(time.perf_counter() - t_wall, 1),
                       finished_at=_dt.datetime.now().isoformat(timespec="seconds"))
            write_row(out, row)
            logger.info("%s %s seed=%d: crps=%s wql=%s mase=%s train %ss predict %ss", name, variant, seed,
                        _fmt(row.get("crps_exact", float("nan"))), _fmt(row.get("wql_mean", float("nan"))),
                        _fmt(row.get("mase", float("nan"))), row.get("train_s"), row.get("predict_s"))
    print(table(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
