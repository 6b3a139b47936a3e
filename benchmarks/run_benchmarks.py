"""Benchmarks of tsdiff against peers under the TSDiff / Chronos protocol.

One command per table; every row is appended to (or replaces the same
``dataset, model, seed`` row of) the CSV given by ``--out``::

    # protocol check: GluonTS seasonal naive must give 0.011 / 0.0483 wQL
    python benchmarks/run_benchmarks.py --datasets exchange_rate_nips m4_hourly \
        --models seasonal_naive --out benchmarks/results/protocol_check.csv
    # baselines on every dataset
    python benchmarks/run_benchmarks.py --models seasonal_naive autoets \
        --out benchmarks/results/baselines.csv
    # learned models, same wall-clock training budget for each
    python benchmarks/run_benchmarks.py --datasets ett_small_1h m4_hourly --models deepar tsdiff \
        --seeds 0 --budget-seconds 120 --out benchmarks/results/learned_120s.csv
    # docs/benchmarks.md from every CSV under benchmarks/results/
    python benchmarks/run_benchmarks.py --make-table

Protocol (TSDiff, Kollovieh et al. 2023; Chronos' WQL): every entry of ``dataset.test`` is
forecast at its last ``prediction_length`` window (GluonTS ``make_evaluation_predictions``'s
split), with 100 sample paths. Metrics: GluonTS ``Evaluator()``'s ``mean_wQuantileLoss``
(quantiles 0.1, ..., 0.9; what the TSDiff paper calls CRPS and Chronos calls WQL), GluonTS's
``MASE`` and ``ND`` (of the median), and from :mod:`tsdiff.metrics` the exact ensemble CRPS
(properscoring, normalized by sum |y|) and the empirical coverage of the central 50% / 90%
intervals. Each (dataset, model, seed) runs in a forked worker process, so its peak RSS
(``ru_maxrss``) is its own.

All GluonTS calls go through :mod:`tsdiff.integrations.gluonts`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import math
import multiprocessing as mp
import os
import resource
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import collect, current_rss_mb, upsert_row  # noqa: E402

RESULTS_DIR = ROOT / "benchmarks" / "results"
DOCS_FILE = ROOT / "docs" / "benchmarks.md"

logger = logging.getLogger("benchmarks")

# --------------------------------------------------------------------------- configuration
#: Context length given to the learned models, per dataset, and why.
DATASETS: dict[str, dict[str, Any]] = {
    "exchange_rate_nips": {"context_length": 360, "why": "business-day data: TSDiff protocol (360)"},
    "m4_hourly": {"context_length": 312, "why": "TSDiff protocol for m4_hourly (312 / 48)"},
    "ett_small_1h": {"context_length": 336, "why": "hourly data: TSDiff protocol (336)"},
    "ett_small_15min": {"context_length": 672, "why": "15-minute data: one week (keeps the weekly lag 672)"},
    "electricity_weekly": {"context_length": 104, "why": "weekly data: two years"},
    "m4_weekly": {"context_length": 104, "why": "weekly data: two years"},
    "weather_jena_hourly": {"context_length": 336, "why": "hourly data: TSDiff protocol (336)"},
    # TSDiff paper datasets that cannot be downloaded here (rows say so; code path is the same).
    "electricity_nips": {"context_length": 336, "why": "hourly data: TSDiff protocol (336)"},
    "solar_nips": {"context_length": 336, "why": "hourly data: TSDiff protocol (336)"},
    "traffic_nips": {"context_length": 336, "why": "hourly data: TSDiff protocol (336)"},
}
DEFAULT_DATASETS = ["ett_small_1h", "m4_hourly", "exchange_rate_nips", "weather_jena_hourly",
                    "ett_small_15min", "electricity_weekly", "m4_weekly",
                    "electricity_nips", "solar_nips", "traffic_nips"]
MODELS = ("seasonal_naive", "autoets", "deepar", "tsdiff")
LEARNED = ("deepar", "tsdiff")

COLUMNS = ["dataset", "model", "seed", "status", "freq", "prediction_length", "context_length", "n_entries",
           "n_samples", "budget_seconds", "mean_wQuantileLoss", "crps", "mase", "nd", "coverage_50",
           "coverage_90", "wql_tsdiff_metrics", "train_seconds", "predict_seconds", "train_steps",
           "peak_rss_mb", "peak_rss_delta_mb", "threads", "machine", "git_sha", "torch", "device", "note", "command",
           "finished_at",
           "val_history"]


# --------------------------------------------------------------------------- helpers
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _machine() -> str:
    import platform

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPUs ({platform.machine()}), {gpu}"


def _load(name: str):
    from tsdiff.datasets import load_dataset

    return load_dataset(name)


def _samples_of(forecast) -> np.ndarray:
    return np.asarray(forecast.samples, dtype=np.float64)


def score(tss: list, forecasts: list, H: int) -> dict[str, float]:
    """GluonTS Evaluator metrics plus tsdiff.metrics' exact CRPS and coverage."""
    from tsdiff import metrics
    from tsdiff.integrations.gluonts import evaluate

    agg, _ = evaluate(tss, forecasts)
    y = np.stack([np.asarray(ts.iloc[-H:], dtype=np.float64).reshape(-1) for ts in tss])
    s_max = max(f.samples.shape[0] for f in forecasts)
    # Point forecasts (seasonal naive: one sample) are repeated to a common ensemble size.
    samples = np.stack([np.repeat(_samples_of(f), s_max // f.samples.shape[0], axis=0) for f in forecasts])
    return {
        "mean_wQuantileLoss": float(agg["mean_wQuantileLoss"]),
        "mase": float(agg["MASE"]),
        "nd": float(agg["ND"]),
        "crps": metrics.normalized_crps(y, samples),
        "coverage_50": metrics.coverage(y, samples, 0.5),
        "coverage_90": metrics.coverage(y, samples, 0.9),
        "wql_tsdiff_metrics": metrics.weighted_quantile_loss(y, samples),
    }


def autoets_forecasts(inputs: list, freq: str, H: int, n_samples: int, max_history: int) -> tuple[list, str]:
    """statsforecast AutoETS on each input entry; samples = Gaussian quantile ensemble.

    ETS gives Gaussian predictive distributions; the ensemble holds the ``(k + 0.5) / n``
    quantiles (k = 0..n-1) of N(mean, sigma) at each step, with sigma read from the 80%
    interval. Missing values (weather set) are filled by linear interpolation (ends:
    nearest value) for ETS only. The fit uses the last ``max_history`` points.
    """
    import pandas as pd
    from scipy.stats import norm
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    from tsdiff.integrations.gluonts import sample_forecast, seasonality

    season = seasonality(freq)
    frames, n_filled = [], 0
    for i, entry in enumerate(inputs):
        y = np.asarray(entry["target"], dtype=np.float64)[-max_history:]
        if np.isnan(y).any():
            n_filled += int(np.isnan(y).sum())
            y = pd.Series(y).interpolate(limit_direction="both").to_numpy()
        frames.append(pd.DataFrame({"unique_id": i, "ds": np.arange(len(y)), "y": y}))
    df = pd.concat(frames, ignore_index=True)
    sf = StatsForecast(models=[AutoETS(season_length=season)], freq=1, n_jobs=1)
    out = sf.forecast(df=df, h=H, level=[80])
    out = out.reset_index() if "unique_id" not in out.columns else out
    z80 = norm.ppf(0.9)
    zs = norm.ppf((np.arange(n_samples) + 0.5) / n_samples)
    forecasts = []
    for i, entry in enumerate(inputs):
        rows = out[out["unique_id"] == i]
        mean = rows["AutoETS"].to_numpy(dtype=np.float64)
        sigma = np.nan_to_num((rows["AutoETS-hi-80"].to_numpy(dtype=np.float64) - mean) / z80, nan=0.0)
        sigma = np.maximum(sigma, 0.0)
        mean = np.nan_to_num(mean, nan=float(np.nanmean(np.asarray(entry["target"], dtype=np.float64))))
        samples = mean[None, :] + zs[:, None] * sigma[None, :]
        start = entry["start"] + len(entry["target"])
        forecasts.append(sample_forecast(samples, start, entry.get("item_id")))
    note = f"season_length={season}; fit on the last {max_history} points"
    if n_filled:
        note += f"; {n_filled} missing values interpolated for ETS only"
    return forecasts, note


def run_one(name: str, model: str, seed: int, args: argparse.Namespace, ds: Any) -> dict[str, Any]:
    """Train (if needed), forecast and score one (dataset, model, seed); runs in a worker process."""
    import torch
    from _peers import deepar_estimator, last_window_inputs, seasonal_naive_predictor

    from tsdiff.integrations.gluonts import TSDiffEstimator

    torch.set_num_threads(args.threads)
    start_rss = current_rss_mb()
    freq = ds.metadata.freq
    H = int(ds.metadata.prediction_length)
    ctx = DATASETS.get(name, {}).get("context_length")
    test_entries = list(ds.test)
    if args.quick:
        test_entries = test_entries[:args.quick_entries]
    inputs, tss = last_window_inputs(test_entries, H)
    row: dict[str, Any] = {"freq": freq, "prediction_length": H, "n_entries": len(inputs),
                           "n_samples": args.n_samples, "context_length": "", "budget_seconds": "",
                           "train_steps": "", "device": "cpu", "note": ""}
    train_s = 0.0
    t0 = time.perf_counter()
    if model == "seasonal_naive":
        predictor = seasonal_naive_predictor(freq, H)
        forecasts = list(predictor.predict(inputs, num_samples=args.n_samples))
        row["note"] = f"GluonTS SeasonalNaivePredictor, season_length={predictor.season_length}"
    elif model == "autoets":
        forecasts, row["note"] = autoets_forecasts(inputs, freq, H, args.n_samples, args.ets_max_history)
    elif model == "tsdiff":
        train = list(ds.train)
        if args.quick:
            train = train[:args.quick_entries]
        # A step budget (reproducible) when --max-steps is given, with --budget-seconds as a cap only.
        budget = ({"max_steps": args.max_steps, "max_time": args.cap_seconds} if args.max_steps
                  else {"max_steps": 10**9, "max_time": args.budget_seconds})
        estimator = TSDiffEstimator(freq=freq, prediction_length=H, context_length=ctx, seed=seed, progress=False,
                                    device=args.device, **budget, **dict(args.tsdiff_param))
        predictor = estimator.train(train)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        forecasts = list(predictor.predict(inputs, num_samples=args.n_samples, seed=seed,
                                           **dict(args.predict_param)))
        if args.also_raw:  # the same fitted model's raw diffusion ensemble, scored as its own row
            raw = list(predictor.predict(inputs, num_samples=args.n_samples, seed=seed,
                                         **{**dict(args.predict_param), "calibrated": False}))
            row["raw_scores"] = score(tss, raw, H)
        m = predictor.model
        row.update(context_length=m.config_.context_length,
                   budget_seconds=f"steps={args.max_steps}" if args.max_steps else args.budget_seconds,
                   train_steps=m.train_result_.steps, device=str(m.device_),
                   # The learning curve: forecast-skill validation (sampled wQL on held-out windows) per step.
                   val_history=json.dumps([[int(h["step"]), round(float(h["val_loss"]), 5)]
                                           for h in m.train_result_.history if "val_loss" in h]),
                   note=(f"sampler={m.sampler} steps={m.sampler_steps}; patch_size={m.config_.patch_size}; "
                         f"tail_length={m.config_.tail_length}; best_step={m.train_result_.best_step}; "
                         f"stopped={m.train_result_.stopped_reason}"
                         + "".join(f"; {k}={v}" for k, v in args.tsdiff_param)
                         + "".join(f"; predict {k}={v}" for k, v in args.predict_param)))
    elif model == "deepar":
        train = list(ds.train)
        if args.quick:
            train = train[:args.quick_entries]
        torch.manual_seed(seed)  # DeepAR uses the global RNGs (script-level seeding)
        np.random.seed(seed)
        estimator = deepar_estimator(freq, H, None, max_time_seconds=args.budget_seconds)
        predictor = estimator.train(train, cache_data=True)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        forecasts = list(predictor.predict(inputs, num_samples=args.n_samples))
        row.update(context_length=estimator.context_length, budget_seconds=args.budget_seconds,
                   note="GluonTS torch DeepAREstimator, default architecture and context_length; lightning max_time")
    else:
        raise ValueError(f"unknown model {model!r}")
    predict_s = time.perf_counter() - t0
    row.update(score(tss, forecasts, H))
    row.update(train_seconds=round(train_s, 2), predict_seconds=round(predict_s, 2),
               peak_rss_mb=round(_peak_rss_mb(), 1), peak_rss_delta_mb=round(_peak_rss_mb() - start_rss, 1),
               status="ok")
    return row


def _worker(conn, name, model, seed, args, ds) -> None:
    try:
        row = run_one(name, model, seed, args, ds)
    except ImportError as exc:
        row = {"status": "unavailable", "note": str(exc)[:300]}
    except Exception as exc:  # recorded, not fatal: one failure must not lose the table
        traceback.print_exc()
        row = {"status": "error", "note": f"{type(exc).__name__}: {str(exc)[:300]}"}
    conn.send(row)
    conn.close()


def run_isolated(name: str, model: str, seed: int, args: argparse.Namespace, ds: Any) -> dict[str, Any]:
    """:func:`run_one` in a forked process (own peak memory; a crash becomes an error row)."""
    if args.no_fork:
        try:
            return run_one(name, model, seed, args, ds)
        except ImportError as exc:
            return {"status": "unavailable", "note": str(exc)[:300]}
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(send, name, model, seed, args, ds))
    return collect(proc, recv, send)


# --------------------------------------------------------------------------- CSV
def write_row(path: Path, row: dict[str, Any]) -> None:
    """Insert ``row`` into the CSV at ``path``, replacing a row with the same dataset/model/seed."""
    upsert_row(path, row, ("dataset", "model", "seed"), COLUMNS, _fmt)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def run_table(args: argparse.Namespace) -> None:
    import torch
    from _common import git_sha

    out = Path(args.out)
    sha = git_sha()
    machine = _machine()
    command = "python benchmarks/run_benchmarks.py " + " ".join(shlex.quote(a) for a in args.argv)
    for name in args.datasets:
        try:
            ds = _load(name)
            list(ds.test)[:1]
        except Exception as exc:  # offline: GluonTS tries to download and fails
            logger.warning("%s: not available (%s: %s)", name, type(exc).__name__, str(exc)[:200])
            for model in args.models:
                for seed in (args.seeds if model in LEARNED else [0]):
                    write_row(out, {"dataset": name, "model": model, "seed": seed, "status": "not available offline",
                                    "note": f"{type(exc).__name__}: {str(exc)[:150]}", "git_sha": sha,
                                    "threads": args.threads, "machine": machine,
                                    "torch": torch.__version__, "command": command,
                                    "finished_at": _dt.datetime.now().isoformat(timespec="seconds")})
            continue
        for model in args.models:
            for seed in (args.seeds if model in LEARNED else [0]):
                logger.info("%s / %s / seed %d ...", name, model, seed)
                t0 = time.perf_counter()
                row = run_isolated(name, model, seed, args, ds)
                row.update(dataset=name, model=_label(model, args), seed=seed, git_sha=sha, torch=torch.__version__,
                           threads=args.threads, command=command, machine=machine,
                           finished_at=_dt.datetime.now().isoformat(timespec="seconds"))
                raw_scores = row.pop("raw_scores", None)
                write_row(out, row)
                if raw_scores is not None:
                    base = _label(model, args)
                    write_row(out, {**row, **raw_scores, "model": (base[:-1] + ",raw]") if base.endswith("]")
                                    else base + "[raw]", "note": row.get("note", "") + "; predict(calibrated=False) "
                                    "of the same fitted model"})
                logger.info("%s / %s / seed %d: %s wQL=%s MASE=%s CRPS=%s (%.0f s)", name, model, seed,
                            row.get("status"), _fmt(row.get("mean_wQuantileLoss", "")), _fmt(row.get("mase", "")),
                            _fmt(row.get("crps", "")), time.perf_counter() - t0)


def _label(model: str, args: argparse.Namespace) -> str:
    """``tsdiff[patch_size=4]`` for an ablation run (so it never replaces or mixes with the default rows)."""
    params = list(args.tsdiff_param) + [(f"predict.{k}", v) for k, v in args.predict_param]
    if model != "tsdiff" or not params:
        return model
    return "tsdiff[" + ",".join(f"{k}={v}" for k, v in params) + "]"


def _param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(KEY, literal VALUE)`` (a plain string when it is not a literal)."""
    import ast

    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


# --------------------------------------------------------------------------- docs table
def main(argv: Optional[list[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=DEFAULT_DATASETS, choices=sorted(DATASETS))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds of the learned models")
    p.add_argument("--budget-seconds", type=float, default=120.0,
                   help="wall-clock training budget of each learned model per dataset and seed (same for all)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="tsdiff: train for this many steps (reproducible) instead of --budget-seconds")
    p.add_argument("--cap-seconds", type=float, default=None,
                   help="tsdiff with --max-steps: a wall-clock cap (a stop, not a budget)")
    p.add_argument("--predict-param", action="append", default=[], type=_param, metavar="KEY=VALUE",
                   help="extra tsdiff predict argument, e.g. --predict-param calibrated=False")
    p.add_argument("--also-raw", action="store_true",
                   help="tsdiff: also score the raw ensemble (calibrated=False) of the same fit, as model tsdiff[raw]")
    p.add_argument("--n-samples", type=int, default=100)
    p.add_argument("--out", default=str(RESULTS_DIR / "results.csv"))
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    p.add_argument("--device", default="auto", help="tsdiff device")
    p.add_argument("--ets-max-history", type=int, default=2000, help="AutoETS fits on the last N points")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: first --quick-entries entries, 15 s budget")
    p.add_argument("--quick-entries", type=int, default=8)
    p.add_argument("--tsdiff-param", action="append", default=[], type=_param, metavar="KEY=VALUE",
                   help="extra tsdiff.TSDiff argument (repeatable; value parsed as a Python literal), "
                        "e.g. --tsdiff-param patch_size=4; for ablations, written to a scratch --out")
    p.add_argument("--no-fork", action="store_true", help="run in this process (debugging)")
    p.add_argument("--make-table", action="store_true",
                   help="write docs/benchmarks.md from the CSVs in benchmarks/results/ and exit")
    args = p.parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("tsdiff").setLevel(logging.WARNING)
    if args.make_table:
        from make_table import make_table  # benchmarks/make_table.py

        make_table(RESULTS_DIR, DOCS_FILE)
        print(f"wrote {DOCS_FILE}")
        return
    if args.quick:
        args.budget_seconds = min(args.budget_seconds, 15.0)
    run_table(args)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
