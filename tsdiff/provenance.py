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


def _processor() -> str:
    """``platform.processor()``, which is empty on many Linux builds, else the machine type."""
    return platform.processor() or platform.machine()


def _cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's ``model name`` from ``cpuinfo`` (Linux), else :func:`_processor`."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return _processor()


def hardware() -> dict[str, Any]:
    """A short description of the machine for benchmark records.

    Besides the platform, the CPU's model and the vector instructions torch uses on it
    (``cpu_capability``: e.g. ``"AVX2"``, ``"AVX512"``) and whether it computes bfloat16 natively
    (``native_bf16``, which ``precision="auto"`` reads): two machines with the same platform string
    differed about 3.4-fold in this library's CPU times, AVX-512 against AVX2 only.
    """
    import torch

    from .prediction import native_bf16_cpu

    return {"platform": platform.platform(), "processor": _processor(),
            "cpu_model": _cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": native_bf16_cpu(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
