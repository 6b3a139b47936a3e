"""A model-agnostic training loop (in the spirit of minGPT's ``trainer.py``).

The loop knows nothing about time series or pandas: it gets a module with a
``loss(batch, generator) -> scalar`` method, a function drawing training
batches, and optional fixed validation batches. It does AdamW, gradient
clipping, an exponential moving average (EMA) of the weights, periodic
validation of the EMA weights with checkpoint selection, and stops at
``max_steps`` or ``max_time`` seconds, whichever comes first. The learning-rate
schedule depends on the step only (``max_time`` is a stop, never an input), so
with ``max_steps`` and a seed a run is reproducible bit-for-bit on a CPU.

Resumable training: :meth:`Trainer.state_dict` holds everything the loop's
future depends on (weights, EMA, optimizer, step, the noise generator's and the
forked global RNG's states, best-so-far, history), :meth:`Trainer.load_state_dict`
restores it, and ``checkpoint_fn`` is called every ``checkpoint_every`` steps
so the caller can write it; a resumed run is identical to an uninterrupted one.

Data-parallel training: given a multi-process :class:`~tsdiff.distributed.DistContext`
(see :func:`tsdiff.distributed.init_from_env` and ``docs/distributed.md``), the
model's ``loss`` is called through :class:`LossModule` wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel`, which averages the
gradients over processes. Each process draws its own batches (``sample_batch``
should use a per-rank random stream), and every decision that ends or shapes
the run is agreed over processes with one small all-reduce per step: the mean
loss (so a non-finite loss on any process stops all of them at the same step),
and the mean elapsed time (so the ``max_time`` stop is the same everywhere). Validation shards the rows of each validation
batch over processes and all-reduces the sums, so the best-step decision is
identical on every process. Only rank 0 shows the progress bar and logs.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch
from torch import nn

from .distributed import DistContext, all_reduce_sum, barrier, rank_seed
from .errors import TrainingError

logger = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]

__all__ = ["Batch", "TrainResult", "EMA", "LossModule", "Trainer"]


@dataclass
class TrainResult:
    """What happened during :meth:`Trainer.fit`.

    Attributes
    ----------
    steps : int
        Optimizer steps taken.
    best_step : int
        Step of the selected checkpoint (-1: none).
    best_val_loss : float
        Its validation loss (``inf`` without validation batches).
    stopped_reason : str
        ``"max_steps"``, ``"max_time"``, ``"interrupted"`` or ``"non-finite loss"``.
    elapsed : float
        Wall-clock seconds of the loop.
    history : list of dict
        One entry per validation: ``step``, ``train_loss`` and ``val_loss`` when validating.
    world_size : int
        Number of data-parallel processes that trained the model.
    """

    steps: int = 0
    best_step: int = -1
    best_val_loss: float = math.inf
    stopped_reason: str = ""
    elapsed: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    world_size: int = 1


class EMA:
    """Exponential moving average of a module's parameters and buffers.

    Uses the usual warm-up ``decay_t = min(decay, (1 + t) / (10 + t))`` so the
    average is not dominated by the random initialization early on
    (``t`` counts the updates, starting at 1).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.num_updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """``ema = d * ema + (1 - d) * param`` for every parameter; buffers are copied."""
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for e, p in zip(self.module.parameters(), model.parameters()):
            e.mul_(d).add_(p.detach(), alpha=1 - d)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)


