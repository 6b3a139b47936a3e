"""Single-process tests of the model-agnostic :class:`tsdiff.training.Trainer`.

Every model here is a toy ``nn.Module`` with a ``loss(batch, generator)``
method, so the tests run in well under a second each.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Optional

import numpy as np
import pytest
import torch
from torch import nn

from tsdiff.distributed import DistContext
from tsdiff.errors import TrainingError
from tsdiff.training import EMA, LossModule, Trainer, TrainResult

D = 4
W_TRUE = np.array([1.5, -2.0, 0.5, 3.0], dtype=np.float32)


class Regression(nn.Module):
    """Linear regression; the generator adds label noise so seeding matters."""

    def __init__(self, d: int = D, noise: float = 0.0) -> None:
        super().__init__()
        self.lin = nn.Linear(d, 1)
        self.noise = noise

    def loss(self, batch: dict[str, torch.Tensor], generator: Optional[torch.Generator] = None) -> torch.Tensor:
        y = batch["y"]
        if self.noise:
            y = y + self.noise * torch.randn(y.shape, generator=generator)
        return ((self.lin(batch["x"]).squeeze(-1) - y) ** 2).mean()


def regression_batches(seed: int = 0, batch_size: int = 32):
    rng = np.random.default_rng(seed)

    def sample_batch(step: int) -> dict[str, torch.Tensor]:
        x = rng.normal(size=(batch_size, D)).astype(np.float32)
        return {"x": torch.from_numpy(x), "y": torch.from_numpy(x @ W_TRUE + 0.5)}

    return sample_batch


def make_model(seed: int = 0, **kwargs) -> Regression:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Regression(**kwargs)


def fixed_batch(seed: int = 123, n: int = 256) -> dict[str, torch.Tensor]:
    return regression_batches(seed, n)(0)


def test_loss_decreases_on_toy_regression() -> None:
    model = make_model()
    data = fixed_batch()
    with torch.no_grad():
        before = float(model.loss(data))
    trainer = Trainer(model, regression_batches(), learning_rate=0.05, max_steps=150, val_every=50,
                      warmup_steps=5, ema_decay=0.9, progress=False)
    result = trainer.fit()
    assert isinstance(result, TrainResult)
    assert result.steps == 150 and result.stopped_reason == "max_steps"
    assert [h["step"] for h in result.history] == [50.0, 100.0, 150.0]
    train_losses = [h["train_loss"] for h in result.history]
    assert train_losses[-1] < train_losses[0]
    after = float(trainer.best_module().loss(data))
    assert after < 0.05 * before
    assert not model.training  # left in eval mode


def test_ema_matches_hand_computation() -> None:
    model = nn.Linear(1, 1, bias=False)
    model.register_buffer("counter", torch.zeros(()))
    with torch.no_grad():
        model.weight.fill_(2.0)
    ema = EMA(model, decay=0.5)
    assert ema.module.weight.requires_grad is False
    expected = 2.0
    for t, value in enumerate([4.0, -1.0, 10.0, 3.0], start=1):
        with torch.no_grad():
            model.weight.fill_(value)
            model.counter.fill_(float(t))
        ema.update(model)
        d = min(0.5, (1 + t) / (10 + t))  # 2/11, 3/12, 4/13, then capped at 0.5 from t = 8 only
        expected = d * expected + (1 - d) * value
        assert ema.num_updates == t
        assert float(ema.module.weight) == pytest.approx(expected, rel=1e-6)
        assert float(ema.module.counter) == t  # buffers are copied, not averaged
    # Hand value of the first update: 2/11 * 2 + 9/11 * 4.
    first = EMA(nn.Linear(1, 1, bias=False), decay=0.995)
    src = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        first.module.weight.fill_(2.0)
        src.weight.fill_(4.0)
    first.update(src)
    assert float(first.module.weight) == pytest.approx(2 / 11 * 2 + 9 / 11 * 4, rel=1e-6)


def test_max_time_stops_early() -> None:
    base = regression_batches()

    def slow_batch(step: int) -> dict[str, torch.Tensor]:
        time.sleep(0.01)
        return base(step)

    trainer = Trainer(make_model(), slow_batch, max_steps=100_000, max_time=0.25, val_every=10_000,
                      progress=False)
    start = time.perf_counter()
    result = trainer.fit()
    assert time.perf_counter() - start < 5.0
    assert result.stopped_reason == "max_time"
    assert 0 < result.steps < 100_000
    assert result.elapsed >= 0.25
    assert result.best_step == result.steps  # final checkpoint taken at the stop
    assert result.history[-1]["step"] == result.steps


class NaNAt(Regression):
    """Finite loss until the batch says otherwise."""

    def loss(self, batch, generator=None):
        out = super().loss(batch, generator)
        if bool(batch["bad"]):
            out = out * float("nan")
        return out


def test_nan_loss_raises_and_keeps_last_finite_best() -> None:
    base = regression_batches()
    bad_step = 5

    def sample_batch(step: int) -> dict[str, torch.Tensor]:
        return {**base(step), "bad": torch.tensor(step == bad_step)}

    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def remember(trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        snapshots[step] = copy.deepcopy(trainer.ema.module.state_dict())

    trainer = Trainer(NaNAt(), sample_batch, max_steps=50, val_every=2,
                      progress=False, callbacks=[remember])
    with pytest.raises(TrainingError, match=f"at step {bad_step}") as info:
        trainer.fit()
    assert info.value.step == bad_step
    assert isinstance(info.value, RuntimeError)
    assert trainer.result.stopped_reason == "non-finite loss"
    assert trainer.result.steps == bad_step
    assert trainer.result.best_step == 4
    best = trainer.best_module()
    assert all(p.requires_grad for p in best.parameters())  # the frozen average is handed out trainable
    for key, value in best.state_dict().items():
        assert torch.isfinite(value).all()
        assert torch.equal(value, snapshots[4][key])
    assert math.isfinite(float(best.loss(fixed_batch() | {"bad": torch.tensor(False)})))


def test_keyboard_interrupt_in_sample_batch_keeps_usable_best() -> None:
    base = regression_batches()
    k = 7

    def sample_batch(step: int) -> dict[str, torch.Tensor]:
        if step == k:
            raise KeyboardInterrupt
        return base(step)

    val = [fixed_batch(7, 64)]
    trainer = Trainer(make_model(), sample_batch, val_batches=val, max_steps=100, val_every=3, progress=False)
    result = trainer.fit()
    assert result.stopped_reason == "interrupted"
    assert result.steps == k
    assert [h["step"] for h in result.history] == [3.0, 6.0, 7.0]  # a final validation at the interrupt
    assert result.best_step in (3, 6, 7)
    best = trainer.best_module()
    loss = float(best.loss(fixed_batch()))
    assert math.isfinite(loss)
    assert result.best_val_loss == pytest.approx(min(h["val_loss"] for h in result.history))


class ScriptedVal(nn.Module):
    """Training loss (w - 1)^2; validation loss read from a table indexed by the step.

    The buffer ``steps`` counts training-loss calls; the EMA copies buffers, so
    the EMA module evaluated at step s reports ``VAL_BY_STEP[s]``.
    """

    VAL_BY_STEP = {2: 5.0, 4: 3.0, 6: 1.0, 8: 2.0, 10: 4.0}

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def loss(self, batch, generator=None):
        if self.training:
            self.steps += 1
            return ((self.w - 1.0) ** 2).sum()
        return torch.tensor(self.VAL_BY_STEP[int(self.steps)]) + 0.0 * self.w.sum()


def test_validation_selects_lowest_val_loss_step() -> None:
    model = ScriptedVal()
    trainer = Trainer(model, lambda step: {"x": torch.zeros(1)}, val_batches=[{"x": torch.zeros(3)}],
                      max_steps=10, val_every=2, progress=False)
    result = trainer.fit()
    assert [h["val_loss"] for h in result.history] == [5.0, 3.0, 1.0, 2.0, 4.0]
    assert result.best_step == 6
    assert result.best_val_loss == 1.0
    best = trainer.best_module()
    assert int(best.steps) == 6  # the weights (and buffers) of step 6 are restored
    assert int(model.steps) == 10


class Steep(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3))

    def loss(self, batch, generator=None):
        return 1000.0 * (self.w * torch.tensor([1.0, 2.0, 3.0])).sum()


def test_gradient_clipping_is_on_by_default() -> None:
    model = Steep()
    trainer = Trainer(model, lambda step: {"x": torch.zeros(1)}, max_steps=1, progress=False)
    assert trainer.grad_clip == 1.0
    trainer.fit()
    unclipped = 1000.0 * math.sqrt(1 + 4 + 9)
    assert unclipped > trainer.grad_clip
    norm = float(torch.linalg.vector_norm(model.w.grad))
    assert norm <= trainer.grad_clip + 1e-6
    assert norm == pytest.approx(1.0, rel=1e-5)


def _train(seed: int, dist: Optional[DistContext] = None) -> dict[str, torch.Tensor]:
    model = make_model(seed=1, noise=0.3)
    trainer = Trainer(model, regression_batches(seed), val_batches=[fixed_batch(5, 32)], max_steps=20,
                      val_every=5, warmup_steps=2, seed=seed, progress=False, dist=dist)
    trainer.fit()
    return {k: v.clone() for k, v in trainer.best_module().state_dict().items()} | {
        "model." + k: v.clone() for k, v in model.state_dict().items()}


def test_same_seed_gives_identical_weights() -> None:
    a, b, c = _train(0), _train(0), _train(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_single_process_context_is_plain_training() -> None:
    a = _train(3)
    b = _train(3, dist=DistContext())
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_loss_module_forwards_to_loss() -> None:
    model = make_model()
    batch = fixed_batch()
    adapter = LossModule(model)
    assert list(adapter.parameters()) == list(model.parameters())
    assert torch.equal(adapter(batch), model.loss(batch))


class DropoutRegression(Regression):
    """Regression with dropout: its masks come from torch's global RNG, which the trainer forks."""

    def __init__(self) -> None:
        super().__init__(noise=0.3)
        self.drop = nn.Dropout(0.2)

    def loss(self, batch: dict[str, torch.Tensor], generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return super().loss({"x": self.drop(batch["x"]), "y": batch["y"]}, generator)


def test_learning_rate_depends_on_the_step_only() -> None:
    """max_time is a stop, not an input of the schedule: a slow run gets the same LR at each step."""
    def lrs(max_time: Optional[float], delay: float) -> list[float]:
        seen: list[float] = []
        batches = regression_batches()

        def slow_batch(step: int) -> dict[str, torch.Tensor]:
            time.sleep(delay)
            if step:
                seen.append(trainer.optimizer.param_groups[0]["lr"])
            return batches(step)

        trainer = Trainer(make_model(), slow_batch, max_steps=12, warmup_steps=2, max_time=max_time,
                          val_every=100, progress=False)
        trainer.fit()
        return seen

    assert lrs(max_time=0.2, delay=0.01) == lrs(max_time=None, delay=0.0)


def test_state_dict_resume_equals_uninterrupted_run() -> None:
    """Stop at step 7 (KeyboardInterrupt), restore the step-5 state into fresh objects, finish: same weights."""
    def run(stop_at: Optional[int] = None, state: Optional[dict] = None) -> tuple[Trainer, list]:
        rng = np.random.default_rng(0)
        saved: list = []

        def sample_batch(step: int) -> dict[str, torch.Tensor]:
            if step == stop_at:
                raise KeyboardInterrupt
            x = rng.normal(size=(16, D)).astype(np.float32)
            return {"x": torch.from_numpy(x), "y": torch.from_numpy(x @ W_TRUE)}

        def checkpoint(trainer: Trainer, step: int) -> None:
            saved.append(copy.deepcopy((trainer.state_dict(), rng.bit_generator.state)))

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            model = DropoutRegression()
        trainer = Trainer(model, sample_batch, val_batches=[fixed_batch(5, 32)], max_steps=20, val_every=3,
                          warmup_steps=2, seed=4, progress=False, checkpoint_fn=checkpoint, checkpoint_every=5)
        if state is not None:
            trainer.load_state_dict(state[0])
            rng.bit_generator.state = state[1]
        trainer.fit()
        return trainer, saved

    straight, _ = run()
    _, saved = run(stop_at=7)
    assert [s[0]["step"] for s in saved] == [5]
    resumed, _ = run(state=saved[0])
    assert resumed.result.steps == 20 and resumed.result.history == straight.result.history
    for a, b in ((straight.model, resumed.model), (straight.best_module(), resumed.best_module())):
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    # The caller's global RNG is untouched by the forked one.
    before = torch.get_rng_state()
    run()
    assert torch.equal(before, torch.get_rng_state())
