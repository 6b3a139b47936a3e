"""Known covariates over the forecast horizon: :func:`read_future_covariates`."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd

from tsdiff.errors import DataError, subject

from ._common import (
    ID_COLUMNS,
    TIMESTAMP_COLUMNS,
    _as_frame,
    _fmt_columns,
    _fmt_ts,
    _index_to_columns,
    _names,
    _parse_timestamps,
    _pick_column,
    _Rows,
    _show,
    _to_float64,
    _where,
)
from .data import FrameSpec, SeriesData
from .grid import future_timestamps

# --------------------------------------------------------------------------- future frames


def read_future_covariates(
    future_df: Optional[pd.DataFrame],
    series: list[SeriesData],
    spec: FrameSpec,
    horizon: int,
    known_covariates: Sequence[str],
    *,
    arg_name: str = "future_df",
) -> list[np.ndarray]:
    """Known covariates over the forecast horizon of each series.

    Parameters
    ----------
    future_df : pd.DataFrame or None
        Long frame with the id and timestamp columns of the training frame (or
        the recognized defaults) and the ``known_covariates`` columns. It must
        have a row for each of the ``horizon`` timestamps right after the end of
        each series; other rows (the history, later timestamps, other items)
        are ignored. May be None when there are no known covariates. Without
        an id column it must describe a single series. tz-aware timestamps are
        converted to ``spec.tz``; naive ones are taken as local time in it.
    series : list of SeriesData
        The series being forecast (their ends define the horizon).
    spec : FrameSpec
        From :func:`read_series` on the training/context frame.
    horizon : int
        Number of future steps.
    known_covariates : sequence of str
        Covariate columns, in the order the model uses them.

    Returns
    -------
    list of np.ndarray
        One ``(K, horizon)`` float32 array per series (``K = 0`` when there are no
        known covariates).

    Raises
    ------
    DataError
        Naming the item and the first missing timestamps when a row is missing,
        or the column, item and timestamp of a NaN or non-numeric value.
    """
    known = _names(known_covariates, "known_covariates")
    horizon = int(horizon)
    if not known:
        return [np.zeros((0, horizon), dtype=np.float32) for _ in series]
    if future_df is None:
        raise DataError(
            f"{subject(arg_name)} is required: the model uses known covariates {_fmt_columns(known)}, so their values over "
            f"the {horizon} steps after each series are needed"
        )
    df = _as_frame(future_df, arg_name)
    if len(df) == 0:
        raise DataError(f"{subject(arg_name)} is empty (0 rows); it needs the known covariates {_fmt_columns(known)} "
                        f"for the next {horizon} steps")
    df, index_ts = _index_to_columns(df, arg_name)
    columns = list(df.columns)
    id_name = spec.id_col if spec.id_col in columns else _pick_column(columns, None, ID_COLUMNS, "id_col", "item id", arg_name)
    ts_name = spec.timestamp_col if spec.timestamp_col in columns else (
        _pick_column(columns, None, TIMESTAMP_COLUMNS, "timestamp_col", "timestamp", arg_name) or index_ts
    )
    if ts_name is None:
        raise DataError(
            f"{subject(arg_name)} has no timestamp column {spec.timestamp_col!r}; available columns: {_fmt_columns(columns)}"
        )
    if id_name is None and len(series) != 1:
        raise DataError(
            f"{subject(arg_name)} has no id column {spec.id_col!r} and there are {len(series)} series; "
            f"available columns: {_fmt_columns(columns)}"
        )
    missing_cols = [c for c in known if c not in columns]
    if missing_cols:
        raise DataError(
            f"{subject(arg_name)} lacks the known covariate column(s) {_fmt_columns(missing_cols)}; "
            f"available columns: {_fmt_columns(columns)}"
        )

    # item codes of the rows (-1: an item that is not forecast)
    code_of = {s.item_id: g for g, s in enumerate(series)}
    if id_name is not None:
        f_codes, f_uniques = pd.factorize(df[id_name], use_na_sentinel=True)
        lookup = np.array([code_of.get(u, -1) for u in f_uniques.tolist()] + [-1], dtype=np.int64)
        codes = lookup[f_codes]  # f_codes == -1 (NaN id) maps to the trailing -1
    else:
        codes = np.zeros(len(df), dtype=np.int64)
    item_of_row = lambda i: df[id_name].iloc[i] if id_name is not None else series[0].item_id  # noqa: E731
    where_ts = _where(arg_name, ts_name)
    ts_ns, tz, utc_ns = _parse_timestamps(df[ts_name], where_ts, _Rows(item_of_row, None))
    if tz is not None:
        if spec.tz is None:
            raise DataError(f"{where_ts} is tz-aware ({tz}) but the timestamps the model was given were tz-naive")
        if tz != spec.tz:
            local = pd.DatetimeIndex(utc_ns.view("M8[ns]")).tz_localize("UTC").tz_convert(spec.tz).tz_localize(None)
            ts_ns = local.as_unit("ns").asi8

    # expected (item, timestamp) keys, in series order
    expected = [future_timestamps(s.last_timestamp(spec.freq), spec.freq, horizon).as_unit("ns").asi8 for s in series]
    exp_codes = np.repeat(np.arange(len(series), dtype=np.int64), horizon)
    exp_ts = np.concatenate(expected) if expected else np.zeros(0, dtype=np.int64)
    exp_index = pd.MultiIndex.from_arrays([exp_codes, exp_ts])
    hit = exp_index.get_indexer(pd.MultiIndex.from_arrays([codes, ts_ns]))
    rows = np.flatnonzero(hit >= 0)
    slots = hit[rows]
    seen = np.bincount(slots, minlength=len(exp_ts))
    if (seen > 1).any():
        slot = int(np.argmax(seen > 1))
        raise DataError(
            f"{subject(arg_name)}: item {series[exp_codes[slot]].item_id!r} has duplicate rows for {_fmt_ts(exp_ts[slot])}; "
            f"drop the duplicates"
        )
    if (seen == 0).any():
        missing_slots = np.flatnonzero(seen == 0)
        g = int(exp_codes[missing_slots[0]])
        mine = missing_slots[exp_codes[missing_slots] == g]
        shown = ", ".join(_fmt_ts(exp_ts[m]) for m in mine[:3])
        more = f" and {len(mine) - 3} more" if len(mine) > 3 else ""
        others = len(np.unique(exp_codes[missing_slots])) - 1
        also = f"; {others} other item(s) also lack rows" if others else ""
        if id_name is not None and len(df) and (codes < 0).all():
            also += (f" (none of its ids match the ids of the series, e.g. {_show(df[id_name].iloc[0])} vs "
                     f"{_show(series[0].item_id)}; check the id types, e.g. str vs int)")
        raise DataError(
            f"{subject(arg_name)} has no row for item {series[g].item_id!r} at {shown}{more}: the known covariates are "
            f"needed for the {horizon} steps after the end of the series ({series[g].last_timestamp(spec.freq)}){also}"
        )
    out = np.empty((len(known), len(exp_ts)), dtype=np.float32)
    sub = df.iloc[rows]
    sub_rows = _Rows(lambda i: series[exp_codes[slots[i]]].item_id, exp_ts[slots])
    for k, c in enumerate(known):
        out[k, slots] = _to_float64(
            sub[c], _where(arg_name, c), sub_rows, allow_nan=False, what=" (a known covariate)"
        ).astype(np.float32)
    return [out[:, g * horizon:(g + 1) * horizon] for g in range(len(series))]
