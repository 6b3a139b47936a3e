"""tsdiff: probabilistic time-series forecasting with conditional denoising diffusion.

>>> from tsdiff import TSDiff
>>> model = TSDiff(prediction_length=24).fit(df)          # doctest: +SKIP
>>> forecast = model.predict(n_samples=100)                # doctest: +SKIP
>>> forecast.to_dataframe().head()                         # doctest: +SKIP
"""

from __future__ import annotations

import logging

from .config import FORMAT_VERSION, TSDiffConfig
from .errors import DataError, ModelFileError, NotFittedError, TrainingError, TSDiffError
from .estimator import TSDiff  # noqa: E402
from .forecast import Forecast

__version__ = "0.1.0"

# Library code never configures logging; applications do.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "TSDiff", "Forecast", "TSDiffConfig", "FORMAT_VERSION", "TSDiffError", "DataError",
    "ModelFileError", "NotFittedError", "TrainingError", "__version__",
]
