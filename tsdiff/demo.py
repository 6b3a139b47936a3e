"""The main job: train on real energy data, forecast a day ahead, score it, draw it.

``tsdiff demo`` (and ``make demo``) runs :func:`run_demo`: it trains tsdiff on
the GluonTS ``ett_small_1h`` training split shipped in ``data/`` (14 hourly
series of two electricity transformers), forecasts the 24-hour test window
with 100 sample paths, scores it against seasonal naive (season 24) with both
"CRPS" definitions, and writes a fan chart.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .provenance import git_sha, hardware

logger = logging.getLogger(__name__)


def run_demo(out_dir: str | os.PathLike = "demo_output", *, max_time: Optional[float] = None, max_steps: int = 2000,
             n_samples: int = 100, seed: int = 0, progress: bool = True, num_threads: Optional[int] = None,
             echo: Optional[Callable[[str], None]] = None, **model_kwargs: Any) -> dict[str, Any]:
    """Train on ``ett_small_1h``, forecast its test window, compare with seasonal naive.

    Parameters
    ----------
    out_dir : path
        Where ``fan_chart.png`` and ``demo_results.json`` are written.
    max_steps : int
        Training budget in steps (about 2.5 minutes on 2 CPU cores at the default).
    max_time : float, optional
        A wall-clock cap in seconds (a stop; the learning-rate schedule follows the steps).
    num_threads : int, optional
        CPU threads for torch during fit and predict (default: torch's setting).
    echo : callable, optional
        Receives the human-readable report line by line (the CLI passes ``print``).
    **model_kwargs
        Other :class:`~tsdiff.TSDiff` parameters.

    Returns
    -------
    dict with the metrics of both models, wall times and provenance.
    """
    from .datasets import dataset_to_frame, load_dataset
    from .estimator import TSDiff
    from .plotting import plot_forecasts_grid

    say = echo or logger.info
    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset("ett_small_1h")
    freq = ds.metadata.freq
    H = int(ds.metadata.prediction_length)
    train_df, _ = dataset_to_frame(ds.train, freq)
    test_entries = list(ds.test)
    say(f"ett_small_1h: {train_df['item_id'].nunique()} hourly series, {len(train_df)} training points; "
        f"forecasting the last {H} hours of each series with {n_samples} samples")

    model = TSDiff(prediction_length=H, freq=freq, max_time=max_time, max_steps=max_steps, seed=seed,
                   progress=progress, num_threads=num_threads, **model_kwargs)
    t0 = time.perf_counter()
    model.fit(train_df)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fc = model.predict(n_samples=n_samples)
    predict_s = time.perf_counter() - t0

    y, _, rows = score_test_window(fc, test_entries, H)
    say("")
    say(f"{'model':<16}{'CRPS (exact, properscoring)':>30}{'wQL 0.1..0.9 (GluonTS)':>26}{'MASE':>8}")
    for name, r in rows.items():
        say(f"{name:<16}{r['crps_exact_normalized']:>30.4f}{r['mean_wQuantileLoss']:>26.4f}{r['mase']:>8.3f}")
    say("CRPS (exact) = sum of properscoring's ensemble CRPS / sum |y|; wQL = GluonTS Evaluator "
        "mean_wQuantileLoss (the number papers call 'CRPS'). Seasonal naive is a point forecast, "
        "so both equal its normalized absolute error.")

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ids = list(fc.item_ids)[:6]
    fig = plot_forecasts_grid(fc, item_ids=ids, ncols=3, history=train_df,
                              actuals=_actuals_frame(fc, y), history_tail=96)
    fig.suptitle(f"tsdiff on ett_small_1h: 24 h ahead, {n_samples} samples (median, 50/80/95% intervals)", y=1.03)
    chart = out / "fan_chart.png"
    fig.savefig(chart, dpi=110, bbox_inches="tight")
    plt.close(fig)

    result = {
        "dataset": "ett_small_1h", "prediction_length": H, "n_samples": n_samples, "seed": seed,
        "max_time": max_time, "num_threads": num_threads, "sampler": fc.info.get("sampler"),
        "train_seconds": train_s, "predict_seconds": predict_s, "train_steps": model.train_result_.steps,
        "best_step": model.train_result_.best_step, "metrics": rows,
        "wall_seconds": time.perf_counter() - t_start, "git_sha": git_sha(), "hardware": hardware(),
        "fan_chart": str(chart),
    }
    (out / "demo_results.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    say(f"trained {model.train_result_.steps} steps in {train_s:.0f} s, sampled in {predict_s:.1f} s; "
        f"total wall time {result['wall_seconds']:.0f} s")
    say(f"fan chart: {chart}; results: {out / 'demo_results.json'}")
    return result


def score_test_window(fc: Any, test_entries: list, H: int, season: int = 24
                      ) -> tuple[np.ndarray, list[np.ndarray], dict[str, dict[str, float]]]:
    """Score a forecast of a GluonTS test split's last window, next to seasonal naive.

    ``test_entries`` hold each series up to the end of the window (the last ``H``
    values are the actuals). Returns the actuals ``y`` (n_series, H), the
    in-sample histories, and per model ("tsdiff", "seasonal_naive") the exact
    normalized CRPS, GluonTS ``mean_wQuantileLoss``, MASE and ND of the median,
    and the 50% / 90% interval coverage.
    """
    from . import metrics

    by_id = {str(e["item_id"]) if "item_id" in e else str(i): np.asarray(e["target"], dtype=float)
             for i, e in enumerate(test_entries)}
    y = np.stack([by_id[str(i)][-H:] for i in fc.item_ids])
    insample = [by_id[str(i)][:-H] for i in fc.item_ids]
    naive = np.stack([h[-season:][:H] for h in insample])[:, None, :]  # a one-member "ensemble"
    rows = {}
    for name, samples in (("tsdiff", fc.samples), ("seasonal_naive", naive)):
        median = metrics.sample_quantile(samples, 0.5)
        rows[name] = {
            "crps_exact_normalized": metrics.normalized_crps(y, samples),
            "mean_wQuantileLoss": metrics.weighted_quantile_loss(y, samples),
            "mase": metrics.mase(y, median, insample, season),
            "nd": metrics.nd(y, median),
            "coverage_50": metrics.coverage(y, samples, 0.5),
            "coverage_90": metrics.coverage(y, samples, 0.9),
        }
    return y, insample, rows


def _actuals_frame(fc: Any, y: np.ndarray) -> Any:
    import pandas as pd

    parts = [pd.DataFrame({"item_id": i, "timestamp": fc.timestamps[k], "target": y[k]})
             for k, i in enumerate(fc.item_ids)]
    return pd.concat(parts, ignore_index=True)
