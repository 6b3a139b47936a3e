"""Learning curves: test-set wQL against training steps (tsdiff) and epochs (DeepAR), from one run each.

Design (the cheapest honest one): per dataset, model and seed, **one** training run under the final
budget saves checkpoints at ``--n-checkpoints`` evenly spaced points; each checkpoint is then scored
on the test split. The points are therefore *checkpoints of one run with the final budget's LR
schedule*, not separate runs with smaller budgets (tsdiff's cosine decay and DeepAR's
reduce-on-plateau both depend on the whole run), which is what "is the model flat at the budget
used?" needs.

- **tsdiff** (``TSDiffEstimator``, the GluonTS adapter ``run_benchmarks.py`` uses; ``--max-steps``,
  default tsdiff's own): ``fit(checkpoint_dir=..., checkpoint_every=...)`` rewrites one
  ``checkpoint.pt``; this script copies each one as it is written (:func:`keep_checkpoints`). A
  checkpoint's weights are what ``predict`` would use had training stopped there: the EMA weights of
  the best validation so far (before the first validation, the current EMA); ``variant`` ``checkpoint``.
  Once validation stops improving, those stay the same, so ``--current-ema`` also scores the current
  EMA weights that the checkpoint holds for resuming (``checkpoint_ema``): the training trajectory
  itself. Checkpoints hold no calibration (it is fitted after training), so every checkpoint is
  scored as the **raw** ensemble; the final model is scored raw and calibrated (``final_raw`` /
  ``final``).
- **DeepAR** (GluonTS torch, tsdiff's context length and the static category, ``--deepar-epochs`` x
  ``--deepar-batches``): Lightning ``ModelCheckpoint(every_n_epochs=..., save_top_k=-1)`` keeps the
  weights at every checkpoint epoch; ``final`` is what GluonTS returns (the epoch with the lowest
  training loss).

Scoring: the GluonTS protocol (every test entry's last ``prediction_length`` window, as
``make_evaluation_predictions`` cuts it), ``--n-samples`` paths (100), wQL (GluonTS mean weighted
quantile loss over 0.1..0.9), exact ensemble CRPS / sum |y|, MASE of the median, cov50 / cov90
(finite-ensemble targets 0.485 / 0.881 for 100 samples). One CSV row per checkpoint, with the command,
seed, git SHA, hardware, wall time and date; a job with a ``final`` row at the current SHA is skipped.

One job::

    python benchmarks/learning_curves.py --dataset exchange_rate_nips --model tsdiff --seed 0 --threads 1 \\
        --out benchmarks/results/learning_curves.csv
    python benchmarks/learning_curves.py --plot docs/figures/learning_curves.png   # figure from --out

The older figure of the validation scores that ``run_benchmarks.py`` records (``val_history``)::

    python benchmarks/learning_curves.py --val-history benchmarks/results/calibrated.csv --plot FIG.png
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import datetime as _dt
import functools
import inspect
import json
import logging
import shlex
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import read_rows, upsert_row  # noqa: E402
from rolling import (  # noqa: E402
    CONTEXT,
    _fmt,
    add_budget_arguments,
    deepar_fair_estimator,
    finite_ensemble_coverage,
)

logger = logging.getLogger("benchmarks.learning_curves")

LABEL = "checkpoints of one run with the final budget's LR schedule"
DATASETS = ("m4_hourly", "ett_small_1h", "exchange_rate_nips")
MODELS = ("tsdiff", "deepar")
KEY = ("dataset", "model", "seed", "variant", "checkpoint", "git_sha")
COLUMNS = ["protocol", "dataset", "model", "seed", "variant", "status", "unit", "checkpoint", "budget", "best_step",
           "wql_gluonts_mean_wQuantileLoss", "crps_exact_normalized", "mase", "cov50", "cov90", "cov50_target",
           "cov90_target", "n_entries", "n_samples", "context_length", "batches_per_epoch", "train_seconds",
           "predict_seconds", "wall_seconds", "threads", "hardware", "git_sha", "torch", "label", "note", "command",
           "finished_at"]


# --------------------------------------------------------------------------- checkpoints
@contextlib.contextmanager
def keep_checkpoints(directory: Path) -> Iterator[list[Path]]:
    """Copy every tsdiff training checkpoint, as it is written, to ``directory/step<N>.pt``.

    ``TSDiff.fit(checkpoint_dir=...)`` keeps only the latest ``checkpoint.pt`` (it is meant for
    resuming); this wraps the private writer for the duration of the block. Yields the list of
    copies, filled as training goes.
    """
    from tsdiff.serialization import _Checkpointer

    kept: list[Path] = []
    original = _Checkpointer.write

    def write(self: Any, trainer: Any, step: int) -> None:
        original(self, trainer, step)
        if self.dist.is_main:
            target = directory / f"step{step:07d}.pt"
            shutil.copyfile(self.file, target)
            kept.append(target)

    directory.mkdir(parents=True, exist_ok=True)
    _Checkpointer.write = write
    try:
        yield kept
    finally:
        _Checkpointer.write = original


def score(forecasts: list, inputs: list, tss: list, H: int, season: int) -> dict[str, float]:
    """wQL, exact CRPS, MASE and coverage of GluonTS forecasts of the last window of each test entry."""
    from tsdiff import metrics

    y = np.stack([np.asarray(ts.iloc[-H:], dtype=np.float64).reshape(-1) for ts in tss])
    samples = np.stack([np.asarray(f.samples, dtype=np.float64) for f in forecasts])
    insample = [np.asarray(e["target"], dtype=np.float64) for e in inputs]
    m = metrics.evaluate(y, samples, insample, season=season)
    return {"wql_gluonts_mean_wQuantileLoss": m["wql_mean"], "crps_exact_normalized": m["crps"], "mase": m["mase"],
            "cov50": m["coverage_50"], "cov90": m["coverage_90"],
            "cov50_target": finite_ensemble_coverage(0.5, samples.shape[1]),
            "cov90_target": finite_ensemble_coverage(0.9, samples.shape[1])}


def tsdiff_points(name: str, ds: Any, inputs: list, tss: list, seed: int, args: argparse.Namespace,
                  work: Path) -> Iterator[dict[str, Any]]:
    """Train tsdiff once with checkpoints; yield one scored row (without provenance) per checkpoint, then the final."""
    import torch

    from tsdiff import TSDiff
    from tsdiff.integrations.gluonts import TSDiffEstimator, TSDiffPredictor
    from tsdiff.integrations.gluonts_features import seasonality

    freq, H = ds.metadata.freq, int(ds.metadata.prediction_length)
    budget = {} if args.max_steps is None else {"max_steps": args.max_steps}
    estimator = TSDiffEstimator(freq=freq, prediction_length=H, context_length=CONTEXT.get(name),
                                seed=seed, progress=False, device="cpu", num_threads=args.threads, **budget)
    every = max(1, (args.max_steps or _tsdiff_default("max_steps")) // args.n_checkpoints)
    make_model = estimator.create_model

    def create_model() -> Any:  # the adapter's model, fitted with checkpoints
        model = make_model()
        model.fit = functools.partial(model.fit, checkpoint_dir=str(work / "resume"), checkpoint_every=every)
        return model

    estimator.create_model = create_model
    t0 = time.perf_counter()
    with keep_checkpoints(work / "steps") as kept:
        predictor = estimator.train(list(ds.train))
    train_seconds = time.perf_counter() - t0
    final = predictor.model
    season = seasonality(freq)
    common = {"unit": "step", "budget": final.max_steps, "context_length": final.config_.context_length}
    for path in kept:
        model = TSDiff.load(path, device="cpu")
        res = model.train_result_
        weights = [("checkpoint", None, "EMA weights of the best validation so far")]
        if args.current_ema:
            ema = torch.load(path, map_location="cpu", weights_only=True)["checkpoint"]["trainer"]["ema"]
            weights.append(("checkpoint_ema", ema, "current EMA weights (no checkpoint selection)"))
        for variant, state, what in weights:
            if state is not None:
                model.model_.load_state_dict(state)
            t1 = time.perf_counter()
            fc = list(TSDiffPredictor(model, H, freq, use_static=predictor.use_static).predict(
                inputs, num_samples=args.n_samples, seed=seed))
            yield {**common, "variant": variant, "checkpoint": res.steps, "best_step": res.best_step,
                   "train_seconds": res.elapsed, "predict_seconds": time.perf_counter() - t1,
                   **score(fc, inputs, tss, H, season), "note": f"raw ensemble (checkpoints hold no calibration); {what}"}
    res = final.train_result_
    for variant, calibrated in (("final_raw", False), ("final", None)):
        t1 = time.perf_counter()
        fc = list(predictor.predict(inputs, num_samples=args.n_samples, seed=seed, calibrated=calibrated))
        yield {**common, "variant": variant, "checkpoint": res.steps, "best_step": res.best_step,
               "train_seconds": train_seconds, "predict_seconds": time.perf_counter() - t1,
               **score(fc, inputs, tss, H, season),
               "note": f"fitted model ({'calibrated' if calibrated is None else 'raw'}); stopped={res.stopped_reason}"}


def deepar_points(name: str, ds: Any, inputs: list, tss: list, seed: int, args: argparse.Namespace,
                  work: Path) -> Iterator[dict[str, Any]]:
    """Train DeepAR once with epoch checkpoints; yield one scored row per checkpoint, then the final."""
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint

    from tsdiff.integrations.gluonts_features import seasonality

    freq, H = ds.metadata.freq, int(ds.metadata.prediction_length)
    train = list(ds.train)
    every = max(1, args.deepar_epochs // args.n_checkpoints)
    saver = ModelCheckpoint(dirpath=str(work / "epochs"), every_n_epochs=every, save_top_k=-1, save_weights_only=True,
                            filename="epoch{epoch:05d}", auto_insert_metric_name=False)
    C = CONTEXT.get(name)
    torch.manual_seed(seed)  # DeepAR draws from the global RNGs (script-level seeding)
    np.random.seed(seed)
    estimator = deepar_fair_estimator(freq, H, C, train + inputs, max_epochs=args.deepar_epochs,
                                      num_batches_per_epoch=args.deepar_batches, callbacks=[saver],
                                      root_dir=str(work / "lightning"))
    t0 = time.perf_counter()
    out = estimator.train_model(train, cache_data=True)
    train_seconds = time.perf_counter() - t0
    season = seasonality(freq)
    common = {"unit": "epoch", "budget": args.deepar_epochs, "context_length": C,
              "batches_per_epoch": args.deepar_batches}
    for path in sorted((work / "epochs").glob("epoch*.ckpt")):
        net = copy.deepcopy(out.trained_net)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["state_dict"])
        predictor = estimator.create_predictor(out.transformation, net)
        t1 = time.perf_counter()
        torch.manual_seed(seed)
        fc = list(predictor.predict(inputs, num_samples=args.n_samples))
        yield {**common, "variant": "checkpoint", "checkpoint": int(path.stem[len("epoch"):]) + 1,
               "predict_seconds": time.perf_counter() - t1, **score(fc, inputs, tss, H, season),
               "note": "weights at the end of this epoch"}
    t1 = time.perf_counter()
    torch.manual_seed(seed)
    fc = list(out.predictor.predict(inputs, num_samples=args.n_samples))
    yield {**common, "variant": "final", "checkpoint": int(out.trainer.current_epoch), "train_seconds": train_seconds,
           "predict_seconds": time.perf_counter() - t1, **score(fc, inputs, tss, H, season),
           "note": "GluonTS's choice: the epoch with the lowest training loss"}


def _tsdiff_default(name: str) -> Any:
    from tsdiff import TSDiff

    return inspect.signature(TSDiff).parameters[name].default


def run_job(name: str, model: str, seed: int, args: argparse.Namespace, common: dict[str, Any]) -> None:
    """Train one model once on one dataset and write a row per scored checkpoint."""
    import torch
    from _peers import last_window_inputs

    from tsdiff.datasets import load_dataset

    t_wall = time.perf_counter()
    ds = load_dataset(name)
    H = int(ds.metadata.prediction_length)
    inputs, tss = last_window_inputs(list(ds.test), H)
    points = tsdiff_points if model == "tsdiff" else deepar_points
    with tempfile.TemporaryDirectory(prefix=f"learning-curves-{model}-") as tmp:
        for point in points(name, ds, inputs, tss, seed, args, Path(tmp)):
            row = {"protocol": "paper (last window of every test entry)", "dataset": name, "model": model,
                   "seed": seed, "status": "ok", "n_entries": len(inputs), "n_samples": args.n_samples,
                   "torch": torch.__version__, "label": LABEL, **common, **point,
                   "wall_seconds": time.perf_counter() - t_wall,
                   "finished_at": _dt.datetime.now().isoformat(timespec="seconds")}
            upsert_row(Path(args.out), row, KEY, COLUMNS, _fmt)
            logger.info("%s %s seed %d %s %s %s: wQL %.4f cov50 %.3f cov90 %.3f", name, model, seed, row["variant"],
                        row["unit"], row["checkpoint"], row["wql_gluonts_mean_wQuantileLoss"], row["cov50"],
                        row["cov90"])


# --------------------------------------------------------------------------- figures
def checkpoint_curves(path: Path, commit: Optional[str] = None) -> dict[tuple[str, str, int], dict[str, Any]]:
    """``{(model, dataset, seed): {"unit", "sha", "points": [(checkpoint, wql), ...], "ema": [...], "final": wql}}``.

    Each run's rows come from one commit: ``commit`` (a prefix), else that of the run's last ``final`` row.
    """
    rows = [r for r in read_rows(path) if r.get("status") == "ok"]
    shas = {(r["model"], r["dataset"], int(r["seed"])): r["git_sha"] for r in rows
            if r["variant"] == "final" and (not commit or r["git_sha"].startswith(commit))}
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in rows:
        run = (r["model"], r["dataset"], int(r["seed"]))
        if shas.get(run) != r["git_sha"]:
            continue
        entry = out.setdefault(run, {"unit": r["unit"], "points": [], "ema": [], "sha": r["git_sha"],
                                     "n_samples": r["n_samples"]})
        wql = float(r["wql_gluonts_mean_wQuantileLoss"])
        if r["variant"] in ("checkpoint", "checkpoint_ema"):
            entry["points" if r["variant"] == "checkpoint" else "ema"].append((int(r["checkpoint"]), wql))
        else:
            entry[r["variant"]] = wql
    for entry in out.values():
        entry["points"].sort()
        entry["ema"].sort()
    return out


def improvement_after(points: list[tuple[int, float]], step: int) -> float:
    """Relative drop of the best score from ``step`` to the end (0.05 = 5% better at the end)."""
    before = min((v for s, v in points if s <= step), default=float("nan"))
    end = min(v for _, v in points)
    return (before - end) / before


def curve_summary(title: str, unit: str, points: list[tuple[int, float]], final: Optional[float]) -> str:
    """One line: the best and the last checkpoint, and the change over the last quarter and half of the run."""
    xs, ys = zip(*points)
    best = int(np.argmin(ys))

    def change_since(frac: float) -> float:
        k = int(np.argmin([abs(x - frac * xs[-1]) for x in xs]))
        return 100 * (ys[-1] / ys[k] - 1)

    return (f"{title}: best checkpoint wQL {ys[best]:.4f} ({unit} {xs[best]}), last {ys[-1]:.4f} ({unit} {xs[-1]}, "
            f"{100 * (ys[-1] / ys[best] - 1):+.1f}% vs best), change over the last half {change_since(0.5):+.1f}%, "
            f"over the last quarter {change_since(0.75):+.1f}%"
            + ("" if final is None else f"; final model {final:.4f}"))


def plot_checkpoints(path: Path, figure: Path, commit: Optional[str] = None) -> list[str]:
    """One panel per model: each checkpoint's test wQL / the last checkpoint's, one line per dataset and seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = checkpoint_curves(path, commit)
    if not data:
        raise SystemExit(f"no learning-curve rows with a final row in {path}")
    models = [m for m in MODELS if any(k[0] == m for k in data)]
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 3.6), squeeze=False)
    lines = []
    for ax, model in zip(axes[0], models):
        unit = "step"
        for (m, name, seed), entry in sorted(data.items()):
            if m != model or not entry["points"]:
                continue
            unit = entry["unit"]
            xs, ys = zip(*entry["points"])
            line, = ax.plot(xs, [v / ys[-1] for v in ys], marker=".",
                            label=f"{name}" + (f" (seed {seed})" if seed else ""))
            if entry["ema"]:
                ex, ey = zip(*entry["ema"])
                ax.plot(ex, [v / ys[-1] for v in ey], ls=":", marker=".", color=line.get_color(),
                        label=f"{name}, current EMA (no selection)")
            lines.append(curve_summary(f"{model} {name} seed {seed}", unit, entry["points"], entry.get("final")))
            if entry["ema"]:
                lines.append(curve_summary(f"{model} {name} seed {seed} (current EMA)", unit, entry["ema"], None))
        ax.set_title(f"{model}: test wQL / last checkpoint's", fontsize=10)
        ax.set_xlabel(f"training {unit}")
        top = ax.get_ylim()[1]
        ax.set_ylim(min(0.9, ax.get_ylim()[0]), min(max(top, 1.2), 3.0))
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.legend(fontsize=7)
    first = next(iter(data.values()))
    commits = ", ".join(sorted({e["sha"][:7] for e in data.values()}))
    fig.suptitle(f"{LABEL} (commit {commits}; GluonTS test split, {first['n_samples']} samples)", fontsize=9)
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=110)
    return lines


