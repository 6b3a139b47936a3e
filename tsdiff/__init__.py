"""tsdiff: probabilistic time-series forecasting with conditional denoising diffusion.

>>> from tsdiff import TSDiff
>>> model = TSDiff(prediction_length=24).fit(df)          # doctest: +SKIP
>>> forecast = model.predict(n_samples=100)                # doctest: +SKIP
>>> forecast.to_dataframe().head()                         # doctest: +SKIP

``import tsdiff`` is cheap: torch, scikit-learn, gluonts and matplotlib are
imported on first use of the names that need them.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from .config import FORMAT_VERSION, TSDiffConfig
from .errors import DataError, ModelFileError, NotFittedError, TrainingError, TSDiffError

if TYPE_CHECKING:  # pragma: no cover
    from .estimator import TSDiff
    from .forecast import Forecast

__version__ = "0.1.0"

# Library code never configures logging; applications do.
logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = {"TSDiff": "tsdiff.estimator", "Forecast": "tsdiff.forecast"}


def __getattr__(name: str) -> Any:  # PEP 562: import heavy modules on first use
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tsdiff' has no attribute {name!r}")


__all__ = [
    "TSDiff", "Forecast", "TSDiffConfig", "FORMAT_VERSION", "TSDiffError", "DataError",
    "ModelFileError", "NotFittedError", "TrainingError", "__version__",
]
