"""Data-parallel helpers on top of :mod:`torch.distributed` (launched by ``torchrun``).

``torchrun`` starts one process per device and gives each the environment
variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``. :func:`init_from_env` reads them, initializes the default
process group (``gloo`` on CPU, ``nccl`` on CUDA) and returns a
:class:`DistContext`; without them it returns a single-process context and
initializes nothing, so the same code runs with and without ``torchrun``.

The collective helpers (:func:`barrier`, :func:`broadcast_object`,
:func:`all_reduce_sum`, :func:`all_reduce_mean`, :func:`all_gather_object`)
are no-ops (or identities) for a single-process context. Every process of the
group must call them in the same order, like any ``torch.distributed``
collective.

See ``docs/distributed.md`` for the launch commands and what is sharded.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch
import torch.distributed as tdist

logger = logging.getLogger(__name__)

__all__ = ["DistContext", "TORCHRUN_ENV_VARS", "launched_by_torchrun", "init_from_env", "current_context",
           "cleanup", "barrier", "broadcast_object", "all_gather_object", "all_reduce_sum", "all_reduce_mean",
           "rank_seed"]

#: Environment variables whose presence means the process was started by ``torchrun``.
TORCHRUN_ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")

#: Default timeout of collectives (seconds); ``TSDIFF_DIST_TIMEOUT`` overrides it.
DEFAULT_TIMEOUT_S = 1800.0

# The context set by init_from_env, so that current_context() can return the
# device that was chosen there (torch.distributed itself is process-global state).
_CURRENT: Optional["DistContext"] = None


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a data-parallel group.

    Attributes
    ----------
    rank : int
        Global rank, ``0 <= rank < world_size``.
    world_size : int
        Number of processes (1: single-process training, no collectives).
    local_rank : int
        Rank on this node; selects the GPU (``cuda:<local_rank>``).
    device : torch.device
        The device this process trains on.
    backend : str or None
        ``"gloo"`` or ``"nccl"`` when a process group is initialized, else None.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: Optional[str] = None

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that shows progress, logs and writes files."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True when there are several processes (collectives actually communicate)."""
        return self.world_size > 1


def launched_by_torchrun(environ: Optional[dict[str, str]] = None) -> bool:
    """True when every variable of :data:`TORCHRUN_ENV_VARS` is set."""
    env = os.environ if environ is None else environ
    return all(name in env for name in TORCHRUN_ENV_VARS)


