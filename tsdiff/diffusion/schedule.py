"""The DDPM forward (noising) process: beta schedules and closed-form maths.

Notation follows Ho et al. 2020, "Denoising Diffusion Probabilistic Models",
with **0-indexed** timesteps: ``t = 0`` is the first noising step (the paper's
``t = 1``) and ``t = T - 1`` the last (the paper's ``t = T``). So
``alphas_cumprod[t] = prod_{s <= t} (1 - betas[s])`` and
``alphas_cumprod_prev[t]`` is ``alphas_cumprod[t - 1]`` with ``1`` at ``t = 0``.

Nothing here holds learnable parameters; :class:`DiffusionSchedule` is an
``nn.Module`` only so that its coefficient buffers follow ``.to(device)``.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

_KINDS = ("linear", "cosine")

#: Names of the float32 coefficient buffers of :class:`DiffusionSchedule`, each of shape ``(T,)``.
BUFFER_NAMES = (
    "betas",
    "alphas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod",
    "posterior_variance",
    "posterior_log_variance_clipped",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
)


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    try:
        out = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a positive integer, got {value!r}") from None
    if out <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return out


def _check_beta(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a float in (0, 1), got {value!r}") from None
    if not (0.0 < out < 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be a float in (0, 1), got {value!r}")
    return out


def make_betas(kind: str, num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.1) -> np.ndarray:
    """Noise schedule ``betas`` of shape ``(num_steps,)``, float64.

    Parameters
    ----------
    kind : {"linear", "cosine"}
        ``"linear"``: ``np.linspace(beta_start, beta_end, num_steps)`` (the
        TimeGrad/TSDiff time-series default is 1e-4 .. 0.1 over 100 steps).
        ``"cosine"``: Nichol & Dhariwal 2021 eq. 17 with ``s = 0.008``, betas
        clipped to ``<= 0.999``; ``beta_start``/``beta_end`` are not used (but
        still validated).
    num_steps : int
        Number of diffusion steps ``T`` (>= 1).
    beta_start, beta_end : float
        First and last beta of the linear schedule, ``0 < beta_start <= beta_end < 1``.

    Returns
    -------
    np.ndarray
        ``(T,)`` float64, every value in ``(0, 1)``.
    """
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    T = _check_positive_int("num_steps", num_steps)
    beta_start = _check_beta("beta_start", beta_start)
    beta_end = _check_beta("beta_end", beta_end)
    if beta_start > beta_end:
        raise ValueError(f"beta_start must be <= beta_end, got beta_start={beta_start}, beta_end={beta_end}")

    if kind == "linear":
        return np.linspace(beta_start, beta_end, T, dtype=np.float64)

    s = 0.008
    steps = np.arange(T + 1, dtype=np.float64) / T
    # Nichol & Dhariwal eq. 17: alpha_bar(t) = f(t) / f(0), f(t) = cos^2(((t/T + s) / (1 + s)) * pi/2).
    f = np.cos((steps + s) / (1.0 + s) * math.pi / 2.0) ** 2
    alphas_cumprod = f / f[0]
    # beta_t = 1 - alpha_bar_t / alpha_bar_{t-1}, clipped to avoid a singularity at t = T (their sec. 3.2).
    betas = 1.0 - alphas_cumprod[1:] / alphas_cumprod[:-1]
    return np.clip(betas, 0.0, 0.999)


def _as_float32_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)).to(torch.float32)


class DiffusionSchedule(nn.Module):
    """Coefficients of the DDPM forward process and its closed-form maths.

    All coefficients are computed in float64 numpy and stored as float32,
    non-persistent buffers of shape ``(T,)`` (derived data: rebuilt from the
    config, never saved in a ``state_dict``); they move with ``.to(device)``.

    Buffers: ``betas``, ``alphas``, ``alphas_cumprod``, ``alphas_cumprod_prev``,
    ``sqrt_alphas_cumprod``, ``sqrt_one_minus_alphas_cumprod``,
    ``sqrt_recip_alphas_cumprod``, ``sqrt_recipm1_alphas_cumprod``,
    ``posterior_variance``, ``posterior_log_variance_clipped``,
    ``posterior_mean_coef1``, ``posterior_mean_coef2``.

    Timesteps are 0-indexed: ``t`` in ``[0, T)``. Methods taking ``t`` accept a
    ``(B,)`` long tensor (one step per batch element, broadcast over all trailing
    dims of ``x``) or a Python ``int`` (the same step for the whole batch).
    ``t`` is not range-checked (that would need a device sync).

    Parameters
    ----------
    betas : np.ndarray or sequence of float
        ``(T,)`` noise schedule, every value in ``(0, 1)``; see :func:`make_betas`.
    """

    betas: torch.Tensor
    alphas: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    sqrt_recip_alphas_cumprod: torch.Tensor
    sqrt_recipm1_alphas_cumprod: torch.Tensor
    posterior_variance: torch.Tensor
    posterior_log_variance_clipped: torch.Tensor
    posterior_mean_coef1: torch.Tensor
    posterior_mean_coef2: torch.Tensor

    def __init__(self, betas: Union[np.ndarray, Sequence[float]]) -> None:
        super().__init__()
        b = np.asarray(betas, dtype=np.float64)
        if b.ndim != 1 or b.size == 0:
            raise ValueError(f"betas must be a non-empty 1-D sequence, got shape {b.shape}")
        if not np.all(np.isfinite(b)) or np.any(b <= 0.0) or np.any(b >= 1.0):
            raise ValueError("betas must all lie in the open interval (0, 1)")

        alphas = 1.0 - b
        alphas_cumprod = np.cumprod(alphas)
        alphas_cumprod_prev = np.concatenate([[1.0], alphas_cumprod[:-1]])
        one_minus_ac = 1.0 - alphas_cumprod
        # Ho et al. eq. 7: beta_tilde_t = (1 - abar_{t-1}) / (1 - abar_t) * beta_t; it is 0 at t = 0.
        posterior_variance = b * (1.0 - alphas_cumprod_prev) / one_minus_ac
        # log(0) at t = 0 is replaced by the t = 1 value, as in Ho et al.'s code (beta_0 if T == 1).
        first = posterior_variance[1] if b.size > 1 else b[0]
        posterior_log_variance_clipped = np.log(np.concatenate([[first], posterior_variance[1:]]))
        coefs = {
            "betas": b,
            "alphas": alphas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": np.sqrt(alphas_cumprod),
            "sqrt_one_minus_alphas_cumprod": np.sqrt(one_minus_ac),
            "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / alphas_cumprod),
            "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / alphas_cumprod - 1.0),
            "posterior_variance": posterior_variance,
            "posterior_log_variance_clipped": posterior_log_variance_clipped,
            # Ho et al. eq. 7: mu_tilde = coef1 * x0 + coef2 * x_t.
            "posterior_mean_coef1": b * np.sqrt(alphas_cumprod_prev) / one_minus_ac,
            "posterior_mean_coef2": (1.0 - alphas_cumprod_prev) * np.sqrt(alphas) / one_minus_ac,
        }
        for name in BUFFER_NAMES:
            self.register_buffer(name, _as_float32_tensor(coefs[name]), persistent=False)

    @classmethod
    def from_config(cls, cfg: Any) -> "DiffusionSchedule":
        """Build from a :class:`tsdiff.config.TSDiffConfig` (``beta_schedule``,
        ``diffusion_steps``, ``beta_start``, ``beta_end``)."""
        return cls(make_betas(cfg.beta_schedule, cfg.diffusion_steps, cfg.beta_start, cfg.beta_end))

    @property
    def num_steps(self) -> int:
        """Number of diffusion steps ``T``."""
        return int(self.betas.shape[0])

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}"

    # -- helpers -----------------------------------------------------------
    @staticmethod
    def _extract(coef: torch.Tensor, t: Union[torch.Tensor, int], x: torch.Tensor) -> torch.Tensor:
        """``coef[t]`` shaped ``(B, 1, ..., 1)`` (or 0-d for an int ``t``) in ``x``'s dtype."""
        if isinstance(t, torch.Tensor):
            if t.ndim == 0:
                out = coef[t.to(coef.device)]
            else:
                if t.ndim != 1 or x.ndim == 0 or t.shape[0] != x.shape[0]:
                    raise ValueError(
                        f"t must have shape (B,) matching x of shape {tuple(x.shape)}, got {tuple(t.shape)}")
                if t.dtype.is_floating_point or t.dtype == torch.bool:
                    raise ValueError(f"t must be an integer (long) tensor, got {t.dtype}")
                out = coef[t.to(coef.device)].reshape((t.shape[0],) + (1,) * (x.ndim - 1))
        else:
            out = coef[operator.index(t)]
        return out.to(device=x.device, dtype=x.dtype)

    # -- forward process -----------------------------------------------------
    def q_sample(self, x0: torch.Tensor, t: Union[torch.Tensor, int], eps: torch.Tensor) -> torch.Tensor:
        """Draw ``x_t ~ q(x_t | x_0)`` given the noise.

        Ho et al. eq. 4: ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``.

        Parameters
        ----------
        x0 : Tensor ``(B, ...)``
        t : LongTensor ``(B,)`` or int
        eps : Tensor ``(B, ...)``, standard normal noise.

        Returns
        -------
        Tensor ``(B, ...)``
        """
        return (self._extract(self.sqrt_alphas_cumprod, t, x0) * x0
                + self._extract(self.sqrt_one_minus_alphas_cumprod, t, x0) * eps)

    def predict_x0(self, x_t: torch.Tensor, t: Union[torch.Tensor, int], eps: torch.Tensor) -> torch.Tensor:
        """Invert :meth:`q_sample`: ``x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``.

        No clipping (scaled series are unbounded).

        Parameters
        ----------
        x_t : Tensor ``(B, ...)``
        t : LongTensor ``(B,)`` or int
        eps : Tensor ``(B, ...)``, the (predicted) noise.

        Returns
        -------
        Tensor ``(B, ...)``
        """
        # Same as eq. 4 solved for x0, written as sqrt(1/abar) x_t - sqrt(1/abar - 1) eps.
        return (self._extract(self.sqrt_recip_alphas_cumprod, t, x_t) * x_t
                - self._extract(self.sqrt_recipm1_alphas_cumprod, t, x_t) * eps)

    def predict_eps(self, x_t: torch.Tensor, t: Union[torch.Tensor, int], x0: torch.Tensor) -> torch.Tensor:
        """Noise implied by ``x_t`` and ``x0``: ``eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t)``.

        Parameters
        ----------
        x_t, x0 : Tensor ``(B, ...)``
        t : LongTensor ``(B,)`` or int

        Returns
        -------
        Tensor ``(B, ...)``
        """
        return ((x_t - self._extract(self.sqrt_alphas_cumprod, t, x_t) * x0)
                / self._extract(self.sqrt_one_minus_alphas_cumprod, t, x_t))

    def q_posterior(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: Union[torch.Tensor, int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gaussian posterior ``q(x_{t-1} | x_t, x0)`` (Ho et al. eq. 6-7).

        At ``t = 0`` the variance is 0 and the mean is ``x0``; the log-variance
        there is clipped to its ``t = 1`` value (it would be ``-inf``).

        Parameters
        ----------
        x0, x_t : Tensor ``(B, ...)``
        t : LongTensor ``(B,)`` or int

        Returns
        -------
        mean : Tensor ``(B, ...)``
        variance : Tensor ``(B, 1, ..., 1)`` (0-d for an int ``t``), broadcastable to ``x_t``
        log_variance : Tensor, same shape as ``variance`` (clipped)
        """
        mean = (self._extract(self.posterior_mean_coef1, t, x_t) * x0
                + self._extract(self.posterior_mean_coef2, t, x_t) * x_t)
        variance = self._extract(self.posterior_variance, t, x_t)
        log_variance = self._extract(self.posterior_log_variance_clipped, t, x_t)
        return mean, variance, log_variance

    # -- training ------------------------------------------------------------
    @staticmethod
    def l_simple(eps: torch.Tensor, eps_hat: torch.Tensor, observed: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Ho et al. L_simple (eq. 14): mean squared error of the predicted noise.

        With ``observed``, the mean runs over observed points only:
        ``sum(mask * (eps - eps_hat)^2) / max(sum(mask), 1)``. Unobserved
        positions are removed with ``torch.where`` before squaring, so NaN/inf in
        ``eps_hat`` (or ``eps``) there reaches neither the loss nor its gradient.

        Parameters
        ----------
        eps : Tensor ``(B, ...)``, the true noise.
        eps_hat : Tensor ``(B, ...)``, the prediction.
        observed : Tensor ``(B, ...)``, optional, 1.0 observed / 0.0 missing.

        Returns
        -------
        Tensor, 0-d.
        """
        if eps.shape != eps_hat.shape:
            raise ValueError(f"eps_hat shape {tuple(eps_hat.shape)} does not match eps shape {tuple(eps.shape)}")
        if observed is None:
            return (eps - eps_hat).pow(2).mean()
        if observed.shape != eps.shape:
            raise ValueError(f"observed shape {tuple(observed.shape)} does not match eps shape {tuple(eps.shape)}")
        mask = observed.to(dtype=eps_hat.dtype)
        keep = mask != 0
        diff = torch.where(keep, eps - eps_hat, torch.zeros((), dtype=eps_hat.dtype, device=eps_hat.device))
        return (mask * diff.pow(2)).sum() / mask.sum().clamp_min(1.0)

    def sample_timesteps(
        self,
        batch_size: int,
        generator: Optional[torch.Generator] = None,
        device: Optional[Union[torch.device, str]] = None,
    ) -> torch.Tensor:
        """Uniform training timesteps.

        Parameters
        ----------
        batch_size : int
        generator : torch.Generator, optional
            Drawn from on its own device; the result is then moved to ``device``.
        device : optional
            Defaults to the device of the schedule's buffers.

        Returns
        -------
        LongTensor ``(batch_size,)`` with values in ``[0, T)``.
        """
        batch_size = _check_positive_int("batch_size", batch_size)
        device = torch.device(device) if device is not None else self.betas.device
        gen_device = generator.device if generator is not None else device
        t = torch.randint(0, self.num_steps, (batch_size,), generator=generator, device=gen_device)
        return t.to(device)


__all__ = ["DiffusionSchedule", "make_betas", "BUFFER_NAMES"]
