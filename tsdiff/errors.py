"""Exceptions raised by tsdiff.

Every exception tsdiff raises on purpose derives from :class:`TSDiffError`, and
each also derives from the built-in exception a user would naturally catch
(``ValueError`` for bad input, ``RuntimeError`` for a failed training run), so
``except ValueError`` keeps working for code written against pandas or sklearn.

``docs/errors.md`` lists every bad input and the exact message it produces.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["TSDiffError", "DataError", "NotFittedError", "ModelFileError", "TrainingError", "CheckpointError",
           "SaveError", "MemoryLimitError"]


class TSDiffError(Exception):
    """Base class of every exception raised by tsdiff."""


class DataError(TSDiffError, ValueError):
    """Bad input data; the message names the argument, column, item and timestamp at fault."""


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


def _check_positive_int(name: str, value: Any) -> int:
    """``value`` as an int; ``ValueError`` naming the argument ``name`` unless it is a positive integer."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
