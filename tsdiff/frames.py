"""Validation and conversion of every DataFrame that enters tsdiff.

All bad-input errors are raised here, as :class:`tsdiff.errors.DataError`, with
a message that names the argument, the column, the item and the timestamp at
fault (``docs/errors.md`` lists them). The rest of tsdiff works on the numpy
:class:`SeriesData` produced here and never sees a DataFrame.

Input layouts accepted by :func:`read_series`
---------------------------------------------
*Long* (one row per item and timestamp): an id column (``item_id`` or, Nixtla
style, ``unique_id``), a timestamp column (``timestamp`` or ``ds``) and a
target column (``target`` or ``y``). Explicit ``id_col=``, ``timestamp_col=``,
``target_col=`` always win over these defaults. A long frame without an id
column is one series, whose item id is the name of its target column (as in
the wide layout). A MultiIndex (e.g. an AutoGluon ``TimeSeriesDataFrame``) or
a named index (e.g. an older Nixtla frame indexed by ``unique_id``) is moved
into columns first.

*Wide* (one column per series): a DatetimeIndex, or a timestamp column, and
every other column a series whose item id is the column name. A frame is read
as wide when it has neither an id column nor a target column and no
``target_col=`` is given. Leading missing values of a wide column are dropped
(the series starts at its first observed value); trailing ones are kept as
missing values, so every series ends at the last row of the frame.

Policies
--------
* Rows may come in any order: each series is **sorted** by timestamp.
* Duplicate timestamps within a series are an error.
* Series are returned sorted by item id when the ids can be compared with each
  other (all strings, or all numbers), else in order of first appearance.
* Frequency: ``freq=`` if given (any pandas alias, normalized), else inferred
  per series (``pd.infer_freq``; for series with gaps, the most common step);
  all series must agree. Every timestamp must lie on the grid of that
  frequency; timestamps missing from the grid (gaps) become NaN targets.
* Time zones: tz-aware timestamps in one zone are converted to naive local
  wall time (the zone is kept in :attr:`FrameSpec.tz` for the output); mixing
  zones, or tz-aware with tz-naive timestamps, is an error.
* Target: NaN marks a missing value. Strings from CSV files such as
  ``"1,234.5"`` are parsed as numbers and blanks (``""``, ``" "``, ``"NA"``,
  ...) as missing; any other string is an error. Booleans become 0.0/1.0.
  Infinite values are an error (use NaN for a missing value). An item whose
  target is entirely missing is an error (drop it).
* Covariates must be complete: a NaN covariate is an error (tsdiff does not
  forward-fill silently), and a series with gaps in its timestamps cannot have
  covariates (add the missing rows with a NaN target and the covariate values).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Optional, Sequence, Union

import numpy as np
import pandas as pd

from tsdiff.errors import DataError, option, subject

__all__ = [
    "SeriesData",
    "FrameSpec",
    "read_series",
    "future_timestamps",
    "read_future_covariates",
    "read_static",
    "StaticEncoding",
    "to_long_frame",
    "read_table",
    "read_timestamps",
    "guess_target_column",
    "ID_COLUMNS",
    "TIMESTAMP_COLUMNS",
    "TARGET_COLUMNS",
]

#: Id column names recognized when ``id_col`` is not given (AutoGluon, Nixtla).
ID_COLUMNS = ("item_id", "unique_id")
#: Timestamp column names recognized when ``timestamp_col`` is not given.
TIMESTAMP_COLUMNS = ("timestamp", "ds")
#: Target column names recognized when ``target_col`` is not given.
TARGET_COLUMNS = ("target", "y")

#: Strings read as a missing number (pandas' ``read_csv`` defaults, plus blanks).
_NA_STRINGS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
#: A number with comma thousands separators: "1,234", "-12,345,678.25".
_THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?(?:[eE][+-]?\d+)?"
#: A series may span at most this many grid steps per row it has (or 100,000 steps):
#: far more means a wrong timestamp (a typo in the year) rather than real gaps.
_MAX_GAP_FACTOR = 100
_MIN_GRID_LIMIT = 100_000
_MAX_SHOWN = 5


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


# --------------------------------------------------------------------------- small helpers


def normalize_freq(freq: str) -> str:
    """Canonical pandas offset alias for ``freq`` (``"H"`` -> ``"h"``, ``"1h"`` -> ``"h"``); pure pandas.

    Raises
    ------
    ValueError
        If pandas does not understand ``freq``; the message names it.
    """
    try:
        with warnings.catch_warnings():
            # pandas >= 2.2 deprecates "H", "T", "M": accept them, return the new alias.
            warnings.simplefilter("ignore", FutureWarning)
            offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"freq={freq!r} is not a pandas frequency string (e.g. 'h', '15min', 'D', 'W')") from exc
    return offset.freqstr


def _offset(freq: str) -> pd.DateOffset:
    return pd.tseries.frequencies.to_offset(normalize_freq(freq))


def _normalize_freq_arg(freq: Any, arg: str = "freq") -> str:
    if not isinstance(freq, str) and not isinstance(freq, pd.DateOffset):
        raise DataError(f"{option(arg, repr(freq))} is not a pandas frequency string (e.g. 'h', '15min', 'D', 'W')")
    try:
        return normalize_freq(freq)
    except ValueError as exc:
        raise DataError(str(exc).replace("freq=", f"{arg}=", 1)) from None


def _tick_nanos(offset: pd.DateOffset) -> Optional[int]:
    """Length of one step in ns for fixed-length frequencies ('h', 'D', '15min'), else None."""
    if not isinstance(offset, pd.offsets.Tick):
        return None
    try:
        return int(pd.Timedelta(offset).value)
    except (ValueError, TypeError):
        return None


def _shift(ts: pd.Timestamp, offset: pd.DateOffset, n: int) -> pd.Timestamp:
    if n == 0:
        return pd.Timestamp(ts)
    return pd.Timestamp(ts) + offset * n


def _fmt_ts(ns: Union[int, np.integer]) -> str:
    return str(pd.Timestamp(int(ns)))


def _fmt_items(items: Sequence[Any], total: Optional[int] = None) -> str:
    total = len(items) if total is None else total
    shown = ", ".join(repr(x) for x in list(items)[:_MAX_SHOWN])
    return shown + (f" and {total - _MAX_SHOWN} more" if total > _MAX_SHOWN else "")


def _fmt_columns(columns: Iterable[Any]) -> str:
    return "[" + ", ".join(repr(c) for c in columns) + "]"


def _where(arg_name: str, column: Any) -> str:
    return subject(arg_name, column)


def _names(value: Union[str, Sequence[str], None], arg: str) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    try:
        names = tuple(value)
    except TypeError:
        raise DataError(f"{option(arg, None)} must be a list of column names, got {value!r}") from None
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError(f"{option(arg, None)} lists column {dup!r} twice")
    return names


def _as_frame(df: Any, arg_name: str) -> pd.DataFrame:
    if isinstance(df, pd.DataFrame):
        return df
    if isinstance(df, pd.Series):
        return df.to_frame(name=df.name if df.name is not None else "0")
    if hasattr(df, "to_pandas"):  # polars / pyarrow tables
        converted = df.to_pandas()
        if isinstance(converted, pd.DataFrame):
            return converted
    raise DataError(f"{subject(arg_name)} must be a pandas DataFrame, got {type(df).__name__}")


def _index_to_columns(df: pd.DataFrame, arg_name: str) -> tuple[pd.DataFrame, Optional[str]]:
    """Move a meaningful index into columns; returns the frame and the name of a datetime index column."""
    index = df.index
    if isinstance(index, pd.MultiIndex):
        names = list(index.names)
        if any(n is None for n in names):
            raise DataError(f"{subject(arg_name)} has a MultiIndex with unnamed levels; name them or call reset_index()")
        clash = [n for n in names if n in df.columns]
        if clash:
            raise DataError(f"{subject(arg_name)} has index level(s) {_fmt_columns(clash)} that are also columns; "
                            "drop one of them")
        return df.reset_index(), None
    is_dt = isinstance(index, pd.DatetimeIndex)
    if index.name is not None:
        if index.name in df.columns:
            return df, None
        return df.reset_index(), (index.name if is_dt else None)
    if is_dt:
        if any(c in df.columns for c in TIMESTAMP_COLUMNS):
            return df, None  # the column wins over an unnamed index
        return df.reset_index(names="timestamp"), "timestamp"
    return df, None


def _pick_column(columns: list, explicit: Any, candidates: Sequence[str], arg: str, role: str, arg_name: str) -> Optional[Any]:
    if explicit is not None:
        if explicit not in columns:
            raise DataError(f"{option(arg, repr(explicit))} is not a column of {subject(arg_name)}; "
                            f"available columns: {_fmt_columns(columns)}")
        return explicit
    present = [c for c in candidates if c in columns]
    if len(present) > 1:
        raise DataError(
            f"{subject(arg_name)} has both {present[0]!r} and {present[1]!r} columns, either could be the {role}; "
            f"pass {option(arg)} to choose"
        )
    return present[0] if present else None


# --------------------------------------------------------------------------- value conversion


class _Rows:
    """Describes row ``i`` of the input as "item 'a' at 2020-01-01 03:00:00" for error messages."""

    def __init__(self, items: Optional[Callable[[int], Any]], ts_ns: Optional[np.ndarray]) -> None:
        self.items = items
        self.ts_ns = ts_ns

    def __call__(self, i: int) -> str:
        parts = []
        if self.items is not None:
            parts.append(f"item {self.items(i)!r}")
        if self.ts_ns is not None:
            parts.append(f"at {_fmt_ts(self.ts_ns[i])}")
        return " ".join(parts) if parts else f"row {i}"


def _to_float64(col: pd.Series, where: str, describe: _Rows, *, allow_nan: bool = True, what: str = "") -> np.ndarray:
    """Numeric values of ``col`` as float64 (NaN = missing); DataError naming ``where`` and a row otherwise."""
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    ):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    elif isinstance(dtype, pd.CategoricalDtype) or dtype == np.dtype(object) or pd.api.types.is_string_dtype(dtype):
        values = _parse_numbers(col.to_numpy(dtype=object), where, describe)
    else:
        raise DataError(f"{where} must be numeric, got dtype {dtype}")

    bad = np.isinf(values)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{where} has {int(bad.sum())} infinite value(s), e.g. {describe(i)}; "
            f"replace them with NaN to mark them missing, or drop those rows"
        )
    big = np.abs(values) > np.finfo(np.float32).max
    if big.any():
        i = int(np.argmax(big))
        raise DataError(f"{where} has values too large for float32, e.g. {_show(values[i])} ({describe(i)}); rescale the column")
    if not allow_nan:
        nan = np.isnan(values)
        if nan.any():
            i = int(np.argmax(nan))
            raise DataError(
                f"{where}{what} has {int(nan.sum())} missing value(s) (NaN), e.g. {describe(i)}; "
                f"it must be complete: fill the gaps (e.g. with ffill or a constant) or drop the column"
            )
    return values


def _parse_numbers(values: np.ndarray, where: str, describe: _Rows) -> np.ndarray:
    """Parse an object array of numbers and strings such as "1,234.5"; blanks and NA strings are NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    todo = np.flatnonzero(np.isnan(out) & ~pd.isna(values))
    if todo.size == 0:
        return out
    rest = pd.Series(values[todo], dtype=object)
    is_str = rest.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    text = rest.where(is_str, "\x00").astype(str).str.strip()
    na = text.isin(_NA_STRINGS).to_numpy() & is_str
    thousands = text.str.fullmatch(_THOUSANDS).to_numpy(dtype=bool) & is_str
    if thousands.any():
        out[todo[thousands]] = pd.to_numeric(text[thousands].str.replace(",", "", regex=False)).to_numpy(np.float64)
    out[todo[na]] = np.nan
    bad = ~(na | thousands)
    if bad.any():
        k = int(np.argmax(bad))
        i = int(todo[k])
        n_bad = int(bad.sum())
        raise DataError(
            f"{where} has {n_bad} value(s) that are not numbers, e.g. {_show(values[i])} ({describe(i)}); "
            f"numbers like '1,234.5' and blanks are accepted, fix or drop the others"
        )
    return out


