"""Wall time of one denoising step and of the once-per-series context encoding.

Usage::

    python benchmarks/step_time.py --seed 0 --repeats 10 --out benchmarks/results/step_time.json

Sizes are those ``TSDiff(prediction_length=24)`` builds for hourly data (hidden_channels,
channel_mults, embedding_dim, encoder_channels, tail_length 24, no patches;
``--hidden-channels`` overrides one) with lags (24, 168) and 4 time features, so the denoiser sees
``seq_channels = 2 + 2 * len(lags) + num_time_features = 10`` channels over
``W = tail_length + prediction_length = 48`` positions, and the context encoder reads
``2 + num_time_features = 6`` channels over ``context_length`` positions. Sampling runs
``samples x series`` rows (100 x 14 by default) through the denoiser at every step; the context
encoder runs once per series.

The timed callables are built by :func:`make_nn_callables` from the bare networks in
``tsdiff.nn``; the denoiser does not take the context, so its step time cannot depend on
``context_length`` (measured at several lengths anyway, as a check). To time the full model
instead, write a builder with the same signature around ``tsdiff.model.TSDiffModel`` and pass it
to :func:`run_benchmark`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import git_sha  # noqa: E402

from tsdiff.config import TSDiffConfig  # noqa: E402
from tsdiff.nn import ConditionalDenoiser, ContextEncoder  # noqa: E402

#: ``builder(config, n_series, n_samples, seed) -> (encode_fn, step_fn)``; each callable runs
#: one timed unit of work (all series through the encoder / one denoising step over all rows).
Builder = Callable[[TSDiffConfig, int, int, int], tuple[Callable[[], Any], Callable[[], Any]]]


def time_callable(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> dict[str, Any]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed (no grad).

    Returns
    -------
    dict with wall-clock ``median_s``, ``min_s``, ``max_s``, the raw ``times_s`` and
    ``cpu_median_s`` (process CPU time, all threads: with ``--threads 1`` a proxy for the
    uncontended wall time when other processes share the cores).
    """
    times, cpu_times = [], []
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        for _ in range(repeats):
            cpu_start, start = time.process_time(), time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "cpu_median_s": statistics.median(cpu_times), "times_s": times}


def seq_channels(config: TSDiffConfig) -> int:
    """Channels of the denoiser's ``seq`` input (docs/architecture.md, "Denoiser input")."""
    return 2 + 2 * len(config.lags) + config.num_time_features + config.num_known_covariates


def encoder_channels(config: TSDiffConfig) -> int:
    """Channels of the context encoder's ``past`` input, as ``tsdiff.model.TSDiffModel`` builds it:
    scaled target, observed mask, time features, known and past covariates."""
    return 2 + config.num_time_features + config.num_known_covariates + config.num_past_covariates


