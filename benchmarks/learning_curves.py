"""Learning curves of tsdiff fits: forecast-skill validation (sampled wQL on held-out windows) per step.

Reads the ``val_history`` column that ``run_benchmarks.py`` writes for every tsdiff fit (one point
per ``val_every`` steps: the weighted quantile loss of 8 sampled paths of up to 64 held-out windows,
the score that chooses the checkpoint) and draws one curve per dataset and seed, each divided by its
own final value, so that "flat at the budget" reads the same for every dataset.

    python benchmarks/learning_curves.py benchmarks/results/calibrated.csv docs/figures/learning_curves.png
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path


def curves(path: Path) -> dict[str, list[tuple[int, list[tuple[int, float]]]]]:
    """``{dataset: [(seed, [(step, val_wql), ...]), ...]}`` of the plain ``tsdiff`` rows."""
    out: dict[str, list] = defaultdict(list)
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            if r.get("model") != "tsdiff" or r.get("status") != "ok" or not r.get("val_history"):
                continue
            out[r["dataset"]].append((int(r["seed"]), [(int(s), float(v)) for s, v in json.loads(r["val_history"])]))
    return out


def improvement_after(points: list[tuple[int, float]], step: int) -> float:
    """Relative drop of the best validation score from ``step`` to the end (0.05 = 5% better at the end)."""
    before = min((v for s, v in points if s <= step), default=float("nan"))
    end = min(v for _, v in points)
    return (before - end) / before


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv", type=Path)
    p.add_argument("figure", type=Path)
    args = p.parse_args(argv)
    data = curves(args.csv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(data), figsize=(4 * len(data), 3.2), squeeze=False)
    for ax, (name, runs) in zip(axes[0], sorted(data.items())):
        for seed, pts in sorted(runs):
            steps, vals = zip(*pts)
            ax.plot(steps, [v / vals[-1] for v in vals], marker=".", label=f"seed {seed}")
            half = steps[-1] // 2
            print(f"{name} seed {seed}: best val wQL {min(vals):.4f}; improvement over the second half of the "
                  f"budget {100 * improvement_after(pts, half):.1f}%, over the last quarter "
                  f"{100 * improvement_after(pts, 3 * steps[-1] // 4):.1f}%")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylim(0.9, 1.6)
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("validation wQL / final")
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=110)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
