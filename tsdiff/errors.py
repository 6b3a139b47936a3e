"""Exceptions raised by tsdiff.

Every exception tsdiff raises on purpose derives from :class:`TSDiffError`, and
each also derives from the built-in exception a user would naturally catch
(``ValueError`` for bad input, ``RuntimeError`` for a failed training run), so
``except ValueError`` keeps working for code written against pandas or sklearn.

``docs/errors.md`` lists every bad input and the exact message it produces.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

__all__ = ["TSDiffError", "DataError", "subject", "option", "NotFittedError", "ModelFileError", "TrainingError",
           "CheckpointError", "SaveError", "MemoryLimitError"]


class TSDiffError(Exception):
    """Base class of every exception raised by tsdiff."""


#: Marks in a DataError's message: the subject (the data at fault) and the keyword options it advises.
_SUBJECT, _OPTION, _SEP = "\x1d", "\x1e", "\x1f"
_NO_COLUMN = object()


def subject(arg: str, column: Any = _NO_COLUMN) -> str:
    """The data at fault, for a :class:`DataError` message: ``df``, or ``df['price']`` with a column.

    The message reads ``df['price'] ...`` (``str(exc)``); the fields ``exc.arg`` and ``exc.column``
    hold the argument and column, and :meth:`DataError.worded` names them in other words.
    """
    return f"{_SUBJECT}{arg}{_SEP}{'' if column is _NO_COLUMN else repr(column)}{_SUBJECT}"


def option(name: str, value: Optional[str] = "") -> str:
    """A keyword option advised by a :class:`DataError` message.

    ``option("freq")`` reads ``freq=``, ``option("freq", "'h'")`` reads ``freq='h'`` and
    ``option("known_covariates", None)`` reads ``known_covariates``; the command line says
    ``--freq``, ``--freq 'h'`` and ``--known-covariates``.
    """
    return f"{_OPTION}{name}{_OPTION}" if value is None else f"{_OPTION}{name}{_SEP}{value}{_OPTION}"


def _python_subject(arg: str, column: Optional[str]) -> str:
    return arg if column is None else f"{arg}[{column}]"


def _python_option(name: str, value: Optional[str]) -> str:
    return name if value is None else f"{name}={value}"


class DataError(TSDiffError, ValueError):
    """Bad input data; the message names the argument, column, item and timestamp at fault.

    A message built with :func:`subject` and :func:`option` carries structured fields, which a
    front end (the command line) words in its own terms with :meth:`worded`.

    Attributes
    ----------
    arg : str or None
        The argument holding the bad data (``"df"``, ``"future_df"``, ``"static_df"``).
    column : hashable or None
        The column at fault, when the message names one.
    options : tuple of str
        The keyword options the message advises (``"freq"``, ``"target_col"`` ...).
    """

    def __init__(self, message: str) -> None:
        self.template = str(message)
        subjects = [(a, c or None) for a, _, c in (p.partition(_SEP) for p in self.template.split(_SUBJECT)[1::2])]
        self.arg: Optional[str] = subjects[0][0] if subjects else None
        column = subjects[0][1] if subjects else None
        if column is not None:
            import ast

            try:
                column = ast.literal_eval(column)
            except (ValueError, SyntaxError):
                pass
        self.column: Any = column
        self.options: tuple[str, ...] = tuple(dict.fromkeys(
            p.partition(_SEP)[0] for part in self.template.split(_SUBJECT)[0::2] for p in part.split(_OPTION)[1::2]))
        super().__init__(self.worded())

    def __reduce__(self):  # keep the fields when pickled (e.g. across worker processes)
        return (type(self), (self.template,))

    def worded(self, subject_words: Optional[Callable[[str, Optional[str]], str]] = None,
               option_words: Optional[Callable[[str, Optional[str]], str]] = None) -> str:
        """The message with its subject and options in other words.

        Parameters
        ----------
        subject_words : callable, optional
            ``(arg, column_repr or None) -> str``; default ``df`` / ``df['price']``.
        option_words : callable, optional
            ``(name, value or None) -> str``; default ``name=value`` / ``name``.
        """
        subject_words = subject_words or _python_subject
        option_words = option_words or _python_option
        out = []
        for k, part in enumerate(self.template.split(_SUBJECT)):
            if k % 2:
                arg, _, column = part.partition(_SEP)
                out.append(subject_words(arg, column or None))
                continue
            for j, piece in enumerate(part.split(_OPTION)):
                if j % 2:
                    name, sep, value = piece.partition(_SEP)
                    out.append(option_words(name, value if sep else None))
                else:
                    out.append(piece)
        return "".join(out)


class NotFittedError(TSDiffError, ValueError, AttributeError):
    """A model was used (``predict``, ``save``, ...) before ``fit``.

    Derives from ``ValueError`` and ``AttributeError``, like
    ``sklearn.exceptions.NotFittedError``. It does not subclass sklearn's class
    because importing sklearn costs about half a second, and ``import tsdiff``
    should stay cheap.
    """


class ModelFileError(TSDiffError, ValueError):
    """A model file that is missing, truncated, corrupt, from another program or from an unsupported version."""


class TrainingError(TSDiffError, RuntimeError):
    """Training failed, e.g. the loss became NaN or infinite.

    Attributes
    ----------
    step : int or None
        The optimisation step at which training failed, when known.
    """

    def __init__(self, message: str, step: Optional[int] = None) -> None:
        super().__init__(message)
        self.step = step

    def __reduce__(self):  # keep ``step`` when pickled (e.g. across worker processes)
        return (type(self), (str(self), self.step))


class CheckpointError(TSDiffError, ValueError):
    """A training checkpoint that cannot be resumed: written for another config, data or process count."""


class SaveError(TSDiffError, OSError):
    """Writing a model or checkpoint file failed (disk full, no permission ...); the previous file is kept.

    ``errno`` is the operating system's error number (e.g. ``errno.ENOSPC``).
    """


class MemoryLimitError(TSDiffError, ValueError, MemoryError):
    """A forecast would hold more memory than the limit; raised before anything large is allocated.

    Derives from ``MemoryError`` (what the allocation would have raised) and
    ``ValueError`` (the request's sizes are the input at fault).
    """


def _check_int(name: str, value: Any, low: int, what: str) -> int:
    """``value`` as an int; ``ValueError`` naming the argument ``name`` unless it is an integer ``>= low``."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be a {what} integer, got {value!r}")
    return int(value)


def _check_non_negative_int(name: str, value: Any) -> int:
    """``value`` as an int; ``ValueError`` naming the argument ``name`` unless it is a non-negative integer."""
    return _check_int(name, value, 0, "non-negative")


def _check_positive_int(name: str, value: Any) -> int:
    """``value`` as an int; ``ValueError`` naming the argument ``name`` unless it is a positive integer."""
    return _check_int(name, value, 1, "positive")
