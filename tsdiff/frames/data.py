"""tsdiff's numpy form of a frame (:class:`SeriesData`, :class:`FrameSpec`) and the way back
to a long frame in the user's terms (:func:`to_long_frame`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Optional, Sequence

import numpy as np
import pandas as pd

from .grid import _offset, _shift

# --------------------------------------------------------------------------- data classes


@dataclass
class SeriesData:
    """One time series on a regular grid, as numpy arrays.

    Attributes
    ----------
    item_id : Hashable
        The item id as given by the user (str or int), or the column name for
        a wide frame.
    start : pd.Timestamp
        tz-naive timestamp of ``target[0]``.
    target : np.ndarray
        Shape ``(T,)``, float32; NaN marks a missing value (timestamps missing
        from the grid are NaN too).
    known_covariates : np.ndarray or None
        Shape ``(K, T)``, float32, no NaN; or None.
    past_covariates : np.ndarray or None
        Shape ``(P, T)``, float32, no NaN; or None.
    """

    item_id: Hashable
    start: pd.Timestamp
    target: np.ndarray
    known_covariates: Optional[np.ndarray] = None
    past_covariates: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def timestamps(self, freq: str) -> pd.DatetimeIndex:
        """The ``len(self)`` timestamps of the series on the grid of ``freq``."""
        return pd.date_range(start=self.start, periods=len(self), freq=_offset(freq))

    def last_timestamp(self, freq: str) -> pd.Timestamp:
        """Timestamp of ``target[-1]`` (without building the whole index)."""
        return _shift(self.start, _offset(freq), len(self) - 1)


@dataclass
class FrameSpec:
    """What the user's frame looked like, to produce output frames in the same terms.

    Attributes
    ----------
    id_col, timestamp_col, target_col : str
        Column names used by the user (defaults when the frame had none, e.g.
        ``"item_id"`` for a wide frame, ``"unique_id"`` for a Nixtla frame).
    freq : str
        Normalized pandas frequency alias of every series.
    tz : str or None
        Time zone of the user's timestamps; tsdiff works in naive local time.
    wide : bool
        Whether the frame had one column per series.
    """

    id_col: str
    timestamp_col: str
    target_col: str
    freq: str
    tz: Optional[str]
    wide: bool


# --------------------------------------------------------------------------- output frames


def to_long_frame(
    item_ids: Sequence[Hashable],
    timestamps_list: Sequence[pd.DatetimeIndex],
    columns: dict[str, list[np.ndarray]],
    spec: FrameSpec,
) -> pd.DataFrame:
    """A long frame ``[spec.id_col, spec.timestamp_col, *columns]`` in the user's terms.

    Parameters
    ----------
    item_ids : sequence
        One id per series.
    timestamps_list : sequence of DatetimeIndex
        tz-naive timestamps of each series; localized to ``spec.tz`` when set
        (an ambiguous local time at a daylight-saving change is taken as
        standard time, a nonexistent one is shifted forward).
    columns : dict of str to list of np.ndarray
        For each output column, one 1-D array per series, as long as its timestamps.
    spec : FrameSpec
    """
    if len(item_ids) != len(timestamps_list):
        raise ValueError(f"{len(item_ids)} item ids but {len(timestamps_list)} timestamp indexes")
    lengths = np.array([len(t) for t in timestamps_list], dtype=np.int64)
    ids = np.empty(len(item_ids), dtype=object)
    for i, item in enumerate(item_ids):
        ids[i] = item
    id_values = pd.Series(np.repeat(ids, lengths), dtype=object).infer_objects()
    if len(timestamps_list):
        ts = pd.DatetimeIndex(np.concatenate([pd.DatetimeIndex(t).as_unit("ns").asi8 for t in timestamps_list]).view("M8[ns]"))
    else:
        ts = pd.DatetimeIndex([], dtype="datetime64[ns]")
    if spec.tz is not None:
        ts = ts.tz_localize(spec.tz, ambiguous=np.zeros(len(ts), dtype=bool), nonexistent="shift_forward")
    data: dict[str, Any] = {spec.id_col: id_values.to_numpy(), spec.timestamp_col: ts}
    for name, arrays in columns.items():
        if len(arrays) != len(item_ids):
            raise ValueError(f"column {name!r} has {len(arrays)} arrays for {len(item_ids)} series")
        for a, n in zip(arrays, lengths):
            if np.shape(a) != (n,):
                raise ValueError(f"column {name!r}: an array of shape {np.shape(a)} for {n} timestamps")
        data[name] = np.concatenate([np.asarray(a) for a in arrays]) if arrays else np.zeros(0)
    return pd.DataFrame(data)
