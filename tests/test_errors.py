"""Tests of tsdiff.errors: DataError's structured fields (subject, options) and their wording."""

from __future__ import annotations

import pickle

import pytest

from tsdiff.errors import DataError, option, subject


def _example() -> DataError:
    return DataError(f"{subject('df', 'ts')} is off its grid; pass {option('freq')} "
                     f"(e.g. {option('freq', repr('h'))}) or drop {option('known_covariates', None)}")


def test_python_words_and_fields():
    exc = _example()
    assert str(exc) == "df['ts'] is off its grid; pass freq= (e.g. freq='h') or drop known_covariates"
    assert exc.arg == "df" and exc.column == "ts" and exc.options == ("freq", "known_covariates")
    assert isinstance(exc, ValueError)
    bare = DataError(f"{subject('future_df')} is empty")
    assert str(bare) == "future_df is empty" and bare.arg == "future_df" and bare.column is None
    plain = DataError("no fields here")
    assert str(plain) == "no fields here" and plain.arg is None and plain.options == ()


def test_non_string_columns_keep_their_type():
    exc = DataError(f"{subject('df', 3)} must be numeric")
    assert str(exc) == "df[3] must be numeric" and exc.column == 3


def test_worded_in_other_terms():
    exc = _example()
    text = exc.worded(lambda arg, col: f"column {col} of train.csv" if col else "train.csv",
                      lambda name, value: "--" + name.replace("_", "-") + (f" {value}" if value else ""))
    assert text == ("column 'ts' of train.csv is off its grid; pass --freq (e.g. --freq 'h') "
                    "or drop --known-covariates")


def test_fields_survive_pickling():
    exc = pickle.loads(pickle.dumps(_example()))
    assert str(exc) == str(_example()) and exc.column == "ts" and exc.options == ("freq", "known_covariates")
    with pytest.raises(DataError, match=r"df\['ts'\]"):
        raise exc