# --------------------------------------------------------------------------- timestamps


def _parse_timestamps(raw: pd.Series, where: str, describe: _Rows) -> tuple[np.ndarray, Optional[str], Optional[np.ndarray]]:
    """Parse timestamps; returns (naive local int64 ns, tz name or None, UTC int64 ns or None)."""
    dtype = raw.dtype
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_datetime64_any_dtype(dtype)
    ):
        example = raw.iloc[0] if len(raw) else None
        raise DataError(
            f"{where} holds numbers (e.g. {_show(example)}), not timestamps; convert them first, "
            f"e.g. pd.to_datetime(values, unit='s') for Unix seconds"
        )
    if isinstance(dtype, pd.PeriodDtype):
        raw = pd.Series(raw, copy=False).dt.to_timestamp()
        dtype = raw.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        parsed = pd.Series(raw, copy=False)
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed = pd.to_datetime(pd.Series(raw, copy=False))
        except (ValueError, TypeError, OverflowError) as exc:
            raise _timestamp_error(raw, where, exc) from None
        if parsed.dtype == object:  # several UTC offsets, e.g. "+01:00" and "+02:00" (DST)
            raise _timestamp_error(raw, where, None) from None
    nat = parsed.isna().to_numpy()
    if nat.any():
        i = int(np.argmax(nat))
        raise DataError(
            f"{where} has {int(nat.sum())} missing timestamp(s) (NaT), e.g. {describe(i)} (row {i}); drop those rows"
        )
    tz = getattr(parsed.dt, "tz", None)
    utc_ns = None
    try:
        if tz is not None:
            utc_ns = parsed.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("ns").to_numpy().view(np.int64)
            parsed = parsed.dt.tz_localize(None)
        local_ns = parsed.dt.as_unit("ns").to_numpy().view(np.int64)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime) as exc:
        raise DataError(f"{where} has timestamps outside the range pandas supports (years 1678-2261): {exc}") from None
    return np.ascontiguousarray(local_ns), (str(tz) if tz is not None else None), utc_ns


