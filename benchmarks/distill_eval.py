"""Acceptance measurement of issue 12: distil a saved teacher, then score the student beside it.

Usage (a teacher saved by ``run_benchmarks.py --save-model-dir DIR``, named ``DIR/<dataset>-tsdiff-seed<k>``)::

    python benchmarks/distill_eval.py --model models/teachers/m4_hourly-tsdiff-seed1 --dataset m4_hourly \
        --threads 1 --out benchmarks/results/distill.csv

What it does, in one process with ``--threads`` torch threads:

1. Loads the teacher and distils it (:meth:`tsdiff.TSDiff.distill_student`, the library's default budget and step
   counts unless ``--distill-steps`` / ``--student-steps``) on the frame the teacher was fitted on (the GluonTS
   adapter's ``TSDiffEstimator.training_frames`` of the dataset's training split, as ``run_benchmarks.py`` fits it),
   timing it (wall seconds, and the process's CPU seconds: with one thread, about the wall time on a quiet machine,
   a steadier figure on a shared one). The teacher's training time and steps come from its model file
   (``train_result_``), or, when the file has none, from its row in ``benchmarks/results/calibrated.csv``.
2. Saves the model with its student next to the teacher (``<model>-distilled``, or ``--student-out``).
3. Scores, on the paper protocol's test windows (every test entry's last ``prediction_length`` steps,
   ``run_benchmarks.py``'s split and its ``score``): the teacher's default sampler and the student at each of
   ``--steps`` network calls (default: the step counts it was trained for), each calibrated as ``predict`` does by
   default, ``--n-samples`` paths. Metrics: wQL (GluonTS mean weighted quantile loss), exact ensemble CRPS
   (properscoring, normalized by sum |y|), the coverage of the central 50% / 90% intervals, the predict seconds and
   the threads.
4. Appends one row per sampler to ``--out`` (plus a ``distillation`` row), each with the command, seed, git SHA,
   hardware and the script's wall time so far.

It refuses a working tree with uncommitted changes (figures must come from a commit) unless ``--allow-dirty``;
such rows carry ``+dirty`` in their ``git_sha``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import logging
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_sha, hardware, locked, read_rows  # noqa: E402

logger = logging.getLogger("distill_eval")

COLUMNS = ["dataset", "seed", "part", "sampler", "steps", "mean_wQuantileLoss", "crps", "crps_series", "coverage_50",
           "coverage_90", "wql_vs_teacher", "coverage_50_diff", "coverage_90_diff", "predict_seconds", "n_entries",
           "n_samples", "threads", "distill_seconds", "distill_cpu_seconds", "distill_steps", "distill_stop_reason",
           "distill_best_step", "distill_best_val_loss",
           "teacher_train_seconds", "teacher_train_steps", "teacher_time_source", "distill_time_ratio",
           "student_tail_length", "distill_seed", "model_path",
           "student_path", "pred_seed", "n_pred_seeds", "wql_vs_teacher_sd", "coverage_50_diff_sd",
           "coverage_90_diff_sd", "status", "note", "git_sha", "torch", "hardware", "command", "wall_seconds", "finished_at"]


def seed_of(model_path: Path, fallback: int) -> int:
    """The ``k`` of a ``<dataset>-tsdiff-seed<k>`` directory (``run_benchmarks.py --save-model-dir``), else ``fallback``."""
    match = re.search(r"-seed(\d+)$", model_path.name)
    return int(match.group(1)) if match else int(fallback)


def teacher_training(model: Any, dataset: str, seed: int, csv_path: Path) -> tuple[Optional[float], Optional[int], str]:
    """The teacher's training ``(seconds, steps, source)``: from the model file, else its ``calibrated.csv`` row."""
    tr = getattr(model, "train_result_", None)
    if tr is not None and float(getattr(tr, "elapsed", 0.0) or 0.0) > 0:
        return float(tr.elapsed), int(tr.steps), "model file (train_result_.elapsed)"
    for row in read_rows(csv_path):
        if row.get("dataset") == dataset and row.get("model") == "tsdiff" and row.get("seed") == str(seed) \
                and row.get("train_seconds"):
            return float(row["train_seconds"]), int(float(row["train_steps"] or 0)), f"{csv_path.name} row"
    return None, None, "unknown"


