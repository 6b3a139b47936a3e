"""Benchmarks of tsdiff against peers under the TSDiff / Chronos protocol.

One command per table; every row is appended to (or replaces the same
``dataset, model, seed`` row of) the CSV given by ``--out``. The final table is run through
``benchmarks/runner.py`` (resumable, two jobs at a time, one row per job with its provenance),
which calls this script once per (dataset, model, seed)::

    # protocol check: GluonTS seasonal naive must give 0.011 / 0.0483 wQL
    python benchmarks/run_benchmarks.py --datasets exchange_rate_nips m4_hourly \
        --models seasonal_naive --out benchmarks/results/protocol_check.csv
    # one learned peer under its epoch budget (early stopping on the training split's last window)
    python benchmarks/run_benchmarks.py --datasets ett_small_1h --models patchtst --seeds 0 --out scratch/x.csv
    # tsdiff under a step budget, saving the fitted model for later scripts
    python benchmarks/run_benchmarks.py --datasets m4_hourly --models tsdiff --max-steps 4000 \
        --save-model-dir scratch/models --out scratch/x.csv
    # docs/benchmarks.md from every CSV under benchmarks/results/
    python benchmarks/run_benchmarks.py --make-table

Protocol (TSDiff, Kollovieh et al. 2023; Chronos' WQL): every entry of ``dataset.test`` is
forecast at its last ``prediction_length`` window (GluonTS ``make_evaluation_predictions``'s
split), with 100 sample paths. Metrics: GluonTS ``Evaluator()``'s ``mean_wQuantileLoss``
(quantiles 0.1, ..., 0.9; what the TSDiff paper calls CRPS and Chronos calls WQL), GluonTS's
``MASE`` and ``ND`` (of the median), and from :mod:`tsdiff.metrics` the exact ensemble CRPS
(properscoring, normalized by sum |y| over all series, ``crps``, and per series then averaged,
``crps_series``) and the empirical coverage of the central 50% / 90% intervals. Each (dataset,
model, seed) runs in a forked worker process, so its peak RSS (``ru_maxrss``) is its own.

Training budgets: tsdiff ``--max-steps`` (its own checkpoint selection on sampled validation wQL);
GluonTS peers (``deepar``, ``deepar[default]``, ``patchtst``, ``tft``) an epoch x batch budget
(``_peers.GLUONTS_BUDGETS``, overridable with ``--max-epochs`` / ``--batches-per-epoch`` /
``--patience``) with early stopping on the last ``prediction_length`` window of each training
series. ``--cap-seconds`` is a wall-clock safety stop only (the row's ``stop_reason`` says when it
fired); ``--budget-seconds`` (a wall-clock *budget*) is kept for the history rows' commands only.

All of the peers' construction code is in ``benchmarks/_peers.py``.
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
MODELS = ("seasonal_naive", "autoets", "autoarima", "deepar", "deepar[default]", "patchtst", "tft", "tsdiff")
STATISTICAL = ("seasonal_naive", "autoets", "autoarima")
LEARNED = ("deepar", "deepar[default]", "patchtst", "tft", "tsdiff")
#: tsdiff's step budget in the tables: TSDiff's own default (``max_steps=4000``).
TSDIFF_MAX_STEPS = 4000

COLUMNS = ["dataset", "model", "seed", "status", "freq", "prediction_length", "context_length", "n_entries",
           "n_samples", "budget_seconds", "cap_seconds", "mean_wQuantileLoss", "crps", "crps_series", "mase", "nd",
           "coverage_50", "coverage_90", "wql_tsdiff_metrics", "train_seconds", "predict_seconds", "train_steps",
           "epochs", "best_epoch", "stop_reason", "peak_rss_mb", "peak_rss_delta_mb", "threads", "machine", "git_sha",
           "torch", "device", "settings", "split_check", "model_path", "note", "command", "finished_at",
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


def score(tss: list, forecasts: list, H: int, samples: Optional[np.ndarray] = None,
          keys: Optional[list] = None) -> dict[str, float]:
    """GluonTS Evaluator metrics plus tsdiff.metrics' exact CRPS and coverage.

    ``forecasts`` go to GluonTS's Evaluator (wQL, MASE, ND). ``samples`` (``(N, S, H)``) is the
    ensemble of the exact CRPS and the coverage; by default the forecasts' own ``samples`` (point
    forecasts, seasonal naive's one sample, are repeated to a common ensemble size). ``keys``
    (one per entry: which series it belongs to) groups the windows of a series for ``crps_series``,
    the mean over series of sum CRPS / sum |y|; by default every entry is its own series.
    """
    from tsdiff import metrics
    from tsdiff.integrations.gluonts import evaluate

    agg, _ = evaluate(tss, forecasts)
    y = np.stack([np.asarray(ts.iloc[-H:], dtype=np.float64).reshape(-1) for ts in tss])
    if samples is None:
        s_max = max(f.samples.shape[0] for f in forecasts)
        samples = np.stack([np.repeat(_samples_of(f), s_max // f.samples.shape[0], axis=0) for f in forecasts])
    return {
        "mean_wQuantileLoss": float(agg["mean_wQuantileLoss"]),
        "mase": float(agg["MASE"]),
        "nd": float(agg["ND"]),
        "crps": metrics.normalized_crps(y, samples),
        "crps_series": per_series_crps(y, samples, keys),
        "coverage_50": metrics.coverage(y, samples, 0.5),
        "coverage_90": metrics.coverage(y, samples, 0.9),
        "wql_tsdiff_metrics": metrics.weighted_quantile_loss(y, samples),
    }


def per_series_crps(y: np.ndarray, samples: np.ndarray, keys: Optional[list] = None) -> float:
    """Mean over series of (exact ensemble CRPS summed over the series' points) / (sum |y| of the series).

    ``y`` ``(N, H)``, ``samples`` ``(N, S, H)``, ``keys`` one hashable per entry (entries with the same
    key are windows of one series; default: each entry its own series). Series with sum |y| = 0 are
    left out. Unlike wQL and ``crps`` (sums over all series divided by the total sum |y|), every series
    weighs the same, so large-valued series (pressure, air density on weather) do not dominate it.
    """
    from tsdiff import metrics

    point = metrics.crps_ensemble(y, samples)
    keys = list(range(len(y))) if keys is None else list(keys)
    num: dict[Any, float] = {}
    den: dict[Any, float] = {}
    for k, c, yy in zip(keys, point, y):
        obs = np.isfinite(yy)
        num[k] = num.get(k, 0.0) + float(np.sum(c[obs]))
        den[k] = den.get(k, 0.0) + float(np.sum(np.abs(yy[obs])))
    ratios = [num[k] / den[k] for k in num if den[k] > 0]
    return float(np.mean(ratios)) if ratios else float("nan")


def run_one(name: str, model: str, seed: int, args: argparse.Namespace, ds: Any) -> dict[str, Any]:
    """Train (if needed), forecast and score one (dataset, model, seed); runs in a worker process."""
    import torch
    from _peers import check_no_test_overlap, last_window_inputs, series_key

    torch.set_num_threads(args.threads)
    start_rss = current_rss_mb()
    freq = ds.metadata.freq
    H = int(ds.metadata.prediction_length)
    test_entries = list(ds.test)
    train = list(ds.train)
    if args.quick:
        test_entries, train = test_entries[:args.quick_entries], train[:args.quick_entries]
    inputs, tss = last_window_inputs(test_entries, H)
    check = check_no_test_overlap(train, inputs)
    row: dict[str, Any] = {"freq": freq, "prediction_length": H, "n_entries": len(inputs),
                           "n_samples": args.n_samples, "context_length": "", "budget_seconds": "",
                           "cap_seconds": args.cap_seconds if model in LEARNED else "",
                           "train_steps": "", "device": "cpu", "note": "",
                           "split_check": f"every training series ends >= {check['min_gap']} steps before its "
                                          f"test windows ({check['n_checked']} windows checked)"}
    keys = [series_key(e) for e in inputs]
    if model in STATISTICAL:
        forecasts, samples, train_s, predict_s = _run_statistical(model, inputs, freq, H, args, row)
        if forecasts is None:
            return {**row, "status": "skipped"}
    elif model == "tsdiff":
        forecasts, samples, train_s, predict_s = _run_tsdiff(name, seed, train, inputs, tss, freq, H, args, row)
    else:
        forecasts, samples, train_s, predict_s = _run_gluonts(name, model, seed, train, inputs, ds, H, args, row)
    row.update(score(tss, forecasts, H, samples=samples, keys=keys))
    row.update(train_seconds=round(train_s, 2), predict_seconds=round(predict_s, 2),
               peak_rss_mb=round(_peak_rss_mb(), 1), peak_rss_delta_mb=round(_peak_rss_mb() - start_rss, 1),
               status="ok")
    return row


def _run_statistical(model: str, inputs: list, freq: str, H: int, args: argparse.Namespace,
                     row: dict[str, Any]) -> tuple[Optional[list], None, float, float]:
    """Seasonal naive / AutoETS / AutoARIMA: no training; the fit is part of the prediction time."""
    from _peers import seasonal_naive_predictor, statsforecast_forecasts

    t0 = time.perf_counter()
    if model == "seasonal_naive":
        predictor = seasonal_naive_predictor(freq, H)
        forecasts = list(predictor.predict(inputs, num_samples=args.n_samples))
        row["note"] = f"GluonTS SeasonalNaivePredictor, season_length={predictor.season_length}"
    elif model == "autoets":
        forecasts, row["note"] = statsforecast_forecasts("autoets", inputs, freq, H, args.n_samples,
                                                         args.ets_max_history)
    else:
        forecasts, row["note"] = statsforecast_forecasts("autoarima", inputs, freq, H, args.n_samples,
                                                         args.arima_max_history, time_limit=args.arima_time_limit)
    return forecasts, None, 0.0, time.perf_counter() - t0


def _run_tsdiff(name: str, seed: int, train: list, inputs: list, tss: list, freq: str, H: int,
                args: argparse.Namespace, row: dict[str, Any]) -> tuple[list, None, float, float]:
    """tsdiff through its GluonTS estimator under a step budget (or a legacy wall-clock budget)."""
    from tsdiff.integrations.gluonts import TSDiffEstimator

    ctx = DATASETS.get(name, {}).get("context_length")
    t0 = time.perf_counter()
    # A step budget (reproducible), with --cap-seconds as a safety stop only; a wall-clock budget
    # only when --budget-seconds is given (the history rows' commands).
    budget = ({"max_steps": 10**9, "max_time": args.budget_seconds} if args.budget_seconds
              else {"max_steps": args.max_steps, "max_time": args.cap_seconds})
    estimator = TSDiffEstimator(freq=freq, prediction_length=H, context_length=ctx, seed=seed, progress=False,
                                device=args.device, **budget, **dict(args.tsdiff_param))
    predictor = estimator.train(train)
    train_s = time.perf_counter() - t0
    m = predictor.model
    if args.save_model_dir:
        path = Path(args.save_model_dir) / f"{name}-{_label('tsdiff', args)}-seed{seed}"
        row["model_path"] = str(m.save(path))
    t0 = time.perf_counter()
    forecasts = list(predictor.predict(inputs, num_samples=args.n_samples, seed=seed, **dict(args.predict_param)))
    predict_s = time.perf_counter() - t0
    if args.also_raw:  # the same fitted model's raw diffusion ensemble, scored as its own row
        raw = list(predictor.predict(inputs, num_samples=args.n_samples, seed=seed,
                                     **{**dict(args.predict_param), "calibrated": False}))
        row["raw_scores"] = score(tss, raw, H)
    tr = m.train_result_
    row.update(context_length=m.config_.context_length,
               budget_seconds=args.budget_seconds if args.budget_seconds else f"steps={args.max_steps}",
               train_steps=tr.steps, stop_reason=tr.stopped_reason, device=str(m.device_),
               best_epoch=f"step {tr.best_step}",
               settings=json.dumps({"context_length": m.config_.context_length, **dict(args.tsdiff_param)}),
               # The learning curve: forecast-skill validation (sampled wQL on held-out windows) per step.
               val_history=json.dumps([[int(h["step"]), round(float(h["val_loss"]), 5)]
                                       for h in tr.history if "val_loss" in h]),
               note=(f"sampler={m.sampler} steps={m.sampler_steps}; patch_size={m.config_.patch_size}; "
                     f"tail_length={m.config_.tail_length}; best_step={tr.best_step}; "
                     f"stopped={tr.stopped_reason}"
                     + "".join(f"; {k}={v}" for k, v in args.tsdiff_param)
                     + "".join(f"; predict {k}={v}" for k, v in args.predict_param)))
    return forecasts, None, train_s, predict_s


def _run_gluonts(name: str, model: str, seed: int, train: list, inputs: list, ds: Any, H: int,
                 args: argparse.Namespace, row: dict[str, Any]) -> tuple[list, Optional[np.ndarray], float, float]:
    """A GluonTS torch peer under its epoch budget, early stopping on the training split's last window."""
    import random

    import torch
    from _peers import gluonts_budget, gluonts_estimator, quantile_forecast_samples, train_gluonts

    freq = ds.metadata.freq
    cats = ds.metadata.feat_static_cat
    cardinality = int(cats[0].cardinality) if cats and train and train[0].get("feat_static_cat") is not None else None
    budget = gluonts_budget(model, name, max_epochs=args.max_epochs, num_batches_per_epoch=args.batches_per_epoch,
                            patience=args.patience)
    random.seed(seed)  # GluonTS's models and data loaders draw from the global RNGs (script-level seeding)
    np.random.seed(seed)
    torch.manual_seed(seed)
    estimator, callbacks = gluonts_estimator(model, freq, H, DATASETS[name]["context_length"], cardinality,
                                             cap_seconds=args.cap_seconds, overrides=dict(args.peer_param), **budget)
    t0 = time.perf_counter()
    predictor, info = train_gluonts(estimator, callbacks, train, H, max_epochs=budget["max_epochs"],
                                    cap_seconds=args.cap_seconds)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    forecasts = list(predictor.predict(inputs, num_samples=args.n_samples))
    samples = None
    if type(forecasts[0]).__name__ == "DistributionForecast":  # PatchTST: a Student-t per window, sampled
        forecasts = [f.to_sample_forecast(args.n_samples) for f in forecasts]
    elif not hasattr(forecasts[0], "samples"):  # TFT: quantile forecasts
        samples = np.stack([quantile_forecast_samples(f, args.n_samples) for f in forecasts])
    predict_s = time.perf_counter() - t0
    settings = {k: v for k, v in vars(estimator).items()
                if k in ("context_length", "patch_len", "stride", "d_model", "nhead", "dim_feedforward",
                         "num_encoder_layers", "dropout", "scaling", "hidden_dim", "variable_dim", "num_heads",
                         "dropout_rate", "lr", "num_feat_static_cat", "cardinality", "static_cardinalities",
                         "num_layers", "hidden_size", "batch_size")}
    row.update(context_length=estimator.context_length,
               budget_seconds=f"epochs={budget['max_epochs']}x{budget['num_batches_per_epoch']}",
               train_steps=info["steps"], epochs=info["epochs"], best_epoch=info["best_epoch"],
               stop_reason=info["stop_reason"], settings=json.dumps(settings, default=str),
               val_history=json.dumps([[e, round(v, 5)] for e, v in info["val_history"]]),
               note=(f"GluonTS torch {type(estimator).__name__}; early stopping patience {budget['patience']} "
                     f"epochs on the last {H} points of each of {info['validation_series']} training series "
                     f"(trained on the {info['train_series']} series without them); best checkpoint reloaded"
                     + ("; samples = QuantileForecast.quantile at (k+0.5)/n" if samples is not None else "")))
    return forecasts, samples, train_s, predict_s


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
    """``tsdiff[patch_size=4]`` / ``patchtst[d_model=128]`` for an ablation run (never mixed with the default rows)."""
    if model == "tsdiff":
        params = list(args.tsdiff_param) + [(f"predict.{k}", v) for k, v in args.predict_param]
    elif model in LEARNED:
        params = list(args.peer_param)
    else:
        params = []
    if not params:
        return model
    text = ",".join(f"{k}={v}" for k, v in params)
    return model[:-1] + "," + text + "]" if model.endswith("]") else f"{model}[{text}]"


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
    p.add_argument("--max-steps", type=int, default=TSDIFF_MAX_STEPS,
                   help="tsdiff: training steps (default: TSDiff's default, %(default)s)")
    p.add_argument("--max-epochs", type=int, default=None,
                   help="GluonTS peers: epochs (default: _peers.GLUONTS_BUDGETS for the model and dataset)")
    p.add_argument("--batches-per-epoch", type=int, default=None,
                   help="GluonTS peers: batches per epoch (default: _peers.GLUONTS_BUDGETS)")
    p.add_argument("--patience", type=int, default=None,
                   help="GluonTS peers: early-stopping patience in epochs (default: _peers.GLUONTS_BUDGETS)")
    p.add_argument("--cap-seconds", type=float, default=None,
                   help="learned models: a wall-clock safety stop (not a budget; the row's stop_reason says "
                        "max_time when it fired)")
    p.add_argument("--budget-seconds", type=float, default=None,
                   help="legacy: a wall-clock training *budget* for tsdiff (the history rows' commands); "
                        "rows made with it never enter the summary table")
    p.add_argument("--save-model-dir", default=None,
                   help="tsdiff: save each fitted model (TSDiff.save) under DIR/DATASET-MODEL-seedS/")
    p.add_argument("--predict-param", action="append", default=[], type=_param, metavar="KEY=VALUE",
                   help="extra tsdiff predict argument, e.g. --predict-param calibrated=False")
    p.add_argument("--also-raw", action="store_true",
                   help="tsdiff: also score the raw ensemble (calibrated=False) of the same fit, as model tsdiff[raw]")
    p.add_argument("--n-samples", type=int, default=100)
    p.add_argument("--out", default=str(RESULTS_DIR / "results.csv"))
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    p.add_argument("--device", default="auto", help="tsdiff device")
    p.add_argument("--ets-max-history", type=int, default=2000, help="AutoETS fits on the last N points")
    p.add_argument("--arima-max-history", type=int, default=500, help="AutoARIMA fits on the last N points")
    p.add_argument("--arima-time-limit", type=float, default=900.0,
                   help="AutoARIMA: skip (a 'skipped' row with the reason) when the first series' CPU time, "
                        "scaled to all series, exceeds this many seconds")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: first --quick-entries entries, tsdiff at most 40 steps, GluonTS peers at most "
                        "2 epochs x 5 batches")
    p.add_argument("--quick-entries", type=int, default=8)
    p.add_argument("--tsdiff-param", action="append", default=[], type=_param, metavar="KEY=VALUE",
                   help="extra tsdiff.TSDiff argument (repeatable; value parsed as a Python literal), "
                        "e.g. --tsdiff-param patch_size=4; for ablations, written to a scratch --out")
    p.add_argument("--peer-param", action="append", default=[], type=_param, metavar="KEY=VALUE",
                   help="extra GluonTS estimator argument of the learned peers (repeatable), e.g. --peer-param "
                        "d_model=128; rows are labelled MODEL[KEY=VALUE]")
    p.add_argument("--no-fork", action="store_true", help="run in this process (debugging)")
    p.add_argument("--make-table", action="store_true",
                   help="write docs/benchmarks.md from the CSVs in benchmarks/results/ and exit")
    p.add_argument("--commit", default=None,
                   help="with --make-table: the commit whose rows make the summary (default: the newest clean "
                        "commit with complete rows)")
    p.add_argument("--plan", default=None,
                   help="with --make-table: the plan whose jobs define 'complete' (default: benchmarks/plans/final.txt)")
    args = p.parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("tsdiff").setLevel(logging.WARNING)
    if args.make_table:
        from make_table import make_table  # benchmarks/make_table.py

        make_table(RESULTS_DIR, DOCS_FILE, commit=args.commit, plan=args.plan)
        print(f"wrote {DOCS_FILE}")
        return
    if args.quick:
        args.max_steps = min(args.max_steps, 40)
        args.max_epochs = min(args.max_epochs or 2, 2)
        args.batches_per_epoch = min(args.batches_per_epoch or 5, 5)
    run_table(args)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
