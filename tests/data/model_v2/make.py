"""Write tests/data/model_v2: a tiny model saved by tsdiff at format version 2 (commit 34d0ca1, calibrated,
with scale floors and non-negative flags), with its predictions, for the compatibility test
(tests/test_estimator.py::test_version_2_model_file_loads_and_predicts_as_before).

Run from the repository root with that version's package on the path::

    mkdir -p build/v2src && git archive 34d0ca1 tsdiff | tar -x -C build/v2src
    PYTHONPATH=build/v2src python tests/data/model_v2/make.py tests/data/model_v2
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from conftest import TINY, make_long_frame  # noqa: E402

import tsdiff  # noqa: E402
from tsdiff import TSDiff  # noqa: E402

assert tsdiff.FORMAT_VERSION == 2, tsdiff.__file__
df = make_long_frame(3, 80)
df.loc[5:9, "target"] = np.nan
static = pd.DataFrame({"item_id": ["s0", "s1", "s2"], "size": [10.0, 200.0, 3000.0], "kind": ["a", "b", "a"]})
m = TSDiff(prediction_length=4, context_length=24, seed=3, calibration_windows=2, calibration_samples=16,
           **{**TINY, "max_steps": 6})
m.fit(df, static_df=static)
out = sys.argv[1]
m.save(out)
new = make_long_frame(2, 50, seed=9)
new["target"] -= 25.0
np.savez(out + "/expected.npz", predict=m.predict(n_samples=3, seed=1).samples,
         predict_raw=m.predict(n_samples=3, seed=1, calibrated=False).samples,
         predict_df=m.predict(df=new, static_df=static.iloc[:2], n_samples=3, seed=2, horizon=6).samples,
         predict_df_raw=m.predict(df=new, static_df=static.iloc[:2], n_samples=3, seed=2, horizon=6,
                                  calibrated=False).samples)
