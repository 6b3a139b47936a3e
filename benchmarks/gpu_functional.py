"""The library end to end on a CUDA device: fit with a distilled student, every sampler at every
precision, reproducibility of one seed, and a model file moved between the GPU and the CPU.

Runs on a machine with one CUDA GPU (a few minutes), from the project root::

    python benchmarks/gpu_functional.py --out benchmarks/results/gpu_functional_cuda.json

Data: the ett_small_1h training split shipped in ``data/`` (14 series); the last 24 hours of each
series are held out and forecast. Steps are small (a functional check, not an accuracy row): the
wQL / coverage figures only show that every sampler gives sane ensembles on the GPU, and that the
CPU, given the GPU's model file, gives ensembles of the same quality.

Checks (each a ``checks`` entry with ``ok``; the exit status is 1 when one fails):

1. ``fit`` on ``device="cuda"`` puts the model on the GPU and trains the teacher and the student;
2. every sampler (auto = the 2-call student, the student at 1 / 4 calls, DPM-Solver++ 20, DDIM 20,
   DDPM) at fp32, bf16 and fp16 returns finite samples of shape (14, 100, 24);
3. the same seed gives the same samples twice on the GPU (fp32);
4. the model saved on the GPU loads on the CPU and on the GPU; the reloaded GPU model repeats the
   samples of the original; the CPU's ensembles score within 10% wQL of the GPU's.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import git_sha, hardware  # noqa: E402

SAMPLERS = [("auto", None), ("distilled", 1), ("distilled", 4), ("dpmsolver", 20), ("ddim", 20), ("ddpm", None)]
PRECISIONS = ["fp32", "bf16", "fp16"]


def _scores(y: np.ndarray, samples: np.ndarray) -> dict[str, float]:
    from tsdiff.metrics import coverage, weighted_quantile_loss

    return {"wql": round(float(weighted_quantile_loss(y, samples)), 5),
            "cov50": round(float(coverage(y, samples, 0.5)), 4),
            "cov90": round(float(coverage(y, samples, 0.9)), 4)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-steps", type=int, default=1000)
    p.add_argument("--distill-steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda", help="'cpu' for a dry run of the script (fp32 only, no DDPM)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gpu_functional_cuda.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    from tsdiff.datasets import dataset_to_frame, load_dataset
    from tsdiff.estimator import TSDiff

    dev = args.device
    if dev == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_functional.py needs a CUDA device (or --device cpu for a dry run)")
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    t_start = time.perf_counter()
    h = 24
    train, _ = dataset_to_frame(load_dataset("ett_small_1h").train)
    train = train.sort_values(["item_id", "timestamp"])
    tail = train.groupby("item_id", sort=True).tail(h)
    history = train.drop(tail.index)
    y = np.stack([g["target"].to_numpy() for _, g in tail.groupby("item_id", sort=True)])
    checks: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []

    def check(name: str, ok: bool, **detail: Any) -> None:
        checks.append({"check": name, "ok": bool(ok), **detail})

    t0 = time.perf_counter()
    model = TSDiff(prediction_length=h, device=dev, max_steps=args.max_steps, distill=True,
                   distill_max_steps=args.distill_steps, seed=args.seed, progress=False).fit(history)
    fit_s = time.perf_counter() - t0
    on_dev = next(model.model_.parameters()).device.type == dev
    check(f"fit on {dev}", on_dev and model.device_.type == dev, fit_seconds=round(fit_s, 1))

    def run(m: TSDiff, sampler: str, steps: int | None, seed: int) -> tuple[np.ndarray, float]:
        sync()
        t = time.perf_counter()
        s = m.predict(n_samples=100, sampler=sampler, steps=steps, seed=seed).samples
        sync()
        return np.asarray(s), time.perf_counter() - t

    # A CPU dry run checks the script, not the library: fp32 only, and no 1000-step DDPM.
    for precision in PRECISIONS if dev == "cuda" else PRECISIONS[:1]:
        model.set_params(precision=precision)
        for sampler, steps in SAMPLERS if dev == "cuda" else SAMPLERS[:-1]:
            run(model, sampler, steps, args.seed)   # warm-up: kernels and autotuning
            s, sec = run(model, sampler, steps, args.seed)
            finite = bool(np.isfinite(s).all())
            rows.append({"sampler": sampler, "steps": steps, "precision": precision, "seconds": round(sec, 3),
                         "shape": list(s.shape), "finite": finite, **_scores(y, s)})
            check(f"{sampler}:{steps}:{precision} shape and finite", s.shape == (len(y), 100, h) and finite)
    model.set_params(precision="fp32")

    a, _ = run(model, "auto", None, 7)
    b, _ = run(model, "auto", None, 7)
    check(f"same seed, same samples ({dev}, fp32, student)", np.array_equal(a, b))
    a2, _ = run(model, "dpmsolver", 20, 7)
    b2, _ = run(model, "dpmsolver", 20, 7)
    check(f"same seed, same samples ({dev}, fp32, teacher)", np.array_equal(a2, b2))

    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(Path(tmp) / "m")
        gpu = TSDiff.load(path, device=dev)
        c, _ = run(gpu, "auto", None, 7)
        check(f"saved on {dev}, loaded on {dev}: same samples", np.array_equal(a, c))
        cpu = TSDiff.load(path, device="cpu")
        on_cpu = next(cpu.model_.parameters()).device.type == "cpu"
        d = np.asarray(cpu.predict(n_samples=100, seed=7).samples)
        w_gpu, w_cpu = _scores(y, a)["wql"], _scores(y, d)["wql"]
        check(f"saved on {dev}, loaded on cpu: model on cpu, ensembles of the same quality",
              on_cpu and abs(w_cpu - w_gpu) <= 0.1 * w_gpu, wql_cuda=w_gpu, wql_cpu=w_cpu)

    result = {"script": "benchmarks/gpu_functional.py", "command": " ".join(sys.argv), "git_sha": git_sha(),
              "hardware": hardware(), "device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu",
              "torch": torch.__version__,
              "max_steps": args.max_steps, "distill_steps": args.distill_steps, "seed": args.seed,
              "n_series": int(len(y)), "horizon": h, "n_samples": 100, "checks": checks, "rows": rows,
              "wall_seconds": round(time.perf_counter() - t_start, 1),
              "all_ok": all(c["ok"] for c in checks)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for c in checks:
        print(("ok   " if c["ok"] else "FAIL ") + c["check"])
    return 0 if result["all_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
