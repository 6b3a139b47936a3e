"""Render the figures of the documentation from one real training run.

    python docs/make_figures.py                      # 120 s of training, seed 0, into docs/figures/
    python docs/make_figures.py --max-time 600 --threads 4

Trains :class:`tsdiff.TSDiff` on the training split of the shipped GluonTS
dataset ``ett_small_1h`` (14 hourly series, see ``data/README.md``), forecasts
the 24-hour test window of every series with 100 sample paths, and writes into
``--out``:

- ``fan_chart.png``: fan charts of six series (history, median, 50/80/95%
  intervals, actual values);
- ``calibration.png``: PIT histogram and interval coverage over the test
  window of all 14 series;
- ``reverse_diffusion.png``: the reverse diffusion of one series, from pure
  noise to the forecast;
- ``figures.json``: the command, seed, git SHA, hardware, wall times and the
  metrics of tsdiff and of seasonal naive (season 24) on that test window.

The numbers quoted in ``docs/how_it_works.md`` come from ``figures.json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

#: Series drawn in the fan chart: loads and oil temperature of both transformers.
FAN_CHART_ITEMS = ("HUFL_0", "MULL_0", "OT_0", "HUFL_1", "LULL_1", "OT_1")
#: Series whose reverse diffusion is drawn.
REVERSE_ITEM = "OT_0"
#: Seasonal period of the seasonal-naive baseline (hourly data: one day).
SEASON = 24


def metrics_table(result: dict) -> str:
    """The Markdown table of ``result["metrics"]`` quoted in ``docs/how_it_works.md``."""
    rows = [("tsdiff", "tsdiff (this run)"), ("seasonal_naive", "seasonal naive (season 24)")]
    lines = [f"Run: `{result['command']}`: {result['max_time_s']:g} s training budget, {result['train_steps']} "
             f"steps (selected checkpoint: step {result['best_step']}), {result['n_samples']} sample paths, "
             f"{result['sampler']}, seed {result['seed']}, {result['wall_seconds']:g} s wall time in all.",
             "",
             "| model | wQL (GluonTS mean_wQuantileLoss) | CRPS (exact) | MASE | ND | coverage 50% | coverage 90% |",
             "|---|---|---|---|---|---|---|"]
    for key, label in rows:
        m = result["metrics"][key]
        lines.append(f"| {label} | {m['mean_wQuantileLoss']:.4f} | {m['crps_exact_normalized']:.4f} | "
                     f"{m['mase']:.3f} | {m['nd']:.4f} | {m['coverage_50']:.2f} | {m['coverage_90']:.2f} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--max-time", type=float, default=120.0, help="training budget in seconds")
    p.add_argument("--seed", type=int, default=0, help="seed of the model, the training windows and the sampler")
    p.add_argument("--out", default="docs/figures", help="output folder")
    p.add_argument("--n-samples", type=int, default=100, help="sample paths per series")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's choice); 1 is fastest on a busy machine")
    p.add_argument("--dpi", type=int, default=110, help="resolution of the PNG files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    t_start = time.perf_counter()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import torch

    from tsdiff import TSDiff
    from tsdiff.datasets import dataset_to_frame, load_dataset
    from tsdiff.demo import score_test_window
    from tsdiff.plotting import plot_calibration, plot_forecasts_grid, plot_reverse_diffusion
    from tsdiff.provenance import git_sha, hardware

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    ds = load_dataset("ett_small_1h")
    freq = ds.metadata.freq
    H = int(ds.metadata.prediction_length)
    train_df, _ = dataset_to_frame(ds.train, freq)

    model = TSDiff(prediction_length=H, freq=freq, max_time=args.max_time, max_steps=1_000_000,
                   seed=args.seed, progress=not args.quiet)
    t0 = time.perf_counter()
    model.fit(train_df)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fc = model.predict(n_samples=args.n_samples)
    predict_s = time.perf_counter() - t0

    # The test split holds each training series plus its next H hours: the last H are the actuals.
    y, _, scores = score_test_window(fc, list(ds.test), H, season=SEASON)
    actuals = pd.concat([pd.DataFrame({"item_id": item, "timestamp": fc.timestamps[k], "target": y[k]})
                         for k, item in enumerate(fc.item_ids)], ignore_index=True)

    # 1. fan charts
    fig = plot_forecasts_grid(fc, item_ids=list(FAN_CHART_ITEMS), ncols=3, history=train_df, actuals=actuals,
                              history_tail=4 * H)
    fig.suptitle(f"tsdiff on ett_small_1h, 24 h ahead from {args.n_samples} sample paths: "
                 "median and 50/80/95% intervals", y=1.02)
    fig.savefig(out / "fan_chart.png", dpi=args.dpi, bbox_inches="tight")
    plt.close(fig)

    # 2. calibration over the test window of all series
    fig = plot_calibration(y, fc.samples)
    fig.suptitle(f"Calibration on the ett_small_1h test window ({len(fc.item_ids)} series x {H} h)", y=1.03)
    fig.savefig(out / "calibration.png", dpi=args.dpi, bbox_inches="tight")
    plt.close(fig)

    # 3. reverse diffusion of one series (DDIM, the default sampler)
    trajectory, steps, timestamps = model.reverse_trajectory(REVERSE_ITEM, n_samples=5, n_frames=6)
    rows = train_df[train_df["item_id"] == REVERSE_ITEM]
    history = pd.Series(rows["target"].to_numpy(), index=pd.DatetimeIndex(rows["timestamp"])).iloc[-2 * H:]
    # reverse_trajectory labels frames with 0-indexed steps (-1 = the final sample); the panels use
    # the paper's 1-indexed t, for which x_T is t = T and the forecast is x_0.
    paper_steps = [t + 1 for t in steps]
    fig = plot_reverse_diffusion(trajectory, paper_steps, timestamps=timestamps, history=history, n_paths=5,
                                 ncols=3)
    fig.suptitle(f"Reverse diffusion of {REVERSE_ITEM} (DDIM, {model.sampler_steps} steps): "
                 "from noise x_T (left) to the forecast x_0 (right)", y=1.02)
    fig.savefig(out / "reverse_diffusion.png", dpi=args.dpi, bbox_inches="tight")
    plt.close(fig)

    argv_shown = sys.argv[1:] if argv is None else list(argv)
    result = {
        "command": "python docs/make_figures.py" + ("" if not argv_shown else " " + shlex.join(argv_shown)),
        "seed": args.seed,
        "git_sha": git_sha(),
        "hardware": hardware(),
        "dataset": "ett_small_1h",
        "n_series": len(fc.item_ids),
        "prediction_length": H,
        "context_length": model.config_.context_length,
        "n_samples": args.n_samples,
        "sampler": fc.info.get("sampler"),
        "max_time_s": args.max_time,
        "train_seconds": round(train_s, 1),
        "train_steps": model.train_result_.steps,
        "best_step": model.train_result_.best_step,
        "predict_seconds": round(predict_s, 2),
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "metrics": {name: {k: round(float(v), 4) for k, v in row.items()} for name, row in scores.items()},
        "metric_definitions": {
            "crps_exact_normalized": "tsdiff.metrics.normalized_crps: exact ensemble CRPS summed over points / sum|y|",
            "mean_wQuantileLoss": "tsdiff.metrics.weighted_quantile_loss: GluonTS mean_wQuantileLoss, 0.1..0.9",
            "mase": f"tsdiff.metrics.mase of the median, season {SEASON}",
            "nd": "tsdiff.metrics.nd of the median",
            "coverage_50": "share of actuals inside the central 50% sample interval",
            "coverage_90": "share of actuals inside the central 90% sample interval",
        },
        "figures": {"fan_chart": "fan_chart.png", "calibration": "calibration.png",
                    "reverse_diffusion": "reverse_diffusion.png"},
        "fan_chart_items": list(FAN_CHART_ITEMS),
        "reverse_item": REVERSE_ITEM,
    }
    (out / "figures.json").write_text(json.dumps(result, indent=2) + "\n")
    print(metrics_table(result))
    print(f"trained {result['train_steps']} steps in {train_s:.0f} s; wrote {out}/ in {result['wall_seconds']:.0f} s")
    return result


if __name__ == "__main__":
    main()