def mean_row(k: int, rows: list[dict[str, Any]], common: dict[str, Any], wall0: float) -> dict[str, Any]:
    """The ``student-mean`` row of step count ``k``: each score and each difference from the teacher, averaged
    over the sampling seeds of ``rows`` (one student row per seed, each against the teacher at that seed and
    carrying that teacher's wQL as ``teacher_wql``, a key not written to the CSV), with the sd over seeds of the
    differences.

    Why: one seed's coverage difference on a few hundred test points moves by about 0.01-0.02 between seeds
    (100 samples; the student and teacher share their starting noise, not their maps), as large as the bound.
    """
    import numpy as np

    def stat(key: str, fn: Any = np.mean) -> float:
        return float(fn([float(r[key]) for r in rows]))

    teacher_wql = stat("teacher_wql")
    out = {**common, "part": "student-mean", "sampler": "distilled", "steps": k, "n_pred_seeds": len(rows),
           "pred_seed": " ".join(str(r["pred_seed"]) for r in rows), "n_entries": rows[0]["n_entries"],
           "n_samples": rows[0]["n_samples"], "predict_seconds": round(stat("predict_seconds"), 2),
           **{key: stat(key) for key in ("mean_wQuantileLoss", "crps", "crps_series", "coverage_50", "coverage_90",
                                         "coverage_50_diff", "coverage_90_diff")},
           "status": "ok", "note": f"mean over {len(rows)} sampling seeds; teacher wQL {teacher_wql:.6g} (mean)"}
    # The ratio of the means (not the mean of per-seed ratios): the wQL of the pooled forecasts' average.
    out["wql_vs_teacher"] = out["mean_wQuantileLoss"] / teacher_wql - 1.0
    for key in ("wql_vs_teacher", "coverage_50_diff", "coverage_90_diff"):
        out[f"{key}_sd"] = stat(key, lambda v: np.std(v, ddof=1))
    out.update(wall_seconds=round(time.perf_counter() - wall0, 1),
               finished_at=_dt.datetime.now().isoformat(timespec="seconds"))
    return out


