"""Per-series scalers, computed on the context window only.

Each scaler maps ``(x, observed) -> (x_scaled, loc, scale)`` with
``x_scaled = (x - loc) / scale``; forecasts are mapped back with
``x = x_scaled * scale + loc``. Only observed points enter the statistics,
so NaN (stored as 0 with ``observed == 0``) never leaks in.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Relative floor of a scale; keeps constant and all-zero series finite.
_MIN_REL_SCALE = 1e-8


def _masked_mean(x: Tensor, observed: Tensor, dim: int = -1) -> tuple[Tensor, Tensor]:
    count = observed.sum(dim=dim, keepdim=True)
    total = torch.where(observed > 0, x, torch.zeros_like(x)).sum(dim=dim, keepdim=True)
    return total / count.clamp_min(1.0), count


def _safe_scale(scale: Tensor, fallback: Tensor) -> Tensor:
    """Replace zero/tiny scales (constant or all-zero series) by ``fallback`` or 1."""
    fallback = torch.where(fallback > 0, fallback, torch.ones_like(fallback))
    tiny = scale <= _MIN_REL_SCALE * fallback
    return torch.where(tiny | ~torch.isfinite(scale), fallback, scale)


def mean_abs_scale(x: Tensor, observed: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mean-absolute scaling (GluonTS ``MeanScaler``, TSDiff): ``loc = 0``, ``scale = mean |x|``.

    Parameters
    ----------
    x, observed : Tensor, shape (B, T)

    Returns
    -------
    x_scaled : (B, T); loc, scale : (B, 1)
    """
    mean_abs, _ = _masked_mean(x.abs(), observed)
    scale = _safe_scale(mean_abs, torch.ones_like(mean_abs))
    loc = torch.zeros_like(scale)
    return (x - loc) / scale * observed, loc, scale


def std_scale(x: Tensor, observed: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Standardization: ``loc = mean``, ``scale = std`` over the observed context.

    A constant series gets ``scale = |mean|`` (or 1 when the mean is 0), so it
    is forecast without dividing by zero.
    """
    mean, count = _masked_mean(x, observed)
    centered = torch.where(observed > 0, x - mean, torch.zeros_like(x))
    var = (centered ** 2).sum(dim=-1, keepdim=True) / count.clamp_min(1.0)
    scale = _safe_scale(var.sqrt(), mean.abs())
    return (x - mean) / scale * observed, mean, scale


def no_scale(x: Tensor, observed: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Identity scaling (``loc = 0``, ``scale = 1``)."""
    ones = torch.ones(x.shape[:-1] + (1,), dtype=x.dtype, device=x.device)
    return x * observed, torch.zeros_like(ones), ones


SCALERS = {"mean": mean_abs_scale, "std": std_scale, "none": no_scale}

#: Relative floor of a floored scale: ``scale >= FLOOR_REL * |context mean|``.
FLOOR_REL = 0.01


def floored_scale(kind: str, x: Tensor, observed: Tensor, floor: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Scaler ``kind`` with a floor: ``scale = max(stat, FLOOR_REL * |mean|, floor)``, 1 where that is 0.

    ``stat`` is the context std (``"std"``) or mean absolute value (``"mean"``);
    ``"none"`` ignores the floor. Unlike :func:`scale`, a near-constant or
    mostly missing context cannot give a tiny scale: ``floor`` (typically a
    fraction of the series' own std over its training range) bounds the
    scaled values of its future.

    Parameters
    ----------
    kind : {"std", "mean", "none"}
    x, observed : Tensor, shape (B, T)
    floor : Tensor, shape (B, 1), >= 0, in the units of ``x``

    Returns
    -------
    x_scaled : (B, T); loc, scale : (B, 1)
    """
    if kind == "none":
        return no_scale(x, observed)
    if kind not in SCALERS:
        raise ValueError(f"scaling must be one of {sorted(SCALERS)}, got {kind!r}")
    mean, count = _masked_mean(x, observed)
    if kind == "std":
        centered = torch.where(observed > 0, x - mean, torch.zeros_like(x))
        stat = ((centered ** 2).sum(dim=-1, keepdim=True) / count.clamp_min(1.0)).sqrt()
        loc = mean
    else:
        stat, _ = _masked_mean(x.abs(), observed)
        loc = torch.zeros_like(mean)
    scale = torch.maximum(torch.maximum(stat, FLOOR_REL * mean.abs()), floor.to(stat.dtype))
    scale = torch.where((scale > 0) & torch.isfinite(scale), scale, torch.ones_like(scale))
    return (x - loc) / scale * observed, loc, scale


def signed_log_level(x: Tensor, observed: Tensor, scale: Tensor) -> Tensor:
    """Series level for the encoder: ``sign(m) * log1p(|m| / scale)``, m the observed context mean.

    Dimensionless (the level in units of the scale, compressed), so it tells
    the network how far a series sits from zero (e.g. a non-negative series
    near its floor) whatever its units. ``(B, T), (B, T), (B, 1) -> (B, 1)``.
    """
    mean, _ = _masked_mean(x, observed)
    return torch.sign(mean) * torch.log1p(mean.abs() / scale)


def scale(kind: str, x: Tensor, observed: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Dispatch to the scaler named ``kind`` (``"mean"``, ``"std"`` or ``"none"``)."""
    try:
        fn = SCALERS[kind]
    except KeyError:
        raise ValueError(f"scaling must be one of {sorted(SCALERS)}, got {kind!r}") from None
    return fn(x, observed)
