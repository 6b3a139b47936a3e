"""Model-free reverse-process samplers (DDPM ancestral, DDIM) and the sampling loop.

A sampler knows nothing about networks: it lists the timesteps to visit
(:meth:`timesteps`, descending) and turns a noise prediction ``eps_hat`` at step
``t`` into the sample at the next (smaller) step ``t_prev`` (:meth:`step`). The
step after the last listed timestep is ``t_prev = -1``, meaning "clean data"
(``abar_{-1} = 1``). :func:`sample_loop` drives a sampler with any
``denoise_fn(x_t, t) -> eps_hat``.

Timesteps are 0-indexed as in :mod:`tsdiff.diffusion.schedule`. ``x0`` is never
clipped. All randomness comes from an explicit ``torch.Generator``.
"""

from __future__ import annotations

import operator
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch

from .schedule import DiffusionSchedule

_VARIANCES = ("posterior", "beta")
_SAMPLERS = ("ddpm", "ddim")


def _randn(
    shape: Sequence[int],
    generator: Optional[torch.Generator],
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Standard normal noise on ``device``, drawn with ``generator``.

    Drawn directly on ``device`` when the generator lives there (the fast path);
    a generator on another device (e.g. a CPU generator while sampling on CUDA)
    draws on its own device and the result is copied over.
    """
    if generator is None or generator.device.type == device.type:
        return torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)
    return torch.randn(tuple(shape), generator=generator, device=generator.device, dtype=dtype).to(device)


def _check_step_args(T: int, eps_hat: torch.Tensor, t: Any, t_prev: Any, x_t: torch.Tensor) -> tuple[int, int]:
    try:
        t = operator.index(t)
    except TypeError:
        raise ValueError(f"t must be an int, got {t!r}") from None
    try:
        t_prev = operator.index(t_prev)
    except TypeError:
        raise ValueError(f"t_prev must be an int, got {t_prev!r}") from None
    if not (0 <= t < T):
        raise ValueError(f"t must be in [0, {T}), got {t}")
    if not (-1 <= t_prev < t):
        raise ValueError(f"t_prev must be in [-1, t={t}), got {t_prev}")
    if eps_hat.shape != x_t.shape:
        raise ValueError(f"eps_hat shape {tuple(eps_hat.shape)} does not match x_t shape {tuple(x_t.shape)}")
    return t, t_prev


class DDPMSampler:
    """Ancestral sampling of Ho et al. 2020 (Algorithm 2), one step per diffusion step.

    ``x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - abar_t) eps_hat) + sigma_t z``
    with ``z ~ N(0, I)`` and no noise at ``t = 0``.

    Parameters
    ----------
    schedule : DiffusionSchedule
    variance : {"posterior", "beta"}
        ``sigma_t^2``: ``"posterior"`` (default) is the posterior variance
        ``beta_tilde_t`` (Ho et al. eq. 7; exact when x0 is a point), ``"beta"``
        is ``beta_t`` (exact when x0 ~ N(0, I)).
    """

    def __init__(self, schedule: DiffusionSchedule, variance: str = "posterior") -> None:
        if not isinstance(schedule, DiffusionSchedule):
            raise ValueError(f"schedule must be a DiffusionSchedule, got {type(schedule).__name__}")
        if variance not in _VARIANCES:
            raise ValueError(f"variance must be one of {_VARIANCES}, got {variance!r}")
        self.schedule = schedule
        self.variance = variance

    @property
    def num_steps(self) -> int:
        """Number of reverse steps (= ``T``)."""
        return self.schedule.num_steps

    def __repr__(self) -> str:
        return f"DDPMSampler(num_steps={self.num_steps}, variance={self.variance!r})"

    def timesteps(self) -> list[int]:
        """``[T-1, T-2, ..., 0]``."""
        return list(range(self.schedule.num_steps - 1, -1, -1))

    def step(
        self,
        eps_hat: torch.Tensor,
        t: int,
        t_prev: int,
        x_t: torch.Tensor,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """One ancestral step ``x_t -> x_{t-1}``.

        Parameters
        ----------
        eps_hat : Tensor ``(B, ...)``, predicted noise at step ``t``.
        t : int, current step in ``[0, T)``.
        t_prev : int, must be ``t - 1`` (``-1`` after ``t = 0``).
        x_t : Tensor ``(B, ...)``
        generator : torch.Generator, optional

        Returns
        -------
        Tensor ``(B, ...)``: ``x_{t-1}`` (``x0`` when ``t = 0``).
        """
        s = self.schedule
        t, t_prev = _check_step_args(s.num_steps, eps_hat, t, t_prev, x_t)
        if t_prev != t - 1:
            raise ValueError(f"t_prev must be t - 1 = {t - 1} for DDPMSampler, got {t_prev}")
        dtype, device = x_t.dtype, x_t.device
        betas_t = s.betas[t].to(device=device, dtype=dtype)
        alphas_t = s.alphas[t].to(device=device, dtype=dtype)
        sqrt_1m_ac_t = s.sqrt_one_minus_alphas_cumprod[t].to(device=device, dtype=dtype)
        # Ho et al. eq. 11: mu_theta = 1/sqrt(alpha_t) (x_t - beta_t/sqrt(1-abar_t) eps); equal to the
        # posterior mean at x0_hat but avoids the 1/sqrt(abar_t) blow-up of predicting x0 first.
        mean = (x_t - (betas_t / sqrt_1m_ac_t) * eps_hat) * torch.rsqrt(alphas_t)
        if t == 0:
            return mean
        var = s.posterior_variance[t] if self.variance == "posterior" else s.betas[t]
        noise = _randn(x_t.shape, generator, device, dtype)
        return mean + var.to(device=device, dtype=dtype).sqrt() * noise


class DDIMSampler:
    """Song et al. 2021 DDIM (eq. 12) over an evenly spaced subsequence of steps.

    ``x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps_hat + sigma z`` with
    ``x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)`` and
    ``sigma = eta * sqrt((1 - abar_prev) / (1 - abar_t)) * sqrt(1 - abar_t / abar_prev)``.
    ``eta = 0`` is deterministic; ``eta = 1`` with ``num_steps = T`` is exactly
    :class:`DDPMSampler` with the posterior variance.

    Timesteps: ``np.linspace(T - 1, 0, num_steps).round()`` -- descending,
    unique (their spacing is >= 1), always starting at ``T - 1`` and, when
    ``num_steps >= 2``, ending at ``0``; the step after the last one goes to
    ``t_prev = -1`` (``abar_prev = 1``), which returns ``x0_hat``.

    Parameters
    ----------
    schedule : DiffusionSchedule
    num_steps : int
        Number of reverse steps, in ``[1, T]``.
    eta : float
        Stochasticity, ``>= 0``. For ``eta > 1`` the ``eps_hat`` coefficient
        ``1 - abar_prev - sigma^2`` is clamped at 0.
    """

    def __init__(self, schedule: DiffusionSchedule, num_steps: int = 20, eta: float = 0.0) -> None:
        if not isinstance(schedule, DiffusionSchedule):
            raise ValueError(f"schedule must be a DiffusionSchedule, got {type(schedule).__name__}")
        T = schedule.num_steps
        if isinstance(num_steps, bool):
            raise ValueError(f"num_steps must be an int in [1, {T}], got {num_steps!r}")
        try:
            n = operator.index(num_steps)
        except TypeError:
            raise ValueError(f"num_steps must be an int in [1, {T}], got {num_steps!r}") from None
        if not (1 <= n <= T):
            raise ValueError(f"num_steps must be an int in [1, {T}] (the schedule's diffusion steps), got {n}")
        try:
            eta_f = float(eta)
        except (TypeError, ValueError):
            raise ValueError(f"eta must be a finite float >= 0, got {eta!r}") from None
        if not (np.isfinite(eta_f) and eta_f >= 0.0):
            raise ValueError(f"eta must be a finite float >= 0, got {eta!r}")
        self.schedule = schedule
        self.num_steps = n
        self.eta = eta_f
        self._timesteps = [int(v) for v in np.linspace(T - 1, 0, n).round().astype(np.int64)]

    def __repr__(self) -> str:
        return f"DDIMSampler(num_steps={self.num_steps}, eta={self.eta})"

    def timesteps(self) -> list[int]:
        """Descending, unique steps, ``num_steps`` of them, starting at ``T - 1``."""
        return list(self._timesteps)

    def step(
        self,
        eps_hat: torch.Tensor,
        t: int,
        t_prev: int,
        x_t: torch.Tensor,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """One DDIM step ``x_t -> x_{t_prev}``.

        Parameters
        ----------
        eps_hat : Tensor ``(B, ...)``, predicted noise at step ``t``.
        t : int, current step in ``[0, T)``.
        t_prev : int in ``[-1, t)``; ``-1`` means clean data (``abar_prev = 1``).
        x_t : Tensor ``(B, ...)``
        generator : torch.Generator, optional; only used when ``eta > 0`` and ``t_prev >= 0``.

        Returns
        -------
        Tensor ``(B, ...)``: ``x_{t_prev}`` (``x0_hat`` when ``t_prev = -1``).
        """
        s = self.schedule
        t, t_prev = _check_step_args(s.num_steps, eps_hat, t, t_prev, x_t)
        dtype, device = x_t.dtype, x_t.device
        ac_t = s.alphas_cumprod[t].to(device=device, dtype=dtype)
        sqrt_1m_ac_t = s.sqrt_one_minus_alphas_cumprod[t].to(device=device, dtype=dtype)
        x0_hat = (x_t - sqrt_1m_ac_t * eps_hat) * s.sqrt_recip_alphas_cumprod[t].to(device=device, dtype=dtype)
        if t_prev < 0:
            return x0_hat
        # alphas_cumprod_prev[k] = abar_{k-1}, so abar at t_prev is alphas_cumprod_prev[t_prev + 1].
        ac_prev = s.alphas_cumprod_prev[t_prev + 1].to(device=device, dtype=dtype)
        # Song et al. eq. 16: sigma^2 = eta^2 (1 - abar_prev)/(1 - abar_t) (1 - abar_t/abar_prev).
        var = (self.eta ** 2) * (1.0 - ac_prev) / (1.0 - ac_t) * (1.0 - ac_t / ac_prev)
        # Song et al. eq. 12: "direction pointing to x_t" has weight sqrt(1 - abar_prev - sigma^2).
        dir_coef = (1.0 - ac_prev - var).clamp_min(0.0).sqrt()
        x_prev = ac_prev.sqrt() * x0_hat + dir_coef * eps_hat
        if self.eta == 0.0:
            return x_prev
        return x_prev + var.sqrt() * _randn(x_t.shape, generator, device, dtype)


Sampler = Union[DDPMSampler, DDIMSampler]


def make_sampler(name: str, schedule: DiffusionSchedule, steps: Optional[int] = None, eta: float = 0.0) -> Sampler:
    """Build a sampler by name.

    Parameters
    ----------
    name : {"ddpm", "ddim"}
    schedule : DiffusionSchedule
    steps : int, optional
        DDIM: number of reverse steps (default ``min(20, T)``). DDPM: must be
        ``None`` or ``T`` (DDPM always visits every step).
    eta : float
        DDIM stochasticity (>= 0). DDPM: must be 0.0 (DDPM is DDIM with eta=1 on the full grid).

    Returns
    -------
    DDPMSampler or DDIMSampler
    """
    if name == "ddpm":
        if not isinstance(schedule, DiffusionSchedule):
            raise ValueError(f"schedule must be a DiffusionSchedule, got {type(schedule).__name__}")
        T = schedule.num_steps
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps != T):
            raise ValueError(f"steps must be None or {T} (the diffusion steps) for the ddpm sampler, got {steps!r}; "
                             "use sampler='ddim' for fewer steps")
        if eta != 0.0:
            raise ValueError(f"eta applies to the ddim sampler only, got eta={eta!r} with sampler='ddpm'")
        return DDPMSampler(schedule)
    if name == "ddim":
        if steps is None:
            if not isinstance(schedule, DiffusionSchedule):
                raise ValueError(f"schedule must be a DiffusionSchedule, got {type(schedule).__name__}")
            steps = min(20, schedule.num_steps)
        try:
            return DDIMSampler(schedule, num_steps=steps, eta=eta)
        except ValueError as e:
            if str(e).startswith("num_steps"):
                raise ValueError("steps" + str(e)[len("num_steps"):]) from None
            raise
    raise ValueError(f"sampler must be one of {_SAMPLERS}, got {name!r}")


@torch.no_grad()
def sample_loop(
    denoise_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    shape: Sequence[int],
    sampler: Sampler,
    generator: Optional[torch.Generator] = None,
    device: Optional[Union[torch.device, str]] = None,
    dtype: torch.dtype = torch.float32,
    x_T: Optional[torch.Tensor] = None,
    callback: Optional[Callable[[int, int, torch.Tensor], None]] = None,
) -> torch.Tensor:
    """Run the reverse process from ``x_T ~ N(0, I)`` to ``x0``.

    Runs under ``torch.no_grad()``. No host-device sync inside the loop: the
    schedule coefficients are indexed on their device with Python ints.

    Parameters
    ----------
    denoise_fn : callable ``(x_t (B, ...), t (B,) long) -> eps_hat (B, ...)``
    shape : sequence of int, ``(B, ...)``; must equal ``x_T.shape`` when ``x_T`` is given.
    sampler : DDPMSampler or DDIMSampler
    generator : torch.Generator, optional
        Source of all noise (``x_T`` and per-step noise). A generator on
        ``device`` avoids a copy per step.
    device : optional
        Defaults to ``x_T.device`` if given, else the schedule's device.
    dtype : torch.dtype
        dtype of ``x_t`` (ignored when ``x_T`` is given: its dtype is used).
    x_T : Tensor ``(B, ...)``, optional
        Starting noise; when given, no noise is drawn for it.
    callback : callable ``(i, t, x_t)``, optional
        Called at every step ``i`` with the current step ``t`` and the current
        sample ``x_t`` *before* denoising it (``i = 0`` gets ``x_T``). The final
        ``x0`` is the return value.

    Returns
    -------
    Tensor ``(B, ...)``: ``x0``.
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        raise ValueError("shape must have a batch dimension, got ()")
    if x_T is not None:
        if tuple(x_T.shape) != shape:
            raise ValueError(f"x_T shape {tuple(x_T.shape)} does not match shape {shape}")
        device = x_T.device if device is None else torch.device(device)
        x = x_T.to(device)
    else:
        device = torch.device(device) if device is not None else sampler.schedule.betas.device
        x = _randn(shape, generator, device, dtype)
    ts = sampler.timesteps()
    batch = shape[0]
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        if callback is not None:
            callback(i, t, x)
        t_batch = torch.full((batch,), t, dtype=torch.long, device=device)
        eps_hat = denoise_fn(x, t_batch)
        if eps_hat.shape != x.shape:
            raise ValueError(f"denoise_fn returned shape {tuple(eps_hat.shape)}, expected {tuple(x.shape)}")
        x = sampler.step(eps_hat, t, t_prev, x, generator=generator)
    return x


__all__ = ["DDPMSampler", "DDIMSampler", "Sampler", "make_sampler", "sample_loop"]
