"""Rolling-origin backtests: :meth:`TSDiff.cross_validation` and :func:`history_before_windows`.

The estimator is passed in (``est``); this module never imports :mod:`tsdiff.estimator`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Hashable, Optional, Sequence

import numpy as np
import pandas as pd

from .errors import DataError, _check_positive_int, subject
from .forecast import Forecast
from .frames import FrameSpec, SeriesData, future_timestamps, read_series, to_long_frame

if TYPE_CHECKING:
    from .estimator import TSDiff

logger = logging.getLogger(__name__)

#: Quantile columns of :meth:`TSDiff.cross_validation`: 0.1 ... 0.9 (wQL) plus the ends of the
#: central 50%, 90% and 95% intervals.


CV_QUANTILES: tuple[float, ...] = (0.025, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9,
                                   0.95, 0.975)


def cross_validation(est: "TSDiff", df: pd.DataFrame, n_windows: int, step_size: Optional[int], *,
                     horizon: Optional[int], refit: bool, n_samples: int, static_df: Optional[pd.DataFrame],
                     known_covariates: Optional[Sequence[str]], past_covariates: Optional[Sequence[str]],
                     quantiles: Sequence[float], include_samples: bool, return_samples: Optional[str],
                     predict_kwargs: dict[str, Any]) -> Any:
    """:meth:`TSDiff.cross_validation` of ``est`` (arguments and result documented there)."""
    fitted = hasattr(est, "model_")
    if not refit:
        est._check_fitted("cross_validation")
    n_windows = _check_positive_int("n_windows", n_windows)
    H = est.config_.prediction_length if fitted else _check_positive_int("prediction_length",
                                                                          est.prediction_length)
    horizon = H if horizon is None else _check_positive_int("horizon", horizon)
    step = horizon if step_size is None else _check_positive_int("step_size", step_size)
    n_samples = _check_positive_int("n_samples", n_samples)
    if return_samples not in (None, "array", "forecasts"):
        raise ValueError(f"return_samples must be None, 'array' or 'forecasts', got {return_samples!r}")
    reserved = sorted(set(predict_kwargs) & {"df", "future_df", "horizon", "n_samples", "static_df", "shard"})
    if reserved:
        raise ValueError(f"cross_validation sets {reserved} itself; use its own arguments (horizon=, "
                         "n_samples=, static_df=) instead")
    known = list(est.known_covariates_ if known_covariates is None and fitted else known_covariates or [])
    past = list(est.past_covariates_ if past_covariates is None and fitted else past_covariates or [])
    series, spec = _read_backtest_frame(est, df, known, past, fitted)
    cuts = _cutoff_positions(series, n_windows, horizon, step)
    N = len(series)
    if static_df is None and fitted:
        static_df = _fitted_static_frame(est, [s.item_id for s in series])
    if not refit:
        samples = _cv_one_call(est, series, spec, cuts, horizon, n_samples, static_df, known, past,
                                    predict_kwargs)
    else:
        samples = _cv_refit(est, series, spec, cuts, horizon, n_samples, static_df, known, past,
                                 predict_kwargs)
    frame = _cv_frame(series, spec, cuts, horizon, samples, quantiles, include_samples)
    logger.info("cross_validation: %d series x %d windows of %d steps (refit=%s)", N, n_windows, horizon, refit)
    if return_samples is None:
        return frame
    if return_samples == "array":
        return frame, samples
    freq = spec.freq
    forecasts = []
    for k in range(n_windows):
        ts = [_localize(future_timestamps(_stamp(s, int(cuts[i, k]) - 1, freq), freq, horizon), spec.tz)
              for i, s in enumerate(series)]
        forecasts.append(Forecast(samples[:, k], [s.item_id for s in series], ts, freq,
                                  id_col=spec.id_col, timestamp_col=spec.timestamp_col,
                                  info={"window": k}))
    return frame, forecasts


def _read_backtest_frame(est: "TSDiff", df: pd.DataFrame, known: list[str], past: list[str],
                         fitted: bool) -> tuple[list[SeriesData], FrameSpec]:
    """Read ``df`` with the fitted column names where it has them (as predict does)."""
    cols = set(df.columns) if isinstance(df, pd.DataFrame) else set()
    spec = getattr(est, "spec_", None)

    def pick(attr: str, user: Optional[str]) -> Optional[str]:
        col = getattr(spec, attr) if spec is not None and not spec.wide else None
        return col if col in cols else user

    series, spec_read = read_series(df, id_col=pick("id_col", est.id_col),
                                    timestamp_col=pick("timestamp_col", est.timestamp_col),
                                    target_col=pick("target_col", est.target_col),
                                    freq=est.freq_ if fitted else est.freq, known_covariates=known,
                                    past_covariates=past, arg_name="df")
    return series, spec_read


def _fitted_static_frame(est: "TSDiff", item_ids: Sequence[Hashable]) -> Optional[pd.DataFrame]:
    """The static features given to fit, as a frame (rows of the fitted ``item_ids``), or None."""
    if not getattr(est, "static_vocab_", None) and not getattr(est, "static_real_cols_", 0):
        return None
    known = {i: k for k, i in enumerate(est.item_ids_)}
    missing = [i for i in item_ids if i not in known]
    if missing:
        raise DataError(f"the model uses static features; pass static_df= with rows for the items {missing[:5]}")
    rows = [known[i] for i in item_ids]
    data: dict[str, Any] = {_long_spec(est.spec_, None).id_col: list(item_ids)}
    for j, name in enumerate(est.static_categorical_):
        vocab = est.static_vocab_[j]
        data[name] = [vocab[c - 1] if c > 0 else None for c in est.static_codes_[rows, j]]
    for j, name in enumerate(est.static_real_names_):
        data[name] = est.static_reals_[rows, j]
    return pd.DataFrame(data)


def _cv_one_call(est: "TSDiff", series: list[SeriesData], spec: FrameSpec, cuts: np.ndarray, horizon: int,
                 n_samples: int, static_df: Optional[pd.DataFrame], known: list[str], past: list[str],
                 predict_kwargs: dict[str, Any]) -> np.ndarray:
    """Every (series, cut-off) history as one pseudo-series; one predict call for all of them."""
    N, K = cuts.shape
    C = est.config_.context_length
    pseudo, fut = [], []
    for i, s in enumerate(series):
        for k in range(K):
            c = int(cuts[i, k])
            pseudo.append(_window_series(s, max(0, c - C), c, est.freq_, item_id=i * K + k))
            if known:
                fut.append(s.known_covariates[:, c:c + horizon])
    pseudo_spec = _long_spec(est.spec_, tz=None)
    hist_df = _series_frame(pseudo, pseudo_spec, known, past)
    future_df = _future_frame(pseudo, fut, pseudo_spec, horizon, known) if known else None
    static = None
    if static_df is not None:
        id_col = est._spec_id_col(static_df) or "item_id"
        lookup = static_df.set_index(id_col)
        static = lookup.reindex([s.item_id for s in series for _ in range(K)]).reset_index(drop=True)
        static.insert(0, pseudo_spec.id_col, np.arange(N * K))
    fc = est.predict(horizon=horizon, n_samples=n_samples, df=hist_df, future_df=future_df,
                      static_df=static, **predict_kwargs)
    order = np.argsort(np.asarray(fc.item_ids, dtype=np.int64), kind="stable")
    return fc.samples[order].reshape(N, K, n_samples, horizon)


def _cv_refit(est: "TSDiff", series: list[SeriesData], spec: FrameSpec, cuts: np.ndarray, horizon: int,
              n_samples: int, static_df: Optional[pd.DataFrame], known: list[str], past: list[str],
              predict_kwargs: dict[str, Any]) -> np.ndarray:
    """Fit a clone on each cut-off's histories and forecast from their ends."""
    from sklearn.base import clone

    N, K = cuts.shape
    out = np.empty((N, K, n_samples, horizon), dtype=np.float32)
    names = _long_spec(spec, tz=None)
    for k in range(K):
        hist = [_window_series(s, 0, int(cuts[i, k]), spec.freq) for i, s in enumerate(series)]
        fold = clone(est).set_params(id_col=names.id_col, timestamp_col=names.timestamp_col,
                                     target_col=names.target_col, freq=spec.freq)
        fold.fit(_series_frame(hist, names, known, past), known_covariates=known or None,
                 past_covariates=past or None, static_df=static_df)
        future_df = None
        if known:
            fut = [s.known_covariates[:, int(cuts[i, k]):int(cuts[i, k]) + horizon] for i, s in enumerate(series)]
            future_df = _future_frame(hist, fut, names, horizon, known)
        fc = fold.predict(horizon=horizon, n_samples=n_samples, future_df=future_df, **predict_kwargs)
        row = {item: j for j, item in enumerate(fc.item_ids)}
        out[:, k] = fc.samples[[row[s.item_id] for s in series]]
        logger.info("cross_validation: refit %d/%d done", k + 1, K)
    return out


