"""Write tests/data/model_v1: a tiny model saved by tsdiff at format version 1 (commit 49a42fd),
with its predictions, for the compatibility test."""
import sys
import numpy as np, pandas as pd
sys.path.insert(0, "/work/wt-inputs/tests")
from conftest import TINY, make_long_frame
import tsdiff
assert tsdiff.__file__.startswith("/tmp/v1src"), tsdiff.__file__
from tsdiff import TSDiff
df = make_long_frame(3, 80)
df.loc[5:9, "target"] = np.nan
static = pd.DataFrame({"item_id": ["s0", "s1", "s2"], "size": [10.0, 200.0, 3000.0], "kind": ["a", "b", "a"]})
m = TSDiff(prediction_length=4, context_length=24, seed=3, **{**TINY, "max_steps": 6})
m.fit(df, static_df=static)
out = sys.argv[1]
m.save(out)
new = make_long_frame(2, 50, seed=9)
new["target"] -= 25.0  # negative values: version 1 never clips
np.savez(out + "/expected.npz", predict=m.predict(n_samples=3, seed=1).samples,
         predict_df=m.predict(df=new, static_df=static.iloc[:2], n_samples=3, seed=2, horizon=6).samples)
