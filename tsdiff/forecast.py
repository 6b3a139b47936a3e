"""`Forecast`: an ensemble of sample paths with item ids and future timestamps.

The frame format and the one quantile rule (GluonTS's order statistic) are defined in
:mod:`tsdiff.quantiles` and re-exported here: ``DEFAULT_QUANTILES``, :func:`sample_quantile`,
:func:`quantile_columns`, :func:`sample_columns`, :func:`central_intervals`,
:func:`forecast_frame_columns`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Optional, Sequence

import numpy as np
import pandas as pd

from .quantiles import (  # noqa: F401  (re-exported: the forecast-frame format)
    DEFAULT_QUANTILES,
    _order_statistics,
    _quantile_name,
    central_intervals,
    forecast_frame_columns,
    quantile_columns,
    sample_columns,
    sample_quantile,
)


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
