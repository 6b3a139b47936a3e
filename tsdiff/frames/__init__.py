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

from ._common import ID_COLUMNS, TARGET_COLUMNS, TIMESTAMP_COLUMNS
from .covariates import read_future_covariates
from .data import FrameSpec, SeriesData, to_long_frame
from .files import guess_target_column, read_table, read_timestamps
from .grid import future_timestamps
from .grid import normalize_freq as normalize_freq  # public, used by datasets and integrations; not in __all__
from .series import read_series
from .static import StaticEncoding, read_static

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
