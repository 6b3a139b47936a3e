"""Rolling-window protocol: the last N windows of every series, tsdiff and its peers, scored with bootstrap CIs.

This is *not* the paper protocol of ``run_benchmarks.py`` (one last window per test entry); rows
carry ``protocol = rolling``. Per dataset, model and seed:

1. the GluonTS ``test`` split, one series per underlying series: rolling test entries that are
   prefixes of a longer entry (``exchange_rate_nips``' 5 dates per currency, ``weather_jena_hourly``'s
   7 days) are dropped, so no window is scored twice and no training window overlaps a scored one;
2. hold out the last ``N`` windows of ``prediction_length`` steps: N = 7 (``--n-windows``), lowered
   where the shortest series would keep fewer than ``max(2 H, season + H)`` points before the first
   window (GluonTS's season; said in ``note``). That gives N = 7 on every dataset but ``m4_weekly``
   (N = 5: its shortest series has 93 weeks, 28 of them before the first window);
3. learned models are fitted on what precedes the first cut-off, under a *step / epoch* budget:
   tsdiff (``--max-steps``, default tsdiff's own default; the GluonTS static categories when the
   dataset has them) and GluonTS torch DeepAR (``--deepar-epochs`` x ``--deepar-batches``, tsdiff's
   context length and the static category, GluonTS keeps the epoch with the lowest training loss);
   statistical peers need no fit: GluonTS seasonal naive (a point forecast: its coverage is not a
   calibration figure) and statsforecast AutoETS (refit on each window's history, last 2000 points);
4. every window is forecast from its own history: tsdiff with ``TSDiff.cross_validation(refit=False)``
   (one batched predict call), the peers from each window's truncated entry;
5. scored with :func:`tsdiff.metrics.evaluate_backtest`: wQL (GluonTS mean weighted quantile loss,
   ``wql_gluonts_mean_wQuantileLoss``), exact ensemble CRPS (properscoring) / sum |y|
   (``crps_exact_normalized``), the per-series-normalized exact CRPS (``crps_series_mean``: each
   series' CRPS / its own sum |y|, averaged over series, so that no series dominates by its scale, as
   pressure and air density dominate wQL on weather; series whose |y| sums to 0 over the windows are
   left out, ``crps_series_skipped`` counts them), MASE of the median, seasonal naive's wQL on the
   same windows, and the coverage of the central 50/80/90/95% intervals, each with a 95% bootstrap CI
   over windows (1000 resamples). ``cov50_target`` / ``cov90_target`` are what a perfectly calibrated
   ensemble of ``n_samples`` paths covers under GluonTS's quantile rule (0.485 / 0.881 for 100).
   ``pit_cov50`` / ``pit_cov90`` (with CIs) measure the same intervals on the randomized rank PIT
   (:func:`tsdiff.metrics.pit_coverage`): their target is 0.5 / 0.9 at any ensemble size, and an
   outcome that hits an atom of the forecast (0 for rain or night-time radiation, where non-negative
   samples pile up) counts by the share of the ensemble the atom holds, where the quantile rule counts
   it as covered at every level. ``tie_share`` is the share of outcomes equal to at least one sample.

tsdiff is scored as ``--variant NAME KEY=VALUE ...`` (predict keyword arguments; default: ``calibrated``
= ``predict()`` and ``raw`` = ``predict(calibrated=False)``, both from one fit). One CSV row per (dataset,
model, seed, variant, git SHA); a job whose rows are already ``ok`` at the current SHA is skipped
(resumable; ``--force`` reruns it). Rows carry the command, seed, git SHA, hardware, wall time and date.

One job (what a runner schedules)::

    python benchmarks/rolling.py --dataset ett_small_1h --model tsdiff --seed 0 --threads 1 \\
        --out benchmarks/results/rolling.csv
    python benchmarks/rolling.py --dataset ett_small_1h --model seasonal_naive autoets deepar --seed 0

Smoke run: ``--max-series 3 --max-steps 30 --deepar-epochs 1 --n-samples 20 --out scratch/rolling_smoke.csv``.
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import inspect
import json
import logging
import math
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import read_rows, upsert_row  # noqa: E402

logger = logging.getLogger("benchmarks.rolling")

PROTOCOL = "rolling"
MODELS = ("tsdiff", "seasonal_naive", "autoets", "deepar")
DATASETS = ("ett_small_1h", "ett_small_15min", "exchange_rate_nips", "weather_jena_hourly", "electricity_weekly",
            "m4_hourly", "m4_weekly")
#: Windows held out per series (fewer where the shortest series must keep max(2 H, season + H) points before them).
DEFAULT_N_WINDOWS = 7
#: tsdiff's (and DeepAR's) context length per dataset: the values of run_benchmarks.DATASETS.
CONTEXT = {"exchange_rate_nips": 360, "m4_hourly": 312, "ett_small_1h": 336, "ett_small_15min": 672,
           "electricity_weekly": 104, "m4_weekly": 104, "weather_jena_hourly": 336}
DEFAULT_VARIANTS = [("calibrated", {}), ("raw", {"calibrated": False})]

KEY = ("dataset", "model", "seed", "variant", "git_sha")
COLUMNS = ["protocol", "dataset", "model", "seed", "variant", "status", "max_series", "freq", "prediction_length",
           "context_length", "n_series", "n_windows", "n_samples", "max_steps", "train_steps", "best_step",
           "max_epochs", "batches_per_epoch", "predict_kwargs",
           "wql_gluonts_mean_wQuantileLoss", "wql_lo", "wql_hi", "crps_exact_normalized", "crps_lo", "crps_hi",
           "crps_series_mean", "crps_series_mean_lo", "crps_series_mean_hi", "crps_series_skipped", "mase",
           "mase_series_median", "wql_seasonal_naive",
           "cov50", "cov50_lo", "cov50_hi", "cov50_target", "cov80", "cov80_lo", "cov80_hi",
           "cov90", "cov90_lo", "cov90_hi", "cov90_target", "cov95", "cov95_lo", "cov95_hi",
           "pit_cov50", "pit_cov50_lo", "pit_cov50_hi", "pit_cov90", "pit_cov90_lo", "pit_cov90_hi", "tie_share",
           "predict_calls", "sample_calls", "train_seconds", "predict_seconds", "wall_seconds", "peak_rss_mb",
           "threads", "hardware", "git_sha", "torch", "note", "command", "finished_at"]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return str(v)


# --------------------------------------------------------------------------- small pure helpers
def finite_ensemble_coverage(level: float, n_samples: int) -> float:
    """Coverage of the central ``level`` interval of a perfectly calibrated ensemble of ``n_samples`` paths.

    GluonTS's quantile rule takes the order statistic at index ``round((S - 1) q)`` (0-based); an
    observation exchangeable with the ``S`` samples falls between order statistics ``a`` and ``b``
    (0-based) with probability ``(b - a) / (S + 1)``: 49/101 = 0.485 and 89/101 = 0.881 for S = 100.
    """
    s = int(n_samples)
    lo = int(np.round((s - 1) * (1.0 - level) / 2.0))
    hi = int(np.round((s - 1) * (1.0 + level) / 2.0))
    return (hi - lo) / (s + 1)


def predict_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with Python literals, and ``true``/``false`` (any case) as booleans."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def parse_variant(tokens: list[str]) -> tuple[str, dict[str, Any]]:
    """``[NAME, KEY=VALUE, ...]`` -> ``(NAME, {KEY: VALUE})``."""
    name, rest = tokens[0], tokens[1:]
    if "=" in name:
        raise argparse.ArgumentTypeError(f"--variant starts with a NAME, got {name!r}")
    return name, dict(predict_param(t) for t in rest)


def distinct_series(entries: Sequence[dict]) -> list[dict]:
    """The entries that are not a prefix of a longer entry with the same start (and static category).

    GluonTS test splits with rolling dates hold each series several times, cut at successive
    dates; the longest copy holds all the others.
    """
    groups: dict[tuple, list[dict]] = {}
    kept = []
    for e in sorted(entries, key=lambda e: -len(e["target"])):
        key = (str(e["start"]), tuple(np.asarray(e.get("feat_static_cat", ())).tolist()))
        y = np.asarray(e["target"], dtype=np.float64)
        same = groups.setdefault(key, [])
        if any(np.array_equal(np.asarray(k["target"], dtype=np.float64)[:len(y)], y, equal_nan=True) for k in same):
            continue
        same.append(e)
        kept.append(e)
    order = {id(e): i for i, e in enumerate(entries)}
    return sorted(kept, key=lambda e: order[id(e)])


def windows_allowed(shortest: int, horizon: int, season: int) -> int:
    """Most windows of ``horizon`` steps the shortest series holds with max(2 H, season + H) points before them."""
    return max(1, (shortest - max(2 * horizon, season + horizon)) // horizon)


def cut_positions(lengths: Sequence[int], n_windows: int, horizon: int) -> np.ndarray:
    """``(n_series, n_windows)`` history lengths; window ``k`` is ``target[cut:cut + horizon]`` (as cross_validation)."""
    offsets = horizon * (n_windows - np.arange(n_windows))
    return np.asarray(lengths, dtype=np.int64)[:, None] - offsets[None, :]


def truncated(entry: dict, stop: int) -> dict:
    """A GluonTS entry cut to its first ``stop`` target values (other fields kept)."""
    out = dict(entry)
    out["target"] = np.asarray(entry["target"], dtype=np.float32)[:stop]
    return out


def static_cardinality(entries: Sequence[dict]) -> Optional[list[int]]:
    """``[max feat_static_cat + 1]`` per static field, or None when the entries have none."""
    cats = [np.atleast_1d(np.asarray(e["feat_static_cat"], dtype=np.int64)) for e in entries
            if e.get("feat_static_cat") is not None]
    if len(cats) != len(entries) or not cats:
        return None
    return [int(c) + 1 for c in np.max(np.stack(cats), axis=0)]


def deepar_fair_estimator(freq: str, prediction_length: int, context_length: int, entries: Sequence[dict], *,
                          max_epochs: int, num_batches_per_epoch: int, callbacks: Sequence[Any] = (),
                          root_dir: Optional[str] = None) -> Any:
    """GluonTS torch DeepAR with tsdiff's context length and the static category, under an epoch budget.

    Built by ``benchmarks/_peers.py``'s ``deepar_estimator`` (GluonTS's default architecture);
    ``entries`` (training and forecast entries) give the category's cardinality. GluonTS keeps the
    epoch with the lowest training loss. ``root_dir``: Lightning's folder (its checkpoints). The caller
    seeds the global RNGs.
    """
    from _peers import deepar_estimator

    quiet_lightning()
    card = static_cardinality(entries)
    statics = {"num_feat_static_cat": len(card), "cardinality": card} if card else {}
    trainer_kwargs: dict[str, Any] = {"callbacks": list(callbacks)} if callbacks else {}
    if root_dir is not None:
        trainer_kwargs["default_root_dir"] = root_dir
    return deepar_estimator(freq, prediction_length, context_length, max_epochs=max_epochs,
                            num_batches_per_epoch=num_batches_per_epoch, trainer_kwargs=trainer_kwargs, **statics)


def quiet_lightning() -> None:
    """Lightning's info lines (accelerator, tips, checkpoints) at WARNING: its loggers set their own levels."""
    import lightning.pytorch  # noqa: F401  (creates its loggers)

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("lightning"):
            logging.getLogger(name).setLevel(logging.WARNING)


