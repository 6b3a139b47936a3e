"""The oracle table: does a sampler keep the spread of the data when the denoiser is exact?

Data x0 ~ N(0, s^2) and the exact noise prediction E[eps | x_t] (a linear function of x_t), pushed
through tsdiff's own samplers on a schedule. A perfect sampler returns std s; the table reports
output std / s for s in {0.05, 0.1, 0.2, 0.3, 0.4, 1.0} (scaled forecast spreads are often 0.05-0.6).
Writes ``benchmarks/results/sampler_oracle.csv``; the table in ``docs/how_it_works.md`` is this file.

    python benchmarks/sampler_oracle.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import git_sha, hardware, upsert_row  # noqa: E402

from tsdiff.diffusion import DiffusionSchedule, make_betas, make_sampler, sample_loop  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "sampler_oracle.csv"
SCALES = (0.05, 0.1, 0.2, 0.3, 0.4, 1.0)
N = 40_000
SCHEDULES = {"linear 1e-4..0.1, T=100 (tsdiff <= 0.2)": ("linear", 100, 1e-4, 0.1),
             "linear 1e-4..0.02, T=1000 (default)": ("linear", 1000, 1e-4, 0.02),
             "cosine, T=200": ("cosine", 200, 1e-4, 0.02)}
CANDIDATES = [("ddim", {"steps": 20}), ("ddim", {"steps": 20, "spacing": "quadratic"}),
              ("ddim", {"steps": 20, "spacing": "trailing"}), ("ddim", {"steps": 50, "spacing": "logsnr"}),
              ("ddim", {"steps": 20, "eta": 1.0, "spacing": "quadratic"}),
              ("ddpm", {"variance": "posterior"}), ("ddpm", {"variance": "beta"}),
              ("dpmsolver", {"steps": 10}), ("dpmsolver", {"steps": 20}),
              ("dpmsolver", {"steps": 20, "spacing": "quadratic"})]
COLUMNS = ["schedule", "sampler", "network_calls"] + [f"s={s}" for s in SCALES] + [
    "max_abs_error", "command", "git_sha", "hardware", "seconds"]


def exact_eps(schedule: DiffusionSchedule, s: float):
    """E[eps | x_t] for x0 ~ N(0, s^2): sqrt(1 - abar) x_t / (abar s^2 + 1 - abar)."""
    ac = schedule.alphas_cumprod.double()

    def fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = ac[t[0]]
        return ((1 - a).sqrt() * x_t / (a * s * s + 1 - a)).to(x_t.dtype)

    return fn


def main() -> int:
    torch.set_num_threads(1)
    for sched_name, (kind, T, b0, b1) in SCHEDULES.items():
        schedule = DiffusionSchedule(make_betas(kind, T, b0, b1))
        for name, kw in CANDIDATES:
            t0 = time.perf_counter()
            sampler = make_sampler(name, schedule, **kw)
            ratios = []
            for s in SCALES:
                x = sample_loop(exact_eps(schedule, s), (N,), sampler, generator=torch.Generator().manual_seed(0))
                ratios.append(float(x.double().std()) / s)
            row = {"schedule": sched_name, "sampler": repr(sampler), "network_calls": len(sampler.timesteps()),
                   **{f"s={s}": r for s, r in zip(SCALES, ratios)},
                   "max_abs_error": max(abs(r - 1) for r in ratios), "command": "python benchmarks/sampler_oracle.py",
                   "git_sha": git_sha(), "hardware": json.dumps(hardware()),
                   "seconds": time.perf_counter() - t0}
            upsert_row(RESULTS, row, key=("schedule", "sampler"), columns=COLUMNS,
                       fmt=lambda v: f"{v:.3f}" if isinstance(v, float) else str(v))
            print(f"{sched_name:42s} {row['sampler']:60s} " + " ".join(f"{r:.3f}" for r in ratios))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