def append_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` to the CSV at ``path`` (header written when the file is new; a file written before a column
    was added is first rewritten with :data:`COLUMNS`, its rows blank in the new columns)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.parent / f".{path.name}.lock"):
        new = not path.exists() or path.stat().st_size == 0
        if not new:
            with path.open(newline="") as fh:
                reader = csv.DictReader(fh)
                old, header = list(reader), reader.fieldnames or []
            if header != COLUMNS:
                unknown = [c for c in header if c not in COLUMNS]
                if unknown:
                    raise ValueError(f"{path} has columns this script does not write: {unknown}")
                with path.open("w", newline="") as fh:
                    writer = csv.DictWriter(fh, fieldnames=COLUMNS)
                    writer.writeheader()
                    writer.writerows(old)
        with path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
            if new:
                writer.writeheader()
            for row in rows:
                writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a saved fitted TSDiff teacher (directory)")
    p.add_argument("--dataset", required=True, help="its dataset (tsdiff.datasets.load_dataset name)")
    p.add_argument("--seed", type=int, default=None,
                   help="sampling seed, and the teacher's row in calibrated.csv (default: the -seed<k> of --model, "
                        "else the model's seed)")
    p.add_argument("--steps", type=int, nargs="+", default=None,
                   help="student network calls to score (default: every step count it was trained for)")
    p.add_argument("--student-steps", type=int, nargs="+", default=None,
                   help="step counts the student is trained for (default: the model's student_steps)")
    p.add_argument("--distill-steps", type=int, default=None, help="student training steps (default: the library's)")
    p.add_argument("--student-tail-length", type=int, default=None,
                   help="the student's tail_length (TSDiff(student_tail_length=...); default: the library's)")
    p.add_argument("--distill-seed", type=int, default=None,
                   help="seed of the distillation (TSDiff.distill_student(seed=...); default: the model's seed)")
    p.add_argument("--student-out", default=None, help="where to save the distilled model (default: <model>-distilled)")
    p.add_argument("--n-samples", type=int, default=100)
    p.add_argument("--pred-seeds", type=int, default=1,
                   help="score the teacher and the student with this many sampling seeds (seed, seed + 1, ...; the "
                        "same seed for both, so their starting noise is shared) and add a 'student-mean' row per step "
                        "count: the mean and sd over seeds of each difference from the teacher")
    p.add_argument("--n-entries", type=int, default=None, help="score the first N test entries only (smoke runs)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--progress", action="store_true", help="show the distillation's progress bar")
    p.add_argument("--teacher-csv", default=str(ROOT / "benchmarks" / "results" / "calibrated.csv"),
                   help="where the teacher's training time is looked up when its model file has none")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "distill.csv"))
    p.add_argument("--allow-dirty", action="store_true", help="run on a working tree with uncommitted changes")
    args = p.parse_args(argv)
    if args.pred_seeds < 1:
        p.error(f"--pred-seeds must be >= 1, got {args.pred_seeds}")
    sha = git_sha()
    if sha.endswith("+dirty") and not args.allow_dirty:
        p.error(f"the working tree has uncommitted changes ({sha}); commit them first, or pass --allow-dirty")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("tsdiff").setLevel(logging.WARNING)
    wall0 = time.perf_counter()

    import torch
    from _peers import last_window_inputs, series_key
    from run_benchmarks import score

    from tsdiff import TSDiff
    from tsdiff.datasets import load_dataset
    from tsdiff.estimator import teacher_sampler_name
    from tsdiff.integrations.gluonts import TSDiffEstimator, TSDiffPredictor

    torch.set_num_threads(args.threads)
    model_path = Path(args.model)
    model = TSDiff.load(model_path, device="cpu")
    model.set_params(progress=args.progress, num_threads=args.threads)
    if args.student_tail_length is not None:
        model.set_params(student_tail_length=args.student_tail_length)
    seed = seed_of(model_path, model.seed) if args.seed is None else args.seed
    teacher_s, teacher_steps, source = teacher_training(model, args.dataset, seed, Path(args.teacher_csv))
    common = {"dataset": args.dataset, "seed": seed, "threads": args.threads, "model_path": str(model_path),
              "git_sha": sha, "torch": torch.__version__, "hardware": json.dumps(hardware()),
              "command": "python benchmarks/distill_eval.py " + " ".join(shlex.quote(a) for a in argv),
              "teacher_train_seconds": teacher_s, "teacher_train_steps": teacher_steps, "teacher_time_source": source}

    ds = load_dataset(args.dataset)
    freq, H = ds.metadata.freq, int(ds.metadata.prediction_length)
    est = TSDiffEstimator(freq=freq, prediction_length=H, context_length=model.config_.context_length)
    df, _, _, static_df = est.training_frames(ds.train)
    logger.info("distilling %s (%d series) ...", model_path, df["item_id"].nunique())
    t0, cpu0 = time.perf_counter(), time.process_time()
    distill_seed = model.config_.seed if args.distill_seed is None else args.distill_seed
    model.distill_student(df, static_df=static_df, max_steps=args.distill_steps, steps=args.student_steps,
                          seed=distill_seed)
    distill_s, distill_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    res = model.student_.train_result
    student_path = Path(args.student_out) if args.student_out else model_path.with_name(model_path.name + "-distilled")
    model.save(student_path)
    ratio = distill_s / teacher_s if teacher_s else None
    common.update(student_tail_length=model.config_.tail_length - model.student_.module.tail_cut,
                  distill_seed=distill_seed,
                  distill_seconds=round(distill_s, 2), distill_cpu_seconds=round(distill_cpu, 2),
                  distill_steps=res.steps, distill_stop_reason=res.stopped_reason,
                  # The checkpoint kept and its held-out distillation loss: does it tell a good student from a bad one?
                  distill_best_step=res.best_step, distill_best_val_loss=float(res.best_val_loss),
                  distill_time_ratio=ratio, student_path=str(student_path))
    logger.info("distilled in %.0f s (%.0f s of CPU; %d steps, %s); teacher: %s s / %s steps (%s)", distill_s,
                distill_cpu, res.steps, res.stopped_reason, teacher_s, teacher_steps, source)

    test = list(ds.test)[:args.n_entries] if args.n_entries else list(ds.test)
    inputs, tss = last_window_inputs(test, H)
    keys = [series_key(e) for e in inputs]
    predictor = TSDiffPredictor(model, H, freq)
    rows: list[dict[str, Any]] = [{**common, "part": "distillation", "sampler": "distilled", "status": "ok",
                                   "steps": ",".join(str(k) for k in model.student_.steps),
                                   "note": f"student of {model.student_.teacher}; calibration refitted per step count",
                                   "wall_seconds": round(time.perf_counter() - wall0, 1),
                                   "finished_at": _dt.datetime.now().isoformat(timespec="seconds")}]
    runs = [("teacher", teacher_sampler_name(model.sampler), None)] + [("student", "distilled", k)
                                                   for k in (args.steps or model.student_.steps)]
    pred_seeds = [seed + j for j in range(args.pred_seeds)]
    per_k: dict[int, list[dict[str, Any]]] = {}
    for pred_seed in pred_seeds:
        teacher_scores: dict[str, float] = {}
        for part, sampler, k in runs:
            t0 = time.perf_counter()
            forecasts = list(predictor.predict(inputs, num_samples=args.n_samples, seed=pred_seed, sampler=sampler,
                                               steps=k))
            seconds = time.perf_counter() - t0
            scores = score(tss, forecasts, H, keys=keys)
            name = model.sampler if sampler is None else sampler
            row = {**common, **{k2: scores[k2] for k2 in ("mean_wQuantileLoss", "crps", "crps_series", "coverage_50",
                                                          "coverage_90")},
                   "part": part, "sampler": name, "steps": model.sampler_steps if k is None else k,
                   "predict_seconds": round(seconds, 2), "n_entries": len(inputs), "n_samples": args.n_samples,
                   "pred_seed": pred_seed, "status": "ok", "note": "calibrated (predict's default)"}
            if part == "teacher":
                teacher_scores = scores
            else:
                row.update(wql_vs_teacher=scores["mean_wQuantileLoss"] / teacher_scores["mean_wQuantileLoss"] - 1.0,
                           coverage_50_diff=scores["coverage_50"] - teacher_scores["coverage_50"],
                           coverage_90_diff=scores["coverage_90"] - teacher_scores["coverage_90"],
                           teacher_wql=teacher_scores["mean_wQuantileLoss"])
                per_k.setdefault(k, []).append(row)
            row.update(wall_seconds=round(time.perf_counter() - wall0, 1),
                       finished_at=_dt.datetime.now().isoformat(timespec="seconds"))
            rows.append(row)
            logger.info("seed %d %s %s %s: wQL %.5f cov50 %.3f cov90 %.3f (%.1f s)", pred_seed, part, name,
                        row["steps"], scores["mean_wQuantileLoss"], scores["coverage_50"], scores["coverage_90"],
                        seconds)
    if len(pred_seeds) > 1:
        rows += [mean_row(k, rs, common, wall0) for k, rs in per_k.items()]
    append_rows(Path(args.out), rows)
    logger.info("appended %d rows to %s", len(rows), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