def done_keys(path: Path, sha: str) -> set[tuple[str, ...]]:
    """``(dataset, model, seed, variant)`` of the ``ok`` rows at commit ``sha`` in the CSV at ``path``."""
    return {tuple(r[k] for k in KEY[:-1]) for r in read_rows(path) if r.get("status") == "ok"
            and r.get("git_sha") == sha}


# --------------------------------------------------------------------------- data
def load_problem(name: str, max_series: Optional[int] = None) -> dict[str, Any]:
    """The distinct test series of ``name``: GluonTS entries, the long frame, static frame, freq, H, season, C."""
    from tsdiff.datasets import dataset_to_frame, load_dataset
    from tsdiff.frames import normalize_freq
    from tsdiff.integrations.gluonts import _on_offset_grid
    from tsdiff.integrations.gluonts_features import seasonality

    ds = load_dataset(name)
    freq, H = ds.metadata.freq, int(ds.metadata.prediction_length)
    entries = distinct_series(list(ds.test))
    if max_series:
        entries = entries[:max_series]
    frame, static = dataset_to_frame(entries, freq)
    frame = frame[["item_id", "timestamp", "target"]]
    # anchored frequencies (weekly): period start -> the offset's anchor, as the GluonTS adapter gives tsdiff
    frame["timestamp"] = _on_offset_grid(frame["timestamp"], normalize_freq(freq))
    cats = [c for c in static.columns if str(c).startswith("feat_static_cat_")]
    for c in cats:  # integer codes -> category labels (as the GluonTS adapter gives them to tsdiff)
        static[c] = static[c].map(lambda v: str(int(v)))
    ids = list(dict.fromkeys(frame["item_id"]))
    stamps = {i: g["timestamp"].to_numpy() for i, g in frame.groupby("item_id", sort=False)}
    return {"entries": entries, "frame": frame, "static": static[["item_id"] + cats] if cats else None,
            "freq": freq, "H": H, "season": seasonality(freq), "C": CONTEXT.get(name, 4 * H), "ids": ids,
            "stamps": stamps, "lengths": np.array([len(e["target"]) for e in entries])}


