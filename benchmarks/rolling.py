"""Rolling-window backtest of tsdiff: the last N windows of every series, scored with bootstrap CIs.

Protocol, per dataset and seed:

1. the GluonTS ``test`` split as a frame (the longest entry of each item);
2. hold out the last ``N`` windows of ``prediction_length`` steps (``--n-windows``, default 7; fewer
   only where the shortest series cannot hold them next to a context window, said in ``note``);
3. fit tsdiff on what precedes the first cut-off (:func:`tsdiff.estimator.history_before_windows`)
   under a *step* budget (``--max-steps``) and the given seed;
4. forecast every window from its own history with ``TSDiff.cross_validation(refit=False)``: one
   batched predict call for all windows of all series (``predict_calls`` / ``sample_calls`` in the
   row count them);
5. score with :func:`tsdiff.metrics.evaluate_backtest`: wQL (GluonTS mean weighted quantile loss,
   ``wql_gluonts_mean_wQuantileLoss``), exact CRPS normalized per series sum |y|
   (``crps_exact_normalized``), MASE, seasonal naive's wQL on the same windows, and the coverage of
   the central 50/80/90/95% intervals with bootstrap CIs over windows.

Each ``--variant NAME KEY=VALUE ...`` scores the same fitted model with other predict keyword
arguments (e.g. ``--variant raw calibrated=false``); ``--predict-param KEY=VALUE`` applies to every
variant. One CSV row per (dataset, model, seed, variant); rows already present with status ``ok``
are skipped (resumable), ``--force`` reruns them.

Example (a smoke run; real runs use a larger --max-steps)::

    python benchmarks/rolling.py --datasets ett_small_1h --max-steps 50 --n-samples 20 \
        --variant default --out benchmarks/results/rolling_smoke.csv
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import math
import resource
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import read_rows, upsert_row  # noqa: E402
from run_benchmarks import DATASETS, _machine, _param  # noqa: E402

logger = logging.getLogger("benchmarks.rolling")

KEY = ("dataset", "model", "seed", "variant")
COLUMNS = ["dataset", "model", "seed", "variant", "status", "max_series", "freq", "prediction_length", "context_length",
           "n_series", "n_windows", "n_samples", "max_steps", "train_steps", "predict_kwargs",
           "wql_gluonts_mean_wQuantileLoss", "crps_exact_normalized", "mase", "wql_seasonal_naive",
           "cov50", "cov50_lo", "cov50_hi", "cov80", "cov80_lo", "cov80_hi", "cov90", "cov90_lo", "cov90_hi",
           "cov95", "cov95_lo", "cov95_hi", "predict_calls", "sample_calls", "train_seconds", "predict_seconds",
           "wall_seconds", "peak_rss_mb", "threads", "hardware", "git_sha", "torch", "note", "command",
           "finished_at"]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def predict_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with Python literals, and ``true``/``false`` (any case) as booleans."""
    key, value = _param(text)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    return key, value


def parse_variant(tokens: list[str]) -> tuple[str, dict[str, Any]]:
    """``[NAME, KEY=VALUE, ...]`` -> ``(NAME, {KEY: VALUE})``."""
    name, rest = tokens[0], tokens[1:]
    if "=" in name:
        raise argparse.ArgumentTypeError(f"--variant starts with a NAME, got {name!r}")
    return name, dict(predict_param(t) for t in rest)


def load_frame(name: str) -> tuple[Any, str, int]:
    """The test split of a local dataset as a long frame, its frequency and prediction length."""
    from tsdiff.datasets import dataset_to_frame, load_dataset

    ds = load_dataset(name)
    frame, _ = dataset_to_frame(ds.test, ds.metadata.freq, duplicates="last")
    return frame[["item_id", "timestamp", "target"]], ds.metadata.freq, int(ds.metadata.prediction_length)


