"""A table's runs in one small CSV file, a row per run: its final dev and test metrics, seed, epochs,
best epoch, seconds per epoch, a hash of its config.json and the code it was made with.  This is
what the repository keeps of a run; its serialization directory (archive, per-epoch metrics,
config copy) stays out of git.  The benchmark scripts write `<table>.runs.csv` beside each table;
the tuning studies share one file, `benchmarks/tuning/runs.csv`, whose first column `study` names
the study a row belongs to (benchmarks/sweep.py, or --study, replaces one study's rows in it).

Usage: .venv/bin/python benchmarks/compact_runs.py OUT.runs.csv RUN_DIR [RUN_DIR ...]
       .venv/bin/python benchmarks/compact_runs.py OUT.runs.csv --table benchmarks/results/NAME.json
       .venv/bin/python benchmarks/compact_runs.py benchmarks/tuning/runs.csv --study NAME RUN_DIR [RUN_DIR ...]
A RUN_DIR is a serialization directory (it has a config.json) or a folder of them, searched
recursively; the `run` column is its path below the folder that holds all of them.  --table takes
the runs listed in a table's .json instead, for tables whose run directories were never kept.
--study NAME writes the rows as study NAME's rows of OUT, keeping the other studies' rows.

Columns: run, method (the run's name without `_seed<n>`: a benchmark method or a sweep variant),
seed, finished (false: no metrics.json, the numbers are the last epoch's record of the best epoch
and there are no test metrics), `dev_<metric>` (best_validation_<metric>) and `test_<metric>` for
the metrics of KEY_METRICS the runs have, epochs (run), best_epoch (0-based), epoch_seconds
(training with validation, per epoch), config_sha256 (of config.json with sorted keys),
code_commit, seal_commit, seal_dirty (from code_version.json, see common.code_version), and
recorded_in_commit: for a run without code_version.json, the first commit of this repository
that holds its final metrics file (the run was made at or before that commit).
"""
import argparse
import csv
import glob
import hashlib
import json
import os
import re
import subprocess
from typing import Dict, List, Optional, Sequence

import common

# The metrics the tables report: multi-label, span (NER, SRL), letter / tag accuracy and segmentation.
KEY_METRICS = ["example_f1", "micro_f1", "macro_f1", "hamming_loss", "f1-measure-overall", "precision-overall",
               "recall-overall", "accuracy", "sequence_accuracy", "mean_iou", "global_iou", "pixel_accuracy"]
FIRST = ["run", "method", "seed", "finished"]
STUDY = "study"
LAST = ["epochs", "best_epoch", "epoch_seconds", "config_sha256", "code_commit", "seal_commit", "seal_dirty",
        "recorded_in_commit"]


def recorded_in_commit(path: str) -> str:
    """The oldest commit of the current history that holds a file with `path`'s content, '' if none."""
    try:
        blob = common.git("hash-object", os.path.abspath(path))
        commits = common.git("log", "--reverse", "--format=%H", f"--find-object={blob}").split()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return commits[0] if commits else ""


