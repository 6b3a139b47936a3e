"""A model-agnostic training loop (in the spirit of minGPT's ``trainer.py``).

The loop knows nothing about time series or pandas: it gets a module with a
``loss(batch, generator) -> scalar`` method, a function drawing training
batches, and optional fixed validation batches. It does AdamW, gradient
clipping, an exponential moving average (EMA) of the weights, periodic
validation of the EMA weights with checkpoint selection, and stops at
``max_steps`` or ``max_time`` seconds, whichever comes first.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch
from torch import nn

from .errors import TrainingError

logger = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]


@dataclass
class TrainResult:
    """What happened during :meth:`Trainer.fit`."""

    steps: int = 0
    best_step: int = -1
    best_val_loss: float = math.inf
    stopped_reason: str = ""
    elapsed: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


class EMA:
    """Exponential moving average of a module's parameters and buffers.

    Uses the usual warm-up ``decay_t = min(decay, (1 + t) / (10 + t))`` so the
    average is not dominated by the random initialization early on.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.num_updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for e, p in zip(self.module.parameters(), model.parameters()):
            e.mul_(d).add_(p.detach(), alpha=1 - d)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)


class Trainer:
    """Train ``model`` by minimizing ``model.loss(batch, generator)``.

    Parameters
    ----------
    model : nn.Module
        Must define ``loss(batch: dict[str, Tensor], generator) -> Tensor`` (scalar).
    sample_batch : callable
        ``sample_batch(step) -> dict[str, Tensor]``: the training batch of a step,
        already on ``device``. Randomness lives in the caller's generator.
    val_batches : sequence of batches, optional
        Fixed validation batches; the validation loss uses a generator reseeded
        with ``seed`` each time, so the same weights always get the same value.
    learning_rate, weight_decay, grad_clip, ema_decay : float
    max_steps : int
    max_time : float, optional
        Wall-clock budget in seconds for the loop.
    val_every : int
        Validate (and maybe checkpoint) every this many steps and at the end.
    warmup_steps : int
        Linear learning-rate warm-up; afterwards a cosine decay to 10% over the
        budget (the larger of the step and the time fraction used).
    seed : int
        Seed of the torch generator that draws diffusion steps and noise.
    progress : bool
        Show a tqdm progress bar with the loss.
    callbacks : sequence of callables
        ``callback(trainer, step, logs)`` after each validation.
    """

    def __init__(self, model: nn.Module, sample_batch: Callable[[int], Batch], *,
                 val_batches: Optional[Sequence[Batch]] = None, learning_rate: float = 1e-3,
                 weight_decay: float = 1e-4, grad_clip: float = 1.0, ema_decay: float = 0.995,
                 max_steps: int = 1000, max_time: Optional[float] = None, val_every: int = 200,
                 warmup_steps: int = 100, seed: int = 0, device: torch.device | str = "cpu",
                 progress: bool = True, callbacks: Sequence[Callable[..., Any]] = ()) -> None:
        self.model = model
        self.sample_batch = sample_batch
        self.val_batches = list(val_batches or [])
        self.learning_rate = learning_rate
        self.grad_clip = grad_clip
        self.max_steps = max_steps
        self.max_time = max_time
        self.val_every = val_every
        self.warmup_steps = warmup_steps
        self.seed = seed
        self.device = torch.device(device)
        self.progress = progress
        self.callbacks = list(callbacks)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
        self.ema = EMA(model, ema_decay)
        self.best_state: Optional[dict[str, torch.Tensor]] = None
        self.result = TrainResult()

    def _lr(self, step: int, elapsed: float) -> float:
        if step < self.warmup_steps:
            return self.learning_rate * (step + 1) / self.warmup_steps
        frac = step / self.max_steps
        if self.max_time:
            frac = max(frac, elapsed / self.max_time)
        return self.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))

    @torch.no_grad()
    def validate(self) -> float:
        """Mean loss of the EMA weights over the validation batches (fixed noise)."""
        gen = torch.Generator(device=self.device).manual_seed(self.seed + 1)
        total, n = 0.0, 0
        for batch in self.val_batches:
            total += float(self.ema.module.loss(batch, generator=gen)) * len(next(iter(batch.values())))
            n += len(next(iter(batch.values())))
        return total / max(n, 1)

    def _checkpoint(self, step: int, train_loss: float) -> None:
        logs = {"step": float(step), "train_loss": train_loss}
        if self.val_batches:
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
        logger.info("step %d: %s", step, {k: round(v, 5) for k, v in logs.items()})
        for cb in self.callbacks:
            cb(self, step, logs)

    def best_module(self) -> nn.Module:
        """The EMA module holding the selected checkpoint's weights."""
        if self.best_state is not None:
            self.ema.module.load_state_dict(self.best_state)
        return self.ema.module

    def fit(self) -> TrainResult:
        """Run the loop; returns a :class:`TrainResult`.

        Raises
        ------
        TrainingError
            When the loss becomes NaN or infinite; the message names the step.
            :meth:`best_module` still returns the best checkpoint so far.

        A ``KeyboardInterrupt`` stops training early; the best checkpoint so
        far is kept and a warning says so.
        """
        from tqdm.auto import tqdm

        gen = torch.Generator(device=self.device).manual_seed(self.seed)
        self.model.train()
        start = time.perf_counter()
        bar = tqdm(total=self.max_steps, disable=not self.progress, desc="tsdiff fit", leave=False)
        step, running = 0, float("nan")
        reason = "max_steps"
        try:
            while step < self.max_steps:
                elapsed = time.perf_counter() - start
                if self.max_time is not None and elapsed >= self.max_time:
                    reason = "max_time"
                    break
                for g in self.optimizer.param_groups:
                    g["lr"] = self._lr(step, elapsed)
                batch = self.sample_batch(step)
                loss = self.model.loss(batch, generator=gen)
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"training loss became {float(loss)} at step {step}; the best checkpoint so far "
                        f"(step {self.result.best_step}) is kept. Try a lower learning_rate or check the "
                        "data for extreme values.", step=step)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
                self.optimizer.step()
                self.ema.update(self.model)
                value = float(loss.detach())
                running = value if math.isnan(running) else 0.98 * running + 0.02 * value
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4f}")
                if step % self.val_every == 0:
                    self._checkpoint(step, running)
        except KeyboardInterrupt:
            reason = "interrupted"
            logger.warning("training interrupted at step %d; keeping the best checkpoint so far", step)
        except TrainingError:
            self.result.steps = step
            self.result.stopped_reason = "non-finite loss"
            self.result.elapsed = time.perf_counter() - start
            if self.best_state is None and step > 0:
                pass  # nothing finite was validated; the EMA weights stay as they are
            raise
        finally:
            bar.close()
        if step > 0 and (not self.result.history or self.result.history[-1]["step"] != step):
            self._checkpoint(step, running)
        self.result.steps = step
        self.result.stopped_reason = reason
        self.result.elapsed = time.perf_counter() - start
        self.model.eval()
        return self.result
