"""Tests of tsdiff.distillation: the few-step student of a deterministic teacher sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tsdiff.config import TSDiffConfig
from tsdiff.diffusion import DPMSolverSampler, sample_loop
from tsdiff.distillation import (
    STUDENT_TAIL_LENGTH,
    StudentDenoiser,
    TeacherTrajectories,
    _pairs,
    check_student_steps,
    check_student_tail,
    distill,
    horizon_weights,
    jump,
    pair_weight,
)
from tsdiff.model import TSDiffModel

H, C = 8, 16


def _config(**kw) -> TSDiffConfig:
    base = dict(prediction_length=H, context_length=C, freq="h", lags=(), tail_length=8, hidden_channels=8,
                channel_mults=(1, 2), embedding_dim=16, encoder_channels=8)
    return TSDiffConfig(**{**base, **kw})


class ExactGaussian(nn.Module):
    """The true noise prediction for x0 ~ N(0, s^2), whatever the conditioning:
    E[eps | x_t] = sqrt(1 - abar) x_t / (abar s^2 + 1 - abar)."""

    def __init__(self, schedule, s: float) -> None:
        super().__init__()
        self.ac = schedule.alphas_cumprod.double()
        self.s = s

    def forward(self, x_t, t, seq, emb, extra=None):
        a2 = self.ac[t.reshape(-1)[0]]
        return ((1 - a2).sqrt() * x_t / (a2 * self.s ** 2 + 1 - a2)).to(x_t.dtype)


class _Windows:
    """Contexts of mean 0 and std 1 (so samples are in scaled units), no future values."""

    def sample(self, rng: np.random.Generator, n: int) -> dict:
        past = np.tile(np.array([1.0, -1.0], np.float32), (n, C // 2))
        return {"past_target": past, "past_observed": np.ones((n, C), np.float32)}


class _NoHeldOut:
    def __len__(self) -> int:
        return 0


def _gaussian_teacher(s: float) -> TSDiffModel:
    torch.manual_seed(0)
    teacher = TSDiffModel(_config()).eval()
    teacher.denoiser = ExactGaussian(teacher.schedule, s)
    return teacher


def _samples(model: TSDiffModel, sampler, n: int, denoiser=None) -> np.ndarray:
    batch = {k: torch.as_tensor(v) for k, v in _Windows().sample(None, 2).items()}
    out = model.sample(batch, n, sampler, generator=torch.Generator().manual_seed(7), denoiser=denoiser)
    return out.numpy()


def test_student_of_an_exact_gaussian_teacher_reproduces_its_spread():
    """Issue 12: a student distilled from an exact Gaussian teacher keeps the teacher's std within 5%."""
    s = 0.3
    teacher = _gaussian_teacher(s)
    teacher_sampler = DPMSolverSampler(teacher.schedule, 20)
    student = distill(teacher, teacher_sampler, _Windows(), _NoHeldOut(), None, seed=0, device=torch.device("cpu"),
                      max_steps=600, steps=(1, 2, 4), windows_per_batch=8)
    ref = _samples(teacher, teacher_sampler, 2000)
    assert ref.std() == pytest.approx(s, rel=0.03)  # the teacher itself: DPM-Solver++ 20 on the exact denoiser
    untrained = StudentDenoiser.from_config(teacher.config, teacher.seq_channels).eval()
    for k in (1, 2, 4):
        sampler = student.sampler(teacher.schedule, k)
        out = _samples(teacher, sampler, 2000, denoiser=student.denoiser(sampler))
        assert out.std() / ref.std() == pytest.approx(1.0, abs=0.05), k
        assert abs(out.mean()) < 0.05 * s
        # The test can fail: the same network before distillation is far off (the untrained student
        # outputs v = 0, i.e. x0 = sqrt(abar_T) x_T = 0.006 x_T at one step).
        raw = _samples(teacher, sampler, 2000, denoiser=StudentDenoiserAt(untrained, sampler))
        assert abs(raw.std() / ref.std() - 1.0) > 0.2, k