def window_forecasts(problem: dict[str, Any], cuts: np.ndarray, samples: np.ndarray) -> list[Any]:
    """One :class:`tsdiff.Forecast` per window from samples of shape ``(n_series, n_windows, S, H)``."""
    import pandas as pd

    from tsdiff import Forecast

    H, ids = problem["H"], problem["ids"]
    out = []
    for k in range(cuts.shape[1]):
        ts = [pd.DatetimeIndex(problem["stamps"][i][int(cuts[j, k]):int(cuts[j, k]) + H]) for j, i in enumerate(ids)]
        out.append(Forecast(samples[:, k], ids, ts, problem["freq"]))
    return out


# --------------------------------------------------------------------------- models
def _counting(obj: Any, attr: str, counter: dict[str, int], key: str) -> None:
    """Count calls of ``obj.attr`` (an instance attribute shadowing the bound method)."""
    original = getattr(obj, attr)

    def wrapped(*a: Any, **k: Any) -> Any:
        counter[key] += 1
        return original(*a, **k)

    setattr(obj, attr, wrapped)


def run_tsdiff(problem: dict[str, Any], n: int, seed: int, variants: list[tuple[str, dict[str, Any]]],
               args: argparse.Namespace) -> list[tuple[str, Any, dict[str, Any]]]:
    """Fit once before the first cut-off; ``(variant, report, row fields)`` per variant."""
    from tsdiff import TSDiff
    from tsdiff.estimator import history_before_windows
    from tsdiff.metrics import evaluate_backtest

    frame, H = problem["frame"], problem["H"]
    train = history_before_windows(frame, n, H, freq=problem["freq"])
    budget = {} if args.max_steps is None else {"max_steps": args.max_steps}
    model = TSDiff(prediction_length=H, context_length=problem["C"], freq=problem["freq"], seed=seed,
                   num_threads=args.threads, progress=False, device=args.device, **budget)
    t0 = time.perf_counter()
    model.fit(train, static_df=problem["static"])
    train_seconds = time.perf_counter() - t0
    res = model.train_result_
    out = []
    for variant, kwargs in variants:
        kw = {**args.predict_param, **kwargs}
        counter = {"predict": 0, "sample": 0}
        _counting(model, "_predict", counter, "predict")
        _counting(model.model_, "sample", counter, "sample")
        t1 = time.perf_counter()
        cv = model.cross_validation(frame, n, n_samples=args.n_samples, include_samples=True, seed=seed, **kw)
        predict_seconds = time.perf_counter() - t1
        del model._predict, model.model_.sample  # back to the class's methods
        report = evaluate_backtest(cv, history=frame, seed=seed)
        out.append((variant, report, {
            "max_steps": model.max_steps, "train_steps": res.steps, "best_step": res.best_step,
            "predict_kwargs": repr(kw), "predict_calls": counter["predict"], "sample_calls": counter["sample"],
            "train_seconds": train_seconds, "predict_seconds": predict_seconds,
            "note": f"stopped={res.stopped_reason}; static={'yes' if problem['static'] is not None else 'none'}"}))
    return out


