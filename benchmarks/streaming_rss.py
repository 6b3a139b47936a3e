"""Peak RSS of ``tsdiff predict --out`` (streaming) on 1k, 10k and 100k synthetic series.

For each size N: build N synthetic hourly series, train a very small model on them for a few
steps (the model keeps each series' last ``context_length`` points, so ``tsdiff predict`` without
``--history`` forecasts all N), save it, then run ``python -m tsdiff predict MODEL --horizon 48
--n-samples 100 --sampler ddim --steps S --threads 1 --out forecast.parquet`` in a child process and
record that process's peak resident set size (``ru_maxrss`` of the finished child). One row per N
goes to ``benchmarks/results/streaming_rss.csv`` with the command, seed, git SHA, hardware and wall
times beside every figure; the acceptance target is a ratio below 2 between the 100k and 1k rows.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/streaming_rss.py                       # 1k, 10k, 100k
    OMP_NUM_THREADS=1 python benchmarks/streaming_rss.py --sizes 1000 --steps 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import upsert_row  # noqa: E402

COLUMNS = ["n_series", "horizon", "n_samples", "sampler_steps", "peak_rss_mb", "rss_ratio_vs_smallest",
           "predict_wall_s", "fit_wall_s", "out_rows", "out_mb", "seed", "git_sha", "hardware", "threads",
           "command", "finished_at"]

# ru_maxrss of the finished child, in KiB on Linux.
_MEASURE = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
            "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def synthetic_wide(n_series: int, length: int, seed: int):
    """``length`` hourly steps of ``n_series`` daily-seasonal series with noise, wide layout (float32)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float32)[:, None]
    level = rng.uniform(5, 50, size=(1, n_series)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=(1, n_series)).astype(np.float32)
    values = level + 3 * np.sin(2 * np.pi * t / 24 + phase) + rng.normal(0, 0.5, (length, n_series)).astype(np.float32)
    index = pd.date_range("2024-01-01", periods=length, freq="h")
    return pd.DataFrame(values, index=index, columns=[f"s{i}" for i in range(n_series)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000", help="numbers of series (default: %(default)s)")
    p.add_argument("--horizon", type=int, default=48)
    p.add_argument("--n-samples", type=int, default=100)
    p.add_argument("--steps", type=int, default=2, help="DDIM steps (default: %(default)s)")
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "streaming_rss.csv"))
    args = p.parse_args(argv)

    import torch
    from _common import git_sha, hardware

    from tsdiff import TSDiff

    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 python benchmarks/streaming_rss.py " + " ".join(argv if argv is not None
                                                                              else sys.argv[1:])
    sha, hw = git_sha(), hardware()
    smallest_rss = None
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            df = synthetic_wide(n, length=2 * args.horizon + 4, seed=args.seed)
            model = TSDiff(prediction_length=args.horizon, context_length=args.horizon, lags=[], patch_size=4,
                           hidden_channels=4, channel_mults=(1,), embedding_dim=8, encoder_channels=4,
                           batch_size=32, max_steps=args.train_steps, val_every=args.train_steps,
                           num_val_windows=8, num_threads=1, seed=args.seed, progress=False, device="cpu")
            model.fit(df)
            model.save(Path(tmp) / "model")
            del model, df
            fit_wall = time.perf_counter() - t0
            out = Path(tmp) / "forecast.parquet"
            cmd = [sys.executable, "-m", "tsdiff", "--quiet", "predict", str(Path(tmp) / "model"),
                   "--horizon", str(args.horizon), "--n-samples", str(args.n_samples), "--sampler", "ddim",
                   "--steps", str(args.steps), "--seed", str(args.seed), "--threads", "1", "--device", "cpu",
                   "--out", str(out)]
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            rc, maxrss_kib = (int(v) for v in res.stdout.split()[-2:])
            if rc != 0:
                print(res.stderr, file=sys.stderr)
                return rc
            import pyarrow.parquet as pq

            out_rows = pq.ParquetFile(out).metadata.num_rows
            out_mb = out.stat().st_size / 2**20
        rss = maxrss_kib / 1024
        smallest_rss = rss if smallest_rss is None else smallest_rss
        row = {"n_series": n, "horizon": args.horizon, "n_samples": args.n_samples, "sampler_steps": args.steps,
               "peak_rss_mb": rss, "rss_ratio_vs_smallest": rss / smallest_rss, "predict_wall_s": wall,
               "fit_wall_s": fit_wall, "out_rows": out_rows, "out_mb": out_mb, "seed": args.seed, "git_sha": sha,
               "hardware": hw, "threads": 1, "command": command + "  # child: " + " ".join(cmd[1:3] + cmd[4:5]),
               "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        upsert_row(Path(args.out), row, key=("n_series", "horizon", "n_samples", "sampler_steps"), columns=COLUMNS,
                   fmt=lambda v: f"{v:.3f}" if isinstance(v, float) else str(v))
        print(f"{n:>7} series: peak RSS {rss:7.1f} MiB (x{rss / smallest_rss:.2f}), predict {wall:6.1f} s, "
              f"fit {fit_wall:6.1f} s, {out_rows} rows", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