def config_sha256(run_dir: str) -> str:
    """sha256 of the run's config.json with sorted keys; '' for a run kept without it."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return ""
    with open(path) as handle:
        config = json.load(handle)
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def split_name(name: str) -> tuple:
    """`<method>_seed<n>` -> (method, n); a name without a seed -> (name, '')."""
    match = re.fullmatch(r"(.*)_seed(\d+)", name)
    return (match.group(1), int(match.group(2))) if match else (name, "")


def has_record(run_dir: str) -> bool:
    """Whether the run got as far as a finished epoch (a run that failed at the start has none)."""
    return bool(glob.glob(os.path.join(run_dir, "metrics*.json")))


def final_metrics(run_dir: str) -> tuple:
    """(metrics, path, finished): metrics.json, else the last epoch's record (best_epoch and
    best_validation_* are in it too)."""
    path = os.path.join(run_dir, "metrics.json")
    finished = os.path.exists(path)
    if not finished:
        epochs = common.epoch_metrics(run_dir)
        if not epochs:
            raise SystemExit(f"{run_dir}: neither metrics.json nor metrics_epoch_<n>.json")
        path = os.path.join(run_dir, f"metrics_epoch_{epochs[-1]['epoch']}.json")
    with open(path) as handle:
        return json.load(handle), path, finished


def epoch_seconds(run_dir: str, metrics: dict, epochs: int):
    """Training time (validation included) per epoch: summed over --recover segments when every
    epoch's record is there, else the final record's training_duration (one segment)."""
    records = common.epoch_metrics(run_dir)
    if [record["epoch"] for record in records] == list(range(epochs)):
        return records[-1]["cumulative_seconds"] / epochs
    return common.duration_seconds(metrics["training_duration"]) / epochs if "training_duration" in metrics else ""


def version_cells(run_dir: str, metrics_path: str) -> dict:
    version = common.read_code_version(run_dir)
    if version is None:
        return {"recorded_in_commit": recorded_in_commit(metrics_path)}
    version = common.committed_version(version)
    return {"code_commit": version["commit"], "seal_commit": version["seal_commit"],
            "seal_dirty": version["seal_dirty"]}


def run_row(run_dir: str, name: str) -> dict:
    """The CSV row of one serialization directory, called `name` in the `run` column."""
    metrics, path, finished = final_metrics(run_dir)
    method, seed = split_name(os.path.basename(name))
    row = {"run": name, "method": method, "seed": seed, "finished": finished}
    for metric in KEY_METRICS:
        for column, key in ((f"dev_{metric}", f"best_validation_{metric}"), (f"test_{metric}", f"test_{metric}")):
            if key in metrics:
                row[column] = metrics[key]
    epochs = metrics["epoch"] + 1
    row.update({"epochs": epochs, "best_epoch": metrics.get("best_epoch", ""),
                "epoch_seconds": epoch_seconds(run_dir, metrics, epochs), "config_sha256": config_sha256(run_dir)})
    row.update(version_cells(run_dir, path))
    return row


def run_dirs(paths: Sequence[str]) -> List[str]:
    """The serialization directories among `paths` and below them, sorted."""
    found = []
    for path in paths:
        if os.path.exists(os.path.join(path, "config.json")):
            found.append(path)
            continue
        configs = glob.glob(os.path.join(path, "**", "config.json"), recursive=True)
        found += [os.path.dirname(config) for config in configs]
    return sorted(found)


def rows(dirs: Sequence[str]) -> List[dict]:
    """A row per serialization directory, named by its path below the folder that holds them all."""
    if not dirs:
        return []
    parent = os.path.commonpath([os.path.dirname(os.path.abspath(d)) for d in dirs])
    return [run_row(d, os.path.relpath(os.path.abspath(d), parent)) for d in dirs]


def table_runs_commits(table: str) -> Dict[tuple, str]:
    """(method, seed) -> the oldest commit in which the table's .json lists that run with the
    numbers it has now."""
    with open(table) as handle:
        current = {(run["method"], run["seed"]): run for run in json.load(handle)["runs"]}
    found: Dict[tuple, str] = {}
    relative = os.path.relpath(os.path.abspath(table), common.ROOT)
    try:
        commits = common.git("log", "--reverse", "--format=%H", "--", relative).split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout, or a table outside it
        return found
    for commit in commits:
        for run in json.loads(common.git("show", f"{commit}:{relative}")).get("runs", []):
            key = (run["method"], run["seed"])
            if key in current and key not in found and same_numbers(run, current[key]):
                found[key] = commit
    return found


def same_numbers(run: dict, other: dict) -> bool:
    """Same test metrics and epoch time: the same run, not a rerun that reproduced its metrics."""
    return all(run.get(key) == value for key, value in other.items()
               if key.startswith("test_") or key == "epoch_seconds")


def table_rows(table: str) -> List[dict]:
    """A row per run listed in a table's .json (its numbers as listed: no dev metrics, no config)."""
    with open(table) as handle:
        runs = json.load(handle)["runs"]
    commits = table_runs_commits(table)
    skip = ("method", "seed", "archive", "code_version", "epochs", "best_epoch", "epoch_seconds")
    return [{"run": f"{run['method']}_seed{run['seed']}", "method": run["method"], "seed": run["seed"],
             "finished": True,
             **{key: value for key, value in run.items() if key not in skip},
             "epochs": run.get("epochs", ""), "best_epoch": run.get("best_epoch", ""),
             "epoch_seconds": run.get("epoch_seconds", ""),
             "recorded_in_commit": commits.get((run["method"], run["seed"]), "")} for run in runs]


def columns(table: Sequence[dict], first: Sequence[str] = FIRST) -> List[str]:
    """`first`, the other columns of the rows in the order met (the metrics), then LAST."""
    middle: List[str] = []
    for row in table:
        middle += [key for key in row if key not in list(first) + LAST + middle]
    return list(first) + middle + LAST


def write_csv(path: str, table: Sequence[dict], header: Optional[Sequence[str]] = None) -> None:
    """The rows under `header` (default: FIRST, the metric columns in the order met, then LAST); a
    missing cell is empty."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, header or columns(table), restval="", lineterminator="\n")
        writer.writeheader()
        for row in table:
            writer.writerow({key: cell(value) for key, value in row.items()})


def cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def read_csv(path: str) -> List[Dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def replace_study(path: str, study: str, table: Sequence[dict]) -> None:
    """Makes `table` the rows of `study` in the CSV of many studies at `path` (created if missing):
    the study's old rows go, the other studies' rows stay as they are, and the rows are sorted by
    study (a study's rows keep their order).  Columns: `study`, FIRST, the file's metric columns
    then any new ones, LAST."""
    kept = [row for row in read_csv(path) if row[STUDY] != study] if os.path.exists(path) else []
    new = [{STUDY: study, **row} for row in table]
    header = columns(kept + new, [STUDY] + FIRST)
    write_csv(path, sorted(kept + new, key=lambda row: row[STUDY]), header)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="the CSV file to write, e.g. benchmarks/results/NAME.runs.csv")
    parser.add_argument("runs", nargs="*", help="serialization directories or folders of them")
    parser.add_argument("--table", help="a table's .json: its listed runs instead of run directories")
    parser.add_argument("--study", help="write the rows as this study's rows of OUT (benchmarks/tuning/runs.csv), "
                                        "keeping the other studies' rows")
    args = parser.parse_args(argv)
    if bool(args.runs) == bool(args.table):
        parser.error("give run directories or --table, not both")
    missing = [path for path in args.runs if not os.path.isdir(path)]
    if missing:
        parser.error(f"not a directory: {missing}")
    found = run_dirs(args.runs)
    if args.runs and not found:
        parser.error(f"no serialization directory (with a config.json) in {args.runs}")
    table = table_rows(args.table) if args.table else rows(found)
    if args.study:
        replace_study(args.out, args.study, table)
    else:
        write_csv(args.out, table)
    print(f"{args.out}: {len(table)} runs" + (f" of study {args.study}" if args.study else ""))


if __name__ == "__main__":
    main()