def peer_samples(model: str, problem: dict[str, Any], cuts: np.ndarray, seed: int,
                 args: argparse.Namespace) -> tuple[np.ndarray, dict[str, Any]]:
    """Samples ``(n_series, n_windows, S, H)`` of a peer forecasting every window from its own history."""
    import torch

    entries, freq, H = problem["entries"], problem["freq"], problem["H"]
    N, K = cuts.shape
    inputs = [truncated(e, int(cuts[i, k])) for i, e in enumerate(entries) for k in range(K)]
    fields: dict[str, Any] = {"train_seconds": 0.0}
    t0 = time.perf_counter()
    if model == "seasonal_naive":
        from _peers import seasonal_naive_predictor

        predictor = seasonal_naive_predictor(freq, H)
        forecasts = list(predictor.predict(inputs, num_samples=args.n_samples))
        fields["note"] = f"GluonTS SeasonalNaivePredictor, season_length={predictor.season_length}; point forecast"
    elif model == "autoets":
        try:  # the harness may move it to _peers.py
            from _peers import autoets_forecasts  # type: ignore[attr-defined]
        except ImportError:
            from run_benchmarks import autoets_forecasts
        forecasts, fields["note"] = autoets_forecasts(inputs, freq, H, args.n_samples, args.ets_max_history)
        fields["note"] += "; refit on every window's history"
    elif model == "deepar":
        train = [truncated(e, int(cuts[i, 0])) for i, e in enumerate(entries)]
        torch.manual_seed(seed)  # DeepAR draws from the global RNGs (script-level seeding)
        np.random.seed(seed)
        with tempfile.TemporaryDirectory(prefix="rolling-deepar-") as tmp:
            estimator = deepar_fair_estimator(freq, H, problem["C"], entries, max_epochs=args.deepar_epochs,
                                              num_batches_per_epoch=args.deepar_batches, root_dir=tmp)
            out = estimator.train_model(train, cache_data=True)
        fields.update(train_seconds=time.perf_counter() - t0, max_epochs=args.deepar_epochs,
                      batches_per_epoch=args.deepar_batches, train_steps=int(out.trainer.global_step),
                      note=f"GluonTS torch DeepAR, context_length={problem['C']}, "
                           f"static={'feat_static_cat' if static_cardinality(entries) else 'none'}; "
                           f"{out.trainer.current_epoch} epochs; best epoch by training loss")
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        forecasts = list(out.predictor.predict(inputs, num_samples=args.n_samples))
    else:
        raise ValueError(f"unknown model {model!r}; choose from {MODELS}")
    fields["predict_seconds"] = time.perf_counter() - t0
    S = max(f.samples.shape[0] for f in forecasts)
    if any(f.samples.shape != (S, H) for f in forecasts):
        raise RuntimeError(f"{model}: forecasts of unequal shapes")
    samples = np.stack([np.asarray(f.samples, dtype=np.float64) for f in forecasts]).reshape(N, K, S, H)
    return samples, fields


