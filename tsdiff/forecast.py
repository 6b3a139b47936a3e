"""`Forecast`: an ensemble of sample paths with item ids and future timestamps, and its frame format.

One quantile rule holds everywhere in tsdiff (forecast frames, plots, the demo,
``tsdiff evaluate``, backtests): GluonTS's order statistic, :func:`sample_quantile`
(re-exported as :func:`tsdiff.metrics.sample_quantile`). It lives here, on the
floor below :mod:`tsdiff.metrics`, so that metrics can read forecast frames
without an import circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Optional, Sequence

import numpy as np
import pandas as pd

#: Quantile levels written by :meth:`Forecast.to_dataframe` by default; the levels of GluonTS
#: ``Evaluator()``'s default and of ``mean_wQuantileLoss`` (also :data:`tsdiff.metrics.DEFAULT_QUANTILES`).
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


@dataclass
class Forecast:
    """A probabilistic forecast for several series, as sample paths.

    Parameters
    ----------
    samples : np.ndarray, shape (n_series, n_samples, horizon)
        Sample paths in the original units of each series.
    item_ids : sequence, length n_series
        The id of each series, as in the input frame.
    timestamps : list of pd.DatetimeIndex, each of length horizon
        Future timestamps of each series (series may end at different times).
    freq : str
        Pandas frequency alias of the timestamps.
    id_col, timestamp_col : str
        Column names used by :meth:`to_dataframe` (those of the input frame).
    """

    samples: np.ndarray
    item_ids: list[Hashable]
    timestamps: list[pd.DatetimeIndex]
    freq: str
    id_col: str = "item_id"
    timestamp_col: str = "timestamp"
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.samples = np.asarray(self.samples)
        if self.samples.ndim != 3:
            raise ValueError(f"samples must have shape (n_series, n_samples, horizon), got {self.samples.shape}")
        n, _, h = self.samples.shape
        self.item_ids = list(self.item_ids)
        if len(self.item_ids) != n or len(self.timestamps) != n:
            raise ValueError(
                f"item_ids ({len(self.item_ids)}) and timestamps ({len(self.timestamps)}) must both have "
                f"n_series={n} entries")
        for i, ts in enumerate(self.timestamps):
            if len(ts) != h:
                raise ValueError(f"timestamps of item {self.item_ids[i]!r} have length {len(ts)}, expected {h}")

    # -- shape ---------------------------------------------------------------
    @property
    def n_series(self) -> int:
        return self.samples.shape[0]

    @property
    def n_samples(self) -> int:
        return self.samples.shape[1]

    @property
    def horizon(self) -> int:
        return self.samples.shape[2]

    def __len__(self) -> int:
        return self.n_series

    def index_of(self, item_id: Hashable) -> int:
        """Row of ``item_id`` in :attr:`samples`; KeyError naming it when unknown."""
        try:
            return self.item_ids.index(item_id)
        except ValueError:
            shown = self.item_ids[:5]
            raise KeyError(f"item_id {item_id!r} is not in this forecast (ids start with {shown})") from None

    def __getitem__(self, item_id: Hashable) -> "Forecast":
        i = self.index_of(item_id)
        return Forecast(self.samples[i:i + 1], [item_id], [self.timestamps[i]], self.freq,
                        self.id_col, self.timestamp_col, dict(self.info))

    # -- summaries -----------------------------------------------------------
    def mean(self) -> np.ndarray:
        """Mean over samples, shape (n_series, horizon)."""
        return self.samples.mean(axis=1)

    def median(self) -> np.ndarray:
        """The 0.5 quantile (:meth:`quantile`, GluonTS's rule), shape (n_series, horizon)."""
        return self.quantile(0.5)

    def quantile(self, q: float | Sequence[float]) -> np.ndarray:
        """Sample quantiles by GluonTS's order-statistic rule (:func:`sample_quantile`), in float64.

        Returns shape (n_series, horizon) for a scalar ``q`` and
        (len(q), n_series, horizon) for a sequence.
        """
        qs = np.asarray(q, dtype=float)
        if np.any((qs < 0) | (qs > 1)) or np.any(np.isnan(qs)):
            raise ValueError(f"quantile levels must lie in [0, 1], got {q!r}")
        if self.n_samples == 0:
            raise ValueError("the forecast holds no sample paths (n_samples = 0)")
        out = _order_statistics(np.asarray(self.samples, dtype=np.float64), qs.reshape(-1), axis=1)
        return out[0] if qs.ndim == 0 else out

    def to_dataframe(self, quantiles: Sequence[float] = DEFAULT_QUANTILES,
                     include_samples: bool = False) -> pd.DataFrame:
        """Long-format frame: id, timestamp, ``mean`` and one column per quantile (``"0.1"`` ...).

        With ``include_samples=True`` it adds columns ``sample_0`` ... ``sample_{n-1}``.
        """
        n, s, h = self.samples.shape
        ids = np.repeat(np.array(self.item_ids, dtype=object), h)
        ts = np.concatenate([np.asarray(t) for t in self.timestamps]) if n else np.array([], dtype="datetime64[ns]")
        data: dict[str, Any] = {self.id_col: ids, self.timestamp_col: ts, "mean": self.mean().reshape(-1)}
        if len(quantiles):
            qv = self.quantile(list(quantiles))
            for level, values in zip(quantiles, qv):
                data[_quantile_name(level)] = values.reshape(-1)
        if include_samples:
            flat = self.samples.transpose(0, 2, 1).reshape(n * h, s)
            for j in range(s):
                data[f"sample_{j}"] = flat[:, j]
        out = pd.DataFrame(data)
        if len(self.timestamps) and self.timestamps[0].tz is not None:
            out[self.timestamp_col] = pd.DatetimeIndex(out[self.timestamp_col]).tz_localize(
                "UTC").tz_convert(self.timestamps[0].tz)
        return out

    @classmethod
    def from_dataframe(cls, frame: pd.DataFrame, id_col: Optional[str] = None, timestamp_col: Optional[str] = None,
                       freq: Optional[str] = None) -> "Forecast":
        """Read back a frame written by :meth:`to_dataframe` with ``include_samples=True``.

        Parameters
        ----------
        frame : pd.DataFrame
            Long forecast frame: id, timestamp and ``sample_0`` ... ``sample_{S-1}`` columns
            (other columns, such as ``mean`` and the quantiles, are ignored); timestamps may
            be strings, as read from a CSV file.
        id_col, timestamp_col : str, optional
            Column names; default as in :func:`forecast_frame_columns`.
        freq : str, optional
            Pandas frequency alias; default inferred from the timestamps of the first series.

        Returns
        -------
        Forecast
            ``samples`` of shape (n_series, S, horizon), series in order of first appearance.
        """
        id_col, timestamp_col = forecast_frame_columns(frame, id_col, timestamp_col)
        scols = sample_columns(frame)
        if not scols:
            raise ValueError("the forecast frame has no sample_* columns; write it with "
                             "to_dataframe(include_samples=True) (or 'tsdiff predict --include-samples')")
        if frame.empty:
            raise ValueError("the forecast frame is empty")
        rows = frame.assign(**{timestamp_col: pd.to_datetime(frame[timestamp_col])})
        ids = list(pd.unique(rows[id_col]))
        samples, timestamps = [], []
        for item in ids:
            part = rows[rows[id_col] == item].sort_values(timestamp_col, kind="stable")
            if samples and len(part) != samples[0].shape[1]:
                raise ValueError(f"series {item!r} has {len(part)} forecast rows, series {ids[0]!r} has "
                                 f"{samples[0].shape[1]}: every series needs the same horizon")
            samples.append(part[scols].to_numpy(dtype=np.float64).T)
            timestamps.append(pd.DatetimeIndex(part[timestamp_col]))
        if freq is None:
            freq = pd.infer_freq(timestamps[0]) if len(timestamps[0]) >= 3 else None
            if freq is None:
                raise ValueError("cannot infer the frequency of the forecast timestamps; pass freq=")
        return cls(np.stack(samples), ids, timestamps, freq, id_col, timestamp_col)

    def plot(self, item_id: Optional[Hashable] = None, ax: Any = None, **kwargs: Any) -> Any:
        """Fan chart of one series; see :func:`tsdiff.plotting.plot_forecast`."""
        from .plotting import plot_forecast

        return plot_forecast(self, item_id=item_id, ax=ax, **kwargs)


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
