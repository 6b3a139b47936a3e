"""Numpy forecast metrics, each one defined exactly (numpy in, numpy out).

"CRPS" means different numbers in different papers. This module keeps them apart:

``crps`` (:func:`normalized_crps`)
    The exact CRPS of the sample ensemble, ``E|X - y| - 0.5 E|X - X'|`` over the
    empirical distribution of the samples (all ``S**2`` pairs, i.e. the plain, not
    the "fair", ensemble CRPS), computed per point by ``properscoring.crps_ensemble``,
    summed over all observed points and divided by ``sum |y|``.
``wql_mean`` (:func:`weighted_quantile_loss`)
    The mean weighted quantile loss over the levels 0.1, 0.2, ..., 0.9, equal to
    GluonTS ``Evaluator()``'s ``mean_wQuantileLoss``. This is the number the TSDiff,
    CSDI-style and Chronos ("WQL") tables call "CRPS"; it is a 9-point quadrature of
    the CRPS using GluonTS's *sample* quantiles, so it differs from ``crps``.

Conventions
-----------
- ``y`` has shape ``(N, H)`` (series, horizon); ``samples`` has shape ``(N, S, H)``
  (series, sample paths, horizon). A single series may be passed as ``y`` of shape
  ``(H,)`` with ``samples`` of shape ``(S, H)``.
- Missing targets: every non-finite value of ``y`` (NaN, +-inf) is missing, like
  GluonTS's ``Evaluator(ignore_invalid_values=True)`` (its default). Missing points
  are excluded from every sum and mean; per-point outputs hold NaN there.
- ``samples`` must be finite (GluonTS raises on NaN forecasts too).
- Sample quantiles follow GluonTS ``SampleForecast.quantile`` exactly: sort the
  samples and take the one at index ``int(np.round((S - 1) * q))`` (no
  interpolation; ``np.round`` rounds halves to even). See :func:`sample_quantile`
  (defined in :mod:`tsdiff.quantiles`, re-exported here); it is tsdiff's one quantile rule.
- Everything is computed in float64.

No torch and no gluonts are imported here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from .quantiles import (
    DEFAULT_QUANTILES,
    _quantile_name,
    central_intervals,
    forecast_frame_columns,
    quantile_columns,
    sample_columns,
    sample_quantile,
)

logger = logging.getLogger(__name__)


# properscoring without numba builds an (M, S, S) array; keep each call's M * S * S
# below this many elements (32 MiB per float64 temporary).
_PROPERSCORING_CHUNK_ELEMENTS = 2**22

__all__ = [
    "DEFAULT_QUANTILES",
    "sample_quantile",
    "crps_ensemble",
    "normalized_crps",
    "quantile_loss",
    "weighted_quantile_losses",
    "weighted_quantile_loss",
    "seasonal_error",
    "mase",
    "nd",
    "nrmse",
    "coverage",
    "energy_score",
    "evaluate",
    "pit_values",
    "interval_coverage",
    "BACKTEST_LEVELS",
    "BacktestReport",
    "evaluate_backtest",
    "evaluate_forecast_frame",
]


# --------------------------------------------------------------------------- validation
def _as_y(y: np.ndarray, name: str = "y") -> np.ndarray:
    arr = np.asarray(y, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n_series, horizon), got shape {np.shape(y)}")
    return arr


def _as_y_samples(y: np.ndarray, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and promote ``(y, samples)`` to float64 ``(N, H)`` and ``(N, S, H)``."""
    y_arr = np.asarray(y, dtype=np.float64)
    s_arr = np.asarray(samples, dtype=np.float64)
    if y_arr.ndim == 1 and s_arr.ndim == 2:  # one series
        y_arr, s_arr = y_arr[None, :], s_arr[None, :, :]
    if y_arr.ndim != 2:
        raise ValueError(f"y must have shape (n_series, horizon), got shape {y_arr.shape}")
    if s_arr.ndim != 3:
        raise ValueError(f"samples must have shape (n_series, n_samples, horizon), got shape {s_arr.shape}")
    if s_arr.shape[0] != y_arr.shape[0]:
        raise ValueError(
            f"samples has {s_arr.shape[0]} series (shape {s_arr.shape}) but y has {y_arr.shape[0]} "
            f"(shape {y_arr.shape})")
    if s_arr.shape[2] != y_arr.shape[1]:
        raise ValueError(
            f"samples has horizon {s_arr.shape[2]} (shape {s_arr.shape}) but y has horizon {y_arr.shape[1]} "
            f"(shape {y_arr.shape})")
    if s_arr.shape[1] < 1:
        raise ValueError(f"samples must hold at least one sample path, got shape {s_arr.shape}")
    if not np.all(np.isfinite(s_arr)):
        raise ValueError("samples contains NaN or inf values; forecasts must be finite")
    return y_arr, s_arr


def _as_point(y: np.ndarray, forecast: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=np.float64)
    f_arr = np.asarray(forecast, dtype=np.float64)
    if y_arr.ndim == 1 and f_arr.ndim == 1:
        y_arr, f_arr = y_arr[None, :], f_arr[None, :]
    if y_arr.ndim != 2:
        raise ValueError(f"y must have shape (n_series, horizon), got shape {y_arr.shape}")
    if f_arr.shape != y_arr.shape:
        raise ValueError(f"{name} must have the shape of y {y_arr.shape}, got shape {f_arr.shape}")
    if not np.all(np.isfinite(f_arr)):
        raise ValueError(f"{name} contains NaN or inf values; forecasts must be finite")
    return y_arr, f_arr


def _observed(y: np.ndarray) -> np.ndarray:
    return np.isfinite(y)


def _nanmean(x: np.ndarray) -> float:
    """Mean over the non-NaN entries (inf kept, like GluonTS ``aggregate_no_nan``); NaN if none."""
    x = np.asarray(x, dtype=np.float64)
    keep = ~np.isnan(x)
    if not keep.any():
        return float("nan")
    return float(np.mean(x[keep]))


def _ratio(num: float, den: float) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(num) / np.float64(den))


def _check_level(q: float, name: str) -> float:
    q = float(q)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {q}")
    return q


# --------------------------------------------------------------------------- CRPS
def _crps_sorted(y: np.ndarray, ens: np.ndarray) -> np.ndarray:
    """Exact ensemble CRPS via the sorted-ensemble identity (O(S log S) per point)."""
    s = ens.shape[-1]
    xs = np.sort(ens, axis=-1)
    weights = (2.0 * np.arange(1, s + 1) - s - 1.0) / (s * s)
    return np.mean(np.abs(ens - y[:, None]), axis=-1) - xs @ weights


