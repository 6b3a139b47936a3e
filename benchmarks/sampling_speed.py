"""Sampling speed of tsdiff on m4_hourly: the distilled student (1, 2, 4 network calls), the teacher's
default sampler, DDPM and DDIM on the same trained weights, and DeepAR's sampling time in the same run.

Usage (the full protocol: 100 samples for each of the 414 m4_hourly series, horizon 48)::

    python benchmarks/sampling_speed.py --model models/teachers/m4_hourly-tsdiff-seed1-distilled --threads 2 --no-scaling \
        --out benchmarks/results/sampling_speed.csv --figure docs/figures/sampling_speed.png

``--model PATH`` reads a saved fitted TSDiff (a directory or its ``model.pt``); without it the script
trains one for ``--max-steps`` steps (default: the library's; or loads/saves ``--model-dir``). A model without a distilled student
is distilled first (``TSDiff.distill_student`` on m4_hourly's training split, ``--distill-steps``), in a
child process with ``--threads`` threads; the student model is saved to ``--student-out`` (default: a
temporary directory) and a ``distillation`` row records its time beside the teacher's training time.

``--patch-size 4`` measures the patched U-Net (rows carry their ``patch_size``; ``--append``
keeps the rows of other patch sizes). ``--n-series 24`` times the first 24 series only (the
414-series time is then extrapolated and labelled so).

What it measures
----------------
1. For each sampler (``--samplers``, ``name:steps``; ``distilled:k`` is the student with ``k`` calls):
   wall seconds to draw ``--n-samples`` paths of 48 steps for every series of the test split's last
   window (the model's default calibration applied, as ``predict`` does), peak RSS of the worker
   process, the wQL (GluonTS ``mean_wQuantileLoss``), the exact CRPS (properscoring) and the coverage of
   the central 50% / 90% intervals (GluonTS's quantile rule) of those samples. ``name:steps:bf16`` runs the
   network under bfloat16 autocast (``TSDiff(precision="bf16")``; the diffusion arithmetic stays in float32):
   the rows of both precisions show what it saves and whether the scores move.
2. Scaling of DDIM-``--scaling-steps`` time with ``n_samples``, ``horizon`` (48 = one block,
   96 / 144 = two / three autoregressive blocks), ``n_series`` and ``context_length``
   (untrained models of each context length: weights do not change the time).
3. DeepAR's sampling time for the same series, as the peer ratio: the accuracy tables' DeepAR
   (GluonTS torch DeepAREstimator with tsdiff's context of 312 and the static category, trained under
   their epoch budget with early stopping, ``benchmarks/_peers.py``; ``--deepar-epochs`` overrides the
   budget); recorded as unavailable when ``lightning`` is missing.

Each timing runs in a forked process so that its peak memory (``ru_maxrss``) is its own. Every row
carries the command, the git SHA, the hardware and the number of torch threads.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import logging
import multiprocessing as mp
import resource
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import collect, current_rss_mb  # noqa: E402

logger = logging.getLogger("sampling_speed")
COLUMNS = ["part", "patch_size", "sampler", "steps", "precision", "n_series", "n_samples", "horizon", "context_length", "seconds",
           "seconds_per_series", "extrapolated_414_seconds", "peak_rss_mb", "peak_rss_delta_mb", "mean_wQuantileLoss", "crps",
           "coverage_50", "coverage_90", "status", "note", "threads", "device", "git_sha", "torch", "hardware", "command",
           "finished_at"]


_KEY = ("part", "patch_size", "sampler", "steps", "precision", "n_series", "n_samples", "horizon", "context_length")


def _forked(fn: Callable[[], dict[str, Any]], threads: int = 1) -> dict[str, Any]:
    """Run ``fn`` in a forked child with ``threads`` torch threads; return its dict (plus its peak RSS in MiB).

    The parent itself keeps torch on one thread: a child forked after the parent has run an
    OpenMP parallel region with several threads can hang in the OpenMP runtime, so the
    multi-threaded work (training and every timing) happens in children only.
    """
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)

    def target() -> None:
        try:
            import torch

            torch.set_num_threads(threads)
            start_rss = current_rss_mb()
            out = fn()
            out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
            out["peak_rss_delta_mb"] = round(out["peak_rss_mb"] - start_rss, 1)
            out.setdefault("status", "ok")
        except ImportError as exc:
            out = {"status": "unavailable", "note": str(exc)[:300]}
        except Exception as exc:
            traceback.print_exc()
            out = {"status": "error", "note": f"{type(exc).__name__}: {str(exc)[:300]}"}
        send.send(out)
        send.close()

    return collect(ctx.Process(target=target), recv, send)


def _sampler_spec(spec: str) -> tuple[str, Optional[int], str]:
    """``name[:steps[:precision]]`` -> ``(name, steps or None, precision)``; a bad spec exits with a message."""
    name, _, rest = spec.partition(":")
    steps_s, _, precision = rest.partition(":")
    precision = precision or "fp32"
    if not name or ":" in precision or precision not in ("fp32", "bf16", "fp16", "auto") or (steps_s and not steps_s.isdigit()):
        raise SystemExit(f"--samplers: a spec is name:steps[:precision] with precision fp32, bf16, fp16 or auto, "
                         f"got {spec!r}")
    return name, int(steps_s) if steps_s else None, precision


def _scores(y: np.ndarray, samples: np.ndarray) -> dict[str, float]:
    from tsdiff import metrics

    return {"mean_wQuantileLoss": metrics.weighted_quantile_loss(y, samples),
            "crps": metrics.normalized_crps(y, samples), "coverage_50": metrics.coverage(y, samples, 0.5),
            "coverage_90": metrics.coverage(y, samples, 0.9)}


def main(argv: Optional[list[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-steps", type=int, default=None,
                   help="tsdiff's training steps when no --model is given (default: the library's)")
    p.add_argument("--deepar-epochs", type=int, default=None,
                   help="DeepAR's epoch budget (default: the accuracy tables', with early stopping)")
    p.add_argument("--model", default=None, help="a saved fitted TSDiff (directory or model.pt) to time")
    p.add_argument("--model-dir", default=None, help="load/save the trained tsdiff model here")
    p.add_argument("--distill-steps", type=int, default=None,
                   help="student training steps when the model has no student (default: the library's)")
    p.add_argument("--student-out", default=None, help="save the model with its distilled student here")
    p.add_argument("--n-series", type=int, default=414, help="time the first N test series (414 = all)")
    p.add_argument("--n-samples", type=int, default=100)
    p.add_argument("--samplers", nargs="*", default=["distilled:2:auto", "distilled:1", "distilled:2", "distilled:4",
                                                     "distilled:1:bf16", "distilled:2:bf16", "distilled:4:bf16",
                                                     "dpmsolver:20", "dpmsolver:20:bf16", "dpmsolver:4"],
                   help="tsdiff samplers to time, as name:steps[:precision] (none: skip; precision fp32 by default, "
                        "or bf16 or auto: TSDiff(precision=...), auto recorded with what it resolved to); "
                        "distilled:k is the student; 'ddpm' "
                        "runs all diffusion steps (1000 by default: about 50x the default sampler, so time it on "
                        "fewer series with --n-series)")
    p.add_argument("--append", action="store_true",
                   help="keep the rows already in --out (a row with the same settings is replaced)")
    p.add_argument("--scaling-steps", type=int, default=10, help="DDIM steps of the scaling runs")
    p.add_argument("--scaling-series", type=int, default=None, help="series of the scaling runs (default n-series/2)")
    p.add_argument("--no-scaling", action="store_true")
    p.add_argument("--no-deepar", action="store_true")
    p.add_argument("--patch-size", type=int, default=None,
                   help="tsdiff patch_size of the trained and the untrained models (default: the library's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sampling_speed.csv"))
    p.add_argument("--png", default=str(ROOT / "docs" / "sampling_speed.png"), help="the scaling figure")
    p.add_argument("--figure", default=str(ROOT / "docs" / "figures" / "sampling_speed.png"),
                   help="speed vs accuracy of the samplers and DeepAR (from the rows in --out)")
    p.add_argument("--plot-only", action="store_true", help="redraw --png from the rows in --out and exit")
    args = p.parse_args(argv)
    specs = [_sampler_spec(spec) for spec in args.samplers]  # before any training or timing
    if args.plot_only:
        with Path(args.out).open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        _plot(rows, Path(args.png))
        _plot_speed_accuracy(rows, Path(args.figure))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("tsdiff").setLevel(logging.WARNING)

    import torch
    from _common import git_sha, hardware
    from _peers import gluonts_budget, gluonts_estimator, last_window_inputs, train_gluonts

    from tsdiff.datasets import dataset_to_frame, load_dataset
    from tsdiff.estimator import TSDiff
    from tsdiff.integrations.gluonts import TSDiffEstimator, TSDiffPredictor

    torch.set_num_threads(1)  # see _forked: the children run with args.threads
    ds = load_dataset("m4_hourly")
    freq, H = ds.metadata.freq, int(ds.metadata.prediction_length)
    test = list(ds.test)
    inputs_all, tss_all = last_window_inputs(test, H)
    common = {"threads": args.threads, "git_sha": git_sha(), "torch": torch.__version__,
              "hardware": json.dumps(hardware()),
              "command": "python benchmarks/sampling_speed.py " + " ".join(shlex.quote(a) for a in argv)}
    rows: list[dict[str, Any]] = []
    if args.append and Path(args.out).exists():
        with Path(args.out).open(newline="") as fh:
            rows = list(csv.DictReader(fh))

    def emit(row: dict[str, Any]) -> None:
        row = {**common, **row, "finished_at": _dt.datetime.now().isoformat(timespec="seconds")}
        if not str(row.get("sampler", "")).startswith("deepar"):
            row.setdefault("patch_size", model.config_.patch_size)
        n = row.get("n_series")
        if row.get("seconds") not in (None, "") and n:
            row["seconds_per_series"] = row["seconds"] / n
            row["extrapolated_414_seconds"] = row["seconds"] / n * 414
        key = [str(row.get(k, "")) for k in _KEY]
        rows[:] = [r for r in rows if [str(r.get(k, "")) for k in _KEY] != key]
        rows.append(row)
        _write(Path(args.out), rows)
        logger.info("%s", {k: row.get(k) for k in ("part", "sampler", "steps", "n_series", "n_samples", "horizon",
                                                   "context_length", "seconds", "peak_rss_mb",
                                                   "mean_wQuantileLoss", "crps", "status")})

    # ---------------------------------------------------------------- model
    patch = {} if args.patch_size is None else {"patch_size": args.patch_size}
    scratch = tempfile.TemporaryDirectory(prefix="tsdiff_speed_")
    model_dir = Path(args.model_dir) if args.model_dir else Path(scratch.name) / "model"
    def load(path: Any) -> TSDiff:
        # A saved model keeps the num_threads it was fitted with (the final table's models: 1), and predict()
        # runs under it: every sampler is timed at --threads, as the rows say.
        return TSDiff.load(path, device=args.device).set_params(num_threads=args.threads)

    if args.model:
        model = load(args.model)
        train_note = f"loaded from --model {args.model} ({model.train_result_.steps} steps)"
    elif (model_dir / "model.pt").exists():
        model = load(model_dir)
        train_note = f"loaded from --model-dir ({model.train_result_.steps} steps)"
    else:
        def train() -> dict[str, Any]:
            train_df, _ = dataset_to_frame(ds.train, freq)
            steps = {} if args.max_steps is None else {"max_steps": args.max_steps}
            fitted = TSDiff(prediction_length=H, context_length=312, freq=freq, seed=args.seed, progress=False,
                            device=args.device, **steps, **patch)
            t0 = time.perf_counter()
            fitted.fit(train_df)
            seconds = time.perf_counter() - t0
            fitted.save(model_dir)
            return {"steps": fitted.train_result_.steps, "seconds": seconds}

        res = _forked(train, args.threads)
        if res.get("status") != "ok":
            raise RuntimeError(f"training failed: {res}")
        model = load(model_dir)
        train_note = f"trained {res['steps']} steps in {res['seconds']:.0f} s"
    train_note += (f"; patch_size={model.config_.patch_size}, tail_length={model.config_.tail_length}, "
                   f"chunk_size=default")
    train_note += f"; num_threads={args.threads}"
    logger.info("tsdiff: %s", train_note)
    if any(spec.startswith("distilled") for spec in args.samplers) and getattr(model, "student_", None) is None:
        student_dir = Path(args.student_out) if args.student_out else Path(scratch.name) / "student"
        teacher = model

        def distil() -> dict[str, Any]:
            # The frame the teacher was fitted on by run_benchmarks.py (the GluonTS adapter's).
            train_df, _, _, static_df = TSDiffEstimator(freq=freq, prediction_length=H).training_frames(ds.train)
            t0 = time.perf_counter()
            teacher.set_params(progress=False, num_threads=args.threads)
            teacher.distill_student(train_df, static_df=static_df, max_steps=args.distill_steps)
            seconds = time.perf_counter() - t0
            teacher.save(student_dir)
            return {"seconds": seconds, "steps": teacher.student_.train_result.steps}

        res = _forked(distil, args.threads)
        if res.get("status") != "ok":
            raise RuntimeError(f"distillation failed: {res}")
        model = load(student_dir)
        teacher_s = model.train_result_.elapsed
        emit({"part": "distillation", "sampler": "distilled", "steps": res["steps"], "seconds": res["seconds"],
              "device": str(model.device_), "status": "ok",
              "note": f"distill_student(max_steps={res['steps']}) incl. the student's calibration; the teacher's "
                      f"training loop took {teacher_s:.0f} s ({model.train_result_.steps} steps; a loaded model's "
                      f"time was measured where it was trained): ratio {res['seconds'] / max(teacher_s, 1e-9):.2f}"})
    device = str(model.device_)
    predictor = TSDiffPredictor(model, H, freq)

    def time_predict(pred: TSDiffPredictor, n_series: int, n_samples: int, horizon: int,
                     sampler: str, steps: Optional[int], score: bool, precision: str = "fp32") -> dict[str, Any]:
        entries = [dict(e) for e in inputs_all[:n_series]]
        df, future_df, static_df = pred._frames([{**e, "item_id": i} for i, e in enumerate(entries)])

        def run() -> dict[str, Any]:
            pred.model.set_params(precision=precision)
            t0 = time.perf_counter()
            fc = pred.model.predict(horizon, n_samples=n_samples, df=df, sampler=sampler, steps=steps, seed=args.seed)
            out: dict[str, Any] = {"seconds": time.perf_counter() - t0}
            if score and horizon == H:
                order = np.argsort(np.asarray(fc.item_ids))
                y = np.stack([np.asarray(ts.iloc[-H:], dtype=float).ravel() for ts in tss_all[:n_series]])
                out.update(_scores(y, fc.samples[order]))
            return out

        return _forked(run, args.threads)

    n = min(args.n_series, len(inputs_all))
    # -------------------------------------------------------- samplers (main table)
    T = model.config_.diffusion_steps
    for spec, (name, steps, precision) in zip(args.samplers, specs):
        if name == "ddpm":
            # Ancestral sampling runs every step of the schedule: a row must not name fewer than it ran.
            if steps not in (None, T):
                raise SystemExit(f"ddpm runs all {T} diffusion steps of the model; pass 'ddpm' (got {spec!r})")
            steps = T
        res = time_predict(predictor, n, args.n_samples, H, name, None if name == "ddpm" else steps, True, precision)
        if name == "distilled":
            res["note"] = f"student of {model.student_.teacher}, {model.student_.train_result.steps} training steps"
        if precision == "auto":  # what it resolved to on this machine
            from tsdiff.prediction import precision_dtype

            dtype = precision_dtype("auto", torch.device(device), student=name == "distilled")
            precision = f"auto ({'fp32' if dtype is None else 'bf16'})"
        emit({"part": "samplers", "sampler": name, "steps": steps or model.config_.diffusion_steps,
              "precision": precision, "n_series": n,
              "n_samples": args.n_samples, "horizon": H, "context_length": model.config_.context_length,
              "device": device, "note": train_note, **res})

    # -------------------------------------------------------------- scaling
    if not args.no_scaling:
        k = args.scaling_steps
        m = args.scaling_series or max(1, n // 2)
        base = dict(sampler="ddim", steps=k, device=device, context_length=model.config_.context_length)
        for s in (25, 50, 100):
            res = time_predict(predictor, m, s, H, "ddim", k, False)
            emit({"part": "scaling_n_samples", **base, "n_series": m, "n_samples": s, "horizon": H, **res})
        for ns in sorted({max(1, m // 2), m, min(len(inputs_all), 2 * m)}):
            res = time_predict(predictor, ns, args.n_samples, H, "ddim", k, False)
            emit({"part": "scaling_n_series", **base, "n_series": ns, "n_samples": args.n_samples, "horizon": H, **res})
        small = max(1, m // 2)
        for h in (H, 2 * H, 3 * H):
            res = time_predict(predictor, small, args.n_samples, h, "ddim", k, False)
            emit({"part": "scaling_horizon", **base, "n_series": small, "n_samples": args.n_samples, "horizon": h,
                  **res, "note": f"{h // H} block(s) of {H}"})
        train_df_small, _ = dataset_to_frame(list(ds.train)[:small], freq)
        for c in (156, 312, 624):
            untrained = TSDiff(prediction_length=H, context_length=c, freq=freq, max_steps=1, validation=False, **patch,
                               seed=args.seed, progress=False, device=args.device).fit(train_df_small)
            res = time_predict(TSDiffPredictor(untrained, H, freq), small, args.n_samples, H, "ddim", k, False)
            emit({"part": "scaling_context_length", **base, "context_length": c, "n_series": small,
                  "n_samples": args.n_samples, "horizon": H, **res, "note": "untrained weights (time only)"})

    # -------------------------------------------------------------- DeepAR peer
    if not args.no_deepar:
        def deepar() -> dict[str, Any]:
            import random

            random.seed(args.seed)  # DeepAR uses the global RNGs (script-level seeding)
            torch.manual_seed(args.seed)
            np.random.seed(args.seed)
            # The accuracy tables' DeepAR: tsdiff's context (312) and the static category, an epoch
            # budget with early stopping on the training series' last window.
            train = list(ds.train)
            cats = ds.metadata.feat_static_cat
            cardinality = int(cats[0].cardinality) if cats and train[0].get("feat_static_cat") is not None else None
            budget = gluonts_budget("deepar", "m4_hourly", max_epochs=args.deepar_epochs)
            est, callbacks = gluonts_estimator("deepar", freq, H, 312, cardinality, **budget)
            pred, info = train_gluonts(est, callbacks, train, H, max_epochs=budget["max_epochs"])
            torch.manual_seed(args.seed)
            t0 = time.perf_counter()
            fcs = list(pred.predict(inputs_all[:n], num_samples=args.n_samples))
            out: dict[str, Any] = {"seconds": time.perf_counter() - t0,
                                   "note": f"trained {info['epochs']} epochs x {budget['num_batches_per_epoch']} "
                                           f"batches, stop: {info['stop_reason']}"}
            y = np.stack([np.asarray(ts.iloc[-H:], dtype=float).ravel() for ts in tss_all[:n]])
            out.update(_scores(y, np.stack([f.samples for f in fcs])))
            return out

        res = _forked(deepar, args.threads)
        emit({"part": "samplers", "sampler": "deepar (peer)", "steps": H, "n_series": n, "n_samples": args.n_samples,
              "context_length": 312,
              "horizon": H, "device": device, **res})

    _plot(rows, Path(args.png))
    _plot_speed_accuracy(rows, Path(args.figure))
    logger.info("wrote %s, %s and %s", args.out, args.png, args.figure)


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def _plot(rows: list[dict[str, Any]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [("scaling_n_samples", "n_samples"), ("scaling_n_series", "n_series"),
             ("scaling_horizon", "horizon"), ("scaling_context_length", "context_length")]
    fig, axes = plt.subplots(1, 5, figsize=(20, 3.6))
    def num(v: Any) -> float:
        try:
            return float(v)
        except (TypeError, ValueError):
            return float("nan")

    rows = [{**r, **{k: num(r.get(k)) for k in ("seconds", "crps", "n_samples", "n_series", "horizon",
                                               "context_length")}} for r in rows]
    samp = [r for r in rows if r.get("part") == "samplers" and r.get("status") == "ok"]
    if samp:  # compare samplers on one set of series: the first one timed
        samp = [r for r in samp if r["n_series"] == samp[0]["n_series"]]
    ax = axes[0]
    for r in samp:
        ax.scatter(r["seconds"], r.get("crps", np.nan), s=30)
        patch = f" p{r['patch_size']}" if r.get("patch_size") not in (None, "") else ""
        ax.annotate(f"{r['sampler']} {r['steps']}{patch}", (r["seconds"], r.get("crps", np.nan)), fontsize=8)
    ax.set_xlabel(f"seconds ({samp[0]['n_series']:.0f} series x 100 samples)" if samp else "seconds")
    ax.set_xscale("log")
    ax.set_ylabel("CRPS (exact)")
    ax.set_title("speed vs accuracy")
    for ax, (part, key) in zip(axes[1:], parts):
        pts = sorted((r[key], r["seconds"]) for r in rows if r.get("part") == part and r.get("status") == "ok")
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-")
        ax.set_xlabel(key)
        ax.set_ylabel("seconds")
        ax.set_title(f"DDIM time vs {key}")
        ax.set_ylim(bottom=0)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)
    plt.close(fig)


def _plot_speed_accuracy(rows: list[dict[str, Any]], png: Path) -> None:
    """Seconds (log) against wQL for the sampler rows of the most recent run on the most series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def num(v: Any) -> float:
        try:
            return float(v)
        except (TypeError, ValueError):
            return float("nan")

    samp = [r for r in rows if r.get("part") == "samplers" and r.get("status") == "ok"
            and np.isfinite(num(r.get("mean_wQuantileLoss")))]
    if not samp:
        return
    n = max(num(r["n_series"]) for r in samp)
    sha = [r.get("git_sha") for r in samp if num(r["n_series"]) == n][-1]
    samp = [r for r in samp if num(r["n_series"]) == n and r.get("git_sha") == sha]
    fig, ax = plt.subplots(figsize=(9.0, 4.4))
    markers = "osD^vP*Xhp<>"
    for k, r in enumerate(samp):
        name = str(r["sampler"])
        colour = ("tab:green" if name == "distilled" else "tab:grey" if name.startswith("deepar")
                  else "tab:blue")
        x, y = num(r["seconds"]), num(r["mean_wQuantileLoss"])
        bf16 = (r.get("precision") or "fp32") != "fp32"
        label = "DeepAR" if name.startswith("deepar") else (
            f"student, {r['steps']} call{'s' if str(r['steps']) != '1' else ''}" if name == "distilled"
            else f"{name} {r['steps']}") + (f" {r['precision']}" if bf16 else "")
        cov = f" (cov {num(r.get('coverage_50')):.2f}/{num(r.get('coverage_90')):.2f})" if r.get("coverage_50") else ""
        # Points overlap (bf16 beside fp32): a marker each, named in the legend with its time and coverage.
        ax.scatter(x, y, s=40, color=colour, marker=markers[k % len(markers)],
                   facecolors="none" if bf16 else colour, label=f"{label}: {x:.1f} s{cov}")
    ax.set_yscale("log")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_xscale("log")
    ax.set_xlabel(f"seconds for {n:.0f} series x {samp[0]['n_samples']} samples "
                  f"({samp[0].get('threads', '?')} threads)")
    ax.set_ylabel("wQL (GluonTS mean weighted quantile loss)")
    ax.set_title("m4_hourly: sampling speed vs accuracy (hollow: bf16; cov50/cov90 in the legend)", fontsize=9)
    fig.text(0.01, 0.01, f"benchmarks/sampling_speed.py @ {str(sha)[:10]}", fontsize=6, color="grey")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
