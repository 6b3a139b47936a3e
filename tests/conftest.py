"""Shared fixtures: small synthetic frames and a tiny, fast model configuration."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

#: Network and training sizes small enough for a CPU test suite.
TINY = dict(hidden_channels=8, channel_mults=(1, 2), embedding_dim=16, encoder_channels=8,
            batch_size=16, max_steps=8, val_every=4, num_val_windows=8, num_threads=1, progress=False)


def make_long_frame(n_series: int = 3, length: int = 120, freq: str = "h", seed: int = 0,
                    start: str = "2021-01-01") -> pd.DataFrame:
    """Daily-seasonal sine plus noise, one level per series, long format."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        t = np.arange(length)
        y = 10.0 * (i + 1) + 3.0 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, length)
        frames.append(pd.DataFrame({"item_id": f"s{i}", "timestamp": pd.date_range(start, periods=length, freq=freq),
                                    "target": y}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(autouse=True, scope="session")
def _single_torch_thread():
    """The suite's tensors are tiny: one intra-op thread is faster, and robust on a busy 2-core machine."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def long_df() -> pd.DataFrame:
    return make_long_frame()


@pytest.fixture
def tiny_params() -> dict:
    return dict(TINY)
