"""Calibration on a process whose predictive law is known.

20 hourly series = level + daily sine + weekly sine + iid N(0, 0.5^2) noise. The ideal forecast of
any window is N(seasonal mean, 0.5^2): ensemble std 0.5, and 100 samples of it cover ~0.485 / ~0.881
of the points with their 50% / 90% intervals (GluonTS's order-statistic quantiles).

tsdiff is fitted with its defaults (a training budget in steps or seconds, given on the command line)
on the history before the last ``--windows`` days, then each of those days is forecast from its own
history (no refit). Reported for the calibrated default and the raw ensemble (``calibrated=False``):
ensemble std / true std, cov50 / cov90, exact ensemble CRPS (properscoring) relative to the oracle
ensemble's, and the wQL (GluonTS mean weighted quantile loss), plus coverage at 10 ... 90% for the
reliability diagram (``--figure``).

``--distill`` also distils the fitted model (``TSDiff.distill_student`` on the same training frame,
``--distill-steps``) and reports the student at each of its step counts, calibrated and raw, as variants
``distilled:K`` / ``distilled:K,raw`` with ``std_ratio_diff`` = its std ratio minus the teacher's (same
calibration state): issue 12 asks for |diff| <= 0.05.

    python benchmarks/calibration.py --max-time 90 --seed 0 --figure docs/figures/calibration_known_law.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import git_sha, hardware, upsert_row  # noqa: E402
from rolling import predict_param  # noqa: E402

from tsdiff import TSDiff  # noqa: E402
from tsdiff.estimator import teacher_sampler_name  # noqa: E402
from tsdiff.metrics import coverage, crps_ensemble, weighted_quantile_loss  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "calibration.csv"
COLUMNS = ["variant", "seed", "n_series", "windows", "n_samples", "fit_steps", "best_step", "std_ratio",
           "cov50", "cov90", "crps_ratio", "wql", "oracle_wql", "coverage_curve", "fit_seconds",
           "predict_seconds", "distill_steps", "distill_seconds", "std_ratio_diff", "command", "git_sha", "hardware",
           "date"]
NOISE = 0.5
H = 24
LEVELS = [round(0.1 * k, 1) for k in range(1, 10)]


def known_law(n_series: int = 20, weeks: int = 12, seed: int = 1234) -> tuple[pd.DataFrame, np.ndarray]:
    """The frame (long format) and the noise-free seasonal mean of every series, shape (n_series, T)."""
    rng = np.random.default_rng(seed)
    T = weeks * 7 * 24
    t = np.arange(T)
    stamps = pd.date_range("2024-01-01", periods=T, freq="h")
    frames, means = [], []
    for i in range(n_series):
        level = rng.uniform(5, 15)
        mean = (level + rng.uniform(1, 3) * np.sin(2 * np.pi * t / 24 + rng.uniform(0, 2 * np.pi))
                + rng.uniform(0.5, 2) * np.sin(2 * np.pi * t / 168 + rng.uniform(0, 2 * np.pi)))
        y = mean + NOISE * rng.normal(size=T)
        frames.append(pd.DataFrame({"item_id": f"s{i:02d}", "timestamp": stamps, "target": y}))
        means.append(mean)
    return pd.concat(frames, ignore_index=True), np.stack(means)


def score(samples: np.ndarray, y: np.ndarray, oracle: np.ndarray) -> dict[str, float]:
    return {"std_ratio": float(samples.std(axis=1, ddof=1).mean() / NOISE),
            "cov50": coverage(y, samples, 0.5), "cov90": coverage(y, samples, 0.9),
            "crps_ratio": float(crps_ensemble(y, samples).mean() / crps_ensemble(y, oracle).mean()),
            "wql": weighted_quantile_loss(y, samples), "oracle_wql": weighted_quantile_loss(y, oracle),
            "coverage_curve": json.dumps([round(coverage(y, samples, q), 4) for q in LEVELS])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-time", type=float, default=None, help="training cap in seconds")
    p.add_argument("--max-steps", type=int, default=None, help="training budget in steps (default: TSDiff's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--windows", type=int, default=5, help="rolling 24-hour windows per series")
    p.add_argument("--n-samples", type=int, default=100)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--figure", type=Path, help="write the reliability diagram here")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--tsdiff-param", action="append", default=[], type=predict_param, metavar="KEY=VALUE",
                   help="override a TSDiff constructor argument (repeatable), e.g. learning_rate=2e-3")
    p.add_argument("--distill", action="store_true", help="also distil the model and report its student")
    p.add_argument("--distill-steps", type=int, default=None, help="student training steps (default: the library's)")
    args = p.parse_args(argv)

    df, means = known_law()
    T = means.shape[1]
    cut = T - args.windows * H
    train = df[df["timestamp"] < df["timestamp"].iloc[cut]]
    kw = {} if args.max_steps is None else {"max_steps": args.max_steps}
    model = TSDiff(prediction_length=H, max_time=args.max_time, seed=args.seed, num_threads=args.threads,
                   progress=False, **kw, **dict(args.tsdiff_param))
    t0 = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - t0
    teacher = teacher_sampler_name(model.sampler)  # not the student that "auto" picks after distillation
    runs: list[tuple[str, dict]] = [("calibrated", {"calibrated": True, "sampler": teacher}),
                                    ("raw", {"calibrated": False, "sampler": teacher})]
    distill_seconds = None
    if args.distill:
        t0 = time.perf_counter()
        model.distill_student(train, max_steps=args.distill_steps)
        distill_seconds = time.perf_counter() - t0
        for k in model.student_.steps:
            runs += [(f"distilled:{k}", {"sampler": "distilled", "steps": k, "calibrated": True}),
                     (f"distilled:{k},raw", {"sampler": "distilled", "steps": k, "calibrated": False})]

    rng = np.random.default_rng(args.seed + 99)
    variants: dict[str, list[np.ndarray]] = {name: [] for name, _ in runs}
    seconds = {name: 0.0 for name, _ in runs}
    ys, oracles = [], []
    for w in range(args.windows):
        end = cut + w * H
        hist = df[df["timestamp"] < df["timestamp"].iloc[end]]
        for name, kwargs in runs:
            t0 = time.perf_counter()
            fc = model.predict(n_samples=args.n_samples, df=hist, seed=args.seed + w, **kwargs)
            seconds[name] += time.perf_counter() - t0
            variants[name].append(fc.samples)
        y = df["target"].to_numpy().reshape(len(means), T)[:, end:end + H]
        ys.append(y)
        mu = means[:, end:end + H]
        oracles.append(mu[:, None, :] + NOISE * rng.normal(size=(len(means), args.n_samples, H)))
    y_all, oracle_all = np.concatenate(ys), np.concatenate(oracles)
    command = "python benchmarks/calibration.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results = {}
    for name, parts in variants.items():
        s = score(np.concatenate(parts), y_all, oracle_all)
        results[name] = s
        student = {}
        if name.startswith("distilled"):
            teacher = results["raw" if name.endswith(",raw") else "calibrated"]
            student = {"distill_steps": model.student_.train_result.steps, "distill_seconds": round(distill_seconds, 1),
                       "std_ratio_diff": s["std_ratio"] - teacher["std_ratio"]}
        row = {"variant": name, "seed": args.seed, "n_series": len(means), "windows": args.windows,
               "n_samples": args.n_samples, "fit_steps": model.train_result_.steps,
               "best_step": model.train_result_.best_step, **s, "fit_seconds": round(fit_seconds, 1),
               "predict_seconds": round(seconds[name], 1), **student, "command": command, "git_sha": git_sha(),
               "hardware": json.dumps(hardware()), "date": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")}
        upsert_row(args.out, row, key=("variant", "seed"), columns=COLUMNS,
                   fmt=lambda v: f"{v:.4f}" if isinstance(v, float) else str(v))
        print(f"{name:10s} std ratio {s['std_ratio']:.3f}  cov50 {s['cov50']:.3f}  cov90 {s['cov90']:.3f}  "
              f"CRPS/oracle {s['crps_ratio']:.3f}  wQL {s['wql']:.4f} (oracle {s['oracle_wql']:.4f})")
    print(f"fit {fit_seconds:.0f} s, {model.train_result_.steps} steps (best {model.train_result_.best_step})")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.2, 4.2))
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="ideal")
        oracle_curve = [coverage(y_all, oracle_all, q) for q in LEVELS]
        ax.plot(LEVELS, oracle_curve, "k:", marker=".", label="true law, 100 samples")
        for name, style in (("calibrated", "-o"), ("raw", "-s")):
            ax.plot(LEVELS, json.loads(results[name]["coverage_curve"]), style, ms=4, label=f"tsdiff {name}")
        ax.set_xlabel("nominal central interval level")
        ax.set_ylabel("observed coverage")
        ax.set_title("Known-law process: reliability", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=110)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
