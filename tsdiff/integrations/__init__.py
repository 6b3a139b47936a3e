"""Adapters to other libraries; every gluonts import of tsdiff is in this package.

``gluonts_features`` (time features, seasonality, lags, period aliases) and ``gluonts_datasets``
(dataset loading) are the low floor the core reads; ``gluonts`` (the Estimator/Predictor adapter)
is the top floor, imported by no tsdiff module.

Importing this package (which Python does before any of its modules) imports ``gluonts.json``
with its "Using `json`-module ... install orjson" warning silenced: tsdiff never serializes
through it, so that third-party warning stays out of every fit, load and demo run.
"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `json`-module", category=UserWarning)
    try:
        import gluonts.json  # noqa: F401
    except ImportError:  # pragma: no cover - gluonts is a dependency; its modules raise on use
        pass
