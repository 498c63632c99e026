"""Validation metrics epoch by epoch for training runs, side by side: a table and a plot.

Reads each run's `metrics_epoch_<k>.json` (written by AllenNLP after every epoch, so a run still
training can be read too) and reports, per epoch, the chosen metrics of every run and the
cumulative training time. Use it to see whether a run was still improving when its epoch budget
ended, and whether a longer budget favours one method.

Usage: .venv/bin/python benchmarks/learning_curves.py NAME=RUN_DIR [NAME=RUN_DIR ...] \
           [--metrics validation_example_f1 validation_macro_f1] [--out NAME.md]
With --out, the plot is written beside the table (same name, .png).  A study's table becomes a section
`## NAME: ...` of its data set's note in benchmarks/tuning/ (its plot, if kept, goes into that folder as NAME.png).
"""
import argparse
import os
from typing import Dict, List, Sequence

import common


def curve(run_dir: str, metrics: Sequence[str]) -> List[dict]:
    """One dict per finished epoch of `run_dir`, in epoch order: `epoch`, `minutes` (cumulative
    training time, validation included, summed over `--recover` segments) and each of `metrics`."""
    rows = common.epoch_metrics(run_dir)
    if not rows:
        raise SystemExit(f"{run_dir}: no metrics_epoch_<n>.json (not an AllenNLP serialization directory?)")
    missing = [name for name in metrics if name not in rows[0]]
    if missing:
        raise SystemExit(f"{run_dir}: no {missing} in its epoch metrics; they have {sorted(rows[0])}")
    return [{"epoch": row["epoch"], "minutes": row["cumulative_seconds"] / 60, **{name: row[name] for name in metrics}}
            for row in rows]


def best_epochs(curves: Dict[str, List[dict]], metric: str) -> Dict[str, int]:
    """Per run, the epoch with the highest `metric` (the first one on ties, as AllenNLP keeps it)."""
    return {name: max(rows, key=lambda row: (row[metric], -row["epoch"]))["epoch"] for name, rows in curves.items()}


def markdown(curves: Dict[str, List[dict]], metrics: Sequence[str]) -> List[str]:
    """A table with a row per epoch and, per run, its metrics (the best epoch of each in bold) and
    cumulative minutes; then each run's best epoch and value per metric."""
    best = {metric: best_epochs(curves, metric) for metric in metrics}
    columns = (["epoch"] + [f"{name} {metric}" for name in curves for metric in metrics]
               + [f"{name} minutes" for name in curves])
    by_epoch = {name: {row["epoch"]: row for row in rows} for name, rows in curves.items()}
    epochs = sorted({row["epoch"] for rows in curves.values() for row in rows})
    table_rows = []
    for epoch in epochs:
        cells = [epoch]
        for name in curves:
            for metric in metrics:
                row = by_epoch[name].get(epoch)
                value = "" if row is None else f"{row[metric]:.4f}"
                cells.append(f"**{value}**" if row is not None and best[metric][name] == epoch else value)
        cells += [f"{by_epoch[name][epoch]['minutes']:.1f}" if epoch in by_epoch[name] else "" for name in curves]
        table_rows.append(cells)
    lines = common.table(columns, table_rows) + [""]
    for metric in metrics:
        for name, rows in curves.items():
            epoch = best[metric][name]
            lines.append(f"- {name}: best {metric} {by_epoch[name][epoch][metric]:.4f} at epoch {epoch} "
                         f"({len(rows)} epochs run)")
    return lines


def plot(path: str, curves: Dict[str, List[dict]], metrics: Sequence[str]) -> None:
    """A panel per metric, a line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for name, rows in curves.items():
            ax.plot([row["epoch"] for row in rows], [row[metric] for row in rows], marker="o", markersize=3, label=name)
        ax.set_xlabel("epoch (0-based)")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+", help="NAME=path/to/serialization_dir")
    parser.add_argument("--metrics", nargs="+", default=["validation_example_f1", "validation_macro_f1"])
    parser.add_argument("--out", help="markdown file; the plot goes beside it as .png")
    args = parser.parse_args()
    curves = {name: curve(path, args.metrics) for name, path in common.named_archives(args.runs)}
    common.report(markdown(curves, args.metrics), args.out)
    if args.out:
        plot(os.path.splitext(args.out)[0] + ".png", curves, args.metrics)


if __name__ == "__main__":
    main()
