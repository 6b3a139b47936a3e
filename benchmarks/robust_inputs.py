"""Ablation of the robust inputs (issue 16 item 2): version-1 inputs vs the new defaults.

Trains tsdiff twice on one dataset with the same seed and the same number of
steps (no time budget, so both see identical step counts), once with the
inputs of format version 1 (``scale_floor=0, min_context_observed=0,
level_input=False, horizon_mask=False, nonnegative=False``) and once with the
defaults, and scores both under the benchmark protocol of
``run_benchmarks.py`` (last test window, 100 sample paths). Each row records
the command, seed, git SHA, hardware and wall time::

    python benchmarks/robust_inputs.py --dataset ett_small_1h --max-steps 400 --seeds 0 \
        --out benchmarks/results/robust_inputs.csv
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_sha, hardware, upsert_row  # noqa: E402
from run_benchmarks import DATASETS, _load, score  # noqa: E402

LEGACY = dict(scale_floor=0.0, min_context_observed=0, level_input=False, horizon_mask=False, nonnegative=False)
COLUMNS = ["dataset", "inputs", "seed", "max_steps", "mean_wQuantileLoss", "crps", "mase", "nd", "coverage_50",
           "coverage_90", "best_step", "train_seconds", "wall_seconds", "command", "git_sha", "hardware", "threads"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="ett_small_1h")
    p.add_argument("--max-steps", type=int, default=400)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "robust_inputs.csv"))
    args = p.parse_args()
    import torch
    from _peers import last_window_inputs

    from tsdiff.integrations.gluonts import TSDiffEstimator

    torch.set_num_threads(args.threads)
    ds = _load(args.dataset)
    H = int(ds.metadata.prediction_length)
    inputs, tss = last_window_inputs(list(ds.test), H)
    train = list(ds.train)
    sha, hw = git_sha(), json.dumps(hardware())
    for seed in args.seeds:
        for label, kw in (("version1", LEGACY), ("robust", {})):
            t0 = time.perf_counter()
            est = TSDiffEstimator(freq=ds.metadata.freq, prediction_length=H,
                                  context_length=DATASETS[args.dataset]["context_length"], max_steps=args.max_steps,
                                  seed=seed, progress=False, num_threads=args.threads, **kw)
            predictor = est.train(train)
            train_s = time.perf_counter() - t0
            forecasts = list(predictor.predict(inputs, num_samples=100, seed=seed))
            row = {"dataset": args.dataset, "inputs": label, "seed": seed, "max_steps": args.max_steps,
                   **{k: round(v, 4) for k, v in score(tss, forecasts, H).items() if k in COLUMNS},
                   "best_step": predictor.model.train_result_.best_step, "train_seconds": round(train_s, 1),
                   "wall_seconds": round(time.perf_counter() - t0, 1),
                   "command": shlex.join(["python", "benchmarks/robust_inputs.py", *sys.argv[1:]]),
                   "git_sha": sha, "hardware": hw,
                   "threads": args.threads}
            print(row, flush=True)
            upsert_row(Path(args.out), row, key=("dataset", "inputs", "seed", "max_steps"), columns=COLUMNS,
                       fmt=str)


if __name__ == "__main__":
    main()