# --------------------------------------------------------------------------- rows
def series_median_mase(report: Any) -> float:
    """The median over series of each series' MASE (NaN when none has one; an infinite one counts).

    Why beside GluonTS's MASE (the mean over series): a series that repeats its seasonal profile almost
    exactly has an in-sample seasonal naive error near 0, so its MASE is huge for any forecast that is
    not exact, and a few such series decide the mean (m4_hourly has some).
    """
    values = np.asarray(report.per_series["mase"], dtype=float)
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else float("nan")


def report_fields(report: Any, n_samples: int) -> dict[str, Any]:
    """The row columns of a :class:`tsdiff.metrics.BacktestReport`."""
    o = report.overall
    row = {"n_series": o["n_series"], "n_windows": o["n_windows"],
           "wql_gluonts_mean_wQuantileLoss": o["wql_mean"], "wql_lo": o["wql_mean_low"], "wql_hi": o["wql_mean_high"],
           "crps_exact_normalized": o["crps"], "crps_lo": o["crps_low"], "crps_hi": o["crps_high"],
           "crps_series_mean": o["crps_series_mean"], "crps_series_mean_lo": o["crps_series_mean_low"],
           "crps_series_mean_hi": o["crps_series_mean_high"], "crps_series_skipped": o["crps_series_skipped"],
           "mase": o["mase"], "mase_series_median": series_median_mase(report),
           "wql_seasonal_naive": o["wql_mean_seasonal_naive"],
           "cov50_target": finite_ensemble_coverage(0.5, n_samples),
           "cov90_target": finite_ensemble_coverage(0.9, n_samples)}
    for level in (50, 80, 90, 95):
        row[f"cov{level}"] = o[f"coverage_{level}"]
        row[f"cov{level}_lo"] = o[f"coverage_{level}_low"]
        row[f"cov{level}_hi"] = o[f"coverage_{level}_high"]
    for level in (50, 90):  # on the randomized rank PIT: target = the level itself, atoms counted by their share
        row[f"pit_cov{level}"] = o[f"pit_coverage_{level}"]
        row[f"pit_cov{level}_lo"] = o[f"pit_coverage_{level}_low"]
        row[f"pit_cov{level}_hi"] = o[f"pit_coverage_{level}_high"]
    row["tie_share"] = o["tie_share"]
    return row