class LossModule(nn.Module):
    """Adapter whose ``forward(batch, generator)`` is ``model.loss(batch, generator)``.

    :class:`~torch.nn.parallel.DistributedDataParallel` hooks ``forward``, not
    arbitrary methods, so the trainer wraps this adapter (whose only submodule
    is ``model``, sharing its parameters) rather than the model itself.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Batch, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return self.model.loss(batch, generator=generator)


def _batch_rows(batch: Batch) -> int:
    return len(next(iter(batch.values())))


class Trainer:
    """Train ``model`` by minimizing ``model.loss(batch, generator)``.

    Parameters
    ----------
    model : nn.Module
        Must define ``loss(batch: dict[str, Tensor], generator) -> Tensor`` (scalar),
        and already be on ``device``.
    sample_batch : callable
        ``sample_batch(step) -> dict[str, Tensor]``: the training batch of a step,
        already on ``device``. Randomness lives in the caller's generator. With
        several processes, each process's ``sample_batch`` should draw from its
        own stream (e.g. ``np.random.default_rng([seed, rank])``); the
        effective batch is the union of the processes' batches.
    val_batches : sequence of batches, optional
        Fixed validation batches, the same on every process; the validation loss
        uses a generator reseeded with ``seed`` each time, so the same weights
        always get the same value (for a given number of processes).
    val_fn : callable ``(module) -> float``, optional
        Scores a checkpoint instead of the validation loss (lower is better), e.g.
        the weighted quantile loss of a few sampled forecasts of held-out windows.
    learning_rate, weight_decay, grad_clip, ema_decay : float
    max_steps : int
    max_time : float, optional
        Wall-clock budget in seconds for the loop.
    val_every : int
        Validate (and maybe checkpoint) every this many steps and at the end.
    warmup_steps : int
        Linear learning-rate warm-up; afterwards a cosine decay to 10% at
        ``max_steps``. The schedule depends on the step only.
    seed : int
        Seed of the torch generator that draws diffusion steps and noise
        (process ``r`` of several uses :func:`tsdiff.distributed.rank_seed`).
    device : torch.device or str
    progress : bool
        Show a tqdm progress bar with the loss (rank 0 only).
    callbacks : sequence of callables
        ``callback(trainer, step, logs)`` after each validation. They run on
        every process with identical ``logs``; use ``trainer.dist.is_main`` to
        write files from one process only.
    dist : DistContext, optional
        Data-parallel context from :func:`tsdiff.distributed.init_from_env`.
        None or a single-process context: plain single-process training. Every
        process of the group must build its ``Trainer`` and call :meth:`fit`
        together (construction broadcasts rank 0's weights), and every parameter
        must get a gradient at every step (DDP's ``find_unused_parameters=False``).
    checkpoint_fn : callable, optional
        ``checkpoint_fn(trainer, step)`` every ``checkpoint_every`` steps (after
        that step's validation, if any), on every process; it typically writes
        :meth:`state_dict` to disk from rank 0.
    checkpoint_every : int, optional
        Steps between calls of ``checkpoint_fn`` (default: ``val_every``).
    desc : str, default "tsdiff fit"
        Label of the progress bar.
    """

    def __init__(self, model: nn.Module, sample_batch: Callable[[int], Batch], *,
                 val_batches: Optional[Sequence[Batch]] = None, learning_rate: float = 1e-3,
                 weight_decay: float = 1e-4, grad_clip: float = 1.0, ema_decay: float = 0.995,
                 max_steps: int = 1000, max_time: Optional[float] = None, val_every: int = 200,
                 warmup_steps: int = 100, seed: int = 0, device: torch.device | str = "cpu",
                 progress: bool = True, callbacks: Sequence[Callable[..., Any]] = (),
                 dist: Optional[DistContext] = None,
                 checkpoint_fn: Optional[Callable[["Trainer", int], None]] = None,
                 checkpoint_every: Optional[int] = None,
                 val_fn: Optional[Callable[[nn.Module], float]] = None, desc: str = "tsdiff fit") -> None:
        self.model = model
        self.sample_batch = sample_batch
        self.val_batches = list(val_batches or [])
        self.val_fn = val_fn
        self.learning_rate = learning_rate
        self.grad_clip = grad_clip
        self.max_steps = max_steps
        self.max_time = max_time
        self.val_every = val_every
        self.warmup_steps = warmup_steps
        self.seed = seed
        self.device = torch.device(device)
        self.dist = dist if dist is not None else DistContext(device=self.device)
        self.progress = progress
        self.callbacks = list(callbacks)
        self.desc = desc
        self._ddp: Optional[nn.Module] = None
        if self.dist.is_distributed:
            from torch.nn.parallel import DistributedDataParallel

            device_ids = None
            if self.device.type == "cuda":
                index = self.device.index if self.device.index is not None else torch.cuda.current_device()
                device_ids = [index]
            # Construction broadcasts rank 0's parameters and buffers into `model` (in place),
            # so every process (and the EMA copy below) starts from the same weights.
            self._ddp = DistributedDataParallel(LossModule(model), device_ids=device_ids)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
        self.ema = EMA(model, ema_decay)
        self.best_state: Optional[dict[str, torch.Tensor]] = None
        self.result = TrainResult(world_size=self.dist.world_size)
        self.checkpoint_fn = checkpoint_fn
        self.checkpoint_every = val_every if checkpoint_every is None else int(checkpoint_every)
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be a positive integer, got {checkpoint_every!r}")
        # Loop state, set by fit() as it runs and by load_state_dict() before a resumed fit().
        self.step = 0
        self.running_loss = float("nan")
        self.elapsed_before = 0.0
        self.generator: Optional[torch.Generator] = None
        self._rng_state: Optional[dict[str, Any]] = None
        self._global_rng: Optional[torch.Tensor] = None

    def _lr(self, step: int) -> float:
        """Learning rate of ``step``: linear warm-up, then cosine decay to 10% at ``max_steps`` (step-only)."""
        if step < self.warmup_steps:
            return self.learning_rate * (step + 1) / self.warmup_steps
        frac = step / self.max_steps
        return self.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))

    def _shard(self, batch: Batch) -> Optional[Batch]:
        """This process's contiguous slice of the rows of ``batch`` (None when empty)."""
        if not self.dist.is_distributed:
            return batch
        n, r, w = _batch_rows(batch), self.dist.rank, self.dist.world_size
        lo, hi = n * r // w, n * (r + 1) // w
        if hi <= lo:
            return None
        return {k: v[lo:hi] for k, v in batch.items()}

    @torch.no_grad()
    def validate(self) -> float:
        """Validation score of the EMA weights (lower is better).

        ``val_fn(ema_module)`` when given (e.g. a forecast-skill score; it must
        return the same value on every process); otherwise the mean loss over
        the validation batches (fixed noise).

        With several processes, each process evaluates its slice of the rows
        of every batch and the sums are all-reduced: the value is identical on
        every process (a collective: all processes must call it together).
        """
        if self.val_fn is not None:
            was_training = self.ema.module.training
            self.ema.module.eval()
            try:
                return float(self.val_fn(self.ema.module))
            finally:
                self.ema.module.train(was_training)
        gen = torch.Generator(device=self.device).manual_seed(
            rank_seed(self.seed + 1, self.dist.rank, self.dist.world_size))
        total, n = 0.0, 0
        for batch in self.val_batches:
            part = self._shard(batch)
            if part is None:
                continue
            rows = _batch_rows(part)
            total += float(self.ema.module.loss(part, generator=gen)) * rows
            n += rows
        total, n = all_reduce_sum([total, n], self.dist)
        return total / max(n, 1)

    def _checkpoint(self, step: int, train_loss: float) -> None:
        logs = {"step": float(step), "train_loss": train_loss}
        if self.val_batches or self.val_fn is not None:
            val = self.validate()
            logs["val_loss"] = val
            if math.isfinite(val) and val < self.result.best_val_loss:
                self.result.best_val_loss = val
                self.result.best_step = step
                self.best_state = copy.deepcopy(self.ema.module.state_dict())
        else:
            self.result.best_step = step
            self.best_state = copy.deepcopy(self.ema.module.state_dict())
        self.result.history.append(logs)
        if self.dist.is_main:
            logger.info("step %d: %s", step, {k: round(v, 5) for k, v in logs.items()})
        for cb in self.callbacks:
            cb(self, step, logs)

    @contextlib.contextmanager
    def _forked_global_rng(self) -> Any:
        """Fork torch's global CPU (and this device's CUDA) RNG for the loop; restored on exit."""
        cuda = self.device.type == "cuda"
        index = (self.device.index if self.device.index is not None else torch.cuda.current_device()) if cuda else None
        with torch.random.fork_rng(devices=[index] if cuda else []):
            if self._global_rng is not None:
                torch.set_rng_state(self._global_rng["cpu"])
                if cuda and self._global_rng.get("cuda") is not None:
                    torch.cuda.set_rng_state(self._global_rng["cuda"], index)
            else:
                s = rank_seed(self.seed + 2, self.dist.rank, self.dist.world_size)
                torch.default_generator.manual_seed(s)
                if cuda:
                    with torch.cuda.device(index):
                        torch.cuda.manual_seed(s)
            self._global_rng_device = index
            yield

    def rng_state(self) -> dict[str, Any]:
        """This process's random streams now: the noise generator's and the forked global RNG's.

        Only meaningful while :meth:`fit` runs (e.g. in ``checkpoint_fn``).
        """
        gen = self.generator
        index = getattr(self, "_global_rng_device", None)
        return {"generator": None if gen is None else gen.get_state(),
                "global": {"cpu": torch.get_rng_state(),
                           "cuda": torch.cuda.get_rng_state(index) if index is not None else None}}

    def state_dict(self, rng_state: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """Everything a resumed :meth:`fit` needs to continue as if never stopped.

        Parameters
        ----------
        rng_state : dict, optional
            This process's random streams (default :meth:`rng_state`); under
            several processes the caller may gather each rank's and store them all.

        Returns
        -------
        dict of tensors and plain data (safe for ``torch.load(weights_only=True)``):
        ``model``, ``ema``, ``ema_num_updates``, ``optimizer``, ``step``, ``running_loss``,
        ``elapsed``, ``rng``, ``best_state``, ``best_step``, ``best_val_loss``, ``history``.
        """
        def cpu(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {k: v.detach().cpu().clone() for k, v in sd.items()}

        return {
            "model": cpu(self.model.state_dict()),
            "ema": cpu(self.ema.module.state_dict()),
            "ema_num_updates": int(self.ema.num_updates),
            "optimizer": self.optimizer.state_dict(),
            "step": int(self.step),
            "running_loss": float(self.running_loss),
            "elapsed": float(self.elapsed_before),
            "rng": self.rng_state() if rng_state is None else rng_state,
            "best_state": None if self.best_state is None else cpu(self.best_state),
            "best_step": int(self.result.best_step),
            "best_val_loss": float(self.result.best_val_loss),
            "history": [dict(h) for h in self.result.history],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` before calling :meth:`fit` (which then resumes at ``state["step"]``)."""
        self.model.load_state_dict(state["model"])
        self.ema.module.load_state_dict(state["ema"])
        self.ema.num_updates = int(state["ema_num_updates"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.running_loss = float(state["running_loss"])
        self.elapsed_before = float(state["elapsed"])
        rng = state.get("rng")
        self._rng_state = rng if rng is not None and rng.get("generator") is not None else None
        self._global_rng = None if rng is None else rng.get("global")
        best = state.get("best_state")
        self.best_state = None if best is None else {k: v.to(self.device) for k, v in best.items()}
        self.result.best_step = int(state["best_step"])
        self.result.best_val_loss = float(state["best_val_loss"])
        self.result.history = [dict(h) for h in state["history"]]

    def best_module(self) -> nn.Module:
        """The EMA module holding the selected checkpoint's weights, as an ordinary trainable module (the
        average is kept frozen while it is updated; a copy made to train on, e.g. a distilled student,
        must not inherit that)."""
        if self.best_state is not None:
            self.ema.module.load_state_dict(self.best_state)
        return self.ema.module.requires_grad_(True)

    def fit(self) -> TrainResult:
        """Run the loop; returns a :class:`TrainResult`.

        Raises
        ------
        TrainingError
            When the loss becomes NaN or infinite (on any process: all stop at
            the same step); the message names the step. :meth:`best_module`
            still returns the best checkpoint so far.

        A ``KeyboardInterrupt`` stops training early; the best checkpoint so
        far is kept and a warning says so. With several processes the final
        validation is skipped after an interrupt (the other processes may be
        gone), and the current EMA weights are kept when no checkpoint exists.
        """
        from tqdm.auto import tqdm

        distributed = self.dist.is_distributed
        world = self.dist.world_size
        gen = torch.Generator(device=self.device).manual_seed(rank_seed(self.seed, self.dist.rank, world))
        if self._rng_state is not None:  # resumed: continue the noise stream where the checkpoint left it
            gen.set_state(self._rng_state["generator"])
        self.generator = gen
        forward = self._ddp if self._ddp is not None else LossModule(self.model)
        self.model.train()
        if distributed:
            barrier(self.dist)  # start the clocks together: max_time is measured from here on every rank
        # A resumed run counts the time already spent towards max_time.
        start = time.perf_counter() - self.elapsed_before
        # With a time budget the step total is only an upper bound: show steps and rate, not a percentage.
        # Not a terminal (a log file, CI): one line every few seconds instead of carriage-return frames.
        tty = sys.stderr.isatty()
        bar = tqdm(total=self.max_steps if self.max_time is None else None, initial=self.step,
                   disable=not (self.progress and self.dist.is_main),
                   desc=self.desc, leave=False, mininterval=0.1 if tty else 5.0,
                   file=sys.stderr if tty else _LineStream(sys.stderr))
        step, running = self.step, self.running_loss
        reason = "max_steps"
        # Dropout draws from torch's global RNG: fork it, seeded from the run's seed (or restored
        # from the checkpoint), so training is reproducible and the caller's RNG state is untouched.
        own_rng = contextlib.ExitStack()
        own_rng.enter_context(self._forked_global_rng())
        try:
            while step < self.max_steps:
                elapsed = time.perf_counter() - start
                if not distributed and self.max_time is not None and elapsed >= self.max_time:
                    reason = "max_time"
                    break
                batch = self.sample_batch(step)
                loss = forward(batch, gen)
                if distributed:
                    # One collective agrees on the mean loss and the mean elapsed time.
                    loss_sum, elapsed_sum = all_reduce_sum([float(loss.detach()), elapsed], self.dist)
                    value, elapsed = loss_sum / world, elapsed_sum / world
                    if self.max_time is not None and elapsed >= self.max_time:
                        reason = "max_time"
                        break
                else:
                    value = float(loss.detach())
                if not math.isfinite(value):
                    raise TrainingError(
                        f"training loss became {value} at step {step}; the best checkpoint so far "
                        f"(step {self.result.best_step}) is kept. Try a lower learning_rate or check the "
                        "data for extreme values.", step=step)
                for g in self.optimizer.param_groups:
                    g["lr"] = self._lr(step)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
                self.optimizer.step()
                self.ema.update(self.model)
                running = value if math.isnan(running) else 0.98 * running + 0.02 * value
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4f}", refresh=tty)  # non-TTY: shown at the next timed refresh
                if step % self.val_every == 0:
                    self._checkpoint(step, running)
                if self.checkpoint_fn is not None and step % self.checkpoint_every == 0:
                    self.step, self.running_loss = step, running
                    self.elapsed_before = time.perf_counter() - start
                    self.checkpoint_fn(self, step)
        except KeyboardInterrupt:
            reason = "interrupted"
            if self.dist.is_main:
                logger.warning("training interrupted at step %d; keeping the best checkpoint so far", step)
        except TrainingError:
            self.result.steps = step
            self.result.stopped_reason = "non-finite loss"
            self.result.elapsed = time.perf_counter() - start
            raise
        finally:
            bar.close()
            own_rng.close()
            self.step, self.running_loss = step, running
        if step > 0 and (not self.result.history or self.result.history[-1]["step"] != step):
            if distributed and reason == "interrupted":
                if self.best_state is None:  # no collective here: other processes may be gone
                    self.result.best_step = step
                    self.best_state = copy.deepcopy(self.ema.module.state_dict())
            else:
                self._checkpoint(step, running)
        self.result.steps = step
        self.result.stopped_reason = reason
        self.result.elapsed = time.perf_counter() - start
        self.model.eval()
        return self.result


class _LineStream:
    """File-like wrapper for a non-TTY stream: every progress-bar refresh becomes one plain line."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()
