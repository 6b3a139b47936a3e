"""`Forecast`: an ensemble of sample paths with item ids and future timestamps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Optional, Sequence

import numpy as np
import pandas as pd

#: Quantile levels written by :meth:`Forecast.to_dataframe` by default.
DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


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
        """Median over samples, shape (n_series, horizon)."""
        return np.median(self.samples, axis=1)

    def quantile(self, q: float | Sequence[float]) -> np.ndarray:
        """Sample quantiles (linear interpolation, numpy's default).

        Returns shape (n_series, horizon) for a scalar ``q`` and
        (len(q), n_series, horizon) for a sequence.
        """
        qs = np.asarray(q, dtype=float)
        if np.any((qs < 0) | (qs > 1)) or np.any(np.isnan(qs)):
            raise ValueError(f"quantile levels must lie in [0, 1], got {q!r}")
        return np.quantile(self.samples, qs, axis=1)

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

    def plot(self, item_id: Optional[Hashable] = None, ax: Any = None, **kwargs: Any) -> Any:
        """Fan chart of one series; see :func:`tsdiff.plotting.plot_forecast`."""
        from .plotting import plot_forecast

        return plot_forecast(self, item_id=item_id, ax=ax, **kwargs)


def _quantile_name(level: float) -> str:
    return f"{float(level):g}"
