"""Write tests/data/model_v3: a tiny model with a distilled student, saved by tsdiff at format version 3
(commit 3f18e72), with its predictions, for the compatibility test
(tests/test_estimator.py::test_version_3_model_file_loads_with_its_student).

Run from the repository root with that version's package on the path::

    mkdir -p build/v3src && git archive 3f18e72 tsdiff | tar -x -C build/v3src
    PYTHONPATH=build/v3src python tests/data/model_v3/make.py tests/data/model_v3
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from conftest import TINY, make_long_frame  # noqa: E402

import tsdiff  # noqa: E402
from tsdiff import TSDiff  # noqa: E402

assert tsdiff.FORMAT_VERSION == 3, tsdiff.__file__
df = make_long_frame(3, 80)
m = TSDiff(prediction_length=4, context_length=24, seed=3, calibration_windows=2, calibration_samples=16,
           distill=True, distill_max_steps=4, **{**TINY, "max_steps": 6})
m.fit(df)
out = sys.argv[1]
m.save(out)
np.savez(out + "/expected.npz",
         student_raw=m.predict(n_samples=3, seed=1, calibrated=False).samples,
         student=m.predict(n_samples=3, seed=1).samples,
         student_1_raw=m.predict(n_samples=3, seed=1, steps=1, calibrated=False).samples,
         teacher_raw=m.predict(n_samples=3, seed=1, sampler="dpmsolver", calibrated=False).samples)
