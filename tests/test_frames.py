"""Tests of tsdiff.frames: every bad input gives a DataError naming what is wrong.

``ERROR_CASES`` below is also the source of ``docs/errors.md``: run
``python tests/test_frames.py`` to rewrite it after changing a message, and
``test_errors_doc_is_current`` checks that every message listed there is current.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsdiff.errors import DataError, ModelFileError, NotFittedError, TrainingError, TSDiffError
from tsdiff.frames import (
    FrameSpec,
    SeriesData,
    future_timestamps,
    read_future_covariates,
    read_series,
    read_static,
    read_table,
    to_long_frame,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
H = pd.date_range("2020-01-01", periods=6, freq="h")


def long_df(ids: Sequence = ("a",) * 6, ts: Sequence = H, y: Sequence = range(6), **cols) -> pd.DataFrame:
    data = {"item_id": list(ids), "timestamp": list(ts), "target": list(y)}
    data.update({k: list(v) for k, v in cols.items()})
    return pd.DataFrame(data)


def two_series(**cols) -> pd.DataFrame:
    return long_df(ids=["a"] * 6 + ["b"] * 6, ts=list(H) * 2, y=range(12), **cols)


def _fitted():
    """Two series with a known covariate 'k', for the future-covariate cases."""
    series, spec = read_series(two_series(k=range(12)), known_covariates=["k"])
    return series, spec


def _future(ids: Sequence, steps: Sequence[int], k: Sequence | None = None) -> pd.DataFrame:
    ts = [H[-1] + pd.Timedelta(hours=int(s)) for s in steps]
    return pd.DataFrame({"item_id": list(ids), "timestamp": ts, "k": list(k) if k is not None else range(len(ts))})


def _future_case(future: pd.DataFrame | None, horizon: int = 2):
    series, spec = _fitted()
    return read_future_covariates(future, series, spec, horizon, ["k"])


STATIC = pd.DataFrame({"item_id": ["a", "b"], "store": ["x", "y"], "size": [1.0, 2.0]})


def _write_files() -> None:
    """Files for the read_table cases, in the current directory."""
    Path("corrupt.parquet").write_bytes(b"not parquet")


class Case(NamedTuple):
    key: str
    what: str  # the bad input, for docs/errors.md
    function: str
    run: Callable[[], object]
    expect: tuple[str, ...]  # substrings the message must contain
    volatile: bool = False  # message ends with a third-party error text: the doc check uses the prefix


# fmt: off
ERROR_CASES: list[Case] = [
    Case("not-frame", "not a DataFrame (e.g. a list)", "read_series",
         lambda: read_series([1, 2, 3]), ("df must be a pandas DataFrame", "list")),
    Case("empty", "empty frame", "read_series",
         lambda: read_series(pd.DataFrame()), ("df is empty",)),
    Case("no-timestamp", "no timestamp column", "read_series",
         lambda: read_series(pd.DataFrame({"item_id": [1], "time": ["2020"], "target": [1]})),
         ("no timestamp column", "available columns", "'time'")),
    Case("no-target", "no target column", "read_series",
         lambda: read_series(pd.DataFrame({"item_id": [1], "timestamp": ["2020"], "value": [1]})),
         ("no target column", "target_col=", "'value'")),
    Case("explicit-missing", "a column named by an argument is missing", "read_series",
         lambda: read_series(long_df(), target_col="sales"), ("target_col='sales'", "available columns", "'target'")),
    Case("ambiguous-target", "both `target` and `y` columns", "read_series",
         lambda: read_series(long_df(y2=range(6)).rename(columns={"y2": "y"})), ("'target'", "'y'", "target_col=")),
    Case("ambiguous-id", "both `item_id` and `unique_id` columns", "read_series",
         lambda: read_series(long_df(unique_id=["a"] * 6)), ("'item_id'", "'unique_id'", "id_col=")),
    Case("ambiguous-layout", "target column, no id column, and other columns", "read_series",
         lambda: read_series(pd.DataFrame({"timestamp": H, "target": range(6), "other": range(6)})),
         ("'other'", "id_col=", "target_col='target'")),
    Case("duplicate-columns", "two columns with the same name", "read_series",
         lambda: read_series(long_df(x=range(6)).rename(columns={"x": "target"})), ("more than one column named 'target'",)),
    Case("nan-id", "missing item id (NaN/None)", "read_series",
         lambda: read_series(long_df(ids=["a", "a", None, "a", "a", "a"])), ("df['item_id']", "row 2")),
    Case("numeric-timestamps", "numbers in the timestamp column", "read_series",
         lambda: read_series(long_df(ts=range(6))), ("df['timestamp']", "holds numbers")),
    Case("bad-timestamp", "unparseable timestamp", "read_series",
         lambda: read_series(long_df(ts=["2020-01-01 00:00", "2020-01-01 01:00", "foo", "2020-01-01 03:00",
                                         "2020-01-01 04:00", "2020-01-01 05:00"])),
         ("df['timestamp']", "'foo'", "row 2")),
    Case("mixed-date-formats", "timestamps in different formats", "read_series",
         lambda: read_series(long_df(ts=["01/02/2020", "2020-01-03", "2020-01-04", "2020-01-05", "2020-01-06", "2020-01-07"])),
         ("df['timestamp']", "mixes date formats", "'01/02/2020'", "'2020-01-03'")),
    Case("nat", "missing timestamp (NaT)", "read_series",
         lambda: read_series(long_df(ts=list(H[:5]) + [None])), ("df['timestamp']", "item 'a'", "row 5")),
    Case("tz-mixed", "tz-aware and tz-naive timestamps together", "read_series",
         lambda: read_series(long_df(ts=["2020-01-01T00:00Z"] + [str(t) for t in H[1:]])),
         ("df['timestamp']", "tz-aware and tz-naive", "'2020-01-01T00:00Z'")),
    Case("tz-several", "several time zones or UTC offsets", "read_series",
         lambda: read_series(long_df(ts=["2020-03-29T00:00+01:00", "2020-03-29T01:00+01:00", "2020-03-29T03:00+02:00",
                                         "2020-03-29T04:00+02:00", "2020-03-29T05:00+02:00", "2020-03-29T06:00+02:00"])),
         ("df['timestamp']", "mixes time zones", "+02:00")),
    Case("dst-duplicate", "hourly tz-aware data over a daylight-saving change (local time repeats)", "read_series",
         lambda: read_series(long_df(ts=pd.date_range("2020-10-25", periods=6, freq="h", tz="UTC").tz_convert("Europe/Berlin"))),
         ("item 'a'", "2020-10-25 02:00:00", "daylight-saving", "UTC")),
    Case("duplicate-timestamps", "duplicate timestamps within a series", "read_series",
         lambda: read_series(long_df(ts=list(H[:5]) + [H[2]])), ("df['timestamp']", "item 'a'", "2020-01-01 02:00:00")),
    Case("target-dtype", "target of a non-numeric dtype (e.g. datetime)", "read_series",
         lambda: read_series(long_df(y=pd.date_range("2020", periods=6))), ("df['target']", "numeric", "datetime64")),
    Case("target-strings", "target strings that are not numbers", "read_series",
         lambda: read_series(long_df(y=["1", "2", "x", "4", "5", "6"])),
         ("df['target']", "'x'", "item 'a'", "2020-01-01 02:00:00")),
    Case("infinite", "infinite target value", "read_series",
         lambda: read_series(long_df(y=[1, 2, np.inf, 4, 5, 6])), ("df['target']", "infinite", "item 'a'", "2020-01-01 02:00:00")),
    Case("float32-overflow", "target too large for float32 (> 3.4e38)", "read_series",
         lambda: read_series(long_df(y=[1e300] * 6)), ("df['target']", "float32", "item 'a'")),
    Case("all-nan", "an item whose target is all NaN", "read_series",
         lambda: read_series(long_df(ids="aaabbb", ts=list(H[:3]) * 2, y=[1, 2, 3, np.nan, np.nan, np.nan])),
         ("df['target']", "'b'", "all NaN", "drop")),
    Case("wide-all-nan", "a wide-frame column that is all NaN", "read_series",
         lambda: read_series(pd.DataFrame({"a": range(6), "b": np.nan}, index=H)), ("'b'", "all NaN", "drop")),
    Case("bad-freq", "`freq=` that pandas does not know", "read_series",
         lambda: read_series(long_df(), freq="hourly"), ("freq='hourly'",)),
    Case("cannot-infer", "frequency cannot be inferred (every series has < 3 timestamps)", "read_series",
         lambda: read_series(long_df(ids="aa", ts=H[:2], y=[1, 2])), ("cannot infer the frequency", "freq=")),
    Case("irregular", "irregular timestamps (no common step)", "read_series",
         lambda: read_series(long_df(ts=pd.to_datetime(["2020-01-01 00:00", "2020-01-01 00:07", "2020-01-01 01:00",
                                                        "2020-01-01 03:31", "2020-01-01 05:00", "2020-01-01 09:13"]))),
         ("item 'a'", "irregular", "freq=")),
    Case("mixed-freq", "series of different frequencies", "read_series",
         lambda: read_series(long_df(ids="aaabbb", ts=list(H[:3]) + list(pd.date_range("2020", periods=3, freq="D")))),
         ("mixed frequencies", "item 'a' is 'h', item 'b' is 'D'")),
    Case("off-grid", "timestamp off the frequency grid (03:17 in hourly data; freq given or inferred from other series)",
         "read_series",
         lambda: read_series(long_df(ids="aaaaaabbb", ts=list(H[:3]) + [pd.Timestamp("2020-01-01 03:17")] + list(H[4:])
                                     + list(H[:3]), y=range(9))),
         ("df['timestamp']", "item 'a'", "2020-01-01 03:17:00", "'h'")),
    Case("off-grid-inferred", "timestamp off the grid of the most common step (frequency not given)", "read_series",
         lambda: read_series(long_df(ts=list(H[:3]) + [pd.Timestamp("2020-01-01 03:17")] + list(H[4:]))),
         ("item 'a'", "2020-01-01 03:17:00", "'h'", "freq=")),
    Case("far-timestamp", "a timestamp far from the others (typo in the year)", "read_series",
         lambda: read_series(long_df(ts=list(H[:5]) + [pd.Timestamp("2099-01-01")])), ("item 'a'", "2099-01-01", "wrong timestamp")),
    Case("covariate-missing", "covariate column not in the frame", "read_series",
         lambda: read_series(long_df(), known_covariates=["price"]), ("known_covariates", "'price'", "available columns")),
    Case("covariate-both", "a column listed as both known and past covariate", "read_series",
         lambda: read_series(long_df(price=range(6)), known_covariates=["price"], past_covariates=["price"]),
         ("'price'", "known_covariates", "past_covariates")),
    Case("covariate-nan", "NaN in a covariate", "read_series",
         lambda: read_series(long_df(price=[1, 2, np.nan, 4, 5, 6]), known_covariates=["price"]),
         ("df['price']", "item 'a'", "2020-01-01 02:00:00", "complete")),
    Case("covariate-strings", "covariate strings that are not numbers", "read_series",
         lambda: read_series(long_df(price=list("abcdef")), past_covariates=["price"]), ("df['price']", "'a'", "item 'a'")),
    Case("covariate-gaps", "covariates on a series with gaps in its timestamps", "read_series",
         lambda: read_series(long_df(ts=H[[0, 1, 2, 4, 5]], ids="aaaaa", y=range(5), price=range(5)), known_covariates=["price"]),
         ("item 'a'", "missing timestamps", "2020-01-01 03:00:00")),
    Case("wide-covariates", "covariates with a wide frame", "read_series",
         lambda: read_series(pd.DataFrame({"a": range(6), "b": range(6)}, index=H), known_covariates=["b"]),
         ("wide frame", "covariates")),
    Case("future-none", "no future frame although the model has known covariates", "read_future_covariates",
         lambda: _future_case(None), ("future_df is required", "'k'")),
    Case("future-missing-rows", "future frame lacks rows of the horizon", "read_future_covariates",
         lambda: _future_case(_future(["a", "a", "b"], [1, 2, 2])),
         ("item 'b'", "2020-01-01 06:00:00", "2020-01-01 05:00:00")),
    Case("future-missing-column", "future frame lacks a covariate column", "read_future_covariates",
         lambda: _future_case(_future(["a", "a", "b", "b"], [1, 2, 1, 2]).drop(columns="k")), ("future_df", "'k'", "available columns")),
    Case("future-nan", "NaN covariate in the future frame", "read_future_covariates",
         lambda: _future_case(_future(["a", "a", "b", "b"], [1, 2, 1, 2], k=[1, 2, np.nan, 4])),
         ("future_df['k']", "item 'b'", "2020-01-01 06:00:00")),
    Case("future-duplicates", "duplicate rows in the future frame", "read_future_covariates",
         lambda: _future_case(_future(["a", "a", "a", "b", "b"], [1, 1, 2, 1, 2])), ("item 'a'", "duplicate", "2020-01-01 06:00:00")),
    Case("future-tz", "tz-aware future frame for tz-naive training data", "read_future_covariates",
         lambda: _future_case(_future(["a", "a", "b", "b"], [1, 2, 1, 2]).assign(
             timestamp=lambda d: d["timestamp"].dt.tz_localize("UTC"))), ("future_df['timestamp']", "tz-aware")),
    Case("static-missing-item", "static frame lacks an item", "read_static",
         lambda: read_static(STATIC, ["a", "b", "q"]), ("static_df", "'q'")),
    Case("static-no-id", "static frame without id column or index", "read_static",
         lambda: read_static(STATIC.drop(columns="item_id"), ["a"]), ("static_df", "no id column", "available columns")),
    Case("static-duplicate", "static frame with two rows for an item", "read_static",
         lambda: read_static(pd.concat([STATIC, STATIC.iloc[:1]]), ["a", "b"]), ("static_df", "'a'", "one row per item")),
    Case("static-nan-category", "missing static category", "read_static",
         lambda: read_static(STATIC.assign(store=["x", None]), ["a", "b"]), ("static_df['store']", "item 'b'")),
    Case("static-nan-real", "NaN static real feature", "read_static",
         lambda: read_static(STATIC.assign(size=[np.nan, 2.0]), ["a", "b"]), ("static_df['size']", "item 'a'")),
    Case("table-suffix", "file of an unknown type", "read_table",
         lambda: read_table("data.xlsx"), ("'data.xlsx'", "unknown file type", ".csv", ".parquet")),
    Case("table-missing", "file that does not exist", "read_table",
         lambda: read_table("missing.csv"), ("'missing.csv'", "no such file")),
    Case("table-corrupt", "file that cannot be read (e.g. corrupt Parquet)", "read_table",
         lambda: read_table("corrupt.parquet"), ("'corrupt.parquet'", "as Parquet"), volatile=True),
]
# fmt: on


def _message(case: Case) -> str:
    with pytest.raises(DataError) as info:
        case.run()
    return str(info.value)


def _doc_cell(message: str) -> str:
    return "`" + message.replace("|", "\\|") + "`"


def _doc_text(message: str, case: Case) -> str:
    """What the doc must contain for ``case``: the whole message, or its stable prefix."""
    if case.volatile:
        return _doc_cell(message.split(": ", 1)[0] + ": ")[:-1]  # drop the closing backtick
    return _doc_cell(message)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_files()
    return tmp_path


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.key for c in ERROR_CASES])
def test_bad_input(case: Case, in_tmp) -> None:
    message = _message(case)
    for part in case.expect:
        assert part in message, f"{part!r} not in {message!r}"


def test_errors_doc_is_current(in_tmp) -> None:
    doc = DOC.read_text(encoding="utf-8")
    stale = [c.key for c in ERROR_CASES if _doc_text(_message(c), c) not in doc]
    assert not stale, f"docs/errors.md is out of date for {stale}; run `python tests/test_frames.py`"


def test_exception_hierarchy() -> None:
    assert issubclass(DataError, ValueError) and issubclass(DataError, TSDiffError)
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    assert issubclass(ModelFileError, ValueError) and issubclass(TrainingError, RuntimeError)
    err = pickle.loads(pickle.dumps(TrainingError("loss is NaN", step=17)))
    assert err.step == 17 and str(err) == "loss is NaN"


# --------------------------------------------------------------------------- valid inputs


def test_single_series_round_trip() -> None:
    series, spec = read_series(long_df())
    assert spec == FrameSpec("item_id", "timestamp", "target", "h", None, False)
    (s,) = series
    assert isinstance(s, SeriesData) and s.item_id == "a" and len(s) == 6
    assert s.target.dtype == np.float32 and s.start == H[0]
    assert s.known_covariates is None and s.past_covariates is None
    pd.testing.assert_index_equal(s.timestamps(spec.freq), pd.DatetimeIndex(H, freq="h"))
    assert s.last_timestamp(spec.freq) == H[-1]


def test_strings_with_thousands_commas_and_blanks_are_parsed() -> None:
    df = long_df(y=["1,234.5", " ", "7", "", "-2,000", "NA"])
    (s,), _ = read_series(df)
    np.testing.assert_array_equal(s.target, np.array([1234.5, np.nan, 7, np.nan, -2000, np.nan], dtype=np.float32))


def test_european_decimal_comma_is_not_silently_misread() -> None:
    with pytest.raises(DataError, match="'1,5'"):
        read_series(long_df(y=["1,5", "2", "3", "4", "5", "6"]))


def test_bool_target_becomes_float() -> None:
    (s,), _ = read_series(long_df(y=[True, False] * 3))
    np.testing.assert_array_equal(s.target, [1, 0, 1, 0, 1, 0])


def test_unsorted_rows_are_sorted_and_items_ordered_by_id() -> None:
    df = two_series().iloc[::-1].reset_index(drop=True)
    series, _ = read_series(df)
    assert [s.item_id for s in series] == ["a", "b"]
    np.testing.assert_array_equal(series[0].target, np.arange(6))
    np.testing.assert_array_equal(series[1].target, np.arange(6, 12))


def test_unsortable_ids_keep_first_appearance() -> None:
    df = long_df(ids=["z", "z", 1, 1, "a", "a"], ts=list(H[:2]) * 3)
    series, _ = read_series(df, freq="h")
    assert [s.item_id for s in series] == ["z", 1, "a"]


def test_gaps_are_filled_with_nan() -> None:
    df = long_df(ids="aaaa", ts=H[[0, 1, 4, 5]], y=[1, 2, 3, 4])
    (s,), spec = read_series(df)
    assert spec.freq == "h"
    np.testing.assert_array_equal(s.target, [1, 2, np.nan, np.nan, 3, 4])


def test_gappy_monthly_and_weekly_frequencies_are_inferred() -> None:
    me = pd.date_range("2020-01-31", periods=12, freq="ME")[[0, 1, 2, 5, 6, 9, 11]]
    (s,), spec = read_series(long_df(ids="a" * 7, ts=me, y=range(7)))
    assert spec.freq == "ME" and len(s) == 12
    w = pd.date_range("2020-01-07", periods=12, freq="W-TUE")[[0, 1, 2, 5, 6, 9, 11]]
    (s,), spec = read_series(long_df(ids="a" * 7, ts=w, y=range(7)))
    assert spec.freq == "W-TUE" and len(s) == 12


def test_explicit_freq_and_short_series() -> None:
    df = long_df(ids="aabbbb", ts=list(H[:2]) + list(H[:4]))
    series, spec = read_series(df)  # 'b' gives the frequency, 'a' only has to lie on its grid
    assert spec.freq == "h" and [len(s) for s in series] == [2, 4]
    (s,), spec = read_series(long_df(ids="aa", ts=H[:2], y=[1, 2]), freq="1H")
    assert spec.freq == "h" and len(s) == 2


def test_nixtla_column_names() -> None:
    df = pd.DataFrame({"unique_id": [1] * 6 + [2] * 6, "ds": list(H) * 2, "y": np.arange(12.0)})
    series, spec = read_series(df)
    assert (spec.id_col, spec.timestamp_col, spec.target_col) == ("unique_id", "ds", "y")
    assert [s.item_id for s in series] == [1, 2] and type(series[0].item_id) is int
    series2, _ = read_series(df.set_index("unique_id"))  # older Nixtla frames index by unique_id
    assert [s.item_id for s in series2] == [1, 2]


def test_explicit_column_names_win() -> None:
    df = pd.DataFrame({"store": ["s"] * 6, "when": H, "sales": range(6), "target": range(6, 12)})
    (s,), spec = read_series(df, id_col="store", timestamp_col="when", target_col="sales")
    assert s.item_id == "s" and spec.target_col == "sales"
    np.testing.assert_array_equal(s.target, np.arange(6))


def test_autogluon_multiindex_frame() -> None:
    series, spec = read_series(two_series().set_index(["item_id", "timestamp"]))
    assert [s.item_id for s in series] == ["a", "b"] and spec.id_col == "item_id"


def test_wide_format() -> None:
    wide = pd.DataFrame({"b": [np.nan, 1, 2, 3, 4, 5.0], "a": range(6), "c": [1, 2, np.nan, 4, 5, np.nan]}, index=H)
    series, spec = read_series(wide)
    assert spec.wide and spec.freq == "h"
    assert [s.item_id for s in series] == ["a", "b", "c"]
    a, b, c = series
    assert b.start == H[1] and len(b) == 5  # leading NaN dropped
    np.testing.assert_array_equal(c.target, [1, 2, np.nan, 4, 5, np.nan])  # trailing NaN kept
    series2, spec2 = read_series(wide.reset_index(names="ds"))
    assert spec2.timestamp_col == "ds" and [s.item_id for s in series2] == ["a", "b", "c"]


def test_single_series_without_id_column() -> None:
    (s,), spec = read_series(pd.DataFrame({"ds": H, "y": range(6)}))
    assert s.item_id == "y" and not spec.wide and spec.id_col == "unique_id"
    (s,), _ = read_series(pd.Series(range(6), index=H, name="sales"))
    assert s.item_id == "sales"


def test_tz_aware_single_zone_round_trips() -> None:
    ts = pd.date_range("2020-01-01", periods=6, freq="h", tz="Europe/Berlin")
    df = long_df(ts=ts)
    series, spec = read_series(df)
    assert spec.tz == "Europe/Berlin" and series[0].start == pd.Timestamp("2020-01-01")  # local wall time
    out = to_long_frame([s.item_id for s in series], [s.timestamps(spec.freq) for s in series],
                        {"target": [s.target for s in series]}, spec)
    assert list(out.columns) == ["item_id", "timestamp", "target"]
    pd.testing.assert_series_equal(out["timestamp"], df["timestamp"], check_freq=False)


def test_covariates() -> None:
    df = two_series(k=range(12), p=np.arange(12) * 2.0)
    series, spec = read_series(df.sample(frac=1, random_state=1), known_covariates=["k"], past_covariates=["p"])
    b = series[1]
    assert b.known_covariates.shape == (1, 6) and b.known_covariates.dtype == np.float32
    np.testing.assert_array_equal(b.known_covariates[0], np.arange(6, 12))
    np.testing.assert_array_equal(b.past_covariates[0], np.arange(6, 12) * 2.0)


def test_read_future_covariates_aligns_to_each_series_end() -> None:
    series, spec = _fitted()
    future = pd.concat([
        _future(["b"] * 4, [-1, 1, 2, 3], k=[0, 21, 22, 23]),  # history row and a later row are ignored
        _future(["a", "a", "zzz"], [2, 1, 1], k=[12, 11, 99]),  # rows in any order; unknown items ignored
    ])
    out = read_future_covariates(future, series, spec, 2, ["k"])
    np.testing.assert_array_equal(out[0], [[11, 12]])
    np.testing.assert_array_equal(out[1], [[21, 22]])
    assert all(a.dtype == np.float32 for a in out)
    assert [a.shape for a in read_future_covariates(None, series, spec, 3, [])] == [(0, 3), (0, 3)]


def test_future_timestamps() -> None:
    idx = future_timestamps(pd.Timestamp("2020-01-31"), "ME", 3)
    assert list(idx) == list(pd.to_datetime(["2020-02-29", "2020-03-31", "2020-04-30"]))
    assert len(future_timestamps(H[-1], "h", 0)) == 0


def test_read_static() -> None:
    static = pd.DataFrame({"item_id": ["a", "b", "c"], "store": ["x", "y", "x"], "size": [1.0, 2, 3], "flag": [True, False, True]})
    cats, reals = read_static(static, ["b", "a"])
    assert cats.tolist() == [["y", False], ["x", True]]
    np.testing.assert_array_equal(reals, [[2.0], [1.0]])
    cats, reals = read_static(static.set_index("item_id"), ["c"], categorical=["store"], real=[])
    assert cats.tolist() == [["x"]] and reals is None


def test_to_long_frame_uses_user_column_names() -> None:
    spec = FrameSpec("unique_id", "ds", "y", "D", None, False)
    ts = [pd.date_range("2020", periods=2, freq="D"), pd.date_range("2021", periods=3, freq="D")]
    out = to_long_frame([1, 2], ts, {"mean": [np.zeros(2), np.ones(3)]}, spec)
    assert list(out.columns) == ["unique_id", "ds", "mean"]
    assert out["unique_id"].tolist() == [1, 1, 2, 2, 2] and out["unique_id"].dtype == np.int64
    assert out["mean"].tolist() == [0, 0, 1, 1, 1]


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_read_table(suffix: str, tmp_path) -> None:
    df = pd.DataFrame({"item_id": ["a"] * 4, "timestamp": [str(t) for t in H[:4]], "target": ["1,234.5", " ", "", "3"]})
    path = tmp_path / f"data{suffix}"
    if suffix == ".parquet":
        df.to_parquet(path)
    else:
        df.to_csv(path, index=False)
    (s,), _ = read_series(read_table(path))
    np.testing.assert_array_equal(s.target, np.array([1234.5, np.nan, np.nan, 3], dtype=np.float32))


def test_large_frames_are_fast() -> None:
    n, t = 400, 1000
    df = pd.DataFrame({
        "item_id": np.repeat(np.arange(n), t),
        "timestamp": np.tile(pd.date_range("2020", periods=t, freq="h").values, n),
        "target": np.random.default_rng(0).random(n * t),
    }).sample(frac=1, random_state=0)
    read_series(df.head(10), freq="h")  # warm-up imports
    start = time.perf_counter()
    series, _ = read_series(df)
    assert len(series) == n and time.perf_counter() - start < 3.0
    n, t = 14, 70_000
    df = pd.DataFrame({
        "item_id": np.repeat([f"s{i}" for i in range(n)], t),
        "timestamp": np.tile(pd.date_range("2020", periods=t, freq="15min").values, n),
        "target": np.random.default_rng(0).random(n * t),
    })
    start = time.perf_counter()
    series, spec = read_series(df)
    assert len(series) == n and spec.freq == "15min" and time.perf_counter() - start < 3.0


# --------------------------------------------------------------------------- property test

_FREQS = {"h": pd.Timestamp("2021-03-01 00:00"), "D": pd.Timestamp("2021-03-01"),
          "15min": pd.Timestamp("2021-03-01 06:45"), "W": pd.Timestamp("2021-02-28")}  # W = W-SUN: a Sunday


@st.composite
def long_frames(draw):
    freq = draw(st.sampled_from(sorted(_FREQS)))
    n_series = draw(st.integers(1, 3))
    rows = []
    regular = True  # every series: >= 3 timestamps, no gaps, some observed value -> must be accepted
    for k in range(n_series):
        length = draw(st.integers(1, 60))
        offset = draw(st.integers(0, 5))
        present = draw(st.lists(st.booleans(), min_size=length, max_size=length)) if draw(st.booleans()) else [True] * length
        scale = 10.0 ** draw(st.integers(-6, 9))
        if draw(st.booleans()):
            values = [scale * draw(st.floats(0.5, 2.0))] * length  # constant series
        else:
            values = [scale * draw(st.floats(-1e3, 1e3, allow_nan=False)) for _ in range(length)]
        nan_mask = draw(st.lists(st.booleans(), min_size=length, max_size=length)) if draw(st.booleans()) else [False] * length
        ts = pd.date_range(_FREQS[freq], periods=length + offset, freq=freq)[offset:]
        regular &= length >= 3 and all(present) and not all(nan_mask)
        for i in range(length):
            if present[i]:
                rows.append((f"s{k}", ts[i], np.nan if nan_mask[i] else values[i]))
    perm = draw(st.permutations(range(len(rows))))
    df = pd.DataFrame([rows[i] for i in perm], columns=["item_id", "timestamp", "target"])
    df.attrs["regular"] = regular
    return df


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long_frames())
def test_read_series_preserves_values(df: pd.DataFrame) -> None:
    try:
        series, spec = read_series(df)
    except DataError:
        assert not df.attrs["regular"], "a regular frame was rejected"
        return
    assert sorted(s.item_id for s in series) == sorted(df["item_id"].unique())
    for s in series:
        rows = df[df["item_id"] == s.item_id]
        want = dict(zip(rows["timestamp"], rows["target"].astype(np.float32)))
        got = dict(zip(s.timestamps(spec.freq), s.target))
        assert set(want) <= set(got)
        for t, v in got.items():
            expected = want.get(t, np.float32(np.nan))
            assert (np.isnan(v) and np.isnan(expected)) or v == expected, (s.item_id, t, v, expected)


# --------------------------------------------------------------------------- docs/errors.md

_DOC_HEAD = """# Errors

