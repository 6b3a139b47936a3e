"""Static features: :func:`read_static` and :class:`StaticEncoding` (vocabulary and codes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Optional, Sequence

import numpy as np
import pandas as pd

from tsdiff.errors import DataError, option, subject

from ._common import ID_COLUMNS, _as_frame, _fmt_columns, _fmt_items, _names, _pick_column, _Rows, _to_float64, _where

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
