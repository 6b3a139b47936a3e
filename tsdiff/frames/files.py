"""Files and the columns of frames that are compared, not modelled: :func:`read_table`,
:func:`read_timestamps` and :func:`guess_target_column` (the CLI and plotting reuse them)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Union

import pandas as pd

from tsdiff.errors import DataError

from ._common import TARGET_COLUMNS, _timestamp_error

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