def make_nn_callables(config: TSDiffConfig, n_series: int, n_samples: int,
                      seed: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """Bare-network callables: (context encoder over ``n_series`` histories,
    one denoiser step over ``n_series * n_samples`` rows)."""
    torch.manual_seed(seed)  # script-level: parameter init only
    channels, enc_channels = seq_channels(config), encoder_channels(config)
    encoder = ContextEncoder(enc_channels, hidden=config.encoder_channels, out_dim=config.embedding_dim,
                             static_cardinalities=config.static_cardinalities,
                             num_static_real=config.num_static_real).eval()
    denoiser = ConditionalDenoiser(channels, cond_dim=config.embedding_dim,
                                   base_channels=config.hidden_channels,
                                   channel_mults=config.channel_mults,
                                   num_res_blocks=config.num_res_blocks,
                                   dropout=config.dropout).eval()
    # The final conv is zero at init; move it off zero so the timed work is the trained-model work.
    with torch.no_grad():
        denoiser.unet.out_conv.weight.normal_(0.0, 0.02)

    g = torch.Generator().manual_seed(seed)
    rows = n_series * n_samples
    past = torch.randn(n_series, enc_channels, config.context_length, generator=g)
    log_scale = torch.randn(n_series, 1, generator=g)
    x_t = torch.randn(rows, config.prediction_length, generator=g)
    t = torch.randint(0, config.diffusion_steps, (rows,), generator=g)
    seq = torch.randn(n_series, channels, config.window_length, generator=g).repeat_interleave(n_samples, 0)
    emb = torch.randn(n_series, config.embedding_dim, generator=g).repeat_interleave(n_samples, 0)

    def encode() -> torch.Tensor:
        return encoder(past, log_scale=log_scale)

    def step() -> torch.Tensor:
        return denoiser(x_t, t, seq, emb)

    return encode, step


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _loadavg() -> Optional[float]:
    """1-minute load average (other processes competing for the cores), None where unavailable."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def param_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def bench_config(context_length: int, **overrides: Any) -> TSDiffConfig:
    """The config ``TSDiff(prediction_length=24)`` builds for hourly data (lags 24 and 168, 4 time
    features, tail 24), at ``context_length``, with ``overrides``."""
    from tsdiff.estimator import TSDiff

    est = TSDiff(prediction_length=24, context_length=context_length, freq="h")
    return est._make_config("h", 0, 0, (), 0).replace(**overrides)


def run_benchmark(builder: Builder, context_lengths: list[int], n_series: int, n_samples: int,
                  repeats: int, seed: int, **overrides: Any) -> dict[str, Any]:
    """Time ``builder``'s callables at each context length; returns the figures."""
    figures: dict[str, Any] = {"context_encoder": {}, "denoiser_step": {}}
    for context_length in context_lengths:
        config = bench_config(context_length, **overrides)
        encode, step = builder(config, n_series, n_samples, seed)
        figures["context_encoder"][str(context_length)] = time_callable(encode, repeats)
        figures["denoiser_step"][str(context_length)] = time_callable(step, repeats)
        figures["config"] = {k: config.to_dict()[k] for k in (
            "prediction_length", "tail_length", "lags", "num_time_features", "hidden_channels",
            "channel_mults", "num_res_blocks", "embedding_dim", "encoder_channels", "diffusion_steps")}
        figures["seq_channels"] = seq_channels(config)
        figures["encoder_in_channels"] = encoder_channels(config)
        figures["window_length"] = config.window_length
    return figures


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per figure (median reported)")
    parser.add_argument("--series", type=int, default=14)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--context-lengths", type=int, nargs="+", default=[168, 672])
    parser.add_argument("--hidden-channels", type=int, default=None,
                        help="override TSDiffConfig.hidden_channels (default: the config default)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: leave torch's default)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/step_time.json"))
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    wall_start = time.perf_counter()
    load_before = _loadavg()
    overrides = {} if args.hidden_channels is None else {"hidden_channels": args.hidden_channels}
    figures = run_benchmark(make_nn_callables, args.context_lengths, args.series, args.samples,
                            args.repeats, args.seed, **overrides)
    cfg = bench_config(max(args.context_lengths), **overrides)
    ch = seq_channels(cfg)
    figures["parameters"] = {
        "denoiser": param_count(ConditionalDenoiser(ch, cfg.embedding_dim, cfg.hidden_channels,
                                                    cfg.channel_mults, cfg.num_res_blocks)),
        "context_encoder": param_count(ContextEncoder(encoder_channels(cfg), cfg.encoder_channels,
                                                      cfg.embedding_dim)),
    }
    sha = git_sha()
    result = {
        "benchmark": "step_time",
        "command": " ".join(["python", *sys.argv]) if argv is None else " ".join(argv),
        "seed": args.seed,
        "git_sha": sha,
        "git_dirty": sha.endswith("+dirty"),
        "hardware": {"processor": platform.processor(), "cpu_model": cpu_model(),
                     "machine": platform.machine(),
                     "loadavg_1min_before_after": [load_before, _loadavg()],
                     "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()},
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "n_series": args.series,
        "n_samples": args.samples,
        "denoiser_rows": args.series * args.samples,
        "repeats": args.repeats,
        "timed": "bare tsdiff.nn networks (ContextEncoder, ConditionalDenoiser), torch.inference_mode",
        "notes": ("The denoiser does not take the context: it runs over W = tail_length + "
                  "prediction_length positions, so its step time cannot depend on context_length. "
                  "The context encoder runs once per series per forecast, the denoiser once per "
                  "diffusion step."),
        "figures": figures,
        "wall_time_s": None,
    }
    result["wall_time_s"] = time.perf_counter() - wall_start

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    steps = cfg.diffusion_steps
    print(f"{cpu_model()}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"cpu_count={os.cpu_count()}, "
          f"git {result['git_sha']}")
    print(f"{args.series} series x {args.samples} samples = {result['denoiser_rows']} denoiser rows, "
          f"W={figures['window_length']}, seq_channels={figures['seq_channels']}, "
          f"encoder in_channels={figures['encoder_in_channels']}")
    print(f"{'context':>8} | {'encoder, all series (median/min)':>32} | {'denoiser step (median/min)':>27} | "
          f"{f'x {steps} steps (median)':>20}")
    for c in args.context_lengths:
        enc = figures["context_encoder"][str(c)]
        den = figures["denoiser_step"][str(c)]
        print(f"{c:>8} | {enc['median_s'] * 1e3:>14.2f} / {enc['min_s'] * 1e3:>8.2f} ms | "
              f"{den['median_s'] * 1e3:>10.1f} / {den['min_s'] * 1e3:>8.1f} ms | "
              f"{den['median_s'] * steps:>18.1f} s")
    print("note: the denoiser does not take the context, so its step time is independent of "
          "context_length by construction (medians above, same inputs/sizes).")
    print(f"parameters: denoiser {figures['parameters']['denoiser']:,}, "
          f"context encoder {figures['parameters']['context_encoder']:,}")
    load = result["hardware"]["loadavg_1min_before_after"]
    print(f"1-min load average before/after: {load} (on {os.cpu_count()} cores; > cores means contention)")
    print(f"wrote {args.out} (wall {result['wall_time_s']:.1f} s)")
    return result


if __name__ == "__main__":
    main()
