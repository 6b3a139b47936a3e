"""Numpy window slicing: training, validation and prediction windows.

A window is cut at a *split point* ``s`` of a series: the past is
``[s - context_length, s)`` and the future ``[s, s + prediction_length)``.
Points before the series start (left padding) or after its end, and NaN
targets, are marked unobserved, never imputed. Windows never see the future:
the past of a window ends strictly before its split point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

Batch = dict[str, np.ndarray]


@dataclass
class SeriesArrays:
    """One series as the model sees it (numpy, no pandas).

    Attributes
    ----------
    target : (T,) float32, NaN = missing
    time_feat : (F, T_ext) float32 with ``T_ext >= T`` (extends into the future for prediction)
    known_cov : (K, T_ext) float32 or None
    past_cov : (P, T) float32 or None
    static_cat : (S,) int64 or None
    static_real : (R,) float32 or None
    scale_floor : float or None
        Floor of the series' scale in its units (see :func:`tsdiff.scaling.floored_scale`);
        batched as ``scale_floor`` (B, 1) when given.
    """

    target: np.ndarray
    time_feat: np.ndarray
    known_cov: Optional[np.ndarray] = None
    past_cov: Optional[np.ndarray] = None
    static_cat: Optional[np.ndarray] = None
    static_real: Optional[np.ndarray] = None
    scale_floor: Optional[float] = None

    def __len__(self) -> int:
        return int(self.target.shape[0])


def _slice(arr: np.ndarray, start: int, end: int, valid_end: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """``arr[..., start:end]`` with zero padding outside ``[0, valid_end)``; also the validity mask (end-start,)."""
    n = arr.shape[-1] if valid_end is None else min(valid_end, arr.shape[-1])
    length = end - start
    out = np.zeros(arr.shape[:-1] + (length,), dtype=np.float32)
    valid = np.zeros(length, dtype=np.float32)
    lo, hi = max(start, 0), min(end, n)
    if hi > lo:
        out[..., lo - start:hi - start] = arr[..., lo:hi]
        valid[lo - start:hi - start] = 1.0
    return out, valid


def make_batch(series: Sequence[SeriesArrays], index: np.ndarray, splits: np.ndarray,
               context_length: int, prediction_length: int, with_target: bool = True,
               ends: Optional[np.ndarray] = None) -> Batch:
    """Stack the windows of ``series[index[i]]`` split at ``splits[i]``.

    Returns a dict of float32 arrays with the keys and shapes of the batch
    table in ``docs/architecture.md`` (``past_target`` (B, C), ``future_time_feat``
    (B, H, F), ...). ``future_target``/``future_observed`` only when
    ``with_target``. ``ends[i]`` (default: the series length) hides target
    values at and after that position, e.g. a held-out validation tail.
    """
    C, H = context_length, prediction_length
    cols: dict[str, list[np.ndarray]] = {}

    def put(key: str, value: np.ndarray) -> None:
        cols.setdefault(key, []).append(value)

    index = np.asarray(index)
    ends_arr = np.asarray(ends) if ends is not None else np.array([len(series[int(i)]) for i in index])
    for i, s, T in zip(index, np.asarray(splits), ends_arr):
        ser = series[int(i)]
        s, T = int(s), int(T)
        past, past_valid = _slice(ser.target, s - C, s, valid_end=T)
        past_obs = past_valid * ~np.isnan(past)
        put("past_target", np.nan_to_num(past, nan=0.0))
        put("past_observed", past_obs.astype(np.float32))
        tf_past, _ = _slice(ser.time_feat, s - C, s)
        tf_future, _ = _slice(ser.time_feat, s, s + H)
        put("past_time_feat", tf_past.T)
        put("future_time_feat", tf_future.T)
        if ser.known_cov is not None:
            put("past_known_cov", _slice(ser.known_cov, s - C, s)[0].T)
            put("future_known_cov", _slice(ser.known_cov, s, s + H)[0].T)
        if ser.past_cov is not None:
            put("past_past_cov", _slice(ser.past_cov, s - C, s, valid_end=T)[0].T)
        if ser.static_cat is not None:
            put("static_cat", ser.static_cat)
        if ser.static_real is not None:
            put("static_real", ser.static_real)
        if ser.scale_floor is not None:
            put("scale_floor", np.array([ser.scale_floor], dtype=np.float32))
        if with_target:
            fut, fut_valid = _slice(ser.target, s, s + H, valid_end=T)
            put("future_target", np.nan_to_num(fut, nan=0.0))
            put("future_observed", (fut_valid * ~np.isnan(fut)).astype(np.float32))
    out = {k: np.stack(v) for k, v in cols.items()}
    for k in list(out):
        out[k] = out[k].astype(np.int64 if k == "static_cat" else np.float32, copy=False)
    return out


class TrainWindowSampler:
    """Uniform random training windows over all (series, split point) pairs.

    Split points of series ``i`` range over ``[1, max(1, end_i - H)]`` so that
    each window has at least one past point and, where the series is long
    enough, a fully observed future inside ``[0, end_i)``. ``end_i`` excludes
    any held-out validation tail.

    Parameters
    ----------
    series : sequence of SeriesArrays
    context_length, prediction_length : int
    ends : sequence of int
        Exclusive end of the training part of each series (``len(series[i])``
        or less when a validation window is held out). Series with ``end < 2``
        give no training windows.
    min_context_observed : int, default 0
        With ``k > 1``, only windows whose context holds at least ``k`` observed
        points are drawn (uniformly among those). A series with ``n <= k``
        observed training points needs ``n - 1`` instead (a context no shorter
        than its forecasts will read). A series too short for both its ``k``
        points and a whole future before its end keeps its earliest such window
        (its future partly beyond the end). ``0`` or ``1``: every window, as before.

    Raises
    ------
    ValueError
        No series gives a training window.
    """

    def __init__(self, series: Sequence[SeriesArrays], context_length: int, prediction_length: int,
                 ends: Sequence[int], min_context_observed: int = 0) -> None:
        self.series = series
        self.ends = np.asarray(ends, dtype=np.int64)
        self.context_length = context_length
        self.prediction_length = prediction_length
        ends = np.asarray(ends, dtype=np.int64)
        self.max_split = np.maximum(1, ends - prediction_length)
        usable = ends >= 2
        if not usable.any():
            raise ValueError("no series has at least 2 time steps to train on")
        self.min_context_observed = int(min_context_observed)
        self.valid_splits: Optional[list[np.ndarray]] = None
        if self.min_context_observed > 1:
            self.valid_splits = [self._valid_splits(series[i].target, int(ends[i])) if usable[i]
                                 else np.zeros(0, np.int64) for i in range(len(series))]
            usable &= np.array([len(v) > 0 for v in self.valid_splits], dtype=bool)
            if not usable.any():
                raise ValueError("no series has a training window with an observed context point "
                                 f"(series training lengths {ends.tolist()[:10]})")
        self.series_index = np.flatnonzero(usable)
        if self.valid_splits is None:
            counts = self.max_split[self.series_index].astype(np.float64)
        else:
            counts = np.array([len(self.valid_splits[i]) for i in self.series_index], dtype=np.float64)
        self.weights = counts / counts.sum()

    def _valid_splits(self, target: np.ndarray, end: int) -> np.ndarray:
        """Split points in ``[1, end)`` whose context holds ``min_context_observed`` observed points."""
        obs = ~np.isnan(target[:end])
        cum = np.concatenate([[0], np.cumsum(obs)])
        k = max(1, min(self.min_context_observed, int(cum[-1]) - 1))
        s = np.arange(1, max(end, 1))
        count = cum[s] - cum[np.maximum(0, s - self.context_length)]
        ok = s[count >= k]
        if not len(ok):
            return ok.astype(np.int64)
        upper = max(int(ok[0]), end - self.prediction_length)
        return ok[ok <= upper].astype(np.int64)

    @property
    def num_windows(self) -> int:
        """Number of distinct training windows."""
        if self.valid_splits is not None:
            return int(sum(len(self.valid_splits[i]) for i in self.series_index))
        return int(self.max_split[self.series_index].sum())

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """Draw ``batch_size`` windows with ``rng`` (a numpy ``Generator``)."""
        idx = rng.choice(self.series_index, size=batch_size, p=self.weights)
        if self.valid_splits is None:
            splits = rng.integers(1, self.max_split[idx] + 1)
        else:
            pos = rng.integers(0, np.array([len(self.valid_splits[i]) for i in idx]))
            splits = np.array([self.valid_splits[i][p] for i, p in zip(idx, pos)], dtype=np.int64)
        return make_batch(self.series, idx, splits, self.context_length, self.prediction_length,
                          ends=self.ends[idx])


class ContextSampler:
    """Forecast contexts for distillation: windows whose context ends anywhere up to a series' last point.

    A student mimics the teacher's sampler from the conditioning alone, so it needs no future values:
    unlike :class:`TrainWindowSampler`, a split point may lie anywhere in ``[1, end_i]``, up to the context
    that :meth:`tsdiff.TSDiff.predict` forecasts from by default. A share ``latest_share`` of each batch is
    that latest context (``split = end_i``) of a series drawn uniformly; the rest are uniform over all
    (series, split point) pairs.

    Parameters
    ----------
    series : sequence of SeriesArrays
        Their time features (and known covariates) must reach ``prediction_length`` steps past ``ends``.
    context_length, prediction_length : int
    ends : sequence of int
        Last split point of each series (its observed length); series with ``end < 1`` give no context.
    latest_share : float in [0, 1]

    Raises
    ------
    ValueError
        No series has a context, or ``latest_share`` is outside [0, 1].
    """

    def __init__(self, series: Sequence[SeriesArrays], context_length: int, prediction_length: int,
                 ends: Sequence[int], latest_share: float = 0.0) -> None:
        if not 0.0 <= float(latest_share) <= 1.0:
            raise ValueError(f"latest_share must be in [0, 1], got {latest_share!r}")
        self.series = series
        self.context_length = context_length
        self.prediction_length = prediction_length
        self.latest_share = float(latest_share)
        self.ends = np.asarray(ends, dtype=np.int64)
        self.series_index = np.flatnonzero(self.ends >= 1)
        if not len(self.series_index):
            raise ValueError("no series has a time step to condition on")
        counts = self.ends[self.series_index].astype(np.float64)
        self.weights = counts / counts.sum()

    @property
    def num_windows(self) -> int:
        """Number of distinct contexts."""
        return int(self.ends[self.series_index].sum())

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """Draw ``batch_size`` contexts with ``rng`` (a numpy ``Generator``); no ``future_target`` key."""
        idx = rng.choice(self.series_index, size=batch_size, p=self.weights)
        splits = rng.integers(1, self.ends[idx] + 1)
        latest = rng.random(batch_size) < self.latest_share
        idx[latest] = rng.choice(self.series_index, size=int(latest.sum()))
        splits[latest] = self.ends[idx[latest]]
        return make_batch(self.series, idx, splits, self.context_length, self.prediction_length,
                          with_target=False, ends=self.ends[idx])
