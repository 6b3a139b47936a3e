"""Shared by every reader of :mod:`tsdiff.frames`: default column names, message wording,
column picking, and the conversion of values (numbers, strings such as "1,234.5",
timestamps, item ids) with the errors that name the argument, column, item and row at fault."""

from __future__ import annotations

import re
import warnings
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np
import pandas as pd

from tsdiff.errors import DataError, option, subject

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
_MAX_SHOWN = 5


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
