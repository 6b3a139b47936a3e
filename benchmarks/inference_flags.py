"""Speed of sampling with the inference flags: fp32 (default) vs bf16 autocast vs torch.compile.

Times ``TSDiffModel.sample`` (condition once, DDIM steps over series x samples) with the default
network for ``--series`` series x ``--samples`` samples. The weights are freshly initialized from
the seed: speed does not depend on training. Writes ``benchmarks/results/inference_flags.json``.

    python benchmarks/inference_flags.py --device cpu
    python benchmarks/inference_flags.py --device cuda --series 414 --samples 100   # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import git_sha, hardware  # noqa: E402

from tsdiff.diffusion import make_sampler  # noqa: E402
from tsdiff.estimator import TSDiff  # noqa: E402
from tsdiff.model import TSDiffModel  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--series", type=int, default=14)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--steps", type=int, default=20, help="DDIM steps")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "inference_flags.json"))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    device = torch.device(args.device)
    # The config TSDiff(prediction_length=24, context_length=336) builds for hourly data (default sizes).
    cfg = TSDiff(prediction_length=24, context_length=336, freq="h")._make_config("h", 0, 0, (), 0)
    torch.manual_seed(args.seed)
    model = TSDiffModel(cfg).eval()
    # A fresh U-Net's last conv starts at zero, so its output would be zero under every variant and the
    # "rel. diff vs fp32" column would read 0 whatever the precision: give that conv random weights.
    with torch.no_grad():
        model.denoiser.unet.out_conv.weight.normal_(0.0, 0.1, generator=torch.Generator().manual_seed(args.seed))
    model = model.to(device)
    g = torch.Generator().manual_seed(args.seed)
    B, C, H = args.series, cfg.context_length, cfg.prediction_length
    batch = {"past_target": torch.randn(B, C, generator=g), "past_observed": torch.ones(B, C),
             "past_time_feat": torch.rand(B, C, 4, generator=g) - 0.5,
             "future_time_feat": torch.rand(B, H, 4, generator=g) - 0.5}
    batch = {k: v.to(device) for k, v in batch.items()}
    sampler = make_sampler("ddim", model.schedule, steps=args.steps)
    variants = [("fp32", None, None), ("bf16 autocast", torch.bfloat16, None)]
    if device.type == "cuda":
        variants.append(("fp16 autocast", torch.float16, None))
    if not args.no_compile:
        variants.append(("torch.compile fp32", None, torch.compile(model.denoiser, dynamic=True)))
    rows = []
    reference = None
    for name, dtype, net in variants:
        def run(dtype: object = dtype, net: object = net) -> torch.Tensor:
            gen = torch.Generator(device=device).manual_seed(args.seed)
            out = model.sample(batch, args.samples, sampler, generator=gen, autocast_dtype=dtype, denoiser=net)
            if device.type == "cuda":
                torch.cuda.synchronize()
            return out
        t0 = time.perf_counter()
        out = run()  # warm-up (and compilation)
        first = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = run()
            times.append(time.perf_counter() - t0)
        if reference is None:
            reference = out
        diff = float((out - reference).abs().mean() / reference.abs().mean())
        rows.append({"variant": name, "first_call_s": first, "median_s": float(np.median(times)),
                     "times_s": times, "mean_rel_diff_vs_fp32": diff})
        print(f"{name:<22} first call {first:7.2f} s   median {np.median(times):7.3f} s   "
              f"rel. diff vs fp32 {diff:.4f}", flush=True)
    base = rows[0]["median_s"]
    for r in rows:
        r["speedup_vs_fp32"] = base / r["median_s"]
    result = {"benchmark": "inference_flags", "command": " ".join(["python"] + sys.argv), "seed": args.seed,
              "git_sha": git_sha(), "hardware": hardware(), "device": str(device), "series": B,
              "samples": args.samples, "ddim_steps": args.steps, "rows": rows,
              "wall_seconds": time.perf_counter() - t_start}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
