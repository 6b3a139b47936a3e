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
  interpolation; ``np.round`` rounds halves to even). See :func:`sample_quantile`.
- Everything is computed in float64.

No torch and no gluonts are imported here.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)

#: Quantile levels of GluonTS ``Evaluator()``'s default (and of ``mean_wQuantileLoss``).
DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

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


# --------------------------------------------------------------------------- quantiles
def sample_quantile(samples: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` sample quantile exactly as GluonTS ``SampleForecast.quantile`` computes it.

    GluonTS sorts the samples along the sample axis and returns the order statistic at
    index ``int(np.round((S - 1) * q))``: no interpolation, and ``np.round`` rounds
    halves to even (with ``S = 100``, ``q = 0.5`` gives index 50, the upper median).

    Parameters
    ----------
    samples : np.ndarray, shape (N, S, H) or (S, H)
        Sample paths.
    q : float
        Quantile level in [0, 1].

    Returns
    -------
    np.ndarray, shape (N, H) or (H,)
    """
    q = _check_level(q, "q")
    arr = np.asarray(samples, dtype=np.float64)
    if arr.ndim not in (2, 3):
        raise ValueError(f"samples must have shape (n_series, n_samples, horizon) or (n_samples, horizon), "
                         f"got shape {arr.shape}")
    axis = arr.ndim - 2
    n_samples = arr.shape[axis]
    idx = int(np.round((n_samples - 1) * q))
    return np.take(np.sort(arr, axis=axis), idx, axis=axis)


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


# --------------------------------------------------------------------------- all at once
def evaluate(
    y: np.ndarray,
    samples: np.ndarray,
    insample: Sequence[np.ndarray] | np.ndarray | None = None,
    season: int = 1,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> dict[str, float]:
    """Every metric of this module for one set of forecasts.

    Parameters
    ----------
    y : np.ndarray, shape (N, H)
        Observed future values; non-finite values are missing.
    samples : np.ndarray, shape (N, S, H)
        Forecast sample paths.
    insample : sequence of N 1-D arrays, optional
        Each series' history before the forecast start, for MASE. Without it
        ``mase`` is NaN.
    season : int
        Seasonal period for MASE (GluonTS: ``get_seasonality(freq)``).
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