def StudentDenoiserAt(module, sampler):  # noqa: N802 (reads like the class it builds)
    from tsdiff.distillation import StudentAtSteps

    return StudentAtSteps(module, sampler).eval()


def test_student_pairs_and_step_counts():
    assert _pairs(20, (1, 2, 4)) == [(0, 20), (0, 10), (10, 20), (0, 5), (5, 10), (10, 15), (15, 20)]
    assert check_student_steps([4, 1, 2, 2], 20) == (1, 2, 4)
    for bad in ([0], [20], [], [1.5], "2"):
        with pytest.raises(ValueError, match="steps"):
            check_student_steps(bad, 20)


def test_teacher_trajectories_hold_the_teachers_states_and_weights():
    teacher = _gaussian_teacher(0.5)
    sampler = DPMSolverSampler(teacher.schedule, 20)
    gen = torch.Generator().manual_seed(3)
    batches = TeacherTrajectories(teacher, sampler, (1, 2), lambda: _Windows().sample(None, 3), 4,
                                  torch.device("cpu"), gen, examples=6, reuse=2)
    b = batches.from_inputs({k: torch.as_tensor(v) for k, v in _Windows().sample(None, 3).items()})
    rows = 3 * 4
    assert b["k_index"].tolist() == [0] * rows + [1] * 2 * rows   # pair (0, 20) trains k=1, the others k=2
    # Training batches: `examples` per update, an equal share per step count; the 12 one-step examples,
    # passed over twice, serve 2 * 12 / 3 = 8 updates before new trajectories are drawn.
    served = [batches() for _ in range(8)]
    assert all(len(u["z"]) == 6 and ((u["t_next"] == -1) & (u["t"] == 999)).sum() == 3 for u in served)
    assert len(batches._queue) == 0 and len(batches()["z"]) == 6 and len(batches._queue) == 7
    assert b["z"].shape == (3 * rows, H) and b["seq"].shape[0] == 3 and b["group"].max() == 2
    # Pair (0, 20) of the 1-step student: from x_T to the teacher's final sample.
    x_T, final = b["z"][:rows], b["target"][:rows]
    again = sample_loop(lambda x, t: teacher.denoiser(x, t, None, None), (rows, H), sampler,
                        x_T=x_T)
    torch.testing.assert_close(final, again)
    assert b["t"][:rows].eq(999).all() and b["t_next"][:rows].eq(-1).all()
    assert float(b["weight"][0]) == pytest.approx(1.0)   # the final sample's error counts fully
    mid = b["t_next"][rows]
    assert mid == sampler.timesteps()[10] and float(b["weight"][rows]) < 1.0
    assert pair_weight(0.0, 1.0) == pytest.approx(0.09)
    with pytest.raises(ValueError, match="deterministic"):
        from tsdiff.diffusion import DDPMSampler

        TeacherTrajectories(teacher, DDPMSampler(teacher.schedule), (1,), lambda: {}, 1, torch.device("cpu"), gen)


@pytest.mark.parametrize("horizon", [3, 7])
def test_horizon_weights_are_the_inverse_pooled_spread(horizon):
    """Weights ``mean(s) / s_h`` of the spread pooled over windows, clamped, mean 1; computed here independently
    from known per-step stds (many windows, so the pooled estimate is close to the truth)."""
    gen = torch.Generator().manual_seed(0)
    true_s = torch.linspace(0.1, 0.4, horizon)
    x0 = torch.randn(4000, 2, horizon, generator=gen) * true_s + torch.randn(4000, 1, horizon, generator=gen)
    w = horizon_weights(x0)
    # Per window the paths' own mean is removed: the window offsets (std 1) do not enter the spread.
    expect = (1.0 / true_s) / (1.0 / true_s).mean()
    torch.testing.assert_close(w, expect, rtol=0.06, atol=0.0)
    assert w.shape == (horizon,) and float(w.mean()) == pytest.approx(1.0)
    assert float(w[0]) > float(w[-1])  # the sharpest step weighs most
    # Clamped to [floor, 1 / floor] before normalizing: a step 100x sharper gets 4x the mean-spread weight, not 100x.
    s = torch.ones(horizon)
    s[0] = 0.01
    clamped = horizon_weights(torch.randn(4000, 2, horizon, generator=gen) * s)
    raw = (s.mean() / s).clamp(0.25, 4.0)
    torch.testing.assert_close(clamped, raw / raw.mean(), rtol=0.06, atol=0.0)
    torch.testing.assert_close(horizon_weights(torch.randn(5, 1, horizon)), torch.ones(horizon))