def _cutoff_positions(series: Sequence[SeriesData], n_windows: int, horizon: int, step: int) -> np.ndarray:
    """``(n_series, n_windows)`` history lengths: window ``k`` is forecast from ``target[:cuts[i, k]]``."""
    lengths = np.array([len(s) for s in series], dtype=np.int64)
    offsets = horizon + (n_windows - 1 - np.arange(n_windows)) * step
    cuts = lengths[:, None] - offsets[None, :]
    short = np.flatnonzero(cuts[:, 0] < 1)
    if short.size:
        i = int(short[0])
        need = int(offsets[0]) + 1
        raise DataError(f"series {series[i].item_id!r} of {subject('df')} has {lengths[i]} steps; n_windows={n_windows} windows "
                        f"of horizon {horizon} every step_size={step} steps need at least {need} "
                        f"({len(short)} series are too short): lower n_windows or step_size")
    return cuts


def _long_spec(spec: FrameSpec, tz: Optional[str]) -> FrameSpec:
    """The column names of a long frame for data read with ``spec`` (wide frames get the defaults)."""
    if spec.wide:
        return FrameSpec(id_col="item_id", timestamp_col="timestamp", target_col="target", freq=spec.freq, tz=tz,
                         wide=False)
    return FrameSpec(id_col=spec.id_col, timestamp_col=spec.timestamp_col, target_col=spec.target_col,
                     freq=spec.freq, tz=tz, wide=False)


