"""GluonTS-backed helpers the core needs: calendar time features, seasonality, lags, period aliases.

The low floor of tsdiff's GluonTS use: it imports gluonts (``gluonts.time_feature``) and
:func:`tsdiff.frames.normalize_freq` (pure pandas) and nothing else of tsdiff, so the
estimator, the metrics and the command line can read it without an import circle.
The Estimator/Predictor adapter is :mod:`tsdiff.integrations.gluonts`.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
from gluonts.time_feature import get_seasonality as _gluonts_seasonality
from gluonts.time_feature import time_features_from_frequency_str as _time_features_from_freq

from ..frames import normalize_freq

__all__ = ["num_time_features", "period_freq", "time_features", "seasonality", "default_lags"]


def num_time_features(freq: str) -> int:
    """Number of calendar features GluonTS defines for ``freq``."""
    return len(_time_features_from_freq(normalize_freq(freq)))


@contextlib.contextmanager
def _period_bday_tolerated() -> Iterator[None]:
    """Silence only pandas' deprecation of Period with BDay freq: GluonTS's features still take a PeriodIndex."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(BDay|PeriodDtype\[B\])", category=FutureWarning)
        yield


def period_freq(freq: str) -> str:
    """The ``pd.Period`` alias of an offset alias (``"ME"`` -> ``"M"``, ``"QE-DEC"`` -> ``"Q-DEC"``).

    pandas >= 2.2 names month/quarter/year ends differently for offsets and periods.
    """
    freq = normalize_freq(freq)
    with _period_bday_tolerated():
        try:
            pd.Period("2000-01-03", freq=freq)
            return freq
        except (ValueError, TypeError):
            return pd.date_range("2000-01-03", periods=2, freq=freq).to_period().freqstr


def time_features(freq: str, start: pd.Timestamp, length: int) -> np.ndarray:
    """GluonTS calendar features (values in [-0.5, 0.5]) for ``length`` steps from ``start``.

    Returns
    -------
    np.ndarray, shape (num_time_features(freq), length), float32
    """
    freq = normalize_freq(freq)
    feats = _time_features_from_freq(freq)
    if not feats or length == 0:
        return np.zeros((len(feats), length), dtype=np.float32)
    pfreq = period_freq(freq)
    with _period_bday_tolerated():
        index = pd.period_range(start=pd.Period(start, freq=pfreq), periods=length, freq=pfreq)
        return np.stack([np.asarray(f(index), dtype=np.float32) for f in feats])


def seasonality(freq: str) -> int:
    """GluonTS's seasonal period for ``freq`` (24 for hourly, 7 for daily, 1 when none)."""
    return int(_gluonts_seasonality(normalize_freq(freq)))


def default_lags(freq: str, prediction_length: int) -> tuple[int, ...]:
    """Seasonal lags (in steps) for the lag channels of ``freq``.

    Sub-daily data gets each of the seven previous days (hourly: 24, 48, ..., 168;
    15-minute: 96, ..., 672): the denoiser can then average the same hour over a week of
    days instead of reading one noisy copy (on the known-law process of
    ``benchmarks/calibration.py`` this cut the ensemble's excess spread at 1200 steps from 13% to 9%).
    Daily data gets one week (7); business days one week
    (5); weekly data one year (52); monthly one year (12). Lags shorter than
    ``prediction_length`` are dropped only when no longer lag is available, since
    a lag channel is informative for the first ``lag`` steps of the horizon.
    """
    freq = normalize_freq(freq)
    offset = pd.tseries.frequencies.to_offset(freq)
    base, mult = offset.name, offset.n
    minutes_per_step = {"s": 1 / 60, "min": 1, "h": 60}.get(base)
    if minutes_per_step is not None:
        step = minutes_per_step * mult
        day = max(1, round(24 * 60 / step))
        lags: Sequence[int] = tuple(k * day for k in range(1, 8))
    elif base in ("D",):
        lags = (7, 28) if mult == 1 else ()
    elif base in ("B",):
        lags = (5, 20)
    elif base.startswith("W"):
        lags = (4, 52)
    elif base in ("ME", "MS"):
        lags = (12,)
    elif base.startswith("Q"):
        lags = (4,)
    else:
        s = seasonality(freq)
        lags = (s,) if s > 1 else ()
    return tuple(sorted(set(int(lag) for lag in lags if lag >= 1)))