def test_the_loss_weights_each_horizon_step():
    """A miss at one step costs its step weight: the batch's ``step_weight`` enters the student's loss."""
    teacher = _gaussian_teacher(0.5)
    sampler = DPMSolverSampler(teacher.schedule, 20)
    batches = TeacherTrajectories(teacher, sampler, (1,), lambda: _Windows().sample(None, 3), 4,
                                  torch.device("cpu"), torch.Generator().manual_seed(3))
    b = batches.from_inputs({k: torch.as_tensor(v) for k, v in _Windows().sample(None, 3).items()})
    assert b["step_weight"].shape == (H,)
    torch.testing.assert_close(b["step_weight"], horizon_weights(b["target"].reshape(3, 4, H)))
    assert "step_weight" in batches()  # and in the training batches
    plain = TeacherTrajectories(teacher, sampler, (1,), lambda: _Windows().sample(None, 3), 4, torch.device("cpu"),
                                torch.Generator().manual_seed(3), horizon_weighting=False)
    assert "step_weight" not in plain.from_inputs({k: torch.as_tensor(v) for k, v in _Windows().sample(None, 3).items()})
    torch.manual_seed(0)
    student = StudentDenoiser.from_config(teacher.config, teacher.seq_channels)
    g = b["group"]
    with torch.no_grad():  # targets where the student lands: no miss, then a miss of 0.1 at one step
        v = student(b["z"], b["t"], b["t_next"], b["seq"][g], b["emb"][g])
        hit = jump(b["z"], v, b["a_t"][:, None], b["b_t"][:, None], b["a_next"][:, None], b["b_next"][:, None],
                   student.signal_floor, student.prediction)
        b["step_weight"] = torch.tensor([3.0] + [1.0] * (H - 1))
        losses = []
        for h in (None, 0, 1):
            b["target"] = hit.clone()
            if h is not None:
                b["target"][:, h] += 0.1
            losses.append(float(student.loss(b)))
    assert losses[0] == pytest.approx(0.0, abs=1e-10)
    assert losses[1] == pytest.approx(3.0 * 0.01 / H, rel=1e-4)   # the step weighted 3x costs 3x
    assert losses[2] == pytest.approx(0.01 / H, rel=1e-4)


def test_student_starts_as_the_teachers_network():
    torch.manual_seed(1)
    model = TSDiffModel(_config(lags=(4,)))
    nn.init.normal_(model.denoiser.unet.out_conv.weight, std=0.1)
    student = StudentDenoiser.from_teacher(model.denoiser)
    x, seq, emb = torch.randn(6, H), torch.randn(6, model.seq_channels, 16), torch.randn(3, 16)
    t = torch.tensor([500])
    torch.testing.assert_close(student(x, t, torch.tensor([-1]), seq, emb), model.denoiser(x, t, seq, emb))
    student.net.unet.stem.weight.data.add_(1.0)  # a copy: training the student leaves the teacher alone
    assert not torch.allclose(student(x, t, torch.tensor([-1]), seq, emb), model.denoiser(x, t, seq, emb))