def _stamp(s: SeriesData, pos: int, freq: str) -> pd.Timestamp:
    """tz-naive timestamp of ``s.target[pos]``."""
    return s.start + pos * pd.tseries.frequencies.to_offset(freq)


def _localize(ts: pd.DatetimeIndex, tz: Optional[str]) -> pd.DatetimeIndex:
    """Naive local timestamps in the user's time zone (as ``frames.to_long_frame`` writes them)."""
    if tz is None:
        return ts
    return ts.tz_localize(tz, ambiguous=np.zeros(len(ts), dtype=bool), nonexistent="shift_forward")


def _window_series(s: SeriesData, a: int, b: int, freq: str, item_id: Optional[Hashable] = None) -> SeriesData:
    """Steps ``a:b`` of a series (covariates too), optionally under another id."""
    return SeriesData(item_id=s.item_id if item_id is None else item_id, start=_stamp(s, a, freq),
                      target=s.target[a:b],
                      known_covariates=None if s.known_covariates is None else s.known_covariates[:, a:b],
                      past_covariates=None if s.past_covariates is None else s.past_covariates[:, a:b])


def _series_frame(series: Sequence[SeriesData], spec: FrameSpec, known: Sequence[str],
                  past: Sequence[str]) -> pd.DataFrame:
    """Series back into a long frame (target and covariate columns) named as in ``spec``."""
    columns: dict[str, list[np.ndarray]] = {spec.target_col: [s.target for s in series]}
    for j, name in enumerate(known):
        columns[name] = [s.known_covariates[j] for s in series]
    for j, name in enumerate(past):
        columns[name] = [s.past_covariates[j] for s in series]
    return to_long_frame([s.item_id for s in series], [s.timestamps(spec.freq) for s in series], columns, spec)