def val_history_curves(path: Path) -> dict[str, list[tuple[int, list[tuple[int, float]]]]]:
    """``{dataset: [(seed, [(step, val_wql), ...]), ...]}`` of the plain ``tsdiff`` rows of a run_benchmarks CSV."""
    out: dict[str, list] = defaultdict(list)
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            if r.get("model") != "tsdiff" or r.get("status") != "ok" or not r.get("val_history"):
                continue
            out[r["dataset"]].append((int(r["seed"]), [(int(s), float(v)) for s, v in json.loads(r["val_history"])]))
    return out


def plot_val_history(path: Path, figure: Path) -> list[str]:
    """The validation wQL (8 sampled paths of up to 64 held-out windows) that tsdiff records per val_every steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = val_history_curves(path)
    fig, axes = plt.subplots(1, len(data), figsize=(4 * len(data), 3.2), squeeze=False)
    lines = []
    for ax, (name, runs) in zip(axes[0], sorted(data.items())):
        for seed, pts in sorted(runs):
            steps, vals = zip(*pts)
            ax.plot(steps, [v / vals[-1] for v in vals], marker=".", label=f"seed {seed}")
            lines.append(f"{name} seed {seed}: best val wQL {min(vals):.4f}; improvement over the second half of the "
                         f"budget {100 * improvement_after(pts, steps[-1] // 2):.1f}%, over the last quarter "
                         f"{100 * improvement_after(pts, 3 * steps[-1] // 4):.1f}%")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylim(0.9, 1.6)
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("validation wQL / final")
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=110)
    return lines


# --------------------------------------------------------------------------- main
def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", "--dataset", nargs="+", choices=DATASETS,
                   help="train and score these (default: only draw --plot from --out)")
    p.add_argument("--models", "--model", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--seeds", "--seed", nargs="+", type=int, default=[0])
    add_budget_arguments(p)
    p.add_argument("--n-checkpoints", type=int, default=10, help="checkpoints per run, evenly spaced")
    p.add_argument("--current-ema", action="store_true",
                   help="tsdiff: also score each checkpoint's current EMA weights (no checkpoint selection)")
    p.add_argument("--force", action="store_true", help="rerun jobs that have a final row at this commit")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "learning_curves.csv")
    p.add_argument("--plot", type=Path, help="draw the figure (PNG) from --out (or from --val-history)")
    p.add_argument("--commit", help="--plot: the rows of this commit (default: the last final row's)")
    p.add_argument("--val-history", type=Path, metavar="CSV",
                   help="older figure: the validation curves in a run_benchmarks CSV's val_history column")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for quiet in ("tsdiff", "gluonts"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    if args.val_history is not None:
        if args.plot is None:
            p.error("--val-history needs --plot FIGURE")
        print("\n".join(plot_val_history(args.val_history, args.plot)))
        return 0
    if args.datasets:
        import torch
        from _common import git_sha, hardware

        torch.set_num_threads(args.threads)
        sha = git_sha()
        done = {(r["dataset"], r["model"], r["seed"]) for r in read_rows(args.out)
                if r.get("status") == "ok" and r.get("variant") == "final" and r.get("git_sha") == sha}
        common = {"threads": args.threads, "hardware": hardware(), "git_sha": sha,
                  "command": "python benchmarks/learning_curves.py " + " ".join(shlex.quote(a) for a in argv)}
        for name in args.datasets:
            for model in args.models:
                for seed in args.seeds:
                    if not args.force and (name, model, str(seed)) in done:
                        logger.info("%s %s seed %d: already in %s at %s", name, model, seed, args.out, sha[:12])
                        continue
                    run_job(name, model, seed, args, common)
    if args.plot is not None:
        print("\n".join(plot_checkpoints(args.out, args.plot, args.commit)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