@pytest.mark.parametrize("cut", [2, 6])
def test_a_short_tail_student_runs_the_network_on_the_window_end(cut):
    """tail_cut drops the window's first positions: the student is its network on ``seq[..., cut:]``,
    the same through :meth:`precompute` (the sampling path) as through the plain call (the training path)."""
    torch.manual_seed(2)
    model = TSDiffModel(_config(lags=(4,)))
    nn.init.normal_(model.denoiser.unet.out_conv.weight, std=0.1)
    student = StudentDenoiser.from_teacher(model.denoiser, tail_cut=cut).eval()
    W = 8 + H
    x, emb = torch.randn(6, H), torch.randn(3, 16)
    seq = torch.randn(3, model.seq_channels, W).repeat_interleave(2, dim=0)  # 3 series x 2 paths
    t, t_next = torch.tensor([500]), torch.tensor([-1])
    with torch.no_grad():
        out = student(x, t, t_next, seq, emb)
        want = model.denoiser(x, t, seq[..., cut:], emb)  # from_teacher: the teacher's weights, target MLP at 0
        torch.testing.assert_close(out, want)
        assert not torch.allclose(out, model.denoiser(x, t, seq, emb))  # the tail does reach the horizon
        shared = student.precompute(seq[::2])  # one row per series
        torch.testing.assert_close(student(x, t, t_next, shared, emb), out, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="tail_cut must be an int >= 0"):
        StudentDenoiser.from_teacher(model.denoiser, tail_cut=-1)


def test_check_student_tail_keeps_the_patch_and_downsampling_grid():
    cfg = _config(tail_length=10, channel_mults=(1, 2, 2))  # multiple 4: tails 10, 6, 2
    assert check_student_tail(None, cfg) == 10  # the teacher's, when it is shorter than STUDENT_TAIL_LENGTH
    assert [check_student_tail(v, cfg) for v in (10, 6, 2)] == [10, 6, 2]
    for bad in (0, 4, 8, 11, -2, 2.0, True):
        with pytest.raises(ValueError, match=r"student_tail_length must be one of \[2, 6, 10\].*tail_length 10"):
            check_student_tail(bad, cfg)
    assert check_student_tail(0, _config(tail_length=8, patch_size=2)) == 0  # multiple 2 * 2
    # The default: the longest allowed tail of at most STUDENT_TAIL_LENGTH (32) positions.
    assert STUDENT_TAIL_LENGTH == 32
    for full, mults, want in [(48, (1, 2, 2), 32), (50, (1, 2, 2), 30), (45, (1, 2, 2), 29), (33, (1, 2), 31),
                              (64, (1, 2, 2, 2), 32), (30, (1, 2, 2), 30), (24, (1, 2), 24)]:
        assert check_student_tail(None, _config(context_length=64, tail_length=full, channel_mults=mults)) == want


def test_distill_with_a_short_tail_trains_a_student_that_drops_it():
    teacher = TSDiffModel(_config()).eval()
    sampler = DPMSolverSampler(teacher.schedule, num_steps=6)
    out = distill(teacher, sampler, _Windows(), _NoHeldOut(), None, seed=0, device=torch.device("cpu"),
                  max_steps=2, steps=(1, 2), tail_length=0)
    assert out.module.tail_cut == 8 and out.to_payload()["tail_cut"] == 8
    samples = _samples(teacher, out.sampler(teacher.schedule, 2), 5, denoiser=out.denoiser(out.sampler(
        teacher.schedule, 2)))
    assert samples.shape == (2, 5, H) and np.isfinite(samples).all()
    with pytest.raises(ValueError, match="student_tail_length must be one of"):
        distill(teacher, sampler, _Windows(), _NoHeldOut(), None, seed=0, device=torch.device("cpu"),
                max_steps=2, tail_length=3)


