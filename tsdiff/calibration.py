"""Split-conformal widening of sample paths (numpy only; no model, no pandas).

A diffusion ensemble learned on training windows is over-confident out of sample: test windows
carry model error and drift that the in-sample noise level does not show. This module fits, on
held-out windows, per-horizon-step factors that scale each sample path's deviation from the
pointwise median, in the spirit of conformalized quantile regression (Romano et al. 2019) with the
ensemble's own central intervals as the base intervals:

* For a held-out point with actual ``y``, median ``m`` and central ``alpha``-interval
  ``[lo, hi]`` of the ensemble (sample quantiles at the plotting positions ``i / (S + 1)``, linearly
  interpolated, so that the factors carry over between ensemble sizes), the factor that just covers
  ``y`` is
  ``(y - m) / (hi - m)`` above the median and ``(m - y) / (m - lo)`` below.
* The factor for level ``alpha`` and horizon step ``h`` is the conformal quantile
  ``ceil((n + 1) alpha) / n`` of those needed factors over the held-out windows (pooled over the
  neighbouring steps ``h - pool .. h + pool`` for a steadier estimate).
* At predict time a sample whose rank puts it at central level ``a`` in its ensemble gets its
  deviation from the median scaled by the factor interpolated at ``a``; the scaled values are then
  made monotone in rank. Each path keeps its rank at every step, so paths stay coherent: no
  value is resampled.
* A tail cap, fitted the same way at level ``cap_level`` (0.999): a sample lying further from the
  median than ``c`` times its ensemble's 90% half-width on its side is moved to that bound, with ``c``
  the conformal quantile of the held-out outcomes' own distance in those units (never below 1, so
  nothing inside the 90% interval moves). Why: a network trained for a short while maps rare,
  extreme starting noise to spikes (0.3% of points beyond 4 sigma on the known-law process of
  ``benchmarks/calibration.py``, some beyond 50 sigma) that leave every quantile from 5% to 95% in
  place but inflate the ensemble's std by ~10%. Samples beyond every held-out outcome's reach at
  that level carry no information; a heavy-tailed series gets a large ``c`` and keeps its tails.

The target is an ensemble that is exchangeable with the outcome (a flat rank histogram), not one whose
finite-ensemble intervals cover exactly ``alpha``: the ``k``-th smallest of ``S`` draws from the true law
sits at expected quantile level ``k / (S + 1)``, so a perfect ensemble gets factors 1 and, like draws of
the true law, covers ~0.485 / ~0.881 with its 50% / 90% intervals under GluonTS's order-statistic rule
at ``S = 100``. (Aiming the ``i / (S - 1)`` positions at nominal coverage would widen a perfect
ensemble by ~5% at 90% and cost CRPS.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

#: Central interval levels at which the factors are fitted.
CALIBRATION_LEVELS: tuple[float, ...] = (0.2, 0.5, 0.8, 0.9, 0.95)
#: Level of the tail cap's conformal quantile (:meth:`IntervalCalibrator.fit`).
CAP_LEVEL: float = 0.999


def _rank_levels(S: int) -> np.ndarray:
    """Expected quantile level of each order statistic of ``S`` draws: ``(i + 1) / (S + 1)``, i = 0..S-1."""
    return np.arange(1, S + 1) / (S + 1)


def _quantile(sorted_samples: np.ndarray, q: float) -> np.ndarray:
    """``q`` quantile of samples sorted along axis 1, interpolated between the plotting positions.

    Sample ``i`` (0-based) of ``S`` stands at level ``(i + 1) / (S + 1)`` (:func:`_rank_levels`), so the
    quantile sits at position ``(S + 1) q - 1``, clamped to the extreme samples. Why these positions and
    not GluonTS's order statistic: the factors are fitted on ensembles of one size
    (``calibration_samples``) and applied to another (``n_samples``); with the expected level of each
    order statistic in both places a factor means the same thing for any ensemble size, and a perfect
    ensemble needs factor 1 at every level.
    """
    S = sorted_samples.shape[1]
    pos = min(max((S + 1) * q - 1.0, 0.0), S - 1.0)
    lo = int(np.floor(pos))
    hi = min(lo + 1, S - 1)
    w = pos - lo
    return (1.0 - w) * sorted_samples[:, lo] + w * sorted_samples[:, hi]


def needed_factors(samples: np.ndarray, y: np.ndarray, level: float) -> np.ndarray:
    """The factor each point needs for its central ``level`` interval to just cover ``y``.

    Parameters
    ----------
    samples : np.ndarray, shape (N, S, H)
    y : np.ndarray, shape (N, H); NaN where not observed
    level : float in (0, 1)

    Returns
    -------
    np.ndarray, shape (N, H): ``0`` when ``y`` is the median, ``inf`` when the interval has no width
    on ``y``'s side, NaN where ``y`` is NaN.
    """
    srt = np.sort(np.asarray(samples, dtype=np.float64), axis=1)
    m = _quantile(srt, 0.5)
    lo = _quantile(srt, (1.0 - level) / 2.0)
    hi = _quantile(srt, (1.0 + level) / 2.0)
    y = np.asarray(y, dtype=np.float64)
    up = y >= m
    dev = np.where(up, y - m, m - y)
    width = np.where(up, hi - m, m - lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(dev <= 0, 0.0, np.where(width > 0, dev / width, np.inf))
    return np.where(np.isnan(y), np.nan, f)


@dataclass(frozen=True)
class IntervalCalibrator:
    """Per-step, per-level deviation factors fitted on held-out windows.

    Attributes
    ----------
    levels : tuple of float, increasing central levels
    factors : np.ndarray, shape (len(levels), H); the factor at each level and horizon step
    n_points : int, held-out points per step the factors were fitted on
    tail_cap : float or None; samples further from the median than ``tail_cap`` times the ensemble's
        90% half-width on their side are moved to that bound (None: no cap, as in model files saved
        before the cap existed)
    """

    levels: tuple[float, ...]
    factors: np.ndarray
    n_points: int = 0
    tail_cap: Optional[float] = None

    def __post_init__(self) -> None:
        f = np.asarray(self.factors, dtype=np.float64)
        if f.ndim != 2 or f.shape[0] != len(self.levels):
            raise ValueError(f"factors must have shape (len(levels)={len(self.levels)}, horizon), got {f.shape}")
        if not np.all(np.isfinite(f)) or np.any(f <= 0):
            raise ValueError("factors must be finite and > 0")
        object.__setattr__(self, "factors", f)
        object.__setattr__(self, "levels", tuple(float(v) for v in self.levels))
        if self.tail_cap is not None:
            cap = float(self.tail_cap)
            if not (math.isfinite(cap) and cap >= 1.0):
                raise ValueError(f"tail_cap must be a finite number >= 1 or None, got {self.tail_cap!r}")
            object.__setattr__(self, "tail_cap", cap)

    @property
    def horizon(self) -> int:
        return int(self.factors.shape[1])

    @classmethod
    def fit(cls, samples: np.ndarray, y: np.ndarray, levels: Sequence[float] = CALIBRATION_LEVELS,
            pool: int = 2, max_factor: float = 20.0,
            cap_level: Optional[float] = CAP_LEVEL) -> "IntervalCalibrator":
        """Fit factors on held-out windows.

        Parameters
        ----------
        samples : np.ndarray, shape (N, S, H); raw ensembles of N held-out windows
        y : np.ndarray, shape (N, H); their actuals, NaN where missing
        levels : increasing central levels in (0, 1)
        pool : int, neighbouring horizon steps pooled on each side
        max_factor : float, cap on any factor (guards against a degenerate, zero-width ensemble)
        cap_level : float in (0, 1] or None
            Level of the tail cap (see the module docstring); None fits no cap.

        Returns
        -------
        IntervalCalibrator
        """
        samples = np.asarray(samples, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if samples.ndim != 3 or y.shape != (samples.shape[0], samples.shape[2]):
            raise ValueError(f"need samples (N, S, H) and y (N, H), got {samples.shape} and {y.shape}")
        H = samples.shape[2]
        out = np.ones((len(levels), H))
        n_min = H * samples.shape[0]
        # The extreme samples stand at levels 1/(S+1) and S/(S+1): wider central levels are beyond what
        # the ensemble resolves, so they reuse the factor of the widest level it does (a small ensemble,
        # e.g. calibration_samples=16, would otherwise read its extremes as a too-narrow 95% interval).
        resolved = (samples.shape[1] - 1) / (samples.shape[1] + 1) + 1e-12
        for k, level in enumerate(levels):
            if level > resolved and k > 0:
                out[k] = out[k - 1]
                continue
            need = needed_factors(samples, y, level)          # (N, H)
            for h in range(H):
                pts = need[:, max(0, h - pool):h + pool + 1].ravel()
                pts = pts[~np.isnan(pts)]
                n = len(pts)
                n_min = min(n_min, n)
                if n == 0:
                    continue
                # Split-conformal quantile with the finite-sample correction ceil((n + 1) alpha) / n.
                rank = min(n, math.ceil((n + 1) * level))
                out[k, h] = np.partition(pts, rank - 1)[rank - 1]
        out = np.clip(np.nan_to_num(out, nan=1.0, posinf=max_factor), 1.0 / max_factor, max_factor)
        cal = cls(tuple(levels), out, int(n_min))
        if cap_level is None:
            return cal
        # The held-out outcome's distance from the median in units of the widened ensemble's 90%
        # half-width is exactly the factor its 90% interval would need (infinite on a zero width).
        dist = needed_factors(cal.apply(samples), y, 0.9).ravel()
        dist = dist[~np.isnan(dist)]
        if len(dist) == 0:
            return cal
        rank = min(len(dist), math.ceil((len(dist) + 1) * cap_level))
        cap = float(np.partition(dist, rank - 1)[rank - 1])
        if not math.isfinite(cap):
            return cal
        return cls(cal.levels, cal.factors, cal.n_points, max(cap, 1.0))

    def apply(self, samples: np.ndarray) -> np.ndarray:
        """Widen (or narrow) ensembles; each path keeps its rank at every step.

        Parameters
        ----------
        samples : np.ndarray, shape (N, S, horizon); steps past the fitted horizon reuse the
            factors of their position within a block of ``H`` steps (block-by-block forecasts).

        Returns
        -------
        np.ndarray, same shape and dtype
        """
        x = np.asarray(samples)
        N, S, hz = x.shape
        if S < 2 or N == 0:
            return x.copy()
        H = self.horizon
        cols = np.arange(hz) % H
        order = np.argsort(x, axis=1, kind="stable")
        srt = np.take_along_axis(x.astype(np.float64), order, axis=1)        # (N, S, hz)
        m = _quantile(srt, 0.5)[:, None, :]
        # Central level of each rank: index i sits at quantile (i + 1) / (S + 1), as in the fit.
        a = np.abs(2.0 * _rank_levels(S) - 1.0)
        levels = np.asarray(self.levels)
        f = np.stack([np.interp(a, levels, self.factors[:, c]) for c in range(H)], axis=1)  # (S, H)
        new = m + (srt - m) * f[:, cols][None]
        # Keep the ranks: non-decreasing along the sorted axis on each side of the median (a no-op unless
        # the factor falls fast with the level); factors are > 0, so no value crosses the median.
        up = srt >= m
        new = np.where(up, np.maximum.accumulate(np.where(up, new, -np.inf), axis=1), new)
        new = np.where(up, new, np.minimum.accumulate(np.where(up, np.inf, new)[:, ::-1], axis=1)[:, ::-1])
        if self.tail_cap is not None:
            # Clamping the sorted values to [m - c (m - q05), m + c (q95 - m)] keeps their order.
            c = self.tail_cap
            lo, hi = _quantile(new, 0.05)[:, None, :], _quantile(new, 0.95)[:, None, :]
            new = np.clip(new, m - c * (m - lo), m + c * (hi - m))
        out = np.empty_like(new)
        np.put_along_axis(out, order, new, axis=1)
        return out.astype(x.dtype, copy=False)

    def mean_factors(self, levels: Sequence[float]) -> list[float]:
        """Mean factor over the horizon at each of ``levels`` (interpolated between fitted levels)."""
        f = self.factors.mean(axis=1)
        return [float(np.interp(level, self.levels, f)) for level in levels]

    # -- serialization -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"levels": list(self.levels), "factors": self.factors.tolist(), "n_points": self.n_points,
                "tail_cap": self.tail_cap}

    @classmethod
    def from_dict(cls, d: Optional[dict[str, Any]]) -> Optional["IntervalCalibrator"]:
        if d is None:
            return None
        return cls(tuple(d["levels"]), np.asarray(d["factors"], dtype=np.float64), int(d.get("n_points", 0)),
                   d.get("tail_cap"))


__all__ = ["CALIBRATION_LEVELS", "CAP_LEVEL", "IntervalCalibrator", "needed_factors"]
