"""Sampling speed of tsdiff on m4_hourly: DDPM (100 steps) vs DDIM (10 / 20 / 50 steps).

Usage (the full protocol: 100 samples for each of the 414 m4_hourly series, horizon 48)::

    python benchmarks/sampling_speed.py --budget-seconds 120 --threads 2 \
        --out benchmarks/results/sampling_speed.csv --png docs/sampling_speed.png

``--patch-size 4`` measures the patched U-Net (rows carry their ``patch_size``; ``--append``
keeps the rows of other patch sizes). ``--n-series 24`` times the first 24 series only (the
414-series time is then extrapolated and labelled so).

What it measures
----------------
1. Trains tsdiff on ``m4_hourly``'s training split for ``--budget-seconds`` (or loads
   ``--model-dir`` when it holds a saved model), context length 312 (the TSDiff protocol).
2. For each sampler: wall seconds to draw ``--n-samples`` paths of 48 steps for every
   series of the test split's last window, peak RSS of the worker process, and the wQL
   (GluonTS ``mean_wQuantileLoss``) and exact CRPS of those samples.
3. Scaling of DDIM-``--scaling-steps`` time with ``n_samples``, ``horizon`` (48 = one block,
   96 / 144 = two / three autoregressive blocks), ``n_series`` and ``context_length``
   (untrained models of each context length: weights do not change the time).
4. DeepAR's sampling time for the same series (GluonTS torch DeepAREstimator, trained for
   the same budget), as the peer ratio; recorded as unavailable when ``lightning`` is missing.

Each timing runs in a forked process so that its peak memory (``ru_maxrss``) is its own.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
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
COLUMNS = ["part", "patch_size", "sampler", "steps", "n_series", "n_samples", "horizon", "context_length", "seconds",
           "seconds_per_series", "extrapolated_414_seconds", "peak_rss_mb", "peak_rss_delta_mb", "mean_wQuantileLoss", "crps",
           "status", "note", "threads", "device", "git_sha", "torch", "command", "finished_at"]


_KEY = ("part", "patch_size", "sampler", "steps", "n_series", "n_samples", "horizon", "context_length")


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


def _scores(y: np.ndarray, samples: np.ndarray) -> dict[str, float]:
    from tsdiff import metrics

    return {"mean_wQuantileLoss": metrics.weighted_quantile_loss(y, samples),
            "crps": metrics.normalized_crps(y, samples)}


def main(argv: Optional[list[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget-seconds", type=float, default=120.0, help="training budget (tsdiff and DeepAR)")
    p.add_argument("--model-dir", default=None, help="load/save the trained tsdiff model here")
    p.add_argument("--n-series", type=int, default=414, help="time the first N test series (414 = all)")
    p.add_argument("--n-samples", type=int, default=100)
    p.add_argument("--samplers", nargs="*", default=["ddpm:100", "ddim:10", "ddim:20", "ddim:50"],
                   help="tsdiff samplers to time, as name:steps (none: skip)")
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
    p.add_argument("--png", default=str(ROOT / "docs" / "sampling_speed.png"))
    p.add_argument("--plot-only", action="store_true", help="redraw --png from the rows in --out and exit")
    args = p.parse_args(argv)
    if args.plot_only:
        with Path(args.out).open(newline="") as fh:
            _plot(list(csv.DictReader(fh)), Path(args.png))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("tsdiff").setLevel(logging.WARNING)

    import torch
    from _common import git_sha
    from _peers import deepar_estimator, last_window_inputs

    from tsdiff.datasets import dataset_to_frame, load_dataset
    from tsdiff.estimator import TSDiff
    from tsdiff.integrations.gluonts import TSDiffPredictor

    torch.set_num_threads(1)  # see _forked: the children run with args.threads
    ds = load_dataset("m4_hourly")
    freq, H = ds.metadata.freq, int(ds.metadata.prediction_length)
    test = list(ds.test)
    inputs_all, tss_all = last_window_inputs(test, H)
    common = {"threads": args.threads, "git_sha": git_sha(), "torch": torch.__version__,
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
    if (model_dir / "model.pt").exists():
        model = TSDiff.load(model_dir, device=args.device)
        train_note = f"loaded from --model-dir ({model.train_result_.steps} steps)"
    else:
        def train() -> dict[str, Any]:
            train_df, _ = dataset_to_frame(ds.train, freq)
            fitted = TSDiff(prediction_length=H, context_length=312, freq=freq, max_time=args.budget_seconds,
                            max_steps=10**9, seed=args.seed, progress=False, device=args.device, **patch)
            t0 = time.perf_counter()
            fitted.fit(train_df)
            seconds = time.perf_counter() - t0
            fitted.save(model_dir)
            return {"steps": fitted.train_result_.steps, "seconds": seconds}

        res = _forked(train, args.threads)
        if res.get("status") != "ok":
            raise RuntimeError(f"training failed: {res}")
        model = TSDiff.load(model_dir, device=args.device)
        train_note = f"trained {res['steps']} steps in {res['seconds']:.0f} s"
    train_note += (f"; patch_size={model.config_.patch_size}, tail_length={model.config_.tail_length}, "
                   f"chunk_size=default")
    logger.info("tsdiff: %s", train_note)
    device = str(model.device_)
    predictor = TSDiffPredictor(model, H, freq)

    def time_predict(pred: TSDiffPredictor, n_series: int, n_samples: int, horizon: int,
                     sampler: str, steps: Optional[int], score: bool) -> dict[str, Any]:
        entries = [dict(e) for e in inputs_all[:n_series]]
        df, future_df, static_df = pred._frames([{**e, "item_id": i} for i, e in enumerate(entries)])

        def run() -> dict[str, Any]:
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
    for spec in args.samplers:
        name, _, steps_s = spec.partition(":")
        steps = int(steps_s) if steps_s else None
        res = time_predict(predictor, n, args.n_samples, H, name, None if name == "ddpm" else steps, True)
        emit({"part": "samplers", "sampler": name, "steps": steps or model.config_.diffusion_steps, "n_series": n,
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
            torch.manual_seed(args.seed)  # DeepAR uses the global RNGs (script-level seeding)
            np.random.seed(args.seed)
            est = deepar_estimator(freq, H, None, max_time_seconds=args.budget_seconds)
            pred = est.train(list(ds.train), cache_data=True)
            torch.manual_seed(args.seed)
            t0 = time.perf_counter()
            fcs = list(pred.predict(inputs_all[:n], num_samples=args.n_samples))
            out: dict[str, Any] = {"seconds": time.perf_counter() - t0}
            y = np.stack([np.asarray(ts.iloc[-H:], dtype=float).ravel() for ts in tss_all[:n]])
            out.update(_scores(y, np.stack([f.samples for f in fcs])))
            return out

        res = _forked(deepar, args.threads)
        emit({"part": "samplers", "sampler": "deepar (peer)", "steps": H, "n_series": n, "n_samples": args.n_samples,
              "horizon": H, "device": device, **res})

    _plot(rows, Path(args.png))
    logger.info("wrote %s and %s", args.out, args.png)


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


if __name__ == "__main__":
    main()