Every exception tsdiff raises on purpose derives from `tsdiff.errors.TSDiffError`:

| exception | also a | raised when |
|---|---|---|
| `DataError` | `ValueError` | input data is bad (all cases below); raised by `tsdiff/frames/` |
| `NotFittedError` | `ValueError`, `AttributeError` | a model is used before `fit` |
| `ModelFileError` | `ValueError` | a model file is missing, corrupt, foreign or of an unsupported version |
| `TrainingError` | `RuntimeError` | training fails (e.g. a non-finite loss); `.step` is the step |

## Bad input data

Every DataFrame entering tsdiff goes through `tsdiff/frames/`; the message of
each `DataError` names the argument (`df`, `future_df`, `static_df`), the column,
the item and the timestamp at fault. The messages below are produced by the
cases in `tests/test_frames.py` (`ERROR_CASES`); `test_errors_doc_is_current`
checks that they are current, and `python tests/test_frames.py` rewrites this file.
The argument, column and advised options are also fields of the exception
(`exc.arg`, `exc.column`, `exc.options`); the command line uses them to name the
file and the flags instead (`column 'target' of train.csv`, `--timestamp-col`).

### Policies (not errors)

| input | what tsdiff does |
|---|---|
| rows in any order | each series is sorted by timestamp |
| order of the series | sorted by item id when the ids are comparable (all strings or all numbers), else order of first appearance |
| gaps in the time grid | filled with NaN (missing target values) |
| NaN / blank / `"NA"` target | a missing value (the model masks it) |
| target strings such as `"1,234.5"` | parsed as numbers (comma thousands separators only) |
| boolean target | 0.0 / 1.0 |
| tz-aware timestamps, one zone | converted to naive local wall time; output frames are localized back to the zone |
| long frame without an id column | one series; its item id is the target column name |
| wide frame (DatetimeIndex or timestamp column, one column per series) | item id = column name; leading NaN of a column dropped, trailing NaN kept |
| frequency not given | inferred per series (`pd.infer_freq`, or the most common step for series with gaps); all series must agree |
| huge / tiny scales, constant series | accepted (the model scales each series) |
| covariates | must be complete: NaN is an error, never forward-filled |

