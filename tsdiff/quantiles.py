"""The forecast-frame format and tsdiff's one quantile rule.

A forecast frame (:meth:`tsdiff.forecast.Forecast.to_dataframe`, ``tsdiff predict``,
``TSDiff.cross_validation``) holds an id and a timestamp column, ``mean``, one column
per quantile level (``"0.1"`` ...) and optionally ``sample_0`` ... ``sample_{S-1}``.

One quantile rule holds everywhere in tsdiff (forecasts, forecast and backtest frames,
plots, the demo, ``tsdiff evaluate``, the metrics): GluonTS's order statistic,
:func:`sample_quantile`. (:mod:`tsdiff.calibration` alone interpolates, internally,
for its factors.)

This module is the floor below :mod:`tsdiff.forecast`, :mod:`tsdiff.metrics` and
:mod:`tsdiff.plotting`, which all read it; it imports no other tsdiff module. Its
public names are re-exported by :mod:`tsdiff.forecast` (and the rule and levels by
:mod:`tsdiff.metrics`).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

#: Quantile levels written by :meth:`Forecast.to_dataframe` by default; the levels of GluonTS
#: ``Evaluator()``'s default and of ``mean_wQuantileLoss`` (re-exported by :mod:`tsdiff.forecast` and :mod:`tsdiff.metrics`).
DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _order_statistics(samples: np.ndarray, qs: np.ndarray, axis: int) -> np.ndarray:
    """GluonTS's sample quantiles at each level of ``qs`` (1-D), stacked first; one sort."""
    n_samples = samples.shape[axis]
    idx = [int(np.round((n_samples - 1) * float(q))) for q in qs]
    return np.moveaxis(np.take(np.sort(samples, axis=axis), idx, axis=axis), axis, 0)


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
    level = float(q)
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"q must lie in [0, 1], got {level}")
    arr = np.asarray(samples, dtype=np.float64)
    if arr.ndim not in (2, 3):
        raise ValueError(f"samples must have shape (n_series, n_samples, horizon) or (n_samples, horizon), "
                         f"got shape {arr.shape}")
    return _order_statistics(arr, np.array([level]), axis=arr.ndim - 2)[0]


def _quantile_name(level: float) -> str:
    return f"{float(level):g}"


# --------------------------------------------------------------------------- forecast frames
def quantile_columns(frame: pd.DataFrame) -> dict[float, Any]:
    """Quantile columns of a forecast frame: ``{level: column}`` for names like ``"0.1"``.

    Parameters
    ----------
    frame : pd.DataFrame
        A frame written by :meth:`Forecast.to_dataframe` (or read back from disk).

    Returns
    -------
    dict
        Levels in (0, 1), sorted ascending, mapped to the column label.
    """
    out: dict[float, Any] = {}
    for col in frame.columns:
        if isinstance(col, (int, float, np.number)) and not isinstance(col, bool):
            level = float(col)
        elif isinstance(col, str):
            try:
                level = float(col)
            except ValueError:
                continue
        else:
            continue
        if 0.0 < level < 1.0:
            out[level] = col
    return dict(sorted(out.items()))


def sample_columns(frame: pd.DataFrame) -> list[str]:
    """The ``sample_0`` ... ``sample_{n-1}`` columns of a forecast frame, in order."""
    cols = []
    for col in frame.columns:
        if isinstance(col, str) and col.startswith("sample_") and col[7:].isdigit():
            cols.append((int(col[7:]), col))
    return [c for _, c in sorted(cols)]


def central_intervals(levels: Sequence[float], tol: float = 1e-9) -> dict[float, tuple[float, float]]:
    """Central intervals that a set of quantile levels spans: ``{coverage: (lower, upper)}``.

    For the default levels 0.1 ... 0.9 this is ``{0.8: (0.1, 0.9), 0.6: (0.2, 0.8), ...}``.
    """
    levels = sorted(float(v) for v in levels)
    out: dict[float, tuple[float, float]] = {}
    for lo in levels:
        if lo >= 0.5:
            break
        for hi in levels:
            if abs(hi - (1.0 - lo)) < tol:
                out[round(1.0 - 2.0 * lo, 10)] = (lo, hi)
    return dict(sorted(out.items(), reverse=True))


def forecast_frame_columns(frame: pd.DataFrame, id_col: Optional[str] = None,
                           timestamp_col: Optional[str] = None) -> tuple[str, str]:
    """Id and timestamp columns of a forecast frame (defaults as in :func:`plot_forecast_frame`)."""
    cols = list(frame.columns)
    if id_col is None:
        id_col = "item_id" if "item_id" in cols else (cols[0] if cols else "item_id")
    if timestamp_col is None:
        timestamp_col = "timestamp" if "timestamp" in cols else (cols[1] if len(cols) > 1 else "timestamp")
    for name, col in (("id", id_col), ("timestamp", timestamp_col)):
        if col not in cols:
            raise ValueError(f"the forecast frame has no {name} column {col!r} (columns: {cols[:8]})")
    return id_col, timestamp_col