def _timestamp_error(raw: pd.Series, where: str, exc: Optional[Exception]) -> DataError:
    """The most helpful DataError for timestamps that pandas could not parse together."""
    values = raw.to_numpy(dtype=object)

    def single(v: Any) -> Optional[pd.Timestamp]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pd.Timestamp(v)
        except (ValueError, TypeError, OverflowError):
            return None

    reported = None
    if exc is not None:
        m = re.search(r"at position (\d+)", str(exc))
        if m and int(m.group(1)) < len(values):
            reported = int(m.group(1))
    # the reported position first, then every row in order (error path only)
    order = ([reported] if reported is not None else []) + list(range(len(values)))
    first: Optional[tuple[int, pd.Timestamp]] = None
    for i in order:
        ts = single(values[i])
        if ts is None:
            return DataError(f"{where} has a value that is not a timestamp: {_show(values[i])} (row {i}); fix or drop that row")
        if ts is pd.NaT:
            continue
        if first is None:
            first = (i, ts)
            continue
        j, ts0 = first
        a, b = (j, i) if j < i else (i, j)
        if (ts0.tz is None) != (ts.tz is None):
            return DataError(
                f"{where} mixes tz-aware and tz-naive timestamps, e.g. {_show(values[a])} (row {a}) and "
                f"{_show(values[b])} (row {b}); make them all tz-aware in one time zone, or all naive"
            )
        if ts0.tz is not None and ts0.utcoffset() != ts.utcoffset():
            return DataError(
                f"{where} mixes time zones / UTC offsets, e.g. {_show(values[a])} (row {a}) and {_show(values[b])} "
                f"(row {b}); convert them to one zone, e.g. pd.to_datetime(values, utc=True).dt.tz_convert('Europe/Berlin')"
            )
        if reported is not None and reported in (i, j) and i != j:
            return DataError(
                f"{where} mixes date formats, e.g. {_show(values[a])} (row {a}) and {_show(values[b])} (row {b}); "
                f"parse the column yourself, e.g. pd.to_datetime(values, format=...)"
            )
    detail = str(exc).splitlines()[0] if exc is not None else "mixed time zones"
    return DataError(f"{where} could not be parsed as timestamps: {detail}")