### Cases

| bad input | caught by | exception | message |
|---|---|---|---|
"""

_DOC_TAIL = """
Messages ending in a reader's own text (third-party wording, e.g. pyarrow's) are
shown as produced with the versions used to write this file.

## Model-level errors (`TSDiff`, model files, training)

Raised by `tsdiff/estimator.py` and `tsdiff/config.py`; `tests/test_estimator_robustness.py`
(`test_model_errors_doc_is_current`) checks that each message below is still produced. `PATH` stands
for the path given. Besides these: a checksum mismatch (`'PATH/model.pt' is corrupted: its checksum does
not match its contents`), a newer format version (`... has format version N; this tsdiff reads versions
up to 1: upgrade tsdiff to load it`), a NaN/inf training loss (`TrainingError`: `training loss became nan
at step K; the best checkpoint so far (step J) is kept ...`) and an interrupted `fit` (a warning; the model
keeps the best checkpoint).

Short series: a series shorter than `context_length` is left-padded and the padding is masked (it is
forecast); a series with a single point gives no training window but can be forecast; when every series
has fewer than 2 points `fit` raises the error below.

| bad input | exception | message |
|---|---|---|
| `predict` before `fit` | `NotFittedError` | this TSDiff instance is not fitted yet; call fit(df) before predict() |
| `save` before `fit` | `NotFittedError` | this TSDiff instance is not fitted yet; call fit(df) before save() |
| `horizon=0` | `ValueError` | horizon must be a positive integer, got 0 |
| `horizon=2.5` | `ValueError` | horizon must be a positive integer, got 2.5 |
| `n_samples=-1` | `ValueError` | n_samples must be a positive integer, got -1 |
| `predict(df=...)` at another frequency | `DataError` | df has frequency 'D' but the model was fitted on 'h'; resample df to the fitted frequency |
| unknown sampler | `ValueError` | sampler must be one of ('ddpm', 'ddim'), got 'euler' |
| DDIM `steps` > diffusion steps | `ValueError` | steps must be an int in [1, 100] (the schedule's diffusion steps), got 500 |
| `precision='fp16'` on the CPU | `ValueError` | precision='fp16' needs a CUDA device; use precision='bf16' on the CPU |
| `device='cuda'` without CUDA | `ValueError` | device='cuda' was requested but CUDA is not available; use device='cpu' or 'auto' |
| `prediction_length=0` | `ValueError` | prediction_length must be a positive integer, got 0 |
| `scaling='minmax'` | `ValueError` | invalid TSDiff parameter: scaling must be one of ('mean', 'std', 'none'), got 'minmax' |
| every series shorter than 2 steps | `DataError` | every series in df has fewer than 2 time steps (items ['a']); tsdiff needs at least one series with 2 or more steps to train |
| `shard=(2, 2)` | `ValueError` | shard must be (rank, world_size) with 0 <= rank < world_size, got (2, 2) |
| load: no model at the path | `ModelFileError` | no tsdiff model at 'PATH' (expected a directory holding model.pt) |
| load: a file that is not a model (garbage, truncated, malicious pickle) | `ModelFileError` | 'PATH/model.pt' is not a readable tsdiff model file (truncated, corrupted, or not written by tsdiff; UnpicklingError). Nothing in it was executed: tsdiff reads model files with torch.load(weights_only=True) |
"""


def render_errors_doc() -> str:
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            _write_files()
            for case in ERROR_CASES:
                try:
                    case.run()
                except DataError as exc:
                    message = str(exc)
                else:
                    raise AssertionError(f"case {case.key} raised nothing")
                lines.append(f"| {case.what} | `{case.function}` | `DataError` | {_doc_cell(message)} |")
        finally:
            os.chdir(cwd)
    return _DOC_HEAD + "\n".join(lines) + "\n" + _DOC_TAIL


if __name__ == "__main__":
    DOC.write_text(render_errors_doc(), encoding="utf-8")
    print(f"wrote {DOC}", file=sys.stderr)


# --------------------------------------------------------------------------- read_timestamps / guess_target_column
def test_read_timestamps_keeps_naive_and_makes_offsets_utc() -> None:
    from tsdiff.frames import read_timestamps

    naive = read_timestamps(pd.Series(["2024-01-01 00:00", "2024-01-01 01:00"]), "x")
    assert naive.dt.tz is None and naive.iloc[1] == pd.Timestamp("2024-01-01 01:00")
    dst = read_timestamps(pd.Series(["2024-03-31 01:00+01:00", "2024-03-31 03:00+02:00"]), "x")
    assert str(dst.dt.tz) == "UTC" and (dst.diff().iloc[1] == pd.Timedelta("1h"))
    with pytest.raises(DataError, match=r"forecast file f.csv has a value that is not a timestamp: 'soon' \(row 1\)"):
        read_timestamps(pd.Series(["2024-01-01", "soon"]), "forecast file f.csv")


def test_guess_target_column() -> None:
    from tsdiff.frames import guess_target_column

    df = pd.DataFrame({"item_id": ["a"], "timestamp": ["2024-01-01"], "y": [1.0], "u": [2.0]})
    assert guess_target_column(df, "item_id", "timestamp") == "y"
    assert guess_target_column(df, "item_id", "timestamp", "u") == "u"
    assert guess_target_column(df.drop(columns="y"), "item_id", "timestamp") == "u"
    with pytest.raises(DataError, match="no target column 'w'"):
        guess_target_column(df, "item_id", "timestamp", "w")
    with pytest.raises(DataError, match=r"actuals: cannot tell the target column .*; name it with --target-col"):
        guess_target_column(df.rename(columns={"y": "v"}), "item_id", "timestamp", where="actuals",
                            hint="name it with --target-col")
