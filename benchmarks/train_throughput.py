"""Training throughput (windows/s) of the default tsdiff model with 1, 2, ... data-parallel processes.

Usage::

    # CPU (gloo): 1 process with all cores, 1 process with 1 thread, 2 processes (cores // 2 threads each)
    python benchmarks/train_throughput.py --runs 1 1x1 2 --steps 12 --warmup 3 \
        --out benchmarks/results/train_throughput.json

    # one GPU node (NCCL), 1, 2, 4 and 8 GPUs
    python benchmarks/train_throughput.py --device cuda --runs 1 2 4 8 --steps 200 --warmup 20

Each configuration is launched with ``python -m torch.distributed.run --nproc_per_node N``
running this file in worker mode. Every worker builds the model the way
``TSDiff(prediction_length=24).fit`` does on the ``ett_small_1h`` training split (default
sizes: context 336, lags 24 and 168, 4 time features), draws its own random
training windows (``np.random.default_rng([seed, rank])``) and trains with
:class:`tsdiff.training.Trainer` (DDP when N > 1, plain single-process training
when N = 1). Throughput is measured on rank 0 from the start of step ``warmup`` to
the end of the last step (DDP keeps the processes in step), as
``(steps - warmup) * batch_size * N / seconds``: ``batch_size`` is per process,
so N processes train on N times more windows per step (weak scaling, as
``torchrun ... tsdiff fit`` does).

The JSON written to ``--out`` holds the command, seed, git SHA, hardware, the
load average before and after (the CPU figures are only meaningful on an
otherwise idle machine), and per configuration: windows/s, step time, launch wall time.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

logger = logging.getLogger("train_throughput")


# ----------------------------------------------------------------------------- worker
def build_problem(batch_size: int, seed: int, rank: int, world_size: int, device: Any) -> tuple[Any, Any]:
    """Default ``TSDiffModel`` on ``ett_small_1h`` and a per-rank window sampler.

    Returns
    -------
    model : TSDiffModel on ``device``
    sample_batch : callable ``step -> dict of tensors`` on ``device``
    """
    import numpy as np
    import torch

    from tsdiff.datasets import dataset_to_frame, load_dataset
    from tsdiff.estimator import TSDiff
    from tsdiff.frames import read_series
    from tsdiff.model import TSDiffModel, batch_to_tensors
    from tsdiff.windows import TrainWindowSampler

    ds = load_dataset("ett_small_1h")
    frame = dataset_to_frame(ds.train, ds.metadata.freq)
    df = frame[0] if isinstance(frame, tuple) else frame
    series, spec = read_series(df)
    est = TSDiff(prediction_length=int(ds.metadata.prediction_length), batch_size=batch_size, seed=seed)
    cfg = est._make_config(spec.freq, 0, 0, (), 0)
    est.config_ = cfg
    arrays = est._arrays(series)
    sampler = TrainWindowSampler(arrays, cfg.context_length, cfg.prediction_length, [len(a) for a in arrays])
    rng = np.random.default_rng([seed, rank]) if world_size > 1 else np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TSDiffModel(cfg)
    model.to(device)

    def sample_batch(step: int) -> dict[str, Any]:
        return batch_to_tensors(sampler.sample(rng, batch_size), device)

    return model, sample_batch


def worker(args: argparse.Namespace) -> None:
    """One process of a measurement: train ``steps`` steps, rank 0 writes its timings."""
    import torch

    from tsdiff.distributed import all_reduce_mean, barrier, cleanup, init_from_env
    from tsdiff.training import Trainer

    ctx = init_from_env(device=args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    sync = torch.cuda.synchronize if ctx.device.type == "cuda" else (lambda: None)
    model, sample = build_problem(args.batch_size, args.seed, ctx.rank, ctx.world_size, ctx.device)
    starts: list[float] = []

    def sample_batch(step: int) -> dict[str, Any]:
        sync()
        starts.append(time.perf_counter())
        return sample(step)

    trainer = Trainer(model, sample_batch, max_steps=args.steps, val_every=10 * args.steps,
                      warmup_steps=min(100, args.steps), seed=args.seed, device=ctx.device, progress=False,
                      dist=ctx)
    result = trainer.fit()
    sync()
    end = time.perf_counter()
    starts.append(end)
    seconds = starts[-1] - starts[args.warmup]
    step_times = [b - a for a, b in zip(starts[args.warmup:-1], starts[args.warmup + 1:])]
    mean_seconds = all_reduce_mean(seconds, ctx)  # the same on every rank up to skew
    barrier(ctx)
    if ctx.is_main:
        timed = args.steps - args.warmup
        record = {
            "nprocs": ctx.world_size, "device": str(ctx.device), "backend": ctx.backend,
            "threads_per_proc": torch.get_num_threads(), "batch_size_per_proc": args.batch_size,
            "global_batch": args.batch_size * ctx.world_size, "steps": result.steps, "timed_steps": timed,
            "timed_seconds": seconds, "timed_seconds_mean_over_ranks": mean_seconds,
            "step_time_median_s": statistics.median(step_times),
            "windows_per_s": timed * args.batch_size * ctx.world_size / seconds,
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "context_length": model.config.context_length, "prediction_length": model.config.prediction_length,
        }
        Path(args.worker_out).write_text(json.dumps(record, indent=2) + "\n")
    cleanup(ctx)


# ----------------------------------------------------------------------------- launcher
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_spec(text: str) -> tuple[int, int]:
    """``"2"`` -> (2, 0), ``"2x1"`` -> (2, 1): processes and threads per process (0: automatic)."""
    try:
        n, _, t = text.partition("x")
        spec = (int(n), int(t or 0))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or NxT, got {text!r}") from None
    if spec[0] < 1 or spec[1] < 0:
        raise argparse.ArgumentTypeError(f"expected N >= 1 and T >= 0, got {text!r}")
    return spec


def launch(nprocs: int, threads: int, args: argparse.Namespace, out_file: Path) -> dict[str, Any]:
    """Run ``nprocs`` workers under torchrun; returns rank 0's record plus the launch wall time.

    ``threads`` torch threads per process; 0 means ``cores // nprocs`` on CPU and torch's default on CUDA.
    """
    if not threads and args.device == "cpu":
        threads = max(1, (os.cpu_count() or 1) // nprocs)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nprocs),
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(Path(__file__).resolve()),
           "--worker-out", str(out_file), "--device", args.device, "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--batch-size", str(args.batch_size), "--seed", str(args.seed),
           "--threads", str(threads or 0)]
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    if args.device == "cpu" and Path("/sys/class/net/lo").exists():
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    logger.info("launching %d process(es): %s", nprocs, " ".join(cmd))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        raise RuntimeError(f"{nprocs}-process run timed out after {args.timeout} s:\n{output[-3000:]}") from None
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{nprocs}-process run failed ({proc.returncode}):\n{output[-3000:]}")
    record = json.loads(out_file.read_text())
    record["launch_wall_s"] = wall
    return record


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", default=["1", "2"], type=_run_spec, metavar="N[xT]",
                        help="configurations to measure: N processes, T torch threads each (default: "
                             "cores // N on CPU); e.g. 1 1x1 2 (default: 1 2)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cpu (gloo) or cuda (nccl)")
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per run (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per process per step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)  # worker mode
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a run is killed")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "train_throughput.json"))
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.warmup >= args.steps:
        parser.error("--warmup must be smaller than --steps")
    if args.worker_out:
        worker(args)
        return 0

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from _common import git_sha, hardware

    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    t0 = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (n, threads) in enumerate(args.runs):
            rec = launch(n, threads, args, Path(tmp) / f"run{i}.json")
            logger.info("%d process(es): %.1f windows/s (median step %.3f s, global batch %d, %d threads/proc)",
                        n, rec["windows_per_s"], rec["step_time_median_s"], rec["global_batch"],
                        rec["threads_per_proc"])
            runs.append(rec)
    base = runs[0]["windows_per_s"]
    for rec in runs:
        rec["speedup_vs_first"] = rec["windows_per_s"] / base
    result = {
        "benchmark": "train_throughput",
        "command": " ".join(["python", "benchmarks/train_throughput.py",
                             *(sys.argv[1:] if argv is None else argv)]),
        "seed": args.seed, "git_sha": git_sha(), "hardware": hardware(), "device": args.device,
        "dataset": "ett_small_1h (train split), windows of TSDiff(prediction_length=24) defaults",
        "steps": args.steps, "warmup": args.warmup, "batch_size_per_proc": args.batch_size,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "wall_time_s": time.perf_counter() - t0, "runs": runs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    logger.info("wrote %s (total wall time %.1f s)", out, result["wall_time_s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