def run_job(name: str, model: str, seed: int, variants: list[tuple[str, dict[str, Any]]],
            args: argparse.Namespace, common: dict[str, Any]) -> None:
    """One (dataset, model, seed): fit, forecast every window, score, write one row per variant."""
    import torch

    from tsdiff.metrics import evaluate_backtest

    t_wall = time.perf_counter()
    problem = load_problem(name, args.max_series)
    H = problem["H"]
    wanted = args.n_windows
    n = min(wanted, windows_allowed(int(problem["lengths"].min()), H, problem["season"]))
    note = "" if n == wanted else f"n_windows lowered from {wanted} to {n}: the shortest series holds no more"
    base = {"protocol": PROTOCOL, "dataset": name, "model": model, "seed": seed, "freq": problem["freq"],
            "prediction_length": H, "context_length": problem["C"] if model in ("tsdiff", "deepar") else "",
            "n_samples": args.n_samples, "max_series": args.max_series or "", "torch": torch.__version__, **common}
    if model == "tsdiff":
        results = run_tsdiff(problem, n, seed, variants, args)
    else:
        cuts = cut_positions(problem["lengths"], n, H)
        samples, fields = peer_samples(model, problem, cuts, seed, args)
        report = evaluate_backtest(window_forecasts(problem, cuts, samples), problem["frame"],
                                   history=problem["frame"], seed=seed)
        results = [("default", report, fields)]
        if model == "seasonal_naive":
            base["n_samples"] = samples.shape[2]
    for variant, report, fields in results:
        row = {**base, **report_fields(report, int(base["n_samples"])), **fields, "variant": variant, "status": "ok",
               "wall_seconds": time.perf_counter() - t_wall,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
               "finished_at": _dt.datetime.now().isoformat(timespec="seconds")}
        row["note"] = "; ".join(x for x in (note, fields.get("note", "")) if x)
        upsert_row(Path(args.out), row, KEY, COLUMNS, _fmt)
        logger.info("%s %s seed %d %s: wQL %.4f [%.4f, %.4f] (seasonal naive %.4f), per-series CRPS %.4f, "
                    "cov50 %.3f cov90 %.3f (targets %.3f / %.3f)", name, model, seed, variant, row[
                        "wql_gluonts_mean_wQuantileLoss"], row["wql_lo"], row["wql_hi"], row["wql_seasonal_naive"],
                    row["crps_series_mean"], row["cov50"], row["cov90"], row["cov50_target"], row["cov90_target"])