def windows_allowed(frame: Any, horizon: int, context_length: int) -> int:
    """Most windows of ``horizon`` steps every series holds after ``context_length + horizon`` steps of history."""
    shortest = int(frame.groupby("item_id").size().min())
    return max(1, (shortest - context_length - 2 * horizon) // horizon + 1)


def _counting(obj: Any, attr: str, counter: dict[str, int], key: str) -> None:
    """Count calls of ``obj.attr`` (an instance attribute shadowing the bound method)."""
    original = getattr(obj, attr)

    def wrapped(*a: Any, **k: Any) -> Any:
        counter[key] += 1
        return original(*a, **k)

    setattr(obj, attr, wrapped)


def run_dataset(name: str, seed: int, variants: list[tuple[str, dict[str, Any]]], args: argparse.Namespace,
                done: set[tuple[str, ...]], common: dict[str, Any]) -> None:
    import torch

    from tsdiff import TSDiff
    from tsdiff.estimator import history_before_windows
    from tsdiff.metrics import evaluate_backtest

    todo = [(v, kw) for v, kw in variants if args.force or (name, "tsdiff", str(seed), v) not in done]
    if not todo:
        logger.info("%s seed %d: every variant already in %s", name, seed, args.out)
        return
    t_wall = time.perf_counter()
    frame, freq, H = load_frame(name)
    if args.max_series:
        keep = frame["item_id"].drop_duplicates().iloc[:args.max_series]
        frame = frame[frame["item_id"].isin(keep)].reset_index(drop=True)
    C = DATASETS.get(name, {}).get("context_length", 4 * H)
    n = min(args.n_windows, windows_allowed(frame, H, C))
    note = "" if n == args.n_windows else f"n_windows lowered to {n}: the shortest series holds no more"
    train = history_before_windows(frame, n, H, freq=freq)
    model = TSDiff(prediction_length=H, context_length=C, freq=freq, max_steps=args.max_steps, seed=seed,
                   num_threads=args.threads, progress=False, device=args.device)
    t0 = time.perf_counter()
    model.fit(train)
    train_seconds = time.perf_counter() - t0
    for variant, kwargs in todo:
        kw = {**args.predict_param, **kwargs}
        counter = {"predict": 0, "sample": 0}
        _counting(model, "_predict", counter, "predict")
        _counting(model.model_, "sample", counter, "sample")
        t1 = time.perf_counter()
        cv = model.cross_validation(frame, n, n_samples=args.n_samples, include_samples=True, seed=seed, **kw)
        predict_seconds = time.perf_counter() - t1
        del model._predict, model.model_.sample  # back to the class's methods
        report = evaluate_backtest(cv, history=frame, seed=seed)
        o = report.overall
        row = {"dataset": name, "model": "tsdiff", "seed": seed, "variant": variant, "status": "ok", "freq": freq,
               "prediction_length": H, "context_length": C, "n_series": o["n_series"], "n_windows": o["n_windows"],
               "n_samples": args.n_samples, "max_series": args.max_series or "", "max_steps": args.max_steps,
               "train_steps": model.train_result_.steps,
               "predict_kwargs": repr(kw), "wql_gluonts_mean_wQuantileLoss": o["wql_mean"],
               "crps_exact_normalized": o["crps"], "mase": o["mase"], "wql_seasonal_naive": o["wql_mean_seasonal_naive"],
               "predict_calls": counter["predict"], "sample_calls": counter["sample"],
               "train_seconds": train_seconds, "predict_seconds": predict_seconds,
               "wall_seconds": time.perf_counter() - t_wall,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
               "torch": torch.__version__, "note": note,
               "finished_at": _dt.datetime.now().isoformat(timespec="seconds"), **common}
        for level in (50, 80, 90, 95):
            row[f"cov{level}"] = o[f"coverage_{level}"]
            row[f"cov{level}_lo"] = o[f"coverage_{level}_low"]
            row[f"cov{level}_hi"] = o[f"coverage_{level}_high"]
        upsert_row(Path(args.out), row, KEY, COLUMNS, _fmt)
        logger.info("%s seed %d %s: wQL %.4f (seasonal naive %.4f), cov90 %.3f, %d predict / %d sample calls",
                    name, seed, variant, o["wql_mean"], o["wql_mean_seasonal_naive"], o["coverage_90"],
                    counter["predict"], counter["sample"])


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["ett_small_1h"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--n-windows", type=int, default=7)
    p.add_argument("--max-series", type=int, help="only the first N series of each dataset (smoke runs)")
    p.add_argument("--max-steps", type=int, default=2000, help="training step budget")
    p.add_argument("--n-samples", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--variant", nargs="+", action="append", metavar="NAME [KEY=VALUE ...]",
                   help="a named set of predict keyword arguments (repeatable); default: one 'default' variant")
    p.add_argument("--predict-param", type=predict_param, action="append", default=[], metavar="KEY=VALUE",
                   help="a predict keyword argument for every variant (repeatable)")
    p.add_argument("--force", action="store_true", help="rerun rows already in --out")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "rolling.csv"))
    args = p.parse_args(argv)
    args.predict_param = dict(args.predict_param)
    variants = [parse_variant(v) for v in (args.variant or [["default"]])]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch
    from _common import git_sha

    torch.set_num_threads(args.threads)
    done = {tuple(r[k] for k in KEY) for r in read_rows(Path(args.out)) if r.get("status") == "ok"}
    common = {"threads": args.threads, "hardware": _machine(), "git_sha": git_sha(),
              "command": "python benchmarks/rolling.py " + " ".join(shlex.quote(a) for a in argv)}
    for name in args.datasets:
        for seed in args.seeds:
            run_dataset(name, seed, variants, args, done, common)
    return 0


if __name__ == "__main__":
    sys.exit(main())