def crps_ensemble(y: np.ndarray, samples: np.ndarray, *, method: str = "properscoring") -> np.ndarray:
    """Exact CRPS of the sample ensemble at every point.

    ``CRPS(F_S, y) = mean_s |X_s - y| - 0.5 * mean_{s, s'} |X_s - X_s'|``, the CRPS of
    the empirical distribution of the ``S`` samples (all ``S**2`` pairs, including
    ``s == s'``; not the "fair" version with ``S (S - 1)``).

    Parameters
    ----------
    y : np.ndarray, shape (N, H)
        Observations; non-finite values are missing.
    samples : np.ndarray, shape (N, S, H)
        Sample paths.
    method : {"properscoring", "sorted"}
        ``"properscoring"`` (default) calls ``properscoring.crps_ensemble``. Without
        numba, properscoring builds an ``S x S`` matrix per point (time O(S^2)); the
        points are processed in chunks to bound memory. ``"sorted"`` evaluates the
        same quantity with the sorted-ensemble identity in numpy (O(S log S) per
        point; agrees with properscoring to float rounding); use it for large ``S``.

    Returns
    -------
    np.ndarray, shape (N, H), float64
        CRPS per point, NaN where ``y`` is missing.
    """
    y_arr, s_arr = _as_y_samples(y, samples)
    if method not in ("properscoring", "sorted"):
        raise ValueError(f"method must be 'properscoring' or 'sorted', got {method!r}")
    n, s, h = s_arr.shape
    obs = _observed(y_arr)
    out = np.full((n, h), np.nan)
    if not obs.any():
        return out
    ens = np.moveaxis(s_arr, 1, -1)[obs]  # (M, S)
    yy = y_arr[obs]  # (M,)
    if method == "sorted":
        out[obs] = _crps_sorted(yy, ens)
        return out

    import properscoring  # local: a plain dependency, but only the metrics need it

    chunk = max(1, _PROPERSCORING_CHUNK_ELEMENTS // (s * s))
    vals = np.empty(yy.shape[0])
    for start in range(0, yy.shape[0], chunk):
        stop = start + chunk
        vals[start:stop] = properscoring.crps_ensemble(yy[start:stop], ens[start:stop], axis=-1)
    out[obs] = vals
    return out


def normalized_crps(y: np.ndarray, samples: np.ndarray, *, method: str = "properscoring") -> float:
    """Exact ensemble CRPS summed over observed points, divided by ``sum |y|``.

    ``sum_{i,t} CRPS(F_{i,t}, y_{i,t}) / sum_{i,t} |y_{i,t}|`` over observed points,
    with the per-point CRPS of :func:`crps_ensemble` (properscoring). This is *not*
    GluonTS's ``mean_wQuantileLoss`` (see :func:`weighted_quantile_loss`).

    Returns
    -------
    float
        NaN when no point is observed; inf when ``sum |y| == 0``.
    """
    y_arr, s_arr = _as_y_samples(y, samples)
    crps = crps_ensemble(y_arr, s_arr, method=method)
    obs = _observed(y_arr)
    if not obs.any():
        return float("nan")
    return _ratio(np.sum(crps[obs]), np.sum(np.abs(y_arr[obs])))


# --------------------------------------------------------------------------- quantile loss
def quantile_loss(y: np.ndarray, samples: np.ndarray, q: float) -> float:
    """Absolute quantile loss at level ``q``, summed over all series and time steps.

    ``sum_{i,t} 2 |(y - q_hat) * (1{y <= q_hat} - q)|`` over observed points, where
    ``q_hat`` is GluonTS's sample quantile (:func:`sample_quantile`). Equals the sum
    over series of GluonTS ``Evaluator``'s ``QuantileLoss[q]``.

    Returns
    -------
    float
    """
    q = _check_level(q, "q")
    y_arr, s_arr = _as_y_samples(y, samples)
    obs = _observed(y_arr)
    qhat = sample_quantile(s_arr, q)
    yo, fo = y_arr[obs], qhat[obs]
    return float(2.0 * np.sum(np.abs((fo - yo) * ((yo <= fo).astype(np.float64) - q))))


def weighted_quantile_losses(
    y: np.ndarray, samples: np.ndarray, quantiles: Sequence[float] = DEFAULT_QUANTILES
) -> dict[float, float]:
    """Weighted quantile loss of each level, GluonTS ``wQuantileLoss[q]``.

    ``wQL[q] = quantile_loss(y, samples, q) / sum |y|`` with both sums over all series
    and time steps (observed points only).

    Returns
    -------
    dict[float, float]
        ``{q: wQL[q]}`` in the order of ``quantiles``.
    """
    y_arr, s_arr = _as_y_samples(y, samples)
    quantiles = [_check_level(q, "quantiles") for q in quantiles]
    if not quantiles:
        raise ValueError("quantiles must not be empty")
    obs = _observed(y_arr)
    denom = np.sum(np.abs(y_arr[obs])) if obs.any() else np.nan
    return {q: _ratio(quantile_loss(y_arr, s_arr, q), denom) for q in quantiles}


def weighted_quantile_loss(
    y: np.ndarray, samples: np.ndarray, quantiles: Sequence[float] = DEFAULT_QUANTILES
) -> float:
    """Mean weighted quantile loss, equal to GluonTS ``Evaluator(quantiles)``'s ``mean_wQuantileLoss``.

    ``mean_q [ sum_{i,t} 2 |(y - q_hat) (1{y <= q_hat} - q)| / sum_{i,t} |y| ]`` over
    the levels ``quantiles`` (default 0.1, ..., 0.9), with GluonTS's sample quantiles
    (:func:`sample_quantile`) and sums over the observed points of all series. This
    is the "CRPS" of the TSDiff paper's tables and Chronos's "WQL".

    Returns
    -------
    float
    """
    return float(np.mean(list(weighted_quantile_losses(y, samples, quantiles).values())))


# --------------------------------------------------------------------------- point metrics
def seasonal_error(insample: Sequence[np.ndarray] | np.ndarray, season: int) -> np.ndarray:
    """GluonTS ``calculate_seasonal_error`` of each series' in-sample past.

    ``mean_t |y_t - y_{t-m}|`` over pairs where both values are observed, with
    ``m = season`` when ``season < len(past)`` and ``m = 1`` otherwise (GluonTS's
    fallback).

    Parameters
    ----------
    insample : sequence of 1-D arrays (or a 2-D array), one per series
        The history before the forecast start (any length per series).
    season : int
        Seasonal period ``m >= 1``.

    Returns
    -------
    np.ndarray, shape (N,)
        NaN for a series with no observed pair.
    """
    if int(season) != season or season < 1:
        raise ValueError(f"season must be an integer >= 1, got {season!r}")
    season = int(season)
    if isinstance(insample, np.ndarray) and insample.ndim == 2:
        series = list(insample)
    else:
        series = list(insample)
    out = np.full(len(series), np.nan)
    for i, past in enumerate(series):
        past = np.asarray(past, dtype=np.float64)
        if past.ndim != 1:
            raise ValueError(f"insample[{i}] must be 1-D, got shape {past.shape}")
        m = season if season < len(past) else 1
        if len(past) <= m:
            continue
        diff = np.abs(past[:-m] - past[m:])
        diff = diff[np.isfinite(diff)]
        if diff.size:
            out[i] = float(np.mean(diff))
    return out


def mase(
    y: np.ndarray,
    median_or_point: np.ndarray,
    insample_list: Sequence[np.ndarray] | np.ndarray,
    season: int = 1,
) -> float:
    """Mean absolute scaled error, GluonTS ``Evaluator``'s aggregate ``MASE``.

    Per series ``i``: ``mean_t |y_it - f_it| / seasonal_error_i`` (observed points
    only; ``seasonal_error`` from the series' own past, see :func:`seasonal_error`),
    then the mean over series, skipping NaN but keeping inf (GluonTS's
    ``aggregate_no_nan``). GluonTS uses the median forecast (:func:`sample_quantile`
    at 0.5) as ``f``; pass that to match it.

    Parameters
    ----------
    y : np.ndarray, shape (N, H)
    median_or_point : np.ndarray, shape (N, H)
        Point forecast.
    insample_list : sequence of N 1-D arrays (or an (N, T) array)
        Each series' history before the forecast start.
    season : int
        Seasonal period (GluonTS uses ``get_seasonality(freq)``: 24 hourly, 7 daily...).

    Returns
    -------
    float
    """
    y_arr, f_arr = _as_point(y, median_or_point, "median_or_point")
    n_insample = len(insample_list)
    if n_insample != y_arr.shape[0]:
        raise ValueError(f"insample_list must hold one history per series ({y_arr.shape[0]}), got {n_insample}")
    scale = seasonal_error(insample_list, season)
    obs = _observed(y_arr)
    per_series = np.full(y_arr.shape[0], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(y_arr.shape[0]):
            if obs[i].any():
                per_series[i] = np.mean(np.abs(y_arr[i, obs[i]] - f_arr[i, obs[i]])) / scale[i]
    return _nanmean(per_series)


def nd(y: np.ndarray, point: np.ndarray) -> float:
    """Normalized deviation, GluonTS ``ND``: ``sum |y - f| / sum |y|`` over all observed points.

    GluonTS uses the median forecast (:func:`sample_quantile` at 0.5) as ``f``.
    """
    y_arr, f_arr = _as_point(y, point, "point")
    obs = _observed(y_arr)
    if not obs.any():
        return float("nan")
    return _ratio(np.sum(np.abs(y_arr[obs] - f_arr[obs])), np.sum(np.abs(y_arr[obs])))


def nrmse(y: np.ndarray, point: np.ndarray) -> float:
    """Normalized RMSE, GluonTS ``NRMSE``.

    ``sqrt(mean_i MSE_i) / mean_i mean_t |y_it|`` where ``MSE_i`` and the inner mean
    run over the observed points of series ``i`` and the outer means over series
    (NaN skipped). GluonTS uses the *mean* forecast (sample mean) as ``f``. With no
    missing values this is ``RMSE / mean |y|`` over all points.
    """
    y_arr, f_arr = _as_point(y, point, "point")
    obs = _observed(y_arr)
    mse_i = np.full(y_arr.shape[0], np.nan)
    abs_mean_i = np.full(y_arr.shape[0], np.nan)
    for i in range(y_arr.shape[0]):
        if obs[i].any():
            mse_i[i] = np.mean(np.square(y_arr[i, obs[i]] - f_arr[i, obs[i]]))
            abs_mean_i[i] = np.mean(np.abs(y_arr[i, obs[i]]))
    return _ratio(np.sqrt(_nanmean(mse_i)), _nanmean(abs_mean_i))


def coverage(y: np.ndarray, samples: np.ndarray, level: float) -> float:
    """Empirical coverage of the central ``level`` prediction interval.

    The fraction of observed points with ``q_lo <= y <= q_hi``, where ``q_lo`` and
    ``q_hi`` are the sample quantiles (:func:`sample_quantile`, GluonTS's rule) at
    ``(1 - level) / 2`` and ``(1 + level) / 2``. Pooled over all observed points of all
    series. A calibrated forecast gives about ``level``.

    Relation to GluonTS: its ``Coverage[q]`` is the one-sided ``mean(y <= q_hat)``
    (averaged per series then over series). Without missing values and without ties
    ``y == q_lo``, ``coverage(level) == Coverage[(1+level)/2] - Coverage[(1-level)/2]``.

    Returns
    -------
    float
    """
    level = _check_level(level, "level")
    y_arr, s_arr = _as_y_samples(y, samples)
    lo_q = round((1.0 - level) / 2.0, 12)
    hi_q = round((1.0 + level) / 2.0, 12)
    lo, hi = sample_quantile(s_arr, lo_q), sample_quantile(s_arr, hi_q)
    obs = _observed(y_arr)
    if not obs.any():
        return float("nan")
    yo = y_arr[obs]
    return float(np.mean((yo >= lo[obs]) & (yo <= hi[obs])))


def energy_score(y: np.ndarray, samples: np.ndarray) -> float:
    """Energy score over the horizon, averaged over series.

    Per series, with ``X_s`` the sample path and ``y`` the observed path as vectors in
    ``R^H``: ``ES = mean_s ||X_s - y|| - 0.5 * mean_{s, s'} ||X_s - X_s'||`` (Euclidean
    norm, all ``S**2`` pairs, like :func:`crps_ensemble`; with ``H = 1`` it is the
    CRPS). Missing points of ``y`` are dropped from the vectors (norms over the
    observed coordinates only); a series with none is skipped. Not normalized: it
    has the units of ``y``.

    Returns
    -------
    float
    """
    y_arr, s_arr = _as_y_samples(y, samples)
    obs = _observed(y_arr)
    keep = obs.any(axis=1)
    if not keep.any():
        return float("nan")
    y_k = np.where(obs, y_arr, 0.0)[keep]  # (n, H)
    x_k = np.where(obs[:, None, :], s_arr, 0.0)[keep]  # (n, S, H); missing coordinates zeroed in both
    n, s, _ = x_k.shape
    term1 = np.mean(np.linalg.norm(x_k - y_k[:, None, :], axis=-1), axis=1)
    pair_sum = np.zeros(n)
    for j in range(s - 1):  # pairs j < k; the sum over all S**2 pairs is twice this
        pair_sum += np.sum(np.linalg.norm(x_k[:, j + 1:, :] - x_k[:, j:j + 1, :], axis=-1), axis=1)
    term2 = 2.0 * pair_sum / (s * s)
    return float(np.mean(term1 - 0.5 * term2))



# --------------------------------------------------------------------------- calibration
def pit_values(y: np.ndarray, samples: np.ndarray, randomize: bool = True, seed: Optional[int] = 0) -> np.ndarray:
    """Probability integral transform of observations under sample forecasts.

    Parameters
    ----------
    y : np.ndarray, shape (N, H)
        Observations; NaN entries are dropped.
    samples : np.ndarray, shape (N, S, H)
        Forecast samples.
    randomize : bool
        Spread ties uniformly: PIT = P(X < y) + U * P(X = y). Without it,
        PIT = P(X <= y) (the fraction of samples at or below y).
    seed : int, optional
        Seed of the tie randomization.

    Returns
    -------
    np.ndarray, 1-D
        One PIT value in [0, 1] per observed point.
    """
    y, samples = _check_pit_inputs(y, samples)
    below = (samples < y[:, None, :]).mean(axis=1)
    at_or_below = (samples <= y[:, None, :]).mean(axis=1)
    if randomize:
        u = np.random.default_rng(seed).uniform(size=below.shape)
        pit = below + u * (at_or_below - below)
    else:
        pit = at_or_below
    return pit[~np.isnan(y)]


def interval_coverage(y: np.ndarray, samples: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Fraction of observed points inside each central interval of the samples.

    The interval bounds are :func:`sample_quantile` (GluonTS's rule) at ``(1 - level) / 2``
    and ``(1 + level) / 2``; NaN observations are skipped.

    Parameters
    ----------
    y : np.ndarray, shape (N, H)
        Observations.
    samples : np.ndarray, shape (N, S, H)
        Forecast samples.
    levels : sequence of float
        Nominal coverages of the central intervals.

    Returns
    -------
    np.ndarray, shape (len(levels),)
    """
    y, samples = _check_pit_inputs(y, samples)
    observed = ~np.isnan(y)
    out = []
    for level in levels:
        lo_q = (1.0 - float(level)) / 2.0
        lo, hi = sample_quantile(samples, lo_q), sample_quantile(samples, 1.0 - lo_q)
        inside = (y >= lo) & (y <= hi)
        out.append(inside[observed].mean() if observed.any() else np.nan)
    return np.asarray(out, dtype=float)


def _check_pit_inputs(y: Any, samples: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    samples = np.asarray(samples, dtype=float)
    if y.ndim == 1 and samples.ndim == 2:
        y, samples = y[None], samples[None]
    if y.ndim != 2 or samples.ndim != 3:
        raise ValueError(f"need y of shape (N, H) and samples of shape (N, S, H), got {y.shape} and {samples.shape}")
    if samples.shape[0] != y.shape[0] or samples.shape[2] != y.shape[1]:
        raise ValueError(f"shapes do not match: y {y.shape} vs samples {samples.shape} (expected (N, S, H))")
    if samples.shape[1] == 0:
        raise ValueError("samples hold no sample paths (S = 0)")
    return y, samples


# --------------------------------------------------------------------------- all at once
def evaluate(
    y: np.ndarray,
    samples: Optional[np.ndarray] = None,
    insample: Sequence[np.ndarray] | np.ndarray | None = None,
    season: Optional[int] = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    **backtest_options: Any,
) -> dict[str, float]:
    """Every metric of this module for one set of forecasts.

    Given a backtest instead, ``evaluate(cv_frame_or_forecasts, actuals, history)`` returns
    :func:`evaluate_backtest`'s :class:`BacktestReport` (``cv_frame_or_forecasts``: the frame
    of :meth:`tsdiff.TSDiff.cross_validation` or a list of Forecast; ``actuals``: None or a long
    frame; ``history``: the series, for MASE and seasonal naive; ``season``: default from the
    frequency).

    Parameters
    ----------
    y : np.ndarray, shape (N, H)
        Observed future values; non-finite values are missing.
    samples : np.ndarray, shape (N, S, H)
        Forecast sample paths.
    insample : sequence of N 1-D arrays, optional
        Each series' history before the forecast start, for MASE. Without it
        ``mase`` is NaN.
    season : int, optional
        Seasonal period for MASE (GluonTS: ``get_seasonality(freq)``); default 1.
    quantiles : sequence of float
        Levels of ``wql_mean`` (default 0.1, ..., 0.9 as GluonTS).

    Returns
    -------
    dict[str, float]
        ``crps``
            exact ensemble CRPS (properscoring) summed over observed points, divided
            by ``sum |y|`` (:func:`normalized_crps`).
        ``wql_mean``
            mean weighted quantile loss over ``quantiles``, equal to GluonTS
            ``mean_wQuantileLoss`` (:func:`weighted_quantile_loss`); the TSDiff
            paper's "CRPS".
        ``mase``
            GluonTS ``MASE`` of the median forecast (:func:`mase`).
        ``nd``
            GluonTS ``ND`` of the median forecast (:func:`nd`).
        ``nrmse``
            GluonTS ``NRMSE`` of the mean forecast (:func:`nrmse`).
        ``coverage_50``, ``coverage_90``
            empirical coverage of the central 50% / 90% intervals (:func:`coverage`).
        ``energy_score``
            energy score over the horizon, mean over series, in units of ``y``
            (:func:`energy_score`).
    """
    if not isinstance(y, np.ndarray) and _is_backtest(y):
        history = backtest_options.pop("history", insample)
        return evaluate_backtest(y, samples, history=history, season=season,  # type: ignore[return-value]
                                 **backtest_options)
    if backtest_options:
        raise TypeError(f"evaluate() got unexpected keyword arguments {sorted(backtest_options)} (only backtests "
                        "take evaluate_backtest's options)")
    season = 1 if season is None else season
    y_arr, s_arr = _as_y_samples(y, samples)
    median = sample_quantile(s_arr, 0.5)
    mean = s_arr.mean(axis=1)
    if insample is None:
        mase_value = float("nan")
    else:
        mase_value = mase(y_arr, median, insample, season)
    return {
        "crps": normalized_crps(y_arr, s_arr),
        "wql_mean": weighted_quantile_loss(y_arr, s_arr, quantiles),
        "mase": mase_value,
        "nd": nd(y_arr, median),
        "nrmse": nrmse(y_arr, mean),
        "coverage_50": coverage(y_arr, s_arr, 0.5),
        "coverage_90": coverage(y_arr, s_arr, 0.9),
        "energy_score": energy_score(y_arr, s_arr),
    }


# --------------------------------------------------------------------------- backtests
#: Central-interval levels whose coverage a backtest report gives (with bootstrap CIs).
BACKTEST_LEVELS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)


@dataclass
class BacktestReport:
    """Scores of a rolling-window backtest (see :func:`evaluate_backtest`).

    Attributes
    ----------
    overall : dict
        ``wql_mean`` (GluonTS ``mean_wQuantileLoss`` over 0.1 ... 0.9), ``crps`` (exact
        ensemble CRPS / sum |y|; NaN without samples), ``crps_series_mean`` (each series'
        exact CRPS / its own sum |y| over its windows, averaged over series: no series
        dominates by its scale; NaN without samples; the ``crps_series_skipped`` series whose
        |y| sums to 0 are left out), ``mase`` (of the median; NaN without
        history), ``wql_mean_seasonal_naive`` (NaN without history), for each level ``L`` of
        ``levels`` ``coverage_L``, ``n_series``, ``n_windows``, ``n_points``. ``wql_mean``,
        ``crps``, ``crps_series_mean`` and every ``coverage_L`` come with ``_low`` / ``_high``
        (bootstrap CI over windows).
    per_series : pd.DataFrame
        One row per series: ``n_windows``, ``wql_mean``, ``crps``, ``mase``, ``coverage_L``.
    per_window : pd.DataFrame
        One row per window (0 = oldest): latest ``cutoff``, ``wql_mean``,
        ``wql_mean_seasonal_naive``, ``crps``, ``n_points``.
    coverage : pd.DataFrame
        ``level``, ``observed``, ``ci_low``, ``ci_high``.
    reliability : pd.DataFrame
        ``quantile`` (every quantile column) and ``observed``: the share of actuals at or below it.
    pit : np.ndarray
        PIT value of every observed point (empty without samples).
    pit_counts, pit_edges : np.ndarray
        PIT histogram.
    notes : dict
        What each overall number is.
    """

    overall: dict
    per_series: Any
    per_window: Any
    coverage: Any
    reliability: Any
    pit: np.ndarray
    pit_counts: np.ndarray
    pit_edges: np.ndarray
    notes: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain data (JSON-ready): overall numbers, per-series and per-window rows, the PIT histogram."""
        return {"overall": dict(self.overall), "per_series": self.per_series.to_dict(orient="records"),
                "per_window": self.per_window.to_dict(orient="records"),
                "reliability": self.reliability.to_dict(orient="records"),
                "pit_histogram": {"counts": self.pit_counts.tolist(), "edges": self.pit_edges.tolist()}}

    def to_text(self) -> str:
        """The report as a few aligned lines of text (what ``tsdiff evaluate`` prints)."""
        o = self.overall
        lines = [f"backtest: {o['n_series']} series x {o['n_windows']} windows, {o['n_points']} scored points"]
        rows = [(k, o[k], self.notes.get(k, "")) for k in ("wql_mean", "crps", "crps_series_mean", "mase",
                                                            "wql_mean_seasonal_naive") if k in o]
        width = max(len(r[0]) for r in rows)
        for name, value, note in rows:
            lines.append(f"  {name:<{width}}  {value:8.4f}  {note}".rstrip())
        lines.append(f"  coverage (central interval, {self.notes.get('ci', '')}):")
        for r in self.coverage.itertuples(index=False):
            lines.append(f"    {r.level:4.0%}  observed {r.observed:6.3f}  CI [{r.ci_low:.3f}, {r.ci_high:.3f}]")
        if len(self.pit):
            lines.append(f"  PIT histogram ({len(self.pit)} points, {len(self.pit_counts)} bins; flat = calibrated): "
                         + " ".join(str(int(c)) for c in self.pit_counts))
        lines.append("  per series:")
        lines.append("    " + self.per_series.to_string(index=False, float_format=lambda v: f"{v:.4f}")
                     .replace("\n", "\n    "))
        return "\n".join(lines)


def evaluate_backtest(cv: Any, actuals: Any = None, *, history: Any = None, season: Optional[int] = None,
                      levels: Sequence[float] = BACKTEST_LEVELS, n_bootstrap: int = 1000, ci: float = 0.95,
                      n_bins: int = 10, seed: int = 0) -> BacktestReport:
    """Score a backtest: wQL, exact CRPS, MASE, interval coverage with bootstrap CIs, PIT, per series and overall.

    Parameters
    ----------
    cv : pd.DataFrame or list of Forecast
        The frame of :meth:`tsdiff.TSDiff.cross_validation` (id, timestamp, ``cutoff``,
        ``actual``, ``mean``, quantile columns, optional ``sample_*`` columns), or one
        :class:`~tsdiff.forecast.Forecast` per window (then ``actuals`` is required).
    actuals : pd.DataFrame, optional
        Long frame (id, timestamp, target) of the true values; needed for forecasts,
        and for a frame without an ``actual`` column.
    history : pd.DataFrame, optional
        The series (any format :meth:`~tsdiff.TSDiff.fit` reads); enables MASE and the seasonal
        naive reference, each computed from the values up to each window's cut-off only.
    season : int, optional
        Seasonal period of MASE and seasonal naive (default: GluonTS's for the frequency).
    levels : sequence of float
        Central-interval levels whose coverage is reported.
    n_bootstrap : int
        Bootstrap resamples of the windows (cut-offs, drawn with replacement) for the CIs.
    ci : float
        Level of the bootstrap confidence intervals.
    n_bins : int
        PIT histogram bins.
    seed : int
        Seed of the bootstrap and of the PIT's tie randomization (a numpy Generator).

    Returns
    -------
    BacktestReport

    Notes
    -----
    wQL and coverage use the frame's quantile columns, which ``cross_validation`` computes
    with :func:`sample_quantile` (GluonTS's rule), so they equal :func:`weighted_quantile_loss`
    and :func:`coverage` on the samples. The exact CRPS and the PIT need the samples
    (``sample_*`` columns or forecasts).
    """
    import pandas as pd

    if not 0.0 < float(ci) < 1.0:
        raise ValueError(f"ci must lie strictly between 0 and 1, got {ci}")
    if int(n_bootstrap) < 1 or int(n_bins) < 1:
        raise ValueError(f"n_bootstrap and n_bins must be >= 1, got {n_bootstrap}, {n_bins}")
    levels = [_check_level(v, "levels") for v in levels]
    frame = _backtest_frame(cv, actuals)
    id_col, ts_col = forecast_frame_columns(frame)
    if not pd.api.types.is_datetime64_any_dtype(frame["cutoff"]):
        frame = frame.assign(cutoff=pd.to_datetime(frame["cutoff"]))
    frame = frame.sort_values([id_col, "cutoff", ts_col], kind="stable").reset_index(drop=True)
    keys = frame[id_col].astype(str) + "\x00" + frame["cutoff"].astype(str)
    unit_codes, _ = pd.factorize(keys, sort=False)
    n_units = int(unit_codes.max()) + 1 if len(frame) else 0
    if n_units == 0:
        raise ValueError("the backtest frame is empty")
    h_per_unit = np.bincount(unit_codes)
    if (h_per_unit != h_per_unit[0]).any():
        raise ValueError(f"every (series, cutoff) window must have the same horizon; got lengths "
                         f"{sorted(set(h_per_unit.tolist()))}")
    H = int(h_per_unit[0])
    Y = frame["actual"].to_numpy(np.float64).reshape(n_units, H)
    unit_rows = frame.iloc[::H]
    unit_ids = unit_rows[id_col].to_numpy()
    unit_cut = pd.DatetimeIndex(unit_rows["cutoff"])
    # window index aligned at the end: the latest cut-off of every series is the last window
    rank_from_end = unit_rows.groupby(id_col, sort=False)["cutoff"].rank(ascending=False, method="first")
    n_windows = int(rank_from_end.max())
    window = (n_windows - rank_from_end.to_numpy(np.int64)).astype(np.int64)
    qcols = quantile_columns(frame)
    Q = {lv: frame[c].to_numpy(np.float64).reshape(n_units, H) for lv, c in qcols.items()}
    scols = sample_columns(frame)
    S = (frame[scols].to_numpy(np.float64).reshape(n_units, H, len(scols)).transpose(0, 2, 1) if scols else None)

    def q_of(level: float) -> Optional[np.ndarray]:
        match = [lv for lv in Q if abs(lv - level) < 1e-9]
        if match:
            return Q[match[0]]
        return None if S is None else sample_quantile(S, level)

    median = q_of(0.5)
    if median is None:
        median = frame["mean"].to_numpy(np.float64).reshape(n_units, H)

    def wql(mask: np.ndarray) -> float:
        qs = [q_of(q) for q in DEFAULT_QUANTILES]
        if any(q is None for q in qs):
            return float("nan")
        obs = _observed(Y[mask])
        denom = np.sum(np.abs(Y[mask][obs])) if obs.any() else np.nan
        losses = [quantile_loss(Y[mask], qv[mask][:, None, :], q) for q, qv in zip(DEFAULT_QUANTILES, qs)]
        return _ratio(np.mean(losses), denom)

    # per-unit sums: |y| and the exact ensemble CRPS (properscoring) over the observed points
    obs_all = _observed(Y)
    abs_y_unit = np.where(obs_all, np.abs(Y), 0.0).sum(axis=1)
    crps_unit = None if S is None else np.where(obs_all, crps_ensemble(Y, S), 0.0).sum(axis=1)

    def crps(mask: np.ndarray) -> float:
        """Exact ensemble CRPS / sum |y| over the units of ``mask`` (as :func:`normalized_crps`)."""
        if crps_unit is None or not obs_all[mask].any():
            return float("nan")
        return _ratio(np.sum(crps_unit[mask]), np.sum(abs_y_unit[mask]))

    # coverage hits per unit
    n_obs_unit = obs_all.sum(axis=1)
    hits: dict[float, np.ndarray] = {}
    for level in levels:
        lo, hi = q_of(round((1 - level) / 2, 12)), q_of(round((1 + level) / 2, 12))
        if lo is None or hi is None:
            hits[level] = np.full(n_units, np.nan)
            continue
        with np.errstate(invalid="ignore"):
            hits[level] = np.sum(obs_all & (Y >= lo) & (Y <= hi), axis=1).astype(np.float64)

    # MASE and seasonal naive from the history up to each cut-off
    mase_unit = np.full(n_units, np.nan)
    naive_wql_window = np.full(n_windows, np.nan)
    naive_overall = float("nan")
    if history is not None:
        insample, freq = _histories_at_cutoffs(history, unit_ids, unit_cut, id_col, ts_col)
        if season is None:
            from .integrations.gluonts_features import seasonality

            season = seasonality(freq)
        naive = np.empty_like(Y)
        for u, past in enumerate(insample):
            mase_unit[u] = mase(Y[u:u + 1], median[u:u + 1], [past], season)
            m = season if season <= len(past) else 1
            naive[u] = past[len(past) - m:][np.arange(H) % m]
            if not np.isfinite(naive[u]).all():  # missing history values: fall back to the past's mean
                fill = np.nanmean(past) if np.isfinite(past).any() else 0.0
                naive[u] = np.where(np.isfinite(naive[u]), naive[u], fill)
        for w in range(n_windows):
            sel = window == w
            naive_wql_window[w] = weighted_quantile_loss(Y[sel], naive[sel][:, None, :])
        naive_overall = weighted_quantile_loss(Y, naive[:, None, :])

    everything = np.ones(n_units, bool)
    overall: dict[str, Any] = {"wql_mean": wql(everything), "crps": crps(everything), "mase": _nanmean(mase_unit),
                               "wql_mean_seasonal_naive": naive_overall}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_windows, size=(int(n_bootstrap), n_windows))
    lo_p, hi_p = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2

    def window_ci(num_unit: np.ndarray, den_unit: np.ndarray) -> tuple[float, float]:
        """Bootstrap CI of ``sum(num) / sum(den)`` over resampled windows (per-unit sums given)."""
        num_w = np.bincount(window, weights=num_unit, minlength=n_windows)
        den_w = np.bincount(window, weights=den_unit, minlength=n_windows)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = num_w[draws].sum(axis=1) / den_w[draws].sum(axis=1)
        return _percentiles(boot, lo_p, hi_p)

    cov_rows = []
    for level in levels:
        value = _ratio(np.sum(hits[level]), np.sum(n_obs_unit))
        low, high = window_ci(hits[level], n_obs_unit.astype(np.float64))
        name = f"coverage_{level * 100:g}"
        overall[name], overall[f"{name}_low"], overall[f"{name}_high"] = value, low, high
        cov_rows.append({"level": level, "observed": value, "ci_low": low, "ci_high": high})
    # wQL and CRPS as ratios of per-window sums, with the same window bootstrap; and the CRPS normalized
    # per series (each series' sum CRPS / sum |y| over its windows, averaged over series with equal weight).
    quantile_preds = [q_of(q) for q in DEFAULT_QUANTILES]
    if all(qv is not None for qv in quantile_preds):
        with np.errstate(invalid="ignore"):
            ql_unit = np.mean([np.where(obs_all, 2.0 * np.abs((Y - qv) * ((Y <= qv).astype(np.float64) - q)), 0.0)
                               .sum(axis=1) for q, qv in zip(DEFAULT_QUANTILES, quantile_preds)], axis=0)
        overall["wql_mean_low"], overall["wql_mean_high"] = window_ci(ql_unit, abs_y_unit)
    else:
        overall["wql_mean_low"] = overall["wql_mean_high"] = float("nan")
    series_codes, series_names = pd.factorize(unit_ids, sort=False)
    overall["crps_series_mean"] = overall["crps_low"] = overall["crps_high"] = float("nan")
    overall["crps_series_mean_low"] = overall["crps_series_mean_high"] = float("nan")
    overall["crps_series_skipped"] = 0
    if crps_unit is not None:
        overall["crps_low"], overall["crps_high"] = window_ci(crps_unit, abs_y_unit)
        n_s = len(series_names)
        flat = series_codes * n_windows + window
        num = np.bincount(flat, weights=crps_unit, minlength=n_s * n_windows).reshape(n_s, n_windows)
        den = np.bincount(flat, weights=abs_y_unit, minlength=n_s * n_windows).reshape(n_s, n_windows)
        scored = den.sum(axis=1) > 0  # a series whose |y| sums to 0 has no ratio: left out (and counted)
        overall["crps_series_skipped"] = int((~scored).sum())
        num, den = num[scored], den[scored]
        with np.errstate(invalid="ignore", divide="ignore"):
            overall["crps_series_mean"] = _nanmean(num.sum(axis=1) / den.sum(axis=1))
            per_series_boot = num[:, draws].sum(axis=2) / den[:, draws].sum(axis=2)  # (series, n_bootstrap)
            keep = np.isfinite(per_series_boot)
            boot = np.where(keep, per_series_boot, 0.0).sum(axis=0) / keep.sum(axis=0)
        overall["crps_series_mean_low"], overall["crps_series_mean_high"] = _percentiles(boot, lo_p, hi_p)
    overall.update(n_series=int(len(pd.unique(unit_ids))), n_windows=n_windows, n_points=int(obs_all.sum()))

    series_rows = []
    for item in pd.unique(unit_ids):
        sel = unit_ids == item
        row = {id_col: item, "n_windows": int(sel.sum()), "wql_mean": wql(sel), "crps": crps(sel),
               "mase": _nanmean(mase_unit[sel])}
        for level in levels:
            row[f"coverage_{level * 100:g}"] = _ratio(np.sum(hits[level][sel]), np.sum(n_obs_unit[sel]))
        series_rows.append(row)
    window_rows = []
    for w in range(n_windows):
        sel = window == w
        window_rows.append({"window": w, "cutoff": unit_cut[sel].max(), "wql_mean": wql(sel),
                            "wql_mean_seasonal_naive": naive_wql_window[w], "crps": crps(sel),
                            "n_points": int(obs_all[sel].sum())})
    rel = []
    for lv in Q:
        with np.errstate(invalid="ignore"):
            rel.append({"quantile": lv, "observed": float(np.mean(Y[obs_all] <= Q[lv][obs_all]))
                        if obs_all.any() else float("nan")})
    pit = pit_values(Y, S, randomize=True, seed=seed) if S is not None else np.zeros(0)
    counts, edges = np.histogram(pit, bins=int(n_bins), range=(0.0, 1.0))
    notes = {"wql_mean": "wQL: GluonTS mean_wQuantileLoss over 0.1..0.9 (quantile columns)",
             "crps": "CRPS (exact ensemble, properscoring) / sum|y|" if S is not None
             else "CRPS (exact): needs samples (cross_validation(include_samples=True))",
             "crps_series_mean": "per-series CRPS (exact) / that series' sum|y|, mean over series with sum|y| > 0"
             if S is not None
             else "per-series CRPS: needs samples",
             "mase": f"MASE of the median, season {season}" if history is not None else "MASE: needs history",
             "wql_mean_seasonal_naive": "wQL of seasonal naive on the same windows" if history is not None
             else "seasonal naive: needs history",
             "ci": f"{ci:.0%} bootstrap CI over {n_windows} windows, {int(n_bootstrap)} resamples, seed {seed}"}
    return BacktestReport(overall=overall, per_series=pd.DataFrame(series_rows), per_window=pd.DataFrame(window_rows),
                          coverage=pd.DataFrame(cov_rows), reliability=pd.DataFrame(rel, columns=["quantile", "observed"]),
                          pit=pit, pit_counts=counts, pit_edges=edges, notes=notes)


def _percentiles(boot: np.ndarray, lo_p: float, hi_p: float) -> tuple[float, float]:
    """``(lo_p, hi_p)`` percentiles of the finite bootstrap values (NaN, NaN when there are none)."""
    finite = boot[np.isfinite(boot)]
    if not finite.size:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [lo_p, hi_p])
    return float(low), float(high)


def _is_forecast(obj: Any) -> bool:
    """A :class:`tsdiff.forecast.Forecast` (by its interface: metrics sits below tsdiff.forecast)."""
    return all(hasattr(obj, name) for name in ("samples", "item_ids", "timestamps", "freq", "to_dataframe"))


def _is_backtest(obj: Any) -> bool:
    """A cross_validation frame, a Forecast or a list of them (not numpy-like input)."""
    import pandas as pd

    if isinstance(obj, pd.DataFrame) or _is_forecast(obj):
        return True
    return isinstance(obj, (list, tuple)) and bool(obj) and all(_is_forecast(f) for f in obj)


def _backtest_frame(cv: Any, actuals: Any) -> Any:
    """A cross-validation frame (with an ``actual`` column) from a frame or from per-window forecasts."""
    import pandas as pd

    if _is_forecast(cv):
        cv = [cv]
    if isinstance(cv, (list, tuple)) and cv and all(_is_forecast(f) for f in cv):
        parts = []
        for f in cv:
            part = f.to_dataframe(quantiles=(), include_samples=True)
            first = part.groupby(f.id_col, sort=False)[f.timestamp_col].transform("min")
            part.insert(2, "cutoff", first - pd.tseries.frequencies.to_offset(f.freq))
            for q in DEFAULT_QUANTILES:
                part[_quantile_name(q)] = sample_quantile(f.samples, q).reshape(-1)
            parts.append(part)
        frame = pd.concat(parts, ignore_index=True)
        if actuals is None:
            raise ValueError("evaluating forecasts needs actuals= (a long frame with id, timestamp and target)")
    elif isinstance(cv, pd.DataFrame):
        frame = cv
        if "cutoff" not in frame.columns:
            raise ValueError(f"the backtest frame has no 'cutoff' column (columns: {list(frame.columns)[:8]}); "
                             "is it the output of TSDiff.cross_validation?")
    else:
        raise TypeError(f"expected a cross_validation frame or a list of Forecast, got {type(cv).__name__}")
    if actuals is not None:
        id_col, ts_col = forecast_frame_columns(frame)
        target = "target" if "target" in actuals.columns else "y" if "y" in actuals.columns else None
        if target is None or id_col not in actuals.columns or ts_col not in actuals.columns:
            raise ValueError(f"actuals need the columns {id_col!r}, {ts_col!r} and 'target' (or 'y'); "
                             f"got {list(actuals.columns)[:8]}")
        act = actuals[[id_col, ts_col, target]].drop_duplicates([id_col, ts_col], keep="last")
        act = act.rename(columns={target: "actual"})
        frame = frame.drop(columns=["actual"], errors="ignore").merge(act, how="left", on=[id_col, ts_col])
    if "actual" not in frame.columns:
        raise ValueError("the backtest frame has no 'actual' column; pass actuals=")
    return frame


def _histories_at_cutoffs(history: Any, unit_ids: np.ndarray, cutoffs: Any, id_col: str,
                          ts_col: str) -> tuple[list[np.ndarray], str]:
    """Each unit's target values up to and including its cut-off, read from ``history``."""
    import pandas as pd

    from .frames import read_series

    cols = set(getattr(history, "columns", ()))
    series, spec = read_series(history, id_col=id_col if id_col in cols else None,
                               timestamp_col=ts_col if ts_col in cols else None, arg_name="history")
    by_id = {s.item_id: s for s in series}
    by_str = {str(s.item_id): s for s in series}
    cut = pd.DatetimeIndex(cutoffs)
    if cut.tz is not None:
        cut = cut.tz_convert(spec.tz or "UTC").tz_localize(None)
    out = []
    for item, c in zip(unit_ids, cut):
        s = by_id.get(item, by_str.get(str(item)))
        if s is None:
            raise ValueError(f"history has no series {item!r} (it has {list(by_id)[:5]})")
        pos = s.timestamps(spec.freq).get_indexer([c])[0]
        if pos < 0:
            raise ValueError(f"history of series {item!r} does not contain its cut-off {c}")
        out.append(np.asarray(s.target[:pos + 1], dtype=np.float64))
    return out, spec.freq


def evaluate_forecast_frame(forecast: Any, actuals: Any, id_col: str, timestamp_col: str, history: Any = None,
                            season: Optional[int] = None) -> dict[str, Any]:
    """Metrics of a long forecast frame against a long actuals frame (what ``tsdiff evaluate`` prints).

    Parameters
    ----------
    forecast : pd.DataFrame
        Output of :meth:`Forecast.to_dataframe` (id, timestamp, ``mean``,
        quantile columns, optional ``sample_*`` columns), timestamps parsed.
    actuals : pd.DataFrame
        Id, timestamp and ``target`` columns; rows matched on (id, timestamp).
    history : pd.DataFrame, optional
        Same layout as ``actuals``; enables MASE (seasonal error from the
        history before each series' first forecast timestamp).
    season : int, optional
        Seasonal period for MASE; default from the frequency of the forecast
        timestamps (GluonTS's seasonality), else 1.

    Returns
    -------
    dict
        ``wql_mean`` (mean over the quantile columns of the GluonTS weighted
        quantile loss ``sum 2|(y - q)(1{y <= q} - tau)| / sum |y|``),
        ``coverage_XX`` for each central interval the columns span, ``mase``
        and ``nd`` of the median (or mean) column, ``crps`` (exact ensemble CRPS
        / sum |y|, only with ``sample_*`` columns), ``n_series``, ``n_points``.
        Missing actual values are skipped.

    Raises
    ------
    DataError
        When ``actuals`` or ``history`` lack ``id_col``, or no forecast point has an actual value.
    """
    import warnings

    from .errors import DataError

    if id_col not in actuals.columns:
        raise DataError(f"the actuals have no id column {id_col!r}; name it with --id-col")
    fc = forecast.assign(_key=forecast[id_col].astype(str))
    act = actuals.assign(_key=actuals[id_col].astype(str))[["_key", timestamp_col, "target"]]
    act = act.drop_duplicates(["_key", timestamp_col], keep="last")
    merged = fc.merge(act, how="left", on=["_key", timestamp_col], validate="many_to_one")
    y = merged["target"].to_numpy(dtype=float)
    observed = np.isfinite(y)
    if not observed.any():
        raise DataError("no forecast (id, timestamp) has an actual value; check the ids, timestamps and "
                       "--target-col of the actuals")
    results: dict[str, Any] = {}
    notes: dict[str, str] = {}
    yo = y[observed]
    denom = float(np.sum(np.abs(yo)))
    qcols = quantile_columns(merged)
    if qcols:
        losses = []
        for tau, col in qcols.items():
            q = merged[col].to_numpy(dtype=float)[observed]
            losses.append(2.0 * np.sum(np.abs((yo - q) * ((yo <= q).astype(float) - tau))))
        results["wql_mean"] = float(np.mean(losses) / denom) if denom > 0 else float("inf")
        notes["wql_mean"] = f"mean weighted quantile loss over {len(qcols)} quantile columns"
        for level, (lo, hi) in central_intervals(list(qcols)).items():
            lo_v = merged[qcols[lo]].to_numpy(dtype=float)[observed]
            hi_v = merged[qcols[hi]].to_numpy(dtype=float)[observed]
            name = f"coverage_{level * 100:g}"
            results[name] = float(np.mean((yo >= lo_v) & (yo <= hi_v)))
            notes[name] = f"share of actuals inside [q{lo:g}, q{hi:g}] (nominal {level:.0%})"
    median_col = next((c for lv, c in qcols.items() if abs(lv - 0.5) < 1e-9), None)
    point_col = median_col if median_col is not None else ("mean" if "mean" in merged.columns else None)
    if point_col is not None:
        point = merged[point_col].to_numpy(dtype=float)
        results["nd"] = nd(y[None, :], point[None, :])
        notes["nd"] = f"sum|y - {'median' if point_col == median_col else 'mean'}| / sum|y|"
        if history is not None:
            if season is None:
                season = _infer_frame_season(merged, id_col, timestamp_col)
            hist = history.assign(_key=history[id_col].astype(str)) if id_col in history.columns else None
            if hist is None:
                raise DataError(f"the history has no id column {id_col!r}; name it with --id-col")
            per_series = []
            for key, rows in merged.groupby("_key", sort=False):
                start = rows[timestamp_col].min()
                past = hist[(hist["_key"] == key) & (hist[timestamp_col] < start)].sort_values(timestamp_col)
                yi = rows["target"].to_numpy(dtype=float)[None, :]
                fi = rows[point_col].to_numpy(dtype=float)[None, :]
                if len(past) < 2 or not np.isfinite(yi).any():
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    per_series.append(mase(yi, fi, [past["target"].to_numpy(dtype=float)], season))
            vals = np.asarray(per_series, dtype=float)
            vals = vals[~np.isnan(vals)]
            results["mase"] = float(np.mean(vals)) if vals.size else float("nan")
            notes["mase"] = f"of the {'median' if point_col == median_col else 'mean'}, season {season}"
    scols = sample_columns(merged)
    if scols:
        samples = merged[scols].to_numpy(dtype=float)[observed]  # (M, S)
        results["crps"] = normalized_crps(yo[:, None], samples[:, :, None])
        notes["crps"] = f"exact ensemble CRPS ({len(scols)} samples) / sum|y|"
    results["n_series"] = int(merged.loc[observed, "_key"].nunique())
    results["n_points"] = int(observed.sum())
    notes["n_points"] = f"of {len(merged)} forecast points have an actual value"
    results["_notes"] = notes
    return results


def _infer_frame_season(frame: Any, id_col: str, timestamp_col: str) -> int:
    import pandas as pd

    first = frame[frame["_key"] == frame["_key"].iloc[0]][timestamp_col].sort_values()
    freq = None
    if len(first) >= 3:
        try:
            freq = pd.infer_freq(pd.DatetimeIndex(first))
        except (TypeError, ValueError):
            freq = None
    if not freq:
        logger.warning("cannot infer the frequency of the forecast timestamps; MASE uses season 1 (set --season)")
        return 1
    try:
        from .integrations.gluonts_features import seasonality

        return max(1, int(seasonality(freq)))
    except Exception as exc:  # gluonts missing or unknown alias: fall back to no seasonality
        logger.warning("no seasonality known for freq %r (%s); MASE uses season 1 (set --season)", freq, exc)
        return 1