def _future_frame(series: Sequence[SeriesData], future: Sequence[np.ndarray], spec: FrameSpec, horizon: int,
                  known: Sequence[str]) -> pd.DataFrame:
    """Known covariates ``future[i]`` (shape ``(K, horizon)``) over the steps after each series."""
    stamps = [future_timestamps(s.last_timestamp(spec.freq), spec.freq, horizon) for s in series]
    columns = {name: [f[j] for f in future] for j, name in enumerate(known)}
    return to_long_frame([s.item_id for s in series], stamps, columns, spec)


def _cv_frame(series: Sequence[SeriesData], spec: FrameSpec, cuts: np.ndarray, horizon: int, samples: np.ndarray,
              quantiles: Sequence[float], include_samples: bool) -> pd.DataFrame:
    """The long frame of :meth:`TSDiff.cross_validation` from samples ``(N, K, S, horizon)``."""
    from .forecast import _quantile_name
    from .metrics import sample_quantile

    N, K, S, _ = samples.shape
    flat = samples.reshape(N * K, S, horizon)
    ids, stamps, cutoffs, actual = [], [], [], []
    for i, s in enumerate(series):
        for k in range(K):
            c = int(cuts[i, k])
            ids.append(s.item_id)
            cutoffs.append(_stamp(s, c - 1, spec.freq))
            stamps.append(future_timestamps(cutoffs[-1], spec.freq, horizon))
            actual.append(s.target[c:c + horizon].astype(np.float64))
    columns: dict[str, list[np.ndarray]] = {"actual": actual, "mean": list(flat.mean(axis=1))}
    for q in quantiles:
        columns[_quantile_name(q)] = list(sample_quantile(flat, float(q)))
    if include_samples:
        for j in range(S):
            columns[f"sample_{j}"] = list(flat[:, j])
    frame = to_long_frame(ids, stamps, columns, _long_spec(spec, spec.tz))
    frame.insert(2, "cutoff", _localize(pd.DatetimeIndex(np.repeat(np.array(cutoffs, dtype="M8[ns]"), horizon)),
                                        spec.tz))
    return frame


def history_before_windows(df: pd.DataFrame, n_windows: int, horizon: int, step_size: Optional[int] = None, *,
                           id_col: Optional[str] = None, timestamp_col: Optional[str] = None,
                           target_col: Optional[str] = None, freq: Optional[str] = None,
                           known_covariates: Sequence[str] = (), past_covariates: Sequence[str] = ()) -> pd.DataFrame:
    """Each series of ``df`` up to the first cut-off of :meth:`TSDiff.cross_validation`'s windows.

    Fit on this frame and backtest on ``df`` with ``refit=False``: no window's future (nor any
    later value) was seen in training.

    Parameters
    ----------
    df : pd.DataFrame
        Any frame :meth:`TSDiff.fit` reads.
    n_windows, horizon, step_size
        As in :meth:`TSDiff.cross_validation` (``step_size`` defaults to ``horizon``).
    id_col, timestamp_col, target_col, freq, known_covariates, past_covariates
        As in :meth:`TSDiff.fit`.

    Returns
    -------
    pd.DataFrame
        Long frame (id, timestamp, target, covariates) named as ``df``'s columns.
    """
    n_windows = _check_positive_int("n_windows", n_windows)
    horizon = _check_positive_int("horizon", horizon)
    step = horizon if step_size is None else _check_positive_int("step_size", step_size)
    known, past = list(known_covariates), list(past_covariates)
    series, spec = read_series(df, id_col=id_col, timestamp_col=timestamp_col, target_col=target_col, freq=freq,
                               known_covariates=known, past_covariates=past, arg_name="df")
    cuts = _cutoff_positions(series, n_windows, horizon, step)
    hist = [_window_series(s, 0, int(cuts[i, 0]), spec.freq) for i, s in enumerate(series)]
    return _series_frame(hist, _long_spec(spec, spec.tz), known, past)