def test_trajectories_condition_exactly_as_the_teacher():
    """The student's targets are the teacher's own samples: the teacher's condition() of the windows, its network
    over the conditioning channels of each series, from the same x_T; the batch carries that conditioning."""
    torch.manual_seed(1)
    teacher = TSDiffModel(_config(lags=(4,))).eval()
    nn.init.normal_(teacher.denoiser.unet.out_conv.weight, std=0.1)
    sampler = DPMSolverSampler(teacher.schedule, 20)
    rng = np.random.default_rng(0)
    inputs = {"past_target": torch.as_tensor(rng.normal(5.0, 2.0, (3, C)), dtype=torch.float32),
              "past_observed": torch.ones(3, C)}
    b = TeacherTrajectories(teacher, sampler, (1, 2), None, 4, torch.device("cpu"),
                            torch.Generator().manual_seed(5)).from_inputs(inputs)
    cond, _, _ = teacher.condition(inputs)
    torch.testing.assert_close(b["seq"], cond.seq)
    torch.testing.assert_close(b["emb"], cond.emb)
    rows = 3 * 4
    with torch.no_grad():
        again = sample_loop(lambda x, t: teacher.denoiser(x, t[:1], cond.seq.repeat_interleave(4, dim=0), cond.emb),
                            (rows, H), sampler, x_T=b["z"][:rows])
    torch.testing.assert_close(b["target"][:rows], again, rtol=1e-5, atol=1e-5)
    assert again.std() > 0.05  # a network that does something: another conditioning would change the target
    other = {**inputs, "past_target": inputs["past_target"].flip(1)}
    cond2, _, _ = teacher.condition(other)
    with torch.no_grad():
        moved = sample_loop(lambda x, t: teacher.denoiser(x, t[:1], cond2.seq.repeat_interleave(4, dim=0), cond2.emb),
                            (rows, H), sampler, x_T=b["z"][:rows])
    assert not torch.allclose(moved, again, atol=1e-4)


def test_distill_honours_max_time_progress_and_prediction(capfd):
    teacher = _gaussian_teacher(0.3)
    sampler = DPMSolverSampler(teacher.schedule, 20)
    cpu = torch.device("cpu")
    quiet = distill(teacher, sampler, _Windows(), _NoHeldOut(), None, seed=0, device=cpu, max_steps=500,
                    max_time=1e-6, steps=(1,), windows_per_batch=2, paths_per_window=2)
    assert quiet.train_result.stopped_reason == "max_time" and quiet.train_result.steps < 500
    assert capfd.readouterr().err == ""  # progress=False (the default) writes nothing
    eps = distill(teacher, sampler, _Windows(), _NoHeldOut(), None, seed=0, device=cpu, max_steps=2, steps=(2,),
                  windows_per_batch=2, paths_per_window=2, progress=True, prediction="eps")
    assert "tsdiff distill" in capfd.readouterr().err
    assert eps.module.prediction == "eps" and eps.sampler(teacher.schedule, 2).prediction == "eps"
    assert quiet.sampler(teacher.schedule, None).prediction == "v"
    with pytest.raises(ValueError, match="prediction"):
        distill(teacher, sampler, _Windows(), _NoHeldOut(), None, seed=0, device=cpu, max_steps=1, prediction="x0")


def test_distill_draws_many_windows_with_few_paths_each():
    """The default trajectory batches: WINDOWS_PER_BATCH contexts x PATHS_PER_WINDOW noises (many contexts, few
    paths: the student's held-out loss on a trained teacher was limited by the contexts it saw)."""
    from tsdiff.distillation import PATHS_PER_WINDOW, WINDOWS_PER_BATCH

    drawn: list[int] = []

    class Counting(_Windows):
        def sample(self, rng, n):
            drawn.append(n)
            return super().sample(rng, n)

    teacher = _gaussian_teacher(0.3)
    distill(teacher, DPMSolverSampler(teacher.schedule, 20), Counting(), _NoHeldOut(), None, seed=0,
            device=torch.device("cpu"), max_steps=2, steps=(1,))
    assert drawn and set(drawn) == {WINDOWS_PER_BATCH}
    assert WINDOWS_PER_BATCH >= 4 * PATHS_PER_WINDOW