def _show(v: Any) -> str:
    """repr of a value for a message, without numpy/pandas scalar wrappers."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (pd.Timestamp, np.datetime64)) or type(v).__name__ == "datetime":
        return repr(str(v))
    return repr(v)


# --------------------------------------------------------------------------- ids


def _factorize_ids(raw: pd.Series, where: str) -> tuple[np.ndarray, list]:
    """Integer codes (0..N-1, in the output order) and the list of item ids."""
    codes, uniques = pd.factorize(raw, sort=False, use_na_sentinel=True)
    if (codes < 0).any():
        i = int(np.argmax(codes < 0))
        raise DataError(
            f"{where} has {int((codes < 0).sum())} missing item id(s) (NaN/None), e.g. at row {i}; "
            f"drop those rows or give them an id"
        )
    items = list(uniques.tolist()) if hasattr(uniques, "tolist") else list(uniques)
    try:
        order = sorted(range(len(items)), key=items.__getitem__)
    except TypeError:  # e.g. str and int ids together: keep the order of first appearance
        return codes.astype(np.int64, copy=False), items
    rank = np.empty(len(items), dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(items), dtype=np.int64)
    return rank[codes], [items[k] for k in order]


# --------------------------------------------------------------------------- frequency


def _fallback_freq(seg: np.ndarray) -> Optional[str]:
    """Frequency of a series with gaps, or None.

    Month-based data (all month starts, or all month ends) is read with month
    arithmetic; otherwise the most common step, or else the smallest step, if
    it divides every step.
    """
    idx = pd.DatetimeIndex(seg.view("M8[ns]"))
    normalized = (idx == idx.normalize()).all()
    for on_month, off in ((idx.is_month_start, pd.offsets.MonthBegin), (idx.is_month_end, pd.offsets.MonthEnd)):
        if normalized and on_month.all():
            months = idx.year.to_numpy() * 12 + idx.month.to_numpy()
            steps = np.diff(months)
            vals, counts = np.unique(steps, return_counts=True)
            m = int(vals[np.argmax(counts)])
            if m > 0 and (steps % m == 0).all():
                synth = pd.DatetimeIndex([idx[0], idx[0] + off(m), idx[0] + off(2 * m)])
                return pd.infer_freq(synth)
    steps = np.diff(seg)
    vals, counts = np.unique(steps, return_counts=True)
    for d in (int(vals[np.argmax(counts)]), int(vals[0])):
        if d > 0 and (steps % d == 0).all():
            synth = pd.DatetimeIndex(np.array([seg[0], seg[0] + d, seg[0] + 2 * d]).view("M8[ns]"))
            return pd.infer_freq(synth)
    return None


def _irregular(item: Any, seg: np.ndarray, arg_name: str) -> DataError:
    """Why the frequency of ``seg`` cannot be inferred: a timestamp off the most common step's grid, if any."""
    steps = np.diff(seg)
    vals, counts = np.unique(steps, return_counts=True)
    d = int(vals[np.argmax(counts)])
    phase = (seg - seg[0]) % d
    pv, pc = np.unique(phase, return_counts=True)
    off = np.flatnonzero(phase != pv[np.argmax(pc)])
    if off.size and counts.max() > 1 and 2 * counts.max() >= len(steps):
        return DataError(
            f"cannot infer the frequency of item {item!r} in {subject(arg_name)}: its most common step is {_fmt_step(d)!r}, "
            f"but timestamp {_fmt_ts(seg[off[0]])} is off that grid; fix that timestamp, or pass {option('freq')}"
        )
    return DataError(
        f"cannot infer the frequency of item {item!r} in {subject(arg_name)}: its timestamps are irregular "
        f"(steps of {', '.join(_fmt_step(x) for x in vals[:3])}, ...); pass {option('freq')} (e.g. {option('freq', repr('h'))})"
    )


