"""Tests of tsdiff.diffusion.samplers with oracle and analytically optimal denoisers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tsdiff.diffusion import (
    DDIMSampler,
    DDPMSampler,
    DiffusionSchedule,
    DistilledSampler,
    DPMSolverSampler,
    distilled_grid,
    distilled_x0,
    make_betas,
    make_sampler,
    sample_loop,
)
from tsdiff.distillation import jump

T = 100


@pytest.fixture(scope="module")
def sched() -> DiffusionSchedule:
    return DiffusionSchedule(make_betas("linear", T))


def _oracle(sched: DiffusionSchedule, x0: torch.Tensor):
    """eps(x_t, t) = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t): the true noise for a known x0."""
    ac = sched.alphas_cumprod.double()

    def fn(x_t, t):
        assert t.dtype == torch.long and t.shape == (x_t.shape[0],)
        a = ac[t].reshape((-1,) + (1,) * (x_t.ndim - 1)).to(x_t.dtype)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    return fn


def _gaussian_eps(sched: DiffusionSchedule, m: float, s: float):
    """Optimal eps for x0 ~ N(m, s^2): E[eps | x_t] = b (x_t - a m) / (a^2 s^2 + b^2)."""
    ac = sched.alphas_cumprod.double()

    def fn(x_t, t):
        assert bool((t == t[0]).all())  # sample_loop uses one step for the whole batch
        a2 = ac[t[0]].to(x_t.dtype)  # 0-d: avoids a large per-element gather (slow when cores are shared)
        a, b = a2.sqrt(), (1 - a2).sqrt()
        return b * (x_t - a * m) / (a2 * s * s + b * b)

    return fn


def _exact_output_moments(betas: np.ndarray, ts: list[int], m: float, s: float, eta: float, ddpm: bool):
    """Mean/std of the sampler output under the Gaussian-optimal eps, by propagating the (linear-Gaussian)
    recursion in float64 from x_T ~ N(0, 1), written independently from the paper formulas."""
    a = 1 - betas
    ac = np.cumprod(a)
    mu, var = 0.0, 1.0
    for i, t in enumerate(ts):
        tp = ts[i + 1] if i + 1 < len(ts) else -1
        A, B = math.sqrt(ac[t]), math.sqrt(1 - ac[t])
        k = B / (A * A * s * s + B * B)  # eps = k x - k A m
        if ddpm:  # Ho Alg. 2: x' = (x - beta/B eps)/sqrt(alpha) + sigma z
            g = (1 - betas[t] / B * k) / math.sqrt(a[t])
            c = (betas[t] / B * k * A * m) / math.sqrt(a[t])
            sig2 = betas[t] * (1 - ac[t - 1]) / (1 - ac[t]) if t > 0 else 0.0
        else:  # Song eq. 12
            ap = ac[tp] if tp >= 0 else 1.0
            sig2 = eta ** 2 * (1 - ap) / (1 - ac[t]) * (1 - ac[t] / ap)
            d = math.sqrt(max(1 - ap - sig2, 0.0))
            # x0_hat = ((1 - B k) x + B k A m) / A
            g = math.sqrt(ap) * (1 - B * k) / A + d * k
            c = math.sqrt(ap) * B * k * m - d * k * A * m
        mu, var = g * mu + c, g * g * var + sig2
    return mu, math.sqrt(var)


def _ks_2samp(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


# -- timesteps and construction ------------------------------------------------------

def test_ddpm_timesteps(sched):
    assert DDPMSampler(sched).timesteps() == list(range(T - 1, -1, -1))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 20, 33, 50, 99, 100])
def test_ddim_timesteps(sched, n):
    ts = DDIMSampler(sched, num_steps=n).timesteps()
    assert len(ts) == n and len(set(ts)) == n
    assert all(isinstance(t, int) for t in ts)
    assert all(a > b for a, b in zip(ts, ts[1:]))
    assert ts[0] == T - 1
    assert min(ts) >= 0
    if n >= 2:
        assert ts[-1] == 0
    if n == T:
        assert ts == list(range(T - 1, -1, -1))


@pytest.mark.parametrize("kwargs, name", [
    (dict(num_steps=0), "num_steps"), (dict(num_steps=T + 1), "num_steps"), (dict(num_steps=2.5), "num_steps"),
    (dict(num_steps=True), "num_steps"), (dict(eta=-0.1), "eta"), (dict(eta=float("nan")), "eta"),
    (dict(eta="a"), "eta"),
])
def test_ddim_bad_arguments(sched, kwargs, name):
    with pytest.raises(ValueError, match=name):
        DDIMSampler(sched, **kwargs)


def test_bad_constructor_arguments(sched):
    with pytest.raises(ValueError, match="variance"):
        DDPMSampler(sched, variance="learned")
    with pytest.raises(ValueError, match="schedule"):
        DDPMSampler(make_betas("linear", 10))
    with pytest.raises(ValueError, match="schedule"):
        DDIMSampler(None)


def test_make_sampler(sched):
    assert isinstance(make_sampler("ddpm", sched), DDPMSampler)
    assert isinstance(make_sampler("ddpm", sched, steps=T), DDPMSampler)
    ddim = make_sampler("ddim", sched, steps=7, eta=0.5)
    assert isinstance(ddim, DDIMSampler) and ddim.num_steps == 7 and ddim.eta == 0.5
    assert make_sampler("ddim", sched).num_steps == 20
    assert make_sampler("ddim", DiffusionSchedule(make_betas("linear", 5))).num_steps == 5
    with pytest.raises(ValueError, match="sampler"):
        make_sampler("euler", sched)
    with pytest.raises(ValueError, match="steps"):
        make_sampler("ddpm", sched, steps=10)
    with pytest.raises(ValueError, match="steps"):
        make_sampler("ddim", sched, steps=T + 1)
    with pytest.raises(ValueError, match="eta"):
        make_sampler("ddpm", sched, eta=0.5)
    with pytest.raises(ValueError, match="eta"):
        make_sampler("ddim", sched, eta=-1.0)


def test_step_bad_arguments(sched):
    x = torch.zeros(3, 7)
    ddpm, ddim = DDPMSampler(sched), DDIMSampler(sched, 10)
    with pytest.raises(ValueError, match="t_prev"):
        ddpm.step(x, 5, 3, x)
    with pytest.raises(ValueError, match="t must"):
        ddpm.step(x, T, T - 1, x)
    with pytest.raises(ValueError, match="t_prev"):
        ddim.step(x, 5, 5, x)
    with pytest.raises(ValueError, match="t_prev"):
        ddim.step(x, 5, -2, x)
    with pytest.raises(ValueError, match="eps_hat"):
        ddim.step(torch.zeros(3, 8), 5, 2, x)


# -- single steps against the paper formulas ---------------------------------------

@pytest.mark.parametrize("variance", ["posterior", "beta"])
@pytest.mark.parametrize("t", [0, 1, 40, 99])
def test_ddpm_step_matches_algorithm_2(sched, variance, t):
    betas = make_betas("linear", T)
    ac = np.cumprod(1 - betas)
    g = torch.Generator().manual_seed(10)
    x = torch.randn(5, 1, 13, generator=g, dtype=torch.float64)
    e = torch.randn(5, 1, 13, generator=g, dtype=torch.float64)
    out = DDPMSampler(sched, variance=variance).step(e, t, t - 1, x, generator=torch.Generator().manual_seed(11))
    z = torch.randn(5, 1, 13, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    if t == 0:
        sigma2 = 0.0
    elif variance == "posterior":
        sigma2 = (1 - ac[t - 1]) / (1 - ac[t]) * betas[t]
    else:
        sigma2 = betas[t]
    ref = (x - betas[t] / math.sqrt(1 - ac[t]) * e) / math.sqrt(1 - betas[t]) + math.sqrt(sigma2) * z
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("t, t_prev", [(99, 94), (10, 0), (3, -1), (0, -1)])
def test_ddim_step_matches_eq_12(sched, eta, t, t_prev):
    ac = np.cumprod(1 - make_betas("linear", T))
    g = torch.Generator().manual_seed(12)
    x = torch.randn(3, 7, generator=g, dtype=torch.float64)
    e = torch.randn(3, 7, generator=g, dtype=torch.float64)
    out = DDIMSampler(sched, 20, eta=eta).step(e, t, t_prev, x, generator=torch.Generator().manual_seed(13))
    z = torch.randn(3, 7, generator=torch.Generator().manual_seed(13), dtype=torch.float64)
    a_t = ac[t]
    a_p = ac[t_prev] if t_prev >= 0 else 1.0
    sigma = eta * math.sqrt((1 - a_p) / (1 - a_t)) * math.sqrt(1 - a_t / a_p)
    x0 = (x - math.sqrt(1 - a_t) * e) / math.sqrt(a_t)
    ref = math.sqrt(a_p) * x0 + math.sqrt(1 - a_p - sigma ** 2) * e + sigma * z
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


# -- oracle denoiser -----------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 5, 20, 100])
@pytest.mark.parametrize("shape", [(3, 7), (5, 1, 13)])
def test_ddim_eta0_oracle_recovers_x0(sched, n, shape):
    g = torch.Generator().manual_seed(20)
    x0 = 4 * torch.randn(shape, generator=g) + 2  # beyond [-1, 1]: x0 must not be clipped
    out = sample_loop(_oracle(sched, x0), shape, DDIMSampler(sched, n), generator=g)
    assert out.shape == shape and out.dtype == torch.float32
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-4)


@pytest.mark.parametrize("shape", [(3, 7), (5, 1, 13)])
def test_ddim_eta0_oracle_cosine_float64(shape):
    s = DiffusionSchedule(make_betas("cosine", T))  # abar_{T-1} ~ 2e-7: float64 keeps the oracle exact
    g = torch.Generator().manual_seed(21)
    x0 = 3 * torch.randn(shape, generator=g, dtype=torch.float64)
    out = sample_loop(_oracle(s, x0), shape, DDIMSampler(s, 10), generator=g, dtype=torch.float64)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("variance", ["posterior", "beta"])
@pytest.mark.parametrize("shape", [(3, 7), (5, 1, 13)])
def test_ddpm_oracle_ends_at_x0(sched, variance, shape):
    g = torch.Generator().manual_seed(22)
    x0 = 4 * torch.randn(shape, generator=g)
    out = sample_loop(_oracle(sched, x0), shape, DDPMSampler(sched, variance=variance), generator=g)
    # The last step (t = 0) is deterministic and its mean is exactly x0 under the oracle.
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-4)


# -- distributions with a Gaussian data distribution -----------------------------------

M, S, N = 0.5, 0.3, 20_000


def test_ddim_eta1_full_grid_is_ddpm_pathwise(sched):
    fn = _gaussian_eps(sched, M, S)
    a = sample_loop(fn, (N, 1), DDPMSampler(sched), generator=torch.Generator().manual_seed(30))
    b = sample_loop(fn, (N, 1), DDIMSampler(sched, T, eta=1.0), generator=torch.Generator().manual_seed(30))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_ddim_eta1_full_grid_matches_ddpm_in_distribution(kind):
    betas = make_betas(kind, T)
    s = DiffusionSchedule(betas)
    fn = _gaussian_eps(s, M, S)
    a = sample_loop(fn, (N,), DDPMSampler(s), generator=torch.Generator().manual_seed(31)).double().numpy()
    b = sample_loop(fn, (N,), DDIMSampler(s, T, eta=1.0),
                    generator=torch.Generator().manual_seed(32)).double().numpy()
    mu, sd = _exact_output_moments(betas, list(range(T - 1, -1, -1)), M, S, 1.0, ddpm=True)
    assert 0.27 < sd < 0.3  # fixed-variance DDPM slightly under-disperses: a check of the reference itself
    se_mu, se_sd = sd / math.sqrt(N), sd / math.sqrt(2 * N)
    for x in (a, b):
        assert x.mean() == pytest.approx(mu, abs=5 * se_mu)
        assert x.std() == pytest.approx(sd, abs=5 * se_sd)
    assert _ks_2samp(a, b) < 0.025  # 1.63 * sqrt(2 / N) = 0.016 at the 1% level


@pytest.mark.parametrize("n, eta", [(20, 0.0), (10, 0.5), (100, 0.0)])
def test_ddim_output_moments_gaussian_data(sched, n, eta):
    betas = make_betas("linear", T)
    sampler = DDIMSampler(sched, n, eta=eta)
    x = sample_loop(_gaussian_eps(sched, M, S), (N,), sampler,
                    generator=torch.Generator().manual_seed(33)).double().numpy()
    mu, sd = _exact_output_moments(betas, sampler.timesteps(), M, S, eta, ddpm=False)
    if eta == 0.0:  # the probability-flow ODE lands near the data distribution (prior mismatch only);
        assert abs(mu - M) < 0.05 and abs(sd - S) < 0.06  # coarse stochastic DDIM under-disperses
    assert x.mean() == pytest.approx(mu, abs=5 * sd / math.sqrt(N))
    assert x.std() == pytest.approx(sd, abs=5 * sd / math.sqrt(2 * N))


# -- sample_loop mechanics ----------------------------------------------------------

@pytest.mark.parametrize("make", [lambda s: DDPMSampler(s), lambda s: DDIMSampler(s, 10, eta=0.7),
                                  lambda s: DDIMSampler(s, 10)])
def test_same_seed_same_samples(sched, make):
    fn = _gaussian_eps(sched, M, S)
    a = sample_loop(fn, (4, 9), make(sched), generator=torch.Generator().manual_seed(40))
    b = sample_loop(fn, (4, 9), make(sched), generator=torch.Generator().manual_seed(40))
    c = sample_loop(fn, (4, 9), make(sched), generator=torch.Generator().manual_seed(41))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_x_T_and_callback(sched):
    fn = _gaussian_eps(sched, M, S)
    sampler = DDIMSampler(sched, 6)
    x_T = torch.randn(5, 1, 13, generator=torch.Generator().manual_seed(50))
    seen = []
    out = sample_loop(fn, (5, 1, 13), sampler, x_T=x_T,
                      callback=lambda i, t, x: seen.append((i, t, x.clone())))
    assert [(i, t) for i, t, _ in seen] == list(enumerate(sampler.timesteps()))
    assert torch.equal(seen[0][2], x_T)
    assert all(x.shape == (5, 1, 13) for _, _, x in seen)
    # eta = 0 from a given x_T is deterministic and draws no noise
    out2 = sample_loop(fn, (5, 1, 13), sampler, x_T=x_T.clone(), generator=torch.Generator().manual_seed(9))
    assert torch.equal(out, out2)
    with pytest.raises(ValueError, match="x_T"):
        sample_loop(fn, (5, 13), sampler, x_T=x_T)


def test_denoise_fn_receives_long_t_batch_and_wrong_shape_raises(sched):
    calls = []

    def fn(x, t):
        calls.append((t.dtype, tuple(t.shape), t.device, t.unique().tolist()))
        return torch.zeros_like(x)

    sample_loop(fn, (3, 7), DDIMSampler(sched, 4), generator=torch.Generator().manual_seed(0))
    assert [c[3] for c in calls] == [[t] for t in DDIMSampler(sched, 4).timesteps()]
    assert all(c[0] == torch.long and c[1] == (3,) and c[2].type == "cpu" for c in calls)
    with pytest.raises(ValueError, match="denoise_fn"):
        sample_loop(lambda x, t: x[:, :-1], (3, 7), DDIMSampler(sched, 4))


def test_sample_loop_no_grad(sched):
    w = torch.tensor(0.5, requires_grad=True)
    out = sample_loop(lambda x, t: w * x, (2, 3), DDIMSampler(sched, 3), generator=torch.Generator().manual_seed(0))
    assert not out.requires_grad


# -- timestep grids, DPM-Solver++(2M) and the calibrated default ------------------------

from tsdiff.config import TSDiffConfig  # noqa: E402
from tsdiff.diffusion import timestep_grid  # noqa: E402


@pytest.fixture(scope="module")
def default_sched() -> DiffusionSchedule:
    """The schedule of a default TSDiff model."""
    return DiffusionSchedule.from_config(TSDiffConfig(prediction_length=24, context_length=96, freq="h"))


@pytest.mark.parametrize("spacing", ["logsnr", "quadratic", "trailing", "linspace"])
@pytest.mark.parametrize("n", [1, 3, 7, 20, 99, 100])
def test_timestep_grid_is_n_unique_descending_steps(sched, spacing, n):
    ts = timestep_grid(sched, n, spacing)
    assert len(ts) == n and ts[0] == T - 1
    assert all(a > b for a, b in zip(ts, ts[1:])) and ts[-1] >= 0
    if spacing != "trailing" and n >= 2:
        assert ts[-1] == 0


def test_logsnr_grid_is_even_in_log_snr(default_sched):
    ts = timestep_grid(default_sched, 20, "logsnr")
    ac = default_sched.alphas_cumprod.double().numpy()
    lam = np.log(ac[ts] / (1 - ac[ts]))
    gaps = np.diff(lam)
    assert (gaps > 0).all()
    # Nearly equal log-SNR steps; only the last few, among t = 0, 1, 2, ..., are set by the integer grid.
    assert gaps[:-3].max() / gaps[:-3].min() < 1.1
    assert gaps.max() / gaps.min() < 1.6


def test_linspace_grid_is_the_legacy_ddim_grid(sched):
    assert DDIMSampler(sched, 20).timesteps() == [int(v) for v in np.linspace(T - 1, 0, 20).round()]


def test_timestep_grid_bad_arguments(sched):
    with pytest.raises(ValueError, match="spacing"):
        timestep_grid(sched, 10, "cubic")
    with pytest.raises(ValueError, match="num_steps"):
        timestep_grid(sched, T + 1, "logsnr")


@pytest.mark.parametrize("n", [1, 2, 5, 20])
@pytest.mark.parametrize("shape", [(3, 7), (5, 1, 13)])
def test_dpmsolver_oracle_recovers_x0(sched, n, shape):
    g = torch.Generator().manual_seed(50)
    x0 = 4 * torch.randn(shape, generator=g) - 1  # unbounded: no clipping
    out = sample_loop(_oracle(sched, x0), shape, DPMSolverSampler(sched, n), generator=g)
    torch.testing.assert_close(out, x0, rtol=0, atol=2e-4)


def test_dpmsolver_without_state_is_ddim_and_with_state_is_second_order(sched):
    fn = _gaussian_eps(sched, M, S)
    dpm, ddim = DPMSolverSampler(sched, 10, spacing="quadratic"), DDIMSampler(sched, 10, spacing="quadratic")
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(51))
    ts = dpm.timesteps()
    t_batch = torch.full((50,), ts[0], dtype=torch.long)
    first = dpm.step(fn(x, t_batch), ts[0], ts[1], x)
    torch.testing.assert_close(first, ddim.step(fn(x, t_batch), ts[0], ts[1], x), rtol=1e-5, atol=1e-6)
    a = sample_loop(fn, (50, 3), dpm, x_T=x)
    b = sample_loop(fn, (50, 3), ddim, x_T=x)
    assert not torch.allclose(a, b, atol=1e-3)  # the loop's state turns on the second-order correction


SCALES = (0.05, 0.1, 0.3, 1.0)


@pytest.mark.parametrize("s", SCALES)
@pytest.mark.parametrize("name", ["default", "ddpm-beta"])
def test_calibrated_samplers_keep_the_spread_of_an_exact_denoiser(default_sched, name, s):
    """x0 ~ N(0, s^2) and the exact denoiser: the output std must be within 3% of s.

    The previous default (DDIM-20 on linear 1e-4..0.1, T = 100) gave 0.43-0.91 of s here.
    """
    sampler = make_sampler("dpmsolver", default_sched) if name == "default" else make_sampler("ddpm", default_sched)
    if name == "ddpm-beta":
        assert sampler.variance == "beta"
    x = sample_loop(_gaussian_eps(default_sched, 0.0, s), (20_000,), sampler,
                    generator=torch.Generator().manual_seed(52)).double()
    assert float(x.std()) / s == pytest.approx(1.0, abs=0.03)  # sampling error of the ratio: ~0.5%
    assert abs(float(x.mean())) < 0.03 * s + 4 * s / math.sqrt(20_000)


def test_make_sampler_new_arguments(sched):
    assert isinstance(make_sampler("dpmsolver", sched), DPMSolverSampler)
    assert make_sampler("dpmsolver", sched).spacing == "logsnr"
    assert make_sampler("ddim", sched).spacing == "linspace"
    assert make_sampler("ddim", sched, spacing="trailing").timesteps()[-1] == T // 20 - 1
    assert make_sampler("ddpm", sched, variance="posterior").variance == "posterior"
    with pytest.raises(ValueError, match="spacing"):
        make_sampler("ddpm", sched, spacing="logsnr")
    with pytest.raises(ValueError, match="spacing"):
        make_sampler("dpmsolver", sched, spacing="cubic")
    with pytest.raises(ValueError, match="variance"):
        make_sampler("ddim", sched, variance="beta")
    with pytest.raises(ValueError, match="variance"):
        make_sampler("ddpm", sched, variance="learned")
    with pytest.raises(ValueError, match="eta"):
        make_sampler("dpmsolver", sched, eta=0.5)
    with pytest.raises(ValueError, match="steps"):
        make_sampler("dpmsolver", sched, steps=0)


def test_distilled_grid_is_a_subset_of_the_teachers():
    grid = list(range(190, -1, -10))  # 20 steps
    assert distilled_grid(grid, 1) == [190]
    assert distilled_grid(grid, 2) == [190, 90]
    assert distilled_grid(grid, 4) == [190, 140, 90, 40]
    assert distilled_grid(grid, 20) == grid
    for bad in (0, 21, 2.0, True):
        with pytest.raises(ValueError, match="num_steps"):
            distilled_grid(grid, bad)


def test_distilled_sampler_step_is_ddim_with_the_students_data_prediction():
    s = DiffusionSchedule(make_betas("linear", 1000, 1e-4, 0.02))
    sampler = DistilledSampler(s, DPMSolverSampler(s, 20).timesteps(), 4)
    ts = sampler.timesteps()
    assert len(ts) == 4 and ts[0] == 999 and sampler.prediction == "v"
    assert [sampler.next_timestep(t) for t in ts] == ts[1:] + [-1]
    assert repr(sampler) == "DistilledSampler(num_steps=4)"
    x, out = torch.randn(5, 3), torch.randn(5, 3)
    t, tp = ts[1], ts[2]
    a, b = s.sqrt_alphas_cumprod[t], s.sqrt_one_minus_alphas_cumprod[t]
    a_p, b_p = s.sqrt_alphas_cumprod[tp], s.sqrt_one_minus_alphas_cumprod[tp]
    for prediction, x0 in (("v", a * x - b * out), ("eps", (x - b * out) / max(float(a), 0.5))):
        smp = DistilledSampler(s, DPMSolverSampler(s, 20).timesteps(), 4, prediction=prediction)
        eps = (x - a * x0) / b   # the DDIM step with this x0 and its implied noise (Song et al. eq. 12)
        want = a_p * x0 + b_p * eps
        torch.testing.assert_close(smp.step(out, t, tp, x), want)
        torch.testing.assert_close(smp.step(out, t, -1, x), x0)
        torch.testing.assert_close(jump(x, out, a, b, a_p, b_p, 0.5, prediction), want)
    # "eps" is the teacher's own parameterization where sqrt(abar) >= the floor (low noise) ...
    t_low = ts[3]
    a, b = s.sqrt_alphas_cumprod[t_low], s.sqrt_one_minus_alphas_cumprod[t_low]
    assert float(a) > 0.5
    torch.testing.assert_close(distilled_x0(x, out, a, b, "eps"), (x - b * out) / a)
    # ... and at high noise it divides by the floor, not by sqrt(abar_T) = 0.006.
    a, b = s.sqrt_alphas_cumprod[999], s.sqrt_one_minus_alphas_cumprod[999]
    torch.testing.assert_close(distilled_x0(x, out, a, b, "eps"), (x - b * out) / 0.5)
    with pytest.raises(ValueError, match="teacher_grid"):
        DistilledSampler(s, [5, 7], 1)
    with pytest.raises(ValueError, match="prediction"):
        DistilledSampler(s, ts, 1, prediction="x0")
    # An exact v for a point mass x0 recovers it in one step from anywhere.
    x0 = torch.randn(4, 3)
    a, b = s.sqrt_alphas_cumprod[ts[0]], s.sqrt_one_minus_alphas_cumprod[ts[0]]
    e = torch.randn(4, 3)
    xt = a * x0 + b * e
    torch.testing.assert_close(DistilledSampler(s, ts, 1).step(a * e - b * x0, ts[0], -1, xt), x0, atol=1e-5,
                               rtol=1e-5)
