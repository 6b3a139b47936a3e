"""The reader of long and wide frames: :func:`read_series` and the grid assembly of its series."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd

from tsdiff.errors import DataError, option, subject

from ._common import (
    _MAX_SHOWN,
    ID_COLUMNS,
    TARGET_COLUMNS,
    TIMESTAMP_COLUMNS,
    _as_frame,
    _factorize_ids,
    _fmt_columns,
    _fmt_items,
    _fmt_ts,
    _index_to_columns,
    _names,
    _parse_timestamps,
    _pick_column,
    _Rows,
    _to_float64,
    _where,
)
from .data import FrameSpec, SeriesData
from .grid import _grid_positions, _infer_freq, _normalize_freq_arg

# --------------------------------------------------------------------------- read_series


def read_series(
    df: pd.DataFrame,
    *,
    id_col: Optional[str] = None,
    timestamp_col: Optional[str] = None,
    target_col: Optional[str] = None,
    freq: Optional[str] = None,
    known_covariates: Sequence[str] = (),
    past_covariates: Sequence[str] = (),
    arg_name: str = "df",
) -> tuple[list[SeriesData], FrameSpec]:
    """Validate a long or wide DataFrame and convert it to one :class:`SeriesData` per item.

    Parameters
    ----------
    df : pd.DataFrame
        Long frame (id, timestamp, target and covariate columns; rows in any
        order) or wide frame (a DatetimeIndex or timestamp column, one column
        per series). See the module docstring for how the layout and the
        default column names (``item_id``/``unique_id``, ``timestamp``/``ds``,
        ``target``/``y``) are recognized. A pandas Series with a DatetimeIndex
        is read as one series.
    id_col, timestamp_col, target_col : str, optional
        Column names, overriding the recognized defaults. Giving ``target_col``
        makes the frame long; without an id column it is then one series.
    freq : str, optional
        Pandas frequency alias ("h", "15min", "D", "W", "MS", ...). Inferred
        from the timestamps when not given; all series must agree.
    known_covariates, past_covariates : sequence of str
        Covariate columns of a long frame (known in the future / only in the
        past). They must be numeric, complete (no NaN) and the series that
        carry them must have no gaps in their timestamps.
    arg_name : str
        Name of the argument in error messages ("df", "train_df", ...).

    Returns
    -------
    series : list of SeriesData
        Sorted by item id when the ids are comparable, else in order of first
        appearance. Rows are sorted by timestamp within each series; gaps in the
        time grid are NaN.
    spec : FrameSpec
        Column names, frequency and time zone, to write output frames in the
        user's terms.

    Raises
    ------
    DataError
        For every kind of bad input (see ``docs/errors.md``); the message names
        the argument, column, item and timestamp at fault.
    """
    df = _as_frame(df, arg_name)
    known = _names(known_covariates, "known_covariates")
    past = _names(past_covariates, "past_covariates")
    both = sorted(set(known) & set(past), key=str)
    if both:
        raise DataError(f"column {both[0]!r} is listed in both {option('known_covariates', None)} and "
                        f"{option('past_covariates', None)}")
    if len(df) == 0 or len(df.columns) == 0:
        raise DataError(f"{subject(arg_name)} is empty ({len(df)} rows, {len(df.columns)} columns)")
    norm_freq = _normalize_freq_arg(freq) if freq is not None else None
    df, index_ts = _index_to_columns(df, arg_name)
    columns = list(df.columns)
    if df.columns.has_duplicates:
        dup = df.columns[df.columns.duplicated()][0]
        raise DataError(f"{subject(arg_name)} has more than one column named {dup!r}; rename or drop the duplicates")

    id_name = _pick_column(columns, id_col, ID_COLUMNS, "id_col", "item id", arg_name)
    ts_name = _pick_column(columns, timestamp_col, TIMESTAMP_COLUMNS, "timestamp_col", "timestamp", arg_name)
    tgt_name = _pick_column(columns, target_col, TARGET_COLUMNS, "target_col", "target", arg_name)
    if ts_name is None:
        ts_name = index_ts
    if ts_name is None:
        raise DataError(
            f"{subject(arg_name)} has no timestamp column: expected 'timestamp' or 'ds', a DatetimeIndex, "
            f"or {option('timestamp_col')}; "
            f"available columns: {_fmt_columns(columns)}"
        )
    nixtla = ts_name == "ds" or tgt_name == "y" or id_name == "unique_id"
    default_id = "unique_id" if nixtla else "item_id"

    for arg, names in (("known_covariates", known), ("past_covariates", past)):
        missing = [c for c in names if c not in columns]
        if missing:
            raise DataError(
                f"{option(arg, None)} column(s) {_fmt_columns(missing)} not in {subject(arg_name)}; "
                f"available columns: {_fmt_columns(columns)}"
            )
        clash = [c for c in names if c in (id_name, ts_name, tgt_name)]
        if clash:
            raise DataError(f"{option(arg, None)} column {clash[0]!r} is also the id, timestamp or target "
                            f"column of {subject(arg_name)}")

    if id_name is not None or tgt_name is not None:  # ---- long
        if tgt_name is None:
            raise DataError(
                f"{subject(arg_name)} has no target column: expected 'target' or 'y', or pass {option('target_col')}; "
                f"available columns: {_fmt_columns(columns)}"
            )
        if id_name is None and target_col is None:
            extra = [c for c in columns if c not in (ts_name, tgt_name) and c not in known and c not in past]
            if extra:
                raise DataError(
                    f"{subject(arg_name)} has a {tgt_name!r} column but no id column ('item_id' or 'unique_id') and other "
                    f"columns {_fmt_columns(extra[:_MAX_SHOWN])}: pass {option('id_col')} if it holds several series, or "
                    f"{option('target_col', repr(tgt_name))} to read one series (other columns are then ignored)"
                )
        if id_name is not None:
            codes, items = _factorize_ids(df[id_name], _where(arg_name, id_name))
        else:
            codes, items = np.zeros(len(df), dtype=np.int64), [tgt_name]
        item_of_row = lambda i: items[codes[i]]  # noqa: E731
        ts_ns, tz, utc_ns = _parse_timestamps(df[ts_name], _where(arg_name, ts_name), _Rows(item_of_row, None))
        rows = _Rows(item_of_row, ts_ns)
        target = _to_float64(df[tgt_name], _where(arg_name, tgt_name), rows)
        covs = [
            _to_float64(df[c], _where(arg_name, c), rows, allow_nan=False, what=f" (a {kind} covariate)")
            for kind, names in (("known", known), ("past", past))
            for c in names
        ]
        series, out_freq = _assemble(
            codes, items, ts_ns, utc_ns, tz, target, covs, len(known), norm_freq,
            arg_name, _where(arg_name, ts_name), _where(arg_name, tgt_name),
        )
        spec = FrameSpec(
            id_col=id_name if id_name is not None else default_id,
            timestamp_col=ts_name,
            target_col=tgt_name,
            freq=out_freq,
            tz=tz,
            wide=False,
        )
        return series, spec

    # ---- wide: one column per series
    if known or past:
        raise DataError(
            f"{subject(arg_name)} looks like a wide frame (no id or target column), which cannot carry covariates; "
            f"use a long frame with columns item_id, timestamp, target and the covariates"
        )
    value_cols = [c for c in columns if c != ts_name]
    if not value_cols:
        raise DataError(f"{subject(arg_name)} has a timestamp column but no value columns; "
                        f"available columns: {_fmt_columns(columns)}")
    ts_ns, tz, utc_ns = _parse_timestamps(df[ts_name], _where(arg_name, ts_name), _Rows(None, None))
    n_rows, n_cols = len(df), len(value_cols)
    values = np.empty((n_cols, n_rows), dtype=np.float64)
    for j, c in enumerate(value_cols):
        values[j] = _to_float64(df[c], _where(arg_name, c), _Rows(lambda i, c=c: c, ts_ns))
    observed = ~np.isnan(values)
    empty = ~observed.any(axis=1)
    if empty.any():
        names = [value_cols[j] for j in np.flatnonzero(empty)]
        raise DataError(
            f"{subject(arg_name)}: item(s) {_fmt_items(names)} have no observed values (all NaN); drop those columns"
        )
    keep = np.cumsum(observed, axis=1) > 0  # drop leading missing values of each column
    col_idx = np.nonzero(keep)
    codes_w = col_idx[0].astype(np.int64)
    ts_w = ts_ns[col_idx[1]]
    utc_w = utc_ns[col_idx[1]] if utc_ns is not None else None
    target_w = values[keep]
    # ids: column names, sorted when comparable
    raw_codes, items = _factorize_ids(pd.Series(pd.Index(value_cols), dtype=object), _where(arg_name, "columns"))
    codes_w = raw_codes[codes_w]
    series, out_freq = _assemble(
        codes_w, items, ts_w, utc_w, tz, target_w, [], 0, norm_freq,
        arg_name, _where(arg_name, ts_name), arg_name,
    )
    spec = FrameSpec(id_col=default_id, timestamp_col=ts_name, target_col="target", freq=out_freq, tz=tz, wide=True)
    return series, spec


def _assemble(
    codes: np.ndarray, items: list, ts: np.ndarray, utc: Optional[np.ndarray], tz: Optional[str],
    target: np.ndarray, covs: list[np.ndarray], n_known: int, freq: Optional[str],
    arg_name: str, ts_where: str, target_where: str,
) -> tuple[list[SeriesData], str]:
    """Sort, check duplicates, frequency and grid, and fill each series' grid (NaN in the gaps)."""
    n = len(ts)
    # ---- sort by (item, timestamp); stable so the first of duplicates is reported
    if n > 1:
        dc = np.diff(codes)
        in_order = bool(((dc > 0) | ((dc == 0) & (np.diff(ts) > 0))).all())
    else:
        in_order = True
    if not in_order:
        perm = np.lexsort((ts, codes))
        codes, ts, target = codes[perm], ts[perm], target[perm]
        covs = [c[perm] for c in covs]
        if utc is not None:
            utc = utc[perm]
    boundary = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.concatenate(([0], boundary)).astype(np.int64)
    ends = np.concatenate((boundary, [n])).astype(np.int64)

    # ---- duplicates
    dup = np.flatnonzero((codes[1:] == codes[:-1]) & (ts[1:] == ts[:-1]))
    if dup.size:
        k = int(dup[0])
        item = items[codes[k]]
        if utc is not None and utc[k] != utc[k + 1]:
            raise DataError(
                f"{ts_where}: item {item!r} has the local time {_fmt_ts(ts[k])} twice (a daylight-saving change "
                f"in {tz}); convert the timestamps to UTC first, e.g. .dt.tz_convert('UTC')"
            )
        raise DataError(
            f"{ts_where}: item {item!r} has duplicate timestamps ({dup.size} in all), e.g. {_fmt_ts(ts[k])}; "
            f"aggregate or drop the duplicates (e.g. df.drop_duplicates([id, timestamp]))"
        )

    # ---- frequency and grid
    if freq is None:
        freq = _infer_freq(ts, starts, ends, items, arg_name)
    offset = pd.tseries.frequencies.to_offset(freq)
    pos, grid_start, glen = _grid_positions(ts, starts, ends, offset, freq, items, ts_where)

    # ---- all-NaN series
    observed = np.add.reduceat((~np.isnan(target)).astype(np.int64), starts)
    if (observed == 0).any():
        bad = [items[g] for g in np.flatnonzero(observed == 0)]
        raise DataError(
            f"{target_where}: item(s) {_fmt_items(bad)} have no observed target values (all NaN); "
            f"drop them, e.g. df[df.groupby(id)[target].transform('count') > 0]"
        )

    # ---- covariates need every timestamp
    counts = ends - starts
    if covs:
        gaps = np.flatnonzero(glen != counts)
        if gaps.size:
            g = int(gaps[0])
            s, e = int(starts[g]), int(ends[g])
            present = np.zeros(int(glen[g]), dtype=bool)
            present[pos[s:e]] = True
            missing = np.flatnonzero(~present)[:3]
            grid = pd.date_range(pd.Timestamp(int(grid_start[g])), periods=int(glen[g]), freq=offset)
            raise DataError(
                f"{ts_where}: item {items[g]!r} has missing timestamps ({int(glen[g] - counts[g])} in all, e.g. "
                f"{', '.join(str(grid[m]) for m in missing)}) and covariates need a value at every timestamp; add "
                f"rows for them with a NaN target and the covariate values"
            )

    # ---- fill the grid
    out_off = np.concatenate(([0], np.cumsum(glen))).astype(np.int64)
    flat_target = np.full(int(out_off[-1]), np.nan, dtype=np.float32)
    flat_target[out_off[codes] + pos] = target.astype(np.float32)
    cov_all = np.stack(covs).astype(np.float32) if covs else None  # rows are already the full grid

    result = []
    for g, item in enumerate(items):
        o, L = int(out_off[g]), int(glen[g])
        start = pd.Timestamp(int(grid_start[g]))
        values = flat_target[o:o + L]
        known_c = past_c = None
        if cov_all is not None:
            s, e = int(starts[g]), int(ends[g])
            block = cov_all[:, s:e]
            known_c = block[:n_known] if n_known else None
            past_c = block[n_known:] if block.shape[0] > n_known else None
        result.append(SeriesData(item_id=item, start=start, target=values, known_covariates=known_c, past_covariates=past_c))
    return result, freq