def _infer_freq(ts: np.ndarray, starts: np.ndarray, ends: np.ndarray, items: list, arg_name: str) -> str:
    reliable: dict[str, int] = {}
    gappy: list[int] = []
    for g, (s, e) in enumerate(zip(starts, ends)):
        if e - s < 3:
            continue
        f = pd.infer_freq(pd.DatetimeIndex(ts[s:e].view("M8[ns]")))
        if f is None:
            gappy.append(g)
        else:
            f = normalize_freq(f)
            reliable.setdefault(f, g)
            if len(reliable) > 1:
                (f1, g1), (f2, g2) = list(reliable.items())[:2]
                raise _mixed_freq(items[g1], f1, items[g2], f2, arg_name)
    if reliable:
        freq, g_ref = next(iter(reliable.items()))
        nanos = _tick_nanos(pd.tseries.frequencies.to_offset(freq))
        if nanos is not None:  # a gappy series with another typical step is another frequency
            for g in gappy:
                seg = ts[starts[g]:ends[g]]
                steps = np.diff(seg)
                vals, counts = np.unique(steps, return_counts=True)
                if int(vals[np.argmax(counts)]) != nanos:
                    other = normalize_freq(_fallback_freq(seg) or _fmt_step(vals[np.argmax(counts)]))
                    if other != freq:
                        raise _mixed_freq(items[g_ref], freq, items[g], other, arg_name)
        return freq
    if not gappy:
        raise DataError(
            f"cannot infer the frequency of {subject(arg_name)}: every series has fewer than 3 timestamps; "
            f"pass {option('freq')} (e.g. {option('freq', repr('h'))} or {option('freq', repr('D'))})"
        )
    found: dict[str, int] = {}
    for g in gappy:
        seg = ts[starts[g]:ends[g]]
        f = _fallback_freq(seg)
        if f is None:
            raise _irregular(items[g], seg, arg_name)
        f = normalize_freq(f)
        found.setdefault(f, g)
        if len(found) > 1:
            (f1, g1), (f2, g2) = list(found.items())[:2]
            raise _mixed_freq(items[g1], f1, items[g2], f2, arg_name)
    return next(iter(found))


def _fmt_step(ns: Any) -> str:
    return pd.tseries.frequencies.to_offset(pd.Timedelta(int(ns))).freqstr


def _mixed_freq(item1: Any, f1: str, item2: Any, f2: str, arg_name: str) -> DataError:
    return DataError(
        f"mixed frequencies in {subject(arg_name)}: item {item1!r} is {f1!r}, item {item2!r} is {f2!r}; "
        f"resample the series to one frequency, or pass {option('freq')} to read them all on that grid"
    )


# --------------------------------------------------------------------------- grid


