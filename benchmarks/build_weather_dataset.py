"""Build the ``weather_jena_hourly`` dataset in GluonTS's on-disk layout.

Input: the LTSF "Weather" benchmark file (Max Planck Institute for Biogeochemistry,
Jena rooftop station, 2020, 10-minute records of 21 variables; see data/README.md).

What it does, deterministically (same input -> byte-identical output):

1. reads the CSV (``encoding="latin1"``: the header holds a few non-UTF-8 bytes);
2. drops repeated timestamps (the 2020 file repeats 2020-05-12 06:00 with identical
   values) and turns the station's ``-9999`` missing-value sentinel into NaN;
3. averages the 10-minute records to hourly means. A record's timestamp marks the
   *end* of its 10-minute interval (the file runs from 2020-01-01 00:10 to
   2021-01-01 00:00), so hour ``h`` is the mean of the records in ``(h, h + 1h]``
   (``resample("h", closed="right", label="left")``): 8784 hours, 2020-01-01 00:00 to
   2020-12-31 23:00. An hour without any valid record stays NaN (GluonTS's missing
   value; written as the string ``"NaN"``, which every GluonTS json backend reads).
   Every variable is averaged arithmetically, including the wind direction ``wd``
   (a circular quantity) and the rain amounts (the hourly mean of 10-minute sums);
4. makes each of the 21 variables one univariate series (``item_id`` = a clean ASCII
   name, ``feat_static_cat`` = its column index);
5. splits like GluonTS's rolling ``*_nips`` datasets: prediction length 24, the last
   7 days are 7 test windows; ``train`` holds every series up to the first window,
   ``test`` entry ``k`` (k = 1..7) holds every series up to the end of window ``k``.
   ``test`` is ordered window by window (21 entries of window 1, then window 2, ...);
6. writes ``metadata.json``, ``train/data.json.gz``, ``test/data.json.gz`` (gzip JSON
   lines, gzip header time 0) and ``variables.json`` (original column names).

Values are rounded to 4 decimals: the raw records have 2, and GluonTS reads targets
as float32 anyway.

Usage (from the project root)::

    python benchmarks/build_weather_dataset.py
    python benchmarks/build_weather_dataset.py --input path/to/weather.csv.gz --output out/weather_jena_hourly
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
from pathlib import Path

import pandas as pd

logger = logging.getLogger("build_weather_dataset")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = PROJECT_ROOT.parent / "shared" / "data" / "raw" / "ltsf_weather_jena2020.csv.gz"
DEFAULT_OUTPUT = PROJECT_ROOT / "data" / "gluonts" / "weather_jena_hourly"

NAME = "weather_jena_hourly"
FREQ = "h"
PREDICTION_LENGTH = 24
NUM_TEST_WINDOWS = 7
MISSING_SENTINEL = -9999.0
DECIMALS = 4

# header as read with latin1 (the upstream file already carries U+FFFD replacement
# characters, bytes EF BF BD, where "²" and "µ" were) -> (item_id, restored name, description)
VARIABLES: list[tuple[str, str, str, str]] = [
    ("p (mbar)", "p_mbar", "p (mbar)", "air pressure"),
    ("T (degC)", "T_degC", "T (degC)", "air temperature"),
    ("Tpot (K)", "Tpot_K", "Tpot (K)", "potential temperature"),
    ("Tdew (degC)", "Tdew_degC", "Tdew (degC)", "dew point temperature"),
    ("rh (%)", "rh_pct", "rh (%)", "relative humidity"),
    ("VPmax (mbar)", "VPmax_mbar", "VPmax (mbar)", "saturation water vapour pressure"),
    ("VPact (mbar)", "VPact_mbar", "VPact (mbar)", "actual water vapour pressure"),
    ("VPdef (mbar)", "VPdef_mbar", "VPdef (mbar)", "water vapour pressure deficit"),
    ("sh (g/kg)", "sh_g_per_kg", "sh (g/kg)", "specific humidity"),
    ("H2OC (mmol/mol)", "H2OC_mmol_per_mol", "H2OC (mmol/mol)", "water vapour concentration"),
    ("rho (g/m**3)", "rho_g_per_m3", "rho (g/m**3)", "air density"),
    ("wv (m/s)", "wv_m_per_s", "wv (m/s)", "wind velocity"),
    ("max. wv (m/s)", "max_wv_m_per_s", "max. wv (m/s)", "maximum wind velocity"),
    ("wd (deg)", "wd_deg", "wd (deg)", "wind direction (circular; averaged arithmetically)"),
    ("rain (mm)", "rain_mm", "rain (mm)", "precipitation per 10 minutes (hourly mean of 10-min sums)"),
    ("raining (s)", "raining_s", "raining (s)", "duration of rain per 10 minutes"),
    ("SWDR (W/m\u00ef\u00bf\u00bd)", "SWDR_W_per_m2", "SWDR (W/m\u00b2)", "short-wave downward radiation"),
    ("PAR (\u00ef\u00bf\u00bdmol/m\u00ef\u00bf\u00bd/s)", "PAR_umol_per_m2_s", "PAR (\u00b5mol/m\u00b2/s)",
     "photosynthetically active radiation"),
    ("max. PAR (\u00ef\u00bf\u00bdmol/m\u00ef\u00bf\u00bd/s)", "max_PAR_umol_per_m2_s",
     "max. PAR (\u00b5mol/m\u00b2/s)", "maximum photosynthetically active radiation"),
    ("Tlog (degC)", "Tlog_degC", "Tlog (degC)", "temperature in the logger box"),
    ("OT", "OT", "OT", "the LTSF benchmark's target column; values 400-500 look like CO2 in ppm "
     "(the station measures CO2), not confirmed by the source"),
]


def load_hourly(path: Path) -> pd.DataFrame:
    """Read the 10-minute CSV and return hourly means, one column per item_id."""
    raw = pd.read_csv(path, encoding="latin1")
    expected = ["date"] + [v[0] for v in VARIABLES]
    if list(raw.columns) != expected:
        raise ValueError(f"unexpected columns in {path}:\n{list(raw.columns)}\nexpected\n{expected}")
    raw["date"] = pd.to_datetime(raw["date"], format="%Y-%m-%d %H:%M:%S")
    if not raw["date"].is_monotonic_increasing:
        raise ValueError(f"{path}: timestamps are not sorted")
    dup = raw["date"].duplicated(keep="first")
    if dup.any():
        same = raw[raw["date"].duplicated(keep=False)].groupby("date").nunique().le(1).all().all()
        logger.info("dropping %d repeated timestamp(s) (values identical: %s)", int(dup.sum()), bool(same))
        raw = raw[~dup]
    values = raw.set_index("date").rename(columns={v[0]: v[1] for v in VARIABLES})
    sentinel = values == MISSING_SENTINEL
    logger.info("%d value(s) equal the sentinel %s -> NaN: %s", int(sentinel.values.sum()), MISSING_SENTINEL,
                {k: int(n) for k, n in sentinel.sum().items() if n})
    values = values.mask(sentinel)
    hourly = values.resample(FREQ, closed="right", label="left").mean()
    full = pd.date_range(hourly.index[0], hourly.index[-1], freq=FREQ)
    if not hourly.index.equals(full):
        raise AssertionError("hourly index is not contiguous")
    return hourly


def _encode(x: float) -> float | str:
    return "NaN" if math.isnan(x) else round(float(x), DECIMALS)


def _entry(series: pd.Series, length: int, cat: int) -> dict:
    return {
        "start": series.index[0].strftime("%Y-%m-%d %H:%M:%S"),
        "target": [_encode(v) for v in series.to_numpy()[:length]],
        "item_id": series.name,
        "feat_static_cat": [cat],
    }


def _write_jsonl_gz(path: Path, entries: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                compresslevel=9) as gz:
        for e in entries:
            gz.write((json.dumps(e, separators=(",", ":"), allow_nan=False) + "\n").encode("ascii"))


def build(input_path: Path, output: Path, prediction_length: int = PREDICTION_LENGTH,
          num_windows: int = NUM_TEST_WINDOWS) -> dict:
    """Build the dataset into ``output``; returns a small summary dict."""
    hourly = load_hourly(input_path)
    total = len(hourly)
    train_len = total - num_windows * prediction_length
    if train_len <= 0:
        raise ValueError("series too short for the requested test windows")
    tail = hourly.iloc[train_len:]
    if tail.isna().any().any():
        logger.warning("missing values inside the test windows: %s", tail.isna().sum()[tail.isna().sum() > 0])
    nan_counts = {k: int(n) for k, n in hourly.isna().sum().items() if n}
    logger.info("hourly: %d steps x %d series, %s to %s; missing hours per series: %s",
                total, hourly.shape[1], hourly.index[0], hourly.index[-1], nan_counts)

    items = [v[1] for v in VARIABLES]
    train = [_entry(hourly[name], train_len, k) for k, name in enumerate(items)]
    test = [_entry(hourly[name], train_len + w * prediction_length, k)
            for w in range(1, num_windows + 1) for k, name in enumerate(items)]

    metadata = {
        "freq": FREQ,
        "target": None,
        "feat_static_cat": [{"name": "feat_static_cat_0", "cardinality": str(len(items))}],
        "feat_static_real": [],
        "feat_dynamic_real": [],
        "feat_dynamic_cat": [],
        "prediction_length": prediction_length,
    }
    variables = {
        "source_file": input_path.name,
        "note": "original_header is the column name as read with encoding latin1 (U+FFFD mojibake included); "
                "name restores the units. Hourly means of (h, h+1h]; -9999 sentinel -> NaN.",
        "variables": [
            {"item_id": item, "feat_static_cat": k, "original_header": orig, "name": restored,
             "description": desc, "missing_hours": nan_counts.get(item, 0)}
            for k, (orig, item, restored, desc) in enumerate(VARIABLES)
        ],
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / "metadata.json").write_text(json.dumps(metadata) + "\n", encoding="ascii")
    (output / "variables.json").write_text(json.dumps(variables, indent=1) + "\n", encoding="ascii")
    _write_jsonl_gz(output / "train" / "data.json.gz", train)
    _write_jsonl_gz(output / "test" / "data.json.gz", test)
    summary = {"series": len(items), "hours": total, "train_length": train_len,
               "test_lengths": sorted({len(e["target"]) for e in test}), "test_entries": len(test),
               "missing_hours": nan_counts}
    logger.info("wrote %s: %s", output, summary)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT,
                        help="10-minute CSV (default: ../shared/data/raw/ltsf_weather_jena2020.csv.gz "
                             "relative to the project root)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"dataset folder (default: data/gluonts/{NAME} in the project root)")
    parser.add_argument("--prediction-length", type=int, default=PREDICTION_LENGTH)
    parser.add_argument("--windows", type=int, default=NUM_TEST_WINDOWS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(args.input, args.output, args.prediction_length, args.windows)


if __name__ == "__main__":
    main()
