"""Replays early stopping on finished runs under another validation metric, from dev numbers only.

A run's per-epoch validation metrics (`metrics_epoch_<n>.json`) do not depend on the trainer's
`validation_metric` (nothing in our configs schedules on it), so the epoch another stopping rule
would have kept can be read off the record without retraining, up to the record's last epoch.
The replay feeds AllenNLP's own `MetricTracker` (same combination of several metrics as a sum,
same patience), so it chooses exactly as the trainer would have.  Only dev numbers are shown: the
test score of a replayed epoch needs its weights, which the run did not keep.

A run that the replayed rule would not have stopped within the record is marked `budget` when
the record reaches the config's `num_epochs` (the rule would have ended there too), else `open`:
its choice is the best epoch of the record, and the rule might have trained on past it.

Usage: .venv/bin/python benchmarks/stopping_rule.py RUN_DIR [RUN_DIR ...] --metric +example_f1 +macro_f1 \
           --patience 3 [--show example_f1 macro_f1] [--out NAME.md]
A replay worth keeping becomes a section `## NAME: ...` of its data set's note in benchmarks/tuning/.
"""
import argparse
import json
import os
import re
from typing import Dict, List, Optional, Sequence

from allennlp.training.metric_tracker import MetricTracker

import common

VALIDATION = "validation_"


def dev_metrics(epoch: dict) -> Dict[str, float]:
    """An epoch record's validation metrics under the names the trainer tracks them by."""
    return {k[len(VALIDATION):]: v for k, v in epoch.items() if k.startswith(VALIDATION)}


def replay(epochs: Sequence[dict], metric: Sequence[str], patience: int) -> dict:
    """The epoch the rule keeps (`best_epoch`, 0-based, with its dev metrics), the epoch it stops
    after, and whether it stopped within the record (`stopped`)."""
    numbers = [epoch["epoch"] for epoch in epochs]
    if numbers != list(range(len(numbers))):
        raise ValueError(f"the record must hold every epoch from 0 (metrics_epoch_<n>.json), found {numbers}")
    tracker = MetricTracker(list(metric), patience)
    stopped = False
    for epoch in epochs:
        tracker.add_metrics(dev_metrics(epoch))
        stopped = tracker.should_stop_early()
        if stopped:
            break
    return {"best_epoch": tracker.best_epoch, "last_epoch": epoch["epoch"], "stopped": stopped,
            "dev": dev_metrics(epochs[tracker.best_epoch])}


def epoch_budget(run_dir: str) -> Optional[int]:
    """The run's `trainer.num_epochs`, if its config.json is there."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle).get("trainer", {}).get("num_epochs")


def ending(chosen: dict, budget: Optional[int]) -> str:
    if chosen["stopped"]:
        return f"stops after {chosen['last_epoch']}"
    if budget is not None and chosen["last_epoch"] + 1 >= budget:
        return f"budget ({budget} epochs)"
    return f"open (record ends at {chosen['last_epoch']})"


def rows(run_dirs: Sequence[str], metric: Sequence[str], patience: int, show: Sequence[str]) -> List[List[str]]:
    table = []
    for run_dir in run_dirs:
        try:
            chosen = replay(common.epoch_metrics(run_dir), metric, patience)
        except ValueError as error:
            raise SystemExit(f"{run_dir}: {error}")
        end = ending(chosen, epoch_budget(run_dir))
        table.append([run_dir, str(chosen["best_epoch"]), end] + [f"{chosen['dev'][name]:.4f}" for name in show])
    return table


def group_means(table: Sequence[Sequence[str]]) -> List[List[str]]:
    """Mean of the shown dev metrics over the runs whose directory names differ only in `_seed<n>`."""
    groups: Dict[str, List[Sequence[str]]] = {}
    for row in table:
        groups.setdefault(re.sub(r"_seed\d+$", "", row[0].rstrip("/")), []).append(row)
    return [[name, str(len(members))] + [f"{sum(float(m[i]) for m in members) / len(members):.4f}"
                                         for i in range(3, len(members[0]))]
            for name, members in groups.items()]


def main(argv: Sequence[str] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="serialization directories with metrics_epoch_*.json")
    parser.add_argument("--metric", nargs="+", required=True, help="AllenNLP validation_metric(s), e.g. +example_f1")
    parser.add_argument("--patience", type=int, required=True)
    parser.add_argument("--show", nargs="+", default=["example_f1", "macro_f1"], help="dev metrics to print")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    missing = [run for run in args.runs if not os.path.isdir(run)]
    if missing:
        raise SystemExit(f"not a run directory: {missing}")
    body = [f"Replayed rule: validation_metric {args.metric}, patience {args.patience} (epochs 0-based)", ""]
    table = rows(args.runs, args.metric, args.patience, args.show)
    body += common.table(["run", "kept epoch", "stopping"] + [f"dev {name}" for name in args.show], table)
    body += [""] + common.table(["runs", "count"] + [f"mean dev {name}" for name in args.show], group_means(table))
    return common.report(body, args.out)


if __name__ == "__main__":
    main()