def _grid_positions(
    ts: np.ndarray, starts: np.ndarray, ends: np.ndarray, offset: pd.DateOffset, freq: str,
    items: list, where: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Position of every (sorted) timestamp on its series' grid; returns (pos, grid_start_ns, grid_len)."""
    n_groups = len(starts)
    counts = ends - starts
    first = ts[starts]
    nanos = _tick_nanos(offset)
    limit = np.maximum(_MAX_GAP_FACTOR * counts, _MIN_GRID_LIMIT)
    if nanos is not None:
        rel = ts - np.repeat(first, counts)
        phase = rel % nanos
        if phase.any():
            for g in np.unique(np.repeat(np.arange(n_groups), counts)[phase != 0]):
                seg_phase = phase[starts[g]:ends[g]]
                vals, cnt = np.unique(seg_phase, return_counts=True)
                major = vals[np.argmax(cnt)]
                k = int(np.argmax(seg_phase != major))
                ok = int(np.argmax(seg_phase == major))
                raise _off_grid(items[g], ts[starts[g] + k], ts[starts[g] + ok], freq, where)
        pos = rel // nanos
        glen = pos[ends - 1] + 1
        too_long = glen > limit
        if too_long.any():
            g = int(np.argmax(too_long))
            raise _too_long(items[g], first[g], ts[ends[g] - 1], int(glen[g]), int(counts[g]), freq, where)
        return pos, first, glen
    pos = np.empty(len(ts), dtype=np.int64)
    glen = np.empty(n_groups, dtype=np.int64)
    step_ns = max(1, int((pd.Timestamp(2001, 1, 1) + offset - pd.Timestamp(2001, 1, 1)).value))
    for g in range(n_groups):
        s, e = int(starts[g]), int(ends[g])
        seg = ts[s:e]
        approx = (seg[-1] - seg[0]) // step_ns + 1
        if approx > 2 * limit[g]:
            raise _too_long(items[g], seg[0], seg[-1], int(approx), e - s, freq, where)
        grid = pd.date_range(start=pd.Timestamp(int(seg[0])), end=pd.Timestamp(int(seg[-1])), freq=offset)
        grid_ns = grid.as_unit("ns").asi8
        p = np.searchsorted(grid_ns, seg)
        found = (p < len(grid_ns)) & (grid_ns[np.minimum(p, len(grid_ns) - 1)] == seg)
        if not found.all():
            k = int(np.argmax(~found))
            ok = int(np.argmax(found)) if found.any() else None
            raise _off_grid(items[g], seg[k], None if ok is None else seg[ok], freq, where)
        pos[s:e] = p
        glen[g] = len(grid_ns)
    return pos, first, glen


def _off_grid(item: Any, bad_ns: int, ok_ns: Optional[int], freq: str, where: str) -> DataError:
    grid = f" (its grid runs through {_fmt_ts(ok_ns)})" if ok_ns is not None else ""
    return DataError(
        f"{where}: item {item!r} has a timestamp off its {freq!r} grid: {_fmt_ts(bad_ns)}{grid}; "
        f"round the timestamps (e.g. .dt.floor({freq!r})) or pass the right {option('freq')}"
    )


def _too_long(item: Any, first: int, last: int, steps: int, rows: int, freq: str, where: str) -> DataError:
    return DataError(
        f"{where}: item {item!r} spans {_fmt_ts(first)} to {_fmt_ts(last)}, {steps:,} steps of {freq!r}, "
        f"but has only {rows:,} rows; check for a wrong timestamp (e.g. a typo in the year) or the {option('freq')}"
    )


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


# --------------------------------------------------------------------------- future frames


def future_timestamps(last: pd.Timestamp, freq: str, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps right after ``last`` on the grid of ``freq``."""
    if int(horizon) < 0:
        raise ValueError(f"horizon must be >= 0, got {horizon}")
    offset = _offset(freq)
    return pd.date_range(start=pd.Timestamp(last) + offset, periods=int(horizon), freq=offset)


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


# --------------------------------------------------------------------------- static features


def read_static(
    static_df: pd.DataFrame,
    item_ids: Sequence[Hashable],
    *,
    id_col: Optional[str] = None,
    categorical: Optional[Sequence[str]] = None,
    real: Optional[Sequence[str]] = None,
    arg_name: str = "static_df",
) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """Static features of each item, in the order of ``item_ids``.

    Parameters
    ----------
    static_df : pd.DataFrame
        One row per item: an id column (``id_col``, else ``item_id`` or
        ``unique_id``, else a named or non-default index) and feature columns.
        Items not in ``item_ids`` are ignored.
    item_ids : sequence
        The items, e.g. ``[s.item_id for s in series]``.
    categorical, real : sequence of str, optional
        Feature columns. When ``categorical`` is None, every non-numeric (or
        bool) column not in ``real`` is categorical; when ``real`` is None, every
        numeric column not in ``categorical`` is real.

    Returns
    -------
    categories : np.ndarray of object, shape (N, S), or None
        The category values as given (strings, ints, ...). Missing values are an error.
    reals : np.ndarray of float32, shape (N, R), or None
        No NaN or infinite values.
    """
    df = _as_frame(static_df, arg_name)
    cat = _names(categorical, "categorical") if categorical is not None else None
    rea = _names(real, "real") if real is not None else None
    index = df.index
    columns = list(df.columns)
    id_name = _pick_column(columns, id_col, ID_COLUMNS, "id_col", "item id", arg_name)
    if id_name is not None:
        ids = df[id_name]
        feats = df.drop(columns=[id_name])
    elif isinstance(index, pd.RangeIndex) and index.name is None:
        raise DataError(
            f"{subject(arg_name)} has no id column: expected 'item_id' or 'unique_id', an index of item ids, "
            f"or {option('id_col')}; "
            f"available columns: {_fmt_columns(columns)}"
        )
    else:
        ids = pd.Series(index, index=index)
        feats = df
    fcols = list(feats.columns)
    for arg, names in (("categorical", cat), ("real", rea)):
        missing = [c for c in (names or ()) if c not in fcols]
        if missing:
            raise DataError(f"{option(arg, None)} column(s) {_fmt_columns(missing)} not in {subject(arg_name)}; "
                            f"available columns: {_fmt_columns(fcols)}")
    if cat is not None and rea is not None and set(cat) & set(rea):
        raise DataError(f"column {sorted(set(cat) & set(rea), key=str)[0]!r} is listed as both categorical and real")

    def is_real(c: Any) -> bool:
        dt = feats[c].dtype
        return pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt)

    if cat is None:
        cat = tuple(c for c in fcols if not is_real(c) and c not in (rea or ()))
    if rea is None:
        rea = tuple(c for c in fcols if is_real(c) and c not in cat)

    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        raise DataError(f"{subject(arg_name)} has several rows for item {ids.iloc[int(np.argmax(dup))]!r}; keep one row per item")
    if ids.isna().any():
        raise DataError(f"{subject(arg_name)} has a missing (NaN) item id at row {int(np.argmax(ids.isna().to_numpy()))}")
    pos = pd.Index(ids.to_numpy(dtype=object)).get_indexer(pd.Index(list(item_ids), dtype=object))
    if (pos < 0).any():
        missing = [item_ids[i] for i in np.flatnonzero(pos < 0)]
        hint = ""
        if len(missing) == len(item_ids) and len(ids):
            hint = f" (its ids look like {ids.iloc[0]!r}; check the id types, e.g. str vs int)"
        raise DataError(
            f"{subject(arg_name)} has no row for {len(missing)} item(s): {_fmt_items(missing)}{hint}; add a row for every item"
        )
    rows = feats.iloc[pos]
    describe = _Rows(lambda i: item_ids[i], None)
    cats = None
    if cat:
        cats = rows[list(cat)].to_numpy(dtype=object)
        na = pd.isna(rows[list(cat)]).to_numpy()
        if na.any():
            i, j = np.argwhere(na)[0]
            raise DataError(
                f"{_where(arg_name, cat[j])} has a missing category for item {item_ids[i]!r}; "
                f"fill it with a category of its own, e.g. .fillna('unknown')"
            )
    reals = None
    if rea:
        reals = np.stack(
            [_to_float64(rows[c], _where(arg_name, c), describe, allow_nan=False, what=" (a static real feature)") for c in rea],
            axis=1,
        ).astype(np.float32)
    return cats, reals


@dataclass
class StaticEncoding:
    """How static features are encoded: the columns seen at fit and each categorical column's categories.

    Category ``vocab[j][k]`` of categorical column ``j`` gets code ``k + 1``; code 0 marks a
    category not seen at fit.
    """

    categorical: list[str]
    real: list[str]
    vocab: list[list[str]]

    @classmethod
    def fit(cls, static_df: pd.DataFrame, item_ids: Sequence[Hashable], *, id_col: Optional[str] = None
            ) -> tuple["StaticEncoding", Optional[np.ndarray], Optional[np.ndarray]]:
        """Learn the encoding from ``static_df`` (numeric, non-bool columns are real, the rest categorical).

        Returns
        -------
        encoding : StaticEncoding
        codes : np.ndarray of int64, shape (N, S), or None
            Category codes of ``item_ids`` (1-based, see the class docstring).
        reals : np.ndarray of float32, shape (N, R), or None
        """
        cats, reals = read_static(static_df, item_ids, id_col=id_col)
        feature_cols = [c for c in static_df.columns if c not in (id_col, "item_id", "unique_id")]
        numeric = [c for c in feature_cols if pd.api.types.is_numeric_dtype(static_df[c])
                   and not pd.api.types.is_bool_dtype(static_df[c])]
        vocab = [sorted(set(map(str, cats[:, j]))) for j in range(cats.shape[1])] if cats is not None else []
        encoding = cls(categorical=[c for c in feature_cols if c not in numeric], real=numeric, vocab=vocab)
        return encoding, encoding.codes(cats), reals

    def transform(self, static_df: pd.DataFrame, item_ids: Sequence[Hashable], *, id_col: Optional[str] = None
                  ) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """``(codes (N, S), reals (N, R))`` of ``item_ids`` read from ``static_df`` with the fitted columns."""
        cats, reals = read_static(static_df, item_ids, id_col=id_col, categorical=self.categorical, real=self.real)
        return self.codes(cats), reals

    def codes(self, cats: Optional[np.ndarray]) -> Optional[np.ndarray]:
        """Category values ``(N, S)`` (as :func:`read_static` returns them) -> int64 codes, 0 when unseen."""
        if cats is None:
            return None
        codes = np.zeros(cats.shape, dtype=np.int64)
        for j, vocab in enumerate(self.vocab):
            lookup = {v: k + 1 for k, v in enumerate(vocab)}
            codes[:, j] = [lookup.get(str(v), 0) for v in cats[:, j]]
        return codes


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


# --------------------------------------------------------------------------- files


_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")
_PARQUET_SUFFIXES = (".parquet", ".pq")


def read_table(path: Union[str, Path]) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.csv.gz``, ...) or Parquet (``.parquet``, ``.pq``) file, chosen by suffix.

    Cells are read as pandas does by default (blank cells are NaN); numbers
    written as text ("1,234.5", " ") are parsed later by :func:`read_series`.

    Raises
    ------
    DataError
        Naming the file for an unknown suffix, a missing file or a file that
        cannot be read.
    """
    p = Path(path)
    name = p.name.lower()
    if name.endswith(_CSV_SUFFIXES):
        kind = "CSV"
    elif name.endswith(_PARQUET_SUFFIXES):
        kind = "Parquet"
    else:
        suffix = "".join(p.suffixes) or "(none)"
        raise DataError(
            f"cannot read {str(path)!r}: unknown file type {suffix!r}; tsdiff reads CSV "
            f"({', '.join(_CSV_SUFFIXES)}) and Parquet ({', '.join(_PARQUET_SUFFIXES)}) files"
        )
    if not p.is_file():
        raise DataError(f"cannot read {str(path)!r}: no such file")
    try:
        if kind == "CSV":
            return pd.read_csv(p)
        return pd.read_parquet(p)
    except Exception as exc:  # noqa: BLE001 - readers raise many types; all mean "unreadable"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {str(path)!r} as {kind}: {detail}") from exc


def read_timestamps(values: pd.Series, where: str) -> pd.Series:
    """Datetimes of a timestamp column of a frame that is compared, not modelled (forecast, actuals, history files).

    Naive timestamps stay naive; tz-aware ones, a mix of UTC offsets (a daylight-saving change)
    included, become UTC. :func:`read_series`, which models the series, refuses mixed offsets instead.

    Parameters
    ----------
    values : pd.Series
        Strings or datetimes, one per row.
    where : str
        Names the column in error messages (e.g. ``"actuals file a.csv"``).

    Returns
    -------
    pd.Series of datetime64, same length and index as ``values``.

    Raises
    ------
    DataError
        Naming ``where`` and the first value that is not a timestamp.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = pd.to_datetime(values)
                if not pd.api.types.is_datetime64_any_dtype(out):  # mixed UTC offsets (DST)
                    out = pd.to_datetime(values, utc=True)
        except (ValueError, TypeError, OverflowError) as exc:
            raise _timestamp_error(pd.Series(values), where, exc) from None
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC")
    return out


def guess_target_column(df: pd.DataFrame, id_col: Any, timestamp_col: Any, target_col: Any = None, *,
                        where: str = "df", hint: str = "pass target_col=") -> Any:
    """The target column of a long frame: ``target_col``, else a :data:`TARGET_COLUMNS` name, else the only numeric one.

    Parameters
    ----------
    df : pd.DataFrame
        A long frame (id, timestamp, values).
    id_col, timestamp_col : column names
        Left out of the numeric columns considered.
    target_col : column name, optional
        Given by the caller: it must be a column of ``df``.
    where : str
        Names ``df`` in error messages.
    hint : str
        How the caller names the column, quoted in the error (``"name it with --target-col"`` on
        the command line).

    Raises
    ------
    DataError
        When ``target_col`` is not a column, or no single column can be the target.
    """
    columns = list(df.columns)
    if target_col is not None:
        if target_col not in columns:
            raise DataError(f"{where} has no target column {target_col!r} (columns: {columns[:10]})")
        return target_col
    for name in TARGET_COLUMNS:
        if name in columns:
            return name
    rest = [c for c in columns if c not in (id_col, timestamp_col) and pd.api.types.is_numeric_dtype(df[c])]
    if len(rest) == 1:
        return rest[0]
    raise DataError(f"{where}: cannot tell the target column among {columns[:10]}; {hint}")
