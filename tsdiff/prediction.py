"""Prediction machinery over :meth:`TSDiffModel.sample`: the block-by-block long-horizon rollout.

Numpy windows in, numpy samples out; no pandas. :class:`~tsdiff.estimator.TSDiff` prepares a
:class:`_PredictPlan` (arguments validated, histories read, memory checked) and calls
:func:`rollout` for each slice of series.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
import torch

from .config import TSDiffConfig
from .errors import _check_positive_int
from .frames import FrameSpec, SeriesData
from .model import TSDiffModel, batch_to_tensors
from .windows import SeriesArrays, make_batch


@contextlib.contextmanager


def _torch_threads(n: Optional[int]) -> Iterator[None]:
    """Let torch use ``n`` CPU threads inside the block, then restore the previous setting."""
    if n is None:
        yield
        return
    n = _check_positive_int("num_threads", n)
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def default_chunk_size(config: TSDiffConfig, device_type: str) -> int:
    """Rows (series x samples) denoised at once when ``chunk_size=None``.

    On a GPU, 65536 rows fill the device. On a CPU a smaller batch is faster,
    not only leaner: the U-Net's activations (rows x positions x channels
    floats) should stay near the size of the CPU caches (about 4 MiB), so the
    chunk is ``2**20 / (positions * hidden_channels)`` rows, kept in [64, 4096].
    """
    if device_type == "cuda":
        return 65536
    positions = -(-(config.tail_length + config.prediction_length) // config.patch_size)
    return int(min(4096, max(64, 2**20 // (positions * config.hidden_channels))))


@dataclass


class _PredictPlan:
    """Everything :meth:`TSDiff._forecast_slice` needs, prepared once per predict / predict_iter call."""

    series: list[SeriesData]
    spec: FrameSpec
    static_cat: Optional[np.ndarray]
    static_real: Optional[np.ndarray]
    future_known: Optional[list[np.ndarray]]
    horizon: int
    total: int             # horizon rounded up to whole prediction_length blocks
    n_samples: int
    chunk: int
    workers: int
    group: int             # series per noise seed: max(1, chunk // n_samples)
    seed: int
    sampler: Any
    shard: Optional[tuple[int, int]]
    series_per_batch: int  # a multiple of group (or all the series)
    floors: Optional[np.ndarray] = None   # per-series scale floors
    nonneg: Optional[np.ndarray] = None   # per-series non-negativity flags
    calibrated: bool = False              # apply the fitted calibration block by block
    calibrator: Any = None                # the IntervalCalibrator applied when calibrated
    denoiser: Any = None                  # a distilled student on the sampler's grid (None: the model's)


def _group_seed(seed: int, block: int, group: int, sample_chunk: int) -> int:
    """Noise seed of one seed group of series, diffusion block and sample chunk (62 bits)."""
    state = np.random.SeedSequence([int(seed), int(block), int(group), int(sample_chunk)]).generate_state(
        2, dtype=np.uint32)
    return int((int(state[0]) << 30) ^ int(state[1]))


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), where bf16 autocast is faster."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(probe()) for probe in probes if probe is not None)


def precision_dtype(precision: str, device: torch.device, student: bool = False) -> Optional[torch.dtype]:
    """``precision`` -> the autocast dtype for ``device`` (None for full float32).

    ``"auto"``: bfloat16 for a distilled ``student`` on a CPU with native bf16 (:func:`native_bf16_cpu`), where
    its 1-4 calls lose nothing measurable (``docs/how_it_works.md``); float32 for the 20-step teacher, whose
    bf16 rounding errors add up, and on every other device.
    """
    table = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision == "auto":
        return torch.bfloat16 if student and device.type == "cpu" and native_bf16_cpu() else None
    if precision not in table:
        raise ValueError(f"precision must be one of {sorted(table) + ['auto']}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision='fp16' needs a CUDA device; use precision='bf16' on the CPU")
    return table[precision]


def _check_shard(shard: Any) -> tuple[int, int]:
    """Validate ``shard=(rank, world_size)``."""
    try:
        rank, world = shard
    except (TypeError, ValueError):
        raise ValueError(f"shard must be a pair (rank, world_size), got {shard!r}") from None
    ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in (rank, world))
    if not ints or world < 1 or not 0 <= rank < world:
        raise ValueError(f"shard must be (rank, world_size) with 0 <= rank < world_size, got {shard!r}")
    return int(rank), int(world)


def rollout(model: TSDiffModel, arrays: Sequence[SeriesArrays], plan: "_PredictPlan", *, first_group: int,
            device: torch.device, autocast_dtype: Optional[torch.dtype] = None,
            denoiser: Optional[Callable[..., torch.Tensor]] = None,
            finish_block: Optional[Callable[[np.ndarray], None]] = None) -> np.ndarray:
    """Sample ``plan.total`` steps after each series, block by block of ``prediction_length`` steps.

    Block 0 is sampled from the histories; block ``k`` conditions each sample path on its own
    blocks ``0 .. k-1`` (past-only covariates held at their last observed value). The noise seed
    of seed group ``g`` (``plan.group`` series, counted from ``first_group``), block ``k`` and
    sample chunk ``j`` is :func:`_group_seed` ``(plan.seed, k, g, j)``, so the samples of a series
    do not depend on which slice of series it is forecast in.

    Parameters
    ----------
    model : TSDiffModel
        In eval mode, on ``device``.
    arrays : sequence of SeriesArrays
        ``N`` series whose time features (and known covariates) reach ``plan.total`` steps past the end.
    plan : _PredictPlan
        ``n_samples``, ``total``, ``chunk``, ``workers``, ``group``, ``seed`` and ``sampler`` are read.
    first_group : int
        Index of the seed group of ``arrays[0]`` in the whole set of series.
    finish_block : callable, optional
        Called with each block's samples ``(N, n_samples, prediction_length)`` (a view, changed in
        place, e.g. calibrated and clipped) before later blocks condition on it.

    Returns
    -------
    np.ndarray, shape (N, n_samples, plan.total), float32
    """
    H, C = model.config.prediction_length, model.config.context_length
    S, chunk, workers, group, seed = plan.n_samples, plan.chunk, plan.workers, plan.group, plan.seed
    if finish_block is None:
        def finish_block(blk: np.ndarray) -> None:
            return None
    N = len(arrays)
    sample_chunk = min(S, chunk)
    n_sample_chunks = math.ceil(S / sample_chunk)
    g0 = first_group
    ends = np.array([len(a) for a in arrays])
    out = np.empty((N, S, plan.total), dtype=np.float32)
    base = make_batch(arrays, np.arange(N), ends, C, H, with_target=False)
    base_t = batch_to_tensors(base, device)
    seeds0 = [[_group_seed(seed, 0, g0 + g, j) for j in range(n_sample_chunks)]
              for g in range(math.ceil(N / group))]
    out[:, :, :H] = model.sample(base_t, S, plan.sampler, chunk_size=chunk, autocast_dtype=autocast_dtype,
                                 denoiser=denoiser, workers=workers, chunk_seeds=seeds0).cpu().numpy()
    finish_block(out[:, :, :H])
    # Later blocks: each sample path conditions on its own previous blocks. Rows (series x samples,
    # series-major) are built and denoised a few seed groups at a time, so memory stays bounded.
    if n_sample_chunks == 1:   # a group is `group` series x all S samples
        rows_per_group = group * S
        calls = [(r0, min(N * S, r0 + rows_per_group * workers), rows_per_group, g0 + r0 // rows_per_group, None)
                 for r0 in range(0, N * S, rows_per_group * workers)]
    else:                      # group = one series; its samples come in chunks of `sample_chunk`
        calls = [(i * S + j0, i * S + min(S, j0 + sample_chunk * workers), sample_chunk, g0 + i,
                  j0 // sample_chunk) for i in range(N) for j0 in range(0, S, sample_chunk * workers)]
    for k in range(1, math.ceil(plan.total / H)):
        blk = make_batch(arrays, np.arange(N), ends + k * H, C, H, with_target=False)
        for r0, r1, rows_per_seed, first, j_first in calls:
            r = np.arange(r0, r1)
            si, sj = r // S, r % S
            rows = {key: v[si] for key, v in blk.items()}
            rows["past_target"] = np.concatenate([base["past_target"][si], out[si, sj, :k * H]], axis=1)[:, -C:]
            rows["past_observed"] = np.concatenate(
                [base["past_observed"][si], np.ones((len(r), k * H), np.float32)], axis=1)[:, -C:]
            if model.config.num_past_covariates:
                # Past-only covariates are unknown over generated blocks: hold their last observed value.
                pc = base["past_past_cov"][si]
                held = np.repeat(pc[:, -1:, :], k * H, axis=1)
                rows["past_past_cov"] = np.concatenate([pc, held], axis=1)[:, -C:]
            n_calls = math.ceil(len(r) / rows_per_seed)
            seeds = ([[_group_seed(seed, k, first + u, 0)] for u in range(n_calls)] if j_first is None
                     else [[_group_seed(seed, k, first, j_first + u)] for u in range(n_calls)])
            # A lone chunk runs on the calling thread: give it one torch thread like the workers,
            # so the numbers do not depend on how the rows fell into calls.
            with _torch_threads(1 if workers > 1 and n_calls == 1 else None):
                blk_samples = model.sample(batch_to_tensors(rows, device), 1, plan.sampler,
                                           chunk_size=rows_per_seed, autocast_dtype=autocast_dtype,
                                           denoiser=denoiser, workers=workers, chunk_seeds=seeds)
            out[si, sj, k * H:(k + 1) * H] = blk_samples[:, 0].cpu().numpy()
        finish_block(out[:, :, k * H:(k + 1) * H])
    return out
