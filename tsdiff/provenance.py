"""Provenance of a recorded figure: the commit and the machine it came from.

One home for the helpers that both the library's demo (``tsdiff demo`` writes them into
``demo_results.json``) and the scripts under ``benchmarks/`` and ``docs/`` put beside every
figure they record. They live in the library, not in ``benchmarks/``, because the installed
``tsdiff demo`` cannot import from a source checkout's ``benchmarks/`` folder;
``benchmarks/_common.py`` re-exports them for the scripts.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["git_sha", "hardware"]


def git_sha() -> str:
    """Commit of the working tree (``"unknown"`` outside a git checkout).

    ``+dirty`` when tracked files other than benchmark results differ from the commit (results
    CSVs being written by a running benchmark do not change the code that produces them).
    """
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)benchmarks/results"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def hardware() -> dict[str, Any]:
    """A short description of the machine for benchmark records."""
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
