"""Test-time throughput of archived models, measured in alternating rounds.

Each round times every archive once (`common.throughput`: forward in eval mode on one torch
thread, batches of 256, best of `--repeats` passes over the test file), in the order given, so a
change in the machine's load falls on all of them alike. The table gives each round's rates and
each archive's cost relative to the first one (first's rate / its rate: 1.10 = 10% slower), with
the median over rounds. Use it to check a test-time cost goal, e.g. SEAL's task-net against
cross-entropy's.

Usage: .venv/bin/python benchmarks/throughput.py NAME=ARCHIVE [NAME=ARCHIVE ...] \
           [--test-file PATH] [--rounds 3] [--repeats 5] [--out benchmarks/results/NAME.md]
Without --test-file, the test file is the first archive's `test_data_path`.
"""
import argparse
import json
import os
import statistics
import tarfile
from typing import Dict, List, Sequence, Tuple

import common


def configured_test_file(archive: str) -> str:
    """The `test_data_path` of the archive's config (relative paths from the repository root)."""
    with tarfile.open(archive) as tar:
        config = json.load(tar.extractfile("config.json"))
    if "test_data_path" not in config:
        raise SystemExit(f"{archive}: its config has no test_data_path; pass --test-file")
    return os.path.join(common.ROOT, config["test_data_path"])


def measure(archives: Sequence[Tuple[str, str]], test_file: str, rounds: int, repeats: int) -> Dict[str, List[float]]:
    """Per archive name, its examples per second in each round."""
    rates = {name: [] for name, _ in archives}
    for _ in range(rounds):
        for name, path in archives:
            rates[name].append(common.throughput(path, test_file, common.gold_field, repeats=repeats))
    return rates


def markdown(rates: Dict[str, List[float]]) -> List[str]:
    """A row per round: every archive's rate, and every other archive's cost against the first."""
    names = list(rates)
    first, others = names[0], names[1:]
    costs = {name: [a / b for a, b in zip(rates[first], rates[name])] for name in others}
    columns = ["round"] + [f"{name} examples / s" for name in names] + [f"{name} cost / {first}'s" for name in others]
    rows = [[k + 1] + [f"{rates[name][k]:.1f}" for name in names] + [f"{costs[name][k]:.3f}" for name in others]
            for k in range(len(rates[first]))]
    rows.append(["median"] + [f"{statistics.median(rates[name]):.1f}" for name in names]
                + [f"{statistics.median(costs[name]):.3f}" for name in others])
    return common.table(columns, rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("archives", nargs="+", help="NAME=path/to/model.tar.gz")
    parser.add_argument("--test-file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out")
    args = parser.parse_args()
    archives = common.named_archives(args.archives)
    test_file = args.test_file or configured_test_file(archives[0][1])
    rates = measure(archives, test_file, args.rounds, args.repeats)
    common.report([f"Test file: `{os.path.relpath(test_file, common.ROOT)}`", ""] + markdown(rates), args.out)


if __name__ == "__main__":
    main()