def _resolve_device(device: str | torch.device | None, local_rank: int) -> torch.device:
    """``None``/``"auto"`` -> ``cuda:<local_rank>`` when CUDA is available, else CPU.

    A bare ``"cuda"`` also becomes ``cuda:<local_rank>`` so each process gets its own GPU.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device (use 'auto', 'cpu', 'cuda', 'cuda:0')") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={str(device)!r} was requested but CUDA is not available; "
                             "use device='cpu' or 'auto'")
        if dev.index is None:
            dev = torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    return dev


def _default_backend(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def init_from_env(backend: Optional[str] = None, *, device: str | torch.device | None = "auto",
                  timeout: Optional[float] = None) -> DistContext:
    """Initialize the default process group when launched by ``torchrun``.

    Parameters
    ----------
    backend : {"gloo", "nccl"}, optional
        Default: ``"nccl"`` when the device is CUDA, ``"gloo"`` otherwise.
    device : str or torch.device, optional
        ``"auto"`` (default) picks ``cuda:<LOCAL_RANK>`` when CUDA is available,
        else CPU; ``"cuda"`` means ``cuda:<LOCAL_RANK>``; ``"cpu"`` forces CPU
        (and gloo) even on a GPU machine.
    timeout : float, optional
        Seconds a collective may wait for the other processes before failing
        (default ``TSDIFF_DIST_TIMEOUT`` or 1800).

    Returns
    -------
    DistContext
        Rank, world size, local rank and device of this process. Without the
        ``torchrun`` variables, or with ``WORLD_SIZE=1``, a single-process context
        (rank 0 of 1) on ``device``; no process group is created then. When a
        process group already exists it is reused.
    """
    global _CURRENT
    if tdist.is_available() and tdist.is_initialized():
        ctx = current_context(device)
        _CURRENT = ctx
        return ctx
    if not launched_by_torchrun():
        return DistContext(device=_resolve_device(device, 0))
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    dev = _resolve_device(device, local_rank)
    if world_size <= 1:
        return DistContext(device=dev)
    if not tdist.is_available():
        raise RuntimeError("torch.distributed is not available in this torch build; "
                           "it is needed for multi-process training")
    backend = backend or _default_backend(dev)
    if backend == "nccl" and dev.type != "cuda":
        raise ValueError("backend='nccl' needs a CUDA device; use backend='gloo' for CPU training")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    seconds = timeout if timeout is not None else float(os.environ.get("TSDIFF_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
    tdist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world_size,
                             timeout=datetime.timedelta(seconds=seconds))
    ctx = DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, backend=backend)
    _CURRENT = ctx
    if ctx.is_main:
        logger.info("initialized %s process group: world_size=%d, master=%s:%s", backend, world_size,
                    os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT"))
    return ctx


def current_context(device: str | torch.device | None = "auto") -> DistContext:
    """The context of the process group in use, without initializing one.

    Returns the context made by :func:`init_from_env` when it created the
    current process group; for a group created elsewhere (e.g. by the user's
    own ``init_process_group``), one built from its rank and world size, with
    ``cuda:<LOCAL_RANK>`` for an NCCL group and ``device`` otherwise; and a
    single-process context on ``device`` when there is no process group.
    """
    if not (tdist.is_available() and tdist.is_initialized()):
        return DistContext(device=_resolve_device(device, 0))
    if _CURRENT is not None and _CURRENT.world_size == tdist.get_world_size():
        return _CURRENT
    rank, world_size = tdist.get_rank(), tdist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    backend = str(tdist.get_backend())
    dev = _resolve_device("cuda" if backend == "nccl" else device, local_rank)
    if world_size <= 1:
        return DistContext(device=dev, backend=backend)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, backend=backend)


def cleanup(ctx: Optional[DistContext] = None) -> None:
    """Destroy the default process group if one exists (safe to call more than once)."""
    global _CURRENT
    _CURRENT = None
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()


def _active(ctx: Optional[DistContext]) -> bool:
    return ctx is not None and ctx.is_distributed


def barrier(ctx: Optional[DistContext]) -> None:
    """Wait until every process reaches this point (no-op for one process)."""
    if not _active(ctx):
        return
    if ctx.backend == "nccl":
        tdist.barrier(device_ids=[ctx.device.index])
    else:
        tdist.barrier()


def broadcast_object(obj: Any, ctx: Optional[DistContext], src: int = 0) -> Any:
    """Rank ``src``'s (picklable) ``obj`` on every rank; ``obj`` itself for one process."""
    if not _active(ctx):
        return obj
    holder = [obj if ctx.rank == src else None]
    tdist.broadcast_object_list(holder, src=src, device=ctx.device if ctx.backend == "nccl" else None)
    return holder[0]


def all_gather_object(obj: Any, ctx: Optional[DistContext]) -> list[Any]:
    """The (picklable) ``obj`` of every rank, in rank order; ``[obj]`` for one process."""
    if not _active(ctx):
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    tdist.all_gather_object(out, obj)
    return out


def all_reduce_sum(values: Sequence[float] | torch.Tensor, ctx: Optional[DistContext]) -> list[float]:
    """Element-wise sum over ranks of a few floats, in float64; the same list on every rank.

    One collective whatever the number of values, so several per-step
    decisions (loss, elapsed time, flags) can share it.
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().reshape(-1).to(torch.float64).cpu().tolist()
    local = [float(v) for v in values]
    if not _active(ctx):
        return local
    t = torch.tensor(local, dtype=torch.float64, device=ctx.device)
    tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
    return t.cpu().tolist()


def all_reduce_mean(value: float, ctx: Optional[DistContext]) -> float:
    """Mean of ``value`` over ranks (identical on every rank); ``value`` for one process."""
    if not _active(ctx):
        return float(value)
    return all_reduce_sum([value], ctx)[0] / ctx.world_size


def rank_seed(seed: int, rank: int, world_size: int = 2) -> int:
    """Seed of rank ``rank``'s random stream, derived from the run's ``seed``.

    ``seed`` itself when ``world_size == 1`` (so single-process runs are
    unchanged); otherwise a 63-bit integer from ``numpy.random.SeedSequence([seed, rank])``,
    the same derivation as ``np.random.default_rng([seed, rank])``, so streams of
    different ranks are independent and each depends only on ``(seed, rank)``.
    """
    if world_size <= 1:
        return int(seed)
    state = np.random.SeedSequence([int(seed), int(rank)]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))