def add_budget_arguments(p: argparse.ArgumentParser) -> None:
    """The learned models' budgets, the ensemble size and the thread count (shared with learning_curves.py)."""
    tsdiff_default = inspect.signature(__import__("tsdiff").TSDiff).parameters["max_steps"].default
    p.add_argument("--max-steps", type=int, help=f"tsdiff's training step budget (default: tsdiff's, {tsdiff_default})")
    p.add_argument("--deepar-epochs", type=int, default=100, help="DeepAR's epoch budget")
    p.add_argument("--deepar-batches", type=int, default=50, help="DeepAR's batches per epoch")
    p.add_argument("--n-samples", type=int, default=100, help="sample paths per forecast")
    p.add_argument("--threads", type=int, default=1, help="torch threads")


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", "--dataset", nargs="+", default=["ett_small_1h"], choices=DATASETS)
    p.add_argument("--models", "--model", nargs="+", default=["tsdiff"], choices=MODELS)
    p.add_argument("--seeds", "--seed", nargs="+", type=int, default=[0])
    p.add_argument("--n-windows", type=int, default=DEFAULT_N_WINDOWS,
                   help="windows per series (fewer where the shortest series cannot hold them)")
    p.add_argument("--max-series", type=int, help="only the first N series of each dataset (smoke runs)")
    add_budget_arguments(p)
    p.add_argument("--ets-max-history", type=int, default=2000, help="AutoETS fits on each window's last N points")
    p.add_argument("--device", default="cpu", help="tsdiff's device")
    p.add_argument("--variant", nargs="+", action="append", metavar="NAME [KEY=VALUE ...]",
                   help="tsdiff: a named set of predict keyword arguments (repeatable); default: 'calibrated' "
                        "(predict()) and 'raw' (calibrated=False)")
    p.add_argument("--predict-param", type=predict_param, action="append", default=[], metavar="KEY=VALUE",
                   help="a tsdiff predict keyword argument for every variant (repeatable)")
    p.add_argument("--force", action="store_true", help="rerun jobs already in --out at this commit")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "rolling.csv"))
    args = p.parse_args(argv)
    args.predict_param = dict(args.predict_param)
    variants = [parse_variant(v) for v in args.variant] if args.variant else DEFAULT_VARIANTS
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for quiet in ("tsdiff", "lightning", "lightning.pytorch", "gluonts"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    import torch
    from _common import git_sha, hardware

    torch.set_num_threads(args.threads)
    sha = git_sha()
    done = set() if args.force else done_keys(Path(args.out), sha)
    common = {"threads": args.threads, "hardware": hardware(), "git_sha": sha,
              "command": "python benchmarks/rolling.py " + " ".join(shlex.quote(a) for a in argv)}
    for name in args.datasets:
        for model in args.models:
            for seed in args.seeds:
                names = [v for v, _ in variants] if model == "tsdiff" else ["default"]
                if all((name, model, str(seed), v) in done for v in names):
                    logger.info("%s %s seed %d: already in %s at %s", name, model, seed, args.out, sha[:12])
                    continue
                run_job(name, model, seed, variants, args, common)
    return 0


if __name__ == "__main__":
    sys.exit(main())
